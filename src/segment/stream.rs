//! Segments read as streams, with memory bounded whatever the object says.
//!
//! [`ObjectScanner`] takes an object's bytes once, in order. It walks the data frame's
//! structure (`frame`), holds the last [`TAIL_MAX`] bytes back, and passes everything
//! before them to SHA-256 and to the zstd decoder, whose content goes through the line
//! and Merkle hasher. At the end, `locate` places the seal from what was kept, exactly
//! as [`super::parse`] does, the held-back bytes before the seal complete the data
//! frame, and [`Scanned`] holds every fact the verifier's content checks need. Nothing
//! is ever sized from a length written in the object.
//!
//! Memory per object: the tail, a 64 KiB output buffer and zstd's window, which
//! [`MAX_WINDOW_LOG`] caps. The seal comes last, so decoding starts before the seal is
//! known; [`ObjectScanner::new`] therefore takes a budget after which it stops
//! decoding, so that a crafted frame cannot make a reader decompress without end. A
//! caller with an authentic seal whose content is longer decodes it again with
//! [`FrameDigester`], limited by the seal's `content_len`.

use std::io::{Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};
use zstd::zstd_safe::zstd_sys::ZSTD_ErrorCode;
use zstd::zstd_safe::{DCtx, DParameter, InBuffer, OutBuffer};

use super::frame::{self, error_name, FrameWalker};
use super::locate::{check_head, locate, seal_from_tail, Located, Structure, TAIL_MAX};
use super::{merkle, MerkleBuilder, SegmentError};

/// Largest zstd window accepted: 2^24 = 16 MiB. The writer compresses at levels 1..=19
/// with zstd's default parameters, whose window is at most 2^23 (levels 17 to 19); one
/// doubling is margin. A frame that asks for more is reported as corrupt instead of
/// being given the memory (zstd's own default would be 128 MiB).
pub const MAX_WINDOW_LOG: u32 = 24;
/// Decoded bytes handed on at once.
const OUT_BUF: usize = 64 * 1024;
/// Bytes read at once from a file.
const READ_BUF: usize = 64 * 1024;

/// What a data frame holds, measured in one streaming pass with bounded memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentDigest {
    pub lines: u64,
    pub bytes: u64,
    pub merkle_root: [u8; 32],
    /// False when the content is non-empty and its last line lacks `'\n'`.
    pub ends_with_newline: bool,
}

/// Splits a byte stream into lines and hashes each as a Merkle leaf, across chunk
/// boundaries, without holding a line in memory.
#[derive(Debug, Clone)]
pub struct LineHasher {
    leaf: Sha256,
    partial: bool,
    merkle: MerkleBuilder,
    bytes: u64,
}

impl Default for LineHasher {
    fn default() -> Self {
        Self {
            leaf: Sha256::new_with_prefix([merkle::LEAF_PREFIX]),
            partial: false,
            merkle: MerkleBuilder::new(),
            bytes: 0,
        }
    }
}

impl LineHasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn feed(&mut self, mut chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        while let Some(i) = memchr::memchr(b'\n', chunk) {
            self.leaf.update(&chunk[..i]);
            let leaf = std::mem::replace(
                &mut self.leaf,
                Sha256::new_with_prefix([merkle::LEAF_PREFIX]),
            );
            self.merkle.push_leaf_hash(leaf.finalize().into());
            self.partial = false;
            chunk = &chunk[i + 1..];
        }
        if !chunk.is_empty() {
            self.leaf.update(chunk);
            self.partial = true;
        }
    }

    /// The digest of everything fed (an unterminated last line still counts as a line).
    pub fn finish(mut self) -> ContentDigest {
        let ends_with_newline = !self.partial;
        if self.partial {
            self.merkle.push_leaf_hash(self.leaf.finalize().into());
        }
        ContentDigest {
            lines: self.merkle.leaves(),
            bytes: self.bytes,
            merkle_root: self.merkle.root(),
            ends_with_newline,
        }
    }
}

/// Where decoded content goes.
pub trait ContentSink {
    fn content(&mut self, bytes: &[u8]) -> std::io::Result<()>;
}

impl ContentSink for LineHasher {
    fn content(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.feed(bytes);
        Ok(())
    }
}

