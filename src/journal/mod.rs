//! Write-ahead journal: the single commit point of the daemon.
//!
//! Sources append *batches* of opaque payloads (encoded ingest records); one writer thread
//! group-commits everything queued with one vectored write and one `fdatasync`, then
//! publishes the new durable position. Consumers read durable records through a [`Reader`]
//! and remember where they stand in a named [`Cursor`].
//!
//! # On-disk format
//!
//! A directory (mode 0700) of files named `{start_position:020}.wal` (no file header),
//! `cursors/<name>.json`, the durable-end marker `end.json` (`{"durable_end":N}`) and
//! `lock`. A file holds whole records back to back (record format 2):
//!
//! ```text
//! [4-byte magic F5 4A 52 4E ("\xF5JRN")][u32 LE crc32c(len_le ‖ payload)][u32 LE payload_len][payload]
//! ```
//!
//! `payload_len` is `1..=MAX_PAYLOAD` (17 MiB: a 16 MiB message plus its ingest header).
//! Zero is invalid on purpose: a zero-filled tail (what some file systems leave after a
//! crash) must not parse as records. The magic lets recovery and readers find the next
//! record after damage; the checksum covers the length, so a damaged length cannot pass
//! (it precedes the length so that what it covers is contiguous: one `crc32c` per read).
//! A record's *position* is its logical byte offset in the journal (the file's start
//! position plus the record's offset in the file); positions are stable forever and serve
//! as event ids. Files are normally contiguous (each starts where the previous one ends);
//! a range that no file holds is a gap, never reused. Records never span files; the
//! writer rolls to a new file before a batch when the current file has reached
//! `file_bytes` (so a file may exceed `file_bytes` by at most one batch).
//!
//! # Durability and damage
//!
//! The durable position only ever advances after a successful sync; readers never look
//! beyond it. On open, every file still holding data some cursor has not committed past
//! is checked record by record. At a damaged record, recovery and readers resynchronise
//! (see `scan`): first at the end the record's own length field gives, else at the next
//! magic whose record checks out. The skipped range is a *gap*: logged at ERROR and
//! counted once (`JournalHealth::gaps_total`, `lost_bytes_total`), and every readable
//! record around it is kept. Only the newest file is cut, after its last valid record (a
//! torn tail). The writer persists the durable end in `end.json` about once a second and
//! at close; a journal that recovers to less than max(marker, cursors) was truncated:
//! the missing range is a gap and writing continues in a new file at the expected end.
//!
//! Journals of record format 1 (no magic) are deleted on open if every cursor is past
//! their end (everything was sealed), and refused with [`JournalError::OldFormat`] if not.
//!
//! # Pressure
//!
//! The writer writes a batch only if the files then take at most `max_bytes` (unless only
//! the current file is left, which nothing could reclaim) and at least
//! `reserve_free_bytes` stay free on the file system, which keeps room for the sealer's
//! spool whatever the journal does. Otherwise it syncs what it wrote, reclaims what the
//! cursors allow, reports [`Pressure::Blocked`] and wakes consumers waiting in
//! [`Journal::wait_durable_beyond`] so they seal and commit now; it resumes as soon as a
//! reclaim frees room or space returns. Appenders back up meanwhile; nothing is dropped.

mod batch;
pub mod consumer;
mod cursor;
mod files;
mod format;
mod gaps;
mod health;
mod legacy;
mod reader;
mod reclaim;
mod recover;
mod scan;
mod space;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Semaphore};

pub use batch::Batch;
pub use cursor::{write_atomic, write_atomic_with, Checkpoint, Cursor};
pub use format::MAX_PAYLOAD;
pub use health::{JournalHealth, PauseReason, Pressure};
pub use reader::Reader;
pub use space::FreeSpaceProbe;

/// Bytes of batches queued (plus the group being written) before appenders wait. One
/// group commit writes what is queued, so this is also the largest write: 4 MiB is ~25k
/// events, ten times what arrives during one fsync at 850k events/s, and is memory
/// the daemon holds under load (docs/OPERATIONS.md, "Memory").
pub const QUEUE_BYTES: u32 = 4 << 20;

