//! Which failures are retried: the class of an error answer ([`classify`], from its status
//! and code, read by [`parse_error`]), and the backoff between attempts ([`RetryPolicy`]).
//! The classes follow Vector's `is_retriable_error` and the SDKs' standard retry mode; what
//! a failed call reports is [`super::AwsError`].
//!
//! Clock skew ([`ClockSkew`]): a service refuses a signature made more than 5 minutes from its
//! own clock. When it does, the `Date` of its answer says by how much this host's clock is
//! off; the offset is kept and every later signature (both services, the whole process) is
//! made with the corrected time, as the AWS SDKs do. The refused call is signed again once.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backon::{BackoffBuilder, ExponentialBuilder};

/// Attempts per call for retriable errors (first try included), as the SDKs' standard mode.
pub const DEFAULT_ATTEMPTS: usize = 4;
/// First backoff ceiling; each retry doubles it (full jitter: the sleep is uniform in
/// `0..ceiling`, which spreads a fleet that failed together).
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(500);
/// Largest backoff ceiling (the SDKs cap at 20 s).
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(20);

/// How many times a retriable failure is tried again, and how long the sink sleeps between.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Attempts per call, the first included (at least 1).
    pub(crate) attempts: usize,
    /// First backoff ceiling.
    pub(crate) min_backoff: Duration,
    /// Largest backoff ceiling.
    pub(crate) max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: DEFAULT_ATTEMPTS,
            min_backoff: DEFAULT_MIN_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }
}

impl RetryPolicy {
    /// The sleeps before each retry of one call, `attempts - 1` of them: exponential
    /// ceilings with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").
    pub(crate) fn delays(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.min_backoff)
            .with_max_delay(self.max_backoff)
            .with_max_times(self.attempts.saturating_sub(1))
            .build()
            .map(|ceiling| ceiling.mul_f64(fastrand::f64()))
    }
}

/// How an answer is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Accepted.
    Ok,
    /// The group or stream to create exists: success.
    AlreadyExists,
    /// The group or stream is missing.
    NotFound,
    /// Transient: retried with backoff.
    Retry,
    /// The session token expired: refresh the credentials, retry once.
    Expired,
    /// The role lacks the permission: not retried.
    AccessDenied,
    /// The credentials or their signature are not accepted: not retried.
    Auth,
    /// The request's content is refused: not retried; the entries are removed.
    Validation,
    /// The signing time was refused as too far from the service's clock, whose offset is now
    /// learnt ([`ClockSkew`]): sign again, once.
    Skewed,
    /// The endpoint's certificate failed verification: not retried.
    Untrusted,
    /// The service cannot take the request here, and asking again soon will not change that
    /// (Security Hub not enabled in the account and region, an instance not managed by
    /// Systems Manager): not retried; the sink that got it decides when to ask again.
    NotHere,
}

