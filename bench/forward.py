#!/usr/bin/env python3
"""Forwarding to a SIEM: sealtrail's [[forward]] syslog output vs an rsyslog relay.

The same input as bench/ingest.py (RFC 3164 lines, --count, default 1,000,000) goes over
ONE TCP connection on 127.0.0.1, in the same run, per round:

1. End to end, sealtrail: the release daemon, configured as in ingest.py (one TCP
   listener, journal with fsync, detector on, archive) plus one [[forward]] of type
   syslog (RFC 5424, octet counting over TCP, start_at = "beginning", only = { kind =
   ["event"] }: the alerts stay out of the line-by-line comparison) to a receiving
   rsyslog (imtcp -> omfile, template "%msg%\\n", no fsync). Timed from the first byte
   sent until the receiver's file holds N lines; CPU is the sealtrail process's
   utime+stime (/proc/PID/stat) over that interval (its forwarder thread apart).
2. End to end, rsyslog relay: a first rsyslog (imptcp) relays with omfwd over TCP,
   octet-counted, through an in-memory LinkedList action queue (no disk), to the same
   kind of receiving rsyslog. Its template is RFC 5424 with the original line
   (%rawmsg%) as MSG, so both receivers' files hold the same text: the lines sent.
   CPU is the relaying rsyslog's, over the same interval.
3. Ingest with no forwarder and with one forwarder (to a receiving rsyslog): the sealtrail
   ingest figure as ingest.py takes it (the file sent, SIGTERM, the daemon drains, seals
   and ships), timed until the last segment object is in the archive (polled every
   10 ms), since with a forwarder the exit also waits for the forwarder's final drain
   (up to 5 s plus its 1 s delivery delay); that exit time is reported beside it.

Correctness: every line sent must be in the receiver's file (compared as a multiset of
line hashes; the receiver's %msg% may start with the space after the structured data,
which is dropped). Duplicates are allowed (delivery is at least once) but counted and
reported; a missing line, a line never sent, an archive that does not verify or holds
other than N lines (besides the detector's alerts), or a daemon that fails, makes the
exit status 1. Every daemon is stopped by its pid in a finally block, and at the end no
process may still run on this benchmark's configs (pgrep).

With --rounds N (BENCH_ROUNDS) every scenario runs N times (rounds one after the other;
scenario 3's order alternates) and the tables report medians. Results: stdout,
<out>/forward-results.txt and forward-results.json. Called by bench/run.sh (suite
`forward`, when both systems are enabled).
"""

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fleet  # noqa: E402  (the Daemon wrapper: start, metrics, stop with VmHWM sampling)
import idle  # noqa: E402  (archive_lines: verify plus an independent count)
import ingest  # noqa: E402  (the input, ports, CPU, RSS and process helpers)
import tail  # noqa: E402  (thread_cpu)

POLL_S = 0.01
FORWARDER = "siem"
# The relay's action queue: in memory, no disk. 100,000 messages (the main queue's
# default size too), dequeued in batches of 1,024; an enqueue into a full queue waits
# (the input is TCP, so the sender is slowed) for up to 10 minutes instead of the default
# 2 s after which rsyslog would drop the message; omfwd retries a lost connection for ever.
RELAY_QUEUE = ('queue.type="LinkedList" queue.size="100000" queue.dequeueBatchSize="1024" '
               'queue.timeoutEnqueue="600000" action.resumeRetryCount="-1"')


class Receiver(fleet.Daemon):
    """The SIEM: rsyslog, imtcp (octet counting detected by itself) -> omfile, MSG only."""

    def __init__(self, out, tag):
        super().__init__("rsyslog", out, None, connections=1, max_age=None, tag=tag)

    def _rsyslog(self):
        super()._rsyslog()  # binary, version, output path, argv
        work = ingest.fresh_dir(os.path.join(self.base, "work"))
        with open(self.conf, "w") as f:
            f.write(f"""global(workDirectory="{work}" maxMessageSize="64k")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{self.port}" ruleset="r")
template(name="m" type="string" string="%msg%\\n")
ruleset(name="r") {{
  action(type="omfile" file="{self.output}" template="m")
}}
""")
        self.note = "imtcp -> omfile (%msg%), no fsync"


