//! Whether IMDSv1 is open, as EC2 itself says: `DescribeInstances` for this instance and its
//! `MetadataOptions.HttpTokens` (`required`: closed, `optional`: open). The agent uses it
//! instead of the token-less probe when `imds.v1_from_ec2_api` is on, so that it never counts
//! in the instance's `MetadataNoToken` metric (see `agent::probe`).
//!
//! The call is EC2's Query protocol (a form POST, an XML answer), signed (SigV4, service `ec2`)
//! with the instance role's credentials from IMDS, the same [`CredentialSource`], signing,
//! HTTP client and error classes as the CloudWatch sink: a secret the scan found is never used.
//! It goes to the instance's region: `imds.ec2_endpoint` (`AWS_ENDPOINT_URL_EC2`,
//! `AWS_ENDPOINT_URL`) when set, else the regional endpoint in the CloudWatch variant (FIPS,
//! dual-stack).
//!
//! One attempt per call, no backoff: the caller falls back to the probe rule and decides
//! when to ask again ([`Ec2Error::is_transient`]). `DescribeInstances` does not support
//! resource-level permissions: the role needs `ec2:DescribeInstances` on `*`.

use std::time::SystemTime;

use crate::config::Config;
use crate::imds::model::RoleCredentials;
use crate::imds::V1Status;
use crate::report::aws::sign::{self, SigningKey};
use crate::report::aws::{
    classify, host_header, http_client, parse_error, scrub, send, xml_element, Class,
    CredentialError, CredentialSource,
};
use crate::report::endpoints::{self, Variant};

/// The IAM action the call needs (named when it is denied).
pub const IAM_ACTION: &str = "ec2:DescribeInstances";
/// The EC2 API version of the Query protocol (the only one EC2 has had since 2016).
const API_VERSION: &str = "2016-11-15";
/// The Query protocol's content type.
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// Why EC2 did not say whether IMDSv1 is open.
#[derive(Debug, thiserror::Error)]
pub enum Ec2Error {
    /// The role may not call `DescribeInstances` (`UnauthorizedOperation`, `AccessDenied`).
    #[error("DescribeInstances to {endpoint} was denied: the instance role needs IAM permission {IAM_ACTION} on *: {message}")]
    AccessDenied {
        /// Endpoint URL.
        endpoint: String,
        /// Server message (scrubbed, truncated).
        message: String,
    },
    /// A failure that may pass: no answer, throttling, 5xx, credentials not fetched now.
    #[error("DescribeInstances to {endpoint} failed: {message}")]
    Transient {
        /// Endpoint URL (empty before one was chosen).
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// A failure that needs an operator: no endpoint for the region, no role credentials,
    /// a refused signature or request, an untrusted certificate, an answer without
    /// `HttpTokens`.
    #[error("DescribeInstances to {endpoint} failed: {message}")]
    Failed {
        /// Endpoint URL (empty before one was chosen).
        endpoint: String,
        /// What went wrong.
        message: String,
    },
}

impl Ec2Error {
    /// Whether asking again at the next role check may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Ec2Error::Transient { .. })
    }

    fn failed(endpoint: &str, message: impl Into<String>) -> Ec2Error {
        Ec2Error::Failed {
            endpoint: endpoint.to_string(),
            message: message.into(),
        }
    }
}

impl From<CredentialError> for Ec2Error {
    fn from(e: CredentialError) -> Ec2Error {
        let (endpoint, message) = (String::new(), e.to_string());
        match e {
            CredentialError::Failed(_) => Ec2Error::Transient { endpoint, message },
            CredentialError::Unavailable(_) => Ec2Error::Failed { endpoint, message },
        }
    }
}

/// Reads this instance's `HttpTokens` from EC2.
#[derive(Debug)]
pub struct Ec2Client<C> {
    http: reqwest::Client,
    source: C,
    /// `imds.ec2_endpoint`, without a trailing `/`.
    endpoint: Option<String>,
    variant: Variant,
}

impl<C: CredentialSource> Ec2Client<C> {
    /// A client for `config`'s endpoint settings, signing with `source`'s credentials.
    pub fn new(config: &Config, source: C) -> Result<Ec2Client<C>, Ec2Error> {
        let http = http_client().map_err(|m| Ec2Error::failed("", m))?;
        Ok(Ec2Client {
            http,
            source,
            endpoint: (config.imds.ec2_endpoint.as_deref()).map(|e| e.trim_end_matches('/').into()),
            variant: Variant {
                fips: config.cloudwatch.use_fips_endpoint,
                dual_stack: config.cloudwatch.use_dualstack_endpoint,
            },
        })
    }

    /// Whether IMDSv1 is open on `instance_id` in `region`, from its `HttpTokens`.
    pub async fn v1_status(&self, instance_id: &str, region: &str) -> Result<V1Status, Ec2Error> {
        let endpoint = match &self.endpoint {
            Some(e) => e.clone(),
            None => endpoints::resolve("ec2", region, self.variant)
                .map_err(|e| Ec2Error::failed("", e.to_string()))?,
        };
        let body = form(instance_id).ok_or_else(|| {
            Ec2Error::failed(&endpoint, format!("{instance_id:?} is not an instance id"))
        })?;
        let creds = self.source.credentials().await?;
        let xml = self.post(&endpoint, region, &body, &creds).await?;
        http_tokens(&xml).ok_or_else(|| {
            Ec2Error::failed(
                &endpoint,
                "the answer names no known MetadataOptions.HttpTokens",
            )
        })
    }

