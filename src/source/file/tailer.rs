//! The tailer: one thread per `[[file]]` source that finds files, follows them
//! through rotation, reads their lines into journal batches and says what to
//! checkpoint.
//!
//! # Rotation
//!
//! * **rename + create**: the old file keeps its inode, so the open handle keeps
//!   reading it; the rescan finds a new inode at the path (counted in
//!   `file_rotations`) and reads it from its start. The old one, no longer at an
//!   included path, is *detached*: read while it grows (a writer that has not
//!   reopened yet), released once it has had nothing new for `release_deleted_after`.
//! * **copytruncate**: the file shrinks below the read position, or its first bytes
//!   change (truncated and refilled between two looks): counted in
//!   `file_truncations`, logged, read again from 0. What had not been read before the
//!   truncation is still in logrotate's copy: a file in the same directory whose first
//!   bytes match the fingerprint and that is longer than what was read is read from
//!   there to its end first (same `log.file.path` and offsets: the lines are the
//!   original file's). Only lines written between logrotate's copy and its truncate are
//!   beyond anyone's reach.
//! * **deletion**: a deleted file is detached too: drained, then released after
//!   `release_deleted_after` without growth.
//!
//! # Restart
//!
//! A checkpointed file is resumed at its offset when a file with its device, inode and
//! fingerprint is found: at an included path, or, if it was rotated away while the
//! daemon was stopped, under another name in the same directory (then it is read to its
//! end and released). A file at a checkpointed inode whose first bytes changed was
//! truncated or replaced while stopped: its copy is looked for as above, and the file
//! is read from 0. Files without a checkpoint are read from `start_at` on the source's
//! very first start, and from their start when they appeared since the last checkpoint
//! (a rotation during downtime), so that nothing written while the daemon was down is
//! skipped.
//!
//! # Work
//!
//! The thread sleeps on the watcher's queue. A write to a watched file wakes it and it
//! reads that file; a name change triggers a rescan (at most every 100 ms); every second
//! it looks at every open file (files rotated away get no events under their old name,
//! and inotify may be missing altogether), archives partial lines past `line_timeout`
//! and releases detached files. Reading takes at most [`PASS_BYTES`] from one file
//! before the others get their turn. Appending waits while the journal applies
//! backpressure: then nothing is read, and the files keep the data.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::config::{FileSourceConfig, StartAt};
use super::discover::{Changes, Globs, Wake, Watch};
use super::sink::Sink;
use super::state::{Checkpoint, FileCheckpoint, FileId, Fingerprint, CHECKPOINT_VERSION};
use super::tailed::{Look, Tailed};
use crate::record::now_ns;
use crate::source::limits::DescriptorBudget;
use crate::source::{SourceError, SourceStats};

mod resume;

/// Every open file is looked at this often, events or not.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Rescans triggered by events are at least this far apart.
const RESCAN_DEBOUNCE: Duration = Duration::from_millis(100);
/// Most bytes read from one file before the others get their turn.
pub const PASS_BYTES: usize = 4 * 1024 * 1024;
/// One read.
const READ_BYTES: usize = 256 * 1024;

/// What the checkpointer gets: the journal position to wait for, and the state.
pub type CheckpointSlot = watch::Sender<Option<(u64, Arc<Checkpoint>)>>;

/// Why a file (or a path) cannot be read: logged and counted once per path, until it
/// changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Problem {
    Directory,
    NotRegular,
    Open(io::ErrorKind),
    Read(io::ErrorKind),
    Budget,
    Scan(io::ErrorKind),
}

/// How a file came to be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Found by the first scan of this run.
    Startup,
    /// Appeared while running.
    Running,
}

/// A checkpoint entry seen against the file now at its inode.
enum Resume {
    /// No entry for this inode.
    None,
    /// The same file: resume at the offset, with the file's fingerprint now, under
    /// the path its records had (so lines read again after a crash carry the same
    /// path and offset, even if the file was renamed meanwhile).
    At(u64, Fingerprint, PathBuf),
    /// The inode's content changed while stopped (truncated, or a new file).
    Changed(FileCheckpoint),
}

