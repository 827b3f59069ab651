#!/usr/bin/env python3
"""TCP syslog ingestion benchmark: sealtrail (sealed, shipped, verified) vs rsyslog.

Both systems receive the same file of realistic RFC 3164 lines over ONE TCP connection on
127.0.0.1, in the same run. For each system we measure:

* wall seconds from the first byte sent to "done": rsyslog has written every line to
  its output file; sealtrail has exited after SIGTERM (it drains, seals and ships);
* CPU seconds of the server process: rsyslog from /proc/PID/stat (utime+stime) before
  it is stopped; sealtrail from os.wait4's rusage;
* peak RSS under load: VmHWM from /proc/PID/status. rsyslog: read just before it is
  stopped. sealtrail, which drains, seals and ships after SIGTERM: read once every byte
  was sent and then every 10 ms until it exits; the largest value. (Not ru_maxrss from
  os.wait4: the kernel folds the parent's peak into a vforked child's, so after this
  script has mmapped the 300 MB input it would report ~300 MB for any daemon.)

Then `sealtrail verify` checks the archive, and the events in it are counted (they must
equal the lines sent). With --rounds N each system runs N times, alternately (rsyslog,
sealtrail, rsyslog, ...), and the table reports medians. Results go to stdout and to
<out>/results.txt (and results.json).

With --transports tcp,tls the same runs are made over TLS too (RFC 5425, a test CA and
server certificate made with the openssl CLI, no client certificates): sealtrail's
`transport = "tls"` listener, and rsyslog's imtcp with its GnuTLS driver (imptcp has no
TLS); the sender is Python's ssl module. Each transport gets its table, then TLS beside
TCP per system (results-tls.txt).

Called by bench/run.sh, which builds the release binary and installs rsyslog.
"""

import argparse
import datetime
import json
import mmap
import os
import platform
import random
import shutil
import resource
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import time

CHUNK = 1 << 20  # sendall in 1 MiB chunks


# --------------------------------------------------------------------------------------
# Input generation


