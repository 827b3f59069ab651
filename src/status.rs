//! The local status endpoint: a tiny HTTP/1.1 server on a loopback port.
//!
//! `GET /metrics` serves Prometheus text, named like Vector's internal metrics
//! (`component_received_events_total{component_id=...}`, `component_errors_total`, ...)
//! so existing dashboards and alerts carry over, plus sealtrail's own figures (spool,
//! sealed and shipped sequence, journal lag per consumer). `GET /status` serves the same
//! snapshot as JSON, which `sealtrail status` renders for a human.
//!
//! Every response closes its connection and requests are read with a size and time
//! limit: the server is for a scraper and an operator, not a load balancer, and must
//! never cost the hot path anything but a few atomic loads.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::daemon::Stats;
use crate::journal::Journal;
use crate::seal::SealerStats;
use crate::ship::ShipStats;
use crate::source::syslog::SourceStats;

/// Longest request head accepted.
const MAX_REQUEST: usize = 8 * 1024;
/// Time a client gets to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 16;
/// Spool backlog (segments) from which `status` raises an alert.
const SPOOL_ALERT_SEGMENTS: u64 = 5;
/// Journal fill (percent of `journal.max_bytes`) from which `status` raises an alert.
const JOURNAL_ALERT_PERCENT: u64 = 80;

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("status endpoint {address}: cannot listen: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("status endpoint {address}: {source} (is sealtrail running, with [status] enabled?)")]
    Connect {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("status endpoint {address}: {message}")]
    Response {
        address: SocketAddr,
        message: String,
    },
}

/// Read access to the live counters; cheap to clone into the server.
#[derive(Clone, Debug)]
pub struct Probe {
    pub stream: String,
    pub sources: Vec<(String, Arc<SourceStats>)>,
    pub sealer: Arc<SealerStats>,
    pub shipper: Arc<ShipStats>,
    pub journal: Journal,
    /// `journal.max_bytes`, for the fill alert; 0: unknown.
    pub journal_max_bytes: u64,
    started: Instant,
}

impl Probe {
    pub fn new(stream: &str, stats: &Stats, journal: Journal) -> Probe {
        Probe {
            stream: stream.to_string(),
            sources: stats.sources.clone(),
            sealer: stats.sealer.clone(),
            shipper: stats.shipper.clone(),
            journal,
            journal_max_bytes: 0,
            started: Instant::now(),
        }
    }

    /// One consistent-enough reading of every counter (each is loaded once).
    pub fn snapshot(&self) -> Snapshot {
        let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let sources = self
            .sources
            .iter()
            .map(|(name, s)| SourceSnapshot {
                name: name.clone(),
                received_events: ld(&s.received_events),
                received_bytes: ld(&s.received_bytes),
                truncated: ld(&s.truncated),
                incomplete: ld(&s.incomplete),
                connections: ld(&s.connections),
                errors: ld(&s.errors),
                kernel_drops: ld(&s.kernel_drops),
            })
            .collect();
        let durable = self.journal.durable_position();
        let sealer_pos = ld(&self.sealer.journal_position);
        let sealer = SealerSnapshot {
            sealed_segments: ld(&self.sealer.sealed_segments),
            sealed_events: ld(&self.sealer.sealed_events),
            next_seq: ld(&self.sealer.next_seq),
            errors: ld(&self.sealer.errors),
        };
        let shipper = ShipperSnapshot {
            shipped_segments: ld(&self.shipper.shipped_segments),
            shipped_bytes: ld(&self.shipper.shipped_bytes),
            next_seq: ld(&self.shipper.next_seq),
            spool_segments: ld(&self.shipper.spool_segments),
            spool_bytes: ld(&self.shipper.spool_bytes),
            errors: ld(&self.shipper.errors),
        };
        let journal = JournalSnapshot {
            durable_position: durable,
            disk_bytes: self.journal.disk_bytes(),
            max_bytes: self.journal_max_bytes,
            consumers: vec![ConsumerSnapshot {
                name: "sealer".into(),
                position: sealer_pos,
                lag_bytes: durable.saturating_sub(sealer_pos),
            }],
        };
        let mut snap = Snapshot {
            version: env!("CARGO_PKG_VERSION").to_string(),
            stream: self.stream.clone(),
            pid: std::process::id(),
            uptime_seconds: self.started.elapsed().as_secs(),
            sources,
            journal,
            sealer,
            shipper,
            alerts: Vec::new(),
        };
        snap.alerts = alerts(&snap);
        snap
    }
}

