//! Builds real segment chains with `SegmentBuilder`, stores them through
//! `object_store::local::LocalFileSystem`, tampers with the files, and checks that the
//! verifier reports each tampering as its specific problem kind. Every case is verified
//! twice: in the directory, and uploaded to a bucket of a real S3 server (moto) and
//! verified through S3, where the report must be the same.

mod common;

use ed25519_dalek::SigningKey;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutPayload};
use sealtrail::segment::{object_key, Seal, SealHeader, SealKind, SegmentBuilder};
use sealtrail::verify::{verify_store, Downtime, ProblemKind, Report, VerifyOptions};
use std::path::PathBuf;

const T0: i64 = 1_714_564_800_000_000_000; // 2024-05-01T12:00:00Z
const SEC: i64 = 1_000_000_000;
const PERIOD: i64 = 60 * SEC;
const HEARTBEAT_MS: u64 = 60_000;
const PREFIX: &str = "archive";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// One segment as the sealer would describe it.
#[derive(Clone)]
struct Spec {
    stream: &'static str,
    kind: SealKind,
    start: i64,
    end: i64,
    events: usize,
}

struct Archive {
    dir: tempfile::TempDir,
    store: LocalFileSystem,
    /// Per built segment: object location (relative to the store root) and its seal.
    segs: Vec<(String, Seal)>,
}

impl Archive {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        Archive {
            dir,
            store,
            segs: Vec::new(),
        }
    }

    /// Builds and stores a chain of segments for one stream, seq 0.., tiling time.
    async fn chain(&mut self, specs: &[Spec]) {
        let mut builder = SegmentBuilder::new(1).unwrap();
        let mut prev = [0u8; 32];
        for (seq, s) in specs.iter().enumerate() {
            let sealed = build(&mut builder, s, seq as u64, prev, &key());
            prev = sealed.seal.hash();
            self.put(&sealed.seal, sealed.bytes).await;
        }
    }

    async fn put(&mut self, seal: &Seal, bytes: Vec<u8>) -> String {
        let loc = format!(
            "{PREFIX}/{}",
            object_key(&seal.stream, seal.seq, seal.period_end_ns)
        );
        self.store
            .put(&StorePath::from(loc.as_str()), PutPayload::from(bytes))
            .await
            .unwrap();
        self.segs.push((loc.clone(), seal.clone()));
        loc
    }

    fn file(&self, loc: &str) -> PathBuf {
        self.dir.path().join(loc)
    }

    fn loc(&self, stream: &str, seq: u64) -> String {
        self.segs
            .iter()
            .find(|(_, s)| s.stream == stream && s.seq == seq)
            .map(|(l, _)| l.clone())
            .unwrap()
    }

    fn seal(&self, stream: &str, seq: u64) -> Seal {
        self.segs
            .iter()
            .find(|(_, s)| s.stream == stream && s.seq == seq)
            .map(|(_, s)| s.clone())
            .unwrap()
    }

    async fn verify(&self, f: impl FnOnce(&mut VerifyOptions)) -> Report {
        let mut opts = VerifyOptions {
            keyring: key().verifying_key().into(),
            streams: Vec::new(),
            since_ns: None,
            until_ns: None,
            progress: None,
        };
        f(&mut opts);
        let local = verify_store(&self.store, &StorePath::from(PREFIX), &opts)
            .await
            .unwrap();
        let remote = self.verify_in_bucket(&opts).await;
        let problems = |r: &Report| {
            let mut p: Vec<(ProblemKind, String, String)> = r
                .problems
                .iter()
                .map(|p| (p.kind, p.object.clone(), p.detail.clone()))
                .collect();
            p.sort();
            p
        };
        assert_eq!(
            problems(&local),
            problems(&remote),
            "the bucket's report differs from the directory's:\n--- directory ---\n{}--- bucket ---\n{}",
            local.render_text(),
            remote.render_text()
        );
        assert_eq!(local.streams, remote.streams);
        assert_eq!(local.objects, remote.objects);
        local
    }

    /// The same objects uploaded to a fresh bucket of the shared moto server, verified
    /// through S3.
    async fn verify_in_bucket(&self, opts: &VerifyOptions) -> Report {
        static BUCKETS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let server = common::s3::S3Server::moto_shared();
        let n = BUCKETS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bucket = format!("tamper-{}-{n}", std::process::id());
        server.create_bucket(&bucket, false);
        for rel in common::archive_files(self.dir.path()) {
            let bytes = std::fs::read(self.dir.path().join(&rel)).unwrap();
            assert_eq!(server.put_plain(&bucket, &rel, &bytes), 200, "upload {rel}");
        }
        let secret = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(secret.path(), server.secret_key()).unwrap();
        let archive = sealtrail::store::open(
            &sealtrail::config::ArchiveSection {
                url: format!("s3://{bucket}"),
                endpoint: Some(server.endpoint.clone()),
                allow_http: true,
                credentials: sealtrail::config::CredentialsSection {
                    access_key_id: Some(server.access_key().to_string()),
                    secret_access_key_file: Some(secret.path().to_path_buf()),
                    ..Default::default()
                },
                ..Default::default()
            },
            false,
        )
        .unwrap();
        verify_store(archive.store.as_ref(), &StorePath::from(PREFIX), opts)
            .await
            .unwrap()
    }
}

