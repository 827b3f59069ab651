#!/usr/bin/env bash
# The one command that runs every test of sealtrail (README and CI call it).
#
# Works on a fresh Debian 12 machine as root: installs what the tests talk to (rsyslog,
# zstd, logger, unshare, procps, logrotate, python3, journalctl and systemd-journal-remote,
# moto's S3 server, ministack in a venv of its own) only when missing, makes sure the
# Rust toolchain has rustfmt and clippy, then runs formatting, lints, and all tests.
# Any failure stops the run with a non-zero exit; a summary is printed either way.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
# A fresh clone builds once, so incremental state (~0.7 GB) buys nothing; a CI machine
# once ran out of disk linking the test binaries. Set CARGO_INCREMENTAL=1 to keep it.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
export DEBIAN_FRONTEND=noninteractive
# rsyslogd lives in /usr/sbin, pip's scripts in ~/.local/bin or /usr/local/bin.
export PATH="$HOME/.cargo/bin:$HOME/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

STEPS=()
CURRENT=""
T0=$SECONDS

summary() {
  local rc=$?
  echo
  echo "================ tests/run.sh summary ================"
  local s
  for s in "${STEPS[@]}"; do echo "  ok      $s"; done
  if [ "$rc" -ne 0 ]; then
    echo "  FAILED  ${CURRENT:-<setup>} (exit $rc)"
    echo "RESULT: FAILED after $((SECONDS - T0)) s"
  else
    echo "RESULT: all passed in $((SECONDS - T0)) s"
  fi
  echo "======================================================"
  disk_report
  # One closing line over every cargo test binary: "tests: N passed, N failed".
  if [ -n "${TEST_LOG:-}" ] && [ -s "$TEST_LOG" ]; then
    awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
         /^[0-9]+ passed, [0-9]+ failed$/ { p += $1; f += $3 }
         END { printf "tests: %d passed, %d failed\n", p, f }' "$TEST_LOG"
    rm -f "$TEST_LOG"
  fi
}
trap summary EXIT

# Free space where the build and the tests write: printed first and in the summary,
# so a run that dies of a full disk says so in its own output.
disk_report() {
  local d dirs=("${CARGO_TARGET_DIR:-$ROOT/target}" "${TMPDIR:-/tmp}" /var/tmp) seen=()
  for d in "${dirs[@]}"; do
    while [ ! -d "$d" ] && [ "$d" != / ]; do d="$(dirname "$d")"; done
    seen+=("$d")
  done
  echo "disk:"
  df -h "${seen[@]}" 2>/dev/null | awk 'NR == 1 || !s[$0]++ { print "  " $0 }'
}

# step NAME CMD...: runs CMD, records NAME and its duration.
step() {
  local name="$1"
  shift
  CURRENT="$name"
  echo
  echo "==> $name"
  local t=$SECONDS
  "$@"
  STEPS+=("$name ($((SECONDS - t)) s)")
  CURRENT=""
}

# ministack's venv; the tests run "$SEALTRAIL_MINISTACK -m ministack" (tests/common/s3.rs).
MINISTACK_VENV=/opt/sealtrail-test/ministack

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
fi

APT_UPDATED=0
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing packages ($*) and no apt-get: install them by hand" >&2
    return 1
  fi
  if [ "$APT_UPDATED" -eq 0 ]; then
    $SUDO apt-get update -q
    APT_UPDATED=1
  fi
  # Packages like nginx and rsyslog would start their services on install; the tests
  # start their own instances, so nothing is started (policy-rc.d, exit 101: "action
  # forbidden"), unless the machine already has a policy of its own.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    own_policy=1
  fi
  local rc=0
  $SUDO apt-get install -y -q --no-install-recommends "$@" || rc=$?
  if [ "$own_policy" -eq 1 ]; then $SUDO rm -f "$policy"; fi
  return "$rc"
}

