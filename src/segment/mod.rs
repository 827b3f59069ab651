//! Segment and seal format: one zstd data frame of JSON event lines followed by one zstd
//! skippable frame carrying the signed seal. `docs/FORMAT.md` is the byte-for-byte
//! specification; this module is its reference implementation.
//!
//! Why this shape: stock `zstdcat` prints the events (skippable frames are ignored), the
//! seal travels inside the same object (no sidecar to lose), and the SHA-256 of the
//! *compressed* frame is cheap and is what an object store's checksum also covers. The
//! RFC 6962 Merkle root commits to the content line by line without a second pass.

pub mod anchor;
mod builder;
mod frame;
mod locate;
pub mod merkle;
#[cfg(test)]
pub(crate) mod reference;
pub mod stream;
#[cfg(test)]
mod stream_tests;
mod writer;

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

pub(crate) use builder::{append_seal, check_header, Summary};
pub use builder::{Content, Sealed, SegmentBuilder, SPARE_BUFFERS};
pub use locate::{Located, TAIL_MAX};
pub use merkle::MerkleBuilder;
pub use stream::{
    copy_content, digest_data_frame, merkle_root, read_seal, ContentDigest, ObjectScanner,
    MAX_WINDOW_LOG,
};
pub use writer::SegmentWriter;

/// Seal format version written by this code; other versions are rejected explicitly.
pub const FORMAT_VERSION: u16 = 1;

/// zstd skippable frame magic used for the seal (0x184D2A50 + 3).
pub const SEAL_FRAME_MAGIC: u32 = 0x184D_2A53;
/// zstd data frame magic (RFC 8878 §3.1.1).
pub const ZSTD_MAGIC: u32 = 0xFD2F_B528;
/// First six bytes of every seal payload.
pub const SEAL_MAGIC: &[u8; 6] = b"STSEAL";
/// Seal payload length without the stream id bytes.
pub const SEAL_FIXED_LEN: usize = 250;
/// Length of the signature at the end of the payload.
pub const SIGNATURE_LEN: usize = 64;
/// Longest accepted stream id.
pub const MAX_STREAM_LEN: usize = 64;
/// Longest skippable payload `parse` will look for when the data frame is damaged.
/// Larger than any v1 seal so a future, longer version is still found and reported as
/// an unsupported version rather than as garbage.
const MAX_SCAN_PAYLOAD: usize = 4096;

/// Errors of the segment format.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// The object ends before its structure does (cut upload, partial copy).
    #[error("truncated: {0}")]
    Truncated(String),
    /// The bytes are not a segment (bad magic, impossible lengths, trailing garbage).
    #[error("malformed: {0}")]
    Malformed(String),
    #[error("unsupported seal format version {0} (this build reads version {FORMAT_VERSION})")]
    UnsupportedVersion(u16),
    #[error("unknown seal kind {0}")]
    UnknownKind(u8),
    #[error("invalid stream id {0:?} (allowed: [A-Za-z0-9._-]{{1,64}}, not \".\" or \"..\")")]
    InvalidStream(String),
    #[error("invalid seal header: {0}")]
    InvalidHeader(String),
    #[error("signature does not verify")]
    BadSignature,
    /// The data frame does not decompress, fails its checksum, or is not exactly one frame.
    #[error("corrupt data frame: {0}")]
    Corrupt(String),
    #[error("content larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("zstd: {0}")]
    Zstd(#[source] std::io::Error),
    /// Reading the object (or writing its content) failed.
    #[error("{0}")]
    Io(#[source] std::io::Error),
}

/// Why a segment was sealed the way it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealKind {
    /// Regular segment: its period never exceeds the sealer's `heartbeat_ms`.
    Normal,
    /// First segment after a daemon start: its period covers the daemon's downtime.
    Resume,
    /// The last segment before a clean stop: sealed on purpose at its period's end, so
    /// the end of coverage there is a planned stop, not a truncated tail. The next
    /// segment, if any, is a resume.
    Stop,
    /// The last segment signed by a retiring key: a normal segment whose seal also
    /// carries the next key's public key ([`Seal::next_key`]). From the next seq on, the
    /// chain is signed by that key; the old key signs nothing after this.
    Rotate,
}

impl SealKind {
    pub fn as_u8(self) -> u8 {
        match self {
            SealKind::Normal => 0,
            SealKind::Resume => 1,
            SealKind::Stop => 2,
            SealKind::Rotate => 3,
        }
    }

    pub fn from_u8(v: u8) -> Result<Self, SegmentError> {
        match v {
            0 => Ok(SealKind::Normal),
            1 => Ok(SealKind::Resume),
            2 => Ok(SealKind::Stop),
            3 => Ok(SealKind::Rotate),
            other => Err(SegmentError::UnknownKind(other)),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SealKind::Normal => "normal",
            SealKind::Resume => "resume",
            SealKind::Stop => "stop",
            SealKind::Rotate => "rotate",
        }
    }

