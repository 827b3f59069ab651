//! Detector tests: time is driven explicitly through each rule's edges.

use super::*;
use crate::auth::recognise;
use std::borrow::Cow;

const S: i64 = 1_000_000_000;
const M: i64 = 60 * S;
/// 2024-01-01T00:00:00Z, so hours of day are easy to read.
const T0: i64 = 1_704_067_200 * S;

fn ev(program: &str, pid: Option<u32>, line: &str) -> AuthEvent<'static> {
    recognise(program, pid, line)
        .unwrap_or_else(|| panic!("not recognised: {line}"))
        .into_owned()
}

fn fail(ip: &str, user: &str, pid: u32) -> AuthEvent<'static> {
    ev(
        "sshd",
        Some(pid),
        &format!("Failed password for {user} from {ip} port 22 ssh2"),
    )
}

fn ok(ip: &str, user: &str) -> AuthEvent<'static> {
    ev(
        "sshd",
        Some(1),
        &format!("Accepted publickey for {user} from {ip} port 22 ssh2: ED25519 SHA256:x"),
    )
}

struct Run {
    d: Detector,
    n: u64,
}

impl Run {
    fn new(cfg: DetectConfig) -> Run {
        Run {
            d: Detector::new(cfg),
            n: 0,
        }
    }
    fn feed(&mut self, t: i64, e: &AuthEvent<'_>) -> Vec<Alert> {
        self.n += 1;
        self.d.observe(t, &format!("ev:{}", self.n), e)
    }
    /// Alerts of `rule` raised by this event.
    fn rule(&mut self, t: i64, e: &AuthEvent<'_>, rule: &str) -> Vec<Alert> {
        self.feed(t, e)
            .into_iter()
            .filter(|a| a.rule_id == rule)
            .collect()
    }
}

fn only(rule: &str) -> DetectConfig {
    let mut c = DetectConfig::default();
    c.brute_force.enabled = rule == "brute_force";
    c.invalid_user.enabled = rule == "invalid_user";
    c.success_after_failures.enabled = rule == "success_after_failures";
    c.password_spray.enabled = rule == "password_spray";
    c.distributed_guessing.enabled = rule == "distributed_guessing";
    c.new_source.enabled = rule == "new_source";
    c.off_hours.enabled = rule == "off_hours";
    c.root_login.enabled = rule == "root_login";
    c.sudo_failure.enabled = rule == "sudo_failure";
    c.not_in_sudoers.enabled = rule == "not_in_sudoers";
    c
}

#[test]
fn brute_force_edges() {
    let mut r = Run::new(only("brute_force"));
    let e = fail("198.51.100.1", "root", 10);
    for i in 0..4 {
        assert!(
            r.feed(T0 + i * M, &e).is_empty(),
            "threshold-1 must not alert"
        );
    }
    let a = r.feed(T0 + 4 * M, &e);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].rule_id, "brute_force");
    assert_eq!(a[0].key, "ip:198.51.100.1");
    assert_eq!(a[0].evidence, vec!["ev:1", "ev:2", "ev:3", "ev:4", "ev:5"]);
    assert_eq!(a[0].severity, 47);
    // De-duplicated while the attack goes on...
    for i in 5..20 {
        assert!(r.feed(T0 + i * M, &e).is_empty());
    }
    // ...and re-armed once the window has emptied.
    let t = T0 + 19 * M + 10 * M + S;
    for i in 0..4 {
        assert!(r.feed(t + i * S, &e).is_empty());
    }
    assert_eq!(r.feed(t + 4 * S, &e).len(), 1);
}

