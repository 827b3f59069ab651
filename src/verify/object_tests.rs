//! The streaming per-object checks against the whole-buffer checks they replaced, kept
//! here verbatim (reading through `segment::reference`) as the oracle: on the same
//! bytes, every outcome (problems, trust, key checks) must be the same, however the
//! object is chunked and whether or not its content needs the second read.

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use crate::segment::stream::{FrameDigester, ObjectScanner};
use crate::segment::{self, Seal, SealHeader, SealKind, SegmentBuilder, SegmentError};

use super::object::{check_scanned, check_seal, detail_of, problem_kind_of, Checked, Ctx, Outcome};
use super::ProblemKind;

/// The old path, as far as it differs from the new one: the whole object in memory,
/// parsed and digested by `segment::reference`. The seal checks themselves are the
/// production ones; what is compared is how the object was read.
fn old_check_object(location: String, bytes: &[u8], ctx: &Ctx) -> Outcome {
    let mut out = Outcome::new(location);
    let view = match segment::reference::parse(bytes) {
        Ok(v) => v,
        Err(e) => {
            out.always.push((problem_kind_of(&e), detail_of(&e)));
            return out;
        }
    };
    let seal = view.seal;
    if !check_seal(&mut out, &seal, ctx) {
        return out;
    }
    if let Some(p) = old_check_content(view.data_frame, &seal) {
        out.in_window.push(p);
    }
    out.hash = seal.hash();
    out.seal = Some(seal);
    out
}

/// Content checks, stopping at the first failure (later ones would be its echo).
fn old_check_content(data: &[u8], seal: &Seal) -> Option<(ProblemKind, String)> {
    if data.len() as u64 != seal.data_len {
        return Some((
            ProblemKind::ContentHashMismatch,
            format!(
                "data frame is {} bytes, seal says {}",
                data.len(),
                seal.data_len
            ),
        ));
    }
    let sha: [u8; 32] = Sha256::digest(data).into();
    if sha != seal.data_sha256 {
        return Some((
            ProblemKind::ContentHashMismatch,
            format!(
                "data frame SHA-256 {}, seal says {}",
                hex::encode(sha),
                hex::encode(seal.data_sha256)
            ),
        ));
    }
    let d = match segment::reference::digest_data_frame(data, seal.content_len) {
        Ok(d) => d,
        Err(SegmentError::TooLarge { limit }) => {
            return Some((
                ProblemKind::CountMismatch,
                format!("content exceeds the sealed length of {limit} bytes"),
            ))
        }
        Err(e) => return Some((ProblemKind::CorruptData, detail_of(&e))),
    };
    if d.bytes != seal.content_len || d.lines != seal.event_count {
        return Some((
            ProblemKind::CountMismatch,
            format!(
                "content has {} lines in {} bytes, seal says {} events in {} bytes",
                d.lines, d.bytes, seal.event_count, seal.content_len
            ),
        ));
    }
    if !d.ends_with_newline {
        return Some((
            ProblemKind::CorruptData,
            "last event line is not terminated by a newline".into(),
        ));
    }
    if d.merkle_root != seal.merkle_root {
        return Some((
            ProblemKind::MerkleMismatch,
            format!(
                "lines hash to Merkle root {}, seal says {}",
                hex::encode(d.merkle_root),
                hex::encode(seal.merkle_root)
            ),
        ));
    }
    None
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[3u8; 32])
}

fn ctx() -> Ctx {
    let vk = key().verifying_key();
    Ctx {
        prefix: "archive".into(),
        keyring: vk.into(),
        decode_ahead: u64::MAX,
        max_content: super::MAX_CONTENT_BYTES,
    }
}

/// The new path: one scan in `chunk`-byte pieces, and the second read when asked for.
fn new_check(location: &str, bytes: &[u8], chunk: usize, decode_ahead: u64) -> Outcome {
    new_check_with(&ctx(), location, bytes, chunk, decode_ahead)
}