    /// Bytes the payload of this kind carries beyond [`SEAL_FIXED_LEN`] and the stream
    /// id: a rotation seal's next public key.
    pub fn extra_len(self) -> usize {
        match self {
            SealKind::Rotate => NEXT_KEY_LEN,
            SealKind::Normal | SealKind::Resume | SealKind::Stop => 0,
        }
    }
}

/// Length of the next key's raw Ed25519 public key in a rotation seal.
pub const NEXT_KEY_LEN: usize = 32;

/// What the sealer decides about a segment; the builder adds what it measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealHeader {
    pub kind: SealKind,
    pub stream: String,
    pub seq: u64,
    pub prev_hash: [u8; 32],
    pub period_start_ns: i64,
    pub period_end_ns: i64,
    pub heartbeat_ms: u64,
    /// The next key's raw public key: set exactly when `kind` is [`SealKind::Rotate`].
    pub next_key: Option<[u8; 32]>,
}

/// A decoded seal. `to_bytes` is the exact payload of the skippable frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    pub version: u16,
    pub kind: SealKind,
    pub stream: String,
    pub seq: u64,
    /// Seal hash of segment `seq - 1`; all zeros for `seq == 0`.
    pub prev_hash: [u8; 32],
    /// Unix nanoseconds; periods of consecutive segments tile time.
    pub period_start_ns: i64,
    pub period_end_ns: i64,
    /// The sealer's promise: a normal segment's period never exceeds this.
    pub heartbeat_ms: u64,
    /// Earliest and latest event time in the segment (0 when `event_count == 0`).
    pub first_event_ns: i64,
    pub last_event_ns: i64,
    pub event_count: u64,
    /// Uncompressed bytes of the event lines, newlines included.
    pub content_len: u64,
    /// Bytes of the compressed data frame.
    pub data_len: u64,
    pub data_sha256: [u8; 32],
    pub merkle_root: [u8; 32],
    pub key_id: [u8; 8],
    /// Rotation seals only: the raw public key that signs the chain from `seq + 1` on.
    /// Signed with the rest, by the retiring key.
    pub next_key: Option<[u8; 32]>,
    pub signature: [u8; 64],
}

fn take<const N: usize>(b: &[u8], at: &mut usize) -> [u8; N] {
    let mut out = [0u8; N];
    // Callers check the total length first; a short slice yields zeros, never a panic.
    if let Some(src) = b.get(*at..*at + N) {
        out.copy_from_slice(src);
    }
    *at += N;
    out
}

impl Seal {
    /// Length of the whole payload: fixed part, stream id, what the kind adds.
    pub fn payload_len(&self) -> usize {
        SEAL_FIXED_LEN + self.stream.len() + self.kind.extra_len()
    }