class Relay(fleet.Daemon):
    """rsyslog as a relay: imptcp -> omfwd (TCP, octet-counted, RFC 5424, MSG = the line)."""

    def __init__(self, out, tag, target_port):
        self.target_port = target_port
        super().__init__("rsyslog", out, None, connections=1, max_age=None, tag=tag)

    def _rsyslog(self):
        super()._rsyslog()
        work = ingest.fresh_dir(os.path.join(self.base, "work"))
        self.output = None
        with open(self.conf, "w") as f:
            f.write(f"""global(workDirectory="{work}" maxMessageSize="64k")
module(load="imptcp")
input(type="imptcp" address="127.0.0.1" port="{self.port}" ruleset="relay")
template(name="rfc5424raw" type="string"
         string="<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% - %rawmsg%")
ruleset(name="relay") {{
  action(type="omfwd" target="127.0.0.1" port="{self.target_port}" protocol="tcp"
         TCP_Framing="octet-counted" template="rfc5424raw"
         {RELAY_QUEUE})
}}
""")
        self.note = "imptcp -> LinkedList action queue (in memory) -> omfwd TCP octet-counted, RFC 5424, MSG = %rawmsg%"


class Sealtrail(fleet.Daemon):
    """The release daemon as in ingest.py, with one [[forward]] when `forward_port`."""

    def __init__(self, out, binary, tag, forward_port=None):
        self.forward_port = forward_port
        super().__init__("sealtrail", out, binary, connections=1, max_age=None, tag=tag)

    def _sealtrail(self, binary):
        self.binary = os.path.abspath(binary)
        if not os.access(self.binary, os.X_OK):
            sys.exit(f"no sealtrail binary at {self.binary} (cargo build --release)")
        self.state = ingest.fresh_dir(os.path.join(self.base, "state"))
        self.archive = ingest.fresh_dir(os.path.join(self.base, "archive"))
        self.conf = os.path.join(self.base, "sealtrail.toml")
        self.status_port = ingest.free_port()
        forward = "" if self.forward_port is None else f"""
[[forward]]
name = "{FORWARDER}"
type = "syslog"
address = "127.0.0.1:{self.forward_port}"
transport = "tcp"
start_at = "beginning"
# The received events only: the detector's alerts are forwarded too (about 90,000 for
# this input), but a relay has none, and the receiver's file is compared line by line.
only = {{ kind = ["event"] }}
"""
        with open(self.conf, "w") as f:
            f.write(f"""stream = "bench"
state_dir = "{self.state}"

[[syslog]]
name = "tcp"
transport = "tcp"
address = "127.0.0.1:{self.port}"
timezone = "UTC"

[journal]
fsync = true

[seal]
zstd_level = 1

[archive]
url = "{self.archive}"

[status]
address = "127.0.0.1:{self.status_port}"
{forward}""")
        self.argv = [self.binary, "run", "--config", self.conf]
        self.version = "release build"
        self.note = "journal fsync, detector on" + (
            f", [[forward]] syslog tcp -> 127.0.0.1:{self.forward_port}" if self.forward_port else ", no forwarder")


def stop_all(daemons):
    """Stops (SIGTERM, then SIGKILL after the timeout) every daemon still running, by pid,
    the last started first; returns {tag: exit code}."""
    codes = {}
    for d in reversed(daemons):
        proc = getattr(d, "proc", None)
        if proc is not None and proc.returncode is None:
            try:
                codes[d.base] = d.stop()[0]
            except Exception as e:  # noqa: BLE001  (go on stopping the others)
                print(f"stopping {d.base} failed: {e}", file=sys.stderr)
                try:
                    proc.kill()
                    proc.wait()
                except Exception:  # noqa: BLE001
                    pass
    return codes


# --------------------------------------------------------------------------------------
# Did every line arrive?


def line_hashes(lines):
    return collections.Counter(map(hash, lines))


