//! The writer thread: group commit, file rolls, the disk cap and write-error retries.

use std::fs::File;
use std::io::{self, IoSlice, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use super::files::{self, Recovered};
use super::{io_err, lock, Batch, Inner, JournalError};

/// Linux refuses `writev` with more than 1024 buffers.
const MAX_IOV: usize = 512;
/// Attempts to flush after `close` before giving up and reporting the error.
const CLOSE_ATTEMPTS: u32 = 3;
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

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
        }
    }

    pub(super) fn run(mut self) {
        loop {
            {
                let mut q = lock(&self.inner.queue);
                while q.batches.is_empty() && !q.closed {
                    q = self
                        .inner
                        .queue_cv
                        .wait(q)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if q.batches.is_empty() {
                    break; // closed and drained
                }
                // Swap keeps both vectors' capacity: no allocation per group.
                std::mem::swap(&mut q.batches, &mut self.group);
            }
            self.wait_for_space();
            let failed = !self.commit_group();
            let permits: usize = self
                .group
                .iter()
                .map(|b| self.inner.permits(b.bytes()) as usize)
                .sum();
            self.group.clear();
            self.inner.space.add_permits(permits);
            if failed {
                break;
            }
        }
        self.inner.publish_stopped();
    }

    /// Blocks while the journal is at or over `max_bytes`, until `reclaim` frees space.
    /// On close, the queued batches are flushed past the cap (bounded by the queue size).
    fn wait_for_space(&self) {
        let max = self.inner.opts.max_bytes;
        let disk = &self.inner.disk_bytes;
        if disk.load(Ordering::Acquire) < max {
            return;
        }
        tracing::warn!(
            disk_bytes = disk.load(Ordering::Acquire),
            max_bytes = max,
            "journal disk cap reached: writes paused until consumers advance and reclaim frees space"
        );
        let mut q = lock(&self.inner.queue);
        loop {
            if disk.load(Ordering::Acquire) < max {
                tracing::info!("journal below its disk cap again: writes resumed");
                return;
            }
            if q.closed {
                tracing::warn!("journal closing over its disk cap: flushing queued batches anyway");
                return;
            }
            q = self
                .inner
                .queue_cv
                .wait_timeout(q, Duration::from_secs(1))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Writes and syncs the whole group, retrying with backoff on errors. Returns false
    /// only when closing and the flush keeps failing (the failure is recorded for `close`).
    fn commit_group(&mut self) -> bool {
        self.written = 0;
        self.synced = 0;
        let mut backoff = BACKOFF_MIN;
        let mut close_attempts = 0;
        loop {
            let err = match self.try_commit() {
                Ok(()) => return true,
                Err(e) => e,
            };
            self.dirty = true;
            if lock(&self.inner.queue).closed {
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
            tracing::warn!(
                error = %err,
                retry_in_ms = backoff.as_millis() as u64,
                "journal write failed; retrying (queued batches are kept)"
            );
            self.sleep(backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Sleeps for `d`, cut short by `close` (appends do not wake it).
    fn sleep(&self, d: Duration) {
        let deadline = Instant::now() + d;
        let mut q = lock(&self.inner.queue);
        loop {
            let now = Instant::now();
            if q.closed || now >= deadline {
                return;
            }
            q = self
                .inner
                .queue_cv
                .wait_timeout(q, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn try_commit(&mut self) -> Result<(), JournalError> {
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
            // The run of batches that goes into the current file.
            let first = self.written;
            let mut end = first;
            let mut len = self.pos - self.file_start;
            while end < n && (end == first || len < file_bytes) {
                len += self.group[end].bytes() as u64;
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
        }
        self.sync()
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
