//! The ingest record: what the journal stores for each received message.
//!
//! Sources do no parsing on the hot path; they stamp each read with one clock reading
//! and journal the raw bytes plus the little context that cannot be recovered later:
//! what kind of thing it is (a syslog message, a line of a file, a systemd journal
//! entry), which configured source took it, when, and from where (a peer address; a
//! file's path and the line's offset in it). Normalisation happens when a consumer
//! reads the journal, as a pure function of this record (see [`crate::decode`]).
//!
//! # Encoding, version 2
//!
//! All integers are little-endian. The raw message takes the rest of the payload, so the
//! journal's own entry length delimits it.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | version, `2` |
//! | 1 | 1 | kind: `1` syslog message, `2` file line, `3` systemd journal entry, `4` application audit event, `5` alert (see [`alert`]) |
//! | 2 | 1 | flags: bit 0 `TRUNCATED`, bit 1 `INCOMPLETE`, bit 2 `TLS_CLIENT` (the context carries the sender's verified certificate), bit 3 `PEER_CRED` (the context carries the sending process's credentials); other bits reserved, kept |
//! | 3 | 2 | source index (`u16`): the configured source, in config order |
//! | 5 | 8 | received time, nanoseconds since the Unix epoch (`i64`) |
//! | 13 | … | the kind's context, below |
//! | … | rest | raw bytes, exactly as read (after truncation, if flagged) |
//!
//! Context by kind:
//!
//! * **syslog** and **application audit event**: the sender. Peer kind (`u8`: `0` none,
//!   `4` IPv4, `6` IPv6), then the peer: IPv4 = 4 address octets + port (`u16`); IPv6 =
//!   16 address octets + port (`u16`) + scope id (`u32`). IPv6 flow info is not kept (it
//!   says nothing about the sender). With `TLS_CLIENT`: then the length (`u16`) and text
//!   of the client certificate's identity, as the TLS listener verified it: the
//!   subject's distinguished name, and the certificate's DNS, IP and e-mail names, each
//!   after a unit separator (`0x1F`). With `PEER_CRED`: then the pid, uid and gid
//!   (`u32` each) the kernel gave for the sender on a local socket (`SCM_CREDENTIALS`,
//!   `SO_PEERCRED`): facts the message's own text cannot forge. An application audit
//!   event's raw bytes are one JSON object as the application sent it.
//! * **file line**: the line's byte offset in the file (`u64`), the path's length
//!   (`u16`) and the path's bytes (as the OS gave them, not necessarily UTF-8). Path and
//!   offset identify the line, so a line read again after a crash is recognisable.
//! * **journal entry**: nothing; the raw bytes are the entry in `journalctl
//!   --output=json` form, whose `__CURSOR` identifies it.
//!
//! # Version 1
//!
//! Journals written before kinds existed hold version-1 records: version `1`, flags,
//! listener index (`u16`), received time (`i64`), then the syslog peer and the raw bytes
//! exactly as above. They decode as syslog records, so such a journal still reads.

mod alert;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::{SystemTime, UNIX_EPOCH};

pub use alert::{is_alert, AlertRecord, JournalRecord, ALERT_KIND};

/// Now, in nanoseconds since the Unix epoch: the clock records are stamped with (one
/// reading per read, not per record) and seals are timed by. A clock set before 1970
/// gives negative values rather than a panic.
pub fn now_ns() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// The encoding version this build writes.
pub const RECORD_VERSION: u8 = 2;
/// The version written before record kinds existed; still read.
pub const RECORD_VERSION_1: u8 = 1;

const PEER_NONE: u8 = 0;
const PEER_V4: u8 = 4;
const PEER_V6: u8 = 6;
/// The longest TLS client identity kept (a certificate with more names is cut here).
const MAX_CLIENT: usize = 4096;
/// pid, uid, gid.
const CRED_BYTES: usize = 12;
/// Version, kind, flags, source, received time.
pub(crate) const FIXED_HEADER: usize = 13;
/// Version 1: version, flags, listener, received time.
const FIXED_HEADER_V1: usize = 12;

/// What a record holds. The byte values are the encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A syslog message received over the network or a local socket.
    Syslog,
    /// One line of a tailed file.
    FileLine,
    /// One systemd journal entry (JSON, as `journalctl --output=json` prints it).
    Journald,
    /// One application audit event (a JSON object) from the audit API.
    App,
}

