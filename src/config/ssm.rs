//! `[ssm]`: Systems Manager Compliance (DESIGN.md "Systems Manager Compliance").

use serde::{Deserialize, Serialize};

use super::{ConfigError, Env, ENDPOINT_URL_VAR};

/// Endpoint for Systems Manager, as in the AWS SDKs.
pub const ENDPOINT_URL_SSM_VAR: &str = "AWS_ENDPOINT_URL_SSM";

/// `[ssm]`: the instance's credential hygiene on the Systems Manager Compliance page, with
/// the instance role's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SsmConfig {
    /// Put the checks and credentials of each cycle as compliance items of the instance
    /// (`PutComplianceItems`). An instance Systems Manager does not manage, or a role without
    /// the permission, makes the sink inactive (said once, asked again daily).
    pub compliance: bool,
    /// Systems Manager endpoint; when unset, the regional endpoint of the instance's region
    /// (in the variant of `cloudwatch.use_fips_endpoint` / `use_dualstack_endpoint`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl Default for SsmConfig {
    fn default() -> Self {
        SsmConfig {
            compliance: true,
            endpoint: None,
        }
    }
}

impl SsmConfig {
    /// `AWS_ENDPOINT_URL_SSM`, else `AWS_ENDPOINT_URL`, beats `ssm.endpoint`.
    pub(super) fn apply_env(&mut self, env: &Env) {
        if let Some(ep) = env
            .get(ENDPOINT_URL_SSM_VAR)
            .or_else(|| env.get(ENDPOINT_URL_VAR))
        {
            self.endpoint = Some(ep.to_string());
        }
    }

    /// `ssm.endpoint` must be a URL.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        match &self.endpoint {
            Some(ep) if reqwest::Url::parse(ep).is_err() => Err(ConfigError::Invalid {
                origin: origin.to_string(),
                key: "ssm.endpoint".into(),
                message: format!("expected a URL, found {ep:?}"),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_precedence_table() {
        let file = Some("http://file".to_string());
        type Row<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, Option<&'a str>);
        let rows: [Row; 4] = [
            (&[], None, None),
            (&[], file.as_deref(), Some("http://file")),
            (
                &[("AWS_ENDPOINT_URL", "http://all")],
                file.as_deref(),
                Some("http://all"),
            ),
            (
                &[
                    ("AWS_ENDPOINT_URL", "http://all"),
                    ("AWS_ENDPOINT_URL_SSM", "http://ssm"),
                ],
                file.as_deref(),
                Some("http://ssm"),
            ),
        ];
        for (vars, from_file, want) in rows {
            let mut c = SsmConfig {
                endpoint: from_file.map(str::to_string),
                ..SsmConfig::default()
            };
            c.apply_env(&Env::from_pairs(vars));
            assert_eq!(c.endpoint.as_deref(), want, "{vars:?}");
        }
    }

    #[test]
    fn a_bad_endpoint_is_named() {
        let c = SsmConfig {
            endpoint: Some("not a url".into()),
            ..SsmConfig::default()
        };
        let err = c.validate("c.toml").unwrap_err().to_string();
        assert!(
            err.contains("ssm.endpoint") && err.contains("c.toml"),
            "{err}"
        );
    }
}
