//! Recovery on open: find every gap in the data consumers still need, cut a torn tail,
//! and notice a journal that ends before where it is known to have got.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::cursor;
use super::files;
use super::gaps::Cause;
use super::scan;
use super::{io_err, legacy, JournalError};

/// A lost range found on open, registered (and logged) by `Journal::open`.
#[derive(Debug)]
pub(super) struct Found {
    pub path: PathBuf,
    pub file_start: u64,
    pub from: u64,
    pub to: u64,
    pub cause: Cause,
    /// False for a range every consumer had committed past: registered (readers skip it,
    /// nobody reuses it) but neither logged nor counted as lost.
    pub counted: bool,
}

/// The file to append to, where appending continues, and what recovery found.
pub(super) struct Recovered {
    pub file: File,
    pub path: PathBuf,
    pub start: u64,
    pub end: u64,
    pub disk_bytes: u64,
    /// What the durable-end marker said, so the writer knows when to rewrite it.
    pub marker: Option<u64>,
    pub gaps: Vec<Found>,
}

/// Scans, with resynchronisation, every file that still holds data some consumer has not
/// committed past (all files if there is no cursor, or one cannot be read): gaps are
/// reported at start-up rather than when a reader trips over them. Only the newest file is
/// ever cut, and only after its last valid record: what follows it was never acknowledged
/// unless the end marker or a cursor says otherwise, which is checked next. A journal that
/// ends below max(end marker, cursors) lost acknowledged records: that range becomes a gap
/// and writing continues in a new file at the expected end, so no position is reused.
pub(super) fn recover(dir: &Path, cursors_dir: &Path) -> Result<Recovered, JournalError> {
    let committed = cursor::committed(cursors_dir)?;
    for (path, e) in &committed.unreadable {
        tracing::warn!(file = %path.display(), error = %e, "journal cursor unreadable; recovery checks the whole journal");
    }
    let mut list = files::list(dir)?;
    legacy::retire(dir, &mut list, &committed)?;
    let marker = files::read_end_marker(dir)?;
    // Data before every cursor was consumed: nothing there needs checking or counts as lost.
    let consumed = if committed.unreadable.is_empty() {
        committed.min().unwrap_or(0)
    } else {
        0
    };

    let mut gaps = Vec::new();
    let mut disk_bytes = 0u64;
    let mut newest: Option<(File, PathBuf, u64, u64)> = None;
    for (i, (start, path)) in list.iter().enumerate() {
        let start = *start;
        let next = list.get(i + 1).map(|f| f.0);
        let len = fs::metadata(path).map_err(|e| io_err(path, e))?.len();
        if next.is_some() && start + len <= consumed {
            disk_bytes += len;
            continue;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(next.is_none())
            .open(path)
            .map_err(|e| io_err(path, e))?;
        let from = consumed.saturating_sub(start).min(len);
        let walk = scan::walk(&file, from, len).map_err(|e| io_err(path, e))?;
        let found = |from: u64, to: u64, cause| Found {
            path: path.clone(),
            file_start: start,
            from,
            to,
            cause,
            counted: true,
        };
        gaps.extend(
            walk.gaps
                .iter()
                .map(|&(a, b)| found(start + a, start + b, Cause::Damaged)),
        );
        match next {
            Some(next) => {
                disk_bytes += len;
                let data_end = start + walk.tail.unwrap_or(len);
                let cause = if walk.tail.is_some() {
                    Cause::Damaged
                } else {
                    Cause::Seam
                };
                if data_end < next {
                    gaps.push(found(data_end, next, cause));
                } else if data_end > next {
                    tracing::error!(file = %path.display(), end = data_end, next_start = next, "journal files overlap; readers follow the later file");
                }
            }
            None => {
                let valid = walk.tail.unwrap_or(len);
                if valid < len {
                    tracing::warn!(
                        file = %path.display(),
                        kept_bytes = valid,
                        dropped_bytes = len - valid,
                        "journal recovery cut a torn or invalid tail"
                    );
                    file.set_len(valid).map_err(|e| io_err(path, e))?;
                    file.sync_all().map_err(|e| io_err(path, e))?;
                }
                // The writer appends through the file's cursor (`writev`), walks use pread.
                let mut file = file;
                file.seek(SeekFrom::Start(valid))
                    .map_err(|e| io_err(path, e))?;
                disk_bytes += valid;
                newest = Some((file, path.clone(), start, start + valid));
            }
        }
    }

    let expected = marker.unwrap_or(0).max(committed.max().unwrap_or(0));
    let (last, last_start, end) = match newest {
        Some((file, path, start, end)) if expected <= end => {
            return Ok(Recovered {
                file,
                path,
                start,
                end,
                disk_bytes,
                marker,
                gaps,
            });
        }
        Some((file, path, start, end)) => {
            // Left in place, an empty file would only be a seam in front of the new one.
            if end == start {
                drop(file);
                fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
            }
            (path, start, end)
        }
        None => (dir.to_path_buf(), 0, 0),
    };
    // Truncated (or no file at all): continue in a new file at the expected end.
    if expected > end {
        let lost_from = end.max(consumed).min(expected);
        if lost_from == expected {
            tracing::warn!(
                file = %last.display(),
                end,
                expected,
                "journal ends before the durable end it had reached, but every consumer had committed past it: nothing unconsumed was lost"
            );
        }
        for (from, to, counted) in [(end, lost_from, false), (lost_from, expected, true)] {
            if from < to {
                gaps.push(Found {
                    path: last.clone(),
                    file_start: last_start,
                    from,
                    to,
                    cause: Cause::Truncated,
                    counted,
                });
            }
        }
    }
    let (file, path) = files::create(dir, expected)?;
    Ok(Recovered {
        file,
        path,
        start: expected,
        end: expected,
        disk_bytes,
        marker,
        gaps,
    })
}
