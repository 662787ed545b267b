//! What the sink queues and what it reports: an outbox entry ([`Item`]) with the dedupe key
//! of a finding change ([`change_key`]), and the result of a report or flush ([`Delivery`]).

use serde::{Deserialize, Serialize};

use super::counters::ApiCounters;
use super::logs::LogEvent;
use super::metrics::Datum;
#[cfg(doc)]
use super::sink::CloudWatchSink;
use super::CloudWatchError;
use crate::report::cycle::Change;
#[cfg(doc)]
use crate::state::DeliveredKeys;

/// What waits in the outbox: one log event or one metric data point, with where it goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item {
    /// A CloudWatch Logs event.
    Log {
        /// Region to send to.
        region: String,
        /// Log group.
        group: String,
        /// Log stream (the instance id).
        stream: String,
        /// The event.
        event: LogEvent,
        /// For finding changes: `finding id:change:state generation` ([`change_key`]). A
        /// change already in the outbox, or already delivered from the same generation
        /// ([`DeliveredKeys`]), under the same key is not queued twice (a crash between
        /// queueing and committing the finding state, or a finding state that cannot be
        /// written, makes the next cycle compute the same change).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// A metric data point.
    Metric {
        /// Region to send to.
        region: String,
        /// Namespace.
        namespace: String,
        /// The data point.
        datum: Datum,
    },
}

/// The dedupe key of a finding change: `finding id:change:generation` (a short hex id, `new`
/// or `resolved`, and [`crate::state::FindingState::generation`], a short hex digest).
pub fn change_key(finding_id: &str, change: Change, generation: &str) -> String {
    format!("{finding_id}:{}:{generation}", change.as_str())
}

/// The generation part of a [`change_key`].
pub(crate) fn key_generation(key: &str) -> &str {
    key.rsplit_once(':').map_or("", |(_, g)| g)
}

/// The result of one [`CloudWatchSink::report`] or [`CloudWatchSink::flush`].
#[derive(Debug, Default, Serialize)]
pub struct Delivery {
    /// Whether the sink is active (on EC2 with role credentials).
    pub active: bool,
    /// Why it is inactive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive_reason: Option<String>,
    /// Entries added to the outbox by this call.
    pub enqueued: u64,
    /// Log events the service accepted.
    pub delivered_events: u64,
    /// Metric data points the service accepted.
    pub delivered_datums: u64,
    /// Entries the service refused for good (invalid, too old) and that were removed.
    pub rejected: u64,
    /// Entries still waiting in the outbox.
    pub pending: u64,
    /// Entries dropped because the outbox was full, since it was created.
    pub dropped: u64,
    /// Calls and bytes of this delivery.
    pub calls: ApiCounters,
    /// What failed (entries concerned stay in the outbox unless counted as rejected).
    #[serde(serialize_with = "errors_as_strings")]
    pub errors: Vec<CloudWatchError>,
}

fn errors_as_strings<S: serde::Serializer>(
    errs: &[CloudWatchError],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(errs.iter().map(|e| e.to_string()))
}

impl Delivery {
    /// Adds a later delivery's results (a flush after an enqueue) to this one.
    pub fn absorb(&mut self, later: Delivery) {
        self.delivered_events += later.delivered_events;
        self.delivered_datums += later.delivered_datums;
        self.rejected += later.rejected;
        self.pending = later.pending;
        self.dropped = later.dropped;
        self.calls.add(&later.calls);
        self.errors.extend(later.errors);
    }

    /// Whether everything queued has been delivered and nothing failed.
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty() && self.pending == 0
    }
}
