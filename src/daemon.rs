//! Wires sources, journal, sealer and shipper together, and shuts them down in the
//! order that loses nothing: sources drain into the journal, the journal is flushed and
//! closed, the sealer seals everything durable, the shipper archives what it can.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Transport};
use crate::journal::{Journal, JournalError, JournalOptions};
use crate::keys::{self, KeyError};
use crate::normalise::Normaliser;
use crate::seal::{SealError, Sealer, SealerOptions, SealerStats};
use crate::ship::{ShipStats, Shipper};
use crate::source::limits::{self, DescriptorBudget, Gate, ReadPool};
use crate::source::syslog::{self as syslog_source, ListenerSpec, SourceStats, StreamContext};
use crate::store::{self, StoreError};
use crate::webhook::Webhook;

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
    #[error("cannot listen on {transport} {address}: {source}")]
    Bind {
        transport: Transport,
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("sealer thread: {0}")]
    Thread(String),
}

impl DaemonError {
    /// Whether the operator has to change something (configuration, key, state
    /// directory) before a restart can succeed: the CLI exits 78 (`EX_CONFIG`) then, so
    /// systemd's `RestartPreventExitStatus=78` stops a pointless restart loop.
    pub fn is_configuration(&self) -> bool {
        match self {
            DaemonError::StateDir(e) => !matches!(e, crate::state_dir::StateDirError::Io { .. }),
            DaemonError::Key(e) => e.is_configuration(),
            DaemonError::ForeignChain { .. } => true,
            DaemonError::Seal(SealError::StreamMismatch { .. }) => true,
            DaemonError::Journal(
                JournalError::InvalidOptions(_) | JournalError::OldFormat { .. },
            ) => true,
            _ => false,
        }
    }
}

/// A listener bound and ready to run.
enum Bound {
    Udp(tokio::net::UdpSocket, ListenerSpec),
    Tcp(tokio::net::TcpListener, ListenerSpec, Gate),
}

/// Shared live figures, for logs now and the status endpoint later.
#[derive(Default)]
pub struct Stats {
    pub sources: Vec<(String, Arc<SourceStats>)>,
    pub sealer: Arc<SealerStats>,
    pub shipper: Arc<ShipStats>,
}

/// A daemon whose sockets are bound and whose state is open, not yet running
/// (mini-redis style: tests can bind port 0 and read [`Daemon::local_addrs`]).
pub struct Daemon {
    stream: String,
    journal: Journal,
    sealer: Sealer,
    shipper: Shipper,
    wake_shipper: Arc<Notify>,
    bound: Vec<Bound>,
    read_pool: Arc<ReadPool>,
    pub stats: Stats,
    /// Where each listener ended up (port 0 resolves here).
    pub local_addrs: Vec<(Transport, SocketAddr)>,
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
        if let Some(c) = &chain {
            if c.key_id.is_none() {
                tracing::warn!(%key_id, next_seq = c.next_seq, "the checkpoint (written by an older version) does not record its key: assuming this key signs the chain; from the next segment on it is recorded");
            }
        }

        let archive = store::open(&cfg.archive.url, true)?;
        tracing::info!(archive = %archive.display, public_key = %pub_path.display(), %key_id, %stream, "sealed segments go to the archive; verify them with the public key");

        let listeners = cfg
            .syslog
            .iter()
            .map(|l| (l.display_name(), l.timezone))
            .collect();
        let normaliser = Normaliser::new(&stream, listeners);
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
        let wake = wake_shipper.clone();
        let sealer = Sealer::open(
            journal.clone(),
            normaliser,
            signing,
            SealerOptions {
                stream: stream.clone(),
                max_age: cfg.seal.max_age,
                max_bytes: cfg.seal.max_bytes,
                zstd_level: cfg.seal.zstd_level,
                spool_dir: spool_dir.clone(),
                detect: Some(cfg.detect.clone()),
                webhook,
                detector_snapshot: state_dir.join("detector.snapshot"),
                early_seal_bytes: cfg.journal.file_bytes.min(cfg.journal.max_bytes / 4),
            },
            sealer_stats.clone(),
            Box::new(move || wake.notify_one()),
        )?;
        if sealer.is_new_chain() {
            refuse_foreign_chain(&archive, &stream).await?;
        }
        let ship_stats = Arc::new(ShipStats::default());
        let shipper = Shipper {
            store: archive.store,
            prefix: archive.prefix,
            spool_dir,
            quarantine_dir: state_dir.join("quarantine"),
            retry_max: cfg.archive.retry_max,
            stats: ship_stats.clone(),
        };

