//! The sealer: a journal consumer that turns records into signed, chained segments.
//!
//! It runs on its own thread so that parsing, rendering, hashing and compression use
//! the second core while the runtime receives and journals. The commit protocol that
//! keeps the chain intact across crashes is described in `docs/ARCHITECTURE.md`:
//! stage the segment in the spool, commit the checkpoint (the commit point), publish.

mod committer;
pub mod internal;
pub mod late;
mod rotate;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use crate::journal::{Checkpoint, Journal, JournalError, Pressure};
use crate::normalise::{Input, Normaliser};
use crate::record::{now_ns, JournalRecord};
use crate::segment::{SealKind, SegmentBuilder, SegmentError, SegmentWriter};
use committer::{recover_spool, Committer, Pending, ToCommitter};

/// Name of the sealer's cursor in the journal.
pub const CURSOR_NAME: &str = "sealer";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    #[error("segment: {0}")]
    Segment(#[from] SegmentError),
    #[error("spool {path}: {source}")]
    Spool {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("checkpoint belongs to stream `{found}`, but this instance is configured as `{configured}`; use a new state_dir or the old stream id")]
    StreamMismatch { found: String, configured: String },
    #[error("checkpoint is unreadable: {0}")]
    BadCheckpoint(String),
    #[error("the committer stopped (see the error before); the unsealed events stay in the journal and are sealed at the next start")]
    CommitterStopped,
}

/// The sealer's durable state, committed atomically with its journal position.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChainState {
    pub stream: String,
    pub next_seq: u64,
    /// Hex SHA-256 of the previous seal (all zeros before the first segment).
    pub prev_hash: String,
    /// End of the last sealed period: the next segment starts here.
    pub period_end_ns: i64,
    /// Hex id of the key the chain is signed with, so a restart with another key (or
    /// none) is refused instead of continuing the chain unverifiably. Absent in
    /// checkpoints of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

impl ChainState {
    /// What the key check needs to know about this chain.
    pub fn chain_key(&self) -> crate::keys::ChainKey {
        crate::keys::ChainKey {
            stream: self.stream.clone(),
            next_seq: self.next_seq,
            key_id: self
                .key_id
                .as_deref()
                .and_then(|h| hex::decode(h).ok())
                .and_then(|v| <[u8; 8]>::try_from(v).ok()),
        }
    }
}

/// The sealer's committed checkpoint, if this state directory has a chain.
pub fn load_chain(journal: &Journal) -> Result<Option<Checkpoint<ChainState>>, SealError> {
    Ok(journal.cursor(CURSOR_NAME).load::<ChainState>()?)
}

/// The journal position up to which everything is sealed (the sealer's committed
/// cursor), for consumers that go by it; `None` before the first seal or when the
/// checkpoint cannot be read.
pub fn sealed_position(journal: &Journal) -> Option<u64> {
    load_chain(journal).ok().flatten().map(|cp| cp.position)
}

/// The chain recorded in `state_dir`, read without opening the journal (a running
/// daemon holds its lock): for tools such as `keygen`.
pub fn chain_in(state_dir: &Path) -> Result<Option<ChainState>, SealError> {
    let path = state_dir
        .join("journal")
        .join("cursors")
        .join(format!("{CURSOR_NAME}.json"));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(SealError::Journal(JournalError::Io { path, source })),
    };
    serde_json::from_slice::<Checkpoint<ChainState>>(&bytes)
        .map(|cp| Some(cp.state))
        .map_err(|e| SealError::BadCheckpoint(format!("{}: {e}", path.display())))
}

pub struct SealerOptions {
    pub stream: String,
    pub max_age: Duration,
    pub max_bytes: usize,
    pub zstd_level: i32,
    pub spool_dir: PathBuf,
    /// Under journal pressure, seal once this many journal bytes are unsealed, so whole
    /// journal files can be reclaimed before the writer has to stop.
    pub early_seal_bytes: u64,
    /// The spool's bound: while it is full, the sealer takes nothing from the journal.
    pub spool: Option<Arc<crate::ship::Spool>>,
    /// The signing key's file: a pending next key beside it is rotated to
    /// (`keys::rotation`). `None`: never rotate.
    pub key_path: Option<PathBuf>,
    /// `[seal] rotate_key_every`: rotate once the key file is this old.
    pub rotate_every: Option<Duration>,
}

