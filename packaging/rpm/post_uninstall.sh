# credhygiene %postun ($1: 0 = removal, 1 = upgrade). Upgrade: reload units and restart the
# service if it runs. Removal: delete the scan cache and outbox (RPM has no purge; a changed
# /etc/credhygiene/credhygiene.toml is kept as .rpmsave by rpm itself).
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart credhygiene.service >/dev/null 2>&1 || :
    fi
fi
if [ "$1" -eq 0 ]; then
    # DynamicUser=: the state is in /var/lib/private/credhygiene, /var/lib/credhygiene links to it.
    rm -rf /var/lib/credhygiene /var/lib/private/credhygiene
fi
exit 0
