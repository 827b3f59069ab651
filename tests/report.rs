//! `sealtrail report` on archives made by the daemon: a known attack (sshd failures
//! from one address crossing the brute-force threshold, accepted logins, sudo and su,
//! and user names that try to inject HTML) rendered by real headless Chromium to a
//! screenshot and a PDF, with the figures on the rendered page checked against what
//! was sent and against `verify`; and a segment removed from the middle of a chain,
//! which the rendered timeline must show as a gap over that segment's period.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

const CHROMIUM: &str = "/usr/bin/chromium";

const ATTACKER: &str = "198.51.100.23";
const INJECT_SCRIPT: &str = "<script>alert(1)</script>";
const INJECT_IMG: &str = "\"><img/src=x/onerror=alert(2)>";

fn sshd(port: u16, pid: u32, msg: &str) {
    logger_tcp(
        port,
        &["-t", "sshd", "-p", "auth.info", &format!("--id={pid}")],
        msg,
    );
}

/// Headless Chromium with a fresh profile and nothing that talks to the network.
fn chromium(dir: &Path, args: &[String]) -> CmdOutput {
    let profile = tempfile::Builder::new()
        .prefix("chromium-profile-")
        .tempdir_in(dir)
        .expect("profile dir");
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(args);
    let out = run_cmd(&mut cmd, Duration::from_secs(120));
    assert_eq!(out.code, Some(0), "chromium {args:?}:\n{}", out.describe());
    out
}

fn url(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// The page as Chromium rendered it (its DOM, serialised).
fn dump_dom(dir: &Path, html: &Path) -> String {
    chromium(dir, &["--dump-dom".into(), url(html)]).stdout_str()
}

/// The number shown in the figure box `name` of the rendered page.
#[track_caller]
fn figure(dom: &str, name: &str) -> u64 {
    let at = dom
        .find(&format!("data-figure=\"{name}\""))
        .unwrap_or_else(|| panic!("no figure {name} on the page"));
    let rest = &dom[at..];
    let n = rest.find("class=\"n\">").expect("figure number") + "class=\"n\">".len();
    let digits: String = rest[n..].chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("figure {name}: {:?}", &rest[..80.min(rest.len())]))
}

/// The body rows of the table with class `class`, as cell texts.
fn table(dom: &str, class: &str) -> Vec<Vec<String>> {
    let at = dom
        .find(&format!("<table class=\"{class}\">"))
        .unwrap_or_else(|| panic!("no table {class}"));
    let body = &dom[at..];
    let body = &body[body.find("<tbody>").expect("tbody")..body.find("</tbody>").expect("end")];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            let row = &row[row.find('>').map_or(0, |i| i + 1)..];
            row.split("<td")
                .skip(1)
                .map(|c| {
                    let c = &c[c.find('>').map_or(0, |i| i + 1)..];
                    c[..c.find("</td>").unwrap_or(c.len())].to_string()
                })
                .collect()
        })
        .collect()
}

/// Width and height from a PNG's IHDR.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24, "PNG too short");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

fn alerts_in(events: &[serde_json::Value]) -> u64 {
    alerts(events).len() as u64
}

fn report_cmd(archive: &Path, key: &Path, out: &Path, extra: &[&str]) -> CmdOutput {
    let mut cmd = Command::new(BIN);
    cmd.arg("report")
        .arg(archive)
        .arg("--key")
        .arg(key)
        .arg("-o")
        .arg(out)
        .args(extra);
    run_cmd(&mut cmd, Duration::from_secs(300))
}

