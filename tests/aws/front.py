"""A front for moto_server on 127.0.0.1 that checks and records every request, optionally over
TLS, optionally with a service clock that differs from this host's.

Usage: front.py UPSTREAM RECORD [--cert PEM --key PEM] [--clock-offset SECONDS]

- Listens on a free loopback port and prints it as the first line of stdout.
- TLS: with --cert/--key the front speaks HTTPS (the certificate a test CA signed); failed
  handshakes (a client that does not trust the CA) are recorded as {"tls_error": ...}.
- Every request is checked against botocore's service model (model_check.py) and appended
  to RECORD as one JSON line: {"operation", "errors", "body", "status"}. The body is the
  agent's payload; headers are not recorded (the Authorization signature and the session
  token stay out of the record).
- Then it is forwarded to UPSTREAM (plain HTTP, moto) and moto's answer is relayed, whatever
  the verdict: the test fails on a rejection, the agent's behaviour is unchanged.
- --clock-offset: the service's clock is this host's plus SECONDS. A request whose X-Amz-Date
  is more than 5 minutes from it is refused as AWS refuses it (CloudWatch Logs: HTTP 400
  InvalidSignatureException "Signature expired: …"; CloudWatch: HTTP 403
  SignatureDoesNotMatch), and every answer's Date header is the service's clock.
"""
import argparse
import calendar
import email.utils
import http.client
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_check  # noqa: E402

# SigV4's allowance between the request's time and the service's.
SKEW_ALLOWED = 300
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class Front(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, args):
        super().__init__(("127.0.0.1", 0), Handler)
        up = urlsplit(args.upstream)
        self.upstream = (up.hostname, up.port)
        self.offset = args.clock_offset
        self.record_lock = threading.Lock()
        self.record_file = open(args.record, "a", encoding="utf-8")
        self.tls = None
        if args.cert:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(args.cert, args.key)

    def record(self, entry):
        with self.record_lock:
            self.record_file.write(json.dumps(entry) + "\n")
            self.record_file.flush()

    def finish_request(self, request, client_address):
        # The TLS handshake happens here, on the connection's own thread.
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                self.record({"tls_error": str(e)})
                return
        try:
            self.RequestHandlerClass(request, client_address, self)
        finally:
            if self.tls is not None:
                request.close()

    def service_now(self):
        return time.time() + self.offset


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        operation, errors = model_check.check(self.command, self.path, headers, body)
        entry = {"operation": operation, "errors": errors, "body": body.decode("utf-8", "replace")}
        skew = self.skew_answer(operation, headers.get("x-amz-date", ""))
        if skew is not None:
            entry["status"] = skew[0]
            entry["skew_rejected"] = True
            self.server.record(entry)
            self.answer(*skew)
            return
        status, reply_headers, reply = self.forward(body)
        entry["status"] = status
        self.server.record(entry)
        self.answer(status, reply_headers, reply)

    do_GET = do_PUT = do_DELETE = do_POST

    def forward(self, body):
        conn = http.client.HTTPConnection(*self.server.upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            kept = [(k, v) for k, v in resp.getheaders()
                    if k.lower() not in HOP_BY_HOP | {"content-length", "date", "server"}]
            return resp.status, kept, data
        except OSError as e:
            return 502, [("Content-Type", "text/plain")], f"front: upstream: {e}".encode()
        finally:
            conn.close()

    def skew_answer(self, operation, amz_date):
        """The refusal of a request signed too far from the service's clock, or None."""
        if not self.server.offset or operation is None:
            return None
        try:
            signed = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            return None
        now = self.server.service_now()
        if abs(signed - now) <= SKEW_ALLOWED:
            return None
        stamp = lambda t: time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))  # noqa: E731
        if signed < now:
            message = (f"Signature expired: {amz_date} is now earlier than "
                       f"{stamp(now - SKEW_ALLOWED)} ({stamp(now)} - 5 min.)")
        else:
            message = (f"Signature not yet current: {amz_date} is still later than "
                       f"{stamp(now + SKEW_ALLOWED)} ({stamp(now)} + 5 min.)")
        if operation.startswith("logs."):
            status, code, ctype = 400, "InvalidSignatureException", "application/x-amz-json-1.1"
        else:
            status, code, ctype = 403, "SignatureDoesNotMatch", "application/x-amz-json-1.0"
        body = json.dumps({"__type": code, "message": message}).encode()
        return status, [("Content-Type", ctype), ("x-amzn-ErrorType", code)], body

    def answer(self, status, headers, body):
        self.send_response_only(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Date", email.utils.formatdate(self.server.service_now(), usegmt=True))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("upstream")
    p.add_argument("record")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--clock-offset", type=float, default=0.0)
    args = p.parse_args()
    model_check.load()
    server = Front(args)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
