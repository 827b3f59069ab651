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
pub mod filter;
pub mod rfc5424;
pub mod syslog;
pub mod tls;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Mutex;

use serde::Deserialize;

/// `[[forward]]`: one output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    /// Names its journal cursor (`forward-<name>`), its metrics and its log lines.
    pub name: String,
    /// What it speaks: `syslog` (RFC 5424).
    #[serde(rename = "type")]
    pub kind: ForwardKind,
    /// `host:port` of the receiver, resolved at each connect.
    pub address: String,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardKind {
    Syslog,
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
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    #[default]
    End,
    Beginning,
}

impl ForwardConfig {
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
