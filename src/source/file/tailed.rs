//! One tailed file: its handle, identity and read position, and the assembly of its
//! bytes into lines.
//!
//! Lines end at `\n` (a `\r` before it is dropped, like `sealtrail replay` does); an
//! empty line carries nothing and is skipped. A line longer than `max_line_bytes` is
//! archived at once with its first `max_line_bytes` bytes, tagged `_truncated`, and the
//! rest of it is skipped up to its `\n`, so memory stays bounded whatever a file holds
//! (a 10 MiB line without a newline costs one 64 KiB record). A last line without its
//! `\n` waits: it is archived whole when the `\n` comes, or tagged `_incomplete` once
//! the file has been idle for `line_timeout` (what arrives after that starts a new
//! line).
//!
//! Positions: `pos` is the next byte to read; [`Lines::start`] is where the first line
//! not yet journalled begins, and that is what a checkpoint names, so a partial line
//! (or one whose truncated head was archived but whose rest is still being skipped) is
//! read again after a restart rather than lost or cut.

use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;

use super::sink::Sink;
use super::state::{read_full_at, FileId, Fingerprint};
use crate::record::RecordFlags;

/// How far back from the end `start_at = "end"` looks for the last line's end.
const END_WINDOW: u64 = 64 * 1024;

/// Lines being assembled from a file's bytes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Lines {
    /// Offset of the first byte of the line not yet journalled (or being skipped).
    pub start: u64,
    /// That line's bytes so far: at most `max + 1` (one more for a `\r`).
    carry: Vec<u8>,
    /// The line's head was archived truncated; the rest up to `\n` is skipped.
    skipping: bool,
}

impl Lines {
    /// Lines starting at `offset`.
    pub fn at(offset: u64) -> Lines {
        Lines {
            start: offset,
            carry: Vec::new(),
            skipping: false,
        }
    }

    /// Bytes of a partial line held.
    pub fn pending(&self) -> usize {
        self.carry.len()
    }

    /// Splits `chunk` (which starts at file offset `at`) into lines, calling `emit`
    /// with each line's offset, bytes and flags.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        at: u64,
        max: usize,
        emit: &mut impl FnMut(u64, &[u8], RecordFlags),
    ) {
        let mut seg_start = 0;
        for nl in memchr::memchr_iter(b'\n', chunk) {
            let seg = &chunk[seg_start..nl];
            if self.skipping {
                self.skipping = false;
            } else if self.carry.is_empty() {
                emit_line(self.start, seg, false, max, emit);
            } else {
                let room = (max + 1).saturating_sub(self.carry.len());
                self.carry.extend_from_slice(&seg[..seg.len().min(room)]);
                emit_line(self.start, &self.carry, seg.len() > room, max, emit);
                self.carry.clear();
            }
            self.start = at + nl as u64 + 1;
            seg_start = nl + 1;
        }
        let rest = &chunk[seg_start..];
        if rest.is_empty() || self.skipping {
            return;
        }
        if self.carry.len() + rest.len() > max + 1 {
            // Too long already, whatever follows: archive its head now, skip the rest.
            let take = max.saturating_sub(self.carry.len()).min(rest.len());
            self.carry.extend_from_slice(&rest[..take]);
            emit(
                self.start,
                &self.carry[..max.min(self.carry.len())],
                RecordFlags::TRUNCATED,
            );
            self.carry.clear();
            self.skipping = true;
        } else {
            self.carry.extend_from_slice(rest);
        }
    }

    /// Archives the partial line, tagged incomplete; the next line starts at `pos`.
    pub fn flush_incomplete(&mut self, pos: u64, emit: &mut impl FnMut(u64, &[u8], RecordFlags)) {
        if !self.carry.is_empty() {
            let mut line = self.carry.as_slice();
            line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                emit(self.start, line, RecordFlags::INCOMPLETE);
            }
            self.carry = Vec::new();
            self.start = pos;
        }
    }
}

/// One complete line (without its `\n`): a `\r` before the `\n` is dropped, an empty
/// line skipped, a long one cut to `max` and flagged.
fn emit_line(
    offset: u64,
    line: &[u8],
    cut: bool,
    max: usize,
    emit: &mut impl FnMut(u64, &[u8], RecordFlags),
) {
    let line = if cut {
        line
    } else {
        line.strip_suffix(b"\r").unwrap_or(line)
    };
    if line.is_empty() {
        return;
    }
    if cut || line.len() > max {
        emit(offset, &line[..max.min(line.len())], RecordFlags::TRUNCATED);
    } else {
        emit(offset, line, RecordFlags::EMPTY);
    }
}

