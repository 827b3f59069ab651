#!/usr/bin/env python3
"""Central-collector benchmark: many hosts, one TCP connection each, modest rate each.

A fleet of --connections simulated hosts (default 1,000) each hold their own TCP
connection to the collector on 127.0.0.1 and send RFC 3164 lines at --rate-per-conn
(default 100 lines/s, so 100,000 lines/s in total) for --duration seconds (default 20).
sealtrail (journal fsync -> sealer -> archive, detector on) and rsyslog (imptcp ->
omfile, no fsync) are measured one after the other, in the same run, on the same load.

Every line carries a unique sequence number, seq = j * connections + c for the j-th
line of connection c (so it names the host too), as its syslog PROCID:

    <38>Dec  1 23:21:45 host-0042 sshd[420042]: Failed password for invalid user ...

Why there and not as "seq=... t=..." at the end of the message: sealtrail parses
authentication lines strictly to their end, and a suffix changes what it recognises
(with the suffix, no "Accepted publickey" line is recognised as a login, "session closed
for user root seq=..." makes every user name unique, COMMAND= grows, the detector's
alerts change): the benchmark would measure another workload. A PROCID that differs per
line is what bench/ingest.py's input has anyway (a random pid per line); the message
text and everything parsed from it are untouched. The send time of every line is kept
by the sender instead: CLOCK_MONOTONIC in ns (time.monotonic_ns(), one clock for every
process of the machine) taken just before the line's batch is handed to send(), per
connection and batch. seq is found with a regex over the raw line text (`prog[N]: `,
which both the ECS line's event.original and the compact line's "o" hold verbatim, as
does rsyslog's output), not by parsing JSON fields, so any sealed line format works.

Measured, per system:

* lines/s: sent (what the sender achieved; the target is connections x rate), received
  (lines / (the daemon had every line - first send): rsyslog, in its file; sealtrail,
  counted by its TCP source, i.e. journalled) and delivered (lines / (last line on
  disk - first send));
* CPU s per 1M lines: utime+stime of the daemon (/proc/PID/stat) from just before the
  first line is sent until every line is on disk, over the lines sent;
* peak RSS: VmHWM (/proc/PID/status), the daemon's own high-water mark, read once all
  is on disk, before the daemon is stopped, and every 10 ms while it stops (sealtrail
  drains, seals and ships on SIGTERM); the largest value (not ru_maxrss: see ingest.py);
* idle RSS: VmRSS once it listens plus 3 s, and again 5 s after the load has drained
  (every connection closed);
* delay from send to "sealed on disk", p50 / p99 / max:
  - sealtrail: the archive directory is polled every 20 ms; the time each segment object
    (*.seg.zst, written under a temporary name and renamed) is first seen is recorded.
    After the run each segment is decompressed (`zstd -dcq`; the seal is a skippable
    frame) and every line's delay is (its segment's first-seen time - its send time).
  - rsyslog: the output file's size is polled every 20 ms; a line is on disk once the
    file has grown past its newline, and its delay is (the time of the first poll that
    saw it - its send time). rsyslog does not fsync: "on disk" is the page cache.
  The polling adds up to 20 ms (10 ms on average) to every figure.

Correctness, at the end: `sealtrail verify --json` must pass, and every line sent must be
in the archive (rsyslog: the output file) exactly once, by its seq; lines with
"kind":"alert" are the detector's alerts and are counted apart. A line lost (also one
never sent because the daemon refused or closed its connection), duplicated or
unexpected, a connection refused, or a failed verify makes the exit status 1.

The sender (bench/fleet.py itself, --senders processes, default 1) schedules each
connection on a tick (--tick, default 0.1 s: 10 lines per send per connection), the
connections' ticks spread evenly, and reports how late its ticks ran and its own CPU,
so a sender that cannot keep up shows. Lines a connection cannot take at once (the
daemon not reading) wait in the sender, as in a forwarder's queue; their delay counts.

Results: stdout, <out>/fleet-results.txt and fleet-results.json.
"""

import argparse
import array
import json
import multiprocessing
import os
import random
import re
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ingest  # noqa: E402  (message pools and process helpers)

POLL_S = 0.02  # how often the archive / output file is polled
SEQ_RE = re.compile(rb"[\w/.-]\[(\d+)\]: ")  # `prog[seq]: `, the first in a line
ALERT = b'"kind":"alert"'  # a detector alert: an extra line, not sent by us
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --------------------------------------------------------------------------------------
# The fleet: message templates and the sender processes


def templates(n=4096, seed=20240611):
    """`n` (PRI, program, message) triples from ingest.py's realistic mix (sshd, sudo,
    cron, UFW, systemd, postfix); line `seq` of the fleet uses template seq % n. The
    PROCID is the line's seq (kernel lines get one too)."""
    rng = random.Random(seed)
    _, sources = ingest._pools(rng)
    weights = [s[1] for s in sources]
    out = []
    for _ in range(n):
        make, _, fac, sev = rng.choices(sources, weights)[0]
        prog, msg = make()
        out.append((f"<{fac * 8 + sev}>", prog, msg))
    return out


