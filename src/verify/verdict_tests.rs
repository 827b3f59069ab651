//! The verdict rules of FORMAT.md §7 and §8 at their edges, each pinned on a small
//! archive in a directory, verified through `verify_store`: which segments the window
//! keeps, the heartbeat slack to the nanosecond, when `no_segments` is reported, and
//! what a duplicated seq gives for each copy.

use ed25519_dalek::SigningKey;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutPayload};

use crate::segment::{object_key, Seal, SealHeader, SealKind, SegmentBuilder};

use super::{verify_store, Keyring, ProblemKind, Report, VerifyOptions};

const T0: i64 = 1_714_564_800_000_000_000; // 2024-05-01T12:00:00Z
const SEC: i64 = 1_000_000_000;
const MIN: i64 = 60 * SEC;
const PREFIX: &str = "archive";

fn k0() -> SigningKey {
    SigningKey::from_bytes(&[21u8; 32])
}

fn k1() -> SigningKey {
    SigningKey::from_bytes(&[22u8; 32])
}

/// One segment to build: its kind, period, events and signer.
#[derive(Clone)]
struct Spec {
    kind: SealKind,
    start: i64,
    end: i64,
    events: usize,
    heartbeat_ms: u64,
    key: SigningKey,
    next_key: Option<[u8; 32]>,
}

impl Spec {
    fn normal(start: i64, end: i64) -> Spec {
        Spec {
            kind: SealKind::Normal,
            start,
            end,
            events: 1,
            heartbeat_ms: 60_000,
            key: k0(),
            next_key: None,
        }
    }
}

/// `n` one-minute normal segments from `T0`, signed by `k0`.
fn minutes(n: usize) -> Vec<Spec> {
    (0..n as i64)
        .map(|i| Spec::normal(T0 + i * MIN, T0 + (i + 1) * MIN))
        .collect()
}

fn build(spec: &Spec, seq: u64, prev: [u8; 32], tag: &str) -> crate::segment::Sealed {
    let mut b = SegmentBuilder::new(1).unwrap();
    for i in 0..spec.events {
        b.push_line(
            format!("{{\"seq\":{seq},\"i\":{i},\"tag\":\"{tag}\"}}").as_bytes(),
            spec.start,
        );
    }
    let header = SealHeader {
        kind: spec.kind,
        stream: "host-a".into(),
        seq,
        prev_hash: prev,
        period_start_ns: spec.start,
        period_end_ns: spec.end,
        heartbeat_ms: spec.heartbeat_ms,
        next_key: spec.next_key,
    };
    b.finish(header, &spec.key).unwrap()
}

struct Archive {
    _dir: tempfile::TempDir,
    store: LocalFileSystem,
    seals: Vec<(String, Seal)>,
}

impl Archive {
    fn new() -> Archive {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        Archive {
            _dir: dir,
            store,
            seals: Vec::new(),
        }
    }

    /// A chain of `host-a` from seq 0, each segment linked to the one before.
    async fn with_chain(specs: &[Spec]) -> Archive {
        let mut a = Archive::new();
        let mut prev = [0; 32];
        for (seq, spec) in specs.iter().enumerate() {
            let s = build(spec, seq as u64, prev, "chain");
            prev = s.seal.hash();
            a.put_at_key(&s).await;
        }
        a
    }

    /// Stores `s` at its §6 key; returns that key.
    async fn put_at_key(&mut self, s: &crate::segment::Sealed) -> String {
        let loc = format!(
            "{PREFIX}/{}",
            object_key(&s.seal.stream, s.seal.seq, s.seal.period_end_ns)
        );
        self.put(&loc, s).await;
        loc
    }

    async fn put(&mut self, loc: &str, s: &crate::segment::Sealed) {
        self.store
            .put(&StorePath::from(loc), PutPayload::from(s.bytes.clone()))
            .await
            .unwrap();
        self.seals.push((loc.to_owned(), s.seal.clone()));
    }

    async fn delete(&self, loc: &str) {
        self.store.delete(&StorePath::from(loc)).await.unwrap();
    }

