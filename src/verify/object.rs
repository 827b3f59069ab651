//! Checks of one object on its own, in FORMAT.md §8 order: structure, signature, key
//! id, object key, period, then content. The first failure of the structure or the
//! signature stops them (nothing an untrusted seal says is used); the content checks
//! stop at their first failure too, since later ones would be its echo.

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use crate::segment::{self, KeyParts, Seal, SegmentError};

use super::report::fmt_ns;
use super::ProblemKind;

/// Result of checking one object on its own.
#[derive(Debug)]
pub(super) struct Outcome {
    pub location: String,
    pub key: Option<KeyParts>,
    /// The seal, if its signature verified under the trusted key.
    pub seal: Option<Seal>,
    pub hash: [u8; 32],
    /// Key names another stream: excluded from every chain.
    pub foreign: bool,
    /// Key names exactly this seal's stream, seq and path.
    pub key_ok: bool,
    /// Problems reported whatever the window (the seal is not trusted, so the period is
    /// unknown) ...
    pub always: Vec<(ProblemKind, String)>,
    /// ... and problems reported only when the trusted seal's period is in the window.
    pub in_window: Vec<(ProblemKind, String)>,
}

impl Outcome {
    pub fn new(location: String) -> Self {
        Outcome {
            key: segment::parse_object_key_parts(&location),
            location,
            seal: None,
            hash: [0; 32],
            foreign: false,
            key_ok: false,
            always: Vec::new(),
            in_window: Vec::new(),
        }
    }
}

fn problem_kind_of(e: &SegmentError) -> ProblemKind {
    match e {
        SegmentError::Truncated(_) => ProblemKind::Truncated,
        SegmentError::UnsupportedVersion(_) => ProblemKind::UnsupportedVersion,
        SegmentError::UnknownKind(_) => ProblemKind::UnsupportedKind,
        SegmentError::BadSignature => ProblemKind::BadSignature,
        SegmentError::Corrupt(_) | SegmentError::Zstd(_) => ProblemKind::CorruptData,
        SegmentError::TooLarge { .. } => ProblemKind::TooLarge,
        // Whole objects in memory are never read from here.
        SegmentError::Io(_) => ProblemKind::CorruptData,
        SegmentError::Malformed(_)
        | SegmentError::InvalidStream(_)
        | SegmentError::InvalidHeader(_) => ProblemKind::Malformed,
    }
}

/// The error text without the part the problem kind already says.
fn detail_of(e: &SegmentError) -> String {
    match e {
        SegmentError::Truncated(d) | SegmentError::Malformed(d) | SegmentError::Corrupt(d) => {
            d.clone()
        }
        other => other.to_string(),
    }
}

fn expected_location(prefix: &str, seal: &Seal) -> String {
    let key = segment::object_key(&seal.stream, seal.seq, seal.period_end_ns);
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}/{key}")
    }
}

/// Checks one object: structure, signature, key consistency, then content.
pub(super) fn check_object(
    location: String,
    bytes: &[u8],
    prefix: &str,
    key: &VerifyingKey,
    our_id: [u8; 8],
) -> Outcome {
    let mut out = Outcome::new(location);
    let view = match segment::parse(bytes) {
        Ok(v) => v,
        Err(e) => {
            out.always.push((problem_kind_of(&e), detail_of(&e)));
            return out;
        }
    };
    let seal = view.seal;
    if seal.verify_signature(key).is_err() {
        if seal.key_id != our_id {
            out.always.push((
                ProblemKind::WrongKey,
                format!(
                    "seal names key id {}, expected {}; its signature does not verify under the trusted key",
                    hex::encode(seal.key_id),
                    hex::encode(our_id)
                ),
            ));
        } else {
            out.always.push((
                ProblemKind::BadSignature,
                format!(
                    "signature over seal of {} seq {} does not verify",
                    seal.stream, seal.seq
                ),
            ));
        }
        return out;
    }
    if seal.key_id != our_id {
        // Authentic (our key signed it) but it names another key: a sealer fault.
        out.in_window.push((
            ProblemKind::WrongKey,
            format!(
                "signature verifies under the trusted key but the seal names key id {}",
                hex::encode(seal.key_id)
            ),
        ));
    }
    let expected = expected_location(prefix, &seal);
    match &out.key {
        None => out.in_window.push((
            ProblemKind::Misplaced,
            format!(
                "key is not a segment key; seal is {} seq {}, expected at {expected}",
                seal.stream, seal.seq
            ),
        )),
        Some(k) if k.stream != seal.stream => {
            // Reported whatever the window: the seal's period belongs to another stream,
            // and this key's slot is treated as reported by the chain checks.
            out.foreign = true;
            out.always.push((
                ProblemKind::ForeignStream,
                format!(
                    "key names stream {} seq {}, seal is from stream {} seq {}",
                    k.stream, k.seq, seal.stream, seal.seq
                ),
            ));
        }
        Some(k) if k.seq != seal.seq => out.in_window.push((
            ProblemKind::OutOfOrder,
            format!(
                "key names seq {}, seal says seq {} (expected at {expected})",
                k.seq, seal.seq
            ),
        )),
        Some(_) if out.location != expected => out
            .in_window
            .push((ProblemKind::Misplaced, format!("expected at {expected}"))),
        Some(_) => out.key_ok = true,
    }
    if seal.period_end_ns < seal.period_start_ns {
        out.in_window.push((
            ProblemKind::InvalidPeriod,
            format!(
                "period ends at {} before it starts at {}",
                fmt_ns(seal.period_end_ns),
                fmt_ns(seal.period_start_ns)
            ),
        ));
    }
    if let Some(p) = check_content(view.data_frame, &seal) {
        out.in_window.push(p);
    }
    out.hash = seal.hash();
    out.seal = Some(seal);
    out
}