/// Settings taken from the config.
pub struct Settings {
    pub start_at: StartAt,
    pub max_line: usize,
    pub line_timeout: Duration,
    pub rescan_interval: Duration,
    pub release_after: Duration,
    pub checkpoint_interval: Duration,
}

impl Settings {
    pub fn of(c: &FileSourceConfig) -> Settings {
        Settings {
            start_at: c.start_at,
            max_line: c.max_line_bytes,
            line_timeout: c.line_timeout,
            rescan_interval: c.rescan_interval,
            release_after: c.release_deleted_after,
            checkpoint_interval: c.checkpoint_interval,
        }
    }
}

pub struct Tailer {
    pub name: String,
    pub s: Settings,
    pub globs: Globs,
    pub watch: Watch,
    pub rx: Receiver<Wake>,
    pub shutdown: CancellationToken,
    pub budget: DescriptorBudget,
    pub stats: Arc<SourceStats>,
    pub sink: Sink,
    pub slot: CheckpointSlot,
    /// The checkpoint this run started from (`None`: the source's first start).
    pub loaded: Option<Checkpoint>,
    files: HashMap<FileId, Tailed>,
    /// Included path → the file found there by the last scan.
    paths: HashMap<PathBuf, FileId>,
    /// Checkpoint entries not (yet) matched to an open file.
    pending: Vec<FileCheckpoint>,
    problems: HashMap<PathBuf, Problem>,
    /// Files to look at in the next pass.
    dirty: HashSet<FileId>,
    /// A file was left with more to read.
    more: bool,
    buf: Vec<u8>,
    ckpt_dirty: bool,
    last_ckpt: Instant,
}

