//! Holding under pressure (issue #7): what a bad day does to the daemon. Each test here
//! failed before its fix: a sealer stopped for longer than its heartbeat, connection
//! floods, the journal at its cap, a full state disk, damaged journal files. (An
//! operator's mistakes are in `operator_mistakes.rs`.)

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// The tests that load the machine (floods, the journal at its cap, a full disk) take
/// turns: each measures time or memory, which a neighbour's load would distort.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn a_seal_delayed_past_its_heartbeat_says_why_inside_the_segment() {
    let env = TestEnv::new();
    let (cfg, port) = tcp_config("late-seal");
    let mut d = env.start(&cfg);
    logger_tcp(port, &[], "before the pause");
    d.wait_idle();
    // The whole daemon stops running for well over the 2 s heartbeat.
    signal(d.pid(), "STOP");
    std::thread::sleep(Duration::from_secs(9));
    signal(d.pid(), "CONT");
    std::thread::sleep(Duration::from_secs(3));
    logger_tcp(port, &[], "after the pause");
    d.wait_idle();
    let stopped = d.stop();
    let events = all_events(&read_archive(&env.archive_dir));
    let late: Vec<_> = events
        .iter()
        .filter(|e| field_str(e, "event.action") == Some("seal-late"))
        .collect();
    assert_eq!(late.len(), 1, "one late seal, explained: {late:?}");
    let msg = field_str(late[0], "message").unwrap_or_default();
    assert!(msg.contains("did not get to run"), "{msg}");
    assert!(
        field_u64(late[0], "sealtrail.late_ms").unwrap_or(0) >= 6_000,
        "{msg}"
    );
    // The gap is real and verify reports it; the event in the chain explains it.
    let out = env.verify(&cfg, &["--until", &stopped.until]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stdout_str().contains("heartbeat_gap"),
        "{}",
        out.describe()
    );
    assert!(env
        .logs()
        .contains("segment sealed after its heartbeat was due"));
}

// ---------------------------------------------------------------------------------------
// Connection floods

/// Makes sure this test process may open `n` descriptors (the daemon it spawns
/// inherits the limit): the soft limit is raised to the hard one, as the daemon does.
fn need_descriptors(n: u64) {
    let got = sealtrail::source::limits::raise_descriptor_limit();
    assert!(
        got >= n,
        "this test needs {n} descriptors; the hard limit allows {got}"
    );
}

fn status_config(cfg: &mut Config) -> u16 {
    let status = free_port();
    cfg.extra_toml.push_str(&format!(
        "\n[status]\nenabled = true\naddress = \"127.0.0.1:{status}\"\n"
    ));
    status
}