/// Decoded content written to `W` (what `inspect` prints).
#[derive(Debug)]
pub struct WriteSink<W>(pub W);

impl<W: Write> ContentSink for WriteSink<W> {
    fn content(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.write_all(bytes)
    }
}

/// How decoding ended.
#[derive(Debug)]
pub enum DecodeEnd {
    /// The frame is complete.
    Complete,
    /// Stopped at its limit: the content is longer than that.
    Stopped,
    /// zstd rejected the frame (or the sink failed: [`SegmentError::Io`]).
    Failed(SegmentError),
}

/// The end of a decode, with the content length produced before it ended.
#[derive(Debug)]
pub struct Decoded<S> {
    pub end: DecodeEnd,
    /// Content bytes produced (for [`DecodeEnd::Failed`]: before the failing step, as
    /// zstd's reader counts).
    pub produced: u64,
    /// Input bytes consumed: the frame's length when complete.
    pub consumed: u64,
    pub sink: S,
}

#[derive(Debug)]
enum DecodeState {
    Running,
    Done,
    Stopped,
    Failed(SegmentError),
}

/// One zstd frame decoded incrementally into a [`ContentSink`], with the window capped
/// at [`MAX_WINDOW_LOG`] and a stop once the content exceeds `stop_after` bytes. Input
/// after the frame's end is ignored, as zstd's single-frame reader does.
pub struct ContentDecoder<S> {
    dctx: DCtx<'static>,
    out: Vec<u8>,
    sink: S,
    produced: u64,
    consumed: u64,
    stop_after: u64,
    state: DecodeState,
}

impl<S> std::fmt::Debug for ContentDecoder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentDecoder")
            .field("produced", &self.produced)
            .field("consumed", &self.consumed)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

fn zstd_failure(code: usize) -> SegmentError {
    let name = error_name(code);
    if code == frame::code(ZSTD_ErrorCode::ZSTD_error_frameParameter_windowTooLarge) {
        SegmentError::Corrupt(format!(
            "{name} (its window exceeds {} MiB, more than any sealtrail writer uses)",
            (1u64 << MAX_WINDOW_LOG) >> 20
        ))
    } else {
        SegmentError::Corrupt(name.to_owned())
    }
}

impl<S: ContentSink> ContentDecoder<S> {
    pub fn new(stop_after: u64, sink: S) -> Result<Self, SegmentError> {
        let mut dctx = DCtx::try_create().ok_or_else(|| {
            SegmentError::Zstd(std::io::Error::other("cannot create a zstd context"))
        })?;
        dctx.set_parameter(DParameter::WindowLogMax(MAX_WINDOW_LOG))
            .map_err(|c| SegmentError::Zstd(std::io::Error::other(error_name(c))))?;
        Ok(ContentDecoder {
            dctx,
            out: vec![0; OUT_BUF],
            sink,
            produced: 0,
            consumed: 0,
            stop_after,
            state: DecodeState::Running,
        })
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state, DecodeState::Running)
    }

    /// Decodes the next input bytes, as far as they go.
    pub fn feed(&mut self, input: &[u8]) {
        if !self.is_running() {
            return;
        }
        let mut inb = InBuffer::around(input);
        loop {
            let mut outb = OutBuffer::around(&mut self.out[..]);
            let r = self.dctx.decompress_stream(&mut outb, &mut inb);
            let n = outb.pos();
            let hint = match r {
                Ok(hint) => hint,
                // What the failing step produced is not counted (nor passed on), as
                // zstd's own reader does not return it either.
                Err(code) => {
                    self.state = DecodeState::Failed(zstd_failure(code));
                    break;
                }
            };
            let room = self.stop_after.saturating_sub(self.produced);
            let give = n.min(usize::try_from(room).unwrap_or(usize::MAX));
            if let Err(e) = self.sink.content(&self.out[..give]) {
                self.state = DecodeState::Failed(SegmentError::Io(e));
                break;
            }
            self.produced += n as u64;
            if self.produced > self.stop_after {
                self.state = DecodeState::Stopped;
                break;
            }
            if hint == 0 {
                self.state = DecodeState::Done;
                break;
            }
            if inb.pos() == input.len() && n < self.out.len() {
                break;
            }
        }
        self.consumed += inb.pos() as u64;
    }

    /// No more input: a frame still open is incomplete.
    pub fn finish(mut self) -> Decoded<S> {
        self.feed(&[]);
        let end = match self.state {
            DecodeState::Running => {
                DecodeEnd::Failed(SegmentError::Corrupt("incomplete frame".into()))
            }
            DecodeState::Done => DecodeEnd::Complete,
            DecodeState::Stopped => DecodeEnd::Stopped,
            DecodeState::Failed(e) => DecodeEnd::Failed(e),
        };
        Decoded {
            end,
            produced: self.produced,
            consumed: self.consumed,
            sink: self.sink,
        }
    }
}

