//! An offline check of a whole store, independent of the chain's own bookkeeping: what the
//! store claims, recomputed from its blocks. `tern store check` runs it, so an operator can
//! tell a healthy data directory from a damaged one.
//!
//! It walks the canonical chain from genesis and checks, for every block: that it is in
//! the index, marked valid, at the height it claims, linked to its predecessor, with proof
//! of work meeting its target, and a body matching its header's Merkle root; that every
//! transaction's index entry points at it; that the state root its header commits to, and
//! the one recorded for it, are the root of the replayed state after it; and, at the end,
//! that the tip is where the chain ends, the stored account state equals a replay of the
//! canonical chain from the genesis allocations, and the state tree's root at the tip, as
//! recorded and as the tree on disk holds it, is the root of those accounts. It reads
//! every block once, in order.
//!
//! A store restored from a snapshot holds headers only below its floor (the snapshot's
//! pivot): those are checked as headers, and the replay starts from the state at the
//! floor, read from the tree and checked against the floor's header. Once that version
//! is pruned (a thousand blocks later), nothing is left to replay from: the blocks above
//! are still checked one by one, and the stored accounts against the tip's root.

use crate::store::schema::BlockStatus;
use crate::store::StoreError;
use tern_chain::state::apply_block;
use tern_chain::types::{BlockHash, Height, StateRoot};
use tern_chain::validation::check_proof_of_work;

use super::ChainReader;

/// What a sound store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreReport {
    /// The lowest block whose body and state the store holds (genesis, or the pivot of
    /// the snapshot it was restored from).
    pub floor: Height,
    /// The tip's height.
    pub height: Height,
    /// The tip.
    pub tip: BlockHash,
    /// Transactions on the canonical chain.
    pub transactions: u64,
    /// Accounts in the state.
    pub accounts: usize,
}

/// The first thing found wrong with a store; one variant per check.
#[derive(Debug, thiserror::Error)]
pub enum StoreCheckError {
    /// The store could not be read at all.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Height 0 is not the chain spec's genesis block.
    #[error("height 0 is not the genesis block of this chain")]
    WrongGenesis,
    /// No canonical block is stored at a height up to the tip.
    #[error("no canonical block at height {0}")]
    MissingBlock(Height),
    /// A canonical block has no index entry, or one not marked valid.
    #[error("canonical block {hash} at height {height} is {problem} in the index")]
    BadIndexEntry {
        /// The block.
        hash: BlockHash,
        /// Its height.
        height: Height,
        /// `missing` or `marked invalid`.
        problem: &'static str,
    },
    /// A canonical block's header says another height.
    #[error("the canonical block at height {height} says it is at height {claimed}")]
    WrongHeight {
        /// Where it is stored.
        height: Height,
        /// What its header says.
        claimed: Height,
    },
    /// A canonical block does not link to the one below it.
    #[error("the canonical block at height {0} does not link to its predecessor")]
    Unlinked(Height),
    /// A canonical block's hash does not meet its target.
    #[error("the canonical block at height {0} does not meet its proof-of-work target")]
    ProofOfWork(Height),
    /// A canonical block's transactions do not match its header.
    #[error("the body of the canonical block at height {0} does not match its header")]
    BodyMismatch(Height),
    /// A transaction's index entry is missing or points elsewhere.
    #[error(
        "transaction {position} of the canonical block at height {height} is not indexed there"
    )]
    TxIndex {
        /// The block's height.
        height: Height,
        /// The transaction's position.
        position: u32,
    },
    /// A canonical block does not apply to the state before it.
    #[error("the canonical block at height {height} does not apply: {reason}")]
    DoesNotApply {
        /// The block's height.
        height: Height,
        /// The state rule it breaks.
        reason: String,
    },
    /// The stored tip is not where the canonical chain ends.
    #[error("the canonical chain ends at {chain_end}, the stored tip is {tip}")]
    TipMismatch {
        /// The last canonical block.
        chain_end: BlockHash,
        /// The stored tip.
        tip: BlockHash,
    },
    /// The stored account state differs from the replay.
    #[error("the stored state ({stored} accounts) differs from a replay of the chain ({replayed} accounts)")]
    StateMismatch {
        /// Accounts stored.
        stored: usize,
        /// Accounts after the replay.
        replayed: usize,
    },
    /// A block's state root (its header's, or the one recorded for it) is not the root of
    /// the state the replay leaves after it.
    #[error("block {height}: the {which} is {found}, but the replayed state's root is {expected}")]
    BlockStateRoot {
        /// The block's height.
        height: Height,
        /// `state root in its header` or `state root recorded for it`.
        which: &'static str,
        /// What the store holds.
        found: StateRoot,
        /// The root of the replayed state.
        expected: StateRoot,
    },
    /// The tip has no state root recorded.
    #[error("no state root is recorded for the tip {0}")]
    StateRootMissing(BlockHash),
    /// The state tree does not commit to the accounts: the root recorded for the tip, or
    /// the root of the tree on disk, differs from the root of the replayed accounts.
    #[error("the {which} is {found}, but the accounts' root is {expected}")]
    StateRootMismatch {
        /// `state root recorded for the tip` or `state tree's root on disk`.
        which: &'static str,
        /// What the store holds.
        found: StateRoot,
        /// The root of the replayed accounts.
        expected: StateRoot,
    },
}

