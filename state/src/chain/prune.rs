//! Pruning: a node run with a prune depth keeps block bodies, undo records and the
//! transaction and history indexes only for its last blocks. It does so by raising its
//! *floor* (the highest block whose body it no longer holds; see [`super::restore`],
//! which sets it for a node joined by snapshot) as the tip moves, so every rule that a
//! floor brings holds for a pruned node too: no reorg below it, error 1008 for what it
//! dropped, and peers told the lowest body it serves.
//!
//! Each block connected prunes at most [`PRUNED_BLOCKS_PER_CONNECT`] blocks, in its own
//! batch: a store pruned for the first time (a full node restarted with a prune depth)
//! catches up over the next blocks, and no batch grows with the backlog.

use crate::store::schema::{
    AddressHistory, BlockBodies, Canonical, Meta, MetaKey, MetaValue, TxIndex, Undo,
};
use crate::store::{StoreBatch, StoreError, TableReads};
use tern_chain::types::Height;

use super::connect::{history_keys, read_block};

/// The shallowest prune depth a node accepts: 288 blocks (as Bitcoin Core's), far past any
/// reorg a healthy proof-of-work chain makes and past a snapshot's pivot depth (64), so a
/// pruned node can always follow its chain and still serves the blocks a node syncing
/// from a recent pivot needs.
pub const MIN_PRUNE_DEPTH: u64 = 288;

/// Blocks pruned at most per block connected.
pub const PRUNED_BLOCKS_PER_CONNECT: u64 = 4;

/// Adds to `batch` the pruning of the canonical blocks above `floor` and at most
/// `tip - depth`, up to [`PRUNED_BLOCKS_PER_CONNECT`] of them, and the new floor.
/// Returns the new floor.
pub(super) fn prune(
    store: &impl TableReads,
    batch: &mut StoreBatch<'_>,
    tip: Height,
    depth: u64,
    floor: Height,
) -> Result<Height, StoreError> {
    let Some(last) = tip.value().checked_sub(depth) else {
        return Ok(floor);
    };
    let mut pruned = floor;
    while pruned.value() < last && pruned.value() - floor.value() < PRUNED_BLOCKS_PER_CONNECT {
        let height = Height(pruned.value() + 1);
        let Some(hash) = store.get::<Canonical>(&height)? else {
            return Err(store.corrupt(&format!("no canonical block at height {height} to prune")));
        };
        let block = read_block(store, &hash)?;
        for t in &block.transactions {
            batch.delete::<TxIndex>(&t.id());
        }
        for (key, _) in history_keys(&block) {
            batch.delete::<AddressHistory>(&key);
        }
        batch.delete::<BlockBodies>(&hash);
        batch.delete::<Undo>(&hash);
        pruned = height;
    }
    if pruned != floor {
        batch.put::<Meta>(&MetaKey::StateFloor, &MetaValue::from_u64(pruned.value()));
    }
    Ok(pruned)
}
