//! The documents: one AWS Security Finding Format (ASFF) finding per credential on the
//! instance and one per failed role check (DESIGN.md "Security Hub"), with the fields and
//! limits of botocore's `securityhub` model and the ASFF user guide.
//!
//! Built without times (`CreatedAt`, `UpdatedAt` empty, `RecordState` `ACTIVE`): when a
//! finding was first seen and last changed is the lifecycle's to decide
//! ([`super::lifecycle`]), which compares these time-free documents to tell a change.
//!
//! Never a secret: a credential is shown by its key id, the redacted prefix and the
//! fingerprint of the part found, exactly as the scan JSON shows it.
//!
//! `Types` (ASFF taxonomy, `namespace/category[/classifier]`):
//! - a credential: `Sensitive Data Identifications/Passwords` (secret material at rest: the
//!   taxonomy's category for credentials) and the CIS standard it breaks;
//! - a role check: `Software and Configuration Checks/AWS Security Best Practices` (a
//!   configuration of the instance) and the CIS standard;
//!
//! Both carry `Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS
//! Foundations Benchmark`, so that a filter on the CIS type finds them beside Security Hub's
//! own CIS controls.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::finding::{KeyType, Kind};
use crate::owner::{AccountClass, KeyStatus, Severity};
use crate::report::fleet::{self, CredentialView, HostView};
use crate::role::{self, Check};

/// The only ASFF schema version.
pub(crate) const SCHEMA_VERSION: &str = "2018-10-08";
/// `GeneratorId` of every credential finding.
pub(crate) const CREDENTIAL_GENERATOR: &str = "credhygiene/hardcoded-credential";
/// `ProductName` of the findings (custom integrations may set it: a filter on it finds ours).
const PRODUCT_NAME: &str = "credhygiene";
/// CIS AWS Foundations Benchmark v3.0.0 1.18: instance roles for AWS access from instances.
pub(crate) const CIS_ROLES: &str = "CIS AWS Foundations Benchmark v3.0.0/1.18";
/// CIS AWS Foundations Benchmark v3.0.0 5.6: IMDSv2 only.
pub(crate) const CIS_IMDSV2: &str = "CIS AWS Foundations Benchmark v3.0.0/5.6";
/// ASFF limits (user guide, "Required top-level attributes" and "Optional …").
const MAX_TITLE: usize = 256;
const MAX_DESCRIPTION: usize = 1024;
const MAX_RECOMMENDATION: usize = 512;
const MAX_FIELD_VALUE: usize = 2048;

const TYPE_CIS: &str =
    "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark";
const TYPE_SECRET: &str = "Sensitive Data Identifications/Passwords";
const TYPE_BEST_PRACTICE: &str = "Software and Configuration Checks/AWS Security Best Practices";

/// One ASFF finding as `BatchImportFindings` takes it (member names as the model spells them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct AsffFinding {
    pub(crate) schema_version: String,
    pub(crate) id: String,
    pub(crate) product_arn: String,
    pub(crate) product_name: String,
    pub(crate) generator_id: String,
    pub(crate) aws_account_id: String,
    pub(crate) region: String,
    pub(crate) types: Vec<String>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) severity: Label,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) remediation: Remediation,
    pub(crate) product_fields: BTreeMap<String, String>,
    pub(crate) resources: Vec<Resource>,
    pub(crate) compliance: Compliance,
    pub(crate) record_state: RecordState,
    pub(crate) finding_provider_fields: ProviderFields,
}

/// `Severity` / `FindingProviderFields.Severity`: the label only (DESIGN.md severity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct Label {
    pub(crate) label: Severity,
}

/// `FindingProviderFields`: what the provider says, kept by Security Hub even after a
/// customer changed the top-level `Severity`/`Types` with `BatchUpdateFindings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct ProviderFields {
    pub(crate) severity: Label,
    pub(crate) types: Vec<String>,
}

/// `Remediation.Recommendation.Text`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct Remediation {
    pub(crate) recommendation: Recommendation,
}

/// The exact command, then what else to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct Recommendation {
    pub(crate) text: String,
}

/// `Compliance`: `FAILED` while present, `PASSED` once resolved, and the CIS control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct Compliance {
    pub(crate) status: ComplianceStatus,
    pub(crate) related_requirements: Vec<String>,
}

/// `Compliance.Status` values the agent uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum ComplianceStatus {
    Passed,
    Failed,
}

