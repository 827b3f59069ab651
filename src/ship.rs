//! The shipper: moves sealed segments from the local spool to the archive.
//!
//! A segment leaves the spool only after the store confirmed a create-only put. An
//! unreachable store makes the spool grow (logged, counted) and nothing is dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::segment;

#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error("spool {path}: {source}")]
    Spool {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("archive {key}: {source}")]
    Store {
        key: String,
        source: object_store::Error,
    },
    #[error(
        "archive already holds a different object at {key}; the local copy is kept in the spool"
    )]
    Conflict { key: String },
}

#[derive(Debug, Default)]
pub struct ShipStats {
    pub shipped_segments: AtomicU64,
    pub shipped_bytes: AtomicU64,
    /// Sequence number of the newest shipped segment plus one (0: none yet).
    pub next_seq: AtomicU64,
    pub spool_segments: AtomicU64,
    pub spool_bytes: AtomicU64,
    pub errors: AtomicU64,
}

pub struct Shipper {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: ObjectPath,
    pub spool_dir: PathBuf,
    pub quarantine_dir: PathBuf,
    pub retry_max: Duration,
    pub stats: Arc<ShipStats>,
}

/// Spooled segments, oldest first by sequence number.
fn list_spool(dir: &Path) -> Result<Vec<(u64, PathBuf)>, ShipError> {
    let err = |source| ShipError::Spool {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let name = entry.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".seg.zst"))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((seq, entry.path()));
    }
    out.sort_unstable();
    Ok(out)
}

impl Shipper {
    /// Ships until `shutdown`, then makes one last pass bounded by `final_pass`.
    pub async fn run(&self, wake: Arc<Notify>, shutdown: CancellationToken, final_pass: Duration) {
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.ship_pending(&shutdown).await {
                Ok(()) => backoff = Duration::from_millis(200),
                Err(e) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, spool_segments = self.stats.spool_segments.load(Ordering::Relaxed), "shipping failed; segments stay in the spool, retrying in {:?}", backoff);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.cancelled() => {}
                    }
                    backoff = (backoff * 2).min(self.retry_max);
                    continue;
                }
            }
            if shutdown.is_cancelled() {
                break;
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = shutdown.cancelled() => {}
            }
        }
        let never = CancellationToken::new();
        match tokio::time::timeout(final_pass, self.ship_pending(&never)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "final shipping pass failed; segments stay in the spool for the next start")
            }
            Err(_) => tracing::warn!(
                "final shipping pass timed out; segments stay in the spool for the next start"
            ),
        }
    }

    /// Ships every spooled segment in sequence order; stops at the first failure so the
    /// archive never gets segment n+1 before n.
    pub async fn ship_pending(&self, shutdown: &CancellationToken) -> Result<(), ShipError> {
        let pending = list_spool(&self.spool_dir)?;
        self.update_spool_gauges(&pending);
        for (seq, path) in pending {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            self.ship_one(seq, &path).await?;
            self.stats.next_seq.store(seq + 1, Ordering::Relaxed);
        }
        self.update_spool_gauges(&list_spool(&self.spool_dir)?);
        Ok(())
    }

    fn update_spool_gauges(&self, pending: &[(u64, PathBuf)]) {
        let bytes: u64 = pending
            .iter()
            .filter_map(|(_, p)| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        self.stats
            .spool_segments
            .store(pending.len() as u64, Ordering::Relaxed);
        self.stats.spool_bytes.store(bytes, Ordering::Relaxed);
    }

    async fn ship_one(&self, seq: u64, path: &Path) -> Result<(), ShipError> {
        let spool_err = |source| ShipError::Spool {
            path: path.to_path_buf(),
            source,
        };
        let bytes = bytes::Bytes::from(tokio::fs::read(path).await.map_err(spool_err)?);
        let seal = match segment::parse(&bytes) {
            Ok(view) => view.seal,
            Err(e) => {
                // Never delete it: move it aside, loudly, and keep shipping the rest.
                tracing::error!(file = %path.display(), error = %e, "spooled segment is unreadable; moved to quarantine");
                self.quarantine(path)?;
                return Ok(());
            }
        };
        let rel = segment::object_key(&seal.stream, seal.seq, seal.period_end_ns);
        let key: ObjectPath = self
            .prefix
            .parts()
            .chain(ObjectPath::from(rel.as_str()).parts())
            .collect();
        let store_err = |source| ShipError::Store {
            key: key.to_string(),
            source,
        };
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&key, PutPayload::from(bytes.clone()), opts)
            .await
        {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                // A crash between the put and the spool delete: same bytes → done.
                let existing = self
                    .store
                    .get(&key)
                    .await
                    .map_err(store_err)?
                    .bytes()
                    .await
                    .map_err(store_err)?;
                if existing != bytes {
                    return Err(ShipError::Conflict {
                        key: key.to_string(),
                    });
                }
                tracing::info!(%key, "segment was already archived (before a restart)");
            }
            Err(source) => return Err(store_err(source)),
        }
        std::fs::remove_file(path).map_err(spool_err)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(spool_err)?;
        }
        self.stats.shipped_segments.fetch_add(1, Ordering::Relaxed);
        self.stats
            .shipped_bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.stats.spool_segments.fetch_sub(1, Ordering::Relaxed);
        tracing::debug!(seq, %key, "shipped segment");
        Ok(())
    }

    fn quarantine(&self, path: &Path) -> Result<(), ShipError> {
        let err = |source| ShipError::Spool {
            path: path.to_path_buf(),
            source,
        };
        crate::state_dir::create_private(&self.quarantine_dir).map_err(err)?;
        let name = path.file_name().unwrap_or_default();
        std::fs::rename(path, self.quarantine_dir.join(name)).map_err(err)
    }
}
