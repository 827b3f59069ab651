//! Recovery and readers facing damage: torn tails, flipped bytes, bad lengths, seams,
//! truncation.

// Lists of lost ranges that happen to hold one range are meant as such.
#![allow(clippy::single_range_in_vec_init)]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::*;

/// Writes `n` records, closes; returns (positions, end, newest file path).
fn closed_journal(dir: &Path, file_bytes: u64, n: usize) -> (Vec<u64>, u64, PathBuf) {
    let j = Journal::open(dir, opts(file_bytes)).unwrap();
    let positions = append_records(&j, 7, n);
    j.close().unwrap();
    let end = j.durable_position();
    let newest = wal_files(dir).last().unwrap().1.clone();
    (positions, end, newest)
}

fn record_size(seq: usize) -> u64 {
    (HEADER + payload(7, seq).len()) as u64
}

/// Sum of the journal files' sizes, as the directory says.
fn dir_bytes(dir: &Path) -> u64 {
    wal_files(dir)
        .iter()
        .map(|(_, p)| fs::metadata(p).unwrap().len())
        .sum()
}

/// Reopens and checks: the records of `positions` at indexes `kept` survive (in order),
/// `lost` is exactly what was counted as lost (and is registered), and appending continues
/// at `resume_at`, also after another restart.
fn assert_recovers(
    dir: &Path,
    file_bytes: u64,
    positions: &[u64],
    kept: &[usize],
    lost: &[Range<u64>],
    resume_at: u64,
) {
    let j = Journal::open(dir, opts(file_bytes)).unwrap();
    assert_eq!(j.durable_position(), resume_at);
    assert_eq!(j.disk_bytes(), dir_bytes(dir));
    let gaps = j.gaps();
    for g in lost {
        assert!(
            gaps.iter().any(|k| k.start <= g.start && g.end <= k.end),
            "{g:?} in {gaps:?}"
        );
    }
    let h = j.health();
    assert_eq!(h.gaps_total, lost.len() as u64);
    assert_eq!(
        h.lost_bytes_total,
        lost.iter().map(|g| g.end - g.start).sum::<u64>()
    );
    let records = read_all(&mut j.reader(wal_files(dir)[0].0).unwrap());
    let got: Vec<(u64, Vec<u8>)> = kept
        .iter()
        .map(|&i| (positions[i], payload(7, i)))
        .collect();
    assert_eq!(records, got);
    assert_eq!(
        j.health().gaps_total,
        lost.len() as u64,
        "reading counts no gap twice"
    );
    let new_end = j.blocking_append(one(b"after recovery")).unwrap();
    assert_eq!(new_end, resume_at + HEADER as u64 + 14);
    j.close().unwrap();
    let j = Journal::open(dir, opts(file_bytes)).unwrap();
    assert_eq!(j.health().gaps_total, lost.len() as u64);
    let mut r = j.reader(resume_at).unwrap();
    assert_eq!(
        r.next().unwrap().unwrap(),
        (resume_at, &b"after recovery"[..])
    );
    assert!(r.next().unwrap().is_none());
}

/// What a crash leaves: the marker lags the data it does not cover yet.
fn marker_at(dir: &Path, pos: u64) {
    files::write_end_marker(dir, pos).unwrap();
}

#[test]
fn torn_tail_beyond_the_marker_is_cut_without_a_gap() {
    for file_bytes in [1 << 20, 600] {
        let dir = tempfile::tempdir().unwrap();
        let (positions, _, newest) = closed_journal(dir.path(), file_bytes, 20);
        let last = positions[19];
        let newest_start = wal_files(dir.path()).last().unwrap().0;
        assert!(
            last >= newest_start,
            "the last record is in the newest file"
        );
        let f = OpenOptions::new().write(true).open(&newest).unwrap();
        f.set_len(last - newest_start + HEADER as u64 + 3).unwrap();
        drop(f);
        marker_at(dir.path(), last);
        let kept: Vec<usize> = (0..19).collect();
        assert_recovers(dir.path(), file_bytes, &positions, &kept, &[], last);
        assert_eq!(
            fs::metadata(&newest).unwrap().len(),
            last - newest_start + HEADER as u64 + 14,
            "the torn bytes are physically gone"
        );
    }
}

