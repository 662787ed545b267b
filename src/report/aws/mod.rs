//! The AWS call layer every sink and client shares (CloudWatch, EC2, Security Hub, Systems
//! Manager, IAM): where the signing credentials come from ([`CredentialSource`]: the
//! instance role via IMDS, never a key the scan found), SigV4 ([`sign`]), the HTTP client and
//! the scrubbing of server messages (`http`), the class of a failed answer and the backoff
//! (`retry`), one operation sent with its retries ([`Service`], [`Operation`]), and what a
//! failed call reports ([`AwsError`]).
//!
//! Guarantees every caller gets: a request is signed only with the role's credentials; an
//! expired token is refreshed once; a signature refused for clock skew is made again once
//! with the service's time, and the offset is kept for the whole process; throttling, 5xx
//! and network failures are retried with full-jitter backoff a bounded number of times;
//! permissions, signatures, validation errors and an untrusted certificate are not retried;
//! no secret access key or session token ever reaches an error message or a log line.

mod credentials;
mod error;
mod http;
mod retry;
mod service;
pub mod sign;

pub use credentials::{CredentialError, CredentialSource};
pub use error::AwsError;
pub use retry::{DEFAULT_ATTEMPTS, DEFAULT_MAX_BACKOFF, DEFAULT_MIN_BACKOFF};
pub use service::ApiCount;
// The error-answer parsers, for the fuzz targets.
pub(crate) use http::{host_header, http_client, scrub, send};
pub(crate) use retry::{classify, Class, RetryPolicy};
#[doc(hidden)]
pub use retry::{parse_error, xml_element};
pub(crate) use service::{answer_error, Operation, Service, Target};