#[test]
fn a_brute_force_archive_renders_with_the_right_figures_escaped_in_chromium() {
    let env = TestEnv::new();
    let port = free_port();
    let cfg = Config::new(
        "report-host",
        vec![Listener::new("tcp", Transport::Tcp, port)],
    );
    let mut d = env.start(&cfg);
    // The attack: six failed passwords for root from one address (threshold 5).
    for i in 0..6 {
        sshd(
            port,
            2000 + i,
            &format!(
                "Failed password for root from {ATTACKER} port {} ssh2",
                40000 + i
            ),
        );
    }
    // Two failures whose user names are markup.
    sshd(
        port,
        2100,
        &format!(
            "Failed password for invalid user {INJECT_SCRIPT} from 203.0.113.66 port 41000 ssh2"
        ),
    );
    sshd(
        port,
        2101,
        &format!("Failed password for invalid user {INJECT_IMG} from 203.0.113.66 port 41001 ssh2"),
    );
    // Time for a heartbeat or two between the attack and the rest.
    std::thread::sleep(Duration::from_millis(4500));
    sshd(
        port,
        3000,
        "Accepted publickey for alice from 192.0.2.44 port 50022 ssh2: ED25519 SHA256:abc",
    );
    sshd(
        port,
        3001,
        "Accepted password for bob from 192.0.2.45 port 50023 ssh2",
    );
    logger_tcp(
        port,
        &["-t", "sudo", "-p", "authpriv.notice"],
        "   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx",
    );
    logger_tcp(
        port,
        &["-t", "su", "-p", "authpriv.notice", "--id=4000"],
        "(to root) alice on pts/0",
    );
    logger_tcp(
        port,
        &["-t", "app", "-p", "user.info"],
        &format!("log line {INJECT_SCRIPT} {INJECT_IMG}"),
    );
    d.wait_idle();
    let stopped = d.stop();

    let key = env.public_key(&cfg);
    let verified = verify_json(&env.verify(&cfg, &["--until", &stopped.until, "--json"]));
    assert_eq!(verified["valid"], true, "{verified}");
    let total = json_event_total(&verified);

    let html = env.path().join("report.html");
    let pdf = env.path().join("report.pdf");
    let out = report_cmd(
        &env.archive_dir,
        &key,
        &html,
        &["--until", &stopped.until, "--pdf", &pdf.to_string_lossy()],
    );
    assert_eq!(out.code, Some(0), "report:\n{}", out.describe());
    let page = std::fs::read_to_string(&html).expect("report.html");
    // A screenshot of the rendered page (kept with SEALTRAIL_REPORT_KEEP=DIR).
    let png = env.path().join("report.png");
    chromium(
        env.path(),
        &[
            "--window-size=1100,2400".into(),
            format!("--screenshot={}", png.display()),
            url(&html),
        ],
    );
    let bytes = std::fs::read(&png).expect("screenshot");
    assert_eq!(png_size(&bytes), (1100, 2400));
    assert!(
        bytes.len() > 50_000,
        "a page with content, not blank: {} bytes",
        bytes.len()
    );
    if let Some(dir) = std::env::var_os("SEALTRAIL_REPORT_KEEP") {
        let dir = PathBuf::from(dir);
        let _ = std::fs::create_dir_all(&dir);
        for f in ["report.html", "report.png", "report.pdf"] {
            let _ = std::fs::copy(env.path().join(f), dir.join(f));
        }
    }

    // Self-contained and inert: no script, no external resource, the markup escaped.
    for bad in [
        "<script",
        "<img",
        "src=\"http",
        "href=\"http",
        "<link",
        "@import",
        "url(http",
    ] {
        assert!(!page.contains(bad), "the page contains {bad:?}");
    }
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped user name"
    );
    assert!(
        page.contains("&quot;&gt;&lt;img/src=x/onerror=alert(2)&gt;"),
        "escaped user name"
    );
    // The command that reproduces it, and the key id.
    assert!(page.contains("sealtrail report "), "reproducing command");
    assert!(
        page.contains(&format!("--until {}", stopped.until)),
        "with its --until"
    );
    let key_id = verified["key_ids"][0].as_str().expect("key id").to_string();
    assert!(page.contains(&key_id), "the key id {key_id}");

    // What Chromium rendered.
    let dom = dump_dom(env.path(), &html);
    assert!(
        !dom.contains("<img"),
        "an img element was made from a log line"
    );
    assert!(
        !dom.contains("<script"),
        "a script element was made from a log line"
    );
    assert!(dom.contains("data-verdict=\"valid\""), "verdict valid");
    assert_eq!(figure(&dom, "events"), total, "events = verify's total");
    assert_eq!(figure(&dom, "refused"), 0);
    assert_eq!(figure(&dom, "problems"), 0);
    assert_eq!(
        figure(&dom, "failures"),
        8,
        "six from the attacker, two markup names"
    );
    assert_eq!(figure(&dom, "failed-attempts"), 8);
    assert_eq!(figure(&dom, "successes"), 2);
    assert_eq!(figure(&dom, "failure-sources"), 2);
    assert_eq!(figure(&dom, "alerts"), 1, "one brute-force alert");
    assert_eq!(figure(&dom, "sudo-commands"), 1);
    assert_eq!(figure(&dom, "su-successes"), 1);
    let top = table(&dom, "top-fail-src");
    assert_eq!(
        top[0][..3],
        [ATTACKER.to_string(), "6".into(), "6".into()],
        "{top:?}"
    );
    assert_eq!(top[1][0], "203.0.113.66");
    let alerts = table(&dom, "alerts");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0][1].contains("brute_force"), "{alerts:?}");
    let evidence: Vec<&str> = alerts[0][5]
        .split("<span class=\"id\">")
        .skip(1)
        .filter_map(|x| x.split("</span>").next())
        .collect();
    assert_eq!(evidence.len(), 5, "five evidence ids: {evidence:?}");
    let sealed = all_events(&read_archive(&env.archive_dir));
    let failure_ids: Vec<&str> = audit_events(&sealed, "ssh_login", "failure")
        .iter()
        .filter(|e| field_str(e, "source.ip") == Some(ATTACKER))
        .filter_map(|e| field_str(e, "event.id"))
        .collect();
    let all_failures = sealed
        .iter()
        .filter(|e| field_str(e, "event.outcome") == Some("failure"))
        .filter(|e| field_str(e, "event.action").is_some_and(|a| a.starts_with("ssh_")))
        .count() as u64;
    assert_eq!(
        figure(&dom, "failures"),
        all_failures,
        "as read back from the archive"
    );
    assert_eq!(
        figure(&dom, "alerts"),
        alerts_in(&sealed),
        "as read back from the archive"
    );
    // The same figures from `sealtrail search` over the same archive and window.
    let search = |filters: &[&str]| -> u64 {
        let mut cmd = Command::new(BIN);
        cmd.arg("search")
            .arg(&env.archive_dir)
            .arg("--key")
            .arg(&key)
            .args(["--until", &stopped.until, "--format", "jsonl"])
            .args(filters);
        let out = run_cmd(&mut cmd, Duration::from_secs(120));
        assert_eq!(out.code, Some(0), "search {filters:?}:\n{}", out.describe());
        out.stdout_str()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count() as u64
    };
    assert_eq!(figure(&dom, "events"), search(&[]), "events = search's");
    assert_eq!(
        figure(&dom, "failures"),
        search(&["--category", "authentication", "--outcome", "failure"]),
        "failures = search's"
    );
    assert_eq!(
        figure(&dom, "successes"),
        search(&["--action", "ssh_login", "--outcome", "success"]),
        "successes = search's"
    );
    assert_eq!(
        top[0][1],
        search(&["--source", ATTACKER, "--outcome", "failure"]).to_string(),
        "the top source's failures = search's"
    );
    assert_eq!(
        figure(&dom, "alerts"),
        search(&["--kind", "alert"]),
        "alerts = search's"
    );
    assert_eq!(
        figure(&dom, "sudo-commands"),
        search(&["--action", "sudo_command"]),
        "sudo = search's"
    );
    for id in &evidence {
        assert!(
            failure_ids.contains(id),
            "evidence {id} is one of the attacker's failures"
        );
    }
    // Every control section is there.
    for c in [
        "PCI DSS v4.0 10.2",
        "PCI DSS v4.0 10.3",
        "PCI DSS v4.0 10.5",
        "PCI DSS v4.0 10.7",
        "HIPAA Security Rule §164.312(b)",
        "SOC 2 (2017 TSC) CC7.2",
        "ISO/IEC 27001:2022 A.8.15",
        "ISO/IEC 27001:2022 A.8.16",
        "NIST SP 800-53 Rev. 5 AU-9",
        "NIST SP 800-53 Rev. 5 AU-10",
    ] {
        assert!(
            dom.contains(&format!("data-control=\"{c}\"")),
            "control {c}"
        );
    }
    assert!(
        dom.contains("no retention or Object Lock information was read"),
        "retention not claimed"
    );
    // The timeline: a picture with segments and heartbeats, no gap.
    assert!(dom.contains("<svg class=\"timeline\""));
    assert!(
        dom.contains("class=\"events\""),
        "segments with events drawn"
    );
    assert!(
        !dom.contains("<rect class=\"gap\""),
        "no gap in a whole archive"
    );

    // The PDF the report command printed.
    let pdf_bytes = std::fs::read(&pdf).expect("report.pdf");
    assert!(pdf_bytes.starts_with(b"%PDF-"), "PDF header");
    assert!(pdf_bytes.len() > 20_000, "PDF of {} bytes", pdf_bytes.len());
    let text = run_cmd(
        Command::new("pdftotext").arg(&pdf).arg("-"),
        Duration::from_secs(60),
    );
    assert_eq!(text.code, Some(0), "pdftotext:\n{}", text.describe());
    let text = text.stdout_str();
    assert!(text.contains("Verdict: VALID"), "PDF text: {text:.400}");
    assert!(text.contains(ATTACKER));
    assert!(text.contains("brute_force"));
}

