//! Where a listener task's records go: its batch, and the journal it is appended to.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{ListenerSpec, SourceError, SourceStats};
use crate::journal::Journal;
use crate::record::{IngestRecord, RecordFlags};
use crate::source::batch::RecordBatch;

/// A task's batch under construction. The batch is allocated with its first record and
/// handed to the journal whole, so a quiet connection holds no buffer at all.
pub(super) struct Sink {
    listener: u16,
    pub(super) name: String,
    pub(super) batch: RecordBatch,
    journal: Journal,
    pub(super) stats: Arc<SourceStats>,
    /// The connection's verified TLS client identity, written into each record.
    pub(super) client: Option<Vec<u8>>,
}

impl Sink {
    pub(super) fn new(spec: &ListenerSpec, journal: Journal, stats: Arc<SourceStats>) -> Sink {
        Sink {
            listener: spec.index,
            name: spec.name.clone(),
            batch: RecordBatch::default(),
            journal,
            stats,
            client: None,
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
        self.batch.push(&IngestRecord {
            received_ns,
            source: self.listener,
            origin: crate::record::Origin::Syslog(crate::record::Sender {
                peer: Some(peer),
                client: self.client.as_deref(),
                cred: None,
            }),
            flags,
            raw,
        });
    }

    pub(super) fn full(&self) -> bool {
        self.batch.full()
    }

    /// Records waiting in the batch.
    #[cfg(test)]
    pub(super) fn pending(&self) -> usize {
        self.batch.len()
    }

    /// Appends the batch (waiting if the journal applies backpressure).
    pub(super) async fn flush(&mut self) -> Result<(), SourceError> {
        let Some(batch) = self.batch.take(&self.stats) else {
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
