//! Incremental walk of one zstd frame's structure (RFC 8878 §3.1.1): where the frame
//! ends, learnt from its header and block headers alone while the bytes stream past.
//!
//! Why not `ZSTD_findFrameCompressedSize`: it needs the whole frame in memory, and the
//! verifier streams objects of any size. This walker takes the same decisions in the same
//! order (header, blocks up to the *last block* bit, checksum), so it returns the same
//! end or the same zstd error; the tests compare the two on every cut and byte flip of
//! real frames. Block contents are skipped, never held.

use zstd::zstd_safe::zstd_sys::ZSTD_ErrorCode;

use super::ZSTD_MAGIC;

/// Largest frame header: magic 4, descriptor 1, window 1, dictionary id 4, size 8.
const MAX_HEADER: usize = 18;
/// Block header length.
const BLOCK_HEADER: u64 = 3;
/// Largest window log a frame header may declare on 64-bit builds (`ZSTD_WINDOWLOG_MAX`).
const WINDOWLOG_MAX: u32 = 31;
/// Smallest window log (`ZSTD_WINDOWLOG_ABSOLUTEMIN`).
const WINDOWLOG_MIN: u32 = 10;
/// Bytes kept from just after the frame's end: the seal frame header (8) and the start
/// of its payload (10: magic, version, kind, stream length), which is all `locate`
/// reads of a seal frame too long for the tail window.
pub(crate) const POST_LEN: usize = 18;

/// A zstd error as zstd's functions return it: `(size_t)-code`.
pub(crate) fn code(e: ZSTD_ErrorCode) -> usize {
    0usize.wrapping_sub(e as usize)
}

/// The zstd error name for a returned error `code`, as `ZSTD_getErrorName` spells it.
pub(crate) fn error_name(code: usize) -> &'static str {
    zstd::zstd_safe::get_error_name(code)
}

/// Whether a returned error `code` means "the input ends before the frame does".
pub(crate) fn is_src_size_wrong(c: usize) -> bool {
    c == code(ZSTD_ErrorCode::ZSTD_error_srcSize_wrong)
}

/// What the walk of a whole object found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Walk {
    /// Where the frame ends, or zstd's error code (`srcSize_wrong` when the bytes ran
    /// out), in the form zstd's functions return it.
    pub end: Result<u64, usize>,
    /// The furthest offset the walk needed to read up to before it stopped. The
    /// decisions before that point are the same for any prefix that contains it, which
    /// is what [`Walk::on_prefix`] relies on.
    pub last_need: u64,
}

