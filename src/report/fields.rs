//! The few ECS fields the report counts, read from an event's JSON without building a
//! `serde_json::Value` tree: [`EcsFields::parse`] walks the object once and keeps only
//! those fields, borrowing their strings. Building the whole tree (an allocation per
//! member) was most of the cost of a report over millions of events.
//!
//! Both forms give the same answers ([`EventFields`]): a dotted path (`source.ip`)
//! through nested objects, or written as a flat dotted key at any level, a value of
//! another type than asked for being absent.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
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

/// The fields [`EcsFields`] keeps: every path the aggregator asks for.
const WANTED: [&str; 18] = [
    "@timestamp",
    "tags",
    "message",
    "event.kind",
    "event.action",
    "event.outcome",
    "event.category",
    "event.id",
    "event.severity",
    "user.name",
    "user.target.name",
    "source.ip",
    "rule.id",
    "rule.name",
    "sealtrail.stream",
    "sealtrail.auth.attempts",
    "sealtrail.alert.key",
    "sealtrail.alert.evidence",
];

#[derive(Debug, Clone, PartialEq)]
enum Leaf<'a> {
    Str(Cow<'a, str>),
    U64(u64),
    /// An array: its strings, and other elements as JSON text.
    List(Vec<Item<'a>>),
    /// Any other value (another number, a bool, null, an object).
    Other,
}

#[derive(Debug, Clone, PartialEq)]
enum Item<'a> {
    Str(Cow<'a, str>),
    Json(&'a str),
}

/// An event's wanted fields, borrowed from its JSON text.
#[derive(Debug, Default)]
pub struct EcsFields<'a> {
    leaves: [Option<Leaf<'a>>; WANTED.len()],
}

impl<'a> EcsFields<'a> {
    /// Reads `json`; what is not a JSON object gives no fields (the event still counts,
    /// with nothing to count it by).
    pub fn parse(json: &'a [u8]) -> EcsFields<'a> {
        let mut f = EcsFields::default();
        let mut de = serde_json::Deserializer::from_slice(json);
        let ok = Object {
            prefix: "",
            out: &mut f,
        }
        .deserialize(&mut de)
        .is_ok();
        if ok {
            f
        } else {
            EcsFields::default()
        }
    }

    fn leaf(&self, path: &str) -> Option<&Leaf<'a>> {
        let i = WANTED.iter().position(|w| *w == path)?;
        self.leaves[i].as_ref()
    }
}

impl EventFields for EcsFields<'_> {
    fn str_at(&self, path: &str) -> Option<&str> {
        match self.leaf(path)? {
            Leaf::Str(s) => Some(s),
            _ => None,
        }
    }
    fn u64_at(&self, path: &str) -> Option<u64> {
        match self.leaf(path)? {
            Leaf::U64(n) => Some(*n),
            _ => None,
        }
    }
    fn has(&self, path: &str, want: &str) -> bool {
        match self.leaf(path) {
            Some(Leaf::Str(s)) => s == want,
            Some(Leaf::List(items)) => items.iter().any(|i| matches!(i, Item::Str(s) if s == want)),
            _ => false,
        }
    }
    fn texts(&self, path: &str) -> Vec<String> {
        match self.leaf(path) {
            Some(Leaf::List(items)) => items
                .iter()
                .map(|i| match i {
                    Item::Str(s) => s.to_string(),
                    Item::Json(t) => (*t).to_owned(),
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// What to do with the member `key` of the object at `prefix`.
enum Class {
    /// It is wanted path `i`.
    Leaf(usize),
    /// A wanted path lies below it.
    Descend,
    Skip,
}

/// Decided without building the member's path: most members are skipped.
fn classify(prefix: &str, key: &str) -> Class {
    let mut descend = false;
    for (i, w) in WANTED.iter().enumerate() {
        let rest = if prefix.is_empty() {
            Some(*w)
        } else {
            w.strip_prefix(prefix).and_then(|r| r.strip_prefix('.'))
        };
        let Some(rest) = rest else { continue };
        if rest == key {
            return Class::Leaf(i);
        }
        descend |= rest.strip_prefix(key).is_some_and(|r| r.starts_with('.'));
    }
    if descend {
        Class::Descend
    } else {
        Class::Skip
    }
}

/// Reads one JSON object whose members sit at `prefix`, keeping the wanted leaves and
/// descending only into members on the way to one. The first value met for a path is
/// kept, as `field` finds the flat key of a level before the nested one.
struct Object<'p, 'o, 'a> {
    prefix: &'p str,
    out: &'o mut EcsFields<'a>,
}

impl<'de, 'a> DeserializeSeed<'de> for Object<'_, '_, 'a>
where
    'de: 'a,
{
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'a> Visitor<'de> for Object<'_, '_, 'a>
where
    'de: 'a,
{
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match classify(self.prefix, &key) {
                Class::Leaf(i) => {
                    let leaf = map.next_value_seed(LeafSeed)?;
                    if self.out.leaves[i].is_none() {
                        self.out.leaves[i] = Some(leaf);
                    }
                }
                Class::Descend => {
                    let path = if self.prefix.is_empty() {
                        key.into_owned()
                    } else {
                        format!("{}.{key}", self.prefix)
                    };
                    // An object is read on; anything else holds nothing wanted.
                    let raw: &'de RawValue = map.next_value()?;
                    if raw.get().starts_with('{') {
                        let mut inner = serde_json::Deserializer::from_str(raw.get());
                        Object {
                            prefix: &path,
                            out: &mut *self.out,
                        }
                        .deserialize(&mut inner)
                        .map_err(de::Error::custom)?;
                    }
                }
                Class::Skip => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct LeafSeed;

impl<'de> DeserializeSeed<'de> for LeafSeed {
    type Value = Leaf<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Leaf<'de>, D::Error> {
        let raw: &'de RawValue = de::Deserialize::deserialize(d)?;
        let text = raw.get();
        let leaf = match text.as_bytes().first() {
            Some(b'"') => Leaf::Str(serde_json::from_str(text).map_err(de::Error::custom)?),
            Some(b'[') => {
                let mut inner = serde_json::Deserializer::from_str(text);
                Leaf::List(
                    ItemsSeed
                        .deserialize(&mut inner)
                        .map_err(de::Error::custom)?,
                )
            }
            _ => text.parse::<u64>().map_or(Leaf::Other, Leaf::U64),
        };
        Ok(leaf)
    }
}

struct ItemsSeed;

impl<'de> DeserializeSeed<'de> for ItemsSeed {
    type Value = Vec<Item<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Item<'de>>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed {
    type Value = Vec<Item<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Vec<Item<'de>>, S::Error> {
        let mut out = Vec::new();
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            let text = raw.get();
            out.push(if text.starts_with('"') {
                Item::Str(serde_json::from_str(text).map_err(de::Error::custom)?)
            } else {
                Item::Json(text)
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    /// Every wanted path answers as the `Value` does, on nested, flat-dotted, escaped,
    /// mistyped and odd input.
    #[test]
    fn answers_as_the_value_does() {
        let events = [
            json!({"@timestamp":"2026-12-01T10:00:00Z","event":{"category":["authentication","session"],"action":"ssh_login","outcome":"failure"},"source":{"ip":"203.0.113.5"},"user":{"name":"r\"o\\ot\u{e9}","target":{"name":"x"}},"sealtrail":{"auth":{"attempts":3}},"tags":["_parse_failure"]}),
            json!({"source.ip":"198.51.100.1","event.category":"authentication","sealtrail":{"auth.attempts":2,"alert":{"evidence":[1,"a",{"b":[2]},null]}}}),
            json!({"event":{"category":7,"action":["x"],"severity":"high","kind":"alert"},"source":"flat","user":{"name":null},"sealtrail.auth.attempts":-1,"tags":"_parse_failure"}),
            json!({"event":{"severity":21,"id":"s:1:alert:0"},"rule":{"id":"new_source","name":"Login from a new source"},"message":"m\nline","sealtrail":{"stream":"s","alert":{"key":"user:a"}},"sealtrail.auth":{"attempts":1.5}}),
            json!({"deep":{"event":{"kind":"alert"}},"event":{}}),
            json!([1, 2]),
            json!(null),
            json!("text"),
        ];
        for v in &events {
            let text = serde_json::to_vec(v).unwrap();
            let f = EcsFields::parse(&text);
            for p in WANTED {
                assert_eq!(f.str_at(p), v.str_at(p), "{p} of {v}");
                assert_eq!(f.u64_at(p), v.u64_at(p), "{p} of {v}");
                assert_eq!(f.texts(p), v.texts(p), "{p} of {v}");
                for want in ["authentication", "_parse_failure", "a"] {
                    assert_eq!(f.has(p, want), v.has(p, want), "{p} {want} of {v}");
                }
            }
        }
        let first = serde_json::to_vec(&events[0]).unwrap();
        let f = EcsFields::parse(&first);
        assert_eq!(f.str_at("user.name"), Some("r\"o\\ot\u{e9}"));
        assert!(f.has("event.category", "session"));
        assert_eq!(f.u64_at("sealtrail.auth.attempts"), Some(3));
        let second = serde_json::to_vec(&events[1]).unwrap();
        let f = EcsFields::parse(&second);
        assert_eq!(
            f.str_at("source.ip"),
            Some("198.51.100.1"),
            "a flat dotted key"
        );
        assert_eq!(f.u64_at("sealtrail.auth.attempts"), Some(2));
        assert_eq!(
            f.texts("sealtrail.alert.evidence"),
            ["1", "a", "{\"b\":[2]}", "null"]
        );
    }

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
            let e = EcsFields::parse(&ecs);
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

    #[test]
    fn what_is_not_json_gives_no_fields() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"event\":{\"kind\":\"alert\"}",
            b"\xff",
            b"{} x",
        ] {
            let f = EcsFields::parse(bad);
            assert!(WANTED.iter().all(|p| f.leaf(p).is_none()), "{bad:?}");
        }
    }
}
