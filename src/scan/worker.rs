//! The per-thread worker: one reusable read buffer, its findings and counters, merged into the
//! shared [`Merged`] result when it is dropped (ripgrep's and noseyparker's per-thread state).

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use inotify::WatchDescriptor;

use super::cache::{key_of, stamp_hash, stamp_of, stamp_of_stat, CacheBuilder, ScanCache, TREE};
use super::decompress::{self, Stop};
use super::dirs::DirTableBuilder;
use super::emit::{self, group_credentials, Ctx};
use super::index::{FileFindings, FileState};
use super::keyids::{KeyIds, KeyIdsBuilder};
use super::matcher::RawMatch;
use super::open::Opener;
use super::outcome::Stats;
use super::plan::Haystack;
use super::reader::{self, ChunkReader, Place, ReadEnd, Sniff};
use super::scanner::Scanner;
use super::unreadable::Unreadable;
use crate::finding::{Finding, Kind, Source};

/// Records a worker collects before it hands them to the [`CacheBuilder`] (64 KiB).
const LOCAL_RECORDS: usize = 4096;

/// What the workers of one scan found together.
#[derive(Default)]
pub(super) struct Merged {
    pub(super) findings: Vec<Finding>,
    /// The key id findings of sources with many, compactly (one set per source).
    pub(super) key_ids: Vec<Arc<KeyIds>>,
    pub(super) stats: Stats,
    /// The new scan cache: a record of each file read (or taken from the prior cache).
    pub(super) records: Option<CacheBuilder>,
    /// Findings of each file that has any, by path key.
    pub(super) found: HashMap<u64, FileFindings>,
    pub(super) unreadable: Vec<Unreadable>,
    /// While indexing: the files skipped or not read, by path key.
    pub(super) unread: Vec<(u64, FileState)>,
    /// While indexing: the directory watches added, and their paths.
    pub(super) dirs: DirTableBuilder,
    /// Entries the walk could not read.
    pub(super) walk_errors: u64,
    /// While indexing: files that could not be read.
    pub(super) failed: Vec<PathBuf>,
    /// While indexing: files with other names (hard links), and their stamps.
    pub(super) links: Vec<(PathBuf, [i64; 5])>,
}

/// Per-thread state: buffer, match scratch, counters; merged into the shared result on drop.
pub(super) struct Worker<'a> {
    scanner: &'a Scanner,
    shared: &'a Mutex<Merged>,
    prior: Option<&'a ScanCache>,
    reader: ChunkReader,
    opener: Opener,
    findings: Vec<Finding>,
    /// The key id findings of the source being read.
    building: KeyIdsBuilder,
    key_ids: Vec<Arc<KeyIds>>,
    stats: Stats,
    /// Records for the new scan cache, when the scan builds one.
    records: Option<Vec<[u64; 2]>>,
    found: HashMap<u64, FileFindings>,
    rate: u64,
    rate_window: (Instant, u64),
    /// Whether the files are of the trees of an indexing walk.
    indexing: bool,
    /// While indexing: the files skipped or not read.
    unread: Vec<(u64, FileState)>,
    walk_errors: u64,
    /// While indexing: files that could not be read, and files with other names (hard links).
    failed: Vec<PathBuf>,
    links: Vec<(PathBuf, [i64; 5])>,
}

impl<'a> Worker<'a> {
    /// A worker that takes unchanged files from `prior` and reads at most `rate` bytes per
    /// second (0 = unlimited).
    pub(super) fn new(
        scanner: &'a Scanner,
        shared: &'a Mutex<Merged>,
        prior: Option<&'a ScanCache>,
        rate: u64,
    ) -> Self {
        let keeps = (shared.lock().unwrap_or_else(|e| e.into_inner()))
            .records
            .is_some();
        Worker {
            scanner,
            shared,
            prior,
            reader: ChunkReader::default(),
            opener: Opener::default(),
            findings: Vec::new(),
            building: KeyIdsBuilder::default(),
            key_ids: Vec::new(),
            stats: Stats::default(),
            records: keeps.then(Vec::new),
            found: HashMap::new(),
            rate,
            rate_window: (Instant::now(), 0),
            indexing: false,
            unread: Vec::new(),
            walk_errors: 0,
            failed: Vec::new(),
            links: Vec::new(),
        }
    }

    /// Records what becomes of each file, for a [`TreeIndex`](super::index::TreeIndex).
    pub(super) fn index_files(&mut self) {
        self.indexing = true;
    }

    /// Notes a directory watch added by the walk, straight in the shared table: a directory's
    /// parent is noted before the walk reads the parent, so it is in the table first.
    pub(super) fn note_watched(&self, wd: WatchDescriptor, dir: &Path) {
        let mut m = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        m.dirs.add(wd, dir);
    }