impl RecordKind {
    pub fn as_u8(self) -> u8 {
        match self {
            RecordKind::Syslog => 1,
            RecordKind::FileLine => 2,
            RecordKind::Journald => 3,
            RecordKind::App => 4,
        }
    }

    pub fn from_u8(v: u8) -> Option<RecordKind> {
        match v {
            1 => Some(RecordKind::Syslog),
            2 => Some(RecordKind::FileLine),
            3 => Some(RecordKind::Journald),
            4 => Some(RecordKind::App),
            _ => None,
        }
    }

    /// The name used in events and metrics (`event.module`-like).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Syslog => "syslog",
            RecordKind::FileLine => "file",
            RecordKind::Journald => "journald",
            RecordKind::App => "audit",
        }
    }
}

/// What went wrong while a message was framed. Kept in the journal so the rendered event
/// can say so (tags) and metrics can count it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RecordFlags(u8);

impl RecordFlags {
    /// No flag set.
    pub const EMPTY: RecordFlags = RecordFlags(0);
    /// The message was longer than the source's maximum; only its first bytes are kept.
    pub const TRUNCATED: RecordFlags = RecordFlags(1);
    /// The message ended early: a connection closed inside a frame (including an octet
    /// count larger than the data that came), or a file line that never got its newline.
    pub const INCOMPLETE: RecordFlags = RecordFlags(2);
    /// A syslog record whose context carries the sender's verified TLS client identity.
    /// Set by the encoder from the origin, not by sources.
    pub const TLS_CLIENT: RecordFlags = RecordFlags(4);
    /// A record whose context carries the sending process's credentials. Set by the
    /// encoder from the origin, not by sources.
    pub const PEER_CRED: RecordFlags = RecordFlags(8);

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

/// The credentials the kernel gave for the process at the other end of a local socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerCred {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Who sent a syslog message or an application audit event, as far as the transport
/// knows it (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sender<'a> {
    /// The network peer, when the transport has one.
    pub peer: Option<SocketAddr>,
    /// Over TLS with client certificates, the sender's verified identity.
    pub client: Option<&'a [u8]>,
    /// On a local socket, the sending process's credentials.
    pub cred: Option<PeerCred>,
}

impl<'a> Sender<'a> {
    /// A network peer alone.
    pub fn peer(peer: Option<SocketAddr>) -> Sender<'a> {
        Sender {
            peer,
            client: None,
            cred: None,
        }
    }

    fn encoded_len(&self) -> usize {
        1 + peer_len(&self.peer)
            + self.client.map_or(0, |c| 2 + c.len().min(MAX_CLIENT))
            + if self.cred.is_some() { CRED_BYTES } else { 0 }
    }

    fn flags(&self) -> RecordFlags {
        let mut f = RecordFlags::EMPTY;
        if self.client.is_some() {
            f.insert(RecordFlags::TLS_CLIENT);
        }
        if self.cred.is_some() {
            f.insert(RecordFlags::PEER_CRED);
        }
        f
    }

    fn encode(&self, out: &mut Vec<u8>) {
        encode_peer(self.peer, out);
        if let Some(c) = self.client {
            let c = &c[..c.len().min(MAX_CLIENT)];
            out.extend_from_slice(&(c.len() as u16).to_le_bytes());
            out.extend_from_slice(c);
        }
        if let Some(c) = self.cred {
            out.extend_from_slice(&c.pid.to_le_bytes());
            out.extend_from_slice(&c.uid.to_le_bytes());
            out.extend_from_slice(&c.gid.to_le_bytes());
        }
    }

    /// The sender at the start of `rest` (which starts at `at` in a payload of `len`
    /// bytes) whose record has `flags`, and the bytes it took.
    fn decode(
        rest: &'a [u8],
        flags: u8,
        at: usize,
        len: usize,
    ) -> Result<(Sender<'a>, usize), RecordError> {
        let truncated = |need: usize| RecordError::Truncated { len, need };
        let (peer, mut used) = decode_peer(rest, at, len)?;
        let mut client = None;
        if flags & RecordFlags::TLS_CLIENT.bits() != 0 {
            let need = at + used + 2;
            let l = rest.get(used..used + 2).ok_or(truncated(need))?;
            let n = usize::from(u16::from_le_bytes([l[0], l[1]]));
            client = Some(
                rest.get(used + 2..used + 2 + n)
                    .ok_or(truncated(need + n))?,
            );
            used += 2 + n;
        }
        let mut cred = None;
        if flags & RecordFlags::PEER_CRED.bits() != 0 {
            let c = rest
                .get(used..used + CRED_BYTES)
                .ok_or(truncated(at + used + CRED_BYTES))?;
            let u = |i: usize| u32::from_le_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
            cred = Some(PeerCred {
                pid: u(0),
                uid: u(4),
                gid: u(8),
            });
            used += CRED_BYTES;
        }
        Ok((Sender { peer, client, cred }, used))
    }
}

