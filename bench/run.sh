#!/usr/bin/env bash
# Benchmarks, sealtrail vs rsyslog in the same run: TCP syslog ingestion over one
# connection (imptcp -> omfile vs the sealed, verified archive), tailing a file
# ([[file]] vs imfile), the detector offline (replay), a central collector with 1,000
# concurrent connections (fleet: throughput, CPU, RSS, delay to sealed on disk) and idle
# memory before and after a load (idle), `sealtrail verify` on a 1 GB archive in a
# directory and in a bucket (moto) beside zstd -d and SHA-256 on the same bytes (verify),
# and forwarding to a SIEM (forward: a [[forward]] syslog output vs an rsyslog omfwd
# relay, end to end into a receiving rsyslog, and ingest with one forwarder vs none),
# and `sealtrail search` on a 10-million-event archive beside zstdcat | grep (search).
#
#   bench/run.sh                           # everything, both systems, 2,000,000 lines
#   BENCH_SYSTEMS=rsyslog bench/run.sh     # rsyslog only (no cargo build)
#   BENCH_COUNT=200000 bench/run.sh        # fewer lines (tcp, file, idle)
#   BENCH_SUITES=fleet,idle bench/run.sh   # some suites: tcp, tls, file, replay, fleet, idle, verify,
#                                          # forward, audit, search
#   BENCH_SEARCH_EVENTS=2000000 bench/run.sh   # search's archive size (default 10,000,000 events)
#   BENCH_ROUNDS=3 bench/run.sh            # tcp: each system 3 times, alternately; medians
#                                          # (verify: each timing 3 times; forward: each
#                                          # scenario 3 times; medians)
#   BENCH_FORWARD_COUNT=1000000 bench/run.sh   # forward's input (default 1,000,000 lines)
#   BENCH_CONNECTIONS=1000 BENCH_RATE=100 BENCH_DURATION=20 bench/run.sh   # fleet's load
#   BENCH_SEALTRAIL=/path/to/sealtrail bench/run.sh   # that binary, no cargo build
#   BENCH_OUT=/tmp/bench bench/run.sh      # results elsewhere (default bench/out)
#   bench/run.sh --regen                   # extra arguments go to ingest.py and tail.py
#
# Results: stdout and bench/out/*.txt, *.json (bench/out is git-ignored). Every suite
# runs even if one fails; the exit status is non-zero when any failed, in particular
# when any run lost (or duplicated) events or an archive did not verify.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive

SYSTEMS="${BENCH_SYSTEMS:-rsyslog,sealtrail}"
COUNT="${BENCH_COUNT:-2000000}"
# tcp: syslog over TCP (ingest.py); tls: the same over TLS beside TCP, both systems
# (ingest.py --transports tcp,tls; rsyslog through imtcp's GnuTLS driver); file: tailing a file (tail.py); replay: the detector;
# fleet: 1,000 connections (fleet.py); idle: idle memory (idle.py); verify: verify's
# throughput on a 1 GB archive, directory and S3 (verify.py, sealtrail only); forward:
# forwarding to a receiving rsyslog (forward.py, only with both systems).
# search: search/export on a 10M-event archive beside zstdcat | grep (search.py,
# sealtrail only).
SUITES="${BENCH_SUITES:-tcp,tls,file,replay,fleet,idle,verify,forward,audit,search}"
SEARCH_EVENTS="${BENCH_SEARCH_EVENTS:-10000000}"
FORWARD_COUNT="${BENCH_FORWARD_COUNT:-1000000}"
ROUNDS="${BENCH_ROUNDS:-1}"
CONNECTIONS="${BENCH_CONNECTIONS:-1000}"
RATE="${BENCH_RATE:-100}"
DURATION="${BENCH_DURATION:-20}"
OUT="${BENCH_OUT:-$ROOT/bench/out}"
SEALTRAIL="${BENCH_SEALTRAIL:-$ROOT/target/release/sealtrail}"

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

missing=()
type -P python3 >/dev/null || missing+=(python3)
type -P zstd >/dev/null || missing+=(zstd)
if [[ ",$SYSTEMS," == *",rsyslog,"* ]]; then
  type -P rsyslogd >/dev/null || missing+=(rsyslog)
fi
if [[ ",$SUITES," == *",tls,"* ]]; then
  type -P openssl >/dev/null || missing+=(openssl)
  if [[ ",$SYSTEMS," == *",rsyslog,"* ]]; then
    compgen -G '/usr/lib/*/rsyslog/lmnsd_gtls.so' >/dev/null || missing+=(rsyslog-gnutls)
  fi
