//! The finding state: the findings of the last complete scan, by id, and the diff that makes
//! each cycle report only changes.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{prepare_dir, write_atomic, StateError, FORMAT_VERSION};
use crate::finding::Finding;
use crate::scan::unreadable::{Coverage, Unreadable};

/// File name of the finding state inside the state directory.
pub const FINDINGS_FILE: &str = "findings.json";

/// What changed between the last complete scan and this one, by finding id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingChanges {
    /// Findings not seen in the previous scan.
    pub new: Vec<Finding>,
    /// Findings of the previous scan that are gone.
    pub resolved: Vec<Finding>,
    /// Findings seen in both.
    pub still_present: u64,
}

impl FindingChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.resolved.is_empty()
    }
}

/// `findings.json`: an internal format (the findings in [`Finding`]'s own serde form, not the
/// DESIGN.md finding JSON).
#[derive(Serialize, Deserialize)]
struct FindingsFile {
    version: u32,
    /// Commits so far (absent in files of earlier releases: 0).
    #[serde(default)]
    commits: u64,
    findings: Vec<Finding>,
}

/// The findings of the last complete scan, by id, persisted in `state_dir/findings.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingState {
    findings: BTreeMap<String, Finding>,
    /// How many times the state moved on: part of the generation, so that a state that comes
    /// back to an earlier set of findings (X → Y → X) is not mistaken for the earlier one.
    commits: u64,
}

impl FindingState {
    /// Loads the state from `dir`; a missing file is an empty state (first run). A file of
    /// another format version is treated as empty too (and logged), so an upgrade reports
    /// everything as new once rather than failing.
    pub fn load(dir: &Path) -> Result<FindingState, StateError> {
        let path = dir.join(FINDINGS_FILE);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(FindingState::default()),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let file: FindingsFile =
            serde_json::from_slice(&text).map_err(|e| StateError::Corrupt {
                path: path.clone(),
                // Not serde's text, which quotes the file's values (a hostile file may hold a
                // secret there).
                message: super::json_error(&e),
            })?;
        if file.version != FORMAT_VERSION {
            log::warn!(path:% = path.display(), version = file.version;
                "finding state has another format version; starting from an empty state");
            return Ok(FindingState::default());
        }
        let mut state = FindingState::from_findings(&file.findings);
        state.commits = file.commits;
        Ok(state)
    }

    /// Whether the state holds exactly `findings` (then a commit would change nothing but the
    /// generation, and is skipped: no write at all in a quiet cycle). Compared as the state
    /// would remember them ([`by_id`]): a key found twice in one file is one finding.
    pub fn holds(&self, findings: &[Finding]) -> bool {
        let now = by_id(findings);
        self.findings.len() == now.len()
            && now.iter().all(|(id, f)| self.findings.get(*id) == Some(*f))
    }

    /// A state holding exactly `findings`, one per id ([`by_id`]).
    pub fn from_findings(findings: &[Finding]) -> FindingState {
        FindingState {
            findings: (by_id(findings).into_iter())
                .map(|(id, f)| (id.to_string(), f.clone()))
                .collect(),
            commits: 0,
        }
    }

    /// A digest of the remembered finding ids and the commit count: changes computed from the
    /// same state have the same generation, which lets the outbox recognise a change it already
    /// holds, while the same findings seen again after a change are a new generation.
    pub fn generation(&self) -> String {
        let commits = self.commits.to_string();
        let ids: Vec<&str> = (self.findings.keys().map(String::as_str))
            .chain([commits.as_str()])
            .collect();
        crate::finding::short_id(&ids)
    }

    /// Number of findings remembered.
    pub fn len(&self) -> usize {
        self.findings.len()
    }

