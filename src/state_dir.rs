//! The state directory: created private, and refused when someone else could write it.
//!
//! Everything that makes the audit trail trustworthy lives here: the journal of
//! received messages, the chain checkpoint and (by default) the signing key. A
//! directory another user owns, or that group or others may write, lets them swap
//! the key, rewrite the journal before it is sealed, or plant symlinks, so the daemon
//! refuses it instead of quietly using it (as sshd refuses a lax `~/.ssh`). Reading
//! is allowed (systemd's `StateDirectoryMode=0750`, a plain `mkdir`'s 0755): what is
//! secret inside is protected on its own, the key by its 0600 and the journal and
//! spool by their 0700 subdirectories.
//!
//! Directories the daemon creates itself (the state directory when missing, and
//! `journal/`, `spool/`, `quarantine/` inside it) are made mode 0700; if one of
//! those already exists with a laxer mode but belongs to the daemon's user, it was
//! made by an older version under a permissive umask, and is tightened with a warning.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Permission bits that make a state directory unsafe: write access for group or others.
const UNSAFE_BITS: u32 = 0o022;

/// Subdirectories the daemon owns and keeps private.
pub const SUBDIRS: [&str; 3] = ["journal", "spool", "quarantine"];

#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    #[error("state directory {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state directory {} is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("state directory {} is owned by uid {owner}, but sealtrail runs as uid {euid}: whoever owns it can replace the signing key or the journal; `chown -R {euid} {}` (or point state_dir elsewhere)", path.display(), path.display())]
    Owner {
        path: PathBuf,
        owner: u32,
        euid: u32,
    },
    #[error("state directory {} has mode {mode:04o}: writable by group or others, so they could replace the signing key or the journal; `chmod 700 {}` (0750 or 0755 are fine too)", path.display(), path.display())]
    Mode { path: PathBuf, mode: u32 },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateDirError + '_ {
    move |source| StateDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (mode 0700) if missing, else checks its owner and mode; then makes
/// the daemon's own subdirectories private. Returns whether `dir` was created.
pub fn prepare(dir: &Path) -> Result<bool, StateDirError> {
    let euid = rustix::process::geteuid().as_raw();
    let created = match std::fs::metadata(dir) {
        Ok(meta) => {
            check(dir, &meta, euid)?;
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err(dir))?;
            // The umask can only remove bits, but be explicit: this is the one
            // directory whose mode matters most.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(io_err(dir))?;
            true
        }
        Err(e) => return Err(io_err(dir)(e)),
    };
    for sub in SUBDIRS {
        tighten_own(&dir.join(sub), euid)?;
    }
    Ok(created)
}

/// The checks on an existing state directory.
fn check(dir: &Path, meta: &std::fs::Metadata, euid: u32) -> Result<(), StateDirError> {
    if !meta.is_dir() {
        return Err(StateDirError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    if meta.uid() != euid {
        return Err(StateDirError::Owner {
            path: dir.to_path_buf(),
            owner: meta.uid(),
            euid,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & UNSAFE_BITS != 0 {
        return Err(StateDirError::Mode {
            path: dir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// A subdirectory the daemon made: tightened to 0700 if it is ours and laxer (older
/// versions created them under the umask); refused like the state directory if it
/// belongs to someone else.
fn tighten_own(sub: &Path, euid: u32) -> Result<(), StateDirError> {
    let meta = match std::fs::symlink_metadata(sub) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(sub)(e)),
    };
    if !meta.is_dir() {
        return Err(StateDirError::NotADirectory {
            path: sub.to_path_buf(),
        });
    }
    if meta.uid() != euid {
        return Err(StateDirError::Owner {
            path: sub.to_path_buf(),
            owner: meta.uid(),
            euid,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(sub, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err(sub))?;
        tracing::warn!(dir = %sub.display(), old_mode = format!("{mode:04o}"), "made a state subdirectory private (mode 0700)");
    }
    Ok(())
}

/// Creates one of the daemon's own directories below the state directory, mode 0700.
pub fn create_private(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_missing_directory_is_created_private() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("a/b/state");
        assert!(prepare(&dir).unwrap());
        assert_eq!(mode(&dir), 0o700);
        assert!(!prepare(&dir).unwrap(), "second start finds it");
    }

    #[test]
    fn a_lax_existing_directory_is_refused_and_left_alone() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("state");
        std::fs::create_dir(&dir).unwrap();
        for bad in [0o777, 0o770, 0o720, 0o702] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(bad)).unwrap();
            match prepare(&dir) {
                Err(StateDirError::Mode { mode, .. }) => assert_eq!(mode, bad),
                other => panic!("{bad:o}: {other:?}"),
            }
            assert_eq!(mode(&dir), bad, "not silently changed");
        }
        for good in [0o700, 0o750, 0o755, 0o711] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(good)).unwrap();
            prepare(&dir).unwrap();
        }
    }

    #[test]
    fn own_subdirectories_are_tightened() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("state");
        prepare(&dir).unwrap();
        let journal = dir.join("journal");
        std::fs::create_dir(&journal).unwrap();
        std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare(&dir).unwrap();
        assert_eq!(mode(&journal), 0o700);
    }

    #[test]
    fn a_file_is_not_a_state_directory() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("state");
        std::fs::write(&f, b"x").unwrap();
        assert!(matches!(
            prepare(&f),
            Err(StateDirError::NotADirectory { .. })
        ));
    }

    /// Another user's directory must be refused. Handing one over needs `chown`, hence
    /// root: the test suite runs as root (`tests/run.sh`, CI), and says so otherwise
    /// rather than passing without checking anything.
    #[test]
    fn a_directory_owned_by_someone_else_is_refused() {
        assert_eq!(
            rustix::process::geteuid().as_raw(),
            0,
            "this test needs root (to chown a directory to another user): run tests/run.sh as root"
        );
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("state");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        match prepare(&dir) {
            Err(StateDirError::Owner { owner, euid, .. }) => {
                assert_eq!((owner, euid), (65534, 0));
            }
            other => panic!("{other:?}"),
        }
    }
}