#[track_caller]
fn wait_metric(
    status: u16,
    what: &str,
    name: &str,
    labels: &[(&str, &str)],
    ok: impl Fn(f64) -> bool,
) -> f64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let v = metric(&http_get(status, "/metrics"), name, labels).unwrap_or(-1.0);
        if ok(v) {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {name} stayed at {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_connection_flood_at_a_low_descriptor_limit_cannot_break_the_chain() {
    let _turn = heavy();
    let env = TestEnv::new();
    let port = free_port();
    let mut cfg = Config::new(
        "flood",
        vec![Listener::new("tcp", Transport::Tcp, port).with("max_connections_per_peer = 32")],
    );
    let status = status_config(&mut cfg);
    // 256 descriptors: the daemon keeps 128 for itself, so 126 are left for senders.
    let d = env.start_wrapped(&cfg, &["prlimit", "--nofile=256:256"]);
    let pid = d.pid();

    // Phase 1: three hosts hold every connection they can get (32 each) and keep trying.
    let mut held = Vec::new();
    for a in 2..=4 {
        for _ in 0..300 {
            if let Ok(s) = connect_from(&format!("127.0.0.{a}"), port) {
                held.push(s);
            }
        }
    }
    wait_metric(
        status,
        "three hosts at their share",
        "sealtrail_connections_active",
        &[("component_id", "tcp")],
        |v| v == 96.0,
    );
    // A legitimate sender on another address still gets through, with the real logger.
    for i in 0..5 {
        logger_tcp(port, &[], &format!("legitimate during the flood {i}"));
    }
    let refused_peer = metric(
        &http_get(status, "/metrics"),
        "sealtrail_connections_refused_total",
        &[("component_id", "tcp"), ("cap", "max_connections_per_peer")],
    )
    .unwrap_or(0.0);
    assert!(
        refused_peer >= 3.0 * 268.0,
        "per-peer refusals counted: {refused_peer}"
    );

    // Phase 2: ten more hosts use up the whole descriptor budget and hold it for three
    // heartbeats. Senders are refused now, but sealing must go on: its descriptors are
    // not the senders' to take.
    for a in 5..=14 {
        for _ in 0..40 {
            if let Ok(s) = connect_from(&format!("127.0.0.{a}"), port) {
                held.push(s);
            }
        }
    }
    wait_metric(
        status,
        "budget refusals",
        "sealtrail_connections_refused_total",
        &[("cap", "descriptor budget")],
        |v| v > 0.0,
    );
    let sealed_before = wait_metric(
        status,
        "sealing",
        "sealtrail_sealed_segments_total",
        &[],
        |v| v >= 0.0,
    );
    std::thread::sleep(Duration::from_secs(7));
    let sealed_after = metric(
        &http_get(status, "/metrics"),
        "sealtrail_sealed_segments_total",
        &[],
    )
    .unwrap_or(0.0);
    assert!(
        sealed_after >= sealed_before + 3.0,
        "heartbeats went on: {sealed_before} -> {sealed_after}"
    );
    let fds = open_fds(pid).expect("daemon alive");
    assert!(fds <= 256, "{fds} descriptors open");

    drop(held);
    wait_metric(
        status,
        "flood gone",
        "sealtrail_connections_active",
        &[("component_id", "tcp")],
        |v| v == 0.0,
    );
    logger_tcp(port, &[], "legitimate after the flood");
    let mut d = d;
    d.wait_idle();
    let stopped = d.stop();
    let out = env.verify(&cfg, &["--until", &stopped.until]);
    assert_verify_ok(&out, "after a connection flood");
    let events = all_events(&read_archive(&env.archive_dir));
    for needle in [
        "legitimate during the flood 4",
        "legitimate after the flood",
    ] {
        assert_eq!(
            events_with(&events, needle).len(),
            1,
            "{needle} archived once"
        );
    }
    assert!(
        !env.logs().contains("Too many open files"),
        "the daemon never ran out of descriptors"
    );
}

#[test]
fn memory_returns_after_cycles_of_many_idle_connections() {
    let _turn = heavy();
    const CONNS: usize = 5_000;
    // Our ends of the connections, plus room for the tests running beside this one.
    need_descriptors(CONNS as u64 + 2048);
    let env = TestEnv::new();
    let port = free_port();
    let mut cfg = Config::new(
        "rss-cycles",
        vec![Listener::new("tcp", Transport::Tcp, port)
            .with("max_connections = 20000")
            .with("max_connections_per_peer = 20000")],
    );
    let status = status_config(&mut cfg);
    let mut d = env.start(&cfg);
    let pid = d.pid();
    for i in 0..200 {
        logger_tcp(port, &[], &format!("warm-up {i}"));
    }
    d.wait_idle();
    std::thread::sleep(Duration::from_secs(1));
    let start = rss_kib(pid).expect("daemon alive");
    let mut peak = start;
    for cycle in 0..6 {
        // Plain connects: binding a source address first makes the kernel search for a
        // free port per socket, which turns thousands of connects into minutes. Our
        // TIME_WAIT entries are reused on loopback (tcp_tw_reuse's default).
        let t0 = std::time::Instant::now();
        let mut conns = Vec::with_capacity(CONNS);
        for _ in 0..CONNS {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            // Half a line each: the daemon has to read (and keep) something.
            std::io::Write::write_all(&mut s, b"<13>half a line").expect("write");
            conns.push(s);
        }
        let connected = t0.elapsed();
        wait_metric(
            status,
            "all connections in",
            "sealtrail_connections_active",
            &[("component_id", "tcp")],
            |v| v == CONNS as f64,
        );
        let accepted = t0.elapsed();
        peak = peak.max(rss_kib(pid).expect("daemon alive"));
        drop(conns);
        wait_metric(
            status,
            "all connections closed",
            "sealtrail_connections_active",
            &[("component_id", "tcp")],
            |v| v == 0.0,
        );
        eprintln!(
            "cycle {cycle}: connected in {connected:?}, all accepted at {accepted:?}, all closed at {:?}",
            t0.elapsed()
        );
    }
    let t_end = std::time::Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let end = rss_kib(pid).expect("daemon alive");
    eprintln!("RSS: start {start} KiB, peak {peak} KiB with {CONNS} connections, end {end} KiB after 6 cycles");
    assert!(
        end < start + 64 * 1024,
        "RSS grew from {start} KiB to {end} KiB over 6 cycles of {CONNS} connections"
    );
    assert!(
        peak < start + 256 * 1024,
        "{CONNS} idle connections cost {} KiB",
        peak - start
    );
    let stopped = d.stop();
    eprintln!("stopped {:?} after the cycles", t_end.elapsed());
    let out = env.verify(&cfg, &["--until", &stopped.until]);
    assert_verify_ok(&out, "after connection cycles");
    eprintln!("verified {:?} after the cycles", t_end.elapsed());
    let events = all_events(&read_archive(&env.archive_dir));
    assert_eq!(
        events_with(&events, "half a line").len(),
        6 * CONNS,
        "every half line was kept (flagged incomplete)"
    );
}

// ---------------------------------------------------------------------------------------
// The journal's cap and a full state disk

/// ~150 bytes, numbered, like a real auth log line.
fn numbered(run: &str, i: u64) -> String {
    format!(
        "<38>Dec  1 10:00:00 web-1 sshd[4711]: {run} line {i:07} Failed password for invalid user admin from 192.0.2.7 port 4242 ssh2\n"
    )
}

/// Sends `n` numbered lines over one TCP connection in 64 KiB writes; returns the
/// longest time one write was blocked (the daemon not reading: backpressure or a stall).
fn send_numbered(port: u16, run: &str, n: u64) -> Duration {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_write_timeout(Some(Duration::from_secs(300))).unwrap();
    let mut buf = Vec::with_capacity(70_000);
    let mut longest = Duration::ZERO;
    let start = std::time::Instant::now();
    let mut flush = |buf: &mut Vec<u8>, s: &mut std::net::TcpStream| {
        let t = std::time::Instant::now();
        std::io::Write::write_all(s, buf).expect("write");
        let took = t.elapsed();
        if took > Duration::from_millis(200) {
            eprintln!("{run}: a write blocked {took:?} at {:?}", t - start);
        }
        longest = longest.max(took);
        buf.clear();
    };
    for i in 0..n {
        buf.extend_from_slice(numbered(run, i).as_bytes());
        if buf.len() >= 64 * 1024 {
            flush(&mut buf, &mut s);
        }
    }
    flush(&mut buf, &mut s);
    s.shutdown(std::net::Shutdown::Write).unwrap();
    wait_server_close(s);
    longest
}

/// Every numbered line of `run` archived exactly once.
#[track_caller]
fn assert_all_archived(env: &TestEnv, run: &str, n: u64) {
    let events = all_events(&read_archive(&env.archive_dir));
    let mut seen = vec![0u32; n as usize];
    for e in &events {
        let o = original_bytes(e);
        let Some(rest) = std::str::from_utf8(&o)
            .ok()
            .and_then(|t| t.split_once(&format!("{run} line ")))
        else {
            continue;
        };
        if let Ok(i) = rest.1[..7].parse::<usize>() {
            seen[i] += 1;
        }
    }
    let missing = seen.iter().filter(|&&c| c == 0).count();
    let twice = seen.iter().filter(|&&c| c > 1).count();
    assert_eq!(
        (missing, twice),
        (0, 0),
        "{n} lines: {missing} missing, {twice} duplicated"
    );
}

/// Bytes of the journal's files right now.
fn journal_bytes(state_dir: &std::path::Path) -> u64 {
    std::fs::read_dir(state_dir.join("journal"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".wal"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn the_journal_cap_turns_into_early_seals_not_a_stall() {
    let _turn = heavy();
    const N: u64 = 200_000;
    const CAP: u64 = 4 << 20;
    const FILE: u64 = 1 << 20;
    let env = TestEnv::new();
    let (mut cfg, port) = tcp_config("journal-cap");
    // A heartbeat far longer than the test: a pause until the next heartbeat (the old
    // behaviour at the cap) would show as a stall of a minute.
    cfg.max_age = Some("60s".into());
    cfg.fsync = Some(false);
    cfg.journal_extra = format!("file_bytes = {FILE}\nmax_bytes = {CAP}\n");
    let status = status_config(&mut cfg);
    let mut d = env.start(&cfg);
    // Watch the journal's size on disk the whole time.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        let dir = env.state_dir.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(journal_bytes(&dir));
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    let t0 = std::time::Instant::now();
    let longest = send_numbered(port, "cap", N);
    let took = t0.elapsed();
    d.wait_idle();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = watcher.join().unwrap();
    let early = metric(
        &http_get(status, "/metrics"),
        "sealtrail_early_seals_total",
        &[],
    )
    .unwrap_or(0.0);
    eprintln!("{N} lines ({} MiB) through a {} MiB journal in {took:?}: longest blocked write {longest:?}, journal peak {peak} bytes, {early} early seals", (N * 150) >> 20, CAP >> 20);
    assert!(
        longest < Duration::from_secs(1),
        "a write was blocked for {longest:?}"
    );
    assert!(
        peak <= CAP + FILE,
        "journal took {peak} bytes, cap {CAP} + one file"
    );
    assert!(early > 0.0, "the cap was met by sealing early");
    let stopped = d.stop();
    let out = env.verify(&cfg, &["--until", &stopped.until]);
    assert_verify_ok(&out, "after running at the journal cap");
    assert_all_archived(&env, "cap", N);
}

/// A tmpfs mounted for one test, unmounted when dropped (also when the test fails).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &std::path::Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = run_cmd(
            Command::new("mount")
                .args([
                    "-t",
                    "tmpfs",
                    "-o",
                    &format!("size={size},mode=0700"),
                    "tmpfs",
                ])
                .arg(at),
            CMD_TIMEOUT,
        );
        assert_eq!(
            out.code,
            Some(0),
            "mount tmpfs (this test runs as root): {}",
            out.describe()
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `path` to the last byte with a file there.
fn fill(path: &std::path::Path) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0x55u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match std::io::Write::write(&mut f, &chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    let _ = f.sync_all();
    written
}

#[test]
fn a_full_state_disk_is_an_alert_and_recovers_when_space_returns() {
    let _turn = heavy();
    assert_eq!(
        uid(),
        0,
        "this test mounts a tmpfs: run tests/run.sh as root"
    );
    // ~29 MiB: more than the journal's in-memory queue (16 MiB) and the socket buffers
    // hold, so the sender has to be held back while the disk is full.
    const N: u64 = 200_000;
    let env = TestEnv::new();
    let fs = Tmpfs::mount(&env.path().join("statefs"), "24m");
    let (mut cfg, port) = tcp_config("full-disk");
    let mut cfg_env = TestEnv::new();
    // The state directory lives on the small file system; the archive does not.
    cfg_env.state_dir = fs.0.join("state");
    cfg_env.archive_dir = env.archive_dir.clone();
    cfg_env.config_path = env.config_path.clone();
    cfg.fsync = Some(false);
    cfg.max_bytes = Some(1 << 20);
    cfg.journal_extra =
        "file_bytes = 1048576\nmax_bytes = 8388608\nkeep_free_bytes = 4194304\n".into();
    let status = status_config(&mut cfg);
    let mut d = cfg_env.start(&cfg);
    logger_tcp(port, &[], "before the disk filled up");
    d.wait_idle();

    // Someone else takes every byte of the state disk.
    let filler = fs.0.join("filler");
    let taken = fill(&filler);
    assert!(taken > 0);
    // Senders keep sending meanwhile; they are slowed down, nothing is dropped.
    let sender = std::thread::spawn(move || send_numbered(port, "full", N));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let alert = loop {
        let snap: serde_json::Value = serde_json::from_str(&http_get(status, "/status")).unwrap();
        let alerts: Vec<String> = snap["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap_or_default().to_string())
            .collect();
        if let Some(a) = alerts.iter().find(|a| a.contains("journal writes paused")) {
            break a.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no alert for a full state disk: {alerts:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(alert.contains("state disk"), "{alert}");
    let m = http_get(status, "/metrics");
    assert_eq!(
        metric(&m, "sealtrail_journal_paused", &[]),
        Some(1.0),
        "{m}"
    );
    // It stays that way, without losing or dropping anything, for as long as it lasts.
    std::thread::sleep(Duration::from_secs(5));
    let m = http_get(status, "/metrics");
    assert_eq!(
        metric(&m, "sealtrail_journal_paused", &[]),
        Some(1.0),
        "{m}"
    );
    assert!(
        !sender.is_finished(),
        "the sender is held back while the disk is full"
    );

    // A little space comes back: 6 MiB, a quarter of the disk.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap();
    f.set_len(taken - (6 << 20)).unwrap();
    drop(f);
    let longest = sender.join().unwrap();
    eprintln!("longest blocked write while the disk was full: {longest:?}");
    wait_metric(status, "resumed", "sealtrail_journal_paused", &[], |v| {
        v == 0.0
    });
    d.wait_idle();
    let stopped = d.stop();
    let out = cfg_env.verify(&cfg, &["--until", &stopped.until]);
    assert_verify_ok(&out, "after a full state disk");
    assert_all_archived(&env, "full", N);
    drop(cfg_env);
}

// ---------------------------------------------------------------------------------------
// Journal damage

/// The newest journal file of a state directory.
fn newest_wal(state_dir: &std::path::Path) -> std::path::PathBuf {
    let mut wals: Vec<_> = std::fs::read_dir(state_dir.join("journal"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    wals.sort();
    wals.pop().expect("a journal file")
}

/// Journals `n` numbered lines, then kills the daemon before it seals any of them.
fn journal_unsealed(env: &TestEnv, cfg: &mut Config, port: u16, run: &str, n: u64) {
    cfg.max_age = Some("1h".into());
    let mut d = env.start(cfg);
    send_numbered(port, run, n);
    d.wait_idle();
    // Let the journal's end marker catch up (it is written about once a second).
    std::thread::sleep(Duration::from_millis(1500));
    d.kill9();
    cfg.max_age = Some("2s".into());
}

/// Lines of `run` archived (their numbers), and the journal-gap events.
fn archived_lines(env: &TestEnv, run: &str) -> (Vec<usize>, Vec<serde_json::Value>) {
    let events = all_events(&read_archive(&env.archive_dir));
    let mut lines = Vec::new();
    let mut gaps = Vec::new();
    for e in events {
        if field_str(&e, "event.action") == Some("journal-gap") {
            gaps.push(e);
            continue;
        }
        let o = original_bytes(&e);
        if let Some((_, rest)) = std::str::from_utf8(&o)
            .ok()
            .and_then(|t| t.split_once(&format!("{run} line ")))
        {
            lines.push(rest[..7].parse().unwrap());
        }
    }
    lines.sort_unstable();
    (lines, gaps)
}

#[test]
fn a_flipped_byte_in_the_journal_loses_one_record_and_the_chain_says_where() {
    const N: u64 = 5_000;
    let env = TestEnv::new();
    let (mut cfg, port) = tcp_config("journal-flip");
    journal_unsealed(&env, &mut cfg, port, "flip", N);
    let wal = newest_wal(&env.state_dir);
    let mut bytes = std::fs::read(&wal).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&wal, &bytes).unwrap();

    let d = env.start(&cfg);
    let stopped = d.stop();
    let out = env.verify(&cfg, &["--until", &stopped.until]);
    assert_verify_ok(&out, "after journal damage");
    let (lines, gaps) = archived_lines(&env, "flip");
    assert_eq!(
        lines.len() as u64,
        N - 1,
        "exactly the damaged record is lost"
    );
    assert_eq!(gaps.len(), 1, "one journal-gap event: {gaps:?}");
    let lost = field_u64(&gaps[0], "sealtrail.journal.lost_bytes").unwrap();
    assert!((150..400).contains(&lost), "one record's bytes: {lost}");
    assert!(env.logs().contains("lost_bytes"), "the gap is logged");
}

#[test]
fn a_journal_cut_at_a_record_boundary_is_noticed_and_sealed_as_a_gap() {
    const N: u64 = 5_000;
    let env = TestEnv::new();
    let (mut cfg, port) = tcp_config("journal-cut");
    journal_unsealed(&env, &mut cfg, port, "cut", N);
    let wal = newest_wal(&env.state_dir);
    let bytes = std::fs::read(&wal).unwrap();
    // A record starts with the journal's magic; cut at the one nearest the middle.
    let magic = [0xF5, 0x4A, 0x52, 0x4E];
    let cut = (bytes.len() / 2..bytes.len())
        .find(|&i| bytes[i..].starts_with(&magic))
        .expect("a record boundary");
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(cut as u64).unwrap();
    drop(f);

    let d = env.start(&cfg);
    let stopped = d.stop();
    let out = env.verify(&cfg, &["--until", &stopped.until]);
    assert_verify_ok(&out, "after a truncated journal");
    let (lines, gaps) = archived_lines(&env, "cut");
    let kept = lines.len() as u64;
    assert!(
        kept > N / 3 && kept < N,
        "the records before the cut are kept: {kept}"
    );
    assert_eq!(
        lines,
        (0..kept as usize).collect::<Vec<_>>(),
        "a prefix, no holes"
    );
    assert_eq!(gaps.len(), 1, "the cut is sealed as a gap: {gaps:?}");
    let lost = field_u64(&gaps[0], "sealtrail.journal.lost_bytes").unwrap();
    assert_eq!(
        lost,
        (bytes.len() - cut) as u64,
        "the gap is exactly what was cut"
    );
    assert!(
        env.logs().contains("truncat"),
        "the truncation is logged:\n{}",
        env.logs()
    );
}