/// SHA-256 and decoding of a data frame whose length is known (the verifier's second
/// pass over an authentic seal's data frame, limited by its `content_len`).
#[derive(Debug)]
pub struct FrameDigester {
    sha: Sha256,
    decoder: ContentDecoder<LineHasher>,
    walker: FrameWalker,
}

impl FrameDigester {
    pub fn new(limit: u64) -> Result<Self, SegmentError> {
        Ok(FrameDigester {
            sha: Sha256::new(),
            decoder: ContentDecoder::new(limit, LineHasher::new())?,
            walker: FrameWalker::new(),
        })
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.decoder.feed(bytes);
        self.walker.feed(bytes);
    }

    /// The content size the frame's header declares, once its header was fed.
    pub fn declared_content(&self) -> Option<u64> {
        self.walker.content_size()
    }

    /// The SHA-256 of everything fed, and how decoding it went.
    pub fn finish(self) -> ([u8; 32], Decoded<LineHasher>) {
        (self.sha.finalize().into(), self.decoder.finish())
    }
}

/// Checks that `data_frame` is exactly one zstd frame (checksum verified), and measures
/// its content, refusing more than `limit` bytes: the whole-buffer form of the
/// verifier's streaming checks.
pub fn digest_data_frame(data_frame: &[u8], limit: u64) -> Result<ContentDigest, SegmentError> {
    match zstd::zstd_safe::find_frame_compressed_size(data_frame) {
        Ok(n) if n == data_frame.len() => {}
        Ok(n) => {
            return Err(SegmentError::Corrupt(format!(
                "data frame ends at byte {n} of {}",
                data_frame.len()
            )))
        }
        Err(code) => return Err(SegmentError::Corrupt(error_name(code).to_owned())),
    }
    let mut d = ContentDecoder::new(limit, LineHasher::new())?;
    d.feed(data_frame);
    let done = d.finish();
    match done.end {
        DecodeEnd::Complete => Ok(done.sink.finish()),
        DecodeEnd::Stopped => Err(SegmentError::TooLarge { limit }),
        DecodeEnd::Failed(e) => Err(e),
    }
}

/// RFC 6962 Merkle root over `'\n'`-terminated lines (the newline is not hashed). A
/// final line without `'\n'` still counts as a line; empty input is `SHA-256("")`.
pub fn merkle_root(lines: &[u8]) -> [u8; 32] {
    let mut h = LineHasher::new();
    h.feed(lines);
    h.finish().merkle_root
}

/// Facts about the data frame of a scanned object (its bytes before the seal frame).
#[derive(Debug)]
pub struct DataFrame {
    pub len: u64,
    pub sha256: [u8; 32],
    /// Whether it is exactly one zstd frame, as the structural walk of it says.
    pub single_frame: Result<(), SegmentError>,
    /// The content size its header declares (Frame_Content_Size), if it declares one.
    pub declared_content: Option<u64>,
    /// Its decoding, up to the scanner's budget.
    pub content: Decoded<LineHasher>,
}

/// The result of scanning a whole object.
#[derive(Debug)]
pub struct Scanned {
    /// Bytes scanned.
    pub len: u64,
    /// The seal, placed as `parse` places it (signature not checked).
    pub located: Result<Located, SegmentError>,
    /// The data frame, when the seal was placed and the scan included content.
    pub data: Option<DataFrame>,
}

#[derive(Debug)]
struct Content {
    sha: Sha256,
    decoder: ContentDecoder<LineHasher>,
}