/// What `/status` serves and `sealtrail status` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: String,
    pub stream: String,
    pub pid: u32,
    pub uptime_seconds: u64,
    pub sources: Vec<SourceSnapshot>,
    pub journal: JournalSnapshot,
    pub sealer: SealerSnapshot,
    pub shipper: ShipperSnapshot,
    /// Conditions that need an operator now (not past errors, which are counted).
    pub alerts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSnapshot {
    pub name: String,
    pub received_events: u64,
    pub received_bytes: u64,
    pub truncated: u64,
    pub incomplete: u64,
    pub connections: u64,
    pub errors: u64,
    /// UDP datagrams dropped by the kernel (receive buffer full).
    #[serde(default)]
    pub kernel_drops: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalSnapshot {
    pub durable_position: u64,
    pub disk_bytes: u64,
    pub max_bytes: u64,
    pub consumers: Vec<ConsumerSnapshot>,
}

/// A journal consumer: how far it has committed and how much durable data it has not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumerSnapshot {
    pub name: String,
    pub position: u64,
    pub lag_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SealerSnapshot {
    pub sealed_segments: u64,
    pub sealed_events: u64,
    /// Sequence number the next segment will get (0: none sealed yet).
    pub next_seq: u64,
    pub errors: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipperSnapshot {
    pub shipped_segments: u64,
    pub shipped_bytes: u64,
    /// One past the newest archived sequence number (0: none yet).
    pub next_seq: u64,
    pub spool_segments: u64,
    pub spool_bytes: u64,
    pub errors: u64,
}

fn alerts(s: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    if s.shipper.spool_segments >= SPOOL_ALERT_SEGMENTS {
        out.push(format!(
            "{} sealed segments ({}) wait in the spool: the archive is not keeping up or unreachable",
            s.shipper.spool_segments,
            human_bytes(s.shipper.spool_bytes)
        ));
    }
    if let Some(pct) = s
        .journal
        .disk_bytes
        .saturating_mul(100)
        .checked_div(s.journal.max_bytes)
    {
        if pct >= JOURNAL_ALERT_PERCENT {
            out.push(format!(
                "journal at {pct}% of journal.max_bytes: at 100% senders are slowed down (TCP) or dropped by the kernel (UDP)"
            ));
        }
    }
    out
}

/// Prometheus text exposition format 0.0.4.
pub fn render_metrics(s: &Snapshot) -> String {
    let mut m = Metrics::default();
    m.family(
        "component_received_events_total",
        "counter",
        "Events received by a source.",
    );
    per_source(&mut m, s, "component_received_events_total", |src| {
        src.received_events
    });
    m.family(
        "component_received_bytes_total",
        "counter",
        "Bytes received by a source, before framing.",
    );
    per_source(&mut m, s, "component_received_bytes_total", |src| {
        src.received_bytes
    });
    m.family(
        "component_discarded_events_total",
        "counter",
        "Events lost before they reached the journal: UDP datagrams the kernel dropped.",
    );
    for src in &s.sources {
        let [id, kind, ty] = source_labels(&src.name);
        m.sample(
            "component_discarded_events_total",
            &[id, kind, ty, ("intentional", "false")],
            src.kernel_drops,
        );
    }
    m.family(
        "component_errors_total",
        "counter",
        "Errors by component (the log says which).",
    );
    per_source(&mut m, s, "component_errors_total", |src| src.errors);
    m.sample(
        "component_errors_total",
        &[
            ("component_id", "sealer"),
            ("component_kind", "transform"),
            ("component_type", "sealer"),
        ],
        s.sealer.errors,
    );
    m.sample(
        "component_errors_total",
        &archive_labels(),
        s.shipper.errors,
    );
    m.family(
        "component_sent_events_total",
        "counter",
        "Events sealed into segments.",
    );
    m.sample(
        "component_sent_events_total",
        &[
            ("component_id", "sealer"),
            ("component_kind", "transform"),
            ("component_type", "sealer"),
        ],
        s.sealer.sealed_events,
    );
    m.family(
        "component_sent_bytes_total",
        "counter",
        "Segment bytes written to the archive.",
    );
    m.sample(
        "component_sent_bytes_total",
        &archive_labels(),
        s.shipper.shipped_bytes,
    );
    m.family(
        "connection_established_total",
        "counter",
        "TCP connections accepted by a source.",
    );
    per_source(&mut m, s, "connection_established_total", |src| {
        src.connections
    });
    m.family(
        "sealtrail_truncated_events_total",
        "counter",
        "Messages cut to max_message_bytes (tagged _truncated).",
    );
    per_source(&mut m, s, "sealtrail_truncated_events_total", |src| {
        src.truncated
    });
    m.family(
        "sealtrail_incomplete_events_total",
        "counter",
        "Frames cut off by a closing connection (tagged _incomplete).",
    );
    per_source(&mut m, s, "sealtrail_incomplete_events_total", |src| {
        src.incomplete
    });
    let plain: [(&str, &str, &str, u64); 9] = [
        (
            "sealtrail_sealed_segments_total",
            "counter",
            "Segments sealed since start.",
            s.sealer.sealed_segments,
        ),
        (
            "sealtrail_sealed_next_sequence",
            "gauge",
            "Sequence number the next sealed segment gets (chain length).",
            s.sealer.next_seq,
        ),
        (
            "sealtrail_shipped_next_sequence",
            "gauge",
            "One past the newest archived sequence number.",
            s.shipper.next_seq,
        ),
        (
            "sealtrail_shipped_segments_total",
            "counter",
            "Segments archived since start.",
            s.shipper.shipped_segments,
        ),
        (
            "sealtrail_upload_lag_segments",
            "gauge",
            "Sealed segments not yet archived.",
            s.sealer.next_seq.saturating_sub(s.shipper.next_seq),
        ),
        (
            "sealtrail_spool_segments",
            "gauge",
            "Segments waiting in the local spool.",
            s.shipper.spool_segments,
        ),
        (
            "sealtrail_spool_bytes",
            "gauge",
            "Bytes waiting in the local spool.",
            s.shipper.spool_bytes,
        ),
        (
            "sealtrail_journal_disk_bytes",
            "gauge",
            "Bytes of journal files on disk.",
            s.journal.disk_bytes,
        ),
        (
            "sealtrail_journal_durable_position_bytes",
            "counter",
            "Logical journal position up to which everything is durable.",
            s.journal.durable_position,
        ),
    ];
    for (name, kind, help, v) in plain {
        m.family(name, kind, help);
        m.sample(name, &[], v);
    }
    m.family(
        "sealtrail_journal_lag_bytes",
        "gauge",
        "Durable journal bytes a consumer has not committed yet.",
    );
    for c in &s.journal.consumers {
        m.sample(
            "sealtrail_journal_lag_bytes",
            &[("consumer", &c.name)],
            c.lag_bytes,
        );
    }
    m.family(
        "sealtrail_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
    );
    m.sample("sealtrail_uptime_seconds", &[], s.uptime_seconds);
    m.family(
        "sealtrail_build_info",
        "gauge",
        "Constant 1, labelled with the version and stream.",
    );
    m.sample(
        "sealtrail_build_info",
        &[("version", &s.version), ("stream", &s.stream)],
        1,
    );
    m.out
}

/// One sample per source of a family already announced.
fn per_source(m: &mut Metrics, s: &Snapshot, name: &str, value: impl Fn(&SourceSnapshot) -> u64) {
    for src in &s.sources {
        m.sample(name, &source_labels(&src.name), value(src));
    }
}

fn source_labels(name: &str) -> [(&str, &str); 3] {
    [
        ("component_id", name),
        ("component_kind", "source"),
        ("component_type", "syslog"),
    ]
}

fn archive_labels() -> [(&'static str, &'static str); 3] {
    [
        ("component_id", "archive"),
        ("component_kind", "sink"),
        ("component_type", "archive"),
    ]
}

#[derive(Default)]
struct Metrics {
    out: String,
}

impl Metrics {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: u64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                for c in val.chars() {
                    match c {
                        '\\' => self.out.push_str("\\\\"),
                        '"' => self.out.push_str("\\\""),
                        '\n' => self.out.push_str("\\n"),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {v}");
    }
}

/// Human summary for `sealtrail status`.
pub fn render_text(s: &Snapshot) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "sealtrail {}: stream `{}`, pid {}, up {}",
        s.version,
        s.stream,
        s.pid,
        humantime::format_duration(Duration::from_secs(s.uptime_seconds))
    );
    let _ = writeln!(o, "sources:");
    for src in &s.sources {
        let _ = writeln!(
            o,
            "  {:<16} {} events ({}), {} truncated, {} incomplete, {} connections, {} errors",
            src.name,
            src.received_events,
            human_bytes(src.received_bytes),
            src.truncated,
            src.incomplete,
            src.connections,
            src.errors
        );
        if src.kernel_drops > 0 {
            let _ = writeln!(
                o,
                "  {:<16} {} datagrams dropped by the kernel (receive buffer full)",
                "", src.kernel_drops
            );
        }
    }
    let cap = if s.journal.max_bytes > 0 {
        format!(" of {}", human_bytes(s.journal.max_bytes))
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "journal: {}{cap} on disk, durable up to position {}",
        human_bytes(s.journal.disk_bytes),
        s.journal.durable_position
    );
    for c in &s.journal.consumers {
        let _ = writeln!(
            o,
            "  {:<16} at {}, lag {}",
            c.name,
            c.position,
            human_bytes(c.lag_bytes)
        );
    }
    let _ = writeln!(
        o,
        "sealer: last sealed #{}, {} segments and {} events since start, {} errors",
        last_seq(s.sealer.next_seq),
        s.sealer.sealed_segments,
        s.sealer.sealed_events,
        s.sealer.errors
    );
    let _ = writeln!(
        o,
        "archive: last shipped #{}, {} segments ({}) since start, spool {} segments ({}), {} errors",
        last_seq(s.shipper.next_seq),
        s.shipper.shipped_segments,
        human_bytes(s.shipper.shipped_bytes),
        s.shipper.spool_segments,
        human_bytes(s.shipper.spool_bytes),
        s.shipper.errors
    );
    if s.alerts.is_empty() {
        let _ = writeln!(o, "alerts: none");
    } else {
        let _ = writeln!(o, "alerts:");
        for a in &s.alerts {
            let _ = writeln!(o, "  ! {a}");
        }
    }
    o
}

fn last_seq(next: u64) -> String {
    match next.checked_sub(1) {
        Some(n) => n.to_string(),
        None => "- (none yet)".into(),
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A running status endpoint.
pub struct StatusServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl StatusServer {
    /// Binds `address` and serves `probe` until [`StatusServer::stop`].
    pub async fn start(
        address: SocketAddr,
        probe: Arc<Probe>,
    ) -> Result<StatusServer, StatusError> {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| StatusError::Bind { address, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StatusError::Bind { address, source })?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, probe, stop.clone()));
        Ok(StatusServer { addr, stop, task })
    }

    /// Where it listens (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for the accept loop to end.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn serve(listener: TcpListener, probe: Arc<Probe>, stop: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let conn = tokio::select! {
            _ = stop.cancelled() => return,
            c = listener.accept() => c,
        };
        match conn {
            Ok((stream, _peer)) => {
                let probe = probe.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(REQUEST_TIMEOUT, handle(stream, &probe)).await;
                    drop(permit);
                });
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "status endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(mut stream: TcpStream, probe: &Probe) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            break Some(i);
        }
        if buf.len() >= MAX_REQUEST {
            break None;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let response = match head_end {
        None => reply(400, "text/plain", "bad request\n".into(), false),
        Some(end) => route(&buf[..end], probe),
    };
    stream.write_all(&response).await?;
    stream.shutdown().await
}

