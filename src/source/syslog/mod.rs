//! Syslog listeners: UDP ([`udp`]), TCP ([`tcp`], RFC 6587 framing; [`tls`] on top)
//! and the local unix datagram socket ([`unix`], with the senders' credentials),
//! appending ingest records to the journal in batches (`sink`).
//!
//! The hot path does as little as possible: one clock reading per socket read (every
//! frame of that read shares it), frames encoded straight into the journal batch (no
//! per-message allocation), and one journal append per drained socket or per
//! [`crate::source::batch::BATCH_TARGET_BYTES`]. Parsing happens later, when the journal is read.
//!
//! Backpressure: `Journal::append` may wait. A TCP connection then simply stops reading,
//! so the sender's window fills and it slows down; UDP cannot be slowed, the kernel
//! drops what overflows the (enlarged) receive buffer. A unix datagram socket's full
//! queue makes a blocking sender wait in `send` (see [`unix`]).
//!
//! UDP and the unix socket: one datagram is one message; one trailing NUL, then LF (or CRLF), is the sender's line end
//! and removed, an empty datagram is skipped. TCP framing: see [`super::framing`].
//!
//! Shutdown: the listener stops accepting, and each connection reads what is already
//! readable without waiting (up to [`SHUTDOWN_DRAIN_LIMIT`]), journals it (a frame cut
//! short is kept, flagged incomplete), then ends. `run_*` return only after all of
//! that, so the daemon can close the journal knowing nothing is in flight.

mod datagram;
mod sink;
pub mod tcp;
pub mod tls;
pub mod udp;
pub mod unix;

use std::sync::Arc;

use super::limits::Gate;
use super::{BuildError, Built, SourceContext};
use crate::config::{SyslogListener, Transport as ConfigTransport};

#[cfg(test)]
mod test_util;

pub use super::{SourceError, SourceStats};

pub use super::limits::READ_BUFFER_BYTES;
pub use tcp::{run_tcp, StreamContext};
pub use udp::{run_udp, udp_kernel_drops};

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
    /// One datagram is one message, from a local process (a unix socket).
    Unix,
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

/// Binds a `[[syslog]]` listener and returns its task: the source component of syslog.
pub fn build(l: &SyslogListener, cx: SourceContext) -> Result<Built, BuildError> {
    let spec = ListenerSpec {
        index: cx.index,
        name: cx.name.clone(),
        transport: match l.transport {
            ConfigTransport::Udp => Transport::Udp,
            ConfigTransport::Tcp | ConfigTransport::Tls => Transport::Tcp,
            ConfigTransport::Unix => Transport::Unix,
        },
        max_message_bytes: l.max_message_bytes,
    };
    let SourceContext {
        journal,
        stats,
        shutdown,
        shared,
        ..
    } = cx;
    // Checked with the configuration: a network listener has an address, a unix one
    // a path.
    let address = || {
        l.address.ok_or_else(|| BuildError::Setup {
            source_name: spec.name.clone(),
            message: "no address".into(),
        })
    };
    match l.transport {
        ConfigTransport::Unix => build_unix(l, spec, journal, stats, shutdown),
        ConfigTransport::Udp => {
            let address = address()?;
            let bind_err = |source| BuildError::Bind {
                transport: "udp",
                address,
                source,
            };
            let std = std::net::UdpSocket::bind(address).map_err(bind_err)?;
            std.set_nonblocking(true).map_err(bind_err)?;
            let socket = tokio::net::UdpSocket::from_std(std).map_err(bind_err)?;
            let local = socket.local_addr().map_err(bind_err)?;
            let watch = udp::watch_drops(
                spec.name.clone(),
                local.port(),
                stats.clone(),
                shutdown.clone(),
            );
            let task = async move {
                let (run, ()) =
                    tokio::join!(run_udp(socket, spec, journal, stats, shutdown), watch);
                run
            };
            Ok(Built {
                task: Box::pin(task),
                local_addr: Some(local),
            })
        }
        ConfigTransport::Tcp | ConfigTransport::Tls => {
            let tls = match (&l.tls, l.transport) {
                (Some(t), ConfigTransport::Tls) => {
                    Some(t.server().map_err(|e| BuildError::Setup {
                        source_name: spec.name.clone(),
                        message: format!("tls.{e}"),
                    })?)
                }
                _ => None,
            };
            let transport = if tls.is_some() { "tls" } else { "tcp" };
            let address = address()?;
            let bind_err = |source| BuildError::Bind {
                transport,
                address,
                source,
            };
            let listener = tcp::bind(address).map_err(bind_err)?;
            let local = listener.local_addr().map_err(bind_err)?;
            let cx = StreamContext {
                gate: Gate::new(l.limits(), shared.budget.clone()),
                pool: Arc::clone(&shared.pool),
                tls,
            };
            Ok(Built {
                task: Box::pin(run_tcp(listener, spec, journal, stats, cx, shutdown)),
                local_addr: Some(local),
            })
        }
    }
}

/// Binds a `transport = "unix"` listener: its socket file, mode and group.
fn build_unix(
    l: &SyslogListener,
    spec: ListenerSpec,
    journal: crate::journal::Journal,
    stats: Arc<SourceStats>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<Built, BuildError> {
    let setup = |message: String| BuildError::Setup {
        source_name: spec.name.clone(),
        message,
    };
    let path = l.path.as_deref().ok_or_else(|| setup("no path".into()))?;
    let gid = match &l.group {
        Some(g) => Some(g.gid().map_err(|e| setup(format!("group: {e}")))?),
        None => None,
    };
    let mode = l.mode.map_or(unix::DEFAULT_MODE, |m| m.0);
    let listener = unix::bind(path, mode, gid).map_err(|error| BuildError::Unix {
        source_name: spec.name.clone(),
        error,
    })?;
    tracing::info!(source = %spec.name, path = %listener.path().display(), mode = %format!("{mode:04o}"), "listening on the unix socket");
    Ok(Built {
        task: Box::pin(unix::run_unix(listener, spec, journal, stats, shutdown)),
        local_addr: None,
    })
}
