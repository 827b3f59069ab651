//! `sealtrail prove` and `sealtrail check-proof` through the real binary: proofs of the
//! first, middle and last event of segments of 1, 2, 3 and 1,000 events (built with the
//! crate's own builder, so the sizes are exact, between heartbeats), each checked with
//! the public key alone; a changed byte anywhere fails; another key fails; chains to
//! the head and to an anchor; unknown ids and garbage give clear errors; and on a
//! daemon-made archive across a key rotation, proofs check with the keyring.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use ed25519_dalek::SigningKey;
use sealtrail::proof::{check, Proof};
use sealtrail::segment::{object_key, Seal, SealHeader, SealKind, SegmentBuilder};
use sealtrail::verify::Keyring;

const T0: i64 = 1_764_658_800_000_000_000; // 2025-12-02T07:00:00Z
const PERIOD: i64 = 60_000_000_000;
/// Events per segment, with heartbeats (0) between: seqs 0..=7.
const PLAN: [usize; 8] = [0, 1, 0, 2, 3, 0, 1000, 0];

struct Built {
    _env: TestEnv,
    archive: PathBuf,
    public: PathBuf,
    other_public: PathBuf,
    key: SigningKey,
    seals: Vec<Seal>,
    /// The positions of each segment's events, by seq.
    positions: Vec<Vec<u64>>,
    dir: PathBuf,
}

