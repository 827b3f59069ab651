//! The one receive loop of the datagram listeners (UDP and the unix socket): one
//! datagram is one message, the sender's line end is removed, an empty one is skipped,
//! a longer one than the maximum is truncated and flagged, and records go into the
//! listener's batch.

use std::io;
use std::net::SocketAddr;

use tracing::warn;

use super::sink::Sink;
use super::SourceError;
use crate::record::{now_ns, PeerCred, RecordFlags};

/// Who sent a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum From {
    /// A network peer (UDP).
    Peer(SocketAddr),
    /// A local process, with its credentials when the kernel gave them (unix socket).
    Local(Option<PeerCred>),
}

/// One received datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Datagram {
    /// Its whole length, also when it was longer than the buffer (`MSG_TRUNC`).
    pub len: usize,
    pub from: From,
}

/// The sender's line end removed: one NUL (Python's `SysLogHandler` appends one),
/// then one LF (with a CR before it).
pub(super) fn strip_line_end(msg: &[u8]) -> &[u8] {
    let msg = msg.strip_suffix(b"\0").unwrap_or(msg);
    match msg.strip_suffix(b"\n") {
        Some(m) => m.strip_suffix(b"\r").unwrap_or(m),
        None => msg,
    }
}

/// Receives datagrams with `recv` until none is left (or `limit` bytes were read);
/// returns whether a receive failed. `buf` should have room for `max` bytes and a line
/// end; `what` names the transport in the log.
pub(super) async fn drain(
    mut recv: impl FnMut(&mut [u8]) -> io::Result<Datagram>,
    buf: &mut [u8],
    max: usize,
    limit: usize,
    sink: &mut Sink,
    what: &str,
) -> Result<bool, SourceError> {
    let mut read = 0usize;
    while read < limit {
        match recv(buf) {
            Ok(d) => {
                let received_ns = now_ns();
                // A flood must not monopolise the worker thread, empty datagrams
                // included (each counts at least one byte towards `limit`).
                tokio::task::coop::consume_budget().await;
                read = read.saturating_add(d.len.max(1));
                sink.batch.read(d.len);
                // Longer than the buffer: the kernel kept its start, the rest is gone.
                let cut = d.len > buf.len();
                let mut msg = &buf[..d.len.min(buf.len())];
                if !cut {
                    msg = strip_line_end(msg);
                }
                if msg.is_empty() {
                    continue;
                }
                let mut flags = RecordFlags::EMPTY;
                if cut || msg.len() > max {
                    msg = &msg[..msg.len().min(max)];
                    flags = RecordFlags::TRUNCATED;
                }
                match d.from {
                    From::Peer(peer) => sink.push(received_ns, peer, msg, flags),
                    From::Local(cred) => sink.push_local(received_ns, cred, msg, flags),
                }
                if sink.full() {
                    sink.flush().await?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                sink.error();
                warn!(listener = %sink.name, error = %e, "{what} receive failed");
                return Ok(true);
            }
        }
    }
    Ok(false)
}
