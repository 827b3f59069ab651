//! Renders the worked example of `docs/FORMAT.md` from real objects built here.

use super::*;
use ed25519_dalek::SigningKey;
use std::fmt::Write;

pub const BEGIN: &str =
    "<!-- BEGIN GENERATED EXAMPLE (cargo test format_md_example; SEALTRAIL_BLESS=1 rewrites) -->\n";
pub const END: &str = "<!-- END GENERATED EXAMPLE -->";
/// RFC 8032 §7.1, TEST 1 secret key.
const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
/// RFC 8032 §7.1, TEST 2 secret key: the key segment 2 hands over to.
const NEXT_SEED: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
const T: i64 = 1_714_564_800_000_000_000; // 2024-05-01T12:00:00Z
/// The two syslog messages of segment 1: (received text, when, journal position).
const MESSAGES: [(&str, i64, u64); 2] = [
    (
        "<38>May  1 12:01:05 host-a sshd[4242]: Accepted publickey for alice from 192.0.2.7 port 50022 ssh2",
        T + 65_123_000_000,
        4096,
    ),
    (
        "<85>May  1 12:01:17 host-a sudo: pam_unix(sudo:session): session opened for user root by alice(uid=1000)",
        T + 77_500_000_000,
        4219,
    ),
];

/// One line of segment 1: the message as received, its sealed (compact) line, the
/// event time the sealer attached, and the line's ECS rendering.
pub struct Line {
    pub received: &'static str,
    pub sealed: String,
    pub time: i64,
    pub ecs: String,
}

/// The lines of segment 1, as the daemon's normaliser writes them for [`MESSAGES`]
/// received over TCP from 192.0.2.1 by a source named `tcp`.
pub fn lines() -> Vec<Line> {
    use crate::normalise::{Input, Normaliser, TimeZoneSpec};
    use crate::record::{IngestRecord, Origin, RecordFlags};
    let mut n = Normaliser::new("host-a", vec![("tcp".into(), TimeZoneSpec::Utc)]);
    MESSAGES
        .iter()
        .map(|&(received, time, position)| {
            let rec = IngestRecord {
                received_ns: time,
                source: 0,
                origin: Origin::Syslog(crate::record::Sender {
                    peer: Some("192.0.2.1:40514".parse().unwrap()),
                    client: None,
                    cred: None,
                }),
                flags: RecordFlags::EMPTY,
                raw: received.as_bytes(),
            };
            let input = Input::of(&rec);
            let d = n.decode(&rec, &input);
            let mut sealed = Vec::new();
            n.write_compact(position, &d.event, d.auth.as_ref(), &mut sealed);
            let mut ecs = Vec::new();
            crate::event::render_ecs(&sealed, "host-a", &mut ecs).unwrap();
            Line {
                received,
                sealed: String::from_utf8(sealed).unwrap(),
                time,
                ecs: String::from_utf8(ecs).unwrap(),
            }
        })
        .collect()
}

pub fn key() -> SigningKey {
    seeded(SEED)
}

/// The key segment 2's rotation seal names.
pub fn next_key() -> SigningKey {
    seeded(NEXT_SEED)
}

fn seeded(hex_seed: &str) -> SigningKey {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(hex_seed, &mut seed).unwrap();
    SigningKey::from_bytes(&seed)
}

/// Segment 2: a rotation seal (no events) after segment 1, signed by [`key`], naming
/// [`next_key`].
pub fn rotation(s1: &Sealed) -> Sealed {
    let mut b = SegmentBuilder::new(1).unwrap();
    b.finish(
        SealHeader {
            kind: SealKind::Rotate,
            stream: "host-a".into(),
            seq: 2,
            prev_hash: s1.seal.hash(),
            period_start_ns: s1.seal.period_end_ns,
            period_end_ns: s1.seal.period_end_ns + 10_000_000_000,
            heartbeat_ms: 60_000,
            next_key: Some(next_key().verifying_key().to_bytes()),
        },
        &key(),
    )
    .unwrap()
}

