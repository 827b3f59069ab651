use std::fmt::Write as _;

use super::*;
use crate::segment::format_example;
use crate::segment::{parse, Seal, Sealed};
use crate::verify::Keyring;

const BEGIN: &str =
    "<!-- BEGIN GENERATED PROOF EXAMPLE (cargo test proof_md_example; SEALTRAIL_BLESS=1 rewrites) -->\n";
const END: &str = "<!-- END GENERATED PROOF EXAMPLE -->";

/// FORMAT.md §9's segments 1 and 2, and the keyring of both keys.
fn example() -> (Sealed, Sealed, Keyring) {
    let (_, s1) = format_example::objects();
    let s2 = format_example::rotation(&s1);
    let ring = Keyring::new([
        format_example::key().verifying_key(),
        format_example::next_key().verifying_key(),
    ]);
    (s1, s2, ring)
}

/// The proof of line `index` of segment 1 of §9, chained to segment 2 or not.
fn example_proof(index: u64, chained: bool) -> Proof {
    let (s1, s2, _) = example();
    let view = parse(&s1.bytes).unwrap();
    let pos = [4096, 4219][index as usize];
    let lines = scan(view.data_frame, &view.seal, &Target::Position(pos)).unwrap();
    let chain = if chained { vec![s2.seal] } else { vec![] };
    build(&lines, &format!("host-a:{pos}"), &chain).unwrap()
}

#[test]
fn a_proof_round_trips_through_its_one_encoding_and_checks() {
    let (_, s2, ring) = example();
    for index in [0, 1] {
        for chained in [false, true] {
            let p = example_proof(index, chained);
            let bytes = p.encode();
            assert_eq!(Proof::parse(&bytes).unwrap(), p);
            let c = check(&p, &ring, None).unwrap();
            assert_eq!(c.seal.seq, 1);
            assert_eq!(c.head.seq, if chained { 2 } else { 1 });
            let anchored = check(&p, &ring, Some(&s2.seal));
            assert_eq!(anchored.is_ok(), chained, "{anchored:?}");
        }
    }
}

#[test]
fn every_flipped_byte_of_a_proof_fails() {
    let (_, _, ring) = example();
    let bytes = example_proof(1, true).encode();
    // One bit per byte, a different one byte by byte (a debug build takes ~15 ms per
    // signature check; tests/prove.rs flips every bit pattern through the binary too).
    for i in 0..bytes.len() {
        let bit = [0x01u8, 0x20, 0x80, 0x04][i % 4];
        let mut b = bytes.clone();
        b[i] ^= bit;
        let verdict = Proof::parse(&b).and_then(|p| check(&p, &ring, None).map(|_| ()));
        assert!(verdict.is_err(), "byte {i} ^ {bit:#x} still checks");
    }
    // Cut short anywhere, or with anything appended: not a proof.
    for n in 0..bytes.len() {
        assert!(Proof::parse(&bytes[..n]).is_err(), "cut at {n}");
    }
    for tail in [&b"\n"[..], b" ", b"x"] {
        let mut b = bytes.clone();
        b.extend_from_slice(tail);
        assert!(matches!(
            Proof::parse(&b),
            Err(ProofError::NotCanonical(_) | ProofError::Malformed(_))
        ));
    }
}

#[test]
fn a_value_in_another_encoding_is_not_canonical() {
    let p = example_proof(0, false);
    let text = String::from_utf8(p.encode()).unwrap();
    let upper = text.replacen(&hex::encode(p.path[0]), &hex::encode_upper(p.path[0]), 1);
    let spaced = text.replacen("\"leaf_index\":0", "\"leaf_index\": 0", 1);
    let reordered = text.replacen(
        "\"leaf_index\":0,\"tree_size\":2",
        "\"tree_size\":2,\"leaf_index\":0",
        1,
    );
    for (what, t) in [
        ("upper-case hex", upper),
        ("a space", spaced),
        ("order", reordered),
    ] {
        assert_ne!(t, text, "{what}");
        assert!(
            matches!(Proof::parse(t.as_bytes()), Err(ProofError::NotCanonical(_))),
            "{what}"
        );
    }
    let mut unknown = text.clone();
    unknown.insert_str(1, "\"x\":1,");
    assert!(Proof::parse(unknown.as_bytes()).is_err());
    let v2 = text.replacen("\"sealtrail_proof\":1", "\"sealtrail_proof\":2", 1);
    assert!(matches!(
        Proof::parse(v2.as_bytes()),
        Err(ProofError::UnsupportedVersion(2))
    ));
}

