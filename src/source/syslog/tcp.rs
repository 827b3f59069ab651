//! TCP listeners: connections framed per RFC 6587 (see [`crate::source::framing`]),
//! admitted by a [`Gate`] (caps per listener, per peer, and the process-wide descriptor
//! budget), closed after `idle_timeout` without data, reading through the shared
//! [`ReadPool`] so that an idle connection holds no buffer.
//!
//! Backpressure: `Journal::append` may wait. A connection then simply stops reading,
//! so the sender's window fills and it slows down.
//!
//! Shutdown: the listener stops accepting, and each connection reads what is already
//! readable without waiting (up to [`SHUTDOWN_DRAIN_LIMIT`]), journals it (a frame cut
//! short is kept, flagged incomplete), then ends. [`run_tcp`] returns only after all of
//! that, so the daemon can close the journal knowing nothing is in flight.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::sink::Sink;
use super::{ListenerSpec, SourceError, SourceStats, BURST_LIMIT, SHUTDOWN_DRAIN_LIMIT};
use crate::journal::Journal;
use crate::record::now_ns;
use crate::source::framing::FrameDecoder;
use crate::source::limits::{Admission, Gate, ReadPool, Refusal};
use crate::throttle::{Backoff, Throttle};

use super::tls::{Stream, TlsServer};

/// How often a recurring accept failure or refusal is logged (with its count).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// What a TCP listener shares with the rest of the daemon: its admission gate and the
/// read buffers of all stream listeners; for a TLS listener its acceptor.
pub struct StreamContext {
    pub gate: Gate,
    pub pool: Arc<ReadPool>,
    pub tls: Option<TlsServer>,
}

/// Pending connections the kernel queues before we accept them (capped by
/// `net.core.somaxconn`, 4096 by default). A collector sees reconnect storms: after a
/// restart every sender reconnects at once, and with the usual 128 the kernel drops
/// SYNs, which costs each unlucky sender a 1 s retransmit (or more).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds a TCP listener with [`LISTEN_BACKLOG`] (tokio's `bind` uses 128).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restart must not wait for old connections'
    // TIME_WAIT to expire.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accepts TCP connections until `shutdown`; returns after every connection has ended.
pub async fn run_tcp(
    listener: TcpListener,
    spec: ListenerSpec,
    journal: Journal,
    stats: Arc<SourceStats>,
    cx: StreamContext,
    shutdown: CancellationToken,
) -> Result<(), SourceError> {
    let spec = Arc::new(spec);
    let idle = cx.gate.limits().idle_timeout;
    // Cancelled on shutdown, or by us when the journal fails for one connection.
    let stop = shutdown.child_token();
    let mut tasks: JoinSet<Result<(), SourceError>> = JoinSet::new();
    let mut failure: Option<SourceError> = None;
    let mut backoff = Backoff::default();
    let mut accept_log = Throttle::new(LOG_EVERY);
    let mut refusal_log = Throttle::new(LOG_EVERY);
    let handshake_log = Arc::new(std::sync::Mutex::new(Throttle::new(LOG_EVERY)));
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                reap(done, &stats, &stop, &mut failure);
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff.reset();
                    match cx.gate.admit(peer.ip().to_canonical()) {
                        Ok(admission) => {
                            stats.connections.fetch_add(1, Ordering::Relaxed);
                            debug!(listener = %spec.name, %peer, "connection accepted");
                            tasks.spawn(connection(
                                stream,
                                peer,
                                Conn {
                                    spec: spec.clone(),
                                    journal: journal.clone(),
                                    stats: stats.clone(),
                                    pool: cx.pool.clone(),
                                    idle,
                                    admission,
                                    tls: cx.tls.clone(),
                                    handshake_log: handshake_log.clone(),
                                },
                                stop.clone(),
                            ));
                        }
                        Err(refusal) => {
                            refuse(stream);
                            stats.refused_connections[refusal_index(refusal)]
                                .fetch_add(1, Ordering::Relaxed);
                            if let Some(n) = refusal_log.hit(Instant::now()) {
                                warn!(listener = %spec.name, %peer, cap = refusal.as_str(), refused = n, "connection refused: a connection cap is reached (counted in sealtrail_connections_refused_total)");
                            }
                        }
                    }
                }
                Err(e) => {
                    // EMFILE and friends: the descriptor budget should prevent them, but
                    // another process or a tiny limit can still cause them. Back off
                    // instead of spinning, and log once per interval, not per failure.
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    let pause = backoff.step();
                    if let Some(n) = accept_log.hit(Instant::now()) {
                        warn!(listener = %spec.name, error = %e, failures = n, retry_in_ms = pause.as_millis() as u64, "accept failed; backing off");
                    }
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
    }
    // Stop accepting: new connections are refused while the old ones drain.
    drop(listener);
    while let Some(done) = tasks.join_next().await {
        reap(done, &stats, &stop, &mut failure);
    }
    failure.map_or(Ok(()), Err)
}

