//! The CloudWatch sink: the four metrics with `PutMetricData` and one Logs event per finding
//! change plus a summary per cycle with `PutLogEvents`, signed (SigV4) with the instance
//! role's credentials, delivered through a durable outbox.
//!
//! Delivery: [`CloudWatchSink::enqueue`] turns a [`CycleReport`] into outbox entries, which
//! are written and fsynced under `state_dir` *before* anything is sent (all of them or none),
//! then [`CloudWatchSink::flush`] sends what waits, oldest first, and removes entries only
//! after a 2xx. A crash or an outage leaves the entries for the next flush; a restart does not
//! resend what was delivered (removal is durable before the next send).
//!
//! # At least once, and one duplicate window
//!
//! A finding change is queued under a key (finding id, change, finding-state generation) and
//! is not queued again while that key waits in the outbox or is recorded in
//! [`DeliveredKeys`] (`state_dir/delivered.json`, the keys delivered from the current
//! generation, written after CloudWatch accepted them and before the outbox is trimmed). So a
//! cycle that computes the same changes again — the agent crashed between queueing and
//! committing `findings.json`, the outbox was flushed after the restart before the first
//! cycle, or `findings.json` cannot be written at all — queues nothing twice, and a restart
//! never sends a trimmed entry again.
//!
//! One window remains, and it is accepted (delivery is at least once there): **after
//! CloudWatch accepted a batch and before the outbox trim is on disk**, the batch is sent
//! again by the next flush. It opens when the process crashes or is killed in that interval,
//! and equally when the 2xx never arrives or is never read: the answer is lost or times out
//! after the service accepted the request (the call is retried), the flush is cut short by
//! its deadline while a call is in flight, or the trim itself cannot be written (then only a
//! restart before the next successful outbox write resends). `PutLogEvents` and
//! `PutMetricData` have no idempotency token that would let the service drop the repeat.
//! Nothing else sends an entry twice: the summary event and the metrics of each cycle are new
//! entries, not repeats.
//!
//! Errors by class (Vector's `is_retriable_error`, the SDKs' standard retry mode):
//! throttling, 5xx and network errors are retried with exponential backoff and full jitter,
//! a bounded number of times; an expired token makes the sink ask its [`CredentialSource`]
//! to refresh and retry once; `AccessDenied` is reported with the IAM action and resource
//! that are missing; signature and validation errors are not retried. Entries the service
//! refuses as invalid are removed (and counted) so that one bad entry cannot block the
//! outbox; entries that failed for any other reason stay.
//!
//! Off EC2 (no identity document, or the credential source says no credentials exist) the
//! sink logs once that it is inactive and why, and queues nothing.

pub mod logs;
pub mod metrics;
pub mod sign;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::{Deserialize, Serialize};

use crate::config::CloudWatchConfig;
use crate::imds::model::RoleCredentials;
use crate::report::cycle::CycleReport;
use crate::state::{DeliveredKeys, Outbox, StateError, OUTBOX_FILE};
use logs::LogEvent;
use metrics::{Datum, Dimensions};
use sign::{SignError, SigningKey};

/// Attempts per call for retriable errors (first try included), as the SDKs' standard mode.
pub const DEFAULT_ATTEMPTS: usize = 4;
/// First backoff ceiling; each retry doubles it (full jitter: the sleep is uniform in
/// `0..ceiling`, which spreads a fleet that failed together).
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(500);
/// Largest backoff ceiling (the SDKs cap at 20 s).
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(20);
/// Connect timeout: CloudWatch endpoints answer in milliseconds; a hung connect is an outage.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Whole-request timeout (a 1 MiB PutLogEvents on a slow link still fits).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest server message kept in an error (bodies are not logged whole).
const MAX_MESSAGE_LEN: usize = 300;

// ---------------------------------------------------------------------------------------------
// Credentials

/// Why no credentials could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// There are none to be had here (off EC2, IMDS disabled, no instance profile): the sink
    /// is inactive and queues nothing.
    #[error("no instance role credentials: {0}")]
    Unavailable(String),
    /// They exist but could not be fetched now (IMDS unreachable, throttled): the sink
    /// queues and retries at the next flush.
    #[error("cannot fetch instance role credentials: {0}")]
    Failed(String),
}

/// Where the sink gets the credentials it signs with (the IMDS role credentials provider).
pub trait CredentialSource {
    /// Current credentials (a provider caches them until shortly before they expire).
    fn credentials(&self) -> impl Future<Output = Result<RoleCredentials, CredentialError>> + Send;
    /// Fresh credentials, bypassing any cache (after the service said `ExpiredToken`).
    fn refresh(&self) -> impl Future<Output = Result<RoleCredentials, CredentialError>> + Send;
}

fn imds_credential_error(e: crate::imds::ImdsError) -> CredentialError {
    use crate::imds::ImdsError;
    if e.is_unreachable()
        || matches!(
            e,
            ImdsError::Disabled | ImdsError::NoRole { .. } | ImdsError::Forbidden { .. }
        )
    {
        CredentialError::Unavailable(e.to_string())
    } else {
        CredentialError::Failed(e.to_string())
    }
}

/// The instance role's credentials from IMDS: no instance profile, IMDS off or unreachable
/// make the sink inactive; other failures are transient.
impl CredentialSource for crate::imds::CredentialsProvider {
    async fn credentials(&self) -> Result<RoleCredentials, CredentialError> {
        crate::imds::CredentialsProvider::credentials(self)
            .await
            .map_err(imds_credential_error)
    }

    async fn refresh(&self) -> Result<RoleCredentials, CredentialError> {
        crate::imds::CredentialsProvider::refresh(self)
            .await
            .map_err(imds_credential_error)
    }
}

/// A fixed set of credentials (tests, and callers that fetched them already).
#[derive(Debug, Clone)]
pub struct StaticCredentials(pub RoleCredentials);

impl CredentialSource for StaticCredentials {
    fn credentials(&self) -> impl Future<Output = Result<RoleCredentials, CredentialError>> + Send {
        std::future::ready(Ok(self.0.clone()))
    }
    fn refresh(&self) -> impl Future<Output = Result<RoleCredentials, CredentialError>> + Send {
        std::future::ready(Ok(self.0.clone()))
    }
}

