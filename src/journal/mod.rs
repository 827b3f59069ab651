//! Write-ahead journal: the single commit point of the daemon.
//!
//! Sources append *batches* of opaque payloads (encoded ingest records); one writer thread
//! group-commits everything queued with one vectored write and one `fdatasync`, then
//! publishes the new durable position. Consumers read durable records through a [`Reader`]
//! and remember where they stand in a named [`Cursor`].
//!
//! # On-disk format
//!
//! A directory of files named `{start_position:020}.wal` (no file header), plus
//! `cursors/<name>.json`. A file holds whole records back to back:
//!
//! ```text
//! [u32 LE payload_len][u32 LE crc32c(payload)][payload]
//! ```
//!
//! `payload_len` is `1..=MAX_PAYLOAD`. Zero is invalid on purpose: `crc32c("") == 0`, so a
//! zero-filled tail (what some file systems leave after a crash) would otherwise parse as
//! valid empty records. A record's *position* is its logical byte offset in the journal
//! (the file's start position plus the record's offset in the file); positions are stable
//! forever and serve as event ids. Files are contiguous: each file starts where the
//! previous one ends. Records never span files; the writer rolls to a new file before a
//! batch when the current file has reached `file_bytes` (so a file may exceed `file_bytes`
//! by at most one batch).
//!
//! # Durability
//!
//! A file is fully `fdatasync`'d before the next one is created, so on open only the newest
//! file is verified: it is truncated at its first torn or invalid record. The durable
//! position only ever advances after a successful sync; readers never look beyond it.

mod batch;
mod cursor;
mod files;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Semaphore};

pub use batch::Batch;
pub use cursor::{write_atomic, Checkpoint, Cursor};
pub use reader::Reader;

/// Largest payload a record may carry. A bigger length field on disk is corruption.
pub const MAX_PAYLOAD: usize = 16 << 20;

/// Record header: payload length and checksum.
const HEADER: usize = 8;

/// Bytes of batches queued (plus the group being written) before appenders wait.
const QUEUE_BYTES: u32 = 16 << 20;

/// Errors of the journal. I/O errors name the file or directory involved.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal I/O error on {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("corrupt journal record in {} at offset {offset}", file.display())]
    Corrupt { file: PathBuf, offset: u64 },
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
    /// Stop writing (appenders back up) while the journal files take this much or more.
    pub max_bytes: u64,
    /// `fdatasync` each group commit. Off only for tests and throwaway setups.
    pub fsync: bool,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            file_bytes: 64 << 20,
            max_bytes: 4 << 30,
            fsync: true,
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
        q.next_pos += batch.bytes() as u64;
        let end = q.next_pos;
        q.batches.push(batch);
        drop(q);
        self.queue_cv.notify_one();
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
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
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
        std::fs::create_dir_all(&cursors_dir).map_err(|e| io_err(&cursors_dir, e))?;
        let rec = files::recover(dir)?;
        let (durable_tx, _) = watch::channel((rec.end, false));
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            cursors_dir,
            opts,
            queue_bytes,
            queue: Mutex::new(Queue {
                batches: Vec::new(),
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
            failure: Mutex::new(None),
            cursors: Mutex::new(BTreeSet::new()),
            reclaim_lock: Mutex::new(()),
            dir_lock: Mutex::new(Some(lock)),
        });
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
    /// `pos`, the timeout passes or the journal stops; returns the durable position.
    pub fn wait_durable_beyond(&self, pos: u64, timeout: Duration) -> u64 {
        let inner = self.inner();
        let deadline = Instant::now() + timeout;
        let mut guard = lock(&inner.durable_lock);
        loop {
            let d = inner.durable.load(Ordering::Acquire);
            if d > pos || inner.stopped.load(Ordering::Acquire) {
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
    /// cursor files. Never deletes the newest file. Returns bytes freed.
    pub fn reclaim(&self) -> Result<u64, JournalError> {
        let inner = self.inner();
        let _serial = lock(&inner.reclaim_lock);
        let registered: Vec<String> = lock(&inner.cursors).iter().cloned().collect();
        let Some(min) = cursor::min_position(&inner.cursors_dir, &registered)? else {
            return Ok(0);
        };
        let list = files::list(&inner.dir)?;
        let mut freed = 0u64;
        for pair in list.windows(2) {
            let ((_, path), (next_start, _)) = (&pair[0], &pair[1]);
            if *next_start > min {
                break;
            }
            let size = match std::fs::metadata(path) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(path, e)),
            };
            match std::fs::remove_file(path) {
                Ok(()) => freed += size,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(path, e)),
            }
        }
        if freed > 0 {
            files::sync_dir(&inner.dir).map_err(|e| io_err(&inner.dir, e))?;
            inner.disk_bytes.fetch_sub(freed, Ordering::AcqRel);
            drop(lock(&inner.queue));
            inner.queue_cv.notify_all();
            tracing::debug!(freed, min, "journal reclaimed files");
        }
        Ok(freed)
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
}