/// Index into [`SourceStats::refused_connections`].
pub fn refusal_index(r: Refusal) -> usize {
    match r {
        Refusal::Listener => 0,
        Refusal::Peer => 1,
        Refusal::Descriptors => 2,
    }
}

/// Closes a refused connection with a reset: the sender learns at once that nothing
/// was taken (a plain close would let its first writes vanish into a closing socket),
/// and no TIME_WAIT state is left behind.
fn refuse(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

fn reap(
    done: Result<Result<(), SourceError>, tokio::task::JoinError>,
    stats: &SourceStats,
    stop: &CancellationToken,
    failure: &mut Option<SourceError>,
) {
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            warn!(error = %e, "stopping the listener");
            stop.cancel();
            failure.get_or_insert(e);
        }
        Err(e) => {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            warn!(error = %e, "connection task failed");
        }
    }
}

/// How the shutdown drain reads a connection: plain syscalls, or through rustls.
type DrainRead = Box<dyn FnMut(&mut [u8]) -> io::Result<usize> + Send>;

/// How a burst of reads ended.
enum ReadEnd {
    /// No more data for now.
    Drained,
    /// The burst's limit was reached: there may be more right away.
    Limit,
    /// The peer closed.
    Eof,
    /// Nothing arrived for `idle_timeout`: we close.
    Idle,
    /// The read failed: this connection ends.
    Failed(io::Error),
}

/// What one connection task owns besides its socket.
struct Conn {
    spec: Arc<ListenerSpec>,
    journal: Journal,
    stats: Arc<SourceStats>,
    pool: Arc<ReadPool>,
    idle: Duration,
    /// Its place under the caps, given back when the task ends.
    admission: Admission,
    /// TLS listeners: the handshake comes first.
    tls: Option<TlsServer>,
    handshake_log: Arc<std::sync::Mutex<Throttle>>,
}

/// Counts a connection as open for as long as it lives.
struct Active(Arc<SourceStats>);

