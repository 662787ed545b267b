"""Prepares a moto_server for the CloudWatch tests, then turns SigV4 checking on.

Usage: moto_setup.py ENDPOINT
Creates two IAM roles in moto with their policies and assumes each through moto's STS:
  "full":    everything the agent needs (moto names CloudWatch actions monitoring:*),
             plus the Get* calls the tests read back with;
  "limited": metrics and stream creation, but not logs:PutLogEvents.
Prints {"full": {...}, "limited": {...}} with AccessKeyId/SecretAccessKey/SessionToken.
Finally POSTs /moto-api/reset-auth 0: from then on every call is signature-checked and
IAM-authorised.
"""
import json
import sys
import urllib.request

import boto3

endpoint = sys.argv[1]
kw = dict(
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="AKIASETUPSETUPSETUP0",
    aws_secret_access_key="setup-only-not-checked-yet",
)
iam = boto3.client("iam", **kw)
sts = boto3.client("sts", **kw)

trust = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"},
    ],
}
policies = {
    "full": ["logs:*", "monitoring:*", "cloudwatch:*", "securityhub:*"],
    "limited": [
        "monitoring:PutMetricData",
        "cloudwatch:PutMetricData",
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
    ],
}
out = {}
for name, actions in policies.items():
    role = iam.create_role(RoleName=f"credhygiene-{name}", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(
        RoleName=f"credhygiene-{name}",
        PolicyName="reporting",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
        ),
    )
    c = sts.assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName=f"i-test-{name}")["Credentials"]
    out[name] = {
        "AccessKeyId": c["AccessKeyId"],
        "SecretAccessKey": c["SecretAccessKey"],
        "SessionToken": c["SessionToken"],
        "RoleName": f"credhygiene-{name}",
    }

req = urllib.request.Request(
    endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
    headers={"Content-Type": "application/octet-stream"},
)
urllib.request.urlopen(req).read()
print(json.dumps(out))
