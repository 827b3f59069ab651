//! Helpers of `journald_source.rs`: journal files written with systemd's own
//! `systemd-journal-remote` from Journal Export Format streams, the reference output of
//! `journalctl`, and the daemon's status figures.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Journal files

/// `systemd-journal-remote` (package systemd-journal-remote; `/lib` is `/usr/lib` on
/// a merged-/usr Debian 12).
pub fn journal_remote() -> PathBuf {
    for p in [
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
    ] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("systemd-journal-remote is not installed (apt-get install systemd-journal-remote)");
}

/// One entry in the Journal Export Format: `KEY=value` lines, or for a value with a
/// newline or bytes that are not UTF-8, `KEY\n<le64 length><bytes>\n`.
pub fn export_entry(fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in fields {
        out.extend_from_slice(k.as_bytes());
        if v.contains(&b'\n') || std::str::from_utf8(v).is_err() {
            out.push(b'\n');
            out.extend_from_slice(&(v.len() as u64).to_le_bytes());
            out.extend_from_slice(v);
        } else {
            out.push(b'=');
            out.extend_from_slice(v);
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// Microseconds since the epoch, `secs_ago` seconds before now.
pub fn realtime_us(secs_ago: f64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (now.as_secs_f64() * 1e6 - secs_ago * 1e6) as u64
}

/// An ordinary entry as journald would store a syslog message.
pub struct Entry {
    pub time_us: u64,
    pub host: String,
    pub ident: String,
    pub pid: u32,
    pub priority: u8,
    pub facility: u8,
    pub message: Vec<u8>,
    /// `_BOOT_ID`, and when that boot started (its monotonic clock's zero), µs.
    pub boot: (&'static str, u64),
}

/// The boot of most test entries.
pub const BOOT1: (&str, u64) = ("5b2c4b1e0d3f4a8c9e7f6a5b4c3d2e1f", 1_600_000_000_000_000);

impl Entry {
    pub fn new(time_us: u64, ident: &str, pid: u32, message: &str) -> Entry {
        Entry {
            time_us,
            host: "jhost".into(),
            ident: ident.into(),
            pid,
            priority: 6,
            facility: 4,
            message: message.as_bytes().to_vec(),
            boot: BOOT1,
        }
    }

    pub fn export(&self) -> Vec<u8> {
        let t = self.time_us.to_string();
        // Monotonic with the realtime clock in one boot: journalctl orders a boot's
        // entries by it (an entry that went back in it would be skipped by --follow).
        let mono = (self.time_us - self.boot.1).to_string();
        let pid = self.pid.to_string();
        let pri = self.priority.to_string();
        let fac = self.facility.to_string();
        export_entry(&[
            ("__REALTIME_TIMESTAMP", t.as_bytes()),
            ("__MONOTONIC_TIMESTAMP", mono.as_bytes()),
            ("_BOOT_ID", self.boot.0.as_bytes()),
            ("_HOSTNAME", self.host.as_bytes()),
            ("SYSLOG_IDENTIFIER", self.ident.as_bytes()),
            ("_PID", pid.as_bytes()),
            ("PRIORITY", pri.as_bytes()),
            ("SYSLOG_FACILITY", fac.as_bytes()),
            ("_TRANSPORT", b"syslog"),
            ("_SYSTEMD_UNIT", b"test.service"),
            ("_UID", b"0"),
            ("MESSAGE", &self.message),
        ])
    }
}

/// Writes (or appends) `entries` to the journal file `path` with journal-remote.
#[track_caller]
pub fn write_journal(path: &Path, entries: &[Vec<u8>]) {
    let stream: Vec<u8> = entries.concat();
    let out = run_cmd_stdin(
        Command::new(journal_remote())
            .arg(format!("--output={}", path.display()))
            .arg("-"),
        Some(&stream),
        CMD_TIMEOUT,
    );
    assert_eq!(out.code, Some(0), "journal-remote: {}", out.describe());
    let n = entries.len();
    assert!(
        out.stderr_str().contains(&format!("writing {n} entries")),
        "journal-remote wrote all {n} entries: {}",
        out.describe()
    );
}

/// `n` numbered entries of a test `tag`, a millisecond apart, ending now.
pub fn numbered(tag: &str, from: usize, n: usize) -> Vec<Vec<u8>> {
    (from..from + n)
        .map(|i| {
            Entry::new(
                realtime_us(0.0) - (n - (i - from)) as u64 * 1000,
                "app",
                1000 + i as u32,
                &format!("{tag} entry {i}"),
            )
            .export()
        })
        .collect()
}

/// What `journalctl` itself prints for the file: the reference for `event.original`.
pub fn journalctl_json(path: &Path) -> Vec<String> {
    let out = run_cmd(
        Command::new("journalctl")
            .arg(format!("--file={}", path.display()))
            .args(["--output=json", "--all", "--no-pager"]),
        CMD_TIMEOUT,
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    out.stdout_str().lines().map(str::to_string).collect()
}

// ---------------------------------------------------------------------------------------
// The daemon

/// A config with no syslog listener: the journald tables and a status endpoint.
pub fn config(stream: &str, status_port: u16, tables: &str) -> Config {
    let mut cfg = Config::new(stream, Vec::new());
    cfg.extra_toml =
        format!("\n[status]\nenabled = true\naddress = \"127.0.0.1:{status_port}\"\n{tables}");
    cfg
}

/// `[[journald]]` reading `file`, plus `extra` lines.
pub fn file_table(file: &Path, extra: &str) -> String {
    format!(
        "\n[[journald]]\nfiles = [{}]\n{extra}\n",
        toml_str(&file.to_string_lossy())
    )
}

/// `/metrics`, or `None` while the endpoint is not up.
pub fn try_metrics(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    Some(text.split_once("\r\n\r\n")?.1.to_string())
}

/// A per-source metric of source `name` (0 while absent).
pub fn source_metric(port: u16, metric_name: &str, name: &str) -> f64 {
    try_metrics(port)
        .and_then(|m| metric(&m, metric_name, &[("component_id", name)]))
        .unwrap_or(0.0)
}

/// Waits until `source`'s received events reach `n`; the count then.
#[track_caller]
pub fn wait_received(d: &mut Daemon, port: u16, source: &str, n: u64) -> u64 {
    let deadline = Instant::now() + IDLE_TIMEOUT;
    loop {
        d.wait_ready(); // panics if the daemon died
        let got = source_metric(port, "component_received_events_total", source) as u64;
        if got >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "source {source} received {got} of {n} events\n{}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The events the sources took (these tests have no syslog listener): not the
/// sealer's own events, not alerts.
pub fn journal_events(env: &TestEnv) -> Vec<Value> {
    all_events(&read_archive(&env.archive_dir))
        .into_iter()
        .filter(|e| field_str(e, "observer.ingress.name").is_some())
        .filter(|e| field_str(e, "event.kind") != Some("alert"))
        .collect()
}

/// `i` of a cursor `s=…;i=<hex>;…`: the entry's sequence number in its file.
pub fn seqnum(cursor: &str) -> u64 {
    let i = cursor
        .split(';')
        .find_map(|p| p.strip_prefix("i="))
        .unwrap_or_else(|| panic!("no i= in cursor {cursor}"));
    u64::from_str_radix(i, 16).unwrap()
}

/// The source's checkpoint file (there is one source per test here unless named).
pub fn checkpoint(env: &TestEnv) -> Option<Value> {
    let dir = env.state_dir.join("checkpoints");
    let entry = std::fs::read_dir(dir).ok()?.next()?.ok()?;
    serde_json::from_slice(&std::fs::read(entry.path()).ok()?).ok()
}

pub fn messages(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| field_str(e, "message").unwrap_or("").to_string())
        .collect()
}

/// How often each message occurs.
pub fn counts(events: &[Value]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for msg in messages(events) {
        *m.entry(msg).or_insert(0) += 1;
    }
    m
}

// ---------------------------------------------------------------------------------------
// Processes

/// A `journalctl` that hands the real one's output on slowly (about 1,000 entries a
/// second), so the daemon can be killed in the middle of an import.
pub fn slow_journalctl(dir: &Path) -> PathBuf {
    let path = dir.join("slow-journalctl");
    std::fs::write(
        &path,
        "#!/bin/bash\n/usr/bin/journalctl \"$@\" | { n=0; while IFS= read -r line; do printf '%s\\n' \"$line\"; n=$((n+1)); if [ $((n % 25)) -eq 0 ]; then sleep 0.025; fi; done; }\n",
    )
    .unwrap();
    make_executable(&path);
    path
}

pub fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Processes whose command line mentions `needle` (to find leftover children).
pub fn processes_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if contains(&cmdline, needle.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

/// The daemon's `journalctl` children (pids), read from /proc.
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        out.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    out.into_iter()
        .filter(|c| {
            std::fs::read_to_string(format!("/proc/{c}/comm"))
                .is_ok_and(|n| n.trim() == "journalctl")
        })
        .collect()
}