impl Active {
    fn new(stats: &Arc<SourceStats>) -> Active {
        stats.active_connections.fetch_add(1, Ordering::Relaxed);
        Active(stats.clone())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One TCP connection: reads, frames and journals until EOF, error, idleness or `stop`.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    conn: Conn,
    stop: CancellationToken,
) -> Result<(), SourceError> {
    let Conn {
        spec,
        journal,
        stats,
        pool,
        idle,
        admission: _admission,
        tls,
        handshake_log,
    } = conn;
    let _active = Active::new(&stats);
    // Detect peers that vanished without a FIN (best effort).
    if let Err(e) = socket2::SockRef::from(&stream).set_keepalive(true) {
        debug!(listener = %spec.name, error = %e, "could not enable TCP keepalive");
    }
    let mut decoder = FrameDecoder::new(spec.max_message_bytes);
    let mut sink = Sink::new(&spec, journal, stats.clone());
    let (mut stream, mut data_waiting) = match tls {
        None => (Stream::Plain(stream), false),
        Some(tls) => {
            let hs = tokio::select! {
                biased;
                _ = stop.cancelled() => return Ok(()),
                hs = tls.accept(stream) => hs,
            };
            match hs {
                Ok((tls_stream, identity)) => {
                    debug!(listener = %spec.name, %peer, client = identity.as_deref().unwrap_or("-"), "TLS connection established");
                    sink.client = identity.map(String::into_bytes);
                    // The client's first records may have come with its last handshake
                    // message: read once before waiting for the socket.
                    (tls_stream, true)
                }
                Err(why) => {
                    stats.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
                    let n = handshake_log
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .hit(Instant::now());
                    if let Some(n) = n {
                        warn!(listener = %spec.name, %peer, error = %why, failures = n, "TLS handshake failed; the connection is closed (counted in sealtrail_tls_handshake_failures_total)");
                    }
                    return Ok(());
                }
            }
        }
    };
    let end = loop {
        let ready = if std::mem::take(&mut data_waiting) {
            (!stop.is_cancelled()).then_some(Ok(Ok(())))
        } else {
            tokio::select! {
                biased;
                _ = stop.cancelled() => None,
                ready = tokio::time::timeout(idle, stream.readable()) => Some(ready),
            }
        };
        let end = match ready {
            None => break None,
            Some(Err(_elapsed)) => ReadEnd::Idle,
            Some(Ok(Err(e))) => ReadEnd::Failed(e),
            Some(Ok(Ok(()))) => {
                // A buffer only while reading: idle connections cost no buffer memory,
                // and at most the pool's slots read (and hold batches) at once.
                let slot = tokio::select! {
                    biased;
                    _ = stop.cancelled() => None,
                    slot = pool.acquire() => slot,
                };
                let Some(mut slot) = slot else { break None };
                let read = |b: &mut [u8]| stream.try_read(b);
                let end = read_burst(read, slot.buf(), &mut decoder, &mut sink, peer, BURST_LIMIT)
                    .await?;
                sink.flush().await?;
                if matches!(end, ReadEnd::Limit) {
                    // More may be waiting, in the socket or (TLS) already decrypted.
                    data_waiting = true;
                }
                end
            }
        };
        match end {
            ReadEnd::Drained | ReadEnd::Limit => {}
            end => break Some(end),
        }
    };
    let end = match end {
        Some(end) => end,
        // Shutdown: read what the kernel already holds, with plain non-blocking
        // syscalls (the reactor's readiness may lag behind), then close.
        None => {
            // Plain TCP with plain syscalls (the reactor's readiness may lag behind);
            // TLS through rustls, what the reactor already knows is readable.
            let read: io::Result<DrainRead> = match stream {
                Stream::Plain(s) => s
                    .into_std()
                    .map(|std| Box::new(move |b: &mut [u8]| (&std).read(b)) as Box<_>),
                mut tls => Ok(Box::new(move |b: &mut [u8]| tls.try_read(b)) as Box<_>),
            };
            match (read, pool.acquire().await) {
                (Ok(read), Some(mut slot)) => {
                    read_burst(
                        read,
                        slot.buf(),
                        &mut decoder,
                        &mut sink,
                        peer,
                        SHUTDOWN_DRAIN_LIMIT,
                    )
                    .await?
                }
                (Err(e), _) => ReadEnd::Failed(e),
                (Ok(_), None) => ReadEnd::Eof,
            }
        }
    };
    match &end {
        ReadEnd::Failed(e) => {
            sink.error();
            warn!(listener = %sink.name, %peer, error = %e, "TCP read failed, closing the connection");
        }
        ReadEnd::Idle => {
            stats.idle_closed.fetch_add(1, Ordering::Relaxed);
            debug!(listener = %sink.name, %peer, idle_timeout = ?idle, "closing an idle connection");
        }
        ReadEnd::Drained | ReadEnd::Limit | ReadEnd::Eof => {}
    }
    // Whatever is left of a frame arrived and must not be lost.
    decoder.finish(&mut |f, fl| sink.push(now_ns(), peer, f, fl));
    sink.flush().await?;
    debug!(listener = %spec.name, %peer, "connection ended");
    Ok(())
}

/// Reads with `read` until the socket has nothing more (or `limit` bytes were read),
/// decoding each read into the batch and appending whenever the batch is full.
async fn read_burst(
    mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    buf: &mut [u8],
    decoder: &mut FrameDecoder,
    sink: &mut Sink,
    peer: SocketAddr,
    limit: usize,
) -> Result<ReadEnd, SourceError> {
    let mut total = 0usize;
    while total < limit {
        match read(buf) {
            Ok(0) => return Ok(ReadEnd::Eof),
            Ok(n) => {
                total = total.saturating_add(n);
                let received_ns = now_ns();
                sink.batch.read(n);
                decoder.decode(&buf[..n], &mut |frame, flags| {
                    sink.push(received_ns, peer, frame, flags)
                });
                if sink.full() {
                    sink.flush().await?;
                }
                // A fast sender must not monopolise the worker thread.
                tokio::task::coop::consume_budget().await;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadEnd::Drained),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Ok(ReadEnd::Failed(e)),
        }
    }
    Ok(ReadEnd::Limit)
}

#[cfg(test)]
#[path = "tcp_tests.rs"]
mod tests;
