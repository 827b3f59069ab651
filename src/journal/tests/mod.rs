use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::format::HEADER;
use super::*;

mod commit;
mod legacy;
mod pressure;
mod recovery;

fn opts(file_bytes: u64) -> JournalOptions {
    JournalOptions {
        file_bytes,
        max_bytes: 1 << 40,
        ..JournalOptions::default()
    }
}

/// A payload that names its appender and sequence number, with a varying length.
fn payload(tag: usize, seq: usize) -> Vec<u8> {
    let mut p = format!("{tag}:{seq}:").into_bytes();
    let pad = 10 + (seq * 37 + tag * 11) % 250;
    p.extend(std::iter::repeat_n(b'a' + (seq % 26) as u8, pad));
    p
}

fn parse_payload(p: &[u8]) -> (usize, usize) {
    let s = std::str::from_utf8(p).unwrap();
    let mut it = s.split(':');
    let tag = it.next().unwrap().parse().unwrap();
    let seq = it.next().unwrap().parse().unwrap();
    (tag, seq)
}

fn read_all(r: &mut Reader) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some((pos, p)) = r.next().unwrap() {
        out.push((pos, p.to_vec()));
    }
    out
}

/// Waits until everything before `end` is durable. (`wait_durable_beyond` may return
/// early when the pressure rises, on purpose.)
fn durable(j: &Journal, end: u64) {
    futures::executor::block_on(j.wait_durable(end)).unwrap();
    assert!(j.durable_position() >= end);
}

fn wal_files(dir: &Path) -> Vec<(u64, PathBuf)> {
    files::list(dir).unwrap()
}

fn one(p: &[u8]) -> Batch {
    let mut b = Batch::with_capacity(p.len() + HEADER);
    b.push(p);
    b
}

/// Appends `n` single-record batches; returns each record's position.
fn append_records(j: &Journal, tag: usize, n: usize) -> Vec<u64> {
    let mut positions = Vec::new();
    for seq in 0..n {
        let p = payload(tag, seq);
        let end = j.blocking_append(one(&p)).unwrap();
        positions.push(end - (HEADER + p.len()) as u64);
    }
    positions
}

/// Positions must be contiguous: each record starts where the previous one ended.
fn assert_contiguous(records: &[(u64, Vec<u8>)], from: u64) {
    let mut expect = from;
    for (pos, p) in records {
        assert_eq!(*pos, expect, "records are contiguous");
        expect += (HEADER + p.len()) as u64;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_concurrent_appenders() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), opts(256 << 10)).unwrap();
    const BATCHES: usize = 50;
    const PER: usize = 40;
    // (end position, last payload of the batch) for every batch.
    let mut ends: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut threads = Vec::new();
    for tag in 0..2 {
        let j = j.clone();
        threads.push(std::thread::spawn(move || {
            let mut ends = Vec::new();
            for b in 0..BATCHES {
                let mut batch = Batch::with_capacity(16 << 10);
                for r in 0..PER {
                    batch.push(&payload(tag, b * PER + r));
                }
                assert_eq!(batch.len(), PER);
                ends.push((
                    j.blocking_append(batch).unwrap(),
                    payload(tag, b * PER + PER - 1),
                ));
            }
            ends
        }));
    }
    let mut tasks = Vec::new();
    for tag in 2..4 {
        let j = j.clone();
        tasks.push(tokio::spawn(async move {
            let mut ends = Vec::new();
            for b in 0..BATCHES {
                let mut batch = Batch::with_capacity(16 << 10);
                for r in 0..PER {
                    batch.push_with(|buf| buf.extend_from_slice(&payload(tag, b * PER + r)));
                }
                ends.push((
                    j.append(batch).await.unwrap(),
                    payload(tag, b * PER + PER - 1),
                ));
            }
            ends
        }));
    }
    for t in threads {
        ends.extend(t.join().unwrap());
    }
    for t in tasks {
        ends.extend(t.await.unwrap());
    }
    let max_end = ends.iter().map(|e| e.0).max().unwrap();
    j.wait_durable(max_end).await.unwrap();
    assert!(j.durable_position() >= max_end);

    let mut r = j.reader(0).unwrap();
    let records = read_all(&mut r);
    assert_eq!(records.len(), 4 * BATCHES * PER);
    assert_contiguous(&records, 0);
    assert_eq!(r.position(), max_end);
    let mut seen = HashSet::new();
    let mut last_seq = [None::<usize>; 4];
    for (_, p) in &records {
        let (tag, seq) = parse_payload(p);
        assert_eq!(p, &payload(tag, seq), "payload read back intact");
        assert!(seen.insert((tag, seq)), "each payload exactly once");
        assert!(last_seq[tag].is_none_or(|l| l < seq), "appender order kept");
        last_seq[tag] = Some(seq);
    }
    // Each returned end position is just past that batch's last record.
    let by_payload: std::collections::HashMap<&[u8], u64> = records
        .iter()
        .map(|(pos, p)| (p.as_slice(), *pos))
        .collect();
    for (end, last) in &ends {
        let pos = by_payload[last.as_slice()];
        assert_eq!(pos + (HEADER + last.len()) as u64, *end);
    }
    j.close().unwrap();
}

