//! Whose key it is, and how bad its being on disk is: the `owner` of an access-key finding
//! (DESIGN.md "Key owner") and the severity every fleet-facing output uses (journald
//! priority, Security Hub, Systems Manager Compliance).
//!
//! The account class is decided offline from the key id alone: the account a newer key id
//! encodes ([`crate::finding::account_from_key_id`]) against the instance's account and the
//! canary issuers of `canary_accounts.toml` (data, with its source). What IAM says about a key
//! of this account (user, status, last use) is added by the opt-in enrichment
//! (`[enrich] iam`); nothing here touches the network, and nothing here ever sees a secret:
//! a canary key in particular is never used or verified, so its trap is never set off.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::finding::{account_from_key_id, KeyType};

/// The canary issuers' accounts, compiled into the binary.
const CANARY_ACCOUNTS: &str = include_str!("canary_accounts.toml");

/// A key used within this long is "used recently": an active key of this account used within
/// the window is [`Severity::Critical`] (DESIGN.md).
pub const RECENT_USE: Duration = Duration::from_secs(90 * 24 * 3600);

/// Whose account a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountClass {
    /// The instance's own account.
    Own,
    /// Another account.
    Foreign,
    /// An account a canary-token service issues trap keys from: never used, never verified.
    Canary,
    /// Not decodable from the id (older ids), or the instance's account is not known.
    Unknown,
}

impl AccountClass {
    /// The wire name (`own`, `foreign`, `canary`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            AccountClass::Own => "own",
            AccountClass::Foreign => "foreign",
            AccountClass::Canary => "canary",
            AccountClass::Unknown => "unknown",
        }
    }
}

/// An access key's status in IAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyStatus {
    /// The key signs requests.
    Active,
    /// The key is disabled (it can be enabled again: still a finding).
    Inactive,
}

impl KeyStatus {
    /// The wire name, as IAM spells it (`Active`, `Inactive`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }
}

/// The `owner` object of a finding with a key id (DESIGN.md). `user`, `status` and
/// `last_used*` come only from IAM (`[enrich] iam`), only for [`AccountClass::Own`] keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Whose account.
    pub account: AccountClass,
    /// The IAM user the key belongs to.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user: Option<String>,
    /// Whether the key is active.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<KeyStatus>,
    /// When the key last signed a request, RFC 3339 (absent: never, or not known).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_used: Option<String>,
    /// The service of that request (`s3` …).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_used_service: Option<String>,
    /// The region of that request.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_used_region: Option<String>,
}

impl Owner {
    /// An owner known only by its account class (no IAM details).
    pub fn of_class(account: AccountClass) -> Owner {
        Owner {
            account,
            user: None,
            status: None,
            last_used: None,
            last_used_service: None,
            last_used_region: None,
        }
    }

    /// Whether IAM says the key signed a request within [`RECENT_USE`] before `now`.
    pub fn used_recently(&self, now: SystemTime) -> bool {
        self.last_used
            .as_deref()
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
            .is_some_and(|t| now.duration_since(t).map_or(true, |age| age <= RECENT_USE))
    }
}

/// How bad a finding is, in the labels Security Hub and Systems Manager share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// A canary key: a tripwire, reported for information.
    Informational,
    /// An inactive key.
    Low,
    /// A foreign key, or a temporary one.
    Medium,
    /// Any other long-term key, and a secret without its key id.
    High,
    /// An active long-term key of this account, used within [`RECENT_USE`].
    Critical,
}

