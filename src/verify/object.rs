//! Checks of one object on its own, in FORMAT.md §8 order: structure, signature, key
//! id, object key, period, then content. The first failure of the structure or the
//! signature stops them (nothing an untrusted seal says is used); the content checks
//! stop at their first failure too, since later ones would be its echo.

use crate::segment::stream::{
    for_each_chunk, DataFrame, DecodeEnd, Decoded, FrameDigester, LineHasher, Scanned,
};
use crate::segment::{self, KeyParts, Seal, SegmentError};

use super::report::fmt_ns;
use super::{Keyring, ProblemKind};

/// What every object is checked against.
#[derive(Debug, Clone)]
pub(super) struct Ctx {
    /// The archive prefix, for the expected object keys.
    pub prefix: String,
    pub keyring: Keyring,
    /// Content the first read may decode before the seal is known (`DECODE_AHEAD`).
    pub decode_ahead: u64,
    /// The most content one object may have (`MAX_CONTENT_BYTES`; smaller in tests).
    pub max_content: u64,
}

/// Result of checking one object on its own.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Outcome {
    pub location: String,
    pub key: Option<KeyParts>,
    /// The seal, if its signature verified under a keyring key ...
    pub seal: Option<Seal>,
    /// ... and that key's place in the ring.
    pub signer: usize,
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
            signer: 0,
            hash: [0; 32],
            foreign: false,
            key_ok: false,
            always: Vec::new(),
            in_window: Vec::new(),
        }
    }

    /// An object that is one problem before any check (unreadable, too large). Its key's
    /// slot counts as reported for the chain checks, like any untrusted object's.
    pub fn reported(location: String, kind: ProblemKind, detail: String) -> Self {
        let mut o = Outcome::new(location);
        o.always.push((kind, detail));
        o
    }
}

pub(super) fn problem_kind_of(e: &SegmentError) -> ProblemKind {
    match e {
        SegmentError::Truncated(_) => ProblemKind::Truncated,
        SegmentError::UnsupportedVersion(_) => ProblemKind::UnsupportedVersion,
        SegmentError::UnknownKind(_) => ProblemKind::UnsupportedKind,
        SegmentError::BadSignature => ProblemKind::BadSignature,
        SegmentError::Corrupt(_) | SegmentError::Zstd(_) => ProblemKind::CorruptData,
        SegmentError::TooLarge { .. } => ProblemKind::TooLarge,
        SegmentError::Io(_) => ProblemKind::Unreadable,
        SegmentError::Malformed(_)
        | SegmentError::InvalidStream(_)
        | SegmentError::InvalidHeader(_) => ProblemKind::Malformed,
    }
}

