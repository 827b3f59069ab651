//! Per-event proofs (`docs/FORMAT.md` §12): one sealed event line, its RFC 6962 audit
//! path to the Merkle root of its segment, and the signed seal that names the root,
//! optionally followed by the later seals that chain it to a chain head (an anchor).
//!
//! An auditor hands out one event without the segment's other events, and whoever gets
//! it checks it with the public keys alone. The file is one line of canonical JSON:
//! every value is an integer, hex or base64, in a fixed order with no white space, so
//! there is exactly one encoding of each proof. [`Proof::parse`] re-encodes what it
//! read and refuses anything that is not byte for byte that encoding, so a proof with
//! any byte changed fails, even where the change would not alter a decoded value
//! (upper-case hex, a space, base64 with non-zero padding bits).
//!
//! `build` makes a proof from a segment (`find` locates the segment in an archive);
//! `check` verifies one. Checking needs only `segment` (seal, Merkle tree), the keyring
//! and the event line reader: not the daemon.

mod build;
mod check;
mod find;

use base64::Engine as _;

use crate::segment::{SegmentError, MAX_STREAM_LEN};

pub use build::{build, scan, SegmentLines, Target};
pub use check::{check, Checked};
pub use find::{find, ChainTo, FindError, Found};

/// Version of the proof document this build writes and reads.
pub const PROOF_VERSION: u64 = 1;
/// Largest proof file `check-proof` reads. The line is at most a segment's line and
/// the chain a few hundred bytes per seal: 64 MiB is ~180,000 chained seals.
pub const MAX_PROOF_BYTES: u64 = 64 << 20;
/// Longest audit path: a tree of at most 2^64 leaves.
pub const MAX_PATH: usize = 64;
/// Longest event id: a stream id, `:`, and what follows (a position, or an alert's
/// `<position>:alert:<n>`).
pub const MAX_EVENT_ID: usize = MAX_STREAM_LEN + 1 + 64;

/// Why a proof cannot be read, or does not verify. Each check has its own variant, so
/// a failure names what failed.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// Not a proof document (JSON, members, types, encodings).
    #[error("not a proof document: {0}")]
    Malformed(String),
    #[error("proof version {0} is not supported (this build reads version {PROOF_VERSION})")]
    UnsupportedVersion(u64),
    /// Decodes, but is not the canonical encoding of what it decodes to.
    #[error("not in canonical form (the proof was altered or not written by sealtrail): first difference at byte {0}")]
    NotCanonical(usize),
    #[error("the proof's seal: {0}")]
    Seal(SegmentError),
    #[error("the seal names key id {key_id}, which is not in the keyring ({keyring})")]
    UnknownKey { key_id: String, keyring: String },
    #[error("the seal's signature does not verify with key {0}")]
    BadSignature(String),
    #[error("tree_size {tree_size} is not the seal's event_count {event_count}")]
    TreeSize { tree_size: u64, event_count: u64 },
    #[error("the audit path does not fit leaf {index} of a tree of {size}: {detail}")]
    PathShape {
        index: u64,
        size: u64,
        detail: String,
    },
    #[error("the audit path leads to root {computed}, not the seal's merkle_root {sealed}")]
    RootMismatch { computed: String, sealed: String },
    #[error("event id: {0}")]
    EventId(String),
    #[error("the chain, at seal {index} (seq {seq}): {detail}")]
    Chain {
        index: usize,
        seq: u64,
        detail: String,
    },
    #[error("the anchor: {0}")]
    Anchor(String),
}

impl ProofError {
    /// The failure's name, as `check-proof --json` reports it (FORMAT.md §12.3).
    pub fn kind(&self) -> &'static str {
        match self {
            ProofError::Malformed(_) => "malformed",
            ProofError::UnsupportedVersion(_) => "unsupported_version",
            ProofError::NotCanonical(_) => "not_canonical",
            ProofError::Seal(_) => "bad_seal",
            ProofError::UnknownKey { .. } => "wrong_key",
            ProofError::BadSignature(_) => "bad_signature",
            ProofError::TreeSize { .. } => "tree_size_mismatch",
            ProofError::PathShape { .. } => "bad_path",
            ProofError::RootMismatch { .. } => "merkle_mismatch",
            ProofError::EventId(_) => "event_id_mismatch",
            ProofError::Chain { .. } => "chain_broken",
            ProofError::Anchor(_) => "anchor_mismatch",
        }
    }
}

/// A decoded proof (FORMAT.md §12). [`Proof::encode`] is its one canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// `<stream>:<position>` (or an alert's id): what the proof is about.
    pub event_id: String,
    /// Index of the line among the segment's lines (the Merkle leaf), from 0.
    pub leaf_index: u64,
    /// Number of lines in the segment: the seal's `event_count`.
    pub tree_size: u64,
    /// The event line exactly as sealed, without its `\n`.
    pub line: Vec<u8>,
    /// The audit path, the leaf's sibling first (RFC 6962 §2.1.1).
    pub path: Vec<[u8; 32]>,
    /// The segment's seal payload (FORMAT.md §2), signature included.
    pub seal: Vec<u8>,
    /// Seal payloads of the segments after it, in seq order: each names the hash of the
    /// one before. Empty when the proof stops at its own seal.
    pub chain: Vec<Vec<u8>>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Characters an event id may hold: those of a stream id, and `:`. Nothing in an id