def _pools(rng):
    users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan",
             "judy", "mallory", "oscar", "peggy", "trent", "victor", "walter", "deploy",
             "backup", "ansible", "postgres", "www-data", "root"]
    bad_users = ["admin", "test", "oracle", "ubuntu", "pi", "guest", "user", "ftpuser",
                 "git", "support", "nagios", "hadoop", "minecraft", "teamspeak"]
    hosts = [f"{p}-{i:02d}.{dc}.corp" for p in ("web", "db", "app", "cache", "lb", "bastion", "ci")
             for i in range(1, 9) for dc in ("fra1", "ams3", "lon2")]
    nets = ["10.0", "10.12", "172.16", "192.168", "203.0", "198.51", "185.220", "45.155"]

    def ip():
        return f"{rng.choice(nets)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def fp():
        return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                       for _ in range(43))

    def sshd():
        u = rng.choice(users)
        r = rng.random()
        if r < 0.25:
            return "sshd", f"Accepted publickey for {u} from {ip()} port {rng.randrange(1024, 65535)} ssh2: ED25519 SHA256:{fp()}"
        if r < 0.45:
            return "sshd", f"Failed password for invalid user {rng.choice(bad_users)} from {ip()} port {rng.randrange(1024, 65535)} ssh2"
        if r < 0.6:
            return "sshd", f"pam_unix(sshd:session): session opened for user {u}(uid={rng.randrange(1000, 1100)}) by (uid=0)"
        if r < 0.75:
            return "sshd", f"Connection closed by authenticating user {u} {ip()} port {rng.randrange(1024, 65535)} [preauth]"
        if r < 0.85:
            return "sshd", f"Disconnected from user {u} {ip()} port {rng.randrange(1024, 65535)}"
        if r < 0.95:
            return "sshd", (f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
                            f"rhost={ip()}  user={u}")
        return "sshd", f"Received disconnect from {ip()} port {rng.randrange(1024, 65535)}:11: Bye Bye [preauth]"

    cmds = ["/usr/bin/systemctl restart nginx", "/usr/bin/apt-get update", "/usr/bin/journalctl -u sshd -n 100",
            "/usr/bin/tail -f /var/log/syslog", "/usr/sbin/iptables -L -n", "/bin/cat /etc/shadow",
            "/usr/bin/docker ps -a", "/usr/bin/du -sh /var/lib/postgresql"]

    def sudo():
        u = rng.choice(users[:-1])
        if rng.random() < 0.6:
            return "sudo", f"{u} : TTY=pts/{rng.randrange(8)} ; PWD=/home/{u} ; USER=root ; COMMAND={rng.choice(cmds)}"
        return "sudo", f"pam_unix(sudo:session): session opened for user root(uid=0) by {u}(uid={rng.randrange(1000, 1100)})"

    def cron():
        if rng.random() < 0.5:
            return "CRON", "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)"
        return "CRON", f"pam_unix(cron:session): session closed for user {rng.choice(['root', 'backup', 'www-data'])}"

    def kernel():
        t = f"[{rng.randrange(100000, 9999999)}.{rng.randrange(1000000):06d}]"
        if rng.random() < 0.7:
            return "kernel", (f"{t} [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:{rng.randrange(256):02x}:{rng.randrange(256):02x}:"
                              f"{rng.randrange(256):02x}:fe:ff:ff:ff:ff:ff:08:00 SRC={ip()} DST=10.0.0.{rng.randrange(2, 250)} LEN=60 "
                              f"TOS=0x00 PREC=0x00 TTL={rng.randrange(40, 64)} ID={rng.randrange(65536)} DF PROTO=TCP "
                              f"SPT={rng.randrange(1024, 65535)} DPT={rng.choice([22, 23, 80, 443, 3389, 5432])} WINDOW=64240 RES=0x00 SYN URGP=0")
        return "kernel", f"{t} EXT4-fs (sda{rng.randrange(1, 4)}): re-mounted. Opts: errors=remount-ro. Quota mode: none."

    def systemd():
        r = rng.random()
        if r < 0.4:
            return "systemd", f"Started session-{rng.randrange(1, 99999)}.scope - Session {rng.randrange(1, 99999)} of User {rng.choice(users)}."
        if r < 0.7:
            return "systemd-logind", f"New session {rng.randrange(1, 99999)} of user {rng.choice(users)}."
        return "systemd", f"{rng.choice(['nginx', 'postgresql', 'redis-server', 'docker', 'apt-daily'])}.service: Deactivated successfully."

    def postfix():
        return "postfix/smtpd", f"disconnect from unknown[{ip()}] ehlo=1 auth=0/1 rset=1 quit=1 commands=3/5"

    sources = [(sshd, 35, 4, 6), (sudo, 12, 10, 5), (cron, 12, 9, 6), (kernel, 18, 0, 4),
               (systemd, 15, 3, 6), (postfix, 8, 2, 6)]
    return hosts, sources


def generate(path, count, seed=20240611, pri=True):
    """Writes `count` LF-framed RFC 3164 lines (deterministic for a given seed); without
    `pri`, in the form syslog daemons write to files (`auth.log`: no `<PRI>`)."""
    rng = random.Random(seed)
    hosts, sources = _pools(rng)
    weights = [s[1] for s in sources]
    start = datetime.datetime(2024, 11, 22, 0, 0, 0)
    tmp = path + ".tmp"
    total = 0
    with open(tmp, "w", encoding="ascii", newline="\n") as f:
        buf = []
        for i in range(count):
            make, _, fac, sev = rng.choices(sources, weights)[0]
            prog, msg = make()
            ts = start + datetime.timedelta(milliseconds=i // 20)
            stamp = ts.strftime("%b %d %H:%M:%S").replace(" 0", "  ", 1) if ts.day < 10 else ts.strftime("%b %d %H:%M:%S")
            pid = "" if prog == "kernel" else f"[{rng.randrange(300, 4_000_000)}]"
            head = f"<{fac * 8 + sev}>" if pri else ""
            line = f"{head}{stamp} {rng.choice(hosts)} {prog}{pid}: {msg}\n"
            total += len(line)
            buf.append(line)
            if len(buf) >= 50_000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))
    os.replace(tmp, path)
    return total


