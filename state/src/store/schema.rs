//! The store's schema: the one list of column families, the format version, and a typed
//! table for each family, so a key and value type can never disagree.
//!
//! Keys that must sort by height are big-endian; everything else is the canonical
//! encoding of [`tern_chain::encoding`].

use jmt::storage::{LeafNode, Node, NodeKey};
use tern_chain::block::{Block, Header};
use tern_chain::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use tern_chain::state::{Account, UndoRecord};
use tern_chain::state_map::chunk::{Chunk, KeyPrefix, SplitChild, SPLIT_CHILDREN};
use tern_chain::types::{Address, BlockHash, Height, StateRoot, TxId, Work};

/// The on-disk format this software reads and writes. Bump it with any change to a family
/// or an encoding, together with a migration or a refusal to open older stores.
///
/// 1: no state map. 2: the state map's tree. 3: headers carry the state root. 4: the
/// tree's leaves keep their accounts.
pub const SCHEMA_VERSION: u32 = 4;

/// Every column family, in one place.
pub const COLUMN_FAMILIES: [&str; 12] = [
    Meta::NAME,
    BlockIndex::NAME,
    BlockBodies::NAME,
    Canonical::NAME,
    TxIndex::NAME,
    Accounts::NAME,
    Undo::NAME,
    AddressHistory::NAME,
    StateTree::NAME,
    StaleTreeNodes::NAME,
    StateRoots::NAME,
    SnapshotPieces::NAME,
];

/// A column family with its key and value types.
pub trait Table {
    /// The column family's name.
    const NAME: &'static str;
    /// The key type.
    type Key: KeyCodec;
    /// The value type.
    type Value: Encode + Decode;
    /// Whether the chain, the store's one writer, reads this table back. Only then does a
    /// batch written behind it ([`super::WriteBehind`]) keep a copy of the table's
    /// entries for the chain to read before the batch lands; tables that only readers
    /// look up (the transaction index, address history) skip that copy, and the chain
    /// reading one is refused ([`super::StoreError::NotReadByWriter`]).
    const READ_BY_WRITER: bool = true;
}

/// How a key type becomes bytes that sort as intended.
pub trait KeyCodec: Sized {
    /// Appends the key's bytes to `out`: many keys share one buffer in a sorted batch.
    fn write_key(&self, out: &mut Vec<u8>);
    /// The key's bytes.
    fn to_key(&self) -> Vec<u8> {
        let mut key = Vec::new();
        self.write_key(&mut key);
        key
    }
    /// Reads a key back.
    fn from_key(bytes: &[u8]) -> Result<Self, DecodeError>;
}

fn fixed<const N: usize>(bytes: &[u8], what: &'static str) -> Result<[u8; N], DecodeError> {
    bytes.try_into().map_err(|_| DecodeError::Invalid {
        what,
        reason: format!("{} bytes, expected {N}", bytes.len()),
    })
}

impl KeyCodec for BlockHash {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn from_key(bytes: &[u8]) -> Result<Self, DecodeError> {
        fixed(bytes, "block hash key").map(BlockHash::from_bytes)
    }
}

impl KeyCodec for TxId {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn from_key(bytes: &[u8]) -> Result<Self, DecodeError> {
        fixed(bytes, "txid key").map(TxId::from_bytes)
    }
}

impl KeyCodec for Address {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn from_key(bytes: &[u8]) -> Result<Self, DecodeError> {
        fixed(bytes, "address key").map(Address::from_bytes)
    }
}

/// Big-endian, so heights sort numerically.
impl KeyCodec for Height {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.value().to_be_bytes());
    }
    fn from_key(bytes: &[u8]) -> Result<Self, DecodeError> {
        fixed(bytes, "height key").map(|b| Height(u64::from_be_bytes(b)))
    }
}

