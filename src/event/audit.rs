//! An application audit event: the JSON object an application sends to the audit API
//! ("who did what to which record, and was it allowed"), its validation, and what ECS
//! makes of it.
//!
//! One parse serves every stage: the audit API validates a request with it (a request
//! with one invalid event stores nothing), the normaliser decodes the journalled
//! object with it, and the ECS renderer reads it again from a sealed line's original.
//! The object is sealed verbatim; nothing of it is copied into the compact line.
//!
//! ```json
//! {"actor": "alice" | {"name": "alice", "id": "u-42"},
//!  "action": "record.read",
//!  "outcome": "success" | "failure" | "unknown",
//!  "resource": "patient/1234" | {"type": "patient", "id": "1234"},
//!  "reason": "…", "message": "…", "time": "2026-12-02T07:00:00Z",
//!  "source_ip": "198.51.100.7", "category": ["database"], "type": ["access"],
//!  "context": {…}}
//! ```
//!
//! `actor` and `action` are required; `outcome` defaults to `unknown`. Any other
//! member is refused, so a misspelt one is an error, not a silently dropped fact; what
//! ECS has no field for goes into `context`, which may hold any JSON object.

use std::borrow::Cow;
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::value::RawValue;

/// Longest `actor`, `action`, `reason`, resource and `message` text accepted.
pub const MAX_TEXT_BYTES: usize = 4096;
/// The `outcome` values ECS allows.
pub const OUTCOMES: [&str; 3] = ["success", "failure", "unknown"];

/// Why an object is not a valid audit event. The text names the member.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct AuditError(pub String);

/// A valid audit event. Strings borrow from the object's text where they hold no
/// escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent<'a> {
    /// ECS `user.name`: who acted.
    pub actor: Cow<'a, str>,
    /// ECS `user.id`.
    pub actor_id: Option<Cow<'a, str>>,
    /// ECS `event.action`.
    pub action: Cow<'a, str>,
    /// ECS `event.outcome`: one of [`OUTCOMES`].
    pub outcome: Cow<'a, str>,
    /// ECS `event.reason`: why it was allowed or refused.
    pub reason: Option<Cow<'a, str>>,
    /// `sealtrail.audit.resource.type`.
    pub resource_type: Option<Cow<'a, str>>,
    /// `sealtrail.audit.resource.id`.
    pub resource_id: Option<Cow<'a, str>>,
    /// ECS `message`; without one it is written from actor, action, resource, outcome.
    pub message: Option<Cow<'a, str>>,
    /// When it happened (`@timestamp`), ns since the epoch; else when it was received.
    pub time_ns: Option<i64>,
    /// ECS `source.ip`: where the actor came from, as the application saw it.
    pub source_ip: Option<IpAddr>,
    /// ECS `event.category`.
    pub category: Vec<Cow<'a, str>>,
    /// ECS `event.type`.
    pub kind_type: Vec<Cow<'a, str>>,
    /// `sealtrail.audit.context`: the object's `context`, as JSON text.
    pub context: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire<'a> {
    #[serde(borrow)]
    actor: &'a RawValue,
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow, default)]
    outcome: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    resource: Option<&'a RawValue>,
    #[serde(borrow, default)]
    reason: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    source_ip: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    category: Vec<Cow<'a, str>>,
    #[serde(borrow, default, rename = "type")]
    kind_type: Vec<Cow<'a, str>>,
    #[serde(borrow, default)]
    context: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireActor<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireResource<'a> {
    #[serde(borrow, rename = "type", default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
}

fn err(m: impl Into<String>) -> AuditError {
    AuditError(m.into())
}

fn text<'a>(member: &str, v: Cow<'a, str>) -> Result<Cow<'a, str>, AuditError> {
    if v.is_empty() {
        return Err(err(format!("{member}: must not be empty")));
    }
    if v.len() > MAX_TEXT_BYTES {
        return Err(err(format!(
            "{member}: {} bytes, at most {MAX_TEXT_BYTES} are allowed",
            v.len()
        )));
    }
    Ok(v)
}

fn opt_text<'a>(member: &str, v: Option<Cow<'a, str>>) -> Result<Option<Cow<'a, str>>, AuditError> {
    v.map(|v| text(member, v)).transpose()
}

