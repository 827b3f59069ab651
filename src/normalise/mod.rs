//! Normalisation: an ingest record becomes one ECS event, rendered as a JSON line.
//!
//! [`Normaliser::decode`] is *the* decode step: record in, [`Event`] and its
//! authentication facts out, a pure function of the record (and the configured
//! sources' names and zones). The sealer, the detector (also when it catches up after
//! a restart) and `sealtrail replay` all go through it, so they see the same event for
//! the same record. The year of an RFC 3164 timestamp is inferred from the record's
//! *received* time, not from "now", so decoding the same journal record again after a
//! crash gives the very same line. [`Normaliser::write`] renders a decoded event.
//!
//! By record kind: a syslog message and a file line are parsed as syslog text
//! (`syslog`); a systemd journal entry's fields are mapped (`journald`); an application
//! audit event's object is read by [`crate::event::audit`].
//!
//! Parsing syslog text uses `syslog_loose`, with fixes for what it gets wrong or cannot
//! know:
//!
//! * it never fails on its own; with the exact API it reports input that has neither a
//!   valid RFC 5424 header nor an RFC 3164 timestamp. Such input with a PRI is kept as
//!   a PRI-only message (`<27>xapi: text`: PRI, tag, message; a second PRI from a relay,
//!   `<13><13>Nov …`, is unwrapped), and input without one is a raw event tagged
//!   `_parse_failure` whose message is the whole line;
//! * a hostname directly followed by `:` is a tag: the `/dev/log` form
//!   `<13>Nov 22 10:00:00 prog: msg` has no hostname (rsyslog reads it the same way);
//! * structured data does not exist in RFC 3164: a leading `[…]` stays in the message;
//! * time zones: timestamps that carry no zone (RFC 3164) are read in the listener's
//!   zone, through a per-listener offset cache (no zone lookup per message);
//! * a UTF-8 BOM at the start of an RFC 5424 message is dropped from `message`.
//!
//! # Event line
//!
//! What is sealed for a record is its compact line (`crate::event::compact`); its ECS
//! rendering is in `crate::event::ecs`. [`Normaliser::sealed`] gives the view both are
//! written from.

mod decode;
mod journald;
mod sealed;
mod syslog;
mod time;

use std::borrow::Cow;
use std::net::SocketAddr;

use syslog_loose::StructuredElement;

use crate::auth::AuthEvent;
use crate::event::ecs::EcsWriter;
use crate::record::{RecordFlags, RecordKind};
pub use decode::{Decoded, Input};
pub use journald::JournalMeta;
use time::ZoneCache;
pub use time::{TimeZoneError, TimeZoneSpec};

pub use crate::event::ecs::{facility_name, severity_name};

/// The PROCID / `[pid]` of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcId<'a> {
    /// Numeric.
    Pid(i32),
    /// Anything else.
    Name(&'a str),
}

/// A parsed record: what later stages work on. Borrows the record and its text.
#[derive(Clone, Debug, PartialEq)]
pub struct Event<'a> {
    /// When the record was received (ns since the Unix epoch).
    pub received_ns: i64,
    /// What the record was.
    pub kind: RecordKind,
    /// Index of the configured source that took it.
    pub source: u16,
    /// Sender, for syslog messages.
    pub peer: Option<SocketAddr>,
    /// The sender's verified TLS client identity (see [`crate::record`]), for syslog
    /// over TLS with client certificates.
    pub tls_client: Option<&'a str>,
    /// The sending process's credentials, from a local socket.
    pub cred: Option<crate::record::PeerCred>,
    /// An application audit event, read from its object.
    pub audit: Option<&'a crate::event::audit::AuditEvent<'a>>,
    /// The file and the line's byte offset in it, for file lines.
    pub file: Option<(&'a [u8], u64)>,
    /// What a systemd journal entry adds, for journal entries.
    pub journal: Option<JournalMeta<'a>>,
    /// Framing flags from the source.
    pub record_flags: RecordFlags,
    /// The raw bytes, verbatim.
    pub raw: &'a [u8],
    /// The raw bytes as text (lossy if `invalid_utf8`).
    pub original: &'a str,
    /// The raw bytes are not valid UTF-8.
    pub invalid_utf8: bool,
    /// Neither a syslog header nor a PRI was recognised: a raw event.
    pub parse_failure: bool,
    /// The message's own time, in UTC (ns since the epoch), when it has a usable one.
    pub timestamp_ns: Option<i64>,
    /// PRI (0..=191).
    pub priority: Option<u8>,
    /// RFC 5424 VERSION.
    pub version: Option<u32>,
    /// HOSTNAME.
    pub hostname: Option<&'a str>,
    /// APP-NAME / tag.
    pub appname: Option<&'a str>,
    /// PROCID / `[pid]`.
    pub procid: Option<ProcId<'a>>,
    /// RFC 5424 MSGID.
    pub msgid: Option<&'a str>,
    /// RFC 5424 structured data; parameter values still carry their RFC 5424 escapes.
    pub structured_data: Vec<StructuredElement<&'a str>>,
    /// The free-text message.
    pub message: &'a str,
}

