//! The retry table (aws-config's IMDS retry classifier, STYLE.md practice 8): what the client
//! does with the outcome of one attempt, as pure functions of the kind of request and the
//! outcome, so that the behaviour is testable without a server. [`super::execute`] applies
//! them: it sends, classifies, and then backs off, drops the token or builds the error.

use reqwest::StatusCode;

/// The kinds of request the client makes, as far as retrying goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    /// `PUT /latest/api/token`.
    Token,
    /// `GET` with a token.
    Get,
    /// `GET` without a token: the IMDSv1 probe.
    GetV1,
}

/// What to do with an answer, by its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Take the answer (for the token PUT its TTL header must then be valid).
    Accept,
    /// The item is absent: the caller gets `Ok(None)`.
    Absent,
    /// Back off and try again while attempts remain, then fail with the status.
    Retry,
    /// IMDS refused the token: drop it, then as [`Verdict::Retry`] (the next attempt fetches
    /// a new token). Dropped even when no attempt remains, so the next operation does not
    /// reuse it.
    RetryWithNewToken,
    /// Fail with the status ([`super::ImdsError::Status`]), without retrying.
    Fail,
    /// [`super::ImdsError::Forbidden`], without retrying.
    Forbidden,
}

/// What to do with an answer of `status` to a request of `kind`:
///
/// | request    | status                                  | verdict               | why |
/// |------------|-----------------------------------------|-----------------------|-----|
/// | v1 probe   | any                                     | `Accept`              | the status is the probe's answer: 200 open, 401 closed |
/// | token, GET | 2xx                                     | `Accept`              | |
/// | GET        | 404                                     | `Absent`              | Bottlerocket: absent is `None`; on `iam/security-credentials/` it means "no instance profile", a check result |
/// | GET        | 401                                     | `RetryWithNewToken`   | the token expired or IMDS invalidated it |
/// | token      | 401                                     | `Retry`               | no token to drop: it is what is being fetched (and its cache is locked meanwhile) |
/// | token, GET | 429                                     | `Retry`               | throttled |
/// | token, GET | 5xx                                     | `Retry`               | transient |
/// | token      | 403                                     | `Forbidden`           | `HttpEndpoint=disabled`, or a proxy added `X-Forwarded-For`: retrying cannot help |
/// | token, GET | any other (400, 403 on GET, 404 on the token PUT, other 4xx, 1xx, 3xx) | `Fail` | a request IMDS will not answer differently next time |
pub(crate) fn classify(kind: RequestKind, status: StatusCode) -> Verdict {
    use RequestKind::{Get, GetV1, Token};
    match (kind, status.as_u16()) {
        (GetV1, _) => Verdict::Accept,
        (_, 200..=299) => Verdict::Accept,
        (Get, 404) => Verdict::Absent,
        (Get, 401) => Verdict::RetryWithNewToken,
        (Token, 401) | (_, 429) | (_, 500..=599) => Verdict::Retry,
        (Token, 403) => Verdict::Forbidden,
        _ => Verdict::Fail,
    }
}

/// How an attempt failed without an answer (a transport error while sending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No connection could be made: refused, no route, connect timeout.
    Connect,
    /// A connection was made but no answer came within the read timeout.
    Timeout,
    /// Any other transport error (reset, protocol error …).
    Other,
}

impl Failure {
    /// The failure a reqwest error stands for (a connect timeout is a [`Failure::Connect`]).
    pub(crate) fn of(e: &reqwest::Error) -> Failure {
        if e.is_connect() {
            Failure::Connect
        } else if e.is_timeout() {
            Failure::Timeout
        } else {
            Failure::Other
        }
    }
}

/// What to do when an attempt got no answer. None of these is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureVerdict {
    /// [`super::ImdsError::Unreachable`].
    Unreachable,
    /// Probe a plain TCP connection: when it succeeds, [`super::ImdsError::HopLimit`],
    /// otherwise [`super::ImdsError::Unreachable`].
    DiagnoseHopLimit,
    /// [`super::ImdsError::Request`].
    RequestError,
}

/// What to do when a request of `kind` failed with `failure`:
///
/// | request      | failure         | verdict            | why |
/// |--------------|-----------------|--------------------|-----|
/// | any          | connect         | `Unreachable`      | not EC2, or IMDS is off: retrying only delays the answer |
/// | token        | timeout         | `DiagnoseHopLimit` | a PUT lost on the way back is the hop-limit signature from a container |
/// | GET, v1 probe| timeout         | `RequestError`     | |
/// | any          | other           | `RequestError`     | |
pub(crate) fn classify_failure(kind: RequestKind, failure: Failure) -> FailureVerdict {
    match (kind, failure) {
        (_, Failure::Connect) => FailureVerdict::Unreachable,
        (RequestKind::Token, Failure::Timeout) => FailureVerdict::DiagnoseHopLimit,
        (_, Failure::Timeout | Failure::Other) => FailureVerdict::RequestError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestKind::{Get, GetV1, Token};

    /// Every row of [`classify`]'s table, with the statuses that stand for it.
    #[test]
    fn status_table() {
        use Verdict::*;
        #[rustfmt::skip]
        let table: &[(RequestKind, &[u16], Verdict)] = &[
            (GetV1, &[100, 200, 204, 302, 400, 401, 403, 404, 429, 500, 503], Accept),
            (Token, &[200, 204], Accept),
            (Get, &[200, 204], Accept),
            (Get, &[404], Absent),
            (Get, &[401], RetryWithNewToken),
            (Token, &[401], Retry),
            (Token, &[429, 500, 502, 503, 504, 599], Retry),
            (Get, &[429, 500, 502, 503, 504, 599], Retry),
            (Token, &[403], Forbidden),
            (Token, &[100, 301, 302, 400, 404, 405, 409, 418], Fail),
            (Get, &[100, 301, 302, 400, 403, 405, 409, 418], Fail),
        ];
        for &(kind, statuses, want) in table {
            for &s in statuses {
                let status = StatusCode::from_u16(s).unwrap();
                assert_eq!(classify(kind, status), want, "{kind:?} {s}");
            }
        }
    }

    /// Every row of [`classify_failure`]'s table.
    #[test]
    fn failure_table() {
        use FailureVerdict::*;
        let table = [
            (Token, Failure::Connect, Unreachable),
            (Get, Failure::Connect, Unreachable),
            (GetV1, Failure::Connect, Unreachable),
            (Token, Failure::Timeout, DiagnoseHopLimit),
            (Get, Failure::Timeout, RequestError),
            (GetV1, Failure::Timeout, RequestError),
            (Token, Failure::Other, RequestError),
            (Get, Failure::Other, RequestError),
            (GetV1, Failure::Other, RequestError),
        ];
        for (kind, failure, want) in table {
            assert_eq!(
                classify_failure(kind, failure),
                want,
                "{kind:?} {failure:?}"
            );
        }
    }
}
