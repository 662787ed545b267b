//! The journald sink: one log record per finding change, with structured key-values that
//! `systemd-journal-logger` turns into journal fields (upper-cased: `RULE`, `KIND`, `PATH`,
//! `LINE`, `FINGERPRINT`, `KEY_ID`, `ACCOUNT_ID`, `FINDING_ID`, `CHANGE`, …). When the agent
//! is not under journald, [`crate::logging`] installs a stderr logger and the same records
//! appear as `key=value` lines.
//!
//! A finding with a key id whose owner is known has `OWNER_ACCOUNT` (`own`, `foreign`,
//! `canary`) and, from IAM, `OWNER_USER` and `OWNER_STATUS`; every record has `SEVERITY`, the
//! DESIGN.md severity (`CRITICAL` … `INFORMATIONAL`).
//!
//! Priority by severity. A new finding is logged at `error` when `CRITICAL` or `HIGH`, at
//! `warn` when `MEDIUM`, at `info` when `LOW` or `INFORMATIONAL` (a canary); a resolved
//! finding at `info`. Under journald, `systemd-journal-logger` maps these levels to the
//! journal's `PRIORITY` as `error` → 3 (err), `warn` → 4 (warning) and `info` → 5 (notice).
//! Two rungs of the ideal ladder (crit 2 for `CRITICAL`, info 6 for `INFORMATIONAL`) are out
//! of reach: the `log` facade has no level above `error`, and its `debug` (the journal's 6)
//! is below the agent's default log level, so a canary would not be logged at all. Filter
//! on `SEVERITY=CRITICAL` for the top rung (`journalctl SEVERITY=CRITICAL`).
//!
//! An aggregate (the lone key ids of one source, [`crate::scan::aggregate`]) is one record,
//! with `AGGREGATE_COUNT`, `AGGREGATE_DISTINCT`, `AGGREGATE_LONG_TERM`,
//! `AGGREGATE_TEMPORARY` and `AGGREGATE_KEY_IDS` (the first few, comma-separated). New, it
//! is `error` when it holds a long-term id, `info` (notice) when it holds only temporary ids
//! (the lowest severity: no secret, and the ids expire), `warn` otherwise.

use log::kv::{ToValue, Value};
use log::{Level, Log, Metadata, Record};

use crate::finding::{Aggregate, Finding};
use crate::owner::Severity;
use crate::report::cycle::{Change, CycleReport};

/// The `log` target of finding records (journal field `TARGET`).
pub const TARGET: &str = "credhygiene::finding";

/// The `log` level of one change of a finding of `severity` (its journal priority: see the
/// module docs).
pub fn level(finding: &Finding, change: Change, severity: Severity) -> Level {
    match (change, finding.aggregate.as_deref()) {
        (Change::Resolved, _) => Level::Info,
        (Change::New, Some(a)) if a.long_term > 0 => Level::Error,
        (Change::New, Some(a)) if a.only_temporary() => Level::Info,
        (Change::New, Some(_)) => Level::Warn,
        (Change::New, None) => match severity {
            Severity::Critical | Severity::High => Level::Error,
            Severity::Medium => Level::Warn,
            Severity::Low | Severity::Informational => Level::Info,
        },
    }
}

/// Logs every change of a cycle through the global logger. Returns the records written.
pub fn emit(report: &CycleReport) -> usize {
    emit_to(log::logger(), report)
}

/// Logs every change of a cycle through `logger` (a test passes a capturing logger).
pub fn emit_to(logger: &dyn Log, report: &CycleReport) -> usize {
    report
        .each_change()
        .filter(|&(f, change)| record(logger, f, change, report))
        .count()
}