#[test]
fn each_check_names_what_failed() {
    let (s1, _, ring) = example();
    let good = example_proof(1, true);
    let with = |f: &dyn Fn(&mut Proof)| {
        let mut p = good.clone();
        f(&mut p);
        check(&p, &ring, None).unwrap_err()
    };
    let e = with(&|p| p.tree_size = 3);
    assert!(
        matches!(
            e,
            ProofError::TreeSize {
                tree_size: 3,
                event_count: 2
            }
        ),
        "{e}"
    );
    let e = with(&|p| p.leaf_index = 0);
    assert!(matches!(e, ProofError::RootMismatch { .. }), "{e}");
    let e = with(&|p| p.path.clear());
    assert!(matches!(e, ProofError::PathShape { .. }), "{e}");
    let e = with(&|p| p.line.push(b' '));
    assert!(matches!(e, ProofError::RootMismatch { .. }), "{e}");
    // The other line's id with this line: the path is right, the id is not.
    let e = with(&|p| p.event_id = "host-a:4096".into());
    assert!(matches!(e, ProofError::EventId(_)), "{e}");
    let e = with(&|p| p.event_id = "host-b:4219".into());
    assert!(matches!(e, ProofError::EventId(_)), "{e}");
    let e = with(&|p| p.seal[100] ^= 1);
    assert!(matches!(e, ProofError::BadSignature(_)), "{e}");
    let e = with(&|p| p.seal.truncate(200));
    assert!(matches!(e, ProofError::Seal(_)), "{e}");
    let e = with(&|p| p.chain[0][30] ^= 1);
    assert!(matches!(e, ProofError::Chain { index: 1, .. }), "{e}");
    // The chain's seal once more: it does not follow itself.
    let e = with(&|p| p.chain.push(p.chain[0].clone()));
    assert!(matches!(e, ProofError::Chain { index: 2, .. }), "{e}");
    // Another key only.
    let other = Keyring::new([crate::segment::tests_support::key().verifying_key()]);
    let e = check(&good, &other, None).unwrap_err();
    assert!(matches!(e, ProofError::UnknownKey { .. }), "{e}");
    // Only the first key: everything in this proof is signed by it (the rotation seal
    // names the next key, but nothing after it is in the chain), so it checks.
    let first = Keyring::new([format_example::key().verifying_key()]);
    check(&good, &first, None).unwrap();
    // An anchor at another seal.
    let e = check(&good, &ring, Some(&s1.seal)).unwrap_err();
    assert!(matches!(e, ProofError::Anchor(_)), "{e}");
}

#[test]
fn garbage_is_not_a_proof_and_never_panics() {
    let (_, _, ring) = example();
    let good = example_proof(0, true).encode();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for n in [0usize, 1, 2, 7, 64, 300, 2000] {
        let mut b = Vec::with_capacity(n);
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.push(x as u8);
        }
        assert!(Proof::parse(&b).is_err());
        // Garbage inside a valid shape: a random line, seal and path.
        let mut mixed = good.clone();
        for (i, byte) in b.iter().enumerate().take(mixed.len()) {
            if i % 3 == 0 {
                let at = (*byte as usize * 7 + i) % mixed.len();
                mixed[at] = *byte;
            }
        }
        if let Ok(p) = Proof::parse(&mixed) {
            let _ = check(&p, &ring, None);
        }
    }
    assert!(matches!(Proof::parse(b"{}"), Err(ProofError::Malformed(_))));
    assert!(matches!(
        Proof::parse(b"[1]"),
        Err(ProofError::Malformed(_))
    ));
}

#[test]
fn proofs_for_every_leaf_of_segments_of_several_sizes() {
    use crate::segment::tests_support;
    let ring = Keyring::new([tests_support::key().verifying_key()]);
    for n in [1usize, 2, 3, 5, 8, 70] {
        let lines: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                format!(
                    "{{\"v\":2,\"pos\":{},\"rcv\":{i},\"o\":\"line {i}\"}}",
                    100 + i * 10
                )
                .into_bytes()
            })
            .collect();
        let s = tests_support::build(1, &lines);
        let view = parse(&s.bytes).unwrap();
        for i in 0..n {
            let pos = 100 + i as u64 * 10;
            let l = scan(view.data_frame, &view.seal, &Target::Position(pos)).unwrap();
            assert_eq!(l.positions, Some((100, 100 + (n as u64 - 1) * 10)));
            let p = build(&l, &format!("host-a:{pos}"), &[]).unwrap();
            assert_eq!(p.leaf_index, i as u64);
            check(&Proof::parse(&p.encode()).unwrap(), &ring, None).unwrap();
        }
        let l = scan(view.data_frame, &view.seal, &Target::Position(105)).unwrap();
        assert!(l.found.is_none() && build(&l, "host-a:105", &[]).is_none());
    }
}