def rfc3164_stamp(t):
    """`Mmm dd HH:MM:SS` (day space-padded), UTC: both daemons are told timezone UTC."""
    g = time.gmtime(t)
    return f"{MONTHS[g.tm_mon - 1]} {g.tm_mday:>2} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}"


def sender_main(k, conn_ids, total_conns, port, rate, duration, tick, tmpl, ctrl):
    """One sender process: holds the connections `conn_ids` (global ids) and sends each
    `rate` lines/s for `duration` s, in batches every `tick` s. Talks to the parent over
    the Pipe `ctrl`: sends ("connected", ok, failed), receives the start time (monotonic
    s), sends the result dict at the end, with the send time of every batch."""
    # Connect every host first (blocking, one after the other), then go non-blocking.
    socks, ids, failed = [], [], 0
    for c in conn_ids:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
        except OSError:
            failed += 1
            continue
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        socks.append(s)
        ids.append(c)
    ctrl.send(("connected", len(socks), failed))
    t0 = ctrl.recv()
    n = len(socks)
    period = tick
    t_end = t0 + duration
    per_conn = int(rate * duration)  # lines each connection sends in all
    hosts = [f"host-{c:04d}" for c in ids]
    T = len(tmpl)

    gen = [0] * n  # lines generated per connection (written or queued)
    pending = [b""] * n  # bytes the socket has not taken yet
    alive = [True] * n
    closed_by_peer = 0
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        # The daemons never send: readable means EOF or reset, i.e. the daemon closed us.
        sel.register(s, selectors.EVENT_READ, i)
    # Connection i's tick is offset by its share of the period, so the fleet's sends are
    # spread evenly instead of 1,000 bursts at once.
    due = [t0 + (c / total_conns) * period for c in ids]
    lateness = array.array("d")  # how late each tick ran (s): the sender's health
    # Per connection, one (first j, send time ns) per batch: line j of connection c was
    # handed to send() at the time of the last batch starting at or before j.
    sent_at = [[] for _ in range(n)]
    stamp_sec, stamp = -1, ""
    bytes_written = 0
    queued = max_queued = 0  # bytes waiting in `pending`, now and at most

    def kill(i):
        nonlocal closed_by_peer, queued
        if alive[i]:
            alive[i] = False
            closed_by_peer += 1
            queued -= len(pending[i])
            pending[i] = b""
            try:
                sel.unregister(socks[i])
            except (KeyError, ValueError):
                pass
            socks[i].close()

    def write(i, data):
        """Appends `data` to connection i's queue and sends what the socket takes."""
        nonlocal bytes_written, queued, max_queued
        if not alive[i]:
            return
        buf = pending[i] + data if pending[i] else data
        try:
            sent = socks[i].send(buf)
        except BlockingIOError:
            sent = 0
        except OSError:
            kill(i)
            return
        bytes_written += sent
        had = bool(pending[i])
        queued += len(buf) - sent - len(pending[i])
        max_queued = max(max_queued, queued)
        pending[i] = buf[sent:]
        if pending[i] and not had:
            sel.modify(socks[i], selectors.EVENT_READ | selectors.EVENT_WRITE, i)
        elif had and not pending[i]:
            sel.modify(socks[i], selectors.EVENT_READ, i)

    def batch(i, count, now_ns):
        """`count` more lines of connection i, all stamped `now_ns`."""
        c, host, j0 = ids[i], hosts[i], gen[i]
        parts = []
        for j in range(j0, j0 + count):
            seq = j * total_conns + c
            pri, prog, msg = tmpl[seq % T]
            parts.append(f"{pri}{stamp} {host} {prog}[{seq}]: {msg}\n")
        gen[i] = j0 + count
        sent_at[i].append((j0, now_ns))
        return "".join(parts).encode()

    def handle(events):
        for key, ev in events:
            i = key.data
            if ev & selectors.EVENT_READ:
                try:
                    if not socks[i].recv(4096):
                        kill(i)
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    kill(i)
                    continue
            if ev & selectors.EVENT_WRITE and alive[i]:
                write(i, b"")

    while time.monotonic() < t0:
        time.sleep(min(0.01, max(0.0, t0 - time.monotonic())))
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    idx = 0
    while n:
        now = time.monotonic()
        if now >= t_end:
            break
        if int(time.time()) != stamp_sec:
            stamp_sec = int(time.time())
            stamp = rfc3164_stamp(stamp_sec)
        now_ns = time.monotonic_ns()
        # Serve every connection whose tick is due, in tick order: each sends what it
        # owes by now (rate x elapsed - sent), so a late tick catches up.
        owed_total = int((now - t0) * rate)
        while due[idx] <= now:
            lateness.append(now - due[idx])
            owed = min(owed_total, per_conn) - gen[idx]
            if alive[idx] and owed > 0:
                write(idx, batch(idx, owed, now_ns))
            # Next tick (skipping any missed entirely: the catch-up covers them).
            due[idx] += period * max(1, int((now - due[idx]) / period) + 1)
            idx = (idx + 1) % n
        handle(sel.select(max(0.0, min(due[idx], t_end) - time.monotonic())))

    # The end: every connection sends what it still owes, then the queues drain.
    t_stop = time.monotonic()
    now_ns = time.monotonic_ns()
    for i in range(n):
        if alive[i] and gen[i] < per_conn:
            write(i, batch(i, per_conn - gen[i], now_ns))
    deadline = time.monotonic() + 120
    while any(pending) and time.monotonic() < deadline:
        handle(sel.select(0.05))
    t_last_write = time.monotonic()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    unsent = queued
    # Half-close and wait for the daemon to close each connection: then it has read
    # every byte (what it does with them is measured by the parent).
    open_ = set()
    for i in range(n):
        if alive[i]:
            try:
                socks[i].shutdown(socket.SHUT_WR)
                open_.add(i)
            except OSError:
                kill(i)
    eof_deadline = time.monotonic() + 60
    while open_ and time.monotonic() < eof_deadline:
        for key, _ in sel.select(0.1):
            i = key.data
            try:
                data = socks[i].recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                open_.discard(i)
                sel.unregister(socks[i])
                socks[i].close()
                alive[i] = False
    for i in open_:
        socks[i].close()
    lateness = sorted(lateness)
    ctrl.send({
        "sender": k,
        "gen": dict(zip(ids, gen)),
        "sent_at": dict(zip(ids, sent_at)),
        "connected": n,
        "connect_failed": failed,
        "closed_by_peer": closed_by_peer,
        "not_closed_by_daemon": len(open_),
        "unsent_bytes": unsent,
        "bytes": bytes_written,
        "max_queued_bytes": max_queued,
        "t0": t0,
        "t_stop": t_stop,
        "t_last_write": t_last_write,
        "cpu": (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime),
        "late_p99": lateness[int(len(lateness) * 0.99)] if lateness else 0.0,
        "late_max": lateness[-1] if lateness else 0.0,
        "ticks": len(lateness),
    })


