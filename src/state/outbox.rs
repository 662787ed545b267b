//! The outbox: a bounded, durable FIFO of what is still to be delivered, in one JSON-lines
//! file (a header line, then one entry per line). See the module docs of [`crate::state`] for
//! its guarantees.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{prepare_dir, write_atomic, StateError, FORMAT_VERSION};

/// File name of the CloudWatch outbox inside the state directory.
pub const OUTBOX_FILE: &str = "outbox.jsonl";

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

/// Takes the exclusive lock `<file>.lock` in `dir` ([`StateError::Locked`] when another
/// process holds it); the lock lasts as long as the returned file is open. Also the
/// Systems Manager sink's lock.
pub(crate) fn lock(dir: &Path, file: &str) -> Result<File, StateError> {
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
        Ok(()) => Ok(lock),
        Err(fs::TryLockError::WouldBlock) => Err(StateError::Locked { path: lock_path }),
        Err(fs::TryLockError::Error(source)) => Err(StateError::Write {
            path: lock_path,
            source,
        }),
    }
}

/// What a [`Outbox::push_all`] will do, computed before anything is written or changed.
struct PushPlan<T> {
    /// The new entries that are kept, oldest first, with their serialised lines.
    new: VecDeque<(OutboxEntry<T>, Vec<u8>)>,
    /// Bytes of the kept new entries.
    new_bytes: u64,
    /// How many waiting entries, the oldest, are dropped.
    drop_old: usize,
    /// Bytes of the waiting entries that are kept.
    old_bytes: u64,
    /// Entries dropped in all, waiting and new.
    dropped: u64,
    /// The next sequence number after the new entries.
    next_seq: u64,
}

/// How much an outbox holds, read from its file without taking its lock (the daemon holds
/// it): for `credhygiene status`. An append in progress may be seen torn and is not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Entries waiting.
    pub pending: u64,
    /// Entries dropped because the outbox was full, since it was created.
    pub dropped: u64,
}

impl OutboxCounts {
    /// Reads the outbox `file` in `dir`: all zero when there is none (CloudWatch never used
    /// here). Changes nothing: a file without a valid header is an error, not set aside.
    pub fn read(dir: &Path, file: &str) -> Result<OutboxCounts, StateError> {
        let path = dir.join(file);
        let read_err = |source| StateError::Read {
            path: path.clone(),
            source,
        };
        let f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(OutboxCounts::default()),
            Err(e) => return Err(read_err(e)),
        };
        let mut reader = BufReader::new(f);
        let mut line = Vec::new();
        next_line(&mut reader, &mut line).map_err(read_err)?;
        let header = serde_json::from_slice::<OutboxHeader>(&line)
            .ok()
            .filter(|h| h.version == FORMAT_VERSION)
            .ok_or_else(|| StateError::Corrupt {
                path: path.clone(),
                message: "no valid header".into(),
            })?;
        let mut pending = 0;
        while next_line(&mut reader, &mut line)
            .map_err(read_err)?
            .is_some()
        {
            let (entry, _) = parse_line::<serde::de::IgnoredAny>(&line);
            pending += u64::from(entry.is_some());
        }
        Ok(OutboxCounts {
            pending,
            dropped: header.dropped,
        })
    }
}

