//! Serving the state at a kept tree version, a subtree at a time, to a node that joins by
//! snapshot: the accounts under a key prefix when there are few enough, else the
//! prefix's children. What an answer means and how it is checked is
//! [`tern_chain::state_map::chunk`]'s; this module only reads it off the tree.
//!
//! Everything is read from the tree's nodes at the version asked for, whose leaves keep
//! their accounts, so the answer is the state at that block whatever the chain did
//! since. A version is kept for [`super::KEPT_TREE_VERSIONS`] more versions; one pruned
//! while a chunk is read makes the answer "no longer kept", not damage.

use jmt::storage::{Node, NodeKey};

use super::tree_build::node_key;
use jmt::Version;

use crate::store::schema::{StateTree, TreeNode, TreeNodeKey};
use crate::store::{StoreError, TableReads};
use tern_chain::state::Account;
use tern_chain::state_map::chunk::{Chunk, KeyPrefix, SplitChild, SPLIT_CHILDREN};
use tern_chain::types::Address;

/// Why a walk stopped.
enum WalkError {
    /// A node of the version is gone: the version was pruned under the walk.
    Pruned,
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for WalkError {
    fn from(error: StoreError) -> WalkError {
        WalkError::Store(error)
    }
}

/// Reads tree nodes at one version.
struct Walk<'a, S: TableReads> {
    store: &'a S,
    version: Version,
}

impl<S: TableReads> Walk<'_, S> {
    fn node(&self, key: NodeKey) -> Result<TreeNode, WalkError> {
        self.store
            .get::<StateTree>(&TreeNodeKey(key))?
            .ok_or(WalkError::Pruned)
    }

    fn corrupt(&self, what: &str) -> WalkError {
        WalkError::Store(
            self.store
                .corrupt(&format!("state tree: {what} (version {})", self.version)),
        )
    }
}

/// The chunk at `prefix` in tree version `version`, with at most `max_accounts` accounts;
/// `None` if the version is not (or no longer) kept.
pub(super) fn chunk(
    store: &impl TableReads,
    version: Version,
    prefix: &KeyPrefix,
    max_accounts: usize,
) -> Result<Option<Chunk>, StoreError> {
    let walk = Walk { store, version };
    match read_chunk(&walk, prefix, max_accounts) {
        Ok(chunk) => Ok(Some(chunk)),
        Err(WalkError::Store(error)) => Err(error),
        Err(WalkError::Pruned) => {
            // A node missing under a root that is still there is damage, not pruning:
            // pruning deletes a version's root with or before the nodes below it.
            if walk.node(node_key(version, &[])).is_ok() {
                return Err(store.corrupt(&format!(
                    "state tree: a node under prefix {prefix} of version {version} is missing"
                )));
            }
            Ok(None)
        }
    }
}

/// Every account in tree version `version`, in key order; `None` if the version is not
/// (or no longer) kept. Reads the whole state: for offline checks.
pub(super) fn all_accounts(
    store: &impl TableReads,
    version: Version,
) -> Result<Option<Vec<(Address, Account)>>, StoreError> {
    let walk = Walk { store, version };
    let key = node_key(version, &[]);
    let read = walk.node(key.clone()).and_then(|root| {
        let mut accounts = Vec::new();
        collect(&walk, &key, &root, usize::MAX, &mut accounts)?;
        Ok(accounts)
    });
    match read {
        Ok(accounts) => Ok(Some(accounts)),
        Err(WalkError::Store(error)) => Err(error),
        Err(WalkError::Pruned) => Ok(None),
    }
}

/// Every node of version `version` in the subtree at `path` (nibbles below the root),
/// with the address of each leaf: what undoing a restored piece deletes. Nothing if the
/// subtree's node is not there.
pub(super) fn nodes_under(
    store: &impl TableReads,
    version: Version,
    path: &[u8],
) -> Result<Vec<(NodeKey, Option<Address>)>, StoreError> {
    let walk = Walk { store, version };
    let mut found = Vec::new();
    let mut pending = vec![path.to_vec()];
    while let Some(path) = pending.pop() {
        let key = node_key(version, &path);
        let node = match walk.node(key.clone()) {
            Ok(node) => node,
            Err(WalkError::Pruned) => continue,
            Err(WalkError::Store(error)) => return Err(error),
        };
        match &node {
            TreeNode::Leaf { address, .. } => found.push((key, Some(*address))),
            TreeNode::Inner(Node::Internal(internal)) => {
                for (nibble, _) in internal.children_sorted() {
                    let mut below = path.clone();
                    below.push(u8::from(nibble));
                    pending.push(below);
                }
                found.push((key, None));
            }
            TreeNode::Inner(_) => found.push((key, None)),
        }
    }
    Ok(found)
}

