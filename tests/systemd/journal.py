#!/usr/bin/env python3
"""Queries a journal export (`journalctl -o json`, one JSON object per line) for tests/systemd/run.

Usage: journal.py FILE count FIELD=VALUE...    number of entries matching every FIELD=VALUE
       journal.py FILE show FIELD=VALUE...     those entries, one line each (MESSAGE + fields)
       journal.py FILE fields FIELD=VALUE...   the first match as FIELD=VALUE lines
       journal.py FILE grep REGEX [FIELD=VALUE...]  entries whose MESSAGE matches REGEX
A VALUE of `*` only asks for the field to be present. Python 3 stdlib only.
"""

import json
import re
import sys

SHOWN = ("PRIORITY", "SOURCE", "PATH", "LINE", "COLUMN", "KIND", "KEY_ID", "UNIT", "PID", "CHANGE", "WATCHED", "UNWATCHED")


def value(entry, field):
    v = entry.get(field)
    if isinstance(v, list):  # binary or repeated fields
        v = v[0] if v and not isinstance(v[0], int) else bytes(v).decode("utf-8", "replace")
    return v


def matches(entry, conds):
    for c in conds:
        field, _, want = c.partition("=")
        have = value(entry, field)
        if have is None or (want != "*" and have != want):
            return False
    return True


def line(entry):
    extra = " ".join(f"{f}={value(entry, f)}" for f in SHOWN if f in entry)
    return f"{value(entry, 'MESSAGE')}  [{extra}]"


def main():
    path, cmd, *args = sys.argv[1:]
    entries = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for raw in fh:
            raw = raw.strip()
            if raw:
                try:
                    entries.append(json.loads(raw))
                except json.JSONDecodeError:
                    pass
    if cmd == "grep":
        rx, args = re.compile(args[0]), args[1:]
        found = [e for e in entries if matches(e, args) and rx.search(value(e, "MESSAGE") or "")]
        for e in found:
            print(line(e))
        return 0 if found else 1
    found = [e for e in entries if matches(e, args)]
    if cmd == "count":
        print(len(found))
    elif cmd == "show":
        for e in found:
            print(line(e))
    elif cmd == "fields":
        if not found:
            return 1
        for k, v in sorted(found[0].items()):
            if not k.startswith("__"):
                print(f"{k}={value(found[0], k)}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
