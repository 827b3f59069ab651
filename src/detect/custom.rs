//! Rules users write: `[[detect.rule]]`. A filter over event fields, a group-by key, a
//! threshold in a window (sliding, like fail2ban's `maxretry`/`findtime`, or a leaky
//! bucket, like CrowdSec's `capacity`/`leakspeed`), a severity and a message. Enough for
//! the common scenarios of both; the built-in rules (`detect` docs) cover the rest.
//!
//! Bounded like the built-ins: per rule, at most `max_tracked_sources` groups, each a
//! ring of at most `threshold` times and `max_evidence` ids; a full table replaces its
//! least valuable group (`state::Table`). A group alerts once, then stays silent until
//! its window has emptied.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

use super::config::Cidr;
use super::state::{Table, Weight, Window, NEVER};
use super::{human, ns, Alert, DetectError, MAX_THRESHOLD};
use crate::auth::AuthEvent;
use crate::event::audit::AuditEvent;

/// What a rule looks at: an authentication event, or an application audit event.
#[derive(Clone, Copy)]
pub(super) enum Subject<'e, 'a> {
    Auth(&'e AuthEvent<'a>),
    Access(&'e AuditEvent<'a>),
}

impl<'e> Subject<'e, '_> {
    fn user(&self) -> Option<&'e str> {
        match *self {
            Subject::Auth(ev) => ev.user_name(),
            Subject::Access(ev) => Some(&ev.actor),
        }
    }

    fn source_ip(&self) -> Option<IpAddr> {
        match *self {
            Subject::Auth(ev) => ev.source_ip,
            Subject::Access(ev) => ev.source_ip,
        }
    }
}

/// How a rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// At least `threshold` matching events within `window` (fail2ban).
    #[default]
    Sliding,
    /// A bucket of capacity `threshold` that leaks one event every
    /// `window / threshold`; it overflows (alerts) when an event finds it full
    /// (CrowdSec's leaky bucket).
    Leaky,
}

/// One value or a list of them, in `where` and `where_not`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Values {
    One(String),
    Many(Vec<String>),
}

impl Values {
    fn list(&self) -> Vec<String> {
        match self {
            Values::One(v) => vec![v.clone()],
            Values::Many(v) => v.clone(),
        }
    }
}

/// `[[detect.rule]]` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRule {
    /// `[a-z0-9_]`, unique, not a built-in rule's id: the alert's `rule.id`.
    pub id: String,
    /// The alert's `rule.name` (default: the id).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Every listed field must have one of its values (`source.ip`: an address or a
    /// CIDR block).
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, Values>,
    /// No listed field may have one of its values.
    #[serde(default)]
    pub where_not: BTreeMap<String, Values>,
    /// Fields whose values make the key counted on its own (empty: one count for all).
    /// An event without one of them is not counted.
    #[serde(default)]
    pub group_by: Vec<String>,
    pub threshold: u32,
    #[serde(deserialize_with = "super::config::duration")]
    pub window: Duration,
    #[serde(default)]
    pub bucket: Bucket,
    /// ECS `event.severity` (1..=100; 21 low, 47 medium, 73 high).
    #[serde(default = "medium")]
    pub severity: u8,
    /// The alert's message; `{count}`, `{window}`, `{key}`, `{rule}` and `{<field>}` of
    /// a `group_by` field are replaced. Default: "{count} matching events for {key}
    /// within {window} (rule {rule})".
    #[serde(default)]
    pub message: Option<String>,
}

fn yes() -> bool {
    true
}

fn medium() -> u8 {
    47
}

/// The fields a rule can name, with the ECS names they go by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Action,
    Outcome,
    Category,
    Reason,
    UserName,
    TargetUser,
    UserId,
    SourceIp,
    SourceDomain,
    Method,
    Service,
    Type,
    ResourceType,
    ResourceId,
}

/// Every field name a rule may use.
pub const FIELDS: &[(&str, Field)] = &[
    ("event.action", Field::Action),
    ("event.outcome", Field::Outcome),
    ("event.category", Field::Category),
    ("event.reason", Field::Reason),
    ("user.name", Field::UserName),
    ("user.target.name", Field::TargetUser),
    ("user.id", Field::UserId),
    ("source.ip", Field::SourceIp),
    ("source.domain", Field::SourceDomain),
    ("sealtrail.auth.method", Field::Method),
    ("sealtrail.auth.service", Field::Service),
    ("event.type", Field::Type),
    ("sealtrail.audit.resource.type", Field::ResourceType),
    ("sealtrail.audit.resource.id", Field::ResourceId),
];

