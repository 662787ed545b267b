//! The Systems Manager Compliance sink: each cycle's picture of the instance ([`HostView`]:
//! its role checks and every credential found, with owner and severity) as the compliance
//! items of type `Custom:CredentialHygiene` of the managed instance (`PutComplianceItems`,
//! `UploadType` `COMPLETE`), signed (SigV4, service `ssm`) with the instance role's
//! credentials. The instance then shows as compliant or not on the Systems Manager Compliance
//! page and in `ListComplianceSummaries`, aggregated across accounts by a resource data sync.
//!
//! # Guarantees
//!
//! - **The latest picture wins.** Each call replaces the instance's whole set, so only the
//!   newest request matters: the outbox is one request ([`memory`], `state_dir/ssm-compliance.json`),
//!   written atomically before the call and cleared after a 2xx; a newer picture replaces it.
//!   A crash or restart loses nothing (the next cycle sends the current set, which the last
//!   answered digest does not match); a repeat is harmless (the same set replaces itself).
//! - **Sent when it matters.** A call goes out when the set changed since the last delivery
//!   (a credential came or went, a check or a severity changed) and at least once a day
//!   ([`REFRESH`]), so the page's execution time tells a live agent from a dead one.
//! - **Managed instances only, no guessing.** `InvalidResourceId` (the instance is not
//!   registered with Systems Manager) or AccessDenied (the role lacks
//!   `ssm:PutComplianceItems` on the instance ARN) make the sink inactive: said once, with the
//!   reason, no call until the daily recheck ([`RECHECK`]).
//! - **By error class.** Throttling, 5xx and network failures leave the request waiting for
//!   the next cycle; a request the service refuses for its content is not sent again until the
//!   set changes or a day passes; signature errors wait for an operator (logged each cycle).
//! - **Bounded, never a secret.** At most [`MAX_ITEMS`] items (the most severe credentials
//!   itemised, the rest counted in one item), values clipped to the API's limits, and only
//!   key ids, paths, lines, fingerprints and owners: no secret, no redacted prefix.
//!
//! # Layout
//!
//! `items` builds the request from a [`HostView`]; `sink` decides when to send ([`SsmSink`],
//! the pure rules `plan` and `verdict`) and sends; `memory` is its durable state.

mod items;
mod memory;
mod sink;

pub use items::{Request, COMPLIANCE_TYPE, MAX_ITEMS, OVERFLOW_ID, RESOURCE_TYPE};
pub use memory::{Memory, MEMORY_FILE};
pub use sink::{SsmDelivery, SsmSink, IAM_ACTION, RECHECK, REFRESH};
// The error answers' parser, for the fuzz target.
#[doc(hidden)]
pub use sink::{answer_verdict, DEBUG_ESCAPE, MAX_LOGGED_ANSWER};

#[cfg(doc)]
use crate::report::fleet::HostView;
