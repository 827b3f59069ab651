//! Forwarders: outputs that read the journal with a durable cursor of their own and
//! send each event on to a SIEM. A forwarder never slows sealing: it runs on its own
//! thread, from its own cursor. It does hold journal space: until it has delivered an
//! event, the journal keeps it (up to `journal.max_bytes`, then sources are slowed).
//!
//! Delivery is at least once. Plain TCP says nothing about what the receiver got, so an
//! event counts as delivered once it was written and the connection was still healthy
//! [`consumer::COMMIT_DELAY`] later; after a failure, everything since the last
//! delivered position is sent again (and counted as resent).

pub mod consumer;
pub mod deadletter;
pub mod filter;
pub mod hec_ack;
pub mod http;
pub mod rfc5424;
pub mod syslog;
pub mod tls;
pub mod webhook;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Mutex;

use serde::Deserialize;

/// `[[forward]]`: one output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    /// Names its journal cursor (`forward-<name>`), its metrics and its log lines.
    pub name: String,
    /// What it speaks: `syslog` (RFC 5424), `http` (newline-delimited ECS JSON),
    /// `elasticsearch` (the `_bulk` API; OpenSearch alike) or `splunk_hec` (Splunk's
    /// HTTP Event Collector, `/services/collector/event`).
    #[serde(rename = "type")]
    pub kind: ForwardKind,
    /// syslog: `host:port` of the receiver, resolved at each connect.
    #[serde(default)]
    pub address: Option<String>,
    /// http: the URL batches are POSTed to; elasticsearch: the cluster's URL (`/_bulk`
    /// is added); splunk_hec: the collector's URL (`/services/collector/event` is added).
    #[serde(default)]
    pub url: Option<String>,
    /// elasticsearch: the index (or data stream) events go to. Default `sealtrail`.
    #[serde(default)]
    pub index: Option<String>,
    /// http, elasticsearch: gzip the request bodies.
    #[serde(default)]
    pub gzip: bool,
    /// http, elasticsearch: the `Authorization` header's value, read from this file
    /// (e.g. `ApiKey ...`, `Basic ...`) or this environment variable at start.
    #[serde(default)]
    pub authorization_file: Option<std::path::PathBuf>,
    #[serde(default)]
    pub authorization_env: Option<String>,
    /// `tcp` (RFC 6587 octet counting, the default) or `udp` (one datagram each).
    #[serde(default)]
    pub transport: ForwardTransport,
    /// APP-NAME of every message; unset: the event's own, else `sealtrail`.
    #[serde(default)]
    pub app_name: Option<String>,
    /// HOSTNAME of every message; unset: the event's own, else the stream id.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Facility (0-23) of every message; unset: the event's own, else user (1).
    #[serde(default)]
    pub facility: Option<u8>,
    /// When the journal is full and this forwarder is the one holding it: `block` (the
    /// default: sources are slowed until it catches up) or `drop_oldest` (it skips to
    /// what the sealer has sealed, for this forwarder only; the skipped events are
    /// counted and stay in the archive).
    #[serde(default)]
    pub policy: LagPolicy,
    /// Which events to send; unset: all of them.
    #[serde(default)]
    pub only: filter::Filter,
    /// TLS (RFC 5425) over the TCP connection; unset: plain TCP.
    #[serde(default)]
    pub tls: Option<tls::TlsSection>,
    /// Where a new forwarder starts: `end` (events from now on, the default) or
    /// `beginning` (everything the journal still holds).
    #[serde(default)]
    pub start_at: StartAt,
    /// splunk_hec, when the token has indexer acknowledgement on: how long a batch may
    /// wait for its acknowledgement before it is sent again (from the cursor).
    #[serde(
        default = "default_ack_timeout",
        deserialize_with = "crate::config::de::de_duration"
    )]
    pub ack_timeout: std::time::Duration,
}

fn default_ack_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(300)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardKind {
    Syslog,
    Http,
    Elasticsearch,
    SplunkHec,
}

impl ForwardKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardKind::Syslog => "syslog",
            ForwardKind::Http => "http",
            ForwardKind::Elasticsearch => "elasticsearch",
            ForwardKind::SplunkHec => "splunk_hec",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardTransport {
    #[default]
    Tcp,
    Udp,
}

impl ForwardTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardTransport::Tcp => "tcp",
            ForwardTransport::Udp => "udp",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LagPolicy {
    #[default]
    Block,
    DropOldest,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    #[default]
    End,
    Beginning,
}

impl ForwardConfig {
    /// The `Authorization` header's value, from its file or environment variable.
    pub fn authorization(&self) -> Result<Option<String>, String> {
        crate::config::secret::read(
            "authorization",
            self.authorization_file.as_deref(),
            self.authorization_env.as_deref(),
        )
    }

    /// The journal cursor's name.
    pub fn cursor_name(&self) -> String {
        format!("forward-{}", self.name)
    }

    /// A name fit for a cursor file and a metric label.
    pub fn valid_name(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    }
}

