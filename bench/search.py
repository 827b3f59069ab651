#!/usr/bin/env python3
"""`sealtrail search` / `export` throughput on a daemon-made archive, beside
`zstdcat | grep` over the same segments in the same run.

1. The archive: made by the release daemon exactly as bench/verify.py makes its own
   (its `build_round`: ingest.py's generated syslog lines over one TCP connection,
   journal fsync, detector on, [seal] defaults), round after round on the same state and
   archive until the seals count at least --min-events events. An archive already in
   --archive DIR (DIR/archive, its key DIR/state/signing.pub) that is large enough is
   reused.
2. Full scan with a text filter: `sealtrail export ARCHIVE --key PUB --text TEXT`
   (JSON lines to /dev/null; the summary as JSON), timed, beside
   `zstd -dcq <every segment> | grep -cF TEXT`. sealtrail checks every segment (seal
   signature, SHA-256 of the data frame, the Merkle tree over every line, counts) before
   it outputs an event and renders each match as full ECS; zstdcat | grep checks
   nothing. Events scanned per second = the events the seals count / wall time.
3. A time range: the daemon ingests the whole archive in minutes, so a literal hour of
   event.created would cover all of it. The range is therefore the share of the
   archive that one hour is of a day of even traffic: 1/24 of its segments with events,
   in the middle (from the first event of the first of them to the first event of the
   segment after the last), i.e. what an hour's query reads of a day-long archive.
   sealtrail is given
   --since/--until (and the same --text); the baseline is zstdcat | grep over the
   segments whose seals overlap the same range (chosen here from the seals, which
   sealtrail also reads; grep cannot select by time on its own).

4. The evidence report over the whole archive: `sealtrail report ARCHIVE --key PUB -o
   FILE` (it verifies every segment, reads every event of those that verified and counts
   them into the page's figures), timed, with the page's size; it must say VALID.

Each timing runs --rounds times (medians). Results: stdout, <out>/search-results.txt and
search-results.json; the exit status is 1 if a query failed or the counts disagree.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ingest  # noqa: E402
import verify as vb  # noqa: E402  (the archive maker and the timing helpers)


def seals_of(binary, segs):
    out = []
    for s in segs:
        seal = json.loads(subprocess.run([binary, "inspect", "--seal-only", s], capture_output=True,
                                         text=True, check=True).stdout)
        out.append((s, seal))
    return out


def ns(seal, key):
    """A seal time (`*_ns` integer, or RFC 3339 text) as unix ns."""
    v = seal.get(key + "_ns", seal.get(key))
    if isinstance(v, int):
        return v
    raise SystemExit(f"seal has no {key}_ns: {seal}")


def ensure_archive(a, binary):
    base = os.path.abspath(a.archive)
    archive, pub = os.path.join(base, "archive"), os.path.join(base, "state", "signing.pub")
    if a.rebuild:
        ingest.fresh_dir(base)
    segs = vb.segments_of(archive) if os.path.isdir(archive) and os.path.exists(pub) else []
    if not segs:
        for d in ("archive", "state"):
            ingest.fresh_dir(os.path.join(base, d))
    seals = seals_of(binary, segs)
    events = sum(s["event_count"] for _, s in seals)
    if events >= a.min_events:
        print(f"archive: {archive}, {len(segs)} segments, {events:,} events, reused")
        return archive, pub, seals
    input_path = ingest.ensure_input(a.out, a.count, False)
    while events < a.min_events:
        t = time.perf_counter()
        vb.build_round(binary, base, input_path)
        seals = seals_of(binary, vb.segments_of(archive))
        events = sum(s["event_count"] for _, s in seals)
        print(f"  daemon round: {time.perf_counter() - t:.1f} s; archive now {len(seals)} segments, "
              f"{events:,} events", flush=True)
    return archive, pub, seals


def rfc3339(t):
    secs, frac = divmod(t, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def time_search(binary, archive, pub, extra, rounds, scratch):
    summary = os.path.join(scratch, "search-summary.json")
    argv = [binary, "export", archive, "--key", pub, "--summary-json", summary] + extra
    wall, cpu, p, _ = vb.timed(argv, rounds, stdout=subprocess.DEVNULL)
    ok = p.returncode == 0
    s = {}
    if ok:
        with open(summary) as f:
            s = json.load(f)
    else:
        print(f"search failed ({p.returncode}): {' '.join(argv)}\n{p.stderr[-3000:].decode(errors='replace')}",
              file=sys.stderr)
    return {"wall": wall, "cpu": cpu, "ok": ok, "rc": p.returncode, "summary": s,
            "matched": s.get("events", {}).get("matched"), "scanned": s.get("events", {}).get("scanned"),
            "read": s.get("segments", {}).get("read")}


def time_grep(segs, text, rounds, scratch):
    """zstd -dcq SEGS | grep -cF TEXT, as one shell pipeline (the list from a file)."""
    lst = os.path.join(scratch, "segments.list")
    with open(lst, "wb") as f:
        f.write(b"\0".join(s.encode() for s in segs) + b"\0")
    cmd = f"xargs -0 -a {lst} zstd -dcq -- | LC_ALL=C grep -cF -- {shlex.quote(text)}"
    wall, cpu, p, _ = vb.timed(["sh", "-c", cmd], rounds)
    count = int(p.stdout.strip() or 0) if p.returncode in (0, 1) else None
    return {"wall": wall, "cpu": cpu, "count": count, "segments": len(segs)}


def time_report(binary, archive, pub, rounds, scratch):
    html = os.path.join(scratch, "report.html")
    argv = [binary, "report", archive, "--key", pub, "-o", html]
    wall, cpu, p, _ = vb.timed(argv, rounds, stdout=subprocess.DEVNULL)
    page = ""
    if os.path.exists(html):
        with open(html, errors="replace") as f:
            page = f.read()
    ok = p.returncode == 0 and 'data-verdict="valid"' in page
    if not ok:
        print(f"report failed ({p.returncode}): {' '.join(argv)}\n{p.stderr[-3000:].decode(errors='replace')}",
              file=sys.stderr)
    return {"wall": wall, "cpu": cpu, "ok": ok, "rc": p.returncode, "page_bytes": len(page.encode())}


def table(r):
    ev, n = r["events"], r["segments"]
    lines = [f"sealtrail search, {ev:,} events in {n} segments ({r['segment_bytes'] / 1e6:,.1f} MB of segment objects); "
             f"--text {r['text']!r}", ingest.machine_line(), "",
             f"{'':<46}{'wall s':>8}{'CPU s':>8}{'segments':>10}{'matches':>10}{'events/s':>13}"]

    def row(label, x, events, segs, matches):
        lines.append(f"{label:<46}{x['wall']:>8.2f}{x['cpu']:>8.2f}{segs:>10}{matches if matches is not None else '?':>10}"
                     f"{events / x['wall']:>13,.0f}")

    f, g = r["full"], r["full_grep"]
    row("full scan: sealtrail export --text", f, ev, f["read"], f["matched"])
    row("full scan: zstdcat | grep -cF", g, ev, g["segments"], g["count"])
    w, wg = r["range"], r["range_grep"]
    row("1/24 range: sealtrail --since/--until --text", w, r["range_events"], w["read"], w["matched"])
    row("1/24 range: zstdcat | grep -cF, same segments", wg, r["range_events"], wg["segments"], wg["count"])
    lines += ["", "ratios (sealtrail / zstdcat|grep; wall time: >1 = sealtrail slower):",
              f"  full scan:  wall {f['wall'] / g['wall']:.2f}x, CPU {f['cpu'] / g['cpu']:.2f}x",
              f"  range:      wall {w['wall'] / wg['wall']:.2f}x, CPU {w['cpu'] / wg['cpu']:.2f}x",
              f"  range vs full scan (sealtrail): {w['wall'] / f['wall']:.3f}x the time, "
              f"{w['read']} of {f['read']} segments read",
              "  sealtrail verifies every segment it reads (signature, data-frame SHA-256, Merkle tree, counts)",
              "  and renders each match as full ECS; zstdcat | grep checks nothing. events/s of a range row: the",
              "  events in the segments it reads."]
    rp = r["report"]
    lines += ["", f"sealtrail report over the whole archive: {rp['wall']:.2f} s wall, {rp['cpu']:.2f} CPU s, "
              f"{ev / rp['wall']:,.0f} events/s, a {rp['page_bytes'] / 1e3:,.0f} kB page"]
    for p in r["problems"]:
        lines.append(f"  PROBLEM: {p}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--sealtrail", default=os.path.join(HERE, "..", "target", "release", "sealtrail"))
    ap.add_argument("--archive", help="directory for the archive (DIR/archive, DIR/state); reused when "
                    "large enough (default <out>/search)")
    ap.add_argument("--rebuild", action="store_true", help="build a fresh archive even if one is there")
    ap.add_argument("--count", type=int, default=2_500_000, help="lines per daemon round")
    ap.add_argument("--min-events", type=int, default=10_000_000, help="events in the archive at least")
    ap.add_argument("--text", default="Failed password", help="the --text filter (and grep -F pattern)")
    ap.add_argument("--rounds", type=int, default=1, help="time each command this many times; medians")
    a = ap.parse_args()
    a.archive = a.archive or os.path.join(a.out, "search")
    binary = os.path.abspath(a.sealtrail)
    if not os.access(binary, os.X_OK):
        sys.exit(f"no sealtrail binary at {binary} (cargo build --release)")
    os.makedirs(a.out, exist_ok=True)
    t_start = time.perf_counter()
    archive, pub, seals = ensure_archive(a, binary)
    segs = [s for s, _ in seals]
    r = {"events": sum(s["event_count"] for _, s in seals), "segments": len(segs), "text": a.text,
         "segment_bytes": sum(os.path.getsize(s) for s in segs), "rounds": a.rounds, "problems": []}

    print("timing the full scan ...", flush=True)
    r["full"] = time_search(binary, archive, pub, ["--text", a.text], a.rounds, a.archive)
    r["full_grep"] = time_grep(segs, a.text, a.rounds, a.archive)

    # The range: 1/24 of the archive's events, in its middle, as an hour is of a day of
    # even traffic: from the first event of the segment at the start of that share to
    # the first event of the segment just after it (the daemon's rounds leave gaps in
    # received time, so a share of the span itself could fall into one).
    with_events = sorted(((ns(seal, "first_event"), s, seal) for s, seal in seals if seal["event_count"] > 0))
    share = max(1, len(with_events) // 24)
    k = max(0, len(with_events) // 2 - share // 2)
    since = with_events[k][0]
    until = with_events[min(k + share, len(with_events) - 1)][0]
    overlapping = [(s, seal) for _, s, seal in with_events
                   if ns(seal, "last_event") >= since and ns(seal, "first_event") < until]
    r["range_window"] = [rfc3339(since), rfc3339(until)]
    r["range_events"] = sum(seal["event_count"] for _, seal in overlapping)
    print(f"timing the range {r['range_window'][0]} .. {r['range_window'][1]} "
          f"({len(overlapping)} segments with events overlap it) ...", flush=True)
    r["range"] = time_search(binary, archive, pub, ["--since", r["range_window"][0], "--until", r["range_window"][1],
                                                    "--text", a.text], a.rounds, a.archive)
    r["range_grep"] = time_grep([s for s, _ in overlapping], a.text, a.rounds, a.archive)

    print("timing the report ...", flush=True)
    r["report"] = time_report(binary, archive, pub, a.rounds, a.archive)
    if not r["report"]["ok"]:
        r["problems"].append(f"sealtrail report failed (exit {r['report']['rc']}) or did not say VALID")

    for name in ("full", "range"):
        x = r[name]
        if not x["ok"]:
            r["problems"].append(f"sealtrail ({name}) failed (exit {x['rc']})")
        elif x["summary"].get("verified") is not True:
            r["problems"].append(f"sealtrail ({name}): not every segment verified")
    if r["full"]["ok"] and r["full"]["matched"] != r["full_grep"]["count"]:
        r["problems"].append(f"full scan: sealtrail matched {r['full']['matched']:,}, grep counted "
                             f"{r['full_grep']['count']:,} lines (grep also matches outside event.original)")
    if r["full"]["ok"] and r["full"]["scanned"] != r["events"]:
        r["problems"].append(f"full scan: sealtrail scanned {r['full']['scanned']:,}, the seals count {r['events']:,}")
    r["total_s"] = time.perf_counter() - t_start
    text = table(r) + f"\n(whole run {r['total_s']:.0f} s)\n"
    print()
    print(text, end="")
    with open(os.path.join(a.out, "search-results.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "search-results.json"), "w") as f:
        json.dump(r, f, indent=2)
    print(f"\nwritten: {os.path.join(a.out, 'search-results.txt')}")
    sys.exit(1 if r["problems"] else 0)


if __name__ == "__main__":
    main()
