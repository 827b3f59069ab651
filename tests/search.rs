//! `sealtrail search` / `export` on an archive made by the real daemon: two streams
//! (`alpha` with hosts web1 and web2, `beta` with db1) in one directory, signed with one
//! key; known sshd, sudo and application lines, and a brute-force alert. Each filter
//! against the events as the archive holds them; CSV quoting; JSON lines against
//! `sealtrail inspect`; a time range that skips a tampered segment outside it; a
//! tampered segment refused, and included marked with `--include-unverified`; the same
//! query over S3 (moto).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

struct Fixture {
    alpha: TestEnv,
    _beta: TestEnv,
    public: PathBuf,
    /// Between the first batch (sealed and shipped before it) and the second.
    between: String,
    /// Object keys whose segment holds the first batch.
    first_batch: Vec<String>,
}

/// Every line is told apart by its port (or its text).
const BATCH_ONE: &[&str] = &[
    "<38>Dec  2 07:00:01 web1 sshd[100]: Failed password for root from 203.0.113.5 port 50001 ssh2",
    "<38>Dec  2 07:00:02 web1 sshd[101]: Failed password for invalid user admin from 203.0.113.6 port 50002 ssh2",
    "<38>Dec  2 07:00:03 web2 sshd[102]: Accepted publickey for alice from 198.51.100.7 port 50003 ssh2: ED25519 SHA256:abc",
    "<85>Dec  2 07:00:04 web2 sudo[103]:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
    "<13>Dec  2 07:00:05 web1 shop[1]: order \"42\", shipped, to \"Bob\"",
];
const BETA: &[&str] = &[
    "<38>Dec  2 07:00:06 db1 sshd[200]: Failed password for root from 203.0.113.5 port 50006 ssh2",
    "<38>Dec  2 07:00:07 db1 sshd[201]: Accepted password for bob from 2001:db8::7 port 50007 ssh2",
];
/// Sent octet-counted (RFC 6587), so that it holds a line break.
const MULTILINE: &str = "<13>Dec  2 07:00:09 web2 shop[2]: note: \"a, b\"\nsecond line";

fn brute_force_lines() -> String {
    (1..=6)
        .map(|i| format!("<38>Dec  2 07:00:1{i} web1 sshd[30{i}]: Failed password for root from 203.0.113.9 port 5100{i} ssh2\n"))
        .collect()
}

fn lines(ls: &[&str]) -> String {
    ls.iter().map(|l| format!("{l}\n")).collect()
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let alpha = TestEnv::new();
        let key = alpha.path().join("shared.key");
        let out = sealtrail(&["keygen", "--out", key.to_str().unwrap()]);
        assert_eq!(out.code, Some(0), "{}", out.describe());
        let (mut cfg, port) = tcp_config("alpha");
        cfg.key = Some(key.clone());
        let mut d = alpha.start(&cfg);
        send_tcp(port, lines(BATCH_ONE).as_bytes());
        d.wait_idle();
        // Until the first batch is sealed and shipped, then a moment more.
        let deadline = Instant::now() + Duration::from_secs(60);
        let first_batch = loop {
            let keys: Vec<String> = read_archive(&alpha.archive_dir)
                .into_iter()
                .filter(|o| contains(&o.content, b"port 50001"))
                .map(|o| o.key)
                .collect();
            if !keys.is_empty() {
                break keys;
            }
            assert!(
                Instant::now() < deadline,
                "the first batch was never archived"
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        std::thread::sleep(Duration::from_millis(2500));
        let between = now_rfc3339();
        std::thread::sleep(Duration::from_millis(500));
        let mut second = brute_force_lines().into_bytes();
        second.extend_from_slice(format!("{} {MULTILINE}", MULTILINE.len()).as_bytes());
        send_tcp(port, &second);
        d.wait_idle();
        assert!(d.stop().status.success());

        // A second stream into the same archive, signed with the same key.
        let beta = TestEnv::new();
        let (mut cfg, port) = tcp_config("beta");
        cfg.key = Some(key.clone());
        cfg.archive_toml = Some(format!(
            "[archive]\nurl = {}\n",
            toml_str(&alpha.archive_dir.to_string_lossy())
        ));
        let mut d = beta.start(&cfg);
        send_tcp(port, lines(BETA).as_bytes());
        d.wait_idle();
        assert!(d.stop().status.success());
        Fixture {
            public: key.with_extension("pub"),
            alpha,
            _beta: beta,
            between,
            first_batch,
        }
    })
}