#[test]
fn reader_resumes_after_none() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), opts(1 << 20)).unwrap();
    let first = append_records(&j, 0, 3);
    let mut r = j.reader(0).unwrap();
    j.wait_durable_beyond(first[2], Duration::from_secs(30));
    let got = read_all(&mut r);
    assert_eq!(got.len(), 3);
    assert!(r.next().unwrap().is_none());
    let end = r.position();

    let mut b = Batch::default();
    b.push(b"four");
    b.push(b"five");
    let new_end = j.blocking_append(b).unwrap();
    assert_eq!(new_end, end + 2 * HEADER as u64 + 8);
    assert_eq!(j.wait_durable_beyond(end, Duration::from_secs(30)), new_end);
    let (pos, p) = r.next().unwrap().unwrap();
    assert_eq!((pos, p), (end, &b"four"[..]));
    let (_, p) = r.next().unwrap().unwrap();
    assert_eq!(p, b"five");
    assert!(r.next().unwrap().is_none());
    assert_eq!(r.position(), new_end);
}

#[test]
fn reads_across_file_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), opts(1000)).unwrap();
    let mut end = 0;
    for b in 0..100 {
        let mut batch = Batch::default();
        for r in 0..3 {
            batch.push(&payload(0, b * 3 + r));
        }
        end = j.blocking_append(batch).unwrap();
    }
    assert_eq!(j.wait_durable_beyond(end - 1, Duration::from_secs(30)), end);
    let files = wal_files(dir.path());
    assert!(files.len() > 10, "expected many files, got {}", files.len());
    let records = read_all(&mut j.reader(0).unwrap());
    assert_eq!(records.len(), 300);
    assert_contiguous(&records, 0);
    for (i, (_, p)) in records.iter().enumerate() {
        assert_eq!(p, &payload(0, i));
    }
    // Every file starts at a record position, and a reader can start at any record.
    let starts: HashSet<u64> = records.iter().map(|r| r.0).collect();
    let mut total = 0;
    for (start, path) in &files {
        assert!(starts.contains(start) || *start == end);
        total += fs::metadata(path).unwrap().len();
    }
    assert_eq!(total, end);
    assert_eq!(j.disk_bytes(), end);
    for skip in [1, 50, 150, 299] {
        let rest = read_all(&mut j.reader(records[skip].0).unwrap());
        assert_eq!(rest.len(), 300 - skip);
        assert_eq!(rest[0], records[skip]);
    }
    assert!(matches!(
        j.reader(end + 1),
        Err(JournalError::BeyondEnd { .. })
    ));
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct SealState {
    next_seq: u64,
    prev_hash: String,
}

