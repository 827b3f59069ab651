//! Named durable cursors: where a consumer stands, plus whatever state it must keep in step
//! with that position (committed together, atomically).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::files::sync_dir;
use super::{io_err, JournalError};

/// A consumer's committed position and its state as of that position.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Checkpoint<S> {
    pub position: u64,
    pub state: S,
}

/// A named cursor file, `<journal>/cursors/<name>.json`.
#[derive(Debug, Clone)]
pub struct Cursor {
    name: String,
    path: PathBuf,
}

/// Names become file names: keep them to a safe alphabet.
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Cursor {
    pub(super) fn new(dir: &Path, name: &str) -> Cursor {
        Cursor {
            name: name.to_string(),
            path: dir.join(format!("{name}.json")),
        }
    }

    fn check(&self) -> Result<(), JournalError> {
        if valid_name(&self.name) {
            Ok(())
        } else {
            Err(JournalError::InvalidCursorName(self.name.clone()))
        }
    }

    /// The last committed checkpoint, or `None` if this cursor was never committed.
    pub fn load<S: DeserializeOwned>(&self) -> Result<Option<Checkpoint<S>>, JournalError> {
        self.check()?;
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&self.path, e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| JournalError::CursorFormat {
                path: self.path.clone(),
                source,
            })
    }

    /// Atomic and durable: temp file, fsync, rename, fsync dir. One committer per cursor.
    pub fn commit<S: Serialize>(&self, cp: &Checkpoint<S>) -> Result<(), JournalError> {
        self.check()?;
        let bytes = serde_json::to_vec(cp).map_err(|source| JournalError::CursorFormat {
            path: self.path.clone(),
            source,
        })?;
        write_atomic(&self.path, &bytes).map_err(|e| io_err(&self.path, e))
    }
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new content:
/// write `<path>.tmp`, fsync it, rename over `path`, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// [`write_atomic`] with the content streamed by `write` (through a 64 KiB buffer), for
/// content too large to build in memory first. A failed write removes the temporary file.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let Some(name) = path.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no file name", path.display()),
        ));
    };
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let staged = (|| {
        let mut w = io::BufWriter::with_capacity(64 * 1024, File::create(&tmp)?);
        write(&mut w)?;
        w.into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .sync_all()
    })();
    if let Err(e) = staged {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, path)?;
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => sync_dir(p),
        _ => sync_dir(Path::new(".")),
    }
}

/// Only the position matters to reclaim; the state is someone else's business.
#[derive(Deserialize)]
struct PositionOnly {
    position: u64,
}

/// Committed positions of every cursor file, and the files that could not be parsed.
#[derive(Debug, Default)]
pub(super) struct Committed {
    pub positions: Vec<(String, u64)>,
    pub unreadable: Vec<(PathBuf, serde_json::Error)>,
}

impl Committed {
    pub fn min(&self) -> Option<u64> {
        self.positions.iter().map(|(_, p)| *p).min()
    }

    pub fn max(&self) -> Option<u64> {
        self.positions.iter().map(|(_, p)| *p).max()
    }
}

/// Reads every cursor file in `dir`. Unparseable ones are listed, not fatal: each caller
/// decides what a cursor it cannot read means for it.
pub(super) fn committed(dir: &Path) -> Result<Committed, JournalError> {
    let mut out = Committed::default();
    for entry in fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        if !valid_name(name) {
            continue;
        }
        let path = entry.path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            // Retired between listing and reading.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&path, e)),
        };
        match serde_json::from_slice::<PositionOnly>(&bytes) {
            Ok(cp) => out.positions.push((name.to_string(), cp.position)),
            Err(e) => out.unreadable.push((path, e)),
        }
    }
    Ok(out)
}

/// The minimum committed position over all cursor files, or `None` when nothing may be
/// reclaimed: no cursor files at all, or a registered cursor not yet committed.
pub(super) fn min_position(dir: &Path, registered: &[String]) -> Result<Option<u64>, JournalError> {
    let mut c = committed(dir)?;
    // A cursor we cannot read might protect data: refuse rather than guess.
    if let Some((path, source)) = c.unreadable.pop() {
        return Err(JournalError::CursorFormat { path, source });
    }
    if registered
        .iter()
        .any(|r| !c.positions.iter().any(|(name, _)| name == r))
    {
        return Ok(None);
    }
    Ok(c.min())
}
