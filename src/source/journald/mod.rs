//! The systemd journal as a source: `journalctl --follow --output=json` as a child
//! process, one ingest record per entry, its cursor checkpointed.
//!
//! On Debian 12 and most current distributions sshd and sudo log only to the journal;
//! without this source the detector would see nothing on a default host. Reading
//! through `journalctl` instead of linking libsystemd keeps the daemon free of C code
//! and `unsafe`, and reads every journal format the host's systemd writes. Which flags
//! it takes and why is in `command.rs`: `--no-tail`, `--merge` and absolute paths each
//! work around a way journalctl 252 would skip entries; `--all` keeps long fields.
//!
//! * **Records.** Each line `journalctl` prints is one entry, journalled verbatim as a
//!   [`RecordKind::Journald`](crate::record::RecordKind) record (the normaliser maps its
//!   fields later). A line over `max_entry_bytes` keeps its first bytes and is flagged
//!   truncated; a line cut off by the child's end is flagged incomplete; a line that is
//!   not a JSON object is kept (a raw event) and counted as an error. Entries are
//!   batched per read of the pipe (at most [`super::batch::BATCH_TARGET_BYTES`]) and appended with
//!   the journal's backpressure: while an append waits, nothing is read, the pipe fills
//!   and `journalctl` blocks, and journald keeps the entries meanwhile.
//! * **Cursors.** The cursor of the newest entry of each batch (its `__CURSOR`, found by
//!   [`cursor_of`] without parsing the entry) is remembered once the batch is
//!   appended, and checkpointed through [`SourceContext::checkpoint`] (which waits until
//!   the batch is durable) at most once per [`CHECKPOINT_INTERVAL`] and at shutdown. A
//!   daemon restart resumes with `--after-cursor` at the checkpoint: after a clean stop
//!   nothing is read twice, after `kill -9` at most the entries since the last
//!   checkpoint (at-least-once; their cursor is in `sealtrail.journald.cursor`).
//! * **Child restarts.** When `journalctl` ends (it never does by itself with
//!   `--follow`) or cannot be started, the source logs why, counts an error and a
//!   restart, pauses ([`Backoff`], 250 ms doubling to `restart_backoff`, back to the
//!   start after a child that delivered entries) and starts it again after the newest
//!   *appended* cursor, kept in memory: only the on-disk checkpoint has to trail
//!   durability, and the daemon still holds those entries. Its stderr goes to the log,
//!   rate-limited ([`Throttle`]).
//! * **Start.** Without a checkpoint, `since = "end"` (the default for the host's
//!   journal) asks for the newest entry's cursor and checkpoints it at once, so a
//!   restart before any new entry still starts there; `since = "beginning"` (the default
//!   for `directory`/`files`) reads everything. Files and directories are followed too:
//!   entries appended later, and files added to the directory, are read as they come.
//! * **Shutdown.** The batch in hand is appended (it always is before waiting), the
//!   newest cursor is checkpointed once durable, the child is killed.

mod command;
pub mod config;
mod lines;
#[cfg(test)]
mod tests;

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::process::{Child, ChildStderr};
use tokio::time::Instant;

pub use command::cursor_of;
use command::Command;
pub use config::{JournaldSourceConfig, Selection, Since};
use lines::{Line, Lines};

use super::batch::RecordBatch;
use super::{BuildError, Built, SourceContext, SourceError};
use crate::record::{IngestRecord, Origin, RecordFlags};
use crate::throttle::{Backoff, Throttle};

/// The newest appended cursor is checkpointed at most this often (and at shutdown):
/// after a crash at most this much is read again.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// First pause before `journalctl` is started again.
pub const MIN_RESTART_PAUSE: Duration = Duration::from_millis(250);
/// stderr lines of the child are cut here.
const STDERR_LINE_BYTES: usize = 4096;
/// stderr lines of one child logged before the rate limit applies: an error message
/// or journalctl's permission hint is a few lines at start.
const STDERR_BURST: u32 = 8;
/// How long the child may take to exit after its output ended, before it is killed.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// The checkpoint: the cursor of the newest entry durable in the journal, and which
/// journal it belongs to (for the log, when the configuration changed since).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub cursor: String,
    #[serde(default)]
    pub journal: String,
}

/// Builds the source; nothing is opened yet (a missing `journalctl` is retried like a
/// child that died, so the other sources start regardless).
pub fn build(cfg: &JournaldSourceConfig, cx: SourceContext) -> Result<Built, BuildError> {
    let source = Journald {
        cmd: Command::new(cfg),
        since: cfg.since(),
        journal: cfg.selection().describe(),
        max_entry_bytes: cfg.max_entry_bytes,
        restart_backoff: cfg.restart_backoff.max(MIN_RESTART_PAUSE),
        cx,
    };
    Ok(Built {
        task: Box::pin(source.run()),
        local_addr: None,
    })
}

