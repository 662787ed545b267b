//! The `PutComplianceItems` request of one [`HostView`]: one item per decided role check and
//! one per credential, within the API's limits (botocore's `ssm` model: at most 10,000 items,
//! `Title` at most 500 characters, a `Details` key 1–64 and a value at most 4,096 characters).
//!
//! Guarantees: the request holds no secret (a credential is named by its group id, key id,
//! path, line and the `sha256:` fingerprint of its shown part, never by the matched value or
//! its redacted prefix); every string fits its limit whatever the input (control characters
//! become spaces, long values are cut on a character boundary and end in `…`); at most
//! [`MAX_ITEMS`] items, the credentials that do not fit counted in one summary item.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::finding::Kind;
use crate::report::fleet::{check_severity, CredentialView, HostView};
use crate::role::{self, Check, Status};

/// The compliance type every item is filed under (DESIGN.md).
pub const COMPLIANCE_TYPE: &str = "Custom:CredentialHygiene";
/// The resource type of an EC2 instance registered with Systems Manager.
pub const RESOURCE_TYPE: &str = "ManagedInstance";
/// Each call replaces the instance's whole set of this type.
const UPLOAD_TYPE: &str = "COMPLETE";
/// How the items were produced (`ExecutionSummary.ExecutionType`, DESIGN.md).
const EXECUTION_TYPE: &str = "Command";
/// Most items in one request (the API takes 10,000). A host with more than ~95 distinct
/// hard-coded credentials is one incident, not 95: the most severe are itemised, the rest
/// counted in one item, and the request stays small (at most about 400 KB with every value at
/// its cap, a few KB usually) whatever the host holds.
pub const MAX_ITEMS: usize = 100;
/// `Title` limit of the model, in characters.
const MAX_TITLE: usize = 500;
/// Our cap on a `Details` value (the model takes 4,096): a path longer than this is cut, which
/// keeps the worst-case request within [`MAX_ITEMS`] × ~3.6 KB.
const MAX_DETAIL: usize = 512;
/// The `Id` of the item that counts the credentials beyond [`MAX_ITEMS`].
pub const OVERFLOW_ID: &str = "more_credentials";
/// `Severity` of an item that passed.
const UNSPECIFIED: &str = "UNSPECIFIED";

/// The `PutComplianceItems` request (awsJson1.1 wire names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    /// The instance id.
    pub resource_id: String,
    /// [`RESOURCE_TYPE`].
    pub resource_type: String,
    /// [`COMPLIANCE_TYPE`].
    pub compliance_type: String,
    /// When the picture was taken.
    pub execution_summary: ExecutionSummary,
    /// The items, checks first, then credentials by severity.
    pub items: Vec<Item>,
    /// `COMPLETE`.
    pub upload_type: String,
}

/// `ExecutionSummary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecutionSummary {
    /// The cycle's time, epoch seconds (the JSON protocols' timestamp form).
    pub execution_time: u64,
    /// `Command`.
    pub execution_type: String,
}

/// One compliance item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Item {
    /// The check id or the credential id.
    pub id: String,
    /// One line.
    pub title: String,
    /// `CRITICAL` … `INFORMATIONAL`, `UNSPECIFIED` for a passing check.
    pub severity: String,
    /// `COMPLIANT` or `NON_COMPLIANT`.
    pub status: String,
    /// Where and whose (strings, each within [`MAX_DETAIL`]).
    pub details: BTreeMap<String, String>,
}

