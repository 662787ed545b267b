//! Change tracking for the daemon: what wakes it between cycles, and what its incremental
//! cycles read. One inotify instance (see [`super::watch`]) watches the env files'
//! directories and the configured trees for early cycles, and every directory of the scanned
//! trees (the indexing walk adds those watches, see [`crate::scan::index`]); between cycles
//! the daemon drains its events into a set of changed files, and the next cycle reads only
//! those: no stat and no directory read for the rest (hard-linked and failed files excepted,
//! see [`crate::scan::Scanner::scan`]).
//!
//! Whatever the events cannot describe file by file makes the next cycle walk the trees
//! again (one stat per file with the scan cache): a queue overflow, a directory created,
//! removed, renamed or re-permissioned, a watched directory going away, a change of the mount
//! table, too many directories for the watch budget, or a full rescan falling due; the
//! scanner adds its own reasons (another root or env-file set, a new hard link). Changes that
//! inotify does not see at all — writes through a shared mmap, or from another host on a
//! network file system — are caught by the full rescan (`agent.full_rescan_interval`); trees
//! on network file systems are not tracked (see [`super::mounts`]).

use std::collections::HashSet;
use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use inotify::{EventMask, EventOwned, WatchDescriptor};
use tokio::time::Instant;

use super::mounts::Mounts;
use super::watch::{Watches, EVENT_BUFFER_BYTES};
use crate::config::ScanConfig;
use crate::scan::index::TreeIndex;
use crate::scan::{CacheFile, Reuse, WatchSet};

/// The most directory watches the agent adds, whatever the kernel allows.
pub const MAX_TREE_WATCHES: usize = 262_144;
/// Distinct changed files kept between cycles; beyond that the next cycle walks the trees.
pub const MAX_CHANGED: usize = 65_536;
/// The least time between two wake-ups for tree changes.
pub const CHANGE_COALESCE: Duration = Duration::from_secs(1);
/// The kernel's default `fs.inotify.max_queued_events`, used when the setting is unreadable.
const DEFAULT_MAX_QUEUED_EVENTS: usize = 16_384;
/// The size of an inotify event without a name, the smallest one.
const MIN_EVENT_BYTES: usize = 16;

/// The most events one drain takes: every event queued when it began, and no more than
/// that whatever the writers do meanwhile. The kernel queue holds at most `max_queued`
/// events (then one overflow event), and the stream's buffer at most one per 16 bytes, so
/// reading this many has taken every event queued before the drain, in order. Without a
/// bound a file written faster than the daemon takes its events (two busy logs on a fast
/// machine) would hold the drain for as long as the writes go on.
pub fn drain_bound(max_queued: usize) -> usize {
    max_queued
        .saturating_add(1)
        .saturating_add(EVENT_BUFFER_BYTES / MIN_EVENT_BYTES)
}

/// What woke the daemon: see [`Tracker::next_change`].
#[derive(Debug)]
pub enum Change {
    /// A watched env file's directory or configured tree changed (the first path seen): an
    /// early cycle is due.
    Watched(PathBuf),
    /// Only changes in the trees, noted for the next cycle.
    Trees,
}

/// The daemon's inotify instance, the index of the last cycle and what changed since.
#[derive(Debug)]
pub struct Tracker {
    watches: Watches,
    /// The mount table the trees were last checked against (`None`: the trees are not
    /// tracked, and every cycle checks every file).
    mounts: Option<Mounts>,
    budget: usize,
    /// The most events one drain takes (see [`drain_bound`]).
    drain_limit: usize,
    index: Option<TreeIndex>,
    changed: HashSet<(WatchDescriptor, OsString)>,
    /// Why the next cycle must walk the trees again.
    walk_reason: Option<&'static str>,
    /// A path whose change calls for an early cycle, seen since the daemon last woke.
    early: Option<PathBuf>,
    /// Tree changes wake the daemon again no sooner than this.
    quiet_until: Instant,
}

