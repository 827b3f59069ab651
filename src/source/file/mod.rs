//! The file source (`[[file]]`): tails files matched by globs, follows them through
//! rotation, and journals each line as an ingest record with its path and offset.
//!
//! * [`config`]: the `[[file]]` table, its defaults and checks;
//! * [`discover`]: globs, compressed files, inotify watches and their events;
//! * [`state`]: a file's identity (device, inode, fingerprint) and the checkpoint;
//! * [`tailed`]: one open file and the assembly of its bytes into lines;
//! * `sink`: the journal batch under construction;
//! * [`tailer`]: the thread that ties them together (rotation, restart, work loop).
//!
//! Why a thread: reading a regular file blocks (there is no readiness for files), and
//! a dedicated thread reads in 256 KiB chunks, splits lines with `memchr` and encodes
//! records straight into the journal batch, without a hop through the async runtime
//! per read. The runtime side is small: a task that wakes the thread at shutdown, and
//! the checkpointer, which writes each state the thread hands it once the journal has
//! made everything before it durable ([`SourceContext::checkpoint`]). Only the newest
//! state matters (positions only move forward), so the thread never waits for an
//! fsync: it replaces the pending state and reads on.
//!
//! Shutdown: the thread stops reading, appends the batch in hand, hands over the last
//! state and returns; the checkpointer writes it (waiting at most
//! [`FINAL_CHECKPOINT_WAIT`] for the journal) and the task returns. A partial last line
//! is not archived at shutdown: the checkpoint names its start, and it is read whole
//! after the restart.

pub mod config;
pub mod discover;
mod sink;
pub mod state;
pub mod tailed;
pub mod tailer;
#[cfg(test)]
mod tests;

use std::sync::mpsc::sync_channel;
use std::time::Duration;

use tokio::sync::watch;

use super::{BuildError, Built, SourceContext, SourceError};
pub use config::{FileSourceConfig, StartAt};
use discover::{Globs, Wake, Watch, EVENT_QUEUE};
use state::Checkpoint;
use tailer::{Settings, Tailer};

/// At shutdown, how long the last checkpoint waits for the journal to make the last
/// batch durable; past it the previous checkpoint stays (a restart reads a little
/// again) rather than hold the daemon's exit.
pub const FINAL_CHECKPOINT_WAIT: Duration = Duration::from_secs(20);

/// Builds a `[[file]]` source: its task runs the tailer thread and the checkpointer.
pub fn build(cfg: &FileSourceConfig, cx: SourceContext) -> Result<Built, BuildError> {
    let globs = Globs::new(&cfg.include, &cfg.exclude).map_err(|e| BuildError::Setup {
        source_name: cx.name.clone(),
        message: format!("invalid glob pattern: {e}"),
    })?;
    let loaded = match cx.checkpoints.load::<Checkpoint>() {
        Ok(c) => c,
        Err(e) => {
            // Unknown positions: every file is read from its start (duplicates, never a
            // loss). The bad file is replaced by the first new checkpoint.
            tracing::error!(source = %cx.name, error = %e, "the checkpoint cannot be read: reading every file from its start");
            Some(Checkpoint::default())
        }
    };
    let settings = Settings::of(cfg);
    let task = async move {
        let (tx, rx) = sync_channel::<Wake>(EVENT_QUEUE);
        let (slot, mut slot_rx) = watch::channel(None);
        let sink = sink::Sink::new(
            cx.index,
            cx.name.clone(),
            cx.journal.clone(),
            cx.stats.clone(),
        );
        let tailer = Tailer::new(
            cx.name.clone(),
            settings,
            globs,
            Watch::new(tx.clone(), &cx.name),
            rx,
            cx.shutdown.clone(),
            cx.shared.budget.clone(),
            cx.stats.clone(),
            sink,
            slot,
            loaded,
        );
        let waker = {
            let stop = cx.shutdown.clone();
            tokio::spawn(async move {
                stop.cancelled().await;
                // A full queue wakes the thread as well.
                let _ = tx.try_send(Wake::Stop);
            })
        };
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("file-source".into())
            .spawn(move || {
                let _ = done_tx.send(tailer.run());
            });
        if let Err(source) = spawned {
            waker.abort();
            return Err(SourceError::Io {
                source_name: cx.name.clone(),
                source,
            });
        }
        // Writes each state handed over; ends when the thread drops its sender.
        while slot_rx.changed().await.is_ok() {
            let Some((end, state)) = slot_rx.borrow_and_update().clone() else {
                continue;
            };
            let write = cx.checkpoint(end, &*state);
            let written = if cx.shutdown.is_cancelled() {
                match tokio::time::timeout(FINAL_CHECKPOINT_WAIT, write).await {
                    Ok(r) => r,
                    Err(_) => {
                        tracing::warn!(source = %cx.name, "the journal did not make the last lines durable in time: the previous checkpoint stays (after a restart, a few lines are read again)");
                        Ok(())
                    }
                }
            } else {
                write.await
            };
            if let Err(e) = written {
                // The journal is closed: nothing more can be made durable.
                tracing::debug!(source = %cx.name, error = %e, "checkpointer stopping");
                break;
            }
        }
        waker.abort();
        match done_rx.await {
            Ok(r) => r,
            Err(_) => Err(SourceError::Io {
                source_name: cx.name.clone(),
                source: std::io::Error::other("the file source's thread panicked"),
            }),
        }
    };
    Ok(Built {
        task: Box::pin(task),
        local_addr: None,
    })
}
