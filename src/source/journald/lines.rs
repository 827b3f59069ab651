//! Lines from a pipe, bounded in length, read in a way a `select!` may cancel.
//!
//! `journalctl --output=json` writes one entry per line. A line longer than the limit
//! keeps its first `max` bytes and is flagged truncated; the rest of it is skipped up
//! to its newline, so one huge entry costs at most `max` bytes of memory and never
//! ends the source. The only await point is [`Lines::fill`], a single `read` into the
//! read buffer: cancelling it loses nothing (tokio's `read` on a pipe is cancel safe),
//! and a partial line stays here until its newline comes.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::record::RecordFlags;

/// Read buffer: the size of a pipe's buffer, so one `read` takes what the child wrote.
pub const READ_BUFFER_BYTES: usize = 64 * 1024;

/// One line (without its `\n`) and what happened to it.
#[derive(Debug, PartialEq, Eq)]
pub struct Line<'a> {
    pub bytes: &'a [u8],
    /// `TRUNCATED` when the line was longer than the limit; `INCOMPLETE` when the
    /// stream ended before its newline.
    pub flags: RecordFlags,
}

/// Splits a byte stream into bounded lines.
pub struct Lines<R> {
    inner: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// The line being assembled when it spans reads (or was cut).
    line: Vec<u8>,
    /// `line` was handed out: clear it before the next one.
    handed_out: bool,
    /// The current line passed the limit: drop bytes up to its newline.
    skipping: bool,
    max: usize,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    pub fn new(inner: R, max: usize) -> Lines<R> {
        Lines {
            inner,
            buf: vec![0u8; READ_BUFFER_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
            line: Vec::new(),
            handed_out: false,
            skipping: false,
            max: max.max(1),
        }
    }

    /// Reads once (cancel safe); `Ok(0)` at the end of the stream. Call it only after
    /// [`next_line`](Self::next_line) returned `None`: the buffer is drained then.
    pub async fn fill(&mut self) -> std::io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let n = self.inner.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    /// The next complete line among the bytes already read, without any I/O.
    pub fn next_line(&mut self) -> Option<Line<'_>> {
        if self.handed_out {
            self.handed_out = false;
            self.line.clear();
            // One huge line must not keep its buffer for good.
            if self.line.capacity() > 4 * READ_BUFFER_BYTES {
                self.line.shrink_to(READ_BUFFER_BYTES);
            }
        }
        let avail = &self.buf[self.start..self.end];
        match memchr::memchr(b'\n', avail) {
            Some(i) => {
                let (from, to) = (self.start, self.start + i);
                self.start = to + 1;
                let mut flags = RecordFlags::EMPTY;
                if self.skipping {
                    self.skipping = false;
                    flags.insert(RecordFlags::TRUNCATED);
                } else if self.line.is_empty() {
                    // The whole line is in the buffer: hand it out without copying.
                    let len = to - from;
                    if len > self.max {
                        flags.insert(RecordFlags::TRUNCATED);
                    }
                    return Some(Line {
                        bytes: &self.buf[from..from + len.min(self.max)],
                        flags,
                    });
                } else if self.append(from, to) {
                    flags.insert(RecordFlags::TRUNCATED);
                }
                self.handed_out = true;
                Some(Line {
                    bytes: &self.line,
                    flags,
                })
            }
            None => {
                if !self.skipping && self.append(self.start, self.end) {
                    self.skipping = true;
                }
                self.start = self.end;
                None
            }
        }
    }

    /// At the end of the stream: the last line if it had no newline.
    pub fn take_partial(&mut self) -> Option<Line<'_>> {
        if self.handed_out {
            self.handed_out = false;
            self.line.clear();
        }
        // Whatever is still buffered belongs to the partial line.
        if self.start < self.end {
            if !self.skipping && self.append(self.start, self.end) {
                self.skipping = true;
            }
            self.start = self.end;
        }
        if self.line.is_empty() && !self.skipping {
            return None;
        }
        let mut flags = RecordFlags::INCOMPLETE;
        if std::mem::take(&mut self.skipping) {
            flags.insert(RecordFlags::TRUNCATED);
        }
        self.handed_out = true;
        Some(Line {
            bytes: &self.line,
            flags,
        })
    }

    /// Appends `buf[from..to]` to the line up to the limit; true if bytes were cut.
    fn append(&mut self, from: usize, to: usize) -> bool {
        let room = self.max.saturating_sub(self.line.len());
        let take = (to - from).min(room);
        self.line.extend_from_slice(&self.buf[from..from + take]);
        to - from > take
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: RecordFlags = RecordFlags::EMPTY;
    const T: RecordFlags = RecordFlags::TRUNCATED;
    const I: RecordFlags = RecordFlags::INCOMPLETE;

    /// Every line of `input` as read in chunks of `chunk` bytes.
    async fn collect(input: &[u8], chunk: usize, max: usize) -> Vec<(Vec<u8>, RecordFlags)> {
        let (mut tx, rx) = tokio::io::duplex(chunk);
        let data = input.to_vec();
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for c in data.chunks(chunk) {
                tx.write_all(c).await.unwrap();
            }
        });
        let mut lines = Lines::new(rx, max);
        let mut out = Vec::new();
        loop {
            while let Some(l) = lines.next_line() {
                out.push((l.bytes.to_vec(), l.flags));
            }
            if lines.fill().await.unwrap() == 0 {
                break;
            }
        }
        if let Some(l) = lines.take_partial() {
            out.push((l.bytes.to_vec(), l.flags));
        }
        writer.await.unwrap();
        out
    }

    #[tokio::test]
    async fn splits_bounds_and_flags_at_every_chunk_size() {
        let long = vec![b'x'; 50];
        let mut input = b"a\n\nbc\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\n0123456789\nlast");
        let want = vec![
            (b"a".to_vec(), E),
            (b"".to_vec(), E),
            (b"bc".to_vec(), E),
            (vec![b'x'; 10], T),
            (b"0123456789".to_vec(), E),
            (b"last".to_vec(), I),
        ];
        for chunk in [1, 2, 3, 7, 11, 64, 4096] {
            assert_eq!(collect(&input, chunk, 10).await, want, "chunk {chunk}");
        }
        // A cut line that also never ends.
        let got = collect(&[b'y'; 30], 4, 10).await;
        assert_eq!(got, vec![(vec![b'y'; 10], I | T)]);
        assert!(collect(b"", 4, 10).await.is_empty());
        assert_eq!(collect(b"ok\n", 4, 10).await, vec![(b"ok".to_vec(), E)]);
    }

    #[tokio::test]
    async fn a_line_larger_than_the_read_buffer() {
        let mut input = vec![b'z'; 3 * READ_BUFFER_BYTES + 5];
        input.push(b'\n');
        input.extend_from_slice(b"next\n");
        let got = collect(&input, 8192, 4 * READ_BUFFER_BYTES).await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0.len(), 3 * READ_BUFFER_BYTES + 5);
        assert_eq!(got[0].1, E);
        assert_eq!(got[1], (b"next".to_vec(), E));
        let got = collect(&input, 8192, 1000).await;
        assert_eq!(got[0], (vec![b'z'; 1000], T));
        assert_eq!(got[1], (b"next".to_vec(), E));
    }
}
