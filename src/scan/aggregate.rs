//! Bounds the findings of one source: beyond `scan.max_lone_key_ids_per_source` lone key ids
//! (access key ids with no secret or session token of their credential anywhere in the scan),
//! the lone ids of that source collapse into one aggregate finding (issue 15). A CloudTrail
//! file, CLI debug output or an access log holds the temporary `ASIA…` ids of every session
//! that made a call, by the thousand: that is one finding per file, not one journal entry,
//! CloudWatch event or Security Hub finding per line.
//!
//! Guarantees:
//! - a secret access key or session token is never aggregated, and neither is a key id whose
//!   credential has a secret or token among the findings (a real credential is always
//!   reported part by part);
//! - a source with at most the limit of lone key id findings is left exactly as it was;
//!   a limit of 0 never aggregates;
//! - the aggregate's `id` depends only on the rule, the source and where it is (the path, or
//!   a process's unit or executable), not on the ids or their count: while a log grows, its
//!   aggregate stays the same finding (no new or resolved change), and the count of the
//!   latest scan is what the scan output and the finding state show.
//!
//! The aggregate is an `access_key_id` finding at the place of the first lone id, with that
//! id's fields (`key_id`, `fingerprint`, `credential` …), and [`Aggregate`] says what it
//! stands for. It takes the place of that first id, so the order of the findings is kept.
//!
//! A pure function over the final findings of a scan (files, findings taken from the index,
//! user-data), applied where the outcome is handed to the reports. Limits counted in findings
//! (occurrences), so both the scan output and the agent's changes are bounded per source.

use std::collections::{HashMap, HashSet};

use crate::finding::{self, Aggregate, Finding, KeyType, Kind};

/// How many distinct key ids an aggregate names: enough to look one up in CloudTrail, few
/// enough to keep the finding small (a journal entry, a CloudWatch event).
pub const SAMPLE_IDS: usize = 5;

/// Replaces, in each source with more than `limit` lone key id findings, those findings with
/// one aggregate. `limit == 0` returns the findings unchanged.
pub fn aggregate_lone_key_ids(findings: Vec<Finding>, limit: usize) -> Vec<Finding> {
    if limit == 0 {
        return findings;
    }
    let groups = over_limit(&findings, limit);
    if groups.is_empty() {
        return findings;
    }
    let mut first_of: HashMap<usize, Finding> = HashMap::with_capacity(groups.len());
    let mut collapsed = vec![false; findings.len()];
    for members in &groups {
        first_of.insert(members[0], collapse(&findings, members));
        for &i in members {
            collapsed[i] = true;
        }
    }
    findings
        .into_iter()
        .enumerate()
        .filter_map(|(i, f)| match first_of.remove(&i) {
            Some(agg) => Some(agg),
            None if collapsed[i] => None,
            None => Some(f),
        })
        .collect()
}

/// The indices of the lone key id findings of each source that has more than `limit` of
/// them, each group in finding order.
fn over_limit(findings: &[Finding], limit: usize) -> Vec<Vec<usize>> {
    let paired: HashSet<&str> = findings
        .iter()
        .filter(|f| f.kind.is_secret())
        .map(|f| f.credential.as_str())
        .collect();
    let mut by_source: HashMap<(&str, &str, &str), Vec<usize>> = HashMap::new();
    for (i, f) in findings.iter().enumerate() {
        if f.kind == Kind::AccessKeyId
            && f.aggregate.is_none()
            && !paired.contains(f.credential.as_str())
        {
            by_source
                .entry((f.source.as_str(), f.path.as_str(), f.rule.as_str()))
                .or_default()
                .push(i);
        }
    }
    let mut groups: Vec<Vec<usize>> = by_source
        .into_values()
        .filter(|members| members.len() > limit)
        .collect();
    groups.sort_unstable_by_key(|members| members[0]);
    groups
}

