//! The scan cache: what earlier scans found in each file, keyed by a hash of its path and
//! valid while the file's stamp (device, inode, size, mtime, ctime) is unchanged. A file that
//! matches its entry costs one lookup, one stat and no read. The cache holds fingerprints and
//! redacted prefixes, never a secret.
//!
//! Memory stays flat in the number of files: the entries live in a file of fixed 16-byte
//! records (path key, stamp hash), sorted by key, and each lookup reads one block of
//! [`FENCE`] records (one `pread`); memory holds the first key of each block (1/8 byte a
//! file) and the findings of the few files that have any. A walk writes its entries in sorted
//! runs of [`RUN`] records to an unlinked temporary file next to the cache and merges them at
//! the end ([`CacheBuilder`]), so building a cache costs a few MiB whatever the tree.
//!
//! On disk (little-endian): a header ([`MAGIC`], format, rules version, time of the last full
//! scan, counts, checksum), the records, then the findings as JSON. A cache that is missing,
//! truncated, padded, unsorted, fails its checksum, is larger than [`MAX_FOUND`] in findings,
//! or is from another format or rules version is not trusted: the next scan reads every file
//! and writes a new one. Writes are atomic and durable ([`crate::atomic::write_with`]).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::index::FileFindings;

/// The first bytes of a cache file.
const MAGIC: &[u8; 8] = b"CHSCACHE";
/// The layout version: a cache of another layout is rebuilt. 2: a file's findings may hold
/// its key ids compactly ([`super::keyids::KeyIds`]), which format 1 readers would drop.
const FORMAT: u32 = 2;
/// Magic, format, version length, full scan time, record count, findings length, checksum.
const HEADER: usize = 48;
/// Bytes of one record: path key and stamp hash.
const RECORD: usize = 16;
/// Records per lookup block: a lookup reads 1 KiB, and memory holds one key per block.
const FENCE: usize = 64;
/// Records sorted in memory before they are written out as a run (2 MiB).
const RUN: usize = 1 << 17;
/// Buffer of each sequential read or write of records.
const IO_BUF: usize = 64 << 10;
/// The longest rules version a header may name (a longer one is not ours).
const MAX_VERSION: usize = 1024;
/// The most bytes of findings a cache may hold: they are read into memory. A host with more
/// (hundreds of thousands of findings) reads every file at each restart instead.
const MAX_FOUND: u64 = 64 << 20;
/// The bit of a record's value that marks a file of the trees (not an env file): the index of
/// an indexing walk counts those.
pub(super) const TREE: u64 = 1 << 63;
const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// The cache key of a path given as text: FNV-1a over its bytes.
pub fn path_key(path: &str) -> u64 {
    fnv(FNV_BASIS, path.as_bytes())
}

/// The cache key of a path: FNV-1a over its raw bytes, so that names that are not UTF-8 keep
/// their own keys (a lossy conversion would give two such names one). The same as
/// [`path_key`] for a UTF-8 path.
pub fn key_of(path: &Path) -> u64 {
    fnv(FNV_BASIS, path.as_os_str().as_bytes())
}

fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME))
}

/// What identifies a version of a file: device, inode, size, mtime and ctime (ns).
pub(crate) fn stamp_of(meta: &std::fs::Metadata) -> [i64; 5] {
    [
        meta.dev() as i64,
        meta.ino() as i64,
        meta.size() as i64,
        meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
    ]
}

/// [`stamp_of`] from a `stat` of the same file made by other means (see [`super::open`]).
// The fields' integer types differ by architecture: the casts are needed on some, not others.
#[allow(clippy::unnecessary_cast)]
pub(super) fn stamp_of_stat(st: &rustix::fs::Stat) -> [i64; 5] {
    [
        st.st_dev as i64,
        st.st_ino as i64,
        st.st_size as i64,
        st.st_mtime as i64 * 1_000_000_000 + st.st_mtime_nsec as i64,
        st.st_ctime as i64 * 1_000_000_000 + st.st_ctime_nsec as i64,
    ]
}

/// A stamp as a record keeps it: 63 bits of hash (the top bit is [`TREE`]).
pub(super) fn stamp_hash(stamp: &[i64; 5]) -> u64 {
    stamp
        .iter()
        .fold(FNV_BASIS, |h, v| fnv(h, &v.to_le_bytes()))
        & !TREE
}