/// Segment 0 (empty heartbeat) and segment 1 (two events), chained.
pub fn objects() -> (Sealed, Sealed) {
    let key = key();
    let mut b = SegmentBuilder::new(1).unwrap();
    let s0 = b
        .finish(
            SealHeader {
                kind: SealKind::Normal,
                stream: "host-a".into(),
                seq: 0,
                prev_hash: [0; 32],
                period_start_ns: T,
                period_end_ns: T + 60_000_000_000,
                heartbeat_ms: 60_000,
                next_key: None,
            },
            &key,
        )
        .unwrap();
    for line in lines() {
        b.push_line(line.sealed.as_bytes(), line.time);
    }
    let s1 = b
        .finish(
            SealHeader {
                kind: SealKind::Normal,
                stream: "host-a".into(),
                seq: 1,
                prev_hash: s0.seal.hash(),
                period_start_ns: T + 60_000_000_000,
                period_end_ns: T + 90_000_000_000,
                heartbeat_ms: 60_000,
                next_key: None,
            },
            &key,
        )
        .unwrap();
    (s0, s1)
}

fn ts(ns: i64) -> String {
    rfc3339(ns)
}

/// Annotated hex dump: 16 bytes per row, the label on a field's first row.
struct Dump {
    out: String,
    off: usize,
}

impl Dump {
    fn field(&mut self, bytes: &[u8], label: &str) {
        if bytes.is_empty() {
            return;
        }
        for (i, row) in bytes.chunks(16).enumerate() {
            let hexs: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
            let label = if i == 0 { label } else { "" };
            let line = format!("{:06x}  {:<47}  {label}", self.off + i * 16, hexs.join(" "));
            let _ = writeln!(self.out, "{}", line.trim_end());
        }
        self.off += bytes.len();
    }
}

