#!/usr/bin/env python3
"""Recognition benchmark: how many labelled failed logins `sealtrail replay` recognises.

Runs `sealtrail replay --show all` over public labelled corpora (other projects' parser
tests, kept outside this repository) and compares what sealtrail made of each line with
their labels:

* sshguard's `tests.labels.jsonl`: a line, the attack sshguard expects (service,
  address) or "*" for "not an attack";
* CrowdSec hub's `.tests/*/`: a log file and `parser.assert`, whose `s01-parse` results
  name, per line, the kind of line (`Meta["log_type"]`), the source (`Meta["source_ip"]`)
  and the user (`Meta["target_user"]`).

Prints, per corpus and in total: the labelled failed logins in scope (sshd and PAM;
sshguard's other services are listed but not counted), how many were recognised, how
many with the right source address and, where the label names one, the right user, and
how many lines labelled "not an attack" sealtrail counted as attempts. With `-v`, every
miss.

The corpora are read from the path given, else $SEALTRAIL_CORPORA, else
`../shared/corpora` beside the repository. Without them it says so and exits 0: they
are measurement data, never fixtures, and not part of this repository.

Python 3 standard library only.
"""

import argparse
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# sshguard service codes (its attack.h) that sealtrail recognises: counted.
IN_SCOPE = {100: "sshd", 340: "cockpit (PAM)"}
# CrowdSec log types that are failed logins, and those that are not attacks.
CS_FAILED = {"ssh_failed-auth", "pam_failed_auth"}
CS_BENIGN = {"auth_success"}


def canon(ip):
    """An address as sealtrail writes it: no zone, IPv4-mapped IPv6 as IPv4."""
    if not ip:
        return None
    ip = ip.split("%")[0].strip("[]")
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped:
        a = a.ipv4_mapped
    return str(a)