/// [`new_check`] against `ctx`, reading as `fetch` does: the first read decodes no more
/// than the cap either.
fn new_check_with(
    ctx: &Ctx,
    location: &str,
    bytes: &[u8],
    chunk: usize,
    decode_ahead: u64,
) -> Outcome {
    let mut s = ObjectScanner::new(decode_ahead.min(ctx.max_content)).unwrap();
    for c in bytes.chunks(chunk.max(1)) {
        s.feed(c);
        if s.decided() {
            break;
        }
    }
    let Checked {
        mut outcome,
        decode_again,
    } = check_scanned(location.to_owned(), s.finish(), ctx);
    if decode_again {
        let seal = outcome.pending_seal().unwrap().clone();
        let mut d = FrameDigester::new(seal.content_len).unwrap();
        for c in bytes[..seal.data_len as usize].chunks(chunk.max(1)) {
            d.feed(c);
        }
        let (sha, decoded) = d.finish();
        outcome.finish_content(sha, decoded);
    }
    outcome
}

fn assert_same_with(location: &str, bytes: &[u8], what: &str, chunks: &[usize], aheads: &[u64]) {
    let c = ctx();
    let want = old_check_object(location.to_owned(), bytes, &c);
    for &chunk in chunks {
        for &ahead in aheads {
            let got = new_check(location, bytes, chunk, ahead);
            assert_eq!(
                got, want,
                "{what} at {location}, chunks of {chunk}, decode-ahead {ahead}"
            );
        }
    }
}

fn assert_same(location: &str, bytes: &[u8], what: &str) {
    assert_same_with(
        location,
        bytes,
        what,
        &[7, 4096, usize::MAX],
        &[u64::MAX, 0, 40],
    );
}

const T: i64 = 1_714_564_800_000_000_000;

fn header(seq: u64) -> SealHeader {
    SealHeader {
        kind: SealKind::Normal,
        stream: "s".into(),
        seq,
        prev_hash: [0; 32],
        period_start_ns: T,
        period_end_ns: T + 60_000_000_000,
        heartbeat_ms: 60_000,
        next_key: None,
    }
}

fn segment(lines: usize) -> segment::Sealed {
    let mut b = SegmentBuilder::new(1).unwrap();
    for i in 0..lines {
        b.push_line(
            format!("{{\"i\":{i},\"pad\":\"{}\"}}", "p".repeat(i % 30)).as_bytes(),
            T,
        );
    }
    b.finish(header(2), &key()).unwrap()
}

/// A segment whose data frame is `frame`, described honestly unless `edit` says
/// otherwise, and signed by `signer`.
fn sealed(frame: &[u8], signer: &SigningKey, edit: impl FnOnce(&mut Seal)) -> Vec<u8> {
    let content = zstd::decode_all(frame).unwrap_or_default();
    let mut seal = segment(0).seal;
    seal.data_len = frame.len() as u64;
    seal.data_sha256 = Sha256::digest(frame).into();
    seal.content_len = content.len() as u64;
    seal.event_count = content.iter().filter(|&&b| b == b'\n').count() as u64;
    seal.merkle_root = segment::merkle_root(&content);
    seal.key_id = crate::keys::key_id(&signer.verifying_key());
    edit(&mut seal);
    use ed25519_dalek::Signer;
    seal.signature = signer.sign(&seal.signed_bytes()).to_bytes();
    let payload = seal.to_bytes();
    let mut v = frame.to_vec();
    v.extend_from_slice(&segment::SEAL_FRAME_MAGIC.to_le_bytes());
    v.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    v.extend_from_slice(&payload);
    v
}

fn frame_of(content: &[u8]) -> Vec<u8> {
    let mut c = zstd::bulk::Compressor::new(1).unwrap();
    c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
        .unwrap();
    c.compress(content).unwrap()
}

