#!/usr/bin/env bash
# Builds the packages: target/debian/sealtrail_<version>-1_<arch>.deb and
# target/generate-rpm/sealtrail-<version>-1.<arch>.rpm.
#
# Steps: release build; man pages and completions generated from the CLI itself
# (`sealtrail generate-assets`) into target/assets/ (outside target/release/, so that
# cargo-deb gzips the man pages); a stripped copy of the binary for the rpm; then
# `cargo deb --no-build --strip` and `cargo generate-rpm`, which read
# [package.metadata.deb] and [package.metadata.generate-rpm] in Cargo.toml.
# (--strip: the release profile keeps line tables for profiling, the package not.)
# Needs cargo-deb and cargo-generate-rpm (tests/packaging/run.sh installs them).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

cargo build --release --locked
assets="$ROOT/target/assets"
rm -rf "$assets"
mkdir -p "$assets"
"$TARGET_DIR/release/sealtrail" generate-assets --out "$assets" >/dev/null
strip --strip-unneeded -o "$assets/sealtrail" "$TARGET_DIR/release/sealtrail"

cargo deb --no-build --strip --locked --output "$TARGET_DIR/debian/"
mkdir -p "$TARGET_DIR/generate-rpm"
cargo generate-rpm --target-dir "$TARGET_DIR"
ls -l "$TARGET_DIR"/debian/*.deb "$TARGET_DIR"/generate-rpm/*.rpm
