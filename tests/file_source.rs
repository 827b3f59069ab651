//! The file source end to end: the real `sealtrail` binary over 1,000 files created and
//! deleted, on bad input, from its start or end, and decoding lines exactly as `sealtrail
//! replay` does. Everything is read back from the archive. Rotation under the real
//! `logrotate` is in `file_rotation.rs`.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
mod file_util;
use file_util::*;

/// Descriptors of `pid` open on files under `dir`, and how many of them are deleted.
fn fds_under(pid: u32, dir: &Path) -> (usize, usize) {
    let mut open = 0;
    let mut deleted = 0;
    let prefix = dir.to_string_lossy().into_owned();
    for e in fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
        if let Ok(t) = fs::read_link(e.path()) {
            let t = t.to_string_lossy().into_owned();
            if t.starts_with(&prefix) {
                open += 1;
                deleted += usize::from(t.ends_with("(deleted)"));
            }
        }
    }
    (open, deleted)
}

#[test]
fn a_thousand_files_created_and_deleted_every_line_arrives_and_handles_are_released() {
    let env = TestEnv::new();
    let many = env.path().join("many");
    fs::create_dir(&many).unwrap();
    let port = free_port();
    let src = FileSource::new(SOURCE, &[&format!("{}/*.log", many.display())])
        .with("release_deleted_after = \"1s\"");
    let cfg = file_cfg("file-many", src, port);
    let mut daemon = env.start(&cfg);
    daemon.wait_log("file source ready", 1);
    let tag = marker("many");
    let mut seq = 0u64;
    let mut paths = Vec::new();
    for wave in 0..10 {
        for i in 0..100 {
            let p = many.join(format!("f{wave}-{i:03}.log"));
            let mut text = String::new();
            for _ in 0..3 {
                text.push_str(&line_for(&tag, seq));
                seq += 1;
            }
            fs::write(&p, text).unwrap();
            paths.push(p);
        }
        thread::sleep(Duration::from_millis(100));
    }
    for p in &paths {
        let mut f = fs::OpenOptions::new().append(true).open(p).unwrap();
        f.write_all(line_for(&tag, seq).as_bytes()).unwrap();
        seq += 1;
    }
    wait_received(port, seq, "1,000 files");
    let (open_before, _) = fds_under(daemon.pid(), &many);
    // A last line each, then deleted at once: drained, then released.
    for p in &paths {
        let mut f = fs::OpenOptions::new().append(true).open(p).unwrap();
        f.write_all(line_for(&tag, seq).as_bytes()).unwrap();
        seq += 1;
        drop(f);
        fs::remove_file(p).unwrap();
    }
    wait_received(port, seq, "lines written just before the deletion");
    let start = Instant::now();
    let mut after = fds_under(daemon.pid(), &many);
    while after.0 > 0 && start.elapsed() < Duration::from_secs(30) {
        thread::sleep(Duration::from_millis(200));
        after = fds_under(daemon.pid(), &many);
    }
    let released_in = start.elapsed();
    let open_gauge = source_metric(port, "sealtrail_files_open");
    daemon.stop();
    let events = archived(&env, &tag);
    let written: Vec<Written> = (0..seq)
        .map(|_| Written {
            ino: 0,
            at: Instant::now(),
        })
        .collect();
    let c = check(&events, &written);
    println!(
        "1,000 files: {seq} lines, {open_before} descriptors open before the deletion, {} after ({} deleted) {released_in:?} later; {} missing, {} duplicates",
        after.0,
        after.1,
        c.missing.len(),
        c.duplicates
    );
    assert_eq!(open_before, 1000, "each file is held open once");
    assert_eq!(after, (0, 0), "descriptors of deleted files were kept");
    assert_eq!(open_gauge, 0);
    assert!(
        c.missing.is_empty(),
        "missing: {:?}",
        &c.missing[..c.missing.len().min(20)]
    );
    assert_eq!(c.duplicates, 0);
}