/// The class of an answer from its HTTP status and error code (pure; the code decides, the
/// status only tells success from failure):
///
/// | status / error code | class |
/// |---|---|
/// | any 2xx | `Ok` |
/// | `ResourceAlreadyExistsException` | `AlreadyExists` |
/// | `ResourceNotFoundException`, `NoSuchEntity` | `NotFound` |
/// | `InvalidAccessException`, `InvalidResourceId`, `InvalidResourceType` | `NotHere` |
/// | `ExpiredToken`, `ExpiredTokenException`, `TokenRefreshRequired` | `Expired` |
/// | `AccessDenied`, `AccessDeniedException` | `AccessDenied` |
/// | `UnauthorizedOperation`, `NotAuthorized` | `AccessDenied` |
/// | `SignatureDoesNotMatch`, `InvalidClientTokenId`, `IncompleteSignature` | `Auth` |
/// | `UnrecognizedClientException`, `InvalidSignatureException` | `Auth` |
/// | `MissingAuthenticationToken` | `Auth` |
/// | `Throttling`, `ThrottlingException`, `ThrottledException` | `Retry` |
/// | `RequestThrottled`, `RequestThrottledException`, `TooManyRequestsException` | `Retry` |
/// | `RequestLimitExceeded`, `ServiceUnavailable`, `ServiceUnavailableException` | `Retry` |
/// | `InternalFailure`, `InternalServiceError`, `InternalServiceFault` | `Retry` |
/// | `RequestTimeout`, `RequestTimeoutException`, `RequestExpired` | `Retry` |
/// | `OperationAbortedException` | `Retry` |
/// | `InvalidParameterException`, `InvalidParameterValue` | `Validation` |
/// | `InvalidParameterValueException`, `InvalidParameterCombination` | `Validation` |
/// | `InvalidParameterCombinationException`, `MissingParameter` | `Validation` |
/// | `MissingRequiredParameter`, `ValidationError`, `ValidationException` | `Validation` |
/// | `SerializationException`, `InvalidSequenceTokenException` | `Validation` |
/// | `DataAlreadyAcceptedException`, `MalformedQueryString` | `Validation` |
/// | Systems Manager: `InvalidItemContentException`, `ItemSizeLimitExceededException`, `TotalSizeLimitExceededException`, `ComplianceTypeCountLimitExceededException` | `Validation` |
/// | anything else: a bare 503, a proxy's 407, a firewall's HTML 403, a 413 … | `Retry` |
pub(crate) fn classify(status: u16, code: &str) -> Class {
    if (200..300).contains(&status) {
        return Class::Ok;
    }
    match code {
        "ResourceAlreadyExistsException" => Class::AlreadyExists,
        "ResourceNotFoundException" | "NoSuchEntity" => Class::NotFound,
        "InvalidAccessException" | "InvalidResourceId" | "InvalidResourceType" => Class::NotHere,
        "ExpiredToken" | "ExpiredTokenException" | "TokenRefreshRequired" => Class::Expired,
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "NotAuthorized" => {
            Class::AccessDenied
        }
        "SignatureDoesNotMatch"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "IncompleteSignature"
        | "InvalidSignatureException"
        | "MissingAuthenticationToken" => Class::Auth,
        "Throttling"
        | "ThrottlingException"
        | "ThrottledException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "InternalFailure"
        | "InternalServiceError"
        | "InternalServiceFault"
        | "RequestTimeout"
        | "RequestTimeoutException"
        | "RequestExpired"
        | "OperationAbortedException" => Class::Retry,
        "InvalidParameterException"
        | "InvalidParameterValue"
        | "InvalidParameterValueException"
        | "InvalidParameterCombination"
        | "InvalidParameterCombinationException"
        | "MissingParameter"
        | "MissingRequiredParameter"
        | "ValidationError"
        | "ValidationException"
        | "SerializationException"
        | "InvalidSequenceTokenException"
        | "DataAlreadyAcceptedException"
        | "MalformedQueryString"
        | "InvalidItemContentException"
        | "ItemSizeLimitExceededException"
        | "TotalSizeLimitExceededException"
        | "ComplianceTypeCountLimitExceededException" => Class::Validation,
        // Anything else (a proxy's 407, an HTML 403 from an egress firewall, a 413 …) is not
        // proof that the entries are invalid: keep them and try again later.
        _ => Class::Retry,
    }
}

/// Error codes with which AWS services refuse a request signed too far from their clock:
/// CloudWatch Logs `InvalidSignatureException` ("Signature expired: …" / "Signature not yet
/// current: …"), CloudWatch `SignatureDoesNotMatch` and `RequestExpired`, and the codes other
/// services use (`RequestTimeTooSkewed`, `RequestInTheFuture`, `AuthFailure`), as the SDKs
/// list them. Most of them also mean other faults: the answer's `Date` decides.
const SKEW_CODES: &[&str] = &[
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "RequestExpired",
    "RequestTimeTooSkewed",
    "RequestInTheFuture",
    "AuthFailure",
];

/// A difference between the service's clock and the signing time below this is not skew:
/// SigV4 accepts 5 minutes, so a refusal with a smaller difference has another cause (the
/// SDKs use the same 4 minutes).
pub(crate) const SKEW_THRESHOLD: Duration = Duration::from_secs(4 * 60);

/// The service's clock minus this host's, learnt from skew refusals, shared by every call.
#[derive(Debug, Default)]
pub(crate) struct ClockSkew {
    /// Milliseconds; 0 until a refusal shows skew.
    offset_ms: AtomicI64,
}