fn build(
    builder: &mut SegmentBuilder,
    s: &Spec,
    seq: u64,
    prev: [u8; 32],
    key: &SigningKey,
) -> sealtrail::segment::Sealed {
    for i in 0..s.events {
        let t = s.start + i as i64 * SEC;
        builder.push_with(t, |buf| {
            buf.extend_from_slice(
                format!(
                    "{{\"@timestamp\":{t},\"message\":\"event {i} of seq {seq} in {}\"}}",
                    s.stream
                )
                .as_bytes(),
            )
        });
    }
    builder
        .finish(
            SealHeader {
                kind: s.kind,
                stream: s.stream.into(),
                seq,
                prev_hash: prev,
                period_start_ns: s.start,
                period_end_ns: s.end,
                heartbeat_ms: HEARTBEAT_MS,
                next_key: None,
            },
            key,
        )
        .unwrap()
}

/// `n` normal one-minute segments from T0; every third one is an empty heartbeat.
fn specs(stream: &'static str, n: usize) -> Vec<Spec> {
    (0..n)
        .map(|i| Spec {
            stream,
            kind: SealKind::Normal,
            start: T0 + i as i64 * PERIOD,
            end: T0 + (i as i64 + 1) * PERIOD,
            events: if i % 3 == 2 { 0 } else { 3 + i },
        })
        .collect()
}

async fn clean(n: usize) -> Archive {
    let mut a = Archive::new();
    a.chain(&specs("host-a", n)).await;
    a
}

/// The report has exactly these problems (kind, object), in any order.
fn assert_problems(r: &Report, expected: &[(ProblemKind, &str)]) {
    assert!(!r.is_valid(), "expected problems, got a valid report");
    let mut got: Vec<(ProblemKind, String)> = r
        .problems
        .iter()
        .map(|p| (p.kind, p.object.clone()))
        .collect();
    let mut want: Vec<(ProblemKind, String)> =
        expected.iter().map(|(k, o)| (*k, o.to_string())).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "report:\n{}", r.render_text());
}

fn flip(path: &std::path::Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x40;
    std::fs::write(path, b).unwrap();
}

#[tokio::test]
async fn clean_chain_verifies() {
    let a = clean(6).await;
    let r = a.verify(|o| o.until_ns = Some(T0 + 6 * PERIOD)).await;
    assert!(r.is_valid(), "{}", r.render_text());
    assert_eq!(r.objects, 6);
    assert_eq!(r.streams.len(), 1);
    let s = &r.streams[0];
    assert_eq!((s.segments, s.first_seq, s.last_seq), (6, 0, 5));
    assert_eq!(s.events, 3 + 4 + 6 + 7);
    assert_eq!(s.empty_segments, 2);
    assert_eq!((s.period_start_ns, s.period_end_ns), (T0, T0 + 6 * PERIOD));
    assert!(s.downtime.is_empty());
    assert!(r.render_text().contains("verdict: VALID"));
    assert_eq!(r.to_json()["valid"], true);
}

