//! `sealtrail replay`: log lines through normalisation and the detector, offline.
//!
//! What `fail2ban-regex` is to fail2ban: a way to see, on one's own logs, what the
//! normaliser makes of each line and which alerts the rules would raise, without a
//! journal, an archive or a running daemon. Time comes from the lines themselves, so a
//! month of `auth.log` replays in seconds with the rules' windows intact.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};

use crate::detect::{DetectConfig, Detector};
use crate::normalise::{Input, Normaliser, TimeZoneSpec};
use crate::record::{IngestRecord, Origin, RecordFlags};

/// What to print besides the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// Every event, recognised or not, and the alerts.
    All,
    /// Authentication-related events and the alerts (the default).
    Auth,
    /// Only the alerts.
    Alerts,
    /// The lines that were not recognised as authentication events, verbatim (what
    /// `fail2ban-regex` lists as missed), and no alerts: what the recognisers miss on
    /// one's own logs.
    Unmatched,
    /// Nothing but the summary.
    None,
}

/// Counts for the summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub lines: u64,
    pub parse_failures: u64,
    pub auth_events: u64,
    /// Lines not recognised as authentication events (nor as auditd file-watch records).
    pub unmatched: u64,
    /// auditd `SYSCALL`/`CWD`/`PATH` records read by the `file_watch` rule.
    pub file_watch_records: u64,
    /// Authentication events with facts from their connection's other lines
    /// (`sealtrail.auth.from_connection`).
    pub from_connection: u64,
    /// (action, outcome) → events.
    pub actions: BTreeMap<(&'static str, &'static str), u64>,
    /// rule id → alerts.
    pub alerts: BTreeMap<String, u64>,
}

impl Summary {
    pub fn total_alerts(&self) -> u64 {
        self.alerts.values().sum()
    }

    /// The human summary printed after a replay.
    pub fn render(&self) -> String {
        let mut s = format!(
            "lines: {}  parse failures: {}  authentication events: {}  unmatched: {}  alerts: {}\n",
            self.lines,
            self.parse_failures,
            self.auth_events,
            self.unmatched,
            self.total_alerts()
        );
        if self.file_watch_records > 0 {
            s.push_str(&format!(
                "auditd file-watch records (SYSCALL, CWD, PATH): {}\n",
                self.file_watch_records
            ));
        }
        if self.from_connection > 0 {
            s.push_str(&format!(
                "events completed from their connection's other lines: {}\n",
                self.from_connection
            ));
        }
        if !self.actions.is_empty() {
            s.push_str("\nevent.action                   event.outcome      count\n");
            for ((action, outcome), n) in &self.actions {
                s.push_str(&format!("{action:<30} {outcome:<14} {n:>9}\n"));
            }
        }
        if !self.alerts.is_empty() {
            s.push_str("\nrule.id                        alerts\n");
            for (rule, n) in &self.alerts {
                s.push_str(&format!("{rule:<30} {n:>6}\n"));
            }
        }
        s
    }
}

