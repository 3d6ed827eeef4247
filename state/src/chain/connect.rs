//! Connecting and disconnecting one block: each is exactly one atomic store batch that
//! moves the state, the undo record, every index and the tip pointer together.

use std::time::{Duration, Instant};

use crate::store::schema::{
    Accounts, AddressHistory, BlockBodies, BlockIndex, BlockIndexEntry, Canonical, HistoryKey,
    Meta, MetaKey, MetaValue, StateRootEntry, StateRoots, TxIndex, TxLocation, Undo,
};
use crate::store::{StoreError, TableReads, WriteBehind};
use tern_chain::block::Block;
use tern_chain::error::BlockError;
use tern_chain::state::{apply_block, MemoryState, StateChange};
use tern_chain::types::{Address, Amount, BlockHash, StateRoot, TxId};

use super::outcome::TipInfo;
use super::state_tree;

/// Why a block could not be connected.
#[derive(Debug)]
pub(super) enum ConnectError {
    /// The block breaks a state rule.
    Invalid(BlockError),
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for ConnectError {
    fn from(error: StoreError) -> Self {
        ConnectError::Store(error)
    }
}

/// The accounts a block touches: senders, recipients and the miner.
fn touched(block: &Block) -> Vec<Address> {
    let mut addresses: Vec<Address> = block
        .transactions
        .iter()
        .flat_map(|t| [t.tx().from, t.tx().to])
        .collect();
    addresses.push(block.header.miner);
    addresses.sort_unstable();
    addresses.dedup();
    addresses
}

/// The history keys of a block's transactions: one per address touched, so a
/// self-transfer appears once.
pub(super) fn history_keys(block: &Block) -> impl Iterator<Item = (HistoryKey, TxId)> + '_ {
    let height = block.header.height;
    block
        .transactions
        .iter()
        .enumerate()
        .flat_map(move |(position, t)| {
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            let from = HistoryKey {
                address: t.tx().from,
                height,
                position,
            };
            let to = (t.tx().to != t.tx().from).then_some(HistoryKey {
                address: t.tx().to,
                height,
                position,
            });
            std::iter::once(from)
                .chain(to)
                .map(move |key| (key, t.id()))
        })
}

pub(super) fn read_block(store: &impl TableReads, hash: &BlockHash) -> Result<Block, StoreError> {
    store
        .get::<BlockBodies>(hash)?
        .ok_or_else(|| store.corrupt(&format!("no body for indexed block {hash}")))
}

pub(super) fn read_entry(
    store: &impl TableReads,
    hash: &BlockHash,
) -> Result<BlockIndexEntry, StoreError> {
    store
        .get::<BlockIndex>(hash)?
        .ok_or_else(|| store.corrupt(&format!("block {hash} missing from the index")))
}

/// What `block` (whose parent is the tip) changes: the accounts it leaves and the tree
/// version that holds them. Writes nothing.
fn apply(
    store: &WriteBehind,
    block: &Block,
    reward: Amount,
) -> Result<(StateChange, state_tree::TreeUpdate, Duration), ConnectError> {
    let addresses = touched(block);
    let accounts = store.multi_get::<Accounts>(&addresses)?;
    let before = MemoryState::new(
        addresses
            .iter()
            .zip(accounts)
            .filter_map(|(a, acc)| acc.map(|acc| (*a, acc))),
    );
    let change = apply_block(&before, block, reward).map_err(ConnectError::Invalid)?;
    let started = Instant::now();
    let tree = state_tree::update(
        store,
        change
            .accounts
            .iter()
            .map(|(address, account)| (*address, Some(*account))),
    )?;
    Ok((change, tree, started.elapsed()))
}

/// The state root `block` (whose parent is the tip) would leave, whatever its header
/// says: what a block being assembled must commit to. Writes nothing.
pub(super) fn state_root_after(
    store: &WriteBehind,
    block: &Block,
    reward: Amount,
) -> Result<StateRoot, ConnectError> {
    let (_, tree, _) = apply(store, block, reward)?;
    Ok(tree.root)
}