/// needs a JSON escape, so the canonical form is plain to state.
pub fn valid_event_id(id: &str) -> bool {
    (3..=MAX_EVENT_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

impl Proof {
    /// The canonical encoding: one line of JSON, members in this order, no white space,
    /// integers in decimal without leading zeros, hashes in lower-case hex, bytes in
    /// padded standard base64, a final `\n`.
    pub fn encode(&self) -> Vec<u8> {
        let b = b64();
        let mut s = String::with_capacity(512 + self.line.len() * 4 / 3 + self.chain.len() * 360);
        s.push_str("{\"sealtrail_proof\":");
        s.push_str(&PROOF_VERSION.to_string());
        s.push_str(",\"event_id\":\"");
        s.push_str(&self.event_id);
        s.push_str("\",\"leaf_index\":");
        s.push_str(&self.leaf_index.to_string());
        s.push_str(",\"tree_size\":");
        s.push_str(&self.tree_size.to_string());
        s.push_str(",\"line\":\"");
        b.encode_string(&self.line, &mut s);
        s.push_str("\",\"path\":[");
        for (i, p) in self.path.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('"');
            s.push_str(&hex::encode(p));
            s.push('"');
        }
        s.push_str("],\"seal\":\"");
        b.encode_string(&self.seal, &mut s);
        s.push_str("\",\"chain\":[");
        for (i, c) in self.chain.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('"');
            b.encode_string(c, &mut s);
            s.push('"');
        }
        s.push_str("]}\n");
        s.into_bytes()
    }

    /// Reads a proof document and requires it to be exactly [`Proof::encode`] of what
    /// it holds. Structure only: [`check`] verifies it.
    pub fn parse(bytes: &[u8]) -> Result<Proof, ProofError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Doc {
            sealtrail_proof: u64,
            event_id: String,
            leaf_index: u64,
            tree_size: u64,
            line: String,
            path: Vec<String>,
            seal: String,
            chain: Vec<String>,
        }
        let bad = |m: String| ProofError::Malformed(m);
        if bytes.len() as u64 > MAX_PROOF_BYTES {
            return Err(bad(format!(
                "{} bytes is larger than the limit of {MAX_PROOF_BYTES}",
                bytes.len()
            )));
        }
        // The version first, so a later version is named as such.
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("JSON: {e}")))?;
        match v.get("sealtrail_proof").and_then(|x| x.as_u64()) {
            Some(PROOF_VERSION) => {}
            Some(other) => return Err(ProofError::UnsupportedVersion(other)),
            None => return Err(bad("no `sealtrail_proof` version member".into())),
        }
        let d: Doc = serde_json::from_value(v).map_err(|e| bad(e.to_string()))?;
        if d.sealtrail_proof != PROOF_VERSION {
            return Err(ProofError::UnsupportedVersion(d.sealtrail_proof));
        }
        if !valid_event_id(&d.event_id) {
            return Err(bad(format!(
                "event_id {:?} is not [A-Za-z0-9._:-]{{3,{MAX_EVENT_ID}}}",
                d.event_id
            )));
        }
        if d.path.len() > MAX_PATH {
            return Err(bad(format!(
                "an audit path of {} hashes is longer than any ({MAX_PATH})",
                d.path.len()
            )));
        }
        let decode = |what: &str, s: &str| {
            b64()
                .decode(s)
                .map_err(|e| bad(format!("{what} is not base64: {e}")))
        };
        let mut path = Vec::with_capacity(d.path.len());
        for (i, h) in d.path.iter().enumerate() {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h, &mut out)
                .map_err(|e| bad(format!("path[{i}] is not 32 bytes of hex: {e}")))?;
            path.push(out);
        }
        let mut chain = Vec::with_capacity(d.chain.len());
        for (i, c) in d.chain.iter().enumerate() {
            chain.push(decode(&format!("chain[{i}]"), c)?);
        }
        let proof = Proof {
            event_id: d.event_id,
            leaf_index: d.leaf_index,
            tree_size: d.tree_size,
            line: decode("line", &d.line)?,
            path,
            seal: decode("seal", &d.seal)?,
            chain,
        };
        let canonical = proof.encode();
        if canonical != bytes {
            let at = canonical
                .iter()
                .zip(bytes)
                .position(|(a, b)| a != b)
                .unwrap_or(canonical.len().min(bytes.len()));
            return Err(ProofError::NotCanonical(at));
        }
        Ok(proof)
    }
}

#[cfg(test)]
mod tests;