    /// Counts an entry the walk could not read.
    pub(super) fn walk_error(&mut self, e: &ignore::Error) {
        log::debug!(error:% = e; "walk error");
        self.stats.errors += 1;
        self.walk_errors += 1;
        self.note_unreadable(Unreadable::from_walk(e));
    }

    /// Skips a file of the trees that is not a regular file (FIFO, socket, device node).
    pub(super) fn skip_special(&mut self, path: &Path) {
        log::debug!(path:% = path.display(); "skipped: not a regular file");
        self.count_skipped(1);
        self.record(path, FileState::Skipped);
    }

    /// Counts sources skipped on purpose.
    pub(super) fn count_skipped(&mut self, n: u64) {
        self.stats.skipped += n;
    }

    /// Notes a changed path that could not be looked at, for the update to try it again.
    pub(super) fn stat_failed(&mut self, path: &Path, e: &io::Error) -> FileState {
        self.note_unreadable(Unreadable::from_io(&path.to_string_lossy(), e));
        self.failed.push(path.to_path_buf());
        FileState::Failed
    }

    /// Notes what became of a file of the trees, while indexing.
    /// (A file read has a record in the new cache instead, see [`Worker::keep`].)
    fn record(&mut self, path: &Path, state: FileState) {
        if self.indexing && state != FileState::Read {
            self.unread.push((key_of(path), state));
            if state == FileState::Failed {
                self.failed.push(path.to_path_buf());
            }
        }
    }

    /// Keeps what a file read (or taken from the cache) holds: its record for the new cache,
    /// and its findings if it has any. A scan that neither builds a cache nor indexes (`scan
    /// PATH…`) keeps no second copy of the findings.
    fn keep(&mut self, key: u64, stamp: u64, found: Option<FileFindings>) {
        if self.indexing || self.records.is_some() {
            self.keep_found(key, found);
        }
        let Some(records) = self.records.as_mut() else {
            return;
        };
        records.push([key, stamp | if self.indexing { TREE } else { 0 }]);
        if records.len() >= LOCAL_RECORDS {
            self.hand_over_records();
        }
    }

    /// Keeps the findings of file `key`, if it has any.
    fn keep_found(&mut self, key: u64, found: Option<FileFindings>) {
        if let Some(f) = found.filter(|f| !f.is_empty()) {
            self.found.insert(key, f);
        }
    }

    /// Hands the records collected so far to the [`CacheBuilder`].
    fn hand_over_records(&mut self) {
        let Some(records) = self.records.as_mut().filter(|r| !r.is_empty()) else {
            return;
        };
        let mut m = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = m.records.as_mut() {
            b.add(records);
        }
        records.clear();
    }

    /// Notes a file that has other names, while indexing: a write through one of those sends
    /// no event to this name's directory, so updates compare its stamp instead.
    fn note_link(&mut self, path: &Path, nlink: u64, stamp: [i64; 5]) {
        if self.indexing && nlink > 1 {
            self.links.push((path.to_path_buf(), stamp));
        }
    }

    /// Scans one file (unless the stat cache holds it unchanged) and says what became of it.
    pub(super) fn scan_path(&mut self, path: &Path, source: Source) -> FileState {
        let state = self.scan_file(path, source);
        self.record(path, state);
        state
    }

    fn scan_file(&mut self, path: &Path, source: Source) -> FileState {
        let key = key_of(path);
        if let Some(state) = self.take_cached(path, key) {
            return state;
        }
        let display = path.to_string_lossy().into_owned();
        let (mut file, meta) = match self.open(path, &display) {
            Ok(opened) => opened,
            Err(state) => return state,
        };
        if let Some(state) = self.skip(&display, &meta) {
            return state;
        }
        self.stats.files += 1;
        let first = self.findings.len();
        let suppressed_before = self.stats.suppressed;
        let ctx = Ctx {
            source,
            path: &display,
            process: None,
        };
        if let Err(e) = self.read_file(&mut file, &ctx, meta.len()) {
            self.end_source(first, false);
            return self.failed(&display, "read error", &e);
        }
        let key_ids = self.end_source(first, true);
        // The copy for the cache and the index only where one is made (a compact set of key
        // ids is shared, not copied).
        let found = (self.indexing || self.records.is_some()).then(|| FileFindings {
            findings: self.findings[first..].to_vec(),
            suppressed: self.stats.suppressed - suppressed_before,
            key_ids,
        });
        self.keep(key, stamp_hash(&stamp_of(&meta)), found);
        FileState::Read
    }