#[test]
fn cursor_commit_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), opts(1 << 20)).unwrap();
    let c = j.cursor("sealer");
    assert_eq!(c.load::<SealState>().unwrap(), None);
    let cp = Checkpoint {
        position: 4242,
        state: SealState {
            next_seq: 7,
            prev_hash: "ab".repeat(32),
        },
    };
    c.commit(&cp).unwrap();
    assert_eq!(c.load::<SealState>().unwrap(), Some(cp.clone()));
    let cp2 = Checkpoint {
        position: 5000,
        state: SealState {
            next_seq: 8,
            prev_hash: "cd".repeat(32),
        },
    };
    c.commit(&cp2).unwrap();
    // A second handle (as after a restart) sees the latest commit; no temp file remains.
    assert_eq!(j.cursor("sealer").load::<SealState>().unwrap(), Some(cp2));
    let names: Vec<String> = fs::read_dir(dir.path().join("cursors"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["sealer.json".to_string()]);
    for bad in ["", "../x", "a/b", ".hidden"] {
        assert!(matches!(
            j.cursor(bad).load::<SealState>(),
            Err(JournalError::InvalidCursorName(_))
        ));
    }
    fs::write(dir.path().join("cursors/broken.json"), b"{").unwrap();
    assert!(matches!(
        j.cursor("broken").load::<SealState>(),
        Err(JournalError::CursorFormat { .. })
    ));
}

#[test]
fn write_atomic_replaces_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    write_atomic(&path, b"one").unwrap();
    write_atomic(&path, b"two!").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"two!");
    assert!(!dir.path().join("state.json.tmp").exists());
}

#[test]
fn reclaim_deletes_only_files_below_min_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), opts(1000)).unwrap();
    let positions = append_records(&j, 0, 60);
    j.wait_durable_beyond(*positions.last().unwrap(), Duration::from_secs(30));
    let end = j.durable_position();
    let before = wal_files(dir.path());
    assert!(before.len() >= 5);
    assert_eq!(j.reclaim().unwrap(), 0, "no cursors: nothing reclaimed");

    let a = j.cursor("a");
    let b = j.cursor("b");
    let min = positions[30];
    b.commit(&Checkpoint {
        position: end,
        state: (),
    })
    .unwrap();
    assert_eq!(
        j.reclaim().unwrap(),
        0,
        "uncommitted cursor a pins the journal"
    );

    a.commit(&Checkpoint {
        position: min,
        state: (),
    })
    .unwrap();
    let mut expect_freed = 0;
    let mut expect_left = Vec::new();
    for (i, (start, path)) in before.iter().enumerate() {
        let whole_below = before.get(i + 1).is_some_and(|next| next.0 <= min);
        if whole_below {
            expect_freed += fs::metadata(path).unwrap().len();
        } else {
            expect_left.push(*start);
        }
    }
    assert!(expect_freed > 0);
    let disk = j.disk_bytes();
    assert_eq!(j.reclaim().unwrap(), expect_freed);
    assert_eq!(j.disk_bytes(), disk - expect_freed);
    let left: Vec<u64> = wal_files(dir.path()).iter().map(|f| f.0).collect();
    assert_eq!(left, expect_left);
    assert!(left[0] <= min, "the file holding the cursor is kept");
    assert!(matches!(
        j.reader(0).unwrap_err(),
        JournalError::Reclaimed { position: 0 }
    ));
    let rest = read_all(&mut j.reader(min).unwrap());
    assert_eq!(rest.len(), 30);

    // Every cursor at the end: everything but the newest file goes.
    a.commit(&Checkpoint {
        position: end,
        state: (),
    })
    .unwrap();
    j.reclaim().unwrap();
    let left = wal_files(dir.path());
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, before.last().unwrap().0);
    assert_eq!(j.disk_bytes(), fs::metadata(&left[0].1).unwrap().len());
    // The newest file still tells the end after a restart.
    j.close().unwrap();
    let j = Journal::open(dir.path(), opts(1000)).unwrap();
    assert_eq!(j.durable_position(), end);
}

#[test]
fn close_flushes_and_rejects_later_appends() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), opts(64 << 10)).unwrap();
    let mut end = 0;
    for b in 0..200 {
        let mut batch = Batch::with_capacity(4096);
        for r in 0..10 {
            batch.push(&payload(3, b * 10 + r));
        }
        end = j.blocking_append(batch).unwrap();
    }
    j.close().unwrap();
    assert_eq!(j.durable_position(), end);
    j.close().unwrap();
    assert!(matches!(
        j.blocking_append(one(b"late")),
        Err(JournalError::Closed)
    ));
    assert!(matches!(
        futures::executor::block_on(j.append(one(b"late"))),
        Err(JournalError::Closed)
    ));
    futures::executor::block_on(j.wait_durable(end)).unwrap();
    assert!(matches!(
        futures::executor::block_on(j.wait_durable(end + 1)),
        Err(JournalError::Closed)
    ));
    assert_eq!(j.wait_durable_beyond(end, Duration::from_secs(30)), end);
    drop(j);

    let j = Journal::open(dir.path(), opts(64 << 10)).unwrap();
    assert_eq!(j.durable_position(), end);
    let records = read_all(&mut j.reader(0).unwrap());
    assert_eq!(records.len(), 2000);
    for (i, (_, p)) in records.iter().enumerate() {
        assert_eq!(p, &payload(3, i));
    }
}