fn dump_seal_fields(out: &mut String, s: &Seal) {
    let _ = writeln!(
        out,
        "   * stream `{}`, seq {}, kind {}, event_count {}, merkle_root `{}`, key_id `{}`, seal hash `{}`",
        s.stream,
        s.seq,
        s.kind.as_str(),
        s.event_count,
        hex::encode(s.merkle_root),
        hex::encode(s.key_id),
        hex::encode(s.hash())
    );
}

/// The worked example of FORMAT.md §12.
fn render() -> String {
    let (s1, s2, _) = example();
    let p = example_proof(1, true);
    let leaf = crate::segment::merkle::leaf_hash(&p.line);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "The proof of event `host-a:4219`, line 1 of segment 1 of §9, chained to segment 2 \
         (the rotation seal), as `sealtrail prove host-a:4219 --to-head` writes it for the \
         archive of §9's segments 0 to 2 ({} bytes, one line):\n",
        p.encode().len()
    );
    let _ = writeln!(o, "```text\n{}```\n", String::from_utf8_lossy(&p.encode()));
    let _ = writeln!(o, "Checking it:\n");
    let _ = writeln!(o, "1. `seal` decodes (§2) to segment 1's seal:\n");
    dump_seal_fields(&mut o, &s1.seal);
    let _ = writeln!(
        o,
        "\n   Its signature verifies with the key of `key_id` (§3, §9's public key).\n\
         2. `tree_size` {} = the seal's `event_count`; `leaf_index` {} < {}.\n\
         3. `line` decodes to the {} bytes of §9's line 1; leaf = SHA-256(0x00 ‖ line) = `{}`.\n\
         4. `path` has one hash, leaf 0 of §9. Leaf 1 is odd, so the root is \
         SHA-256(0x01 ‖ path[0] ‖ leaf) = `{}`, the seal's `merkle_root`.\n\
         5. `event_id` names stream `host-a`, the seal's; the line is a compact line (§10.1) \
         whose `pos` is 4219.\n\
         6. `chain[0]` decodes to segment 2's seal:\n",
        p.tree_size,
        p.leaf_index,
        p.tree_size,
        p.line.len(),
        hex::encode(leaf),
        hex::encode(crate::segment::merkle::node_hash(&p.path[0], &leaf)),
    );
    dump_seal_fields(&mut o, &s2.seal);
    let _ = writeln!(
        o,
        "\n   Same stream, seq 2 = 1 + 1, its `prev_hash` is segment 1's seal hash, its period \
         starts where segment 1's ended, it is signed by the key valid for it (segment 1 is \
         not a rotation seal: the same key), and its signature verifies. It is a rotation \
         seal naming key `{}`: a `chain[1]`, if there were one, would have to be signed by \
         that key.",
        hex::encode(crate::keys::key_id_of(
            &s2.seal.next_key.unwrap_or_default()
        ))
    );
    let _ = writeln!(
        o,
        "7. Given the anchor of segment 2 (§11), its seal hash `{}` must be the last seal's.",
        hex::encode(s2.seal.hash())
    );
    o
}

/// §9's segments 0 to 2 in a directory archive, as the daemon would store them.
fn example_archive() -> (tempfile::TempDir, crate::store::Archive) {
    let (s0, s1) = format_example::objects();
    let s2 = format_example::rotation(&s1);
    let dir = tempfile::tempdir().unwrap();
    for s in [&s0, &s1, &s2] {
        let key = crate::segment::object_key(&s.seal.stream, s.seal.seq, s.seal.period_end_ns);
        let path = dir.path().join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &s.bytes).unwrap();
    }
    let section = crate::config::ArchiveSection {
        url: dir.path().to_str().unwrap().to_owned(),
        ..Default::default()
    };
    let archive = crate::store::open(&section, false).unwrap();
    (dir, archive)
}

