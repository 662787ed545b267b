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

mod answer;
mod cache;
mod endpoint;
mod iam;

// IAM's answer parsers, for the fuzz targets.
#[doc(hidden)]
pub use answer::{key_status, last_used, LastUsed};

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::finding::Finding;
use crate::imds::{CredentialsProvider, ImdsClient};
use crate::owner::{self, AccountClass};
use crate::report::aws::{ApiCount, AwsError, CredentialSource, RetryPolicy, Service, Target};
use crate::report::cycle::CycleReport;
use crate::report::endpoints::Variant;
use crate::report::owners::Owners;

/// After a denied call IAM is not asked again for this long (the role's policy may change).
const DENIED_RECHECK: Duration = Duration::from_secs(24 * 3600);

/// Asks IAM about the instance's own keys, remembering the answers across the agent's
/// cycles.
#[derive(Debug)]
pub struct Enricher<C> {
    service: Service<C>,
    /// `enrich.iam_endpoint`, without a trailing `/`.
    endpoint: Option<String>,
    variant: Variant,
    cache: cache::Cache,
    /// When a call was denied (nothing is asked until [`DENIED_RECHECK`] later).
    denied: Option<Instant>,
    /// Calls and bytes to IAM so far.
    counter: ApiCount,
}

impl<C: CredentialSource> Enricher<C> {
    /// An enricher for `cfg`'s endpoint settings, signing with `source`'s credentials.
    pub fn new(cfg: &Config, source: C) -> Result<Enricher<C>, AwsError> {
        Ok(Enricher {
            service: Service::new(source, RetryPolicy::default())?,
            endpoint: cfg
                .enrich
                .iam_endpoint
                .as_deref()
                .map(|e| e.trim_end_matches('/').into()),
            variant: Variant {
                fips: cfg.cloudwatch.use_fips_endpoint,
                dual_stack: cfg.cloudwatch.use_dualstack_endpoint,
            },
            cache: cache::Cache::default(),
            denied: None,
            counter: ApiCount::default(),
        })
    }

    /// Calls and bytes sent to IAM so far.
    pub fn counter(&self) -> ApiCount {
        self.counter
    }

    /// Adds to `report.owners` what IAM says about the own keys among `findings` (the
    /// cycle's complete set), for an instance in `report.instance`'s region.
    pub async fn enrich_cycle(&mut self, report: &mut CycleReport, findings: &[Finding]) {
        if let Some(region) = report.instance.as_ref().map(|i| i.region.clone()) {
            self.enrich(&mut report.owners, findings, &region).await;
        }
    }

    /// Adds to `owners` what IAM says about the own keys among `findings`: cached answers,
    /// and at most [`MAX_LOOKUPS`] new lookups. Failures are logged, never returned.
    pub async fn enrich(&mut self, owners: &mut Owners, findings: &[Finding], region: &str) {
        let now = Instant::now();
        if self
            .denied
            .is_some_and(|t| now.duration_since(t) < DENIED_RECHECK)
        {
            return;
        }
        let Some(account) = owners.instance_account().map(str::to_string) else {
            return;
        };
        let mut todo = Vec::new();
        for key in owners.own_key_ids(findings) {
            match self.cache.get(key, now) {
                Some(Some(owner)) => owners.insert(key, owner.clone()),
                Some(None) => {}
                None => todo.push(key.to_string()),
            }
        }
        if todo.is_empty() {
            return;
        }
        let target = match self.target(region, &account) {
            Ok(t) => t,
            Err(e) => {
                log::warn!(error:% = e; "IAM enrichment: no IAM endpoint for this region; owners stay offline");
                return;
            }
        };
        let mut creds = match self.service.source().credentials().await {
            Ok(c) => c,
            Err(e) => {
                log::info!(error:% = e; "IAM enrichment: no role credentials; owners stay offline");
                return;
            }
        };
        self.denied = None;
        for key in todo.iter().take(MAX_LOOKUPS) {
            let found =
                iam::look_up(&self.service, &target, key, &mut creds, &mut self.counter).await;
            match found {
                Ok(owner) => {
                    if let Some(o) = &owner {
                        owners.insert(key, o.clone());
                    }
                    self.cache.put(key, owner, Instant::now());
                }
                Err(e @ AwsError::AccessDenied { .. }) => {
                    log::warn!(error:% = e; "IAM enrichment is off for a day: the instance role may not read access key metadata; owners stay offline");
                    self.denied = Some(now);
                    return;
                }
                Err(e) => {
                    log::warn!(error:% = e; "IAM enrichment failed; asking again next cycle");
                    return;
                }
            }
        }
    }

    /// Where the calls go: the configured endpoint (signed for the partition's home region),
    /// else the partition's global endpoint.
    fn target(
        &self,
        region: &str,
        account: &str,
    ) -> Result<Target, crate::report::endpoints::EndpointError> {
        let (url, signing) = endpoint::iam_endpoint(region, self.variant)?;
        Ok(Target {
            region: signing.to_string(),
            endpoint: self.endpoint.clone().unwrap_or_else(|| url.to_string()),
            account: Some(account.to_string()),
        })
    }
}

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
/// client's usual short deadline), unless IMDS is disabled or no finding needs it; with
/// `[enrich] iam`, what IAM says about the own keys.
pub async fn scan_owners(cfg: &Config, findings: &[Finding]) -> Owners {
    if cfg.imds.disabled || !needs_instance_account(findings) {
        return Owners::new(None);
    }
    let identity = match ImdsClient::from_config(&cfg.imds) {
        Ok(client) => match client.identity_document().await {
            Ok(doc) => doc.map(|d| (d, client)),
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
    let Some((doc, client)) = identity else {
        return Owners::new(None);
    };
    let mut owners = Owners::new(Some(&doc.account_id));
    if cfg.enrich.iam {
        let source = CredentialsProvider::new(Arc::new(client));
        match Enricher::new(cfg, source) {
            Ok(mut e) => e.enrich(&mut owners, findings, &doc.region).await,
            Err(e) => log::warn!(error:% = e; "IAM enrichment unavailable"),
        }
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::owners::tests::finding as with_key;

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
