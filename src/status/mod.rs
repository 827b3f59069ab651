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
//! `metrics` and `text` render a snapshot for Prometheus (through `prometheus-client`)
//! and for a human; `server` is the endpoint and `client` what `sealtrail status` uses
//! to ask it.

mod client;
mod forward;
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

use crate::daemon::{SourceHandle, Stats};
use crate::journal::Journal;
use crate::seal::SealerStats;
use crate::ship::ShipStats;
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
    pub sources: Vec<SourceHandle>,
    pub sealer: Arc<SealerStats>,
    pub detector: Option<Arc<crate::detect::consumer::DetectorStats>>,
    pub shipper: Arc<ShipStats>,
    pub forwarders: Vec<crate::forward::ForwardHandle>,
    pub journal: Journal,
    /// `journal.max_bytes`, for the fill alert; 0: unknown.
    pub journal_max_bytes: u64,
    /// `spool.max_bytes`; 0: unknown.
    pub spool_max_bytes: u64,
    started: Instant,
}

impl Probe {
    pub fn new(stream: &str, stats: &Stats, journal: Journal) -> Probe {
        Probe {
            stream: stream.to_string(),
            sources: stats.sources.clone(),
            sealer: stats.sealer.clone(),
            detector: stats.detector.clone(),
            shipper: stats.shipper.clone(),
            forwarders: stats.forwarders.clone(),
            journal,
            journal_max_bytes: 0,
            spool_max_bytes: 0,
            started: Instant::now(),
        }
    }

