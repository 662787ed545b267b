#!/bin/sh
# SSM Distributor in-place update script: the package managers upgrade in place (config kept,
# the service restarted by the package's scripts), so an update is an install of the new version.
set -eu
cd "$(dirname "$0")"
exec sh ./install.sh
