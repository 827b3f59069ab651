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
//!
//! Nothing in the archive decides how much memory the verifier uses: objects are
//! streamed (`fetch`, `segment::stream`), at most `CONCURRENCY` at a time, and an entry
//! that cannot be listed or read is reported as `unreadable` while the others are still
//! checked (`listing`). Only a store that cannot be listed at all is an error.
//!
//! Parts: `listing` (what there is), `fetch` (reading it), `object` (checks of one
//! object), `chain` (checks across a stream), `report` (text and JSON).

pub mod anchor;
mod chain;
mod checker;
pub use checker::{Checker, ObjectCheck};
mod fetch;
mod keyring;
pub use keyring::{Keyring, Rotation};
mod listing;
pub use listing::{is_staged_upload, At, Listed};
mod object;
pub use object::check_content;
#[cfg(test)]
mod object_tests;
mod report;
pub(crate) use report::{fmt_dur, fmt_ns, head as head_note, tail as tail_note};
pub mod retention;
#[cfg(test)]
mod verdict_tests;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::ObjectStore;

use crate::segment::{self, KeyParts};

/// Objects read and checked at once. Memory per object is bounded (a few fixed buffers
/// and a zstd window of at most 2^`segment::MAX_WINDOW_LOG` bytes), so this bounds it.
pub const CONCURRENCY: usize = 8;
/// Objects larger than this are reported as `too_large`, not read. Not a memory bound
/// (objects are streamed): a sanity bound on the time and transfer one planted object
/// may cost. Listed sizes are checked before reading, and reading stops past it.
pub const MAX_OBJECT_BYTES: u64 = 1 << 30;
/// The most content one object may have, decompressed: an authentic seal whose
/// `content_len` says more, or a data frame whose header declares more, is
/// `content_too_large` and is not decoded (beyond what the first read decodes before
/// the seal is known, `DECODE_AHEAD`). Decoding never goes past the seal's
/// `content_len`, so no object costs more than this much decoding. The daemon's segments
/// hold at most `[seal] max_bytes` (8 MiB by default) plus one line.
pub const MAX_CONTENT_BYTES: u64 = 1 << 30;
/// Content the decoder may produce before the object's seal has been read and checked
/// (the seal comes last). A crafted frame can claim and produce any amount, so this
/// bounds the work an untrusted object costs; an authentic segment with more content is
/// decoded again with its `content_len` as the limit (a second read of its data frame).
/// Segments of the default size (`[seal] max_bytes` = 8 MiB) never need it.
pub(crate) const DECODE_AHEAD: u64 = 64 << 20;
const _: () = assert!(DECODE_AHEAD <= MAX_CONTENT_BYTES);

/// What to verify, and against which keys.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The public keys given from outside the archive, oldest first.
    pub keyring: Keyring,
    /// Only these streams (each must have segments); empty: every stream found.
    pub streams: Vec<String>,
    /// Coverage must start at or before this time (unix ns); earlier segments are skipped.
    pub since_ns: Option<i64>,
    /// Coverage must reach this time (unix ns); later segments are skipped.
    pub until_ns: Option<i64>,
    /// Counters a progress display reads while verification runs.
    pub progress: Option<Arc<Progress>>,
}

/// How far verification has got: objects to read, read so far, and their bytes.
#[derive(Debug, Default)]
pub struct Progress {
    pub objects: std::sync::atomic::AtomicU64,
    pub checked: std::sync::atomic::AtomicU64,
    pub bytes: std::sync::atomic::AtomicU64,
}

