//! The streaming reader against the whole-buffer implementations it replaced
//! (`reference`): same seal placement, same data frame facts, same content digest, on
//! real objects and on every kind of damage, whatever the chunking.

use sha2::{Digest, Sha256};

use super::reference;
use super::stream::{DecodeEnd, ObjectScanner};
use super::tests_support::{build, header, key, noisy_lines, sample_lines, seal_over};
use super::*;

/// The window a frame header asks for (the content size for a single-segment frame).
fn window_of(frame: &[u8]) -> Option<u64> {
    let fhd = *frame.get(4)?;
    if fhd & 0x20 != 0 {
        let at = 5 + [0, 1, 2, 4][usize::from(fhd & 3)];
        let n = [1, 2, 4, 8][usize::from(fhd >> 6)];
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(frame.get(at..at + n)?);
        Some(u64::from_le_bytes(b) + if n == 2 { 256 } else { 0 })
    } else {
        let wl = *frame.get(5)?;
        let base = 1u64 << ((wl >> 3) + 10);
        Some(base + (base / 8) * u64::from(wl & 7))
    }
}

/// Scans `bytes` in chunks of `chunk`, stopping early when the scanner says it may.
fn scan(bytes: &[u8], chunk: usize, decode_ahead: u64) -> stream::Scanned {
    let mut s = ObjectScanner::new(decode_ahead).unwrap();
    for c in bytes.chunks(chunk.max(1)) {
        s.feed(c);
        if s.decided() {
            break;
        }
    }
    if bytes.is_empty() {
        s.feed(&[]);
    }
    s.finish()
}

/// The scanner and the whole-buffer functions agree on `bytes`.
fn assert_same(bytes: &[u8], what: &str, chunks: &[usize]) {
    let want = reference::parse(bytes);
    for &chunk in chunks {
        let got = scan(bytes, chunk, u64::MAX);
        let what = format!("{what}, chunks of {chunk}");
        let placed = got
            .located
            .as_ref()
            .map(|l| (l.seal_start, l.seal.clone()))
            .map_err(|e| e.to_string());
        let expected = want
            .as_ref()
            .map(|v| (v.data_frame.len() as u64, v.seal.clone()))
            .map_err(|e| e.to_string());
        assert_eq!(placed, expected, "{what}: placement");
        let Ok(view) = &want else {
            continue;
        };
        let data = got.data.expect("a placed seal comes with its data frame");
        let frame = view.data_frame;
        assert_eq!(data.len, frame.len() as u64, "{what}");
        assert_eq!(
            data.sha256,
            <[u8; 32]>::from(Sha256::digest(frame)),
            "{what}"
        );
        let single = data
            .single_frame
            .as_ref()
            .map(|_| ())
            .map_err(|e| e.to_string());
        let ref_single = reference::check_single_frame(frame).map_err(|e| e.to_string());
        assert_eq!(single, ref_single, "{what}: single frame");
        if single.is_err() {
            continue;
        }
        if window_of(frame).is_some_and(|w| w > 1 << MAX_WINDOW_LOG) {
            // The one intended difference: windows beyond any writer's are refused.
            assert!(
                !matches!(data.content.end, DecodeEnd::Complete),
                "{what}: a too large window decoded"
            );
            continue;
        }
        // Which zstd error a damaged frame raises can depend on how its input arrived
        // (whole, or in pieces), so errors compare as errors here; the whole-buffer
        // digest test below compares their texts.
        let digest = match data.content.end {
            DecodeEnd::Complete => Ok(data.content.sink.finish()),
            DecodeEnd::Failed(_) | DecodeEnd::Stopped => Err(()),
        };
        let old = reference::digest_data_frame(frame, u64::MAX)
            .map(|d| ContentDigest {
                lines: d.lines,
                bytes: d.bytes,
                merkle_root: d.merkle_root,
                ends_with_newline: d.ends_with_newline,
            })
            .map_err(|_| ());
        assert_eq!(digest, old, "{what}: content");
    }
}

/// The whole-buffer digests, new and old, on `frame`: equal, error texts included.
fn assert_same_digest(frame: &[u8], limit: u64, what: &str) {
    if window_of(frame).is_some_and(|w| w > 1 << MAX_WINDOW_LOG) {
        return;
    }
    let new = digest_data_frame(frame, limit).map_err(|e| e.to_string());
    let old = reference::digest_data_frame(frame, limit)
        .map(|d| ContentDigest {
            lines: d.lines,
            bytes: d.bytes,
            merkle_root: d.merkle_root,
            ends_with_newline: d.ends_with_newline,
        })
        .map_err(|e| e.to_string());
    assert_eq!(new, old, "{what}, limit {limit}");
}

