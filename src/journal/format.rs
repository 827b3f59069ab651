//! The record format, byte for byte (version 2), and how to recognise version 1.
//!
//! ```text
//! [4-byte MAGIC][u32 LE crc32c(len_le ‖ payload)][u32 LE payload_len][payload]
//! ```
//!
//! The magic is what lets recovery and readers find the next record after damage; the
//! checksum covers the length too, so a flipped length bit can never pass for a valid
//! record with a wrong extent. The checksum comes before the length so that what it
//! covers, length and payload, is contiguous: one `crc32c` call per record on the read
//! path, not two.

/// Starts every record. The first byte (0xF5) never occurs in UTF-8 text, so syslog text
/// cannot contain it by accident (a sender *can* plant it on purpose; see `scan`). The
/// fourth byte is above 0x01, so a version-1 file, whose records start with a u32 LE
/// length of at most 16 MiB (fourth byte 0x00 or 0x01), never looks like version 2.
pub(super) const MAGIC: [u8; 4] = [0xF5, b'J', b'R', b'N'];

/// Record header: magic, checksum, payload length.
pub(super) const HEADER: usize = 12;

/// Where the bytes the checksum covers (length, then payload) start in a record.
pub(super) const COVERED_FROM: usize = 8;

/// Largest payload a record may carry. A bigger length field on disk is corruption. It
/// leaves room for the ingest record's header around a message of the largest allowed
/// `max_message_bytes` (16 MiB).
pub const MAX_PAYLOAD: usize = 17 << 20;

/// Whether a payload of `len` bytes may be written (and a length field is plausible).
pub(super) fn valid_len(len: usize) -> bool {
    (1..=MAX_PAYLOAD).contains(&len)
}

/// Fills in the header of `record`: `HEADER` bytes of room, then the payload. The
/// checksum is computed in one pass over the length and payload, as it is read.
pub(super) fn seal(record: &mut [u8]) {
    let len = ((record.len() - HEADER) as u32).to_le_bytes();
    record[..4].copy_from_slice(&MAGIC);
    record[COVERED_FROM..HEADER].copy_from_slice(&len);
    let crc = crc32c::crc32c(&record[COVERED_FROM..]);
    record[4..COVERED_FROM].copy_from_slice(&crc.to_le_bytes());
}

/// A header as read from disk, not yet trusted.
#[derive(Debug, Clone, Copy)]
pub(super) struct Header {
    pub magic: bool,
    pub len: usize,
    pub crc: u32,
}

impl Header {
    /// The header at the start of `buf`, if `buf` holds one.
    pub fn read(buf: &[u8]) -> Option<Header> {
        let h: &[u8; HEADER] = buf.get(..HEADER)?.try_into().ok()?;
        Some(Header::parse(h))
    }

    pub fn parse(h: &[u8; HEADER]) -> Header {
        let [m0, m1, m2, m3, c0, c1, c2, c3, l0, l1, l2, l3] = *h;
        Header {
            magic: [m0, m1, m2, m3] == MAGIC,
            crc: u32::from_le_bytes([c0, c1, c2, c3]),
            len: u32::from_le_bytes([l0, l1, l2, l3]) as usize,
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

    /// Bytes the checksum covers.
    pub fn covered(&self) -> usize {
        self.size() - COVERED_FROM
    }

    /// Whether `covered` (the record from `COVERED_FROM` on: length and payload,
    /// `size() - COVERED_FROM` bytes) matches the checksum.
    pub fn verifies(&self, covered: &[u8]) -> bool {
        crc32c::crc32c(covered) == self.crc
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
