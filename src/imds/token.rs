//! The IMDSv2 session token cache: one token, renewed [`TOKEN_REFRESH_BUFFER`] before it
//! expires, dropped when IMDS answers 401 (aws-config `client/token.rs`).

use std::time::Duration;

use tokio::time::Instant;

use super::model::Sensitive;

/// Renew a token this long before it expires, so that no request carries a token that
/// expires in flight (aws-config's `TOKEN_REFRESH_BUFFER`).
pub const TOKEN_REFRESH_BUFFER: Duration = Duration::from_secs(120);

/// A session token and when it expires. `Debug` redacts the token.
#[derive(Debug, Clone)]
pub struct Token {
    value: Sensitive,
    expires_at: Instant,
    /// When to stop using it: [`TOKEN_REFRESH_BUFFER`] before expiry, or half-way for
    /// tokens shorter than twice the buffer.
    renew_at: Instant,
}

impl Token {
    /// A token granted at `now` for `ttl` (the TTL IMDS echoed).
    pub fn new(value: Sensitive, ttl: Duration, now: Instant) -> Token {
        let buffer = TOKEN_REFRESH_BUFFER.min(ttl / 2);
        Token {
            value,
            expires_at: now + ttl,
            renew_at: now + ttl - buffer,
        }
    }

    /// The token, to put in the `X-aws-ec2-metadata-token` header only.
    pub fn value(&self) -> &Sensitive {
        &self.value
    }

    /// When IMDS stops accepting it.
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    /// Whether it is still good to use at `now`.
    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.renew_at
    }
}

/// The cache: at most one token.
#[derive(Debug, Default)]
pub struct TokenCache {
    token: Option<Token>,
}

impl TokenCache {
    /// The cached token if it is still fresh at `now`.
    pub fn get(&self, now: Instant) -> Option<Token> {
        self.token.as_ref().filter(|t| t.is_fresh(now)).cloned()
    }

    /// Stores a new token.
    pub fn put(&mut self, token: Token) {
        self.token = Some(token);
    }

    /// Forgets the token (after a 401: IMDS no longer accepts it).
    pub fn drop_token(&mut self) {
        self.token = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn token_is_renewed_120s_before_expiry() {
        let mut cache = TokenCache::default();
        let start = Instant::now();
        cache.put(Token::new(
            Sensitive::new("AQAEAtoken"),
            Duration::from_secs(21_600),
            start,
        ));
        assert!(cache.get(Instant::now()).is_some());
        tokio::time::advance(Duration::from_secs(21_600 - 121)).await;
        assert!(cache.get(Instant::now()).is_some(), "still fresh at 121 s");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(cache.get(Instant::now()).is_none(), "renewed at 120 s");
    }

    #[tokio::test(start_paused = true)]
    async fn short_tokens_are_renewed_half_way() {
        let mut cache = TokenCache::default();
        cache.put(Token::new(
            Sensitive::new("t"),
            Duration::from_secs(10),
            Instant::now(),
        ));
        tokio::time::advance(Duration::from_millis(4_999)).await;
        assert!(cache.get(Instant::now()).is_some());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(cache.get(Instant::now()).is_none());
    }

    #[test]
    fn dropped_token_is_gone_and_debug_redacts() {
        let mut cache = TokenCache::default();
        let now = Instant::now();
        cache.put(Token::new(
            Sensitive::new("AQAEAsecret-token"),
            Duration::from_secs(600),
            now,
        ));
        let dbg = format!("{cache:?}");
        assert!(!dbg.contains("secret-token"), "{dbg}");
        assert!(dbg.contains("redacted"), "{dbg}");
        cache.drop_token();
        assert!(cache.get(now).is_none());
    }
}
