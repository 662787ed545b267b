//! The instance-role check (`credhygiene role`): is an instance profile attached (CIS AWS
//! Foundations v3.0.0 1.18), does IMDS require session tokens (CIS 5.6), are the role's
//! credentials usable, and, after a scan, are hard-coded keys mixed with the role. The
//! result is a [`RoleReport`] that serialises to DESIGN.md's `role --format json`.

use std::fmt::Write as _;
use std::time::SystemTime;

use serde::Serialize;

use crate::imds::model::{IamInfo, IdentityDocument, RoleCredentials};
use crate::imds::{ImdsClient, ImdsError, V1Status};

/// Check id: an instance profile is attached (CIS 1.18).
pub const CHECK_PROFILE: &str = "instance_profile_attached";
/// Check id: IMDS answers only token requests (CIS 5.6).
pub const CHECK_IMDSV2: &str = "imdsv2_required";
/// Check id: the role's credentials are valid.
pub const CHECK_CREDENTIALS: &str = "role_credentials_valid";
/// Check id: no hard-coded keys on a host with an instance role.
pub const CHECK_STATIC_KEYS: &str = "no_static_keys_with_role";
/// Placeholder for the instance id in remediation commands when it is unknown.
const INSTANCE_ID_PLACEHOLDER: &str = "<instance-id>";

/// A check's or the report's result; the cycle report and the CloudWatch summary carry the
/// report's (`role_status`), unknown when IMDS could not be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Passed.
    Pass,
    /// Failed (exit 1).
    Fail,
    /// Could not be decided (off EC2, IMDS disabled or unreachable).
    #[default]
    Unknown,
}

impl Status {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Unknown => "unknown",
        }
    }
}

/// How to fix a failed check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Remediation {
    /// The exact AWS CLI command.
    pub command: String,
    /// Why it matters, in one line.
    pub why: String,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable id, e.g. `imdsv2_required`.
    pub id: &'static str,
    /// Result.
    pub status: Status,
    /// What was seen.
    pub detail: String,
    /// How to fix it (on failures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation: Option<Remediation>,
}

impl Check {
    fn pass(id: &'static str, detail: impl Into<String>) -> Check {
        Check {
            id,
            status: Status::Pass,
            detail: detail.into(),
            remediation: None,
        }
    }

    fn unknown(id: &'static str, detail: impl Into<String>) -> Check {
        Check {
            id,
            status: Status::Unknown,
            detail: detail.into(),
            remediation: None,
        }
    }

    fn fail(id: &'static str, detail: impl Into<String>, command: String, why: &str) -> Check {
        Check {
            id,
            status: Status::Fail,
            detail: detail.into(),
            remediation: Some(Remediation {
                command,
                why: why.to_string(),
            }),
        }
    }
}

/// `imds` in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImdsStatus {
    /// The endpoint used.
    pub endpoint: String,
    /// Whether IMDS answered.
    pub reachable: bool,
    /// Whether token-less (IMDSv1) requests are answered; `null` when unknown.
    pub v1_open: Option<bool>,
}

/// `instance` in the report: the identity document.
pub type Instance = IdentityDocument;

/// `instance_profile` in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceProfile {
    /// Whether a profile is attached.
    pub attached: bool,
    /// Its ARN, when known.
    pub arn: Option<String>,
    /// The role name, when known.
    pub role: Option<String>,
}

/// `credentials` in the report: identifiers and times only, never the secret or token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialsSummary {
    /// `ASIA…` (an identifier, not a secret).
    pub access_key_id: String,
    /// RFC 3339.
    pub expiration: String,
    /// RFC 3339, when IMDS gave it.
    pub last_updated: Option<String>,
}

impl From<&RoleCredentials> for CredentialsSummary {
    fn from(c: &RoleCredentials) -> Self {
        CredentialsSummary {
            access_key_id: c.access_key_id.clone(),
            expiration: humantime::format_rfc3339_seconds(c.expiration).to_string(),
            last_updated: c
                .last_updated
                .map(|t| humantime::format_rfc3339_seconds(t).to_string()),
        }
    }
}

