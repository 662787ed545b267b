//! The watched directories of the indexed trees, compactly: a directory is its parent's
//! number and its own name, the names in one byte buffer, and the watch descriptors in one
//! sorted list (issue 15: memory flat in the size of the trees).
//!
//! A directory costs 12 bytes, its name, and 24 bytes for its watch (a [`WatchDescriptor`]
//! and the directory's number): about 40 bytes, against some 300 for a map of owned paths
//! by watch descriptor. Its path is rebuilt from the parent chain when a change in it is to
//! be read (a few per cycle). While the walk builds the table, a map from path key to
//! directory (about 30 bytes a directory) finds each directory's parent; it goes with the
//! walk.
//!
//! A directory whose parent is not in the table (a tree root, or one whose parent could not
//! be watched) holds its whole path as its name. One directory at two paths (a bind mount)
//! has one watch and two entries: a watch stands for every path it has.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use inotify::WatchDescriptor;

use super::cache::key_of;

/// The parent of a directory that holds its whole path.
const NO_PARENT: u32 = u32::MAX;

/// One directory: its parent and where its name lies in [`DirTable::names`].
#[derive(Debug, Clone, Copy)]
struct Node {
    parent: u32,
    start: u32,
    len: u32,
}

/// The watched directories of the indexed trees.
#[derive(Debug, Clone, Default)]
pub struct DirTable {
    nodes: Vec<Node>,
    names: Vec<u8>,
    /// (watch, directory), sorted by watch.
    by_wd: Vec<(WatchDescriptor, u32)>,
}

impl DirTable {
    /// How many watches (directories, each counted once however many paths it has).
    pub fn len(&self) -> usize {
        let mut n = 0;
        let mut last: Option<&WatchDescriptor> = None;
        for (wd, _) in &self.by_wd {
            if last != Some(wd) {
                n += 1;
            }
            last = Some(wd);
        }
        n
    }

    /// Whether no directory is watched.
    pub fn is_empty(&self) -> bool {
        self.by_wd.is_empty()
    }

    /// Whether `wd` is the watch of a directory of the table.
    pub fn contains(&self, wd: &WatchDescriptor) -> bool {
        self.range(wd).next().is_some()
    }

    /// The watches of the table, each once, in order.
    pub fn watches(&self) -> impl Iterator<Item = &WatchDescriptor> {
        let mut last: Option<&WatchDescriptor> = None;
        self.by_wd.iter().filter_map(move |(wd, _)| {
            let new = last != Some(wd);
            last = Some(wd);
            new.then_some(wd)
        })
    }

    /// The paths of the directory watched by `wd` (none for another watch).
    pub fn paths<'s>(&'s self, wd: &'s WatchDescriptor) -> impl Iterator<Item = PathBuf> + 's {
        self.range(wd).map(|&(_, node)| self.path(node))
    }

    /// The entries of `wd` in `by_wd`.
    fn range<'s>(
        &'s self,
        wd: &'s WatchDescriptor,
    ) -> impl Iterator<Item = &'s (WatchDescriptor, u32)> {
        let from = self.by_wd.partition_point(|(w, _)| w < wd);
        self.by_wd[from..].iter().take_while(move |(w, _)| w == wd)
    }

    /// The path of directory `node`, rebuilt from its parent chain.
    fn path(&self, node: u32) -> PathBuf {
        let mut chain = Vec::new();
        let mut at = node;
        // A parent always comes before its child, so the chain ends.
        while let Some(n) = self.nodes.get(at as usize) {
            chain.push(self.name(n));
            if n.parent >= at {
                break;
            }
            at = n.parent;
        }
        let mut path = PathBuf::new();
        for name in chain.iter().rev() {
            path.push(name);
        }
        path
    }

    fn name(&self, n: &Node) -> &OsStr {
        let (start, len) = (n.start as usize, n.len as usize);
        OsStr::from_bytes(self.names.get(start..start + len).unwrap_or_default())
    }

    /// The heap bytes the table holds (tests and the benchmark notes look at it).
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.names.capacity()
            + self.by_wd.capacity() * std::mem::size_of::<(WatchDescriptor, u32)>()
    }
}

#[cfg(test)]
impl DirTable {
    /// The table of `dirs` (watch, path), parents before children.
    pub(crate) fn of(dirs: impl IntoIterator<Item = (WatchDescriptor, PathBuf)>) -> DirTable {
        let mut b = DirTableBuilder::default();
        for (wd, dir) in dirs {
            b.add(wd, &dir);
        }
        b.finish()
    }
}

/// Builds a [`DirTable`] while the walk adds its watches, parents before children.
#[derive(Debug, Default)]
pub(super) struct DirTableBuilder {
    table: DirTable,
    /// Directory by [`key_of`] its path, to find a new directory's parent.
    by_key: HashMap<u64, u32>,
}