impl<T: Serialize + DeserializeOwned + Clone> Outbox<T> {
    /// Opens (or creates) the outbox `file` inside `dir`, bounded to `max_bytes` of entries.
    pub fn open(dir: &Path, file: &str, max_bytes: u64) -> Result<Outbox<T>, StateError> {
        prepare_dir(dir)?;
        let lock = lock(dir, file)?;
        let mut outbox = Outbox {
            _lock: lock,
            path: dir.join(file),
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

    /// Reads the file into memory. A missing file is created empty; a file without a valid
    /// header is set aside and replaced by an empty one; torn bytes are skipped and repaired.
    fn load(&mut self) -> Result<(), StateError> {
        let f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return self.rewrite(),
            Err(source) => return Err(self.read_err(source)),
        };
        let mut reader = BufReader::new(f);
        let mut line = Vec::new();
        let first = next_line(&mut reader, &mut line).map_err(|e| self.read_err(e))?;
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
        let (torn, unterminated) =
            self.read_entries(&mut reader, &mut line, first == Some(false))?;
        self.repair(torn, unterminated);
        Ok(())
    }

    fn read_err(&self, source: io::Error) -> StateError {
        StateError::Read {
            path: self.path.clone(),
            source,
        }
    }

    /// Reads the entry lines after the header into memory, each whole entry once (also one
    /// written after torn bytes on the same line). Returns the number of lines that held torn
    /// bytes and whether the file's last line lacks its newline (`unterminated`: whether the
    /// header line does).
    fn read_entries(
        &mut self,
        reader: &mut impl BufRead,
        line: &mut Vec<u8>,
        mut unterminated: bool,
    ) -> Result<(u64, bool), StateError> {
        let mut torn = 0u64;
        while let Some(terminated) = next_line(reader, line).map_err(|e| self.read_err(e))? {
            unterminated = !terminated;
            if line.is_empty() {
                continue;
            }
            let (entry, had_torn_bytes) = parse_line::<T>(line);
            torn += u64::from(had_torn_bytes);
            if let Some((mut e, len)) = entry {
                e.size = len + 1;
                self.next_seq = self.next_seq.max(e.seq + 1);
                self.bytes += e.size as u64;
                self.entries.push_back(e);
            }
        }
        Ok((torn, unterminated))
    }

    /// After an interrupted append (`torn` lines, or a last line without its newline, which
    /// the next append must not be glued to), rewrites the file whole; when that fails, the
    /// next write does.
    fn repair(&mut self, torn: u64, unterminated: bool) {
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
        let mut plan = self.number(items)?;
        self.plan_drops(&mut plan);
        // Nothing changes in memory before the file holds the result.
        self.write_push(&plan)?;
        let dropped = plan.dropped;
        self.apply_push(plan);
        Ok(dropped)
    }

    /// Gives the new items their sequence numbers and lines; an item larger than the whole
    /// bound is dropped (and counted) here.
    fn number(&self, items: Vec<T>) -> Result<PushPlan<T>, StateError> {
        let mut plan = PushPlan {
            new: VecDeque::with_capacity(items.len()),
            new_bytes: 0,
            drop_old: 0,
            old_bytes: self.bytes,
            dropped: 0,
            next_seq: self.next_seq,
        };
        for item in items {
            let mut e = OutboxEntry {
                seq: plan.next_seq,
                item,
                size: 0,
            };
            plan.next_seq += 1;
            let line = self.serialize(&e)?;
            e.size = line.len();
            if e.size as u64 > self.max_bytes {
                plan.dropped += 1;
                continue;
            }
            plan.new_bytes += e.size as u64;
            plan.new.push_back((e, line));
        }
        Ok(plan)
    }

    /// Plans the drops, oldest first (waiting entries, then the earliest new ones), until the
    /// rest fits the bound.
    fn plan_drops(&self, plan: &mut PushPlan<T>) {
        while plan.old_bytes + plan.new_bytes > self.max_bytes {
            if let Some(old) = self.entries.get(plan.drop_old) {
                plan.old_bytes -= old.size as u64;
                plan.drop_old += 1;
            } else if let Some((e, _)) = plan.new.pop_front() {
                plan.new_bytes -= e.size as u64;
            } else {
                break;
            }
            plan.dropped += 1;
        }
    }

    /// Writes the planned result: the whole file when entries are dropped (or the file is
    /// stale), otherwise an append of the new lines.
    fn write_push(&mut self, plan: &PushPlan<T>) -> Result<(), StateError> {
        if plan.dropped > 0 || self.stale_file {
            let mut buf = self.header_line(plan.next_seq, self.dropped + plan.dropped);
            for e in self.entries.iter().skip(plan.drop_old) {
                buf.extend_from_slice(&self.serialize(e)?);
            }
            for (_, line) in &plan.new {
                buf.extend_from_slice(line);
            }
            write_atomic(&self.path, &buf)?;
            self.stale_file = false;
            Ok(())
        } else {
            let mut buf = Vec::with_capacity(plan.new_bytes as usize);
            for (_, line) in &plan.new {
                buf.extend_from_slice(line);
            }
            self.append(&buf)
        }
    }

    /// Makes memory match the file once the plan is written.
    fn apply_push(&mut self, plan: PushPlan<T>) {
        self.entries.drain(..plan.drop_old);
        self.entries.extend(plan.new.into_iter().map(|(e, _)| e));
        self.bytes = plan.old_bytes + plan.new_bytes;
        self.next_seq = plan.next_seq;
        self.dropped += plan.dropped;
        if plan.dropped > 0 {
            log::warn!(path:% = self.path.display(), dropped = plan.dropped, total_dropped = self.dropped;
                "outbox full: dropped the oldest entries");
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::assert_no_temporary_file;

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
    fn counts_are_read_beside_the_lock_holder_and_skip_a_torn_line() {
        let tmp = tempfile::tempdir().unwrap();
        let counts = || OutboxCounts::read(tmp.path(), OUTBOX_FILE).unwrap();
        assert_eq!(counts(), OutboxCounts::default());
        let mut ob: Outbox<String> = Outbox::open(tmp.path(), OUTBOX_FILE, 40).unwrap();
        ob.push_all(vec!["one".into(), "two".into(), "three".into()])
            .unwrap();
        let want = OutboxCounts {
            pending: ob.len() as u64,
            dropped: ob.dropped(),
        };
        assert!(want.dropped > 0, "{want:?}");
        assert_eq!(counts(), want);
        let mut f = OpenOptions::new()
            .append(true)
            .open(tmp.path().join(OUTBOX_FILE))
            .unwrap();
        f.write_all(b"{\"seq\":99,\"it").unwrap();
        assert_eq!(counts(), want);
        drop(ob);
        fs::write(tmp.path().join(OUTBOX_FILE), "garbage\n").unwrap();
        assert!(OutboxCounts::read(tmp.path(), OUTBOX_FILE).is_err());
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
}
