//! ECS rendering of a stream of segment content: a [`Write`] adapter that splits what
//! it is given into lines and writes each one's ECS rendering (see [`super::render_ecs`]).
//!
//! Memory stays bounded whatever the content: a line that is not a compact line is
//! copied through as it streams past, and a compact line is buffered only up to
//! [`MAX_COMPACT_LINE`] bytes.

use std::io::Write;

/// The longest compact line rendered. A line holds one journal record (at most 17 MiB)
/// with its escapes; a longer line is refused rather than buffered.
pub const MAX_COMPACT_LINE: usize = 24 << 20;

/// What the current line is, once its first bytes are known.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Fewer than [`PROBE`] bytes seen (kept in `partial`).
    Start,
    /// Not a compact line: copied through to its `\n`.
    Pass,
    /// A compact line: buffered in `partial` to its `\n`.
    Compact,
}

/// Bytes needed to tell a compact line: `{"v":`.
const PROBE: usize = 5;

/// Renders every `\n`-terminated line written to it into `inner`.
pub struct EcsLines<W: Write> {
    inner: W,
    stream: String,
    state: State,
    partial: Vec<u8>,
    rendered: Vec<u8>,
    ecs: super::ecs::EcsWriter,
    /// 1-based number of the line being read, for errors.
    line: u64,
}

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

impl<W: Write> EcsLines<W> {
    pub fn new(inner: W, stream: &str) -> Self {
        EcsLines {
            inner,
            stream: stream.to_string(),
            state: State::Start,
            partial: Vec::new(),
            rendered: Vec::new(),
            ecs: super::ecs::EcsWriter::default(),
            line: 1,
        }
    }

    /// Checks that the content ended with a complete line, and flushes.
    pub fn finish(mut self) -> std::io::Result<W> {
        if self.state != State::Start || !self.partial.is_empty() {
            return Err(invalid(format!(
                "line {} has no terminating newline",
                self.line
            )));
        }
        self.inner.flush()?;
        Ok(self.inner)
    }

    fn render_partial(&mut self) -> std::io::Result<()> {
        self.rendered.clear();
        self.ecs
            .render_line(&self.partial, &self.stream, &mut self.rendered)
            .map_err(|e| invalid(format!("line {}: {e}", self.line)))?;
        self.rendered.push(b'\n');
        self.inner.write_all(&self.rendered)
    }

    fn end_line(&mut self) {
        self.partial.clear();
        self.state = State::Start;
        self.line += 1;
    }
}

impl<W: Write> Write for EcsLines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            let nl = memchr::memchr(b'\n', rest);
            match self.state {
                State::Start => {
                    let want = PROBE - self.partial.len();
                    let upto = nl.map_or(rest.len(), |i| i + 1).min(want);
                    self.partial.extend_from_slice(&rest[..upto]);
                    rest = &rest[upto..];
                    if self.partial.last() == Some(&b'\n') {
                        // A short line: never a compact one.
                        self.inner.write_all(&self.partial)?;
                        self.end_line();
                    } else if self.partial.len() == PROBE {
                        if super::is_compact(&self.partial) {
                            self.state = State::Compact;
                        } else {
                            self.inner.write_all(&self.partial)?;
                            self.partial.clear();
                            self.state = State::Pass;
                        }
                    }
                }
                State::Pass => {
                    let upto = nl.map_or(rest.len(), |i| i + 1);
                    self.inner.write_all(&rest[..upto])?;
                    rest = &rest[upto..];
                    if nl.is_some() {
                        self.end_line();
                    }
                }
                State::Compact => {
                    let upto = nl.unwrap_or(rest.len());
                    if self.partial.len() + upto > MAX_COMPACT_LINE {
                        return Err(invalid(format!(
                            "line {}: a compact line longer than {} MiB is not rendered (inspect --sealed prints it)",
                            self.line,
                            MAX_COMPACT_LINE >> 20
                        )));
                    }
                    self.partial.extend_from_slice(&rest[..upto]);
                    rest = &rest[upto..];
                    if nl.is_some() {
                        rest = &rest[1..];
                        self.render_partial()?;
                        self.end_line();
                    }
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_in_chunks(content: &[u8], chunk: usize) -> std::io::Result<Vec<u8>> {
        let mut w = EcsLines::new(Vec::new(), "s");
        for c in content.chunks(chunk.max(1)) {
            w.write_all(c)?;
        }
        w.finish()
    }

    #[test]
    fn renders_the_same_whatever_the_chunking() {
        let compact = br#"{"v":2,"pos":3,"rcv":0,"o":"hello"}"#;
        let mut content = Vec::new();
        content.extend_from_slice(b"{}\n\nabc\n");
        content.extend_from_slice(compact);
        content.extend_from_slice(b"\n{\"@timestamp\":\"x\"}\n");
        let whole = render_in_chunks(&content, content.len()).unwrap();
        for chunk in 1..12 {
            assert_eq!(render_in_chunks(&content, chunk).unwrap(), whole, "{chunk}");
        }
        let text = String::from_utf8(whole).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[..3], ["{}", "", "abc"]);
        assert!(lines[3].contains(r#""id":"s:3""#), "{}", lines[3]);
        assert_eq!(lines[4], r#"{"@timestamp":"x"}"#);
    }

    #[test]
    fn an_unterminated_or_oversized_line_is_an_error_and_others_stream() {
        assert!(render_in_chunks(b"abc\nno newline", 4).is_err());
        assert!(render_in_chunks(br#"{"v":2,"pos":3"#, 4).is_err());
        // A long line that is not compact streams through without being buffered.
        let long = vec![b'x'; MAX_COMPACT_LINE + 10];
        let mut w = EcsLines::new(std::io::sink(), "s");
        w.write_all(&long).unwrap();
        assert!(w.partial.is_empty());
        w.write_all(b"\n").unwrap();
        w.finish().unwrap();
        let mut big = br#"{"v":2,"o":""#.to_vec();
        big.resize(MAX_COMPACT_LINE + 10, b'a');
        assert!(render_in_chunks(&big, 1 << 20).is_err());
    }
}
