"""Reads every finding back from a moto_server's Security Hub with boto3.

Usage: securityhub_read.py ENDPOINT CREDS_JSON
CREDS_JSON: {"AccessKeyId", "SecretAccessKey", "SessionToken"} (moto's "full" role).
Prints the findings (GetFindings, every page) as one JSON list.
"""
import json
import sys

import boto3

endpoint, creds = sys.argv[1], json.loads(sys.argv[2])
client = boto3.client(
    "securityhub",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=creds["AccessKeyId"],
    aws_secret_access_key=creds["SecretAccessKey"],
    aws_session_token=creds["SessionToken"],
)
out, token = [], None
while True:
    kw = {"NextToken": token} if token else {}
    page = client.get_findings(MaxResults=100, **kw)
    out += page["Findings"]
    token = page.get("NextToken")
    if not token:
        break
print(json.dumps(out))
