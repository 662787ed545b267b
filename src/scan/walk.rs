//! The full walk: env files, the trees (listed by one thread with `ignore`, read by one
//! [`Worker`] per thread), process environments and in-memory haystacks. An indexing walk also adds an
//! inotify watch on every directory before the walker reads it, and returns a [`TreeIndex`]
//! for later updates (`update.rs`) that looks its files up in the walk's new scan cache.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ignore::{DirEntry, WalkBuilder};
use inotify::{WatchDescriptor, Watches};

use super::cache::{CacheBuilder, ScanCache};
use super::index::{self, FileFindings, TreeIndex};
use super::outcome::{self, ScanOutcome};
use super::plan::{Plan, WatchSet};
use super::scanner::{env_set, excluded, source_of, Scanner};
use super::worker::{Merged, Worker};

impl Scanner {
    /// The full walk: env files, the trees (each file read unless `prior` holds it unchanged),
    /// process environments and in-memory haystacks. With `watch`, every directory gets an
    /// inotify watch before it is read, and the trees are indexed for
    /// [`Reuse::Update`](super::Reuse::Update). The new cache (with `build_cache` or `watch`)
    /// is built in a temporary file in `cache_dir` (else the system's temporary directory).
    pub(super) fn walk(
        &self,
        plan: &Plan,
        cancel: &AtomicBool,
        prior: Option<&ScanCache>,
        cache_dir: Option<&Path>,
        watch: Option<WatchSet>,
    ) -> (ScanOutcome, ScanCache, Option<TreeIndex>) {
        let started = Instant::now();
        let version = self.rules_version();
        let prior = prior.filter(|c| c.rules_version == version);
        let building = self.opts.build_cache || watch.is_some();
        let shared = Mutex::new(Merged {
            records: building.then(|| CacheBuilder::new(cache_dir)),
            ..Merged::default()
        });
        let watching = watch.map(|w| Watching::new(w, plan, self.opts.same_file_system));

        self.scan_env_files(plan, cancel, &shared, prior);
        if !plan.trees.is_empty() && !cancel.load(Ordering::Relaxed) {
            self.walk_trees(plan, cancel, &shared, prior, watching.as_ref());
        }
        self.scan_volatile(plan, cancel, &shared);

        let mut merged = shared.into_inner().unwrap_or_else(|e| e.into_inner());
        let full_scan_at = prior.map_or_else(|| epoch_secs(started), |p| p.full_scan_at);
        let cancelled = cancel.load(Ordering::Relaxed);
        let cache = match merged.records.take() {
            Some(b) if !cancelled => new_cache(b, &merged, version.clone(), full_scan_at),
            _ => None,
        };
        let index = match (watching, &cache) {
            (Some(watching), Some(cache)) => watching.index(plan, &mut merged, cache, full_scan_at),
            _ => None,
        };
        let outcome = outcome::finish(plan, merged, started, cancelled);
        let cache = cache.unwrap_or_else(|| ScanCache::empty(version, full_scan_at));
        (outcome, cache, index)
    }