def ensure_input(out, count, regen, pri=True):
    path = os.path.join(out, f"{'messages' if pri else 'lines'}-{count}.log")
    meta = path + ".json"
    if not regen and os.path.exists(path) and os.path.exists(meta):
        with open(meta) as f:
            m = json.load(f)
        if m.get("count") == count and m.get("bytes") == os.path.getsize(path):
            print(f"input: {path} ({count} lines, {m['bytes'] / count:.1f} B/line average), reused")
            return path
    t = time.perf_counter()
    total = generate(path, count, pri=pri)
    with open(meta, "w") as f:
        json.dump({"count": count, "bytes": total}, f)
    print(f"input: {path} ({count} lines, {total / count:.1f} B/line average), generated in {time.perf_counter() - t:.1f} s")
    return path


# --------------------------------------------------------------------------------------
# Helpers


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_listening(port):
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fld = line.split()
            if int(fld[1].rsplit(":", 1)[1], 16) == port and fld[3] == "0A":
                return True
    return False


def wait_listening(proc, port, what, timeout=60):
    t = time.monotonic()
    while not tcp_listening(port):
        if proc.poll() is not None:
            sys.exit(f"{what} exited ({proc.returncode}) before listening on {port}")
        if time.monotonic() - t > timeout:
            proc.kill()
            sys.exit(f"{what} did not listen on {port} within {timeout} s")
        time.sleep(0.02)


