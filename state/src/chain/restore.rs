//! Restoring the state from a snapshot, into a store that holds nothing but genesis:
//! the state after a pivot block, fetched from peers a chunk at a time, in any order.
//!
//! Each chunk is checked here, against the hash the store already knows its subtree by
//! (the pivot's state root for the whole map, else what its parent's split gave), so
//! nothing unchecked is ever written, whoever hands it in. A chunk's accounts and
//! nodes land in one batch with the record of the piece ([`SnapshotPieces`]), so a
//! restart goes on from the pieces written and fetches none again. All nodes are written
//! at one tree version, the one after genesis's. A split's own node waits until the
//! snapshot is finished, when every subtree below it is whole and its true account
//! counts are known (a peer's claimed counts are never written).
//!
//! Finishing writes, in one batch, the top nodes, the headers from genesis to the pivot
//! (without bodies: the store holds headers only below the pivot), and the pivot as the
//! tip and as the store's *floor*, the lowest block whose state it holds.
//!
//! While a snapshot is restored, the chain takes no block ([`Rejection::Restoring`]):
//! connecting one would write the same tree version.

use std::collections::BTreeMap;

use super::tree_build::{self, Built, LeafAccount};
use super::{Chain, ChainError, TipInfo};
use crate::store::schema::{
    Accounts, BlockIndex, BlockIndexEntry, BlockStatus, Canonical, Meta, MetaKey, MetaValue,
    RestoredPiece, SnapshotPieces, StateRootEntry, StateRoots, StateTree, TreeNodeKey,
};
use crate::store::{StoreError, TableReads};
use tern_chain::block::Header;
use tern_chain::state_map::chunk::{Chunk, ChunkError, KeyPrefix, SplitChild};
use tern_chain::state_map::leaf_hash;
use tern_chain::types::{BlockHash, Height, StateRoot};

/// Why a snapshot step was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SnapshotError {
    /// The store failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A snapshot is restored only into a store that holds nothing but genesis.
    #[error("a snapshot is restored only into a new store; this one's tip is at height {0}")]
    NotFresh(Height),
    /// No snapshot is being restored.
    #[error("no snapshot is being restored")]
    NotRestoring,
    /// Another pivot's snapshot is being restored.
    #[error("the snapshot of block {0} is being restored, not another")]
    OtherPivot(BlockHash),
    /// The chunk's parent is not a split with a subtree there: nothing asked for it.
    #[error("chunk {0} is not part of the snapshot: its parent was not split there")]
    NotAsked(KeyPrefix),
    /// The chunk is not the subtree it claims to be: its sender lied.
    #[error("chunk {prefix}: {error}")]
    Invalid {
        /// The chunk's prefix.
        prefix: KeyPrefix,
        /// The rule it broke.
        error: ChunkError,
    },
    /// Pieces are still missing.
    #[error("the snapshot still lacks {missing} pieces")]
    Incomplete {
        /// How many subtrees are not written yet.
        missing: usize,
    },
    /// The headers handed in do not lead from genesis to the pivot.
    #[error("the headers do not lead from genesis to the pivot: {0}")]
    Headers(String),
}

impl From<StoreError> for SnapshotError {
    fn from(error: StoreError) -> SnapshotError {
        SnapshotError::Chain(error.into())
    }
}

/// The snapshot being restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Restoring {
    /// The block whose state it is.
    pivot: BlockHash,
    /// That block's state root.
    root: StateRoot,
    /// The tree version its nodes are written at.
    version: u64,
}

/// A snapshot being restored, as the store holds it: what a restart goes on from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotProgress {
    /// The pivot.
    pub pivot: BlockHash,
    /// Its state root.
    pub root: StateRoot,
    /// Subtrees still to fetch, each with the accounts its parent's split claimed for it
    /// (no hash covers the count: for progress reports only).
    pub wanted: Vec<(KeyPrefix, u64)>,
    /// Pieces written.
    pub pieces: usize,
    /// Accounts written.
    pub accounts: u64,
}

/// What restoring one chunk did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Subtrees a split chunk named, to fetch next, each with the accounts the split
    /// claims for it.
    pub wanted: Vec<(KeyPrefix, u64)>,
    /// Accounts the chunk wrote.
    pub accounts: u64,
    /// The chunk was written before (another peer's copy): nothing was done.
    pub duplicate: bool,
}

