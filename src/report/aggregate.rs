//! The report's figures, computed from ECS events (the rendering of `docs/FORMAT.md`
//! §10.3) with no I/O: whatever reads the verified segments feeds each event to
//! [`Aggregator::add`], so the source can be anything that yields events.
//!
//! What counts as what (`docs/DETECTION.md`, "Action vocabulary"):
//! * **privilege use**: `event.action` `sudo_*` and `su`;
//! * **logins**: the other events whose `event.category` holds `authentication`;
//!   a successful login is `ssh_login`, `login` or auditd's `logged-in` with
//!   `event.outcome` `success`; a failure is any of them with outcome `failure`;
//! * **failed attempts**: the sum of `sealtrail.auth.attempts` (what each line stands
//!   for on its own, FORMAT §10.2) over failures. The detector refines that count per
//!   connection, so its thresholds can see slightly fewer;
//! * **alerts**: `event.kind` `alert`.
//!
//! Tables of top sources and users are sorted by count (descending), then by name, so
//! equal counts always come out in the same order.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::fields::EventFields;

/// How many rows the "top" tables keep.
pub const TOP_N: usize = 10;

/// Looks up an ECS dotted path (`source.ip`) through nested objects, also accepting a
/// flat dotted key at any level.
pub fn field<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(x) = v.get(path) {
        return Some(x);
    }
    path.match_indices('.').find_map(|(i, _)| {
        let (head, rest) = (path.get(..i)?, path.get(i + 1..)?);
        field(v.get(head)?, rest)
    })
}

/// One row of a "top" table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Top {
    pub name: String,
    /// Events counted for it.
    pub events: u64,
    /// Attempts (failures) those events stand for.
    pub attempts: u64,
    /// Distinct counterparts: users for a source, sources for a user, targets for a
    /// privilege user.
    pub distinct: usize,
    /// More counterparts came than [`MAX_COUNTERPARTS`]: `distinct` is a floor.
    pub distinct_capped: bool,
}

/// Names a top table tracks; events of later new names are counted as untracked.
/// Bounds the report's memory under a flood from millions of addresses.
pub const MAX_NAMES: usize = 100_000;
/// Distinct counterparts kept per name.
pub const MAX_COUNTERPARTS: usize = 1_000;
/// Alerts of one rule the report lists, the first in archive order: every rule that
/// fired is shown, and the page and the report's memory stay bounded when a rule fires
/// hundreds of thousands of times (all are counted; `search --kind alert` lists all).
pub const MAX_ALERT_ROWS_PER_RULE: u64 = 100;

#[derive(Debug, Default)]
struct Tally {
    events: u64,
    attempts: u64,
    other: BTreeSet<String>,
    other_capped: bool,
}

impl Tally {
    fn note_other(&mut self, o: &str) {
        if self.other.contains(o) {
            return;
        }
        if self.other.len() < MAX_COUNTERPARTS {
            self.other.insert(o.to_owned());
        } else {
            self.other_capped = true;
        }
    }
}

/// Counts per name, for at most [`MAX_NAMES`] names.
#[derive(Debug, Default)]
struct Tallies {
    names: BTreeMap<String, Tally>,
    /// Events of names that came once the table was full (in the totals, not ranked).
    untracked_events: u64,
}

impl Tallies {
    /// The tally of `name`, unless the table is full and `name` new: then `None`.
    fn slot(&mut self, name: &str) -> Option<&mut Tally> {
        if self.names.len() >= MAX_NAMES && !self.names.contains_key(name) {
            return None;
        }
        Some(self.names.entry(name.to_owned()).or_default())
    }

    fn add(&mut self, name: Option<&str>, attempts: u64, other: Option<&str>) {
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return;
        };
        let Some(t) = self.slot(name) else {
            self.untracked_events += 1;
            return;
        };
        t.events += 1;
        t.attempts = t.attempts.saturating_add(attempts);
        if let Some(o) = other.filter(|o| !o.is_empty()) {
            t.note_other(o);
        }
    }

    fn merge(&mut self, other: Tallies) {
        self.untracked_events = self.untracked_events.saturating_add(other.untracked_events);
        for (name, t) in other.names {
            let Some(mine) = self.slot(&name) else {
                self.untracked_events = self.untracked_events.saturating_add(t.events);
                continue;
            };
            mine.events = mine.events.saturating_add(t.events);
            mine.attempts = mine.attempts.saturating_add(t.attempts);
            mine.other_capped |= t.other_capped;
            for o in &t.other {
                mine.note_other(o);
            }
        }
    }

    /// The `n` largest by events, then attempts (both descending), then by name.
    fn top(&self, n: usize) -> Vec<Top> {
        let mut rows: Vec<Top> = self
            .names
            .iter()
            .map(|(name, t)| Top {
                name: name.clone(),
                events: t.events,
                attempts: t.attempts,
                distinct: t.other.len(),
                distinct_capped: t.other_capped,
            })
            .collect();
        rows.sort_by(|a, b| {
            (b.events, b.attempts)
                .cmp(&(a.events, a.attempts))
                .then_with(|| a.name.cmp(&b.name))
        });
        rows.truncate(n);
        rows
    }
}