fn read_chunk(
    walk: &Walk<'_, impl TableReads>,
    prefix: &KeyPrefix,
    max_accounts: usize,
) -> Result<Chunk, WalkError> {
    let mut key = node_key(walk.version, &[]);
    let mut node = walk.node(key.clone())?;
    let mut path = Vec::with_capacity(prefix.depth());
    for nibble in prefix.nibbles() {
        let child = match &node {
            TreeNode::Inner(Node::Internal(internal)) => internal.child((*nibble).into()).cloned(),
            // The prefix is below a leaf or the empty map: at most that leaf is under it.
            TreeNode::Inner(_) | TreeNode::Leaf { .. } => {
                return Ok(Chunk::Accounts(lone_account(&node, prefix)))
            }
        };
        let Some(child) = child else {
            return Ok(Chunk::Accounts(Vec::new()));
        };
        path.push(*nibble);
        key = node_key(child.version, &path);
        node = walk.node(key.clone())?;
    }
    let TreeNode::Inner(Node::Internal(internal)) = &node else {
        return Ok(Chunk::Accounts(lone_account(&node, prefix)));
    };
    if internal.leaf_count() <= max_accounts {
        let mut accounts = Vec::with_capacity(internal.leaf_count());
        collect(walk, &key, &node, max_accounts, &mut accounts)?;
        return Ok(Chunk::Accounts(accounts));
    }
    let mut children = Box::new([SplitChild::Empty; SPLIT_CHILDREN]);
    for (nibble, child) in internal.children_sorted() {
        let nibble = u8::from(nibble);
        let Some(slot) = children.get_mut(usize::from(nibble)) else {
            continue;
        };
        *slot = if child.is_leaf() {
            let mut below = prefix.nibbles().to_vec();
            below.push(nibble);
            match walk.node(node_key(child.version, &below))? {
                TreeNode::Leaf {
                    address, account, ..
                } => SplitChild::Account(address, account),
                TreeNode::Inner(_) => return Err(walk.corrupt("a leaf child is an inner node")),
            }
        } else {
            SplitChild::Subtree {
                hash: child.hash,
                accounts: child.leaf_count() as u64,
            }
        };
    }
    Ok(Chunk::Split(children))
}

/// The account of a leaf node if its key is under `prefix`.
fn lone_account(node: &TreeNode, prefix: &KeyPrefix) -> Vec<(Address, Account)> {
    match node {
        TreeNode::Leaf {
            leaf,
            address,
            account,
        } if prefix.contains(&leaf.key_hash().0) => vec![(*address, *account)],
        _ => Vec::new(),
    }
}

/// Every account under `node` (at `key`), in key order, into `out`: at most `max`, or
/// the store is damaged (the node's own count said so).
fn collect(
    walk: &Walk<'_, impl TableReads>,
    key: &NodeKey,
    node: &TreeNode,
    max: usize,
    out: &mut Vec<(Address, Account)>,
) -> Result<(), WalkError> {
    match node {
        TreeNode::Leaf {
            address, account, ..
        } => {
            if out.len() >= max {
                return Err(walk.corrupt("an inner node holds more leaves than it counts"));
            }
            out.push((*address, *account));
        }
        TreeNode::Inner(Node::Internal(internal)) => {
            let path: Vec<u8> = key.nibble_path().nibbles().map(u8::from).collect();
            for (nibble, child) in internal.children_sorted() {
                let mut below = path.clone();
                below.push(u8::from(nibble));
                let child_key = node_key(child.version, &below);
                let child_node = walk.node(child_key.clone())?;
                collect(walk, &child_key, &child_node, max, out)?;
            }
        }
        TreeNode::Inner(_) => {}
    }
    Ok(())
}
