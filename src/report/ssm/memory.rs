//! What the Systems Manager sink remembers under `state_dir` ([`MEMORY_FILE`], one JSON
//! document replaced atomically, mode 0600): the request waiting to be delivered (its outbox of
//! one: a newer picture replaces it, since `COMPLETE` makes the older one moot), what the
//! service last answered, and whether the sink is inactive and since when.
//!
//! Guarantees: the file is written before a request is sent and after its answer, each time
//! whole ([`crate::atomic`]): a crash at any point leaves the previous state or the next one,
//! so a request is never lost (it is sent again after a restart; sending twice is harmless,
//! the second `COMPLETE` replaces the first with the same set). It holds no secret: the request
//! is built without one ([`super::items`]). The lock ([`lock`]) keeps a `run --once` and the
//! daemon from interleaving their read-send-write steps.

use std::fs::{self, File};
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::items::Request;
use crate::state::{write_atomic, StateError};

/// The sink's file in the state directory.
pub const MEMORY_FILE: &str = "ssm-compliance.json";
/// Format version of [`MEMORY_FILE`].
const VERSION: u32 = 1;

/// The last answer the service gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Last {
    /// [`Request::digest`] of the request answered.
    pub digest: String,
    /// When it was answered, epoch seconds.
    pub at: u64,
    /// `None`: delivered; else why the service refused it for good (it is not sent again
    /// until the set changes or the daily refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// The sink is inactive (the instance is not managed, or the role may not call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inactive {
    /// Why, in one sentence.
    pub reason: String,
    /// When the service said so, epoch seconds.
    pub since: u64,
}

/// The content of [`MEMORY_FILE`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// The request not yet answered.
    #[serde(default)]
    pub pending: Option<Request>,
    /// The last answer.
    #[serde(default)]
    pub last: Option<Last>,
    /// Set while the sink is inactive.
    #[serde(default)]
    pub inactive: Option<Inactive>,
}

#[derive(Serialize, Deserialize)]
struct File1 {
    version: u32,
    #[serde(flatten)]
    memory: Memory,
}

impl Memory {
    /// Reads the file in `dir`. Missing means nothing remembered; an unreadable or foreign file
    /// is logged and treated the same (at worst the current set is sent once more).
    pub fn load(dir: &Path) -> Memory {
        Memory::read(dir)
            .unwrap_or_else(|why| {
                log::warn!(path:% = dir.join(MEMORY_FILE).display(), reason = why;
                "the Systems Manager sink's state is not readable; starting without it");
                None
            })
            .unwrap_or_default()
    }

    /// Reads the file in `dir` without the lock (it is only ever replaced whole), for
    /// `credhygiene status`: `Ok(None)` without a file, `Err(why)` when it cannot be read or is
    /// not of this version.
    pub fn read(dir: &Path) -> Result<Option<Memory>, String> {
        let bytes = match fs::read(dir.join(MEMORY_FILE)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        match serde_json::from_slice::<File1>(&bytes) {
            Ok(f) if f.version == VERSION => Ok(Some(f.memory)),
            Ok(f) => Err(format!("format version {}, expected {VERSION}", f.version)),
            // serde_json's own text quotes what it stumbles on: a planted value would reach the
            // log (fuzz/artifacts/ssm_memory).
            Err(e) => Err(crate::state::json_error(&e)),
        }
    }

    /// Writes it to `dir`, atomically.
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let path = dir.join(MEMORY_FILE);
        let file = File1 {
            version: VERSION,
            memory: self.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            message: format!("cannot serialise: {e}"),
        })?;
        write_atomic(&path, &bytes)
    }
}

/// Takes the exclusive lock `ssm-compliance.json.lock` in `dir` for as long as the returned
/// file is open; [`StateError::Locked`] when another process holds it (it delivers the same
/// picture, so this one leaves it to it).
pub(super) fn lock(dir: &Path) -> Result<File, StateError> {
    crate::state::lock(dir, MEMORY_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_a_foreign_file_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Memory::load(dir.path()), Memory::default());
        let m = Memory {
            pending: None,
            last: Some(Last {
                digest: "ab".into(),
                at: 7,
                refused: None,
            }),
            inactive: Some(Inactive {
                reason: "r".into(),
                since: 5,
            }),
        };
        m.save(dir.path()).unwrap();
        assert_eq!(Memory::load(dir.path()), m);
        fs::write(dir.path().join(MEMORY_FILE), b"{\"version\": 9}").unwrap();
        assert_eq!(Memory::load(dir.path()), Memory::default());
    }

    /// fuzz/artifacts/ssm_memory/crash-secret-in-serde-error: a value of the wrong type was
    /// quoted by serde's error, which `load` logs.
    #[test]
    fn an_unreadable_file_is_reported_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let planted = "V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw";
        let doc = format!(r#"{{"version": 1, "pending": "{planted}", "last": {{"digest": 1}}}}"#);
        fs::write(dir.path().join(MEMORY_FILE), doc).unwrap();
        let why = Memory::read(dir.path()).unwrap_err();
        assert!(!why.contains(&planted[..12]), "{why}");
        assert!(why.contains("line 1"), "{why}");
    }

    #[test]
    fn a_second_lock_is_refused_while_the_first_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        assert!(matches!(lock(dir.path()), Err(StateError::Locked { .. })));
        drop(held);
        assert!(lock(dir.path()).is_ok());
    }
}
