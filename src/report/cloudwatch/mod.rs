//! The CloudWatch sink: the four metrics with `PutMetricData` and one Logs event per finding
//! change plus a summary per cycle with `PutLogEvents`, signed (SigV4) with the instance
//! role's credentials, delivered through a durable outbox.
//!
//! Delivery: [`CloudWatchSink::enqueue`] turns a
//! [`CycleReport`](crate::report::cycle::CycleReport) into outbox entries, which are written
//! and fsynced under `state_dir` *before* anything is sent (all of them or none), then
//! [`CloudWatchSink::flush`] sends what waits, oldest first, and removes entries only after a
//! 2xx. A crash or an outage leaves the entries for the next flush; a restart does not resend
//! what was delivered (removal is durable before the next send).
//!
//! # At least once, and one duplicate window
//!
//! A finding change is queued under a key (finding id, change, finding-state generation) and
//! is not queued again while that key waits in the outbox or is recorded in
//! [`DeliveredKeys`](crate::state::DeliveredKeys) (`state_dir/delivered.json`, the keys
//! delivered from the current generation, written after CloudWatch accepted them and before
//! the outbox is trimmed). So a cycle that computes the same changes again — the agent crashed
//! between queueing and committing `findings.json`, the outbox was flushed after the restart
//! before the first cycle, or `findings.json` cannot be written at all — queues nothing twice,
//! and a restart never sends a trimmed entry again.
//!
//! One window remains, and it is accepted (delivery is at least once there): **after
//! CloudWatch accepted a batch and before the outbox trim is on disk**, the batch is sent
//! again by the next flush. It opens when the process crashes or is killed in that interval,
//! and equally when the 2xx never arrives or is never read: the answer is lost or times out
//! after the service accepted the request (the call is retried), the flush is cut short by
//! its deadline while a call is in flight, or the trim itself cannot be written (then only a
//! restart before the next successful outbox write resends). `PutLogEvents` and
//! `PutMetricData` have no idempotency token that would let the service drop the repeat.
//! Nothing else sends an entry twice: the summary event and the metrics of each cycle are new
//! entries, not repeats.
//!
//! Errors by class (Vector's `is_retriable_error`, the SDKs' standard retry mode):
//! throttling, 5xx and network errors are retried with exponential backoff and full jitter,
//! a bounded number of times; an expired token makes the sink ask its [`CredentialSource`]
//! to refresh and retry once; `AccessDenied` is reported with the IAM action and resource
//! that are missing; a signature refused for clock skew (the response's `Date` more than 4
//! minutes off) is signed again once with the clock corrected from that `Date`, and the
//! correction is kept; other signature errors, validation errors and a server certificate
//! that does not verify are not retried (`run --once` exits 3). Entries the service
//! refuses as invalid are removed (and counted) so that one bad entry cannot block the
//! outbox; entries that failed for any other reason stay.
//!
//! Off EC2 (no identity document, or the credential source says no credentials exist) the
//! sink logs once that it is inactive and why, and queues nothing.
//!
//! # Layout
//!
//! [`sink`](CloudWatchSink) queues and drains the outbox; `delivery` holds what is queued
//! ([`Item`]) and what a call reports ([`Delivery`]); `endpoint` names the operations and
//! where they go; `counters` counts calls and bytes; `logs` and `metrics` are the wire
//! formats. Signing, sending, retrying and the error classes are the shared AWS call layer,
//! [`crate::report::aws`].

mod counters;
mod delivery;
mod endpoint;
pub mod logs;
pub mod metrics;
mod sink;

pub use crate::report::aws::AwsError as CloudWatchError;
pub use crate::report::aws::{
    CredentialError, CredentialSource, DEFAULT_ATTEMPTS, DEFAULT_MAX_BACKOFF, DEFAULT_MIN_BACKOFF,
};
pub use counters::{ApiCount, ApiCounters};
pub use delivery::{change_key, Delivery, Item};
pub use sink::{Builder, CloudWatchSink};
