//! `only = { ... }` of a `[[forward]]`: which events it sends. Every listed field must
//! match (a field matches when the event has one of its values); an empty filter sends
//! everything. Events left out still move the forwarder's cursor, and are counted.
//!
//! Detector alerts are matched by the same fields: `kind` `alert`, `category`
//! `intrusion_detection`, `action` the rule id; they have no `outcome` (a filter on it
//! leaves them out), and their severity is the one they are sent with
//! ([`AlertView::syslog_severity`]). So `category = ["authentication",
//! "intrusion_detection"]` sends the authentication events and the alerts.

use serde::Deserialize;

use crate::detect::AlertView;
use crate::event::SealedEvent;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// ECS `event.kind` values: `event` (everything received) or `alert` (the
    /// detector's).
    #[serde(default, deserialize_with = "de_kinds")]
    pub kind: Vec<String>,
    /// ECS `event.category` values, e.g. `["authentication"]`.
    #[serde(default)]
    pub category: Vec<String>,
    /// ECS `event.action` values, e.g. `["ssh_login", "sudo"]`.
    #[serde(default)]
    pub action: Vec<String>,
    /// ECS `event.outcome` values: `success`, `failure`, `unknown`.
    #[serde(default)]
    pub outcome: Vec<String>,
    /// Syslog severity at least this urgent: 0 (emerg) to 7 (debug); an event without
    /// a priority counts as 5 (notice).
    #[serde(default, deserialize_with = "de_severity")]
    pub max_severity: Option<u8>,
}

fn de_kinds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    match v.iter().find(|k| !matches!(k.as_str(), "event" | "alert")) {
        Some(k) => Err(serde::de::Error::custom(format!(
            "unknown kind `{k}`: `event` or `alert`"
        ))),
        None => Ok(v),
    }
}

fn de_severity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    let v = u8::deserialize(d)?;
    if v > 7 {
        return Err(serde::de::Error::custom("must be 0 (emerg) to 7 (debug)"));
    }
    Ok(Some(v))
}

impl Filter {
    pub fn matches(&self, ev: &SealedEvent<'_>) -> bool {
        let auth = ev.auth.as_ref();
        // An application audit event has the same fields, from its object.
        let audit = ev.audit.as_ref();
        let categories = auth.into_iter().flat_map(|a| a.category.iter()).chain(
            audit
                .into_iter()
                .flat_map(|a| a.category.iter().map(|c| c.as_ref())),
        );
        let action = auth
            .map(|a| a.action.as_ref())
            .or(audit.map(|a| a.action.as_ref()));
        let outcome = auth
            .map(|a| a.outcome.as_ref())
            .or(audit.map(|a| a.outcome.as_ref()));
        any(&self.kind, std::iter::once("event"))
            && any(&self.category, categories)
            && any(&self.action, action.into_iter())
            && any(&self.outcome, outcome.into_iter())
            && self
                .max_severity
                .is_none_or(|max| ev.priority.map_or(5, |p| p & 7) <= max)
    }

    pub fn matches_alert(&self, a: &AlertView) -> bool {
        any(&self.kind, std::iter::once("alert"))
            && any(&self.category, a.event.category.iter().map(String::as_str))
            && any(&self.action, std::iter::once(a.event.action.as_str()))
            && self.outcome.is_empty()
            && self
                .max_severity
                .is_none_or(|max| a.syslog_severity() <= max)
    }
}

