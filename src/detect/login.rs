//! The built-in login rules over authentication events: counting attempts once per
//! connection, failures (brute force, invalid users, spraying, distributed guessing),
//! sudo and su refusals, and what a successful login is measured against (success
//! after failures, new sources, off hours, root logins).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::IpAddr;

use super::evidence::kind;
use super::state::{flag, Window};
use super::tracked::{Baseline, SourceState, UserState};
use super::{
    excluded, excluded_lists, human, ip_key, ip_text, mask, ns, Alert, Detector, NS_PER_S,
};
use crate::auth::{AuthEvent, Link};

impl Detector {
    /// Attempts this event adds, refined per SSH connection so one attempt counts once.
    pub(super) fn count(&mut self, ev: &AuthEvent<'_>) -> u32 {
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
    pub(super) fn auth_failure(
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
                        key: ip_key("ip:", ip),
                        user: user.map(str::to_string),
                        source_ip: Some(ip),
                        related_users: Vec::new(),
                        evidence: st.evidence.collect(kind::FAIL, t - w, ev_max),
                        message: format!(
                            "{c} failed authentication attempts from {} within {}",
                            ip_text(ip),
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
                        key: ip_key("ip:", ip),
                        user: None,
                        source_ip: Some(ip),
                        related_users: Vec::new(),
                        evidence: st.evidence.collect(kind::INVALID, t - w, ev_max),
                        message: format!(
                            "{c} logins for unknown users from {} within {}",
                            ip_text(ip),
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
                            key: ip_key("ip:", ip),
                            user: None,
                            source_ip: Some(ip),
                            message: format!(
                                "{c} different users failed to log in from {} within {}: {}",
                                ip_text(ip),
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

    pub(super) fn sudo_failure(&mut self, t: i64, id: &str, n: u32, u: &str, out: &mut Vec<Alert>) {
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

    pub(super) fn not_in_sudoers(
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

    pub(super) fn login_success(
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
}
