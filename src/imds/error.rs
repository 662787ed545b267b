//! What can go wrong talking to IMDS, and how a response body is shown in a log line or an
//! error message.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use super::client::TTL_HEADER;
use super::userdata;

/// Response bodies are cut to this many bytes when logged or put in an error.
pub const LOG_BODY_LIMIT: usize = 200;

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
    /// The TLS configuration the HTTP client needs could not be built.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_truncates_and_escapes() {
        let s = printable(b"bad\x1b[31m\nthing");
        assert_eq!(s, "bad\\u{1b}[31m\\nthing");
        let long = vec![b'a'; 500];
        let s = printable(&long);
        assert_eq!(s.chars().count(), LOG_BODY_LIMIT + 1);
        assert!(printable(&[0xff, 0xfe]).contains('\u{fffd}'));
    }
}