/// One detector alert, as sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub time: String,
    pub time_ns: Option<i64>,
    pub id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub severity: Option<u64>,
    pub message: String,
    pub key: String,
    pub stream: String,
    pub evidence: Vec<String>,
}

/// Everything the report says about events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    /// Every event line read (alerts included).
    pub events: u64,
    pub alerts_total: u64,
    pub by_stream: BTreeMap<String, u64>,
    pub first_ns: Option<i64>,
    pub last_ns: Option<i64>,
    /// Events tagged as not parsed (kept verbatim, DESIGN §3.4).
    pub parse_failures: u64,
    /// Login events (authentication, not privilege use).
    pub auth_events: u64,
    pub login_successes: u64,
    pub login_failure_events: u64,
    pub login_failed_attempts: u64,
    pub failures_by_source: Vec<Top>,
    pub failures_by_user: Vec<Top>,
    pub successes_by_source: Vec<Top>,
    pub successes_by_user: Vec<Top>,
    /// Distinct sources and users with failures (beyond the top tables); at most
    /// [`MAX_NAMES`] each are told apart.
    pub failure_sources: usize,
    pub failure_users: usize,
    /// Events whose name a full top table could no longer track (all tables together):
    /// in every total, in no ranking.
    pub untracked_events: u64,
    pub sudo_commands: u64,
    pub sudo_failure_events: u64,
    pub sudo_failed_attempts: u64,
    pub sudo_refused: u64,
    pub su_successes: u64,
    pub su_failures: u64,
    /// Users of sudo/su: events, failed attempts, distinct targets.
    pub privilege_by_user: Vec<Top>,
    /// Events and outcomes by `event.action` among authentication and privilege events.
    pub by_action: BTreeMap<(String, String), u64>,
    /// At most [`MAX_ALERT_ROWS_PER_RULE`] of each rule, in time order.
    pub alerts: Vec<AlertRow>,
    pub alerts_by_rule: BTreeMap<String, u64>,
    /// Alerts counted but beyond their rule's rows in `alerts`.
    pub alerts_unlisted: u64,
}

/// Collects [`Figures`] one event at a time.
#[derive(Debug, Default)]
pub struct Aggregator {
    f: Figures,
    fail_src: Tallies,
    fail_user: Tallies,
    ok_src: Tallies,
    ok_user: Tallies,
    priv_user: Tallies,
}

const LOGIN_ACTIONS: [&str; 3] = ["ssh_login", "login", "logged-in"];

impl Aggregator {
    pub fn new() -> Aggregator {
        Aggregator::default()
    }