#[test]
fn recovery_drops_garbage_tail() {
    for garbage in [
        vec![0xABu8; 37],
        vec![0u8; 64],
        vec![1, 2, 3],
        MAGIC_AND_JUNK.to_vec(),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (positions, end, newest) = closed_journal(dir.path(), 1 << 20, 10);
        let mut f = OpenOptions::new().append(true).open(&newest).unwrap();
        f.write_all(&garbage).unwrap();
        drop(f);
        let kept: Vec<usize> = (0..10).collect();
        assert_recovers(dir.path(), 1 << 20, &positions, &kept, &[], end);
        // The garbage is physically gone.
        let len = fs::metadata(&newest).unwrap().len();
        assert_eq!(len, end + HEADER as u64 + 14);
    }
}

/// A tail that starts like a record but does not check out.
const MAGIC_AND_JUNK: [u8; 20] = [
    0xF5, b'J', b'R', b'N', 1, 2, 3, 4, 4, 0, 0, 0, b'j', b'u', b'n', b'k', 0xF5, b'J', b'R', 0,
];

#[test]
fn damaged_last_record_is_cut_as_a_torn_tail_or_counted_when_it_was_durable() {
    // Without a marker covering it, a bad last record may be a torn write: cut, no gap.
    let dir = tempfile::tempdir().unwrap();
    let (positions, _, newest) = closed_journal(dir.path(), 1 << 20, 10);
    let mut bytes = fs::read(&newest).unwrap();
    bytes[positions[9] as usize + HEADER + 2] ^= 0x40;
    fs::write(&newest, &bytes).unwrap();
    marker_at(dir.path(), positions[9]);
    let kept: Vec<usize> = (0..9).collect();
    assert_recovers(dir.path(), 1 << 20, &positions, &kept, &[], positions[9]);

    // The marker says it was durable: its loss is a gap, and its position is not reused.
    let dir = tempfile::tempdir().unwrap();
    let (positions, end, newest) = closed_journal(dir.path(), 1 << 20, 10);
    let mut bytes = fs::read(&newest).unwrap();
    bytes[positions[9] as usize + HEADER + 2] ^= 0x40;
    fs::write(&newest, &bytes).unwrap();
    assert_recovers(
        dir.path(),
        1 << 20,
        &positions,
        &kept,
        &[positions[9]..end],
        end,
    );
}

#[test]
fn a_flipped_byte_in_the_middle_loses_only_that_record() {
    let dir = tempfile::tempdir().unwrap();
    const N: usize = 5000;
    let (positions, end, newest) = closed_journal(dir.path(), 1 << 30, N);
    assert_eq!(wal_files(dir.path()).len(), 1);
    let mid = N / 2;
    let mut bytes = fs::read(&newest).unwrap();
    bytes[positions[mid] as usize + HEADER + 5] ^= 0x01;
    fs::write(&newest, &bytes).unwrap();
    let kept: Vec<usize> = (0..N).filter(|&i| i != mid).collect();
    assert_recovers(
        dir.path(),
        1 << 30,
        &positions,
        &kept,
        &[positions[mid]..positions[mid + 1]],
        end,
    );
    assert_eq!(positions[mid + 1] - positions[mid], record_size(mid));
}