#[test]
fn invalid_payloads_reject_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), opts(1 << 20)).unwrap();
    let mut b = Batch::default();
    b.push(b"ok");
    b.push(b"");
    assert_eq!(b.len(), 1);
    assert!(matches!(
        j.blocking_append(b),
        Err(JournalError::InvalidPayload { len: 0, .. })
    ));
    let mut b = Batch::default();
    b.push_with(|buf| buf.resize(buf.len() + MAX_PAYLOAD + 1, 1));
    assert!(b.is_empty());
    assert_eq!(b.bytes(), 0);
    assert!(matches!(
        j.blocking_append(b),
        Err(JournalError::InvalidPayload { .. })
    ));
    assert_eq!(j.blocking_append(Batch::default()).unwrap(), 0);

    // push_with writes exactly what push would.
    let mut a = Batch::default();
    a.push(b"same bytes");
    let mut b = Batch::default();
    b.push_with(|buf| buf.extend_from_slice(b"same bytes"));
    assert_eq!(a.as_bytes(), b.as_bytes());
    assert_eq!(b.bytes(), HEADER + 10);
}

#[test]
fn options_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    for o in [
        JournalOptions {
            file_bytes: 0,
            ..JournalOptions::default()
        },
        JournalOptions {
            file_bytes: 1000,
            max_bytes: 1999,
            ..JournalOptions::default()
        },
    ] {
        assert!(matches!(
            Journal::open(dir.path(), o),
            Err(JournalError::InvalidOptions(_))
        ));
    }
    let d = JournalOptions::default();
    assert_eq!(
        (d.file_bytes, d.max_bytes, d.fsync, d.reserve_free_bytes),
        (64 << 20, 4 << 30, true, 0)
    );
    assert_eq!(d.free_space, FreeSpaceProbe::STATVFS);
}

#[test]
fn wait_durable_beyond_times_out_with_current_position() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(j.wait_durable_beyond(0, Duration::from_millis(20)), 0);
    let end = j.blocking_append(one(b"x")).unwrap();
    assert_eq!(j.wait_durable_beyond(0, Duration::from_secs(30)), end);
}