#[test]
fn brute_force_window_boundaries() {
    let mut r = Run::new(only("brute_force"));
    let e = fail("198.51.100.2", "root", 11);
    // 3 minutes apart: the 5th at 12 min sees only 4 within 10 min.
    for i in 0..5 {
        assert!(r.feed(T0 + i * 3 * M, &e).is_empty());
    }
    // The 6th at 13 min: 3, 6, 9, 12, 13 are within.
    assert_eq!(r.feed(T0 + 13 * M, &e).len(), 1);
    // Exactly the window apart still counts (inclusive).
    let mut r = Run::new(only("brute_force"));
    let e = fail("198.51.100.3", "root", 12);
    for t in [0, M, 2 * M, 3 * M] {
        assert!(r.feed(T0 + t, &e).is_empty());
    }
    assert_eq!(r.feed(T0 + 10 * M, &e).len(), 1);
    // One nanosecond more is outside.
    let mut r = Run::new(only("brute_force"));
    for t in [0, M, 2 * M, 3 * M] {
        assert!(r.feed(T0 + t, &e).is_empty());
    }
    assert!(r.feed(T0 + 10 * M + 1, &e).is_empty());
}

#[test]
fn one_attempt_counts_once_across_its_lines() {
    let mut r = Run::new(only("brute_force"));
    let ip = "203.0.113.9";
    let mut alerts = Vec::new();
    for c in 0..5u32 {
        let pid = Some(1000 + c);
        let port = 40000 + c;
        let lines = [
            format!("Invalid user admin{c} from {ip} port {port}"),
            format!("Failed none for invalid user admin{c} from {ip} port {port} ssh2"),
            "pam_unix(sshd:auth): check pass; user unknown".to_string(),
            format!("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}"),
            format!("Failed password for invalid user admin{c} from {ip} port {port} ssh2"),
            format!("Connection closed by invalid user admin{c} {ip} port {port} [preauth]"),
        ];
        for l in &lines {
            if let Some(e) = recognise("sshd", pid, l) {
                let t = T0 + i64::from(c) * M;
                alerts.push((c, r.feed(t, &e.into_owned())));
            }
        }
    }
    let fired: Vec<u32> = alerts
        .iter()
        .filter(|a| !a.1.is_empty())
        .map(|a| a.0)
        .collect();
    assert_eq!(fired, vec![4], "the 5th connection, not earlier");
    // Only the "Invalid user" line of each connection was counted as evidence.
    let evid = &alerts.iter().find(|a| !a.1.is_empty()).unwrap().1[0].evidence;
    assert_eq!(evid.len(), 5);

    // Keyboard-interactive: sshd's PAM error and the later Failed line are one attempt.
    let mut r = Run::new(only("brute_force"));
    let ip = "203.0.113.10";
    for k in 0..4 {
        let pid = Some(77);
        let a = r.feed(
            T0 + k * S,
            &ev(
                "sshd",
                pid,
                &format!("error: PAM: Authentication failure for root from {ip}"),
            ),
        );
        assert!(a.is_empty());
        let a = r.feed(
            T0 + k * S,
            &ev(
                "sshd",
                pid,
                &format!("Failed keyboard-interactive/pam for root from {ip} port 5 ssh2"),
            ),
        );
        assert!(a.is_empty(), "attempt {k} counted twice");
    }
    assert_eq!(
        r.feed(
            T0 + 5 * S,
            &ev(
                "sshd",
                Some(77),
                &format!("error: PAM: Authentication failure for root from {ip}")
            )
        )
        .len(),
        1
    );

    // Connections that give up while authenticating count one each.
    let mut r = Run::new(only("brute_force"));
    for k in 0..5u32 {
        let a = r.feed(
            T0 + i64::from(k) * S,
            &ev(
                "sshd",
                Some(500 + k),
                &format!(
                    "Disconnected from authenticating user root 179.43.183.98 port {} [preauth]",
                    100 + k
                ),
            ),
        );
        assert_eq!(a.len(), usize::from(k == 4));
    }

    // Several failed passwords on one connection each count.
    let mut r = Run::new(only("brute_force"));
    let e = fail("203.0.113.11", "root", 88);
    for k in 0..4 {
        assert!(r.feed(T0 + k * S, &e).is_empty());
    }
    let closed = ev(
        "sshd",
        Some(88),
        "Connection closed by authenticating user root 203.0.113.11 port 22 [preauth]",
    );
    assert!(
        r.feed(T0 + 5 * S, &closed).is_empty(),
        "the close adds nothing"
    );
    assert_eq!(r.feed(T0 + 6 * S, &e).len(), 1);

    // rsyslog's "message repeated N times" counts N.
    let mut r = Run::new(only("brute_force"));
    assert!(r.feed(T0, &fail("203.0.113.12", "root", 9)).is_empty());
    let rep = ev(
        "sshd",
        Some(9),
        "message repeated 4 times: [ Failed password for root from 203.0.113.12 port 22 ssh2]",
    );
    assert_eq!(r.feed(T0 + S, &rep).len(), 1);
}