    fn loc(&self, seq: u64) -> String {
        self.seals
            .iter()
            .find(|(l, s)| s.seq == seq && !l.ends_with(".bak"))
            .map(|(l, _)| l.clone())
            .unwrap()
    }

    async fn verify(&self, f: impl FnOnce(&mut VerifyOptions)) -> Report {
        let mut opts = VerifyOptions {
            keyring: k0().verifying_key().into(),
            streams: Vec::new(),
            since_ns: None,
            until_ns: None,
            progress: None,
        };
        f(&mut opts);
        verify_store(&self.store, &StorePath::from(PREFIX), &opts)
            .await
            .unwrap()
    }
}

/// The report's problems as (kind, object), sorted.
fn problems(r: &Report) -> Vec<(ProblemKind, String)> {
    let mut v: Vec<_> = r
        .problems
        .iter()
        .map(|p| (p.kind, p.object.clone()))
        .collect();
    v.sort();
    v
}

fn want(expected: &[(ProblemKind, &str)]) -> Vec<(ProblemKind, String)> {
    let mut v: Vec<_> = expected.iter().map(|(k, o)| (*k, o.to_string())).collect();
    v.sort();
    v
}

#[track_caller]
fn assert_valid(r: &Report) {
    assert!(r.is_valid(), "{}", r.render_text());
}

#[tokio::test]
async fn the_window_keeps_segments_that_end_after_since_and_start_before_until() {
    let a = Archive::with_chain(&minutes(6)).await;
    // Seq 1 ends exactly at --since: outside. One nanosecond earlier, inside.
    let r = a.verify(|o| o.since_ns = Some(T0 + 2 * MIN)).await;
    assert_valid(&r);
    assert_eq!((r.streams[0].first_seq, r.skipped), (2, 2));
    let r = a.verify(|o| o.since_ns = Some(T0 + 2 * MIN - 1)).await;
    assert_valid(&r);
    assert_eq!((r.streams[0].first_seq, r.skipped), (1, 1));
    // Seq 4 starts exactly at --until: outside. One nanosecond later, inside.
    let r = a.verify(|o| o.until_ns = Some(T0 + 4 * MIN)).await;
    assert_valid(&r);
    assert_eq!((r.streams[0].last_seq, r.skipped), (3, 2));
    let r = a.verify(|o| o.until_ns = Some(T0 + 4 * MIN + 1)).await;
    assert_valid(&r);
    assert_eq!((r.streams[0].last_seq, r.skipped), (4, 1));
}

#[tokio::test]
async fn head_and_tail_are_checked_to_the_nanosecond() {
    let a = Archive::with_chain(&minutes(6)).await;
    a.delete(&a.loc(0)).await;
    a.delete(&a.loc(1)).await;
    a.delete(&a.loc(5)).await;
    // Seq 2 starts at T0 + 2 min: a window from then is covered, from 1 ns before not.
    let r = a
        .verify(|o| {
            o.since_ns = Some(T0 + 2 * MIN);
            o.until_ns = Some(T0 + 5 * MIN);
        })
        .await;
    assert_valid(&r);
    let r = a.verify(|o| o.since_ns = Some(T0 + 2 * MIN - 1)).await;
    assert_eq!(problems(&r), want(&[(ProblemKind::HeadMissing, &a.loc(2))]));
    // Seq 4 ends at T0 + 5 min: a window to then is covered, to 1 ns after not.
    let r = a
        .verify(|o| {
            o.since_ns = Some(T0 + 2 * MIN);
            o.until_ns = Some(T0 + 5 * MIN + 1);
        })
        .await;
    assert_eq!(
        problems(&r),
        want(&[(ProblemKind::TailTruncated, &a.loc(4))])
    );
}

