//! A batch of records, already encoded in the on-disk format so the writer can hand the
//! buffer straight to `writev` without copying.

use super::{HEADER, MAX_PAYLOAD};

/// Records queued together; one allocation for the whole batch, none per record.
#[derive(Debug, Default)]
pub struct Batch {
    buf: Vec<u8>,
    records: usize,
    /// Length of the first payload that was refused (empty or over `MAX_PAYLOAD`):
    /// `append` then rejects the whole batch instead of dropping the record silently.
    invalid: Option<usize>,
}

fn valid_len(len: usize) -> bool {
    (1..=MAX_PAYLOAD).contains(&len)
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
        self.buf.reserve(HEADER + payload.len());
        self.buf
            .extend_from_slice(&(payload.len() as u32).to_le_bytes());
        self.buf
            .extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
        self.buf.extend_from_slice(payload);
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
        let crc = crc32c::crc32c(&self.buf[body..]);
        self.buf[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
        self.buf[start + 4..body].copy_from_slice(&crc.to_le_bytes());
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
