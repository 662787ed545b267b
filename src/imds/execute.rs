//! Request execution: one request to IMDS with its headers, sent and retried as the retry
//! table ([`super::retry`]) says, with backoff and jitter between attempts, and transport
//! errors turned into the error a person can act on.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::{Method, StatusCode};

use super::builder::BACKOFF_MAX;
use super::client::{ImdsClient, TOKEN_HEADER, TOKEN_PATH, TTL_HEADER};
use super::error::{printable, ImdsError};
use super::retry::{classify, classify_failure, Failure, FailureVerdict, RequestKind, Verdict};

/// What one request got: status, body and, for the token PUT, the granted TTL.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) body: Vec<u8>,
    pub(super) ttl: Option<Duration>,
}

/// A request the client makes.
#[derive(Clone, Copy)]
pub(super) enum Req<'a> {
    /// `PUT /latest/api/token`.
    Token,
    /// `GET path` with a token.
    Get(&'a str),
    /// `GET path` without a token (the IMDSv1 probe): any status is an answer.
    GetV1(&'a str),
}

impl Req<'_> {
    fn kind(self) -> RequestKind {
        match self {
            Req::Token => RequestKind::Token,
            Req::Get(_) => RequestKind::Get,
            Req::GetV1(_) => RequestKind::GetV1,
        }
    }

    fn method_and_path(&self) -> (Method, &str) {
        match self {
            Req::Token => (Method::PUT, TOKEN_PATH),
            Req::Get(p) | Req::GetV1(p) => (Method::GET, p),
        }
    }
}

/// An answer read whole: its status, the TTL header as sent, and the body.
struct Raw {
    status: StatusCode,
    ttl_header: Option<String>,
    body: Vec<u8>,
}

impl ImdsClient {
    /// One request with retries, applying [`classify`] to each answer.
    pub(super) async fn execute(&self, req: Req<'_>) -> Result<Answer, ImdsError> {
        let (method, path) = req.method_and_path();
        let uri = self.uri(path);
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(self.backoff_min)
            .with_max_delay(BACKOFF_MAX)
            .with_jitter()
            .with_max_times(self.attempts.saturating_sub(1) as usize)
            .build();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let raw = self.attempt(req, &method, &uri).await?;
            let verdict = classify(req.kind(), raw.status);
            match verdict {
                Verdict::Accept => return accept(req, &uri, raw),
                Verdict::Absent => {
                    log::debug!(uri:% = uri; "IMDS: absent (404)");
                    return Ok(Answer {
                        status: raw.status,
                        body: Vec::new(),
                        ttl: None,
                    });
                }
                Verdict::Forbidden => {
                    return Err(ImdsError::Forbidden {
                        endpoint: self.endpoint.clone(),
                    })
                }
                Verdict::RetryWithNewToken => self.drop_token().await,
                Verdict::Retry | Verdict::Fail => {}
            }
            let shown = printable(&raw.body);
            let status = raw.status.as_u16();
            match backoff.next() {
                Some(delay) if verdict != Verdict::Fail => {
                    log::debug!(
                        uri:% = uri, status = status, attempt = attempt,
                        delay_ms = delay.as_millis() as u64, body:% = shown;
                        "IMDS: retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                _ => {
                    log::debug!(uri:% = uri, status = status, body:% = shown; "IMDS: error answer");
                    return Err(ImdsError::Status {
                        method,
                        uri,
                        status: raw.status,
                        attempts: attempt,
                        body: shown,
                    });
                }
            }
        }
    }

    /// Sends `req` once (fetching a token first for a `GET` with a token) and reads the answer
    /// whole; a transport error is already the error to return.
    async fn attempt(&self, req: Req<'_>, method: &Method, uri: &str) -> Result<Raw, ImdsError> {
        let mut rb = self.http.request(method.clone(), uri);
        match req {
            Req::Token => {
                rb = rb.header(TTL_HEADER, self.token_ttl.as_secs().to_string());
            }
            Req::Get(_) => {
                let token = Box::pin(self.token()).await?;
                rb = rb.header(TOKEN_HEADER, token.expose());
            }
            Req::GetV1(_) => {}
        }
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => return Err(self.send_error(req.kind(), method, uri, e).await),
        };
        let status = resp.status();
        let ttl_header = resp
            .headers()
            .get(TTL_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp
            .bytes()
            .await
            .map_err(|source| ImdsError::Request {
                method: method.clone(),
                uri: uri.to_string(),
                source,
            })?
            .to_vec();
        Ok(Raw {
            status,
            ttl_header,
            body,
        })
    }

    /// Turns a transport error into the error a person can act on ([`classify_failure`]).
    async fn send_error(
        &self,
        kind: RequestKind,
        method: &Method,
        uri: &str,
        e: reqwest::Error,
    ) -> ImdsError {
        match classify_failure(kind, Failure::of(&e)) {
            FailureVerdict::Unreachable => ImdsError::Unreachable {
                endpoint: self.endpoint.clone(),
                reason: root_cause(&e),
            },
            FailureVerdict::DiagnoseHopLimit if self.tcp_connects().await => {
                log::warn!(endpoint:% = self.endpoint; "IMDS token PUT timed out but TCP connects: PUT response hop limit is probably 1");
                ImdsError::HopLimit {
                    endpoint: self.endpoint.clone(),
                }
            }
            FailureVerdict::DiagnoseHopLimit => ImdsError::Unreachable {
                endpoint: self.endpoint.clone(),
                reason: format!("no answer within {}s", self.timeout.as_secs_f32()),
            },
            FailureVerdict::RequestError => ImdsError::Request {
                method: method.clone(),
                uri: uri.to_string(),
                source: e,
            },
        }
    }

    /// Whether a plain TCP connection to the endpoint succeeds within the timeout.
    async fn tcp_connects(&self) -> bool {
        let Ok(url) = reqwest::Url::parse(&self.endpoint) else {
            return false;
        };
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        matches!(
            tokio::time::timeout(
                self.timeout,
                tokio::net::TcpStream::connect((host.as_str(), port))
            )
            .await,
            Ok(Ok(_))
        )
    }
}

/// An accepted answer; for the token PUT, with the TTL IMDS granted ([`ImdsError::NoTtl`]
/// when its header is missing or not a number of seconds ≥ 1).
fn accept(req: Req<'_>, uri: &str, raw: Raw) -> Result<Answer, ImdsError> {
    let ttl = match req {
        Req::Token => {
            let secs = (raw.ttl_header)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|&t| t >= 1)
                .ok_or_else(|| ImdsError::NoTtl {
                    uri: uri.to_string(),
                })?;
            Some(Duration::from_secs(secs))
        }
        Req::Get(_) | Req::GetV1(_) => None,
    };
    Ok(Answer {
        status: raw.status,
        body: raw.body,
        ttl,
    })
}

/// The innermost cause of an error, e.g. "Connection refused (os error 111)".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(s) = cur.source() {
        cur = s;
    }
    cur.to_string()
}
