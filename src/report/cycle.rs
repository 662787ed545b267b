//! What one agent cycle found, in the form the sinks (journald, CloudWatch) consume: the
//! instance, the four DESIGN.md metrics, the finding changes and a summary. The agent builds
//! it after the role check, the scan and the [`crate::state`] diff.

use std::time::SystemTime;

use serde::Serialize;

use crate::finding::Finding;
use crate::imds::model::IdentityDocument;
use crate::report::owners::Owners;
use crate::role::Status;
use crate::scan::{ScanOutcome, Stats};
use crate::state::FindingChanges;

/// Whether a finding appeared or went away: the `change` of a journal record and of a
/// CloudWatch finding event, part of the outbox dedupe key, and the names of the summary's
/// counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Not seen in the previous complete scan.
    New,
    /// Seen before, gone now.
    Resolved,
}

impl Change {
    /// The wire name: `new` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Resolved => "resolved",
        }
    }
}

/// What the role check found (the inputs of two metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoleSummary {
    /// `pass`, `fail` or `unknown`.
    pub status: Status,
    /// `Some(true)` when no instance profile is attached; `None` when unknown.
    pub instance_profile_missing: Option<bool>,
    /// `Some(true)` when IMDSv1 requests are answered; `None` when unknown.
    pub imdsv1_open: Option<bool>,
}

/// The DESIGN.md metrics of one cycle. A `None` is not published (unknown is not 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct CycleMetrics {
    /// `HardcodedCredentials`: distinct credentials found by the last complete scan.
    pub hardcoded_credentials: u64,
    /// `InstanceProfileMissing`: 1 when no instance profile is attached, else 0.
    pub instance_profile_missing: Option<bool>,
    /// `IMDSv1Open`: 1 when IMDSv1 requests are answered, else 0.
    pub imdsv1_open: Option<bool>,
    /// `ScanErrors`: files or sources that could not be read in the last scan.
    pub scan_errors: u64,
}

/// Totals of the cycle, for the summary event and `STATUS=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct CycleSummary {
    /// Findings of the scan (one per credential part found).
    pub findings: u64,
    /// Distinct credentials among them.
    pub credentials: u64,
    /// Findings also present in the previous scan (carried ones included).
    pub still_present: u64,
    /// Findings of sources the scan could not read, carried forward from the previous cycle
    /// as still present (included in `findings`, `credentials` and `still_present`).
    pub carried: u64,
    /// Scan counters.
    pub stats: Stats,
    /// Role check outcome.
    pub role_status: Status,
}

/// Everything one cycle hands to the sinks.
#[derive(Debug, Clone, PartialEq)]
pub struct CycleReport {
    /// When the cycle ran (the timestamp of its metrics and events).
    pub time: SystemTime,
    /// Who this instance is; `None` off EC2.
    pub instance: Option<IdentityDocument>,
    /// The four metrics.
    pub metrics: CycleMetrics,
    /// New and resolved findings since the last complete scan.
    pub changes: FindingChanges,
    /// Totals.
    pub summary: CycleSummary,
    /// Whose keys the findings show (offline from the instance's account; the agent adds
    /// what IAM said before the sinks run).
    pub owners: Owners,
}

impl CycleReport {
    /// Builds the report of a cycle from its parts.
    pub fn new(
        time: SystemTime,
        instance: Option<IdentityDocument>,
        role: RoleSummary,
        scan: &ScanOutcome,
        changes: FindingChanges,
    ) -> CycleReport {
        let credentials = scan.distinct_credentials() as u64;
        let owners = Owners::new(instance.as_ref().map(|i| i.account_id.as_str()));
        CycleReport {
            owners,
            time,
            instance,
            metrics: CycleMetrics {
                hardcoded_credentials: credentials,
                instance_profile_missing: role.instance_profile_missing,
                imdsv1_open: role.imdsv1_open,
                scan_errors: scan.stats.errors,
            },
            summary: CycleSummary {
                findings: scan.findings.len() as u64,
                credentials,
                still_present: changes.still_present,
                // Known to the agent only, which sets it after the diff.
                carried: 0,
                stats: scan.stats,
                role_status: role.status,
            },
            changes,
        }
    }

    /// Every finding change, new ones first, each in finding id order.
    pub fn each_change(&self) -> impl Iterator<Item = (&Finding, Change)> {
        let new = self.changes.new.iter().map(|f| (f, Change::New));
        let resolved = self.changes.resolved.iter().map(|f| (f, Change::Resolved));
        new.chain(resolved)
    }
}