/// A checksum of the cache body: word-wise, so that it reads 16 MiB in a few milliseconds.
/// Callers hand it whole records (multiples of 8 bytes) except for the last piece.
fn checksum(h: u64, bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let h = words.by_ref().fold(h, |h, w| {
        let w = u64::from_le_bytes(w.try_into().unwrap_or_default());
        (h ^ w).wrapping_mul(FNV_PRIME).rotate_left(23)
    });
    fnv(h, words.remainder())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

/// Sorted records in a file: `count` records of [`RECORD`] bytes from byte `start`.
#[derive(Debug, Default)]
pub(crate) struct Records {
    file: Option<File>,
    start: u64,
    count: u64,
    /// The first key of each block of [`FENCE`] records.
    fence: Vec<u64>,
    /// Records with the [`TREE`] bit.
    trees: u64,
}

impl Records {
    /// The value (stamp hash and [`TREE`] bit) of `key`, if it has a record. A read error is a
    /// miss: the file is read again.
    pub(super) fn get(&self, key: u64) -> Option<u64> {
        let file = self.file.as_ref()?;
        let block = self.fence.partition_point(|&k| k <= key).checked_sub(1)?;
        let first = block * FENCE;
        let n = (self.count as usize).saturating_sub(first).min(FENCE);
        let mut buf = [0u8; FENCE * RECORD];
        let buf = &mut buf[..n * RECORD];
        let at = self.start + (first * RECORD) as u64;
        file.read_exact_at(buf, at).ok()?;
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match u64_at(buf, mid * RECORD).cmp(&key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(u64_at(buf, mid * RECORD + 8)),
            }
        }
        None
    }

    /// Whether `key` is a file of the trees.
    pub(super) fn is_tree_file(&self, key: u64) -> bool {
        self.get(key).is_some_and(|v| v & TREE != 0)
    }

    /// How many records are files of the trees.
    pub(super) fn trees(&self) -> u64 {
        self.trees
    }

    /// Calls `f` with the records in order, [`IO_BUF`] bytes at a time.
    fn for_each_chunk(&self, mut f: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let total = self.count * RECORD as u64;
        let mut buf = vec![0u8; IO_BUF];
        let mut done = 0;
        while done < total {
            let n = (total - done).min(IO_BUF as u64) as usize;
            file.read_exact_at(&mut buf[..n], self.start + done)?;
            f(&buf[..n])?;
            done += n as u64;
        }
        Ok(())
    }
}

/// Takes records in ascending key order and builds [`Records`] of them: drops repeated keys
/// (a file the walk met twice), notes the fence and counts the files of the trees.
struct SortedWriter<'f> {
    file: &'f File,
    start: u64,
    buf: Vec<u8>,
    written: u64,
    count: u64,
    last: Option<u64>,
    fence: Vec<u64>,
    trees: u64,
}

impl<'f> SortedWriter<'f> {
    fn new(file: &'f File, start: u64) -> Self {
        SortedWriter {
            file,
            start,
            buf: Vec::with_capacity(IO_BUF),
            written: 0,
            count: 0,
            last: None,
            fence: Vec::new(),
            trees: 0,
        }
    }

