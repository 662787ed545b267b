//! What the agent remembers between cycles, under `agent.state_dir` (mode 0700):
//!
//! - [`FindingState`]: the findings of the last complete scan, by finding id, so that each
//!   cycle reports only changes ([`FindingChanges`]: new, still present, resolved);
//! - [`Outbox`]: the bounded, durable queue of what is still to be delivered to CloudWatch.
//!
//! Neither holds a secret: a [`Finding`] carries only a fingerprint and a 4-character prefix.
//!
//! The outbox is one JSON-lines file. Adding entries appends and fsyncs them *before* anything
//! is sent; removing delivered entries rewrites the file atomically (temporary file, fsync,
//! rename, fsync of the directory). A crash at any point leaves either the old or the new
//! file; a torn last line (crash in the middle of an append) is ignored on load. When the file
//! would grow beyond its bound, the oldest entries are dropped and counted.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::finding::Finding;
use crate::scan::unreadable::{Coverage, Unreadable};

/// File name of the finding state inside the state directory.
pub const FINDINGS_FILE: &str = "findings.json";
/// File name of the CloudWatch outbox inside the state directory.
pub const OUTBOX_FILE: &str = "outbox.jsonl";
/// Version of the files' formats; a file of another version is set aside, not misread.
const FORMAT_VERSION: u32 = 1;

/// A state file or directory that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state directory could not be created or given mode 0700.
    #[error("cannot prepare state directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A state file could not be read.
    #[error("cannot read state file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A state file could not be written or synced.
    #[error("cannot write state file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Another process (a second agent, a manual `run --once`) holds the outbox.
    #[error("outbox {path} is in use by another credhygiene process")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A state file is not valid JSON of the expected shape.
    #[error("state file {path} is corrupt: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

/// Creates `dir` (and parents) if needed and makes it mode 0700.
pub fn prepare_dir(dir: &Path) -> Result<(), StateError> {
    let err = |source| StateError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(err)?;
    let meta = fs::metadata(dir).map_err(err)?;
    if meta.permissions().mode() & 0o777 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync,
/// rename over `path`, fsync of the directory. Mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let werr = |source| StateError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(werr)?;
        f.write_all(bytes).map_err(werr)?;
        f.sync_all().map_err(werr)?;
    }
    fs::rename(&tmp, path).map_err(werr)?;
    sync_dir(dir).map_err(werr)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

// ---------------------------------------------------------------------------------------------
// Finding state and diff

/// What changed between the last complete scan and this one, by finding id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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

#[derive(Serialize, Deserialize)]
struct FindingsFile {
    version: u32,
    findings: Vec<Finding>,
}

/// The findings of the last complete scan, by id, persisted in `state_dir/findings.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingState {
    findings: BTreeMap<String, Finding>,
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
                message: e.to_string(),
            })?;
        if file.version != FORMAT_VERSION {
            log::warn!(path:% = path.display(), version = file.version;
                "finding state has another format version; starting from an empty state");
            return Ok(FindingState::default());
        }
        Ok(FindingState::from_findings(&file.findings))
    }

    /// A state holding exactly `findings`.
    pub fn from_findings(findings: &[Finding]) -> FindingState {
        FindingState {
            findings: findings.iter().map(|f| (f.id.clone(), f.clone())).collect(),
        }
    }

    /// A digest of the remembered finding ids: changes computed from the same state have the
    /// same generation, which lets the outbox recognise a change it already holds.
    pub fn generation(&self) -> String {
        let ids: Vec<&str> = self.findings.keys().map(String::as_str).collect();
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
        let now: BTreeMap<&str, &Finding> = current.iter().map(|f| (f.id.as_str(), f)).collect();
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
        *self = FindingState::from_findings(current);
        self.save(dir)
    }

    /// Writes the state to `dir/findings.json` atomically (mode 0600, directory 0700).
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        prepare_dir(dir)?;
        let file = FindingsFile {
            version: FORMAT_VERSION,
            findings: self.findings.values().cloned().collect(),
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| StateError::Corrupt {
            path: dir.join(FINDINGS_FILE),
            message: e.to_string(),
        })?;
        write_atomic(&dir.join(FINDINGS_FILE), &bytes)
    }
}

// ---------------------------------------------------------------------------------------------
// Outbox

/// One entry of the outbox: a sequence number (unique, increasing, never reused) and the item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry<T> {
    /// Sequence number.
    pub seq: u64,
    /// What is to be delivered.
    pub item: T,
    #[serde(skip)]
    size: usize,
}

#[derive(Serialize, Deserialize)]
struct OutboxHeader {
    version: u32,
    next_seq: u64,
    dropped: u64,
}