fn record(logger: &dyn Log, f: &Finding, change: Change, report: &CycleReport) -> bool {
    let severity = report.owners.severity(f, report.time);
    let level = level(f, change, severity);
    let meta = Metadata::builder().level(level).target(TARGET).build();
    if level > log::max_level() || !logger.enabled(&meta) {
        return false;
    }
    let line = f.line.to_string();
    let column = f.column.to_string();
    let agg = f.aggregate.as_deref().map(AggregateFields::of);
    let encoding = f.encoding_label();
    let mut kvs: Vec<(&str, Value<'_>)> = vec![
        ("change", change.as_str().to_value()),
        ("finding_id", f.id.as_str().to_value()),
        ("rule", f.rule.as_str().to_value()),
        ("kind", f.kind.as_str().to_value()),
        ("source", f.source.as_str().to_value()),
        ("path", f.path.as_str().to_value()),
        ("line", line.as_str().to_value()),
        ("column", column.as_str().to_value()),
        ("fingerprint", f.fingerprint.as_str().to_value()),
        ("redacted", f.redacted.as_str().to_value()),
        ("credential", f.credential.as_str().to_value()),
    ];
    if let Some(k) = &f.key_id {
        kvs.push(("key_id", k.as_str().to_value()));
    }
    if let Some(a) = &f.account_id {
        kvs.push(("account_id", a.as_str().to_value()));
    }
    if let Some(e) = &encoding {
        kvs.push(("encoding", e.as_str().to_value()));
    }
    let pid;
    if let Some(p) = &f.process {
        pid = p.pid.to_string();
        kvs.push(("pid", pid.as_str().to_value()));
        if let Some(u) = &p.unit {
            kvs.push(("unit", u.as_str().to_value()));
        }
    }
    if let Some(i) = report.instance.as_ref() {
        kvs.push(("instance_id", i.instance_id.as_str().to_value()));
    }
    let owner = report.owners.shown(f);
    if let Some(o) = &owner {
        kvs.push(("owner_account", o.account.as_str().to_value()));
        if let Some(u) = &o.user {
            kvs.push(("owner_user", u.as_str().to_value()));
        }
        if let Some(s) = o.status {
            kvs.push(("owner_status", s.as_str().to_value()));
        }
    }
    kvs.push(("severity", severity.as_str().to_value()));
    if let Some(a) = &agg {
        kvs.extend(a.kvs());
    }
    let what = match change {
        Change::New => "hard-coded AWS credential found",
        Change::Resolved => "hard-coded AWS credential resolved",
    };
    let shown = match &agg {
        Some(a) => format!("{} key ids without a secret, first {}", a.count, a.key_ids),
        None => f.key_id.as_deref().unwrap_or(&f.redacted).to_string(),
    };
    logger.log(
        &Record::builder()
            .metadata(meta)
            .args(format_args!(
                "{what}: {} {shown} at {}:{}:{}",
                f.kind.as_str(),
                f.path,
                f.line,
                f.column
            ))
            .module_path_static(Some(module_path!()))
            .file_static(Some(file!()))
            .key_values(&kvs)
            .build(),
    );
    true
}

/// The journal fields of an aggregate, as strings the record borrows.
struct AggregateFields {
    count: String,
    distinct: String,
    long_term: String,
    temporary: String,
    key_ids: String,
}

impl AggregateFields {
    fn of(a: &Aggregate) -> AggregateFields {
        AggregateFields {
            count: a.count.to_string(),
            distinct: a.distinct.to_string(),
            long_term: a.long_term.to_string(),
            temporary: a.temporary.to_string(),
            key_ids: a.key_ids.join(","),
        }
    }

    fn kvs(&self) -> [(&'static str, Value<'_>); 5] {
        [
            ("aggregate_count", self.count.as_str().to_value()),
            ("aggregate_distinct", self.distinct.as_str().to_value()),
            ("aggregate_long_term", self.long_term.as_str().to_value()),
            ("aggregate_temporary", self.temporary.as_str().to_value()),
            ("aggregate_key_ids", self.key_ids.as_str().to_value()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{KeyType, Kind, Source};
    use crate::report::cycle::{CycleReport, RoleSummary};
    use crate::scan::ScanOutcome;
    use crate::state::FindingChanges;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// Level, target, message and key-values of one record.
    type Captured = (Level, String, String, BTreeMap<String, String>);

    #[derive(Default)]
    struct Capture(Mutex<Vec<Captured>>);

    impl Log for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn log(&self, r: &Record<'_>) {
            struct V<'a>(&'a mut BTreeMap<String, String>);
            impl<'kvs> log::kv::VisitSource<'kvs> for V<'_> {
                fn visit_pair(
                    &mut self,
                    k: log::kv::Key<'kvs>,
                    v: log::kv::Value<'kvs>,
                ) -> Result<(), log::kv::Error> {
                    self.0.insert(k.to_string(), v.to_string());
                    Ok(())
                }
            }
            let mut m = BTreeMap::new();
            r.key_values().visit(&mut V(&mut m)).unwrap();
            self.0.lock().unwrap().push((
                r.level(),
                r.target().to_string(),
                r.args().to_string(),
                m,
            ));
        }
        fn flush(&self) {}
    }

    fn f(id: &str, key_type: KeyType, kind: Kind) -> Finding {
        Finding {
            id: id.into(),
            rule: "aws.secret_access_key".into(),
            kind,
            source: Source::EnvFile,
            path: "/etc/environment".into(),
            line: 3,
            column: 19,
            key_id: Some("AKIASXQV3SVWMFRRRM75".into()),
            key_type: Some(key_type),
            account_id: Some("123456789012".into()),
            credential: "cred1".into(),
            redacted: "V+Hg…".into(),
            fingerprint: "sha256:abcd".into(),
            process: None,
            aggregate: None,
            encoding: Vec::new(),
        }
    }

