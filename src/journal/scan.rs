//! Finding records in a file: the walk recovery makes over a whole file, and the
//! resynchronisation after a damaged record that recovery and readers share.
//!
//! Everything here works in *file offsets* and never reads at or past `limit` (for a
//! reader, the durable end; for recovery, the file's length).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::format::{valid_len, Header, COVERED_FROM, HEADER, MAGIC};

/// Bytes read per `pread` while walking or scanning.
const CHUNK: usize = 1 << 20;

/// `pread` until `buf` is full or the file ends; returns the bytes read.
pub(super) fn read_at(file: &File, buf: &mut [u8], off: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], off + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Whether a whole valid record starts at `off` and ends by `limit`.
fn valid_at(file: &File, off: u64, limit: u64, scratch: &mut Vec<u8>) -> io::Result<bool> {
    if off + HEADER as u64 > limit {
        return Ok(false);
    }
    let mut h = [0u8; HEADER];
    if read_at(file, &mut h, off)? < HEADER {
        return Ok(false);
    }
    let header = Header::parse(&h);
    if !header.plausible() || off + header.size() as u64 > limit {
        return Ok(false);
    }
    scratch.resize(header.covered(), 0);
    if read_at(file, scratch, off + COVERED_FROM as u64)? < scratch.len() {
        return Ok(false);
    }
    Ok(header.verifies(scratch))
}

/// The record at `at` failed its checks: returns the file offset of the next valid
/// record, or `limit` if none lies before it (the damage runs to the end).
///
/// First the damaged record's own length field is trusted if it is plausible and a valid
/// record (or the end) follows: a flipped payload byte, the common case, then costs exactly
/// that one record, and its payload is never searched. Searching it would be a risk, not
/// just work: the payload holds bytes a sender chose, which may be a well-formed record
/// planted on purpose. Only when the length leads nowhere is every byte after `at`
/// scanned for the magic, and the first candidate whose length fits and whose checksum
/// matches is taken.
pub(super) fn resync(file: &File, at: u64, limit: u64) -> io::Result<u64> {
    let mut scratch = Vec::new();
    let mut h = [0u8; HEADER];
    if at + HEADER as u64 <= limit && read_at(file, &mut h, at)? == HEADER {
        let len = Header::parse(&h).len;
        if valid_len(len) {
            let next = at + (HEADER + len) as u64;
            if next == limit || (next < limit && valid_at(file, next, limit, &mut scratch)?) {
                return Ok(next);
            }
        }
    }
    let mut buf = vec![0u8; CHUNK];
    let mut from = at + 1;
    while from + HEADER as u64 <= limit {
        let want = (limit - from).min(CHUNK as u64) as usize;
        let got = read_at(file, &mut buf[..want], from)?;
        if got < MAGIC.len() {
            break;
        }
        for i in memchr::memmem::find_iter(&buf[..got], &MAGIC) {
            let candidate = from + i as u64;
            if valid_at(file, candidate, limit, &mut scratch)? {
                return Ok(candidate);
            }
        }
        if got < want {
            break; // the file is shorter than `limit`
        }
        // Step back so a magic cut by the chunk boundary is seen whole next time.
        from += (got - (MAGIC.len() - 1)) as u64;
    }
    Ok(limit)
}

/// What a walk over a file found.
#[derive(Debug, Default)]
pub(super) struct Walk {
    /// Damaged stretches `[from, to)` (file offsets), each followed by a valid record.
    pub gaps: Vec<(u64, u64)>,
    /// Where damage starts that no valid record follows: the file's good data ends here.
    pub tail: Option<u64>,
    /// Valid records seen.
    pub records: u64,
}

/// A window of file bytes: `buf` holds the file at `base..base + buf.len()`.
struct Window<'a> {
    file: &'a File,
    limit: u64,
    base: u64,
    buf: Vec<u8>,
}

impl Window<'_> {
    /// The `n` bytes at `off`, or `None` if the file (or `limit`) ends first.
    fn get(&mut self, off: u64, n: usize) -> io::Result<Option<&[u8]>> {
        if off + n as u64 > self.limit {
            return Ok(None);
        }
        let have = off >= self.base && off + n as u64 <= self.base + self.buf.len() as u64;
        if !have {
            let want = ((self.limit - off) as usize).min(n.max(CHUNK));
            self.buf.resize(want, 0);
            let got = read_at(self.file, &mut self.buf, off)?;
            self.buf.truncate(got);
            self.base = off;
            if got < n {
                return Ok(None);
            }
        }
        let at = (off - self.base) as usize;
        Ok(self.buf.get(at..at + n))
    }
}

/// Walks the records of `file` from offset `from` to `len`, resynchronising past damage.
pub(super) fn walk(file: &File, from: u64, len: u64) -> io::Result<Walk> {
    let mut win = Window {
        file,
        limit: len,
        base: 0,
        buf: Vec::new(),
    };
    let mut out = Walk::default();
    let mut off = from;
    while off < len {
        if let Some(size) = valid_record_at(&mut win, off)? {
            off += size as u64;
            out.records += 1;
            continue;
        }
        let next = resync(file, off, len)?;
        if next >= len {
            out.tail = Some(off);
            break;
        }
        out.gaps.push((off, next));
        off = next;
    }
    Ok(out)
}

fn valid_record_at(win: &mut Window<'_>, off: u64) -> io::Result<Option<usize>> {
    let Some(header) = win.get(off, HEADER)?.and_then(Header::read) else {
        return Ok(None);
    };
    if !header.plausible() {
        return Ok(None);
    }
    let Some(covered) = win.get(off + COVERED_FROM as u64, header.covered())? else {
        return Ok(None);
    };
    Ok(header.verifies(covered).then_some(header.size()))
}
