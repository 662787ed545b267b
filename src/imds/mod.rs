//! Who am I: an IMDSv2 client for the instance metadata service.

pub mod model;
