//! Journals of record format 1: retired when fully sealed, refused otherwise.

use std::fs;
use std::path::Path;

use super::*;

/// `[u32 len][u32 crc32c(payload)][payload]`, as the previous version wrote.
fn v1_record(payload: &[u8]) -> Vec<u8> {
    let mut r = (payload.len() as u32).to_le_bytes().to_vec();
    r.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    r.extend_from_slice(payload);
    r
}

/// Two old-format files of `n` records each (contiguous); returns the end.
fn old_journal(dir: &Path, n: usize) -> u64 {
    fs::create_dir_all(dir.join("cursors")).unwrap();
    let mut start = 0u64;
    for f in 0..2 {
        let bytes: Vec<u8> = (0..n).flat_map(|i| v1_record(&payload(f, i))).collect();
        fs::write(dir.join(files::file_name(start)), &bytes).unwrap();
        start += bytes.len() as u64;
    }
    start
}

fn commit(dir: &Path, name: &str, position: u64) {
    Cursor::new(&dir.join("cursors"), name)
        .commit(&Checkpoint {
            position,
            state: (),
        })
        .unwrap();
}

#[test]
fn a_fully_sealed_old_journal_is_retired() {
    let dir = tempfile::tempdir().unwrap();
    let end = old_journal(dir.path(), 30);
    commit(dir.path(), "sealer", end);
    commit(dir.path(), "detector", end);
    let j = Journal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(
        j.durable_position(),
        end,
        "positions continue, never reused"
    );
    let files = wal_files(dir.path());
    assert_eq!(files.iter().map(|f| f.0).collect::<Vec<_>>(), vec![end]);
    assert_eq!(j.disk_bytes(), 0);
    let new_end = j.blocking_append(one(b"new format")).unwrap();
    assert_eq!(new_end, end + HEADER as u64 + 10);
    durable(&j, new_end);
    let mut r = j.reader(end).unwrap();
    assert_eq!(r.next().unwrap().unwrap(), (end, &b"new format"[..]));
    assert_eq!(
        &fs::read(&files[0].1).unwrap()[..4],
        &super::super::format::MAGIC
    );
    j.close().unwrap();
    let j = Journal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(j.durable_position(), new_end);
    assert_eq!(j.health().gaps_total, 0);
}

#[test]
fn a_retirement_cut_short_by_a_crash_is_finished_on_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let end = old_journal(dir.path(), 30);
    commit(dir.path(), "sealer", end);
    // Crashed after creating the new file and deleting the first old one.
    fs::write(dir.path().join(files::file_name(end)), b"").unwrap();
    fs::remove_file(dir.path().join(files::file_name(0))).unwrap();
    let j = Journal::open(dir.path(), opts(1 << 20)).unwrap();
    assert_eq!(j.durable_position(), end);
    assert_eq!(wal_files(dir.path()).len(), 1);
    assert_eq!(j.health().gaps_total, 0);
}

#[test]
fn an_old_journal_with_unsealed_records_is_refused_untouched() {
    for cursor in [None, Some(100u64)] {
        let dir = tempfile::tempdir().unwrap();
        let end = old_journal(dir.path(), 30);
        if let Some(c) = cursor {
            commit(dir.path(), "sealer", end);
            commit(dir.path(), "detector", c);
        }
        let before: Vec<Vec<u8>> = wal_files(dir.path())
            .iter()
            .map(|f| fs::read(&f.1).unwrap())
            .collect();
        match Journal::open(dir.path(), opts(1 << 20)) {
            Err(e @ JournalError::OldFormat { .. }) => {
                let JournalError::OldFormat {
                    end: e_end,
                    lowest_cursor,
                    ..
                } = &e
                else {
                    unreachable!()
                };
                assert_eq!((*e_end, *lowest_cursor), (end, cursor));
                let msg = e.to_string();
                assert!(msg.contains("run the previous version once"), "{msg}");
            }
            other => panic!("expected OldFormat, got {other:?}"),
        }
        let after: Vec<Vec<u8>> = wal_files(dir.path())
            .iter()
            .map(|f| fs::read(&f.1).unwrap())
            .collect();
        assert_eq!(before, after);
        // Refused without keeping the directory locked.
        assert!(matches!(
            Journal::open(dir.path(), opts(1 << 20)),
            Err(JournalError::OldFormat { .. })
        ));
    }
}