    /// Walks the trees: this thread lists the directories (one entry at a time, so a
    /// directory of a million entries costs no more memory than one of ten) and hands each
    /// file through a bounded queue to [`Scanner::threads`] workers that read it.
    ///
    /// `ignore`'s parallel walker is not used: it turns every entry of a directory into a
    /// queued work item before visiting any (about 300 bytes each, 300 MiB at a million
    /// entries in one directory: over the unit's `MemoryMax=`). Memory here is the queue
    /// ([`QUEUE_PER_THREAD`] batches of [`BATCH`] paths a worker) plus the walker's open
    /// directories. Paths go in batches: one handoff a file cost a futex wake and a context
    /// switch each (measured: 60 % more system time than the parallel walker over 86,000
    /// files; with batches, about the same).
    fn walk_trees(
        &self,
        plan: &Plan,
        cancel: &AtomicBool,
        shared: &Mutex<Merged>,
        prior: Option<&ScanCache>,
        watching: Option<&Watching>,
    ) {
        let env_set = env_set(plan);
        let threads = self.threads();
        let (tx, rx) = mpsc::sync_channel::<Vec<PathBuf>>(QUEUE_PER_THREAD * threads);
        let rx = Mutex::new(rx);
        let new_worker = || {
            let mut worker = Worker::new(self, shared, prior, self.rate_per_thread());
            if watching.is_some() {
                worker.index_files();
            }
            worker
        };
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    let mut worker = new_worker();
                    // Until the walker hangs up; after a cancel the queue is drained unread,
                    // so that the walker never waits on a full queue.
                    loop {
                        // Its own statement: the guard of a `while let` scrutinee would be
                        // held through the body, and the workers would read one at a time.
                        let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok(batch) = next else { break };
                        for path in batch {
                            if !cancel.load(Ordering::Relaxed) {
                                worker.scan_path(&path, source_of(&path));
                            }
                        }
                    }
                });
            }
            let mut walker = Walker {
                worker: new_worker(),
                env_set: &env_set,
                watch: watching.map(|w| (w, w.set.watches.clone())),
                queue: tx,
                batch: Vec::with_capacity(BATCH),
            };
            for entry in self.walk_builder(&plan.trees).build() {
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                match entry {
                    Ok(entry) => walker.visit_entry(entry),
                    Err(e) => walker.worker.walk_error(&e),
                }
            }
            walker.flush();
            // Dropping the walker closes the queue: the workers finish what it holds.
        });
    }

    /// The walker over `trees` (not empty): no ignore files, the exclude globs as a filter.
    fn walk_builder(&self, trees: &[PathBuf]) -> WalkBuilder {
        let mut builder = WalkBuilder::new(&trees[0]);
        for t in &trees[1..] {
            builder.add(t);
        }
        builder
            .standard_filters(false)
            .follow_links(self.opts.follow_symlinks)
            .same_file_system(self.opts.same_file_system);
        if let Some(gi) = self.excludes.clone() {
            builder.filter_entry(move |e| {
                !excluded(&gi, e.path(), e.file_type().is_some_and(|t| t.is_dir()))
            });
        }
        builder
    }
}

/// Batches queued per reading thread: enough that a worker never waits while the walker lists
/// a directory, few enough that the queue stays a few hundred KiB.
const QUEUE_PER_THREAD: usize = 16;
/// Paths handed over at once.
const BATCH: usize = 64;

/// The walking thread: it watches directories (while indexing), counts what it cannot list
/// or read, and queues the files for the workers.
struct Walker<'s> {
    worker: Worker<'s>,
    env_set: &'s HashSet<&'s Path>,
    watch: Option<(&'s Watching, Watches)>,
    queue: mpsc::SyncSender<Vec<PathBuf>>,
    /// The files listed since the last handoff.
    batch: Vec<PathBuf>,
}

impl Walker<'_> {
    fn visit_entry(&mut self, entry: DirEntry) {
        let Some(ft) = entry.file_type() else {
            return;
        };
        if ft.is_dir() {
            // The walker has opened the directory but reads it only when asked for the next
            // entry: a change from here on is reported by the new watch.
            self.watch_dir(&entry);
        } else if ft.is_symlink() {
            // Not followed (follow_symlinks = false): the target is scanned where it lies, if
            // it lies in a scanned tree.
        } else if !ft.is_file() {
            self.worker.skip_special(entry.path());
        } else if !self.env_set.contains(entry.path()) {
            self.batch.push(entry.into_path());
            if self.batch.len() == BATCH {
                self.flush();
            }
        }
    }

    /// Hands the listed files to the workers.
    fn flush(&mut self) {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if !batch.is_empty() {
            // Fails only when every worker has gone (a panic): the walk then ends unread.
            let _ = self.queue.send(batch);
        }
    }

    /// Watches a directory of the trees, while indexing.
    fn watch_dir(&mut self, entry: &DirEntry) {
        let Some((watching, watches)) = self.watch.as_mut() else {
            return;
        };
        if watching.is_foreign(entry) {
            return;
        }
        if let Some(wd) = watching.add(watches, entry.path()) {
            self.worker.note_watched(wd, entry.path());
        }
    }
}

/// The watching side of an indexing walk.
struct Watching {
    set: WatchSet,
    added: AtomicUsize,
    exhausted: AtomicBool,
    /// The device of each tree root: with `same_file_system`, a directory on another device is
    /// a mount point that the walk does not enter, and gets no watch.
    root_devs: Option<Vec<(PathBuf, u64)>>,
}

impl Watching {
    fn new(set: WatchSet, plan: &Plan, same_file_system: bool) -> Watching {
        let root_devs = same_file_system.then(|| {
            (plan.trees.iter())
                .filter_map(|t| Some((t.clone(), std::fs::metadata(t).ok()?.dev())))
                .collect()
        });
        Watching {
            set,
            added: AtomicUsize::new(0),
            exhausted: AtomicBool::new(false),
            root_devs,
        }
    }

