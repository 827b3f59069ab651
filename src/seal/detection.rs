//! The detector as the sealer runs it, and its snapshot across restarts.

use std::path::Path;

use crate::detect::{DetectConfig, Detector};
use crate::webhook::Webhook;

/// The detector as the sealer runs it: it sees every authentication event in journal
/// order and its alerts are sealed right behind the event that raised them.
///
/// Its state is saved with a segment commit (every [`super::SNAPSHOT_EVERY`] and at shutdown)
/// together with the journal position it stands for. After a crash the sealer resumes
/// at its own, later checkpoint; the detector first re-reads the records in between
/// (their alerts were already sealed, so they are not raised again), and is then
/// exactly where it was.
pub(super) struct Detection {
    pub(super) detector: Detector,
    pub(super) webhook: Option<Webhook>,
    pub(super) last_snapshot: std::time::Instant,
    /// Journal position of the loaded snapshot, when it lags the sealer's.
    pub(super) warm_up_from: Option<u64>,
    /// Journal position of the newest snapshot (where its cursor pins the journal).
    pub(super) snapshot_position: u64,
    /// Scratch buffer for webhook bodies.
    pub(super) scratch: Vec<u8>,
    /// Alerts are logged one by one up to a burst per interval, then counted: every
    /// alert is sealed (and posted) anyway, and a storm must not cost a log line each.
    pub(super) log: crate::throttle::BurstLog,
}

/// Alerts logged one by one per [`ALERT_LOG_INTERVAL`].
const ALERT_LOG_BURST: u32 = 20;
const ALERT_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

fn alert_log() -> crate::throttle::BurstLog {
    crate::throttle::BurstLog::new(ALERT_LOG_INTERVAL, ALERT_LOG_BURST)
}

/// First line of the detector snapshot file, followed by the journal position.
pub(super) const SNAPSHOT_HEADER: &str = "sealtrail-detector-snapshot v1 position=";

/// Restores the detector from its snapshot when it is usable, else starts it fresh.
pub(super) fn load_detection(
    cfg: DetectConfig,
    webhook: Option<Webhook>,
    path: &Path,
    sealer_position: u64,
) -> Detection {
    let fresh = |cfg: DetectConfig| Detection {
        detector: Detector::new(cfg),
        webhook: webhook.clone(),
        last_snapshot: std::time::Instant::now(),
        warm_up_from: None,
        // No snapshot yet: its cursor, registered but uncommitted, pins the journal.
        snapshot_position: 0,
        scratch: Vec::new(),
        log: alert_log(),
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return fresh(cfg),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "detector state unreadable; starting with an empty one");
            return fresh(cfg);
        }
    };
    let parsed = bytes.iter().position(|&b| b == b'\n').and_then(|nl| {
        let head = std::str::from_utf8(&bytes[..nl]).ok()?;
        let pos = head.strip_prefix(SNAPSHOT_HEADER)?.parse::<u64>().ok()?;
        Some((pos, &bytes[nl + 1..]))
    });
    let Some((pos, snapshot)) = parsed else {
        tracing::warn!(file = %path.display(), "detector state has no valid header; starting with an empty one");
        return fresh(cfg);
    };
    if pos > sealer_position {
        tracing::warn!(
            snapshot = pos,
            sealer = sealer_position,
            "detector state is ahead of the sealer; starting with an empty one"
        );
        return fresh(cfg);
    }
    match Detector::restore(cfg.clone(), snapshot) {
        Ok(detector) => Detection {
            detector,
            webhook,
            last_snapshot: std::time::Instant::now(),
            warm_up_from: (pos < sealer_position).then_some(pos),
            snapshot_position: pos,
            scratch: Vec::new(),
            log: alert_log(),
        },
        Err(e) => {
            tracing::warn!(error = %e, "detector state not restored; starting with an empty one");
            fresh(cfg)
        }
    }
}