#[tokio::test]
async fn flipped_byte_in_data() {
    let a = clean(4).await;
    let loc = a.loc("host-a", 1);
    flip(&a.file(&loc), 20);
    let r = a.verify(|_| {}).await;
    assert_problems(&r, &[(ProblemKind::ContentHashMismatch, &loc)]);
}

#[tokio::test]
async fn flipped_byte_in_seal() {
    let a = clean(4).await;
    let loc = a.loc("host-a", 2);
    let len = std::fs::metadata(a.file(&loc)).unwrap().len() as usize;
    // Inside the Merkle root: signature (64) and key id (8) are the last 72 bytes.
    flip(&a.file(&loc), len - 64 - 8 - 10);
    let r = a.verify(|_| {}).await;
    assert_problems(&r, &[(ProblemKind::BadSignature, &loc)]);
}

#[tokio::test]
async fn deleted_middle_segment() {
    let a = clean(5).await;
    std::fs::remove_file(a.file(&a.loc("host-a", 2))).unwrap();
    let r = a.verify(|_| {}).await;
    assert_problems(&r, &[(ProblemKind::SequenceGap, &a.loc("host-a", 3))]);
    assert!(
        r.problems[0].detail.starts_with("seq 2 missing"),
        "{}",
        r.problems[0].detail
    );
}

#[tokio::test]
async fn newest_segment_deleted_is_caught_with_until() {
    let a = clean(5).await;
    std::fs::remove_file(a.file(&a.loc("host-a", 4))).unwrap();
    // Without a trusted end time, a shortened chain is indistinguishable from a short one.
    assert!(a.verify(|_| {}).await.is_valid());
    let r = a.verify(|o| o.until_ns = Some(T0 + 5 * PERIOD)).await;
    assert_problems(&r, &[(ProblemKind::TailTruncated, &a.loc("host-a", 3))]);
}

#[tokio::test]
async fn two_segments_swapped() {
    let a = clean(5).await;
    let (l1, l2) = (a.loc("host-a", 1), a.loc("host-a", 2));
    let (b1, b2) = (
        std::fs::read(a.file(&l1)).unwrap(),
        std::fs::read(a.file(&l2)).unwrap(),
    );
    std::fs::write(a.file(&l1), b2).unwrap();
    std::fs::write(a.file(&l2), b1).unwrap();
    let r = a.verify(|_| {}).await;
    assert_problems(
        &r,
        &[
            (ProblemKind::OutOfOrder, &l1),
            (ProblemKind::OutOfOrder, &l2),
        ],
    );
}

#[tokio::test]
async fn segment_resigned_with_another_key() {
    let mut a = clean(4).await;
    let orig = a.seal("host-a", 2);
    let loc = a.loc("host-a", 2);
    // The forger rebuilds seq 2 with altered content, same place in the chain.
    let mut b = SegmentBuilder::new(1).unwrap();
    let spec = Spec {
        stream: "host-a",
        kind: SealKind::Normal,
        start: orig.period_start_ns,
        end: orig.period_end_ns,
        events: 1,
    };
    let forged = build(
        &mut b,
        &spec,
        2,
        orig.prev_hash,
        &SigningKey::from_bytes(&[9u8; 32]),
    );
    std::fs::write(a.file(&loc), &forged.bytes).unwrap();
    a.segs.retain(|(l, _)| *l != loc);
    let r = a.verify(|_| {}).await;
    // One problem: seq 3's broken link to the forged seal is not reported again.
    assert_problems(&r, &[(ProblemKind::WrongKey, &loc)]);
}

#[tokio::test]
async fn segment_spliced_from_another_stream() {
    let mut a = clean(4).await;
    a.chain(&specs("host-b", 4)).await;
    let target = a.loc("host-a", 2);
    std::fs::copy(a.file(&a.loc("host-b", 2)), a.file(&target)).unwrap();
    let r = a.verify(|_| {}).await;
    assert_problems(&r, &[(ProblemKind::ForeignStream, &target)]);
    assert_eq!(r.streams.len(), 2);
    // Restricting to the victim stream reports the same.
    let r = a.verify(|o| o.streams = vec!["host-a".into()]).await;
    assert_problems(&r, &[(ProblemKind::ForeignStream, &target)]);
    assert_eq!(r.streams.len(), 1);
}