#[test]
fn outcomes_equal_the_whole_buffer_checks() {
    let good = segment(30);
    let loc = format!(
        "archive/{}",
        segment::object_key("s", 2, good.seal.period_end_ns)
    );
    let frame = segment::parse(&good.bytes).unwrap().data_frame.to_vec();
    let mut bad_checksum = frame.clone();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] ^= 0xff;
    let mut with_garbage = frame.clone();
    with_garbage.extend_from_slice(b"xx");
    let other = SigningKey::from_bytes(&[4u8; 32]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("valid", good.bytes.clone()),
        ("valid, empty", segment(0).bytes),
        (
            "checksum wrong, sealed",
            sealed(&bad_checksum, &key(), |s| {
                s.content_len = good.seal.content_len
            }),
        ),
        (
            "checksum wrong, content_len short",
            sealed(&bad_checksum, &key(), |s| {
                s.content_len = good.seal.content_len - 1
            }),
        ),
        (
            "content_len short",
            sealed(&frame, &key(), |s| s.content_len -= 1),
        ),
        (
            "content_len long",
            sealed(&frame, &key(), |s| s.content_len += 1),
        ),
        (
            "event_count off",
            sealed(&frame, &key(), |s| s.event_count += 1),
        ),
        (
            "merkle root off",
            sealed(&frame, &key(), |s| s.merkle_root[0] ^= 1),
        ),
        ("data_len off", sealed(&frame, &key(), |s| s.data_len += 1)),
        ("sha off", sealed(&frame, &key(), |s| s.data_sha256[0] ^= 1)),
        ("frame + garbage", sealed(&with_garbage, &key(), |_| {})),
        (
            "no final newline",
            sealed(&frame_of(b"a\nb"), &key(), |_| {}),
        ),
        ("empty content", sealed(&frame_of(b""), &key(), |_| {})),
        ("another key", sealed(&frame, &other, |_| {})),
        (
            "names another key id",
            sealed(&frame, &key(), |s| s.key_id = [9; 8]),
        ),
        (
            "claims another key id",
            sealed(&frame, &other, |s| s.key_id = ctx().keyring.ids()[0]),
        ),
        (
            "period backwards",
            sealed(&frame, &key(), |s| s.period_end_ns = T - 1),
        ),
        ("another seq", sealed(&frame, &key(), |s| s.seq = 5)),
        (
            "another stream",
            sealed(&frame, &key(), |s| s.stream = "t".into()),
        ),
        ("not a segment", b"hello world".to_vec()),
        ("empty object", Vec::new()),
    ];
    for (what, bytes) in &cases {
        for location in [
            loc.as_str(),
            "archive/s/2024/05/01/000000000009.seg.zst",
            "archive/x.bin",
        ] {
            assert_same(location, bytes, what);
        }
    }
    // Damage to an authentic object, everywhere: cuts and flips (each costs a signature
    // check per path, so a small object and two chunkings).
    let small = segment(3);
    let seal_body = small.seal.data_len as usize + 24;
    for at in 0..small.bytes.len() {
        let cut = &small.bytes[..at];
        assert_same_with(
            &loc,
            cut,
            &format!("cut at {at}"),
            &[7, usize::MAX],
            &[u64::MAX],
        );
        // Past the seal's first fields, a flip is one more bad signature: sample those.
        if at < seal_body || at % 7 == 0 {
            let mut b = small.bytes.clone();
            b[at] ^= 0x10;
            let what = format!("byte {at} flipped");
            assert_same_with(&loc, &b, &what, &[7, usize::MAX], &[u64::MAX]);
        }
    }
}

#[test]
fn problem_kinds_of_read_errors() {
    let e = SegmentError::Io(std::io::Error::other("disk on fire"));
    assert_eq!(problem_kind_of(&e), ProblemKind::Unreadable);
    assert_eq!(detail_of(&e), "disk on fire");
}

