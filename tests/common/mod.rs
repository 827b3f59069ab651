//! Shared harness for the integration tests: a temp dir with a config, the real
//! `sealtrail` binary as a child process, real sockets on loopback, and read-back of the
//! archive exactly as an auditor would see it (zstd objects on disk).
//!
//! Every child is killed on drop, so a failing test leaves nothing running; on a panic
//! the daemon's stderr logs are printed so the failure can be diagnosed from CI output.
//!
//! Readiness and "all input was read" are observed through `/proc/net/{tcp,udp}` instead
//! of probe connections: a probe would itself be input to the daemon under test.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

mod archive;
mod cmd;
pub mod pki;
pub mod s3;
mod send;

// Not every test binary uses every helper.
#[allow(unused_imports)]
pub use archive::*;
#[allow(unused_imports)]
pub use cmd::*;
#[allow(unused_imports)]
pub use send::*;

/// A configuration with one TCP listener on a free port, and the port.
pub fn tcp_config(name: &str) -> (Config, u16) {
    let port = free_port();
    let cfg = Config::new(name, vec![Listener::new("tcp", Transport::Tcp, port)]);
    (cfg, port)
}

/// This process's user id (the tests that need root say so).
pub fn uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid())
}

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sealtrail");

/// How long a daemon may take to bind its listeners.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a daemon may take to drain, seal and ship after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the daemon may take to read everything already sent to it.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Any short-lived command (verify, inspect, logger, zstd).
pub const CMD_TIMEOUT: Duration = Duration::from_secs(120);

/// The four flags the normaliser puts on bad input.
pub const BAD_TAGS: [&str; 4] = [
    "_parse_failure",
    "_truncated",
    "_incomplete",
    "_invalid_utf8",
];

// ---------------------------------------------------------------------------------------
// Ports

static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A loopback port that is free for both TCP and UDP right now, never handed out twice
/// in this test process (tests in one binary run in parallel threads).
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp 127.0.0.1:0");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        if HANDED_OUT.lock().unwrap().insert(port) {
            return port;
        }
    }
    panic!("no free loopback port found");
}

// ---------------------------------------------------------------------------------------
// Config

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    /// TCP with TLS: the listener's `tls = { ... }` goes in `Listener::extra`.
    Tls,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Listener {
    pub name: String,
    pub transport: Transport,
    pub port: u16,
    pub max_message_bytes: Option<usize>,
    pub timezone: Option<String>,
    /// More `key = value` lines for this `[[syslog]]` table, verbatim.
    pub extra: String,
}

impl Listener {
    pub fn new(name: &str, transport: Transport, port: u16) -> Self {
        Listener {
            name: name.to_string(),
            transport,
            port,
            max_message_bytes: None,
            timezone: Some("UTC".to_string()),
            extra: String::new(),
        }
    }

    /// Appends `line` (e.g. `max_connections = 10`) to this listener's table.
    pub fn with(mut self, line: &str) -> Self {
        self.extra.push_str(line);
        self.extra.push('\n');
        self
    }

    pub fn max_message_bytes(mut self, n: usize) -> Self {
        self.max_message_bytes = Some(n);
        self
    }
}

/// One `[[file]]` source.
#[derive(Clone, Debug)]
pub struct FileSource {
    pub name: String,
    pub include: Vec<String>,
    /// More `key = value` lines for this `[[file]]` table, verbatim.
    pub extra: String,
}

impl FileSource {
    /// A source named `name` on `include` patterns; timestamps without a zone are UTC.
    pub fn new(name: &str, include: &[&str]) -> Self {
        FileSource {
            name: name.to_string(),
            include: include.iter().map(|s| s.to_string()).collect(),
            extra: "timezone = \"UTC\"\n".to_string(),
        }
    }