/// Failures that stop verification: the store cannot be listed at all. Problems with
/// the content, and entries or objects that cannot be read, are never errors; they go
/// into the `Report`.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("cannot list {}: {source}", path.display())]
    List {
        path: PathBuf,
        source: walkdir::Error,
    },
    #[error("invalid stream id {0:?}")]
    InvalidStream(String),
    #[error("verification task failed: {0}")]
    Task(String),
    #[error("{0}")]
    Retention(String),
    #[error("anchor {0}")]
    Anchor(String),
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
    /// An entry that could not be listed or read (symlink loop, dangling symlink,
    /// permission denied, vanished, I/O error) or that is not an object (a fifo).
    Unreadable,
    /// The data frame's length or SHA-256 differs from the seal's.
    ContentHashMismatch,
    /// The data frame matches its hash but does not decode (or lacks a final newline).
    CorruptData,
    /// The lines do not hash to the seal's Merkle root.
    MerkleMismatch,
    /// Line count or content length differ from the seal's.
    CountMismatch,
    /// The seal's `content_len`, or the size the data frame's header declares, exceeds
    /// `MAX_CONTENT_BYTES`: the content is not decoded.
    ContentTooLarge,
    /// The seal names our key but its signature does not verify.
    BadSignature,
    /// The seal is signed by (or names) a key outside the keyring.
    WrongKey,
    /// Signed by a ring key after a rotation seal handed over to a newer one.
    RetiredKey,
    /// Signed by a ring key before any rotation seal handed over to it (re-sealing an
    /// older range with a newer key).
    KeyNotYetValid,
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
    /// The seal's event times contradict each other or its event count.
    InvalidEventTimes,
    /// A normal segment's period exceeds its heartbeat promise.
    HeartbeatGap,
    /// The chain does not start at seq 0 (or does not cover `--since`).
    HeadMissing,
    /// The chain's coverage ends before `--until`.
    TailTruncated,
    /// No segments at all where some were expected.
    NoSegments,
    /// `--check-retention`: the object has no Object Lock retention.
    Unlocked,
    /// `--check-retention`: locked in GOVERNANCE mode where COMPLIANCE is required.
    GovernanceLock,
    /// `--check-retention`: the lock ends before the required date.
    RetentionTooShort,
    /// `--anchor`: the archive holds another seal at the anchor's sequence number.
    AnchorMismatch,
    /// A segment after a stop segment is not a resume: a stop is the end of a run.
    AfterStop,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Truncated => "truncated",
            ProblemKind::Malformed => "malformed",
            ProblemKind::UnsupportedVersion => "unsupported_version",
            ProblemKind::UnsupportedKind => "unsupported_kind",
            ProblemKind::TooLarge => "too_large",
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::ContentHashMismatch => "content_hash_mismatch",
            ProblemKind::CorruptData => "corrupt_data",
            ProblemKind::MerkleMismatch => "merkle_mismatch",
            ProblemKind::CountMismatch => "count_mismatch",
            ProblemKind::ContentTooLarge => "content_too_large",
            ProblemKind::BadSignature => "bad_signature",
            ProblemKind::WrongKey => "wrong_key",
            ProblemKind::RetiredKey => "retired_key",
            ProblemKind::KeyNotYetValid => "key_not_yet_valid",
            ProblemKind::Misplaced => "misplaced",
            ProblemKind::OutOfOrder => "out_of_order",
            ProblemKind::ForeignStream => "foreign_stream",
            ProblemKind::DuplicateSeq => "duplicate_seq",
            ProblemKind::SequenceGap => "sequence_gap",
            ProblemKind::ChainBreak => "chain_break",
            ProblemKind::PeriodMismatch => "period_mismatch",
            ProblemKind::InvalidPeriod => "invalid_period",
            ProblemKind::InvalidEventTimes => "invalid_event_times",
            ProblemKind::HeartbeatGap => "heartbeat_gap",
            ProblemKind::HeadMissing => "head_missing",
            ProblemKind::TailTruncated => "tail_truncated",
            ProblemKind::NoSegments => "no_segments",
            ProblemKind::Unlocked => "unlocked",
            ProblemKind::GovernanceLock => "governance_lock",
            ProblemKind::RetentionTooShort => "retention_too_short",
            ProblemKind::AnchorMismatch => "anchor_mismatch",
            ProblemKind::AfterStop => "after_stop",
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
    pub downtime: Vec<Downtime>,
    /// The last segment is a stop: the daemon stopped on purpose at this time.
    pub stopped_ns: Option<i64>,
    /// Key rotations the chain records (over all its authentic segments, the window's
    /// or not), in seq order.
    pub rotations: Vec<Rotation>,
    /// The chain's segments inside the window, in seq order (the first copy of each
    /// seq): what a coverage timeline draws. Gaps between them are missing segments.
    pub spans: Vec<SegmentSpan>,
}

/// One trusted segment of a stream's chain, as the chain checks saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentSpan {
    pub seq: u64,
    pub kind: segment::SealKind,
    pub period_start_ns: i64,
    pub period_end_ns: i64,
    pub events: u64,
    /// The object's key: problems name it (`Problem::object`).
    pub location: String,
}

/// A time the stream was not sealing: a resume segment's period, from the last seal
/// before the stop (or crash) to the start after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Downtime {
    pub start_ns: i64,
    pub end_ns: i64,
    /// The segment before it is a stop segment: a planned stop, not a crash (or a
    /// `kill -9`, or a power cut). Unknown (false) when that segment is not at hand.
    pub planned: bool,
}

