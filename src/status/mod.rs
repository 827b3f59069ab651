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
//! never cost the hot path anything but a few atomic loads. It must also stay reachable
//! while something holds idle connections to it: `server` has the connection policy.
//!
//! One concept per file: this one holds the snapshot (what is measured) and the alerts;
//! `metrics` and `text` render a snapshot for Prometheus and for a human; `server` is
//! the endpoint and `client` what `sealtrail status` uses to ask it.

mod client;
mod metrics;
mod server;
mod text;

pub use client::{fetch, print_status};
pub use metrics::render_metrics;
pub use server::StatusServer;
pub use text::render_text;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::daemon::Stats;
use crate::journal::Journal;
use crate::seal::SealerStats;
use crate::ship::ShipStats;
use crate::source::syslog::SourceStats;
use text::human_bytes;

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

/// Every condition `status` raises an alert for, in the order shown. To add one, write
/// a check below that pushes a line for an operator, and list it here.
const ALERTS: &[fn(&Snapshot, &mut Vec<String>)] = &[spool_backlog, journal_fill];

fn alerts(s: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for check in ALERTS {
        check(s, &mut out);
    }
    out
}

/// Segments pile up in the spool when the archive is slow or unreachable.
fn spool_backlog(s: &Snapshot, out: &mut Vec<String>) {
    if s.shipper.spool_segments >= SPOOL_ALERT_SEGMENTS {
        out.push(format!(
            "{} sealed segments ({}) wait in the spool: the archive is not keeping up or unreachable",
            s.shipper.spool_segments,
            human_bytes(s.shipper.spool_bytes)
        ));
    }
}

/// A full journal stops the writer, which slows senders down: say so before it happens.
fn journal_fill(s: &Snapshot, out: &mut Vec<String>) {
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
}

#[cfg(test)]
mod tests;