#[test]
fn invalid_user_burst() {
    let mut r = Run::new(only("invalid_user"));
    let e = |u: u32| {
        ev(
            "sshd",
            Some(u),
            &format!("Invalid user u{u} from 192.0.2.50 port {u}"),
        )
    };
    for k in 0..7 {
        assert!(r
            .rule(T0 + k * 10 * S, &e(k as u32), "invalid_user")
            .is_empty());
    }
    let a = r.rule(T0 + 70 * S, &e(7), "invalid_user");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].evidence.len(), 8);
    // Failed lines for an invalid user are not extra invalid-user events.
    let mut r = Run::new(only("invalid_user"));
    for k in 0..10 {
        let f = ev(
            "sshd",
            Some(3),
            &format!("Failed password for invalid user x from 192.0.2.51 port {k} ssh2"),
        );
        assert!(r.feed(T0 + k * S, &f).is_empty());
    }
    // Spread over more than 2 minutes: no burst.
    let mut r = Run::new(only("invalid_user"));
    for k in 0..12 {
        assert!(r.feed(T0 + k * 20 * S, &e(k as u32)).is_empty());
    }
}

#[test]
fn success_after_failures_edges() {
    let c = only("success_after_failures");
    let ip = "192.0.2.60";
    // 4 failures then success: no.
    let mut r = Run::new(c.clone());
    for k in 0..4 {
        r.feed(T0 + k * S, &fail(ip, "bob", 20));
    }
    assert!(r.feed(T0 + 10 * S, &ok(ip, "bob")).is_empty());
    // 5 failures then success within 4 min of the first: yes, with the failures as
    // evidence.
    let mut r = Run::new(c.clone());
    for k in 0..5 {
        r.feed(T0 + k * S, &fail(ip, "bob", 21));
    }
    let a = r.feed(T0 + 4 * M, &ok(ip, "bob"));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].key, "user:bob,ip:192.0.2.60");
    assert_eq!(a[0].evidence.len(), 6);
    assert_eq!(a[0].evidence.last().map(String::as_str), Some("ev:6"));
    // ...and not again for the next login.
    assert!(r.feed(T0 + 5 * M, &ok(ip, "bob")).is_empty());
    // Success after the window: no.
    let mut r = Run::new(c.clone());
    for k in 0..5 {
        r.feed(T0 + k * S, &fail(ip, "bob", 22));
    }
    assert!(r.feed(T0 + 4 * M + 1, &ok(ip, "bob")).is_empty());
    // Success from another source: no.
    let mut r = Run::new(c);
    for k in 0..5 {
        r.feed(T0 + k * S, &fail(ip, "bob", 23));
    }
    assert!(r.feed(T0 + 10 * S, &ok("192.0.2.61", "bob")).is_empty());
}

#[test]
fn password_spray_edges() {
    let mut r = Run::new(only("password_spray"));
    let ip = "192.0.2.70";
    for (k, u) in ["a", "b", "a", "c", "d", "d"].iter().enumerate() {
        assert!(
            r.feed(T0 + k as i64 * S, &fail(ip, u, 30)).is_empty(),
            "{u}"
        );
    }
    let a = r.feed(T0 + 10 * S, &fail(ip, "e", 30));
    assert_eq!(a.len(), 1);
    let mut users = a[0].related_users.clone();
    users.sort();
    assert_eq!(users, ["a", "b", "c", "d", "e"]);
    assert!(
        r.feed(T0 + 11 * S, &fail(ip, "f", 30)).is_empty(),
        "de-duplicated"
    );
    // Users spread beyond 10 minutes do not add up.
    let mut r = Run::new(only("password_spray"));
    for (k, u) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
        assert!(r
            .feed(T0 + k as i64 * 3 * M, &fail("192.0.2.71", u, 31))
            .is_empty());
    }
}

