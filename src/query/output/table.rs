//! A plain table for a terminal: one row per event, each column cut to a fixed width
//! (the last one is not cut), control characters shown as spaces.

/// Width of a column by its name; the last column takes what is left.
fn width(column: &str) -> usize {
    match column {
        "@timestamp" | "event.created" => 30,
        "source.ip" => 20,
        "event.outcome" => 8,
        "event.id" => 24,
        "sealtrail.verified" => 8,
        _ => 18,
    }
}

fn push_cell(out: &mut Vec<u8>, text: &str, width: Option<usize>) {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match width {
        None => out.extend_from_slice(clean.as_bytes()),
        Some(w) => {
            let n = clean.chars().count();
            if n > w {
                let cut: String = clean.chars().take(w.saturating_sub(1)).collect();
                out.extend_from_slice(cut.as_bytes());
                out.extend_from_slice("…".as_bytes());
            } else {
                out.extend_from_slice(clean.as_bytes());
                out.extend(std::iter::repeat_n(b' ', w - n));
            }
            out.extend_from_slice(b"  ");
        }
    }
}

/// Appends one row (and `\n`).
pub fn row(columns: &[String], cells: &[String], out: &mut Vec<u8>) {
    for (i, (c, text)) in columns.iter().zip(cells).enumerate() {
        let last = i + 1 == columns.len();
        push_cell(out, text, (!last).then(|| width(c)));
    }
    out.push(b'\n');
}

/// The header row.
pub fn header(columns: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    row(columns, columns, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_cut_to_their_width_and_the_last_is_not() {
        let cols: Vec<String> = vec!["source.ip".into(), "message".into()];
        let mut out = Vec::new();
        row(
            &cols,
            &["2001:db8:ffff:ffff::1".into(), "a\tlong message".into()],
            &mut out,
        );
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s, "2001:db8:ffff:ffff:…  a long message\n");
    }
}
