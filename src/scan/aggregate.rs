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
//!
//! Memory: the scan holds the key id findings of a source with many of them compactly
//! ([`KeyIds`], about 40 bytes each instead of 1.3 KB), and [`bound_outcome`] makes in full
//! only those reported one by one (ids with a secret somewhere, sources within the limit):
//! what it holds beyond the reported findings is that compact form, never a finding per
//! occurrence. It cannot be less without reading files again: which ids are lone is known
//! only when the scan ends, and each occurrence of an id that turns out to have a secret is
//! reported at its own line and column.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::emit::credential_of;
use super::keyids::KeyIds;
use super::outcome::{scan_order, ScanOutcome};
use crate::finding::{self, Aggregate, Finding, KeyType, Kind, Source};

/// How many distinct key ids an aggregate names: enough to look one up in CloudTrail, few
/// enough to keep the finding small (a journal entry, a CloudWatch event).
pub const SAMPLE_IDS: usize = 5;

/// Replaces, in each source with more than `limit` lone key id findings, those findings with
/// one aggregate. `limit == 0` returns the findings unchanged.
pub fn aggregate_lone_key_ids(findings: Vec<Finding>, limit: usize) -> Vec<Finding> {
    resolve(findings, &[], limit)
}

/// Bounds the lone key ids of a scan's outcome as [`aggregate_lone_key_ids`] does, over its
/// findings and the key id findings it holds compactly ([`ScanOutcome::key_ids`]): those that
/// are reported one by one become findings, in scan order; the rest are counted into their
/// aggregates without ever being made. `key_ids` is then empty.
pub fn bound_outcome(outcome: &mut ScanOutcome, limit: usize) {
    let findings = std::mem::take(&mut outcome.findings);
    let held = std::mem::take(&mut outcome.key_ids);
    outcome.findings = resolve(findings, &held, limit);
}

/// A lone key id finding: one of the list, or finding `i` of compact set `set`.
#[derive(Debug, Clone, Copy)]
enum Member {
    Listed(usize),
    Held { set: usize, i: usize },
}

/// What becomes of a list of findings and the compact sets beside it.
struct Decided {
    /// Aggregates that take the place of a listed finding (the first lone id of a source).
    at_listed: HashMap<usize, Finding>,
    /// Listed findings collapsed into an aggregate.
    collapsed: Vec<bool>,
    /// Findings to add: those of the compact sets reported one by one, and the aggregates
    /// whose first lone id is one of those.
    added: Vec<Finding>,
}

/// The findings of the list and of the compact sets, with the lone key ids of each source
/// over `limit` collapsed. Without compact sets, the order of the list is kept; with them,
/// the result is in [`scan_order`].
fn resolve(findings: Vec<Finding>, held: &[Arc<KeyIds>], limit: usize) -> Vec<Finding> {
    let Decided {
        mut at_listed,
        collapsed,
        added,
    } = decide(&findings, held, limit);
    if at_listed.is_empty() && added.is_empty() {
        return findings;
    }
    let mut out: Vec<Finding> = findings
        .into_iter()
        .enumerate()
        .filter_map(|(i, f)| match at_listed.remove(&i) {
            Some(agg) => Some(agg),
            None if collapsed[i] => None,
            None => Some(f),
        })
        .collect();
    if !added.is_empty() {
        out.extend(added);
        out.sort_by(scan_order);
    }
    out
}

/// Decides, over the borrowed findings, what [`resolve`] makes of them.
fn decide(findings: &[Finding], held: &[Arc<KeyIds>], limit: usize) -> Decided {
    let mut d = Decided {
        at_listed: HashMap::new(),
        collapsed: vec![false; findings.len()],
        added: Vec::new(),
    };
    let lists = Lists { findings, held };
    for members in lone_by_source(lists, limit, &mut d.added) {
        if members.len() <= limit {
            d.added
                .extend(members.iter().filter_map(|&m| lists.made(m)));
            continue;
        }
        let Some(agg) = collapse(lists, &members) else {
            continue;
        };
        match members[0] {
            Member::Listed(i) => {
                d.at_listed.insert(i, agg);
            }
            Member::Held { .. } => d.added.push(agg),
        }
        for m in &members {
            if let Member::Listed(i) = *m {
                d.collapsed[i] = true;
            }
        }
    }
    d
}

