# sealtrail %post ($1: 1 = install, 2 = upgrade). Mirrors the .deb postinst, with
# Fedora/RHEL conventions: the unit is enabled by preset, not started on install.
systemd-sysusers /usr/lib/sysusers.d/sealtrail.conf || :
systemd-tmpfiles --create /usr/lib/tmpfiles.d/sealtrail.conf || :
if out=$(runuser -u sealtrail -- /usr/bin/sealtrail keygen --if-missing --config /etc/sealtrail/sealtrail.toml 2>&1); then
    echo "sealtrail: public key: $(printf '%s\n' "$out" | sed -n 's/^public key: //p') -- give a copy to your auditors."
else
    echo "sealtrail: could not prepare the signing key; the service creates it on start:" >&2
    printf '%s\n' "$out" >&2
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 1 ]; then
    systemctl --no-reload preset sealtrail.service >/dev/null 2>&1 || :
fi
