//! The HTML writer: one escaping function for everything that did not come from this
//! file's own literals, and a few helpers that build markup only through it.
//!
//! Everything from the archive (log lines, user names, addresses, rule messages, stream
//! ids, object keys) and from the command line goes through [`esc`] (element content
//! and quoted attribute values alike: it escapes `&`, `<`, `>`, `"` and `'`). Control
//! characters other than tab and newline are replaced with U+FFFD, so a log line cannot
//! smuggle in bytes a browser or PDF converter treats specially.

use std::fmt::Write as _;

/// Escapes text for HTML element content and for quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A page under construction. Markup is appended as literal `&'static str` (the
/// writer's own) or as text that [`esc`] escapes.
#[derive(Default)]
pub struct Html {
    buf: String,
}

impl Html {
    pub fn new() -> Html {
        Html::default()
    }

    /// The writer's own markup (a literal, never data).
    pub fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.buf.push_str(markup);
        self
    }

    /// Markup built elsewhere by this module's rules (the SVG timeline, whose every
    /// piece of data went through [`esc`] or is a number).
    pub fn trusted(&mut self, markup: &Trusted) -> &mut Self {
        self.buf.push_str(&markup.0);
        self
    }

    /// Text, escaped.
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.buf.push_str(&esc(s));
        self
    }

    /// `<tag>text</tag>` with a literal tag.
    pub fn el(&mut self, tag: &'static str, s: &str) -> &mut Self {
        let _ = write!(self.buf, "<{tag}>{}</{tag}>", esc(s));
        self
    }

    /// `<tag class="c">text</tag>`.
    pub fn el_class(&mut self, tag: &'static str, class: &'static str, s: &str) -> &mut Self {
        let _ = write!(self.buf, "<{tag} class=\"{class}\">{}</{tag}>", esc(s));
        self
    }

    /// A heading with an id (for the table of contents).
    pub fn heading(&mut self, level: u8, id: &'static str, s: &str) -> &mut Self {
        let level = level.clamp(1, 6);
        let _ = write!(self.buf, "<h{level} id=\"{id}\">{}</h{level}>", esc(s));
        self
    }

    /// A table: literal header cells, escaped body cells. A cell starting with `#` is
    /// right-aligned (numbers); the `#` is not shown.
    pub fn table(
        &mut self,
        class: &'static str,
        head: &[&'static str],
        rows: &[Vec<String>],
    ) -> &mut Self {
        let _ = write!(self.buf, "<table class=\"{class}\"><thead><tr>");
        for h in head {
            let _ = write!(self.buf, "<th>{h}</th>");
        }
        self.buf.push_str("</tr></thead><tbody>");
        if rows.is_empty() {
            let _ = write!(
                self.buf,
                "<tr><td colspan=\"{}\" class=\"none\">none</td></tr>",
                head.len().max(1)
            );
        }
        for row in rows {
            self.buf.push_str("<tr>");
            for cell in row {
                match cell.strip_prefix('#') {
                    Some(n) => {
                        let _ = write!(self.buf, "<td class=\"num\">{}</td>", esc(n));
                    }
                    None => {
                        let _ = write!(self.buf, "<td>{}</td>", esc(cell));
                    }
                }
            }
            self.buf.push_str("</tr>");
        }
        self.buf.push_str("</tbody></table>");
        self
    }

    /// A definition list of (literal term, escaped value).
    pub fn facts(&mut self, items: &[(&'static str, String)]) -> &mut Self {
        self.buf.push_str("<dl class=\"facts\">");
        for (k, v) in items {
            let _ = write!(self.buf, "<dt>{k}</dt><dd>{}</dd>", esc(v));
        }
        self.buf.push_str("</dl>");
        self
    }

    /// A bulleted list of escaped items.
    pub fn list(&mut self, class: &'static str, items: &[String]) -> &mut Self {
        let _ = write!(self.buf, "<ul class=\"{class}\">");
        for i in items {
            let _ = write!(self.buf, "<li>{}</li>", esc(i));
        }
        self.buf.push_str("</ul>");
        self
    }

    pub fn finish(self) -> String {
        self.buf
    }
}

/// Markup whose data parts were all escaped (or are numbers) when it was built.
#[derive(Debug, Clone, Default)]
pub struct Trusted(pub(super) String);

impl Trusted {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_controls() {
        assert_eq!(
            esc(r#"<script>alert(1)</script>"#),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(
            esc(r#""><img src=x onerror=alert(1)>"#),
            "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(esc("a'b&c"), "a&#39;b&amp;c");
        assert_eq!(esc("x\u{0}y\u{1b}[31m\tz\n"), "x\u{FFFD}y\u{FFFD}[31m\tz\n");
        assert_eq!(esc("Zürich ✓"), "Zürich ✓");
    }

    #[test]
    fn table_cells_and_facts_are_escaped() {
        let mut h = Html::new();
        h.table("t", &["user", "n"], &[vec!["<b>".into(), "#3".into()]])
            .facts(&[("k", "\"v\"".into())])
            .list("l", &["<i>".into()])
            .el("p", "&");
        let s = h.finish();
        assert!(
            s.contains("<td>&lt;b&gt;</td><td class=\"num\">3</td>"),
            "{s}"
        );
        assert!(s.contains("<dd>&quot;v&quot;</dd>"), "{s}");
        assert!(s.contains("<li>&lt;i&gt;</li>"), "{s}");
        assert!(s.contains("<p>&amp;</p>"), "{s}");
        assert!(!s.contains("<b>") && !s.contains("<i>"));
    }

    #[test]
    fn an_empty_table_says_none() {
        let mut h = Html::new();
        h.table("t", &["a", "b"], &[]);
        assert!(h.finish().contains("colspan=\"2\" class=\"none\">none"));
    }
}