/// FORMAT.md §8 steps 3 to 6, in the order the document gives (and its example).
#[test]
fn steps_are_checked_in_format_md_order() {
    let loc = |s: &str| format!("archive/{}", segment::object_key(s, 2, T + 60_000_000_000));
    let kinds = |o: &Outcome| -> Vec<ProblemKind> {
        o.always.iter().chain(&o.in_window).map(|p| p.0).collect()
    };
    let abc = frame_of(b"a\nb\nc");
    // 6h before 6i: the count is wrong, so the missing final newline is not reported.
    let three = |len| {
        move |s: &mut Seal| {
            s.event_count = 3;
            s.content_len = len;
        }
    };
    let o = new_check(&loc("s"), &sealed(&abc, &key(), three(6)), 7, u64::MAX);
    assert_eq!(kinds(&o), [ProblemKind::CountMismatch], "{o:?}");
    assert!(o.in_window[0].1.contains("3 lines in 5 bytes"), "{o:?}");
    let o = new_check(&loc("s"), &sealed(&abc, &key(), three(5)), 7, u64::MAX);
    assert_eq!(kinds(&o), [ProblemKind::CorruptData], "{o:?}");
    // Steps 3, 4 and 5 stop nothing: each is reported, and step 6 still runs.
    let good = segment(5);
    let frame = segment::parse(&good.bytes).unwrap().data_frame.to_vec();
    let bytes = sealed(&frame, &key(), |s| {
        s.key_id = [9; 8];
        s.seq = 3;
        s.period_end_ns = T - 1;
        s.data_sha256[0] ^= 1;
    });
    let o = new_check(&loc("s"), &bytes, 7, u64::MAX);
    assert_eq!(
        kinds(&o),
        [
            ProblemKind::WrongKey,
            ProblemKind::OutOfOrder,
            ProblemKind::InvalidPeriod,
            ProblemKind::ContentHashMismatch
        ],
        "{o:?}"
    );
    assert!(
        o.seal.is_some(),
        "steps 3 to 5 do not make a seal untrusted"
    );
    // Step 4 takes the first rule that applies: another stream outranks another seq.
    let bytes = sealed(&frame, &key(), |s| {
        s.stream = "t".into();
        s.seq = 3;
    });
    let o = new_check(&loc("s"), &bytes, 7, u64::MAX);
    assert_eq!(kinds(&o), [ProblemKind::ForeignStream], "{o:?}");
    // 6f before 6g: a frame that yields more than content_len (in its first 64 KiB
    // step) and fails its checksum only at its end is a count mismatch.
    let content: Vec<u8> = (0..20_000)
        .flat_map(|i| format!("{i:09}\n").into_bytes())
        .collect();
    let mut bad_checksum = frame_of(&content);
    let last = bad_checksum.len() - 1;
    bad_checksum[last] ^= 0xff;
    for ahead in [u64::MAX, 0] {
        let bytes = sealed(&bad_checksum, &key(), |s| s.content_len = 10);
        let o = new_check(&loc("s"), &bytes, 7, ahead);
        assert_eq!(kinds(&o), [ProblemKind::CountMismatch], "{o:?}");
        assert!(
            o.in_window[0].1.contains("exceeds the sealed length"),
            "{o:?}"
        );
        let bytes = sealed(&bad_checksum, &key(), |s| {
            s.content_len = content.len() as u64;
            s.event_count = 20_000;
        });
        let o = new_check(&loc("s"), &bytes, 7, ahead);
        assert_eq!(kinds(&o), [ProblemKind::CorruptData], "{o:?}");
    }
}

/// A zstd frame of `blocks` RLE blocks of 128 KiB of `b'x'` (no checksum), declaring its
/// content size in the header or not: a decompression bomb of a few bytes per block.
fn bomb(blocks: u32, declare: bool) -> Vec<u8> {
    let mut f = segment::ZSTD_MAGIC.to_le_bytes().to_vec();
    // Frame header descriptor: 8-byte content size (or none), window descriptor 2^17.
    f.push(if declare { 0b1100_0000 } else { 0 });
    f.push((17 - 10) << 3);
    if declare {
        f.extend_from_slice(&(u64::from(blocks) << 17).to_le_bytes());
    }
    for i in 0..blocks {
        let h = (128 * 1024u32) << 3 | 1 << 1 | u32::from(i + 1 == blocks);
        f.extend_from_slice(&h.to_le_bytes()[..3]);
        f.push(b'x');
    }
    f
}

