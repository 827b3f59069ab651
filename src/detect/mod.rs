//! The local anomaly detector: rules over [`AuthEvent`]s with explicit time (no clock
//! reads), bounded memory and state that survives restarts.
//!
//! | rule id | fires when (defaults) | key |
//! |---|---|---|
//! | `brute_force` | ≥ 5 counted failed attempts from one source within 10 min (fail2ban) | source |
//! | `invalid_user` | ≥ 8 `Invalid user` logins from one source within 2 min | source |
//! | `success_after_failures` | a login from a source with ≥ 5 failed attempts within the 4 min before | source |
//! | `password_spray` | ≥ 5 distinct users failing from one source within 10 min | source |
//! | `distributed_guessing` | ≥ 10 distinct sources failing against one user within 10 min | user |
//! | `new_source` | a login from an address block (/24, /64) never seen for the user, once it has ≥ 5 learned logins | user+source |
//! | `off_hours` | a login in an hour (±1) holding < 1 % of the user's ≥ 20 learned logins | user |
//! | `root_login` | a remote login as `root` | user+source |
//! | `sudo_failure` | ≥ 3 failed sudo/su password attempts by one user within 10 min | user |
//! | `not_in_sudoers` | sudo refused by policy (NOT in sudoers, not authorized, command not allowed) | user |
//!
//! Counting: failures count [`AuthEvent::attempts`], refined per SSH connection (pid +
//! address, see [`crate::auth::Link`]) so that the PAM, `Invalid user`, `Failed` and
//! `Connection closed` lines of one attempt count once.
//!
//! De-duplication: a rule raises one alert per key, then stays silent for that key
//! until its window has emptied (no contributing event for a whole window).
//!
//! Memory: per-source and per-user state live in tables capped by
//! `max_tracked_sources` / `max_tracked_users` (and baselines separately by
//! `max_tracked_users`); when a table is full, the least valuable of 8 consecutive
//! slots at a moving hand is replaced (stale ones first, then fewest events seen, then
//! least recent), reusing its buffers. Windows are rings of at most `threshold`
//! timestamps (inline up to 8), evidence rings hold at most `max_evidence` ids, and
//! learned sources per user are capped. A flood from millions of addresses therefore
//! costs at most the caps (about 1 KiB per tracked source with the defaults), and
//! mostly replaces its own one-off entries: a source with many recent failures
//! survives it. The per-connection ledger is a fixed 4096-slot array.
//!
//! Persistence: [`Detector::save`] snapshots windows and baselines as JSON;
//! [`Detector::restore`] reloads them under a (possibly changed) config.

mod access;
mod alert;
mod config;
pub mod consumer;
mod custom;
mod evidence;
mod persist;
mod snapshot;
mod state;
mod tracked;

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use crate::auth::{AuthEvent, Category, Link, Origin, Outcome};
pub use access::AccessConfig;
pub use alert::{Alert, AlertView};
use config::RuleCommon;
pub use config::{
    BruteForce, Cidr, DetectConfig, DistributedGuessing, InvalidUser, NewSource, NotInSudoers,
    OffHours, PasswordSpray, RootLogin, SuccessAfterFailures, SudoFailure, MAX_THRESHOLD,
};
pub use custom::{Bucket, CustomRule, FIELDS};
use evidence::kind;
use snapshot::SNAPSHOT_VERSION;
use state::{flag, Ledger, Table, Window, NEVER};
use tracked::{Baseline, SourceState, UserState};

/// Detector errors.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("{key}: {msg}")]
    Config { key: String, msg: String },
    #[error("detector state is not readable: {0}")]
    Snapshot(#[from] serde_json::Error),
    #[error("detector state version {0} is not supported (expected {SNAPSHOT_VERSION})")]
    Version(u32),
}

const NS_PER_S: i64 = 1_000_000_000;

/// The built-in rules' ids: a rule users write may not take one.
pub const BUILTIN: &[&str] = &[
    "brute_force",
    "invalid_user",
    "success_after_failures",
    "password_spray",
    "distributed_guessing",
    "new_source",
    "off_hours",
    "root_login",
    "sudo_failure",
    "not_in_sudoers",
];