    /// Appends `line` (e.g. `start_at = "beginning"`) to this source's table.
    pub fn with(mut self, line: &str) -> Self {
        self.extra.push_str(line);
        self.extra.push('\n');
        self
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub stream: String,
    pub listeners: Vec<Listener>,
    /// `[[file]]` sources, after the listeners.
    pub files: Vec<FileSource>,
    /// `[seal] max_age`, humantime.
    pub max_age: Option<String>,
    /// `[seal] max_bytes`.
    pub max_bytes: Option<u64>,
    /// `[seal] key` (secret key path; its public half is the path with `.pub`).
    pub key: Option<PathBuf>,
    /// `[journal] fsync`.
    pub fsync: Option<bool>,
    /// Write `[archive] url` as a `file://` URL instead of a plain directory path.
    pub archive_as_file_url: bool,
    /// Appended verbatim after everything else (e.g. `[alerts]` or `[detect.*]` tables).
    pub extra_toml: String,
    /// More `key = value` lines for the `[journal]` table.
    pub journal_extra: String,
    /// More `key = value` lines for the `[seal]` table.
    pub seal_extra: String,
    /// The whole `[archive]` table (and its subtables) instead of the local directory.
    pub archive_toml: Option<String>,
}

impl Config {
    pub fn new(stream: &str, listeners: Vec<Listener>) -> Self {
        Config {
            stream: stream.to_string(),
            listeners,
            files: Vec::new(),
            max_age: Some("2s".to_string()),
            max_bytes: None,
            key: None,
            fsync: Some(true),
            archive_as_file_url: false,
            extra_toml: String::new(),
            journal_extra: String::new(),
            seal_extra: String::new(),
            archive_toml: None,
        }
    }
}

/// TOML basic string with the escapes TOML requires.
pub fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------
// The test environment and the daemon

/// A private directory with config, state and archive for one test.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub state_dir: PathBuf,
    pub archive_dir: PathBuf,
    pub config_path: PathBuf,
    /// Every daemon log written so far, printed if the test panics.
    logs: Mutex<Vec<PathBuf>>,
}

