//! Delivery: each cycle's [`HostView`] becomes one `PutComplianceItems` request, sent when the
//! set changed since the last delivery or the last delivery is a day old, through an outbox of
//! one ([`Memory::pending`]); and the inactive rule: the service's answer, not a guess, says
//! whether this instance is managed and the role may report ([`plan`], [`verdict`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::items::Request;
use super::memory::{self, Inactive, Last, Memory};
use crate::config::Config;
use crate::report::aws::sign::SigningKey;
use crate::report::aws::{
    answer_error, ApiCount, AwsError, CredentialError, CredentialSource, Operation, RetryPolicy,
    Service, Target,
};
use crate::report::endpoints::{self, Variant};
use crate::report::fleet::HostView;

/// The IAM action the sink needs (named when it is denied).
pub const IAM_ACTION: &str = "ssm:PutComplianceItems";
/// SigV4 signing name.
const SIGNING_NAME: &str = "ssm";

/// `PutComplianceItems` (awsJson1.1, as botocore's `ssm` model says).
struct PutComplianceItems;

impl Operation for PutComplianceItems {
    fn name(&self) -> &'static str {
        "PutComplianceItems"
    }
    fn iam_action(&self) -> &'static str {
        IAM_ACTION
    }
    fn signing_name(&self) -> &'static str {
        SIGNING_NAME
    }
    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("content-type", "application/x-amz-json-1.1".into()),
            ("x-amz-target", "AmazonSSM.PutComplianceItems".into()),
        ]
    }
    /// The instance the items are for.
    fn resource(&self, target: &Target, body: &[u8]) -> String {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let id = v["ResourceId"].as_str().unwrap_or("*");
        let partition = endpoints::partition_id(&target.region).unwrap_or("aws");
        format!(
            "arn:{partition}:ec2:{}:{}:instance/{id}",
            target.region,
            target.account_or_any()
        )
    }
}

/// An inactive sink asks again after this long (DESIGN.md: daily): an instance registered
/// with Systems Manager later, or a role given the permission, shows up within a day.
pub const RECHECK: Duration = Duration::from_secs(24 * 3600);
/// An unchanged set is sent again after this long, so that the Compliance page's execution
/// time says the agent is alive: a set older than a day (a stopped agent, a dead host) stands
/// out in a resource data sync query, and the cost is one free call a day. It matches the
/// daily full rescan (`agent.full_rescan_interval`), after which the set is proven afresh.
pub const REFRESH: Duration = Duration::from_secs(24 * 3600);

/// What to do with this cycle's picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Inactive, and the daily recheck is not due: no call.
    Quiet,
    /// The service shows this set already (or refused it), less than [`REFRESH`] ago.
    UpToDate,
    /// Call: the set changed, the refresh or the recheck is due, or nothing was ever sent.
    Send,
}

/// The plan for a picture whose [`Request::digest`] is `digest` at `now` (epoch seconds),
/// given what the sink remembers (pure). A clock that went back is taken as "due" (a wrong
/// clock must not keep the sink quiet for the time it went back).
pub(crate) fn plan(memory: &Memory, digest: &str, now: u64) -> Plan {
    let due = |since: u64, span: Duration| now < since || now - since >= span.as_secs();
    if let Some(i) = &memory.inactive {
        return if due(i.since, RECHECK) {
            Plan::Send
        } else {
            Plan::Quiet
        };
    }
    match &memory.last {
        Some(l) if l.digest == digest && !due(l.at, REFRESH) => Plan::UpToDate,
        _ => Plan::Send,
    }
}

/// What an answer means for the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Accepted: the set is the instance's.
    Delivered,
    /// The instance is not managed, or the role may not report: stop until the recheck.
    Inactive(String),
    /// The request itself is refused (content, size): not sent again until the set changes.
    Refused(String),
    /// A passing fault (network, throttling, 5xx, expired credentials): the request waits.
    Transient(String),
    /// The credentials or signature are not accepted: the request waits, an operator looks.
    Failed(String),
}

