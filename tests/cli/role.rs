//! `credhygiene role`, the IMDS client and the user-data scan source, against the IMDS
//! emulator (tests/imds/emulator.py) on 127.0.0.1. Nothing here contacts 169.254.169.254.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{self, assert_exit, assert_no_secret, KEY_ID, SECRET, SECRET2, TOKEN};
use crate::imds_emulator::{closed_port, Emulator};

/// Credentials with known secrets, so that the tests can prove they never leak.
fn known_credentials() -> Value {
    json!({"credentials": {
        "AccessKeyId": "ASIASXQV3SVWMFRRRM7Q",
        "SecretAccessKey": SECRET2,
        "Token": TOKEN,
    }})
}

fn emulator(extra: Value) -> Emulator {
    let mut state = known_credentials();
    state
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Emulator::start(state)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// Runs `credhygiene -vvv ARGS` against `endpoint`, and checks that no secret, session
/// token or IMDS token appears in its output.
fn run_at(endpoint: &str, args: &[&str], tokens: &[String]) -> Run {
    let start = Instant::now();
    let out = common::credhygiene()
        .env("AWS_EC2_METADATA_DISABLED", "false")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint)
        .arg("-vvv")
        .args(args)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    let mut secrets: Vec<&str> = vec![SECRET, SECRET2, TOKEN];
    secrets.extend(tokens.iter().map(String::as_str));
    assert_no_secret(&out.stdout, &secrets);
    assert_no_secret(&out.stderr, &secrets);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed,
    }
}

/// Every IMDS token the emulator issued (they must not leak either).
fn issued_tokens(emu: &Emulator) -> Vec<String> {
    emu.log()
        .iter()
        .filter_map(|r| r["headers"]["x-aws-ec2-metadata-token"].as_str())
        .map(str::to_string)
        .collect()
}

fn role(emu: &Emulator, format: &str) -> Run {
    let r = run_at(&emu.endpoint(), &["role", "--format", format], &[]);
    let tokens = issued_tokens(emu);
    assert!(!tokens.is_empty() || r.code == 3, "no token was used");
    assert_no_secret(
        r.stdout.as_bytes(),
        &tokens.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_no_secret(
        r.stderr.as_bytes(),
        &tokens.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    r
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report}"))
}

/// Runs `role --format json` against an emulator started with `extra` (see [`emulator`]),
/// checks that the run fails (exit 1) with the `role_credentials_valid` check failed, and
/// returns that check.
fn failed_credentials_check(extra: Value) -> Value {
    let emu = emulator(extra);
    let r = role(&emu, "json");
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    let c = check(&r.json(), "role_credentials_valid").clone();
    assert_eq!(c["status"], "fail", "{c}");
    c
}

#[test]
fn role_passes_with_profile_and_imdsv2_required() {
    let emu = emulator(json!({}));
    let r = role(&emu, "json");
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let v = r.json();
    assert_eq!(v["status"], "pass");
    assert_eq!(
        v["imds"],
        json!({"endpoint": emu.endpoint(), "reachable": true, "v1_open": false})
    );
    assert_eq!(
        v["instance"],
        json!({
            "instance_id": "i-0123456789abcdef0", "account_id": "123456789012",
            "region": "us-east-1", "availability_zone": "us-east-1a",
            "instance_type": "t3.micro", "image_id": "ami-0abcdef1234567890"
        })
    );
    assert_eq!(
        v["instance_profile"],
        json!({
            "attached": true,
            "arn": "arn:aws:iam::123456789012:instance-profile/credhygiene-test-profile",
            "role": "credhygiene-test-role"
        })
    );
    let creds = v["credentials"].as_object().unwrap();
    assert_eq!(
        creds.keys().collect::<Vec<_>>(),
        ["access_key_id", "expiration", "last_updated"]
    );
    assert_eq!(creds["access_key_id"], "ASIASXQV3SVWMFRRRM7Q");
    assert!(humantime::parse_rfc3339(creds["expiration"].as_str().unwrap()).is_ok());
    let ids: Vec<_> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "instance_profile_attached",
            "imdsv2_required",
            "role_credentials_valid"
        ]
    );
    for c in v["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "pass", "{c}");
        assert!(c.get("remediation").is_none(), "{c}");
    }
    // DESIGN.md's keys, in DESIGN.md's order.
    let order = [
        "status",
        "imds",
        "instance",
        "instance_profile",
        "credentials",
        "checks",
    ];
    assert_eq!(v.as_object().unwrap().len(), order.len());
    let at: Vec<_> = order
        .iter()
        .map(|k| r.stdout.find(&format!("\n  \"{k}\":")).expect(k))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{}", r.stdout);
}

