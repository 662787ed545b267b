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
use crate::imds::model::RoleCredentials;
use crate::report::cloudwatch::sign::{self, SigningKey};
use crate::report::cloudwatch::{
    classify, host_header, http_client, parse_error, scrub, send, Class, CredentialError,
    CredentialSource,
};
use crate::report::endpoints::{self, Variant};
use crate::report::fleet::HostView;

/// The IAM action the sink needs (named when it is denied).
pub const IAM_ACTION: &str = "ssm:PutComplianceItems";
/// awsJson1.1, as botocore's `ssm` model says.
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// `X-Amz-Target` of the call.
const TARGET: &str = "AmazonSSM.PutComplianceItems";
/// SigV4 signing name.
const SIGNING_NAME: &str = "ssm";
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

/// The verdict of an answer with HTTP `status` and error `code` (pure; `message` is scrubbed
/// already; `arn` is the instance's ARN, named when the role lacks the permission):
///
/// | answer | verdict |
/// |---|---|
/// | 2xx | `Delivered` |
/// | `InvalidResourceId`, `InvalidResourceType` | `Inactive` (not a managed instance) |
/// | `AccessDenied*` | `Inactive` (with the missing action and the instance ARN) |
/// | `InvalidItemContentException`, `*SizeLimitExceededException`, `ComplianceTypeCountLimitExceededException`, validation codes | `Refused` |
/// | signature or credential codes | `Failed` |
/// | expired token, throttling, 5xx, anything else | `Transient` |
pub(crate) fn verdict(status: u16, code: &str, message: &str, arn: &str) -> Verdict {
    let said = |what: &str| format!("HTTP {status} {code}: {what}");
    match (code, classify(status, code)) {
        (_, Class::Ok) => Verdict::Delivered,
        ("InvalidResourceId" | "InvalidResourceType", _) => Verdict::Inactive(format!(
            "this instance is not managed by Systems Manager (PutComplianceItems answered {code}); register it (SSM Agent and AmazonSSMManagedInstanceCore) to report here; asked again daily"
        )),
        (_, Class::AccessDenied) => Verdict::Inactive(format!(
            "the instance role needs IAM permission {IAM_ACTION} on {arn} ({code}: {message}); asked again daily"
        )),
        (
            "InvalidItemContentException"
            | "ItemSizeLimitExceededException"
            | "TotalSizeLimitExceededException"
            | "ComplianceTypeCountLimitExceededException",
            _,
        )
        | (_, Class::Validation) => Verdict::Refused(said(message)),
        (_, Class::Auth) => Verdict::Failed(said(message)),
        _ => Verdict::Transient(said(message)),
    }
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
    http: reqwest::Client,
    source: C,
}