/// A daemon sealing every second, four failed logins 1.2 s apart, stopped: an archive
/// of several segments, some with events, some heartbeats. Returns the config, the
/// `--until` of the stop and the segment keys.
fn heartbeat_archive(env: &TestEnv, stream: &str) -> (Config, String, Vec<String>) {
    let port = free_port();
    let mut cfg = Config::new(stream, vec![Listener::new("tcp", Transport::Tcp, port)]);
    cfg.max_age = Some("1s".into());
    let mut d = env.start(&cfg);
    for i in 0..4 {
        let msg = format!(
            "Failed password for bob from 192.0.2.7 port {} ssh2",
            30000 + i
        );
        sshd(port, 100 + i, &msg);
        std::thread::sleep(Duration::from_millis(1200));
    }
    d.wait_idle();
    let stopped = d.stop();
    let segments: Vec<String> = archive_files(&env.archive_dir)
        .into_iter()
        .filter(|k| is_segment_key(k))
        .collect();
    (cfg, stopped.until, segments)
}

#[test]
fn a_segment_removed_from_the_middle_is_a_gap_on_the_timeline_and_the_verdict_invalid() {
    let env = TestEnv::new();
    let (cfg, until, segments) = heartbeat_archive(&env, "gap-host");
    assert!(segments.len() >= 5, "heartbeats every second: {segments:?}");
    let victim = env.archive_dir.join(&segments[segments.len() / 2]);
    let seal = {
        let mut f = std::fs::File::open(&victim).unwrap();
        sealtrail::segment::read_seal(&mut f).expect("seal").seal
    };
    std::fs::remove_file(&victim).unwrap();

    let key = env.public_key(&cfg);
    let html = env.path().join("gap.html");
    let out = report_cmd(&env.archive_dir, &key, &html, &["--until", &until]);
    assert_eq!(
        out.code,
        Some(1),
        "an invalid archive exits 1:\n{}",
        out.describe()
    );
    if let Some(dir) = std::env::var_os("SEALTRAIL_REPORT_KEEP") {
        let dir = PathBuf::from(dir);
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::copy(&html, dir.join("gap.html"));
    }
    let dom = dump_dom(env.path(), &html);
    assert!(dom.contains("data-verdict=\"invalid\""), "verdict invalid");
    assert!(dom.contains("sequence_gap"), "the problem is named");
    let start = sealtrail::segment::rfc3339(seal.period_start_ns);
    let end = sealtrail::segment::rfc3339(seal.period_end_ns);
    let marker = format!("data-start=\"{start}\" data-end=\"{end}\"");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no timeline stretch {marker}"));
    let rect_start = dom[..at].rfind("<rect").expect("a rect");
    assert!(
        dom[rect_start..at].contains("class=\"gap\""),
        "the stretch over the removed segment is a gap: {}",
        &dom[rect_start..at + marker.len()]
    );
    let gaps = table(&dom, "gaps");
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0][1], start);
    assert!(
        gaps[0][4].contains(&format!("seqs {}..={}", seal.seq, seal.seq)),
        "{gaps:?}"
    );
    // The figures are the verifier's: every segment left in the window.
    let verified = verify_json(&env.verify(&cfg, &["--until", &until, "--json"]));
    let in_window: u64 = verified["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| s["segments"].as_u64().expect("segments"))
        .sum();
    assert_eq!(figure(&dom, "segments"), in_window);
    assert_eq!(figure(&dom, "events"), json_event_total(&verified));
}