/// The result of `credhygiene role` (DESIGN.md `role --format json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleReport {
    /// `pass`, `fail` (any check failed) or `unknown`.
    pub status: Status,
    /// IMDS as seen.
    pub imds: ImdsStatus,
    /// The instance; `null` when unknown.
    pub instance: Option<Instance>,
    /// The instance profile; `null` when unknown.
    pub instance_profile: Option<InstanceProfile>,
    /// The role's credentials; `null` when there are none.
    pub credentials: Option<CredentialsSummary>,
    /// The checks, in a fixed order.
    pub checks: Vec<Check>,
    /// What the IMDSv1 probe answered (or the remembered answer it was given); `None` when it
    /// failed or is off. Not part of the JSON: the caller remembers it ([`V1Probe`]).
    #[serde(skip)]
    pub v1_status: Option<V1Status>,
}

impl RoleReport {
    /// The report when IMDS cannot be reached: every check `unknown`.
    pub fn unreachable(endpoint: &str, why: &ImdsError) -> RoleReport {
        let detail = format!("IMDS not reachable: {why}");
        let mut r = RoleReport {
            status: Status::Unknown,
            imds: ImdsStatus {
                endpoint: endpoint.to_string(),
                reachable: false,
                v1_open: None,
            },
            instance: None,
            instance_profile: None,
            credentials: None,
            v1_status: None,
            checks: [CHECK_PROFILE, CHECK_IMDSV2, CHECK_CREDENTIALS]
                .into_iter()
                .map(|id| Check::unknown(id, detail.clone()))
                .collect(),
        };
        r.update_status();
        r
    }

    /// Recomputes `status` from the checks: fail if any failed, else unknown if any is
    /// unknown, else pass.
    pub fn update_status(&mut self) {
        self.status = if self.checks.iter().any(|c| c.status == Status::Fail) {
            Status::Fail
        } else if self.checks.iter().any(|c| c.status == Status::Unknown) {
            Status::Unknown
        } else {
            Status::Pass
        };
    }

    /// Whether an instance profile is attached.
    pub fn profile_attached(&self) -> bool {
        self.instance_profile.as_ref().is_some_and(|p| p.attached)
    }

    /// The check with this id.
    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// The `IMDSv1Open` metric: 1 open, 0 closed, `None` unknown.
    pub fn imdsv1_open_metric(&self) -> Option<u8> {
        self.imds.v1_open.map(u8::from)
    }

    /// The `InstanceProfileMissing` metric: 1 missing, 0 attached, `None` unknown.
    pub fn profile_missing_metric(&self) -> Option<u8> {
        self.instance_profile
            .as_ref()
            .map(|p| u8::from(!p.attached))
    }

    fn instance_id(&self) -> &str {
        self.instance
            .as_ref()
            .map_or(INSTANCE_ID_PLACEHOLDER, |i| i.instance_id.as_str())
    }

    /// Adds (or replaces) `no_static_keys_with_role` after a scan that found
    /// `distinct_credentials` hard-coded credentials, and updates `status`.
    pub fn add_static_keys_check(&mut self, distinct_credentials: usize) {
        self.checks.retain(|c| c.id != CHECK_STATIC_KEYS);
        let check = match (&self.instance_profile, distinct_credentials) {
            (None, _) => Check::unknown(
                CHECK_STATIC_KEYS,
                "unknown whether an instance role is attached",
            ),
            (Some(p), 0) if p.attached => Check::pass(
                CHECK_STATIC_KEYS,
                "the instance role is the only credential on this host",
            ),
            (Some(p), n) if p.attached => Check::fail(
                CHECK_STATIC_KEYS,
                format!(
                    "{n} hard-coded credential(s) found on a host that has the instance role {}",
                    p.role.as_deref().unwrap_or("(unnamed)")
                ),
                "aws iam update-access-key --access-key-id <key_id from the scan> --status Inactive".to_string(),
                "the role already gives this host rotating credentials; a static key beside it is never rotated and escapes the role's scoping (CIS AWS 1.18)",
            ),
            (Some(_), _) => Check::pass(
                CHECK_STATIC_KEYS,
                "no instance role attached, so none is mixed with static keys (see instance_profile_attached)",
            ),
        };
        self.checks.push(check);
        self.update_status();
    }

