//! Journal file naming and listing, the durable-end marker, and the journal's directories.

use std::ffi::OsStr;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::cursor::write_atomic;
use super::{io_err, JournalError};

/// `{start:020}.wal`: zero-padded so names sort like positions.
pub(super) fn file_name(start: u64) -> String {
    format!("{start:020}.wal")
}

fn parse_name(name: &OsStr) -> Option<u64> {
    let digits = name.to_str()?.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Journal files as `(start position, path)`, oldest first.
pub(super) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        if let Some(start) = parse_name(&entry.file_name()) {
            out.push((start, entry.path()));
        }
    }
    out.sort_unstable_by_key(|(start, _)| *start);
    Ok(out)
}

/// Makes created, renamed or removed directory entries durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` (and missing parents) readable by the daemon's user only: journal
/// records are raw log lines, often with user names and addresses.
pub(super) fn create_private_dir(dir: &Path) -> Result<(), JournalError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io_err(dir, e))
}

/// Creates a fresh (empty) journal file; truncating is safe because nothing at or after
/// `start` is durable yet.
pub(super) fn create(dir: &Path, start: u64) -> Result<(File, PathBuf), JournalError> {
    let path = dir.join(file_name(start));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(|e| io_err(&path, e))?;
    sync_dir(dir).map_err(|e| io_err(dir, e))?;
    Ok((file, path))
}

/// The durable-end marker: how far the journal is known to have got. A file cut at a
/// record boundary looks like a clean end, so without an independent record a truncated
/// journal would silently hand out the lost positions (event ids) again.
const END_MARKER: &str = "end.json";

#[derive(Serialize, Deserialize)]
struct EndMarker {
    durable_end: u64,
}

/// The marker's position, or `None` if there is none (a new or pre-marker journal) or it
/// cannot be parsed (logged: it only ever adds a check, so losing it loses no data).
pub(super) fn read_end_marker(dir: &Path) -> Result<Option<u64>, JournalError> {
    let path = dir.join(END_MARKER);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path, e)),
    };
    match serde_json::from_slice::<EndMarker>(&bytes) {
        Ok(m) => Ok(Some(m.durable_end)),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "journal end marker unreadable; ignoring it (a truncation of the newest file may go unnoticed this once)");
            Ok(None)
        }
    }
}

/// Persists the durable end (atomically: temp file, fsync, rename, fsync dir).
pub(super) fn write_end_marker(dir: &Path, durable_end: u64) -> io::Result<()> {
    let bytes = serde_json::to_vec(&EndMarker { durable_end }).map_err(io::Error::other)?;
    write_atomic(&dir.join(END_MARKER), &bytes)
}
