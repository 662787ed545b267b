#!/bin/sh
# SSM Distributor uninstall script (AWS-ConfigureAWSPackage, action Uninstall): removes
# credhygiene (the package stops and disables the service). The configuration file is kept, as
# a package removal does; `apt-get purge credhygiene` also deletes it and the state.
set -eu

if command -v dpkg-query >/dev/null 2>&1 && dpkg-query -W -f='${Status}' credhygiene 2>/dev/null | grep -q 'ok installed'; then
  if command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get remove -y -q credhygiene
  else
    dpkg --remove credhygiene
  fi
elif command -v rpm >/dev/null 2>&1 && rpm -q credhygiene >/dev/null 2>&1; then
  if command -v dnf >/dev/null 2>&1; then
    dnf remove -y -q credhygiene
  elif command -v yum >/dev/null 2>&1; then
    yum remove -y -q credhygiene
  else
    rpm -e credhygiene
  fi
else
  echo "credhygiene: not installed; nothing to do"
fi