#[tokio::test]
async fn the_heartbeat_slack_is_ten_percent_plus_five_seconds_exactly() {
    // 60 000 ms: 60 s + 6 s + 5 s = 71 s allowed. 7 ms: 7 ms + 0.7 ms + 5 s.
    for (heartbeat_ms, allowed) in [(60_000u64, 71 * SEC), (7, 5_007_700_000)] {
        for (over, kind) in [
            (0, SealKind::Normal),
            (1, SealKind::Normal),
            (1, SealKind::Stop),
        ] {
            let mut specs = minutes(1);
            specs.push(Spec {
                kind,
                heartbeat_ms,
                ..Spec::normal(T0 + MIN, T0 + MIN + allowed + over)
            });
            let a = Archive::with_chain(&specs).await;
            let r = a.verify(|_| {}).await;
            let what = format!("promise {heartbeat_ms} ms, {over} ns over, {kind:?}");
            if over == 0 {
                assert!(r.is_valid(), "{what}: {}", r.render_text());
            } else {
                assert_eq!(
                    problems(&r),
                    want(&[(ProblemKind::HeartbeatGap, &a.loc(1))]),
                    "{what}"
                );
            }
        }
    }
    // A resume segment is not bound by the promise.
    let mut specs = minutes(1);
    specs.push(Spec {
        kind: SealKind::Resume,
        ..Spec::normal(T0 + MIN, T0 + MIN + 3600 * SEC)
    });
    assert_valid(&Archive::with_chain(&specs).await.verify(|_| {}).await);
}

#[tokio::test]
async fn no_segments_is_an_empty_archive_an_empty_stream_or_an_empty_window() {
    let prefix = format!("{PREFIX}/");
    let r = Archive::new().verify(|_| {}).await;
    assert_eq!(problems(&r), want(&[(ProblemKind::NoSegments, &prefix)]));
    let a = Archive::with_chain(&minutes(3)).await;
    let r = a.verify(|o| o.streams = vec!["nobody".into()]).await;
    assert_eq!(
        problems(&r),
        want(&[(ProblemKind::NoSegments, &format!("{PREFIX}/nobody/"))])
    );
    // Every segment starts at or after --until.
    let r = a.verify(|o| o.until_ns = Some(T0)).await;
    assert_eq!(problems(&r), want(&[(ProblemKind::NoSegments, &prefix)]));
    assert_eq!(r.skipped, 3);
    // Every segment's key date ends before --since: none is read.
    let r = a.verify(|o| o.since_ns = Some(T0 + 86_400 * SEC)).await;
    assert_eq!(problems(&r), want(&[(ProblemKind::NoSegments, &prefix)]));
    assert_eq!(r.skipped, 3);
    // Read but ending before --since: nothing covers --since.
    let r = a.verify(|o| o.since_ns = Some(T0 + 10 * MIN)).await;
    assert_eq!(
        problems(&r),
        want(&[(ProblemKind::HeadMissing, &format!("{PREFIX}/host-a/"))])
    );
    // Objects that are all untrusted are their own problems, not no_segments.
    let mut b = Archive::new();
    let mut spec = minutes(1).remove(0);
    spec.key = k1();
    let loc = b.put_at_key(&build(&spec, 0, [0; 32], "x")).await;
    let r = b.verify(|_| {}).await;
    assert_eq!(problems(&r), want(&[(ProblemKind::WrongKey, &loc)]));
}

#[tokio::test]
async fn a_stream_that_begins_after_the_window_is_not_missing_its_head() {
    // Genesis at T0; the window is the hour before.
    let a = Archive::with_chain(&minutes(3)).await;
    let window = |o: &mut VerifyOptions| {
        o.since_ns = Some(T0 - 3600 * SEC);
        o.until_ns = Some(T0);
    };
    let r = a.verify(window).await;
    assert_eq!(
        problems(&r),
        want(&[(ProblemKind::NoSegments, &format!("{PREFIX}/"))]),
        "{}",
        r.render_text()
    );
    // Without its genesis, the history before seq 1 may have covered the window.
    a.delete(&a.loc(0)).await;
    let r = a.verify(window).await;
    assert_eq!(
        problems(&r),
        want(&[(ProblemKind::HeadMissing, &format!("{PREFIX}/host-a/"))])
    );
}

/// A second, authentic seal for seq 1 with other content (a fork), signed by `key`.
fn fork_of_seq_1(a: &Archive, key: SigningKey, end: i64) -> crate::segment::Sealed {
    let s1 = &a.seals.iter().find(|(_, s)| s.seq == 1).unwrap().1;
    let spec = Spec {
        events: 4,
        key,
        ..Spec::normal(s1.period_start_ns, end)
    };
    build(&spec, 1, s1.prev_hash, "fork")
}

