//! An independent check of a chain store: what the chain claims, recomputed from its
//! blocks.

use tern_core::chain::ChainReader;
use tern_core::state::apply_block;
use tern_core::store::schema::BlockStatus;
use tern_core::types::Height;

/// Checks that the tip is a valid block on the canonical chain, that the canonical chain
/// links up from genesis, and that the stored account state equals a replay of the
/// canonical chain from the genesis allocations. Returns the tip height.
pub fn audit(reader: &ChainReader) -> Result<Height, String> {
    let spec = reader.spec();
    let tip = reader.tip().map_err(|e| e.to_string())?;
    let entry = reader
        .index_entry(&tip.hash)
        .map_err(|e| e.to_string())?
        .ok_or("the tip is not in the index")?;
    if entry.status != BlockStatus::Valid {
        return Err(format!("the tip {} is marked invalid", tip.hash));
    }
    let mut state = spec.genesis_state();
    let mut parent = spec.genesis_hash();
    if reader.hash_at(Height::GENESIS).map_err(|e| e.to_string())? != Some(parent) {
        return Err("height 0 is not the genesis block".into());
    }
    for height in 1..=tip.height().value() {
        let block = reader
            .block_at(Height(height))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no canonical block at height {height}"))?;
        if block.header.parent != parent {
            return Err(format!(
                "canonical block at height {height} does not link to its predecessor"
            ));
        }
        let change = apply_block(&state, &block, spec.consensus.block_reward)
            .map_err(|e| format!("canonical block at height {height} does not apply: {e}"))?;
        state.apply(&change);
        parent = block.hash();
    }
    if parent != tip.hash {
        return Err(format!(
            "the canonical chain ends at {parent}, the tip is {}",
            tip.hash
        ));
    }
    let stored = reader.all_accounts().map_err(|e| e.to_string())?;
    let replayed: Vec<_> = state.accounts().map(|(a, acc)| (*a, *acc)).collect();
    if stored != replayed {
        return Err(format!(
            "stored state ({} accounts) differs from the replay ({} accounts)",
            stored.len(),
            replayed.len()
        ));
    }
    Ok(tip.height())
}
