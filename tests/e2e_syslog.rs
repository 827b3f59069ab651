//! End to end: the real `logger(1)` sends RFC 5424 and RFC 3164 over UDP and over TCP
//! (octet counting and LF framing) to the real daemon; after SIGTERM the archive must
//! verify, hold every message exactly once with its fields, and be readable by the stock
//! `zstd` CLI and by `sealtrail inspect`.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// One `logger` configuration and the messages sent with it.
struct Case {
    listener: &'static str,
    /// Extra `logger` arguments (transport, format, tag, priority, ...).
    args: Vec<String>,
    /// Send each message with its own `logger` process (UDP) or all on one connection
    /// through stdin (TCP).
    one_process_per_message: bool,
    tag: &'static str,
    facility: (u64, &'static str),
    severity: (u64, &'static str),
    rfc5424: bool,
    msgid: Option<&'static str>,
    structured_data: bool,
    pid: Option<u64>,
    texts: Vec<String>,
}

/// The host name `logger` puts in the header: the full name for RFC 5424, the part
/// before the first dot for RFC 3164.
fn logger_hostname(rfc5424: bool) -> String {
    let h = hostname::get().unwrap().to_string_lossy().into_owned();
    if rfc5424 {
        h
    } else {
        h.split('.').next().unwrap_or_default().to_string()
    }
}

fn run_logger(port: u16, case: &Case) {
    let base = |cmd: &mut Command| {
        cmd.env("TZ", "UTC")
            .arg("-n")
            .arg("127.0.0.1")
            .arg("-P")
            .arg(port.to_string())
            .args(&case.args);
    };
    if case.one_process_per_message {
        for text in &case.texts {
            let mut cmd = Command::new("logger");
            base(&mut cmd);
            cmd.arg(text);
            let out = run_cmd(&mut cmd, CMD_TIMEOUT);
            assert_eq!(out.code, Some(0), "logger failed: {}", out.describe());
        }
    } else {
        let mut cmd = Command::new("logger");
        base(&mut cmd);
        let input: String = case.texts.iter().map(|t| format!("{t}\n")).collect();
        let out = run_cmd_stdin(&mut cmd, Some(input.as_bytes()), CMD_TIMEOUT);
        assert_eq!(out.code, Some(0), "logger failed: {}", out.describe());
    }
}

fn check_event(ev: &Value, case: &Case, text: &str, stream: &str) {
    let ctx = || format!("message {text:?} in event {}", brief(ev));
    assert_eq!(field_str(ev, "message"), Some(text), "message: {}", ctx());
    assert_eq!(
        field_str(ev, "process.name"),
        Some(case.tag),
        "process.name: {}",
        ctx()
    );
    match field_str(ev, "log.syslog.appname") {
        Some(app) => assert_eq!(app, case.tag, "log.syslog.appname: {}", ctx()),
        None => assert!(!case.rfc5424, "RFC 5424 event without appname: {}", ctx()),
    }
    assert_eq!(
        field_u64(ev, "log.syslog.facility.code"),
        Some(case.facility.0),
        "facility code: {}",
        ctx()
    );
    assert_eq!(
        field_str(ev, "log.syslog.facility.name"),
        Some(case.facility.1),
        "facility name: {}",
        ctx()
    );
    assert_eq!(
        field_u64(ev, "log.syslog.severity.code"),
        Some(case.severity.0),
        "severity code: {}",
        ctx()
    );
    assert_eq!(
        field_str(ev, "log.syslog.severity.name"),
        Some(case.severity.1),
        "severity name: {}",
        ctx()
    );
    assert_eq!(
        field_u64(ev, "log.syslog.priority"),
        Some(case.facility.0 * 8 + case.severity.0),
        "priority: {}",
        ctx()
    );
    assert_eq!(
        field_str(ev, "log.syslog.hostname"),
        Some(logger_hostname(case.rfc5424).as_str()),
        "hostname: {}",
        ctx()
    );
    assert_eq!(
        field_str(ev, "log.syslog.msgid"),
        case.msgid,
        "msgid (absent fields are omitted): {}",
        ctx()
    );
    if case.rfc5424 {
        assert_eq!(
            field_u64(ev, "log.syslog.version"),
            Some(1),
            "version: {}",
            ctx()
        );
    }
    if case.structured_data {
        let sd = field(ev, "log.syslog.structured_data")
            .unwrap_or_else(|| panic!("no structured_data: {}", ctx()));
        assert_eq!(
            sd.get("x@1")
                .and_then(|e| e.get("k"))
                .and_then(Value::as_str),
            Some("v"),
            "structured_data[\"x@1\"][\"k\"]: {}",
            ctx()
        );
    }
    if let Some(pid) = case.pid {
        assert_eq!(field_u64(ev, "process.pid"), Some(pid), "pid: {}", ctx());
    }

    let original =
        field_str(ev, "event.original").unwrap_or_else(|| panic!("no event.original: {}", ctx()));
    assert!(original.contains(text), "event.original: {}", ctx());
    let pri = format!("<{}>", case.facility.0 * 8 + case.severity.0);
    assert!(
        original.starts_with(&pri),
        "event.original keeps the frame verbatim, starting at the PRI (no octet count): {}",
        ctx()
    );
    assert!(
        !original.ends_with('\n'),
        "event.original must not keep the LF frame terminator: {}",
        ctx()
    );

    assert_eq!(
        field_str(ev, "observer.ingress.name"),
        Some(case.listener),
        "observer.ingress.name: {}",
        ctx()
    );
    assert!(
        field_str(ev, "log.source.address")
            .or_else(|| field_str(ev, "source.address"))
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "source address: {}",
        ctx()
    );
    assert_eq!(field_str(ev, "event.kind"), Some("event"), "{}", ctx());
    let id = field_str(ev, "event.id").unwrap_or_else(|| panic!("no event.id: {}", ctx()));
    assert!(
        id.starts_with(&format!("{stream}:")),
        "event.id is <stream>:<position>: {}",
        ctx()
    );
    let ts = field_str(ev, "@timestamp").unwrap_or_else(|| panic!("no @timestamp: {}", ctx()));
    let ts = chrono::DateTime::parse_from_rfc3339(ts)
        .unwrap_or_else(|e| panic!("@timestamp not RFC 3339 ({e}): {}", ctx()));
    let skew = (chrono::Utc::now() - ts.to_utc()).num_seconds().abs();
    assert!(
        skew < 600,
        "@timestamp is {skew} s away from now (time zone or year handling): {}",
        ctx()
    );
    assert!(
        field(ev, "event.created").is_some(),
        "no event.created: {}",
        ctx()
    );
    for bad in BAD_TAGS {
        assert!(!has_tag(ev, bad), "good message tagged {bad}: {}", ctx());
    }
}

/// Does any string anywhere in `v` equal `s`?
fn mentions(v: &Value, s: &str) -> bool {
    match v {
        Value::String(x) => x == s,
        Value::Array(a) => a.iter().any(|x| mentions(x, s)),
        Value::Object(o) => o.values().any(|x| mentions(x, s)),
        _ => false,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            fs::copy(e.path(), dst).unwrap();
        }
    }
}

fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap()
}

