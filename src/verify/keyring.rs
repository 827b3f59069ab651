//! The auditor's keyring: the public keys of one signing lineage, oldest first, as
//! given from outside the archive (several `--key`, or a keyring file the daemon
//! keeps). The order is what makes re-sealing with a newer key detectable: a key is
//! valid only from the rotation record that names it on, so a segment signed by a key
//! later in the ring than the one valid for its seq is `key_not_yet_valid`, and one
//! signed by an earlier key after its rotation is `retired_key` (FORMAT.md §5.1).

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;

use crate::keys::key_id_of;
use crate::segment::{Seal, SealKind};

use super::report::fmt_ns;
use super::ProblemKind;

/// Public keys in the order they were introduced; no key twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<VerifyingKey>,
    ids: Vec<[u8; 8]>,
}

impl Keyring {
    /// A ring of `keys` in this order; a key given twice keeps its first place.
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> Keyring {
        let mut ring = Keyring {
            keys: Vec::new(),
            ids: Vec::new(),
        };
        for k in keys {
            if !ring.keys.contains(&k) {
                ring.ids.push(crate::keys::key_id(&k));
                ring.keys.push(k);
            }
        }
        ring
    }

    pub fn ids(&self) -> &[[u8; 8]] {
        &self.ids
    }

    /// Where a raw public key (a rotation seal's `next_key`) is in the ring.
    pub fn position_of(&self, raw: &[u8; 32]) -> Option<usize> {
        self.keys.iter().position(|k| k.as_bytes() == raw)
    }

    /// Which ring key signed `seal`: the one its key id names first, then the others
    /// (a seal whose signature verifies under a ring key it does not name is authentic,
    /// and the name is a sealer fault reported on its own). `Err` says whether the
    /// named key is in the ring (then the signature is bad) or not (another key).
    pub fn signer(&self, seal: &Seal) -> Result<usize, Option<usize>> {
        let named = self.ids.iter().position(|id| *id == seal.key_id);
        if let Some(i) = named {
            if seal.verify_signature(&self.keys[i]).is_ok() {
                return Ok(i);
            }
        }
        (0..self.keys.len())
            .filter(|i| Some(*i) != named)
            .find(|i| seal.verify_signature(&self.keys[*i]).is_ok())
            .ok_or(named)
    }

    /// `#2 0123456789abcdef`: a key as the report names it.
    pub fn name(&self, i: usize) -> String {
        match self.ids.get(i) {
            Some(id) => format!("#{} {}", i + 1, hex::encode(id)),
            None => format!("#{}", i + 1),
        }
    }

    /// The ids, for a message: `0123…, 4567…`.
    pub fn list(&self) -> String {
        self.ids
            .iter()
            .map(hex::encode)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl From<VerifyingKey> for Keyring {
    fn from(k: VerifyingKey) -> Keyring {
        Keyring::new([k])
    }
}

/// A rotation as the chain shows it: at `seq`, key `from` handed over to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub seq: u64,
    pub at_ns: i64,
    pub from: [u8; 8],
    pub to: [u8; 8],
    /// `to` is in the keyring (else the segments it signs cannot be checked).
    pub known: bool,
}

/// One segment of a stream as the key schedule sees it.
pub(super) struct Signed<'a> {
    pub seal: &'a Seal,
    pub signer: usize,
    pub location: &'a str,
    /// Inside the window: its problems are reported.
    pub in_window: bool,
}

/// When each ring key was first handed over to, over every stream: a key introduced at
/// T signs nothing whose period starts before T.
pub(super) fn introductions<'a>(
    ring: &Keyring,
    seals: impl Iterator<Item = &'a Seal>,
) -> BTreeMap<usize, i64> {
    let mut intro: BTreeMap<usize, i64> = BTreeMap::new();
    for s in seals.filter(|s| s.kind == SealKind::Rotate) {
        if let Some(j) = s.next_key.as_ref().and_then(|k| ring.position_of(k)) {
            let t = intro.entry(j).or_insert(s.period_end_ns);
            *t = (*t).min(s.period_end_ns);
        }
    }
    intro
}

