//! Who am I: an IMDSv2 client for the instance metadata service, with the behaviour of the
//! AWS SDKs' own client (aws-config `imds::Client`): session tokens only, cached and renewed
//! ahead of expiry, retries with backoff and jitter for 5xx, 429 and 401 (after dropping the
//! token) but not for 400, 403 or 404, 1 s connect and read timeouts, never a proxy, and an
//! overall deadline so that a host off EC2 gets its answer within a few seconds.
//!
//! 404 means "absent" and is `Ok(None)` (Bottlerocket's `imdsclient`), never an error.

pub mod credentials;
pub mod model;
pub mod token;
pub mod userdata;

use std::fmt;
use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::ImdsConfig;
pub use credentials::CredentialsProvider;
use model::{IamInfo, IdentityDocument, RoleCredentials, Sensitive};
use token::{Token, TokenCache};

/// Token lifetime asked for: the maximum, 6 h, as the SDKs do (fewer PUTs).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(21_600);
/// Connect and read timeout of each request: IMDS is link-local and answers in
/// milliseconds, and 1 s is what the SDKs use.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Attempts per request, the first included (aws-config: 4, i.e. 3 retries).
pub const DEFAULT_ATTEMPTS: u32 = 4;
/// Upper bound on one operation (token, retries, backoff): long enough for the default
/// retries against a throttling IMDS, short enough that `credhygiene role` off EC2 answers
/// within a few seconds.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);
/// First backoff delay; doubled per retry up to [`BACKOFF_MAX`], with jitter.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Largest backoff delay between two attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Response bodies are cut to this many bytes when logged or put in an error.
pub const LOG_BODY_LIMIT: usize = 200;

/// The token path (a versioned path is refused with 403 by IMDS).
pub const TOKEN_PATH: &str = "/latest/api/token";
/// Header with the TTL asked for (PUT) and granted (response).
pub const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// Header that carries the token on GETs.
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// The instance identity document.
pub const IDENTITY_PATH: &str = "/latest/dynamic/instance-identity/document";
/// The instance profile.
pub const IAM_INFO_PATH: &str = "/latest/meta-data/iam/info";
/// The role name listing.
pub const ROLE_LIST_PATH: &str = "/latest/meta-data/iam/security-credentials/";
/// User-data.
pub const USER_DATA_PATH: &str = "/latest/user-data";
/// The path the IMDSv1 probe reads without a token.
pub const V1_PROBE_PATH: &str = "/latest/meta-data/";

