//! `imds.v1_from_ec2_api`: the daemon reads its instance's `MetadataOptions.HttpTokens` with EC2
//! `DescribeInstances` (moto, behind the front that checks every request against botocore's
//! model, the Query protocol included) instead of sending the token-less IMDSv1 probe, and
//! falls back to the probe when the role may not call it.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::harness::agent_world::{agent_world, AgentWorld, LoggedDaemon};
use crate::harness::moto::run_script;

/// Role checks each daemon run waits for (each reads `iam/info` once).
const ROLE_CHECKS: usize = 8;

/// An instance made in moto (`tests/cloudwatch/moto_ec2.py`) with `HttpTokens = http_tokens`,
/// and the credentials of a role that may describe it.
fn ec2_instance(w: &AgentWorld, http_tokens: &str) -> Value {
    let endpoint = w.moto.endpoint();
    let out = run_script(w.moto.python(), "moto_ec2.py", &[&endpoint, http_tokens]);
    serde_json::from_slice(&out).unwrap()
}

/// Points the emulator at `instance` (its id in the identity document), with IMDSv1 `v1_open`
/// (the opposite of what EC2 says, so that the metric tells which one answered) and, when
/// `allowed`, the credentials of the role that may call `DescribeInstances` (else the "full"
/// role's, which may not). Role checks every 300 ms, the opt-in on.
fn opt_in(w: &AgentWorld, instance: &Value, v1_open: bool, allowed: bool) {
    let mut identity = json!({
        "accountId": "123456789012", "architecture": "x86_64", "availabilityZone": "us-east-1a",
        "imageId": "ami-12c6146b", "instanceType": "t3.micro", "privateIp": "10.0.0.12",
        "pendingTime": "2026-11-25T08:00:00Z", "region": "us-east-1", "version": "2017-09-30"
    });
    identity["instanceId"] = instance["instance_id"].clone();
    let mut change = json!({"identity": identity, "v1_open": v1_open});
    if allowed {
        let role = &instance["role"];
        let expiration =
            humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(3600));
        change["role"] = role["RoleName"].clone();
        change["credentials"] = json!({
            "Code": "Success", "Type": "AWS-HMAC",
            "AccessKeyId": role["AccessKeyId"], "SecretAccessKey": role["SecretAccessKey"],
            "Token": role["SessionToken"], "Expiration": expiration.to_string(),
        });
    }
    w.emu.control(change);
    let text = std::fs::read_to_string(&w.cfg)
        .unwrap()
        .replace("[agent]\n", "[agent]\nrole_check_interval = \"300ms\"\n");
    std::fs::write(&w.cfg, format!("{text}[imds]\nv1_from_ec2_api = true\n")).unwrap();
}

/// Runs the daemon until it made [`ROLE_CHECKS`] role checks; returns its stderr lines.
fn daemon_over_role_checks(w: &AgentWorld) -> Vec<String> {
    let mut d = LoggedDaemon::start(w);
    d.next_cycle();
    let checks = || w.emu.requests("GET", "/latest/meta-data/iam/info").len();
    let end = Instant::now() + Duration::from_secs(30);
    while checks() < ROLE_CHECKS && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    let lines = d.stop();
    assert!(checks() >= ROLE_CHECKS, "only {} role checks", checks());
    lines
}

/// Token-less GETs the emulator saw (each one counts in EC2's `MetadataNoToken`).
fn tokenless(w: &AgentWorld) -> usize {
    w.emu
        .log()
        .iter()
        .filter(|r| r["method"] == "GET")
        .filter(|r| r["headers"].get("x-aws-ec2-metadata-token").is_none())
        .count()
}

/// The `IMDSv1Open` values the agent sent with `PutMetricData`.
fn imdsv1_open_metric(w: &AgentWorld) -> Vec<f64> {
    w.front
        .requests()
        .iter()
        .filter(|r| r["operation"] == "cloudwatch.PutMetricData")
        .flat_map(|r| {
            let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
            body["MetricData"].as_array().unwrap().clone()
        })
        .filter(|m| m["MetricName"] == "IMDSv1Open")
        .map(|m| m["Value"].as_f64().unwrap())
        .collect()
}

/// The `DescribeInstances` requests that reached the front, with moto's status.
fn describe_instances(w: &AgentWorld) -> Vec<Value> {
    let mut r = w.front.requests();
    r.retain(|e| e["operation"] == "ec2.DescribeInstances");
    r
}

/// With the permission, many role checks send no token-less request at all: EC2 answers, once
/// (at most once per `v1_probe_interval`), and the check follows EC2, not the emulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_reads_http_tokens_from_ec2_and_sends_no_tokenless_request() {
    for (http_tokens, v1_open_in_imds, metric) in
        [("required", true, 0.0), ("optional", false, 1.0)]
    {
        let Some(w) = agent_world("1h").await else {
            return;
        };
        let instance = ec2_instance(&w, http_tokens);
        opt_in(&w, &instance, v1_open_in_imds, true);
        let lines = daemon_over_role_checks(&w);
        assert_eq!(tokenless(&w), 0, "HttpTokens={http_tokens}");
        let calls = describe_instances(&w);
        assert_eq!(calls.len(), 1, "HttpTokens={http_tokens}: {calls:?}");
        assert_eq!(calls[0]["status"], 200);
        let body = calls[0]["body"].as_str().unwrap();
        assert!(
            body.contains(instance["instance_id"].as_str().unwrap()),
            "{body}"
        );
        let sent = imdsv1_open_metric(&w);
        assert!(
            !sent.is_empty() && sent.iter().all(|v| *v == metric),
            "HttpTokens={http_tokens}: IMDSv1Open {sent:?}"
        );
        assert!(
            !lines.iter().any(|l| l.contains("ec2:DescribeInstances")),
            "{lines:#?}"
        );
    }
}

/// Without the permission (moto's IAM refuses `ec2:DescribeInstances` to the "full" role):
/// the denial is said once, with the missing action, and the daemon falls back to exactly one
/// token-less probe for all its role checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_describe_instances_falls_back_to_one_probe_and_says_so_once() {
    let Some(w) = agent_world("1h").await else {
        return;
    };
    let instance = ec2_instance(&w, "required");
    opt_in(&w, &instance, true, false);
    let lines = daemon_over_role_checks(&w);
    assert_eq!(tokenless(&w), 1);
    let calls = describe_instances(&w);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["status"], 403);
    let said: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("needs IAM permission ec2:DescribeInstances"))
        .collect();
    assert_eq!(said.len(), 1, "{lines:#?}");
    // The probe answered: IMDSv1 is open in the emulator.
    let sent = imdsv1_open_metric(&w);
    assert!(
        !sent.is_empty() && sent.iter().all(|v| *v == 1.0),
        "IMDSv1Open {sent:?}"
    );
}