    /// The report as JSON (DESIGN.md), one document with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into());
        s.push('\n');
        s
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "instance role check: {}",
            self.status.as_str().to_uppercase()
        );
        let v1 = match self.imds.v1_open {
            Some(true) => ", IMDSv1 open",
            Some(false) => ", IMDSv2 only",
            None => "",
        };
        let reach = if self.imds.reachable {
            "reachable"
        } else {
            "not reachable"
        };
        let _ = writeln!(s, "  imds         {} ({reach}{v1})", self.imds.endpoint);
        if let Some(i) = &self.instance {
            let _ = writeln!(
                s,
                "  instance     {} ({}, {}, account {}, {})",
                i.instance_id, i.instance_type, i.availability_zone, i.account_id, i.image_id
            );
        }
        match &self.instance_profile {
            Some(p) if p.attached => {
                let _ = writeln!(
                    s,
                    "  profile      {} (role {})",
                    p.arn.as_deref().unwrap_or("?"),
                    p.role.as_deref().unwrap_or("?")
                );
            }
            Some(_) => {
                let _ = writeln!(s, "  profile      none attached");
            }
            None => {}
        }
        if let Some(c) = &self.credentials {
            let _ = writeln!(
                s,
                "  credentials  {} expires {}{}",
                c.access_key_id,
                c.expiration,
                c.last_updated
                    .as_deref()
                    .map(|t| format!(" (updated {t})"))
                    .unwrap_or_default()
            );
        }
        s.push('\n');
        for c in &self.checks {
            let _ = writeln!(
                s,
                "  {:<7} {:<26} {}",
                c.status.as_str().to_uppercase(),
                c.id,
                c.detail
            );
            if let Some(r) = &c.remediation {
                let _ = writeln!(s, "          fix: {}", r.command);
                let _ = writeln!(s, "          why: {}", r.why);
            }
        }
        s
    }
}

/// How the role check learns whether IMDSv1 is open.
///
/// The probe is a token-less GET, and EC2 counts every one in the instance's `MetadataNoToken`
/// metric (or `MetadataNoTokenRejected` where IMDSv1 is closed): probing on every role check
/// would make the agent look like a permanent IMDSv1 user and hide the real ones during an
/// IMDSv2 migration. So the agent probes at start and then at most once per
/// `imds.v1_probe_interval`, and remembers the answer in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V1Probe {
    /// Send the token-less probe now.
    Now,
    /// Use an earlier probe's answer; no token-less request is sent.
    Remembered(V1Status),
    /// Never probe (`v1_probe_interval = "0s"`): the check is `unknown`.
    Off,
}

/// Runs the checks against IMDS, probing IMDSv1 now. Only an unreachable IMDS (not EC2,
/// disabled, hop limit, no answer in time) is an error; anything IMDS says becomes a check
/// result.
pub async fn check(client: &ImdsClient) -> Result<RoleReport, ImdsError> {
    check_with(client, V1Probe::Now, SystemTime::now()).await
}

/// [`check`] with the clock given (credential expiry is judged against `now`).
pub async fn check_at(client: &ImdsClient, now: SystemTime) -> Result<RoleReport, ImdsError> {
    check_with(client, V1Probe::Now, now).await
}

