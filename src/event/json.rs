//! Minimal JSON string writing for the hot path: copy runs of bytes that need no
//! escaping in one go (checked eight bytes at a time), escape only what JSON requires.

/// Bytes that must be escaped inside a JSON string: `"`, `\` and controls below 0x20.
#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// True if any byte of the word needs escaping (exact, no false positives).
#[inline]
fn word_needs_escape(w: u64) -> bool {
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let below_space = w.wrapping_sub(LO * 0x20) & !w & HI;
    (below_space | has_zero(w ^ (LO * u64::from(b'"'))) | has_zero(w ^ (LO * u64::from(b'\\'))))
        != 0
}

/// Writes `s` as a JSON string, quotes included.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_str_body(out, s.as_bytes());
    out.push(b'"');
}

/// Writes the escaped body of a JSON string (no quotes). `bytes` must be UTF-8.
pub(crate) fn write_str_body(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(chunk) = bytes.get(i..i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            if !word_needs_escape(u64::from_le_bytes(w)) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        if needs_escape(b) {
            out.extend_from_slice(&bytes[start..i]);
            write_escape(out, b);
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

fn write_escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ]),
    }
}

/// Writes an RFC 5424 PARAM-VALUE as a JSON string, undoing its escapes (`\"`, `\\`,
/// `\]`); any other backslash is literal, as the RFC says.
pub(crate) fn write_sd_value(out: &mut Vec<u8>, v: &str) {
    out.push(b'"');
    let bytes = v.as_bytes();
    let mut rest = bytes;
    while let Some(i) = memchr::memchr(b'\\', rest) {
        write_str_body(out, &rest[..i]);
        match rest.get(i + 1) {
            Some(&c @ (b'"' | b'\\' | b']')) => {
                write_str_body(out, &[c]);
                rest = &rest[i + 2..];
            }
            _ => {
                out.extend_from_slice(b"\\\\");
                rest = &rest[i + 1..];
            }
        }
    }
    write_str_body(out, rest);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn word_check_is_exact() {
        for b in 0u8..=255 {
            for pos in 0..8 {
                let mut w = [b'a'; 8];
                w[pos] = b;
                assert_eq!(
                    word_needs_escape(u64::from_le_bytes(w)),
                    needs_escape(b),
                    "byte {b:#x} at {pos}"
                );
            }
        }
    }

    #[test]
    fn escapes_what_json_needs_and_parses_back() {
        let cases = [
            "",
            "plain ascii text that is longer than eight bytes",
            "quote \" backslash \\ slash /",
            "controls \n \r \t \u{8} \u{c} \u{0} \u{1f} \u{7f}",
            "unicode äöü ✓ 😀 \u{2028}",
            "\"\"\"\"\"\"\"\"\"",
            "1234567\n",
            "12345678\"",
        ];
        for s in cases {
            let j = json(s);
            let back: String = serde_json::from_str(&j).unwrap();
            assert_eq!(back, s);
        }
        assert_eq!(json("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
    }

    #[test]
    fn sd_values_are_unescaped() {
        let cases = [
            (r#"plain"#, "plain"),
            (r#"q\"uote"#, "q\"uote"),
            (r#"back\\slash"#, "back\\slash"),
            (r#"br\]acket"#, "br]acket"),
            (r#"other\n escape"#, "other\\n escape"),
            (r#"trailing\"#, "trailing\\"),
        ];
        for (raw, expect) in cases {
            let mut out = Vec::new();
            write_sd_value(&mut out, raw);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, expect, "{raw}");
        }
    }
}
