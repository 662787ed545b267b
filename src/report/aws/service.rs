//! The service call: one AWS request built, signed (SigV4) and sent, its answer read and
//! classified, and repeated as the [`RetryPolicy`] allows ([`Service::call`]). What differs
//! between services and operations (name, IAM action, signing name, path, headers, the
//! resource a denial names) is the caller's [`Operation`]. Server messages are scrubbed of
//! credential material before they reach an error. Signatures are made with this host's
//! clock corrected by the offset learnt from skew refusals ([`ClockSkew`]).

use std::time::SystemTime;

use crate::imds::model::RoleCredentials;

use super::credentials::CredentialSource;
use super::error::AwsError;
use super::http::{host_header, http_client, scrub, scrub_to, send, SendFailure, MAX_CODE_LEN};
use super::retry::{classify, parse_error, Class, ClockSkew, RetryPolicy};
use super::sign::{self, SignError, SigningKey};

/// Calls and bytes of one operation, as a caller counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ApiCount {
    /// HTTP requests sent (retries included).
    pub calls: u64,
    /// Request body bytes sent.
    pub bytes_sent: u64,
    /// Requests answered with an error or not answered.
    pub errors: u64,
}

/// One AWS operation, as [`Service::call`] needs to know it.
pub(crate) trait Operation {
    /// The operation name (`PutLogEvents` …), for errors and logs.
    fn name(&self) -> &'static str;
    /// The IAM action that allows it (named when the call is denied).
    fn iam_action(&self) -> &'static str;
    /// The SigV4 signing name of its service (`logs`, `securityhub` …).
    fn signing_name(&self) -> &'static str;
    /// The request path (`/` for the JSON and Query protocols).
    fn path(&self) -> &'static str {
        "/"
    }
    /// The headers to send and sign besides `host` (`content-type`, `x-amz-target` …).
    fn headers(&self) -> Vec<(&'static str, String)>;
    /// The resource a denied call with `body` to `target` lacks permission on.
    fn resource(&self, target: &Target, body: &[u8]) -> String;
}

/// Where a call goes: the signing region, the endpoint URL and the instance's account.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The region the requests are signed for.
    pub(crate) region: String,
    /// The endpoint URL, without a trailing `/`.
    pub(crate) endpoint: String,
    /// The instance's account (`*` in a denied call's ARN while it is unknown).
    pub(crate) account: Option<String>,
}

impl Target {
    /// The account for ARNs: the instance's, or `*` while it is unknown.
    pub(crate) fn account_or_any(&self) -> &str {
        self.account.as_deref().unwrap_or("*")
    }
}

/// Sends calls: the HTTP client, the retry policy, the credential source that is asked
/// for fresh credentials when the service says they expired, and the signing clock's offset.
#[derive(Debug)]
pub(crate) struct Service<C> {
    http: reqwest::Client,
    retry: RetryPolicy,
    source: C,
    clock: ClockSkew,
}

/// Outcome of one attempt, for the retry loop.
enum Attempt {
    Done(Vec<u8>),
    Failed(Class, AwsError),
}

/// An error answer: its HTTP status, error code and scrubbed message.
struct Answer {
    status: u16,
    code: String,
    message: String,
}

impl<C: CredentialSource> Service<C> {
    /// Builds the HTTP client (rustls, the timeouts above).
    pub(crate) fn new(source: C, retry: RetryPolicy) -> Result<Service<C>, AwsError> {
        let http = http_client().map_err(|message| AwsError::Network {
            api: "client",
            endpoint: String::new(),
            message,
        })?;
        Ok(Service {
            http,
            retry,
            source,
            clock: ClockSkew::default(),
        })
    }

    /// Where the credentials come from.
    pub(crate) fn source(&self) -> &C {
        &self.source
    }

    /// One API call with retries: backoff with full jitter for retriable errors, one
    /// credential refresh (into `creds`) after `ExpiredToken`, one new signature after a skew
    /// refusal. "Already exists" counts as success. Every attempt is counted in `counters`.
    pub(crate) async fn call(
        &self,
        api: &impl Operation,
        target: &Target,
        body: &[u8],
        creds: &mut RoleCredentials,
        counter: &mut ApiCount,
    ) -> Result<Vec<u8>, AwsError> {
        let mut delays = self.retry.delays();
        let (mut refreshed, mut resigned) = (false, false);
        loop {
            let outcome = self.attempt(api, target, body, creds).await;
            counter.calls += 1;
            counter.bytes_sent += body.len() as u64;
            let (class, err) = match outcome {
                Attempt::Done(resp) => return Ok(resp),
                Attempt::Failed(class, err) => (class, err),
            };
            counter.errors += 1;
            match class {
                Class::Expired if !refreshed => {
                    refreshed = true;
                    log::info!(api = api.name();
                        "the service says the credentials expired; refreshing them");
                    *creds = self.source.refresh().await?;
                }
                // The offset is learnt: the next attempt is signed with the service's time.
                Class::Skewed if !resigned => resigned = true,
                Class::Retry => match delays.next() {
                    Some(delay) => {
                        log::debug!(api = api.name(), endpoint:% = target.endpoint,
                            delay_ms = delay.as_millis() as u64, error:% = err;
                            "AWS call failed; retrying");
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(err),
                },
                _ => return Err(err),
            }
        }
    }

    /// One signed request and its classified answer.
    async fn attempt(
        &self,
        api: &impl Operation,
        target: &Target,
        body: &[u8],
        creds: &RoleCredentials,
    ) -> Attempt {
        let key = SigningKey {
            access_key_id: &creds.access_key_id,
            secret_access_key: creds.secret_access_key.expose(),
            session_token: Some(creds.session_token.expose()).filter(|t| !t.is_empty()),
        };
        let time = self.clock.signing_time(SystemTime::now());
        let req = match self.request(api, target, body, &key, time) {
            Ok(req) => req,
            Err(e) => return Attempt::Failed(Class::Validation, e),
        };
        let (status, headers, bytes) = match send(req).await {
            Ok(answer) => answer,
            Err(failure) => return unanswered(api, target, failure),
        };
        if (200..300).contains(&status) {
            return Attempt::Done(bytes);
        }
        let (code, message) = error_text(&headers, &bytes, &key);
        let date = headers
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok());
        let class = match self.clock.learn(&code, date, SystemTime::now()) {
            Some(offset_ms) => {
                log::warn!(api = api.name(), endpoint:% = target.endpoint, code:% = code,
                    offset_s = offset_ms / 1000;
                    "the service refused the signing time: this host's clock differs from the service's by offset_s; signing with the service's time from now on");
                Class::Skewed
            }
            None => classify(status, &code),
        };
        if class == Class::AlreadyExists {
            return Attempt::Done(bytes);
        }
        let answer = Answer {
            status,
            code,
            message,
        };
        Attempt::Failed(class, failure(class, api, target, body, answer))
    }

