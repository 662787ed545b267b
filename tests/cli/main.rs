//! The integration tests: one binary, one module per command or area.

mod common;
mod corpus;
mod scan;
