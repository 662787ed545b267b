#!/usr/bin/env python3
"""Writes the seed corpora (the matcher also reads tests/corpus itself: scripts/fuzz) of the fuzz targets (fuzz/corpus/TARGET/seed-*) from tests/corpus,
the shipped config and hand-written samples of every format the targets parse. Run from the
repository root; the output is committed, so a run only needs repeating when a format changes."""
import base64, gzip, json, os, pathlib, shutil, subprocess, sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "corpus"
CORPUS = ROOT / "tests" / "corpus"
KEY_ID, SECRET = "AKIASXQV3SVWMFRRRM75", "V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw"
seeds = {}

def add(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    seeds.setdefault(target, {})[name] = data

corpus_files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.stat().st_size <= 64 * 1024
                      and p.name != "expected.json")
for p in corpus_files:
    rel = str(p.relative_to(CORPUS)).replace("/", "_")
    data = p.read_bytes()
    # Newlines as filler: a line of ~20 KB around a key is the known slow case of the matcher
    # (fuzz/artifacts/chunked/timeout-*), found by this target; the seeds stay off it.
    add("chunked", rel, b"\x00\x00\x40\x00\n\x01" + data)
    add("envfile", rel, b"/" + str(p.relative_to(CORPUS)).encode() + b"\0" + data)

env = {
    "systemd": f"[Service]\nEnvironment=AWS_ACCESS_KEY_ID={KEY_ID} \"AWS_SECRET_ACCESS_KEY={SECRET}\"\nEnvironmentFile=-/etc/default/app\nEnvironmentFile=/etc/%i.env\n",
    "etc-environment": f"PATH=\"/usr/bin\"\nAWS_ACCESS_KEY_ID=\"{KEY_ID}\"\nAWS_SECRET_ACCESS_KEY={SECRET}\n",
    "dotenv": f"# app\nexport AWS_ACCESS_KEY_ID={KEY_ID}\r\nAWS_SECRET_ACCESS_KEY='{SECRET}'\r\n",
    "compose": f"services:\n  app:\n    environment:\n      - AWS_ACCESS_KEY_ID={KEY_ID}\n      AWS_SECRET_ACCESS_KEY: \"{SECRET}\"\n",
    "aws-ini": f"[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n[profile x]\nregion=eu-west-1\n",
}
names = {"systemd": "/etc/systemd/system/app.service", "etc-environment": "/etc/environment",
         "dotenv": "/srv/app/.env", "compose": "/srv/app/docker-compose.yml", "aws-ini": "/root/.aws/credentials"}
for k, v in env.items():
    add("envfile", k, names[k].encode() + b"\0" + v.encode())
    add("matcher", "env-" + k, v)

for p in sorted((CORPUS / "var" / "backups").glob("proc-*-environ")):
    add("procfs", p.name, b"12:pids:/system.slice/app.service\n0::/system.slice/app.service\n\0\0\0" + p.read_bytes())
add("procfs", "scope", b"0::/user.slice/user-1000.slice/session-2.scope\n\0\0\0HOME=/root\0AWS_ACCESS_KEY_ID=" + KEY_ID.encode() + b"\0")

add("mountinfo", "debian", "22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
    "28 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw,discard,errors=remount-ro\n"
    "60 28 0:50 / /home rw,relatime shared:30 - nfs4 fs-1.efs.eu-west-1.amazonaws.com:/ rw,vers=4.1\n")
add("mountinfo", "escapes", "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/root rw\n"
    "40 22 0:40 / /mnt/nfs\\040share rw - nfs4 srv:/x rw\n41 22 0:41 / /srv/app rw master:1 - fuse.sshfs a rw\n")

script = f"#!/bin/bash\nexport AWS_ACCESS_KEY_ID={KEY_ID}\nexport AWS_SECRET_ACCESS_KEY={SECRET}\n"
lim = b"\xff\xff"
add("userdata", "plain", lim + script.encode())
add("userdata", "gzip", lim + gzip.compress(script.encode(), mtime=0))
mime = ("Content-Type: multipart/mixed; boundary=\"XX\"\nMIME-Version: 1.0\n\n--XX\n"
        "Content-Type: text/x-shellscript\nContent-Transfer-Encoding: base64\n\n"
        + base64.b64encode(script.encode()).decode() + "\n--XX\nContent-Type: application/x-gzip\n"
        "Content-Transfer-Encoding: base64\n\n" + base64.b64encode(gzip.compress(b"#cloud-config\n", mtime=0)).decode()
        + "\n--XX--\n")
