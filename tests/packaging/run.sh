#!/usr/bin/env bash
# Packaging tests for sealtrail: builds the .deb and .rpm, checks their contents,
# lintian and the unit's hardening score, then installs, upgrades, removes and purges
# the .deb in a minimal Debian 12 tree (debootstrap), first without systemd running,
# then booted with `systemd-nspawn -b` (systemd as PID 1): the service starts, a
# `logger` message reaches the archive, reload works (and refuses a bad file),
# `systemctl stop` seals the last segment, and `sealtrail verify` passes.
#
# Runs as root on Debian 12 with only package registries reachable. Installs what it
# needs (debootstrap, systemd-container, lintian, rpm, binutils; cargo-deb and
# cargo-generate-rpm from crates.io) when missing. The debootstrap tree is cached as a
# tarball in $SEALTRAIL_TEST_CACHE (default /var/cache/sealtrail-test) and rebuilt
# when missing. Prints one `ok`/`FAIL` line per check and ends with
# "N passed, M failed"; exit 0 only if nothing failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export DEBIAN_FRONTEND=noninteractive
export PATH="$HOME/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"

CACHE="${SEALTRAIL_TEST_CACHE:-/var/cache/sealtrail-test}"
SUITE=bookworm
# Packages added to minbase: an init to boot, dbus so that the boot is a normal one,
# man-db because `systemd-analyze verify` checks the unit's Documentation= pages.
INCLUDE="systemd,systemd-sysv,dbus,man-db"
# Bump when the tree's recipe changes, so stale caches are rebuilt.
ROOTFS_TAG="v1-$SUITE-minbase-${INCLUDE//,/-}"
TARBALL="$CACHE/rootfs-$ROOTFS_TAG.tar"
CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1
EXPOSURE_MAX=2.0
# PATH inside the Debian tree.
CPATH="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

T0=$SECONDS
PASSED=0
FAILED=0
NSPAWN_PID=""
LEADER=""
WORK=""

log() { printf '\n==> %s (%d s)\n' "$*" "$((SECONDS - T0))"; }
pass() {
  PASSED=$((PASSED + 1))
  printf 'ok    %s\n' "$*"
}
fail() {
  FAILED=$((FAILED + 1))
  printf 'FAIL  %s\n' "$*"
}
# check DESCRIPTION CMD...: runs CMD, records the result, never aborts.
check() {
  local desc="$1"
  shift
  if "$@"; then pass "$desc"; else fail "$desc"; fi
}
die() {
  fail "$*"
  exit 1
}
is_eq() { [ "$1" = "$2" ]; }
not() { ! "$@"; }

# C CMD...: runs CMD inside the booted container (all its namespaces, its root).
C() { nsenter -t "$LEADER" -a -r -w env -i "$CPATH" LANG=C.UTF-8 "$@"; }
stop_container() {
  [ -n "$NSPAWN_PID" ] || return 0
  if kill -0 "$NSPAWN_PID" 2>/dev/null; then
    [ -n "$LEADER" ] && C systemctl poweroff >/dev/null 2>&1 || true
    for _ in $(seq 1 60); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 1; done
    if kill -0 "$NSPAWN_PID" 2>/dev/null; then
      kill -TERM "$NSPAWN_PID" 2>/dev/null || true
      sleep 2
      kill -KILL "$NSPAWN_PID" 2>/dev/null || true
    fi
    wait "$NSPAWN_PID" 2>/dev/null || true
  fi
  NSPAWN_PID=""
  LEADER=""
}

finish() {
  local rc=$?
  stop_container || true
  if [ -n "$WORK" ] && [ -d "$WORK" ] && [ -z "${SEALTRAIL_TEST_KEEP:-}" ]; then
    rm -rf --one-file-system "$WORK"
  fi
  echo
  echo "packaging tests: $((SECONDS - T0)) s"
  echo "$PASSED passed, $FAILED failed"
  if [ "$rc" -eq 0 ] && [ "$FAILED" -gt 0 ]; then rc=1; fi
  exit "$rc"
}
trap finish EXIT

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, systemd-nspawn)"

