//! The HTTP side of every AWS call: the client (trusted roots, timeouts, user agent), the
//! `Host` header, sending a request and reading its whole answer, telling a certificate that
//! failed verification from other network failures, and scrubbing credential material from
//! server messages before they reach an error or a log line.

use std::time::Duration;

use reqwest::header::HeaderMap;

use super::sign::SigningKey;

/// Connect timeout: AWS endpoints answer in milliseconds; a hung connect is an outage.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Whole-request timeout (a 1 MiB PutLogEvents or a 6 MB BatchImportFindings on a slow link
/// still fits).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest server message kept in an error (bodies are not logged whole).
const MAX_MESSAGE_LEN: usize = 300;
/// The longest error code kept (AWS's are under 64 characters).
pub(crate) const MAX_CODE_LEN: usize = 128;

/// The HTTP client of every AWS call: the trusted roots of
/// [`crate::tls`], the timeouts above, credhygiene's user agent.
pub(crate) fn http_client() -> Result<reqwest::Client, String> {
    let tls = crate::tls::client_config().map_err(|e| e.to_string())?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("credhygiene/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// The `Host` header (and signed host) of `url`: the host, and the port when it has one.
pub(crate) fn host_header(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => String::new(),
    }
}

/// A request that got no answer: the chain of causes, and whether the endpoint's
/// certificate failed verification.
pub(crate) struct SendFailure {
    pub(crate) message: String,
    pub(crate) certificate: bool,
}

impl From<reqwest::Error> for SendFailure {
    fn from(e: reqwest::Error) -> SendFailure {
        SendFailure {
            message: crate::error_chain::one_line(&e),
            certificate: certificate_error(&e),
        }
    }
}

/// Sends `req` and reads the whole answer: status, headers, body.
pub(crate) async fn send(
    req: reqwest::RequestBuilder,
) -> Result<(u16, HeaderMap, Vec<u8>), SendFailure> {
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await?;
    Ok((status, headers, bytes.to_vec()))
}

/// Whether the causes of `e` hold rustls's verdict that the server's certificate is invalid.
/// An `io::Error` leaves its payload out of `source()` (and tokio-rustls's payload comes
/// wrapped in a second `io::Error`), so payloads are walked into.
fn certificate_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(rustls::Error::InvalidCertificate(_)) = c.downcast_ref::<rustls::Error>() {
            return true;
        }
        cause = match c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(payload) => Some(payload),
            None => c.source(),
        };
    }
    false
}

/// Keeps a server message printable and short, and removes any credential material it
/// might echo (some services put the canonical request, which holds the session token, in
/// their signature errors).
pub(crate) fn scrub(message: &str, key: &SigningKey<'_>) -> String {
    scrub_to(message, key, MAX_MESSAGE_LEN)
}

/// [`scrub`], cut at `max` characters: an error code is an identifier of a few dozen
/// characters, and a longer one is the server's (or an impostor's) text, cut shorter than a
/// message (fuzz/artifacts/ssm_answer/crash-c2ac…: a malformed body made a 300-character
/// code, and every log line of the error carried it).
pub(crate) fn scrub_to(message: &str, key: &SigningKey<'_>, max: usize) -> String {
    let mut m = message.replace(key.secret_access_key, "** redacted **");
    if let Some(t) = key.session_token {
        if !t.is_empty() {
            m = m.replace(t, "** redacted **");
        }
    }
    // Control and format characters (and anything else `Debug` would escape, such as a
    // zero-width space or a bidi override) become blanks: a log line shows what the server
    // said, not a terminal escape or text that reads other than it is, and a `Debug` of it
    // grows by at most its quotes and backslashes (fuzz/artifacts/ssm_answer/crash-8fc1…).
    let m: String = m
        .chars()
        .map(|c| {
            let plain = matches!(c, '"' | '\'' | '\\') || c.escape_debug().nth(1).is_none();
            if plain {
                c
            } else {
                ' '
            }
        })
        .collect();
    if m.chars().count() > max {
        let cut: String = m.chars().take(max).collect();
        format!("{cut}…")
    } else {
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_error_is_found_inside_an_io_error() {
        let verdict = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, verdict);
        // As hyper-util hands it on: the io::Error of tokio-rustls inside another.
        let outer = std::io::Error::other(io);
        assert!(certificate_error(&outer));
        let other = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(!certificate_error(&other));
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        assert!(!certificate_error(&alert));
    }

    #[test]
    fn a_code_is_cut_shorter_than_a_message() {
        let key = SigningKey {
            access_key_id: "AKIASXQV3SVWMFRRRM75",
            secret_access_key: "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",
            session_token: None,
        };
        let long = "Signat<Message>".repeat(40);
        let code = scrub_to(&long, &key, MAX_CODE_LEN);
        assert_eq!(code.chars().count(), MAX_CODE_LEN + 1, "{code}");
        assert!(code.ends_with('…'));
        assert_eq!(
            scrub_to("ThrottlingException", &key, MAX_CODE_LEN),
            "ThrottlingException"
        );
        assert_eq!(scrub(&long, &key).chars().count(), MAX_MESSAGE_LEN + 1);
    }

    #[test]
    fn scrub_removes_echoed_credentials() {
        let key = SigningKey {
            access_key_id: "ASIAXXXX",
            secret_access_key: "SECRETSECRET",
            session_token: Some("TOKENTOKEN"),
        };
        let m = scrub(
            "canonical x-amz-security-token:TOKENTOKEN\nSECRETSECRET",
            &key,
        );
        assert!(
            !m.contains("TOKENTOKEN") && !m.contains("SECRETSECRET"),
            "{m}"
        );
        assert!(!m.contains('\n'));
    }
}