/// The verdict of a call's result (pure; the code decides where there is one):
///
/// | result | verdict |
/// |---|---|
/// | `Ok` | `Delivered` |
/// | `InvalidResourceId`, `InvalidResourceType` | `Inactive` (not a managed instance) |
/// | AccessDenied | `Inactive` (naming the missing action and the instance ARN) |
/// | other validation codes (`InvalidItemContentException`, size limits …) | `Refused` |
/// | signature or credential refusals, an untrusted certificate, a request not signable | `Failed` |
/// | network, throttling, 5xx (after the call's retries), credentials not fetched now | `Transient` |
pub(crate) fn verdict(result: &Result<Vec<u8>, AwsError>) -> Verdict {
    let e = match result {
        Ok(_) => return Verdict::Delivered,
        Err(e) => e,
    };
    match e {
        AwsError::Validation { code, .. } | AwsError::Service { code, .. }
            if code == "InvalidResourceId" || code == "InvalidResourceType" =>
        {
            Verdict::Inactive(format!(
                "this instance is not managed by Systems Manager (PutComplianceItems answered {code}); register it (SSM Agent, AmazonSSMManagedInstanceCore) to report here; asked again daily"
            ))
        }
        AwsError::AccessDenied { .. } => Verdict::Inactive(format!("{e}; asked again daily")),
        AwsError::Validation { .. } => Verdict::Refused(e.to_string()),
        AwsError::Auth { .. }
        | AwsError::Certificate { .. }
        | AwsError::Sign(_)
        | AwsError::Credentials(CredentialError::Unavailable(_)) => Verdict::Failed(e.to_string()),
        AwsError::Network { .. }
        | AwsError::Service { .. }
        | AwsError::Credentials(CredentialError::Failed(_))
        | AwsError::State(_) => Verdict::Transient(e.to_string()),
    }
}

/// The most characters of what the sink logs of one error answer (the verdict and the error's
/// `Display`): endpoint, action, resource and the error's words around two server texts, each
/// scrubbed and cut to its own bound in the call layer. The error's `Debug` may take up to
/// [`DEBUG_ESCAPE`] times as many (it escapes a quote as two characters, a format character
/// as up to ten). Checked by the sink's tests and the `ssm_answer` fuzz target.
#[doc(hidden)]
pub const MAX_LOGGED_ANSWER: usize = 2048;
/// See [`MAX_LOGGED_ANSWER`].
#[doc(hidden)]
pub const DEBUG_ESCAPE: usize = 10;

/// The error the call layer makes of an error answer (HTTP `status`, not 2xx) to a
/// `PutComplianceItems` of `request` signed with `key`, and the [`verdict`] on it (`Debug`),
/// both as the sink logs and keeps them; `Ok` when the answer counts as success. For the
/// `ssm_answer` fuzz target.
#[doc(hidden)]
pub fn answer_verdict(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    answer: &[u8],
    request: &[u8],
    key: &SigningKey<'_>,
) -> (Result<(), AwsError>, String) {
    let target = Target {
        region: "eu-west-1".into(),
        endpoint: "https://ssm.eu-west-1.amazonaws.com".into(),
        account: Some("123456789012".into()),
    };
    let api = PutComplianceItems;
    let result = match answer_error(&api, &target, request, status, headers, answer, key) {
        None => Ok(Vec::new()),
        Some((_, e)) => Err(e),
    };
    let shown = format!("{:?}", verdict(&result));
    (result.map(drop), shown)
}

/// What the sink did in one cycle.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SsmDelivery {
    /// The sink works (a later inactive answer or missing credentials make it false).
    pub active: bool,
    /// Why it is inactive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive_reason: Option<String>,
    /// A call was made and accepted this cycle.
    pub delivered: bool,
    /// Items of the instance's current set.
    pub items: usize,
    /// A request waits for the next cycle (its call failed).
    pub pending: bool,
    /// Calls made.
    pub calls: u64,
    /// What failed, when something did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl SsmDelivery {
    fn inactive(reason: String) -> SsmDelivery {
        SsmDelivery {
            inactive_reason: Some(reason),
            ..SsmDelivery::default()
        }
    }
}

