//! [`ImdsClient`]: the operations the agent uses (identity document, instance profile, role
//! credentials, user-data, the IMDSv1 probe), each with the overall deadline, and the token
//! cache they share. Sending a request and retrying it is [`super::execute`]'s job.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::builder::ImdsClientBuilder;
use super::error::ImdsError;
use super::execute::{Answer, Req};
use super::model::{parse_credentials, IamInfo, IdentityDocument, RoleCredentials, Sensitive};
use super::token::{Token, TokenCache};
use super::userdata;
use crate::config::ImdsConfig;

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
/// An IMDSv2 client. Cheap to share behind an `Arc`; the token cache is inside.
#[derive(Debug)]
pub struct ImdsClient {
    pub(super) http: reqwest::Client,
    pub(super) endpoint: String,
    pub(super) token_ttl: Duration,
    pub(super) timeout: Duration,
    pub(super) attempts: u32,
    pub(super) deadline: Duration,
    pub(super) backoff_min: Duration,
    pub(super) token: Mutex<TokenCache>,
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

    pub(super) fn uri(&self, path: &str) -> String {
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
    pub(super) async fn token(&self) -> Result<Sensitive, ImdsError> {
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

    /// Forgets the token (IMDS answered 401 to it).
    pub(super) async fn drop_token(&self) {
        self.token.lock().await.drop_token();
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::imds::stub::{advance, FakeImds, INSTANCE_ID};
    use crate::imds::token::TOKEN_REFRESH_BUFFER;
    use crate::imds::DEFAULT_TOKEN_TTL;

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

    const INSTANCE_ID_PATH: &str = "/latest/meta-data/instance-id";

    async fn fake_and_client() -> (FakeImds, ImdsClient) {
        let imds = FakeImds::start(SystemTime::now()).await;
        let c = ImdsClient::builder()
            .endpoint(imds.endpoint())
            .build()
            .unwrap();
        (imds, c)
    }

    async fn instance_id(c: &ImdsClient) -> String {
        c.get_text(INSTANCE_ID_PATH).await.unwrap().unwrap()
    }

    /// With IMDS granting tokens of at most `max_ttl` seconds, the client still uses its
    /// token `fresh` after fetching it and renews it `step` later, before IMDS rejects it.
    async fn assert_token_renewed(max_ttl: u64, fresh: Duration, step: Duration) {
        let (imds, c) = fake_and_client().await;
        imds.with(|s| s.max_ttl = max_ttl);
        assert_eq!(instance_id(&c).await, INSTANCE_ID);
        advance(fresh).await;
        instance_id(&c).await;
        assert_eq!(
            imds.count("PUT", TOKEN_PATH),
            1,
            "still fresh after {fresh:?}"
        );
        advance(step).await;
        instance_id(&c).await;
        assert_eq!(imds.count("PUT", TOKEN_PATH), 2, "renewed {step:?} later");
        let log = imds.log();
        assert!(log.iter().all(|l| !l.ends_with(" 401")), "{log:?}");
    }

    /// Moved from `tests/cli/role.rs` (`client_reads_items_and_404_is_none`, which slept
    /// 1.2 s): a short-lived token (IMDS grants at most 2 s here) is renewed half-way through
    /// its life.
    #[tokio::test]
    async fn a_short_token_is_renewed_half_way_before_imds_rejects_it() {
        let (fresh, step) = (Duration::from_millis(900), Duration::from_millis(300));
        assert_token_renewed(2, fresh, step).await;
    }

    /// A 6-hour token is renewed 120 s before its TTL runs out, not earlier.
    #[tokio::test]
    async fn the_token_is_renewed_120s_before_its_ttl() {
        let fresh = DEFAULT_TOKEN_TTL - TOKEN_REFRESH_BUFFER - Duration::from_secs(1);
        assert_token_renewed(21_600, fresh, Duration::from_secs(1)).await;
    }

    /// A token IMDS no longer accepts (401) is dropped, and the request retried with a new one.
    #[tokio::test]
    async fn a_rejected_token_is_dropped_and_the_request_retried() {
        let (imds, c) = fake_and_client().await;
        instance_id(&c).await;
        imds.with(|s| s.tokens.clear());
        assert_eq!(instance_id(&c).await, INSTANCE_ID);
        let put = format!("PUT {TOKEN_PATH}");
        let get = format!("GET {INSTANCE_ID_PATH}");
        assert_eq!(
            imds.log(),
            [
                format!("{put} 200"),
                format!("{get} 200"),
                format!("{get} 401"),
                format!("{put} 200"),
                format!("{get} 200"),
            ]
        );
    }
}
