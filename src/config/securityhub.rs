//! `[securityhub]`: findings in AWS Security Hub (ASFF, `BatchImportFindings`), signed with the
//! instance role's credentials. The region and the endpoint variant (FIPS, dual-stack) are
//! those of `[cloudwatch]` (and `AWS_REGION`, `AWS_USE_FIPS_ENDPOINT`,
//! `AWS_USE_DUALSTACK_ENDPOINT`, which set them for every AWS service the agent calls).

use serde::{Deserialize, Serialize};

use super::{Env, ENDPOINT_URL_VAR};

/// Endpoint for Security Hub, as in the AWS SDKs.
pub const ENDPOINT_URL_SECURITYHUB_VAR: &str = "AWS_ENDPOINT_URL_SECURITYHUB";

/// `[securityhub]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityHubConfig {
    /// Import findings into Security Hub. Where it cannot work (Security Hub not enabled in
    /// the account and region, or the role may not import) the sink says so once, stops
    /// calling and asks again daily.
    pub enabled: bool,
    /// Security Hub endpoint; when unset, the regional AWS endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl Default for SecurityHubConfig {
    fn default() -> Self {
        SecurityHubConfig {
            enabled: true,
            endpoint: None,
        }
    }
}

impl SecurityHubConfig {
    /// `AWS_ENDPOINT_URL_SECURITYHUB`, else `AWS_ENDPOINT_URL`, beats the file.
    pub(super) fn apply_env(&mut self, env: &Env) {
        if let Some(ep) = env
            .get(ENDPOINT_URL_SECURITYHUB_VAR)
            .or(env.get(ENDPOINT_URL_VAR))
        {
            self.endpoint = Some(ep.to_string());
        }
    }

    /// `Err((key, what was expected))` for an endpoint that is not a URL.
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        match &self.endpoint {
            Some(v) if reqwest::Url::parse(v).is_err() => Err((
                "securityhub.endpoint",
                format!("expected a URL, found {v:?}"),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{apply_env, parse_str, Config};
    use super::*;
    use std::path::Path;

    #[test]
    fn endpoint_precedence_and_validation() {
        let file = "[securityhub]\nendpoint = \"http://file:1\"\n";
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>);
        let cases: &[Case] = &[
            ("", &[], None),
            (file, &[], Some("http://file:1")),
            (
                file,
                &[(ENDPOINT_URL_VAR, "http://all:2")],
                Some("http://all:2"),
            ),
            (
                file,
                &[
                    (ENDPOINT_URL_VAR, "http://all:2"),
                    (ENDPOINT_URL_SECURITYHUB_VAR, "http://sh:3"),
                ],
                Some("http://sh:3"),
            ),
        ];
        for (file, env, want) in cases {
            let mut c = parse_str(file, Path::new("f")).unwrap();
            apply_env(&mut c, &Env::from_pairs(env)).unwrap();
            assert_eq!(c.securityhub.endpoint.as_deref(), *want, "{file:?} {env:?}");
        }
        let c = parse_str("[securityhub]\nenabled = false\n", Path::new("f")).unwrap();
        assert!(!c.securityhub.enabled);
        assert!(Config::default().securityhub.enabled);
        let bad = SecurityHubConfig {
            endpoint: Some("not a url".into()),
            ..SecurityHubConfig::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "securityhub.endpoint");
        let err = parse_str("[securityhub]\nenable = true\n", Path::new("f")).unwrap_err();
        assert!(err.to_string().contains("enable"), "{err}");
    }
}
