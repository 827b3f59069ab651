//! RFC 6587 framing for syslog over a byte stream, detected per frame.
//!
//! A pure state machine: feed it whatever one socket read returned, get complete frames
//! back through a callback. Frames that lie entirely inside the input are handed out as
//! slices of it (no copy); only a frame split across reads is gathered in an internal
//! buffer, which never grows beyond the maximum message size.
//!
//! Rules (decided per frame, so a sender may mix them):
//!
//! * **Octet counting** (`MSG-LEN SP SYSLOG-MSG`): the frame starts with a nonzero digit,
//!   at most [`MAX_COUNT_DIGITS`] digits, one space, and the counted message starts with
//!   `<`. A count above [`FrameDecoder::max_count`] is taken as garbage, not as a frame
//!   length: that frame is read as a line instead (rsyslog does the same with counts
//!   above its maximum frame size). Without this, `99999999999999999999 <1>x` would make
//!   the connection swallow everything that follows.
//! * **Otherwise LF-terminated.** One `\r` immediately before the `\n` is part of the
//!   delimiter and removed: Windows agents and many network devices end lines with CRLF,
//!   and a stray control character at the end of every such event helps nobody. (rsyslog
//!   keeps it and shows it as `#015`; we consider CRLF a delimiter, as most line
//!   protocols do.) A `\r` anywhere else is data. A NUL byte is data too, not a
//!   delimiter: rsyslog only splits on NUL when explicitly configured to, and splitting
//!   would change the message that the original must keep verbatim.
//! * **Empty lines** (also a lone `\r\n`) are skipped: they carry no message.
//! * **Over-long messages** (more than `max` bytes): the first `max` bytes become the
//!   frame, flagged [`RecordFlags::TRUNCATED`], and the rest of that frame is skipped
//!   (a line up to its `\n`, a counted frame exactly its count), so the following frames
//!   stay intact and the connection stays up.
//! * **End of stream inside a frame** (including a count larger than what came):
//!   [`FrameDecoder::finish`] hands out what arrived, flagged [`RecordFlags::INCOMPLETE`].

use crate::record::RecordFlags;

/// Longest octet count accepted (10 digits); longer digit runs are garbage.
pub const MAX_COUNT_DIGITS: usize = 10;

/// Default ceiling for an octet count, whatever the message limit (64 MiB): far above any
/// real syslog message, so a bigger count is garbage rather than a frame to skip.
pub const DEFAULT_MAX_COUNT: usize = 64 * 1024 * 1024;

/// Capacity a decoder keeps between frames; a bigger buffer is freed once its frame ends.
const RETAINED_BUFFER_BYTES: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At a frame boundary; `buf` may hold the first bytes of an undecided header.
    Start,
    /// Inside an octet-counted frame with this many body bytes still to come.
    Octet { remaining: usize },
    /// Inside an LF-terminated frame.
    Line,
}

/// What the bytes at a frame start say about its framing.
enum Header {
    NeedMore,
    Octet { count: usize, header_len: usize },
    Line,
}

/// Per-connection RFC 6587 frame decoder. See the module documentation for the rules.
#[derive(Debug)]
pub struct FrameDecoder {
    max: usize,
    max_count: usize,
    state: State,
    /// Kept bytes of the current frame (at most `max`), or an undecided header.
    buf: Vec<u8>,
    /// Bytes of the current frame seen so far, kept or skipped (header not counted).
    seen: usize,
    /// Whether the last byte seen in the current line was `\r`.
    last_cr: bool,
}

impl FrameDecoder {
    /// A decoder keeping at most `max_message_bytes` (at least 1) of each frame.
    pub fn new(max_message_bytes: usize) -> FrameDecoder {
        let max = max_message_bytes.max(1);
        FrameDecoder {
            max,
            max_count: DEFAULT_MAX_COUNT.max(max),
            state: State::Start,
            buf: Vec::new(),
            seen: 0,
            last_cr: false,
        }
    }

    /// The largest octet count taken as a frame length.
    pub fn max_count(&self) -> usize {
        self.max_count
    }

    /// Overrides the largest octet count taken as a frame length (at least `1`).
    pub fn with_max_count(mut self, max_count: usize) -> FrameDecoder {
        self.max_count = max_count.max(1);
        self
    }

