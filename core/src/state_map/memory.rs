//! A whole state map in memory: the genesis root, the testkit's chains and the tests'
//! reference. It keeps the latest version only.

use std::collections::HashMap;

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, Version};

use crate::encoding;
use crate::state::Account;
use crate::types::{Address, StateRoot};

use super::{
    account_key, account_value, proof_from_jmt, put_changes, AccountProof, TreeError, TreeHasher,
    EMPTY_ROOT,
};

/// A state map held in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    nodes: HashMap<NodeKey, Node>,
    values: HashMap<[u8; 32], OwnedValue>,
    /// The tree's version: one per [`MemoryTree::apply`] that changed something.
    version: Option<Version>,
    root: Option<StateRoot>,
}

impl MemoryTree {
    /// The empty map.
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// A map holding `accounts`.
    pub fn with_accounts(
        accounts: impl IntoIterator<Item = (Address, Account)>,
    ) -> Result<MemoryTree, TreeError> {
        let mut tree = MemoryTree::new();
        tree.apply(accounts.into_iter().map(|(a, account)| (a, Some(account))))?;
        Ok(tree)
    }

    /// The root now.
    pub fn root(&self) -> StateRoot {
        self.root.unwrap_or(EMPTY_ROOT)
    }

    /// Sets each address to its account (`None`: removes it) and returns the new root.
    pub fn apply(
        &mut self,
        changes: impl IntoIterator<Item = (Address, Option<Account>)>,
    ) -> Result<StateRoot, TreeError> {
        let mut set: HashMap<[u8; 32], Option<OwnedValue>> = HashMap::new();
        for (address, account) in changes {
            set.insert(account_key(&address), account.as_ref().map(account_value));
        }
        if set.is_empty() {
            return Ok(self.root());
        }
        let version = self.version.map_or(0, |v| v.saturating_add(1));
        let (root, batch) = put_changes(
            &*self,
            set.iter()
                .map(|(key, value)| (KeyHash(*key), value.clone()))
                .collect(),
            version,
        )?;
        for (key, node) in batch.node_batch.nodes() {
            self.nodes.insert(key.clone(), node.clone());
        }
        for stale in batch.stale_node_index_batch {
            self.nodes.remove(&stale.node_key);
        }
        for (key, value) in set {
            match value {
                Some(value) => self.values.insert(key, value),
                None => self.values.remove(&key),
            };
        }
        let root = StateRoot::from_bytes(root.0);
        self.version = Some(version);
        self.root = Some(root);
        Ok(root)
    }

    /// The account at `address` and the proof of it (or of its absence) under
    /// [`MemoryTree::root`].
    pub fn prove(&self, address: &Address) -> Result<(Option<Account>, AccountProof), TreeError> {
        let Some(version) = self.version else {
            return Ok((None, AccountProof::default()));
        };
        let tree = JellyfishMerkleTree::<_, TreeHasher>::new(self);
        let (value, proof) = tree.get_with_proof(KeyHash(account_key(address)), version)?;
        let account = value
            .map(|bytes| encoding::decode::<Account>(&bytes))
            .transpose()
            .map_err(|e| TreeError(format!("a stored account does not decode: {e}")))?;
        Ok((account, proof_from_jmt(&proof)?))
    }

    /// The tree's version now, if anything was written.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// How many accounts the map holds.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// The node at `key`, if the latest version reaches it.
    pub fn node(&self, key: &NodeKey) -> Option<Node> {
        self.nodes.get(key).cloned()
    }

    /// How many nodes the latest version has.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl TreeReader for MemoryTree {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.nodes.get(node_key).cloned())
    }

    /// The latest value: a memory tree keeps no other version.
    fn get_value_option(
        &self,
        _max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        Ok(self.values.get(&key_hash.0).cloned())
    }

    /// Only restoring a tree from chunks asks for it, which a memory tree never does.
    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(None)
    }
}
