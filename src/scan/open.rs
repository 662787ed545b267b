//! Opening the files of a walk by name within their directory.
//!
//! A walk hands a thread the files of one directory together, and opening each by its full
//! path makes the kernel look up every component of it again (a quarter of the kernel time of
//! a scan of small files, `docs/benchmarks.md`). [`Opener`] keeps the last file's directory
//! open (`O_PATH`) and opens (or stats: the restart's check of every file against the scan
//! cache) the next file of that directory by its name alone.
//!
//! What a file's name resolves to is what it resolved to when the directory was opened: a
//! directory renamed or replaced meanwhile is still read as the walk listed it, until the
//! thread goes on to another directory. An opener lives for one scan (a cycle), never longer.
//! A path without a parent or a name (`/`, `..`) is opened as it is.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, Stat};

/// Opens files read-only, non-blocking (a FIFO does not hang the scan) and without taking a
/// terminal, by name within the directory of the file before when they share it.
#[derive(Debug, Default)]
pub(super) struct Opener {
    dir: Option<(PathBuf, OwnedFd)>,
}

/// How every file is opened.
const FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::CLOEXEC);

impl Opener {
    /// Opens `path`.
    pub(super) fn open(&mut self, path: &Path) -> io::Result<File> {
        let (dir, name) = self.at(path)?;
        Ok(rustix::fs::openat(dir, name, FLAGS, Mode::empty())?.into())
    }

    /// Stats `path`, following a symlink (as `std::fs::metadata` does), by name within the
    /// held directory as [`Opener::open`] opens.
    pub(super) fn stat(&mut self, path: &Path) -> io::Result<Stat> {
        let (dir, name) = self.at(path)?;
        Ok(rustix::fs::statat(dir, name, AtFlags::empty())?)
    }

    /// Where `path` is looked up: its name within its (held) directory, or the whole path
    /// from the working directory when it has no parent or name.
    fn at<'p>(&mut self, path: &'p Path) -> io::Result<(BorrowedFd<'_>, &'p OsStr)> {
        match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => Ok((self.dir(parent)?.as_fd(), name)),
            _ => Ok((rustix::fs::CWD, path.as_os_str())),
        }
    }

    /// The directory `parent`, opened unless it is the one held.
    fn dir(&mut self, parent: &Path) -> io::Result<&OwnedFd> {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        // Compared as bytes, not component by component (`Path`'s `==`): a spelling that
        // differs only costs one more open. Another directory is closed first: one that
        // cannot be opened leaves none held.
        let held = (self.dir.take()).filter(|(held, _)| held.as_os_str() == parent.as_os_str());
        let dir = match held {
            Some(d) => d,
            None => {
                let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
                (
                    parent.to_path_buf(),
                    rustix::fs::open(parent, flags, Mode::empty())?,
                )
            }
        };
        Ok(&self.dir.insert(dir).1)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn read(opener: &mut Opener, path: &Path) -> io::Result<String> {
        let mut s = String::new();
        opener.open(path)?.read_to_string(&mut s)?;
        Ok(s)
    }

    #[test]
    fn files_are_opened_within_their_directory_and_across_directories() {
        let d = tempfile::tempdir().unwrap();
        for (dir, name) in [("a", "1"), ("a", "2"), ("b", "1")] {
            std::fs::create_dir_all(d.path().join(dir)).unwrap();
            std::fs::write(d.path().join(dir).join(name), format!("{dir}{name}")).unwrap();
        }
        let mut o = Opener::default();
        for (dir, name) in [("a", "1"), ("a", "2"), ("b", "1"), ("a", "2")] {
            let path = d.path().join(dir).join(name);
            assert_eq!(read(&mut o, &path).unwrap(), format!("{dir}{name}"));
        }
        // A relative path, one without a directory part, and the root (no name).
        let rel = Path::new("Cargo.toml");
        assert!(read(&mut o, rel).unwrap().contains("[package]"));
        assert!(o.open(Path::new("/")).unwrap().metadata().unwrap().is_dir());
        // Stats, by name and whole, are the file's.
        for path in [
            d.path().join("a/1"),
            d.path().join("b/1"),
            rel.to_path_buf(),
        ] {
            let meta = std::fs::metadata(&path).unwrap();
            let st = o.stat(&path).unwrap();
            assert_eq!((st.st_ino, st.st_size as u64), (meta.ino(), meta.len()));
        }
        assert_eq!(
            o.stat(&d.path().join("a/none")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn errors_are_the_open_errors_and_a_fifo_does_not_block() {
        let d = tempfile::tempdir().unwrap();
        let mut o = Opener::default();
        let missing = o.open(&d.path().join("missing")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        let no_dir = o.open(&d.path().join("gone/file")).unwrap_err();
        assert_eq!(no_dir.kind(), io::ErrorKind::NotFound);
        // A file where a directory is expected.
        std::fs::write(d.path().join("f"), "x").unwrap();
        let not_dir = o.open(&d.path().join("f/g")).unwrap_err();
        assert_eq!(not_dir.raw_os_error(), Some(libc::ENOTDIR));
        // The directory that failed is not held: the next file of a good one opens.
        std::fs::write(d.path().join("h"), "y").unwrap();
        assert_eq!(read(&mut o, &d.path().join("h")).unwrap(), "y");

        let fifo = d.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let mut f = o.open(&fifo).unwrap();
        let mut buf = [0u8; 8];
        // No writer: a non-blocking read of a FIFO answers at once (EOF).
        assert_eq!(f.read(&mut buf).unwrap(), 0);
    }
}
