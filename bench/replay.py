#!/usr/bin/env python3
"""Detector benchmark: `sealtrail replay` over 1,000,000 authentication lines.

Prints lines/s and peak memory (max RSS) of normalisation + auth recognition + the
detector, offline. The input mixes what a busy bastion host logs under attack: sshd
failures from many sources (invalid users, passwords), the PAM lines of the same
attempts, accepted logins, sudo commands and failures, logind sessions. Issue 3's aim:
the detector must never be the bottleneck of ingestion (over 1,000,000 lines/s).

Called by bench/run.sh (BENCH_SYSTEMS containing "replay"); writes bench/out/replay.txt.
"""

import argparse
import os
import random
import subprocess
import sys
import time


def generate(path, count, seed=7):
    rng = random.Random(seed)
    users = ["alice", "bob", "carol", "deploy", "root", "postgres", "ansible"]
    bad = ["admin", "test", "oracle", "ubuntu", "pi", "guest", "support", "git"]
    attackers = [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                 for _ in range(5000)]
    with open(path, "w") as f:
        for i in range(count):
            t = 1_700_000_000 + i // 50
            ts = time.strftime("%b %d %H:%M:%S", time.gmtime(t))
            pid = 1000 + i % 60000
            r = rng.random()
            ip = rng.choice(attackers)
            if r < 0.35:
                line = f"sshd[{pid}]: Failed password for invalid user {rng.choice(bad)} from {ip} port {rng.randrange(1024, 65535)} ssh2"
            elif r < 0.55:
                line = f"sshd[{pid}]: Failed password for {rng.choice(users)} from {ip} port {rng.randrange(1024, 65535)} ssh2"
            elif r < 0.70:
                line = f"sshd[{pid}]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={rng.choice(users)}"
            elif r < 0.78:
                line = f"sshd[{pid}]: Invalid user {rng.choice(bad)} from {ip} port {rng.randrange(1024, 65535)}"
            elif r < 0.86:
                line = f"sshd[{pid}]: Accepted publickey for {rng.choice(users)} from 10.0.{rng.randrange(4)}.{rng.randrange(1, 255)} port {rng.randrange(1024, 65535)} ssh2: ED25519 SHA256:AbCdEf{i % 97}"
            elif r < 0.93:
                u = rng.choice(users)
                line = f"sudo[{pid}]:    {u} : TTY=pts/{rng.randrange(8)} ; PWD=/home/{u} ; USER=root ; COMMAND=/usr/bin/systemctl restart app{i % 13}"
            elif r < 0.96:
                line = f"sudo[{pid}]: pam_unix(sudo:auth): authentication failure; logname={rng.choice(users)} uid=1000 euid=0 tty=/dev/pts/1 ruser={rng.choice(users)} rhost=  user={rng.choice(users)}"
            else:
                line = f"systemd-logind[412]: New session {i} of user {rng.choice(users)}."
            f.write(f"{ts} bastion-01 {line}\n")


def measure(sealtrail, path, count, label):
    """Best of 3 runs of `replay` over `path`: its figures as one paragraph."""
    size = os.path.getsize(path)
    runs = []
    for _ in range(3):
        t = time.time()
        p = subprocess.Popen([sealtrail, "replay", "--show", "none", "--timezone", "UTC", path],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.time() - t
        summary = p.stderr.read().decode(errors="replace").splitlines()
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"replay failed: {summary}")
        runs.append((wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, summary[0] if summary else ""))
    wall, cpu, rss, summary = min(runs)
    return (
        f"replay: {count:,} {label} ({size / count:.0f} B/line), best of 3\n"
        f"  {count / wall:,.0f} lines/s wall, {count / cpu:,.0f} lines per CPU-second "
        f"({cpu / count * 1e6:.2f} CPU s per 1M lines), peak RSS {rss:.1f} MiB\n  {summary}\n"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--out", default="bench/out")
    ap.add_argument("--sealtrail", default="target/release/sealtrail")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    auth = os.path.join(args.out, f"auth-{args.count}.log")
    if not os.path.exists(auth):
        t = time.time()
        generate(auth, args.count)
        print(f"generated {auth} in {time.time() - t:.1f} s")
    # The mixed syslog lines of the ingestion benchmark (kernel, cron, nginx, sshd, ...),
    # without PRI as a file holds them: what a detector sees on an ordinary host.
    mixed = os.path.join(args.out, f"mixed-{args.count}.log")
    if not os.path.exists(mixed):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import ingest

        ingest.generate(mixed, args.count, pri=False)
    text = measure(args.sealtrail, auth, args.count, "auth lines (a bastion under attack)")
    text += measure(args.sealtrail, mixed, args.count, "mixed syslog lines")
    print(text, end="")
    with open(os.path.join(args.out, "replay.txt"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
