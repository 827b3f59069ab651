//! Configuration: one TOML file, strictly checked.
//!
//! Every error names the offending key and its line, unknown keys are errors, and the
//! CLI exits 78 (`EX_CONFIG`) on any of them. With no file at all, [`Config::embedded`]
//! is the embedded default: syslog on 127.0.0.1:5514 (UDP and TCP), state and archive
//! under `./sealtrail-data`. `config.example.toml` spells out the same values.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::time::Duration;

mod archive;
pub(crate) mod de;
pub mod secret;
mod validate;
pub use archive::{
    Addressing, ArchiveSection, CredentialsSection, EncryptionKind, EncryptionSection, LockMode,
    RetentionSection, SpoolSection,
};
use validate::line_of;

use serde::Deserialize;

use de::{
    de_commit_delay, de_max_message, de_positive, de_some_duration, de_some_positive_usize,
    de_stream, de_zstd_level,
};
pub(crate) use de::{de_duration, de_from_str, de_positive_usize};

use crate::normalise::TimeZoneSpec;
pub use crate::source::journald::JournaldSourceConfig;

/// Exit code for configuration errors (sysexits.h `EX_CONFIG`).
pub const EX_CONFIG: i32 = 78;

/// Where `sealtrail run` looks for its configuration when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/sealtrail/sealtrail.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
}

/// The whole configuration, after validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Stream id: names this instance's chain. Defaults to the host name.
    #[serde(default, deserialize_with = "de_stream")]
    pub stream: Option<String>,
    /// Journal, cursors, spool and (by default) the signing key live here.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    #[serde(default)]
    pub syslog: Vec<SyslogListener>,
    /// `[[file]]` sources: tailed files.
    #[serde(default)]
    pub file: Vec<crate::source::file::FileSourceConfig>,
    /// `[[journald]]`: the systemd journal through `journalctl`.
    #[serde(default)]
    pub journald: Vec<JournaldSourceConfig>,
    /// `[[audit_api]]`: endpoints where applications POST their audit events.
    #[serde(default)]
    pub audit_api: Vec<crate::source::audit::AuditApiConfig>,
    #[serde(default)]
    pub journal: JournalSection,
    #[serde(default)]
    pub seal: SealSection,
    #[serde(default)]
    pub archive: ArchiveSection,
    #[serde(default)]
    pub spool: SpoolSection,
    /// `[[forward]]`: outputs to SIEMs, each on its own journal cursor.
    #[serde(default)]
    pub forward: Vec<crate::forward::ForwardConfig>,
    /// The local detector's rules (see `docs/DETECTION.md`).
    #[serde(default)]
    pub detect: crate::detect::DetectConfig,
    #[serde(default)]
    pub alerts: AlertsSection,
    #[serde(default)]
    pub status: StatusSection,
}

/// Where alerts go besides the sealed chain.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// POST each alert as JSON to this http:// or https:// URL.
    #[serde(default)]
    pub webhook: Option<String>,
    #[serde(default = "default_webhook_timeout", deserialize_with = "de_duration")]
    pub webhook_timeout: Duration,
}

impl Default for AlertsSection {
    fn default() -> Self {
        AlertsSection {
            webhook: None,
            webhook_timeout: default_webhook_timeout(),
        }
    }
}

fn default_webhook_timeout() -> Duration {
    Duration::from_secs(5)
}

/// One `[[syslog]]` listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogListener {
    /// Shown as `observer.ingress.name`; defaults to `<transport>:<address>`, or
    /// `unix:<path>`.
    #[serde(default)]
    pub name: Option<String>,
    pub transport: Transport,
    /// Where a network listener (udp, tcp, tls) binds; required for them.
    #[serde(default)]
    pub address: Option<SocketAddr>,
    /// `transport = "unix"`: the socket file (required), its mode (default
    /// [`crate::source::syslog::unix::DEFAULT_MODE`]) and group.
    #[serde(default)]
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub mode: Option<crate::source::syslog::unix::SocketMode>,
    #[serde(default)]
    pub group: Option<crate::source::syslog::unix::SocketGroup>,
    /// Longer messages are truncated and tagged `_truncated`.
    #[serde(
        default = "default_max_message_bytes",
        deserialize_with = "de_max_message"
    )]
    pub max_message_bytes: usize,
    /// Time zone for RFC 3164 timestamps, which carry none.
    #[serde(default = "default_tz", deserialize_with = "de_from_str")]
    pub timezone: TimeZoneSpec,
    /// TCP: connections served at once; more are accepted and closed at once (counted).
    /// The daemon's descriptor budget caps all stream listeners together as well.
    #[serde(default, deserialize_with = "de_some_positive_usize")]
    pub max_connections: Option<usize>,
    /// TCP: connections one peer address may hold at once, so one host (or one
    /// attacker) cannot take every slot.
    #[serde(default, deserialize_with = "de_some_positive_usize")]
    pub max_connections_per_peer: Option<usize>,
    /// TCP: a connection that sends nothing for this long is closed (what it sent is
    /// kept), so idle connections do not hold slots forever.
    #[serde(default, deserialize_with = "de_some_duration")]
    pub idle_timeout: Option<Duration>,
    /// `transport = "tls"`: the certificate, key and (for mutual TLS) client CA.
    #[serde(default)]
    pub tls: Option<crate::source::syslog::tls::ListenerTls>,
}