/// What a look at a file found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Nothing new to read.
    Unchanged,
    /// Bytes after `pos`.
    Grew,
    /// Shorter than what was read, or its first bytes changed: truncated in place
    /// (`copytruncate`) or rewritten.
    Truncated,
}

/// A file being read.
pub struct Tailed {
    pub file: File,
    /// Its descriptor's share of the daemon's descriptor budget.
    _permit: Option<OwnedSemaphorePermit>,
    /// The path it was found at: what its records carry as `log.file.path`, also after
    /// it was renamed.
    pub path: PathBuf,
    pub id: FileId,
    pub fp: Fingerprint,
    /// Next byte to read.
    pub pos: u64,
    pub lines: Lines,
    /// Size at the last look.
    pub size: u64,
    /// Last time bytes were read from it (or it was opened).
    pub last_growth: Instant,
    /// Since when it is no longer at an included path (deleted or rotated away).
    pub detached: Option<Instant>,
    /// A `copytruncate` copy read only to recover what the truncation took: released
    /// as soon as it is read to its end.
    pub copy: bool,
}

impl Tailed {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        file: File,
        permit: Option<OwnedSemaphorePermit>,
        path: PathBuf,
        id: FileId,
        fp: Fingerprint,
        pos: u64,
        size: u64,
        now: Instant,
    ) -> Tailed {
        Tailed {
            file,
            _permit: permit,
            path,
            id,
            fp,
            pos,
            lines: Lines::at(pos),
            size,
            last_growth: now,
            detached: None,
            copy: false,
        }
    }

    /// Where the checkpoint resumes it.
    pub fn committed(&self) -> u64 {
        self.lines.start
    }

    /// Looks at the file's size and first bytes.
    pub fn look(&mut self) -> io::Result<Look> {
        let size = self.file.metadata()?.len();
        if size < self.pos {
            return Ok(Look::Truncated);
        }
        if size != self.size {
            match self.fp.recheck(&self.file, size)? {
                Some(fp) => self.fp = fp,
                None => return Ok(Look::Truncated),
            }
            self.size = size;
        }
        Ok(if size > self.pos {
            Look::Grew
        } else {
            Look::Unchanged
        })
    }

    /// Reads one chunk at `pos` into `buf` and hands its lines to `sink`; returns the
    /// bytes read (0 at the end of the file).
    pub fn read_into(
        &mut self,
        buf: &mut [u8],
        max_line: usize,
        sink: &mut Sink,
        now: Instant,
    ) -> io::Result<usize> {
        let n = loop {
            match self.file.read_at(buf, self.pos) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Ok(0);
        }
        sink.stamp(n);
        let at = self.pos;
        self.pos += n as u64;
        self.size = self.size.max(self.pos);
        self.last_growth = now;
        let path = self.path.as_os_str().as_bytes();
        self.lines
            .feed(&buf[..n], at, max_line, &mut |offset, raw, flags| {
                sink.push(path, offset, raw, flags)
            });
        Ok(n)
    }

    /// Archives a partial last line as incomplete.
    pub fn flush_incomplete(&mut self, sink: &mut Sink) {
        let path = self.path.as_os_str().as_bytes();
        self.lines
            .flush_incomplete(self.pos, &mut |offset, raw, flags| {
                sink.push(path, offset, raw, flags)
            });
    }

    /// Starts over at offset 0 after the file was truncated or rewritten in place. A
    /// partial line read before is archived as incomplete, unless `recovered` (the rest
    /// is read from a copy).
    pub fn restart(&mut self, recovered: bool, sink: &mut Sink, now: Instant) -> io::Result<()> {
        if !recovered {
            self.flush_incomplete(sink);
        }
        let size = self.file.metadata()?.len();
        self.fp = Fingerprint::read(&self.file, size)?;
        self.pos = 0;
        self.size = size;
        self.lines = Lines::at(0);
        self.last_growth = now;
        Ok(())
    }
}

