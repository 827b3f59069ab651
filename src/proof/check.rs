//! Checking a proof with the public keys alone (FORMAT.md §12.3), in the order the
//! document gives: seal, signature, tree size, audit path, event id, chain, anchor.

use super::build::compact_position;
use super::{build::ecs_event_id, Proof, ProofError};
use crate::event::compact_body;
use crate::keys::key_id_of;
use crate::segment::{merkle, Seal, SealKind};
use crate::verify::Keyring;

/// What a valid proof showed.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The seal of the event's segment.
    pub seal: Seal,
    /// The last seal of the chain (the event's own when the chain is empty).
    pub head: Seal,
    /// The anchor's seal was reached (only when one was given).
    pub anchored: bool,
}

/// The ring key named by `seal` must be in the ring and verify its signature.
fn signed_by_named_key(ring: &Keyring, seal: &Seal) -> Result<(), ProofError> {
    let named = ring.ids().iter().position(|id| *id == seal.key_id);
    match (named, ring.signer(seal)) {
        (Some(i), Ok(j)) if i == j => Ok(()),
        (Some(_), _) => Err(ProofError::BadSignature(hex::encode(seal.key_id))),
        (None, _) => Err(ProofError::UnknownKey {
            key_id: hex::encode(seal.key_id),
            keyring: ring.list(),
        }),
    }
}

/// The event id must name the seal's stream, and the line must be that event: a
/// compact line whose `pos` is the id's position, or an ECS line whose `event.id` is
/// the id.
fn check_event_id(id: &str, seal: &Seal, line: &[u8]) -> Result<(), ProofError> {
    let err = |m: String| ProofError::EventId(m);
    let Some((stream, rest)) = id.split_once(':') else {
        return Err(err(format!("{id:?} is not <stream>:<position>")));
    };
    if stream != seal.stream {
        return Err(err(format!(
            "{id:?} names stream {stream:?}, the seal is of stream {:?}",
            seal.stream
        )));
    }
    if line.contains(&b'\n') {
        return Err(err("the line holds a newline".into()));
    }
    if compact_body(line).is_some() {
        let ev = crate::event::compact::parse(line)
            .map_err(|e| err(format!("the line is not a valid compact event line: {e}")))?;
        // `pos` second, as §10.1 orders the members: the reading `prove` searches by.
        if compact_position(line) != Some(ev.position) {
            return Err(err(
                "the line's members are not in the order of a compact line".into(),
            ));
        }
        if rest != ev.position.to_string() {
            return Err(err(format!(
                "{id:?} does not name the line, whose id is {}:{}",
                seal.stream, ev.position
            )));
        }
        return Ok(());
    }
    if line.starts_with(b"{\"v\":") {
        return Err(err(
            "the line is a compact line of a version this build does not read".into(),
        ));
    }
    match ecs_event_id(line) {
        Some(found) if found == id => Ok(()),
        Some(found) => Err(err(format!(
            "{id:?} does not name the line, whose event.id is {found:?}"
        ))),
        None => Err(err(
            "the line is neither a compact line nor an ECS event with an event.id".into(),
        )),
    }
}

/// Each seal of `chain` must follow the one before it (FORMAT.md §7: same stream, next
/// seq, `prev_hash` = its seal hash, periods tiling) and be signed by the key valid for
/// it: the key before, or after a rotation seal the key that seal hands over to
/// (§5.1). Returns the last seal.
fn check_chain(ring: &Keyring, first: &Seal, chain: &[Vec<u8>]) -> Result<Seal, ProofError> {
    let mut prev = first.clone();
    for (i, bytes) in chain.iter().enumerate() {
        let index = i + 1;
        let fail = |seq: u64, detail: String| ProofError::Chain { index, seq, detail };
        let next = Seal::from_bytes(bytes).map_err(|e| fail(prev.seq + 1, e.to_string()))?;
        let seq = next.seq;
        if next.stream != prev.stream {
            return Err(fail(
                seq,
                format!("stream {:?}, not {:?}", next.stream, prev.stream),
            ));
        }
        if Some(seq) != prev.seq.checked_add(1) {
            return Err(fail(seq, format!("follows seq {}", prev.seq)));
        }
        if next.prev_hash != prev.hash() {
            return Err(fail(
                seq,
                format!(
                    "prev_hash {} is not the seal hash {} of seq {}",
                    hex::encode(next.prev_hash),
                    hex::encode(prev.hash()),
                    prev.seq
                ),
            ));
        }
        if next.period_start_ns != prev.period_end_ns {
            return Err(fail(
                seq,
                "its period does not start where the one before ended".into(),
            ));
        }
        let valid = match (prev.kind, prev.next_key) {
            (SealKind::Rotate, Some(k)) => key_id_of(&k),
            _ => prev.key_id,
        };
        if next.key_id != valid {
            return Err(fail(
                seq,
                format!(
                    "signed by key {}, but the key valid for it is {}",
                    hex::encode(next.key_id),
                    hex::encode(valid)
                ),
            ));
        }
        signed_by_named_key(ring, &next).map_err(|e| fail(seq, e.to_string()))?;
        prev = next;
    }
    Ok(prev)
}

/// Verifies `proof` with `ring` alone; with `anchor` (a chain head published out of
/// band, FORMAT.md §11), the proof's last seal must be the anchor's seal.
pub fn check(proof: &Proof, ring: &Keyring, anchor: Option<&Seal>) -> Result<Checked, ProofError> {
    let seal = Seal::from_bytes(&proof.seal).map_err(ProofError::Seal)?;
    signed_by_named_key(ring, &seal)?;
    if proof.tree_size != seal.event_count {
        return Err(ProofError::TreeSize {
            tree_size: proof.tree_size,
            event_count: seal.event_count,
        });
    }
    let shape = |detail: &str| ProofError::PathShape {
        index: proof.leaf_index,
        size: proof.tree_size,
        detail: detail.to_owned(),
    };
    if proof.leaf_index >= proof.tree_size {
        return Err(shape("the leaf index is not below the tree size"));
    }
    let leaf = merkle::leaf_hash(&proof.line);
    let root = merkle::root_from_path(leaf, proof.leaf_index, proof.tree_size, &proof.path)
        .ok_or_else(|| {
            shape(&format!(
                "{} hashes is not the path's length",
                proof.path.len()
            ))
        })?;
    if root != seal.merkle_root {
        return Err(ProofError::RootMismatch {
            computed: hex::encode(root),
            sealed: hex::encode(seal.merkle_root),
        });
    }
    check_event_id(&proof.event_id, &seal, &proof.line)?;
    let head = check_chain(ring, &seal, &proof.chain)?;
    let anchored = match anchor {
        None => false,
        Some(a) => {
            signed_by_named_key(ring, a).map_err(|e| ProofError::Anchor(e.to_string()))?;
            if a.stream != head.stream || a.hash() != head.hash() {
                return Err(ProofError::Anchor(format!(
                    "the proof ends at {} seq {} (seal hash {}), the anchor is {} seq {} (seal hash {})",
                    head.stream,
                    head.seq,
                    hex::encode(head.hash()),
                    a.stream,
                    a.seq,
                    hex::encode(a.hash())
                )));
            }
            true
        }
    };
    Ok(Checked {
        seal,
        head,
        anchored,
    })
}
