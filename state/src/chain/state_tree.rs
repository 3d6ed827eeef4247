//! The state map on disk: the chain keeps the tree of every account in step with the
//! accounts table, in the same batch (see `connect.rs`), so a kill -9 never leaves one
//! ahead of the other.
//!
//! Each block connected or disconnected writes one tree *version*: connecting sets the
//! block's accounts, disconnecting sets them back from its undo record. Versions only
//! grow, so a reorg of any depth is as many updates as blocks it moves, and the root it
//! ends at is the fork point's exactly (the map's root is a function of the accounts
//! alone). Each canonical block's root and version are kept in [`StateRoots`].
//!
//! Nodes a later version replaced are listed by the version that replaced them, and
//! deleted once [`KEPT_TREE_VERSIONS`] versions have passed: every version since then can
//! still be read whole, for proofs at recent blocks and for serving the state to peers.
//! At most [`PRUNED_PER_BLOCK`] are deleted per block, so pruning never makes one batch
//! large; a backlog drains over the next blocks.

use std::cell::RefCell;
use std::collections::HashMap;

use jmt::storage::{Node, NodeKey, TreeReader};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, Version};

use crate::store::schema::{
    Meta, MetaKey, MetaValue, Present, StaleNodeKey, StaleTreeNodes, StateTree, TreeNode,
    TreeNodeKey,
};
use crate::store::{Store, StoreBatch, StoreError, TableReads};
use tern_chain::state::Account;
use tern_chain::state_map::{
    account_key, account_value, proof_from_jmt, put_changes, AccountProof, TreeHasher,
};
use tern_chain::types::{Address, StateRoot};

/// Tree versions kept whole behind the latest: a version per block connected or
/// disconnected, so about the last thousand blocks' states, reorgs included.
pub const KEPT_TREE_VERSIONS: u64 = 1_024;

/// Replaced nodes deleted at most per block.
pub const PRUNED_PER_BLOCK: usize = 20_000;

/// The tree as the chain reads it: nodes through the store as its writer sees it, so a
/// batch not yet landed is read back. Every leaf read is remembered with its account:
/// an update that moves a leaf it was not given (a new key's neighbour goes one level
/// down, a removed key's goes up) writes it again, with the account it read.
struct Nodes<'a, S: TableReads> {
    store: &'a S,
    read_leaves: RefCell<HashMap<KeyHash, (Address, Account)>>,
}

impl<'a, S: TableReads> Nodes<'a, S> {
    fn new(store: &'a S) -> Self {
        Nodes {
            store,
            read_leaves: RefCell::default(),
        }
    }
}

impl<S: TableReads> TreeReader for Nodes<'_, S> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let Some(node) = self
            .store
            .get::<StateTree>(&TreeNodeKey(node_key.clone()))?
        else {
            return Ok(None);
        };
        if let TreeNode::Leaf {
            leaf,
            address,
            account,
        } = &node
        {
            self.read_leaves
                .borrow_mut()
                .insert(leaf.key_hash(), (*address, *account));
        }
        Ok(Some(node.node()))
    }

    /// Writing reads no values; proofs read them from the accounts table.
    fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        Err(anyhow::anyhow!("the chain's tree reads no values"))
    }

    /// Only restoring a tree from chunks asks for it.
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, jmt::storage::LeafNode)>> {
        Ok(None)
    }
}

/// A failure of the tree code: the store's own error if reading a node failed, else the
/// tree found its nodes inconsistent, which is damage.
fn tree_error(store: &impl TableReads, error: anyhow::Error) -> StoreError {
    match error.downcast::<StoreError>() {
        Ok(error) => error,
        Err(error) => store.corrupt(&format!("state tree: {error:#}")),
    }
}

/// The tree's latest version, if it was ever written.
fn latest_version(store: &impl TableReads) -> Result<Option<u64>, StoreError> {
    Ok(store
        .get::<Meta>(&MetaKey::StateTreeVersion)?
        .map(|value| value.as_u64()))
}

/// A new tree version: its root, and what to write for it.
#[must_use = "an update does nothing until written"]
pub(super) struct TreeUpdate {
    /// The root of the accounts after the update.
    pub(super) root: StateRoot,
    /// The version that holds it.
    pub(super) version: u64,
    nodes: Vec<(NodeKey, TreeNode)>,
    stale: Vec<StaleNodeKey>,
}

/// Sets each address to its account (`None`: removes it) on top of the latest version.
/// Writes nothing: [`TreeUpdate::write`] adds the result to the block's batch.
pub(super) fn update(
    store: &impl TableReads,
    changes: impl IntoIterator<Item = (Address, Option<Account>)>,
) -> Result<TreeUpdate, StoreError> {
    let latest = latest_version(store)?;
    let reader = Nodes::new(store);
    let mut set: Vec<(KeyHash, Option<OwnedValue>)> = Vec::new();
    let mut given = HashMap::new();
    for (address, account) in changes {
        let key = KeyHash(account_key(&address));
        if let Some(account) = account {
            given.insert(key, (address, account));
        }
        set.push((key, account.as_ref().map(account_value)));
    }
    // An empty set still makes a version (the tree copies its root to it), so every
    // block's state has one.
    let version = latest.map_or(0, |v| v.saturating_add(1));
    let (root, batch) = put_changes(&reader, set, version).map_err(|e| tree_error(store, e))?;
    let read = reader.read_leaves.into_inner();
    let mut nodes = Vec::with_capacity(batch.node_batch.nodes().len());
    for (key, node) in batch.node_batch.nodes() {
        let stored = match node {
            Node::Leaf(leaf) => {
                let hash = leaf.key_hash();
                let Some((address, account)) = given.get(&hash).or_else(|| read.get(&hash)) else {
                    return Err(store.corrupt(&format!(
                        "state tree: a leaf moved by version {version} was never read"
                    )));
                };
                TreeNode::Leaf {
                    leaf: leaf.clone(),
                    address: *address,
                    account: *account,
                }
            }
            inner => TreeNode::Inner(inner.clone()),
        };
        nodes.push((key.clone(), stored));
    }
    let stale = batch
        .stale_node_index_batch
        .iter()
        .map(|stale| StaleNodeKey {
            since: stale.stale_since_version,
            node: stale.node_key.clone(),
        })
        .collect();
    Ok(TreeUpdate {
        root: StateRoot::from_bytes(root.0),
        version,
        nodes,
        stale,
    })
}

