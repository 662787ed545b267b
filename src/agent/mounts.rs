//! The mount table, as change tracking needs it: whether a tree lies on a file system where
//! inotify sees every change, and whether the table changed (a file system mounted or
//! unmounted inside a tree sends no inotify event). Read from `/proc/self/mountinfo` at each
//! cycle; a table that cannot be read counts as a network file system (not tracked).

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
            hash: mount_table_hash(),
            trees: trees.to_vec(),
            local: all_local(trees),
        }
    }

    /// Whether the mount table changed since it was last looked at; when it did, whether the
    /// trees are local is checked again (a move to or from a network file system is logged).
    pub(crate) fn changed(&mut self) -> bool {
        let hash = mount_table_hash();
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

/// A hash of the mount table.
fn mount_table_hash() -> u64 {
    std::fs::read("/proc/self/mountinfo")
        .map_or(0, |b| crate::scan::path_key(&String::from_utf8_lossy(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

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
