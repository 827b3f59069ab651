//! The file source under the real `logrotate`: create and copytruncate rotations while
//! a writer appends numbered lines, and `kill -9` in a rotation storm. Every line is
//! read back from the archive.

mod common;

use std::collections::HashSet;
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
mod file_util;
use file_util::*;

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
