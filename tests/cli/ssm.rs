//! Systems Manager Compliance end to end: the agent with role credentials from the IMDS
//! emulator reports to the recording SSM server (`harness::ssm`), which checks every request
//! against botocore's model and its signature; the items are read back from the server.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::common::{assert_exit, assert_no_secret, KEY_ID, SECRET, SECRET2, TOKEN};
use crate::harness::agent_world::agent_command;
use crate::harness::fixtures::{plant_corpus, ACCOUNT, INSTANCE_ID};
use crate::harness::moto::venv;
use crate::harness::ssm::{SsmServer, ROLE_KEY_ID, ROLE_SECRET, ROLE_TOKEN};
use crate::imds_emulator::{closed_port, Emulator};

/// The IMDS emulator for [`INSTANCE_ID`] with the SSM tests' role credentials, IMDSv1 open.
fn emulator() -> Emulator {
    let in_an_hour = SystemTime::now() + Duration::from_secs(3600);
    Emulator::start(json!({
        "v1_open": true,
        "role": "credhygiene-test",
        "identity": {
            "accountId": ACCOUNT, "architecture": "x86_64", "availabilityZone": "us-east-1a",
            "billingProducts": null, "imageId": "ami-0abcdef1234567890",
            "instanceId": INSTANCE_ID, "instanceType": "t3.micro",
            "pendingTime": "2026-11-25T08:00:00Z", "privateIp": "10.0.0.12",
            "region": "us-east-1", "version": "2017-09-30"
        },
        "credentials": {
            "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": ROLE_KEY_ID,
            "SecretAccessKey": ROLE_SECRET, "Token": ROLE_TOKEN,
            "Expiration": humantime::format_rfc3339_seconds(in_an_hour).to_string(),
        }
    }))
}

/// A config over `tree`, state in `dir/state`, CloudWatch off (this is SSM's test).
fn config(dir: &Path, tree: &Path) -> PathBuf {
    let cfg = dir.join("c.toml");
    let text = format!(
        "[agent]\nsplay = \"0s\"\nfirst_contact_splay = \"0s\"\nstate_dir = \"{}\"\n[scan]\npaths = [\"{}\"]\nenv_files = []\nprocesses = false\nuser_data = false\n[cloudwatch]\nenabled = false\n",
        dir.join("state").display(),
        tree.display()
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

/// One `run --once` reporting to `ssm`.
fn run_once(cfg: &Path, emu: &Emulator, ssm: &SsmServer) -> Output {
    let cw = format!("http://127.0.0.1:{}", closed_port());
    agent_command(cfg, &emu.endpoint(), &cw, &["run", "--once"])
        .env("AWS_ENDPOINT_URL_SSM", ssm.url())
        .output()
        .unwrap()
}

/// The stored items by id.
fn items_by_id(set: &Value) -> std::collections::BTreeMap<String, Value> {
    (set["Items"].as_array().unwrap().iter())
        .map(|i| (i["Id"].as_str().unwrap().to_string(), i.clone()))
        .collect()
}

#[test]
fn a_managed_instance_gets_one_item_per_check_and_credential_and_a_clean_up_replaces_the_set() {
    let Some(venv) = venv() else { return };
    let ssm = SsmServer::start(&venv.join("bin/python"), &[INSTANCE_ID]);
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("srv");
    plant_corpus(&tree);
    let cfg = config(dir.path(), &tree);

    let out = run_once(&cfg, &emu, &ssm);
    assert_exit(&out, 0);
    let set = ssm.items(INSTANCE_ID).expect("the items were stored");
    assert_eq!(set["ExecutionSummary"]["ExecutionType"], "Command");
    let items = items_by_id(&set);
    let status = |id: &str| {
        let i = &items[id];
        (
            i["Status"].as_str().unwrap(),
            i["Severity"].as_str().unwrap(),
        )
    };
    assert_eq!(
        status("instance_profile_attached"),
        ("COMPLIANT", "UNSPECIFIED")
    );
    assert_eq!(status("imdsv2_required"), ("NON_COMPLIANT", "HIGH"));
    assert_eq!(
        status("role_credentials_valid"),
        ("COMPLIANT", "UNSPECIFIED")
    );
    assert_eq!(status("no_static_keys_with_role").0, "NON_COMPLIANT");
    let creds: Vec<&Value> = items
        .values()
        .filter(|i| i["Details"]["fingerprint"].is_string())
        .collect();
    assert_eq!(items.len(), 4 + creds.len(), "{items:#?}");
    assert!(!creds.is_empty());
    let key = creds
        .iter()
        .find(|i| i["Details"]["key_id"] == KEY_ID)
        .expect("the planted key has an item");
    assert_eq!(key["Status"], "NON_COMPLIANT");
    assert!(key["Details"]["path"].as_str().unwrap().ends_with("/.env"));
    assert_eq!(key["Details"]["line"], "1");
    assert!(key["Details"]["owner_account"].is_string());
    assert!(creds.iter().all(|i| i["Severity"] != "UNSPECIFIED"));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("ssm:") && summary.contains("delivered"),
        "{summary}"
    );
    eprintln!("PutComplianceItems as sent: {}", ssm.requests()[0]["body"]);

    // The same picture again: nothing to send (the daily refresh is a day away).
    assert_exit(&run_once(&cfg, &emu, &ssm), 0);
    assert_eq!(ssm.requests().len(), 1);

    // The keys are removed: the next cycle replaces the set.
    std::fs::remove_file(tree.join(".env")).unwrap();
    std::fs::remove_dir_all(tree.join("app")).unwrap();
    let out = run_once(&cfg, &emu, &ssm);
    assert_exit(&out, 0);
    assert_eq!(ssm.requests().len(), 2);
    let items = items_by_id(&ssm.items(INSTANCE_ID).unwrap());
    let ids: Vec<&str> = items.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        [
            "imdsv2_required",
            "instance_profile_attached",
            "no_static_keys_with_role",
            "role_credentials_valid"
        ]
    );
    assert_eq!(items["no_static_keys_with_role"]["Status"], "COMPLIANT");

    // No secret in any byte the server received, nor in the sink's state.
    let secrets = [SECRET, SECRET2, TOKEN, ROLE_SECRET, ROLE_TOKEN];
    assert_no_secret(&ssm.bodies(), &secrets);
    let state = std::fs::read(dir.path().join("state/ssm-compliance.json")).unwrap();
    assert_no_secret(&state, &secrets);
    let status = crate::common::credhygiene()
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "status",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["sinks"]["ssm"], json!({"state": "active"}), "{doc}");
}