/// What went wrong talking to IMDS; each variant names the endpoint or URI concerned.
#[derive(Debug, thiserror::Error)]
pub enum ImdsError {
    /// IMDS is turned off by configuration.
    #[error("IMDS is disabled (AWS_EC2_METADATA_DISABLED or imds.disabled)")]
    Disabled,
    /// The endpoint is not a usable URL.
    #[error("invalid IMDS endpoint {endpoint:?}: {message}")]
    Endpoint {
        /// The endpoint.
        endpoint: String,
        /// Why.
        message: String,
    },
    /// The async runtime for IMDS calls could not be started.
    #[error("cannot start the async runtime for IMDS calls: {0}")]
    Runtime(#[source] std::io::Error),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client for IMDS: {0}")]
    Client(#[source] reqwest::Error),
    /// IMDS could not be reached at all: connection refused, no route, connect timeout.
    #[error("cannot reach the instance metadata service at {endpoint} ({reason}): not an EC2 instance, or IMDS is turned off for this instance")]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// The token PUT got no answer in time although a TCP connection succeeds: the
    /// signature of a PUT response hop limit of 1 seen from a container.
    #[error("the IMDS token request to {endpoint} timed out although a TCP connection succeeds: the instance's PUT response hop limit is probably 1 and credhygiene runs in a container (aws ec2 modify-instance-metadata-options --instance-id <id> --http-put-response-hop-limit 2)")]
    HopLimit {
        /// The endpoint.
        endpoint: String,
    },
    /// The token PUT was refused with 403: the metadata endpoint is turned off for this
    /// instance (`HttpEndpoint=disabled`), or something in between added `X-Forwarded-For`.
    #[error("IMDS at {endpoint} refused the token request (403 Forbidden): the instance metadata endpoint is turned off for this instance (HttpEndpoint=disabled), or a proxy added X-Forwarded-For")]
    Forbidden {
        /// The endpoint.
        endpoint: String,
    },
    /// A request failed after the connection was made (read timeout, reset …).
    #[error("{method} {uri} failed: {source}")]
    Request {
        /// HTTP method.
        method: Method,
        /// The URI.
        uri: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// IMDS answered with an error status that is not retried, or kept answering with a
    /// retryable one until the attempts ran out.
    #[error("{method} {uri} answered {status} after {attempts} attempt(s): {body}")]
    Status {
        /// HTTP method.
        method: Method,
        /// The URI.
        uri: String,
        /// The last status.
        status: StatusCode,
        /// Attempts made.
        attempts: u32,
        /// The body, truncated and made printable.
        body: String,
    },
    /// The token response lacks a usable TTL header (aws-config fails the same way).
    #[error("PUT {uri} answered without a valid {TTL_HEADER} header")]
    NoTtl {
        /// The URI.
        uri: String,
    },
    /// The operation did not finish within the overall deadline.
    #[error("{uri}: no answer within the {}s deadline", after.as_secs_f32())]
    Deadline {
        /// The URI.
        uri: String,
        /// The deadline.
        after: Duration,
    },
    /// A JSON document did not parse.
    #[error("{uri} is not the expected JSON document: {source}")]
    Parse {
        /// The URI.
        uri: String,
        /// Why (serde_json's message names line and column, never the content).
        #[source]
        source: serde_json::Error,
    },
    /// The credentials document parsed but its `Code` is not `Success` (or a field is
    /// unusable): IMDS has no valid credentials for the role.
    #[error("{uri}: credentials not available: Code {code}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Credentials {
        /// The URI.
        uri: String,
        /// The `Code`, e.g. `AssumeRoleUnauthorizedAccess`.
        code: String,
        /// IMDS's `Message`, or what field was unusable.
        message: Option<String>,
    },
    /// User-data could not be decoded.
    #[error("{uri}: {source}")]
    UserData {
        /// The URI.
        uri: String,
        /// Why.
        #[source]
        source: userdata::UserDataError,
    },
    /// No instance profile is attached (no role to read credentials for).
    #[error("no instance profile is attached to this instance ({uri} is absent)")]
    NoRole {
        /// The URI that answered 404.
        uri: String,
    },
}

impl ImdsError {
    /// Whether this error means IMDS itself is out of reach (disabled, not EC2, hop limit,
    /// no answer in time), as opposed to an answer we did not like.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ImdsError::Disabled
                | ImdsError::Unreachable { .. }
                | ImdsError::HopLimit { .. }
                | ImdsError::Forbidden { .. }
                | ImdsError::Deadline { .. }
                | ImdsError::Request { .. }
        )
    }
}

/// The answer to a token-less `GET /latest/meta-data/` (the IMDSv1 probe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V1Status {
    /// 200: IMDSv1 requests are answered (`HttpTokens=optional`).
    Open,
    /// 401: tokens are required (`HttpTokens=required`).
    Closed,
    /// Anything else (status given).
    Unexpected(u16),
}

/// Builds an [`ImdsClient`] (aws-config style).
#[derive(Debug, Clone)]
pub struct ImdsClientBuilder {
    endpoint: String,
    token_ttl: Duration,
    timeout: Duration,
    attempts: u32,
    deadline: Duration,
    backoff_min: Duration,
}

