//! Holding under pressure (issue #7): what an operator's mistake or a bad day does to
//! the daemon. Each test here failed before its fix: keys that do not continue the
//! chain, state directories others can write, configurations that `check-config`
//! passed and `run` refused, and a sealer stopped for longer than its heartbeat.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;
use std::time::Duration;

use common::*;

fn tcp_config(name: &str) -> (Config, u16) {
    let port = free_port();
    let cfg = Config::new(name, vec![Listener::new("tcp", Transport::Tcp, port)]);
    (cfg, port)
}

/// Starts, sends a few lines through the real `logger`, stops: the state directory
/// then holds a chain.
fn make_chain(env: &TestEnv, cfg: &Config, port: u16) {
    let mut d = env.start(cfg);
    for i in 0..3 {
        logger_tcp(port, &format!("chain line {i}"));
    }
    d.wait_idle();
    d.stop();
    assert!(
        !archive_files(&env.archive_dir).is_empty(),
        "the first run archived segments"
    );
}

#[track_caller]
fn logger_tcp(port: u16, msg: &str) {
    let out = run_cmd(
        Command::new("logger")
            .args([
                "-n",
                "127.0.0.1",
                "-P",
                &port.to_string(),
                "-T",
                "--octet-count",
            ])
            .arg(msg),
        CMD_TIMEOUT,
    );
    assert_eq!(out.code, Some(0), "logger: {}", out.describe());
}

#[track_caller]
fn assert_refused(out: &CmdOutput, needles: &[&str]) {
    assert_eq!(out.code, Some(78), "expected exit 78:\n{}", out.describe());
    let err = out.stderr_str();
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
}

#[test]
fn a_deleted_signing_key_is_refused_not_replaced() {
    let env = TestEnv::new();
    let (cfg, port) = tcp_config("key-deleted");
    make_chain(&env, &cfg, port);
    let key = env.state_dir.join("signing.key");
    let id_before = key_id_of(&env.public_key(&cfg));
    let backup = env.path().join("backup.key");
    std::fs::copy(&key, &backup).unwrap();
    std::fs::remove_file(&key).unwrap();
    let out = env.run_to_exit(&cfg);
    assert_refused(&out, &["signing.key is missing", &id_before, "restore"]);
    assert!(
        !key.exists(),
        "no new key was created behind the chain's back"
    );
    // Restoring the key is all it takes: the chain continues and verifies.
    std::fs::copy(&backup, &key).unwrap();
    let mut d = env.start(&cfg);
    logger_tcp(port, "after the restore");
    d.wait_idle();
    let stopped = d.stop();
    let out = env.verify(&cfg, &["--until", &stopped.until]);
    assert_verify_ok(&out, "after the key was restored");
}