#[tokio::test]
async fn truncated_object() {
    let a = clean(4).await;
    let loc = a.loc("host-a", 1);
    let b = std::fs::read(a.file(&loc)).unwrap();
    std::fs::write(a.file(&loc), &b[..b.len() - 30]).unwrap();
    let r = a.verify(|_| {}).await;
    assert_problems(&r, &[(ProblemKind::Truncated, &loc)]);
    // Cut inside the data frame too.
    std::fs::write(a.file(&loc), &b[..10]).unwrap();
    let r = a.verify(|_| {}).await;
    assert_problems(&r, &[(ProblemKind::Truncated, &loc)]);
}

#[tokio::test]
async fn heartbeat_gap_and_resume_downtime() {
    let mut s = specs("host-a", 3);
    let gap_end = s[2].end + 10 * PERIOD;
    // seq 3: a normal segment spanning 10 minutes with a 1-minute promise.
    s.push(Spec {
        stream: "host-a",
        kind: SealKind::Normal,
        start: s[2].end,
        end: gap_end,
        events: 2,
    });
    // seq 4: resume after a one-hour downtime: listed, not a failure.
    s.push(Spec {
        stream: "host-a",
        kind: SealKind::Resume,
        start: gap_end,
        end: gap_end + 3600 * SEC,
        events: 1,
    });
    let mut a = Archive::new();
    a.chain(&s).await;
    let r = a.verify(|_| {}).await;
    assert_problems(&r, &[(ProblemKind::HeartbeatGap, &a.loc("host-a", 3))]);
    assert_eq!(
        r.streams[0].downtime,
        vec![Downtime {
            start_ns: gap_end,
            end_ns: gap_end + 3600 * SEC,
            planned: false
        }]
    );
    let text = r.render_text();
    assert!(
        text.contains("down ") && text.contains("(1h 0m), not after a stop segment"),
        "{text}"
    );
}

#[tokio::test]
async fn a_stop_then_a_resume_is_planned_downtime_and_a_stop_then_a_normal_segment_is_not() {
    let mut s = specs("host-a", 2);
    let stop_at = s[1].end + PERIOD;
    // seq 2: stopped on purpose; seq 3: the resume an hour later; seq 4: a normal one.
    s.push(Spec {
        stream: "host-a",
        kind: SealKind::Stop,
        start: s[1].end,
        end: stop_at,
        events: 1,
    });
    s.push(Spec {
        stream: "host-a",
        kind: SealKind::Resume,
        start: stop_at,
        end: stop_at + 3600 * SEC,
        events: 0,
    });
    s.push(Spec {
        stream: "host-a",
        kind: SealKind::Normal,
        start: stop_at + 3600 * SEC,
        end: stop_at + 3600 * SEC + PERIOD,
        events: 1,
    });
    let mut a = Archive::new();
    a.chain(&s).await;
    let r = a.verify(|_| {}).await;
    assert!(r.is_valid(), "{}", r.render_text());
    assert_eq!(
        r.streams[0].downtime,
        vec![Downtime {
            start_ns: stop_at,
            end_ns: stop_at + 3600 * SEC,
            planned: true
        }]
    );
    assert_eq!(
        r.streams[0].stopped_ns, None,
        "the chain went on after the stop"
    );
    assert!(r.render_text().contains("after a planned stop"));

    // A normal segment straight after a stop: a stop ends a run.
    let mut s = specs("host-b", 2);
    s.push(Spec {
        stream: "host-b",
        kind: SealKind::Stop,
        start: s[1].end,
        end: s[1].end + PERIOD,
        events: 1,
    });
    s.push(Spec {
        stream: "host-b",
        kind: SealKind::Normal,
        start: s[1].end + PERIOD,
        end: s[1].end + 2 * PERIOD,
        events: 1,
    });
    let mut b = Archive::new();
    b.chain(&s).await;
    let r = b.verify(|_| {}).await;
    assert_problems(&r, &[(ProblemKind::AfterStop, &b.loc("host-b", 3))]);
}