impl Walk {
    /// The walk of `bytes[..len]` (for any `len` up to the walked length): the same
    /// result if everything the walk read lies inside, else `srcSize_wrong` at the first
    /// read past `len`.
    pub fn on_prefix(&self, len: u64) -> Result<u64, usize> {
        if self.last_need > len {
            Err(code(ZSTD_ErrorCode::ZSTD_error_srcSize_wrong))
        } else {
            self.end
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Collecting the frame header: the first 5 bytes, then all `want` of them.
    Header {
        want: usize,
    },
    /// Collecting the 3-byte block header that starts at `at`.
    BlockHeader {
        at: u64,
    },
    /// Skipping block content up to `until`.
    Skip {
        until: u64,
        last: bool,
    },
    /// Skipping the 4-byte content checksum up to `until`.
    Checksum {
        until: u64,
    },
    Done {
        end: u64,
    },
    Failed(ZSTD_ErrorCode),
}

/// Feeds on an object's bytes in order; see the module documentation. The input must
/// start with the zstd magic number (anything else fails as `prefix_unknown`).
#[derive(Debug, Clone)]
pub(crate) struct FrameWalker {
    /// Bytes fed so far.
    pos: u64,
    state: State,
    buf: [u8; MAX_HEADER],
    buf_len: usize,
    checksum: bool,
    last_need: u64,
    post: [u8; POST_LEN],
    post_len: usize,
    /// The frame header's Frame_Content_Size, once a valid header declared one.
    content_size: Option<u64>,
}

impl Default for FrameWalker {
    fn default() -> Self {
        FrameWalker {
            pos: 0,
            state: State::Header { want: 5 },
            buf: [0; MAX_HEADER],
            buf_len: 0,
            checksum: false,
            last_need: 5,
            post: [0; POST_LEN],
            post_len: 0,
            content_size: None,
        }
    }
}

impl FrameWalker {
    pub fn new() -> Self {
        Self::default()
    }

    fn need(&mut self, upto: u64) {
        self.last_need = self.last_need.max(upto);
    }

    /// Consumes the next bytes of the object.
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut i = 0usize;
        while i < chunk.len() {
            let at = self.pos + i as u64;
            match self.state {
                State::Header { want } => {
                    let n = (want - self.buf_len).min(chunk.len() - i);
                    self.buf[self.buf_len..self.buf_len + n].copy_from_slice(&chunk[i..i + n]);
                    self.buf_len += n;
                    i += n;
                    if self.buf_len == want {
                        self.header_complete();
                    }
                }
                State::BlockHeader { at: start } => {
                    let n = (3 - self.buf_len).min(chunk.len() - i);
                    self.buf[self.buf_len..self.buf_len + n].copy_from_slice(&chunk[i..i + n]);
                    self.buf_len += n;
                    i += n;
                    if self.buf_len == 3 {
                        self.block_header_complete(start);
                    }
                }
                State::Skip { until, last } => {
                    let n = (until - at).min((chunk.len() - i) as u64);
                    i += n as usize;
                    if at + n == until {
                        self.block_done(until, last);
                    }
                }
                State::Checksum { until } => {
                    let n = (until - at).min((chunk.len() - i) as u64);
                    i += n as usize;
                    if at + n == until {
                        self.state = State::Done { end: until };
                    }
                }
                State::Done { .. } => {
                    let n = (POST_LEN - self.post_len).min(chunk.len() - i);
                    self.post[self.post_len..self.post_len + n].copy_from_slice(&chunk[i..i + n]);
                    self.post_len += n;
                    break;
                }
                State::Failed(_) => break,
            }
        }
        self.pos += chunk.len() as u64;
        // A frame that ends exactly at a chunk boundary reads its `post` bytes next time.
    }

    fn header_complete(&mut self) {
        if self.buf_len == 5 && self.buf[..4] != ZSTD_MAGIC.to_le_bytes() {
            self.state = State::Failed(ZSTD_ErrorCode::ZSTD_error_prefix_unknown);
            return;
        }
        let fhd = self.buf[4];
        let single = fhd & 0x20 != 0;
        let did = [0, 1, 2, 4][usize::from(fhd & 3)];
        let fcs = [0, 2, 4, 8][usize::from(fhd >> 6)];
        let size = 5 + usize::from(!single) + did + fcs + usize::from(single && fhd >> 6 == 0);
        if self.buf_len < size {
            self.need(size as u64);
            self.state = State::Header { want: size };
            return;
        }
        if fhd & 0x08 != 0 {
            self.state = State::Failed(ZSTD_ErrorCode::ZSTD_error_frameParameter_unsupported);
            return;
        }
        if !single && u32::from(self.buf[5] >> 3) + WINDOWLOG_MIN > WINDOWLOG_MAX {
            self.state = State::Failed(ZSTD_ErrorCode::ZSTD_error_frameParameter_windowTooLarge);
            return;
        }
        self.checksum = fhd & 0x04 != 0;
        // Frame_Content_Size: the header's last `fcs` bytes (1 for a single-segment
        // frame with field code 0), little-endian; the 2-byte form is offset by 256.
        let fcs_len = size - (5 + usize::from(!single) + did);
        let field = &self.buf[size - fcs_len..size];
        let value = field
            .iter()
            .rev()
            .fold(0u64, |v, &b| (v << 8) | u64::from(b));
        self.content_size = match fcs_len {
            0 => None,
            2 => Some(value + 256),
            _ => Some(value),
        };
        self.start_block(size as u64);
    }

    fn start_block(&mut self, at: u64) {
        self.buf_len = 0;
        self.need(at + BLOCK_HEADER);
        self.state = State::BlockHeader { at };
    }

    fn block_header_complete(&mut self, at: u64) {
        let h = u32::from(self.buf[0]) | u32::from(self.buf[1]) << 8 | u32::from(self.buf[2]) << 16;
        let last = h & 1 == 1;
        let size = match (h >> 1) & 3 {
            1 => 1, // RLE: one byte, repeated
            3 => {
                self.state = State::Failed(ZSTD_ErrorCode::ZSTD_error_corruption_detected);
                return;
            }
            _ => u64::from(h >> 3),
        };
        let until = at + BLOCK_HEADER + size;
        self.need(until);
        if size == 0 {
            self.block_done(until, last);
        } else {
            self.state = State::Skip { until, last };
        }
    }

    fn block_done(&mut self, end: u64, last: bool) {
        if !last {
            self.start_block(end);
        } else if self.checksum {
            self.need(end + 4);
            self.state = State::Checksum { until: end + 4 };
        } else {
            self.state = State::Done { end };
        }
    }

    /// The result over everything fed so far.
    pub fn finish(&self) -> Walk {
        let end = match self.state {
            State::Done { end } => Ok(end),
            State::Failed(e) => Err(code(e)),
            _ => Err(code(ZSTD_ErrorCode::ZSTD_error_srcSize_wrong)),
        };
        Walk {
            end,
            last_need: self.last_need,
        }
    }

    /// The content size the frame header declares (RFC 8878 Frame_Content_Size), once
    /// the header has been read and found valid; `None` when it declares none.
    pub fn content_size(&self) -> Option<u64> {
        self.content_size
    }

    /// Up to [`POST_LEN`] bytes that followed the frame's end.
    pub fn post(&self) -> &[u8] {
        &self.post[..self.post_len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::tests_support::{build, sample_lines};
    use zstd::zstd_safe::find_frame_compressed_size;

    /// zstd's own answer, in the walker's terms.
    fn zstd_end(bytes: &[u8]) -> Result<u64, usize> {
        find_frame_compressed_size(bytes).map(|n| n as u64)
    }

    fn walker_end(bytes: &[u8], chunk: usize) -> Walk {
        let mut w = FrameWalker::new();
        for c in bytes.chunks(chunk.max(1)) {
            w.feed(c);
        }
        w.finish()
    }

    fn assert_same(bytes: &[u8], what: &str) {
        let want = zstd_end(bytes);
        for chunk in [1, 2, 5, 64, bytes.len()] {
            let walk = walker_end(bytes, chunk);
            assert_eq!(
                walk.end.map_err(error_name),
                want.map_err(error_name),
                "{what}, chunks of {chunk}"
            );
            // Every prefix walks as zstd walks that prefix.
            if chunk == bytes.len() {
                for cut in 4..=bytes.len() {
                    let p = walk.on_prefix(cut as u64).map_err(error_name);
                    let z = zstd_end(&bytes[..cut]).map_err(error_name);
                    assert_eq!(p, z, "{what}, prefix of {cut}");
                }
            }
        }
    }

    fn frames() -> Vec<(String, Vec<u8>)> {
        let mut v = Vec::new();
        for level in [1, 3, 19] {
            for lines in [0usize, 2, 40] {
                let obj = build(level, &sample_lines(lines));
                v.push((format!("level {level}, {lines} lines"), obj.bytes.clone()));
            }
        }
        // A frame without checksum, content size or single-segment flag, and one with
        // several raw blocks, an RLE block and a dictionary id.
        let mut f = ZSTD_MAGIC.to_le_bytes().to_vec();
        f.extend_from_slice(&[0x00, 0x50]);
        f.extend_from_slice(&[0x28, 0, 0]);
        f.extend_from_slice(b"hello");
        f.extend_from_slice(&[(8 << 3) | 0b011, 0, 0, b'z']);
        v.push(("hand-made raw + RLE".into(), f));
        let mut f = ZSTD_MAGIC.to_le_bytes().to_vec();
        f.extend_from_slice(&[0b0100_0110, 0x48, 0x34, 0x12, 0x10, 0x00]);
        f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x19, 0, 0]);
        f.extend_from_slice(b"abc");
        f.extend_from_slice(&[1, 2, 3, 4]);
        v.push(("hand-made dict id, checksum, empty blocks".into(), f));
        v
    }

    #[test]
    fn agrees_with_zstd_on_real_and_hand_made_frames() {
        for (what, f) in frames() {
            assert_same(&f, &what);
            let mut longer = f.clone();
            longer.extend_from_slice(b"trailing bytes after the frame");
            assert_same(&longer, &format!("{what} + trailing"));
        }
    }

    #[test]
    fn agrees_with_zstd_on_every_byte_flip() {
        for (what, f) in frames() {
            for i in 4..f.len().min(64) {
                for x in [0x01, 0x08, 0x20, 0x80, 0xff] {
                    let mut b = f.clone();
                    b[i] ^= x;
                    assert_same(&b, &format!("{what}, byte {i} ^ {x:#x}"));
                }
            }
        }
    }

    #[test]
    fn reads_the_declared_content_size_as_zstd_does() {
        let mut frames = frames();
        for (size, level) in [(0usize, 1), (200, 1), (300, 3), (70_000, 1), (5_000_000, 1)] {
            let content = vec![b'x'; size];
            frames.push((
                format!("bulk, {size} bytes"),
                zstd::bulk::compress(&content, level).unwrap(),
            ));
        }
        // 8-byte sizes, single-segment and with a window descriptor (headers only).
        for (fhd, wd) in [(0b1110_0100u8, None), (0b1100_0100, Some(0x50u8))] {
            let mut f = ZSTD_MAGIC.to_le_bytes().to_vec();
            f.push(fhd);
            f.extend(wd);
            f.extend_from_slice(&(6u64 << 30).to_le_bytes());
            frames.push((format!("8-byte size, descriptor {fhd:#x}"), f));
        }
        for (what, f) in frames {
            let want = zstd::zstd_safe::get_frame_content_size(&f).unwrap();
            let mut w = FrameWalker::new();
            w.feed(&f[..f.len().min(MAX_HEADER)]);
            assert_eq!(w.content_size(), want, "{what}");
        }
    }

    #[test]
    fn keeps_the_bytes_after_the_frame() {
        let all = frames();
        let (_, f) = all
            .iter()
            .find(|(what, _)| what.starts_with("hand-made raw"))
            .unwrap();
        let mut b = f.clone();
        b.extend_from_slice(&(0u8..40).collect::<Vec<_>>());
        for chunk in [1, 3, b.len()] {
            let mut w = FrameWalker::new();
            for c in b.chunks(chunk) {
                w.feed(c);
            }
            assert_eq!(w.finish().end, Ok(f.len() as u64));
            assert_eq!(w.post(), &(0u8..POST_LEN as u8).collect::<Vec<_>>()[..]);
        }
    }

    #[test]
    fn error_names_are_zstd_names() {
        let c = code(ZSTD_ErrorCode::ZSTD_error_srcSize_wrong);
        assert_eq!(error_name(c), "Src size is incorrect");
        assert!(is_src_size_wrong(c));
    }
}
