//! The HTTP forwarders against a receiver started by the test
//! (`tests/receivers/http_receiver.py`: Elasticsearch's `_bulk` semantics for delivery,
//! planned failures): payload shape, gzip and the auth header; a 503 and a bulk 200
//! with a 429 item retried without duplicates; content refused for good (a 400 item, a
//! 400 reply) dead-lettered, exactly those events, once.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{free_port, wait_until, Config, Listener, TestEnv, Transport};

struct Receiver {
    port: u16,
    log: PathBuf,
    child: Child,
}

impl Receiver {
    fn start(dir: &Path, plan: &str) -> Receiver {
        Self::start_with(dir, plan, &[])
    }

    fn start_with(dir: &Path, plan: &str, extra: &[&str]) -> Receiver {
        std::fs::create_dir_all(dir).unwrap();
        let port = free_port();
        let log = dir.join("requests.jsonl");
        let plan_path = dir.join("plan.json");
        std::fs::write(&plan_path, plan).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/receivers/http_receiver.py");
        let child = Command::new("python3")
            .arg(script)
            .args(["--port", &port.to_string(), "--log"])
            .arg(&log)
            .arg("--plan")
            .arg(&plan_path)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("receiver.stderr")).unwrap())
            .spawn()
            .expect("start the HTTP receiver");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the receiver did not start"
            );
            thread::sleep(Duration::from_millis(50));
        }
        Receiver { port, log, child }
    }

    fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// HEC: the events of acknowledged requests, in order.
    fn acked(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.log.with_extension("jsonl.acked"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn indexed(&self) -> Vec<String> {
        std::fs::read_to_string(self.log.with_extension("jsonl.indexed"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(n: usize, refuse: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let word = if i == refuse { "REFUSE" } else { "ok" };
        out.extend_from_slice(
            format!("<14>Dec  2 03:00:00 web1 app[7]: event {i} {word}\n").as_bytes(),
        );
    }
    out
}

fn dead_letters(env: &TestEnv) -> Vec<serde_json::Value> {
    std::fs::read_to_string(env.state_dir.join("dead-letter/out.ndjson"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn start(env: &TestEnv, forward: &str) -> (common::Daemon, u16) {
    let port = free_port();
    let mut cfg = Config::new(
        "http-host",
        vec![Listener::new("tcp", Transport::Tcp, port)],
    );
    std::fs::write(env.path().join("auth"), "ApiKey c2VhbHRyYWls\n").unwrap();
    cfg.extra_toml = format!(
        "\n[[forward]]\nname = \"out\"\nstart_at = \"beginning\"\nauthorization_file = {}\n{forward}",
        common::toml_str(&env.path().join("auth").to_string_lossy())
    );
    (env.start(&cfg), port)
}

#[test]
fn bulk_retries_transient_failures_without_duplicates_and_dead_letters_refused_items() {
    let env = TestEnv::new();
    let rx = Receiver::start(
        &env.path().join("rx"),
        r#"[{"status": 503}, {"items": {"1": 429}}]"#,
    );
    let (mut d, port) = start(
        &env,
        &format!("type = \"elasticsearch\"\nurl = \"http://127.0.0.1:{}\"\nindex = \"audit\"\ngzip = true\n", rx.port),
    );
    common::send_tcp(port, &lines(5, 2));
    wait_until("4 indexed and 1 dead-lettered", || {
        rx.indexed().len() == 4 && dead_letters(&env).len() == 1
    });
    d.wait_idle();
    thread::sleep(Duration::from_millis(1500));
    d.stop();
    let reqs = rx.requests();
    assert!(
        reqs.len() >= 3,
        "503 and the 429 item were retried: {} requests",
        reqs.len()
    );
    for r in &reqs {
        assert_eq!(r["path"], "/_bulk");
        assert_eq!(r["headers"]["authorization"], "ApiKey c2VhbHRyYWls");
        assert_eq!(r["headers"]["content-encoding"], "gzip");
        assert_eq!(r["headers"]["content-type"], "application/x-ndjson");
        let body = r["body"].as_str().unwrap();
        for (action, doc) in body.lines().step_by(2).zip(body.lines().skip(1).step_by(2)) {
            let a: serde_json::Value = serde_json::from_str(action).unwrap();
            let doc: serde_json::Value = serde_json::from_str(doc).unwrap();
            assert_eq!(a["create"]["_index"], "audit");
            assert_eq!(
                a["create"]["_id"], doc["event"]["id"],
                "the _id is the event id"
            );
            assert!(doc["event"]["original"]
                .as_str()
                .unwrap()
                .contains("web1 app[7]"));
        }
    }
    // Each of the four was indexed once (the receiver answers 409 to a second create).
    let mut ids = rx.indexed();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    let dead = dead_letters(&env);
    assert_eq!(dead.len(), 1, "exactly the refused item, once: {dead:?}");
    assert_eq!(dead[0]["status"], 400);
    assert!(dead[0]["reason"]
        .as_str()
        .unwrap()
        .contains("mapper_parsing_exception"));
    assert!(dead[0]["event"]["event"]["original"]
        .as_str()
        .unwrap()
        .contains("REFUSE"));
}

#[test]
fn a_refused_request_is_dead_lettered_and_later_batches_go_through() {
    let env = TestEnv::new();
    let rx = Receiver::start(&env.path().join("rx"), r#"[{"status": 400}]"#);
    let (mut d, port) = start(
        &env,
        &format!(
            "type = \"http\"\nurl = \"http://127.0.0.1:{}/ingest\"\n",
            rx.port
        ),
    );
    common::send_tcp(port, &lines(3, 99));
    wait_until("the refused batch in the dead-letter file", || {
        dead_letters(&env).len() == 3
    });
    common::send_tcp(port, &lines(2, 99));
    wait_until("a second request", || rx.requests().len() >= 2);
    d.wait_idle();
    d.stop();
    let reqs = rx.requests();
    assert_eq!(reqs[0]["path"], "/ingest");
    let second: Vec<serde_json::Value> = reqs[1]["body"]
        .as_str()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(second.len(), 2, "newline-delimited ECS, one event per line");
    assert!(second
        .iter()
        .all(|e| e["event"]["id"].as_str().unwrap().starts_with("http-host:")));
    assert_eq!(
        dead_letters(&env).len(),
        3,
        "never retried for ever, never skipped silently"
    );
}

#[test]
fn splunk_hec_gets_one_envelope_per_event_with_the_token() {
    let env = TestEnv::new();
    let rx = Receiver::start(&env.path().join("rx"), "[]");
    std::fs::write(env.path().join("hec-token"), "Splunk 0000-1111\n").unwrap();
    let port = free_port();
    let mut cfg = Config::new("hec-host", vec![Listener::new("tcp", Transport::Tcp, port)]);
    cfg.extra_toml = format!(
        "\n[[forward]]\nname = \"out\"\ntype = \"splunk_hec\"\nstart_at = \"beginning\"\nurl = \"http://127.0.0.1:{}\"\nauthorization_file = {}\n",
        rx.port,
        common::toml_str(&env.path().join("hec-token").to_string_lossy())
    );
    let mut d = env.start(&cfg);
    common::send_tcp(port, &lines(3, 99));
    wait_until("the events at the collector", || {
        rx.requests()
            .iter()
            .map(|r| r["body"].as_str().unwrap().lines().count())
            .sum::<usize>()
            >= 3
    });
    d.wait_idle();
    d.stop();
    for r in rx.requests() {
        assert_eq!(r["path"], "/services/collector/event");
        assert_eq!(r["headers"]["authorization"], "Splunk 0000-1111");
        for l in r["body"].as_str().unwrap().lines() {
            let e: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(e["sourcetype"], "sealtrail:ecs", "{e}");
            assert_eq!(e["host"], "web1", "the event's host: {e}");
            assert!(e["time"].as_f64().is_some(), "{e}");
            assert!(
                e["event"]["event"]["id"]
                    .as_str()
                    .unwrap()
                    .starts_with("hec-host:"),
                "{e}"
            );
        }
    }
}

#[test]
fn splunk_hec_indexer_acknowledgement_delivers_and_a_batch_never_acked_is_sent_again() {
    let env = TestEnv::new();
    // The first request is received but never indexed (its ack stays false).
    let rx = Receiver::start_with(
        &env.path().join("rx"),
        r#"[{"lose": true}]"#,
        &["--hec-ack"],
    );
    let port = free_port();
    let status = free_port();
    let mut cfg = Config::new("hec-host", vec![Listener::new("tcp", Transport::Tcp, port)]);
    cfg.extra_toml = format!(
        "\n[status]\naddress = \"127.0.0.1:{status}\"\n\n[[forward]]\nname = \"out\"\ntype = \"splunk_hec\"\nstart_at = \"beginning\"\nurl = \"http://127.0.0.1:{}\"\nack_timeout = \"3s\"\n",
        rx.port
    );
    let mut d = env.start(&cfg);
    common::send_tcp(port, &lines(20, 99));
    let event_ids = |events: &[serde_json::Value]| -> std::collections::BTreeSet<String> {
        events
            .iter()
            .filter_map(|e| e["event"]["event"]["id"].as_str().map(str::to_string))
            .collect()
    };
    // Sent, answered, not acknowledged: not delivered, so the cursor stays.
    wait_until("the first request", || !rx.requests().is_empty());
    thread::sleep(Duration::from_millis(1500));
    let m = common::http_get(status, "/metrics");
    assert_eq!(
        common::metric(
            &m,
            "sealtrail_journal_lag_bytes",
            &[("consumer", "forward-out")]
        )
        .map(|v| v > 0.0),
        Some(true),
        "unacknowledged events are not delivered: {m}"
    );
    // After ack_timeout the batch goes again; that one is acknowledged.
    wait_until("every event acknowledged", || {
        event_ids(&rx.acked()).len() >= 20
    });
    let requests = rx.requests();
    let posts: Vec<_> = requests
        .iter()
        .filter(|r| r["path"] == "/services/collector/event")
        .collect();
    assert!(
        posts.len() >= 2,
        "the lost batch was sent again: {}",
        posts.len()
    );
    let channel = posts[0]["headers"]["x-splunk-request-channel"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(channel.len(), 36, "a GUID channel: {channel}");
    assert!(
        requests
            .iter()
            .all(|r| r["headers"]["x-splunk-request-channel"] == channel.as_str()),
        "one channel for every request, acks included"
    );
    assert!(
        requests
            .iter()
            .any(|r| r["path"] == "/services/collector/ack"),
        "acknowledgements were asked for"
    );
    wait_until("the cursor past every event", || {
        let m = common::http_get(status, "/metrics");
        common::metric(
            &m,
            "sealtrail_journal_lag_bytes",
            &[("consumer", "forward-out")],
        ) == Some(0.0)
    });
    let m = common::http_get(status, "/metrics");
    assert!(
        common::metric(
            &m,
            "sealtrail_forward_resent_events_total",
            &[("component_id", "out")]
        )
        .is_some_and(|n| n >= 20.0),
        "the resend is counted: {m}"
    );
    d.wait_idle();
    d.stop();
}

#[test]
fn alerts_go_to_elasticsearch_with_the_authentication_events_only() {
    let env = TestEnv::new();
    let rx = Receiver::start(&env.path().join("rx"), "[]");
    let (mut d, port) = start(
        &env,
        &format!(
            "type = \"elasticsearch\"\nurl = \"http://127.0.0.1:{}\"\nonly = {{ category = [\"authentication\", \"intrusion_detection\"] }}\n",
            rx.port
        ),
    );
    let mut input = lines(3, 99);
    for i in 0..5 {
        input.extend_from_slice(
            format!("<38>Dec  2 03:00:0{i} web1 sshd[{}]: Failed password for root from 198.51.100.7 port {} ssh2\n", 500 + i, 40000 + i).as_bytes(),
        );
    }
    common::send_tcp(port, &input);
    wait_until("the alert indexed", || {
        rx.indexed().iter().any(|id| id.contains(":alert:"))
    });
    d.wait_idle();
    d.stop();
    let indexed = rx.indexed();
    let events = common::all_events(&common::read_archive(&env.archive_dir));
    let kind = |id: &str| {
        events
            .iter()
            .find(|e| common::field_str(e, "event.id") == Some(id))
            .map(|e| {
                (
                    common::field_str(e, "event.kind").unwrap_or("").to_string(),
                    common::field_str(e, "rule.id").map(str::to_string),
                )
            })
    };
    let alerts: Vec<_> = indexed
        .iter()
        .filter(|id| kind(id).is_some_and(|(k, _)| k == "alert"))
        .collect();
    assert!(
        alerts
            .iter()
            .any(|id| kind(id).and_then(|(_, r)| r).as_deref() == Some("brute_force")),
        "the brute-force alert, sealed and indexed under its own id: {indexed:?}"
    );
    let failures = indexed.len() - alerts.len();
    assert_eq!(
        failures, 5,
        "the five failures, not the three other lines: {indexed:?}"
    );
    // The bulk request carried the alert as the sealed line, under `create`.
    let bodies: String = rx
        .requests()
        .iter()
        .map(|r| r["body"].as_str().unwrap().to_string())
        .collect();
    assert!(bodies.contains("\"kind\":\"alert\""), "{bodies}");
}