impl Content {
    fn feed(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.sha.update(bytes);
            self.decoder.feed(bytes);
        }
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct ObjectScanner {
    len: u64,
    head: [u8; 4],
    head_len: usize,
    walker: FrameWalker,
    tail: Vec<u8>,
    content: Option<Content>,
}

impl ObjectScanner {
    /// A scanner that also hashes and decodes the data frame, stopping the decoder once
    /// it has produced more than `decode_ahead` bytes of content.
    pub fn new(decode_ahead: u64) -> Result<Self, SegmentError> {
        let mut s = Self::structure_only();
        s.content = Some(Content {
            sha: Sha256::new(),
            decoder: ContentDecoder::new(decode_ahead, LineHasher::new())?,
        });
        Ok(s)
    }

    /// A scanner that only places the seal.
    pub fn structure_only() -> Self {
        ObjectScanner {
            len: 0,
            head: [0; 4],
            head_len: 0,
            walker: FrameWalker::new(),
            tail: Vec::with_capacity(2 * TAIL_MAX),
            content: None,
        }
    }

    /// Whether the outcome is already known whatever follows (the object does not begin
    /// with a zstd frame), so that a caller may stop reading.
    pub fn decided(&self) -> bool {
        self.head_len == 4 && check_head(self.len, &self.head).is_err()
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        let n = (4 - self.head_len).min(chunk.len());
        self.head[self.head_len..self.head_len + n].copy_from_slice(&chunk[..n]);
        self.head_len += n;
        self.len += chunk.len() as u64;
        if self.decided() {
            return;
        }
        self.walker.feed(chunk);
        let total = self.tail.len() + chunk.len();
        if total <= TAIL_MAX {
            self.tail.extend_from_slice(chunk);
            return;
        }
        // Everything before the last TAIL_MAX bytes is data frame, if the object is a
        // segment at all (`locate` never places a seal further back): hand it on.
        let excess = total - TAIL_MAX;
        let from_tail = excess.min(self.tail.len());
        let from_chunk = excess - from_tail;
        if let Some(c) = &mut self.content {
            c.feed(&self.tail[..from_tail]);
            c.feed(&chunk[..from_chunk]);
        }
        self.tail.drain(..from_tail);
        self.tail.extend_from_slice(&chunk[from_chunk..]);
    }

    pub fn finish(self) -> Scanned {
        let walk = self.walker.finish();
        let s = Structure {
            len: self.len,
            head: &self.head[..self.head_len],
            walk,
            post: self.walker.post(),
            tail: &self.tail,
        };
        let located = locate(&s);
        let data = match (&located, self.content) {
            (Ok(loc), Some(mut c)) => {
                let base = self.len - self.tail.len() as u64;
                let end = loc
                    .seal_start
                    .checked_sub(base)
                    .and_then(|e| usize::try_from(e).ok());
                // `locate` places a seal inside the tail only; anything else would be a
                // bug here, reported as a corrupt frame rather than a panic.
                let single_frame = match end.and_then(|e| self.tail.get(..e)) {
                    Some(rest) => {
                        c.feed(rest);
                        single_frame(&walk, loc.seal_start)
                    }
                    None => Err(SegmentError::Corrupt("seal outside the tail window".into())),
                };
                Some(DataFrame {
                    len: loc.seal_start,
                    sha256: c.sha.finalize().into(),
                    single_frame,
                    declared_content: self.walker.content_size(),
                    content: c.decoder.finish(),
                })
            }
            _ => None,
        };
        Scanned {
            len: self.len,
            located,
            data,
        }
    }
}

/// Whether `object[..len]` is exactly one frame, from the walk of the whole object.
fn single_frame(walk: &frame::Walk, len: u64) -> Result<(), SegmentError> {
    match walk.on_prefix(len) {
        Ok(n) if n == len => Ok(()),
        Ok(n) => Err(SegmentError::Corrupt(format!(
            "data frame ends at byte {n} of {len}"
        ))),
        Err(code) => Err(SegmentError::Corrupt(error_name(code).to_owned())),
    }
}

fn read_fully<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<(), SegmentError> {
    r.read_exact(buf).map_err(SegmentError::Io)
}

/// The seal of a segment file, found from its end: reads the first 4 bytes and the
/// last [`TAIL_MAX`] at most. Only when no seal frame ends the file is the whole file
/// walked (with bounded memory) to say exactly what is wrong, as `parse` would.
pub fn read_seal<R: Read + Seek>(r: &mut R) -> Result<Located, SegmentError> {
    let len = r.seek(SeekFrom::End(0)).map_err(SegmentError::Io)?;
    let mut head = [0u8; 4];
    let head_len = len.min(4) as usize;
    r.seek(SeekFrom::Start(0)).map_err(SegmentError::Io)?;
    read_fully(r, &mut head[..head_len])?;
    check_head(len, &head[..head_len])?;
    let tail_len = len.min(TAIL_MAX as u64);
    let mut tail = vec![0u8; tail_len as usize];
    r.seek(SeekFrom::Start(len - tail_len))
        .map_err(SegmentError::Io)?;
    read_fully(r, &mut tail)?;
    let s = Structure {
        len,
        head: &head[..head_len],
        walk: FrameWalker::new().finish(),
        post: &[],
        tail: &tail,
    };
    if let Some(found) = seal_from_tail(&s) {
        return found;
    }
    r.seek(SeekFrom::Start(0)).map_err(SegmentError::Io)?;
    let mut scanner = ObjectScanner::structure_only();
    for_each_chunk(r, |chunk| {
        scanner.feed(chunk);
        true
    })?;
    scanner.finish().located
}

/// Reads `r` to its end through one fixed buffer, handing each chunk to `f` until it
/// returns false; returns the bytes read. The one read loop of the streaming readers.
pub(crate) fn for_each_chunk<R: Read>(
    mut r: R,
    mut f: impl FnMut(&[u8]) -> bool,
) -> Result<u64, SegmentError> {
    let mut buf = vec![0u8; READ_BUF];
    let mut read = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(read),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SegmentError::Io(e)),
        };
        read += n as u64;
        if !f(&buf[..n]) {
            return Ok(read);
        }
    }
}

