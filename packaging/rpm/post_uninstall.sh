# sealtrail %postun ($1: 0 = erase, 1 = upgrade): restart on upgrade. State in
# /var/lib/sealtrail is kept on erase (rpm has no purge); delete it by hand.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart sealtrail.service >/dev/null 2>&1 || :
    fi
fi
