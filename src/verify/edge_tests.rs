//! The edges FORMAT.md §8 states exactly: the window's strict bounds, the heartbeat
//! slack to the nanosecond, and when `no_segments` is reported.

use ed25519_dalek::SigningKey;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutPayload};

use super::*;
use crate::segment::{object_key, SealHeader, SealKind, SegmentBuilder};

const T0: i64 = 1_714_564_800_000_000_000; // 2024-05-01T12:00:00Z
const SEC: i64 = 1_000_000_000;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[21u8; 32])
}

/// A chain of segments with these (start, end) periods, stored under `a/`.
async fn chain(periods: &[(i64, i64)]) -> (tempfile::TempDir, LocalFileSystem) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    let mut b = SegmentBuilder::new(1).unwrap();
    let mut prev = [0u8; 32];
    for (seq, &(start, end)) in periods.iter().enumerate() {
        b.push_line(format!("{{\"n\":{seq}}}").as_bytes(), start);
        let s = b
            .finish(
                SealHeader {
                    kind: SealKind::Normal,
                    stream: "s".into(),
                    seq: seq as u64,
                    prev_hash: prev,
                    period_start_ns: start,
                    period_end_ns: end,
                    heartbeat_ms: 60_000,
                    next_key: None,
                },
                &key(),
            )
            .unwrap();
        prev = s.seal.hash();
        let loc = format!("a/{}", object_key("s", seq as u64, end));
        store
            .put(&StorePath::from(loc.as_str()), PutPayload::from(s.bytes))
            .await
            .unwrap();
    }
    (dir, store)
}

async fn verify(store: &LocalFileSystem, since: Option<i64>, until: Option<i64>) -> Report {
    let opts = VerifyOptions {
        keyring: key().verifying_key().into(),
        stream: None,
        since_ns: since,
        until_ns: until,
        progress: None,
    };
    verify_store(store, &StorePath::from("a"), &opts)
        .await
        .unwrap()
}

fn kinds(r: &Report) -> Vec<ProblemKind> {
    r.problems.iter().map(|p| p.kind).collect()
}

#[tokio::test]
async fn the_window_bounds_are_strict() {
    let m = 60 * SEC;
    let (_d, store) = chain(&[(T0, T0 + m), (T0 + m, T0 + 2 * m), (T0 + 2 * m, T0 + 3 * m)]).await;
    // [since, until) = exactly the middle segment's period: only it is kept.
    let r = verify(&store, Some(T0 + m), Some(T0 + 2 * m)).await;
    assert!(r.is_valid(), "{}", r.render_text());
    assert_eq!(r.streams[0].segments, 1);
    assert_eq!(r.streams[0].first_seq, 1);
    assert_eq!(r.skipped, 2);
    // One nanosecond wider on each side takes in the neighbours.
    let r = verify(&store, Some(T0 + m - 1), Some(T0 + 2 * m + 1)).await;
    assert_eq!(r.streams[0].segments, 3, "{}", r.render_text());
}

#[tokio::test]
async fn the_heartbeat_slack_is_ten_percent_plus_five_seconds_to_the_nanosecond() {
    // heartbeat_ms 60000: 71 s allowed.
    let allowed = 71 * SEC;
    let (_d, store) = chain(&[(T0, T0 + allowed), (T0 + allowed, T0 + allowed + SEC)]).await;
    let r = verify(&store, None, None).await;
    assert!(r.is_valid(), "exactly the slack: {}", r.render_text());
    let (_d, store) = chain(&[
        (T0, T0 + allowed + 1),
        (T0 + allowed + 1, T0 + allowed + SEC),
    ])
    .await;
    let r = verify(&store, None, None).await;
    assert_eq!(
        kinds(&r),
        vec![ProblemKind::HeartbeatGap],
        "{}",
        r.render_text()
    );
}

#[tokio::test]
async fn no_segments_is_an_empty_archive_or_an_empty_window_and_head_missing_after_it() {
    let (_d, store) = chain(&[]).await;
    let r = verify(&store, None, None).await;
    assert_eq!(
        kinds(&r),
        vec![ProblemKind::NoSegments],
        "{}",
        r.render_text()
    );
    let m = 60 * SEC;
    let (_d, store) = chain(&[(T0, T0 + m), (T0 + m, T0 + 2 * m)]).await;
    // A window before every segment: nothing verified, nothing else to say.
    let r = verify(&store, None, Some(T0)).await;
    assert_eq!(
        kinds(&r),
        vec![ProblemKind::NoSegments],
        "{}",
        r.render_text()
    );
    assert!(
        r.problems[0].detail.contains("2 outside the window"),
        "{}",
        r.render_text()
    );
    // A window after every segment: the stream does not cover --since.
    let r = verify(&store, Some(T0 + 2 * m), None).await;
    assert_eq!(
        kinds(&r),
        vec![ProblemKind::HeadMissing],
        "{}",
        r.render_text()
    );
    assert!(
        r.problems[0].detail.contains("no segment covers --since"),
        "{}",
        r.render_text()
    );
}