    /// The POST of `body` to the target's endpoint, with the operation's headers and the
    /// SigV4 signature made with `key` at `time`.
    fn request(
        &self,
        api: &impl Operation,
        target: &Target,
        body: &[u8],
        key: &SigningKey<'_>,
        time: SystemTime,
    ) -> Result<reqwest::RequestBuilder, AwsError> {
        let url = format!("{}{}", target.endpoint, api.path());
        let parsed = reqwest::Url::parse(&url).map_err(|e| SignError {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let host = host_header(&parsed);
        let mut owned = api.headers();
        owned.push(("host", host));
        let headers: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let signed = sign::sign_headers(
            "POST",
            &url,
            &headers,
            body,
            key,
            &target.region,
            api.signing_name(),
            time,
        )?;
        let mut req = self.http.post(parsed).body(body.to_vec());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        for (k, v) in &signed {
            req = req.header(k.as_str(), v.as_str());
        }
        Ok(req)
    }
}

/// The code and message of an error answer, both scrubbed of the credentials that signed the
/// call and cut to one line of bounded length: a server (or what answers in its place) may
/// put anything in either, and both reach errors and logs (fuzz/artifacts/ssm_answer).
fn error_text(
    headers: &reqwest::header::HeaderMap,
    bytes: &[u8],
    key: &SigningKey<'_>,
) -> (String, String) {
    let (code, message) = parse_error(headers, bytes);
    (scrub_to(&code, key, MAX_CODE_LEN), scrub(&message, key))
}

/// The error an answer of HTTP `status` (not 2xx) to `api` makes, as [`Service::call`] makes
/// it when the service does not question the signing time; `None` when the answer counts as
/// success ("already exists"). For the fuzz targets of the sinks' error answers.
#[allow(clippy::too_many_arguments)]
pub(crate) fn answer_error(
    api: &impl Operation,
    target: &Target,
    body: &[u8],
    status: u16,
    headers: &reqwest::header::HeaderMap,
    bytes: &[u8],
    key: &SigningKey<'_>,
) -> Option<(Class, AwsError)> {
    let (code, message) = error_text(headers, bytes, key);
    let class = classify(status, &code);
    let answer = Answer {
        status,
        code,
        message,
    };
    (class != Class::AlreadyExists).then(|| (class, failure(class, api, target, body, answer)))
}

/// The attempt that got no answer: a certificate that failed verification is not retried
/// (it needs an operator); any other network failure is.
fn unanswered(api: &impl Operation, target: &Target, f: SendFailure) -> Attempt {
    let (api, endpoint, message) = (api.name(), target.endpoint.clone(), f.message);
    if f.certificate {
        let err = AwsError::Certificate {
            api,
            endpoint,
            message,
        };
        return Attempt::Failed(Class::Untrusted, err);
    }
    let err = AwsError::Network {
        api,
        endpoint,
        message,
    };
    Attempt::Failed(Class::Retry, err)
}

/// The error a failed answer of `class` makes, naming the IAM action and resource when the
/// role lacks a permission.
fn failure(
    class: Class,
    api: &impl Operation,
    target: &Target,
    body: &[u8],
    a: Answer,
) -> AwsError {
    let endpoint = target.endpoint.clone();
    let api_name = api.name();
    match class {
        Class::AccessDenied => AwsError::AccessDenied {
            api: api_name,
            endpoint,
            action: api.iam_action(),
            resource: api.resource(target, body),
            message: a.message,
        },
        Class::Auth | Class::Skewed => AwsError::Auth {
            api: api_name,
            endpoint,
            code: a.code,
            message: a.message,
        },
        Class::Validation => AwsError::Validation {
            api: api_name,
            endpoint,
            code: a.code,
            message: a.message,
        },
        _ => AwsError::Service {
            api: api_name,
            endpoint,
            status: a.status,
            code: a.code,
            message: a.message,
        },
    }
}