add("userdata", "mime", lim + mime.encode())
add("userdata", "mime-gzip", lim + gzip.compress(mime.encode(), mtime=0))
add("userdata", "small-limit", b"\x01\x00" + gzip.compress(b"A" * 10000, mtime=0))

add("imds_json", "identity", json.dumps({"instanceId": "i-0123456789abcdef0", "accountId": "123456789012",
    "region": "eu-west-1", "availabilityZone": "eu-west-1a", "instanceType": "t3.micro",
    "imageId": "ami-0123456789abcdef0", "architecture": "x86_64"}))
add("imds_json", "iam-info", json.dumps({"Code": "Success", "LastUpdated": "2024-01-01T00:00:00Z",
    "InstanceProfileArn": "arn:aws:iam::123456789012:instance-profile/p", "InstanceProfileId": "AIPAEXAMPLE"}))
add("imds_json", "credentials", json.dumps({"Code": "Success", "LastUpdated": "2024-01-01T00:00:00Z",
    "Type": "AWS-HMAC", "AccessKeyId": "ASIASXQV3SVWMFRRRM75", "SecretAccessKey": SECRET,
    "Token": "IQoJb3JpZ2luX2VjEXAMPLETOKEN" * 4, "Expiration": "2030-01-01T00:00:00Z"}))
add("imds_json", "credentials-failed", json.dumps({"Code": "AssumeRoleUnauthorizedAccess",
    "Message": "cannot assume", "LastUpdated": "2024-01-01T00:00:00Z"}))

add("aws_error", "json", "x-amzn-query-error: Throttling;Sender\n\n"
    '{"__type":"com.amazonaws.logs#ThrottlingException","message":"Rate exceeded"}')
add("aws_error", "json-code", '\n\n{"code":"AccessDeniedException:foo","Message":"no"}')
add("aws_error", "xml", "\n\n<?xml version=\"1.0\"?><ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>"
    "<Message>Signature expired: 20240101T000000Z is now earlier than 20240101T001500Z</Message></Error></ErrorResponse>")
add("aws_error", "ec2", "\n\n<DescribeInstancesResponse><reservationSet><item><instancesSet><item>"
    "<metadataOptions><state>applied</state><httpTokens>required</httpTokens></metadataOptions>"
    "</item></instancesSet></item></reservationSet></DescribeInstancesResponse>")

add("config", "shipped", (ROOT / "config" / "credhygiene.toml").read_bytes())
add("config", "small", "[agent]\ninterval = \"1h\"\n[scan]\npaths = [\"/srv\"]\nmax_file_size = \"10 MiB\"\n"
    "[cloudwatch]\nenabled = true\nregion = \"eu-west-1\"\nlog_retention_days = 30\n")
add("allowlist", "lines", "# fingerprints\nsha256:0123abcd  # test key\n\n  sha256:ffff\n#\n")

add("state_delivered", "keys", json.dumps({"version": 1, "generation": "abc",
    "keys": ["0123:new:abc", "4567:resolved:abc"]}))
add("state_delivered", "foreign", json.dumps({"version": 2, "generation": "x", "keys": []}))

# findings.json and the outbox as the agent writes them: a scan of the corpus.
exe = ROOT / "target" / "debug" / "credhygiene"
if exe.exists():
    out = subprocess.run([str(exe), "scan", "--format", "json", "etc"], cwd=CORPUS,
                         capture_output=True, text=True).stdout
    try:
        findings = json.loads(out).get("findings", [])[:3]
    except ValueError:
        findings = []
    add("state_findings", "scan", json.dumps({"version": 1, "commits": 2, "findings": findings}))
