//! One event line of a segment and its parsed view: a compact line (FORMAT.md §10.1)
//! read back into a [`SealedEvent`], or an ECS line as written (alerts, the daemon's own
//! events) read as JSON.

use std::borrow::Cow;

use serde_json::Value;

use crate::event::{compact, ecs::EcsWriter, is_compact, SealedEvent};

/// One line of a segment's content (without its `\n`), and its place.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    pub bytes: &'a [u8],
    /// 0-based line number in the segment: the event's Merkle leaf index.
    pub index: u64,
}

/// What a line says.
#[derive(Debug)]
pub enum View<'a> {
    Compact(Box<SealedEvent<'a>>),
    /// An ECS event as written (any line that is not a compact line).
    Ecs(Value),
    /// A line that could not be read (only in unverified segments, or a compact line
    /// of a version this build does not know): the reason.
    Unparsed(String),
}

impl<'a> View<'a> {
    pub fn of(line: &'a [u8]) -> View<'a> {
        if is_compact(line) {
            match compact::parse(line) {
                Ok(ev) => View::Compact(Box::new(ev)),
                Err(e) => View::Unparsed(e.to_string()),
            }
        } else {
            match serde_json::from_slice(line) {
                Ok(v @ Value::Object(_)) => View::Ecs(v),
                Ok(_) => View::Unparsed("not a JSON object".into()),
                Err(e) => View::Unparsed(e.to_string()),
            }
        }
    }

    /// `event.created`: when the daemon received (or raised) it, the time the seals
    /// commit to (`first_event_ns`/`last_event_ns`). For an ECS line without it, its
    /// `@timestamp`.
    pub fn received_ns(&self) -> Option<i64> {
        match self {
            View::Compact(ev) => Some(ev.received_ns),
            View::Ecs(v) => ecs_time(v, "/event/created").or_else(|| ecs_time(v, "/@timestamp")),
            View::Unparsed(_) => None,
        }
    }

    /// `@timestamp`.
    pub fn timestamp_ns(&self) -> Option<i64> {
        match self {
            View::Compact(ev) => Some(ev.time_ns()),
            View::Ecs(v) => ecs_time(v, "/@timestamp"),
            View::Unparsed(_) => None,
        }
    }

    /// `event.original`: the line as received.
    pub fn original(&self) -> Option<Cow<'_, str>> {
        match self {
            View::Compact(ev) => Some(Cow::Borrowed(&ev.original)),
            View::Ecs(v) => v
                .pointer("/event/original")
                .and_then(Value::as_str)
                .map(Cow::Borrowed),
            View::Unparsed(_) => None,
        }
    }
}

fn ecs_time(v: &Value, pointer: &str) -> Option<i64> {
    let s = v.pointer(pointer)?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()?
        .timestamp_nanos_opt()
}

/// One event handed on by the reader.
#[derive(Debug)]
pub struct Event<'a> {
    pub line: Line<'a>,
    pub view: View<'a>,
    /// The segment's stream (its seal's).
    pub stream: &'a str,
    /// The segment's object key.
    pub location: &'a str,
    /// False only for events of a refused segment handed on with `include_unverified`.
    pub verified: bool,
}

impl Event<'_> {
    /// `event.id`: `<stream>:<position>` for a compact line, the line's own for an ECS
    /// line (an alert's `<stream>:<position>:alert:<n>`); `None` if it has none.
    pub fn id(&self) -> Option<String> {
        match &self.view {
            View::Compact(ev) => Some(format!("{}:{}", self.stream, ev.position)),
            View::Ecs(v) => v
                .pointer("/event/id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            View::Unparsed(_) => None,
        }
    }

    /// Appends the ECS rendering of the line (no `\n`), exactly as `sealtrail inspect`
    /// prints it; an event of an unverified segment also carries
    /// `"sealtrail":{"verified":false}`.
    pub fn render_ecs(&self, w: &mut EcsWriter, out: &mut Vec<u8>) {
        let start = out.len();
        match &self.view {
            View::Compact(ev) => w.write(ev, self.stream, out),
            _ => out.extend_from_slice(self.line.bytes),
        }
        if !self.verified {
            mark_unverified(out, start);
        }
    }

    /// The ECS event as JSON (what [`Event::render_ecs`] writes).
    pub fn ecs(&self, w: &mut EcsWriter) -> Value {
        let mut out = Vec::new();
        self.render_ecs(w, &mut out);
        serde_json::from_slice(&out).unwrap_or_else(|_| {
            // An unreadable line of an unverified segment: its text, as a string.
            let mut m = serde_json::Map::new();
            m.insert(
                "event".into(),
                serde_json::json!({"original": String::from_utf8_lossy(self.line.bytes)}),
            );
            m.insert("sealtrail".into(), serde_json::json!({"verified": false}));
            Value::Object(m)
        })
    }
}

/// Adds `sealtrail.verified = false` to the JSON object in `out[start..]`.
fn mark_unverified(out: &mut Vec<u8>, start: usize) {
    let Ok(mut v) = serde_json::from_slice::<Value>(&out[start..]) else {
        let text = String::from_utf8_lossy(&out[start..]).into_owned();
        out.truncate(start);
        let v = serde_json::json!({"event": {"original": text}, "sealtrail": {"verified": false}});
        out.extend_from_slice(v.to_string().as_bytes());
        return;
    };
    if let Some(obj) = v.as_object_mut() {
        let st = obj
            .entry("sealtrail")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(st) = st.as_object_mut() {
            st.insert("verified".into(), Value::Bool(false));
        }
    }
    out.truncate(start);
    out.extend_from_slice(v.to_string().as_bytes());
}
