//! Issue 15: many lone key ids in one place. A CloudTrail-like log names the temporary
//! `ASIA…` key id of every call; beyond `scan.max_lone_key_ids_per_source` they are one
//! aggregate finding per source, while a real credential planted among them is still
//! reported part by part.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::common::{assert_exit, assert_no_secret, credhygiene, credhygiene_timed, peak_rss_kib};

#[path = "../support/cloudtrail.rs"]
mod cloudtrail;
use cloudtrail::{cloudtrail, planted_log, Credential, Rng};

/// Bound of the JSON document of a scan of one log file: one aggregate and a credential.
const MAX_JSON_BYTES: usize = 64 * 1024;
/// A guard against memory that grows with the findings: about 129 MiB in a debug build when
/// the scan held every finding until it ended, about 27 MiB since it holds lone key ids
/// compactly (`tests/scan_memory.rs` counts the heap bytes per record).
const MAX_PEAK_RSS_KIB: u64 = 64 * 1024;

#[test]
fn issue_15_a_cloudtrail_file_of_100k_temporary_ids_is_one_finding_and_the_credential_stays() {
    const RECORDS: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let (log, cred) = planted_log(dir.path(), RECORDS);
    let mut cmd = credhygiene_timed();
    let out = cmd
        .args(["scan", "--format", "json"])
        .arg(&log)
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert_no_secret(&out.stdout, &[&cred.secret]);
    assert_no_secret(&out.stderr, &[&cred.secret]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    let peak = peak_rss_kib(&out.stderr);
    eprintln!(
        "issue 15: {} bytes of log, {} records: {} findings, {} bytes of JSON, peak RSS {} KiB",
        fs::metadata(&log).unwrap().len(),
        RECORDS,
        findings.len(),
        out.stdout.len(),
        peak.map_or("not measured".into(), |k| k.to_string()),
    );
    assert!(
        out.stdout.len() < MAX_JSON_BYTES,
        "{} bytes",
        out.stdout.len()
    );
    if let Some(kib) = peak {
        assert!(kib < MAX_PEAK_RSS_KIB, "peak RSS {kib} KiB");
    }

    // Two credential groups: the aggregate, and the planted credential's two parts.
    assert_eq!(findings.len(), 3, "{doc:#}");
    let agg = &findings[0];
    assert_eq!(agg["kind"], "access_key_id");
    assert_eq!(agg["key_type"], "temporary");
    assert_eq!(agg["aggregate"]["count"], RECORDS as u64);
    assert_eq!(agg["aggregate"]["temporary"], RECORDS as u64);
    assert_eq!(agg["aggregate"]["long_term"], 0);
    let sample = agg["aggregate"]["key_ids"].as_array().unwrap();
    assert_eq!(sample.len(), 5);
    assert_eq!(sample[0], agg["key_id"], "the first id is the key_id");
    assert!(sample
        .iter()
        .all(|k| k.as_str().unwrap().starts_with("ASIA")));
    let (id, secret) = (&findings[1], &findings[2]);
    assert_eq!(id["key_id"], cred.key_id.as_str());
    assert_eq!(id["key_type"], "long_term");
    assert!(id.get("aggregate").is_none());
    assert_eq!(secret["kind"], "secret_access_key");
    assert_eq!(secret["credential"], id["credential"]);
    assert_eq!(secret["key_id"], cred.key_id.as_str());
    assert_eq!(
        (id["line"].as_u64(), secret["line"].as_u64()),
        (Some(RECORDS as u64 / 2 + 3), Some(RECORDS as u64 / 2 + 4))
    );
}

#[test]
fn a_limit_of_zero_reports_every_lone_key_id() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("cloudtrail.json");
    cloudtrail(&log, &mut Rng::new(), 30, None);
    let cfg = dir.path().join("c.toml");
    fs::write(&cfg, "[scan]\nmax_lone_key_ids_per_source = 0\n").unwrap();
    let count = |args: &[&str]| {
        let out = credhygiene()
            .args(args)
            .args(["scan", "--format", "json"])
            .arg(&log)
            .output()
            .unwrap();
        assert_exit(&out, 1);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["findings"].as_array().unwrap().len()
    };
    assert_eq!(count(&["--config", cfg.to_str().unwrap()]), 30);
    assert_eq!(count(&[]), 1, "the default limit (10) aggregates 30 ids");
}

/// `run --once` over `root`, logging on stderr at info (the journald-style records); returns
/// (stdout, the finding records on stderr).
fn cycle(cfg: &Path) -> (String, Vec<String>) {
    let out = credhygiene()
        .args(["-v", "--config", cfg.to_str().unwrap(), "run", "--once"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let records = stderr
        .lines()
        .filter(|l| l.contains("hard-coded AWS credential"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), records)
}

#[test]
fn issue_15_the_agent_logs_one_record_for_a_log_file_and_none_when_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("var-log");
    fs::create_dir_all(&root).unwrap();
    let mut rng = Rng::new();
    let cred = Credential {
        key_id: rng.key_id("AKIA"),
        secret: rng.secret(),
    };
    let log = root.join("cloudtrail.json");
    cloudtrail(&log, &mut rng, 3_000, Some(&cred));
    let state = dir.path().join("state");
    let cfg = dir.path().join("agent.toml");
    fs::write(&cfg, crate::common::offline_config(&state, &root, "", "")).unwrap();

    let (summary, records) = cycle(&cfg);
    assert_eq!(records.len(), 3, "{records:#?}\n{summary}");
    let agg: Vec<&String> = records
        .iter()
        .filter(|r| r.contains("3000 key ids without a secret"))
        .collect();
    assert_eq!(agg.len(), 1, "{records:#?}");
    assert!(agg[0].contains("info:"), "only temporary ids: notice");
    assert!(agg[0].contains("aggregate_count=3000"), "{}", agg[0]);
    assert!(
        records
            .iter()
            .any(|r| r.contains(&cred.key_id) && r.contains("error:")),
        "the credential is reported on its own: {records:#?}"
    );
    assert!(summary.contains("3 new"), "{summary}");

    // The log grows: same aggregate, no change; the state keeps the latest count.
    cloudtrail(&log, &mut rng, 3_500, Some(&cred));
    let (summary, records) = cycle(&cfg);
    assert!(records.is_empty(), "{records:#?}");
    assert!(summary.contains("0 new, 0 resolved"), "{summary}");
    let findings = fs::read_to_string(state.join("findings.json")).unwrap();
    assert!(findings.contains("\"count\":3500"), "{findings}");
    for entry in fs::read_dir(&state).unwrap() {
        assert_no_secret(&fs::read(entry.unwrap().path()).unwrap(), &[&cred.secret]);
    }
}
