//! The service call: one CloudWatch request built, signed (SigV4) and sent, its answer read
//! and classified, and repeated as the [`RetryPolicy`] allows ([`Service::call`]). Server
//! messages are scrubbed of credential material before they reach an error. Signatures are
//! made with this host's clock corrected by the offset learnt from skew refusals
//! ([`ClockSkew`]).

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

use crate::config::CloudWatchConfig;
use crate::imds::model::RoleCredentials;
use crate::report::endpoints::EndpointError;

use super::counters::ApiCounters;
use super::credentials::CredentialSource;
use super::endpoint::{endpoint_url, partition, Api};
use super::retry::{classify, parse_error, Class, ClockSkew, CloudWatchError, RetryPolicy};
use super::sign::{self, SignError, SigningKey};

/// Connect timeout: CloudWatch endpoints answer in milliseconds; a hung connect is an outage.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Whole-request timeout (a 1 MiB PutLogEvents on a slow link still fits).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest server message kept in an error (bodies are not logged whole).
const MAX_MESSAGE_LEN: usize = 300;

/// Where the calls of one outbox group go, and what a denied call names as its resource.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The region the requests are signed for.
    region: String,
    /// The endpoint URL, without a trailing `/`.
    endpoint: String,
    /// The configured metric namespace (what a denied `PutMetricData` names).
    namespace: String,
    /// The instance's account (`*` in a denied call's ARN while it is unknown).
    account: Option<String>,
}

impl Target {
    /// Calls of `api`, and of the other operations of its service, to `region`: the
    /// configured endpoint, else the regional one ([`endpoint_url`]).
    pub(crate) fn new(
        cfg: &CloudWatchConfig,
        account: Option<&str>,
        api: Api,
        region: &str,
    ) -> Result<Target, EndpointError> {
        Ok(Target {
            region: region.to_string(),
            endpoint: endpoint_url(cfg, api, region)?,
            namespace: cfg.namespace.clone(),
            account: account.map(str::to_string),
        })
    }