/// Builds the response for a request head (request line and headers).
fn route(head: &[u8], probe: &Probe) -> Vec<u8> {
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return reply(400, "text/plain", "bad request\n".into(), false);
    };
    if !version.starts_with("HTTP/1.") {
        return reply(400, "text/plain", "bad request\n".into(), false);
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return reply(405, "text/plain", "only GET and HEAD\n".into(), false),
    };
    let path = target.split('?').next().unwrap_or_default();
    match path {
        "/metrics" => reply(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            render_metrics(&probe.snapshot()),
            head_only,
        ),
        "/status" => {
            let body = serde_json::to_string_pretty(&probe.snapshot()).unwrap_or_default() + "\n";
            reply(200, "application/json", body, head_only)
        }
        "/" => reply(
            200,
            "text/plain; charset=utf-8",
            "sealtrail status endpoint: GET /metrics (Prometheus), GET /status (JSON)\n".into(),
            head_only,
        ),
        _ => reply(404, "text/plain", "not found\n".into(), head_only),
    }
}

fn reply(code: u16, content_type: &str, body: String, head_only: bool) -> Vec<u8> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Error",
    };
    let allow = if code == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// Blocking `GET path` against the endpoint; returns the body of a 200 response.
pub fn fetch(address: SocketAddr, path: &str, timeout: Duration) -> Result<String, StatusError> {
    let connect = |source| StatusError::Connect { address, source };
    let mut s = std::net::TcpStream::connect_timeout(&address, timeout).map_err(connect)?;
    s.set_read_timeout(Some(timeout)).map_err(connect)?;
    s.set_write_timeout(Some(timeout)).map_err(connect)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .map_err(connect)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(connect)?;
    let bad = |message: String| StatusError::Response { address, message };
    let end = memchr::memmem::find(&raw, b"\r\n\r\n")
        .ok_or_else(|| bad("incomplete HTTP response".into()))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status = head.lines().next().unwrap_or_default();
    if status.split(' ').nth(1) != Some("200") {
        return Err(bad(format!("unexpected response `{status}`")));
    }
    String::from_utf8(raw[end + 4..].to_vec()).map_err(|_| bad("body is not UTF-8".into()))
}

