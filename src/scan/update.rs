//! The incremental update of the daemon ([`Reuse::Update`]): reads only the paths inotify
//! named (plus the few the index cannot vouch for) and takes the rest of the trees from the
//! [`TreeIndex`]. When the index cannot vouch for the trees at all, the update walks instead.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use super::cache::{key_of, stamp_of, CacheFile};
use super::index::{FileState, TreeIndex, MAX_MOVED};
use super::outcome::{self, ScanOutcome, Scanned, Stats};
use super::plan::{Plan, Reuse, WatchSet};
use super::scanner::{env_set, source_of, Scanner};
use super::walk::{cached_findings, root_ids};
use super::worker::{Merged, Worker};

/// What an update read of each path: its cache key and state (`None`: out of the index).
type States<'t> = Vec<(&'t PathBuf, u64, Option<FileState>)>;

impl Scanner {
    /// The incremental scan of the daemon: reads only `changed`, the files that failed last
    /// time, the hard-linked files whose stamp moved (a write through another name sends no
    /// event here) and the loose files, and takes everything else of the trees from `index`.
    /// Env files, process environments and in-memory haystacks are read as in a full walk.
    /// Walks again instead when the index cannot vouch for the trees: other trees or env files
    /// than indexed, a tree root that is now another directory (a switched symlink), or a
    /// changed path that is now a directory.
    pub(super) fn update(
        &self,
        plan: &Plan,
        cancel: &AtomicBool,
        mut index: TreeIndex,
        changed: &[PathBuf],
        watch: WatchSet,
        cache: Option<CacheFile>,
    ) -> Scanned {
        if let Some(why) = stale(&index, plan) {
            return self.walk_again(plan, cancel, index, watch, cache, why);
        }
        let started = Instant::now();
        let todo = to_read(&mut index, changed);
        let Some((reads, states)) = self.read_changed(plan, cancel, &todo) else {
            let why = "a changed path is now a directory";
            return self.walk_again(plan, cancel, index, watch, cache, why);
        };
        if (reads.links.iter()).any(|(p, _)| !index.linked.contains_key(p)) {
            // Its other names are somewhere in the trees, unknown to the index: a walk finds
            // them all, and later updates compare their stamps.
            let why = "a file gained another name (a hard link)";
            return self.walk_again(plan, cancel, index, watch, cache, why);
        }
        let cancelled = cancel.load(Ordering::Relaxed);
        let read = apply(&mut index, states, reads);
        let outcome = self.updated_outcome(plan, cancel, &index, &read, started);
        Scanned {
            outcome,
            cache: None,
            // An interrupted update may have left changed paths unread: not to be trusted.
            index: (!cancelled).then_some(index),
        }
    }

    /// Walks the trees again instead of an update (with the stat cache), and removes the
    /// watches of directories that left the trees since `old` was made.
    fn walk_again(
        &self,
        plan: &Plan,
        cancel: &AtomicBool,
        old: TreeIndex,
        watch: WatchSet,
        cache: Option<CacheFile>,
        why: &str,
    ) -> Scanned {
        log::info!(reason = why; "walking the scanned trees");
        let mut watches = watch.watches.clone();
        let scanned = self.scan(plan, cancel, Reuse::Index { cache, watch });
        if let Some(new) = &scanned.index {
            for wd in old.dirs.watches().filter(|wd| !new.dirs.contains(wd)) {
                let _ = watches.remove(wd.clone());
            }
        }
        scanned
    }

