//! Sequential reader of durable records.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::files;
use super::format::{Header, COVERED_FROM, HEADER};
use super::gaps::Cause;
use super::scan::{self, read_at};
use super::{io_err, Inner, JournalError};

/// Bytes read per `pread`; records are verified straight out of this buffer.
const READ_CHUNK: usize = 1 << 20;

struct OpenFile {
    file: File,
    start: u64,
    path: PathBuf,
}

/// Yields durable records in position order, skipping ranges that are lost (damaged,
/// missing or truncated; each is logged and counted once, see `JournalHealth`, and
/// listed by [`Reader::take_skipped`]).
/// It reads only below the durable position, so it never sees a write in progress.
pub struct Reader {
    inner: Arc<Inner>,
    /// Position of the next record.
    pos: u64,
    file: Option<OpenFile>,
    /// `buf[lo..hi]` holds the journal bytes at `pos..pos + (hi - lo)`, from `file`.
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
    /// Ranges this reader skipped since the last `take_skipped`.
    skipped: Vec<Range<u64>>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("pos", &self.pos).finish()
    }
}

/// What `fill` could get.
enum Fill {
    Ok,
    /// The file ends exactly at `pos`: the journal continues in a later file.
    FileEnd,
    /// The file (or the durable end) cuts the record short: damage.
    Short,
}

impl Reader {
    pub(super) fn new(inner: Arc<Inner>, from: u64) -> Result<Reader, JournalError> {
        // Starting inside a known gap (a cursor left in a truncated range): start after it.
        let pos = inner.gaps.covering(from).unwrap_or(from);
        let mut reader = Reader {
            inner,
            pos,
            file: None,
            buf: Vec::new(),
            lo: 0,
            hi: 0,
            skipped: Vec::new(),
        };
        if pos > from {
            reader.skipped.push(from..pos);
        }
        reader.open_containing()?;
        Ok(reader)
    }

    /// Position of the next record (past any gap already skipped).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The lost ranges this reader has skipped since the last call, in order, so a
    /// consumer can record in its own output that records are missing there (the journal
    /// has already logged and counted each of them once).
    pub fn take_skipped(&mut self) -> Vec<Range<u64>> {
        std::mem::take(&mut self.skipped)
    }

    /// Next durable record as `(position, payload)`, or `None` at the durable end (call
    /// again later; it resumes). Damaged records are skipped, never returned or fatal;
    /// errors are I/O errors and `Reclaimed` (the file was deleted before the reader got
    /// to it).
    #[allow(clippy::should_implement_trait)] // lends from its buffer: not an `Iterator`
    pub fn next(&mut self) -> Result<Option<(u64, &[u8])>, JournalError> {
        loop {
            let durable = self.inner.durable.load(Ordering::Acquire);
            if self.pos >= durable {
                return Ok(None);
            }
            match self.fill(HEADER, durable)? {
                Fill::Ok => {}
                Fill::FileEnd => {
                    self.next_file()?;
                    continue;
                }
                Fill::Short => {
                    self.skip_damage(durable)?;
                    continue;
                }
            }
            let Some(h) = Header::read(&self.buf[self.lo..self.hi]) else {
                self.skip_damage(durable)?;
                continue;
            };
            let size = h.size();
            if !h.plausible() || self.pos + size as u64 > durable {
                self.skip_damage(durable)?;
                continue;
            }
            if !matches!(self.fill(size, durable)?, Fill::Ok) {
                self.skip_damage(durable)?;
                continue;
            }
            let body = self.lo + HEADER;
            let end = self.lo + size;
            if !h.verifies(&self.buf[self.lo + COVERED_FROM..end]) {
                self.skip_damage(durable)?;
                continue;
            }
            let at = self.pos;
            self.pos += size as u64;
            self.lo = end;
            return Ok(Some((at, &self.buf[body..end])));
        }
    }

    /// The record at `pos` failed its checks: moves to the next valid record, through the
    /// gap registry (someone already found this gap) or by resynchronising, registering
    /// the gap found. Off the hot path: only damaged data gets here.
    fn skip_damage(&mut self, durable: u64) -> Result<(), JournalError> {
        if let Some(end) = self.inner.gaps.covering(self.pos) {
            self.seek(end);
            return Ok(());
        }
        if self.file.is_none() {
            self.open_containing()?;
        }
        let Some(f) = &self.file else {
            return Err(JournalError::Reclaimed { position: self.pos });
        };
        let len = f.file.metadata().map_err(|e| io_err(&f.path, e))?.len();
        let limit = len.min(durable.saturating_sub(f.start));
        let at = self.pos.saturating_sub(f.start);
        let next = scan::resync(&f.file, at, limit).map_err(|e| io_err(&f.path, e))?;
        // `max`: progress even if the file shrank under us.
        let mut to = (f.start + next).max(self.pos + 1);
        if next >= limit && limit == len {
            // The damage runs to the end of this file: the gap runs on to the next file.
            if let Some(start) = self.next_start(f.start)? {
                to = to.max(start);
            }
        }
        let (path, start) = (f.path.clone(), f.start);
        self.inner
            .gaps
            .record(&path, start, self.pos, to, Cause::Damaged);
        self.seek(to);
        Ok(())
    }

