//! The daemon's one inotify instance and its watch tables. Two kinds of watch share it:
//!
//! - early-cycle watches, added here: the directories of the env files and the configured
//!   trees themselves, so that a key written to `/etc/environment`, a systemd unit or an
//!   `.env` file is reported within seconds. They are bounded ([`MAX_WATCHES`]); when the
//!   kernel's limit is reached the agent says so and relies on its timer for the rest.
//! - tree watches: every directory of the scanned trees, added by the indexing walk (see
//!   [`crate::scan::index`]), whose events feed the incremental cycles of [`super::track`].
//!
//! The kernel gives an inode one watch per instance, so a directory of both kinds has one
//! watch descriptor: the tables say what each descriptor stands for, and [`Watches::unwatch`]
//! removes a kernel watch only once nothing needs it. A reload closes the whole instance.
//!
//! Memory: the tree watches are one sorted list of descriptors (16 bytes a directory; the
//! paths are in the index's [`DirTable`]), the early-cycle watches a map with their paths
//! (at most [`MAX_WATCHES`]).
//!
//! The walk itself removes the watches it added when the budget runs out or a directory left
//! the trees, without these tables: [`Watches::rewatch_early`], after each cycle, puts back an
//! early-cycle watch that went with one. In between (the end of that cycle's walk), a change
//! in that directory is seen at the next cycle only.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::mem;
use std::path::{Path, PathBuf};

use futures_util::{FutureExt, StreamExt};
use inotify::{EventMask, EventOwned, EventStream, Inotify, WatchDescriptor, WatchMask};

use crate::scan::index::{DirTable, WATCH_MASK};

/// At most this many early-cycle watches (the kernel default limit is 8192 per user on many
/// distributions; the agent leaves most of them to other programs).
pub const MAX_WATCHES: usize = 1024;

/// The mask of early-cycle watches: a tree directory's events, so that a watch of both kinds
/// reports the same whichever was added last (an add replaces the mask), on the path as it
/// resolves (a symbolic link is followed) and on files too (a configured tree may be a file).
const EARLY_MASK: WatchMask =
    WATCH_MASK.difference(WatchMask::ONLYDIR.union(WatchMask::DONT_FOLLOW));

/// The events that call for an early cycle: something created, written, re-permissioned or
/// renamed (not removed: a removed key leaves nothing to report early).
const EARLY_EVENTS: EventMask = EventMask::CREATE
    .union(EventMask::MODIFY)
    .union(EventMask::ATTRIB)
    .union(EventMask::MOVED_FROM)
    .union(EventMask::MOVED_TO)
    .union(EventMask::MOVE_SELF);

/// A role of a watch, as [`Watches::unwatch`] drops it.
#[derive(Debug, Clone, Copy)]
enum Role {
    Tree,
    Early,
}

/// The stream's read buffer: the events read from the kernel but not yet taken.
pub(crate) const EVENT_BUFFER_BYTES: usize = 16 * 1024;

/// What one event is about, by the tables.
#[derive(Debug)]
pub(crate) struct Seen {
    /// The watch is a tree directory's.
    pub(crate) tree: bool,
    /// The path that changed, when the change calls for an early cycle.
    pub(crate) early: Option<PathBuf>,
}

/// The inotify instance, its events and the watch table.
#[derive(Debug)]
pub(crate) struct Watches {
    /// The events of the instance (it wakes the daemon when there are some).
    events: EventStream<Vec<u8>>,
    /// The watches of the indexed trees' directories, sorted. One that the kernel dropped
    /// (its directory went away) may stay until the next [`Watches::set_tree_dirs`]: the
    /// agent walks again before it trusts the trees then.
    tree: Vec<WatchDescriptor>,
    /// The early-cycle watches and the paths they watch (an env file's directory or a
    /// configured tree).
    early: HashMap<WatchDescriptor, PathBuf>,
}

