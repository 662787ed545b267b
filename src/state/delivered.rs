//! The keys of the finding changes already delivered from the current finding-state
//! generation.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{write_atomic, StateError, FORMAT_VERSION};

/// File name of the delivered change keys ([`DeliveredKeys`]) inside the state directory.
pub const DELIVERED_FILE: &str = "delivered.json";

#[derive(Deserialize)]
struct DeliveredFile {
    version: u32,
    generation: String,
    keys: BTreeSet<String>,
}

/// The keys of the finding changes already delivered from one finding-state generation
/// (`state_dir/delivered.json`, written atomically), so that a change is not queued again
/// after its delivery while the finding state cannot move on: when `findings.json` cannot be
/// written, or after a crash between queueing and committing, when the outbox is flushed
/// before the next cycle recomputes the same changes.
///
/// Only the latest generation is kept: [`DeliveredKeys::begin`] forgets the keys of any other
/// one. A key is `finding id:change:generation` (hex digests and a word), never a secret. The
/// file belongs to the holder of the outbox lock.
#[derive(Debug)]
pub struct DeliveredKeys {
    path: PathBuf,
    generation: Option<String>,
    keys: BTreeSet<String>,
}

impl DeliveredKeys {
    /// Loads the keys from `dir`. A missing file means none; an unreadable or foreign one is
    /// logged and treated as none (at worst a change is delivered twice, never lost).
    pub fn load(dir: &Path) -> DeliveredKeys {
        let path = dir.join(DELIVERED_FILE);
        let mut keys = DeliveredKeys {
            path,
            generation: None,
            keys: BTreeSet::new(),
        };
        let bytes = match fs::read(&keys.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return keys,
            Err(e) => {
                log::warn!(path:% = keys.path.display(), error:% = e;
                    "cannot read the delivered change keys; starting without them");
                return keys;
            }
        };
        match serde_json::from_slice::<DeliveredFile>(&bytes) {
            Ok(f) if f.version == FORMAT_VERSION => {
                keys.generation = Some(f.generation);
                keys.keys = f.keys;
            }
            Ok(_) | Err(_) => {
                log::warn!(path:% = keys.path.display();
                    "the delivered change keys file is not readable; starting without it");
            }
        }
        keys
    }

    /// The generation the keys belong to (`None` before the first [`DeliveredKeys::begin`]).
    pub fn generation(&self) -> Option<&str> {
        self.generation.as_deref()
    }

    /// Whether the change `key` was delivered.
    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Makes `generation` the current one: when it is another than the current, the keys are
    /// forgotten and the new generation is written to the file before this returns (so that
    /// after a restart, deliveries of this generation's changes are recorded). On error
    /// nothing changes.
    pub fn begin(&mut self, generation: &str) -> Result<(), StateError> {
        if self.generation.as_deref() == Some(generation) {
            return Ok(());
        }
        let empty = BTreeSet::new();
        self.save(generation, &empty)?;
        self.generation = Some(generation.to_string());
        self.keys = empty;
        Ok(())
    }

    /// Records delivered changes, given as `(generation, key)`; those of another generation
    /// than the current one are ignored (the finding state has moved past them). Writes the
    /// file when a key was added. On error the keys are kept in memory all the same (this
    /// process does not queue them again) and written with the next record.
    pub fn record<'a>(
        &mut self,
        delivered: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), StateError> {
        let Some(current) = self.generation.clone() else {
            return Ok(());
        };
        let mut added = false;
        for (generation, key) in delivered {
            if generation == current {
                added |= self.keys.insert(key.to_string());
            }
        }
        if !added {
            return Ok(());
        }
        self.save(&current, &self.keys)
    }

    fn save(&self, generation: &str, keys: &BTreeSet<String>) -> Result<(), StateError> {
        #[derive(Serialize)]
        struct Out<'a> {
            version: u32,
            generation: &'a str,
            keys: &'a BTreeSet<String>,
        }
        let bytes = serde_json::to_vec(&Out {
            version: FORMAT_VERSION,
            generation,
            keys,
        })
        .map_err(|e| StateError::Corrupt {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        write_atomic(&self.path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn delivered_keys_hold_one_generation_and_survive_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let mut d = DeliveredKeys::load(tmp.path());
        assert_eq!(d.generation(), None);
        // Before any generation is known nothing is recorded.
        d.record([("g1", "a:new:g1")]).unwrap();
        assert!(d.is_empty());
        assert!(!tmp.path().join(DELIVERED_FILE).exists());

        d.begin("g1").unwrap();
        assert!(
            tmp.path().join(DELIVERED_FILE).exists(),
            "begin writes the generation"
        );
        d.record([("g1", "a:new:g1"), ("g0", "b:new:g0")]).unwrap();
        assert!(d.contains("a:new:g1"));
        assert!(
            !d.contains("b:new:g0"),
            "another generation's key is not kept"
        );
        let d2 = DeliveredKeys::load(tmp.path());
        assert_eq!(d2.generation(), Some("g1"));
        assert!(d2.contains("a:new:g1"));
        assert_eq!(d2.len(), 1);

        // The same generation again keeps the keys; another one forgets them, on disk too.
        d.begin("g1").unwrap();
        assert!(d.contains("a:new:g1"));
        d.begin("g2").unwrap();
        assert!(d.is_empty());
        let d3 = DeliveredKeys::load(tmp.path());
        assert_eq!((d3.generation(), d3.len()), (Some("g2"), 0));
        let mode = fs::metadata(tmp.path().join(DELIVERED_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn delivered_keys_begin_that_cannot_be_written_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let mut d = DeliveredKeys::load(tmp.path());
        d.begin("g1").unwrap();
        d.record([("g1", "a:new:g1")]).unwrap();
        let blocker = tmp
            .path()
            .join(DELIVERED_FILE)
            .with_extension(format!("tmp.{}", std::process::id()));
        fs::create_dir(&blocker).unwrap();
        assert!(d.begin("g2").is_err());
        assert_eq!(d.generation(), Some("g1"));
        assert!(d.contains("a:new:g1"));
        // A failed record keeps the key in memory.
        assert!(d.record([("g1", "b:new:g1")]).is_err());
        assert!(d.contains("b:new:g1"));
        fs::remove_dir(&blocker).unwrap();
        d.record([("g1", "c:new:g1")]).unwrap();
        assert_eq!(DeliveredKeys::load(tmp.path()).len(), 3);
    }

    #[test]
    fn a_corrupt_delivered_keys_file_is_treated_as_empty() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(DELIVERED_FILE), b"{\"version\":1,\"gen").unwrap();
        let d = DeliveredKeys::load(tmp.path());
        assert_eq!((d.generation(), d.len()), (None, 0));
        fs::write(
            tmp.path().join(DELIVERED_FILE),
            br#"{"version":99,"generation":"g","keys":["a:new:g"]}"#,
        )
        .unwrap();
        assert!(DeliveredKeys::load(tmp.path()).is_empty());
    }
}
