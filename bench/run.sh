#!/usr/bin/env bash
# Benchmarks: TCP syslog ingestion into sealtrail's sealed, verified archive vs rsyslog
# (imptcp -> omfile), and tailing a file ([[file]] vs rsyslog imfile -> omfile), on the
# same 2,000,000 lines in the same run.
#
#   bench/run.sh                           # both systems, 2,000,000 lines
#   BENCH_SYSTEMS=rsyslog bench/run.sh     # rsyslog only (no cargo build)
#   BENCH_COUNT=200000 bench/run.sh        # fewer lines
#   BENCH_SUITES=file bench/run.sh         # only the file tailing benchmark
#   bench/run.sh --regen                   # extra arguments go to bench/ingest.py
#
# Results: stdout and bench/out/results.txt (bench/out is git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive

SYSTEMS="${BENCH_SYSTEMS:-rsyslog,sealtrail}"
COUNT="${BENCH_COUNT:-2000000}"
# tcp: syslog over TCP (ingest.py); file: tailing a file (tail.py); replay: the detector.
SUITES="${BENCH_SUITES:-tcp,file,replay}"

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

missing=()
type -P python3 >/dev/null || missing+=(python3)
type -P zstd >/dev/null || missing+=(zstd)
if [[ ",$SYSTEMS," == *",rsyslog,"* ]]; then
  type -P rsyslogd >/dev/null || missing+=(rsyslog)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [[ ",$SYSTEMS," == *",sealtrail,"* ]]; then
  echo "==> cargo build --release"
  cargo build --release
fi

mkdir -p bench/out
if [[ ",$SUITES," == *",tcp,"* ]]; then
  echo "==> bench/ingest.py --count $COUNT --systems $SYSTEMS"
  python3 bench/ingest.py --count "$COUNT" --systems "$SYSTEMS" \
    --out "$ROOT/bench/out" --sealtrail "$ROOT/target/release/sealtrail" "$@"
fi

if [[ ",$SUITES," == *",file,"* ]]; then
  echo "==> bench/tail.py --count $COUNT --systems $SYSTEMS (file tailing: [[file]] vs rsyslog imfile)"
  python3 bench/tail.py --count "$COUNT" --systems "$SYSTEMS" \
    --out "$ROOT/bench/out" --sealtrail "$ROOT/target/release/sealtrail" "$@"
fi

if [[ ",$SUITES," == *",replay,"* && ",$SYSTEMS," == *",sealtrail,"* ]]; then
  echo "==> bench/replay.py (detector: 1,000,000 auth lines)"
  python3 bench/replay.py --out "$ROOT/bench/out" --sealtrail "$ROOT/target/release/sealtrail"
fi
