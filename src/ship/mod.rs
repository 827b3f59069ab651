//! The shipper: moves sealed segments from the local spool to the archive.
//!
//! Segments are put in sequence order, a few in flight at once, each create-only (never
//! overwriting) and, on S3, with its checksum and Object Lock retention under the
//! signature. A segment leaves the spool only after the store confirmed it. An
//! unreachable or refusing store makes the spool grow (logged by error class, counted)
//! and is retried for ever with exponential backoff and jitter; nothing is dropped. A
//! put whose reply was lost is recognised on the next attempt: the key holds the same
//! bytes.

pub mod anchor;
pub mod spool;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::BackoffBuilder as _;
use futures::StreamExt as _;
use object_store::path::Path as ObjectPath;
use object_store::{PutMode, PutOptions, PutPayload};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use spool::Spool;

use crate::config::RetentionSection;
use crate::segment;
use crate::store::{Archive, ErrorClass, Lock, PutOutcome};

#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error("spool {path}: {source}")]
    Spool {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("archive {key}: {message}")]
    Store {
        key: String,
        class: ErrorClass,
        message: String,
    },
    #[error(
        "archive already holds a different object at {key}; the local copy is kept in the spool"
    )]
    Conflict { key: String },
}

impl ShipError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ShipError::Spool { .. } => ErrorClass::Local,
            ShipError::Store { class, .. } => *class,
            ShipError::Conflict { .. } => ErrorClass::Conflict,
        }
    }
}

#[derive(Debug, Default)]
pub struct ShipStats {
    pub shipped_segments: AtomicU64,
    pub shipped_bytes: AtomicU64,
    /// Sequence number of the newest shipped segment plus one (0: none yet).
    pub next_seq: AtomicU64,
    pub spool_segments: AtomicU64,
    pub spool_bytes: AtomicU64,
    /// True while the sealer waits for room in the spool.
    pub spool_full: AtomicBool,
    /// When the oldest segment still in the spool was sealed (unix ns; 0: empty).
    pub oldest_unshipped_ns: AtomicI64,
    pub errors: AtomicU64,
    /// Failed attempts by [`ErrorClass`] (index: `ErrorClass::index`).
    pub errors_by_class: [AtomicU64; ErrorClass::ALL.len()],
    last_error: Mutex<Option<String>>,
    /// Version id the store gave the newest shipped segment.
    last_version_id: Mutex<Option<String>>,
    /// What the start-up check of the store found wrong (no Object Lock on the bucket,
    /// credentials refused, no such bucket).
    warnings: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ShipStats {
    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }
    pub fn last_version_id(&self) -> Option<String> {
        lock(&self.last_version_id).clone()
    }
    pub fn warnings(&self) -> Vec<String> {
        lock(&self.warnings).clone()
    }
    fn warn(&self, message: String) {
        tracing::warn!("{message}");
        lock(&self.warnings).push(message);
    }
    fn note_error(&self, e: &ShipError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.errors_by_class[e.class().index()].fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_error) = Some(e.to_string());
    }
}

pub struct Shipper {
    pub archive: Archive,
    pub spool: Arc<Spool>,
    pub quarantine_dir: PathBuf,
    pub retry_max: Duration,
    /// Puts in flight at once (started in sequence order).
    pub in_flight: usize,
    /// Object Lock set on each put; `None`: the bucket's default applies.
    pub retention: Option<RetentionSection>,
    /// Where the chain head goes after segments are shipped.
    pub anchor: Option<anchor::AnchorPublisher>,
    pub stats: Arc<ShipStats>,
}

/// Within a long pass over a backlog, the head is published at most this often.
const ANCHOR_EVERY: Duration = Duration::from_secs(1);

