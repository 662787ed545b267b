//! What the agent remembers between cycles, under `agent.state_dir` (mode 0700):
//!
//! - [`FindingState`]: the findings of the last complete scan, by finding id, so that each
//!   cycle reports only changes ([`FindingChanges`]: new, still present, resolved);
//! - [`Outbox`]: the bounded, durable queue of what is still to be delivered to CloudWatch;
//! - [`DeliveredKeys`]: the keys of the finding changes already delivered from the current
//!   finding-state generation, so that a change is not queued again while the state cannot
//!   move on (see [`FindingState::generation`]);
//! - [`PidFile`] and [`CycleRecord`]: whether the daemon runs and what its last cycle did, for
//!   `credhygiene status`.
//!
//! None holds a secret: a [`Finding`](crate::finding::Finding) carries only a fingerprint and a 4-character prefix, and
//! a change key is made of a finding id, `new`/`resolved` and a generation (hex digests).
//!
//! The outbox is one JSON-lines file. Adding entries appends and fsyncs them *before* anything
//! is sent; an append that fails (disk full, I/O error) is cut back to the file's previous
//! length, so an append either happens whole or not at all, in the file and in memory.
//! Removing delivered entries rewrites the file atomically (temporary file, fsync, rename,
//! fsync of the directory). A crash at any point leaves either the old or the new file; a torn
//! line (a crash in the middle of an append) is skipped on load, and a whole entry written
//! after torn bytes is still recovered. When the file would grow beyond its bound, the oldest
//! entries are dropped and counted.

mod daemon;
mod delivered;
mod findings;
mod outbox;

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use daemon::{CycleRecord, PidFile, Runner, SinkState, PID_FILE, STATUS_FILE};
pub use delivered::{DeliveredKeys, DELIVERED_FILE};
pub use findings::{FindingChanges, FindingState, HeldState, FINDINGS_FILE};
pub(crate) use outbox::lock;
pub use outbox::{Outbox, OutboxCounts, OutboxEntry, OUTBOX_FILE};

/// Version of the files' formats; a file of another version is set aside, not misread.
const FORMAT_VERSION: u32 = 1;

/// Why a state file is not valid JSON of its shape, in words that quote nothing of it, with
/// the line and column: serde_json's own text quotes the values and keys it stumbles on, and a
/// torn or hostile file's content must not reach an error or a log line
/// (fuzz/artifacts/status, fuzz/artifacts/securityhub_store).
pub(crate) fn json_error(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "JSON of another shape",
        serde_json::error::Category::Eof => "JSON cut short",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// A state file or directory that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state directory could not be created or given mode 0700.
    #[error("cannot prepare state directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The state directory could not be read (`credhygiene status` as a user who may not).
    #[error("cannot read the state directory {path}: {reason}")]
    DirUnreadable {
        /// The directory, as configured.
        path: PathBuf,
        /// Why, with a hint when there is one (e.g. `Permission denied (run as root)`).
        reason: String,
    },
    /// A state file could not be read.
    #[error("cannot read state file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A state file could not be written or synced.
    #[error("cannot write state file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Another process (a second agent, a manual `run --once`) holds the outbox.
    #[error("outbox {path} is in use by another credhygiene process")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A state file is not valid JSON of the expected shape.
    #[error("state file {path} is corrupt: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
}

/// Creates `dir` (and parents) if needed and makes it mode 0700.
pub fn prepare_dir(dir: &Path) -> Result<(), StateError> {
    let err = |source| StateError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(err)?;
    let meta = fs::metadata(dir).map_err(err)?;
    if meta.permissions().mode() & 0o777 != 0o700 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
}

/// Writes a state file atomically and durably ([`crate::atomic::write`]), mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    crate::atomic::write(path, bytes).map_err(|source| StateError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No temporary file of `write_atomic` or of an outbox rewrite is left in `dir`.
    pub(super) fn assert_no_temporary_file(dir: &Path) {
        let names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp.")), "{names:?}");
    }

    /// A removal that cannot be written leaves the entries out of memory (they were
    /// delivered); the next write rewrites the file whole, so they do not come back.
    #[test]
    fn write_atomic_leaves_the_old_file_and_no_temporary_file_on_error() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("f.json");
        write_atomic(&target, b"old").unwrap();
        let blocker = target.with_extension(format!("tmp.{}", std::process::id()));
        fs::create_dir(&blocker).unwrap();
        assert!(write_atomic(&target, b"new").is_err());
        fs::remove_dir(&blocker).unwrap();
        // The target replaced by a non-empty directory: the rename fails after the write.
        let dir_target = tmp.path().join("d.json");
        fs::create_dir(&dir_target).unwrap();
        fs::write(dir_target.join("x"), b"").unwrap();
        let err = write_atomic(&dir_target, b"new").unwrap_err();
        assert!(err.to_string().contains("d.json"), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert_no_temporary_file(tmp.path());
    }
}