/// Errors of the journal. I/O errors name the file or directory involved.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal I/O error on {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("journal {} holds records in the format of an earlier sealtrail version, up to position {end}, that are not all sealed (lowest cursor: {}); run the previous version once and stop it cleanly (it seals everything on SIGTERM), then start this version", dir.display(), show_cursor(*lowest_cursor))]
    OldFormat {
        dir: PathBuf,
        end: u64,
        lowest_cursor: Option<u64>,
    },
    #[error("journal position {position} is no longer on disk (its file was reclaimed)")]
    Reclaimed { position: u64 },
    #[error("journal position {position} is beyond the durable end {end}")]
    BeyondEnd { position: u64, end: u64 },
    #[error("journal {} is in use by another process (lock held on {}); is another sealtrail running on this state_dir?", dir.display(), lock.display())]
    Locked { dir: PathBuf, lock: PathBuf },
    #[error("journal is closed")]
    Closed,
    #[error("journal payload of {len} bytes is outside the allowed 1..={max} bytes")]
    InvalidPayload { len: usize, max: usize },
    #[error("invalid journal options: {0}")]
    InvalidOptions(String),
    #[error("invalid cursor name {0:?} (use ASCII letters, digits, '-', '_', '.')")]
    InvalidCursorName(String),
    #[error("cursor file {}: {source}", path.display())]
    CursorFormat {
        path: PathBuf,
        source: serde_json::Error,
    },
}

fn show_cursor(c: Option<u64>) -> String {
    c.map_or_else(|| "none".into(), |c| c.to_string())
}

fn io_err(path: &Path, source: io::Error) -> JournalError {
    JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Journal tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalOptions {
    /// Roll to a new file once the current one reaches this size.
    pub file_bytes: u64,
    /// Cap on the journal files: a batch is written only if they then take at most this
    /// much (appenders back up meanwhile). Exceeded by at most one batch, and only when
    /// nothing but the current file is left.
    pub max_bytes: u64,
    /// `fdatasync` each group commit. Off only for tests and throwaway setups.
    pub fsync: bool,
    /// With `fsync`, a group commit starts at least this long after the previous one
    /// started, unless the queue is half full: under many small appends (a collector's
    /// thousand senders) one sync then covers many of them, where it would otherwise
    /// cover one or two, each sync costing the CPU of a disk flush. A lone append after a
    /// quiet spell is committed at once. Zero: commit as soon as anything is queued.
    pub commit_delay: Duration,
    /// Free space the journal never takes on its file system (0: no reserve). It is the
    /// spool's budget: with it, a full state disk still leaves the sealer room to seal, so
    /// journal files get reclaimed and ingestion resumes by itself.
    pub reserve_free_bytes: u64,
    /// How free space is measured. Tests inject a fake; everyone else keeps the default.
    pub free_space: FreeSpaceProbe,
}

/// The default [`JournalOptions::commit_delay`]: at most 200 syncs a second, adding at
/// most 5 ms to the time until an append is durable.
pub const DEFAULT_COMMIT_DELAY: Duration = Duration::from_millis(5);

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            file_bytes: 64 << 20,
            max_bytes: 4 << 30,
            fsync: true,
            commit_delay: DEFAULT_COMMIT_DELAY,
            reserve_free_bytes: 0,
            free_space: FreeSpaceProbe::STATVFS,
        }
    }
}

/// Lock a mutex, ignoring poisoning: every critical section here leaves the state valid.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Batches waiting for the writer, and the next position to hand out.
struct Queue {
    batches: Vec<Batch>,
    /// Bytes of `batches`: past half the queue, the writer commits without waiting out
    /// its commit delay.
    bytes: u64,
    next_pos: u64,
    closed: bool,
}