impl Tracker {
    /// The daemon's watches for the configuration `scan`: the env files' directories and the
    /// configured trees for early cycles, and every directory of the trees for incremental
    /// cycles where they can be tracked. `None` (logged) without inotify: every cycle then
    /// checks every file, and changes are seen at the next cycle only.
    pub fn start(scan: &ScanConfig) -> Option<Tracker> {
        let trees = &scan.paths;
        let mut t = Tracker::for_trees(trees, scan.follow_symlinks, scan.same_file_system)?;
        let env_files = crate::scan::envfiles::expand(&scan.env_files);
        t.watches.watch_early(&env_files, trees);
        Some(t)
    }

    /// A tracker for `trees` with no early-cycle watch, or `None` (logged) without inotify.
    /// The trees are not tracked (each cycle checks every file, one stat each) with symbolic
    /// links followed, across file systems, or on a network file system.
    fn for_trees(trees: &[PathBuf], follow_symlinks: bool, same_fs: bool) -> Option<Tracker> {
        let tracked = !follow_symlinks && same_fs;
        if !tracked {
            log::info!("incremental cycles check every file: scan.follow_symlinks is on or scan.same_file_system is off");
        }
        let watches = match Watches::new() {
            Ok(w) => w,
            Err(e) => {
                log::warn!(error:% = e; "cannot start inotify; incremental cycles check every file");
                log::warn!(error:% = e; "cannot watch files; changes are seen at the next cycle only");
                return None;
            }
        };
        let limit = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(8192);
        let max_queued = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(DEFAULT_MAX_QUEUED_EVENTS);
        Some(Tracker {
            watches,
            mounts: tracked.then(|| Mounts::new(trees)),
            // Half of the per-user limit: the rest is left to other programs.
            budget: (limit / 2).min(MAX_TREE_WATCHES),
            drain_limit: drain_bound(max_queued),
            index: None,
            changed: HashSet::new(),
            walk_reason: Some("first cycle"),
            early: None,
            quiet_until: Instant::now(),
        })
    }

    /// Waits for the next inotify event and notes it with all others queued (cancel-safe).
    /// A file written all the time wakes the daemon for its trees at most once per
    /// [`CHANGE_COALESCE`]; the kernel queues the events meanwhile (an overflow makes the next
    /// cycle walk).
    pub async fn next_change(&mut self) -> Change {
        if self.early.is_none() {
            tokio::time::sleep_until(self.quiet_until).await;
            match self.watches.next().await {
                Some(event) => self.take(event),
                None => std::future::pending().await,
            }
            self.drain().await;
            self.quiet_until = Instant::now() + CHANGE_COALESCE;
        }
        self.early.take().map_or(Change::Trees, Change::Watched)
    }

    /// Notes every event queued when it begins, without waiting; events queued meanwhile are
    /// left to the next drain once [`drain_bound`] events are taken. The stream reads only
    /// when the runtime has seen the descriptor ready, so this yields once first: tokio polls
    /// its I/O driver before it resumes a yielded task, and every event queued so far is then
    /// read.
    pub async fn drain(&mut self) {
        tokio::task::yield_now().await;
        // Unconstrained: tokio's cooperative budget (128 reads a poll) would end the loop
        // early, leaving events of changes made before the cycle to the cycle after.
        tokio::task::unconstrained(async {
            for _ in 0..self.drain_limit {
                match self.watches.next_now() {
                    Some(event) => self.take(event),
                    None => break,
                }
            }
        })
        .await;
    }

    fn take(&mut self, event: io::Result<EventOwned>) {
        match event {
            Ok(e) => self.note(e),
            Err(e) => {
                log::warn!(error:% = e; "cannot read inotify events");
                self.must_walk("inotify events could not be read");
            }
        }
    }

