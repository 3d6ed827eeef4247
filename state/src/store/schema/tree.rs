//! The keys and values of the state map's tables: tree nodes (a leaf with the account it
//! commits to), the nodes later versions replaced, and the pieces of a snapshot being
//! restored.

use jmt::storage::{LeafNode, Node, NodeKey};
use tern_chain::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use tern_chain::state::Account;
use tern_chain::state_map::chunk::{Chunk, KeyPrefix, SplitChild, SPLIT_CHILDREN};
use tern_chain::types::Address;

use super::{fixed, KeyCodec};

/// A node of the state map's tree, by its `jmt` node key: the tree version that wrote
/// it, then its nibble path, in the crate's Borsh encoding. Only looked up by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeNodeKey(pub NodeKey);

impl KeyCodec for TreeNodeKey {
    fn write_key(&self, out: &mut Vec<u8>) {
        // Writing to a `Vec` cannot fail.
        let _ = borsh::to_writer(out, &self.0);
    }
    fn from_key(bytes: &[u8]) -> Result<Self, DecodeError> {
        borsh::from_slice(bytes)
            .map(TreeNodeKey)
            .map_err(|e| DecodeError::Invalid {
                what: "state tree node key",
                reason: e.to_string(),
            })
    }
}

/// The most bytes a tree node takes: an inner node of 16 children, each a hash, a version
/// and a leaf count, with room to spare.
pub const MAX_TREE_NODE_LEN: usize = 4_096;

/// A node of the state map's tree. The tree itself holds only hashes; a leaf here also
/// keeps the address and account it commits to, so that the tree alone gives every
/// account at any version it keeps, which is what serving the state to a node joining
/// by snapshot reads (the accounts table holds the latest version only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeNode {
    /// An inner node, or the empty map's null root.
    Inner(Node),
    /// A leaf, with what it commits to.
    Leaf {
        /// The leaf as the `jmt` crate keeps it: the key's and the value's hash.
        leaf: LeafNode,
        /// The address whose key the leaf is under.
        address: Address,
        /// The account whose encoding the leaf's value hash is of.
        account: Account,
    },
}

impl TreeNode {
    /// The node as the `jmt` crate reads it.
    pub fn node(&self) -> Node {
        match self {
            TreeNode::Inner(node) => node.clone(),
            TreeNode::Leaf { leaf, .. } => Node::Leaf(leaf.clone()),
        }
    }
}

/// A tag (0 inner, 1 leaf), then the node's Borsh encoding as bytes; a leaf then has its
/// address and account.
impl Encode for TreeNode {
    fn encode(&self, w: &mut Writer) {
        // Encoding to a `Vec` cannot fail.
        match self {
            TreeNode::Inner(node) => {
                w.u8(0);
                w.bytes(&borsh::to_vec(node).unwrap_or_default());
            }
            TreeNode::Leaf {
                leaf,
                address,
                account,
            } => {
                w.u8(1);
                w.bytes(&borsh::to_vec(leaf).unwrap_or_default());
                w.array(address.as_bytes());
                account.encode(w);
            }
        }
    }
}

fn borsh_invalid(what: &'static str, error: impl std::fmt::Display) -> DecodeError {
    DecodeError::Invalid {
        what,
        reason: error.to_string(),
    }
}

impl Decode for TreeNode {
    const MAX_ENCODED_LEN: usize = 1 + 8 + MAX_TREE_NODE_LEN + 32 + Account::MAX_ENCODED_LEN;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("state tree node kind")? {
            0 => {
                let bytes = r.bytes("state tree node", MAX_TREE_NODE_LEN)?;
                let node: Node =
                    borsh::from_slice(&bytes).map_err(|e| borsh_invalid("state tree node", e))?;
                if matches!(node, Node::Leaf(_)) {
                    return Err(borsh_invalid(
                        "state tree node",
                        "a leaf stored without its account",
                    ));
                }
                Ok(TreeNode::Inner(node))
            }
            1 => {
                let bytes = r.bytes("state tree leaf", MAX_TREE_NODE_LEN)?;
                let leaf =
                    borsh::from_slice(&bytes).map_err(|e| borsh_invalid("state tree leaf", e))?;
                Ok(TreeNode::Leaf {
                    leaf,
                    address: Address::from_bytes(r.array("state tree leaf address")?),
                    account: Account::decode(r)?,
                })
            }
            other => Err(borsh_invalid(
                "state tree node kind",
                format!("unknown kind {other}"),
            )),
        }
    }
}

/// A key prefix as a store key: one byte per nibble, so prefixes sort parent first, then
/// children in key order.
impl KeyCodec for KeyPrefix {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.nibbles());
    }
    fn from_key(bytes: &[u8]) -> Result<Self, DecodeError> {
        KeyPrefix::from_nibbles(bytes.to_vec()).ok_or_else(|| DecodeError::Invalid {
            what: "key prefix key",
            reason: "not a key prefix".into(),
        })
    }
}

/// A piece of a snapshot written so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoredPiece {
    /// Every account under the prefix is written, with the subtree's nodes.
    Whole {
        /// The subtree's hash.
        hash: [u8; 32],
        /// How many accounts it holds.
        accounts: u64,
    },
    /// The prefix's children, as a checked split gave them. Its single accounts are
    /// written; its node is written once every subtree child is whole, when the
    /// snapshot is finished.
    Split(Box<[SplitChild; SPLIT_CHILDREN]>),
}

/// A tag (0 whole: hash, `u64` accounts; 1 split: the split's encoding as a chunk's).
impl Encode for RestoredPiece {
    fn encode(&self, w: &mut Writer) {
        match self {
            RestoredPiece::Whole { hash, accounts } => {
                w.u8(0);
                w.array(hash);
                w.u64(*accounts);
            }
            RestoredPiece::Split(children) => {
                w.u8(1);
                Chunk::Split(children.clone()).encode(w);
            }
        }
    }
}

impl Decode for RestoredPiece {
    const MAX_ENCODED_LEN: usize = 1 + 1 + SPLIT_CHILDREN * (1 + 48);
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("restored piece kind")? {
            0 => Ok(RestoredPiece::Whole {
                hash: r.array("restored piece hash")?,
                accounts: r.u64("restored piece accounts")?,
            }),
            1 => match Chunk::decode(r)? {
                Chunk::Split(children) => Ok(RestoredPiece::Split(children)),
                Chunk::Accounts(_) => Err(DecodeError::Invalid {
                    what: "restored split",
                    reason: "accounts where a split was written".into(),
                }),
            },
            other => Err(DecodeError::Invalid {
                what: "restored piece kind",
                reason: format!("unknown kind {other}"),
            }),
        }
    }
}

/// A tree node that a later version replaced: the version that replaced it (big-endian,
/// so the oldest sort first and are pruned first), then the node's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleNodeKey {
    /// The tree version since which no root reaches the node.
    pub since: u64,
    /// The node.
    pub node: NodeKey,
}

impl KeyCodec for StaleNodeKey {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.since.to_be_bytes());
        TreeNodeKey(self.node.clone()).write_key(out);
    }
    fn from_key(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (since, node) = bytes.split_at_checked(8).ok_or(DecodeError::Invalid {
            what: "stale node key",
            reason: format!("{} bytes, fewer than 8", bytes.len()),
        })?;
        Ok(StaleNodeKey {
            since: u64::from_be_bytes(fixed(since, "stale node version")?),
            node: TreeNodeKey::from_key(node)?.0,
        })
    }
}
