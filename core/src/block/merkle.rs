//! The transaction Merkle tree.
//!
//! Bitcoin's tree duplicates the last node of an odd level, so the lists `[a, b, c]` and
//! `[a, b, c, c]` share a root (CVE-2012-2459). Tern uses the tree of RFC 6962 (Certificate
//! Transparency) instead, which has no such ambiguity:
//!
//! - the root of no leaves is `SHA-256()` (the empty string);
//! - a leaf is `SHA-256(0x00 || h)`, where `h` is the hash of a signed transaction's
//!   exact bytes ([`SignedTxHash`]), so the header fixes every byte of the block, signatures
//!   included;
//! - the root of `n > 1` leaves is `SHA-256(0x01 || root(first k) || root(rest))`, where `k`
//!   is the largest power of two below `n`.
//!
//! The `0x00`/`0x01` prefixes keep a leaf from ever being read as an inner node.

use sha2::{Digest, Sha256};

use crate::types::{MerkleRoot, SignedTxHash};

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// The Merkle root of the signed transaction hashes `leaves`, in block order.
pub fn merkle_root(leaves: &[SignedTxHash]) -> MerkleRoot {
    MerkleRoot::from_bytes(subtree_root(leaves))
}

fn subtree_root(ids: &[SignedTxHash]) -> [u8; 32] {
    match ids {
        [] => Sha256::digest([]).into(),
        [leaf] => Sha256::new()
            .chain_update([LEAF_PREFIX])
            .chain_update(leaf.as_bytes())
            .finalize()
            .into(),
        _ => {
            let split = largest_power_of_two_below(ids.len());
            let (left, right) = ids.split_at(split);
            Sha256::new()
                .chain_update([NODE_PREFIX])
                .chain_update(subtree_root(left))
                .chain_update(subtree_root(right))
                .finalize()
                .into()
        }
    }
}

/// The RFC 6962 audit path of leaf `index` among `leaves`: the sibling subtree roots from
/// the leaf up to the root. `None` if there is no such leaf.
pub fn merkle_path(leaves: &[SignedTxHash], index: usize) -> Option<Vec<[u8; 32]>> {
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    let (mut span, mut at) = (leaves, index);
    // Down from the root, the sibling of each subtree on the way; reversed at the end.
    while span.len() > 1 {
        let split = largest_power_of_two_below(span.len());
        let (left, right) = span.split_at(split);
        if at < split {
            path.push(subtree_root(right));
            span = left;
        } else {
            path.push(subtree_root(left));
            span = right;
            at -= split;
        }
    }
    path.reverse();
    Some(path)
}

/// Whether `path` leads from the leaf of `leaf`, at `index` of `count` leaves, to `root`
/// (RFC 9162, section 2.1.3.2).
pub fn verify_merkle_path(
    leaf: &SignedTxHash,
    index: u64,
    count: u64,
    path: &[[u8; 32]],
    root: &MerkleRoot,
) -> bool {
    if index >= count {
        return false;
    }
    let node = |left: &[u8; 32], right: &[u8; 32]| -> [u8; 32] {
        Sha256::new()
            .chain_update([NODE_PREFIX])
            .chain_update(left)
            .chain_update(right)
            .finalize()
            .into()
    };
    let (mut f, mut s) = (index, count - 1);
    let mut r: [u8; 32] = Sha256::new()
        .chain_update([LEAF_PREFIX])
        .chain_update(leaf.as_bytes())
        .finalize()
        .into();
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root.as_bytes()
}

/// The largest power of two strictly below `n`, for `n >= 2`.
fn largest_power_of_two_below(n: usize) -> usize {
    let below = n.saturating_sub(1).max(1);
    1usize << (usize::BITS - 1 - below.leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_of_every_size_has_a_path_to_the_root_and_a_bent_one_fails() {
        for n in 1..=40u8 {
            let leaves = ids(n);
            let root = merkle_root(&leaves);
            for (i, leaf) in leaves.iter().enumerate() {
                let path = merkle_path(&leaves, i).unwrap();
                let (index, count) = (i as u64, u64::from(n));
                assert!(
                    verify_merkle_path(leaf, index, count, &path, &root),
                    "{i} of {n}"
                );
                // (The count is not bound by a path: leaf 0 of 3 and of 4 share one. The
                // root, from a header, is what binds the block.)
                if n > 1 {
                    let other = (index + 1) % count;
                    assert!(!verify_merkle_path(leaf, other, count, &path, &root));
                    let mut bent = path.clone();
                    bent[0][0] ^= 1;
                    assert!(!verify_merkle_path(leaf, index, count, &bent, &root));
                }
            }
            assert_eq!(merkle_path(&leaves, usize::from(n)), None);
        }
    }

    fn ids(n: u8) -> Vec<SignedTxHash> {
        (0..n).map(|i| SignedTxHash::from_bytes([i; 32])).collect()
    }

    #[test]
    fn split_points() {
        assert_eq!(largest_power_of_two_below(2), 1);
        assert_eq!(largest_power_of_two_below(3), 2);
        assert_eq!(largest_power_of_two_below(4), 2);
        assert_eq!(largest_power_of_two_below(5), 4);
        assert_eq!(largest_power_of_two_below(1024), 512);
        assert_eq!(largest_power_of_two_below(1025), 1024);
    }

    #[test]
    fn duplicating_the_last_transaction_changes_the_root() {
        // CVE-2012-2459: under Bitcoin's rule these two lists share a root.
        for n in 1..9 {
            let list = ids(n);
            let mut padded = list.clone();
            padded.push(*list.last().unwrap());
            assert_ne!(merkle_root(&list), merkle_root(&padded), "n = {n}");
        }
    }

    #[test]
    fn a_leaf_cannot_pose_as_an_inner_node() {
        let pair = ids(2);
        let inner = SignedTxHash::from_bytes(*merkle_root(&pair).as_bytes());
        assert_ne!(merkle_root(&[inner]), merkle_root(&pair));
    }

    #[test]
    fn order_and_content_matter() {
        let list = ids(5);
        let mut swapped = list.clone();
        swapped.swap(1, 2);
        assert_ne!(merkle_root(&list), merkle_root(&swapped));
        assert_ne!(merkle_root(&list), merkle_root(&list[..4]));
    }

    #[test]
    fn matches_rfc_6962_by_hand() {
        let list = ids(3);
        let leaf = |id: &SignedTxHash| -> [u8; 32] {
            Sha256::new()
                .chain_update([0])
                .chain_update(id.as_bytes())
                .finalize()
                .into()
        };
        let node = |l: [u8; 32], r: [u8; 32]| -> [u8; 32] {
            Sha256::new()
                .chain_update([1])
                .chain_update(l)
                .chain_update(r)
                .finalize()
                .into()
        };
        let expected = node(node(leaf(&list[0]), leaf(&list[1])), leaf(&list[2]));
        assert_eq!(merkle_root(&list), MerkleRoot::from_bytes(expected));
        assert_eq!(
            merkle_root(&[]),
            MerkleRoot::from_bytes(Sha256::digest([]).into())
        );
    }
}