impl<C: CredentialSource> SsmSink<C> {
    /// The sink of `config` (its state in `agent.state_dir`), signing with `source`'s
    /// credentials; `Err` with the reason when the HTTP client cannot be built.
    pub fn new(config: &Config, source: C) -> Result<SsmSink<C>, String> {
        Ok(SsmSink {
            dir: config.agent.state_dir.clone(),
            endpoint: config
                .ssm
                .endpoint
                .as_deref()
                .map(|e| e.trim_end_matches('/').into()),
            variant: Variant {
                fips: config.cloudwatch.use_fips_endpoint,
                dual_stack: config.cloudwatch.use_dualstack_endpoint,
            },
            http: http_client()?,
            source,
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
        let region = &view.instance.region;
        let arn = instance_arn(view);
        let answer = match self.call(&request, region, &arn).await {
            Ok(v) => v,
            Err(CredentialError::Unavailable(why)) => return SsmDelivery::inactive(why),
            Err(e) => Verdict::Transient(e.to_string()),
        };
        let digest = request.digest();
        let mut d = SsmDelivery {
            active: true,
            pending: true,
            calls: 1,
            ..SsmDelivery::default()
        };
        match answer {
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
                d.delivered = true;
                d.pending = false;
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
                    calls: 1,
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

    /// One signed `PutComplianceItems` and the verdict of its answer (no answer: transient).
    async fn call(
        &self,
        request: &Request,
        region: &str,
        arn: &str,
    ) -> Result<Verdict, CredentialError> {
        let endpoint = match &self.endpoint {
            Some(e) => e.clone(),
            None => match endpoints::resolve(SIGNING_NAME, region, self.variant) {
                Ok(e) => e,
                Err(e) => return Err(CredentialError::Unavailable(e.to_string())),
            },
        };
        let creds = self.source.credentials().await?;
        let body = request.body();
        let (status, code, message) = match self.post(&endpoint, region, &body, &creds).await {
            Ok(answer) => answer,
            Err(why) => {
                return Ok(Verdict::Transient(format!(
                    "PutComplianceItems to {endpoint}: {why}"
                )))
            }
        };
        let v = verdict(status, &code, &message, arn);
        if classify(status, &code) == Class::Expired {
            let _ = self.source.refresh().await;
        }
        Ok(v)
    }

    /// The signed POST of `body`: the answer's status, error code and scrubbed message.
    async fn post(
        &self,
        endpoint: &str,
        region: &str,
        body: &[u8],
        creds: &RoleCredentials,
    ) -> Result<(u16, String, String), String> {
        let key = SigningKey {
            access_key_id: &creds.access_key_id,
            secret_access_key: creds.secret_access_key.expose(),
            session_token: Some(creds.session_token.expose()).filter(|t| !t.is_empty()),
        };
        let url = format!("{endpoint}/");
        let parsed = reqwest::Url::parse(&url).map_err(|e| e.to_string())?;
        let host = host_header(&parsed);
        let headers = [
            ("content-type", CONTENT_TYPE),
            ("host", host.as_str()),
            ("x-amz-target", TARGET),
        ];
        let signed = sign::sign_headers(
            "POST",
            &url,
            &headers,
            body,
            &key,
            region,
            SIGNING_NAME,
            SystemTime::now(),
        )
        .map_err(|e| e.to_string())?;
        let mut req = self.http.post(parsed).body(body.to_vec());
        for (k, v) in headers
            .iter()
            .copied()
            .chain(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        {
            req = req.header(k, v);
        }
        let (status, headers, bytes) = send(req).await.map_err(|f| f.message)?;
        let (code, message) = parse_error(&headers, &bytes);
        Ok((status, code, scrub(&message, &key)))
    }
}

/// The instance's ARN (what a denied call names).
fn instance_arn(view: &HostView) -> String {
    let i = &view.instance;
    let partition = endpoints::partition_id(&i.region).unwrap_or("aws");
    format!(
        "arn:{partition}:ec2:{}:{}:instance/{}",
        i.region, i.account_id, i.instance_id
    )
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
        let arn = "arn:aws:ec2:us-east-1:123456789012:instance/i-0123";
        let rows = [
            (200, "", "Delivered"),
            (400, "InvalidResourceId", "Inactive"),
            (400, "InvalidResourceType", "Inactive"),
            (400, "AccessDeniedException", "Inactive"),
            (400, "InvalidItemContentException", "Refused"),
            (400, "TotalSizeLimitExceededException", "Refused"),
            (400, "ValidationException", "Refused"),
            (400, "InvalidSignatureException", "Failed"),
            (400, "UnrecognizedClientException", "Failed"),
            (400, "ExpiredTokenException", "Transient"),
            (400, "ThrottlingException", "Transient"),
            (500, "InternalServerError", "Transient"),
            (503, "", "Transient"),
        ];
        for (status, code, want) in rows {
            let v = verdict(status, code, "m", arn);
            let got = format!("{v:?}");
            assert!(got.starts_with(want), "{code}: {got}");
        }
        let Verdict::Inactive(why) = verdict(400, "AccessDeniedException", "m", arn) else {
            panic!()
        };
        assert!(
            why.contains("ssm:PutComplianceItems") && why.contains(arn),
            "{why}"
        );
    }
}
