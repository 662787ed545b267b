//! credhygiene: an on-instance credential hygiene agent for EC2 (CIS AWS Foundations 1.18
//! and 5.6).
//!
//! The modules, in data-flow order:
//!
//! 1. [`config`] says what to do: file, environment and defaults, validated.
//! 2. [`imds`] asks the instance metadata service (IMDSv2) who this instance is.
//! 3. [`role`] checks the instance role over IMDS; [`rules`] say what a key looks like and
//!    [`scan`] looks for keys in files, env files and process environments (the configured
//!    sources add IMDS user-data to them; the `sources` module is shared by `scan` with no
//!    PATH and the agent).
//! 4. [`finding`] is the pivot type every reporter consumes: a fingerprint and a redacted
//!    prefix, never a secret.
//! 5. [`state`] remembers the last findings (new and resolved changes) and keeps the
//!    CloudWatch outbox.
//! 6. [`report`] tells people (text), machines (JSON, SARIF), journald and CloudWatch.
//! 7. [`agent`] runs role check → scan → diff → report on a schedule, reacting to file
//!    changes and signals; `run --once` is the same cycle, once.
//!
//! Around the pipeline: [`cli`] holds the parsed command line and [`app`] only dispatches it
//! to the commands; [`error`] maps every module's error to the exit codes of DESIGN.md;
//! [`logging`] writes to journald or stderr. Leaves that any module may use: [`atomic`] (the
//! durable atomic file write behind every state file), [`error_chain`] (an error and its
//! causes as one line) and [`tls`] (the one TLS configuration: crypto provider and roots).
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

// The pipeline, in data-flow order.
pub mod config;
pub mod imds;
// Side by side: the role check, and the scan for keys that the rules describe.
pub mod role;
pub mod rules;
// The pivot type: what the scan produces and every reporter consumes.
pub mod finding;
pub mod owner;
// (the scan itself)
pub mod scan;
// The configured sources, and what is remembered of their findings.
pub(crate) mod sources;
pub mod state;
// Who is told.
pub mod report;
// When: the schedule that drives it all.
pub mod agent;
pub mod status;

// Around the pipeline.
pub mod app;
pub mod cli;
pub mod error;
pub mod logging;

// Leaves.
pub mod atomic;
pub mod error_chain;
pub mod tls;

pub use error::Error;
