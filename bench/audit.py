#!/usr/bin/env python3
"""Audit API benchmark: events/s and acknowledged-durable latency.

Several concurrent clients (threads, one kept-alive HTTP/1.1 connection each) POST
application audit events to sealtrail's `[[audit_api]]` on loopback, with batches of 1
and of 100 events. A request's latency is from sending it to its 200, which sealtrail
sends only once the events are fsync'd in its journal. Prints events/s, requests/s,
p50/p99 latency and the daemon's CPU s per million events; then verifies the archive
and checks that it holds exactly the acknowledged events (none lost, none twice).

No peer in this field acknowledges only what is durable (rsyslog, Vector and Fluent Bit
answer an HTTP input before their disk buffer is synced, if they have one): the figures
stand alone, beside sealtrail's own syslog rate in results.txt.

Called by bench/run.sh (BENCH_SUITES containing "audit"); writes bench/out/audit-results.txt.
"""

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingest  # noqa: E402  (helpers)

TOKEN = "bench-audit-token-0123456789"


def start(binary, base):
    state = ingest.fresh_dir(os.path.join(base, "state"))
    archive = ingest.fresh_dir(os.path.join(base, "archive"))
    token = os.path.join(base, "token")
    with open(token, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(token, 0o600)
    port = ingest.free_port()
    conf = os.path.join(base, "sealtrail.toml")
    with open(conf, "w") as f:
        f.write(f"""stream = "bench"
state_dir = "{state}"

[[audit_api]]
name = "apps"
address = "127.0.0.1:{port}"
token_file = "{token}"

[journal]
fsync = true

[seal]
zstd_level = 1

[archive]
url = "{archive}"

[status]
address = "127.0.0.1:{ingest.free_port()}"
""")
    errlog = open(os.path.join(base, "sealtrail.stderr"), "w")
    proc = subprocess.Popen([binary, "run", "--config", conf], stdout=errlog, stderr=subprocess.STDOUT)
    ingest.wait_listening(proc, port, "sealtrail")
    return proc, port, state, archive, errlog


def client(port, batch, requests, cid, latencies, ids, errors):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/x-ndjson"}
    for r in range(requests):
        body = "".join(
            json.dumps({"actor": f"user{cid}", "action": "record.read", "outcome": "success",
                        "resource": {"type": "patient", "id": str(r * batch + i)},
                        "context": {"client": cid, "request": r}}) + "\n"
            for i in range(batch)).encode()
        t = time.perf_counter()
        conn.request("POST", "/v1/events", body, headers)
        resp = conn.getresponse()
        data = resp.read()
        latencies.append(time.perf_counter() - t)
        if resp.status != 200:
            errors.append(f"{resp.status} {data[:200]!r}")
            continue
        ids.extend(json.loads(data)["ids"])
    conn.close()


def run_case(binary, out, batch, clients, events):
    base = ingest.fresh_dir(os.path.join(out, f"audit-{batch}"))
    proc, port, state, archive, errlog = start(binary, base)
    requests = max(1, events // (batch * clients))
    latencies, ids, errors = [], [], []
    cpu0 = ingest.proc_cpu_seconds(proc.pid)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(port, batch, requests, c, latencies, ids, errors))
               for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu = ingest.proc_cpu_seconds(proc.pid) - cpu0
    rss = ingest.proc_status_kb(proc.pid, "VmHWM")
    ingest.reap(proc, timeout=300)
    errlog.close()
    if errors:
        sys.exit(f"batch {batch}: {len(errors)} requests failed, e.g. {errors[0]}")
    if proc.returncode != 0:
        sys.exit(f"sealtrail exited with {proc.returncode}; see {errlog.name}")
    v = subprocess.run([binary, "verify", archive, "--key", os.path.join(state, "signing.pub"), "--json"],
                       capture_output=True, text=True)
    if v.returncode != 0:
        sys.exit(f"verify failed: {v.stdout[-2000:]} {v.stderr[-2000:]}")
    verified = sum(s["events"] for s in json.loads(v.stdout)["streams"])
    if len(set(ids)) != len(ids) or verified != len(ids):
        sys.exit(f"batch {batch}: {len(ids)} acknowledged ({len(set(ids))} distinct), {verified} in the archive")
    lat = sorted(latencies)
    return {
        "batch": batch, "clients": clients, "events": len(ids), "requests": len(lat), "wall": wall,
        "events_per_s": len(ids) / wall, "requests_per_s": len(lat) / wall,
        "p50_ms": statistics.median(lat) * 1e3, "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3,
        "cpu_s_per_m": cpu / len(ids) * 1e6, "rss_mb": (rss or 0) / 1024,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000, help="events per batch size")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--out", default="bench/out")
    ap.add_argument("--sealtrail", default="target/release/sealtrail")
    args = ap.parse_args()
    binary = os.path.abspath(args.sealtrail)
    if not os.access(binary, os.X_OK):
        sys.exit(f"no sealtrail binary at {binary} (cargo build --release)")
    os.makedirs(args.out, exist_ok=True)
    rows = []
    # A batch of one costs a request and an fsync wait per event: fewer of them.
    for batch, events in ((1, max(args.clients, args.events // 10)), (100, args.events)):
        r = run_case(binary, args.out, batch, args.clients, events)
        rows.append(r)
        print(f"batch {batch}: {r['events_per_s']:,.0f} events/s, {r['requests_per_s']:,.0f} requests/s, "
              f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, {r['cpu_s_per_m']:.2f} CPU s/M")
    lines = [ingest.machine_line(),
             f"audit API on loopback, {args.clients} concurrent clients (kept-alive HTTP/1.1), journal fsync on; "
             "latency = send to the 200 that follows the fsync",
             f"{'batch':>6} {'events':>9} {'events/s':>10} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
             f"{'CPU s/M':>8} {'RSS MB':>7}"]
    for r in rows:
        lines.append(f"{r['batch']:>6} {r['events']:>9,} {r['events_per_s']:>10,.0f} {r['requests_per_s']:>11,.0f} "
                     f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['cpu_s_per_m']:>8.2f} {r['rss_mb']:>7.1f}")
    lines.append("every acknowledged event is in the verified archive exactly once")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(args.out, "audit-results.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "audit-results.json"), "w") as f:
        json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
