//! Change tracking for the daemon's incremental cycles. One inotify instance watches every
//! directory of the scanned trees (the indexing walk adds the watches, see
//! [`crate::scan::index`]); between cycles the daemon drains its events into a set of changed
//! files, and the next cycle reads only those: no stat and no directory read for the rest.
//!
//! Whatever the events cannot describe file by file makes the next cycle walk the trees
//! again (one stat per file with the scan cache): a queue overflow, a directory created,
//! removed, renamed or re-permissioned, a watched directory going away, a change of the mount
//! table, too many directories for the watch budget, or a full rescan falling due. Changes
//! that inotify does not see at all — writes through a hard link outside the trees, through
//! a shared mmap, or from another host on a network file system — are caught by the full
//! rescan (`agent.full_rescan_interval`); trees on network file systems are not tracked.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use futures_util::{FutureExt, StreamExt};
use inotify::{EventMask, EventStream, Inotify, WatchDescriptor};

use crate::scan::index::TreeIndex;
use crate::scan::{Reuse, ScanCache, WatchSet};

/// The most directory watches the agent adds, whatever the kernel allows.
pub const MAX_TREE_WATCHES: usize = 262_144;
/// Distinct changed files kept between cycles; beyond that the next cycle walks the trees.
pub const MAX_CHANGED: usize = 65_536;

/// File system types where inotify does not see every change (other hosts write to them, or
/// a user-space server does): trees on them are not tracked.
const UNTRACKED_FS: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ceph",
    "glusterfs",
    "9p",
    "afs",
    "lustre",
    "gfs2",
    "ocfs2",
    "virtiofs",
    "fuse",
    "fuseblk",
];

/// The daemon's inotify instance, the index of the last cycle and what changed since.
#[derive(Debug)]
pub struct Tracker {
    /// The events of the inotify instance (it wakes the daemon when there are some).
    events: EventStream<Vec<u8>>,
    budget: usize,
    index: Option<TreeIndex>,
    /// The watched directories of an index handed to a walk, to drop the stale ones after.
    previous: Option<Vec<WatchDescriptor>>,
    changed: HashSet<(WatchDescriptor, OsString)>,
    /// Why the next cycle must walk the trees again.
    walk_reason: Option<&'static str>,
    mounts: u64,
}

impl Tracker {
    /// A tracker for `trees`, or `None` (logged) when they cannot be tracked: a tree on a
    /// network file system, symbolic links followed, or no inotify. The daemon then checks
    /// every file at each cycle (one stat each).
    pub fn for_trees(trees: &[PathBuf], follow_symlinks: bool, same_fs: bool) -> Option<Tracker> {
        if follow_symlinks || !same_fs {
            log::info!("incremental cycles check every file: scan.follow_symlinks is on or scan.same_file_system is off");
            return None;
        }
        if let Some(t) = trees.iter().find(|t| !on_local_fs(t)) {
            log::info!(path:% = t.display(); "incremental cycles check every file: a tree is not on a local file system");
            return None;
        }
        match Tracker::new() {
            Ok(t) => Some(t),
            Err(e) => {
                log::warn!(error:% = e; "cannot start inotify; incremental cycles check every file");
                None
            }
        }
    }

    fn new() -> io::Result<Tracker> {
        let events = Inotify::init()?.into_event_stream(vec![0u8; 16 * 1024])?;
        let limit = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(8192);
        Ok(Tracker {
            events,
            // Half of the per-user limit: the rest is left to other programs.
            budget: (limit / 2).min(MAX_TREE_WATCHES),
            index: None,
            previous: None,
            changed: HashSet::new(),
            walk_reason: Some("first cycle"),
            mounts: mount_table_hash(),
        })
    }

    /// Waits for the next inotify event and notes it with all others queued (cancel-safe).
    pub async fn next_change(&mut self) {
        match self.events.next().await {
            Some(event) => self.take(event),
            None => std::future::pending().await,
        }
        self.drain().await;
    }

