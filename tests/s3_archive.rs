//! The daemon archiving to real S3 servers: moto (Object Lock, conditional puts) and
//! ministack (signatures checked, GetObjectRetention). Syslog in over TCP, segments in
//! the bucket, `sealtrail verify s3://...` on them; outages made by a TCP relay between
//! the daemon and the server that the test stops and starts.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::s3::{rfc3339_days_from_now, S3Server};
use common::{free_port, Config, Daemon, Listener, TestEnv, Transport};

const STREAM: &str = "s3-host";

/// A TCP relay on a fixed port: `down()` closes it and every connection through it (the
/// store is unreachable: connection refused), `up()` opens it again on the same port.
struct Relay {
    port: u16,
    target: u16,
    running: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<thread::JoinHandle<()>>,
}

impl Relay {
    fn new(target: u16) -> Relay {
        let mut r = Relay {
            port: free_port(),
            target,
            running: Arc::new(AtomicBool::new(false)),
            conns: Arc::new(Mutex::new(Vec::new())),
            accept: None,
        };
        r.up();
        r
    }

    fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("bind relay");
        listener.set_nonblocking(true).unwrap();
        self.running.store(true, Ordering::SeqCst);
        let (running, conns, target) = (self.running.clone(), self.conns.clone(), self.target);
        self.accept = Some(thread::spawn(move || {
            while running.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                            continue;
                        };
                        let mut c = conns.lock().unwrap();
                        c.push(client.try_clone().unwrap());
                        c.push(server.try_clone().unwrap());
                        pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                        pipe(server, client);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        }));
    }

    fn down(&mut self) {
        self.running.store(false, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            t.join().unwrap();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.down();
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    thread::spawn(move || {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// The `[archive]` table for `bucket` at `endpoint`, credentials from a file.
fn archive_toml(
    env: &TestEnv,
    server: &S3Server,
    endpoint: &str,
    bucket: &str,
    more: &str,
) -> String {
    let secret = env.path().join("s3-secret");
    std::fs::write(&secret, server.secret_key()).unwrap();
    format!(
        "[archive]\nurl = \"s3://{bucket}/logs\"\nendpoint = \"{endpoint}\"\nallow_http = true\nretry_max = \"1s\"\n{more}\n\
         [archive.credentials]\naccess_key_id = \"{}\"\nsecret_access_key_file = {}\n",
        server.access_key(),
        common::toml_str(&secret.to_string_lossy())
    )
}

fn config(
    env: &TestEnv,
    server: &S3Server,
    endpoint: &str,
    bucket: &str,
    more: &str,
) -> (Config, u16) {
    let port = free_port();
    let mut cfg = Config::new(STREAM, vec![Listener::new("tcp", Transport::Tcp, port)]);
    cfg.max_age = Some("1s".into());
    cfg.archive_toml = Some(archive_toml(env, server, endpoint, bucket, more));
    (cfg, port)
}

fn lines(from: usize, to: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in from..to {
        out.extend_from_slice(
            format!("<13>Dec  2 03:00:00 web1 app[42]: s3 archive line {i:06}\n").as_bytes(),
        );
    }
    out
}

/// `sealtrail verify s3://bucket/logs` against `server`, with its keys in the environment.
fn verify(server: &S3Server, bucket: &str, key: &Path, extra: &[&str]) -> common::CmdOutput {
    let url = format!("s3://{bucket}/logs");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sealtrail"));
    cmd.args(["verify", &url, "--key"])
        .arg(key)
        .args(["--endpoint", &server.endpoint, "--allow-http"])
        .args(extra)
        .env("AWS_ACCESS_KEY_ID", server.access_key())
        .env("AWS_SECRET_ACCESS_KEY", server.secret_key())
        .env_remove("AWS_PROFILE");
    common::run_cmd(&mut cmd, Duration::from_secs(120))
}

/// Every segment of the bucket, downloaded into a directory laid out like a local
/// archive, then read as one.
fn bucket_events(env: &TestEnv, server: &S3Server, bucket: &str) -> Vec<serde_json::Value> {
    let dir = env.path().join(format!("mirror-{bucket}"));
    let _ = std::fs::remove_dir_all(&dir);
    for key in server.list_keys(bucket, "logs/") {
        let rel = key.strip_prefix("logs/").unwrap();
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, server.get(bucket, &key).unwrap()).unwrap();
    }
    common::all_events(&common::read_archive(&dir))
}

/// Each of lines `0..n` is in the bucket exactly once.
#[track_caller]
fn assert_all_once(env: &TestEnv, server: &S3Server, bucket: &str, n: usize) {
    let events = bucket_events(env, server, bucket);
    let mut seen = vec![0u32; n];
    for ev in &events {
        if let Some(m) = ev["message"].as_str() {
            if let Some(i) = m.strip_prefix("s3 archive line ") {
                seen[i.parse::<usize>().unwrap()] += 1;
            }
        }
    }
    let bad: Vec<(usize, u32)> = seen
        .iter()
        .enumerate()
        .filter(|(_, c)| **c != 1)
        .map(|(i, c)| (i, *c))
        .take(10)
        .collect();
    assert!(
        bad.is_empty(),
        "lines not present exactly once (line, count): {bad:?}"
    );
}

fn spool_files(env: &TestEnv) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(env.state_dir.join("spool"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".seg.zst"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[track_caller]
fn wait_for(what: &str, d: &mut Daemon, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}\n--- stderr ---\n{}",
            d.stderr()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the daemon on `cfg`: sends each batch of lines 1.5 s apart (so they land in
/// segments of their own), waits until all is read, stops.
fn ship(env: &TestEnv, cfg: &Config, port: u16, batches: &[(usize, usize)]) {
    let mut d = env.start(cfg);
    for (i, (from, to)) in batches.iter().enumerate() {
        if i > 0 {
            thread::sleep(Duration::from_millis(1500));
        }
        common::send_tcp(port, &lines(*from, *to));
    }
    d.wait_idle();
    d.stop();
}

#[test]
fn locked_segments_land_in_the_bucket_and_verify_there() {
    let server = S3Server::moto();
    server.create_bucket("audit", true);
    server.create_bucket("heads", false);
    let env = TestEnv::new();
    let (cfg, port) = config(
        &env,
        &server,
        &server.endpoint,
        "audit",
        "retention = { mode = \"compliance\", days = 3 }\nanchor = \"s3://heads/team\"\nencryption = { kind = \"s3\" }",
    );
    ship(&env, &cfg, port, &[(0, 250), (250, 500)]);
    let logs = env.logs();
    assert!(logs.contains("the bucket has Object Lock"), "{logs}");
    assert!(spool_files(&env).is_empty(), "the spool drained at stop");

    let keys = server.list_keys("audit", "logs/");
    assert!(keys.len() >= 2, "{keys:?}");
    let two_days = chrono::Utc::now() + chrono::Duration::days(2);
    for key in &keys {
        let h = server.head("audit", key).unwrap();
        assert_eq!(h["x-amz-object-lock-mode"], "COMPLIANCE", "{key}: {h:?}");
        let until = chrono::DateTime::parse_from_rfc3339(&h["x-amz-object-lock-retain-until-date"])
            .unwrap();
        assert!(until > two_days, "{key} locked only until {until}");
    }
    assert_all_once(&env, &server, "audit", 500);

    let pubkey = env.public_key(&cfg);
    let ok = verify(&server, "audit", &pubkey, &[]);
    assert_eq!(ok.code, Some(0), "{}", ok.describe());
    assert!(
        ok.stdout_str().contains("500 events"),
        "{}",
        ok.stdout_str()
    );
    let until = rfc3339_days_from_now(2);
    let ret = verify(
        &server,
        "audit",
        &pubkey,
        &["--check-retention", "--retain-until", &until],
    );
    assert_eq!(ret.code, Some(0), "{}", ret.describe());
    assert!(
        ret.stdout_str()
            .contains(&format!("lock: {} COMPLIANCE", keys.len())),
        "{}",
        ret.stdout_str()
    );
    let anchor = format!("s3://heads/team/{STREAM}.anchor.json");
    let anc = verify(&server, "audit", &pubkey, &["--anchor", &anchor, "--json"]);
    assert_eq!(anc.code, Some(0), "{}", anc.describe());
    let report: serde_json::Value = serde_json::from_str(&anc.stdout_str()).unwrap();
    assert_eq!(report["anchor"]["reached"], true, "{report}");
    assert_eq!(
        report["anchor"]["seq"].as_u64().unwrap() + 1,
        keys.len() as u64,
        "the anchor is the newest segment"
    );

    // COMPLIANCE means nobody deletes a locked version before its date.
    let versions = server.list_versions("audit", "logs/");
    assert_eq!(versions.len(), keys.len());
    let (status, body) = server.delete_version("audit", &versions[0].0, &versions[0].1);
    assert_eq!(
        status, 403,
        "deleting a locked version must be refused: {body}"
    );
    assert!(server.get("audit", &versions[0].0).is_some());
}

#[test]
fn ministack_checks_signatures_keeps_retention_and_wrong_credentials_lose_nothing() {
    let server = S3Server::ministack();
    server.create_bucket("audit", true);
    let env = TestEnv::new();
    let (cfg, port) = config(
        &env,
        &server,
        &server.endpoint,
        "audit",
        "retention = { mode = \"compliance\", days = 1 }",
    );
    // Wrong secret first: ministack refuses the signatures.
    std::fs::write(env.path().join("s3-secret"), "not-the-secret").unwrap();
    let mut d = env.start(&cfg);
    common::send_tcp(port, &lines(0, 200));
    d.wait_idle();
    d.wait_log("the credentials were refused", 1);
    d.wait_log("shipping failed", 1);
    assert!(
        d.stderr().contains("class=\"auth\""),
        "the failure is classed as auth:\n{}",
        d.stderr()
    );
    d.stop();
    assert!(
        !spool_files(&env).is_empty(),
        "refused segments stay in the spool"
    );
    assert!(server.list_keys("audit", "logs/").is_empty());

    // Fixed credentials: a restart ships everything.
    std::fs::write(env.path().join("s3-secret"), server.secret_key()).unwrap();
    let mut d = env.start(&cfg);
    d.wait_ready();
    common::send_tcp(port, &lines(200, 300));
    d.wait_idle();
    let log = d.stderr();
    d.stop();
    assert!(
        !log.contains(server.secret_key()) && !log.contains("not-the-secret"),
        "a secret in the log:\n{log}"
    );
    let checked = common::sealtrail(&["check-config", "-c", env.config_path.to_str().unwrap()]);
    assert_eq!(checked.code, Some(0), "{}", checked.describe());
    assert!(!checked.describe().contains(server.secret_key()));
    assert!(spool_files(&env).is_empty(), "the spool drained");
    let keys = server.list_keys("audit", "logs/");
    for key in &keys {
        let (mode, until) = server
            .get_retention("audit", key)
            .unwrap_or_else(|| panic!("{key} has no retention"));
        assert_eq!(mode, "COMPLIANCE", "{key}");
        assert!(
            until.as_str() > rfc3339_days_from_now(0).as_str(),
            "{key}: {until}"
        );
    }
    assert_all_once(&env, &server, "audit", 300);
    let ok = verify(
        &server,
        "audit",
        &env.public_key(&cfg),
        &["--check-retention"],
    );
    assert_eq!(ok.code, Some(0), "{}", ok.describe());
}

#[test]
fn an_outage_grows_the_spool_then_drains_and_nothing_is_lost() {
    let server = S3Server::moto();
    server.create_bucket("audit", true);
    let mut relay = Relay::new(server.endpoint.rsplit(':').next().unwrap().parse().unwrap());
    let env = TestEnv::new();
    let (cfg, port) = config(&env, &server, &relay.endpoint(), "audit", "");
    let mut d = env.start(&cfg);
    common::send_tcp(port, &lines(0, 300));
    relay.down();
    common::send_tcp(port, &lines(300, 600));
    wait_for("segments to pile up in the spool", &mut d, || {
        spool_files(&env).len() >= 3
    });
    d.wait_log("shipping failed", 1);
    assert!(d.stderr().contains("class=\"network\""), "{}", d.stderr());
    relay.up();
    common::send_tcp(port, &lines(600, 900));
    wait_for("the spool to drain", &mut d, || {
        spool_files(&env).is_empty()
    });
    d.wait_idle();
    d.stop();
    assert_all_once(&env, &server, "audit", 900);
    let ok = verify(&server, "audit", &env.public_key(&cfg), &[]);
    assert_eq!(ok.code, Some(0), "{}", ok.describe());
}

#[test]
fn a_full_spool_slows_the_senders_instead_of_losing_lines() {
    let server = S3Server::moto();
    server.create_bucket("audit", false);
    let mut relay = Relay::new(server.endpoint.rsplit(':').next().unwrap().parse().unwrap());
    relay.down();
    let env = TestEnv::new();
    let (mut cfg, port) = config(&env, &server, &relay.endpoint(), "audit", "");
    let status_port = free_port();
    cfg.journal_extra = "file_bytes = 65536\nmax_bytes = 262144\n".into();
    cfg.extra_toml =
        format!("\n[spool]\nmax_bytes = 4096\n\n[status]\naddress = \"127.0.0.1:{status_port}\"\n");
    let mut d = env.start(&cfg);
    const N: usize = 100_000;
    let done = Arc::new(AtomicBool::new(false));
    let sender = {
        let done = done.clone();
        thread::spawn(move || {
            common::send_tcp(port, &lines(0, N));
            done.store(true, Ordering::SeqCst);
        })
    };
    d.wait_log("the spool is full", 1);
    thread::sleep(Duration::from_secs(3));
    assert!(
        !done.load(Ordering::SeqCst),
        "with the store down and the spool full the sender must be held back"
    );
    let metrics = common::http_get(status_port, "/metrics");
    assert_eq!(
        common::metric(&metrics, "sealtrail_spool_full", &[]),
        Some(1.0),
        "{metrics}"
    );
    let status = common::http_get(status_port, "/status");
    assert!(status.contains("the spool is full"), "{status}");
    relay.up();
    sender.join().unwrap();
    d.wait_idle();
    wait_for("the spool to drain", &mut d, || {
        spool_files(&env).is_empty()
    });
    d.stop();
    assert_all_once(&env, &server, "audit", N);
    let ok = verify(&server, "audit", &env.public_key(&cfg), &[]);
    assert_eq!(ok.code, Some(0), "{}", ok.describe());
}

/// The object key of a spooled segment, from its seal (`inspect --seal-only`).
fn key_of(spooled: &Path) -> String {
    let out = common::sealtrail(&["inspect", "--seal-only", spooled.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let seal: serde_json::Value =
        serde_json::from_str(out.stdout_str().lines().next().unwrap()).unwrap();
    let end = seal["period_end"].as_str().unwrap();
    format!(
        "logs/{STREAM}/{}/{}/{}/{:012}.seg.zst",
        &end[0..4],
        &end[5..7],
        &end[8..10],
        seal["seq"].as_u64().unwrap()
    )
}

#[test]
fn a_lost_reply_is_recognised_and_a_different_object_is_never_overwritten() {
    let server = S3Server::moto();
    server.create_bucket("audit", true);
    let mut relay = Relay::new(server.endpoint.rsplit(':').next().unwrap().parse().unwrap());
    relay.down();
    let env = TestEnv::new();
    let (cfg, port) = config(&env, &server, &relay.endpoint(), "audit", "");
    let mut d = env.start(&cfg);
    common::send_tcp(port, &lines(0, 50));
    wait_for("two spooled segments", &mut d, || {
        spool_files(&env).len() >= 2
    });
    let spool = env.state_dir.join("spool");
    let files = spool_files(&env);
    // Segment 0 "was put, but the reply was lost": the same bytes are already there.
    let first = std::fs::read(spool.join(&files[0])).unwrap();
    let first_key = key_of(&spool.join(&files[0]));
    assert_eq!(server.put_plain("audit", &first_key, &first), 200);
    // Segment 1's key holds something else: it must never be overwritten.
    let second_key = key_of(&spool.join(&files[1]));
    assert_eq!(
        server.put_plain("audit", &second_key, b"not this segment"),
        200
    );
    relay.up();
    d.wait_log("segment was already archived", 1);
    d.wait_log("archive already holds a different object", 1);
    assert!(d.stderr().contains("class=\"conflict\""), "{}", d.stderr());
    d.stop();
    assert!(
        spool_files(&env).contains(&files[1]),
        "the conflicting segment stays in the spool"
    );
    assert!(
        !spool_files(&env).contains(&files[0]),
        "the recognised one left it"
    );
    assert_eq!(
        server.get("audit", &second_key).unwrap(),
        b"not this segment"
    );
    assert_eq!(
        server.list_versions("audit", &first_key).len(),
        1,
        "not put twice"
    );
}

#[test]
fn check_retention_reports_unlocked_governance_and_short_locks_by_key() {
    let server = S3Server::moto();
    server.create_bucket("audit", true);
    let env = TestEnv::new();
    let (cfg, port) = config(
        &env,
        &server,
        &server.endpoint,
        "audit",
        "retention = { mode = \"compliance\", days = 30 }",
    );
    ship(&env, &cfg, port, &[(0, 20)]);
    let pubkey = env.public_key(&cfg);
    let in_ten_days = rfc3339_days_from_now(10);
    let clean = verify(
        &server,
        "audit",
        &pubkey,
        &["--check-retention", "--retain-until", &in_ten_days],
    );
    assert_eq!(clean.code, Some(0), "{}", clean.describe());

    let planted = |seq: u32| format!("logs/{STREAM}/2026/01/01/{seq:012}.seg.zst");
    assert_eq!(server.put_plain("audit", &planted(900), b"x"), 200);
    let gov = rfc3339_days_from_now(60);
    assert_eq!(
        server.put_with_retention("audit", &planted(901), b"x", "GOVERNANCE", &gov),
        200
    );
    let short = rfc3339_days_from_now(1);
    assert_eq!(
        server.put_with_retention("audit", &planted(902), b"x", "COMPLIANCE", &short),
        200
    );
    let out = verify(
        &server,
        "audit",
        &pubkey,
        &[
            "--check-retention",
            "--retain-until",
            &in_ten_days,
            "--json",
        ],
    );
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let report: serde_json::Value = serde_json::from_str(&out.stdout_str()).unwrap();
    let kind_of = |key: &str| -> Vec<String> {
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["object"] == key)
            .map(|p| p["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        kind_of(&planted(900)).contains(&"unlocked".to_string()),
        "{report}"
    );
    assert!(
        kind_of(&planted(901)).contains(&"governance_lock".to_string()),
        "{report}"
    );
    assert!(
        kind_of(&planted(902)).contains(&"retention_too_short".to_string()),
        "{report}"
    );
    assert_eq!(report["retention"]["modes"]["none"], 1, "{report}");
}

#[test]
fn an_anchor_catches_newest_segments_deleted_from_the_bucket() {
    let server = S3Server::moto();
    server.create_bucket("plain", false);
    let env = TestEnv::new();
    let anchor = env.path().join("heads/head.json");
    let (cfg, port) = config(
        &env,
        &server,
        &server.endpoint,
        "plain",
        &format!("anchor = {}", common::toml_str(&anchor.to_string_lossy())),
    );
    ship(&env, &cfg, port, &[(0, 50), (50, 100), (100, 100)]);
    let keys = server.list_keys("plain", "logs/");
    assert!(keys.len() >= 3, "{keys:?}");
    for key in &keys[keys.len() - 2..] {
        let r = server.request(
            "DELETE",
            &format!("plain/{key}"),
            &[],
            common::s3::NO_HEADERS,
            b"",
        );
        assert!(r.status < 300, "delete {key}: {}", r.text());
    }
    let pubkey = env.public_key(&cfg);
    let blind = verify(&server, "plain", &pubkey, &[]);
    assert_eq!(
        blind.code,
        Some(0),
        "without --until or --anchor the shortened chain still verifies (why the anchor exists): {}",
        blind.describe()
    );
    assert!(
        blind.stdout_str().contains("tail: not checked"),
        "but the report says the tail was not checked: {}",
        blind.describe()
    );
    let caught = verify(
        &server,
        "plain",
        &pubkey,
        &["--anchor", anchor.to_str().unwrap()],
    );
    assert_eq!(caught.code, Some(1), "{}", caught.describe());
    let text = caught.stdout_str();
    assert!(text.contains("tail_truncated"), "{text}");
    let last = keys.len() - 1;
    assert!(
        text.contains(&format!("seqs {}..={} missing", last - 1, last)),
        "{text}"
    );
}

#[test]
fn a_missing_bucket_is_said_at_start_and_shipping_resumes_once_it_exists() {
    let server = S3Server::moto();
    let env = TestEnv::new();
    let (cfg, port) = config(&env, &server, &server.endpoint, "later", "");
    let mut d = env.start(&cfg);
    d.wait_log("does not exist", 1);
    common::send_tcp(port, &lines(0, 50));
    d.wait_idle();
    wait_for("a spooled segment", &mut d, || {
        !spool_files(&env).is_empty()
    });
    server.create_bucket("later", false);
    wait_for("the spool to drain", &mut d, || {
        spool_files(&env).is_empty()
    });
    d.stop();
    assert_all_once(&env, &server, "later", 50);
}

/// nginx on a free port, storing what is PUT under its root (the WebDAV module's
/// `dav_methods PUT`) and serving it back; stopped by PID on drop.
struct Nginx {
    port: u16,
    child: std::process::Child,
}

impl Nginx {
    fn start(dir: &Path) -> Nginx {
        let port = free_port();
        for d in ["www", "tmp"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let d = dir.display();
        // `user root`: the workers must write into this root-owned test directory when
        // the tests run as root (ignored, with a warning, otherwise).
        let conf = format!(
            "user root;\nworker_processes 1;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\nevents {{}}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/tmp;\n\
             server {{\n  listen 127.0.0.1:{port};\n  root {d}/www;\n  dav_methods PUT;\n  create_full_put_path on;\n }}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start nginx (tests/run.sh installs nginx-light)");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "nginx did not start: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(50));
        }
        Nginx { port, child }
    }
}

impl Drop for Nginx {
    /// SIGTERM: the master stops its workers before it exits (SIGKILL would orphan them).
    fn drop(&mut self) {
        common::signal(self.child.id(), "TERM");
        let _ = self.child.wait();
    }
}

#[test]
fn an_http_anchor_is_put_by_the_daemon_and_read_by_verify() {
    let server = S3Server::moto();
    server.create_bucket("audit", true);
    let env = TestEnv::new();
    let web = Nginx::start(&env.path().join("nginx"));
    let url = format!("http://127.0.0.1:{}/heads/{STREAM}.anchor.json", web.port);
    let (cfg, port) = config(
        &env,
        &server,
        &server.endpoint,
        "audit",
        &format!("anchor = \"{url}\""),
    );
    ship(&env, &cfg, port, &[(0, 30), (30, 60)]);
    let logs = env.logs();
    assert!(!logs.contains("publishing the chain head failed"), "{logs}");
    let stored = env
        .path()
        .join(format!("nginx/www/heads/{STREAM}.anchor.json"));
    let head: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&stored).expect("the daemon PUT the head")).unwrap();
    let keys = server.list_keys("audit", "logs/");
    assert!(keys.len() >= 2, "{keys:?}");
    assert_eq!(
        head["seq"].as_u64().unwrap() + 1,
        keys.len() as u64,
        "the newest: {head}"
    );
    let out = verify(&server, "audit", &env.public_key(&cfg), &["--anchor", &url]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stdout_str().contains(": reached"),
        "{}",
        out.stdout_str()
    );
}
