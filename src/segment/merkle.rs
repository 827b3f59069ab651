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

/// RFC 6962 §2.1.1 audit path of leaf `index` in the tree over `leaves` (leaf hashes):
/// the sibling hashes from the leaf up to the root, the leaf's own sibling first.
/// `None` when `index` is not a leaf of the tree.
pub fn inclusion_path(leaves: &[[u8; 32]], index: usize) -> Option<Vec<[u8; 32]>> {
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    let (mut lo, mut hi, mut m) = (0usize, leaves.len(), index);
    // Walk down from the root: at each split the other side's root is a path element,
    // added in reverse, since the path runs from the leaf up.
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if m < k {
            path.push(subtree_root(&leaves[lo + k..hi]));
            hi = lo + k;
        } else {
            path.push(subtree_root(&leaves[lo..lo + k]));
            lo += k;
            m -= k;
        }
    }
    path.reverse();
    Some(path)
}

/// The largest power of two smaller than `n` (`n > 1`): where RFC 6962 splits a tree.
fn split_point(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn subtree_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    let mut b = MerkleBuilder::new();
    for l in leaves {
        b.push_leaf_hash(*l);
    }
    b.root()
}

/// The root that the audit path `path` of leaf `index` (hash `leaf`) in a tree of
/// `size` leaves leads to (RFC 9162 §2.1.3.2, the same tree as RFC 6962). `None` when
/// `index` is not below `size`, or the path is not of the length that leaf and size
/// require: a path is accepted only in its one exact form.
pub fn root_from_path(
    leaf: [u8; 32],
    index: u64,
    size: u64,
    path: &[[u8; 32]],
) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
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

    /// RFC 6962 §2.1.1 PATH, recursive, as the reference for `inclusion_path`.
    fn ref_path(m: usize, leaves: &[&[u8]]) -> Vec<[u8; 32]> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        if m < k {
            let mut p = ref_path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = ref_path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    fn check_every_leaf(data: &[Vec<u8>], indices: impl Iterator<Item = usize>) {
        let refs: Vec<&[u8]> = data.iter().map(|v| v.as_slice()).collect();
        let leaves: Vec<[u8; 32]> = refs.iter().map(|l| leaf_hash(l)).collect();
        let root = mth(&refs);
        let n = leaves.len() as u64;
        for m in indices {
            let path = inclusion_path(&leaves, m).unwrap();
            assert_eq!(path, ref_path(m, &refs), "n = {n}, m = {m}");
            let got = root_from_path(leaves[m], m as u64, n, &path);
            assert_eq!(got, Some(root), "n = {n}, m = {m}");
            // Any other leaf, index, or a changed/shortened/longer path fails. (Another
            // size need not: the path of leaf 0 of 5 also leads to the same root as
            // "leaf 0 of 6", so the size must come from the signed seal.)
            let other = leaf_hash(b"not a line of the tree");
            assert_ne!(root_from_path(other, m as u64, n, &path), Some(root));
            if n > 1 {
                let wrong = (m as u64 + 1) % n;
                assert_ne!(root_from_path(leaves[m], wrong, n, &path), Some(root));
                let mut bent = path.clone();
                bent[0][7] ^= 1;
                assert_ne!(root_from_path(leaves[m], m as u64, n, &bent), Some(root));
                assert_eq!(root_from_path(leaves[m], m as u64, n, &path[1..]), None);
            }
            let mut longer = path.clone();
            longer.push([0; 32]);
            assert_eq!(root_from_path(leaves[m], m as u64, n, &longer), None);
        }
        assert_eq!(inclusion_path(&leaves, leaves.len()), None);
        assert_eq!(root_from_path(leaves[0], n, n, &[]), None);
    }

    #[test]
    fn inclusion_paths_match_rfc_6962_and_lead_to_the_root_for_sizes_1_to_70() {
        let data: Vec<Vec<u8>> = (0..70u32)
            .map(|i| format!("line {i}").into_bytes())
            .collect();
        for n in 1..=data.len() {
            check_every_leaf(&data[..n], 0..n);
        }
    }

    #[test]
    fn inclusion_paths_in_a_tree_of_1000_leaves() {
        let data: Vec<Vec<u8>> = (0..1000u32)
            .map(|i| format!("{{\"n\":{i}}}").into_bytes())
            .collect();
        check_every_leaf(&data, [0, 499, 500, 511, 512, 999].into_iter());
        let leaves: Vec<[u8; 32]> = data.iter().map(|l| leaf_hash(l)).collect();
        // 1000 = 512 + 256 + 128 + 64 + 32 + 8: the last leaf's path has 3 elements in
        // its subtree of 8 and one for each of the 5 subtrees before it; the first's 10.
        assert_eq!(inclusion_path(&leaves, 999).unwrap().len(), 8);
        assert_eq!(inclusion_path(&leaves, 0).unwrap().len(), 10);
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