def replay(sealtrail, lines):
    """Runs replay over `lines` (no blank ones); returns {line index: auth facts}."""
    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
        for line in lines:
            f.write(line + "\n")
        path = f.name
    try:
        p = subprocess.run(
            [sealtrail, "replay", "--show", "all", "--timezone", "UTC", path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    finally:
        os.unlink(path)
    if p.returncode != 0:
        sys.exit(f"replay failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    out = {}
    for raw in p.stdout.decode(errors="replace").splitlines():
        ev = json.loads(raw)
        e = ev.get("event", {})
        if e.get("kind") != "event":
            continue
        n = int(e["id"].rsplit(":", 1)[1]) - 1
        if "action" not in e:
            out[n] = None
            continue
        auth = ev.get("sealtrail", {}).get("auth", {})
        out[n] = {
            "action": e["action"],
            "outcome": e.get("outcome"),
            "category": e.get("category", []),
            "ip": canon(ev.get("source", {}).get("ip")),
            "user": ev.get("user", {}).get("name"),
            "attempts": auth.get("attempts", 0),
            "from_connection": auth.get("from_connection", []),
        }
    return out


def is_attempt(r):
    """Counted as an attempt: attempts of its own, or a failure that counts 1 when
    nothing else of its connection did (an abandoned authentication)."""
    if r is None:
        return False
    return r["attempts"] > 0 or r["action"] in ("ssh_auth_abandoned", "ssh_max_auth_attempts")


class Tally:
    def __init__(self, name):
        self.name = name
        self.failed = 0
        self.recognised = 0
        self.right_source = 0
        self.with_user = 0
        self.right_user = 0
        self.benign = 0
        self.false_attempts = 0
        self.misses = []

    def failure(self, line, r, ip, user):
        self.failed += 1
        if r is None:
            self.misses.append(("not recognised", line))
            return
        self.recognised += 1
        if r["ip"] == canon(ip):
            self.right_source += 1
        else:
            self.misses.append((f"source {r['ip']} (expected {canon(ip)})", line))
        if user is not None:
            self.with_user += 1
            if r["user"] == user:
                self.right_user += 1
            else:
                self.misses.append((f"user {r['user']!r} (expected {user!r})", line))

    def not_attack(self, line, r):
        self.benign += 1
        if is_attempt(r):
            self.false_attempts += 1
            self.misses.append((f"counted as an attempt ({r['action']})", line))

    def add(self, o):
        for k in ("failed", "recognised", "right_source", "with_user", "right_user",
                  "benign", "false_attempts"):
            setattr(self, k, getattr(self, k) + getattr(o, k))

    def rows(self):
        def pct(a, b):
            return f"{a}/{b} ({100 * a / b:.1f} %)" if b else "-"
        return [
            ("labelled failed logins", str(self.failed)),
            ("recognised", pct(self.recognised, self.failed)),
            ("recognised with the right source", pct(self.right_source, self.failed)),
            ("recognised with the right user", pct(self.right_user, self.with_user)),
            ("false attempts on not-an-attack lines", pct(self.false_attempts, self.benign)),
        ]


def sshguard(root, sealtrail):
    path = os.path.join(root, "sshguard", "tests.labels.jsonl")
    if not os.path.exists(path):
        return None, {}
    items = []
    with open(path) as f:
        for raw in f:
            d = json.loads(raw)
            line = d["line"].strip()
            if line:
                items.append((line, d))
    res = replay(sealtrail, [line for line, _ in items])
    t = Tally("sshguard")
    other = {}
    for i, (line, d) in enumerate(items):
        r = res.get(i)
        service = d.get("service")
        if service is None:
            t.not_attack(line, r)
        elif service in IN_SCOPE:
            t.failure(line, r, d.get("addr"), None)
        else:
            other[service] = other.get(service, 0) + 1
    return t, other


ASSERT = re.compile(
    r'results\["s01-parse"\]\["([^"]+)"\]\[(\d+)\]\.'
    r'(Success == (\w+)|Evt\.Meta\["(\w+)"\] == "(.*)")$')
# The hub's parsers of sshd and PAM lines (not its honeypot or auditd parsers).
CS_PARSERS = {"crowdsecurity/sshd-logs", "crowdsecurity/sshd-success-logs",
              "crowdsecurity/pam-logs"}


def crowdsec(root, sealtrail):
    tests = os.path.join(root, "crowdsec-hub", ".tests")
    if not os.path.isdir(tests):
        return None
    t = Tally("crowdsec")
    for name in sorted(os.listdir(tests)):
        d = os.path.join(tests, name)
        pa = os.path.join(d, "parser.assert")
        logs = [x for x in os.listdir(d) if x.endswith(".log")] if os.path.isdir(d) else []
        if not os.path.exists(pa) or len(logs) != 1:
            continue
        # line index -> parser -> its assertions
        labels = {}
        with open(pa) as f:
            for raw in f:
                m = ASSERT.match(raw.strip())
                if not m or m.group(1) not in CS_PARSERS:
                    continue
                lab = labels.setdefault(int(m.group(2)), {}).setdefault(m.group(1), {})
                if m.group(4) is not None:
                    lab["success"] = m.group(4) == "true"
                else:
                    lab[m.group(5)] = m.group(6)
        if not labels:
            continue  # not an sshd/PAM corpus (auditd, honeypots)
        with open(os.path.join(d, logs[0]), errors="replace") as f:
            lines = [x.rstrip("\n") for x in f]
        # Indexes count the log's lines; replay skips blank ones.
        kept = [(i, x) for i, x in enumerate(lines) if x.strip()]
        res = replay(sealtrail, [x for _, x in kept])
        for n, (i, line) in enumerate(kept):
            parsed = [lab for lab in labels.get(i, {}).values() if lab.get("success")]
            r = res.get(n)
            failed = [lab for lab in parsed if lab.get("log_type") in CS_FAILED]
            if failed:
                lab = failed[0]
                t.failure(line, r, lab.get("source_ip"), lab.get("target_user"))
            elif not parsed or any(lab.get("log_type") in CS_BENIGN for lab in parsed):
                # No parser took it (a lookalike), or a successful login.
                t.not_attack(line, r)
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpora", nargs="?", help="the corpora folder (default: "
                    "$SEALTRAIL_CORPORA, else ../shared/corpora beside the repository)")
    ap.add_argument("--sealtrail", default=os.path.join(REPO, "target", "release", "sealtrail"))
    ap.add_argument("-v", "--verbose", action="store_true", help="list every miss")
    args = ap.parse_args()
    root = args.corpora or os.environ.get("SEALTRAIL_CORPORA") or os.path.join(
        REPO, "..", "shared", "corpora")
    if not os.path.isdir(root):
        print(f"recognition: no corpora at {root}; nothing measured "
              "(give a path or set SEALTRAIL_CORPORA)")
        return 0
    if not os.access(args.sealtrail, os.X_OK):
        sys.exit(f"recognition: {args.sealtrail} is not executable (cargo build --release)")
    sg, other = sshguard(root, args.sealtrail)
    cs = crowdsec(root, args.sealtrail)
    tallies = [t for t in (sg, cs) if t is not None]
    if not tallies:
        print(f"recognition: neither sshguard/ nor crowdsec-hub/.tests/ under {root}; "
              "nothing measured")
        return 0
    total = Tally("total")
    for t in tallies:
        total.add(t)
    cols = tallies + [total]
    width = max(len(k) for k, _ in total.rows())
    print(f"{'':<{width}}  " + "  ".join(f"{t.name:>22}" for t in cols))
    for i, (k, _) in enumerate(total.rows()):
        print(f"{k:<{width}}  " + "  ".join(f"{t.rows()[i][1]:>22}" for t in cols))
    if sg is not None:
        print("in scope: sshguard services " + ", ".join(
            f"{k} {v}" for k, v in IN_SCOPE.items()) + "; CrowdSec log types "
            + ", ".join(sorted(CS_FAILED)))
        if other:
            print("not counted (services sealtrail does not recognise): " + ", ".join(
                f"{k}: {v}" for k, v in sorted(other.items())))
    if args.verbose:
        for t in tallies:
            for why, line in t.misses:
                print(f"{t.name}: {why}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