/// `sealtrail status`: fetches `/status` and prints it for a human (or raw JSON).
pub fn print_status(
    address: SocketAddr,
    json: bool,
    out: &mut dyn Write,
) -> Result<Snapshot, StatusError> {
    let body = fetch(address, "/status", Duration::from_secs(5))?;
    let snap: Snapshot = serde_json::from_str(&body).map_err(|e| StatusError::Response {
        address,
        message: format!("unreadable /status JSON: {e}"),
    })?;
    let text = if json { body } else { render_text(&snap) };
    let _ = out.write_all(text.as_bytes());
    Ok(snap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::JournalOptions;

    fn probe(dir: &std::path::Path) -> Probe {
        let journal = Journal::open(
            dir,
            JournalOptions {
                file_bytes: 1 << 20,
                max_bytes: 1 << 30,
                fsync: false,
                ..JournalOptions::default()
            },
        )
        .unwrap();
        let stats = Stats {
            sources: vec![
                ("udp".into(), Arc::new(SourceStats::default())),
                ("we\"ird".into(), Arc::new(SourceStats::default())),
            ],
            ..Stats::default()
        };
        let mut p = Probe::new("host-1", &stats, journal);
        p.journal_max_bytes = 1000;
        p
    }

    #[test]
    fn metrics_carry_vector_names_and_live_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = probe(dir.path());
        p.sources[0].1.received_events.store(42, Ordering::Relaxed);
        p.sources[0].1.kernel_drops.store(7, Ordering::Relaxed);
        p.sources[1].1.errors.store(3, Ordering::Relaxed);
        p.sealer.next_seq.store(7, Ordering::Relaxed);
        p.shipper.next_seq.store(5, Ordering::Relaxed);
        p.shipper.spool_bytes.store(1234, Ordering::Relaxed);
        let text = render_metrics(&p.snapshot());
        assert!(text.contains(
            "component_received_events_total{component_id=\"udp\",component_kind=\"source\",component_type=\"syslog\"} 42\n"
        ), "{text}");
        assert!(
            text.contains("component_errors_total{component_id=\"we\\\"ird\""),
            "label escaping: {text}"
        );
        assert!(
            text.contains("\nsealtrail_upload_lag_segments 2\n"),
            "{text}"
        );
        assert!(text.contains("\nsealtrail_spool_bytes 1234\n"), "{text}");
        assert!(
            text.contains("component_discarded_events_total{component_id=\"udp\",component_kind=\"source\",component_type=\"syslog\",intentional=\"false\"} 7\n"),
            "{text}"
        );
        assert!(text.contains("sealtrail_journal_lag_bytes{consumer=\"sealer\"} 0\n"));
        // Every sample line belongs to a family announced before it.
        let mut declared = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.insert(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(declared.contains(name), "{name} undeclared");
            }
        }
    }

    #[test]
    fn alerts_name_current_conditions_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = probe(dir.path());
        p.shipper.errors.store(9, Ordering::Relaxed);
        assert!(p.snapshot().alerts.is_empty(), "past errors are no alert");
        p.shipper.spool_segments.store(6, Ordering::Relaxed);
        let a = p.snapshot().alerts;
        assert_eq!(a.len(), 1);
        assert!(a[0].contains("6 sealed segments"), "{a:?}");
        let text = render_text(&p.snapshot());
        assert!(text.contains("  ! 6 sealed segments"), "{text}");
        assert!(text.contains("last sealed #- (none yet)"), "{text}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_metrics_status_and_errors_over_http() {
        let dir = tempfile::tempdir().unwrap();
        let p = Arc::new(probe(dir.path()));
        p.sources[0].1.received_events.store(5, Ordering::Relaxed);
        p.sealer.next_seq.store(3, Ordering::Relaxed);
        let server = StatusServer::start("127.0.0.1:0".parse().unwrap(), p.clone())
            .await
            .unwrap();
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
        assert!(missing.to_string().contains("404"), "{missing}");

        // Raw requests: a bad method and garbage get proper errors, not a hang.
        let raw = |req: &'static [u8]| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(req).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        assert!(raw(b"POST /metrics HTTP/1.1\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 405"));
        assert!(raw(b"garbage\r\n\r\n").await.starts_with("HTTP/1.1 400"));
        let head = raw(b"HEAD /status HTTP/1.1\r\n\r\n").await;
        assert!(
            head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"),
            "{head}"
        );

        server.stop().await;
        let gone = tokio::task::spawn_blocking(move || {
            fetch(addr, "/status", Duration::from_secs(5)).unwrap_err()
        })
        .await
        .unwrap();
        assert!(matches!(gone, StatusError::Connect { .. }), "{gone}");
    }

    #[test]
    fn human_bytes_scales() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
