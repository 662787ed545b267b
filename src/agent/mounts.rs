//! The mount table, as change tracking needs it: whether a tree lies on a file system where
//! inotify sees every change, and whether the mounts that matter to the trees changed (a file
//! system mounted or unmounted inside a tree sends no inotify event). Read from
//! `/proc/self/mountinfo` at each cycle; a table that cannot be read counts as a network file
//! system (not tracked).
//!
//! Only mounts inside a tree, or at or above a tree's root, count: container hosts mount and
//! unmount all the time elsewhere (`/var/lib/docker`, `/run/containerd`,
//! `/var/lib/kubelet/pods`), and each such change must not make the next cycle walk.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

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

/// The mount table as last seen, and whether every tree lay on a local file system then.
#[derive(Debug)]
pub(crate) struct Mounts {
    hash: u64,
    trees: Vec<PathBuf>,
    local: bool,
}

impl Mounts {
    /// The mount table now, for `trees` (logs a tree that is not on a local file system).
    pub(crate) fn new(trees: &[PathBuf]) -> Mounts {
        Mounts {
            hash: mounts_hash(trees),
            trees: trees.to_vec(),
            local: all_local(trees),
        }
    }

    /// Whether the mount table changed since it was last looked at; when it did, whether the
    /// trees are local is checked again (a move to or from a network file system is logged).
    pub(crate) fn changed(&mut self) -> bool {
        let hash = mounts_hash(&self.trees);
        if hash == self.hash {
            return false;
        }
        self.hash = hash;
        let local = all_local(&self.trees);
        if local != self.local {
            log::info!(tracked = local; "a tree moved to or from a network file system");
            self.local = local;
        }
        true
    }

    /// Whether every tree lies on a file system where inotify sees every change.
    pub(crate) fn local(&self) -> bool {
        self.local
    }
}

/// Whether every tree lies on a file system where inotify sees every change (logged if not).
fn all_local(trees: &[PathBuf]) -> bool {
    match trees.iter().find(|t| !on_local_fs(t)) {
        None => true,
        Some(t) => {
            log::info!(path:% = t.display(); "a tree is not on a local file system: every cycle checks each of its files");
            false
        }
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
#[doc(hidden)]
pub fn fs_type_of<'a>(table: &'a str, path: &Path) -> Option<&'a str> {
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

/// A hash of the mount table's lines that matter to `trees` (0 when it cannot be read).
fn mounts_hash(trees: &[PathBuf]) -> u64 {
    let mut roots: Vec<PathBuf> = trees.to_vec();
    roots.extend(trees.iter().filter_map(|t| t.canonicalize().ok()));
    std::fs::read_to_string("/proc/self/mountinfo").map_or(0, |table| relevant_hash(&table, &roots))
}

/// The hash of the mountinfo lines whose mount point lies inside one of `roots` or at or above
/// one (a mount over an ancestor changes what the tree is).
#[doc(hidden)]
pub fn relevant_hash(table: &str, roots: &[PathBuf]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    for line in table.lines() {
        let Some(mount) = line.split(' ').nth(4).map(unescape_mount) else {
            continue;
        };
        if roots
            .iter()
            .any(|r| mount.starts_with(r) || r.starts_with(&mount))
        {
            line.hash(&mut h);
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
        40 22 0:40 / /home rw shared:9 - nfs4 srv:/home rw\n\
        41 22 0:41 / /mnt/my\\040disk rw - fuse.sshfs host: rw\n\
        42 40 0:42 / /home/local rw - tmpfs tmpfs rw\n";

    #[test]
    fn only_mounts_in_or_above_a_tree_change_the_hash() {
        let trees = [PathBuf::from("/srv/app"), PathBuf::from("/home")];
        let base = relevant_hash(TABLE, &trees);
        let with = |line: &str| relevant_hash(&format!("{TABLE}{line}\n"), &trees);
        // Container churn elsewhere: no change.
        assert_eq!(
            with("50 22 0:50 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw"),
            base
        );
        assert_eq!(with("51 22 0:51 / /run/containerd/io.containerd.runtime.v2.task/k8s.io/y rw - tmpfs tmpfs rw"), base);
        // Inside a tree, or over a tree's ancestor: a change.
        assert_ne!(
            with("52 22 0:52 / /srv/app/data rw - ext4 /dev/sdb1 rw"),
            base
        );
        assert_ne!(with("53 22 0:53 / /srv rw - xfs /dev/sdc1 rw"), base);
        assert_ne!(with("54 40 0:54 / /home/bob rw - tmpfs tmpfs rw"), base);
        // The root file system remounted (it is above every tree): a change.
        assert_ne!(
            relevant_hash(&TABLE.replace("/ / rw,relatime", "/ / ro,relatime"), &trees),
            base
        );
    }

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
