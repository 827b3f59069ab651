#!/usr/bin/env python3
"""File tailing benchmark: sealtrail's file source (sealed, shipped, verified) vs
rsyslog's imfile -> omfile, on the same pre-generated file in the same run.

The input is bench/ingest.py's generator in the form syslog daemons write to files
(`auth.log`: no <PRI>), 2,000,000 lines by default (~290 MB), written before either
system starts, so what is measured is reading and everything after it:

* rsyslog: imfile (inotify mode, from the file's start) -> omfile, no fsync; done when
  its output file holds every line; CPU is utime+stime from /proc/PID/stat.
* sealtrail: one [[file]] source, start_at = "beginning", journal with fsync, sealer,
  archive; done when every line is received (status endpoint) and the daemon has
  exited after SIGTERM (drained, sealed, shipped); CPU from os.wait4's rusage. Then
  `sealtrail verify` must pass and the archive must hold every line.

Wall time runs from the start of the process to "done". Prints lines/s, CPU s per 1M
lines and the ratios; writes <out>/tail-results.txt and tail-results.json.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ingest  # noqa: E402  (the generator and helpers)


def bench_rsyslog(input_path, count, out):
    rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    base = ingest.fresh_dir(os.path.join(out, "rsyslog-imfile"))
    work = ingest.fresh_dir(os.path.join(base, "work"))
    output = os.path.join(base, "messages.log")
    conf = os.path.join(base, "rsyslog.conf")
    pidfile = os.path.join(base, "rsyslogd.pid")
    with open(conf, "w") as f:
        f.write(f"""global(workDirectory="{work}" maxMessageSize="64k")