/// The aggregate of the lone key id findings at `members` (non-empty, in finding order).
fn collapse(findings: &[Finding], members: &[usize]) -> Finding {
    let first = &findings[members[0]];
    let mut seen: HashSet<&str> = HashSet::new();
    let mut agg = Aggregate {
        count: members.len() as u64,
        distinct: 0,
        long_term: 0,
        temporary: 0,
        key_ids: Vec::new(),
    };
    for f in members.iter().map(|&i| &findings[i]) {
        match f.key_type {
            Some(KeyType::LongTerm) => agg.long_term += 1,
            Some(KeyType::Temporary) => agg.temporary += 1,
            _ => {}
        }
        let id = f.key_id.as_deref().unwrap_or(&f.fingerprint);
        if seen.insert(id) && agg.key_ids.len() < SAMPLE_IDS {
            agg.key_ids.push(id.to_string());
        }
    }
    agg.distinct = seen.len() as u64;
    Finding {
        id: aggregate_id(first),
        aggregate: Some(Box::new(agg)),
        ..first.clone()
    }
}

/// The stable id of the aggregate of `f`'s source: rule, source and place, never the ids.
/// A process is placed by its unit or executable (its PID changes), as its findings are.
fn aggregate_id(f: &Finding) -> String {
    let place = match &f.process {
        Some(p) => p.unit.as_deref().or(p.exe.as_deref()).unwrap_or("process"),
        None => f.path.as_str(),
    };
    finding::short_id(&["aggregate", &f.rule, f.source.as_str(), place])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{ProcessInfo, Source};

    /// A finding of `kind` at `path:line`; a key id's credential is its own, a secret's is
    /// the credential of `key_id` (paired) or of itself (alone).
    fn f(path: &str, line: u64, kind: Kind, key_id: &str) -> Finding {
        let key = (kind == Kind::AccessKeyId || !key_id.is_empty()).then(|| key_id.to_string());
        Finding {
            id: finding::short_id(&[path, key_id, kind.as_str()]),
            rule: match kind {
                Kind::AccessKeyId => "aws-access-key-id",
                _ => "aws-secret-access-key",
            }
            .into(),
            kind,
            source: Source::File,
            path: path.into(),
            line,
            column: 1,
            key_type: key.as_deref().map(KeyType::of),
            account_id: None,
            credential: finding::short_id(&["credential", key.as_deref().unwrap_or("fp")]),
            key_id: key,
            redacted: "ASIA…".into(),
            fingerprint: finding::fingerprint(key_id.as_bytes()),
            process: None,
            aggregate: None,
            encoding: Vec::new(),
        }
    }

    fn id(path: &str, line: u64, key_id: &str) -> Finding {
        f(path, line, Kind::AccessKeyId, key_id)
    }

    /// `n` lone temporary ids in `path`, lines 1..=n.
    fn lone(path: &str, n: u64) -> Vec<Finding> {
        (1..=n)
            .map(|i| id(path, i, &format!("ASIA{i:016}")))
            .collect()
    }

    /// (path, line, aggregate count) of a finding.
    type Shape<'a> = (&'a str, u64, Option<u64>);

    /// The [`Shape`] of each finding.
    fn shape(out: &[Finding]) -> Vec<Shape<'_>> {
        out.iter()
            .map(|f| {
                (
                    f.path.as_str(),
                    f.line,
                    f.aggregate.as_ref().map(|a| a.count),
                )
            })
            .collect()
    }

    #[test]
    fn table() {
        let pair = || {
            vec![
                id("/log", 50, "AKIAPAIRPAIRPAIRPAIR"),
                f("/log", 51, Kind::SecretAccessKey, "AKIAPAIRPAIRPAIRPAIR"),
            ]
        };
        let cases: Vec<(&str, Vec<Finding>, usize, Vec<Shape<'_>>)> = vec![
            ("nothing", vec![], 3, vec![]),
            (
                "at the limit: unchanged",
                lone("/log", 3),
                3,
                vec![("/log", 1, None), ("/log", 2, None), ("/log", 3, None)],
            ),
            (
                "over the limit: one aggregate",
                lone("/log", 4),
                3,
                vec![("/log", 1, Some(4))],
            ),
            (
                "limit 0: never",
                lone("/log", 4),
                0,
                (1..=4).map(|l| ("/log", l, None)).collect(),
            ),
            (
                "per source",
                [lone("/a", 4), lone("/b", 2)].concat(),
                3,
                vec![("/a", 1, Some(4)), ("/b", 1, None), ("/b", 2, None)],
            ),
            (
                "a credential with its secret stays, in place",
                [lone("/log", 4), pair()].concat(),
                3,
                vec![("/log", 1, Some(4)), ("/log", 50, None), ("/log", 51, None)],
            ),
            (
                "a secret alone is never aggregated",
                [
                    lone("/log", 4),
                    (0..5)
                        .map(|l| f("/log", 60 + l, Kind::SessionToken, ""))
                        .collect(),
                ]
                .concat(),
                3,
                [
                    vec![("/log", 1, Some(4))],
                    (60..65).map(|l| ("/log", l, None)).collect(),
                ]
                .concat(),
            ),
        ];
        for (name, input, limit, want) in cases {
            let out = aggregate_lone_key_ids(input, limit);
            assert_eq!(shape(&out), want, "{name}");
        }
    }

    #[test]
    fn a_key_id_whose_secret_is_in_another_source_stays() {
        let mut input = lone("/log", 4);
        input.push(id("/log", 9, "AKIAPAIRPAIRPAIRPAIR"));
        input.push(f(
            "/app/.env",
            2,
            Kind::SecretAccessKey,
            "AKIAPAIRPAIRPAIRPAIR",
        ));
        let out = aggregate_lone_key_ids(input, 3);
        assert_eq!(
            shape(&out),
            vec![
                ("/log", 1, Some(4)),
                ("/log", 9, None),
                ("/app/.env", 2, None)
            ]
        );
    }

    #[test]
    fn the_aggregate_counts_and_samples() {
        let mut input = lone("/log", 7);
        input.push(id("/log", 8, "AKIALONGLONGLONGLONG"));
        input.push(id("/log", 9, "ASIA0000000000000001"));
        let out = aggregate_lone_key_ids(input.clone(), 3);
        assert_eq!(out.len(), 1);
        let agg = out[0].aggregate.as_deref().unwrap();
        assert_eq!(
            (agg.count, agg.distinct, agg.long_term, agg.temporary),
            (9, 8, 1, 8)
        );
        assert_eq!(agg.key_ids.len(), SAMPLE_IDS);
        assert_eq!(agg.key_ids[0], "ASIA0000000000000001");
        assert!(!agg.only_temporary());
        let first = &input[0];
        assert_eq!(out[0].key_id, first.key_id, "the first id is the key_id");
        assert_eq!((out[0].kind, out[0].line), (Kind::AccessKeyId, 1));
        assert_ne!(out[0].id, first.id);
        assert!(lone("/t", 9)
            .iter()
            .all(|f| f.key_type == Some(KeyType::Temporary)));
        let temp = aggregate_lone_key_ids(lone("/t", 9), 3);
        assert!(temp[0].aggregate.as_deref().unwrap().only_temporary());
    }

    #[test]
    fn the_id_depends_on_the_source_not_on_the_ids_or_their_count() {
        let a = aggregate_lone_key_ids(lone("/log", 5), 3);
        let mut other = lone("/log", 40);
        other.reverse();
        let b = aggregate_lone_key_ids(other, 3);
        assert_eq!(a[0].id, b[0].id);
        assert_ne!(a[0].key_id, b[0].key_id);
        let c = aggregate_lone_key_ids(lone("/other", 5), 3);
        assert_ne!(a[0].id, c[0].id);
    }

    #[test]
    fn a_process_aggregate_keeps_its_id_across_pids() {
        let at = |pid: u32| {
            let mut v = lone(&format!("/proc/{pid}/environ"), 4);
            for f in &mut v {
                f.source = Source::Process;
                f.process = Some(ProcessInfo {
                    pid,
                    exe: Some("/usr/bin/app".into()),
                    unit: Some("app.service".into()),
                });
            }
            aggregate_lone_key_ids(v, 3).remove(0)
        };
        assert_eq!(at(10).id, at(20).id);
    }
}