impl ClockSkew {
    /// The time to sign with when this host's clock says `local`.
    pub(crate) fn signing_time(&self, local: SystemTime) -> SystemTime {
        shift(local, self.offset_ms.load(Ordering::Relaxed))
    }

    /// After a refusal with `code` whose answer was dated `date` and arrived at `local`:
    /// when it is a skew refusal (a skew code, and `date` more than [`SKEW_THRESHOLD`] from
    /// the signing time), keeps and returns the new offset in milliseconds.
    pub(crate) fn learn(&self, code: &str, date: Option<&str>, local: SystemTime) -> Option<i64> {
        if !SKEW_CODES.contains(&code) {
            return None;
        }
        let offset = clock_offset(local, date?)?;
        let current = self.offset_ms.load(Ordering::Relaxed);
        if offset.abs_diff(current) <= SKEW_THRESHOLD.as_millis() as u64 {
            return None;
        }
        self.offset_ms.store(offset, Ordering::Relaxed);
        Some(offset)
    }
}

/// `t` moved by `ms` milliseconds (either way).
fn shift(t: SystemTime, ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        t + d
    } else {
        t - d
    }
}

/// The service's clock minus this host's in milliseconds, from the HTTP `Date` of an answer
/// that arrived when this host's clock said `local` (`None` if `date` is not an HTTP date).
pub(crate) fn clock_offset(local: SystemTime, date: &str) -> Option<i64> {
    let service = parse_http_date(date)?;
    Some(match service.duration_since(local) {
        Ok(ahead) => ahead.as_millis() as i64,
        Err(behind) => -(behind.duration().as_millis() as i64),
    })
}

/// An HTTP date in the IMF-fixdate form AWS sends (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC
/// 9110 §5.6.7); the obsolete forms are not read.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = s.split_ascii_whitespace().collect();
    let [_weekday, day, month, year, clock, "GMT"] = parts[..] else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = clock
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms[..] else {
        return None;
    };
    if !(1..=31).contains(&day)
        || !(0..24).contains(&h)
        || !(0..60).contains(&m)
        || !(0..61).contains(&sec)
    {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Days from 1970-01-01 to the proleptic Gregorian date `y-m-d` (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The error code and message of an error answer: JSON (`__type`, `message`), XML
/// (`<Code>`, `<Message>`, which moto uses for auth errors even on JSON calls), or the
/// `x-amzn-query-error` header.
#[doc(hidden)]
pub fn parse_error(headers: &reqwest::header::HeaderMap, body: &[u8]) -> (String, String) {
    let header_code = headers
        .get("x-amzn-query-error")
        .or_else(|| headers.get("x-amzn-errortype"))
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split([';', ':']).next().unwrap_or(v).to_string());
    let text = String::from_utf8_lossy(body);
    let (mut code, mut message) = (None, None);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        code = v
            .get("__type")
            .or_else(|| v.get("code"))
            .or_else(|| v.get("Code"))
            .and_then(|c| c.as_str())
            .map(|c| {
                let c = c.rsplit('#').next().unwrap_or(c);
                c.split(':').next().unwrap_or(c).to_string()
            });
        message = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(|m| m.as_str())
            .map(str::to_string);
    } else if text.trim_start().starts_with('<') {
        code = xml_element(&text, "Code");
        message = xml_element(&text, "Message");
    }
    let code = header_code.or(code).unwrap_or_default();
    (code, message.unwrap_or_default())
}