struct Journald {
    cmd: Command,
    since: Since,
    /// [`Selection::describe`], kept in the checkpoint.
    journal: String,
    max_entry_bytes: usize,
    restart_backoff: Duration,
    cx: SourceContext,
}

/// Where the source stands.
struct Position {
    /// Newest cursor appended to the journal: a restarted child resumes after it.
    appended: Option<String>,
    /// Journal position after the batch that carried `appended`, until checkpointed.
    pending: Option<u64>,
    last_checkpoint: Instant,
}

/// Where the checkpoint says to start.
#[derive(Debug, PartialEq, Eq)]
enum Start {
    /// After this cursor.
    After(String),
    /// No checkpoint: as `since` says.
    Fresh,
    /// A damaged checkpoint: from the beginning, whatever `since` says.
    Beginning,
}

/// How one child ended.
enum Outcome {
    Shutdown,
    /// It could not be started.
    SpawnFailed(std::io::Error),
    /// Its output ended or failed; how, and how many entries it gave.
    Ended {
        why: String,
        entries: u64,
    },
}

impl Journald {
    async fn run(self) -> Result<(), SourceError> {
        let name = self.cx.name.clone();
        let mut pos = Position {
            appended: None,
            pending: None,
            last_checkpoint: Instant::now(),
        };
        let mut backoff = Backoff::new(MIN_RESTART_PAUSE, self.restart_backoff);
        let mut restart_log = Throttle::new(Duration::from_secs(10));
        let mut loaded = false;
        let mut need_newest = false;
        let mut followed = false;
        loop {
            if self.cx.shutdown.is_cancelled() {
                break;
            }
            if !loaded {
                match self.load_checkpoint() {
                    Ok(start) => {
                        loaded = true;
                        need_newest = start == Start::Fresh && self.since == Since::End;
                        if let Start::After(c) = start {
                            pos.appended = Some(c);
                        }
                    }
                    Err(()) => {
                        let pause = backoff.step();
                        if self.pause(pause).await {
                            break;
                        }
                        continue;
                    }
                }
            }
            if need_newest {
                let newest = tokio::select! {
                    biased;
                    _ = self.cx.shutdown.cancelled() => break,
                    r = self.cmd.newest_cursor() => r,
                };
                match newest {
                    Ok(cursor) => {
                        need_newest = false;
                        tracing::info!(source = %name, journal = %self.journal, cursor = ?cursor, "no checkpoint: starting after the newest entry (since = \"end\")");
                        if let Some(c) = cursor {
                            // Nothing before it is ours to make durable: written at once,
                            // so a restart before the first new entry starts here too.
                            self.cx.checkpoint(0, &self.state(&c)).await?;
                            pos.appended = Some(c);
                        }
                    }
                    Err(e) => {
                        self.cx.stats.errors.fetch_add(1, Ordering::Relaxed);
                        let pause = backoff.step();
                        if let Some(n) = restart_log.hit(std::time::Instant::now()) {
                            tracing::error!(source = %name, program = %self.cmd.program.display(), error = %e, failures = n, "cannot find the newest journal entry to start at; retrying in {pause:?}");
                        }
                        if self.pause(pause).await {
                            break;
                        }
                        continue;
                    }
                }
            }
            if followed {
                self.cx.stats.restarts.fetch_add(1, Ordering::Relaxed);
            }
            followed = true;
            match self.follow(&mut pos).await? {
                Outcome::Shutdown => break,
                Outcome::SpawnFailed(e) => {
                    self.cx.stats.errors.fetch_add(1, Ordering::Relaxed);
                    let pause = backoff.step();
                    if let Some(n) = restart_log.hit(std::time::Instant::now()) {
                        tracing::error!(source = %name, program = %self.cmd.program.display(), error = %e, failures = n, "cannot start journalctl; retrying in {pause:?}");
                    }
                    if self.pause(pause).await {
                        break;
                    }
                }
                Outcome::Ended { why, entries } => {
                    self.cx.stats.errors.fetch_add(1, Ordering::Relaxed);
                    if entries > 0 {
                        backoff.reset();
                    }
                    let pause = backoff.step();
                    if let Some(n) = restart_log.hit(std::time::Instant::now()) {
                        tracing::warn!(source = %name, entries, ends = n, resume_after = ?pos.appended, "journalctl ended ({why}); starting it again in {pause:?}");
                    }
                    // What it gave is appended: checkpoint it before waiting.
                    self.checkpoint(&mut pos).await?;
                    if self.pause(pause).await {
                        break;
                    }
                }
            }
        }
        self.checkpoint(&mut pos).await
    }

