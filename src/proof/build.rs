//! Making a proof from one segment: decode its lines once, hash each as a Merkle leaf,
//! keep the one asked for, and check that the content is the one the seal names before
//! handing anything out.

use std::io::Write;

use sha2::{Digest, Sha256};

use super::Proof;
use crate::event::compact_body;
use crate::segment::{copy_content, merkle, Seal, SegmentError};

/// Which line of a segment is wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A compact line (FORMAT.md §10.1) whose `pos` is this.
    Position(u64),
    /// An ECS line whose `event.id` is this (alerts, the daemon's own events).
    Id(String),
}

/// A segment's lines as a proof needs them: every leaf hash, where the compact lines'
/// positions start and end, and the wanted line if the segment holds it.
#[derive(Debug, Clone)]
pub struct SegmentLines {
    pub seal: Seal,
    pub leaves: Vec<[u8; 32]>,
    /// Lowest and highest `pos` of the segment's compact lines, if it has any.
    pub positions: Option<(u64, u64)>,
    /// The wanted line: its index and bytes (without `\n`).
    pub found: Option<(u64, Vec<u8>)>,
}

/// `pos` of a compact line, read from its fixed start `{"v":N,"pos":<digits>,`
/// (§10.1: `v` then `pos`, always). Enough to search by; `check` reads the line fully.
pub(crate) fn compact_position(line: &[u8]) -> Option<u64> {
    let rest = compact_body(line)?.strip_prefix(b"\"pos\":")?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// `event.id` of an ECS line, if it is a JSON object that has one.
pub(crate) fn ecs_event_id(line: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Line {
        event: Option<Event>,
    }
    #[derive(serde::Deserialize)]
    struct Event {
        id: Option<String>,
    }
    serde_json::from_slice::<Line>(line).ok()?.event?.id
}

/// Splits decoded content into lines as it streams past.
struct Scan<'a> {
    target: &'a Target,
    /// The whole event id, `<stream>:<rest>`.
    id: &'a str,
    line: Vec<u8>,
    leaves: Vec<[u8; 32]>,
    positions: Option<(u64, u64)>,
    found: Option<(u64, Vec<u8>)>,
}

impl Scan<'_> {
    fn end_line(&mut self) {
        let index = self.leaves.len() as u64;
        self.leaves.push(merkle::leaf_hash(&self.line));
        // A compact line by its `pos`; any other line by its own `event.id` (alerts, and
        // the ECS lines of segments sealed before compact lines existed).
        let wanted = match (self.target, compact_position(&self.line)) {
            (Target::Position(p), Some(pos)) => *p == pos,
            (Target::Id(_), Some(_)) => false,
            (Target::Position(_) | Target::Id(_), None) => {
                memchr::memmem::find(&self.line, self.id.as_bytes()).is_some()
                    && ecs_event_id(&self.line).as_deref() == Some(self.id)
            }
        };
        if let Some(pos) = compact_position(&self.line) {
            self.positions = Some(match self.positions {
                None => (pos, pos),
                Some((lo, hi)) => (lo.min(pos), hi.max(pos)),
            });
        }
        // The first such line: one event is sealed once (a replayed copy would be the
        // same event again).
        if wanted && self.found.is_none() {
            self.found = Some((index, std::mem::take(&mut self.line)));
        }
        self.line.clear();
    }
}

impl Write for Scan<'_> {
    fn write(&mut self, mut buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len();
        while let Some(i) = memchr::memchr(b'\n', buf) {
            self.line.extend_from_slice(&buf[..i]);
            self.end_line();
            buf = &buf[i + 1..];
        }
        self.line.extend_from_slice(buf);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decodes the data frame of a segment whose (already authenticated) seal is `seal`,
/// and requires the content to be the one the seal names: length and SHA-256 of the
/// frame, content length, line count, Merkle root. A segment that does not match its
/// seal gives no proof.
pub fn scan(data_frame: &[u8], seal: &Seal, target: &Target) -> Result<SegmentLines, SegmentError> {
    let id = match target {
        Target::Position(p) => format!("{}:{p}", seal.stream),
        Target::Id(id) => id.clone(),
    };
    let corrupt = |m: String| SegmentError::Corrupt(m);
    if data_frame.len() as u64 != seal.data_len {
        return Err(corrupt(format!(
            "data frame is {} bytes, the seal says {}",
            data_frame.len(),
            seal.data_len
        )));
    }
    let sha: [u8; 32] = Sha256::digest(data_frame).into();
    if sha != seal.data_sha256 {
        return Err(corrupt("the data frame's SHA-256 is not the seal's".into()));
    }
    let mut s = Scan {
        target,
        id: &id,
        line: Vec::new(),
        leaves: Vec::new(),
        positions: None,
        found: None,
    };
    let produced = copy_content(data_frame, seal.data_len, &mut s, seal.content_len)?;
    if !s.line.is_empty() {
        return Err(corrupt("the content's last line has no newline".into()));
    }
    if produced != seal.content_len || s.leaves.len() as u64 != seal.event_count {
        return Err(corrupt(format!(
            "{} lines in {produced} bytes, the seal says {} in {}",
            s.leaves.len(),
            seal.event_count,
            seal.content_len
        )));
    }
    let mut b = merkle::MerkleBuilder::new();
    s.leaves.iter().for_each(|l| b.push_leaf_hash(*l));
    if b.root() != seal.merkle_root {
        return Err(corrupt("the lines' Merkle root is not the seal's".into()));
    }
    Ok(SegmentLines {
        seal: seal.clone(),
        leaves: s.leaves,
        positions: s.positions,
        found: s.found,
    })
}

/// The proof of the wanted line of `lines` (`None` if the segment does not hold it),
/// with `chain` (later seals, in seq order) appended as they are.
pub fn build(lines: &SegmentLines, event_id: &str, chain: &[Seal]) -> Option<Proof> {
    let (index, line) = lines.found.as_ref()?;
    let path = merkle::inclusion_path(&lines.leaves, usize::try_from(*index).ok()?)?;
    Some(Proof {
        event_id: event_id.to_owned(),
        leaf_index: *index,
        tree_size: lines.leaves.len() as u64,
        line: line.clone(),
        path,
        seal: lines.seal.to_bytes(),
        chain: chain.iter().map(Seal::to_bytes).collect(),
    })
}
