//! Access patterns: rules over application audit events (the audit API, `AuditEvent`),
//! per actor, with explicit time and bounded memory like the login rules.
//!
//! | rule id | fires when (defaults) | key |
//! |---|---|---|
//! | `access_denied_burst` | ≥ 5 denied (`outcome = failure`) accesses by one actor within 5 min | actor |
//! | `access_volume` | an actor's accesses in one hour exceed 5 × their mean over ≥ 3 learned hours, and ≥ 100 | actor |
//! | `access_off_hours` | an access in an hour (±1) holding < 1 % of the actor's ≥ 50 learned accesses | actor |
//! | `access_not_allowed` | an access to a resource type with an allow-list (`[detect.access.allow]`) by an actor not on it | actor+type |
//!
//! Per actor: a denied-access window, the current hour's count and the learned mean of
//! earlier hours, an hour-of-day histogram, and the last `max_evidence` event ids, in a
//! table of at most `max_tracked_users` actors (replaced as the other tables are).

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::Deserialize;

use super::state::{Table, Weight, Window, NEVER};
use super::{human, ns, Alert, DetectError, MAX_THRESHOLD, NS_PER_S};
use crate::event::audit::AuditEvent;

/// `[detect.access]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    pub enabled: bool,
    /// `access_denied_burst`: this many denied accesses by one actor ...
    pub denied_threshold: u32,
    /// ... within this window.
    #[serde(deserialize_with = "super::config::duration")]
    pub denied_window: Duration,
    /// `access_volume`: accesses are counted per actor in windows of this length ...
    #[serde(deserialize_with = "super::config::duration")]
    pub volume_window: Duration,
    /// ... and a window alerts above this multiple of the actor's mean ...
    pub volume_factor: f64,
    /// ... and at least this many accesses ...
    pub volume_min: u32,
    /// ... once this many earlier windows with accesses are learned.
    pub volume_min_windows: u32,
    /// `access_off_hours`: learned accesses before the hours count.
    pub off_hours_min_observations: u32,
    /// Alert when the share of learned accesses in the hour ± `spread_hours` is below.
    pub off_hours_min_share: f64,
    pub spread_hours: u8,
    /// `access_not_allowed`: resource type → the actors that may access it.
    pub allow: BTreeMap<String, Vec<String>>,
    /// Repeated `access_not_allowed` of one actor and type are one alert while they
    /// come within this window.
    #[serde(deserialize_with = "super::config::duration")]
    pub not_allowed_window: Duration,
    pub severity: u8,
    /// Actors no access rule looks at (service accounts, batch jobs).
    pub allow_actors: Vec<String>,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            enabled: true,
            denied_threshold: 5,
            denied_window: Duration::from_secs(300),
            volume_window: Duration::from_secs(3600),
            volume_factor: 5.0,
            volume_min: 100,
            volume_min_windows: 3,
            off_hours_min_observations: 50,
            off_hours_min_share: 0.01,
            spread_hours: 1,
            allow: BTreeMap::new(),
            not_allowed_window: Duration::from_secs(3600),
            severity: 47,
            allow_actors: Vec::new(),
        }
    }
}

impl AccessConfig {
    pub(super) fn validate(&self) -> Result<(), DetectError> {
        let bad = |k: &str, m: &str| DetectError::Config {
            key: format!("access.{k}"),
            msg: m.to_owned(),
        };
        if self.denied_threshold == 0 || self.denied_threshold > MAX_THRESHOLD {
            return Err(bad("denied_threshold", "must be 1..=1000"));
        }
        for (k, w) in [
            ("denied_window", self.denied_window),
            ("volume_window", self.volume_window),
            ("not_allowed_window", self.not_allowed_window),
        ] {
            if w.is_zero() {
                return Err(bad(k, "must be greater than zero"));
            }
        }
        if !(self.volume_factor.is_finite() && self.volume_factor >= 1.0) {
            return Err(bad("volume_factor", "must be at least 1.0"));
        }
        if !(0.0..=1.0).contains(&self.off_hours_min_share) {
            return Err(bad("off_hours_min_share", "must be between 0 and 1"));
        }
        if self.spread_hours > 11 {
            return Err(bad("spread_hours", "must be 0..=11"));
        }
        if self.severity == 0 || self.severity > 100 {
            return Err(bad("severity", "must be 1..=100"));
        }
        Ok(())
    }
}