/// `RecordState`: `ARCHIVED` tells Security Hub the finding is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum RecordState {
    Active,
    Archived,
}

/// One `Resources` entry: the instance, or the access key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct Resource {
    #[serde(rename = "Type")]
    pub(crate) kind: String,
    pub(crate) id: String,
    pub(crate) partition: String,
    pub(crate) region: String,
    pub(crate) details: Details,
}

/// `Resources[].Details`: one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct Details {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) aws_ec2_instance: Option<Ec2Details>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) aws_iam_access_key: Option<KeyDetails>,
}

/// `AwsEc2InstanceDetails` (what the identity document says).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct Ec2Details {
    #[serde(rename = "Type")]
    pub(crate) instance_type: String,
    pub(crate) image_id: String,
}

/// `AwsIamAccessKeyDetails` (what IAM said, where it was asked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct KeyDetails {
    pub(crate) access_key_id: String,
    pub(crate) account_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) principal_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) principal_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub(crate) status: Option<KeyStatus>,
}

/// Where the findings go: the account and region of the import, which name the product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Destination {
    /// The ARN partition of `region`.
    pub(crate) partition: String,
    /// The region the findings are imported into.
    pub(crate) region: String,
}

impl Destination {
    /// The account's default product: `arn:<partition>:securityhub:<region>:<account>:product/<account>/default`.
    pub(crate) fn product_arn(&self, account: &str) -> String {
        format!(
            "arn:{}:securityhub:{}:{account}:product/{account}/default",
            self.partition, self.region
        )
    }
}

/// Every finding of `view` as it stands (time-free): one per credential, one per failed check.
pub(crate) fn documents(view: &HostView, to: &Destination) -> Vec<AsffFinding> {
    let failed = view
        .checks
        .iter()
        .flatten()
        .filter(|c| c.status == role::Status::Fail);
    view.credentials
        .iter()
        .map(|c| credential(view, c, to))
        .chain(failed.map(|c| check(view, c, to)))
        .collect()
}

/// The `Id` of a role check's finding on the instance.
pub(crate) fn check_id(instance_id: &str, check: &str) -> String {
    format!("credhygiene/{instance_id}/{check}")
}

/// The finding of one credential.
pub(crate) fn credential(view: &HostView, c: &CredentialView, to: &Destination) -> AsffFinding {
    let f = &c.shown;
    let what = match (&f.key_id, f.key_type) {
        (Some(id), Some(KeyType::Temporary)) => format!("temporary AWS access key {id}"),
        (Some(id), _) => format!("AWS access key {id}"),
        (None, _) => format!("AWS {} {}", f.kind.as_str().replace('_', " "), f.redacted),
    };
    let title = format!("Hard-coded {what} in {}:{}", f.path, f.line);
    let parts: Vec<&str> = c.kinds.iter().map(|k| k.as_str()).collect();
    let description = format!(
        "The {what} is written in {} (line {}, found in a {} source) on instance {}: {}. \
         Hard-coded keys are never rotated and escape the instance role's scoping \
         (CIS AWS Foundations 1.18). Parts found together: {}. The secret itself is not \
         reported, only its fingerprint {}.",
        f.path,
        f.line,
        f.source.as_str().replace('_', " "),
        view.instance.instance_id,
        owner_sentence(c),
        parts.join(", "),
        f.fingerprint,
    );
    let mut resources = vec![instance_resource(view, to)];
    if let (Some(key), Some(AccountClass::Own)) = (&f.key_id, c.owner.as_ref().map(|o| o.account)) {
        resources.push(key_resource(view, c, key, to));
    }
    let types = vec![TYPE_SECRET.to_string(), TYPE_CIS.to_string()];
    finding(
        view,
        to,
        Head {
            id: format!("credhygiene/{}/{}", view.instance.instance_id, c.credential),
            generator: CREDENTIAL_GENERATOR.to_string(),
            types,
            severity: c.severity,
            title,
            description,
            recommendation: credential_remedy(c),
            requirement: CIS_ROLES,
        },
        credential_fields(c),
        resources,
    )
}