fn ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Sizes of the tracked state, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectStats {
    pub tracked_sources: usize,
    pub tracked_users: usize,
    pub tracked_baselines: usize,
}

/// The detector. Feed it every recognised event with [`Detector::observe`].
pub struct Detector {
    cfg: DetectConfig,
    sources: Table<IpAddr, SourceState>,
    users: Table<String, UserState>,
    baselines: Table<String, Baseline>,
    ledger: Ledger,
    now: i64,
    /// The rules users wrote (`[[detect.rule]]`), each with its own groups.
    custom: Vec<custom::Running>,
    /// The access-pattern rules over application audit events.
    access: access::Access,
}

fn excluded(r: &RuleCommon<'_>, user: Option<&str>, ip: Option<IpAddr>) -> bool {
    user.is_some_and(|u| r.allow_users.iter().any(|a| a == u))
        || ip.is_some_and(|ip| r.allow_cidrs.iter().any(|c| c.contains(ip)))
}

fn excluded_lists(
    users: &[String],
    cidrs: &[Cidr],
    user: Option<&str>,
    ip: Option<IpAddr>,
) -> bool {
    user.is_some_and(|u| users.iter().any(|a| a == u))
        || ip.is_some_and(|ip| cidrs.iter().any(|c| c.contains(ip)))
}

fn mask(ip: IpAddr, v4: u8, v6: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = u32::MAX
                .checked_shl(32 - u32::from(v4.min(32)))
                .unwrap_or(0);
            IpAddr::from((u32::from(a) & m).to_be_bytes())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX
                .checked_shl(128 - u32::from(v6.min(128)))
                .unwrap_or(0);
            IpAddr::from((u128::from(a) & m).to_be_bytes())
        }
    }
}

fn clamp_cfg(mut cfg: DetectConfig) -> DetectConfig {
    fn t(x: &mut u32) {
        *x = (*x).clamp(1, MAX_THRESHOLD);
    }
    fn w(x: &mut Duration) {
        if x.is_zero() {
            *x = Duration::from_secs(1);
        }
    }
    t(&mut cfg.brute_force.threshold);
    t(&mut cfg.invalid_user.threshold);
    t(&mut cfg.success_after_failures.threshold);
    t(&mut cfg.password_spray.threshold);
    t(&mut cfg.distributed_guessing.threshold);
    t(&mut cfg.sudo_failure.threshold);
    t(&mut cfg.not_in_sudoers.threshold);
    w(&mut cfg.brute_force.window);
    w(&mut cfg.invalid_user.window);
    w(&mut cfg.success_after_failures.window);
    w(&mut cfg.password_spray.window);
    w(&mut cfg.distributed_guessing.window);
    w(&mut cfg.sudo_failure.window);
    w(&mut cfg.not_in_sudoers.window);
    w(&mut cfg.root_login.window);
    cfg.max_tracked_sources = cfg.max_tracked_sources.max(1);
    cfg.max_tracked_users = cfg.max_tracked_users.max(1);
    cfg.max_evidence = cfg.max_evidence.clamp(1, 256);
    cfg.new_source.max_sources_per_user = cfg.new_source.max_sources_per_user.clamp(1, 1024);
    cfg.off_hours.spread_hours = cfg.off_hours.spread_hours.min(11);
    cfg
}

/// The longest window of any rule (ns): state older than this counts for nothing.
fn longest_window(cfg: &DetectConfig) -> i64 {
    cfg.rule_commons()
        .map(|(_, r)| r.window)
        .chain([cfg.root_login.window])
        .max()
        .map(ns)
        .unwrap_or(i64::MAX)
}

