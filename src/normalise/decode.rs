//! The one decode step: an ingest record in, its [`Event`] and authentication facts out.
//!
//! Every consumer of the journal goes through [`Normaliser::decode`]: the sealer (which
//! renders the event), the detector (also while it catches up after a restart) and
//! `sealtrail replay`. The event is a pure function of the record and the configured
//! sources, so the same record gives the same event and the same sealed line wherever
//! it is decoded, and again after a crash.
//!
//! One thing is not: what an SSH line lacks (an address, a user) is filled from the
//! earlier lines of its connection ([`crate::auth::Connections`], bounded), and marked
//! in [`AuthEvent::from_connection`]. Those facts reach the detector, which reads the
//! journal in order, but are never sealed or forwarded (see `sealed.rs`): a sealed line
//! says only what its record says. A consumer that starts reading in the middle of a
//! connection (after a restart) has not seen its earlier lines and fills nothing.
//!
//! Decoding borrows: an [`Input`] holds what the event's strings point into (the
//! record's text, or a journal entry's fields), and the [`Decoded`] event borrows it.

use std::borrow::Cow;

use super::journald::JournalFields;
use super::{record_text, syslog, Event, Normaliser};
use crate::auth::AuthEvent;
use crate::event::audit::AuditEvent;
use crate::record::{IngestRecord, Origin, RecordKind};

/// What a decoded event's strings borrow from; build it with [`Input::of`].
pub enum Input<'r> {
    /// Syslog text and file lines: the raw bytes as text (lossy if not UTF-8).
    Text(Cow<'r, str>),
    /// A systemd journal entry: its JSON as text (the original) and the fields read
    /// from it, or why they could not be (then the entry is a raw event).
    Journal {
        text: Cow<'r, str>,
        fields: Result<Box<JournalFields>, String>,
    },
    /// An application audit event: its JSON object as text, and the event read from it
    /// (the audit API journals only valid ones; anything else is a raw event).
    Audit {
        text: Cow<'r, str>,
        event: Option<Box<AuditEvent<'r>>>,
    },
}

impl<'r> Input<'r> {
    pub fn of(record: &IngestRecord<'r>) -> Input<'r> {
        let text = record_text(record.raw);
        match record.kind() {
            RecordKind::Syslog | RecordKind::FileLine => Input::Text(text),
            RecordKind::Journald => Input::Journal {
                fields: JournalFields::parse(
                    record.raw,
                    record.flags.contains(crate::record::RecordFlags::TRUNCATED),
                )
                .map(Box::new),
                text,
            },
            RecordKind::App => Input::Audit {
                event: match text {
                    Cow::Borrowed(t) => AuditEvent::parse(t).ok().map(Box::new),
                    Cow::Owned(_) => None,
                },
                text,
            },
        }
    }

    fn text(&self) -> &str {
        match self {
            Input::Text(t) | Input::Journal { text: t, .. } | Input::Audit { text: t, .. } => t,
        }
    }
}

/// A decoded record: the event and, when it is authentication-related, its audit facts.
#[derive(Debug)]
pub struct Decoded<'a> {
    pub event: Event<'a>,
    pub auth: Option<AuthEvent<'a>>,
}

impl Decoded<'_> {
    /// The time the detector sees the event at. For a syslog message it is when the
    /// message was received: a sender's clock is not ours (it may be wrong, or lie),
    /// and receive times only move forward. For a line of a local file or a journal
    /// entry it is the entry's own time: this host's clock wrote it, and it may be read
    /// long after (a file read from its beginning, `sealtrail replay` over last month's
    /// `auth.log`), when the time of reading would put a month of failures into one
    /// detector window. An application's clock is not ours either.
    pub fn detector_time_ns(&self) -> i64 {
        detector_time_ns(&self.event)
    }
}

/// See [`Decoded::detector_time_ns`].
fn detector_time_ns(event: &Event<'_>) -> i64 {
    match event.kind {
        RecordKind::Syslog | RecordKind::App => event.received_ns,
        RecordKind::FileLine | RecordKind::Journald => event.time_ns(),
    }
}

impl Normaliser {
    /// Decodes `record`, whose [`Input`] is `input`. Never fails: what does not parse
    /// becomes a raw event with flags.
    pub fn decode<'a, 'r: 'a>(
        &mut self,
        record: &IngestRecord<'r>,
        input: &'a Input<'r>,
    ) -> Decoded<'a> {
        let text = input.text();
        let mut event = blank_event(record, text);
        match input {
            Input::Text(_) => {
                let zone = self.zone_mut(record.source);
                syslog::parse_into(&mut event, text, zone, 0);
            }
            Input::Journal {
                fields: Ok(fields), ..
            } => fields.fill(&mut event),
            Input::Journal { fields: Err(_), .. } => event.parse_failure = true,
            Input::Audit { event: Some(a), .. } => {
                event.timestamp_ns = a.time_ns;
                if let Some(m) = a.message.as_deref() {
                    event.message = m;
                }
                event.audit = Some(&**a);
            }
            Input::Audit { event: None, .. } => event.parse_failure = true,
        }
        let mut auth = event.auth();
        if let Some(a) = auth.as_mut() {
            self.connections
                .apply(event.hostname, detector_time_ns(&event), a);
        }
        Decoded { event, auth }
    }
}

/// The event of `record` before its text is parsed: the record's facts, the whole text
/// as the message.
pub(super) fn blank_event<'a>(record: &IngestRecord<'a>, text: &'a str) -> Event<'a> {
    // Borrowed text is the raw bytes themselves: comparing them would be wasted work.
    let invalid_utf8 = !std::ptr::eq(text.as_bytes(), record.raw) && text.as_bytes() != record.raw;
    Event {
        received_ns: record.received_ns,
        kind: record.kind(),
        source: record.source,
        peer: record.peer(),
        tls_client: record
            .tls_client()
            .and_then(|c| std::str::from_utf8(c).ok()),
        cred: record.peer_cred(),
        audit: None,
        file: match record.origin {
            Origin::File { path, offset } => Some((path, offset)),
            _ => None,
        },
        journal: None,
        record_flags: record.flags,
        raw: record.raw,
        original: text,
        invalid_utf8,
        parse_failure: false,
        timestamp_ns: None,
        priority: None,
        version: None,
        hostname: None,
        appname: None,
        procid: None,
        msgid: None,
        structured_data: Vec::new(),
        message: text,
    }
}
