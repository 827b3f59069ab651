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

/// Places the seal by FORMAT.md §1.1 rules 1 to 4: the head, from the front (the data
/// frame's end, then the skippable frame) and, only if that places nothing, from the
/// back (the shortest payload first), so that a damaged data frame still yields its seal
/// and is reported as a hash mismatch rather than as a broken object. Whichever rule
/// places a seal frame decides, even when its payload then fails to decode.
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

#[cfg(test)]
mod tests {
    //! The placement rule of FORMAT.md §1.1, case by case, on an empty segment like
    //! the worked example's segment 0: a 13-byte data frame, then the seal frame.

    use std::io::Cursor;

    use super::super::tests_support::{assemble, build};
    use super::super::{read_seal, Seal, SegmentError, MAX_SCAN_PAYLOAD, SEAL_FRAME_MAGIC};
    use crate::segment::ObjectScanner;

    /// Where `parse` places the seal (data frame length and seal), checked to be where
    /// the streaming scanner places it too.
    fn parse(obj: &[u8]) -> Result<(usize, Seal), SegmentError> {
        let whole = super::super::parse(obj).map(|v| (v.data_frame.len(), v.seal));
        let mut s = ObjectScanner::structure_only();
        for c in obj.chunks(100) {
            s.feed(c);
        }
        let streamed = s.finish().located.map(|l| (l.seal_start as usize, l.seal));
        assert_eq!(format!("{whole:?}"), format!("{streamed:?}"));
        whole
    }

    fn skippable(payload: &[u8]) -> Vec<u8> {
        let mut v = SEAL_FRAME_MAGIC.to_le_bytes().to_vec();
        v.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        v.extend_from_slice(payload);
        v
    }

    /// Sets the frame header's reserved bit: the walk of the data frame fails at once.
    fn damage(obj: &mut [u8]) {
        obj[4] |= 0x08;
    }