def sent_lines(input_path):
    with open(input_path, "rb") as f:
        data = f.read()
    return line_hashes(data.split(b"\n")[:-1])


def received_lines(path):
    """The receiver's lines; %msg% of an RFC 5424 message may keep the space that
    follows the structured data, which is not part of the line sent."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = b""
    return line_hashes(l[1:] if l.startswith(b" ") else l for l in data.split(b"\n")[:-1])


def compare(expected, got):
    missing = dup = unexpected = 0
    for h, n in expected.items():
        m = got.get(h, 0)
        if m < n:
            missing += n - m
        elif m > n:
            dup += m - n
    for h, m in got.items():
        if h not in expected:
            unexpected += m
    return {"received_lines": sum(got.values()), "missing": missing, "duplicates": dup, "unexpected": unexpected}


def wait_for_receiver(watcher, count, alive, stall=60.0):
    """Polls the receiver's file every 10 ms until it holds `count` lines; returns
    (lines, perf_counter time then or None). Gives up when a daemon of `alive` died or
    the file did not grow for `stall` s."""
    last, last_change = -1, time.perf_counter()
    while True:
        try:
            n = watcher.count_lines()
        except FileNotFoundError:
            n = 0
        now = time.perf_counter()
        if n >= count:
            return n, now
        if n != last:
            last, last_change = n, now
        if not all(d.alive() for d in alive) or now - last_change > stall:
            return n, None
        time.sleep(POLL_S)


def settle(watcher, quiet=3.0, limit=120.0):
    """Waits until the receiver's file did not grow for `quiet` s (at least once
    delivery may still be sending); returns the time it last grew."""
    t_end = time.perf_counter() + limit
    last_n, last_change = watcher.count_lines(), time.perf_counter()
    while time.perf_counter() - last_change < quiet and time.perf_counter() < t_end:
        time.sleep(0.05)
        n = watcher.count_lines()
        if n != last_n:
            last_n, last_change = n, time.perf_counter()
    return last_change


def check_receiver(r, watcher, expected, t0, t_all):
    """Fills r with the receiver's tally; when lines are missing although the file has
    `count` lines (duplicates), waits for it to settle and takes the time it last grew."""
    tally = compare(expected, received_lines(watcher.path))
    if tally["missing"] and t_all is not None:
        t_last = settle(watcher)
        tally = compare(expected, received_lines(watcher.path))
        t_all = t_last if not tally["missing"] else None
    r.update(tally)
    r["wall"] = (t_all - t0) if t_all is not None else None
    return t_all


# --------------------------------------------------------------------------------------
# The scenarios


def e2e_sealtrail(a, input_path, expected, rnd):
    r = {"scenario": "e2e", "system": "sealtrail", "round": rnd, "events": a.count}
    daemons = []
    try:
        recv = Receiver(a.out, "forward-e2e-receiver")
        daemons.append(recv.start())
        st = Sealtrail(a.out, a.sealtrail, "forward-e2e", forward_port=recv.port)
        daemons.append(st.start())
        r["note"] = st.note
        watcher = fleet.FileWatcher(recv.output)
        cpu0, rcpu0 = st.cpu(), recv.cpu()
        t0 = ingest.send_file(input_path, st.port)
        r["read_s"] = time.perf_counter() - t0  # every byte read by sealtrail
        n, t_all = wait_for_receiver(watcher, a.count, [st, recv])
        r["cpu"] = st.cpu() - cpu0
        r["forwarder_cpu"] = tail.thread_cpu(st.pid, f"forward-{FORWARDER}"[:15])
        r["receiver_cpu"] = recv.cpu() - rcpu0
        st.peak.sample()
        recv.peak.sample()
        try:
            m = st.metrics()
            r["sent_events"] = int(fleet.metric(m, "component_sent_events_total", component_id=FORWARDER))
            r["sent_bytes"] = int(fleet.metric(m, "component_sent_bytes_total", component_id=FORWARDER))
            r["resent_events"] = int(fleet.metric(m, "sealtrail_forward_resent_events_total", component_id=FORWARDER))
            r["forward_errors"] = int(fleet.metric(m, "component_errors_total", component_id=FORWARDER))
        except OSError as e:
            r["metrics_error"] = str(e)
        check_receiver(r, watcher, expected, t0, t_all)
        codes = stop_all(daemons)
        r["exit_code"] = codes.get(st.base)
        r["rss_mb"] = st.peak.mb
        r["receiver_rss_mb"] = recv.peak.mb
        ok, verified, lines, alerts = idle.archive_lines(st)
        r.update(verify_ok=ok, verify_events=verified, archived_lines=lines - alerts, alerts=alerts)
        r["ok"] = (r["wall"] is not None and r["missing"] == 0 and r["unexpected"] == 0 and ok
                   and verified == lines and lines - alerts == a.count and r["exit_code"] == 0)
    finally:
        stop_all(daemons)
    return r


def e2e_relay(a, input_path, expected, rnd):
    r = {"scenario": "e2e", "system": "rsyslog", "round": rnd, "events": a.count}
    daemons = []
    try:
        recv = Receiver(a.out, "forward-relay-receiver")
        daemons.append(recv.start())
        relay = Relay(a.out, "forward-relay", recv.port)
        daemons.append(relay.start())
        r["note"] = relay.note
        r["version"] = relay.version
        watcher = fleet.FileWatcher(recv.output)
        cpu0, rcpu0 = relay.cpu(), recv.cpu()
        t0 = ingest.send_file(input_path, relay.port)
        r["read_s"] = time.perf_counter() - t0
        n, t_all = wait_for_receiver(watcher, a.count, [relay, recv])
        r["cpu"] = relay.cpu() - cpu0
        r["receiver_cpu"] = recv.cpu() - rcpu0
        relay.peak.sample()
        recv.peak.sample()
        check_receiver(r, watcher, expected, t0, t_all)
        codes = stop_all(daemons)
        r["exit_code"] = codes.get(relay.base)
        r["rss_mb"] = relay.peak.mb
        r["receiver_rss_mb"] = recv.peak.mb
        r["ok"] = r["wall"] is not None and r["missing"] == 0 and r["unexpected"] == 0 and r["exit_code"] == 0
    finally:
        stop_all(daemons)
    return r


def ingest_run(a, input_path, rnd, with_forwarder):
    """ingest.py's measurement (send, SIGTERM, drain, seal, ship), timed until the last
    segment object is in the archive; the exit time beside it."""
    r = {"scenario": "ingest", "system": "sealtrail", "forwarder": with_forwarder, "round": rnd, "events": a.count}
    daemons = []
    try:
        recv = None
        if with_forwarder:
            recv = Receiver(a.out, "forward-ingest-receiver")
            daemons.append(recv.start())
        st = Sealtrail(a.out, a.sealtrail, "forward-ingest", forward_port=recv.port if recv else None)
        daemons.append(st.start())
        r["note"] = st.note
        seen = {}  # segment object -> (perf_counter first seen, sealtrail CPU s then)
        cpu0 = st.cpu()
        rcpu0 = recv.cpu() if recv else None

        def sample():
            st.peak.sample()
            now = None
            for d, _, names in os.walk(st.archive):
                for name in names:
                    path = os.path.join(d, name)
                    if name.endswith(".seg.zst") and path not in seen:
                        now = now or time.perf_counter()
                        try:
                            seen[path] = (now, st.cpu(), recv.cpu() if recv else None)
                        except OSError:  # exited meanwhile
                            seen[path] = (now, None, None)

        t0 = ingest.send_file(input_path, st.port)
        r["read_s"] = time.perf_counter() - t0
        st.peak.sample()
        _, ru = ingest.reap(st.proc, timeout=900, sample=sample)
        r["exit_s"] = time.perf_counter() - t0
        r["exit_code"] = st.proc.returncode
        sample()  # anything shipped in the last 10 ms
        st.errlog.close()
        t_last, cpu_last, rcpu_last = max(seen.values(), key=lambda v: v[0]) if seen else (None, None, None)
        total_cpu = ru.ru_utime + ru.ru_stime
        r["wall"] = t_last - t0 if t_last else None
        r["cpu"] = (cpu_last if cpu_last is not None else total_cpu) - cpu0
        if rcpu_last is not None:
            r["receiver_cpu"] = rcpu_last - rcpu0
        r["cpu_total"] = total_cpu
        r["rss_mb"] = st.peak.mb
        if recv:
            r["receiver_lines_at_exit"] = fleet.FileWatcher(recv.output).count_lines() \
                if os.path.exists(recv.output) else 0
        ok, verified, lines, alerts = idle.archive_lines(st)
        r.update(verify_ok=ok, verify_events=verified, archived_lines=lines - alerts, alerts=alerts,
                 objects=len(seen))
        r["ok"] = r["wall"] is not None and ok and verified == lines and lines - alerts == a.count and r["exit_code"] == 0
    finally:
        stop_all(daemons)
    return r


# --------------------------------------------------------------------------------------
# The report


def med(rs, key):
    vals = [r.get(key) for r in rs]
    return statistics.median(vals) if vals and all(v is not None for v in vals) else None


def per_m(r, key, n):
    return r[key] / (n / 1e6) if r.get(key) is not None else None


def fmt(v, spec, width):
    return f"{format(v, spec) if v is not None else '-':>{width}}"


def report(results, a, input_bytes, elapsed):
    n = a.count
    for r in results:
        r["eps"] = n / r["wall"] if r.get("wall") else None
        r["cpu_per_m"] = per_m(r, "cpu", n)
        # Cores the daemons kept busy (the forwarding or ingesting one and the receiver):
        # near the CPU count, the machine, not one daemon, sets the pace.
        r["cores_busy"] = ((r["cpu"] + (r.get("receiver_cpu") or 0)) / r["wall"]) if r.get("wall") else None
        r["receiver_cpu_per_m"] = per_m(r, "receiver_cpu", n)
        r["forwarder_cpu_per_m"] = per_m(r, "forwarder_cpu", n)
        if r["scenario"] == "ingest":
            r["exit_eps"] = n / r["exit_s"] if r.get("exit_s") else None
    lines = [f"Forwarding to a SIEM, {n:,} RFC 3164 lines ({input_bytes / n:.1f} B/line), one TCP connection in, "
             f"one TCP connection out (RFC 5424, octet counting), 127.0.0.1", ingest.machine_line(), ""]
    lines.append(f"{'run':<28} {'rnd':>3} {'wall s':>7} {'events/s':>10} {'CPU s':>6} {'CPU/1M':>7} {'RSS MB':>7} {'cores':>5}  notes")
    for r in results:
        if r["scenario"] == "e2e":
            label = "e2e sealtrail forwarder" if r["system"] == "sealtrail" else "e2e rsyslog relay"
            extra = (f"receiver CPU/1M {fmt(r['receiver_cpu_per_m'], '.2f', 0)}; received {r['received_lines']:,}, "
                     f"missing {r['missing']:,}, dup {r['duplicates']:,}, unexpected {r['unexpected']:,}")
            if r["system"] == "sealtrail":
                extra = (f"forwarder thread CPU/1M {fmt(r['forwarder_cpu_per_m'], '.2f', 0)}; {extra}; "
                         f"sent {r.get('sent_events', 0):,} ({r.get('sent_bytes', 0) / max(1, r.get('sent_events', 0)):.0f} B "
                         f"framed each), resent {r.get('resent_events', 0):,}, "
                         f"errors {r.get('forward_errors', 0)}; verify {'ok' if r['verify_ok'] else 'FAILED'}, "
                         f"{r['alerts']:,} alerts")
        else:
            label = "ingest, one forwarder" if r["forwarder"] else "ingest, no forwarder"
            extra = (f"receiver CPU/1M {fmt(r['receiver_cpu_per_m'], '.2f', 0)}; " if r["forwarder"] else "") + (
                     f"exit after {fmt(r['exit_s'], '.2f', 0)} s ({fmt(r['exit_eps'], ',.0f', 0)}/s), "
                     f"CPU {r['cpu_total']:.2f} s to exit; {r['objects']} objects; verify "
                     f"{'ok' if r['verify_ok'] else 'FAILED'}, {r['archived_lines']:,} lines + {r['alerts']:,} alerts")
            if r["forwarder"]:
                extra += f"; receiver had {r.get('receiver_lines_at_exit', 0):,} at exit"
        lines.append(f"{label:<28} {r['round']:>3} {fmt(r.get('wall'), '.2f', 7)} {fmt(r['eps'], ',.0f', 10)} "
                     f"{fmt(r.get('cpu'), '.2f', 6)} {fmt(r['cpu_per_m'], '.2f', 7)} {fmt(r.get('rss_mb'), '.1f', 7)} "
                     f"{fmt(r.get('cores_busy'), '.2f', 5)}  "
                     f"{'' if r['ok'] else 'FAILED; '}{extra}")

    def group(pred):
        return [r for r in results if pred(r)]

    e2e = {"rsyslog": group(lambda r: r["scenario"] == "e2e" and r["system"] == "rsyslog"),
           "sealtrail": group(lambda r: r["scenario"] == "e2e" and r["system"] == "sealtrail")}
    ing = {False: group(lambda r: r["scenario"] == "ingest" and not r["forwarder"]),
           True: group(lambda r: r["scenario"] == "ingest" and r["forwarder"])}
    keys = ("eps", "cpu_per_m", "rss_mb", "receiver_cpu_per_m", "cores_busy", "forwarder_cpu_per_m", "duplicates", "missing",
            "exit_eps", "wall", "exit_s")
    medians = {"e2e": {s: {k: med(rs, k) for k in keys} for s, rs in e2e.items() if rs},
               "ingest": {("forwarder" if f else "none"): {k: med(rs, k) for k in keys} for f, rs in ing.items() if rs}}
    lines.append("")
    lines.append(f"medians of {a.rounds} rounds:" if a.rounds > 1 else "side by side:")
    lines.append("")
    lines.append("end to end (first byte sent .. the receiving rsyslog's file holds every line):")
    lines += ingest.side_by_side([
        ("events/s", "eps", ",.0f", "(higher is better)"),
        ("CPU s per 1M events", "cpu_per_m", ".2f", "(the forwarding daemon; lower is better)"),
        ("peak RSS MB", "rss_mb", ".1f", "(VmHWM of the forwarding daemon)"),
        ("receiver CPU s per 1M", "receiver_cpu_per_m", ".2f", "(the receiving rsyslog)"),
        ("cores busy", "cores_busy", ".2f", f"(both daemons' CPU s / wall s; {os.cpu_count()} CPUs)"),
    ], medians["e2e"])
    fw = medians["e2e"].get("sealtrail", {}).get("forwarder_cpu_per_m")
    if fw is not None:
        lines.append(f"{'':<26}sealtrail's forwarder thread alone: {fw:.2f} CPU s per 1M events")
    lines.append("")
    none, one = medians["ingest"].get("none"), medians["ingest"].get("forwarder")
    if none and one:
        lines.append("sealtrail ingest (first byte sent .. the last segment sealed and in the archive; SIGTERM once "
                     "every byte was read):")
        lines.append(f"{'':<26}{'no forwarder':>14}{'one forwarder':>15}{'with/without':>14}")
        for label, key, spec, note in [("events/s", "eps", ",.0f", "(higher is better)"),
                                       ("CPU s per 1M events", "cpu_per_m", ".2f", "(until sealed; lower is better)"),
                                       ("peak RSS MB", "rss_mb", ".1f", ""),
                                       ("receiver CPU s per 1M", "receiver_cpu_per_m", ".2f", "(until sealed)"),
                                       ("cores busy", "cores_busy", ".2f",
                                        f"(sealtrail and receiver CPU s / wall s; {os.cpu_count()} CPUs)"),
                                       ("events/s to exit", "exit_eps", ",.0f",
                                        "(ingest.py's figure; with a forwarder the exit waits for its final drain)")]:
            x, y = none.get(key), one.get(key)
            ratio = f"{y / x:>13.2f}x" if x and y is not None else f"{'-':>14}"
            lines.append(f"{label:<26}{fmt(x, spec, 14)}{fmt(y, spec, 15)}{ratio}  {note}".rstrip())
    lines.append("")
    bad = [r for r in results if not r["ok"]]
    dups = sum(r.get("duplicates", 0) for r in results)
    lines.append(f"{len(results) - len(bad)} of {len(results)} runs OK; duplicates at the receivers: {dups:,}"
                 + ("; FAILED: " + ", ".join(f"{r['scenario']} {r['system']} round {r['round']}" for r in bad)
                    if bad else ""))
    lines.append(f"rsyslog relay queue: {RELAY_QUEUE}")
    lines.append(f"total run time {elapsed:.0f} s")
    return "\n".join(lines) + "\n", medians


def leftovers(out):
    """pids of processes still running on this benchmark's configs."""
    p = subprocess.run(["pgrep", "-f", os.path.join(out, "forward-")], capture_output=True, text=True)
    return [int(x) for x in p.stdout.split()]


