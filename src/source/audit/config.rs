//! `[[audit_api]]`: one endpoint of the application audit API.
//!
//! The table lives here, beside the source; `config` lists it and applies the rules
//! that need the whole file (names unique among sources, key and line in errors)
//! through [`AuditApiConfig::check`].

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::source::syslog::tls::ListenerTls;

/// Default `max_body_bytes`: a batch of a thousand events of a kilobyte each.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default `max_events`: events in one request.
pub const DEFAULT_MAX_EVENTS: usize = 10_000;
/// Default `ack_timeout`: how long a request waits for its events to be durable
/// before it is answered 503 (the journal's fsync normally takes milliseconds).
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default `mode` of the unix socket: the owner and its group (give the applications'
/// group with `group`-owned directories or `chgrp`), nobody else.
pub const DEFAULT_MODE: u32 = 0o660;

/// One `[[audit_api]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditApiConfig {
    /// Shown as `observer.ingress.name`; defaults to `audit:<address or path>`.
    #[serde(default)]
    pub name: Option<String>,
    /// Listen on this TCP address (loopback, or any with `tls`).
    #[serde(default)]
    pub address: Option<SocketAddr>,
    /// Listen on this unix stream socket instead.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The unix socket's permissions, an octal string such as `"0660"`.
    #[serde(default)]
    pub mode: Option<String>,
    /// A file holding the bearer token clients must send (`Authorization: Bearer …`).
    /// Required on a TCP address; on a unix socket its permissions may be the
    /// authentication instead.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// HTTPS on the TCP address, optionally with client certificates.
    #[serde(default)]
    pub tls: Option<ListenerTls>,
    #[serde(
        default = "default_max_body_bytes",
        deserialize_with = "crate::config::de::de_positive_usize"
    )]
    pub max_body_bytes: usize,
    #[serde(
        default = "default_max_events",
        deserialize_with = "crate::config::de::de_positive_usize"
    )]
    pub max_events: usize,
    #[serde(
        default = "default_ack_timeout",
        deserialize_with = "crate::config::de::de_duration"
    )]
    pub ack_timeout: Duration,
    #[serde(
        default = "default_max_connections",
        deserialize_with = "crate::config::de::de_positive_usize"
    )]
    pub max_connections: usize,
}

fn default_max_body_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}
fn default_max_events() -> usize {
    DEFAULT_MAX_EVENTS
}
fn default_ack_timeout() -> Duration {
    DEFAULT_ACK_TIMEOUT
}
fn default_max_connections() -> usize {
    DEFAULT_MAX_CONNECTIONS
}

/// Why a token file cannot be used. Never holds the token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} can be read by every user (mode {mode:04o}): make it readable by the daemon only (chmod 0600 or 0640)")]
    WorldReadable { path: PathBuf, mode: u32 },
    #[error("{path} holds no token (it is empty, or not one line of visible characters)")]
    Empty { path: PathBuf },
}

/// Reads the token: the file's first line without surrounding white space.
pub fn read_token(path: &Path) -> Result<String, TokenError> {
    let read = |source| TokenError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o004 != 0 {
        return Err(TokenError::WorldReadable {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TokenError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(token.to_string())
}

/// `"0660"` as permission bits.
pub fn parse_mode(s: &str) -> Option<u32> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    if digits.is_empty() || digits.len() > 4 {
        return None;
    }
    u32::from_str_radix(digits, 8).ok().filter(|m| *m <= 0o777)
}

impl AuditApiConfig {
    /// The configured (or default) name.
    pub fn display_name(&self) -> String {
        match (&self.name, self.address, &self.path) {
            (Some(n), _, _) => n.clone(),
            (None, Some(a), _) => format!("audit:{a}"),
            (None, None, Some(p)) => format!("audit:{}", p.display()),
            (None, None, None) => "audit".into(),
        }
    }

    /// The socket's mode.
    pub fn socket_mode(&self) -> u32 {
        self.mode
            .as_deref()
            .and_then(parse_mode)
            .unwrap_or(DEFAULT_MODE)
    }

    /// What `run` would refuse: the key and why.
    pub fn check(&self) -> Result<(), (String, String)> {
        self.check_fields().map_err(|(k, m)| (k.to_string(), m))?;
        if let Some(t) = &self.tls {
            t.server()
                .map_err(|e| (format!("tls.{}", e.key), e.message))?;
        }
        Ok(())
    }

    fn check_fields(&self) -> Result<(), (&'static str, String)> {
        if let Some(n) = &self.name {
            if n.is_empty() || n.chars().any(char::is_control) {
                return Err((
                    "name",
                    "must not be empty nor contain control characters".into(),
                ));
            }
        }
        match (self.address, &self.path) {
            (None, None) => {
                return Err((
                    "address",
                    "set `address` (a TCP address) or `path` (a unix socket)".into(),
                ))
            }
            (Some(_), Some(_)) => return Err((
                "path",
                "set either `address` or `path`, not both (use two [[audit_api]] tables for both)"
                    .into(),
            )),
            (Some(a), None) => {
                if self.mode.is_some() {
                    return Err(("mode", "applies to a unix socket (`path`) only".into()));
                }
                if self.token_file.is_none()
                    && self.tls.as_ref().is_none_or(|t| t.client_ca_file.is_none())
                {
                    return Err((
                        "token_file",
                        format!("is required on a TCP address ({a}): any local user could connect; set `token_file`, client certificates (`tls.client_ca_file`), or listen on a unix socket (`path`)"),
                    ));
                }
                if !a.ip().is_loopback() && self.tls.is_none() {
                    return Err((
                        "tls",
                        format!("is required on the non-loopback address {a}: the bearer token and the events would cross the network in clear"),
                    ));
                }
            }
            (None, Some(p)) => {
                if self.tls.is_some() {
                    return Err(("tls", "applies to a TCP address only".into()));
                }
                if p.as_os_str().is_empty() || p.as_os_str().len() > 107 {
                    return Err((
                        "path",
                        "must be a path of 1 to 107 bytes (the limit of a unix socket address)"
                            .into(),
                    ));
                }
                if let Some(m) = &self.mode {
                    if parse_mode(m).is_none() {
                        return Err((
                            "mode",
                            format!("{m:?} is not an octal mode such as \"0660\""),
                        ));
                    }
                }
            }
        }
        if let Some(t) = &self.token_file {
            read_token(t).map_err(|e| ("token_file", e.to_string()))?;
        }
        if self.max_body_bytes > 64 * 1024 * 1024 {
            return Err(("max_body_bytes", "must be at most 64 MiB".into()));
        }
        Ok(())
    }
}
