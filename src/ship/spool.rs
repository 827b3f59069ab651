//! The spool: sealed segments waiting for the store, one file each, named by sequence
//! number. Its size is bounded by `spool.max_bytes`: when full, the sealer stops
//! taking from the journal (see [`Spool::wait_for_room`]), so a long store outage turns
//! into backpressure on the sources instead of filling the disk.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{ShipError, ShipStats};

/// Spooled segments, oldest first by sequence number.
pub fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, ShipError> {
    let err = |source| ShipError::Spool {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let name = entry.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".seg.zst"))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((seq, entry.path()));
    }
    out.sort_unstable();
    Ok(out)
}

/// The spool's size, shared by the committer (which adds), the shipper (which
/// removes) and the sealer (which waits for room). The figures are the shipper's
/// gauges in [`ShipStats`].
#[derive(Debug)]
pub struct Spool {
    pub dir: PathBuf,
    pub max_bytes: u64,
    stats: Arc<ShipStats>,
    room: (Mutex<()>, Condvar),
}

impl Spool {
    pub fn new(dir: PathBuf, max_bytes: u64, stats: Arc<ShipStats>) -> Spool {
        Spool {
            dir,
            max_bytes,
            stats,
            room: (Mutex::new(()), Condvar::new()),
        }
    }

    /// Counts what is in the spool now (at start, and whenever the shipper lists it).
    pub fn recount(&self, pending: &[(u64, PathBuf)]) {
        let bytes: u64 = pending
            .iter()
            .filter_map(|(_, p)| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        self.stats
            .spool_segments
            .store(pending.len() as u64, Ordering::Relaxed);
        self.stats.spool_bytes.store(bytes, Ordering::Relaxed);
        self.notify();
    }

    /// A segment of `bytes` was published into the spool.
    pub fn added(&self, bytes: u64) {
        self.stats.spool_segments.fetch_add(1, Ordering::Relaxed);
        self.stats.spool_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A segment of `bytes` left the spool (the store confirmed it).
    pub fn removed(&self, bytes: u64) {
        let sub = |a: &std::sync::atomic::AtomicU64, n: u64| {
            let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
        };
        sub(&self.stats.spool_segments, 1);
        sub(&self.stats.spool_bytes, bytes);
        self.notify();
    }

    fn notify(&self) {
        let _guard = self.room.0.lock().unwrap_or_else(|p| p.into_inner());
        self.room.1.notify_all();
    }

    pub fn is_full(&self) -> bool {
        self.stats.spool_bytes.load(Ordering::Relaxed) >= self.max_bytes
    }

    /// Blocks (a sealer thread) while the spool is full, until there is room or `stop`
    /// says so. Returns whether it had to wait.
    pub fn wait_for_room(&self, stop: &dyn Fn() -> bool) -> bool {
        if !self.is_full() {
            return false;
        }
        tracing::warn!(
            spool_bytes = self.stats.spool_bytes.load(Ordering::Relaxed),
            max_bytes = self.max_bytes,
            "the spool is full (spool.max_bytes): sealing pauses until the store takes segments; the journal holds what arrives, then the sources are slowed"
        );
        self.stats.spool_full.store(true, Ordering::Relaxed);
        let mut guard = self.room.0.lock().unwrap_or_else(|p| p.into_inner());
        while self.is_full() && !stop() {
            guard = match self.room.1.wait_timeout(guard, Duration::from_millis(200)) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        drop(guard);
        self.stats.spool_full.store(false, Ordering::Relaxed);
        tracing::info!("the spool has room again: sealing resumes");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_while_full_and_wakes_on_removal() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(ShipStats::default());
        let spool = Arc::new(Spool::new(dir.path().to_path_buf(), 100, stats.clone()));
        assert!(!spool.wait_for_room(&|| false), "empty: no wait");
        spool.added(60);
        spool.added(60);
        assert!(spool.is_full());
        let s2 = spool.clone();
        let t = std::thread::spawn(move || s2.wait_for_room(&|| false));
        std::thread::sleep(Duration::from_millis(100));
        assert!(!t.is_finished(), "must wait while full");
        spool.removed(60);
        assert!(t.join().unwrap());
        assert_eq!(stats.spool_bytes.load(Ordering::Relaxed), 60);
        assert_eq!(stats.spool_segments.load(Ordering::Relaxed), 1);
        // Stopping ends the wait even when still full.
        spool.added(60);
        assert!(spool.wait_for_room(&|| true));
    }

    #[test]
    fn lists_segments_in_sequence_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "000000000010.seg.zst",
            "000000000002.seg.zst",
            "x.tmp",
            "3.seg.zst.staged",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let seqs: Vec<u64> = list(dir.path())
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(seqs, vec![2, 10]);
    }
}