/// Decodes the data frame, the first `data_len` bytes of `r`, into `w` as it goes,
/// refusing content beyond `limit` bytes and a frame that does not end exactly at
/// `data_len`. Returns the content length. On an error, the content before it has
/// already been written.
pub fn copy_content<R: Read, W: Write>(
    r: R,
    data_len: u64,
    w: W,
    limit: u64,
) -> Result<u64, SegmentError> {
    let mut decoder = ContentDecoder::new(limit, WriteSink(w))?;
    let read = for_each_chunk(r.take(data_len), |chunk| {
        decoder.feed(chunk);
        decoder.is_running()
    })?;
    if read < data_len && decoder.is_running() {
        return Err(SegmentError::Truncated(format!(
            "data frame of {data_len} bytes, {read} present"
        )));
    }
    let done = decoder.finish();
    let mut sink = done.sink;
    sink.0.flush().map_err(SegmentError::Io)?;
    match done.end {
        DecodeEnd::Complete if done.consumed == data_len => Ok(done.produced),
        DecodeEnd::Complete => Err(SegmentError::Corrupt(format!(
            "data frame ends at byte {} of {data_len}",
            done.consumed
        ))),
        DecodeEnd::Stopped => Err(SegmentError::TooLarge { limit }),
        DecodeEnd::Failed(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FORMAT.md §8 "Memory" gives the decoder's size as its window plus 478 KiB; a
    /// frame that asks for the largest window accepted gets no more than that.
    #[test]
    fn the_decoder_holds_its_window_plus_a_fixed_amount() {
        for log in [17u8, 20, MAX_WINDOW_LOG as u8] {
            // A frame header with only a window descriptor, then one raw block.
            let mut f = super::super::ZSTD_MAGIC.to_le_bytes().to_vec();
            f.extend_from_slice(&[0, (log - 10) << 3, 0x09, 0, 0, b'x']);
            let mut d = ContentDecoder::new(u64::MAX, LineHasher::new()).unwrap();
            d.feed(&f);
            assert!(matches!(d.state, DecodeState::Done), "{:?}", d.state);
            let size = d.dctx.sizeof();
            let window = 1usize << log;
            assert!(
                size > window && size <= window + 478 * 1024,
                "window 2^{log}: decoder of {size} bytes"
            );
        }
    }
}
