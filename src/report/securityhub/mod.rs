//! The Security Hub sink: one ASFF finding per credential on the instance and one per failed
//! role check, imported with `BatchImportFindings` into the account's default product
//! (`arn:<partition>:securityhub:<region>:<account>:product/<account>/default`), signed with
//! the instance role's credentials (DESIGN.md "Security Hub").
//!
//! # Layout
//!
//! `asff` builds the documents from the cycle's [`HostView`](crate::report::fleet::HostView);
//! `lifecycle` is the pure rule of what to import (only what changed, a refresh every 30
//! days, `ARCHIVED` once resolved); `store` keeps what was planned and delivered under
//! `state_dir`; `gate` is the pure rule that stops the calls where Security Hub is not enabled
//! or not permitted.
//!
//! # Delivery guarantees
//!
//! - **Stable `Id`s.** `credhygiene/<instance-id>/<credential>` and
//!   `credhygiene/<instance-id>/<check id>`: the same finding, across cycles, restarts and
//!   hosts with the same instance id, updates one Security Hub finding. A document sent twice
//!   is harmless.
//! - **Nothing lost.** Each cycle's plan is written (atomically, fsynced) before anything is
//!   sent; a document stops being pending only after Security Hub accepted it, and that is
//!   written after each answered batch. A crash or an outage at any point leaves the pending
//!   documents for the next flush; the one window is after Security Hub accepted a batch and
//!   before the state is on disk, where that batch is sent again (same `Id`s: an update).
//! - **Only changes are imported**, in batches of at most 100 findings and 6 MB.

mod asff;
mod gate;
mod lifecycle;
mod sink;
mod store;
#[cfg(test)]
mod testkit;

pub use lifecycle::Planned;
pub use sink::{Delivery, SecurityHubSink};
pub(crate) use store::{counts_in, Counts};
// The parsers of what the sink reads back, for the fuzz targets.
#[doc(hidden)]
pub use sink::{failed_findings, Failed};
#[doc(hidden)]
pub use store::{OpenedStore, STORE_FILE};