# ---------------------------------------------------------------- tools
log "tools"
missing=()
type -P debootstrap >/dev/null || missing+=(debootstrap)
type -P systemd-nspawn >/dev/null || missing+=(systemd-container)
type -P lintian >/dev/null || missing+=(lintian)
type -P rpm >/dev/null || missing+=(rpm)
type -P strip >/dev/null || missing+=(binutils)
type -P systemd-analyze >/dev/null || missing+=(systemd)
type -P cc >/dev/null || missing+=(build-essential)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# From crates.io, once per machine (~8 min on 2 cores; the binaries stay in ~/.cargo/bin).
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
  t=$SECONDS
  cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION"
  echo "cargo install cargo-deb: $((SECONDS - t)) s"
fi
if [ "$(cargo generate-rpm --version 2>/dev/null)" != "cargo-generate-rpm $CARGO_GENERATE_RPM_VERSION" ]; then
  t=$SECONDS
  cargo install --locked --quiet cargo-generate-rpm --version "$CARGO_GENERATE_RPM_VERSION"
  echo "cargo install cargo-generate-rpm: $((SECONDS - t)) s"
fi
cargo deb --version
cargo generate-rpm --version

# ---------------------------------------------------------------- build
log "build packages"
t=$SECONDS
packaging/build.sh
echo "build: $((SECONDS - t)) s"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
DEB="$TARGET_DIR/debian/sealtrail_${VERSION}-1_amd64.deb"
RPM="$TARGET_DIR/generate-rpm/sealtrail-${VERSION}-1.x86_64.rpm"
[ -f "$DEB" ] || die "no $DEB"
[ -f "$RPM" ] || die "no $RPM"

WORK="$(mktemp -d /var/tmp/sealtrail-pkgtest.XXXXXX)"

# The upgrade: same binary, next revision, and a changed packaged config, so that
# dpkg meets a conffile changed on both sides (the user's edit must win).
UPGRADE="$WORK/sealtrail_${VERSION}-2_amd64.deb"
dpkg-deb -R "$DEB" "$WORK/up"
sed -i "s/^Version: .*/Version: ${VERSION}-2/" "$WORK/up/DEBIAN/control"
printf '\n# changed by the package in revision 2\n' >>"$WORK/up/etc/sealtrail/sealtrail.toml"
if [ -f "$WORK/up/DEBIAN/md5sums" ]; then
  (cd "$WORK/up" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' |
    xargs -0 md5sum >DEBIAN/md5sums)
fi
dpkg-deb --root-owner-group -b "$WORK/up" "$UPGRADE" >/dev/null
rm -rf "$WORK/up"

# ---------------------------------------------------------------- static checks
log "package contents"
deb_files="$(dpkg-deb -c "$DEB" | awk '{print $NF}' | sed 's|^\./|/|')"
for f in /usr/bin/sealtrail /etc/sealtrail/sealtrail.toml \
  /usr/lib/systemd/system/sealtrail.service /usr/lib/sysusers.d/sealtrail.conf \
  /usr/lib/tmpfiles.d/sealtrail.conf /usr/share/man/man1/sealtrail.1.gz \
  /usr/share/man/man1/sealtrail-run.1.gz /usr/share/man/man1/sealtrail-status.1.gz \
  /usr/share/bash-completion/completions/sealtrail \
  /usr/share/zsh/vendor-completions/_sealtrail \
  /usr/share/fish/vendor_completions.d/sealtrail.fish \
  /usr/share/doc/sealtrail/copyright /usr/share/doc/sealtrail/changelog.Debian.gz; do
  check "deb contains $f" grep -qxF "$f" <<<"$deb_files"
done
info="$(dpkg-deb -I "$DEB")"
echo "$info" | sed -n '/Package:/,/Description:/p'
check "deb Depends has systemd | systemd-standalone-sysusers" \
  grep -qE '^ Depends:.*systemd \| systemd-standalone-sysusers' <<<"$info"
