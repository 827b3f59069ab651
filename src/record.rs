//! The ingest record: what the journal stores for each received message.
//!
//! Sources do no parsing on the hot path; they stamp each socket read with one clock
//! reading and journal the raw bytes plus the little context that cannot be recovered
//! later (when, where from, what went wrong while framing). Normalisation happens when a
//! consumer reads the journal, as a pure function of this record.
//!
//! # Encoding, version 1
//!
//! All integers are little-endian. The raw message takes the rest of the payload, so the
//! journal's own entry length delimits it.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | version, `1` |
//! | 1 | 1 | flags: bit 0 `TRUNCATED`, bit 1 `INCOMPLETE`; other bits reserved, kept |
//! | 2 | 2 | listener index (`u16`) |
//! | 4 | 8 | received time, nanoseconds since the Unix epoch (`i64`) |
//! | 12 | 1 | peer kind: `0` none, `4` IPv4, `6` IPv6 |
//! | 13 | 0, 6 or 22 | peer: IPv4 = 4 address octets + port (`u16`); IPv6 = 16 address octets + port (`u16`) + scope id (`u32`) |
//! | … | rest | raw message bytes, exactly as framed (after truncation, if flagged) |
//!
//! A header is 13 bytes without a peer, 19 with an IPv4 peer and 35 with an IPv6 peer.
//! IPv6 flow info is not kept (it says nothing about the sender).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// The only encoding version this build writes and reads.
pub const RECORD_VERSION: u8 = 1;

const PEER_NONE: u8 = 0;
const PEER_V4: u8 = 4;
const PEER_V6: u8 = 6;
const FIXED_HEADER: usize = 13;

/// What went wrong while a message was framed. Kept in the journal so the rendered event
/// can say so (tags) and metrics can count it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RecordFlags(u8);

impl RecordFlags {
    /// No flag set.
    pub const EMPTY: RecordFlags = RecordFlags(0);
    /// The message was longer than the listener's maximum; only its first bytes are kept.
    pub const TRUNCATED: RecordFlags = RecordFlags(1);
    /// The connection ended inside a frame (including an octet count larger than the
    /// data that came): the record holds what did arrive.
    pub const INCOMPLETE: RecordFlags = RecordFlags(2);

    /// Raw bits, as stored.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Flags from raw bits; unknown bits are kept so a newer writer's flags survive.
    pub fn from_bits(bits: u8) -> RecordFlags {
        RecordFlags(bits)
    }

    /// True when every bit of `other` is set in `self`.
    pub fn contains(self, other: RecordFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets every bit of `other`.
    pub fn insert(&mut self, other: RecordFlags) {
        self.0 |= other.0;
    }

    /// True when no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for RecordFlags {
    type Output = RecordFlags;
    fn bitor(self, rhs: RecordFlags) -> RecordFlags {
        RecordFlags(self.0 | rhs.0)
    }
}

/// One received message as journalled. Borrows the raw bytes so that encoding from a
/// read buffer and decoding from a journal page copy nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IngestRecord<'a> {
    /// Nanoseconds since the Unix epoch, one clock reading per socket read.
    pub received_ns: i64,
    /// Index of the listener (config order) that received it.
    pub listener: u16,
    /// The sender, when the transport has one.
    pub peer: Option<SocketAddr>,
    /// Framing problems.
    pub flags: RecordFlags,
    /// The message bytes, verbatim.
    pub raw: &'a [u8],
}

/// Why a journal payload is not a valid ingest record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// The payload is empty.
    #[error("empty ingest record")]
    Empty,
    /// Written by a newer (or foreign) encoder.
    #[error("unsupported ingest record version {0}")]
    UnsupportedVersion(u8),
    /// The payload ends inside the header.
    #[error("ingest record truncated: {len} bytes, header needs {need}")]
    Truncated {
        /// Payload length.
        len: usize,
        /// Bytes the header needs.
        need: usize,
    },
    /// The peer kind byte is not one this version defines.
    #[error("unknown peer kind {0} in ingest record")]
    UnknownPeerKind(u8),
}

impl<'a> IngestRecord<'a> {
    /// Length of the encoded record, so callers can reserve exactly.
    pub fn encoded_len(&self) -> usize {
        FIXED_HEADER + peer_len(&self.peer) + self.raw.len()
    }

