//! Syslog listeners: UDP and TCP (RFC 6587 framing), appending ingest records to the
//! journal in batches.
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

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::framing::FrameDecoder;
use crate::journal::{Batch, Journal, JournalError};
use crate::record::{IngestRecord, RecordFlags};

/// Bytes read from a socket at once (a UDP datagram never exceeds it).
pub const READ_BUFFER_BYTES: usize = 64 * 1024;
/// A batch is appended once it holds this much, even if the socket still has data.
pub const BATCH_TARGET_BYTES: usize = 256 * 1024;
/// Initial capacity of a batch: enough for a burst, without reserving a full batch for
/// every single quiet message.
const BATCH_INITIAL_BYTES: usize = 64 * 1024;
/// Requested UDP receive buffer (best effort; the kernel caps it at `rmem_max`): it is
/// all that absorbs a burst while the journal makes us wait.
pub const UDP_RECV_BUFFER_BYTES: usize = 8 * 1024 * 1024;
/// A burst of reads stops after this much, so a sender that never pauses cannot keep
/// a task from noticing shutdown.
const BURST_LIMIT: usize = 1024 * 1024;
/// At shutdown a connection reads at most this much more, so a sender that never pauses
/// cannot hold the daemon open.
pub const SHUTDOWN_DRAIN_LIMIT: usize = 16 * 1024 * 1024;
/// Pause after a failed `accept` or `recv` (e.g. out of file descriptors), so a
/// persistent error does not spin.
const ERROR_PAUSE: Duration = Duration::from_millis(50);

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
    /// Read, receive and accept errors.
    pub errors: AtomicU64,
    /// UDP datagrams the kernel dropped because the receive buffer was full: UDP
    /// cannot be slowed down, so these are counted, never silent (read from
    /// `/proc/net/udp`, see [`udp_kernel_drops`]).
    pub kernel_drops: AtomicU64,
}

/// Datagrams the kernel has dropped on the UDP sockets bound to `port` (the `drops`
/// column of `/proc/net/udp` and `/proc/net/udp6`); `None` when neither can be read.
pub fn udp_kernel_drops(port: u16) -> Option<u64> {
    let mut found = None;
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for drops in parse_udp_drops(&text, port) {
            *found.get_or_insert(0) += drops;
        }
    }
    found
}

/// The `drops` of every row of a `/proc/net/udp{,6}` table whose local port is `port`.
fn parse_udp_drops(text: &str, port: u16) -> Vec<u64> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local_port = cols.get(1)?.rsplit(':').next()?;
            let local_port = u16::from_str_radix(local_port, 16).ok()?;
            (local_port == port).then_some(())?;
            cols.last()?.parse::<u64>().ok()
        })
        .collect()
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

/// Per-task counts, added to the shared [`SourceStats`] once per batch.
#[derive(Default)]
struct Tally {
    events: u64,
    bytes: u64,
    truncated: u64,
    incomplete: u64,
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

/// Where a task's records go: the batch under construction and its counts.
struct Sink {
    listener: u16,
    name: String,
    batch: Batch,
    tally: Tally,
    journal: Journal,
    stats: Arc<SourceStats>,
}

impl Sink {
    fn new(spec: &ListenerSpec, journal: Journal, stats: Arc<SourceStats>) -> Sink {
        Sink {
            listener: spec.index,
            name: spec.name.clone(),
            batch: Batch::with_capacity(BATCH_INITIAL_BYTES),
            tally: Tally::default(),
            journal,
            stats,
        }
    }

    /// Encodes one frame straight into the batch.
    fn push(&mut self, received_ns: i64, peer: SocketAddr, raw: &[u8], flags: RecordFlags) {
        let record = IngestRecord {
            received_ns,
            listener: self.listener,
            peer: Some(peer),
            flags,
            raw,
        };
        self.batch.push_with(|out| record.encode_into(out));
        self.tally.events += 1;
        self.tally.truncated += u64::from(flags.contains(RecordFlags::TRUNCATED));
        self.tally.incomplete += u64::from(flags.contains(RecordFlags::INCOMPLETE));
    }

