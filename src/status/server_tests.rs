use std::sync::atomic::Ordering;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::status::tests::probe;
use crate::status::{fetch, print_status};

/// What a scrape may take while the endpoint is under an idle flood: far above the
/// millisecond it takes, with room for a loaded two-core CI box, and far below the
/// 5 s an idle connection held the old server's slots for.
const SCRAPE_BOUND: Duration = Duration::from_secs(2);
/// A request head that never ends.
const HALF_HEAD: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n";

async fn start(dir: &std::path::Path) -> (StatusServer, Arc<Probe>) {
    let p = Arc::new(probe(dir));
    let server = StatusServer::start("127.0.0.1:0".parse().unwrap(), p.clone())
        .await
        .unwrap();
    (server, p)
}

/// One request on its own connection; everything the server sent until it closed.
async fn raw(addr: SocketAddr, req: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(req).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the server closes the connection after its response")
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// `fetch` as `sealtrail status` does it; how long it took.
async fn timed_fetch(addr: SocketAddr, path: &'static str) -> Duration {
    tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let r = fetch(addr, path, Duration::from_secs(10));
        let took = t.elapsed();
        let body = r.unwrap_or_else(|e| panic!("{path} after {took:?}: {e}"));
        assert!(!body.is_empty());
        took
    })
    .await
    .unwrap()
}

/// Scrapes `/metrics` and `/status` `rounds` times each and asserts each within
/// [`SCRAPE_BOUND`]; returns the slowest.
async fn scrape_within_bound(addr: SocketAddr, what: &str, rounds: usize) -> Duration {
    let mut slowest = Duration::ZERO;
    for _ in 0..rounds {
        for path in ["/metrics", "/status"] {
            let took = timed_fetch(addr, path).await;
            eprintln!("scrape {path} with {what}: {took:?}");
            assert!(took < SCRAPE_BOUND, "{path} with {what} took {took:?}");
            slowest = slowest.max(took);
        }
    }
    slowest
}

/// Descriptors for `n` client sockets in this process, besides the server's and what
/// parallel tests use.
fn need_descriptors(n: usize) {
    let want = (n as u64) * 2 + 1024;
    let got = crate::source::limits::raise_descriptor_limit();
    assert!(
        got >= want,
        "this test holds {n} sockets and needs a descriptor limit of {want}; the hard limit is {got}"
    );
}

async fn open_idle(addr: SocketAddr, n: usize, half_head_every: usize) -> Vec<TcpStream> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = TcpStream::connect(addr).await.unwrap();
        if half_head_every > 0 && i % half_head_every == 0 {
            s.write_all(HALF_HEAD).await.unwrap();
        }
        out.push(s);
    }
    out
}

