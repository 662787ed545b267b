#!/bin/sh
# SSM Distributor install script (AWS-ConfigureAWSPackage, action Install): installs or upgrades
# credhygiene from the .deb or .rpm in this zip, whichever the host's package manager takes.
# The package's own scripts enable and start credhygiene.service.
set -eu
cd "$(dirname "$0")"

case $(uname -m) in
  x86_64|amd64) deb_arch=amd64 rpm_arch=x86_64 ;;
  aarch64|arm64) deb_arch=arm64 rpm_arch=aarch64 ;;
  *) echo "credhygiene: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

pick() { for f in "$@"; do [ -f "$f" ] && { echo "$f"; return 0; }; done; return 1; }

if command -v dpkg >/dev/null 2>&1 && [ -d /var/lib/dpkg ]; then
  deb=$(pick ./credhygiene_*_"$deb_arch".deb) || { echo "credhygiene: no $deb_arch .deb in this package" >&2; exit 1; }
  echo "credhygiene: installing $deb"
  if command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$deb"
  else
    dpkg -i --force-confdef --force-confold "$deb"
  fi
elif command -v rpm >/dev/null 2>&1; then
  rpmf=$(pick ./credhygiene-*."$rpm_arch".rpm) || { echo "credhygiene: no $rpm_arch .rpm in this package" >&2; exit 1; }
  echo "credhygiene: installing $rpmf"
  if command -v dnf >/dev/null 2>&1; then
    dnf install -y -q "$rpmf"
  elif command -v yum >/dev/null 2>&1; then
    yum install -y -q "$rpmf"
  elif command -v zypper >/dev/null 2>&1; then
    zypper --non-interactive install --allow-unsigned-rpm "$rpmf"
  else
    rpm -U --replacepkgs "$rpmf"
  fi
else
  echo "credhygiene: neither dpkg nor rpm found; cannot install" >&2
  exit 1
fi

/usr/bin/credhygiene --version