/// Moves the inactive sink's `since` a day back, as if a day had passed.
fn age_inactive_by_a_day(state_dir: &Path) {
    let path = state_dir.join("ssm-compliance.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let since = m["inactive"]["since"]
        .as_u64()
        .expect("the sink is inactive");
    m["inactive"]["since"] = json!(since - 24 * 3600);
    std::fs::write(&path, m.to_string()).unwrap();
}

#[test]
fn an_instance_not_managed_is_said_once_and_asked_again_daily() {
    let Some(venv) = venv() else { return };
    let ssm = SsmServer::start(&venv.join("bin/python"), &[]);
    let emu = emulator();
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("srv");
    plant_corpus(&tree);
    let cfg = config(dir.path(), &tree);
    let said = |out: &Output| {
        String::from_utf8_lossy(&out.stderr)
            .matches("Systems Manager Compliance is inactive")
            .count()
    };

    let first = run_once(&cfg, &emu, &ssm);
    assert_exit(&first, 0);
    assert_eq!(
        said(&first),
        1,
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(ssm.requests().len(), 1);
    assert_eq!(ssm.requests()[0]["code"], "InvalidResourceId");
    let status = crate::common::credhygiene()
        .args(["--config", cfg.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("SSM:") && text.contains("not managed by Systems Manager"),
        "{text}"
    );

    // No call, nothing said, until a day has passed.
    let second = run_once(&cfg, &emu, &ssm);
    assert_eq!(said(&second), 0);
    assert_eq!(ssm.requests().len(), 1);

    // A day later the role is denied: asked again, the new reason said once, with the action.
    ssm.configure(&[INSTANCE_ID], &[INSTANCE_ID]);
    age_inactive_by_a_day(&dir.path().join("state"));
    let third = run_once(&cfg, &emu, &ssm);
    let err = String::from_utf8_lossy(&third.stderr);
    assert_eq!(said(&third), 1, "{err}");
    assert!(
        err.contains("ssm:PutComplianceItems") && err.contains(&format!("instance/{INSTANCE_ID}")),
        "{err}"
    );
    assert_eq!(ssm.requests().len(), 2);

    // Another day, the instance is managed and the role allowed: the set arrives.
    ssm.configure(&[INSTANCE_ID], &[]);
    age_inactive_by_a_day(&dir.path().join("state"));
    assert_exit(&run_once(&cfg, &emu, &ssm), 0);
    assert_eq!(ssm.requests().len(), 3);
    assert!(ssm.items(INSTANCE_ID).is_some());
    assert_no_secret(
        &ssm.bodies(),
        &[SECRET, SECRET2, TOKEN, ROLE_SECRET, ROLE_TOKEN],
    );
}
