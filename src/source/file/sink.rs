//! Where a file source's lines go: one journal batch under construction, its counts,
//! and the journal position the last append reached (what a checkpoint waits for).
//!
//! Lines are encoded straight from the read buffer into the batch (one reserve per
//! record, nothing else allocated), with one clock reading per read. Bytes that are
//! not text (NUL, invalid UTF-8) are archived as they are, tagged by the normaliser;
//! here they are counted as errors of the source and logged (at most every 10 s), so
//! a file that fills with garbage, such as the NUL blocks a crash can leave in a log,
//! is noticed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::journal::{Batch, Journal};
use crate::record::{IngestRecord, Origin, RecordFlags};
use crate::source::{SourceError, SourceStats};
use crate::throttle::Throttle;

/// A batch is appended once it holds this much.
pub const BATCH_TARGET_BYTES: usize = 256 * 1024;
/// A batch's first allocation: a burst fits, a single quiet line does not reserve a
/// whole batch.
const BATCH_INITIAL_BYTES: usize = 64 * 1024;

/// Counts added to the shared stats once per append.
#[derive(Default)]
struct Tally {
    events: u64,
    bytes: u64,
    truncated: u64,
    incomplete: u64,
    not_text: u64,
}

pub struct Sink {
    index: u16,
    name: String,
    journal: Journal,
    stats: Arc<SourceStats>,
    batch: Option<Batch>,
    tally: Tally,
    received_ns: i64,
    /// The journal position just past the last batch appended.
    pub last_end: u64,
    /// Where the last line that was not text was, for the log.
    not_text_at: Option<(String, u64)>,
    not_text_unlogged: u64,
    not_text_log: Throttle,
    truncated_log: Throttle,
}

/// Now, in ns since the Unix epoch.
pub fn now_ns() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

impl Sink {
    pub fn new(index: u16, name: String, journal: Journal, stats: Arc<SourceStats>) -> Sink {
        Sink {
            index,
            name,
            journal,
            stats,
            batch: None,
            tally: Tally::default(),
            received_ns: now_ns(),
            last_end: 0,
            not_text_at: None,
            not_text_unlogged: 0,
            not_text_log: Throttle::new(Duration::from_secs(10)),
            truncated_log: Throttle::new(Duration::from_secs(10)),
        }
    }

    /// One clock reading for the lines of a read of `bytes` bytes.
    pub fn stamp(&mut self, bytes: usize) {
        self.received_ns = now_ns();
        self.tally.bytes += bytes as u64;
    }

    /// Encodes one line into the batch.
    pub fn push(&mut self, path: &[u8], offset: u64, raw: &[u8], flags: RecordFlags) {
        let record = IngestRecord {
            received_ns: self.received_ns,
            source: self.index,
            origin: Origin::File { path, offset },
            flags,
            raw,
        };
        self.batch
            .get_or_insert_with(|| Batch::with_capacity(BATCH_INITIAL_BYTES))
            .push_with(|out| record.encode_into(out));
        self.tally.events += 1;
        if flags.contains(RecordFlags::TRUNCATED) {
            self.tally.truncated += 1;
            if let Some(n) = self.truncated_log.hit(Instant::now()) {
                tracing::warn!(source = %self.name, path = %String::from_utf8_lossy(path), offset, lines = n, "a line longer than max_line_bytes was archived truncated (tagged _truncated); the rest of it is skipped");
            }
        }
        if flags.contains(RecordFlags::INCOMPLETE) {
            self.tally.incomplete += 1;
        }
        let not_text = memchr::memchr(0, raw).is_some()
            || (!raw.is_ascii() && std::str::from_utf8(raw).is_err());
        if not_text {
            self.tally.not_text += 1;
            self.not_text_at = Some((String::from_utf8_lossy(path).into_owned(), offset));
        }
    }

    pub fn full(&self) -> bool {
        self.batch
            .as_ref()
            .is_some_and(|b| b.bytes() >= BATCH_TARGET_BYTES)
    }

    pub fn is_empty(&self) -> bool {
        self.batch.as_ref().is_none_or(Batch::is_empty)
    }

    /// Appends the batch, waiting while the journal applies backpressure (that is what
    /// pauses reading). Returns whether anything was appended.
    pub fn flush(&mut self) -> Result<bool, SourceError> {
        self.count();
        let Some(batch) = self.batch.take().filter(|b| !b.is_empty()) else {
            return Ok(false);
        };
        self.last_end =
            self.journal
                .blocking_append(batch)
                .map_err(|source| SourceError::Journal {
                    source_name: self.name.clone(),
                    source,
                })?;
        Ok(true)
    }

    /// A problem with a file (it could not be opened, read, ...): counted with the
    /// source's errors; the caller logs it.
    pub fn error(&self) {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
    }

    fn count(&mut self) {
        let t = std::mem::take(&mut self.tally);
        for (counter, n) in [
            (&self.stats.received_events, t.events),
            (&self.stats.received_bytes, t.bytes),
            (&self.stats.truncated, t.truncated),
            (&self.stats.incomplete, t.incomplete),
            (&self.stats.errors, t.not_text),
        ] {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
        if t.not_text > 0 {
            // Every such line counts; the log says so at most every 10 s.
            self.not_text_unlogged += t.not_text;
            if self.not_text_log.hit(Instant::now()).is_some() {
                let (path, offset) = self.not_text_at.take().unwrap_or_default();
                let lines = std::mem::take(&mut self.not_text_unlogged);
                tracing::warn!(source = %self.name, %path, offset, lines, "lines with NUL bytes or invalid UTF-8 were archived byte for byte (tagged _invalid_utf8 when not UTF-8); the last one at this offset");
            }
        }
    }
}