    /// True when no partial frame is pending.
    pub fn is_idle(&self) -> bool {
        self.state == State::Start && self.buf.is_empty()
    }

    /// Decodes `input`, calling `emit(frame, flags)` for every frame it completes.
    pub fn decode(&mut self, mut input: &[u8], emit: &mut impl FnMut(&[u8], RecordFlags)) {
        while !input.is_empty() {
            match self.state {
                State::Start => {
                    if self.buf.is_empty() && input[0] == b'\n' {
                        input = &input[1..];
                        continue;
                    }
                    match classify(&self.buf, input, self.max_count) {
                        Header::NeedMore => {
                            // Only digits and one space so far: at most 11 bytes.
                            self.buf.extend_from_slice(input);
                            return;
                        }
                        Header::Octet { count, header_len } => {
                            let from_input = header_len.saturating_sub(self.buf.len());
                            input = input.get(from_input..).unwrap_or_default();
                            self.buf.clear();
                            self.seen = 0;
                            self.state = State::Octet { remaining: count };
                        }
                        Header::Line => {
                            // Undecided header bytes are the start of the line.
                            self.seen = self.buf.len();
                            self.buf.truncate(self.max);
                            self.last_cr = false;
                            self.state = State::Line;
                        }
                    }
                }
                State::Line => match memchr::memchr(b'\n', input) {
                    Some(i) => {
                        let seg = &input[..i];
                        if self.seen == 0 {
                            let line = seg.strip_suffix(b"\r").unwrap_or(seg);
                            if !line.is_empty() {
                                self.emit_capped(line, RecordFlags::EMPTY, emit);
                            }
                        } else {
                            self.keep(seg);
                            let effective = self.seen - usize::from(self.last_cr);
                            if effective > 0 {
                                let flags = self.trunc_flag(effective);
                                let n = effective.min(self.buf.len());
                                emit(&self.buf[..n], flags);
                            }
                        }
                        input = &input[i + 1..];
                        self.reset();
                    }
                    None => {
                        self.keep(input);
                        return;
                    }
                },
                State::Octet { remaining } => {
                    let take = remaining.min(input.len());
                    let (body, rest) = input.split_at(take);
                    let done = take == remaining;
                    if self.seen == 0 && done {
                        self.emit_capped(body, RecordFlags::EMPTY, emit);
                    } else {
                        self.keep(body);
                        if done {
                            emit(&self.buf, self.trunc_flag(self.seen));
                        }
                    }
                    if done {
                        self.reset();
                    } else {
                        self.state = State::Octet {
                            remaining: remaining - take,
                        };
                    }
                    input = rest;
                }
            }
        }
    }

    /// End of stream: hands out a pending partial frame, flagged `INCOMPLETE`.
    pub fn finish(&mut self, emit: &mut impl FnMut(&[u8], RecordFlags)) {
        let seen = match self.state {
            State::Start => self.buf.len(),
            State::Line | State::Octet { .. } => self.seen,
        };
        if seen > 0 {
            let flags = self.trunc_flag(seen) | RecordFlags::INCOMPLETE;
            let n = self.max.min(self.buf.len());
            emit(&self.buf[..n], flags);
        }
        self.reset();
    }

    fn emit_capped(
        &self,
        frame: &[u8],
        extra: RecordFlags,
        emit: &mut impl FnMut(&[u8], RecordFlags),
    ) {
        let flags = self.trunc_flag(frame.len()) | extra;
        emit(&frame[..frame.len().min(self.max)], flags);
    }

    fn trunc_flag(&self, len: usize) -> RecordFlags {
        if len > self.max {
            RecordFlags::TRUNCATED
        } else {
            RecordFlags::EMPTY
        }
    }

    /// Adds bytes of the current frame, keeping at most `max` of them.
    fn keep(&mut self, seg: &[u8]) {
        let room = self.max.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&seg[..seg.len().min(room)]);
        self.seen += seg.len();
        if let Some(&last) = seg.last() {
            self.last_cr = last == b'\r';
        }
    }

    fn reset(&mut self) {
        // A long frame split across reads grew the buffer; an idle connection must not
        // keep that memory (many quiet connections would add up).
        if self.buf.capacity() > RETAINED_BUFFER_BYTES {
            self.buf = Vec::new();
        }
        self.buf.clear();
        self.seen = 0;
        self.last_cr = false;
        self.state = State::Start;
    }
}