fi
verify_suite=""
if [[ ",$SUITES," == *",verify,"* && ",$SYSTEMS," == *",sealtrail,"* ]]; then
  verify_suite=1
  type -P openssl >/dev/null || missing+=(openssl)
  if ! command -v moto_server >/dev/null 2>&1; then
    python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  fi
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# moto's S3 server for the verify suite, as tests/run.sh installs it (Debian 12 marks the
# system Python as externally managed, PEP 668).
if [ -n "$verify_suite" ] && ! command -v moto_server >/dev/null 2>&1; then
  echo "==> pip install moto[server]"
  pip_extra=()
  if python3 -m pip install --help 2>/dev/null | grep -q -- --break-system-packages; then
    pip_extra+=(--break-system-packages)
  fi
  python3 -m pip install -q "${pip_extra[@]}" 'moto[server]' ||
    echo "==> pip install moto[server] failed: the verify suite will fail" >&2
  hash -r
fi

if [[ ",$SYSTEMS," == *",sealtrail,"* && -z "${BENCH_SEALTRAIL:-}" ]]; then
  echo "==> cargo build --release"
  cargo build --release
fi

has() { [[ ",$SUITES," == *",$1,"* ]]; }

mkdir -p "$OUT"
failed=()
results=()
# run_suite NAME RESULTS_FILE COMMAND...: runs it, remembers a failure, goes on.
run_suite() {
  local name="$1" file="$2"
  shift 2
  echo "==> $name: $*"
  rm -f "$OUT/$file"  # no stale table from an earlier run in the summary
  if "$@"; then
    results+=("$OUT/$file")
  else
    echo "==> $name FAILED (exit $?)" >&2
    failed+=("$name")
    if [ -f "$OUT/$file" ]; then results+=("$OUT/$file"); fi
  fi
  return 0
}

if has tcp; then
  run_suite tcp results.txt python3 bench/ingest.py --count "$COUNT" --systems "$SYSTEMS" \
    --rounds "$ROUNDS" --out "$OUT" --sealtrail "$SEALTRAIL" "$@"
fi

if has tls; then
  run_suite tls results-tls.txt python3 bench/ingest.py --count "$COUNT" --systems "$SYSTEMS" \
    --rounds "$ROUNDS" --out "$OUT" --sealtrail "$SEALTRAIL" --transports tcp,tls "$@"
fi

if has file; then
  run_suite file tail-results.txt python3 bench/tail.py --count "$COUNT" --systems "$SYSTEMS" \
    --out "$OUT" --sealtrail "$SEALTRAIL" "$@"
fi

if has replay && [[ ",$SYSTEMS," == *",sealtrail,"* ]]; then
  run_suite replay replay.txt python3 bench/replay.py --out "$OUT" --sealtrail "$SEALTRAIL"
fi

if has fleet; then
  run_suite fleet fleet-results.txt python3 bench/fleet.py --connections "$CONNECTIONS" \
    --rate-per-conn "$RATE" --duration "$DURATION" --systems "$SYSTEMS" \
    --out "$OUT" --sealtrail "$SEALTRAIL"
fi

if has idle; then
  run_suite idle idle-results.txt python3 bench/idle.py --count "$COUNT" --systems "$SYSTEMS" \
    --out "$OUT" --sealtrail "$SEALTRAIL"
fi

# The archive (bench/out/verify, ~1.5 GB with its input) is built once and reused.
if [ -n "$verify_suite" ]; then
  run_suite verify verify-results.txt python3 bench/verify.py --out "$OUT" --sealtrail "$SEALTRAIL" \
    --rounds "$ROUNDS"
fi

# sealtrail's forwarder against an rsyslog relay, both into a receiving rsyslog: needs both.
if has forward && [[ ",$SYSTEMS," == *",rsyslog,"* && ",$SYSTEMS," == *",sealtrail,"* ]]; then
  run_suite forward forward-results.txt python3 bench/forward.py --count "$FORWARD_COUNT" \
    --rounds "$ROUNDS" --out "$OUT" --sealtrail "$SEALTRAIL"
elif has forward && [ -n "${BENCH_SUITES:-}" ]; then
  echo "==> forward skipped: it needs both systems (BENCH_SYSTEMS=rsyslog,sealtrail)" >&2
fi

# The audit API alone: no peer acknowledges an HTTP input only once it is durable.
if has audit && [[ ",$SYSTEMS," == *",sealtrail,"* ]]; then
  run_suite audit audit-results.txt python3 bench/audit.py --out "$OUT" --sealtrail "$SEALTRAIL"
fi

# The archive (bench/out/search) is built once and reused, like verify's.
if has search && [[ ",$SYSTEMS," == *",sealtrail,"* ]]; then
  run_suite search search-results.txt python3 bench/search.py --out "$OUT" --sealtrail "$SEALTRAIL" \
    --min-events "$SEARCH_EVENTS" --rounds "$ROUNDS"
fi

# Every scenario's table again, one after the other: sealtrail and rsyslog side by side.
echo
echo "==================== summary ===================="
for f in "${results[@]}"; do
  echo
  echo "---- $f"
  cat "$f"
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo
  echo "FAILED suites: ${failed[*]} (lost or duplicated events, a failed verify, or an error: see above)" >&2
  exit 1
fi
