//! The instance role's credentials for the agent's own AWS calls (CloudWatch): cached,
//! refreshed ahead of `Expiration`, and statically stable: while IMDS is briefly
//! unavailable the last good credentials keep being served, with a warning, as aws-config's
//! `ImdsCredentialsProvider` does.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::Mutex;

use super::model::RoleCredentials;
use super::{ImdsClient, ImdsError};

/// Refresh this long before `Expiration`. IMDS publishes new credentials at least 5 minutes
/// before the old ones expire, so inside this window a refresh can find them.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// Inside the refresh window IMDS may still serve the old credentials for a while: do not
/// ask it more often than this.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// After a failed refresh, wait at least this long before asking IMDS again (aws-config's
/// `CREDENTIAL_EXPIRATION_INTERVAL` is 10 min; IMDS outages are usually short, so less).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5 * 60);
/// Random extra wait on top of [`RETRY_AFTER_FAILURE`], so a fleet does not retry in step.
pub const RETRY_JITTER: Duration = Duration::from_secs(5 * 60);

/// Where the provider reads the time. `Expiration` is a wall-clock time, so it is compared
/// with the wall clock (which, unlike a monotonic clock, also counts the time an instance
/// spent suspended).
#[derive(Debug, Clone, Copy)]
enum Clock {
    /// The system's wall clock.
    System,
    /// A wall clock that moves with tokio's: `wall` at tokio's `at`, so that a test moves it
    /// with `tokio::time::advance`.
    #[cfg(test)]
    Tokio {
        wall: SystemTime,
        at: tokio::time::Instant,
    },
}

impl Clock {
    fn now(self) -> SystemTime {
        match self {
            Clock::System => SystemTime::now(),
            #[cfg(test)]
            Clock::Tokio { wall, at } => wall + at.elapsed(),
        }
    }
}

#[derive(Debug)]
struct Cached {
    creds: RoleCredentials,
    next_refresh: SystemTime,
}

/// Cached instance-role credentials. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct CredentialsProvider {
    client: Arc<ImdsClient>,
    state: Arc<Mutex<Option<Cached>>>,
    clock: Clock,
}

impl CredentialsProvider {
    /// A provider reading through `client`.
    pub fn new(client: Arc<ImdsClient>) -> Self {
        CredentialsProvider {
            client,
            state: Arc::new(Mutex::new(None)),
            clock: Clock::System,
        }
    }

    /// The current credentials: the cached ones until [`REFRESH_BEFORE_EXPIRY`] before they
    /// expire, then fresh ones from IMDS (the role name is read again each time). When the
    /// refresh fails and credentials are cached, those are returned with a warning.
    pub async fn credentials(&self) -> Result<RoleCredentials, ImdsError> {
        let mut state = self.state.lock().await;
        if let Some(c) = state.as_ref() {
            if self.clock.now() < c.next_refresh {
                return Ok(c.creds.clone());
            }
        }
        self.refresh_locked(&mut state).await
    }

    /// Forces a refresh now (e.g. after AWS answered `ExpiredToken`). On failure the last
    /// good credentials are returned, with a warning, if there are any.
    pub async fn refresh(&self) -> Result<RoleCredentials, ImdsError> {
        let mut state = self.state.lock().await;
        self.refresh_locked(&mut state).await
    }