#[test]
fn a_corrupted_segment_is_refused_its_events_not_counted_and_marked_on_the_timeline() {
    let env = TestEnv::new();
    let (cfg, until, segments) = heartbeat_archive(&env, "corrupt-host");
    let key = env.public_key(&cfg);
    let before = verify_json(&env.verify(&cfg, &["--until", &until, "--json"]));
    let total = json_event_total(&before);
    // A segment with events, neither the first nor the last: one byte of its data
    // frame flipped (the seal stays authentic, the content no longer matches it).
    let (victim, seal) = segments[1..segments.len() - 1]
        .iter()
        .find_map(|k| {
            let path = env.archive_dir.join(k);
            let mut f = std::fs::File::open(&path).unwrap();
            let found = sealtrail::segment::read_seal(&mut f).expect("seal");
            (found.seal.event_count > 0).then_some((path, found))
        })
        .expect("a middle segment with events");
    let mut bytes = std::fs::read(&victim).unwrap();
    let at = (seal.seal_start / 2) as usize;
    bytes[at] ^= 0x5a;
    std::fs::write(&victim, &bytes).unwrap();

    let html = env.path().join("corrupt.html");
    let out = report_cmd(&env.archive_dir, &key, &html, &["--until", &until]);
    assert_eq!(
        out.code,
        Some(1),
        "an invalid archive exits 1:\n{}",
        out.describe()
    );
    let dom = dump_dom(env.path(), &html);
    assert!(dom.contains("data-verdict=\"invalid\""));
    assert!(
        dom.contains("content_hash_mismatch"),
        "the problem is named"
    );
    assert_eq!(figure(&dom, "refused"), 1);
    assert_eq!(
        figure(&dom, "events"),
        total - seal.seal.event_count,
        "the refused segment's events are not counted"
    );
    let refused = table(&dom, "refused");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        victim.to_string_lossy().ends_with(&refused[0][0]),
        "{refused:?}"
    );
    let marker = format!(
        "data-start=\"{}\" data-end=\"{}\"",
        sealtrail::segment::rfc3339(seal.seal.period_start_ns),
        sealtrail::segment::rfc3339(seal.seal.period_end_ns)
    );
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no stretch {marker}"));
    let rect = dom[..at].rfind("<rect").expect("a rect");
    assert!(
        dom[rect..at].contains("class=\"problem\""),
        "{}",
        &dom[rect..at]
    );
    assert!(!dom.contains("<rect class=\"gap\""), "nothing is missing");
}