    fn push(&mut self, [key, value]: [u64; 2]) -> io::Result<()> {
        if self.last == Some(key) {
            return Ok(());
        }
        if self.count.is_multiple_of(FENCE as u64) {
            self.fence.push(key);
        }
        self.last = Some(key);
        self.count += 1;
        self.trees += value >> 63;
        self.buf.extend_from_slice(&key.to_le_bytes());
        self.buf.extend_from_slice(&value.to_le_bytes());
        if self.buf.len() >= IO_BUF {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        let at = self.start + self.written;
        self.file.write_all_at(&self.buf, at)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn finish(mut self, file: File) -> io::Result<Records> {
        self.flush()?;
        Ok(Records {
            file: Some(file),
            start: self.start,
            count: self.count,
            fence: self.fence,
            trees: self.trees,
        })
    }
}

/// Per-file results of a previous scan, valid for one rules version and one program version.
/// Cloning shares the records.
#[derive(Debug, Clone, Default)]
pub struct ScanCache {
    /// The program and rules version the entries were made with.
    pub rules_version: String,
    /// When the last full scan (one that read every file) started, in seconds since the
    /// epoch; incremental scans carry it over.
    pub full_scan_at: u64,
    records: Arc<Records>,
    /// Findings by key, for the files that have any.
    found: HashMap<u64, FileFindings>,
}

/// Why a cache file is not used.
enum Rejected {
    /// Another format or rules version: expected after an upgrade.
    Version,
    /// Not a cache, or a damaged one.
    Corrupt(String),
}

impl From<io::Error> for Rejected {
    fn from(e: io::Error) -> Rejected {
        Rejected::Corrupt(e.to_string())
    }
}

fn corrupt<T>(why: &str) -> Result<T, Rejected> {
    Err(Rejected::Corrupt(why.to_string()))
}

impl ScanCache {
    /// An empty cache: every file is read.
    pub(super) fn empty(rules_version: String, full_scan_at: u64) -> ScanCache {
        ScanCache {
            rules_version,
            full_scan_at,
            ..ScanCache::default()
        }
    }

    /// The stamp hash of the entry of `key`, if it has one.
    pub(super) fn stamp(&self, key: u64) -> Option<u64> {
        self.records.get(key).map(|v| v & !TREE)
    }

    /// The findings of the entry of `key`, if it has any.
    pub(super) fn found(&self, key: u64) -> Option<&FileFindings> {
        self.found.get(&key)
    }

    /// The records, shared with the index of the walk that made them.
    pub(super) fn records(&self) -> Arc<Records> {
        Arc::clone(&self.records)
    }

    /// How many files the cache holds.
    pub fn len(&self) -> u64 {
        self.records.count
    }

    /// Whether the cache holds no file.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads a cache file. A cache that is missing, damaged or from another format, rules or
    /// program version is not trusted: `None`, and the next scan reads every file.
    pub fn load(path: &Path, rules_version: &str) -> Option<ScanCache> {
        let file = File::open(path).ok()?;
        match read_cache(file, rules_version) {
            Ok(c) => Some(c),
            Err(Rejected::Version) => {
                log::info!(path:% = path.display(); "scan cache is from another version; rebuilding");
                None
            }
            Err(Rejected::Corrupt(why)) => {
                log::warn!(path:% = path.display(), error:% = why; "scan cache is corrupt; rebuilding");
                None
            }
        }
    }

    /// Writes the cache atomically and durably ([`crate::atomic::write_with`]), mode 0600.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut found: Vec<(&u64, &FileFindings)> = self.found.iter().collect();
        found.sort_unstable_by_key(|(k, _)| **k);
        let found = serde_json::to_vec(&found).map_err(io::Error::other)?;
        let version = self.rules_version.as_bytes();
        crate::atomic::write_with(path, |file| {
            let start = (HEADER + version.len()) as u64;
            let mut at = start;
            let mut sum = FNV_BASIS;
            self.records.for_each_chunk(|chunk| {
                sum = checksum(sum, chunk);
                file.write_all_at(chunk, at)?;
                at += chunk.len() as u64;
                Ok(())
            })?;
            sum = checksum(sum, &found);
            file.write_all_at(&found, at)?;
            let head = header(
                version,
                [self.full_scan_at, self.len(), found.len() as u64, sum],
            );
            file.write_all_at(&head, 0)
        })
    }
}

/// The header of a cache file: magic, format, the version's length, then `fields` (full scan
/// time, record count, findings length, checksum of the body), then the version.
fn header(version: &[u8], fields: [u64; 4]) -> Vec<u8> {
    let mut head = Vec::with_capacity(HEADER + version.len());
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&FORMAT.to_le_bytes());
    head.extend_from_slice(&(version.len() as u32).to_le_bytes());
    for n in fields {
        head.extend_from_slice(&n.to_le_bytes());
    }
    head.extend_from_slice(version);
    head
}

/// A whole cache file around a body of `records` (whole 16-byte records: path key, stamp
/// hash) and `found` (the findings, JSON), laid out and checksummed as [`ScanCache::save`]
/// writes one: for the fuzz target that reads damaged and hostile caches back past the
/// checksum.
#[doc(hidden)]
pub fn frame(rules_version: &str, full_scan_at: u64, records: &[u8], found: &[u8]) -> Vec<u8> {
    let records = &records[..records.len() / RECORD * RECORD];
    let sum = checksum(checksum(FNV_BASIS, records), found);
    let count = (records.len() / RECORD) as u64;
    let mut file = header(
        rules_version.as_bytes(),
        [full_scan_at, count, found.len() as u64, sum],
    );
    file.extend_from_slice(records);
    file.extend_from_slice(found);
    file
}

