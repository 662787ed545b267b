//! What a scan returns: findings, counters and the sources it could not read.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::cache::ScanCache;
use super::index::TreeIndex;
use super::keyids::KeyIds;
use super::plan::Plan;
use super::unreadable::Unreadable;
use super::worker::Merged;
use crate::finding::{Finding, Source};

/// Counters of one scan (DESIGN.md `stats`, plus `suppressed` and `cached`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Files and in-memory sources scanned (read now or taken from the cache).
    pub files: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Files skipped on purpose: over `max_file_size`, FIFOs, sockets, device nodes.
    pub skipped: u64,
    /// Files and sources that could not be read (permissions, vanished, symlink loops …).
    pub errors: u64,
    /// Findings suppressed by `credhygiene:allow` or the allowlist.
    pub suppressed: u64,
    /// Files whose findings came from the scan cache without being read again.
    pub cached: u64,
    /// Wall time of the scan.
    pub elapsed_ms: u64,
}

impl Stats {
    /// Adds the counters of `o`, except the wall time.
    pub(super) fn add(&mut self, o: &Stats) {
        self.files += o.files;
        self.bytes += o.bytes;
        self.skipped += o.skipped;
        self.errors += o.errors;
        self.suppressed += o.suppressed;
        self.cached += o.cached;
    }
}

/// The result of a scan.
#[derive(Debug, Clone, Default)]
pub struct ScanOutcome {
    /// Findings, sorted by path, line, column ([`scan_order`]). Until
    /// [`aggregate::bound_outcome`](super::aggregate::bound_outcome) (every reporting path
    /// calls it), the key id findings of sources with many of them are in `key_ids` instead.
    pub findings: Vec<Finding>,
    /// The key id findings of each source with more than
    /// [`KEPT_IN_FULL`](super::keyids::KEPT_IN_FULL) of them, compactly: findings all the
    /// same, held so until the scan's lone key ids are bounded (issue 15).
    pub key_ids: Vec<Arc<KeyIds>>,
    /// Counters.
    pub stats: Stats,
    /// Whether the scan was cancelled before it finished.
    pub cancelled: bool,
    /// Sources that could not be read although they may still exist (not those that are
    /// gone): the agent carries their previous findings forward.
    pub unreadable: Vec<Unreadable>,
}

impl ScanOutcome {
    /// Distinct credentials among the findings (the `HardcodedCredentials` metric).
    pub fn distinct_credentials(&self) -> usize {
        self.findings
            .iter()
            .map(|f| f.credential.as_str())
            .collect::<HashSet<_>>()
            .len()
    }

    /// Adds the findings and counters of another scan of other sources (e.g. user-data
    /// scanned next to the file scan); `elapsed_ms` is the longer of the two.
    pub fn merge(&mut self, other: ScanOutcome) {
        self.findings.extend(other.findings);
        self.key_ids.extend(other.key_ids);
        let elapsed = self.stats.elapsed_ms.max(other.stats.elapsed_ms);
        self.stats.add(&other.stats);
        self.stats.elapsed_ms = elapsed;
        self.cancelled |= other.cancelled;
        self.unreadable.extend(other.unreadable);
    }
}

/// What [`Scanner::scan`](super::Scanner::scan) returns.
#[derive(Debug)]
pub struct Scanned {
    /// Findings and counters.
    pub outcome: ScanOutcome,
    /// The stat cache of a full walk (an update has none: its entries stay valid).
    pub cache: Option<ScanCache>,
    /// The index for the next update, when the trees are indexed and fully watched.
    pub index: Option<TreeIndex>,
}

impl Scanned {
    /// The result of a full walk.
    pub(super) fn walked(
        outcome: ScanOutcome,
        cache: ScanCache,
        index: Option<TreeIndex>,
    ) -> Scanned {
        Scanned {
            outcome,
            cache: Some(cache),
            index,
        }
    }
}

/// Sorts the findings and makes the outcome of a scan.
pub(super) fn finish(
    plan: &Plan,
    merged: Merged,
    started: Instant,
    cancelled: bool,
) -> ScanOutcome {
    let mut findings = merged.findings;
    findings.sort_by(scan_order);
    let mut stats = merged.stats;
    stats.elapsed_ms = started.elapsed().as_millis() as u64;
    let mut unreadable = plan.unreadable.clone();
    unreadable.extend(merged.unreadable);
    unreadable.sort_by(|a, b| a.path.cmp(&b.path));
    ScanOutcome {
        findings,
        key_ids: merged.key_ids,
        stats,
        cancelled,
        unreadable,
    }
}

/// The order of a scan's findings: files and env files first, then by path, line, column
/// and kind.
pub(super) fn scan_order(a: &Finding, b: &Finding) -> Ordering {
    let not_file = |f: &Finding| f.source != Source::File && f.source != Source::EnvFile;
    (not_file(a).cmp(&not_file(b)))
        .then_with(|| a.path.cmp(&b.path))
        .then(a.line.cmp(&b.line))
        .then(a.column.cmp(&b.column))
        .then(a.kind.cmp(&b.kind))
}