/// The verdict: valid iff no problems.
#[derive(Debug, Clone)]
pub struct Report {
    pub problems: Vec<Problem>,
    pub streams: Vec<StreamSummary>,
    /// Entries listed under the prefix (and stream), unreadable ones included.
    pub objects: usize,
    /// Objects outside the `--since`/`--until` window (by key date or by seal period).
    pub skipped: usize,
    /// Bytes read from the store.
    pub bytes: u64,
    /// The keyring's key ids, oldest first.
    pub key_ids: Vec<[u8; 8]>,
    pub since_ns: Option<i64>,
    pub until_ns: Option<i64>,
    /// What `--check-retention` saw (`None` when not asked).
    pub retention: Option<retention::RetentionSummary>,
    /// What `--anchor` showed (`None` when not given).
    pub anchor: Option<anchor::AnchorSummary>,
    /// Where the archive is, as the auditor named it (set by the caller).
    pub archive: String,
    /// When the verification started (unix ns).
    pub verified_at_ns: i64,
}

/// End of the UTC day named by a key, in unix ns (None if the date is impossible).
fn key_day_end_ns(k: &KeyParts) -> Option<i64> {
    let day = chrono::NaiveDate::from_ymd_opt(k.year, k.month, k.day)?;
    let next = day.succ_opt()?.and_hms_opt(0, 0, 0)?;
    next.and_utc().timestamp_nanos_opt()
}

/// Whether a listed object's key names a UTC day that ends at or before `since`: such
/// objects are not read (a key that lies about its date only hides its object, which
/// then shows as a gap).
pub fn before_window(l: &Listed, since_ns: Option<i64>) -> bool {
    match (
        since_ns,
        matches!(l, Listed::Object { .. })
            .then(|| segment::parse_object_key_parts(l.location()))
            .flatten(),
    ) {
        (Some(since), Some(k)) => key_day_end_ns(&k).is_some_and(|end| end <= since),
        _ => false,
    }
}

/// Lists an archive opened by [`crate::store::open`] (or some streams of it) the way
/// the verifier does: a local directory is walked, so that an entry that cannot be read
/// is an `unreadable` entry and the walk goes on; a store is listed through its API.
pub async fn list_archive(
    archive: &crate::store::Archive,
    streams: &[String],
) -> Result<Vec<Listed>, VerifyError> {
    let mut listed = Vec::new();
    for prefix in list_prefixes(&archive.prefix, streams)? {
        listed.extend(match archive.local_dir.clone() {
            None => listing::list_store(archive.store.as_ref(), &prefix).await?,
            Some(dir) => tokio::task::spawn_blocking(move || listing::walk_dir(&dir, &prefix))
                .await
                .map_err(|e| VerifyError::Task(e.to_string()))??,
        });
    }
    Ok(listed)
}