/// The lone key id findings of each source, in finding order (by place where the source has
/// compact ones). The compact findings that are not lone (or all, with `limit == 0`) go to
/// `one_by_one`, made in full.
fn lone_by_source<'a>(
    lists: Lists<'a>,
    limit: usize,
    one_by_one: &mut Vec<Finding>,
) -> Vec<Vec<Member>> {
    let Lists { findings, held } = lists;
    let paired: HashSet<&str> = findings
        .iter()
        .filter(|f| f.kind.is_secret())
        .map(|f| f.credential.as_str())
        .collect();
    let mut by_source: HashMap<(Source, &str, &str), Vec<Member>> = HashMap::new();
    for (i, f) in findings.iter().enumerate().filter(|_| limit > 0) {
        if f.kind == Kind::AccessKeyId
            && f.aggregate.is_none()
            && !paired.contains(f.credential.as_str())
        {
            by_source
                .entry((f.source, f.path.as_str(), f.rule.as_str()))
                .or_default()
                .push(Member::Listed(i));
        }
    }
    for (set, ids) in held.iter().enumerate() {
        let lone: Vec<bool> = (ids.ids())
            .map(|id| limit > 0 && !paired.contains(credential_of(id).as_str()))
            .collect();
        for (i, (n, _, _)) in ids.occurrences().enumerate() {
            if lone.get(n as usize) == Some(&true) {
                let members = by_source.entry(ids.place()).or_default();
                members.push(Member::Held { set, i });
            } else {
                one_by_one.extend(ids.finding(i));
            }
        }
    }
    let mut groups: Vec<Vec<Member>> = by_source.into_values().collect();
    for members in &mut groups {
        if members.iter().any(|m| matches!(m, Member::Held { .. })) {
            members.sort_by_key(|&m| lists.place(m));
        }
    }
    groups
}

/// The findings of a scan: the list and the compact sets beside it.
#[derive(Clone, Copy)]
struct Lists<'a> {
    findings: &'a [Finding],
    held: &'a [Arc<KeyIds>],
}

impl<'a> Lists<'a> {
    /// The line and column of a member.
    fn place(self, m: Member) -> (u64, u64) {
        match m {
            Member::Listed(i) => (self.findings[i].line, self.findings[i].column),
            Member::Held { set, i } => self.held[set]
                .occurrence(i)
                .map_or((u64::MAX, u64::MAX), |(_, line, col)| (line, col)),
        }
    }

    /// The finding of a member held compactly, made in full (`None` for a listed one).
    fn made(self, m: Member) -> Option<Finding> {
        match m {
            Member::Listed(_) => None,
            Member::Held { set, i } => self.held[set].finding(i),
        }
    }

    /// The key type and key id of a member (a listed finding without a key id: its
    /// fingerprint).
    fn key_of(self, m: Member) -> (Option<KeyType>, &'a str) {
        match m {
            Member::Listed(i) => {
                let f = &self.findings[i];
                (f.key_type, f.key_id.as_deref().unwrap_or(&f.fingerprint))
            }
            Member::Held { set, i } => {
                let id = self.held[set].occurrence(i).map_or("", |(id, _, _)| id);
                (Some(KeyType::of(id)), id)
            }
        }
    }
}