    /// The canonical bytes the signature covers: the whole payload minus the signature.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.payload_len());
        self.write_signed(&mut v);
        v
    }

    fn write_signed(&self, v: &mut Vec<u8>) {
        v.extend_from_slice(SEAL_MAGIC);
        v.extend_from_slice(&self.version.to_le_bytes());
        v.push(self.kind.as_u8());
        // valid_stream_id bounds the length to 64; `min` only keeps a hand-built seal
        // from writing a length byte that disagrees with the bytes.
        let stream = &self.stream.as_bytes()[..self.stream.len().min(255)];
        v.push(stream.len() as u8);
        v.extend_from_slice(stream);
        v.extend_from_slice(&self.seq.to_le_bytes());
        v.extend_from_slice(&self.prev_hash);
        v.extend_from_slice(&self.period_start_ns.to_le_bytes());
        v.extend_from_slice(&self.period_end_ns.to_le_bytes());
        v.extend_from_slice(&self.heartbeat_ms.to_le_bytes());
        v.extend_from_slice(&self.first_event_ns.to_le_bytes());
        v.extend_from_slice(&self.last_event_ns.to_le_bytes());
        v.extend_from_slice(&self.event_count.to_le_bytes());
        v.extend_from_slice(&self.content_len.to_le_bytes());
        v.extend_from_slice(&self.data_len.to_le_bytes());
        v.extend_from_slice(&self.data_sha256);
        v.extend_from_slice(&self.merkle_root);
        v.extend_from_slice(&self.key_id);
        if self.kind == SealKind::Rotate {
            v.extend_from_slice(&self.next_key.unwrap_or([0; 32]));
        }
    }

    /// The skippable frame payload: signed bytes followed by the 64-byte signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.payload_len());
        self.write_signed(&mut v);
        v.extend_from_slice(&self.signature);
        v
    }

    /// Checks what decides how to read a payload of `len` bytes that begins with
    /// `first` (at least its first 10 bytes): magic, then version and kind, then that
    /// `len` fits the stream id length, which it returns with the kind. Magic, version
    /// and kind come before the length, so a seal of a future version is reported as such
    /// rather than as garbage.
    pub(crate) fn check_preamble(
        first: &[u8],
        len: usize,
    ) -> Result<(SealKind, usize), SegmentError> {
        let Some(b) = first.get(..10).filter(|_| len >= 10) else {
            return Err(SegmentError::Malformed(format!(
                "seal payload of {len} bytes is too short"
            )));
        };
        if &b[..6] != SEAL_MAGIC {
            return Err(SegmentError::Malformed(format!(
                "seal magic is {}, expected {}",
                hex::encode(&b[..6]),
                hex::encode(SEAL_MAGIC)
            )));
        }
        let version = u16::from_le_bytes([b[6], b[7]]);
        if version != FORMAT_VERSION {
            return Err(SegmentError::UnsupportedVersion(version));
        }
        let kind = SealKind::from_u8(b[8])?;
        let stream_len = b[9] as usize;
        let expected = SEAL_FIXED_LEN + stream_len + kind.extra_len();
        if len != expected {
            return Err(SegmentError::Malformed(format!(
                "seal payload is {len} bytes, expected {expected} for a {} seal with a stream id of {stream_len} bytes",
                kind.as_str()
            )));
        }
        Ok((kind, stream_len))
    }

    /// Decodes a payload (`Seal::check_preamble` says in which order it checks).
    pub fn from_bytes(b: &[u8]) -> Result<Seal, SegmentError> {
        let (kind, stream_len) = Self::check_preamble(b, b.len())?;
        let version = FORMAT_VERSION;
        let stream = std::str::from_utf8(&b[10..10 + stream_len])
            .ok()
            .filter(|s| valid_stream_id(s))
            .ok_or_else(|| {
                SegmentError::Malformed(format!(
                    "invalid stream id bytes {}",
                    hex::encode(&b[10..10 + stream_len])
                ))
            })?
            .to_owned();
        let mut at = 10 + stream_len;
        let seq = u64::from_le_bytes(take(b, &mut at));
        let prev_hash = take(b, &mut at);
        let period_start_ns = i64::from_le_bytes(take(b, &mut at));
        let period_end_ns = i64::from_le_bytes(take(b, &mut at));
        let heartbeat_ms = u64::from_le_bytes(take(b, &mut at));
        let first_event_ns = i64::from_le_bytes(take(b, &mut at));
        let last_event_ns = i64::from_le_bytes(take(b, &mut at));
        let event_count = u64::from_le_bytes(take(b, &mut at));
        let content_len = u64::from_le_bytes(take(b, &mut at));
        let data_len = u64::from_le_bytes(take(b, &mut at));
        let data_sha256 = take(b, &mut at);
        let merkle_root = take(b, &mut at);
        let key_id = take(b, &mut at);
        let next_key = (kind == SealKind::Rotate).then(|| take(b, &mut at));
        let signature = take(b, &mut at);
        Ok(Seal {
            version,
            kind,
            stream,
            seq,
            prev_hash,
            period_start_ns,
            period_end_ns,
            heartbeat_ms,
            first_event_ns,
            last_event_ns,
            event_count,
            content_len,
            data_len,
            data_sha256,
            merkle_root,
            key_id,
            next_key,
            signature,
        })
    }

    /// Seal hash: SHA-256 of the whole payload (signed bytes ‖ signature). The next
    /// segment's `prev_hash` names it.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.to_bytes()).into()
    }

    /// The seal as a JSON object, for `inspect` and tooling (times as RFC 3339 and as
    /// nanoseconds, hashes in hex). Not the signed form: that is [`Seal::signed_bytes`].
    pub fn to_json(&self) -> serde_json::Value {
        let t = rfc3339;
        let mut v = serde_json::json!({
            "version": self.version,
            "kind": self.kind.as_str(),
            "stream": self.stream,
            "seq": self.seq,
            "prev_hash": hex::encode(self.prev_hash),
            "seal_hash": hex::encode(self.hash()),
            "period_start": t(self.period_start_ns),
            "period_end": t(self.period_end_ns),
            "period_start_ns": self.period_start_ns,
            "period_end_ns": self.period_end_ns,
            "heartbeat_ms": self.heartbeat_ms,
            "first_event_ns": self.first_event_ns,
            "last_event_ns": self.last_event_ns,
            "event_count": self.event_count,
            "content_len": self.content_len,
            "data_len": self.data_len,
            "data_sha256": hex::encode(self.data_sha256),
            "merkle_root": hex::encode(self.merkle_root),
            "key_id": hex::encode(self.key_id),
            "signature": hex::encode(self.signature),
        });
        if let Some(next) = self.next_key {
            let id = hex::encode(crate::keys::key_id_of(&next));
            v["next_key"] = serde_json::Value::String(hex::encode(next));
            v["next_key_id"] = serde_json::Value::String(id);
        }
        v
    }

    /// Strict Ed25519 verification (RFC 8032, canonical signatures only) of the signed
    /// bytes. Does not compare `key_id`: the verifier reports that separately.
    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<(), SegmentError> {
        let sig = Signature::from_bytes(&self.signature);
        key.verify_strict(&self.signed_bytes(), &sig)
            .map_err(|_| SegmentError::BadSignature)
    }
}

