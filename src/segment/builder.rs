//! Building segments in memory: the line buffer a sealer fills ([`SegmentBuilder`]) and
//! its content ([`Content`]), compressed and signed by the same streaming writer the
//! daemon's committer uses (`writer`); [`append_seal`] completes a data frame into an
//! object.

use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

use super::{
    valid_stream_id, Seal, SealHeader, SealKind, SegmentError, SegmentWriter, FORMAT_VERSION,
    SEAL_FRAME_MAGIC,
};

/// Buffers a [`SegmentBuilder`] keeps for reuse.
pub const SPARE_BUFFERS: usize = 4;

/// Builds segments one after another, reusing its zstd context and buffers so the hot
/// path allocates nothing per event.
pub struct SegmentBuilder {
    writer: SegmentWriter,
    buf: Vec<u8>,
    /// Buffers of contents sealed since, to fill again (see [`SegmentBuilder::recycle`]).
    spare: Vec<Vec<u8>>,
    /// Content bytes of this segment already handed over ([`SegmentBuilder::take_chunk`]).
    sent: usize,
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
        Self::with_capacity(zstd_level, 1 << 20)
    }

    /// A builder whose buffers hold `bytes` (a segment's size limit plus a line) without
    /// growing: growing an 8 MiB buffer copies it, and leaves the old one to the
    /// allocator. Pages are only touched as lines are written.
    pub fn with_capacity(zstd_level: i32, bytes: usize) -> Result<Self, SegmentError> {
        Ok(Self {
            writer: SegmentWriter::new(zstd_level)?,
            buf: Vec::with_capacity(bytes),
            spare: Vec::new(),
            sent: 0,
            count: 0,
            min_time: i64::MAX,
            max_time: i64::MIN,
            escaped: 0,
        })
    }

    /// Appends one event line rendered by `render` straight into the segment buffer (no
    /// copy), then adds `'\n'`. The Merkle leaves are hashed when the segment is sealed
    /// ([`SegmentSealer::seal`]), on the committer's thread: this one renders.
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

    /// The segment's content length so far, chunks handed over included.
    pub fn uncompressed_len(&self) -> usize {
        self.sent + self.buf.len()
    }

    /// Once at least `bytes` of lines are buffered, hands them over (whole lines) so
    /// they can be hashed and compressed while the segment goes on filling; the counts
    /// and times stay with the segment until [`SegmentBuilder::take`].
    pub fn take_chunk(&mut self, bytes: usize) -> Option<Vec<u8>> {
        if self.buf.len() < bytes {
            return None;
        }
        let next = self.next_buffer();
        let chunk = std::mem::replace(&mut self.buf, next);
        self.sent += chunk.len();
        Some(chunk)
    }

    fn next_buffer(&mut self) -> Vec<u8> {
        let capacity = self.buf.capacity();
        self.spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(capacity))
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
        let sealed = self.writer.feed(&content.lines).and_then(|()| {
            self.writer
                .finish(header, key, content.count, content.times())
        });
        self.recycle(content);
        sealed
    }

    /// Hands over the segment's content (lines, Merkle root, count, time range) so it
    /// can be compressed and signed elsewhere ([`SegmentWriter`]), e.g. on another
    /// thread while this builder already fills the next segment.
    ///
    /// After [`SegmentBuilder::take_chunk`], `lines` holds only what was not handed over.
    pub fn take(&mut self) -> Content {
        let next = self.next_buffer();
        let content = Content {
            lines: std::mem::replace(&mut self.buf, next),
            count: self.count,
            min_time: self.min_time,
            max_time: self.max_time,
        };
        self.reset();
        content
    }

    /// Gives a sealed content's buffer back, so the next segments fill it instead of a
    /// freshly allocated (and page-faulted) one. At most [`SPARE_BUFFERS`] are kept.
    pub fn recycle(&mut self, content: Content) {
        self.recycle_buffer(content.lines);
    }

    pub fn recycle_buffer(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS {
            buf.clear();
            self.spare.push(buf);
        }
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.sent = 0;
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
    pub count: u64,
    min_time: i64,
    max_time: i64,
}

impl Content {
    /// Earliest and latest event time (meaningless when `count` is 0).
    pub fn times(&self) -> (i64, i64) {
        (self.min_time, self.max_time)
    }
}

/// What a seal says about the content it covers.
pub(crate) struct Summary {
    pub(crate) count: u64,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
    pub(crate) content_len: u64,
    pub(crate) merkle_root: [u8; 32],
}

/// Signs the seal of the data frame in `out` (all of it so far) and appends the seal
/// frame, completing the object.
pub(crate) fn append_seal(
    out: &mut Vec<u8>,
    header: SealHeader,
    key: &SigningKey,
    c: Summary,
) -> Seal {
    let (first_event_ns, last_event_ns) = if c.count == 0 {
        (0, 0)
    } else {
        (c.min_time, c.max_time)
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
        event_count: c.count,
        content_len: c.content_len,
        data_len: out.len() as u64,
        data_sha256: Sha256::digest(&out[..]).into(),
        merkle_root: c.merkle_root,
        key_id: crate::keys::key_id(&key.verifying_key()),
        next_key: header.next_key,
        signature: [0; 64],
    };
    seal.signature = key.sign(&seal.signed_bytes()).to_bytes();
    let payload = seal.to_bytes();
    out.extend_from_slice(&SEAL_FRAME_MAGIC.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&payload);
    seal
}

pub(crate) fn check_header(header: &SealHeader) -> Result<(), SegmentError> {
    if !valid_stream_id(&header.stream) {
        return Err(SegmentError::InvalidStream(header.stream.clone()));
    }
    if (header.kind == SealKind::Rotate) != header.next_key.is_some() {
        return Err(SegmentError::InvalidHeader(
            "a rotate seal names the next key, and only a rotate seal does".into(),
        ));
    }
    if header.period_end_ns < header.period_start_ns {
        return Err(SegmentError::InvalidHeader(format!(
            "period ends ({}) before it starts ({})",
            header.period_end_ns, header.period_start_ns
        )));
    }
    Ok(())
}