/// [`check`] with the IMDSv1 knowledge and the clock given. The probe's own answer is in the
/// report (`v1_status`), for the caller to remember.
pub async fn check_with(
    client: &ImdsClient,
    probe: V1Probe,
    now: SystemTime,
) -> Result<RoleReport, ImdsError> {
    client.ensure_token().await?;
    let identity = soft(client.identity_document().await, "identity document")?.flatten();
    let v1 = match probe {
        V1Probe::Now => client.probe_v1().await.map(Some),
        V1Probe::Remembered(status) => Ok(Some(status)),
        V1Probe::Off => Ok(None),
    };
    let iam_info = client.iam_info().await;
    let role_name = client.role_name().await;
    let creds = match &role_name {
        Ok(Some(role)) => Some(client.role_credentials(role).await),
        _ => None,
    };
    let mut report = RoleReport {
        status: Status::Unknown,
        imds: ImdsStatus {
            endpoint: client.endpoint().to_string(),
            reachable: true,
            v1_open: match &v1 {
                Ok(Some(V1Status::Open)) => Some(true),
                Ok(Some(V1Status::Closed)) => Some(false),
                _ => None,
            },
        },
        instance: identity,
        instance_profile: None,
        credentials: None,
        checks: Vec::new(),
        v1_status: None,
    };
    let instance_id = report.instance_id().to_string();

    // instance_profile_attached (CIS 1.18)
    let (profile, profile_check) = profile_check(&instance_id, &iam_info, &role_name);
    report.instance_profile = profile;
    report.checks.push(profile_check);

    // imdsv2_required (CIS 5.6)
    report.v1_status = v1.as_ref().ok().copied().flatten();
    report.checks.push(match v1 {
        Ok(None) => Check::unknown(
            CHECK_IMDSV2,
            "the IMDSv1 probe is off (imds.v1_probe_interval = \"0s\")",
        ),
        Ok(Some(V1Status::Closed)) => Check::pass(
            CHECK_IMDSV2,
            if matches!(probe, V1Probe::Now) {
                "IMDSv1 requests are refused (401): session tokens are required"
            } else {
                "IMDSv1 requests are refused: session tokens are required (as last checked)"
            },
        ),
        Ok(Some(V1Status::Open)) => Check::fail(
            CHECK_IMDSV2,
            "IMDSv1 requests are answered",
            format!(
                "aws ec2 modify-instance-metadata-options --instance-id {instance_id} --http-tokens required --http-endpoint enabled"
            ),
            "IMDSv1 answers token-less requests, so an SSRF in any application on this host can read the role's credentials (CIS AWS 5.6)",
        ),
        Ok(Some(V1Status::Unexpected(s))) => Check::unknown(
            CHECK_IMDSV2,
            format!("a token-less GET {} answered {s}, neither 200 nor 401", crate::imds::V1_PROBE_PATH),
        ),
        Err(e) => Check::unknown(CHECK_IMDSV2, format!("IMDSv1 probe failed: {e}")),
    });

    // role_credentials_valid
    let role = report
        .instance_profile
        .as_ref()
        .and_then(|p| p.role.clone());
    let (summary, cred_check) = credentials_check(&instance_id, role.as_deref(), creds, now);
    report.credentials = summary;
    report.checks.push(cred_check);

    report.update_status();
    Ok(report)
}

/// Keeps an unreachable IMDS an error; turns other failures into `Ok(None)` with a warning.
fn soft<T>(r: Result<T, ImdsError>, what: &str) -> Result<Option<T>, ImdsError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e)
            if matches!(
                e,
                ImdsError::Unreachable { .. } | ImdsError::HopLimit { .. }
            ) =>
        {
            Err(e)
        }
        Err(e) => {
            log::warn!(error:% = e; "cannot read the {what}");
            Ok(None)
        }
    }
}