#[test]
fn finding_in_an_archive_gives_the_proof_built_from_the_segment() {
    let (_dir, archive) = example_archive();
    let (_, s2, ring) = example();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let to_head = rt
        .block_on(find(&archive, "host-a:4219", &ring, &ChainTo::Head))
        .unwrap();
    assert_eq!(to_head.proof, example_proof(1, true));
    assert_eq!(
        to_head.decoded, 1,
        "the bisection starts at seq 1, which holds it"
    );
    let anchored = rt
        .block_on(find(
            &archive,
            "host-a:4096",
            &ring,
            &ChainTo::Anchor(Box::new(s2.seal)),
        ))
        .unwrap();
    assert_eq!(anchored.proof, example_proof(0, true));
    let own = rt
        .block_on(find(&archive, "host-a:4096", &ring, &ChainTo::Own))
        .unwrap();
    assert_eq!(own.proof, example_proof(0, false));
    for (id, e) in [
        ("host-a:4100", "no event host-a:4100"),
        ("host-b:1", "no segment of stream"),
        ("host-a:x:alert:0", "no event"),
        ("host-a", "not an event id"),
    ] {
        let got = rt
            .block_on(find(&archive, id, &ring, &ChainTo::Own))
            .unwrap_err();
        assert!(got.to_string().contains(e), "{id}: {got}");
    }
    // Without the key that signed them, nothing is handed out.
    let other = Keyring::new([crate::segment::tests_support::key().verifying_key()]);
    let got = rt
        .block_on(find(&archive, "host-a:4219", &other, &ChainTo::Own))
        .unwrap_err();
    assert!(got.to_string().contains("not in the keyring"), "{got}");
}

#[test]
fn proof_md_example_is_current() {
    let (_, s2, ring) = example();
    let p = example_proof(1, true);
    check(&Proof::parse(&p.encode()).unwrap(), &ring, Some(&s2.seal)).unwrap();
    let generated = render();
    crate::segment::tests_support::assert_format_md_block(
        BEGIN,
        END,
        &generated,
        "proof_md_example",
    );
}

/// A directory archive of stream `s`, segments 0 to `n - 1`: every third one a
/// heartbeat, the others 1 to 4 compact lines, and segment 200 (if there is one) also an
/// alert. Returns the positions each segment holds and the objects' paths.
struct ChainArchive {
    _dir: tempfile::TempDir,
    archive: crate::store::Archive,
    ring: Keyring,
    held: Vec<Vec<u64>>,
    paths: Vec<std::path::PathBuf>,
}

fn chain_archive(n: u64) -> ChainArchive {
    use crate::segment::{object_key, SealHeader, SealKind, SegmentBuilder};
    let key = crate::segment::tests_support::key();
    let ring = Keyring::new([key.verifying_key()]);
    let dir = tempfile::tempdir().unwrap();
    let mut b = SegmentBuilder::new(1).unwrap();
    let (mut prev, mut pos) = ([0u8; 32], 1000u64);
    let mut held: Vec<Vec<u64>> = Vec::new();
    let mut paths = Vec::new();
    for seq in 0..n {
        let mut here = Vec::new();
        if seq % 3 != 1 {
            for i in 0..(seq % 4 + 1) {
                let l = format!("{{\"v\":2,\"pos\":{pos},\"rcv\":{i},\"o\":\"e\"}}");
                b.push_line(l.as_bytes(), i as i64);
                here.push(pos);
                pos += 50;
            }
        }
        if seq == 200 {
            let alert = format!(
                "{{\"event\":{{\"id\":\"s:{}:alert:0\",\"kind\":\"alert\"}}}}",
                here[0]
            );
            b.push_line(alert.as_bytes(), 0);
        }
        let start = 1_700_000_000_000_000_000 + seq as i64 * 60_000_000_000;
        let s = b
            .finish(
                SealHeader {
                    kind: SealKind::Normal,
                    stream: "s".into(),
                    seq,
                    prev_hash: prev,
                    period_start_ns: start,
                    period_end_ns: start + 60_000_000_000,
                    heartbeat_ms: 60_000,
                    next_key: None,
                },
                &key,
            )
            .unwrap();
        prev = s.seal.hash();
        let path = dir.path().join(object_key("s", seq, s.seal.period_end_ns));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &s.bytes).unwrap();
        held.push(here);
        paths.push(path);
    }
    let section = crate::config::ArchiveSection {
        url: dir.path().to_str().unwrap().to_owned(),
        ..Default::default()
    };
    let archive = crate::store::open(&section, false).unwrap();
    ChainArchive {
        _dir: dir,
        archive,
        ring,
        held,
        paths,
    }
}

