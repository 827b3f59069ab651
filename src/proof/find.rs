//! Finding an event's segment in an archive and collecting the seals after it.
//!
//! The event id names the stream, so only `<prefix>/<stream>/` is listed; the object
//! keys give each segment's seq. Journal positions only grow along a stream's chain
//! (an event id is never reused, docs/ARCHITECTURE.md), so the segment holding a
//! position is found by bisection over seq: about log2(segments) segments are decoded,
//! plus the heartbeats (no events, nothing to decode: only their seal is read) met on
//! the way. An ECS id (an alert's `<stream>:<position>:alert:<n>`) follows no order, so
//! for one every segment of the stream is read.
//!
//! A segment that cannot be read or does not match its seal only steers the search
//! less: it is stepped over like a heartbeat, and named in the answer when the event is
//! not found (it may be in it). Damage elsewhere in a stream does not stop the proof of
//! an intact event; `verify` is what reports the damage.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use futures::StreamExt;
use object_store::path::Path as StorePath;

use super::build::{scan, SegmentLines, Target};
use super::{build, Proof, ProofError};
use crate::segment::{self, Seal, TAIL_MAX};
use crate::store::Archive;
use crate::verify::{Keyring, MAX_OBJECT_BYTES};

/// Where a proof's chain should end.
#[derive(Debug, Clone)]
pub enum ChainTo {
    /// At the event's own seal.
    Own,
    /// At the newest seal of the stream in the archive.
    Head,
    /// At this seal (an anchor's, FORMAT.md §11), which the archive must reach.
    Anchor(Box<Seal>),
}

/// Why no proof was made.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error("{0:?} is not an event id (<stream>:<position>, the stream [A-Za-z0-9._-]{{1,64}})")]
    BadId(String),
    #[error("the archive has no segment of stream {0:?}")]
    NoStream(String),
    #[error("no event {id} in the archive: {detail}")]
    NotFound { id: String, detail: String },
    #[error("{object}: {detail}")]
    Object { object: String, detail: String },
    #[error("chain: {0}")]
    Chain(String),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// The proof made does not verify (a bug, or an archive that changed meanwhile).
    #[error("the proof made does not verify: {0}")]
    Check(#[from] ProofError),
}

/// A proof, and what finding it took.
#[derive(Debug)]
pub struct Found {
    pub proof: Proof,
    pub object: String,
    pub segments: usize,
    /// Segments whose content was decoded to find the event.
    pub decoded: usize,
}

/// The archive's segments of one stream, by seq (a seq held twice keeps every copy).
type Listing = BTreeMap<u64, Vec<StorePath>>;

async fn list(archive: &Archive, stream: &str) -> Result<Listing, FindError> {
    let prefix = if archive.prefix.as_ref().is_empty() {
        StorePath::from(stream)
    } else {
        archive.prefix.child(stream)
    };
    let mut out = Listing::new();
    let mut items = archive.store.list(Some(&prefix));
    while let Some(item) = items.next().await {
        let meta = item?;
        if let Some(parts) = segment::parse_object_key_parts(meta.location.as_ref()) {
            if parts.stream == stream {
                out.entry(parts.seq).or_default().push(meta.location);
            }
        }
    }
    Ok(out)
}

/// One object, read whole and split into data frame and seal (not yet authenticated).
async fn read(archive: &Archive, at: &StorePath) -> Result<(Vec<u8>, Seal), FindError> {
    let got = archive.store.get(at).await?;
    if got.meta.size > MAX_OBJECT_BYTES {
        return Err(object_error(
            at,
            format!("{} bytes is too large to read", got.meta.size),
        ));
    }
    let bytes = got.bytes().await?;
    let view = segment::parse(&bytes).map_err(|e| object_error(at, e.to_string()))?;
    Ok((view.data_frame.to_vec(), view.seal))
}