/// The tree version after genesis's, which a restored state is written at.
const RESTORED_VERSION: u64 = 1;

/// Reads the snapshot the store is restoring, if any.
pub(super) fn load(store: &impl TableReads) -> Result<Option<Restoring>, StoreError> {
    let Some(pivot) = store.get::<Meta>(&MetaKey::SnapshotPivot)? else {
        return Ok(None);
    };
    let Some(root) = store.get::<Meta>(&MetaKey::SnapshotRoot)? else {
        return Err(store.corrupt("a snapshot pivot without its state root"));
    };
    Ok(Some(Restoring {
        pivot: BlockHash::from_bytes(pivot.0),
        root: StateRoot::from_bytes(root.0),
        version: RESTORED_VERSION,
    }))
}

/// The store's floor: the pivot it was restored from, else genesis.
pub(super) fn floor(store: &impl TableReads) -> Result<Height, StoreError> {
    Ok(store
        .get::<Meta>(&MetaKey::StateFloor)?
        .map_or(Height::GENESIS, |value| Height(value.as_u64())))
}

impl Chain {
    /// The lowest block whose state and body the store holds: the pivot of the snapshot
    /// it was restored from, else genesis.
    pub fn floor(&self) -> Height {
        self.floor
    }

    /// The snapshot being restored, if any: its pivot and what is still to fetch.
    pub fn snapshot_progress(&self) -> Result<Option<SnapshotProgress>, SnapshotError> {
        let Some(restoring) = self.restoring else {
            return Ok(None);
        };
        let pieces = self.pieces()?;
        let mut accounts = 0;
        for piece in pieces.values() {
            accounts += match piece {
                RestoredPiece::Whole { accounts, .. } => *accounts,
                RestoredPiece::Split(children) => children
                    .iter()
                    .filter(|c| matches!(c, SplitChild::Account(..)))
                    .count() as u64,
            };
        }
        Ok(Some(SnapshotProgress {
            pivot: restoring.pivot,
            root: restoring.root,
            wanted: wanted(&pieces),
            pieces: pieces.len(),
            accounts,
        }))
    }

    /// Starts restoring the state after `pivot` (whose header sync checked), or goes on
    /// with it if it is the one being restored.
    pub fn begin_snapshot(&mut self, pivot: &Header) -> Result<SnapshotProgress, SnapshotError> {
        let hash = pivot.hash();
        match self.restoring {
            Some(restoring) if restoring.pivot != hash => {
                return Err(SnapshotError::OtherPivot(restoring.pivot))
            }
            Some(_) => {}
            None => {
                if self.tip.height() != Height::GENESIS {
                    return Err(SnapshotError::NotFresh(self.tip.height()));
                }
                let mut batch = self.writes.batch();
                batch.put::<Meta>(&MetaKey::SnapshotPivot, &MetaValue(*hash.as_bytes()));
                batch.put::<Meta>(
                    &MetaKey::SnapshotRoot,
                    &MetaValue(*pivot.state_root.as_bytes()),
                );
                self.writes.write(batch)?;
                self.writes.settle()?;
                self.restoring = Some(Restoring {
                    pivot: hash,
                    root: pivot.state_root,
                    version: RESTORED_VERSION,
                });
            }
        }
        self.snapshot_progress()?.ok_or(SnapshotError::NotRestoring)
    }