impl Default for ImdsClientBuilder {
    fn default() -> Self {
        ImdsClientBuilder {
            endpoint: crate::config::IMDS_IPV4_ENDPOINT.to_string(),
            token_ttl: DEFAULT_TOKEN_TTL,
            timeout: DEFAULT_TIMEOUT,
            attempts: DEFAULT_ATTEMPTS,
            deadline: DEFAULT_DEADLINE,
            backoff_min: BACKOFF_MIN,
        }
    }
}

impl ImdsClientBuilder {
    /// Base URL, e.g. `http://169.254.169.254` or `http://127.0.0.1:8080` in tests.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }

    /// Token lifetime to ask for (1 s to 6 h).
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Connect and read timeout of each request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Attempts per request, the first included (at least 1).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Upper bound on one operation, retries and backoff included.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// First backoff delay (doubled per retry, with jitter, up to [`BACKOFF_MAX`]).
    pub fn backoff_min(mut self, d: Duration) -> Self {
        self.backoff_min = d;
        self
    }

    /// The client.
    pub fn build(self) -> Result<ImdsClient, ImdsError> {
        let endpoint = self.endpoint.trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&endpoint).map_err(|e| ImdsError::Endpoint {
            endpoint: endpoint.clone(),
            message: e.to_string(),
        })?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(ImdsError::Endpoint {
                endpoint,
                message: "expected an http:// URL".into(),
            });
        }
        let ttl = self.token_ttl.as_secs();
        if !(1..=21_600).contains(&ttl) {
            return Err(ImdsError::Endpoint {
                endpoint,
                message: format!("token TTL must be 1 to 21600 s, not {ttl}"),
            });
        }
        // reqwest needs a rustls provider even for plain http; ignore "already installed".
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            // `system-proxy` would send 169.254.169.254 through HTTP_PROXY.
            .no_proxy()
            .connect_timeout(self.timeout)
            .read_timeout(self.timeout)
            .pool_max_idle_per_host(2)
            .user_agent(concat!("credhygiene/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ImdsError::Client)?;
        Ok(ImdsClient {
            http,
            endpoint,
            token_ttl: self.token_ttl,
            timeout: self.timeout,
            attempts: self.attempts,
            deadline: self.deadline,
            backoff_min: self.backoff_min,
            token: Mutex::new(TokenCache::default()),
        })
    }
}

/// An IMDSv2 client. Cheap to share behind an `Arc`; the token cache is inside.
#[derive(Debug)]
pub struct ImdsClient {
    http: reqwest::Client,
    endpoint: String,
    token_ttl: Duration,
    timeout: Duration,
    attempts: u32,
    deadline: Duration,
    backoff_min: Duration,
    token: Mutex<TokenCache>,
}

/// What one request got: status, body and, for the token PUT, the granted TTL.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
    ttl: Option<Duration>,
}

