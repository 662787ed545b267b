//! Who to tell: renderings of a scan for people (text), machines (JSON) and code-scanning
//! tools (SARIF 2.1.0). Each takes plain data and writes bytes; none sees a secret.
//! The agent's sinks consume a [`cycle::CycleReport`]: [`journald`] (one record per finding
//! change) and [`cloudwatch`] (metrics and Logs events through a durable outbox), which finds
//! its AWS endpoints in [`endpoints`] (every partition, FIPS and dual-stack). [`ec2`] asks EC2
//! whether IMDSv1 is open, signed as the CloudWatch sink signs (the agent's opt-in instead of
//! the token-less probe). The fleet sinks consume a [`fleet::HostView`] (the whole picture):
//! [`ssm`] puts it on the Systems Manager Compliance page.

pub mod aws;
pub mod cloudwatch;
pub mod cycle;
pub mod ec2;
pub mod endpoints;
mod endpoints_data;
pub mod enrich;
pub mod fleet;
pub mod journald;
pub mod json;
pub mod owners;
pub mod sarif;
pub mod securityhub;
pub mod ssm;
pub mod text;