/// Seals made to free journal space are at least this far apart: when the pressure
/// comes from a full disk rather than from unsealed records, sealing cannot help and
/// must not spin.
const EARLY_SEAL_INTERVAL: Duration = Duration::from_millis(25);

/// The sealer hands a segment's lines to the committer in chunks of this size, so a
/// segment is never held uncompressed: memory is a few chunks, not `seal.max_bytes`.
pub const CHUNK_BYTES: usize = 256 * 1024;
/// Chunks (or seals) queued for the committer before the sealer waits.
pub const CHUNKS_IN_FLIGHT: usize = 8;
/// Room in a chunk buffer beyond [`CHUNK_BYTES`] for the line that crosses it.
const SEGMENT_HEADROOM: usize = 64 * 1024;

/// Live figures for logs and (later) the status endpoint.
#[derive(Debug, Default)]
pub struct SealerStats {
    pub sealed_segments: AtomicU64,
    pub sealed_events: AtomicU64,
    /// Sequence number of the newest sealed segment plus one (0: none yet).
    pub next_seq: AtomicU64,
    pub journal_position: AtomicU64,
    pub errors: AtomicU64,
    /// Alert records sealed (the detector journals them; see `detect::consumer`).
    pub sealed_alerts: AtomicU64,
    /// Commit attempts that failed (each is retried; nothing is skipped).
    pub commit_failures: AtomicU64,
    /// The latest commit failure, for late-seal explanations and `status`.
    last_commit_error: std::sync::Mutex<Option<String>>,
    /// True while the committer is retrying a failed commit.
    pub commit_failing: AtomicBool,
    /// Segments sealed after their heartbeat was due.
    pub late_seals: AtomicU64,
    last_late: std::sync::Mutex<Option<late::LateSeal>>,
    /// End of the newest sealed period (unix ns; 0 before the first).
    pub last_sealed_ns: std::sync::atomic::AtomicI64,
    /// `seal.max_age` in milliseconds, for `status`.
    pub heartbeat_ms: AtomicU64,
    /// Segments sealed early because the journal needed space.
    pub early_seals: AtomicU64,
    /// Journal ranges found unreadable and recorded in the chain.
    pub journal_gaps: AtomicU64,
}

pub struct Sealer {
    journal: Journal,
    normaliser: Normaliser,
    builder: SegmentBuilder,
    opts: SealerOptions,
    /// Sequence number of the next segment. The committer, which signs, keeps the
    /// hash chain: the sealer never waits for the previous segment's hash.
    next_seq: u64,
    /// Where the open segment's period starts (the previous one's end).
    period_end_ns: i64,
    /// Kind of the next segment: `Resume` right after a restart.
    next_kind: SealKind,
    /// Journal position of the first record not yet sealed.
    position: u64,
    stats: Arc<SealerStats>,
    committer: Option<Committer>,
    /// What may explain a late seal.
    causes: late::Causes,
    /// When the last seal made to free journal space happened.
    last_early_seal: Option<std::time::Instant>,
    /// Content buffers the committer is done with.
    recycled: Option<std::sync::mpsc::Receiver<Vec<u8>>>,
    /// Time spent waiting for the committer since the last seal.
    waited_ns: u64,
    /// Watches for a key rotation to seal.
    rotator: Option<rotate::Rotator>,
    /// The next key, handed to the committer with the next seal.
    rotate_to: Option<SigningKey>,
    /// The detector's share of each decoded record (see `detect::feed`).
    feed: Option<crate::detect::feed::FeedSender>,
}

/// Spool paths: `<seq:012>.seg.zst` once published, `.tmp` while staged.
pub fn spool_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:012}.seg.zst"))
}

pub(super) fn staged_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:012}.seg.zst.tmp"))
}

pub(super) fn spool_err(path: &Path) -> impl FnOnce(std::io::Error) -> SealError + '_ {
    move |source| SealError::Spool {
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn sync_dir(dir: &Path) -> Result<(), SealError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(spool_err(dir))
}