check "deb does not depend on a group package (adm comes from the unit)" \
  bash -c '! grep -qE "^ Depends:.*(adduser|passwd)" <<<"$1"' _ "$info"
check "deb marks the config as conffile" \
  bash -c 'dpkg-deb -f "$1" >/dev/null && dpkg-deb --ctrl-tarfile "$1" | tar -xO ./conffiles | grep -qxF /etc/sealtrail/sealtrail.toml' _ "$DEB"
check "deb has postinst, prerm, postrm" \
  bash -c 'for s in postinst prerm postrm; do dpkg-deb --ctrl-tarfile "$1" | tar -t | grep -qx "./$s" || exit 1; done' _ "$DEB"
check "deb binary is stripped" \
  bash -c 'd=$(mktemp -d); dpkg-deb -x "$1" "$d"; ! readelf -S "$d/usr/bin/sealtrail" | grep -qE "\.(symtab|debug_info)"; rc=$?; rm -rf "$d"; exit $rc' _ "$DEB"

check "release binary linked in the order of packaging/sealtrail.order (else run packaging/symbol-order.sh)" \
  python3 tests/packaging/symbol_order.py "$TARGET_DIR/release/sealtrail" packaging/sealtrail.order

log "lintian"
lintian_out="$(lintian --fail-on error "$DEB" 2>&1)" && lintian_rc=0 || lintian_rc=$?
echo "$lintian_out" | grep -v 'running with root privileges' || true
check "lintian reports no errors" [ "$lintian_rc" -eq 0 ]

log "rpm contents"
rpm_files="$(rpm -qpl "$RPM" 2>/dev/null)"
for f in /usr/bin/sealtrail /etc/sealtrail/sealtrail.toml \
  /usr/lib/systemd/system/sealtrail.service /usr/lib/sysusers.d/sealtrail.conf \
  /usr/lib/tmpfiles.d/sealtrail.conf /usr/share/man/man1/sealtrail.1 \
  /usr/share/bash-completion/completions/sealtrail /usr/share/zsh/site-functions/_sealtrail; do
  check "rpm contains $f" grep -qxF "$f" <<<"$rpm_files"
done
check "rpm marks the config as config(noreplace)" \
  bash -c 'rpm -qp --qf "[%{FILEFLAGS:fflags} %{FILENAMES}\n]" "$1" 2>/dev/null | grep -qE "^cn? /etc/sealtrail/sealtrail.toml$|^c.*n.* /etc/sealtrail/sealtrail.toml$"' _ "$RPM"
rpm_scripts="$(rpm -qp --scripts "$RPM" 2>/dev/null)"
check "rpm has post-install, pre-uninstall and post-uninstall scripts" \
  bash -c 'grep -q "^postinstall scriptlet" <<<"$1" && grep -q "^preuninstall scriptlet" <<<"$1" && grep -q "^postuninstall scriptlet" <<<"$1"' _ "$rpm_scripts"
check "rpm does not require a group package" \
  bash -c '! rpm -qpR "$1" 2>/dev/null | grep -qE "^(setup|shadow-utils|group)"' _ "$RPM"

log "unit hardening"
security="$(systemd-analyze security --offline=true --no-pager systemd/sealtrail.service 2>&1)"
score="$(sed -n 's/.*Overall exposure level for sealtrail.service: \([0-9.]*\).*/\1/p' <<<"$security")"
echo "exposure score: ${score:-?} (target <= $EXPOSURE_MAX; rsyslog 9.6, fluent-bit 9.6, vector 9.3)"
check "exposure score ${score:-?} <= $EXPOSURE_MAX" \
  awk -v s="${score:-99}" -v m="$EXPOSURE_MAX" 'BEGIN { exit !(s != "" && s + 0 <= m + 0) }'