    /// Counts one ECS event of stream `stream` (a `Value`, or a compact line's
    /// [`super::CompactFields`]).
    pub fn add(&mut self, stream: &str, ev: &(impl EventFields + ?Sized)) {
        let f = &mut self.f;
        f.events += 1;
        *f.by_stream.entry(stream.to_owned()).or_default() += 1;
        if let Some(t) = ev.time_ns() {
            f.first_ns = Some(f.first_ns.map_or(t, |x| x.min(t)));
            f.last_ns = Some(f.last_ns.map_or(t, |x| x.max(t)));
        }
        if ev.has("tags", "_parse_failure") {
            f.parse_failures += 1;
        }
        if ev.str_at("event.kind") == Some("alert") {
            self.alert(stream, ev);
            return;
        }
        let action = ev.str_at("event.action").unwrap_or("");
        let outcome = ev.str_at("event.outcome").unwrap_or("");
        let user = ev.str_at("user.name");
        let ip = ev.str_at("source.ip");
        let attempts = ev.u64_at("sealtrail.auth.attempts").unwrap_or(0);
        let privilege = action.starts_with("sudo_") || action == "su";
        if !privilege && !ev.has("event.category", "authentication") {
            return;
        }
        *f.by_action
            .entry((action.to_owned(), outcome.to_owned()))
            .or_default() += 1;
        if privilege {
            let target = ev.str_at("user.target.name");
            let failed = outcome == "failure";
            match (action, failed) {
                ("sudo_command", false) => f.sudo_commands += 1,
                ("sudo_auth_failure", _) => {
                    f.sudo_failure_events += 1;
                    f.sudo_failed_attempts = f.sudo_failed_attempts.saturating_add(attempts);
                }
                ("sudo_not_in_sudoers" | "sudo_command_denied", _) => f.sudo_refused += 1,
                ("su", false) => f.su_successes += 1,
                ("su", true) => f.su_failures += 1,
                _ => {}
            }
            self.priv_user
                .add(user, if failed { attempts } else { 0 }, target);
            return;
        }
        f.auth_events += 1;
        match outcome {
            "success" if LOGIN_ACTIONS.contains(&action) => {
                f.login_successes += 1;
                self.ok_src.add(ip, 0, user);
                self.ok_user.add(user, 0, ip);
            }
            "failure" => {
                f.login_failure_events += 1;
                f.login_failed_attempts = f.login_failed_attempts.saturating_add(attempts);
                self.fail_src.add(ip, attempts, user);
                self.fail_user.add(user, attempts, ip);
            }
            _ => {}
        }
    }

    fn alert(&mut self, stream: &str, ev: &(impl EventFields + ?Sized)) {
        self.f.alerts_total += 1;
        let rule = ev.str_at("rule.id").unwrap_or("");
        let seen = match self.f.alerts_by_rule.get_mut(rule) {
            Some(n) => n,
            None => self.f.alerts_by_rule.entry(rule.to_owned()).or_default(),
        };
        *seen += 1;
        if *seen > MAX_ALERT_ROWS_PER_RULE {
            return;
        }
        let s = |p: &str| ev.str_at(p).unwrap_or("").to_owned();
        let evidence = ev.texts("sealtrail.alert.evidence");
        let row = AlertRow {
            time: s("@timestamp"),
            time_ns: ev.time_ns(),
            id: s("event.id"),
            rule_id: s("rule.id"),
            rule_name: s("rule.name"),
            severity: ev.u64_at("event.severity"),
            message: s("message"),
            key: s("sealtrail.alert.key"),
            stream: ev.str_at("sealtrail.stream").unwrap_or(stream).to_owned(),
            evidence,
        };
        self.f.alerts.push(row);
    }