/// Reads and checks a whole cache file (one sequential pass over the records).
fn read_cache(file: File, rules_version: &str) -> Result<ScanCache, Rejected> {
    let len = file.metadata()?.len();
    let mut head = [0u8; HEADER];
    if file.read_exact_at(&mut head, 0).is_err() || &head[..8] != MAGIC {
        return corrupt("not a scan cache");
    }
    let format = u32::from_le_bytes(head[8..12].try_into().unwrap_or_default());
    let version_len = u32::from_le_bytes(head[12..16].try_into().unwrap_or_default()) as usize;
    if format != FORMAT {
        return Err(Rejected::Version);
    }
    if version_len > MAX_VERSION {
        return corrupt("header too long");
    }
    let mut version = vec![0u8; version_len];
    if file.read_exact_at(&mut version, HEADER as u64).is_err() {
        return corrupt("truncated header");
    }
    if version != rules_version.as_bytes() {
        return Err(Rejected::Version);
    }
    let (full_scan_at, count, found_len, sum) = (
        u64_at(&head, 16),
        u64_at(&head, 24),
        u64_at(&head, 32),
        u64_at(&head, 40),
    );
    let start = (HEADER + version_len) as u64;
    let expected = (count.checked_mul(RECORD as u64))
        .and_then(|r| r.checked_add(start))
        .and_then(|r| r.checked_add(found_len));
    if found_len > MAX_FOUND || expected != Some(len) {
        return corrupt("truncated, padded or oversized");
    }
    let mut records = Records {
        file: Some(file),
        start,
        count,
        ..Records::default()
    };
    let body_sum = check_records(&mut records)?;
    let found = read_found(&records, found_len, body_sum, sum)?;
    Ok(ScanCache {
        rules_version: rules_version.to_string(),
        full_scan_at,
        records: Arc::new(records),
        found,
    })
}

/// Checks that the keys ascend strictly, notes the fence and the files of the trees, and
/// returns the checksum of the records.
fn check_records(records: &mut Records) -> Result<u64, Rejected> {
    let (mut sum, mut last, mut i) = (FNV_BASIS, None, 0u64);
    let (mut fence, mut trees) = (Vec::new(), 0);
    let mut unsorted = false;
    records.for_each_chunk(|chunk| {
        sum = checksum(sum, chunk);
        for rec in chunk.chunks_exact(RECORD) {
            let key = u64_at(rec, 0);
            unsorted |= last.is_some_and(|l| l >= key);
            if i.is_multiple_of(FENCE as u64) {
                fence.push(key);
            }
            trees += u64_at(rec, 8) >> 63;
            last = Some(key);
            i += 1;
        }
        Ok(())
    })?;
    if unsorted {
        return corrupt("records out of order");
    }
    records.fence = fence;
    records.trees = trees;
    Ok(sum)
}

/// Reads the findings after the records, checks the checksum of the whole body and that each
/// file with findings has a record.
fn read_found(
    records: &Records,
    found_len: u64,
    body_sum: u64,
    sum: u64,
) -> Result<HashMap<u64, FileFindings>, Rejected> {
    let mut bytes = vec![0u8; found_len as usize];
    if let Some(file) = &records.file {
        file.read_exact_at(&mut bytes, records.start + records.count * RECORD as u64)?;
    }
    if checksum(body_sum, &bytes) != sum {
        return corrupt("checksum mismatch");
    }
    let found: Vec<(u64, FileFindings)> =
        serde_json::from_slice(&bytes).map_err(|e| Rejected::Corrupt(e.to_string()))?;
    if found.iter().any(|(k, _)| records.get(*k).is_none()) {
        return corrupt("findings of a file without an entry");
    }
    if (found.iter()).any(|(_, f)| f.key_ids.as_ref().is_some_and(|k| !k.is_valid())) {
        return corrupt("damaged key ids");
    }
    Ok(found.into_iter().collect())
}

/// The agent's scan cache file, read only when a walk needs it.
#[derive(Debug, Clone)]
pub struct CacheFile {
    /// The file.
    pub path: PathBuf,
    /// A cache whose last full scan started at or before this time (seconds since the epoch)
    /// is too old: the walk reads every file (`agent.full_rescan_interval`).
    pub rescan_before: u64,
}

