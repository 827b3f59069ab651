//! Configuration: one TOML file, strictly checked.
//!
//! Every error names the offending key and its line, unknown keys are errors, and the
//! CLI exits 78 (`EX_CONFIG`) on any of them. With no file at all, [`Config::embedded`]
//! is the embedded default: syslog on 127.0.0.1:5514 (UDP and TCP), state and archive
//! under `./sealtrail-data`. `config.example.toml` spells out the same values.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

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
    #[serde(default)]
    pub journal: JournalSection,
    #[serde(default)]
    pub seal: SealSection,
    #[serde(default)]
    pub archive: ArchiveSection,
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
    /// Shown as `observer.ingress.name`; defaults to `<transport>:<address>`.
    #[serde(default)]
    pub name: Option<String>,
    pub transport: Transport,
    pub address: SocketAddr,
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
}

/// Default of `max_connections` (TCP).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default of `max_connections_per_peer` (TCP).
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 64;
/// Default of `idle_timeout` (TCP).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

impl SyslogListener {
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => format!("{}:{}", self.transport, self.address),
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
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
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
}

impl Default for SealSection {
    fn default() -> Self {
        SealSection {
            key: None,
            max_age: default_max_age(),
            max_bytes: default_seal_max_bytes(),
            zstd_level: default_zstd_level(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSection {
    /// A directory path or `file:///absolute/path`.
    #[serde(default = "default_archive_url")]
    pub url: String,
    /// Longest wait between retries while the store is unreachable.
    #[serde(default = "default_retry_max", deserialize_with = "de_duration")]
    pub retry_max: Duration,
}

impl Default for ArchiveSection {
    fn default() -> Self {
        ArchiveSection {
            url: default_archive_url(),
            retry_max: default_retry_max(),
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
fn default_archive_url() -> String {
    "sealtrail-data/archive".to_string()
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
fn default_retry_max() -> Duration {
    Duration::from_secs(60)
}

pub(crate) fn de_from_str<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

pub(crate) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    let v = humantime::parse_duration(&s)
        .map_err(|e| serde::de::Error::custom(format!("{e} (expected e.g. \"30s\", \"5m\")")))?;
    if v.is_zero() {
        return Err(serde::de::Error::custom("must be greater than zero"));
    }
    Ok(v)
}

fn de_positive<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = u64::deserialize(d)?;
    if v == 0 {
        return Err(serde::de::Error::custom("must be greater than zero"));
    }
    Ok(v)
}

pub(crate) fn de_positive_usize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = de_positive(d)?;
    usize::try_from(v).map_err(|_| serde::de::Error::custom("too large"))
}

fn de_some_positive_usize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    de_positive_usize(d).map(Some)
}

fn de_some_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

fn de_max_message<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = de_positive_usize(d)?;
    if !(480..=16 * 1024 * 1024).contains(&v) {
        return Err(serde::de::Error::custom(
            "must be between 480 (RFC 5426 minimum) and 16777216",
        ));
    }
    Ok(v)
}

fn de_zstd_level<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let v = i32::deserialize(d)?;
    if !(1..=19).contains(&v) {
        return Err(serde::de::Error::custom("must be between 1 and 19"));
    }
    Ok(v)
}

fn de_stream<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    if !crate::segment::valid_stream_id(&s) {
        return Err(serde::de::Error::custom(
            "must be 1 to 64 characters from A-Z a-z 0-9 . _ - (not . or ..)",
        ));
    }
    Ok(Some(s))
}

impl Config {
    /// The configuration used when no file exists: what `config.example.toml` says.
    pub fn embedded() -> Config {
        let listener = |name: &str, transport| SyslogListener {
            name: Some(name.into()),
            transport,
            address: SocketAddr::from(([127, 0, 0, 1], 5514)),
            max_message_bytes: default_max_message_bytes(),
            timezone: TimeZoneSpec::Local,
            max_connections: None,
            max_connections_per_peer: None,
            idle_timeout: None,
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
            journal: JournalSection::default(),
            seal: SealSection::default(),
            archive: ArchiveSection::default(),
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

    /// Cross-field checks that a single field's deserializer cannot make.
    fn validate(&self, text: &str, origin: &Path) -> Result<(), ConfigError> {
        let invalid = |key: String, line: usize, message: String| ConfigError::Invalid {
            path: origin.to_path_buf(),
            line,
            key,
            message,
        };
        if self.sources().is_empty() {
            return Err(invalid(
                "syslog".into(),
                1,
                "at least one source is required: a [[syslog]] listener, a [[file]] or a [[journald]] source"
                    .into(),
            ));
        }
        if self.sources().len() > usize::from(u16::MAX) {
            return Err(invalid("syslog".into(), 1, "too many sources".into()));
        }
        if self.state_dir.as_os_str().is_empty() {
            return Err(invalid(
                "state_dir".into(),
                top_key_line(text, "state_dir"),
                "must not be empty".into(),
            ));
        }
        let mut seen_names = std::collections::HashSet::new();
        for (i, l) in self.syslog.iter().enumerate() {
            let name = l.display_name();
            if let Some(j) = self.syslog[..i]
                .iter()
                .position(|o| o.transport == l.transport && addrs_overlap(o.address, l.address))
            {
                let other = &self.syslog[j];
                let message = if other.address == l.address {
                    format!("{} {} is configured twice", l.transport, l.address)
                } else {
                    format!(
                        "{} {} overlaps syslog[{j}] ({}): both cannot be bound",
                        l.transport, l.address, other.address
                    )
                };
                return Err(invalid(
                    format!("syslog[{i}].address"),
                    table_key_line(text, "syslog", i, "address"),
                    message,
                ));
            }
            if l.transport == Transport::Udp {
                let tcp_only = [
                    ("max_connections", l.max_connections.is_some()),
                    (
                        "max_connections_per_peer",
                        l.max_connections_per_peer.is_some(),
                    ),
                    ("idle_timeout", l.idle_timeout.is_some()),
                ];
                if let Some((key, _)) = tcp_only.iter().find(|(_, set)| *set) {
                    return Err(invalid(
                        format!("syslog[{i}].{key}"),
                        table_key_line(text, "syslog", i, key),
                        "applies to tcp listeners only (UDP has no connections)".into(),
                    ));
                }
            }
            let limits = l.limits();
            if limits.max_per_peer > limits.max_connections {
                return Err(invalid(
                    format!("syslog[{i}].max_connections_per_peer"),
                    table_key_line(text, "syslog", i, "max_connections_per_peer"),
                    format!(
                        "{} is more than max_connections ({})",
                        limits.max_per_peer, limits.max_connections
                    ),
                ));
            }
            if !seen_names.insert(name.clone()) {
                return Err(invalid(
                    format!("syslog[{i}].name"),
                    table_key_line(text, "syslog", i, "name"),
                    format!("listener name `{name}` is used twice"),
                ));
            }
        }
        for (i, f) in self.file.iter().enumerate() {
            if let Err((key, message)) = f.check() {
                return Err(invalid(
                    format!("file[{i}].{key}"),
                    table_key_line(text, "file", i, key),
                    message,
                ));
            }
            // Names key the checkpoints and the events' observer: one per source.
            let name = f.display_name();
            if !seen_names.insert(name.clone()) {
                return Err(invalid(
                    format!("file[{i}].name"),
                    table_key_line(text, "file", i, "name"),
                    format!("source name `{name}` is used twice"),
                ));
            }
        }
        // Names are unique among all sources: each names its checkpoint file.
        for (i, j) in self.journald.iter().enumerate() {
            let at = |key: &str| table_key_line(text, "journald", i, key);
            if let Err((key, message)) = j.check() {
                return Err(invalid(format!("journald[{i}].{key}"), at(key), message));
            }
            if !seen_names.insert(j.name.clone()) {
                return Err(invalid(
                    format!("journald[{i}].name"),
                    at("name"),
                    format!(
                        "source name `{}` is used twice (it names the source's checkpoint)",
                        j.name
                    ),
                ));
            }
        }
        // The newest journal file is never reclaimed, so a cap below two files could
        // never clear: the journal refuses such options, so check-config must too.
        if self.journal.max_bytes < self.journal.file_bytes.saturating_mul(2) {
            return Err(invalid(
                "journal.max_bytes".into(),
                table_key_line(text, "journal", 0, "max_bytes"),
                format!(
                    "must be at least twice journal.file_bytes ({} bytes), is {}",
                    self.journal.file_bytes, self.journal.max_bytes
                ),
            ));
        }
        if self.status.enabled {
            // The endpoint would otherwise be a syslog listener's twin: `sealtrail status`
            // would seal its own HTTP request into the chain, or the bind would fail.
            if let Some(i) = self.syslog.iter().position(|l| {
                l.transport == Transport::Tcp && addrs_overlap(l.address, self.status.address)
            }) {
                return Err(invalid(
                    "status.address".into(),
                    table_key_line(text, "status", 0, "address"),
                    format!(
                        "{} is also the address of syslog[{i}] (tcp {}); pick another port",
                        self.status.address, self.syslog[i].address
                    ),
                ));
            }
        }
        if let Err(e) = crate::store::parse_location(&self.archive.url) {
            return Err(invalid(
                "archive.url".into(),
                table_key_line(text, "archive", 0, "url"),
                e.to_string(),
            ));
        }
        if let Err(crate::detect::DetectError::Config { key, msg }) = self.detect.validate() {
            let key = key.strip_prefix("detect.").unwrap_or(&key).to_string();
            let (table, field) = match key.rsplit_once('.') {
                Some((t, f)) => (format!("detect.{t}"), f.to_string()),
                None => ("detect".to_string(), key.clone()),
            };
            return Err(invalid(
                format!("detect.{key}"),
                table_key_line(text, &table, 0, &field),
                msg,
            ));
        }
        if let Some(url) = &self.alerts.webhook {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(
                    "alerts.webhook".into(),
                    table_key_line(text, "alerts", 0, "webhook"),
                    "must be an http:// or https:// URL".into(),
                ));
            }
        }
        if self.archive.url.trim().is_empty() {
            return Err(invalid(
                "archive.url".into(),
                table_key_line(text, "archive", 0, "url"),
                "must not be empty".into(),
            ));
        }
        Ok(())
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
    /// `[[journald]]` sources.
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
            .collect()
    }