    /// The signed POST of `body`; the answer's body on a 2xx.
    async fn post(
        &self,
        endpoint: &str,
        region: &str,
        body: &str,
        creds: &RoleCredentials,
    ) -> Result<String, Ec2Error> {
        let key = SigningKey {
            access_key_id: &creds.access_key_id,
            secret_access_key: creds.secret_access_key.expose(),
            session_token: Some(creds.session_token.expose()).filter(|t| !t.is_empty()),
        };
        let url = format!("{endpoint}/");
        let parsed =
            reqwest::Url::parse(&url).map_err(|e| Ec2Error::failed(endpoint, e.to_string()))?;
        let host = host_header(&parsed);
        let headers = [("content-type", FORM_CONTENT_TYPE), ("host", host.as_str())];
        let signed = sign::sign_headers(
            "POST",
            &url,
            &headers,
            body.as_bytes(),
            &key,
            region,
            "ec2",
            SystemTime::now(),
        )
        .map_err(|e| Ec2Error::failed(endpoint, e.to_string()))?;
        let mut req = self.http.post(parsed).body(body.to_string());
        for (k, v) in headers
            .iter()
            .copied()
            .chain(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        {
            req = req.header(k, v);
        }
        let (status, headers, bytes) = match send(req).await {
            Ok(answer) => answer,
            Err(f) if f.certificate => {
                let why = format!("the server's certificate is not trusted: {}", f.message);
                return Err(Ec2Error::failed(endpoint, why));
            }
            Err(f) => {
                let endpoint = endpoint.to_string();
                return Err(Ec2Error::Transient {
                    endpoint,
                    message: f.message,
                });
            }
        };
        if (200..300).contains(&status) {
            return Ok(String::from_utf8_lossy(&bytes).into_owned());
        }
        let (code, message) = parse_error(&headers, &bytes);
        let message = format!("HTTP {status} {code}: {}", scrub(&message, &key));
        let endpoint = endpoint.to_string();
        Err(match classify(status, &code) {
            Class::AccessDenied => Ec2Error::AccessDenied { endpoint, message },
            Class::Expired => {
                // The next call signs with fresh credentials.
                let _ = self.source.refresh().await;
                Ec2Error::Transient { endpoint, message }
            }
            Class::Retry => Ec2Error::Transient { endpoint, message },
            _ => Ec2Error::Failed { endpoint, message },
        })
    }
}

/// The `DescribeInstances` form for one instance; `None` when `instance_id` is not `i-` and
/// hex (nothing else needs no encoding, and nothing else is an instance id).
fn form(instance_id: &str) -> Option<String> {
    let hex = instance_id.strip_prefix("i-")?;
    (!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
        format!("Action=DescribeInstances&Version={API_VERSION}&InstanceId.1={instance_id}")
    })
}

/// IMDSv1's status from the `httpTokens` of the answer's `metadataOptions`.
#[doc(hidden)]
pub fn http_tokens(xml: &str) -> Option<V1Status> {
    let options = xml_element(xml, "metadataOptions")?;
    match xml_element(&options, "httpTokens")?.as_str() {
        "required" => Some(V1Status::Closed),
        "optional" => Some(V1Status::Open),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_names_one_instance() {
        assert_eq!(
            form("i-0c0ffee0c0ffee001").as_deref(),
            Some("Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-0c0ffee0c0ffee001")
        );
        for bad in ["", "i-", "i-0c0f&Action=RunInstances", "vol-0123", "i-xyz"] {
            assert_eq!(form(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn http_tokens_from_the_answer() {
        let answer = |tokens: &str| {
            format!(
                "<DescribeInstancesResponse><reservationSet><item><instancesSet><item>\
                 <metadataOptions><state>applied</state><httpTokens>{tokens}</httpTokens>\
                 <httpPutResponseHopLimit>1</httpPutResponseHopLimit></metadataOptions>\
                 <instanceId>i-0c0ffee0c0ffee001</instanceId></item></instancesSet></item>\
                 </reservationSet></DescribeInstancesResponse>"
            )
        };
        assert_eq!(http_tokens(&answer("required")), Some(V1Status::Closed));
        assert_eq!(http_tokens(&answer("optional")), Some(V1Status::Open));
        assert_eq!(http_tokens(&answer("sometimes")), None);
        assert_eq!(http_tokens("<DescribeInstancesResponse/>"), None);
    }

    #[test]
    fn denied_and_throttled_answers_are_told_apart() {
        let denied = Ec2Error::AccessDenied {
            endpoint: "https://ec2.us-east-1.amazonaws.com".into(),
            message: "HTTP 403 UnauthorizedOperation: You are not authorized".into(),
        };
        assert!(denied
            .to_string()
            .contains("needs IAM permission ec2:DescribeInstances"));
        assert!(!denied.is_transient());
        assert_eq!(classify(403, "UnauthorizedOperation"), Class::AccessDenied);
        assert_eq!(classify(503, "RequestLimitExceeded"), Class::Retry);
    }
}
