//! The sealed event: what a segment line holds for one received record, and the ECS
//! event rendered from it.
//!
//! What is sealed (hashed into the Merkle tree, compressed, signed) is the *compact*
//! line ([`compact`]): the original bytes verbatim plus only what cannot be recovered
//! from them — when and where the record was received, the source that took it, its
//! framing flags, and the parse result (the message as an offset into the original,
//! the few header fields, the time the parser resolved, the audit meaning). Full ECS is
//! rendered from it ([`ecs`]), deterministically and without the configuration that
//! produced it, by `inspect`, by the forwarders and by any export. Sealing ~390 bytes
//! (version 3, the benchmark's mix of ~150-byte lines) instead of the ~830 of the ECS
//! line (which repeats the message inside `event.original` and the host and process
//! inside `log.syslog.*`) more than halves what compression, the Merkle leaves and the
//! writes cost per event.
//!
//! The format is specified in `docs/FORMAT.md` §10. This module stands apart from the
//! daemon: the verifier and the auditor's tools read segments through it.
//!
//! A segment line that does not begin with one of [`COMPACT_PREFIXES`] is an ECS event as
//! written (the detector's alerts, the daemon's own events, and every line of segments
//! sealed before the compact line existed): [`render_ecs`] passes it through.

pub mod audit;
pub mod compact;
pub mod ecs;
pub(crate) mod json;
mod lines;
pub(crate) mod time;

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use serde_json::value::RawValue;
use syslog_loose::StructuredElement;

pub use lines::EcsLines;

/// The bytes every compact line this build writes begins with: `{"v":3,`.
pub const COMPACT_PREFIX: &[u8] = b"{\"v\":3,";

/// The beginnings of the compact line versions this build reads (`docs/FORMAT.md`
/// §10): version 2, of archives sealed before version 3, and version 3.
pub const COMPACT_PREFIXES: [&[u8]; 2] = [b"{\"v\":2,", COMPACT_PREFIX];

/// What follows the `{"v":N,` of a compact line of a version this build reads.
pub fn compact_body(line: &[u8]) -> Option<&[u8]> {
    COMPACT_PREFIXES.iter().find_map(|p| line.strip_prefix(*p))
}

/// Why a segment line could not be read as a sealed event.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Not JSON, a member of the wrong type, or an unknown member.
    #[error("not a compact event line: {0}")]
    Json(#[from] serde_json::Error),
    /// A line that begins like a compact line of another version.
    #[error("unsupported event line version {0}")]
    Version(u64),
    /// Valid JSON whose values contradict each other or the format.
    #[error("invalid compact event line: {0}")]
    Invalid(String),
}

/// ECS `tags` an event can carry, as bits (in their ECS order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tags(u8);

impl Tags {
    pub const PARSE_FAILURE: Tags = Tags(1);
    pub const TRUNCATED: Tags = Tags(2);
    pub const INCOMPLETE: Tags = Tags(4);
    pub const INVALID_UTF8: Tags = Tags(8);
    /// Every tag with its ECS spelling, in the order they are written.
    pub const NAMES: [(Tags, &'static str); 4] = [
        (Tags::PARSE_FAILURE, "_parse_failure"),
        (Tags::TRUNCATED, "_truncated"),
        (Tags::INCOMPLETE, "_incomplete"),
        (Tags::INVALID_UTF8, "_invalid_utf8"),
    ];

    pub fn contains(self, t: Tags) -> bool {
        self.0 & t.0 == t.0
    }

    pub fn set(&mut self, t: Tags, on: bool) {
        if on {
            self.0 |= t.0;
        } else {
            self.0 &= !t.0;
        }
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The tag spelled `name`.
    pub fn from_name(name: &str) -> Option<Tags> {
        Tags::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(t, _)| *t)
    }
}

/// Where the message (ECS `message`) is: inside the original text, or a text of its
/// own (a journal entry's `MESSAGE` with escapes, for example).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// Byte range of the original text.
    Span(usize, usize),
    /// Its own text.
    Text(Cow<'a, str>),
}

/// RFC 5424 PROCID / the `[pid]` of a tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcId<'a> {
    Pid(i32),
    Name(Cow<'a, str>),
}

/// RFC 5424 structured data: parsed (while sealing) or as the JSON object a compact
/// line holds (`{"SD-ID":{"name":"value" | ["v1","v2"]}}`). Both render alike.
#[derive(Clone, Debug)]
pub enum StructuredData<'a> {
    None,
    /// Parameter values still carry their RFC 5424 escapes.
    Parsed(&'a [StructuredElement<&'a str>]),
    Json(&'a RawValue),
}

/// A list of ECS keywords (`event.category`, `event.type`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Keywords<'a> {
    Static(&'static [&'static str]),
    Parsed(Vec<Cow<'a, str>>),
    /// A list held elsewhere (an audit event's).
    Borrowed(&'a [Cow<'a, str>]),
}

impl Keywords<'_> {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (a, b): (&[&'static str], &[Cow<'_, str>]) = match self {
            Keywords::Static(s) => (s, &[]),
            Keywords::Parsed(v) => (&[], v),
            Keywords::Borrowed(v) => (&[], v),
        };
        a.iter().copied().chain(b.iter().map(|c| c.as_ref()))
    }
}

