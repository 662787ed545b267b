//! credhygiene: an on-instance credential hygiene agent for EC2 (CIS AWS Foundations 1.18).
//!
//! The pipeline, in module order: [`config`] says what to do; [`imds`] asks the instance
//! metadata service who this instance is; [`role`] checks the instance role, while [`rules`]
//! and [`scan`] look for hard-coded keys; each is reported as a [`finding::Finding`]; [`state`]
//! remembers what was seen; [`report`] tells people, machines, journald and CloudWatch; the
//! [`agent`] runs it all on a schedule. [`app`] is the glue that the command line calls.
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

pub mod agent;
pub mod app;
pub mod atomic;
pub mod cli;
pub mod config;
pub mod error;
pub mod finding;
pub mod imds;
pub mod logging;
pub mod report;
pub mod role;
pub mod rules;
pub mod scan;
pub mod state;
pub mod tls;

pub use error::Error;