/// A request the client makes.
#[derive(Clone, Copy)]
enum Req<'a> {
    /// `PUT /latest/api/token`.
    Token,
    /// `GET path` with a token.
    Get(&'a str),
    /// `GET path` without a token (the IMDSv1 probe): any status is an answer.
    GetV1(&'a str),
}

impl ImdsClient {
    /// A builder with the SDK defaults.
    pub fn builder() -> ImdsClientBuilder {
        ImdsClientBuilder::default()
    }

    /// A client for the `[imds]` section (environment already applied by `config`);
    /// [`ImdsError::Disabled`] when IMDS is turned off.
    pub fn from_config(cfg: &ImdsConfig) -> Result<ImdsClient, ImdsError> {
        if cfg.disabled {
            return Err(ImdsError::Disabled);
        }
        ImdsClient::builder()
            .endpoint(cfg.effective_endpoint())
            .token_ttl(cfg.token_ttl)
            .timeout(cfg.timeout)
            .attempts(cfg.attempts)
            .build()
    }

    /// The base URL in use.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn uri(&self, path: &str) -> String {
        format!("{}{}", self.endpoint, path)
    }

    /// `GET path` with a token: the body, or `None` on 404.
    pub async fn get(&self, path: &str) -> Result<Option<Vec<u8>>, ImdsError> {
        let uri = self.uri(path);
        match tokio::time::timeout(self.deadline, self.execute(Req::Get(path))).await {
            Ok(Ok(a)) => Ok((a.status != StatusCode::NOT_FOUND).then_some(a.body)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ImdsError::Deadline {
                uri,
                after: self.deadline,
            }),
        }
    }

    /// `GET path` as text (lossy UTF-8), `None` on 404.
    pub async fn get_text(&self, path: &str) -> Result<Option<String>, ImdsError> {
        Ok(self
            .get(path)
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
    ) -> Result<Option<T>, ImdsError> {
        match self.get(path).await? {
            None => Ok(None),
            Some(body) => {
                serde_json::from_slice(&body)
                    .map(Some)
                    .map_err(|source| ImdsError::Parse {
                        uri: self.uri(path),
                        source,
                    })
            }
        }
    }

    /// Fetches a token now (or returns the cached one): the first call tells whether IMDS
    /// is there at all.
    pub async fn ensure_token(&self) -> Result<(), ImdsError> {
        match tokio::time::timeout(self.deadline, self.token()).await {
            Ok(r) => r.map(|_| ()),
            Err(_) => Err(ImdsError::Deadline {
                uri: self.uri(TOKEN_PATH),
                after: self.deadline,
            }),
        }
    }

    /// The IMDSv1 probe: one token-less `GET /latest/meta-data/` (CIS AWS 5.6).
    pub async fn probe_v1(&self) -> Result<V1Status, ImdsError> {
        let uri = self.uri(V1_PROBE_PATH);
        let Answer { status, .. } = match tokio::time::timeout(
            self.deadline,
            self.execute(Req::GetV1(V1_PROBE_PATH)),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => {
                return Err(ImdsError::Deadline {
                    uri,
                    after: self.deadline,
                })
            }
        };
        Ok(match status.as_u16() {
            200 => V1Status::Open,
            401 => V1Status::Closed,
            s => V1Status::Unexpected(s),
        })
    }

    /// The instance identity document; `None` if absent.
    pub async fn identity_document(&self) -> Result<Option<IdentityDocument>, ImdsError> {
        self.get_json(IDENTITY_PATH).await
    }

    /// The instance profile (`iam/info`); `None` when no profile is attached.
    pub async fn iam_info(&self) -> Result<Option<IamInfo>, ImdsError> {
        self.get_json(IAM_INFO_PATH).await
    }

    /// The attached role's name; `None` when no instance profile is attached.
    pub async fn role_name(&self) -> Result<Option<String>, ImdsError> {
        Ok(self.get_text(ROLE_LIST_PATH).await?.and_then(|listing| {
            listing
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
        }))
    }

    /// The role's credentials; `None` if the role has none (404). A `Code` other than
    /// `Success` is [`ImdsError::Credentials`].
    pub async fn role_credentials(&self, role: &str) -> Result<Option<RoleCredentials>, ImdsError> {
        let path = format!("{ROLE_LIST_PATH}{role}");
        let uri = self.uri(&path);
        let Some(body) = self.get(&path).await? else {
            return Ok(None);
        };
        parse_credentials(role, &uri, &body).map(Some)
    }

    /// The current role's name and credentials in one go (the role name is read every
    /// time: the attached profile can change). [`ImdsError::NoRole`] when none is attached.
    pub async fn current_credentials(&self) -> Result<RoleCredentials, ImdsError> {
        let no_role = || ImdsError::NoRole {
            uri: self.uri(ROLE_LIST_PATH),
        };
        let role = self.role_name().await?.ok_or_else(no_role)?;
        self.role_credentials(&role).await?.ok_or_else(no_role)
    }

    /// User-data, decompressed when gzip, at most `limit` bytes; `None` when the instance
    /// has none.
    pub async fn user_data(&self, limit: u64) -> Result<Option<Vec<u8>>, ImdsError> {
        let Some(raw) = self.get(USER_DATA_PATH).await? else {
            return Ok(None);
        };
        userdata::decode(raw, limit)
            .map(Some)
            .map_err(|source| ImdsError::UserData {
                uri: self.uri(USER_DATA_PATH),
                source,
            })
    }

    /// The cached token, or a new one from IMDS.
    async fn token(&self) -> Result<Sensitive, ImdsError> {
        let mut cache = self.token.lock().await;
        if let Some(t) = cache.get(Instant::now()) {
            return Ok(t.value().clone());
        }
        // The lock is held while the token is fetched, so concurrent callers share one PUT.
        let answer = self.execute(Req::Token).await?;
        let value = Sensitive::new(String::from_utf8_lossy(&answer.body).trim());
        let ttl = answer.ttl.unwrap_or(Duration::from_secs(1));
        let token = Token::new(value, ttl, Instant::now());
        let value = token.value().clone();
        cache.put(token);
        Ok(value)
    }

    async fn drop_token(&self) {
        self.token.lock().await.drop_token();
    }

    /// One request with retries.
    async fn execute(&self, req: Req<'_>) -> Result<Answer, ImdsError> {
        let (method, path) = match req {
            Req::Token => (Method::PUT, TOKEN_PATH),
            Req::Get(p) | Req::GetV1(p) => (Method::GET, p),
        };
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
            let mut rb = self.http.request(method.clone(), &uri);
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
                Err(e) => return Err(self.classify_send_error(req, &method, &uri, e).await),
            };
            let status = resp.status();
            let ttl_header = resp
                .headers()
                .get(TTL_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = match resp.bytes().await {
                Ok(b) => b.to_vec(),
                Err(source) => {
                    return Err(ImdsError::Request {
                        method,
                        uri,
                        source,
                    })
                }
            };
            if matches!(req, Req::GetV1(_)) {
                return Ok(Answer {
                    status,
                    body,
                    ttl: None,
                });
            }
            if status.is_success() {
                let mut ttl = None;
                if let Req::Token = req {
                    let secs = ttl_header
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .filter(|&t| t >= 1)
                        .ok_or_else(|| ImdsError::NoTtl { uri: uri.clone() })?;
                    ttl = Some(Duration::from_secs(secs));
                }
                return Ok(Answer { status, body, ttl });
            }
            if status == StatusCode::FORBIDDEN && matches!(req, Req::Token) {
                return Err(ImdsError::Forbidden {
                    endpoint: self.endpoint.clone(),
                });
            }
            if status == StatusCode::NOT_FOUND && !matches!(req, Req::Token) {
                log::debug!(uri:% = uri; "IMDS: absent (404)");
                return Ok(Answer {
                    status,
                    body: Vec::new(),
                    ttl: None,
                });
            }
            let retryable = status == StatusCode::UNAUTHORIZED
                || status == StatusCode::TOO_MANY_REQUESTS
                || status.is_server_error();
            if status == StatusCode::UNAUTHORIZED {
                // The token expired or was invalidated: get a new one before retrying.
                self.drop_token().await;
            }
            let shown = printable(&body);
            match backoff.next() {
                Some(delay) if retryable => {
                    log::debug!(
                        uri:% = uri, status = status.as_u16(), attempt = attempt,
                        delay_ms = delay.as_millis() as u64, body:% = shown;
                        "IMDS: retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                _ => {
                    log::debug!(uri:% = uri, status = status.as_u16(), body:% = shown; "IMDS: error answer");
                    return Err(ImdsError::Status {
                        method,
                        uri,
                        status,
                        attempts: attempt,
                        body: shown,
                    });
                }
            }
        }
    }

    /// Turns a transport error into the error a person can act on.
    async fn classify_send_error(
        &self,
        req: Req<'_>,
        method: &Method,
        uri: &str,
        e: reqwest::Error,
    ) -> ImdsError {
        if e.is_connect() {
            return ImdsError::Unreachable {
                endpoint: self.endpoint.clone(),
                reason: root_cause(&e),
            };
        }
        if e.is_timeout() && matches!(req, Req::Token) {
            if self.tcp_connects().await {
                log::warn!(endpoint:% = self.endpoint; "IMDS token PUT timed out but TCP connects: PUT response hop limit is probably 1");
                return ImdsError::HopLimit {
                    endpoint: self.endpoint.clone(),
                };
            }
            return ImdsError::Unreachable {
                endpoint: self.endpoint.clone(),
                reason: format!("no answer within {}s", self.timeout.as_secs_f32()),
            };
        }
        ImdsError::Request {
            method: method.clone(),
            uri: uri.to_string(),
            source: e,
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

/// The innermost cause of an error, e.g. "Connection refused (os error 111)".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(s) = cur.source() {
        cur = s;
    }
    cur.to_string()
}

/// A body as it may be logged: at most [`LOG_BODY_LIMIT`] bytes, control characters and
/// invalid UTF-8 escaped (Bottlerocket's `printable_string`).
pub fn printable(body: &[u8]) -> String {
    let cut = &body[..body.len().min(LOG_BODY_LIMIT)];
    let mut s: String = String::from_utf8_lossy(cut)
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    if body.len() > LOG_BODY_LIMIT {
        s.push('…');
    }
    s
}

/// The credentials document as IMDS writes it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialsDoc {
    code: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    last_updated: Option<String>,
    #[serde(default, rename = "Type")]
    kind: Option<String>,
    #[serde(default)]
    access_key_id: Option<String>,
    #[serde(default)]
    secret_access_key: Option<Sensitive>,
    #[serde(default)]
    token: Option<Sensitive>,
    #[serde(default)]
    expiration: Option<String>,
}

impl fmt::Debug for CredentialsDoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialsDoc")
            .field("code", &self.code)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

fn parse_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s.trim()).ok()
}

