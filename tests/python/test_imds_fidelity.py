"""Fidelity of the IMDS emulator (tests/imds/emulator.py), checked with an independent client:
botocore's own IMDS fetchers (the code the AWS CLI and boto3 run on EC2) and raw HTTP for the
status codes the EC2 User Guide documents. If these pass, the emulator is not merely tuned to
credhygiene's client.

Run in tests/.venv (scripts/test does): pytest -q tests/python
"""

import gzip
import http.client
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from botocore.utils import (
    IMDSFetcher,
    InstanceMetadataFetcher,
    InstanceMetadataRegionFetcher,
)

EMULATOR = Path(__file__).resolve().parents[1] / "imds" / "emulator.py"
ROLE = "credhygiene-test-role"


class Emu:
    def __init__(self, state=None):
        self.proc = subprocess.Popen(
            [sys.executable, str(EMULATOR), "--port", "0", "--watch-stdin", "--state",
             json.dumps(state or {})],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.port = int(self.proc.stdout.readline())
        self.base = f"http://127.0.0.1:{self.port}"

    def request(self, method, path, headers=None, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def control(self, **change):
        status, _, body = self.request("POST", "/_control", body=json.dumps(change))
        assert status == 200, body

    def token(self, ttl="21600"):
        status, headers, body = self.request(
            "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": ttl})
        assert status == 200
        return body.decode(), headers

    def close(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def emu():
    e = Emu()
    yield e
    e.close()


@pytest.fixture(autouse=True)
def no_proxy_no_disable(monkeypatch):
    for v in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)


def fetcher(cls, emu, **kw):
    return cls(base_url=emu.base, timeout=2, num_attempts=kw.pop("num_attempts", 1),
               env={}, **kw)


# ---- botocore, unchanged, against the emulator -----------------------------------------------

def test_botocore_reads_role_credentials(emu):
    creds = fetcher(InstanceMetadataFetcher, emu).retrieve_iam_role_credentials()
    assert creds["role_name"] == ROLE
    assert creds["access_key"].startswith("ASIA") and len(creds["access_key"]) == 20
    assert len(creds["secret_key"]) == 40
    assert creds["token"]
    # botocore parses Expiration with exactly this format.
    expiry = datetime.strptime(creds["expiry_time"], "%Y-%m-%dT%H:%M:%SZ")
    assert expiry.replace(tzinfo=timezone.utc) > datetime.now(timezone.utc)
    log = json.loads(emu.request("GET", "/_control/log")[2])
    assert [r["method"] for r in log] == ["PUT", "GET", "GET"]
    assert all("x-aws-ec2-metadata-token" in r["headers"] for r in log[1:])


def test_botocore_reads_region_from_placement(emu):
    region = fetcher(InstanceMetadataRegionFetcher, emu).retrieve_region()
    assert region == "us-east-1"


def test_botocore_sees_rotation(emu):
    f = fetcher(InstanceMetadataFetcher, emu)
    a = f.retrieve_iam_role_credentials()
    emu.control(rotate=True)
    b = f.retrieve_iam_role_credentials()
    assert a["access_key"] != b["access_key"]


def test_botocore_serves_given_credentials(emu):
    emu.control(credentials={"AccessKeyId": "ASIAMOTOMOTOMOTOMOTO", "SecretAccessKey": "s" * 40,
                             "Token": "tok", "Expiration": "2099-01-01T00:00:00Z"})
    creds = fetcher(InstanceMetadataFetcher, emu).retrieve_iam_role_credentials()
    assert (creds["access_key"], creds["secret_key"], creds["token"]) == (
        "ASIAMOTOMOTOMOTOMOTO", "s" * 40, "tok")


def test_botocore_gets_nothing_without_a_role(emu):
    emu.control(role=None)
    assert fetcher(InstanceMetadataFetcher, emu).retrieve_iam_role_credentials() == {}


def test_botocore_treats_assume_role_failure_as_no_credentials(emu):
    emu.control(credentials_code="AssumeRoleUnauthorizedAccess",
                credentials_message="EC2 cannot assume the role")
    assert fetcher(InstanceMetadataFetcher, emu).retrieve_iam_role_credentials() == {}


def test_botocore_retries_through_throttling_and_500(emu):
    emu.control(throttle=1, fail=1, fault_paths=["/latest/meta-data/iam/security-credentials/"])
    creds = fetcher(InstanceMetadataFetcher, emu, num_attempts=3).retrieve_iam_role_credentials()
    assert creds["role_name"] == ROLE
    statuses = [r["status"] for r in json.loads(emu.request("GET", "/_control/log")[2])]
    assert statuses.count(429) == 1 and statuses.count(500) == 1


def test_botocore_times_out_on_a_delayed_token_and_falls_back_to_v1(emu):
    # botocore treats a token read timeout as "no token" and then tries IMDSv1: with tokens
    # required that GET is refused, so there are no credentials.
    emu.control(delay=3, delay_count=1, fault_paths=["/latest/api/token"])
    f = InstanceMetadataFetcher(base_url=emu.base, timeout=1, num_attempts=1, env={})
    assert f.retrieve_iam_role_credentials() == {}
    log = json.loads(emu.request("GET", "/_control/log")[2])
    tokenless = [r for r in log if r["method"] == "GET"]
    assert tokenless and tokenless[0]["status"] == 401


def test_botocore_v1_fallback_works_when_v1_is_open(emu):
    emu.control(v1_open=True, http_endpoint=True)
    f = fetcher(InstanceMetadataFetcher, emu)
    # Force the v1 path: botocore's own token-less GET of the role listing.
    resp = f._get_request("latest/meta-data/iam/security-credentials/", None, token=None)
    assert resp.status_code == 200 and resp.text == ROLE


def test_botocore_sees_disabled_endpoint_403_as_no_token(emu):
    emu.control(http_endpoint=False)
    assert fetcher(IMDSFetcher, emu)._fetch_metadata_token() is None


# ---- the strict parts of the protocol, with raw HTTP -----------------------------------------

def test_token_ttl_is_required_and_range_checked(emu):
    assert emu.request("PUT", "/latest/api/token")[0] == 400
    for bad in ("0", "21601", "-5", "abc", ""):
        status = emu.request("PUT", "/latest/api/token",
                             {"X-aws-ec2-metadata-token-ttl-seconds": bad})[0]
        assert status == 400, bad
    for good in ("1", "21600"):
        _, headers = emu.token(good)
        assert headers["x-aws-ec2-metadata-token-ttl-seconds"] == good


def test_forwarded_and_versioned_token_requests_are_forbidden(emu):
    h = {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    assert emu.request("PUT", "/latest/api/token", {**h, "X-Forwarded-For": "10.0.0.1"})[0] == 403
    assert emu.request("PUT", "/2021-03-23/api/token", h)[0] == 403


def test_tokens_are_required_checked_and_expire(emu):
    assert emu.request("GET", "/latest/meta-data/")[0] == 401
    assert emu.request("GET", "/latest/meta-data/", {"X-aws-ec2-metadata-token": "bogus"})[0] == 401
    emu.control(max_ttl=1)
    token, headers = emu.token("21600")
    assert headers["x-aws-ec2-metadata-token-ttl-seconds"] == "1"
    h = {"X-aws-ec2-metadata-token": token}
    assert emu.request("GET", "/latest/meta-data/instance-id", h)[0] == 200
    time.sleep(1.2)
    assert emu.request("GET", "/latest/meta-data/instance-id", h)[0] == 401


def test_v1_open_answers_tokenless_but_still_checks_tokens(emu):
    emu.control(v1_open=True)
    status, headers, body = emu.request("GET", "/latest/meta-data/")
    assert status == 200 and headers["content-type"] == "text/plain"
    assert b"iam/" in body.split(b"\n")
    assert emu.request("GET", "/latest/meta-data/", {"X-aws-ec2-metadata-token": "bogus"})[0] == 401


def test_listings_items_and_404(emu):
    token, _ = emu.token()
    h = {"X-aws-ec2-metadata-token": token}
    status, headers, body = emu.request("GET", "/latest/meta-data/iam/", h)
    assert (status, body) == (200, b"info\nsecurity-credentials/")
    assert headers["content-type"] == "text/plain"
    status, _, body = emu.request("GET", "/latest/dynamic/instance-identity/document", h)
    doc = json.loads(body)
    assert doc["instanceId"].startswith("i-") and doc["accountId"] == "123456789012"
    info = json.loads(emu.request("GET", "/latest/meta-data/iam/info", h)[2])
    assert info["Code"] == "Success" and info["InstanceProfileArn"].startswith("arn:aws:iam::")
    creds = json.loads(emu.request("GET", f"/latest/meta-data/iam/security-credentials/{ROLE}", h)[2])
    assert set(creds) == {"Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey",
                          "Token", "Expiration"}
    assert creds["Type"] == "AWS-HMAC"
    assert emu.request("GET", "/latest/user-data", h)[0] == 404
    assert emu.request("GET", "/latest/meta-data/no-such-item", h)[0] == 404
    emu.control(role=None)
    assert emu.request("GET", "/latest/meta-data/iam/info", h)[0] == 404
    assert emu.request("GET", "/latest/meta-data/iam/security-credentials/", h)[0] == 404


def test_user_data_plain_and_gzip(emu):
    token, _ = emu.token()
    h = {"X-aws-ec2-metadata-token": token}
    emu.control(user_data="#!/bin/bash\necho hi\n")
    assert emu.request("GET", "/latest/user-data", h)[2] == b"#!/bin/bash\necho hi\n"
    emu.control(user_data_gzip=True)
    body = emu.request("GET", "/latest/user-data", h)[2]
    assert body[:2] == b"\x1f\x8b" and gzip.decompress(body) == b"#!/bin/bash\necho hi\n"


def test_emulator_exits_when_its_stdin_closes():
    e = Emu()
    e.proc.stdin.close()
    assert e.proc.wait(timeout=5) == 0