/// Default of `max_connections` (TCP).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default of `max_connections_per_peer` (TCP).
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 64;
/// Default of `idle_timeout` (TCP).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

impl SyslogListener {
    pub fn display_name(&self) -> String {
        match (&self.name, self.address, &self.path) {
            (Some(n), _, _) => n.clone(),
            (None, Some(a), _) => format!("{}:{a}", self.transport),
            (None, None, Some(p)) => format!("{}:{}", self.transport, p.display()),
            (None, None, None) => self.transport.to_string(),
        }
    }

    /// The connection limits of a stream listener, defaults filled in.
    pub fn limits(&self) -> crate::source::limits::ConnectionLimits {
        crate::source::limits::ConnectionLimits {
            max_connections: self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
            max_per_peer: self
                .max_connections_per_peer
                .unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_PEER),
            idle_timeout: self.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
    /// TCP with TLS (RFC 5425): the same framing and limits, `tls = { ... }` required.
    Tls,
    /// A local unix datagram socket (`/dev/log`-like) at `path`.
    Unix,
}

impl Transport {
    /// A byte stream (TCP, TLS): connection limits apply.
    pub fn is_stream(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Unix => "unix",
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSection {
    /// Size at which the journal rolls to a new file.
    #[serde(
        default = "default_journal_file_bytes",
        deserialize_with = "de_positive"
    )]
    pub file_bytes: u64,
    /// Disk cap; when reached, sources are slowed down (backpressure), nothing is dropped.
    #[serde(
        default = "default_journal_max_bytes",
        deserialize_with = "de_positive"
    )]
    pub max_bytes: u64,
    /// `false` trades durability for speed: a power loss can lose acknowledged lines.
    #[serde(default = "default_true")]
    pub fsync: bool,
    /// With `fsync`, a group commit waits until this long after the previous one began
    /// (unless its queue is half full), so that one sync covers many senders' batches.
    #[serde(default = "default_commit_delay", deserialize_with = "de_commit_delay")]
    pub commit_delay: Duration,
    /// The journal never takes the last this-many bytes of the state file system: that
    /// space is the spool's and the checkpoints', so the sealer can always seal and the
    /// journal's own files can be reclaimed. Below it, sources are slowed down.
    #[serde(default = "default_keep_free_bytes")]
    pub keep_free_bytes: u64,
}