#[test]
fn distributed_guessing_edges() {
    let mut r = Run::new(only("distributed_guessing"));
    for k in 0..9 {
        assert!(r
            .feed(T0 + k * S, &fail(&format!("10.9.0.{k}"), "root", 40))
            .is_empty());
    }
    // The same source again is not a new one.
    assert!(r.feed(T0 + 9 * S, &fail("10.9.0.3", "root", 40)).is_empty());
    let a = r.feed(T0 + 10 * S, &fail("10.9.0.99", "root", 40));
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].key.as_str(), a[0].user.as_deref()),
        ("user:root", Some("root"))
    );
    // Other users are separate keys.
    assert!(r
        .feed(T0 + 11 * S, &fail("10.9.0.100", "admin", 40))
        .is_empty());
    // Outside the window: sources 2 minutes apart, 10 of them span 18 minutes.
    let mut r = Run::new(only("distributed_guessing"));
    for k in 0..10 {
        assert!(r
            .feed(T0 + k * 2 * M, &fail(&format!("10.8.0.{k}"), "root", 41))
            .is_empty());
    }
}

#[test]
fn new_source_learning_and_alert() {
    let mut r = Run::new(only("new_source"));
    let h = |k: i64| T0 + k * 86_400 * S + 10 * 3600 * S;
    // Learning: 5 logins, one of them from a second network, never alert.
    for (k, ip) in [
        "192.0.2.10",
        "192.0.2.11",
        "198.51.100.5",
        "192.0.2.10",
        "192.0.2.12",
    ]
    .iter()
    .enumerate()
    {
        assert!(
            r.feed(h(k as i64), &ok(ip, "alice")).is_empty(),
            "learning {k}"
        );
    }
    // Same /24 as a known source: not new.
    assert!(r.feed(h(6), &ok("192.0.2.200", "alice")).is_empty());
    let a = r.feed(h(7), &ok("203.0.113.77", "alice"));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].rule_id, "new_source");
    assert_eq!(a[0].source_ip, Some("203.0.113.77".parse().unwrap()));
    // Now learned.
    assert!(r.feed(h(8), &ok("203.0.113.78", "alice")).is_empty());
    // Another user with no history: learning, no alert.
    assert!(r.feed(h(9), &ok("203.0.113.1", "carol")).is_empty());
    // IPv6 blocks are /64.
    let mut r = Run::new(only("new_source"));
    for k in 0..5 {
        r.feed(h(k), &ok("2001:db8:1:2::10", "dave"));
    }
    assert!(r.feed(h(6), &ok("2001:db8:1:2:ffff::1", "dave")).is_empty());
    assert_eq!(r.feed(h(7), &ok("2001:db8:1:3::1", "dave")).len(), 1);
}

#[test]
fn off_hours_after_min_observations() {
    let at = |day: i64, hour: i64| T0 + day * 86_400 * S + hour * 3600 * S;
    let mut r = Run::new(only("off_hours"));
    // 19 logins in office hours: not enough to judge.
    for k in 0..19 {
        assert!(r
            .feed(at(k, 9 + k % 8), &ok("192.0.2.1", "erin"))
            .is_empty());
    }
    assert!(
        r.feed(at(20, 3), &ok("192.0.2.1", "erin")).is_empty(),
        "19 < 20 observations"
    );
    // Fresh baseline of 20 office-hour logins.
    let mut r = Run::new(only("off_hours"));
    for k in 0..20 {
        r.feed(at(k, 9 + k % 8), &ok("192.0.2.1", "erin"));
    }
    assert!(r.feed(at(21, 10), &ok("192.0.2.1", "erin")).is_empty());
    // 08:xx is within one hour of 09:xx.
    assert!(r.feed(at(22, 8), &ok("192.0.2.1", "erin")).is_empty());
    let a = r.feed(at(23, 3), &ok("192.0.2.1", "erin"));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].rule_id, "off_hours");
    assert!(a[0].message.contains("03:xx"), "{}", a[0].message);
}