/// True once the peer closed: EOF, or a reset (a close with unread data).
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or similar before the close is fine; keep reading.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_metrics_status_and_errors_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (server, p) = start(dir.path()).await;
    p.sources[0]
        .stats
        .received_events
        .store(5, Ordering::Relaxed);
    p.sealer.next_seq.store(3, Ordering::Relaxed);
    let addr = server.local_addr();
    let (metrics, status, missing, printed) = tokio::task::spawn_blocking(move || {
        let t = Duration::from_secs(10);
        let mut printed = Vec::new();
        let snap = print_status(addr, false, &mut printed).unwrap();
        (
            fetch(addr, "/metrics", t).unwrap(),
            snap,
            fetch(addr, "/nope", t).unwrap_err(),
            String::from_utf8(printed).unwrap(),
        )
    })
    .await
    .unwrap();
    assert!(metrics.contains("component_received_events_total{component_id=\"udp\""));
    assert_eq!(status.sources[0].received_events, 5);
    assert_eq!(status.stream, "host-1");
    assert!(printed.contains("last sealed #2"), "{printed}");
    assert!(
        matches!(missing, StatusError::Response { .. }) && missing.to_string().contains("404"),
        "{missing}"
    );

    let m = raw(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(m.starts_with("HTTP/1.1 200 OK\r\n"), "{m}");
    assert!(m.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert!(m.contains("\r\nCache-Control: no-store\r\n"), "{m}");
    assert!(m.contains("\r\nConnection: close\r\n"), "{m}");
    let s = raw(addr, b"GET /status?x=1 HTTP/1.0\r\n\r\n").await;
    assert!(
        s.starts_with("HTTP/1.0 200 OK\r\n"),
        "answered in its own version: {s}"
    );
    assert!(s.contains("\r\nContent-Type: application/json\r\n"), "{s}");
    assert!(s.contains("\"stream\": \"host-1\""), "{s}");
    let root = raw(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(root.ends_with(&format!("\r\n\r\n{HELP}")), "{root}");

    // A bad method, a bad request line and an unknown path get proper errors, not a hang.
    let post = raw(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await;
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    assert!(post.contains("\r\nAllow: GET, HEAD\r\n"), "{post}");
    let garbage = raw(addr, b"garbage\r\n\r\n").await;
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    // An over-long head is refused at once. The server closes with part of it unread,
    // which may reset the connection before its 431 is read; either way, no 200.
    let mut c = TcpStream::connect(addr).await.unwrap();
    let long = format!(
        "GET /metrics HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(9000)
    );
    c.write_all(long.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out))
        .await
        .expect("closed at once");
    let out = String::from_utf8_lossy(&out);
    assert!(out.is_empty() || out.starts_with("HTTP/1.1 431"), "{out}");
    let missing = raw(addr, b"HEAD /nope HTTP/1.1\r\n\r\n").await;
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");

    // HEAD: the GET's head and length, no body.
    let head = raw(addr, b"HEAD / HTTP/1.1\r\n\r\n").await;
    assert!(
        head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("\r\nContent-Length: {}\r\n", HELP.len())),
        "{head}"
    );

    // A client that sends its request and shuts its write side still gets its answer.
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    c.shutdown().await.unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.0 200 OK\r\n"), "{out}");

    server.stop().await;
    let gone = tokio::task::spawn_blocking(move || {
        fetch(addr, "/status", Duration::from_secs(5)).unwrap_err()
    })
    .await
    .unwrap();
    assert!(matches!(gone, StatusError::Connect { .. }), "{gone}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_at_the_head_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _p) = start(dir.path()).await;
    let addr = server.local_addr();
    let t0 = Instant::now();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(HALF_HEAD).await.unwrap();
    let margin = Duration::from_millis(1500);
    let (a, b) = tokio::join!(
        closed_within(&mut silent, HEAD_TIMEOUT + margin),
        closed_within(&mut half, HEAD_TIMEOUT + margin),
    );
    let took = t0.elapsed();
    eprintln!("silent and half-head connections closed after {took:?}");
    assert!(
        a && b,
        "still open after {took:?}: silent {a}, half head {b}"
    );
    // Closed by the deadline, not by anything sooner.
    assert!(
        took >= HEAD_TIMEOUT - Duration::from_millis(100),
        "{took:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_the_oldest_idle_connection_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _p) = start(dir.path()).await;
    let addr = server.local_addr();
    let extra = 8;
    let t0 = Instant::now();
    let mut conns = open_idle(addr, MAX_CONNECTIONS + extra, 0).await;
    let (oldest, newest) = conns.split_at_mut(extra);
    for (i, c) in oldest.iter_mut().enumerate() {
        assert!(
            closed_within(c, Duration::from_millis(800)).await,
            "oldest connection #{i} still open"
        );
    }
    let still_open = futures::future::join_all(
        newest
            .iter_mut()
            .map(|c| closed_within(c, Duration::from_millis(100))),
    )
    .await;
    let took = t0.elapsed();
    assert!(
        took < HEAD_TIMEOUT,
        "took {took:?}, past the head deadline: cannot tell eviction from timeout"
    );
    let closed: Vec<usize> = (0..still_open.len()).filter(|&i| still_open[i]).collect();
    assert!(
        closed.is_empty(),
        "the newest {MAX_CONNECTIONS} should stay open; closed: {closed:?}"
    );
    // And a scrape gets in, evicting the oldest of those.
    assert!(timed_fetch(addr, "/status").await < SCRAPE_BOUND);
    assert!(closed_within(&mut newest[0], Duration::from_millis(800)).await);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_get_through_idle_connections() {
    const FLOOD: usize = 1000;
    need_descriptors(FLOOD);
    let dir = tempfile::tempdir().unwrap();
    let (server, _p) = start(dir.path()).await;
    let addr = server.local_addr();
    // Let the server accept each batch before scraping: a scrape queued behind the idle
    // connections in the kernel's accept queue is what blinded the old server.
    let settle = Duration::from_millis(300);

    scrape_within_bound(addr, "0 idle connections", 1).await;

    // Fewer than the cap: nothing is evicted, nothing waits.
    let mut idle = open_idle(addr, 16, 0).await;
    tokio::time::sleep(settle).await;
    scrape_within_bound(addr, "16 idle connections", 2).await;

    // A flood, half silent, half stuck in the middle of a request head.
    let t = Instant::now();
    idle.extend(open_idle(addr, FLOOD - idle.len(), 2).await);
    eprintln!(
        "opened {} idle connections in {:?}",
        idle.len(),
        t.elapsed()
    );
    tokio::time::sleep(settle).await;
    let slowest = scrape_within_bound(addr, "1000 idle connections", 3).await;
    eprintln!("slowest scrape under the flood: {slowest:?}");
    drop(idle);
    server.stop().await;
}