    /// Reads the paths of `todo` (path, whether it is a loose file) on this thread; `None`
    /// when one of them is now a directory.
    fn read_changed<'t>(
        &self,
        plan: &Plan,
        cancel: &AtomicBool,
        todo: &'t [(PathBuf, bool)],
    ) -> Option<(Merged, States<'t>)> {
        let env_set = env_set(plan);
        let reads = Mutex::new(Merged::default());
        let mut states = Vec::with_capacity(todo.len());
        {
            let mut w = Worker::new(self, &reads, None, self.rate_per_thread());
            w.index_files(); // keeps the findings of each file apart
            for (path, loose) in todo {
                if cancel.load(Ordering::Relaxed) {
                    break;
                }
                let key = key_of(path);
                let skip = env_set.contains(path.as_path()) || (!loose && self.is_excluded(path));
                let state = match (skip, std::fs::symlink_metadata(path)) {
                    (true, _) => None,
                    (false, Err(e)) if e.kind() == io::ErrorKind::NotFound => None,
                    (false, Err(e)) => Some(w.stat_failed(path, &e)),
                    (false, Ok(m)) if m.is_dir() => return None,
                    (false, Ok(m)) if m.file_type().is_symlink() => None,
                    (false, Ok(m)) if !m.is_file() => Some(FileState::Skipped),
                    (false, Ok(_)) => Some(w.scan_path(path, source_of(path))),
                };
                states.push((path, key, state));
            }
        }
        Some((
            reads.into_inner().unwrap_or_else(|e| e.into_inner()),
            states,
        ))
    }

    /// The outcome of an update: env files and volatile sources read now, the trees from
    /// `index`; `read` counts what the update read of the trees.
    fn updated_outcome(
        &self,
        plan: &Plan,
        cancel: &AtomicBool,
        index: &TreeIndex,
        read: &Stats,
        started: Instant,
    ) -> ScanOutcome {
        let shared = Mutex::new(Merged::default());
        self.scan_env_files(plan, cancel, &shared, None);
        self.scan_volatile(plan, cancel, &shared);
        let mut merged = shared.into_inner().unwrap_or_else(|e| e.into_inner());
        merged.unreadable.extend(index.unreadable.iter().cloned());
        let (files, skipped, failed) = index.counts();
        let (found, suppressed) = index.findings();
        merged.findings.extend(found.cloned());
        merged.key_ids.extend(index.key_ids().cloned());
        let st = &mut merged.stats;
        st.files += files;
        st.skipped += skipped;
        st.errors += failed + index.walk_errors;
        st.suppressed += suppressed;
        st.cached += files.saturating_sub(read.files);
        st.bytes += read.bytes;
        let cancelled = cancel.load(Ordering::Relaxed);
        outcome::finish(plan, merged, started, cancelled)
    }
}

/// Why `index` cannot vouch for the trees of `plan` any more, if it cannot.
fn stale(index: &TreeIndex, plan: &Plan) -> Option<&'static str> {
    if index.roots != plan.trees {
        Some("the trees changed")
    } else if index.env_files != plan.env_files {
        Some("the env files changed")
    } else if index.root_ids != root_ids(&plan.trees) {
        Some("a tree root was replaced")
    } else if unreadable_dir_recovered(index) {
        Some("a directory that could not be read changed")
    } else if index.moved() > MAX_MOVED {
        Some("many files were created or removed")
    } else {
        None
    }
}

/// A directory that could not be listed has no watch, and nothing reports when that changes:
/// looks at each again (there are few); `true` when one can be listed now (or is gone).
fn unreadable_dir_recovered(index: &TreeIndex) -> bool {
    (index.unreadable.iter())
        .filter(|u| {
            !index
                .failed
                .iter()
                .any(|f| f.as_os_str() == u.path.as_str())
        })
        .any(|u| match std::fs::read_dir(&u.path) {
            Ok(_) => true,
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        })
}

/// The paths an update reads, sorted, each once, with whether it is a loose file: the changed
/// paths, the files that failed last time (taken out of `index`), the hard-linked files whose
/// stamp moved, and the loose files.
fn to_read(index: &mut TreeIndex, changed: &[PathBuf]) -> Vec<(PathBuf, bool)> {
    let moved_links = index
        .linked
        .iter()
        .filter(|(p, stamp)| std::fs::metadata(p).map_or(true, |m| stamp_of(&m) != **stamp))
        .map(|(p, _)| p.clone());
    let mut todo: Vec<(PathBuf, bool)> = (changed.iter().cloned())
        .chain(std::mem::take(&mut index.failed))
        .chain(moved_links.collect::<Vec<_>>())
        .map(|p| (p, false))
        .chain(index.loose_files.iter().map(|p| (p.clone(), true)))
        .collect();
    // A loose file (a configured root) keeps its flag when it is also a changed or failed
    // path: roots are scanned whatever the exclude globs say.
    todo.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    todo.dedup_by(|a, b| a.0 == b.0);
    todo
}

/// Enters what an update read in `index`, and returns the counters of those reads.
fn apply(index: &mut TreeIndex, states: States<'_>, reads: Merged) -> Stats {
    for (path, key, state) in states {
        let display = path.to_string_lossy();
        index.unreadable.retain(|u| u.path != display);
        index.linked.remove(path);
        match state {
            None => index.remove(key),
            Some(state) => index.set(key, state, cached_findings(&reads, key)),
        }
    }
    index.unreadable.extend(reads.unreadable);
    index.linked.extend(reads.links);
    index.failed = reads.failed;
    reads.stats
}