#[test]
fn role_requests_follow_the_imdsv2_protocol() {
    let emu = emulator(json!({}));
    // A proxy that would swallow every request: the IMDS client must not use it.
    let proxy = format!("http://127.0.0.1:{}", closed_port());
    let start = Instant::now();
    let out = common::credhygiene()
        .env("AWS_EC2_METADATA_DISABLED", "false")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", emu.endpoint())
        .env("HTTP_PROXY", &proxy)
        .env("http_proxy", &proxy)
        .env("ALL_PROXY", &proxy)
        .args(["role", "--format", "json"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(start.elapsed() < Duration::from_secs(10));
    let log = emu.log();
    let puts: Vec<_> = log.iter().filter(|r| r["method"] == "PUT").collect();
    assert_eq!(puts.len(), 1, "one token for the whole run: {log:?}");
    assert_eq!(puts[0]["path"], "/latest/api/token");
    assert_eq!(
        puts[0]["headers"]["x-aws-ec2-metadata-token-ttl-seconds"],
        "21600"
    );
    for r in &log {
        assert!(
            r["headers"].get("x-forwarded-for").is_none(),
            "X-Forwarded-For sent: {r}"
        );
        if r["method"] == "GET" && r["path"] != "/latest/meta-data/" {
            assert!(
                r["headers"].get("x-aws-ec2-metadata-token").is_some(),
                "GET without token: {r}"
            );
        }
    }
    // Exactly one token-less probe of /latest/meta-data/ (CIS 5.6), answered 401.
    let probes: Vec<_> = log
        .iter()
        .filter(|r| {
            r["path"] == "/latest/meta-data/"
                && r["headers"].get("x-aws-ec2-metadata-token").is_none()
        })
        .collect();
    assert_eq!(probes.len(), 1, "{log:?}");
    assert_eq!(probes[0]["status"], 401);
}

#[test]
fn role_fails_without_instance_profile() {
    let emu = emulator(json!({"role": null}));
    let r = role(&emu, "json");
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    let v = r.json();
    assert_eq!(v["status"], "fail");
    assert_eq!(
        v["instance_profile"],
        json!({"attached": false, "arn": null, "role": null})
    );
    assert!(v["credentials"].is_null());
    let c = check(&v, "instance_profile_attached");
    assert_eq!(c["status"], "fail");
    assert_eq!(
        c["remediation"]["command"],
        "aws ec2 associate-iam-instance-profile --instance-id i-0123456789abcdef0 --iam-instance-profile Name=<profile-name>"
    );
    assert!(c["remediation"]["why"].as_str().unwrap().contains("1.18"));
    assert_eq!(check(&v, "role_credentials_valid")["status"], "unknown");

    let text = role(&emu, "text");
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.starts_with("instance role check: FAIL"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("fix: aws ec2 associate-iam-instance-profile"),
        "{}",
        text.stdout
    );
}

#[test]
fn role_fails_when_imdsv1_is_open() {
    let emu = emulator(json!({"v1_open": true}));
    let r = role(&emu, "json");
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    let v = r.json();
    assert_eq!(v["imds"]["v1_open"], true);
    let c = check(&v, "imdsv2_required");
    assert_eq!(c["status"], "fail");
    assert_eq!(c["detail"], "IMDSv1 requests are answered");
    assert_eq!(
        c["remediation"]["command"],
        "aws ec2 modify-instance-metadata-options --instance-id i-0123456789abcdef0 --http-tokens required --http-endpoint enabled"
    );
    assert_eq!(check(&v, "instance_profile_attached")["status"], "pass");
}

#[test]
fn role_explains_assume_role_unauthorized_access() {
    let c = failed_credentials_check(json!({
        "credentials_code": "AssumeRoleUnauthorizedAccess",
        "credentials_message": "EC2 cannot assume the role credhygiene-test-role."
    }));
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains("trust policy does not allow ec2.amazonaws.com"),
        "{detail}"
    );
    assert!(c["remediation"]["command"]
        .as_str()
        .unwrap()
        .starts_with("aws iam update-assume-role-policy --role-name credhygiene-test-role"));
}

#[test]
fn role_fails_on_expired_credentials() {
    let c = failed_credentials_check(json!({"credentials": {
        "AccessKeyId": "ASIASXQV3SVWMFRRRM7Q", "SecretAccessKey": SECRET2, "Token": TOKEN,
        "Expiration": "2020-01-01T00:00:00Z"
    }}));
    assert!(c["detail"]
        .as_str()
        .unwrap()
        .contains("expired at 2020-01-01T00:00:00Z"));
}

#[test]
fn role_fails_on_malformed_credentials_json() {
    let c = failed_credentials_check(json!({
        "malformed": ["/latest/meta-data/iam/security-credentials/credhygiene-test-role"]
    }));
    assert!(
        c["detail"].as_str().unwrap().contains("do not parse"),
        "{c}"
    );
}

#[test]
fn role_sees_rotated_credentials() {
    let emu = Emulator::start(json!({}));
    let first = role(&emu, "json").json();
    emu.control(json!({"rotate": true}));
    let second = role(&emu, "json").json();
    let a = first["credentials"]["access_key_id"].as_str().unwrap();
    let b = second["credentials"]["access_key_id"].as_str().unwrap();
    assert!(a.starts_with("ASIA") && b.starts_with("ASIA"));
    assert_ne!(a, b, "rotation not seen");
    // The generated secrets must not leak either.
    let state: Value = serde_json::from_str(&emu.http("GET", "/_control/state", "").1).unwrap();
    assert!(state["credentials"].is_null());
}

#[test]
fn role_retries_throttling_then_succeeds() {
    let emu = emulator(json!({"throttle": 2}));
    let r = role(&emu, "json");
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let statuses: Vec<_> = emu.log().iter().map(|r| r["status"].clone()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
}

#[test]
fn role_retries_server_errors_then_succeeds() {
    let emu = emulator(json!({"fail": 3}));
    let r = role(&emu, "json");
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let puts = emu.requests("PUT", "/latest/api/token");
    assert_eq!(puts.len(), 4, "3 x 500 then 200: {puts:?}");
}

#[test]
fn role_gives_up_on_persistent_server_errors() {
    let emu = emulator(json!({"fail": 1000}));
    let r = role(&emu, "text");
    assert_eq!(r.code, 3, "stdout: {}", r.stdout);
    assert!(
        r.stderr
            .contains("answered 500 Internal Server Error after 4 attempt(s)"),
        "{}",
        r.stderr
    );
    assert!(r.elapsed < Duration::from_secs(8), "{:?}", r.elapsed);
    assert_eq!(emu.requests("PUT", "/latest/api/token").len(), 4);
}

#[test]
fn role_gets_a_new_token_when_it_expires_mid_run() {
    // Each token is good for 2 requests; the run needs more, so IMDS answers 401 and the
    // client must drop the token, fetch another and retry.
    let emu = emulator(json!({"token_max_uses": 2}));
    let r = role(&emu, "json");
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let log = emu.log();
    let puts = log.iter().filter(|r| r["method"] == "PUT").count();
    let unauthorized_with_token = log
        .iter()
        .filter(|r| r["status"] == 401 && r["headers"].get("x-aws-ec2-metadata-token").is_some())
        .count();
    assert!(puts >= 2, "{log:?}");
    assert!(unauthorized_with_token >= 1, "{log:?}");
}

#[test]
fn role_diagnoses_hop_limit_when_token_put_hangs() {
    // The PUT is accepted on TCP but never answered in time: what a container behind a PUT
    // response hop limit of 1 sees.
    let emu = emulator(json!({
        "delay": 3.0, "delay_count": 100, "fault_paths": ["/latest/api/token"]
    }));
    let r = role(&emu, "json");
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("hop limit is probably 1"), "{}", r.stderr);
    assert!(r.elapsed < Duration::from_secs(6), "{:?}", r.elapsed);
    let v = r.json();
    assert_eq!(v["status"], "unknown");
    assert_eq!(v["imds"]["reachable"], false);
}

#[test]
fn role_treats_slow_credentials_as_unknown() {
    let emu = emulator(json!({
        "delay": 2.5, "delay_count": 100,
        "fault_paths": ["/latest/meta-data/iam/security-credentials/credhygiene-test-role"]
    }));
    let r = role(&emu, "json");
    assert_eq!(r.code, 3, "stderr: {}", r.stderr);
    let v = r.json();
    assert_eq!(v["status"], "unknown");
    assert_eq!(check(&v, "role_credentials_valid")["status"], "unknown");
    assert_eq!(check(&v, "instance_profile_attached")["status"], "pass");
}

#[test]
fn role_connection_refused_is_exit_3_quickly() {
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let r = run_at(&endpoint, &["role"], &[]);
    assert_eq!(r.code, 3);
    assert!(r.elapsed < Duration::from_secs(3), "{:?}", r.elapsed);
    let err: Vec<_> = r.stderr.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(err.len(), 1, "{}", r.stderr);
    assert!(err[0].contains(&format!(
        "cannot reach the instance metadata service at {endpoint}"
    )));
    assert!(err[0].contains("not an EC2 instance"), "{}", err[0]);
    assert!(r.stdout.is_empty());

    let j = run_at(&endpoint, &["role", "--format", "json"], &[]);
    assert_eq!(j.code, 3);
    let v = j.json();
    assert_eq!(v["status"], "unknown");
    assert!(
        v["instance"].is_null() && v["instance_profile"].is_null() && v["credentials"].is_null()
    );
}

#[test]
fn role_with_metadata_endpoint_turned_off_is_exit_3() {
    let emu = emulator(json!({"http_endpoint": false}));
    let r = role(&emu, "text");
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("HttpEndpoint=disabled"), "{}", r.stderr);
    assert_eq!(emu.log().len(), 1, "403 is not retried");
}

