use super::*;
use crate::source::limits::{ConnectionLimits, DescriptorBudget};
use crate::source::syslog::test_util::*;
use crate::source::syslog::Transport;
use tokio::io::AsyncWriteExt;

/// Generous limits: the tests that are not about limits must not meet them.
fn cx() -> StreamContext {
    cx_with(limits(1000, 1000, Duration::from_secs(600)), 10_000)
}

fn cx_with(limits: ConnectionLimits, budget: usize) -> StreamContext {
    StreamContext {
        gate: Gate::new(limits, DescriptorBudget::new(budget)),
        pool: ReadPool::new(8),
        tls: None,
    }
}

#[tokio::test]
async fn tcp_frames_reach_the_journal() {
    let Running {
        addr,
        journal,
        stats,
        shutdown,
        task,
    } = running(12, cx()).await;

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
    let Running {
        addr,
        journal,
        shutdown,
        task,
        ..
    } = running(2048, cx()).await;
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
    let Running {
        addr,
        journal,
        shutdown,
        task,
        ..
    } = running(1024, cx()).await;
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
    let gate = cx().gate;
    connection(
        server,
        peer,
        Conn {
            spec: Arc::new(spec(Transport::Tcp, 1024)),
            journal: journal.clone(),
            stats: Arc::new(SourceStats::default()),
            pool: ReadPool::new(4),
            idle: Duration::from_secs(60),
            admission: gate.admit(peer.ip()).unwrap(),
            tls: None,
            handshake_log: Arc::new(std::sync::Mutex::new(crate::throttle::Throttle::new(
                Duration::from_secs(10),
            ))),
        },
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
    let Running {
        addr,
        journal,
        stats,
        shutdown,
        task,
    } = running(1024, cx()).await;
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

/// Reads until the server ends the connection; true for a reset or EOF in time.
async fn closed_by_server(s: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut b = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(10), s.read(&mut b)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

async fn connect_from(src: &str, addr: SocketAddr) -> tokio::net::TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{src}:0").parse().unwrap()).unwrap();
    sock.connect(addr).await.unwrap()
}

#[tokio::test]
async fn a_peer_over_its_share_is_refused_and_others_still_get_in() {
    let Running {
        addr,
        journal,
        stats,
        shutdown,
        task,
    } = running(1024, cx_with(limits(10, 2, Duration::from_secs(600)), 100)).await;
    // Two idle connections from one address take its whole share ...
    let _held = [
        connect_from("127.0.0.1", addr).await,
        connect_from("127.0.0.1", addr).await,
    ];
    wait_until("two connections open", || {
        stats.active_connections.load(Ordering::Relaxed) == 2
    })
    .await;
    // ... so its third is reset at once and counted,
    let mut third = connect_from("127.0.0.1", addr).await;
    assert!(
        closed_by_server(&mut third).await,
        "third connection refused"
    );
    assert_eq!(stats.refused_connections[1].load(Ordering::Relaxed), 1);
    // while another host is served.
    let mut other = connect_from("127.0.0.2", addr).await;
    other.write_all(b"<13>from another host\n").await.unwrap();
    let got = wait_for(&journal, 1).await;
    assert_eq!(
        raw_and_flags(&got),
        vec![(&b"<13>from another host"[..], E)]
    );
    assert_eq!(stats.active_connections.load(Ordering::Relaxed), 3);
    shutdown.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(stats.active_connections.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn connections_past_the_listener_cap_are_refused_until_one_closes() {
    let Running {
        addr,
        journal,
        stats,
        shutdown,
        task,
    } = running(1024, cx_with(limits(3, 3, Duration::from_secs(600)), 100)).await;
    let mut held = Vec::new();
    for src in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        held.push(connect_from(src, addr).await);
    }
    wait_until("three connections open", || {
        stats.active_connections.load(Ordering::Relaxed) == 3
    })
    .await;
    for _ in 0..5 {
        let mut over = connect_from("127.0.0.4", addr).await;
        assert!(closed_by_server(&mut over).await);
    }
    assert_eq!(stats.refused_connections[0].load(Ordering::Relaxed), 5);
    held.pop();
    wait_until("a slot is free again", || {
        stats.active_connections.load(Ordering::Relaxed) == 2
    })
    .await;
    let mut late = connect_from("127.0.0.4", addr).await;
    late.write_all(b"<13>admitted\n").await.unwrap();
    let got = wait_for(&journal, 1).await;
    assert_eq!(raw_and_flags(&got), vec![(&b"<13>admitted"[..], E)]);
    shutdown.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_descriptor_budget_is_shared_by_all_listeners() {
    let budget = DescriptorBudget::new(2);
    let pool = ReadPool::new(4);
    let journal = test_journal();
    let stats = Arc::new(SourceStats::default());
    let shutdown = CancellationToken::new();
    let mut addrs = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(listener.local_addr().unwrap());
        let cx = StreamContext {
            gate: Gate::new(limits(10, 10, Duration::from_secs(600)), budget.clone()),
            pool: pool.clone(),
            tls: None,
        };
        tasks.push(tokio::spawn(run_tcp(
            listener,
            spec(Transport::Tcp, 1024),
            journal.clone(),
            stats.clone(),
            cx,
            shutdown.clone(),
        )));
    }
    let _a = connect_from("127.0.0.1", addrs[0]).await;
    let _b = connect_from("127.0.0.2", addrs[0]).await;
    wait_until("budget used up", || budget.in_use() == 2).await;
    let mut c = connect_from("127.0.0.3", addrs[1]).await;
    assert!(
        closed_by_server(&mut c).await,
        "the other listener has no budget left"
    );
    assert_eq!(stats.refused_connections[2].load(Ordering::Relaxed), 1);
    shutdown.cancel();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn an_idle_connection_is_closed_and_its_partial_frame_kept() {
    let Running {
        addr,
        journal,
        stats,
        shutdown,
        task,
    } = running(
        1024,
        cx_with(limits(10, 10, Duration::from_millis(300)), 100),
    )
    .await;
    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    client.write_all(b"<13>whole\n<13>part").await.unwrap();
    let t0 = Instant::now();
    assert!(
        closed_by_server(&mut client).await,
        "idle connection closed"
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
    let got = wait_for(&journal, 2).await;
    assert_eq!(
        raw_and_flags(&got),
        vec![(&b"<13>whole"[..], E), (b"<13>part", I)]
    );
    assert_eq!(stats.idle_closed.load(Ordering::Relaxed), 1);
    assert_eq!(stats.active_connections.load(Ordering::Relaxed), 0);
    shutdown.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn idle_connections_hold_no_read_buffer() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let journal = test_journal();
    let stats = Arc::new(SourceStats::default());
    let shutdown = CancellationToken::new();
    let pool = ReadPool::new(4);
    let cx = StreamContext {
        gate: Gate::new(
            limits(1000, 1000, Duration::from_secs(600)),
            DescriptorBudget::new(1000),
        ),
        pool: pool.clone(),
        tls: None,
    };
    let task = tokio::spawn(run_tcp(
        listener,
        spec(Transport::Tcp, 1024),
        journal.clone(),
        stats.clone(),
        cx,
        shutdown.clone(),
    ));
    // More connections than read slots, each sending a line and then staying idle:
    // with a buffer per connection the fifth would wait forever for a slot.
    let mut clients = Vec::new();
    for i in 0..50 {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(format!("<13>line {i}\n").as_bytes())
            .await
            .unwrap();
        clients.push(c);
    }
    let got = wait_for(&journal, 50).await;
    assert_eq!(got.len(), 50);
    assert_eq!(stats.active_connections.load(Ordering::Relaxed), 50);
    assert!(pool.idle_buffers() <= 4, "{} buffers", pool.idle_buffers());
    shutdown.cancel();
    task.await.unwrap().unwrap();
}