#[test]
fn a_damaged_length_field_is_resynchronised_by_scanning() {
    let dir = tempfile::tempdir().unwrap();
    const N: usize = 300;
    let (positions, end, newest) = closed_journal(dir.path(), 1 << 30, N);
    let mut bytes = fs::read(&newest).unwrap();
    // A plausible length that leads into the next record's header: the length skip finds
    // nothing there, the scan finds the next record.
    let a = positions[100] as usize;
    let len = u32::from_le_bytes(bytes[a + 8..a + 12].try_into().unwrap());
    bytes[a + 8..a + 12].copy_from_slice(&(len + 7).to_le_bytes());
    // An implausible one: straight to the scan.
    let b = positions[200] as usize;
    bytes[b + 8..b + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    // A damaged magic (length intact): the length still says where the next record is.
    let c = positions[250] as usize;
    bytes[c] = b'X';
    fs::write(&newest, &bytes).unwrap();
    let kept: Vec<usize> = (0..N).filter(|i| ![100, 200, 250].contains(i)).collect();
    assert_recovers(
        dir.path(),
        1 << 30,
        &positions,
        &kept,
        &[
            positions[100]..positions[101],
            positions[200]..positions[201],
            positions[250]..positions[251],
        ],
        end,
    );
}

#[test]
fn readers_skip_damage_in_older_files_and_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let (positions, end, _) = closed_journal(dir.path(), 600, 60);
    let files = wal_files(dir.path());
    assert!(files.len() >= 6);
    let idx = |pos: u64| positions.iter().position(|&p| p == pos).unwrap();
    // A flipped payload byte in the second record of the first file.
    let (first_start, first_path) = files[0].clone();
    assert_eq!(first_start, 0);
    let mut bytes = fs::read(&first_path).unwrap();
    bytes[positions[1] as usize + HEADER + 1] ^= 0x01;
    fs::write(&first_path, &bytes).unwrap();
    // A garbage length in the first record of the second file.
    let (second_start, second_path) = files[1].clone();
    let mut bytes = fs::read(&second_path).unwrap();
    bytes[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    fs::write(&second_path, &bytes).unwrap();
    // The fourth file is gone: a seam between the third and the fifth.
    let (fourth_start, fourth_path) = files[3].clone();
    let fifth_start = files[4].0;
    fs::remove_file(&fourth_path).unwrap();

    let second = idx(second_start);
    let lost_files: Vec<usize> = (idx(fourth_start)..idx(fifth_start)).collect();
    let kept: Vec<usize> = (0..60)
        .filter(|&i| i != 1 && i != second && !lost_files.contains(&i))
        .collect();
    assert_recovers(
        dir.path(),
        600,
        &positions,
        &kept,
        &[
            positions[1]..positions[2],
            second_start..positions[second + 1],
            fourth_start..fifth_start,
        ],
        end,
    );
    // A reader tells its consumer what it skipped, so the loss can be sealed too.
    let j = Journal::open(dir.path(), opts(600)).unwrap();
    let mut r = j.reader(0).unwrap();
    read_all(&mut r);
    assert_eq!(
        r.take_skipped(),
        vec![
            positions[1]..positions[2],
            second_start..positions[second + 1],
            fourth_start..fifth_start,
        ]
    );
    assert!(r.take_skipped().is_empty());
    // A reader starting at a damaged record or in the seam starts after it.
    let mut r = j.reader(second_start).unwrap();
    assert_eq!(r.next().unwrap().unwrap().0, positions[second + 1]);
    assert_eq!(r.take_skipped(), vec![second_start..positions[second + 1]]);
    let mut r = j.reader(fourth_start).unwrap();
    assert_eq!(r.position(), fifth_start);
    assert_eq!(r.next().unwrap().unwrap().0, fifth_start);
    assert_eq!(r.take_skipped(), vec![fourth_start..fifth_start]);
}

#[test]
fn a_reader_finds_damage_that_happened_after_open() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), opts(600)).unwrap();
    let positions = append_records(&j, 7, 40);
    j.wait_durable_beyond(positions[39], Duration::from_secs(30));
    let (_, first_path) = wal_files(dir.path())[0].clone();
    let mut bytes = fs::read(&first_path).unwrap();
    bytes[positions[2] as usize + HEADER] ^= 0x10;
    fs::write(&first_path, &bytes).unwrap();
    assert_eq!(j.health().gaps_total, 0);
    for _ in 0..2 {
        let mut r = j.reader(0).unwrap();
        let records = read_all(&mut r);
        assert_eq!(records.len(), 39);
        assert!(records.iter().all(|r| r.0 != positions[2]));
        assert_eq!(records[2].0, positions[3]);
        assert_eq!(r.take_skipped(), vec![positions[2]..positions[3]]);
    }
    assert_eq!(j.gaps(), vec![positions[2]..positions[3]]);
    let h = j.health();
    assert_eq!((h.gaps_total, h.lost_bytes_total), (1, record_size(2)));
}

