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
pub mod feed;
mod login;
mod persist;
mod snapshot;
mod state;
mod tracked;
mod watch;

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use crate::auth::{AuthEvent, Category, Origin, Outcome};
pub use access::AccessConfig;
pub use alert::{Alert, AlertView};
use config::RuleCommon;
pub use config::{
    BruteForce, Cidr, DetectConfig, DistributedGuessing, InvalidUser, NewSource, NotInSudoers,
    OffHours, PasswordSpray, RootLogin, SuccessAfterFailures, SudoFailure, MAX_THRESHOLD,
};
pub use custom::{Bucket, CustomRule, FIELDS};
use snapshot::SNAPSHOT_VERSION;
use state::{Ledger, Table, NEVER};
use tracked::{Baseline, SourceState, UserState};
pub use watch::FileWatchConfig;

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

/// Appends an address without `fmt` (an alert under attack writes it twice): IPv4 by
/// its octets, IPv6 through `Display`.
fn push_ip(s: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                s.push_str(itoa::Buffer::new().format(*o));
            }
        }
        IpAddr::V6(_) => {
            let _ = write!(s, "{ip}");
        }
    }
}

fn ip_text(ip: IpAddr) -> String {
    ip_key("", ip)
}

/// `prefix` then the address: an alert's key such as `ip:192.0.2.1`.
fn ip_key(prefix: &str, ip: IpAddr) -> String {
    let mut s = String::with_capacity(prefix.len() + 15);
    s.push_str(prefix);
    push_ip(&mut s, ip);
    s
}

fn ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn human(d: Duration) -> String {
    // A detector has a handful of windows and formats them into every alert: the
    // last few texts are kept (per thread).
    thread_local! {
        static LAST: std::cell::RefCell<Vec<(Duration, String)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if let Some((_, s)) = last.iter().find(|(w, _)| *w == d) {
            return s.clone();
        }
        let s = humantime::format_duration(d).to_string();
        if last.len() >= 16 {
            last.remove(0);
        }
        last.push((d, s.clone()));
        s
    })
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
    /// auditd watches on sensitive files (`file_watch`).
    watch: watch::Watch,
    /// Each built-in rule's tuning hint ([`Detector::tuning`]).
    hints: Vec<(&'static str, String)>,
}

/// The end of each built-in rule's alert message: the counting rules name their
/// threshold and window, the others where they are set.
fn tuning_hints(cfg: &DetectConfig) -> Vec<(&'static str, String)> {
    BUILTIN
        .iter()
        .map(|&rule| {
            let common = cfg.rule_commons().find(|(id, _)| *id == rule);
            let hint = match common.map(|(_, r)| r) {
                Some(r) => format!(
                    " (rule {rule}: threshold {} within {}; tune [detect.{rule}] threshold, window, allow_users, allow_cidrs)",
                    r.threshold,
                    human(r.window)
                ),
                None => format!(" (rule {rule}; tune or disable in [detect.{rule}])"),
            };
            (rule, hint)
        })
        .collect()
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
            watch: watch::Watch::new(if cfg.enabled {
                cfg.file_watch.clone()
            } else {
                FileWatchConfig {
                    enabled: false,
                    ..cfg.file_watch.clone()
                }
            }),
            sources: Table::new(cfg.max_tracked_sources as usize, max_w),
            users: Table::new(cfg.max_tracked_users as usize, max_w),
            baselines: Table::new(cfg.max_tracked_users as usize, max_w),
            ledger: Ledger::new(),
            now: NEVER,
            hints: tuning_hints(&cfg),
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
            a.message.push_str(self.tuning(&a.rule_id));
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
    /// crossed, and where to tune it. Made once per rule ([`tuning_hints`]).
    fn tuning(&self, rule: &str) -> &str {
        self.hints
            .iter()
            .find(|(id, _)| *id == rule)
            .map_or("", |(_, h)| h.as_str())
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

    /// Whether [`Detector::observe_watch`] wants auditd's `SYSCALL`/`CWD`/`PATH`
    /// records: callers look for them only in lines no other rule took.
    pub fn watches_files(&self) -> bool {
        self.watch.enabled()
    }

    /// Feeds one record of an auditd file-watch event seen on `host` (`file_watch`).
    pub fn observe_watch(
        &mut self,
        time_ns: i64,
        event_id: &str,
        host: &str,
        rec: &crate::auth::watch::WatchRecord<'_>,
    ) -> Option<Alert> {
        self.now = self.now.max(time_ns);
        let ev_max = self.cfg.max_evidence as usize;
        self.watch.observe(time_ns, event_id, host, rec, ev_max)
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
