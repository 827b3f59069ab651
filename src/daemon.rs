//! Wires sources, journal, sealer and shipper together, and shuts them down in the
//! order that loses nothing: sources drain into the journal, the journal is flushed and
//! closed, the sealer seals everything durable, the shipper archives what it can.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::forward::webhook::Webhook;
use crate::journal::consumer::{JournalConsumer, Runner, Stage};
use crate::journal::{Journal, JournalError, JournalOptions};
use crate::keys::{self, KeyError};
use crate::normalise::Normaliser;
use crate::seal::{SealError, Sealer, SealerOptions, SealerStats};
use crate::ship::{ShipStats, Shipper, Spool};
use crate::source::limits::{self, DescriptorBudget, ReadPool};
use crate::source::{BuildError, CheckpointStore, Shared, SourceContext, SourceError, SourceStats};
use crate::store::{self, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    StateDir(#[from] crate::state_dir::StateDirError),
    #[error("signing key: {0}")]
    Key(#[from] KeyError),
    #[error("archive: {0}")]
    Store(#[from] StoreError),
    #[error("archive: {source}")]
    Archive { source: object_store::Error },
    #[error("the archive already holds segments of stream `{stream}` (e.g. {object}) but this state directory has no chain for it: restore the state directory, or set `stream` to a new id to start a separate chain")]
    ForeignChain { stream: String, object: String },
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    #[error("sealer: {0}")]
    Seal(#[from] SealError),
    #[error("{0}")]
    Source(#[from] BuildError),
    #[error("starting a thread: {0}")]
    Thread(String),
    #[error("{name}: {source}")]
    Consumer {
        name: String,
        source: crate::journal::consumer::ConsumerError,
    },
    #[error("forward `{name}`: {message}")]
    ForwardAuth { name: String, message: String },
    #[error("forward `{name}`: tls.{source}")]
    ForwardTls {
        name: String,
        source: crate::forward::tls::TlsError,
    },
}

impl DaemonError {
    /// Whether the operator has to change something (configuration, key, state
    /// directory) before a restart can succeed: the CLI exits 78 (`EX_CONFIG`) then, so
    /// systemd's `RestartPreventExitStatus=78` stops a pointless restart loop.
    pub fn is_configuration(&self) -> bool {
        match self {
            DaemonError::StateDir(e) => !matches!(e, crate::state_dir::StateDirError::Io { .. }),
            DaemonError::Key(e) => e.is_configuration(),
            DaemonError::ForeignChain { .. }
            | DaemonError::ForwardTls { .. }
            | DaemonError::ForwardAuth { .. } => true,
            DaemonError::Seal(SealError::StreamMismatch { .. }) => true,
            DaemonError::Journal(
                JournalError::InvalidOptions(_) | JournalError::OldFormat { .. },
            ) => true,
            _ => false,
        }
    }
}

/// A running source as the status endpoint sees it.
#[derive(Clone, Debug)]
pub struct SourceHandle {
    pub name: String,
    /// The kind: `syslog`, `file`, `journald`.
    pub kind: &'static str,
    pub stats: Arc<SourceStats>,
}

/// Shared live figures, for logs now and the status endpoint later.
#[derive(Default)]
pub struct Stats {
    pub sources: Vec<SourceHandle>,
    pub sealer: Arc<SealerStats>,
    /// `None` when the detector is disabled.
    pub detector: Option<Arc<crate::detect::consumer::DetectorStats>>,
    pub shipper: Arc<ShipStats>,
    pub forwarders: Vec<crate::forward::ForwardHandle>,
}

/// A daemon whose sockets are bound and whose state is open, not yet running
/// (mini-redis style: tests can bind port 0 and read [`Daemon::local_addrs`]).
pub struct Daemon {
    stream: String,
    journal: Journal,
    /// The sealer, the detector and the forwarders, each to run on a thread of its
    /// own from its own journal cursor.
    consumers: Vec<Box<dyn JournalConsumer>>,
    shipper: Shipper,
    wake_shipper: Arc<Notify>,
    /// Built sources, each with its name, ready to run.
    tasks: Vec<(String, BoxFuture<'static, Result<(), SourceError>>)>,
    /// Stops the sources first at shutdown, before anything downstream.
    stop_sources: CancellationToken,
    pub stats: Stats,
    /// Where each listener ended up (port 0 resolves here), by source name.
    pub local_addrs: Vec<(String, SocketAddr)>,
}

impl Daemon {
    /// Opens state (creating the key on first start) and binds every listener.
    pub async fn start(cfg: Config) -> Result<Daemon, DaemonError> {
        let state_dir = cfg.state_dir.clone();
        crate::state_dir::prepare(&state_dir)?;
        let stream = cfg.stream_id();

        let journal = Journal::open(
            &state_dir.join("journal"),
            JournalOptions {
                file_bytes: cfg.journal.file_bytes,
                max_bytes: cfg.journal.max_bytes,
                fsync: cfg.journal.fsync,
                commit_delay: cfg.journal.commit_delay,
                // The journal leaves this much of the state disk to the spool and the
                // checkpoints, so the sealer can always seal and reclaim.
                reserve_free_bytes: cfg.journal.keep_free_bytes,
                ..JournalOptions::default()
            },
        )?;

        // The key must continue the chain this state directory holds: a missing or
        // different key is refused here, before anything could be signed with it.
        let chain = crate::seal::load_chain(&journal)?.map(|cp| cp.state);
        let key_path = cfg.key_path();
        let (signing, created) =
            keys::load_for_chain(&key_path, chain.as_ref().map(|c| c.chain_key()).as_ref())?;
        let pub_path = keys::public_path_for(&key_path);
        let key_id = hex::encode(keys::key_id(&signing.verifying_key()));
        if created {
            tracing::info!(key = %key_path.display(), public_key = %pub_path.display(), %key_id, "created a new signing key; give the public key to your auditors");
        }
        // A key written before 0.2 is in the PKCS#8 v2 form OpenSSL cannot read.
        match keys::upgrade_secret_form(&key_path, &signing) {
            Ok(true) => {
                tracing::info!(key = %key_path.display(), %key_id, "rewrote the signing key in the PKCS#8 v1 form that openssl pkey reads (the same key)")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(key = %key_path.display(), error = %e, "could not rewrite the signing key in the PKCS#8 v1 form; it stays as it is and still works")
            }
        }
        // The auditors' keyring holds every key of this lineage, oldest first.
        match keys::rotation::keyring_add(&key_path, &signing.verifying_key()) {
            Ok(true) => {
                tracing::info!(keyring = %keys::keyring_path_for(&key_path).display(), %key_id, "added the signing key to the keyring file")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not write the keyring file; the public key file alone verifies this key's segments")
            }
        }
        if let Some(c) = &chain {
            if c.key_id.is_none() {
                tracing::warn!(%key_id, next_seq = c.next_seq, "the checkpoint (written by an older version) does not record its key: assuming this key signs the chain; from the next segment on it is recorded");
            }
        }

        let archive = store::open(&cfg.archive, true)?;
        tracing::info!(archive = %archive.display, public_key = %pub_path.display(), %key_id, %stream, "sealed segments go to the archive; verify them with the public key");

        // By record source index: every configured source, in config order.
        let listeners: Vec<_> = cfg
            .sources()
            .iter()
            .map(|s| (s.name(), s.timezone()))
            .collect();
        // Messages from a local socket that name no host were written on this one.
        let local_sockets: Vec<u16> = (0u16..)
            .zip(cfg.sources())
            .filter(|(_, s)| s.is_local_socket())
            .map(|(i, _)| i)
            .collect();
        let local_host = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let normaliser = || {
            let n = Normaliser::new(&stream, listeners.clone());
            if local_host.is_empty() {
                n
            } else {
                n.with_local_host(&local_host, &local_sockets)
            }
        };
        let mut forwarders = Vec::new();
        for f in &cfg.forward {
            let tls = match &f.tls {
                Some(t) => Some(t.client(f.address.as_deref().unwrap_or_default()).map_err(
                    |source| DaemonError::ForwardTls {
                        name: f.name.clone(),
                        source,
                    },
                )?),
                None => None,
            };
            let authorization = f
                .authorization()
                .map_err(|message| DaemonError::ForwardAuth {
                    name: f.name.clone(),
                    message,
                })?;
            forwarders.push(crate::forward::Forwarder {
                cfg: f.clone(),
                tls,
                authorization,
                journal: journal.clone(),
                normaliser: normaliser(),
                stream: stream.clone(),
                stats: Arc::new(crate::forward::ForwardStats::default()),
                dead_letter_dir: state_dir.join("dead-letter"),
            });
        }
        let detector_normaliser = normaliser();
        let normaliser = normaliser();
        // Under journal pressure, the sealer seals (and the detector snapshots) once this
        // much is behind its cursor: about a file's worth, so whole files can go.
        let early_bytes = cfg.journal.file_bytes.min(cfg.journal.max_bytes / 4);
        let spool_dir = state_dir.join("spool");
        let wake_shipper = Arc::new(Notify::new());
        let sealer_stats = Arc::new(SealerStats::default());
        let webhook = match &cfg.alerts.webhook {
            Some(url) => {
                let w = Webhook::start(url.clone(), cfg.alerts.webhook_timeout).map_err(|e| {
                    DaemonError::Thread(format!("starting the webhook thread: {e}"))
                })?;
                tracing::info!(webhook = %url, "alerts are also posted to the webhook");
                Some(w)
            }
            None => None,
        };
        let ship_stats = Arc::new(ShipStats::default());
        let spool = Arc::new(Spool::new(
            spool_dir.clone(),
            cfg.spool.max_bytes,
            ship_stats.clone(),
        ));
        let wake = wake_shipper.clone();
        let published = spool.clone();
        let mut sealer = Sealer::open(
            journal.clone(),
            normaliser,
            signing,
            SealerOptions {
                stream: stream.clone(),
                max_age: cfg.seal.max_age,
                max_bytes: cfg.seal.max_bytes,
                zstd_level: cfg.seal.zstd_level,
                spool_dir: spool_dir.clone(),
                early_seal_bytes: early_bytes,
                spool: Some(spool.clone()),
                key_path: Some(key_path.clone()),
                rotate_every: cfg.seal.rotate_key_every,
            },
            sealer_stats.clone(),
            Box::new(move |bytes| {
                published.added(bytes);
                wake.notify_one();
            }),
        )?;
        if let Ok(pending) = crate::ship::spool::list(&spool_dir) {
            spool.recount(&pending);
        }
        if sealer.is_new_chain() {
            refuse_foreign_chain(&archive, &stream).await?;
        }
        let snapshot_path = state_dir.join("detector.snapshot");
        let detector = if cfg.detect.enabled {
            // The detector takes the sealer's decoding instead of decoding every record
            // again (it still reads the journal wherever that does not reach).
            let (feed_tx, feed_rx) = crate::detect::feed::channel(cfg.detect.file_watch.enabled);
            sealer.feed_detector(feed_tx);
            Some(crate::detect::consumer::DetectorConsumer {
                journal: journal.clone(),
                normaliser: detector_normaliser,
                stream: stream.clone(),
                cfg: cfg.detect.clone(),
                snapshot_path,
                webhook,
                stats: Arc::new(crate::detect::consumer::DetectorStats::default()),
                early_snapshot_bytes: early_bytes,
                feed: Some(feed_rx),
            })
        } else {
            crate::detect::consumer::retire(&journal, &snapshot_path)?;
            None
        };
        let detector_stats = detector.as_ref().map(|d| d.stats.clone());
        let anchor = match &cfg.archive.anchor {
            Some(url) => {
                let a = crate::ship::anchor::AnchorPublisher::open(url, &cfg.archive)?;
                tracing::info!(anchor = %crate::ship::anchor::location_of(url, &stream), "the chain head is published after each shipped segment; give this location to `verify --anchor`");
                Some(a)
            }
            None => None,
        };
        let shipper = Shipper {
            archive,
            spool,
            quarantine_dir: state_dir.join("quarantine"),
            retry_max: cfg.archive.retry_max,
            in_flight: cfg.archive.uploads_in_flight,
            retention: cfg.archive.retention,
            anchor,
            stats: ship_stats.clone(),
        };

        // What is left of the descriptor limit after the daemon's own needs is shared by
        // every stream connection: no flood of connections can starve the sealer.
        let nofile = limits::raise_descriptor_limit();
        let budget = DescriptorBudget::for_limit(nofile, cfg.syslog.len());
        if cfg.syslog.iter().any(|l| l.transport.is_stream()) {
            tracing::info!(
                descriptor_limit = nofile,
                connection_budget = budget.total(),
                "stream connections share what the descriptor limit leaves after the daemon's own needs"
            );
        }
        let shared = Arc::new(Shared {
            budget,
            pool: ReadPool::new(limits::READ_SLOTS),
        });
        let stop_sources = CancellationToken::new();
        let checkpoint_dir = state_dir.join("checkpoints");
        let mut local_addrs = Vec::new();
        let mut sources = Vec::new();
        let mut tasks = Vec::new();
        for (i, src) in cfg.sources().into_iter().enumerate() {
            let name = src.name();
            let stats = Arc::new(SourceStats::default());
            let cx = SourceContext {
                name: name.clone(),
                index: u16::try_from(i).unwrap_or(u16::MAX),
                stream: stream.clone(),
                journal: journal.clone(),
                checkpoints: CheckpointStore::new(&checkpoint_dir, &name),
                stats: stats.clone(),
                shutdown: stop_sources.clone(),
                shared: shared.clone(),
            };
            let built = src.build(cx)?;
            match built.local_addr {
                Some(addr) => {
                    tracing::info!(source = %name, r#type = src.type_name(), address = %addr, "listening");
                    local_addrs.push((name.clone(), addr));
                }
                None => tracing::info!(source = %name, r#type = src.type_name(), "source started"),
            }
            sources.push(SourceHandle {
                name: name.clone(),
                kind: src.type_name(),
                stats,
            });
            tasks.push((name, built.task));
        }
        let forward_handles = forwarders
            .iter()
            .map(|f| crate::forward::ForwardHandle {
                name: f.cfg.name.clone(),
                kind: f.cfg.kind.as_str(),
                stats: f.stats.clone(),
            })
            .collect();
        let mut consumers: Vec<Box<dyn JournalConsumer>> = vec![Box::new(sealer)];
        if let Some(d) = detector {
            consumers.push(Box::new(d));
        }
        consumers.extend(
            forwarders
                .into_iter()
                .map(|f| Box::new(f) as Box<dyn JournalConsumer>),
        );
        Ok(Daemon {
            stream,
            journal,
            consumers,
            shipper,
            wake_shipper,
            tasks,
            stop_sources,
            stats: Stats {
                sources,
                sealer: sealer_stats,
                detector: detector_stats,
                shipper: ship_stats,
                forwarders: forward_handles,
            },
            local_addrs,
        })
    }

    /// Read access to the live counters and the journal, for the status endpoint.
    pub fn status_probe(&self) -> crate::status::Probe {
        crate::status::Probe::new(&self.stream, &self.stats, self.journal.clone())
    }

    /// Runs until `shutdown` is cancelled, then drains and seals.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), DaemonError> {
        let Daemon {
            stream,
            journal,
            consumers,
            shipper,
            wake_shipper,
            tasks,
            stop_sources,
            stats,
            local_addrs: _,
        } = self;

        let mut source_tasks = tokio::task::JoinSet::new();
        for (name, task) in tasks {
            source_tasks.spawn(async move { (name, task.await) });
        }
        let mut consumers = Runner::start(consumers)
            .map_err(|e| DaemonError::Thread(format!("a journal consumer: {e}")))?;

        let stop_shipper = CancellationToken::new();
        let shipper = Arc::new(shipper);
        let ship_task = {
            let shipper = shipper.clone();
            let wake = wake_shipper.clone();
            let tok = stop_shipper.clone();
            tokio::spawn(async move { shipper.run(wake, tok, Duration::from_secs(30)).await })
        };

        tracing::info!(%stream, "sealtrail is running");
        let consumer_died = tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = consumers.essential_ended() => true,
        };
        if consumer_died {
            tracing::error!("the sealer or the detector stopped unexpectedly; shutting down");
        } else {
            tracing::info!("shutting down: draining sources");
        }

        stop_sources.cancel();
        while let Some(res) = source_tasks.join_next().await {
            match res {
                Ok((name, Err(e))) => {
                    tracing::error!(listener = %name, error = %e, "source failed")
                }
                Ok((_, Ok(()))) => {}
                Err(e) => tracing::error!(error = %e, "source task panicked"),
            }
        }
        // Every source has handed over its last batch. Let the journal write them under
        // its usual limits first, while the sealer still runs and frees room: closing
        // flushes past the cap and the free-space reserve, and on a full disk that
        // would take the room the last segment needs (or fail).
        drain_journal(&journal).await;
        // The detector reads what the sources handed over and journals its last alerts
        // while the journal is still open; the sealer then seals those too.
        let mut failed = consumers.stop(Stage::Appends).await;
        drain_journal(&journal).await;
        if let Err(e) = journal.close() {
            tracing::error!(error = %e, "closing the journal failed");
        }
        // The sealer seals everything durable; forwarders deliver what the journal
        // holds (bounded), beside the last upload.
        failed.extend(consumers.stop(Stage::Reads).await);
        stop_shipper.cancel();
        wake_shipper.notify_one();
        if let Err(e) = ship_task.await {
            tracing::error!(error = %e, "shipper task failed");
        }
        log_totals(&stats);
        for (name, e) in &failed {
            tracing::error!(consumer = %name, error = %e, "stopped with an error");
        }
        match failed.into_iter().next() {
            Some((name, source)) => Err(DaemonError::Consumer { name, source }),
            None => Ok(()),
        }
    }
}

/// How long shutdown waits for queued journal batches to be written under the
/// journal's limits before closing it anyway.
const JOURNAL_DRAIN: Duration = Duration::from_secs(30);

/// Waits (bounded) until everything appended so far is durable.
async fn drain_journal(journal: &Journal) {
    let Ok(end) = journal.append(crate::journal::Batch::default()).await else {
        return;
    };
    if journal.durable_position() >= end {
        return;
    }
    match tokio::time::timeout(JOURNAL_DRAIN, journal.wait_durable(end)).await {
        Ok(_) => {}
        Err(_) => tracing::warn!(
            pending_bytes = end.saturating_sub(journal.durable_position()),
            "the journal could not write its last batches within {JOURNAL_DRAIN:?} (disk full?); closing it writes them past its limits"
        ),
    }
}

/// A new chain must not start where the archive already holds this stream: the puts
/// would collide (objects are never overwritten) and the spool would grow forever.
async fn refuse_foreign_chain(archive: &store::Archive, stream: &str) -> Result<(), DaemonError> {
    use futures::StreamExt;
    let prefix: object_store::path::Path = archive
        .prefix
        .parts()
        .chain(std::iter::once(object_store::path::PathPart::from(stream)))
        .collect();
    let mut listing = archive.store.list(Some(&prefix));
    match listing.next().await {
        None => Ok(()),
        Some(Ok(meta)) => Err(DaemonError::ForeignChain {
            stream: stream.to_string(),
            object: meta.location.to_string(),
        }),
        // An unreachable or refusing store must not keep the daemon from taking events:
        // if the stream does exist there, the puts conflict (never overwrite) and the
        // segments stay in the spool, loudly.
        Some(Err(source)) if archive.s3.is_some() => {
            tracing::warn!(archive = %archive.display, error = %source, "cannot check now whether the archive already holds stream `{stream}`; starting anyway (if it does, uploads will conflict and stay in the spool)");
            Ok(())
        }
        Some(Err(source)) => Err(DaemonError::Archive { source }),
    }
}

fn log_totals(stats: &Stats) {
    let received: u64 = stats
        .sources
        .iter()
        .map(|s| s.stats.received_events.load(Ordering::Relaxed))
        .sum();
    tracing::info!(
        received_events = received,
        sealed_events = stats.sealer.sealed_events.load(Ordering::Relaxed),
        sealed_segments = stats.sealer.sealed_segments.load(Ordering::Relaxed),
        alerts = stats
            .detector
            .as_ref()
            .map_or(0, |d| d.alerts.load(Ordering::Relaxed)),
        shipped_segments = stats.shipper.shipped_segments.load(Ordering::Relaxed),
        spool_segments = stats.shipper.spool_segments.load(Ordering::Relaxed),
        "stopped"
    );
}