    /// Sleeps `d` unless the daemon stops first; true if it does.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            biased;
            _ = self.cx.shutdown.cancelled() => true,
            _ = tokio::time::sleep(d) => false,
        }
    }

    fn state(&self, cursor: &str) -> State {
        State {
            cursor: cursor.to_string(),
            journal: self.journal.clone(),
        }
    }

    /// The checkpointed cursor. A damaged checkpoint cannot say where the source stood,
    /// so it reads from the beginning: reading twice is recognisable (the cursor is in
    /// every event), losing entries is not. `Err` when it cannot be read now (retried).
    fn load_checkpoint(&self) -> Result<Start, ()> {
        let name = &self.cx.name;
        let path = self.cx.checkpoints.path().display().to_string();
        match self.cx.checkpoints.load::<State>() {
            Ok(Some(s)) if cursor_of_state(&s.cursor) => {
                if s.journal != self.journal && !s.journal.is_empty() {
                    tracing::warn!(source = %name, checkpoint = %path, was = %s.journal, now = %self.journal, "the checkpoint was taken from another journal; its cursor is used as it is (journalctl seeks to its time): give the source a new name to read this journal from its start");
                }
                tracing::info!(source = %name, cursor = %s.cursor, "resuming after the checkpointed cursor");
                Ok(Start::After(s.cursor))
            }
            Ok(Some(s)) => {
                self.damaged(&path, &format!("unusable cursor {:?}", s.cursor));
                Ok(Start::Beginning)
            }
            Ok(None) => Ok(Start::Fresh),
            Err(crate::source::CheckpointError::Format { source, .. }) => {
                self.damaged(&path, &source.to_string());
                Ok(Start::Beginning)
            }
            Err(e) => {
                self.cx
                    .stats
                    .checkpoint_errors
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(source = %name, error = %e, "cannot read the source's checkpoint; retrying");
                Err(())
            }
        }
    }

    fn damaged(&self, path: &str, why: &str) {
        self.cx
            .stats
            .checkpoint_errors
            .fetch_add(1, Ordering::Relaxed);
        tracing::error!(source = %self.cx.name, checkpoint = %path, error = %why, "the checkpoint is damaged: reading the journal from its beginning (entries already archived arrive again, with the same cursor)");
    }

    /// Checkpoints the newest appended cursor once its batch is durable.
    async fn checkpoint(&self, pos: &mut Position) -> Result<(), SourceError> {
        let (Some(end), Some(cursor)) = (pos.pending, pos.appended.as_deref()) else {
            return Ok(());
        };
        self.cx.checkpoint(end, &self.state(cursor)).await?;
        pos.pending = None;
        pos.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Runs one child until it ends or the daemon stops.
    async fn follow(&self, pos: &mut Position) -> Result<Outcome, SourceError> {
        let args = self.cmd.follow_args(pos.appended.as_deref());
        let mut child = match self.cmd.tokio(&args).spawn() {
            Ok(c) => c,
            Err(e) => return Ok(Outcome::SpawnFailed(e)),
        };
        tracing::info!(source = %self.cx.name, pid = child.id(), journal = %self.journal, after_cursor = ?pos.appended, "journalctl started");
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(log_stderr(self.cx.name.clone(), stderr));
        }
        let Some(stdout) = child.stdout.take() else {
            return Ok(Outcome::Ended {
                why: format!("no stdout pipe; {}", finish(&mut child).await),
                entries: 0,
            });
        };
        let mut lines = Lines::new(stdout, self.max_entry_bytes);
        let mut entries = 0u64;
        let mut received_ns = crate::record::now_ns();
        let mut non_json = Throttle::new(Duration::from_secs(10));
        let mut batch = RecordBatch::default();
        let mut cursor = None;
        let why = loop {
            while let Some(line) = lines.next_line() {
                self.push(&mut batch, &mut cursor, &mut non_json, received_ns, line);
                if batch.full() {
                    entries += self.append(&mut batch, &mut cursor, pos).await?;
                }
            }
            entries += self.append(&mut batch, &mut cursor, pos).await?;
            let due = pos.last_checkpoint + CHECKPOINT_INTERVAL;
            tokio::select! {
                biased;
                _ = self.cx.shutdown.cancelled() => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    return Ok(Outcome::Shutdown);
                }
                _ = tokio::time::sleep_until(due), if pos.pending.is_some() => {
                    self.checkpoint(pos).await?;
                }
                r = lines.fill() => match r {
                    Ok(0) => break "its output ended".to_string(),
                    Ok(n) => {
                        received_ns = crate::record::now_ns();
                        batch.read(n);
                    }
                    Err(e) => break format!("reading its output failed: {e}"),
                },
            }
        };
        // A last line without its newline: kept, flagged incomplete; its cursor is not
        // taken, so the next child prints the entry again in full.
        if let Some(line) = lines.take_partial() {
            self.push(&mut batch, &mut cursor, &mut non_json, received_ns, line);
        }
        entries += self.append(&mut batch, &mut cursor, pos).await?;
        let status = finish(&mut child).await;
        Ok(Outcome::Ended {
            why: format!("{why}; {status}"),
            entries,
        })
    }

    /// Encodes one line into the batch and notes its cursor.
    fn push(
        &self,
        batch: &mut RecordBatch,
        cursor: &mut Option<String>,
        non_json: &mut Throttle,
        received_ns: i64,
        line: Line<'_>,
    ) {
        if line.bytes.is_empty() && line.flags.is_empty() {
            // journalctl prints no empty lines; an empty one carries nothing.
            return;
        }
        batch.push(&IngestRecord {
            received_ns,
            source: self.cx.index,
            origin: Origin::Journald,
            flags: line.flags,
            raw: line.bytes,
        });
        if line.flags.contains(RecordFlags::INCOMPLETE) {
            return;
        }
        let object = line.bytes.first() == Some(&b'{')
            && (line.bytes.last() == Some(&b'}') || line.flags.contains(RecordFlags::TRUNCATED));
        if !object {
            batch.error();
            if let Some(n) = non_json.hit(std::time::Instant::now()) {
                tracing::warn!(source = %self.cx.name, lines = n, line = %String::from_utf8_lossy(&line.bytes[..line.bytes.len().min(200)]), "journalctl printed a line that is not a JSON entry; it is kept as a raw event");
            }
        }
        // A cut entry's cursor counts if it survived the cut whole: the entry is read
        // (truncated), reading it again would give the same.
        if let Some(c) = cursor_of(line.bytes) {
            let slot = cursor.get_or_insert_with(String::new);
            slot.clear();
            slot.push_str(c);
        }
    }

    /// Appends the batch (waiting while the journal applies backpressure); its newest
    /// cursor becomes the one to resume after and to checkpoint. Returns the entries
    /// appended.
    async fn append(
        &self,
        batch: &mut RecordBatch,
        cursor: &mut Option<String>,
        pos: &mut Position,
    ) -> Result<u64, SourceError> {
        let entries = batch.len() as u64;
        let Some(b) = batch.take(&self.cx.stats) else {
            return Ok(0);
        };
        let end = self.cx.append(b).await?;
        if let Some(c) = cursor.take() {
            pos.appended = Some(c);
            pos.pending = Some(end);
        } else if pos.pending.is_some() {
            // Entries without a cursor (raw lines) still move the durability mark on.
            pos.pending = Some(end);
        }
        Ok(entries)
    }
}