    /// Appends the encoded record to `out` (one reserve, no other allocation).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.push(RECORD_VERSION);
        out.push(self.flags.bits());
        out.extend_from_slice(&self.listener.to_le_bytes());
        out.extend_from_slice(&self.received_ns.to_le_bytes());
        match self.peer {
            None => out.push(PEER_NONE),
            Some(SocketAddr::V4(a)) => {
                out.push(PEER_V4);
                out.extend_from_slice(&a.ip().octets());
                out.extend_from_slice(&a.port().to_le_bytes());
            }
            Some(SocketAddr::V6(a)) => {
                out.push(PEER_V6);
                out.extend_from_slice(&a.ip().octets());
                out.extend_from_slice(&a.port().to_le_bytes());
                out.extend_from_slice(&a.scope_id().to_le_bytes());
            }
        }
        out.extend_from_slice(self.raw);
    }

    /// Decodes a payload written by [`IngestRecord::encode_into`]; `raw` borrows from it.
    pub fn decode(payload: &'a [u8]) -> Result<IngestRecord<'a>, RecordError> {
        let version = *payload.first().ok_or(RecordError::Empty)?;
        if version != RECORD_VERSION {
            return Err(RecordError::UnsupportedVersion(version));
        }
        let header: &[u8; FIXED_HEADER] = payload
            .get(..FIXED_HEADER)
            .and_then(|h| h.try_into().ok())
            .ok_or(RecordError::Truncated {
                len: payload.len(),
                need: FIXED_HEADER,
            })?;
        let flags = RecordFlags::from_bits(header[1]);
        let listener = u16::from_le_bytes([header[2], header[3]]);
        let mut ns = [0u8; 8];
        ns.copy_from_slice(&header[4..12]);
        let received_ns = i64::from_le_bytes(ns);
        let kind = header[12];
        let peer_bytes = match kind {
            PEER_NONE => 0,
            PEER_V4 => 6,
            PEER_V6 => 22,
            other => return Err(RecordError::UnknownPeerKind(other)),
        };
        let need = FIXED_HEADER + peer_bytes;
        let p = payload
            .get(FIXED_HEADER..need)
            .ok_or(RecordError::Truncated {
                len: payload.len(),
                need,
            })?;
        let peer = match kind {
            PEER_V4 => {
                let ip = Ipv4Addr::new(p[0], p[1], p[2], p[3]);
                let port = u16::from_le_bytes([p[4], p[5]]);
                Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
            }
            PEER_V6 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&p[..16]);
                let port = u16::from_le_bytes([p[16], p[17]]);
                let scope = u32::from_le_bytes([p[18], p[19], p[20], p[21]]);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(octets),
                    port,
                    0,
                    scope,
                )))
            }
            _ => None,
        };
        Ok(IngestRecord {
            received_ns,
            listener,
            peer,
            flags,
            raw: &payload[need..],
        })
    }
}

fn peer_len(peer: &Option<SocketAddr>) -> usize {
    match peer {
        None => 0,
        Some(SocketAddr::V4(_)) => 6,
        Some(SocketAddr::V6(_)) => 22,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(rec: IngestRecord<'_>) {
        let mut buf = vec![0xAA]; // something already in the buffer must be kept
        rec.encode_into(&mut buf);
        assert_eq!(buf[0], 0xAA);
        assert_eq!(buf.len() - 1, rec.encoded_len());
        let back = IngestRecord::decode(&buf[1..]).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn roundtrips_every_peer_kind_and_flags() {
        let raw = b"<13>Nov 22 10:00:00 host prog: hello";
        roundtrip(IngestRecord {
            received_ns: 1_700_000_000_123_456_789,
            listener: 7,
            peer: None,
            flags: RecordFlags::EMPTY,
            raw,
        });
        roundtrip(IngestRecord {
            received_ns: -5,
            listener: u16::MAX,
            peer: Some("192.0.2.7:514".parse().unwrap()),
            flags: RecordFlags::TRUNCATED,
            raw,
        });
        roundtrip(IngestRecord {
            received_ns: i64::MAX,
            listener: 0,
            peer: Some(SocketAddr::V6(SocketAddrV6::new(
                "fe80::1".parse().unwrap(),
                6514,
                0,
                3,
            ))),
            flags: RecordFlags::TRUNCATED | RecordFlags::INCOMPLETE,
            raw: b"",
        });
    }

    #[test]
    fn layout_is_as_documented() {
        let rec = IngestRecord {
            received_ns: 0x0102_0304_0506_0708,
            listener: 0x0A0B,
            peer: Some("1.2.3.4:258".parse().unwrap()),
            flags: RecordFlags::INCOMPLETE,
            raw: b"xy",
        };
        let mut buf = Vec::new();
        rec.encode_into(&mut buf);
        assert_eq!(
            buf,
            [1, 2, 0x0B, 0x0A, 8, 7, 6, 5, 4, 3, 2, 1, 4, 1, 2, 3, 4, 2, 1, b'x', b'y']
        );
    }

    #[test]
    fn rejects_bad_payloads() {
        assert_eq!(IngestRecord::decode(b""), Err(RecordError::Empty));
        assert_eq!(
            IngestRecord::decode(&[2, 0, 0]),
            Err(RecordError::UnsupportedVersion(2))
        );
        assert_eq!(
            IngestRecord::decode(&[1, 0, 0, 0]),
            Err(RecordError::Truncated { len: 4, need: 13 })
        );
        let mut buf = Vec::new();
        IngestRecord {
            received_ns: 1,
            listener: 1,
            peer: Some("[::1]:1".parse().unwrap()),
            flags: RecordFlags::EMPTY,
            raw: b"",
        }
        .encode_into(&mut buf);
        assert_eq!(
            IngestRecord::decode(&buf[..20]),
            Err(RecordError::Truncated { len: 20, need: 35 })
        );
        buf[12] = 9;
        assert_eq!(
            IngestRecord::decode(&buf),
            Err(RecordError::UnknownPeerKind(9))
        );
    }

    #[test]
    fn flags_contain_and_insert() {
        let mut f = RecordFlags::EMPTY;
        assert!(f.is_empty());
        assert!(!f.contains(RecordFlags::TRUNCATED));
        f.insert(RecordFlags::TRUNCATED);
        assert!(f.contains(RecordFlags::TRUNCATED));
        assert!(!f.contains(RecordFlags::INCOMPLETE));
        assert!(!f.contains(RecordFlags::TRUNCATED | RecordFlags::INCOMPLETE));
        f.insert(RecordFlags::INCOMPLETE);
        assert!(f.contains(RecordFlags::TRUNCATED | RecordFlags::INCOMPLETE));
        // Unknown bits survive a round trip.
        assert_eq!(RecordFlags::from_bits(0x80).bits(), 0x80);
    }
}
