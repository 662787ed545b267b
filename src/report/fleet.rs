//! What the fleet-facing sinks (Security Hub, Systems Manager Compliance) see of one cycle:
//! the instance, every role check, and every credential found on it, each with its owner and
//! severity. Unlike [`super::cycle::CycleReport`] (what changed, for the event sinks), this
//! is the whole current picture: both services hold the state of a resource, and each sink
//! works out itself what to send from the picture and what it last delivered.
//!
//! One entry per credential (the parts found together share a `credential` id, DESIGN.md),
//! not per part: a key id with its secret on one line is one finding in Security Hub.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use crate::finding::{Finding, Kind};
use crate::imds::model::IdentityDocument;
use crate::owner::{self, Owner, Severity};
use crate::role::{self, Check};

/// One credential found on the instance: where (its first part, in finding order), what,
/// whose, how bad. Never a secret: only the key id, the redacted form and the fingerprint of
/// the part shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialView {
    /// The group id shared by the credential's parts (stable across runs and hosts).
    pub credential: String,
    /// The part that locates it: the access key id when there is one, else the first part.
    pub shown: Finding,
    /// The kinds of the parts found (in [`Kind`] order, each once).
    pub kinds: Vec<Kind>,
    /// Whose key (`None`: no key id, so nothing to say).
    pub owner: Option<Owner>,
    /// The DESIGN.md severity.
    pub severity: Severity,
}

/// The whole current picture of one instance after a cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct HostView {
    /// When the cycle ran.
    pub time: SystemTime,
    /// Who this instance is (the fleet sinks do nothing without it).
    pub instance: IdentityDocument,
    /// Every role check of the cycle, passed ones included (`None`: IMDS disabled, no check).
    pub checks: Option<Vec<Check>>,
    /// Every credential of the last complete scan (carried findings of unreadable sources
    /// included), in credential id order.
    pub credentials: Vec<CredentialView>,
}

impl HostView {
    /// The picture of `findings` (the complete set of the cycle) on `instance`. `owners`
    /// holds what the IAM enrichment learnt, by key id; keys it does not name get the offline
    /// account class only.
    pub fn new(
        time: SystemTime,
        instance: IdentityDocument,
        checks: Option<Vec<Check>>,
        findings: &[Finding],
        owners: &HashMap<String, Owner>,
    ) -> HostView {
        let mut groups: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
        for f in findings {
            groups.entry(f.credential.as_str()).or_default().push(f);
        }
        let credentials = groups
            .into_iter()
            .map(|(credential, parts)| {
                credential_view(credential, &parts, &instance.account_id, owners, time)
            })
            .collect();
        HostView {
            time,
            instance,
            checks,
            credentials,
        }
    }
}

/// One credential from its parts (never empty).
fn credential_view(
    credential: &str,
    parts: &[&Finding],
    account: &str,
    owners: &HashMap<String, Owner>,
    now: SystemTime,
) -> CredentialView {
    let shown = parts
        .iter()
        .find(|f| f.kind == Kind::AccessKeyId)
        .or_else(|| parts.iter().find(|f| f.key_id.is_some()))
        .unwrap_or(&parts[0]);
    let mut kinds: Vec<Kind> = parts.iter().map(|f| f.kind).collect();
    kinds.sort();
    kinds.dedup();
    let owner = shown.key_id.as_deref().map(|id| {
        owners
            .get(id)
            .cloned()
            .unwrap_or_else(|| Owner::of_class(owner::classify(id, Some(account))))
    });
    CredentialView {
        credential: credential.to_string(),
        severity: owner::severity(shown.key_type, owner.as_ref(), now),
        shown: (*shown).clone(),
        kinds,
        owner,
    }
}