#[test]
fn bad_input_is_archived_counted_and_logged_and_the_daemon_keeps_serving() {
    let env = TestEnv::new();
    let bad = env.path().join("bad");
    fs::create_dir(&bad).unwrap();
    let good = bad.join("good.log");
    fs::write(&good, "Nov 22 10:00:00 h app[1]: good line 0\n").unwrap();
    let mut text = b"Nov 22 10:00:01 h app[1]: bytes \xff\xfe that are not UTF-8\n".to_vec();
    text.extend_from_slice(b"Nov 22 10:00:02 h app[1]: a NUL \0 inside\n");
    fs::write(bad.join("text.log"), &text).unwrap();
    // 10 MiB without a newline.
    fs::write(bad.join("long.log"), vec![b'A'; 10 << 20]).unwrap();
    fs::write(
        bad.join("replaced.log"),
        "Nov 22 10:00:03 h app[1]: before the swap\n",
    )
    .unwrap();
    let unreadable = bad.join("unreadable.log");
    fs::write(&unreadable, "Nov 22 10:00:04 h app[1]: secret\n").unwrap();
    fs::set_permissions(
        &unreadable,
        std::os::unix::fs::PermissionsExt::from_mode(0o000),
    )
    .unwrap();
    let st = Command::new("mkfifo")
        .arg(bad.join("fifo.log"))
        .status()
        .unwrap();
    assert!(st.success());
    let port = free_port();
    let src = FileSource::new(SOURCE, &[&format!("{}/*.log", bad.display())])
        .with("start_at = \"beginning\"")
        .with("rescan_interval = \"1s\"");
    let cfg = file_cfg("file-bad", src, port);
    // As root every file is readable: run the daemon as nobody then.
    let root = fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    let mut daemon = if root {
        let st = Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(env.path())
            .status()
            .unwrap();
        assert!(st.success());
        let st = Command::new("chown")
            .arg("root:root")
            .arg(&unreadable)
            .status()
            .unwrap();
        assert!(st.success());
        env.start_wrapped(
            &cfg,
            &[
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                "--",
            ],
        )
    } else {
        env.start(&cfg)
    };
    daemon.wait_log("file source ready", 1);
    // The long line gets its end, and a line after it; a file becomes a directory.
    thread::sleep(Duration::from_millis(500));
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(bad.join("long.log"))
        .unwrap();
    f.write_all(b"\nNov 22 10:00:05 h app[1]: after the long line\n")
        .unwrap();
    fs::remove_file(bad.join("replaced.log")).unwrap();
    fs::create_dir(bad.join("replaced.log")).unwrap();
    for i in 1..=20 {
        let mut g = fs::OpenOptions::new().append(true).open(&good).unwrap();
        writeln!(g, "Nov 22 10:01:00 h app[1]: good line {i}").unwrap();
        thread::sleep(Duration::from_millis(50));
    }
    // good 21 + text 2 + long 2 + replaced 1
    wait_received(port, 26, "bad input");
    thread::sleep(Duration::from_secs(2));
    let errors = source_metric(port, "component_errors_total");
    let truncated = source_metric(port, "sealtrail_truncated_events_total");
    let log = daemon.stderr();
    daemon.stop();
    let events = all_events(&read_archive(&env.archive_dir));
    let with = |needle: &str| events_with(&events, needle);
    for i in 0..=20 {
        let n = events
            .iter()
            .filter(|e| original_bytes(e).ends_with(format!("good line {i}").as_bytes()))
            .count();
        assert_eq!(n, 1, "good line {i}");
    }
    let utf = with("that are not UTF-8");
    assert_eq!(utf.len(), 1);
    assert!(has_tag(utf[0], "_invalid_utf8"), "{}", brief(utf[0]));
    assert!(
        contains(&original_bytes(utf[0]), b"\xff\xfe"),
        "bytes kept exactly"
    );
    let nul = with("a NUL");
    assert_eq!(nul.len(), 1);
    assert!(contains(&original_bytes(nul[0]), b"NUL \0 inside"));
    let long: Vec<&Value> = events.iter().filter(|e| has_tag(e, "_truncated")).collect();
    assert_eq!(long.len(), 1, "one truncated event for the 10 MiB line");
    assert_eq!(original_bytes(long[0]).len(), 65536);
    assert_eq!(with("after the long line").len(), 1);
    assert_eq!(with("before the swap").len(), 1);
    if root {
        assert!(with("secret").is_empty());
        assert!(
            log.contains("unreadable.log") && log.contains("ermission denied"),
            "{log}"
        );
    }
    assert!(log.contains("fifo.log") && log.contains("FIFO"), "{log}");
    assert!(log.contains("now a directory"), "{log}");
    assert!(log.contains("max_line_bytes"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    // The FIFO, the directory, the unreadable file, the two lines that are not text.
    let expected = if root { 5 } else { 4 };
    assert!(
        errors >= expected,
        "errors {errors}, expected at least {expected}\n{log}"
    );
    assert_eq!(truncated, 1);
    println!(
        "bad input: {} events, errors {errors}, truncated {truncated}",
        events.len()
    );
    assert_verify_ok(&env.verify(&cfg, &[]), "after bad input");
}

#[test]
fn start_at_end_or_beginning_and_a_clean_restart_reads_nothing_twice() {
    let env = TestEnv::new();
    let dir = env.path().join("logs");
    fs::create_dir(&dir).unwrap();
    let (a, b) = (dir.join("a.log"), dir.join("b.log"));
    let tag = marker("start");
    let mut old = String::new();
    for i in 0..5 {
        old.push_str(&line_for(&tag, i));
    }
    fs::write(&a, &old).unwrap();
    fs::write(&b, &old).unwrap();
    let port = free_port();
    let mut cfg = Config::new("file-start", vec![]);
    cfg.max_age = Some("1s".into());
    cfg.files = vec![
        FileSource::new(SOURCE, &[&a.display().to_string()]).with("start_at = \"end\""),
        FileSource::new("from-start", &[&b.display().to_string()]).with("start_at = \"beginning\""),
    ];
    cfg.extra_toml = status_toml(port);
    let append = |p: &Path, from: u64, to: u64| {
        let mut f = fs::OpenOptions::new().append(true).open(p).unwrap();
        for i in from..to {
            f.write_all(line_for(&tag, i).as_bytes()).unwrap();
        }
    };
    let mut daemon = env.start(&cfg);
    daemon.wait_log("file source ready", 2);
    append(&a, 5, 10);
    append(&b, 5, 10);
    wait_received(port, 5, "start_at = end");
    thread::sleep(Duration::from_secs(1));
    daemon.stop();
    let mut daemon = env.start(&cfg);
    daemon.wait_log("resuming at the checkpoint", 2);
    append(&a, 10, 15);
    append(&b, 10, 15);
    wait_received(port, 5, "after the restart");
    thread::sleep(Duration::from_secs(1));
    daemon.stop();
    let events = all_events(&read_archive(&env.archive_dir));
    let seqs = |path: &Path| -> Vec<u64> {
        events
            .iter()
            .filter(|e| field_str(e, "log.file.path") == Some(&path.display().to_string()))
            .filter_map(|e| seq_of(&tag, &original_bytes(e)))
            .collect()
    };
    assert_eq!(
        seqs(&a),
        (5..15).collect::<Vec<_>>(),
        "end: only new lines, once each"
    );
    assert_eq!(
        seqs(&b),
        (0..15).collect::<Vec<_>>(),
        "beginning: all lines, once each"
    );
}

/// Auth lines written for this test (sshd, sudo, su, PAM, logind), with a brute force
/// burst that the detector must flag, and lines that are not authentication at all.
fn auth_fixture() -> String {
    let mut s = String::new();
    for i in 0..7 {
        s.push_str(&format!(
            "Nov 22 10:0{i}:1{i} bastion sshd[{}]: Failed password for root from 198.51.100.23 port {} ssh2\n",
            3100 + i,
            40000 + i * 7
        ));
    }
    s.push_str(
        "Nov 22 10:07:40 bastion sshd[3120]: Invalid user oracle from 203.0.113.77 port 52211\n",
    );
    s.push_str("Nov 22 10:07:41 bastion sshd[3120]: Failed password for invalid user oracle from 203.0.113.77 port 52211 ssh2\n");
    s.push_str("Nov 22 10:08:02 bastion sshd-session[3133]: Accepted publickey for deploy from 192.0.2.10 port 50122 ssh2: ED25519 SHA256:q1w2e3r4t5y6u7i8o9p0\n");
    s.push_str("Nov 22 10:08:02 bastion sshd-session[3133]: pam_unix(sshd:session): session opened for user deploy(uid=1001) by deploy(uid=0)\n");
    s.push_str("Nov 22 10:08:03 bastion systemd-logind[612]: New session 41 of user deploy.\n");
    s.push_str("Nov 22 10:09:15 bastion sudo[3201]:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx\n");
    s.push_str("Nov 22 10:09:40 bastion sudo[3210]: pam_unix(sudo:auth): authentication failure; logname=deploy uid=1001 euid=0 tty=/dev/pts/0 ruser=deploy rhost=  user=deploy\n");
    s.push_str("Nov 22 10:09:52 bastion sudo[3211]:    guest : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh\n");
    s.push_str("Nov 22 10:10:05 bastion su[3300]: FAILED SU (to root) deploy on pts/0\n");
    s.push_str("Nov 22 10:10:30 bastion CRON[3400]: (root) CMD (run-parts /etc/cron.hourly)\n");
    s.push_str("Nov 22 10:11:00 bastion sshd[3120]: Connection closed by invalid user oracle 203.0.113.77 port 52211 [preauth]\n");
    s.push_str("Nov 22 10:12:00 bastion kernel: [ 1234.5678] audit: type=1400 apparmor=\"DENIED\" operation=\"open\"\n");
    s.push_str("this line has no syslog header at all\n");
    s
}

/// An event without what legitimately differs between the daemon and replay: ids,
/// receive times (also the `@timestamp` of a line without a timestamp of its own),
/// the source's name.
fn comparable(mut v: Value) -> Value {
    let received_time = has_tag(&v, "_parse_failure");
    if let Some(o) = v.as_object_mut() {
        if received_time {
            o.remove("@timestamp");
        }
        o.remove("observer");
        if let Some(ev) = o.get_mut("event").and_then(Value::as_object_mut) {
            ev.remove("id");
            ev.remove("created");
        }
        if let Some(st) = o.get_mut("sealtrail").and_then(Value::as_object_mut) {
            st.remove("stream");
            if let Some(a) = st.get_mut("alert").and_then(Value::as_object_mut) {
                a.remove("evidence");
            }
        }
    }
    v
}

#[test]
fn file_lines_decode_exactly_as_replay_decodes_them() {
    let env = TestEnv::new();
    let path = env.path().join("auth.log");
    let fixture = auth_fixture();
    fs::write(&path, &fixture).unwrap();
    let port = free_port();
    let src =
        FileSource::new(SOURCE, &[&path.display().to_string()]).with("start_at = \"beginning\"");
    let cfg = file_cfg("file-parity", src, port);
    let mut daemon = env.start(&cfg);
    daemon.wait_log("file source ready", 1);
    let lines = fixture.lines().count() as u64;
    wait_received(port, lines, "fixture");
    thread::sleep(Duration::from_secs(1));
    daemon.stop();
    let archive = all_events(&read_archive(&env.archive_dir));
    let is_alert = |e: &Value| field_str(e, "event.kind") == Some("alert");
    let mut sealed: BTreeMap<u64, Value> = BTreeMap::new();
    let mut sealed_alerts = Vec::new();
    for e in archive {
        if is_alert(&e) {
            sealed_alerts.push(comparable(e).to_string());
        } else if let Some(off) = field_u64(&e, "log.offset") {
            sealed.insert(off, comparable(e));
        }
    }
    let out = sealtrail(&[
        "replay",
        &path.display().to_string(),
        "--show",
        "all",
        "--timezone",
        "UTC",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let mut replayed: BTreeMap<u64, Value> = BTreeMap::new();
    let mut replayed_alerts = Vec::new();
    for line in out.stdout_str().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if is_alert(&v) {
            replayed_alerts.push(comparable(v).to_string());
        } else {
            let off = field_u64(&v, "log.offset").expect("replay gives log.offset");
            replayed.insert(off, comparable(v));
        }
    }
    assert_eq!(sealed.len() as u64, lines);
    assert_eq!(replayed.len() as u64, lines);
    let mut auth = 0;
    for (off, r) in &replayed {
        let s = sealed
            .get(off)
            .unwrap_or_else(|| panic!("offset {off} not sealed"));
        assert_eq!(s, r, "offset {off}: daemon and replay disagree");
        auth += usize::from(
            field_str(s, "event.category").is_some() || field(s, "event.category").is_some(),
        );
    }
    sealed_alerts.sort();
    replayed_alerts.sort();
    println!(
        "decode parity: {} lines ({auth} authentication events), {} alerts, all fields equal",
        lines,
        sealed_alerts.len()
    );
    assert!(
        auth >= 10,
        "the fixture should be mostly authentication events"
    );
    assert!(
        !replayed_alerts.is_empty(),
        "the fixture should raise alerts"
    );
    assert_eq!(sealed_alerts, replayed_alerts, "alerts differ");
}