impl Default for JournalSection {
    fn default() -> Self {
        JournalSection {
            file_bytes: default_journal_file_bytes(),
            max_bytes: default_journal_max_bytes(),
            fsync: true,
            commit_delay: default_commit_delay(),
            keep_free_bytes: default_keep_free_bytes(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealSection {
    /// Ed25519 signing key (PKCS#8 PEM, mode 0600); public key beside it as `.pub`.
    /// Defaults to `<state_dir>/signing.key`; created on first start when missing.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// A segment is sealed at least this often, even when empty (heartbeat).
    #[serde(default = "default_max_age", deserialize_with = "de_duration")]
    pub max_age: Duration,
    /// A segment is sealed when its uncompressed event lines reach this size.
    #[serde(
        default = "default_seal_max_bytes",
        deserialize_with = "de_positive_usize"
    )]
    pub max_bytes: usize,
    #[serde(default = "default_zstd_level", deserialize_with = "de_zstd_level")]
    pub zstd_level: i32,
    /// Rotate the signing key once its file is this old (`sealtrail rotate-key` does
    /// it by hand). Unset: never on a schedule.
    #[serde(default, deserialize_with = "de_some_duration")]
    pub rotate_key_every: Option<Duration>,
}

impl Default for SealSection {
    fn default() -> Self {
        SealSection {
            key: None,
            max_age: default_max_age(),
            max_bytes: default_seal_max_bytes(),
            zstd_level: default_zstd_level(),
            rotate_key_every: None,
        }
    }
}

/// `[status]`: the loopback HTTP endpoint behind `sealtrail status` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusSection {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// No authentication: keep it on loopback unless a firewall guards it.
    #[serde(default = "default_status_address")]
    pub address: SocketAddr,
}

impl Default for StatusSection {
    fn default() -> Self {
        StatusSection {
            enabled: true,
            address: default_status_address(),
        }
    }
}

fn default_status_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9514))
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("sealtrail-data/state")
}
fn default_max_message_bytes() -> usize {
    64 * 1024
}
fn default_tz() -> TimeZoneSpec {
    TimeZoneSpec::Local
}
fn default_journal_file_bytes() -> u64 {
    64 * 1024 * 1024
}
fn default_journal_max_bytes() -> u64 {
    4 * 1024 * 1024 * 1024
}
fn default_commit_delay() -> Duration {
    crate::journal::DEFAULT_COMMIT_DELAY
}

fn default_keep_free_bytes() -> u64 {
    64 * 1024 * 1024
}
fn default_true() -> bool {
    true
}
fn default_max_age() -> Duration {
    Duration::from_secs(60)
}
fn default_seal_max_bytes() -> usize {
    8 * 1024 * 1024
}
fn default_zstd_level() -> i32 {
    1
}

impl Config {
    /// The configuration used when no file exists: what `config.example.toml` says.
    pub fn embedded() -> Config {
        let listener = |name: &str, transport| SyslogListener {
            name: Some(name.into()),
            transport,
            address: Some(SocketAddr::from(([127, 0, 0, 1], 5514))),
            path: None,
            mode: None,
            group: None,
            max_message_bytes: default_max_message_bytes(),
            timezone: TimeZoneSpec::Local,
            max_connections: None,
            max_connections_per_peer: None,
            idle_timeout: None,
            tls: None,
        };
        Config {
            stream: None,
            state_dir: default_state_dir(),
            syslog: vec![
                listener("udp", Transport::Udp),
                listener("tcp", Transport::Tcp),
            ],
            file: Vec::new(),
            journald: Vec::new(),
            audit_api: Vec::new(),
            journal: JournalSection::default(),
            seal: SealSection::default(),
            archive: ArchiveSection::default(),
            spool: SpoolSection::default(),
            forward: Vec::new(),
            detect: crate::detect::DetectConfig::default(),
            alerts: AlertsSection::default(),
            status: StatusSection::default(),
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates; `origin` only names the file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::new(text);
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let line = inner.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            ConfigError::Invalid {
                path: origin.to_path_buf(),
                line,
                key: if key == "." {
                    "(top level)".into()
                } else {
                    key
                },
                message: inner.message().trim().to_string(),
            }
        })?;
        cfg.validate(text, origin)?;
        Ok(cfg)
    }

    /// The stream id: configured, else the host name made safe.
    pub fn stream_id(&self) -> String {
        if let Some(s) = &self.stream {
            return s.clone();
        }
        let host = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let safe: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        if crate::segment::valid_stream_id(&safe) {
            safe
        } else {
            "localhost".into()
        }
    }

    /// Every configured source in config order, which is the index their records
    /// carry: the `[[syslog]]` listeners first, then the `[[file]]` sources, then the
    /// `[[journald]]` sources, then the `[[audit_api]]` endpoints.
    pub fn sources(&self) -> Vec<crate::source::SourceConfig<'_>> {
        self.syslog
            .iter()
            .map(crate::source::SourceConfig::Syslog)
            .chain(self.file.iter().map(crate::source::SourceConfig::File))
            .chain(
                self.journald
                    .iter()
                    .map(crate::source::SourceConfig::Journald),
            )
            .chain(
                self.audit_api
                    .iter()
                    .map(crate::source::SourceConfig::AuditApi),
            )
            .collect()
    }

    pub fn key_path(&self) -> PathBuf {
        self.seal
            .key
            .clone()
            .unwrap_or_else(|| self.state_dir.join("signing.key"))
    }
}

#[cfg(test)]
mod tests;
