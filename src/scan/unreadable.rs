//! Sources a scan could not read this time although they may still be there. A scan that
//! cannot read a source knows nothing about its keys: the agent carries that source's previous
//! findings forward as still present instead of reporting them resolved (and new again once
//! the source is readable).
//!
//! What counts as unreadable:
//! - a file or directory whose open, stat, listing or read failed with an error other than
//!   "not found" (`EACCES`, `EIO`, `ESTALE` …). A path that is not found was deleted (or
//!   vanished mid-scan): it is gone, and its findings resolve;
//! - a configured tree whose root is missing (an unmounted volume). This lasts as long as the
//!   root is missing: to let the findings of a tree that is gone for good resolve, remove it
//!   from `scan.paths`;
//! - user-data that IMDS did not hand out (unreachable, throttled, failing, undecodable). An
//!   instance without user-data (404) has none, and its user-data findings resolve.

use std::collections::HashMap;
use std::fmt::Display;
use std::io;
use std::path::Path;

/// A source the scan could not read although it may still exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The file, directory, tree root or in-memory source (`imds:/latest/user-data`), named
    /// as the findings in it name their `path`.
    pub path: String,
    /// Why, for the log: an I/O or IMDS error message (never content).
    pub reason: String,
    /// Nothing is there to read right now: a configured tree whose root does not exist, or
    /// user-data when IMDS is out of reach (off EC2). The agent still carries the source's
    /// findings; `scan` does not call the host "not proven clean" for it.
    pub absent: bool,
}

impl Unreadable {
    /// An unreadable source with its reason.
    pub fn new(path: impl Into<String>, reason: impl Display) -> Unreadable {
        Unreadable {
            path: path.into(),
            reason: reason.to_string(),
            absent: false,
        }
    }

    /// The same source, marked as absent rather than refused (see [`Unreadable::absent`]).
    pub fn absent(self) -> Unreadable {
        Unreadable {
            absent: true,
            ..self
        }
    }

    /// A configured tree whose root does not exist (or cannot be looked at) this time.
    pub fn missing_root(root: &Path) -> Unreadable {
        match std::fs::metadata(root) {
            Ok(_) => Unreadable::new(
                root.to_string_lossy(),
                "configured tree was missing when the scan was planned",
            )
            .absent(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Unreadable::new(
                root.to_string_lossy(),
                format!("configured tree is missing: {e}"),
            )
            .absent(),
            Err(e) => Unreadable::new(
                root.to_string_lossy(),
                format!("configured tree is missing: {e}"),
            ),
        }
    }

    /// The source behind an I/O error on `path`, or `None` when the path was not found: a file
    /// that is gone is not unreadable, and its findings resolve.
    pub fn from_io(path: &str, e: &io::Error) -> Option<Unreadable> {
        (e.kind() != io::ErrorKind::NotFound).then(|| Unreadable::new(path, e))
    }

    /// The source behind an error of the directory walk (a directory that cannot be listed, an
    /// entry that cannot be stat'ed), or `None` when the path was not found, when the error is
    /// not an I/O error (a symlink loop) or names no path.
    pub fn from_walk(e: &ignore::Error) -> Option<Unreadable> {
        let path = walk_error_path(e)?;
        Unreadable::from_io(&path.to_string_lossy(), e.io_error()?)
    }

    /// Whether a finding at `path` lies in this source: the source itself, or a path under it
    /// when it is a directory.
    pub fn covers(&self, path: &str) -> bool {
        ancestors(path).any(|p| p == key(&self.path))
    }
}

fn walk_error_path(e: &ignore::Error) -> Option<&Path> {
    match e {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error_path(err)
        }
        _ => None,
    }
}

/// A source's path as looked up: without a trailing `/` (the root `/` becomes the empty
/// string, an ancestor of every absolute path).
fn key(path: &str) -> &str {
    path.trim_end_matches('/')
}

/// `path` and its ancestors at `/` boundaries: `/a/b`, `/a`, `` (the root).
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(key(path)), |p| p.rfind('/').map(|i| &p[..i]))
}