    /// Whether no finding is remembered.
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty()
    }

    /// The changes from this state to the findings of a new complete scan. Pure: the state
    /// is not updated (see [`FindingState::commit`]). Output is sorted by finding id.
    pub fn diff(&self, current: &[Finding]) -> FindingChanges {
        let now = by_id(current);
        let mut changes = FindingChanges::default();
        for (id, f) in &now {
            if self.findings.contains_key(*id) {
                changes.still_present += 1;
            } else {
                changes.new.push((*f).clone());
            }
        }
        for (id, f) in &self.findings {
            if !now.contains_key(id.as_str()) {
                changes.resolved.push(f.clone());
            }
        }
        changes
    }

    /// The remembered findings missing from `current` that lie in a source the scan could not
    /// read this time ([`Unreadable`]: a file that could not be opened or read, a missing tree
    /// root, user-data IMDS did not hand out). Nothing is known of them this cycle: the caller
    /// adds them to `current` before [`FindingState::diff`], so that they stay present, neither
    /// resolved now nor new when the source is readable again. Sorted by finding id.
    pub fn carried(&self, current: &[Finding], unreadable: &[Unreadable]) -> Vec<Finding> {
        let coverage = Coverage::new(unreadable);
        if coverage.is_empty() {
            return Vec::new();
        }
        let now: HashSet<&str> = current.iter().map(|f| f.id.as_str()).collect();
        self.findings
            .values()
            .filter(|f| !now.contains(f.id.as_str()) && coverage.source_of(&f.path).is_some())
            .cloned()
            .collect()
    }

    /// Makes `current` the remembered state and writes it to `dir` atomically. Call it after
    /// the changes were handed to the sinks (enqueued in the outbox), so that a crash in
    /// between reports a change twice rather than never.
    pub fn commit(&mut self, dir: &Path, current: &[Finding]) -> Result<(), StateError> {
        let commits = self.commits + 1;
        *self = FindingState::from_findings(current);
        self.commits = commits;
        self.save(dir)
    }

    /// Writes the state to `dir/findings.json` atomically (mode 0600, directory 0700).
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        prepare_dir(dir)?;
        let file = FindingsFile {
            version: FORMAT_VERSION,
            commits: self.commits,
            findings: self.findings.values().cloned().collect(),
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| StateError::Corrupt {
            path: dir.join(FINDINGS_FILE),
            message: e.to_string(),
        })?;
        write_atomic(&dir.join(FINDINGS_FILE), &bytes)
    }
}

/// `findings.json` as this process last read or wrote it, with the file's stamp then
/// ([`crate::scan::stamp_of`]: device, inode, size, modification and change times). While the file keeps that stamp, the state
/// is taken from memory instead of parsed again: the parse was some 40 % of the daemon's
/// unchanged cycle. Anything else that writes the file gives it another stamp (every write
/// here is a rename of a new file, a new inode), and the file is read again. Holds one copy of
/// the findings between cycles. Failure window: another process that replaces the file between
/// this one's write and its stat of the file (one system call) is taken for this write.
#[derive(Debug, Default)]
pub struct HeldState(Option<Held>);

#[derive(Debug)]
struct Held {
    path: PathBuf,
    stamp: [i64; 5],
    state: FindingState,
}

impl HeldState {
    /// The finding state in `dir`: the one held, if the file still has the stamp it had when
    /// held, else [`FindingState::load`]. Hands the held state out (hold it again after the
    /// cycle).
    pub fn load(&mut self, dir: &Path) -> Result<FindingState, StateError> {
        let path = dir.join(FINDINGS_FILE);
        match self.0.take() {
            Some(h) if h.path == path && stamp(&path) == Some(h.stamp) => Ok(h.state),
            _ => FindingState::load(dir),
        }
    }

    /// Holds `state` as what `dir`'s file holds now: one just loaded and left as it was, or
    /// just committed. Nothing is held if the file cannot be stamped (then the next cycle reads
    /// it).
    pub fn hold(&mut self, dir: &Path, state: FindingState) {
        let path = dir.join(FINDINGS_FILE);
        self.0 = stamp(&path).map(|stamp| Held { path, stamp, state });
    }
}

/// What changes when the file is replaced or written: a missing file has none.
fn stamp(path: &Path) -> Option<[i64; 5]> {
    fs::metadata(path).ok().map(|m| crate::scan::stamp_of(&m))
}