/// Applies `block` (whose parent is the tip) and makes it the tip, in one batch.
pub(super) fn connect(
    store: &WriteBehind,
    block: &Block,
    entry: &BlockIndexEntry,
    reward: Amount,
    upkeep: &mut state_tree::Upkeep,
) -> Result<TipInfo, ConnectError> {
    let (change, tree, updating) = apply(store, block, reward)?;
    upkeep.spent += updating;
    if tree.root != block.header.state_root {
        return Err(ConnectError::Invalid(BlockError::BadStateRoot {
            computed: tree.root,
            found: block.header.state_root,
        }));
    }

    let hash = block.hash();
    let mut batch = store.batch();
    // Sorted by address already (see `StateChange`).
    for (address, account) in &change.accounts {
        batch.put::<Accounts>(address, account);
    }
    let started = Instant::now();
    tree.write(&mut batch);
    state_tree::prune(store.store(), &mut batch, tree.version, &mut upkeep.prune)?;
    upkeep.spent += started.elapsed();
    let entry_root = StateRootEntry {
        root: tree.root,
        version: tree.version,
    };
    batch.put::<StateRoots>(&hash, &entry_root);
    batch.put::<Undo>(&hash, &change.undo);
    batch.put::<Canonical>(&block.header.height, &hash);
    let locations: Vec<(TxId, TxLocation)> = (0u32..)
        .zip(&block.transactions)
        .map(|(position, t)| {
            let location = TxLocation {
                block: hash,
                position,
            };
            (t.id(), location)
        })
        .collect();
    batch.put_sorted::<TxIndex>(locations.iter().map(|(id, at)| (id, at)));
    let history: Vec<(HistoryKey, TxId)> = history_keys(block).collect();
    batch.put_sorted::<AddressHistory>(history.iter().map(|(key, id)| (key, id)));
    batch.put::<Meta>(&MetaKey::Tip, &MetaValue(*hash.as_bytes()));
    store.write(batch)?;
    Ok(TipInfo {
        hash,
        header: block.header,
        cumulative_work: entry.cumulative_work,
    })
}

/// Takes the tip `block` off the chain with its undo record, in one batch; its parent
/// becomes the tip.
pub(super) fn disconnect(
    store: &WriteBehind,
    block: &Block,
    upkeep: &mut state_tree::Upkeep,
) -> Result<TipInfo, StoreError> {
    let hash = block.hash();
    let undo = store
        .get::<Undo>(&hash)?
        .ok_or_else(|| store.corrupt(&format!("no undo record for canonical block {hash}")))?;
    let parent = read_entry(store, &block.header.parent)?;

    // The accounts as they were before the block, and so the parent's root: a tree that
    // does not come back to it was damaged.
    let started = Instant::now();
    let tree = state_tree::update(store, undo.previous.iter().copied())?;
    upkeep.spent += started.elapsed();
    if let Some(expected) = store.get::<StateRoots>(&block.header.parent)? {
        if expected.root != tree.root {
            return Err(store.corrupt(&format!(
                "disconnecting {hash} left state root {}, not its parent's {}",
                tree.root, expected.root
            )));
        }
    }
    let mut batch = store.batch();
    for (address, previous) in &undo.previous {
        match previous {
            Some(account) => batch.put::<Accounts>(address, account),
            None => batch.delete::<Accounts>(address),
        }
    }
    let started = Instant::now();
    tree.write(&mut batch);
    state_tree::prune(store.store(), &mut batch, tree.version, &mut upkeep.prune)?;
    upkeep.spent += started.elapsed();
    batch.delete::<StateRoots>(&hash);
    batch.delete::<Undo>(&hash);
    batch.delete::<Canonical>(&block.header.height);
    for t in &block.transactions {
        batch.delete::<TxIndex>(&t.id());
    }
    for (key, _) in history_keys(block) {
        batch.delete::<AddressHistory>(&key);
    }
    batch.put::<Meta>(&MetaKey::Tip, &MetaValue(*block.header.parent.as_bytes()));
    store.write(batch)?;
    Ok(TipInfo {
        hash: block.header.parent,
        header: parent.header,
        cumulative_work: parent.cumulative_work,
    })
}