impl TestEnv {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sealtrail-test-")
            .tempdir()
            .expect("create temp dir");
        let state_dir = dir.path().join("state");
        let archive_dir = dir.path().join("archive");
        let config_path = dir.path().join("sealtrail.toml");
        TestEnv {
            dir,
            state_dir,
            archive_dir,
            config_path,
            logs: Mutex::new(Vec::new()),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Renders `cfg` as TOML (the lead's documented config keys only).
    pub fn config_toml(&self, cfg: &Config) -> String {
        let mut s = String::new();
        s.push_str(&format!("stream = {}\n", toml_str(&cfg.stream)));
        s.push_str(&format!(
            "state_dir = {}\n",
            toml_str(&self.state_dir.to_string_lossy())
        ));
        for l in &cfg.listeners {
            s.push_str("\n[[syslog]]\n");
            s.push_str(&format!("name = {}\n", toml_str(&l.name)));
            s.push_str(&format!("transport = {}\n", toml_str(l.transport.as_str())));
            s.push_str(&format!(
                "address = {}\n",
                toml_str(&format!("127.0.0.1:{}", l.port))
            ));
            if let Some(n) = l.max_message_bytes {
                s.push_str(&format!("max_message_bytes = {n}\n"));
            }
            if let Some(tz) = &l.timezone {
                s.push_str(&format!("timezone = {}\n", toml_str(tz)));
            }
            s.push_str(&l.extra);
        }
        for f in &cfg.files {
            s.push_str("\n[[file]]\n");
            s.push_str(&format!("name = {}\n", toml_str(&f.name)));
            let include: Vec<String> = f.include.iter().map(|p| toml_str(p)).collect();
            s.push_str(&format!("include = [{}]\n", include.join(", ")));
            s.push_str(&f.extra);
        }
        if cfg.fsync.is_some() || !cfg.journal_extra.is_empty() {
            s.push_str("\n[journal]\n");
        }
        if let Some(fsync) = cfg.fsync {
            s.push_str(&format!("fsync = {fsync}\n"));
        }
        s.push_str(&cfg.journal_extra);
        s.push_str("\n[seal]\n");
        if let Some(age) = &cfg.max_age {
            s.push_str(&format!("max_age = {}\n", toml_str(age)));
        }
        if let Some(b) = cfg.max_bytes {
            s.push_str(&format!("max_bytes = {b}\n"));
        }
        if let Some(k) = &cfg.key {
            s.push_str(&format!("key = {}\n", toml_str(&k.to_string_lossy())));
        }
        s.push_str("zstd_level = 1\n");
        s.push_str(&cfg.seal_extra);
        let url = if cfg.archive_as_file_url {
            format!("file://{}", self.archive_dir.display())
        } else {
            self.archive_dir.to_string_lossy().into_owned()
        };
        match &cfg.archive_toml {
            Some(t) => {
                s.push('\n');
                s.push_str(t);
                s.push('\n');
            }
            None => s.push_str(&format!("\n[archive]\nurl = {}\n", toml_str(&url))),
        }
        // Parallel test daemons must not compete for the default status port.
        if !cfg.extra_toml.contains("[status]") {
            s.push_str("\n[status]\nenabled = false\n");
        }
        s.push_str(&cfg.extra_toml);
        s
    }

    pub fn write_config(&self, cfg: &Config) {
        fs::write(&self.config_path, self.config_toml(cfg)).expect("write config");
    }

    /// Public key the daemon signs with: `<state_dir>/signing.pub`, or `[seal] key` with
    /// extension `.pub`.
    pub fn public_key(&self, cfg: &Config) -> PathBuf {
        match &cfg.key {
            Some(k) => k.with_extension("pub"),
            None => self.state_dir.join("signing.pub"),
        }
    }

    /// Writes `cfg`, spawns `sealtrail run --config`, waits until every listener is bound.
    #[track_caller]
    pub fn start(&self, cfg: &Config) -> Daemon {
        self.start_wrapped(cfg, &[])
    }

    /// Like [`TestEnv::start`], with the daemon run under `wrapper` (for example
    /// `["prlimit", "--nofile=256:256", "--"]`).
    #[track_caller]
    pub fn start_wrapped(&self, cfg: &Config, wrapper: &[&str]) -> Daemon {
        self.write_config(cfg);
        let n = self.logs.lock().unwrap().len() + 1;
        let stderr_path = self.path().join(format!("daemon-{n}.stderr.log"));
        let stdout_path = self.path().join(format!("daemon-{n}.stdout.log"));
        self.logs.lock().unwrap().push(stderr_path.clone());
        let mut cmd = match wrapper.split_first() {
            Some((prog, args)) => {
                let mut c = Command::new(prog);
                c.args(args).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let child = cmd
            .arg("run")
            .arg("--config")
            .arg(&self.config_path)
            .env("RUST_LOG", "info")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout_path).expect("create stdout log"))
            .stderr(fs::File::create(&stderr_path).expect("create stderr log"))
            .spawn()
            .expect("spawn sealtrail run");
        let mut daemon = Daemon {
            child: Some(child),
            stderr_path,
            listeners: cfg
                .listeners
                .iter()
                .map(|l| (l.transport, l.port))
                .collect(),
        };
        daemon.wait_ready();
        daemon
    }

    /// Writes `cfg` and runs `sealtrail run --config` expecting it to exit by itself
    /// (a refusal to start); its output is logged with the other daemon logs.
    #[track_caller]
    pub fn run_to_exit(&self, cfg: &Config) -> CmdOutput {
        self.write_config(cfg);
        let out = run_cmd(
            Command::new(BIN)
                .arg("run")
                .arg("--config")
                .arg(&self.config_path)
                .env("RUST_LOG", "info"),
            Duration::from_secs(60),
        );
        let n = self.logs.lock().unwrap().len() + 1;
        let path = self.path().join(format!("daemon-{n}.refused.stderr.log"));
        fs::write(&path, &out.stderr).expect("write refused daemon log");
        self.logs.lock().unwrap().push(path);
        out
    }

    /// `sealtrail verify ARCHIVE --key PUB <extra>`.
    pub fn verify(&self, cfg: &Config, extra: &[&str]) -> CmdOutput {
        self.verify_with_key(&self.archive_dir, &self.public_key(cfg), extra)
    }

    pub fn verify_with_key(&self, archive: &Path, key: &Path, extra: &[&str]) -> CmdOutput {
        let mut cmd = Command::new(BIN);
        cmd.arg("verify").arg(archive).arg("--key").arg(key);
        cmd.args(extra);
        run_cmd(&mut cmd, CMD_TIMEOUT)
    }

    /// All daemon stderr logs so far, concatenated.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for p in self.logs.lock().unwrap().iter() {
            s.push_str(&format!("===== {} =====\n", p.display()));
            s.push_str(&fs::read_to_string(p).unwrap_or_else(|e| format!("<unreadable: {e}>")));
            s.push('\n');
        }
        s
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("test dir: {}\n{}", self.path().display(), self.logs());
        }
    }
}