impl Watches {
    /// A new inotify instance with no watch.
    pub(crate) fn new() -> io::Result<Watches> {
        Ok(Watches {
            events: Inotify::init()?.into_event_stream(vec![0u8; EVENT_BUFFER_BYTES])?,
            tree: Vec::new(),
            early: HashMap::new(),
        })
    }

    /// The handle the indexing walk adds tree watches with.
    pub(crate) fn handle(&self) -> inotify::Watches {
        self.events.watches()
    }

    /// The next event (cancel-safe).
    pub(crate) async fn next(&mut self) -> Option<io::Result<EventOwned>> {
        self.events.next().await
    }

    /// The next event already read from the kernel, without waiting.
    pub(crate) fn next_now(&mut self) -> Option<io::Result<EventOwned>> {
        self.events.next().now_or_never().flatten()
    }

    /// Watches the directories of `files` (so that editors replacing a file are seen) and
    /// `dirs` (top level only) for early cycles.
    pub(crate) fn watch_early(&mut self, files: &[PathBuf], dirs: &[PathBuf]) {
        let targets: BTreeSet<&Path> = files
            .iter()
            .filter_map(|f| f.parent())
            .chain(dirs.iter().map(PathBuf::as_path))
            .collect();
        let mut handle = self.handle();
        let (mut watched, mut unwatched) = (0, 0);
        for t in targets {
            if watched >= MAX_WATCHES {
                unwatched += 1;
                continue;
            }
            match handle.add(t, EARLY_MASK) {
                Ok(wd) => {
                    watched += 1;
                    self.early.entry(wd).or_insert_with(|| t.to_path_buf());
                }
                // An absent directory (a default tree such as /var/www on a host without one)
                // has nothing to watch and nothing to miss: not worth a warning.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    log::debug!(path:% = t.display(); "absent; not watched");
                }
                Err(e) => {
                    unwatched += 1;
                    if e.raw_os_error() == Some(libc::ENOSPC) {
                        log::warn!(path:% = t.display(); "inotify watch limit reached; the rest is covered by the timer only");
                        break;
                    }
                    log::debug!(path:% = t.display(), error:% = e; "cannot watch");
                }
            }
        }
        if unwatched > 0 {
            log::warn!(watched, unwatched; "not every env file directory is watched; changes there are seen at the next cycle");
        }
    }

    /// Puts every early-cycle watch back on what its path names now: the walk may have
    /// removed a watch that a tree directory shared, or the directory was replaced.
    pub(crate) fn rewatch_early(&mut self) {
        let early: Vec<(WatchDescriptor, PathBuf)> = (self.early.iter())
            .map(|(wd, p)| (wd.clone(), p.clone()))
            .collect();
        let mut handle = self.handle();
        for (wd, path) in early {
            match handle.add(&path, EARLY_MASK) {
                Ok(now) if now == wd => {}
                Ok(now) => {
                    self.unwatch(&wd, Role::Early);
                    self.early.entry(now).or_insert(path);
                }
                Err(e) => {
                    log::debug!(path:% = path.display(), error:% = e; "cannot watch");
                    self.unwatch(&wd, Role::Early);
                }
            }
        }
    }

    /// Makes the watches of `dirs` (`None`: none) the tree watches; the watches of directories
    /// no longer among them are removed.
    pub(crate) fn set_tree_dirs(&mut self, dirs: Option<&DirTable>) {
        let new: Vec<WatchDescriptor> = dirs
            .into_iter()
            .flat_map(DirTable::watches)
            .cloned()
            .collect();
        let old = mem::replace(&mut self.tree, new);
        for wd in old {
            if self.tree.binary_search(&wd).is_err() {
                self.unwatch(&wd, Role::Tree);
            }
        }
    }

    /// What `event` is about. A watch the kernel dropped (its directory removed or unmounted)
    /// leaves the tables.
    pub(crate) fn classify(&mut self, event: &EventOwned) -> Seen {
        let tree = self.tree.binary_search(&event.wd).is_ok();
        let early = (self.early.get(&event.wd))
            .filter(|_| event.mask.intersects(EARLY_EVENTS))
            .map(|p| event.name.as_ref().map_or_else(|| p.clone(), |n| p.join(n)));
        if event.mask.contains(EventMask::IGNORED) {
            self.early.remove(&event.wd);
        }
        Seen { tree, early }
    }

    /// Drops `role` from the watch `wd`, and removes the kernel watch once it has no role
    /// left: the one place where the agent removes watches.
    fn unwatch(&mut self, wd: &WatchDescriptor, role: Role) {
        match role {
            // The caller took it out of `tree` already.
            Role::Tree => {}
            Role::Early => {
                self.early.remove(wd);
            }
        }
        let tree = self.tree.binary_search(wd).is_ok();
        if !tree && !self.early.contains_key(wd) {
            // An error means the kernel dropped it already (its directory is gone).
            let _ = self.handle().remove(wd.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The next event that calls for an early cycle, within a second.
    async fn next_early(w: &mut Watches) -> Option<PathBuf> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while let Ok(Some(Ok(e))) = tokio::time::timeout_at(deadline, w.next()).await {
            if let Some(p) = w.classify(&e).early {
                return Some(p);
            }
        }
        None
    }

    /// The env file `env` (written) watched for early cycles, and the directory `tree`
    /// watched as the walk does.
    fn env_and_tree(env: &Path, tree: &Path) -> (Watches, WatchDescriptor) {
        std::fs::create_dir_all(env.parent().unwrap()).unwrap();
        std::fs::create_dir_all(tree).unwrap();
        std::fs::write(env, "A=1\n").unwrap();
        let mut w = Watches::new().unwrap();
        w.watch_early(&[env.to_path_buf()], &[]);
        let wd = w.handle().add(tree, WATCH_MASK).unwrap();
        (w, wd)
    }

    /// An env file's directory that is also a tree directory: one watch, which stays when the
    /// directory leaves the trees.
    #[tokio::test]
    async fn a_watch_of_both_kinds_outlives_its_tree_role() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("environment");
        let (mut w, wd) = env_and_tree(&env, dir.path());
        w.set_tree_dirs(Some(&DirTable::of([(
            wd.clone(),
            dir.path().to_path_buf(),
        )])));
        assert_eq!(
            (&w.tree, w.early.len()),
            (&vec![wd.clone()], 1),
            "one watch for both"
        );
        assert!(w.early.contains_key(&wd));
        w.set_tree_dirs(None);
        std::fs::write(&env, "A=2\n").unwrap();
        assert_eq!(next_early(&mut w).await, Some(env));
    }

    /// The walk removes a watch it added (budget exhausted) that an env file's directory
    /// shared: the watch is put back after the cycle.
    #[tokio::test]
    async fn an_early_watch_removed_by_the_walk_is_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("app.env");
        let (mut w, wd) = env_and_tree(&env, dir.path());
        w.handle().remove(wd).unwrap();
        w.rewatch_early();
        std::fs::write(&env, "A=2\n").unwrap();
        assert_eq!(next_early(&mut w).await, Some(env));
    }

    /// Neither a removed file nor a tree-only watch calls for an early cycle.
    #[tokio::test]
    async fn only_early_watches_and_writes_call_for_an_early_cycle() {
        let dir = tempfile::tempdir().unwrap();
        let (env, tree) = (dir.path().join("env/e"), dir.path().join("tree"));
        let (mut w, wd) = env_and_tree(&env, &tree);
        w.set_tree_dirs(Some(&DirTable::of([(wd, tree.clone())])));
        std::fs::write(tree.join("f"), "x").unwrap();
        std::fs::remove_file(&env).unwrap();
        assert_eq!(next_early(&mut w).await, None);
    }
}
