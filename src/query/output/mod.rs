//! Output formats: JSON lines (the full ECS event, exactly as `sealtrail inspect`
//! renders it), CSV with chosen columns, and a table for a terminal. Each segment's
//! matches are rendered on the reader's worker threads ([`render`]) and written in
//! archive order by the caller.

pub mod csv;
pub mod table;

use serde_json::Value;

use crate::event::ecs::EcsWriter;

use super::event::Event;
use super::filter::Filter;
use super::reader::Segment;
use super::QueryError;

/// Columns when none are chosen (CSV and table).
pub const DEFAULT_COLUMNS: &[&str] = &[
    "@timestamp",
    "host.name",
    "event.action",
    "event.outcome",
    "user.name",
    "source.ip",
    "message",
];

/// The column that says whether the event's segment verified (`true`/`false`); added
/// to CSV and table output with `--include-unverified` when not chosen.
pub const VERIFIED_COLUMN: &str = "sealtrail.verified";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
    Table,
}

/// How to render matches.
#[derive(Debug, Clone)]
pub struct Render {
    pub format: Format,
    pub columns: Vec<String>,
}

/// The value of a column (an ECS path) in an event, as text: strings as they are,
/// numbers and booleans as JSON writes them, arrays of them joined by `|`, objects as
/// compact JSON; an absent field is empty. A path's dots walk nested objects, and a
/// key that itself holds dots (a structured-data id) is found too.
pub fn cell(ev: &Event<'_>, ecs: &Value, path: &str) -> String {
    if path == VERIFIED_COLUMN {
        return ev.verified.to_string();
    }
    match lookup(ecs, path) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a.iter().map(scalar).collect::<Vec<_>>().join("|"),
        Some(v) => scalar(v),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `a.b.c` in nested objects, trying the longest dotted key first at each level.
pub fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(v);
    }
    let obj = v.as_object()?;
    if let Some(found) = obj.get(path) {
        return Some(found);
    }
    let mut split = path.len();
    while let Some(i) = path[..split].rfind('.') {
        if let Some(inner) = obj.get(&path[..i]) {
            if let Some(found) = lookup(inner, &path[i + 1..]) {
                return Some(found);
            }
        }
        split = i;
    }
    None
}

/// The events of `seg` that pass `filter`, rendered; and how many.
pub fn render(seg: &Segment, filter: &Filter, how: &Render) -> Result<(Vec<u8>, u64), QueryError> {
    let mut out = Vec::new();
    let mut matched = 0u64;
    if !filter.stream_matches(&seg.stream) {
        return Ok((out, 0));
    }
    let mut ecs = EcsWriter::default();
    let mut rows = match how.format {
        Format::Csv => Some(csv::Rows::new()),
        _ => None,
    };
    // Cheapest first: the content's bytes, then the time, then the fields.
    let probe = filter.probe();
    let ranges = probe.as_ref().map(|p| p.candidates(seg.content()));
    let lines: Box<dyn Iterator<Item = crate::query::Line<'_>>> = match &ranges {
        Some(r) => Box::new(seg.lines_at(r)),
        None => Box::new(seg.lines()),
    };
    for line in lines {
        let ev = seg.event(line);
        if !seg.in_window(ev.view.received_ns()) || !filter.matches(&ev, &mut ecs) {
            continue;
        }
        matched += 1;
        match (how.format, &mut rows) {
            (Format::Jsonl, _) => {
                ev.render_ecs(&mut ecs, &mut out);
                out.push(b'\n');
            }
            (Format::Csv, Some(rows)) => {
                let v = ev.ecs(&mut ecs);
                rows.row(how.columns.iter().map(|c| cell(&ev, &v, c)))?;
            }
            _ => {
                let v = ev.ecs(&mut ecs);
                let cells: Vec<String> = how.columns.iter().map(|c| cell(&ev, &v, c)).collect();
                table::row(&how.columns, &cells, &mut out);
            }
        }
    }
    if let Some(rows) = rows {
        out = rows.finish()?;
    }
    Ok((out, matched))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_walk_nested_and_dotted_keys() {
        let v = json!({"user": {"name": "root"}, "log": {"syslog": {"structured_data": {"ex@1.2": {"k": "v"}}}},
                       "@timestamp": "t", "event": {"category": ["a", "b"], "n": 3}});
        assert_eq!(lookup(&v, "user.name"), Some(&json!("root")));
        assert_eq!(lookup(&v, "@timestamp"), Some(&json!("t")));
        assert_eq!(
            lookup(&v, "log.syslog.structured_data.ex@1.2.k"),
            Some(&json!("v"))
        );
        assert_eq!(lookup(&v, "user.id"), None);
        assert_eq!(lookup(&v, "event.category"), Some(&json!(["a", "b"])));
    }
}