/// State shared by the handle, the writer thread and readers.
struct Inner {
    dir: PathBuf,
    cursors_dir: PathBuf,
    opts: JournalOptions,
    queue_bytes: u32,
    queue: Mutex<Queue>,
    /// Wakes the writer: new batch, close, or space freed by reclaim.
    queue_cv: Condvar,
    /// Bounds queued bytes; async and blocking appenders wait here, in FIFO order.
    space: Semaphore,
    durable: AtomicU64,
    stopped: AtomicBool,
    durable_lock: Mutex<()>,
    durable_cv: Condvar,
    /// (durable position, writer stopped) for async waiters.
    durable_tx: watch::Sender<(u64, bool)>,
    disk_bytes: AtomicU64,
    /// Set by `close`: the writer then flushes past the cap and the reserve.
    closing: AtomicBool,
    /// Lost ranges, registered once by whoever finds them.
    gaps: gaps::Gaps,
    health: health::HealthState,
    /// The writer's final error, if it gave up during close.
    failure: Mutex<Option<(PathBuf, io::ErrorKind, String)>>,
    /// Cursor names handed out; one without a file yet pins reclaim.
    cursors: Mutex<BTreeSet<String>>,
    reclaim_lock: Mutex<()>,
    /// Held until close: two writers would interleave records and fork the chain.
    /// The kernel releases it when the process dies, even on kill -9.
    dir_lock: Mutex<Option<std::fs::File>>,
}

impl Inner {
    fn permits(&self, bytes: usize) -> u32 {
        bytes.min(self.queue_bytes as usize) as u32
    }

    fn publish_durable(&self, pos: u64) {
        self.durable.store(pos, Ordering::Release);
        drop(lock(&self.durable_lock));
        self.durable_cv.notify_all();
        self.durable_tx.send_replace((pos, false));
    }

    fn closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Wakes consumers waiting in `wait_durable_beyond` (they return early) so they can
    /// seal and commit now rather than at their next timeout.
    fn pressure_rose(&self) {
        self.health.epoch.fetch_add(1, Ordering::AcqRel);
        drop(lock(&self.durable_lock));
        self.durable_cv.notify_all();
    }

    fn pressure(&self) -> Pressure {
        if self.health.blocked() {
            return Pressure::Blocked;
        }
        if self.disk_bytes.load(Ordering::Acquire) >= self.opts.max_bytes / 2 {
            return Pressure::Soft;
        }
        let reserve = self.opts.reserve_free_bytes;
        match self.health.free_bytes() {
            Some(free) if reserve > 0 && free < reserve.saturating_mul(2) => Pressure::Soft,
            _ => Pressure::None,
        }
    }

    fn publish_stopped(&self) {
        self.stopped.store(true, Ordering::Release);
        drop(lock(&self.durable_lock));
        self.durable_cv.notify_all();
        let pos = self.durable.load(Ordering::Acquire);
        self.durable_tx.send_replace((pos, true));
    }

    /// Puts a batch (whose queue space is already reserved) on the queue.
    fn enqueue(&self, batch: Batch, permits: u32) -> Result<u64, JournalError> {
        let mut q = lock(&self.queue);
        if q.closed {
            drop(q);
            self.space.add_permits(permits as usize);
            return Err(JournalError::Closed);
        }
        let bytes = batch.bytes() as u64;
        q.next_pos += bytes;
        let end = q.next_pos;
        q.batches.push(batch);
        let half = u64::from(self.queue_bytes) / 2;
        // The writer waits only for a first batch, or for the queue to pass half while
        // it waits out the commit delay: waking it for every append would cost a
        // syscall per batch for nothing.
        let wake = q.batches.len() == 1 || (q.bytes < half && q.bytes + bytes >= half);
        q.bytes += bytes;
        drop(q);
        if wake {
            self.queue_cv.notify_one();
        }
        Ok(end)
    }

    /// For an empty batch: the current end, or `Closed`.
    fn current_end(&self) -> Result<u64, JournalError> {
        let q = lock(&self.queue);
        if q.closed {
            Err(JournalError::Closed)
        } else {
            Ok(q.next_pos)
        }
    }
}

