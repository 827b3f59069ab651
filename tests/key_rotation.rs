//! Key rotation end to end: `sealtrail rotate-key` against a running daemon and across
//! a restart, the keyring file the auditors get, and `verify` with a keyring: every
//! segment must be signed by the key its chain's rotation seals make valid for its seq,
//! so a segment re-sealed with a newer key (journald's CVE-2023-31439) or signed with a
//! retired one is its own failure.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use ed25519_dalek::SigningKey;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutPayload};
use sealtrail::segment::{object_key, Seal, SealHeader, SealKind, SegmentBuilder};
use sealtrail::verify::{verify_store, Keyring, ProblemKind, Report, VerifyOptions};

fn seal_kinds(archive: &Path) -> Vec<serde_json::Value> {
    read_archive(archive)
        .iter()
        .map(|o| {
            let out = sealtrail(&["inspect", "--seal-only", o.path.to_str().unwrap()]);
            assert_eq!(out.code, Some(0), "{}", out.describe());
            serde_json::from_str(out.stdout_str().trim()).unwrap()
        })
        .collect()
}

#[test]
fn rotate_key_on_a_running_daemon_and_across_a_restart_verifies_with_the_keyring() {
    let env = TestEnv::new();
    let (cfg, port) = tcp_config("rotating");
    let cfg_path = env.config_path.to_str().unwrap().to_owned();
    let key = env.state_dir.join("signing.key");
    let keyring = env.state_dir.join("signing.keyring");

    // Run 1: events, a rotation while running, more events.
    let mut d = env.start(&cfg);
    send_tcp(port, b"<13>Dec  2 07:00:00 h app: before the rotation\n");
    d.wait_idle();
    let first_pub = std::fs::read_to_string(env.public_key(&cfg)).unwrap();
    let first_secret = std::fs::read(&key).unwrap();
    let out = sealtrail(&["rotate-key", "--config", &cfg_path, "--wait", "20"]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.describe(), env.logs());
    assert!(out.stdout_str().contains("rotated:"), "{}", out.describe());
    assert_ne!(
        std::fs::read(&key).unwrap(),
        first_secret,
        "the secret was replaced"
    );
    assert!(!env.state_dir.join("signing.next.key").exists());
    assert!(!env.state_dir.join("signing.next.pub").exists());
    send_tcp(
        port,
        b"<13>Dec  2 07:00:01 h app: after the first rotation\n",
    );
    d.wait_idle();
    d.stop();

    // A rotation asked for while the daemon is stopped is sealed at the next start.
    let out = sealtrail(&["rotate-key", "--config", &cfg_path]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(env.state_dir.join("signing.next.key").exists());
    let mut d = env.start(&cfg);
    send_tcp(port, b"<13>Dec  2 07:00:02 h app: after the restart\n");
    d.wait_idle();
    for _ in 0..100 {
        if !env.state_dir.join("signing.next.key").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !env.state_dir.join("signing.next.key").exists(),
        "{}",
        env.logs()
    );
    send_tcp(
        port,
        b"<13>Dec  2 07:00:03 h app: after the second rotation\n",
    );
    d.wait_idle();
    d.stop();

    let seals = seal_kinds(&env.archive_dir);
    let rotations: Vec<&serde_json::Value> =
        seals.iter().filter(|s| s["kind"] == "rotate").collect();
    assert_eq!(rotations.len(), 2, "{seals:?}");
    // Each rotation seal is signed by the key before it and names the key after it.
    for r in &rotations {
        let seq = r["seq"].as_u64().unwrap();
        let next = seals
            .iter()
            .find(|s| s["seq"].as_u64() == Some(seq + 1))
            .unwrap();
        assert_eq!(next["key_id"], r["next_key_id"], "{r}\n{next}");
        assert_ne!(r["key_id"], r["next_key_id"]);
    }

    // The keyring holds the three keys, oldest first; with it the archive verifies.
    let ring = std::fs::read_to_string(&keyring).unwrap();
    assert_eq!(ring.matches("BEGIN PUBLIC KEY").count(), 3, "{ring}");
    assert!(
        ring.starts_with('#') && ring.contains(first_pub.trim()),
        "{ring}"
    );
    let keyring_s = keyring.to_str().unwrap();
    let out = env.verify_with_key(&env.archive_dir, &keyring, &["--json"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let r = verify_json(&out);
    assert_eq!(r["key_ids"].as_array().unwrap().len(), 3, "{r}");
    let rot = r["streams"][0]["rotations"].as_array().unwrap();
    assert_eq!(rot.len(), 2, "{r}");
    assert!(rot.iter().all(|x| x["in_keyring"] == true), "{r}");
    assert_eq!(json_event_total(&r), 4);
    let text = sealtrail(&[
        "verify",
        env.archive_dir.to_str().unwrap(),
        "--keyring",
        keyring_s,
    ])
    .stdout_str();
    assert!(text.contains("key rotation at seq"), "{text}");
    assert!(text.contains("verdict: VALID"), "{text}");

    // With the first public key alone, what the later keys signed cannot be checked.
    let first = env.path().join("first.pub");
    std::fs::write(&first, &first_pub).unwrap();
    let out = env.verify_with_key(&env.archive_dir, &first, &["--json"]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let r = verify_json(&out);
    let kinds: Vec<&str> = r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(
        !kinds.is_empty() && kinds.iter().all(|k| *k == "wrong_key"),
        "{kinds:?}"
    );
    let rot = r["streams"][0]["rotations"].as_array().unwrap();
    assert_eq!(rot[0]["in_keyring"], false, "{r}");
}

#[test]
fn an_interrupted_rotation_is_finished_at_start_from_the_checkpoint() {
    let env = TestEnv::new();
    let (cfg, port) = tcp_config("interrupted");
    let cfg_path = env.config_path.to_str().unwrap().to_owned();
    let key = env.state_dir.join("signing.key");
    let d = env.start(&cfg);
    d.stop();
    let before = std::fs::read(&key).unwrap();
    let out = sealtrail(&["rotate-key", "--config", &cfg_path]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let next = std::fs::read(env.state_dir.join("signing.next.key")).unwrap();
    // Simulate the crash after the commit: the checkpoint names the next key, which is
    // still pending beside the old one.
    let cursor = env.state_dir.join("journal/cursors/sealer.json");
    let mut cp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cursor).unwrap()).unwrap();
    let next_pub =
        sealtrail::keys::load_verifying_key(&env.state_dir.join("signing.next.pub")).unwrap();
    cp["state"]["key_id"] = hex::encode(sealtrail::keys::key_id(&next_pub)).into();
    std::fs::write(&cursor, serde_json::to_vec(&cp).unwrap()).unwrap();
    let mut d = env.start(&cfg);
    send_tcp(port, b"<13>Dec  2 07:00:00 h app: hello\n");
    d.wait_idle();
    d.stop();
    assert_eq!(
        std::fs::read(&key).unwrap(),
        next,
        "the pending key was moved in"
    );
    assert_ne!(before, next);
    assert!(!env.state_dir.join("signing.next.key").exists());
    assert!(
        env.logs().contains("finished a key rotation"),
        "{}",
        env.logs()
    );
}

#[test]
fn rotate_key_every_rotates_on_schedule_and_the_keyring_verifies_it() {
    let env = TestEnv::new();
    let (mut cfg, port) = tcp_config("scheduled");
    cfg.seal_extra = "rotate_key_every = \"2s\"\n".into();
    let mut d = env.start(&cfg);
    let first = std::fs::read(env.state_dir.join("signing.key")).unwrap();
    for i in 0..6 {
        send_tcp(
            port,
            format!("<13>Dec  2 07:00:0{i} h app: tick {i}\n").as_bytes(),
        );
        std::thread::sleep(Duration::from_millis(700));
    }
    d.wait_idle();
    d.stop();
    assert_ne!(
        std::fs::read(env.state_dir.join("signing.key")).unwrap(),
        first
    );
    let rotations = seal_kinds(&env.archive_dir)
        .into_iter()
        .filter(|s| s["kind"] == "rotate")
        .count();
    assert!(rotations >= 1, "{}", env.logs());
    assert!(env.logs().contains("due for rotation"), "{}", env.logs());
    let ring = env.state_dir.join("signing.keyring");
    let out = env.verify_with_key(&env.archive_dir, &ring, &["--json"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let r = verify_json(&out);
    assert_eq!(
        r["streams"][0]["rotations"].as_array().unwrap().len(),
        rotations
    );
    assert_eq!(json_event_total(&r), 6);
}

// ---------------------------------------------------------------------------------------
// A two-key chain built with the segment library, and each key's misuse.

const T0: i64 = 1_714_564_800_000_000_000; // 2024-05-01T12:00:00Z
const PERIOD: i64 = 60_000_000_000;

fn k0() -> SigningKey {
    SigningKey::from_bytes(&[10u8; 32])
}
fn k1() -> SigningKey {
    SigningKey::from_bytes(&[11u8; 32])
}

/// Which key signs each seq, and where the rotation seal is.
struct Plan {
    signers: Vec<SigningKey>,
    rotate_at: Option<(u64, SigningKey)>,
}

/// Builds the chain (every link and period right, whatever key signs) into a fresh
/// directory archive.
async fn build(plan: &Plan) -> (tempfile::TempDir, LocalFileSystem, Vec<Seal>) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    let mut b = SegmentBuilder::new(1).unwrap();
    let mut prev = [0u8; 32];
    let mut seals = Vec::new();
    for (seq, key) in plan.signers.iter().enumerate() {
        let seq = seq as u64;
        let start = T0 + seq as i64 * PERIOD;
        b.push_line(format!("{{\"n\":{seq}}}").as_bytes(), start);
        let rotate = plan
            .rotate_at
            .as_ref()
            .filter(|(at, _)| *at == seq)
            .map(|(_, next)| next.verifying_key().to_bytes());
        let sealed = b
            .finish(
                SealHeader {
                    kind: if rotate.is_some() {
                        SealKind::Rotate
                    } else {
                        SealKind::Normal
                    },
                    stream: "s".into(),
                    seq,
                    prev_hash: prev,
                    period_start_ns: start,
                    period_end_ns: start + PERIOD,
                    heartbeat_ms: 60_000,
                    next_key: rotate,
                },
                key,
            )
            .unwrap();
        prev = sealed.seal.hash();
        let loc = format!("a/{}", object_key("s", seq, sealed.seal.period_end_ns));
        store
            .put(
                &StorePath::from(loc.as_str()),
                PutPayload::from(sealed.bytes),
            )
            .await
            .unwrap();
        seals.push(sealed.seal);
    }
    (dir, store, seals)
}

async fn verify(store: &LocalFileSystem, ring: &[SigningKey]) -> Report {
    let opts = VerifyOptions {
        keyring: Keyring::new(ring.iter().map(|k| k.verifying_key())),
        streams: Vec::new(),
        since_ns: None,
        until_ns: None,
        progress: None,
    };
    verify_store(store, &StorePath::from("a"), &opts)
        .await
        .unwrap()
}

fn kinds(r: &Report) -> Vec<(ProblemKind, u64)> {
    r.problems
        .iter()
        .map(|p| {
            let seq =
                sealtrail::segment::parse_object_key_parts(&p.object).map_or(u64::MAX, |k| k.seq);
            (p.kind, seq)
        })
        .collect()
}

/// K0 signs seqs 0..=2 (2 is the rotation seal naming K1), K1 signs 3..=5.
fn honest() -> Plan {
    Plan {
        signers: vec![k0(), k0(), k0(), k1(), k1(), k1()],
        rotate_at: Some((2, k1())),
    }
}

#[tokio::test]
async fn a_two_key_chain_verifies_with_its_keyring_in_order() {
    let (_d, store, seals) = build(&honest()).await;
    let r = verify(&store, &[k0(), k1()]).await;
    assert!(r.is_valid(), "{}", r.render_text());
    let st = &r.streams[0];
    assert_eq!(st.rotations.len(), 1);
    assert_eq!(st.rotations[0].seq, 2);
    assert_eq!(st.rotations[0].at_ns, seals[2].period_end_ns);
    assert!(st.rotations[0].known);
    assert_eq!(r.key_ids.len(), 2);
    // The keyring in the wrong order: K1 would be the first key, and K0 is introduced
    // by no rotation, so its genesis segment is not yet valid (and the rotation to K1,
    // an older key in this order, is refused).
    let r = verify(&store, &[k1(), k0()]).await;
    assert_eq!(
        kinds(&r),
        [0, 1, 2].map(|s| (ProblemKind::KeyNotYetValid, s)),
        "{}",
        r.render_text()
    );
}

#[tokio::test]
async fn an_older_range_resealed_with_the_newer_key_is_key_not_yet_valid() {
    // CVE-2023-31439's shape: whoever holds the new key re-seals the whole history with
    // it, links and periods intact, the rotation seal dropped.
    let (_d, store, _) = build(&Plan {
        signers: vec![k1(); 6],
        rotate_at: None,
    })
    .await;
    let r = verify(&store, &[k0(), k1()]).await;
    assert_eq!(
        kinds(&r),
        (0..6)
            .map(|s| (ProblemKind::KeyNotYetValid, s))
            .collect::<Vec<_>>(),
        "every segment is misuse on its own: {}",
        r.render_text()
    );
    assert!(
        r.problems[0]
            .detail
            .contains("no rotation seal introduces it"),
        "{}",
        r.render_text()
    );
    // Only the range before the rotation re-sealed (seq 1 with K1, chain relinked).
    let mut plan = honest();
    plan.signers[1] = k1();
    let (_d, store, _) = build(&plan).await;
    let r = verify(&store, &[k0(), k1()]).await;
    assert_eq!(
        kinds(&r),
        vec![(ProblemKind::KeyNotYetValid, 1)],
        "{}",
        r.render_text()
    );
}

#[tokio::test]
async fn the_retired_key_signing_after_the_rotation_is_retired_key() {
    let mut plan = honest();
    plan.signers[4] = k0();
    let (_d, store, _) = build(&plan).await;
    let r = verify(&store, &[k0(), k1()]).await;
    assert_eq!(
        kinds(&r),
        vec![(ProblemKind::RetiredKey, 4)],
        "{}",
        r.render_text()
    );
    assert!(
        r.problems[0]
            .detail
            .contains("by the rotation seal at seq 2"),
        "{}",
        r.render_text()
    );
    // After the rotation, K0 signing everything (as if the rotation never took) is
    // every later seq retired.
    let mut plan = honest();
    for s in &mut plan.signers[3..] {
        *s = k0();
    }
    let (_d, store, _) = build(&plan).await;
    let r = verify(&store, &[k0(), k1()]).await;
    assert_eq!(
        kinds(&r),
        vec![
            (ProblemKind::RetiredKey, 3),
            (ProblemKind::RetiredKey, 4),
            (ProblemKind::RetiredKey, 5)
        ],
        "{}",
        r.render_text()
    );
}

#[tokio::test]
async fn without_the_new_key_its_segments_are_wrong_key_and_the_rotation_says_so() {
    let (_d, store, _) = build(&honest()).await;
    let r = verify(&store, &[k0()]).await;
    assert_eq!(
        kinds(&r),
        vec![
            (ProblemKind::WrongKey, 3),
            (ProblemKind::WrongKey, 4),
            (ProblemKind::WrongKey, 5)
        ],
        "{}",
        r.render_text()
    );
    let st = &r.streams[0];
    assert!(!st.rotations[0].known);
    assert!(
        r.render_text().contains("not in the keyring"),
        "{}",
        r.render_text()
    );
    // A rotation seal that hands over to an older key is refused too.
    let (_d, store, _) = build(&Plan {
        signers: vec![k1(), k1(), k0()],
        rotate_at: Some((1, k0())),
    })
    .await;
    let r = verify(&store, &[k1(), k0()]).await;
    assert!(r.is_valid(), "k1 first, then k0: {}", r.render_text());
    let r = verify(&store, &[k0(), k1()]).await;
    assert!(
        kinds(&r).contains(&(ProblemKind::KeyNotYetValid, 0)),
        "{}",
        r.render_text()
    );
}

#[tokio::test]
async fn a_fork_signed_by_the_retired_key_is_misplaced_retired_and_a_duplicate() {
    let (_d, store, seals) = build(&honest()).await;
    // Seq 4 again, other events, signed by the retired K0, hidden under a .bak key.
    let mut b = SegmentBuilder::new(1).unwrap();
    b.push_line(b"{\"n\":\"forged\"}", seals[4].period_start_ns);
    let fork = b
        .finish(
            SealHeader {
                kind: SealKind::Normal,
                stream: "s".into(),
                seq: 4,
                prev_hash: seals[3].hash(),
                period_start_ns: seals[4].period_start_ns,
                period_end_ns: seals[4].period_end_ns,
                heartbeat_ms: 60_000,
                next_key: None,
            },
            &k0(),
        )
        .unwrap();
    let bak = format!("a/{}.bak", object_key("s", 4, seals[4].period_end_ns));
    store
        .put(&StorePath::from(bak.as_str()), PutPayload::from(fork.bytes))
        .await
        .unwrap();
    let r = verify(&store, &[k0(), k1()]).await;
    let mut on_bak: Vec<ProblemKind> = r
        .problems
        .iter()
        .filter(|p| p.object == bak)
        .map(|p| p.kind)
        .collect();
    on_bak.sort();
    let mut want = vec![
        ProblemKind::Misplaced,
        ProblemKind::RetiredKey,
        ProblemKind::DuplicateSeq,
    ];
    want.sort();
    assert_eq!(on_bak, want, "{}", r.render_text());
    assert_eq!(
        r.problems.len(),
        3,
        "nothing on the original: {}",
        r.render_text()
    );
}

/// Re-signs the segment file at `path` with `key` (its seal otherwise unchanged, so
/// the data still matches and only the key differs).
fn resign(path: &Path, key: &SigningKey) {
    reseal_file(path, key, |s| {
        s.key_id = sealtrail::keys::key_id(&key.verifying_key())
    });
}

#[test]
fn on_a_daemon_made_two_key_chain_each_keys_misuse_is_its_own_failure() {
    let env = TestEnv::new();
    let (cfg, port) = tcp_config("misuse");
    let cfg_path = env.config_path.to_str().unwrap().to_owned();
    let mut d = env.start(&cfg);
    for i in 0..3 {
        send_tcp(
            port,
            format!("<13>Dec  2 07:00:0{i} h app: before {i}\n").as_bytes(),
        );
        d.wait_idle();
    }
    // A heartbeat (2 s) passes: the events are sealed before the rotation.
    std::thread::sleep(Duration::from_millis(2600));
    // The auditors would never have the retired secret; the test keeps it to misuse it.
    let old = sealtrail::keys::load_signing_key(&env.state_dir.join("signing.key")).unwrap();
    let out = sealtrail(&["rotate-key", "--config", &cfg_path, "--wait", "20"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    for i in 0..3 {
        send_tcp(
            port,
            format!("<13>Dec  2 07:00:1{i} h app: after {i}\n").as_bytes(),
        );
        d.wait_idle();
    }
    std::thread::sleep(Duration::from_millis(2600));
    d.stop();
    let new = sealtrail::keys::load_signing_key(&env.state_dir.join("signing.key")).unwrap();
    let ring = env.state_dir.join("signing.keyring");
    let out = env.verify_with_key(&env.archive_dir, &ring, &[]);
    assert_eq!(out.code, Some(0), "the honest archive: {}", out.describe());

    let objects = read_archive(&env.archive_dir);
    let seals = seal_kinds(&env.archive_dir);
    let r = seals
        .iter()
        .find(|s| s["kind"] == "rotate")
        .and_then(|s| s["seq"].as_u64())
        .expect("a rotation seal");
    assert!(r >= 1, "segments before the rotation: {seals:?}");
    let path_of = |seq: u64| {
        objects
            .iter()
            .find(|o| o.key.ends_with(&format!("{seq:012}.seg.zst")))
            .map(|o| o.path.clone())
            .unwrap()
    };
    let problems = |archive: &Path| -> Vec<(String, u64)> {
        let out = env.verify_with_key(archive, &ring, &["--json"]);
        assert_eq!(out.code, Some(1), "{}", out.describe());
        verify_json(&out)["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let obj = p["object"].as_str().unwrap();
                let seq = obj
                    .rsplit('/')
                    .next()
                    .and_then(|f| f.strip_suffix(".seg.zst"))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(u64::MAX);
                (p["kind"].as_str().unwrap().to_owned(), seq)
            })
            .collect()
    };

    // The segment after the rotation seal signed by the retired key.
    let after = path_of(r + 1);
    let saved = std::fs::read(&after).unwrap();
    resign(&after, &old);
    let p = problems(&env.archive_dir);
    assert!(p.contains(&("retired_key".into(), r + 1)), "{p:?}");
    assert!(
        !p.iter()
            .any(|(k, _)| k == "key_not_yet_valid" || k == "wrong_key"),
        "{p:?}"
    );
    std::fs::write(&after, saved).unwrap();

    // A segment before the rotation re-signed with the new key (CVE-2023-31439).
    let before = path_of(r - 1);
    resign(&before, &new);
    let p = problems(&env.archive_dir);
    assert!(p.contains(&("key_not_yet_valid".into(), r - 1)), "{p:?}");
    assert_eq!(
        p.iter().filter(|(k, _)| k == "key_not_yet_valid").count(),
        1,
        "only the re-signed segment: {p:?}"
    );
    assert!(
        !p.iter()
            .any(|(k, _)| k == "retired_key" || k == "wrong_key"),
        "{p:?}"
    );
}