    /// Checks `chunk` against the hash its subtree must have and writes it: its accounts,
    /// its nodes (a split's single accounts; its own node waits for the finish), and the
    /// record of the piece.
    pub fn restore_chunk(
        &mut self,
        prefix: &KeyPrefix,
        chunk: &Chunk,
    ) -> Result<Restored, SnapshotError> {
        let restoring = self.restoring.ok_or(SnapshotError::NotRestoring)?;
        if self.writes.get::<SnapshotPieces>(prefix)?.is_some() {
            return Ok(Restored {
                wanted: Vec::new(),
                accounts: 0,
                duplicate: true,
            });
        }
        let expected = self.expected_hash(&restoring, prefix)?;
        chunk
            .verify(prefix, &expected)
            .map_err(|error| SnapshotError::Invalid {
                prefix: prefix.clone(),
                error,
            })?;
        let mut nodes = Vec::new();
        let mut accounts = Vec::new();
        let (piece, wanted) = match chunk {
            Chunk::Accounts(list) => {
                let leaves: Vec<LeafAccount> = list
                    .iter()
                    .map(|(address, account)| LeafAccount::new(*address, *account))
                    .collect();
                let hash = if leaves.is_empty() {
                    nodes.push((
                        tree_build::node_key(restoring.version, &[]),
                        crate::store::schema::TreeNode::Inner(jmt::storage::Node::Null),
                    ));
                    tern_chain::state_map::EMPTY_SUBTREE
                } else {
                    let mut path = prefix.nibbles().to_vec();
                    tree_build::subtree(restoring.version, &mut path, &leaves, &mut nodes)
                        .map_err(|e| self.writes.store().corrupt(&e))?
                        .hash
                };
                if hash != expected {
                    return Err(self
                        .writes
                        .store()
                        .corrupt(&format!(
                            "chunk {prefix} built to another hash than it checked to"
                        ))
                        .into());
                }
                accounts.extend(list.iter().copied());
                let piece = RestoredPiece::Whole {
                    hash,
                    accounts: list.len() as u64,
                };
                (piece, Vec::new())
            }
            Chunk::Split(children) => {
                let mut wanted = Vec::new();
                for (nibble, child) in children.iter().enumerate() {
                    let Some(below) = prefix.child(nibble as u8) else {
                        continue;
                    };
                    match child {
                        SplitChild::Empty => {}
                        SplitChild::Account(address, account) => {
                            let leaf = LeafAccount::new(*address, *account);
                            let mut path = below.nibbles().to_vec();
                            tree_build::subtree(restoring.version, &mut path, &[leaf], &mut nodes)
                                .map_err(|e| self.writes.store().corrupt(&e))?;
                            accounts.push((*address, *account));
                        }
                        SplitChild::Subtree { accounts, .. } => wanted.push((below, *accounts)),
                    }
                }
                (RestoredPiece::Split(children.clone()), wanted)
            }
        };
        let mut batch = self.writes.batch();
        for (key, node) in &nodes {
            batch.put::<StateTree>(&TreeNodeKey(key.clone()), node);
        }
        for (address, account) in &accounts {
            batch.put::<Accounts>(address, account);
        }
        batch.put::<SnapshotPieces>(prefix, &piece);
        self.writes.write(batch)?;
        self.writes.settle()?;
        Ok(Restored {
            wanted,
            accounts: accounts.len() as u64,
            duplicate: false,
        })
    }

    /// Finishes the snapshot once every piece is written: the top nodes, the `headers`
    /// from genesis's child to the pivot (checked by sync; here only that they lead there),
    /// and the pivot as the tip and the store's floor. Returns the new tip.
    pub fn finish_snapshot(&mut self, headers: &[Header]) -> Result<TipInfo, SnapshotError> {
        let restoring = self.restoring.ok_or(SnapshotError::NotRestoring)?;
        let pieces = self.pieces()?;
        let missing = wanted(&pieces).len();
        if missing > 0 {
            return Err(SnapshotError::Incomplete { missing });
        }
        let genesis = self.tip;
        check_headers(&genesis, headers, &restoring)?;
        let mut nodes = Vec::new();
        let top = build_top(&restoring, &pieces, KeyPrefix::root(), &mut nodes).map_err(|e| {
            self.writes
                .store()
                .corrupt(&format!("finishing the snapshot: {e}"))
        })?;
        if top.hash != *restoring.root.as_bytes() {
            return Err(self
                .writes
                .store()
                .corrupt("the restored tree's root is not the pivot's state root")
                .into());
        }
        let mut batch = self.writes.batch();
        for (key, node) in &nodes {
            batch.put::<StateTree>(&TreeNodeKey(key.clone()), node);
        }
        let mut work = genesis.cumulative_work;
        let mut sequence = self.next_sequence;
        let mut tip = genesis;
        for header in headers {
            work = work.saturating_add(header.target.work());
            let hash = header.hash();
            let entry = BlockIndexEntry {
                header: *header,
                cumulative_work: work,
                status: BlockStatus::Valid,
                sequence,
            };
            sequence = sequence.saturating_add(1);
            batch.put::<BlockIndex>(&hash, &entry);
            batch.put::<Canonical>(&header.height, &hash);
            tip = TipInfo {
                hash,
                header: *header,
                cumulative_work: work,
            };
        }
        batch.put::<StateRoots>(
            &restoring.pivot,
            &StateRootEntry {
                root: restoring.root,
                version: restoring.version,
            },
        );
        batch.put::<Meta>(
            &MetaKey::StateTreeVersion,
            &MetaValue::from_u64(restoring.version),
        );
        batch.put::<Meta>(&MetaKey::NextSequence, &MetaValue::from_u64(sequence));
        batch.put::<Meta>(&MetaKey::Tip, &MetaValue(*restoring.pivot.as_bytes()));
        batch.put::<Meta>(
            &MetaKey::StateFloor,
            &MetaValue::from_u64(tip.height().value()),
        );
        batch.delete::<Meta>(&MetaKey::SnapshotPivot);
        batch.delete::<Meta>(&MetaKey::SnapshotRoot);
        for prefix in pieces.keys() {
            batch.delete::<SnapshotPieces>(prefix);
        }
        self.writes.write(batch)?;
        self.writes.settle()?;
        self.next_sequence = sequence;
        self.tip = tip;
        self.floor = tip.height();
        self.restoring = None;
        Ok(tip)
    }

