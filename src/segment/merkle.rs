//! RFC 6962 Merkle tree hash, computed incrementally.
//!
//! The tree over `n` leaves is the one RFC 6962 §2.1 defines (split at the largest power
//! of two smaller than `n`). That tree is a row of perfect subtrees whose sizes are the
//! binary digits of `n`, largest first, folded from the right. So a stack of at most 64
//! perfect-subtree roots is enough: no per-leaf storage, O(1) amortised work per leaf,
//! and leaves can be hashed while the line is still hot in cache.

use sha2::{Digest, Sha256};

/// Domain-separation prefix of a leaf hash (RFC 6962 §2.1).
pub const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of an interior node hash (RFC 6962 §2.1).
pub const NODE_PREFIX: u8 = 0x01;

/// `SHA-256(0x00 || line)`.
pub fn leaf_hash(line: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new_with_prefix([LEAF_PREFIX]);
    h.update(line);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new_with_prefix([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> [u8; 32] {
    Sha256::digest([]).into()
}

/// Incremental RFC 6962 tree: push leaf hashes in order, read the root at any time.
#[derive(Debug, Clone, Default)]
pub struct MerkleBuilder {
    /// Roots of perfect subtrees, oldest (largest) first, with their leaf counts.
    stack: Vec<(u64, [u8; 32])>,
    leaves: u64,
}

impl MerkleBuilder {
    pub fn new() -> Self {
        Self {
            stack: Vec::with_capacity(64),
            leaves: 0,
        }
    }

    /// Number of leaves pushed so far.
    pub fn leaves(&self) -> u64 {
        self.leaves
    }

    /// Hashes `line` as a leaf and adds it.
    pub fn push_line(&mut self, line: &[u8]) {
        self.push_leaf_hash(leaf_hash(line));
    }

    /// Adds an already computed leaf hash (used by the streaming verifier).
    pub fn push_leaf_hash(&mut self, leaf: [u8; 32]) {
        let mut size = 1u64;
        let mut hash = leaf;
        // Merge equal-sized perfect subtrees: this is binary addition of `leaves + 1`.
        while let Some(&(top_size, top_hash)) = self.stack.last() {
            if top_size != size {
                break;
            }
            self.stack.pop();
            hash = node_hash(&top_hash, &hash);
            size = size.saturating_mul(2);
        }
        self.stack.push((size, hash));
        self.leaves = self.leaves.saturating_add(1);
    }

    /// The RFC 6962 Merkle tree hash of the leaves pushed so far.
    pub fn root(&self) -> [u8; 32] {
        let mut iter = self.stack.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }

    /// Forgets all leaves, keeping the allocation.
    pub fn reset(&mut self) {
        self.stack.clear();
        self.leaves = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straight transcription of RFC 6962 §2.1, recursive, as the reference.
    fn mth(leaves: &[&[u8]]) -> [u8; 32] {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => {
                let mut v = vec![0u8];
                v.extend_from_slice(leaves[0]);
                Sha256::digest(&v).into()
            }
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                let l = mth(&leaves[..k]);
                let r = mth(&leaves[k..]);
                let mut v = vec![1u8];
                v.extend_from_slice(&l);
                v.extend_from_slice(&r);
                Sha256::digest(&v).into()
            }
        }
    }

    #[test]
    fn matches_recursive_definition_for_many_sizes() {
        let data: Vec<Vec<u8>> = (0..70u32)
            .map(|i| format!("line {i}").into_bytes())
            .collect();
        for n in 0..data.len() {
            let refs: Vec<&[u8]> = data[..n].iter().map(|v| v.as_slice()).collect();
            let mut b = MerkleBuilder::new();
            for l in &refs {
                b.push_line(l);
            }
            assert_eq!(b.root(), mth(&refs), "n = {n}");
            assert_eq!(b.leaves(), n as u64);
        }
    }

    #[test]
    fn reset_forgets_leaves() {
        let mut b = MerkleBuilder::new();
        b.push_line(b"a");
        b.reset();
        assert_eq!(b.root(), empty_root());
        b.push_line(b"b");
        assert_eq!(b.root(), leaf_hash(b"b"));
    }
}
