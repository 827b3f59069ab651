//! The reader on a small signed archive in a directory: order, selection by seal,
//! refusal of a tampered segment and `include_unverified`.

use super::*;
use crate::segment::{object_key, SealHeader, SealKind, SegmentBuilder};
use crate::store::Archive;
use ed25519_dalek::SigningKey;

const HOUR: i64 = 3_600_000_000_000;
const T0: i64 = 1_714_521_600_000_000_000; // 2024-05-01T00:00:00Z

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// Three one-hour segments of stream `s`, four ECS lines each, received mid-hour.
fn archive() -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut prev = [0u8; 32];
    let mut keys = Vec::new();
    for seq in 0..3u64 {
        let start = T0 + seq as i64 * HOUR;
        let mut b = SegmentBuilder::new(1).unwrap();
        for i in 0..4 {
            let t = start + HOUR / 2 + i;
            let ts = crate::segment::rfc3339(t);
            let line = format!(
                r#"{{"@timestamp":"{ts}","event":{{"created":"{ts}","original":"seg {seq} line {i}"}}}}"#
            );
            b.push_line(line.as_bytes(), t);
        }
        let h = SealHeader {
            kind: SealKind::Normal,
            stream: "s".into(),
            seq,
            prev_hash: prev,
            period_start_ns: start,
            period_end_ns: start + HOUR,
            heartbeat_ms: 2 * 3_600_000,
            next_key: None,
        };
        let sealed = b.finish(h, &key()).unwrap();
        prev = sealed.seal.hash();
        let k = object_key("s", seq, start + HOUR);
        let path = dir.path().join(&k);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &sealed.bytes).unwrap();
        keys.push(k);
    }
    (dir, keys)
}

fn open(dir: &std::path::Path) -> Archive {
    let section = crate::config::ArchiveSection {
        url: dir.to_str().unwrap().to_owned(),
        ..Default::default()
    };
    crate::store::open(&section, false).unwrap()
}

fn opts() -> ReadOptions {
    ReadOptions {
        keyring: key().verifying_key().into(),
        streams: Vec::new(),
        since_ns: None,
        until_ns: None,
        include_unverified: false,
        progress: None,
    }
}

/// The originals handed on, with their verified flag.
async fn originals(archive: &Archive, o: &ReadOptions) -> (Vec<(String, bool)>, Summary) {
    let mut got = Vec::new();
    let summary = read(
        archive,
        o,
        |seg: &Segment| {
            seg.events()
                .map(|e| {
                    (
                        e.view.original().unwrap_or_default().into_owned(),
                        e.verified,
                    )
                })
                .collect::<Vec<_>>()
        },
        |v| {
            got.extend(v);
            Ok(())
        },
    )
    .await
    .unwrap();
    (got, summary)
}

/// Replaces the data frame by another valid one with one line changed: the seal still
/// verifies, the content does not match it.
fn rewrite(path: &std::path::Path) {
    let b = std::fs::read(path).unwrap();
    let view = crate::segment::parse(&b).unwrap();
    let content = zstd::decode_all(view.data_frame).unwrap();
    let changed = String::from_utf8(content)
        .unwrap()
        .replace("line 2", "line X");
    let mut out = zstd::encode_all(changed.as_bytes(), 1).unwrap();
    out.extend_from_slice(&b[view.data_frame.len()..]);
    std::fs::write(path, out).unwrap();
}

