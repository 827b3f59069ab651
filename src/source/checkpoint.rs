//! Where a source keeps its position (a file's offset, a journal cursor) between runs.
//!
//! The rule that makes "no acknowledged line is lost" hold: a position is written only
//! after every event before it is durable in the journal
//! ([`super::SourceContext::checkpoint`] waits for that), atomically (temp file, fsync,
//! rename, fsync the directory), and loudly: a failed write is an error in the log and
//! in `sealtrail_checkpoint_errors_total`, and the source keeps its last good
//! checkpoint on disk (a restart then reads a little again: at-least-once).

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Why a checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("checkpoint {}: not a checkpoint of this source: {source}", path.display())]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// One source's checkpoint file, `<state>/checkpoints/<name>-<hash>.json`.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    path: PathBuf,
}

/// A file name for a source name: its safe characters, and a hash of the whole name so
/// that two names that differ only in unsafe characters never share a file.
fn file_name(source: &str) -> String {
    let safe: String = source
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let hash = Sha256::digest(source.as_bytes());
    format!("{safe}-{}.json", hex::encode(&hash[..4]))
}

impl CheckpointStore {
    /// The checkpoint of source `name` under `dir` (created, mode 0700, on first write).
    pub fn new(dir: &Path, name: &str) -> CheckpointStore {
        CheckpointStore {
            path: dir.join(file_name(name)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last checkpoint written, or `None` if there is none.
    pub fn load<T: DeserializeOwned>(&self) -> Result<Option<T>, CheckpointError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| CheckpointError::Format {
                path: self.path.clone(),
                source,
            })
    }

    /// Replaces the checkpoint, atomically and durably. Callers must only pass state
    /// whose events are durable in the journal (see `SourceContext::checkpoint`).
    pub fn store<T: Serialize>(&self, state: &T) -> Result<(), CheckpointError> {
        let io = |source| CheckpointError::Io {
            path: self.path.clone(),
            source,
        };
        let bytes = serde_json::to_vec(state).map_err(|source| CheckpointError::Format {
            path: self.path.clone(),
            source,
        })?;
        if let Some(dir) = self.path.parent() {
            crate::state_dir::create_private(dir).map_err(io)?;
        }
        crate::journal::write_atomic(&self.path, &bytes).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_then_load_and_names_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let a = CheckpointStore::new(dir.path(), "files/a");
        let b = CheckpointStore::new(dir.path(), "files_a");
        assert_ne!(a.path(), b.path());
        assert_eq!(a.load::<u64>().unwrap(), None);
        a.store(&42u64).unwrap();
        b.store(&7u64).unwrap();
        assert_eq!(a.load::<u64>().unwrap(), Some(42));
        assert_eq!(b.load::<u64>().unwrap(), Some(7));
        std::fs::write(a.path(), b"{broken").unwrap();
        assert!(matches!(
            a.load::<u64>(),
            Err(CheckpointError::Format { .. })
        ));
    }
}
