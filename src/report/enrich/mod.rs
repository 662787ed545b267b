//! Whose key it is, for a run: the instance's account (from the identity document, so that
//! a key id's decoded account can be told `own` or `foreign`), and, with the opt-in
//! `[enrich] iam`, what IAM says about the keys of that account (DESIGN.md "Key owner").
//!
//! Guarantees: IAM is asked only about `own` keys (never a canary's, which would set its
//! trap off, never a foreign one), only with the instance role's credentials (the found
//! secret is never used to sign anything), at most [`MAX_LOOKUPS`] keys a run, each answer
//! kept for [`cache::TTL`]. A denied call is said once, with the missing action, and the run
//! goes on with the offline owners; so does any other failure (the owner then lacks the IAM
//! fields, and the severity is that of an unknown status).

#[allow(dead_code)] // until the IAM client lands
mod answer;
#[allow(dead_code)]
mod cache;
#[allow(dead_code)]
mod endpoint;

use crate::config::Config;
use crate::finding::Finding;
use crate::imds::ImdsClient;
use crate::owner::{self, AccountClass};
use crate::report::owners::Owners;

/// At most this many keys are looked up in IAM per run (two calls each); the others keep
/// their offline owner until a later run (the cache fills a few at a time).
pub const MAX_LOOKUPS: usize = 25;

/// Whether knowing the instance's account changes any owner of `findings`: some key id
/// decodes to an account that is not a canary issuer's (the others are `canary` or `unknown`
/// whatever the instance).
pub(crate) fn needs_instance_account(findings: &[Finding]) -> bool {
    findings
        .iter()
        .filter_map(|f| f.key_id.as_deref())
        // No account is "": a decodable key that is not a canary's comes out foreign.
        .any(|k| owner::classify(k, Some("")) == AccountClass::Foreign)
}

/// The owners of a one-shot `scan`'s findings: the instance's account from IMDS (with the
/// client's usual short deadline), unless IMDS is disabled or no finding needs it.
pub async fn scan_owners(cfg: &Config, findings: &[Finding]) -> Owners {
    if cfg.imds.disabled || !needs_instance_account(findings) {
        return Owners::new(None);
    }
    let account = match ImdsClient::from_config(&cfg.imds) {
        Ok(client) => match client.identity_document().await {
            Ok(doc) => doc.map(|d| d.account_id),
            Err(e) => {
                log::info!(error:% = e; "instance account unknown (IMDS): key owners are shown only for canaries");
                None
            }
        },
        Err(e) => {
            log::info!(error:% = e; "instance account unknown: key owners are shown only for canaries");
            None
        }
    };
    Owners::new(account.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{KeyType, Kind, Source};

    fn with_key(key_id: Option<&str>) -> Finding {
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
            account_id: None,
            credential: "c".into(),
            redacted: "AKIA…".into(),
            fingerprint: "sha256:00".into(),
            process: None,
            aggregate: None,
        }
    }

    #[test]
    fn the_instance_account_is_asked_for_only_when_it_matters() {
        let key_of = |a| crate::owner::tests::key_id_of("AKIA", a);
        let (own, canary) = (key_of(123_456_789_012), key_of(52_310_077_262));
        let cases = [
            (vec![], false),
            (vec![with_key(None)], false),
            (vec![with_key(Some("AKIAIOSFODNN7EXAMPLE"))], false),
            (vec![with_key(Some(&canary))], false),
            (vec![with_key(Some(&canary)), with_key(Some(&own))], true),
        ];
        for (findings, want) in cases {
            assert_eq!(needs_instance_account(&findings), want, "{findings:?}");
        }
    }
}
