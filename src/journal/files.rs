//! Journal file naming, listing and recovery on open.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{io_err, JournalError, HEADER, MAX_PAYLOAD};

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

/// The newest file, opened for appending at the recovered end.
pub(super) struct Recovered {
    pub file: File,
    pub path: PathBuf,
    pub start: u64,
    pub end: u64,
    pub disk_bytes: u64,
}

/// Verifies the newest file record by record and truncates it at the first torn or invalid
/// record. Earlier files are trusted: each was fully synced before the next was created.
pub(super) fn recover(dir: &Path) -> Result<Recovered, JournalError> {
    let list = list(dir)?;
    let Some((start, path)) = list.last().cloned() else {
        let (file, path) = create(dir, 0)?;
        return Ok(Recovered {
            file,
            path,
            start: 0,
            end: 0,
            disk_bytes: 0,
        });
    };
    let mut disk_bytes = 0u64;
    for pair in list.windows(2) {
        let ((s, p), (next, _)) = (&pair[0], &pair[1]);
        let len = fs::metadata(p).map_err(|e| io_err(p, e))?.len();
        disk_bytes += len;
        if s + len != *next {
            // Readers will stop with an error at the seam; say so now, loudly.
            tracing::error!(
                file = %p.display(),
                end = s + len,
                next_start = next,
                "journal files are not contiguous"
            );
        }
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| io_err(&path, e))?;
    let size = file.metadata().map_err(|e| io_err(&path, e))?.len();
    let (valid, records) = valid_prefix(&file).map_err(|e| io_err(&path, e))?;
    if valid < size {
        tracing::warn!(
            file = %path.display(),
            kept_records = records,
            kept_bytes = valid,
            dropped_bytes = size - valid,
            "journal recovery truncated a torn or invalid tail"
        );
        file.set_len(valid).map_err(|e| io_err(&path, e))?;
        file.sync_all().map_err(|e| io_err(&path, e))?;
    }
    file.seek(SeekFrom::Start(valid))
        .map_err(|e| io_err(&path, e))?;
    Ok(Recovered {
        file,
        path,
        start,
        end: start + valid,
        disk_bytes: disk_bytes + valid,
    })
}

/// Length (and record count) of the longest prefix of whole, valid records.
fn valid_prefix(file: &File) -> io::Result<(u64, u64)> {
    let mut rd = BufReader::with_capacity(1 << 20, file);
    let mut payload = Vec::new();
    let mut valid = 0u64;
    let mut records = 0u64;
    loop {
        let mut header = [0u8; HEADER];
        if !read_full(&mut rd, &mut header)? {
            break;
        }
        let [l0, l1, l2, l3, c0, c1, c2, c3] = header;
        let len = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
        let crc = u32::from_le_bytes([c0, c1, c2, c3]);
        if len == 0 || len > MAX_PAYLOAD {
            break;
        }
        payload.resize(len, 0);
        if !read_full(&mut rd, &mut payload)? || crc32c::crc32c(&payload) != crc {
            break;
        }
        valid += (HEADER + len) as u64;
        records += 1;
    }
    Ok((valid, records))
}

/// `read_exact` that reports a short read (end of file) as `false` instead of an error.
fn read_full(rd: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match rd.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}
