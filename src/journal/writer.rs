//! The writer thread: group commit, file rolls, the disk cap, the free-space reserve,
//! write-error retries and the durable-end marker.

use std::fs::File;
use std::io::{self, IoSlice, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::files;
use super::health::{PauseReason, Pressure};
use super::recover::Recovered;
use super::{io_err, lock, Batch, Inner, JournalError, Queue};
use crate::throttle::{Backoff, Throttle};

/// Linux refuses `writev` with more than 1024 buffers.
const MAX_IOV: usize = 512;
/// Attempts to flush after `close` before giving up and reporting the error.
const CLOSE_ATTEMPTS: u32 = 3;
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A full disk must recover as soon as space returns: retry at least once a second.
const BACKOFF_MAX_FULL: Duration = Duration::from_secs(1);
/// While waiting for room, how often free space and the cursors are looked at again
/// (a reclaim by a consumer wakes the writer at once).
const ROOM_POLL: Duration = Duration::from_millis(50);
/// The end marker is rewritten at most this often (two fsyncs each time).
const MARKER_EVERY: Duration = Duration::from_secs(1);
/// Under a strict cap and steady load the writer pauses often; say so at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);

pub(super) struct Writer {
    inner: Arc<Inner>,
    file: File,
    path: PathBuf,
    file_start: u64,
    /// Position just past the last byte written to the current file (page cache).
    pos: u64,
    /// Position just past the last synced byte: `pos` as of the last successful sync.
    durable: u64,
    /// The group being committed: every batch that was queued when the writer woke.
    group: Vec<Batch>,
    /// Batches of `group` written (`written`) and synced (`synced`).
    written: usize,
    synced: usize,
    /// A write or sync failed: the file past `durable` must be cut before retrying.
    dirty: bool,
    /// Batches at the front of `group` whose queue space was already given back.
    released: usize,
    /// What the end marker on disk says, and when the writer last tried to write it.
    marker: Option<u64>,
    marker_at: Instant,
    marker_failing: bool,
    probe_failing: bool,
    /// Pressure as of the last look, to wake consumers when it rises.
    level: Pressure,
    /// Pauses and write errors are logged at most once per [`LOG_EVERY`].
    log: Throttle,
    /// When the last group commit started: the next waits out the commit delay from it.
    last_commit: Option<Instant>,
}

/// How far `try_commit` got.
enum Progress {
    Done,
    /// Everything written so far is synced; the next batch must wait.
    Wait(PauseReason),
}

impl Writer {
    pub(super) fn new(inner: Arc<Inner>, rec: Recovered) -> Writer {
        Writer {
            inner,
            file: rec.file,
            path: rec.path,
            file_start: rec.start,
            pos: rec.end,
            durable: rec.end,
            group: Vec::new(),
            written: 0,
            synced: 0,
            dirty: false,
            released: 0,
            marker: rec.marker,
            marker_at: Instant::now(),
            marker_failing: false,
            probe_failing: false,
            level: Pressure::None,
            log: Throttle::new(LOG_EVERY),
            last_commit: None,
        }
    }

    pub(super) fn run(mut self) {
        loop {
            let work = {
                let mut q = lock(&self.inner.queue);
                loop {
                    if !q.batches.is_empty() || q.closed {
                        break;
                    }
                    q = match self.marker_due() {
                        Some(d) if d.is_zero() => break,
                        Some(d) => {
                            self.inner
                                .queue_cv
                                .wait_timeout(q, d)
                                .unwrap_or_else(PoisonError::into_inner)
                                .0
                        }
                        None => self
                            .inner
                            .queue_cv
                            .wait(q)
                            .unwrap_or_else(PoisonError::into_inner),
                    };
                }
                if q.batches.is_empty() && q.closed {
                    break; // closed and drained
                }
                q = self.wait_out_commit_delay(q);
                // Swap keeps both vectors' capacity: no allocation per group.
                std::mem::swap(&mut q.batches, &mut self.group);
                q.bytes = 0;
                !self.group.is_empty()
            };
            if work {
                let failed = !self.commit_group();
                self.release(self.group.len());
                self.group.clear();
                self.released = 0;
                if failed {
                    break;
                }
            }
            if self.marker_due().is_some_and(|d| d.is_zero()) {
                self.write_marker();
            }
        }
        if self.marker_due().is_some() {
            self.write_marker();
        }
        self.inner.publish_stopped();
    }

    /// Lets more batches join the group until the commit delay since the previous group
    /// commit has passed, the queue is half full, or the journal closes.
    fn wait_out_commit_delay<'q>(&self, q: MutexGuard<'q, Queue>) -> MutexGuard<'q, Queue> {
        let opts = &self.inner.opts;
        let Some(last) = self.last_commit.filter(|_| opts.fsync) else {
            return q;
        };
        let half = u64::from(self.inner.queue_bytes) / 2;
        self.wait_until(q, last + opts.commit_delay, |q| q.closed || q.bytes >= half)
    }

    /// Waits on the queue until `deadline` or until `done` holds for it.
    fn wait_until<'q>(
        &self,
        mut q: MutexGuard<'q, Queue>,
        deadline: Instant,
        done: impl Fn(&Queue) -> bool,
    ) -> MutexGuard<'q, Queue> {
        loop {
            let now = Instant::now();
            if done(&q) || now >= deadline {
                return q;
            }
            q = self
                .inner
                .queue_cv
                .wait_timeout(q, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// `Some(time until the marker may be rewritten)` if it lags the durable end.
    fn marker_due(&self) -> Option<Duration> {
        (self.marker.unwrap_or(0) != self.durable)
            .then(|| MARKER_EVERY.saturating_sub(self.marker_at.elapsed()))
    }

    fn write_marker(&mut self) {
        self.marker_at = Instant::now();
        match files::write_end_marker(&self.inner.dir, self.durable) {
            Ok(()) => {
                self.marker = Some(self.durable);
                if std::mem::take(&mut self.marker_failing) {
                    tracing::info!("journal end marker written again");
                }
            }
            Err(e) => {
                if !std::mem::replace(&mut self.marker_failing, true) {
                    tracing::warn!(dir = %self.inner.dir.display(), error = %e, "journal end marker could not be written (retried every second); a truncated journal may go unnoticed until it is");
                }
            }
        }
    }

    /// Writes and syncs the whole group: waits for room when the cap or the reserve says
    /// so, retries errors with backoff. Returns false only when closing and the flush
    /// keeps failing (the failure is recorded for `close`).
    fn commit_group(&mut self) -> bool {
        self.last_commit = Some(Instant::now());
        self.inner.health.commits.fetch_add(1, Ordering::Relaxed);
        self.written = 0;
        self.synced = 0;
        // Retries pace themselves; a full disk is retried at least once a second.
        let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
        let mut backoff_full = Backoff::new(BACKOFF_MIN, BACKOFF_MAX_FULL);
        let mut close_attempts = 0;
        loop {
            let err = match self.try_commit() {
                Ok(Progress::Done) => {
                    self.resume();
                    return true;
                }
                Ok(Progress::Wait(reason)) => {
                    // What is synced is done with: give its queue space back now, so
                    // sources can append again as soon as there is room, instead of
                    // waiting for the whole group (up to the queue's size, often far
                    // more than the cap) to get through the cap.
                    self.release(self.synced);
                    self.pause(reason);
                    self.wait_for_room();
                    continue;
                }
                Err(e) => e,
            };
            self.dirty = true;
            let full = storage_full(&err);
            self.inner.health.write_error(err.to_string());
            self.pause(PauseReason::WriteError { disk_full: full });
            if self.inner.closing() {
                close_attempts += 1;
                if close_attempts >= CLOSE_ATTEMPTS {
                    tracing::error!(error = %err, "journal flush on close failed; giving up");
                    let (path, source) = match err {
                        JournalError::Io { path, source } => (path, source),
                        other => (self.path.clone(), io::Error::other(other.to_string())),
                    };
                    *lock(&self.inner.failure) = Some((path, source.kind(), source.to_string()));
                    return false;
                }
            }
            let pause = if full {
                backoff_full.step()
            } else {
                backoff.step()
            };
            if let Some(failures) = self.log.hit(Instant::now()) {
                tracing::warn!(
                    error = %err,
                    failures,
                    retry_in_ms = pause.as_millis() as u64,
                    "journal write failed; retrying (queued batches are kept)"
                );
            }
            if full {
                // Sealed files may be reclaimable now; each one freed is room to retry in.
                if let Err(e) = self.inner.reclaim() {
                    tracing::debug!(error = %e, "journal reclaim while out of space failed");
                }
            }
            self.sleep(pause);
        }
    }

    /// Returns the queue space of `group[released..upto]` to the appenders.
    fn release(&mut self, upto: usize) {
        if upto <= self.released {
            return;
        }
        let permits: usize = self.group[self.released..upto]
            .iter()
            .map(|b| self.inner.permits(b.bytes()) as usize)
            .sum();
        self.released = upto;
        self.inner.space.add_permits(permits);
    }

    /// Enters a pause: consumers waiting in `wait_durable_beyond` wake so the sealer can
    /// seal (and commit, and reclaim) now instead of at its next heartbeat.
    fn pause(&mut self, reason: PauseReason) {
        if self.inner.health.pause(reason) {
            self.inner.pressure_rose();
            if !matches!(reason, PauseReason::WriteError { .. })
                && self.log.hit(Instant::now()).is_some()
            {
                tracing::warn!(?reason, "journal writes paused until consumers commit and files are reclaimed, or space returns (appends back up meanwhile)");
            }
        }
        self.level = Pressure::Blocked;
    }

    fn resume(&mut self) {
        if !self.inner.health.blocked() {
            return;
        }
        if let Some((reason, paused)) = self.inner.health.resume() {
            if paused >= Duration::from_secs(1) {
                tracing::info!(
                    ?reason,
                    paused_ms = paused.as_millis() as u64,
                    "journal writes resumed"
                );
            }
        }
        self.level = self.inner.pressure();
    }

    /// Wakes consumers when the pressure rose since the last look.
    fn note_pressure(&mut self) {
        let now = self.inner.pressure();
        if now > self.level {
            self.inner.pressure_rose();
        }
        self.level = now;
    }

    /// Waits a little for room: reclaims first (cursors may already allow it), then
    /// sleeps until a reclaim frees space, close, or the next poll of the free space.
    fn wait_for_room(&mut self) {
        // A pause may last long; the marker must still follow what was synced before it.
        if self.marker_due().is_some_and(|d| d.is_zero()) {
            self.write_marker();
        }
        let disk = &self.inner.disk_bytes;
        let before = disk.load(Ordering::Acquire);
        match self.inner.reclaim() {
            Ok(freed) if freed > 0 => return,
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "journal reclaim while waiting for room failed"),
        }
        let q = lock(&self.inner.queue);
        // A reclaim frees before it takes the queue lock to notify: checking under the
        // lock means its notification cannot be missed.
        if q.closed || disk.load(Ordering::Acquire) < before {
            return;
        }
        drop(
            self.inner
                .queue_cv
                .wait_timeout(q, ROOM_POLL)
                .unwrap_or_else(PoisonError::into_inner),
        );
    }

    /// Room for the next run of batches, or why there is none for `need` bytes. Closing
    /// flushes past both limits: the queue (bounded) must not be lost.
    fn room(&mut self, need: u64) -> Result<u64, PauseReason> {
        if self.inner.closing() {
            return Ok(u64::MAX);
        }
        let max_bytes = self.inner.opts.max_bytes;
        let disk_bytes = self.inner.disk_bytes.load(Ordering::Acquire);
        // Only the current file on disk: nothing can be reclaimed, so waiting could never
        // end. Its size is below `file_bytes` (else it would have rolled), so this
        // overshoots the cap by at most one batch, and only when a batch is that large.
        let cap_room = if disk_bytes <= self.pos - self.file_start {
            u64::MAX
        } else {
            max_bytes.saturating_sub(disk_bytes)
        };
        if cap_room < need {
            return Err(PauseReason::Cap {
                disk_bytes,
                max_bytes,
            });
        }
        let reserve = self.inner.opts.reserve_free_bytes;
        if reserve == 0 {
            return Ok(cap_room);
        }
        match self.inner.opts.free_space.free(&self.inner.dir) {
            Ok(free) => {
                self.inner.health.set_free_bytes(free);
                self.probe_failing = false;
                let free_room = free.saturating_sub(reserve);
                if free_room < need {
                    return Err(PauseReason::FreeSpace {
                        free_bytes: free,
                        reserve_bytes: reserve,
                    });
                }
                Ok(cap_room.min(free_room))
            }
            Err(e) => {
                // Not knowing is no reason to stop: the cap and write errors still hold.
                if !std::mem::replace(&mut self.probe_failing, true) {
                    tracing::warn!(dir = %self.inner.dir.display(), error = %e, "journal cannot read free disk space; the free-space reserve is not enforced until it can");
                }
                Ok(cap_room)
            }
        }
    }

    /// Sleeps for `d`, cut short by `close` (appends do not wake it).
    fn sleep(&self, d: Duration) {
        let q = lock(&self.inner.queue);
        drop(self.wait_until(q, Instant::now() + d, |q| q.closed));
    }

    fn try_commit(&mut self) -> Result<Progress, JournalError> {
        if self.dirty {
            self.rewind()?;
            self.dirty = false;
        }
        let file_bytes = self.inner.opts.file_bytes;
        let n = self.group.len();
        while self.written < n {
            if self.pos - self.file_start >= file_bytes {
                self.sync()?;
                self.roll()?;
            }
            // Checked per batch, not per group: the cap then holds to within one batch.
            let first = self.written;
            let room = match self.room(self.group[first].bytes() as u64) {
                Ok(room) => room,
                Err(reason) => {
                    // What is written becomes durable, so consumers can commit past it.
                    self.sync()?;
                    return Ok(Progress::Wait(reason));
                }
            };
            // The run of batches that goes into the current file and fits the room.
            let mut end = first;
            let mut len = self.pos - self.file_start;
            let mut run = 0u64;
            while end < n && (end == first || len < file_bytes) {
                let bytes = self.group[end].bytes() as u64;
                if end > first && run + bytes > room {
                    break;
                }
                len += bytes;
                run += bytes;
                end += 1;
            }
            write_batches(
                &mut self.file,
                &self.group[first..end],
                &mut self.pos,
                &self.inner.disk_bytes,
            )
            .map_err(|e| io_err(&self.path, e))?;
            self.written = end;
            let disk = self.inner.disk_bytes.load(Ordering::Acquire);
            self.inner
                .health
                .disk_peak
                .fetch_max(disk, Ordering::Relaxed);
            self.resume();
            self.note_pressure();
        }
        self.sync()?;
        Ok(Progress::Done)
    }

    /// Syncs the current file and publishes the new durable position.
    fn sync(&mut self) -> Result<(), JournalError> {
        if self.pos != self.durable {
            if self.inner.opts.fsync {
                self.file.sync_data().map_err(|e| io_err(&self.path, e))?;
            }
            self.durable = self.pos;
            self.inner.publish_durable(self.durable);
        }
        self.synced = self.written;
        Ok(())
    }

    /// Starts a new file at the current (synced) position.
    fn roll(&mut self) -> Result<(), JournalError> {
        let (file, path) = files::create(&self.inner.dir, self.pos)?;
        self.file = file;
        self.path = path;
        self.file_start = self.pos;
        Ok(())
    }

    /// After a failed write or sync, cuts the current file back to the durable position
    /// and rewinds the group to its first unsynced batch. Rewriting from memory (rather than
    /// retrying `fsync`) matters: after a failed fsync the kernel may have dropped the
    /// dirty pages while reporting a later fsync as successful.
    fn rewind(&mut self) -> Result<(), JournalError> {
        let keep = self.durable - self.file_start;
        self.file.set_len(keep).map_err(|e| io_err(&self.path, e))?;
        self.file
            .seek(SeekFrom::Start(keep))
            .map_err(|e| io_err(&self.path, e))?;
        self.inner
            .disk_bytes
            .fetch_sub(self.pos - self.durable, Ordering::AcqRel);
        self.pos = self.durable;
        self.written = self.synced;
        Ok(())
    }
}