fn keygen(dir: &Path, name: &str) -> (SigningKey, PathBuf) {
    let secret = dir.join(format!("{name}.key"));
    let out = sealtrail(&["keygen", "--out", secret.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    (
        sealtrail::keys::load_signing_key(&secret).unwrap(),
        secret.with_extension("pub"),
    )
}

/// A compact event line (FORMAT.md §10.1) as the daemon writes one for a TCP message.
fn line(pos: u64, i: usize) -> String {
    format!(
        "{{\"v\":2,\"pos\":{pos},\"rcv\":{},\"in\":\"tcp\",\"peer\":\"192.0.2.1:40514\",\"o\":\"<13>Dec  2 07:00:00 web1 app[1]: event {i} at {pos}\"}}",
        T0 + i as i64
    )
}

fn build_archive() -> Built {
    let env = TestEnv::new();
    let dir = env.path().to_path_buf();
    let archive = dir.join("archive");
    let (key, public) = keygen(&dir, "signing");
    let (_, other_public) = keygen(&dir, "other");
    let mut b = SegmentBuilder::new(1).unwrap();
    let mut prev = [0u8; 32];
    let mut pos = 4096u64;
    let (mut seals, mut positions) = (Vec::new(), Vec::new());
    for (seq, &n) in PLAN.iter().enumerate() {
        let start = T0 + seq as i64 * PERIOD;
        let mut here = Vec::new();
        for i in 0..n {
            b.push_line(line(pos, i).as_bytes(), start + i as i64);
            here.push(pos);
            pos += 100 + (i as u64 % 7);
        }
        let sealed = b
            .finish(
                SealHeader {
                    kind: SealKind::Normal,
                    stream: "web1".into(),
                    seq: seq as u64,
                    prev_hash: prev,
                    period_start_ns: start,
                    period_end_ns: start + PERIOD,
                    heartbeat_ms: 60_000,
                    next_key: None,
                },
                &key,
            )
            .unwrap();
        prev = sealed.seal.hash();
        let path = archive.join(object_key("web1", seq as u64, sealed.seal.period_end_ns));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &sealed.bytes).unwrap();
        seals.push(sealed.seal);
        positions.push(here);
    }
    Built {
        _env: env,
        archive,
        public,
        other_public,
        key,
        seals,
        positions,
        dir,
    }
}

fn prove(b: &Built, id: &str, extra: &[&str]) -> (CmdOutput, PathBuf) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out_path = b.dir.join(format!("{}-{n}.proof", id.replace(':', "_")));
    let mut args = vec![
        "prove",
        id,
        "--archive",
        b.archive.to_str().unwrap(),
        "--key",
        b.public.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (sealtrail(&args), out_path)
}

fn check_proof(path: &Path, key: &Path, extra: &[&str]) -> CmdOutput {
    let mut args = vec![
        "check-proof",
        path.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    sealtrail(&args)
}

#[test]
fn proofs_of_first_middle_and_last_events_check_and_any_changed_byte_fails() {
    let b = build_archive();
    let ring = Keyring::new([b.key.verifying_key()]);
    for (seq, positions) in b.positions.iter().enumerate() {
        let n = positions.len();
        if n == 0 {
            continue;
        }
        // First, middle and last (one and the same for a segment of one event).
        let indices: std::collections::BTreeSet<usize> = [0, n / 2, n - 1].into();
        for index in indices {
            let id = format!("web1:{}", positions[index]);
            let (out, path) = prove(&b, &id, &[]);
            assert_eq!(out.code, Some(0), "{id}: {}", out.describe());
            // The search bisects: never every segment decoded for the big archive.
            assert!(
                out.stderr_str().contains("segments decoded"),
                "{}",
                out.describe()
            );
            let ok = check_proof(&path, &b.public, &["--json"]);
            assert_eq!(ok.code, Some(0), "{id}: {}", ok.describe());
            let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
            assert_eq!(v["valid"], true);
            assert_eq!(v["seq"], seq as u64, "{v}");
            assert_eq!(v["leaf_index"], index as u64, "{v}");
            assert_eq!(v["tree_size"], n as u64, "{v}");
            assert_eq!(v["event_id"], id.as_str());
            assert_eq!(
                v["seal_hash"],
                hex::encode(b.seals[seq].hash()).as_str(),
                "{v}"
            );
            assert_eq!(v["line"], line(positions[index], index).as_str());
            let text = check_proof(&path, &b.public, &[]);
            assert!(
                text.stdout_str().contains("VALID: event") && text.stdout_str().contains(&id),
                "{}",
                text.describe()
            );

            // Another key: the seal's key id is not in it.
            let other = check_proof(&path, &b.other_public, &[]);
            assert_eq!(other.code, Some(1), "{}", other.describe());
            assert!(
                other.stderr_str().contains("INVALID: wrong_key"),
                "{}",
                other.describe()
            );

            // A changed byte anywhere: every byte of the smallest proofs, through the
            // library; a dense sample (every 5th byte) for the 1,000-event segment.
            let bytes = std::fs::read(&path).unwrap();
            let step = if n >= 1000 { 5 } else { 1 };
            for i in (0..bytes.len()).step_by(step) {
                let mut m = bytes.clone();
                m[i] ^= [0x01u8, 0x02, 0x40, 0x80][i % 4];
                let verdict = Proof::parse(&m).and_then(|p| check(&p, &ring, None).map(|_| ()));
                assert!(verdict.is_err(), "{id}: byte {i} changed still checks");
            }
            // And a sample of them through the binary, across every member.
            let flipped = b.dir.join("flipped.proof");
            for k in 0..12 {
                let i = k * (bytes.len() - 1) / 11;
                let mut m = bytes.clone();
                m[i] ^= 0x01;
                std::fs::write(&flipped, &m).unwrap();
                let out = check_proof(&flipped, &b.public, &[]);
                assert_eq!(out.code, Some(1), "{id}: byte {i}: {}", out.describe());
                assert!(out.stderr_str().contains("INVALID"), "{}", out.describe());
            }
        }
    }
}

#[test]
fn every_byte_of_a_one_event_proof_matters_to_the_binary() {
    let b = build_archive();
    let id = format!("web1:{}", b.positions[1][0]);
    let (out, path) = prove(&b, &id, &[]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() < 1000, "{} bytes", bytes.len());
    let flipped = b.dir.join("flipped.proof");
    for i in 0..bytes.len() {
        let mut m = bytes.clone();
        m[i] ^= [0x01u8, 0x20, 0x80][i % 3];
        std::fs::write(&flipped, &m).unwrap();
        let out = check_proof(&flipped, &b.public, &[]);
        assert_eq!(out.code, Some(1), "byte {i}: {}", out.describe());
        assert!(!out.stderr_str().contains("panicked"), "{}", out.describe());
    }
}

#[test]
fn chains_to_the_head_and_to_an_anchor() {
    let b = build_archive();
    let last = *b.positions[4].last().unwrap();
    let id = format!("web1:{last}");
    let (out, path) = prove(&b, &id, &["--to-head"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let p = Proof::parse(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(p.chain.len(), PLAN.len() - 1 - 4, "seals 5, 6 and 7");
    let ok = check_proof(&path, &b.public, &["--json"]);
    assert_eq!(ok.code, Some(0), "{}", ok.describe());
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["head_seq"], 7);

    // An anchor at seq 6: the chain ends there, and check-proof confirms it.
    let anchor = b.dir.join("web1.anchor.json");
    std::fs::write(&anchor, sealtrail::segment::anchor::to_json(&b.seals[6])).unwrap();
    let (out, anchored) = prove(&b, &id, &["--to-anchor", anchor.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let anchor_s = anchor.to_str().unwrap();
    let ok = check_proof(&anchored, &b.public, &["--anchor", anchor_s]);
    assert_eq!(ok.code, Some(0), "{}", ok.describe());
    assert!(
        ok.stdout_str().contains("anchor: reached"),
        "{}",
        ok.describe()
    );
    // The proof to the head does not end at that anchor.
    let bad = check_proof(&path, &b.public, &["--anchor", anchor_s]);
    assert_eq!(bad.code, Some(1), "{}", bad.describe());
    assert!(
        bad.stderr_str().contains("anchor_mismatch"),
        "{}",
        bad.describe()
    );
    // An anchor before the event cannot be reached.
    let early = b.dir.join("early.anchor.json");
    std::fs::write(&early, sealtrail::segment::anchor::to_json(&b.seals[2])).unwrap();
    let (out, _) = prove(&b, &id, &["--to-anchor", early.to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stderr_str().contains("anchor"), "{}", out.describe());
}

#[test]
fn unknown_ids_and_garbage_give_clear_errors() {
    let b = build_archive();
    // A position between two events of the 1,000-event segment, one after the last,
    // one before the first.
    let mid = b.positions[6][500] + 1;
    let after = b.positions[6][999] + 10_000;
    for id in [
        format!("web1:{mid}"),
        format!("web1:{after}"),
        "web1:7".into(),
    ] {
        let (out, _) = prove(&b, &id, &[]);
        assert_eq!(out.code, Some(1), "{id}: {}", out.describe());
        assert!(
            out.stderr_str()
                .contains(&format!("no event {id} in the archive")),
            "{}",
            out.describe()
        );
    }
    let (out, _) = prove(&b, "db9:12", &[]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stderr_str().contains("no segment of stream \"db9\""),
        "{}",
        out.describe()
    );
    for bad in ["nocolon", "a/b:1", ":5"] {
        let (out, _) = prove(&b, bad, &[]);
        assert_eq!(out.code, Some(2), "{bad}: {}", out.describe());
        assert!(
            out.stderr_str().contains("is not an event id"),
            "{}",
            out.describe()
        );
    }

    let good_id = format!("web1:{}", b.positions[3][1]);
    let (out, path) = prove(&b, &good_id, &[]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let bytes = std::fs::read(&path).unwrap();
    let f = b.dir.join("garbage.proof");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("text", b"hello\n".to_vec()),
        ("binary", (0..=255u8).collect()),
        ("cut in half", bytes[..bytes.len() / 2].to_vec()),
        ("without its newline", bytes[..bytes.len() - 1].to_vec()),
        ("json", b"{\"sealtrail_proof\":1}\n".to_vec()),
    ];
    for (what, content) in cases {
        std::fs::write(&f, &content).unwrap();
        let out = check_proof(&f, &b.public, &["--json"]);
        assert_eq!(out.code, Some(1), "{what}: {}", out.describe());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["valid"], false, "{what}");
        assert!(
            ["malformed", "not_canonical"].contains(&v["kind"].as_str().unwrap()),
            "{what}: {v}"
        );
        assert!(!out.stderr_str().contains("panicked"), "{}", out.describe());
    }
    let missing = check_proof(&b.dir.join("absent.proof"), &b.public, &[]);
    assert_eq!(missing.code, Some(2), "{}", missing.describe());
}

#[test]
fn a_daemon_made_archive_across_a_key_rotation_proves_with_the_keyring() {
    let env = TestEnv::new();
    let (cfg, port) = tcp_config("proving");
    let cfg_path = env.config_path.to_str().unwrap().to_owned();
    let mut d = env.start(&cfg);
    send_tcp(port, b"<13>Dec  2 07:00:00 h app: before the rotation\n");
    d.wait_idle();
    let first_pub = env.path().join("first.pub");
    std::fs::copy(env.public_key(&cfg), &first_pub).unwrap();
    let out = sealtrail(&["rotate-key", "--config", &cfg_path, "--wait", "20"]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.describe(), env.logs());
    send_tcp(port, b"<13>Dec  2 07:00:01 h app: after the rotation\n");
    d.wait_idle();
    d.stop();

    let events = all_events(&read_archive(&env.archive_dir));
    let id_of = |needle: &str| {
        let found = events_with(&events, needle);
        assert_eq!(found.len(), 1, "{needle}: {found:?}");
        field_str(found[0], "event.id").unwrap().to_owned()
    };
    let before = id_of("before the rotation");
    let after = id_of("after the rotation");
    let ring = env.state_dir.join("signing.keyring");
    let archive = env.archive_dir.to_str().unwrap();
    let ring_s = ring.to_str().unwrap();
    for (id, chained) in [(&before, true), (&after, false), (&after, true)] {
        let out_path = env.path().join("event.proof");
        let mut args = vec![
            "prove",
            id.as_str(),
            "--archive",
            archive,
            "--key",
            ring_s,
            "-o",
            out_path.to_str().unwrap(),
        ];
        if chained {
            args.push("--to-head");
        }
        let out = sealtrail(&args);
        assert_eq!(out.code, Some(0), "{id}: {}", out.describe());
        let ok = check_proof(&out_path, &ring, &["--json"]);
        assert_eq!(ok.code, Some(0), "{id}: {}", ok.describe());
        let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
        assert_eq!(v["event_id"], id.as_str());
        assert!(v["line"].as_str().unwrap().contains("the rotation"), "{v}");

        // With the first key alone: the event after the rotation is signed by the
        // next key, and the chain from before it crosses into the next key's seals.
        let first = check_proof(&out_path, &first_pub, &[]);
        assert_eq!(first.code, Some(1), "{id}: {}", first.describe());
        let err = first.stderr_str();
        let expected = if chained && id == &before {
            "chain_broken"
        } else {
            "wrong_key"
        };
        assert!(err.contains(expected), "{id}: {err}");
    }
    // The event before the rotation without a chain: the first key suffices.
    let out_path = env.path().join("before.proof");
    let out = sealtrail(&[
        "prove",
        &before,
        "--archive",
        archive,
        "--key",
        first_pub.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let first = check_proof(&out_path, &first_pub, &[]);
    assert_eq!(first.code, Some(0), "{}", first.describe());
}

#[test]
fn prove_reads_an_s3_archive_as_verify_does() {
    use common::s3::S3Server;
    let b = build_archive();
    let server = S3Server::moto();
    server.create_bucket("audit", true);
    for (seq, seal) in b.seals.iter().enumerate() {
        let key = object_key("web1", seq as u64, seal.period_end_ns);
        let body = std::fs::read(b.archive.join(&key)).unwrap();
        assert_eq!(
            server.put_plain("audit", &format!("logs/{key}"), &body),
            200
        );
    }
    let id = format!("web1:{}", b.positions[6][999]);
    let out_path = b.dir.join("s3.proof");
    let out = run_cmd(
        std::process::Command::new(env!("CARGO_BIN_EXE_sealtrail"))
            .args(["prove", &id, "--archive", "s3://audit/logs", "--key"])
            .arg(&b.public)
            .args([
                "--endpoint",
                &server.endpoint,
                "--allow-http",
                "--to-head",
                "-o",
            ])
            .arg(&out_path)
            .env("AWS_ACCESS_KEY_ID", server.access_key())
            .env("AWS_SECRET_ACCESS_KEY", server.secret_key())
            .env_remove("AWS_PROFILE"),
        std::time::Duration::from_secs(120),
    );
    assert_eq!(out.code, Some(0), "{}\n{}", out.describe(), server.log());
    let ok = check_proof(&out_path, &b.public, &["--json"]);
    assert_eq!(ok.code, Some(0), "{}", ok.describe());
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(
        (v["seq"].as_u64(), v["leaf_index"].as_u64()),
        (Some(6), Some(999))
    );
    assert_eq!(v["head_seq"], 7);
    // The same proof as from the directory archive: the store changes nothing.
    let (out, local) = prove(&b, &id, &["--to-head"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(
        std::fs::read(local).unwrap(),
        std::fs::read(out_path).unwrap()
    );
    // From seq 1 the chain crosses the 1,000-event segment, of which only the seal is
    // fetched (range requests for its first and last bytes): the same proof again.
    let big = b
        .archive
        .join(object_key("web1", 6, b.seals[6].period_end_ns));
    let big = std::fs::metadata(big).unwrap().len();
    assert!(big > 8 + 4096 + 4, "{big} bytes: more than the tail read");
    let id = format!("web1:{}", b.positions[1][0]);
    let out_path = b.dir.join("s3-1.proof");
    let out = run_cmd(
        std::process::Command::new(env!("CARGO_BIN_EXE_sealtrail"))
            .args(["prove", &id, "--archive", "s3://audit/logs", "--key"])
            .arg(&b.public)
            .args(["--endpoint", &server.endpoint, "--allow-http", "--to-head"])
            .arg("-o")
            .arg(&out_path)
            .env("AWS_ACCESS_KEY_ID", server.access_key())
            .env("AWS_SECRET_ACCESS_KEY", server.secret_key())
            .env_remove("AWS_PROFILE"),
        std::time::Duration::from_secs(120),
    );
    assert_eq!(out.code, Some(0), "{}\n{}", out.describe(), server.log());
    let (out, local) = prove(&b, &id, &["--to-head"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let local = std::fs::read(local).unwrap();
    assert_eq!(local, std::fs::read(out_path).unwrap());
    assert_eq!(Proof::parse(&local).unwrap().chain.len(), 6);
}

/// `tests/interop/check_proof.py`, written from FORMAT.md §12 alone (Python and the
/// `cryptography` package, which tests/run.sh installs), on `proof` with `keys`.
fn python_check(proof: &Path, keys: &[&str]) -> CmdOutput {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/check_proof.py");
    run_cmd(
        std::process::Command::new("python3")
            .arg(script)
            .arg(proof)
            .args(keys),
        std::time::Duration::from_secs(60),
    )
}

#[test]
fn an_independent_python_checker_agrees_with_check_proof() {
    // The worked example of FORMAT.md §12.3, with the two keys of §9 (raw, in hex).
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap();
    let start = doc.find("<!-- BEGIN GENERATED PROOF EXAMPLE").unwrap();
    let block = &doc[start..];
    let body = &block[block.find("```text\n").unwrap() + 8..];
    let example = &body[..body.find("```").unwrap()];
    let b = build_archive();
    let ex = b.dir.join("example.proof");
    std::fs::write(&ex, example).unwrap();
    const K1: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const K2: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    let out = python_check(&ex, &[K1, K2]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stdout_str()
            .contains("VALID stream=host-a seq=1 head_seq=2"),
        "{}",
        out.describe()
    );
    let out = python_check(&ex, &[K2]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stdout_str().contains("INVALID: wrong_key"),
        "{}",
        out.describe()
    );

    // Proofs made by `prove`, with the key file; a changed byte fails in Python as it
    // does in check-proof (40 bytes across a one-event proof: each run of the script
    // takes ~0.3 s to start).
    let public = b.public.to_str().unwrap();
    for (seq, index) in [(1usize, 0usize), (4, 1), (6, 999)] {
        let id = format!("web1:{}", b.positions[seq][index]);
        let (out, path) = prove(&b, &id, &["--to-head"]);
        assert_eq!(out.code, Some(0), "{}", out.describe());
        let py = python_check(&path, &[public]);
        assert_eq!(py.code, Some(0), "{id}: {}", py.describe());
        assert!(
            py.stdout_str()
                .contains(&format!("VALID stream=web1 seq={seq} head_seq=7")),
            "{}",
            py.describe()
        );
    }
    let (out, path) = prove(&b, &format!("web1:{}", b.positions[1][0]), &[]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let bytes = std::fs::read(&path).unwrap();
    let flipped = b.dir.join("py-flipped.proof");
    for k in 0..40 {
        let i = k * (bytes.len() - 1) / 39;
        let mut m = bytes.clone();
        m[i] ^= [0x01u8, 0x20, 0x80][i % 3];
        std::fs::write(&flipped, &m).unwrap();
        let py = python_check(&flipped, &[public]);
        assert_eq!(py.code, Some(1), "byte {i}: {}", py.describe());
    }
}