/// Replays `input` line by line; events and alerts go to `out` as JSON lines.
/// `received_ns` stands in for the receive time (it anchors the year of RFC 3164
/// timestamps); the detector runs on each line's own timestamp.
pub fn replay(
    input: impl BufRead,
    name: &str,
    detect: DetectConfig,
    timezone: TimeZoneSpec,
    received_ns: i64,
    show: Show,
    out: &mut impl Write,
) -> io::Result<Summary> {
    let stream = "replay";
    let mut normaliser = Normaliser::new(stream, vec![("replay".into(), timezone)]);
    let mut detector = detect.enabled.then(|| Detector::new(detect));
    let mut summary = Summary::default();
    let mut line_buf = Vec::new();
    let mut json = Vec::with_capacity(1024);
    let mut input = input;
    let mut offset = 0u64;
    // `<stream>:<position>`, rewritten in place for each authentication event.
    let mut id = format!("{stream}:");
    loop {
        line_buf.clear();
        let read = read_line(&mut input, &mut line_buf)?;
        if read == 0 {
            break;
        }
        let line_offset = offset;
        offset += read as u64;
        let mut raw = line_buf.as_slice();
        raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() {
            continue;
        }
        summary.lines += 1;
        let position = summary.lines;
        // A line of a file, exactly as the daemon's file source journals one: the one
        // decode step then gives the same event and detector input as in the daemon.
        let rec = IngestRecord {
            received_ns,
            source: 0,
            origin: Origin::File {
                path: name.as_bytes(),
                offset: line_offset,
            },
            flags: RecordFlags::EMPTY,
            raw,
        };
        let input = Input::of(&rec);
        let decoded = normaliser.decode(&rec, &input);
        let time = decoded.detector_time_ns();
        // Borrowed, not moved out: both are large, and this runs once a line.
        let (event, auth) = (&decoded.event, &decoded.auth);
        if event.parse_failure {
            summary.parse_failures += 1;
        }
        // auditd's file-watch records, among the lines that are no authentication event.
        let watch = match (auth, detector.as_ref()) {
            (None, Some(d)) if d.watches_files() => crate::auth::watch::recognise(event.message),
            _ => None,
        };
        match auth {
            Some(a) => {
                summary.auth_events += 1;
                summary.from_connection += u64::from(!a.from_connection.is_empty());
                *summary
                    .actions
                    .entry((a.action, a.outcome.as_str()))
                    .or_default() += 1;
            }
            None if watch.is_some() => summary.file_watch_records += 1,
            None => {
                summary.unmatched += 1;
                if show == Show::Unmatched {
                    out.write_all(raw)?;
                    out.write_all(b"\n")?;
                }
            }
        }
        if show == Show::All || (show == Show::Auth && auth.is_some()) {
            json.clear();
            normaliser.write_detected(position, event, auth.as_ref(), &mut json);
            json.push(b'\n');
            out.write_all(&json)?;
        }
        if let Some(d) = detector.as_mut() {
            id.truncate(stream.len() + 1);
            id.push_str(itoa::Buffer::new().format(position));
            let alerts = match (auth, &watch) {
                (Some(a), _) => d.observe(time, &id, a),
                (None, Some(w)) => {
                    let host = event.hostname.unwrap_or("");
                    d.observe_watch(time, &id, host, w).into_iter().collect()
                }
                (None, None) => Vec::new(),
            };
            for (i, alert) in alerts.iter().enumerate() {
                *summary.alerts.entry(alert.rule_id.to_string()).or_default() += 1;
                if !matches!(show, Show::None | Show::Unmatched) {
                    json.clear();
                    alert.render_json(stream, &format!("{id}:alert:{i}"), &mut json);
                    json.push(b'\n');
                    out.write_all(&json)?;
                }
            }
        }
    }
    Ok(summary)
}

