//! Journals written before record format 2 (no magic): retired when everything in them
//! was sealed, refused otherwise.
//!
//! Reading both formats side by side would keep the old, unresynchronisable format alive
//! for ever. The previous version seals everything on a clean stop (SIGTERM), so an
//! upgrade after a clean stop finds every cursor at the end of the old data and loses
//! nothing by deleting it; anything else is refused with instructions, never guessed at.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::cursor::Committed;
use super::files::{self, sync_dir};
use super::format::v1;
use super::scan::read_at;
use super::{io_err, JournalError};

/// Deletes the old-format files of `list` if every cursor is at or past their end, so
/// recovery continues in a new-format file at that position. Errors with `OldFormat` if
/// the old files may still hold unsealed records.
pub(super) fn retire(
    dir: &Path,
    list: &mut Vec<(u64, PathBuf)>,
    committed: &Committed,
) -> Result<(), JournalError> {
    let mut old = Vec::new();
    for (start, path) in list.iter() {
        let file = File::open(path).map_err(|e| io_err(path, e))?;
        if first_record_is_v1(&file).map_err(|e| io_err(path, e))? {
            old.push((*start, path.clone(), file));
        }
    }
    let Some((last_start, _, last_file)) = old.last() else {
        return Ok(());
    };
    let end = last_start + v1_valid_len(last_file).map_err(|e| io_err(dir, e))?;
    let min = committed.min();
    if !committed.unreadable.is_empty() || min.is_none_or(|m| m < end) {
        return Err(JournalError::OldFormat {
            dir: dir.to_path_buf(),
            end,
            lowest_cursor: min,
        });
    }
    let at = committed.max().unwrap_or(end).max(end);
    let is_old = |p: &Path| old.iter().any(|(_, o, _)| o == p);
    // The new file first, then the old ones go: a crash in between leaves a journal that
    // this function retires again.
    if !list.iter().any(|(s, p)| *s >= at && !is_old(p)) {
        let (_, path) = files::create(dir, at)?;
        list.push((at, path));
    }
    for (_, path, _) in &old {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path, e)),
        }
    }
    sync_dir(dir).map_err(|e| io_err(dir, e))?;
    list.retain(|(_, p)| !is_old(p));
    tracing::info!(
        dir = %dir.display(),
        old_files = old.len(),
        old_end = end,
        continue_at = at,
        "journal in the previous record format was fully sealed: deleted it, continuing in the new format"
    );
    Ok(())
}

/// A file is old-format if it starts with a whole, valid version-1 record. A version-2
/// file never does: its fourth byte (0x4E) would make a length over 16 MiB.
fn first_record_is_v1(file: &File) -> io::Result<bool> {
    let mut h = [0u8; v1::HEADER];
    if read_at(file, &mut h, 0)? < v1::HEADER {
        return Ok(false);
    }
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
    if !(1..=v1::MAX_PAYLOAD).contains(&len) {
        return Ok(false);
    }
    let mut buf = vec![0u8; v1::HEADER + len];
    let got = read_at(file, &mut buf, 0)?;
    Ok(v1::valid_record(&buf[..got]).is_some())
}

/// Length of the longest prefix of whole, valid version-1 records (what the previous
/// version kept of its newest file on open).
fn v1_valid_len(file: &File) -> io::Result<u64> {
    let mut rd = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut valid = 0u64;
    loop {
        buf.resize(v1::HEADER, 0);
        if !read_full(&mut rd, &mut buf)? {
            break;
        }
        let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if !(1..=v1::MAX_PAYLOAD).contains(&len) {
            break;
        }
        buf.resize(v1::HEADER + len, 0);
        if !read_full(&mut rd, &mut buf[v1::HEADER..])? || v1::valid_record(&buf).is_none() {
            break;
        }
        valid += buf.len() as u64;
    }
    Ok(valid)
}

/// `read_exact` that reports a short read (end of file) as `false` instead of an error.
fn read_full(rd: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match rd.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}