/// Where a record came from, by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin<'a> {
    /// A syslog message and its sender.
    Syslog(Sender<'a>),
    /// A file line: the file and the line's byte offset in it.
    File { path: &'a [u8], offset: u64 },
    /// A systemd journal entry (its cursor is inside the entry).
    Journald,
    /// An application audit event and its sender.
    App(Sender<'a>),
}

impl<'a> Origin<'a> {
    pub fn kind(&self) -> RecordKind {
        match self {
            Origin::Syslog(_) => RecordKind::Syslog,
            Origin::File { .. } => RecordKind::FileLine,
            Origin::Journald => RecordKind::Journald,
            Origin::App(_) => RecordKind::App,
        }
    }

    /// The sender of a syslog message or an application audit event.
    pub fn sender(&self) -> Option<&Sender<'a>> {
        match self {
            Origin::Syslog(s) | Origin::App(s) => Some(s),
            _ => None,
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            Origin::Syslog(s) | Origin::App(s) => s.encoded_len(),
            Origin::File { path, .. } => 8 + 2 + path.len().min(usize::from(u16::MAX)),
            Origin::Journald => 0,
        }
    }
}

/// One received message as journalled. Borrows the raw bytes so that encoding from a
/// read buffer and decoding from a journal page copy nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IngestRecord<'a> {
    /// Nanoseconds since the Unix epoch, one clock reading per read.
    pub received_ns: i64,
    /// Index of the configured source (config order) that took it.
    pub source: u16,
    /// What it is and where it came from.
    pub origin: Origin<'a>,
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
    /// A kind this build does not know (a newer writer's).
    #[error("unknown ingest record kind {0}")]
    UnknownKind(u8),
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
    /// A syslog message.
    pub fn syslog(
        received_ns: i64,
        source: u16,
        peer: Option<SocketAddr>,
        flags: RecordFlags,
        raw: &'a [u8],
    ) -> IngestRecord<'a> {
        IngestRecord {
            received_ns,
            source,
            origin: Origin::Syslog(Sender::peer(peer)),
            flags,
            raw,
        }
    }

    /// The verified TLS client identity of the sender.
    pub fn tls_client(&self) -> Option<&'a [u8]> {
        self.origin.sender().and_then(|s| s.client)
    }

    /// The sending process's credentials, from a local socket.
    pub fn peer_cred(&self) -> Option<PeerCred> {
        self.origin.sender().and_then(|s| s.cred)
    }

    /// What kind of record it is.
    pub fn kind(&self) -> RecordKind {
        self.origin.kind()
    }

    /// The network peer of the sender.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.origin.sender().and_then(|s| s.peer)
    }

    /// Length of the encoded record, so callers can reserve exactly.
    pub fn encoded_len(&self) -> usize {
        FIXED_HEADER + self.origin.encoded_len() + self.raw.len()
    }

    /// Appends the encoded record to `out` (one reserve, no other allocation). A path
    /// longer than 65,535 bytes (no file system allows one) is cut there.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.push(RECORD_VERSION);
        out.push(self.kind().as_u8());
        let mut flags = self.flags;
        if let Some(s) = self.origin.sender() {
            flags.insert(s.flags());
        }
        out.push(flags.bits());
        out.extend_from_slice(&self.source.to_le_bytes());
        out.extend_from_slice(&self.received_ns.to_le_bytes());
        match self.origin {
            Origin::Syslog(s) | Origin::App(s) => s.encode(out),
            Origin::File { path, offset } => {
                let path = &path[..path.len().min(usize::from(u16::MAX))];
                out.extend_from_slice(&offset.to_le_bytes());
                out.extend_from_slice(&(path.len() as u16).to_le_bytes());
                out.extend_from_slice(path);
            }
            Origin::Journald => {}
        }
        out.extend_from_slice(self.raw);
    }

    /// Decodes a payload written by [`IngestRecord::encode_into`] (or by the version-1
    /// encoder); `raw` and a file path borrow from it.
    pub fn decode(payload: &'a [u8]) -> Result<IngestRecord<'a>, RecordError> {
        let version = *payload.first().ok_or(RecordError::Empty)?;
        let truncated = |need: usize| RecordError::Truncated {
            len: payload.len(),
            need,
        };
        match version {
            RECORD_VERSION => {
                let h = payload.get(..FIXED_HEADER).ok_or(truncated(FIXED_HEADER))?;
                let kind = RecordKind::from_u8(h[1]).ok_or(RecordError::UnknownKind(h[1]))?;
                // TLS_CLIENT and PEER_CRED are the origin's business (a client identity
                // or credentials are there or not), never flags a reader sees.
                let origin_bits = (RecordFlags::TLS_CLIENT | RecordFlags::PEER_CRED).bits();
                let flags = RecordFlags::from_bits(h[2] & !origin_bits);
                let source = u16::from_le_bytes([h[3], h[4]]);
                let received_ns = i64_at(h, 5);
                let rest = &payload[FIXED_HEADER..];
                let (origin, used) = match kind {
                    RecordKind::Syslog | RecordKind::App => {
                        let (s, used) = Sender::decode(rest, h[2], FIXED_HEADER, payload.len())?;
                        match kind {
                            RecordKind::App => (Origin::App(s), used),
                            _ => (Origin::Syslog(s), used),
                        }
                    }
                    RecordKind::FileLine => {
                        let fixed = rest.get(..10).ok_or(truncated(FIXED_HEADER + 10))?;
                        let offset = u64::from_le_bytes(fixed[..8].try_into().unwrap_or([0; 8]));
                        let len = usize::from(u16::from_le_bytes([fixed[8], fixed[9]]));
                        let path = rest
                            .get(10..10 + len)
                            .ok_or(truncated(FIXED_HEADER + 10 + len))?;
                        (Origin::File { path, offset }, 10 + len)
                    }
                    RecordKind::Journald => (Origin::Journald, 0),
                };
                Ok(IngestRecord {
                    received_ns,
                    source,
                    origin,
                    flags,
                    raw: &rest[used..],
                })
            }
            RECORD_VERSION_1 => {
                let h = payload
                    .get(..FIXED_HEADER_V1)
                    .ok_or(truncated(FIXED_HEADER_V1 + 1))?;
                let flags = RecordFlags::from_bits(h[1]);
                let source = u16::from_le_bytes([h[2], h[3]]);
                let received_ns = i64_at(h, 4);
                let rest = &payload[FIXED_HEADER_V1..];
                let (peer, used) = decode_peer(rest, FIXED_HEADER_V1, payload.len())?;
                Ok(IngestRecord {
                    received_ns,
                    source,
                    origin: Origin::Syslog(Sender::peer(peer)),
                    flags,
                    raw: &rest[used..],
                })
            }
            other => Err(RecordError::UnsupportedVersion(other)),
        }
    }
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut ns = [0u8; 8];
    ns.copy_from_slice(&b[at..at + 8]);
    i64::from_le_bytes(ns)
}

fn encode_peer(peer: Option<SocketAddr>, out: &mut Vec<u8>) {
    match peer {
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
}

/// The peer at the start of `rest` (which starts at `at` in a payload of `len` bytes),
/// and the bytes it took.
fn decode_peer(
    rest: &[u8],
    at: usize,
    len: usize,
) -> Result<(Option<SocketAddr>, usize), RecordError> {
    let kind = *rest
        .first()
        .ok_or(RecordError::Truncated { len, need: at + 1 })?;
    let peer_bytes = match kind {
        PEER_NONE => 0,
        PEER_V4 => 6,
        PEER_V6 => 22,
        other => return Err(RecordError::UnknownPeerKind(other)),
    };
    let need = 1 + peer_bytes;
    let p = rest.get(1..need).ok_or(RecordError::Truncated {
        len,
        need: at + need,
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
    Ok((peer, need))
}

fn peer_len(peer: &Option<SocketAddr>) -> usize {
    match peer {
        None => 0,
        Some(SocketAddr::V4(_)) => 6,
        Some(SocketAddr::V6(_)) => 22,
    }
}

#[cfg(test)]
mod tests;
