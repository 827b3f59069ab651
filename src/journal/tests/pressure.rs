//! The cap, the free-space reserve, write errors: backpressure, never loss, never a long
//! stall, and the writer telling consumers and status about it.

use std::fs;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

#[test]
fn disk_cap_blocks_appends_until_reclaim() {
    let dir = tempfile::tempdir().unwrap();
    let o = JournalOptions {
        file_bytes: 4096,
        max_bytes: 16384,
        ..JournalOptions::default()
    };
    let j = Journal::open_with_queue(dir.path(), o, 8192).unwrap();
    const BATCHES: usize = 40;
    const PER: usize = 4;
    let appended = Arc::new(AtomicUsize::new(0));
    let producer = {
        let (j, appended) = (j.clone(), appended.clone());
        std::thread::spawn(move || {
            for b in 0..BATCHES {
                let mut batch = Batch::default();
                for r in 0..PER {
                    let mut p = payload(1, b * PER + r);
                    p.resize(500, b'z');
                    batch.push(&p);
                }
                j.blocking_append(batch).unwrap();
                appended.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while j.disk_bytes() < o.max_bytes {
        assert!(Instant::now() < deadline, "journal never reached its cap");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    let total = (BATCHES * PER * (HEADER + 500)) as u64;
    assert!(!producer.is_finished(), "appends must back up over the cap");
    assert!(appended.load(Ordering::SeqCst) < BATCHES);
    assert!(j.durable_position() < total);

    // A consumer drains and commits; reclaim frees space; the producer completes.
    let cursor = j.cursor("consumer");
    let mut reader = j.reader(0).unwrap();
    let mut next_seq = 0;
    while !(producer.is_finished() && reader.position() == total) {
        assert!(Instant::now() < deadline, "appends never resumed");
        while let Some((_, p)) = reader.next().unwrap() {
            assert_eq!(parse_payload(p), (1, next_seq));
            next_seq += 1;
        }
        cursor
            .commit(&Checkpoint {
                position: reader.position(),
                state: (),
            })
            .unwrap();
        j.reclaim().unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    producer.join().unwrap();
    assert_eq!(next_seq, BATCHES * PER);
    assert_eq!(appended.load(Ordering::SeqCst), BATCHES);
}

#[test]
fn write_errors_are_retried_and_reported_on_close() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("journal");
    let away = root.path().join("away");
    let j = Journal::open(&dir, opts(100)).unwrap();
    let first = vec![b'1'; 200];
    let end1 = j.blocking_append(one(&first)).unwrap();
    assert_eq!(j.wait_durable_beyond(0, Duration::from_secs(30)), end1);

    // The next batch needs a new file; with the directory gone, creating it fails.
    fs::rename(&dir, &away).unwrap();
    let second = vec![b'2'; 120];
    let end2 = j.blocking_append(one(&second)).unwrap();
    assert_eq!(
        j.wait_durable_beyond(end1, Duration::from_millis(300)),
        end1
    );
    let h = j.health();
    assert!(h.write_errors_total >= 1, "{h:?}");
    assert!(h
        .last_write_error
        .as_deref()
        .unwrap()
        .contains(&dir.display().to_string()));
    assert_eq!(h.paused, Some(PauseReason::WriteError { disk_full: false }));
    assert!(h.paused_for.is_some());
    assert_eq!(j.pressure(), Pressure::Blocked);
    let errors = h.write_errors_total;
    fs::rename(&away, &dir).unwrap();
    durable(&j, end2);
    let h = j.health();
    assert_eq!((h.paused, h.paused_for), (None, None), "resumed");
    assert!(h.write_errors_total >= errors, "counted, never reset");
    assert_ne!(j.pressure(), Pressure::Blocked);
    let mut r = j.reader(end1).unwrap();
    assert_eq!(r.next().unwrap().unwrap(), (end1, &second[..]));

    // Failing while closing: close gives up after a few attempts and names the file.
    fs::rename(&dir, &away).unwrap();
    let mut big = Batch::default();
    big.push(&[b'3'; 300]);
    j.blocking_append(big).unwrap();
    match j.close() {
        Err(JournalError::Io { path, .. }) => {
            assert_eq!(path, dir.join(files::file_name(end2)))
        }
        other => panic!("expected an I/O error from close, got {other:?}"),
    }
    assert_eq!(j.durable_position(), end2);
    assert!(matches!(
        j.blocking_append(one(b"late")),
        Err(JournalError::Closed)
    ));
}

/// A batch of `records` records of `payload_len` bytes each, tagged for checking.
fn sized_batch(tag: usize, seq: usize, records: usize, payload_len: usize) -> Batch {
    let mut b = Batch::default();
    for r in 0..records {
        let mut p = payload(tag, seq * records + r);
        p.resize(payload_len, b'z');
        b.push(&p);
    }
    b
}

#[test]
fn strict_cap_under_load_never_overshoots_by_more_than_a_batch_nor_stalls() {
    let dir = tempfile::tempdir().unwrap();
    // Sizes that do not line up: files end past `file_bytes`, the cap falls inside one.
    let o = JournalOptions {
        file_bytes: 15_000,
        max_bytes: 50_000,
        ..JournalOptions::default()
    };
    // A queue of many batches, so groups are large: checking the cap per group would
    // overshoot by a whole group.
    let j = Journal::open_with_queue(dir.path(), o, 48 << 10).unwrap();
    const PRODUCERS: usize = 3;
    const BATCHES: usize = 200;
    const PER: usize = 4;
    const LEN: usize = 500;
    let batch_bytes = (PER * (HEADER + LEN)) as u64;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|tag| {
            let j = j.clone();
            std::thread::spawn(move || {
                let mut longest = Duration::ZERO;
                for b in 0..BATCHES {
                    let t = Instant::now();
                    j.blocking_append(sized_batch(tag, b, PER, LEN)).unwrap();
                    longest = longest.max(t.elapsed());
                }
                longest
            })
        })
        .collect();
    let total = PRODUCERS * BATCHES * PER;
    let cursor = j.cursor("consumer");
    let mut reader = j.reader(0).unwrap();
    let mut next = [0usize; PRODUCERS];
    let mut seen = 0;
    let mut dir_peak = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen < total {
        assert!(Instant::now() < deadline, "stalled at {seen} of {total}");
        while let Some((_, p)) = reader.next().unwrap() {
            let (tag, seq) = parse_payload(p);
            assert_eq!(
                seq, next[tag],
                "each producer's records in order, none lost"
            );
            next[tag] += 1;
            seen += 1;
        }
        let used: u64 = wal_files(dir.path())
            .iter()
            .filter_map(|(_, p)| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        dir_peak = dir_peak.max(used);
        cursor
            .commit(&Checkpoint {
                position: reader.position(),
                state: (),
            })
            .unwrap();
        j.reclaim().unwrap();
        // A slow consumer, so the writer does run into the cap.
        std::thread::sleep(Duration::from_millis(5));
        j.wait_durable_beyond(reader.position(), Duration::from_millis(50));
    }
    let longest = producers
        .into_iter()
        .map(|p| p.join().unwrap())
        .max()
        .unwrap();
    let h = j.health();
    assert!(h.pauses_total > 0, "the cap was reached: {h:?}");
    assert!(
        h.disk_bytes_peak <= o.max_bytes + batch_bytes,
        "peak {} over cap {} + one batch {batch_bytes}",
        h.disk_bytes_peak,
        o.max_bytes
    );
    assert!(dir_peak <= o.max_bytes + batch_bytes, "on disk: {dir_peak}");
    assert!(
        longest < Duration::from_secs(1),
        "an append waited {longest:?}"
    );
    assert_eq!(next, [BATCHES * PER; PRODUCERS]);
    println!(
        "strict cap: peak {} of {} (+{batch_bytes} allowed), {} pauses, longest append {longest:?}",
        h.disk_bytes_peak, o.max_bytes, h.pauses_total
    );
}

#[test]
fn the_writer_signals_blocked_and_wakes_waiting_consumers() {
    let dir = tempfile::tempdir().unwrap();
    let o = JournalOptions {
        file_bytes: 4096,
        max_bytes: 8192,
        ..JournalOptions::default()
    };
    let j = Journal::open(dir.path(), o).unwrap();
    // Batches of exactly 1000 bytes: five fill the first file (it rolls at 4096), three
    // more make 8000; a ninth would make 9000 > 8192.
    let thousand = |seq| sized_batch(2, seq, 1, 1000 - HEADER);
    let mut end = 0;
    for seq in 0..8 {
        end = j.blocking_append(thousand(seq)).unwrap();
    }
    assert_eq!(end, 8000);
    durable(&j, end);
    assert_eq!(wal_files(dir.path()).len(), 2);
    assert_eq!(j.pressure(), Pressure::Soft, "at or over half the cap");
    assert_eq!(j.health().paused, None);

    let waiter = {
        let j = j.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            let d = j.wait_durable_beyond(8000, Duration::from_secs(60));
            (d, t.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let ninth = j.blocking_append(thousand(8)).unwrap();
    assert_eq!(ninth, 9000);
    let (d, waited) = waiter.join().unwrap();
    assert_eq!(d, 8000, "woken by the pressure, not by new data");
    assert!(
        waited < Duration::from_secs(10),
        "woken at once: {waited:?}"
    );
    assert_eq!(j.pressure(), Pressure::Blocked);
    let h = j.health();
    assert_eq!(
        h.paused,
        Some(PauseReason::Cap {
            disk_bytes: 8000,
            max_bytes: 8192
        })
    );
    assert!(h.paused_for.is_some());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(j.durable_position(), 8000, "the cap holds");

    // The consumer commits; the writer's own reclaim frees the first file at once.
    let t = Instant::now();
    j.cursor("c")
        .commit(&Checkpoint {
            position: 8000,
            state: (),
        })
        .unwrap();
    durable(&j, 9000);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(
        wal_files(dir.path()).len(),
        1,
        "the first file was reclaimed"
    );
    let h = j.health();
    assert_eq!((h.paused, h.pauses_total), (None, 1));
    assert_eq!(h.disk_bytes, 4000);
}

/// The fake file system's free space, for the one test that injects it.
static FREE: AtomicU64 = AtomicU64::new(u64::MAX);

fn fake_free(_: &std::path::Path) -> std::io::Result<u64> {
    Ok(FREE.load(Ordering::SeqCst))
}

#[test]
fn the_free_space_reserve_pauses_writes_and_they_resume_as_soon_as_space_returns() {
    const RESERVE: u64 = 1 << 20;
    FREE.store(100 << 20, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let o = JournalOptions {
        file_bytes: 1 << 20,
        max_bytes: 1 << 30,
        reserve_free_bytes: RESERVE,
        free_space: FreeSpaceProbe(fake_free),
        ..JournalOptions::default()
    };
    let j = Journal::open(dir.path(), o).unwrap();
    let end = j.blocking_append(one(b"plenty of room")).unwrap();
    durable(&j, end);
    assert_eq!(j.health().free_bytes, Some(100 << 20));
    assert_eq!(j.pressure(), Pressure::None);

    // Less than twice the reserve: still written, but consumers are told to hurry.
    FREE.store(RESERVE + (RESERVE / 2), Ordering::SeqCst);
    let end2 = j.blocking_append(one(b"getting tight")).unwrap();
    durable(&j, end2);
    assert_eq!(j.pressure(), Pressure::Soft);

    // Writing would eat into the reserve: paused.
    FREE.store(RESERVE + 10, Ordering::SeqCst);
    let end3 = j.blocking_append(one(b"the disk is full")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while j.health().paused.is_none() {
        assert!(Instant::now() < deadline, "the writer never paused");
        std::thread::sleep(Duration::from_millis(5));
    }
    let h = j.health();
    assert_eq!(
        h.paused,
        Some(PauseReason::FreeSpace {
            free_bytes: RESERVE + 10,
            reserve_bytes: RESERVE
        })
    );
    assert_eq!(j.pressure(), Pressure::Blocked);
    assert_eq!(
        j.wait_durable_beyond(end2, Duration::from_millis(300)),
        end2,
        "nothing written into the reserve"
    );

    let t = Instant::now();
    FREE.store(RESERVE + 4096, Ordering::SeqCst);
    durable(&j, end3);
    let resumed = t.elapsed();
    assert!(
        resumed < Duration::from_secs(1),
        "resumed after {resumed:?}"
    );
    assert_eq!(j.health().paused, None);
    assert_eq!(j.health().pauses_total, 1);

    // Closing flushes what is queued even into the reserve: it is bounded, and dropping
    // it would lose received lines.
    FREE.store(0, Ordering::SeqCst);
    let end4 = j.blocking_append(one(b"flushed on close")).unwrap();
    j.close().unwrap();
    assert_eq!(j.durable_position(), end4);
    FREE.store(u64::MAX, Ordering::SeqCst);
}