impl DirTableBuilder {
    /// Adds the directory `dir`, watched by `wd`.
    pub(super) fn add(&mut self, wd: WatchDescriptor, dir: &Path) {
        let Ok(at) = u32::try_from(self.table.nodes.len()) else {
            return; // unreachable: the watch budget is far below 2^32
        };
        let parent = match (dir.parent(), dir.file_name()) {
            (Some(p), Some(name)) => self.node_of(p).map(|node| (node, name)),
            _ => None,
        };
        let (parent, name) = match parent {
            Some((node, name)) => (node, name.as_bytes()),
            None => (NO_PARENT, dir.as_os_str().as_bytes()),
        };
        let (Ok(start), Ok(len)) = (
            u32::try_from(self.table.names.len()),
            u32::try_from(name.len()),
        ) else {
            return;
        };
        self.table.names.extend_from_slice(name);
        self.table.nodes.push(Node { parent, start, len });
        self.table.by_wd.push((wd, at));
        self.by_key.insert(key_of(dir), at);
    }

    /// The directory at `path`, if the table has it (its last name checked against the key's).
    fn node_of(&self, path: &Path) -> Option<u32> {
        let &node = self.by_key.get(&key_of(path))?;
        let n = self.table.nodes.get(node as usize)?;
        let name = self.table.name(n);
        let same = if n.parent == NO_PARENT {
            name == path.as_os_str()
        } else {
            Some(name) == path.file_name()
        };
        same.then_some(node)
    }

    /// The watches added so far.
    pub(super) fn watches(&self) -> impl Iterator<Item = &WatchDescriptor> {
        self.table.by_wd.iter().map(|(wd, _)| wd)
    }

    /// The table, sorted by watch and trimmed to size.
    pub(super) fn finish(self) -> DirTable {
        let mut t = self.table;
        t.by_wd.sort_unstable();
        t.by_wd.dedup();
        t.nodes.shrink_to_fit();
        t.names.shrink_to_fit();
        t.by_wd.shrink_to_fit();
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inotify::{Inotify, WatchMask};

    #[test]
    fn paths_are_rebuilt_from_the_parent_chain() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let (a, b, c) = (root.join("a"), root.join("a/b"), root.join("c"));
        let orphan = dir.path().join("elsewhere/x");
        for d in [&b, &c, &orphan] {
            std::fs::create_dir_all(d).unwrap();
        }
        let ino = Inotify::init().unwrap();
        let mut watches = ino.watches();
        let mut builder = DirTableBuilder::default();
        let mut wds = Vec::new();
        for d in [&root, &a, &b, &c, &orphan] {
            let wd = watches.add(d, WatchMask::CREATE).unwrap();
            builder.add(wd.clone(), d);
            wds.push(wd);
        }
        // The same directory again at another path (as a bind mount shows it).
        builder.add(wds[2].clone(), &root.join("c/alias"));
        assert_eq!(builder.watches().count(), 6);
        let table = builder.finish();
        assert_eq!(table.len(), 5);
        assert_eq!(table.watches().count(), 5);
        let paths = |i: usize| table.paths(&wds[i]).collect::<Vec<_>>();
        assert_eq!(paths(0), vec![root.clone()]);
        assert_eq!(paths(1), vec![a]);
        let mut both = paths(2);
        both.sort();
        assert_eq!(both, vec![b, root.join("c/alias")]);
        assert_eq!(paths(3), vec![c]);
        assert_eq!(paths(4), vec![orphan]);
        assert!(table.contains(&wds[4]));
        watches.remove(wds[4].clone()).unwrap();
        let other = watches.add(dir.path(), WatchMask::CREATE).unwrap();
        assert!(!table.contains(&other));
        assert_eq!(table.paths(&other).count(), 0);
    }

    #[test]
    fn a_name_that_is_not_utf8_keeps_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join(OsStr::from_bytes(b"caf\xe9"));
        std::fs::create_dir(&odd).unwrap();
        let ino = Inotify::init().unwrap();
        let mut watches = ino.watches();
        let mut builder = DirTableBuilder::default();
        let (w0, w1) = (
            watches.add(dir.path(), WatchMask::CREATE).unwrap(),
            watches.add(&odd, WatchMask::CREATE).unwrap(),
        );
        builder.add(w0, dir.path());
        builder.add(w1.clone(), &odd);
        let table = builder.finish();
        assert_eq!(table.paths(&w1).collect::<Vec<_>>(), vec![odd]);
    }

    /// The table of 10,000 directories stays near 40 bytes a directory plus names.
    #[test]
    fn a_directory_costs_a_few_dozen_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let ino = Inotify::init().unwrap();
        let wd = ino.watches().add(dir.path(), WatchMask::CREATE).unwrap();
        let mut builder = DirTableBuilder::default();
        builder.add(wd.clone(), Path::new("/srv/tree"));
        for i in 0..100 {
            let srv = PathBuf::from(format!("/srv/tree/srv{i:03}"));
            builder.add(wd.clone(), &srv);
            for j in 0..100 {
                builder.add(wd.clone(), &srv.join(format!("app{j:03}")));
            }
        }
        let table = builder.finish();
        let per_dir = table.heap_bytes() / 10_101;
        assert!(per_dir <= 48, "{per_dir} bytes a directory");
    }
}