/// ENOSPC or EDQUOT: retried quickly, since freeing a little space should be enough.
fn storage_full(err: &JournalError) -> bool {
    match err {
        JournalError::Io { source, .. } => matches!(
            source.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
        ),
        _ => false,
    }
}

/// One `writev` per up to `MAX_IOV` batches, straight from the batch buffers. `pos` and
/// `disk` advance by exactly what reached the file, even when an error cuts it short.
fn write_batches(
    file: &mut File,
    batches: &[Batch],
    pos: &mut u64,
    disk: &AtomicU64,
) -> io::Result<()> {
    for chunk in batches.chunks(MAX_IOV) {
        let mut slices: Vec<IoSlice<'_>> =
            chunk.iter().map(|b| IoSlice::new(b.as_bytes())).collect();
        let mut bufs = &mut slices[..];
        while !bufs.is_empty() {
            match file.write_vectored(bufs) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    *pos += n as u64;
                    disk.fetch_add(n as u64, Ordering::AcqRel);
                    IoSlice::advance_slices(&mut bufs, n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_recognised_for_the_short_backoff() {
        let full = |code| JournalError::Io {
            path: PathBuf::from("/x"),
            source: io::Error::from_raw_os_error(code),
        };
        assert!(storage_full(&full(rustix::io::Errno::NOSPC.raw_os_error())));
        assert!(storage_full(&full(rustix::io::Errno::DQUOT.raw_os_error())));
        assert!(!storage_full(&full(rustix::io::Errno::IO.raw_os_error())));
        assert!(!storage_full(&JournalError::Closed));
    }
}
