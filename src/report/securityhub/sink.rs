//! Delivery: [`SecurityHubSink::observe`] plans a cycle's imports and writes them durably;
//! [`SecurityHubSink::flush`] sends what is pending, in batches, through the shared AWS call
//! layer, and settles each finding Security Hub answered for.
//!
//! A finding Security Hub lists in `FailedFindings` is, by its `ErrorCode`:
//! - kept pending (sent again at the next flush) when the code says throttling, a limit, or a
//!   fault on the service's side, and when it says access denied (the gate then closes);
//! - dropped otherwise (`InvalidInput` and any code not known to pass): the document itself
//!   is refused and would be refused again. It is counted and logged; the entry stays tracked,
//!   so the next change of the finding is sent.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::config::Config;
use crate::imds::model::RoleCredentials;
use crate::report::aws::sign::SigningKey;
use crate::report::aws::{
    scrub, ApiCount, AwsError, CredentialError, CredentialSource, Operation, RetryPolicy, Service,
    Target,
};
use crate::report::endpoints::{self, Variant};
use crate::report::fleet::HostView;
use crate::state::StateError;

use super::asff::{AsffFinding, Destination};
use super::gate::{Outcome, Say};
use super::lifecycle::{self, Planned};
use super::store::{Store, MAX_FINDING_BYTES};

/// One request's findings: their `Id`s and documents.
type Batch = Vec<(String, serde_json::Value)>;

/// Findings per `BatchImportFindings` (the API's maximum).
pub(crate) const MAX_BATCH_FINDINGS: usize = 100;
/// Bytes per request body (the API's 6 MB, with room for the envelope).
pub(crate) const MAX_BATCH_BYTES: usize = 6 * 1000 * 1000 - 1024;

/// `BatchImportFindings`, as the shared call layer needs to know it.
struct Import;

impl Operation for Import {
    fn name(&self) -> &'static str {
        "BatchImportFindings"
    }
    fn iam_action(&self) -> &'static str {
        "securityhub:BatchImportFindings"
    }
    fn signing_name(&self) -> &'static str {
        "securityhub"
    }
    fn path(&self) -> &'static str {
        "/findings/import"
    }
    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![("content-type", "application/json".to_string())]
    }
    fn resource(&self, target: &Target, _body: &[u8]) -> String {
        let account = target.account_or_any();
        let to = destination(&target.region);
        to.product_arn(account)
    }
}

/// What a flush did, for the cycle summary, `status` and the exit code.
#[derive(Debug, Default)]
pub struct Delivery {
    /// The sink called Security Hub (or may call it): false while the gate is closed or
    /// there are no credentials.
    pub active: bool,
    /// Why it is inactive.
    pub inactive_reason: Option<String>,
    /// Findings Security Hub accepted.
    pub accepted: u64,
    /// Findings it refused for good (dropped, counted).
    pub rejected: u64,
    /// Documents still pending after the flush.
    pub pending: usize,
    /// Calls and bytes.
    pub calls: ApiCount,
    /// Calls that failed (after their retries).
    pub errors: Vec<AwsError>,
}

/// The Security Hub sink, generic over where its credentials come from.
#[derive(Debug)]
pub struct SecurityHubSink<C> {
    endpoint: Option<String>,
    region: Option<String>,
    variant: Variant,
    service: Service<C>,
    store: Store,
}

/// The answer of `BatchImportFindings`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(default)]
    failed_findings: Vec<Failed>,
}

/// One refused finding.
#[doc(hidden)]
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Failed {
    /// The finding's `Id`.
    pub id: String,
    /// Why, as a code ([`refusal`] classes it).
    #[serde(default)]
    pub error_code: String,
    /// Why, in Security Hub's words.
    #[serde(default)]
    pub error_message: String,
}