#[test]
fn root_login_rule() {
    let mut r = Run::new(only("root_login"));
    let a = r.feed(T0, &ok("192.0.2.90", "root"));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].key, "user:root,ip:192.0.2.90");
    assert!(
        r.feed(T0 + 30 * M, &ok("192.0.2.90", "root")).is_empty(),
        "same source within 1h"
    );
    assert_eq!(r.feed(T0 + 31 * M, &ok("192.0.2.91", "root")).len(), 1);
    assert!(r.feed(T0 + 32 * M, &ok("192.0.2.92", "bob")).is_empty());
    // Console logins only when remote_only is off; cron sessions never.
    assert!(r
        .feed(T0, &ev("login", None, "ROOT LOGIN ON tty1"))
        .is_empty());
    assert!(r
        .feed(
            T0,
            &ev(
                "CRON",
                None,
                "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"
            )
        )
        .is_empty());
    let mut c = only("root_login");
    c.root_login.remote_only = false;
    let mut r = Run::new(c);
    assert_eq!(
        r.feed(T0, &ev("login", None, "ROOT LOGIN ON tty1")).len(),
        1
    );
}

#[test]
fn sudo_failure_rule() {
    let mut r = Run::new(only("sudo_failure"));
    let pam = ev("sudo", None, "pam_unix(sudo:auth): authentication failure; logname=bob uid=1000 euid=0 tty=/dev/pts/0 ruser=bob rhost=  user=bob");
    for k in 0..5 {
        assert!(
            r.feed(T0 + k * S, &pam).is_empty(),
            "PAM lines are not attempts"
        );
    }
    let two = ev("sudo", None, "bob : 2 incorrect password attempts ; TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/sh");
    assert!(r.feed(T0 + 10 * S, &two).is_empty());
    let su = ev("su", None, "FAILED SU (to root) bob on pts/0");
    let a = r.feed(T0 + 20 * S, &su);
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].rule_id.as_ref(), a[0].key.as_str()),
        ("sudo_failure", "user:bob")
    );
    assert_eq!(a[0].evidence, vec!["ev:6", "ev:7"]);
    // Outside the window no sum.
    let mut r = Run::new(only("sudo_failure"));
    assert!(r.feed(T0, &two).is_empty());
    assert!(r.feed(T0 + 10 * M + 1, &su).is_empty());
}

#[test]
fn not_in_sudoers_rule() {
    let mut r = Run::new(only("not_in_sudoers"));
    let e = ev(
        "sudo",
        None,
        "mallory : user NOT in sudoers ; TTY=pts/2 ; PWD=/home/m ; USER=root ; COMMAND=/bin/bash",
    );
    let a = r.feed(T0, &e);
    assert_eq!(a.len(), 1);
    assert!(a[0].message.contains("/bin/bash"));
    assert_eq!(a[0].severity, 73);
    assert!(r.feed(T0 + M, &e).is_empty(), "de-duplicated");
    assert_eq!(
        r.feed(T0 + M + 10 * M + 1, &e).len(),
        1,
        "re-armed after the window"
    );
    let denied = ev(
        "sudo",
        None,
        "eve : command not allowed ; TTY=pts/2 ; PWD=/ ; USER=root ; COMMAND=/bin/su",
    );
    assert_eq!(r.feed(T0, &denied).len(), 1);
}