/// The Systems Manager Compliance sink.
#[derive(Debug)]
pub struct SsmSink<C> {
    dir: PathBuf,
    endpoint: Option<String>,
    variant: Variant,
    service: Service<C>,
}

impl<C: CredentialSource> SsmSink<C> {
    /// The sink of `config` (its state in `agent.state_dir`), signing with `source`'s
    /// credentials; `Err` when the HTTP client cannot be built.
    pub fn new(config: &Config, source: C) -> Result<SsmSink<C>, AwsError> {
        Ok(SsmSink {
            dir: config.agent.state_dir.clone(),
            endpoint: (config.ssm.endpoint.as_deref()).map(|e| e.trim_end_matches('/').into()),
            variant: Variant {
                fips: config.cloudwatch.use_fips_endpoint,
                dual_stack: config.cloudwatch.use_dualstack_endpoint,
            },
            service: Service::new(source, RetryPolicy::default())?,
        })
    }

    /// Reports `view`: sends its set when [`plan`] says so, remembering the request before the
    /// call and the answer after it. Never fails the cycle: what went wrong is in the result.
    pub async fn report(&self, view: &HostView) -> SsmDelivery {
        let _lock = match memory::lock(&self.dir) {
            Ok(l) => l,
            Err(e) => return SsmDelivery::inactive(format!("not used this cycle: {e}")),
        };
        let mut mem = Memory::load(&self.dir);
        let now = epoch(SystemTime::now());
        let request = Request::of(view);
        let items = request.items.len();
        match plan(&mem, &request.digest(), now) {
            Plan::Quiet => {
                let reason = mem.inactive.map(|i| i.reason).unwrap_or_default();
                return SsmDelivery::inactive(reason);
            }
            Plan::UpToDate => {
                if mem.pending.take().is_some() {
                    save(&mem, &self.dir);
                }
                return SsmDelivery {
                    active: true,
                    items,
                    ..SsmDelivery::default()
                };
            }
            Plan::Send => {}
        }
        mem.pending = Some(request);
        save(&mem, &self.dir);
        let mut d = self.deliver(&mut mem, view, now).await;
        d.items = items;
        save(&mem, &self.dir);
        d
    }

    /// Sends the pending request and records the answer in `mem`.
    async fn deliver(&self, mem: &mut Memory, view: &HostView, now: u64) -> SsmDelivery {
        let Some(request) = mem.pending.clone() else {
            return SsmDelivery::default();
        };
        let mut count = ApiCount::default();
        let result = self.call(&request, view, &mut count).await;
        if let Err(AwsError::Credentials(CredentialError::Unavailable(why))) = &result {
            return SsmDelivery::inactive(why.clone());
        }
        let mut d = SsmDelivery {
            active: true,
            pending: true,
            calls: count.calls,
            ..SsmDelivery::default()
        };
        let digest = request.digest();
        match verdict(&result) {
            Verdict::Delivered => {
                if let Some(was) = mem.inactive.take() {
                    log::info!(previously:% = was.reason; "Systems Manager Compliance accepts this instance's items again");
                }
                mem.pending = None;
                mem.last = Some(Last {
                    digest,
                    at: now,
                    refused: None,
                });
                (d.delivered, d.pending) = (true, false);
            }
            Verdict::Inactive(reason) => {
                if mem.inactive.as_ref().map(|i| &i.reason) != Some(&reason) {
                    log::warn!(reason:% = reason; "Systems Manager Compliance is inactive");
                } else {
                    log::debug!(reason:% = reason; "Systems Manager Compliance is still inactive");
                }
                mem.inactive = Some(Inactive {
                    reason: reason.clone(),
                    since: now,
                });
                mem.pending = None;
                return SsmDelivery {
                    calls: count.calls,
                    ..SsmDelivery::inactive(reason)
                };
            }
            Verdict::Refused(why) => {
                log::error!(error:% = why; "Systems Manager refused the compliance items; they are sent again when the set changes or in a day");
                mem.pending = None;
                mem.last = Some(Last {
                    digest,
                    at: now,
                    refused: Some(why.clone()),
                });
                d.pending = false;
                d.error = Some(why);
            }
            Verdict::Transient(why) | Verdict::Failed(why) => {
                log::warn!(error:% = why; "PutComplianceItems failed; the request waits for the next cycle");
                d.error = Some(why);
            }
        }
        d
    }