#[test]
fn role_with_imds_disabled_is_exit_3() {
    let out = common::credhygiene().args(["role"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("IMDS is disabled"), "{err}");
}

fn user_data() -> String {
    format!(
        "#!/bin/bash\nexport AWS_ACCESS_KEY_ID={KEY_ID}\nexport AWS_SECRET_ACCESS_KEY={SECRET}\n"
    )
}

fn scan_config(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("clean.txt"), "nothing here\n").unwrap();
    let cfg = dir.path().join("credhygiene.toml");
    std::fs::write(
        &cfg,
        format!(
            "[scan]\npaths = [{:?}]\nenv_files = []\nprocesses = false\nallowlist = {:?}\n",
            tree.display().to_string(),
            dir.path().join("allowlist").display().to_string()
        ),
    )
    .unwrap();
    cfg
}

/// `credhygiene --config CFG scan --format json` against the IMDS at `endpoint`.
fn scan_json_at(endpoint: &str, cfg: &Path) -> Run {
    let args = [
        "--config",
        cfg.to_str().unwrap(),
        "scan",
        "--format",
        "json",
    ];
    run_at(endpoint, &args, &[])
}

/// Starts an emulator with `state` (on top of [`known_credentials`]), scans a clean tree and
/// the emulator's user-data, checks that the scan found something (exit 1), and returns the
/// emulator and the JSON report.
fn scan_with_user_data(state: Value) -> (Emulator, Value) {
    let emu = emulator(state);
    let dir = tempfile::tempdir().unwrap();
    let cfg = scan_config(&dir);
    let r = scan_json_at(&emu.endpoint(), &cfg);
    assert_eq!(r.code, 1, "stderr: {}", r.stderr);
    (emu, r.json())
}