/// A seal time (unix nanoseconds) as RFC 3339 UTC, as `inspect` and `verify` print it.
pub fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// A parsed object: the data frame (unchecked) and the decoded seal (unverified).
#[derive(Debug, Clone)]
pub struct SegmentView<'a> {
    pub data_frame: &'a [u8],
    pub seal: Seal,
}

fn u32_le(b: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(..4)?.try_into().ok()?))
}

/// Splits an object into data frame and seal. Structure only: it does not check the
/// data frame (see [`digest_data_frame`]) nor the signature.
///
/// The seal is found from the front (data frame length, then the skippable frame) and,
/// if that fails, from the back (a skippable header whose size reaches exactly the end),
/// so a damaged data frame still yields its seal and is reported as a hash mismatch
/// rather than as a broken object. An object cut short is `SegmentError::Truncated`.
/// The streaming [`ObjectScanner`] places the seal by the same rule (`locate`).
pub fn parse(bytes: &[u8]) -> Result<SegmentView<'_>, SegmentError> {
    let len = bytes.len() as u64;
    let head = &bytes[..bytes.len().min(4)];
    locate::check_head(len, head)?;
    let end = zstd::zstd_safe::find_frame_compressed_size(bytes).map(|n| n as u64);
    let post = match end {
        Ok(n) => bytes
            .get(n as usize..)
            .map_or(&[][..], |r| &r[..r.len().min(frame::POST_LEN)]),
        Err(_) => &[],
    };
    let structure = locate::Structure {
        len,
        head,
        // The whole object is here: no prefix of it is ever asked about.
        walk: frame::Walk { end, last_need: 0 },
        post,
        tail: &bytes[bytes.len() - bytes.len().min(TAIL_MAX)..],
    };
    let found = locate::locate(&structure)?;
    let data_frame = usize::try_from(found.seal_start)
        .ok()
        .and_then(|n| bytes.get(..n))
        .ok_or_else(|| SegmentError::Malformed("seal placed past the end".into()))?;
    Ok(SegmentView {
        data_frame,
        seal: found.seal,
    })
}

/// Object key below the archive prefix: `<stream>/<yyyy>/<mm>/<dd>/<seq:012>.seg.zst`,
/// dated by the UTC day of `period_end_ns`, so keys sort by stream then sequence within
/// a day and a time window maps to a few day prefixes.
pub fn object_key(stream: &str, seq: u64, period_end_ns: i64) -> String {
    use chrono::Datelike;
    let t = chrono::DateTime::from_timestamp_nanos(period_end_ns);
    format!(
        "{stream}/{:04}/{:02}/{:02}/{seq:012}.seg.zst",
        t.year(),
        t.month(),
        t.day()
    )
}

/// Parsed object key: stream, seq and the date in the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyParts {
    pub stream: String,
    pub seq: u64,
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

/// Parses the last five path components of `key` as an object key (any leading prefix
/// is accepted). Only canonical keys, as `object_key` writes them, are accepted.
pub fn parse_object_key_parts(key: &str) -> Option<KeyParts> {
    let mut parts = key.rsplit('/');
    let file = parts.next()?;
    let day = parts.next()?;
    let month = parts.next()?;
    let year = parts.next()?;
    let stream = parts.next()?;
    let digits = file.strip_suffix(".seg.zst")?;
    let all_digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(year, 4) || !all_digits(month, 2) || !all_digits(day, 2) {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !valid_stream_id(stream) {
        return None;
    }
    let seq: u64 = digits.parse().ok()?;
    if format!("{seq:012}") != digits {
        return None;
    }
    let (year, month, day) = (year.parse().ok()?, month.parse().ok()?, day.parse().ok()?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(KeyParts {
        stream: stream.to_owned(),
        seq,
        year,
        month,
        day,
    })
}

/// `(stream, seq)` named by an object key; accepts a key with any leading prefix.
pub fn parse_object_key(key: &str) -> Option<(String, u64)> {
    parse_object_key_parts(key).map(|p| (p.stream, p.seq))
}

/// `[A-Za-z0-9._-]{1,64}`, except `.` and `..`, which are not usable as path components.
pub fn valid_stream_id(s: &str) -> bool {
    (1..=MAX_STREAM_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && s != "."
        && s != ".."
}

#[cfg(test)]
pub(crate) mod format_example;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod tests_support;