def main():
    t_start = time.perf_counter()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=1, help="every scenario this many times; medians")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--sealtrail", default=os.path.join(HERE, "..", "target", "release", "sealtrail"))
    ap.add_argument("--systems", default="rsyslog,sealtrail",
                    help="accepted for run.sh; this benchmark needs both")
    ap.add_argument("--regen", action="store_true", help="regenerate the input file")
    a = ap.parse_args()
    if {s.strip() for s in a.systems.split(",")} != {"rsyslog", "sealtrail"}:
        sys.exit("bench/forward.py compares sealtrail and rsyslog: --systems must hold both")
    if a.rounds < 1:
        sys.exit("--rounds must be at least 1")
    a.out = os.path.abspath(a.out)
    os.makedirs(a.out, exist_ok=True)
    input_path = ingest.ensure_input(a.out, a.count, a.regen)
    input_bytes = os.path.getsize(input_path)
    expected = sent_lines(input_path)
    if sum(expected.values()) != a.count:
        sys.exit(f"{input_path} holds {sum(expected.values())} lines, expected {a.count}")

    results = []
    try:
        for rnd in range(1, a.rounds + 1):
            tag = f" (round {rnd} of {a.rounds})" if a.rounds > 1 else ""
            plan = [("e2e sealtrail forwarder", lambda: e2e_sealtrail(a, input_path, expected, rnd)),
                    ("e2e rsyslog relay", lambda: e2e_relay(a, input_path, expected, rnd))]
            ingest_plan = [("ingest, no forwarder", lambda: ingest_run(a, input_path, rnd, False)),
                           ("ingest, one forwarder", lambda: ingest_run(a, input_path, rnd, True))]
            plan += ingest_plan if rnd % 2 else ingest_plan[::-1]
            for label, run in plan:
                print(f"running {label}{tag} ...", flush=True)
                r = run()
                results.append(r)
                wall = f"{r['wall']:.2f} s, {a.count / r['wall']:,.0f} events/s" if r.get("wall") else "no end time"
                print(f"  {label}: {wall}, {r['cpu']:.2f} CPU s"
                      + (f", missing {r['missing']:,}, dup {r['duplicates']:,}" if "missing" in r else "")
                      + ("" if r["ok"] else "  FAILED"), flush=True)
    finally:
        left = leftovers(a.out)
        if left:
            print(f"processes still running on {a.out}/forward-*: {left}", file=sys.stderr)
    text, medians = report(results, a, input_bytes, time.perf_counter() - t_start)
    print()
    print(text, end="")
    with open(os.path.join(a.out, "forward-results.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "forward-results.json"), "w") as f:
        json.dump({"count": a.count, "rounds": a.rounds, "input_bytes": input_bytes, "relay_queue": RELAY_QUEUE,
                   "runs": results, "medians": medians}, f, indent=2)
    print(f"\nwritten: {os.path.join(a.out, 'forward-results.txt')}")
    if left or not all(r["ok"] for r in results):
        print("FAILED: lines lost, a failed verify or a daemon error (see above)"
              + (f"; daemons left running: {left}" if left else ""), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