def send_file(path, port, tls=None):
    """One TCP connection (TLS with the client context `tls`); sendall in 1 MiB chunks;
    half-close (TLS: close_notify); read until the server closes, so on return the
    server has read every byte. Returns the start time (before the handshake)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = memoryview(mm)
        raw = socket.create_connection(("127.0.0.1", port))
        t0 = time.perf_counter()
        s = tls.wrap_socket(raw, server_hostname="localhost") if tls else raw
        for off in range(0, len(mm), CHUNK):
            s.sendall(view[off:off + CHUNK])
        if tls:
            try:
                s = s.unwrap()  # close_notify: the server's end of input
            except (ssl.SSLError, OSError):
                s = raw
        else:
            s.shutdown(socket.SHUT_WR)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
        s.close()
        raw.close()
        view.release()
    return t0


def make_certs(out):
    """A CA and a server certificate for localhost/127.0.0.1 (openssl CLI), once."""
    d = os.path.join(out, "tls")
    if os.path.exists(os.path.join(d, "server.pem")):
        return d
    os.makedirs(d, exist_ok=True)
    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
        "-out", "ca.pem", "-days", "30", "-subj", "/CN=bench CA")
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=localhost")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "30",
        "-out", "server.pem", "-extfile", "server.ext")
    return d


def client_context(certs):
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    return ctx


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kb(pid, field):
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM, ...), in kB; None when gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def raise_nofile(limit):
    """preexec_fn for a daemon: soft and hard RLIMIT_NOFILE to `limit` (we are root or
    the hard limit is high enough; otherwise the soft limit goes as high as allowed)."""
    def apply():
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(limit, hard)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))
    return apply


class PeakRss:
    """The largest VmHWM (kB) seen in /proc/PID/status: call sample() as often as
    useful; VmHWM is the process's own high-water mark, so the last sample before it
    exits covers its whole life up to then."""

    def __init__(self, pid):
        self.pid = pid
        self.kb = 0

    def sample(self):
        v = proc_status_kb(self.pid, "VmHWM")
        if v is not None and v > self.kb:
            self.kb = v

    @property
    def mb(self):
        return self.kb / 1024 if self.kb else None


def reap(proc, timeout=30, sig=signal.SIGTERM, sample=None):
    """Sends `sig` (if still running), waits up to `timeout` s (then SIGKILL) and reaps
    with os.wait4, calling `sample()` (if given) every 10 ms meanwhile. Returns (exit
    code, rusage); proc.returncode is set."""
    if proc.returncode is not None:
        raise RuntimeError("process already reaped")
    if sig is not None:
        proc.send_signal(sig)
    deadline = time.monotonic() + timeout
    while True:
        if sample:
            sample()
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            _, status, ru = os.wait4(proc.pid, 0)
            break
        time.sleep(0.01)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, ru


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


# --------------------------------------------------------------------------------------
# rsyslog


def wait_for_lines(proc, output, count, timeout=900):
    """Waits until rsyslogd has written `count` lines to `output`; returns the count.
    Exits the benchmark if rsyslogd dies or falls short within `timeout` seconds."""
    lines, pos = 0, 0
    deadline = time.monotonic() + timeout
    while lines < count:
        if proc.poll() is not None:
            sys.exit(f"rsyslogd exited ({proc.returncode}) after {lines} lines")
        if time.monotonic() > deadline:
            sys.exit(f"rsyslogd wrote only {lines} of {count} lines in {timeout} s")
        try:
            with open(output, "rb") as f:
                f.seek(pos)
                data = f.read()
        except FileNotFoundError:
            data = b""
        pos += len(data)
        lines += data.count(b"\n")
        if lines < count:
            time.sleep(0.01)
    return lines


def bench_rsyslog(input_path, count, out, certs=None):
    rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    base = fresh_dir(os.path.join(out, "rsyslog"))
    work = fresh_dir(os.path.join(base, "work"))
    output = os.path.join(base, "messages.log")
    conf = os.path.join(base, "rsyslog.conf")
    pidfile = os.path.join(base, "rsyslogd.pid")
    port = free_port()
    # No imuxsock/imklog: only the TCP input under test. omfile without fsync or
    # compression: rsyslog's usual configuration for files.
    if certs:
        # imptcp has no TLS: imtcp with the GnuTLS driver, anonymous clients.
        inp = (f'global(DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="{certs}/ca.pem" '
               f'DefaultNetstreamDriverCertFile="{certs}/server.pem" DefaultNetstreamDriverKeyFile="{certs}/server.key")\n'
               f'module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")\n'
               f'input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="bench")')
    else:
        inp = (f'module(load="imptcp")\n'
               f'input(type="imptcp" address="127.0.0.1" port="{port}" ruleset="bench")')
    with open(conf, "w") as f:
        f.write(f"""global(workDirectory="{work}" maxMessageSize="64k")
{inp}
ruleset(name="bench") {{
  action(type="omfile" file="{output}")
}}
""")
    errlog = open(os.path.join(base, "rsyslogd.stderr"), "w")
    proc = subprocess.Popen([rsyslogd, "-n", "-f", conf, "-i", pidfile],
                            stdout=errlog, stderr=subprocess.STDOUT)
    peak = PeakRss(proc.pid)
    try:
        wait_listening(proc, port, "rsyslogd")
        t0 = send_file(input_path, port, client_context(certs) if certs else None)
        lines = wait_for_lines(proc, output, count)
        wall = time.perf_counter() - t0
        cpu = proc_cpu_seconds(proc.pid)
        peak.sample()  # the peak RSS so far, just before the stop
    finally:
        if proc.returncode is None:
            reap(proc)
        errlog.close()
    if lines != count:
        sys.exit(f"rsyslogd wrote {lines} lines, expected {count}")
    ver = subprocess.run([rsyslogd, "-v"], capture_output=True, text=True).stdout.splitlines()
    return {"system": "rsyslog", "version": ver[0] if ver else "?", "events": lines,
            "wall": wall, "cpu": cpu, "rss_mb": peak.mb,
            "note": "imtcp+gtls -> omfile, no fsync" if certs else "imptcp -> omfile, no fsync"}


# --------------------------------------------------------------------------------------
# sealtrail


def bench_sealtrail(binary, input_path, count, out, certs=None):
    binary = os.path.abspath(binary)
    if not os.access(binary, os.X_OK):
        sys.exit(f"no sealtrail binary at {binary} (cargo build --release)")
    base = os.path.join(out, "sealtrail")
    fresh_dir(base)
    state = fresh_dir(os.path.join(base, "state"))
    archive = fresh_dir(os.path.join(base, "archive"))
    conf = os.path.join(base, "sealtrail.toml")
    port = free_port()
    with open(conf, "w") as f:
        f.write(f"""stream = "bench"
