//! UDP: one datagram is one message (read by [`super::datagram::drain`]); one trailing NUL, then LF (or CRLF), is the sender's line end
//! and removed, an empty datagram is skipped. UDP cannot be slowed down: what the kernel
//! drops when the receive buffer overflows is read back from `/proc/net/udp`.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::datagram::{drain, Datagram, From};
use super::sink::Sink;
use super::{
    ListenerSpec, SourceError, SourceStats, BURST_LIMIT, READ_BUFFER_BYTES, SHUTDOWN_DRAIN_LIMIT,
    UDP_RECV_BUFFER_BYTES,
};
use crate::journal::Journal;

/// Pause after a failed `recv`, so a persistent error does not spin.
const ERROR_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

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

/// Copies the kernel's drop counter of the UDP socket on `port` into `stats` every few
/// seconds, and warns when it grows (UDP cannot be slowed down: this is how its losses
/// are never silent). Ends with `stop`.
pub async fn watch_drops(
    name: String,
    port: u16,
    stats: Arc<SourceStats>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let Some(now) = udp_kernel_drops(port) else {
            continue;
        };
        let before = stats
            .kernel_drops
            .swap(now, std::sync::atomic::Ordering::Relaxed);
        if now > before {
            warn!(listener = %name, dropped = now - before, total = now, "the kernel dropped UDP datagrams: the receive buffer overflowed (use TCP for lossless delivery)");
        }
    }
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

fn udp_datagram((len, peer): (usize, SocketAddr)) -> Datagram {
    Datagram {
        len,
        from: From::Peer(peer),
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
                ready.map_err(|source| SourceError::Io { source_name: spec.name.clone(), source })?;
            }
        }
        let failed = drain(
            |b| socket.try_recv_from(b).map(udp_datagram),
            &mut buf,
            max,
            BURST_LIMIT,
            &mut sink,
            "UDP",
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
        source_name: spec.name.clone(),
        source,
    })?;
    drain(
        |b| socket.recv_from(b).map(udp_datagram),
        &mut buf,
        max,
        SHUTDOWN_DRAIN_LIMIT,
        &mut sink,
        "UDP",
    )
    .await?;
    sink.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::syslog::test_util::*;
    use crate::source::syslog::Transport;
    use std::io;
    use std::sync::atomic::Ordering;

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
            Ok(udp_datagram((8000, peer)))
        };
        let mut buf = vec![0u8; READ_BUFFER_BYTES];
        let failed = drain(recv, &mut buf, 65536, usize::MAX, &mut sink, "UDP")
            .await
            .unwrap();
        assert!(!failed);
        let mid = appended(&journal).await.len();
        assert!(
            mid > 0 && mid < 40,
            "{mid} records appended before the final flush"
        );
        assert_eq!(sink.pending(), 40 - mid);
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
        let failed = drain(
            |_| Err(io::Error::from(io::ErrorKind::ConnectionRefused)),
            &mut buf,
            100,
            usize::MAX,
            &mut sink,
            "UDP",
        )
        .await
        .unwrap();
        assert!(failed);
        assert_eq!(stats.errors.load(Ordering::Relaxed), 1);
    }
}