/// No credentials at all (`AWS_EC2_METADATA_DISABLED`, no IMDS): the sink stays inactive.
#[derive(Debug, Clone)]
pub struct NoCredentials(pub String);

impl CredentialSource for NoCredentials {
    fn credentials(&self) -> impl Future<Output = Result<RoleCredentials, CredentialError>> + Send {
        std::future::ready(Err(CredentialError::Unavailable(self.0.clone())))
    }
    fn refresh(&self) -> impl Future<Output = Result<RoleCredentials, CredentialError>> + Send {
        std::future::ready(Err(CredentialError::Unavailable(self.0.clone())))
    }
}

/// `None` (IMDS disabled in the config or by `AWS_EC2_METADATA_DISABLED`) means no
/// credentials at all: the sink stays inactive.
impl<C: CredentialSource + Sync> CredentialSource for Option<C> {
    async fn credentials(&self) -> Result<RoleCredentials, CredentialError> {
        match self {
            Some(c) => c.credentials().await,
            None => Err(CredentialError::Unavailable(IMDS_DISABLED.into())),
        }
    }
    async fn refresh(&self) -> Result<RoleCredentials, CredentialError> {
        match self {
            Some(c) => c.refresh().await,
            None => Err(CredentialError::Unavailable(IMDS_DISABLED.into())),
        }
    }
}

const IMDS_DISABLED: &str =
    "IMDS is disabled (imds.disabled or AWS_EC2_METADATA_DISABLED), so there are no role credentials";

// ---------------------------------------------------------------------------------------------
// APIs, endpoints

/// The four operations the sink calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Api {
    /// CloudWatch `PutMetricData`.
    PutMetricData,
    /// CloudWatch Logs `CreateLogGroup`.
    CreateLogGroup,
    /// CloudWatch Logs `CreateLogStream`.
    CreateLogStream,
    /// CloudWatch Logs `PutLogEvents`.
    PutLogEvents,
}

impl Api {
    /// The operation name.
    pub fn name(self) -> &'static str {
        match self {
            Api::PutMetricData => "PutMetricData",
            Api::CreateLogGroup => "CreateLogGroup",
            Api::CreateLogStream => "CreateLogStream",
            Api::PutLogEvents => "PutLogEvents",
        }
    }

    /// The IAM action that allows it (as real IAM names it; moto uses `monitoring:`).
    pub fn iam_action(self) -> &'static str {
        match self {
            Api::PutMetricData => "cloudwatch:PutMetricData",
            Api::CreateLogGroup => "logs:CreateLogGroup",
            Api::CreateLogStream => "logs:CreateLogStream",
            Api::PutLogEvents => "logs:PutLogEvents",
        }
    }

    fn is_logs(self) -> bool {
        !matches!(self, Api::PutMetricData)
    }

    /// SigV4 signing name.
    pub fn signing_name(self) -> &'static str {
        if self.is_logs() {
            "logs"
        } else {
            "monitoring"
        }
    }

    fn target(self) -> String {
        let prefix = if self.is_logs() {
            logs::TARGET_PREFIX
        } else {
            metrics::TARGET_PREFIX
        };
        format!("{prefix}.{}", self.name())
    }

    fn content_type(self) -> &'static str {
        if self.is_logs() {
            logs::CONTENT_TYPE
        } else {
            metrics::CONTENT_TYPE
        }
    }
}

/// The AWS partition of a region (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The regional endpoint of `monitoring` or `logs` (`.amazonaws.com.cn` in China).
pub fn regional_endpoint(signing_name: &str, region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{signing_name}.{region}.{suffix}")
}

// ---------------------------------------------------------------------------------------------
// Counters

/// Calls and bytes of one API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ApiCount {
    /// HTTP requests sent (retries included).
    pub calls: u64,
    /// Request body bytes sent.
    pub bytes_sent: u64,
    /// Requests answered with an error or not answered.
    pub errors: u64,
}

/// Calls and bytes per API, the inputs of the cost estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ApiCounters {
    /// `PutMetricData`.
    pub put_metric_data: ApiCount,
    /// `CreateLogGroup`.
    pub create_log_group: ApiCount,
    /// `CreateLogStream`.
    pub create_log_stream: ApiCount,
    /// `PutLogEvents`.
    pub put_log_events: ApiCount,
    /// Log bytes as CloudWatch Logs bills ingestion: message bytes + 26 per event accepted.
    pub log_ingested_bytes: u64,
    /// Metric data points accepted.
    pub metric_datums: u64,
}

impl ApiCounters {
    fn get(&mut self, api: Api) -> &mut ApiCount {
        match api {
            Api::PutMetricData => &mut self.put_metric_data,
            Api::CreateLogGroup => &mut self.create_log_group,
            Api::CreateLogStream => &mut self.create_log_stream,
            Api::PutLogEvents => &mut self.put_log_events,
        }
    }

    fn add(&mut self, o: &ApiCounters) {
        for (mine, theirs) in [
            (&mut self.put_metric_data, &o.put_metric_data),
            (&mut self.create_log_group, &o.create_log_group),
            (&mut self.create_log_stream, &o.create_log_stream),
            (&mut self.put_log_events, &o.put_log_events),
        ] {
            mine.calls += theirs.calls;
            mine.bytes_sent += theirs.bytes_sent;
            mine.errors += theirs.errors;
        }
        self.log_ingested_bytes += o.log_ingested_bytes;
        self.metric_datums += o.metric_datums;
    }

    /// What one cycle like this one costs per instance and month, repeated every
    /// `interval`, at the us-east-1 list prices below (API requests and log ingestion; the
    /// four dimensionless metrics are billed per account and region, not per instance).
    pub fn monthly_estimate(&self, interval: Duration) -> CostEstimate {
        let cycles = (HOURS_PER_MONTH * 3600.0 / interval.as_secs_f64().max(1.0)).round();
        let requests = cycles * self.put_metric_data.calls as f64;
        let log_bytes = cycles * self.log_ingested_bytes as f64;
        CostEstimate {
            cycles_per_month: cycles as u64,
            calls_per_month: (cycles * self.total_calls() as f64) as u64,
            log_bytes_per_month: log_bytes as u64,
            usd_per_instance_month: requests / 1000.0 * USD_PER_1000_REQUESTS
                + log_bytes / 1e9 * USD_PER_GB_INGESTED,
        }
    }