#[tokio::test]
async fn a_chain_ending_with_a_stop_is_not_truncated_before_until_but_says_so() {
    let mut s = specs("host-a", 2);
    let stop_at = s[1].end + PERIOD;
    s.push(Spec {
        stream: "host-a",
        kind: SealKind::Stop,
        start: s[1].end,
        end: stop_at,
        events: 1,
    });
    let mut a = Archive::new();
    a.chain(&s).await;
    let until = stop_at + 3600 * SEC;
    let r = a.verify(|o| o.until_ns = Some(until)).await;
    assert!(r.is_valid(), "{}", r.render_text());
    assert_eq!(r.streams[0].stopped_ns, Some(stop_at));
    let text = r.render_text();
    assert!(text.contains("stopped on purpose at"), "{text}");
    assert!(text.contains("only --anchor can tell"), "{text}");
    let json = r.to_json();
    assert_eq!(json["streams"][0]["tail"]["state"], "stopped");
    // The same chain without its stop segment is truncated before --until.
    let mut a = Archive::new();
    a.chain(&s[..2]).await;
    let r = a.verify(|o| o.until_ns = Some(until)).await;
    assert_problems(&r, &[(ProblemKind::TailTruncated, &a.loc("host-a", 1))]);
    // Without --until the tail is not checked, and the report says so.
    let r = a.verify(|_| {}).await;
    assert!(r.is_valid());
    assert!(
        r.render_text().contains("tail: not checked"),
        "{}",
        r.render_text()
    );
    assert_eq!(r.to_json()["streams"][0]["tail"]["state"], "unchecked");
}

#[tokio::test]
async fn since_with_missing_head() {
    let a = clean(6).await;
    std::fs::remove_file(a.file(&a.loc("host-a", 0))).unwrap();
    std::fs::remove_file(a.file(&a.loc("host-a", 1))).unwrap();
    // The auditor asks from T0 + 30 s: the first remaining segment starts at T0 + 2 min.
    let r = a.verify(|o| o.since_ns = Some(T0 + 30 * SEC)).await;
    assert_problems(&r, &[(ProblemKind::HeadMissing, &a.loc("host-a", 2))]);
    // From where the remaining chain starts, it is complete: the head anchors the chain.
    let r = a.verify(|o| o.since_ns = Some(T0 + 2 * PERIOD)).await;
    assert!(r.is_valid(), "{}", r.render_text());
    assert_eq!(r.streams[0].first_seq, 2);
    // Without --since, the chain must start at seq 0.
    let r = a.verify(|_| {}).await;
    assert_problems(&r, &[(ProblemKind::HeadMissing, &a.loc("host-a", 2))]);
}

#[tokio::test]
async fn since_skips_earlier_segments_even_if_damaged() {
    let a = clean(6).await;
    flip(&a.file(&a.loc("host-a", 0)), 20);
    let r = a.verify(|o| o.since_ns = Some(T0 + 3 * PERIOD)).await;
    assert!(r.is_valid(), "{}", r.render_text());
    assert_eq!(r.streams[0].first_seq, 3);
    assert_eq!(r.skipped, 3);
}

#[tokio::test]
async fn broken_link_and_period_mismatch() {
    let mut a = clean(3).await;
    let last = a.seal("host-a", 2);
    let mut b = SegmentBuilder::new(1).unwrap();
    // seq 3 signed by the right key, but naming the wrong predecessor.
    let s3 = Spec {
        stream: "host-a",
        kind: SealKind::Normal,
        start: last.period_end_ns,
        end: last.period_end_ns + PERIOD,
        events: 1,
    };
    let sealed = build(&mut b, &s3, 3, [1u8; 32], &key());
    let l3 = a.put(&sealed.seal, sealed.bytes).await;
    // seq 4 links correctly but leaves a 5 s hole in time.
    let s4 = Spec {
        start: s3.end + 5 * SEC,
        end: s3.end + PERIOD,
        ..s3.clone()
    };
    let sealed = build(&mut b, &s4, 4, sealed.seal.hash(), &key());
    let l4 = a.put(&sealed.seal, sealed.bytes).await;
    let r = a.verify(|_| {}).await;
    assert_problems(
        &r,
        &[
            (ProblemKind::ChainBreak, &l3),
            (ProblemKind::PeriodMismatch, &l4),
        ],
    );
}

