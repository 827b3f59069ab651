//! Rules users write: parsing and checks (`rule[i].<key>`), matching, grouping, both
//! bucket kinds through their edges, and the alert's text.

use super::*;
use crate::auth::recognise;
use crate::detect::{DetectConfig, Detector};

const S: i64 = 1_000_000_000;
const T0: i64 = 1_704_067_200 * S;

fn ev(program: &str, line: &str) -> AuthEvent<'static> {
    recognise(program, Some(7), line)
        .unwrap_or_else(|| panic!("not recognised: {line}"))
        .into_owned()
}

fn fail(user: &str, ip: &str) -> AuthEvent<'static> {
    ev(
        "sshd",
        &format!("Failed password for {user} from {ip} port 22 ssh2"),
    )
}

/// A config with no built-in rule and these `[[detect.rule]]` tables.
fn cfg(rules: &str) -> DetectConfig {
    #[derive(serde::Deserialize)]
    struct Wrap {
        detect: DetectConfig,
    }
    let mut c: DetectConfig = toml::from_str::<Wrap>(&format!("[detect]\n{rules}"))
        .unwrap_or_else(|e| panic!("{e}"))
        .detect;
    c.brute_force.enabled = false;
    c.invalid_user.enabled = false;
    c.success_after_failures.enabled = false;
    c.password_spray.enabled = false;
    c.distributed_guessing.enabled = false;
    c.new_source.enabled = false;
    c.off_hours.enabled = false;
    c.root_login.enabled = false;
    c.sudo_failure.enabled = false;
    c.not_in_sudoers.enabled = false;
    c
}

fn feed(d: &mut Detector, n: &mut u64, t: i64, e: &AuthEvent<'_>) -> Vec<Alert> {
    *n += 1;
    d.observe(t, &format!("ev:{n}"), e)
}

const ROOT_FAILS: &str = r#"
[[detect.rule]]
id = "root_failures"
name = "Failed root logins"
where = { "event.action" = "ssh_login", "event.outcome" = "failure", "user.name" = ["root", "admin"] }
where_not = { "source.ip" = "10.0.0.0/8" }
group_by = ["source.ip"]
threshold = 3
window = "5m"
severity = 73
message = "{count} failed root logins from {source.ip} within {window}"
"#;

#[test]
fn a_sliding_rule_counts_what_matches_per_group_and_says_the_real_count() {
    let c = cfg(ROOT_FAILS);
    c.validate().unwrap();
    let mut d = Detector::new(c);
    let mut n = 0;
    // Not matching: another user, an excluded source; another group.
    assert!(feed(&mut d, &mut n, T0, &fail("alice", "192.0.2.1")).is_empty());
    for i in 0..5 {
        assert!(feed(&mut d, &mut n, T0 + i * S, &fail("root", "10.1.1.1")).is_empty());
    }
    assert!(feed(&mut d, &mut n, T0, &fail("root", "198.51.100.9")).is_empty());
    assert!(feed(&mut d, &mut n, T0 + S, &fail("root", "192.0.2.1")).is_empty());
    assert!(feed(&mut d, &mut n, T0 + 2 * S, &fail("admin", "192.0.2.1")).is_empty());
    let a = feed(&mut d, &mut n, T0 + 3 * S, &fail("root", "192.0.2.1"));
    assert_eq!(a.len(), 1, "{a:?}");
    let a = &a[0];
    assert_eq!(a.rule_id, "root_failures");
    assert_eq!(a.rule_name, "Failed root logins");
    assert_eq!(a.severity, 73);
    assert_eq!(a.key, "source.ip:192.0.2.1");
    assert_eq!(a.source_ip, Some("192.0.2.1".parse().unwrap()));
    assert_eq!(a.message, "3 failed root logins from 192.0.2.1 within 5m");
    assert_eq!(a.evidence.len(), 3, "{:?}", a.evidence);
    // Once per group while the window keeps filling; again after it has emptied.
    assert!(feed(&mut d, &mut n, T0 + 4 * S, &fail("root", "192.0.2.1")).is_empty());
    let later = T0 + 4 * S + 301 * S;
    for i in 0..2 {
        assert!(feed(&mut d, &mut n, later + i * S, &fail("root", "192.0.2.1")).is_empty());
    }
    assert_eq!(
        feed(&mut d, &mut n, later + 2 * S, &fail("root", "192.0.2.1")).len(),
        1
    );
}

#[test]
fn a_sliding_rule_forgets_events_older_than_its_window() {
    let mut d = Detector::new(cfg(ROOT_FAILS));
    let mut n = 0;
    feed(&mut d, &mut n, T0, &fail("root", "192.0.2.1"));
    feed(&mut d, &mut n, T0 + 200 * S, &fail("root", "192.0.2.1"));
    // The first is 5 min + 1 s old by the third: two within the window, no alert.
    assert!(feed(&mut d, &mut n, T0 + 301 * S, &fail("root", "192.0.2.1")).is_empty());
    assert_eq!(
        feed(&mut d, &mut n, T0 + 302 * S, &fail("root", "192.0.2.1")).len(),
        1
    );
}