/// A bounded, durable FIFO of items to deliver, in one JSON-lines file. An exclusive lock on
/// `<file>.lock` (held while the value lives) keeps two processes from sending the same
/// entries twice.
#[derive(Debug)]
pub struct Outbox<T> {
    _lock: File,
    path: PathBuf,
    max_bytes: u64,
    entries: VecDeque<OutboxEntry<T>>,
    bytes: u64,
    next_seq: u64,
    dropped: u64,
}

impl<T: Serialize + DeserializeOwned + Clone> Outbox<T> {
    /// Opens (or creates) the outbox `file` inside `dir`, bounded to `max_bytes` of entries.
    pub fn open(dir: &Path, file: &str, max_bytes: u64) -> Result<Outbox<T>, StateError> {
        prepare_dir(dir)?;
        let path = dir.join(file);
        let lock_path = dir.join(format!("{file}.lock"));
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|source| StateError::Write {
                path: lock_path.clone(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StateError::Locked { path: lock_path })
            }
            Err(fs::TryLockError::Error(source)) => {
                return Err(StateError::Write {
                    path: lock_path,
                    source,
                })
            }
        }
        let mut outbox = Outbox {
            _lock: lock,
            path,
            max_bytes,
            entries: VecDeque::new(),
            bytes: 0,
            next_seq: 1,
            dropped: 0,
        };
        outbox.load()?;
        Ok(outbox)
    }

    fn load(&mut self) -> Result<(), StateError> {
        let f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return self.rewrite(),
            Err(source) => {
                return Err(StateError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let mut lines = BufReader::new(f).split(b'\n');
        let header: Option<OutboxHeader> = match lines.next() {
            Some(Ok(l)) => serde_json::from_slice(&l).ok(),
            Some(Err(source)) => {
                return Err(StateError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
            None => None,
        };
        let Some(header) = header.filter(|h| h.version == FORMAT_VERSION) else {
            // An empty or foreign file: keep a copy for a person to look at, start afresh.
            let aside = self.path.with_extension("unreadable");
            log::warn!(path:% = self.path.display(), moved_to:% = aside.display();
                "outbox has no valid header; setting it aside and starting an empty outbox");
            let _ = fs::rename(&self.path, &aside);
            return self.rewrite();
        };
        self.next_seq = header.next_seq.max(1);
        self.dropped = header.dropped;
        let mut torn = 0u64;
        for line in lines {
            let line = line.map_err(|source| StateError::Read {
                path: self.path.clone(),
                source,
            })?;
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<OutboxEntry<T>>(&line) {
                Ok(mut e) => {
                    e.size = line.len() + 1;
                    self.next_seq = self.next_seq.max(e.seq + 1);
                    self.bytes += e.size as u64;
                    self.entries.push_back(e);
                }
                Err(_) => torn += 1,
            }
        }
        if torn > 0 {
            // Only a crash in the middle of an append produces this; the entry was never
            // sent (entries are sent only after their append returned).
            log::warn!(path:% = self.path.display(), lines = torn;
                "ignored unreadable outbox lines (interrupted write)");
            self.rewrite()?;
        }
        Ok(())
    }

    /// Number of entries waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Changes the bound; it applies at the next [`Outbox::push_all`].
    pub fn set_max_bytes(&mut self, max_bytes: u64) {
        self.max_bytes = max_bytes;
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes the waiting entries take in the file.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Entries dropped so far because the outbox was full (persisted across restarts).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The waiting entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &OutboxEntry<T>> {
        self.entries.iter()
    }

    /// Appends items durably (written and fsynced before this returns). When the bound
    /// would be exceeded, the oldest entries are dropped (and counted) to make room; an item
    /// larger than the whole bound is dropped itself. Returns the number of entries dropped.
    pub fn push_all(&mut self, items: Vec<T>) -> Result<u64, StateError> {
        if items.is_empty() {
            return Ok(0);
        }
        let mut new = Vec::with_capacity(items.len());
        let mut new_bytes = 0u64;
        let mut dropped = 0u64;
        for item in items {
            let mut e = OutboxEntry {
                seq: self.next_seq,
                item,
                size: 0,
            };
            self.next_seq += 1;
            let line = self.serialize(&e)?;
            e.size = line.len();
            if e.size as u64 > self.max_bytes {
                dropped += 1;
                continue;
            }
            new_bytes += e.size as u64;
            new.push((e, line));
        }
        // Drop the oldest (already waiting, then the earliest new ones) until the rest fits.
        while self.bytes + new_bytes > self.max_bytes {
            if let Some(old) = self.entries.pop_front() {
                self.bytes -= old.size as u64;
            } else {
                let (e, _) = new.remove(0);
                new_bytes -= e.size as u64;
            }
            dropped += 1;
        }
        self.dropped += dropped;
        let mut buf = Vec::with_capacity(new_bytes as usize);
        for (e, line) in new {
            buf.extend_from_slice(&line);
            self.bytes += e.size as u64;
            self.entries.push_back(e);
        }
        if dropped > 0 {
            log::warn!(path:% = self.path.display(), dropped = dropped, total_dropped = self.dropped;
                "outbox full: dropped the oldest entries");
            self.rewrite()?;
        } else {
            self.append(&buf)?;
        }
        Ok(dropped)
    }

    /// Removes delivered (or definitively rejected) entries by sequence number and rewrites
    /// the file atomically.
    pub fn remove(&mut self, seqs: &[u64]) -> Result<(), StateError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let set: std::collections::HashSet<u64> = seqs.iter().copied().collect();
        let before = self.entries.len();
        self.entries.retain(|e| !set.contains(&e.seq));
        if self.entries.len() == before {
            return Ok(());
        }
        self.bytes = self.entries.iter().map(|e| e.size as u64).sum();
        self.rewrite()
    }

    fn serialize(&self, e: &OutboxEntry<T>) -> Result<Vec<u8>, StateError> {
        let mut line = serde_json::to_vec(e).map_err(|err| StateError::Corrupt {
            path: self.path.clone(),
            message: format!("cannot serialise an entry: {err}"),
        })?;
        line.push(b'\n');
        Ok(line)
    }

    fn header_line(&self) -> Vec<u8> {
        let mut h = serde_json::to_vec(&OutboxHeader {
            version: FORMAT_VERSION,
            next_seq: self.next_seq,
            dropped: self.dropped,
        })
        .unwrap_or_default();
        h.push(b'\n');
        h
    }

    fn append(&mut self, buf: &[u8]) -> Result<(), StateError> {
        let werr = |source| StateError::Write {
            path: self.path.clone(),
            source,
        };
        let mut f = OpenOptions::new()
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(werr)?;
        f.write_all(buf).map_err(werr)?;
        f.sync_data().map_err(werr)
    }

    fn rewrite(&mut self) -> Result<(), StateError> {
        let mut buf = self.header_line();
        for e in &self.entries {
            buf.extend_from_slice(&self.serialize(e)?);
        }
        write_atomic(&self.path, &buf)
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn outbox_survives_reopen_and_does_not_resend_removed_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let mut ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
        ob.push_all(vec!["one".into(), "two".into(), "three".into()])
            .unwrap();
        let seqs: Vec<u64> = ob.entries().map(|e| e.seq).collect();
        ob.remove(&seqs[..1]).unwrap();
        drop(ob);
        let mut ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
        let items: Vec<&str> = ob.entries().map(|e| e.item.as_str()).collect();
        assert_eq!(items, ["two", "three"]);
        ob.push_all(vec!["four".into()]).unwrap();
        // Sequence numbers are never reused, even after removals and a reopen.
        assert!(ob.entries().last().unwrap().seq > seqs[2]);
    }

    #[test]
    fn outbox_drops_oldest_when_full_and_counts_it() {
        let tmp = tempfile::tempdir().unwrap();
        // Each entry line is about 30 bytes: room for three.
        let mut ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 100).unwrap();
        let dropped = ob
            .push_all((0..5).map(|i| format!("item-{i}")).collect())
            .unwrap();
        assert_eq!(dropped, 2);
        assert_eq!(ob.dropped(), 2);
        let items: Vec<&str> = ob.entries().map(|e| e.item.as_str()).collect();
        assert_eq!(items, ["item-2", "item-3", "item-4"]);
        assert!(ob.bytes() <= 100);
        drop(ob);
        let ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 100).unwrap();
        assert_eq!(ob.dropped(), 2, "the drop count survives a restart");
        assert_eq!(ob.len(), 3);
    }

    #[test]
    fn a_second_process_cannot_open_the_same_outbox() {
        let tmp = tempfile::tempdir().unwrap();
        let first: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
        let err = Outbox::<String>::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap_err();
        assert!(matches!(err, StateError::Locked { .. }), "{err}");
        drop(first);
        Outbox::<String>::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
    }

    #[test]
    fn outbox_ignores_a_torn_last_line() {
        let tmp = tempfile::tempdir().unwrap();
        let mut ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
        ob.push_all(vec!["whole".into()]).unwrap();
        drop(ob);
        let path = tmp.path().join(OUTBOX_FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"seq\":9,\"item\":\"tor").unwrap();
        drop(f);
        let ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
        let items: Vec<&str> = ob.entries().map(|e| e.item.as_str()).collect();
        assert_eq!(items, ["whole"]);
    }
}