impl Detector {
    /// A detector with empty state. Out-of-range values are clamped; use
    /// [`DetectConfig::validate`] to report them.
    pub fn new(cfg: DetectConfig) -> Detector {
        let cfg = clamp_cfg(cfg);
        let max_w = longest_window(&cfg);
        // `DetectConfig::validate` reports a bad rule; here it is left out.
        let custom = custom::compile(&cfg.rule, BUILTIN)
            .unwrap_or_default()
            .into_iter()
            .filter(|_| cfg.enabled)
            .map(|r| custom::Running::new(r, cfg.max_tracked_sources as usize))
            .collect();
        Detector {
            custom,
            access: access::Access::new(cfg.access.clone(), cfg.max_tracked_users as usize),
            sources: Table::new(cfg.max_tracked_sources as usize, max_w),
            users: Table::new(cfg.max_tracked_users as usize, max_w),
            baselines: Table::new(cfg.max_tracked_users as usize, max_w),
            ledger: Ledger::new(),
            now: NEVER,
            cfg,
        }
    }

    pub fn config(&self) -> &DetectConfig {
        &self.cfg
    }

    /// The latest event time observed (unix ns): the detector's own clock, which
    /// [`Detector::expire`] can be given so that forgetting depends on the input only.
    pub fn latest_ns(&self) -> i64 {
        self.now
    }

    pub fn stats(&self) -> DetectStats {
        DetectStats {
            tracked_sources: self.sources.len(),
            tracked_users: self.users.len(),
            tracked_baselines: self.baselines.len(),
        }
    }

    /// Feeds one recognised event observed at `time_ns` with its event id (kept as
    /// evidence). Returns the alerts it raised.
    pub fn observe(&mut self, time_ns: i64, event_id: &str, ev: &AuthEvent<'_>) -> Vec<Alert> {
        let mut out = Vec::new();
        if !self.cfg.enabled || (ev.origin == Origin::Audit && !self.cfg.from_audit) {
            return out;
        }
        let user = ev.user_name();
        let ip = ev.source_ip;
        if excluded_lists(&self.cfg.allow_users, &self.cfg.allow_cidrs, user, ip) {
            return out;
        }
        self.now = self.now.max(time_ns);
        let n = self.count(ev);
        match ev.outcome {
            Outcome::Failure => match ev.action {
                "sudo_auth_failure" | "su" => {
                    if let Some(u) = user {
                        self.sudo_failure(time_ns, event_id, ev.attempts, u, &mut out);
                    }
                }
                "sudo_not_in_sudoers" | "sudo_command_denied" => {
                    if let Some(u) = user {
                        self.not_in_sudoers(time_ns, event_id, ev, u, &mut out);
                    }
                }
                _ if matches!(ev.category, Category::Authentication | Category::Login) => {
                    self.auth_failure(time_ns, event_id, ev.action, n, user, ip, &mut out);
                }
                _ => {}
            },
            Outcome::Success => {
                if matches!(ev.action, "ssh_login" | "login" | "logged-in") {
                    if let Some(u) = user {
                        self.login_success(time_ns, event_id, u, ip, &mut out);
                    }
                }
            }
            Outcome::Unknown => {}
        }
        let ev_max = self.cfg.max_evidence as usize;
        for a in &mut out {
            let hint = self.tuning(&a.rule_id);
            a.message.push_str(&hint);
        }
        // A failure counts its attempts, refined per connection like the built-in
        // rules (an echo line of an attempt already counted is 0); anything else 1.
        let weight = if ev.outcome == Outcome::Failure { n } else { 1 };
        for r in &mut self.custom {
            out.extend(r.observe(time_ns, event_id, custom::Subject::Auth(ev), weight, ev_max));
        }
        out
    }

    /// What a built-in rule's alert adds to its message: the rule id, the threshold it
    /// crossed, and where to tune it.
    fn tuning(&self, rule: &str) -> String {
        let common = self.cfg.rule_commons().find(|(id, _)| *id == rule);
        match common.map(|(_, r)| r) {
            Some(r) => format!(
                " (rule {rule}: threshold {} within {}; tune [detect.{rule}] threshold, window, allow_users, allow_cidrs)",
                r.threshold,
                human(r.window)
            ),
            None => format!(" (rule {rule}; tune or disable in [detect.{rule}])"),
        }
    }

