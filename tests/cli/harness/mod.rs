//! What the CloudWatch tests run against: moto_server ([`moto`]) behind a front that checks
//! every request against the AWS service model, over HTTP or HTTPS ([`front`]), a recording
//! proxy that can fail on purpose ([`proxy`]), the agent binary wired to them and to the IMDS
//! emulator ([`agent_world`]), the data they feed and read back ([`fixtures`]), and the
//! README's cost estimate ([`cost`]).

pub mod agent_world;
pub mod cost;
pub mod fixtures;
pub mod front;
pub mod moto;
pub mod proxy;
pub mod ssm;
