//! The sink's durable state, `state_dir/securityhub.json`: every tracked finding with its last
//! document (pending or accepted) and the [`Gate`]. Pending documents are keyed by finding
//! `Id`, so the latest version replaces an earlier one that was never sent, and a document
//! sent twice is the same finding updated twice, never a duplicate.
//!
//! Guarantees:
//! - written whole and atomically ([`crate::state::write_atomic`]: temporary file, fsync,
//!   rename, directory fsync) after each cycle's plan, *before* anything is sent, and after
//!   each batch Security Hub answered: a crash at any point leaves the old or the new file;
//!   with the old one, the next cycle plans the same documents again (same `Id`s, at most a
//!   later `UpdatedAt`) and a batch already accepted is sent again. Nothing is lost.
//! - an exclusive lock (`securityhub.json.lock`) keeps a second process (`run --once` beside
//!   the daemon) from planning on a stale copy.
//! - a file that is torn, of another version, too large or inconsistent (an `Id` not ours, a
//!   duplicate, a document over Security Hub's 240 KB, more than
//!   [`MAX_TRACKED`](super::lifecycle::MAX_TRACKED) entries) is never trusted: it is set aside
//!   as `securityhub.json.corrupt` and the sink starts empty (current findings are imported
//!   again with a new `CreatedAt`; a resolution that was pending is not sent, and Security
//!   Hub expires that finding 90 days after its last update).

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state::{self, StateError};

use super::asff::SCHEMA_VERSION;
use super::gate::Gate;
use super::lifecycle::{Entry, Tracked, MAX_TRACKED};

/// File name of the state inside the state directory.
pub const STORE_FILE: &str = "securityhub.json";
/// Format version of the file.
const VERSION: u32 = 1;
/// A finding document may be at most this large (Security Hub's limit per finding).
pub(crate) const MAX_FINDING_BYTES: usize = 240 * 1024;
/// A larger file is not read at all (the bound on entries and their size keeps a valid one
/// far below).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The file's content.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Content {
    version: u32,
    gate: Gate,
    entries: Vec<Entry>,
    /// Documents Security Hub refused for good since the file was made (absent in files of
    /// earlier releases: 0).
    #[serde(default)]
    dropped: u64,
}

/// What the file holds.
#[derive(Debug)]
struct Loaded {
    gate: Gate,
    tracked: Tracked,
    dropped: u64,
}

/// The sink's counts, for `credhygiene status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Documents that wait for Security Hub.
    pub(crate) pending: usize,
    /// Documents it refused for good, since the state was made.
    pub(crate) dropped: u64,
}

/// The sink's state, held under its lock.
#[derive(Debug)]
pub(crate) struct Store {
    _lock: File,
    path: PathBuf,
    /// Whether calls may go out.
    pub(crate) gate: Gate,
    /// Every tracked finding.
    pub(crate) tracked: Tracked,
    /// Documents Security Hub refused for good, since the file was made.
    pub(crate) dropped: u64,
}

impl Store {
    /// Takes the lock and reads the file (an absent file is an empty state; an untrustworthy
    /// one is set aside, logged, and replaced by an empty state).
    pub(crate) fn open(dir: &Path) -> Result<Store, StateError> {
        state::prepare_dir(dir)?;
        let lock = state::lock(dir, STORE_FILE)?;
        let path = dir.join(STORE_FILE);
        let empty = || Loaded {
            gate: Gate::Open,
            tracked: Tracked::new(),
            dropped: 0,
        };
        let loaded = match read(&path) {
            Ok(Some(l)) => l,
            Ok(None) => empty(),
            Err(why) => {
                set_aside(&path, &why);
                empty()
            }
        };
        Ok(Store {
            _lock: lock,
            path,
            gate: loaded.gate,
            tracked: loaded.tracked,
            dropped: loaded.dropped,
        })
    }

    /// Writes the whole state atomically and durably.
    pub(crate) fn save(&self) -> Result<(), StateError> {
        let content = Content {
            version: VERSION,
            gate: self.gate.clone(),
            entries: self.tracked.values().cloned().collect(),
            dropped: self.dropped,
        };
        let bytes = serde_json::to_vec(&content).map_err(|e| StateError::Corrupt {
            path: self.path.clone(),
            message: format!("cannot serialise: {e}"),
        })?;
        state::write_atomic(&self.path, &bytes)
    }

    /// How many documents wait for Security Hub.
    pub(crate) fn pending(&self) -> usize {
        self.tracked.values().filter(|e| e.pending).count()
    }

