"""Deletes a log group behind the agent's back (to test that it re-creates it).

Usage: moto_delete_group.py ENDPOINT CREDS_JSON LOG_GROUP
"""
import json
import sys

import boto3

endpoint, creds, group = sys.argv[1:4]
c = json.loads(creds)
boto3.client(
    "logs",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=c["AccessKeyId"],
    aws_secret_access_key=c["SecretAccessKey"],
    aws_session_token=c["SessionToken"],
).delete_log_group(logGroupName=group)
