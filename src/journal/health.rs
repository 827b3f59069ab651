//! What the journal tells `status`, `/metrics` and its consumers about the pressure it is
//! under: whether the writer is paused and why, write errors, and lost ranges.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::lock;

/// How urgently consumers should commit so journal files can be reclaimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pressure {
    /// Plenty of room.
    None,
    /// The files take half the cap or more, or free space is under twice the reserve:
    /// commit (seal) early so files are reclaimed before the writer has to stop.
    Soft,
    /// The writer is waiting (for room under the cap, for free disk space, or retrying a
    /// failed write): appends back up until consumers commit and files are reclaimed.
    Blocked,
}

/// Why the writer is waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseReason {
    /// The next batch would take the journal files over `max_bytes`.
    Cap { disk_bytes: u64, max_bytes: u64 },
    /// Writing would leave less than `reserve_free_bytes` free on the file system.
    FreeSpace { free_bytes: u64, reserve_bytes: u64 },
    /// A write or sync failed and is being retried; `disk_full` for ENOSPC/EDQUOT.
    WriteError { disk_full: bool },
}

/// A snapshot for status and metrics. Cheap: atomics and two short mutexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalHealth {
    pub pressure: Pressure,
    /// Bytes in journal files now, the most they took since open, and the cap.
    pub disk_bytes: u64,
    pub disk_bytes_peak: u64,
    pub max_bytes: u64,
    /// Free space of the journal's file system at the last check (only checked when a
    /// reserve is configured), and that reserve.
    pub free_bytes: Option<u64>,
    pub reserve_free_bytes: u64,
    /// Set while the writer waits; `paused_for` is how long this pause has lasted.
    pub paused: Option<PauseReason>,
    pub paused_for: Option<Duration>,
    /// Pauses since open (every time the writer had to wait).
    pub pauses_total: u64,
    /// Group commits since open: each a vectored write of every queued batch and, with
    /// `fsync`, one `fdatasync`.
    pub commits_total: u64,
    /// Failed writes or syncs (each retried, nothing dropped), and the latest one.
    pub write_errors_total: u64,
    pub last_write_error: Option<String>,
    /// Ranges found unreadable (damaged, missing, truncated) and their bytes.
    pub gaps_total: u64,
    pub lost_bytes_total: u64,
}

const UNKNOWN: u64 = u64::MAX;

/// The writer's side of the health, shared through `Inner`.
#[derive(Debug)]
pub(super) struct HealthState {
    pause: Mutex<Option<(PauseReason, Instant)>>,
    blocked: AtomicBool,
    /// Bumped whenever the pressure rises, so waiting consumers wake (see
    /// `wait_durable_beyond`) rather than finding out at their next timeout.
    pub epoch: AtomicU64,
    pauses: AtomicU64,
    pub commits: AtomicU64,
    write_errors: AtomicU64,
    last_write_error: Mutex<Option<String>>,
    free_bytes: AtomicU64,
    pub disk_peak: AtomicU64,
}

impl Default for HealthState {
    fn default() -> Self {
        HealthState {
            pause: Mutex::new(None),
            blocked: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            pauses: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            last_write_error: Mutex::new(None),
            free_bytes: AtomicU64::new(UNKNOWN),
            disk_peak: AtomicU64::new(0),
        }
    }
}

impl HealthState {
    pub fn blocked(&self) -> bool {
        self.blocked.load(Ordering::Acquire)
    }

    /// Enters (or updates the reason of) a pause. True if a new pause began.
    pub fn pause(&self, reason: PauseReason) -> bool {
        let mut p = lock(&self.pause);
        let new = p.is_none();
        let since = p.map_or_else(Instant::now, |(_, since)| since);
        *p = Some((reason, since));
        drop(p);
        if new {
            self.pauses.fetch_add(1, Ordering::Relaxed);
            self.blocked.store(true, Ordering::Release);
        }
        new
    }

    /// Leaves the pause, if any; returns its reason and length.
    pub fn resume(&self) -> Option<(PauseReason, Duration)> {
        let p = lock(&self.pause).take();
        self.blocked.store(false, Ordering::Release);
        p.map(|(reason, since)| (reason, since.elapsed()))
    }

    pub fn write_error(&self, msg: String) {
        self.write_errors.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_write_error) = Some(msg);
    }

    pub fn set_free_bytes(&self, free: u64) {
        self.free_bytes
            .store(free.min(UNKNOWN - 1), Ordering::Relaxed);
    }

    pub fn free_bytes(&self) -> Option<u64> {
        let f = self.free_bytes.load(Ordering::Relaxed);
        (f != UNKNOWN).then_some(f)
    }

    /// Fills in the writer's part of a health snapshot.
    pub fn fill(&self, h: &mut JournalHealth) {
        if let Some((reason, since)) = *lock(&self.pause) {
            h.paused = Some(reason);
            h.paused_for = Some(since.elapsed());
        }
        h.pauses_total = self.pauses.load(Ordering::Relaxed);
        h.commits_total = self.commits.load(Ordering::Relaxed);
        h.write_errors_total = self.write_errors.load(Ordering::Relaxed);
        h.last_write_error = lock(&self.last_write_error).clone();
        h.free_bytes = self.free_bytes();
        h.disk_bytes_peak = self.disk_peak.load(Ordering::Relaxed);
    }
}