fn scan_user_data(gzip: bool) {
    let (emu, v) = scan_with_user_data(json!({"user_data": user_data(), "user_data_gzip": gzip}));
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2, "{v}");
    for f in findings {
        assert_eq!(f["source"], "user_data");
        assert_eq!(f["path"], "imds:/latest/user-data");
        assert_eq!(f["key_id"], KEY_ID);
    }
    assert_eq!(findings[0]["credential"], findings[1]["credential"]);
    let secret = findings
        .iter()
        .find(|f| f["kind"] == "secret_access_key")
        .unwrap();
    assert_eq!(secret["line"], 3);
    assert_eq!(secret["redacted"], "V+Hg…");
    assert_eq!(v["stats"]["errors"], 0);
    assert_eq!(v["stats"]["files"], 2, "one file and the user-data");
    assert_eq!(emu.requests("GET", "/latest/user-data").len(), 1);
}

#[test]
fn scan_finds_keys_in_plain_user_data() {
    scan_user_data(false);
}

#[test]
fn scan_finds_keys_in_gzip_user_data() {
    scan_user_data(true);
}

#[test]
fn scan_finds_keys_in_base64_mime_user_data() {
    use base64::Engine as _;
    let part = base64::engine::general_purpose::STANDARD.encode(user_data());
    let mime = format!(
        "Content-Type: multipart/mixed; boundary=\"==BOUNDARY==\"\nMIME-Version: 1.0\n\n\
         --==BOUNDARY==\nContent-Type: text/x-shellscript; charset=\"utf-8\"\n\
         Content-Transfer-Encoding: base64\n\n{part}\n--==BOUNDARY==--\n"
    );
    let (_emu, v) = scan_with_user_data(json!({"user_data": mime}));
    let findings = v["findings"].as_array().unwrap();
    // The key id and the secret are only visible once the part is decoded, and the reader
    // decodes it in place: each is found once, in plain text (not also by the matcher's own
    // base64 decoding of the part, which the reader no longer leaves in).
    let found: Vec<_> = findings
        .iter()
        .map(|f| {
            assert_eq!(f["source"], "user_data", "{f}");
            assert!(f.get("encoding").is_none_or(|e| e == &json!([])), "{f}");
            (f["kind"].as_str().unwrap(), f["key_id"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        found,
        [("access_key_id", KEY_ID), ("secret_access_key", KEY_ID)],
        "{v}"
    );
}

#[test]
fn scan_without_user_data_or_off_ec2_is_clean_and_fast() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = scan_config(&dir);
    // No user-data on the instance: 404, clean.
    let emu = emulator(json!({}));
    let r = scan_json_at(&emu.endpoint(), &cfg);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert_eq!(r.json()["stats"]["errors"], 0);
    // Off EC2 (connection refused): not an error, logged at info, fast.
    let off = format!("http://127.0.0.1:{}", closed_port());
    let r = scan_json_at(&off, &cfg);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert_eq!(r.json()["stats"]["errors"], 0);
    assert!(r.stderr.contains("user-data not scanned"), "{}", r.stderr);
    assert!(r.elapsed < Duration::from_secs(3), "{:?}", r.elapsed);
    // scan.user_data = false: IMDS is not asked.
    let emu = emulator(json!({"user_data": user_data()}));
    let text = std::fs::read_to_string(&cfg).unwrap() + "user_data = false\n";
    std::fs::write(&cfg, text).unwrap();
    let r = scan_json_at(&emu.endpoint(), &cfg);
    assert_eq!(r.code, 0);
    assert!(emu.log().is_empty());
}

// ---- the library API the agent and the CloudWatch sink use ----------------------------------

use credhygiene::imds::{CredentialsProvider, ImdsClient, ImdsError};

fn client(emu: &Emulator) -> Arc<ImdsClient> {
    Arc::new(
        ImdsClient::builder()
            .endpoint(emu.endpoint())
            .build()
            .unwrap(),
    )
}

/// An emulator started with `state`, and a credentials provider over a client of it.
fn provider(state: Value) -> (Emulator, CredentialsProvider) {
    let emu = Emulator::start(state);
    let p = CredentialsProvider::new(client(&emu));
    (emu, p)
}

#[tokio::test]
async fn provider_caches_until_the_refresh_window() {
    let (emu, p) = provider(json!({}));
    let a = p.credentials().await.unwrap();
    let b = p.credentials().await.unwrap();
    assert_eq!(a.access_key_id, b.access_key_id);
    let path = "/latest/meta-data/iam/security-credentials/credhygiene-test-role";
    assert_eq!(emu.requests("GET", path).len(), 1, "served from the cache");
    let dbg = format!("{a:?} {p:?}");
    assert!(!dbg.contains(a.secret_access_key.expose()), "Debug leaks");
    assert!(!dbg.contains(a.session_token.expose()), "Debug leaks");
}

#[tokio::test]
async fn provider_refresh_forces_and_serves_last_good_when_imds_fails() {
    let (emu, p) = provider(json!({}));
    let a = p.credentials().await.unwrap();
    emu.control(json!({"rotate": true}));
    let b = p.refresh().await.unwrap();
    assert_ne!(a.access_key_id, b.access_key_id, "refresh() asks IMDS");
    emu.control(json!({"fail": 1000}));
    let c = p.refresh().await.unwrap();
    assert_eq!(c.access_key_id, b.access_key_id, "static stability");
    let d = p.credentials().await.unwrap();
    assert_eq!(d.access_key_id, b.access_key_id);
}

#[tokio::test]
async fn provider_without_cache_reports_the_error() {
    let (_emu, p) = provider(json!({"role": null}));
    assert!(matches!(
        p.credentials().await.unwrap_err(),
        ImdsError::NoRole { .. }
    ));
    let off = ImdsClient::builder()
        .endpoint(format!("http://127.0.0.1:{}", closed_port()))
        .build()
        .unwrap();
    let p = CredentialsProvider::new(Arc::new(off));
    assert!(p.credentials().await.unwrap_err().is_unreachable());
}

#[tokio::test]
async fn client_reads_items_and_404_is_none() {
    let emu = Emulator::start(json!({}));
    let c = client(&emu);
    let id = c.identity_document().await.unwrap().unwrap();
    assert_eq!(id.instance_id, "i-0123456789abcdef0");
    let info = c.iam_info().await.unwrap().unwrap();
    assert_eq!(info.code, "Success");
    assert!(c
        .get("/latest/meta-data/nothing-here")
        .await
        .unwrap()
        .is_none());
    assert!(c.user_data(1 << 20).await.unwrap().is_none());
}

#[tokio::test]
async fn client_does_not_retry_403() {
    let emu = Emulator::start(json!({"http_endpoint": false}));
    let c = client(&emu);
    let e = c.identity_document().await.unwrap_err();
    assert!(matches!(e, ImdsError::Forbidden { .. }), "{e:?}");
    assert!(e.to_string().contains("403 Forbidden"), "{e}");
    assert_eq!(emu.log().len(), 1, "403 is not retried");
}

#[tokio::test]
async fn client_works_over_ipv6_loopback_and_diagnoses_hop_limit_there() {
    let emu = Emulator::start_on("::1", json!({}));
    assert!(emu.endpoint().starts_with("http://[::1]:"));
    let c = client(&emu);
    let id = c.identity_document().await.unwrap().unwrap();
    assert_eq!(id.region, "us-east-1");
    // The TCP probe of the hop-limit diagnosis must handle the bracketed address too.
    emu.control(json!({"delay": 3.0, "delay_count": 100, "fault_paths": ["/latest/api/token"]}));
    let c = client(&emu);
    let e = c.ensure_token().await.unwrap_err();
    assert!(matches!(e, ImdsError::HopLimit { .. }), "{e:?}");
}

#[tokio::test]
async fn client_recovers_when_imds_invalidates_its_token() {
    let emu = Emulator::start(json!({}));
    let c = client(&emu);
    c.get("/latest/meta-data/instance-id")
        .await
        .unwrap()
        .unwrap();
    emu.control(json!({"expire_tokens": true}));
    let id = c.get_text("/latest/meta-data/instance-id").await.unwrap();
    assert_eq!(id.as_deref(), Some("i-0123456789abcdef0"));
    let statuses: Vec<_> = emu
        .log()
        .iter()
        .map(|r| format!("{} {}", r["method"].as_str().unwrap(), r["status"]))
        .collect();
    assert_eq!(
        statuses,
        ["PUT 200", "GET 200", "GET 401", "PUT 200", "GET 200"]
    );
}
