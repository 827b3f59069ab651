//! TLS syslog listeners (RFC 5425): a stream listener like TCP (the same caps, idle
//! timeout and shared read buffers, see [`super::tcp`]) whose connections first complete
//! a rustls handshake, bounded by `handshake_timeout` so a slow or silent client cannot
//! hold a slot. With `client_ca_file` every client must present a certificate that
//! chains to it (mutual TLS), and the verified identity (subject and names) goes into
//! each of its records: the sender is the certificate, not the hostname the message
//! claims.
//!
//! Key material is loaded and checked (readable, a key that fits the certificate, a
//! certificate not expired) when the configuration is checked, so a mistake is an error
//! at start and in `check-config`, naming the key.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use rustls::pki_types::CertificateDer;
use serde::Deserialize;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;

use crate::pem::{self, TlsError};

/// `tls = { ... }` of a `[[syslog]]` listener with `transport = "tls"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    /// PEM certificate chain this listener presents, leaf first, and its key.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// PEM CA(s): set, every client must present a certificate that chains to one
    /// of them (mutual TLS); unset, clients are not asked for one.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// How long a connection may take to complete its handshake.
    #[serde(
        default = "default_handshake_timeout",
        deserialize_with = "crate::config::de::de_duration"
    )]
    pub handshake_timeout: Duration,
}

fn default_handshake_timeout() -> Duration {
    Duration::from_secs(10)
}

/// A listener's TLS side, ready to accept.
#[derive(Clone)]
pub struct TlsServer {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub handshake_timeout: Duration,
    /// Clients must present a verified certificate.
    pub mutual: bool,
}

impl TlsServer {
    /// Completes the handshake within `handshake_timeout`: the stream and the client's
    /// verified identity (with mutual TLS always there), or why the connection fails.
    pub async fn accept(&self, stream: TcpStream) -> Result<(Stream, Option<String>), String> {
        match tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(stream)).await {
            Err(_elapsed) => Err(format!("no handshake within {:?}", self.handshake_timeout)),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(t)) => {
                let identity = t
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(client_identity);
                if self.mutual && identity.is_none() {
                    return Err("the client certificate could not be read".into());
                }
                Ok((Stream::Tls(Box::new(t)), identity))
            }
        }
    }
}

impl ListenerTls {
    /// Loads and checks the key material.
    pub fn server(&self) -> Result<TlsServer, TlsError> {
        let chain = pem::certs("cert_file", &self.cert_file)?;
        check_validity(&chain[0], &self.cert_file)?;
        let key = pem::private_key("key_file", &self.key_file)?;
        let builder = rustls::ServerConfig::builder_with_provider(pem::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError {
                key: "tls",
                message: e.to_string(),
            })?;
        let builder = match &self.client_ca_file {
            Some(ca) => {
                let roots = pem::roots("client_ca_file", ca)?;
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    pem::provider(),
                )
                .build()
                .map_err(|e| pem::err("client_ca_file", ca, e))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder.with_single_cert(chain, key).map_err(|e| {
            pem::err(
                "key_file",
                &self.key_file,
                format!("does not fit cert_file: {e}"),
            )
        })?;
        Ok(TlsServer {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            handshake_timeout: self.handshake_timeout,
            mutual: self.client_ca_file.is_some(),
        })
    }
}

/// An expired (or not yet valid) server certificate is refused at start: clients would
/// refuse it at every handshake.
fn check_validity(cert: &CertificateDer<'_>, path: &std::path::Path) -> Result<(), TlsError> {
    let (_, c) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| pem::err("cert_file", path, format!("not an X.509 certificate: {e}")))?;
    let now = x509_parser::time::ASN1Time::now();
    let v = c.validity();
    if now > v.not_after {
        return Err(pem::err(
            "cert_file",
            path,
            format!("the certificate expired on {}", v.not_after),
        ));
    }
    if now < v.not_before {
        return Err(pem::err(
            "cert_file",
            path,
            format!("the certificate is not valid before {}", v.not_before),
        ));
    }
    Ok(())
}

/// The identity records carry for a verified client certificate: the subject's
/// distinguished name, then each DNS, IP and e-mail name after a unit separator (see
/// [`crate::record`]).
pub fn client_identity(cert: &CertificateDer<'_>) -> Option<String> {
    use x509_parser::extensions::GeneralName;
    let (_, c) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let mut id = c.subject().to_string();
    if let Ok(Some(san)) = c.subject_alternative_name() {
        for name in &san.value.general_names {
            let text = match name {
                GeneralName::DNSName(n) => format!("DNS:{n}"),
                GeneralName::RFC822Name(n) => format!("email:{n}"),
                GeneralName::IPAddress(b) => match <[u8; 4]>::try_from(*b) {
                    Ok(v4) => format!("IP:{}", std::net::Ipv4Addr::from(v4)),
                    Err(_) => match <[u8; 16]>::try_from(*b) {
                        Ok(v6) => format!("IP:{}", std::net::Ipv6Addr::from(v6)),
                        Err(_) => continue,
                    },
                },
                _ => continue,
            };
            id.push('\u{1f}');
            id.push_str(&text);
        }
    }
    Some(id.replace(['\n', '\r'], " "))
}

/// A stream connection, plain or TLS, read the same way: wait until the socket is
/// readable, then read without waiting until nothing is left.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Stream {
    pub fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => t.get_ref().0,
        }
    }

    pub async fn readable(&self) -> io::Result<()> {
        self.socket().readable().await
    }

    /// Reads what is there now; `WouldBlock` when nothing is. For TLS, "nothing" also
    /// means no decrypted data is waiting in rustls, so waiting for the socket next is
    /// right.
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.try_read(buf),
            Stream::Tls(t) => t
                .read(buf)
                .now_or_never()
                .unwrap_or_else(|| Err(io::ErrorKind::WouldBlock.into())),
        }
    }
}

#[cfg(test)]
mod tests;
