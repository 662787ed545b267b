//! [`ImdsClientBuilder`]: the client's knobs (endpoint, token TTL, timeouts, attempts,
//! deadline), with the SDK defaults as named constants.

use std::time::Duration;

use tokio::sync::Mutex;

use super::client::ImdsClient;
use super::error::ImdsError;
use super::token::TokenCache;

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
        // IMDS is plain HTTP, but the client needs a TLS configuration: the shared one never
        // fails for lack of CA certificates (src/tls.rs).
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::tls::client_config()?)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