    /// Skips forward to `to`, keeping what the buffer already holds of it.
    fn seek(&mut self, to: u64) {
        self.note_skipped(self.pos, to);
        let skip = to.saturating_sub(self.pos);
        if skip <= (self.hi - self.lo) as u64 {
            self.lo += skip as usize;
        } else {
            self.lo = 0;
            self.hi = 0;
        }
        self.pos = to;
    }

    fn note_skipped(&mut self, from: u64, to: u64) {
        if to <= from {
            return;
        }
        match self.skipped.last_mut() {
            Some(last) if last.end == from => last.end = to,
            _ => self.skipped.push(from..to),
        }
    }

    /// Start of the first file after the one starting at `after`, if any.
    fn next_start(&self, after: u64) -> Result<Option<u64>, JournalError> {
        Ok(files::list(&self.inner.dir)?
            .into_iter()
            .map(|(s, _)| s)
            .find(|&s| s > after))
    }

    /// The current file ended at `pos` (cleanly, or `pos` was moved past its end to skip a
    /// gap): continues in the later file holding `pos`, or, if the next file starts
    /// further on, registers the seam as a gap and jumps it.
    fn next_file(&mut self) -> Result<(), JournalError> {
        let (current, path) = match &self.file {
            Some(f) => (f.start, f.path.clone()),
            None => return self.open_containing(),
        };
        let list = files::list(&self.inner.dir)?;
        let holding = list
            .iter()
            .rev()
            .find(|(s, _)| *s > current && *s <= self.pos);
        let (start, next) = match holding {
            Some(f) => f.clone(),
            None => {
                let Some((start, next)) = list.into_iter().find(|(s, _)| *s > self.pos) else {
                    return Err(JournalError::Reclaimed { position: self.pos });
                };
                self.inner
                    .gaps
                    .record(&path, current, self.pos, start, Cause::Seam);
                self.note_skipped(self.pos, start);
                self.pos = start;
                (start, next)
            }
        };
        let file = File::open(&next).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => JournalError::Reclaimed { position: self.pos },
            _ => io_err(&next, e),
        })?;
        self.file = Some(OpenFile {
            file,
            start,
            path: next,
        });
        self.lo = 0;
        self.hi = 0;
        Ok(())
    }

    /// Opens the file holding `pos`: the newest one starting at or before it.
    fn open_containing(&mut self) -> Result<(), JournalError> {
        let list = files::list(&self.inner.dir)?;
        let Some((start, path)) = list.into_iter().rev().find(|(s, _)| *s <= self.pos) else {
            return Err(JournalError::Reclaimed { position: self.pos });
        };
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => JournalError::Reclaimed { position: self.pos },
            _ => io_err(&path, e),
        })?;
        self.file = Some(OpenFile { file, start, path });
        self.lo = 0;
        self.hi = 0;
        Ok(())
    }

    /// Makes `buf[lo..hi]` hold at least `n` bytes, reading no further than `durable`.
    fn fill(&mut self, n: usize, durable: u64) -> Result<Fill, JournalError> {
        while self.hi - self.lo < n {
            if self.lo > 0 {
                self.buf.copy_within(self.lo..self.hi, 0);
                self.hi -= self.lo;
                self.lo = 0;
            }
            if self.buf.len() < n.max(READ_CHUNK) {
                self.buf.resize(n.max(READ_CHUNK), 0);
            }
            let next = self.pos + self.hi as u64;
            let want = ((self.buf.len() - self.hi) as u64).min(durable.saturating_sub(next));
            if want == 0 {
                return Ok(Fill::Short);
            }
            if self.file.is_none() {
                self.open_containing()?;
            }
            let Some(f) = &self.file else {
                return Err(JournalError::Reclaimed { position: self.pos });
            };
            let dst = &mut self.buf[self.hi..self.hi + want as usize];
            let got = read_at(&f.file, dst, next - f.start).map_err(|e| io_err(&f.path, e))?;
            if got > 0 {
                self.hi += got;
                continue;
            }
            // End of this file: at a record boundary the journal goes on in a later file;
            // inside a record the record is cut short.
            return Ok(if self.hi == self.lo {
                Fill::FileEnd
            } else {
                Fill::Short
            });
        }
        Ok(Fill::Ok)
    }
}