#[test]
fn the_search_decodes_about_log2_of_the_segments_and_finds_alerts_too() {
    const N: u64 = 256;
    // `_dir` must stay bound: dropping it deletes the archive.
    let ChainArchive {
        _dir,
        archive,
        ring,
        held,
        ..
    } = chain_archive(N);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut most = 0;
    for (seq, here) in held.iter().enumerate() {
        for &p in here.first().into_iter().chain(here.last()) {
            let f = rt
                .block_on(find(&archive, &format!("s:{p}"), &ring, &ChainTo::Own))
                .unwrap();
            assert_eq!(Seal::from_bytes(&f.proof.seal).unwrap().seq, seq as u64);
            most = most.max(f.decoded);
        }
    }
    // log2(256) = 8 halvings, each decoding one segment, and the last one that holds it.
    assert!(most <= 9, "{most} segments decoded for one event");
    eprintln!("at most {most} of {N} segments decoded to find one event");
    let missing = rt
        .block_on(find(&archive, "s:1025", &ring, &ChainTo::Own))
        .unwrap_err();
    assert!(missing.to_string().contains("no event s:1025"), "{missing}");
    // An alert's id follows no order: found by reading the stream through.
    let id = format!("s:{}:alert:0", held[200][0]);
    let f = rt
        .block_on(find(&archive, &id, &ring, &ChainTo::Head))
        .unwrap();
    assert_eq!(f.proof.leaf_index, held[200].len() as u64);
    assert_eq!(f.proof.chain.len(), 55);
    check(&f.proof, &ring, None).unwrap();
}

/// A directory archive holding one segment (stream `host-a`, seq 3) of these lines.
fn one_segment_archive(lines: &[Vec<u8>]) -> (tempfile::TempDir, crate::store::Archive) {
    let s = crate::segment::tests_support::build(1, lines);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(crate::segment::object_key(
        "host-a",
        3,
        s.seal.period_end_ns,
    ));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, &s.bytes).unwrap();
    let section = crate::config::ArchiveSection {
        url: dir.path().to_str().unwrap().to_owned(),
        ..Default::default()
    };
    let archive = crate::store::open(&section, false).unwrap();
    (dir, archive)
}