    /// One consistent-enough reading of every counter (each is loaded once).
    pub fn snapshot(&self) -> Snapshot {
        let ld = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let sources = self
            .sources
            .iter()
            .map(|h| (h, &h.stats))
            .map(|(h, s)| SourceSnapshot {
                name: h.name.clone(),
                kind: h.kind.to_string(),
                received_events: ld(&s.received_events),
                received_bytes: ld(&s.received_bytes),
                truncated: ld(&s.truncated),
                incomplete: ld(&s.incomplete),
                connections: ld(&s.connections),
                errors: ld(&s.errors),
                kernel_drops: ld(&s.kernel_drops),
                active_connections: ld(&s.active_connections),
                refused_connections: RefusedSnapshot {
                    max_connections: ld(&s.refused_connections[0]),
                    max_connections_per_peer: ld(&s.refused_connections[1]),
                    descriptor_budget: ld(&s.refused_connections[2]),
                },
                idle_closed: ld(&s.idle_closed),
                tls_handshake_failures: ld(&s.tls_handshake_failures),
                checkpoint_errors: ld(&s.checkpoint_errors),
                files_open: ld(&s.files_open),
                file_rotations: ld(&s.file_rotations),
                file_truncations: ld(&s.file_truncations),
                restarts: ld(&s.restarts),
            })
            .collect();
        let durable = self.journal.durable_position();
        let sealer_pos = ld(&self.sealer.journal_position);
        let last_sealed_ns = self.sealer.last_sealed_ns.load(Ordering::Relaxed);
        let now_ns = crate::record::now_ns();
        let sealer = SealerSnapshot {
            sealed_segments: ld(&self.sealer.sealed_segments),
            sealed_events: ld(&self.sealer.sealed_events),
            sealed_alerts: ld(&self.sealer.sealed_alerts),
            next_seq: ld(&self.sealer.next_seq),
            errors: ld(&self.sealer.errors),
            heartbeat_ms: ld(&self.sealer.heartbeat_ms),
            // Since the last seal, or since start when none happened in this run yet.
            since_last_seal_ms: if last_sealed_ns > 0 {
                u64::try_from(now_ns.saturating_sub(last_sealed_ns) / 1_000_000).unwrap_or(0)
            } else {
                u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
            },
            commit_failures: ld(&self.sealer.commit_failures),
            commit_failing: self
                .sealer
                .commit_failing
                .load(Ordering::Relaxed)
                .then(|| self.sealer.last_commit_error())
                .flatten(),
            late_seals: ld(&self.sealer.late_seals),
            last_late: self.sealer.last_late().as_ref().map(|l| LateSnapshot {
                seq: l.seq,
                late_ms: l.late_ms,
                heartbeat_ms: l.heartbeat_ms,
                reason: l.reason.clone(),
                ago_seconds: u64::try_from(now_ns.saturating_sub(l.sealed_ns) / 1_000_000_000)
                    .unwrap_or(0),
            }),
        };
        let oldest = self.shipper.oldest_unshipped_ns.load(Ordering::Relaxed);
        let shipper = ShipperSnapshot {
            shipped_segments: ld(&self.shipper.shipped_segments),
            shipped_bytes: ld(&self.shipper.shipped_bytes),
            next_seq: ld(&self.shipper.next_seq),
            spool_segments: ld(&self.shipper.spool_segments),
            spool_bytes: ld(&self.shipper.spool_bytes),
            spool_max_bytes: self.spool_max_bytes,
            spool_full: self.shipper.spool_full.load(Ordering::Relaxed),
            oldest_unshipped_seconds: (oldest > 0 && ld(&self.shipper.spool_segments) > 0)
                .then(|| u64::try_from(now_ns.saturating_sub(oldest) / 1_000_000_000).unwrap_or(0)),
            errors: ld(&self.shipper.errors),
            errors_by_class: crate::store::ErrorClass::ALL
                .iter()
                .map(|c| {
                    (
                        c.as_str().to_string(),
                        ld(&self.shipper.errors_by_class[c.index()]),
                    )
                })
                .filter(|(_, n)| *n > 0)
                .collect(),
            last_error: self.shipper.last_error(),
            last_version_id: self.shipper.last_version_id(),
            warnings: self.shipper.warnings(),
        };
        let health = self.journal.health();
        let journal = JournalSnapshot {
            durable_position: durable,
            disk_bytes: self.journal.disk_bytes(),
            max_bytes: self.journal_max_bytes,
            pressure: format!("{:?}", health.pressure).to_lowercase(),
            paused: health.paused.map(|r| describe_pause(&r)),
            paused_ms: health
                .paused_for
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            pauses_total: health.pauses_total,
            commits_total: health.commits_total,
            write_errors_total: health.write_errors_total,
            last_write_error: health.last_write_error,
            free_bytes: health.free_bytes,
            keep_free_bytes: health.reserve_free_bytes,
            gaps_total: health.gaps_total,
            lost_bytes_total: health.lost_bytes_total,
            early_seals: ld(&self.sealer.early_seals),
            consumers: vec![ConsumerSnapshot {
                name: "sealer".into(),
                position: sealer_pos,
                lag_bytes: durable.saturating_sub(sealer_pos),
            }],
        };
        let detector = self.detector.as_ref().map(|d| {
            let position = ld(&d.position);
            DetectorSnapshot {
                alerts: ld(&d.alerts),
                alerts_by_rule: d.alerts_by_rule(),
                position,
                lag_bytes: durable.saturating_sub(position),
                pending_alerts: ld(&d.pending),
                fed_records: ld(&d.fed),
                decoded_records: ld(&d.decoded),
            }
        });
        let forwarders = forward::snapshot(&self.forwarders, durable);
        let mut journal = journal;
        journal
            .consumers
            .extend(detector.as_ref().map(|d| ConsumerSnapshot {
                name: crate::detect::consumer::CURSOR_NAME.into(),
                position: d.position,
                lag_bytes: d.lag_bytes,
            }));
        journal.consumers.extend(forward::consumers(&forwarders));
        let mut snap = Snapshot {
            version: env!("CARGO_PKG_VERSION").to_string(),
            stream: self.stream.clone(),
            pid: std::process::id(),
            uptime_seconds: self.started.elapsed().as_secs(),
            sources,
            journal,
            sealer,
            detector,
            shipper,
            forwarders,
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
    /// `None` when the detector is disabled.
    #[serde(default)]
    pub detector: Option<DetectorSnapshot>,
    pub shipper: ShipperSnapshot,
    #[serde(default)]
    pub forwarders: Vec<forward::ForwarderSnapshot>,
    /// Conditions that need an operator now (not past errors, which are counted).
    pub alerts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSnapshot {
    pub name: String,
    /// The source's kind: `syslog`, `file`, `journald`.
    #[serde(default, rename = "type")]
    pub kind: String,
    pub received_events: u64,
    pub received_bytes: u64,
    pub truncated: u64,
    pub incomplete: u64,
    pub connections: u64,
    pub errors: u64,
    /// UDP datagrams dropped by the kernel (receive buffer full).
    #[serde(default)]
    pub kernel_drops: u64,
    /// TCP connections open now.
    #[serde(default)]
    pub active_connections: u64,
    /// TCP connections refused at a cap, by cap.
    #[serde(default)]
    pub refused_connections: RefusedSnapshot,
    /// TCP connections closed after `idle_timeout`.
    #[serde(default)]
    pub idle_closed: u64,
    /// TLS handshakes that failed or timed out.
    #[serde(default)]
    pub tls_handshake_failures: u64,
    /// Failed checkpoint writes.
    #[serde(default)]
    pub checkpoint_errors: u64,
    /// File sources: files read now, rotations followed, truncations seen.
    #[serde(default)]
    pub files_open: u64,
    #[serde(default)]
    pub file_rotations: u64,
    #[serde(default)]
    pub file_truncations: u64,
    /// Restarts of a source's helper process.
    #[serde(default)]
    pub restarts: u64,
}

/// Refused TCP connections by the cap they hit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefusedSnapshot {
    pub max_connections: u64,
    pub max_connections_per_peer: u64,
    pub descriptor_budget: u64,
}

impl RefusedSnapshot {
    pub fn total(&self) -> u64 {
        self.max_connections + self.max_connections_per_peer + self.descriptor_budget
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalSnapshot {
    pub durable_position: u64,
    pub disk_bytes: u64,
    pub max_bytes: u64,
    /// "none", "soft" (sealing early to reclaim files) or "blocked" (writes wait).
    #[serde(default)]
    pub pressure: String,
    /// Why writes wait right now, and for how long they have.
    #[serde(default)]
    pub paused: Option<String>,
    #[serde(default)]
    pub paused_ms: u64,
    #[serde(default)]
    pub pauses_total: u64,
    /// Group commits (one write and one sync each): their rate is the journal's sync rate.
    #[serde(default)]
    pub commits_total: u64,
    /// Failed writes or syncs (each retried, nothing dropped), and the latest.
    #[serde(default)]
    pub write_errors_total: u64,
    #[serde(default)]
    pub last_write_error: Option<String>,
    /// Free space of the state file system at the last look, and what the journal
    /// leaves to the spool (`journal.keep_free_bytes`).
    #[serde(default)]
    pub free_bytes: Option<u64>,
    #[serde(default)]
    pub keep_free_bytes: u64,
    /// Ranges found damaged or missing, and their bytes (each sealed as a
    /// `journal-gap` event).
    #[serde(default)]
    pub gaps_total: u64,
    #[serde(default)]
    pub lost_bytes_total: u64,
    /// Segments sealed early so journal files could be reclaimed.
    #[serde(default)]
    pub early_seals: u64,
    pub consumers: Vec<ConsumerSnapshot>,
}

/// A pause reason in an operator's words.
fn describe_pause(r: &crate::journal::PauseReason) -> String {
    use crate::journal::PauseReason;
    match r {
        PauseReason::Cap {
            disk_bytes,
            max_bytes,
        } => format!(
            "the journal is at its cap ({} of journal.max_bytes {}) until sealed files are reclaimed",
            human_bytes(*disk_bytes),
            human_bytes(*max_bytes)
        ),
        PauseReason::FreeSpace {
            free_bytes,
            reserve_bytes,
        } => format!(
            "the state disk has {} free, less than the {} kept for the spool (journal.keep_free_bytes)",
            human_bytes(*free_bytes),
            human_bytes(*reserve_bytes)
        ),
        PauseReason::WriteError { disk_full: true } => {
            "the state disk is full: journal writes fail and are retried every second".into()
        }
        PauseReason::WriteError { disk_full: false } => {
            "journal writes fail and are retried".into()
        }
    }
}

/// A journal consumer: how far it has committed and how much durable data it has not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumerSnapshot {
    pub name: String,
    pub position: u64,
    pub lag_bytes: u64,
}

/// The detector, a journal consumer of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorSnapshot {
    /// Alerts raised since start (each journalled, so sealed and forwarded), and by
    /// rule id.
    pub alerts: u64,
    pub alerts_by_rule: std::collections::BTreeMap<String, u64>,
    /// Journal position read up to, and the durable bytes after it.
    pub position: u64,
    pub lag_bytes: u64,
    /// Alerts raised but not yet durable in the journal (kept in its snapshot).
    pub pending_alerts: u64,
    /// Records taken from the sealer's decoding instead of decoded a second time (the
    /// rest the detector read from the journal itself: after a restart, or while the
    /// sealer waited).
    #[serde(default)]
    pub fed_records: u64,
    /// Records the detector read from the journal and decoded itself.
    #[serde(default)]
    pub decoded_records: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SealerSnapshot {
    pub sealed_segments: u64,
    pub sealed_events: u64,
    /// Alert records sealed since start (the detector journals them).
    #[serde(default)]
    pub sealed_alerts: u64,
    /// Sequence number the next segment will get (0: none sealed yet).
    pub next_seq: u64,
    pub errors: u64,
    /// `seal.max_age`: the longest a normal segment may cover.
    #[serde(default)]
    pub heartbeat_ms: u64,
    /// Time since the newest segment was closed (since start before the first).
    #[serde(default)]
    pub since_last_seal_ms: u64,
    /// Failed commit attempts since start (each retried).
    #[serde(default)]
    pub commit_failures: u64,
    /// The error while the committer is failing right now.
    #[serde(default)]
    pub commit_failing: Option<String>,
    /// Segments sealed after their heartbeat was due, and the newest of them.
    #[serde(default)]
    pub late_seals: u64,
    #[serde(default)]
    pub last_late: Option<LateSnapshot>,
}

/// The newest late seal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LateSnapshot {
    pub seq: u64,
    pub late_ms: u64,
    pub heartbeat_ms: u64,
    pub reason: String,
    pub ago_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipperSnapshot {
    pub shipped_segments: u64,
    pub shipped_bytes: u64,
    /// One past the newest archived sequence number (0: none yet).
    pub next_seq: u64,
    pub spool_segments: u64,
    pub spool_bytes: u64,
    /// `spool.max_bytes`: at it, sealing pauses until the store takes segments.
    #[serde(default)]
    pub spool_max_bytes: u64,
    #[serde(default)]
    pub spool_full: bool,
    /// Age of the oldest segment waiting in the spool.
    #[serde(default)]
    pub oldest_unshipped_seconds: Option<u64>,
    pub errors: u64,
    /// Failed upload attempts by class (auth, not_found, throttled, network, server,
    /// rejected, local, conflict); classes with none are left out.
    #[serde(default)]
    pub errors_by_class: std::collections::BTreeMap<String, u64>,
    #[serde(default)]
    pub last_error: Option<String>,
    /// The store's version id of the newest shipped segment.
    #[serde(default)]
    pub last_version_id: Option<String>,
    /// What the start-up check of the store found (no Object Lock, credentials refused).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Every condition `status` raises an alert for, in the order shown. To add one, write
/// a check below that pushes a line for an operator, and list it here.
const ALERTS: &[fn(&Snapshot, &mut Vec<String>)] = &[
    journal_paused,
    journal_damage,
    sealing_overdue,
    commit_failing,
    recent_late_seal,
    spool_backlog,
    forward::failing,
    journal_fill,
];

/// A late seal stays an alert this long: long enough to be seen, short enough not to
/// cry wolf for a day.
const LATE_SEAL_ALERT_SECONDS: u64 = 15 * 60;

/// Pauses shorter than this are the cap doing its job while the sealer catches up.
const PAUSE_ALERT_MS: u64 = 1_000;

/// Journal writes waiting: senders are being slowed down (UDP is dropped by the kernel).
fn journal_paused(s: &Snapshot, out: &mut Vec<String>) {
    let j = &s.journal;
    if let Some(why) = &j.paused {
        let failing = why.contains("fail");
        if j.paused_ms >= PAUSE_ALERT_MS || failing {
            let err = match &j.last_write_error {
                Some(e) if failing => format!(" ({e})"),
                _ => String::new(),
            };
            out.push(format!(
                "journal writes paused for {:.1} s: {why}{err}; TCP senders are slowed down, UDP datagrams dropped by the kernel",
                j.paused_ms as f64 / 1000.0
            ));
        }
    }
}

/// Damaged journal data: the readable records were sealed, the rest is lost and the
/// chain says where.
fn journal_damage(s: &Snapshot, out: &mut Vec<String>) {
    let j = &s.journal;
    if j.gaps_total > 0 {
        out.push(format!(
            "journal damage: {} range(s), {} could not be read and are lost (sealed as journal-gap events; the log names the positions)",
            j.gaps_total,
            human_bytes(j.lost_bytes_total)
        ));
    }
}

/// No segment for longer than the heartbeat allows: the auditor will see a gap.
fn sealing_overdue(s: &Snapshot, out: &mut Vec<String>) {
    let hb = s.sealer.heartbeat_ms;
    let slack = crate::seal::late::LATE_SLACK.as_millis() as u64;
    if hb > 0 && s.sealer.since_last_seal_ms > hb.saturating_add(slack) {
        out.push(format!(
            "sealing is late: no segment sealed for {:.1} s against a {:.1} s heartbeat{}",
            s.sealer.since_last_seal_ms as f64 / 1000.0,
            hb as f64 / 1000.0,
            match &s.sealer.commit_failing {
                Some(e) => format!(" (committing fails: {e})"),
                None => String::new(),
            }
        ));
    }
}

/// The committer retries a failed commit; the events are safe in the journal meanwhile.
fn commit_failing(s: &Snapshot, out: &mut Vec<String>) {
    if let Some(e) = &s.sealer.commit_failing {
        out.push(format!(
            "the sealer cannot commit segments to the spool (retrying; events stay in the journal): {e}"
        ));
    }
}

/// A segment sealed late recently: verify will show it, this says why.
fn recent_late_seal(s: &Snapshot, out: &mut Vec<String>) {
    if let Some(l) = &s.sealer.last_late {
        if l.ago_seconds <= LATE_SEAL_ALERT_SECONDS {
            out.push(format!(
                "segment #{} was sealed {:.1} s after its {:.1} s heartbeat was due, {} s ago: {}",
                l.seq,
                l.late_ms as f64 / 1000.0,
                l.heartbeat_ms as f64 / 1000.0,
                l.ago_seconds,
                l.reason
            ));
        }
    }
}

fn alerts(s: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for check in ALERTS {
        check(s, &mut out);
    }
    out
}

/// Segments pile up in the spool when the archive is slow or unreachable.
fn spool_backlog(s: &Snapshot, out: &mut Vec<String>) {
    for w in &s.shipper.warnings {
        out.push(format!("archive: {w}"));
    }
    if s.shipper.spool_full {
        out.push(format!(
            "the spool is full ({} of spool.max_bytes {}): sealing is paused until the archive takes segments; the journal holds new events, then senders are slowed{}",
            human_bytes(s.shipper.spool_bytes),
            human_bytes(s.shipper.spool_max_bytes),
            match &s.shipper.last_error {
                Some(e) => format!(" (last upload error: {e})"),
                None => String::new(),
            }
        ));
    } else if s.shipper.spool_segments >= SPOOL_ALERT_SEGMENTS {
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
