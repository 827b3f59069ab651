//! Alert records: what the detector appends to the journal for each alert it raises, so
//! the sealer seals alerts into the chain and every forwarder sends them on, each from
//! its own cursor, like any event.
//!
//! # Encoding (kind `5`)
//!
//! The fixed header of every version-2 record (version `2`, kind `5`, flags `0`, source
//! index `0xFFFF`: no configured source, then the time the alert was raised), followed by
//!
//! | size | field |
//! |---|---|
//! | 8 | journal position of the event that raised it (`u64`) |
//! | 2 | the alert's index among the alerts that event raised (`u16`) |
//! | rest | the alert as its sealed line: one ECS JSON object, no newline |
//!
//! Position and index are the alert's identity (its `event.id` is
//! `<stream>:<position>:alert:<index>`): a detector that reads the same events again
//! after a crash recognises the alerts it has already journalled by them.

use super::{i64_at, IngestRecord, RecordError, FIXED_HEADER, RECORD_VERSION};

/// The kind byte of an alert record.
pub const ALERT_KIND: u8 = 5;
/// Trigger position and alert index.
const CONTEXT: usize = 10;

/// One journalled alert. Borrows its line, like [`IngestRecord`] its raw bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertRecord<'a> {
    /// When the detector raised it (unix ns).
    pub raised_ns: i64,
    /// Journal position of the event that raised it.
    pub trigger: u64,
    /// Its index among the alerts that event raised.
    pub index: u16,
    /// The sealed line: the alert as one ECS JSON object.
    pub line: &'a [u8],
}

impl AlertRecord<'_> {
    pub fn encoded_len(&self) -> usize {
        FIXED_HEADER + CONTEXT + self.line.len()
    }

    /// Appends the encoded record to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.push(RECORD_VERSION);
        out.push(ALERT_KIND);
        out.push(0);
        out.extend_from_slice(&u16::MAX.to_le_bytes());
        out.extend_from_slice(&self.raised_ns.to_le_bytes());
        out.extend_from_slice(&self.trigger.to_le_bytes());
        out.extend_from_slice(&self.index.to_le_bytes());
        out.extend_from_slice(self.line);
    }

    /// Its identity: the raising event's position and the alert's index.
    pub fn key(&self) -> (u64, u16) {
        (self.trigger, self.index)
    }
}

/// Whatever a journal payload holds: a received message or a raised alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalRecord<'a> {
    Ingest(IngestRecord<'a>),
    Alert(AlertRecord<'a>),
}

/// Whether a journal payload is an alert record, from its first two bytes (for a scan
/// that only looks for alerts: the rest of an ingest record's header is not read).
pub fn is_alert(payload: &[u8]) -> bool {
    payload.len() >= 2 && payload[0] == RECORD_VERSION && payload[1] == ALERT_KIND
}

impl<'a> JournalRecord<'a> {
    /// Decodes any journal payload (every consumer reads both kinds).
    pub fn decode(payload: &'a [u8]) -> Result<JournalRecord<'a>, RecordError> {
        if !is_alert(payload) {
            return IngestRecord::decode(payload).map(JournalRecord::Ingest);
        }
        let need = FIXED_HEADER + CONTEXT;
        let h = payload.get(..need).ok_or(RecordError::Truncated {
            len: payload.len(),
            need,
        })?;
        let mut trigger = [0u8; 8];
        trigger.copy_from_slice(&h[FIXED_HEADER..FIXED_HEADER + 8]);
        Ok(JournalRecord::Alert(AlertRecord {
            raised_ns: i64_at(h, 5),
            trigger: u64::from_le_bytes(trigger),
            index: u16::from_le_bytes([h[FIXED_HEADER + 8], h[FIXED_HEADER + 9]]),
            line: &payload[need..],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordFlags;

    #[test]
    fn alerts_and_events_decode_apart() {
        let a = AlertRecord {
            raised_ns: 1_700_000_000_000_000_007,
            trigger: u64::MAX - 3,
            index: 2,
            line: br#"{"event":{"kind":"alert"}}"#,
        };
        let mut buf = Vec::new();
        a.encode_into(&mut buf);
        assert_eq!(buf.len(), a.encoded_len());
        assert_eq!(JournalRecord::decode(&buf), Ok(JournalRecord::Alert(a)));
        // An alert is not an ingest record: code that only knows those says so.
        assert_eq!(
            IngestRecord::decode(&buf),
            Err(RecordError::UnknownKind(ALERT_KIND))
        );
        assert!(matches!(
            JournalRecord::decode(&buf[..FIXED_HEADER + 4]),
            Err(RecordError::Truncated { .. })
        ));

        let rec = IngestRecord::syslog(5, 0, None, RecordFlags::EMPTY, b"<13>x");
        let mut buf = Vec::new();
        rec.encode_into(&mut buf);
        assert_eq!(JournalRecord::decode(&buf), Ok(JournalRecord::Ingest(rec)));
        assert_eq!(JournalRecord::decode(&[]), Err(RecordError::Empty));
    }
}