    #[test]
    fn one_record_per_change_with_fields_and_priority() {
        log::set_max_level(log::LevelFilter::Trace);
        let changes = FindingChanges {
            new: vec![
                f("n1", KeyType::LongTerm, Kind::SecretAccessKey),
                f("n2", KeyType::Temporary, Kind::AccessKeyId),
            ],
            resolved: vec![f("r1", KeyType::LongTerm, Kind::AccessKeyId)],
            still_present: 4,
        };
        let report = CycleReport::new(
            std::time::SystemTime::now(),
            None,
            RoleSummary::default(),
            &ScanOutcome::default(),
            changes,
        );
        let cap = Capture::default();
        assert_eq!(emit_to(&cap, &report), 3);
        let recs = cap.0.lock().unwrap();
        assert_eq!(recs.len(), 3);
        let (lvl, target, msg, kv) = &recs[0];
        assert_eq!(*lvl, Level::Error, "new long-term key is an error");
        assert_eq!(target, TARGET);
        assert!(msg.contains("/etc/environment:3:19"), "{msg}");
        for (k, v) in [
            ("change", "new"),
            ("finding_id", "n1"),
            ("rule", "aws.secret_access_key"),
            ("kind", "secret_access_key"),
            ("path", "/etc/environment"),
            ("line", "3"),
            ("fingerprint", "sha256:abcd"),
            ("key_id", "AKIASXQV3SVWMFRRRM75"),
            ("account_id", "123456789012"),
        ] {
            assert_eq!(kv.get(k).map(String::as_str), Some(v), "field {k}");
        }
        assert_eq!(recs[1].0, Level::Warn, "new temporary key is a warning");
        assert_eq!(recs[2].0, Level::Info, "resolved is info");
        assert_eq!(recs[2].3["change"], "resolved");
    }

    #[test]
    fn an_aggregate_is_one_record_at_its_own_priority() {
        let ids = ["ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7B"];
        let agg = |long_term, temporary| Finding {
            aggregate: Aggregate::sample(3, long_term, &ids)
                .map(|a| Box::new(Aggregate { temporary, ..*a })),
            ..f("a", KeyType::Temporary, Kind::AccessKeyId)
        };
        assert_eq!(
            level(&agg(0, 3), Change::New, Severity::High),
            Level::Info,
            "only temporary: notice"
        );
        assert_eq!(
            level(&agg(1, 2), Change::New, Severity::High),
            Level::Error,
            "a long-term id: err"
        );
        assert_eq!(
            level(&agg(0, 2), Change::New, Severity::High),
            Level::Warn,
            "other ids: warning"
        );
        assert_eq!(
            level(&agg(1, 2), Change::Resolved, Severity::High),
            Level::Info
        );
        log::set_max_level(log::LevelFilter::Trace);
        let report = CycleReport::new(
            std::time::SystemTime::now(),
            None,
            RoleSummary::default(),
            &ScanOutcome::default(),
            FindingChanges {
                new: vec![agg(0, 3)],
                resolved: vec![],
                still_present: 0,
            },
        );
        let cap = Capture::default();
        assert_eq!(emit_to(&cap, &report), 1);
        let recs = cap.0.lock().unwrap();
        let (_, _, msg, kv) = &recs[0];
        assert!(msg.contains("3 key ids without a secret"), "{msg}");
        assert_eq!(kv["aggregate_count"], "3");
        assert_eq!(kv["aggregate_temporary"], "3");
        assert_eq!(
            kv["aggregate_key_ids"],
            "ASIAY34FZKBOKMUTVV7A,ASIAY34FZKBOKMUTVV7B"
        );
    }

    #[test]
    fn owner_fields_and_the_severity_set_the_priority() {
        log::set_max_level(log::LevelFilter::Trace);
        let key_of = |a| crate::owner::tests::key_id_of("AKIA", a);
        let (own, canary) = (key_of(123_456_789_012), key_of(52_310_077_262));
        let with_key = |id: &str, key: &str| Finding {
            key_id: Some(key.to_string()),
            ..f(id, KeyType::LongTerm, Kind::AccessKeyId)
        };
        let mut report = CycleReport::new(
            std::time::SystemTime::now(),
            None,
            RoleSummary::default(),
            &ScanOutcome::default(),
            FindingChanges {
                new: vec![with_key("own", &own), with_key("canary", &canary)],
                resolved: vec![],
                still_present: 0,
            },
        );
        report.owners = crate::report::owners::Owners::new(Some("123456789012"));
        let last_used = humantime::format_rfc3339_seconds(report.time).to_string();
        report.owners.insert(
            &own,
            crate::owner::Owner {
                user: Some("deploy-bot".into()),
                status: Some(crate::owner::KeyStatus::Active),
                last_used: Some(last_used),
                ..crate::owner::Owner::of_class(crate::owner::AccountClass::Own)
            },
        );
        let cap = Capture::default();
        assert_eq!(emit_to(&cap, &report), 2);
        let recs = cap.0.lock().unwrap();
        let (lvl, _, _, kv) = &recs[0];
        assert_eq!(*lvl, Level::Error);
        assert_eq!(kv["severity"], "CRITICAL");
        assert_eq!(kv["owner_account"], "own");
        assert_eq!(kv["owner_user"], "deploy-bot");
        assert_eq!(kv["owner_status"], "Active");
        let (lvl, _, _, kv) = &recs[1];
        assert_eq!(*lvl, Level::Info, "a canary is a notice");
        assert_eq!(kv["severity"], "INFORMATIONAL");
        assert_eq!(kv["owner_account"], "canary");
        assert!(!kv.contains_key("owner_user"));
    }
}
