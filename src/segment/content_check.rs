//! Whether a segment's data frame is the one its seal describes, checked without a key:
//! its length and SHA-256, and the line count, content length and Merkle root of what
//! it decodes to. `inspect` runs it so a tampered segment is never printed as if it were
//! fine; only the signature (which needs the public key) is left to `verify`.

use std::io::Read;

use super::stream::{for_each_chunk, DecodeEnd, FrameDigester};
use super::{Located, SegmentError};

/// Every way the data frame at the start of `r` differs from `found`'s seal; empty when
/// it matches. Reads the frame once, with memory bounded by the seal's `content_len`.
pub fn check_content<R: Read>(r: R, found: &Located) -> Result<Vec<String>, SegmentError> {
    let seal = &found.seal;
    let mut problems = Vec::new();
    if found.seal_start != seal.data_len {
        problems.push(format!(
            "data frame: {} bytes before the seal, the seal says {}",
            found.seal_start, seal.data_len
        ));
    }
    let mut digester = FrameDigester::new(seal.content_len)?;
    for_each_chunk(r.take(found.seal_start), |chunk| {
        digester.feed(chunk);
        true
    })?;
    let (sha, decoded) = digester.finish();
    if sha != seal.data_sha256 {
        problems.push("data_sha256: the data frame's SHA-256 differs from the seal's".into());
    }
    match decoded.end {
        DecodeEnd::Complete => {
            let d = decoded.sink.finish();
            if d.lines != seal.event_count {
                problems.push(format!(
                    "event_count: {} lines, the seal says {}",
                    d.lines, seal.event_count
                ));
            }
            if d.bytes != seal.content_len {
                problems.push(format!(
                    "content_len: {} bytes, the seal says {}",
                    d.bytes, seal.content_len
                ));
            }
            if d.merkle_root != seal.merkle_root {
                problems.push("merkle_root: the lines' Merkle root differs from the seal's".into());
            }
        }
        DecodeEnd::Stopped => problems.push(format!(
            "content_len: the content is longer than the seal's {} bytes",
            seal.content_len
        )),
        DecodeEnd::Failed(e) => problems.push(format!("data frame: {e}")),
    }
    Ok(problems)
}
