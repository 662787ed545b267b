//! Where the sink gets the credentials it signs with: the [`CredentialSource`] trait, its
//! implementation over the IMDS role credentials provider, and `None` for IMDS disabled.

use std::future::Future;

use crate::imds::model::RoleCredentials;
use crate::imds::{CredentialsProvider, ImdsError};

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

/// No instance profile, IMDS off or unreachable mean there are no credentials here; any
/// other IMDS failure is transient.
fn imds_credential_error(e: ImdsError) -> CredentialError {
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
impl CredentialSource for CredentialsProvider {
    async fn credentials(&self) -> Result<RoleCredentials, CredentialError> {
        CredentialsProvider::credentials(self)
            .await
            .map_err(imds_credential_error)
    }

    async fn refresh(&self) -> Result<RoleCredentials, CredentialError> {
        CredentialsProvider::refresh(self)
            .await
            .map_err(imds_credential_error)
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
