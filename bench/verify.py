#!/usr/bin/env python3
"""`sealtrail verify` throughput on an archive of at least 1 GB of events, in a local
directory and in an S3 bucket (moto), beside this machine's limits on the same bytes.

1. The archive: the release daemon as in bench/ingest.py (one TCP listener, journal
   fsync, detector on, [seal] defaults: max_bytes 8 MiB, zstd level 1, a local directory
   archive) receives ingest.py's input (--count lines) over one connection; when the
   sealed events (the sum of the seals' content_len, from `sealtrail inspect
   --seal-only`) fall short of --min-bytes, it runs again on the same state and archive.
   An archive already in --archive DIR (DIR/archive, its key DIR/state/signing.pub) that
   is large enough is reused.
2. Local: `sealtrail verify DIR/archive --key PUB --json`, timed (wall, and CPU from
   getrusage(RUSAGE_CHILDREN)); it must pass.
3. The machine's limits on the same bytes, single-threaded CLIs: `zstd -dcq` of every
   segment to /dev/null (zstd skips the seal's skippable frame; checked: its output is
   exactly the seals' content_len), `openssl dgst -sha256` over the segment files and
   over the decompressed bytes. verify must decompress, hash every line (a Merkle leaf)
   and hash the data frame, so the floor is zstd -d + SHA-256 of the decompressed bytes.
4. S3: moto_server on a free port, a bucket, every object PUT under `logs/` (plain HTTP:
   moto checks no signatures; not timed), then `sealtrail verify s3://benchbucket/logs
   --endpoint ... --allow-http`, timed; it must pass and count the same events.

Each timing runs --rounds times (medians). Results: stdout, <out>/verify-results.txt and
verify-results.json; the exit status is 1 if a verify failed or the counts differ.
"""

import argparse
import http.client
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ingest  # noqa: E402  (input, ports, reaping, the table's header)

BUCKET, PREFIX = "benchbucket", "logs"


def objects_under(archive):
    """Every file of the archive, relative paths, sorted."""
    return sorted(os.path.relpath(os.path.join(d, n), archive) for d, _, ns in os.walk(archive) for n in ns)


def segments_of(archive):
    return [os.path.join(archive, r) for r in objects_under(archive) if r.endswith(".seg.zst")]


def seal_totals(binary, segs):
    """(events, content bytes, segment bytes) from the seals and the object sizes."""
    events = content = 0
    for s in segs:
        seal = json.loads(subprocess.run([binary, "inspect", "--seal-only", s], capture_output=True,
                                         text=True, check=True).stdout)
        events += seal["event_count"]
        content += seal["content_len"]
    return events, content, sum(os.path.getsize(s) for s in segs)


def build_round(binary, base, input_path):
    """Runs the daemon once on base/state and base/archive and sends the input file."""
    state, archive = (os.path.join(base, d) for d in ("state", "archive"))
    os.makedirs(state, exist_ok=True)
    os.makedirs(archive, exist_ok=True)
    conf, port = os.path.join(base, "sealtrail.toml"), ingest.free_port()
    with open(conf, "w") as f:
        f.write(f"""stream = "verify"
state_dir = "{state}"

[[syslog]]
name = "tcp"
transport = "tcp"
address = "127.0.0.1:{port}"
timezone = "UTC"

[journal]
fsync = true

[archive]
url = "{archive}"

[status]
address = "127.0.0.1:{ingest.free_port()}"
""")
    with open(os.path.join(base, "sealtrail.stderr"), "a") as errlog:
        proc = subprocess.Popen([binary, "run", "--config", conf], stdout=errlog, stderr=subprocess.STDOUT)
        try:
            ingest.wait_listening(proc, port, "sealtrail")
            ingest.send_file(input_path, port)
            rc, _ = ingest.reap(proc, timeout=900)  # SIGTERM: drains, seals and ships
        finally:
            if proc.returncode is None:
                ingest.reap(proc, timeout=0, sig=signal.SIGKILL)
    if rc != 0:
        sys.exit(f"sealtrail run exited with {rc}; see {errlog.name}")