/// Offsets worth damaging: all of a small object; for a large one, both ends, both sides
/// of the tail window's edge, and a stride through the rest.
fn offsets(len: usize) -> Vec<usize> {
    if len <= 600 {
        return (0..len).collect();
    }
    let edge = len.saturating_sub(TAIL_MAX);
    let mut v: Vec<usize> = (0..64).collect();
    v.extend(edge.saturating_sub(32)..(edge + 32).min(len));
    v.extend(len.saturating_sub(300)..len);
    v.extend((64..len).step_by(211));
    v.sort_unstable();
    v.dedup();
    v
}

fn objects() -> Vec<(String, Vec<u8>)> {
    let mut v = vec![
        ("empty segment".to_string(), build(1, &[]).bytes),
        ("2 lines".to_string(), build(1, &sample_lines(2)).bytes),
        (
            "40 lines, level 19".to_string(),
            build(19, &sample_lines(40)).bytes,
        ),
        (
            "noisy, larger than the tail".to_string(),
            build(3, &noisy_lines(200)).bytes,
        ),
    ];
    // Authentic but odd: a frame followed by garbage inside the sealed data frame, and a
    // seal frame found only from the front, too long to be a seal.
    let good = build(1, &sample_lines(3));
    let view = parse(&good.bytes).unwrap();
    let mut frame = view.data_frame.to_vec();
    frame.extend_from_slice(b"garbage");
    v.push((
        "frame + garbage, sealed".into(),
        seal_over(&frame, &key(), |_| {}),
    ));
    let mut long = view.data_frame.to_vec();
    long.extend_from_slice(&SEAL_FRAME_MAGIC.to_le_bytes());
    long.extend_from_slice(&5000u32.to_le_bytes());
    long.extend_from_slice(b"STSEAL\x02\x00\x00\x06");
    long.resize(long.len() + 4990, 0);
    v.push(("a 5000-byte seal of version 2".into(), long));
    v
}

#[test]
fn scanner_places_the_seal_and_measures_the_frame_as_the_whole_buffer_code_does() {
    for (what, obj) in objects() {
        let (chunks, damaged): (&[usize], &[usize]) = if obj.len() > 600 {
            (&[7, 4096, usize::MAX], &[997])
        } else {
            (&[1, 13, usize::MAX], &[13, usize::MAX])
        };
        assert_same(&obj, &what, chunks);
        for cut in offsets(obj.len()) {
            assert_same(&obj[..cut], &format!("{what} cut at {cut}"), damaged);
        }
        for at in offsets(obj.len()) {
            for x in [0x01, 0xff] {
                let mut b = obj.clone();
                b[at] ^= x;
                assert_same(&b, &format!("{what}, byte {at} ^ {x:#x}"), damaged);
            }
        }
        let mut b = obj.clone();
        b.extend_from_slice(b"xyz");
        assert_same(&b, &format!("{what} + trailing bytes"), &[1, usize::MAX]);
        let mut b = obj.clone();
        b.extend_from_slice(&obj);
        assert_same(&b, &format!("{what} twice"), &[5, usize::MAX]);
    }
}

#[test]
fn scanner_gives_up_early_on_what_is_not_a_zstd_frame() {
    let mut s = ObjectScanner::new(u64::MAX).unwrap();
    s.feed(&[0u8; 3]);
    assert!(
        !s.decided(),
        "three zero bytes may still be cut short... of nothing"
    );
    s.feed(&[0u8; 1]);
    assert!(s.decided());
    assert!(matches!(
        s.finish().located,
        Err(SegmentError::Malformed(_))
    ));
}

#[test]
fn decode_ahead_stops_and_says_how_far_it_got() {
    let obj = build(1, &sample_lines(40)).bytes;
    let content = zstd::decode_all(&obj[..]).unwrap();
    let s = scan(&obj, 64, 100);
    let data = s.data.unwrap();
    assert!(matches!(data.content.end, DecodeEnd::Stopped));
    assert!(data.content.produced > 100);
    assert!(data.content.produced <= content.len() as u64);
    // The second pass over the data frame, limited by the seal, completes it.
    let view = parse(&obj).unwrap();
    let mut d = stream::FrameDigester::new(view.seal.content_len).unwrap();
    for c in view.data_frame.chunks(10) {
        d.feed(c);
    }
    let (sha, decoded) = d.finish();
    assert_eq!(sha, view.seal.data_sha256);
    assert!(matches!(decoded.end, DecodeEnd::Complete));
    assert_eq!(decoded.sink.finish().merkle_root, view.seal.merkle_root);
}