/// An archive in S3 (ministack, which checks signatures and keeps Object Lock
/// retention): the report reads it in place, and with `--check-retention` the retention
/// it read back is what supports PCI DSS 10.3; the reproducing command names the
/// endpoint and the check.
#[test]
fn an_s3_archive_with_object_lock_is_reported_with_its_retention() {
    let server = common::s3::S3Server::ministack();
    server.create_bucket("audit", true);
    let env = TestEnv::new();
    let port = free_port();
    let mut cfg = Config::new(
        "s3-report",
        vec![Listener::new("tcp", Transport::Tcp, port)],
    );
    let secret = env.path().join("s3-secret");
    std::fs::write(&secret, server.secret_key()).unwrap();
    cfg.archive_toml = Some(format!(
        "[archive]\nurl = \"s3://audit/logs\"\nendpoint = \"{}\"\nallow_http = true\nretry_max = \"1s\"\n\
         retention = {{ mode = \"compliance\", days = 1 }}\n\
         [archive.credentials]\naccess_key_id = \"{}\"\nsecret_access_key_file = {}\n",
        server.endpoint,
        server.access_key(),
        toml_str(&secret.to_string_lossy())
    ));
    let mut d = env.start(&cfg);
    for i in 0..3 {
        sshd(
            port,
            500 + i,
            &format!("Failed password for carol from 203.0.113.{i} port 22 ssh2"),
        );
    }
    d.wait_idle();
    let stopped = d.stop();
    let objects = server.list_keys("audit", "logs/").len();
    assert!(objects > 0, "segments shipped");

    let html = env.path().join("s3.html");
    let mut cmd = Command::new(BIN);
    cmd.args(["report", "s3://audit/logs", "--key"])
        .arg(env.public_key(&cfg))
        .args([
            "--endpoint",
            &server.endpoint,
            "--allow-http",
            "--check-retention",
        ])
        .args(["--until", &stopped.until, "-o"])
        .arg(&html)
        .env("AWS_ACCESS_KEY_ID", server.access_key())
        .env("AWS_SECRET_ACCESS_KEY", server.secret_key())
        .env_remove("AWS_PROFILE");
    let out = run_cmd(&mut cmd, Duration::from_secs(300));
    assert_eq!(out.code, Some(0), "report:\n{}", out.describe());
    let dom = dump_dom(env.path(), &html);
    assert!(dom.contains("data-verdict=\"valid\""));
    assert_eq!(figure(&dom, "failures"), 3);
    assert!(
        dom.contains(&format!(
            "Object Lock read back from {objects} object(s): lock modes {objects} COMPLIANCE"
        )),
        "retention facts on the page"
    );
    let at = dom
        .find("data-control=\"PCI DSS v4.0 10.3\"")
        .expect("10.3");
    let section = &dom[..at];
    let open = section.rfind("<section").expect("its section");
    assert!(
        dom[open..at].contains("control supported"),
        "10.3 is supported with retention read back: {}",
        &dom[open..at]
    );
    assert!(!dom.contains("no retention or Object Lock information was read"));
    assert!(
        dom.contains(&format!(
            "--check-retention --endpoint {} --allow-http",
            server.endpoint
        )),
        "the reproducing command names the endpoint and the check"
    );
}

