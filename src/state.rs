//! What the agent remembers between cycles, under `agent.state_dir` (mode 0700):
//!
//! - [`FindingState`]: the findings of the last complete scan, by finding id, so that each
//!   cycle reports only changes ([`FindingChanges`]: new, still present, resolved);
//! - [`Outbox`]: the bounded, durable queue of what is still to be delivered to CloudWatch;
//! - [`DeliveredKeys`]: the keys of the finding changes already delivered from the current
//!   finding-state generation, so that a change is not queued again while the state cannot
//!   move on (see [`FindingState::generation`]).
//!
//! None holds a secret: a [`Finding`] carries only a fingerprint and a 4-character prefix, and
//! a change key is made of a finding id, `new`/`resolved` and a generation (hex digests).
//!
//! The outbox is one JSON-lines file. Adding entries appends and fsyncs them *before* anything
//! is sent; an append that fails (disk full, I/O error) is cut back to the file's previous
//! length, so an append either happens whole or not at all, in the file and in memory.
//! Removing delivered entries rewrites the file atomically (temporary file, fsync, rename,
//! fsync of the directory). A crash at any point leaves either the old or the new file; a torn
//! line (a crash in the middle of an append) is skipped on load, and a whole entry written
//! after torn bytes is still recovered. When the file would grow beyond its bound, the oldest
//! entries are dropped and counted.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
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
/// File name of the delivered change keys ([`DeliveredKeys`]) inside the state directory.
pub const DELIVERED_FILE: &str = "delivered.json";
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

