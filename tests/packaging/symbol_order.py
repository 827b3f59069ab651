"""Checks that a release binary was linked in the order of packaging/sealtrail.order.

build.rs hands the list to lld; names it does not find are skipped silently. So a list
recorded before a Cargo.lock or toolchain change (the mangled names carry a hash of
those) would let the idle daemon's resident text grow back from ~2.6 to ~6.5 MB without
any build failing. Passes when at least 90 % of the names are in the binary and at least
90 % of the steps between consecutive found names go up in address (lld placed them in
the file's order).

    python3 tests/packaging/symbol_order.py target/release/sealtrail packaging/sealtrail.order
"""
import subprocess
import sys


def main(binary, order):
    nm = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True)
    addr = {}
    for line in nm.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in ("t", "T", "w", "W"):
            addr.setdefault(parts[2], int(parts[0], 16))
    with open(order) as f:
        names = [n for n in f.read().split("\n") if n]
    found = [addr[n] for n in names if n in addr]
    steps = max(len(found) - 1, 0)
    rising = sum(1 for a, b in zip(found, found[1:]) if b > a)
    print(f"symbol order: {len(found)} of {len(names)} names found, {rising} of {steps} steps in file order")
    if len(found) * 10 < len(names) * 9:
        print("the list is stale: run packaging/symbol-order.sh", file=sys.stderr)
        return 1
    if rising * 10 < steps * 9:
        print("the binary was not linked in the list's order (build.rs did not pass it to lld?)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