/// The aggregate of the lone key id findings `members` of one source (non-empty, in finding
/// order), at the place of the first.
fn collapse(lists: Lists<'_>, members: &[Member]) -> Option<Finding> {
    let first = match members[0] {
        Member::Listed(i) => lists.findings[i].clone(),
        m => lists.made(m)?,
    };
    let mut seen: HashSet<&str> = HashSet::new();
    let mut agg = Aggregate {
        count: members.len() as u64,
        distinct: 0,
        long_term: 0,
        temporary: 0,
        key_ids: Vec::new(),
    };
    for &m in members {
        let (key_type, id) = lists.key_of(m);
        match key_type {
            Some(KeyType::LongTerm) => agg.long_term += 1,
            Some(KeyType::Temporary) => agg.temporary += 1,
            _ => {}
        }
        if seen.insert(id) && agg.key_ids.len() < SAMPLE_IDS {
            agg.key_ids.push(id.to_string());
        }
    }
    agg.distinct = seen.len() as u64;
    Some(Finding {
        id: aggregate_id(&first),
        aggregate: Some(Box::new(agg)),
        ..first
    })
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

    // ---- the compact key ids of a scan (`bound_outcome`) ----

    use std::path::Path;
    use std::sync::atomic::AtomicBool;

    use crate::scan::scanner::tests::scanner;
    use crate::scan::{Plan, Reuse, WatchSet};

    const SECRET: &str = "V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw";

    /// A valid-looking key id number `i` (`not_repetitive` passes it).
    fn kid(prefix: &str, i: usize) -> String {
        let b32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let body: String = (0..16)
            .map(|k| b32[(i * 7 + k * 13 + (i >> (k % 8))) % 32] as char)
            .collect();
        format!("{prefix}Q{}", &body[1..])
    }

    /// A log of `n` records naming `kid(prefix, i % distinct)` each, two ids on every
    /// third line.
    fn log(n: usize, distinct: usize, prefix: &str) -> String {
        (0..n)
            .map(|i| match i % 3 {
                0 => format!(
                    "{{\"a\":\"{}\",\"b\":\"{}\"}}\n",
                    kid(prefix, i % distinct),
                    kid("AKIA", 5)
                ),
                _ => format!("{{\"accessKeyId\":\"{}\"}}\n", kid(prefix, i % distinct)),
            })
            .collect()
    }

    /// The findings of `outcome` bounded at `limit`, both ways: from its compact key ids,
    /// and from all its findings made in full first (what the scan held before issue 15).
    fn both_ways(outcome: &ScanOutcome, limit: usize) -> (Vec<Finding>, Vec<Finding>) {
        let mut full = outcome.clone();
        bound_outcome(&mut full, 0);
        let mut compact = outcome.clone();
        bound_outcome(&mut compact, limit);
        (
            compact.findings,
            aggregate_lone_key_ids(full.findings, limit),
        )
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn compact_key_ids_give_what_full_findings_give() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "trail.json", &log(500, 180, "ASIA"));
        write(d, "mixed.log", &log(40, 40, "AKIA"));
        write(d, "few.log", &log(6, 6, "ASIA"));
        // The secret of an id of trail.json, in another file; one in the same file.
        let pair = format!(
            "aws_access_key_id={}\naws_secret_access_key={SECRET}\n",
            kid("ASIA", 7)
        );
        write(d, "app.env", &pair);
        let own = format!(
            "{}x={}\naws_secret_access_key={SECRET}\n",
            log(30, 30, "ASIA"),
            kid("ASIA", 3)
        );
        write(d, "own.log", &own);
        let plan = Plan {
            memory: vec![crate::scan::Haystack {
                source: Source::UserData,
                path: "imds:/latest/user-data".into(),
                bytes: log(20, 20, "ASIA").into_bytes(),
                process: None,
            }],
            ..Plan::from_paths(&[d.to_path_buf()])
        };
        let (out, _) = scanner().run(&plan, &AtomicBool::new(false), None);
        assert_eq!(out.key_ids.len(), 4, "trail, mixed, own and user-data");
        for limit in [0, 1, 3, 10, 29, 30, 31, 100, 400, 10_000] {
            let (compact, full) = both_ways(&out, limit);
            assert_eq!(compact, full, "limit {limit}");
        }
        let (bounded, _) = both_ways(&out, 10);
        let kid7 = kid("ASIA", 7);
        let paired = bounded
            .iter()
            .filter(|f| f.key_id.as_deref() == Some(&kid7));
        // In trail.json (3), own.log, user-data, and app.env with its secret.
        assert_eq!(paired.count(), 3 + 1 + 1 + 2);
        let aggs: Vec<u64> = (bounded.iter())
            .filter_map(|f| Some(f.aggregate.as_ref()?.count))
            .collect();
        // mixed.log: 40 + 14 ids; own.log: 30 + 10, but for the ids of the two secrets
        // (ASIA 3 there, ASIA 7 in app.env); trail.json: 500 + 167, but for 3 of each;
        // user-data: 20 + 7, but for one of each.
        assert_eq!(aggs, vec![54, 38, 661, 25], "{bounded:#?}");
    }

    #[test]
    fn the_index_and_the_cache_keep_compact_key_ids_that_a_later_secret_pairs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("tree");
        std::fs::create_dir(&d).unwrap();
        write(&d, "trail.json", &log(500, 180, "ASIA"));
        let (s, cancel) = (scanner(), AtomicBool::new(false));
        let plan = Plan::from_paths(std::slice::from_ref(&d));
        let inotify = inotify::Inotify::init().unwrap();
        let watch = || WatchSet {
            watches: inotify.watches(),
            budget: 100,
        };
        let first = s.scan(
            &plan,
            &cancel,
            Reuse::Index {
                cache: None,
                watch: watch(),
            },
        );
        let index = first.index.expect("indexed");
        assert_eq!(index.key_ids().count(), 1);
        let cache_file = dir.path().join("cache");
        first.cache.unwrap().save(&cache_file).unwrap();

        // A secret of one of the log's ids turns up next to the unchanged log.
        let pair = format!(
            "aws_access_key_id={}\naws_secret_access_key={SECRET}\n",
            kid("ASIA", 7)
        );
        write(&d, ".env", &pair);
        let changed = vec![d.join(".env")];
        let update = Reuse::Update {
            index: Box::new(index),
            changed,
            watch: watch(),
            cache: None,
        };
        let updated = s.scan(&plan, &cancel, update);
        assert!(updated.cache.is_none(), "an update");
        let cache = crate::scan::ScanCache::load(&cache_file, &s.rules_version()).unwrap();
        let (cached, _) = s.run(&plan, &cancel, Some(&cache));
        assert_eq!(cached.stats.cached, 1, "the log from the cache");
        let (full, _) = s.run(&plan, &cancel, None);
        for limit in [0, 10] {
            let bound = |o: &ScanOutcome| {
                let mut o = o.clone();
                bound_outcome(&mut o, limit);
                o.findings
            };
            let want = bound(&full);
            assert_eq!(bound(&updated.outcome), want, "limit {limit}");
            assert_eq!(bound(&cached), want, "limit {limit}");
            let kid7 = (want.iter()).filter(|f| f.key_id == Some(kid("ASIA", 7)));
            assert_eq!(kid7.count(), 3 + 2, "limit {limit}");
        }
    }
}
