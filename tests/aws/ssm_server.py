"""A Systems Manager Compliance service on 127.0.0.1 for the tests: moto has no
PutComplianceItems, so this server plays it, strictly, and records what it received.

Usage: ssm_server.py DIR   (prints its port as the first line of stdout)

DIR holds:
- `config.json` (read on every request; the test writes it): {"credentials": {"AccessKeyId",
  "SecretAccessKey", "SessionToken"}, "managed": [instance ids], "denied": [instance ids]};
- `record.jsonl` (appended): one line per request as front.py writes them, {"operation",
  "errors", "body", "status", "code"}: headers are not recorded (the signature and the session
  token stay out of the record);
- `store.json` (rewritten after each accepted call): the items per resource and compliance
  type, {"<ResourceId> <ComplianceType>": {"ExecutionSummary", "Items"}}.

Each request is checked against botocore's `ssm` model (model_check.py: protocol headers,
required members, types, enums, lengths, patterns) and its SigV4 signature is computed again
with botocore's SigV4Auth from the configured credentials (access key, secret, session token,
the signed headers, the body hash, the scope's region and service `ssm`). Answers as the
service does (awsJson1.1 errors, HTTP 400 with `__type`):
- a model or signature rejection: ValidationException / InvalidSignatureException /
  UnrecognizedClientException (the test fails on the record's errors anyway);
- an instance id in "denied": AccessDeniedException (the role lacks ssm:PutComplianceItems);
- an instance id not in "managed": InvalidResourceId;
- else 200 `{}`, and the items replace the resource's set of that compliance type (UploadType
  COMPLETE, the default; PARTIAL is refused for Custom: types, as the service says it is for
  association compliance only).
"""
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_check  # noqa: E402

AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/,]+)/(\d{8})/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request,"
    r" ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})"
)
OPERATION = "ssm.PutComplianceItems"


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, directory):
        super().__init__(("127.0.0.1", 0), Handler)
        self.dir = directory
        self.lock = threading.Lock()
        self.store = {}

    def config(self):
        with open(os.path.join(self.dir, "config.json"), encoding="utf-8") as f:
            return json.load(f)

    def record(self, entry):
        with open(os.path.join(self.dir, "record.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def put(self, params):
        key = f"{params['ResourceId']} {params['ComplianceType']}"
        self.store[key] = {"ExecutionSummary": params["ExecutionSummary"], "Items": params["Items"]}
        tmp = os.path.join(self.dir, "store.json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.store, f)
        os.replace(tmp, os.path.join(self.dir, "store.json"))


def signature_errors(method, path, headers, body, creds):
    """What is wrong with the SigV4 signature, recomputed with botocore: (code, [errors])."""
    m = AUTH.fullmatch(headers.get("authorization", ""))
    if not m:
        return "IncompleteSignatureException", ["Authorization is not a SigV4 header"]
    key_id, _day, region, service, signed, signature = m.groups()
    if key_id != creds["AccessKeyId"]:
        return "UnrecognizedClientException", [f"unknown access key {key_id}"]
    if headers.get("x-amz-security-token") != creds.get("SessionToken"):
        return "UnrecognizedClientException", ["the security token is not the role's"]
    names = signed.split(";")
    if "x-amz-security-token" not in names:
        return "IncompleteSignatureException", ["the security token is not signed"]
    request = AWSRequest(method=method, url=f"http://{headers.get('host', '')}{path}", data=body,
                         headers={n: headers.get(n, "") for n in names})
    request.context["timestamp"] = headers.get("x-amz-date", "")
    auth = SigV4Auth(Credentials(key_id, creds["SecretAccessKey"], creds.get("SessionToken")),
                     service, region)
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    if expected != signature:
        return "InvalidSignatureException", [
            "The request signature we calculated does not match the signature you provided"]
    return None, []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with self.server.lock:
            status, code, errors = self.handle_call(headers, body)
            self.server.record({"operation": OPERATION if code != "UnknownOperation" else None,
                                "errors": errors, "body": body.decode("utf-8", "replace"),
                                "status": status, "code": code})
        if status == 200:
            self.answer(200, b"{}")
        else:
            message = "; ".join(errors) or code
            self.answer(status, json.dumps({"__type": code, "message": message}).encode(), code)

    do_GET = do_PUT = do_DELETE = do_POST

    def handle_call(self, headers, body):
        """(status, error code or None, model/signature errors) of one request."""
        operation, errors = model_check.check(self.command, self.path, headers, body)
        if operation != OPERATION:
            return 400, "UnknownOperation", errors + [f"{operation}: not served here"]
        if errors:
            return 400, "ValidationException", errors
        config = self.server.config()
        code, errors = signature_errors(self.command, self.path, headers, body,
                                        config["credentials"])
        if code:
            return 400, code, errors
        params = json.loads(body)
        if params.get("UploadType", "COMPLETE") != "COMPLETE":
            return 400, "ValidationException", ["UploadType PARTIAL is for association compliance"]
        resource = params["ResourceId"]
        if resource in config.get("denied", []):
            return 400, "AccessDeniedException", []
        if params["ResourceType"] != "ManagedInstance":
            return 400, "InvalidResourceType", []
        if resource not in config.get("managed", []):
            return 400, "InvalidResourceId", []
        self.server.put(params)
        return 200, None, []

    def answer(self, status, body, code=None):
        self.send_response_only(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        if code:
            self.send_header("x-amzn-ErrorType", code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


def main():
    model_check.load()
    server = Server(sys.argv[1])
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
