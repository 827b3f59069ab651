//! A source's records on their way to the journal: one batch, encoded in place (no
//! per-record allocation), and what it holds counted for the source's stats. Every kind
//! of source fills one; how it appends (awaiting, or blocking on its own thread) and
//! what else it tracks (a checkpoint position, a cursor) stays with the source.

use std::sync::atomic::Ordering;

use super::SourceStats;
use crate::journal::Batch;
use crate::record::{IngestRecord, RecordFlags};

/// A batch is appended once it holds this much, even if more is ready to read.
pub const BATCH_TARGET_BYTES: usize = 256 * 1024;
/// A batch's first allocation: a burst fits, a single quiet record does not reserve a
/// whole batch (and an idle source holds none at all).
const BATCH_INITIAL_BYTES: usize = 64 * 1024;

/// Records under way and their counts, added to the stats when the batch is taken.
#[derive(Debug, Default)]
pub struct RecordBatch {
    batch: Option<Batch>,
    events: u64,
    bytes: u64,
    truncated: u64,
    incomplete: u64,
    errors: u64,
}

impl RecordBatch {
    /// Encodes one record straight into the batch.
    pub fn push(&mut self, record: &IngestRecord<'_>) {
        self.batch
            .get_or_insert_with(|| Batch::with_capacity(BATCH_INITIAL_BYTES))
            .push_with(|out| record.encode_into(out));
        self.events += 1;
        self.truncated += u64::from(record.flags.contains(RecordFlags::TRUNCATED));
        self.incomplete += u64::from(record.flags.contains(RecordFlags::INCOMPLETE));
    }

    /// `n` bytes were read (before framing).
    pub fn read(&mut self, n: usize) {
        self.bytes += n as u64;
    }

    /// A problem with the input, counted with the source's errors.
    pub fn error(&mut self) {
        self.errors += 1;
    }

    /// Time to append: the batch reached [`BATCH_TARGET_BYTES`].
    pub fn full(&self) -> bool {
        self.batch
            .as_ref()
            .is_some_and(|b| b.bytes() >= BATCH_TARGET_BYTES)
    }

    /// Records waiting.
    pub fn len(&self) -> usize {
        self.batch.as_ref().map_or(0, Batch::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the counts to `stats` and hands over the batch, if it holds anything.
    pub fn take(&mut self, stats: &SourceStats) -> Option<Batch> {
        for (counter, n) in [
            (&stats.received_events, std::mem::take(&mut self.events)),
            (&stats.received_bytes, std::mem::take(&mut self.bytes)),
            (&stats.truncated, std::mem::take(&mut self.truncated)),
            (&stats.incomplete, std::mem::take(&mut self.incomplete)),
            (&stats.errors, std::mem::take(&mut self.errors)),
        ] {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
        self.batch.take().filter(|b| !b.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_reach_the_stats_once_and_the_batch_is_handed_over() {
        let stats = SourceStats::default();
        let mut b = RecordBatch::default();
        assert!(b.take(&stats).is_none(), "nothing to hand over");
        b.read(100);
        for flags in [
            RecordFlags::EMPTY,
            RecordFlags::TRUNCATED,
            RecordFlags::INCOMPLETE,
        ] {
            b.push(&IngestRecord::syslog(1, 0, None, flags, b"<13>x"));
        }
        b.error();
        assert_eq!(b.len(), 3);
        let batch = b.take(&stats).unwrap();
        assert_eq!(batch.len(), 3);
        assert!(b.is_empty());
        let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        assert_eq!(
            [
                ld(&stats.received_events),
                ld(&stats.received_bytes),
                ld(&stats.truncated),
                ld(&stats.incomplete),
                ld(&stats.errors)
            ],
            [3, 100, 1, 1, 1]
        );
        assert!(b.take(&stats).is_none());
        assert_eq!(ld(&stats.received_events), 3, "counted once");
    }
}