#[test]
fn allow_lists() {
    let mut c = only("brute_force");
    c.allow_cidrs = vec!["10.0.0.0/8".parse().unwrap()];
    c.allow_users = vec!["deploy".into()];
    let mut r = Run::new(c.clone());
    for k in 0..10 {
        assert!(r.feed(T0 + k * S, &fail("10.1.2.3", "root", 50)).is_empty());
        assert!(r
            .feed(T0 + k * S, &fail("192.0.2.33", "deploy", 51))
            .is_empty());
    }
    assert_eq!(
        r.d.stats().tracked_sources,
        0,
        "allow-listed events are not tracked"
    );
    // Per-rule allow list.
    let mut c = only("brute_force");
    c.brute_force.allow_cidrs = vec!["192.0.2.0/24".parse().unwrap()];
    let mut r = Run::new(c);
    for k in 0..10 {
        assert!(r
            .feed(T0 + k * S, &fail("192.0.2.34", "root", 52))
            .is_empty());
    }
    let mut hit = 0;
    for k in 0..5 {
        hit += r.feed(T0 + k * S, &fail("198.51.100.34", "root", 53)).len();
    }
    assert_eq!(hit, 1);
}

#[test]
fn audit_records_are_mirrors_unless_configured() {
    let line = "type=USER_LOGIN msg=audit(1700000000.1:1): pid=9 uid=0 auid=4294967295 ses=4294967295 msg='op=login acct=\"root\" exe=\"/usr/sbin/sshd\" hostname=? addr=192.0.2.44 terminal=ssh res=failed'";
    let e = ev("", None, line);
    let mut r = Run::new(only("brute_force"));
    for k in 0..10 {
        assert!(r.feed(T0 + k * S, &e).is_empty());
    }
    let mut c = only("brute_force");
    c.from_audit = true;
    let mut r = Run::new(c);
    let n: usize = (0..5).map(|k| r.feed(T0 + k * S, &e).len()).sum();
    assert_eq!(n, 1);
}

#[test]
fn disabled_detector_is_silent() {
    let mut r = Run::new(DetectConfig {
        enabled: false,
        ..DetectConfig::default()
    });
    for k in 0..10 {
        assert!(r.feed(T0 + k * S, &fail("192.0.2.1", "root", 1)).is_empty());
    }
}

#[test]
fn save_restore_keeps_windows_baselines_and_dedupe() {
    let c = DetectConfig::default();
    let mut r = Run::new(c.clone());
    for k in 0..4 {
        assert!(r
            .feed(T0 + k * S, &fail("192.0.2.80", "root", 60))
            .is_empty());
    }
    for k in 0..5 {
        r.feed(T0 + k * 86_400 * S, &ok("192.0.2.10", "alice"));
    }
    // A finished brute force whose alert was raised.
    let mut fired = 0;
    for k in 0..6 {
        fired += r
            .feed(T0 + 5 * 86_400 * S + k * S, &fail("192.0.2.81", "x", 61))
            .iter()
            .filter(|a| a.rule_id == "brute_force")
            .count();
    }
    assert_eq!(fired, 1);
    let bytes = r.d.save().unwrap();
    let mut r2 = Run {
        d: Detector::restore(c.clone(), &bytes).unwrap(),
        n: 100,
    };
    // The 4 old failures are gone by now (days later), so test windows with a source
    // active at save time:
    let t = T0 + 5 * 86_400 * S + 7 * S;
    assert!(
        r2.rule(t, &fail("192.0.2.81", "x", 61), "brute_force")
            .is_empty(),
        "dedupe survived"
    );
    // Baseline survived: a new network alerts for alice.
    let a = r2.rule(t, &ok("203.0.113.5", "alice"), "new_source");
    assert_eq!(a.len(), 1);

    // Window kept across restart: 4 failures, restart, 5th alerts.
    let mut r = Run::new(c.clone());
    for k in 0..4 {
        r.feed(T0 + k * S, &fail("192.0.2.82", "root", 62));
    }
    let bytes = r.d.save().unwrap();
    let mut r2 = Run {
        d: Detector::restore(c.clone(), &bytes).unwrap(),
        n: 10,
    };
    let a = r2.rule(T0 + 5 * S, &fail("192.0.2.82", "root", 62), "brute_force");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].evidence.len(), 5, "evidence ids survived too");

    // Restore under a smaller threshold cuts rings but keeps working.
    let mut small = c.clone();
    small.brute_force.threshold = 3;
    let d = Detector::restore(small, &bytes).unwrap();
    let mut r3 = Run { d, n: 20 };
    assert_eq!(
        r3.rule(T0 + 5 * S, &fail("192.0.2.82", "root", 62), "brute_force")
            .len(),
        1
    );

    assert!(Detector::restore(c.clone(), b"not json").is_err());
    let bad = String::from_utf8(bytes)
        .unwrap()
        .replacen("\"version\":1", "\"version\":99", 1);
    assert!(matches!(
        Detector::restore(c, bad.as_bytes()),
        Err(DetectError::Version(99))
    ));
}

