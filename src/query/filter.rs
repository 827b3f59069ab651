//! Search filters. Different filters AND together; the values of one filter given
//! several times OR. Field filters compare with the event's ECS fields (`host.name`,
//! `user.name`, `source.ip`, `event.kind`, `event.category`, `event.action`,
//! `event.outcome`, `rule.id`): exact values, host names without regard to ASCII case;
//! `--text` is a substring of `event.original` (the line as received).

use std::borrow::Cow;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use crate::event::ecs::EcsWriter;

use super::event::{Event, View};

/// A `--source` value: one address or a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source(IpNet);

impl std::str::FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(Source(net.trunc()));
        }
        s.parse::<IpAddr>()
            .map(|ip| Source(IpNet::from(ip)))
            .map_err(|_| {
                format!("`{s}` is neither an IP address nor a CIDR block (e.g. 203.0.113.0/24)")
            })
    }
}

impl Source {
    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 address seen as IPv4-mapped IPv6 is the same sender.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.contains(&ip)
    }
}

/// `--text` values looked for in the raw bytes of the content, before any line is
/// parsed: a value that JSON writes unescaped appears verbatim in a line whose original
/// holds it, so a line without any of them cannot match.
#[derive(Debug, Clone)]
pub enum Probe {
    Exact(Vec<memchr::memmem::Finder<'static>>),
    /// Lower-case ASCII values, compared without regard to ASCII case.
    AsciiCaseless(Vec<Vec<u8>>),
}

impl Probe {
    fn in_line(&self, line: &[u8]) -> bool {
        match self {
            Probe::Exact(fs) => fs.iter().any(|f| f.find(line).is_some()),
            Probe::AsciiCaseless(ts) => ts
                .iter()
                .any(|t| line.windows(t.len()).any(|w| w.eq_ignore_ascii_case(t))),
        }
    }

    /// The byte ranges of the lines of `content` (each ending before its `\n`) that
    /// may match, in order, each once.
    pub fn candidates(&self, content: &[u8]) -> Vec<(usize, usize)> {
        let mut hits: Vec<usize> = match self {
            Probe::Exact(fs) => fs.iter().flat_map(|f| f.find_iter(content)).collect(),
            Probe::AsciiCaseless(_) => {
                // Line by line: no whole-content search without regard to case here.
                let mut out = Vec::new();
                let mut start = 0;
                for end in memchr::memchr_iter(b'\n', content) {
                    if self.in_line(&content[start..end]) {
                        out.push(start);
                    }
                    start = end + 1;
                }
                out
            }
        };
        hits.sort_unstable();
        let mut lines: Vec<(usize, usize)> = Vec::new();
        for at in hits {
            if lines.last().is_some_and(|&(_, end)| at <= end) {
                continue;
            }
            let start = memchr::memrchr(b'\n', &content[..at]).map_or(0, |i| i + 1);
            let Some(len) = memchr::memchr(b'\n', &content[at..]) else {
                continue;
            };
            lines.push((start, at + len));
        }
        lines
    }
}

/// What to keep. Empty lists do not filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub streams: Vec<String>,
    pub hosts: Vec<String>,
    pub users: Vec<String>,
    pub sources: Vec<Source>,
    pub kinds: Vec<String>,
    pub categories: Vec<String>,
    pub actions: Vec<String>,
    pub outcomes: Vec<String>,
    pub rule_ids: Vec<String>,
    pub texts: Vec<String>,
    /// `--text` without regard to case (Unicode lower case).
    pub ignore_case: bool,
}

/// The fields the filters look at, read once per event.
#[derive(Debug, Default)]
struct Facts<'a> {
    host: Option<Cow<'a, str>>,
    user: Option<Cow<'a, str>>,
    source: Option<IpAddr>,
    kind: Option<Cow<'a, str>>,
    categories: Vec<Cow<'a, str>>,
    action: Option<Cow<'a, str>>,
    outcome: Option<Cow<'a, str>>,
    rule_id: Option<Cow<'a, str>>,
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<Cow<'a, str>> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(Cow::Borrowed)
}