    /// Notes every queued event without waiting. The stream reads only when the runtime has
    /// seen the descriptor ready, so this yields once first: tokio polls its I/O driver before
    /// it resumes a yielded task, and every event queued so far is then read.
    pub async fn drain(&mut self) {
        tokio::task::yield_now().await;
        while let Some(Some(event)) = self.events.next().now_or_never() {
            self.take(event);
        }
    }

    fn take(&mut self, event: io::Result<inotify::EventOwned>) {
        match event {
            Ok(e) => self.note(e.wd, e.mask, e.name),
            Err(e) => {
                log::warn!(error:% = e; "cannot read inotify events");
                self.must_walk("inotify events could not be read");
            }
        }
    }

    fn note(&mut self, wd: WatchDescriptor, mask: EventMask, name: Option<OsString>) {
        if mask.contains(EventMask::Q_OVERFLOW) {
            return self.must_walk("the inotify queue overflowed");
        }
        let Some(index) = &self.index else {
            return; // the next cycle walks anyway
        };
        if !index.dirs.contains_key(&wd) {
            return; // a watch no longer part of the trees
        }
        if mask.intersects(
            EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::UNMOUNT | EventMask::IGNORED,
        ) {
            self.must_walk("a watched directory was removed, renamed or unmounted");
        } else if mask.contains(EventMask::ISDIR) {
            self.must_walk("a directory was created, removed, renamed or changed in the trees");
        } else if let Some(name) = name {
            self.changed.insert((wd, name));
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
    /// otherwise a walk that indexes the trees again (with the stat cache that `prior`
    /// loads). `full_due` says whether a full rescan is due for an index of that age.
    pub async fn reuse(
        &mut self,
        full_due: impl Fn(u64) -> bool,
        prior: impl FnOnce() -> Option<ScanCache>,
    ) -> Reuse {
        self.drain().await;
        let mounts = mount_table_hash();
        if mounts != self.mounts {
            self.mounts = mounts;
            self.must_walk("the mount table changed");
        }
        let watch = WatchSet {
            watches: self.events.watches(),
            budget: self.budget,
        };
        let index = self.index.take();
        match (index, self.walk_reason.take()) {
            (Some(index), None) if !full_due(index.full_scan_at) => {
                let changed = self
                    .changed
                    .drain()
                    .filter_map(|(wd, name)| index.dirs.get(&wd).map(|d| d.join(name)))
                    .collect();
                Reuse::Update {
                    index: Box::new(index),
                    changed,
                    watch,
                }
            }
            (index, reason) => {
                log::info!(reason = reason.unwrap_or("full rescan due"); "walking the scanned trees");
                self.changed.clear();
                self.previous = index.map(|i| i.dirs.into_keys().collect());
                Reuse::Index {
                    prior: prior(),
                    watch,
                }
            }
        }
    }

    /// Takes back the index after a cycle (`None`: not indexed or not to be trusted, and the
    /// next cycle walks). Watches of directories that left the trees are removed.
    pub fn finish(&mut self, index: Option<TreeIndex>) {
        if let (Some(previous), Some(new)) = (self.previous.take(), index.as_ref()) {
            let mut watches = self.events.watches();
            for wd in previous.into_iter().filter(|wd| !new.dirs.contains_key(wd)) {
                let _ = watches.remove(wd);
            }
        }
        if index.is_none() {
            self.must_walk("the last cycle did not index the trees");
        }
        self.index = index;
    }

    /// Directories watched for the trees.
    pub fn watched(&self) -> usize {
        self.index.as_ref().map_or(0, |i| i.dirs.len())
    }
}

/// Whether `path` lies on a file system where inotify sees every change: the type of the
/// longest mount point of `/proc/self/mountinfo` that contains it.
fn on_local_fs(path: &Path) -> bool {
    let Ok(path) = path.canonicalize() else {
        return true; // missing: the walk reports it, and nothing there is indexed
    };
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    fs_type_of(&table, &path).is_none_or(|t| {
        !UNTRACKED_FS
            .iter()
            .any(|u| t == *u || t.strip_prefix(*u).is_some_and(|r| r.starts_with('.')))
    })
}

/// The file system type of the mount that holds `path`, from a mountinfo table
/// (`id parent dev root mountpoint options [optional…] - type source superoptions`).
fn fs_type_of<'a>(table: &'a str, path: &Path) -> Option<&'a str> {
    table
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let mount = fields.nth(4)?;
            let fs_type = line.split(" - ").nth(1)?.split(' ').next()?;
            Some((unescape_mount(mount), fs_type))
        })
        .filter(|(mount, _)| path.starts_with(mount))
        .max_by_key(|(mount, _)| mount.as_os_str().len())
        .map(|(_, t)| t)
}