/// `BufRead::read_until(b'\n')` with the `memchr` crate's vectorised search: the
/// standard one scans bytewise in a generic loop, a tenth of replay's time on short
/// lines.
fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<usize> {
    let mut read = 0;
    loop {
        let (done, used) = {
            let available = match input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            match memchr::memchr(b'\n', available) {
                Some(i) => {
                    line.extend_from_slice(&available[..=i]);
                    (true, i + 1)
                }
                None => {
                    line.extend_from_slice(available);
                    (available.is_empty(), available.len())
                }
            }
        };
        input.consume(used);
        read += used;
        if done {
            return Ok(read);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_000_000_000_000_000;

    fn run(input: &str, show: Show) -> (Summary, String) {
        let mut out = Vec::new();
        let s = replay(
            input.as_bytes(),
            "test.log",
            DetectConfig::default(),
            TimeZoneSpec::Utc,
            T0,
            show,
            &mut out,
        )
        .unwrap();
        (s, String::from_utf8(out).unwrap())
    }

    #[test]
    fn counts_actions_and_raises_alerts_on_line_time() {
        // auth.log form (no PRI), one minute apart: inside the 10 min window.
        let mut log = String::new();
        for i in 0..6 {
            log.push_str(&format!(
                "Nov 22 10:0{i}:00 web sshd[{}]: Failed password for root from 203.0.113.5 port 5{i}000 ssh2\n",
                100 + i
            ));
        }
        log.push_str("Nov 22 10:07:00 web CRON[9]: (root) CMD (true)\n");
        let (s, out) = run(&log, Show::Auth);
        assert_eq!(s.lines, 7);
        assert_eq!(s.auth_events, 6);
        assert_eq!(s.actions.get(&("ssh_login", "failure")), Some(&6));
        assert_eq!(s.alerts.get("brute_force"), Some(&1), "{}", s.render());
        let alerts: Vec<&str> = out.lines().filter(|l| l.contains("\"alert\"")).collect();
        assert_eq!(alerts.len(), s.total_alerts() as usize);
        for line in out.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
        assert!(
            !out.contains("CRON"),
            "non-auth lines are not shown by default"
        );
    }

    #[test]
    fn failures_spread_beyond_the_window_raise_nothing() {
        let mut log = String::new();
        for h in 0..6 {
            log.push_str(&format!(
                "Nov 22 1{h}:00:00 web sshd[1{h}]: Failed password for root from 203.0.113.5 port 2222 ssh2\n"
            ));
        }
        let (s, out) = run(&log, Show::Alerts);
        assert_eq!(s.auth_events, 6);
        assert_eq!(s.total_alerts(), 0, "{}", s.render());
        assert!(out.is_empty());
    }

    #[test]
    fn show_all_prints_every_line_and_counts_parse_failures() {
        let (s, out) = run("just words\n\n<13>Nov 22 10:00:00 h app: hi\n", Show::All);
        assert_eq!(s.lines, 2);
        assert_eq!(s.parse_failures, 1);
        assert_eq!(out.lines().count(), 2);
        assert!(s.render().contains("parse failures: 1"));
    }

    #[test]
    fn show_unmatched_lists_the_missed_lines_verbatim() {
        let log =
            "Nov 22 10:00:00 web sshd[1]: Failed password for root from 203.0.113.5 port 1 ssh2\n\
                   Nov 22 10:00:01 web CRON[9]: (root) CMD (true)\n\
                   Nov 22 10:00:02 web sshd[2]: Server listening on 0.0.0.0 port 22.\n\
                   just words\n";
        let (s, out) = run(log, Show::Unmatched);
        assert_eq!((s.lines, s.auth_events, s.unmatched), (4, 1, 3));
        let missed: Vec<&str> = out.lines().map(str::trim_start).collect();
        assert_eq!(
            missed,
            [
                "Nov 22 10:00:01 web CRON[9]: (root) CMD (true)",
                "Nov 22 10:00:02 web sshd[2]: Server listening on 0.0.0.0 port 22.",
                "just words"
            ]
        );
        assert!(s.render().contains("unmatched: 3"), "{}", s.render());
    }

    /// `journalctl -o short|short-iso|short-precise|short-iso-precise` and macOS `log
    /// show` (both styles) as replay input files, with their banner lines.
    #[test]
    fn journalctl_and_log_show_files() {
        let failed = "Failed password for invalid user oracle from 198.51.100.7 port 40000 ssh2";
        for (form, header, sep) in [
            ("short", "Nov 22 10:00:00 web1 sshd[4100]:", " "),
            ("short-iso", "2026-11-22T10:00:00+0000 web1 sshd[4100]:", " "),
            ("short-precise", "Nov 22 10:00:00.123456 web1 sshd[4100]:", " "),
            ("short-iso-precise", "2026-11-22T10:00:00.123456+0000 web1 sshd[4100]:", " "),
            ("log show --style syslog", "2026-11-22 10:00:00.123456+0000  web1 sshd[4100]:", " "),
            (
                "log show",
                "2026-11-22 10:00:00.123456+0000 0x2f1e5    Default     0x0                  4100   0    sshd:",
                " ",
            ),
        ] {
            let log = format!(
                "-- Journal begins at Sun 2026-11-01 00:00:00 UTC. --\n\
                 Timestamp                       Thread     Type        Activity             PID    TTL\n\
                 {header}{sep}{failed}\n\
                 {header}{sep}message repeated 2 times: [ {failed}]\n"
            );
            let (s, out) = run(&log, Show::Auth);
            assert_eq!(s.auth_events, 2, "{form}: {}", s.render());
            assert_eq!(s.actions.get(&("ssh_login", "failure")), Some(&2), "{form}");
            for line in out.lines().filter(|l| !l.contains("\"alert\"")) {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(v["source"]["ip"], "198.51.100.7", "{form}");
                assert_eq!(v["user"]["name"], "oracle", "{form}");
            }
            assert_eq!(s.unmatched, 2, "{form}: the banner lines");
        }
    }

    #[test]
    fn lines_are_read_whole_across_buffer_edges() {
        let text = b"first line\nsecond, longer than the buffer\n\nno newline at the end";
        for cap in [1, 2, 3, 7, 64] {
            let mut r = std::io::BufReader::with_capacity(cap, &text[..]);
            let mut got = Vec::new();
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = read_line(&mut r, &mut line).unwrap();
                if n == 0 {
                    break;
                }
                assert_eq!(n, line.len());
                got.push(String::from_utf8(line.clone()).unwrap());
            }
            assert_eq!(
                got,
                [
                    "first line\n",
                    "second, longer than the buffer\n",
                    "\n",
                    "no newline at the end"
                ],
                "capacity {cap}"
            );
        }
    }

    #[test]
    fn events_completed_from_the_connection_say_so() {
        let log = "Nov 22 10:00:00 web sshd[42]: Failed password for root from 203.0.113.9 port 7 ssh2\n\
                   Nov 22 10:00:01 web sshd[42]: Disconnecting: Too many authentication failures [preauth]\n";
        let (s, out) = run(log, Show::Auth);
        assert_eq!(s.from_connection, 1);
        let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        assert_eq!(last["source"]["ip"], "203.0.113.9");
        assert_eq!(
            last["sealtrail"]["auth"]["from_connection"],
            serde_json::json!(["source.ip", "user.name"])
        );
        assert!(s.render().contains("connection's other lines: 1"));
    }
}
