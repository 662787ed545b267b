#!/usr/bin/env python3
"""Writes the SSM Distributor manifest (schema 2.0) for the zips in --dir to stdout.

Each zip is named credhygiene-linux-<arch>.zip (arch: x86_64 or aarch64) and holds both the .deb
and the .rpm; install.sh picks the one the host's package manager takes. Every platform below is
mapped to the zip of its architecture; the sha256 of every zip is listed under "files".
"""
import argparse
import hashlib
import json
import os
import re
import sys

# Distributor platform name -> platform versions ("_any" = every version).
PLATFORMS = {
    "amazon": ["2", "2023"],
    "redhat": ["_any"],
    "centos": ["_any"],
    "ubuntu": ["_any"],
    "debian": ["_any"],
}
# Our architecture names -> Distributor's.
ARCHES = {"x86_64": "x86_64", "aarch64": "arm64"}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--version", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--publisher", default="credhygiene")
    args = ap.parse_args()
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", args.version):
        sys.exit(f"manifest.py: version {args.version!r} is not a valid Distributor version")

    zips = {}
    for name in sorted(os.listdir(args.dir)):
        m = re.fullmatch(r"credhygiene-linux-(x86_64|aarch64)\.zip", name)
        if m:
            zips[ARCHES[m.group(1)]] = name
    if not zips:
        sys.exit(f"manifest.py: no credhygiene-linux-<arch>.zip in {args.dir}")

    packages = {
        platform: {v: {arch: {"file": name} for arch, name in zips.items()} for v in versions}
        for platform, versions in PLATFORMS.items()
    }
    files = {
        name: {"checksums": {"sha256": sha256(os.path.join(args.dir, name))}}
        for name in zips.values()
    }
    manifest = {
        "schemaVersion": "2.0",
        "version": args.version,
        "publisher": args.publisher,
        "packages": packages,
        "files": files,
    }
    json.dump(manifest, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
