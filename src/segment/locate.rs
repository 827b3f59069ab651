//! Where the seal frame is (FORMAT.md §1.1), decided from a few facts about the object
//! rather than from the whole object: its length, its first bytes, the walk of its data
//! frame, the bytes right after that frame, and its last [`TAIL_MAX`] bytes.
//!
//! [`super::parse`] (whole buffers) and the streaming scanner both decide here, so a
//! segment read in one piece and one read as a stream are judged alike.

use super::frame::{error_name, is_src_size_wrong, Walk};
use super::{u32_le, Seal, SegmentError, MAX_SCAN_PAYLOAD, SEAL_FRAME_MAGIC, ZSTD_MAGIC};

/// The longest tail that can hold a seal frame the backward scan looks for: the 8-byte
/// skippable frame header and a payload of up to `MAX_SCAN_PAYLOAD` bytes. A reader that
/// keeps this many final bytes can always place the seal.
pub const TAIL_MAX: usize = 8 + MAX_SCAN_PAYLOAD;

/// The seal frame's offset (= the data frame's length) and the decoded seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub seal_start: u64,
    pub seal: Seal,
}

/// What [`locate`] needs to know about an object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Structure<'a> {
    pub len: u64,
    /// The first `min(len, 4)` bytes.
    pub head: &'a [u8],
    /// The frame walk over the whole object.
    pub walk: Walk,
    /// Up to [`super::frame::POST_LEN`] bytes after the walk's end, when it ended.
    pub post: &'a [u8],
    /// The last `min(len, TAIL_MAX)` bytes.
    pub tail: &'a [u8],
}

impl Structure<'_> {
    fn tail_base(&self) -> u64 {
        self.len - self.tail.len() as u64
    }

    /// `object[from..]` when it lies inside the tail.
    fn suffix(&self, from: u64) -> Option<&[u8]> {
        let skip = usize::try_from(from.checked_sub(self.tail_base())?).ok()?;
        self.tail.get(skip..)
    }
}

/// Whether a complete seal frame header of `payload_len` starts `at` and ends the object.
fn header_matches(at: &[u8], payload_len: usize) -> bool {
    u32_le(at) == Some(SEAL_FRAME_MAGIC)
        && at.get(4..8).and_then(u32_le) == Some(payload_len as u32)
        && at.len() == 8 + payload_len
}

/// The seal frame starting at `start` inside the tail, if one starts there and ends
/// the object.
fn seal_at(s: &Structure, start: u64) -> Option<Result<Located, SegmentError>> {
    let rest = s.suffix(start)?;
    let declared = rest.get(4..8).and_then(u32_le)? as usize;
    if !header_matches(rest, declared) {
        return None;
    }
    Some(Seal::from_bytes(&rest[8..]).map(|seal| Located {
        seal_start: start,
        seal,
    }))
}

/// The seal frame right after the data frame that ends at `n`, if one starts there and
/// ends the object.
fn seal_after_frame(s: &Structure, n: u64) -> Option<Result<Located, SegmentError>> {
    if s.suffix(n).is_some() {
        return seal_at(s, n);
    }
    // Longer than the tail, so only its first bytes (`post`) were kept. Such a payload
    // is far longer than any seal and never decodes; its preamble says whether it is
    // malformed or of another version or kind.
    let payload = s.len.checked_sub(n)?.checked_sub(8)?;
    if u32_le(s.post) != Some(SEAL_FRAME_MAGIC)
        || s.post.get(4..8).and_then(u32_le).map(u64::from) != Some(payload)
    {
        return None;
    }
    let payload_len = usize::try_from(payload).unwrap_or(usize::MAX);
    let preamble = s.post.get(8..).unwrap_or(&[]);
    Some(Err(Seal::check_preamble(preamble, payload_len)
        .err()
        .unwrap_or_else(|| {
            SegmentError::Malformed(format!("seal payload of {payload_len} bytes"))
        })))
}

/// The seal found from the back: the last skippable frame header whose size reaches the
/// end exactly. `None` if there is none in the tail.
pub(crate) fn seal_from_tail(s: &Structure) -> Option<Result<Located, SegmentError>> {
    for payload_len in 0..=MAX_SCAN_PAYLOAD {
        let start = s.len.checked_sub(8 + payload_len as u64)?;
        if start >= 4
            && s.suffix(start)
                .is_some_and(|at| header_matches(at, payload_len))
        {
            return Some(
                seal_at(s, start).unwrap_or_else(|| Err(SegmentError::Malformed("no seal".into()))),
            );
        }
    }
    None
}

/// Checks the object's first bytes, which every placement rule starts from.
pub(crate) fn check_head(len: u64, head: &[u8]) -> Result<(), SegmentError> {
    if len == 0 {
        return Err(SegmentError::Truncated("empty object".into()));
    }
    if u32_le(head) != Some(ZSTD_MAGIC) {
        if len < 4 && ZSTD_MAGIC.to_le_bytes().starts_with(head) {
            return Err(SegmentError::Truncated(format!("object of {len} bytes")));
        }
        return Err(SegmentError::Malformed(
            "object does not start with a zstd frame".into(),
        ));
    }
    Ok(())
}

/// Places the seal: from the front (the data frame's end, then the skippable frame) and,
/// if that fails, from the back, so that a damaged data frame still yields its seal and
/// is reported as a hash mismatch rather than as a broken object.
pub(crate) fn locate(s: &Structure) -> Result<Located, SegmentError> {
    check_head(s.len, s.head)?;
    if let Ok(n) = s.walk.end {
        if let Some(found) = seal_after_frame(s, n) {
            return found;
        }
    }
    if let Some(found) = seal_from_tail(s) {
        return found;
    }
    match s.walk.end {
        Err(code) if is_src_size_wrong(code) => {
            Err(SegmentError::Truncated("data frame is cut short".into()))
        }
        Err(code) => Err(SegmentError::Malformed(format!(
            "data frame: {}",
            error_name(code)
        ))),
        Ok(n) => {
            let rest_len = s.len.saturating_sub(n);
            let rest = s.suffix(n).unwrap_or(s.post);
            let magic = SEAL_FRAME_MAGIC.to_le_bytes();
            if rest_len == 0 {
                Err(SegmentError::Truncated(
                    "no seal frame after the data frame".into(),
                ))
            } else if rest_len < 8 {
                if magic.starts_with(&rest[..rest.len().min(4)]) {
                    Err(SegmentError::Truncated(
                        "seal frame header is cut short".into(),
                    ))
                } else {
                    Err(SegmentError::Malformed(
                        "bytes after the data frame are not a seal frame".into(),
                    ))
                }
            } else if rest.get(..4) != Some(&magic[..]) {
                Err(SegmentError::Malformed(format!(
                    "expected seal frame magic {}, found {}",
                    hex::encode(magic),
                    hex::encode(rest.get(..4).unwrap_or(&[]))
                )))
            } else {
                let declared = rest.get(4..8).and_then(u32_le).unwrap_or(0);
                let have = rest_len - 8;
                if u64::from(declared) > have {
                    Err(SegmentError::Truncated(format!(
                        "seal frame declares {declared} bytes, {have} present"
                    )))
                } else {
                    Err(SegmentError::Malformed(format!(
                        "{} trailing bytes after the seal frame",
                        have - u64::from(declared)
                    )))
                }
            }
        }
    }
}