    /// Security Hub accepted (or for good refused) the pending document of `id`: it is no
    /// longer pending, and a resolved finding is forgotten.
    pub(crate) fn settle(&mut self, id: &str) {
        let archived = match self.tracked.get_mut(id) {
            Some(e) => {
                e.pending = false;
                e.archived()
            }
            None => false,
        };
        if archived {
            self.tracked.remove(id);
        }
    }

    /// Security Hub refused the pending document of `id` for good (or it could never be
    /// sent): settled as [`Store::settle`] does, and counted. The entry stays tracked, so
    /// the finding's next change is sent.
    pub(crate) fn refused(&mut self, id: &str) {
        self.settle(id);
        self.dropped = self.dropped.saturating_add(1);
    }
}

/// How many documents wait for Security Hub in the state under `dir`, and how many it refused,
/// for `credhygiene status`: read without the lock (the file is only ever replaced whole, so
/// this sees the state after some complete step). `Ok(None)` without a file (the sink never
/// ran), `Err(why)` when it cannot be read or trusted (the sink sets such a file aside when it
/// next runs).
pub(crate) fn counts_in(dir: &Path) -> Result<Option<Counts>, String> {
    Ok(read(&dir.join(STORE_FILE))?.map(|l| Counts {
        pending: l.tracked.values().filter(|e| e.pending).count(),
        dropped: l.dropped,
    }))
}

/// The store as the sink opens it ([`Store::open`]: lock, read, set aside what is not
/// trusted), for the `securityhub_store` fuzz target.
#[doc(hidden)]
#[derive(Debug)]
pub struct OpenedStore(Store);

impl OpenedStore {
    /// [`Store::open`].
    pub fn open(dir: &Path) -> Result<OpenedStore, StateError> {
        Store::open(dir).map(OpenedStore)
    }

    /// [`Store::save`].
    pub fn save(&self) -> Result<(), StateError> {
        self.0.save()
    }

    /// Tracked findings and how many of them are pending.
    pub fn counts(&self) -> (usize, usize) {
        (self.0.tracked.len(), self.0.pending())
    }

    /// The gate, every entry and the refused count, shown (`Debug`): what a reload must
    /// reproduce.
    pub fn shown(&self) -> String {
        format!("{:?} {:?} {}", self.0.gate, self.0.tracked, self.0.dropped)
    }
}

/// What the file holds; `Ok(None)` when there is no file, `Err(why)` when it cannot be trusted.
fn read(path: &Path) -> Result<Option<Loaded>, String> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    let c: Content = serde_json::from_slice(&bytes).map_err(|e| state::json_error(&e))?;
    if c.version != VERSION {
        return Err(format!("version {} (expected {VERSION})", c.version));
    }
    let tracked = validate(c.entries)?;
    Ok(Some(Loaded {
        gate: c.gate,
        tracked,
        dropped: c.dropped,
    }))
}

/// The entries as tracked findings, if every one is of ours and within Security Hub's limits.
fn validate(entries: Vec<Entry>) -> Result<Tracked, String> {
    if entries.len() > MAX_TRACKED {
        return Err(format!("{} entries (at most {MAX_TRACKED})", entries.len()));
    }
    let mut ids = BTreeSet::new();
    let mut tracked = Tracked::new();
    for (n, e) in entries.into_iter().enumerate() {
        let d = &e.doc;
        let size = serde_json::to_vec(d).map_or(usize::MAX, |b| b.len());
        let problem = if !d.id.starts_with("credhygiene/") || d.id.len() > 512 {
            Some("an Id that is not credhygiene's")
        } else if !ids.insert(d.id.clone()) {
            Some("a duplicate Id")
        } else if d.schema_version != SCHEMA_VERSION {
            Some("another schema version")
        } else if size > MAX_FINDING_BYTES {
            Some("a document over 240 KB")
        } else if e.digest.len() != 64 || !e.digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            Some("a malformed digest")
        } else if humantime::parse_rfc3339(&d.updated_at).is_err()
            || humantime::parse_rfc3339(&d.created_at).is_err()
        {
            Some("a malformed time")
        } else {
            None
        };
        // Named by its place: the file's values are not quoted (a foreign Id may be anything).
        if let Some(p) = problem {
            return Err(format!("entry {n}: {p}"));
        }
        tracked.insert(e.doc.id.clone(), e);
    }
    Ok(tracked)
}

/// Moves an untrustworthy file out of the way (kept for an operator to look at) and says so.
fn set_aside(path: &Path, why: &str) {
    let aside = path.with_extension("json.corrupt");
    let moved = fs::rename(path, &aside);
    log::warn!(path:% = path.display(), reason = why, set_aside = moved.is_ok();
        "Security Hub state is not trusted and is rebuilt: current findings are imported again");
}

#[cfg(test)]
mod tests;