    /// Takes a file from the stat cache when its entry's stamp still matches: one lookup, one
    /// stat (by name in its directory) and no open.
    fn take_cached(&mut self, path: &Path, key: u64) -> Option<FileState> {
        let prior = self.prior?;
        let stamp = prior.stamp(key)?;
        let st = self.opener.stat(path).ok()?;
        let now = stamp_of_stat(&st);
        let regular = rustix::fs::FileType::from_raw_mode(st.st_mode).is_file();
        if !regular || stamp != stamp_hash(&now) {
            return None;
        }
        self.stats.files += 1;
        self.stats.cached += 1;
        let found = prior.found(key);
        if let Some(f) = found {
            self.stats.suppressed += f.suppressed;
            self.findings.extend(f.findings.iter().cloned());
            self.key_ids.extend(f.key_ids.iter().cloned());
        }
        self.keep(key, stamp, found.cloned());
        #[allow(clippy::unnecessary_cast)] // u32 on some architectures
        self.note_link(path, st.st_nlink as u64, now);
        Some(FileState::Read)
    }

    /// Opens a file without blocking on a FIFO or taking a terminal, and fstats it.
    fn open(&mut self, path: &Path, display: &str) -> Result<(File, Metadata), FileState> {
        let file = (self.opener.open(path)).map_err(|e| self.failed(display, "cannot open", &e))?;
        let meta = file
            .metadata()
            .map_err(|e| self.failed(display, "cannot stat", &e))?;
        self.note_link(path, meta.nlink(), stamp_of(&meta));
        Ok((file, meta))
    }

    /// Skips what is not a regular file or is larger than `max_file_size`.
    fn skip(&mut self, display: &str, meta: &Metadata) -> Option<FileState> {
        if !meta.is_file() {
            self.stats.skipped += 1;
            return Some(FileState::Skipped);
        }
        if meta.len() > self.scanner.opts.max_file_size {
            log::debug!(path:% = display, size = meta.len(); "skipped: larger than max_file_size");
            self.stats.skipped += 1;
            return Some(FileState::Skipped);
        }
        None
    }

    /// Counts a file that could not be read.
    fn failed(&mut self, display: &str, what: &str, e: &io::Error) -> FileState {
        log::debug!(path:% = display, error:% = e; "{what}");
        self.stats.errors += 1;
        self.note_unreadable(Unreadable::from_io(display, e));
        FileState::Failed
    }

    /// One open, one fstat and (for a small file) one read: a UTF-16 BOM and the magic bytes
    /// of a compressed stream are sniffed in the first chunk, and the file is read again
    /// through decoders only if it has them (see [`decompress`]). The findings of decoded
    /// text name its layers in `encoding`; a stream cut short by a cap or damage still has
    /// its decoded part scanned, and is counted and listed as unreadable.
    fn read_file(&mut self, file: &mut File, ctx: &Ctx<'_>, len: u64) -> io::Result<()> {
        let limits = self.scanner.opts.decompress;
        let sniff = Sniff {
            bom: true,
            compressed: limits.is_some(),
        };
        let first = self.findings.len();
        let bounds = (self.scanner.opts.max_file_size, Some(len));
        let end = self.read_with(&mut *file, ctx, bounds, sniff)?;
        if end == ReadEnd::Scanned {
            return Ok(());
        }
        let mut taken = self.reader.take_head();
        let (head, whole) = taken.split();
        let head = decompress::Head {
            bytes: head,
            whole: len > 0 && head.len() as u64 >= len,
        };
        let decoded = decompress::read_through(&mut *file, end, head, limits, whole, |r, sniff| {
            self.read_with(r, ctx, (u64::MAX, None), sniff)
        });
        self.reader.give_back(taken);
        let decoded = decoded?;
        if !decoded.layers.is_empty() {
            // Outermost first: a base64 blob in a gzip file is `["gzip", "base64"]`.
            for f in &mut self.findings[first..] {
                f.encoding.splice(0..0, decoded.layers.iter().copied());
            }
            self.building.set_encoding(&decoded.layers);
        }
        if let Some(stop) = decoded.stop {
            let reason = stop.reason();
            log::debug!(path:% = ctx.path, reason:% = reason; "decoding stopped early");
            match stop {
                Stop::Bomb { .. } => self.stats.skipped += 1,
                Stop::Damaged { .. } => self.stats.errors += 1,
            }
            self.note_unreadable(Some(Unreadable::new(ctx.path, reason)));
        }
        Ok(())
    }

    /// Records a source that could not be read (errors are rare: straight to the shared list).
    fn note_unreadable(&self, source: Option<Unreadable>) {
        if let Some(u) = source {
            let mut m = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            m.unreadable.push(u);
        }
    }