#[test]
fn streaming_digest_equals_the_whole_buffer_digest() {
    for (what, obj) in objects() {
        let Ok(view) = parse(&obj) else { continue };
        let frame = view.data_frame;
        for limit in [
            u64::MAX,
            view.seal.content_len,
            view.seal.content_len / 2,
            0,
        ] {
            assert_same_digest(frame, limit, &what);
        }
        for at in offsets(frame.len()) {
            let mut b = frame.to_vec();
            b[at] ^= 0x01;
            assert_same_digest(&b, u64::MAX, &format!("{what}, frame byte {at} ^ 1"));
        }
        for cut in offsets(frame.len()) {
            assert_same_digest(
                &frame[..cut],
                u64::MAX,
                &format!("{what}, frame cut at {cut}"),
            );
        }
    }
}

#[test]
fn windows_beyond_the_limit_are_refused_not_allocated() {
    // A window descriptor of 2^25 and 2^24, then one empty last raw block, no checksum.
    for (log, ok) in [(25u8, false), (24, true)] {
        let mut f = ZSTD_MAGIC.to_le_bytes().to_vec();
        f.extend_from_slice(&[0x00, (log - 10) << 3, 0x01, 0, 0]);
        let r = digest_data_frame(&f, u64::MAX);
        assert_eq!(r.is_ok(), ok, "window 2^{log}: {r:?}");
        if let Err(e) = r {
            assert!(e.to_string().contains("window exceeds 16 MiB"), "{e}");
        }
    }
}

/// The frame header the writer's settings give at `level`: what `SegmentWriter`
/// writes (streaming, so the content size is not known when the frame starts), without
/// compressing megabytes of content (slow in debug builds).
fn header_at(level: i32) -> Vec<u8> {
    use zstd::stream::raw::{CParameter, Encoder, Operation, OutBuffer};
    let mut e = Encoder::new(level).unwrap();
    e.set_parameter(CParameter::ChecksumFlag(true)).unwrap();
    let mut out = vec![0u8; 1 << 16];
    let st = e.run_on_buffers(b"{}\n", &mut out).unwrap();
    let mut rest = OutBuffer::around(&mut out[st.bytes_written..]);
    e.flush(&mut rest).unwrap();
    out
}

/// The writer's window at every level it may be configured with stays within
/// `MAX_WINDOW_LOG`. Without a known content size zstd uses the level's full window.
#[test]
fn every_writer_level_fits_the_decoder_window() {
    let size = (8 << 20) + 4096;
    let mut widest = 0;
    for level in 1..=19 {
        let w = window_of(&header_at(level)).unwrap();
        widest = widest.max(w);
        assert!(w <= 1 << MAX_WINDOW_LOG, "level {level}: window {w}");
    }
    assert_eq!(widest, 1 << 23, "levels 17 to 19 use an 8 MiB window");
    // The shortcut gives what the sealer writes (checked at the fast level).
    let line = br#"{"@timestamp":"2024-05-01T12:00:00Z","message":"Accepted publickey"}"#;
    let mut b = SegmentBuilder::new(1).unwrap();
    while (b.uncompressed_len() as u64) < size {
        b.push_line(line, 0);
    }
    let len = b.uncompressed_len() as u64;
    let s = b.finish(header(), &key()).unwrap();
    let view = parse(&s.bytes).unwrap();
    assert!(len >= size);
    assert_eq!(window_of(view.data_frame), window_of(&header_at(1)));
}

#[test]
fn inspect_reads_the_seal_from_the_end_and_copies_the_content() {
    let obj = build(1, &noisy_lines(100)).bytes;
    let view = parse(&obj).unwrap();
    let found = read_seal(&mut std::io::Cursor::new(&obj)).unwrap();
    assert_eq!(found.seal, view.seal);
    assert_eq!(found.seal_start, view.data_frame.len() as u64);
    let mut out = Vec::new();
    let n = copy_content(&obj[..], found.seal_start, &mut out, found.seal.content_len).unwrap();
    assert_eq!(out, zstd::decode_all(&obj[..]).unwrap());
    assert_eq!(n, out.len() as u64);
    // A limit below the content, and a frame that ends before the data frame does.
    assert!(matches!(
        copy_content(&obj[..], found.seal_start, &mut Vec::new(), 10),
        Err(SegmentError::TooLarge { limit: 10 })
    ));
    let mut longer = view.data_frame.to_vec();
    longer.extend_from_slice(b"zz");
    let e = copy_content(&longer[..], longer.len() as u64, &mut Vec::new(), u64::MAX);
    assert!(e.unwrap_err().to_string().contains("ends at byte"));
    // Without a seal at the end, the file is walked and the error is parse's.
    for cut in [10, obj.len() - 5, obj.len() - 300] {
        let b = &obj[..cut];
        let got = read_seal(&mut std::io::Cursor::new(b)).map(|f| f.seal_start);
        let want = reference::parse(b).map(|v| v.data_frame.len() as u64);
        assert_eq!(
            got.map_err(|e| e.to_string()),
            want.map_err(|e| e.to_string()),
            "cut at {cut}"
        );
    }
}
