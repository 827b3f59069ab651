//! Opens the archive's object store from a location string.
//!
//! Listing and reading go through `dyn ObjectStore` for every kind of archive. An S3
//! archive also has an [`S3Client`] for what `object_store` cannot do: create-only puts
//! with Object Lock headers under the signature, and HEADs that read lock state back.

mod profile;
pub mod s3;
pub mod signed;

use std::path::PathBuf;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;

pub use signed::{ErrorClass, Lock, ObjectHead, PutOutcome, S3Client, S3Error};

use crate::config::ArchiveSection;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported archive location `{0}`: use a directory path, file:///absolute/path or s3://bucket/prefix")]
    Unsupported(String),
    #[error("archive location `{0}`: {1}")]
    BadS3Url(String, String),
    #[error("S3 credentials: {0}")]
    Credentials(String),
    #[error("file:// URL must be absolute: `{0}`")]
    RelativeFileUrl(String),
    #[error("cannot create archive directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open archive {location}: {source}")]
    Open {
        location: String,
        source: object_store::Error,
    },
}

/// Where an archive lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    S3 { bucket: String, prefix: String },
}

/// Parses `dir`, `./dir`, `/abs/dir` or `file:///abs/dir`.
pub fn parse_location(s: &str) -> Result<Location, StoreError> {
    if let Some(rest) = s.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err(StoreError::RelativeFileUrl(s.to_string()));
        }
        return Ok(Location::Dir(PathBuf::from(rest)));
    }
    if s.starts_with("s3://") {
        let (bucket, prefix) = s3::parse_url(s)?;
        return Ok(Location::S3 { bucket, prefix });
    }
    if s.contains("://") {
        return Err(StoreError::Unsupported(s.to_string()));
    }
    Ok(Location::Dir(PathBuf::from(s)))
}

/// An opened archive: the store and the prefix all keys live under.
pub struct Archive {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: ObjectPath,
    /// Human-readable location for logs.
    pub display: String,
    /// The directory itself, for a local archive: `verify` walks it directly, because the
    /// store's listing stops at the first entry it cannot read (see `verify::listing`).
    pub local_dir: Option<PathBuf>,
    /// Signed requests, for an S3 archive.
    pub s3: Option<S3Client>,
}

/// Opens the archive at `opts.url`; `create` makes a missing local directory (the
/// daemon does, the verifier does not: a missing archive is an error for an auditor).
/// The other options apply to S3 only.
pub fn open(opts: &ArchiveSection, create: bool) -> Result<Archive, StoreError> {
    let location = opts.url.as_str();
    match parse_location(location)? {
        Location::S3 { bucket, prefix } => {
            let (store, client) = s3::open(&bucket, opts)?;
            Ok(Archive {
                store,
                prefix: ObjectPath::from(prefix.as_str()),
                display: if prefix.is_empty() {
                    format!("s3://{bucket}")
                } else {
                    format!("s3://{bucket}/{prefix}")
                },
                local_dir: None,
                s3: Some(client),
            })
        }
        Location::Dir(dir) => {
            if create {
                std::fs::create_dir_all(&dir).map_err(|source| StoreError::CreateDir {
                    path: dir.clone(),
                    source,
                })?;
            }
            let abs = std::path::absolute(&dir).unwrap_or(dir);
            let fs = LocalFileSystem::new_with_prefix(&abs).map_err(|source| StoreError::Open {
                location: location.to_string(),
                source,
            })?;
            Ok(Archive {
                store: Arc::new(fs),
                prefix: ObjectPath::default(),
                display: abs.display().to_string(),
                local_dir: Some(abs),
                s3: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            parse_location("file:///srv/a").unwrap(),
            Location::Dir("/srv/a".into())
        );
        assert_eq!(parse_location("a/b").unwrap(), Location::Dir("a/b".into()));
        assert!(matches!(
            parse_location("file://rel"),
            Err(StoreError::RelativeFileUrl(_))
        ));
        assert_eq!(
            parse_location("s3://logs/a/b").unwrap(),
            Location::S3 {
                bucket: "logs".into(),
                prefix: "a/b".into()
            }
        );
        assert!(matches!(
            parse_location("gopher://x"),
            Err(StoreError::Unsupported(_))
        ));
    }

    #[test]
    fn missing_dir_is_an_error_unless_created() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("nope");
        let opts = ArchiveSection {
            url: p.to_str().unwrap().to_string(),
            ..ArchiveSection::default()
        };
        assert!(open(&opts, false).is_err());
        assert!(open(&opts, true).is_ok());
        assert!(p.is_dir());
    }
}