    /// Undoes the snapshot being restored, as when its pivot is no longer served: every
    /// piece's accounts and nodes are deleted, the genesis accounts written back, and the
    /// store is as new again, ready for another pivot. A first batch marks the undoing,
    /// each piece then goes in a batch of its own with its record, and the last batch
    /// clears the mark: a restart in the middle finishes it ([`Chain::open`]) before
    /// anything else, and never takes a half-undone piece for a written one.
    pub fn abandon_snapshot(&mut self) -> Result<(), SnapshotError> {
        let Some(restoring) = self.restoring else {
            return Ok(());
        };
        if self
            .writes
            .get::<Meta>(&MetaKey::SnapshotAbandoning)?
            .is_none()
        {
            let mut batch = self.writes.batch();
            batch.put::<Meta>(&MetaKey::SnapshotAbandoning, &MetaValue::from_u64(1));
            self.writes.write(batch)?;
        }
        let pieces = self.pieces()?;
        let count = pieces.len();
        for (prefix, piece) in pieces {
            let mut batch = self.writes.batch();
            let nodes = match &piece {
                RestoredPiece::Whole { .. } => super::state_chunks::nodes_under(
                    &self.writes,
                    restoring.version,
                    prefix.nibbles(),
                )?,
                RestoredPiece::Split(children) => children
                    .iter()
                    .enumerate()
                    .filter_map(|(nibble, child)| match child {
                        SplitChild::Account(address, _) => {
                            let below = prefix.child(nibble as u8)?;
                            let key = tree_build::node_key(restoring.version, below.nibbles());
                            Some((key, Some(*address)))
                        }
                        _ => None,
                    })
                    .collect(),
            };
            for (key, address) in nodes {
                batch.delete::<StateTree>(&TreeNodeKey(key));
                if let Some(address) = address {
                    batch.delete::<Accounts>(&address);
                }
            }
            batch.delete::<SnapshotPieces>(&prefix);
            self.writes.write(batch)?;
        }
        let mut batch = self.writes.batch();
        for (address, account) in self.spec.genesis_state().accounts() {
            batch.put::<Accounts>(address, account);
        }
        batch.delete::<Meta>(&MetaKey::SnapshotPivot);
        batch.delete::<Meta>(&MetaKey::SnapshotRoot);
        batch.delete::<Meta>(&MetaKey::SnapshotAbandoning);
        self.writes.write(batch)?;
        self.writes.settle()?;
        tracing::info!(pivot = %restoring.pivot, pieces = count, "undid the snapshot of a pivot no longer served");
        self.restoring = None;
        Ok(())
    }

    /// Whether a snapshot's undoing was interrupted.
    pub(super) fn abandoning(&self) -> Result<bool, StoreError> {
        Ok(self
            .writes
            .get::<Meta>(&MetaKey::SnapshotAbandoning)?
            .is_some())
    }

    /// Every piece written so far.
    fn pieces(&self) -> Result<BTreeMap<KeyPrefix, RestoredPiece>, StoreError> {
        Ok(self
            .writes
            .store()
            .scan_all::<SnapshotPieces>()?
            .into_iter()
            .collect())
    }