impl<'a> Facts<'a> {
    fn of_ecs(v: &'a Value) -> Facts<'a> {
        let categories = match v.pointer("/event/category") {
            Some(Value::String(s)) => vec![Cow::Borrowed(s.as_str())],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(Cow::Borrowed)
                .collect(),
            _ => Vec::new(),
        };
        Facts {
            host: str_at(v, "/host/name"),
            user: str_at(v, "/user/name"),
            source: v
                .pointer("/source/ip")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok()),
            kind: str_at(v, "/event/kind"),
            categories,
            action: str_at(v, "/event/action"),
            outcome: str_at(v, "/event/outcome"),
            rule_id: str_at(v, "/rule/id"),
        }
    }
}

impl Filter {
    /// Whether only `--text` (or nothing) filters: no field needs to be read.
    fn fields_needed(&self) -> bool {
        !(self.hosts.is_empty()
            && self.users.is_empty()
            && self.sources.is_empty()
            && self.kinds.is_empty()
            && self.categories.is_empty()
            && self.actions.is_empty()
            && self.outcomes.is_empty()
            && self.rule_ids.is_empty())
    }

    /// Whether the segment's stream is wanted.
    pub fn stream_matches(&self, stream: &str) -> bool {
        self.streams.is_empty() || self.streams.iter().any(|s| s == stream)
    }

    /// The quick test on raw bytes for `--text` (see [`Probe`]); `None` when it cannot
    /// be done on the bytes (no `--text`, a value JSON would escape, or a case-blind
    /// value that is not ASCII): every line is then a candidate.
    pub fn probe(&self) -> Option<Probe> {
        if self.texts.is_empty() {
            return None;
        }
        let escaped = |t: &String| t.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
        if self.texts.iter().any(|t| t.is_empty() || escaped(t)) {
            return None;
        }
        if self.ignore_case {
            if !self.texts.iter().all(|t| t.is_ascii()) {
                return None;
            }
            let lowered = self
                .texts
                .iter()
                .map(|t| t.to_ascii_lowercase().into_bytes())
                .collect();
            return Some(Probe::AsciiCaseless(lowered));
        }
        let finders = self
            .texts
            .iter()
            .map(|t| memchr::memmem::Finder::new(t.as_bytes()).into_owned())
            .collect();
        Some(Probe::Exact(finders))
    }

    /// A quick test on one line's bytes: false only if no `--text` value can be in its
    /// original (used by tests; [`Probe::candidates`] does it for a whole segment).
    pub fn may_match_line(&self, line: &[u8]) -> bool {
        match self.probe() {
            None => true,
            Some(p) => p.in_line(line),
        }
    }

    fn text_matches(&self, original: Option<&str>) -> bool {
        if self.texts.is_empty() {
            return true;
        }
        let Some(o) = original else {
            return false;
        };
        if self.ignore_case {
            let o = o.to_lowercase();
            self.texts.iter().any(|t| o.contains(&t.to_lowercase()))
        } else {
            self.texts.iter().any(|t| o.contains(t.as_str()))
        }
    }

    /// Whether `ev` is kept. `ecs` renders an event whose fields are not in its compact
    /// line directly (an application audit event) to read them from its ECS form.
    pub fn matches(&self, ev: &Event<'_>, ecs: &mut EcsWriter) -> bool {
        if !self.text_matches(ev.view.original().as_deref()) {
            return false;
        }
        if !self.fields_needed() {
            return true;
        }
        match &ev.view {
            View::Compact(c) if c.audit.is_none() => {
                let auth = c.auth.as_ref();
                let facts = Facts {
                    host: c.hostname.as_deref().map(Cow::Borrowed),
                    user: auth.and_then(|a| a.user.as_deref()).map(Cow::Borrowed),
                    source: auth.and_then(|a| a.source_ip),
                    kind: Some(Cow::Borrowed("event")),
                    categories: auth
                        .map(|a| a.category.iter().map(Cow::Borrowed).collect())
                        .unwrap_or_default(),
                    action: auth.map(|a| Cow::Borrowed(a.action.as_ref())),
                    outcome: auth.map(|a| Cow::Borrowed(a.outcome.as_ref())),
                    rule_id: None,
                };
                self.facts_match(&facts)
            }
            View::Compact(_) => {
                let v = ev.ecs(ecs);
                self.facts_match(&Facts::of_ecs(&v))
            }
            View::Ecs(v) => self.facts_match(&Facts::of_ecs(v)),
            View::Unparsed(_) => false,
        }
    }