# ---------------------------------------------------------------- Debian tree
log "minimal Debian tree"
mirror="${SEALTRAIL_TEST_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -oE 'https?://[^ ]+/debian/?( |$)' | tr -d ' ' | sed 's|/$||' | head -1 || true)"
fi
mirror="${mirror:-http://deb.debian.org/debian}"
if [ ! -s "$TARBALL" ]; then
  echo "no cached tree at $TARBALL: debootstrap from $mirror"
  mkdir -p "$CACHE"
  staging="$CACHE/staging.$$"
  rm -rf --one-file-system "$staging"
  t=$SECONDS
  debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$staging" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap.log"; die "debootstrap failed"; }
  rm -rf "$staging/var/cache/apt/archives/"*.deb
  tar --numeric-owner --xattrs -C "$staging" -cpf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
  rm -rf --one-file-system "$staging"
  echo "debootstrap and tarball: $((SECONDS - t)) s"
else
  echo "cached: $TARBALL"
fi

# new_tree NAME: a fresh copy of the cached tree with the packages in /root
# (not /tmp: systemd-nspawn mounts a fresh tmpfs there).
new_tree() {
  local dir="$WORK/$1"
  mkdir -p "$dir"
  tar --numeric-owner --xattrs -C "$dir" -xpf "$TARBALL"
  cp "$DEB" "$UPGRADE" "$dir/root/"
  echo "$1" >"$dir/etc/hostname"
  echo "$dir"
}

DEB_NAME="$(basename "$DEB")"
UP_NAME="$(basename "$UPGRADE")"

# ---------------------------------------------------------------- without systemd
log "install, upgrade, remove, purge without systemd running"
T1="$(new_tree plain)"
# N CMD...: runs CMD inside the tree (not booted; systemd is installed but not PID 1).
N() { systemd-nspawn --register=no --keep-unit -q -D "$T1" --pipe env -i "$CPATH" LANG=C.UTF-8 "$@" 2> >(grep -v 'propagate' >&2); }
out="$(N dpkg -i "/root/$DEB_NAME" 2>&1)" && rc=0 || rc=$?
echo "$out" | sed 's/^/  | /'
check "dpkg -i succeeds without systemd" [ "$rc" -eq 0 ]
check "postinst printed where the public key is" grep -q 'public key: /var/lib/sealtrail/state/signing.pub' <<<"$out"
check "system user sealtrail exists" N getent passwd sealtrail
check "signing key is 0600 and owned by sealtrail" \
  is_eq "$(N stat -c '%a %U' /var/lib/sealtrail/state/signing.key || true)" "600 sealtrail"
check "public key exists" test -s "$T1/var/lib/sealtrail/state/signing.pub"
check "the unit is enabled" test -L "$T1/etc/systemd/system/multi-user.target.wants/sealtrail.service"
check "sealtrail check-config accepts the packaged config" N sealtrail check-config --config /etc/sealtrail/sealtrail.toml
key_before="$(sha256sum "$T1/var/lib/sealtrail/state/signing.key" 2>/dev/null | cut -d' ' -f1 || true)"
sed -i 's/^max_age = .*/max_age = "1h"/' "$T1/etc/sealtrail/sealtrail.toml"
out="$(N dpkg --force-confold -i "/root/$UP_NAME" 2>&1)" && rc=0 || rc=$?
echo "$out" | sed 's/^/  | /'
check "upgrade with --force-confold succeeds" [ "$rc" -eq 0 ]
check "upgrade installed revision 2" is_eq "$(N dpkg-query -W -f '${Version}' sealtrail)" "$VERSION-2"
check "upgrade kept the user's config" grep -qx 'max_age = "1h"' "$T1/etc/sealtrail/sealtrail.toml"
check "upgrade left the package's new config as .dpkg-dist" test -f "$T1/etc/sealtrail/sealtrail.toml.dpkg-dist"
check "upgrade kept the signing key" \
  is_eq "$(sha256sum "$T1/var/lib/sealtrail/state/signing.key" 2>/dev/null | cut -d' ' -f1 || true)" "${key_before:-none}"
