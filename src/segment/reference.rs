//! The whole-buffer implementations that the streaming reader replaced, kept verbatim
//! (only their visibility changed) as oracles: the tests check that scanning an object
//! as a stream gives exactly what these give on the same bytes.

use super::{
    merkle, MerkleBuilder, Seal, SegmentError, MAX_SCAN_PAYLOAD, SEAL_FRAME_MAGIC, ZSTD_MAGIC,
};
use sha2::{Digest, Sha256};
use std::io::Read;

fn u32_le(b: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(..4)?.try_into().ok()?))
}

/// A parsed object: the data frame (unchecked) and the decoded seal (unverified).
#[derive(Debug, Clone)]
pub struct SegmentView<'a> {
    pub data_frame: &'a [u8],
    pub seal: Seal,
}

fn is_src_size_wrong(code: usize) -> bool {
    // zstd returns errors as (size_t)-code.
    0usize.wrapping_sub(code)
        == zstd::zstd_safe::zstd_sys::ZSTD_ErrorCode::ZSTD_error_srcSize_wrong as usize
}

/// Splits an object into data frame and seal. Structure only: it does not check the
/// data frame (see `decompress`) nor the signature.
///
/// The seal is found from the front (data frame length, then the skippable frame) and,
/// if that fails, from the back (a skippable header whose size reaches exactly the end),
/// so a damaged data frame still yields its seal and is reported as a hash mismatch
/// rather than as a broken object. An object cut short is `SegmentError::Truncated`.
pub fn parse(bytes: &[u8]) -> Result<SegmentView<'_>, SegmentError> {
    if bytes.is_empty() {
        return Err(SegmentError::Truncated("empty object".into()));
    }
    if u32_le(bytes) != Some(ZSTD_MAGIC) {
        if bytes.len() < 4 && ZSTD_MAGIC.to_le_bytes().starts_with(bytes) {
            return Err(SegmentError::Truncated(format!(
                "object of {} bytes",
                bytes.len()
            )));
        }
        return Err(SegmentError::Malformed(
            "object does not start with a zstd frame".into(),
        ));
    }
    let forward = zstd::zstd_safe::find_frame_compressed_size(bytes);
    if let Ok(n) = forward {
        if let Some(view) = seal_at(bytes, n) {
            return view;
        }
    }
    // Backward scan: the last skippable frame header whose size reaches the end.
    let len = bytes.len();
    for payload_len in 0..=MAX_SCAN_PAYLOAD {
        let Some(start) = len.checked_sub(8 + payload_len) else {
            break;
        };
        if start >= 4 && seal_header_matches(&bytes[start..], payload_len) {
            return seal_at(bytes, start)
                .unwrap_or_else(|| Err(SegmentError::Malformed("no seal".into())));
        }
    }
    match forward {
        Err(code) if is_src_size_wrong(code) => {
            Err(SegmentError::Truncated("data frame is cut short".into()))
        }
        Err(code) => Err(SegmentError::Malformed(format!(
            "data frame: {}",
            zstd::zstd_safe::get_error_name(code)
        ))),
        Ok(n) => {
            let rest = &bytes[n..];
            let magic = SEAL_FRAME_MAGIC.to_le_bytes();
            if rest.is_empty() {
                Err(SegmentError::Truncated(
                    "no seal frame after the data frame".into(),
                ))
            } else if rest.len() < 8 {
                if magic.starts_with(&rest[..rest.len().min(4)]) {
                    Err(SegmentError::Truncated(
                        "seal frame header is cut short".into(),
                    ))
                } else {
                    Err(SegmentError::Malformed(
                        "bytes after the data frame are not a seal frame".into(),
                    ))
                }
            } else if rest[..4] != magic {
                Err(SegmentError::Malformed(format!(
                    "expected seal frame magic {}, found {}",
                    hex::encode(magic),
                    hex::encode(&rest[..4])
                )))
            } else {
                let declared = u32_le(&rest[4..]).unwrap_or(0) as usize;
                let have = rest.len() - 8;
                if declared > have {
                    Err(SegmentError::Truncated(format!(
                        "seal frame declares {declared} bytes, {have} present"
                    )))
                } else {
                    Err(SegmentError::Malformed(format!(
                        "{} trailing bytes after the seal frame",
                        have - declared
                    )))
                }
            }
        }
    }
}

