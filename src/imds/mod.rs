//! Who am I: an IMDSv2 client for the instance metadata service, with the behaviour of the
//! AWS SDKs' own client (aws-config `imds::Client`): session tokens only, cached and renewed
//! ahead of expiry, retries with backoff and jitter for 5xx, 429 and 401 (after dropping the
//! token) but not for 400, 403 or 404, 1 s connect and read timeouts, never a proxy, and an
//! overall deadline so that a host off EC2 gets its answer within a few seconds.
//!
//! 404 means "absent" and is `Ok(None)` (Bottlerocket's `imdsclient`), never an error.
//!
//! - `builder`: [`ImdsClientBuilder`], the knobs and their defaults;
//! - `client`: [`ImdsClient`], the operations, each under the overall deadline;
//! - `execute`: one request, sent and retried; `retry`: the retry table it applies;
//! - [`token`]: the session token cache; [`credentials`]: the role credentials provider;
//! - [`model`]: the documents IMDS serves; [`userdata`]: decoding user-data;
//! - `error`: [`ImdsError`].

mod builder;
mod client;
pub mod credentials;
mod error;
mod execute;
pub mod model;
mod retry;
#[cfg(test)]
mod stub;
pub mod token;
pub mod userdata;

pub use builder::{
    ImdsClientBuilder, BACKOFF_MAX, BACKOFF_MIN, DEFAULT_ATTEMPTS, DEFAULT_DEADLINE,
    DEFAULT_TIMEOUT, DEFAULT_TOKEN_TTL,
};
pub use client::{
    ImdsClient, V1Status, IAM_INFO_PATH, IDENTITY_PATH, ROLE_LIST_PATH, TOKEN_HEADER, TOKEN_PATH,
    TTL_HEADER, USER_DATA_PATH, V1_PROBE_PATH,
};
pub use credentials::CredentialsProvider;
pub use error::{printable, ImdsError, LOG_BODY_LIMIT};
pub use model::parse_credentials;