impl Request {
    /// The request of `view`.
    pub fn of(view: &HostView) -> Request {
        let mut items: Vec<Item> = view
            .checks
            .iter()
            .flatten()
            .filter_map(|c| check_item(c, &view.credentials))
            .collect();
        let room = MAX_ITEMS - items.len() - 1;
        let mut creds: Vec<&CredentialView> = view.credentials.iter().collect();
        // Most severe first; the credential id keeps the order (and the digest) stable.
        creds.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.credential.cmp(&b.credential))
        });
        let (shown, rest) = if creds.len() > room + 1 {
            creds.split_at(room)
        } else {
            (&creds[..], &[][..])
        };
        items.extend(shown.iter().map(|c| credential_item(c)));
        if let Some(item) = overflow_item(rest) {
            items.push(item);
        }
        Request {
            resource_id: view.instance.instance_id.clone(),
            resource_type: RESOURCE_TYPE.into(),
            compliance_type: COMPLIANCE_TYPE.into(),
            execution_summary: ExecutionSummary {
                execution_time: view
                    .time
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                execution_type: EXECUTION_TYPE.into(),
            },
            items,
            upload_type: UPLOAD_TYPE.into(),
        }
    }

    /// A digest of what the request says about the instance (resource and items, not the
    /// execution time): equal digests mean Systems Manager already shows this set.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.resource_id.as_bytes());
        h.update([0]);
        h.update(serde_json::to_vec(&self.items).unwrap_or_default());
        hex::encode(&h.finalize()[..16])
    }

    /// The request body as sent.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The time of the picture.
    pub fn time(&self) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_secs(self.execution_summary.execution_time)
    }
}

/// The item of a role check; `None` for a check that could not be decided (IMDS did not say):
/// Systems Manager knows only compliant and non-compliant, and either would be a verdict the
/// agent did not reach (a pass it did not see, or a failure that pages someone for an IMDS
/// hiccup). Such a check is absent from the set until it is decided again.
fn check_item(c: &Check, creds: &[CredentialView]) -> Option<Item> {
    let (status, severity) = match c.status {
        Status::Pass => ("COMPLIANT", UNSPECIFIED),
        Status::Fail => ("NON_COMPLIANT", check_severity(c.id, creds).as_str()),
        Status::Unknown => return None,
    };
    // A passing check carries no details: its text names things that change without the
    // verdict changing (the role credentials' expiry), which would make every cycle a new set.
    let mut details = BTreeMap::new();
    if c.status == Status::Fail {
        details.insert("detail".into(), clip(&c.detail, MAX_DETAIL));
    }
    if let Some(r) = &c.remediation {
        details.insert("remediation".into(), clip(&r.command, MAX_DETAIL));
    }
    Some(Item {
        id: c.id.to_string(),
        title: clip(check_title(c.id), MAX_TITLE),
        severity: severity.into(),
        status: status.into(),
        details,
    })
}

/// What a check asks, as its item's title.
fn check_title(id: &str) -> &str {
    match id {
        role::CHECK_PROFILE => "CIS AWS 1.18: an IAM instance profile is attached",
        role::CHECK_IMDSV2 => "CIS AWS 5.6: IMDS requires session tokens (IMDSv2)",
        role::CHECK_CREDENTIALS => "The instance role's credentials are valid",
        role::CHECK_STATIC_KEYS => "CIS AWS 1.18: no hard-coded AWS keys beside the instance role",
        other => other,
    }
}

/// The item of one credential: always non-compliant, with its DESIGN.md severity.
fn credential_item(c: &CredentialView) -> Item {
    let f = &c.shown;
    let mut details = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        details.insert(k.to_string(), clip(v, MAX_DETAIL));
    };
    put("path", &f.path);
    put("line", &f.line.to_string());
    put("fingerprint", &f.fingerprint);
    if let Some(k) = &f.key_id {
        put("key_id", k);
    }
    if let Some(e) = f.encoding_label() {
        put("encoding", &e);
    }
    if let Some(o) = &c.owner {
        put("owner_account", o.account.as_str());
        if let Some(u) = &o.user {
            put("owner_user", u);
        }
    }
    let what = credential_kind(&c.kinds, f.key_id.as_deref());
    Item {
        id: c.credential.clone(),
        title: clip(
            &format!("Hard-coded {what} in {}:{}", f.path, f.line),
            MAX_TITLE,
        ),
        severity: c.severity.as_str().into(),
        status: "NON_COMPLIANT".into(),
        details,
    }
}

/// What was found, in words: the key id is an identifier and may be named; the secret parts
/// only by their kind.
fn credential_kind(kinds: &[Kind], key_id: Option<&str>) -> String {
    let secret = kinds.contains(&Kind::SecretAccessKey);
    let token = kinds.contains(&Kind::SessionToken);
    match (key_id, secret, token) {
        (Some(k), true, _) => format!("AWS access key {k} with its secret"),
        (Some(k), false, _) => format!("AWS access key id {k}"),
        (None, true, _) => "AWS secret access key".into(),
        (None, false, true) => "AWS session token".into(),
        (None, false, false) => "AWS credential".into(),
    }
}