#[tokio::test]
async fn each_copy_of_a_seq_gets_its_own_problems_and_the_chain_uses_the_primary() {
    // A fork under its own §6 key (a day later): both copies are at their keys, the
    // primary is the one whose key sorts first (the original), the fork is
    // duplicate_seq, and seq 2 links to the copy it names.
    let mut a = Archive::with_chain(&minutes(3)).await;
    let fork = fork_of_seq_1(&a, k0(), T0 + 2 * MIN + 86_400 * SEC);
    let fork_loc = a.put_at_key(&fork).await;
    let r = a.verify(|_| {}).await;
    assert_eq!(
        problems(&r),
        want(&[(ProblemKind::DuplicateSeq, &fork_loc)])
    );
    assert!(r.problems[0]
        .detail
        .contains("different seal: the chain forks"));
    assert_eq!(r.streams[0].events, 3, "the primary's events are counted");

    // The original moved to a `.bak` name and the fork put at seq 1's key: the fork,
    // at its key, is the primary; the original is duplicate_seq and misplaced, and seq
    // 2, which names the original, still links to it (no chain_break). The fork's
    // period is what the chain tiles with, so it must tile for no more problems.
    let mut a = Archive::with_chain(&minutes(3)).await;
    let orig = a.loc(1);
    let bak = format!("{orig}.bak");
    let bytes = std::fs::read(a._dir.path().join(&orig)).unwrap();
    std::fs::write(a._dir.path().join(&bak), bytes).unwrap();
    let fork = fork_of_seq_1(&a, k0(), T0 + 2 * MIN);
    a.put(&orig, &fork).await;
    let r = a.verify(|_| {}).await;
    assert_eq!(
        problems(&r),
        want(&[
            (ProblemKind::DuplicateSeq, &bak),
            (ProblemKind::Misplaced, &bak)
        ]),
        "{}",
        r.render_text()
    );
    assert_eq!(
        r.streams[0].events,
        1 + 4 + 1,
        "the fork's events are counted"
    );

    // A copy signed by a key outside the keyring is not authentic: only wrong_key,
    // never a duplicate.
    let mut a = Archive::with_chain(&minutes(3)).await;
    let forged = fork_of_seq_1(&a, k1(), T0 + 2 * MIN);
    let forged_loc = format!("{}.bak", a.loc(1));
    a.put(&forged_loc, &forged).await;
    let r = a.verify(|_| {}).await;
    assert_eq!(problems(&r), want(&[(ProblemKind::WrongKey, &forged_loc)]));
}

#[tokio::test]
async fn a_fork_signed_by_a_retired_key_is_a_duplicate_and_retired() {
    // Keyring k0, k1: seq 1 rotates from k0 to k1; seq 2 and 3 are signed by k1.
    let next = k1().verifying_key().to_bytes();
    let mut specs = minutes(4);
    specs[1].kind = SealKind::Rotate;
    specs[1].next_key = Some(next);
    specs[2].key = k1();
    specs[3].key = k1();
    let mut a = Archive::with_chain(&specs).await;
    let ring = Keyring::new([k0().verifying_key(), k1().verifying_key()]);
    let r = a.verify(|o| o.keyring = ring.clone()).await;
    assert_valid(&r);
    // A fork of seq 2 signed by k0, hidden under a `.bak` name.
    let s2 = a.seals.iter().find(|(_, s)| s.seq == 2).unwrap().1.clone();
    let spec = Spec {
        events: 2,
        ..Spec::normal(s2.period_start_ns, s2.period_end_ns)
    };
    let fork = build(&spec, 2, s2.prev_hash, "fork");
    let bak = format!("{}.bak", a.loc(2));
    a.put(&bak, &fork).await;
    let r = a.verify(|o| o.keyring = ring).await;
    assert_eq!(
        problems(&r),
        want(&[
            (ProblemKind::DuplicateSeq, &bak),
            (ProblemKind::Misplaced, &bak),
            (ProblemKind::RetiredKey, &bak),
        ]),
        "{}",
        r.render_text()
    );
}