    /// Request bytes sent over all APIs.
    pub fn total_bytes_sent(&self) -> u64 {
        self.put_metric_data.bytes_sent
            + self.create_log_group.bytes_sent
            + self.create_log_stream.bytes_sent
            + self.put_log_events.bytes_sent
    }

    /// Requests over all APIs.
    pub fn total_calls(&self) -> u64 {
        self.put_metric_data.calls
            + self.create_log_group.calls
            + self.create_log_stream.calls
            + self.put_log_events.calls
    }
}

/// Hours in the month CloudWatch bills by (730).
pub const HOURS_PER_MONTH: f64 = 730.0;
/// CloudWatch API requests (`PutMetricData`), us-east-1 list price, per 1,000 (check live).
pub const USD_PER_1000_REQUESTS: f64 = 0.01;
/// CloudWatch Logs standard ingestion, us-east-1 list price, per GB (check live).
/// `PutLogEvents` requests themselves are not billed.
pub const USD_PER_GB_INGESTED: f64 = 0.50;
/// A custom metric, first tier, per month: what each dimension set costs.
pub const USD_PER_METRIC_MONTH: f64 = 0.30;

/// The monthly cost of repeating a cycle, from the counted calls and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostEstimate {
    /// Cycles in a month at the interval.
    pub cycles_per_month: u64,
    /// HTTP requests to CloudWatch in a month.
    pub calls_per_month: u64,
    /// Log bytes ingested in a month (message bytes + 26 per event).
    pub log_bytes_per_month: u64,
    /// API requests + ingestion, per instance and month, before the free tier.
    pub usd_per_instance_month: f64,
}

// ---------------------------------------------------------------------------------------------
// Errors

/// A CloudWatch call that did not succeed, with the endpoint and what was being done.
#[derive(Debug, thiserror::Error)]
pub enum CloudWatchError {
    /// No answer: connection refused, reset, timed out (after the retries).
    #[error("{api} to {endpoint} failed: {message}")]
    Network {
        /// Operation.
        api: &'static str,
        /// Endpoint URL.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// The service answered with an error that is not one of the classes below (or a
    /// retriable one that persisted through every attempt).
    #[error("{api} to {endpoint} failed with HTTP {status} {code}: {message}")]
    Service {
        /// Operation.
        api: &'static str,
        /// Endpoint URL.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// Error code (`ThrottlingException` …).
        code: String,
        /// Server message (truncated).
        message: String,
    },
    /// The role lacks a permission.
    #[error(
        "{api} to {endpoint} was denied: the instance role needs IAM permission {action} on {resource}: {message}"
    )]
    AccessDenied {
        /// Operation.
        api: &'static str,
        /// Endpoint URL.
        endpoint: String,
        /// The missing IAM action, e.g. `logs:PutLogEvents`.
        action: &'static str,
        /// The resource ARN or scope, e.g. the log stream ARN.
        resource: String,
        /// Server message (truncated).
        message: String,
    },
    /// The request was not authenticated: wrong secret, unknown key, bad session token.
    #[error("{api} to {endpoint} was rejected ({code}): the credentials or their signature are not accepted: {message}")]
    Auth {
        /// Operation.
        api: &'static str,
        /// Endpoint URL.
        endpoint: String,
        /// `SignatureDoesNotMatch`, `InvalidClientTokenId`, `UnrecognizedClientException` …
        code: String,
        /// Server message (truncated).
        message: String,
    },
    /// The service refused the request's content (not retried).
    #[error("{api} to {endpoint} was refused as invalid ({code}): {message}")]
    Validation {
        /// Operation.
        api: &'static str,
        /// Endpoint URL.
        endpoint: String,
        /// Error code.
        code: String,
        /// Server message (truncated).
        message: String,
    },
    /// No credentials to sign with.
    #[error("CloudWatch: {0}")]
    Credentials(#[from] CredentialError),
    /// A request could not be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The outbox could not be read or written.
    #[error("CloudWatch outbox: {0}")]
    State(#[from] StateError),
}

impl CloudWatchError {
    /// Whether what failed is safely spooled and will be retried (network, service, transient
    /// credentials), as opposed to needing an operator (permissions, signature, validation,
    /// the outbox itself).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CloudWatchError::Network { .. }
                | CloudWatchError::Service { .. }
                | CloudWatchError::Credentials(CredentialError::Failed(_))
        )
    }
}

/// How an answer is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Ok,
    AlreadyExists,
    NotFound,
    Retry,
    Expired,
    AccessDenied,
    Auth,
    Validation,
}

fn classify(status: u16, code: &str) -> Class {
    if (200..300).contains(&status) {
        return Class::Ok;
    }
    match code {
        "ResourceAlreadyExistsException" => Class::AlreadyExists,
        "ResourceNotFoundException" => Class::NotFound,
        "ExpiredToken" | "ExpiredTokenException" | "TokenRefreshRequired" => Class::Expired,
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "NotAuthorized" => {
            Class::AccessDenied
        }
        "SignatureDoesNotMatch"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "IncompleteSignature"
        | "InvalidSignatureException"
        | "MissingAuthenticationToken" => Class::Auth,
        "Throttling"
        | "ThrottlingException"
        | "ThrottledException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "InternalFailure"
        | "InternalServiceError"
        | "InternalServiceFault"
        | "RequestTimeout"
        | "RequestTimeoutException"
        | "RequestExpired"
        | "OperationAbortedException" => Class::Retry,
        "InvalidParameterException"
        | "InvalidParameterValue"
        | "InvalidParameterValueException"
        | "InvalidParameterCombination"
        | "InvalidParameterCombinationException"
        | "MissingParameter"
        | "MissingRequiredParameter"
        | "ValidationError"
        | "ValidationException"
        | "SerializationException"
        | "InvalidSequenceTokenException"
        | "DataAlreadyAcceptedException"
        | "MalformedQueryString" => Class::Validation,
        // Anything else (a proxy's 407, an HTML 403 from an egress firewall, a 413 …) is not
        // proof that the entries are invalid: keep them and try again later.
        _ => Class::Retry,
    }
}

