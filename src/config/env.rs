//! The process environment as a value, so that precedence rules can be tested with a table
//! instead of mutating the real environment (aws-config's `os_shim_internal::Env`).

use std::collections::HashMap;

/// Environment variable naming the config file (beats the default path, loses to `--config`).
pub const CONFIG_PATH_VAR: &str = "CREDHYGIENE_CONFIG";
/// Overrides the IMDS base URL, as in the AWS SDKs.
pub const IMDS_ENDPOINT_VAR: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
/// Chooses the IMDS address family (`IPv4` or `IPv6`), as in the AWS SDKs.
pub const IMDS_ENDPOINT_MODE_VAR: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE";
/// Turns IMDS off entirely (`true`), as in the AWS SDKs.
pub const IMDS_DISABLED_VAR: &str = "AWS_EC2_METADATA_DISABLED";
/// Region for CloudWatch calls.
pub const REGION_VAR: &str = "AWS_REGION";
/// Endpoint for every AWS service (loses to the service-specific variables).
pub const ENDPOINT_URL_VAR: &str = "AWS_ENDPOINT_URL";
/// Endpoint for CloudWatch metrics.
pub const ENDPOINT_URL_CLOUDWATCH_VAR: &str = "AWS_ENDPOINT_URL_CLOUDWATCH";
/// Endpoint for CloudWatch Logs.
pub const ENDPOINT_URL_LOGS_VAR: &str = "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS";
/// Endpoint for EC2 (`imds.v1_from_ec2_api`).
pub const ENDPOINT_URL_EC2_VAR: &str = "AWS_ENDPOINT_URL_EC2";
/// Use FIPS endpoints (`true` / `false`), as in the AWS SDKs.
pub const USE_FIPS_ENDPOINT_VAR: &str = "AWS_USE_FIPS_ENDPOINT";
/// Use dual-stack (IPv4 and IPv6) endpoints (`true` / `false`), as in the AWS SDKs.
pub const USE_DUALSTACK_ENDPOINT_VAR: &str = "AWS_USE_DUALSTACK_ENDPOINT";

/// A snapshot of environment variables: the real one, or a fixed table in tests.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The environment of this process (variables that are not UTF-8 are ignored).
    pub fn real() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Env { vars }
    }

    /// A fixed environment, for tests.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        let vars = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env { vars }
    }

    /// The value of `name`, treating an empty value as unset (as the AWS SDKs do).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}
