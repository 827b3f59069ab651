//! The detector inside the daemon: authentication lines sent with the real `logger`
//! become audit events, a brute force becomes an alert that is sealed into the chain
//! and posted to a webhook (Python's http.server as the receiving peer), the
//! detector's windows survive a restart, and `kill -9` neither loses nor repeats an
//! alert. Plus `sealtrail replay` on a fixture.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A webhook receiver: Python's http.server appending each POST body as one line.
struct WebhookSink {
    child: Child,
    pub port: u16,
    pub file: std::path::PathBuf,
}

impl WebhookSink {
    fn start(dir: &Path) -> WebhookSink {
        let port = free_port();
        let file = dir.join("webhook.jsonl");
        let script = r#"
import http.server, sys
out = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        with open(out, 'ab') as f:
            f.write(body + b'\n')
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
"#;
        let child = Command::new("python3")
            .args(["-c", script, &port.to_string(), &file.to_string_lossy()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 for the webhook receiver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "webhook receiver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        WebhookSink { child, port, file }
    }

    fn bodies(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("webhook body is JSON"))
            .collect()
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One sshd line through `logger` over TCP with octet counting.
fn sshd_line(port: u16, pid: u32, msg: &str) {
    logger_tcp(
        port,
        &["-t", "sshd", "-p", "auth.info", &format!("--id={pid}")],
        msg,
    );
}

fn failed(port: u16, pid: u32, user: &str, ip: &str) {
    sshd_line(
        port,
        pid,
        &format!(
            "Failed password for {user} from {ip} port {} ssh2",
            40000 + pid
        ),
    );
}

#[test]
fn brute_force_is_sealed_as_an_alert_and_posted_to_the_webhook() {
    let env = TestEnv::new();
    let sink = WebhookSink::start(env.path());
    let port = free_port();
    let mut cfg = Config::new(
        "detect-host",
        vec![Listener::new("tcp", Transport::Tcp, port)],
    );
    cfg.extra_toml = format!(
        "\n[alerts]\nwebhook = \"http://127.0.0.1:{}/hook\"\n",
        sink.port
    );
    let mut d = env.start(&cfg);
    for i in 0..6 {
        failed(port, 2000 + i, "root", "198.51.100.23");
    }
    // A success from elsewhere, and an unrelated line: no alert for those.
    sshd_line(
        port,
        3000,
        "Accepted publickey for alice from 192.0.2.44 port 50022 ssh2: ED25519 SHA256:abc",
    );
    d.wait_idle();
    let stopped = d.stop();
    assert!(
        stopped.status.success(),
        "daemon exit: {:?}",
        stopped.status
    );

    let events = all_events(&read_archive(&env.archive_dir));
    let failures = audit_events(&events, "ssh_login", "failure");
    assert_eq!(failures.len(), 6, "six audit events: {events:#?}");
    for f in &failures {
        assert_eq!(field_str(f, "user.name"), Some("root"));
        assert_eq!(field_str(f, "source.ip"), Some("198.51.100.23"));
        assert_eq!(field_str(f, "process.name"), Some("sshd"));
    }
    let success = events
        .iter()
        .find(|e| field_str(e, "event.outcome") == Some("success"))
        .expect("the accepted login is an audit event");
    assert_eq!(field_str(success, "user.name"), Some("alice"));

    let sealed = alerts(&events);
    assert_eq!(
        sealed.len(),
        1,
        "exactly one brute-force alert: {sealed:#?}"
    );
    let alert = sealed[0];
    assert_eq!(field_str(alert, "rule.id"), Some("brute_force"));
    assert_eq!(field_str(alert, "source.ip"), Some("198.51.100.23"));
    let evidence = field(alert, "sealtrail.alert.evidence")
        .and_then(Value::as_array)
        .expect("evidence ids");
    assert_eq!(evidence.len(), 5);
    let ids: Vec<&str> = failures
        .iter()
        .filter_map(|f| field_str(f, "event.id"))
        .collect();
    for e in evidence {
        assert!(
            ids.contains(&e.as_str().unwrap()),
            "evidence {e} is a sealed event"
        );
    }

    // Sealed into the same verified chain as everything else.
    let out = env.verify(&cfg, &["--until", &stopped.until]);
    assert_verify_ok(&out, "archive with an alert");

    // The webhook got the same alert (posting is asynchronous: allow it a moment).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut bodies = sink.bodies();
    while bodies.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        bodies = sink.bodies();
    }
    assert_eq!(bodies.len(), 1, "one POST: {bodies:#?}");
    assert_eq!(field_str(&bodies[0], "rule.id"), Some("brute_force"));
    assert_eq!(
        field_str(&bodies[0], "event.id"),
        field_str(alert, "event.id")
    );
}

#[test]
fn detector_windows_survive_a_restart() {
    let env = TestEnv::new();
    let port = free_port();
    let cfg = Config::new(
        "restart-host",
        vec![Listener::new("tcp", Transport::Tcp, port)],
    );

    let mut d = env.start(&cfg);
    for i in 0..3 {
        failed(port, 100 + i, "oracle", "203.0.113.77");
    }
    d.wait_idle();
    assert!(d.stop().status.success());
    assert!(
        alerts(&all_events(&read_archive(&env.archive_dir))).is_empty(),
        "three failures are below the threshold"
    );

    let mut d = env.start(&cfg);
    for i in 3..5 {
        failed(port, 100 + i, "oracle", "203.0.113.77");
    }
    d.wait_idle();
    let stopped = d.stop();
    assert!(stopped.status.success());
    let events = all_events(&read_archive(&env.archive_dir));
    let sealed = alerts(&events);
    assert_eq!(
        sealed.len(),
        1,
        "3 + 2 failures across a restart reach the threshold: {sealed:#?}"
    );
    assert_eq!(field_str(sealed[0], "rule.id"), Some("brute_force"));
    let out = env.verify(&cfg, &["--until", &stopped.until]);
    assert_verify_ok(&out, "archive across a restart");
}

#[test]
fn replay_prints_events_alerts_and_a_summary() {
    let env = TestEnv::new();
    let log = env.path().join("auth.log");
    let mut f = std::fs::File::create(&log).unwrap();
    for i in 0..9 {
        writeln!(
            f,
            "Nov 20 03:1{i}:07 bastion sshd[{}]: Invalid user admin{i} from 192.0.2.200 port {} ",
            500 + i,
            50000 + i
        )
        .unwrap();
    }
    writeln!(f, "Nov 20 03:30:00 bastion sudo[77]:     bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/sh").unwrap();
    writeln!(f, "Nov 20 03:31:00 bastion kernel: [12.3] eth0: link up").unwrap();
    drop(f);

    let out = sealtrail(&["replay", &log.to_string_lossy(), "--timezone", "UTC"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let stdout = out.stdout_str();
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let rules: Vec<&str> = lines
        .iter()
        .filter(|v| field_str(v, "event.kind") == Some("alert"))
        .filter_map(|v| field_str(v, "rule.id"))
        .collect();
    assert!(rules.contains(&"not_in_sudoers"), "{rules:?}");
    assert!(
        rules.contains(&"brute_force") || rules.contains(&"invalid_user"),
        "{rules:?}"
    );
    assert!(
        !stdout.contains("link up"),
        "non-auth lines are not printed"
    );
    let summary = out.stderr_str();
    assert!(summary.contains("lines: 11"), "{summary}");
    assert!(summary.contains("ssh_invalid_user"), "{summary}");

    let missing = sealtrail(&["replay", "/nonexistent/auth.log"]);
    assert_eq!(missing.code, Some(2), "{}", missing.describe());
}

/// `n` failed passwords (sshd, RFC 3164 over TCP) from each of the sources
/// `from..to` (198.18.x.y), each source trying its own user.
fn failures(from: u32, to: u32, n: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for src in from..to {
        for i in 0..n {
            out.extend_from_slice(
                format!(
                    "<38>Dec  2 03:00:00 web1 sshd[{}]: Failed password for u{src} from 198.18.{}.{} port {} ssh2\n",
                    10_000 + src * 10 + i,
                    src / 250,
                    src % 250 + 1,
                    40_000 + i
                )
                .as_bytes(),
            );
        }
    }
    out
}

#[test]
fn kill_9_neither_loses_nor_repeats_a_journalled_alert() {
    let env = TestEnv::new();
    let port = free_port();
    let status = free_port();
    let mut cfg = Config::new(
        "crash-host",
        vec![Listener::new("tcp", Transport::Tcp, port)],
    );
    cfg.extra_toml = format!("\n[status]\naddress = \"127.0.0.1:{status}\"\n");
    let snapshot_alerts = |port: u16| -> u64 {
        let st: Value = serde_json::from_str(&http_get(port, "/status")).unwrap();
        st["detector"]["alerts"].as_u64().unwrap_or(0)
    };
    // 200 sources, five failures each: 200 brute-force alerts. Killed once all are
    // raised, long before the detector's next snapshot (30 s): after the restart it
    // reads every event again and raises every alert again.
    let d = env.start(&cfg);
    send_tcp(port, &failures(0, 200, 5));
    let deadline = Instant::now() + Duration::from_secs(60);
    while snapshot_alerts(status) < 200 {
        assert!(Instant::now() < deadline, "the alerts were not raised");
        std::thread::sleep(Duration::from_millis(50));
    }
    d.kill9();
    // Another 200 sources, killed while the detector is still at them.
    let d = env.start(&cfg);
    send_tcp(port, &failures(200, 400, 5));
    d.kill9();
    let mut d = env.start(&cfg);
    d.wait_idle();
    let stopped = d.stop();
    assert!(stopped.status.success());

    let events = all_events(&read_archive(&env.archive_dir));
    // What the rule must have raised: one alert per source with five sealed failures
    // (a kill -9 may cost lines the journal had not written yet).
    let mut per_source = std::collections::BTreeMap::<String, usize>::new();
    for e in audit_events(&events, "ssh_login", "failure") {
        *per_source
            .entry(field_str(e, "source.ip").unwrap().to_string())
            .or_default() += 1;
    }
    let expected = per_source.values().filter(|&&n| n >= 5).count();
    assert!(expected >= 200, "the first wave is whole: {expected}");
    let sealed = alerts(&events);
    let ids: std::collections::BTreeSet<&str> = sealed
        .iter()
        .filter_map(|a| field_str(a, "event.id"))
        .collect();
    assert_eq!(ids.len(), sealed.len(), "an alert sealed twice");
    let brute: Vec<_> = sealed
        .iter()
        .filter(|a| field_str(a, "rule.id") == Some("brute_force"))
        .collect();
    assert_eq!(
        brute.len(),
        expected,
        "one brute-force alert per source with five sealed failures"
    );
    let out = env.verify(&cfg, &["--until", &stopped.until]);
    assert_verify_ok(&out, "archive across two kill -9");
}

const USER_RULE: &str = r#"
[detect.brute_force]
enabled = false

[[detect.rule]]
id = "root_failures"
name = "Failed root logins"
where = { "event.action" = "ssh_login", "event.outcome" = "failure", "user.name" = "root" }
group_by = ["source.ip"]
threshold = 3
window = "5m"
severity = 73
message = "{count} failed root logins from {source.ip} within {window}"
"#;

#[test]
fn a_rule_users_write_alerts_in_the_daemon_and_in_replay() {
    let env = TestEnv::new();
    let port = free_port();
    let mut cfg = Config::new(
        "rules-host",
        vec![Listener::new("tcp", Transport::Tcp, port)],
    );
    cfg.extra_toml = USER_RULE.to_string();
    let check = sealtrail(&["check-config", "--config", &{
        env.write_config(&cfg);
        env.config_path.to_string_lossy().into_owned()
    }]);
    assert_eq!(check.code, Some(0), "{}", check.describe());
    let mut d = env.start(&cfg);
    failed(port, 4000, "alice", "198.51.100.77");
    for i in 0..3 {
        failed(port, 4001 + i, "root", "198.51.100.77");
    }
    d.wait_idle();
    let stopped = d.stop();
    let events = all_events(&read_archive(&env.archive_dir));
    let sealed = alerts(&events);
    assert_eq!(sealed.len(), 1, "{sealed:#?}");
    let a = sealed[0];
    assert_eq!(field_str(a, "rule.id"), Some("root_failures"));
    assert_eq!(field_str(a, "rule.name"), Some("Failed root logins"));
    assert_eq!(
        field_str(a, "message"),
        Some("3 failed root logins from 198.51.100.77 within 5m")
    );
    let evidence = field(a, "sealtrail.alert.evidence")
        .and_then(Value::as_array)
        .expect("evidence ids");
    assert_eq!(evidence.len(), 3);
    assert_verify_ok(
        &env.verify(&cfg, &["--until", &stopped.until]),
        "user rule alert",
    );

    // The same rule offline.
    let log = env.path().join("auth.log");
    let mut f = std::fs::File::create(&log).unwrap();
    for i in 0..3 {
        writeln!(
            f,
            "Nov 20 03:10:0{i} bastion sshd[{}]: Failed password for root from 203.0.113.9 port 4{i}000 ssh2",
            600 + i
        )
        .unwrap();
    }
    drop(f);
    let out = sealtrail(&[
        "replay",
        &log.to_string_lossy(),
        "--show",
        "alerts",
        "--config",
        &env.config_path.to_string_lossy(),
        "--timezone",
        "UTC",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let stdout = out.stdout_str();
    let alert: Value = serde_json::from_str(stdout.lines().next().unwrap_or("{}")).unwrap();
    assert_eq!(
        field_str(&alert, "rule.id"),
        Some("root_failures"),
        "{stdout}"
    );
    assert!(
        out.stderr_str().contains("root_failures"),
        "{}",
        out.stderr_str()
    );
}

/// The records auditd writes for one access under `-w /etc/shadow -p rwa -k shadow`.
fn shadow_read(stamp: &str, exe: &str, comm: &str) -> [String; 3] {
    [
        format!("type=SYSCALL msg=audit({stamp}): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffc a2=0 a3=0 items=1 ppid=700 pid=701 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts1 ses=4 comm=\"{comm}\" exe=\"{exe}\" subj=unconfined key=\"shadow\""),
        format!("type=CWD msg=audit({stamp}): cwd=\"/root\""),
        format!("type=PATH msg=audit({stamp}): item=0 name=\"/etc/shadow\" inode=4122 dev=fd:01 mode=0100640 ouid=0 ogid=42 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0"),
    ]
}

#[test]
fn an_auditd_watch_on_shadow_alerts_for_an_unexpected_program_in_the_daemon_and_in_replay() {
    let env = TestEnv::new();
    let port = free_port();
    let cfg = Config::new(
        "watch-host",
        vec![Listener::new("tcp", Transport::Tcp, port)],
    );
    let mut d = env.start(&cfg);
    // audisp-syslog forwards each record as one syslog message; the allowed program
    // first, then an unexpected one.
    for stamp_exe in [
        ("1764670000.100:501", "/usr/sbin/unix_chkpwd", "unix_chkpwd"),
        ("1764670001.200:502", "/usr/bin/python3.11", "python3"),
    ] {
        for rec in shadow_read(stamp_exe.0, stamp_exe.1, stamp_exe.2) {
            logger_tcp(port, &["-t", "audisp-syslog", "-p", "authpriv.info"], &rec);
        }
    }
    d.wait_idle();
    let stopped = d.stop();
    let events = all_events(&read_archive(&env.archive_dir));
    let sealed = alerts(&events);
    assert_eq!(sealed.len(), 1, "{sealed:#?}");
    let a = sealed[0];
    assert_eq!(field_str(a, "rule.id"), Some("file_watch"));
    let message = field_str(a, "message").unwrap_or("");
    assert!(
        message.contains("/usr/bin/python3.11") && message.contains("/etc/shadow"),
        "{message}"
    );
    // The evidence is the SYSCALL and the PATH record of the python3 access.
    let evidence: Vec<&str> = field(a, "sealtrail.alert.evidence")
        .and_then(Value::as_array)
        .expect("evidence ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let original = |id: &str| {
        events
            .iter()
            .find(|e| field_str(e, "event.id") == Some(id))
            .and_then(|e| field_str(e, "event.original"))
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(evidence.len(), 2, "{evidence:?}");
    assert!(original(evidence[0]).contains("type=SYSCALL msg=audit(1764670001.200:502)"));
    assert!(original(evidence[1]).contains("type=PATH msg=audit(1764670001.200:502)"));
    assert_verify_ok(
        &env.verify(&cfg, &["--until", &stopped.until]),
        "file watch alert",
    );

    // auditd's own log, replayed.
    let log = env.path().join("audit.log");
    let mut text = String::new();
    for rec in shadow_read("1764670002.300:503", "/usr/bin/vim.basic", "vim") {
        text.push_str(&rec);
        text.push('\n');
    }
    std::fs::write(&log, text).unwrap();
    let out = sealtrail(&["replay", &log.to_string_lossy(), "--show", "alerts"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let stdout = out.stdout_str();
    let alert: Value = serde_json::from_str(stdout.lines().next().unwrap_or("{}")).unwrap();
    assert_eq!(field_str(&alert, "rule.id"), Some("file_watch"), "{stdout}");
    let summary = out.stderr_str();
    assert!(
        summary.contains("auditd file-watch records (SYSCALL, CWD, PATH): 3"),
        "{summary}"
    );
}
