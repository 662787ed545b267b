//! What to send: the pure rule from what the sink remembers, the instance's current picture
//! and the time to what it remembers next, each finding marked pending when Security Hub must
//! hear of it. Security Hub keeps a finding's state per `Id` and bills every import, and the
//! account shares 10 imports per second (burst 30) with the whole fleet: so only what
//! changed is imported.
//!
//! | finding | stored entry | what happens |
//! |---|---|---|
//! | present | none | new: `CreatedAt` = `UpdatedAt` = now, pending |
//! | present | same content, updated < [`REFRESH`] ago | nothing |
//! | present | same content, updated ≥ [`REFRESH`] ago | `UpdatedAt` = now, pending (keeps it from expiring) |
//! | present | other content, or archived | `UpdatedAt` = now, `ACTIVE`, pending; `CreatedAt` kept |
//! | absent | active | `ARCHIVED`, `Compliance.Status` `PASSED`, `UpdatedAt` = now, pending |
//! | absent | archived | nothing (forgotten once Security Hub accepted it: see [`super::store`]) |
//! | a failed check, now `unknown` or not checked (IMDS unreachable, disabled) | active | nothing: not known to pass |
//! | present, [`MAX_TRACKED`] entries held | none | not imported, counted in `overflow` |
//!
//! "Content" is the whole document without its times: severity, owner, path, line, remediation
//! and all. An owner's last use counts to the day only ([`super::asff`]), so a key in use
//! makes at most one import a day.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::report::fleet::HostView;
use crate::role;

use super::asff::{self, AsffFinding, ComplianceStatus, Destination, RecordState};

/// An unchanged active finding is imported again after this long. Security Hub deletes a
/// finding that was not updated for 90 days; a monthly refresh leaves two months for an agent
/// that is stopped or cut off from Security Hub before a finding that is still true would
/// vanish, at one import per finding per month.
pub(crate) const REFRESH: Duration = Duration::from_secs(30 * 24 * 3600);

/// At most this many findings are tracked per instance: the state file stays within a few
/// megabytes, and one host cannot eat the account's import quota. Findings already tracked
/// stay; new ones beyond the bound are counted, not imported.
pub(crate) const MAX_TRACKED: usize = 1000;

/// What the sink remembers of one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Entry {
    /// The document as last built, with its times and state: what is pending, or what
    /// Security Hub last accepted.
    pub(crate) doc: AsffFinding,
    /// SHA-256 (hex) of the time-free content the document was built from.
    pub(crate) digest: String,
    /// When `doc.updated_at` was set, in seconds since the epoch.
    pub(crate) updated: u64,
    /// Security Hub has not accepted `doc` yet.
    pub(crate) pending: bool,
}

impl Entry {
    /// Whether the document says the finding is resolved.
    pub(crate) fn archived(&self) -> bool {
        self.doc.record_state == RecordState::Archived
    }
}

/// Every finding the sink remembers, by `Id`.
pub(crate) type Tracked = BTreeMap<String, Entry>;

/// What one cycle's plan changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Planned {
    /// Findings made pending (new, changed, refreshed, archived).
    pub imports: usize,
    /// Of those, archived.
    pub archived: usize,
    /// New findings not tracked because the bound (1,000 per instance) was reached.
    pub overflow: usize,
}

/// The next state from `state`, the instance's picture `view` and `now`: every finding whose
/// document Security Hub must receive is marked pending (see the module table).
pub(crate) fn plan(
    state: &Tracked,
    view: &HostView,
    to: &Destination,
    now: SystemTime,
) -> (Tracked, Planned) {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let stamp =
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string();
    let mut next = state.clone();
    let mut out = Planned::default();
    let mut present = BTreeSet::new();
    for doc in asff::documents(view, to) {
        present.insert(doc.id.clone());
        let digest = digest(&doc);
        let created = match state.get(&doc.id) {
            None if next.len() >= MAX_TRACKED => {
                out.overflow += 1;
                continue;
            }
            None => stamp.clone(),
            Some(e) if e.archived() || e.digest != digest => e.doc.created_at.clone(),
            Some(e) if secs.saturating_sub(e.updated) >= REFRESH.as_secs() => {
                e.doc.created_at.clone()
            }
            Some(_) => continue,
        };
        let mut doc = doc;
        doc.created_at = created;
        doc.updated_at = stamp.clone();
        next.insert(
            doc.id.clone(),
            Entry {
                doc,
                digest,
                updated: secs,
                pending: true,
            },
        );
        out.imports += 1;
    }
    let unsure = unsure_checks(view);
    for (id, e) in next.iter_mut() {
        if present.contains(id) || e.archived() || unsure.contains(e.doc.generator_id.as_str()) {
            continue;
        }
        e.doc.record_state = RecordState::Archived;
        e.doc.compliance.status = ComplianceStatus::Passed;
        e.doc.updated_at = stamp.clone();
        e.updated = secs;
        e.pending = true;
        out.imports += 1;
        out.archived += 1;
    }
    (next, out)
}

/// The generator ids of checks whose failure cannot be ruled out this cycle: every check
/// when none ran, else those whose status is unknown. Their findings are not archived.
fn unsure_checks(view: &HostView) -> BTreeSet<String> {
    let all = [
        role::CHECK_PROFILE,
        role::CHECK_IMDSV2,
        role::CHECK_CREDENTIALS,
        role::CHECK_STATIC_KEYS,
    ];
    let ids: Vec<&str> = match &view.checks {
        None => all.to_vec(),
        Some(checks) => checks
            .iter()
            .filter(|c| c.status == role::Status::Unknown)
            .map(|c| c.id)
            .collect(),
    };
    ids.into_iter()
        .map(|id| format!("credhygiene/{id}"))
        .collect()
}

/// SHA-256 (hex) of a time-free document.
fn digest(doc: &AsffFinding) -> String {
    let bytes = serde_json::to_vec(doc).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

#[cfg(test)]
mod tests;