    /// Feeds one application audit event (the audit API) to the access rules
    /// (`access`) and the rules users wrote.
    pub fn observe_access(
        &mut self,
        time_ns: i64,
        event_id: &str,
        ev: &crate::event::audit::AuditEvent<'_>,
    ) -> Vec<Alert> {
        if !self.cfg.enabled || self.cfg.allow_users.iter().any(|u| *u == ev.actor) {
            return Vec::new();
        }
        self.now = self.now.max(time_ns);
        let ev_max = self.cfg.max_evidence as usize;
        let mut out = self.access.observe(time_ns, event_id, ev, ev_max);
        for r in &mut self.custom {
            out.extend(r.observe(time_ns, event_id, custom::Subject::Access(ev), 1, ev_max));
        }
        out
    }

    /// Attempts this event adds, refined per SSH connection so one attempt counts once.
    fn count(&mut self, ev: &AuthEvent<'_>) -> u32 {
        let base = ev.attempts;
        let (Some(pid), Some(ip)) = (ev.pid, ev.source_ip) else {
            return base;
        };
        if ev.link == Link::None {
            return base;
        }
        let f = self.ledger.flags(pid, ip);
        match ev.link {
            Link::None => base,
            Link::Opens => {
                *f = flag::ANNOUNCED | flag::COUNTED;
                base
            }
            Link::PamError => {
                if base > 0 && *f & flag::ANNOUNCED != 0 {
                    *f = (*f & !flag::ANNOUNCED) | flag::PAMERR;
                    base - 1
                } else {
                    *f |= flag::PAMERR | flag::COUNTED;
                    base
                }
            }
            Link::Failed => {
                if base == 0 {
                    base
                } else if *f & flag::PAMERR != 0 {
                    *f &= !flag::PAMERR;
                    base - 1
                } else if *f & flag::ANNOUNCED != 0 {
                    *f &= !flag::ANNOUNCED;
                    base - 1
                } else {
                    *f |= flag::COUNTED;
                    base
                }
            }
            Link::Closes => {
                if *f & flag::COUNTED != 0 {
                    0
                } else {
                    *f |= flag::COUNTED;
                    base.max(1)
                }
            }
            Link::Succeeded => {
                *f = flag::COUNTED;
                base
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn auth_failure(
        &mut self,
        t: i64,
        id: &str,
        action: &str,
        n: u32,
        user: Option<&str>,
        ip: Option<IpAddr>,
        out: &mut Vec<Alert>,
    ) {
        let Detector {
            cfg,
            sources,
            users,
            ..
        } = self;
        let ev_max = cfg.max_evidence as usize;
        let invalid = action == "ssh_invalid_user";
        if let Some(ip) = ip {
            let st = sources.entry(&ip, t, SourceState::default);
            st.last = st.last.max(t);
            st.hits = st.hits.saturating_add(n.max(1));
            if n > 0 || invalid {
                let k = if invalid {
                    kind::FAIL | kind::INVALID
                } else {
                    kind::FAIL
                };
                st.evidence.push(t, k, id, ev_max);
            }
            let r = cfg.brute_force.common();
            if r.enabled && n > 0 && !excluded(&r, user, Some(ip)) {
                let w = ns(r.window);
                st.brute.roll(t, w);
                st.brute.push(t, n, r.threshold as usize);
                let c = st.brute.count(t, w);
                if c >= r.threshold && st.brute.fire() {
                    out.push(Alert {
                        rule_id: Cow::Borrowed("brute_force"),
                        rule_name: Cow::Borrowed("Brute force from one source"),
                        severity: r.severity,
                        time_ns: t,
                        key: format!("ip:{ip}"),
                        user: user.map(str::to_string),
                        source_ip: Some(ip),
                        related_users: Vec::new(),
                        evidence: st.evidence.collect(kind::FAIL, t - w, ev_max),
                        message: format!(
                            "{c} failed authentication attempts from {ip} within {}",
                            human(r.window)
                        ),
                    });
                }
            }
            let r = cfg.invalid_user.common();
            if r.enabled && invalid && !excluded(&r, user, Some(ip)) {
                let w = ns(r.window);
                st.invalid.roll(t, w);
                st.invalid.push(t, 1, r.threshold as usize);
                let c = st.invalid.count(t, w);
                if c >= r.threshold && st.invalid.fire() {
                    out.push(Alert {
                        rule_id: Cow::Borrowed("invalid_user"),
                        rule_name: Cow::Borrowed("Logins for unknown users from one source"),
                        severity: r.severity,
                        time_ns: t,
                        key: format!("ip:{ip}"),
                        user: None,
                        source_ip: Some(ip),
                        related_users: Vec::new(),
                        evidence: st.evidence.collect(kind::INVALID, t - w, ev_max),
                        message: format!(
                            "{c} logins for unknown users from {ip} within {}",
                            human(r.window)
                        ),
                    });
                }
            }
            let r = cfg.success_after_failures.common();
            if r.enabled && n > 0 {
                let w = ns(r.window);
                st.before_success.roll(t, w);
                st.before_success.push(t, n, r.threshold as usize);
            }
            let r = cfg.password_spray.common();
            if let Some(u) = user {
                if r.enabled && !excluded(&r, user, Some(ip)) {
                    let w = ns(r.window);
                    st.spray.roll(t, w);
                    st.spray.observe(u, t, r.threshold as usize);
                    let c = st.spray.count(t, w);
                    if c >= r.threshold && st.spray.fire() {
                        let names: Vec<String> = st.spray.values_since(t - w).cloned().collect();
                        out.push(Alert {
                            rule_id: Cow::Borrowed("password_spray"),
                            rule_name: Cow::Borrowed("Password spraying from one source"),
                            severity: r.severity,
                            time_ns: t,
                            key: format!("ip:{ip}"),
                            user: None,
                            source_ip: Some(ip),
                            message: format!(
                                "{c} different users failed to log in from {ip} within {}: {}",
                                human(r.window),
                                names.join(", ")
                            ),
                            related_users: names,
                            evidence: st.evidence.collect(kind::FAIL, t - w, ev_max),
                        });
                    }
                }
            }
            let r = cfg.distributed_guessing.common();
            if let Some(u) = user {
                if r.enabled && !excluded(&r, user, Some(ip)) {
                    let w = ns(r.window);
                    let us = users.entry(u, t, UserState::default);
                    us.last = us.last.max(t);
                    us.hits = us.hits.saturating_add(1);
                    us.evidence.push(t, kind::FAIL, id, ev_max);
                    us.sources.roll(t, w);
                    us.sources.observe(&ip, t, r.threshold as usize);
                    let c = us.sources.count(t, w);
                    if c >= r.threshold && us.sources.fire() {
                        out.push(Alert {
                            rule_id: Cow::Borrowed("distributed_guessing"),
                            rule_name: Cow::Borrowed("Distributed guessing against one user"),
                            severity: r.severity,
                            time_ns: t,
                            key: format!("user:{u}"),
                            user: Some(u.to_string()),
                            source_ip: None,
                            related_users: Vec::new(),
                            evidence: us.evidence.collect(kind::FAIL, t - w, ev_max),
                            message: format!(
                                "{c} different sources failed to log in as {u} within {}",
                                human(r.window)
                            ),
                        });
                    }
                }
            }
        }
    }

    fn sudo_failure(&mut self, t: i64, id: &str, n: u32, u: &str, out: &mut Vec<Alert>) {
        let r = self.cfg.sudo_failure.common();
        if n == 0 || !r.enabled || excluded(&r, Some(u), None) {
            return;
        }
        let ev_max = self.cfg.max_evidence as usize;
        let us = self.users.entry(u, t, UserState::default);
        us.last = us.last.max(t);
        us.hits = us.hits.saturating_add(1);
        us.evidence.push(t, kind::SUDO, id, ev_max);
        let w = ns(r.window);
        us.sudo.roll(t, w);
        us.sudo.push(t, n, r.threshold as usize);
        let c = us.sudo.count(t, w);
        if c >= r.threshold && us.sudo.fire() {
            out.push(Alert {
                rule_id: Cow::Borrowed("sudo_failure"),
                rule_name: Cow::Borrowed("sudo/su authentication failures"),
                severity: r.severity,
                time_ns: t,
                key: format!("user:{u}"),
                user: Some(u.to_string()),
                source_ip: None,
                related_users: Vec::new(),
                evidence: us.evidence.collect(kind::SUDO, t - w, ev_max),
                message: format!(
                    "{c} failed sudo/su password attempts by {u} within {}",
                    human(r.window)
                ),
            });
        }
    }

    fn not_in_sudoers(
        &mut self,
        t: i64,
        id: &str,
        ev: &AuthEvent<'_>,
        u: &str,
        out: &mut Vec<Alert>,
    ) {
        let r = self.cfg.not_in_sudoers.common();
        if !r.enabled || excluded(&r, Some(u), None) {
            return;
        }
        let ev_max = self.cfg.max_evidence as usize;
        let us = self.users.entry(u, t, UserState::default);
        us.last = us.last.max(t);
        us.hits = us.hits.saturating_add(1);
        us.evidence.push(t, kind::DENIED, id, ev_max);
        let w = ns(r.window);
        us.denied.roll(t, w);
        us.denied.push(t, 1, r.threshold as usize);
        if us.denied.count(t, w) >= r.threshold && us.denied.fire() {
            let mut message = format!(
                "sudo refused {u} ({})",
                ev.reason.unwrap_or("denied by policy")
            );
            if let Some(cmd) = &ev.command {
                let _ = write!(message, ": {cmd}");
            }
            out.push(Alert {
                rule_id: Cow::Borrowed("not_in_sudoers"),
                rule_name: Cow::Borrowed("sudo denied by policy"),
                severity: r.severity,
                time_ns: t,
                key: format!("user:{u}"),
                user: Some(u.to_string()),
                source_ip: None,
                related_users: Vec::new(),
                evidence: us.evidence.collect(kind::DENIED, t - w, ev_max),
                message,
            });
        }
    }

    fn login_success(
        &mut self,
        t: i64,
        id: &str,
        u: &str,
        ip: Option<IpAddr>,
        out: &mut Vec<Alert>,
    ) {
        let Detector {
            cfg,
            sources,
            baselines,
            ..
        } = self;
        let ev_max = cfg.max_evidence as usize;
        // Success after failures.
        let r = cfg.success_after_failures.common();
        if let Some(ip) = ip {
            if r.enabled && !excluded(&r, Some(u), Some(ip)) {
                if let Some(st) = sources.get_mut(&ip) {
                    let w = ns(r.window);
                    st.before_success.roll(t, w);
                    let c = st.before_success.count(t, w);
                    if c >= r.threshold && st.before_success.fire() {
                        let mut evidence =
                            st.evidence
                                .collect(kind::FAIL, t - w, ev_max.saturating_sub(1));
                        evidence.push(id.to_string());
                        out.push(Alert {
                            rule_id: Cow::Borrowed("success_after_failures"),
                            rule_name: Cow::Borrowed("Successful login after repeated failures"),
                            severity: r.severity,
                            time_ns: t,
                            key: format!("user:{u},ip:{ip}"),
                            user: Some(u.to_string()),
                            source_ip: Some(ip),
                            related_users: Vec::new(),
                            evidence,
                            message: format!(
                                "{u} logged in from {ip} after {c} failed attempts within {}",
                                human(r.window)
                            ),
                        });
                    }
                }
            }
        }
        // Direct root login.
        let rl = &cfg.root_login;
        let root_alert = |win: &mut Window, key: String| -> Option<Alert> {
            let w = ns(rl.window);
            win.roll(t, w);
            win.push(t, 1, 1);
            win.fire().then(|| Alert {
                rule_id: Cow::Borrowed("root_login"),
                rule_name: Cow::Borrowed("Direct root login"),
                severity: rl.severity,
                time_ns: t,
                key,
                user: Some(u.to_string()),
                source_ip: ip,
                related_users: Vec::new(),
                evidence: vec![id.to_string()],
                message: match ip {
                    Some(ip) => format!("direct login as {u} from {ip}"),
                    None => format!("direct login as {u} on a local terminal"),
                },
            })
        };
        let is_root = rl.enabled
            && rl.users.iter().any(|r| r == u)
            && !excluded_lists(&rl.allow_users, &rl.allow_cidrs, Some(u), ip);
        if is_root {
            if let Some(ip) = ip {
                let st = sources.entry(&ip, t, SourceState::default);
                st.last = st.last.max(t);
                st.hits = st.hits.saturating_add(1);
                if let Some(a) = root_alert(&mut st.root, format!("user:{u},ip:{ip}")) {
                    out.push(a);
                }
            }
        }
        // Baselines: check, then learn.
        let b = baselines.entry(u, t, Baseline::default);
        b.last = b.last.max(t);
        if is_root && ip.is_none() && !rl.remote_only {
            if let Some(a) = root_alert(&mut b.root, format!("user:{u}")) {
                out.push(a);
            }
        }
        let ns_cfg = &cfg.new_source;
        if let Some(ip) = ip {
            let block = mask(ip, ns_cfg.ipv4_prefix, ns_cfg.ipv6_prefix);
            match b.sources.iter_mut().find(|s| s.0 == block) {
                Some(s) => s.1 = s.1.max(t),
                None => {
                    if ns_cfg.enabled
                        && b.logins >= ns_cfg.min_logins
                        && !excluded_lists(
                            &ns_cfg.allow_users,
                            &ns_cfg.allow_cidrs,
                            Some(u),
                            Some(ip),
                        )
                    {
                        out.push(Alert {
                            rule_id: Cow::Borrowed("new_source"),
                            rule_name: Cow::Borrowed("Login from a new source"),
                            severity: ns_cfg.severity,
                            time_ns: t,
                            key: format!("user:{u},ip:{ip}"),
                            user: Some(u.to_string()),
                            source_ip: Some(ip),
                            related_users: Vec::new(),
                            evidence: vec![id.to_string()],
                            message: format!(
                                "{u} logged in from {ip}, outside the {} address blocks seen in {} earlier logins",
                                b.sources.len(),
                                b.logins
                            ),
                        });
                    }
                    if b.sources.len() >= ns_cfg.max_sources_per_user as usize {
                        if let Some(i) = (0..b.sources.len()).min_by_key(|&i| b.sources[i].1) {
                            b.sources.swap_remove(i);
                        }
                    }
                    b.sources.push((block, t));
                }
            }
        }
        let oh = &cfg.off_hours;
        let hour = (t.div_euclid(NS_PER_S).rem_euclid(86_400) / 3600) as usize;
        if oh.enabled
            && b.hours_total >= oh.min_observations
            && !excluded_lists(&oh.allow_users, &oh.allow_cidrs, Some(u), ip)
        {
            let spread = i64::from(oh.spread_hours);
            let near: u64 = (-spread..=spread)
                .map(|d| u64::from(b.hours[(hour as i64 + d).rem_euclid(24) as usize]))
                .sum();
            let share = near as f64 / f64::from(b.hours_total);
            if share < oh.min_share {
                out.push(Alert {
                    rule_id: Cow::Borrowed("off_hours"),
                    rule_name: Cow::Borrowed("Login outside usual hours"),
                    severity: oh.severity,
                    time_ns: t,
                    key: format!("user:{u}"),
                    user: Some(u.to_string()),
                    source_ip: ip,
                    related_users: Vec::new(),
                    evidence: vec![id.to_string()],
                    message: format!(
                        "{u} logged in at {hour:02}:xx UTC; {near} of {} learned logins were within {} h of that hour",
                        b.hours_total, oh.spread_hours
                    ),
                });
            }
        }
        b.hours[hour] = b.hours[hour].saturating_add(1);
        b.hours_total = b.hours_total.saturating_add(1);
        if b.hours_total > 100_000 {
            // Age the histogram so it follows changing habits.
            for h in b.hours.iter_mut() {
                *h /= 2;
            }
            b.hours_total = b.hours.iter().sum();
        }
        b.logins = b.logins.saturating_add(1);
    }

    /// Forgets per-source and per-user windows that have expired at `now_ns` (e.g. on
    /// a periodic tick), so the tables shrink when an attack stops.
    pub fn expire(&mut self, now_ns: i64) {
        let max_w = longest_window(&self.cfg);
        self.sources
            .retain(|s| now_ns.saturating_sub(s.last) <= max_w);
        self.users
            .retain(|s| now_ns.saturating_sub(s.last) <= max_w);
    }
}

#[cfg(test)]
mod tests;