/// What is kept per actor.
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
pub(super) struct Actor {
    denied: Window,
    /// Index of the volume window being counted, and its count.
    volume_at: i64,
    volume: u32,
    volume_alerted: bool,
    /// Learned windows with accesses, and their total.
    learned_windows: u32,
    learned_total: u64,
    hours: [u32; 24],
    hours_total: u32,
    /// `access_not_allowed`: resource types alerted on, with the last such access.
    not_allowed: Vec<(String, i64)>,
    /// Recent event ids: (time, denied, id).
    evidence: VecDeque<(i64, bool, String)>,
    last: i64,
}

impl Weight for Actor {
    fn last(&self) -> i64 {
        self.last
    }
    fn events(&self) -> u32 {
        self.hours_total
    }
    fn reset(&mut self) {
        self.denied.reset();
        self.volume_at = NEVER;
        self.volume = 0;
        self.volume_alerted = false;
        self.learned_windows = 0;
        self.learned_total = 0;
        self.hours = [0; 24];
        self.hours_total = 0;
        self.not_allowed.clear();
        self.evidence.clear();
        self.last = NEVER;
    }
}

/// The access rules and their per-actor state.
pub(super) struct Access {
    cfg: AccessConfig,
    actors: Table<String, Actor>,
}

impl Access {
    /// Every tracked actor, for the snapshot (baselines are kept however old).
    pub(super) fn actors(&self) -> Vec<(&String, &Actor)> {
        self.actors.iter().collect()
    }

    /// Puts back an actor from a snapshot.
    pub(super) fn restore(&mut self, actor: String, mut a: Actor, now: i64) {
        a.denied.resize(self.cfg.denied_threshold as usize);
        self.actors.insert_restored(actor, a, now);
    }

    pub(super) fn new(cfg: AccessConfig, max_actors: usize) -> Access {
        // An actor idle for a day has nothing in any window but its baselines.
        Access {
            cfg,
            actors: Table::new(max_actors.max(1), 86_400 * NS_PER_S),
        }
    }

