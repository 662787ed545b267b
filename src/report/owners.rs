//! Whose key each finding shows, for every output (text, JSON, SARIF, journald, CloudWatch
//! events): the offline account class of its key id against the instance's account, or what
//! the IAM enrichment ([`super::iam`]) learnt about it.
//!
//! The owner is kept apart from [`Finding`] on purpose: a finding is the on-disk state of
//! what was found, and does not change while the key sits there; its owner does (the key is
//! deactivated, used, deleted). An [`Owners`] is built per run (one `scan`, one agent cycle)
//! and handed to the outputs next to the findings.
//!
//! An `unknown` account with nothing from IAM is "nothing known": no `owner` is shown
//! (DESIGN.md: the object is absent then), so output off EC2 (IMDS disabled) is unchanged
//! for keys that are not canaries.

use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

use crate::finding::Finding;
use crate::owner::{self, AccountClass, Owner, Severity};

/// The owners of one run's key ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owners {
    /// The instance's account (`None`: off EC2, IMDS disabled or unreachable).
    instance_account: Option<String>,
    /// What IAM said, by key id (only `own` keys).
    enriched: HashMap<String, Owner>,
}

impl Owners {
    /// Owners for an instance of `instance_account`, with nothing from IAM yet.
    pub fn new(instance_account: Option<&str>) -> Owners {
        Owners {
            instance_account: instance_account.map(str::to_string),
            enriched: HashMap::new(),
        }
    }

    /// The instance's account, when known.
    pub fn instance_account(&self) -> Option<&str> {
        self.instance_account.as_deref()
    }

    /// Records what IAM said about `key_id`.
    pub fn insert(&mut self, key_id: &str, owner: Owner) {
        self.enriched.insert(key_id.to_string(), owner);
    }

    /// What IAM said, by key id (what [`super::fleet::HostView::new`] takes).
    pub fn enriched(&self) -> &HashMap<String, Owner> {
        &self.enriched
    }

    /// The owner of `key_id`: IAM's when enriched, else the offline account class.
    pub fn of(&self, key_id: &str) -> Owner {
        self.enriched.get(key_id).cloned().unwrap_or_else(|| {
            Owner::of_class(owner::classify(key_id, self.instance_account.as_deref()))
        })
    }

    /// The owner an output shows for `f`: none without a key id, none when nothing is known
    /// (an `unknown` account and nothing from IAM).
    pub fn shown(&self, f: &Finding) -> Option<Owner> {
        let owner = self.of(f.key_id.as_deref()?);
        (owner.account != AccountClass::Unknown || owner.user.is_some()).then_some(owner)
    }

    /// The DESIGN.md severity of `f` at `now`.
    pub fn severity(&self, f: &Finding, now: SystemTime) -> Severity {
        let owner = f.key_id.as_deref().map(|k| self.of(k));
        owner::severity(f.key_type, owner.as_ref(), now)
    }

    /// The distinct key ids of `findings` that belong to the instance's account: the only
    /// ones IAM may be asked about (never a canary's, never a foreign one).
    pub fn own_key_ids<'a>(&self, findings: &'a [Finding]) -> BTreeSet<&'a str> {
        findings
            .iter()
            .filter_map(|f| f.key_id.as_deref())
            .filter(|k| owner::classify(k, self.instance_account.as_deref()) == AccountClass::Own)
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::finding::{account_from_key_id, KeyType, Kind, Source};
    use crate::owner::KeyStatus;

    fn key_id_of(account: u64) -> String {
        crate::owner::tests::key_id_of("AKIA", account)
    }

    /// A finding of `key_id` (its account decoded), for the tests of the owner's users.
    pub(crate) fn finding(key_id: Option<&str>) -> Finding {
        Finding {
            id: "f".into(),
            rule: "r".into(),
            kind: Kind::AccessKeyId,
            source: Source::File,
            path: "/p".into(),
            line: 1,
            column: 1,
            key_id: key_id.map(str::to_string),
            key_type: key_id.map(KeyType::of),
            account_id: key_id.and_then(account_from_key_id),
            credential: "c".into(),
            redacted: "AKIA…".into(),
            fingerprint: "sha256:00".into(),
            process: None,
            aggregate: None,
            encoding: Vec::new(),
        }
    }

    #[test]
    fn shown_owner_table() {
        let own = key_id_of(123_456_789_012);
        let canary = key_id_of(52_310_077_262);
        let active = Owner {
            user: Some("deploy-bot".into()),
            status: Some(KeyStatus::Active),
            ..Owner::of_class(AccountClass::Own)
        };
        let mut on_ec2 = Owners::new(Some("123456789012"));
        on_ec2.insert(&own, active.clone());
        let off_ec2 = Owners::new(None);
        let on_other = Owners::new(Some("999999999999"));
        let class = |o: Option<Owner>| o.map(|o| o.account);
        let cases = [
            (&on_ec2, Some(own.as_str()), Some(AccountClass::Own)),
            (&on_ec2, Some(canary.as_str()), Some(AccountClass::Canary)),
            (&on_ec2, None, None),
            (&on_ec2, Some("AKIAIOSFODNN7EXAMPLE"), None),
            (&off_ec2, Some(own.as_str()), None),
            (&off_ec2, Some(canary.as_str()), Some(AccountClass::Canary)),
            (&on_other, Some(own.as_str()), Some(AccountClass::Foreign)),
        ];
        for (owners, key, want) in cases {
            assert_eq!(class(owners.shown(&finding(key))), want, "{key:?}");
        }
        assert_eq!(on_ec2.shown(&finding(Some(&own))), Some(active));
    }

    #[test]
    fn only_own_key_ids_are_for_iam() {
        let own = key_id_of(123_456_789_012);
        let foreign = key_id_of(210_987_654_321);
        let canary = key_id_of(52_310_077_262);
        let findings = [
            finding(Some(&own)),
            finding(Some(&own)),
            finding(Some(&foreign)),
            finding(Some(&canary)),
            finding(None),
        ];
        let ids = Owners::new(Some("123456789012")).own_key_ids(&findings);
        assert_eq!(ids.into_iter().collect::<Vec<_>>(), vec![own.as_str()]);
        assert!(Owners::new(None).own_key_ids(&findings).is_empty());
        // A canary account as the instance's own still is a canary: never asked about.
        assert!(Owners::new(Some("052310077262"))
            .own_key_ids(&findings)
            .is_empty());
    }

    #[test]
    fn severity_uses_the_enriched_owner() {
        let own = key_id_of(123_456_789_012);
        let mut owners = Owners::new(Some("123456789012"));
        let f = finding(Some(&own));
        let now = SystemTime::now();
        assert_eq!(owners.severity(&f, now), Severity::High);
        owners.insert(
            &own,
            Owner {
                status: Some(KeyStatus::Inactive),
                ..Owner::of_class(AccountClass::Own)
            },
        );
        assert_eq!(owners.severity(&f, now), Severity::Low);
        assert_eq!(owners.severity(&finding(None), now), Severity::High);
    }
}
