//! What the CloudWatch tests feed the sink and how they look at what came back: the test
//! instance, made-up findings and planted corpora, cycles diffed against a finding state, and
//! views of the events read back from moto.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;

use credhygiene::config::CloudWatchConfig;
use credhygiene::finding::{Finding, KeyType, Kind, Source};
use credhygiene::imds::model::IdentityDocument;
use credhygiene::report::cycle::{CycleReport, RoleSummary};
use credhygiene::role::Status;
use credhygiene::scan::{Options, Plan, ScanOutcome, Scanner};
use credhygiene::state::FindingState;
use serde_json::Value;

use crate::common::{KEY_ID, SECRET, SECRET2, TOKEN};

/// The test instance's id.
pub const INSTANCE_ID: &str = "i-0c0ffee0c0ffee001";
/// The test instance's account.
pub const ACCOUNT: &str = "123456789012";

/// The identity document of the test instance ([`INSTANCE_ID`] in [`ACCOUNT`], us-east-1).
pub fn identity() -> IdentityDocument {
    IdentityDocument {
        instance_id: INSTANCE_ID.into(),
        account_id: ACCOUNT.into(),
        region: "us-east-1".into(),
        availability_zone: "us-east-1a".into(),
        instance_type: "t3.micro".into(),
        image_id: "ami-0123456789abcdef0".into(),
        architecture: Some("x86_64".into()),
    }
}

/// A failing role check: an instance profile, and IMDSv1 open.
pub fn role() -> RoleSummary {
    RoleSummary {
        status: Status::Fail,
        instance_profile_missing: Some(false),
        imdsv1_open: Some(true),
    }
}

/// The default `[cloudwatch]` section with both endpoints at `endpoint`, in us-east-1.
pub fn cw_config(endpoint: &str) -> CloudWatchConfig {
    CloudWatchConfig {
        endpoint: Some(endpoint.into()),
        logs_endpoint: Some(endpoint.into()),
        region: Some("us-east-1".into()),
        ..CloudWatchConfig::default()
    }
}

/// A made-up access key id finding `id` in `/srv/app/{id}.env`.
pub fn synthetic(id: &str) -> Finding {
    Finding {
        id: id.into(),
        rule: "aws.access_key_id".into(),
        kind: Kind::AccessKeyId,
        source: Source::File,
        path: format!("/srv/app/{id}.env"),
        line: 1,
        column: 19,
        key_id: Some(KEY_ID.into()),
        key_type: Some(KeyType::LongTerm),
        account_id: None,
        credential: format!("cred-{id}"),
        redacted: "AKIA…".into(),
        fingerprint: format!("sha256:{id}"),
        process: None,
        aggregate: None,
        encoding: Vec::new(),
    }
}

/// The finding changes delivered more than once as different events: a change queued again.
/// (A batch resent after a crash in the documented duplicate window repeats the same event.)
pub fn queued_again(events: &[Value]) -> Vec<(String, String)> {
    finding_keys(events)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(key, _)| key)
        .filter(|(id, change)| {
            let bodies: std::collections::BTreeSet<String> = events_of(events, "finding")
                .into_iter()
                .filter(|e| e["id"] == id.as_str() && e["change"] == change.as_str())
                .map(|e| e.to_string())
                .collect();
            bodies.len() > 1
        })
        .collect()
}

/// A cycle whose scan found `findings`, diffed against (and committed to) `state_dir`.
pub fn cycle_of(state_dir: &Path, findings: Vec<Finding>) -> CycleReport {
    let mut st = FindingState::load(state_dir).unwrap();
    let changes = st.diff(&findings);
    let outcome = ScanOutcome {
        findings: findings.clone(),
        ..ScanOutcome::default()
    };
    st.commit(state_dir, &findings).unwrap();
    CycleReport::new(
        SystemTime::now(),
        Some(identity()),
        role(),
        &outcome,
        changes,
    )
}

/// A one-thread scan of `dir` with the default scan settings.
pub fn scan_dir(dir: &Path) -> ScanOutcome {
    let scanner = Scanner::new(
        Options::from_config(&credhygiene::config::ScanConfig::default(), Some(1)).unwrap(),
    )
    .unwrap();
    let cancel = AtomicBool::new(false);
    scanner
        .run(&Plan::from_paths(&[dir.to_path_buf()]), &cancel, None)
        .0
}

/// Plants a key id, two secrets and a session token (from `crate::common`) in `dir`:
/// `.env` and `app/config.ini`.
pub fn plant_corpus(dir: &Path) {
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(
        dir.join(".env"),
        format!("AWS_ACCESS_KEY_ID={KEY_ID}\nAWS_SECRET_ACCESS_KEY={SECRET}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("app/config.ini"),
        format!("aws_secret_access_key = \"{SECRET2}\"\naws_session_token = \"{TOKEN}\"\n"),
    )
    .unwrap();
}

/// The events whose `event` field is `kind` (`finding`, `summary`).
pub fn events_of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// (finding id, change) of every finding event, with how many times each arrived.
pub fn finding_keys(events: &[Value]) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for e in events_of(events, "finding") {
        *m.entry((
            e["id"].as_str().unwrap().to_string(),
            e["change"].as_str().unwrap().to_string(),
        ))
        .or_insert(0) += 1;
    }
    m
}

/// A cycle whose scan found `findings`, diffed against `state` and not committed.
pub fn uncommitted_cycle(state: &FindingState, findings: &[Finding]) -> CycleReport {
    let outcome = ScanOutcome {
        findings: findings.to_vec(),
        ..ScanOutcome::default()
    };
    CycleReport::new(
        SystemTime::now(),
        Some(identity()),
        role(),
        &outcome,
        state.diff(findings),
    )
}

/// The `change` fields of the finding events for paths ending in `suffix`, in order.
pub fn changes_of(events: &[Value], suffix: &str) -> Vec<String> {
    events_of(events, "finding")
        .into_iter()
        .filter(|e| e["path"].as_str().unwrap_or("").ends_with(suffix))
        .map(|e| e["change"].as_str().unwrap_or("").to_string())
        .collect()
}
