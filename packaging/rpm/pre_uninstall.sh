# sealtrail %preun ($1: 0 = erase, 1 = upgrade): stop and disable only on erase.
if [ "$1" -eq 0 ]; then
    systemctl --no-reload disable --now sealtrail.service >/dev/null 2>&1 || :
fi