#[test]
fn a_leaky_bucket_overflows_only_faster_than_it_leaks() {
    let rules = r#"
[[detect.rule]]
id = "ssh_bf_leaky"
where = { "event.outcome" = "failure", "event.category" = "authentication" }
group_by = ["source.ip"]
threshold = 4
window = "40s"
bucket = "leaky"
"#;
    let mut d = Detector::new(cfg(rules));
    let mut n = 0;
    // Leaks one per 10 s: one failure every 10 s never fills it.
    for i in 0..20 {
        let a = feed(&mut d, &mut n, T0 + i * 10 * S, &fail("bob", "203.0.113.5"));
        assert!(a.is_empty(), "steady at the leak rate, event {i}: {a:?}");
    }
    // Five at once overflow a bucket of four.
    let t = T0 + 1000 * S;
    let mut alerts = Vec::new();
    for i in 0..5 {
        alerts.extend(feed(
            &mut d,
            &mut n,
            t + i * S / 10,
            &fail("bob", "203.0.113.6"),
        ));
    }
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].message.contains("faster than 4 per 40s"),
        "{}",
        alerts[0].message
    );
    assert!(
        alerts[0].message.contains("ssh_bf_leaky"),
        "{}",
        alerts[0].message
    );
}

#[test]
fn a_rule_without_group_by_counts_everything_together() {
    let rules = r#"
[[detect.rule]]
id = "any_sudo_failure"
where = { "event.action" = "sudo_auth_failure" }
threshold = 2
window = "1m"
"#;
    let mut d = Detector::new(cfg(rules));
    let mut n = 0;
    let sudo = |u: &str| {
        ev(
            "sudo",
            &format!("{u} : 1 incorrect password attempt ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls"),
        )
    };
    assert!(feed(&mut d, &mut n, T0, &sudo("alice")).is_empty());
    let a = feed(&mut d, &mut n, T0 + S, &sudo("bob"));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].key, "all");
}

#[test]
fn mistakes_name_the_rule_and_key() {
    let cases = [
        (
            "id = \"Bad Id\"\nthreshold = 1\nwindow = \"1m\"",
            "rule[0].id",
        ),
        (
            "id = \"brute_force\"\nthreshold = 1\nwindow = \"1m\"",
            "rule[0].id",
        ),
        (
            "id = \"a\"\nthreshold = 0\nwindow = \"1m\"",
            "rule[0].threshold",
        ),
        (
            "id = \"a\"\nthreshold = 1\nwindow = \"1m\"\nseverity = 0",
            "rule[0].severity",
        ),
        (
            "id = \"a\"\nthreshold = 1\nwindow = \"1m\"\nwhere = { \"user.nmae\" = \"x\" }",
            "rule[0].where.user.nmae",
        ),
        (
            "id = \"a\"\nthreshold = 1\nwindow = \"1m\"\nwhere = { \"source.ip\" = \"nowhere\" }",
            "rule[0].where.source.ip",
        ),
        (
            "id = \"a\"\nthreshold = 1\nwindow = \"1m\"\ngroup_by = [\"host\"]",
            "rule[0].group_by",
        ),
        (
            "id = \"a\"\nthreshold = 1\nwindow = \"1m\"\nmessage = \"{count} by {user.name}\"",
            "rule[0].message",
        ),
    ];
    for (body, key) in cases {
        let c = cfg(&format!("[[detect.rule]]\n{body}\n"));
        match c.validate() {
            Err(DetectError::Config { key: k, msg }) => assert_eq!(k, key, "{body}: {msg}"),
            other => panic!("{body}: expected an error at {key}, got {other:?}"),
        }
    }
    // Two rules with one id: the second is named.
    let two = "[[detect.rule]]\nid = \"a\"\nthreshold = 1\nwindow = \"1m\"\n[[detect.rule]]\nid = \"a\"\nthreshold = 1\nwindow = \"1m\"\n";
    match cfg(two).validate() {
        Err(DetectError::Config { key, .. }) => assert_eq!(key, "rule[1].id"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_rules_groups_survive_a_snapshot() {
    let c = cfg(ROOT_FAILS);
    let mut d = Detector::new(c.clone());
    let mut n = 0;
    feed(&mut d, &mut n, T0, &fail("root", "192.0.2.1"));
    feed(&mut d, &mut n, T0 + S, &fail("root", "192.0.2.1"));
    let snap = d.save().unwrap();
    let mut d = Detector::restore(c, &snap).unwrap();
    let a = feed(&mut d, &mut n, T0 + 2 * S, &fail("root", "192.0.2.1"));
    assert_eq!(
        a.len(),
        1,
        "the third failure after the restart completes the count"
    );
    assert_eq!(a[0].evidence.len(), 3);
    // A snapshot of a version without rule groups still loads.
    let old = br#"{"version":1,"now":0,"sources":[],"users":[],"baselines":[]}"#;
    assert!(Detector::restore(cfg(ROOT_FAILS), old).is_ok());
}