    pub fn key_path(&self) -> PathBuf {
        self.seal
            .key
            .clone()
            .unwrap_or_else(|| self.state_dir.join("signing.key"))
    }
}

/// Whether two sockets on the same transport cannot both be bound: same port, and the
/// same address or either one the wildcard (which also takes the other family's
/// wildcard on Linux, where IPv6 sockets accept IPv4 by default).
fn addrs_overlap(a: SocketAddr, b: SocketAddr) -> bool {
    if a.port() != b.port() || a.port() == 0 {
        return false;
    }
    a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified()
}

/// Line of a top-level `key = ...` (before the first table header); 1 if absent.
fn top_key_line(text: &str, key: &str) -> usize {
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with('[') {
            break;
        }
        if let Some(rest) = t.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return n + 1;
            }
        }
    }
    1
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Line of `key` inside the `index`-th `[[array]]` (or the `[array]`) table: the
/// deserialized values carry no spans. Falls back to the table header, then to line 1.
fn table_key_line(text: &str, table: &str, index: usize, key: &str) -> usize {
    let headers = [format!("[[{table}]]"), format!("[{table}]")];
    let mut seen = 0;
    let mut in_table = false;
    let mut header_line = 1;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with('[') {
            if in_table {
                break;
            }
            if headers.iter().any(|h| t.starts_with(h.as_str())) {
                if seen == index {
                    in_table = true;
                    header_line = n + 1;
                }
                seen += 1;
            }
            continue;
        }
        if in_table {
            if let Some(rest) = t.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return n + 1;
                }
            }
        }
    }
    header_line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s, Path::new("test.toml"))
    }

    fn err(s: &str) -> (usize, String, String) {
        match parse(s) {
            Err(ConfigError::Invalid {
                line, key, message, ..
            }) => (line, key, message),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    const MINIMAL: &str = "[[syslog]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:5514\"\n";

    #[test]
    fn example_file_parses_and_matches_embedded_default() {
        let text = include_str!("../config.example.toml");
        let cfg = parse(text).unwrap();
        let emb = Config::embedded();
        assert_eq!(cfg.state_dir, emb.state_dir);
        assert_eq!(cfg.archive.url, emb.archive.url);
        assert_eq!(cfg.archive.retry_max, emb.archive.retry_max);
        assert_eq!(cfg.syslog.len(), emb.syslog.len());
        assert_eq!(cfg.journald.len(), emb.journald.len());
        for (a, b) in cfg.syslog.iter().zip(&emb.syslog) {
            assert_eq!(a.address, b.address);
            assert_eq!(a.transport, b.transport);
            assert_eq!(a.display_name(), b.display_name());
            assert_eq!(a.max_message_bytes, b.max_message_bytes);
            if a.transport == Transport::Tcp {
                assert_eq!(a.limits(), b.limits());
                assert!(
                    a.max_connections.is_some(),
                    "the example spells out the limits"
                );
            }
        }
        assert_eq!(cfg.journal.keep_free_bytes, emb.journal.keep_free_bytes);
        assert_eq!(cfg.seal.max_age, emb.seal.max_age);
        assert_eq!(cfg.seal.max_bytes, emb.seal.max_bytes);
        assert_eq!(cfg.seal.zstd_level, emb.seal.zstd_level);
        assert_eq!(cfg.journal.max_bytes, emb.journal.max_bytes);
        assert_eq!(cfg.journal.file_bytes, emb.journal.file_bytes);
        assert_eq!(cfg.detect, emb.detect);
        assert_eq!(cfg.status.address, emb.status.address);
        assert_eq!(cfg.status.enabled, emb.status.enabled);
    }

    #[test]
    fn the_example_file_source_parses_and_shows_the_defaults() {
        // The commented-out [[file]] block of config.example.toml, uncommented.
        let text = include_str!("../config.example.toml");
        let block: String = text
            .lines()
            .skip_while(|l| *l != "# [[file]]")
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l)))
            .collect();
        assert!(block.starts_with("[[file]]"), "{block}");
        let cfg = parse(&format!("{MINIMAL}{block}")).unwrap();
        let ex = &cfg.file[0];
        let dflt = parse(&format!("{MINIMAL}[[file]]\ninclude = [\"/x\"]\n")).unwrap();
        let d = &dflt.file[0];
        assert_eq!(ex.display_name(), "auth");
        assert_eq!(
            (
                ex.start_at,
                ex.max_line_bytes,
                ex.line_timeout,
                ex.rescan_interval
            ),
            (
                d.start_at,
                d.max_line_bytes,
                d.line_timeout,
                d.rescan_interval
            )
        );
        assert_eq!(
            (
                ex.release_deleted_after,
                ex.checkpoint_interval,
                ex.timezone
            ),
            (d.release_deleted_after, d.checkpoint_interval, d.timezone)
        );
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let cfg = parse(MINIMAL).unwrap();
        assert_eq!(cfg.seal.max_age, Duration::from_secs(60));
        assert_eq!(cfg.syslog[0].max_message_bytes, 65536);
        assert!(cfg.journal.fsync);
        assert_eq!(
            cfg.key_path(),
            PathBuf::from("sealtrail-data/state/signing.key")
        );
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let (line, key, msg) = err(&format!("{MINIMAL}\n[seal]\nmax_agee = \"5s\"\n"));
        assert_eq!(line, 6, "{msg}");
        assert!(key.contains("seal"), "{key}");
        assert!(msg.contains("max_agee"), "{msg}");
    }

    #[test]
    fn bad_address_names_key_and_line() {
        let (line, key, _) = err("[[syslog]]\ntransport = \"tcp\"\naddress = \"localhost\"\n");
        assert_eq!(line, 3);
        assert_eq!(key, "syslog[0].address");
    }

    #[test]
    fn bad_duration_timezone_and_transport_are_errors() {
        let (line, key, _) = err(&format!("{MINIMAL}[seal]\nmax_age = \"soon\"\n"));
        assert_eq!((line, key.as_str()), (5, "seal.max_age"));
        let (line, key, _) = err(
            "[[syslog]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:1\"\ntimezone = \"Mars/Base\"\n",
        );
        assert_eq!((line, key.as_str()), (4, "syslog[0].timezone"));
        let (line, key, _) = err("[[syslog]]\ntransport = \"sctp\"\naddress = \"127.0.0.1:1\"\n");
        assert_eq!((line, key.as_str()), (2, "syslog[0].transport"));
    }

    #[test]
    fn semantic_errors_name_key_and_line() {
        let (line, key, _) = err(&format!("stream = \"has space\"\n{MINIMAL}"));
        assert_eq!((line, key.as_str()), (1, "stream"));
        let (line, key, _) = err(&format!("{MINIMAL}[seal]\nzstd_level = 40\n"));
        assert_eq!((line, key.as_str()), (5, "seal.zstd_level"));
        let dup =
            format!("{MINIMAL}[[syslog]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:5514\"\n");
        let (line, key, _) = err(&dup);
        assert_eq!(key, "syslog[1].address");
        assert_eq!(line, 6);
        let (line, key, _) = err(&format!("{MINIMAL}[archive]\nurl = \"s4://b\"\n"));
        assert_eq!((line, key.as_str()), (5, "archive.url"));
    }

    #[test]
    fn detector_settings_are_checked_with_key_and_line() {
        let cfg = parse(&format!(
            "{MINIMAL}[detect.brute_force]\nthreshold = 3\nwindow = \"5m\"\n"
        ))
        .unwrap();
        assert_eq!(cfg.detect.brute_force.threshold, 3);
        let (line, key, _) = err(&format!(
            "{MINIMAL}[detect.brute_force]\nwindow = \"5m\"\nthreshold = 0\n"
        ));
        assert_eq!((line, key.as_str()), (6, "detect.brute_force.threshold"));
        let (line, key, _) = err(&format!("{MINIMAL}[detect.brute_force]\nthresold = 3\n"));
        assert_eq!(line, 5);
        assert!(key.contains("detect"), "{key}");
        let (line, key, _) = err(&format!("{MINIMAL}[alerts]\nwebhook = \"ftp://x\"\n"));
        assert_eq!((line, key.as_str()), (5, "alerts.webhook"));
    }

    #[test]
    fn rules_run_applies_are_checked_here_too() {
        // A journal cap below two files could never clear: `run` refuses it.
        let (line, key, msg) = err(&format!(
            "{MINIMAL}[journal]\nfile_bytes = 1048576\nmax_bytes = 1048577\n"
        ));
        assert_eq!((line, key.as_str()), (6, "journal.max_bytes"), "{msg}");
        let ok = format!("{MINIMAL}[journal]\nfile_bytes = 1048576\nmax_bytes = 2097152\n");
        assert!(parse(&ok).is_ok());
        // An empty state directory.
        let (line, key, _) = err(&format!("state_dir = \"\"\n{MINIMAL}"));
        assert_eq!((line, key.as_str()), (1, "state_dir"));
        // The status endpoint on a syslog TCP address (also through a wildcard).
        let (line, key, msg) = err(&format!(
            "{MINIMAL}[status]\naddress = \"127.0.0.1:5514\"\n"
        ));
        assert_eq!((line, key.as_str()), (5, "status.address"), "{msg}");
        let (_, key, _) = err(
            "[[syslog]]\ntransport = \"tcp\"\naddress = \"0.0.0.0:6000\"\n[status]\naddress = \"127.0.0.1:6000\"\n",
        );
        assert_eq!(key, "status.address");
        // A UDP listener on that port is no conflict, nor a disabled endpoint.
        let udp = "[[syslog]]\ntransport = \"udp\"\naddress = \"127.0.0.1:6000\"\n";
        assert!(parse(&format!("{udp}[status]\naddress = \"127.0.0.1:6000\"\n")).is_ok());
        assert!(parse(&format!(
            "{MINIMAL}[status]\nenabled = false\naddress = \"127.0.0.1:5514\"\n"
        ))
        .is_ok());
        // Two listeners that cannot both be bound.
        let (line, key, msg) = err(&format!(
            "{MINIMAL}[[syslog]]\ntransport = \"tcp\"\naddress = \"0.0.0.0:5514\"\n"
        ));
        assert_eq!((line, key.as_str()), (6, "syslog[1].address"), "{msg}");
        assert!(msg.contains("overlaps"), "{msg}");
    }

    #[test]
    fn connection_limits_have_defaults_and_are_checked() {
        let l = parse(MINIMAL).unwrap().syslog[0].limits();
        assert_eq!(l.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(l.max_per_peer, DEFAULT_MAX_CONNECTIONS_PER_PEER);
        assert_eq!(l.idle_timeout, DEFAULT_IDLE_TIMEOUT);
        let cfg = parse(&format!(
            "{MINIMAL}max_connections = 10\nmax_connections_per_peer = 2\nidle_timeout = \"30s\"\n"
        ))
        .unwrap();
        let l = cfg.syslog[0].limits();
        assert_eq!((l.max_connections, l.max_per_peer), (10, 2));
        assert_eq!(l.idle_timeout, Duration::from_secs(30));
        let (line, key, _) = err(&format!("{MINIMAL}max_connections = 0\n"));
        assert_eq!((line, key.as_str()), (4, "syslog[0].max_connections"));
        let (line, key, _) = err(&format!(
            "{MINIMAL}max_connections = 4\nmax_connections_per_peer = 5\n"
        ));
        assert_eq!(
            (line, key.as_str()),
            (5, "syslog[0].max_connections_per_peer")
        );
        let (line, key, _) = err(
            "[[syslog]]\ntransport = \"udp\"\naddress = \"127.0.0.1:1\"\nidle_timeout = \"1m\"\n",
        );
        assert_eq!((line, key.as_str()), (4, "syslog[0].idle_timeout"));
    }

    #[test]
    fn file_sources_are_parsed_ordered_and_checked_with_key_and_line() {
        let cfg = parse(&format!(
            "{MINIMAL}[[file]]\ninclude = [\"/var/log/auth.log\"]\nstart_at = \"beginning\"\n"
        ))
        .unwrap();
        assert_eq!(cfg.file.len(), 1);
        let sources = cfg.sources();
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[1].type_name(), "file");
        assert_eq!(sources[1].name(), "file:/var/log/auth.log");
        // A file source alone is enough.
        assert!(parse("[[file]]\ninclude = [\"/var/log/*.log\"]\n").is_ok());
        let (line, key, _) = err(&format!(
            "{MINIMAL}[[file]]\ninclude = [\"/a\"]\nstart_at = \"now\"\n"
        ));
        assert_eq!((line, key.as_str()), (6, "file[0].start_at"));
        let (line, key, _) = err(&format!(
            "{MINIMAL}[[file]]\ninclude = [\"/a\"]\n[[file]]\nname = \"x\"\ninclude = [\"/b\"]\nexclude = [\"/b/[\"]\n"
        ));
        assert_eq!((line, key.as_str()), (9, "file[1].exclude"));
        let (line, key, _) = err(&format!("{MINIMAL}[[file]]\ninclude = []\n"));
        assert_eq!((line, key.as_str()), (5, "file[0].include"));
        let (line, key, msg) = err(&format!(
            "{MINIMAL}[[file]]\nname = \"tcp:127.0.0.1:5514\"\ninclude = [\"/a\"]\n"
        ));
        assert_eq!((line, key.as_str()), (5, "file[0].name"), "{msg}");
        let (line, key, _) = err(&format!(
            "{MINIMAL}[[file]]\ninclude = [\"/a\"]\nline_timeout = \"0s\"\n"
        ));
        assert_eq!((line, key.as_str()), (6, "file[0].line_timeout"));
        let (_, key, _) = err(&format!(
            "{MINIMAL}[[file]]\ninclude = [\"/a\"]\npoll = 1\n"
        ));
        assert!(key.starts_with("file[0]"), "{key}");
    }

    #[test]
    fn journald_sources_are_checked_with_key_and_line() {
        // A journald source alone is a valid configuration; it comes after the syslog
        // listeners in source order.
        let cfg = parse("[[journald]]\n").unwrap();
        assert_eq!(cfg.journald[0].name, "journald");
        let cfg = parse(&format!("{MINIMAL}[[journald]]\nname = \"j\"\n")).unwrap();
        let names: Vec<String> = cfg.sources().iter().map(|s| s.name()).collect();
        assert_eq!(names, ["tcp:127.0.0.1:5514", "j"]);
        assert_eq!(cfg.sources()[1].type_name(), "journald");
        let (line, key, _) = err(&format!(
            "{MINIMAL}[[journald]]\n[[journald]]\nunits = [\"ssh.service\"]\n"
        ));
        assert_eq!((line, key.as_str()), (5, "journald[1].name"));
        let (line, key, msg) = err(&format!(
            "{MINIMAL}name = \"j\"\n[[journald]]\nname = \"j\"\n"
        ));
        assert_eq!((line, key.as_str()), (6, "journald[0].name"), "{msg}");
        let (line, key, _) = err("[[journald]]\ndirectory = \"/a\"\nfiles = [\"/b\"]\n");
        assert_eq!((line, key.as_str()), (3, "journald[0].files"));
        let (line, key, _) = err("[[journald]]\nmatches = [\"x=y\"]\n");
        assert_eq!((line, key.as_str()), (2, "journald[0].matches"));
        let (line, key, _) = err("[[journald]]\nsince = \"yesterday\"\n");
        assert_eq!((line, key.as_str()), (2, "journald[0].since"));
        let (line, key, _) = err("[[journald]]\nrestart_backoff = \"0s\"\n");
        assert_eq!((line, key.as_str()), (2, "journald[0].restart_backoff"));
        let (line, key, _) = err("[[journald]]\n\nmax_entry_bytes = 10\n");
        assert_eq!((line, key.as_str()), (3, "journald[0].max_entry_bytes"));
    }

    #[test]
    fn the_documented_journald_table_parses_with_every_key() {
        // config.example.toml documents [[journald]] commented out: uncommented (one of
        // directory and files), every key it shows must be accepted.
        let text = include_str!("../config.example.toml");
        let start = text.find("# [[journald]]").expect("documented");
        let block = &text[start..text[start..].find("\n\n").map_or(text.len(), |e| start + e)];
        let mut table = String::new();
        for line in block.lines() {
            let l = line.trim_start_matches("# ");
            let is_key = l
                .split_once(" = ")
                .is_some_and(|(k, _)| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            if l == "[[journald]]" || (is_key && !l.starts_with("directory")) {
                table.push_str(l);
                table.push('\n');
            }
        }
        let cfg = parse(&table).unwrap();
        let j = &cfg.journald[0];
        assert_eq!(j.files.as_ref().map(Vec::len), Some(1), "{table}");
        assert_eq!(j.units, ["ssh.service"]);
        assert_eq!(
            j.max_entry_bytes,
            crate::source::journald::config::DEFAULT_MAX_ENTRY_BYTES
        );
        assert_eq!(
            j.restart_backoff,
            crate::source::journald::config::DEFAULT_RESTART_BACKOFF
        );
        assert_eq!(
            table.lines().count(),
            10,
            "every key but directory: {table}"
        );
    }

    #[test]
    fn no_listener_is_an_error() {
        let (_, key, _) = err("state_dir = \"/tmp/x\"\n");
        assert_eq!(key, "syslog");
    }

    #[test]
    fn syntax_error_has_line() {
        let (line, _, _) = err("[[syslog]]\ntransport = \"tcp\nx\n");
        assert_eq!(line, 2);
    }
}