#[tokio::test]
async fn forked_duplicate_seq() {
    let mut a = clean(3).await;
    let s1 = a.seal("host-a", 1);
    // A second, validly signed seq 1 whose period ends on another day: another key.
    let mut b = SegmentBuilder::new(1).unwrap();
    let spec = Spec {
        stream: "host-a",
        kind: SealKind::Normal,
        start: s1.period_start_ns,
        end: s1.period_end_ns + 86_400 * SEC,
        events: 1,
    };
    let sealed = build(&mut b, &spec, 1, s1.prev_hash, &key());
    let dup = a.put(&sealed.seal, sealed.bytes).await;
    let r = a.verify(|_| {}).await;
    assert!(
        r.count(ProblemKind::DuplicateSeq) == 1,
        "{}",
        r.render_text()
    );
    assert!(r
        .problems
        .iter()
        .any(|p| p.kind == ProblemKind::DuplicateSeq && p.object == dup));
}

#[tokio::test]
async fn a_fork_stored_under_a_wrong_key_is_still_a_duplicate_seq() {
    let a = clean(3).await;
    let s1 = a.seal("host-a", 1);
    // A second, validly signed seq 1 with other content, hidden under a `.bak` name.
    let mut b = SegmentBuilder::new(1).unwrap();
    let spec = Spec {
        stream: "host-a",
        kind: SealKind::Normal,
        start: s1.period_start_ns,
        end: s1.period_end_ns,
        events: 3,
    };
    let sealed = build(&mut b, &spec, 1, s1.prev_hash, &key());
    let hidden = format!("{}.bak", a.loc("host-a", 1));
    std::fs::write(a.file(&hidden), &sealed.bytes).unwrap();
    let r = a.verify(|_| {}).await;
    assert_problems(
        &r,
        &[
            (ProblemKind::DuplicateSeq, &hidden),
            (ProblemKind::Misplaced, &hidden),
        ],
    );
    let dup = r
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::DuplicateSeq)
        .unwrap();
    assert!(
        dup.detail.contains("different seal: the chain forks"),
        "{}",
        dup.detail
    );
    // An identical copy under a wrong name is only misplaced: no fork.
    let copy = format!("{}.bak", a.loc("host-a", 2));
    std::fs::copy(a.file(&a.loc("host-a", 2)), a.file(&copy)).unwrap();
    let r = a.verify(|_| {}).await;
    assert_eq!(r.count(ProblemKind::DuplicateSeq), 1, "{}", r.render_text());
    assert_eq!(r.count(ProblemKind::Misplaced), 2, "{}", r.render_text());
}

/// Replaces the seal of `loc` with `f(seal)`, signed with the chain's key.
fn reseal(a: &Archive, loc: &str, f: impl FnOnce(&mut Seal)) {
    common::reseal_file(&a.file(loc), &key(), f);
}

#[tokio::test]
async fn event_times_that_contradict_the_seal_are_invalid() {
    // clean(): seq 0 has events, seq 2 is an empty heartbeat.
    let a = clean(3).await;
    let busy = a.loc("host-a", 0);
    reseal(&a, &busy, |s| {
        std::mem::swap(&mut s.first_event_ns, &mut s.last_event_ns)
    });
    let empty = a.loc("host-a", 2);
    reseal(&a, &empty, |s| s.first_event_ns = T0);
    let r = a.verify(|_| {}).await;
    // (their hashes changed, so the links after them break too)
    assert_eq!(
        r.count(ProblemKind::InvalidEventTimes),
        2,
        "{}",
        r.render_text()
    );
    let text = r.render_text();
    assert!(text.contains("is after the last"), "{text}");
    assert!(
        text.contains("a heartbeat (no events) with event times"),
        "{text}"
    );
}

#[tokio::test]
async fn unsupported_version_is_explicit() {
    let a = clean(3).await;
    let loc = a.loc("host-a", 1);
    reseal(&a, &loc, |s| s.version = 2);
    let r = a.verify(|_| {}).await;
    assert_problems(&r, &[(ProblemKind::UnsupportedVersion, &loc)]);
}

