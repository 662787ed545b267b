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
}

impl CredentialsProvider {
    /// A provider reading through `client`.
    pub fn new(client: Arc<ImdsClient>) -> Self {
        CredentialsProvider {
            client,
            state: Arc::new(Mutex::new(None)),
        }
    }

    /// The current credentials: the cached ones until [`REFRESH_BEFORE_EXPIRY`] before they
    /// expire, then fresh ones from IMDS (the role name is read again each time). When the
    /// refresh fails and credentials are cached, those are returned with a warning.
    pub async fn credentials(&self) -> Result<RoleCredentials, ImdsError> {
        let mut state = self.state.lock().await;
        if let Some(c) = state.as_ref() {
            if SystemTime::now() < c.next_refresh {
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
                let now = SystemTime::now();
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
                    c.next_refresh = SystemTime::now() + wait;
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