/// Walks one stream's authentic segments in seq order and checks each was signed by
/// the key valid for its seq: the first ring key from genesis (or the key a rotation
/// introduced before the stream began), then the key each rotation seal names. Returns
/// the rotations seen and the problems (location, kind, detail) of segments in the
/// window.
///
/// Across missing seqs the valid key cannot be known (the rotation may be among the
/// missing, which are reported as a gap): a later key is accepted there.
pub(super) fn check_schedule(
    ring: &Keyring,
    intro: &BTreeMap<usize, i64>,
    segments: &[Signed<'_>],
) -> (Vec<Rotation>, Vec<(String, ProblemKind, String)>) {
    let mut problems = Vec::new();
    let mut rotations = Vec::new();
    let mut valid = Valid::Unknown;
    // Copies of one seq (forks, duplicates) are each judged by the key valid before
    // that seq; only the first copy's rotation counts.
    let mut group: Option<(u64, Valid, bool)> = None;
    let mut prev_seq: Option<u64> = None;
    for seg in segments {
        let s = seg.seal;
        let mut report = |kind, detail: String| {
            if seg.in_window {
                problems.push((seg.location.to_owned(), kind, detail));
            }
        };
        let first_copy = group.as_ref().is_none_or(|g| g.0 != s.seq);
        if first_copy {
            let contiguous = prev_seq.is_some_and(|p| p.checked_add(1) == Some(s.seq));
            group = Some((s.seq, valid.clone(), contiguous));
            prev_seq = Some(s.seq);
        }
        let Some((_, basis, contiguous)) = group.clone() else {
            continue;
        };
        let (cur, by) = match &basis {
            Valid::Unknown => (None, String::new()),
            Valid::Key { index, since } => (
                Some(*index),
                since.map_or_else(
                    || "before this stream began".to_owned(),
                    |r| format!("by the rotation seal at seq {r}"),
                ),
            ),
            Valid::Outside { after, seq, id } => (
                Some(after + 1),
                format!(
                    "by the rotation seal at seq {seq} (to key {}, not in the keyring)",
                    hex::encode(id)
                ),
            ),
        };
        let now = match &basis {
            Valid::Key { index, .. } => ring.name(*index),
            Valid::Outside { id, .. } => hex::encode(id),
            Valid::Unknown => String::new(),
        };
        match cur {
            Some(cur) if seg.signer < cur => {
                report(
                    ProblemKind::RetiredKey,
                    format!(
                        "seq {} is signed by key {}, retired {by}: from then on key {now} signs this chain",
                        s.seq,
                        ring.name(seg.signer),
                    ),
                );
                // The retired key's word is not taken: no rotation it signs counts.
                continue;
            }
            Some(cur)
                if contiguous && (seg.signer > cur || matches!(basis, Valid::Outside { .. })) =>
            {
                report(
                    ProblemKind::KeyNotYetValid,
                    format!(
                        "seq {} is signed by key {}, but key {now} is valid here: no rotation seal hands over to {} before this seq",
                        s.seq,
                        ring.name(seg.signer),
                        ring.name(seg.signer)
                    ),
                );
                continue;
            }
            Some(cur) if seg.signer == cur && matches!(basis, Valid::Key { .. }) => {}
            // The first segment at hand, or the first after missing seqs.
            _ => {
                let introduced = intro.get(&seg.signer).copied();
                let too_early = match introduced {
                    Some(t) => s.period_start_ns < t,
                    // A later ring key that no rotation seal (anywhere) introduces may
                    // sign only where the earlier history is missing.
                    None => s.seq == 0,
                };
                if seg.signer > 0 && too_early {
                    report(
                        ProblemKind::KeyNotYetValid,
                        match introduced {
                            Some(t) => format!(
                                "seq {} (period from {}) is signed by key {}, which a rotation introduced only at {}",
                                s.seq,
                                fmt_ns(s.period_start_ns),
                                ring.name(seg.signer),
                                fmt_ns(t)
                            ),
                            None => format!(
                                "the stream's first segment is signed by key {}, not the keyring's first key {}, and no rotation seal introduces it",
                                ring.name(seg.signer),
                                ring.name(0)
                            ),
                        },
                    );
                    // The key before it in the ring is taken as the valid one: every
                    // later segment the early key signs is judged on its own.
                    if first_copy {
                        valid = Valid::Key {
                            index: seg.signer - 1,
                            since: None,
                        };
                    }
                    continue;
                }
                if first_copy {
                    valid = Valid::Key {
                        index: seg.signer,
                        since: None,
                    };
                }
            }
        }
        if s.kind != SealKind::Rotate || !first_copy {
            continue;
        }
        let Some(next) = s.next_key else { continue };
        let from = seg.signer;
        let to = ring.position_of(&next);
        rotations.push(Rotation {
            seq: s.seq,
            at_ns: s.period_end_ns,
            from: ring.ids()[from],
            to: key_id_of(&next),
            known: to.is_some(),
        });
        match to {
            Some(j) if j > from => {
                valid = Valid::Key {
                    index: j,
                    since: Some(s.seq),
                }
            }
            Some(j) => report(
                ProblemKind::RetiredKey,
                format!(
                    "the rotation seal at seq {} hands over to key {}, which is not newer than the key {} that signs it",
                    s.seq,
                    ring.name(j),
                    ring.name(from)
                ),
            ),
            // Segments the unknown key signs are `wrong_key` on their own.
            None => {
                valid = Valid::Outside {
                    after: from,
                    seq: s.seq,
                    id: key_id_of(&next),
                }
            }
        }
    }
    (rotations, problems)
}

/// Which key the schedule says signs the next seq.
#[derive(Clone)]
enum Valid {
    /// No segment seen yet (or only rejected ones).
    Unknown,
    /// Ring key `index`, since the rotation seal at `since` (`None`: from the start).
    Key { index: usize, since: Option<u64> },
    /// A key outside the ring, handed over to at `seq` by ring key `after`.
    Outside { after: usize, seq: u64, id: [u8; 8] },
}