/// Content checks, stopping at the first failure (later ones would be its echo).
fn check_content(data: &[u8], seal: &Seal) -> Option<(ProblemKind, String)> {
    if data.len() as u64 != seal.data_len {
        return Some((
            ProblemKind::ContentHashMismatch,
            format!(
                "data frame is {} bytes, seal says {}",
                data.len(),
                seal.data_len
            ),
        ));
    }
    let sha: [u8; 32] = Sha256::digest(data).into();
    if sha != seal.data_sha256 {
        return Some((
            ProblemKind::ContentHashMismatch,
            format!(
                "data frame SHA-256 {}, seal says {}",
                hex::encode(sha),
                hex::encode(seal.data_sha256)
            ),
        ));
    }
    let d = match segment::digest_data_frame(data, seal.content_len) {
        Ok(d) => d,
        Err(SegmentError::TooLarge { limit }) => {
            return Some((
                ProblemKind::CountMismatch,
                format!("content exceeds the sealed length of {limit} bytes"),
            ))
        }
        Err(e) => return Some((ProblemKind::CorruptData, detail_of(&e))),
    };
    if d.bytes != seal.content_len || d.lines != seal.event_count {
        return Some((
            ProblemKind::CountMismatch,
            format!(
                "content has {} lines in {} bytes, seal says {} events in {} bytes",
                d.lines, d.bytes, seal.event_count, seal.content_len
            ),
        ));
    }
    if !d.ends_with_newline {
        return Some((
            ProblemKind::CorruptData,
            "last event line is not terminated by a newline".into(),
        ));
    }
    if d.merkle_root != seal.merkle_root {
        return Some((
            ProblemKind::MerkleMismatch,
            format!(
                "lines hash to Merkle root {}, seal says {}",
                hex::encode(d.merkle_root),
                hex::encode(seal.merkle_root)
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::SealKind;

    #[test]
    fn content_checks_stop_at_first_failure() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
        let mut b = segment::SegmentBuilder::new(1).unwrap();
        b.push_line(b"one", 1);
        let s = b
            .finish(
                segment::SealHeader {
                    kind: SealKind::Normal,
                    stream: "s".into(),
                    seq: 0,
                    prev_hash: [0; 32],
                    period_start_ns: 0,
                    period_end_ns: 1,
                    heartbeat_ms: 1,
                },
                &key,
            )
            .unwrap();
        let view = segment::parse(&s.bytes).unwrap();
        assert_eq!(check_content(view.data_frame, &s.seal), None);
        let mut seal = s.seal.clone();
        seal.event_count = 2;
        assert_eq!(
            check_content(view.data_frame, &seal).map(|p| p.0),
            Some(ProblemKind::CountMismatch)
        );
        let mut seal = s.seal.clone();
        seal.merkle_root[0] ^= 1;
        assert_eq!(
            check_content(view.data_frame, &seal).map(|p| p.0),
            Some(ProblemKind::MerkleMismatch)
        );
        let mut seal = s.seal.clone();
        seal.data_len += 1;
        assert_eq!(
            check_content(view.data_frame, &seal).map(|p| p.0),
            Some(ProblemKind::ContentHashMismatch)
        );
    }
}