impl TreeUpdate {
    /// Adds the new nodes, the list of nodes they replace, and the new latest version to
    /// `batch`.
    pub(super) fn write(&self, batch: &mut StoreBatch<'_>) {
        for (key, node) in &self.nodes {
            batch.put::<StateTree>(&TreeNodeKey(key.clone()), node);
        }
        for stale in &self.stale {
            batch.put::<StaleTreeNodes>(stale, &Present);
        }
        batch.put::<Meta>(
            &MetaKey::StateTreeVersion,
            &MetaValue::from_u64(self.version),
        );
    }
}

/// Where pruning goes on from: the version of the last replaced node it deleted. Entries
/// before it are deleted already, and a scan from the table's start would walk over their
/// tombstones at every block until compaction drops them (that made a 100-block reorg
/// five times slower). Versions only grow, so no new entry ever sorts before it. Held in
/// memory by the chain; a new process starts from the beginning once.
#[derive(Debug, Default)]
pub(super) struct PruneCursor(u64);

/// What the chain keeps of the tree from block to block: where pruning goes on from, and
/// the time spent on the tree (updates, writes, pruning), which the benchmarks print as
/// the tree's share of import.
#[derive(Debug, Default)]
pub(super) struct Upkeep {
    /// Where pruning goes on from.
    pub(super) prune: PruneCursor,
    /// Time spent on the tree since the chain was opened.
    pub(super) spent: std::time::Duration,
}

/// Adds to `batch` the deletion of nodes no version since `latest - KEPT_TREE_VERSIONS`
/// reaches, at most [`PRUNED_PER_BLOCK`] of them, from `cursor` on. Reads the landed
/// store: the list it prunes from is far older than any batch still on its way.
pub(super) fn prune(
    store: &Store,
    batch: &mut StoreBatch<'_>,
    latest: u64,
    cursor: &mut PruneCursor,
) -> Result<usize, StoreError> {
    let Some(horizon) = latest.checked_sub(KEPT_TREE_VERSIONS) else {
        return Ok(0);
    };
    let start = cursor.0.to_be_bytes();
    // Keys start with the version, big-endian: everything before the next version's first
    // key is at or below the horizon.
    let end = horizon.saturating_add(1).to_be_bytes();
    let mut pruned = 0;
    for (stale, Present) in store.scan_forward::<StaleTreeNodes>(&start, &end, PRUNED_PER_BLOCK)? {
        batch.delete::<StateTree>(&TreeNodeKey(stale.node.clone()));
        batch.delete::<StaleTreeNodes>(&stale);
        cursor.0 = stale.since;
        pruned += 1;
    }
    Ok(pruned)
}

/// The root of tree version `version`, if its root node is still kept.
pub(super) fn root_at(
    store: &impl TableReads,
    version: u64,
) -> Result<Option<StateRoot>, StoreError> {
    let reader = Nodes::new(store);
    let tree = JellyfishMerkleTree::<_, TreeHasher>::new(&reader);
    let root = tree
        .get_root_hash_option(version)
        .map_err(|e| tree_error(store, e))?;
    Ok(root.map(|root| StateRoot::from_bytes(root.0)))
}

/// The tree's nodes, and the one value a proof of `key` reads: the account as the
/// accounts table had it at the proof's block.
struct ProofNodes<'a, S: TableReads> {
    nodes: Nodes<'a, S>,
    key: KeyHash,
    value: Option<OwnedValue>,
}

impl<S: TableReads> TreeReader for ProofNodes<'_, S> {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        self.nodes.get_node_option(node_key)
    }

    fn get_value_option(&self, _: Version, key: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        if key != self.key {
            return Err(anyhow::anyhow!("a proof reads only its own key's value"));
        }
        Ok(self.value.clone())
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, jmt::storage::LeafNode)>> {
        Ok(None)
    }
}

/// The proof that `address` holds `account` (or none) in tree version `version`. The
/// tree and the accounts table must agree on whether there is one.
pub(super) fn prove(
    store: &impl TableReads,
    version: u64,
    address: &Address,
    account: Option<&Account>,
) -> Result<AccountProof, StoreError> {
    let key = KeyHash(account_key(address));
    let reader = ProofNodes {
        nodes: Nodes::new(store),
        key,
        value: account.map(account_value),
    };
    let tree = JellyfishMerkleTree::<_, TreeHasher>::new(&reader);
    let (value, proof) = tree
        .get_with_proof(key, version)
        .map_err(|e| tree_error(store, e))?;
    if value.is_some() != account.is_some() {
        return Err(store.corrupt(&format!(
            "the state tree and the accounts table disagree on whether {address:?} exists"
        )));
    }
    proof_from_jmt(&proof).map_err(|e| store.corrupt(&e.to_string()))
}
