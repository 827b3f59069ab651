//! Helpers shared by the UDP, TCP and unix socket listener tests: a real journal, read back.

use std::net::SocketAddr;
use std::time::Duration;

use super::{ListenerSpec, SourceStats, Transport};
use crate::journal::Journal;
use crate::record::now_ns;
use crate::record::{IngestRecord, RecordFlags};

pub const E: RecordFlags = RecordFlags::EMPTY;
pub const T: RecordFlags = RecordFlags::TRUNCATED;
pub const I: RecordFlags = RecordFlags::INCOMPLETE;

/// An owned copy of a journalled record.
#[derive(Debug, PartialEq)]
pub struct Got {
    pub listener: u16,
    pub peer: Option<SocketAddr>,
    pub flags: RecordFlags,
    pub raw: Vec<u8>,
    pub received_ns: i64,
    /// The verified TLS client identity, for TLS listeners.
    pub client: Option<Vec<u8>>,
    /// The sending process's credentials, for unix sockets.
    pub cred: Option<crate::record::PeerCred>,
}

/// Waits until everything queued so far is durable, then reads the journal back.
pub async fn appended(journal: &Journal) -> Vec<Got> {
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
            listener: r.source,
            peer: r.peer(),
            flags: r.flags,
            raw: r.raw.to_vec(),
            received_ns: r.received_ns,
            client: r.tls_client().map(<[u8]>::to_vec),
            cred: r.peer_cred(),
        });
    }
    out
}

/// A real journal in a temporary directory that lives as long as the test process.
pub fn test_journal() -> Journal {
    let dir = tempfile::tempdir().unwrap().keep();
    Journal::open(&dir, crate::journal::JournalOptions::default()).unwrap()
}

pub async fn wait_for(journal: &Journal, n: usize) -> Vec<Got> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = appended(journal).await;
        if got.len() >= n || tokio::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn spec(transport: Transport, max: usize) -> ListenerSpec {
    ListenerSpec {
        index: 3,
        name: "test".into(),
        transport,
        max_message_bytes: max,
    }
}

pub fn raw_and_flags(got: &[Got]) -> Vec<(&[u8], RecordFlags)> {
    got.iter().map(|g| (g.raw.as_slice(), g.flags)).collect()
}

pub fn assert_recent(got: &[Got]) {
    let now = now_ns();
    for g in got {
        assert!(
            (now - g.received_ns).abs() < 600_000_000_000,
            "received_ns {} not near now {now}",
            g.received_ns
        );
    }
}

/// Waits (at most 20 s) until `f` holds.
pub async fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn limits(
    max: usize,
    per_peer: usize,
    idle: Duration,
) -> crate::source::limits::ConnectionLimits {
    crate::source::limits::ConnectionLimits {
        max_connections: max,
        max_per_peer: per_peer,
        idle_timeout: idle,
    }
}

/// A TCP listener on 127.0.0.1 port 0 running in the background with a real journal.
pub struct Running {
    pub addr: SocketAddr,
    pub journal: Journal,
    pub stats: std::sync::Arc<SourceStats>,
    pub shutdown: tokio_util::sync::CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), super::SourceError>>,
}

pub async fn running(max_message_bytes: usize, cx: super::tcp::StreamContext) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let journal = test_journal();
    let stats = std::sync::Arc::new(SourceStats::default());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(super::tcp::run_tcp(
        listener,
        spec(Transport::Tcp, max_message_bytes),
        journal.clone(),
        stats.clone(),
        cx,
        shutdown.clone(),
    ));
    Running {
        addr,
        journal,
        stats,
        shutdown,
        task,
    }
}
