//! Plain data read from IMDS: the identity document, the instance profile, the role's
//! credentials. Secrets are wrapped in [`Sensitive`], whose `Debug` and `Display` redact.

use std::fmt;
use std::time::SystemTime;

use serde::Deserialize;

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
