#!/usr/bin/env python3
"""Idle memory: sealtrail vs rsyslog, before and after a load.

For each system, on the same configuration as bench/fleet.py (sealtrail: one TCP
listener, journal fsync, detector, archive, [seal] max_age = 1s; rsyslog: imptcp ->
omfile):

1. start it and wait until it listens, plus 3 s: VmRSS is the idle figure;
2. send bench/ingest.py's input over one TCP connection (--count lines, default
   2,000,000: the ingest scenario) and wait until every line is on disk (rsyslog: in its
   file; sealtrail: received, sealed and shipped, as fleet.py decides it);
3. VmHWM then is the peak under load (sampled until it exits, as bench/fleet.py does);
   wait 5 s idle: VmRSS is the idle figure after the load (does the memory go back?);
   then stop it.

sealtrail's archive must verify and hold every line, rsyslog's file every line; else the
exit status is 1. (bench/fleet.py reports the same idle figures around its 1,000
connection load.) Results: stdout, <out>/idle-results.txt and idle-results.json.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleet  # noqa: E402  (the daemons and watchers)
import ingest  # noqa: E402  (the input and helpers)


def rss_mb(d, field="VmRSS"):
    return (d.status_kb(field) or 0) / 1024


def archive_lines(d):
    """(verify ok, events verify counts, lines in the archive, alerts among them)."""
    pub = os.path.join(d.state, "signing.pub")
    v = subprocess.run([d.binary, "verify", d.archive, "--key", pub, "--json"], capture_output=True, text=True)
    verified = None
    if v.returncode == 0:
        verified = sum(s["events"] for s in json.loads(v.stdout)["streams"])
    else:
        print(f"sealtrail verify failed ({v.returncode}):\n{v.stdout[-4000:]}\n{v.stderr[-4000:]}", file=sys.stderr)
    lines = alerts = 0
    for dirpath, _, names in os.walk(d.archive):
        for n in sorted(names):
            if n.endswith(".seg.zst"):
                out = subprocess.run(["zstd", "-dcq", "--", os.path.join(dirpath, n)], capture_output=True, check=True).stdout
                lines += out.count(b"\n")
                alerts += out.count(fleet.ALERT)
    return v.returncode == 0, verified, lines, alerts


def run(system, a, input_path):
    d = fleet.Daemon(system, a.out, a.sealtrail, connections=1, max_age=a.max_age, tag="idle").start()
    watcher = fleet.ArchiveWatcher(d.archive) if system == "sealtrail" else fleet.FileWatcher(d.output)
    r = {"system": system, "version": d.version, "note": d.note, "count": a.count}
    try:
        time.sleep(3)
        r["rss_idle_mb"] = rss_mb(d)
        r["hwm_idle_mb"] = rss_mb(d, "VmHWM")
        t0 = ingest.send_file(input_path, d.port)
        done = fleet.poll_until(watcher, d.drain_probe(watcher, a.count, [None]), timeout=120, every=0.05)
        r["load_s"] = time.perf_counter() - t0
        r["drained"] = done
        d.peak.sample()
        r["rss_loaded_mb"] = rss_mb(d)
        time.sleep(5)
        r["rss_idle_after_mb"] = rss_mb(d)
    finally:
        rc, _ = d.stop()
    r["exit_code"] = rc
    r["rss_peak_mb"] = d.peak.mb
    if system == "sealtrail":
        ok, verified, lines, alerts = archive_lines(d)
        r.update(verify_ok=ok, verify_events=verified, alerts=alerts, lines=lines - alerts)
        r["ok"] = ok and verified == lines and lines - alerts == a.count and rc == 0
    else:
        r["lines"] = watcher.count_lines()
        r["ok"] = r["lines"] == a.count and rc == 0
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=2_000_000, help="lines of the load (one TCP connection)")
    ap.add_argument("--max-age", default="1s", help="sealtrail [seal] max_age")
    ap.add_argument("--systems", default="rsyslog,sealtrail")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--sealtrail", default=os.path.join(HERE, "..", "target", "release", "sealtrail"))
    a = ap.parse_args()
    a.out = os.path.abspath(a.out)
    os.makedirs(a.out, exist_ok=True)
    input_path = ingest.ensure_input(a.out, a.count, False)
    results = []
    for s in [x.strip() for x in a.systems.split(",") if x.strip()]:
        print(f"idle: {s} ...", flush=True)
        r = run(s, a, input_path)
        print(f"  {s}: idle {r['rss_idle_mb']:.1f} MB, peak {r['rss_peak_mb']:.1f} MB, "
              f"idle after {r['rss_idle_after_mb']:.1f} MB; {r['lines']:,} lines, {'OK' if r['ok'] else 'FAILED'}", flush=True)
        results.append(r)
    by = {r["system"]: r for r in results}
    lines = [f"Idle memory, before and after {a.count:,} lines over one TCP connection (bench/ingest.py's input)",
             ingest.machine_line(), ""]
    lines += [f"{r['system']:<10} {r['version']}: {r['note']}" for r in results]
    lines.append("")
    lines += ingest.side_by_side([
        ("idle RSS MB", "rss_idle_mb", ".1f", "(VmRSS, listening + 3 s)"),
        ("peak RSS MB", "rss_peak_mb", ".1f", "(VmHWM, under the load, sampled until exit)"),
        ("RSS MB, loaded", "rss_loaded_mb", ".1f", "(VmRSS when all on disk)"),
        ("idle RSS MB after load", "rss_idle_after_mb", ".1f", "(VmRSS 5 s later)"),
        ("load s", "load_s", ".2f", "(first byte sent .. all on disk)"),
    ], by)
    lines.append("")
    for r in results:
        extra = (f", verify {'ok' if r['verify_ok'] else 'FAILED'}, {r['alerts']:,} alerts"
                 if r["system"] == "sealtrail" else "")
        lines.append(f"{r['system']}: {r['lines']:,} of {a.count:,} lines{extra}; {'OK' if r['ok'] else 'FAILED'}")
    text = "\n".join(lines) + "\n"
    print()
    print(text, end="")
    with open(os.path.join(a.out, "idle-results.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "idle-results.json"), "w") as f:
        json.dump(results, f, indent=2)
    if not all(r["ok"] for r in results):
        print("FAILED: lines lost or verify failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