impl<'a> Event<'a> {
    /// Facility code.
    pub fn facility(&self) -> Option<u8> {
        self.priority.map(|p| p >> 3)
    }

    /// Severity code.
    pub fn severity(&self) -> Option<u8> {
        self.priority.map(|p| p & 7)
    }

    /// Numeric process id, when the PROCID is one.
    pub fn pid(&self) -> Option<u32> {
        match self.procid {
            Some(ProcId::Pid(p)) => u32::try_from(p).ok(),
            _ => None,
        }
    }

    /// The event's time: the message's own, else when it was received.
    pub fn time_ns(&self) -> i64 {
        self.timestamp_ns.unwrap_or(self.received_ns)
    }

    /// The audit meaning of this line, when it is authentication-related (sshd, PAM,
    /// sudo, su, logind, auditd). Raw events are matched on their whole text so that
    /// auditd lines that arrive without a syslog header are still recognised.
    pub fn auth(&self) -> Option<AuthEvent<'a>> {
        if self.kind == RecordKind::App {
            return None;
        }
        crate::auth::recognise(self.appname.unwrap_or(""), self.pid(), self.message)
    }

    /// rsyslog's `message repeated N times: [ text]` (N and the repeated text), so a
    /// detector can count the repetitions.
    pub fn repeated(&self) -> Option<(u32, &'a str)> {
        let rest = self.message.strip_prefix("message repeated ")?;
        let (n, rest) = rest.split_once(' ')?;
        let n: u32 = n.parse().ok()?;
        let inner = rest.strip_prefix("times: [")?.strip_suffix(']')?;
        Some((n, inner.trim_start()))
    }
}

/// Per-source decoding context.
struct ListenerCtx {
    zone: ZoneCache,
    /// The source's name: `observer.ingress.name`.
    name: String,
    /// A local socket's: the local host name, for its messages that carry none.
    local_host: Option<String>,
}

/// Turns ingest records into events. Holds caches, hence `&mut self`.
pub struct Normaliser {
    /// Names the stream in `event.id`.
    stream: String,
    listeners: Vec<ListenerCtx>,
    /// For records whose listener index is not configured (e.g. removed from the
    /// config since): UTC and no observer name.
    unknown_zone: ZoneCache,
    ecs: EcsWriter,
    /// What earlier lines of each SSH connection said (bounded; see
    /// [`crate::auth::Connections`]).
    connections: crate::auth::Connections,
}

impl Normaliser {
    /// `stream` names this event stream in `event.id`; `listeners` are indexed by the
    /// records' source index (config order): name and zone for zone-less timestamps.
    pub fn new(stream: &str, listeners: Vec<(String, TimeZoneSpec)>) -> Self {
        let listeners = listeners
            .into_iter()
            .map(|(name, tz)| ListenerCtx {
                zone: ZoneCache::new(tz),
                name,
                local_host: None,
            })
            .collect();
        Normaliser {
            stream: stream.to_string(),
            listeners,
            unknown_zone: ZoneCache::new(TimeZoneSpec::Utc),
            ecs: EcsWriter::default(),
            connections: crate::auth::Connections::new(),
        }
    }

    /// Marks the sources at `indexes` as local sockets: a message of theirs without a
    /// hostname (glibc's `syslog(3)` sends none) was written on this host, so its
    /// `host.name` is `host` (taken once, when the daemon starts), and that is sealed
    /// with it. A message that names a host keeps its own.
    pub fn with_local_host(mut self, host: &str, indexes: &[u16]) -> Self {
        for &i in indexes {
            if let Some(l) = self.listeners.get_mut(usize::from(i)) {
                l.local_host = Some(host.to_string());
            }
        }
        self
    }

    fn zone_mut(&mut self, index: u16) -> &mut ZoneCache {
        match self.listeners.get_mut(usize::from(index)) {
            Some(l) => &mut l.zone,
            None => &mut self.unknown_zone,
        }
    }

    /// Appends the ECS line (no `\n`) of `record` to `out`. Never fails: bad input
    /// becomes a raw event with flags.
    pub fn render(
        &mut self,
        position: u64,
        record: &crate::record::IngestRecord<'_>,
        out: &mut Vec<u8>,
    ) {
        let input = Input::of(record);
        let d = self.decode(record, &input);
        self.write(position, &d.event, d.auth.as_ref(), out);
    }
}

/// The raw bytes as text: borrowed when valid UTF-8, else a lossy copy.
pub fn record_text(raw: &[u8]) -> Cow<'_, str> {
    // `from_utf8` has a fast ASCII path; `from_utf8_lossy` is several times slower on
    // valid input, so it is only used when the bytes are not UTF-8.
    match std::str::from_utf8(raw) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(raw),
    }
}

#[cfg(test)]
mod tests;