/// One finding per id, the way the state remembers them. An id names a credential in one
/// place (rule, source, file or process, value), not one occurrence: a key written twice in a
/// file, or a log line repeated, is one finding. Of several, the first by line, column and
/// process id (several processes of one unit), so that the choice does not depend on the
/// order the scan found them in (a scan's order and a reloaded state's differ).
fn by_id(findings: &[Finding]) -> BTreeMap<&str, &Finding> {
    let place = |f: &Finding| (f.line, f.column, f.process.as_ref().map(|p| p.pid));
    let mut map: BTreeMap<&str, &Finding> = BTreeMap::new();
    for f in findings {
        map.entry(f.id.as_str())
            .and_modify(|kept| {
                if place(f) < place(kept) {
                    *kept = f;
                }
            })
            .or_insert(f);
    }
    map
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::finding::{Kind, Source};

    fn finding(id: &str) -> Finding {
        Finding {
            id: id.into(),
            rule: "aws.access_key_id".into(),
            kind: Kind::AccessKeyId,
            source: Source::File,
            path: "/srv/.env".into(),
            line: 1,
            column: 1,
            key_id: Some("AKIASXQV3SVWMFRRRM75".into()),
            key_type: None,
            account_id: None,
            credential: "c1".into(),
            redacted: "AKIA…".into(),
            fingerprint: "sha256:00".into(),
            process: None,
            aggregate: None,
            encoding: Vec::new(),
        }
    }

    #[test]
    fn diff_reports_new_resolved_and_still_present_by_id() {
        let prev = FindingState::from_findings(&[finding("a"), finding("b")]);
        let changes = prev.diff(&[finding("b"), finding("c")]);
        assert_eq!(changes.new.iter().map(|f| &f.id).collect::<Vec<_>>(), ["c"]);
        assert_eq!(
            changes.resolved.iter().map(|f| &f.id).collect::<Vec<_>>(),
            ["a"]
        );
        assert_eq!(changes.still_present, 1);
        assert!(prev.diff(&[finding("a"), finding("b")]).is_empty());
    }

    /// The same key twice in one file is two findings with one id: the state holds them as
    /// one, and a quiet cycle (the same findings in any order) finds nothing to write.
    #[test]
    fn a_finding_found_twice_is_held_once_whatever_the_order() {
        let at = |id: &str, line: u64| Finding {
            line,
            ..finding(id)
        };
        let scan = [at("a", 7), at("b", 1), at("a", 3), at("a", 9)];
        let state = FindingState::from_findings(&scan);
        assert_eq!(state.len(), 2);
        assert_eq!(
            state.findings["a"].line, 3,
            "the first occurrence is remembered"
        );
        let mut again = scan.to_vec();
        again.reverse();
        assert!(state.holds(&scan) && state.holds(&again));
        assert!(state.diff(&again).is_empty());
        assert!(!state.holds(&[at("a", 3)]), "b is gone");
        assert!(!state.holds(&[at("a", 4), at("b", 1)]), "a moved");
        // Two processes of one unit with the same key: one id, the lower pid kept.
        let of = |pid: u32| Finding {
            process: Some(crate::finding::ProcessInfo {
                pid,
                exe: None,
                unit: Some("app.service".into()),
            }),
            ..finding("p")
        };
        for pair in [[of(20), of(10)], [of(10), of(20)]] {
            let held = FindingState::from_findings(&pair);
            assert_eq!(held.findings["p"].process.as_ref().unwrap().pid, 10);
            assert!(held.holds(&[of(20), of(10)]));
        }
        let changes = FindingState::default().diff(&again);
        assert_eq!(
            changes
                .new
                .iter()
                .map(|f| (&*f.id, f.line))
                .collect::<Vec<_>>(),
            [("a", 3), ("b", 1)]
        );
    }

    /// The held state is used while the file is the one it was written as; a file written by
    /// anyone else, or removed, is read again.
    #[test]
    fn a_held_state_is_used_only_while_the_file_is_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let mut held = HeldState::default();
        let mut state = held.load(&dir).unwrap();
        state.commit(&dir, &[finding("a")]).unwrap();
        held.hold(&dir, state);
        // Only the file's stamp tells them apart: a held state that differs from the file.
        let mut marked = held.load(&dir).unwrap();
        marked.commits = 99;
        held.hold(&dir, marked);
        assert_eq!(
            held.load(&dir).unwrap().commits,
            99,
            "unchanged file: the held state"
        );
        let mut marked = FindingState::load(&dir).unwrap();
        marked.commits = 99;
        held.hold(&dir, marked);
        FindingState::from_findings(&[finding("b")])
            .save(&dir)
            .unwrap();
        let back = held.load(&dir).unwrap();
        assert_eq!(
            (back.commits, back.len()),
            (0, 1),
            "a file written since is read"
        );
        assert!(back.findings.contains_key("b"));
        held.hold(&dir, back);
        fs::remove_file(dir.join(FINDINGS_FILE)).unwrap();
        assert!(
            held.load(&dir).unwrap().is_empty(),
            "a removed file is an empty state"
        );
        let other = tmp.path().join("other");
        held.hold(&dir, FindingState::from_findings(&[finding("c")]));
        assert!(
            held.load(&other).unwrap().is_empty(),
            "another directory is its own file"
        );
    }

    #[test]
    fn a_state_that_comes_back_is_a_new_generation_and_reloads_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = FindingState::default();
        let x = state.generation();
        state.commit(dir.path(), &[finding("f")]).unwrap();
        let y = state.generation();
        state.commit(dir.path(), &[]).unwrap();
        let x_again = state.generation();
        assert!(x != y && y != x_again && x != x_again, "{x} {y} {x_again}");
        // F new from X and F new from X-again are different changes for the outbox.
        assert_eq!(
            FindingState::load(dir.path()).unwrap().generation(),
            x_again
        );
    }

    #[test]
    fn findings_of_unreadable_sources_are_carried_not_resolved() {
        let at = |id: &str, path: &str| Finding {
            path: path.into(),
            ..finding(id)
        };
        let prev = FindingState::from_findings(&[
            at("locked", "/srv/locked.cfg"),
            at("partial", "/srv/big.bin"),
            at("partial-found", "/srv/big.bin"),
            at("unmounted", "/mnt/data/app/.env"),
            at("deleted", "/srv/gone.cfg"),
            at("ud", "imds:/latest/user-data"),
        ]);
        let unreadable = [
            Unreadable::new("/mnt/data", "configured tree is missing"),
            Unreadable::new("/srv/big.bin", "EIO"),
            Unreadable::new("/srv/locked.cfg", "EACCES"),
            Unreadable::new("imds:/latest/user-data", "throttled"),
        ];
        // This scan read part of big.bin and found one of its two findings again.
        let current = [at("partial-found", "/srv/big.bin")];
        let carried = prev.carried(&current, &unreadable);
        assert_eq!(
            carried.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
            ["locked", "partial", "ud", "unmounted"]
        );
        let mut with_carried = current.to_vec();
        with_carried.extend(carried);
        let changes = prev.diff(&with_carried);
        assert!(changes.new.is_empty());
        assert_eq!(
            changes.resolved.iter().map(|f| &f.id).collect::<Vec<_>>(),
            ["deleted"],
            "a file that is gone resolves"
        );
        assert_eq!(changes.still_present, 5);
        assert!(prev.carried(&current, &[]).is_empty());
    }

    #[test]
    fn state_persists_with_private_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let mut st = FindingState::load(&dir).unwrap();
        assert!(st.is_empty());
        st.commit(&dir, &[finding("a")]).unwrap();
        let back = FindingState::load(&dir).unwrap();
        assert_eq!(back, st);
        assert!(back.diff(&[finding("a")]).is_empty());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(FINDINGS_FILE)), 0o600);
    }

    /// A hostile `findings.json` holding a secret where the format wants something else is
    /// refused with an error that quotes nothing of the file.
    #[test]
    fn a_corrupt_state_is_an_error_that_quotes_nothing_of_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        FindingState::load(&dir)
            .unwrap()
            .commit(&dir, &[finding("a")])
            .unwrap();
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
        let hostile = format!(r#"{{"version": 1, "commits": "{secret}", "findings": []}}"#);
        fs::write(dir.join(FINDINGS_FILE), hostile).unwrap();
        let err = FindingState::load(&dir).unwrap_err().to_string();
        assert!(!err.contains(secret) && !err.contains("wJal"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }
}