install_system_packages() {
  local missing=()
  # type -P: the program on PATH, not a shell builtin (the tests exec /usr/bin/kill).
  type -P rsyslogd >/dev/null || missing+=(rsyslog)
  # rsyslog's TLS driver: the TLS forwarder's receiver and the TLS listener's sender.
  compgen -G '/usr/lib/*/rsyslog/lmnsd_gtls.so' >/dev/null || missing+=(rsyslog-gnutls)
  # The test certificates, and s_client as a refused TLS client.
  type -P openssl >/dev/null || missing+=(openssl)
  type -P zstd >/dev/null || missing+=(zstd)
  # logger -u: the unix socket listener's sender.
  type -P logger >/dev/null || missing+=(bsdutils)
  # prlimit (a lowered descriptor limit), mount (a small tmpfs state disk) and unshare
  # (Python's syslog module writes to our unix socket bound over /dev/log in a mount
  # namespace of its own).
  { type -P prlimit >/dev/null && type -P mount >/dev/null && type -P unshare >/dev/null; } ||
    missing+=(util-linux mount)
  { type -P kill >/dev/null && type -P pgrep >/dev/null; } || missing+=(procps)
  # The file source's rotation tests drive the real logrotate; setpriv runs the daemon
  # as nobody for the unreadable-file case.
  type -P logrotate >/dev/null || missing+=(logrotate)
  # The HTTP anchor test PUTs the chain head to a real nginx (its WebDAV module).
  type -P nginx >/dev/null || missing+=(nginx-light)
  type -P setpriv >/dev/null || missing+=(util-linux)
  type -P python3 >/dev/null || missing+=(python3)
  # `sealtrail report`'s tests render the report in real headless Chromium (DOM,
  # screenshot, PDF) and read the PDF's text back with poppler's pdftotext.
  # (Fonts are only Recommends of chromium, which apt_install does not take: without
  # one the page has no glyphs and the PDF no text.)
  type -P chromium >/dev/null || missing+=(chromium)
  [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
  type -P pdftotext >/dev/null || missing+=(poppler-utils)
  # The journald source's tests: the real journalctl reads journal files that
  # systemd-journal-remote writes (no running journald needed).
  type -P journalctl >/dev/null || missing+=(systemd)
  { [ -x /lib/systemd/systemd-journal-remote ] || [ -x /usr/lib/systemd/systemd-journal-remote ]; } ||
    missing+=(systemd-journal-remote)
  if ! command -v moto_server >/dev/null 2>&1; then
    python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  fi
  # Debian's python3 creates a venv only with python3-venv (ensurepip) installed.
  if [ -z "${SEALTRAIL_MINISTACK:-}" ] && [ ! -x "$MINISTACK_VENV/bin/python" ]; then
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt_install "${missing[@]}"
  else
    echo "rsyslog, zstd, logger, procps, logrotate, nginx, python3, chromium, pdftotext, journalctl, systemd-journal-remote: present"
  fi
}

install_moto() {
  if command -v moto_server >/dev/null 2>&1; then
    echo "moto_server: present ($(command -v moto_server))"
    return
  fi
  # Debian 12 marks the system Python as externally managed (PEP 668).
  local extra=()
  if python3 -m pip install --help 2>/dev/null | grep -q -- --break-system-packages; then
    extra+=(--break-system-packages)
  fi
  python3 -m pip install -q "${extra[@]}" 'moto[server]'
  hash -r
  command -v moto_server >/dev/null 2>&1 || {
    echo "moto_server still not on PATH after pip install" >&2
    return 1
  }
}

# tests/interop/check_proof.py, the independent event-proof checker that tests/prove.rs
# runs, needs `cryptography` (Ed25519) in the python3 on PATH.
install_cryptography() {
  if python3 -c 'import cryptography' >/dev/null 2>&1; then
    echo "python3 cryptography: present"
    return
  fi
  local extra=()
  if python3 -m pip install --help 2>/dev/null | grep -q -- --break-system-packages; then
    extra+=(--break-system-packages)
  fi
  python3 -m pip install -q "${extra[@]}" cryptography
  python3 -c 'import cryptography' || {
    echo "python3 cannot import cryptography after pip install" >&2
    return 1
  }
}

# ministack (an S3 emulator that checks SigV4 signatures) pins a botocore that conflicts
# with moto's, so it gets a venv of its own, unless SEALTRAIL_MINISTACK already names a
# Python that has it.
install_ministack() {
  if [ -n "${SEALTRAIL_MINISTACK:-}" ]; then
    "$SEALTRAIL_MINISTACK" -c 'import ministack' || {
      echo "SEALTRAIL_MINISTACK=$SEALTRAIL_MINISTACK cannot import ministack" >&2
      return 1
    }
    echo "ministack: present ($SEALTRAIL_MINISTACK)"
    return
  fi
  local py="$MINISTACK_VENV/bin/python"
  if ! { [ -x "$py" ] && "$py" -c 'import ministack' >/dev/null 2>&1; }; then
    $SUDO python3 -m venv "$MINISTACK_VENV"
    $SUDO "$py" -m pip install -q ministack
  fi
  "$py" -c 'import ministack' || {
    echo "ministack still not importable from $py after pip install" >&2
    return 1
  }
  echo "ministack: $py"
  export SEALTRAIL_MINISTACK="$py"
}

ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    if ! command -v rustup >/dev/null 2>&1; then
      command -v curl >/dev/null 2>&1 || apt_install curl ca-certificates
      echo "installing the Rust toolchain with rustup"
      curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
        sh -s -- -y --profile minimal --component rustfmt,clippy
    fi
  fi
  # build tools for crates with C code (zstd-sys)
  if ! command -v cc >/dev/null 2>&1; then apt_install build-essential pkg-config; fi
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
  fi
  cargo --version
  cargo fmt --version
  cargo clippy --version
}

disk_report
step "install test dependencies" install_system_packages
step "install moto (S3 test server)" install_moto
step "install python3 cryptography (the independent proof checker)" install_cryptography
step "install ministack (S3 test server, own venv)" install_ministack
step "rust toolchain (rustfmt, clippy)" ensure_rust
step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy -D warnings" cargo clippy --all-targets -- -D warnings
# The packaging test prints its own "N passed, N failed" line; it joins the totals.
run_packaging() {
  tests/packaging/run.sh 2>&1 | tee -a "$TEST_LOG"
}

TEST_LOG="$(mktemp)"
run_tests() {
  # tee keeps the output live; pipefail (set above) keeps cargo's exit status.
  cargo test --all-targets 2>&1 | tee "$TEST_LOG"
  cargo test --doc 2>&1 | tee -a "$TEST_LOG"
}
step "cargo test (all targets and doc tests)" run_tests
step "packaging (deb, rpm, debootstrap + systemd-nspawn)" run_packaging
