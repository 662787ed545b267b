//! `[enrich]`: what the agent may ask AWS about the keys it finds (DESIGN.md "Key owner").

use serde::{Deserialize, Serialize};

use super::{ConfigError, Env, ENDPOINT_URL_VAR};

/// Endpoint for IAM (`enrich.iam_endpoint`), as in the AWS SDKs.
pub const ENDPOINT_URL_IAM_VAR: &str = "AWS_ENDPOINT_URL_IAM";

/// `[enrich]`: off by default. With `iam = true`, for keys of the instance's own account only,
/// the agent asks IAM (`GetAccessKeyLastUsed`, `ListAccessKeys`) with the instance role's
/// credentials who owns the key, whether it is active and when it was last used. The found
/// secret is never used to sign anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichConfig {
    /// Ask IAM about keys of this account (needs `iam:GetAccessKeyLastUsed` and
    /// `iam:ListAccessKeys` on the account's users).
    pub iam: bool,
    /// IAM endpoint; when unset, the global endpoint of the instance's partition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iam_endpoint: Option<String>,
}

impl EnrichConfig {
    /// `AWS_ENDPOINT_URL_IAM`, else `AWS_ENDPOINT_URL`, beats the file.
    pub(super) fn apply_env(&mut self, env: &Env) {
        if let Some(ep) = env.get(ENDPOINT_URL_IAM_VAR).or(env.get(ENDPOINT_URL_VAR)) {
            self.iam_endpoint = Some(ep.to_string());
        }
    }

    /// The checks of the section (`origin`: where the values came from).
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        match &self.iam_endpoint {
            Some(ep) if reqwest::Url::parse(ep).is_err() => Err(ConfigError::Invalid {
                origin: origin.to_string(),
                key: "enrich.iam_endpoint".into(),
                message: format!("expected a URL, found {ep:?}"),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_str;
    use super::*;
    use std::path::Path;

    #[test]
    fn off_by_default_and_the_endpoint_from_env_beats_the_file() {
        assert!(!EnrichConfig::default().iam);
        let file = "[enrich]\niam = true\niam_endpoint = \"http://file:1\"\n";
        let cases: [(&[(&str, &str)], &str); 3] = [
            (&[], "http://file:1"),
            (&[(ENDPOINT_URL_VAR, "http://all:2")], "http://all:2"),
            (
                &[
                    (ENDPOINT_URL_VAR, "http://all:2"),
                    (ENDPOINT_URL_IAM_VAR, "http://iam:3"),
                ],
                "http://iam:3",
            ),
        ];
        for (env, want) in cases {
            let mut c = parse_str(file, Path::new("f")).unwrap();
            c.enrich.apply_env(&Env::from_pairs(env));
            assert!(c.enrich.iam);
            assert_eq!(c.enrich.iam_endpoint.as_deref(), Some(want), "{env:?}");
        }
        let bad = parse_str("[enrich]\niam_endpoint = \"not a url\"\n", Path::new("f")).unwrap();
        assert!(
            bad.enrich
                .validate("f")
                .unwrap_err()
                .to_string()
                .contains("enrich.iam_endpoint"),
            "a bad endpoint names its key"
        );
        assert!(parse_str("[enrich]\nverify = true\n", Path::new("f")).is_err());
    }
}