/// The finding of one failed role check.
pub(crate) fn check(view: &HostView, c: &Check, to: &Destination) -> AsffFinding {
    let (title, requirement) = match c.id {
        role::CHECK_PROFILE => ("EC2 instance has no IAM instance profile", CIS_ROLES),
        role::CHECK_IMDSV2 => (
            "EC2 instance metadata service answers IMDSv1 requests",
            CIS_IMDSV2,
        ),
        role::CHECK_STATIC_KEYS => (
            "Hard-coded AWS keys on an instance that has an IAM role",
            CIS_ROLES,
        ),
        _ => ("EC2 instance role credentials are not usable", CIS_ROLES),
    };
    // The rule Systems Manager uses too: one check, one severity in both places.
    let severity = fleet::check_severity(c.id, &view.credentials);
    let recommendation = c.remediation.as_ref().map_or_else(
        || "See the check's detail.".to_string(),
        |r| format!("Run: {} ({})", r.command, r.why),
    );
    let fields = BTreeMap::from([
        ("credhygiene/check".to_string(), c.id.to_string()),
        ("credhygiene/source".to_string(), "role_check".to_string()),
    ]);
    finding(
        view,
        to,
        Head {
            id: check_id(&view.instance.instance_id, c.id),
            generator: format!("credhygiene/{}", c.id),
            types: vec![TYPE_BEST_PRACTICE.to_string(), TYPE_CIS.to_string()],
            severity,
            title: format!("{title} ({})", view.instance.instance_id),
            description: format!("{}: {}", c.id, c.detail),
            recommendation,
            requirement,
        },
        fields,
        vec![instance_resource(view, to)],
    )
}

/// What differs between the two kinds of finding.
struct Head {
    id: String,
    generator: String,
    types: Vec<String>,
    severity: Severity,
    title: String,
    description: String,
    recommendation: String,
    requirement: &'static str,
}

fn finding(
    view: &HostView,
    to: &Destination,
    h: Head,
    product_fields: BTreeMap<String, String>,
    resources: Vec<Resource>,
) -> AsffFinding {
    let account = &view.instance.account_id;
    AsffFinding {
        schema_version: SCHEMA_VERSION.to_string(),
        id: h.id,
        product_arn: to.product_arn(account),
        product_name: PRODUCT_NAME.to_string(),
        generator_id: h.generator,
        aws_account_id: account.clone(),
        region: to.region.clone(),
        types: h.types.clone(),
        created_at: String::new(),
        updated_at: String::new(),
        severity: Label { label: h.severity },
        title: clip(&h.title, MAX_TITLE),
        description: clip(&h.description, MAX_DESCRIPTION),
        remediation: Remediation {
            recommendation: Recommendation {
                text: clip(&h.recommendation, MAX_RECOMMENDATION),
            },
        },
        product_fields: product_fields
            .into_iter()
            .map(|(k, v)| (k, clip(&v, MAX_FIELD_VALUE)))
            .collect(),
        resources,
        compliance: Compliance {
            status: ComplianceStatus::Failed,
            related_requirements: vec![h.requirement.to_string()],
        },
        record_state: RecordState::Active,
        finding_provider_fields: ProviderFields {
            severity: Label { label: h.severity },
            types: h.types,
        },
    }
}

/// The instance: `arn:<partition>:ec2:<region>:<account>:instance/<id>`.
fn instance_resource(view: &HostView, to: &Destination) -> Resource {
    let i = &view.instance;
    Resource {
        kind: "AwsEc2Instance".to_string(),
        id: format!(
            "arn:{}:ec2:{}:{}:instance/{}",
            to.partition, i.region, i.account_id, i.instance_id
        ),
        partition: to.partition.clone(),
        region: i.region.clone(),
        details: Details {
            aws_ec2_instance: Some(Ec2Details {
                instance_type: i.instance_type.clone(),
                image_id: i.image_id.clone(),
            }),
            aws_iam_access_key: None,
        },
    }
}

/// The access key of this account (IAM keys have no ARN: the id form GuardDuty uses).
fn key_resource(view: &HostView, c: &CredentialView, key: &str, to: &Destination) -> Resource {
    let owner = c.owner.as_ref();
    let user = owner.and_then(|o| o.user.clone());
    Resource {
        kind: "AwsIamAccessKey".to_string(),
        id: format!("AWS::IAM::AccessKey:{key}"),
        partition: to.partition.clone(),
        region: to.region.clone(),
        details: Details {
            aws_ec2_instance: None,
            aws_iam_access_key: Some(KeyDetails {
                access_key_id: key.to_string(),
                account_id: view.instance.account_id.clone(),
                principal_type: user.as_ref().map(|_| "IAMUser".to_string()),
                principal_name: user,
                status: owner.and_then(|o| o.status),
            }),
        },
    }
}

