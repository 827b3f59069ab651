//! `only = { ... }` of a `[[forward]]`: which events it sends. Every listed field must
//! match (a field matches when the event has one of its values); an empty filter sends
//! everything. Events left out still move the forwarder's cursor, and are counted.

use serde::Deserialize;

use crate::event::SealedEvent;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
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

fn de_severity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    let v = u8::deserialize(d)?;
    if v > 7 {
        return Err(serde::de::Error::custom("must be 0 (emerg) to 7 (debug)"));
    }
    Ok(Some(v))
}

impl Filter {
    pub fn matches(&self, ev: &SealedEvent<'_>) -> bool {
        fn any<'a>(want: &[String], mut have: impl Iterator<Item = &'a str>) -> bool {
            want.is_empty() || have.any(|h| want.iter().any(|w| w == h))
        }
        let auth = ev.auth.as_ref();
        any(
            &self.category,
            auth.into_iter().flat_map(|a| a.category.iter()),
        ) && any(&self.action, auth.map(|a| a.action.as_ref()).into_iter())
            && any(&self.outcome, auth.map(|a| a.outcome.as_ref()).into_iter())
            && self
                .max_severity
                .is_none_or(|max| ev.priority.map_or(5, |p| p & 7) <= max)
    }
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
}