check "dpkg -r succeeds" N dpkg -r sealtrail
check "remove deleted the binary" test ! -e "$T1/usr/bin/sealtrail"
check "remove kept the config" test -f "$T1/etc/sealtrail/sealtrail.toml"
check "remove kept the state" test -f "$T1/var/lib/sealtrail/state/signing.key"
check "dpkg -P succeeds" N dpkg -P sealtrail
check "purge deleted the config" test ! -e "$T1/etc/sealtrail"
check "purge deleted the state (archive was empty)" test ! -e "$T1/var/lib/sealtrail"
rm -rf --one-file-system "$T1"

# ---------------------------------------------------------------- booted
log "boot with systemd-nspawn -b"
# start_container: boots a fresh tree in the background; sets T2, NSPAWN_PID, LEADER.
start_container() {
  T2="$(new_tree "booted$1")"
  systemd-nspawn --register=no --keep-unit -q -D "$T2" --private-network -b --console=pipe \
    </dev/null >"$WORK/console.log" 2>&1 &
  NSPAWN_PID=$!
  LEADER=""
  for _ in $(seq 1 30); do
    LEADER="$(pgrep -P "$NSPAWN_PID" | head -1 || true)"
    [ -n "$LEADER" ] && break
    sleep 1
  done
}

# wait_for SECONDS CMD...: polls CMD once a second.
wait_for() {
  local n="$1"
  shift
  for _ in $(seq 1 "$n"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  return 1
}

# nspawn may briefly fork a helper before the container's init: when the process we
# picked is gone, pick the child that is there now (seen once as "nsenter: stat of
# /proc/N/ns/user failed" and a boot that never finished).
refresh_leader() {
  if [ -z "$LEADER" ] || ! kill -0 "$LEADER" 2>/dev/null; then
    LEADER="$(pgrep -P "$NSPAWN_PID" | tail -1 || true)"
  fi
}
# (Output is captured before grep -q: with pipefail, grep's early exit would fail the pipe.)
booted() {
  refresh_leader
  [ -n "$LEADER" ] || return 1
  grep -qE '^(running|degraded)$' <<<"$(C systemctl is-system-running 2>/dev/null || true)"
}

# A container that has not booted within 120 s is stopped and a fresh one started
# once more; a second failure fails the test with the console log.
for attempt in 1 2; do
  start_container "$attempt"
  if wait_for 120 booted; then
    break
  fi
  C systemctl is-system-running || true
  C systemctl --failed --no-pager || true
  tail -30 "$WORK/console.log"
  [ "$attempt" -eq 2 ] && die "the container did not finish booting"
  echo "the container did not boot; stopping it and starting a fresh one once more"
  stop_container
  NSPAWN_PID=""
  rm -rf --one-file-system "$T2"
done
pass "container booted, systemd is PID 1 ($(C systemctl is-system-running))"

out="$(C dpkg -i "/root/$DEB_NAME" 2>&1)" && rc=0 || rc=$?
echo "$out" | sed 's/^/  | /'
check "dpkg -i succeeds with systemd running" [ "$rc" -eq 0 ]
active() { [ "$(C systemctl is-active sealtrail 2>/dev/null)" = "active" ]; }
check "the service became active" wait_for 30 active
C systemctl status sealtrail --no-pager -n 0 2>/dev/null | sed 's/^/  | /' || true
mainpid() { C systemctl show -p MainPID --value sealtrail; }
PID1="$(mainpid)"
check "the daemon runs as user sealtrail" is_eq "$(C stat -c %U "/proc/$PID1")" sealtrail
check "the daemon's only capability is CAP_NET_BIND_SERVICE" \
  is_eq "$(C sed -n 's/^CapEff:[[:space:]]*//p' "/proc/$PID1/status")" 0000000000000400
check "the watchdog is armed (WatchdogSec=60)" is_eq "$(C systemctl show -p WatchdogUSec --value sealtrail)" 1min
check "the unit bounds its memory (MemoryMax=256M)" is_eq "$(C systemctl show -p MemoryMax --value sealtrail)" 268435456

# systemd-analyze verify, where the unit's binary and user exist.
verify_err="$(C systemd-analyze verify /usr/lib/systemd/system/sealtrail.service 2>&1 >/dev/null || true)"
[ -z "$verify_err" ] || echo "$verify_err" | sed 's/^/  | /'
check "systemd-analyze verify prints nothing on stderr" [ -z "$verify_err" ]

MARK="pkgtest-$$-$RANDOM"
C logger -n 127.0.0.1 -P 514 -d --rfc5424 "$MARK udp one"
C logger -n 127.0.0.1 -P 514 -T --octet-count "$MARK tcp one"

status_out="$(C sealtrail status 2>&1)" && rc=0 || rc=$?
echo "$status_out" | sed 's/^/  | /'
check "sealtrail status reads the running daemon" [ "$rc" -eq 0 ]
check "sealtrail status lists the sources" grep -q '^  udp ' <<<"$status_out"
metrics="$(C bash -c 'exec 3<>/dev/tcp/127.0.0.1/9514 && printf "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" >&3 && cat <&3' 2>&1 || true)"
check "/metrics serves component_received_events_total" \
  grep -q '^component_received_events_total{component_id="udp"' <<<"$metrics"

# in_archive TEXT: some archived segment contains TEXT.
in_archive() {
  local events
  events="$(C sh -c 'for f in $(find /var/lib/sealtrail/archive -name "*.seg.zst"); do sealtrail inspect "$f"; done' 2>/dev/null || true)"
  grep -qF "$1" <<<"$events"
}
t=$SECONDS
check "a logger message (UDP) reaches the archive (heartbeat seal)" wait_for 150 in_archive "$MARK udp one"
check "a logger message (TCP) reaches the archive" in_archive "$MARK tcp one"
echo "  (reached the archive after $((SECONDS - t)) s)"
# The journald source reads the container's journal under the hardened unit: an sshd
# line logged to /dev/log (journald) reaches the archive and the auth normaliser.
C logger -t sshd -p auth.info "Failed password for $MARK from 192.0.2.77 port 4242 ssh2"
journal_in_archive() {
  local events
  events="$(C sh -c 'for f in $(find /var/lib/sealtrail/archive -name "*.seg.zst"); do sealtrail inspect "$f"; done' 2>/dev/null || true)"
  grep -F "$MARK" <<<"$events" | grep -F '"journald":{' | grep -qF '"action":"ssh_login"'
}
check "an sshd entry of the journal reaches the archive through the journald source" wait_for 150 journal_in_archive
check "the journald source reads the journal as the sealtrail user (no permission hint)" \
  not grep -qF "not seeing messages from other users" <<<"$(C journalctl -u sealtrail --no-pager -o cat)"

# Reload: a valid change is reported (seal.max_age needs a restart), the same process.
C sed -i 's/^max_age = .*/max_age = "1h"/' /etc/sealtrail/sealtrail.toml
check "systemctl reload succeeds" C systemctl reload sealtrail
journal_has() { grep -qF "$1" <<<"$(C journalctl -u sealtrail --no-pager -o cat)"; }
check "reload names the key that needs a restart" wait_for 10 journal_has "keys=seal.max_age"
check "reload kept the same process" [ "$(mainpid)" = "$PID1" ]
# An invalid file: `systemctl reload` fails, the daemon keeps running.
C cp /etc/sealtrail/sealtrail.toml /root/good.toml
C sh -c 'printf "\nbogus_key = 1\n" >> /etc/sealtrail/sealtrail.toml'
check "systemctl reload refuses an invalid config" not C systemctl reload sealtrail
check "the service stays active after a refused reload" active
C systemctl kill -s HUP --kill-who=main sealtrail
check "SIGHUP with an invalid file logs the key and keeps running" wait_for 10 journal_has "reload failed, still running on the previous configuration"
check "the logged error names the line and key" journal_has "bogus_key"
check "still the same process" [ "$(mainpid)" = "$PID1" ]
C cp /root/good.toml /etc/sealtrail/sealtrail.toml

# Key rotation as root against the hardened unit: the new key belongs to the service's
# user, the daemon seals the hand-over, and the keyring verifies the archive below.
rout="$(C sealtrail rotate-key --wait 30 2>&1)" && rc=0 || rc=$?
echo "$rout" | sed 's/^/  | /'
check "sealtrail rotate-key --wait (as root) succeeds" [ "$rc" -eq 0 ]
check "the rotated key belongs to the service user, mode 600" \
  is_eq "$(C stat -c '%a %U' /var/lib/sealtrail/state/signing.key || true)" "600 sealtrail"
check "the keyring holds both keys" \
  is_eq "$(grep -c 'BEGIN PUBLIC KEY' "$T2/var/lib/sealtrail/state/signing.keyring" || true)" 2
check "the daemon logged the rotation" journal_has "key rotated"

# Upgrade: the user's config (max_age 1h) wins, the service restarts on it.
out="$(C dpkg --force-confold -i "/root/$UP_NAME" 2>&1)" && rc=0 || rc=$?
echo "$out" | sed 's/^/  | /'
check "upgrade with --force-confold succeeds (booted)" [ "$rc" -eq 0 ]
check "upgrade kept the user's config (booted)" C grep -qx 'max_age = "1h"' /etc/sealtrail/sealtrail.toml
check "the service is active after the upgrade" wait_for 30 active
PID2="$(mainpid)"
restarted() { [ -n "$PID2" ] && [ "$PID2" != "0" ] && [ "$PID2" != "$PID1" ]; }
check "the upgrade restarted the service" restarted

# Stop seals the last segment: with max_age 1h, only the stop can seal this message.
C logger -n 127.0.0.1 -P 514 -T --octet-count "$MARK tcp two"
received() { grep -q '"received_events": [1-9]' <<<"$(C sealtrail status --json)"; }
check "the daemon journalled the message" wait_for 20 received
check "the message is not sealed before the stop" not in_archive "$MARK tcp two"
UNTIL="$(C date -u +%Y-%m-%dT%H:%M:%S.%NZ)"
check "systemctl stop succeeds" C systemctl stop sealtrail
check "the service is inactive" is_eq "$(C systemctl is-active sealtrail || true)" inactive
check "systemctl stop sealed the last segment (message archived)" in_archive "$MARK tcp two"
vout="$(C sealtrail verify /var/lib/sealtrail/archive --key /var/lib/sealtrail/state/signing.keyring --until "$UNTIL" 2>&1)" && rc=0 || rc=$?
echo "$vout" | sed 's/^/  | /'
check "sealtrail verify passes on the archive (--until $UNTIL)" [ "$rc" -eq 0 ]
echo "  daemon log (journalctl -u sealtrail, last lines):"
C journalctl -u sealtrail --no-pager -o cat | tail -20 | sed 's/^/  | /' || true

# Remove and purge with systemd running.
check "dpkg -r succeeds (booted)" C dpkg -r sealtrail
check "remove stopped and disabled the unit" not C systemctl is-active -q sealtrail
check "remove kept config and state" \
  test -f "$T2/etc/sealtrail/sealtrail.toml" -a -f "$T2/var/lib/sealtrail/state/signing.key"
check "dpkg -P succeeds (booted)" C dpkg -P sealtrail
check "purge deleted config and state" test ! -e "$T2/etc/sealtrail" -a ! -e "$T2/var/lib/sealtrail/state"
check "purge kept the non-empty archive and its public keys" \
  test -n "$(find "$T2/var/lib/sealtrail/archive" -name '*.seg.zst' | head -1)" -a -f "$T2/var/lib/sealtrail/signing.pub" -a -f "$T2/var/lib/sealtrail/signing.keyring"
check "the kept archive still verifies" "$TARGET_DIR/release/sealtrail" verify "$T2/var/lib/sealtrail/archive" \
  --key "$T2/var/lib/sealtrail/signing.keyring" --until "$UNTIL"
stop_container