#[test]
fn a_different_signing_key_is_refused() {
    let env = TestEnv::new();
    let (cfg, port) = tcp_config("key-replaced");
    make_chain(&env, &cfg, port);
    let key = env.state_dir.join("signing.key");
    let expected = key_id_of(&env.public_key(&cfg));
    std::fs::remove_file(&key).unwrap();
    std::fs::remove_file(env.public_key(&cfg)).unwrap();
    let out = sealtrail(&["keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let out = env.run_to_exit(&cfg);
    assert_refused(&out, &["is signed with key id", &expected]);
}

#[test]
fn a_public_key_that_does_not_match_is_refused() {
    let env = TestEnv::new();
    let (cfg, port) = tcp_config("key-mismatch");
    make_chain(&env, &cfg, port);
    let other = env.path().join("other.key");
    let out = sealtrail(&["keygen", "--out", other.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    std::fs::copy(other.with_extension("pub"), env.public_key(&cfg)).unwrap();
    let out = env.run_to_exit(&cfg);
    assert_refused(&out, &["is not the public half of"]);
    // Deleting the stale public key lets the daemon write the right one again.
    std::fs::remove_file(env.public_key(&cfg)).unwrap();
    let d = env.start(&cfg);
    let stopped = d.stop();
    let out = env.verify(&cfg, &["--until", &stopped.until]);
    assert_verify_ok(&out, "after the public key was rewritten");
}

/// The key id `sealtrail keygen --if-missing` reports for the pair of `pubkey`.
fn key_id_of(pubkey: &std::path::Path) -> String {
    let out = sealtrail(&[
        "keygen",
        "--if-missing",
        "--out",
        pubkey.with_extension("key").to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    out.stdout_str()
        .lines()
        .find_map(|l| l.strip_prefix("key id: ").map(str::to_string))
        .expect("keygen prints the key id")
}

#[test]
fn check_config_refuses_what_run_refuses_and_both_exit_78() {
    let env = TestEnv::new();
    let port = free_port();
    let base = format!(
        "state_dir = {}\n[[syslog]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:{port}\"\n",
        toml_str(&env.state_dir.to_string_lossy())
    );
    let archive = format!(
        "[archive]\nurl = {}\n",
        toml_str(&env.archive_dir.to_string_lossy())
    );
    let cases = [
        (
            "journal cap under two files",
            format!("{base}{archive}[journal]\nfile_bytes = 1048576\nmax_bytes = 1500000\n"),
            ":9: key `journal.max_bytes`",
        ),
        (
            "empty state_dir",
            format!(
                "state_dir = \"\"\n[[syslog]]\ntransport = \"tcp\"\naddress = \"127.0.0.1:{port}\"\n{archive}"
            ),
            ":1: key `state_dir`",
        ),
        (
            "status endpoint on the syslog address",
            format!("{base}{archive}[status]\naddress = \"127.0.0.1:{port}\"\n"),
            ":8: key `status.address`",
        ),
    ];
    for (what, text, needle) in cases {
        let path = env.path().join("case.toml");
        std::fs::write(&path, &text).unwrap();
        let p = path.to_str().unwrap();
        let check = sealtrail(&["check-config", "--config", p]);
        assert_eq!(check.code, Some(78), "{what}: {}", check.describe());
        assert!(
            check.stderr_str().contains(needle),
            "{what}: {}",
            check.describe()
        );
        let run = run_cmd(
            Command::new(BIN).args(["run", "--config", p]),
            Duration::from_secs(60),
        );
        assert_eq!(run.code, Some(78), "{what}: run: {}", run.describe());
        assert!(
            run.stderr_str().contains(needle),
            "{what}: run: {}",
            run.describe()
        );
    }
}

#[test]
fn a_state_directory_others_can_write_is_refused_and_left_as_it_is() {
    let env = TestEnv::new();
    let (cfg, _port) = tcp_config("state-mode");
    std::fs::create_dir_all(&env.state_dir).unwrap();
    std::fs::set_permissions(&env.state_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = env.run_to_exit(&cfg);
    assert_refused(&out, &["mode 0777", "chmod 700"]);
    let mode = std::fs::metadata(&env.state_dir).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o777, "not silently changed");
    assert!(
        std::fs::read_dir(&env.state_dir).unwrap().next().is_none(),
        "nothing was written into it"
    );
    // The mode systemd's StateDirectoryMode=0750 gives is fine.
    std::fs::set_permissions(&env.state_dir, std::fs::Permissions::from_mode(0o750)).unwrap();
    let d = env.start(&cfg);
    d.stop();
}

#[test]
fn a_state_directory_owned_by_another_user_is_refused() {
    assert_eq!(
        rustix_uid(),
        0,
        "this test needs root (to hand a directory to another user): run tests/run.sh as root"
    );
    let env = TestEnv::new();
    let (cfg, _port) = tcp_config("state-owner");
    std::fs::create_dir_all(&env.state_dir).unwrap();
    std::fs::set_permissions(&env.state_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&env.state_dir, Some(65534), Some(65534)).unwrap();
    let out = env.run_to_exit(&cfg);
    assert_refused(&out, &["is owned by uid 65534", "chown"]);
}

fn rustix_uid() -> u32 {
    std::fs::metadata("/proc/self").unwrap().uid()
}

#[test]
fn a_seal_delayed_past_its_heartbeat_says_why_inside_the_segment() {
    let env = TestEnv::new();
    let (cfg, port) = tcp_config("late-seal");
    let mut d = env.start(&cfg);
    logger_tcp(port, "before the pause");
    d.wait_idle();
    // The whole daemon stops running for well over the 2 s heartbeat.
    signal(d.pid(), "STOP");
    std::thread::sleep(Duration::from_secs(9));
    signal(d.pid(), "CONT");
    std::thread::sleep(Duration::from_secs(3));
    logger_tcp(port, "after the pause");
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

/// A blocking TCP connection to 127.0.0.1:`port` from the loopback address `src`
/// (all of 127/8 is local on Linux, so each is a different peer to the daemon).
fn connect_from(src: &str, port: u16) -> std::io::Result<std::net::TcpStream> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    let local: std::net::SocketAddr = format!("{src}:0").parse().expect("source address");
    s.bind(&local.into())?;
    let remote: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    s.connect_timeout(&remote.into(), Duration::from_secs(10))?;
    Ok(s.into())
}

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
        logger_tcp(port, &format!("legitimate during the flood {i}"));
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
    logger_tcp(port, "legitimate after the flood");
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
        logger_tcp(port, &format!("warm-up {i}"));
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