impl Shipper {
    /// Ships until `shutdown`, then makes one last pass bounded by `final_pass`.
    pub async fn run(&self, wake: Arc<Notify>, shutdown: CancellationToken, final_pass: Duration) {
        self.check_store().await;
        let retries = || {
            backon::ExponentialBuilder::new()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(self.retry_max.max(Duration::from_millis(200)))
                .with_jitter()
                .without_max_times()
                .build()
        };
        let mut backoff = retries();
        loop {
            match self.ship_pending(&shutdown).await {
                Ok(()) => {
                    backoff = retries();
                    lock(&self.stats.last_error).take();
                }
                Err(e) => {
                    self.stats.note_error(&e);
                    let delay = backoff.next().unwrap_or(self.retry_max);
                    tracing::warn!(error = %e, class = e.class().as_str(), spool_segments = self.stats.spool_segments.load(Ordering::Relaxed), "shipping failed; segments stay in the spool, retrying in {:?}", delay);
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.cancelled() => {}
                    }
                    if !shutdown.is_cancelled() {
                        continue;
                    }
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

    /// Warns (log and `status`) about a store that will refuse or not lock segments.
    async fn check_store(&self) {
        let Some(s3) = &self.archive.s3 else { return };
        match s3.bucket_lock().await {
            Ok(l) if !l.enabled && self.retention.is_some() => self.stats.warn(format!(
                "archive.retention is set but the bucket {} has no Object Lock: its puts will be refused; create the bucket with Object Lock enabled",
                self.archive.display
            )),
            Ok(l) if !l.enabled => self.stats.warn(format!(
                "the bucket {} has no Object Lock: archived segments can be deleted or overwritten by whoever holds write access",
                self.archive.display
            )),
            Ok(l) => {
                tracing::info!(archive = %self.archive.display, default_retention = l.default_retention.as_deref().unwrap_or("none"), per_object = ?self.retention.map(|r| format!("{} {} days", r.mode.as_s3(), r.days)), "the bucket has Object Lock")
            }
            Err(e) => match e.class() {
                ErrorClass::Auth => self.stats.warn(format!(
                    "the credentials were refused reading the bucket {}: {e}; uploads will likely fail until they are fixed",
                    self.archive.display
                )),
                ErrorClass::NotFound => self.stats.warn(format!(
                    "the bucket of {} does not exist: {e}; segments wait in the spool until it does",
                    self.archive.display
                )),
                _ => tracing::warn!(error = %e, "cannot read the bucket's Object Lock configuration now; shipping will retry"),
            },
        }
    }

    /// Ships every spooled segment in sequence order, up to `in_flight` at once; stops
    /// at the first failure (the rest are retried with it, in order).
    pub async fn ship_pending(&self, shutdown: &CancellationToken) -> Result<(), ShipError> {
        let pending = spool::list(&self.spool.dir)?;
        self.spool.recount(&pending);
        self.note_oldest(&pending);
        let mut puts =
            futures::stream::iter(pending.iter().cloned().enumerate())
                .take_while(|_| std::future::ready(!shutdown.is_cancelled()))
                .map(|(i, (seq, path))| async move {
                    self.ship_one(seq, &path).await.map(|s| (i, seq, s))
                })
                .buffered(self.in_flight.max(1));
        let mut head: Option<segment::Seal> = None;
        let mut last_anchor = std::time::Instant::now();
        let mut result = Ok(());
        while let Some(done) = puts.next().await {
            let (i, seq, seal) = match done {
                Ok(d) => d,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            self.stats.next_seq.fetch_max(seq + 1, Ordering::Relaxed);
            self.note_oldest(&pending[i + 1..]);
            if seal.is_some() {
                head = seal;
            }
            if last_anchor.elapsed() >= ANCHOR_EVERY {
                if let (Some(a), Some(h)) = (&self.anchor, head.take()) {
                    a.publish(&h).await;
                    last_anchor = std::time::Instant::now();
                }
            }
        }
        drop(puts);
        // What was shipped before a failure is archived: its head is worth publishing.
        if let (Some(a), Some(h)) = (&self.anchor, head) {
            a.publish(&h).await;
        }
        // The spool's figures follow each removal; segments sealed meanwhile wake the
        // next pass, which lists them.
        result
    }

    fn note_oldest(&self, pending: &[(u64, PathBuf)]) {
        let ns = pending
            .first()
            .and_then(|(_, p)| std::fs::metadata(p).ok())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        self.stats.oldest_unshipped_ns.store(ns, Ordering::Relaxed);
    }

    fn key_for(&self, seal: &segment::Seal) -> ObjectPath {
        let rel = segment::object_key(&seal.stream, seal.seq, seal.period_end_ns);
        self.archive
            .prefix
            .parts()
            .chain(ObjectPath::from(rel.as_str()).parts())
            .collect()
    }

    /// Ships one spooled segment; its seal once archived (`None`: quarantined).
    async fn ship_one(&self, seq: u64, path: &Path) -> Result<Option<segment::Seal>, ShipError> {
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
                return Ok(None);
            }
        };
        let key = self.key_for(&seal);
        self.remove_staged(&key);
        let version_id = match self.put(&key, bytes.clone()).await? {
            PutOutcome::Created { version_id } => version_id,
            PutOutcome::Exists => {
                self.same_bytes_archived(&key, &bytes).await?;
                tracing::info!(%key, "segment was already archived (a put whose reply was lost, or before a restart)");
                None
            }
        };
        std::fs::remove_file(path).map_err(spool_err)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(spool_err)?;
        }
        self.spool.removed(bytes.len() as u64);
        self.stats.shipped_segments.fetch_add(1, Ordering::Relaxed);
        self.stats
            .shipped_bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if version_id.is_some() {
            *lock(&self.stats.last_version_id) = version_id.clone();
        }
        tracing::debug!(seq, %key, version_id = version_id.as_deref().unwrap_or("-"), "shipped segment");
        Ok(Some(seal))
    }

    /// A directory archive's put writes the object as `<file>#<n>` (`n` the first free
    /// number from 1) and links it into place; a `kill -9` in between leaves that file,
    /// which nothing else would remove (`verify` skips it). It can only be left by an
    /// earlier put of this same segment, which is still in the spool, so it goes before
    /// the segment is put again. No other put of this key is in flight.
    fn remove_staged(&self, key: &ObjectPath) {
        let Some(dir) = &self.archive.local_dir else {
            return;
        };
        let dest = key
            .parts()
            .fold(dir.clone(), |p, part| p.join(part.as_ref()));
        for n in 1u32.. {
            let mut staged = dest.clone().into_os_string();
            staged.push(format!("#{n}"));
            let staged = PathBuf::from(staged);
            match std::fs::remove_file(&staged) {
                Ok(()) => {
                    tracing::info!(file = %staged.display(), "removed a staged upload left by an interrupted put")
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => {
                    tracing::warn!(file = %staged.display(), error = %e, "cannot remove a staged upload left by an interrupted put");
                    break;
                }
            }
        }
    }

    /// One create-only put: signed with its lock on S3, `PutMode::Create` elsewhere.
    async fn put(&self, key: &ObjectPath, bytes: bytes::Bytes) -> Result<PutOutcome, ShipError> {
        if let Some(s3) = &self.archive.s3 {
            let lock = self.retention.map(|r| Lock {
                mode: r.mode,
                until: chrono::Utc::now() + chrono::Duration::days(i64::from(r.days)),
            });
            return s3
                .put_new(key, bytes, lock)
                .await
                .map_err(|e| ShipError::Store {
                    key: key.to_string(),
                    class: e.class(),
                    message: e.to_string(),
                });
        }
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .archive
            .store
            .put_opts(key, PutPayload::from(bytes), opts)
            .await
        {
            Ok(r) => Ok(PutOutcome::Created {
                version_id: r.version,
            }),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(PutOutcome::Exists),
            Err(e) => Err(self.store_error(key, e)),
        }
    }

    async fn same_bytes_archived(&self, key: &ObjectPath, bytes: &[u8]) -> Result<(), ShipError> {
        let existing = self
            .archive
            .store
            .get(key)
            .await
            .map_err(|e| self.store_error(key, e))?
            .bytes()
            .await
            .map_err(|e| self.store_error(key, e))?;
        if existing != bytes {
            return Err(ShipError::Conflict {
                key: key.to_string(),
            });
        }
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

impl Shipper {
    fn store_error(&self, key: &ObjectPath, e: object_store::Error) -> ShipError {
        let class = match &e {
            object_store::Error::NotFound { .. } => ErrorClass::NotFound,
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => ErrorClass::Auth,
            _ if self.archive.s3.is_none() => ErrorClass::Local,
            _ => ErrorClass::Network,
        };
        ShipError::Store {
            key: key.to_string(),
            class,
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A put interrupted by a `kill -9` left `<file>#1` and `#2` in a directory archive;
    /// shipping the segment again removes both and archives the segment itself.
    #[tokio::test]
    async fn a_staged_upload_left_behind_goes_when_its_segment_is_shipped() {
        let t = tempfile::tempdir().unwrap();
        let (spool_dir, archive_dir) = (t.path().join("spool"), t.path().join("archive"));
        std::fs::create_dir_all(&spool_dir).unwrap();
        let s = crate::segment::tests_support::build(3, &[b"{\"x\":1}".to_vec()]);
        std::fs::write(spool_dir.join("000000000003.seg.zst"), &s.bytes).unwrap();
        let section = crate::config::ArchiveSection {
            url: archive_dir.to_str().unwrap().to_owned(),
            ..Default::default()
        };
        let archive = crate::store::open(&section, true).unwrap();
        let dest = archive_dir.join(segment::object_key(
            &s.seal.stream,
            s.seal.seq,
            s.seal.period_end_ns,
        ));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let staged = |n: u32| PathBuf::from(format!("{}#{n}", dest.display()));
        std::fs::write(staged(1), &s.bytes[..10]).unwrap();
        std::fs::write(staged(2), b"").unwrap();
        let stats = Arc::new(ShipStats::default());
        let shipper = Shipper {
            archive,
            spool: Arc::new(Spool::new(spool_dir.clone(), 1 << 30, stats.clone())),
            quarantine_dir: t.path().join("quarantine"),
            retry_max: Duration::from_secs(1),
            in_flight: 2,
            retention: None,
            anchor: None,
            stats,
        };
        shipper
            .ship_pending(&CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), s.bytes);
        assert!(!staged(1).exists() && !staged(2).exists());
        assert!(spool::list(&spool_dir).unwrap().is_empty());
        let names: Vec<_> = std::fs::read_dir(dest.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