impl Tailer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        s: Settings,
        globs: Globs,
        watch: Watch,
        rx: Receiver<Wake>,
        shutdown: CancellationToken,
        budget: DescriptorBudget,
        stats: Arc<SourceStats>,
        sink: Sink,
        slot: CheckpointSlot,
        loaded: Option<Checkpoint>,
    ) -> Tailer {
        let pending = loaded.as_ref().map(|c| c.files.clone()).unwrap_or_default();
        Tailer {
            name,
            s,
            globs,
            watch,
            rx,
            shutdown,
            budget,
            stats,
            sink,
            slot,
            loaded,
            files: HashMap::new(),
            paths: HashMap::new(),
            pending,
            problems: HashMap::new(),
            dirty: HashSet::new(),
            more: false,
            buf: vec![0u8; READ_BYTES],
            ckpt_dirty: true,
            last_ckpt: Instant::now(),
        }
    }

    /// Runs until shutdown: then appends the batch in hand, hands over the last
    /// checkpoint and returns.
    pub fn run(mut self) -> Result<(), SourceError> {
        let roots = self.globs.watch_roots();
        self.watch.ensure(&roots, &self.name);
        self.rescan(Phase::Startup)?;
        self.resume_rotated()?;
        // Recorded at once: the next start is no first start, whatever happens.
        self.checkpoint(true);
        tracing::info!(source = %self.name, files = self.files.len(), "file source ready");
        let mut last_poll = Instant::now();
        let mut last_rescan = Instant::now();
        let mut rescan_at: Option<Instant> = None;
        loop {
            let mut ch = Changes::default();
            if !self.more {
                let mut next =
                    (last_poll + POLL_INTERVAL).min(last_rescan + self.s.rescan_interval);
                if let Some(t) = rescan_at {
                    next = next.min(t);
                }
                if self.ckpt_dirty {
                    next = next.min(self.last_ckpt + self.s.checkpoint_interval);
                }
                match self
                    .rx
                    .recv_timeout(next.saturating_duration_since(Instant::now()))
                {
                    Ok(w) => ch.add(w),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
                }
            }
            ch.drain(&self.rx);
            if self.watch.overflowed.swap(false, Ordering::Relaxed) {
                ch.everything = true;
            }
            if ch.stop || self.shutdown.is_cancelled() {
                break;
            }
            let now = Instant::now();
            if ch.everything {
                rescan_at = Some(now);
            } else if ch.rescan && rescan_at.is_none() {
                rescan_at = Some(now.max(last_rescan + RESCAN_DEBOUNCE));
            }
            for p in &ch.modified {
                if let Some(id) = self.paths.get(p) {
                    self.dirty.insert(*id);
                }
            }
            if now >= last_rescan + self.s.rescan_interval || rescan_at.is_some_and(|t| now >= t) {
                self.watch.ensure(&roots, &self.name);
                self.rescan(Phase::Running)?;
                last_rescan = now;
                rescan_at = None;
            }
            let poll = ch.everything || now >= last_poll + POLL_INTERVAL;
            let ids: Vec<FileId> = if poll {
                self.dirty.clear();
                self.files.keys().copied().collect()
            } else {
                self.dirty.drain().collect()
            };
            self.more = false;
            for id in ids {
                if self.shutdown.is_cancelled() {
                    break;
                }
                self.service(id)?;
            }
            if poll {
                self.timeouts_and_releases(Instant::now())?;
                last_poll = now;
            }
            if self.sink.flush()? {
                self.ckpt_dirty = true;
            }
            self.checkpoint(false);
        }
        self.sink.flush()?;
        self.checkpoint(true);
        Ok(())
    }

    /// Reads what `id` has, up to [`PASS_BYTES`].
    fn service(&mut self, id: FileId) -> Result<(), SourceError> {
        let now = Instant::now();
        let Some(f) = self.files.get_mut(&id) else {
            return Ok(());
        };
        match f.look() {
            Ok(Look::Unchanged) => {
                if f.copy {
                    self.release(id);
                }
                return Ok(());
            }
            Ok(Look::Grew) => {}
            // A copy is not written to: one that shrinks is no copy to trust.
            Ok(Look::Truncated) if f.copy => {
                self.release(id);
                return Ok(());
            }
            Ok(Look::Truncated) => self.truncated(id, now)?,
            Err(e) => {
                let path = f.path.clone();
                self.problem(&path, Problem::Read(e.kind()), &e);
                return Ok(());
            }
        }
        let mut left = PASS_BYTES;
        loop {
            let Some(f) = self.files.get_mut(&id) else {
                return Ok(());
            };
            match f.read_into(&mut self.buf, self.s.max_line, &mut self.sink, now) {
                Ok(0) => {
                    if f.copy {
                        self.release(id);
                    }
                    break;
                }
                Ok(n) => {
                    left = left.saturating_sub(n);
                    self.ckpt_dirty = true;
                }
                Err(e) => {
                    let path = f.path.clone();
                    self.problem(&path, Problem::Read(e.kind()), &e);
                    break;
                }
            }
            if self.sink.full() {
                self.sink.flush()?;
                self.checkpoint(false);
            }
            if left == 0 || self.shutdown.is_cancelled() {
                self.dirty.insert(id);
                self.more = true;
                break;
            }
        }
        Ok(())
    }

    /// Reads a copy to its end (it is released there).
    fn drain_copy(&mut self, id: FileId) -> Result<(), SourceError> {
        while !self.shutdown.is_cancelled() {
            let Some(before) = self.files.get(&id).map(|f| f.pos) else {
                break;
            };
            self.service(id)?;
            if self.files.get(&id).map(|f| f.pos) == Some(before) {
                break; // a read error: it is logged, the copy stays for the next pass
            }
        }
        Ok(())
    }

    /// The file was truncated in place or rewritten: recover the unread part from a
    /// copy if there is one, then read it again from 0.
    fn truncated(&mut self, id: FileId, now: Instant) -> Result<(), SourceError> {
        let Some(f) = self.files.get(&id) else {
            return Ok(());
        };
        self.stats.file_truncations.fetch_add(1, Ordering::Relaxed);
        let (path, fp, from) = (f.path.clone(), f.fp, f.committed());
        let copy = self.find_copy(&path, fp, from, now);
        match &copy {
            Some(c) => {
                tracing::warn!(source = %self.name, path = %path.display(), read = from, copy = %copy_note(&c.0, &c.1), "file truncated in place (copytruncate?): reading it again from its start, and what had not been read yet from its copy")
            }
            None => {
                tracing::warn!(source = %self.name, path = %path.display(), read = from, "file truncated in place (copytruncate?): reading it again from its start")
            }
        }
        let recovered = copy.is_some();
        if let Some((c, _)) = copy {
            let copy_id = c.id;
            self.insert(c);
            // Its lines were written before the new ones: they go first.
            self.drain_copy(copy_id)?;
        }
        if let Some(f) = self.files.get_mut(&id) {
            if let Err(e) = f.restart(recovered, &mut self.sink, now) {
                let path = f.path.clone();
                self.problem(&path, Problem::Read(e.kind()), &e);
            }
        }
        self.ckpt_dirty = true;
        Ok(())
    }

    /// Evaluates the patterns: opens new files, notices rotations, detaches files no
    /// longer at an included path.
    fn rescan(&mut self, phase: Phase) -> Result<(), SourceError> {
        let mut errors = Vec::new();
        let found = self.globs.scan(&mut errors);
        for e in &errors {
            self.problem(&e.path, Problem::Scan(e.error.kind()), &e.error);
        }
        let now = Instant::now();
        let mut paths = HashMap::with_capacity(found.len());
        let mut seen = HashSet::with_capacity(found.len());
        for path in &found {
            let meta = match std::fs::metadata(path) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    self.problem(path, Problem::Open(e.kind()), &e);
                    continue;
                }
            };
            if meta.is_dir() {
                // A directory a pattern matches is no problem; a file that became one is.
                if self.paths.contains_key(path)
                    || self.files.values().any(|f| f.path == *path)
                    || self.problems.get(path) == Some(&Problem::Directory)
                {
                    self.problem(
                        path,
                        Problem::Directory,
                        &"the path is now a directory: not read",
                    );
                }
                continue;
            }
            if !meta.is_file() {
                self.problem(
                    path,
                    Problem::NotRegular,
                    &"not a regular file (a FIFO, socket or device): never read",
                );
                continue;
            }
            let id = FileId::of(&meta);
            paths.insert(path.clone(), id);
            seen.insert(id);
            if let Some(f) = self.files.get_mut(&id) {
                f.detached = None;
                self.problems.remove(path);
                continue;
            }
            // A rotation: a new file where a followed one was found (renamed away or
            // replaced). A followed file moving on to the next name (`app.log` →
            // `app.log.1` under `app.log*`) is no new file, so no second count.
            if self.files.values().any(|f| f.path == *path) {
                self.stats.file_rotations.fetch_add(1, Ordering::Relaxed);
                tracing::info!(source = %self.name, path = %path.display(), "rotated: a new file is at the path; the old one is read to its end");
            }
            self.open(path, phase)?;
        }
        for f in self.files.values_mut() {
            if f.detached.is_none() && !seen.contains(&f.id) {
                tracing::debug!(source = %self.name, path = %f.path.display(), "no longer at an included path (rotated or deleted): read to its end, then released");
                f.detached = Some(now);
                self.dirty.insert(f.id);
            }
        }
        let found: HashSet<&PathBuf> = found.iter().collect();
        self.problems.retain(|p, k| {
            found.contains(p)
                || matches!(k, Problem::Scan(_)) && errors.iter().any(|e| e.path == *p)
        });
        // Entries still wait only for files that are there and could not be opened.
        if phase == Phase::Running {
            self.pending
                .retain(|e| paths.values().any(|id| *id == e.id()));
        }
        self.paths = paths;
        Ok(())
    }

    /// Opens a file found at an included path and decides where to start reading it.
    fn open(&mut self, path: &Path, phase: Phase) -> Result<(), SourceError> {
        let Some(permit) = self.budget.try_take() else {
            self.problem(
                path,
                Problem::Budget,
                &"the daemon's descriptor budget is spent: not opened yet (retried at each rescan)",
            );
            return Ok(());
        };
        let file = match open_nonblocking(path) {
            Ok(f) => f,
            Err(e) => {
                self.problem(path, Problem::Open(e.kind()), &e);
                return Ok(());
            }
        };
        let meta = match file.metadata() {
            Ok(m) => m,
            Err(e) => {
                self.problem(path, Problem::Open(e.kind()), &e);
                return Ok(());
            }
        };
        if !meta.is_file() {
            self.problem(path, Problem::NotRegular, &"not a regular file: never read");
            return Ok(());
        }
        let id = FileId::of(&meta);
        if self.files.contains_key(&id) {
            return Ok(()); // renamed between the scan and the open
        }
        let size = meta.len();
        let now = Instant::now();
        let (pos, fp, record_path, copy) =
            match self.start_position(path, id, &file, &meta, phase, now) {
                Ok(v) => v,
                Err(e) => {
                    self.problem(path, Problem::Read(e.kind()), &e);
                    return Ok(());
                }
            };
        self.problems.remove(path);
        self.insert(Tailed::new(
            file,
            Some(permit),
            record_path.unwrap_or_else(|| path.to_path_buf()),
            id,
            fp,
            pos,
            size,
            now,
        ));
        // The copy's lines were written before the file's: they go first (the file
        // is read in the next pass; its entry is in the state meanwhile).
        if let Some(c) = copy {
            self.drain_copy(c)?;
        }
        Ok(())
    }

    /// Archives partial lines idle past `line_timeout`; releases detached files that
    /// are read to their end and idle past `release_deleted_after`.
    fn timeouts_and_releases(&mut self, now: Instant) -> Result<(), SourceError> {
        let mut release = Vec::new();
        for f in self.files.values_mut() {
            let idle = now.saturating_duration_since(f.last_growth);
            if f.lines.pending() > 0 && idle >= self.s.line_timeout {
                f.flush_incomplete(&mut self.sink);
                self.ckpt_dirty = true;
            }
            if let Some(since) = f.detached {
                let quiet = now.saturating_duration_since(since.max(f.last_growth));
                if f.pos >= f.size && quiet >= self.s.release_after {
                    release.push(f.id);
                }
            }
        }
        for id in release {
            self.release(id);
        }
        if self.sink.full() {
            self.sink.flush()?;
        }
        Ok(())
    }

    fn insert(&mut self, t: Tailed) {
        self.stats.files_open.fetch_add(1, Ordering::Relaxed);
        self.dirty.insert(t.id);
        self.ckpt_dirty = true;
        self.files.insert(t.id, t);
    }

    /// Closes a file for good (a partial last line is archived as incomplete).
    fn release(&mut self, id: FileId) {
        if let Some(mut f) = self.files.remove(&id) {
            f.flush_incomplete(&mut self.sink);
            tracing::debug!(source = %self.name, path = %f.path.display(), read = f.pos, "released");
            self.stats.files_open.fetch_sub(1, Ordering::Relaxed);
            self.ckpt_dirty = true;
        }
    }

    /// Logs and counts a problem with `path`, once until it changes.
    fn problem(&mut self, path: &Path, kind: Problem, detail: &dyn std::fmt::Display) {
        if self.problems.insert(path.to_path_buf(), kind) != Some(kind) {
            self.sink.error();
            tracing::warn!(source = %self.name, path = %path.display(), "cannot read: {detail}");
        }
    }

    /// Hands the positions to the checkpointer, once the batch in hand is appended
    /// (positions never run ahead of the journal) and at most every
    /// `checkpoint_interval` unless `force`.
    fn checkpoint(&mut self, force: bool) {
        if !self.sink.is_empty() || !(self.ckpt_dirty || force) {
            return;
        }
        if !force && self.last_ckpt.elapsed() < self.s.checkpoint_interval {
            return;
        }
        let mut files: Vec<FileCheckpoint> = self
            .files
            .values()
            .map(|f| FileCheckpoint::new(&f.path, f.id, f.fp, f.committed()))
            .chain(self.pending.iter().cloned())
            .collect();
        files.sort_by(|a, b| (&a.path, a.ino).cmp(&(&b.path, b.ino)));
        let state = Checkpoint {
            version: CHECKPOINT_VERSION,
            written_ns: now_ns(),
            files,
        };
        self.slot
            .send_replace(Some((self.sink.last_end, Arc::new(state))));
        self.ckpt_dirty = false;
        self.last_ckpt = Instant::now();
    }
}

/// Names a copy being read, for the log.
fn copy_note(t: &Tailed, path: &Path) -> String {
    format!("{} (inode {})", path.display(), t.id.ino)
}

/// Opens for reading without ever blocking: a path that turned into a FIFO between
/// the look and the open must not hang the source.
fn open_nonblocking(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
}
