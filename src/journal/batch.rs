//! A batch of records, already encoded in the on-disk format so the writer can hand the
//! buffer straight to `writev` without copying.

use super::format::{self, valid_len, HEADER};

/// Records queued together; one allocation for the whole batch, none per record.
#[derive(Debug, Default)]
pub struct Batch {
    buf: Vec<u8>,
    records: usize,
    /// Length of the first payload that was refused (empty or over `MAX_PAYLOAD`):
    /// `append` then rejects the whole batch instead of dropping the record silently.
    invalid: Option<usize>,
}

impl Batch {
    /// An empty batch whose buffer holds `bytes` encoded bytes before growing.
    pub fn with_capacity(bytes: usize) -> Batch {
        Batch {
            buf: Vec::with_capacity(bytes),
            records: 0,
            invalid: None,
        }
    }

    /// Appends one record. Payloads must be `1..=MAX_PAYLOAD` bytes; anything else makes
    /// `append` reject the batch with `InvalidPayload`.
    pub fn push(&mut self, payload: &[u8]) {
        if !valid_len(payload.len()) {
            self.invalid.get_or_insert(payload.len());
            return;
        }
        let start = self.buf.len();
        self.buf.reserve(HEADER + payload.len());
        self.buf.extend_from_slice(&[0u8; HEADER]);
        self.buf.extend_from_slice(payload);
        format::seal(&mut self.buf[start..]);
        self.records += 1;
    }

    /// Lets the caller encode the payload straight into the batch buffer (no intermediate
    /// copy); the header is fixed up after. `f` must only append to the vector.
    pub fn push_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0u8; HEADER]);
        f(&mut self.buf);
        let body = start + HEADER;
        if self.buf.len() < body {
            // `f` removed bytes it did not own: earlier records may be damaged.
            self.invalid.get_or_insert(0);
            return;
        }
        let len = self.buf.len() - body;
        if !valid_len(len) {
            self.buf.truncate(start);
            self.invalid.get_or_insert(len);
            return;
        }
        format::seal(&mut self.buf[start..]);
        self.records += 1;
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Encoded size: what this batch adds to the journal.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub(super) fn invalid(&self) -> Option<usize> {
        self.invalid
    }
}