fn field_of(name: &str) -> Option<Field> {
    FIELDS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// The values of `f` in `s` (a category has several names; most fields one or none).
fn values<'e>(s: Subject<'e, '_>, f: Field) -> Vec<Cow<'e, str>> {
    let one = |v: Option<&'e str>| v.map(Cow::Borrowed).into_iter().collect();
    let ev = match s {
        Subject::Auth(ev) => ev,
        Subject::Access(ev) => {
            let many = |v: &'e [Cow<'_, str>]| -> Vec<Cow<'e, str>> {
                v.iter().map(|c| Cow::Borrowed(c.as_ref())).collect()
            };
            return match f {
                Field::Action => one(Some(&ev.action)),
                Field::Outcome => one(Some(&ev.outcome)),
                Field::Category => many(&ev.category),
                Field::Type => many(&ev.kind_type),
                Field::Reason => one(ev.reason.as_deref()),
                Field::UserName => one(Some(&ev.actor)),
                Field::UserId => one(ev.actor_id.as_deref()),
                Field::SourceIp => ev
                    .source_ip
                    .map(|ip| Cow::Owned(ip.to_string()))
                    .into_iter()
                    .collect(),
                Field::ResourceType => one(ev.resource_type.as_deref()),
                Field::ResourceId => one(ev.resource_id.as_deref()),
                Field::TargetUser | Field::SourceDomain | Field::Method | Field::Service => {
                    Vec::new()
                }
            };
        }
    };
    match f {
        Field::Action => one(Some(ev.action)),
        Field::Outcome => one(Some(ev.outcome.as_str())),
        Field::Category => ev
            .category
            .ecs()
            .iter()
            .map(|c| Cow::Borrowed(*c))
            .collect(),
        Field::Reason => one(ev.reason),
        Field::UserName => one(ev.user_name()),
        Field::TargetUser => one(ev.target_user.as_deref()),
        Field::UserId => ev
            .user_id
            .map(|u| Cow::Owned(u.to_string()))
            .into_iter()
            .collect(),
        Field::SourceIp => ev
            .source_ip
            .map(|ip| Cow::Owned(ip.to_string()))
            .into_iter()
            .collect(),
        Field::SourceDomain => one(ev.source_domain.as_deref()),
        Field::Method => one(ev.method),
        Field::Service => one(ev.service.as_deref()),
        Field::Type => ev.kind_type.iter().map(|c| Cow::Borrowed(*c)).collect(),
        Field::ResourceType | Field::ResourceId => Vec::new(),
    }
}

/// One condition: a field and the values (or address blocks) it must (not) have.
#[derive(Debug, Clone, PartialEq)]
struct Cond {
    field: Field,
    values: Vec<String>,
    cidrs: Vec<Cidr>,
}

impl Cond {
    fn holds(&self, ev: Subject<'_, '_>) -> bool {
        if self.field == Field::SourceIp {
            return ev
                .source_ip()
                .is_some_and(|ip| self.cidrs.iter().any(|c| c.contains(ip)));
        }
        values(ev, self.field)
            .iter()
            .any(|v| self.values.iter().any(|w| w == v))
    }
}

/// A rule checked and ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub id: String,
    name: String,
    filter: Vec<Cond>,
    not: Vec<Cond>,
    group_by: Vec<(String, Field)>,
    threshold: u32,
    window: Duration,
    bucket: Bucket,
    severity: u8,
    message: Option<String>,
}

fn bad(i: usize, key: &str, msg: impl Into<String>) -> DetectError {
    DetectError::Config {
        key: format!("rule[{i}].{key}"),
        msg: msg.into(),
    }
}

