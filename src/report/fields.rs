//! The fields the report counts an event by ([`EventFields`]), from either form of it:
//! the ECS `Value` the verified reader already parsed (alerts, the daemon's own events,
//! lines sealed before compact lines), or a compact line's sealed event itself
//! ([`CompactFields`]), whose ECS need not be written and parsed back for the few
//! fields the aggregator asks. Rendering and parsing every event's ECS was most of the
//! cost of a report over millions of events.

use serde_json::Value;

/// What the aggregator asks of an event.
pub trait EventFields {
    /// The string at `path`.
    fn str_at(&self, path: &str) -> Option<&str>;
    /// The unsigned integer at `path`.
    fn u64_at(&self, path: &str) -> Option<u64>;
    /// Whether `path` is the string `want`, or an array holding it.
    fn has(&self, path: &str, want: &str) -> bool;
    /// The array at `path`, its strings as they are and other values as JSON text.
    fn texts(&self, path: &str) -> Vec<String>;
    /// `@timestamp` as unix ns.
    fn time_ns(&self) -> Option<i64> {
        let t = chrono::DateTime::parse_from_rfc3339(self.str_at("@timestamp")?).ok()?;
        t.timestamp_nanos_opt()
    }
}

impl EventFields for Value {
    fn str_at(&self, path: &str) -> Option<&str> {
        super::aggregate::field(self, path).and_then(Value::as_str)
    }
    fn u64_at(&self, path: &str) -> Option<u64> {
        super::aggregate::field(self, path).and_then(Value::as_u64)
    }
    fn has(&self, path: &str, want: &str) -> bool {
        match super::aggregate::field(self, path) {
            Some(Value::String(s)) => s == want,
            Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(want)),
            _ => false,
        }
    }
    fn texts(&self, path: &str) -> Vec<String> {
        super::aggregate::field(self, path)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| match x.as_str() {
                        Some(s) => s.to_owned(),
                        None => x.to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The fields the aggregator counts an event (not an alert) by, of a compact line's ECS
/// rendering (FORMAT §10.3), and its time, taken from the sealed event itself: no ECS
/// is written or read. Not for an application audit event (its fields come from its
/// object: render it). A compact line is never an alert, so nothing else is asked of
/// it; a field the aggregator starts to ask of events must be added here (the test
/// `a_compact_line_answers_as_its_ecs_does` compares the fields it lists).
pub struct CompactFields<'e, 'a> {
    ev: &'e crate::event::SealedEvent<'a>,
    /// `source.ip` as text.
    ip: Option<String>,
}

impl<'e, 'a> CompactFields<'e, 'a> {
    /// `None` for an application audit event.
    pub fn new(ev: &'e crate::event::SealedEvent<'a>) -> Option<Self> {
        if ev.audit.is_some() {
            return None;
        }
        let ip = ev
            .auth
            .as_ref()
            .and_then(|a| a.source_ip)
            .map(|ip| ip.to_string());
        Some(CompactFields { ev, ip })
    }
}

impl EventFields for CompactFields<'_, '_> {
    fn str_at(&self, path: &str) -> Option<&str> {
        let a = self.ev.auth.as_ref();
        match path {
            "event.kind" => Some("event"),
            "event.action" => a.map(|a| a.action.as_ref()),
            "event.outcome" => a.map(|a| a.outcome.as_ref()),
            "user.name" => a.and_then(|a| a.user.as_deref()).filter(|s| !s.is_empty()),
            "user.target.name" => a
                .and_then(|a| a.target_user.as_deref())
                .filter(|s| !s.is_empty()),
            "source.ip" => self.ip.as_deref(),
            _ => None,
        }
    }
    fn u64_at(&self, path: &str) -> Option<u64> {
        match path {
            "sealtrail.auth.attempts" => self.ev.auth.as_ref().map(|a| u64::from(a.attempts)),
            _ => None,
        }
    }
    fn has(&self, path: &str, want: &str) -> bool {
        match path {
            "event.category" => self
                .ev
                .auth
                .as_ref()
                .is_some_and(|a| a.category.iter().any(|c| c == want)),
            "tags" => crate::event::Tags::from_name(want).is_some_and(|t| self.ev.tags.contains(t)),
            _ => false,
        }
    }
    fn texts(&self, _path: &str) -> Vec<String> {
        Vec::new()
    }
    fn time_ns(&self) -> Option<i64> {
        Some(self.ev.time_ns())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields the aggregator counts an event (not an alert) by: what
    /// [`CompactFields`] answers.
    const EVENT_FIELDS: [&str; 9] = [
        "tags",
        "event.kind",
        "event.action",
        "event.outcome",
        "event.category",
        "user.name",
        "user.target.name",
        "source.ip",
        "sealtrail.auth.attempts",
    ];

    /// From the sealed event itself, a compact line answers as its rendered ECS does,
    /// over every golden case.
    #[test]
    fn a_compact_line_answers_as_its_ecs_does() {
        let lines = crate::event::tests::golden_compact_lines();
        let mut w = crate::event::ecs::EcsWriter::default();
        let (mut compared, mut with_ip) = (0, 0);
        for line in &lines {
            let ev = crate::event::compact::parse(line).unwrap();
            let Some(c) = CompactFields::new(&ev) else {
                assert!(ev.audit.is_some());
                continue;
            };
            let mut ecs = Vec::new();
            w.write(&ev, "golden", &mut ecs);
            let e: Value = serde_json::from_slice(&ecs).unwrap();
            let what = String::from_utf8_lossy(&ecs);
            for p in EVENT_FIELDS {
                assert_eq!(c.str_at(p), e.str_at(p), "{p} of {what}");
                assert_eq!(
                    c.u64_at(p).unwrap_or(0),
                    e.u64_at(p).unwrap_or(0),
                    "{p} of {what}"
                );
                for want in [
                    "authentication",
                    "session",
                    "process",
                    "_parse_failure",
                    "_truncated",
                ] {
                    assert_eq!(c.has(p, want), e.has(p, want), "{p} {want} of {what}");
                }
            }
            assert_eq!(c.time_ns(), e.time_ns(), "{what}");
            compared += 1;
            with_ip += usize::from(c.str_at("source.ip").is_some());
        }
        assert!(
            compared > 200 && with_ip > 20,
            "{compared} lines, {with_ip} with source.ip"
        );
    }
}