    /// The hash the subtree at `prefix` must have.
    fn expected_hash(
        &self,
        restoring: &Restoring,
        prefix: &KeyPrefix,
    ) -> Result<[u8; 32], SnapshotError> {
        let nibbles = prefix.nibbles();
        let Some((last, parent)) = nibbles.split_last() else {
            return Ok(*restoring.root.as_bytes());
        };
        let parent = KeyPrefix::from_nibbles(parent.to_vec())
            .ok_or_else(|| SnapshotError::NotAsked(prefix.clone()))?;
        match self.writes.get::<SnapshotPieces>(&parent)? {
            Some(RestoredPiece::Split(children)) => match children.get(usize::from(*last)) {
                Some(SplitChild::Subtree { hash, .. }) => Ok(*hash),
                _ => Err(SnapshotError::NotAsked(prefix.clone())),
            },
            _ => Err(SnapshotError::NotAsked(prefix.clone())),
        }
    }
}

/// The subtrees still to fetch: the root if nothing is written, else every subtree child
/// of a written split that is not written itself.
fn wanted(pieces: &BTreeMap<KeyPrefix, RestoredPiece>) -> Vec<(KeyPrefix, u64)> {
    if pieces.is_empty() {
        return vec![(KeyPrefix::root(), 0)];
    }
    let mut wanted = Vec::new();
    for (prefix, piece) in pieces {
        let RestoredPiece::Split(children) = piece else {
            continue;
        };
        for (nibble, child) in children.iter().enumerate() {
            if let (SplitChild::Subtree { accounts, .. }, Some(below)) =
                (child, prefix.child(nibble as u8))
            {
                if !pieces.contains_key(&below) {
                    wanted.push((below, *accounts));
                }
            }
        }
    }
    wanted
}

/// Checks that `headers` lead from `genesis` to the pivot with its state root.
fn check_headers(
    genesis: &TipInfo,
    headers: &[Header],
    restoring: &Restoring,
) -> Result<(), SnapshotError> {
    let mut parent = (genesis.hash, genesis.height());
    for header in headers {
        if header.parent != parent.0 || header.height.value() != parent.1.value() + 1 {
            return Err(SnapshotError::Headers(format!(
                "header at height {} does not follow the one before",
                header.height
            )));
        }
        parent = (header.hash(), header.height);
    }
    if parent.0 != restoring.pivot {
        return Err(SnapshotError::Headers(format!(
            "they end at {}, not at the pivot {}",
            parent.0, restoring.pivot
        )));
    }
    Ok(())
}

/// Builds the node of the piece at `prefix` (a split's, from its children; a whole
/// subtree's is written already) into `out`, and returns what its parent names it by.
fn build_top(
    restoring: &Restoring,
    pieces: &BTreeMap<KeyPrefix, RestoredPiece>,
    prefix: KeyPrefix,
    out: &mut Vec<(jmt::storage::NodeKey, crate::store::schema::TreeNode)>,
) -> Result<Built, String> {
    match pieces.get(&prefix) {
        None => Err(format!("piece {prefix} is missing")),
        Some(RestoredPiece::Whole { hash, accounts }) => Ok(Built {
            hash: *hash,
            accounts: *accounts,
            leaf: *accounts == 1,
        }),
        Some(RestoredPiece::Split(children)) => {
            let mut built = [None; 16];
            for (nibble, child) in children.iter().enumerate() {
                let Some(below) = prefix.child(nibble as u8) else {
                    continue;
                };
                let slot = match child {
                    SplitChild::Empty => None,
                    SplitChild::Account(address, account) => {
                        let leaf = LeafAccount::new(*address, *account);
                        Some(Built {
                            hash: leaf_hash(&leaf.key, &leaf.value_hash),
                            accounts: 1,
                            leaf: true,
                        })
                    }
                    SplitChild::Subtree { hash, .. } => {
                        let child = build_top(restoring, pieces, below, out)?;
                        if child.hash != *hash {
                            return Err(format!("piece under {prefix} has another hash"));
                        }
                        Some(child)
                    }
                };
                if let Some(target) = built.get_mut(nibble) {
                    *target = slot;
                }
            }
            let (node, top) = tree_build::inner_node(restoring.version, &built)?;
            out.push((
                tree_build::node_key(restoring.version, prefix.nibbles()),
                crate::store::schema::TreeNode::Inner(node),
            ));
            Ok(top)
        }
    }
}
