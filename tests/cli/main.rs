//! The integration tests: one binary, one module per command or area.

mod cloudwatch;
mod common;
mod scan;