module(load="imfile" mode="inotify")
input(type="imfile" file="{input_path}" tag="bench:" ruleset="bench" freshStartTail="off")
ruleset(name="bench") {{
  action(type="omfile" file="{output}")
}}
""")
    errlog = open(os.path.join(base, "rsyslogd.stderr"), "w")
    t0 = time.perf_counter()
    proc = subprocess.Popen([rsyslogd, "-n", "-f", conf, "-i", pidfile],
                            stdout=errlog, stderr=subprocess.STDOUT)
    try:
        lines = ingest.wait_for_lines(proc, output, count)
        wall = time.perf_counter() - t0
        cpu = ingest.proc_cpu_seconds(proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        errlog.close()
    if lines != count:
        sys.exit(f"rsyslogd wrote {lines} lines, expected {count}")
    ver = subprocess.run([rsyslogd, "-v"], capture_output=True, text=True).stdout.splitlines()
    return {"system": "rsyslog", "version": ver[0] if ver else "?", "events": lines,
            "wall": wall, "cpu": cpu, "note": "imfile (inotify) -> omfile, no fsync"}


def received(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith("component_received_events_total{") and 'component_id="file"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def thread_cpu(pid, name):
    """CPU seconds of the threads of `pid` called `name` (the file source's reader)."""
    total = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() != name:
                    continue
            total += ingest.proc_cpu_seconds(f"{pid}/task/{tid}")
        except OSError:
            pass
    return total


def bench_sealtrail(binary, input_path, count, out):
    binary = os.path.abspath(binary)
    if not os.access(binary, os.X_OK):
        sys.exit(f"no sealtrail binary at {binary} (cargo build --release)")
    base = ingest.fresh_dir(os.path.join(out, "sealtrail-file"))
    state = ingest.fresh_dir(os.path.join(base, "state"))
    archive = ingest.fresh_dir(os.path.join(base, "archive"))
    conf = os.path.join(base, "sealtrail.toml")
    port = ingest.free_port()
    with open(conf, "w") as f:
        f.write(f"""stream = "bench-file"
state_dir = "{state}"

[[file]]
name = "file"
include = ["{input_path}"]
start_at = "beginning"
timezone = "UTC"

[journal]
fsync = true

[seal]
zstd_level = 1

[archive]
url = "{archive}"

[status]
enabled = true
address = "127.0.0.1:{port}"
""")
    errlog = open(os.path.join(base, "sealtrail.stderr"), "w")
    t0 = time.perf_counter()
    proc = subprocess.Popen([binary, "run", "--config", conf], stdout=errlog, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 900
        got = 0
        while got < count:
            if proc.poll() is not None:
                sys.exit(f"sealtrail exited ({proc.returncode}) after {got} lines; see {errlog.name}")
            if time.monotonic() > deadline:
                sys.exit(f"sealtrail read only {got} of {count} lines in 900 s")
            time.sleep(0.05)
            try:
                got = received(port)
            except OSError:
                pass
        read_wall = time.perf_counter() - t0
        reader_cpu = thread_cpu(proc.pid, "file-source")
        proc.send_signal(signal.SIGTERM)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
        errlog.close()
    if proc.returncode != 0:
        sys.exit(f"sealtrail exited with {proc.returncode}; see {errlog.name}")
    cpu = ru.ru_utime + ru.ru_stime
    pub = os.path.join(state, "signing.pub")
    v = subprocess.run([binary, "verify", archive, "--key", pub, "--json"], capture_output=True, text=True)
    if v.returncode != 0:
        sys.exit(f"sealtrail verify failed ({v.returncode}):\n{v.stdout[-4000:]}\n{v.stderr[-4000:]}")
    report = json.loads(v.stdout)
    verified = sum(s["events"] for s in report["streams"])
    objects = sorted(os.path.join(d, n) for d, _, ns in os.walk(archive) for n in ns)
    counted, alerts = 0, 0
    for i in range(0, len(objects), 256):
        z = subprocess.Popen(["zstd", "-dcq", "--", *objects[i:i + 256]], stdout=subprocess.PIPE)
        for line in z.stdout:
            counted += 1
            if b'"kind":"alert"' in line:
                alerts += 1
        if z.wait() != 0:
            sys.exit("zstd -dc failed on the archive")
    if not (verified == counted and counted - alerts == count):
        sys.exit(f"event count mismatch: {count} lines, verify says {verified}, zstd counts {counted} "
                 f"of which {alerts} alerts")
    size = sum(os.path.getsize(o) for o in objects)
    return {"system": "sealtrail", "version": "release build", "events": counted - alerts,
            "wall": wall, "cpu": cpu, "read_wall": read_wall, "reader_cpu": reader_cpu,
            "note": f"[[file]] -> journal fsync -> sealed+shipped, detector on ({alerts} alerts); "
                    f"every line journalled after {read_wall:.2f} s ({count / read_wall:,.0f} lines/s), "
                    f"the reader thread {reader_cpu:.2f} CPU s ({reader_cpu / (count / 1e6):.2f} per 1M); "
                    f"{len(objects)} objects, {size / 1e6:.1f} MB"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=2_000_000)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--systems", default="rsyslog,sealtrail")
    ap.add_argument("--sealtrail", default=os.path.join(HERE, "..", "target", "release", "sealtrail"))
    ap.add_argument("--regen", action="store_true")
    a = ap.parse_args()
    systems = [s.strip() for s in a.systems.split(",") if s.strip()]
    os.makedirs(a.out, exist_ok=True)
    input_path = os.path.abspath(ingest.ensure_input(a.out, a.count, a.regen, pri=False))
    input_bytes = os.path.getsize(input_path)
    results = []
    for s in systems:
        print(f"tailing with {s} ...", flush=True)
        r = bench_rsyslog(input_path, a.count, a.out) if s == "rsyslog" else \
            bench_sealtrail(a.sealtrail, input_path, a.count, a.out)
        print(f"  {s}: {r['events']:,} lines in {r['wall']:.2f} s, {r['cpu']:.2f} CPU s", flush=True)
        results.append(r)
    text = ingest.table(results, a.count, input_bytes)
    text = text.replace("TCP syslog ingestion", "File tailing", 1).replace(
        "RFC 3164 lines", "auth.log-style lines", 1).replace(", one connection, 127.0.0.1", ", one pre-written file", 1)
    print()
    print(text, end="")
    with open(os.path.join(a.out, "tail-results.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "tail-results.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