/// The error text without the part the problem kind already says.
pub(super) fn detail_of(e: &SegmentError) -> String {
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

/// Steps 2 to 5: signature, key id, object key, period. False if the seal is not
/// trusted (then nothing it says may be used).
pub(super) fn check_seal(out: &mut Outcome, seal: &Seal, ctx: &Ctx) -> bool {
    let ring = &ctx.keyring;
    let signer = match ring.signer(seal) {
        Ok(i) => i,
        Err(None) => {
            out.always.push((
                ProblemKind::WrongKey,
                format!(
                    "seal names key id {}, not in the keyring ({}); its signature verifies under none of them",
                    hex::encode(seal.key_id),
                    ring.list()
                ),
            ));
            return false;
        }
        Err(Some(_)) => {
            out.always.push((
                ProblemKind::BadSignature,
                format!(
                    "signature over seal of {} seq {} does not verify",
                    seal.stream, seal.seq
                ),
            ));
            return false;
        }
    };
    out.signer = signer;
    if seal.key_id != ring.ids()[signer] {
        // Authentic (a ring key signed it) but it names another key: a sealer fault.
        out.in_window.push((
            ProblemKind::WrongKey,
            format!(
                "signature verifies under keyring key {} but the seal names key id {}",
                ring.name(signer),
                hex::encode(seal.key_id)
            ),
        ));
    }
    let expected = expected_location(&ctx.prefix, seal);
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
    let times = (seal.first_event_ns, seal.last_event_ns);
    if seal.event_count == 0 && times != (0, 0) {
        out.in_window.push((
            ProblemKind::InvalidEventTimes,
            format!(
                "a heartbeat (no events) with event times {} .. {}: both must be 0",
                seal.first_event_ns, seal.last_event_ns
            ),
        ));
    } else if seal.event_count > 0 && times.0 > times.1 {
        out.in_window.push((
            ProblemKind::InvalidEventTimes,
            format!(
                "the first event time {} is after the last {}",
                fmt_ns(times.0),
                fmt_ns(times.1)
            ),
        ));
    }
    true
}

/// An object after it was read once.
#[derive(Debug)]
pub(super) struct Checked {
    pub outcome: Outcome,
    /// The seal is authentic and the data frame is the one it names, but its content is
    /// longer than the decoder was allowed to run ahead of the seal: decode the data
    /// frame again, limited by the seal's `content_len`, then
    /// [`Outcome::finish_content`].
    pub decode_again: bool,
}

impl Outcome {
    /// The trusted seal, waiting for its content to be decoded in full.
    pub fn pending_seal(&self) -> Option<&Seal> {
        self.seal.as_ref()
    }

    /// Completes the content checks with the second read of the data frame.
    pub fn finish_content(&mut self, sha256: [u8; 32], decoded: Decoded<LineHasher>) {
        let Some(seal) = &self.seal else {
            return;
        };
        let problem = if sha256 != seal.data_sha256 {
            Some((
                ProblemKind::ContentHashMismatch,
                format!(
                    "the data frame changed while it was read: SHA-256 {}, seal says {}",
                    hex::encode(sha256),
                    hex::encode(seal.data_sha256)
                ),
            ))
        } else {
            check_decoded(decoded, seal)
        };
        self.in_window.extend(problem);
    }

    /// The second read failed: the content stays unchecked, which is a problem.
    pub fn content_unreadable(&mut self, detail: String) {
        self.in_window.push((ProblemKind::Unreadable, detail));
    }
}

/// Checks one scanned object: structure, signature, key consistency, then content.
pub(super) fn check_scanned(location: String, scanned: Scanned, ctx: &Ctx) -> Checked {
    let mut out = Outcome::new(location);
    let done = |outcome| Checked {
        outcome,
        decode_again: false,
    };
    let seal = match scanned.located {
        Ok(found) => found.seal,
        Err(e) => {
            out.always.push((problem_kind_of(&e), detail_of(&e)));
            return done(out);
        }
    };
    if !check_seal(&mut out, &seal, ctx) {
        return done(out);
    }
    out.hash = seal.hash();
    let verdict = match scanned.data {
        Some(data) => check_data(data, &seal, ctx.max_content),
        None => Verdict::Checked(Some((
            ProblemKind::CorruptData,
            "the object was scanned without its content".into(),
        ))),
    };
    out.seal = Some(seal);
    match verdict {
        Verdict::Checked(problem) => {
            out.in_window.extend(problem);
            done(out)
        }
        Verdict::DecodeAgain => Checked {
            outcome: out,
            decode_again: true,
        },
    }
}

fn exceeds(seal: &Seal) -> (ProblemKind, String) {
    (
        ProblemKind::CountMismatch,
        format!(
            "content exceeds the sealed length of {} bytes",
            seal.content_len
        ),
    )
}

/// The content checks' result on a scanned data frame.
enum Verdict {
    /// The first problem, if any.
    Checked(Option<(ProblemKind, String)>),
    /// The scan stopped decoding before the content ended, still within the sealed
    /// length: the rest can only be judged by decoding it again.
    DecodeAgain,
}

/// Step 6 over the data frame as scanned: 6a and 6b (its length and hash), 6c (the
/// seal's `content_len` against the cap), 6d (one frame), 6e (the size its header
/// declares against the cap), then decoding, the rest ([`check_decoded`]).
fn check_data(d: DataFrame, seal: &Seal, max_content: u64) -> Verdict {
    if let Some(p) = check_frame_hash(d.len, d.sha256, seal) {
        return Verdict::Checked(Some(p));
    }
    if let Some(p) = claims_too_much(seal, max_content) {
        return Verdict::Checked(Some(p));
    }
    if let Err(e) = &d.single_frame {
        return Verdict::Checked(Some((ProblemKind::CorruptData, detail_of(e))));
    }
    if let Some(p) = declares_too_much(d.declared_content, max_content) {
        return Verdict::Checked(Some(p));
    }
    if matches!(d.content.end, DecodeEnd::Stopped) && d.content.produced <= seal.content_len {
        return Verdict::DecodeAgain;
    }
    Verdict::Checked(check_decoded(d.content, seal))
}

/// 6c: an authentic seal whose content is more than the verifier decodes of one object.
fn claims_too_much(seal: &Seal, max_content: u64) -> Option<(ProblemKind, String)> {
    (seal.content_len > max_content).then(|| {
        (
            ProblemKind::ContentTooLarge,
            format!(
                "seal says {} bytes of content, more than the cap of {max_content} bytes per object; not decoded",
                seal.content_len
            ),
        )
    })
}

/// 6e: a data frame whose header declares more content than that.
fn declares_too_much(declared: Option<u64>, max_content: u64) -> Option<(ProblemKind, String)> {
    declared.filter(|&n| n > max_content).map(|n| {
        (
            ProblemKind::ContentTooLarge,
            format!(
                "data frame header declares {n} bytes of content, more than the cap of {max_content} bytes per object; not decoded"
            ),
        )
    })
}

/// The data frame's length and SHA-256 against the seal's.
fn check_frame_hash(len: u64, sha256: [u8; 32], seal: &Seal) -> Option<(ProblemKind, String)> {
    if len != seal.data_len {
        return Some((
            ProblemKind::ContentHashMismatch,
            format!("data frame is {len} bytes, seal says {}", seal.data_len),
        ));
    }
    (sha256 != seal.data_sha256).then(|| {
        (
            ProblemKind::ContentHashMismatch,
            format!(
                "data frame SHA-256 {}, seal says {}",
                hex::encode(sha256),
                hex::encode(seal.data_sha256)
            ),
        )
    })
}

/// Step 6 for one segment file whose seal was found (`inspect`): reads its data frame
/// once and reports every content problem, the hash mismatch and what the decoded
/// lines say alike (so a replaced frame shows both), with the verifier's kinds.
pub fn check_content<R: std::io::Read>(
    r: R,
    found: &segment::Located,
) -> Result<Vec<(ProblemKind, String)>, SegmentError> {
    let seal = &found.seal;
    let max = super::MAX_CONTENT_BYTES;
    let too_much = claims_too_much(seal, max);
    // Hashed in full, decoded only within the cap.
    let limit = if too_much.is_some() {
        0
    } else {
        seal.content_len
    };
    let mut digester = FrameDigester::new(limit)?;
    let len = for_each_chunk(std::io::Read::take(r, found.seal_start), |chunk| {
        digester.feed(chunk);
        true
    })?;
    let too_much = too_much.or_else(|| declares_too_much(digester.declared_content(), max));
    let (sha256, decoded) = digester.finish();
    let mut problems: Vec<_> = check_frame_hash(len, sha256, seal).into_iter().collect();
    match too_much {
        Some(p) => problems.push(p),
        None => problems.extend(check_decoded(decoded, seal)),
    }
    Ok(problems)
}

/// The content checks on a decoded data frame (limited by `content_len` or not).
fn check_decoded(d: Decoded<LineHasher>, seal: &Seal) -> Option<(ProblemKind, String)> {
    if d.produced > seal.content_len {
        return Some(exceeds(seal));
    }
    let d = match d.end {
        DecodeEnd::Complete => d.sink.finish(),
        DecodeEnd::Failed(e) => return Some((ProblemKind::CorruptData, detail_of(&e))),
        // Stopped within the sealed length: only a limit below `content_len` does that.
        DecodeEnd::Stopped => return Some(exceeds(seal)),
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
