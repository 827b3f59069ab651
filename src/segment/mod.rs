//! Segment and seal format: one zstd data frame of JSON event lines followed by one zstd
//! skippable frame carrying the signed seal. `docs/FORMAT.md` is the byte-for-byte
//! specification; this module is its reference implementation.
//!
//! Why this shape: stock `zstdcat` prints the events (skippable frames are ignored), the
//! seal travels inside the same object (no sidecar to lose), and the SHA-256 of the
//! *compressed* frame is cheap and is what an object store's checksum also covers. The
//! RFC 6962 Merkle root commits to the content line by line without a second pass.

mod frame;
mod locate;
pub mod merkle;
#[cfg(test)]
pub(crate) mod reference;
pub mod stream;
#[cfg(test)]
mod stream_tests;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

pub use locate::{Located, TAIL_MAX};
pub use merkle::MerkleBuilder;
pub use stream::{
    copy_content, digest_data_frame, merkle_root, read_seal, ContentDigest, ObjectScanner,
    MAX_WINDOW_LOG,
};

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
}

impl SealKind {
    pub fn as_u8(self) -> u8 {
        match self {
            SealKind::Normal => 0,
            SealKind::Resume => 1,
        }
    }

    pub fn from_u8(v: u8) -> Result<Self, SegmentError> {
        match v {
            0 => Ok(SealKind::Normal),
            1 => Ok(SealKind::Resume),
            other => Err(SegmentError::UnknownKind(other)),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SealKind::Normal => "normal",
            SealKind::Resume => "resume",
        }
    }
}

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
    /// The canonical bytes the signature covers: the whole payload minus the signature.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(SEAL_FIXED_LEN + self.stream.len());
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
    }

    /// The skippable frame payload: signed bytes followed by the 64-byte signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(SEAL_FIXED_LEN + self.stream.len());
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
        let expected = SEAL_FIXED_LEN + stream_len;
        if len != expected {
            return Err(SegmentError::Malformed(format!(
                "seal payload is {len} bytes, expected {expected} for a stream id of {stream_len} bytes"
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
        serde_json::json!({
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
        })
    }

    /// Strict Ed25519 verification (RFC 8032, canonical signatures only) of the signed
    /// bytes. Does not compare `key_id`: the verifier reports that separately.
    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<(), SegmentError> {
        let sig = Signature::from_bytes(&self.signature);
        key.verify_strict(&self.signed_bytes(), &sig)
            .map_err(|_| SegmentError::BadSignature)
    }
}

/// Builds segments one after another, reusing its zstd context and buffers so the hot
/// path allocates nothing per event.
pub struct SegmentBuilder {
    sealer: SegmentSealer,
    buf: Vec<u8>,
    merkle: MerkleBuilder,
    count: u64,
    min_time: i64,
    max_time: i64,
    escaped: u64,
}

impl std::fmt::Debug for SegmentBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentBuilder")
            .field("events", &self.count)
            .field("bytes", &self.buf.len())
            .finish_non_exhaustive()
    }
}

/// A sealed object: the bytes to store and the seal inside them.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub bytes: Vec<u8>,
    pub seal: Seal,
}

impl SegmentBuilder {
    /// A builder compressing at `zstd_level` with the content checksum on and the content
    /// size in the frame header.
    pub fn new(zstd_level: i32) -> Result<Self, SegmentError> {
        Ok(Self {
            sealer: SegmentSealer::new(zstd_level)?,
            buf: Vec::with_capacity(1 << 20),
            merkle: MerkleBuilder::new(),
            count: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
            escaped: 0,
        })
    }

    /// Appends one event line rendered by `render` straight into the segment buffer (no
    /// copy), hashes the leaf while it is hot in cache, then adds `'\n'`.
    ///
    /// `render` must not write `'\n'`. If it does, each raw `'\n'` byte is rewritten as
    /// the two bytes `\n` (the JSON escape), so one event stays one line and the Merkle
    /// leaf matches what a reader splits; `escaped_newlines` counts such events.
    pub fn push_with(&mut self, event_time_ns: i64, render: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        render(&mut self.buf);
        if memchr::memchr(b'\n', &self.buf[start..]).is_some() {
            self.escape_newlines(start);
        }
        self.merkle.push_line(&self.buf[start..]);
        self.buf.push(b'\n');
        self.count += 1;
        self.min_time = self.min_time.min(event_time_ns);
        self.max_time = self.max_time.max(event_time_ns);
    }

    #[cold]
    fn escape_newlines(&mut self, start: usize) {
        let tail = self.buf.split_off(start);
        self.buf.reserve(tail.len() + 8);
        for &b in &tail {
            if b == b'\n' {
                self.buf.extend_from_slice(b"\\n");
            } else {
                self.buf.push(b);
            }
        }
        self.escaped += 1;
    }

    /// Appends a ready line (without its `'\n'`).
    pub fn push_line(&mut self, line: &[u8], event_time_ns: i64) {
        self.push_with(event_time_ns, |b| b.extend_from_slice(line));
    }

    pub fn event_count(&self) -> u64 {
        self.count
    }

    pub fn uncompressed_len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Events whose rendering contained a raw newline (rewritten, see `push_with`).
    pub fn escaped_newlines(&self) -> u64 {
        self.escaped
    }