/// The metadata entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaKey {
    /// The [`SCHEMA_VERSION`] the store was written with.
    SchemaVersion,
    /// The genesis hash of the chain in the store.
    Genesis,
    /// The hash of the canonical tip.
    Tip,
    /// The next first-seen sequence number (ties in fork choice go to the lower).
    NextSequence,
    /// The block the last reorg headed for, so a crash mid-way resumes it on the next
    /// open. Never cleared: once reached (or found invalid) it no longer beats the tip,
    /// and opening ignores it.
    ReorgTarget,
    /// The state map's latest tree version: one more with every block connected or
    /// disconnected.
    StateTreeVersion,
    /// The block whose state a snapshot sync is restoring, while it does.
    SnapshotPivot,
    /// That block's state root.
    SnapshotRoot,
    /// The snapshot being restored is being undone (its pivot is no longer served): a
    /// restart finishes undoing it before anything else.
    SnapshotAbandoning,
    /// The lowest block whose state and body the store holds: genesis, or the pivot of
    /// the snapshot the store was restored from. Absent: genesis.
    StateFloor,
}

impl KeyCodec for MetaKey {
    fn write_key(&self, out: &mut Vec<u8>) {
        let name: &[u8] = match self {
            MetaKey::SchemaVersion => b"schema_version",
            MetaKey::Genesis => b"genesis",
            MetaKey::Tip => b"tip",
            MetaKey::NextSequence => b"next_sequence",
            MetaKey::ReorgTarget => b"reorg_target",
            MetaKey::StateTreeVersion => b"state_tree_version",
            MetaKey::SnapshotPivot => b"snapshot_pivot",
            MetaKey::SnapshotRoot => b"snapshot_root",
            MetaKey::SnapshotAbandoning => b"snapshot_abandoning",
            MetaKey::StateFloor => b"state_floor",
        };
        out.extend_from_slice(name);
    }
    fn from_key(bytes: &[u8]) -> Result<Self, DecodeError> {
        match bytes {
            b"schema_version" => Ok(MetaKey::SchemaVersion),
            b"genesis" => Ok(MetaKey::Genesis),
            b"tip" => Ok(MetaKey::Tip),
            b"next_sequence" => Ok(MetaKey::NextSequence),
            b"reorg_target" => Ok(MetaKey::ReorgTarget),
            b"state_tree_version" => Ok(MetaKey::StateTreeVersion),
            b"snapshot_pivot" => Ok(MetaKey::SnapshotPivot),
            b"snapshot_root" => Ok(MetaKey::SnapshotRoot),
            b"snapshot_abandoning" => Ok(MetaKey::SnapshotAbandoning),
            b"state_floor" => Ok(MetaKey::StateFloor),
            _ => Err(DecodeError::Invalid {
                what: "meta key",
                reason: String::from_utf8_lossy(bytes).into_owned(),
            }),
        }
    }
}

/// A metadata value: every entry is a `u64` or a hash, stored as 32 bytes (a `u64` in its
/// first 8, little-endian), so one value type serves the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaValue(pub [u8; 32]);

impl MetaValue {
    /// A number.
    pub fn from_u64(value: u64) -> MetaValue {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&value.to_le_bytes());
        MetaValue(bytes)
    }

    /// The number in a value made by [`Self::from_u64`].
    pub fn as_u64(&self) -> u64 {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(bytes)
    }
}

impl Encode for MetaValue {
    fn encode(&self, w: &mut Writer) {
        w.array(&self.0);
    }
}

impl Decode for MetaValue {
    const MAX_ENCODED_LEN: usize = 32;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(MetaValue(r.array("meta value")?))
    }
}

/// Whether a known block may be part of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockStatus {
    /// Stored with its body and not known to break any rule.
    Valid,
    /// Breaks a rule, or descends from a block that does. Never connected, never
    /// revalidated.
    Invalid,
}

/// What the block index holds for every known block, on any branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockIndexEntry {
    /// The header.
    pub header: Header,
    /// Work of the chain from genesis up to and including this block.
    pub cumulative_work: Work,
    /// Whether it may be connected.
    pub status: BlockStatus,
    /// When it was first seen, as a store-wide counter: on equal work the lower wins.
    pub sequence: u64,
}