/// The audit meaning the recognisers gave a line, as sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedAuth<'a> {
    pub category: Keywords<'a>,
    pub kind_type: Keywords<'a>,
    pub action: Cow<'a, str>,
    pub outcome: Cow<'a, str>,
    pub reason: Option<Cow<'a, str>>,
    /// ECS `user.name` (never empty).
    pub user: Option<Cow<'a, str>>,
    pub user_id: Option<u32>,
    /// ECS `user.target.name` (never empty).
    pub target_user: Option<Cow<'a, str>>,
    pub source_ip: Option<IpAddr>,
    pub source_port: Option<u16>,
    pub source_domain: Option<Cow<'a, str>>,
    pub attempts: u32,
    pub method: Option<Cow<'a, str>>,
    pub service: Option<Cow<'a, str>>,
    pub tty: Option<Cow<'a, str>>,
    pub pwd: Option<Cow<'a, str>>,
    pub command: Option<Cow<'a, str>>,
    pub session_id: Option<Cow<'a, str>>,
    pub exe: Option<Cow<'a, str>>,
}

/// What a systemd journal entry adds (ECS has no fields for these).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SealedJournal<'a> {
    pub cursor: Option<Cow<'a, str>>,
    pub unit: Option<Cow<'a, str>>,
    pub comm: Option<Cow<'a, str>>,
    pub transport: Option<Cow<'a, str>>,
    pub uid: Option<u32>,
}

/// One sealed event: everything its compact line and its ECS rendering hold.
#[derive(Clone, Debug)]
pub struct SealedEvent<'a> {
    /// Journal position of the record: `event.id` is `<stream>:<position>`.
    pub position: u64,
    /// When the record was received (unix ns): `event.created`.
    pub received_ns: i64,
    /// Name of the source that took it: `observer.ingress.name`.
    pub ingress: Option<Cow<'a, str>>,
    /// Sender of a syslog message: `log.source.address`.
    pub peer: Option<SocketAddr>,
    /// The sender's verified TLS client certificate: its subject's distinguished name,
    /// then its names, each after a unit separator (`0x1F`): `tls.client.subject` and
    /// `tls.client.x509.alternative_names`.
    pub tls_client: Option<Cow<'a, str>>,
    /// The sending process's credentials on a local socket: `sealtrail.peer.*`.
    pub cred: Option<crate::record::PeerCred>,
    /// File (as text) and byte offset of a file line: `log.file.path`, `log.offset`.
    pub file: Option<(Cow<'a, str>, u64)>,
    /// The received bytes as text (lossy when they are not UTF-8): `event.original`.
    pub original: Cow<'a, str>,
    /// The exact bytes when they are not UTF-8: `sealtrail.original_base64`.
    pub original_bytes: Option<Cow<'a, [u8]>>,
    /// The message's own time as the parser resolved it: `@timestamp` (else received).
    pub timestamp_ns: Option<i64>,
    pub priority: Option<u8>,
    pub version: Option<u32>,
    pub hostname: Option<Cow<'a, str>>,
    pub appname: Option<Cow<'a, str>>,
    pub procid: Option<ProcId<'a>>,
    pub msgid: Option<Cow<'a, str>>,
    pub structured_data: StructuredData<'a>,
    pub message: Message<'a>,
    pub tags: Tags,
    pub auth: Option<SealedAuth<'a>>,
    pub journal: Option<SealedJournal<'a>>,
    /// An application audit event: the original object, read ([`audit`]).
    pub audit: Option<audit::AuditEvent<'a>>,
}

impl SealedEvent<'_> {
    /// ECS `message`. An audit event without a message of its own gets its summary.
    pub fn message(&self) -> Cow<'_, str> {
        match (&self.audit, &self.message) {
            (Some(a), _) if a.message.is_none() => Cow::Owned(a.summary()),
            (_, Message::Span(a, b)) => Cow::Borrowed(self.original.get(*a..*b).unwrap_or("")),
            (_, Message::Text(t)) => Cow::Borrowed(t),
        }
    }

    /// `@timestamp`: the message's own time, else when it was received.
    pub fn time_ns(&self) -> i64 {
        self.timestamp_ns.unwrap_or(self.received_ns)
    }

    /// Numeric process id (`process.pid`), when the PROCID is one.
    pub fn pid(&self) -> Option<u32> {
        match self.procid {
            Some(ProcId::Pid(p)) => u32::try_from(p).ok(),
            _ => None,
        }
    }
}

/// `message` as a [`Message`]: a span when `message` lies inside `original` (the
/// parser returns slices of it), else its own text.
pub fn message_ref<'a>(original: &str, message: &'a str) -> Message<'a> {
    let base = original.as_ptr() as usize;
    let at = message.as_ptr() as usize;
    if at >= base && at + message.len() <= base + original.len() {
        let start = at - base;
        Message::Span(start, start + message.len())
    } else {
        Message::Text(Cow::Borrowed(message))
    }
}

/// Appends the ECS rendering of one segment line (no `\n`): a compact line is
/// rendered, any other line is an ECS event already and is copied as it is.
/// `stream` is the segment's stream id (its seal names it).
pub fn render_ecs(line: &[u8], stream: &str, out: &mut Vec<u8>) -> Result<(), EventError> {
    ecs::EcsWriter::default().render_line(line, stream, out)
}

/// Whether a line claims to be a compact event (of any version): it begins `{"v":`.
pub fn is_compact(line: &[u8]) -> bool {
    line.starts_with(b"{\"v\":")
}

#[cfg(test)]
pub(crate) mod tests;