#[test]
fn logger_rfc5424_rfc3164_over_udp_and_tcp_framings() {
    let env = TestEnv::new();
    let port = free_port();
    let stream = "e2e-host";
    let cfg = Config::new(
        stream,
        vec![
            Listener::new("udp-in", Transport::Udp, port),
            Listener::new("tcp-in", Transport::Tcp, port),
        ],
    );
    let m = marker("e2e");
    let texts = |label: &str| -> Vec<String> {
        (0..3)
            .map(|i| format!("{label} {m} number {i} with some text"))
            .collect()
    };
    let s = |x: &str| x.to_string();
    let cases = vec![
        Case {
            listener: "udp-in",
            args: [
                "--rfc5424",
                "-d",
                "-t",
                "app5424",
                "-p",
                "auth.notice",
                "--msgid",
                "ID5424",
                "--sd-id",
                "x@1",
                "--sd-param",
                "k=\"v\"",
            ]
            .map(s)
            .to_vec(),
            one_process_per_message: true,
            tag: "app5424",
            facility: (4, "auth"),
            severity: (5, "notice"),
            rfc5424: true,
            msgid: Some("ID5424"),
            structured_data: true,
            pid: None,
            texts: texts("udp-rfc5424"),
        },
        Case {
            listener: "udp-in",
            args: [
                "--rfc3164",
                "-d",
                "-t",
                "app3164",
                "-p",
                "daemon.err",
                "--id=4242",
            ]
            .map(s)
            .to_vec(),
            one_process_per_message: true,
            tag: "app3164",
            facility: (3, "daemon"),
            severity: (3, "err"),
            rfc5424: false,
            msgid: None,
            structured_data: false,
            pid: Some(4242),
            texts: texts("udp-rfc3164"),
        },
        Case {
            listener: "tcp-in",
            args: [
                "-T",
                "--octet-count",
                "-t",
                "apptcpoc",
                "-p",
                "local3.warning",
                "--msgid",
                "OC",
                "--id=777",
                "--sd-id",
                "x@1",
                "--sd-param",
                "k=\"v\"",
            ]
            .map(s)
            .to_vec(),
            one_process_per_message: false,
            tag: "apptcpoc",
            facility: (19, "local3"),
            severity: (4, "warning"),
            rfc5424: true,
            msgid: Some("OC"),
            structured_data: true,
            pid: Some(777),
            texts: texts("tcp-octet-counted"),
        },
        Case {
            listener: "tcp-in",
            args: ["-T", "-t", "apptcplf", "-p", "local7.info"]
                .map(s)
                .to_vec(),
            one_process_per_message: false,
            tag: "apptcplf",
            facility: (23, "local7"),
            severity: (6, "info"),
            rfc5424: true,
            msgid: None,
            structured_data: false,
            pid: None,
            texts: texts("tcp-lf-rfc5424"),
        },
        Case {
            listener: "tcp-in",
            args: [
                "-T",
                "--rfc3164",
                "-t",
                "apptcp3164",
                "-p",
                "mail.crit",
                "--id=4243",
            ]
            .map(s)
            .to_vec(),
            one_process_per_message: false,
            tag: "apptcp3164",
            facility: (2, "mail"),
            severity: (2, "crit"),
            rfc5424: false,
            msgid: None,
            structured_data: false,
            pid: Some(4243),
            texts: texts("tcp-lf-rfc3164"),
        },
    ];

    let mut daemon = env.start(&cfg);
    for case in &cases {
        run_logger(port, case);
    }
    daemon.wait_idle();
    let stopped = daemon.stop();

    // The auditor's view first.
    let out = env.verify(&cfg, &["--until", &stopped.until]);
    assert_verify_ok(&out, "--until <stop time>");
    let url = format!("file://{}", env.archive_dir.display());
    let out = env.verify_with_key(
        Path::new(&url),
        &env.public_key(&cfg),
        &["--until", &stopped.until, "--json"],
    );
    assert_verify_ok(&out, "file:// URL --json");
    let report = verify_json(&out);
    assert_eq!(report["valid"], Value::Bool(true), "{report}");
    assert_eq!(
        report["problems"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
    let sent: usize = cases.iter().map(|c| c.texts.len()).sum();
    assert_eq!(json_event_total(&report), sent as u64, "{report}");

    // Every message exactly once, with its fields.
    let objects = read_archive(&env.archive_dir);
    assert!(!objects.is_empty(), "archive is empty");
    let events = all_events(&objects);
    for case in &cases {
        for text in &case.texts {
            let hits: Vec<&Value> = events
                .iter()
                .filter(|e| field_str(e, "message") == Some(text.as_str()))
                .collect();
            assert_eq!(
                hits.len(),
                1,
                "message {text:?} must be archived exactly once; found {}",
                hits.len()
            );
            check_event(hits[0], case, text, stream);
        }
    }
    assert_eq!(
        events.len(),
        sent,
        "archive holds events that were never sent: {:#?}",
        events
            .iter()
            .filter(|e| !contains(&original_bytes(e), m.as_bytes()))
            .map(brief)
            .collect::<Vec<_>>()
    );
    let mut ids: Vec<&str> = events
        .iter()
        .map(|e| field_str(e, "event.id").unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), sent, "event ids are not unique");

    // Stock zstd and `sealtrail inspect` see the same bytes as the archive read-back.
    for obj in &objects {
        let z = run_cmd(Command::new("zstd").arg("-dcq").arg(&obj.path), CMD_TIMEOUT);
        assert_eq!(z.code, Some(0), "zstd -dc {}: {}", obj.key, z.describe());
        assert!(
            z.stdout == obj.content,
            "zstd -dc {} printed {} bytes, the archive read-back has {} bytes",
            obj.key,
            z.stdout.len(),
            obj.content.len()
        );

        let ins = sealtrail(&["inspect", obj.path.to_str().unwrap()]);
        assert_eq!(ins.code, Some(0), "inspect {}: {}", obj.key, ins.describe());
        let nl = ins
            .stdout
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or_else(|| panic!("inspect {} printed no seal line", obj.key));
        let seal: Value = serde_json::from_slice(&ins.stdout[..nl]).unwrap_or_else(|e| {
            panic!(
                "inspect {}: first line is not the seal JSON ({e}): {}",
                obj.key,
                ins.stdout_str()
            )
        });
        assert!(seal.is_object(), "seal is not a JSON object: {seal}");
        assert!(
            seal.get("@timestamp").is_none(),
            "first inspect line is an event, not the seal: {seal}"
        );
        assert!(
            mentions(&seal, stream),
            "seal does not name the stream {stream:?}: {seal}"
        );
        assert!(
            ins.stdout[nl + 1..] == obj.ecs[..],
            "inspect {}: the lines after the seal differ from the ECS rendering of the object's lines",
            obj.key
        );
        let raw = sealtrail(&["inspect", "--sealed", obj.path.to_str().unwrap()]);
        assert_eq!(
            raw.code,
            Some(0),
            "inspect --sealed {}: {}",
            obj.key,
            raw.describe()
        );
        let nl = raw.stdout.iter().position(|&b| b == b'\n').unwrap();
        assert!(
            raw.stdout[nl + 1..] == obj.content[..],
            "inspect --sealed {}: the lines after the seal differ from the object's lines",
            obj.key
        );
    }
    // What is sealed for a received message is its compact line (docs/FORMAT.md §10).
    let sealed_lines: Vec<&[u8]> = objects
        .iter()
        .flat_map(|o| o.content.split(|&b| b == b'\n').filter(|l| !l.is_empty()))
        .collect();
    let compact = sealed_lines
        .iter()
        .filter(|l| l.starts_with(sealtrail::event::COMPACT_PREFIX))
        .count();
    assert!(
        compact >= sent,
        "{compact} of {} sealed lines are compact events, {sent} messages were sent",
        sealed_lines.len()
    );

    // A clean stop is sealed: coverage that ends before --until by a planned stop is
    // said, not failed ...
    let future = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let out = env.verify(&cfg, &["--until", &future, "--json"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let report = verify_json(&out);
    assert_eq!(report["streams"][0]["tail"]["state"], "stopped", "{report}");
    // ... and without its stop segment, the same archive is truncated before --until.
    let cut = env.path().join("cut");
    copy_dir(&env.archive_dir, &cut);
    let newest = objects.iter().map(|o| &o.key).max().unwrap();
    fs::remove_file(cut.join(newest)).unwrap();
    let out = env.verify_with_key(&cut, &env.public_key(&cfg), &["--until", &future]);
    assert_eq!(
        out.code,
        Some(1),
        "verify --until <one hour ahead> must report the cut archive as truncated:\n{}",
        out.describe()
    );
    // (tail_truncated, or no_segments when the stop segment was the only one)
    assert!(
        out.stdout_str().contains("verdict: INVALID"),
        "{}",
        out.describe()
    );

    // ... and so does one changed byte, named by its object.
    let target = objects
        .iter()
        .find(|o| !o.events.is_empty())
        .expect("an object with events");
    let tampered = env.path().join("tampered");
    copy_dir(&env.archive_dir, &tampered);
    let victim = tampered.join(&target.key);
    let mut bytes = fs::read(&victim).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    fs::write(&victim, bytes).unwrap();
    let out = env.verify_with_key(&tampered, &env.public_key(&cfg), &[]);
    assert_eq!(
        out.code,
        Some(1),
        "verify must fail on a flipped byte in {}:\n{}",
        target.key,
        out.describe()
    );
    assert!(
        out.stdout_str().contains(file_name(&target.key)),
        "the problem report must name the object {}:\n{}",
        target.key,
        out.describe()
    );
}

#[test]
fn heartbeats_seal_empty_segments_and_keygen_keys_work() {
    let env = TestEnv::new();

    // keygen: secret 0600, public PEM beside it.
    let keys = env.path().join("keys");
    fs::create_dir_all(&keys).unwrap();
    let key = keys.join("sealtrail.key");
    let out = sealtrail(&["keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "keygen: {}", out.describe());
    let mode = fs::metadata(&key)
        .unwrap_or_else(|e| panic!("keygen did not write {}: {e}", key.display()))
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "secret key mode is {mode:o}");
    let public = key.with_extension("pub");
    let pem = fs::read_to_string(&public).expect("keygen wrote the .pub file");
    assert!(pem.contains("-----BEGIN "), "public key is not PEM: {pem}");
    let other_key = keys.join("other.key");
    let out = sealtrail(&["keygen", "--out", other_key.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "keygen: {}", out.describe());
    assert_ne!(
        fs::read(&public).unwrap(),
        fs::read(other_key.with_extension("pub")).unwrap(),
        "two keygen runs produced the same key"
    );

    let port = free_port();
    let mut cfg = Config::new(
        "heartbeat-host",
        vec![Listener::new("tcp", Transport::Tcp, port)],
    );
    cfg.max_age = Some("1s".to_string());
    cfg.key = Some(key.clone());
    cfg.archive_as_file_url = true;
    assert_eq!(env.public_key(&cfg), public);

    let daemon = env.start(&cfg);
    thread::sleep(Duration::from_secs(5));
    let stopped = daemon.stop();

    let objects = read_archive(&env.archive_dir);
    assert!(
        objects.len() >= 3,
        "5 s without traffic at max_age=1s must leave several heartbeat segments, found {:?}",
        archive_files(&env.archive_dir)
    );
    for o in &objects {
        assert!(
            o.events.is_empty(),
            "{}: events without traffic: {:?}",
            o.key,
            o.events
        );
        assert!(
            o.key.starts_with("heartbeat-host/"),
            "object outside the stream's prefix: {}",
            o.key
        );
    }

    let out = env.verify(&cfg, &["--until", &stopped.until, "--json"]);
    assert_verify_ok(&out, "heartbeats --until <stop time>");
    let report = verify_json(&out);
    assert_eq!(report["valid"], Value::Bool(true), "{report}");
    assert_eq!(json_event_total(&report), 0, "{report}");
    let segments: u64 = report["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["segments"].as_u64().unwrap_or(0))
        .sum();
    // Segments sealed after --until (the one sealed at shutdown) are outside the
    // audited window: the verifier counts them as skipped, not as checked.
    let skipped = report["skipped"].as_u64().unwrap_or(0);
    assert_eq!(segments + skipped, objects.len() as u64, "{report}");
    assert!(segments >= 3, "{report}");

    // Someone else's key must not validate these segments.
    let out = env.verify_with_key(&env.archive_dir, &other_key.with_extension("pub"), &[]);
    assert_eq!(
        out.code,
        Some(1),
        "verify with the wrong key must fail:\n{}",
        out.describe()
    );

    // A deleted heartbeat in the middle of the chain is exactly what heartbeats are for.
    let holed = env.path().join("holed");
    copy_dir(&env.archive_dir, &holed);
    let gone = &objects[objects.len() / 2].key;
    fs::remove_file(holed.join(gone)).unwrap();
    let out = env.verify_with_key(&holed, &public, &["--until", &stopped.until]);
    assert_eq!(
        out.code,
        Some(1),
        "verify must report the deleted segment {gone}:\n{}",
        out.describe()
    );
}
