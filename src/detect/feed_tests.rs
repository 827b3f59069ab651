use super::*;
use crate::normalise::{Decoded, Input, Normaliser, TimeZoneSpec};
use crate::record::{IngestRecord, RecordFlags};

fn normaliser() -> Normaliser {
    Normaliser::new("h", vec![("tcp".into(), TimeZoneSpec::Utc)])
}

const LINES: &[&str] = &[
    "<38>Nov 22 10:00:01 web sshd[1001]: Failed password for root from 198.51.100.9 port 40001 ssh2",
    "<30>Nov 22 10:00:02 web systemd[1]: Started session-7.scope - Session 7 of User bob.",
    "<85>Nov 22 10:00:03 db sudo[77]: bob : TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/sbin/iptables -L -n",
    "<38>Nov 22 10:00:04 web sshd[1001]: Disconnecting authenticating user root 198.51.100.9 port 40001: Too many authentication failures [preauth]",
    "<38>Nov 22 10:00:05 web sshd[2002]: Accepted publickey for alice from 2001:db8::7 port 50000 ssh2: ED25519 SHA256:abc",
    "<5>Nov 22 10:00:06 h1 audit: type=SYSCALL msg=audit(1700000000.123:42): arch=c000003e syscall=257 success=yes exit=3 auid=1000 uid=0 comm=\"cat\" exe=\"/usr/bin/cat\" key=\"shadow\"",
];

fn record(line: &str, i: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let t = 1_700_000_000_000_000_000 + i as i64 * 1_000_000_000;
    IngestRecord::syslog(t, 0, None, RecordFlags::EMPTY, line.as_bytes()).encode_into(&mut out);
    out
}

