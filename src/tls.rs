//! The one TLS configuration of the process: ring as the crypto provider and the roots that
//! HTTPS (CloudWatch and the other AWS APIs) is verified against, built once.
//!
//! Roots: the host's CA bundle, read the way the AWS SDKs and OpenSSL read it (`SSL_CERT_FILE`,
//! `SSL_CERT_DIR`, else the distribution's bundle). A host without any (a minimal image without
//! `ca-certificates`) falls back to Mozilla's root program compiled into the binary
//! (webpki-roots), which holds the Amazon Trust Services roots that AWS endpoints chain to, so
//! the agent still starts, scans and reports. A bundle named by `SSL_CERT_FILE`/`SSL_CERT_DIR`
//! that holds no usable certificate is not replaced by the compiled-in roots: the operator chose
//! it, and HTTPS then fails with a certificate error naming the endpoint.
//! IMDS is plain HTTP; its client gets the same configuration only because the HTTP client
//! needs one, so that a host without roots never stops the agent from starting.

use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;

/// Where the roots came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootSource {
    /// The host's CA bundle (or `SSL_CERT_FILE` / `SSL_CERT_DIR`).
    Host,
    /// The compiled-in Mozilla roots: the host has no CA bundle.
    BuiltIn,
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR` name no usable certificate: no roots at all.
    NoneUsable,
}

/// The TLS client configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up TLS: {0}")]
pub struct TlsError(#[from] rustls::Error);

/// The process's TLS client configuration (built on first use, then shared).
pub fn client_config() -> Result<rustls::ClientConfig, TlsError> {
    static CONFIG: OnceLock<rustls::ClientConfig> = OnceLock::new();
    if let Some(c) = CONFIG.get() {
        return Ok(c.clone());
    }
    let explicit =
        std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some();
    let loaded = rustls_native_certs::load_native_certs();
    for e in &loaded.errors {
        log::debug!(error:% = e; "a CA certificate of the host could not be loaded");
    }
    let (roots, source) = roots(loaded.certs, explicit);
    match source {
        RootSource::Host => {
            log::debug!(certificates = roots.len(); "TLS roots: the host's CA bundle")
        }
        RootSource::BuiltIn => log::info!(certificates = roots.len();
            "no CA certificates on this host; HTTPS uses the Mozilla roots built into credhygiene"),
        RootSource::NoneUsable => log::warn!(
            "SSL_CERT_FILE / SSL_CERT_DIR name no usable CA certificate; HTTPS requests will fail certificate verification"),
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(CONFIG.get_or_init(|| config).clone())
}

/// The root store from the host's certificates, else (when no bundle was named explicitly) the
/// compiled-in Mozilla roots.
fn roots(
    host: Vec<rustls::pki_types::CertificateDer<'static>>,
    explicit: bool,
) -> (RootCertStore, RootSource) {
    let mut store = RootCertStore::empty();
    let (added, _unparsable) = store.add_parsable_certificates(host);
    if added > 0 {
        (store, RootSource::Host)
    } else if explicit {
        (store, RootSource::NoneUsable)
    } else {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        (store, RootSource::BuiltIn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_host_bundle_falls_back_to_the_built_in_roots_with_amazons() {
        let (store, source) = roots(Vec::new(), false);
        assert_eq!(source, RootSource::BuiltIn);
        assert!(store.len() > 100, "{}", store.len());
        // Amazon Root CA 1 (the root AWS endpoints chain to): its subject holds "Amazon Root CA 1".
        let amazon = webpki_roots::TLS_SERVER_ROOTS
            .iter()
            .filter(|a| {
                a.subject
                    .as_ref()
                    .windows(16)
                    .any(|w| w == b"Amazon Root CA 1")
            })
            .count();
        assert_eq!(amazon, 1);
    }

    #[test]
    fn an_explicit_bundle_without_certificates_is_not_replaced() {
        let junk = vec![rustls::pki_types::CertificateDer::from(vec![0u8; 8])];
        let (store, source) = roots(junk, true);
        assert_eq!(source, RootSource::NoneUsable);
        assert!(store.is_empty());
    }

    #[test]
    fn the_configuration_builds_once_and_is_shared() {
        let a = client_config().unwrap();
        let b = client_config().unwrap();
        assert!(Arc::ptr_eq(
            &a.crypto_provider().clone(),
            &b.crypto_provider().clone()
        ));
    }
}