    fn full(&self) -> bool {
        self.batch.bytes() >= BATCH_TARGET_BYTES
    }

    /// Appends the batch (waiting if the journal applies backpressure).
    async fn flush(&mut self) -> Result<(), SourceError> {
        self.tally.flush(&self.stats);
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Batch::with_capacity(BATCH_INITIAL_BYTES));
        self.journal
            .append(batch)
            .await
            .map(|_| ())
            .map_err(|source| SourceError::Journal {
                listener: self.name.clone(),
                source,
            })
    }

    fn error(&self) {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// The one clock reading per socket read.
fn now_ns() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// Receives syslog datagrams on `socket` until `shutdown`, then drains what is queued.
pub async fn run_udp(
    socket: UdpSocket,
    spec: ListenerSpec,
    journal: Journal,
    stats: Arc<SourceStats>,
    shutdown: CancellationToken,
) -> Result<(), SourceError> {
    if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(UDP_RECV_BUFFER_BYTES) {
        debug!(listener = %spec.name, error = %e, "could not enlarge the UDP receive buffer");
    }
    let max = spec.max_message_bytes.max(1);
    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    let mut sink = Sink::new(&spec, journal, stats);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            ready = socket.readable() => {
                ready.map_err(|source| SourceError::Io { listener: spec.name.clone(), source })?;
            }
        }
        let failed = drain_udp(
            |b| socket.try_recv_from(b),
            &mut buf,
            max,
            BURST_LIMIT,
            &mut sink,
        )
        .await?;
        sink.flush().await?;
        if failed {
            tokio::time::sleep(ERROR_PAUSE).await;
        }
    }
    // Shutdown: drain with plain non-blocking syscalls. tokio's `try_recv_from` only
    // tries when the reactor has already reported readiness, which may lag behind
    // what the kernel holds.
    let socket = socket.into_std().map_err(|source| SourceError::Io {
        listener: spec.name.clone(),
        source,
    })?;
    drain_udp(
        |b| socket.recv_from(b),
        &mut buf,
        max,
        SHUTDOWN_DRAIN_LIMIT,
        &mut sink,
    )
    .await?;
    sink.flush().await
}

