//! The tree index behind the daemon's incremental scans: what the last walk saw in every
//! file of the scanned trees, kept in memory between cycles while inotify watches every
//! directory of those trees. A cycle then reads only the paths that inotify named, and
//! takes everything else from the index without a stat or a directory read.
//!
//! The index holds no per-file state in memory: which files were read is in the records of
//! the scan cache that the indexing walk wrote (on disk, one `pread` per lookup, see
//! [`super::cache`]), and memory holds only what changed since (files created or removed;
//! past [`MAX_MOVED`] of those the next cycle walks again), the files that were skipped or
//! could not be read, and the findings of the few files that have any (fingerprints and
//! redacted prefixes, never a secret). It is plain data: the agent owns
//! the inotify instance, decides when the index can be trusted and hands it to the scanner
//! (see [`super::Reuse`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use inotify::WatchMask;
use serde::{Deserialize, Serialize};

use super::cache::Records;
pub use super::dirs::DirTable;
use super::keyids::KeyIds;
use crate::finding::Finding;

/// Files created or removed since the indexing walk that the index keeps in memory (about
/// 2 MiB); with more, the next cycle walks the trees again (one stat per file), which writes
/// a new cache to look them up in.
pub const MAX_MOVED: usize = 65_536;

/// What a directory watch reports: changes to the files in it (content, attributes, creation,
/// removal, renames) and the directory itself going away. Reads do not count.
pub const WATCH_MASK: WatchMask = WatchMask::MODIFY
    .union(WatchMask::ATTRIB)
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::CREATE)
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::ONLYDIR)
    .union(WatchMask::DONT_FOLLOW)
    .union(WatchMask::EXCL_UNLINK);

/// What became of a file the last time it was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    /// Read and scanned (its findings, if any, are in [`TreeIndex`]).
    Read,
    /// Skipped on purpose: too large, or not a regular file (FIFO, socket, device node).
    Skipped,
    /// Could not be read (permissions, I/O error).
    Failed,
}

/// Findings of one file, as the index and the scan cache keep them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFindings {
    /// Findings in the file (but for `key_ids`).
    pub findings: Vec<Finding>,
    /// Findings suppressed in the file.
    pub suppressed: u64,
    /// The key id findings of a file with many, compactly: shared with the scan outcome, the
    /// index and the scan cache, never copied.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::keyids::shared"
    )]
    pub key_ids: Option<Arc<KeyIds>>,
}

impl FileFindings {
    /// Whether there is nothing to keep: no finding, none suppressed.
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty() && self.suppressed == 0 && self.key_ids.is_none()
    }
}

/// The files of the scanned trees as of the last cycle, and the watched directories.
#[derive(Debug, Clone, Default)]
pub struct TreeIndex {
    /// The trees indexed (the plan's, when the index was made).
    pub roots: Vec<PathBuf>,
    /// The watched directories and their paths (a bind mount shows one directory at two
    /// paths, and the kernel gives both one watch).
    pub dirs: DirTable,
    /// The identity (device, inode) of each root when indexed.
    pub root_ids: Vec<Option<(u64, u64)>>,
    /// The env files when indexed: the walk leaves them out of the index, so another set of
    /// env files (a unit's `EnvironmentFile=` changed) needs another walk.
    pub env_files: Vec<PathBuf>,
    /// Files that could not be read: tried again at each update.
    pub failed: Vec<PathBuf>,
    /// Files with other names (hard links) and their stamps: a write through another name
    /// sends no event to this one's directory, so updates compare the stamp.
    pub linked: HashMap<PathBuf, [i64; 5]>,
    /// The files of the trees the indexing walk read: the records of its scan cache with the
    /// tree bit, by [`super::key_of`].
    pub(super) base: Arc<Records>,
    /// Files whose being read differs from `base` now (created or removed since).
    pub(super) moved: HashMap<u64, bool>,
    /// How many files of the trees are read now.
    pub(super) read: u64,
    /// The files of the trees that were skipped or could not be read.
    pub unread: HashMap<u64, FileState>,
    /// Findings by [`super::key_of`], for the files that have any.
    pub found: HashMap<u64, FileFindings>,
    /// Entries the walk could not read (unreadable directories): they stay so until inotify
    /// reports a change to them, which makes the agent walk again.
    pub walk_errors: u64,
    /// Sources of the trees that could not be read (files and directories), reported again at
    /// each update until inotify reports a change to them.
    pub unreadable: Vec<super::Unreadable>,
    /// Configured trees that are single files (no watched directory holds them): read again
    /// each cycle.
    pub loose_files: Vec<PathBuf>,
    /// When the last full read of every file started, in seconds since the epoch.
    pub full_scan_at: u64,
}