/// Mount points escape space, tab, newline and backslash as octal (`\040`).
fn unescape_mount(s: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|o| o.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(o)) => {
                out.push(o.iter().fold(0u8, |n, c| n.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

/// A hash of the mount table: a file system mounted or unmounted inside a tree sends no
/// inotify event, so a change of the table makes the next cycle walk.
fn mount_table_hash() -> u64 {
    std::fs::read("/proc/self/mountinfo")
        .map_or(0, |b| crate::scan::path_key(&String::from_utf8_lossy(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{Options, Plan, Scanner};
    use std::sync::atomic::AtomicBool;

    const KEY_ID: &str = "AKIASXQV3SVWMFRRRM75";
    const SECRET: &str = "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";

    fn scanner() -> Scanner {
        Scanner::new(Options {
            threads: 1,
            max_file_size: 4096,
            follow_symlinks: false,
            same_file_system: true,
            exclude: vec!["*.skip".into()],
            allowlist: std::collections::HashSet::new(),
            read_rate_limit: 0,
            proc_root: PathBuf::from("/nonexistent"),
            build_cache: true,
        })
        .unwrap()
    }

    /// One random change to the tree under `root`, of the kinds inotify reports file by file
    /// and of the kinds that make the tracker walk again.
    fn mutate(root: &Path, rng: &mut fastrand::Rng, n: usize) {
        let dirs: Vec<PathBuf> = walk(root).into_iter().filter(|p| p.is_dir()).collect();
        let files: Vec<PathBuf> = walk(root)
            .into_iter()
            .filter(|p| {
                use std::os::unix::fs::FileTypeExt;
                // Not FIFOs: writing to one would wait for a reader.
                p.symlink_metadata()
                    .is_ok_and(|m| !m.is_dir() && !m.file_type().is_fifo())
            })
            .collect();
        let dir = &dirs[rng.usize(..dirs.len())];
        let file = (!files.is_empty()).then(|| &files[rng.usize(..files.len())]);
        let content = match rng.u8(..4) {
            0 => format!("aws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"),
            1 => format!("x\n{KEY_ID} credhygiene:allow\n"),
            2 => "x".repeat(5000) + KEY_ID, // over max_file_size: skipped
            _ => "nothing here\n".to_string(),
        };
        let name = |ext: &str| format!("n{n}{ext}");
        let op = rng.u8(..12);
        let _ = match (op, file) {
            (0 | 1, _) => std::fs::write(dir.join(name(".conf")), &content),
            (2 | 3, Some(f)) => std::fs::write(f, &content),
            (4, Some(f)) => std::fs::remove_file(f),
            (5, Some(f)) => std::fs::rename(f, dir.join(name(".moved"))),
            (6, _) => std::fs::create_dir(dir.join(name("d")))
                .and_then(|()| std::fs::write(dir.join(name("d")).join("inner.env"), &content)),
            (7, _) if dir != root => std::fs::rename(dir, root.join(name("r"))),
            (8, _) if dir != root => std::fs::remove_dir_all(dir),
            (9, _) => std::os::unix::fs::symlink(dir, dir.join(name(".link"))),
            (10, _) => std::fs::write(dir.join(name(".skip")), &content),
            (11, Some(f)) => {
                // An editor's save: a new file renamed over the old one.
                let tmp = dir.join(name(".tmp"));
                std::fs::write(&tmp, &content).and_then(|()| std::fs::rename(&tmp, f))
            }
            _ => std::process::Command::new("mkfifo")
                .arg(dir.join(name(".fifo")))
                .status()
                .map(drop),
        };
    }

    fn walk(root: &Path) -> Vec<PathBuf> {
        let mut out = vec![root.to_path_buf()];
        let mut i = 0;
        while i < out.len() {
            if out[i].symlink_metadata().is_ok_and(|m| m.is_dir()) {
                let mut kids: Vec<PathBuf> = std::fs::read_dir(&out[i])
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect();
                kids.sort();
                out.extend(kids);
            }
            i += 1;
        }
        out
    }

    #[tokio::test]
    async fn tracked_cycles_equal_full_scans_through_random_changes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(
            root.join("a/b/k.env"),
            format!("AWS_ACCESS_KEY_ID={KEY_ID}\n"),
        )
        .unwrap();
        let s = scanner();
        let plan = Plan::from_paths(std::slice::from_ref(&root));
        let cancel = AtomicBool::new(false);
        let mut tracker = Tracker::for_trees(std::slice::from_ref(&root), false, true).unwrap();
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        let (mut updates, mut walks) = (0, 0);
        for round in 0..150 {
            if round > 0 {
                for k in 0..rng.usize(1..4) {
                    mutate(&root, &mut rng, round * 10 + k);
                }
            }
            let reuse = tracker.reuse(|_| false, || None).await;
            let incremental = matches!(reuse, Reuse::Update { .. });
            let scanned = s.scan(&plan, &cancel, reuse);
            tracker.finish(scanned.index);
            let (full, _) = s.run(&plan, &cancel, None);
            let (got, want) = (&scanned.outcome, &full);
            assert_eq!(
                got.findings, want.findings,
                "round {round} (update: {incremental})"
            );
            let counters = |o: &crate::scan::ScanOutcome| {
                (
                    o.stats.files,
                    o.stats.skipped,
                    o.stats.errors,
                    o.stats.suppressed,
                )
            };
            assert_eq!(
                counters(got),
                counters(want),
                "round {round} (update: {incremental})"
            );
            if incremental {
                updates += 1;
                assert!(
                    got.stats.cached + 4 >= got.stats.files,
                    "an update reads only what changed"
                );
            } else {
                walks += 1;
            }
        }
        // Both paths were exercised, and most cycles were updates.
        assert!(
            updates > 50 && walks > 10,
            "updates {updates}, walks {walks}"
        );
    }

    const TABLE: &str = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
        40 22 0:40 / /home rw shared:9 - nfs4 srv:/home rw\n\
        41 22 0:41 / /mnt/my\\040disk rw - fuse.sshfs host: rw\n\
        42 40 0:42 / /home/local rw - tmpfs tmpfs rw\n";

    #[test]
    fn the_longest_mount_point_decides_the_file_system() {
        assert_eq!(fs_type_of(TABLE, Path::new("/etc/x")), Some("ext4"));
        assert_eq!(fs_type_of(TABLE, Path::new("/home/ann")), Some("nfs4"));
        assert_eq!(fs_type_of(TABLE, Path::new("/home/local/a")), Some("tmpfs"));
        assert_eq!(fs_type_of(TABLE, Path::new("/homework")), Some("ext4"));
        assert_eq!(
            fs_type_of(TABLE, Path::new("/mnt/my disk/f")),
            Some("fuse.sshfs")
        );
    }
}