    /// Compresses, builds and signs the seal, returns the object bytes; resets for the
    /// next segment. On error nothing is reset, so the caller may retry.
    pub fn finish(&mut self, header: SealHeader, key: &SigningKey) -> Result<Sealed, SegmentError> {
        // Checked first so that a bad header leaves the content in the builder.
        check_header(&header)?;
        let content = self.take();
        let sealed = self.sealer.seal(&content, header, key);
        self.recycle(content);
        sealed
    }

    /// Hands over the segment's content (lines, Merkle root, count, time range) so it
    /// can be compressed and signed elsewhere ([`SegmentSealer`]), e.g. on another
    /// thread while this builder already fills the next segment.
    pub fn take(&mut self) -> Content {
        let capacity = self.buf.capacity();
        let content = Content {
            lines: std::mem::replace(&mut self.buf, Vec::with_capacity(capacity)),
            merkle_root: self.merkle.root(),
            count: self.count,
            min_time: self.min_time,
            max_time: self.max_time,
        };
        self.reset();
        content
    }

    /// Gives a finished content's buffer back for reuse.
    pub fn recycle(&mut self, content: Content) {
        if self.buf.is_empty() && content.lines.capacity() > self.buf.capacity() {
            self.buf = content.lines;
            self.buf.clear();
        }
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.merkle.reset();
        self.count = 0;
        self.min_time = i64::MAX;
        self.max_time = i64::MIN;
    }
}

/// The content of one segment, as [`SegmentBuilder::take`] hands it over.
#[derive(Debug)]
pub struct Content {
    /// Event lines, each terminated by `\n`.
    pub lines: Vec<u8>,
    pub merkle_root: [u8; 32],
    pub count: u64,
    min_time: i64,
    max_time: i64,
}

/// A seal time (unix nanoseconds) as RFC 3339 UTC, as `inspect` and `verify` print it.
pub fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn check_header(header: &SealHeader) -> Result<(), SegmentError> {
    if !valid_stream_id(&header.stream) {
        return Err(SegmentError::InvalidStream(header.stream.clone()));
    }
    if header.period_end_ns < header.period_start_ns {
        return Err(SegmentError::InvalidHeader(format!(
            "period ends ({}) before it starts ({})",
            header.period_end_ns, header.period_start_ns
        )));
    }
    Ok(())
}

/// Compresses and signs segment contents, reusing its zstd context.
pub struct SegmentSealer {
    compressor: zstd::bulk::Compressor<'static>,
}

impl std::fmt::Debug for SegmentSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentSealer").finish_non_exhaustive()
    }
}

impl SegmentSealer {
    pub fn new(zstd_level: i32) -> Result<Self, SegmentError> {
        let mut compressor = zstd::bulk::Compressor::new(zstd_level).map_err(SegmentError::Zstd)?;
        compressor
            .set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
            .map_err(SegmentError::Zstd)?;
        compressor
            .set_parameter(zstd::zstd_safe::CParameter::ContentSizeFlag(true))
            .map_err(SegmentError::Zstd)?;
        Ok(SegmentSealer { compressor })
    }