/// The cap on one object's content (FORMAT.md §8 steps 6c and 6e), made small so that
/// the objects stay small: exactly at the cap is checked, one byte over is not decoded.
#[test]
fn content_above_the_cap_is_content_too_large_and_not_decoded() {
    const CAP: u64 = 256 * 1024;
    let c = Ctx {
        max_content: CAP,
        ..ctx()
    };
    let loc = format!(
        "archive/{}",
        segment::object_key("s", 2, T + 60_000_000_000)
    );
    let check = |bytes: &[u8]| -> Vec<Outcome> {
        [u64::MAX, 0, 40]
            .iter()
            .map(|&ahead| new_check_with(&c, &loc, bytes, 4096, ahead))
            .collect()
    };
    let kinds = |o: &Outcome| -> Vec<ProblemKind> {
        o.always.iter().chain(&o.in_window).map(|p| p.0).collect()
    };
    // Content of exactly the cap verifies; one line more, honestly sealed, is too large.
    let line = b"0123456789abcde\n";
    let at_cap: Vec<u8> = line.repeat(CAP as usize / line.len());
    assert_eq!(at_cap.len() as u64, CAP);
    for o in check(&sealed(&frame_of(&at_cap), &key(), |_| {})) {
        assert_eq!(kinds(&o), [], "{o:?}");
    }
    let over = [&at_cap[..], line].concat();
    for o in check(&sealed(&frame_of(&over), &key(), |_| {})) {
        assert_eq!(kinds(&o), [ProblemKind::ContentTooLarge], "{o:?}");
        assert!(o.in_window[0].1.contains("seal says 262160 bytes"), "{o:?}");
    }
    // A seal claiming more than the cap over a small frame: the claim decides.
    for o in check(&sealed(&frame_of(b"a\n"), &key(), |s| {
        s.content_len = 1 << 40
    })) {
        assert_eq!(kinds(&o), [ProblemKind::ContentTooLarge], "{o:?}");
    }
    // But the frame's hash comes first: a seal over another frame is a hash mismatch.
    let o = new_check_with(
        &c,
        &loc,
        &sealed(&frame_of(b"a\n"), &key(), |s| {
            s.content_len = 1 << 40;
            s.data_sha256[0] ^= 1;
        }),
        4096,
        u64::MAX,
    );
    assert_eq!(kinds(&o), [ProblemKind::ContentHashMismatch], "{o:?}");

    // Bombs: 64 blocks of a few bytes decode to 8 MiB, 32 times the cap.
    for declare in [true, false] {
        let frame = bomb(64, declare);
        assert!(frame.len() < 300);
        // Sealed honestly (the sealer's own frame): the claim decides.
        let honest = sealed(&frame, &key(), |_| {});
        for o in check(&honest) {
            assert_eq!(kinds(&o), [ProblemKind::ContentTooLarge], "{o:?}");
            assert!(
                o.in_window[0].1.starts_with("seal says 8388608 bytes"),
                "{o:?}"
            );
        }
        // Sealed as 100 bytes: a header that declares 8 MiB decides before decoding;
        // without one, decoding stops past the sealed length: a count mismatch.
        let lying = sealed(&frame, &key(), |s| s.content_len = 100);
        for o in check(&lying) {
            if declare {
                assert_eq!(kinds(&o), [ProblemKind::ContentTooLarge], "{o:?}");
                assert!(
                    o.in_window[0]
                        .1
                        .starts_with("data frame header declares 8388608 bytes"),
                    "{o:?}"
                );
            } else {
                assert_eq!(kinds(&o), [ProblemKind::CountMismatch], "{o:?}");
                assert!(
                    o.in_window[0].1.contains("exceeds the sealed length"),
                    "{o:?}"
                );
            }
        }
    }
}
