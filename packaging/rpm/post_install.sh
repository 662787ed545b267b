# credhygiene %post ($1: 1 = first install, 2 = upgrade). Enable and start on first install;
# the restart on upgrade is in %postun of the old package. Without a running systemd (chroot,
# container, image build) only the enable symlink is made.
install -d -m 0700 /var/lib/credhygiene
chmod 0700 /var/lib/credhygiene
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl enable credhygiene.service >/dev/null 2>&1 || :
    if [ -d /run/systemd/system ]; then
        systemctl start credhygiene.service || :
    fi
fi
exit 0