fn keywords<'a>(member: &str, v: Vec<Cow<'a, str>>) -> Result<Vec<Cow<'a, str>>, AuditError> {
    if v.len() > 16 {
        return Err(err(format!("{member}: at most 16 values are allowed")));
    }
    v.into_iter()
        .map(|k| {
            let k = text(member, k)?;
            if k.len() > 64 || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(err(format!(
                    "{member}: {k:?} is not an ECS keyword (letters, digits, _; at most 64)"
                )));
            }
            Ok(k)
        })
        .collect()
}

/// `json` without the whitespace between its tokens, so it fits on one ECS line.
fn minified(json: &str) -> Cow<'_, str> {
    let mut in_string = false;
    let mut escaped = false;
    let mut out: Option<String> = None;
    for (i, c) in json.char_indices() {
        let keep = if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            true
        } else {
            in_string = c == '"';
            !matches!(c, ' ' | '\t' | '\n' | '\r')
        };
        match (&mut out, keep) {
            (Some(o), true) => o.push(c),
            (Some(_), false) => {}
            (None, true) => {}
            (None, false) => out = Some(json[..i].to_string()),
        }
    }
    out.map_or(Cow::Borrowed(json), Cow::Owned)
}

impl<'a> AuditEvent<'a> {
    /// Parses and checks one event object.
    pub fn parse(json: &'a str) -> Result<AuditEvent<'a>, AuditError> {
        // serde would read a struct from an array too, member by member.
        if !json.trim_start().starts_with('{') {
            return Err(err("an audit event is a JSON object"));
        }
        let w: Wire<'a> = serde_json::from_str(json).map_err(|e| err(e.to_string()))?;
        let (actor, actor_id) = if w.actor.get().starts_with('"') {
            let name: Cow<'a, str> =
                serde_json::from_str(w.actor.get()).map_err(|e| err(format!("actor: {e}")))?;
            (name, None)
        } else {
            let a: WireActor<'a> = serde_json::from_str(w.actor.get())
                .map_err(|e| err(format!("actor: {e} (a name, or {{\"name\":…,\"id\":…}})")))?;
            (a.name, a.id)
        };
        let (resource_type, resource_id) = match w.resource {
            None => (None, None),
            Some(r) if r.get().starts_with('"') => {
                let id: Cow<'a, str> =
                    serde_json::from_str(r.get()).map_err(|e| err(format!("resource: {e}")))?;
                (None, Some(id))
            }
            Some(r) => {
                let r: WireResource<'a> = serde_json::from_str(r.get()).map_err(|e| {
                    err(format!("resource: {e} (an id, or {{\"type\":…,\"id\":…}})"))
                })?;
                if r.kind.is_none() && r.id.is_none() {
                    return Err(err("resource: give a type, an id or both"));
                }
                (r.kind, r.id)
            }
        };
        let outcome = match w.outcome {
            None => Cow::Borrowed("unknown"),
            Some(o) if OUTCOMES.contains(&o.as_ref()) => o,
            Some(o) => {
                return Err(err(format!(
                    "outcome: {o:?} is not one of success, failure, unknown"
                )))
            }
        };
        let time_ns = match &w.time {
            None => None,
            Some(t) => Some(
                chrono::DateTime::parse_from_rfc3339(t)
                    .ok()
                    .and_then(|d| d.timestamp_nanos_opt())
                    .ok_or_else(|| {
                        err(format!(
                            "time: {t:?} is not an RFC 3339 time such as 2026-12-02T07:00:00Z"
                        ))
                    })?,
            ),
        };
        let source_ip = match &w.source_ip {
            None => None,
            Some(ip) => Some(
                ip.parse::<IpAddr>()
                    .map_err(|_| err(format!("source_ip: {ip:?} is not an IP address")))?,
            ),
        };
        let context = match w.context {
            None => None,
            Some(c) if c.get().starts_with('{') => Some(minified(c.get())),
            Some(_) => return Err(err("context: must be a JSON object")),
        };
        Ok(AuditEvent {
            actor: text("actor", actor)?,
            actor_id: opt_text("actor.id", actor_id)?,
            action: text("action", w.action)?,
            outcome,
            reason: opt_text("reason", w.reason)?,
            resource_type: opt_text("resource.type", resource_type)?,
            resource_id: opt_text("resource.id", resource_id)?,
            message: opt_text("message", w.message)?,
            time_ns,
            source_ip,
            category: keywords("category", w.category)?,
            kind_type: keywords("type", w.kind_type)?,
            context,
        })
    }

    /// The same event, owning its strings.
    pub fn into_owned(self) -> AuditEvent<'static> {
        fn own(c: Cow<'_, str>) -> Cow<'static, str> {
            Cow::Owned(c.into_owned())
        }
        AuditEvent {
            actor: own(self.actor),
            actor_id: self.actor_id.map(own),
            action: own(self.action),
            outcome: own(self.outcome),
            reason: self.reason.map(own),
            resource_type: self.resource_type.map(own),
            resource_id: self.resource_id.map(own),
            message: self.message.map(own),
            time_ns: self.time_ns,
            source_ip: self.source_ip,
            category: self.category.into_iter().map(own).collect(),
            kind_type: self.kind_type.into_iter().map(own).collect(),
            context: self.context.map(own),
        }
    }

    /// ECS `message` when the event has none: `alice record.read patient/1234: success`.
    pub fn summary(&self) -> String {
        let mut s = format!("{} {}", self.actor, self.action);
        match (&self.resource_type, &self.resource_id) {
            (Some(t), Some(id)) => s.push_str(&format!(" {t}/{id}")),
            (Some(x), None) | (None, Some(x)) => s.push_str(&format!(" {x}")),
            (None, None) => {}
        }
        s.push_str(": ");
        s.push_str(&self.outcome);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_short_and_the_long_forms() {
        let e = AuditEvent::parse(r#"{"actor":"alice","action":"record.read"}"#).unwrap();
        assert_eq!(e.actor, "alice");
        assert_eq!(e.outcome, "unknown");
        assert_eq!(e.summary(), "alice record.read: unknown");
        let e = AuditEvent::parse(
            r#"{"actor":{"name":"bob","id":"u-7"},"action":"record.update","outcome":"failure",
               "resource":{"type":"patient","id":"12"},"reason":"not on the care team",
               "time":"2026-12-02T07:00:00.5+01:00","source_ip":"2001:db8::5",
               "category":["database"],"type":["change","denied"],"context":{"ticket":[1,2]}}"#,
        )
        .unwrap();
        assert_eq!(e.actor_id.as_deref(), Some("u-7"));
        assert_eq!(e.resource_type.as_deref(), Some("patient"));
        assert_eq!(e.time_ns, Some(1_796_191_200_500_000_000));
        assert_eq!(e.source_ip, Some("2001:db8::5".parse().unwrap()));
        assert_eq!(e.context.as_deref(), Some(r#"{"ticket":[1,2]}"#));
        assert_eq!(e.summary(), "bob record.update patient/12: failure");
        let owned = e.clone().into_owned();
        assert_eq!(owned, e);
        let e = AuditEvent::parse(r#"{"actor":"a","action":"x","resource":"doc-1"}"#).unwrap();
        assert_eq!(e.summary(), "a x doc-1: unknown");
        // A pretty-printed context becomes one line; its strings keep their spaces.
        let e = AuditEvent::parse(
            "{\"actor\":\"a\",\"action\":\"x\",\"context\":{\n  \"q\": \"a \\\" b\",\n  \"n\": [1, 2]\n}}",
        )
        .unwrap();
        assert_eq!(e.context.as_deref(), Some(r#"{"q":"a \" b","n":[1,2]}"#));
    }

    #[test]
    fn every_mistake_names_its_member() {
        for (json, says) in [
            (r#"{"action":"x"}"#, "actor"),
            (r#"{"actor":"a"}"#, "action"),
            (r#"{"actor":"","action":"x"}"#, "actor: must not be empty"),
            (r#"{"actor":"a","action":"x","outcome":"ok"}"#, "outcome"),
            (r#"{"actor":"a","action":"x","time":"yesterday"}"#, "time"),
            (
                r#"{"actor":"a","action":"x","source_ip":"10.0.0"}"#,
                "source_ip",
            ),
            (r#"{"actor":"a","action":"x","context":[1]}"#, "context"),
            (
                r#"{"actor":"a","action":"x","category":["a b"]}"#,
                "category",
            ),
            (r#"{"actor":"a","action":"x","resource":{}}"#, "resource"),
            (r#"{"actor":{"id":"1"},"action":"x"}"#, "actor"),
            (
                r#"{"actor":"a","action":"x","user":"b"}"#,
                "unknown field `user`",
            ),
            (r#"{"actor":"a","action":7}"#, "invalid type"),
            (r#"["actor"]"#, "a JSON object"),
        ] {
            let e = AuditEvent::parse(json).unwrap_err();
            assert!(e.0.contains(says), "{json}: {e}");
        }
        let long = format!(
            r#"{{"actor":"a","action":"{}"}}"#,
            "x".repeat(MAX_TEXT_BYTES + 1)
        );
        assert!(AuditEvent::parse(&long).unwrap_err().0.contains("at most"));
    }
}