/// `--pdf` with no converter on PATH: the HTML is still written, then a clear error and
/// exit 2. Without `--pdf` no converter is needed at all.
#[test]
fn pdf_without_a_converter_says_so_after_writing_the_html() {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.archive_dir).unwrap();
    let key_out = sealtrail(&[
        "keygen",
        "--out",
        &env.path().join("k.key").to_string_lossy(),
    ]);
    assert_eq!(key_out.code, Some(0), "{}", key_out.describe());
    let key = env.path().join("k.pub");
    let empty_path = env.path().join("empty-bin");
    std::fs::create_dir_all(&empty_path).unwrap();
    let html = env.path().join("r.html");
    let run = |extra: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.arg("report")
            .arg(&env.archive_dir)
            .arg("--key")
            .arg(&key)
            .arg("-o")
            .arg(&html)
            .args(extra)
            .env("PATH", &empty_path);
        run_cmd(&mut cmd, Duration::from_secs(120))
    };
    let out = run(&["--pdf", &env.path().join("r.pdf").to_string_lossy()]);
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(
        out.stderr_str().contains("no PDF converter found"),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr_str().contains("chromium"),
        "it names what it looked for"
    );
    let page = std::fs::read_to_string(&html).expect("the HTML was written first");
    assert!(
        page.contains("data-verdict=\"invalid\""),
        "an empty archive has no segments"
    );
    assert!(page.contains("no_segments"));
    assert!(!env.path().join("r.pdf").exists());
    std::fs::remove_file(&html).unwrap();
    let out = run(&[]);
    assert_eq!(
        out.code,
        Some(1),
        "invalid, but written: {}",
        out.describe()
    );
    assert!(html.exists());
}