/// What to list: `prefix`, or `prefix/<stream>` for each of `--stream` (a stream named
/// twice is listed once).
pub(super) fn list_prefixes(
    prefix: &StorePath,
    streams: &[String],
) -> Result<Vec<StorePath>, VerifyError> {
    if streams.is_empty() {
        return Ok(vec![prefix.clone()]);
    }
    let mut out: Vec<StorePath> = Vec::new();
    for s in streams {
        if !segment::valid_stream_id(s) {
            return Err(VerifyError::InvalidStream(s.clone()));
        }
        let p = prefix.child(s.as_str());
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// Verifies every segment under `prefix` (or its `opts.streams`) against `opts.keyring`,
/// listing through the store. Each object is streamed once with bounded memory (see
/// `fetch`), at most `CONCURRENCY` at a time.
pub async fn verify_store(
    store: &dyn ObjectStore,
    prefix: &StorePath,
    opts: &VerifyOptions,
) -> Result<Report, VerifyError> {
    let mut listed = Vec::new();
    for p in list_prefixes(prefix, &opts.streams)? {
        listed.extend(listing::list_store(store, &p).await?);
    }
    verify_listed(store, prefix, listed, opts).await
}

/// Verifies an archive opened by [`crate::store::open`], listed by [`list_archive`].
pub async fn verify_archive(
    archive: &crate::store::Archive,
    opts: &VerifyOptions,
) -> Result<Report, VerifyError> {
    let listed = list_archive(archive, &opts.streams).await?;
    verify_listed(archive.store.as_ref(), &archive.prefix, listed, opts).await
}

async fn verify_listed(
    store: &dyn ObjectStore,
    prefix: &StorePath,
    mut listed: Vec<listing::Listed>,
    opts: &VerifyOptions,
) -> Result<Report, VerifyError> {
    listed.sort_by(|a, b| a.location().cmp(b.location()));
    let objects = listed.len();

    // Objects whose key date lies wholly before --since are not read at all. A key that
    // lies about its date only hides its object, which then shows as a gap.
    let mut skipped = 0usize;
    let listed: Vec<listing::Listed> = listed
        .into_iter()
        .filter(|l| {
            let before = before_window(l, opts.since_ns);
            skipped += usize::from(before);
            !before
        })
        .collect();

    let verified_at_ns = crate::record::now_ns();
    let prefix_str = prefix.as_ref().to_owned();
    let ctx = Arc::new(object::Ctx {
        prefix: prefix_str.clone(),
        keyring: opts.keyring.clone(),
        decode_ahead: DECODE_AHEAD,
        max_content: MAX_CONTENT_BYTES,
    });
    let progress = opts.progress.clone();
    if let Some(p) = &progress {
        p.objects.store(listed.len() as u64, Ordering::Relaxed);
    }
    let checked: Vec<(object::Outcome, u64)> = futures::stream::iter(listed)
        .map(|item| fetch::check_listed(store, item, ctx.clone()))
        .buffer_unordered(CONCURRENCY)
        .inspect_ok(|(_, n)| {
            if let Some(p) = &progress {
                p.checked.fetch_add(1, Ordering::Relaxed);
                p.bytes.fetch_add(*n, Ordering::Relaxed);
            }
        })
        .try_collect()
        .await?;
    let bytes_read = checked.iter().map(|(_, n)| n).sum();
    let outcomes = checked.into_iter().map(|(o, _)| o).collect();
    let mut report = chain::analyse(outcomes, &prefix_str, opts, skipped);
    report.objects = objects;
    report.skipped += skipped;
    report.bytes = bytes_read;
    report.verified_at_ns = verified_at_ns;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind. A kind added to the enum but not here does not compile (the match).
    fn all_kinds() -> Vec<ProblemKind> {
        use ProblemKind::*;
        let all = vec![
            Truncated,
            Malformed,
            UnsupportedVersion,
            UnsupportedKind,
            TooLarge,
            Unreadable,
            ContentHashMismatch,
            CorruptData,
            MerkleMismatch,
            CountMismatch,
            ContentTooLarge,
            BadSignature,
            WrongKey,
            RetiredKey,
            KeyNotYetValid,
            Misplaced,
            OutOfOrder,
            ForeignStream,
            DuplicateSeq,
            SequenceGap,
            ChainBreak,
            PeriodMismatch,
            InvalidPeriod,
            InvalidEventTimes,
            HeartbeatGap,
            HeadMissing,
            TailTruncated,
            NoSegments,
            Unlocked,
            GovernanceLock,
            RetentionTooShort,
            AnchorMismatch,
            AfterStop,
        ];
        for k in &all {
            match k {
                Truncated | Malformed | UnsupportedVersion | UnsupportedKind | TooLarge
                | Unreadable | ContentHashMismatch | CorruptData | MerkleMismatch
                | CountMismatch | ContentTooLarge | BadSignature | WrongKey | RetiredKey
                | KeyNotYetValid | Misplaced | OutOfOrder | ForeignStream | DuplicateSeq
                | SequenceGap | ChainBreak | PeriodMismatch | InvalidPeriod | InvalidEventTimes
                | HeartbeatGap | HeadMissing | TailTruncated | NoSegments | Unlocked
                | GovernanceLock | RetentionTooShort | AnchorMismatch | AfterStop => {}
            }
        }
        all
    }

    #[test]
    fn kind_names_are_unique_snake_case() {
        let all = all_kinds();
        let names: std::collections::BTreeSet<&str> = all.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), all.len());
        for n in names {
            assert!(
                n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{n}"
            );
        }
    }

    /// Every kind is named in FORMAT.md §8 and in VERIFY_REPORT.md's list of kinds.
    #[test]
    fn every_kind_is_documented() {
        let format = include_str!("../../docs/FORMAT.md");
        let report = include_str!("../../docs/VERIFY_REPORT.md");
        for k in all_kinds() {
            let name = format!("`{}`", k.as_str());
            assert!(format.contains(&name), "FORMAT.md does not name {name}");
            assert!(
                report.contains(&name),
                "VERIFY_REPORT.md does not name {name}"
            );
        }
    }
}