impl CacheFile {
    /// The cache, when it is there, of `rules_version` and recent enough.
    pub fn load(&self, rules_version: &str) -> Option<ScanCache> {
        ScanCache::load(&self.path, rules_version).filter(|c| c.full_scan_at > self.rescan_before)
    }

    /// Where a walk writes its new cache before it is saved: the cache's own directory (the
    /// agent's state directory, on disk; `/tmp` may be memory).
    pub fn dir(&self) -> Option<&Path> {
        self.path.parent()
    }
}

/// The new cache of a walk, built as the workers hand over their records: sorted runs of
/// [`RUN`] records in an unlinked temporary file, merged when the walk ends.
#[derive(Debug)]
pub(super) struct CacheBuilder {
    dir: Option<PathBuf>,
    buf: Vec<[u64; 2]>,
    spill: Option<File>,
    /// Runs in `spill`: (first byte, records).
    runs: Vec<(u64, u64)>,
    error: Option<io::Error>,
}

impl CacheBuilder {
    /// A builder whose temporary file goes to `dir` (else the system's temporary directory).
    pub(super) fn new(dir: Option<&Path>) -> CacheBuilder {
        CacheBuilder {
            dir: dir.map(Path::to_path_buf),
            buf: Vec::new(),
            spill: None,
            runs: Vec::new(),
            error: None,
        }
    }

    /// Takes records (path key, value) from a worker.
    pub(super) fn add(&mut self, records: &mut Vec<[u64; 2]>) {
        if self.buf.len() + records.len() > RUN {
            if let Err(e) = self.write_run() {
                self.error.get_or_insert(e);
            }
        }
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(RUN);
        }
        self.buf.append(records);
    }

    fn temp_file(&mut self) -> io::Result<&File> {
        if self.spill.is_none() {
            let file = match self.dir.as_deref().filter(|d| !d.as_os_str().is_empty()) {
                Some(dir) => tempfile::tempfile_in(dir).or_else(|_| tempfile::tempfile()),
                None => tempfile::tempfile(),
            }?;
            self.spill = Some(file);
        }
        self.spill
            .as_ref()
            .ok_or_else(|| io::Error::other("no temporary file"))
    }

    /// Sorts the records in memory and appends them to the temporary file as one run.
    fn write_run(&mut self) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.sort_unstable_by_key(|r| r[0]);
        let at = self.runs.last().map_or(0, |(at, n)| at + n * RECORD as u64);
        let mut out = SortedWriter::new(self.temp_file()?, at);
        buf.iter().try_for_each(|&r| out.push(r))?;
        out.flush()?;
        let count = out.count;
        self.runs.push((at, count));
        buf.clear();
        self.buf = buf;
        Ok(())
    }

    /// The cache of the walk, with the findings of the files that have any (all of which
    /// have records). An I/O error of the temporary file fails it.
    pub(super) fn finish(
        mut self,
        rules_version: String,
        full_scan_at: u64,
        found: HashMap<u64, FileFindings>,
    ) -> io::Result<ScanCache> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let records = if self.runs.is_empty() {
            self.buf.sort_unstable_by_key(|r| r[0]);
            let file = self.temp_file()?.try_clone()?;
            let mut out = SortedWriter::new(&file, 0);
            self.buf.iter().try_for_each(|&r| out.push(r))?;
            out.finish(file.try_clone()?)?
        } else {
            self.write_run()?;
            self.merge_runs()?
        };
        Ok(ScanCache {
            rules_version,
            full_scan_at,
            records: Arc::new(records),
            found,
        })
    }

    /// Merges the runs into one sorted sequence after them in the temporary file.
    fn merge_runs(&mut self) -> io::Result<Records> {
        let file = self.temp_file()?.try_clone()?;
        let end = self.runs.last().map_or(0, |(at, n)| at + n * RECORD as u64);
        let mut runs: Vec<RunReader<'_>> = (self.runs.iter())
            .map(|&(at, n)| RunReader::new(&file, at, n))
            .collect();
        let mut heap = BinaryHeap::with_capacity(runs.len());
        for (i, run) in runs.iter_mut().enumerate() {
            if let Some([k, v]) = run.next()? {
                heap.push(Reverse((k, v, i)));
            }
        }
        let mut out = SortedWriter::new(&file, end);
        while let Some(Reverse((k, v, i))) = heap.pop() {
            out.push([k, v])?;
            if let Some([k, v]) = runs[i].next()? {
                heap.push(Reverse((k, v, i)));
            }
        }
        out.finish(file.try_clone()?)
    }
}