/// Captures what the journal logs on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn each_gap_is_logged_once_with_its_positions() {
    let dir = tempfile::tempdir().unwrap();
    let (positions, _, newest) = closed_journal(dir.path(), 1 << 20, 50);
    let mut bytes = fs::read(&newest).unwrap();
    bytes[positions[20] as usize + HEADER + 3] ^= 0x08;
    fs::write(&newest, &bytes).unwrap();
    let out = Captured::default();
    let sink = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let j = Journal::open(dir.path(), opts(1 << 20)).unwrap();
        for _ in 0..3 {
            assert_eq!(read_all(&mut j.reader(0).unwrap()).len(), 49);
        }
        j.close().unwrap();
    });
    let log = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{log}");
    let e = errors[0];
    assert!(e.contains(&format!("from={}", positions[20])), "{e}");
    assert!(e.contains(&format!("to={}", positions[21])), "{e}");
    assert!(
        e.contains(&format!("lost_bytes={}", record_size(20))),
        "{e}"
    );
    assert!(e.contains(&newest.display().to_string()), "{e}");
}

#[test]
fn truncation_at_a_record_boundary_is_detected_through_the_end_marker() {
    let dir = tempfile::tempdir().unwrap();
    let (positions, end, newest) = closed_journal(dir.path(), 600, 40);
    let newest_start = wal_files(dir.path()).last().unwrap().0;
    let first_in_newest = positions.iter().position(|&p| p >= newest_start).unwrap();
    let cut = (first_in_newest + 1).min(39);
    OpenOptions::new()
        .write(true)
        .open(&newest)
        .unwrap()
        .set_len(positions[cut] - newest_start)
        .unwrap();
    let kept: Vec<usize> = (0..cut).collect();
    assert_recovers(
        dir.path(),
        600,
        &positions,
        &kept,
        &[positions[cut]..end],
        end,
    );
    assert!(
        wal_files(dir.path()).iter().any(|f| f.0 == end),
        "appends went to a new file at the expected end"
    );
}

#[test]
fn truncation_is_detected_through_a_cursor_beyond_the_end() {
    for slow_cursor in [Some(0), None] {
        let dir = tempfile::tempdir().unwrap();
        let (positions, end, newest) = closed_journal(dir.path(), 1 << 20, 30);
        fs::remove_file(dir.path().join("end.json")).unwrap();
        let cursors = dir.path().join("cursors");
        let fast = Cursor::new(&cursors, "fast");
        fast.commit(&Checkpoint {
            position: end,
            state: (),
        })
        .unwrap();
        if let Some(p) = slow_cursor {
            Cursor::new(&cursors, "slow")
                .commit(&Checkpoint {
                    position: p,
                    state: (),
                })
                .unwrap();
        }
        OpenOptions::new()
            .write(true)
            .open(&newest)
            .unwrap()
            .set_len(positions[20])
            .unwrap();
        let kept: Vec<usize> = (0..20).collect();
        // With every consumer past the cut, nothing unconsumed was lost: no gap counted,
        // but the positions are still not reused.
        let lost = match slow_cursor {
            Some(_) => vec![positions[20]..end],
            None => vec![],
        };
        assert_recovers(dir.path(), 1 << 20, &positions, &kept, &lost, end);
    }
}