impl Sealer {
    /// Loads the checkpoint and finishes a commit a crash may have interrupted.
    pub fn open(
        journal: Journal,
        normaliser: Normaliser,
        key: SigningKey,
        opts: SealerOptions,
        stats: Arc<SealerStats>,
        on_publish: Box<dyn Fn(u64) + Send>,
    ) -> Result<Sealer, SealError> {
        crate::state_dir::create_private(&opts.spool_dir).map_err(spool_err(&opts.spool_dir))?;
        let cursor = journal.cursor(CURSOR_NAME);
        let (state, position, next_kind) = match cursor.load::<ChainState>()? {
            Some(cp) => {
                if cp.state.stream != opts.stream {
                    return Err(SealError::StreamMismatch {
                        found: cp.state.stream,
                        configured: opts.stream.clone(),
                    });
                }
                decode_hash(&cp.state.prev_hash)?;
                (cp.state, cp.position, SealKind::Resume)
            }
            None => (
                ChainState {
                    stream: opts.stream.clone(),
                    next_seq: 0,
                    prev_hash: hex::encode([0u8; 32]),
                    period_end_ns: now_ns(),
                    key_id: None,
                },
                0,
                SealKind::Normal,
            ),
        };
        recover_spool(&opts.spool_dir, state.next_seq)?;
        stats.next_seq.store(state.next_seq, Ordering::Relaxed);
        stats.heartbeat_ms.store(
            u64::try_from(opts.max_age.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        stats.journal_position.store(position, Ordering::Relaxed);
        // A segment is sealed once it holds `max_bytes`, so it ends within one line of
        // that: room for a long line besides.
        let builder = SegmentBuilder::with_capacity(
            opts.zstd_level,
            CHUNK_BYTES.min(opts.max_bytes) + SEGMENT_HEADROOM,
        )?;
        let rotator = opts
            .key_path
            .clone()
            .map(|p| rotate::Rotator::new(p, opts.rotate_every, &key));
        let committer = Committer {
            writer: SegmentWriter::new(opts.zstd_level)?,
            key,
            key_path: opts.key_path.clone(),
            prev_hash: decode_hash(&state.prev_hash)?,
            stream: state.stream.clone(),
            heartbeat_ms: u64::try_from(opts.max_age.as_millis()).unwrap_or(u64::MAX),
            cursor,
            journal: journal.clone(),
            spool_dir: opts.spool_dir.clone(),
            stats: stats.clone(),
            on_publish,
            stop: None,
            recycle: None,
        };
        Ok(Sealer {
            journal,
            normaliser,
            builder,
            opts,
            next_seq: state.next_seq,
            period_end_ns: state.period_end_ns,
            next_kind,
            position,
            stats,
            committer: Some(committer),
            causes: late::Causes::default(),
            last_early_seal: None,
            recycled: None,
            waited_ns: 0,
            rotator,
            rotate_to: None,
            feed: None,
        })
    }

    /// Lends the detector this sealer's decoding of every record, so the detector does
    /// not decode them again.
    pub fn feed_detector(&mut self, feed: crate::detect::feed::FeedSender) {
        self.feed = Some(feed);
    }

    /// True when no checkpoint existed: this instance starts a new chain.
    pub fn is_new_chain(&self) -> bool {
        self.next_seq == 0 && matches!(self.next_kind, SealKind::Normal)
    }

    /// Seals until `stop` is set, then drains the journal up to its durable end and
    /// seals the final segment. The caller closes the journal before setting `stop`,
    /// so "durable end" is everything any source handed over.
    pub fn run(mut self, stop: &Arc<AtomicBool>) -> Result<(), SealError> {
        let Some(mut committer) = self.committer.take() else {
            return Ok(());
        };
        committer.stop = Some(stop.clone());
        let (recycle_tx, recycle_rx) = std::sync::mpsc::channel();
        committer.recycle = Some(recycle_tx);
        self.recycled = Some(recycle_rx);
        // A few chunks in flight at most: memory stays bounded and a slow disk slows
        // the sealer (and through the journal, the sources) instead of queueing.
        let (tx, rx) = std::sync::mpsc::sync_channel::<ToCommitter>(CHUNKS_IN_FLIGHT);
        let handle = std::thread::Builder::new()
            .name("committer".into())
            .spawn(move || committer.run(rx))
            .map_err(|source| SealError::Spool {
                path: self.opts.spool_dir.clone(),
                source,
            })?;
        let result = self.seal_loop(stop, &tx);
        drop(tx);
        if handle.join().is_err() {
            tracing::error!("the committer thread panicked");
        }
        result
    }

    fn seal_loop(
        &mut self,
        stop: &AtomicBool,
        tx: &std::sync::mpsc::SyncSender<ToCommitter>,
    ) -> Result<(), SealError> {
        let mut reader = self.journal.reader(self.position)?;
        let max_age_ns = i64::try_from(self.opts.max_age.as_nanos()).unwrap_or(i64::MAX);
        if self.next_kind == SealKind::Resume {
            // The resume segment is the downtime itself, sealed at once and empty: its
            // period runs from the last seal before the stop (or crash) to this start,
            // exactly. What the journal still holds from before goes into the next one.
            self.seal_segment(self.position, tx, Why::Resume)?;
        }
        loop {
            self.wait_for_spool(stop);
            let stopping = stop.load(Ordering::Acquire);
            let mut since_clock = 0u32;
            while let Some((pos, payload)) = reader.next()? {
                self.render(pos, payload);
                if let Some(f) = self.feed.as_mut() {
                    f.covered(pos, reader.position());
                }
                // A range skipped before this record is written right after it (the
                // record borrows the reader); its event id names the range.
                self.note_gaps(&mut reader);
                self.send_chunk(tx)?;
                since_clock += 1;
                if self.builder.uncompressed_len() >= self.opts.max_bytes {
                    self.seal_segment(reader.position(), tx, Why::Size)?;
                    self.wait_for_spool(stop);
                } else if since_clock >= 1024 {
                    since_clock = 0;
                    if now_ns().saturating_sub(self.period_end_ns) >= max_age_ns {
                        // A long backlog must still respect the heartbeat promise.
                        self.seal_segment(reader.position(), tx, Why::Age)?;
                    } else if self.rotation_due() {
                        self.seal_segment(reader.position(), tx, Why::Rotate)?;
                    } else if self.early_seal_frees_space(reader.position()) {
                        self.seal_segment(reader.position(), tx, Why::Pressure)?;
                    }
                }
            }
            // Caught up: the detector gets what is batched now, not a batch later.
            if let Some(f) = self.feed.as_mut() {
                f.flush();
            }
            self.note_gaps(&mut reader);
            if stopping {
                // Everything durable has been read: this is the final segment, sealed
                // as a stop so a verifier can tell a planned end from a truncated tail.
                self.next_kind = SealKind::Stop;
                self.seal_segment(reader.position(), tx, Why::Final)?;
                return Ok(());
            }
            let age = now_ns().saturating_sub(self.period_end_ns);
            if age >= max_age_ns {
                self.seal_segment(reader.position(), tx, Why::Age)?;
                continue;
            }
            if self.rotation_due() {
                self.seal_segment(reader.position(), tx, Why::Rotate)?;
                continue;
            }
            if self.early_seal_frees_space(reader.position()) {
                self.seal_segment(reader.position(), tx, Why::Pressure)?;
                continue;
            }
            let wait = Duration::from_nanos(u64::try_from(max_age_ns - age).unwrap_or(0))
                .min(Duration::from_millis(200));
            self.journal.wait_durable_beyond(reader.position(), wait);
        }
    }

    /// Whether a key rotation is pending: then the next seal is the rotation seal.
    fn rotation_due(&mut self) -> bool {
        if self.rotate_to.is_none() {
            self.rotate_to = self.rotator.as_mut().and_then(|r| r.due());
        }
        self.rotate_to.is_some()
    }

    /// While the spool is full, take nothing more from the journal: the journal fills
    /// and slows the sources, and no segment is sealed that the disk cannot hold.
    fn wait_for_spool(&mut self, stop: &AtomicBool) {
        if let Some(f) = self.feed.as_mut() {
            f.flush(); // this may wait long: the detector must not
        }
        if let Some(spool) = &self.opts.spool {
            if spool.wait_for_room(&|| stop.load(Ordering::Acquire)) {
                self.causes.spool_was_full = true;
            }
        }
    }

    /// Whether sealing now would let the journal reclaim files it needs: the cap (or the
    /// free-space reserve) must turn into early sealing, never into a pause until the
    /// next heartbeat. Blocked: seal whatever is unsealed. Soft: seal once about a
    /// file's worth is unsealed, before the writer has to stop.
    fn early_seal_frees_space(&self, read_to: u64) -> bool {
        let unsealed = read_to.saturating_sub(self.position);
        let worth = match self.journal.pressure() {
            Pressure::None => false,
            Pressure::Soft => unsealed >= self.opts.early_seal_bytes,
            Pressure::Blocked => unsealed > 0,
        };
        worth
            && self
                .last_early_seal
                .is_none_or(|t| t.elapsed() >= EARLY_SEAL_INTERVAL)
    }

    /// Journal ranges the reader had to skip (damaged or missing on disk) are written
    /// into the chain, where an auditor will look for them.
    fn note_gaps(&mut self, reader: &mut crate::journal::Reader) {
        for lost in reader.take_skipped() {
            tracing::error!(
                from = lost.start,
                to = lost.end,
                lost_bytes = lost.end - lost.start,
                "sealing past a journal range that could not be read; the segment records the loss"
            );
            let stream = &self.opts.stream;
            let now = now_ns();
            let at = crate::segment::rfc3339(now);
            self.builder
                .push_with(now, |out| internal::journal_gap(out, stream, &lost, &at));
            self.stats.journal_gaps.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn render(&mut self, pos: u64, payload: &[u8]) {
        let normaliser = &mut self.normaliser;
        match JournalRecord::decode(payload) {
            Ok(JournalRecord::Ingest(rec)) => {
                let input = Input::of(&rec);
                let decoded = normaliser.decode(&rec, &input);
                if let Some(f) = self.feed.as_mut() {
                    f.decoded(pos, &decoded);
                }
                self.builder.push_with(rec.received_ns, |out| {
                    normaliser.write_compact(pos, &decoded.event, decoded.auth.as_ref(), out)
                });
            }
            // The detector's alert, sealed as the line it rendered.
            Ok(JournalRecord::Alert(a)) => {
                self.builder
                    .push_with(a.raised_ns, |out| out.extend_from_slice(a.line));
                self.stats.sealed_alerts.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                // The checksum matched, so this is a bug or a format change, never a
                // reason to lose the bytes: keep them as a flagged event.
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(position = pos, error = %e, "undecodable journal record kept as raw event");
                let stream = self.opts.stream.clone();
                self.builder.push_with(now_ns(), |out| {
                    write_undecodable(out, &stream, pos, payload);
                });
            }
        }
    }

    /// Closes the open segment and hands its content to the committer, which
    /// compresses, signs and commits it while this thread fills the next one.
    fn seal_segment(
        &mut self,
        end_position: u64,
        tx: &std::sync::mpsc::SyncSender<ToCommitter>,
        why: Why,
    ) -> Result<(), SealError> {
        if why == Why::Pressure {
            self.last_early_seal = Some(std::time::Instant::now());
            self.stats.early_seals.fetch_add(1, Ordering::Relaxed);
        }
        let seq = self.next_seq;
        let period_start_ns = self.period_end_ns;
        let period_end_ns = now_ns().max(period_start_ns);
        // A pending rotation rides on a normal segment (never a resume or a stop).
        let rotate = match self.next_kind {
            SealKind::Normal => self.rotate_to.take(),
            _ => None,
        };
        if rotate.is_some() {
            self.next_kind = SealKind::Rotate;
        }
        if matches!(self.next_kind, SealKind::Normal | SealKind::Rotate) {
            self.note_if_late(seq, period_start_ns, period_end_ns);
        }
        self.causes.failures_at_last_seal = self.stats.commit_failures.load(Ordering::Relaxed);
        self.causes.spool_was_full = false;
        self.take_recycled();
        let pending = Pending {
            seq,
            kind: self.next_kind,
            period_start_ns,
            period_end_ns,
            content: self.builder.take(),
            end_position,
            rotate,
        };
        self.next_seq = seq + 1;
        self.period_end_ns = period_end_ns;
        self.position = end_position;
        self.next_kind = SealKind::Normal;
        self.stats
            .last_sealed_ns
            .store(period_end_ns, Ordering::Relaxed);
        // Waiting here delays the *next* seal: remember it as that one's excuse.
        let t = std::time::Instant::now();
        let sent = tx.send(ToCommitter::Seal(Box::new(pending)));
        self.waited_ns += u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.causes.waited_for_committer_ns = std::mem::take(&mut self.waited_ns);
        sent.map_err(|_| SealError::CommitterStopped)
    }

    /// Hands the open segment's lines to the committer once a chunk is full (it hashes
    /// and compresses them while this thread goes on).
    fn send_chunk(
        &mut self,
        tx: &std::sync::mpsc::SyncSender<ToCommitter>,
    ) -> Result<(), SealError> {
        let Some(chunk) = self.builder.take_chunk(CHUNK_BYTES) else {
            return Ok(());
        };
        self.take_recycled();
        let t = std::time::Instant::now();
        let sent = tx.send(ToCommitter::Lines(chunk));
        self.waited_ns += u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
        sent.map_err(|_| SealError::CommitterStopped)
    }

    fn take_recycled(&mut self) {
        if let Some(rx) = &self.recycled {
            while let Ok(buf) = rx.try_recv() {
                self.builder.recycle_buffer(buf);
            }
        }
    }

    /// A normal segment whose period overran the heartbeat carries an event saying
    /// why (see [`late`]), and the log and `status` say so too.
    fn note_if_late(&mut self, seq: u64, start_ns: i64, end_ns: i64) {
        let heartbeat = self.opts.max_age;
        let Some(over) = late::lateness(end_ns.saturating_sub(start_ns), heartbeat) else {
            return;
        };
        let failures = self.stats.commit_failures.load(Ordering::Relaxed);
        let last_error = self.stats.last_commit_error();
        let late = late::LateSeal {
            seq,
            late_ms: u64::try_from(over.as_millis()).unwrap_or(u64::MAX),
            heartbeat_ms: u64::try_from(heartbeat.as_millis()).unwrap_or(u64::MAX),
            reason: late::explain(failures, &self.causes, last_error.as_deref()),
            sealed_ns: end_ns,
        };
        // verify's tolerance: 10 % of the heartbeat plus 5 s.
        let verify_flags_it = over > heartbeat / 10 + Duration::from_secs(5);
        tracing::warn!(
            seq,
            late_ms = late.late_ms,
            heartbeat_ms = late.heartbeat_ms,
            reason = %late.reason,
            "segment sealed after its heartbeat was due; an event in the segment says why"
        );
        let stream = &self.opts.stream;
        let at = crate::segment::rfc3339(end_ns);
        self.builder.push_with(end_ns, |out| {
            late::render_event(out, stream, &late, &at, verify_flags_it)
        });
        self.stats.late_seals.fetch_add(1, Ordering::Relaxed);
        self.stats.note_late(late);
    }
}

impl crate::journal::consumer::JournalConsumer for Sealer {
    fn name(&self) -> String {
        CURSOR_NAME.into()
    }
    fn stage(&self) -> crate::journal::consumer::Stage {
        crate::journal::consumer::Stage::Reads
    }
    fn essential(&self) -> bool {
        true
    }
    fn run(
        self: Box<Self>,
        stop: &Arc<AtomicBool>,
    ) -> Result<(), crate::journal::consumer::ConsumerError> {
        Sealer::run(*self, stop).map_err(Into::into)
    }
}

/// Why a segment is closed now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    /// Its content reached `seal.max_bytes`.
    Size,
    /// Its period reached `seal.max_age` (the heartbeat).
    Age,
    /// The journal needs space (see [`Sealer::early_seal_frees_space`]).
    Pressure,
    /// Shutdown: the last segment.
    Final,
    /// Start after an earlier run: the downtime.
    Resume,
    /// A key rotation is pending: this is the rotation seal.
    Rotate,
}

impl SealerStats {
    /// The latest commit failure's message.
    pub fn last_commit_error(&self) -> Option<String> {
        lock(&self.last_commit_error).clone()
    }

    pub fn note_commit_error(&self, message: String) {
        *lock(&self.last_commit_error) = Some(message);
    }

    /// The newest late seal.
    pub fn last_late(&self) -> Option<late::LateSeal> {
        lock(&self.last_late).clone()
    }

    pub fn note_late(&self, late: late::LateSeal) {
        *lock(&self.last_late) = Some(late);
    }
}

/// Locks a stats mutex, ignoring poisoning: its contents are plain reports.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn decode_hash(s: &str) -> Result<[u8; 32], SealError> {
    let v = hex::decode(s).map_err(|e| SealError::BadCheckpoint(format!("prev_hash: {e}")))?;
    v.try_into()
        .map_err(|_| SealError::BadCheckpoint("prev_hash: not 32 bytes".into()))
}

fn write_undecodable(out: &mut Vec<u8>, stream: &str, pos: u64, payload: &[u8]) {
    use base64::Engine;
    let v = serde_json::json!({
        "event": {"id": format!("{stream}:{pos}"), "kind": "event"},
        "tags": ["_record_corrupt"],
        "sealtrail": {"record_base64": base64::engine::general_purpose::STANDARD.encode(payload)},
    });
    // serde_json never writes a raw newline, and writing to a Vec cannot fail.
    let _ = serde_json::to_writer(out, &v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_hash_must_be_32_bytes() {
        assert!(decode_hash(&hex::encode([7u8; 32])).is_ok());
        assert!(decode_hash("abcd").is_err());
        assert!(decode_hash("zz").is_err());
    }
}
