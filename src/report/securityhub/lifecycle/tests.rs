use super::*;
use crate::finding::Kind;
use crate::report::securityhub::testkit::*;
use crate::role::{Check, Status};

const C1: &str = "credhygiene/i-0123456789abcdef0/c1";
const IMDS: &str = "credhygiene/i-0123456789abcdef0/imdsv2_required";

fn key() -> Vec<crate::finding::Finding> {
    vec![part("c1", Kind::AccessKeyId, Some(KEY), 3)]
}

fn fail_imds() -> Option<Vec<Check>> {
    Some(vec![role_check(role::CHECK_IMDSV2, Status::Fail)])
}

/// The state after a cycle at `day` that saw `view`, with everything then accepted.
fn delivered(state: &Tracked, v: &HostView, day: u64) -> Tracked {
    let (mut next, _) = plan(state, v, &to(), at(day));
    next.retain(|_, e| !(e.pending && e.archived()));
    next.values_mut().for_each(|e| e.pending = false);
    next
}

/// One row: the state before (built by the cycles `before`), the cycle's picture and day,
/// and what must be pending after, with its record state, `CreatedAt` day and `UpdatedAt` day.
#[test]
fn the_lifecycle_table() {
    type Pending<'a> = Vec<(&'a str, RecordState, u64, u64)>;
    let empty = view(&[], Some(vec![]), None);
    let with_key = view(&key(), Some(vec![]), None);
    let moved = {
        let mut f = key();
        f[0].line = 7;
        view(&f, Some(vec![]), None)
    };
    let imds_failed = view(&[], fail_imds(), None);
    let imds_unknown = view(
        &[],
        Some(vec![role_check(role::CHECK_IMDSV2, Status::Unknown)]),
        None,
    );
    let imds_unchecked = view(&[], None, None);
    type Row<'a> = (
        &'a str,
        Vec<(&'a HostView, u64)>,
        &'a HostView,
        u64,
        Pending<'a>,
    );
    let cases: Vec<Row> = vec![
        (
            "new",
            vec![],
            &with_key,
            0,
            vec![(C1, RecordState::Active, 0, 0)],
        ),
        ("unchanged", vec![(&with_key, 0)], &with_key, 1, vec![]),
        (
            "changed line",
            vec![(&with_key, 0)],
            &moved,
            2,
            vec![(C1, RecordState::Active, 0, 2)],
        ),
        (
            "refresh due",
            vec![(&with_key, 0)],
            &with_key,
            30,
            vec![(C1, RecordState::Active, 0, 30)],
        ),
        (
            "refresh not yet",
            vec![(&with_key, 0)],
            &with_key,
            29,
            vec![],
        ),
        (
            "resolved",
            vec![(&with_key, 0)],
            &empty,
            3,
            vec![(C1, RecordState::Archived, 0, 3)],
        ),
        (
            "resolved and forgotten",
            vec![(&with_key, 0), (&empty, 3)],
            &empty,
            4,
            vec![],
        ),
        (
            "back after forgotten",
            vec![(&with_key, 0), (&empty, 3)],
            &with_key,
            5,
            vec![(C1, RecordState::Active, 5, 5)],
        ),
        (
            "check failed",
            vec![],
            &imds_failed,
            0,
            vec![(IMDS, RecordState::Active, 0, 0)],
        ),
        (
            "check passes",
            vec![(&imds_failed, 0)],
            &empty,
            1,
            vec![(IMDS, RecordState::Archived, 0, 1)],
        ),
        (
            "check unknown",
            vec![(&imds_failed, 0)],
            &imds_unknown,
            1,
            vec![],
        ),
        (
            "checks not run",
            vec![(&imds_failed, 0)],
            &imds_unchecked,
            1,
            vec![],
        ),
    ];
    for (name, before, v, day, want) in cases {
        let mut state = Tracked::new();
        for (b, d) in before {
            state = delivered(&state, b, d);
        }
        let (next, planned) = plan(&state, v, &to(), at(day));
        let got: Pending = next
            .iter()
            .filter(|(_, e)| e.pending)
            .map(|(id, e)| {
                let day_of = |s: &str| {
                    let t = humantime::parse_rfc3339(s).unwrap();
                    (t.duration_since(at(0)).unwrap().as_secs()) / (24 * 3600)
                };
                (
                    id.as_str(),
                    e.doc.record_state,
                    day_of(&e.doc.created_at),
                    day_of(&e.doc.updated_at),
                )
            })
            .collect();
        assert_eq!(got, want, "{name}");
        assert_eq!(planned.imports, want.len(), "{name}");
        for (_, e) in next.iter().filter(|(_, e)| e.archived()) {
            assert_eq!(e.doc.compliance.status, ComplianceStatus::Passed, "{name}");
        }
    }
}

#[test]
fn a_pending_archive_of_a_finding_that_comes_back_is_replaced_by_an_active_one() {
    let with_key = view(&key(), Some(vec![]), None);
    let empty = view(&[], Some(vec![]), None);
    let s = delivered(&Tracked::new(), &with_key, 0);
    let (archiving, _) = plan(&s, &empty, &to(), at(1));
    assert!(archiving[C1].archived() && archiving[C1].pending);
    let (back, _) = plan(&archiving, &with_key, &to(), at(2));
    assert!(!back[C1].archived() && back[C1].pending);
    assert_eq!(back[C1].doc.compliance.status, ComplianceStatus::Failed);
}

#[test]
fn new_findings_beyond_the_bound_are_counted_not_tracked() {
    let findings: Vec<_> = (0..MAX_TRACKED + 5)
        .map(|i| part(&format!("c{i:05}"), Kind::SecretAccessKey, None, 1))
        .collect();
    let v = view(&findings, Some(vec![]), None);
    let (next, planned) = plan(&Tracked::new(), &v, &to(), at(0));
    assert_eq!((next.len(), planned.overflow), (MAX_TRACKED, 5));
}
