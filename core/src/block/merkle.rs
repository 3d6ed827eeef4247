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

/// The largest power of two strictly below `n`, for `n >= 2`.
fn largest_power_of_two_below(n: usize) -> usize {
    let below = n.saturating_sub(1).max(1);
    1usize << (usize::BITS - 1 - below.leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

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
