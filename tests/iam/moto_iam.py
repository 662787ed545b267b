"""Prepares moto_server (already set up by tests/cloudwatch/moto_setup.py) for the IAM
enrichment tests, then turns SigV4 checking back on.

Usage: moto_iam.py ENDPOINT [ACTIONS]
ACTIONS: more actions for the role, comma-separated (e.g. what the reporting sinks call).
Lets a few calls through unauthenticated (POST /moto-api/reset-auth N), then:
  - creates the IAM user "deploy-bot" and access keys until one's id is a valid newer key id
    (moto's ids are AKIA + 16 of [A-Z0-9], often not base32) whose decoded account is a real
    12-digit one; the rejected keys are deleted (a user may hold two);
  - signs one request with that key (moto records its last use: service sts, us-east-1);
  - creates the role "credhygiene-iam" allowed iam:GetAccessKeyLastUsed and iam:ListAccessKeys
    and assumes it through STS.
Prints {"key_id", "secret", "account", "user", "canary_key_id" (a key id of a canarytokens.org
account), "role": {AccessKeyId, SecretAccessKey, SessionToken, RoleName}}. Finally POSTs /moto-api/reset-auth 0.
"""
import json
import sys
import urllib.request

import boto3

B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def account_of(key_id):
    """The account a newer key id encodes (as src/finding.rs decodes it), or None."""
    body = key_id[4:14]
    if len(body) < 10 or body[0] in "IJ" or any(c not in B32 for c in body):
        return None
    acc = 0
    for c in body:
        acc = (acc << 5) | B32.index(c)
    account = ((acc >> 2) & 0x7FFFFFFFFF80) >> 7
    return f"{account:012d}" if account <= 999_999_999_999 else None


def key_of(account):
    """A key id encoding `account` (the inverse of account_of; the other bits are free)."""
    acc = (int(account) << 7) << 2
    body = "".join(B32[(acc >> (5 * i)) & 31] for i in reversed(range(10)))
    return f"AKIA{body}QQQQQQ"


def reset_auth(endpoint, count):
    req = urllib.request.Request(
        endpoint + "/moto-api/reset-auth", data=str(count).encode(), method="POST",
        headers={"Content-Type": "application/octet-stream"},
    )
    urllib.request.urlopen(req).read()


endpoint = sys.argv[1]
extra_actions = sys.argv[2].split(",") if len(sys.argv) > 2 else []
reset_auth(endpoint, 1000)
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="AKIASETUPSETUPSETUP0", aws_secret_access_key="setup-only")
iam = boto3.client("iam", **kw)
sts = boto3.client("sts", **kw)

iam.create_user(UserName="deploy-bot")
key = None
for _ in range(200):
    k = iam.create_access_key(UserName="deploy-bot")["AccessKey"]
    account = account_of(k["AccessKeyId"])
    if account and account != "000000000000":
        key = k
        break
    iam.delete_access_key(UserName="deploy-bot", AccessKeyId=k["AccessKeyId"])
assert key, "no base32 key id in 200 tries"

# One use of the key, so that IAM has a last-used date for it.
boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1",
             aws_access_key_id=key["AccessKeyId"],
             aws_secret_access_key=key["SecretAccessKey"]).get_caller_identity()

trust = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
role = iam.create_role(RoleName="credhygiene-iam", AssumeRolePolicyDocument=json.dumps(trust))
iam.put_role_policy(
    RoleName="credhygiene-iam", PolicyName="enrich",
    PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Action": ["iam:GetAccessKeyLastUsed", "iam:ListAccessKeys"] + extra_actions,
        "Resource": "*"}]}),
)
c = sts.assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="i-test-iam")["Credentials"]
reset_auth(endpoint, 0)
print(json.dumps({
    "key_id": key["AccessKeyId"], "secret": key["SecretAccessKey"], "account": account,
    "user": "deploy-bot", "canary_key_id": key_of("052310077262"),
    "role": {"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
             "SessionToken": c["SessionToken"], "RoleName": "credhygiene-iam"},
}))