    /// Compresses `content`, builds and signs the seal, returns the object bytes.
    pub fn seal(
        &mut self,
        content: &Content,
        header: SealHeader,
        key: &SigningKey,
    ) -> Result<Sealed, SegmentError> {
        check_header(&header)?;
        let payload_len = SEAL_FIXED_LEN + header.stream.len();
        let mut out = Vec::with_capacity(
            zstd::zstd_safe::compress_bound(content.lines.len()) + 8 + payload_len,
        );
        self.compressor
            .compress_to_buffer(&content.lines, &mut out)
            .map_err(SegmentError::Zstd)?;
        let (first_event_ns, last_event_ns) = if content.count == 0 {
            (0, 0)
        } else {
            (content.min_time, content.max_time)
        };
        let mut seal = Seal {
            version: FORMAT_VERSION,
            kind: header.kind,
            stream: header.stream,
            seq: header.seq,
            prev_hash: header.prev_hash,
            period_start_ns: header.period_start_ns,
            period_end_ns: header.period_end_ns,
            heartbeat_ms: header.heartbeat_ms,
            first_event_ns,
            last_event_ns,
            event_count: content.count,
            content_len: content.lines.len() as u64,
            data_len: out.len() as u64,
            data_sha256: Sha256::digest(&out).into(),
            merkle_root: content.merkle_root,
            key_id: crate::keys::key_id(&key.verifying_key()),
            signature: [0; 64],
        };
        seal.signature = key.sign(&seal.signed_bytes()).to_bytes();
        let payload = seal.to_bytes();
        out.extend_from_slice(&SEAL_FRAME_MAGIC.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&payload);
        Ok(Sealed { bytes: out, seal })
    }
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

/// Objects for the tests of this module's parts.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub fn key() -> SigningKey {
        SigningKey::from_bytes(&[42u8; 32])
    }

    /// `n` event-like lines of varied lengths.
    pub fn sample_lines(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                format!(
                    "{{\"@timestamp\":{i},\"message\":\"event {i} {}\"}}",
                    "x".repeat(i * 7 % 50)
                )
                .into_bytes()
            })
            .collect()
    }

    /// `frame` followed by the seal frame of `seal` (as it is: not re-signed).
    pub fn assemble(frame: &[u8], seal: &Seal) -> Vec<u8> {
        let payload = seal.to_bytes();
        let mut v = frame.to_vec();
        v.extend_from_slice(&SEAL_FRAME_MAGIC.to_le_bytes());
        v.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        v.extend_from_slice(&payload);
        v
    }

    /// A segment whose seal describes `frame` as its data frame (length and SHA-256),
    /// with `edit` applied to the seal before `key` signs it: a crafted object that is
    /// authentic whatever its frame holds.
    pub fn seal_over(frame: &[u8], key: &SigningKey, edit: impl FnOnce(&mut Seal)) -> Vec<u8> {
        let content = zstd::decode_all(frame).unwrap_or_default();
        let mut seal = build(1, &[]).seal;
        seal.data_len = frame.len() as u64;
        seal.data_sha256 = Sha256::digest(frame).into();
        seal.content_len = content.len() as u64;
        seal.event_count = content.iter().filter(|&&b| b == b'\n').count() as u64;
        seal.merkle_root = merkle_root(&content);
        seal.key_id = crate::keys::key_id(&key.verifying_key());
        edit(&mut seal);
        seal.signature = key.sign(&seal.signed_bytes()).to_bytes();
        assemble(frame, &seal)
    }

    /// `n` lines that do not compress, so that data frames outgrow the tail window.
    pub fn noisy_lines(n: usize) -> Vec<Vec<u8>> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..n)
            .map(|i| {
                let mut l = format!("{{\"n\":{i},\"noise\":\"").into_bytes();
                for _ in 0..60 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    l.extend_from_slice(format!("{:x}", x & 0xf).as_bytes());
                }
                l.extend_from_slice(b"\"}");
                l
            })
            .collect()
    }

    /// Seq 3 of stream `host-a`.
    pub fn header() -> SealHeader {
        SealHeader {
            kind: SealKind::Normal,
            stream: "host-a".into(),
            seq: 3,
            prev_hash: [3; 32],
            period_start_ns: 1_714_564_800_000_000_000,
            period_end_ns: 1_714_564_860_000_000_000,
            heartbeat_ms: 60_000,
        }
    }

    /// A sealed segment of `lines` at `level` (see [`header`]).
    pub fn build(level: i32, lines: &[Vec<u8>]) -> Sealed {
        let mut b = SegmentBuilder::new(level).unwrap();
        for (i, l) in lines.iter().enumerate() {
            b.push_line(l, 1_000 + i as i64);
        }
        b.finish(header(), &key()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[42u8; 32])
    }

    fn header(seq: u64) -> SealHeader {
        SealHeader {
            kind: SealKind::Normal,
            stream: "host-a".into(),
            seq,
            prev_hash: [seq as u8; 32],
            period_start_ns: 1_714_564_800_000_000_000,
            period_end_ns: 1_714_564_860_000_000_000,
            heartbeat_ms: 60_000,
        }
    }

    fn build(lines: &[&[u8]]) -> Sealed {
        let mut b = SegmentBuilder::new(1).unwrap();
        for (i, l) in lines.iter().enumerate() {
            b.push_line(l, 1_000 + i as i64);
        }
        b.finish(header(3), &key()).unwrap()
    }

    #[test]
    fn merkle_root_hand_computed() {
        // 0 leaves: SHA-256 of the empty string.
        assert_eq!(
            hex::encode(merkle_root(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // 1 empty leaf: the RFC 6962 test vector SHA-256(0x00).
        assert_eq!(
            hex::encode(merkle_root(b"\n")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let l = |s: &[u8]| sha(&[&[0u8], s]);
        let n = |a: [u8; 32], b: [u8; 32]| sha(&[&[1u8], &a, &b]);
        assert_eq!(merkle_root(b"a\n"), l(b"a"));
        assert_eq!(merkle_root(b"a\nb\n"), n(l(b"a"), l(b"b")));
        assert_eq!(merkle_root(b"a\nb\nc\n"), n(n(l(b"a"), l(b"b")), l(b"c")));
        assert_eq!(
            merkle_root(b"a\nb\nc\nd\ne\n"),
            n(n(n(l(b"a"), l(b"b")), n(l(b"c"), l(b"d"))), l(b"e"))
        );
        // An unterminated last line still counts as a line.
        assert_eq!(merkle_root(b"a\nb"), n(l(b"a"), l(b"b")));
    }

    #[test]
    fn seal_round_trip_and_layout() {
        let s = build(&[b"one", b"two"]).seal;
        let bytes = s.to_bytes();
        assert_eq!(bytes.len(), SEAL_FIXED_LEN + s.stream.len());
        assert_eq!(&bytes[..6], b"STSEAL");
        assert_eq!(&bytes[6..8], &[1, 0]);
        assert_eq!(bytes[9] as usize, s.stream.len());
        assert_eq!(&bytes[10..16], b"host-a");
        assert_eq!(Seal::from_bytes(&bytes).unwrap(), s);
        let signed = s.signed_bytes();
        assert_eq!(signed.len() + SIGNATURE_LEN, bytes.len());
        assert_eq!(&bytes[..signed.len()], &signed[..]);
        assert_eq!(&bytes[signed.len()..], &s.signature);
        assert_eq!(s.hash(), sha(&[&bytes]));
        assert_eq!(s.event_count, 2);
        assert_eq!(s.content_len, 8);
        assert_eq!((s.first_event_ns, s.last_event_ns), (1_000, 1_001));
        assert_eq!(s.key_id, crate::keys::key_id(&key().verifying_key()));
    }

    #[test]
    fn signature_covers_canonical_bytes() {
        let s = build(&[b"x"]).seal;
        let vk = key().verifying_key();
        s.verify_signature(&vk).unwrap();
        // Independently: Ed25519 over exactly the signed bytes.
        let sig = Signature::from_bytes(&s.signature);
        vk.verify_strict(&s.signed_bytes(), &sig).unwrap();
        let mut t = s.clone();
        t.period_end_ns += 1;
        assert!(matches!(
            t.verify_signature(&vk),
            Err(SegmentError::BadSignature)
        ));
        let other = SigningKey::from_bytes(&[1u8; 32]).verifying_key();
        assert!(s.verify_signature(&other).is_err());
    }

    #[test]
    fn rejects_unknown_versions_and_kinds() {
        let s = build(&[]).seal;
        let mut b = s.to_bytes();
        b[6] = 2;
        assert!(matches!(
            Seal::from_bytes(&b),
            Err(SegmentError::UnsupportedVersion(2))
        ));
        let mut b = s.to_bytes();
        b[8] = 9;
        assert!(matches!(
            Seal::from_bytes(&b),
            Err(SegmentError::UnknownKind(9))
        ));
        let mut b = s.to_bytes();
        b.push(0);
        assert!(matches!(
            Seal::from_bytes(&b),
            Err(SegmentError::Malformed(_))
        ));
        let mut b = s.to_bytes();
        b[10] = b'/';
        assert!(matches!(
            Seal::from_bytes(&b),
            Err(SegmentError::Malformed(_))
        ));
    }

    #[test]
    fn zstd_decode_all_returns_exactly_the_lines() {
        let obj = build(&[b"{\"a\":1}", b"{\"b\":2}"]);
        let plain = zstd::decode_all(&obj.bytes[..]).unwrap();
        assert_eq!(plain, b"{\"a\":1}\n{\"b\":2}\n");
        let empty = build(&[]);
        assert!(zstd::decode_all(&empty.bytes[..]).unwrap().is_empty());
        assert_eq!(empty.seal.event_count, 0);
        assert_eq!(
            (empty.seal.first_event_ns, empty.seal.last_event_ns),
            (0, 0)
        );
        assert_eq!(empty.seal.merkle_root, merkle::empty_root());
        // The data frame records its content size and carries a checksum.
        let view = parse(&empty.bytes).unwrap();
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(view.data_frame).unwrap(),
            Some(0)
        );
        let view = parse(&obj.bytes).unwrap();
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(view.data_frame).unwrap(),
            Some(16)
        );
        assert_eq!(view.data_frame[4] & 0x04, 0x04, "checksum flag");
    }

    #[test]
    fn parse_splits_object_and_hashes_match() {
        let obj = build(&[b"alpha", b"beta", b"gamma"]);
        let v = parse(&obj.bytes).unwrap();
        assert_eq!(v.seal, obj.seal);
        assert_eq!(v.data_frame.len() as u64, obj.seal.data_len);
        assert_eq!(sha(&[v.data_frame]), obj.seal.data_sha256);
        let content = zstd::decode_all(v.data_frame).unwrap();
        assert_eq!(merkle_root(&content), obj.seal.merkle_root);
        assert!(matches!(
            digest_data_frame(v.data_frame, 5),
            Err(SegmentError::TooLarge { limit: 5 })
        ));
        let d = digest_data_frame(v.data_frame, 1 << 20).unwrap();
        assert_eq!(d.lines, 3);
        assert_eq!(d.bytes, content.len() as u64);
        assert_eq!(d.merkle_root, obj.seal.merkle_root);
        assert!(d.ends_with_newline);
    }

    #[test]
    fn every_truncation_is_reported_as_truncated() {
        let obj = build(&[b"alpha", b"beta"]);
        for cut in 0..obj.bytes.len() {
            match parse(&obj.bytes[..cut]) {
                Err(SegmentError::Truncated(_)) => {}
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn damaged_data_frame_still_yields_its_seal() {
        let obj = build(&[b"alpha", b"beta", b"gamma", b"delta"]);
        let data_len = obj.seal.data_len as usize;
        for i in 4..data_len {
            let mut b = obj.bytes.clone();
            b[i] ^= 0x01;
            let v = parse(&b).unwrap_or_else(|e| panic!("flip at {i}: {e}"));
            assert_eq!(v.seal, obj.seal);
            assert_ne!(sha(&[v.data_frame]), obj.seal.data_sha256);
        }
    }

    #[test]
    fn trailing_garbage_is_malformed() {
        let mut b = build(&[b"a"]).bytes;
        b.extend_from_slice(b"xyz");
        assert!(matches!(parse(&b), Err(SegmentError::Malformed(_))));
        assert!(matches!(
            parse(b"hello world"),
            Err(SegmentError::Malformed(_))
        ));
    }

    #[test]
    fn corrupt_frame_is_rejected_by_the_digest() {
        let obj = build(&[b"alpha alpha alpha alpha", b"beta"]);
        let v = parse(&obj.bytes).unwrap();
        let mut frame = v.data_frame.to_vec();
        let last = frame.len() - 1;
        frame[last] ^= 0xff; // content checksum
        assert!(matches!(
            digest_data_frame(&frame, 1 << 20),
            Err(SegmentError::Corrupt(_))
        ));
        let mut two = v.data_frame.to_vec();
        two.extend_from_slice(v.data_frame);
        assert!(matches!(
            digest_data_frame(&two, 1 << 20),
            Err(SegmentError::Corrupt(_))
        ));
    }

    #[test]
    fn newline_from_renderer_is_escaped() {
        let mut b = SegmentBuilder::new(1).unwrap();
        b.push_with(5, |buf| buf.extend_from_slice(b"{\"m\":\"a\nb\"}"));
        b.push_line(b"plain", 4);
        assert_eq!(b.event_count(), 2);
        assert_eq!(b.escaped_newlines(), 1);
        let sealed = b.finish(header(0), &key()).unwrap();
        let plain = zstd::decode_all(&sealed.bytes[..]).unwrap();
        assert_eq!(plain, b"{\"m\":\"a\\nb\"}\nplain\n");
        assert_eq!(sealed.seal.merkle_root, merkle_root(&plain));
        assert_eq!(
            (sealed.seal.first_event_ns, sealed.seal.last_event_ns),
            (4, 5)
        );
    }

    #[test]
    fn builder_resets_between_segments() {
        let mut b = SegmentBuilder::new(3).unwrap();
        b.push_line(b"first", 1);
        let s1 = b.finish(header(0), &key()).unwrap();
        assert!(b.is_empty());
        assert_eq!(b.uncompressed_len(), 0);
        b.push_line(b"second", 2);
        let s2 = b.finish(header(1), &key()).unwrap();
        assert_eq!(zstd::decode_all(&s1.bytes[..]).unwrap(), b"first\n");
        assert_eq!(zstd::decode_all(&s2.bytes[..]).unwrap(), b"second\n");
        assert_eq!(s2.seal.event_count, 1);
        assert_eq!(s2.seal.merkle_root, merkle_root(b"second\n"));
    }

    #[test]
    fn finish_validates_header_and_keeps_content_on_error() {
        let mut b = SegmentBuilder::new(1).unwrap();
        b.push_line(b"x", 1);
        let mut h = header(0);
        h.stream = "bad/stream".into();
        assert!(matches!(
            b.finish(h, &key()),
            Err(SegmentError::InvalidStream(_))
        ));
        let mut h = header(0);
        h.period_end_ns = h.period_start_ns - 1;
        assert!(matches!(
            b.finish(h, &key()),
            Err(SegmentError::InvalidHeader(_))
        ));
        assert_eq!(b.event_count(), 1);
    }

    #[test]
    fn digest_handles_lines_across_chunks() {
        let mut content = Vec::new();
        for i in 0..5 {
            content.extend(std::iter::repeat_n(b'a' + i, 100_000 + i as usize));
            content.push(b'\n');
        }
        let mut b = SegmentBuilder::new(1).unwrap();
        for line in content.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
            b.push_line(line, 0);
        }
        let s = b.finish(header(0), &key()).unwrap();
        let v = parse(&s.bytes).unwrap();
        let d = digest_data_frame(v.data_frame, s.seal.content_len).unwrap();
        assert_eq!(d.lines, 5);
        assert_eq!(d.merkle_root, merkle_root(&content));
        assert_eq!(d.merkle_root, s.seal.merkle_root);
        assert!(matches!(
            digest_data_frame(v.data_frame, s.seal.content_len - 1),
            Err(SegmentError::TooLarge { .. })
        ));
    }

    #[test]
    fn object_key_round_trip() {
        // 2024-05-01T23:59:59.999999999Z and one nanosecond later.
        let t = 1_714_607_999_999_999_999;
        assert_eq!(
            object_key("host-a", 7, t),
            "host-a/2024/05/01/000000000007.seg.zst"
        );
        assert_eq!(
            object_key("host-a", 7, t + 1),
            "host-a/2024/05/02/000000000007.seg.zst"
        );
        let k = object_key("h.b_c-1", u64::MAX, t);
        assert_eq!(
            parse_object_key(&k),
            Some(("h.b_c-1".to_string(), u64::MAX))
        );
        let with_prefix = format!("archive/deep/{}", object_key("h", 12, t));
        assert_eq!(parse_object_key(&with_prefix), Some(("h".to_string(), 12)));
        let p = parse_object_key_parts(&with_prefix).unwrap();
        assert_eq!((p.year, p.month, p.day), (2024, 5, 1));
        for bad in [
            "h/2024/05/01/7.seg.zst",
            "h/2024/05/01/0000000000007.seg.zst",
            "h/2024/05/01/000000000007.seg",
            "h/2024/5/01/000000000007.seg.zst",
            "2024/05/01/000000000007.seg.zst",
            "b@d/2024/05/01/000000000007.seg.zst",
            "h/2024/13/01/000000000007.seg.zst",
        ] {
            assert_eq!(parse_object_key(bad), None, "{bad}");
        }
    }

    /// Renders the worked example of `docs/FORMAT.md` from real objects built here.
    mod format_example {
        use super::super::*;
        use std::fmt::Write;

        pub const BEGIN: &str = "<!-- BEGIN GENERATED EXAMPLE (cargo test format_md_example; SEALTRAIL_BLESS=1 rewrites) -->\n";
        pub const END: &str = "<!-- END GENERATED EXAMPLE -->";
        /// RFC 8032 §7.1, TEST 1 secret key.
        const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
        const T: i64 = 1_714_564_800_000_000_000; // 2024-05-01T12:00:00Z
        pub const LINES: [(&str, i64); 2] = [
            (
                r#"{"@timestamp":"2024-05-01T12:01:05.123Z","host":{"name":"host-a"},"message":"Accepted publickey for alice from 192.0.2.7 port 50022 ssh2"}"#,
                T + 65_123_000_000,
            ),
            (
                r#"{"@timestamp":"2024-05-01T12:01:17.500Z","host":{"name":"host-a"},"message":"pam_unix(sudo:session): session opened for user root by alice(uid=1000)"}"#,
                T + 77_500_000_000,
            ),
        ];

        pub fn key() -> SigningKey {
            let mut seed = [0u8; 32];
            hex::decode_to_slice(SEED, &mut seed).unwrap();
            SigningKey::from_bytes(&seed)
        }

        /// Segment 0 (empty heartbeat) and segment 1 (two events), chained.
        pub fn objects() -> (Sealed, Sealed) {
            let key = key();
            let mut b = SegmentBuilder::new(1).unwrap();
            let s0 = b
                .finish(
                    SealHeader {
                        kind: SealKind::Normal,
                        stream: "host-a".into(),
                        seq: 0,
                        prev_hash: [0; 32],
                        period_start_ns: T,
                        period_end_ns: T + 60_000_000_000,
                        heartbeat_ms: 60_000,
                    },
                    &key,
                )
                .unwrap();
            for (line, t) in LINES {
                b.push_line(line.as_bytes(), t);
            }
            let s1 = b
                .finish(
                    SealHeader {
                        kind: SealKind::Normal,
                        stream: "host-a".into(),
                        seq: 1,
                        prev_hash: s0.seal.hash(),
                        period_start_ns: T + 60_000_000_000,
                        period_end_ns: T + 90_000_000_000,
                        heartbeat_ms: 60_000,
                    },
                    &key,
                )
                .unwrap();
            (s0, s1)
        }

        fn ts(ns: i64) -> String {
            rfc3339(ns)
        }

        /// Annotated hex dump: 16 bytes per row, the label on a field's first row.
        struct Dump {
            out: String,
            off: usize,
        }

        impl Dump {
            fn field(&mut self, bytes: &[u8], label: &str) {
                if bytes.is_empty() {
                    return;
                }
                for (i, row) in bytes.chunks(16).enumerate() {
                    let hexs: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
                    let label = if i == 0 { label } else { "" };
                    let line =
                        format!("{:06x}  {:<47}  {label}", self.off + i * 16, hexs.join(" "));
                    let _ = writeln!(self.out, "{}", line.trim_end());
                }
                self.off += bytes.len();
            }
        }

        fn dump_data_frame(d: &mut Dump, f: &[u8]) {
            d.field(&f[..4], "zstd frame magic 0xFD2FB528 (LE)");
            let fhd = f[4];
            let fcs_flag = fhd >> 6;
            let single = fhd & 0x20 != 0;
            let checksum = fhd & 0x04 != 0;
            let did = [0, 1, 2, 4][(fhd & 3) as usize];
            d.field(
                &f[4..5],
                &format!(
                    "frame header descriptor: FCS flag {fcs_flag}, single segment {}, checksum {}, dict id bytes {did}",
                    u8::from(single),
                    u8::from(checksum)
                ),
            );
            let mut at = 5;
            if !single {
                d.field(&f[at..at + 1], "window descriptor");
                at += 1;
            }
            d.field(&f[at..at + did], "dictionary id");
            at += did;
            let fcs_len = match fcs_flag {
                0 => usize::from(single),
                1 => 2,
                2 => 4,
                _ => 8,
            };
            let mut fcs = [0u8; 8];
            fcs[..fcs_len].copy_from_slice(&f[at..at + fcs_len]);
            let mut size = u64::from_le_bytes(fcs);
            if fcs_len == 2 {
                size += 256;
            }
            d.field(
                &f[at..at + fcs_len],
                &format!("frame content size = {size}"),
            );
            at += fcs_len;
            loop {
                let h = u32::from(f[at]) | u32::from(f[at + 1]) << 8 | u32::from(f[at + 2]) << 16;
                let last = h & 1 == 1;
                let btype = (h >> 1) & 3;
                let bsize = (h >> 3) as usize;
                let name = ["raw", "RLE", "compressed", "reserved"][btype as usize];
                d.field(
                    &f[at..at + 3],
                    &format!(
                        "block header: last {}, type {name}, size {bsize}",
                        u8::from(last)
                    ),
                );
                at += 3;
                let body = if btype == 1 { 1 } else { bsize };
                d.field(&f[at..at + body], &format!("block content ({body} bytes)"));
                at += body;
                if last {
                    break;
                }
            }
            if checksum {
                d.field(
                    &f[at..at + 4],
                    "content checksum (low 32 bits of XXH64 of the content)",
                );
                at += 4;
            }
            assert_eq!(at, f.len());
        }

        fn dump_seal(d: &mut Dump, s: &Seal, payload: &[u8]) {
            let base = d.off;
            let mut p = 0usize;
            let mut field = |d: &mut Dump, n: usize, label: String| {
                d.field(&payload[p..p + n], &format!("+{p:<3} {label}"));
                p += n;
            };
            field(d, 6, "magic \"STSEAL\"".into());
            field(d, 2, format!("version u16 = {}", s.version));
            field(
                d,
                1,
                format!("kind u8 = {} ({})", s.kind.as_u8(), s.kind.as_str()),
            );
            field(d, 1, format!("stream id length u8 = {}", s.stream.len()));
            field(d, s.stream.len(), format!("stream id = \"{}\"", s.stream));
            field(d, 8, format!("seq u64 = {}", s.seq));
            field(d, 32, "prev_hash".into());
            field(
                d,
                8,
                format!(
                    "period_start_ns i64 = {} ({})",
                    s.period_start_ns,
                    ts(s.period_start_ns)
                ),
            );
            field(
                d,
                8,
                format!(
                    "period_end_ns i64 = {} ({})",
                    s.period_end_ns,
                    ts(s.period_end_ns)
                ),
            );
            field(d, 8, format!("heartbeat_ms u64 = {}", s.heartbeat_ms));
            let ev = |ns: i64| {
                if s.event_count == 0 {
                    "no events".to_string()
                } else {
                    ts(ns)
                }
            };
            field(
                d,
                8,
                format!(
                    "first_event_ns i64 = {} ({})",
                    s.first_event_ns,
                    ev(s.first_event_ns)
                ),
            );
            field(
                d,
                8,
                format!(
                    "last_event_ns i64 = {} ({})",
                    s.last_event_ns,
                    ev(s.last_event_ns)
                ),
            );
            field(d, 8, format!("event_count u64 = {}", s.event_count));
            field(d, 8, format!("content_len u64 = {}", s.content_len));
            field(d, 8, format!("data_len u64 = {}", s.data_len));
            field(d, 32, "data_sha256".into());
            field(d, 32, "merkle_root".into());
            field(d, 8, "key_id".into());
            let signed_end = SEAL_FIXED_LEN + s.stream.len() - SIGNATURE_LEN - 1;
            field(
                d,
                64,
                format!("signature: Ed25519 over payload bytes +0 ..= +{signed_end}"),
            );
            assert_eq!(p, payload.len());
            assert_eq!(d.off - base, payload.len());
        }

        fn dump_object(obj: &Sealed) -> String {
            let mut d = Dump {
                out: String::new(),
                off: 0,
            };
            let data_len = obj.seal.data_len as usize;
            dump_data_frame(&mut d, &obj.bytes[..data_len]);
            let payload = &obj.bytes[data_len + 8..];
            d.field(
                &obj.bytes[data_len..data_len + 4],
                "skippable frame magic 0x184D2A53 (LE)",
            );
            d.field(
                &obj.bytes[data_len + 4..data_len + 8],
                &format!("skippable frame size u32 = {}", payload.len()),
            );
            dump_seal(&mut d, &obj.seal, payload);
            d.out
        }

        pub fn render() -> String {
            let key = key();
            let vk = key.verifying_key();
            let (s0, s1) = objects();
            let mut m = String::new();
            let pem = {
                use ed25519_dalek::pkcs8::EncodePublicKey;
                vk.to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                    .unwrap()
            };
            let _ = writeln!(m, "Inputs:\n");
            let _ = writeln!(
                m,
                "* Ed25519 secret key (seed), RFC 8032 §7.1 TEST 1: `{SEED}`"
            );
            let _ = writeln!(
                m,
                "* public key (raw 32 bytes): `{}`",
                hex::encode(vk.as_bytes())
            );
            let _ = writeln!(
                m,
                "* key id = first 8 bytes of SHA-256(public key): `{}`",
                hex::encode(crate::keys::key_id(&vk))
            );
            let _ = writeln!(
                m,
                "* public key file (`keygen` writes it as SPKI PEM):\n\n```text\n{}```\n",
                pem
            );
            let _ = writeln!(
                m,
                "* stream `host-a`, heartbeat promise 60000 ms, zstd level 1."
            );
            let _ = writeln!(
                m,
                "* segment 0: an empty heartbeat, period {} .. {}, prev_hash all zeros.",
                ts(s0.seal.period_start_ns),
                ts(s0.seal.period_end_ns)
            );
            let _ = writeln!(
                m,
                "* segment 1: period {} .. {}, two events:\n",
                ts(s1.seal.period_start_ns),
                ts(s1.seal.period_end_ns)
            );
            let mut leaves = Vec::new();
            for (i, (line, t)) in LINES.iter().enumerate() {
                let leaf = merkle::leaf_hash(line.as_bytes());
                leaves.push(leaf);
                let _ = writeln!(
                    m,
                    "  line {i} ({} bytes, event time {t} = {}):\n",
                    line.len(),
                    ts(*t)
                );
                let _ = writeln!(m, "  ```text\n  {line}\n  ```\n");
                let _ = writeln!(
                    m,
                    "  leaf {i} = SHA-256(0x00 ‖ line {i}) = `{}`\n",
                    hex::encode(leaf)
                );
            }
            let _ = writeln!(
                m,
                "  merkle_root = SHA-256(0x01 ‖ leaf 0 ‖ leaf 1) = `{}`\n",
                hex::encode(s1.seal.merkle_root)
            );
            assert_eq!(
                merkle::node_hash(&leaves[0], &leaves[1]),
                s1.seal.merkle_root
            );

            let _ = writeln!(m, "#### Segment 1, annotated ({} bytes)\n", s1.bytes.len());
            let _ = writeln!(
                m,
                "Object key: `{}`\n",
                object_key("host-a", 1, s1.seal.period_end_ns)
            );
            let _ = writeln!(m, "Offsets are from the start of the object; `+n` is the offset inside the seal payload.\n");
            let _ = writeln!(m, "```text\n{}```\n", dump_object(&s1));
            let signed = s1.seal.signed_bytes();
            let _ = writeln!(m, "Derived values for segment 1:\n");
            let _ = writeln!(
                m,
                "* data frame = object bytes 0 .. {} (data_len, exclusive); SHA-256 = `{}`",
                s1.seal.data_len,
                hex::encode(s1.seal.data_sha256)
            );
            let _ = writeln!(
                m,
                "* seal frame = object bytes {} .. {}; payload = bytes {} .. {}",
                s1.seal.data_len,
                s1.bytes.len(),
                s1.seal.data_len + 8,
                s1.bytes.len()
            );
            let _ = writeln!(
                m,
                "* signed bytes = seal payload bytes +0 .. +{} (exclusive, {} bytes)",
                signed.len(),
                signed.len()
            );
            let _ = writeln!(
                m,
                "* seal hash = SHA-256(whole payload, {} bytes) = `{}`",
                s1.seal.to_bytes().len(),
                hex::encode(s1.seal.hash())
            );
            let _ = writeln!(
                m,
                "* prev_hash = seal hash of segment 0 = `{}`\n",
                hex::encode(s0.seal.hash())
            );

            let _ = writeln!(m, "#### Segment 0, annotated ({} bytes)\n", s0.bytes.len());
            let _ = writeln!(
                m,
                "Object key: `{}`\n",
                object_key("host-a", 0, s0.seal.period_end_ns)
            );
            let _ = writeln!(m, "```text\n{}```\n", dump_object(&s0));
            let _ = writeln!(
                m,
                "Seal hash of segment 0 = `{}`\n",
                hex::encode(s0.seal.hash())
            );
            use base64::Engine as _;
            let b64 = |b: &[u8]| {
                let s = base64::engine::general_purpose::STANDARD.encode(b);
                let rows: Vec<&str> = s
                    .as_bytes()
                    .chunks(76)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect();
                rows.join("\n")
            };
            let _ = writeln!(m, "#### Both objects, base64 (for copying into a test)\n");
            let _ = writeln!(m, "Segment 0:\n\n```text\n{}\n```\n", b64(&s0.bytes));
            let _ = writeln!(m, "Segment 1:\n\n```text\n{}\n```", b64(&s1.bytes));
            m
        }
    }

    #[test]
    fn format_md_example_is_current() {
        use format_example::{BEGIN, END};
        // The example objects are what the format says they are.
        let (s0, s1) = format_example::objects();
        let vk = format_example::key().verifying_key();
        for s in [&s0, &s1] {
            let v = parse(&s.bytes).unwrap();
            v.seal.verify_signature(&vk).unwrap();
        }
        assert_eq!(s1.seal.prev_hash, s0.seal.hash());
        let plain = zstd::decode_all(&s1.bytes[..]).unwrap();
        let expected: String = format_example::LINES
            .iter()
            .map(|(l, _)| format!("{l}\n"))
            .collect();
        assert_eq!(plain, expected.as_bytes());

        let generated = format_example::render();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let start = doc.find(BEGIN).expect("begin marker") + BEGIN.len();
        let stop = doc.find(END).expect("end marker");
        if std::env::var_os("SEALTRAIL_BLESS").is_some() {
            let new = format!("{}{}{}", &doc[..start], generated, &doc[stop..]);
            std::fs::write(path, new).unwrap();
        } else {
            assert!(
                doc[start..stop] == generated,
                "docs/FORMAT.md example is stale; run `SEALTRAIL_BLESS=1 cargo test format_md_example`"
            );
        }
    }

    #[test]
    fn stream_ids() {
        assert!(valid_stream_id("host-a.example_1"));
        assert!(valid_stream_id(&"a".repeat(64)));
        assert!(!valid_stream_id(&"a".repeat(65)));
        assert!(!valid_stream_id(""));
        assert!(!valid_stream_id("a/b"));
        assert!(!valid_stream_id("a b"));
        assert!(!valid_stream_id("é"));
        assert!(!valid_stream_id("."));
        assert!(!valid_stream_id(".."));
    }
}
