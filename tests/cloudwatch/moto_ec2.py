"""Adds to a moto_server that moto_setup.py prepared an EC2 instance and a role that may read it.

Usage: moto_ec2.py ENDPOINT HTTP_TOKENS
With IAM checks paused (/moto-api/reset-auth): runs one instance with
MetadataOptions.HttpTokens = HTTP_TOKENS ("required" or "optional"), creates the role
"credhygiene-ec2" (the "full" role's actions plus the opt-in statement of
packaging/aws/credhygiene-instance-policy-ec2.json: ec2:DescribeInstances on "*") and assumes
it; then turns the checks on again. Prints {"instance_id": ..., "role": {RoleName,
AccessKeyId, SecretAccessKey, SessionToken}}.
"""
import json
import os
import sys
import urllib.request

import boto3

endpoint, http_tokens = sys.argv[1:3]
kw = dict(
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id="AKIASETUPSETUPSETUP0",
    aws_secret_access_key="setup-only-not-checked-yet",
)
HERE = os.path.dirname(os.path.abspath(__file__))
OPT_IN = os.path.join(HERE, "..", "..", "packaging", "aws", "credhygiene-instance-policy-ec2.json")


def reset_auth(count):
    req = urllib.request.Request(
        endpoint + "/moto-api/reset-auth", data=str(count).encode(), method="POST",
        headers={"Content-Type": "application/octet-stream"},
    )
    urllib.request.urlopen(req).read()


reset_auth(1000000)
ec2 = boto3.client("ec2", **kw)
instance = ec2.run_instances(
    ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro",
    MetadataOptions={"HttpTokens": http_tokens},
)["Instances"][0]

with open(OPT_IN) as f:
    opt_in = json.load(f)["Statement"]
# moto does not evaluate conditions it does not know; the shipped statement is used as is.
statements = [{"Effect": "Allow", "Action": ["logs:*", "monitoring:*", "cloudwatch:*"], "Resource": "*"}]
statements += opt_in
iam = boto3.client("iam", **kw)
trust = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
role = iam.create_role(RoleName="credhygiene-ec2", AssumeRolePolicyDocument=json.dumps(trust))
iam.put_role_policy(
    RoleName="credhygiene-ec2", PolicyName="reporting-and-imds-options",
    PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
)
c = boto3.client("sts", **kw).assume_role(
    RoleArn=role["Role"]["Arn"], RoleSessionName="i-test-ec2")["Credentials"]
reset_auth(0)
print(json.dumps({
    "instance_id": instance["InstanceId"],
    "role": {
        "RoleName": "credhygiene-ec2",
        "AccessKeyId": c["AccessKeyId"],
        "SecretAccessKey": c["SecretAccessKey"],
        "SessionToken": c["SessionToken"],
    },
}))