fn seal_header_matches(at: &[u8], payload_len: usize) -> bool {
    u32_le(at) == Some(SEAL_FRAME_MAGIC)
        && at.get(4..8).and_then(u32_le) == Some(payload_len as u32)
        && at.len() == 8 + payload_len
}

/// The view when a complete seal frame starts at `start` and ends the object.
fn seal_at(bytes: &[u8], start: usize) -> Option<Result<SegmentView<'_>, SegmentError>> {
    let rest = bytes.get(start..)?;
    let declared = rest.get(4..8).and_then(u32_le)? as usize;
    if !seal_header_matches(rest, declared) {
        return None;
    }
    Some(Seal::from_bytes(&rest[8..]).map(|seal| SegmentView {
        data_frame: &bytes[..start],
        seal,
    }))
}

pub(crate) fn check_single_frame(data_frame: &[u8]) -> Result<(), SegmentError> {
    match zstd::zstd_safe::find_frame_compressed_size(data_frame) {
        Ok(n) if n == data_frame.len() => Ok(()),
        Ok(n) => Err(SegmentError::Corrupt(format!(
            "data frame ends at byte {n} of {}",
            data_frame.len()
        ))),
        Err(code) => Err(SegmentError::Corrupt(
            zstd::zstd_safe::get_error_name(code).to_owned(),
        )),
    }
}

/// What a data frame holds, measured in one streaming pass with bounded memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentDigest {
    pub lines: u64,
    pub bytes: u64,
    pub merkle_root: [u8; 32],
    /// False when the content is non-empty and its last line lacks `'\n'`.
    pub ends_with_newline: bool,
}

/// Streams the data frame through the decoder and the Merkle tree: the verifier's path,
/// so memory stays bounded (64 KiB buffer plus zstd's window) however large the segment.
pub fn digest_data_frame(data_frame: &[u8], limit: u64) -> Result<ContentDigest, SegmentError> {
    check_single_frame(data_frame)?;
    let mut decoder = zstd::stream::read::Decoder::with_buffer(data_frame)
        .map_err(SegmentError::Zstd)?
        .single_frame();
    let mut buf = vec![0u8; 64 * 1024];
    let mut lines = LineHasher::new();
    let mut total: u64 = 0;
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(SegmentError::Corrupt(e.to_string())),
        };
        total += n as u64;
        if total > limit {
            return Err(SegmentError::TooLarge { limit });
        }
        lines.feed(&buf[..n]);
    }
    let ends_with_newline = !lines.partial;
    let merkle = lines.finish();
    Ok(ContentDigest {
        lines: merkle.leaves(),
        bytes: total,
        merkle_root: merkle.root(),
        ends_with_newline,
    })
}

/// Splits a byte stream into lines and hashes each as a Merkle leaf, across chunk
/// boundaries, without holding a line in memory.
struct LineHasher {
    leaf: Sha256,
    partial: bool,
    merkle: MerkleBuilder,
}

impl LineHasher {
    fn new() -> Self {
        Self {
            leaf: Sha256::new_with_prefix([merkle::LEAF_PREFIX]),
            partial: false,
            merkle: MerkleBuilder::new(),
        }
    }

    fn feed(&mut self, mut chunk: &[u8]) {
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

    fn finish(mut self) -> MerkleBuilder {
        if self.partial {
            self.merkle.push_leaf_hash(self.leaf.finalize().into());
        }
        self.merkle
    }
}