    /// Looks at one application audit event; returns the alerts it raises.
    pub(super) fn observe(
        &mut self,
        t: i64,
        id: &str,
        ev: &AuditEvent<'_>,
        max_evidence: usize,
    ) -> Vec<Alert> {
        let mut out = Vec::new();
        let cfg = &self.cfg;
        if !cfg.enabled || cfg.allow_actors.iter().any(|a| a == ev.actor.as_ref()) {
            return out;
        }
        let actor: &str = &ev.actor;
        let a = self.actors.entry(actor, t, Actor::default);
        a.last = a.last.max(t);
        let denied = ev.outcome == "failure";
        a.evidence.push_back((t, denied, id.to_owned()));
        while a.evidence.len() > max_evidence.max(1) {
            a.evidence.pop_front();
        }
        // Evidence: the ids from `since` up to this event (only denied ones if `denied`).
        let alert = |rule: &'static str,
                     name: &'static str,
                     key: String,
                     message: String,
                     a: &Actor,
                     since: i64,
                     only_denied: bool| Alert {
            rule_id: Cow::Borrowed(rule),
            rule_name: Cow::Borrowed(name),
            severity: cfg.severity,
            time_ns: t,
            key,
            user: Some(actor.to_owned()),
            source_ip: ev.source_ip,
            related_users: Vec::new(),
            evidence: a
                .evidence
                .iter()
                .filter(|(at, d, _)| (since..=t).contains(at) && (*d || !only_denied))
                .map(|(_, _, id)| id.clone())
                .collect(),
            message,
        };

        // Denied accesses in a burst.
        if denied {
            let w = ns(cfg.denied_window);
            a.denied.roll(t, w);
            a.denied.push(t, 1, cfg.denied_threshold as usize);
            let c = a.denied.count(t, w);
            if c >= cfg.denied_threshold && a.denied.fire() {
                out.push(alert(
                    "access_denied_burst",
                    "Burst of denied accesses by one actor",
                    format!("user:{actor}"),
                    format!(
                        "{c} denied accesses by {actor} within {} (access_denied_burst, threshold {}: [detect.access] denied_threshold)",
                        human(cfg.denied_window),
                        cfg.denied_threshold
                    ),
                    a,
                    t - w,
                    true,
                ));
            }
        }

        // Volume against the actor's own mean.
        let vw = ns(cfg.volume_window).max(1);
        let window = t.div_euclid(vw);
        if a.volume_at != window {
            if a.volume_at != NEVER && a.volume > 0 {
                a.learned_windows = a.learned_windows.saturating_add(1);
                a.learned_total = a.learned_total.saturating_add(u64::from(a.volume));
            }
            a.volume_at = window;
            a.volume = 0;
            a.volume_alerted = false;
        }
        a.volume = a.volume.saturating_add(1);
        if a.learned_windows >= cfg.volume_min_windows && a.learned_windows > 0 {
            let mean = a.learned_total as f64 / f64::from(a.learned_windows);
            let limit = (mean * cfg.volume_factor).max(f64::from(cfg.volume_min));
            if f64::from(a.volume) > limit && !a.volume_alerted {
                a.volume_alerted = true;
                out.push(alert(
                    "access_volume",
                    "Far more accesses than the actor's own baseline",
                    format!("user:{actor}"),
                    format!(
                        "{} accesses by {actor} in this {} window, {:.1}× their mean of {mean:.1} over {} earlier windows (access_volume: [detect.access] volume_factor = {}, volume_min = {})",
                        a.volume,
                        human(cfg.volume_window),
                        f64::from(a.volume) / mean.max(1.0),
                        a.learned_windows,
                        cfg.volume_factor,
                        cfg.volume_min
                    ),
                    a,
                    window * vw,
                    false,
                ));
            }
        }

        // The hour of day against what the actor usually does, then learn it.
        let hour = (t.div_euclid(3600 * NS_PER_S)).rem_euclid(24) as usize;
        if a.hours_total >= cfg.off_hours_min_observations {
            let spread = i64::from(cfg.spread_hours);
            let near: u32 = (-spread..=spread)
                .map(|d| a.hours[(hour as i64 + d).rem_euclid(24) as usize])
                .sum();
            let share = f64::from(near) / f64::from(a.hours_total);
            if share < cfg.off_hours_min_share {
                out.push(alert(
                    "access_off_hours",
                    "Access outside the actor's usual hours",
                    format!("user:{actor},hour:{hour:02}"),
                    format!(
                        "{actor} accessed at {hour:02}:00 UTC, an hour (±{}) holding {:.2} % of their {} learned accesses (access_off_hours: [detect.access] off_hours_min_share = {})",
                        cfg.spread_hours,
                        share * 100.0,
                        a.hours_total,
                        cfg.off_hours_min_share
                    ),
                    a,
                    t,
                    false,
                ));
            }
        }
        a.hours[hour] = a.hours[hour].saturating_add(1);
        a.hours_total = a.hours_total.saturating_add(1);

        // Resource types with an allow-list.
        if let Some(rtype) = ev.resource_type.as_deref() {
            if let Some(allowed) = cfg.allow.get(rtype) {
                if !allowed.iter().any(|u| u == actor) {
                    let w = ns(cfg.not_allowed_window);
                    let seen = a.not_allowed.iter_mut().find(|(k, _)| k == rtype);
                    let fresh = match seen {
                        Some((_, last)) => {
                            let fresh = t.saturating_sub(*last) > w;
                            *last = t;
                            fresh
                        }
                        None => {
                            if a.not_allowed.len() >= 16 {
                                a.not_allowed.remove(0);
                            }
                            a.not_allowed.push((rtype.to_owned(), t));
                            true
                        }
                    };
                    if fresh {
                        out.push(alert(
                            "access_not_allowed",
                            "Access by an actor not on the resource type's allow-list",
                            format!("user:{actor},resource.type:{rtype}"),
                            format!(
                                "{actor} accessed {rtype}{} ({}), not on its allow-list (access_not_allowed: [detect.access.allow] \"{rtype}\")",
                                ev.resource_id
                                    .as_deref()
                                    .map(|i| format!(" {i}"))
                                    .unwrap_or_default(),
                                ev.outcome
                            ),
                            a,
                            t,
                            false,
                        ));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
