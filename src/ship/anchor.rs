//! Publishes the chain head (see [`crate::segment::anchor`]) after segments are
//! shipped: to a file, to an HTTP endpoint (PUT), or to an S3 bucket or prefix. A
//! failure is logged and counted and never holds up shipping: the next shipped segment
//! publishes a newer head.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use object_store::path::Path as ObjectPath;

use crate::config::ArchiveSection;
use crate::segment::{anchor, Seal};
use crate::store::{self, S3Client, StoreError};

/// Longest an HTTP publish may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
enum Target {
    File(PathBuf),
    /// The URL, and the agent that PUTs to it (kept: its connection is reused).
    Http(String, ureq::Agent),
    /// The bucket's client and the prefix the `<stream>.anchor.json` object goes under.
    S3(Box<S3Client>, ObjectPath),
}

#[derive(Debug)]
pub struct AnchorPublisher {
    target: Target,
    display: String,
    pub published: AtomicU64,
    pub errors: AtomicU64,
}

/// Where the anchor of `stream` goes for a configured `archive.anchor` location, as
/// `verify --anchor` should be given it.
pub fn location_of(url: &str, stream: &str) -> String {
    if url.starts_with("s3://") {
        format!("{}/{stream}.anchor.json", url.trim_end_matches('/'))
    } else {
        url.to_string()
    }
}

impl AnchorPublisher {
    /// `url`: a file path (or `file:///abs`), `http(s)://...`, or `s3://bucket/prefix`
    /// (reached with the archive's S3 options and credentials).
    pub fn open(url: &str, archive: &ArchiveSection) -> Result<AnchorPublisher, StoreError> {
        let target = if url.starts_with("http://") || url.starts_with("https://") {
            let agent = ureq::Agent::config_builder()
                .timeout_global(Some(HTTP_TIMEOUT))
                .build()
                .into();
            Target::Http(url.to_string(), agent)
        } else if url.starts_with("s3://") {
            let opts = ArchiveSection {
                url: url.to_string(),
                ..archive.clone()
            };
            let opened = store::open(&opts, false)?;
            let Some(client) = opened.s3 else {
                return Err(StoreError::Unsupported(url.to_string()));
            };
            Target::S3(Box::new(client), opened.prefix)
        } else {
            match store::parse_location(url)? {
                store::Location::Dir(p) => Target::File(p),
                store::Location::S3 { .. } => return Err(StoreError::Unsupported(url.to_string())),
            }
        };
        Ok(AnchorPublisher {
            target,
            display: url.to_string(),
            published: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        })
    }

    /// Publishes `seal` as the head; errors are logged and counted.
    pub async fn publish(&self, seal: &Seal) {
        let doc = anchor::to_json(seal);
        match self.write(&seal.stream, doc).await {
            Ok(()) => {
                self.published.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(anchor = %self.display, seq = seal.seq, "published the chain head");
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(anchor = %self.display, seq = seal.seq, error = %e, "publishing the chain head failed; the next shipped segment tries again");
            }
        }
    }

    async fn write(&self, stream: &str, doc: String) -> Result<(), String> {
        match &self.target {
            Target::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || write_file(&path, doc.as_bytes()))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
            Target::Http(url, agent) => {
                let (url, agent) = (url.clone(), agent.clone());
                tokio::task::spawn_blocking(move || {
                    agent
                        .put(&url)
                        .header("content-type", "application/json")
                        .send(doc.as_bytes())
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
                .await
                .map_err(|e| e.to_string())?
            }
            Target::S3(client, prefix) => {
                let name = format!("{stream}.anchor.json");
                let key: ObjectPath = prefix
                    .parts()
                    .chain(std::iter::once(object_store::path::PathPart::from(
                        name.as_str(),
                    )))
                    .collect();
                client
                    .put_replace(&key, bytes::Bytes::from(doc))
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// Replaces the file atomically: a reader sees the old head or the new one, whole.
fn write_file(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            location_of("s3://heads/team/", "h1"),
            "s3://heads/team/h1.anchor.json"
        );
        assert_eq!(
            location_of("/var/lib/x/head.json", "h1"),
            "/var/lib/x/head.json"
        );
        let p = AnchorPublisher::open("https://audit.example/heads/h1", &ArchiveSection::default())
            .unwrap();
        assert!(matches!(p.target, Target::Http(..)));
        assert!(AnchorPublisher::open("gopher://x", &ArchiveSection::default()).is_err());
    }

    #[test]
    fn file_is_replaced_whole() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/head.json");
        write_file(&p, b"one\n").unwrap();
        write_file(&p, b"two\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two\n");
        assert!(!p.with_extension("tmp").exists());
    }
}