# --------------------------------------------------------------------------------------
# The daemons


def nofile_for(connections):
    """The descriptor limit given to the daemons and the sender: 1,000 connections need
    far more than the usual 1024."""
    return max(8192, 2 * connections + 1024)


class Daemon:
    """One daemon under test with a private config, directory and port on 127.0.0.1."""

    def __init__(self, system, out, binary, connections, max_age, tag="fleet", per_peer=None):
        self.system = system
        self.port = ingest.free_port()
        self.cap = max(2000, connections + 64)  # connection caps (sealtrail and rsyslog)
        self.per_peer = per_peer or self.cap  # sealtrail's max_connections_per_peer
        self.nofile = nofile_for(connections)
        self.max_age = max_age
        self.base = ingest.fresh_dir(os.path.join(out, f"{tag}-{system}"))
        if system == "rsyslog":
            self._rsyslog()
        else:
            self._sealtrail(binary)

    def _rsyslog(self):
        self.binary = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
        work = ingest.fresh_dir(os.path.join(self.base, "work"))
        self.output = os.path.join(self.base, "messages.log")
        self.conf = os.path.join(self.base, "rsyslog.conf")
        # imptcp has no session limit by default (maxSessions 0); set to the same cap as
        # sealtrail's, explicitly. Its listen() backlog is small by default: 1,000 hosts
        # connecting at once then see SYNs dropped and 1 s retransmits (7 s for 100
        # connections here), so it gets sealtrail's 4096. No imuxsock/imklog; omfile
        # without fsync.
        with open(self.conf, "w") as f:
            f.write(f"""global(workDirectory="{work}" maxMessageSize="64k")
module(load="imptcp")
input(type="imptcp" address="127.0.0.1" port="{self.port}" ruleset="bench"
      maxSessions="{self.cap}" socketBacklog="4096")
ruleset(name="bench") {{
  action(type="omfile" file="{self.output}")
}}
""")
        self.argv = [self.binary, "-n", "-f", self.conf, "-i", os.path.join(self.base, "rsyslogd.pid")]
        ver = subprocess.run([self.binary, "-v"], capture_output=True, text=True).stdout.splitlines()
        self.version = ver[0].split(" compiled")[0].strip() if ver else "?"
        self.note = f"imptcp (maxSessions {self.cap}, socketBacklog 4096) -> omfile, no fsync"

    def _sealtrail(self, binary):
        self.binary = os.path.abspath(binary)
        if not os.access(self.binary, os.X_OK):
            sys.exit(f"no sealtrail binary at {self.binary} (cargo build --release)")
        self.state = ingest.fresh_dir(os.path.join(self.base, "state"))
        self.archive = ingest.fresh_dir(os.path.join(self.base, "archive"))
        self.conf = os.path.join(self.base, "sealtrail.toml")
        self.status_port = ingest.free_port()
        # Every host connects from 127.0.0.1, so the per-peer cap (default 64) must be
        # raised as well as max_connections (default 1024). max_age bounds the sealing
        # delay of a quiet stream; at 100k lines/s, max_bytes (8 MiB) seals sooner.
        with open(self.conf, "w") as f:
            f.write(f"""stream = "fleet"
state_dir = "{self.state}"

[[syslog]]
name = "tcp"
transport = "tcp"
address = "127.0.0.1:{self.port}"
timezone = "UTC"
max_connections = {self.cap}
max_connections_per_peer = {self.per_peer}

[journal]
fsync = true

[seal]
zstd_level = 1
max_age = "{self.max_age}"

[archive]
url = "{self.archive}"

[status]
address = "127.0.0.1:{self.status_port}"
""")
        self.argv = [self.binary, "run", "--config", self.conf]
        self.version = "release build"
        self.note = (f"journal fsync, detector on, [seal] max_age = \"{self.max_age}\", "
                     + (f"max_connections(_per_peer) = {self.cap}" if self.per_peer == self.cap else
                        f"max_connections = {self.cap}, max_connections_per_peer = {self.per_peer}"))

    def start(self):
        self.errlog = open(os.path.join(self.base, f"{self.system}.stderr"), "w")
        self.proc = subprocess.Popen(self.argv, stdout=self.errlog, stderr=subprocess.STDOUT,
                                     preexec_fn=ingest.raise_nofile(self.nofile))
        self.peak = ingest.PeakRss(self.proc.pid)  # VmHWM, sampled
        ingest.wait_listening(self.proc, self.port, self.system)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def status_kb(self, field):
        return ingest.proc_status_kb(self.pid, field)

    def cpu(self):
        return ingest.proc_cpu_seconds(self.pid)

    def socket_fds(self):
        """Sockets the daemon holds (connections, listeners, internal): the difference
        before and after the fleet connects is the connections it accepted."""
        n = 0
        try:
            for fd in os.listdir(f"/proc/{self.pid}/fd"):
                try:
                    if os.readlink(f"/proc/{self.pid}/fd/{fd}").startswith("socket:"):
                        n += 1
                except OSError:
                    pass
        except OSError:
            pass
        return n

    def metrics(self):
        """sealtrail's /metrics as {name or name{labels}: value}."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.status_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        m = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                m[k] = float(v)
        return m

    def drain_probe(self, watcher, sent, t_received):
        """A poll_until condition: true once all `sent` lines are on disk. rsyslog: its
        file holds `sent` lines. sealtrail: its TCP source counted `sent` events, the
        sealer has committed all of the journal (lag 0; it commits at each seal) and
        nothing is left to ship. Sets t_received[0] (monotonic s) when the daemon had
        received every line: rsyslog, written to its file; sealtrail, journalled."""
        if self.system == "rsyslog":
            def probe():
                n = watcher.count_lines()
                if n >= sent and t_received[0] is None:
                    t_received[0] = time.monotonic()
                return n >= sent, n
        else:
            def probe():
                try:
                    m = self.metrics()
                except OSError:
                    return False, None
                got = metric(m, "component_received_events_total", component_id="tcp")
                if got >= sent and t_received[0] is None:
                    t_received[0] = time.monotonic()
                lag = metric(m, "sealtrail_journal_lag_bytes", consumer="sealer")
                up = metric(m, "sealtrail_upload_lag_segments") + metric(m, "sealtrail_spool_segments")
                return got >= sent and lag == 0 and up == 0, (got, lag, up)
        return probe

    def stop(self, timeout=300):
        """SIGTERM, reap (sampling VmHWM meanwhile); returns (exit code, rusage)."""
        try:
            return ingest.reap(self.proc, timeout=timeout, sample=self.peak.sample)
        finally:
            self.errlog.close()


def metric(m, name, **labels):
    """The value of `name` whose labels include `labels` (0 when absent)."""
    for k, v in m.items():
        if k == name or k.startswith(name + "{"):
            if all(f'{a}="{b}"' in k for a, b in labels.items()):
                return v
    return 0.0


def refused(m):
    return int(sum(v for k, v in m.items() if k.startswith("sealtrail_connections_refused_total")))


# --------------------------------------------------------------------------------------
# Watchers: when did data reach the disk?


class ArchiveWatcher:
    """Polls sealtrail's archive for new segment objects; records when each is first
    seen (monotonic ns). The local store writes an object under a temporary name and
    renames it, so a *.seg.zst is complete when seen."""

    def __init__(self, archive):
        self.archive = archive
        self.seen = {}

    def poll(self):
        now = time.monotonic_ns()
        for d, _, names in os.walk(self.archive):
            for n in names:
                if n.endswith(".seg.zst"):
                    p = os.path.join(d, n)
                    if p not in self.seen:
                        self.seen[p] = now


class FileWatcher:
    """Polls rsyslog's output file size; records (monotonic ns, size) whenever it grew.
    Also counts the lines written so far, on demand (for the drain)."""

    def __init__(self, path):
        self.path = path
        self.sizes = []  # (t_ns, size), size increasing
        self.last = 0
        self.counted_to = 0
        self.lines = 0

    def poll(self):
        now = time.monotonic_ns()
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return
        if size > self.last:
            self.sizes.append((now, size))
            self.last = size

    def count_lines(self):
        with open(self.path, "rb") as f:
            f.seek(self.counted_to)
            while block := f.read(1 << 20):
                self.counted_to += len(block)
                self.lines += block.count(b"\n")
        return self.lines


# --------------------------------------------------------------------------------------
# One system's run


def poll_until(watcher, cond, timeout, every=POLL_S):
    """Polls `watcher` every POLL_S (20 ms) and checks cond() every `every` s until it
    is true or `timeout` s passed without progress (`cond` returns (done,
    progress_marker)). Returns done."""
    last_marker, last_change = None, time.monotonic()
    next_t = next_cond = time.monotonic()
    while True:
        watcher.poll()
        if time.monotonic() >= next_cond:
            next_cond += every
            done, marker = cond()
            if done:
                return True
            if marker != last_marker:
                last_marker, last_change = marker, time.monotonic()
            elif time.monotonic() - last_change > timeout:
                return False
        next_t += POLL_S
        time.sleep(max(0.0, next_t - time.monotonic()))


def run_system(system, a, tmpl):
    d = Daemon(system, a.out, a.sealtrail, a.connections, a.max_age, per_peer=a.max_per_peer).start()
    r = {"system": system, "version": d.version, "note": d.note, "connections": a.connections,
         "rate_per_conn": a.rate_per_conn, "duration": a.duration, "max_age": a.max_age if system == "sealtrail" else None}
    watcher = ArchiveWatcher(d.archive) if system == "sealtrail" else FileWatcher(d.output)
    try:
        # Idle: listening, plus 3 s.
        t = time.monotonic() + 3
        poll_until(watcher, lambda: (time.monotonic() >= t, None), timeout=10)
        r["rss_idle_mb"] = (d.status_kb("VmRSS") or 0) / 1024
        sockets_before = d.socket_fds()

        # The fleet connects.
        ctx = multiprocessing.get_context("fork")
        procs, pipes = [], []
        for k in range(a.senders):
            ids = list(range(k, a.connections, a.senders))
            parent, child = ctx.Pipe()
            p = ctx.Process(target=sender_main, daemon=True,
                            args=(k, ids, a.connections, d.port, a.rate_per_conn, a.duration, a.tick, tmpl, child))
            p.start()
            procs.append(p)
            pipes.append(parent)
        t_connect = time.monotonic()
        connected = failed = 0
        for pipe in pipes:
            if not pipe.poll(120):
                sys.exit(f"{system}: the senders did not connect within 120 s")
            _, ok, bad = pipe.recv()
            connected += ok
            failed += bad
        r["connect_s"] = time.monotonic() - t_connect
        time.sleep(0.5)  # let the daemon accept what is still in its backlog
        r["connected"] = connected
        r["connect_failed"] = failed
        r["daemon_sockets"] = d.socket_fds() - sockets_before
        if system == "sealtrail":
            m = d.metrics()
            r["active_after_connect"] = int(metric(m, "sealtrail_connections_active"))
            r["refused_after_connect"] = refused(m)
        print(f"  {connected} connections in {r['connect_s']:.2f} s ({failed} failed); "
              f"the daemon holds {r['daemon_sockets']} more sockets"
              + (f", active {r['active_after_connect']}, refused {r['refused_after_connect']}"
                 if system == "sealtrail" else ""), flush=True)

        # Send: the start time goes to every sender; the watcher polls meanwhile.
        t0 = time.monotonic() + 0.3
        r["t0_ns"] = int(t0 * 1e9)  # the same clock as time.monotonic_ns()
        cpu0 = d.cpu()
        for pipe in pipes:
            pipe.send(t0)
        results = [None] * len(pipes)
        # When did the daemon have every line? Probed every 0.1 s from the last second of
        # sending on, as the senders then still wait for the daemon to close connections.
        expected_total = a.connections * int(a.rate_per_conn * a.duration)
        t_received = [None]
        probe = d.drain_probe(watcher, expected_total, t_received)
        next_probe = [t0 + a.duration - 1]

        def senders_done():
            if time.monotonic() >= next_probe[0] and t_received[0] is None:
                probe()
                next_probe[0] = time.monotonic() + 0.1
            for k, pipe in enumerate(pipes):
                if results[k] is None and pipe.poll():
                    results[k] = pipe.recv()
            if not d.alive():
                sys.exit(f"{system} died during the run ({d.proc.returncode}); see {d.errlog.name}")
            if time.monotonic() > t0 + a.duration + 300:
                sys.exit(f"{system}: the senders did not finish within {a.duration + 300:g} s")
            return all(x is not None for x in results), time.monotonic()  # never "no progress"

        poll_until(watcher, senders_done, timeout=1)
        for p in procs:
            p.join(10)
        gen = {}
        for x in results:
            gen.update(x["gen"])
        sent = sum(gen.values())
        t_last_write = max(x["t_last_write"] for x in results)
        r.update({
            "lines_expected": expected_total,
            "lines_sent": sent,
            "closed_by_peer": sum(x["closed_by_peer"] for x in results),
            "not_closed_by_daemon": sum(x["not_closed_by_daemon"] for x in results),
            "unsent_bytes": sum(x["unsent_bytes"] for x in results),
            "sender_eps_target": a.connections * a.rate_per_conn,
            "sender_eps": sent / (t_last_write - t0),
            "sender_cpu": sum(x["cpu"] for x in results),
            "sender_late_p99_ms": max(x["late_p99"] for x in results) * 1e3,
            "sender_late_max_ms": max(x["late_max"] for x in results) * 1e3,
            "sender_max_queued_kb": sum(x["max_queued_bytes"] for x in results) / 1024,
            "sender_flush_s": t_last_write - t0 - a.duration,
        })

        # Drain: until every line sent is on disk (or nothing moves for --drain-timeout).
        # On the way, when the daemon had received every line: rsyslog, written to its
        # file; sealtrail, counted by its TCP source (journalled).
        if sent != expected_total:
            t_received = [None]  # connections died: fewer lines to wait for
        drained = d.drain_probe(watcher, sent, t_received)
        r["drained"] = poll_until(watcher, drained, timeout=a.drain_timeout, every=0.05)
        r["received_eps"] = sent / (t_received[0] - t0) if t_received[0] else None
        t_done = time.monotonic()
        cpu1 = d.cpu()
        r["cpu"] = cpu1 - cpu0
        r["drain_s"] = t_done - t_last_write
        d.peak.sample()
        r["rss_loaded_mb"] = (d.status_kb("VmRSS") or 0) / 1024
        if system == "sealtrail":
            m = d.metrics()
            r["refused"] = refused(m)
            r["idle_closed"] = int(metric(m, "sealtrail_connections_idle_closed_total"))
            r["late_seals"] = int(metric(m, "sealtrail_late_seals_total"))
            r["received"] = int(metric(m, "component_received_events_total", component_id="tcp"))
            r["sealed_segments"] = int(metric(m, "sealtrail_sealed_segments_total"))

        # Idle again, 5 s after the load.
        t = time.monotonic() + 5
        poll_until(watcher, lambda: (time.monotonic() >= t, None), timeout=10)
        r["rss_idle_after_mb"] = (d.status_kb("VmRSS") or 0) / 1024
        d.peak.sample()
    finally:
        if d.proc.returncode is None:
            rc, _ = d.stop()
        else:
            rc = d.proc.returncode
    watcher.poll()  # what the shutdown wrote
    r["exit_code"] = rc
    r["rss_peak_mb"] = d.peak.mb
    r["cpu_per_m"] = r["cpu"] / (sent / 1e6) if sent else None
    return d, r, watcher, results


# --------------------------------------------------------------------------------------
# After the run: every line exactly once, and its delay


def percentile(sorted_vals, q):
    if not sorted_vals:
        return None
    return sorted_vals[min(len(sorted_vals) - 1, int(len(sorted_vals) * q))]


def send_times(results, connections, per_conn):
    """Per connection, the send time (monotonic ns) of each of its lines, from the
    senders' batch logs: line j went with the last batch starting at or before j."""
    times = [array.array("q") for _ in range(connections)]
    for x in results:
        for c, batches in x["sent_at"].items():
            n = x["gen"][c]
            arr = times[c]
            for k, (j0, t) in enumerate(batches):
                end = batches[k + 1][0] if k + 1 < len(batches) else n
                arr.extend([t] * (end - j0))
    return times


