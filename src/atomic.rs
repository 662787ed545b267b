//! Atomic, durable file replacement: the one way the state files and the scan cache are written.
//!
//! Guarantee: after [`write`] returns `Ok`, `path` holds exactly `bytes` (mode 0600) and survives
//! a power cut (file and directory fsynced). After an error or a crash at any point, `path` holds
//! either its old content or the new one, never a mix. The temporary file is
//! `<path with extension tmp.<pid>>` (`findings.tmp.1234`): processes that write the same file
//! (the daemon and a manual `run --once`) never share one, and a file left by a crash is
//! overwritten by the next write of a process with that pid; readers never look at it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename
/// over `path`, fsync of the directory. On error `path` is unchanged and the temporary file is
/// removed.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, |f| f.write_all(bytes))
}

/// Like [`write`], with the content written by `fill` into the (empty) temporary file: for
/// content too large to hold in memory (the scan cache).
pub fn write_with(path: &Path, fill: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = tmp_path(path);
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            fill(&mut f)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

/// Flushes a directory's entries (a rename or a new file in it) to disk.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn tmp_path(path: &Path) -> PathBuf {
    path.with_extension(format!("tmp.{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn replaces_the_file_with_mode_0600_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("state.json");
        fs::write(&target, b"old").unwrap();
        write(&target, b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(
            fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory cannot be renamed over by a file: the rename fails after the data is written.
        let target = dir.path().join("sub");
        fs::create_dir(&target).unwrap();
        assert!(write(&target, b"new").is_err());
        assert!(target.is_dir());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_temporary_file_is_named_after_the_process() {
        let p = Path::new("/x/cache.json");
        let expected = format!("/x/cache.tmp.{}", std::process::id());
        assert_eq!(tmp_path(p), Path::new(&expected));
    }
}