    async fn refresh_locked(
        &self,
        state: &mut Option<Cached>,
    ) -> Result<RoleCredentials, ImdsError> {
        match self.client.current_credentials().await {
            Ok(creds) => {
                let now = self.clock.now();
                if creds.expiration <= now {
                    log::warn!(
                        role:% = creds.role, access_key_id:% = creds.access_key_id,
                        expiration:% = humantime::format_rfc3339_seconds(creds.expiration);
                        "IMDS served expired role credentials; using them until it rotates them"
                    );
                }
                let next_refresh = creds
                    .expiration
                    .checked_sub(REFRESH_BEFORE_EXPIRY)
                    .unwrap_or(now);
                let next_refresh = next_refresh.max(now + MIN_REFRESH_INTERVAL);
                if let Some(old) = state.as_ref() {
                    if old.creds.access_key_id != creds.access_key_id {
                        log::info!(
                            role:% = creds.role, access_key_id:% = creds.access_key_id;
                            "instance role credentials rotated"
                        );
                    }
                }
                *state = Some(Cached {
                    creds: creds.clone(),
                    next_refresh,
                });
                Ok(creds)
            }
            Err(e) => match state.as_mut() {
                Some(c) => {
                    let wait = RETRY_AFTER_FAILURE
                        + Duration::from_secs(fastrand::u64(0..=RETRY_JITTER.as_secs()));
                    c.next_refresh = self.clock.now() + wait;
                    log::warn!(
                        endpoint:% = self.client.endpoint(), error:% = e,
                        expiration:% = humantime::format_rfc3339_seconds(c.creds.expiration),
                        retry_in_s = wait.as_secs();
                        "cannot refresh instance role credentials from IMDS; serving the last good ones"
                    );
                    Ok(c.creds.clone())
                }
                None => Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imds::stub::{advance, FakeImds};
    use crate::imds::ROLE_LIST_PATH;

    /// A provider reading the fake through a wall clock that moves with tokio's, and that
    /// clock.
    fn provider(imds: &FakeImds) -> (CredentialsProvider, Clock) {
        let client = ImdsClient::builder()
            .endpoint(imds.endpoint())
            .build()
            .unwrap();
        let clock = Clock::Tokio {
            wall: SystemTime::now(),
            at: tokio::time::Instant::now(),
        };
        let mut p = CredentialsProvider::new(Arc::new(client));
        p.clock = clock;
        (p, clock)
    }

    fn credentials_path(role: &str) -> String {
        format!("{ROLE_LIST_PATH}{role}")
    }

    /// Moved from `tests/cli/role.rs` (`provider_refreshes_ahead_of_expiration_and_rereads_the_role`,
    /// which slept 1.1 s): credentials that expire in 4 minutes are inside the 5-minute refresh
    /// window, so they are asked for again once [`MIN_REFRESH_INTERVAL`] has passed, and the
    /// role name is read again.
    #[tokio::test]
    async fn credentials_inside_the_refresh_window_are_refetched_and_the_role_reread() {
        let imds = FakeImds::start(SystemTime::now()).await;
        let (p, clock) = provider(&imds);
        imds.with(|s| s.expiration = clock.now() + Duration::from_secs(240));
        let a = p.credentials().await.unwrap();
        assert_eq!(a.role, "credhygiene-test-role");
        imds.with(|s| {
            s.role = Some("other-role".into());
            s.key_serial += 1;
        });
        let cached = p.credentials().await.unwrap();
        assert_eq!(cached.access_key_id, a.access_key_id, "not within 1 s");
        advance(MIN_REFRESH_INTERVAL + Duration::from_millis(100)).await;
        let b = p.credentials().await.unwrap();
        assert_ne!(a.access_key_id, b.access_key_id);
        assert_eq!(b.role, "other-role", "role name read again");
        assert_eq!(imds.count("GET", ROLE_LIST_PATH), 2);
    }

    /// Credentials are served from the cache until [`REFRESH_BEFORE_EXPIRY`] before their
    /// `Expiration`, then fetched again.
    #[tokio::test]
    async fn credentials_are_cached_until_five_minutes_before_expiration() {
        let imds = FakeImds::start(SystemTime::now()).await;
        let (p, clock) = provider(&imds);
        let lifetime = Duration::from_secs(6 * 3600);
        imds.with(|s| s.expiration = clock.now() + lifetime);
        let a = p.credentials().await.unwrap();
        imds.with(|s| s.key_serial += 1);
        advance(lifetime - REFRESH_BEFORE_EXPIRY - Duration::from_secs(2)).await;
        let cached = p.credentials().await.unwrap();
        assert_eq!(cached.access_key_id, a.access_key_id);
        assert_eq!(imds.count("GET", &credentials_path(&a.role)), 1);
        advance(Duration::from_secs(2)).await;
        let b = p.credentials().await.unwrap();
        assert_ne!(
            b.access_key_id, a.access_key_id,
            "refreshed before Expiration"
        );
        assert_eq!(imds.count("GET", &credentials_path(&a.role)), 2);
    }
}