class Tally:
    """Counts each seq found in the output and collects the delays (first seen - sent)."""

    def __init__(self, connections, per_conn, times):
        self.connections = connections
        self.limit = connections * per_conn  # every seq the fleet meant to send
        self.times = times
        self.counts = bytearray(self.limit)
        self.delays = array.array("q")
        self.unexpected = 0  # a seq we never sent
        self.alerts = 0
        self.other = 0  # lines without a seq that are not alerts
        self.lines = 0
        self.last_seen_ns = 0

    def line(self, line, seen_ns):
        if not line:
            return
        self.lines += 1
        if ALERT in line:
            self.alerts += 1
            return
        m = SEQ_RE.search(line)
        if not m:
            self.other += 1
            return
        seq = int(m[1])
        c, j = seq % self.connections, seq // self.connections
        if seq >= self.limit or j >= len(self.times[c]):
            self.unexpected += 1
            return
        if self.counts[seq] < 255:
            self.counts[seq] += 1
        self.delays.append(seen_ns - self.times[c][j])
        if seen_ns > self.last_seen_ns:
            self.last_seen_ns = seen_ns

    def check(self):
        """Lost (never found: sent, or never sent because the daemon refused or closed
        the connection), duplicated, unexpected."""
        counts = self.counts
        lost = counts.count(0)
        once = counts.count(1)
        dup = sum(n - 1 for n in counts if n > 1) if once + lost < self.limit else 0
        examples = []
        if lost:
            at = -1
            for _ in range(min(5, lost)):
                at = counts.index(0, at + 1)
                examples.append(at)
        never_sent = self.limit - sum(len(t) for t in self.times)
        return {"lost": lost, "lost_never_sent": never_sent, "duplicated": dup,
                "unexpected": self.unexpected, "lost_examples": examples, "unique": self.limit - lost}