/// The item that counts the credentials beyond [`MAX_ITEMS`] (with the most severe of them),
/// `None` when all fit.
fn overflow_item(rest: &[&CredentialView]) -> Option<Item> {
    let top = rest.iter().map(|c| c.severity).max()?;
    let n = rest.len();
    let details = BTreeMap::from([
        ("omitted".to_string(), n.to_string()),
        ("highest_severity".to_string(), top.as_str().to_string()),
    ]);
    Some(Item {
        id: OVERFLOW_ID.into(),
        title: format!(
            "{n} more hard-coded credential(s) not itemised (limit {MAX_ITEMS} items): run credhygiene scan on the host"
        ),
        severity: top.as_str().into(),
        status: "NON_COMPLIANT".into(),
        details,
    })
}

/// `s` on one line within `max` characters: control characters become spaces; a longer value
/// keeps its first `max - 1` characters and ends in `…`.
fn clip(s: &str, max: usize) -> String {
    let one_line = s.chars().map(|c| if c.is_control() { ' ' } else { c });
    if s.chars().count() <= max {
        return one_line.collect();
    }
    let mut out: String = one_line.take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Finding, KeyType, Source};
    use crate::imds::model::IdentityDocument;
    use crate::owner::{AccountClass, Owner, Severity};
    use crate::role::Remediation;

    fn cred(id: &str, severity: Severity, path: &str) -> CredentialView {
        let key = "AKIASXQV3SVWMFRRRM75";
        CredentialView {
            credential: id.into(),
            shown: Finding {
                id: format!("{id}-f"),
                rule: "aws.access_key_id".into(),
                kind: Kind::AccessKeyId,
                source: Source::File,
                path: path.into(),
                line: 3,
                column: 1,
                key_id: Some(key.into()),
                key_type: Some(KeyType::LongTerm),
                account_id: None,
                credential: id.into(),
                redacted: "wJal".into(),
                fingerprint: "sha256:00ff".into(),
                process: None,
                aggregate: None,
                encoding: Vec::new(),
            },
            kinds: vec![Kind::AccessKeyId, Kind::SecretAccessKey],
            owner: Some(Owner {
                user: Some("deploy-bot".into()),
                ..Owner::of_class(AccountClass::Own)
            }),
            severity,
        }
    }

    fn check(id: &'static str, status: Status) -> Check {
        Check {
            id,
            status,
            detail: format!("{id} detail\nsecond line"),
            remediation: (status == Status::Fail).then(|| Remediation {
                command: "aws ec2 modify-instance-metadata-options --http-tokens required".into(),
                why: "w".into(),
            }),
        }
    }

    fn view(checks: Vec<Check>, credentials: Vec<CredentialView>) -> HostView {
        HostView {
            time: UNIX_EPOCH + std::time::Duration::from_secs(1_764_000_000),
            instance: IdentityDocument {
                instance_id: "i-0123456789abcdef0".into(),
                account_id: "123456789012".into(),
                region: "us-east-1".into(),
                availability_zone: "us-east-1a".into(),
                instance_type: "t3.micro".into(),
                image_id: "ami-0123".into(),
                architecture: None,
            },
            checks: Some(checks),
            credentials,
        }
    }

    #[test]
    fn one_item_per_decided_check_and_per_credential() {
        let v = view(
            vec![
                check(role::CHECK_PROFILE, Status::Pass),
                check(role::CHECK_IMDSV2, Status::Fail),
                check(role::CHECK_STATIC_KEYS, Status::Fail),
                check(role::CHECK_CREDENTIALS, Status::Unknown),
            ],
            vec![cred("c0ffee", Severity::Critical, "/srv/app/.env")],
        );
        let r = Request::of(&v);
        let body: serde_json::Value = serde_json::from_slice(&r.body()).unwrap();
        assert_eq!(body["ResourceType"], "ManagedInstance");
        assert_eq!(body["ResourceId"], "i-0123456789abcdef0");
        assert_eq!(body["ComplianceType"], "Custom:CredentialHygiene");
        assert_eq!(body["UploadType"], "COMPLETE");
        assert_eq!(body["ExecutionSummary"]["ExecutionType"], "Command");
        assert_eq!(body["ExecutionSummary"]["ExecutionTime"], 1_764_000_000);
        let got: Vec<(&str, &str, &str)> = r
            .items
            .iter()
            .map(|i| (i.id.as_str(), i.status.as_str(), i.severity.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("instance_profile_attached", "COMPLIANT", "UNSPECIFIED"),
                ("imdsv2_required", "NON_COMPLIANT", "HIGH"),
                ("no_static_keys_with_role", "NON_COMPLIANT", "CRITICAL"),
                ("c0ffee", "NON_COMPLIANT", "CRITICAL"),
            ]
        );
        let c = &r.items[3];
        assert_eq!(
            c.title,
            "Hard-coded AWS access key AKIASXQV3SVWMFRRRM75 with its secret in /srv/app/.env:3"
        );
        let keys: Vec<&str> = c.details.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "fingerprint",
                "key_id",
                "line",
                "owner_account",
                "owner_user",
                "path"
            ]
        );
        assert_eq!(c.details["owner_user"], "deploy-bot");
        assert!(!r.items[1].details["detail"].contains('\n'));
        assert!(
            r.items[0].details.is_empty(),
            "a pass names nothing that changes"
        );
        // The redacted prefix of the secret is not sent.
        assert!(!String::from_utf8(r.body()).unwrap().contains("wJal"));
    }

    #[test]
    fn clip_table() {
        let rows = [
            ("short", 10, "short"),
            ("a\nb\tc", 10, "a b c"),
            ("abcdef", 4, "abc…"),
            ("ééééé", 3, "éé…"),
            ("", 3, ""),
        ];
        for (s, max, want) in rows {
            assert_eq!(clip(s, max), want, "{s:?}");
            assert!(clip(s, max).chars().count() <= max);
        }
    }

    #[test]
    fn the_items_are_bounded_and_the_rest_counted_most_severe_first() {
        let mut creds: Vec<CredentialView> = (0..150)
            .map(|i| cred(&format!("c{i:03}"), Severity::Medium, "/p"))
            .collect();
        creds[120].severity = Severity::Critical;
        creds[7].severity = Severity::Low;
        let checks = vec![check(role::CHECK_PROFILE, Status::Pass)];
        let r = Request::of(&view(checks, creds));
        assert_eq!(r.items.len(), MAX_ITEMS);
        assert_eq!(r.items[1].id, "c120", "the most severe is itemised first");
        let last = r.items.last().unwrap();
        assert_eq!(last.id, OVERFLOW_ID);
        assert_eq!(last.details["omitted"], (150 - (MAX_ITEMS - 2)).to_string());
        // The low one is among the omitted, and the overflow says how bad the rest is.
        assert!(r.items.iter().all(|i| i.id != "c007"));
        assert_eq!(last.severity, "MEDIUM");
        // Exactly full: no overflow item.
        let fit: Vec<CredentialView> = (0..MAX_ITEMS - 1)
            .map(|i| cred(&format!("c{i:03}"), Severity::High, "/p"))
            .collect();
        let r = Request::of(&view(vec![check(role::CHECK_PROFILE, Status::Pass)], fit));
        assert_eq!(r.items.len(), MAX_ITEMS);
        assert!(r.items.iter().all(|i| i.id != OVERFLOW_ID));
    }

    #[test]
    fn long_values_are_cut_within_the_limits_and_the_digest_ignores_the_time() {
        let long = format!("/{}", "d/".repeat(3000));
        let v = view(vec![], vec![cred("c1", Severity::High, &long)]);
        let r = Request::of(&v);
        let item = &r.items[0];
        assert!(item.title.chars().count() <= MAX_TITLE);
        assert!(item.details["path"].chars().count() <= MAX_DETAIL);
        assert!(item.details["path"].ends_with('…'));
        let mut later = v.clone();
        later.time += std::time::Duration::from_secs(3600);
        assert_eq!(Request::of(&later).digest(), r.digest());
        let mut other = v;
        other.credentials[0].severity = Severity::Low;
        assert_ne!(Request::of(&other).digest(), r.digest());
    }
}
