//! TLS for the syslog forwarder (RFC 5425): rustls, the receiver's certificate verified
//! against a CA file, an optional client certificate for receivers that require one.
//! Key material is loaded when the configuration is checked, so a missing, unreadable
//! or mismatched file is an error at start (and in `check-config`), not at first send.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use serde::Deserialize;

pub use crate::pem::TlsError;
use crate::pem::{certs, private_key, provider, roots};

/// `tls = { ... }` of a `[[forward]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// PEM file of the CA(s) the receiver's certificate must chain to.
    pub ca_file: PathBuf,
    /// PEM certificate chain and key this side presents (both, or neither).
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The name the receiver's certificate must carry; unset: the host of `address`.
    #[serde(default)]
    pub server_name: Option<String>,
}

/// A TLS client ready to connect: its configuration and the name to verify.
#[derive(Debug, Clone)]
pub struct TlsClient {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: ServerName<'static>,
}

impl TlsSection {
    /// Loads the CA, the client certificate and key, and checks they fit together.
    pub fn client(&self, address: &str) -> Result<TlsClient, TlsError> {
        let roots = roots("ca_file", &self.ca_file)?;
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError {
                key: "tls",
                message: e.to_string(),
            })?
            .with_root_certificates(roots);
        let config = match (&self.cert_file, &self.key_file) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let chain = certs("cert_file", cert)?;
                let pk = private_key("key_file", key)?;
                builder.with_client_auth_cert(chain, pk).map_err(|e| {
                    crate::pem::err("key_file", key, format!("does not fit cert_file: {e}"))
                })?
            }
            _ => {
                return Err(TlsError {
                    key: "cert_file",
                    message: "cert_file and key_file go together".into(),
                })
            }
        };
        let host = match &self.server_name {
            Some(n) => n.clone(),
            None => {
                let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string()
            }
        };
        let server_name = ServerName::try_from(host.clone()).map_err(|e| TlsError {
            key: "server_name",
            message: format!("`{host}`: {e}"),
        })?;
        Ok(TlsClient {
            config: Arc::new(config),
            server_name,
        })
    }
}