    fn note(&mut self, event: EventOwned) {
        let mask = event.mask;
        if mask.contains(EventMask::Q_OVERFLOW) {
            return self.must_walk("the inotify queue overflowed");
        }
        let seen = self.watches.classify(&event);
        if let Some(path) = seen.early {
            self.early.get_or_insert(path);
        }
        if !seen.tree || self.index.is_none() {
            return; // not a directory of the trees, or the next cycle walks anyway
        }
        if mask.intersects(
            EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::UNMOUNT | EventMask::IGNORED,
        ) {
            self.must_walk("a watched directory was removed, renamed or unmounted");
        } else if mask.contains(EventMask::ISDIR) {
            self.must_walk("a directory was created, removed, renamed or changed in the trees");
        } else if let Some(name) = event.name {
            self.changed.insert((event.wd, name));
            if self.changed.len() > MAX_CHANGED {
                self.must_walk("too many files changed since the last cycle");
            }
        }
    }

    fn must_walk(&mut self, why: &'static str) {
        if self.walk_reason.is_none() {
            log::debug!(reason = why; "the next cycle walks the trees");
        }
        self.walk_reason.get_or_insert(why);
        self.changed.clear();
    }

    /// What the next cycle's scan may reuse: the changed files when the index is good,
    /// otherwise a walk that indexes the trees again with the stat cache `cache`, which also
    /// says when a full rescan is due (`None`: now). Untracked trees: the stat cache only.
    pub async fn reuse(&mut self, cache: Option<CacheFile>) -> Reuse {
        self.drain().await;
        // The cycle reads every change made so far.
        self.early = None;
        let Some(mounts) = self.mounts.as_mut() else {
            return cache.map_or(Reuse::Nothing, Reuse::Cache);
        };
        let (changed, local) = (mounts.changed(), mounts.local());
        if changed {
            self.must_walk("the mount table changed");
        }
        if !local {
            self.index = None;
            self.watches.set_tree_dirs(None);
            self.must_walk("a tree is on a network file system");
            return cache.map_or(Reuse::Nothing, Reuse::Cache);
        }
        let watch = WatchSet {
            watches: self.watches.handle(),
            budget: self.budget,
        };
        let due = |at: u64| cache.as_ref().is_none_or(|c| at <= c.rescan_before);
        let index = self.index.take();
        match (index, self.walk_reason.take()) {
            (Some(index), None) if !due(index.full_scan_at) => {
                let changed = self.changed_paths(&index);
                Reuse::Update {
                    index: Box::new(index),
                    changed,
                    watch,
                    cache,
                }
            }
            (_, reason) => {
                log::info!(reason = reason.unwrap_or("full rescan due"); "walking the scanned trees");
                self.changed.clear();
                Reuse::Index { cache, watch }
            }
        }
    }

    /// The paths of the changed files (a directory bind-mounted at two paths: both).
    fn changed_paths(&mut self, index: &TreeIndex) -> Vec<PathBuf> {
        let mut changed = Vec::with_capacity(self.changed.len());
        for (wd, name) in self.changed.drain() {
            changed.extend(index.dirs.paths(&wd).map(|d| d.join(&name)));
        }
        changed
    }

    /// Takes back the index after a cycle (`None`: not indexed or not to be trusted, and the
    /// next cycle walks). Watches of directories that are no longer in the trees are removed,
    /// and early-cycle watches put back where the walk removed them.
    pub fn finish(&mut self, index: Option<TreeIndex>) {
        if self.mounts.is_some() {
            self.watches.set_tree_dirs(index.as_ref().map(|i| &i.dirs));
            if index.is_none() {
                self.must_walk("the last cycle did not index the trees");
            }
            self.index = index;
        }
        self.watches.rewatch_early();
    }

    /// Directories watched for the trees (tests look at it).
    #[cfg(test)]
    fn watched(&self) -> usize {
        self.index.as_ref().map_or(0, |i| i.dirs.len())
    }
}

/// A cache file that is not there, with no full rescan due: tracked cycles as the daemon runs
/// them between full rescans.
#[cfg(test)]
fn test_cache() -> Option<CacheFile> {
    Some(CacheFile {
        path: PathBuf::from("/nonexistent/scan-cache"),
        rescan_before: 0,
    })
}

#[cfg(test)]
mod tests;