fn profile_check(
    instance_id: &str,
    iam_info: &Result<Option<IamInfo>, ImdsError>,
    role_name: &Result<Option<String>, ImdsError>,
) -> (Option<InstanceProfile>, Check) {
    let info = iam_info.as_ref().ok().and_then(Option::as_ref);
    let role = role_name.as_ref().ok().and_then(Option::as_ref);
    match (iam_info, role_name) {
        (Ok(None), Ok(None)) => (
            Some(InstanceProfile {
                attached: false,
                arn: None,
                role: None,
            }),
            Check::fail(
                CHECK_PROFILE,
                "no instance profile is attached",
                format!(
                    "aws ec2 associate-iam-instance-profile --instance-id {instance_id} --iam-instance-profile Name=<profile-name>"
                ),
                "without an instance role, applications on this host need hard-coded long-term keys (CIS AWS 1.18)",
            ),
        ),
        _ if info.is_some() || role.is_some() => {
            let arn = info.map(|i| i.instance_profile_arn.clone());
            let role = role.cloned();
            let mut detail = format!(
                "instance profile {} attached with role {}",
                arn.as_deref().unwrap_or("(ARN unknown)"),
                role.as_deref().unwrap_or("(unknown)")
            );
            if let Some(i) = info.filter(|i| i.code != "Success") {
                let _ = write!(detail, "; iam/info Code is {}", i.code);
            }
            (
                Some(InstanceProfile {
                    attached: true,
                    arn,
                    role,
                }),
                Check::pass(CHECK_PROFILE, detail),
            )
        }
        (a, b) => {
            let why = a
                .as_ref()
                .err()
                .or(b.as_ref().err())
                .map(ToString::to_string)
                .unwrap_or_default();
            (
                None,
                Check::unknown(
                    CHECK_PROFILE,
                    format!("cannot read the instance profile: {why}"),
                ),
            )
        }
    }
}