    fn malformed(r: Result<impl std::fmt::Debug, SegmentError>) -> String {
        match r {
            Err(SegmentError::Malformed(d)) => d,
            other => panic!("expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn the_worked_example_places_as_format_md_says() {
        let (s0, _) = super::super::format_example::objects();
        assert_eq!((s0.bytes.len(), s0.seal.data_len), (277, 13));
        assert_eq!(parse(&s0.bytes).unwrap(), (13, s0.seal.clone()));
        let mut bad = s0.bytes.clone();
        damage(&mut bad);
        assert_eq!(parse(&bad).unwrap(), (13, s0.seal.clone()));
        let mut bad = s0.bytes.clone();
        bad[13 + 4..13 + 8].copy_from_slice(&257u32.to_le_bytes());
        assert!(matches!(
            parse(&bad),
            Err(SegmentError::Truncated(d)) if d == "seal frame declares 257 bytes, 256 present"
        ));
    }

    #[test]
    fn the_front_decides_first_then_the_shortest_candidate_from_the_back() {
        let seg = build(1, &[]);
        let data_len = seg.seal.data_len as usize;
        assert_eq!(seg.bytes.len(), data_len + 8 + seg.seal.payload_len());
        // A seal whose signature ends with an empty skippable frame header (`53 2A 4D
        // 18 00 00 00 00`): a second candidate, reaching the end with a payload of 0.
        // (Placement does not check signatures.)
        let mut seal = seg.seal.clone();
        seal.signature[56..60].copy_from_slice(&SEAL_FRAME_MAGIC.to_le_bytes());
        seal.signature[60..].copy_from_slice(&[0; 4]);
        let frame = &seg.bytes[..data_len];
        let obj = assemble(frame, &seal);

        // The data frame is intact: the front places the seal at its end.
        assert_eq!(parse(&obj).unwrap(), (data_len, seal));
        // Damaged, the back decides: the candidate nearest the end (payload 0) wins and
        // its failure is the verdict; the longer candidate (the real seal) is not tried.
        let mut bad = obj.clone();
        damage(&mut bad);
        assert!(
            malformed(parse(&bad)).contains("0 bytes is too short"),
            "{:?}",
            parse(&bad).err()
        );
        // `inspect` (read_seal) scans from the back first even when the frame is intact.
        let e = malformed(read_seal(&mut Cursor::new(&obj)));
        assert!(e.contains("0 bytes is too short"), "{e}");

        // Without the planted candidate, the damaged object yields its seal from the
        // back, and its data frame is everything before it.
        let mut bad = seg.bytes.clone();
        damage(&mut bad);
        assert_eq!(parse(&bad).unwrap(), (data_len, seg.seal));
    }

    #[test]
    fn the_front_candidate_is_decoded_even_when_a_shorter_one_ends_the_object() {
        // data frame | skippable(junk ‖ seal frame): the front finds the outer frame and
        // decodes its (junk) payload; the back would have found the inner seal.
        let seg = build(1, &[]);
        let data_len = seg.seal.data_len as usize;
        let mut outer = b"not a seal".to_vec();
        outer.extend_from_slice(&seg.bytes[data_len..]);
        let mut obj = seg.bytes[..data_len].to_vec();
        obj.extend_from_slice(&skippable(&outer));
        assert!(malformed(parse(&obj)).starts_with("seal magic is"));
        damage(&mut obj);
        assert_eq!(parse(&obj).unwrap(), (data_len + 8 + 10, seg.seal));
    }

    #[test]
    fn the_back_looks_for_payloads_of_up_to_max_scan_payload_bytes() {
        let seg = build(1, &[]);
        let data_len = seg.seal.data_len as usize;
        for (payload, found) in [(MAX_SCAN_PAYLOAD, true), (MAX_SCAN_PAYLOAD + 1, false)] {
            let mut obj = seg.bytes[..data_len].to_vec();
            obj.extend_from_slice(&skippable(&vec![0u8; payload]));
            damage(&mut obj);
            let d = malformed(parse(&obj));
            if found {
                // Placed, then decoded: a payload of zeros has no seal magic.
                assert!(
                    d.starts_with("seal magic is 000000000000"),
                    "{payload}: {d}"
                );
            } else {
                // Not placed: the verdict is the data frame's.
                assert!(d.starts_with("data frame: "), "{payload}: {d}");
            }
        }
    }

    #[test]
    fn without_a_candidate_the_verdict_comes_from_the_walk() {
        let seg = build(1, &[]);
        let data_len = seg.seal.data_len as usize;
        let declared = seg.seal.payload_len() as u32;
        // The size field one too large: no candidate anywhere, the walk ends at the data
        // frame's end, where a seal frame begins that runs past the object.
        let mut obj = seg.bytes.clone();
        obj[data_len + 4..data_len + 8].copy_from_slice(&(declared + 1).to_le_bytes());
        match parse(&obj) {
            Err(SegmentError::Truncated(d)) => assert_eq!(
                d,
                format!(
                    "seal frame declares {} bytes, {declared} present",
                    declared + 1
                )
            ),
            other => panic!("{other:?}"),
        }
        // One too small: the seal frame ends one byte early.
        obj[data_len + 4..data_len + 8].copy_from_slice(&(declared - 1).to_le_bytes());
        assert_eq!(
            malformed(parse(&obj)),
            "1 trailing bytes after the seal frame"
        );
        // The data frame cut short: the walk runs out of bytes.
        assert!(matches!(
            parse(&seg.bytes[..data_len - 1]),
            Err(SegmentError::Truncated(d)) if d == "data frame is cut short"
        ));
        // Damaged so that the walk fails, and no candidate: the walk's error.
        let mut obj = seg.bytes.clone();
        obj[data_len..data_len + 4].copy_from_slice(b"XXXX");
        damage(&mut obj);
        assert!(malformed(parse(&obj)).starts_with("data frame: "));
    }
}