#[test]
fn bounded_memory_under_two_million_sources() {
    let mut d = Detector::new(DetectConfig {
        max_tracked_sources: 1000,
        max_tracked_users: 500,
        ..DetectConfig::default()
    });
    let base = fail("192.0.2.1", "root", 1);
    let heavy: IpAddr = "198.51.100.200".parse().unwrap();
    let mut e = base.clone();
    // A real brute forcer starts before the flood...
    e.source_ip = Some(heavy);
    for k in 0..4 {
        assert!(d.observe(T0 + k, "h", &e).is_empty());
    }
    // ...2,000,000 one-shot sources, each with its own user name, within 5 minutes...
    let mut max_seen = (0, 0, 0);
    for i in 0..2_000_000u32 {
        let mut f = base.clone();
        f.source_ip = Some(IpAddr::from((0x0B00_0000u32 + i).to_be_bytes()));
        f.user = Some(Cow::Owned(format!("u{i}")));
        f.pid = Some(i);
        d.observe(T0 + 10 + i64::from(i) * 150_000, "f", &f);
        if i % 100_000 == 0 {
            let s = d.stats();
            max_seen = (
                max_seen.0.max(s.tracked_sources),
                max_seen.1.max(s.tracked_users),
                max_seen.2.max(s.tracked_baselines),
            );
        }
    }
    let s = d.stats();
    assert!(s.tracked_sources <= 1000 && max_seen.0 <= 1000, "{s:?}");
    assert!(s.tracked_users <= 500 && max_seen.1 <= 500, "{s:?}");
    assert!(s.tracked_sources >= 900, "the table is used: {s:?}");
    // ...and the brute forcer, with more events than any flood entry, is still tracked.
    let a = d.observe(T0 + 301 * S, "h5", &e);
    assert!(a.iter().any(|a| a.rule_id == "brute_force"), "{a:?}");
    // Expiry shrinks the tables once the attack is over.
    d.expire(T0 + 2 * 3600 * S);
    assert_eq!(d.stats().tracked_sources, 0);
    // The snapshot is bounded as well.
    assert!(d.save().unwrap().len() < 1_000_000);
}

#[test]
fn alert_text_gives_the_real_count_the_window_the_rule_and_where_to_tune_it() {
    let mut r = Run::new(only("brute_force"));
    // Five attempts on one line (rsyslog's repeat) plus two: the alert says 5, then
    // nothing more while the window keeps filling.
    let line =
        "message repeated 5 times: [ Failed password for root from 203.0.113.30 port 22 ssh2]";
    let a = r.rule(T0, &ev("sshd", Some(9), line), "brute_force");
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].message,
        "5 failed authentication attempts from 203.0.113.30 within 10m (rule brute_force: threshold 5 within 10m; tune [detect.brute_force] threshold, window, allow_users, allow_cidrs)"
    );
    let mut c = only("root_login");
    c.root_login.enabled = true;
    let mut r = Run::new(c);
    let a = r.rule(T0, &ok("192.0.2.9", "root"), "root_login");
    assert!(
        a[0].message
            .ends_with("(rule root_login; tune or disable in [detect.root_login])"),
        "{}",
        a[0].message
    );
}

#[test]
fn ip_text_writes_what_display_writes() {
    for ip in [
        "0.0.0.0",
        "192.0.2.1",
        "255.255.255.255",
        "10.20.30.40",
        "2001:db8::1",
        "::1",
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(super::ip_text(ip), ip.to_string());
        assert_eq!(super::ip_key("ip:", ip), format!("ip:{ip}"));
    }
}
