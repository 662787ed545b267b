use super::*;
use crate::finding::Kind;
use crate::report::securityhub::lifecycle::plan;
use crate::report::securityhub::testkit::*;

fn planned() -> Tracked {
    let v = view(
        &[part("c1", Kind::AccessKeyId, Some(KEY), 3)],
        Some(vec![]),
        None,
    );
    plan(&Tracked::new(), &v, &to(), at(0)).0
}

#[test]
fn the_state_survives_a_restart_and_settling_forgets_a_resolved_finding() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    s.tracked = planned();
    s.gate = Gate::Closed {
        reason: "r".into(),
        until: 5,
    };
    s.save().unwrap();
    drop(s);
    let mut s = Store::open(dir.path()).unwrap();
    assert_eq!(s.tracked, planned());
    assert_eq!(s.pending(), 1);
    assert!(!s.gate.open_at(4));
    let id = s.tracked.keys().next().unwrap().clone();
    s.settle(&id);
    assert_eq!(s.pending(), 0);
    s.tracked.get_mut(&id).unwrap().doc.record_state = super::super::asff::RecordState::Archived;
    s.settle(&id);
    assert!(s.tracked.is_empty());
}

/// A document refused for good is settled, stays tracked and is counted; the count survives a
/// restart and is what `status` reads (a file of an earlier release, without it, counts 0).
#[test]
fn refused_documents_are_counted_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    s.tracked = planned();
    let id = s.tracked.keys().next().unwrap().clone();
    s.refused(&id);
    assert_eq!((s.pending(), s.tracked.len(), s.dropped), (0, 1, 1));
    s.save().unwrap();
    drop(s);
    let counts = counts_in(dir.path()).unwrap().unwrap();
    assert_eq!(
        counts,
        Counts {
            pending: 0,
            dropped: 1
        }
    );
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.dropped, 1);
    drop(s);
    let path = dir.path().join(STORE_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(",\"dropped\":1", "")).unwrap();
    assert_eq!(counts_in(dir.path()).unwrap().unwrap().dropped, 0);
    assert!(counts_in(&dir.path().join("none")).unwrap().is_none());
}

#[test]
fn a_second_process_cannot_open_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let _s = Store::open(dir.path()).unwrap();
    assert!(matches!(
        Store::open(dir.path()),
        Err(StateError::Locked { .. })
    ));
}

#[test]
fn a_torn_or_hostile_file_is_set_aside_and_the_state_rebuilt() {
    let good = {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        s.tracked = planned();
        s.save().unwrap();
        std::fs::read_to_string(dir.path().join(STORE_FILE)).unwrap()
    };
    let id = "credhygiene/i-0123456789abcdef0/c1";
    let hostile = [
        good[..good.len() / 2].to_string(),
        good.replace("\"version\":1", "\"version\":9"),
        good.replace(id, "someone-else/x"),
        good.replace("\"pending\":true", "\"pending\":true,\"extra\":1"),
        good.replace("2027-01-15T08:00:00Z", "yesterday"),
        good.replace("\"digest\":\"", "\"digest\":\"zz"),
        format!(
            "{{\"version\":1,\"gate\":{{\"gate\":\"open\"}},\"entries\":[{e},{e}]}}",
            e = &good[good.find("[").unwrap() + 1..good.rfind("]").unwrap()]
        ),
        "\u{0}\u{1}not json".to_string(),
        String::new(),
    ];
    for (i, text) in hostile.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STORE_FILE), text).unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(s.tracked.is_empty(), "case {i}");
        assert!(
            dir.path().join("securityhub.json.corrupt").exists(),
            "case {i}"
        );
    }
}

#[test]
fn why_a_file_is_not_trusted_quotes_nothing_of_it() {
    // fuzz/artifacts/securityhub_store/crash-secret-in-serde-error: serde_json's own text
    // quoted a key of the file into the logged reason; a foreign Id was quoted too.
    const SECRET: &str = "V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw";
    let dir = tempfile::tempdir().unwrap();
    let good = {
        let mut s = Store::open(dir.path()).unwrap();
        s.tracked = planned();
        s.save().unwrap();
        std::fs::read_to_string(dir.path().join(STORE_FILE)).unwrap()
    };
    let path = dir.path().join(STORE_FILE);
    for (text, want) in [
        (
            format!("{{\"{SECRET}\":0}}"),
            "JSON of another shape at line 1",
        ),
        (
            good.replace("\"pending\":true", &format!("\"pending\":\"{SECRET}\"")),
            "line 1 column",
        ),
        (
            good.replace("credhygiene/i-0123456789abcdef0/c1", SECRET),
            "entry 0: an Id that is not",
        ),
    ] {
        std::fs::write(&path, &text).unwrap();
        let why = read(&path).unwrap_err();
        assert!(!why.contains(SECRET) && why.contains(want), "{why}");
    }
}
