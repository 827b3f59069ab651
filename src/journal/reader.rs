//! Sequential reader of durable records.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::files::{self, file_name};
use super::{io_err, Inner, JournalError, HEADER, MAX_PAYLOAD};

/// Bytes read per `pread`; records are verified straight out of this buffer.
const READ_CHUNK: usize = 1 << 20;

struct OpenFile {
    file: File,
    start: u64,
    path: PathBuf,
}

/// Yields durable records in position order. It reads only below the durable position, so
/// it never sees a write in progress.
pub struct Reader {
    inner: Arc<Inner>,
    /// Position of the next record.
    pos: u64,
    file: Option<OpenFile>,
    /// `buf[lo..hi]` holds the journal bytes at `pos..pos + (hi - lo)`.
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").field("pos", &self.pos).finish()
    }
}

impl Reader {
    pub(super) fn new(inner: Arc<Inner>, from: u64) -> Result<Reader, JournalError> {
        let mut reader = Reader {
            inner,
            pos: from,
            file: None,
            buf: Vec::new(),
            lo: 0,
            hi: 0,
        };
        reader.open_containing()?;
        Ok(reader)
    }

    /// Position of the next record.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Next durable record as `(position, payload)`, or `None` at the durable end (call
    /// again later; it resumes). A record that fails its checks below the durable end is
    /// `Corrupt`; a file deleted by `reclaim` before the reader got to it is `Reclaimed`.
    #[allow(clippy::should_implement_trait)] // lends from its buffer: not an `Iterator`
    pub fn next(&mut self) -> Result<Option<(u64, &[u8])>, JournalError> {
        let durable = self.inner.durable.load(Ordering::Acquire);
        if self.pos >= durable {
            return Ok(None);
        }
        self.fill(HEADER, durable)?;
        let h = &self.buf[self.lo..self.lo + HEADER];
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let size = HEADER + len;
        if len == 0 || len > MAX_PAYLOAD || self.pos + size as u64 > durable {
            return Err(self.corrupt());
        }
        self.fill(size, durable)?;
        let body = self.lo + HEADER;
        let end = self.lo + size;
        if crc32c::crc32c(&self.buf[body..end]) != crc {
            return Err(self.corrupt());
        }
        let at = self.pos;
        self.pos += size as u64;
        self.lo = end;
        Ok(Some((at, &self.buf[body..end])))
    }

    fn corrupt(&self) -> JournalError {
        match &self.file {
            Some(f) => JournalError::Corrupt {
                file: f.path.clone(),
                offset: self.pos - f.start,
            },
            None => JournalError::Corrupt {
                file: self.inner.dir.clone(),
                offset: self.pos,
            },
        }
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
        Ok(())
    }

    /// Opens the file that starts exactly at `pos` (the previous one ended there).
    fn open_next(&mut self) -> Result<(), JournalError> {
        let path = self.inner.dir.join(file_name(self.pos));
        match File::open(&path) {
            Ok(file) => {
                self.file = Some(OpenFile {
                    file,
                    start: self.pos,
                    path,
                });
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(JournalError::Reclaimed { position: self.pos })
            }
            Err(e) => Err(io_err(&path, e)),
        }
    }

    /// Makes `buf[lo..hi]` hold at least `n` bytes, reading no further than `durable`.
    fn fill(&mut self, n: usize, durable: u64) -> Result<(), JournalError> {
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
                return Err(self.corrupt());
            }
            if self.file.is_none() {
                self.open_containing()?;
            }
            let Some(f) = &self.file else {
                return Err(JournalError::Reclaimed { position: self.pos });
            };
            let dst = &mut self.buf[self.hi..self.hi + want as usize];
            let got = loop {
                match f.file.read_at(dst, next - f.start) {
                    Ok(got) => break got,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(io_err(&f.path, e)),
                }
            };
            if got > 0 {
                self.hi += got;
                continue;
            }
            // End of this file. At a record boundary the next file starts here; inside a
            // record (or in a file that is empty although durable data lies here) the
            // journal is damaged.
            if self.hi != self.lo || f.start == self.pos {
                return Err(self.corrupt());
            }
            self.open_next()?;
        }
        Ok(())
    }
}