/// Live figures of one forwarder, for `status` and `/metrics`.
#[derive(Debug, Default)]
pub struct ForwardStats {
    pub sent_events: AtomicU64,
    pub sent_bytes: AtomicU64,
    /// Events sent again after a failure (the at-least-once window).
    pub resent_events: AtomicU64,
    /// Records that could not be decoded, logged and skipped.
    pub undecodable: AtomicU64,
    /// Events the forwarder's `only` filter left out.
    pub filtered: AtomicU64,
    /// Events the receiver refused for good, written to the dead-letter file.
    pub dead_lettered: AtomicU64,
    /// Events skipped under `policy = "drop_oldest"` (never sent; sealed in the archive).
    pub dropped: AtomicU64,
    pub errors: AtomicU64,
    pub connected: AtomicBool,
    /// Journal position up to which everything is delivered (the cursor).
    pub delivered_position: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ForwardStats {
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_error(&self, e: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }
}

/// A forwarder as the status endpoint sees it.
#[derive(Clone, Debug)]
pub struct ForwardHandle {
    pub name: String,
    pub kind: &'static str,
    pub stats: std::sync::Arc<ForwardStats>,
}

/// One configured forwarder, ready to run: its TLS client is built and its
/// `Authorization` read, so a mistake in either stops the start (exit 78), not the
/// forwarder later.
pub struct Forwarder {
    pub cfg: ForwardConfig,
    pub tls: Option<tls::TlsClient>,
    pub authorization: Option<String>,
    pub journal: crate::journal::Journal,
    /// Its own copy: the normaliser keeps caches.
    pub normaliser: crate::normalise::Normaliser,
    pub stream: String,
    pub stats: std::sync::Arc<ForwardStats>,
    /// Where its dead-letter file goes.
    pub dead_letter_dir: std::path::PathBuf,
}

impl crate::journal::consumer::JournalConsumer for Forwarder {
    fn name(&self) -> String {
        self.cfg.cursor_name()
    }
    fn stage(&self) -> crate::journal::consumer::Stage {
        crate::journal::consumer::Stage::Reads
    }
    fn essential(&self) -> bool {
        false // it retries for ever; the sealer never depends on it
    }
    fn run(
        self: Box<Self>,
        stop: &std::sync::Arc<AtomicBool>,
    ) -> Result<(), crate::journal::consumer::ConsumerError> {
        self.forward(stop);
        Ok(())
    }
}

impl Forwarder {
    /// Runs until `stop` (then drains, bounded).
    fn forward(self, stop: &AtomicBool) {
        let Forwarder {
            cfg,
            tls,
            authorization,
            journal,
            normaliser,
            stream,
            stats,
            dead_letter_dir,
        } = self;
        let consumer = consumer::Consumer {
            name: cfg.name.clone(),
            cursor_name: cfg.cursor_name(),
            journal,
            normaliser,
            stream: stream.clone(),
            start_at: cfg.start_at,
            policy: cfg.policy,
            filter: cfg.only.clone(),
            stats: stats.clone(),
        };
        match cfg.kind {
            ForwardKind::Syslog => {
                let mut sink = syslog::SyslogSink::new(&cfg, &stream, tls);
                tracing::info!(forwarder = %cfg.name, address = cfg.address.as_deref().unwrap_or(""), transport = sink.transport_name(), "forwarding events as RFC 5424 syslog");
                consumer.run(&mut sink, stop);
            }
            ForwardKind::Http | ForwardKind::Elasticsearch | ForwardKind::SplunkHec => {
                let base = cfg.url.clone().unwrap_or_default();
                let url = match cfg.kind {
                    ForwardKind::Elasticsearch => {
                        format!("{}/_bulk", base.trim_end_matches('/'))
                    }
                    ForwardKind::SplunkHec => {
                        format!("{}/services/collector/event", base.trim_end_matches('/'))
                    }
                    _ => base,
                };
                let dead = deadletter::DeadLetter {
                    path: dead_letter_dir.join(format!("{}.ndjson", cfg.name)),
                    forwarder: cfg.name.clone(),
                    stats: stats.clone(),
                };
                tracing::info!(forwarder = %cfg.name, %url, kind = cfg.kind.as_str(), "forwarding events as ECS JSON over HTTP");
                let mut sink = http::HttpSink::new(&cfg, url, authorization, &stream, dead);
                consumer.run(&mut sink, stop);
            }
        }
    }
}

/// An authentication event's fields, for the tests of the outputs.
#[cfg(test)]
pub(crate) fn sample_auth(outcome: &'static str) -> crate::event::SealedAuth<'static> {
    use std::borrow::Cow;
    crate::event::SealedAuth {
        category: crate::event::Keywords::Static(&["authentication"]),
        kind_type: crate::event::Keywords::Static(&["start"]),
        action: Cow::Borrowed("ssh_login"),
        outcome: Cow::Borrowed(outcome),
        reason: None,
        user: None,
        user_id: None,
        target_user: None,
        source_ip: None,
        source_port: None,
        source_domain: None,
        attempts: 1,
        method: None,
        service: None,
        tty: None,
        pwd: None,
        command: None,
        session_id: None,
        exe: None,
    }
}