/// Looks at the bytes at a frame start (`prefix` followed by `input`) and decides its
/// framing. `prefix` only ever holds bytes that left the decision open.
fn classify(prefix: &[u8], input: &[u8], max_count: usize) -> Header {
    let at = |i: usize| -> Option<u8> {
        match prefix.get(i) {
            Some(&b) => Some(b),
            None => input.get(i - prefix.len()).copied(),
        }
    };
    let mut count = match at(0) {
        Some(d @ b'1'..=b'9') => u64::from(d - b'0'),
        Some(_) => return Header::Line,
        None => return Header::NeedMore,
    };
    let mut digits = 1;
    loop {
        match at(digits) {
            None => return Header::NeedMore,
            Some(d @ b'0'..=b'9') => {
                if digits == MAX_COUNT_DIGITS {
                    return Header::Line;
                }
                count = count * 10 + u64::from(d - b'0');
                digits += 1;
            }
            Some(b' ') => break,
            Some(_) => return Header::Line,
        }
    }
    match at(digits + 1) {
        None => Header::NeedMore,
        Some(b'<') => match usize::try_from(count) {
            Ok(count) if count <= max_count => Header::Octet {
                count,
                header_len: digits + 1,
            },
            _ => Header::Line,
        },
        Some(_) => Header::Line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: RecordFlags = RecordFlags::EMPTY;
    const T: RecordFlags = RecordFlags::TRUNCATED;
    const I: RecordFlags = RecordFlags::INCOMPLETE;

    type Frames = Vec<(Vec<u8>, RecordFlags)>;

    /// Feeds `chunks` one after the other, then ends the stream.
    fn run(max: usize, chunks: &[&[u8]]) -> Frames {
        let mut d = FrameDecoder::new(max);
        let mut out = Vec::new();
        let mut emit = |f: &[u8], fl: RecordFlags| out.push((f.to_vec(), fl));
        for c in chunks {
            d.decode(c, &mut emit);
        }
        d.finish(&mut emit);
        assert!(d.is_idle());
        out
    }

    fn frames(list: &[(&str, RecordFlags)]) -> Frames {
        list.iter()
            .map(|(s, f)| (s.as_bytes().to_vec(), *f))
            .collect()
    }

    /// Same result for the whole input, for every split into two reads, and byte by byte.
    fn check_all_splits(max: usize, input: &[u8], expected: &Frames) {
        assert_eq!(&run(max, &[input]), expected, "whole input");
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(&run(max, &[a, b]), expected, "split at {cut}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(&run(max, &bytes), expected, "byte by byte");
    }

    #[test]
    fn lf_framing() {
        check_all_splits(
            100,
            b"<13>one\n<13>two\n",
            &frames(&[("<13>one", E), ("<13>two", E)]),
        );
    }

    #[test]
    fn crlf_strips_only_the_cr_before_lf() {
        check_all_splits(
            100,
            b"a\r\nb\rc\r\n\r\r\n",
            &frames(&[("a", E), ("b\rc", E), ("\r", E)]),
        );
    }

    #[test]
    fn nul_is_data_not_a_delimiter() {
        check_all_splits(100, b"a\0b\n", &frames(&[("a\0b", E)]));
    }

    #[test]
    fn octet_counting() {
        check_all_splits(
            100,
            b"5 <1>ab3 <2>10 <3>x\ny\nz 1",
            &frames(&[("<1>ab", E), ("<2>", E), ("<3>x\ny\nz 1", E)]),
        );
    }

    #[test]
    fn mixed_per_frame() {
        // counted, line, counted (holding an LF), line that starts with digits but is
        // not a count, line with a leading zero count, line whose count is not
        // followed by '<'.
        check_all_splits(
            100,
            b"4 <1>a<2>line\n7 <3>x\nyz12 ab\n0 <4>zero\n3 abc\n",
            &frames(&[
                ("<1>a", E),
                ("<2>line", E),
                ("<3>x\nyz", E),
                ("12 ab", E),
                ("0 <4>zero", E),
                ("3 abc", E),
            ]),
        );
    }

    #[test]
    fn overlong_line_is_truncated_and_rest_skipped() {
        check_all_splits(
            5,
            b"abcdefgh\nxy\n12345678 x9\nok\n",
            &frames(&[("abcde", T), ("xy", E), ("12345", T), ("ok", E)]),
        );
    }

    #[test]
    fn line_of_exactly_max_plus_cr_is_not_truncated() {
        check_all_splits(
            5,
            b"abcde\r\nabcdef\r\n",
            &frames(&[("abcde", E), ("abcde", T)]),
        );
    }

    #[test]
    fn overlong_counted_frame_skips_exactly_its_count() {
        check_all_splits(
            5,
            b"9 <1>abc\nde3 <2>4 <3>x\n",
            &frames(&[("<1>ab", T), ("<2>", E), ("<3>x", E)]),
        );
    }

    #[test]
    fn count_larger_than_data_at_eof_is_incomplete() {
        check_all_splits(
            100,
            b"3 <1>10 <2>abc",
            &frames(&[("<1>", E), ("<2>abc", I)]),
        );
        // Truncated and incomplete at once.
        check_all_splits(4, b"10 <2>abcdef", &frames(&[("<2>a", T | I)]));
    }

    #[test]
    fn garbage_count_is_read_as_a_line() {
        check_all_splits(
            100,
            b"99999999999999999999 <1>x\n<2>y\n",
            &frames(&[("99999999999999999999 <1>x", E), ("<2>y", E)]),
        );
        // 11 digits: too many for a count.
        check_all_splits(
            100,
            b"12345678901 <1>x\n",
            &frames(&[("12345678901 <1>x", E)]),
        );
        // Also at end of stream without a newline.
        check_all_splits(
            100,
            b"99999999999999999999 <1>x",
            &frames(&[("99999999999999999999 <1>x", I)]),
        );
    }

    #[test]
    fn count_above_max_count_is_read_as_a_line() {
        let mut d = FrameDecoder::new(100).with_max_count(50);
        assert_eq!(d.max_count(), 50);
        let mut out = Vec::new();
        d.decode(b"51 <1>x\n50 <2>", &mut |f, fl| out.push((f.to_vec(), fl)));
        d.finish(&mut |f, fl| out.push((f.to_vec(), fl)));
        assert_eq!(out, frames(&[("51 <1>x", E), ("<2>", I)]));
    }

    #[test]
    fn empty_lines_are_skipped() {
        check_all_splits(
            100,
            b"\n\n\r\na\n\n\r\n\nb\n",
            &frames(&[("a", E), ("b", E)]),
        );
    }

    #[test]
    fn end_of_stream_inside_a_frame() {
        check_all_splits(100, b"a\npartial", &frames(&[("a", E), ("partial", I)]));
        check_all_splits(100, b"a\n12", &frames(&[("a", E), ("12", I)]));
        check_all_splits(100, b"a\n12 ", &frames(&[("a", E), ("12 ", I)]));
        check_all_splits(3, b"abcdef", &frames(&[("abc", T | I)]));
        check_all_splits(100, b"a\n", &frames(&[("a", E)]));
        assert!(run(100, &[]).is_empty());
    }

    #[test]
    fn undecided_header_longer_than_max_is_capped() {
        check_all_splits(3, b"12345 x\n", &frames(&[("123", T)]));
    }

    #[test]
    fn zero_max_is_clamped_to_one() {
        assert_eq!(run(0, &[b"ab\n"]), frames(&[("a", T)]));
    }

    #[test]
    fn decoder_is_reusable_after_finish() {
        let mut d = FrameDecoder::new(10);
        let mut out = Vec::new();
        d.decode(b"3 <1", &mut |f, fl| out.push((f.to_vec(), fl)));
        assert!(!d.is_idle());
        d.finish(&mut |f, fl| out.push((f.to_vec(), fl)));
        d.decode(b"x\n", &mut |f, fl| out.push((f.to_vec(), fl)));
        assert_eq!(out, frames(&[("<1", I), ("x", E)]));
    }
}
