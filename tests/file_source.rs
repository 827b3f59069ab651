//! The file source end to end: the real `sealtrail` binary tails files while the real
//! `logrotate` rotates them (create and copytruncate), through `kill -9`, over 1,000
//! files created and deleted, on bad input, from its start or end, and decodes lines
//! exactly as `sealtrail replay` does. Everything is read back from the archive.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const SOURCE: &str = "files";

fn status_toml(port: u16) -> String {
    format!("\n[status]\nenabled = true\naddress = \"127.0.0.1:{port}\"\n")
}

/// `component_received_events_total` of the file source.
fn received(port: u16) -> u64 {
    metric(
        &http_get(port, "/metrics"),
        "component_received_events_total",
        &[("component_id", SOURCE)],
    )
    .unwrap_or(0.0) as u64
}

fn source_metric(port: u16, name: &str) -> u64 {
    metric(
        &http_get(port, "/metrics"),
        name,
        &[("component_id", SOURCE)],
    )
    .unwrap_or(0.0) as u64
}

/// Waits until the source has received at least `n` events.
#[track_caller]
fn wait_received(port: u16, n: u64, what: &str) {
    let start = Instant::now();
    loop {
        let got = received(port);
        if got >= n {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{what}: only {got} of {n} lines received in 120 s"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the received count has not moved for `quiet`.
fn wait_quiet(port: u16, quiet: Duration) -> u64 {
    let mut last = received(port);
    let mut since = Instant::now();
    let start = Instant::now();
    while since.elapsed() < quiet && start.elapsed() < Duration::from_secs(120) {
        thread::sleep(Duration::from_millis(200));
        let now = received(port);
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    last
}

fn line_for(tag: &str, seq: u64) -> String {
    format!(
        "Nov 22 10:00:00 rothost app[4242]: run={tag} seq={seq:08} user=alice action=write \
         padding to the length of an ordinary application log line\n"
    )
}

fn seq_of(tag: &str, original: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(original).ok()?;
    let rest = s.split_once(&format!("run={tag} seq="))?.1;
    rest.get(..8)?.parse().ok()
}

/// One line written: its number, the inode it went to, when.
#[derive(Clone, Copy, Debug)]
struct Written {
    ino: u64,
    at: Instant,
}

/// Appends numbered lines to `path` at `rate` lines/s, one `write` per line, until
/// `stop`. With `reopen`, it notices a new file at the path within 20 ms and
/// switches to it, as an application that reopens its log lazily; until then its
/// lines go to the rotated file.
fn spawn_writer(
    path: PathBuf,
    tag: String,
    rate: u64,
    reopen: bool,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Vec<Written>> {
    thread::spawn(move || {
        let open = |p: &Path| {
            fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(p)
                .unwrap()
        };
        let mut f = open(&path);
        let mut ino = f.metadata().unwrap().ino();
        let mut written = Vec::new();
        let start = Instant::now();
        let mut last_check = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            while (written.len() as u64) < due {
                let seq = written.len() as u64;
                f.write_all(line_for(&tag, seq).as_bytes()).unwrap();
                written.push(Written {
                    ino,
                    at: Instant::now(),
                });
            }
            if reopen && last_check.elapsed() >= Duration::from_millis(20) {
                last_check = Instant::now();
                if let Ok(m) = fs::metadata(&path) {
                    if m.ino() != ino {
                        f = open(&path);
                        ino = f.metadata().unwrap().ino();
                    }
                }
            }
            thread::sleep(Duration::from_millis(2));
        }
        written
    })
}

fn logrotate_bin() -> &'static str {
    if Path::new("/usr/sbin/logrotate").exists() {
        "/usr/sbin/logrotate"
    } else {
        "logrotate"
    }
}

/// Runs `logrotate -f -s STATE CONF` every `every` until `stop`; returns each run's
/// start and end.
fn spawn_logrotate(
    conf: PathBuf,
    state: PathBuf,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Vec<(Instant, Instant)>> {
    thread::spawn(move || {
        let mut runs = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let t0 = Instant::now();
            let out = run_cmd(
                Command::new(logrotate_bin())
                    .arg("-f")
                    .arg("-s")
                    .arg(&state)
                    .arg(&conf),
                CMD_TIMEOUT,
            );
            assert_eq!(out.code, Some(0), "logrotate failed: {}", out.describe());
            runs.push((t0, Instant::now()));
            thread::sleep(every);
        }
        runs
    })
}

/// The archive's events of this run: (seq, path, offset), in archive order.
fn archived(env: &TestEnv, tag: &str) -> Vec<(u64, String, u64)> {
    all_events(&read_archive(&env.archive_dir))
        .iter()
        .filter_map(|e| {
            let seq = seq_of(tag, &original_bytes(e))?;
            let path = field_str(e, "log.file.path")?.to_string();
            let offset = field_u64(e, "log.offset")?;
            Some((seq, path, offset))
        })
        .collect()
}

/// `logs/app.log` (empty) under the test directory and a `logrotate.conf` rotating it
/// with `directives`: (the directory, the log, the configuration).
fn rotated_log(env: &TestEnv, directives: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
    let logs = env.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let log = logs.join("app.log");
    fs::write(&log, b"").unwrap();
    let conf = env.path().join("logrotate.conf");
    let body: String = directives.iter().map(|d| format!("  {d}\n")).collect();
    fs::write(&conf, format!("{} {{\n{body}}}\n", log.display())).unwrap();
    (logs, log, conf)
}

/// Numbers missing, numbers seen more than once (with whether every copy has the same
/// path and offset), and numbers out of order within the file (inode) they went to.
struct Check {
    missing: Vec<u64>,
    duplicates: u64,
    dup_mismatch: Vec<u64>,
    out_of_order: Vec<u64>,
}

fn check(events: &[(u64, String, u64)], written: &[Written]) -> Check {
    let mut seen: HashMap<u64, (String, u64)> = HashMap::new();
    let mut duplicates = 0;
    let mut dup_mismatch = Vec::new();
    let mut last_per_ino: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut out_of_order = Vec::new();
    for (seq, path, offset) in events {
        if let Some(first) = seen.get(seq) {
            duplicates += 1;
            if first != &(path.clone(), *offset) {
                dup_mismatch.push(*seq);
            }
            continue;
        }
        seen.insert(*seq, (path.clone(), *offset));
        let Some(w) = written.get(*seq as usize) else {
            continue;
        };
        if let Some((s, o)) = last_per_ino.get(&w.ino) {
            if *s > *seq || (*o >= *offset && *offset != 0) {
                out_of_order.push(*seq);
            }
        }
        last_per_ino.insert(w.ino, (*seq, *offset));
    }
    let missing = (0..written.len() as u64)
        .filter(|s| !seen.contains_key(s))
        .collect();
    Check {
        missing,
        duplicates,
        dup_mismatch,
        out_of_order,
    }
}

fn file_cfg(name: &str, src: FileSource, status: u16) -> Config {
    let mut cfg = Config::new(name, vec![]);
    cfg.files = vec![src];
    cfg.max_age = Some("1s".into());
    cfg.extra_toml = status_toml(status);
    cfg
}

#[test]
fn logrotate_create_mode_loses_nothing_and_never_reads_a_gz() {
    let env = TestEnv::new();
    let (logs, log, conf) = rotated_log(
        &env,
        &[
            "rotate 5",
            "create",
            "compress",
            "delaycompress",
            "missingok",
        ],
    );
    let port = free_port();
    // app.log* also matches the rotated app.log.1 (the same inode: not read twice)
    // and the .gz files (never read).
    let src = FileSource::new(SOURCE, &[&format!("{}/app.log*", logs.display())])
        .with("release_deleted_after = \"2s\"");
    let cfg = file_cfg("file-create", src, port);
    let mut daemon = env.start(&cfg);
    daemon.wait_log("file source ready", 1);
    let tag = marker("create");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(log.clone(), tag.clone(), 1500, true, stop.clone());
    let rot_stop = Arc::new(AtomicBool::new(false));
    let rot = spawn_logrotate(
        conf,
        env.path().join("logrotate.state"),
        Duration::from_millis(250),
        rot_stop.clone(),
    );
    thread::sleep(Duration::from_secs(6));
    rot_stop.store(true, Ordering::Relaxed);
    let runs = rot.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    wait_received(port, written.len() as u64, "create mode");
    let rotations = source_metric(port, "sealtrail_file_rotations_total");
    let gz = fs::read_dir(&logs)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .to_string_lossy()
                .ends_with(".gz")
        })
        .count();
    daemon.stop();
    let events = archived(&env, &tag);
    let c = check(&events, &written);
    println!(
        "create mode: {} lines, {} logrotate runs, {rotations} rotations seen, {gz} .gz files, {} archived, {} missing, {} duplicates",
        written.len(),
        runs.len(),
        events.len(),
        c.missing.len(),
        c.duplicates
    );
    assert!(runs.len() >= 10 && gz >= 1, "the storm did not happen");
    assert!(
        rotations >= runs.len() as u64 / 2,
        "rotations seen: {rotations}"
    );
    assert!(
        c.missing.is_empty(),
        "missing: {:?}",
        &c.missing[..c.missing.len().min(20)]
    );
    assert_eq!(c.duplicates, 0, "a line was archived twice");
    assert!(
        c.out_of_order.is_empty(),
        "out of order: {:?}",
        c.out_of_order
    );
    let all = all_events(&read_archive(&env.archive_dir));
    assert!(
        !all.iter()
            .any(|e| field_str(e, "log.file.path").is_some_and(|p| p.ends_with(".gz"))),
        "a .gz file was read"
    );
    assert_verify_ok(&env.verify(&cfg, &[]), "after the rotation storm");
}

#[test]
fn logrotate_copytruncate_mode_loses_only_what_logrotate_itself_drops() {
    let env = TestEnv::new();
    let (logs, log, conf) = rotated_log(&env, &["rotate 200", "copytruncate", "missingok"]);
    let port = free_port();
    let src = FileSource::new(SOURCE, &[&log.display().to_string()]);
    let cfg = file_cfg("file-copytruncate", src, port);
    let mut daemon = env.start(&cfg);
    daemon.wait_log("file source ready", 1);
    let tag = marker("copytrunc");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(log.clone(), tag.clone(), 1500, false, stop.clone());
    let rot_stop = Arc::new(AtomicBool::new(false));
    let rot = spawn_logrotate(
        conf,
        env.path().join("logrotate.state"),
        Duration::from_millis(250),
        rot_stop.clone(),
    );
    thread::sleep(Duration::from_secs(6));
    rot_stop.store(true, Ordering::Relaxed);
    let runs = rot.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    let got = wait_quiet(port, Duration::from_secs(3));
    let truncations = source_metric(port, "sealtrail_file_truncations_total");
    daemon.stop();
    let events = archived(&env, &tag);
    let c = check(&events, &written);
    // What logrotate's copies hold.
    let mut in_copies = HashSet::new();
    for e in fs::read_dir(&logs).unwrap() {
        let p = e.unwrap().path();
        if p != log {
            for l in fs::read(&p).unwrap().split(|&b| b == b'\n') {
                if let Some(s) = seq_of(&tag, l) {
                    in_copies.insert(s);
                }
            }
        }
    }
    // A missing line is logrotate's own loss only if it is in no copy and was written
    // while logrotate ran (between its copy and its truncate).
    let margin = Duration::from_millis(5);
    let (by_logrotate, ours): (Vec<u64>, Vec<u64>) = c.missing.iter().partition(|s| {
        let w = written[**s as usize];
        !in_copies.contains(s)
            && runs
                .iter()
                .any(|(a, b)| w.at + margin >= *a && w.at <= *b + margin)
    });
    println!(
        "copytruncate: {} lines, {} logrotate runs, {truncations} truncations seen, {got} received, {} missing ({} lost by logrotate between copy and truncate), {} duplicates",
        written.len(),
        runs.len(),
        c.missing.len(),
        by_logrotate.len(),
        c.duplicates
    );
    assert!(runs.len() >= 10, "the storm did not happen");
    assert!(
        truncations >= runs.len() as u64 / 2,
        "truncations seen: {truncations}"
    );
    assert!(
        ours.is_empty(),
        "lines lost by sealtrail: {:?}",
        &ours[..ours.len().min(20)]
    );
    assert!(
        by_logrotate.len() <= written.len() / 100,
        "too many lines lost inside logrotate's window: {}",
        by_logrotate.len()
    );
    assert_eq!(c.duplicates, 0, "a line was archived twice");
    assert!(
        c.out_of_order.is_empty(),
        "out of order: {:?}",
        c.out_of_order
    );
    assert_verify_ok(&env.verify(&cfg, &[]), "after copytruncate rotations");
}

#[test]
fn kill9_during_a_rotation_storm_loses_nothing_and_duplicates_are_recognisable() {
    let env = TestEnv::new();
    // No compression, many generations: whatever was rotated while the daemon was
    // down is still on disk under another name when it comes back.
    let (_, log, conf) = rotated_log(&env, &["rotate 1000", "create", "missingok"]);
    let port = free_port();
    let src = FileSource::new(SOURCE, &[&log.display().to_string()]);
    let cfg = file_cfg("file-kill9", src, port);
    let mut daemon = env.start(&cfg);
    daemon.wait_log("file source ready", 1);
    let tag = marker("kill9");
    let stop = Arc::new(AtomicBool::new(false));
    let rate = 1500;
    let writer = spawn_writer(log.clone(), tag.clone(), rate, true, stop.clone());
    let rot_stop = Arc::new(AtomicBool::new(false));
    let rot = spawn_logrotate(
        conf,
        env.path().join("logrotate.state"),
        Duration::from_millis(250),
        rot_stop.clone(),
    );
    thread::sleep(Duration::from_secs(3));
    let before_kill = received(port);
    daemon.kill9();
    // Rotations go on while it is down.
    thread::sleep(Duration::from_secs(1));
    let mut daemon = env.start(&cfg);
    daemon.wait_log("file source ready", 1);
    thread::sleep(Duration::from_secs(3));
    rot_stop.store(true, Ordering::Relaxed);
    let runs = rot.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    wait_quiet(port, Duration::from_secs(3));
    daemon.stop();
    let events = archived(&env, &tag);
    let c = check(&events, &written);
    println!(
        "kill -9: {} lines, {} logrotate runs, {before_kill} received before the kill, {} archived, {} missing, {} duplicates (all with the same log.file.path and log.offset: {})",
        written.len(),
        runs.len(),
        events.len(),
        c.missing.len(),
        c.duplicates,
        c.dup_mismatch.is_empty()
    );
    assert!(before_kill > 0, "nothing was read before the kill");
    assert!(
        c.missing.is_empty(),
        "missing after kill -9: {:?}",
        &c.missing[..c.missing.len().min(20)]
    );
    assert!(
        c.dup_mismatch.is_empty(),
        "duplicates not recognisable: {:?}",
        c.dup_mismatch
    );
    // Only the tail after the last checkpoint (1 s) and what the journal had not yet
    // made durable can come again: far less than 3 s of lines.
    assert!(c.duplicates <= rate * 3, "{} duplicates", c.duplicates);
    assert!(
        c.out_of_order.is_empty(),
        "out of order: {:?}",
        c.out_of_order
    );
    assert_verify_ok(&env.verify(&cfg, &[]), "after kill -9 and restart");
}

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