def analyse_sealtrail(d, r, watcher, tally):
    """verify --json, then every segment's lines against their first-seen time."""
    pub = os.path.join(d.state, "signing.pub")
    t = time.perf_counter()
    v = subprocess.run([d.binary, "verify", d.archive, "--key", pub, "--json"], capture_output=True, text=True)
    r["verify_s"] = time.perf_counter() - t
    r["verify_ok"] = v.returncode == 0
    verified = None
    if v.returncode == 0:
        try:
            verified = sum(s["events"] for s in json.loads(v.stdout)["streams"])
        except (ValueError, KeyError):
            r["verify_ok"] = False
    if not r["verify_ok"]:
        print(f"sealtrail verify failed ({v.returncode}):\n{v.stdout[-4000:]}\n{v.stderr[-4000:]}", file=sys.stderr)
    r["verify_events"] = verified
    segs = sorted(watcher.seen.items(), key=lambda kv: kv[1])
    for path, seen_ns in segs:
        z = subprocess.run(["zstd", "-dcq", "--", path], capture_output=True)
        if z.returncode != 0:
            print(f"zstd -dcq failed on {path}: {z.stderr.decode(errors='replace')}", file=sys.stderr)
            r["verify_ok"] = False
            continue
        data = z.stdout
        for line in data.split(b"\n"):
            tally.line(line, seen_ns)
    r["segments"] = len(segs)
    r["archive_mb"] = sum(os.path.getsize(p) for p, _ in segs) / 1e6
    if verified is not None and verified != tally.lines:
        print(f"sealtrail: verify counts {verified} events, zstd {tally.lines} lines", file=sys.stderr)
        r["verify_ok"] = False
    return tally