/// A running `sealtrail run`. Killed (SIGKILL) on drop if still running.
pub struct Daemon {
    child: Option<Child>,
    pub stderr_path: PathBuf,
    listeners: Vec<(Transport, u16)>,
}

/// What [`Daemon::stop`] observed.
pub struct Stopped {
    pub status: ExitStatus,
    /// RFC 3339 time (UTC, nanoseconds) taken just before SIGTERM was
    /// sent: everything sent before it must be covered by `verify --until` this time.
    pub until: String,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    #[track_caller]
    fn check_alive(&mut self, what: &str) {
        let child = self.child.as_mut().expect("daemon already reaped");
        if let Some(status) = child.try_wait().unwrap() {
            self.child = None;
            panic!(
                "sealtrail exited ({status}) while {what}\n--- stderr ---\n{}",
                self.stderr()
            );
        }
    }

    /// Waits until the daemon's log (stderr) holds `needle` `count` times.
    #[track_caller]
    pub fn wait_log(&mut self, needle: &str, count: usize) {
        let start = Instant::now();
        loop {
            self.check_alive("waiting for its log");
            if self.stderr().matches(needle).count() >= count {
                return;
            }
            if start.elapsed() > READY_TIMEOUT {
                panic!(
                    "sealtrail did not log {needle:?} {count} times within {READY_TIMEOUT:?}\n--- stderr ---\n{}",
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until every configured listener is bound (TCP in LISTEN state, UDP bound).
    #[track_caller]
    pub fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            self.check_alive("waiting for its listeners");
            let ready = self.listeners.iter().all(|&(t, port)| match t {
                Transport::Tcp | Transport::Tls => proc_net("tcp")
                    .iter()
                    .any(|s| s.local_port == port && s.state == TCP_LISTEN),
                Transport::Udp => proc_net("udp").iter().any(|s| s.local_port == port),
            });
            if ready {
                return;
            }
            if start.elapsed() > READY_TIMEOUT {
                panic!(
                    "sealtrail did not bind {:?} within {READY_TIMEOUT:?}\n--- stderr ---\n{}",
                    self.listeners,
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until the daemon has read everything sent so far: UDP receive queues are
    /// empty, no TCP connection to a listener is still open or unread, and the accept
    /// backlog is empty. A connection stuck in CLOSE_WAIT means the daemon did not close
    /// after the peer's EOF, which this reports as a failure.
    #[track_caller]
    pub fn wait_idle(&mut self) {
        let start = Instant::now();
        loop {
            self.check_alive("draining its sockets");
            let tcp = proc_net("tcp");
            let udp = proc_net("udp");
            let busy: Vec<String> = self
                .listeners
                .iter()
                .flat_map(|&(t, port)| {
                    let socks = match t {
                        Transport::Tcp | Transport::Tls => &tcp,
                        Transport::Udp => &udp,
                    };
                    socks
                        .iter()
                        .filter(move |s| s.local_port == port)
                        .filter(move |s| match t {
                            Transport::Udp => s.rx_queue > 0,
                            Transport::Tcp | Transport::Tls => {
                                (s.state == TCP_LISTEN && s.rx_queue > 0)
                                    || [TCP_ESTABLISHED, TCP_SYN_RECV, TCP_CLOSE_WAIT]
                                        .contains(&s.state)
                            }
                        })
                        .map(move |s| format!("{t:?} {s:?}"))
                })
                .collect();
            if busy.is_empty() {
                return;
            }
            if start.elapsed() > IDLE_TIMEOUT {
                panic!(
                    "sealtrail did not read/close its sockets within {IDLE_TIMEOUT:?}: {busy:?}\n--- stderr ---\n{}",
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// Sends SIGTERM (via `kill`) and waits for the exit; panics on timeout or on a
    /// non-zero exit, with the daemon's stderr.
    #[track_caller]
    pub fn stop(mut self) -> Stopped {
        self.check_alive("about to be stopped");
        let until = now_rfc3339();
        signal(self.pid(), "TERM");
        let status = self.wait_exit(STOP_TIMEOUT);
        if !status.success() {
            panic!(
                "sealtrail exited with {status} after SIGTERM (expected 0)\n--- stderr ---\n{}",
                self.stderr()
            );
        }
        Stopped { status, until }
    }

    /// `kill -9`, then reaps the process.
    #[track_caller]
    pub fn kill9(mut self) {
        self.check_alive("about to be killed");
        signal(self.pid(), "KILL");
        let status = self.wait_exit(Duration::from_secs(30));
        assert!(!status.success(), "kill -9 did not kill the daemon");
    }

    #[track_caller]
    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            let child = self.child.as_mut().expect("daemon already reaped");
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                self.child = None;
                panic!(
                    "sealtrail did not exit within {timeout:?}\n--- stderr ---\n{}",
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            if thread::panicking() {
                eprintln!(
                    "--- sealtrail stderr (killed on drop) ---\n{}",
                    self.stderr()
                );
            }
        }
    }
}

/// Sends a signal by PID through `kill(1)`: the crate forbids `unsafe`, and the tests
/// follow suit instead of calling `libc::kill`.
#[track_caller]
pub fn signal(pid: u32, sig: &str) {
    let out = run_cmd(
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string()),
        CMD_TIMEOUT,
    );
    assert_eq!(out.code, Some(0), "kill -{sig} {pid}: {}", out.describe());
}

/// Resident memory of a process in KiB (`VmRSS`), `None` once it is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Open descriptors of a process, `None` once it is gone.
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// `GET path` from the daemon's status endpoint on 127.0.0.1:`port`; the body of a 200.
#[track_caller]
pub fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to status endpoint");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read status response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {text:?}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// Sum of the samples of metric `name` whose labels contain every `label="value"` pair
/// in `labels`, from Prometheus text.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (label_part, value) = match rest.strip_prefix('{') {
            Some(r) => match r.split_once("} ") {
                Some((l, v)) => (l, v),
                None => continue,
            },
            None => match rest.strip_prefix(' ') {
                Some(v) => ("", v),
                None => continue,
            },
        };
        if labels
            .iter()
            .all(|(k, v)| label_part.contains(&format!("{k}=\"{v}\"")))
        {
            let v: f64 = value.trim().parse().ok()?;
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// Now, UTC, RFC 3339, whole seconds rounded down.
pub fn now_rfc3339() -> String {
    chrono::Utc::now()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        .to_string()
}

// ---------------------------------------------------------------------------------------
// /proc/net

pub const TCP_ESTABLISHED: u8 = 0x01;
pub const TCP_SYN_RECV: u8 = 0x03;
pub const TCP_CLOSE_WAIT: u8 = 0x08;
pub const TCP_LISTEN: u8 = 0x0A;

/// One row of `/proc/net/tcp` or `/proc/net/udp` (IPv4 only: the tests bind 127.0.0.1).
#[derive(Debug, Clone)]
pub struct SockRow {
    pub local_port: u16,
    pub remote_port: u16,
    pub state: u8,
    pub tx_queue: u64,
    pub rx_queue: u64,
}

pub fn proc_net(kind: &str) -> Vec<SockRow> {
    let text = fs::read_to_string(format!("/proc/net/{kind}")).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 5 {
                return None;
            }
            let port = |addr: &str| {
                addr.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
            };
            let (tx, rx) = f[4].split_once(':')?;
            Some(SockRow {
                local_port: port(f[1])?,
                remote_port: port(f[2])?,
                state: u8::from_str_radix(f[3], 16).ok()?,
                tx_queue: u64::from_str_radix(tx, 16).ok()?,
                rx_queue: u64::from_str_radix(rx, 16).ok()?,
            })
        })
        .collect()
}
