//! The store's schema: the one list of column families, the format version, and a typed
//! table for each family, so a key and value type can never disagree.
//!
//! Keys that must sort by height are big-endian; everything else is the canonical
//! encoding of [`tern_chain::encoding`].

use tern_chain::block::{Block, Header};
use tern_chain::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use tern_chain::state::{Account, UndoRecord};
use tern_chain::state_map::chunk::KeyPrefix;
use tern_chain::types::{Address, BlockHash, Height, StateRoot, TxId, Work};

/// The on-disk format this software reads and writes. Bump it with any change to a family
/// or an encoding, together with a migration or a refusal to open older stores.
///
/// 1: no state map. 2: the state map's tree. 3: headers carry the state root. 4: the
/// tree's leaves keep their accounts.
pub const SCHEMA_VERSION: u32 = 4;

mod tree;

pub use tree::{RestoredPiece, StaleNodeKey, TreeNode, TreeNodeKey, MAX_TREE_NODE_LEN};

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