/// The severity of a failed role check, the same in Security Hub and Systems Manager (pure;
/// the first row that applies):
///
/// | check | severity | why |
/// |---|---|---|
/// | `no_static_keys_with_role` | the most severe credential's, at least `MEDIUM` | the keys are the exposure |
/// | `imdsv2_required` | `HIGH` | token-less IMDS hands the role's keys to any SSRF (Security Hub's EC2.8 is High) |
/// | `instance_profile_attached` | `MEDIUM` | no exposure by itself; what apps use instead is |
/// | any other (`role_credentials_valid`, a newer check) | `MEDIUM` | a fault to look at, not an exposure |
pub fn check_severity(id: &str, creds: &[CredentialView]) -> Severity {
    match id {
        role::CHECK_STATIC_KEYS => creds
            .iter()
            .map(|c| c.severity)
            .max()
            .map_or(Severity::Medium, |s| s.max(Severity::Medium)),
        role::CHECK_IMDSV2 => Severity::High,
        _ => Severity::Medium,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{KeyType, Source};

    fn part(credential: &str, kind: Kind, key_id: Option<&str>, line: u64) -> Finding {
        Finding {
            id: format!("{credential}-{line}"),
            rule: "r".into(),
            kind,
            source: Source::File,
            path: "/srv/app/.env".into(),
            line,
            column: 1,
            key_id: key_id.map(str::to_string),
            key_type: key_id.map(KeyType::of),
            account_id: key_id.and_then(crate::finding::account_from_key_id),
            credential: credential.into(),
            redacted: "wJal…".into(),
            fingerprint: "sha256:00".into(),
            process: None,
            aggregate: None,
            encoding: Vec::new(),
        }
    }

    fn instance() -> IdentityDocument {
        IdentityDocument {
            instance_id: "i-0123456789abcdef0".into(),
            account_id: "123456789012".into(),
            region: "eu-west-1".into(),
            availability_zone: "eu-west-1a".into(),
            instance_type: "t3.micro".into(),
            image_id: "ami-0123".into(),
            architecture: None,
        }
    }

    #[test]
    fn one_entry_per_credential_located_by_its_key_id() {
        let key = "AKIASXQV3SVWMFRRRM75";
        let findings = [
            part("c1", Kind::SecretAccessKey, Some(key), 4),
            part("c1", Kind::AccessKeyId, Some(key), 3),
            part("c2", Kind::SecretAccessKey, None, 9),
        ];
        let v = HostView::new(
            SystemTime::UNIX_EPOCH,
            instance(),
            None,
            &findings,
            &HashMap::new(),
        );
        assert_eq!(v.credentials.len(), 2);
        let c1 = &v.credentials[0];
        assert_eq!((c1.credential.as_str(), c1.shown.line), ("c1", 3));
        assert_eq!(c1.kinds, vec![Kind::AccessKeyId, Kind::SecretAccessKey]);
        assert!(c1.owner.is_some());
        let c2 = &v.credentials[1];
        assert_eq!((c2.owner.as_ref(), c2.severity), (None, Severity::High));
    }

    #[test]
    fn an_enriched_owner_decides_the_severity() {
        let key = "AKIASXQV3SVWMFRRRM75";
        let owner = Owner {
            status: Some(crate::owner::KeyStatus::Inactive),
            ..Owner::of_class(crate::owner::AccountClass::Own)
        };
        let owners = HashMap::from([(key.to_string(), owner.clone())]);
        let findings = [part("c1", Kind::AccessKeyId, Some(key), 3)];
        let v = HostView::new(SystemTime::UNIX_EPOCH, instance(), None, &findings, &owners);
        assert_eq!(v.credentials[0].owner.as_ref(), Some(&owner));
        assert_eq!(v.credentials[0].severity, Severity::Low);
    }

    #[test]
    fn check_severity_table() {
        let cred = |id: &str, severity| CredentialView {
            credential: id.into(),
            shown: part(id, Kind::AccessKeyId, None, 1),
            kinds: vec![Kind::AccessKeyId],
            owner: None,
            severity,
        };
        let crit = [cred("a", Severity::Critical), cred("b", Severity::Low)];
        let low = [cred("b", Severity::Informational)];
        let rows: [(&str, &[CredentialView], Severity); 6] = [
            (role::CHECK_STATIC_KEYS, &crit, Severity::Critical),
            (role::CHECK_STATIC_KEYS, &low, Severity::Medium),
            (role::CHECK_STATIC_KEYS, &[], Severity::Medium),
            (role::CHECK_IMDSV2, &crit, Severity::High),
            (role::CHECK_PROFILE, &[], Severity::Medium),
            ("a_newer_check", &[], Severity::Medium),
        ];
        for (id, creds, want) in rows {
            assert_eq!(check_severity(id, creds), want, "{id}");
        }
    }
}