impl TreeIndex {
    /// Takes the files of the trees from the records of the indexing walk's scan cache.
    pub(super) fn with_base(mut self, base: Arc<Records>) -> TreeIndex {
        self.read = base.trees();
        self.base = base;
        self.moved.clear();
        self
    }

    /// Records what a scan of `key` found (`None` when it was not read).
    pub fn set(&mut self, key: u64, state: FileState, found: Option<FileFindings>) {
        self.mark_read(key, state == FileState::Read);
        if state == FileState::Read {
            self.unread.remove(&key);
        } else {
            self.unread.insert(key, state);
        }
        match found.filter(|f| !f.is_empty()) {
            Some(f) => {
                self.found.insert(key, f);
            }
            None => {
                self.found.remove(&key);
            }
        }
    }

    /// Forgets a file that is gone (or no longer scanned: a symlink, an excluded name).
    pub fn remove(&mut self, key: u64) {
        self.mark_read(key, false);
        self.unread.remove(&key);
        self.found.remove(&key);
    }

    /// Notes whether `key` is read now, keeping in memory only where that differs from the
    /// base (a file changed in place costs nothing).
    fn mark_read(&mut self, key: u64, now: bool) {
        let base = self.base.is_tree_file(key);
        let was = self.moved.get(&key).copied().unwrap_or(base);
        match (was, now) {
            (false, true) => self.read += 1,
            (true, false) => self.read = self.read.saturating_sub(1),
            _ => {}
        }
        if now == base {
            self.moved.remove(&key);
        } else {
            self.moved.insert(key, now);
        }
    }

    /// Files created or removed since the indexing walk.
    pub fn moved(&self) -> usize {
        self.moved.len()
    }

    /// How many files are in each state: (read, skipped, failed).
    pub fn counts(&self) -> (u64, u64, u64) {
        let (skipped, failed) = self.unread.values().fold((0, 0), |(s, f), st| match st {
            FileState::Skipped => (s + 1, f),
            _ => (s, f + 1),
        });
        (self.read, skipped, failed)
    }

    /// All findings held (but for the compact ones, [`TreeIndex::key_ids`]), and the number
    /// suppressed.
    pub fn findings(&self) -> (impl Iterator<Item = &Finding>, u64) {
        (
            self.found.values().flat_map(|f| f.findings.iter()),
            self.found.values().map(|f| f.suppressed).sum(),
        )
    }

    /// The key id findings held compactly, one set per file with many.
    pub fn key_ids(&self) -> impl Iterator<Item = &Arc<KeyIds>> {
        self.found.values().filter_map(|f| f.key_ids.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_keeps_findings_only_for_files_with_any() {
        let mut ix = TreeIndex::default();
        ix.set(1, FileState::Read, Some(FileFindings::default()));
        ix.set(2, FileState::Failed, None);
        ix.set(
            3,
            FileState::Read,
            Some(FileFindings {
                suppressed: 2,
                ..FileFindings::default()
            }),
        );
        assert_eq!(ix.counts(), (2, 0, 1));
        assert_eq!(ix.found.len(), 1);
        assert_eq!(ix.findings().1, 2);
        ix.set(3, FileState::Read, None);
        ix.remove(1);
        assert_eq!((ix.counts(), ix.found.len()), ((1, 0, 1), 0));
    }

    #[test]
    fn files_of_the_base_cost_memory_only_when_created_or_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = super::super::cache::CacheBuilder::new(Some(dir.path()));
        // Keys 0..100 are files of the trees, 100..110 env files.
        let mut recs: Vec<[u64; 2]> = (0..110)
            .map(|k| {
                [
                    k,
                    if k < 100 {
                        super::super::cache::TREE
                    } else {
                        0
                    },
                ]
            })
            .collect();
        b.add(&mut recs);
        let cache = b.finish("v".into(), 1, HashMap::new()).unwrap();
        let mut ix = TreeIndex::default().with_base(cache.records());
        assert_eq!(ix.counts(), (100, 0, 0));
        ix.set(5, FileState::Read, None); // changed in place
        assert_eq!((ix.counts(), ix.moved()), ((100, 0, 0), 0));
        ix.remove(6);
        ix.remove(6);
        ix.set(200, FileState::Read, None); // created
        ix.set(105, FileState::Read, None); // an env file now in the trees
        ix.set(7, FileState::Failed, None);
        assert_eq!((ix.counts(), ix.moved()), ((100, 0, 1), 4));
        ix.set(6, FileState::Read, None); // back as it was
        ix.remove(300); // never there
        assert_eq!((ix.counts(), ix.moved()), ((101, 0, 1), 3));
    }
}