impl Encode for BlockIndexEntry {
    fn encode(&self, w: &mut Writer) {
        self.header.encode(w);
        w.array(&self.cumulative_work.to_be_bytes());
        w.u8(match self.status {
            BlockStatus::Valid => 0,
            BlockStatus::Invalid => 1,
        });
        w.u64(self.sequence);
    }
}

impl Decode for BlockIndexEntry {
    const MAX_ENCODED_LEN: usize = Header::MAX_ENCODED_LEN + 32 + 1 + 8;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = Header::decode(r)?;
        let cumulative_work = Work::from_be_bytes(r.array("cumulative work")?);
        let status = match r.u8("status")? {
            0 => BlockStatus::Valid,
            1 => BlockStatus::Invalid,
            other => {
                return Err(DecodeError::Invalid {
                    what: "status",
                    reason: format!("unknown status {other}"),
                })
            }
        };
        Ok(BlockIndexEntry {
            header,
            cumulative_work,
            status,
            sequence: r.u64("sequence")?,
        })
    }
}

/// Where a canonical transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// The block that holds it.
    pub block: BlockHash,
    /// Its position in the block.
    pub position: u32,
}

impl Encode for TxLocation {
    fn encode(&self, w: &mut Writer) {
        w.array(self.block.as_bytes());
        w.u32(self.position);
    }
}

impl Decode for TxLocation {
    const MAX_ENCODED_LEN: usize = 36;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TxLocation {
            block: BlockHash::from_bytes(r.array("block")?),
            position: r.u32("position")?,
        })
    }
}

/// A wallet history key: address, then height and position big-endian, so one address's
/// entries are contiguous and sort oldest to newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HistoryKey {
    /// The address the transaction touches (as sender or recipient).
    pub address: Address,
    /// The block height.
    pub height: Height,
    /// The position in the block.
    pub position: u32,
}

/// The length of an encoded [`HistoryKey`].
pub const HISTORY_KEY_LEN: usize = 32 + 8 + 4;

impl KeyCodec for HistoryKey {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.address.as_bytes());
        out.extend_from_slice(&self.height.value().to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
    }
    fn from_key(bytes: &[u8]) -> Result<Self, DecodeError> {
        let bytes: [u8; HISTORY_KEY_LEN] = fixed(bytes, "history key")?;
        let (address, rest) = bytes.split_at(32);
        let (height, position) = rest.split_at(8);
        Ok(HistoryKey {
            address: Address::from_bytes(fixed(address, "history address")?),
            height: Height(u64::from_be_bytes(fixed(height, "history height")?)),
            position: u32::from_be_bytes(fixed(position, "history position")?),
        })
    }
}

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

/// A value that says only that its key is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Present;

impl Encode for Present {
    fn encode(&self, _: &mut Writer) {}
}

impl Decode for Present {
    const MAX_ENCODED_LEN: usize = 0;
    fn decode(_: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Present)
    }
}

/// A canonical block's state root, and the tree version that holds it (for proofs at
/// that block while the version is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateRootEntry {
    /// The root of the accounts after the block.
    pub root: StateRoot,
    /// The tree version whose root it is.
    pub version: u64,
}

impl Encode for StateRootEntry {
    fn encode(&self, w: &mut Writer) {
        self.root.encode(w);
        w.u64(self.version);
    }
}

impl Decode for StateRootEntry {
    const MAX_ENCODED_LEN: usize = 40;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(StateRootEntry {
            root: StateRoot::decode(r)?,
            version: r.u64("state tree version")?,
        })
    }
}