fn conds(i: usize, key: &str, m: &BTreeMap<String, Values>) -> Result<Vec<Cond>, DetectError> {
    m.iter()
        .map(|(name, v)| {
            let field = field_of(name).ok_or_else(|| {
                bad(
                    i,
                    &format!("{key}.{name}"),
                    format!("unknown field; one of: {}", field_names()),
                )
            })?;
            let values = v.list();
            let cidrs = if field == Field::SourceIp {
                values
                    .iter()
                    .map(|s| s.parse::<Cidr>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad(i, &format!("{key}.{name}"), e))?
            } else {
                Vec::new()
            };
            if values.is_empty() {
                return Err(bad(i, &format!("{key}.{name}"), "needs at least one value"));
            }
            Ok(Cond {
                field,
                values,
                cidrs,
            })
        })
        .collect()
}

fn field_names() -> String {
    FIELDS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks the rules (`rule[i].<key>` names what is wrong) and compiles them.
pub fn compile(rules: &[CustomRule], builtin: &[&str]) -> Result<Vec<Compiled>, DetectError> {
    let mut out: Vec<Compiled> = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let id_ok = !r.id.is_empty()
            && r.id.len() <= 64
            && r.id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !id_ok {
            return Err(bad(i, "id", "must be 1 to 64 of [a-z0-9_]"));
        }
        if builtin.contains(&r.id.as_str()) || out.iter().any(|c| c.id == r.id) {
            return Err(bad(i, "id", format!("`{}` is already a rule's id", r.id)));
        }
        if r.threshold == 0 || r.threshold > MAX_THRESHOLD {
            return Err(bad(i, "threshold", format!("must be 1..={MAX_THRESHOLD}")));
        }
        if r.window.is_zero() {
            return Err(bad(i, "window", "must be greater than zero"));
        }
        if r.severity == 0 || r.severity > 100 {
            return Err(bad(i, "severity", "must be 1..=100"));
        }
        let group_by = r
            .group_by
            .iter()
            .map(|g| {
                field_of(g).map(|f| (g.clone(), f)).ok_or_else(|| {
                    bad(
                        i,
                        "group_by",
                        format!("unknown field `{g}`; one of: {}", field_names()),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(m) = &r.message {
            check_template(m, &group_by).map_err(|e| bad(i, "message", e))?;
        }
        out.push(Compiled {
            id: r.id.clone(),
            name: r.name.clone().unwrap_or_else(|| r.id.clone()),
            filter: conds(i, "where", &r.filter)?,
            not: conds(i, "where_not", &r.where_not)?,
            group_by,
            threshold: r.threshold,
            window: r.window,
            bucket: r.bucket,
            severity: r.severity,
            message: r.message.clone(),
        });
    }
    Ok(out)
}

/// Every `{name}` of a message must be one the alert can fill.
fn check_template(m: &str, group_by: &[(String, Field)]) -> Result<(), String> {
    let mut rest = m;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err("a `{` without its `}`".into());
        };
        let name = &after[..close];
        let known = matches!(name, "count" | "window" | "key" | "rule")
            || group_by.iter().any(|(g, _)| g == name);
        if !known {
            return Err(format!(
                "`{{{name}}}` is not one of {{count}}, {{window}}, {{key}}, {{rule}} or a group_by field"
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// One group's count.
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
pub(super) struct Group {
    window: Window,
    /// Leaky bucket: its level (events) at `at`.
    level: f64,
    at: i64,
    alerted: bool,
    evidence: std::collections::VecDeque<(i64, String)>,
    last: i64,
}

impl Weight for Group {
    fn last(&self) -> i64 {
        self.last
    }
    fn events(&self) -> u32 {
        self.evidence.len() as u32
    }
    fn reset(&mut self) {
        self.window.reset();
        self.level = 0.0;
        self.at = NEVER;
        self.alerted = false;
        self.evidence.clear();
        self.last = NEVER;
    }
}

/// A rule and its groups.
pub(super) struct Running {
    rule: Compiled,
    groups: Table<String, Group>,
}

impl Running {
    pub(super) fn id(&self) -> &str {
        &self.rule.id
    }

    /// The live groups, for the snapshot.
    pub(super) fn groups(&self, now: i64) -> Vec<(&String, &Group)> {
        let w = ns(self.rule.window);
        self.groups
            .iter()
            .filter(|(_, g)| now.saturating_sub(g.last) <= w)
            .collect()
    }

    /// Puts back a group from a snapshot (its ring cut to this rule's threshold).
    pub(super) fn restore(&mut self, key: String, mut g: Group, now: i64) {
        g.window.resize(self.rule.threshold as usize);
        self.groups.insert_restored(key, g, now);
    }

    pub(super) fn new(rule: Compiled, max_groups: usize) -> Running {
        let stale = ns(rule.window);
        Running {
            rule,
            groups: Table::new(max_groups.max(1), stale),
        }
    }

    /// Counts `ev` if it matches; an alert when the group crosses the threshold.
    pub(super) fn observe(
        &mut self,
        t: i64,
        id: &str,
        ev: Subject<'_, '_>,
        n: u32,
        max_evidence: usize,
    ) -> Option<Alert> {
        let r = &self.rule;
        if n == 0 || !r.filter.iter().all(|c| c.holds(ev)) || r.not.iter().any(|c| c.holds(ev)) {
            return None;
        }
        let mut parts = Vec::with_capacity(r.group_by.len());
        for (name, f) in &r.group_by {
            let v = values(ev, *f).into_iter().next()?;
            parts.push((name.as_str(), v));
        }
        let key = if parts.is_empty() {
            "all".to_owned()
        } else {
            parts
                .iter()
                .map(|(n, v)| format!("{n}:{v}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let w = ns(r.window);
        let g = self.groups.entry(&key, t, Group::default);
        g.last = g.last.max(t);
        while g
            .evidence
            .front()
            .is_some_and(|(at, _)| t.saturating_sub(*at) > w)
        {
            g.evidence.pop_front();
        }
        g.evidence.push_back((t, id.to_owned()));
        while g.evidence.len() > max_evidence.max(1) {
            g.evidence.pop_front();
        }
        let (fires, count) = match r.bucket {
            Bucket::Sliding => {
                g.window.roll(t, w);
                g.window.push(t, n, r.threshold as usize);
                let c = g.window.count(t, w);
                (c >= r.threshold && g.window.fire(), c)
            }
            Bucket::Leaky => {
                // Leaks `threshold` events per window; empty again, it re-arms.
                let per_ns = f64::from(r.threshold) / w as f64;
                let leaked = if g.at == NEVER {
                    0.0
                } else {
                    t.saturating_sub(g.at) as f64 * per_ns
                };
                g.level = (g.level - leaked).max(0.0);
                if g.level == 0.0 {
                    g.alerted = false;
                }
                g.at = t;
                let full = g.level + f64::from(n) > f64::from(r.threshold);
                g.level = (g.level + f64::from(n)).min(f64::from(r.threshold) + 1.0);
                let fires = full && !std::mem::replace(&mut g.alerted, true);
                (fires, g.level.ceil() as u32)
            }
        };
        if !fires {
            return None;
        }
        let window = human(r.window);
        let message = render(r, &key, count, &window, &parts);
        let user = ev.user().map(str::to_owned);
        let source_ip: Option<IpAddr> = ev.source_ip();
        Some(Alert {
            rule_id: Cow::Owned(r.id.clone()),
            rule_name: Cow::Owned(r.name.clone()),
            severity: r.severity,
            time_ns: t,
            key,
            user,
            source_ip,
            related_users: Vec::new(),
            evidence: g.evidence.iter().map(|(_, id)| id.clone()).collect(),
            message,
        })
    }
}

fn render(
    r: &Compiled,
    key: &str,
    count: u32,
    window: &str,
    parts: &[(&str, Cow<'_, str>)],
) -> String {
    let how = match r.bucket {
        Bucket::Sliding => format!("within {window}"),
        Bucket::Leaky => format!("faster than {} per {window}", r.threshold),
    };
    let Some(t) = &r.message else {
        return format!(
            "{count} matching events for {key} {how} (rule {}, threshold {}; tune [[detect.rule]] id = \"{}\")",
            r.id, r.threshold, r.id
        );
    };
    let mut out = t
        .replace("{count}", &count.to_string())
        .replace("{window}", window)
        .replace("{key}", key)
        .replace("{rule}", &r.id);
    for (name, v) in parts {
        out = out.replace(&format!("{{{name}}}"), v);
    }
    out
}

#[cfg(test)]
#[path = "custom_tests.rs"]
mod tests;
