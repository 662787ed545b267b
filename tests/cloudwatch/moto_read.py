"""Reads back what the agent sent, signed with the given role credentials.

Usage: moto_read.py ENDPOINT CREDS_JSON LOG_GROUP LOG_STREAM NAMESPACE
Prints {"events": [message, ...], "metrics": {name: {"sum": s, "count": n, "max": m}}}.
Events come from GetLogEvents (all pages), metrics from GetMetricData (Sum, SampleCount,
Maximum over the last two days, summed over the returned periods).
"""
import datetime
import json
import sys

import boto3

endpoint, creds, group, stream, namespace = sys.argv[1:6]
c = json.loads(creds)
kw = dict(
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=c["AccessKeyId"],
    aws_secret_access_key=c["SecretAccessKey"],
    aws_session_token=c["SessionToken"],
)
logs = boto3.client("logs", **kw)
cw = boto3.client("cloudwatch", **kw)

events = []
token = None
while True:
    args = dict(logGroupName=group, logStreamName=stream, startFromHead=True)
    if token:
        args["nextToken"] = token
    try:
        r = logs.get_log_events(**args)
    except logs.exceptions.ResourceNotFoundException:
        break
    events.extend(e["message"] for e in r["events"])
    if not r["events"] or r.get("nextForwardToken") == token:
        break
    token = r.get("nextForwardToken")

now = datetime.datetime.now(datetime.timezone.utc)
names = ["HardcodedCredentials", "InstanceProfileMissing", "IMDSv1Open", "ScanErrors"]
queries = []
for i, n in enumerate(names):
    for stat in ["Sum", "SampleCount", "Maximum"]:
        queries.append(
            {
                "Id": f"m{i}{stat.lower()}",
                "MetricStat": {
                    "Metric": {"Namespace": namespace, "MetricName": n},
                    "Period": 60,
                    "Stat": stat,
                },
            }
        )
r = cw.get_metric_data(
    MetricDataQueries=queries,
    StartTime=now - datetime.timedelta(days=2),
    EndTime=now + datetime.timedelta(hours=1),
)
metrics = {}
for res in r["MetricDataResults"]:
    i = int(res["Id"][1])
    stat = res["Id"][2:]
    if not res["Values"]:
        continue
    m = metrics.setdefault(names[i], {})
    if stat == "maximum":
        m["max"] = max(res["Values"])
    elif stat == "sum":
        m["sum"] = sum(res["Values"])
    else:
        m["count"] = sum(res["Values"])
print(json.dumps({"events": events, "metrics": metrics}))