macro_rules! table {
    ($(#[$doc:meta])* $name:ident, $cf:literal, $key:ty => $value:ty) => {
        table!($(#[$doc])* $name, $cf, $key => $value, read_by_writer: true);
    };
    ($(#[$doc:meta])* $name:ident, $cf:literal, $key:ty => $value:ty, read_by_writer: $read:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl Table for $name {
            const NAME: &'static str = $cf;
            type Key = $key;
            type Value = $value;
            const READ_BY_WRITER: bool = $read;
        }
    };
}

table!(
    /// Store-wide metadata: schema version, genesis, tip.
    Meta, "meta", MetaKey => MetaValue
);
table!(
    /// Every known block on every branch.
    BlockIndex, "block_index", BlockHash => BlockIndexEntry
);
table!(
    /// Full blocks, for the blocks of the index that were stored valid: a block whose
    /// header was marked invalid on arrival has an index entry and no body.
    BlockBodies, "block_bodies", BlockHash => Block
);
table!(
    /// The canonical chain: height to hash.
    Canonical, "canonical", Height => BlockHash
);
table!(
    /// Canonical transactions: id to block and position. Only readers look it up.
    TxIndex, "tx_index", TxId => TxLocation, read_by_writer: false
);
table!(
    /// The account state at the canonical tip.
    Accounts, "accounts", Address => Account
);
table!(
    /// For each canonical block, the account values before it.
    Undo, "undo", BlockHash => UndoRecord
);
table!(
    /// Canonical transactions by the addresses they touch. Only readers look it up.
    AddressHistory, "address_history", HistoryKey => TxId, read_by_writer: false
);

table!(
    /// The state map's tree: every node of every kept version, by node key. Written in
    /// each block's batch with the accounts, so the two are never out of step.
    StateTree, "state_tree", TreeNodeKey => TreeNode
);
table!(
    /// Tree nodes that later versions replaced, oldest first: what pruning deletes once
    /// no kept version reaches them.
    StaleTreeNodes, "state_tree_stale", StaleNodeKey => Present, read_by_writer: false
);
table!(
    /// For each canonical block, its state root and the tree version holding it.
    StateRoots, "state_roots", BlockHash => StateRootEntry
);
table!(
    /// The pieces of the state a snapshot sync has written, by key prefix, while it
    /// runs: what a restart does not fetch again. Emptied when the snapshot is finished.
    SnapshotPieces, "snapshot_pieces", KeyPrefix => RestoredPiece
);

#[cfg(test)]
mod tests {
    use super::*;
    use tern_chain::block::HEADER_LEN;
    use tern_chain::encoding;

    #[test]
    fn height_keys_sort_numerically() {
        let mut keys: Vec<Vec<u8>> = [256u64, 1, 65_536, 255]
            .iter()
            .map(|h| Height(*h).to_key())
            .collect();
        keys.sort();
        let heights: Vec<u64> = keys
            .iter()
            .map(|k| Height::from_key(k).unwrap().value())
            .collect();
        assert_eq!(heights, [1, 255, 256, 65_536]);
    }

    #[test]
    fn history_keys_group_by_address_then_height() {
        let a = Address::from_bytes([1; 32]);
        let b = Address::from_bytes([2; 32]);
        let k = |address, height, position| {
            HistoryKey {
                address,
                height: Height(height),
                position,
            }
            .to_key()
        };
        let mut keys = vec![k(b, 1, 0), k(a, 300, 0), k(a, 2, 7), k(a, 2, 1)];
        keys.sort();
        assert_eq!(keys, vec![k(a, 2, 1), k(a, 2, 7), k(a, 300, 0), k(b, 1, 0)]);
        assert_eq!(
            HistoryKey::from_key(&k(a, 2, 7)).unwrap(),
            HistoryKey {
                address: a,
                height: Height(2),
                position: 7
            }
        );
    }

    #[test]
    fn every_family_is_listed_once() {
        let mut names = COLUMN_FAMILIES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COLUMN_FAMILIES.len());
    }

    #[test]
    fn index_entries_round_trip_and_reject_unknown_status() {
        let entry = BlockIndexEntry {
            header: tern_chain::genesis::ChainSpec::resolve("dev")
                .unwrap()
                .genesis_header(),
            cumulative_work: Work::from_be_bytes([3; 32]),
            status: BlockStatus::Invalid,
            sequence: 9,
        };
        let mut bytes = encoding::encode(&entry);
        assert_eq!(encoding::decode::<BlockIndexEntry>(&bytes), Ok(entry));
        bytes[HEADER_LEN + 32] = 7;
        assert!(encoding::decode::<BlockIndexEntry>(&bytes).is_err());
    }
}