/// Whether `want` is empty (no condition) or holds one of `have`.
fn any<'a>(want: &[String], mut have: impl Iterator<Item = &'a str>) -> bool {
    want.is_empty() || have.any(|h| want.iter().any(|w| w == h))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::event::{Message, StructuredData, Tags};

    fn ev(priority: Option<u8>, outcome: Option<&'static str>) -> SealedEvent<'static> {
        SealedEvent {
            position: 0,
            received_ns: 0,
            ingress: None,
            peer: None,
            tls_client: None,
            cred: None,
            file: None,
            original: Cow::Borrowed("x"),
            original_bytes: None,
            timestamp_ns: None,
            priority,
            version: None,
            hostname: None,
            appname: None,
            procid: None,
            msgid: None,
            structured_data: StructuredData::None,
            message: Message::Span(0, 1),
            tags: Tags::default(),
            auth: outcome.map(crate::forward::sample_auth),
            journal: None,
            audit: None,
        }
    }

    #[test]
    fn every_listed_field_must_match() {
        assert!(
            Filter::default().matches(&ev(None, None)),
            "empty: everything"
        );
        let f = Filter {
            category: vec!["authentication".into()],
            outcome: vec!["failure".into()],
            ..Filter::default()
        };
        assert!(f.matches(&ev(None, Some("failure"))));
        assert!(!f.matches(&ev(None, Some("success"))));
        assert!(!f.matches(&ev(None, None)), "no auth fields: no category");
        let sev = Filter {
            max_severity: Some(4),
            ..Filter::default()
        };
        assert!(sev.matches(&ev(Some(8 + 3), None)), "err passes warning");
        assert!(!sev.matches(&ev(Some(8 + 6), None)), "info does not");
        assert!(
            !sev.matches(&ev(None, None)),
            "no priority counts as notice"
        );
    }

    #[test]
    fn audit_events_match_by_their_own_category_action_and_outcome() {
        let object =
            r#"{"actor":"a","action":"record.read","outcome":"failure","category":["database"]}"#;
        let mut e = ev(None, None);
        e.audit = Some(crate::event::audit::AuditEvent::parse(object).unwrap());
        let f = |category: &[&str], action: &[&str], outcome: &[&str]| Filter {
            category: category.iter().map(|s| s.to_string()).collect(),
            action: action.iter().map(|s| s.to_string()).collect(),
            outcome: outcome.iter().map(|s| s.to_string()).collect(),
            ..Filter::default()
        };
        assert!(f(&["database"], &["record.read"], &["failure"]).matches(&e));
        assert!(!f(&["authentication"], &[], &[]).matches(&e));
        assert!(!f(&[], &["record.update"], &[]).matches(&e));
        assert!(!f(&[], &[], &["success"]).matches(&e));
    }

    #[test]
    fn alerts_match_by_kind_category_action_and_severity() {
        let a = crate::forward::rfc5424::tests::sample_alert();
        assert!(Filter::default().matches_alert(&a));
        let auth_and_alerts = Filter {
            category: vec!["authentication".into(), "intrusion_detection".into()],
            ..Filter::default()
        };
        assert!(auth_and_alerts.matches_alert(&a));
        assert!(auth_and_alerts.matches(&ev(None, Some("failure"))));
        assert!(!auth_and_alerts.matches(&ev(None, None)));
        let only_alerts = Filter {
            kind: vec!["alert".into()],
            ..Filter::default()
        };
        assert!(only_alerts.matches_alert(&a));
        assert!(!only_alerts.matches(&ev(None, Some("failure"))));
        let rule = |r: &str| Filter {
            action: vec![r.into()],
            ..Filter::default()
        };
        assert!(rule("brute_force").matches_alert(&a));
        assert!(!rule("root_login").matches_alert(&a));
        let outcome = Filter {
            outcome: vec!["failure".into()],
            ..Filter::default()
        };
        assert!(!outcome.matches_alert(&a), "alerts have no outcome");
        // A medium alert is sent as warning (4).
        let sev = |s| Filter {
            max_severity: Some(s),
            ..Filter::default()
        };
        assert!(sev(4).matches_alert(&a));
        assert!(!sev(3).matches_alert(&a));
        let bad: Result<Filter, _> = toml::from_str("kind = [\"alerts\"]");
        assert!(bad.unwrap_err().to_string().contains("unknown kind"));
    }
}
