//! The auditor's verifier. The archive is never trusted: only the public key, given from
//! outside, is. Every object is checked on its own (structure, hashes, signature), then
//! each stream's chain is checked as a whole (sequence, links, time tiling, heartbeats,
//! head and tail against `--since`/`--until`).
//!
//! Problems are attributed so that one root cause gives one problem kind per object:
//! an object whose seal cannot be trusted is reported once, and the chain checks treat
//! its key's slot as "already reported" instead of adding a gap or a broken link; the
//! chain order comes from the seal's seq, not from the key, so two swapped objects are
//! two `out_of_order` problems and the chain itself stays intact.

use crate::segment::{self, KeyParts, Seal, SealKind, SegmentError};
use ed25519_dalek::VerifyingKey;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectMeta, ObjectStore};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Objects fetched and checked at once: bounds memory to this many objects.
const CONCURRENCY: usize = 8;
/// Objects larger than this are reported, not read (the sealer writes far smaller ones).
pub const MAX_OBJECT_BYTES: u64 = 1 << 30;
/// Heartbeat slack: a normal segment may exceed its promise by 10 % plus this.
const HEARTBEAT_SLACK_NS: i128 = 5_000_000_000;

/// What to verify, and against which key.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub key: VerifyingKey,
    /// Only this stream (also: it must have segments).
    pub stream: Option<String>,
    /// Coverage must start at or before this time (unix ns); earlier segments are skipped.
    pub since_ns: Option<i64>,
    /// Coverage must reach this time (unix ns); later segments are skipped.
    pub until_ns: Option<i64>,
}

/// Failures that stop verification: the store could not be read. Problems with the
/// content are never errors; they go into the `Report`.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("invalid stream id {0:?}")]
    InvalidStream(String),
    #[error("verification task failed: {0}")]
    Task(String),
}

/// Each kind of failure the verifier can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProblemKind {
    /// The object ends before its structure does.
    Truncated,
    /// Not a segment: bad magic, impossible lengths, trailing bytes.
    Malformed,
    /// Seal of a format version this build does not know.
    UnsupportedVersion,
    /// Seal kind this build does not know.
    UnsupportedKind,
    /// Object larger than `MAX_OBJECT_BYTES`; not read.
    TooLarge,
    /// The data frame's length or SHA-256 differs from the seal's.
    ContentHashMismatch,
    /// The data frame matches its hash but does not decode (or lacks a final newline).
    CorruptData,
    /// The lines do not hash to the seal's Merkle root.
    MerkleMismatch,
    /// Line count or content length differ from the seal's.
    CountMismatch,
    /// The seal names our key but its signature does not verify.
    BadSignature,
    /// The seal is signed by (or names) another key.
    WrongKey,
    /// Key names the right stream and seq but not the expected path.
    Misplaced,
    /// The object's key names another seq than its seal.
    OutOfOrder,
    /// The object's key names another stream than its seal.
    ForeignStream,
    /// Two different objects carry the same seq.
    DuplicateSeq,
    /// Sequence numbers missing between two present segments.
    SequenceGap,
    /// `prev_hash` does not name the previous segment's seal.
    ChainBreak,
    /// The period does not start where the previous one ended.
    PeriodMismatch,
    /// The period ends before it starts.
    InvalidPeriod,
    /// A normal segment's period exceeds its heartbeat promise.
    HeartbeatGap,
    /// The chain does not start at seq 0 (or does not cover `--since`).
    HeadMissing,
    /// The chain's coverage ends before `--until`.
    TailTruncated,
    /// No segments at all where some were expected.
    NoSegments,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Truncated => "truncated",
            ProblemKind::Malformed => "malformed",
            ProblemKind::UnsupportedVersion => "unsupported_version",
            ProblemKind::UnsupportedKind => "unsupported_kind",
            ProblemKind::TooLarge => "too_large",
            ProblemKind::ContentHashMismatch => "content_hash_mismatch",
            ProblemKind::CorruptData => "corrupt_data",
            ProblemKind::MerkleMismatch => "merkle_mismatch",
            ProblemKind::CountMismatch => "count_mismatch",
            ProblemKind::BadSignature => "bad_signature",
            ProblemKind::WrongKey => "wrong_key",
            ProblemKind::Misplaced => "misplaced",
            ProblemKind::OutOfOrder => "out_of_order",
            ProblemKind::ForeignStream => "foreign_stream",
            ProblemKind::DuplicateSeq => "duplicate_seq",
            ProblemKind::SequenceGap => "sequence_gap",
            ProblemKind::ChainBreak => "chain_break",
            ProblemKind::PeriodMismatch => "period_mismatch",
            ProblemKind::InvalidPeriod => "invalid_period",
            ProblemKind::HeartbeatGap => "heartbeat_gap",
            ProblemKind::HeadMissing => "head_missing",
            ProblemKind::TailTruncated => "tail_truncated",
            ProblemKind::NoSegments => "no_segments",
        }
    }
}

