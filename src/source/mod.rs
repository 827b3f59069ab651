//! Sources of events, as components: each kind is a config struct plus a build function
//! handed a [`SourceContext`] (Vector's `SourceConfig::build(cx)`, mini-redis'
//! `run(listener, shutdown)`). Building binds or opens what the source needs, so a bad
//! address fails the start; the [`Built`] task then runs until the shutdown token, with
//! backpressure from the journal, and returns only when everything it read is handed
//! over. The daemon builds the configured list ([`SourceConfig`]) and runs it; adding a
//! kind is one module and one variant here.

pub mod audit;
pub mod batch;
pub mod checkpoint;
pub mod file;
pub mod framing;
pub mod journald;
pub mod limits;
pub mod stats;
pub mod syslog;

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::SyslogListener;
use crate::journal::{Batch, Journal, JournalError};
pub use checkpoint::{CheckpointError, CheckpointStore};
pub use stats::SourceStats;

/// What the daemon hands every source.
pub struct SourceContext {
    /// The configured name (metrics, logs, `observer.ingress.name`).
    pub name: String,
    /// Index written into every record (config order).
    pub index: u16,
    /// The stream id: names this daemon's chain (`event.id` is `<stream>:<position>`).
    pub stream: String,
    /// Appends with backpressure; durability for checkpoints.
    pub journal: Journal,
    /// This source's position across restarts.
    pub checkpoints: CheckpointStore,
    pub stats: Arc<SourceStats>,
    /// Cancelled when the daemon stops: read what is ready, hand it over, return.
    pub shutdown: CancellationToken,
    /// Resources all sources share (connection budget, read buffers).
    pub shared: Arc<Shared>,
}

/// What sources share: the stream connections' descriptor budget and read buffers.
#[derive(Debug)]
pub struct Shared {
    pub budget: limits::DescriptorBudget,
    pub pool: Arc<limits::ReadPool>,
}

impl SourceContext {
    /// Appends a batch (waiting while the journal applies backpressure); returns the
    /// journal position just past it.
    pub async fn append(&self, batch: Batch) -> Result<u64, SourceError> {
        self.journal
            .append(batch)
            .await
            .map_err(|source| SourceError::Journal {
                source_name: self.name.clone(),
                source,
            })
    }

    /// Writes `state` as this source's checkpoint once everything before journal
    /// position `end` is durable, so a position never runs ahead of its events. A
    /// failed write is logged and counted and the old checkpoint stays: the caller goes
    /// on (a restart reads a little again).
    pub async fn checkpoint<S: Serialize>(&self, end: u64, state: &S) -> Result<(), SourceError> {
        self.journal
            .wait_durable(end)
            .await
            .map_err(|source| SourceError::Journal {
                source_name: self.name.clone(),
                source,
            })?;
        match self.checkpoints.store(state) {
            Ok(()) => {
                self.stats
                    .checkpoints
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => {
                self.stats
                    .checkpoint_errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::error!(source = %self.name, error = %e, "writing the source's checkpoint failed; the previous one stays (after a restart some lines are read again)");
            }
        }
        Ok(())
    }
}

/// A built source: its task, and where it listens if it is a listener.
pub struct Built {
    pub task: BoxFuture<'static, Result<(), SourceError>>,
    /// The bound address (port 0 resolved), for listeners.
    pub local_addr: Option<SocketAddr>,
}

/// Why a source could not be built (the daemon does not start).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot listen on {transport} {address}: {source}")]
    Bind {
        transport: &'static str,
        address: SocketAddr,
        source: std::io::Error,
    },
    /// The unix socket's file cannot be made (something else at its path, another
    /// process receiving on it, a missing permission).
    #[error("source {source_name}: {error}")]
    Unix {
        source_name: String,
        error: syslog::unix::UnixError,
    },
    /// What the source needs cannot be set up (a check `check-config` missed).
    #[error("source {source_name}: {message}")]
    Setup {
        source_name: String,
        message: String,
    },
}

/// Why a running source stopped.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The journal refused a batch; nothing received from now on could be kept.
    #[error("source {source_name}: journal append failed: {source}")]
    Journal {
        source_name: String,
        #[source]
        source: JournalError,
    },
    /// The source's socket or file itself failed (not a single read).
    #[error("source {source_name}: {source}")]
    Io {
        source_name: String,
        #[source]
        source: std::io::Error,
    },
}

/// One configured source.
#[derive(Debug, Clone, Copy)]
pub enum SourceConfig<'a> {
    Syslog(&'a SyslogListener),
    File(&'a file::FileSourceConfig),
    Journald(&'a journald::JournaldSourceConfig),
    AuditApi(&'a audit::AuditApiConfig),
}

impl SourceConfig<'_> {
    /// The configured (or default) name.
    pub fn name(&self) -> String {
        match self {
            SourceConfig::Syslog(l) => l.display_name(),
            SourceConfig::File(f) => f.display_name(),
            SourceConfig::Journald(j) => j.name.clone(),
            SourceConfig::AuditApi(a) => a.display_name(),
        }
    }

    /// The kind, for metrics' `component_type` and `status`.
    pub fn type_name(&self) -> &'static str {
        match self {
            SourceConfig::Syslog(_) => "syslog",
            SourceConfig::File(_) => "file",
            SourceConfig::Journald(_) => "journald",
            SourceConfig::AuditApi(_) => "audit_api",
        }
    }

    /// The time zone of its timestamps that carry none. A journal entry's time is UTC
    /// microseconds: it needs none.
    pub fn timezone(&self) -> crate::normalise::TimeZoneSpec {
        match self {
            SourceConfig::Syslog(l) => l.timezone,
            SourceConfig::File(f) => f.timezone,
            SourceConfig::Journald(_) | SourceConfig::AuditApi(_) => {
                crate::normalise::TimeZoneSpec::Utc
            }
        }
    }

    /// A local socket: its senders are processes on this host, so a message of theirs
    /// without a hostname gets the local host name (`Normaliser::with_local_host`).
    pub fn is_local_socket(&self) -> bool {
        matches!(self, SourceConfig::Syslog(l) if l.transport == crate::config::Transport::Unix)
    }

    /// Binds or opens what the source needs and returns its task.
    pub fn build(&self, cx: SourceContext) -> Result<Built, BuildError> {
        match self {
            SourceConfig::Syslog(l) => syslog::build(l, cx),
            SourceConfig::File(f) => file::build(f, cx),
            SourceConfig::Journald(j) => journald::build(j, cx),
            SourceConfig::AuditApi(a) => audit::build(a, cx),
        }
    }
}