impl Severity {
    /// The label (`CRITICAL` …), as Security Hub's `Severity.Label` and Systems Manager's
    /// item severity spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "INFORMATIONAL",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// The severity of a credential whose key id is of `key_type` (`None`: a secret or token
/// found without its key id) and whose owner is `owner`, at `now` (DESIGN.md "Key owner"):
/// the first row that applies wins.
///
/// | key | severity |
/// |---|---|
/// | no key id | `HIGH` |
/// | a canary issuer's | `INFORMATIONAL` |
/// | `Inactive` in IAM | `LOW` |
/// | temporary (`ASIA`), or `foreign` | `MEDIUM` |
/// | `own`, long-term, `Active`, used within 90 days | `CRITICAL` |
/// | any other | `HIGH` |
pub fn severity(key_type: Option<KeyType>, owner: Option<&Owner>, now: SystemTime) -> Severity {
    let Some(key_type) = key_type else {
        return Severity::High;
    };
    let class = owner.map_or(AccountClass::Unknown, |o| o.account);
    let status = owner.and_then(|o| o.status);
    if class == AccountClass::Canary {
        Severity::Informational
    } else if status == Some(KeyStatus::Inactive) {
        Severity::Low
    } else if key_type == KeyType::Temporary || class == AccountClass::Foreign {
        Severity::Medium
    } else if class == AccountClass::Own
        && key_type == KeyType::LongTerm
        && status == Some(KeyStatus::Active)
        && owner.is_some_and(|o| o.used_recently(now))
    {
        Severity::Critical
    } else {
        Severity::High
    }
}

/// The account class of `key_id` on an instance of account `instance_account` (`None`: not
/// known, e.g. off EC2): canary first, whatever the instance's account.
pub fn classify(key_id: &str, instance_account: Option<&str>) -> AccountClass {
    let Some(account) = account_from_key_id(key_id) else {
        return AccountClass::Unknown;
    };
    if canary_issuer(&account).is_some() {
        return AccountClass::Canary;
    }
    match instance_account {
        Some(own) if own == account => AccountClass::Own,
        Some(_) => AccountClass::Foreign,
        None => AccountClass::Unknown,
    }
}

/// The canary-token service that issues keys from `account`, if any.
pub fn canary_issuer(account: &str) -> Option<&'static str> {
    CANARIES.get(account).copied()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CanaryFile {
    issuer: Vec<Issuer>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Issuer {
    name: String,
    accounts: Vec<String>,
}

/// Account → issuer name, from [`CANARY_ACCOUNTS`]. The file is checked by the unit tests, so
/// a malformed one cannot ship; were it malformed all the same, no account would be a canary
/// (keys are then reported as foreign or unknown, never used either way).
static CANARIES: LazyLock<HashMap<String, &'static str>> = LazyLock::new(|| {
    let file: CanaryFile = toml::from_str(CANARY_ACCOUNTS).unwrap_or(CanaryFile { issuer: vec![] });
    file.issuer
        .into_iter()
        .flat_map(|i| {
            let name: &'static str = Box::leak(i.name.into_boxed_str());
            i.accounts.into_iter().map(move |a| (a, name))
        })
        .collect()
});

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Key ids that decode to `account`: built by encoding, so the tests need no real key.
    pub(crate) fn key_id_of(prefix: &str, account: u64) -> String {
        const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        // Bits 1..40 of the first 6 bytes hold the account shifted left by 7 (see
        // `account_from_key_id`); the other bits are free.
        let z: u64 = account << 7;
        let acc = z << 2; // 50 bits of 10 base32 characters
        let mut body: String = (0..10)
            .rev()
            .map(|i| B32[((acc >> (5 * i)) & 31) as usize] as char)
            .collect();
        body.push_str("QQQQQQ");
        format!("{prefix}{body}")
    }

    #[test]
    fn the_canary_file_parses_and_every_account_has_12_digits() {
        let file: CanaryFile = toml::from_str(CANARY_ACCOUNTS).unwrap();
        let accounts: Vec<&String> = file.issuer.iter().flat_map(|i| &i.accounts).collect();
        assert!(accounts.len() >= 20, "{}", accounts.len());
        for a in &accounts {
            assert!(
                a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()),
                "{a}"
            );
        }
        assert_eq!(CANARIES.len(), accounts.len(), "an account is listed twice");
        assert_eq!(
            canary_issuer("052310077262"),
            Some("canarytokens.org (Thinkst)")
        );
    }

    #[test]
    fn classify_table() {
        let own = key_id_of("AKIA", 123_456_789_012);
        assert_eq!(account_from_key_id(&own).as_deref(), Some("123456789012"));
        let canary = key_id_of("AKIA", 52_310_077_262);
        let cases = [
            (own.as_str(), Some("123456789012"), AccountClass::Own),
            (own.as_str(), Some("999999999999"), AccountClass::Foreign),
            (own.as_str(), None, AccountClass::Unknown),
            (canary.as_str(), Some("052310077262"), AccountClass::Canary),
            (canary.as_str(), None, AccountClass::Canary),
            // Older ids carry no account.
            (
                "AKIAIOSFODNN7EXAMPLE",
                Some("123456789012"),
                AccountClass::Unknown,
            ),
            ("AKIA", Some("123456789012"), AccountClass::Unknown),
        ];
        for (id, instance, want) in cases {
            assert_eq!(classify(id, instance), want, "{id} on {instance:?}");
        }
    }

    #[test]
    fn severity_table() {
        let now = humantime::parse_rfc3339("2026-11-30T00:00:00Z").unwrap();
        let owner = |account, status, last_used: Option<&str>| Owner {
            status,
            last_used: last_used.map(str::to_string),
            ..Owner::of_class(account)
        };
        use AccountClass::*;
        use KeyStatus::*;
        use KeyType::*;
        let recent = Some("2026-11-28T09:14:00Z");
        let old = Some("2026-01-01T00:00:00Z");
        let cases = [
            (None, None, Severity::High),
            (
                Some(LongTerm),
                Some(owner(Canary, None, None)),
                Severity::Informational,
            ),
            (
                Some(LongTerm),
                Some(owner(Canary, Some(Active), recent)),
                Severity::Informational,
            ),
            (
                Some(LongTerm),
                Some(owner(Own, Some(Inactive), recent)),
                Severity::Low,
            ),
            (
                Some(Temporary),
                Some(owner(Own, None, None)),
                Severity::Medium,
            ),
            (
                Some(LongTerm),
                Some(owner(Foreign, None, None)),
                Severity::Medium,
            ),
            (
                Some(LongTerm),
                Some(owner(Own, Some(Active), recent)),
                Severity::Critical,
            ),
            (
                Some(LongTerm),
                Some(owner(Own, Some(Active), old)),
                Severity::High,
            ),
            (
                Some(LongTerm),
                Some(owner(Own, Some(Active), None)),
                Severity::High,
            ),
            (Some(LongTerm), Some(owner(Own, None, None)), Severity::High),
            (
                Some(LongTerm),
                Some(owner(Unknown, None, None)),
                Severity::High,
            ),
            (Some(LongTerm), None, Severity::High),
            (
                Some(Other),
                Some(owner(Own, Some(Active), recent)),
                Severity::High,
            ),
        ];
        for (key_type, owner, want) in cases {
            assert_eq!(
                severity(key_type, owner.as_ref(), now),
                want,
                "{key_type:?} {owner:?}"
            );
        }
    }

    #[test]
    fn owner_json_is_the_design_shape() {
        let o = Owner {
            user: Some("deploy-bot".into()),
            status: Some(KeyStatus::Active),
            last_used: Some("2026-11-28T09:14:00Z".into()),
            last_used_service: Some("s3".into()),
            last_used_region: Some("eu-west-1".into()),
            ..Owner::of_class(AccountClass::Own)
        };
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"account":"own","user":"deploy-bot","status":"Active","last_used":"2026-11-28T09:14:00Z","last_used_service":"s3","last_used_region":"eu-west-1"}"#
        );
        assert_eq!(
            serde_json::to_string(&Owner::of_class(AccountClass::Canary)).unwrap(),
            r#"{"account":"canary"}"#
        );
    }
}