impl std::fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding: which object (or `<prefix>/<stream>/` for a stream), what, and details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub object: String,
    pub kind: ProblemKind,
    pub detail: String,
}

/// What was verified for one stream (over the segments inside the window).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    pub stream: String,
    pub segments: u64,
    pub events: u64,
    /// Segments with no events (heartbeats).
    pub empty_segments: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub period_start_ns: i64,
    pub period_end_ns: i64,
    /// Periods of resume segments: the daemon was down (or not sealing) then.
    pub downtime: Vec<(i64, i64)>,
}

/// The verdict: valid iff no problems.
#[derive(Debug, Clone)]
pub struct Report {
    pub problems: Vec<Problem>,
    pub streams: Vec<StreamSummary>,
    /// Objects listed under the prefix (and stream).
    pub objects: usize,
    /// Objects outside the `--since`/`--until` window (by key date or by seal period).
    pub skipped: usize,
    /// Bytes read from the store.
    pub bytes: u64,
    pub key_id: [u8; 8],
    pub since_ns: Option<i64>,
    pub until_ns: Option<i64>,
}

fn fmt_ns(ns: i64) -> String {
    crate::segment::rfc3339(ns)
}

fn fmt_dur(ns: i128) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let abs = ns.unsigned_abs().min(u64::MAX as u128) as u64;
    format!(
        "{sign}{}",
        humantime::format_duration(std::time::Duration::from_nanos(abs))
    )
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }

    /// Problems of one kind (convenient for callers and tests).
    pub fn count(&self, kind: ProblemKind) -> usize {
        self.problems.iter().filter(|p| p.kind == kind).count()
    }

    /// One line per problem (`<object>: <kind>: <detail>`), then a summary.
    pub fn render_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        for p in &self.problems {
            let _ = writeln!(s, "{}: {}: {}", p.object, p.kind, p.detail);
        }
        for st in &self.streams {
            let _ = write!(
                s,
                "stream {}: {} segments (seq {}..={}), {} events, {} empty, covering {} .. {}",
                st.stream,
                st.segments,
                st.first_seq,
                st.last_seq,
                st.events,
                st.empty_segments,
                fmt_ns(st.period_start_ns),
                fmt_ns(st.period_end_ns)
            );
            if st.downtime.is_empty() {
                s.push('\n');
            } else {
                let _ = writeln!(s, ", {} downtime period(s):", st.downtime.len());
                for (a, b) in &st.downtime {
                    let _ = writeln!(
                        s,
                        "  down {} .. {} ({})",
                        fmt_ns(*a),
                        fmt_ns(*b),
                        fmt_dur(i128::from(*b) - i128::from(*a))
                    );
                }
            }
        }
        let window = match (self.since_ns, self.until_ns) {
            (None, None) => String::new(),
            (a, b) => format!(
                ", window {} .. {}",
                a.map_or("-".into(), fmt_ns),
                b.map_or("-".into(), fmt_ns)
            ),
        };
        let _ = writeln!(
            s,
            "checked {} objects ({} outside the window, {} bytes read), key id {}{window}",
            self.objects,
            self.skipped,
            self.bytes,
            hex::encode(self.key_id)
        );
        if self.is_valid() {
            s.push_str("verdict: VALID\n");
        } else {
            let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
            for p in &self.problems {
                *by_kind.entry(p.kind.as_str()).or_default() += 1;
            }
            let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let _ = writeln!(
                s,
                "verdict: INVALID: {} problem(s) ({})",
                self.problems.len(),
                kinds.join(", ")
            );
        }
        s
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        json!({
            "valid": self.is_valid(),
            "objects": self.objects,
            "skipped": self.skipped,
            "bytes": self.bytes,
            "key_id": hex::encode(self.key_id),
            "since_ns": self.since_ns,
            "until_ns": self.until_ns,
            "problems": self.problems.iter().map(|p| json!({
                "object": p.object,
                "kind": p.kind.as_str(),
                "detail": p.detail,
            })).collect::<Vec<_>>(),
            "streams": self.streams.iter().map(|s| json!({
                "stream": s.stream,
                "segments": s.segments,
                "events": s.events,
                "empty_segments": s.empty_segments,
                "first_seq": s.first_seq,
                "last_seq": s.last_seq,
                "period_start_ns": s.period_start_ns,
                "period_end_ns": s.period_end_ns,
                "period_start": fmt_ns(s.period_start_ns),
                "period_end": fmt_ns(s.period_end_ns),
                "downtime": s.downtime.iter().map(|(a, b)| json!({
                    "start_ns": a, "end_ns": b, "start": fmt_ns(*a), "end": fmt_ns(*b),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// Result of checking one object on its own.
#[derive(Debug)]
struct Outcome {
    location: String,
    key: Option<KeyParts>,
    /// The seal, if its signature verified under the trusted key.
    seal: Option<Seal>,
    hash: [u8; 32],
    /// Key names another stream: excluded from every chain.
    foreign: bool,
    /// Key names exactly this seal's stream, seq and path.
    key_ok: bool,
    /// Problems reported whatever the window (the seal is not trusted, so the period is
    /// unknown) ...
    always: Vec<(ProblemKind, String)>,
    /// ... and problems reported only when the trusted seal's period is in the window.
    in_window: Vec<(ProblemKind, String)>,
}

impl Outcome {
    fn new(location: String) -> Self {
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
fn check_object(
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

/// End of the UTC day named by a key, in unix ns (None if the date is impossible).
fn key_day_end_ns(k: &KeyParts) -> Option<i64> {
    let day = chrono::NaiveDate::from_ymd_opt(k.year, k.month, k.day)?;
    let next = day.succ_opt()?.and_hms_opt(0, 0, 0)?;
    next.and_utc().timestamp_nanos_opt()
}

/// Verifies every segment under `prefix` (and `opts.stream`) against `opts.key`.
/// Objects are read with bounded concurrency and checked on blocking threads; the
/// content is streamed through the decoder, so memory per object is its size plus a
/// constant.
pub async fn verify_store(
    store: &dyn ObjectStore,
    prefix: &StorePath,
    opts: &VerifyOptions,
) -> Result<Report, VerifyError> {
    let list_prefix = match &opts.stream {
        Some(s) if !segment::valid_stream_id(s) => {
            return Err(VerifyError::InvalidStream(s.clone()))
        }
        Some(s) => prefix.child(s.as_str()),
        None => prefix.clone(),
    };
    let list_arg = if list_prefix.as_ref().is_empty() {
        None
    } else {
        Some(&list_prefix)
    };
    let mut metas: Vec<ObjectMeta> = store.list(list_arg).try_collect().await?;
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let objects = metas.len();

    // Objects whose key date lies wholly before --since are not read at all. A key that
    // lies about its date only hides its object, which then shows as a gap.
    let mut skipped = 0usize;
    let metas: Vec<ObjectMeta> = metas
        .into_iter()
        .filter(|m| {
            let before = match (
                opts.since_ns,
                segment::parse_object_key_parts(m.location.as_ref()),
            ) {
                (Some(since), Some(k)) => key_day_end_ns(&k).is_some_and(|end| end <= since),
                _ => false,
            };
            skipped += usize::from(before);
            !before
        })
        .collect();

    let prefix_str = prefix.as_ref().to_owned();
    let our_id = crate::keys::key_id(&opts.key);
    let key = opts.key;
    let mut bytes_read = 0u64;
    let outcomes: Vec<(Outcome, u64)> = futures::stream::iter(metas)
        .map(|meta| {
            let prefix_str = prefix_str.clone();
            async move {
                let location = meta.location.to_string();
                if meta.size > MAX_OBJECT_BYTES {
                    let mut o = Outcome::new(location);
                    o.always.push((
                        ProblemKind::TooLarge,
                        format!("{} bytes, limit {MAX_OBJECT_BYTES}", meta.size),
                    ));
                    return Ok::<_, VerifyError>((o, 0));
                }
                let data = store.get(&meta.location).await?.bytes().await?;
                let n = data.len() as u64;
                let o = tokio::task::spawn_blocking(move || {
                    check_object(location, &data, &prefix_str, &key, our_id)
                })
                .await
                .map_err(|e| VerifyError::Task(e.to_string()))?;
                Ok((o, n))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let outcomes: Vec<Outcome> = outcomes
        .into_iter()
        .map(|(o, n)| {
            bytes_read += n;
            o
        })
        .collect();
    let mut report = analyse(outcomes, &prefix_str, opts, our_id, skipped);
    report.objects = objects;
    report.skipped += skipped;
    report.bytes = bytes_read;
    Ok(report)
}

/// A trusted segment taking part in a chain.
#[derive(Debug, Clone)]
struct Entry {
    location: String,
    seal: Seal,
    hash: [u8; 32],
    key_ok: bool,
}

struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, object: &str, kind: ProblemKind, detail: String) {
        self.0.push(Problem {
            object: object.to_owned(),
            kind,
            detail,
        });
    }
}

/// Slots `(stream, seq)` named by keys of objects already reported as untrusted or
/// foreign: chain checks do not report them again as missing.
struct Broken(BTreeSet<(String, u64)>);

impl Broken {
    /// Whether every seq in `lo..=hi` of `stream` is an already reported slot.
    fn covers(&self, stream: &str, lo: u64, hi: u64) -> bool {
        if lo > hi {
            return true;
        }
        let n = self
            .0
            .range((stream.to_owned(), lo)..=(stream.to_owned(), hi))
            .count() as u128;
        n == u128::from(hi) - u128::from(lo) + 1
    }
}

/// Chain analysis over the per-object outcomes.
fn analyse(
    mut outcomes: Vec<Outcome>,
    prefix: &str,
    opts: &VerifyOptions,
    our_id: [u8; 8],
    pre_skipped: usize,
) -> Report {
    outcomes.sort_by(|a, b| a.location.cmp(&b.location));
    let mut problems = Problems(Vec::new());
    let mut broken = Broken(BTreeSet::new());
    let mut skipped = 0usize;
    // stream -> entries inside the window / all trusted entries (for predecessor links)
    let mut kept: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    let mut all: BTreeMap<String, BTreeMap<u64, Entry>> = BTreeMap::new();

    for o in outcomes {
        let Some(seal) = o.seal else {
            if let Some(k) = &o.key {
                broken.0.insert((k.stream.clone(), k.seq));
            }
            for (kind, detail) in o.always {
                problems.push(&o.location, kind, detail);
            }
            continue;
        };
        if o.foreign {
            if let Some(k) = &o.key {
                broken.0.insert((k.stream.clone(), k.seq));
            }
        }
        let in_window = opts.since_ns.is_none_or(|s| seal.period_end_ns > s)
            && opts.until_ns.is_none_or(|u| seal.period_start_ns < u);
        // Under the requested stream's prefix with an unparsable key, the seal may name
        // another stream: its key problem is reported, and it joins no chain here.
        let foreign = o.foreign || opts.stream.as_ref().is_some_and(|s| *s != seal.stream);
        let entry = Entry {
            location: o.location.clone(),
            seal,
            hash: o.hash,
            key_ok: o.key_ok,
        };
        if !foreign {
            all.entry(entry.seal.stream.clone())
                .or_default()
                .entry(entry.seal.seq)
                .or_insert_with(|| entry.clone());
        }
        if !in_window {
            skipped += 1;
            for (kind, detail) in o.always {
                problems.push(&o.location, kind, detail);
            }
            continue;
        }
        for (kind, detail) in o.always.into_iter().chain(o.in_window) {
            problems.push(&o.location, kind, detail);
        }
        if !foreign {
            kept.entry(entry.seal.stream.clone())
                .or_default()
                .push(entry);
        }
    }

    let mut streams: BTreeSet<String> = all.keys().cloned().collect();
    if let Some(s) = &opts.stream {
        streams.insert(s.clone());
    }
    let mut summaries = Vec::new();
    for stream in streams {
        let stream_obj = if prefix.is_empty() {
            format!("{stream}/")
        } else {
            format!("{prefix}/{stream}/")
        };
        let entries = kept.remove(&stream).unwrap_or_default();
        let empty_map = BTreeMap::new();
        let all_of = all.get(&stream).unwrap_or(&empty_map);
        if entries.is_empty() {
            if all_of.is_empty() {
                let any_broken = broken
                    .0
                    .range((stream.clone(), 0)..=(stream.clone(), u64::MAX))
                    .next()
                    .is_some();
                if !any_broken {
                    problems.push(
                        &stream_obj,
                        ProblemKind::NoSegments,
                        "no segments found for this stream".into(),
                    );
                }
            } else if let Some(since) = opts.since_ns {
                let first = all_of.values().next();
                let last = all_of.values().next_back();
                if let (Some(first), Some(last)) = (first, last) {
                    problems.push(
                        &stream_obj,
                        ProblemKind::HeadMissing,
                        format!(
                            "no segment covers --since {}; segments found cover {} .. {}",
                            fmt_ns(since),
                            fmt_ns(first.seal.period_start_ns),
                            fmt_ns(last.seal.period_end_ns)
                        ),
                    );
                }
            }
            continue;
        }
        if let Some(summary) = check_chain(&stream, entries, all_of, &broken, opts, &mut problems) {
            summaries.push(summary);
        }
    }
    if summaries.is_empty() && problems.0.is_empty() {
        let object = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        problems.push(
            &object,
            ProblemKind::NoSegments,
            format!(
                "no segments to verify ({} outside the window)",
                skipped + pre_skipped
            ),
        );
    }
    let mut problems = problems.0;
    problems.sort_by(|a, b| (&a.object, a.kind).cmp(&(&b.object, b.kind)));
    Report {
        problems,
        streams: summaries,
        objects: 0,
        skipped,
        bytes: 0,
        key_id: our_id,
        since_ns: opts.since_ns,
        until_ns: opts.until_ns,
    }
}

/// Checks that `b` follows `a` (seq `a.seq + 1`): link first, then tiling.
fn check_link(a: &Entry, b: &Entry) -> Option<(ProblemKind, String)> {
    if b.seal.prev_hash != a.hash {
        return Some((
            ProblemKind::ChainBreak,
            format!(
                "prev_hash {} does not name seq {} ({}, seal hash {})",
                hex::encode(b.seal.prev_hash),
                a.seal.seq,
                a.location,
                hex::encode(a.hash)
            ),
        ));
    }
    if b.seal.period_start_ns != a.seal.period_end_ns {
        let d = i128::from(b.seal.period_start_ns) - i128::from(a.seal.period_end_ns);
        let what = if d > 0 { "gap" } else { "overlap" };
        return Some((
            ProblemKind::PeriodMismatch,
            format!(
                "period starts at {}, seq {} ended at {} ({what} of {})",
                fmt_ns(b.seal.period_start_ns),
                a.seal.seq,
                fmt_ns(a.seal.period_end_ns),
                fmt_dur(d.abs())
            ),
        ));
    }
    None
}

fn check_chain(
    stream: &str,
    mut entries: Vec<Entry>,
    all: &BTreeMap<u64, Entry>,
    broken: &Broken,
    opts: &VerifyOptions,
    problems: &mut Problems,
) -> Option<StreamSummary> {
    // Order by seal seq; among equal seqs the correctly named object comes first.
    entries.sort_by(|a, b| {
        (a.seal.seq, !a.key_ok, &a.location).cmp(&(b.seal.seq, !b.key_ok, &b.location))
    });
    // Group duplicates.
    let mut groups: Vec<Vec<Entry>> = Vec::new();
    for e in entries {
        match groups.last_mut() {
            Some(g) if g[0].seal.seq == e.seal.seq => g.push(e),
            _ => groups.push(vec![e]),
        }
    }
    for g in &groups {
        for dup in &g[1..] {
            // A copy at a wrong key is already reported as out_of_order/misplaced.
            if dup.key_ok {
                let same = dup.hash == g[0].hash;
                problems.push(
                    &dup.location,
                    ProblemKind::DuplicateSeq,
                    format!(
                        "seq {} also at {} ({})",
                        dup.seal.seq,
                        g[0].location,
                        if same {
                            "identical seal"
                        } else {
                            "different seal: the chain forks"
                        }
                    ),
                );
            }
        }
    }

    // Head.
    let first = &groups.first()?[0];
    let first_seq = first.seal.seq;
    match opts.since_ns {
        Some(since) => {
            // Seq 0 is the stream's genesis: nothing can be missing before it.
            if first.seal.period_start_ns > since
                && first_seq > 0
                && !broken.covers(stream, first_seq - 1, first_seq - 1)
            {
                problems.push(
                    &first.location,
                    ProblemKind::HeadMissing,
                    format!(
                        "coverage starts at {} (seq {first_seq}), after --since {}",
                        fmt_ns(first.seal.period_start_ns),
                        fmt_ns(since)
                    ),
                );
            }
        }
        None => {
            if first_seq > 0 && !broken.covers(stream, 0, first_seq - 1) {
                problems.push(
                    &first.location,
                    ProblemKind::HeadMissing,
                    format!(
                        "chain starts at seq {first_seq}; seqs 0..={} are missing",
                        first_seq - 1
                    ),
                );
            }
        }
    }
    if first_seq == 0 {
        if first.seal.prev_hash != [0; 32] {
            problems.push(
                &first.location,
                ProblemKind::ChainBreak,
                format!(
                    "seq 0 must have an all-zero prev_hash, has {}",
                    hex::encode(first.seal.prev_hash)
                ),
            );
        }
    } else if let Some(pred) = all.get(&(first_seq - 1)) {
        // The predecessor is outside the window but was read: check the link anyway.
        if let Some((kind, detail)) = check_link(pred, first) {
            problems.push(&first.location, kind, detail);
        }
    }

    // Consecutive groups.
    for pair in groups.windows(2) {
        let (prev, next) = (&pair[0], &pair[1]);
        let (a, b) = (prev[0].seal.seq, next[0].seal.seq);
        if b == a + 1 {
            // Link to any of the candidates at seq a (a duplicate is reported once).
            let e = &next[0];
            let linked = prev
                .iter()
                .find(|p| p.hash == e.seal.prev_hash)
                .unwrap_or(&prev[0]);
            if let Some((kind, detail)) = check_link(linked, e) {
                problems.push(&e.location, kind, detail);
            }
        } else if !broken.covers(stream, a + 1, b - 1) {
            problems.push(
                &next[0].location,
                ProblemKind::SequenceGap,
                format!(
                    "seqs {}..={} missing ({} segment(s)); previous present is {}",
                    a + 1,
                    b - 1,
                    b - a - 1,
                    prev[0].location
                ),
            );
        }
    }

    // Per segment: heartbeat promise, downtime; totals.
    let mut summary = StreamSummary {
        stream: stream.to_owned(),
        segments: 0,
        events: 0,
        empty_segments: 0,
        first_seq,
        last_seq: first_seq,
        period_start_ns: first.seal.period_start_ns,
        period_end_ns: first.seal.period_end_ns,
        downtime: Vec::new(),
    };
    for g in &groups {
        let e = &g[0];
        let s = &e.seal;
        summary.segments += 1;
        summary.events = summary.events.saturating_add(s.event_count);
        summary.empty_segments += u64::from(s.event_count == 0);
        summary.last_seq = s.seq;
        summary.period_end_ns = s.period_end_ns;
        let span = i128::from(s.period_end_ns) - i128::from(s.period_start_ns);
        match s.kind {
            SealKind::Resume => summary.downtime.push((s.period_start_ns, s.period_end_ns)),
            SealKind::Normal => {
                let promise = i128::from(s.heartbeat_ms) * 1_000_000;
                let allowed = promise + promise / 10 + HEARTBEAT_SLACK_NS;
                if span > allowed {
                    problems.push(
                        &e.location,
                        ProblemKind::HeartbeatGap,
                        format!(
                            "normal segment spans {} ({} .. {}), heartbeat promise is {} ms",
                            fmt_dur(span),
                            fmt_ns(s.period_start_ns),
                            fmt_ns(s.period_end_ns),
                            s.heartbeat_ms
                        ),
                    );
                }
            }
        }
    }

    // Tail.
    if let Some(until) = opts.until_ns {
        let last = &groups.last()?[0];
        if last.seal.period_end_ns < until
            && !broken.covers(
                stream,
                last.seal.seq.saturating_add(1),
                last.seal.seq.saturating_add(1),
            )
        {
            problems.push(
                &last.location,
                ProblemKind::TailTruncated,
                format!(
                    "coverage ends at {} (seq {}), before --until {} ({} missing)",
                    fmt_ns(last.seal.period_end_ns),
                    last.seal.seq,
                    fmt_ns(until),
                    fmt_dur(i128::from(until) - i128::from(last.seal.period_end_ns))
                ),
            );
        }
    }
    Some(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_unique_snake_case() {
        use ProblemKind::*;
        let all = [
            Truncated,
            Malformed,
            UnsupportedVersion,
            UnsupportedKind,
            TooLarge,
            ContentHashMismatch,
            CorruptData,
            MerkleMismatch,
            CountMismatch,
            BadSignature,
            WrongKey,
            Misplaced,
            OutOfOrder,
            ForeignStream,
            DuplicateSeq,
            SequenceGap,
            ChainBreak,
            PeriodMismatch,
            InvalidPeriod,
            HeartbeatGap,
            HeadMissing,
            TailTruncated,
            NoSegments,
        ];
        let names: BTreeSet<&str> = all.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), all.len());
        for n in names {
            assert!(
                n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{n}"
            );
        }
    }

    #[test]
    fn broken_slots_cover_ranges() {
        let mut b = Broken(BTreeSet::new());
        b.0.insert(("a".into(), 3));
        b.0.insert(("a".into(), 4));
        b.0.insert(("b".into(), 5));
        assert!(b.covers("a", 3, 4));
        assert!(b.covers("a", 4, 4));
        assert!(!b.covers("a", 3, 5));
        assert!(!b.covers("b", 4, 5));
        assert!(b.covers("a", 5, 4), "an empty range is covered");
        assert!(!b.covers("a", 0, u64::MAX));
    }

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

    #[test]
    fn durations_and_times_render() {
        assert_eq!(fmt_ns(0), "1970-01-01T00:00:00Z");
        assert_eq!(fmt_dur(90_000_000_000), "1m 30s");
        assert_eq!(fmt_dur(-5_000_000_000), "-5s");
    }
}
