//! `file_watch`: auditd watches on sensitive files touched by unexpected programs.
//!
//! auditd logs one event per watched access as a `SYSCALL` record (the program, the
//! login user, the rule's key), a `CWD` record and a `PATH` record per name
//! ([`crate::auth::watch`]). The rule joins them by the event's `audit(time:serial)`
//! stamp (per host) and raises an alert when the program (`exe`) is not on
//! `allowed_programs` and either
//! - a `PATH` name (made absolute with the `CWD`) matches one of `paths` (globs), or
//! - the `SYSCALL` carries one of `keys` (the `-k` of an audit rule).
//!
//! One alert per (host, program, file or key) while touches keep coming within
//! `window`, like the other rules; the message gives the touches counted. Denied calls
//! (`success=no`) count too, and say so. Pending events are joined in a table of at
//! most [`PENDING`] stamps; the de-duplication table holds at most [`MAX_SEEN`] keys.
//!
//! This rule reads auditd's `SYSCALL`/`PATH` records whatever `from_audit` says: that
//! switch is about login records, which mirror the sshd and PAM lines.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Duration;

use serde::Deserialize;

use super::{human, ns, Alert, DetectError};
use crate::auth::watch::{WatchKind, WatchRecord};

/// Audit events being joined at once (their records arrive together).
pub const PENDING: usize = 64;
/// (host, program, file) keys remembered for de-duplication.
pub const MAX_SEEN: usize = 4096;

/// `[detect.file_watch]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileWatchConfig {
    pub enabled: bool,
    /// Sensitive files, as globs (`*` does not cross `/`; `**` does).
    pub paths: Vec<String>,
    /// Audit rule keys (`auditctl -k`) whose every event is sensitive.
    pub keys: Vec<String>,
    /// Programs (`exe`, full path, globs allowed) that may touch them.
    pub allowed_programs: Vec<String>,
    /// Touches of one (host, program, file) within this window are one alert.
    #[serde(deserialize_with = "super::config::duration")]
    pub window: Duration,
    pub severity: u8,
}

impl Default for FileWatchConfig {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|p| (*p).to_owned()).collect();
        FileWatchConfig {
            enabled: true,
            paths: s(&[
                "/etc/shadow",
                "/etc/gshadow",
                "/etc/sudoers",
                "/etc/sudoers.d/*",
                "/etc/ssh/ssh_host_*_key",
                "/root/.ssh/authorized_keys",
                "/var/lib/sealtrail/signing*.key",
            ]),
            keys: Vec::new(),
            // The programs that read or change these files in their normal work.
            allowed_programs: s(&[
                "/usr/sbin/sshd",
                "/usr/sbin/unix_chkpwd",
                "/usr/bin/passwd",
                "/usr/bin/chage",
                "/usr/bin/chfn",
                "/usr/bin/chsh",
                "/usr/bin/gpasswd",
                "/usr/bin/newgrp",
                "/usr/sbin/chpasswd",
                "/usr/sbin/useradd",
                "/usr/sbin/usermod",
                "/usr/sbin/userdel",
                "/usr/sbin/groupadd",
                "/usr/sbin/groupmod",
                "/usr/sbin/groupdel",
                "/usr/sbin/pwck",
                "/usr/sbin/grpck",
                "/usr/sbin/vipw",
                "/usr/sbin/visudo",
                "/usr/bin/sudo",
                "/usr/bin/su",
                "/usr/bin/login",
                "/usr/sbin/cron",
                "/usr/bin/sealtrail",
                "/usr/sbin/sealtrail",
            ]),
            window: Duration::from_secs(600),
            severity: 73,
        }
    }
}

fn pattern(key: &str, i: usize, p: &str) -> Result<glob::Pattern, DetectError> {
    glob::Pattern::new(p).map_err(|e| DetectError::Config {
        key: format!("file_watch.{key}[{i}]"),
        msg: format!("{p:?} is not a glob: {e}"),
    })
}

const GLOB: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

impl FileWatchConfig {
    pub(super) fn validate(&self) -> Result<(), DetectError> {
        self.compile().map(|_| ())
    }

    fn compile(&self) -> Result<(Vec<glob::Pattern>, Vec<glob::Pattern>), DetectError> {
        let bad = |k: &str, m: &str| DetectError::Config {
            key: format!("file_watch.{k}"),
            msg: m.to_owned(),
        };
        if self.window.is_zero() {
            return Err(bad("window", "must be greater than zero"));
        }
        if self.severity == 0 || self.severity > 100 {
            return Err(bad("severity", "must be 1..=100"));
        }
        let mut paths = Vec::new();
        for (i, p) in self.paths.iter().enumerate() {
            if !p.starts_with('/') {
                return Err(bad(&format!("paths[{i}]"), "must be an absolute path"));
            }
            paths.push(pattern("paths", i, p)?);
        }
        let mut programs = Vec::new();
        for (i, p) in self.allowed_programs.iter().enumerate() {
            programs.push(pattern("allowed_programs", i, p)?);
        }
        Ok((paths, programs))
    }
}

/// The SYSCALL facts of an event waiting for its PATH records.
struct Pending {
    host: String,
    stamp: String,
    exe: String,
    comm: Option<String>,
    user: Option<String>,
    user_id: Option<u32>,
    syscall: Option<String>,
    success: Option<bool>,
    keys: Vec<String>,
    cwd: Option<String>,
    /// Event ids of its records so far (the SYSCALL first).
    evidence: Vec<String>,
    /// Already alerted (or de-duplicated) for this event.
    decided: bool,
}

pub(super) struct Watch {
    cfg: FileWatchConfig,
    paths: Vec<glob::Pattern>,
    programs: Vec<glob::Pattern>,
    pending: VecDeque<Pending>,
    /// (host, program, file) keys with their last touch.
    seen: VecDeque<(String, i64)>,
}

