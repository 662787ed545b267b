#!/usr/bin/env python3
"""Writes a tree of N small files for tests/systemd/run: DIR/dNNNNN/fNN.txt, 100 files a
directory, each a few short lines without keys, except KEYS files spread over the tree that hold
a fresh random AWS key id each (never a committed or documented key).

Usage: gen_tree.py DIR N KEYS        prints the paths of the key files (relative to DIR), one a line
Two worker processes (os.fork) share the directories. Python 3 stdlib only.
"""

import os
import secrets
import sys

PER_DIR = 100
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def newkey():
    # The 5th character from Q-Z/2-7: the key id format that carries the account id.
    return "AKIA" + secrets.choice(B32[16:]) + "".join(secrets.choice(B32) for _ in range(15))


def write(root, n, first, last, keyed):
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for d in range(first, last):
        sub = os.path.join(root, f"d{d:05}")
        os.mkdir(sub)
        for f in range(min(PER_DIR, n - d * PER_DIR)):
            i = d * PER_DIR + f
            body = keyed.get(i) or b"name = value\nport = 8080\nhost = example.internal\n"
            fd = os.open(os.path.join(sub, f"f{f:02}.txt"), flags, 0o644)
            os.write(fd, body)
            os.close(fd)


def main():
    root, n, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.makedirs(root, exist_ok=True)
    dirs = (n + PER_DIR - 1) // PER_DIR
    keyed = {}
    for k in range(keys):
        i = (k * n) // keys + n // (2 * keys)
        keyed[i] = f"# config\naws_access_key_id = {newkey()}\n".encode()
    half = dirs // 2
    pid = os.fork()
    if pid == 0:
        try:
            write(root, n, half, dirs, keyed)
        finally:
            os._exit(0)
    write(root, n, 0, half, keyed)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        sys.exit("gen_tree.py: the second worker failed")
    for i in sorted(keyed):
        print(f"d{i // PER_DIR:05}/f{i % PER_DIR:02}.txt")


if __name__ == "__main__":
    main()