/// The trimmed text of the first `<name>` element.
#[doc(hidden)]
pub fn xml_element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&close)? + start;
    Some(text[start..end].trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn error_shapes_json_xml_and_header() {
        let h = HeaderMap::new();
        let (c, m) = parse_error(
            &h,
            br#"{"__type":"GraniteServiceVersion20100801#InvalidParameterValueException","message":"bad"}"#,
        );
        assert_eq!(
            (c.as_str(), m.as_str()),
            ("InvalidParameterValueException", "bad")
        );
        let (c, m) = parse_error(
            &h,
            b"<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error></Errors></ErrorResponse>",
        );
        assert_eq!(c, "SignatureDoesNotMatch");
        assert!(m.starts_with("The request signature"));
        let mut h = HeaderMap::new();
        h.insert(
            "x-amzn-query-error",
            HeaderValue::from_static("InvalidParameterValue;Sender"),
        );
        let (c, _) = parse_error(&h, br#"{"__type":"x#InvalidParameterValueException"}"#);
        assert_eq!(c, "InvalidParameterValue");
        let (c, _) = parse_error(
            &HeaderMap::new(),
            br#"{"__type":"com.amazon.coral.service#ExpiredTokenException:http://internal"}"#,
        );
        assert_eq!(c, "ExpiredTokenException");
    }

    #[test]
    fn classes() {
        for (status, code, class) in [
            (400, "ThrottlingException", Class::Retry),
            (400, "Throttling", Class::Retry),
            (503, "", Class::Retry),
            (500, "InternalServiceError", Class::Retry),
            (400, "ExpiredTokenException", Class::Expired),
            (403, "ExpiredToken", Class::Expired),
            (403, "AccessDenied", Class::AccessDenied),
            (400, "AccessDeniedException", Class::AccessDenied),
            (403, "SignatureDoesNotMatch", Class::Auth),
            (400, "UnrecognizedClientException", Class::Auth),
            (400, "InvalidParameterException", Class::Validation),
            (400, "ResourceAlreadyExistsException", Class::AlreadyExists),
            (404, "NoSuchEntity", Class::NotFound),
            (401, "InvalidAccessException", Class::NotHere),
            (400, "InvalidResourceId", Class::NotHere),
            (200, "", Class::Ok),
        ] {
            assert_eq!(classify(status, code), class, "{status} {code}");
        }
    }

    fn at(rfc3339: &str) -> SystemTime {
        humantime::parse_rfc3339(rfc3339).unwrap()
    }

    #[test]
    fn http_dates() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(t, at("1994-11-06T08:49:37Z"));
        let t = parse_http_date("Tue, 29 Feb 2028 23:59:59 GMT").unwrap();
        assert_eq!(t, at("2028-02-29T23:59:59Z"));
        for bad in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn clock_offset_from_the_date_header() {
        let local = at("2026-03-01T12:00:00.250Z");
        assert_eq!(
            clock_offset(local, "Sun, 01 Mar 2026 14:00:00 GMT"),
            Some(2 * 3600 * 1000 - 250)
        );
        assert_eq!(
            clock_offset(local, "Sun, 01 Mar 2026 11:30:00 GMT"),
            Some(-(30 * 60 * 1000 + 250))
        );
        assert_eq!(clock_offset(local, "yesterday"), None);
    }

    #[test]
    fn skew_is_learnt_from_a_skew_refusal_only_and_kept() {
        let local = at("2026-03-01T12:00:00Z");
        let ahead = Some("Sun, 01 Mar 2026 14:00:00 GMT");
        let skew = ClockSkew::default();
        // Not a skew code, no date, a date within the allowance: nothing learnt.
        assert_eq!(skew.learn("AccessDeniedException", ahead, local), None);
        assert_eq!(skew.learn("InvalidSignatureException", None, local), None);
        let close = Some("Sun, 01 Mar 2026 12:03:00 GMT");
        assert_eq!(skew.learn("SignatureDoesNotMatch", close, local), None);
        assert_eq!(skew.signing_time(local), local);
        // CloudWatch Logs' "Signature expired": the service is two hours ahead.
        assert_eq!(
            skew.learn("InvalidSignatureException", ahead, local),
            Some(7_200_000)
        );
        assert_eq!(skew.signing_time(local), at("2026-03-01T14:00:00Z"));
        // Refused again with the corrected time: not skew any more (another cause).
        assert_eq!(skew.learn("InvalidSignatureException", ahead, local), None);
        // The host's clock was stepped to the right time: the offset is learnt back.
        let behind = Some("Sun, 01 Mar 2026 12:00:00 GMT");
        assert_eq!(skew.learn("RequestExpired", behind, local), Some(0));
        assert_eq!(skew.signing_time(local), local);
        // The service behind this host (CloudWatch's "Signature not yet current").
        let late = Some("Sun, 01 Mar 2026 11:00:00 GMT");
        assert_eq!(
            skew.learn("SignatureDoesNotMatch", late, local),
            Some(-3_600_000)
        );
        assert_eq!(skew.signing_time(local), at("2026-03-01T11:00:00Z"));
    }
}