def analyse_rsyslog(d, r, watcher, tally):
    """Every line of the output file against the first poll that saw its newline."""
    sizes = watcher.sizes
    final = (time.monotonic_ns(), float("inf"))
    k, off = 0, 0
    with open(d.output, "rb") as f:
        for line in f:
            off += len(line)
            while k < len(sizes) and sizes[k][1] < off:
                k += 1
            seen = (sizes[k] if k < len(sizes) else final)[0]
            tally.line(line, seen)
    return tally


def summarise(r, tally):
    c = tally.check()
    r.update(c)
    r["alerts"] = tally.alerts
    r["other_lines"] = tally.other
    delays = sorted(tally.delays)
    r["delay_p50_ms"] = percentile(delays, 0.50) / 1e6 if delays else None
    r["delay_p99_ms"] = percentile(delays, 0.99) / 1e6 if delays else None
    r["delay_max_ms"] = delays[-1] / 1e6 if delays else None
    r["delay_min_ms"] = delays[0] / 1e6 if delays else None
    first = r["t0_ns"]
    r["delivered_eps"] = c["unique"] / ((tally.last_seen_ns - first) / 1e9) if tally.last_seen_ns > first else None
    ok = (c["lost"] == 0 and c["duplicated"] == 0 and c["unexpected"] == 0
          and r["connect_failed"] == 0 and r["closed_by_peer"] == 0 and r.get("verify_ok", True)
          and r["exit_code"] == 0)
    r["ok"] = ok
    return ok