/// `ProductFields`: where, what, whose. `last_used` only to the day, so that a key in use
/// does not make a new version of its finding every cycle.
fn credential_fields(c: &CredentialView) -> BTreeMap<String, String> {
    let f = &c.shown;
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(format!("credhygiene/{k}"), v);
    };
    put("path", f.path.clone());
    put("line", f.line.to_string());
    put("fingerprint", f.fingerprint.clone());
    put("redacted", f.redacted.clone());
    put("source", f.source.as_str().to_string());
    put("rule", f.rule.clone());
    put("credential", c.credential.clone());
    if let Some(e) = f.encoding_label() {
        put("encoding", e);
    }
    if let Some(k) = &f.key_id {
        put("key_id", k.clone());
    }
    if let Some(t) = f.key_type {
        put("key_type", t.as_str().to_string());
    }
    if let Some(o) = &c.owner {
        put("owner_account", o.account.as_str().to_string());
        if let Some(a) = &f.account_id {
            put("key_account_id", a.clone());
        }
        if let Some(u) = &o.user {
            put("owner_user", u.clone());
        }
        if let Some(s) = o.status {
            put("owner_status", s.as_str().to_string());
        }
        if let Some(d) = &o.last_used {
            put("owner_last_used", d.chars().take(10).collect());
        }
        if let Some(s) = &o.last_used_service {
            put("owner_last_used_service", s.clone());
        }
    }
    m
}

/// Whose key it is, in one clause.
fn owner_sentence(c: &CredentialView) -> String {
    let Some(o) = &c.owner else {
        return "its key id was not found with it, so its owner is unknown".to_string();
    };
    let account = c
        .shown
        .account_id
        .as_deref()
        .unwrap_or("an unknown account");
    match (o.account, &o.user, o.status) {
        (AccountClass::Own, Some(u), Some(s)) => {
            format!(
                "the key belongs to IAM user {u} of this account and is {}",
                s.as_str()
            )
        }
        (AccountClass::Own, Some(u), None) => {
            format!("the key belongs to IAM user {u} of this account")
        }
        (AccountClass::Own, None, _) => "the key belongs to this account".to_string(),
        (AccountClass::Foreign, ..) => format!("the key belongs to another account ({account})"),
        (AccountClass::Canary, ..) => format!(
            "the key is a canary token issued from account {account}: a tripwire, never to be used"
        ),
        (AccountClass::Unknown, ..) => "the key's account cannot be told from its id".to_string(),
    }
}

/// The exact command: deactivate the key where this account can, then remove it from the
/// file and use the instance role.
fn credential_remedy(c: &CredentialView) -> String {
    let f = &c.shown;
    let then = format!(
        "then remove it from {} line {} and use the instance role's credentials instead.",
        f.path, f.line
    );
    let Some(key) = &f.key_id else {
        let what = if c.kinds.contains(&Kind::SessionToken) {
            "session token"
        } else {
            "secret"
        };
        return format!("Find the access key this {what} belongs to and deactivate it, {then}");
    };
    let class = c
        .owner
        .as_ref()
        .map_or(AccountClass::Unknown, |o| o.account);
    match (class, c.owner.as_ref().and_then(|o| o.user.as_deref()), f.key_type) {
        (AccountClass::Canary, ..) => {
            format!("Do not use or verify this canary key (it alerts its issuer); {then}")
        }
        (_, _, Some(KeyType::Temporary)) => format!(
            "Revoke the sessions of the role that issued {key} (IAM console: Revoke active sessions), {then}"
        ),
        (AccountClass::Own, Some(user), _) => format!(
            "Run: aws iam update-access-key --user-name {user} --access-key-id {key} --status Inactive, {then}"
        ),
        (AccountClass::Own, None, _) => format!(
            "Run: aws iam get-access-key-last-used --access-key-id {key} (it names the UserName), then \
             aws iam update-access-key --user-name <UserName> --access-key-id {key} --status Inactive, {then}"
        ),
        (AccountClass::Foreign, ..) => format!(
            "Ask the owner of account {} to deactivate {key} (aws iam update-access-key --access-key-id {key} --status Inactive), {then}",
            f.account_id.as_deref().unwrap_or("?")
        ),
        (AccountClass::Unknown, ..) => format!(
            "In the account that owns {key}: aws iam update-access-key --access-key-id {key} --status Inactive, {then}"
        ),
    }
}

/// At most `max` characters (ASFF limits count characters), ending in `…` when cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests;