/// Receives datagrams with `recv` until none is left (or `limit` bytes were read);
/// returns whether a receive failed.
async fn drain_udp(
    mut recv: impl FnMut(&mut [u8]) -> io::Result<(usize, SocketAddr)>,
    buf: &mut [u8],
    max: usize,
    limit: usize,
    sink: &mut Sink,
) -> Result<bool, SourceError> {
    let mut read = 0usize;
    while read < limit {
        match recv(buf) {
            Ok((n, peer)) => {
                let received_ns = now_ns();
                read = read.saturating_add(n);
                sink.tally.bytes += n as u64;
                let mut msg = &buf[..n];
                // The sender's line end is not part of the message.
                if let Some(m) = msg.strip_suffix(b"\n") {
                    msg = m.strip_suffix(b"\r").unwrap_or(m);
                }
                if msg.is_empty() {
                    continue;
                }
                let mut flags = RecordFlags::EMPTY;
                if msg.len() > max {
                    msg = &msg[..max];
                    flags = RecordFlags::TRUNCATED;
                }
                sink.push(received_ns, peer, msg, flags);
                if sink.full() {
                    sink.flush().await?;
                }
                // A flood must not monopolise the worker thread.
                tokio::task::coop::consume_budget().await;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                sink.error();
                warn!(listener = %sink.name, error = %e, "UDP receive failed");
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Accepts TCP connections until `shutdown`; returns after every connection has ended.
pub async fn run_tcp(
    listener: TcpListener,
    spec: ListenerSpec,
    journal: Journal,
    stats: Arc<SourceStats>,
    shutdown: CancellationToken,
) -> Result<(), SourceError> {
    let spec = Arc::new(spec);
    // Cancelled on shutdown, or by us when the journal fails for one connection.
    let stop = shutdown.child_token();
    let mut tasks: JoinSet<Result<(), SourceError>> = JoinSet::new();
    let mut failure: Option<SourceError> = None;
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                reap(done, &stats, &stop, &mut failure);
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    stats.connections.fetch_add(1, Ordering::Relaxed);
                    debug!(listener = %spec.name, %peer, "connection accepted");
                    tasks.spawn(connection(
                        stream,
                        peer,
                        spec.clone(),
                        journal.clone(),
                        stats.clone(),
                        stop.clone(),
                    ));
                }
                Err(e) => {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    warn!(listener = %spec.name, error = %e, "accept failed");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(ERROR_PAUSE) => {}
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

/// How a burst of reads ended.
enum ReadEnd {
    /// No more data for now.
    Drained,
    /// The peer closed.
    Eof,
    /// The read failed: this connection ends.
    Failed(io::Error),
}

/// One TCP connection: reads, frames and journals until EOF, error or `stop`.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    spec: Arc<ListenerSpec>,
    journal: Journal,
    stats: Arc<SourceStats>,
    stop: CancellationToken,
) -> Result<(), SourceError> {
    // Detect peers that vanished without a FIN (best effort).
    if let Err(e) = socket2::SockRef::from(&stream).set_keepalive(true) {
        debug!(listener = %spec.name, error = %e, "could not enable TCP keepalive");
    }
    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    let mut decoder = FrameDecoder::new(spec.max_message_bytes);
    let mut sink = Sink::new(&spec, journal, stats);
    let end = loop {
        let ready = tokio::select! {
            biased;
            _ = stop.cancelled() => None,
            ready = stream.readable() => Some(ready),
        };
        let end = match ready {
            None => break None,
            Some(Err(e)) => ReadEnd::Failed(e),
            Some(Ok(())) => {
                let read = |b: &mut [u8]| stream.try_read(b);
                read_burst(read, &mut buf, &mut decoder, &mut sink, peer, BURST_LIMIT).await?
            }
        };
        match end {
            ReadEnd::Drained => sink.flush().await?,
            end => break Some(end),
        }
    };
    let end = match end {
        Some(end) => end,
        // Shutdown: read what the kernel already holds, with plain non-blocking
        // syscalls (the reactor's readiness may lag behind), then close.
        None => match stream.into_std() {
            Ok(std) => {
                let read = |b: &mut [u8]| (&std).read(b);
                read_burst(
                    read,
                    &mut buf,
                    &mut decoder,
                    &mut sink,
                    peer,
                    SHUTDOWN_DRAIN_LIMIT,
                )
                .await?
            }
            Err(e) => ReadEnd::Failed(e),
        },
    };
    if let ReadEnd::Failed(e) = &end {
        sink.error();
        warn!(listener = %sink.name, %peer, error = %e, "TCP read failed, closing the connection");
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
                sink.tally.bytes += n as u64;
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
    Ok(ReadEnd::Drained)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    const E: RecordFlags = RecordFlags::EMPTY;
    const T: RecordFlags = RecordFlags::TRUNCATED;
    const I: RecordFlags = RecordFlags::INCOMPLETE;

    /// An owned copy of a journalled record.
    #[derive(Debug, PartialEq)]
    struct Got {
        listener: u16,
        peer: Option<SocketAddr>,
        flags: RecordFlags,
        raw: Vec<u8>,
        received_ns: i64,
    }

    /// Waits until everything queued so far is durable, then reads the journal back.
    async fn appended(journal: &Journal) -> Vec<Got> {
        let end = journal
            .append(crate::journal::Batch::default())
            .await
            .unwrap();
        journal.wait_durable(end).await.unwrap();
        let mut reader = journal.reader(0).unwrap();
        let mut out = Vec::new();
        while let Some((_, p)) = reader.next().unwrap() {
            let r = IngestRecord::decode(p).unwrap();
            out.push(Got {
                listener: r.listener,
                peer: r.peer,
                flags: r.flags,
                raw: r.raw.to_vec(),
                received_ns: r.received_ns,
            });
        }
        out
    }

    /// A real journal in a temporary directory that lives as long as the test process.
    fn test_journal() -> Journal {
        let dir = tempfile::tempdir().unwrap().keep();
        Journal::open(&dir, crate::journal::JournalOptions::default()).unwrap()
    }

    async fn wait_for(journal: &Journal, n: usize) -> Vec<Got> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let got = appended(journal).await;
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn spec(transport: Transport, max: usize) -> ListenerSpec {
        ListenerSpec {
            index: 3,
            name: "test".into(),
            transport,
            max_message_bytes: max,
        }
    }

    fn raw_and_flags(got: &[Got]) -> Vec<(&[u8], RecordFlags)> {
        got.iter().map(|g| (g.raw.as_slice(), g.flags)).collect()
    }

    fn assert_recent(got: &[Got]) {
        let now = now_ns();
        for g in got {
            assert!(
                (now - g.received_ns).abs() < 600_000_000_000,
                "received_ns {} not near now {now}",
                g.received_ns
            );
        }
    }

    #[test]
    fn udp_drops_are_read_from_the_proc_table() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  571: 0100007F:158A 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 51817 2 0000000000000000 17\n\
  572: 00000000:0202 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 51818 2 0000000000000000 3\n";
        assert_eq!(parse_udp_drops(table, 5514), vec![17]);
        assert_eq!(parse_udp_drops(table, 514), vec![3]);
        assert!(parse_udp_drops(table, 9).is_empty());
        assert!(parse_udp_drops("garbage\nmore garbage", 9).is_empty());
    }

    #[test]
    fn a_bound_udp_socket_shows_up_with_zero_drops() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        assert_eq!(udp_kernel_drops(port), Some(0));
    }

    #[tokio::test]
    async fn udp_datagrams_reach_the_journal() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let journal = test_journal();
        let stats = Arc::new(SourceStats::default());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run_udp(
            socket,
            spec(Transport::Udp, 10),
            journal.clone(),
            stats.clone(),
            shutdown.clone(),
        ));

        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let client_addr = client.local_addr().unwrap();
        for d in [
            &b"<13>one\n"[..],
            b"<13>two\r\n",
            b"<13>x\ny",
            b"",
            b"\n",
            b"<13>0123456789abc",
        ] {
            client.send_to(d, addr).await.unwrap();
        }
        let got = wait_for(&journal, 4).await;
        assert_eq!(
            raw_and_flags(&got),
            vec![
                (&b"<13>one"[..], E),
                (b"<13>two", E),
                (b"<13>x\ny", E),
                (b"<13>012345", T),
            ]
        );
        for g in &got {
            assert_eq!(g.listener, 3);
            assert_eq!(g.peer, Some(client_addr));
        }
        assert_recent(&got);
        shutdown.cancel();
        task.await.unwrap().unwrap();
        assert_eq!(stats.received_events.load(Ordering::Relaxed), 4);
        assert_eq!(stats.truncated.load(Ordering::Relaxed), 1);
        assert_eq!(
            stats.received_bytes.load(Ordering::Relaxed),
            8 + 9 + 7 + 1 + 17
        );
    }

    #[tokio::test]
    async fn udp_shutdown_drains_queued_datagrams() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        // Queued in the kernel before the listener ever runs.
        for i in 0..50 {
            client
                .send_to(format!("<13>msg {i}").as_bytes(), addr)
                .await
                .unwrap();
        }
        let journal = test_journal();
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        run_udp(
            socket,
            spec(Transport::Udp, 1024),
            journal.clone(),
            Arc::new(SourceStats::default()),
            shutdown,
        )
        .await
        .unwrap();
        let got = appended(&journal).await;
        assert_eq!(got.len(), 50);
        for (i, g) in got.iter().enumerate() {
            assert_eq!(g.raw, format!("<13>msg {i}").into_bytes());
        }
    }

    #[tokio::test]
    async fn udp_burst_larger_than_a_batch_is_appended_mid_drain_without_loss() {
        // A scripted receive function stands in for a socket holding a burst: 40
        // datagrams of 8000 bytes are more than one 256 KiB batch.
        let journal = test_journal();
        let mut sink = Sink::new(
            &spec(Transport::Udp, 65536),
            journal.clone(),
            Arc::new(SourceStats::default()),
        );
        let peer: SocketAddr = "192.0.2.1:5140".parse().unwrap();
        let mut left = 40;
        let recv = |b: &mut [u8]| {
            if left == 0 {
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            left -= 1;
            b[..8000].fill(b'x');
            Ok((8000, peer))
        };
        let mut buf = vec![0u8; READ_BUFFER_BYTES];
        let failed = drain_udp(recv, &mut buf, 65536, usize::MAX, &mut sink)
            .await
            .unwrap();
        assert!(!failed);
        let mid = appended(&journal).await.len();
        assert!(
            mid > 0 && mid < 40,
            "{mid} records appended before the final flush"
        );
        assert_eq!(sink.batch.len(), 40 - mid);
        sink.flush().await.unwrap();
        let got = appended(&journal).await;
        assert_eq!(got.len(), 40);
        assert!(got.iter().all(|g| g.raw == [b'x'; 8000] && g.flags == E));
        assert_eq!(sink.stats.received_bytes.load(Ordering::Relaxed), 320_000);
    }

    #[tokio::test]
    async fn udp_receive_error_is_counted_and_not_fatal() {
        let journal = test_journal();
        let stats = Arc::new(SourceStats::default());
        let mut sink = Sink::new(&spec(Transport::Udp, 100), journal.clone(), stats.clone());
        let mut buf = vec![0u8; 16];
        let failed = drain_udp(
            |_| Err(io::Error::from(io::ErrorKind::ConnectionRefused)),
            &mut buf,
            100,
            usize::MAX,
            &mut sink,
        )
        .await
        .unwrap();
        assert!(failed);
        assert_eq!(stats.errors.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn tcp_frames_reach_the_journal() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let journal = test_journal();
        let stats = Arc::new(SourceStats::default());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run_tcp(
            listener,
            spec(Transport::Tcp, 12),
            journal.clone(),
            stats.clone(),
            shutdown.clone(),
        ));

        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let client_addr = client.local_addr().unwrap();
        // Mixed framing, written in awkward pieces.
        let stream: &[u8] =
            b"<13>lf\r\n6 <13>oc<13>this line is too long\n\n20 <13>counted too long<13>ok\n9 <13>cut";
        for piece in stream.chunks(5) {
            client.write_all(piece).await.unwrap();
            client.flush().await.unwrap();
        }
        client.shutdown().await.unwrap();
        let got = wait_for(&journal, 6).await;
        assert_eq!(
            raw_and_flags(&got),
            vec![
                (&b"<13>lf"[..], E),
                (b"<13>oc", E),
                (b"<13>this lin", T),
                (b"<13>counted ", T),
                (b"<13>ok", E),
                (b"<13>cut", I),
            ]
        );
        assert!(got
            .iter()
            .all(|g| g.peer == Some(client_addr) && g.listener == 3));
        assert_recent(&got);
        shutdown.cancel();
        task.await.unwrap().unwrap();
        assert_eq!(stats.connections.load(Ordering::Relaxed), 1);
        assert_eq!(stats.received_events.load(Ordering::Relaxed), 6);
        assert_eq!(stats.truncated.load(Ordering::Relaxed), 2);
        assert_eq!(stats.incomplete.load(Ordering::Relaxed), 1);
        assert_eq!(
            stats.received_bytes.load(Ordering::Relaxed),
            stream.len() as u64
        );
    }

    #[tokio::test]
    async fn tcp_many_connections_and_large_volume() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let journal = test_journal();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run_tcp(
            listener,
            spec(Transport::Tcp, 2048),
            journal.clone(),
            Arc::new(SourceStats::default()),
            shutdown.clone(),
        ));
        let mut clients = Vec::new();
        for c in 0..4 {
            clients.push(tokio::spawn(async move {
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                let mut data = Vec::new();
                for i in 0..5000 {
                    data.extend_from_slice(
                        format!("<13>client {c} line {i:05} {}\n", "p".repeat(60)).as_bytes(),
                    );
                }
                s.write_all(&data).await.unwrap();
                s.shutdown().await.unwrap();
            }));
        }
        for c in clients {
            c.await.unwrap();
        }
        let got = wait_for(&journal, 20_000).await;
        assert_eq!(got.len(), 20_000);
        // Per connection, order is kept.
        for c in 0..4 {
            let prefix = format!("<13>client {c} line ");
            let lines: Vec<&Got> = got
                .iter()
                .filter(|g| g.raw.starts_with(prefix.as_bytes()))
                .collect();
            assert_eq!(lines.len(), 5000);
            for (i, g) in lines.iter().enumerate() {
                assert!(g.raw.starts_with(format!("{prefix}{i:05} ").as_bytes()));
                assert_eq!(g.flags, E);
            }
        }
        shutdown.cancel();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn tcp_shutdown_ends_connections_and_keeps_partial_frames() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let journal = test_journal();
        let stats = Arc::new(SourceStats::default());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run_tcp(
            listener,
            spec(Transport::Tcp, 1024),
            journal.clone(),
            stats.clone(),
            shutdown.clone(),
        ));
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"<13>one\n<13>two\n<13>par")
            .await
            .unwrap();
        // The client keeps the connection open: only shutdown can end it.
        assert_eq!(wait_for(&journal, 2).await.len(), 2);
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let got = appended(&journal).await;
        assert_eq!(
            raw_and_flags(&got),
            vec![(&b"<13>one"[..], E), (b"<13>two", E), (b"<13>par", I)]
        );
        // The listener is closed: new connections are refused.
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn tcp_connection_drains_unread_data_at_shutdown() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        let data = b"<13>a\n5 <13>b<13>c\n<13>unfinished";
        client.write_all(data).await.unwrap();
        // Wait until all of it sits unread in the server's socket.
        let mut peek = [0u8; 64];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while server.peek(&mut peek).await.unwrap() < data.len() {
            assert!(tokio::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let journal = test_journal();
        let stop = CancellationToken::new();
        stop.cancel();
        connection(
            server,
            peer,
            Arc::new(spec(Transport::Tcp, 1024)),
            journal.clone(),
            Arc::new(SourceStats::default()),
            stop,
        )
        .await
        .unwrap();
        assert_eq!(
            raw_and_flags(&appended(&journal).await),
            vec![
                (&b"<13>a"[..], E),
                (b"<13>b", E),
                (b"<13>c", E),
                (b"<13>unfinished", I),
            ]
        );
        drop(client);
    }

    #[tokio::test]
    async fn tcp_read_error_ends_only_that_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let journal = test_journal();
        let stats = Arc::new(SourceStats::default());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run_tcp(
            listener,
            spec(Transport::Tcp, 1024),
            journal.clone(),
            stats.clone(),
            shutdown.clone(),
        ));
        let healthy = tokio::net::TcpStream::connect(addr).await.unwrap();
        let broken = tokio::net::TcpStream::connect(addr).await.unwrap();
        // Abort with RST: the server's next read fails with ECONNRESET.
        socket2::SockRef::from(&broken)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(broken);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while stats.errors.load(Ordering::Relaxed) == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no read error seen");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut healthy = healthy;
        healthy.write_all(b"<13>still here\n").await.unwrap();
        let got = wait_for(&journal, 1).await;
        assert_eq!(raw_and_flags(&got), vec![(&b"<13>still here"[..], E)]);
        shutdown.cancel();
        task.await.unwrap().unwrap();
        assert_eq!(stats.connections.load(Ordering::Relaxed), 2);
        assert_eq!(stats.errors.load(Ordering::Relaxed), 1);
    }
}
