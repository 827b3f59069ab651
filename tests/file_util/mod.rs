//! What the file-source tests share: a daemon on `[[file]]` sources with its status
//! endpoint, numbered lines written and found again in the archive, and the check
//! that every number arrived once and in order per file.
#![allow(dead_code)]

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::*;

pub const SOURCE: &str = "files";

pub fn status_toml(port: u16) -> String {
    format!("\n[status]\nenabled = true\naddress = \"127.0.0.1:{port}\"\n")
}

/// `component_received_events_total` of the file source.
pub fn received(port: u16) -> u64 {
    metric(
        &http_get(port, "/metrics"),
        "component_received_events_total",
        &[("component_id", SOURCE)],
    )
    .unwrap_or(0.0) as u64
}

pub fn source_metric(port: u16, name: &str) -> u64 {
    metric(
        &http_get(port, "/metrics"),
        name,
        &[("component_id", SOURCE)],
    )
    .unwrap_or(0.0) as u64
}

/// Waits until the source has received at least `n` events.
#[track_caller]
pub fn wait_received(port: u16, n: u64, what: &str) {
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
pub fn wait_quiet(port: u16, quiet: Duration) -> u64 {
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

pub fn line_for(tag: &str, seq: u64) -> String {
    format!(
        "Nov 22 10:00:00 rothost app[4242]: run={tag} seq={seq:08} user=alice action=write \
         padding to the length of an ordinary application log line\n"
    )
}

pub fn seq_of(tag: &str, original: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(original).ok()?;
    let rest = s.split_once(&format!("run={tag} seq="))?.1;
    rest.get(..8)?.parse().ok()
}

/// One line written: its number, the inode it went to, when.
#[derive(Clone, Copy, Debug)]
pub struct Written {
    pub ino: u64,
    pub at: Instant,
}

/// The archive's events of this run: (seq, path, offset), in archive order.
pub fn archived(env: &TestEnv, tag: &str) -> Vec<(u64, String, u64)> {
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

/// Numbers missing, numbers seen more than once (with whether every copy has the same
/// path and offset), and numbers out of order within the file (inode) they went to.
pub struct Check {
    pub missing: Vec<u64>,
    pub duplicates: u64,
    pub dup_mismatch: Vec<u64>,
    pub out_of_order: Vec<u64>,
}

pub fn check(events: &[(u64, String, u64)], written: &[Written]) -> Check {
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

pub fn file_cfg(name: &str, src: FileSource, status: u16) -> Config {
    let mut cfg = Config::new(name, vec![]);
    cfg.files = vec![src];
    cfg.max_age = Some("1s".into());
    cfg.extra_toml = status_toml(status);
    cfg
}
