//! Certificates and keys from PEM files, for every TLS endpoint: the forwarders' client
//! (`forward::tls`) and the TLS syslog listeners (`source::syslog::tls`). Each error
//! names the configuration key it is about, so `check-config` and the start can say
//! which file is wrong and why.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Which key the error is about (below the section, e.g. `tls.key_file`), and why.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct TlsError {
    pub key: &'static str,
    pub message: String,
}

pub fn err(key: &'static str, path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError {
        key,
        message: format!("{}: {e}", path.display()),
    }
}

/// The certificates of a PEM file, at least one.
pub fn certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(key, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(key, path, e))?;
    if certs.is_empty() {
        return Err(err(key, path, "no certificate in it"));
    }
    Ok(certs)
}

/// The CA certificates of a PEM file as a root store.
pub fn roots(key: &'static str, path: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in certs(key, path)? {
        roots.add(ca).map_err(|e| err(key, path, e))?;
    }
    Ok(roots)
}

/// The private key of a PEM file.
pub fn private_key(key: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| err(key, path, e))
}

/// The crypto provider every endpoint uses (ring: no C toolchain beyond the crate's).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