#[tokio::test]
async fn empty_archive_and_unknown_stream() {
    let a = Archive::new();
    let r = a.verify(|_| {}).await;
    assert!(!r.is_valid());
    let a = clean(2).await;
    let r = a.verify(|o| o.streams = vec!["nobody".into()]).await;
    assert_eq!(r.count(ProblemKind::NoSegments), 1, "{}", r.render_text());
}

#[tokio::test]
async fn report_formats() {
    let a = clean(3).await;
    std::fs::remove_file(a.file(&a.loc("host-a", 1))).unwrap();
    let r = a.verify(|_| {}).await;
    let text = r.render_text();
    let mut lines = text.lines();
    // Who checked what, when: the header an auditor hands on with the verdict.
    let tool = lines.next().unwrap();
    assert!(
        tool.starts_with(&format!(
            "sealtrail {} (segment format 1), verified at 20",
            env!("CARGO_PKG_VERSION")
        )),
        "{tool}"
    );
    let archive = lines.next().unwrap();
    assert!(
        archive.contains("key id ") && archive.contains("window the whole archive"),
        "{archive}"
    );
    let first = lines.next().unwrap();
    assert_eq!(
        first.split(": ").take(2).collect::<Vec<_>>(),
        vec![a.loc("host-a", 2).as_str(), "sequence_gap"]
    );
    assert!(
        first.ends_with(&format!(
            "seq 1 missing (1 segment(s)); previous present is {}",
            a.loc("host-a", 0)
        )),
        "{first}"
    );
    assert!(text.contains("verdict: INVALID"));
    let j = r.to_json();
    assert_eq!(j["schema"], "sealtrail.verify.report/1");
    assert_eq!(j["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(j["valid"], false);
    assert_eq!(j["verdict"], "invalid");
    assert_eq!(j["problems"][0]["kind"], "sequence_gap");
    assert_eq!(j["key_ids"][0].as_str().unwrap().len(), 16);
    // Times are RFC 3339 strings; exact nanoseconds are kept as strings.
    let st = &j["streams"][0];
    assert_eq!(st["period_start"], "2024-05-01T12:00:00Z");
    assert_eq!(st["period_start_ns"], T0.to_string());
    assert!(j["verified_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn since_before_genesis_is_not_a_missing_head() {
    let a = clean(3).await;
    let r = a.verify(|o| o.since_ns = Some(T0 - 3600 * SEC)).await;
    assert!(r.is_valid(), "{}", r.render_text());
    assert_eq!(r.streams[0].first_seq, 0);
    // Not a failure (nothing existed before seq 0), but said.
    let text = r.render_text();
    assert!(text.contains("head: the stream begins (seq 0) at 2024-05-01T12:00:00Z, after --since 2024-05-01T11:00:00Z"), "{text}");
}

#[tokio::test]
async fn foreign_object_with_unparsable_key_is_misplaced() {
    let a = clean(3).await;
    let loc = a.loc("host-a", 1);
    let renamed = format!("{loc}.bak");
    std::fs::rename(a.file(&loc), a.file(&renamed)).unwrap();
    let r = a.verify(|_| {}).await;
    // Renamed, not deleted: the seal is still in the chain, only its name is wrong.
    assert_problems(&r, &[(ProblemKind::Misplaced, &renamed)]);
}

#[tokio::test]
async fn spliced_segment_from_outside_the_window_is_still_reported() {
    let mut a = clean(6).await;
    // host-b's segments are a day older: outside any window on host-a's day.
    let older: Vec<Spec> = specs("host-b", 2)
        .into_iter()
        .map(|s| Spec {
            start: s.start - 86_400 * SEC,
            end: s.end - 86_400 * SEC,
            ..s
        })
        .collect();
    a.chain(&older).await;
    let target = a.loc("host-a", 3);
    std::fs::copy(a.file(&a.loc("host-b", 0)), a.file(&target)).unwrap();
    let r = a
        .verify(|o| {
            o.streams = vec!["host-a".into()];
            o.since_ns = Some(T0 + 2 * PERIOD);
        })
        .await;
    assert_problems(&r, &[(ProblemKind::ForeignStream, &target)]);
}