def ensure_archive(a, binary):
    base = os.path.abspath(a.archive)
    archive, pub = os.path.join(base, "archive"), os.path.join(base, "state", "signing.pub")
    if a.rebuild:
        ingest.fresh_dir(base)
    segs = segments_of(archive) if os.path.isdir(archive) and os.path.exists(pub) else []
    if not segs:  # nothing usable: no leftovers of another key or chain
        for d in ("archive", "state"):
            ingest.fresh_dir(os.path.join(base, d))
    totals = seal_totals(binary, segs) if segs else (0, 0, 0)
    if totals[1] >= a.min_bytes:
        print(f"archive: {archive}, {len(segs)} segments, {totals[1] / 1e6:,.1f} MB of events, reused")
        return archive, pub, segs, totals
    if segs:
        print(f"archive: {archive} holds {totals[1] / 1e6:,.1f} MB of events, adding more")
    input_path = ingest.ensure_input(a.out, a.count, False)
    while totals[1] < a.min_bytes:
        t = time.perf_counter()
        build_round(binary, base, input_path)
        segs = segments_of(archive)
        totals = seal_totals(binary, segs)
        print(f"  daemon round: {time.perf_counter() - t:.1f} s; archive now {len(segs)} segments, "
              f"{totals[0]:,} events, {totals[1] / 1e6:,.1f} MB of events", flush=True)
    return archive, pub, segs, totals


def timed(argv, rounds, env=None, stdout=subprocess.PIPE, extra_cpu=None):
    """Runs argv `rounds` times; returns (median wall s, median CPU s of the child, last
    CompletedProcess, median of extra_cpu()'s growth, e.g. moto's CPU)."""
    walls, cpus, extras, p = [], [], [], None
    for _ in range(rounds):
        r0, x0 = resource.getrusage(resource.RUSAGE_CHILDREN), extra_cpu() if extra_cpu else 0
        t = time.perf_counter()
        p = subprocess.run(argv, env=env, stdout=stdout, stderr=subprocess.PIPE)
        walls.append(time.perf_counter() - t)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        extras.append((extra_cpu() if extra_cpu else 0) - x0)
        if p.returncode != 0:
            break
    return statistics.median(walls), statistics.median(cpus), p, statistics.median(extras)


def run_verify(argv, rounds, env=None, extra_cpu=None):
    wall, cpu, p, extra = timed(argv + ["--json"], rounds, env=env, extra_cpu=extra_cpu)
    try:
        report = json.loads(p.stdout)
    except ValueError:
        report = {}
    ok = p.returncode == 0 and report.get("valid") is True
    if not ok:
        print(f"verify failed ({p.returncode}): {' '.join(argv)}\n{p.stdout[-3000:].decode(errors='replace')}\n"
              f"{p.stderr[-3000:].decode(errors='replace')}", file=sys.stderr)
    return {"wall": wall, "cpu": cpu, "ok": ok, "rc": p.returncode, "other_cpu": extra,
            "events": sum(s["events"] for s in report.get("streams", [])),
            "objects": report.get("objects"), "bytes": report.get("bytes")}


def in_batches(argv, files, n=256):
    return [argv + files[i:i + n] for i in range(0, len(files), n)]


