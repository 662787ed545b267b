//! The integration tests: one binary, one module per command or area.

mod agent;
mod aggregate;
mod cloudwatch;
mod common;
mod corpus;
mod ec2;
mod enrich;
mod fleet;
mod harness;
mod huge_dir;
mod imds_emulator;
mod names;
mod properties;
mod role;
mod scan;
mod securityhub;
mod ssm;
mod status;