    /// Whether a directory of the walk lies on another file system than its tree's root.
    fn is_foreign(&self, entry: &DirEntry) -> bool {
        let Some(roots) = &self.root_devs else {
            return false;
        };
        let root = (roots.iter())
            .filter(|(r, _)| entry.path().starts_with(r))
            .max_by_key(|(r, _)| r.as_os_str().len());
        match (root, entry.metadata()) {
            (Some((_, dev)), Ok(m)) => m.dev() != *dev,
            _ => true,
        }
    }

    /// Adds an inotify watch on a directory of the trees through this thread's `watches`
    /// (within the budget).
    fn add(&self, watches: &mut Watches, dir: &Path) -> Option<WatchDescriptor> {
        if self.added.fetch_add(1, Ordering::Relaxed) >= self.set.budget {
            self.exhausted.store(true, Ordering::Relaxed);
            return None;
        }
        match watches.add(dir, index::WATCH_MASK) {
            Ok(wd) => Some(wd),
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                log::warn!(path:% = dir.display(); "the kernel's inotify watch limit is reached (fs.inotify.max_user_watches)");
                self.exhausted.store(true, Ordering::Relaxed);
                None
            }
            // Gone or unreadable: the walk counts it, and the watch on its parent reports
            // when that changes.
            Err(e) => {
                log::debug!(path:% = dir.display(), error:% = e; "cannot watch");
                None
            }
        }
    }

    /// The index of a completed walk, or `None` when some directory could not be watched (the
    /// watches this walk added are then removed: they would serve nothing).
    fn index(
        &self,
        plan: &Plan,
        merged: &mut Merged,
        cache: &ScanCache,
        full_scan_at: u64,
    ) -> Option<TreeIndex> {
        if self.exhausted.load(Ordering::Relaxed) {
            log::warn!(directories = self.added.load(Ordering::Relaxed), budget = self.set.budget;
                "too many directories to watch; each cycle checks every file of the trees (one stat each)");
            let mut watches = self.set.watches.clone();
            for wd in merged.dirs.watches() {
                let _ = watches.remove(wd.clone());
            }
            return None;
        }
        let mut index = TreeIndex {
            roots: plan.trees.clone(),
            root_ids: root_ids(&plan.trees),
            env_files: plan.env_files.clone(),
            loose_files: plan.trees.iter().filter(|t| !t.is_dir()).cloned().collect(),
            walk_errors: merged.walk_errors,
            // Env files are read at every cycle, so their errors are not kept.
            unreadable: (merged.unreadable.iter())
                .filter(|u| !plan.env_files.iter().any(|e| e.to_string_lossy() == u.path))
                .cloned()
                .collect(),
            failed: merged.failed.clone(),
            linked: merged.links.iter().cloned().collect(),
            full_scan_at,
            dirs: std::mem::take(&mut merged.dirs).finish(),
            ..TreeIndex::default()
        }
        .with_base(cache.records());
        for &(key, state) in &merged.unread {
            index.set(key, state, None);
        }
        for (&key, found) in &merged.found {
            if index.base.is_tree_file(key) {
                index.found.insert(key, found.clone());
            }
        }
        Some(index)
    }
}

/// The findings a scan made in the file with cache key `key`, as the index keeps them.
pub(super) fn cached_findings(merged: &Merged, key: u64) -> Option<FileFindings> {
    merged.found.get(&key).cloned()
}

/// The scan cache of a walk (`None` when its temporary file failed: the walk is then not
/// indexed, and the next one reads every file).
fn new_cache(
    builder: CacheBuilder,
    merged: &Merged,
    version: String,
    full_scan_at: u64,
) -> Option<ScanCache> {
    match builder.finish(version, full_scan_at, merged.found.clone()) {
        Ok(cache) => Some(cache),
        Err(e) => {
            log::warn!(error:% = e; "cannot build the scan cache; the next cycle reads every file");
            None
        }
    }
}

/// The identity (device, inode) of each tree root as its path resolves now: a root reached
/// through a symlink that was switched (`current -> releases/N`) is another directory, which
/// no watch reports.
pub(super) fn root_ids(trees: &[PathBuf]) -> Vec<Option<(u64, u64)>> {
    trees
        .iter()
        .map(|t| std::fs::metadata(t).ok().map(|m| (m.dev(), m.ino())))
        .collect()
}

/// When a scan that started at `started` started, in seconds since the epoch.
fn epoch_secs(started: Instant) -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(started.elapsed().as_secs())
}