def machine_limits(segs, content_bytes, scratch, rounds):
    """zstd -d and SHA-256 on the same bytes, each a single-threaded CLI."""
    out, problems = {}, []
    plain = os.path.join(scratch, "content.bin")  # the decompressed bytes, for openssl
    with open(plain, "wb") as f:
        for argv in in_batches(["zstd", "-dcq", "--"], segs):
            if subprocess.run(argv, stdout=f).returncode != 0:
                problems.append("zstd -dc failed on the segments")
    if os.path.getsize(plain) != content_bytes:
        problems.append(f"zstd -dc gave {os.path.getsize(plain):,} bytes, the seals' content_len sum to {content_bytes:,}")
    # The Merkle tree's SHA-256 work in 64-byte blocks (FORMAT.md §4): a leaf hashes
    # 0x00 + line (+ 9 bytes of padding), an inner node 65 bytes (2 blocks), vs one flat hash.
    leaf_blocks = lines = 0
    with open(plain, "rb") as f:
        for line in f:
            leaf_blocks += (len(line) + 9 + 63) // 64  # the '\n' stands in for the 0x00 prefix
            lines += 1
    out["merkle_blocks_per_flat"] = (leaf_blocks + 2 * (lines - len(segs))) / ((content_bytes + 72) // 64)
    for key, argvs in (("zstd", in_batches(["zstd", "-dcq", "--"], segs)),
                       ("sha_segments", in_batches(["openssl", "dgst", "-sha256"], segs)),
                       ("sha_content", [["openssl", "dgst", "-sha256", plain]])):
        wall = cpu = 0.0
        for argv in argvs:
            w, c, p, _ = timed(argv, rounds, stdout=subprocess.DEVNULL)
            if p.returncode != 0:
                problems.append(f"{argv[0]} failed ({p.returncode}): {p.stderr[-500:].decode(errors='replace').strip()}")
            wall, cpu = wall + w, cpu + c
        out[key] = {"wall": wall, "cpu": cpu}
    os.remove(plain)
    return out, problems


def start_moto(log):
    port = ingest.free_port()
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    ingest.wait_listening(proc, port, "moto_server")
    return proc, port


def upload(port, archive, rels):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def put(path, body=b""):
        conn.request("PUT", path, body=body, headers={"Content-Length": str(len(body))})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            sys.exit(f"PUT {path}: HTTP {r.status}")

    put(f"/{BUCKET}")
    for rel in rels:
        with open(os.path.join(archive, rel), "rb") as f:
            put(f"/{BUCKET}/{PREFIX}/{rel}", f.read())
    conn.close()


def table(r):
    ev, cb, sb, n = r["events"], r["content_bytes"], r["segment_bytes"], r["segments"]
    lines = [f"sealtrail verify, {ev:,} events in {n} segments: {sb / 1e6:,.1f} MB of segment objects, "
             f"{cb / 1e6:,.1f} MB of events (content_len, {cb / ev:.0f} B/event)",
             ingest.machine_line(), "",
             f"{'':<34}{'wall s':>8}{'CPU s':>8}{'MB/s seg':>10}{'MB/s events':>12}{'events/s':>12}"]

    def row(label, x, note=""):
        lines.append(f"{label:<34}{x['wall']:>8.2f}{x['cpu']:>8.2f}{sb / 1e6 / x['wall']:>10,.1f}"
                     f"{cb / 1e6 / x['wall']:>12,.1f}{ev / x['wall']:>12,.0f}  {note}".rstrip())

    m = r["limits"]
    floor = {k: m["zstd"][k] + m["sha_content"][k] for k in ("wall", "cpu")}
    row("sealtrail verify DIR", r["local"], "passed" if r["local"]["ok"] else "FAILED")
    if "s3" in r:
        row("sealtrail verify s3:// (moto)", r["s3"], ("passed" if r["s3"]["ok"] else "FAILED") +
            f"; moto_server's CPU {r['s3']['other_cpu']:.2f} s")
    row("zstd -dcq > /dev/null", m["zstd"], "decodes on 1 thread")
    row("openssl sha256, segment bytes", m["sha_segments"], "1 thread")
    row("openssl sha256, decompressed", m["sha_content"], "1 thread")
    row("floor: zstd -d + sha256(decomp.)", floor)
    lines += ["", "ratio verify/machine (throughput: 1.00x = as fast as the floor; CPU: verify's CPU s over theirs):"]
    for name in ("local", "s3"):
        if name in r:
            v = r[name]
            lines.append(f"  {name:<6} wall: verify/zstd {m['zstd']['wall'] / v['wall']:.2f}x, "
                         f"verify/(zstd+sha) {floor['wall'] / v['wall']:.2f}x;  "
                         f"CPU: {v['cpu'] / m['zstd']['cpu']:.2f}x zstd's, {v['cpu'] / floor['cpu']:.2f}x zstd+sha's")
    lines.append(f"  not in the floor: verify also hashes the data frames (sha256 of the segment bytes) and its "
                 f"Merkle leaves and nodes take {m['merkle_blocks_per_flat']:.2f}x the SHA-256 blocks of one flat hash")
    lines.append(f"  of the events; verify checks objects concurrently ({os.cpu_count()} CPUs), zstd and openssl "
                 f"on one thread, so its wall may beat the floor: compare CPU s for the cost")
    for p in r["problems"]:
        lines.append(f"  PROBLEM: {p}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--sealtrail", default=os.path.join(HERE, "..", "target", "release", "sealtrail"))
    ap.add_argument("--archive", help="directory for the archive (DIR/archive, DIR/state); reused when "
                    "large enough (default <out>/verify)")
    ap.add_argument("--rebuild", action="store_true", help="build a fresh archive even if one is there")
    ap.add_argument("--count", type=int, default=2_500_000,
                    help="lines per daemon round (~440 B of sealed events each with the detector's alerts)")
    ap.add_argument("--min-bytes", type=int, default=1_000_000_000, help="sealed event bytes at least")
    ap.add_argument("--rounds", type=int, default=1, help="time each command this many times; medians")
    ap.add_argument("--no-s3", action="store_true", help="skip the bucket (moto)")
    a = ap.parse_args()
    a.archive = a.archive or os.path.join(a.out, "verify")
    binary = os.path.abspath(a.sealtrail)
    if not os.access(binary, os.X_OK):
        sys.exit(f"no sealtrail binary at {binary} (cargo build --release)")
    os.makedirs(a.out, exist_ok=True)
    t_start = time.perf_counter()

    archive, pub, segs, (events, content, seg_bytes) = ensure_archive(a, binary)
    r = {"events": events, "content_bytes": content, "segment_bytes": seg_bytes, "segments": len(segs),
         "archive": archive, "rounds": a.rounds, "problems": []}
    print("timing verify on the directory ...", flush=True)
    r["local"] = run_verify([binary, "verify", archive, "--key", pub], a.rounds)
    print("timing zstd -d and openssl sha256 on the same bytes ...", flush=True)
    r["limits"], problems = machine_limits(segs, content, a.archive, a.rounds)
    r["problems"] += problems

    if not a.no_s3:
        with open(os.path.join(a.archive, "moto.log"), "w") as log:
            moto, port = start_moto(log)
            try:
                rels = objects_under(archive)
                t = time.perf_counter()
                upload(port, archive, rels)
                r["upload_s"] = time.perf_counter() - t
                print(f"uploaded {len(rels)} objects to moto in {r['upload_s']:.1f} s; timing verify on the bucket ...",
                      flush=True)
                env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                           AWS_REGION="us-east-1")
                r["s3"] = run_verify([binary, "verify", f"s3://{BUCKET}/{PREFIX}", "--key", pub, "--endpoint",
                                      f"http://127.0.0.1:{port}", "--allow-http"], a.rounds, env=env,
                                     extra_cpu=lambda: ingest.proc_cpu_seconds(moto.pid))
            finally:
                ingest.reap(moto, timeout=10)  # SIGTERM, then SIGKILL

    for name in ("local", "s3"):
        if name in r:
            if not r[name]["ok"]:
                r["problems"].append(f"verify ({name}) did not pass (exit {r[name]['rc']})")
            elif r[name]["events"] != events or r[name]["bytes"] != seg_bytes:
                r["problems"].append(f"verify ({name}) counts {r[name]['events']:,} events and {r[name]['bytes']} "
                                     f"bytes, the seals {events:,} events in {seg_bytes} bytes")
    r["total_s"] = time.perf_counter() - t_start
    text = table(r) + f"\n(whole run {r['total_s']:.0f} s)\n"
    print()
    print(text, end="")
    with open(os.path.join(a.out, "verify-results.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "verify-results.json"), "w") as f:
        json.dump(r, f, indent=2)
    print(f"\nwritten: {os.path.join(a.out, 'verify-results.txt')}")
    sys.exit(1 if r["problems"] else 0)


if __name__ == "__main__":
    main()