/// The error code and message of an error answer: JSON (`__type`, `message`), XML
/// (`<Code>`, `<Message>`, which moto uses for auth errors even on JSON calls), or the
/// `x-amzn-query-error` header.
fn parse_error(headers: &reqwest::header::HeaderMap, body: &[u8]) -> (String, String) {
    let header_code = headers
        .get("x-amzn-query-error")
        .or_else(|| headers.get("x-amzn-errortype"))
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split([';', ':']).next().unwrap_or(v).to_string());
    let text = String::from_utf8_lossy(body);
    let (mut code, mut message) = (None, None);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        code = v
            .get("__type")
            .or_else(|| v.get("code"))
            .or_else(|| v.get("Code"))
            .and_then(|c| c.as_str())
            .map(|c| {
                let c = c.rsplit('#').next().unwrap_or(c);
                c.split(':').next().unwrap_or(c).to_string()
            });
        message = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(|m| m.as_str())
            .map(str::to_string);
    } else if text.trim_start().starts_with('<') {
        code = xml_element(&text, "Code");
        message = xml_element(&text, "Message");
    }
    let code = header_code.or(code).unwrap_or_default();
    (code, message.unwrap_or_default())
}

fn xml_element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&close)? + start;
    Some(text[start..end].trim().to_string())
}

/// Keeps a server message printable and short, and removes any credential material it
/// might echo (some services put the canonical request, which holds the session token, in
/// their signature errors).
fn scrub(message: &str, key: &SigningKey<'_>) -> String {
    let mut m = message.replace(key.secret_access_key, "** redacted **");
    if let Some(t) = key.session_token {
        if !t.is_empty() {
            m = m.replace(t, "** redacted **");
        }
    }
    let m: String = m
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if m.chars().count() > MAX_MESSAGE_LEN {
        let cut: String = m.chars().take(MAX_MESSAGE_LEN).collect();
        format!("{cut}…")
    } else {
        m
    }
}

// ---------------------------------------------------------------------------------------------
// The sink

/// What waits in the outbox: one log event or one metric data point, with where it goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item {
    /// A CloudWatch Logs event.
    Log {
        /// Region to send to.
        region: String,
        /// Log group.
        group: String,
        /// Log stream (the instance id).
        stream: String,
        /// The event.
        event: LogEvent,
        /// For finding changes: `finding id:change:state generation` ([`change_key`]). A
        /// change already in the outbox, or already delivered from the same generation
        /// ([`DeliveredKeys`]), under the same key is not queued twice (a crash between
        /// queueing and committing the finding state, or a finding state that cannot be
        /// written, makes the next cycle compute the same change).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// A metric data point.
    Metric {
        /// Region to send to.
        region: String,
        /// Namespace.
        namespace: String,
        /// The data point.
        datum: Datum,
    },
}

/// The dedupe key of a finding change: `finding id:change:generation` (a short hex id, `new`
/// or `resolved`, and [`crate::state::FindingState::generation`], a short hex digest).
pub fn change_key(finding_id: &str, change: &str, generation: &str) -> String {
    format!("{finding_id}:{change}:{generation}")
}

/// The generation part of a [`change_key`].
fn key_generation(key: &str) -> &str {
    key.rsplit_once(':').map_or("", |(_, g)| g)
}

/// The result of one [`CloudWatchSink::report`] or [`CloudWatchSink::flush`].
#[derive(Debug, Default, Serialize)]
pub struct Delivery {
    /// Whether the sink is active (on EC2 with role credentials).
    pub active: bool,
    /// Why it is inactive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive_reason: Option<String>,
    /// Entries added to the outbox by this call.
    pub enqueued: u64,
    /// Log events the service accepted.
    pub delivered_events: u64,
    /// Metric data points the service accepted.
    pub delivered_datums: u64,
    /// Entries the service refused for good (invalid, too old) and that were removed.
    pub rejected: u64,
    /// Entries still waiting in the outbox.
    pub pending: u64,
    /// Entries dropped because the outbox was full, since it was created.
    pub dropped: u64,
    /// Calls and bytes of this delivery.
    pub calls: ApiCounters,
    /// What failed (entries concerned stay in the outbox unless counted as rejected).
    #[serde(serialize_with = "errors_as_strings")]
    pub errors: Vec<CloudWatchError>,
}

fn errors_as_strings<S: serde::Serializer>(
    errs: &[CloudWatchError],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(errs.iter().map(|e| e.to_string()))
}

impl Delivery {
    /// Adds a later delivery's results (a flush after an enqueue) to this one.
    pub fn absorb(&mut self, later: Delivery) {
        self.delivered_events += later.delivered_events;
        self.delivered_datums += later.delivered_datums;
        self.rejected += later.rejected;
        self.pending = later.pending;
        self.dropped = later.dropped;
        self.calls.add(&later.calls);
        self.errors.extend(later.errors);
    }

    /// Whether everything queued has been delivered and nothing failed.
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty() && self.pending == 0
    }
}

/// Knobs of the sink beyond the config file.
#[derive(Debug)]
pub struct Builder<'a, C> {
    cfg: &'a CloudWatchConfig,
    state_dir: &'a Path,
    source: C,
    tuning: Tuning,
}

/// How the sink batches, retries and labels its metrics: set by [`Builder`], kept by the sink.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    dimensions: Dimensions,
    max_batch_events: usize,
    attempts: usize,
    min_backoff: Duration,
    max_backoff: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            dimensions: Dimensions::default(),
            max_batch_events: logs::MAX_BATCH_EVENTS,
            attempts: DEFAULT_ATTEMPTS,
            min_backoff: DEFAULT_MIN_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }
}