    /// The resource a denied call of `api` with `body` lacks permission on: the log group or
    /// stream ARN, or the metric namespace.
    fn resource(&self, api: Api, body: &[u8]) -> String {
        let account = self.account.as_deref().unwrap_or("*");
        let (p, region) = (partition(&self.region), &self.region);
        if !api.is_logs() {
            return format!("* (namespace {})", self.namespace);
        }
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let group = v["logGroupName"].as_str().unwrap_or("*");
        let base = format!("arn:{p}:logs:{region}:{account}:log-group:{group}");
        match (api, v["logStreamName"].as_str()) {
            (Api::CreateLogGroup, _) | (_, None) => base,
            (_, Some(s)) => format!("{base}:log-stream:{s}"),
        }
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
    Failed(Class, CloudWatchError),
}

/// An error answer: its HTTP status, error code and scrubbed message.
struct Answer {
    status: u16,
    code: String,
    message: String,
}

impl<C: CredentialSource> Service<C> {
    /// Builds the HTTP client (rustls, the timeouts above).
    pub(crate) fn new(source: C, retry: RetryPolicy) -> Result<Service<C>, CloudWatchError> {
        let http = http_client().map_err(|message| CloudWatchError::Network {
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
        api: Api,
        target: &Target,
        body: &[u8],
        creds: &mut RoleCredentials,
        counters: &mut ApiCounters,
    ) -> Result<Vec<u8>, CloudWatchError> {
        let mut delays = self.retry.delays();
        let (mut refreshed, mut resigned) = (false, false);
        loop {
            let outcome = self.attempt(api, target, body, creds).await;
            let counter = counters.get(api);
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
                        "CloudWatch says the credentials expired; refreshing them");
                    *creds = self.source.refresh().await?;
                }
                // The offset is learnt: the next attempt is signed with the service's time.
                Class::Skewed if !resigned => resigned = true,
                Class::Retry => match delays.next() {
                    Some(delay) => {
                        log::debug!(api = api.name(), endpoint:% = target.endpoint,
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

    /// One signed request and its classified answer.
    async fn attempt(
        &self,
        api: Api,
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
        let (code, message) = parse_error(&headers, &bytes);
        let message = scrub(&message, &key);
        let date = headers
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok());
        let class = match self.clock.learn(&code, date, SystemTime::now()) {
            Some(offset_ms) => {
                log::warn!(api = api.name(), endpoint:% = target.endpoint, code:% = code,
                    offset_s = offset_ms / 1000;
                    "CloudWatch refused the signing time: this host's clock differs from the service's by offset_s; signing with the service's time from now on");
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
        api: Api,
        target: &Target,
        body: &[u8],
        key: &SigningKey<'_>,
        time: SystemTime,
    ) -> Result<reqwest::RequestBuilder, CloudWatchError> {
        let url = format!("{}/", target.endpoint);
        let parsed = reqwest::Url::parse(&url).map_err(|e| SignError {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let host = host_header(&parsed);
        let amz_target = api.target();
        let headers = [
            ("content-type", api.content_type()),
            ("host", host.as_str()),
            ("x-amz-target", amz_target.as_str()),
        ];
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

/// The HTTP client of AWS calls (also `report::ec2`'s): the trusted roots of
/// [`crate::tls`], the timeouts above, credhygiene's user agent.
pub(crate) fn http_client() -> Result<reqwest::Client, String> {
    let tls = crate::tls::client_config().map_err(|e| e.to_string())?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("credhygiene/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// The `Host` header (and signed host) of `url`: the host, and the port when it has one.
pub(crate) fn host_header(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => String::new(),
    }
}

/// A request that got no answer: the chain of causes, and whether the endpoint's
/// certificate failed verification.
pub(crate) struct SendFailure {
    pub(crate) message: String,
    pub(crate) certificate: bool,
}

impl From<reqwest::Error> for SendFailure {
    fn from(e: reqwest::Error) -> SendFailure {
        SendFailure {
            message: crate::error_chain::one_line(&e),
            certificate: certificate_error(&e),
        }
    }
}

/// Sends `req` and reads the whole answer: status, headers, body.
pub(crate) async fn send(
    req: reqwest::RequestBuilder,
) -> Result<(u16, HeaderMap, Vec<u8>), SendFailure> {
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await?;
    Ok((status, headers, bytes.to_vec()))
}

/// The attempt that got no answer: a certificate that failed verification is not retried
/// (it needs an operator); any other network failure is.
fn unanswered(api: Api, target: &Target, f: SendFailure) -> Attempt {
    let (api, endpoint, message) = (api.name(), target.endpoint.clone(), f.message);
    if f.certificate {
        let err = CloudWatchError::Certificate {
            api,
            endpoint,
            message,
        };
        return Attempt::Failed(Class::Untrusted, err);
    }
    let err = CloudWatchError::Network {
        api,
        endpoint,
        message,
    };
    Attempt::Failed(Class::Retry, err)
}

/// Whether the causes of `e` hold rustls's verdict that the server's certificate is invalid.
/// An `io::Error` leaves its payload out of `source()` (and tokio-rustls's payload comes
/// wrapped in a second `io::Error`), so payloads are walked into.
fn certificate_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(rustls::Error::InvalidCertificate(_)) = c.downcast_ref::<rustls::Error>() {
            return true;
        }
        cause = match c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(payload) => Some(payload),
            None => c.source(),
        };
    }
    false
}

/// The error a failed answer of `class` makes, naming the IAM action and resource when the
/// role lacks a permission.
fn failure(class: Class, api: Api, target: &Target, body: &[u8], a: Answer) -> CloudWatchError {
    let endpoint = target.endpoint.clone();
    let api_name = api.name();
    match class {
        Class::AccessDenied => CloudWatchError::AccessDenied {
            api: api_name,
            endpoint,
            action: api.iam_action(),
            resource: target.resource(api, body),
            message: a.message,
        },
        Class::Auth | Class::Skewed => CloudWatchError::Auth {
            api: api_name,
            endpoint,
            code: a.code,
            message: a.message,
        },
        Class::Validation => CloudWatchError::Validation {
            api: api_name,
            endpoint,
            code: a.code,
            message: a.message,
        },
        _ => CloudWatchError::Service {
            api: api_name,
            endpoint,
            status: a.status,
            code: a.code,
            message: a.message,
        },
    }
}

/// Keeps a server message printable and short, and removes any credential material it
/// might echo (some services put the canonical request, which holds the session token, in
/// their signature errors).
pub(crate) fn scrub(message: &str, key: &SigningKey<'_>) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_error_is_found_inside_an_io_error() {
        let verdict = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, verdict);
        // As hyper-util hands it on: the io::Error of tokio-rustls inside another.
        let outer = std::io::Error::other(io);
        assert!(certificate_error(&outer));
        let other = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(!certificate_error(&other));
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert!(!certificate_error(&alert));
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
