//! What an AWS call that did not succeed reports ([`AwsError`]), for every service the agent
//! calls, and whether the failure is transient (spooled and retried) or needs an operator.

use super::credentials::CredentialError;
use super::sign::SignError;
use crate::state::StateError;

/// An AWS call that did not succeed, with the operation, the endpoint and what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// No answer: connection refused, reset, timed out (after the retries).
    #[error("{api} to {endpoint} failed: {message}")]
    Network {
        /// Operation.
        api: &'static str,
        /// Endpoint URL.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// The endpoint's TLS certificate failed verification against the trusted roots (not
    /// retried: the roots, or what answers at the endpoint, need an operator).
    #[error("{api} to {endpoint} failed: the server's certificate is not trusted: {message} (trusted roots: SSL_CERT_FILE / SSL_CERT_DIR when set, else the host's CA bundle)")]
    Certificate {
        /// Operation.
        api: &'static str,
        /// Endpoint URL.
        endpoint: String,
        /// The verification error and its causes.
        message: String,
    },
    /// The service answered with an error that is not one of the classes below (or a
    /// retriable one that persisted through every attempt).
    #[error("{api} to {endpoint} failed with HTTP {status} {code}: {message}")]
    Service {
        /// Operation.
        api: &'static str,
        /// Endpoint URL.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// Error code (`ThrottlingException` …).
        code: String,
        /// Server message (truncated).
        message: String,
    },
    /// The role lacks a permission.
    #[error(
        "{api} to {endpoint} was denied: the instance role needs IAM permission {action} on {resource}: {message}"
    )]
    AccessDenied {
        /// Operation.
        api: &'static str,
        /// Endpoint URL.
        endpoint: String,
        /// The missing IAM action, e.g. `logs:PutLogEvents`.
        action: &'static str,
        /// The resource ARN or scope, e.g. the log stream ARN.
        resource: String,
        /// Server message (truncated).
        message: String,
    },
    /// The request was not authenticated: wrong secret, unknown key, bad session token.
    #[error("{api} to {endpoint} was rejected ({code}): the credentials or their signature are not accepted: {message}")]
    Auth {
        /// Operation.
        api: &'static str,
        /// Endpoint URL.
        endpoint: String,
        /// `SignatureDoesNotMatch`, `InvalidClientTokenId`, `UnrecognizedClientException` …
        code: String,
        /// Server message (truncated).
        message: String,
    },
    /// The service refused the request's content (not retried).
    #[error("{api} to {endpoint} was refused as invalid ({code}): {message}")]
    Validation {
        /// Operation.
        api: &'static str,
        /// Endpoint URL.
        endpoint: String,
        /// Error code.
        code: String,
        /// Server message (truncated).
        message: String,
    },
    /// No credentials to sign with.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// A request could not be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The outbox could not be read or written.
    #[error("outbox: {0}")]
    State(#[from] StateError),
}

impl AwsError {
    /// Whether what failed is safely spooled and will be retried (network, service, transient
    /// credentials), as opposed to needing an operator (permissions, signature, validation,
    /// the outbox itself).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AwsError::Network { .. }
                | AwsError::Service { .. }
                | AwsError::Credentials(CredentialError::Failed(_))
        )
    }
}