    /// Scans an in-memory haystack.
    pub(super) fn scan_memory(&mut self, h: &Haystack) {
        self.stats.files += 1;
        let first = self.findings.len();
        let ctx = Ctx {
            source: h.source,
            path: &h.path,
            process: h.process.as_ref(),
        };
        let bytes: &[u8] = &h.bytes;
        if let Err(e) = self.read(bytes, &ctx, None) {
            log::debug!(path:% = h.path, error:% = e; "read error");
            self.stats.errors += 1;
        }
        self.end_source(first, true);
    }

    /// Ends the source whose findings start at `first`: its key id findings join the others
    /// (in full, or as one compact set), and with `group` the parts of each credential are
    /// grouped ([`group_credentials`]; a source that failed half-way is not). Returns the
    /// compact set, if the source has one.
    fn end_source(&mut self, first: usize, group: bool) -> Option<Arc<KeyIds>> {
        let (full, held) = self.building.take();
        self.findings.extend(full);
        if group {
            group_credentials(&mut self.findings[first..], held.as_deref());
        }
        self.key_ids.extend(held.iter().cloned());
        held
    }

    /// Reads `r` through this thread's [`ChunkReader`] (see [`ChunkReader::read`]), at most
    /// `max_file_size` bytes, sniffing nothing.
    fn read<R: Read>(&mut self, r: R, ctx: &Ctx<'_>, file_len: Option<u64>) -> io::Result<ReadEnd> {
        let bounds = (self.scanner.opts.max_file_size, file_len);
        self.read_with(r, ctx, bounds, Sniff::default())
    }

    /// Reads `r` through this thread's [`ChunkReader`] (see [`ChunkReader::read`]): at most
    /// `bounds.0` bytes, up to the file size `bounds.1`, sniffing for what `sniff` says.
    fn read_with<R: Read>(
        &mut self,
        r: R,
        ctx: &Ctx<'_>,
        bounds: (u64, Option<u64>),
        sniff: Sniff,
    ) -> io::Result<ReadEnd> {
        let scanner = self.scanner;
        let mut chunks = std::mem::take(&mut self.reader);
        let mut sink = WorkerSink { worker: self, ctx };
        let end = chunks.read(r, &scanner.matcher, bounds, sniff, &mut sink);
        self.reader = chunks;
        end
    }

    /// Sleeps as needed to keep this thread under its share of `read_rate_limit`.
    fn throttle(&mut self, n: u64) {
        if self.rate == 0 {
            return;
        }
        self.rate_window.1 += n;
        let due = Duration::from_secs_f64(self.rate_window.1 as f64 / self.rate as f64);
        let spent = self.rate_window.0.elapsed();
        if due > spent {
            std::thread::sleep(due - spent);
        }
        if spent > Duration::from_secs(10) {
            self.rate_window = (Instant::now(), 0);
        }
    }
}

/// A worker receiving what the reader reads and finds in one source.
struct WorkerSink<'w, 'a, 'c> {
    worker: &'w mut Worker<'a>,
    ctx: &'c Ctx<'c>,
}

impl reader::Sink for WorkerSink<'_, '_, '_> {
    fn read(&mut self, n: u64) {
        self.worker.stats.bytes += n;
        self.worker.throttle(n);
    }

    fn unread(&mut self, n: u64) {
        self.worker.stats.bytes -= n;
    }

    fn found(&mut self, m: &RawMatch, at: Place) {
        let w = &mut *self.worker;
        match emit::finding(w.scanner, m, self.ctx, at) {
            Some(f) if f.kind == Kind::AccessKeyId => {
                // Held compactly only where the key id is exactly the value matched.
                let exact = std::str::from_utf8(m.value.expose()).is_ok();
                w.building.push(f, exact);
            }
            Some(f) => w.findings.push(f),
            None => w.stats.suppressed += 1,
        }
    }
}

impl Drop for Worker<'_> {
    fn drop(&mut self) {
        self.hand_over_records();
        let mut m = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        m.findings.append(&mut self.findings);
        m.key_ids.append(&mut self.key_ids);
        m.stats.add(&self.stats);
        m.found.extend(self.found.drain());
        m.unread.append(&mut self.unread);
        m.walk_errors += self.walk_errors;
        m.failed.append(&mut self.failed);
        m.links.append(&mut self.links);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use crate::scan::scanner::tests::scanner;
    use crate::scan::Plan;

    use super::*;

    #[test]
    fn read_rate_limit_slows_reading_down() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big"), vec![b'x'; 1 << 20]).unwrap();
        let mut s = scanner();
        s.opts.read_rate_limit = 512 << 10;
        let plan = Plan::from_paths(&[dir.path().to_path_buf()]);
        let started = Instant::now();
        let (out, _) = s.run(&plan, &AtomicBool::new(false), None);
        assert_eq!(out.stats.bytes, 1 << 20);
        // 1 MiB at 512 KiB/s: about 2 s (a lower bound: the limiter may only slow down).
        assert!(
            started.elapsed() >= Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
    }
}