state_dir = "{state}"

[[syslog]]
name = "tcp"
transport = "{'tls' if certs else 'tcp'}"
address = "127.0.0.1:{port}"
timezone = "UTC"
{f'tls = {{ cert_file = "{certs}/server.pem", key_file = "{certs}/server.key" }}' if certs else ''}

[journal]
fsync = true

[seal]
zstd_level = 1

[archive]
url = "{archive}"

# A private port: the default (127.0.0.1:9514) may be taken by another instance.
[status]
address = "127.0.0.1:{free_port()}"
""")
    errlog = open(os.path.join(base, "sealtrail.stderr"), "w")
    proc = subprocess.Popen([binary, "run", "--config", conf], stdout=errlog, stderr=subprocess.STDOUT)
    peak = PeakRss(proc.pid)
    try:
        wait_listening(proc, port, "sealtrail")
        t0 = send_file(input_path, port, client_context(certs) if certs else None)
        # Every byte has been read: the peak so far, then during the drain after SIGTERM.
        peak.sample()
        rss_sent = peak.mb
        _, ru = reap(proc, timeout=900, sample=peak.sample)
        wall = time.perf_counter() - t0
    finally:
        if proc.returncode is None:
            reap(proc, timeout=0, sig=signal.SIGKILL)
        errlog.close()
    if proc.returncode != 0:
        sys.exit(f"sealtrail exited with {proc.returncode}; see {errlog.name}")
    cpu = ru.ru_utime + ru.ru_stime

    pub = os.path.join(state, "signing.pub")
    t = time.perf_counter()
    v = subprocess.run([binary, "verify", archive, "--key", pub, "--json"], capture_output=True, text=True)
    verify_wall = time.perf_counter() - t
    if v.returncode != 0:
        sys.exit(f"sealtrail verify failed ({v.returncode}):\n{v.stdout[-4000:]}\n{v.stderr[-4000:]}")
    report = json.loads(v.stdout)
    verified = sum(s["events"] for s in report["streams"])
    # Independent count with the stock zstd CLI (the seal rides in a skippable frame).
    objects = sorted(os.path.join(d, n) for d, _, ns in os.walk(archive) for n in ns)
    # The detector runs as in production: its alerts are sealed events too, so the
    # lines sent are the archived events minus the alerts.
    counted = 0
    alerts = 0
    for i in range(0, len(objects), 256):
        z = subprocess.Popen(["zstd", "-dcq", "--", *objects[i:i + 256]], stdout=subprocess.PIPE)
        tail = b""
        while block := z.stdout.read(CHUNK):
            counted += block.count(b"\n")
            both = tail + block
            alerts += both.count(b'"kind":"alert"')
            tail = both[-16:]
            alerts -= tail.count(b'"kind":"alert"')
        alerts += tail.count(b'"kind":"alert"')
        if z.wait() != 0:
            sys.exit("zstd -dc failed on the archive")
    if not (verified == counted and counted - alerts == count):
        sys.exit(f"event count mismatch: sent {count}, verify says {verified}, zstd counts {counted} "
                 f"of which {alerts} alerts")
    size = sum(os.path.getsize(o) for o in objects)
    return {"system": "sealtrail", "version": "release build", "events": counted - alerts, "wall": wall, "cpu": cpu,
            "rss_mb": peak.mb, "verify_wall": verify_wall, "objects": len(objects), "archive_bytes": size,
            "note": f"journal fsync, sealed+shipped, detector on ({alerts} alerts); "
                    f"{len(objects)} objects, {size / 1e6:.1f} MB; VmHWM {rss_sent:.0f} MB once all was read; "
                    f"verify {verify_wall:.2f} s ({counted / verify_wall:,.0f} events/s)"}


# --------------------------------------------------------------------------------------


def machine_line():
    """Date, host, CPU count and model: the first lines of every results table."""
    cpu_model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    # The 1-minute load average at the end: other work on the machine shows in the figures.
    return (f"{datetime.datetime.now().isoformat(timespec='seconds')}  {platform.node()}  {os.cpu_count()} CPUs  "
            f"{cpu_model}  load {os.getloadavg()[0]:.2f}")


def side_by_side(rows, by):
    """Rows of `metric | rsyslog | sealtrail | sealtrail/rsyslog` for the systems in `by`
    (system -> dict). `rows` are (label, key, format, note); a missing value prints "-"."""
    systems = [s for s in ("rsyslog", "sealtrail") if s in by]
    out = [f"{'':<26}" + "".join(f"{s:>14}" for s in systems) +
           (f"{'sealtrail/rsyslog':>20}" if len(systems) == 2 else "")]
    for label, key, fmt, note in rows:
        vals = [by[s].get(key) for s in systems]
        if all(v is None for v in vals):
            continue  # not measured by this benchmark
        cells = "".join(f"{format(v, fmt) if v is not None else '-':>14}" for v in vals)
        ratio = ""
        if len(systems) == 2:
            r, s = by["rsyslog"].get(key), by["sealtrail"].get(key)
            ratio = f"{s / r:>19.2f}x" if r and s is not None else f"{'-':>20}"
        out.append(f"{label:<26}{cells}{ratio}  {note}".rstrip())
    return out


def table(results, count, input_bytes, transport="tcp"):
    """The results table: one row per run; with several runs per system, median rows
    too; then sealtrail and rsyslog side by side (medians) with the ratios."""
    lines = []
    lines.append(f"{transport.upper()} syslog ingestion, {count:,} RFC 3164 lines ({input_bytes / count:.1f} B/line), one connection, 127.0.0.1")
    lines.append(machine_line())
    lines.append("")
    lines.append(f"{'system':<10} {'events':>10} {'wall s':>8} {'events/s':>11} {'CPU s':>8} {'CPU s/1M':>9} {'peak RSS MB':>12}  notes")
    runs = {}
    for r in results:
        r["eps"] = r["events"] / r["wall"]
        r["cpu_per_m"] = r["cpu"] / (r["events"] / 1e6)
        runs.setdefault(r["system"], []).append(r)
        rss = f"{r['rss_mb']:>12.1f}" if r.get("rss_mb") is not None else f"{'-':>12}"
        lines.append(f"{r['system']:<10} {r['events']:>10,} {r['wall']:>8.2f} {r['eps']:>11,.0f} {r['cpu']:>8.2f} "
                     f"{r['cpu_per_m']:>9.2f} {rss}  {r['note']}")
    # Medians per system (with one run: that run).
    by = {}
    for system, rs in runs.items():
        med = lambda k: statistics.median(x[k] for x in rs) if all(x.get(k) is not None for x in rs) else None
        by[system] = {"system": system, "runs": len(rs), "eps": med("eps"), "cpu_per_m": med("cpu_per_m"),
                      "rss_mb": med("rss_mb")}
    n = max(len(rs) for rs in runs.values()) if runs else 0
    lines.append("")
    lines.append(("medians of %d runs each:" % n) if n > 1 else "side by side:")
    lines += side_by_side([("events/s", "eps", ",.0f", "(higher is better)"),
                           ("CPU s per 1M events", "cpu_per_m", ".2f", "(lower is better)"),
                           ("peak RSS MB", "rss_mb", ".1f", "(lower is better)")], by)
    if "sealtrail" in by and "rsyslog" in by:
        s, r = by["sealtrail"], by["rsyslog"]
        lines.append("")
        lines.append(f"ratio sealtrail/rsyslog: events/s {s['eps'] / r['eps']:.2f}x, "
                     f"CPU s per 1M events {s['cpu_per_m'] / r['cpu_per_m']:.2f}x"
                     + (f", peak RSS {s['rss_mb'] / r['rss_mb']:.2f}x" if s["rss_mb"] and r["rss_mb"] else "")
                     + " (higher events/s and lower CPU and RSS are better)")
    return "\n".join(lines) + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=2_000_000)
    ap.add_argument("--out", default=os.path.join(here, "out"))
    ap.add_argument("--systems", default="rsyslog,sealtrail", help="comma-separated: rsyslog, sealtrail")
    ap.add_argument("--sealtrail", default=os.path.join(here, "..", "target", "release", "sealtrail"))
    ap.add_argument("--rounds", type=int, default=1,
                    help="run each system this many times, alternately; the table reports medians")
    ap.add_argument("--regen", action="store_true", help="regenerate the input file")
    ap.add_argument("--transports", default="tcp", help="comma-separated: tcp, tls (each is measured in turn)")
    a = ap.parse_args()
    transports = [t.strip() for t in a.transports.split(",") if t.strip()]
    if any(t not in ("tcp", "tls") for t in transports):
        sys.exit(f"unknown transport in {a.transports}")
    certs = make_certs(a.out) if "tls" in transports else None
    systems = [s.strip() for s in a.systems.split(",") if s.strip()]
    for s in systems:
        if s not in ("rsyslog", "sealtrail"):
            sys.exit(f"unknown system {s}")
    if a.rounds < 1:
        sys.exit("--rounds must be at least 1")
    os.makedirs(a.out, exist_ok=True)
    input_path = ensure_input(a.out, a.count, a.regen)
    input_bytes = os.path.getsize(input_path)

    results = []
    for rnd in range(1, a.rounds + 1):
        for t in transports:
            for s in systems:
                label = f" (round {rnd} of {a.rounds})" if a.rounds > 1 else ""
                print(f"running {s} over {t}{label} ...", flush=True)
                c = certs if t == "tls" else None
                r = bench_rsyslog(input_path, a.count, a.out, c) if s == "rsyslog" else \
                    bench_sealtrail(a.sealtrail, input_path, a.count, a.out, c)
                r["round"] = rnd
                r["transport"] = t
                print(f"  {s}: {r['events']:,} events in {r['wall']:.2f} s, {r['cpu']:.2f} CPU s, "
                      f"peak RSS {r['rss_mb']:.1f} MB", flush=True)
                results.append(r)

    texts = [table([r for r in results if r["transport"] == t], a.count, input_bytes, t) for t in transports]
    if len(transports) > 1:
        texts.append(tls_beside_tcp(results))
    text = "\n".join(texts)
    name = "results.txt" if transports == ["tcp"] else "results-tls.txt"
    print()
    print(text, end="")
    with open(os.path.join(a.out, name), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, name.replace(".txt", ".json")), "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwritten: {os.path.join(a.out, name)}")


def tls_beside_tcp(results):
    """Per system: medians over TLS beside TCP, and the ratio (the cost of TLS)."""
    lines = ["TLS beside TCP, medians (same run):",
             f"{'':<12}{'TCP events/s':>14}{'TLS events/s':>14}{'ratio':>8}{'TCP CPU/1M':>12}{'TLS CPU/1M':>12}{'ratio':>8}"]
    for s in ("rsyslog", "sealtrail"):
        med = {}
        for t in ("tcp", "tls"):
            rs = [r for r in results if r["system"] == s and r["transport"] == t]
            if rs:
                med[t] = (statistics.median(r["events"] / r["wall"] for r in rs),
                          statistics.median(r["cpu"] / (r["events"] / 1e6) for r in rs))
        if len(med) == 2:
            (e0, c0), (e1, c1) = med["tcp"], med["tls"]
            lines.append(f"{s:<12}{e0:>14,.0f}{e1:>14,.0f}{e1 / e0:>7.2f}x{c0:>12.2f}{c1:>12.2f}{c1 / c0:>7.2f}x")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