/// Reads one sorted run back, [`MERGE_BUF`] bytes at a time.
struct RunReader<'f> {
    file: &'f File,
    next_at: u64,
    end: u64,
    buf: Vec<u8>,
    pos: usize,
}

/// Buffer of each run while merging: 8 KiB × runs (46 runs at 3 million files).
const MERGE_BUF: usize = 8 << 10;

impl<'f> RunReader<'f> {
    fn new(file: &'f File, at: u64, records: u64) -> Self {
        RunReader {
            file,
            next_at: at,
            end: at + records * RECORD as u64,
            buf: Vec::new(),
            pos: 0,
        }
    }

    fn next(&mut self) -> io::Result<Option<[u64; 2]>> {
        if self.pos == self.buf.len() {
            let n = (self.end - self.next_at).min(MERGE_BUF as u64) as usize;
            if n == 0 {
                return Ok(None);
            }
            self.buf.resize(n, 0);
            self.file.read_exact_at(&mut self.buf, self.next_at)?;
            self.next_at += n as u64;
            self.pos = 0;
        }
        let r = [u64_at(&self.buf, self.pos), u64_at(&self.buf, self.pos + 8)];
        self.pos += RECORD;
        Ok(Some(r))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::scan::scanner::tests::scanner;
    use crate::scan::Plan;

    /// Both ways of stamping a file agree, on a file and through a symlink to it.
    #[test]
    fn a_stat_and_metadata_give_one_stamp() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, "x").unwrap();
        std::os::unix::fs::symlink(&f, d.path().join("l")).unwrap();
        let want = stamp_of(&std::fs::metadata(&f).unwrap());
        for p in [&f, &d.path().join("l")] {
            assert_eq!(stamp_of_stat(&rustix::fs::stat(p).unwrap()), want);
        }
    }

    #[test]
    fn cache_skips_unchanged_files_and_sees_changed_ones() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..20 {
            std::fs::write(dir.path().join(format!("f{i}")), "nothing\n").unwrap();
        }
        std::fs::write(dir.path().join("k"), "id = AKIASXQV3SVWMFRRRM75\n").unwrap();
        let s = scanner();
        let plan = Plan::from_paths(&[dir.path().to_path_buf()]);
        let cancel = AtomicBool::new(false);
        let (first, cache) = s.run(&plan, &cancel, None);
        assert_eq!((first.stats.files, first.stats.cached), (21, 0));
        assert_eq!(first.findings.len(), 1);

        let path = dir.path().join("cache.json");
        cache.save(&path).unwrap();
        let cache = ScanCache::load(&path, &s.rules_version()).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(
            dir.path().join("f3"),
            "aws_secret_access_key = V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw\n",
        )
        .unwrap();
        let (second, _) = s.run(&plan, &cancel, Some(&cache));
        assert_eq!(second.stats.cached, 20, "only the changed file is read");
        assert_eq!(
            second.findings.len(),
            2,
            "the cached finding and the new one"
        );
        assert_eq!(second.findings, {
            let (full, _) = s.run(&plan, &cancel, None);
            full.findings
        });
    }

    #[test]
    fn cache_from_another_version_or_corrupt_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let c = ScanCache {
            rules_version: "other".into(),
            ..ScanCache::default()
        };
        c.save(&path).unwrap();
        assert!(ScanCache::load(&path, &scanner().rules_version()).is_none());
        std::fs::write(&path, b"{not json").unwrap();
        assert!(ScanCache::load(&path, &scanner().rules_version()).is_none());
        assert!(ScanCache::load(&dir.path().join("missing"), "x").is_none());
    }

    /// A cache of `n` records (every third a file of the trees) and a few findings.
    fn built(n: u64, dir: &Path) -> ScanCache {
        let mut b = CacheBuilder::new(Some(dir));
        let mut found = HashMap::new();
        for chunk in (0..n).collect::<Vec<_>>().chunks(5000) {
            let mut recs: Vec<[u64; 2]> = (chunk.iter())
                .map(|&i| {
                    [
                        fnv(FNV_BASIS, &i.to_le_bytes()),
                        i | ((i % 3 == 0) as u64) << 63,
                    ]
                })
                .collect();
            b.add(&mut recs);
        }
        for i in (0..n).step_by(997) {
            let f = FileFindings {
                suppressed: i + 1,
                ..FileFindings::default()
            };
            found.insert(fnv(FNV_BASIS, &i.to_le_bytes()), f);
        }
        b.finish("v1".into(), 7, found).unwrap()
    }

    #[test]
    fn built_caches_find_every_record_and_survive_a_save() {
        let dir = tempfile::tempdir().unwrap();
        for n in [0, 1, 63, 64, 65, 1000, (RUN as u64) * 2 + 17] {
            let c = built(n, dir.path());
            assert_eq!(c.len(), n);
            assert_eq!(c.records.trees(), n.div_ceil(3));
            let path = dir.path().join("cache");
            c.save(&path).unwrap();
            let back = ScanCache::load(&path, "v1").unwrap();
            assert_eq!(
                (back.len(), back.full_scan_at, back.found.len()),
                (n, 7, c.found.len())
            );
            for i in (0..n).step_by(7).chain(n.checked_sub(1)) {
                let key = fnv(FNV_BASIS, &i.to_le_bytes());
                assert_eq!(back.stamp(key), Some(i), "record {i} of {n}");
                assert_eq!(back.records.is_tree_file(key), i % 3 == 0);
            }
            assert_eq!(back.stamp(fnv(FNV_BASIS, b"absent")), None);
            assert_eq!(back.records.trees(), n.div_ceil(3));
        }
    }

    #[test]
    fn truncated_garbage_or_foreign_caches_are_rebuilt_never_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache");
        built(300, dir.path()).save(&path).unwrap();
        let good = std::fs::read(&path).unwrap();
        assert!(ScanCache::load(&path, "v1").is_some());
        assert!(ScanCache::load(&path, "v2").is_none(), "another version");
        let bad = dir.path().join("bad");
        for cut in 0..good.len() {
            std::fs::write(&bad, &good[..cut]).unwrap();
            assert!(ScanCache::load(&bad, "v1").is_none(), "truncated at {cut}");
        }
        let mut padded = good.clone();
        padded.push(0);
        std::fs::write(&bad, &padded).unwrap();
        assert!(ScanCache::load(&bad, "v1").is_none(), "padded");
        let mut rng = fastrand::Rng::with_seed(15);
        for round in 0..2000 {
            let mut g = good.clone();
            match round % 3 {
                0 => {
                    let at = rng.usize(..g.len());
                    g[at] ^= 1 << rng.u8(..8);
                }
                1 => rng.fill(&mut g[HEADER..]),
                _ => g = (0..rng.usize(..4096)).map(|_| rng.u8(..)).collect(),
            }
            std::fs::write(&bad, &g).unwrap();
            // A flipped bit may land in a place no check sees (the top of `full_scan_at`):
            // what matters is no panic, and no damaged record or finding read back.
            if let Some(c) = ScanCache::load(&bad, "v1") {
                assert_eq!(c.len(), 300, "round {round}");
                assert_eq!(c.found, built(300, dir.path()).found, "round {round}");
            }
        }
        // Other formats (1: before compact key ids), and the JSON caches of earlier versions.
        for format in [1, FORMAT + 1] {
            let mut other = good.clone();
            other[8..12].copy_from_slice(&format.to_le_bytes());
            std::fs::write(&bad, &other).unwrap();
            assert!(ScanCache::load(&bad, "v1").is_none(), "format {format}");
        }
        std::fs::write(&bad, br#"{"rules_version":"v1","entries":{}}"#).unwrap();
        assert!(ScanCache::load(&bad, "v1").is_none());
    }

    #[test]
    fn names_that_differ_only_in_invalid_bytes_have_different_keys() {
        use std::ffi::OsStr;
        let a = Path::new(OsStr::from_bytes(b"/srv/caf\xe9"));
        let b = Path::new(OsStr::from_bytes(b"/srv/caf\xff"));
        assert_eq!(a.to_string_lossy(), b.to_string_lossy());
        assert_ne!(key_of(a), key_of(b));
        assert_eq!(key_of(Path::new("/srv/café")), path_key("/srv/café"));
    }
}