    /// Adds what `other` counted (the figures of other events): the reader counts each
    /// segment on a worker and the parts are merged in archive order. The result is
    /// the same as counting every event with one aggregator.
    pub fn merge(&mut self, other: Aggregator) {
        let (f, o) = (&mut self.f, other.f);
        f.events += o.events;
        for (k, n) in o.by_stream {
            *f.by_stream.entry(k).or_default() += n;
        }
        f.first_ns = match (f.first_ns, o.first_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        f.last_ns = match (f.last_ns, o.last_ns) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        f.parse_failures += o.parse_failures;
        f.auth_events += o.auth_events;
        f.login_successes += o.login_successes;
        f.login_failure_events += o.login_failure_events;
        f.login_failed_attempts = f
            .login_failed_attempts
            .saturating_add(o.login_failed_attempts);
        f.sudo_commands += o.sudo_commands;
        f.sudo_failure_events += o.sudo_failure_events;
        f.sudo_failed_attempts = f
            .sudo_failed_attempts
            .saturating_add(o.sudo_failed_attempts);
        f.sudo_refused += o.sudo_refused;
        f.su_successes += o.su_successes;
        f.su_failures += o.su_failures;
        for (k, n) in o.by_action {
            *f.by_action.entry(k).or_default() += n;
        }
        f.alerts_total += o.alerts_total;
        // `other`'s rows are the first of each of its rules: after the alerts counted
        // here, as many are listed as the rule has rows left.
        let mut listed: BTreeMap<String, u64> = BTreeMap::new();
        for row in o.alerts {
            let before = f.alerts_by_rule.get(&row.rule_id).copied().unwrap_or(0);
            let k = listed.entry(row.rule_id.clone()).or_default();
            *k += 1;
            if before + *k <= MAX_ALERT_ROWS_PER_RULE {
                f.alerts.push(row);
            }
        }
        for (k, n) in o.alerts_by_rule {
            *f.alerts_by_rule.entry(k).or_default() += n;
        }
        self.fail_src.merge(other.fail_src);
        self.fail_user.merge(other.fail_user);
        self.ok_src.merge(other.ok_src);
        self.ok_user.merge(other.ok_user);
        self.priv_user.merge(other.priv_user);
    }

    pub fn finish(mut self) -> Figures {
        let f = &mut self.f;
        f.failures_by_source = self.fail_src.top(TOP_N);
        f.failures_by_user = self.fail_user.top(TOP_N);
        f.successes_by_source = self.ok_src.top(TOP_N);
        f.successes_by_user = self.ok_user.top(TOP_N);
        f.privilege_by_user = self.priv_user.top(TOP_N);
        f.failure_sources = self.fail_src.names.len();
        f.failure_users = self.fail_user.names.len();
        f.untracked_events = [
            &self.fail_src,
            &self.fail_user,
            &self.ok_src,
            &self.ok_user,
            &self.priv_user,
        ]
        .iter()
        .map(|t| t.untracked_events)
        .sum();
        // Alerts in time order, then by id: the archive's order across streams is not
        // a time order.
        f.alerts
            .sort_by(|a, b| (a.time_ns, &a.id).cmp(&(b.time_ns, &b.id)));
        f.alerts_unlisted = f.alerts_total - f.alerts.len() as u64;
        self.f
    }
}

impl Figures {
    /// The figures of `(stream, event)` pairs.
    pub fn from_events<'a, I>(events: I) -> Figures
    where
        I: IntoIterator<Item = (&'a str, &'a Value)>,
    {
        let mut a = Aggregator::new();
        for (stream, ev) in events {
            a.add(stream, ev);
        }
        a.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failed(user: &str, ip: &str, n: u64) -> Value {
        json!({"@timestamp":"2026-12-02T10:00:01.000000000Z",
            "event":{"kind":"event","category":["authentication"],"action":"ssh_login","outcome":"failure"},
            "user":{"name":user},"source":{"ip":ip},"sealtrail":{"auth":{"attempts":n}}})
    }

    fn accepted(user: &str, ip: &str) -> Value {
        json!({"@timestamp":"2026-12-02T10:00:02.000000000Z",
            "event":{"kind":"event","category":["authentication","session"],"action":"ssh_login","outcome":"success"},
            "user":{"name":user},"source":{"ip":ip},"sealtrail":{"auth":{"attempts":0}}})
    }

    #[test]
    fn counts_logins_failures_privilege_and_alerts() {
        let evs = vec![
            failed("root", "198.51.100.23", 1),
            failed("root", "198.51.100.23", 1),
            failed("admin", "203.0.113.5", 1),
            // A closing line: a failure event that stands for no attempt on its own.
            json!({"event":{"category":["authentication"],"action":"ssh_auth_abandoned","outcome":"failure"},
                "source":{"ip":"198.51.100.23"},"sealtrail":{"auth":{"attempts":0}}}),
            accepted("alice", "192.0.2.44"),
            json!({"event":{"category":["process"],"action":"sudo_command","outcome":"success"},
                "user":{"name":"alice","target":{"name":"root"}}}),
            json!({"event":{"category":["authentication"],"action":"sudo_auth_failure","outcome":"failure"},
                "user":{"name":"bob","target":{"name":"root"}},"sealtrail":{"auth":{"attempts":3}}}),
            json!({"event":{"category":["authentication"],"action":"su","outcome":"failure"},
                "user":{"name":"bob","target":{"name":"root"}},"sealtrail":{"auth":{"attempts":1}}}),
            json!({"event":{"category":["authentication"],"action":"su","outcome":"success"},
                "user":{"name":"alice","target":{"name":"postgres"}}}),
            json!({"event":{"kind":"event"},"message":"cron ran"}),
            json!({"@timestamp":"2026-12-02T10:00:05.000000Z","event":{"kind":"alert","id":"h:9:alert:0","severity":73},
                "rule":{"id":"brute_force","name":"SSH brute force"},"message":"5 failures",
                "sealtrail":{"stream":"h","alert":{"key":"ip:198.51.100.23","evidence":["h:1","h:2"]}}}),
        ];
        let f = Figures::from_events(evs.iter().map(|e| ("h", e)));
        assert_eq!(f.events, 11);
        assert_eq!(f.by_stream.get("h"), Some(&11));
        assert_eq!(f.auth_events, 5);
        assert_eq!(f.login_successes, 1);
        assert_eq!(f.login_failure_events, 4);
        assert_eq!(f.login_failed_attempts, 3);
        assert_eq!(f.failure_sources, 2);
        assert_eq!(f.failure_users, 2, "the closing line names no user");
        let top = &f.failures_by_source[0];
        assert_eq!(
            (top.name.as_str(), top.events, top.attempts, top.distinct),
            ("198.51.100.23", 3, 2, 1)
        );
        assert_eq!(f.successes_by_user[0].name, "alice");
        assert_eq!(f.sudo_commands, 1);
        assert_eq!((f.sudo_failure_events, f.sudo_failed_attempts), (1, 3));
        assert_eq!((f.su_successes, f.su_failures), (1, 1));
        let bob = f
            .privilege_by_user
            .iter()
            .find(|t| t.name == "bob")
            .unwrap();
        assert_eq!((bob.events, bob.attempts, bob.distinct), (2, 4, 1));
        let alice = f
            .privilege_by_user
            .iter()
            .find(|t| t.name == "alice")
            .unwrap();
        assert_eq!(
            (alice.events, alice.distinct),
            (2, 2),
            "targets root and postgres"
        );
        assert_eq!(f.alerts_total, 1);
        let a = &f.alerts[0];
        assert_eq!(a.rule_id, "brute_force");
        assert_eq!(a.evidence, vec!["h:1", "h:2"]);
        assert_eq!(a.severity, Some(73));
        assert_eq!(f.alerts_by_rule.get("brute_force"), Some(&1));
        assert_eq!(
            f.by_action.get(&("ssh_login".into(), "failure".into())),
            Some(&3)
        );
    }

    #[test]
    fn top_tables_break_ties_by_name_whatever_the_input_order() {
        let mut evs: Vec<Value> = ["203.0.113.9", "192.0.2.1", "198.51.100.7", "192.0.2.10"]
            .iter()
            .flat_map(|ip| [failed("u", ip, 1), failed("v", ip, 1)])
            .collect();
        evs.push(failed("u", "10.0.0.1", 1));
        let forward = Figures::from_events(evs.iter().map(|e| ("h", e)));
        let backward = Figures::from_events(evs.iter().rev().map(|e| ("h", e)));
        let names = |f: &Figures| {
            f.failures_by_source
                .iter()
                .map(|t| t.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&forward),
            [
                "192.0.2.1",
                "192.0.2.10",
                "198.51.100.7",
                "203.0.113.9",
                "10.0.0.1"
            ]
        );
        assert_eq!(names(&forward), names(&backward));
        assert_eq!(
            forward.failures_by_user[0].name, "u",
            "5 events before v's 4"
        );
    }

    #[test]
    fn merged_parts_equal_one_pass() {
        let mut evs: Vec<Value> = (0..40)
            .map(|i| failed(&format!("u{}", i % 7), &format!("192.0.2.{}", i % 5), 1))
            .collect();
        evs.extend((0..9).map(|i| accepted(&format!("u{}", i % 3), "198.51.100.1")));
        evs.push(json!({"@timestamp":"2026-12-02T09:00:00Z","event":{"kind":"alert","id":"a"},"rule":{"id":"r"}}));
        evs.push(json!({"@timestamp":"2026-12-02T08:00:00Z","event":{"kind":"alert","id":"b"},"rule":{"id":"r"}}));
        evs.push(
            json!({"event":{"category":["authentication"],"action":"su","outcome":"failure"},
            "user":{"name":"u1","target":{"name":"root"}},"sealtrail":{"auth":{"attempts":1}}}),
        );
        let whole = Figures::from_events(evs.iter().map(|e| ("h", e)));
        for size in [1, 3, 7, 100] {
            let mut total = Aggregator::new();
            for part in evs.chunks(size) {
                let mut a = Aggregator::new();
                for e in part {
                    a.add("h", e);
                }
                total.merge(a);
            }
            assert_eq!(total.finish(), whole, "parts of {size}");
        }
        assert_eq!(whole.alerts[0].id, "b", "alerts in time order");
    }

    #[test]
    fn top_tables_keep_at_most_top_n() {
        let evs: Vec<Value> = (0..25)
            .map(|i| failed(&format!("user{i:02}"), "192.0.2.1", 1))
            .collect();
        let f = Figures::from_events(evs.iter().map(|e| ("h", e)));
        assert_eq!(f.failures_by_user.len(), TOP_N);
        assert_eq!(f.failure_users, 25);
        assert_eq!(f.failures_by_user[0].name, "user00");
        assert_eq!(f.failures_by_source[0].distinct, 25);
    }

    #[test]
    fn a_flood_of_names_is_bounded_and_said() {
        let mut a = Aggregator::new();
        // One source trying more users than are told apart, then more sources than a
        // table tracks.
        for u in 0..MAX_COUNTERPARTS + 5 {
            a.add("s", &failed(&format!("u{u}"), "192.0.2.1", 1));
        }
        for i in 0..MAX_NAMES + 3 {
            let ip = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
            a.add("s", &failed("root", &ip, 1));
        }
        let f = a.finish();
        assert_eq!(f.failure_sources, MAX_NAMES, "the table stopped at its cap");
        // The flooding source got in first, with its capped counterparts.
        let top = &f.failures_by_source[0];
        assert_eq!(top.name, "192.0.2.1");
        assert_eq!(
            (top.distinct, top.distinct_capped),
            (MAX_COUNTERPARTS, true)
        );
        // 4 sources came after the cap (the table held 192.0.2.1 and 99,999 others).
        assert_eq!(f.untracked_events, 4);
        // Every event is still in the totals.
        assert_eq!(
            f.login_failure_events,
            (MAX_COUNTERPARTS + 5 + MAX_NAMES + 3) as u64
        );
        let root = f
            .failures_by_user
            .iter()
            .find(|t| t.name == "root")
            .unwrap();
        assert!(root.distinct_capped && root.distinct == MAX_COUNTERPARTS);
    }

    #[test]
    fn odd_events_count_without_panicking() {
        let evs = [
            json!(null),
            json!([1, 2]),
            json!({"event":{"category":"authentication","action":7,"outcome":["x"]}}),
            json!({"@timestamp":"not a time","event":{"kind":"alert","severity":"high"},
                "sealtrail":{"alert":{"evidence":[1,"a"]}}}),
        ];
        let f = Figures::from_events(evs.iter().map(|e| ("h", e)));
        assert_eq!(f.events, 4);
        assert_eq!(f.alerts_total, 1);
        assert_eq!(f.alerts[0].evidence, vec!["1", "a"]);
        assert_eq!(f.first_ns, None);
        assert_eq!(f.auth_events, 1, "a category given as a string counts");
    }

    #[test]
    fn each_rule_lists_its_first_alerts_and_counts_them_all() {
        let alert = |rule: &str, n: usize| {
            json!({"@timestamp": format!("2026-12-01T10:{:02}:{:02}Z", n / 60 % 60, n % 60),
                "event":{"kind":"alert","id":format!("s:{n}:alert:0")},"rule":{"id":rule}})
        };
        let mut evs: Vec<Value> = (0..250).map(|n| alert("noisy", n)).collect();
        evs.insert(120, alert("rare", 1000));
        evs.push(alert("rare", 1001));
        let one = Figures::from_events(evs.iter().map(|e| ("s", e)));
        // Counted in parts of 7 events, merged in order: the same figures.
        let mut agg = Aggregator::new();
        for chunk in evs.chunks(7) {
            let mut part = Aggregator::new();
            for e in chunk {
                part.add("s", e);
            }
            agg.merge(part);
        }
        assert_eq!(agg.finish(), one);
        assert_eq!(one.alerts_total, 252);
        assert_eq!(one.alerts_by_rule["noisy"], 250);
        let listed = |r: &str| one.alerts.iter().filter(|a| a.rule_id == r).count() as u64;
        assert_eq!(listed("noisy"), MAX_ALERT_ROWS_PER_RULE);
        assert_eq!(listed("rare"), 2);
        assert_eq!(one.alerts_unlisted, 250 - MAX_ALERT_ROWS_PER_RULE);
        // The first ones of the rule, in time order.
        let ids: Vec<&str> = one
            .alerts
            .iter()
            .filter(|a| a.rule_id == "noisy")
            .map(|a| a.id.as_str())
            .collect();
        let want: Vec<String> = (0..MAX_ALERT_ROWS_PER_RULE)
            .map(|n| format!("s:{n}:alert:0"))
            .collect();
        assert_eq!(ids, want);
    }

    #[test]
    fn dotted_fields_nested_or_flat() {
        let v = json!({"a":{"b.c":1},"x.y":{"z":2}});
        assert_eq!(field(&v, "a.b.c"), Some(&json!(1)));
        assert_eq!(field(&v, "x.y.z"), Some(&json!(2)));
        assert_eq!(field(&v, "a.q"), None);
    }
}