/// Throughput check, run by hand in release mode:
/// `SEALTRAIL_JOURNAL_BENCH_RECORDS=2000000 cargo test --release --lib journal::tests::throughput -- --nocapture`
/// By default a small run that only checks correctness.
#[test]
fn throughput() {
    let n: usize = std::env::var("SEALTRAIL_JOURNAL_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let appenders = 2;
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    let start = Instant::now();
    let threads: Vec<_> = (0..appenders)
        .map(|t| {
            let j = j.clone();
            std::thread::spawn(move || {
                let mut rec = [b'x'; 170];
                let mut batch = Batch::with_capacity(64 << 10);
                let mut end = 0;
                for i in (t..n).step_by(appenders) {
                    rec[..8].copy_from_slice(&(i as u64).to_le_bytes());
                    batch.push(&rec);
                    if batch.bytes() + rec.len() + HEADER > 64 << 10 {
                        let full = std::mem::replace(&mut batch, Batch::with_capacity(64 << 10));
                        end = end.max(j.blocking_append(full).unwrap());
                    }
                }
                end.max(j.blocking_append(batch).unwrap())
            })
        })
        .collect();
    let end = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .max()
        .unwrap();
    futures::executor::block_on(j.wait_durable(end)).unwrap();
    let elapsed = start.elapsed();
    println!(
        "journal: {n} records of 170 B, 64 KiB batches, fsync: {:.0} records/s ({:.0} MB/s, {:.2} s)",
        n as f64 / elapsed.as_secs_f64(),
        end as f64 / elapsed.as_secs_f64() / 1e6,
        elapsed.as_secs_f64()
    );
    let read_start = Instant::now();
    let mut r = j.reader(0).unwrap();
    let mut seen = vec![false; n];
    let mut count = 0;
    while let Some((_, p)) = r.next().unwrap() {
        let i = u64::from_le_bytes(p[..8].try_into().unwrap()) as usize;
        assert!(!seen[i]);
        seen[i] = true;
        count += 1;
    }
    println!(
        "journal: read back at {:.0} records/s",
        count as f64 / read_start.elapsed().as_secs_f64()
    );
    assert_eq!(count, n);
    assert_eq!(r.position(), end);
}

#[test]
fn removed_cursor_no_longer_pins_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), opts(1000)).unwrap();
    let positions = append_records(&j, 0, 40);
    j.wait_durable_beyond(*positions.last().unwrap(), Duration::from_secs(30));
    let end = j.durable_position();
    let live = j.cursor("live");
    live.commit(&Checkpoint {
        position: end,
        state: (),
    })
    .unwrap();
    let stale = j.cursor("stale");
    stale
        .commit(&Checkpoint {
            position: 0,
            state: (),
        })
        .unwrap();
    assert_eq!(j.reclaim().unwrap(), 0, "the stale cursor pins everything");
    j.remove_cursor("stale").unwrap();
    assert!(j.reclaim().unwrap() > 0);
    assert!(stale.load::<()>().unwrap().is_none());
    j.remove_cursor("never-existed").unwrap();
}

#[test]
fn a_second_journal_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Journal::open(dir.path(), opts(1000)).unwrap();
    match Journal::open(dir.path(), opts(1000)) {
        Err(JournalError::Locked { .. }) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
    first.close().unwrap();
    // Released at close, even while the handle still exists.
    Journal::open(dir.path(), opts(1000)).unwrap();
}

#[test]
fn a_message_of_the_largest_allowed_size_fits_with_its_ingest_header() {
    use crate::record::{IngestRecord, RecordFlags};
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), opts(64 << 20)).unwrap();
    // `max_message_bytes` may be up to 16 MiB (config validation); the ingest record adds
    // its header, so the journal payload is a little more than 16 MiB.
    let raw = vec![b'm'; 16 * 1024 * 1024];
    let rec = IngestRecord::syslog(
        1,
        0,
        Some("[2001:db8::1]:514".parse().unwrap()),
        RecordFlags::EMPTY,
        &raw,
    );
    let mut b = Batch::default();
    b.push(b"small neighbour");
    b.push_with(|buf| rec.encode_into(buf));
    assert!(rec.encoded_len() > 16 << 20);
    assert_eq!(b.len(), 2, "the whole batch is kept");
    let end = j.blocking_append(b).unwrap();
    j.wait_durable_beyond(end - 1, Duration::from_secs(60));
    let mut r = j.reader(0).unwrap();
    assert_eq!(r.next().unwrap().unwrap().1, b"small neighbour");
    let (_, p) = r.next().unwrap().unwrap();
    assert_eq!(IngestRecord::decode(p).unwrap(), rec);
    assert!(r.next().unwrap().is_none());
}

#[test]
fn directories_the_journal_creates_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("state/journal");
    let j = Journal::open(&dir, opts(1 << 20)).unwrap();
    for d in [dir.clone(), dir.join("cursors")] {
        let mode = fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", d.display());
    }
    j.close().unwrap();
}

#[test]
fn the_record_format_byte_for_byte() {
    let mut b = Batch::default();
    b.push(b"hi");
    let covered = [2u8, 0, 0, 0, b'h', b'i'];
    let mut expect = vec![0xF5, 0x4A, 0x52, 0x4E];
    expect.extend_from_slice(&crc32c::crc32c(&covered).to_le_bytes());
    expect.extend_from_slice(&covered);
    assert_eq!(b.as_bytes(), &expect[..]);
    assert_eq!(HEADER, 12);
    // The fourth magic byte keeps a version-1 file (a u32 LE length of at most 16 MiB
    // first) from ever looking like version 2.
    assert!(u32::from_le_bytes(super::format::MAGIC) as usize > 16 << 20);
}