        // What is left of the descriptor limit after the daemon's own needs is shared by
        // every stream connection: no flood of connections can starve the sealer.
        let nofile = limits::raise_descriptor_limit();
        let budget = DescriptorBudget::for_limit(nofile, cfg.syslog.len());
        if cfg.syslog.iter().any(|l| l.transport == Transport::Tcp) {
            tracing::info!(
                descriptor_limit = nofile,
                connection_budget = budget.total(),
                "stream connections share what the descriptor limit leaves after the daemon's own needs"
            );
        }
        let mut bound = Vec::new();
        let mut local_addrs = Vec::new();
        let mut sources = Vec::new();
        for (i, l) in cfg.syslog.iter().enumerate() {
            let spec = ListenerSpec {
                index: u16::try_from(i).unwrap_or(u16::MAX),
                name: l.display_name(),
                transport: match l.transport {
                    Transport::Udp => syslog_source::Transport::Udp,
                    Transport::Tcp => syslog_source::Transport::Tcp,
                },
                max_message_bytes: l.max_message_bytes,
            };
            let bind_err = |source| DaemonError::Bind {
                transport: l.transport,
                address: l.address,
                source,
            };
            let (b, addr) = match l.transport {
                Transport::Udp => {
                    let s = tokio::net::UdpSocket::bind(l.address)
                        .await
                        .map_err(bind_err)?;
                    let a = s.local_addr().map_err(bind_err)?;
                    (Bound::Udp(s, spec), a)
                }
                Transport::Tcp => {
                    let s = syslog_source::tcp::bind(l.address).map_err(bind_err)?;
                    let a = s.local_addr().map_err(bind_err)?;
                    (
                        Bound::Tcp(s, spec, Gate::new(l.limits(), budget.clone())),
                        a,
                    )
                }
            };
            tracing::info!(listener = %l.display_name(), transport = %l.transport, address = %addr, "listening");
            local_addrs.push((l.transport, addr));
            sources.push((l.display_name(), Arc::new(SourceStats::default())));
            bound.push(b);
        }
        Ok(Daemon {
            stream,
            journal,
            sealer,
            shipper,
            wake_shipper,
            bound,
            read_pool: ReadPool::new(limits::READ_SLOTS),
            stats: Stats {
                sources,
                sealer: sealer_stats,
                shipper: ship_stats,
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
            sealer,
            shipper,
            wake_shipper,
            bound,
            read_pool,
            stats,
            local_addrs,
        } = self;
        let local_addrs_udp: Vec<Option<u16>> = local_addrs
            .iter()
            .map(|(t, a)| (*t == Transport::Udp).then_some(a.port()))
            .collect();

        // Sources get their own token: they stop first, before anything downstream.
        let stop_sources = CancellationToken::new();
        let mut source_tasks = tokio::task::JoinSet::new();
        for (b, (_, st)) in bound.into_iter().zip(&stats.sources) {
            let j = journal.clone();
            let st = st.clone();
            let tok = stop_sources.clone();
            match b {
                Bound::Udp(s, spec) => {
                    source_tasks.spawn(async move {
                        let name = spec.name.clone();
                        (name, syslog_source::run_udp(s, spec, j, st, tok).await)
                    });
                }
                Bound::Tcp(s, spec, gate) => {
                    let cx = StreamContext {
                        gate,
                        pool: read_pool.clone(),
                    };
                    source_tasks.spawn(async move {
                        let name = spec.name.clone();
                        (name, syslog_source::run_tcp(s, spec, j, st, cx, tok).await)
                    });
                }
            }
        }

        // UDP cannot be slowed down: watch what the kernel drops and say so.
        let udp_ports: Vec<(String, u16, Arc<SourceStats>)> = local_addrs_udp
            .iter()
            .zip(&stats.sources)
            .filter_map(|(port, (name, st))| port.map(|p| (name.clone(), p, st.clone())))
            .collect();
        if !udp_ports.is_empty() {
            let tok = stop_sources.clone();
            tokio::spawn(watch_udp_drops(udp_ports, tok));
        }

        let stop_sealer = Arc::new(AtomicBool::new(false));
        let stop_flag = stop_sealer.clone();
        let (sealer_done_tx, mut sealer_done) = tokio::sync::oneshot::channel::<()>();
        let sealer_thread = std::thread::Builder::new()
            .name("sealer".into())
            .spawn(move || {
                let r = sealer.run(&stop_flag);
                let _ = sealer_done_tx.send(());
                r
            })
            .map_err(|e| DaemonError::Thread(e.to_string()))?;

        let stop_shipper = CancellationToken::new();
        let shipper = Arc::new(shipper);
        let ship_task = {
            let shipper = shipper.clone();
            let wake = wake_shipper.clone();
            let tok = stop_shipper.clone();
            tokio::spawn(async move { shipper.run(wake, tok, Duration::from_secs(30)).await })
        };

        tracing::info!(%stream, "sealtrail is running");
        let sealer_died = tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = &mut sealer_done => true,
        };
        if sealer_died {
            tracing::error!("the sealer stopped unexpectedly; shutting down");
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
        // Every source has handed over its last batch: flush them to disk.
        if let Err(e) = journal.close() {
            tracing::error!(error = %e, "closing the journal failed");
        }
        stop_sealer.store(true, Ordering::Release);
        let seal_result = tokio::task::spawn_blocking(move || sealer_thread.join())
            .await
            .map_err(|e| DaemonError::Thread(e.to_string()))?
            .map_err(|_| DaemonError::Thread("sealer panicked".into()))?;

        stop_shipper.cancel();
        wake_shipper.notify_one();
        if let Err(e) = ship_task.await {
            tracing::error!(error = %e, "shipper task failed");
        }
        log_totals(&stats);
        seal_result?;
        Ok(())
    }
}

/// Copies the kernel's drop counters of the UDP listeners into their stats every few
/// seconds, and warns when they grow.
async fn watch_udp_drops(ports: Vec<(String, u16, Arc<SourceStats>)>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        for (name, port, st) in &ports {
            let Some(now) = syslog_source::udp_kernel_drops(*port) else {
                continue;
            };
            let before = st.kernel_drops.swap(now, Ordering::Relaxed);
            if now > before {
                tracing::warn!(listener = %name, dropped = now - before, total = now, "the kernel dropped UDP datagrams: the receive buffer overflowed (use TCP for lossless delivery)");
            }
        }
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
        Some(Err(source)) => Err(DaemonError::Archive { source }),
    }
}

fn log_totals(stats: &Stats) {
    let received: u64 = stats
        .sources
        .iter()
        .map(|(_, s)| s.received_events.load(Ordering::Relaxed))
        .sum();
    tracing::info!(
        received_events = received,
        sealed_events = stats.sealer.sealed_events.load(Ordering::Relaxed),
        sealed_segments = stats.sealer.sealed_segments.load(Ordering::Relaxed),
        alerts = stats.sealer.alerts.load(Ordering::Relaxed),
        shipped_segments = stats.shipper.shipped_segments.load(Ordering::Relaxed),
        spool_segments = stats.shipper.spool_segments.load(Ordering::Relaxed),
        "stopped"
    );
}