/// Where `start_at = "end"` starts in a file of `size` bytes: just after its last
/// `\n` (so a line being written now is read whole), or at 0 if a small file has no
/// `\n` at all (it is one line being written).
pub fn end_position(file: &File, size: u64) -> io::Result<u64> {
    let from = size.saturating_sub(END_WINDOW);
    let mut buf = vec![0u8; usize::try_from(size - from).unwrap_or(0)];
    let n = read_full_at(file, &mut buf, from)?;
    Ok(match memchr::memrchr(b'\n', &buf[..n]) {
        Some(i) => from + i as u64 + 1,
        None if from == 0 => 0,
        None => size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Got = Vec<(u64, Vec<u8>, RecordFlags)>;

    fn feed_all(chunks: &[&[u8]], max: usize) -> (Got, Lines) {
        let mut got = Vec::new();
        let mut lines = Lines::at(0);
        let mut at = 0u64;
        for c in chunks {
            lines.feed(c, at, max, &mut |o, r: &[u8], f| {
                got.push((o, r.to_vec(), f))
            });
            at += c.len() as u64;
        }
        (got, lines)
    }

    const E: RecordFlags = RecordFlags::EMPTY;
    const T: RecordFlags = RecordFlags::TRUNCATED;

    #[test]
    fn lines_in_pieces_are_emitted_whole_with_their_offsets() {
        let (got, lines) = feed_all(&[b"one\ntw", b"o\r\n\nthr", b"ee\nfour"], 100);
        assert_eq!(
            got,
            vec![
                (0, b"one".to_vec(), E),
                (4, b"two".to_vec(), E),
                (10, b"three".to_vec(), E),
            ]
        );
        assert_eq!(lines.start, 16, "the partial line starts here");
        assert_eq!(lines.pending(), 4);
    }

    #[test]
    fn long_lines_are_cut_and_their_rest_skipped() {
        // In one chunk.
        let (got, _) = feed_all(&[b"0123456789\nok\n"], 4);
        assert_eq!(got, vec![(0, b"0123".to_vec(), T), (11, b"ok".to_vec(), E)]);
        // Exactly max bytes plus CRLF is not too long.
        let (got, _) = feed_all(&[b"0123\r", b"\n"], 4);
        assert_eq!(got, vec![(0, b"0123".to_vec(), E)]);
        // Over many chunks without a newline: archived once, at once, then skipped.
        let mut chunks: Vec<&[u8]> = vec![b"ab"; 50];
        chunks.push(b"c\nnext\n");
        let (got, lines) = feed_all(&chunks, 5);
        assert_eq!(
            got,
            vec![(0, b"ababa".to_vec(), T), (102, b"next".to_vec(), E)]
        );
        assert_eq!(lines.start, 107);
        // While skipping, the checkpoint stays at the cut line's start.
        let (got, lines) = feed_all(&[b"xxxxxxxxxxxxxxx"], 5);
        assert_eq!(got, vec![(0, b"xxxxx".to_vec(), T)]);
        assert_eq!(lines.start, 0);
        assert_eq!(lines.pending(), 0, "nothing is held while skipping");
        // A carried head completed by a long tail.
        let (got, _) = feed_all(&[b"abc", b"defghij\n"], 5);
        assert_eq!(got, vec![(0, b"abcde".to_vec(), T)]);
    }

    #[test]
    fn an_incomplete_line_is_flushed_flagged_and_the_rest_is_a_new_line() {
        let mut got = Vec::new();
        let mut lines = Lines::at(0);
        let mut emit = |o, r: &[u8], f| got.push((o, r.to_vec(), f));
        lines.feed(b"done\npart", 0, 100, &mut emit);
        lines.flush_incomplete(9, &mut emit);
        lines.feed(b"ial\n", 9, 100, &mut emit);
        lines.flush_incomplete(13, &mut emit);
        assert_eq!(
            got,
            vec![
                (0, b"done".to_vec(), E),
                (5, b"part".to_vec(), RecordFlags::INCOMPLETE),
                (9, b"ial".to_vec(), E),
            ]
        );
        assert_eq!(lines.start, 13);
    }

    #[test]
    fn nul_and_invalid_utf8_are_data() {
        let (got, _) = feed_all(&[b"a\0b\n\xff\xfe\n"], 100);
        assert_eq!(
            got,
            vec![(0, b"a\0b".to_vec(), E), (4, b"\xff\xfe".to_vec(), E)]
        );
    }

    #[test]
    fn start_at_end_begins_after_the_last_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        std::fs::write(&p, b"one\ntwo\nthr").unwrap();
        let f = File::open(&p).unwrap();
        assert_eq!(end_position(&f, 11).unwrap(), 8);
        std::fs::write(&p, b"one\n").unwrap();
        assert_eq!(end_position(&f, 4).unwrap(), 4);
        std::fs::write(&p, b"partial").unwrap();
        assert_eq!(end_position(&f, 7).unwrap(), 0);
        assert_eq!(end_position(&f, 0).unwrap(), 0);
        let mut big = vec![b'x'; 70_000];
        big.push(b'y');
        std::fs::write(&p, &big).unwrap();
        assert_eq!(
            end_position(&f, big.len() as u64).unwrap(),
            big.len() as u64
        );
    }
}