/// Flips one byte inside the data frame: the seal still verifies, the content does not.
fn tamper(path: &std::path::Path) {
    let mut b = std::fs::read(path).unwrap();
    let i = b.len() / 4;
    b[i] ^= 0x55;
    std::fs::write(path, b).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_of_a_verified_archive_comes_in_order() {
    let (dir, _) = archive();
    let (got, s) = originals(&open(dir.path()), &opts()).await;
    let expected: Vec<(String, bool)> = (0..3)
        .flat_map(|seq| (0..4).map(move |i| (format!("seg {seq} line {i}"), true)))
        .collect();
    assert_eq!(got, expected);
    assert_eq!((s.read, s.verified, s.refused.len()), (3, 3, 0));
    assert_eq!(s.events_scanned, 12);
    assert!(s.is_clean(), "{}", s.render_text());
    assert_eq!(s.report.streams.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_reads_only_the_segments_its_seals_select() {
    let (dir, keys) = archive();
    // Outside the window: its content is damaged, and nothing notices, as it is not read.
    tamper(&dir.path().join(&keys[2]));
    let mut o = opts();
    o.since_ns = Some(T0 + HOUR);
    o.until_ns = Some(T0 + HOUR + HOUR / 2 + 2);
    let (got, s) = originals(&open(dir.path()), &o).await;
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["seg 1 line 0", "seg 1 line 1"]);
    assert_eq!((s.read, s.verified, s.skipped_by_seal), (1, 1, 2));
    assert!(s.is_clean(), "{}", s.render_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_segment_is_refused_or_marked() {
    let (dir, keys) = archive();
    tamper(&dir.path().join(&keys[1]));
    let archive = open(dir.path());
    let (got, s) = originals(&archive, &opts()).await;
    assert_eq!(got.len(), 8, "{got:?}");
    assert!(got.iter().all(|(n, v)| *v && !n.starts_with("seg 1")));
    assert_eq!((s.read, s.verified, s.refused.len()), (3, 2, 1));
    assert_eq!(s.refused[0].location, keys[1]);
    assert!(!s.is_ok() && !s.is_clean());
    assert!(s.chain_problems().is_empty(), "{}", s.render_text());

    assert!(got.is_empty() || !s.refused[0].problems.is_empty());

    // Another valid frame in its place: decodable, so with include_unverified its
    // events come, marked.
    let (dir, keys) = super::tests::archive();
    let archive = open(dir.path());
    rewrite(&dir.path().join(&keys[1]));
    let (got, s) = originals(&archive, &opts()).await;
    assert_eq!(got.len(), 8);
    assert_eq!(
        s.refused[0].problems[0].0,
        crate::verify::ProblemKind::ContentHashMismatch
    );
    let mut o = opts();
    o.include_unverified = true;
    let (got, s) = originals(&archive, &o).await;
    assert!(s.is_ok() && !s.is_clean());
    let marked: Vec<&str> = got
        .iter()
        .filter(|(_, v)| !v)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        marked,
        [
            "seg 1 line 0",
            "seg 1 line 1",
            "seg 1 line X",
            "seg 1 line 3"
        ]
    );
    assert_eq!(got.len(), 12);
    assert!(s.refused[0].included);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_gives_the_lines_and_leaf_indices_a_full_scan_gives() {
    let (dir, _) = archive();
    let mut got = Vec::new();
    read(
        &open(dir.path()),
        &opts(),
        |seg: &Segment| {
            let f = filter::Filter {
                texts: vec!["line 2".into(), "seg 1 line 3".into()],
                ..Default::default()
            };
            let ranges = f.probe().unwrap().candidates(seg.content());
            let probed: Vec<(u64, Vec<u8>)> = seg
                .lines_at(&ranges)
                .map(|l| (l.index, l.bytes.to_vec()))
                .collect();
            let scanned: Vec<(u64, Vec<u8>)> = seg
                .lines()
                .filter(|l| f.may_match_line(l.bytes))
                .map(|l| (l.index, l.bytes.to_vec()))
                .collect();
            (probed, scanned)
        },
        |(p, s)| {
            assert_eq!(p, s);
            got.extend(p.into_iter().map(|(i, _)| i));
            Ok(())
        },
    )
    .await
    .unwrap();
    assert_eq!(got, [2, 2, 3, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_with_no_event_in_the_window_join_the_chain_unread() {
    let (dir, keys) = archive();
    // Both are in the window's chain, neither holds an event of it: never read.
    tamper(&dir.path().join(&keys[0]));
    tamper(&dir.path().join(&keys[1]));
    let mut o = opts();
    o.since_ns = Some(T0 + HOUR / 2 + 10);
    o.until_ns = Some(T0 + HOUR + HOUR / 2);
    let (got, s) = originals(&open(dir.path()), &o).await;
    assert!(got.is_empty(), "{got:?}");
    assert_eq!((s.read, s.seal_only, s.skipped_by_seal), (0, 2, 1));
    assert_eq!(s.report.streams.len(), 1, "{}", s.render_text());
    assert_eq!(s.report.streams[0].segments, 2);
    assert!(s.is_clean(), "{}", s.render_text());
}