/// `sealtrail <cmd> <archive> --key <public> <args>`.
fn query(cmd: &str, archive: &Path, args: &[&str]) -> CmdOutput {
    let f = fixture();
    let mut c = Command::new(BIN);
    c.arg(cmd)
        .arg(archive)
        .arg("--key")
        .arg(&f.public)
        .args(args);
    run_cmd(&mut c, CMD_TIMEOUT)
}

fn jsonl(out: &CmdOutput) -> Vec<Value> {
    out.stdout_str()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| field_str(e, "event.id").unwrap().to_owned())
        .collect()
}

/// The archive's events as the library renders them, in key order (stream, seq).
fn truth(archive: &Path) -> Vec<Value> {
    all_events(&read_archive(archive))
}

fn summary_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn str_is(path: &'static str, v: &'static str) -> impl Fn(&Value) -> bool {
    move |e: &Value| field_str(e, path) == Some(v)
}

fn original_has(s: &'static str) -> impl Fn(&Value) -> bool {
    move |e: &Value| field_str(e, "event.original").is_some_and(|o| o.contains(s))
}

#[test]
fn each_filter_selects_exactly_the_events_with_that_field() {
    let f = fixture();
    let dir = &f.alpha.archive_dir;
    let all = truth(dir);
    let out = query("export", dir, &[]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(
        ids(&jsonl(&out)),
        ids(&all),
        "every event, in stream then position order"
    );
    let err = out.stderr_str();
    assert!(
        err.contains("0 refused") && err.contains("every segment read verified"),
        "{err}"
    );

    type Pred = Box<dyn Fn(&Value) -> bool>;
    let cases: Vec<(Vec<&str>, Pred, usize)> = vec![
        (
            vec!["--host", "web1"],
            Box::new(str_is("host.name", "web1")),
            9,
        ),
        (
            vec!["--host", "WEB2"],
            Box::new(str_is("host.name", "web2")),
            3,
        ),
        (
            vec!["--stream", "beta"],
            Box::new(|e: &Value| field_str(e, "event.id").unwrap().starts_with("beta:")),
            2,
        ),
        (
            vec!["--user", "root"],
            Box::new(str_is("user.name", "root")),
            9,
        ),
        (
            vec!["--user", "alice,bob"],
            Box::new(|e: &Value| matches!(field_str(e, "user.name"), Some("alice" | "bob"))),
            3,
        ),
        (
            vec!["--source", "203.0.113.0/29"],
            Box::new(|e: &Value| {
                matches!(
                    field_str(e, "source.ip"),
                    Some("203.0.113.5" | "203.0.113.6")
                )
            }),
            3,
        ),
        (
            vec!["--source", "2001:db8::7"],
            Box::new(str_is("source.ip", "2001:db8::7")),
            1,
        ),
        (
            vec!["--kind", "alert"],
            Box::new(str_is("event.kind", "alert")),
            1,
        ),
        (
            vec!["--rule", "brute_force"],
            Box::new(str_is("rule.id", "brute_force")),
            1,
        ),
        (
            vec!["--category", "authentication", "--outcome", "success"],
            Box::new(|e: &Value| {
                field(e, "event.category")
                    .is_some_and(|c| c.as_array().unwrap().iter().any(|v| v == "authentication"))
                    && field_str(e, "event.outcome") == Some("success")
            }),
            2,
        ),
        (
            vec!["--outcome", "failure", "--host", "web1"],
            Box::new(|e: &Value| {
                field_str(e, "event.outcome") == Some("failure")
                    && field_str(e, "host.name") == Some("web1")
            }),
            8,
        ),
        (
            vec!["--text", "shipped, to \"Bob\""],
            Box::new(original_has("shipped, to \"Bob\"")),
            1,
        ),
        (
            vec!["--text", "SECOND LINE", "-i"],
            Box::new(original_has("second line")),
            1,
        ),
        (
            vec!["--text", "SECOND LINE"],
            Box::new(original_has("SECOND LINE")),
            0,
        ),
        (
            vec!["--text", "port 50003", "--text", "port 50007"],
            Box::new(|e: &Value| original_has("port 50003")(e) || original_has("port 50007")(e)),
            2,
        ),
    ];
    for (args, pred, n) in cases {
        let expected: Vec<Value> = all.iter().filter(|e| pred(e)).cloned().collect();
        assert_eq!(
            expected.len(),
            n,
            "{args:?}: the archive holds {expected:#?}"
        );
        let out = query("search", dir, &args);
        assert_eq!(out.code, Some(0), "{args:?}: {}", out.describe());
        assert_eq!(ids(&jsonl(&out)), ids(&expected), "{args:?}");
        assert!(
            out.stderr_str().contains(&format!("{n} matched")),
            "{args:?}: {}",
            out.stderr_str()
        );
    }
    // The action the sshd failures carry, whatever the normaliser names it, selects them.
    let action = field_str(
        all.iter().find(|e| original_has("port 50001")(e)).unwrap(),
        "event.action",
    )
    .unwrap();
    let out = query(
        "search",
        dir,
        &["--action", action, "--source", "203.0.113.5"],
    );
    let got = jsonl(&out);
    assert_eq!(got.len(), 2, "{}", out.describe());
    assert!(got
        .iter()
        .all(|e| field_str(e, "source.ip") == Some("203.0.113.5")));
}

#[test]
fn json_lines_are_what_inspect_prints() {
    let f = fixture();
    let dir = &f.alpha.archive_dir;
    let mut expected = Vec::new();
    for key in archive_files(dir).iter().filter(|k| is_segment_key(k)) {
        let out = sealtrail(&["inspect", dir.join(key).to_str().unwrap()]);
        assert_eq!(out.code, Some(0), "{}", out.describe());
        let text = out.stdout_str();
        let (_seal, events) = text.split_once('\n').unwrap();
        expected.extend_from_slice(events.as_bytes());
    }
    let out = query("export", dir, &["--format", "jsonl"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(!expected.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&expected)
    );
}

#[test]
fn csv_has_the_chosen_columns_quoted_as_rfc_4180_says() {
    let f = fixture();
    let dir = &f.alpha.archive_dir;
    let out = query(
        "export",
        dir,
        &[
            "--format",
            "csv",
            "--columns",
            "event.id,host.name,event.original,event.category,source.port",
            "--text",
            "shop[",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let mut r = csv::ReaderBuilder::new().from_reader(&out.stdout[..]);
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "event.id",
            "host.name",
            "event.original",
            "event.category",
            "source.port"
        ]
    );
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    let originals: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    let multiline = MULTILINE.split_once("]: ").unwrap().1;
    assert_eq!(originals.len(), 2, "{rows:?}");
    assert!(
        originals[0].ends_with("order \"42\", shipped, to \"Bob\""),
        "{originals:?}"
    );
    assert!(originals[1].ends_with(multiline), "{originals:?}");
    // Quoted, quotes doubled, the line break inside the quotes.
    let text = out.stdout_str();
    assert!(
        text.contains("order \"\"42\"\", shipped, to \"\"Bob\"\"\""),
        "{text}"
    );
    assert!(text.contains("\"a, b\"\"\nsecond line\""), "{text}");
    assert!(text.starts_with("event.id,host.name,event.original,event.category,source.port\r\n"));
    // Arrays joined with `|`, numbers as text, absent fields empty.
    let out = query(
        "export",
        dir,
        &[
            "--format",
            "csv",
            "--columns",
            "event.type,source.port,user.name,nothing.here",
            "--source",
            "2001:db8::7",
        ],
    );
    let text = out.stdout_str();
    let row = text.lines().nth(1).unwrap();
    let all = truth(dir);
    let login = all
        .iter()
        .find(|e| field_str(e, "source.ip") == Some("2001:db8::7"))
        .unwrap();
    let types: Vec<&str> = field(login, "event.type")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(row, format!("{},50007,bob,", types.join("|")), "{text}");
}

#[test]
fn a_table_has_a_header_and_a_row_per_event() {
    let f = fixture();
    let out = query(
        "search",
        &f.alpha.archive_dir,
        &["--format", "table", "--user", "alice"],
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let text = out.stdout_str();
    let mut l = text.lines();
    assert!(l.next().unwrap().starts_with("@timestamp"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains("alice")).count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("every segment read verified"),
        "the summary ends the table: {text}"
    );
}

/// A copy of the archive to damage.
fn copy_archive(to: &Path) -> PathBuf {
    let f = fixture();
    let dst = to.join("archive");
    let out = run_cmd(
        Command::new("cp")
            .arg("-r")
            .arg(&f.alpha.archive_dir)
            .arg(&dst),
        CMD_TIMEOUT,
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    dst
}

/// Replaces the segment's data frame by another valid zstd frame with one line changed
/// (the `zstd` CLI), keeping its seal: it decodes, but does not match the seal.
fn tamper(path: &Path, from: &str, to: &str) {
    let seal: Value = serde_json::from_str(
        sealtrail(&["inspect", "--seal-only", path.to_str().unwrap()])
            .stdout_str()
            .trim(),
    )
    .unwrap();
    let data_len = seal["data_len"].as_u64().unwrap() as usize;
    let bytes = std::fs::read(path).unwrap();
    let content = String::from_utf8(decompress(path)).unwrap();
    assert!(content.contains(from));
    let plain = path.with_extension("plain");
    std::fs::write(&plain, content.replacen(from, to, 1)).unwrap();
    let z = run_cmd(
        Command::new("zstd").args(["-1", "-q", "-c"]).arg(&plain),
        CMD_TIMEOUT,
    );
    assert_eq!(z.code, Some(0), "{}", z.describe());
    std::fs::remove_file(&plain).unwrap();
    let mut out = z.stdout;
    out.extend_from_slice(&bytes[data_len..]);
    std::fs::write(path, out).unwrap();
}

#[test]
fn only_the_named_streams_are_read_and_judged() {
    let f = fixture();
    let t = tempfile::tempdir().unwrap();
    let all = truth(&f.alpha.archive_dir);
    let dir = copy_archive(t.path());
    // A third stream whose objects are beta's under another name: every seal names
    // stream beta, so each of them is a problem of stream gamma.
    let out = run_cmd(
        Command::new("cp")
            .arg("-r")
            .arg(dir.join("beta"))
            .arg(dir.join("gamma")),
        CMD_TIMEOUT,
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    for cmd in ["export", "verify"] {
        let whole = query(cmd, &dir, &[]);
        assert_eq!(whole.code, Some(1), "{cmd}: {}", whole.describe());
        // verify reports on stdout, export on stderr.
        let said = |o: &CmdOutput| format!("{}{}", o.stdout_str(), o.stderr_str());
        assert!(said(&whole).contains("gamma"), "{}", whole.describe());
        for streams in [
            &["--stream", "alpha,beta"][..],
            &["--stream", "beta", "--stream", "alpha"],
        ] {
            let out = query(cmd, &dir, streams);
            assert_eq!(out.code, Some(0), "{cmd} {streams:?}: {}", out.describe());
            if cmd == "verify" {
                assert!(!said(&out).contains("gamma"), "{}", out.describe());
            }
            if cmd == "export" {
                assert_eq!(ids(&jsonl(&out)), ids(&all), "alpha's and beta's events");
            }
        }
        // A named stream without segments is a problem, as with one --stream.
        let out = query(cmd, &dir, &["--stream", "alpha,nobody"]);
        assert_eq!(out.code, Some(1), "{cmd}: {}", out.describe());
        assert!(said(&out).contains("nobody"), "{}", out.describe());
    }
}

#[test]
fn a_tampered_segment_is_refused_and_with_include_unverified_marked() {
    let f = fixture();
    let t = tempfile::tempdir().unwrap();
    let before = truth(&f.alpha.archive_dir);
    let dir = copy_archive(t.path());
    let victim = &f.first_batch[0];
    tamper(&dir.join(victim), "port 50001", "port 59999");
    let untouched: Vec<String> = read_archive(&f.alpha.archive_dir)
        .iter()
        .filter(|o| &o.key != victim)
        .flat_map(|o| {
            o.events
                .iter()
                .map(|e| field_str(e, "event.id").unwrap().to_owned())
        })
        .collect();
    assert!(untouched.len() < before.len());

    let summary = t.path().join("summary.json");
    let out = query(
        "export",
        &dir,
        &["--summary-json", summary.to_str().unwrap()],
    );
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert_eq!(
        ids(&jsonl(&out)),
        untouched,
        "the refused segment's events are left out"
    );
    let err = out.stderr_str();
    assert!(
        err.contains(victim.as_str()) && err.contains("content_hash_mismatch"),
        "{err}"
    );
    assert!(err.contains("NOT VERIFIED"), "{err}");
    let s = summary_json(&summary);
    assert_eq!(s["segments"]["refused"], 1, "{s}");
    assert_eq!(s["verified"], false);
    assert_eq!(s["refused"][0]["object"], victim.as_str());
    assert_eq!(s["chain_problems"].as_array().unwrap().len(), 0, "{s}");

    let out = query(
        "export",
        &dir,
        &[
            "--include-unverified",
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let got = jsonl(&out);
    assert_eq!(got.len(), before.len());
    let marked: Vec<&Value> = got
        .iter()
        .filter(|e| field(e, "sealtrail.verified").is_some())
        .collect();
    assert!(!marked.is_empty());
    for e in &marked {
        assert_eq!(field(e, "sealtrail.verified"), Some(&Value::Bool(false)));
        assert!(!untouched.contains(&field_str(e, "event.id").unwrap().to_owned()));
    }
    assert_eq!(marked.len(), before.len() - untouched.len());
    assert!(got
        .iter()
        .any(|e| field_str(e, "event.original").is_some_and(|o| o.contains("port 59999"))));
    assert_eq!(summary_json(&summary)["refused"][0]["included"], true);
    // In CSV, a column says so.
    let out = query(
        "export",
        &dir,
        &[
            "--include-unverified",
            "--format",
            "csv",
            "--columns",
            "event.id",
            "--user",
            "root",
            "--host",
            "web1",
        ],
    );
    let text = out.stdout_str();
    assert!(
        text.starts_with("event.id,sealtrail.verified\r\n"),
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.ends_with(",false")).count(),
        1,
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.ends_with(",true")).count(),
        6,
        "{text}"
    );
}

#[test]
fn a_time_range_reads_only_the_segments_that_overlap_it() {
    let f = fixture();
    let t = tempfile::tempdir().unwrap();
    let dir = copy_archive(t.path());
    // Outside the range: damaged, and never read.
    for key in &f.first_batch {
        tamper(&dir.join(key), "port 50001", "port 59999");
    }
    let since = chrono::DateTime::parse_from_rfc3339(&f.between)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap();
    let all = truth(&f.alpha.archive_dir);
    let created = |e: &Value| {
        chrono::DateTime::parse_from_rfc3339(
            field_str(e, "event.created")
                .or(field_str(e, "@timestamp"))
                .unwrap(),
        )
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
    };
    let after: Vec<Value> = all
        .iter()
        .filter(|e| created(e) >= since)
        .cloned()
        .collect();
    // The second batch (six failures, the multi-line note, the alert) and beta's two.
    assert_eq!(after.len(), 10, "{after:#?}");
    let summary = t.path().join("summary.json");
    let out = query(
        "search",
        &dir,
        &[
            "--since",
            &f.between,
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(ids(&jsonl(&out)), ids(&after));
    let s = summary_json(&summary);
    let segments = &s["segments"];
    let listed = segments["listed"].as_u64().unwrap();
    let read = segments["read"].as_u64().unwrap();
    let skipped = segments["skipped_by_seal"].as_u64().unwrap();
    assert!(skipped >= f.first_batch.len() as u64, "{s}");
    assert_eq!(
        read + skipped
            + segments["skipped_by_key"].as_u64().unwrap()
            + segments["seal_only"].as_u64().unwrap(),
        listed,
        "{s}"
    );
    assert_eq!(segments["refused"], 0, "{s}");
    assert_eq!(s["verified"], true, "{s}");

    // And before it: the first batch only, which is now refused.
    let out = query("search", &dir, &["--until", &f.between]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let out = query("search", &f.alpha.archive_dir, &["--until", &f.between]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let before: Vec<Value> = all.iter().filter(|e| created(e) < since).cloned().collect();
    assert_eq!(ids(&jsonl(&out)), ids(&before));
    let texts: BTreeSet<String> = jsonl(&out)
        .iter()
        .map(|e| field_str(e, "event.original").unwrap().to_owned())
        .collect();
    for l in BATCH_ONE {
        assert!(
            texts
                .iter()
                .any(|t| t == l.split_once('>').unwrap().1 || t == *l),
            "{l} in {texts:?}"
        );
    }
}

#[test]
fn a_query_over_s3_gives_what_the_directory_gives() {
    let f = fixture();
    let server = common::s3::S3Server::moto_shared();
    let bucket = "search-bucket";
    server.create_bucket(bucket, false);
    for key in archive_files(&f.alpha.archive_dir) {
        let body = std::fs::read(f.alpha.archive_dir.join(&key)).unwrap();
        assert_eq!(server.put_plain(bucket, &format!("logs/{key}"), &body), 200);
    }
    let url = format!("s3://{bucket}/logs");
    let t = tempfile::tempdir().unwrap();
    let summary = t.path().join("s3.json");
    let mut c = Command::new(BIN);
    c.args(["search", &url, "--key"])
        .arg(&f.public)
        .args([
            "--endpoint",
            &server.endpoint,
            "--allow-http",
            "--since",
            &f.between,
            "--outcome",
            "failure",
        ])
        .arg("--summary-json")
        .arg(&summary)
        .env("AWS_ACCESS_KEY_ID", server.access_key())
        .env("AWS_SECRET_ACCESS_KEY", server.secret_key())
        .env_remove("AWS_PROFILE");
    let out = run_cmd(&mut c, CMD_TIMEOUT);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let local = query(
        "search",
        &f.alpha.archive_dir,
        &["--since", &f.between, "--outcome", "failure"],
    );
    assert_eq!(out.stdout_str(), local.stdout_str());
    assert_eq!(jsonl(&out).len(), 7, "six on alpha, one on beta");
    let s = summary_json(&summary);
    assert!(
        s["segments"]["skipped_by_seal"].as_u64().unwrap() > 0,
        "{s}"
    );
    assert_eq!(s["verified"], true, "{s}");
}
