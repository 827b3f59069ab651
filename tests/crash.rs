//! Crash safety: `kill -9` the daemon while a sender floods it over TCP, restart it on
//! the same state dir and ports, send more, stop it, and check the archive.
//!
//! TCP syslog has no acknowledgements, so "nothing acknowledged is lost" is checked as
//! the property it implies for one connection: what survived the crash is a prefix of
//! what was sent (messages 0..k, no holes), each exactly once, in order; the chain
//! verifies; and everything sent after the restart is there.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const FINAL_BATCH: u64 = 2_000;

/// The exact line for `(phase, seq)`; ~150 bytes like a real syslog line.
fn line(run: &str, phase: &str, seq: u64) -> String {
    format!(
        "<13>Nov 22 10:00:00 crashhost crash-test[4711]: crash-test run={run} phase={phase} seq={seq} \
         padding to make this look like a realistic auth log line of typical size\n"
    )
}

/// Parses `phase` and `seq` back out of an original line of this run.
fn parse(run: &str, original: &[u8]) -> Option<(String, u64)> {
    let s = std::str::from_utf8(original).ok()?;
    let rest = s.split_once(&format!("run={run} phase="))?.1;
    let (phase, rest) = rest.split_once(" seq=")?;
    let seq: u64 = rest.split(' ').next()?.parse().ok()?;
    Some((phase.to_string(), seq))
}

/// Floods one TCP connection with numbered lines until the daemon dies or `stop` is set.
/// `sent` is an upper bound on the lines that may have reached the daemon.
fn flood(port: u16, run: String, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut seq = 0u64;
    let mut buf = Vec::with_capacity(256 * 160);
    while !stop.load(Ordering::Relaxed) {
        buf.clear();
        for i in 0..256 {
            buf.extend_from_slice(line(&run, "first", seq + i).as_bytes());
        }
        seq += 256;
        sent.store(seq, Ordering::Relaxed);
        if s.write_all(&buf).is_err() {
            return;
        }
    }
}

/// How to choose the moment of the crash.
enum KillAt {
    /// After this long under load.
    After(Duration),
    /// As soon as a segment with events has reached the archive (so the crash hits a
    /// daemon that is sealing and shipping), but not before this long under load.
    FirstShippedEvents(Duration),
}

fn crash_and_recover(name: &str, kill_at: KillAt, max_bytes: Option<u64>) {
    let env = TestEnv::new();
    let port = free_port();
    let mut cfg = Config::new(
        &format!("crash-{name}"),
        vec![Listener::new("tcp", Transport::Tcp, port)],
    );
    cfg.max_age = Some("1s".to_string());
    cfg.max_bytes = max_bytes;
    let run = marker(name);

    // Run 1: flood, then kill -9 mid-load.
    let daemon = env.start(&cfg);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let sender = {
        let (run, stop, sent) = (run.clone(), stop.clone(), sent.clone());
        thread::spawn(move || flood(port, run, stop, sent))
    };
    let start = Instant::now();
    match kill_at {
        KillAt::After(d) => thread::sleep(d),
        KillAt::FirstShippedEvents(min) => {
            thread::sleep(min);
            loop {
                let shipped = archive_files(&env.archive_dir).iter().any(|k| {
                    is_segment_key(k)
                        && std::fs::read(env.archive_dir.join(k))
                            .ok()
                            .and_then(|b| zstd::stream::decode_all(&b[..]).ok())
                            .is_some_and(|c| !c.is_empty())
                });
                if shipped {
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(120),
                    "no segment with events reached the archive within 120 s under load\n{}",
                    env.logs()
                );
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
    assert!(
        sent.load(Ordering::Relaxed) > 0,
        "the sender could not write anything before the crash\n{}",
        env.logs()
    );
    daemon.kill9();
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    let sent_first = sent.load(Ordering::Relaxed);

    // Run 2: same state dir and ports; a final batch; a clean stop.
    let mut daemon = env.start(&cfg);
    let batch: String = (0..FINAL_BATCH).map(|i| line(&run, "final", i)).collect();
    send_tcp(port, batch.as_bytes());
    daemon.wait_idle();
    let stopped = daemon.stop();

    let out = env.verify(&cfg, &["--until", &stopped.until]);
    assert_verify_ok(&out, "after kill -9 and restart");

    let events: Vec<Value> = all_events(&read_archive(&env.archive_dir));
    let mut ids = HashSet::new();
    let mut originals = HashSet::new();
    let mut first = Vec::new();
    let mut last = Vec::new();
    for ev in &events {
        let id = field_str(ev, "event.id")
            .unwrap_or_else(|| panic!("event without id: {}", brief(ev)))
            .to_string();
        assert!(ids.insert(id.clone()), "event id {id} appears twice");
        let original = original_bytes(ev);
        assert!(
            originals.insert(original.clone()),
            "the same line was archived twice: {}",
            brief(ev)
        );
        let (phase, seq) = parse(&run, &original).unwrap_or_else(|| {
            panic!(
                "event that was never sent (torn or corrupt?): {}",
                brief(ev)
            )
        });
        let expected = line(&run, &phase, seq);
        assert_eq!(
            original,
            expected.trim_end_matches('\n').as_bytes(),
            "event.original is not the line sent: {}",
            brief(ev)
        );
        match phase.as_str() {
            "first" => first.push(seq),
            "final" => last.push(seq),
            other => panic!("unknown phase {other}"),
        }
    }

    // Run 1 survived as a prefix 0..k of one connection: no holes, no reordering.
    assert!(
        !first.is_empty(),
        "nothing from the {sent_first} lines sent before the crash survived"
    );
    let k = first.len() as u64;
    assert!(
        k <= sent_first,
        "archived {k} lines from run 1 but at most {sent_first} were sent"
    );
    let mut sorted = first.clone();
    sorted.sort_unstable();
    let holes: Vec<u64> = (0..k)
        .filter(|s| sorted.binary_search(s).is_err())
        .take(10)
        .collect();
    assert!(
        holes.is_empty(),
        "run 1 is not a prefix: {k} lines archived but seq {holes:?} missing (max {})",
        sorted.last().unwrap()
    );
    assert_eq!(first, sorted, "run 1 lines are out of order in the archive");

    // Run 2: everything, once, in order.
    assert_eq!(
        last,
        (0..FINAL_BATCH).collect::<Vec<_>>(),
        "the batch sent after the restart is incomplete or out of order"
    );
    eprintln!(
        "{name}: {sent_first} lines sent before kill -9, {k} survived, {} after restart",
        last.len()
    );
}

#[test]
fn kill9_under_load_after_a_second_loses_no_prefix_and_duplicates_nothing() {
    crash_and_recover("after-1s", KillAt::After(Duration::from_millis(1500)), None);
}

#[test]
fn kill9_while_sealing_and_shipping_small_segments() {
    crash_and_recover(
        "while-shipping",
        KillAt::FirstShippedEvents(Duration::from_millis(500)),
        Some(64 * 1024),
    );
}