/// Decodes `lines` in order with one normaliser, as a journal consumer does, handing
/// each line's index and decoding to `f`.
fn each_decoded(lines: &[&str], mut f: impl FnMut(usize, &Decoded<'_>)) {
    let mut n = normaliser();
    for (i, line) in lines.iter().enumerate() {
        let bytes = record(line, i);
        let Ok(crate::record::JournalRecord::Ingest(rec)) =
            crate::record::JournalRecord::decode(&bytes)
        else {
            panic!("record {i}")
        };
        let input = Input::of(&rec);
        f(i, &n.decode(&rec, &input));
    }
}

/// What the detector would see decoding each line itself: `(pos, time, host, what)`.
fn direct(lines: &[&str]) -> Vec<(u64, i64, Option<String>, String)> {
    let mut out = Vec::new();
    each_decoded(lines, |i, d| {
        let what = match (&d.auth, d.event.audit) {
            (Some(a), _) => format!("{a:?}"),
            (None, Some(a)) => format!("{a:?}"),
            (None, None) => format!("text {}", d.event.message),
        };
        out.push((
            10 * i as u64,
            d.detector_time_ns(),
            d.event.hostname.map(str::to_owned),
            what,
        ));
    });
    out
}

/// Feeds `lines` through a sender as the sealer does (record `i` at `base + 10 i`),
/// flushing after the records in `flush_after`.
fn send(tx: &mut FeedSender, base: u64, lines: &[&str], flush_after: &[usize]) {
    each_decoded(lines, |i, d| {
        let pos = base + 10 * i as u64;
        tx.decoded(pos, d);
        tx.covered(pos, pos + 10);
        if flush_after.contains(&i) {
            tx.flush();
        }
    });
    tx.flush();
}

fn seen(batch: &Batch, from: u64) -> Vec<(u64, i64, Option<String>, String)> {
    batch
        .seen_from(from)
        .map(|(pos, t, host, s)| {
            let what = match s {
                Seen::Auth(a) => format!("{a:?}"),
                Seen::Access(a) => format!("{a:?}"),
                Seen::Text(m) => format!("text {m}"),
            };
            (pos, t, host.map(str::to_owned), what)
        })
        .collect()
}

#[test]
fn a_batch_gives_the_detector_exactly_what_its_own_decoding_would() {
    let (mut tx, mut rx) = channel(true);
    send(&mut tx, 0, LINES, &[]);
    let Next::Batch(b) = rx.next(0, Duration::from_secs(1)) else {
        panic!("no batch")
    };
    assert_eq!(b.range(), 0..60);
    assert_eq!(b.records(), LINES.len());
    let want = direct(LINES);
    assert_eq!(seen(&b, 0), want);
    // Every string of an event travels with it (the sudo line's terminal and command).
    assert!(want[2].3.contains("iptables -L -n") && want[2].3.contains("pts/1"));
    // From a later position, only the records from there on.
    assert_eq!(seen(&b, 30), want[3..].to_vec());
}

#[test]
fn without_file_watch_lines_no_rule_takes_are_not_carried() {
    let (mut tx, mut rx) = channel(false);
    send(&mut tx, 0, LINES, &[]);
    let Next::Batch(b) = rx.next(0, Duration::from_secs(1)) else {
        panic!("no batch")
    };
    assert_eq!(b.records(), LINES.len());
    let got = seen(&b, 0);
    assert!(
        got.iter().all(|(_, _, _, w)| !w.starts_with("text ")),
        "{got:?}"
    );
    assert_eq!(
        got,
        direct(LINES)
            .into_iter()
            .filter(|(_, _, _, w)| !w.starts_with("text "))
            .collect::<Vec<_>>()
    );
}

#[test]
fn the_receiver_skips_what_it_read_itself_and_says_where_the_next_batch_starts() {
    let (mut tx, mut rx) = channel(false);
    send(&mut tx, 0, LINES, &[1, 3]); // batches 0..20, 20..40, 40..60
                                      // The detector read up to 25 itself: the first batch is behind it and dropped, the
                                      // second covers 25.
    let Next::Batch(b) = rx.next(25, Duration::from_secs(1)) else {
        panic!("no batch")
    };
    assert_eq!(b.range(), 20..40);
    assert!(seen(&b, 25).iter().all(|s| s.0 >= 25));
    // At 70 (it read beyond everything), the last one is dropped too and nothing comes.
    assert!(matches!(rx.next(70, Duration::from_millis(10)), Next::Wait));
    // A batch ahead of the position: read the journal up to its start first, then it
    // is there.
    send(&mut tx, 100, LINES, &[]);
    assert!(matches!(
        rx.next(60, Duration::from_millis(10)),
        Next::ReadTo(100)
    ));
    let Next::Batch(b) = rx.next(100, Duration::from_millis(10)) else {
        panic!("the batch was not kept")
    };
    assert_eq!(b.range(), 100..160);
}

#[test]
fn the_sealer_never_waits_a_lagging_detector_reads_the_dropped_ranges_itself() {
    let (mut tx, mut rx) = channel(false);
    for k in 0..QUEUE_BATCHES as u64 + 3 {
        send(&mut tx, k * 60, LINES, &[]);
    }
    assert_eq!(tx.dropped(), 3);
    // The queued batches come in order; after them, the ranges dropped are read from
    // the journal and the next batch is where it resumes.
    let mut pos = 0;
    for _ in 0..QUEUE_BATCHES {
        let Next::Batch(b) = rx.next(pos, Duration::from_millis(10)) else {
            panic!("batch at {pos}")
        };
        assert_eq!(b.range().start, pos);
        pos = b.range().end;
    }
    assert!(matches!(
        rx.next(pos, Duration::from_millis(10)),
        Next::Wait
    ));
    send(&mut tx, 1000, LINES, &[]);
    assert!(matches!(
        rx.next(pos, Duration::from_millis(10)),
        Next::ReadTo(1000)
    ));
    // Once the sealer is gone, the detector reads the journal.
    drop(tx);
    assert!(matches!(
        rx.next(1000, Duration::from_millis(10)),
        Next::Batch(_)
    ));
    assert!(matches!(
        rx.next(1060, Duration::from_millis(10)),
        Next::Read
    ));
}

#[test]
fn the_detector_does_not_wait_for_a_sealer_far_behind_or_silent() {
    let (mut tx, mut rx) = channel(false);
    send(&mut tx, 0, LINES, &[]);
    // The detector is far ahead (it read a backlog the sealer is still working
    // through): the stale batch is dropped and it reads on without waiting.
    let far = 60 + MAX_BEHIND + 1;
    let t = Instant::now();
    assert!(matches!(rx.next(far, Duration::from_secs(5)), Next::Read));
    assert!(t.elapsed() < Duration::from_secs(1));
    // Close behind, it waits for the sealer's next batch...
    assert!(matches!(rx.next(60, Duration::from_millis(10)), Next::Wait));
    // ...but not once the sealer has been silent for TAKEOVER.
    std::thread::sleep(TAKEOVER + Duration::from_millis(50));
    let t = Instant::now();
    assert!(matches!(rx.next(60, Duration::from_secs(5)), Next::Read));
    assert!(t.elapsed() < Duration::from_secs(1));
}