/// The unreadable sources of one scan, indexed to find the one a finding lies in.
#[derive(Debug)]
pub struct Coverage<'a> {
    by_path: HashMap<&'a str, &'a Unreadable>,
}

impl<'a> Coverage<'a> {
    /// An index over `sources`.
    pub fn new(sources: &'a [Unreadable]) -> Coverage<'a> {
        Coverage {
            by_path: sources.iter().map(|u| (key(&u.path), u)).collect(),
        }
    }

    /// Whether there is no unreadable source.
    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }

    /// The unreadable source a finding at `path` lies in (the nearest one, when directories
    /// nest), if any. Costs one lookup per path component.
    pub fn source_of(&self, path: &str) -> Option<&'a Unreadable> {
        ancestors(path).find_map(|p| self.by_path.get(p).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_covers_itself_and_what_lies_under_it() {
        let dir = Unreadable::new("/srv/app/", "EACCES");
        assert!(dir.covers("/srv/app"));
        assert!(dir.covers("/srv/app/.env"));
        assert!(dir.covers("/srv/app/a/b/c"));
        assert!(!dir.covers("/srv/application/.env"), "a component boundary");
        assert!(!dir.covers("/srv"));
        let ud = Unreadable::new("imds:/latest/user-data", "throttled");
        assert!(ud.covers("imds:/latest/user-data"));
        assert!(!ud.covers("imds:/latest/user-data-2"));
        assert!(Unreadable::new("/", "EIO").covers("/etc/environment"));
    }

    #[test]
    fn coverage_finds_the_nearest_source() {
        let sources = [
            Unreadable::new("/srv", "missing"),
            Unreadable::new("/srv/app/.env", "EACCES"),
            Unreadable::new("imds:/latest/user-data", "throttled"),
        ];
        let c = Coverage::new(&sources);
        assert_eq!(c.source_of("/srv/app/.env").unwrap().reason, "EACCES");
        assert_eq!(c.source_of("/srv/app/other").unwrap().reason, "missing");
        assert_eq!(
            c.source_of("imds:/latest/user-data").unwrap().reason,
            "throttled"
        );
        assert!(c.source_of("/etc/environment").is_none());
        assert!(c.source_of("/proc/1/environ").is_none());
        assert!(Coverage::new(&[]).is_empty());
    }

    #[test]
    fn not_found_is_gone_and_other_errors_are_unreadable() {
        let gone = io::Error::from(io::ErrorKind::NotFound);
        assert!(Unreadable::from_io("/srv/k", &gone).is_none());
        let denied = io::Error::from_raw_os_error(libc::EACCES);
        let u = Unreadable::from_io("/srv/k", &denied).unwrap();
        assert_eq!(u.path, "/srv/k");
        assert!(u.reason.contains("denied"), "{}", u.reason);

        let walk = |e: io::Error| ignore::Error::WithPath {
            path: "/srv/locked".into(),
            err: Box::new(ignore::Error::WithDepth {
                depth: 2,
                err: Box::new(ignore::Error::Io(e)),
            }),
        };
        assert_eq!(
            Unreadable::from_walk(&walk(io::Error::from_raw_os_error(libc::EIO)))
                .unwrap()
                .path,
            "/srv/locked"
        );
        assert!(Unreadable::from_walk(&walk(io::Error::from(io::ErrorKind::NotFound))).is_none());
        let looped = ignore::Error::Loop {
            ancestor: "/srv".into(),
            child: "/srv/up".into(),
        };
        let looped = ignore::Error::WithPath {
            path: "/srv/up".into(),
            err: Box::new(looped),
        };
        assert!(Unreadable::from_walk(&looped).is_none());
    }

    #[test]
    fn a_missing_root_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("unmounted");
        let u = Unreadable::missing_root(&root);
        assert_eq!(u.path, root.to_string_lossy());
        assert!(
            u.reason.starts_with("configured tree is missing"),
            "{}",
            u.reason
        );
    }
}