add("state_findings", "empty", json.dumps({"version": 1, "findings": []}))
add("state_findings", "foreign", json.dumps({"version": 9, "findings": [{}]}))
header = json.dumps({"version": 1, "next_seq": 3, "dropped": 0})
add("outbox", "header", header + "\n")
entry = lambda seq, text: json.dumps({"seq": seq, "item": {"type": "log", "region": "eu-west-1",
    "group": "/credhygiene", "stream": "i-0123", "event": {"timestamp": 1700000000000, "message": text}}})
add("outbox", "entries", "\n".join([header, entry(1, "a"), entry(2, "b")]) + "\n")
add("outbox", "torn", header + "\n" + entry(1, "a")[:30] + entry(2, "b") + "\n" + entry(3, "c")[:12])

# The answers of the fleet sinks' APIs and IAM, in the shapes botocore's models give
# (tests/.venv): the planted session token (fuzz_targets/common.rs) echoed in structured
# positions, where an answer must never carry it out.
TOKEN = "IQoJb3JpZ2luX2VjEFuzzPlantedSessionToken0123456789"
add("securityhub_answer", "none", json.dumps({"FailedCount": 0, "SuccessCount": 2, "FailedFindings": []}))
add("securityhub_answer", "failed", json.dumps({"FailedCount": 2, "SuccessCount": 0, "FailedFindings": [
    {"Id": "credhygiene/i-0123456789abcdef0/c1", "ErrorCode": "InvalidInput",
     "ErrorMessage": "Finding does not adhere to Amazon Finding Format. data.Resources[0].Id should be string"},
    {"Id": "credhygiene/i-0123456789abcdef0/imds-v2", "ErrorCode": "LimitExceededException",
     "ErrorMessage": "Rate exceeded"}]}))
add("securityhub_answer", "echo", json.dumps({"FailedCount": 1, "SuccessCount": 0, "FailedFindings": [
    {"Id": "credhygiene/i-0123456789abcdef0/c1", "ErrorCode": "AccessDenied " + SECRET,
     "ErrorMessage": "x-amz-security-token:" + TOKEN + "\n" + "A" * 400}]}))

def model(service):
    venv = pathlib.Path(os.environ.get("CREDHYGIENE_TEST_VENV", ROOT / "tests" / ".venv"))
    for f in sorted(venv.glob(f"lib/python3*/site-packages/botocore/data/{service}/*/service-2.json*")):
        data = f.read_bytes()
        return json.loads(gzip.decompress(data) if f.suffix == ".gz" else data)
    return None

ssm = model("ssm")
codes = ([e["shape"] for e in ssm["operations"]["PutComplianceItems"]["errors"]] if ssm else
         ["InternalServerError", "InvalidItemContentException", "InvalidResourceId"])
for code in codes + ["ThrottlingException", "AccessDeniedException", "ExpiredTokenException"]:
    status = b"\x90\x01" if code.startswith("Internal") else b"\x64\x00"  # 500, 400
    add("ssm_answer", code, status + f"x-amzn-RequestId: r\n\n".encode()
        + json.dumps({"__type": "com.amazonaws.ssm#" + code, "message": "refused"}).encode())
add("ssm_answer", "echo-header", b"\x64\x00" + f"x-amzn-query-error: {SECRET};Sender\n\n".encode()
    + json.dumps({"__type": TOKEN, "message": TOKEN}).encode())
add("ssm_answer", "moto-xml", b"\x93\x00" + ("\n\n<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>"
    "The canonical request: x-amz-security-token:" + TOKEN + "</Message></Error></ErrorResponse>").encode())

request = {"ResourceId": "i-0123456789abcdef0", "ResourceType": "ManagedInstance",
           "ComplianceType": "Custom:CredentialHygiene",
           "ExecutionSummary": {"ExecutionTime": 1700000000, "ExecutionType": "Command"},
           "Items": [{"Id": "imds-v2", "Title": "IMDSv2 required", "Severity": "HIGH",
                      "Status": "NON_COMPLIANT", "Details": {"Path": "/etc/environment:2"}}],
           "UploadType": "COMPLETE"}
add("ssm_memory", "pending", json.dumps({"version": 1, "pending": request, "last": None, "inactive": None}, indent=2))
add("ssm_memory", "inactive", json.dumps({"version": 1, "pending": None, "last": {"digest": "ab" * 32,
    "at": 1700000000, "refused": "refused as invalid"}, "inactive": {"reason": "not managed", "since": 1700000000}}, indent=2))
