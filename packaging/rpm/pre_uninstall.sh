# credhygiene %preun ($1: 0 = removal, 1 = upgrade). Stop and disable on removal only.
if [ "$1" -eq 0 ] && command -v systemctl >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
        systemctl --no-reload disable --now credhygiene.service >/dev/null 2>&1 || :
    else
        systemctl --no-reload disable credhygiene.service >/dev/null 2>&1 || :
    fi
fi
exit 0
