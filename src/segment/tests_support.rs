//! Objects for the tests of the segment module's parts.

use super::*;
use ed25519_dalek::{Signer, SigningKey};

pub fn key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

/// `n` event-like lines of varied lengths.
pub fn sample_lines(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(
                "{{\"@timestamp\":{i},\"message\":\"event {i} {}\"}}",
                "x".repeat(i * 7 % 50)
            )
            .into_bytes()
        })
        .collect()
}

/// `frame` followed by the seal frame of `seal` (as it is: not re-signed).
pub fn assemble(frame: &[u8], seal: &Seal) -> Vec<u8> {
    let payload = seal.to_bytes();
    let mut v = frame.to_vec();
    v.extend_from_slice(&SEAL_FRAME_MAGIC.to_le_bytes());
    v.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    v.extend_from_slice(&payload);
    v
}

/// A segment whose seal describes `frame` as its data frame (length and SHA-256),
/// with `edit` applied to the seal before `key` signs it: a crafted object that is
/// authentic whatever its frame holds.
pub fn seal_over(frame: &[u8], key: &SigningKey, edit: impl FnOnce(&mut Seal)) -> Vec<u8> {
    let content = zstd::decode_all(frame).unwrap_or_default();
    let mut seal = build(1, &[]).seal;
    seal.data_len = frame.len() as u64;
    seal.data_sha256 = Sha256::digest(frame).into();
    seal.content_len = content.len() as u64;
    seal.event_count = content.iter().filter(|&&b| b == b'\n').count() as u64;
    seal.merkle_root = merkle_root(&content);
    seal.key_id = crate::keys::key_id(&key.verifying_key());
    edit(&mut seal);
    seal.signature = key.sign(&seal.signed_bytes()).to_bytes();
    assemble(frame, &seal)
}

/// `n` lines that do not compress, so that data frames outgrow the tail window.
pub fn noisy_lines(n: usize) -> Vec<Vec<u8>> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|i| {
            let mut l = format!("{{\"n\":{i},\"noise\":\"").into_bytes();
            for _ in 0..60 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                l.extend_from_slice(format!("{:x}", x & 0xf).as_bytes());
            }
            l.extend_from_slice(b"\"}");
            l
        })
        .collect()
}

/// Seq 3 of stream `host-a`.
pub fn header() -> SealHeader {
    SealHeader {
        kind: SealKind::Normal,
        stream: "host-a".into(),
        seq: 3,
        prev_hash: [3; 32],
        period_start_ns: 1_714_564_800_000_000_000,
        period_end_ns: 1_714_564_860_000_000_000,
        heartbeat_ms: 60_000,
        next_key: None,
    }
}

/// A sealed segment of `lines` at `level` (see [`header`]).
pub fn build(level: i32, lines: &[Vec<u8>]) -> Sealed {
    let mut b = SegmentBuilder::new(level).unwrap();
    for (i, l) in lines.iter().enumerate() {
        b.push_line(l, 1_000 + i as i64);
    }
    b.finish(header(), &key()).unwrap()
}

/// Asserts that the block of docs/FORMAT.md between `begin` and `end` is `generated`
/// (a worked example a test makes), or with `SEALTRAIL_BLESS` set rewrites it.
pub fn assert_format_md_block(begin: &str, end: &str, generated: &str, test: &str) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let start = doc.find(begin).expect("begin marker") + begin.len();
    let stop = doc.find(end).expect("end marker");
    if std::env::var_os("SEALTRAIL_BLESS").is_some() {
        let new = format!("{}{}{}", &doc[..start], generated, &doc[stop..]);
        std::fs::write(path, new).unwrap();
    } else {
        assert!(
            doc[start..stop] == *generated,
            "docs/FORMAT.md block after {begin:?} is stale; run `SEALTRAIL_BLESS=1 cargo test {test}`"
        );
    }
}
