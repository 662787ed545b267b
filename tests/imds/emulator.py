#!/usr/bin/env python3
"""An EC2 instance metadata service (IMDS) emulator for tests. Python 3 stdlib only.

Strict where the real service is strict (EC2 User Guide, "Use the Instance Metadata Service"):
  * PUT /latest/api/token needs X-aws-ec2-metadata-token-ttl-seconds in 1..21600, else 400;
    the granted TTL is echoed in the same response header; a PUT carrying X-Forwarded-For,
    or a PUT to a versioned path (/2021-03-23/api/token), is refused with 403.
  * GETs need X-aws-ec2-metadata-token when IMDSv2 is required: missing, invalid or expired
    tokens get 401. With IMDSv1 open (HttpTokens=optional) token-less GETs are answered, but a
    token that is present must still be valid.
  * Absent items are 404; everything is text/plain; listings are one item per line.

Usage: emulator.py [--host 127.0.0.1|::1] [--port N] [--state JSON] [--watch-stdin]
Listens on loopback (port 0 = any free port) and prints the port on stdout's first line.
With --watch-stdin it exits when its stdin closes, so it dies with the test that started it.

Scenario control on the same server (never part of the IMDS surface):
  POST /_control   JSON object merged into the scenario (see DEFAULTS); special keys:
                   {"reset": true} back to defaults, {"rotate": true} new credentials now,
                   {"clear_log": true} empties the request log, {"expire_tokens": true}
                   invalidates every token issued so far.
  GET  /_control/log    JSON list of {method, path, headers, status} for every IMDS request.
  GET  /_control/state  the scenario as JSON.
Faults ("fault_paths" restricts them to path prefixes; empty = every IMDS path):
  "throttle": N next N requests get 429; "fail": N next N get 500;
  "delay": seconds, "delay_count": N  the next N requests are answered after a delay;
  "max_ttl": seconds                  tokens never live longer than this (granted TTL echoed);
  "token_max_uses": N                 a token is refused (401) after N uses;
  "malformed": [paths]                these paths answer with malformed JSON;
  "rotate_every": N                   new credentials after every N reads of them.
"""

import argparse
import base64
import copy
import gzip
import json
import os
import random
import secrets
import socket
import string
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"

DEFAULTS = {
    "v1_open": False,  # HttpTokens=optional
    "http_endpoint": True,  # False = HttpEndpoint=disabled: everything 403
    "role": "credhygiene-test-role",  # None = no instance profile
    "instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/credhygiene-test-profile",
    "instance_profile_id": "AIPASXQV3SVWMFRRRM7QA",
    "credentials_code": "Success",
    "credentials_message": None,
    "credentials": None,  # dict to serve verbatim fields (AccessKeyId, SecretAccessKey, Token, Expiration …)
    "credentials_lifetime": 6 * 3600,  # seconds until Expiration of generated credentials
    "identity": {
        "accountId": "123456789012",
        "architecture": "x86_64",
        "availabilityZone": "us-east-1a",
        "billingProducts": None,
        "devpayProductCodes": None,
        "marketplaceProductCodes": None,
        "imageId": "ami-0abcdef1234567890",
        "instanceId": "i-0123456789abcdef0",
        "instanceType": "t3.micro",
        "kernelId": None,
        "pendingTime": "2026-11-25T08:00:00Z",
        "privateIp": "10.0.0.12",
        "ramdiskId": None,
        "region": "us-east-1",
        "version": "2017-09-30",
    },
    "user_data": None,  # text; None = no user-data (404)
    "user_data_b64": None,  # raw bytes, base64
    "user_data_gzip": False,  # serve user_data gzip-compressed
    "throttle": 0,
    "fail": 0,
    "delay": 0.0,
    "delay_count": 0,
    "fault_paths": [],
    "max_ttl": 21600,
    "token_max_uses": 0,
    "malformed": [],
    "rotate_every": 0,
}


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_credentials(lifetime):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    alnum = string.ascii_uppercase + "234567"
    b64 = string.ascii_letters + string.digits + "+/"
    return {
        "AccessKeyId": "ASIA" + "".join(random.choice(alnum) for _ in range(16)),
        "SecretAccessKey": "".join(random.choice(b64) for _ in range(40)),
        "Token": "IQoJb3JpZ2luX2Vj" + "".join(random.choice(b64) for _ in range(300)),
        "LastUpdated": rfc3339(now),
        "Expiration": rfc3339(now + timedelta(seconds=lifetime)),
    }


class State:
    def __init__(self, initial):
        self.lock = threading.Lock()
        self.scenario = copy.deepcopy(DEFAULTS)
        self.scenario.update(initial)
        self.tokens = {}  # token -> [expires_at (monotonic), uses]
        self.log = []
        self.creds = None
        self.cred_reads = 0

    def reset(self):
        self.scenario = copy.deepcopy(DEFAULTS)
        self.tokens.clear()
        self.creds = None
        self.cred_reads = 0

    def current_creds(self):
        if self.scenario["credentials"]:
            c = new_credentials(self.scenario["credentials_lifetime"])
            c.update(self.scenario["credentials"])
            return c
        if self.creds is None:
            self.creds = new_credentials(self.scenario["credentials_lifetime"])
        return self.creds