#[test]
fn ecs_lines_are_found_by_their_event_id_and_compact_lines_must_keep_their_order() {
    use crate::segment::tests_support;
    let ring = Keyring::new([tests_support::key().verifying_key()]);
    // A segment of ECS lines, as sealtrail 0.1 sealed them: found by `event.id`, by
    // bisection too (no compact positions: every segment is then read).
    let lines = vec![
        br#"{"@timestamp":"2024-05-01T12:00:00Z","event":{"id":"host-a:77"},"message":"old"}"#
            .to_vec(),
        br#"{"@timestamp":"2024-05-01T12:00:01Z","event":{"id":"host-a:78"},"message":"old"}"#
            .to_vec(),
    ];
    let (_dir, archive) = one_segment_archive(&lines);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let f = rt
        .block_on(find(&archive, "host-a:78", &ring, &ChainTo::Own))
        .unwrap();
    assert_eq!(f.proof.leaf_index, 1);
    check(&f.proof, &ring, None).unwrap();
    // The other line's id on this proof: the ECS event.id differs.
    let mut wrong = f.proof.clone();
    wrong.event_id = "host-a:77".into();
    assert!(matches!(
        check(&wrong, &ring, None),
        Err(ProofError::EventId(_))
    ));

    // A compact line whose `pos` is not its second member is not a compact line as
    // §10.1 writes it.
    let s = tests_support::build(1, &[br#"{"v":2,"rcv":1,"pos":5,"o":"x"}"#.to_vec()]);
    let view = parse(&s.bytes).unwrap();
    let l = scan(view.data_frame, &view.seal, &Target::Position(5)).unwrap();
    assert!(
        l.found.is_none(),
        "not found by the reading the search uses"
    );
    let p = Proof {
        event_id: "host-a:5".into(),
        leaf_index: 0,
        tree_size: 1,
        line: br#"{"v":2,"rcv":1,"pos":5,"o":"x"}"#.to_vec(),
        path: vec![],
        seal: view.seal.to_bytes(),
        chain: vec![],
    };
    let e = check(&p, &ring, None).unwrap_err();
    assert!(matches!(e, ProofError::EventId(_)), "{e}");
}

#[test]
fn version_2_and_version_3_compact_lines_are_found_and_proved_alike() {
    use crate::segment::tests_support;
    let ring = Keyring::new([tests_support::key().verifying_key()]);
    let v2 = br#"{"v":2,"pos":5,"rcv":1,"ts":1,"host":"h","o":"<13>Jan  1 00:00:00 h x: old"}"#;
    let v3 = br#"{"v":3,"pos":6,"rcv":1,"dt":0,"host":[20,21],"o":"<13>Jan  1 00:00:00 h x: new"}"#;
    let (_dir, archive) = one_segment_archive(&[v2.to_vec(), v3.to_vec()]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (id, index, line) in [("host-a:5", 0, &v2[..]), ("host-a:6", 1, &v3[..])] {
        let f = rt
            .block_on(find(&archive, id, &ring, &ChainTo::Own))
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!((f.proof.leaf_index, &f.proof.line[..]), (index, line));
        check(&f.proof, &ring, None).unwrap_or_else(|e| panic!("{id}: {e}"));
        let mut wrong = f.proof.clone();
        wrong.event_id = "host-a:7".into();
        assert!(matches!(
            check(&wrong, &ring, None),
            Err(ProofError::EventId(_))
        ));
    }
}

#[test]
fn a_damaged_segment_elsewhere_in_the_stream_does_not_stop_a_proof() {
    let a = chain_archive(210);
    // Seq 105 is where the bisection over 210 segments starts: one byte of its data frame
    // flipped. Seq 150 cut short to its first 20 bytes (its seal is gone). Both hold
    // events (every third segment, seq % 3 == 1, is a heartbeat).
    let flipped = 105usize;
    let cut = 150usize;
    let mut bytes = std::fs::read(&a.paths[flipped]).unwrap();
    bytes[12] ^= 0x40;
    std::fs::write(&a.paths[flipped], bytes).unwrap();
    let bytes = std::fs::read(&a.paths[cut]).unwrap();
    std::fs::write(&a.paths[cut], &bytes[..20]).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let find_id = |id: &str, to: &ChainTo| rt.block_on(find(&a.archive, id, &a.ring, to));
    let mut proved = 0;
    for (seq, here) in a.held.iter().enumerate() {
        for &p in here.first().into_iter().chain(here.last()) {
            let got = find_id(&format!("s:{p}"), &ChainTo::Own);
            if seq == flipped || seq == cut {
                let e = got.unwrap_err().to_string();
                let object = a.paths[seq].file_name().unwrap().to_str().unwrap();
                assert!(e.contains("could not be searched and may hold it"), "{e}");
                assert!(e.contains(object), "{seq}: {e}");
            } else {
                let f = got.unwrap_or_else(|e| panic!("s:{p} in seq {seq}: {e}"));
                assert_eq!(Seal::from_bytes(&f.proof.seal).unwrap().seq, seq as u64);
                check(&f.proof, &a.ring, None).unwrap();
                proved += 1;
            }
        }
    }
    assert!(proved > 200, "{proved}");
    // Reading every segment for an alert's id steps over both.
    let id = format!("s:{}:alert:0", a.held[200][0]);
    let f = find_id(&id, &ChainTo::Own).unwrap();
    assert_eq!(Seal::from_bytes(&f.proof.seal).unwrap().seq, 200);
    // The seals chain across seq 105 (its seal is intact), not across seq 150, which has
    // none: a proof to the head from before it names the unreadable object.
    let before = a.held[99][0];
    let e = find_id(&format!("s:{before}"), &ChainTo::Head)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no segment at seq 150 that links to seq 149") && e.contains("unreadable"),
        "{e}"
    );
    let after = a.held[161][0];
    let f = find_id(&format!("s:{after}"), &ChainTo::Head).unwrap();
    assert_eq!(f.proof.chain.len(), 209 - 161);
    let f = find_id(
        &format!("s:{}", a.held[104][0]),
        &ChainTo::Anchor(Box::new(
            Seal::from_bytes(
                &find_id(&format!("s:{}", a.held[107][0]), &ChainTo::Own)
                    .unwrap()
                    .proof
                    .seal,
            )
            .unwrap(),
        )),
    )
    .unwrap();
    assert_eq!(f.proof.chain.len(), 3, "104 to 107 across the flipped 105");
}
