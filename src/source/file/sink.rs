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
use std::time::{Duration, Instant};

use crate::journal::Journal;
use crate::record::{now_ns, IngestRecord, Origin, RecordFlags};
use crate::source::batch::RecordBatch;
use crate::source::{SourceError, SourceStats};
use crate::throttle::Throttle;

pub struct Sink {
    index: u16,
    name: String,
    journal: Journal,
    stats: Arc<SourceStats>,
    batch: RecordBatch,
    received_ns: i64,
    /// The journal position just past the last batch appended.
    pub last_end: u64,
    /// Where the last line that was not text was, for the log.
    not_text_at: Option<(String, u64)>,
    not_text_unlogged: u64,
    not_text_log: Throttle,
    truncated_log: Throttle,
}

impl Sink {
    pub fn new(index: u16, name: String, journal: Journal, stats: Arc<SourceStats>) -> Sink {
        Sink {
            index,
            name,
            journal,
            stats,
            batch: RecordBatch::default(),
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
        self.batch.read(bytes);
    }

    /// Encodes one line into the batch.
    pub fn push(&mut self, path: &[u8], offset: u64, raw: &[u8], flags: RecordFlags) {
        self.batch.push(&IngestRecord {
            received_ns: self.received_ns,
            source: self.index,
            origin: Origin::File { path, offset },
            flags,
            raw,
        });
        if flags.contains(RecordFlags::TRUNCATED) {
            if let Some(n) = self.truncated_log.hit(Instant::now()) {
                tracing::warn!(source = %self.name, path = %String::from_utf8_lossy(path), offset, lines = n, "a line longer than max_line_bytes was archived truncated (tagged _truncated); the rest of it is skipped");
            }
        }
        let not_text = memchr::memchr(0, raw).is_some()
            || (!raw.is_ascii() && std::str::from_utf8(raw).is_err());
        if not_text {
            self.batch.error();
            self.not_text_unlogged += 1;
            self.not_text_at = Some((String::from_utf8_lossy(path).into_owned(), offset));
        }
    }

    pub fn full(&self) -> bool {
        self.batch.full()
    }

    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Appends the batch, waiting while the journal applies backpressure (that is what
    /// pauses reading). Returns whether anything was appended.
    pub fn flush(&mut self) -> Result<bool, SourceError> {
        self.log_not_text();
        let Some(batch) = self.batch.take(&self.stats) else {
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

    /// Every line that is not text counts; the log says so at most every 10 s.
    fn log_not_text(&mut self) {
        if self.not_text_unlogged > 0 && self.not_text_log.hit(Instant::now()).is_some() {
            let (path, offset) = self.not_text_at.take().unwrap_or_default();
            let lines = std::mem::take(&mut self.not_text_unlogged);
            tracing::warn!(source = %self.name, %path, offset, lines, "lines with NUL bytes or invalid UTF-8 were archived byte for byte (tagged _invalid_utf8 when not UTF-8); the last one at this offset");
        }
    }
}
