//! The record format, byte for byte (version 2), and how to recognise version 1.
//!
//! ```text
//! [4-byte MAGIC][u32 LE payload_len][u32 LE crc32c(len_le ‖ payload)][payload]
//! ```
//!
//! The magic is what lets recovery and readers find the next record after damage; the
//! checksum covers the length too, so a flipped length bit can never pass for a valid
//! record with a wrong extent.

/// Starts every record. The first byte (0xF5) never occurs in UTF-8 text, so syslog text
/// cannot contain it by accident (a sender *can* plant it on purpose; see `scan`). The
/// fourth byte is above 0x01, so a version-1 file, whose records start with a u32 LE
/// length of at most 16 MiB (fourth byte 0x00 or 0x01), never looks like version 2.
pub(super) const MAGIC: [u8; 4] = [0xF5, b'J', b'R', b'N'];

/// Record header: magic, payload length, checksum.
pub(super) const HEADER: usize = 12;

/// Largest payload a record may carry. A bigger length field on disk is corruption. It
/// leaves room for the ingest record's header around a message of the largest allowed
/// `max_message_bytes` (16 MiB).
pub const MAX_PAYLOAD: usize = 17 << 20;

/// Whether a payload of `len` bytes may be written (and a length field is plausible).
pub(super) fn valid_len(len: usize) -> bool {
    (1..=MAX_PAYLOAD).contains(&len)
}

/// `crc32c(len_le ‖ payload)`.
pub(super) fn checksum(len: u32, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&len.to_le_bytes()), payload)
}

/// Writes the header for `payload` into `out` (exactly `HEADER` bytes).
pub(super) fn write_header(out: &mut [u8], payload: &[u8]) {
    let len = payload.len() as u32;
    out[..4].copy_from_slice(&MAGIC);
    out[4..8].copy_from_slice(&len.to_le_bytes());
    out[8..12].copy_from_slice(&checksum(len, payload).to_le_bytes());
}

/// A header as read from disk, not yet trusted.
#[derive(Debug, Clone, Copy)]
pub(super) struct Header {
    pub magic: bool,
    pub len: usize,
    pub crc: u32,
}

impl Header {
    /// `h` must hold at least `HEADER` bytes.
    pub fn parse(h: &[u8]) -> Header {
        let b = |i: usize| h.get(i).copied().unwrap_or(0);
        Header {
            magic: h.get(..4) == Some(&MAGIC[..]),
            len: u32::from_le_bytes([b(4), b(5), b(6), b(7)]) as usize,
            crc: u32::from_le_bytes([b(8), b(9), b(10), b(11)]),
        }
    }

    /// Magic present and length in range: the payload is worth checking.
    pub fn plausible(&self) -> bool {
        self.magic && valid_len(self.len)
    }

    /// Whole record size, header included.
    pub fn size(&self) -> usize {
        HEADER + self.len
    }

    /// Whether `payload` (exactly `len` bytes) matches the checksum.
    pub fn verifies(&self, payload: &[u8]) -> bool {
        checksum(self.len as u32, payload) == self.crc
    }
}

/// Version 1, written by sealtrail before the record format had a magic:
/// `[u32 LE len][u32 LE crc32c(payload)][payload]`, `len` in `1..=16 MiB`.
pub(super) mod v1 {
    pub const HEADER: usize = 8;
    pub const MAX_PAYLOAD: usize = 16 << 20;

    /// If `buf` starts with a whole valid version-1 record, its size. Needing the checksum
    /// to match (not just a small length) keeps a version-2 file whose first magic was
    /// damaged from passing for an old journal.
    pub fn valid_record(buf: &[u8]) -> Option<usize> {
        let h = buf.get(..HEADER)?;
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        if !(1..=MAX_PAYLOAD).contains(&len) {
            return None;
        }
        let payload = buf.get(HEADER..HEADER + len)?;
        (crc32c::crc32c(payload) == crc).then_some(HEADER + len)
    }
}