impl<C: CredentialSource> Builder<'_, C> {
    /// Dimension sets of the metrics (default: [`Dimensions::Fleet`]).
    pub fn dimensions(mut self, d: Dimensions) -> Self {
        self.tuning.dimensions = d;
        self
    }

    /// At most this many events per `PutLogEvents` (default and maximum 10,000).
    pub fn max_batch_events(mut self, n: usize) -> Self {
        self.tuning.max_batch_events = n.clamp(1, logs::MAX_BATCH_EVENTS);
        self
    }

    /// Attempts per call for retriable errors (default [`DEFAULT_ATTEMPTS`]).
    pub fn attempts(mut self, n: usize) -> Self {
        self.tuning.attempts = n.max(1);
        self
    }

    /// Backoff ceilings (defaults [`DEFAULT_MIN_BACKOFF`], [`DEFAULT_MAX_BACKOFF`]).
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.tuning.min_backoff = min;
        self.tuning.max_backoff = max.max(min);
        self
    }

    /// Opens the outbox and builds the HTTP client.
    pub fn build(self) -> Result<CloudWatchSink<C>, CloudWatchError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let outbox = Outbox::open(
            self.state_dir,
            OUTBOX_FILE,
            self.cfg.outbox_max_size.as_u64(),
        )?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("credhygiene/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CloudWatchError::Network {
                api: "client",
                endpoint: String::new(),
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(CloudWatchSink {
            cfg: self.cfg.clone(),
            source: self.source,
            tuning: self.tuning,
            http,
            delivered: DeliveredKeys::load(self.state_dir),
            outbox,
            totals: ApiCounters::default(),
            ready_streams: HashSet::new(),
            inactive_logged: false,
            account: None,
        })
    }
}

/// The CloudWatch sink, generic over where its credentials come from.
#[derive(Debug)]
pub struct CloudWatchSink<C> {
    cfg: CloudWatchConfig,
    source: C,
    tuning: Tuning,
    http: reqwest::Client,
    outbox: Outbox<Item>,
    delivered: DeliveredKeys,
    totals: ApiCounters,
    ready_streams: HashSet<(String, String, String)>,
    inactive_logged: bool,
    account: Option<String>,
}

/// Outcome of one attempt, for the retry loop.
enum Attempt {
    Done(Vec<u8>),
    Failed(Class, CloudWatchError),
}