/// Only the seal of an object: its first 4 and last [`TAIL_MAX`] bytes, read with range
/// requests, placed as `inspect` does (FORMAT.md §1.1); when they do not place it, the
/// whole object under the full rules. A chain to the head crosses many segments, whose
/// data frames it does not need.
async fn read_seal_only(archive: &Archive, at: &StorePath) -> Result<Seal, FindError> {
    let len = archive.store.head(at).await?.size;
    let tail_len = TAIL_MAX as u64;
    if len <= tail_len + 4 {
        return Ok(read(archive, at).await?.1);
    }
    let head = archive.store.get_range(at, 0..4).await?;
    let tail = archive.store.get_range(at, len - tail_len..len).await?;
    let mut sparse = Sparse {
        len,
        head,
        tail,
        pos: 0,
    };
    match segment::read_seal(&mut sparse) {
        Ok(found) => Ok(found.seal),
        Err(_) => Ok(read(archive, at).await?.1),
    }
}

/// An object of which only the first and last bytes were fetched, readable there.
struct Sparse {
    len: u64,
    head: bytes::Bytes,
    tail: bytes::Bytes,
    pos: u64,
}

impl std::io::Read for Sparse {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let tail_start = self.len.saturating_sub(self.tail.len() as u64);
        let (src, off) = if self.pos < self.head.len() as u64 {
            (&self.head, self.pos)
        } else if self.pos >= tail_start {
            (&self.tail, self.pos - tail_start)
        } else {
            return Err(std::io::Error::other(
                "that part of the object was not fetched",
            ));
        };
        let rest = usize::try_from(off)
            .ok()
            .and_then(|o| src.get(o..))
            .unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for Sparse {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let base = match to {
            std::io::SeekFrom::Start(n) => Some(n),
            std::io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = base.ok_or_else(|| std::io::Error::other("seek out of range"))?;
        Ok(self.pos)
    }
}

fn object_error(at: &StorePath, detail: String) -> FindError {
    FindError::Object {
        object: at.to_string(),
        detail,
    }
}

/// The seal must verify with the keyring key it names: only such seals go into a
/// proof. (Segments read only to find the event need not: they only steer the search.)
fn authentic(at: &StorePath, seal: &Seal, ring: &Keyring) -> Result<(), FindError> {
    let named = ring.ids().iter().position(|id| *id == seal.key_id);
    match (named, ring.signer(seal)) {
        (Some(i), Ok(j)) if i == j => Ok(()),
        (None, _) => Err(object_error(
            at,
            format!(
                "the seal names key {}, not in the keyring ({})",
                hex::encode(seal.key_id),
                ring.list()
            ),
        )),
        _ => Err(object_error(
            at,
            "the seal's signature does not verify".into(),
        )),
    }
}

/// What the search read so far.
#[derive(Default)]
struct Searched {
    /// Segments whose content was decoded.
    decoded: usize,
    /// The positions the decoded segments hold, first to last.
    seen: Option<(u64, u64)>,
    /// Segments stepped over: the object and why it could not be searched.
    unreadable: Vec<(String, String)>,
}

impl Searched {
    /// Why `id` was not found, with what was read on the way.
    fn not_found(&self, id: &str, stream: &str, seqs: &[u64]) -> FindError {
        let (first, last) = (seqs.first().copied(), seqs.last().copied());
        let mut detail = match (self.seen, first.zip(last)) {
            (Some((a, b)), Some((f, l))) => format!(
                "stream {stream} has {} segments (seq {f} to {l}); the {} decoded hold positions {a} to {b}, not this one",
                seqs.len(),
                self.decoded
            ),
            _ => format!("stream {stream} has {} segments, none holds it", seqs.len()),
        };
        if !self.unreadable.is_empty() {
            let named: Vec<String> = self
                .unreadable
                .iter()
                .take(3)
                .map(|(o, e)| format!("{o}: {e}"))
                .collect();
            let more = self.unreadable.len().saturating_sub(named.len());
            let _ = write!(
                detail,
                "; {} segment(s) could not be searched and may hold it ({}{})",
                self.unreadable.len(),
                named.join("; "),
                if more > 0 {
                    format!("; and {more} more")
                } else {
                    String::new()
                }
            );
        }
        FindError::NotFound {
            id: id.to_owned(),
            detail,
        }
    }
}

/// Reads and decodes one segment; a heartbeat's seal says there is nothing to decode.
/// `None` when it cannot be read or does not match its seal (noted in `searched`); a
/// failing object store is an error.
async fn probe(
    archive: &Archive,
    at: &StorePath,
    target: &Target,
    searched: &mut Searched,
) -> Result<Option<SegmentLines>, FindError> {
    let (frame, seal) = match read(archive, at).await {
        Ok(r) => r,
        Err(FindError::Object { object, detail }) => {
            searched.unreadable.push((object, detail));
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    if seal.event_count > 0 {
        searched.decoded += 1;
    }
    match scan(&frame, &seal, target) {
        Ok(lines) => Ok(Some(lines)),
        Err(e) => {
            searched
                .unreadable
                .push((at.to_string(), format!("does not match its seal: {e}")));
            Ok(None)
        }
    }
}

/// Finds the event `id` in `archive` and makes its proof, chained as `to` says; the
/// proof is checked with `ring` before it is returned.
pub async fn find(
    archive: &Archive,
    id: &str,
    ring: &Keyring,
    to: &ChainTo,
) -> Result<Found, FindError> {
    let (stream, rest) = id
        .split_once(':')
        .filter(|(s, r)| segment::valid_stream_id(s) && !r.is_empty() && super::valid_event_id(id))
        .ok_or_else(|| FindError::BadId(id.to_owned()))?;
    let target = match rest.parse::<u64>() {
        Ok(pos) if pos.to_string() == rest => Target::Position(pos),
        _ => Target::Id(id.to_owned()),
    };
    let listing = list(archive, stream).await?;
    if listing.is_empty() {
        return Err(FindError::NoStream(stream.to_owned()));
    }
    let seqs: Vec<u64> = listing.keys().copied().collect();
    let mut searched = Searched::default();
    let mut hit: Option<(SegmentLines, StorePath)> = None;
    match target {
        Target::Position(pos) => {
            let (mut lo, mut hi) = (0usize, seqs.len());
            'search: while lo < hi {
                let mid = lo + (hi - lo) / 2;
                // The first segment at or after `mid` with compact lines (an unreadable
                // one is stepped over like a heartbeat).
                let mut j = mid;
                let mut probed = None;
                while j < hi {
                    for at in &listing[&seqs[j]] {
                        let Some(lines) = probe(archive, at, &target, &mut searched).await? else {
                            continue;
                        };
                        if lines.found.is_some() {
                            hit = Some((lines, at.clone()));
                            break 'search;
                        }
                        if let Some(r) = lines.positions {
                            searched.seen =
                                Some(searched.seen.map_or(r, |(a, b)| (a.min(r.0), b.max(r.1))));
                            probed.get_or_insert(r);
                        }
                    }
                    if probed.is_some() {
                        break;
                    }
                    j += 1;
                }
                match probed {
                    None => hi = mid,
                    Some((first, _)) if pos < first => hi = mid,
                    Some((_, last)) if pos > last => lo = j + 1,
                    // Within the segment's positions, but not one of them.
                    Some(_) => break,
                }
            }
        }
        Target::Id(_) => {
            'all: for seq in &seqs {
                for at in &listing[seq] {
                    let Some(lines) = probe(archive, at, &target, &mut searched).await? else {
                        continue;
                    };
                    if lines.found.is_some() {
                        hit = Some((lines, at.clone()));
                        break 'all;
                    }
                }
            }
        }
    }
    let Some((lines, at)) = hit else {
        return Err(searched.not_found(id, stream, &seqs));
    };
    authentic(&at, &lines.seal, ring)?;
    let chain = collect_chain(archive, &listing, &lines.seal, ring, to).await?;
    let proof = build::build(&lines, id, &chain).ok_or_else(|| FindError::NotFound {
        id: id.to_owned(),
        detail: "the line was found but its path could not be made".into(),
    })?;
    let anchor = match to {
        ChainTo::Anchor(a) => Some(&**a),
        _ => None,
    };
    super::check(&proof, ring, anchor)?;
    Ok(Found {
        proof,
        object: at.to_string(),
        segments: listing.values().map(Vec::len).sum(),
        decoded: searched.decoded,
    })
}

/// The seals after `from` up to where `to` says, each the copy that links to the one
/// before; only their seals are read.
async fn collect_chain(
    archive: &Archive,
    listing: &Listing,
    from: &Seal,
    ring: &Keyring,
    to: &ChainTo,
) -> Result<Vec<Seal>, FindError> {
    let last = match to {
        ChainTo::Own => return Ok(Vec::new()),
        ChainTo::Head => listing.keys().next_back().copied().unwrap_or(from.seq),
        ChainTo::Anchor(a) => {
            if a.stream != from.stream || a.seq < from.seq {
                return Err(FindError::Chain(format!(
                    "the anchor is {} seq {}, not at or after {} seq {}",
                    a.stream, a.seq, from.stream, from.seq
                )));
            }
            a.seq
        }
    };
    let mut chain: Vec<Seal> = Vec::new();
    let mut prev = from.clone();
    for seq in from.seq + 1..=last {
        let mut next = None;
        // A copy whose seal cannot be read is passed over for another copy of the seq.
        let mut unreadable = Vec::new();
        for at in listing.get(&seq).into_iter().flatten() {
            let seal = match read_seal_only(archive, at).await {
                Ok(seal) => seal,
                Err(FindError::Object { object, detail }) => {
                    unreadable.push(format!("{object}: {detail}"));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if seal.prev_hash == prev.hash() {
                authentic(at, &seal, ring)?;
                next = Some(seal);
                break;
            }
        }
        let Some(seal) = next else {
            let why = if unreadable.is_empty() {
                String::new()
            } else {
                format!("; unreadable: {}", unreadable.join("; "))
            };
            return Err(FindError::Chain(format!(
                "the archive has no segment at seq {seq} that links to seq {} (seal hash {}){why}",
                prev.seq,
                hex::encode(prev.hash())
            )));
        };
        chain.push(seal.clone());
        prev = seal;
    }
    if let ChainTo::Anchor(a) = to {
        if prev.hash() != a.hash() {
            return Err(FindError::Chain(format!(
                "the archive's seq {} is not the anchor's seal (seal hash {}, the anchor's {})",
                prev.seq,
                hex::encode(prev.hash()),
                hex::encode(a.hash())
            )));
        }
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seal of a segment larger than the tail is placed from its first and last
    /// bytes alone: nothing else of it is needed.
    #[test]
    fn a_seal_is_read_from_the_ends_of_its_object() {
        use crate::segment::tests_support;
        let s = tests_support::build(1, &tests_support::noisy_lines(400));
        let len = s.bytes.len();
        assert!(len > 3 * TAIL_MAX, "{len}");
        let mut sparse = Sparse {
            len: len as u64,
            head: bytes::Bytes::copy_from_slice(&s.bytes[..4]),
            tail: bytes::Bytes::copy_from_slice(&s.bytes[len - TAIL_MAX..]),
            pos: 0,
        };
        let found = segment::read_seal(&mut sparse).unwrap();
        assert_eq!(found.seal, s.seal);
        // The middle was never fetched: reading it is an error, not zeros.
        use std::io::{Read, Seek};
        sparse.seek(std::io::SeekFrom::Start(100)).unwrap();
        assert!(sparse.read(&mut [0u8; 8]).is_err());
    }
}