/// Writes a state file atomically and durably ([`crate::atomic::write`]), mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    crate::atomic::write(path, bytes).map_err(|source| StateError::Write {
        path: path.to_path_buf(),
        source,
    })
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
                message: e.to_string(),
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
    /// generation, and is skipped: no write at all in a quiet cycle).
    pub fn holds(&self, findings: &[Finding]) -> bool {
        self.findings.len() == findings.len()
            && findings.iter().all(|f| self.findings.get(&f.id) == Some(f))
    }

    /// A state holding exactly `findings`.
    pub fn from_findings(findings: &[Finding]) -> FindingState {
        FindingState {
            findings: findings.iter().map(|f| (f.id.clone(), f.clone())).collect(),
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
///
/// Adding is all or nothing: when [`Outbox::push_all`] fails, neither the file nor the value
/// holds any of the new entries (an append is cut back to the file's previous length, with
/// `ftruncate` and fsync; a rewrite leaves the old file in place), and nothing was sent.
#[derive(Debug)]
pub struct Outbox<T> {
    _lock: File,
    path: PathBuf,
    max_bytes: u64,
    entries: VecDeque<OutboxEntry<T>>,
    bytes: u64,
    next_seq: u64,
    dropped: u64,
    /// The file may hold more than `entries` (a failed append could not be cut back, a
    /// removal could not be written, torn lines were found on load): the next write rewrites
    /// the whole file instead of appending to it.
    stale_file: bool,
    #[cfg(test)]
    faults: Faults,
}

/// Failures the unit tests inject into appends.
#[cfg(test)]
#[derive(Debug, Default)]
struct Faults {
    /// An append writes only this many bytes, then fails as a full disk does; a number not
    /// below the append's length makes its fsync fail instead.
    append_fails_after: Option<usize>,
    /// Cutting a failed append back fails too.
    truncate_fails: bool,
}

/// How every entry line starts: `seq` is the first field of [`OutboxEntry`]. Inside a JSON
/// string `"` is escaped, so these bytes cannot occur in an item's text.
const ENTRY_START: &[u8] = b"{\"seq\":";

/// Parses one line of the outbox file into its entry (and the entry's length in bytes) and
/// says whether the line held torn bytes. The bytes of an interrupted append end without a
/// newline, so an entry appended after them shares their line: the first place after the
/// start where an entry parses to the end of the line is taken.
fn parse_line<T: DeserializeOwned>(line: &[u8]) -> (Option<(OutboxEntry<T>, usize)>, bool) {
    if let Ok(e) = serde_json::from_slice(line) {
        return (Some((e, line.len())), false);
    }
    let recovered = memchr::memmem::find_iter(line, ENTRY_START)
        .filter(|&at| at > 0)
        .find_map(|at| {
            serde_json::from_slice(&line[at..])
                .ok()
                .map(|e| (e, line.len() - at))
        });
    (recovered, true)
}

/// Reads the next line into `buf`, without its newline: `None` at the end of the file,
/// otherwise whether the line ended with a newline.
fn next_line(r: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<Option<bool>> {
    buf.clear();
    if r.read_until(b'\n', buf)? == 0 {
        return Ok(None);
    }
    let terminated = buf.last() == Some(&b'\n');
    if terminated {
        buf.pop();
    }
    Ok(Some(terminated))
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
            stale_file: false,
            #[cfg(test)]
            faults: Faults::default(),
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
        let read_err = |path: &Path, source| StateError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = BufReader::new(f);
        let mut line = Vec::new();
        let first = next_line(&mut reader, &mut line).map_err(|e| read_err(&self.path, e))?;
        let header = first.and_then(|_| serde_json::from_slice::<OutboxHeader>(&line).ok());
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
        // A last line without its newline (an append cut just before it) must not have the
        // next append glued to it: the file is rewritten.
        let mut unterminated = first == Some(false);
        while let Some(terminated) =
            next_line(&mut reader, &mut line).map_err(|e| read_err(&self.path, e))?
        {
            unterminated = !terminated;
            if line.is_empty() {
                continue;
            }
            let (entry, had_torn_bytes) = parse_line::<T>(&line);
            torn += u64::from(had_torn_bytes);
            if let Some((mut e, len)) = entry {
                e.size = len + 1;
                self.next_seq = self.next_seq.max(e.seq + 1);
                self.bytes += e.size as u64;
                self.entries.push_back(e);
            }
        }
        if torn > 0 {
            // Only an interrupted append produces this; its entries were never sent (entries
            // are sent only after their append returned).
            log::warn!(path:% = self.path.display(), lines = torn;
                "skipped torn outbox lines (interrupted write); the entries around them are kept");
        }
        if torn > 0 || unterminated {
            if let Err(e) = self.rewrite() {
                log::warn!(path:% = self.path.display(), error:% = e;
                    "cannot rewrite the outbox after an interrupted write now; the next write does");
                self.stale_file = true;
            }
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
    ///
    /// All or nothing: on error no item was added, nothing was dropped, and the file is as it
    /// was (or, if even cutting a failed append back failed, is rewritten whole by the next
    /// write).
    pub fn push_all(&mut self, items: Vec<T>) -> Result<u64, StateError> {
        if items.is_empty() {
            return Ok(0);
        }
        let mut next_seq = self.next_seq;
        let mut new = VecDeque::with_capacity(items.len());
        let mut new_bytes = 0u64;
        let mut dropped = 0u64;
        for item in items {
            let mut e = OutboxEntry {
                seq: next_seq,
                item,
                size: 0,
            };
            next_seq += 1;
            let line = self.serialize(&e)?;
            e.size = line.len();
            if e.size as u64 > self.max_bytes {
                dropped += 1;
                continue;
            }
            new_bytes += e.size as u64;
            new.push_back((e, line));
        }
        // Plan the drops, oldest first (waiting entries, then the earliest new ones), until
        // the rest fits. Nothing changes in memory before the file holds the result.
        let mut drop_old = 0usize;
        let mut old_bytes = self.bytes;
        while old_bytes + new_bytes > self.max_bytes {
            if let Some(old) = self.entries.get(drop_old) {
                old_bytes -= old.size as u64;
                drop_old += 1;
            } else if let Some((e, _)) = new.pop_front() {
                new_bytes -= e.size as u64;
            } else {
                break;
            }
            dropped += 1;
        }
        if dropped > 0 || self.stale_file {
            let mut buf = self.header_line(next_seq, self.dropped + dropped);
            for e in self.entries.iter().skip(drop_old) {
                buf.extend_from_slice(&self.serialize(e)?);
            }
            for (_, line) in &new {
                buf.extend_from_slice(line);
            }
            write_atomic(&self.path, &buf)?;
            self.stale_file = false;
        } else {
            let mut buf = Vec::with_capacity(new_bytes as usize);
            for (_, line) in &new {
                buf.extend_from_slice(line);
            }
            self.append(&buf)?;
        }
        self.entries.drain(..drop_old);
        self.entries.extend(new.into_iter().map(|(e, _)| e));
        self.bytes = old_bytes + new_bytes;
        self.next_seq = next_seq;
        self.dropped += dropped;
        if dropped > 0 {
            log::warn!(path:% = self.path.display(), dropped = dropped, total_dropped = self.dropped;
                "outbox full: dropped the oldest entries");
        }
        Ok(dropped)
    }

    /// Removes delivered (or definitively rejected) entries by sequence number and rewrites
    /// the file atomically. On error the entries are gone from memory all the same (they were
    /// delivered: this process does not send them again) and the next write rewrites the
    /// file whole; only a restart before that would find them in the file and resend them.
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
        self.rewrite().inspect_err(|_| self.stale_file = true)
    }

    fn serialize(&self, e: &OutboxEntry<T>) -> Result<Vec<u8>, StateError> {
        let mut line = serde_json::to_vec(e).map_err(|err| StateError::Corrupt {
            path: self.path.clone(),
            message: format!("cannot serialise an entry: {err}"),
        })?;
        line.push(b'\n');
        Ok(line)
    }

    fn header_line(&self, next_seq: u64, dropped: u64) -> Vec<u8> {
        let mut h = serde_json::to_vec(&OutboxHeader {
            version: FORMAT_VERSION,
            next_seq,
            dropped,
        })
        .unwrap_or_default();
        h.push(b'\n');
        h
    }

    /// Appends `buf` and fsyncs it. On error the file is cut back to its length before the
    /// append (`ftruncate`, fsync), so that no torn or unacknowledged entry stays in it; if
    /// even that fails, the next write rewrites the file whole.
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
        let before = f.metadata().map_err(werr)?.len();
        let Err(source) = self.write_synced(&mut f, buf) else {
            return Ok(());
        };
        if let Err(e) = self.cut_back(&f, before) {
            log::error!(path:% = self.path.display(), error:% = e;
                "cannot cut a failed outbox append back; the outbox file is rewritten whole at the next write");
            self.stale_file = true;
        }
        Err(werr(source))
    }

    fn write_synced(&self, f: &mut File, buf: &[u8]) -> io::Result<()> {
        #[cfg(test)]
        if let Some(n) = self.faults.append_fails_after {
            f.write_all(&buf[..n.min(buf.len())])?;
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device (injected)",
            ));
        }
        f.write_all(buf)?;
        f.sync_data()
    }

    fn cut_back(&self, f: &File, len: u64) -> io::Result<()> {
        #[cfg(test)]
        if self.faults.truncate_fails {
            return Err(io::Error::other("injected truncate failure"));
        }
        f.set_len(len)?;
        f.sync_data()
    }

    fn rewrite(&mut self) -> Result<(), StateError> {
        let mut buf = self.header_line(self.next_seq, self.dropped);
        for e in &self.entries {
            buf.extend_from_slice(&self.serialize(e)?);
        }
        write_atomic(&self.path, &buf)?;
        self.stale_file = false;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Delivered change keys

#[derive(Deserialize)]
struct DeliveredFile {
    version: u32,
    generation: String,
    keys: BTreeSet<String>,
}

/// The keys of the finding changes already delivered from one finding-state generation
/// (`state_dir/delivered.json`, written atomically), so that a change is not queued again
/// after its delivery while the finding state cannot move on: when `findings.json` cannot be
/// written, or after a crash between queueing and committing, when the outbox is flushed
/// before the next cycle recomputes the same changes.
///
/// Only the latest generation is kept: [`DeliveredKeys::begin`] forgets the keys of any other
/// one. A key is `finding id:change:generation` (hex digests and a word), never a secret. The
/// file belongs to the holder of the outbox lock.
#[derive(Debug)]
pub struct DeliveredKeys {
    path: PathBuf,
    generation: Option<String>,
    keys: BTreeSet<String>,
}

impl DeliveredKeys {
    /// Loads the keys from `dir`. A missing file means none; an unreadable or foreign one is
    /// logged and treated as none (at worst a change is delivered twice, never lost).
    pub fn load(dir: &Path) -> DeliveredKeys {
        let path = dir.join(DELIVERED_FILE);
        let mut keys = DeliveredKeys {
            path,
            generation: None,
            keys: BTreeSet::new(),
        };
        let bytes = match fs::read(&keys.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return keys,
            Err(e) => {
                log::warn!(path:% = keys.path.display(), error:% = e;
                    "cannot read the delivered change keys; starting without them");
                return keys;
            }
        };
        match serde_json::from_slice::<DeliveredFile>(&bytes) {
            Ok(f) if f.version == FORMAT_VERSION => {
                keys.generation = Some(f.generation);
                keys.keys = f.keys;
            }
            Ok(_) | Err(_) => {
                log::warn!(path:% = keys.path.display();
                    "the delivered change keys file is not readable; starting without it");
            }
        }
        keys
    }

    /// The generation the keys belong to (`None` before the first [`DeliveredKeys::begin`]).
    pub fn generation(&self) -> Option<&str> {
        self.generation.as_deref()
    }

    /// Whether the change `key` was delivered.
    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Makes `generation` the current one: when it is another than the current, the keys are
    /// forgotten and the new generation is written to the file before this returns (so that
    /// after a restart, deliveries of this generation's changes are recorded). On error
    /// nothing changes.
    pub fn begin(&mut self, generation: &str) -> Result<(), StateError> {
        if self.generation.as_deref() == Some(generation) {
            return Ok(());
        }
        let empty = BTreeSet::new();
        self.save(generation, &empty)?;
        self.generation = Some(generation.to_string());
        self.keys = empty;
        Ok(())
    }

    /// Records delivered changes, given as `(generation, key)`; those of another generation
    /// than the current one are ignored (the finding state has moved past them). Writes the
    /// file when a key was added. On error the keys are kept in memory all the same (this
    /// process does not queue them again) and written with the next record.
    pub fn record<'a>(
        &mut self,
        delivered: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), StateError> {
        let Some(current) = self.generation.clone() else {
            return Ok(());
        };
        let mut added = false;
        for (generation, key) in delivered {
            if generation == current {
                added |= self.keys.insert(key.to_string());
            }
        }
        if !added {
            return Ok(());
        }
        self.save(&current, &self.keys)
    }

    fn save(&self, generation: &str, keys: &BTreeSet<String>) -> Result<(), StateError> {
        #[derive(Serialize)]
        struct Out<'a> {
            version: u32,
            generation: &'a str,
            keys: &'a BTreeSet<String>,
        }
        let bytes = serde_json::to_vec(&Out {
            version: FORMAT_VERSION,
            generation,
            keys,
        })
        .map_err(|e| StateError::Corrupt {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        write_atomic(&self.path, &bytes)
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
        let mut f = outbox_then_raw(tmp.path(), "whole");
        f.write_all(b"{\"seq\":9,\"item\":\"tor").unwrap();
        drop(f);
        let ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
        let items: Vec<&str> = ob.entries().map(|e| e.item.as_str()).collect();
        assert_eq!(items, ["whole"]);
    }

    /// An outbox in `dir` holding `first`, closed, and its file open for raw appends.
    fn outbox_then_raw(dir: &Path, first: &str) -> File {
        let mut ob: Outbox<String> = Outbox::open(dir, OUTBOX_FILE, 1 << 20).unwrap();
        ob.push_all(vec![first.to_string()]).unwrap();
        drop(ob);
        OpenOptions::new()
            .append(true)
            .open(dir.join(OUTBOX_FILE))
            .unwrap()
    }

    fn items(ob: &Outbox<String>) -> Vec<String> {
        ob.entries().map(|e| e.item.clone()).collect()
    }

    /// Every line after the header parses as a whole entry, and sequence numbers are unique.
    fn assert_clean_file(dir: &Path) {
        let text = fs::read_to_string(dir.join(OUTBOX_FILE)).unwrap();
        assert!(text.ends_with('\n'), "{text:?}");
        let mut seqs = std::collections::HashSet::new();
        for line in text.lines().skip(1) {
            let e: OutboxEntry<String> = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("torn line {line:?}: {err}"));
            assert!(seqs.insert(e.seq), "sequence number {} twice", e.seq);
        }
    }

    /// The byte length of appending `items` to a fresh outbox (header excluded).
    fn append_len(items: &[&str]) -> usize {
        let tmp = tempfile::tempdir().unwrap();
        let mut ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
        ob.push_all(items.iter().map(|s| s.to_string()).collect())
            .unwrap();
        ob.bytes() as usize
    }

    /// Regression (outbox review, defect 1): an append that fails part way (a full disk after
    /// `n` bytes, for every `n`, or a failed fsync) leaves neither torn bytes nor any of its
    /// entries, in the file or in memory; the next append and a reload see exactly the
    /// entries that were acknowledged, each once.
    #[test]
    fn a_failed_append_is_cut_back_and_loses_or_repeats_nothing() {
        let failing = ["bravo", "charlie", "delta"];
        let len = append_len(&failing);
        for n in 0..=len {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join(OUTBOX_FILE);
            let mut ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
            ob.push_all(vec!["alpha".into()]).unwrap();
            let before = fs::read(&path).unwrap();
            ob.faults.append_fails_after = Some(n);
            let err = ob
                .push_all(failing.iter().map(|s| s.to_string()).collect())
                .unwrap_err();
            assert!(matches!(err, StateError::Write { .. }), "{err}");
            assert!(err.to_string().contains(OUTBOX_FILE), "{err}");
            assert_eq!(fs::read(&path).unwrap(), before, "cut back after {n} bytes");
            assert_eq!(items(&ob), ["alpha"], "nothing kept in memory");
            ob.faults.append_fails_after = None;
            ob.push_all(vec!["echo".into()]).unwrap();
            drop(ob);
            let ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
            assert_eq!(items(&ob), ["alpha", "echo"], "failure after {n} bytes");
            assert_clean_file(tmp.path());
        }
    }

    /// When even cutting the failed append back fails, the torn bytes stay in the file until
    /// the next write, which rewrites the file whole (it does not append after them); a crash
    /// before that write loads the file without them.
    #[test]
    fn a_failed_append_that_cannot_be_cut_back_is_rewritten_by_the_next_write() {
        let tmp = tempfile::tempdir().unwrap();
        let mut ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
        ob.push_all(vec!["alpha".into()]).unwrap();
        ob.faults = Faults {
            append_fails_after: Some(12),
            truncate_fails: true,
        };
        ob.push_all(vec!["bravo".into(), "charlie".into()])
            .unwrap_err();
        assert_eq!(items(&ob), ["alpha"]);
        ob.faults = Faults::default();
        ob.push_all(vec!["delta".into()]).unwrap();
        assert_clean_file(tmp.path());
        drop(ob);
        let ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
        assert_eq!(items(&ob), ["alpha", "delta"]);

        // The same, but the process dies before its next write.
        let mut ob = ob;
        ob.faults = Faults {
            append_fails_after: Some(12),
            truncate_fails: true,
        };
        ob.push_all(vec!["echo".into()]).unwrap_err();
        drop(ob);
        let mut ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
        assert_eq!(items(&ob), ["alpha", "delta"]);
        assert_clean_file(tmp.path());
        ob.push_all(vec!["foxtrot".into()]).unwrap();
        assert_eq!(items(&ob), ["alpha", "delta", "foxtrot"]);
    }

    /// Regression (outbox review, defect 1): torn bytes in the middle of the file (an append
    /// that failed and was not cut back, followed by later appends) do not swallow the whole
    /// entry appended after them on the same line; the file is rewritten without them.
    #[test]
    fn a_torn_middle_line_does_not_swallow_the_entry_after_it() {
        let tmp = tempfile::tempdir().unwrap();
        let mut f = outbox_then_raw(tmp.path(), "alpha");
        // Torn: a prefix; a whole entry without its newline; a prefix cut inside a string
        // that holds a brace; each followed, on the same line, by a whole entry.
        f.write_all(b"{\"seq\":2,\"item\":\"tor").unwrap();
        f.write_all(b"{\"seq\":3,\"item\":\"bravo\"}\n").unwrap();
        f.write_all(b"{\"seq\":4,\"item\":\"lost\"}").unwrap();
        f.write_all(b"{\"seq\":5,\"item\":\"charlie\"}\n").unwrap();
        f.write_all(b"{\"seq\":6,\"item\":\"{x").unwrap();
        f.write_all(b"{\"seq\":7,\"item\":\"delta {\\\"seq\\\":8}\"}\n")
            .unwrap();
        f.write_all(b"{\"seq\":9,\"item\":\"echo\"}\n").unwrap();
        drop(f);
        let mut ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
        assert_eq!(
            items(&ob),
            ["alpha", "bravo", "charlie", "delta {\"seq\":8}", "echo"]
        );
        assert_clean_file(tmp.path());
        ob.push_all(vec!["foxtrot".into()]).unwrap();
        assert_eq!(
            ob.entries().last().unwrap().seq,
            10,
            "no sequence number reused"
        );
        let bytes = ob.bytes();
        drop(ob);
        let ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
        assert_eq!(ob.len(), 6);
        assert_eq!(
            ob.bytes(),
            bytes,
            "recovered entries are counted at their own size"
        );
    }

    /// An append cut just before its final newline leaves a whole last entry without one:
    /// it is kept, and the file is rewritten so that the next append does not join it.
    #[test]
    fn a_last_entry_without_its_newline_is_kept_and_not_joined_by_the_next_append() {
        let tmp = tempfile::tempdir().unwrap();
        let mut f = outbox_then_raw(tmp.path(), "alpha");
        f.write_all(b"{\"seq\":2,\"item\":\"bravo\"}").unwrap();
        drop(f);
        let mut ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
        assert_eq!(items(&ob), ["alpha", "bravo"]);
        ob.push_all(vec!["charlie".into()]).unwrap();
        drop(ob);
        let ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
        assert_eq!(items(&ob), ["alpha", "bravo", "charlie"]);
        assert_clean_file(tmp.path());
    }

    /// A push that must drop entries rewrites the file; when that rewrite fails, nothing
    /// changes: no entry added or dropped, the drop count as it was, no temporary file left.
    #[test]
    fn a_failed_rewrite_on_push_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let mut ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 100).unwrap();
        ob.push_all((0..3).map(|i| format!("item-{i}")).collect())
            .unwrap();
        let before = fs::read(tmp.path().join(OUTBOX_FILE)).unwrap();
        // The temporary file's name taken by a directory: the rewrite cannot happen.
        let blocker = tmp
            .path()
            .join(OUTBOX_FILE)
            .with_extension(format!("tmp.{}", std::process::id()));
        fs::create_dir(&blocker).unwrap();
        ob.push_all(vec!["item-3".into()]).unwrap_err();
        assert_eq!(items(&ob), ["item-0", "item-1", "item-2"]);
        assert_eq!(ob.dropped(), 0);
        assert_eq!(fs::read(tmp.path().join(OUTBOX_FILE)).unwrap(), before);
        fs::remove_dir(&blocker).unwrap();
        assert_eq!(ob.push_all(vec!["item-3".into()]).unwrap(), 1);
        assert_eq!(items(&ob), ["item-1", "item-2", "item-3"]);
        drop(ob);
        let ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 100).unwrap();
        assert_eq!(items(&ob), ["item-1", "item-2", "item-3"]);
        assert_eq!(ob.dropped(), 1);
        assert_no_temporary_file(tmp.path());
    }

    /// No temporary file of `write_atomic` or of an outbox rewrite is left in `dir`.
    fn assert_no_temporary_file(dir: &Path) {
        let names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp.")), "{names:?}");
    }

    /// A removal that cannot be written leaves the entries out of memory (they were
    /// delivered); the next write rewrites the file whole, so they do not come back.
    #[test]
    fn a_removal_that_cannot_be_written_is_completed_by_the_next_write() {
        let tmp = tempfile::tempdir().unwrap();
        let mut ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
        ob.push_all(vec!["alpha".into(), "bravo".into()]).unwrap();
        let first = ob.entries().next().unwrap().seq;
        let blocker = tmp
            .path()
            .join(OUTBOX_FILE)
            .with_extension(format!("tmp.{}", std::process::id()));
        fs::create_dir(&blocker).unwrap();
        ob.remove(&[first]).unwrap_err();
        assert_eq!(items(&ob), ["bravo"]);
        fs::remove_dir(&blocker).unwrap();
        ob.push_all(vec!["charlie".into()]).unwrap();
        drop(ob);
        let ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 1 << 20).unwrap();
        assert_eq!(items(&ob), ["bravo", "charlie"]);
        assert_clean_file(tmp.path());
    }

    #[test]
    fn write_atomic_leaves_the_old_file_and_no_temporary_file_on_error() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("f.json");
        write_atomic(&target, b"old").unwrap();
        let blocker = target.with_extension(format!("tmp.{}", std::process::id()));
        fs::create_dir(&blocker).unwrap();
        assert!(write_atomic(&target, b"new").is_err());
        fs::remove_dir(&blocker).unwrap();
        // The target replaced by a non-empty directory: the rename fails after the write.
        let dir_target = tmp.path().join("d.json");
        fs::create_dir(&dir_target).unwrap();
        fs::write(dir_target.join("x"), b"").unwrap();
        let err = write_atomic(&dir_target, b"new").unwrap_err();
        assert!(err.to_string().contains("d.json"), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert_no_temporary_file(tmp.path());
    }

    #[test]
    fn delivered_keys_hold_one_generation_and_survive_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let mut d = DeliveredKeys::load(tmp.path());
        assert_eq!(d.generation(), None);
        // Before any generation is known nothing is recorded.
        d.record([("g1", "a:new:g1")]).unwrap();
        assert!(d.is_empty());
        assert!(!tmp.path().join(DELIVERED_FILE).exists());

        d.begin("g1").unwrap();
        assert!(
            tmp.path().join(DELIVERED_FILE).exists(),
            "begin writes the generation"
        );
        d.record([("g1", "a:new:g1"), ("g0", "b:new:g0")]).unwrap();
        assert!(d.contains("a:new:g1"));
        assert!(
            !d.contains("b:new:g0"),
            "another generation's key is not kept"
        );
        let d2 = DeliveredKeys::load(tmp.path());
        assert_eq!(d2.generation(), Some("g1"));
        assert!(d2.contains("a:new:g1"));
        assert_eq!(d2.len(), 1);

        // The same generation again keeps the keys; another one forgets them, on disk too.
        d.begin("g1").unwrap();
        assert!(d.contains("a:new:g1"));
        d.begin("g2").unwrap();
        assert!(d.is_empty());
        let d3 = DeliveredKeys::load(tmp.path());
        assert_eq!((d3.generation(), d3.len()), (Some("g2"), 0));
        let mode = fs::metadata(tmp.path().join(DELIVERED_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn delivered_keys_begin_that_cannot_be_written_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let mut d = DeliveredKeys::load(tmp.path());
        d.begin("g1").unwrap();
        d.record([("g1", "a:new:g1")]).unwrap();
        let blocker = tmp
            .path()
            .join(DELIVERED_FILE)
            .with_extension(format!("tmp.{}", std::process::id()));
        fs::create_dir(&blocker).unwrap();
        assert!(d.begin("g2").is_err());
        assert_eq!(d.generation(), Some("g1"));
        assert!(d.contains("a:new:g1"));
        // A failed record keeps the key in memory.
        assert!(d.record([("g1", "b:new:g1")]).is_err());
        assert!(d.contains("b:new:g1"));
        fs::remove_dir(&blocker).unwrap();
        d.record([("g1", "c:new:g1")]).unwrap();
        assert_eq!(DeliveredKeys::load(tmp.path()).len(), 3);
    }

    #[test]
    fn a_corrupt_delivered_keys_file_is_treated_as_empty() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(DELIVERED_FILE), b"{\"version\":1,\"gen").unwrap();
        let d = DeliveredKeys::load(tmp.path());
        assert_eq!((d.generation(), d.len()), (None, 0));
        fs::write(
            tmp.path().join(DELIVERED_FILE),
            br#"{"version":99,"generation":"g","keys":["a:new:g"]}"#,
        )
        .unwrap();
        assert!(DeliveredKeys::load(tmp.path()).is_empty());
    }
}
