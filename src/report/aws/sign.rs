//! SigV4 signing of one request with `aws-sigv4`: the canonical request covers the method,
//! path, query, the headers given (host, content-type, x-amz-target) and the body hash; the
//! output is the headers to add (`authorization`, `x-amz-date`, `x-amz-security-token`).

use std::time::SystemTime;

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

/// Secret material for one signature. `Debug` shows only the access key id.
#[derive(Clone)]
pub struct SigningKey<'a> {
    /// Access key id (an identifier).
    pub access_key_id: &'a str,
    /// Secret access key.
    pub secret_access_key: &'a str,
    /// Session token of temporary credentials.
    pub session_token: Option<&'a str>,
}

impl std::fmt::Debug for SigningKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A request could not be signed (a malformed URL or header).
#[derive(Debug, thiserror::Error)]
#[error("cannot sign request to {url}: {message}")]
pub struct SignError {
    /// The URL being signed.
    pub url: String,
    /// Why.
    pub message: String,
}

/// Signs a request and returns the headers to add to it. `headers` must include `host`
/// (and every other header that should be covered by the signature).
#[allow(clippy::too_many_arguments)]
pub fn sign_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    key: &SigningKey<'_>,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, SignError> {
    let err = |e: &dyn std::fmt::Display| SignError {
        url: url.to_string(),
        message: e.to_string(),
    };
    let identity = aws_credential_types::Credentials::new(
        key.access_key_id,
        key.secret_access_key,
        key.session_token.map(str::to_string),
        None,
        "credhygiene",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| err(&e))?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| err(&e))?;
    let (instructions, _signature) = sign(signable, &params).map_err(|e| err(&e))?.into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// A signing key whose secret and token the answers of a test echo back: neither may come out
/// in an error or a log line.
#[cfg(test)]
pub(crate) fn echoed_key() -> SigningKey<'static> {
    SigningKey {
        access_key_id: "ASIAEXAMPLE",
        secret_access_key: "V+Hgl4w/X9XfPTT4wIJisDdQiU+l5CQoym0YkhNw",
        session_token: Some("IQoJb3JpZ2luX2VjTOKEN"),
    }
}

#[cfg(test)]
mod tests {
    //! The request/response vectors of the AWS signing test suite (copied, with their
    //! Apache-2.0 notice, from aws-sigv4's `aws-signing-test-suite/v4` into
    //! `tests/fixtures/sigv4/`).
    use super::*;
    use std::path::Path;

    fn parse_request(text: &str) -> (String, String, Vec<(String, String)>, Vec<u8>) {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let first = lines.next().unwrap();
        let mut parts = first.split(' ');
        let method = parts.next().unwrap().to_string();
        let target = parts.next().unwrap().to_string();
        let headers = lines
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap();
                (k.to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        (method, target, headers, body.as_bytes().to_vec())
    }

    #[test]
    fn aws_signing_test_suite_vectors() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sigv4");
        let mut cases = 0;
        for entry in std::fs::read_dir(&root).unwrap() {
            let dir = entry.unwrap().path();
            if !dir.is_dir() {
                continue;
            }
            let ctx: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("context.json")).unwrap())
                    .unwrap();
            let request = std::fs::read_to_string(dir.join("request.txt")).unwrap();
            let (method, target, headers, body) = parse_request(&request);
            let host = &headers.iter().find(|(k, _)| k == "host").unwrap().1;
            let url = format!("https://{host}{target}");
            let hdrs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let c = &ctx["credentials"];
            let key = SigningKey {
                access_key_id: c["access_key_id"].as_str().unwrap(),
                secret_access_key: c["secret_access_key"].as_str().unwrap(),
                session_token: c["token"].as_str(),
            };
            let time = humantime::parse_rfc3339(ctx["timestamp"].as_str().unwrap()).unwrap();
            let out = sign_headers(
                &method,
                &url,
                &hdrs,
                &body,
                &key,
                ctx["region"].as_str().unwrap(),
                ctx["service"].as_str().unwrap(),
                time,
            )
            .unwrap();
            let expected = std::fs::read_to_string(dir.join("header-signed-request.txt")).unwrap();
            let want_auth = expected
                .lines()
                .find_map(|l| l.strip_prefix("Authorization:"))
                .unwrap();
            let got_auth = &out.iter().find(|(k, _)| k == "authorization").unwrap().1;
            assert_eq!(got_auth, want_auth, "case {}", dir.display());
            let got_date = &out.iter().find(|(k, _)| k == "x-amz-date").unwrap().1;
            assert_eq!(got_date, "20150830T123600Z");
            if let Some(tok) = key.session_token {
                let got = &out
                    .iter()
                    .find(|(k, _)| k == "x-amz-security-token")
                    .unwrap()
                    .1;
                assert_eq!(got, tok);
            }
            cases += 1;
        }
        assert!(
            cases >= 5,
            "only {cases} vectors found in {}",
            root.display()
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let k = SigningKey {
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token: Some("tok-secret"),
        };
        let d = format!("{k:?}");
        assert!(!d.contains("wJalr") && !d.contains("tok-secret"), "{d}");
    }
}