/// Owns the writer thread; closing on drop flushes what was queued.
struct Handle {
    inner: Arc<Inner>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Handle {
    fn close(&self) -> Result<(), JournalError> {
        let mut writer = lock(&self.writer);
        self.inner.closing.store(true, Ordering::Release);
        lock(&self.inner.queue).closed = true;
        self.inner.queue_cv.notify_all();
        self.inner.space.close();
        if let Some(handle) = writer.take() {
            if handle.join().is_err() {
                *lock(&self.inner.failure) = Some((
                    self.inner.dir.clone(),
                    io::ErrorKind::Other,
                    "journal writer thread panicked".into(),
                ));
                self.inner.publish_stopped();
            }
        }
        // Nothing more is written: another journal may now open the directory.
        lock(&self.inner.dir_lock).take();
        match &*lock(&self.inner.failure) {
            None => Ok(()),
            Some((path, kind, msg)) => Err(JournalError::Io {
                path: path.clone(),
                source: io::Error::new(*kind, msg.clone()),
            }),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "journal close on drop failed");
        }
    }
}

/// The durable write-ahead journal. Cheap to clone; the last clone dropped closes it.
#[derive(Clone)]
pub struct Journal {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.inner().dir)
            .field("durable", &self.durable_position())
            .finish()
    }
}

impl Journal {
    /// Recovers (see the module docs) and starts the writer thread.
    pub fn open(dir: &Path, opts: JournalOptions) -> Result<Journal, JournalError> {
        Self::open_with_queue(dir, opts, QUEUE_BYTES)
    }

