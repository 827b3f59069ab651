//! Per-source counters, shared with the status endpoint through an `Arc`. Updated once
//! per read or batch, not per message. One struct for every kind of source: a figure a
//! kind does not have stays zero, and `status` shows only what applies.

use std::sync::atomic::AtomicU64;

/// Counters of one source.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// Messages journalled (including truncated and incomplete ones).
    pub received_events: AtomicU64,
    /// Bytes received (datagram, stream or file bytes, before framing).
    pub received_bytes: AtomicU64,
    /// Messages truncated to the maximum size.
    pub truncated: AtomicU64,
    /// Messages cut short: by the end of a connection, or a file line that never got
    /// its newline.
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
    /// TLS connections whose handshake failed or timed out (a client certificate
    /// missing or refused, a protocol error, a slow client), each closed at once.
    pub tls_handshake_failures: AtomicU64,
    /// Read, receive, accept and open errors.
    pub errors: AtomicU64,
    /// UDP datagrams the kernel dropped because the receive buffer was full: UDP
    /// cannot be slowed down, so these are counted, never silent (read from
    /// `/proc/net/udp`).
    pub kernel_drops: AtomicU64,
    /// Checkpoints written, and those that failed (each failure is also logged).
    pub checkpoints: AtomicU64,
    pub checkpoint_errors: AtomicU64,
    /// Files being read now (file sources).
    pub files_open: AtomicU64,
    /// Files followed through a rotation (renamed or replaced), and files found
    /// truncated in place (`copytruncate`: read again from the start).
    pub file_rotations: AtomicU64,
    pub file_truncations: AtomicU64,
    /// Times a source's helper process (e.g. `journalctl`) had to be restarted.
    pub restarts: AtomicU64,
}
