//! The detector as the sealer runs it, and its snapshot across restarts.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::detect::{DetectConfig, Detector};
use crate::forward::webhook::Webhook;

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

/// Where the snapshot that goes with segment `seq` waits until the segment is
/// committed (then it is renamed over the snapshot).
fn staged_path(snapshot: &Path, seq: u64) -> PathBuf {
    let mut name = snapshot.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{seq}.staged"));
    snapshot.with_file_name(name)
}

/// Writes the detector's state at journal `position` beside the snapshot (fsynced),
/// streamed through a small buffer: never the whole state in memory at once.
pub(super) fn stage_snapshot(
    detector: &Detector,
    snapshot: &Path,
    seq: u64,
    position: u64,
) -> Result<PathBuf, String> {
    let path = staged_path(snapshot, seq);
    let write = || -> Result<(), String> {
        let file = std::fs::File::create(&path).map_err(|e| e.to_string())?;
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, file);
        writeln!(w, "{SNAPSHOT_HEADER}{position}").map_err(|e| e.to_string())?;
        detector.save_to(&mut w).map_err(|e| e.to_string())?;
        let file = w.into_inner().map_err(|e| e.to_string())?;
        file.sync_all().map_err(|e| e.to_string())
    };
    write().map(|()| path.clone()).map_err(|e| {
        let _ = std::fs::remove_file(&path);
        format!("{}: {e}", path.display())
    })
}

/// Makes a staged snapshot the snapshot: rename, then fsync the directory. A staged
/// file already gone was renamed by an earlier attempt of the same commit.
pub(super) fn publish_snapshot(staged: &Path, snapshot: &Path) -> std::io::Result<()> {
    match std::fs::rename(staged, snapshot) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    let dir = snapshot
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

/// Removes snapshots staged for segments a crash left uncommitted.
pub(super) fn remove_staged(snapshot: &Path) {
    let (Some(dir), Some(name)) = (snapshot.parent(), snapshot.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{}.", name.to_string_lossy());
    for e in entries.flatten() {
        let n = e.file_name();
        let n = n.to_string_lossy();
        if n.starts_with(&prefix) && n.ends_with(".staged") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_snapshot_counts_only_once_published() {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = dir.path().join("detector.snapshot");
        let detector = Detector::new(DetectConfig::default());
        let staged = stage_snapshot(&detector, &snapshot, 7, 1234).unwrap();
        assert!(staged.exists() && !snapshot.exists());
        // Not published (a crash before the segment's commit): ignored, then removed.
        let d = load_detection(DetectConfig::default(), None, &snapshot, 5000);
        assert_eq!(d.snapshot_position, 0);
        remove_staged(&snapshot);
        assert!(!staged.exists());
        // Staged and published: restored at its position; publishing again is a no-op.
        let staged = stage_snapshot(&detector, &snapshot, 8, 1234).unwrap();
        publish_snapshot(&staged, &snapshot).unwrap();
        publish_snapshot(&staged, &snapshot).unwrap();
        let d = load_detection(DetectConfig::default(), None, &snapshot, 5000);
        assert_eq!(d.snapshot_position, 1234);
        assert_eq!(d.warm_up_from, Some(1234));
        let text = std::fs::read_to_string(&snapshot).unwrap();
        assert!(
            text.starts_with(&format!("{SNAPSHOT_HEADER}1234\n")),
            "{text}"
        );
    }
}