# --------------------------------------------------------------------------------------
# Report


def report(results, a):
    lines = [f"Central collector: {a.connections:,} TCP connections from 127.0.0.1, "
             f"{a.rate_per_conn:g} lines/s each ({a.connections * a.rate_per_conn:,.0f} lines/s), "
             f"{a.duration:g} s, RFC 3164, {a.senders} sender process(es), tick {a.tick * 1e3:g} ms",
             ingest.machine_line(), ""]
    for r in results:
        lines.append(f"{r['system']:<10} {r['version']}: {r['note']}")
    lines.append("")
    by = {r["system"]: r for r in results}
    lines += ingest.side_by_side([
        ("lines sent", "lines_sent", ",d", ""),
        ("sender lines/s", "sender_eps", ",.0f", f"(target {a.connections * a.rate_per_conn:,.0f})"),
        ("received lines/s", "received_eps", ",.0f", "(lines / (all received - first sent))"),
        ("delivered lines/s", "delivered_eps", ",.0f", "(lines / (last on disk - first sent))"),
        ("CPU s per 1M lines", "cpu_per_m", ".2f", "(daemon, first send .. all on disk; lower is better)"),
        ("peak RSS MB", "rss_peak_mb", ".1f", "(VmHWM, sampled until exit)"),
        ("idle RSS MB", "rss_idle_mb", ".1f", "(listening + 3 s)"),
        ("RSS MB, loaded", "rss_loaded_mb", ".1f", "(VmRSS when all on disk)"),
        ("idle RSS MB after load", "rss_idle_after_mb", ".1f", "(5 s after, connections closed)"),
        ("delay p50 ms", "delay_p50_ms", ",.1f", "(send -> sealed on disk / in the file)"),
        ("delay p99 ms", "delay_p99_ms", ",.1f", ""),
        ("delay max ms", "delay_max_ms", ",.1f", ""),
        ("lost", "lost", ",d", ""),
        ("duplicated", "duplicated", ",d", ""),
    ], by)
    lines.append("")
    for r in results:
        s = (f"{r['system']}: connected {r['connected']}/{r['connections']} in {r['connect_s']:.2f} s "
             f"(failed {r['connect_failed']}, closed by the daemon {r['closed_by_peer']}); "
             f"sender CPU {r['sender_cpu']:.2f} s ({r['sender_cpu'] / a.duration * 100:.0f}% of a core), "
             f"ticks late p99 {r['sender_late_p99_ms']:.1f} ms max {r['sender_late_max_ms']:.1f} ms, "
             f"max queued {r['sender_max_queued_kb']:,.0f} KiB; drained {r['drain_s']:.2f} s after the last write"
             + ("" if r["drained"] else " (TIMED OUT)"))
        if r["system"] == "sealtrail":
            s += (f"; {r['segments']} segments, {r['archive_mb']:.1f} MB, {r['alerts']:,} alerts, "
                  f"verify {'ok' if r['verify_ok'] else 'FAILED'} ({r['verify_events']} events, {r['verify_s']:.2f} s), "
                  f"refused {r['refused']}, late seals {r['late_seals']}")
        if r["unexpected"] or r["other_lines"]:
            s += f"; unexpected seqs {r['unexpected']}, other lines {r['other_lines']}"
        if r["lost"]:
            s += (f"; lost {r['lost']:,} lines, {r['lost_never_sent']:,} of them never sent (connection refused "
                  f"or closed by the daemon), e.g. seq {r['lost_examples']}")
        s += f"; {'OK' if r['ok'] else 'FAILED'}"
        lines.append(s)
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=1000, help="simulated hosts, one TCP connection each")
    ap.add_argument("--rate-per-conn", type=float, default=100.0, help="lines/s per connection")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of sending")
    ap.add_argument("--tick", type=float, default=0.1, help="seconds between a connection's sends")
    ap.add_argument("--senders", type=int, default=1, help="sender processes")
    ap.add_argument("--max-age", default="1s", help="sealtrail [seal] max_age")
    ap.add_argument("--max-per-peer", type=int, default=None,
                    help="sealtrail max_connections_per_peer (default: max_connections, 2000); "
                         "every host connects from 127.0.0.1, so a lower cap refuses hosts")
    ap.add_argument("--drain-timeout", type=float, default=60.0,
                    help="give up waiting for the last lines after this long without progress")
    ap.add_argument("--systems", default="rsyslog,sealtrail", help="comma-separated: rsyslog, sealtrail")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--sealtrail", default=os.path.join(HERE, "..", "target", "release", "sealtrail"))
    a = ap.parse_args()
    systems = [s.strip() for s in a.systems.split(",") if s.strip()]
    for s in systems:
        if s not in ("rsyslog", "sealtrail"):
            sys.exit(f"unknown system {s}")
    if a.connections < 1 or a.senders < 1 or a.senders > a.connections:
        sys.exit("need 1 <= --senders <= --connections")
    a.out = os.path.abspath(a.out)
    os.makedirs(a.out, exist_ok=True)
    # The sender holds every connection too.
    ingest.raise_nofile(nofile_for(a.connections))()
    tmpl = templates()
    per_conn = int(a.rate_per_conn * a.duration)

    results, all_ok = [], True
    for s in systems:
        print(f"fleet: {s}, {a.connections} connections x {a.rate_per_conn:g} lines/s x {a.duration:g} s ...", flush=True)
        d, r, watcher, senders = run_system(s, a, tmpl)
        print(f"  sent {r['lines_sent']:,} lines at {r['sender_eps']:,.0f}/s; {s} CPU {r['cpu']:.2f} s; analysing ...", flush=True)
        tally = Tally(a.connections, per_conn, send_times(senders, a.connections, per_conn))
        del senders
        (analyse_sealtrail if s == "sealtrail" else analyse_rsyslog)(d, r, watcher, tally)
        ok = summarise(r, tally)
        all_ok &= ok
        fmt = lambda v: f"{v:,.1f}" if v is not None else "-"
        print(f"  {s}: lost {r['lost']:,}, duplicated {r['duplicated']:,}, delay p50 {fmt(r['delay_p50_ms'])} ms "
              f"p99 {fmt(r['delay_p99_ms'])} ms, {'OK' if ok else 'FAILED'}", flush=True)
        results.append(r)

    text = report(results, a)
    print()
    print(text, end="")
    with open(os.path.join(a.out, "fleet-results.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "fleet-results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwritten: {os.path.join(a.out, 'fleet-results.txt')}")
    if not all_ok:
        print("FAILED: lines lost, duplicated or unexpected, connections refused, or verify failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