    fn open_with_queue(
        dir: &Path,
        opts: JournalOptions,
        queue_bytes: u32,
    ) -> Result<Journal, JournalError> {
        if opts.file_bytes == 0 {
            return Err(JournalError::InvalidOptions(
                "file_bytes must be > 0".into(),
            ));
        }
        // The newest file is never reclaimed, so a cap below two files could never clear.
        if opts.max_bytes < opts.file_bytes.saturating_mul(2) {
            return Err(JournalError::InvalidOptions(format!(
                "max_bytes ({}) must be at least twice file_bytes ({})",
                opts.max_bytes, opts.file_bytes
            )));
        }
        files::create_private_dir(dir)?;
        let lock_path = dir.join("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io_err(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Locked {
                    dir: dir.to_path_buf(),
                    lock: lock_path,
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&lock_path, e)),
        }
        let cursors_dir = dir.join("cursors");
        files::create_private_dir(&cursors_dir)?;
        let mut rec = recover::recover(dir, &cursors_dir)?;
        let (durable_tx, _) = watch::channel((rec.end, false));
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            cursors_dir,
            opts,
            queue_bytes,
            queue: Mutex::new(Queue {
                batches: Vec::new(),
                bytes: 0,
                next_pos: rec.end,
                closed: false,
            }),
            queue_cv: Condvar::new(),
            space: Semaphore::new(queue_bytes as usize),
            durable: AtomicU64::new(rec.end),
            stopped: AtomicBool::new(false),
            durable_lock: Mutex::new(()),
            durable_cv: Condvar::new(),
            durable_tx,
            disk_bytes: AtomicU64::new(rec.disk_bytes),
            closing: AtomicBool::new(false),
            gaps: gaps::Gaps::default(),
            health: health::HealthState::default(),
            failure: Mutex::new(None),
            cursors: Mutex::new(BTreeSet::new()),
            reclaim_lock: Mutex::new(()),
            dir_lock: Mutex::new(Some(lock)),
        });
        for g in rec.gaps.drain(..) {
            if g.counted {
                inner
                    .gaps
                    .record(&g.path, g.file_start, g.from, g.to, g.cause);
            } else {
                inner.gaps.known(g.from, g.to);
            }
        }
        inner
            .health
            .disk_peak
            .store(rec.disk_bytes, Ordering::Relaxed);
        let w = writer::Writer::new(inner.clone(), rec);
        let thread = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || w.run())
            .map_err(|e| io_err(dir, e))?;
        Ok(Journal {
            handle: Arc::new(Handle {
                inner,
                writer: Mutex::new(Some(thread)),
            }),
        })
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.handle.inner
    }

    fn check_batch(batch: &Batch) -> Result<(), JournalError> {
        match batch.invalid() {
            Some(len) => Err(JournalError::InvalidPayload {
                len,
                max: MAX_PAYLOAD,
            }),
            None => Ok(()),
        }
    }

    /// Queues a batch; waits while the bounded queue is full (backpressure, never drops).
    /// Returns the position just past the batch's last record; pass it to
    /// [`wait_durable`](Self::wait_durable) before acknowledging the batch upstream.
    pub async fn append(&self, batch: Batch) -> Result<u64, JournalError> {
        Self::check_batch(&batch)?;
        let inner = self.inner();
        if batch.is_empty() {
            return inner.current_end();
        }
        let permits = inner.permits(batch.bytes());
        inner
            .space
            .acquire_many(permits)
            .await
            .map_err(|_| JournalError::Closed)?
            .forget();
        inner.enqueue(batch, permits)
    }

    /// [`append`](Self::append) for std threads. Do not call it on an async runtime thread.
    pub fn blocking_append(&self, batch: Batch) -> Result<u64, JournalError> {
        Self::check_batch(&batch)?;
        let inner = self.inner();
        if batch.is_empty() {
            return inner.current_end();
        }
        let permits = inner.permits(batch.bytes());
        match inner.space.try_acquire_many(permits) {
            Ok(p) => p.forget(),
            Err(tokio::sync::TryAcquireError::Closed) => return Err(JournalError::Closed),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                futures::executor::block_on(inner.space.acquire_many(permits))
                    .map_err(|_| JournalError::Closed)?
                    .forget();
            }
        }
        inner.enqueue(batch, permits)
    }

    /// [`append`](Self::append) that never waits: `Ok(None)` (the batch handed back)
    /// while the queue is full. For a consumer that also appends (the detector): its
    /// cursor may be what the writer waits for, so it must not block on the writer.
    pub fn try_append(&self, batch: Batch) -> Result<Result<u64, Batch>, JournalError> {
        Self::check_batch(&batch)?;
        let inner = self.inner();
        if batch.is_empty() {
            return inner.current_end().map(Ok);
        }
        let permits = inner.permits(batch.bytes());
        match inner.space.try_acquire_many(permits) {
            Ok(p) => p.forget(),
            Err(tokio::sync::TryAcquireError::Closed) => return Err(JournalError::Closed),
            Err(tokio::sync::TryAcquireError::NoPermits) => return Ok(Err(batch)),
        }
        inner.enqueue(batch, permits).map(Ok)
    }

    /// Resolves once everything before `pos` is durable (fsync'd). Fails with `Closed` if the
    /// writer stopped before reaching `pos`.
    pub async fn wait_durable(&self, pos: u64) -> Result<(), JournalError> {
        let inner = self.inner();
        if inner.durable.load(Ordering::Acquire) >= pos {
            return Ok(());
        }
        let mut rx = inner.durable_tx.subscribe();
        let state = rx
            .wait_for(|&(d, stopped)| d >= pos || stopped)
            .await
            .map(|s| *s)
            .map_err(|_| JournalError::Closed)?;
        if state.0 >= pos {
            Ok(())
        } else {
            Err(JournalError::Closed)
        }
    }

    /// Everything before this position is durable.
    pub fn durable_position(&self) -> u64 {
        self.inner().durable.load(Ordering::Acquire)
    }

    /// Blocking (for the sealer's std thread): waits until the durable position is beyond
    /// `pos`, the timeout passes, the journal stops, or the [`pressure`](Self::pressure)
    /// rises (to `Soft`, or to `Blocked` when the writer has to wait: consumers should seal
    /// and commit now); returns the durable position.
    pub fn wait_durable_beyond(&self, pos: u64, timeout: Duration) -> u64 {
        let inner = self.inner();
        let deadline = Instant::now() + timeout;
        let epoch = inner.health.epoch.load(Ordering::Acquire);
        let mut guard = lock(&inner.durable_lock);
        loop {
            let d = inner.durable.load(Ordering::Acquire);
            if d > pos
                || inner.stopped.load(Ordering::Acquire)
                || inner.health.epoch.load(Ordering::Acquire) != epoch
            {
                return d;
            }
            let now = Instant::now();
            if now >= deadline {
                return d;
            }
            guard = inner
                .durable_cv
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// A reader that yields durable records from `from`, which must be a record position
    /// (e.g. a cursor's) no later than the durable end.
    pub fn reader(&self, from: u64) -> Result<Reader, JournalError> {
        let end = self.durable_position();
        if from > end {
            return Err(JournalError::BeyondEnd {
                position: from,
                end,
            });
        }
        Reader::new(self.inner().clone(), from)
    }

    /// A named durable cursor (file under `<dir>/cursors/<name>.json`). Until it is first
    /// committed, its mere existence keeps [`reclaim`](Self::reclaim) from deleting anything.
    pub fn cursor(&self, name: &str) -> Cursor {
        let inner = self.inner();
        if cursor::valid_name(name) {
            lock(&inner.cursors).insert(name.to_string());
        }
        Cursor::new(&inner.cursors_dir, name)
    }

    /// Retires a consumer: deletes its cursor file, so it no longer holds back
    /// [`reclaim`](Self::reclaim). A missing cursor is not an error.
    pub fn remove_cursor(&self, name: &str) -> Result<(), JournalError> {
        let inner = self.inner();
        lock(&inner.cursors).remove(name);
        if !cursor::valid_name(name) {
            return Ok(());
        }
        let path = inner.cursors_dir.join(format!("{name}.json"));
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    /// Deletes journal files that lie wholly before the minimum committed position over all
    /// cursor files. Never deletes the newest file. Returns bytes freed; a writer waiting
    /// for room resumes at once.
    pub fn reclaim(&self) -> Result<u64, JournalError> {
        self.inner().reclaim()
    }

    /// Flushes everything queued, fsyncs, stops the writer thread. Idempotent. Appends after
    /// close fail with [`JournalError::Closed`]. Reports the writer's failure, if any.
    pub fn close(&self) -> Result<(), JournalError> {
        self.handle.close()
    }

    /// Bytes currently on disk in journal files (for metrics/status).
    pub fn disk_bytes(&self) -> u64 {
        self.inner().disk_bytes.load(Ordering::Acquire)
    }

    /// How urgently consumers should commit (seal) so files can be reclaimed. Cheap.
    pub fn pressure(&self) -> Pressure {
        self.inner().pressure()
    }

    /// Pauses, write errors, free space and gaps, for `status` and `/metrics`. Cheap.
    pub fn health(&self) -> JournalHealth {
        let inner = self.inner();
        let (gaps_total, lost_bytes_total) = inner.gaps.totals();
        let mut h = JournalHealth {
            pressure: inner.pressure(),
            disk_bytes: inner.disk_bytes.load(Ordering::Acquire),
            disk_bytes_peak: 0,
            max_bytes: inner.opts.max_bytes,
            free_bytes: None,
            reserve_free_bytes: inner.opts.reserve_free_bytes,
            paused: None,
            paused_for: None,
            pauses_total: 0,
            commits_total: 0,
            write_errors_total: 0,
            last_write_error: None,
            gaps_total,
            lost_bytes_total,
        };
        inner.health.fill(&mut h);
        h
    }

    /// Ranges of positions known to be lost (damaged, missing or truncated), in order.
    pub fn gaps(&self) -> Vec<Range<u64>> {
        self.inner().gaps.list()
    }
}