    /// One `PutComplianceItems` with the call layer's retries, to the instance's region.
    async fn call(
        &self,
        request: &Request,
        view: &HostView,
        count: &mut ApiCount,
    ) -> Result<Vec<u8>, AwsError> {
        let region = view.instance.region.clone();
        let endpoint = match &self.endpoint {
            Some(e) => e.clone(),
            None => endpoints::resolve(SIGNING_NAME, &region, self.variant)
                .map_err(|e| CredentialError::Unavailable(e.to_string()))?,
        };
        let target = Target {
            region,
            endpoint,
            account: Some(view.instance.account_id.clone()),
        };
        let mut creds = self.service.source().credentials().await?;
        let body = request.body();
        (self.service)
            .call(&PutComplianceItems, &target, &body, &mut creds, count)
            .await
    }
}

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Writes the memory; a failure is logged (the next cycle computes the same set again).
fn save(mem: &Memory, dir: &Path) {
    if let Err(e) = mem.save(dir) {
        log::warn!(error:% = e; "cannot write the Systems Manager sink's state");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 24 * 3600;

    fn mem(last: Option<(&str, u64)>, inactive_since: Option<u64>) -> Memory {
        Memory {
            pending: None,
            last: last.map(|(digest, at)| Last {
                digest: digest.into(),
                at,
                refused: None,
            }),
            inactive: inactive_since.map(|since| Inactive {
                reason: "not managed".into(),
                since,
            }),
        }
    }

    #[test]
    fn plan_table() {
        let t = 1_000 * DAY;
        let rows = [
            // (memory, digest, now, plan)
            (mem(None, None), "a", t, Plan::Send),
            (mem(Some(("a", t)), None), "a", t + 3600, Plan::UpToDate),
            (mem(Some(("a", t)), None), "b", t + 60, Plan::Send),
            (mem(Some(("a", t)), None), "a", t + DAY - 1, Plan::UpToDate),
            (mem(Some(("a", t)), None), "a", t + DAY, Plan::Send),
            (mem(Some(("a", t)), None), "a", t - 60, Plan::Send),
            (mem(Some(("a", t)), Some(t)), "b", t + 3600, Plan::Quiet),
            (mem(None, Some(t)), "a", t + DAY - 1, Plan::Quiet),
            (mem(None, Some(t)), "a", t + DAY, Plan::Send),
            (mem(None, Some(t)), "a", t - 1, Plan::Send),
        ];
        for (i, (m, digest, now, want)) in rows.into_iter().enumerate() {
            assert_eq!(plan(&m, digest, now), want, "row {i}");
        }
    }

    #[test]
    fn verdict_table() {
        let ep = || "http://127.0.0.1:1".to_string();
        let validation = |code: &str| AwsError::Validation {
            api: "PutComplianceItems",
            endpoint: ep(),
            code: code.into(),
            message: "m".into(),
        };
        let service = |status: u16, code: &str| AwsError::Service {
            api: "PutComplianceItems",
            endpoint: ep(),
            status,
            code: code.into(),
            message: "m".into(),
        };
        let arn = "arn:aws:ec2:us-east-1:123456789012:instance/i-0123";
        let denied = AwsError::AccessDenied {
            api: "PutComplianceItems",
            endpoint: ep(),
            action: IAM_ACTION,
            resource: arn.into(),
            message: "m".into(),
        };
        let auth = AwsError::Auth {
            api: "PutComplianceItems",
            endpoint: ep(),
            code: "InvalidSignatureException".into(),
            message: "m".into(),
        };
        let network = AwsError::Network {
            api: "PutComplianceItems",
            endpoint: ep(),
            message: "refused".into(),
        };
        let rows: Vec<(Result<Vec<u8>, AwsError>, &str)> = vec![
            (Ok(vec![]), "Delivered"),
            (Err(validation("InvalidResourceId")), "Inactive"),
            (Err(validation("InvalidResourceType")), "Inactive"),
            (Err(service(400, "InvalidResourceId")), "Inactive"),
            (Err(denied), "Inactive"),
            (Err(validation("InvalidItemContentException")), "Refused"),
            (
                Err(validation("TotalSizeLimitExceededException")),
                "Refused",
            ),
            (Err(auth), "Failed"),
            (Err(network), "Transient"),
            (Err(service(500, "InternalServerError")), "Transient"),
            (
                Err(AwsError::Credentials(CredentialError::Failed(
                    "slow".into(),
                ))),
                "Transient",
            ),
        ];
        for (result, want) in &rows {
            let got = format!("{:?}", verdict(result));
            assert!(got.starts_with(want), "{result:?}: {got}");
        }
        let Verdict::Inactive(why) = verdict(&rows[4].0) else {
            panic!()
        };
        assert!(
            why.contains("ssm:PutComplianceItems") && why.contains(arn),
            "{why}"
        );
    }

    #[test]
    fn an_error_answer_echoing_the_credentials_keeps_none_of_them() {
        // fuzz/artifacts/ssm_answer/crash-secret-in-error-code: the error code (header or
        // `__type`) reached the error unscrubbed and of any length.
        let key = crate::report::aws::sign::echoed_key();
        let (secret, token) = (key.secret_access_key, key.session_token.unwrap_or_default());
        let mut headers = reqwest::header::HeaderMap::new();
        let long = format!("{secret};Sender");
        headers.insert("x-amzn-query-error", long.parse().unwrap());
        let body = format!(
            r#"{{"__type":"{}{token}","message":"{token}"}}"#,
            "X".repeat(5000)
        );
        for h in [headers, reqwest::header::HeaderMap::new()] {
            let (result, verdict) = answer_verdict(400, &h, body.as_bytes(), b"{}", &key);
            let e = result.unwrap_err();
            let shown = format!("{e} {e:?} {verdict}");
            assert!(!shown.contains(secret) && !shown.contains(token), "{shown}");
            assert!(shown.len() < MAX_LOGGED_ANSWER, "{} bytes", shown.len());
        }
    }

    /// fuzz/artifacts/ssm_answer/crash-8fc1…: what is logged (the verdict and the error's
    /// `Display`) stays within its bound whatever the server's text holds; only `Debug`
    /// escapes a quote as two characters and a format character as up to ten.
    #[test]
    fn an_error_of_quotes_or_format_characters_is_logged_within_its_bound() {
        let key = crate::report::aws::sign::echoed_key();
        for text in ["\"".repeat(400), "\u{200b}".repeat(400)] {
            let body = format!(
                "<ErrorResponse><Error><Code>{text}</Code><Message>{text}</Message></Error></ErrorResponse>"
            );
            let no_headers = reqwest::header::HeaderMap::new();
            let (result, verdict) = answer_verdict(400, &no_headers, body.as_bytes(), b"{}", &key);
            let e = result.unwrap_err();
            let logged = format!("{verdict} {e}");
            assert!(
                logged.chars().count() <= MAX_LOGGED_ANSWER,
                "{} chars: {logged}",
                logged.chars().count()
            );
            let debug = format!("{e:?}").chars().count();
            assert!(debug <= DEBUG_ESCAPE * MAX_LOGGED_ANSWER, "{debug} chars");
        }
    }
}