/// The findings a `BatchImportFindings` answer lists as failed, by `Id` (the last listing of
/// an `Id` counts); none when the answer is not the API's JSON: every finding of the batch is
/// then taken as accepted, as an answer of HTTP 200 says. Codes and messages are scrubbed of
/// the credentials that signed the call and cut to one line of bounded length, as every other
/// server message is ([`scrub`]): they are logged. `pub` (hidden) for the `securityhub_answer`
/// fuzz target.
#[doc(hidden)]
pub fn failed_findings(answer: &[u8], key: &SigningKey<'_>) -> BTreeMap<String, Failed> {
    serde_json::from_slice::<Answer>(answer)
        .map(|a| {
            a.failed_findings
                .into_iter()
                .map(|f| {
                    let f = Failed {
                        error_code: scrub(&f.error_code, key),
                        error_message: scrub(&f.error_message, key),
                        id: f.id,
                    };
                    (f.id.clone(), f)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What becomes of a finding Security Hub refused, by its error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Sent again later.
    Keep,
    /// The role may not import it: kept, and the gate closes.
    Denied,
    /// Refused for good: dropped and counted.
    Drop,
}

/// The class of a `FailedFindings[].ErrorCode`.
pub(crate) fn refusal(code: &str) -> Refusal {
    let c = code.to_ascii_lowercase();
    if c.contains("accessdenied") || c.contains("invalidaccess") || c.contains("notauthorized") {
        Refusal::Denied
    } else if [
        "throttl",
        "limitexceeded",
        "internal",
        "unavailable",
        "timeout",
    ]
    .iter()
    .any(|k| c.contains(k))
    {
        Refusal::Keep
    } else {
        Refusal::Drop
    }
}

/// The account's findings go to the partition of `region`.
fn destination(region: &str) -> Destination {
    Destination {
        partition: endpoints::partition_id(region).unwrap_or("aws").to_string(),
        region: region.to_string(),
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl<C: CredentialSource> SecurityHubSink<C> {
    /// Opens the state under `state_dir` (locked: a second process gets
    /// [`StateError::Locked`]) and builds the HTTP client. The gate starts open: the first
    /// flush asks Security Hub whatever an earlier process learnt.
    pub fn open(config: &Config, source: C) -> Result<SecurityHubSink<C>, AwsError> {
        let mut store = Store::open(&config.agent.state_dir)?;
        store.gate.reset();
        Ok(SecurityHubSink {
            endpoint: config.securityhub.endpoint.clone(),
            region: config.cloudwatch.region.clone(),
            variant: Variant {
                fips: config.cloudwatch.use_fips_endpoint,
                dual_stack: config.cloudwatch.use_dualstack_endpoint,
            },
            service: Service::new(source, RetryPolicy::default())?,
            store,
        })
    }

    /// Documents waiting for Security Hub.
    pub fn pending(&self) -> usize {
        self.store.pending()
    }

    /// Plans the imports of a cycle that saw `view` at `now` and writes them durably before
    /// anything is sent (on error nothing is planned: the next cycle plans again).
    pub fn observe(&mut self, view: &HostView, now: SystemTime) -> Result<Planned, StateError> {
        let region = self
            .region
            .clone()
            .unwrap_or_else(|| view.instance.region.clone());
        let (next, planned) =
            lifecycle::plan(&self.store.tracked, view, &destination(&region), now);
        if planned.overflow > 0 {
            log::warn!(overflow = planned.overflow, bound = lifecycle::MAX_TRACKED;
                "more findings on this instance than Security Hub tracks; the rest are not imported");
        }
        let before = std::mem::replace(&mut self.store.tracked, next);
        if let Err(e) = self.store.save() {
            self.store.tracked = before;
            return Err(e);
        }
        Ok(planned)
    }

    /// Sends what is pending (none while the gate is closed), batch by batch, and writes the
    /// state after each answered batch. Stops at the first call that fails.
    pub async fn flush(&mut self, now: SystemTime) -> Delivery {
        let mut d = Delivery::default();
        if !self.store.gate.open_at(secs(now)) {
            d.inactive_reason = self.store.gate.reason().map(str::to_string);
            d.pending = self.store.pending();
            return d;
        }
        d.active = true;
        if self.store.pending() > 0 {
            match self.service.source().credentials().await {
                Ok(mut creds) => self.send_all(&mut creds, now, &mut d).await,
                Err(CredentialError::Unavailable(why)) => {
                    d.active = false;
                    d.inactive_reason = Some(why);
                }
                Err(e) => d.errors.push(AwsError::Credentials(e)),
            }
        }
        d.pending = self.store.pending();
        d
    }

    async fn send_all(&mut self, creds: &mut RoleCredentials, now: SystemTime, d: &mut Delivery) {
        for (target, batch) in self.batches(d) {
            let body =
                serde_json::json!({ "Findings": batch.iter().map(|(_, b)| b).collect::<Vec<_>>() });
            let body = serde_json::to_vec(&body).unwrap_or_default();
            let result = self
                .service
                .call(&Import, &target, &body, creds, &mut d.calls)
                .await;
            let outcome = match result {
                Ok(answer) => {
                    let key = SigningKey {
                        access_key_id: &creds.access_key_id,
                        secret_access_key: creds.secret_access_key.expose(),
                        session_token: Some(creds.session_token.expose()),
                    };
                    self.settle(&batch, &failed_findings(&answer, &key), d);
                    Outcome::Answered
                }
                Err(e) if refused(&e) => {
                    let reason = e.to_string();
                    if matches!(e, AwsError::AccessDenied { .. }) {
                        // A missing permission needs an operator (`run --once` exits 3).
                        d.errors.push(e);
                        Outcome::Refused(reason)
                    } else {
                        Outcome::Refused(format!(
                            "Security Hub is not enabled in this account and region ({reason})"
                        ))
                    }
                }
                Err(e) => {
                    d.errors.push(e);
                    Outcome::Transient
                }
            };
            let stop = outcome != Outcome::Answered || !d.errors.is_empty();
            self.gate(outcome, now, d);
            if let Err(e) = self.store.save() {
                d.errors.push(AwsError::State(e));
                return;
            }
            if stop {
                return;
            }
        }
    }

    /// Moves the gate after a call and says what changed, once.
    fn gate(&mut self, outcome: Outcome, now: SystemTime, d: &mut Delivery) {
        let (gate, say) = self.store.gate.after(outcome, secs(now));
        self.store.gate = gate;
        match say {
            Say::Inactive(reason) => {
                log::warn!(reason = reason.as_str();
                    "Security Hub reporting is inactive; it is tried again in 24 hours");
                d.active = false;
                d.inactive_reason = Some(reason);
            }
            Say::Active => log::info!("Security Hub accepts findings again"),
            Say::Nothing => {}
        }
        if let Some(r) = self.store.gate.reason() {
            d.active = false;
            d.inactive_reason = Some(r.to_string());
        }
    }

    /// The pending documents in batches of at most [`MAX_BATCH_FINDINGS`] and
    /// [`MAX_BATCH_BYTES`], by the account and region they go to. A document over Security
    /// Hub's 240 KB (it cannot be, by construction) is dropped and counted.
    fn batches(&mut self, d: &mut Delivery) -> Vec<(Target, Batch)> {
        let mut by_dest: BTreeMap<(String, String), Vec<Batch>> = BTreeMap::new();
        let mut oversize = Vec::new();
        let mut sizes: BTreeMap<(String, String), usize> = BTreeMap::new();
        for e in self.store.tracked.values().filter(|e| e.pending) {
            let doc: &AsffFinding = &e.doc;
            let value = serde_json::to_value(doc).unwrap_or_default();
            let size = value.to_string().len();
            if size > MAX_FINDING_BYTES {
                oversize.push(doc.id.clone());
                continue;
            }
            let key = (doc.region.clone(), doc.aws_account_id.clone());
            let batches = by_dest.entry(key.clone()).or_default();
            let used = sizes.entry(key).or_default();
            let full = batches.last().is_none_or(|b| {
                b.len() >= MAX_BATCH_FINDINGS || *used + size + 1 > MAX_BATCH_BYTES
            });
            if full {
                batches.push(Vec::new());
                *used = 0;
            }
            *used += size + 1;
            if let Some(b) = batches.last_mut() {
                b.push((doc.id.clone(), value));
            }
        }
        for id in oversize {
            d.rejected += 1;
            self.store.refused(&id);
        }
        let mut out = Vec::new();
        for ((region, account), batches) in by_dest {
            let endpoint = match self.endpoint_for(&region) {
                Ok(e) => e,
                Err(e) => {
                    log::warn!(error:% = e; "no Security Hub endpoint; the findings stay pending");
                    continue;
                }
            };
            for b in batches {
                let target = Target {
                    region: region.clone(),
                    endpoint: endpoint.clone(),
                    account: Some(account.clone()),
                };
                out.push((target, b));
            }
        }
        out
    }

    fn endpoint_for(&self, region: &str) -> Result<String, endpoints::EndpointError> {
        match &self.endpoint {
            Some(e) => Ok(e.trim_end_matches('/').to_string()),
            None => endpoints::resolve("securityhub", region, self.variant),
        }
    }

    /// Settles every finding of an answered batch by what Security Hub said of it.
    fn settle(
        &mut self,
        batch: &[(String, serde_json::Value)],
        failed: &BTreeMap<String, Failed>,
        d: &mut Delivery,
    ) {
        for (id, _) in batch {
            match failed.get(id) {
                None => {
                    d.accepted += 1;
                    self.store.settle(id);
                }
                Some(f) => match refusal(&f.error_code) {
                    Refusal::Keep | Refusal::Denied => {
                        log::debug!(id = id.as_str(), code = f.error_code.as_str(); "finding not imported; kept for the next flush");
                    }
                    Refusal::Drop => {
                        log::warn!(id = id.as_str(), code = f.error_code.as_str(), message = f.error_message.as_str();
                            "Security Hub refused a finding; it is dropped");
                        d.rejected += 1;
                        self.store.refused(id);
                    }
                },
            }
        }
    }
}

/// Whether a failed call says Security Hub cannot take findings here: not enabled
/// (`InvalidAccessException`, "not subscribed") or not permitted (`AccessDenied…`).
fn refused(e: &AwsError) -> bool {
    match e {
        AwsError::AccessDenied { .. } => true,
        AwsError::Service { code, message, .. } => {
            code.contains("InvalidAccess") || message.contains("not subscribed")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_findings_by_error_code() {
        for (code, want) in [
            ("InvalidInput", Refusal::Drop),
            ("", Refusal::Drop),
            ("LimitExceededException", Refusal::Keep),
            ("ThrottlingException", Refusal::Keep),
            ("InternalException", Refusal::Keep),
            ("AccessDeniedException", Refusal::Denied),
            ("InvalidAccessException", Refusal::Denied),
        ] {
            assert_eq!(refusal(code), want, "{code}");
        }
    }

    #[test]
    fn failed_findings_keep_no_echoed_credential() {
        // Found writing the `securityhub_answer` fuzz target: the codes and messages of
        // `FailedFindings` were logged as the answer gave them (any length, any credential).
        let key = crate::report::aws::sign::echoed_key();
        let (secret, token) = (key.secret_access_key, key.session_token.unwrap_or_default());
        let answer = serde_json::json!({"FailedCount": 1, "SuccessCount": 0, "FailedFindings": [
            {"Id": "credhygiene/i-1/c1", "ErrorCode": format!("AccessDenied {secret}"),
             "ErrorMessage": format!("token {token}\n{}", "A".repeat(5000))}]});
        let failed = failed_findings(answer.to_string().as_bytes(), &key);
        let f = &failed["credhygiene/i-1/c1"];
        let shown = format!("{f:?}");
        assert!(!shown.contains(secret) && !shown.contains(token), "{shown}");
        assert!(f.error_message.chars().count() <= 301 && !f.error_message.contains('\n'));
        assert_eq!(refusal(&f.error_code), Refusal::Denied);
        assert!(failed_findings(b"<html>", &key).is_empty());
    }
}
