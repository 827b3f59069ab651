#!/usr/bin/env bash
# Records packaging/sealtrail.order: the functions the daemon runs, in two groups, for
# the release link (build.rs hands the file to the linker, lld's
# --symbol-ordering-file).
#
# Why: an idle daemon runs ~1.8 MB of functions spread over a 14 MB text section, and
# the kernel maps each page fault's 64 KiB neighbourhood (fault-around), so 6.4-6.6 MB
# of the binary was resident in an idle daemon. Placed together, ~2.6 MB
# (docs/OPERATIONS.md, "Memory").
#
# The groups: first what a load runs (receiving, journalling, sealing, detecting), the
# busiest first, so that the hot path stays dense; then what only the start and idle
# run (listening, heartbeat seals, shipping, a status scrape). Idle first and the load
# after measured ~8 % more CPU per event in 6 of 7 alternating runs; this order, the
# same as no list. The names are mangled with a hash of the crate's build inputs
# (Cargo.lock, the toolchain), so after updating either, run this again;
# tests/packaging/run.sh fails when fewer than 90 % of the names are found in the
# release binary. Code chosen at run time for the CPU (SHA-NI, AVX2) does not run under
# valgrind, so it is not listed and stays where the compiler put it.
#
#   packaging/symbol-order.sh        # needs valgrind (callgrind) and python3
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$ROOT/packaging/sealtrail.order"
for tool in valgrind callgrind_control python3; do
  type -P "$tool" >/dev/null || { echo "symbol-order.sh: needs $tool (apt-get install valgrind python3)" >&2; exit 1; }
done

cargo build --release --locked
bin="$TARGET_DIR/release/sealtrail"
work="$(mktemp -d)"
vg=""
cleanup() {
  if [ -n "$vg" ]; then kill -9 "$vg" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tcp=$(free_port)
udp=$(free_port)
status=$(free_port)
# The packaged config (packaging/sealtrail.toml), so that what the service parses and
# starts is in the list, on private paths and ports, with a heartbeat of 1 s to seal
# while idle (and without [[journald]] where there is no journalctl).
python3 - packaging/sealtrail.toml "$work" "$udp" "$tcp" "$status" >"$work/sealtrail.toml" <<'EOF'
import re, shutil, sys
path, work, udp, tcp, status = sys.argv[1:]
text = open(path).read()
def swap(old, new):
    global text
    if old not in text:
        sys.exit(f"symbol-order.sh: {path} no longer has {old!r}; update this script")
    text = text.replace(old, new, 1)
swap('state_dir = "/var/lib/sealtrail/state"', f'state_dir = "{work}/state"')
swap('url = "/var/lib/sealtrail/archive"', f'url = "{work}/archive"')
swap('max_age = "60s"', 'max_age = "1s"')
swap('address = "127.0.0.1:9514"', f'address = "127.0.0.1:{status}"')
# Each syslog listener's address follows its transport.
for transport, port in (("udp", udp), ("tcp", tcp)):
    pattern = rf'(transport = "{transport}"\n(?:[^\[\n][^\n]*\n)*?)address = "127\.0\.0\.1:514"'
    text, n = re.subn(pattern, rf'\g<1>address = "127.0.0.1:{port}"', text, count=1)
    if n != 1:
        sys.exit(f"symbol-order.sh: no {transport} listener on 127.0.0.1:514 in {path}; update this script")
if shutil.which("journalctl") is None:
    swap('[[journald]]\nname = "journald"\n', "")
print(text, end="")
EOF
mkdir -p "$work/archive"

valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/cg.out" \
  "$bin" run --config "$work/sealtrail.toml" >"$work/daemon.log" 2>&1 &
vg=$!
for _ in $(seq 1 600); do
  grep -q "sealtrail is running" "$work/daemon.log" && break
  kill -0 "$vg" 2>/dev/null || { cat "$work/daemon.log" >&2; exit 1; }
  sleep 0.1
done
# Idle: a few heartbeat seals (each compressed, signed, committed and shipped) and a
# status scrape, as a monitoring system does.
sleep 6
python3 - "$status" <<'EOF'
import sys, urllib.request
for path in ("/metrics", "/status"):
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}{path}", timeout=30).read()
EOF
sleep 2
callgrind_control -d "$vg" >/dev/null 2>&1
# Load: syslog lines over TCP and UDP, logins among them for the detector.
python3 - "$tcp" "$udp" <<'EOF'
import socket, sys, time
tcp, udp = int(sys.argv[1]), int(sys.argv[2])
lines = []
for i in range(3000):
    if i % 3 == 0:
        msg = f"sshd[{1000 + i}]: Failed password for invalid user u{i % 50} from 192.0.2.{i % 200} port {40000 + i} ssh2"
    elif i % 3 == 1:
        msg = f"sshd[{1000 + i}]: Accepted publickey for alice from 198.51.100.{i % 100} port {50000 + i} ssh2"
    else:
        msg = f"cron[{2000 + i}]: (root) CMD (run-parts /etc/cron.hourly {i})"
    lines.append(f"<38>Dec  4 12:00:00 host{i % 7} {msg}\n".encode())
s = socket.create_connection(("127.0.0.1", tcp))
s.sendall(b"".join(lines))
s.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for l in lines[:300]:
    u.sendto(l, ("127.0.0.1", udp))
time.sleep(0.5)
EOF
sleep 8
callgrind_control -d "$vg" >/dev/null 2>&1
sleep 1
kill -9 "$vg" 2>/dev/null || true
wait "$vg" 2>/dev/null || true
vg=""

python3 - "$bin" "$OUT" "$work"/cg.out.* <<'EOF'
import re, sys
binary, out, dumps = sys.argv[1], sys.argv[2], sorted(sys.argv[3:], key=lambda p: int(p.rsplit(".", 1)[1]))
def functions(path):
    """The functions of `binary` that ran, as {mangled name: instructions in it}."""
    names, objects, current, fn, cost = {}, {}, None, None, {}
    after_call = False
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        m = re.match(r"^(ob|fn|cfn|cob)=\((\d+)\)(?: (.*))?$", line)
        if m:
            kind, ident, name = m.groups()
            if kind in ("ob", "cob"):
                if name:
                    objects[ident] = name
                if kind == "ob":
                    current = objects.get(ident)
            else:
                if name:
                    names[ident] = name
                if kind == "fn":
                    fn = names[ident] if current == binary and not names[ident].startswith("0x") else None
                    if fn is not None:
                        cost.setdefault(fn, 0)
            continue
        if line.startswith("calls="):
            after_call = True
            continue
        m = re.match(r"^[+-]?\d+ (\d+)$|^\* (\d+)$", line)
        if m:
            if fn is not None and not after_call:
                cost[fn] += int(m.group(1) or m.group(2))
            after_call = False
    return cost
if len(dumps) < 2:
    sys.exit(f"expected two callgrind dumps, got {dumps}")
idle, load = functions(dumps[0]), functions(dumps[1])
# The load's functions first, the busiest first, so the hot path is dense; then what
# only the start and idle run (startup code stays resident once run, so it goes with it).
hot = sorted(load, key=lambda n: -load[n])
rest = [n for n in idle if n not in load]
with open(out, "w") as f:
    f.write("".join(n + "\n" for n in hot + rest))
print(f"{out}: {len(hot)} functions under load (busiest first), then {len(rest)} more at start and idle")
EOF
