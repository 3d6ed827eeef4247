//! Building the state tree's nodes directly from accounts, as restoring a snapshot does:
//! each account's leaf and each inner node is made once, bottom up, where inserting the
//! accounts one block at a time would rewrite every inner node on their paths again and
//! again.
//!
//! The nodes are the `jmt` crate's, so that the tree goes on from them as from any
//! other version. The crate builds inner nodes only through its own updates; it exposes
//! their parts through Borsh alone (as for proofs), so [`inner_node`] writes that
//! encoding and reads the node back, and a test holds it to the crate's own nodes.

use jmt::storage::{LeafNode, Node, NodeKey};
use jmt::{KeyHash, ValueHash, Version};

use crate::store::schema::TreeNode;
use tern_chain::state::Account;
use tern_chain::state_map::chunk::key_nibble;
use tern_chain::state_map::{account_key, account_value, leaf_hash, value_hash, TreeHasher};
use tern_chain::types::Address;

/// An account as a leaf of the tree: its key and value hash, with what they hash.
#[derive(Debug, Clone, Copy)]
pub(super) struct LeafAccount {
    pub(super) key: [u8; 32],
    pub(super) value_hash: [u8; 32],
    pub(super) address: Address,
    pub(super) account: Account,
}

impl LeafAccount {
    pub(super) fn new(address: Address, account: Account) -> LeafAccount {
        LeafAccount {
            key: account_key(&address),
            value_hash: value_hash(&account_value(&account)),
            address,
            account,
        }
    }

    fn node(&self) -> TreeNode {
        TreeNode::Leaf {
            leaf: LeafNode::new(KeyHash(self.key), ValueHash(self.value_hash)),
            address: self.address,
            account: self.account,
        }
    }
}

/// A built subtree, as its parent's child entry names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Built {
    /// The subtree's hash.
    pub(super) hash: [u8; 32],
    /// The accounts under it.
    pub(super) accounts: u64,
    /// Whether it is a single leaf.
    pub(super) leaf: bool,
}

/// The node key at `path` (nibbles below the root) written at `version`.
pub(super) fn node_key(version: Version, path: &[u8]) -> NodeKey {
    NodeKey::new(
        version,
        path.iter().map(|nibble| (*nibble).into()).collect(),
    )
}

/// Builds the subtree at `path` holding `leaves` (at least one, sorted by key, every key
/// under `path`), at `version`; each node goes to `out`.
pub(super) fn subtree(
    version: Version,
    path: &mut Vec<u8>,
    leaves: &[LeafAccount],
    out: &mut Vec<(NodeKey, TreeNode)>,
) -> Result<Built, String> {
    let depth = path.len();
    if let [leaf] = leaves {
        let built = Built {
            hash: leaf_hash(&leaf.key, &leaf.value_hash),
            accounts: 1,
            leaf: true,
        };
        out.push((node_key(version, path), leaf.node()));
        return Ok(built);
    }
    let mut children = [None; 16];
    let mut start = 0;
    while let Some(first) = leaves.get(start) {
        let nibble = key_nibble(&first.key, depth);
        let end = start
            + leaves
                .get(start..)
                .unwrap_or_default()
                .partition_point(|leaf| key_nibble(&leaf.key, depth) == nibble);
        path.push(nibble);
        let child = subtree(
            version,
            path,
            leaves.get(start..end).unwrap_or_default(),
            out,
        );
        path.pop();
        if let Some(slot) = children.get_mut(usize::from(nibble)) {
            *slot = Some(child?);
        }
        start = end;
    }
    let (node, built) = inner_node(version, &children)?;
    out.push((node_key(version, path), TreeNode::Inner(node)));
    Ok(built)
}

/// The inner node with `children` (each written at `version`), and what its parent names
/// it by.
pub(super) fn inner_node(
    version: Version,
    children: &[Option<Built>; 16],
) -> Result<(Node, Built), String> {
    // Node::Internal(InternalNode { children: Children { children: [Option<Child>; 16],
    // num_children }, leaf_count }), with Child { hash, version, node_type: Leaf |
    // Internal { leaf_count } }; Borsh writes enum variants as a `u8` index and `usize`
    // as a `u64`, little-endian.
    let mut bytes = vec![1u8];
    let (mut present, mut accounts) = (0u64, 0u64);
    for child in children {
        match child {
            None => bytes.push(0),
            Some(child) => {
                present += 1;
                accounts += child.accounts;
                bytes.push(1);
                bytes.extend_from_slice(&child.hash);
                bytes.extend_from_slice(&version.to_le_bytes());
                if child.leaf {
                    bytes.push(0);
                } else {
                    bytes.push(1);
                    bytes.extend_from_slice(&child.accounts.to_le_bytes());
                }
            }
        }
    }
    bytes.extend_from_slice(&present.to_le_bytes());
    bytes.extend_from_slice(&accounts.to_le_bytes());
    if present == 0 || (present == 1 && children.iter().flatten().all(|c| c.leaf)) {
        return Err("an inner node of no child, or of a single leaf".into());
    }
    let node: Node = borsh::from_slice(&bytes).map_err(|e| format!("inner node: {e}"))?;
    let Node::Internal(inner) = &node else {
        return Err("an inner node read back as another kind".into());
    };
    let built = Built {
        hash: inner.hash::<TreeHasher>(),
        accounts,
        leaf: false,
    };
    Ok((node, built))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_chain::state_map::MemoryTree;
    use tern_chain::types::Amount;

    fn accounts(n: u32) -> Vec<LeafAccount> {
        let mut all: Vec<LeafAccount> = (0..n)
            .map(|i| {
                let mut bytes = [3u8; 32];
                bytes[..4].copy_from_slice(&i.to_le_bytes());
                let account = Account {
                    balance: Amount::from_base_units(u64::from(i) + 10),
                    nonce: u64::from(i % 3),
                };
                LeafAccount::new(Address::from_bytes(bytes), account)
            })
            .collect();
        all.sort_by_key(|leaf| leaf.key);
        all
    }

    #[test]
    fn a_built_tree_is_the_one_the_crate_builds() {
        for n in [2, 3, 16, 17, 500, 3_000] {
            let leaves = accounts(n);
            let mut out = Vec::new();
            let built = subtree(0, &mut Vec::new(), &leaves, &mut out).unwrap();
            let tree =
                MemoryTree::with_accounts(leaves.iter().map(|l| (l.address, l.account))).unwrap();
            assert_eq!(built.hash, *tree.root().as_bytes(), "{n} accounts");
            assert_eq!(built.accounts, u64::from(n));
            // Node for node, the crate's own tree (written at version 0 in one batch).
            let mine: std::collections::HashMap<NodeKey, Node> = out
                .into_iter()
                .map(|(key, node)| (key, node.node()))
                .collect();
            assert_eq!(mine.len(), tree.node_count(), "{n} accounts");
            for (key, node) in &mine {
                assert_eq!(tree.node(key).as_ref(), Some(node), "{key:?}");
            }
        }
    }

    #[test]
    fn an_inner_node_of_a_single_leaf_is_refused() {
        let leaf = Built {
            hash: [1; 32],
            accounts: 1,
            leaf: true,
        };
        let mut children = [None; 16];
        assert!(inner_node(0, &children).is_err());
        children[3] = Some(leaf);
        assert!(inner_node(0, &children).is_err());
        children[9] = Some(leaf);
        assert!(inner_node(0, &children).is_ok());
    }
}