/// Checks the whole store behind `reader`. Blocks for as long as it takes to read every
/// canonical block: run it offline, or on a blocking thread.
pub fn check_store(reader: &ChainReader) -> Result<StoreReport, StoreCheckError> {
    let spec = reader.spec();
    let tip = reader.tip()?;
    let mut state = spec.genesis_state();
    let mut tree = spec
        .genesis_state_map()
        .map_err(|e| reader.corrupt(&e.to_string()))?;
    let mut parent = spec.genesis_hash();
    if reader.hash_at(Height::GENESIS)? != Some(parent) {
        return Err(StoreCheckError::WrongGenesis);
    }
    let mut transactions = 0u64;
    let floor = reader.floor()?;
    for value in 1..=floor.value().min(tip.height().value()) {
        parent = check_header_below_floor(reader, Height(value), parent)?;
    }
    // The state to replay from: genesis's, or the floor's from its tree version; `None`
    // once that version is pruned.
    let mut replay = true;
    if floor > Height::GENESIS {
        match reader.state_at(&parent)? {
            Some(accounts) => {
                state = tern_chain::state::MemoryState::new(accounts.iter().copied());
                tree = tern_chain::state_map::MemoryTree::with_accounts(accounts)
                    .map_err(|e| reader.corrupt(&e.to_string()))?;
                let header = reader
                    .header(&parent)?
                    .ok_or(StoreCheckError::MissingBlock(floor))?;
                if tree.root() != header.state_root {
                    return Err(StoreCheckError::BlockStateRoot {
                        height: floor,
                        which: "state root in its header",
                        found: header.state_root,
                        expected: tree.root(),
                    });
                }
            }
            None => replay = false,
        }
    }
    for value in floor.value().saturating_add(1)..=tip.height().value() {
        let height = Height(value);
        let block = reader
            .block_at(height)?
            .ok_or(StoreCheckError::MissingBlock(height))?;
        let hash = block.hash();
        let entry = reader.index_entry(&hash)?;
        let problem = match entry.map(|e| e.status) {
            None => Some("missing"),
            Some(BlockStatus::Invalid) => Some("marked invalid"),
            Some(BlockStatus::Valid) => None,
        };
        if let Some(problem) = problem {
            return Err(StoreCheckError::BadIndexEntry {
                hash,
                height,
                problem,
            });
        }
        if block.header.height != height {
            return Err(StoreCheckError::WrongHeight {
                height,
                claimed: block.header.height,
            });
        }
        if block.header.parent != parent {
            return Err(StoreCheckError::Unlinked(height));
        }
        if check_proof_of_work(&block.header, &spec.consensus).is_err() {
            return Err(StoreCheckError::ProofOfWork(height));
        }
        if block.computed_merkle_root() != block.header.merkle_root {
            return Err(StoreCheckError::BodyMismatch(height));
        }
        for (position, tx) in (0u32..).zip(&block.transactions) {
            let indexed = reader.tx_location(&tx.id())?;
            if indexed.is_none_or(|at| at.block != hash || at.position != position) {
                return Err(StoreCheckError::TxIndex { height, position });
            }
        }
        transactions = transactions.saturating_add(block.transactions.len() as u64);
        parent = hash;
        if !replay {
            continue;
        }
        let change = apply_block(&state, &block, spec.consensus.block_reward).map_err(|e| {
            StoreCheckError::DoesNotApply {
                height,
                reason: e.to_string(),
            }
        })?;
        state.apply(&change);
        let expected = tree
            .apply(change.accounts.iter().map(|(a, acc)| (*a, Some(*acc))))
            .map_err(|e| reader.corrupt(&e.to_string()))?;
        let recorded = reader.state_root(&hash)?.map(|(root, _)| root);
        for (which, found) in [
            ("state root in its header", Some(block.header.state_root)),
            ("state root recorded for it", recorded),
        ] {
            let found = found.unwrap_or(StateRoot::ZERO);
            if found != expected {
                return Err(StoreCheckError::BlockStateRoot {
                    height,
                    which,
                    found,
                    expected,
                });
            }
        }
    }
    if parent != tip.hash {
        return Err(StoreCheckError::TipMismatch {
            chain_end: parent,
            tip: tip.hash,
        });
    }
    let stored = reader.all_accounts()?;
    if !replay {
        tree = tern_chain::state_map::MemoryTree::with_accounts(stored.iter().copied())
            .map_err(|e| reader.corrupt(&e.to_string()))?;
    }
    let replayed: Vec<_> = state.accounts().map(|(a, acc)| (*a, *acc)).collect();
    if replay && stored != replayed {
        return Err(StoreCheckError::StateMismatch {
            stored: stored.len(),
            replayed: replayed.len(),
        });
    }
    let expected = tree.root();
    let (recorded, on_disk) = reader
        .state_root(&tip.hash)?
        .ok_or(StoreCheckError::StateRootMissing(tip.hash))?;
    for (which, found) in [
        ("state root recorded for the tip", Some(recorded)),
        ("state tree's root on disk", on_disk),
    ] {
        let found = found.unwrap_or(StateRoot::ZERO);
        if found != expected {
            return Err(StoreCheckError::StateRootMismatch {
                which,
                found,
                expected,
            });
        }
    }
    Ok(StoreReport {
        floor,
        height: tip.height(),
        tip: tip.hash,
        transactions,
        accounts: stored.len(),
    })
}

/// Checks the header-only canonical block at `height` below the floor: indexed and valid,
/// at its height, linked to `parent`, with its proof of work. Returns its hash.
fn check_header_below_floor(
    reader: &ChainReader,
    height: Height,
    parent: BlockHash,
) -> Result<BlockHash, StoreCheckError> {
    let hash = reader
        .hash_at(height)?
        .ok_or(StoreCheckError::MissingBlock(height))?;
    let entry = reader
        .index_entry(&hash)?
        .ok_or(StoreCheckError::BadIndexEntry {
            hash,
            height,
            problem: "missing",
        })?;
    if entry.status == BlockStatus::Invalid {
        return Err(StoreCheckError::BadIndexEntry {
            hash,
            height,
            problem: "marked invalid",
        });
    }
    if entry.header.height != height {
        return Err(StoreCheckError::WrongHeight {
            height,
            claimed: entry.header.height,
        });
    }
    if entry.header.parent != parent || entry.header.hash() != hash {
        return Err(StoreCheckError::Unlinked(height));
    }
    if check_proof_of_work(&entry.header, &reader.spec().consensus).is_err() {
        return Err(StoreCheckError::ProofOfWork(height));
    }
    Ok(hash)
}
