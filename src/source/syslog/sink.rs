//! Where a listener task's records go: the batch under construction and its counts.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{ListenerSpec, SourceError, SourceStats, BATCH_TARGET_BYTES};
use crate::journal::{Batch, Journal};
use crate::record::{IngestRecord, RecordFlags};

/// Capacity of a batch when its first record arrives: enough for a burst, without
/// reserving a full batch for every single quiet message.
const BATCH_INITIAL_BYTES: usize = 64 * 1024;

/// Per-task counts, added to the shared [`SourceStats`] once per batch.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) events: u64,
    pub(super) bytes: u64,
    pub(super) truncated: u64,
    pub(super) incomplete: u64,
}

impl Tally {
    fn flush(&mut self, stats: &SourceStats) {
        for (counter, n) in [
            (&stats.received_events, self.events),
            (&stats.received_bytes, self.bytes),
            (&stats.truncated, self.truncated),
            (&stats.incomplete, self.incomplete),
        ] {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
        *self = Tally::default();
    }
}

/// A task's batch under construction. The batch is allocated with its first record and
/// handed to the journal whole, so a quiet connection holds no buffer at all.
pub(super) struct Sink {
    listener: u16,
    pub(super) name: String,
    pub(super) batch: Option<Batch>,
    pub(super) tally: Tally,
    journal: Journal,
    pub(super) stats: Arc<SourceStats>,
}

impl Sink {
    pub(super) fn new(spec: &ListenerSpec, journal: Journal, stats: Arc<SourceStats>) -> Sink {
        Sink {
            listener: spec.index,
            name: spec.name.clone(),
            batch: None,
            tally: Tally::default(),
            journal,
            stats,
        }
    }

    /// Encodes one frame straight into the batch.
    pub(super) fn push(
        &mut self,
        received_ns: i64,
        peer: SocketAddr,
        raw: &[u8],
        flags: RecordFlags,
    ) {
        let record = IngestRecord::syslog(received_ns, self.listener, Some(peer), flags, raw);
        self.batch
            .get_or_insert_with(|| Batch::with_capacity(BATCH_INITIAL_BYTES))
            .push_with(|out| record.encode_into(out));
        self.tally.events += 1;
        self.tally.truncated += u64::from(flags.contains(RecordFlags::TRUNCATED));
        self.tally.incomplete += u64::from(flags.contains(RecordFlags::INCOMPLETE));
    }

    pub(super) fn full(&self) -> bool {
        self.batch
            .as_ref()
            .is_some_and(|b| b.bytes() >= BATCH_TARGET_BYTES)
    }

    /// Records waiting in the batch.
    #[cfg(test)]
    pub(super) fn pending(&self) -> usize {
        self.batch.as_ref().map_or(0, Batch::len)
    }

    /// Appends the batch (waiting if the journal applies backpressure).
    pub(super) async fn flush(&mut self) -> Result<(), SourceError> {
        self.tally.flush(&self.stats);
        let Some(batch) = self.batch.take().filter(|b| !b.is_empty()) else {
            return Ok(());
        };
        self.journal
            .append(batch)
            .await
            .map(|_| ())
            .map_err(|source| SourceError::Journal {
                source_name: self.name.clone(),
                source,
            })
    }

    pub(super) fn error(&self) {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
    }
}