impl<C: CredentialSource> CloudWatchSink<C> {
    /// A builder with the config file's settings, the outbox in `state_dir`, and `source`.
    pub fn builder<'a>(
        cfg: &'a CloudWatchConfig,
        state_dir: &'a Path,
        source: C,
    ) -> Builder<'a, C> {
        Builder {
            cfg,
            state_dir,
            source,
            tuning: Tuning::default(),
        }
    }

    /// Applies a reloaded `[cloudwatch]` section (SIGHUP) without reopening the outbox:
    /// namespace, log group and region apply to entries queued from now on, endpoints to the
    /// next flush, the outbox bound to the next push.
    pub fn set_config(&mut self, cfg: &CloudWatchConfig) {
        self.cfg = cfg.clone();
        self.outbox.set_max_bytes(cfg.outbox_max_size.as_u64());
    }

    /// Calls and bytes since the sink was built.
    pub fn totals(&self) -> &ApiCounters {
        &self.totals
    }

    /// Entries waiting in the outbox.
    pub fn pending(&self) -> usize {
        self.outbox.len()
    }

    /// The outbox (for inspection).
    pub fn outbox(&self) -> &Outbox<Item> {
        &self.outbox
    }

    /// The changes already delivered from the current finding-state generation (for
    /// inspection).
    pub fn delivered(&self) -> &DeliveredKeys {
        &self.delivered
    }

    fn inactive(&mut self, reason: String) -> Delivery {
        if !self.inactive_logged {
            log::warn!(reason:% = reason;
                "CloudWatch reporting is inactive: {reason}; nothing is queued for CloudWatch");
            self.inactive_logged = true;
        }
        Delivery {
            active: false,
            inactive_reason: Some(reason),
            pending: self.outbox.len() as u64,
            dropped: self.outbox.dropped(),
            ..Delivery::default()
        }
    }

    /// Queues a cycle's metrics and events durably, then tries to deliver everything that
    /// waits. Off EC2, or without role credentials, queues nothing.
    pub async fn report(&mut self, cycle: &CycleReport) -> Delivery {
        let mut d = self.enqueue(cycle, "").await;
        if d.active {
            let flushed = self.flush().await;
            d.absorb(flushed);
        }
        d
    }

    /// Queues a cycle's metrics and events durably (written and fsynced) without sending.
    /// `generation` identifies the finding state the changes were computed from (see
    /// [`crate::state::FindingState::generation`]); a change already queued, or already
    /// delivered, from the same generation is not queued again (an empty `generation` turns
    /// the delivered check off). Off EC2, or without role credentials, queues nothing and
    /// returns an inactive delivery.
    ///
    /// All or nothing: when the delivery carries a [`CloudWatchError::State`] error, nothing
    /// of this cycle was queued and the finding state must not move on.
    pub async fn enqueue(&mut self, cycle: &CycleReport, generation: &str) -> Delivery {
        let Some(instance) = cycle.instance.as_ref() else {
            return self.inactive(
                "no instance identity document (not on EC2, or IMDS disabled or unreachable)"
                    .into(),
            );
        };
        match self.source.credentials().await {
            Err(CredentialError::Unavailable(why)) => return self.inactive(why),
            Err(e @ CredentialError::Failed(_)) => {
                // Transient: queue now, deliver when credentials come back.
                log::warn!(error:% = e; "CloudWatch: no credentials for now; queueing");
            }
            Ok(_) => {}
        }
        if self.inactive_logged {
            log::info!("CloudWatch reporting is active again");
            self.inactive_logged = false;
        }
        self.account = Some(instance.account_id.clone());
        let region = self
            .cfg
            .region
            .clone()
            .unwrap_or_else(|| instance.region.clone());
        let group = self.cfg.log_group.clone();
        let stream = instance.instance_id.clone();
        let mut d = Delivery {
            active: true,
            ..Delivery::default()
        };
        if !generation.is_empty() {
            if let Err(e) = self.delivered.begin(generation) {
                d.errors.push(e.into());
                d.pending = self.outbox.len() as u64;
                d.dropped = self.outbox.dropped();
                return d;
            }
        }
        let queued: HashSet<String> = self
            .outbox
            .entries()
            .filter_map(|e| match &e.item {
                Item::Log { key: Some(k), .. } => Some(k.clone()),
                _ => None,
            })
            .collect();
        let log_item = |event: LogEvent, key: Option<String>| Item::Log {
            region: region.clone(),
            group: group.clone(),
            stream: stream.clone(),
            event,
            key,
        };
        let mut items = Vec::new();
        let changes = cycle
            .changes
            .new
            .iter()
            .map(|f| (f, "new"))
            .chain(cycle.changes.resolved.iter().map(|f| (f, "resolved")));
        for (f, change) in changes {
            let key = change_key(&f.id, change, generation);
            if queued.contains(&key) || self.delivered.contains(&key) {
                continue;
            }
            items.push(log_item(logs::finding_event(f, change, cycle), Some(key)));
        }
        items.push(log_item(
            logs::summary_event(cycle, self.outbox.len(), self.outbox.dropped()),
            None,
        ));
        for datum in metrics::datums(cycle, self.tuning.dimensions) {
            items.push(Item::Metric {
                region: region.clone(),
                namespace: self.cfg.namespace.clone(),
                datum,
            });
        }
        let enqueued = items.len() as u64;
        match self.outbox.push_all(items) {
            Ok(_) => d.enqueued = enqueued,
            Err(e) => d.errors.push(e.into()),
        }
        d.pending = self.outbox.len() as u64;
        d.dropped = self.outbox.dropped();
        d
    }

    /// Sends what waits in the outbox, oldest first; after a 2xx records the finding changes
    /// the service accepted ([`DeliveredKeys`]), then removes the entries. A batch is sent
    /// twice only when the process dies, or the 2xx is lost, between the service accepting it
    /// and its removal being on disk (see the module docs).
    pub async fn flush(&mut self) -> Delivery {
        let mut d = Delivery {
            active: true,
            ..Delivery::default()
        };
        if !self.outbox.is_empty() {
            match self.source.credentials().await {
                Ok(creds) => self.deliver(creds, &mut d).await,
                Err(e) => d.errors.push(e.into()),
            }
        }
        d.pending = self.outbox.len() as u64;
        d.dropped = self.outbox.dropped();
        self.totals.add(&d.calls);
        for e in &d.errors {
            log::warn!(error:% = e; "CloudWatch delivery incomplete; entries stay in the outbox");
        }
        d
    }

    /// Removes entries the service refused for good (invalid, not retryable) and counts them.
    /// Returns false when the outbox itself failed (the error is recorded in `d`).
    fn reject(&mut self, seqs: &[u64], e: CloudWatchError, d: &mut Delivery) -> bool {
        log::error!(error:% = e; "CloudWatch refused entries as invalid; removing them from the outbox");
        d.rejected += seqs.len() as u64;
        d.errors.push(e);
        match self.outbox.remove(seqs) {
            Ok(()) => true,
            Err(e) => {
                d.errors.push(e.into());
                false
            }
        }
    }

    async fn deliver(&mut self, mut creds: RoleCredentials, d: &mut Delivery) {
        let now = SystemTime::now();
        type Keyed = (u64, LogEvent, Option<String>);
        let mut log_groups: BTreeMap<(String, String, String), Vec<Keyed>> = BTreeMap::new();
        let mut metric_groups: BTreeMap<(String, String), Vec<(u64, Datum)>> = BTreeMap::new();
        let mut too_old = Vec::new();
        let oldest_ms = logs::epoch_ms(now) - logs::MAX_EVENT_AGE.as_millis() as i64;
        for e in self.outbox.entries() {
            match &e.item {
                Item::Log {
                    region,
                    group,
                    stream,
                    event,
                    key,
                } => {
                    if event.timestamp < oldest_ms || event.message.len() > logs::MAX_EVENT_BYTES {
                        too_old.push(e.seq);
                    } else {
                        log_groups
                            .entry((region.clone(), group.clone(), stream.clone()))
                            .or_default()
                            .push((e.seq, event.clone(), key.clone()));
                    }
                }
                Item::Metric {
                    region,
                    namespace,
                    datum,
                } => {
                    if metrics::too_old(datum, now) {
                        too_old.push(e.seq);
                    } else {
                        metric_groups
                            .entry((region.clone(), namespace.clone()))
                            .or_default()
                            .push((e.seq, datum.clone()));
                    }
                }
            }
        }
        if !too_old.is_empty() {
            log::warn!(entries = too_old.len();
                "CloudWatch: dropping outbox entries the service would refuse (older than 14 days or too large)");
            d.rejected += too_old.len() as u64;
            if let Err(e) = self.outbox.remove(&too_old) {
                d.errors.push(e.into());
                return;
            }
        }

        for ((region, namespace), mut data) in metric_groups {
            data.sort_by_key(|(_, m)| m.timestamp);
            let endpoint = self.endpoint(Api::PutMetricData, &region);
            for chunk in data.chunks(metrics::MAX_DATUMS_PER_CALL) {
                let refs: Vec<&Datum> = chunk.iter().map(|(_, m)| m).collect();
                let body = metrics::put_metric_data_body(&namespace, &refs);
                let seqs: Vec<u64> = chunk.iter().map(|(s, _)| *s).collect();
                let res = self
                    .call(Api::PutMetricData, &region, &endpoint, &body, &mut creds, d)
                    .await;
                match res {
                    Ok(_) => {
                        d.delivered_datums += seqs.len() as u64;
                        d.calls.metric_datums += seqs.len() as u64;
                        if let Err(e) = self.outbox.remove(&seqs) {
                            d.errors.push(e.into());
                            return;
                        }
                    }
                    Err(e @ CloudWatchError::Validation { .. }) => {
                        if !self.reject(&seqs, e, d) {
                            return;
                        }
                    }
                    Err(e) => {
                        d.errors.push(e);
                        break;
                    }
                }
            }
        }

        for ((region, group, stream), mut events) in log_groups {
            // Stable: events of one cycle keep their order.
            events.sort_by_key(|(_, e, _)| e.timestamp);
            let endpoint = self.endpoint(Api::PutLogEvents, &region);
            let key = (region.clone(), group.clone(), stream.clone());
            let refs: Vec<&LogEvent> = events.iter().map(|(_, e, _)| e).collect();
            let ranges = logs::batches(&refs, self.tuning.max_batch_events);
            'batches: for range in ranges {
                let batch = &refs[range.clone()];
                let seqs: Vec<u64> = events[range.clone()].iter().map(|(s, ..)| *s).collect();
                let keys: Vec<Option<String>> =
                    events[range].iter().map(|(.., k)| k.clone()).collect();
                let body = logs::put_log_events_body(&group, &stream, batch);
                let mut recreated = false;
                loop {
                    if !self.ready_streams.contains(&key) {
                        match self
                            .ensure_stream(&region, &endpoint, &group, &stream, &mut creds, d)
                            .await
                        {
                            Ok(()) => {
                                self.ready_streams.insert(key.clone());
                            }
                            Err(e) => {
                                d.errors.push(e);
                                break 'batches;
                            }
                        }
                    }
                    let res = self
                        .call(Api::PutLogEvents, &region, &endpoint, &body, &mut creds, d)
                        .await;
                    match res {
                        Ok(resp) => {
                            let accepted = logs::RejectedInfo::from_response(&resp)
                                .map_or(0..batch.len(), |r| r.accepted(batch.len()));
                            let rejected = batch.len() - accepted.len();
                            if rejected > 0 {
                                log::warn!(rejected = rejected, group:% = group, stream:% = stream;
                                    "CloudWatch Logs refused some events (too old or too far in the future)");
                            }
                            d.rejected += rejected as u64;
                            d.delivered_events += accepted.len() as u64;
                            d.calls.log_ingested_bytes += batch[accepted.clone()]
                                .iter()
                                .map(|e| e.billed_size() as u64)
                                .sum::<u64>();
                            // The accepted changes are recorded before the outbox is trimmed:
                            // a crash in between resends the batch (the one duplicate window)
                            // but never queues the changes again.
                            let delivered = keys[accepted]
                                .iter()
                                .filter_map(|k| k.as_deref())
                                .map(|k| (key_generation(k), k));
                            if let Err(e) = self.delivered.record(delivered) {
                                d.errors.push(e.into());
                            }
                            if let Err(e) = self.outbox.remove(&seqs) {
                                d.errors.push(e.into());
                                return;
                            }
                            break;
                        }
                        Err(CloudWatchError::Service { code, .. })
                            if code == "ResourceNotFoundException" && !recreated =>
                        {
                            // The group or stream was deleted under us: create it again, once.
                            self.ready_streams.remove(&key);
                            recreated = true;
                        }
                        Err(e @ CloudWatchError::Validation { .. }) => {
                            if !self.reject(&seqs, e, d) {
                                return;
                            }
                            break;
                        }
                        Err(e) => {
                            d.errors.push(e);
                            break 'batches;
                        }
                    }
                }
            }
        }
    }

    /// `CreateLogStream`, and `CreateLogGroup` first if the group does not exist;
    /// "already exists" is success.
    async fn ensure_stream(
        &mut self,
        region: &str,
        endpoint: &str,
        group: &str,
        stream: &str,
        creds: &mut RoleCredentials,
        d: &mut Delivery,
    ) -> Result<(), CloudWatchError> {
        let body = logs::create_log_stream_body(group, stream);
        match self
            .call(Api::CreateLogStream, region, endpoint, &body, creds, d)
            .await
        {
            Ok(_) => return Ok(()),
            Err(CloudWatchError::Service { code, .. }) if code == "ResourceNotFoundException" => {}
            Err(e) => return Err(e),
        }
        let gbody = logs::create_log_group_body(group);
        self.call(Api::CreateLogGroup, region, endpoint, &gbody, creds, d)
            .await?;
        self.call(Api::CreateLogStream, region, endpoint, &body, creds, d)
            .await
            .map(|_| ())
    }

    fn endpoint(&self, api: Api, region: &str) -> String {
        let configured = if api.is_logs() {
            self.cfg.logs_endpoint.as_deref()
        } else {
            self.cfg.endpoint.as_deref()
        };
        configured
            .map(|e| e.trim_end_matches('/').to_string())
            .unwrap_or_else(|| regional_endpoint(api.signing_name(), region))
    }

    fn resource(&self, api: Api, region: &str, body: &[u8]) -> String {
        let account = self.account.as_deref().unwrap_or("*");
        let p = partition(region);
        if !api.is_logs() {
            return format!("* (namespace {})", self.cfg.namespace);
        }
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let group = v["logGroupName"].as_str().unwrap_or("*");
        let base = format!("arn:{p}:logs:{region}:{account}:log-group:{group}");
        match (api, v["logStreamName"].as_str()) {
            (Api::CreateLogGroup, _) | (_, None) => base,
            (_, Some(s)) => format!("{base}:log-stream:{s}"),
        }
    }

    /// One API call with retries: backoff with full jitter for retriable errors, one
    /// credential refresh after `ExpiredToken`. "Already exists" counts as success.
    async fn call(
        &mut self,
        api: Api,
        region: &str,
        endpoint: &str,
        body: &[u8],
        creds: &mut RoleCredentials,
        d: &mut Delivery,
    ) -> Result<Vec<u8>, CloudWatchError> {
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(self.tuning.min_backoff)
            .with_max_delay(self.tuning.max_backoff)
            .with_max_times(self.tuning.attempts.saturating_sub(1))
            .build()
            // Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").
            .map(|ceiling| ceiling.mul_f64(fastrand::f64()));
        let mut refreshed = false;
        loop {
            let outcome = self.attempt(api, region, endpoint, body, creds).await;
            let counter = d.calls.get(api);
            counter.calls += 1;
            counter.bytes_sent += body.len() as u64;
            match outcome {
                Attempt::Done(resp) => return Ok(resp),
                Attempt::Failed(class, err) => {
                    d.calls.get(api).errors += 1;
                    match class {
                        Class::Expired if !refreshed => {
                            refreshed = true;
                            log::info!(api = api.name();
                                "CloudWatch says the credentials expired; refreshing them");
                            *creds = self.source.refresh().await?;
                        }
                        Class::Retry => match delays.next() {
                            Some(delay) => {
                                log::debug!(api = api.name(), endpoint:% = endpoint,
                                    delay_ms = delay.as_millis() as u64, error:% = err;
                                    "CloudWatch call failed; retrying");
                                tokio::time::sleep(delay).await;
                            }
                            None => return Err(err),
                        },
                        _ => return Err(err),
                    }
                }
            }
        }
    }

    async fn attempt(
        &self,
        api: Api,
        region: &str,
        endpoint: &str,
        body: &[u8],
        creds: &RoleCredentials,
    ) -> Attempt {
        let url = format!("{endpoint}/");
        let network = |message: String| {
            Attempt::Failed(
                Class::Retry,
                CloudWatchError::Network {
                    api: api.name(),
                    endpoint: endpoint.to_string(),
                    message,
                },
            )
        };
        let parsed = match reqwest::Url::parse(&url) {
            Ok(u) => u,
            Err(e) => {
                return Attempt::Failed(
                    Class::Validation,
                    CloudWatchError::Sign(SignError {
                        url,
                        message: e.to_string(),
                    }),
                )
            }
        };
        let host = match (parsed.host_str(), parsed.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => String::new(),
        };
        let target = api.target();
        let key = SigningKey {
            access_key_id: &creds.access_key_id,
            secret_access_key: creds.secret_access_key.expose(),
            session_token: Some(creds.session_token.expose()).filter(|t| !t.is_empty()),
        };
        let headers = [
            ("content-type", api.content_type()),
            ("host", host.as_str()),
            ("x-amz-target", target.as_str()),
        ];
        let signed = match sign::sign_headers(
            "POST",
            &url,
            &headers,
            body,
            &key,
            region,
            api.signing_name(),
            SystemTime::now(),
        ) {
            Ok(h) => h,
            Err(e) => return Attempt::Failed(Class::Validation, e.into()),
        };
        let mut req = self.http.post(parsed).body(body.to_vec());
        for (k, v) in headers.iter().copied() {
            req = req.header(k, v);
        }
        for (k, v) in &signed {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return network(error_chain(&e)),
        };
        let status = resp.status().as_u16();
        let resp_headers = resp.headers().clone();
        let bytes = match resp.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => return network(error_chain(&e)),
        };
        if (200..300).contains(&status) {
            return Attempt::Done(bytes);
        }
        let (code, message) = parse_error(&resp_headers, &bytes);
        let message = scrub(&message, &key);
        let class = classify(status, &code);
        if class == Class::AlreadyExists {
            return Attempt::Done(bytes);
        }
        let endpoint = endpoint.to_string();
        let api_name = api.name();
        let err = match class {
            Class::AccessDenied => CloudWatchError::AccessDenied {
                api: api_name,
                endpoint,
                action: api.iam_action(),
                resource: self.resource(api, region, body),
                message,
            },
            Class::Auth => CloudWatchError::Auth {
                api: api_name,
                endpoint,
                code,
                message,
            },
            Class::Validation => CloudWatchError::Validation {
                api: api_name,
                endpoint,
                code,
                message,
            },
            _ => CloudWatchError::Service {
                api: api_name,
                endpoint,
                status,
                code,
                message,
            },
        };
        Attempt::Failed(class, err)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn error_shapes_json_xml_and_header() {
        let h = HeaderMap::new();
        let (c, m) = parse_error(
            &h,
            br#"{"__type":"GraniteServiceVersion20100801#InvalidParameterValueException","message":"bad"}"#,
        );
        assert_eq!(
            (c.as_str(), m.as_str()),
            ("InvalidParameterValueException", "bad")
        );
        let (c, m) = parse_error(
            &h,
            b"<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error></Errors></ErrorResponse>",
        );
        assert_eq!(c, "SignatureDoesNotMatch");
        assert!(m.starts_with("The request signature"));
        let mut h = HeaderMap::new();
        h.insert(
            "x-amzn-query-error",
            HeaderValue::from_static("InvalidParameterValue;Sender"),
        );
        let (c, _) = parse_error(&h, br#"{"__type":"x#InvalidParameterValueException"}"#);
        assert_eq!(c, "InvalidParameterValue");
        let (c, _) = parse_error(
            &HeaderMap::new(),
            br#"{"__type":"com.amazon.coral.service#ExpiredTokenException:http://internal"}"#,
        );
        assert_eq!(c, "ExpiredTokenException");
    }

    #[test]
    fn classes() {
        assert_eq!(classify(400, "ThrottlingException"), Class::Retry);
        assert_eq!(classify(400, "Throttling"), Class::Retry);
        assert_eq!(classify(503, ""), Class::Retry);
        assert_eq!(classify(500, "InternalServiceError"), Class::Retry);
        assert_eq!(classify(400, "ExpiredTokenException"), Class::Expired);
        assert_eq!(classify(403, "ExpiredToken"), Class::Expired);
        assert_eq!(classify(403, "AccessDenied"), Class::AccessDenied);
        assert_eq!(classify(400, "AccessDeniedException"), Class::AccessDenied);
        assert_eq!(classify(403, "SignatureDoesNotMatch"), Class::Auth);
        assert_eq!(classify(400, "UnrecognizedClientException"), Class::Auth);
        assert_eq!(
            classify(400, "InvalidParameterException"),
            Class::Validation
        );
        assert_eq!(
            classify(400, "ResourceAlreadyExistsException"),
            Class::AlreadyExists
        );
        assert_eq!(classify(200, ""), Class::Ok);
    }

    #[test]
    fn monthly_estimate_from_counts() {
        let mut c = ApiCounters::default();
        c.put_metric_data.calls = 1;
        c.put_log_events.calls = 1;
        c.log_ingested_bytes = 1000;
        let e = c.monthly_estimate(Duration::from_secs(3600));
        assert_eq!(e.cycles_per_month, 730);
        assert_eq!(e.calls_per_month, 1460);
        assert_eq!(e.log_bytes_per_month, 730_000);
        // 730 requests = $0.0073; 0.73 MB = $0.000365.
        assert!((e.usd_per_instance_month - 0.007665).abs() < 1e-9, "{e:?}");
    }

    #[test]
    fn endpoints_and_partitions() {
        assert_eq!(
            regional_endpoint("monitoring", "eu-west-1"),
            "https://monitoring.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            regional_endpoint("logs", "cn-north-1"),
            "https://logs.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(partition("cn-northwest-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("us-east-1"), "aws");
    }

    #[test]
    fn scrub_removes_echoed_credentials() {
        let key = SigningKey {
            access_key_id: "ASIAXXXX",
            secret_access_key: "SECRETSECRET",
            session_token: Some("TOKENTOKEN"),
        };
        let m = scrub(
            "canonical x-amz-security-token:TOKENTOKEN\nSECRETSECRET",
            &key,
        );
        assert!(
            !m.contains("TOKENTOKEN") && !m.contains("SECRETSECRET"),
            "{m}"
        );
        assert!(!m.contains('\n'));
    }
}
