//! Where a listener task's records go: its batch, and the journal it is appended to.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{ListenerSpec, SourceError, SourceStats};
use crate::journal::Journal;
use crate::record::{IngestRecord, Origin, PeerCred, RecordFlags, Sender};
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

    /// Encodes one frame from a network peer straight into the batch.
    pub(super) fn push(
        &mut self,
        received_ns: i64,
        peer: SocketAddr,
        raw: &[u8],
        flags: RecordFlags,
    ) {
        let sender = Sender {
            peer: Some(peer),
            client: self.client.as_deref(),
            cred: None,
        };
        push(
            &mut self.batch,
            self.listener,
            received_ns,
            sender,
            raw,
            flags,
        );
    }

    /// Encodes one message from a local process (a unix socket: no address, the
    /// credentials the kernel reported) straight into the batch.
    pub(super) fn push_local(
        &mut self,
        received_ns: i64,
        cred: Option<PeerCred>,
        raw: &[u8],
        flags: RecordFlags,
    ) {
        let sender = Sender {
            peer: None,
            client: None,
            cred,
        };
        push(
            &mut self.batch,
            self.listener,
            received_ns,
            sender,
            raw,
            flags,
        );
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

/// Encodes one syslog message into `batch`.
fn push(
    batch: &mut RecordBatch,
    source: u16,
    received_ns: i64,
    sender: Sender<'_>,
    raw: &[u8],
    flags: RecordFlags,
) {
    batch.push(&IngestRecord {
        received_ns,
        source,
        origin: Origin::Syslog(sender),
        flags,
        raw,
    });
}
