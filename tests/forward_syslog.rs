//! The syslog forwarder against the real rsyslog (imtcp, octet-counted RFC 5424 in,
//! one line per message out): every event arrives with its structured data and its
//! original line, and an rsyslog stopped in the middle of a load loses nothing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{free_port, Config, Listener, TestEnv, Transport};

const STREAM: &str = "fwd-host";

/// rsyslogd in the foreground on a private configuration, writing what it receives
/// on `port` to `out` as `HOSTNAME|APP-NAME|PROCID|STRUCTURED-DATA|MSG`.
struct Rsyslog {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Rsyslog {
    fn start(dir: &Path, port: u16) -> Rsyslog {
        Self::start_with(dir, port, "", "module(load=\"imtcp\")")
    }

    /// rsyslog with its GnuTLS driver: certificate and key of `pki`, client
    /// certificates required and checked against its CA.
    fn start_tls(dir: &Path, port: u16, pki: &Pki) -> Rsyslog {
        let global = format!(
            "global(DefaultNetstreamDriver=\"gtls\" DefaultNetstreamDriverCAFile=\"{}\" DefaultNetstreamDriverCertFile=\"{}\" DefaultNetstreamDriverKeyFile=\"{}\")\n",
            pki.ca.display(),
            pki.server_cert.display(),
            pki.server_key.display()
        );
        let module = "module(load=\"imtcp\" StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"x509/certvalid\")";
        Self::start_with(dir, port, &global, module)
    }