/// Parses `/latest/meta-data/iam/security-credentials/ROLE`.
pub fn parse_credentials(role: &str, uri: &str, body: &[u8]) -> Result<RoleCredentials, ImdsError> {
    let doc: CredentialsDoc = serde_json::from_slice(body).map_err(|source| ImdsError::Parse {
        uri: uri.to_string(),
        source,
    })?;
    let bad = |code: &str, message: &str| ImdsError::Credentials {
        uri: uri.to_string(),
        code: code.to_string(),
        message: Some(message.to_string()),
    };
    if doc.code != "Success" {
        return Err(ImdsError::Credentials {
            uri: uri.to_string(),
            code: doc.code,
            message: doc.message.map(|m| printable(m.as_bytes())),
        });
    }
    let access_key_id = doc
        .access_key_id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("Success", "AccessKeyId is missing"))?;
    let secret_access_key = doc
        .secret_access_key
        .filter(|s| !s.expose().is_empty())
        .ok_or_else(|| bad("Success", "SecretAccessKey is missing"))?;
    let session_token = doc
        .token
        .filter(|s| !s.expose().is_empty())
        .ok_or_else(|| bad("Success", "Token is missing"))?;
    let expiration = doc
        .expiration
        .as_deref()
        .and_then(parse_time)
        .ok_or_else(|| bad("Success", "Expiration is missing or not RFC 3339"))?;
    Ok(RoleCredentials {
        role: role.to_string(),
        code: doc.code,
        kind: doc.kind,
        access_key_id,
        secret_access_key,
        session_token,
        expiration,
        last_updated: doc.last_updated.as_deref().and_then(parse_time),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw";

    #[test]
    fn credentials_parse_and_redact() {
        let body = format!(
            r#"{{"Code":"Success","LastUpdated":"2026-11-25T09:00:00Z","Type":"AWS-HMAC",
            "AccessKeyId":"ASIASXQV3SVWMFRRRM75","SecretAccessKey":"{SECRET}",
            "Token":"IQoJtokentokentoken","Expiration":"2026-11-25T15:00:00Z"}}"#
        );
        let c = parse_credentials("web", "u", body.as_bytes()).unwrap();
        assert_eq!(c.access_key_id, "ASIASXQV3SVWMFRRRM75");
        assert_eq!(c.secret_access_key.expose(), SECRET);
        assert_eq!(
            humantime::format_rfc3339(c.expiration).to_string(),
            "2026-11-25T15:00:00Z"
        );
        let dbg = format!("{c:?}");
        assert!(!dbg.contains(SECRET) && !dbg.contains("IQoJtoken"), "{dbg}");
    }

    #[test]
    fn credentials_error_code_is_explained() {
        let body = br#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"EC2 cannot assume the role","LastUpdated":"2026-11-25T09:00:00Z"}"#;
        let e = parse_credentials("web", "u", body).unwrap_err();
        match &e {
            ImdsError::Credentials { code, message, .. } => {
                assert_eq!(code, "AssumeRoleUnauthorizedAccess");
                assert_eq!(message.as_deref(), Some("EC2 cannot assume the role"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_credentials_do_not_echo_the_body() {
        let body = format!(r#"{{"Code":"Success","SecretAccessKey":"{SECRET}", oops"#);
        let e = parse_credentials("web", "u", body.as_bytes()).unwrap_err();
        assert!(matches!(e, ImdsError::Parse { .. }));
        assert!(!e.to_string().contains(SECRET));
        assert!(!format!("{e:?}").contains(SECRET));
        let missing = br#"{"Code":"Success","AccessKeyId":"ASIA1"}"#;
        let e = parse_credentials("web", "u", missing).unwrap_err();
        assert!(e.to_string().contains("SecretAccessKey is missing"), "{e}");
    }

    #[test]
    fn printable_truncates_and_escapes() {
        let s = printable(b"bad\x1b[31m\nthing");
        assert_eq!(s, "bad\\u{1b}[31m\\nthing");
        let long = vec![b'a'; 500];
        let s = printable(&long);
        assert_eq!(s.chars().count(), LOG_BODY_LIMIT + 1);
        assert!(printable(&[0xff, 0xfe]).contains('\u{fffd}'));
    }

    #[test]
    fn builder_rejects_bad_endpoints_and_ttl() {
        assert!(ImdsClient::builder().endpoint("not a url").build().is_err());
        assert!(ImdsClient::builder().endpoint("ftp://x").build().is_err());
        assert!(ImdsClient::builder()
            .token_ttl(Duration::from_secs(21_601))
            .build()
            .is_err());
        let c = ImdsClient::builder()
            .endpoint("http://127.0.0.1:9/")
            .build()
            .unwrap();
        assert_eq!(c.endpoint(), "http://127.0.0.1:9");
    }

    #[test]
    fn disabled_config_gives_disabled() {
        let cfg = ImdsConfig {
            disabled: true,
            ..ImdsConfig::default()
        };
        assert!(matches!(
            ImdsClient::from_config(&cfg).unwrap_err(),
            ImdsError::Disabled
        ));
    }

    #[tokio::test]
    async fn closed_port_is_unreachable_quickly() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = ImdsClient::builder()
            .endpoint(format!("http://127.0.0.1:{port}"))
            .build()
            .unwrap();
        let t = std::time::Instant::now();
        let e = c.identity_document().await.unwrap_err();
        assert!(matches!(e, ImdsError::Unreachable { .. }), "{e:?}");
        assert!(e.is_unreachable());
        assert!(t.elapsed() < Duration::from_secs(2));
    }
}
