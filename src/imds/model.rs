//! Plain data read from IMDS: the identity document, the instance profile, the role's
//! credentials (and the parser of their document). Secrets are wrapped in [`Sensitive`],
//! whose `Debug` and `Display` redact.

use std::fmt;
use std::time::SystemTime;

use serde::Deserialize;

use super::error::{printable, ImdsError};

/// A secret string (IMDS token, secret access key, session token): `Debug` and `Display`
/// print `** redacted **`, so it cannot leak through a log line or a panic message.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Sensitive(String);

impl Sensitive {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Sensitive(s.into())
    }

    /// The secret itself, for signing or sending only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("** redacted **")
    }
}

impl fmt::Display for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("** redacted **")
    }
}

/// `/latest/dynamic/instance-identity/document` (the fields the agent uses). It reads
/// camelCase from IMDS and writes the snake_case `instance` object of `role --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all(deserialize = "camelCase", serialize = "snake_case"))]
pub struct IdentityDocument {
    /// `i-…`
    pub instance_id: String,
    /// 12-digit account id.
    pub account_id: String,
    /// e.g. `us-east-1`.
    pub region: String,
    /// e.g. `us-east-1a`.
    pub availability_zone: String,
    /// e.g. `m7g.large`.
    pub instance_type: String,
    /// `ami-…`
    pub image_id: String,
    /// `x86_64`, `arm64` …
    #[serde(default, skip_serializing)]
    pub architecture: Option<String>,
}

/// `/latest/meta-data/iam/info`: the attached instance profile.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IamInfo {
    /// `Success` when the profile is usable.
    pub code: String,
    /// When IMDS last updated this document (RFC 3339).
    #[serde(default)]
    pub last_updated: Option<String>,
    /// `arn:aws:iam::ACCOUNT:instance-profile/NAME`
    pub instance_profile_arn: String,
    /// `AIPA…`
    pub instance_profile_id: String,
}

/// The role's temporary credentials from `/latest/meta-data/iam/security-credentials/ROLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleCredentials {
    /// The role name they belong to.
    pub role: String,
    /// `Success`, or an error code such as `AssumeRoleUnauthorizedAccess`.
    pub code: String,
    /// `AWS-HMAC`.
    pub kind: Option<String>,
    /// `ASIA…` (an identifier, not a secret).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Sensitive,
    /// The session token.
    pub session_token: Sensitive,
    /// When they expire.
    pub expiration: SystemTime,
    /// When IMDS last rotated them.
    pub last_updated: Option<SystemTime>,
}

impl RoleCredentials {
    /// The credentials in the form `aws-sigv4` signs with.
    pub fn to_aws(&self) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            self.access_key_id.clone(),
            self.secret_access_key.expose().to_string(),
            Some(self.session_token.expose().to_string()),
            Some(self.expiration),
            "imds",
        )
    }
}

/// The credentials document as IMDS writes it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialsDoc {
    code: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    last_updated: Option<String>,
    #[serde(default, rename = "Type")]
    kind: Option<String>,
    #[serde(default)]
    access_key_id: Option<String>,
    #[serde(default)]
    secret_access_key: Option<Sensitive>,
    #[serde(default)]
    token: Option<Sensitive>,
    #[serde(default)]
    expiration: Option<String>,
}

impl fmt::Debug for CredentialsDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialsDoc")
            .field("code", &self.code)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

fn parse_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s.trim()).ok()
}

/// Parses `/latest/meta-data/iam/security-credentials/ROLE`.
pub fn parse_credentials(role: &str, uri: &str, body: &[u8]) -> Result<RoleCredentials, ImdsError> {
    let doc: CredentialsDoc = serde_json::from_slice(body).map_err(|source| ImdsError::Parse {
        uri: uri.to_string(),
        source,
    })?;
    let bad = |code: &str, message: &str| ImdsError::Credentials {
        uri: uri.to_string(),
        code: code.to_string(),
        message: Some(message.to_string()),
    };
    if doc.code != "Success" {
        return Err(ImdsError::Credentials {
            uri: uri.to_string(),
            code: doc.code,
            message: doc.message.map(|m| printable(m.as_bytes())),
        });
    }
    let access_key_id = doc
        .access_key_id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("Success", "AccessKeyId is missing"))?;
    let secret_access_key = doc
        .secret_access_key
        .filter(|s| !s.expose().is_empty())
        .ok_or_else(|| bad("Success", "SecretAccessKey is missing"))?;
    let session_token = doc
        .token
        .filter(|s| !s.expose().is_empty())
        .ok_or_else(|| bad("Success", "Token is missing"))?;
    let expiration = doc
        .expiration
        .as_deref()
        .and_then(parse_time)
        .ok_or_else(|| bad("Success", "Expiration is missing or not RFC 3339"))?;
    Ok(RoleCredentials {
        role: role.to_string(),
        code: doc.code,
        kind: doc.kind,
        access_key_id,
        secret_access_key,
        session_token,
        expiration,
        last_updated: doc.last_updated.as_deref().and_then(parse_time),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw";

    #[test]
    fn credentials_parse_and_redact() {
        let body = format!(
            r#"{{"Code":"Success","LastUpdated":"2026-11-25T09:00:00Z","Type":"AWS-HMAC",
            "AccessKeyId":"ASIASXQV3SVWMFRRRM75","SecretAccessKey":"{SECRET}",
            "Token":"IQoJtokentokentoken","Expiration":"2026-11-25T15:00:00Z"}}"#
        );
        let c = parse_credentials("web", "u", body.as_bytes()).unwrap();
        assert_eq!(c.access_key_id, "ASIASXQV3SVWMFRRRM75");
        assert_eq!(c.secret_access_key.expose(), SECRET);
        assert_eq!(
            humantime::format_rfc3339(c.expiration).to_string(),
            "2026-11-25T15:00:00Z"
        );
        let dbg = format!("{c:?}");
        assert!(!dbg.contains(SECRET) && !dbg.contains("IQoJtoken"), "{dbg}");
    }

    #[test]
    fn credentials_error_code_is_explained() {
        let body = br#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"EC2 cannot assume the role","LastUpdated":"2026-11-25T09:00:00Z"}"#;
        let e = parse_credentials("web", "u", body).unwrap_err();
        match &e {
            ImdsError::Credentials { code, message, .. } => {
                assert_eq!(code, "AssumeRoleUnauthorizedAccess");
                assert_eq!(message.as_deref(), Some("EC2 cannot assume the role"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_credentials_do_not_echo_the_body() {
        let body = format!(r#"{{"Code":"Success","SecretAccessKey":"{SECRET}", oops"#);
        let e = parse_credentials("web", "u", body.as_bytes()).unwrap_err();
        assert!(matches!(e, ImdsError::Parse { .. }));
        assert!(!e.to_string().contains(SECRET));
        assert!(!format!("{e:?}").contains(SECRET));
        let missing = br#"{"Code":"Success","AccessKeyId":"ASIA1"}"#;
        let e = parse_credentials("web", "u", missing).unwrap_err();
        assert!(e.to_string().contains("SecretAccessKey is missing"), "{e}");
    }
}