fn dump_data_frame(d: &mut Dump, f: &[u8]) {
    d.field(&f[..4], "zstd frame magic 0xFD2FB528 (LE)");
    let fhd = f[4];
    let fcs_flag = fhd >> 6;
    let single = fhd & 0x20 != 0;
    let checksum = fhd & 0x04 != 0;
    let did = [0, 1, 2, 4][(fhd & 3) as usize];
    d.field(
        &f[4..5],
        &format!(
            "frame header descriptor: FCS flag {fcs_flag}, single segment {}, checksum {}, dict id bytes {did}",
            u8::from(single),
            u8::from(checksum)
        ),
    );
    let mut at = 5;
    if !single {
        d.field(&f[at..at + 1], "window descriptor");
        at += 1;
    }
    d.field(&f[at..at + did], "dictionary id");
    at += did;
    let fcs_len = match fcs_flag {
        0 => usize::from(single),
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let mut fcs = [0u8; 8];
    fcs[..fcs_len].copy_from_slice(&f[at..at + fcs_len]);
    let mut size = u64::from_le_bytes(fcs);
    if fcs_len == 2 {
        size += 256;
    }
    d.field(
        &f[at..at + fcs_len],
        &format!("frame content size = {size}"),
    );
    at += fcs_len;
    loop {
        let h = u32::from(f[at]) | u32::from(f[at + 1]) << 8 | u32::from(f[at + 2]) << 16;
        let last = h & 1 == 1;
        let btype = (h >> 1) & 3;
        let bsize = (h >> 3) as usize;
        let name = ["raw", "RLE", "compressed", "reserved"][btype as usize];
        d.field(
            &f[at..at + 3],
            &format!(
                "block header: last {}, type {name}, size {bsize}",
                u8::from(last)
            ),
        );
        at += 3;
        let body = if btype == 1 { 1 } else { bsize };
        d.field(&f[at..at + body], &format!("block content ({body} bytes)"));
        at += body;
        if last {
            break;
        }
    }
    if checksum {
        d.field(
            &f[at..at + 4],
            "content checksum (low 32 bits of XXH64 of the content)",
        );
        at += 4;
    }
    assert_eq!(at, f.len());
}

fn dump_seal(d: &mut Dump, s: &Seal, payload: &[u8]) {
    let base = d.off;
    let mut p = 0usize;
    let mut field = |d: &mut Dump, n: usize, label: String| {
        d.field(&payload[p..p + n], &format!("+{p:<3} {label}"));
        p += n;
    };
    field(d, 6, "magic \"STSEAL\"".into());
    field(d, 2, format!("version u16 = {}", s.version));
    field(
        d,
        1,
        format!("kind u8 = {} ({})", s.kind.as_u8(), s.kind.as_str()),
    );
    field(d, 1, format!("stream id length u8 = {}", s.stream.len()));
    field(d, s.stream.len(), format!("stream id = \"{}\"", s.stream));
    field(d, 8, format!("seq u64 = {}", s.seq));
    field(d, 32, "prev_hash".into());
    field(
        d,
        8,
        format!(
            "period_start_ns i64 = {} ({})",
            s.period_start_ns,
            ts(s.period_start_ns)
        ),
    );
    field(
        d,
        8,
        format!(
            "period_end_ns i64 = {} ({})",
            s.period_end_ns,
            ts(s.period_end_ns)
        ),
    );
    field(d, 8, format!("heartbeat_ms u64 = {}", s.heartbeat_ms));
    let ev = |ns: i64| {
        if s.event_count == 0 {
            "no events".to_string()
        } else {
            ts(ns)
        }
    };
    field(
        d,
        8,
        format!(
            "first_event_ns i64 = {} ({})",
            s.first_event_ns,
            ev(s.first_event_ns)
        ),
    );
    field(
        d,
        8,
        format!(
            "last_event_ns i64 = {} ({})",
            s.last_event_ns,
            ev(s.last_event_ns)
        ),
    );
    field(d, 8, format!("event_count u64 = {}", s.event_count));
    field(d, 8, format!("content_len u64 = {}", s.content_len));
    field(d, 8, format!("data_len u64 = {}", s.data_len));
    field(d, 32, "data_sha256".into());
    field(d, 32, "merkle_root".into());
    field(d, 8, "key_id".into());
    if let Some(next) = s.next_key {
        let id = hex::encode(crate::keys::key_id_of(&next));
        field(
            d,
            NEXT_KEY_LEN,
            format!("next_key: raw Ed25519 public key (kind 3 only), key id {id}"),
        );
    }
    let signed_end = s.payload_len() - SIGNATURE_LEN - 1;
    field(
        d,
        64,
        format!("signature: Ed25519 over payload bytes +0 ..= +{signed_end}"),
    );
    assert_eq!(p, payload.len());
    assert_eq!(d.off - base, payload.len());
}

fn dump_object(obj: &Sealed) -> String {
    let mut d = Dump {
        out: String::new(),
        off: 0,
    };
    let data_len = obj.seal.data_len as usize;
    dump_data_frame(&mut d, &obj.bytes[..data_len]);
    let payload = &obj.bytes[data_len + 8..];
    d.field(
        &obj.bytes[data_len..data_len + 4],
        "skippable frame magic 0x184D2A53 (LE)",
    );
    d.field(
        &obj.bytes[data_len + 4..data_len + 8],
        &format!("skippable frame size u32 = {}", payload.len()),
    );
    dump_seal(&mut d, &obj.seal, payload);
    d.out
}

pub fn render() -> String {
    let key = key();
    let vk = key.verifying_key();
    let (s0, s1) = objects();
    let mut m = String::new();
    let pem = {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        vk.to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap()
    };
    let _ = writeln!(m, "Inputs:\n");
    let _ = writeln!(
        m,
        "* Ed25519 secret key (seed), RFC 8032 §7.1 TEST 1: `{SEED}`"
    );
    let _ = writeln!(
        m,
        "* public key (raw 32 bytes): `{}`",
        hex::encode(vk.as_bytes())
    );
    let _ = writeln!(
        m,
        "* key id = first 8 bytes of SHA-256(public key): `{}`",
        hex::encode(crate::keys::key_id(&vk))
    );
    let _ = writeln!(
        m,
        "* public key file (`keygen` writes it as SPKI PEM):\n\n```text\n{}```\n",
        pem
    );
    let _ = writeln!(
        m,
        "* stream `host-a`, heartbeat promise 60000 ms, zstd level 1."
    );
    let _ = writeln!(
        m,
        "* segment 0: an empty heartbeat, period {} .. {}, prev_hash all zeros.",
        ts(s0.seal.period_start_ns),
        ts(s0.seal.period_end_ns)
    );
    let _ = writeln!(
        m,
        "* segment 1: period {} .. {}, two events:\n",
        ts(s1.seal.period_start_ns),
        ts(s1.seal.period_end_ns)
    );
    let mut leaves = Vec::new();
    for (i, l) in lines().iter().enumerate() {
        let line = &l.sealed;
        let leaf = merkle::leaf_hash(line.as_bytes());
        leaves.push(leaf);
        let _ = writeln!(
            m,
            "  line {i}: the sealed (compact, §10) line of the syslog message\n\n  ```text\n  {}\n  ```\n\n  received over TCP from 192.0.2.1:40514 by the source `tcp` at {} (the event time, {}); {} bytes:\n",
            l.received,
            ts(l.time),
            l.time,
            line.len(),
        );
        let _ = writeln!(m, "  ```text\n  {line}\n  ```\n");
        let _ = writeln!(
            m,
            "  leaf {i} = SHA-256(0x00 ‖ line {i}) = `{}`\n",
            hex::encode(leaf)
        );
        let _ = writeln!(
            m,
            "  its ECS rendering (§10.3, not stored):\n\n  ```text\n  {}\n  ```\n",
            l.ecs
        );
    }
    let _ = writeln!(
        m,
        "  merkle_root = SHA-256(0x01 ‖ leaf 0 ‖ leaf 1) = `{}`\n",
        hex::encode(s1.seal.merkle_root)
    );
    assert_eq!(
        merkle::node_hash(&leaves[0], &leaves[1]),
        s1.seal.merkle_root
    );

    let _ = writeln!(m, "#### Segment 1, annotated ({} bytes)\n", s1.bytes.len());
    let _ = writeln!(
        m,
        "Object key: `{}`\n",
        object_key("host-a", 1, s1.seal.period_end_ns)
    );
    let _ = writeln!(
        m,
        "Offsets are from the start of the object; `+n` is the offset inside the seal payload.\n"
    );
    let _ = writeln!(m, "```text\n{}```\n", dump_object(&s1));
    let signed = s1.seal.signed_bytes();
    let _ = writeln!(m, "Derived values for segment 1:\n");
    let _ = writeln!(
        m,
        "* data frame = object bytes 0 .. {} (data_len, exclusive); SHA-256 = `{}`",
        s1.seal.data_len,
        hex::encode(s1.seal.data_sha256)
    );
    let _ = writeln!(
        m,
        "* seal frame = object bytes {} .. {}; payload = bytes {} .. {}",
        s1.seal.data_len,
        s1.bytes.len(),
        s1.seal.data_len + 8,
        s1.bytes.len()
    );
    let _ = writeln!(
        m,
        "* signed bytes = seal payload bytes +0 .. +{} (exclusive, {} bytes)",
        signed.len(),
        signed.len()
    );
    let _ = writeln!(
        m,
        "* seal hash = SHA-256(whole payload, {} bytes) = `{}`",
        s1.seal.to_bytes().len(),
        hex::encode(s1.seal.hash())
    );
    let _ = writeln!(
        m,
        "* prev_hash = seal hash of segment 0 = `{}`\n",
        hex::encode(s0.seal.hash())
    );

    let _ = writeln!(m, "#### Segment 0, annotated ({} bytes)\n", s0.bytes.len());
    let _ = writeln!(
        m,
        "Object key: `{}`\n",
        object_key("host-a", 0, s0.seal.period_end_ns)
    );
    let _ = writeln!(m, "```text\n{}```\n", dump_object(&s0));
    let _ = writeln!(
        m,
        "Seal hash of segment 0 = `{}`\n",
        hex::encode(s0.seal.hash())
    );
    use base64::Engine as _;
    let b64 = |b: &[u8]| {
        let s = base64::engine::general_purpose::STANDARD.encode(b);
        let rows: Vec<&str> = s
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        rows.join("\n")
    };
    let s2 = rotation(&s1);
    let next = next_key().verifying_key();
    let _ = writeln!(
        m,
        "#### Segment 2, a rotation seal, annotated ({} bytes)\n",
        s2.bytes.len()
    );
    let _ = writeln!(
        m,
        "The key of the inputs hands over to the RFC 8032 §7.1 TEST 2 key (seed `{NEXT_SEED}`, public key `{}`, key id `{}`): segment 2 is signed by the retiring key and names the next one; a segment 3 would be signed by the next key. No events, period {} .. {}. Object key: `{}`\n",
        hex::encode(next.as_bytes()),
        hex::encode(crate::keys::key_id(&next)),
        ts(s2.seal.period_start_ns),
        ts(s2.seal.period_end_ns),
        object_key("host-a", 2, s2.seal.period_end_ns)
    );
    let _ = writeln!(m, "```text\n{}```\n", dump_object(&s2));
    let _ = writeln!(
        m,
        "Seal hash of segment 2 = `{}`\n",
        hex::encode(s2.seal.hash())
    );
    let _ = writeln!(m, "#### The objects, base64 (for copying into a test)\n");
    let _ = writeln!(m, "Segment 0:\n\n```text\n{}\n```\n", b64(&s0.bytes));
    let _ = writeln!(m, "Segment 1:\n\n```text\n{}\n```\n", b64(&s1.bytes));
    let _ = writeln!(m, "Segment 2:\n\n```text\n{}\n```", b64(&s2.bytes));
    m
}
