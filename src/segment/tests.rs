use super::format_example;
use super::*;
use ed25519_dalek::SigningKey;

fn sha(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

fn header(seq: u64) -> SealHeader {
    SealHeader {
        kind: SealKind::Normal,
        stream: "host-a".into(),
        seq,
        prev_hash: [seq as u8; 32],
        period_start_ns: 1_714_564_800_000_000_000,
        period_end_ns: 1_714_564_860_000_000_000,
        heartbeat_ms: 60_000,
        next_key: None,
    }
}

fn build(lines: &[&[u8]]) -> Sealed {
    let mut b = SegmentBuilder::new(1).unwrap();
    for (i, l) in lines.iter().enumerate() {
        b.push_line(l, 1_000 + i as i64);
    }
    b.finish(header(3), &key()).unwrap()
}

#[test]
fn merkle_root_hand_computed() {
    // 0 leaves: SHA-256 of the empty string.
    assert_eq!(
        hex::encode(merkle_root(b"")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    // 1 empty leaf: the RFC 6962 test vector SHA-256(0x00).
    assert_eq!(
        hex::encode(merkle_root(b"\n")),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
    let l = |s: &[u8]| sha(&[&[0u8], s]);
    let n = |a: [u8; 32], b: [u8; 32]| sha(&[&[1u8], &a, &b]);
    assert_eq!(merkle_root(b"a\n"), l(b"a"));
    assert_eq!(merkle_root(b"a\nb\n"), n(l(b"a"), l(b"b")));
    assert_eq!(merkle_root(b"a\nb\nc\n"), n(n(l(b"a"), l(b"b")), l(b"c")));
    assert_eq!(
        merkle_root(b"a\nb\nc\nd\ne\n"),
        n(n(n(l(b"a"), l(b"b")), n(l(b"c"), l(b"d"))), l(b"e"))
    );
    // An unterminated last line still counts as a line.
    assert_eq!(merkle_root(b"a\nb"), n(l(b"a"), l(b"b")));
}

#[test]
fn seal_round_trip_and_layout() {
    let s = build(&[b"one", b"two"]).seal;
    let bytes = s.to_bytes();
    assert_eq!(bytes.len(), SEAL_FIXED_LEN + s.stream.len());
    assert_eq!(&bytes[..6], b"STSEAL");
    assert_eq!(&bytes[6..8], &[1, 0]);
    assert_eq!(bytes[9] as usize, s.stream.len());
    assert_eq!(&bytes[10..16], b"host-a");
    assert_eq!(Seal::from_bytes(&bytes).unwrap(), s);
    let signed = s.signed_bytes();
    assert_eq!(signed.len() + SIGNATURE_LEN, bytes.len());
    assert_eq!(&bytes[..signed.len()], &signed[..]);
    assert_eq!(&bytes[signed.len()..], &s.signature);
    assert_eq!(s.hash(), sha(&[&bytes]));
    assert_eq!(s.event_count, 2);
    assert_eq!(s.content_len, 8);
    assert_eq!((s.first_event_ns, s.last_event_ns), (1_000, 1_001));
    assert_eq!(s.key_id, crate::keys::key_id(&key().verifying_key()));
}

#[test]
fn signature_covers_canonical_bytes() {
    let s = build(&[b"x"]).seal;
    let vk = key().verifying_key();
    s.verify_signature(&vk).unwrap();
    // Independently: Ed25519 over exactly the signed bytes.
    let sig = Signature::from_bytes(&s.signature);
    vk.verify_strict(&s.signed_bytes(), &sig).unwrap();
    let mut t = s.clone();
    t.period_end_ns += 1;
    assert!(matches!(
        t.verify_signature(&vk),
        Err(SegmentError::BadSignature)
    ));
    let other = SigningKey::from_bytes(&[1u8; 32]).verifying_key();
    assert!(s.verify_signature(&other).is_err());
}

#[test]
fn rejects_unknown_versions_and_kinds() {
    let s = build(&[]).seal;
    let mut b = s.to_bytes();
    b[6] = 2;
    assert!(matches!(
        Seal::from_bytes(&b),
        Err(SegmentError::UnsupportedVersion(2))
    ));
    let mut b = s.to_bytes();
    b[8] = 9;
    assert!(matches!(
        Seal::from_bytes(&b),
        Err(SegmentError::UnknownKind(9))
    ));
    let mut b = s.to_bytes();
    b.push(0);
    assert!(matches!(
        Seal::from_bytes(&b),
        Err(SegmentError::Malformed(_))
    ));
    let mut b = s.to_bytes();
    b[10] = b'/';
    assert!(matches!(
        Seal::from_bytes(&b),
        Err(SegmentError::Malformed(_))
    ));
}

#[test]
fn zstd_decode_all_returns_exactly_the_lines() {
    let obj = build(&[b"{\"a\":1}", b"{\"b\":2}"]);
    let plain = zstd::decode_all(&obj.bytes[..]).unwrap();
    assert_eq!(plain, b"{\"a\":1}\n{\"b\":2}\n");
    let empty = build(&[]);
    assert!(zstd::decode_all(&empty.bytes[..]).unwrap().is_empty());
    assert_eq!(empty.seal.event_count, 0);
    assert_eq!(
        (empty.seal.first_event_ns, empty.seal.last_event_ns),
        (0, 0)
    );
    assert_eq!(empty.seal.merkle_root, merkle::empty_root());
    // The data frame carries a checksum; a content size, where the header states one
    // (the streaming writer leaves it out once content has streamed), is right.
    let view = parse(&empty.bytes).unwrap();
    assert!(matches!(
        zstd::zstd_safe::get_frame_content_size(view.data_frame).unwrap(),
        None | Some(0)
    ));
    let view = parse(&obj.bytes).unwrap();
    assert!(matches!(
        zstd::zstd_safe::get_frame_content_size(view.data_frame).unwrap(),
        None | Some(16)
    ));
    assert_eq!(view.data_frame[4] & 0x04, 0x04, "checksum flag");
}

#[test]
fn parse_splits_object_and_hashes_match() {
    let obj = build(&[b"alpha", b"beta", b"gamma"]);
    let v = parse(&obj.bytes).unwrap();
    assert_eq!(v.seal, obj.seal);
    assert_eq!(v.data_frame.len() as u64, obj.seal.data_len);
    assert_eq!(sha(&[v.data_frame]), obj.seal.data_sha256);
    let content = zstd::decode_all(v.data_frame).unwrap();
    assert_eq!(merkle_root(&content), obj.seal.merkle_root);
    assert!(matches!(
        digest_data_frame(v.data_frame, 5),
        Err(SegmentError::TooLarge { limit: 5 })
    ));
    let d = digest_data_frame(v.data_frame, 1 << 20).unwrap();
    assert_eq!(d.lines, 3);
    assert_eq!(d.bytes, content.len() as u64);
    assert_eq!(d.merkle_root, obj.seal.merkle_root);
    assert!(d.ends_with_newline);
}

#[test]
fn every_truncation_is_reported_as_truncated() {
    let obj = build(&[b"alpha", b"beta"]);
    for cut in 0..obj.bytes.len() {
        match parse(&obj.bytes[..cut]) {
            Err(SegmentError::Truncated(_)) => {}
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn damaged_data_frame_still_yields_its_seal() {
    let obj = build(&[b"alpha", b"beta", b"gamma", b"delta"]);
    let data_len = obj.seal.data_len as usize;
    for i in 4..data_len {
        let mut b = obj.bytes.clone();
        b[i] ^= 0x01;
        let v = parse(&b).unwrap_or_else(|e| panic!("flip at {i}: {e}"));
        assert_eq!(v.seal, obj.seal);
        assert_ne!(sha(&[v.data_frame]), obj.seal.data_sha256);
    }
}

#[test]
fn trailing_garbage_is_malformed() {
    let mut b = build(&[b"a"]).bytes;
    b.extend_from_slice(b"xyz");
    assert!(matches!(parse(&b), Err(SegmentError::Malformed(_))));
    assert!(matches!(
        parse(b"hello world"),
        Err(SegmentError::Malformed(_))
    ));
}

#[test]
fn corrupt_frame_is_rejected_by_the_digest() {
    let obj = build(&[b"alpha alpha alpha alpha", b"beta"]);
    let v = parse(&obj.bytes).unwrap();
    let mut frame = v.data_frame.to_vec();
    let last = frame.len() - 1;
    frame[last] ^= 0xff; // content checksum
    assert!(matches!(
        digest_data_frame(&frame, 1 << 20),
        Err(SegmentError::Corrupt(_))
    ));
    let mut two = v.data_frame.to_vec();
    two.extend_from_slice(v.data_frame);
    assert!(matches!(
        digest_data_frame(&two, 1 << 20),
        Err(SegmentError::Corrupt(_))
    ));
}

#[test]
fn newline_from_renderer_is_escaped() {
    let mut b = SegmentBuilder::new(1).unwrap();
    b.push_with(5, |buf| buf.extend_from_slice(b"{\"m\":\"a\nb\"}"));
    b.push_line(b"plain", 4);
    assert_eq!(b.event_count(), 2);
    assert_eq!(b.escaped_newlines(), 1);
    let sealed = b.finish(header(0), &key()).unwrap();
    let plain = zstd::decode_all(&sealed.bytes[..]).unwrap();
    assert_eq!(plain, b"{\"m\":\"a\\nb\"}\nplain\n");
    assert_eq!(sealed.seal.merkle_root, merkle_root(&plain));
    assert_eq!(
        (sealed.seal.first_event_ns, sealed.seal.last_event_ns),
        (4, 5)
    );
}

#[test]
fn builder_resets_between_segments() {
    let mut b = SegmentBuilder::new(3).unwrap();
    b.push_line(b"first", 1);
    let s1 = b.finish(header(0), &key()).unwrap();
    assert!(b.is_empty());
    assert_eq!(b.uncompressed_len(), 0);
    b.push_line(b"second", 2);
    let s2 = b.finish(header(1), &key()).unwrap();
    assert_eq!(zstd::decode_all(&s1.bytes[..]).unwrap(), b"first\n");
    assert_eq!(zstd::decode_all(&s2.bytes[..]).unwrap(), b"second\n");
    assert_eq!(s2.seal.event_count, 1);
    assert_eq!(s2.seal.merkle_root, merkle_root(b"second\n"));
}

#[test]
fn finish_validates_header_and_keeps_content_on_error() {
    let mut b = SegmentBuilder::new(1).unwrap();
    b.push_line(b"x", 1);
    let mut h = header(0);
    h.stream = "bad/stream".into();
    assert!(matches!(
        b.finish(h, &key()),
        Err(SegmentError::InvalidStream(_))
    ));
    let mut h = header(0);
    h.period_end_ns = h.period_start_ns - 1;
    assert!(matches!(
        b.finish(h, &key()),
        Err(SegmentError::InvalidHeader(_))
    ));
    assert_eq!(b.event_count(), 1);
}

#[test]
fn digest_handles_lines_across_chunks() {
    let mut content = Vec::new();
    for i in 0..5 {
        content.extend(std::iter::repeat_n(b'a' + i, 100_000 + i as usize));
        content.push(b'\n');
    }
    let mut b = SegmentBuilder::new(1).unwrap();
    for line in content.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        b.push_line(line, 0);
    }
    let s = b.finish(header(0), &key()).unwrap();
    let v = parse(&s.bytes).unwrap();
    let d = digest_data_frame(v.data_frame, s.seal.content_len).unwrap();
    assert_eq!(d.lines, 5);
    assert_eq!(d.merkle_root, merkle_root(&content));
    assert_eq!(d.merkle_root, s.seal.merkle_root);
    assert!(matches!(
        digest_data_frame(v.data_frame, s.seal.content_len - 1),
        Err(SegmentError::TooLarge { .. })
    ));
}

#[test]
fn object_key_round_trip() {
    // 2024-05-01T23:59:59.999999999Z and one nanosecond later.
    let t = 1_714_607_999_999_999_999;
    assert_eq!(
        object_key("host-a", 7, t),
        "host-a/2024/05/01/000000000007.seg.zst"
    );
    assert_eq!(
        object_key("host-a", 7, t + 1),
        "host-a/2024/05/02/000000000007.seg.zst"
    );
    let k = object_key("h.b_c-1", u64::MAX, t);
    assert_eq!(
        parse_object_key(&k),
        Some(("h.b_c-1".to_string(), u64::MAX))
    );
    let with_prefix = format!("archive/deep/{}", object_key("h", 12, t));
    assert_eq!(parse_object_key(&with_prefix), Some(("h".to_string(), 12)));
    let p = parse_object_key_parts(&with_prefix).unwrap();
    assert_eq!((p.year, p.month, p.day), (2024, 5, 1));
    for bad in [
        "h/2024/05/01/7.seg.zst",
        "h/2024/05/01/0000000000007.seg.zst",
        "h/2024/05/01/000000000007.seg",
        "h/2024/5/01/000000000007.seg.zst",
        "2024/05/01/000000000007.seg.zst",
        "b@d/2024/05/01/000000000007.seg.zst",
        "h/2024/13/01/000000000007.seg.zst",
    ] {
        assert_eq!(parse_object_key(bad), None, "{bad}");
    }
}

#[test]
fn a_rotation_seal_carries_the_next_key_and_only_it_does() {
    let next = SigningKey::from_bytes(&[3u8; 32])
        .verifying_key()
        .to_bytes();
    let mut h = header(4);
    h.kind = SealKind::Rotate;
    h.next_key = Some(next);
    let mut b = SegmentBuilder::new(1).unwrap();
    b.push_line(b"{\"a\":1}", 5);
    let s = b.finish(h.clone(), &key()).unwrap();
    let bytes = s.seal.to_bytes();
    assert_eq!(bytes.len(), SEAL_FIXED_LEN + h.stream.len() + NEXT_KEY_LEN);
    // The next key sits between key_id and the signature, and is signed.
    let at = bytes.len() - SIGNATURE_LEN - NEXT_KEY_LEN;
    assert_eq!(&bytes[at..at + NEXT_KEY_LEN], &next);
    let back = Seal::from_bytes(&bytes).unwrap();
    assert_eq!(back, s.seal);
    back.verify_signature(&key().verifying_key()).unwrap();
    let mut other = back.clone();
    other.next_key = Some([9; 32]);
    assert!(other.verify_signature(&key().verifying_key()).is_err());
    // A rotation payload without the key, or a normal one with it, is malformed.
    let mut short = bytes.clone();
    short.drain(at..at + NEXT_KEY_LEN);
    assert!(matches!(
        Seal::from_bytes(&short),
        Err(SegmentError::Malformed(_))
    ));
    let mut b = SegmentBuilder::new(1).unwrap();
    let mut bad = header(4);
    bad.next_key = Some(next);
    assert!(matches!(
        b.finish(bad, &key()),
        Err(SegmentError::InvalidHeader(_))
    ));
    let mut bad = header(4);
    bad.kind = SealKind::Rotate;
    assert!(matches!(
        b.finish(bad, &key()),
        Err(SegmentError::InvalidHeader(_))
    ));
    assert_eq!(
        s.seal.to_json()["next_key_id"],
        hex::encode(&Sha256::digest(next)[..8])
    );
}

#[test]
fn format_md_example_is_current() {
    use format_example::{BEGIN, END};
    // The example objects are what the format says they are.
    let (s0, s1) = format_example::objects();
    let vk = format_example::key().verifying_key();
    for s in [&s0, &s1] {
        let v = parse(&s.bytes).unwrap();
        v.seal.verify_signature(&vk).unwrap();
    }
    assert_eq!(s1.seal.prev_hash, s0.seal.hash());
    let plain = zstd::decode_all(&s1.bytes[..]).unwrap();
    let expected: String = format_example::lines()
        .iter()
        .map(|l| format!("{}\n", l.sealed))
        .collect();
    assert_eq!(plain, expected.as_bytes());
    // Segment 2, the rotation seal: signed by the retiring key, naming the next.
    let s2 = format_example::rotation(&s1);
    let v = parse(&s2.bytes).unwrap();
    v.seal.verify_signature(&vk).unwrap();
    assert_eq!(v.seal.kind, SealKind::Rotate);
    assert_eq!(v.seal.prev_hash, s1.seal.hash());
    assert_eq!(
        v.seal.next_key,
        Some(format_example::next_key().verifying_key().to_bytes())
    );

    let generated = format_example::render();
    tests_support::assert_format_md_block(BEGIN, END, &generated, "format_md_example");
}

#[test]
fn stream_ids() {
    assert!(valid_stream_id("host-a.example_1"));
    assert!(valid_stream_id(&"a".repeat(64)));
    assert!(!valid_stream_id(&"a".repeat(65)));
    assert!(!valid_stream_id(""));
    assert!(!valid_stream_id("a/b"));
    assert!(!valid_stream_id("a b"));
    assert!(!valid_stream_id("é"));
    assert!(!valid_stream_id("."));
    assert!(!valid_stream_id(".."));
}