    fn start_with(dir: &Path, port: u16, global: &str, module: &str) -> Rsyslog {
        std::fs::create_dir_all(dir).unwrap();
        let conf = dir.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{d}")
{global}{module}
template(name="fields" type="string" string="%hostname%|%app-name%|%procid%|%structured-data%|%msg%\n")
ruleset(name="in") {{
  action(type="omfile" file="{d}/out.log" template="fields" flushOnTXEnd="on" asyncWriting="off")
}}
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="in")
"#,
                d = dir.display(),
            ),
        )
        .unwrap();
        let mut r = Rsyslog {
            dir: dir.to_path_buf(),
            port,
            child: None,
        };
        r.up();
        r
    }

    fn up(&mut self) {
        let child = Command::new("rsyslogd")
            .args(["-n", "-f"])
            .arg(self.dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(self.dir.join("rsyslog.pid"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("rsyslog.stderr")).unwrap())
            .spawn()
            .expect("start rsyslogd (tests/run.sh installs rsyslog)");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "rsyslogd did not listen: {}",
                std::fs::read_to_string(self.dir.join("rsyslog.stderr")).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            common::signal(c.id(), "TERM");
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.dir.join("rsyslog.pid"));
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("out.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits until every line `0..n` has arrived; returns how often each came.
    #[track_caller]
    fn wait_for(&self, n: usize) -> BTreeMap<usize, usize> {
        let start = Instant::now();
        loop {
            let seen = counts(&self.lines());
            if (0..n).all(|i| seen.contains_key(&i)) {
                return seen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "only {} of {n} lines reached rsyslog; it wrote:\n{}",
                seen.len(),
                self.lines()
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.down();
    }
}

fn sent(from: usize, to: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in from..to {
        out.extend_from_slice(
            format!("<38>Dec  2 03:00:00 web1 sshd[4242]: Failed password for u{i:05} from 203.0.113.9 port 22 ssh2\n")
                .as_bytes(),
        );
    }
    out
}

/// How often each numbered line arrived.
fn counts(lines: &[String]) -> BTreeMap<usize, usize> {
    let mut m = BTreeMap::new();
    for l in lines {
        let n = l
            .rsplit_once("Failed password for u")
            .and_then(|(_, r)| r.get(..5))
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(n) = n {
            *m.entry(n).or_default() += 1;
        }
    }
    m
}

/// The sent lines (failed logins) sealed in the archive.
fn sealed_failures(env: &TestEnv) -> usize {
    common::all_events(&common::read_archive(&env.archive_dir))
        .iter()
        .filter(|e| {
            e["event"]["original"]
                .as_str()
                .is_some_and(|o| o.contains("Failed password for u"))
        })
        .count()
}

fn config(env: &TestEnv, rsyslog_port: u16) -> (Config, u16, u16) {
    let port = free_port();
    let status = free_port();
    let mut cfg = Config::new(STREAM, vec![Listener::new("tcp", Transport::Tcp, port)]);
    cfg.extra_toml = format!(
        "\n[status]\naddress = \"127.0.0.1:{status}\"\n\n[[forward]]\nname = \"siem\"\ntype = \"syslog\"\naddress = \"127.0.0.1:{rsyslog_port}\"\nstart_at = \"beginning\"\n"
    );
    let _ = env;
    (cfg, port, status)
}

#[test]
fn rsyslog_receives_every_event_with_its_fields_and_original_line() {
    let env = TestEnv::new();
    let rs = Rsyslog::start(&env.path().join("rsyslog"), free_port());
    let (cfg, port, status) = config(&env, rs.port);
    let mut d = env.start(&cfg);
    common::send_tcp(port, &sent(0, 300));
    let seen = rs.wait_for(300);
    assert!(
        seen.values().all(|&c| c == 1),
        "duplicates without a failure: {seen:?}"
    );
    let lines = rs.lines();
    let first = lines.iter().find(|l| l.contains("for u00000 ")).unwrap();
    let fields: Vec<&str> = first.splitn(5, '|').collect();
    assert_eq!(fields[0], "web1", "{first}");
    assert_eq!(fields[1], "sshd", "{first}");
    assert_eq!(fields[2], "4242", "{first}");
    let sd = fields[3];
    assert!(sd.starts_with("[sealtrail@32473 id=\"fwd-host:"), "{first}");
    for want in [
        "ingress=\"tcp\"",
        "category=\"authentication\"",
        "outcome=\"failure\"",
        "user=\"u00000\"",
        "source_ip=\"203.0.113.9\"",
    ] {
        assert!(sd.contains(want), "{want} missing: {first}");
    }
    assert!(
        fields[4]
            .trim_start()
            .starts_with("<38>Dec  2 03:00:00 web1 sshd[4242]: Failed password for u00000 from"),
        "MSG is the original line: {first}"
    );
    // Sent: the 300 events and the detector's alerts (forwarded like events).
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let m = common::http_get(status, "/metrics");
        let sent = common::metric(
            &m,
            "component_sent_events_total",
            &[("component_id", "siem")],
        );
        let alerts = common::metric(&m, "sealtrail_alerts_total", &[]).unwrap_or(0.0);
        if alerts >= 1.0 && sent == Some(300.0 + alerts) {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "300 events and {alerts} alerts sent? {m}"
        );
        thread::sleep(Duration::from_millis(100));
    };
    let st = common::http_get(status, "/status");
    assert!(st.contains("\"forwarders\""), "{st}");
    // 300 failures from one source: the detector's alerts are counted by rule.
    let brute = common::metric(
        &metrics,
        "sealtrail_alerts_total",
        &[("rule", "brute_force")],
    );
    assert!(brute.is_some_and(|n| n >= 1.0), "{metrics}");
    assert!(
        st.contains("\"alerts_by_rule\"") && st.contains("\"brute_force\""),
        "{st}"
    );
    d.wait_idle();
    d.stop();
    let events = common::all_events(&common::read_archive(&env.archive_dir));
    let ids: std::collections::BTreeSet<String> = events
        .iter()
        .filter_map(|e| e["event"]["id"].as_str().map(str::to_string))
        .collect();
    for l in &lines {
        let id = l
            .split("id=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap();
        assert!(
            ids.contains(id),
            "forwarded id {id} is not a sealed event's id"
        );
    }
}

/// The value of `name="..."` in a line's structured data.
fn sd_param<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split(&format!(" {name}=\"")).nth(1)?.split('"').next()
}

#[test]
fn a_detector_alert_is_sealed_and_forwarded_with_its_evidence() {
    let env = TestEnv::new();
    let rs = Rsyslog::start(&env.path().join("rsyslog"), free_port());
    let (cfg, port, status) = config(&env, rs.port);
    let mut d = env.start(&cfg);
    // Five failed passwords from one source: one brute-force alert (and, five users,
    // one password-spray alert).
    common::send_tcp(port, &sent(0, 5));
    rs.wait_for(5);
    let deadline = Instant::now() + Duration::from_secs(30);
    let alert = loop {
        let found = rs
            .lines()
            .into_iter()
            .find(|l| l.contains(" kind=\"alert\"") && l.contains(" rule=\"brute_force\""));
        if let Some(l) = found {
            break l;
        }
        assert!(
            Instant::now() < deadline,
            "no alert reached rsyslog: {:#?}",
            rs.lines()
        );
        thread::sleep(Duration::from_millis(100));
    };
    let fields: Vec<&str> = alert.splitn(5, '|').collect();
    assert_eq!(fields[0], STREAM, "HOSTNAME: {alert}");
    assert_eq!(fields[1], "sealtrail", "APP-NAME: {alert}");
    assert_eq!(sd_param(&alert, "category"), Some("intrusion_detection"));
    assert_eq!(sd_param(&alert, "source_ip"), Some("203.0.113.9"));
    assert_eq!(sd_param(&alert, "key"), Some("ip:203.0.113.9"));
    let id = sd_param(&alert, "id").unwrap().to_string();
    let evidence: Vec<String> = sd_param(&alert, "evidence")
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    assert_eq!(evidence.len(), 5, "{alert}");

    // Counted by rule, in /metrics and in /status (the detector's own section).
    let metrics = common::http_get(status, "/metrics");
    assert_eq!(
        common::metric(
            &metrics,
            "sealtrail_alerts_total",
            &[("rule", "brute_force")]
        ),
        Some(1.0),
        "{metrics}"
    );
    let st: serde_json::Value = serde_json::from_str(&common::http_get(status, "/status")).unwrap();
    assert_eq!(st["detector"]["alerts_by_rule"]["brute_force"], 1, "{st:#}");
    assert!(
        st["journal"]["consumers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "detector"),
        "the detector is a journal consumer of its own: {st:#}"
    );

    d.wait_idle();
    let stopped = d.stop();
    assert!(stopped.status.success());
    // The same alert is sealed in the chain, once, and its evidence names sealed events.
    let events = common::all_events(&common::read_archive(&env.archive_dir));
    let sealed: Vec<_> = common::alerts(&events)
        .into_iter()
        .filter(|a| common::field_str(a, "event.id") == Some(id.as_str()))
        .collect();
    assert_eq!(sealed.len(), 1, "the forwarded alert {id} is sealed once");
    let sealed_evidence: Vec<&str> = sealed[0]["sealtrail"]["alert"]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(sealed_evidence, evidence);
    for e in &evidence {
        let ev = events
            .iter()
            .find(|x| common::field_str(x, "event.id") == Some(e.as_str()))
            .unwrap_or_else(|| panic!("evidence {e} is not a sealed event"));
        assert_eq!(common::field_str(ev, "event.outcome"), Some("failure"));
    }
    let brute = common::alerts(&events)
        .into_iter()
        .filter(|a| common::field_str(a, "rule.id") == Some("brute_force"))
        .count();
    assert_eq!(brute, 1, "one brute-force alert in the archive");
    common::assert_verify_ok(
        &env.verify(&cfg, &["--until", &stopped.until]),
        "archive with a journalled alert",
    );
}

#[test]
fn an_rsyslog_stopped_in_the_middle_of_a_load_loses_nothing() {
    let env = TestEnv::new();
    let mut rs = Rsyslog::start(&env.path().join("rsyslog"), free_port());
    let (cfg, port, status) = config(&env, rs.port);
    let mut d = env.start(&cfg);
    common::send_tcp(port, &sent(0, 200));
    rs.wait_for(200);
    rs.down();
    common::send_tcp(port, &sent(200, 400));
    thread::sleep(Duration::from_millis(2500));
    let st = common::http_get(status, "/status");
    assert!(
        st.contains("cannot deliver"),
        "the outage is an alert: {st}"
    );
    rs.up();
    let seen = rs.wait_for(400);
    let dups: usize = seen.values().map(|c| c - 1).sum();
    assert!(
        dups <= 400,
        "at least once, within the window: {dups} duplicates"
    );
    let metrics = common::http_get(status, "/metrics");
    let resent = common::metric(
        &metrics,
        "sealtrail_forward_resent_events_total",
        &[("component_id", "siem")],
    );
    assert!(
        resent.unwrap_or(0.0) >= dups as f64,
        "every duplicate is counted as resent ({dups} duplicates, {resent:?} resent)"
    );
    d.wait_idle();
    d.stop();
}

#[test]
fn a_forwarder_behind_at_kill_9_resumes_from_its_cursor() {
    let env = TestEnv::new();
    let mut rs = Rsyslog::start(&env.path().join("rsyslog"), free_port());
    let (cfg, port, _) = config(&env, rs.port);
    let mut d = env.start(&cfg);
    common::send_tcp(port, &sent(0, 100));
    rs.wait_for(100);
    rs.down();
    common::send_tcp(port, &sent(100, 250));
    d.wait_idle();
    // Journalled, not delivered: the forwarder is behind when the process dies.
    d.kill9();
    rs.up();
    let mut d = env.start(&cfg);
    let seen = rs.wait_for(250);
    assert!(
        (100..250).all(|i| seen.contains_key(&i)),
        "what was behind arrived after the restart"
    );
    d.wait_idle();
    d.stop();
}

use common::pki::Pki;

#[test]
fn tls_to_rsyslog_verifies_the_server_and_presents_a_client_certificate() {
    let env = TestEnv::new();
    let pki = Pki::make(&env.path().join("pki"));
    let rs = Rsyslog::start_tls(&env.path().join("rsyslog"), free_port(), &pki);
    let (mut cfg, port, _) = config(&env, rs.port);
    let q = |p: &Path| common::toml_str(&p.to_string_lossy());
    cfg.extra_toml.push_str(&format!(
        "tls = {{ ca_file = {}, cert_file = {}, key_file = {} }}\n",
        q(&pki.ca),
        q(&pki.client_cert),
        q(&pki.client_key)
    ));
    let mut d = env.start(&cfg);
    common::send_tcp(port, &sent(0, 100));
    let seen = rs.wait_for(100);
    assert!(seen.values().all(|&c| c == 1), "{seen:?}");
    d.wait_idle();
    d.stop();

    // A receiver whose certificate the CA did not sign is refused: nothing is sent.
    let other = Pki::make(&env.path().join("other-pki"));
    let mut bad = cfg.clone();
    bad.extra_toml = bad.extra_toml.replace(&q(&pki.ca), &q(&other.ca));
    let mut d = env.start(&bad);
    common::send_tcp(port, &sent(100, 110));
    d.wait_log("TLS handshake with", 1);
    d.wait_idle();
    d.stop();
    assert!(
        !counts(&rs.lines()).contains_key(&100),
        "an unverified receiver got events"
    );

    // Unreadable key material is a configuration error naming the key.
    let mut missing = cfg.clone();
    missing.extra_toml = missing
        .extra_toml
        .replace(&q(&pki.client_key), "\"/nonexistent/client.key\"");
    env.write_config(&missing);
    let out = common::sealtrail(&["check-config", "-c", env.config_path.to_str().unwrap()]);
    assert_eq!(out.code, Some(78), "{}", out.describe());
    assert!(
        out.stderr_str().contains("forward[0].tls.key_file"),
        "{}",
        out.describe()
    );
}

#[test]
fn a_filtered_forwarder_sends_only_matching_events() {
    let env = TestEnv::new();
    let rs = Rsyslog::start(&env.path().join("rsyslog"), free_port());
    let (mut cfg, port, status) = config(&env, rs.port);
    cfg.extra_toml
        .push_str("only = { category = [\"authentication\"], outcome = [\"failure\"] }\n");
    let mut d = env.start(&cfg);
    let mut mixed = Vec::new();
    for i in 0..50 {
        mixed.extend_from_slice(&sent(i, i + 1));
        mixed.extend_from_slice(
            format!("<14>Dec  2 03:00:00 web1 app[7]: unrelated {i}\n").as_bytes(),
        );
    }
    common::send_tcp(port, &mixed);
    rs.wait_for(50);
    d.wait_idle();
    thread::sleep(Duration::from_millis(1500));
    let st: serde_json::Value = serde_json::from_str(&common::http_get(status, "/status")).unwrap();
    // The unrelated lines and the detector's alerts (they have no outcome) are left out.
    let alerts = st["detector"]["alerts"].as_u64().unwrap();
    assert!(alerts >= 1, "{st:#}");
    assert_eq!(st["forwarders"][0]["filtered"], 50 + alerts, "{st:#}");
    d.stop();
    let lines = rs.lines();
    assert_eq!(lines.len(), 50, "only the failures: {lines:?}");
    assert!(lines.iter().all(|l| l.contains("outcome=\"failure\"")));
}

#[test]
fn sealing_goes_on_while_the_siem_is_down() {
    let env = TestEnv::new();
    // Nobody listens on the forwarder's port.
    let (cfg, port, status) = config(&env, free_port());
    let mut d = env.start(&cfg);
    common::send_tcp(port, &sent(0, 2000));
    d.wait_idle();
    let start = Instant::now();
    loop {
        let m = common::http_get(status, "/metrics");
        let sealed = common::metric(
            &m,
            "component_sent_events_total",
            &[("component_id", "sealer")],
        );
        // The detector's alerts are sealed too: at least the 2,000 events.
        if sealed.is_some_and(|n| n >= 2000.0) {
            let lag = common::metric(
                &m,
                "sealtrail_journal_lag_bytes",
                &[("consumer", "forward-siem")],
            );
            assert!(lag.is_some_and(|l| l > 0.0), "the forwarder is behind: {m}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "sealing waited for the SIEM: {m}"
        );
        thread::sleep(Duration::from_millis(100));
    }
    d.stop();
    let sealed = sealed_failures(&env);
    assert_eq!(sealed, 2000, "every event sealed with the SIEM down");
}

#[test]
fn drop_oldest_skips_for_that_forwarder_instead_of_slowing_the_sources() {
    let env = TestEnv::new();
    let (mut cfg, port, status) = config(&env, free_port()); // nobody listens
    cfg.journal_extra = "file_bytes = 65536\nmax_bytes = 262144\n".into();
    cfg.extra_toml.push_str("policy = \"drop_oldest\"\n");
    let mut d = env.start(&cfg);
    // ~2.4 MB through a 256 KiB journal: only possible if the forwarder lets go.
    common::send_tcp(port, &sent(0, 20_000));
    d.wait_idle();
    let start = Instant::now();
    loop {
        let m = common::http_get(status, "/metrics");
        let dropped = common::metric(
            &m,
            "sealtrail_forward_dropped_events_total",
            &[("component_id", "siem")],
        );
        if dropped.is_some_and(|n| n > 0.0) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "nothing dropped: {m}"
        );
        thread::sleep(Duration::from_millis(100));
    }
    d.stop();
    let sealed = sealed_failures(&env);
    assert_eq!(
        sealed, 20_000,
        "every event sealed: dropping is for the forwarder only"
    );
}