fn credentials_check(
    instance_id: &str,
    role: Option<&str>,
    creds: Option<Result<Option<RoleCredentials>, ImdsError>>,
    now: SystemTime,
) -> (Option<CredentialsSummary>, Check) {
    let reassociate = format!(
        "aws ec2 describe-iam-instance-profile-associations --filters Name=instance-id,Values={instance_id} (then aws ec2 replace-iam-instance-profile-association --association-id <association-id> --iam-instance-profile Name=<profile-name>)"
    );
    let Some(creds) = creds else {
        return (
            None,
            Check::unknown(
                CHECK_CREDENTIALS,
                "no role attached (or its name is unreadable): no role credentials to check",
            ),
        );
    };
    let role = role.unwrap_or("(unknown)");
    match creds {
        Ok(Some(c)) if c.expiration <= now => (
            Some(CredentialsSummary::from(&c)),
            Check::fail(
                CHECK_CREDENTIALS,
                format!(
                    "the credentials of role {role} ({}) expired at {}",
                    c.access_key_id,
                    humantime::format_rfc3339_seconds(c.expiration)
                ),
                reassociate,
                "IMDS keeps serving expired credentials, so every AWS call from this host fails until the profile association is repaired",
            ),
        ),
        Ok(Some(c)) => (
            Some(CredentialsSummary::from(&c)),
            Check::pass(
                CHECK_CREDENTIALS,
                format!(
                    "role {role} has valid credentials {} until {}",
                    c.access_key_id,
                    humantime::format_rfc3339_seconds(c.expiration)
                ),
            ),
        ),
        Ok(None) => (
            None,
            Check::fail(
                CHECK_CREDENTIALS,
                format!("IMDS lists role {role} but has no credentials for it (404)"),
                reassociate,
                "the role is attached but unusable, so AWS calls from this host fail",
            ),
        ),
        Err(ImdsError::Credentials { code, message, .. }) => {
            let explained = if code == "AssumeRoleUnauthorizedAccess" {
                format!(
                    "IMDS cannot get credentials for role {role}: Code AssumeRoleUnauthorizedAccess (the role's trust policy does not allow ec2.amazonaws.com to assume it)"
                )
            } else {
                format!(
                    "IMDS cannot get credentials for role {role}: Code {code}{}",
                    message.map(|m| format!(" ({m})")).unwrap_or_default()
                )
            };
            let command = if code == "AssumeRoleUnauthorizedAccess" {
                format!(
                    "aws iam update-assume-role-policy --role-name {role} --policy-document '{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"Service\":\"ec2.amazonaws.com\"}},\"Action\":\"sts:AssumeRole\"}}]}}'"
                )
            } else {
                reassociate
            };
            (
                None,
                Check::fail(
                    CHECK_CREDENTIALS,
                    explained,
                    command,
                    "without valid role credentials, software on this host cannot call AWS and tends to fall back to hard-coded keys",
                ),
            )
        }
        Err(e @ ImdsError::Parse { .. }) => (
            None,
            Check::fail(
                CHECK_CREDENTIALS,
                format!("the credentials of role {role} do not parse: {e}"),
                reassociate,
                "SDKs on this host cannot use credentials they cannot parse",
            ),
        ),
        Err(e) => (
            None,
            Check::unknown(
                CHECK_CREDENTIALS,
                format!("cannot read the credentials of role {role}: {e}"),
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_with_profile(attached: bool) -> RoleReport {
        RoleReport {
            status: Status::Pass,
            imds: ImdsStatus {
                endpoint: "http://127.0.0.1:1".into(),
                reachable: true,
                v1_open: Some(false),
            },
            instance: None,
            instance_profile: Some(InstanceProfile {
                attached,
                arn: None,
                role: attached.then(|| "web".to_string()),
            }),
            credentials: None,
            checks: vec![Check::pass(CHECK_PROFILE, "x")],
            v1_status: Some(V1Status::Closed),
        }
    }

    #[test]
    fn static_keys_with_role_fail_and_replace() {
        let mut r = report_with_profile(true);
        r.add_static_keys_check(0);
        assert_eq!(r.status, Status::Pass);
        r.add_static_keys_check(2);
        assert_eq!(r.status, Status::Fail);
        assert_eq!(
            r.checks
                .iter()
                .filter(|c| c.id == CHECK_STATIC_KEYS)
                .count(),
            1
        );
        let c = r.check(CHECK_STATIC_KEYS).unwrap();
        assert!(c.detail.contains("2 hard-coded"), "{}", c.detail);
        assert!(c
            .remediation
            .as_ref()
            .unwrap()
            .command
            .starts_with("aws iam "));
    }

    #[test]
    fn static_keys_without_role_are_not_this_check() {
        let mut r = report_with_profile(false);
        r.add_static_keys_check(3);
        assert_eq!(r.check(CHECK_STATIC_KEYS).unwrap().status, Status::Pass);
    }

    #[test]
    fn json_shape_has_nulls_and_remediation_only_on_failures() {
        let r = RoleReport::unreachable(
            "http://127.0.0.1:1",
            &ImdsError::Unreachable {
                endpoint: "http://127.0.0.1:1".into(),
                reason: "Connection refused".into(),
            },
        );
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["status"], "unknown");
        assert_eq!(v["imds"]["reachable"], false);
        assert!(v["instance"].is_null());
        assert!(v["instance_profile"].is_null());
        assert!(v["credentials"].is_null());
        assert_eq!(v["checks"].as_array().unwrap().len(), 3);
        assert!(v["checks"][0].get("remediation").is_none());
    }

    #[test]
    fn status_order_fail_beats_unknown_beats_pass() {
        let mut r = report_with_profile(true);
        r.checks.push(Check::unknown(CHECK_IMDSV2, "?"));
        r.update_status();
        assert_eq!(r.status, Status::Unknown);
        r.checks
            .push(Check::fail(CHECK_CREDENTIALS, "x", "aws …".into(), "y"));
        r.update_status();
        assert_eq!(r.status, Status::Fail);
        let text = r.to_text();
        assert!(text.starts_with("instance role check: FAIL"), "{text}");
        assert!(text.contains("fix: aws …"), "{text}");
    }
}
