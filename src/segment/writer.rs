//! Writing one segment as its content streams in, chunk by chunk: the Merkle leaves are
//! hashed and the data frame compressed as each chunk arrives, so a segment never has
//! to be held uncompressed (memory is a chunk and the compressed object, not
//! `seal.max_bytes`), and the work spreads over the segment's lifetime instead of
//! bunching at its end.
//!
//! The frame is an ordinary zstd frame with the content checksum; its header does not
//! state the content size (it is not known when the frame starts), which `FORMAT.md`
//! §1.1 allows. zstd's streaming parameters at the levels the daemon uses keep the
//! window at most 8 MiB.

use ed25519_dalek::SigningKey;
use zstd::zstd_safe::{self, CCtx, CParameter, InBuffer, OutBuffer, ResetDirective};

use super::stream::LineHasher;
use super::{append_seal, SealHeader, Sealed, SegmentError, Summary};

/// Compresses and hashes one segment at a time, reusing its zstd context and output
/// buffer across segments.
pub struct SegmentWriter {
    cctx: CCtx<'static>,
    /// The data frame so far (becomes the object).
    out: Vec<u8>,
    lines: LineHasher,
    /// Whether a frame is open (something was fed since the last [`Self::finish`]).
    open: bool,
}

impl std::fmt::Debug for SegmentWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentWriter")
            .field("compressed", &self.out.len())
            .finish_non_exhaustive()
    }
}

fn zstd_err(code: zstd_safe::ErrorCode) -> SegmentError {
    SegmentError::Zstd(std::io::Error::other(zstd_safe::get_error_name(code)))
}

impl SegmentWriter {
    pub fn new(zstd_level: i32) -> Result<Self, SegmentError> {
        let mut cctx = CCtx::try_create()
            .ok_or_else(|| SegmentError::Zstd(std::io::Error::other("zstd context")))?;
        cctx.set_parameter(CParameter::CompressionLevel(zstd_level))
            .map_err(zstd_err)?;
        cctx.set_parameter(CParameter::ChecksumFlag(true))
            .map_err(zstd_err)?;
        Ok(SegmentWriter {
            cctx,
            out: Vec::new(),
            lines: LineHasher::new(),
            open: false,
        })
    }

    fn begin(&mut self) -> Result<(), SegmentError> {
        if !self.open {
            self.cctx
                .reset(ResetDirective::SessionOnly)
                .map_err(zstd_err)?;
            self.out.clear();
            self.lines = LineHasher::new();
            self.open = true;
        }
        Ok(())
    }

    /// Feeds the next content bytes: whole lines, each ending in `\n`.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), SegmentError> {
        self.begin()?;
        self.lines.feed(chunk);
        let mut input = InBuffer::around(chunk);
        while input.pos < chunk.len() {
            self.out
                .reserve(zstd_safe::compress_bound(chunk.len() - input.pos).max(1 << 16));
            let pos = self.out.len();
            let mut output = OutBuffer::around_pos(&mut self.out, pos);
            self.cctx
                .compress_stream2(
                    &mut output,
                    &mut input,
                    zstd_safe::zstd_sys::ZSTD_EndDirective::ZSTD_e_continue,
                )
                .map_err(zstd_err)?;
        }
        Ok(())
    }

    /// Ends the frame, signs the seal and returns the object. `count`, `min_time` and
    /// `max_time` describe the events fed. On an error the segment stays open: the
    /// caller retries `finish` (the content fed so far is kept).
    pub fn finish(
        &mut self,
        header: SealHeader,
        key: &SigningKey,
        count: u64,
        (min_time, max_time): (i64, i64),
    ) -> Result<Sealed, SegmentError> {
        super::check_header(&header)?;
        self.begin()?;
        loop {
            self.out.reserve(1 << 16);
            let pos = self.out.len();
            let mut output = OutBuffer::around_pos(&mut self.out, pos);
            let left = self.cctx.end_stream(&mut output).map_err(zstd_err)?;
            if left == 0 {
                break;
            }
        }
        let digest = std::mem::take(&mut self.lines).finish();
        let mut out = std::mem::take(&mut self.out);
        let seal = append_seal(
            &mut out,
            header,
            key,
            Summary {
                count,
                min_time,
                max_time,
                content_len: digest.bytes,
                merkle_root: digest.merkle_root,
            },
        );
        self.open = false;
        Ok(Sealed { bytes: out, seal })
    }

    /// Gives a written object's buffer back, to compress the next segment into.
    pub fn recycle(&mut self, mut bytes: Vec<u8>) {
        if !self.open && bytes.capacity() > self.out.capacity() {
            bytes.clear();
            self.out = bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{parse, SealKind, SegmentBuilder};

    fn header(seq: u64) -> SealHeader {
        SealHeader {
            kind: SealKind::Normal,
            stream: "w".into(),
            seq,
            prev_hash: [0; 32],
            period_start_ns: 1,
            period_end_ns: 2,
            heartbeat_ms: 1000,
            next_key: None,
        }
    }

    #[test]
    fn streamed_segments_equal_built_ones_but_for_the_compressed_bytes() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut w = SegmentWriter::new(1).unwrap();
        for (seq, n) in [(0u64, 0usize), (1, 1), (2, 5000), (3, 3)] {
            let lines: Vec<u8> = (0..n)
                .flat_map(|i| {
                    format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i % 300)).into_bytes()
                })
                .collect();
            // In uneven chunks that end on line boundaries.
            let mut rest = &lines[..];
            while !rest.is_empty() {
                let cut = rest.len().min(70_000);
                let end = rest[..cut]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(rest.len(), |i| i + 1);
                w.feed(&rest[..end]).unwrap();
                rest = &rest[end..];
            }
            let streamed = w.finish(header(seq), &key, n as u64, (5, 9)).unwrap();
            let mut b = SegmentBuilder::new(1).unwrap();
            for l in lines.split_inclusive(|&b| b == b'\n') {
                b.push_line(&l[..l.len() - 1], 7);
            }
            let built = b.finish(header(seq), &key).unwrap();
            let v = parse(&streamed.bytes).unwrap();
            v.seal.verify_signature(&key.verifying_key()).unwrap();
            assert_eq!(zstd::decode_all(v.data_frame).unwrap(), lines);
            assert_eq!(streamed.seal.merkle_root, built.seal.merkle_root, "{seq}");
            assert_eq!(streamed.seal.content_len, built.seal.content_len);
            assert_eq!(streamed.seal.event_count, n as u64);
            assert_eq!(streamed.seal.data_len as usize, v.data_frame.len());
            if n == 0 {
                assert_eq!(
                    (streamed.seal.first_event_ns, streamed.seal.last_event_ns),
                    (0, 0)
                );
            } else {
                assert_eq!(
                    (streamed.seal.first_event_ns, streamed.seal.last_event_ns),
                    (5, 9)
                );
            }
            w.recycle(streamed.bytes);
        }
    }
}
