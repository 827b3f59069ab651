//! Opens the archive's object store from a location string.
//!
//! Everything else talks to `dyn ObjectStore`, so moving the archive from a local
//! directory to S3 is a change of location string, not of code.

use std::path::PathBuf;
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported archive location `{0}`: use a directory path or file:///absolute/path")]
    Unsupported(String),
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
}

/// Parses `dir`, `./dir`, `/abs/dir` or `file:///abs/dir`.
pub fn parse_location(s: &str) -> Result<Location, StoreError> {
    if let Some(rest) = s.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err(StoreError::RelativeFileUrl(s.to_string()));
        }
        return Ok(Location::Dir(PathBuf::from(rest)));
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
}

/// Opens the archive; `create` makes a missing local directory (the daemon does, the
/// verifier does not: a missing archive is an error for an auditor).
pub fn open(location: &str, create: bool) -> Result<Archive, StoreError> {
    match parse_location(location)? {
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
        assert!(matches!(
            parse_location("gopher://x"),
            Err(StoreError::Unsupported(_))
        ));
    }

    #[test]
    fn missing_dir_is_an_error_unless_created() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("nope");
        assert!(open(p.to_str().unwrap(), false).is_err());
        assert!(open(p.to_str().unwrap(), true).is_ok());
        assert!(p.is_dir());
    }
}
