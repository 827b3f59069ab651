//! Syslog listeners: UDP ([`udp`]) and TCP ([`tcp`], RFC 6587 framing), appending
//! ingest records to the journal in batches (`sink`).
//!
//! The hot path does as little as possible: one clock reading per socket read (every
//! frame of that read shares it), frames encoded straight into the journal batch (no
//! per-message allocation), and one journal append per drained socket or per
//! [`BATCH_TARGET_BYTES`]. Parsing happens later, when the journal is read.
//!
//! Backpressure: `Journal::append` may wait. A TCP connection then simply stops reading,
//! so the sender's window fills and it slows down; UDP cannot be slowed, the kernel
//! drops what overflows the (enlarged) receive buffer.
//!
//! UDP: one datagram is one message; one trailing LF (or CRLF) is the sender's line end
//! and removed, an empty datagram is skipped. TCP framing: see [`super::framing`].
//!
//! Shutdown: the listener stops accepting, and each connection reads what is already
//! readable without waiting (up to [`SHUTDOWN_DRAIN_LIMIT`]), journals it (a frame cut
//! short is kept, flagged incomplete), then ends. `run_*` return only after all of
//! that, so the daemon can close the journal knowing nothing is in flight.

mod sink;
pub mod tcp;
pub mod udp;

#[cfg(test)]
mod test_util;

use std::io;
use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::journal::JournalError;

pub use super::limits::READ_BUFFER_BYTES;
pub use tcp::{run_tcp, StreamContext};
pub use udp::{run_udp, udp_kernel_drops};

/// A batch is appended once it holds this much, even if the socket still has data.
pub const BATCH_TARGET_BYTES: usize = 256 * 1024;
/// Requested UDP receive buffer (best effort; the kernel caps it at `rmem_max`): it is
/// all that absorbs a burst while the journal makes us wait.
pub const UDP_RECV_BUFFER_BYTES: usize = 8 * 1024 * 1024;
/// A burst of reads stops after this much, so a sender that never pauses cannot keep
/// a task from noticing shutdown.
const BURST_LIMIT: usize = 1024 * 1024;
/// At shutdown a connection reads at most this much more, so a sender that never pauses
/// cannot hold the daemon open.
pub const SHUTDOWN_DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// Transport of a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// One datagram is one message.
    Udp,
    /// A byte stream framed per RFC 6587.
    Tcp,
}

/// What a listener needs to know about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerSpec {
    /// Index stored in every record (config order); the normaliser maps it back to the
    /// listener's name and time zone.
    pub index: u16,
    /// Name, for logs.
    pub name: String,
    /// Transport.
    pub transport: Transport,
    /// Longer messages are truncated to this many bytes and flagged.
    pub max_message_bytes: usize,
}

/// Counters for metrics, shared with the metrics endpoint through an `Arc`. Updated once
/// per read or batch, not per message.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// Messages journalled (including truncated and incomplete ones).
    pub received_events: AtomicU64,
    /// Bytes received from the network (datagram or stream bytes, before framing).
    pub received_bytes: AtomicU64,
    /// Messages truncated to the maximum size.
    pub truncated: AtomicU64,
    /// Messages cut short by the end of the connection.
    pub incomplete: AtomicU64,
    /// TCP connections accepted.
    pub connections: AtomicU64,
    /// TCP connections open now.
    pub active_connections: AtomicU64,
    /// TCP connections closed at once because a cap was reached (listener, peer or
    /// descriptor budget), by cap: `[max_connections, max_connections_per_peer,
    /// descriptor budget]`.
    pub refused_connections: [AtomicU64; 3],
    /// TCP connections closed after `idle_timeout` without data.
    pub idle_closed: AtomicU64,
    /// Read, receive and accept errors.
    pub errors: AtomicU64,
    /// UDP datagrams the kernel dropped because the receive buffer was full: UDP
    /// cannot be slowed down, so these are counted, never silent (read from
    /// `/proc/net/udp`, see [`udp_kernel_drops`]).
    pub kernel_drops: AtomicU64,
}

/// Why a listener stopped.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The journal refused a batch; nothing received from now on could be kept.
    #[error("syslog listener {listener}: journal append failed: {source}")]
    Journal {
        /// Listener name.
        listener: String,
        /// The journal's error.
        #[source]
        source: JournalError,
    },
    /// The socket itself failed (not a single read).
    #[error("syslog listener {listener}: {source}")]
    Io {
        /// Listener name.
        listener: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// The one clock reading per socket read.
fn now_ns() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}