    fn facts_match(&self, f: &Facts<'_>) -> bool {
        fn one_of(wanted: &[String], got: &Option<Cow<'_, str>>) -> bool {
            wanted.is_empty()
                || got
                    .as_deref()
                    .is_some_and(|g| wanted.iter().any(|w| w == g))
        }
        let host = self.hosts.is_empty()
            || f.host
                .as_deref()
                .is_some_and(|h| self.hosts.iter().any(|w| w.eq_ignore_ascii_case(h)));
        let source = self.sources.is_empty()
            || f.source
                .is_some_and(|ip| self.sources.iter().any(|s| s.contains(ip)));
        let category = self.categories.is_empty()
            || f.categories
                .iter()
                .any(|c| self.categories.iter().any(|w| w == c));
        host && source
            && category
            && one_of(&self.users, &f.user)
            && one_of(&self.kinds, &f.kind)
            && one_of(&self.actions, &f.action)
            && one_of(&self.outcomes, &f.outcome)
            && one_of(&self.rule_ids, &f.rule_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Line;

    const SSH: &str = r#"{"v":2,"pos":7,"rcv":1714521600000000000,"in":"tcp","peer":"192.0.2.10:51514","ts":1714521600000000000,"pri":38,"host":"Web1","app":"sshd","pid":42,"m":33,"auth":{"cat":["authentication"],"type":["start"],"act":"ssh_login","out":"failure","user":"root","ip":"203.0.113.5","port":52144,"n":1,"method":"password"},"o":"<38>May  1 00:00:00 Web1 sshd[42]: Failed password for root from 203.0.113.5 port 52144 ssh2"}"#;
    const ALERT: &str = r#"{"@timestamp":"2024-05-01T00:00:05.000000000Z","event":{"kind":"alert","id":"alpha:1149:alert:0","category":["intrusion_detection"],"action":"brute_force","original":"5 failures"},"rule":{"id":"ssh_brute_force"},"source":{"ip":"203.0.113.5"},"host":{"name":"web1"}}"#;

    fn check(f: &Filter, line: &str) -> bool {
        let ev = Event {
            line: Line {
                bytes: line.as_bytes(),
                index: 0,
            },
            view: View::of(line.as_bytes()),
            stream: "s",
            location: "s/x",
            verified: true,
        };
        assert!(!matches!(ev.view, View::Unparsed(_)), "{:?}", ev.view);
        let id = match line {
            SSH => Some("s:7"),
            ALERT => Some("alpha:1149:alert:0"),
            _ => None,
        };
        assert_eq!(ev.id().as_deref(), id);
        let quick = f.may_match_line(line.as_bytes());
        let full = f.matches(&ev, &mut EcsWriter::default());
        // The quick test never drops what the full one keeps.
        assert!(quick || !full, "{f:?}");
        quick && full
    }

    fn src(s: &str) -> Source {
        s.parse().unwrap()
    }

    #[test]
    fn each_field_filter_selects_by_its_ecs_field() {
        let all = Filter::default();
        assert!(check(&all, SSH) && check(&all, ALERT));
        let f = |mut g: Filter, edit: &dyn Fn(&mut Filter)| {
            edit(&mut g);
            (check(&g, SSH), check(&g, ALERT))
        };
        let d = Filter::default;
        assert_eq!(f(d(), &|g| g.hosts = vec!["web1".into()]), (true, true));
        assert_eq!(f(d(), &|g| g.hosts = vec!["web2".into()]), (false, false));
        assert_eq!(f(d(), &|g| g.users = vec!["root".into()]), (true, false));
        assert_eq!(f(d(), &|g| g.users = vec!["Root".into()]), (false, false));
        assert_eq!(
            f(d(), &|g| g.sources = vec![src("203.0.113.0/24")]),
            (true, true)
        );
        assert_eq!(
            f(d(), &|g| g.sources = vec![src("203.0.113.6")]),
            (false, false)
        );
        assert_eq!(
            f(d(), &|g| g.sources =
                vec![src("10.0.0.0/8"), src("203.0.113.5")]),
            (true, true),
            "repeated values OR"
        );
        assert_eq!(f(d(), &|g| g.kinds = vec!["alert".into()]), (false, true));
        assert_eq!(f(d(), &|g| g.kinds = vec!["event".into()]), (true, false));
        assert_eq!(
            f(d(), &|g| g.categories = vec!["authentication".into()]),
            (true, false)
        );
        assert_eq!(
            f(d(), &|g| g.actions = vec!["ssh_login".into()]),
            (true, false)
        );
        assert_eq!(
            f(d(), &|g| g.outcomes = vec!["failure".into()]),
            (true, false)
        );
        assert_eq!(
            f(d(), &|g| g.rule_ids = vec!["ssh_brute_force".into()]),
            (false, true)
        );
        // Different filters AND.
        assert_eq!(
            f(d(), &|g| {
                g.users = vec!["root".into()];
                g.outcomes = vec!["success".into()];
            }),
            (false, false)
        );
    }

    #[test]
    fn text_is_a_substring_of_the_original_line() {
        let t = |texts: &[&str], ignore_case| Filter {
            texts: texts.iter().map(|s| s.to_string()).collect(),
            ignore_case,
            ..Filter::default()
        };
        assert!(check(&t(&["Failed password"], false), SSH));
        assert!(!check(&t(&["failed password"], false), SSH));
        assert!(check(&t(&["failed PASSWORD"], true), SSH));
        // In the line's other members but not in the original: no match.
        assert!(!check(&t(&["ssh_login"], false), SSH));
        assert!(!check(&t(&["nothing", "else"], false), SSH));
        assert!(check(&t(&["nothing", "52144 ssh2"], false), SSH));
        assert!(check(&t(&["5 failures"], false), ALERT));
        // A value JSON escapes is still found (the quick test lets it through).
        let quoted = r#"{"@timestamp":"2024-05-01T00:00:05.000000000Z","event":{"original":"say \"hi\", then\tgo"}}"#;
        assert!(check(&t(&["\"hi\", then\tgo"], false), quoted));
    }

    #[test]
    fn the_probe_finds_each_candidate_line_once() {
        let f = Filter {
            texts: vec!["foo".into(), "o b".into()],
            ..Filter::default()
        };
        let content = b"a\nfoo b\nc\nfoo foo\nfo\n";
        let p = f.probe().unwrap();
        assert_eq!(p.candidates(content), [(2, 7), (10, 17)]);
        let caseless = Filter {
            texts: vec!["FOO".into()],
            ignore_case: true,
            ..Filter::default()
        };
        assert_eq!(
            caseless.probe().unwrap().candidates(content),
            [(2, 7), (10, 17)]
        );
        // Values the bytes cannot be searched for: no probe, every line is a candidate.
        let quoted = Filter {
            texts: vec!["say \"hi\"".into()],
            ..Filter::default()
        };
        assert!(quoted.probe().is_none());
    }

    #[test]
    fn sources_are_addresses_or_blocks() {
        assert!(src("2001:db8::/32").contains("2001:db8::1".parse().unwrap()));
        assert!(src("192.0.2.0/24").contains("::ffff:192.0.2.9".parse().unwrap()));
        assert!(!src("192.0.2.1").contains("192.0.2.2".parse().unwrap()));
        // Host bits in a block are ignored, as `ip route` does.
        assert!(src("192.0.2.77/24").contains("192.0.2.1".parse().unwrap()));
        assert!("web1".parse::<Source>().is_err());
    }
}