add("ssm_memory", "wrong-type", json.dumps({"version": 1, "pending": SECRET, "last": {"digest": 1, "at": TOKEN}}))

iam_ns = 'xmlns="https://iam.amazonaws.com/doc/2010-05-08/"'
add("iam_answer", "last-used", "<AccessKeyLastUsed><LastUsedDate>2026-11-28T09:14:00Z</LastUsedDate>"
    "<ServiceName>s3</ServiceName><Region>eu-west-1</Region></AccessKeyLastUsed><UserName>deploy-bot</UserName>")
add("iam_answer", "never", "<AccessKeyLastUsed><ServiceName>N/A</ServiceName><Region>N/A</Region></AccessKeyLastUsed>")
add("iam_answer", "list", "<member><UserName>ci</UserName><AccessKeyId>AKIAAAAAAAAAAAAAAAA1</AccessKeyId>"
    "<Status>Inactive</Status><CreateDate>2026-01-01T00:00:00Z</CreateDate></member>")
add("iam_answer", "whole", f"<GetAccessKeyLastUsedResponse {iam_ns}><GetAccessKeyLastUsedResult><AccessKeyLastUsed>"
    "<Region>N/A</Region></AccessKeyLastUsed></GetAccessKeyLastUsedResult></GetAccessKeyLastUsedResponse>")

# State files as the code writes them: securityhub.json from the store's own save (a plan of
# two credentials and a failed check; fuzz/fixtures/), status.json as CycleRecord::save.
for f in sorted((ROOT / "fuzz" / "fixtures").glob("securityhub*.json")):
    add("securityhub_store", f.stem, f.read_bytes())
add("securityhub_store", "foreign-id", json.dumps({"version": 1, "gate": {"gate": "open"},
    "entries": [{"doc": {"Id": SECRET}, "digest": TOKEN, "updated": 0, "pending": True}]}))
add("securityhub_store", "unknown-field", json.dumps({"version": 1, "gate": {"gate": "open"}, SECRET: TOKEN, "entries": []}))
record = {"version": 1, "by": "daemon", "pid": 4242, "finished": "2026-11-30T07:00:00Z", "duration_ms": 1234,
          "findings": 3, "credentials": 2, "new": 1, "resolved": 0, "carried": 0, "role": "fail",
          "failed_checks": 1, "journald": {"state": "active"},
          "cloudwatch": {"state": "inactive", "reason": "no region"},
          "securityhub": {"state": "disabled"}, "ssm": {"state": "active"}}
add("status", "daemon", json.dumps(record, indent=2))
add("status", "old", json.dumps({k: v for k, v in record.items() if k not in ("securityhub", "ssm")}))
add("status", "wrong-type", json.dumps(dict(record, pid=SECRET, role=None)))
add("status", "far-future", json.dumps(dict(record, finished="9999-12-31T23:59:59Z")))

# The scan cache as `credhygiene run --once` wrote it over tests/corpus (fuzz/fixtures/scan-cache;
# make it again after a format change: a config with imds disabled, scan.paths = [tests/corpus],
# then copy STATE_DIR/scan-cache). Mode 0: the whole file (its rules version is not the
# target's: the header checks); mode 1: its records and findings, framed by the target.
cache = (ROOT / "fuzz" / "fixtures" / "scan-cache").read_bytes()
version_len = int.from_bytes(cache[12:16], "little")
count = int.from_bytes(cache[24:32], "little")
add("scan_cache", "whole", b"\x00" + cache)
add("scan_cache", "body", b"\x01" + min(count, 0xFFFF).to_bytes(2, "little") + cache[48 + version_len:])
add("scan_cache", "empty", b"\x01\x00\x00[]")

shutil.rmtree(OUT, ignore_errors=True)
for target, files in seeds.items():
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (d / ("seed-" + name)).write_bytes(data)
print(f"{sum(len(f) for f in seeds.values())} seeds for {len(seeds)} targets in {OUT}", file=sys.stderr)
