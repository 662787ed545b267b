//! The Security Hub sink end to end: the agent (`run --once`, a new process each time, so
//! each run is also a restart) with role credentials from the IMDS emulator, importing into
//! moto through a front that checks every request against botocore's `securityhub` model
//! (moto itself checks neither `ProductArn` nor the ASFF shape); the findings read back with
//! boto3.

use serde_json::Value;

use crate::common::{assert_exit, KEY_ID};
use crate::harness::agent_world::{agent_world, AgentWorld};
use crate::harness::fixtures::{ACCOUNT, INSTANCE_ID};

/// Every finding in moto's Security Hub, by boto3.
fn findings(w: &AgentWorld) -> Vec<Value> {
    w.moto.securityhub_findings()
}

fn imports(w: &AgentWorld) -> usize {
    w.front
        .operations()
        .iter()
        .filter(|o| *o == "securityhub.BatchImportFindings")
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn findings_are_imported_once_kept_across_restarts_and_archived_when_resolved() {
    let Some(w) = agent_world("1h").await else {
        return;
    };
    let out = w.run_once_env(Vec::new()).await;
    assert_exit(&out, 0);
    let first = findings(&w);
    let prefix = format!("credhygiene/{INSTANCE_ID}/");
    assert!(
        first
            .iter()
            .all(|f| f["Id"].as_str().unwrap().starts_with(&prefix)),
        "{first:#?}"
    );
    let key = first
        .iter()
        .find(|f| f["ProductFields"]["credhygiene/key_id"] == KEY_ID)
        .unwrap_or_else(|| panic!("no finding of {KEY_ID}: {first:#?}"));
    assert_eq!(key["GeneratorId"], "credhygiene/hardcoded-credential");
    assert_eq!(
        key["ProductArn"],
        format!("arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default")
    );
    assert_eq!(key["RecordState"], "ACTIVE");
    assert_eq!(key["Compliance"]["Status"], "FAILED");
    assert_eq!(
        key["Compliance"]["RelatedRequirements"][0],
        "CIS AWS Foundations Benchmark v3.0.0/1.18"
    );
    assert_eq!(
        key["Resources"][0]["Id"],
        format!("arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{INSTANCE_ID}")
    );
    assert!(key["Severity"]["Label"].is_string());
    // The emulator answers IMDSv1: the CIS 5.6 check fails, and has its own finding.
    let imds = first
        .iter()
        .find(|f| f["GeneratorId"] == "credhygiene/imdsv2_required")
        .expect("imdsv2 finding");
    assert_eq!(imds["Id"], format!("{prefix}imdsv2_required"));
    println!(
        "ASFF as imported: {}",
        serde_json::to_string_pretty(key).unwrap()
    );
    let sent = imports(&w);
    assert!(sent >= 1);

    // A restart with nothing changed imports nothing.
    assert_exit(&w.run_once_env(Vec::new()).await, 0);
    assert_eq!(imports(&w), sent, "an unchanged finding was imported again");

    // The keys are removed: every credential finding is archived, none duplicated.
    std::fs::remove_dir_all(&w.tree).unwrap();
    std::fs::create_dir_all(&w.tree).unwrap();
    assert_exit(&w.run_once_env(Vec::new()).await, 0);
    let after = findings(&w);
    assert_eq!(after.len(), first.len(), "duplicates: {after:#?}");
    // The user-data secret the emulator serves is still there: only the tree's are resolved.
    let tree = w.tree.display().to_string();
    let mut archived = 0;
    for f in &after {
        let path = f["ProductFields"]["credhygiene/path"]
            .as_str()
            .unwrap_or("");
        let resolved = path.starts_with(&tree);
        let want = if resolved { "ARCHIVED" } else { "ACTIVE" };
        assert_eq!(f["RecordState"], want, "{f:#?}");
        if resolved {
            assert_eq!(f["Compliance"]["Status"], "PASSED");
            archived += 1;
        }
    }
    assert!(archived >= 2, "{after:#?}");
    // Forgotten once delivered: a further run imports nothing.
    let n = imports(&w);
    assert_exit(&w.run_once_env(Vec::new()).await, 0);
    assert_eq!(imports(&w), n);

    let bodies = w.front.bodies();
    let recorded = w.proxy.recorded();
    // The planted secrets and the role's secret key: in no byte sent; the role's session
    // token only in its header (x-amz-security-token), never in a body.
    let [planted @ .., role_token] = w.moto.secrets();
    for secret in planted {
        for (what, bytes) in [("request bodies", &bodies), ("wire", &recorded)] {
            assert!(
                !String::from_utf8_lossy(bytes).contains(secret),
                "a secret reached the {what}"
            );
        }
    }
    assert!(!String::from_utf8_lossy(&bodies).contains(role_token));
}