impl Watch {
    /// Rules that do not compile leave the rule off (`validate` reports them).
    pub(super) fn new(cfg: FileWatchConfig) -> Watch {
        let (paths, programs) = cfg.compile().unwrap_or_default();
        let enabled = cfg.enabled && (!paths.is_empty() || !cfg.keys.is_empty());
        Watch {
            cfg: FileWatchConfig { enabled, ..cfg },
            paths,
            programs,
            pending: VecDeque::new(),
            seen: VecDeque::new(),
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.cfg.enabled
    }

    /// The de-duplication entries, for the snapshot.
    pub(super) fn seen(&self) -> Vec<(&String, &i64)> {
        self.seen.iter().map(|(k, s)| (k, s)).collect()
    }

    pub(super) fn restore(&mut self, key: String, last: i64) {
        if self.seen.len() < MAX_SEEN {
            self.seen.push_back((key, last));
        }
    }

    /// Looks at one record of an audit event from `host`.
    pub(super) fn observe(
        &mut self,
        t: i64,
        id: &str,
        host: &str,
        rec: &WatchRecord<'_>,
        max_evidence: usize,
    ) -> Option<Alert> {
        if !self.cfg.enabled {
            return None;
        }
        let host = rec.node.unwrap_or(host);
        if let WatchKind::Syscall(s) = &rec.kind {
            let exe = s.exe.as_deref().unwrap_or("");
            if !exe.is_empty() && self.programs.iter().any(|p| p.matches_with(exe, GLOB)) {
                return None; // an allowed program: nothing to join
            }
            if self.pending.len() >= PENDING {
                self.pending.pop_front();
            }
            let own = |c: &Option<Cow<'_, str>>| c.as_deref().map(str::to_owned);
            self.pending.push_back(Pending {
                host: host.to_owned(),
                stamp: rec.stamp.to_owned(),
                exe: exe.to_owned(),
                comm: own(&s.comm),
                user: own(&s.user),
                user_id: s.user_id,
                syscall: s.syscall.map(str::to_owned),
                success: s.success,
                keys: s.keys.iter().map(|k| k.to_string()).collect(),
                cwd: None,
                evidence: vec![id.to_owned()],
                decided: false,
            });
            let key = s
                .keys
                .iter()
                .find(|k| self.cfg.keys.iter().any(|c| c.as_str() == k.as_ref()))?;
            let what = format!("audit key {key}");
            let at = self.pending.len() - 1;
            return self.decide(at, t, what, max_evidence);
        }
        let at = self
            .pending
            .iter()
            .rposition(|p| p.stamp == rec.stamp && p.host == host)?;
        let p = &mut self.pending[at];
        match &rec.kind {
            WatchKind::Cwd(c) => {
                p.cwd = Some(c.to_string());
                None
            }
            WatchKind::Path { name, nametype } => {
                if p.decided || *nametype == Some("PARENT") {
                    return None;
                }
                let path = match (name.starts_with('/'), &p.cwd) {
                    (false, Some(cwd)) => format!("{}/{name}", cwd.trim_end_matches('/')),
                    _ => name.to_string(),
                };
                if p.evidence.len() < max_evidence.max(1) {
                    p.evidence.push(id.to_owned());
                }
                if !self.paths.iter().any(|g| g.matches_with(&path, GLOB)) {
                    return None;
                }
                self.decide(at, t, path, max_evidence)
            }
            WatchKind::Syscall(_) => None,
        }
    }

    /// Pending event `at` touched `what`: an alert unless this (host, program, file)
    /// alerted within the window.
    fn decide(&mut self, at: usize, t: i64, what: String, max_evidence: usize) -> Option<Alert> {
        let p = self.pending.get_mut(at)?;
        p.decided = true;
        let key = format!("host:{},exe:{},file:{what}", p.host, p.exe);
        let w = ns(self.cfg.window);
        let fresh = match self.seen.iter_mut().find(|(k, _)| *k == key) {
            Some((_, last)) => {
                let fresh = t.saturating_sub(*last) > w;
                *last = t;
                fresh
            }
            None => {
                if self.seen.len() >= MAX_SEEN {
                    self.seen.pop_front();
                }
                self.seen.push_back((key.clone(), t));
                true
            }
        };
        if !fresh {
            return None;
        }
        let who = match (&p.user, p.user_id) {
            (Some(u), _) => format!(", login user {u}"),
            (None, Some(id)) => format!(", login uid {id}"),
            (None, None) => String::new(),
        };
        let keys = if p.keys.is_empty() {
            String::new()
        } else {
            format!(", audit key {}", p.keys.join(","))
        };
        let denied = if p.success == Some(false) {
            " (the kernel refused the call)"
        } else {
            ""
        };
        let message = format!(
            "{} (comm {}{who}) touched {what} on {} with syscall {}{keys}{denied}: not an allowed program (file_watch: one alert per program and file within {}; tune [detect.file_watch] allowed_programs, paths, keys)",
            if p.exe.is_empty() { "an unknown program" } else { &p.exe },
            p.comm.as_deref().unwrap_or("?"),
            p.host,
            p.syscall.as_deref().unwrap_or("?"),
            human(self.cfg.window),
        );
        let mut evidence = p.evidence.clone();
        evidence.truncate(max_evidence.max(1));
        Some(Alert {
            rule_id: Cow::Borrowed("file_watch"),
            rule_name: Cow::Borrowed("Sensitive file touched by an unexpected program"),
            severity: self.cfg.severity,
            time_ns: t,
            key,
            user: p.user.clone(),
            source_ip: None,
            related_users: Vec::new(),
            evidence,
            message,
        })
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