/// A checkpointed cursor that can go on a command line (see [`cursor_of`]).
fn cursor_of_state(c: &str) -> bool {
    !c.is_empty() && c.len() <= command::MAX_CURSOR_BYTES && c.bytes().all(|b| b.is_ascii_graphic())
}

/// Waits (bounded) for the child to exit, killing it if it does not; its status.
async fn finish(child: &mut Child) -> String {
    match tokio::time::timeout(EXIT_WAIT, child.wait()).await {
        Ok(Ok(status)) => status.to_string(),
        Ok(Err(e)) => format!("waiting for it failed: {e}"),
        Err(_) => {
            let _ = child.start_kill();
            match child.wait().await {
                Ok(status) => format!("killed after its output ended: {status}"),
                Err(e) => format!("killed after its output ended; waiting failed: {e}"),
            }
        }
    }
}

/// Logs the child's stderr, line by line: the first few at once (an error message, the
/// permission hint), then at most one per 10 s with the count of those left out.
async fn log_stderr(source: String, stderr: ChildStderr) {
    let mut lines = Lines::new(stderr, STDERR_LINE_BYTES);
    let mut throttle = Throttle::new(Duration::from_secs(10));
    let mut said = 0u32;
    let mut emit = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim_end();
        if text.is_empty() {
            return;
        }
        said = said.saturating_add(1);
        if said <= STDERR_BURST {
            tracing::warn!(source = %source, "journalctl: {text}");
        } else if let Some(n) = throttle.hit(std::time::Instant::now()) {
            tracing::warn!(source = %source, lines = n, "journalctl: {text}");
        }
    };
    loop {
        while let Some(l) = lines.next_line() {
            emit(l.bytes);
        }
        match lines.fill().await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    if let Some(l) = lines.take_partial() {
        emit(l.bytes);
    }
}