STATE = None


class Handler(BaseHTTPRequestHandler):
    server_version = "EC2ws"
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):  # quiet: the request log is in /_control/log
        pass

    # -- plumbing ---------------------------------------------------------------------------
    def send(self, status, body=b"", ctype="text/plain", headers=None):
        if isinstance(body, str):
            body = body.encode()
        self._status = status
        # The request is in the log before its answer leaves: a client that reads the log right
        # after the answer must find it there.
        if getattr(self, "_to_record", False):
            with STATE.lock:
                self.record()
            self._to_record = False
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def error_page(self, status, reason):
        body = (
            '<?xml version="1.0" encoding="iso-8859-1"?>\n<!DOCTYPE html>\n<html><head>'
            f"<title>{status} - {reason}</title></head><body><h1>{status} - {reason}</h1>"
            "</body></html>\n"
        )
        self.send(status, body, "text/html")

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def record(self):
        STATE.log.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "status": getattr(self, "_status", None),
                "time": time.time(),
            }
        )

    # -- control ----------------------------------------------------------------------------
    def control(self):
        if self.command == "GET" and self.path == "/_control/log":
            with STATE.lock:
                return self.send(200, json.dumps(STATE.log), "application/json")
        if self.command == "GET" and self.path == "/_control/state":
            with STATE.lock:
                return self.send(200, json.dumps(STATE.scenario), "application/json")
        if self.command == "POST" and self.path == "/_control":
            try:
                change = json.loads(self.read_body() or b"{}")
            except ValueError as e:
                return self.send(400, f"bad JSON: {e}")
            with STATE.lock:
                if change.pop("reset", False):
                    STATE.reset()
                if change.pop("clear_log", False):
                    STATE.log.clear()
                if change.pop("rotate", False):
                    STATE.creds = None
                if change.pop("expire_tokens", False):
                    STATE.tokens.clear()
                unknown = set(change) - set(DEFAULTS)
                if unknown:
                    return self.send(400, f"unknown scenario keys: {sorted(unknown)}")
                STATE.scenario.update(change)
                if "credentials_lifetime" in change:
                    STATE.creds = None
            return self.send(200, "ok")
        return self.send(404, "no such control endpoint")

    # -- IMDS -------------------------------------------------------------------------------
    def do_PUT(self):
        self.dispatch()

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def dispatch(self):
        if self.path.startswith("/_control"):
            return self.control()
        self._to_record = True
        try:
            self.imds()
        finally:
            if self._to_record:  # no answer was sent (the client went away): still logged
                with STATE.lock:
                    self.record()
                self._to_record = False

    def fault(self):
        """Applies injected faults; returns True when the request was answered."""
        with STATE.lock:
            s = STATE.scenario
            paths = s["fault_paths"]
            if paths and not any(self.path.startswith(p) for p in paths):
                return False
            delay = 0.0
            if s["delay_count"] > 0:
                s["delay_count"] -= 1
                delay = s["delay"]
            throttle = s["throttle"] > 0
            if throttle:
                s["throttle"] -= 1
            fail = not throttle and s["fail"] > 0
            if fail:
                s["fail"] -= 1
        if delay:
            time.sleep(delay)
        if throttle:
            self.error_page(429, "Too Many Requests")
            return True
        if fail:
            self.error_page(500, "Internal Server Error")
            return True
        return False

    def imds(self):
        self.read_body()
        if self.fault():
            return
        with STATE.lock:
            s = copy.deepcopy(STATE.scenario)
        if not s["http_endpoint"]:
            return self.error_page(403, "Forbidden")
        path = self.path.split("?", 1)[0]
        if self.command == "PUT":
            return self.put_token(path, s)
        if self.command not in ("GET", "HEAD"):
            return self.error_page(405, "Method Not Allowed")
        token = self.headers.get(TOKEN_HEADER)
        if token is not None:
            with STATE.lock:
                entry = STATE.tokens.get(token)
                ok = entry is not None and entry[0] > time.monotonic()
                if ok:
                    entry[1] += 1
                    limit = s["token_max_uses"]
                    if limit and entry[1] > limit:
                        ok = False
                        del STATE.tokens[token]
            if not ok:
                return self.error_page(401, "Unauthorized")
        elif not s["v1_open"]:
            return self.error_page(401, "Unauthorized")
        return self.get(path, s)

    def put_token(self, path, s):
        if self.headers.get("X-Forwarded-For") is not None:
            return self.error_page(403, "Forbidden")
        if path != "/latest/api/token":
            if path.endswith("/api/token"):
                return self.error_page(403, "Forbidden")
            return self.error_page(405, "Method Not Allowed")
        raw = self.headers.get(TTL_HEADER)
        try:
            ttl = int(raw)
        except (TypeError, ValueError):
            return self.error_page(400, "Missing or Invalid Parameters")
        if not 1 <= ttl <= 21600:
            return self.error_page(400, "Missing or Invalid Parameters")
        granted = min(ttl, int(s["max_ttl"]))
        token = "AQAEA" + base64.urlsafe_b64encode(secrets.token_bytes(36)).decode().rstrip("=")
        with STATE.lock:
            STATE.tokens[token] = [time.monotonic() + granted, 0]
        self.send(200, token, headers={TTL_HEADER: str(granted)})

    def get(self, path, s):
        role = s["role"]
        if path in s["malformed"]:
            return self.send(200, '{"Code": "Success", "AccessKeyId": ')
        tree = {
            "/": "1.0\n2007-01-19\n2021-03-23\nlatest",
            "/latest": "dynamic\nmeta-data\n" + ("user-data" if self.has_user_data(s) else ""),
            "/latest/meta-data": "\n".join(
                ["ami-id", "hostname", "instance-id", "instance-type", "local-ipv4", "placement/"]
                + (["iam/"] if role else [])
            ),
            "/latest/meta-data/ami-id": s["identity"]["imageId"],
            "/latest/meta-data/instance-id": s["identity"]["instanceId"],
            "/latest/meta-data/instance-type": s["identity"]["instanceType"],
            "/latest/meta-data/local-ipv4": s["identity"]["privateIp"],
            "/latest/meta-data/hostname": "ip-10-0-0-12.ec2.internal",
            "/latest/meta-data/placement": "availability-zone\nregion",
            "/latest/meta-data/placement/availability-zone": s["identity"]["availabilityZone"],
            "/latest/meta-data/placement/region": s["identity"]["region"],
            "/latest/dynamic": "instance-identity/",
            "/latest/dynamic/instance-identity": "document\nsignature\npkcs7",
            "/latest/dynamic/instance-identity/document": json.dumps(s["identity"], indent=2),
        }
        key = path.rstrip("/") or "/"
        if key in tree:
            return self.send(200, tree[key])
        if key == "/latest/user-data":
            data = self.user_data(s)
            if data is None:
                return self.error_page(404, "Not Found")
            return self.send(200, data, "application/octet-stream")
        if role and key == "/latest/meta-data/iam":
            return self.send(200, "info\nsecurity-credentials/")
        if role and key == "/latest/meta-data/iam/info":
            return self.send(
                200,
                json.dumps(
                    {
                        "Code": "Success",
                        "LastUpdated": rfc3339(datetime.now(timezone.utc)),
                        "InstanceProfileArn": s["instance_profile_arn"],
                        "InstanceProfileId": s["instance_profile_id"],
                    },
                    indent=2,
                ),
            )
        if role and key == "/latest/meta-data/iam/security-credentials":
            return self.send(200, role)
        if role and key == f"/latest/meta-data/iam/security-credentials/{role}":
            return self.send(200, self.credentials(s))
        return self.error_page(404, "Not Found")

    def has_user_data(self, s):
        return s["user_data"] is not None or s["user_data_b64"] is not None

    def user_data(self, s):
        if s["user_data_b64"] is not None:
            data = base64.b64decode(s["user_data_b64"])
        elif s["user_data"] is not None:
            data = s["user_data"].encode()
        else:
            return None
        if s["user_data_gzip"]:
            data = gzip.compress(data)
        return data

    def credentials(self, s):
        now = rfc3339(datetime.now(timezone.utc))
        if s["credentials_code"] != "Success":
            doc = {"Code": s["credentials_code"], "LastUpdated": now}
            if s["credentials_message"]:
                doc["Message"] = s["credentials_message"]
            return json.dumps(doc, indent=2)
        with STATE.lock:
            every = s["rotate_every"]
            if every and STATE.cred_reads and STATE.cred_reads % every == 0:
                STATE.creds = None
            STATE.cred_reads += 1
            c = STATE.current_creds()
        doc = {
            "Code": "Success",
            "LastUpdated": c.get("LastUpdated", now),
            "Type": "AWS-HMAC",
            "AccessKeyId": c["AccessKeyId"],
            "SecretAccessKey": c["SecretAccessKey"],
            "Token": c["Token"],
            "Expiration": c["Expiration"],
        }
        return json.dumps(doc, indent=2)


def watch_stdin():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main():
    global STATE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1", "::1"])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--state", default="{}", help="initial scenario (JSON object)")
    ap.add_argument("--watch-stdin", action="store_true", help="exit when stdin closes")
    args = ap.parse_args()
    initial = json.loads(args.state)
    unknown = set(initial) - set(DEFAULTS)
    if unknown:
        ap.error(f"unknown scenario keys: {sorted(unknown)}")
    STATE = State(initial)
    server_class = ThreadingHTTPServer
    if ":" in args.host:
        server_class = type("Server6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
    server = server_class((args.host, args.port), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    if args.watch_stdin:
        threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
