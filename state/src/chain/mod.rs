//! The chain: every known block on every branch, fork choice, and the canonical chain
//! with its state.
//!
//! [`Chain`] owns all writes. A submitted block is checked as far as it can be without
//! state (proof of work, header against its parent, body, signatures on all cores), then
//! stored in the block index whatever branch it is on. When a block gives a branch more
//! cumulative work than the tip, the chain reorganises to it: disconnect down to the fork
//! point, connect up the new branch, each block one atomic batch (`connect`). A block
//! that fails a state rule on the way is marked invalid with every block above it, and the
//! chain returns to the best valid branch, usually the old one. On equal work the tip
//! stays: the first seen wins.
//!
//! The target of a reorg is written to the store before the reorg starts (in the same
//! batch as the block that triggers it), so a crash in the middle resumes it on the next
//! open instead of leaving the node on a branch with less work.
//!
//! The chain's batches land on a writer thread of their own ([`crate::store::WriteBehind`])
//! while it reads its own writes from memory, so the next block's checks overlap the last
//! block's write. Nothing about a block (its verdict, the tip, its event) reaches anyone
//! before its batches have landed: the actor holds each answer until then.

mod actor;
mod async_reader;
mod check;
mod connect;
mod orphans;
mod outcome;
mod prune;
mod reader;
mod reorg;
mod restore;
mod state_chunks;
mod state_tree;
mod tree_build;

pub use prune::{MIN_PRUNE_DEPTH, PRUNED_BLOCKS_PER_CONNECT};
pub use state_tree::{KEPT_TREE_VERSIONS, PRUNED_PER_BLOCK};

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

pub use actor::{
    actor, spawn, ChainActor, ChainEvent, ChainEvents, ChainHandle, QueuedBlock, COMMAND_QUEUE,
    MAX_UNANSWERED, QUEUE_AHEAD, UPDATE_CAPACITY, VERIFY_AHEAD,
};
pub use async_reader::{AsyncChainReader, MAX_CONCURRENT_READS};
pub use check::{check_store, StoreCheckError, StoreReport};
pub use orphans::{OrphanPool, MAX_ORPHANS, MAX_ORPHAN_AGE_MS, MAX_ORPHAN_BYTES};
pub use outcome::{ChainError, ChainUpdate, Rejection, SealError, SubmitOutcome, TipInfo, Verdict};
pub use reader::{
    ChainReader, ChunkQueryError, HistoryCursor, HistoryEntry, HistoryPage, ProofQueryError,
    ProvenAccount, TxInfo, MAX_HEADERS_PER_READ, MAX_HISTORY_PAGE, MAX_PROOF_DEPTH,
};
pub use restore::{Restored, SnapshotError, SnapshotProgress};

use crate::store::schema::{
    Accounts, BlockBodies, BlockIndex, BlockIndexEntry, BlockStatus, Canonical, Meta, MetaKey,
    MetaValue, StateRootEntry, StateRoots, SCHEMA_VERSION,
};
use crate::store::{Store, StoreError, TableReads, WriteBehind};
use connect::{read_block, read_entry, ConnectError};
use tern_chain::block::Block;
use tern_chain::error::BlockError;
use tern_chain::genesis::ChainSpec;
use tern_chain::miner::Template;
use tern_chain::signature_cache::SignatureCache;
use tern_chain::types::{BlockHash, Height, Timestamp};
use tern_chain::validation;

/// The canonical chain and the block index, with sole write access to the store.
#[derive(Debug)]
pub struct Chain {
    /// The store, written behind: the chain reads its own writes at once, everyone else
    /// once they have landed.
    writes: WriteBehind,
    spec: ChainSpec,
    tip: TipInfo,
    orphans: OrphanPool,
    next_sequence: u64,
    verify_threads: usize,
    signatures: Arc<SignatureCache>,
    /// The blocks stored or disconnected during the current [`Chain::submit_block`]
    /// call, so that connecting them and reporting the update reuse them instead of
    /// reading back and decoding what is already in memory. Emptied when the call ends;
    /// it holds the block, the orphans it connects ([`MAX_ORPHANS`]) and the blocks a
    /// reorg takes off, which the call's [`ChainUpdate`] holds anyway.
    fresh: HashMap<BlockHash, Arc<Block>>,
    /// Where pruning the state tree goes on from, and the time spent on it.
    tree_upkeep: state_tree::Upkeep,
    /// The snapshot being restored, if any: no block is taken meanwhile.
    restoring: Option<restore::Restoring>,
    /// The highest block whose body the store no longer holds (the snapshot it was
    /// restored from, or the last block pruned; genesis if none): no reorg goes below it.
    floor: Height,
    /// Keep bodies, undo records and indexes for this many blocks below the tip only.
    prune_depth: Option<u64>,
}

/// A block found invalid while connecting, and why.
type Failure = (BlockHash, BlockError);

impl Chain {
    /// Opens the chain in data directory `dir`, creating it with the genesis block of
    /// `spec` if the directory holds no store, and finishing any reorg a crash interrupted.
    pub fn open(dir: &Path, spec: ChainSpec) -> Result<Chain, ChainError> {
        let store = Store::open(dir, &spec, |store| write_genesis(store, &spec))?;
        let tip_hash = meta_hash(&store, MetaKey::Tip)?.ok_or_else(|| store.corrupt("no tip"))?;
        let tip_entry = read_entry(&store, &tip_hash)?;
        if store.get::<Canonical>(&tip_entry.header.height)? != Some(tip_hash) {
            return Err(store
                .corrupt(&format!("tip {tip_hash} is not on the canonical chain"))
                .into());
        }
        let next_sequence = store
            .get::<Meta>(&MetaKey::NextSequence)?
            .map(|v| v.as_u64())
            .unwrap_or(1);
        let verify_threads = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1);
        let writes =
            WriteBehind::new(Arc::new(store)).map_err(|e| ChainError::Thread(Arc::new(e)))?;
        let mut chain = Chain {
            writes,
            spec,
            tip: TipInfo {
                hash: tip_hash,
                header: tip_entry.header,
                cumulative_work: tip_entry.cumulative_work,
            },
            orphans: OrphanPool::default(),
            next_sequence,
            verify_threads,
            signatures: Arc::default(),
            fresh: HashMap::new(),
            tree_upkeep: state_tree::Upkeep::default(),
            restoring: None,
            floor: Height::GENESIS,
            prune_depth: None,
        };
        chain.restoring = restore::load(&chain.writes)?;
        chain.floor = restore::floor(&chain.writes)?;
        if chain.abandoning()? {
            chain.abandon_snapshot().map_err(|error| match error {
                restore::SnapshotError::Chain(error) => error,
                other => ChainError::Store(chain.writes.store().corrupt(&other.to_string())),
            })?;
        }
        if let Some(target) = meta_hash(&chain.writes, MetaKey::ReorgTarget)? {
            chain.choose(target)?;
        }
        chain.writes.settle()?;
        Ok(chain)
    }

    /// The canonical tip.
    pub fn tip(&self) -> TipInfo {
        self.tip
    }

    /// The cache of verified transactions that block validation consults; the mempool
    /// shares it (see [`ChainHandle::signature_cache`]).
    pub fn signature_cache(&self) -> &Arc<SignatureCache> {
        &self.signatures
    }

    /// Consults `signatures` instead of a cache of its own: transactions another chain
    /// (or an earlier one in this process) verified cost this one no checks. A cache
    /// holds only what verified, so sharing it changes no verdict.
    #[must_use]
    pub fn with_signature_cache(mut self, signatures: Arc<SignatureCache>) -> Chain {
        self.signatures = signatures;
        self
    }

    /// Prunes the store as the tip moves: bodies, undo records and the transaction and
    /// history indexes are kept for the last `depth` blocks only ([`prune`]). The node
    /// takes at least [`MIN_PRUNE_DEPTH`]; the chain takes what it is given.
    #[must_use]
    pub fn with_prune_depth(mut self, depth: u64) -> Chain {
        self.prune_depth = Some(depth.max(1));
        self
    }

    /// The chain spec.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// A reader for queries, which never blocks the chain.
    pub fn reader(&self) -> ChainReader {
        ChainReader::new(Arc::clone(self.writes.store()), self.spec.clone())
    }

    /// How many blocks wait for their parent.
    pub fn orphan_count(&self) -> usize {
        self.orphans.len()
    }

    /// Completes a block being assembled on the tip with the state root it leaves, which
    /// only the chain can compute; the nonce is still to be found. Writes nothing.
    pub fn seal(&self, template: Template) -> Result<Block, SealError> {
        let block = template.block();
        if block.header.parent != self.tip.hash {
            return Err(SealError::NotOnTip {
                parent: block.header.parent,
                tip: self.tip.hash,
            });
        }
        match connect::state_root_after(&self.writes, block, self.spec.consensus.block_reward) {
            Ok(root) => Ok(template.seal(root)),
            Err(ConnectError::Invalid(error)) => Err(SealError::Invalid(error)),
            Err(ConnectError::Store(error)) => Err(error.into()),
        }
    }

    /// Time spent on the state tree (updating, writing, pruning) since the chain was
    /// opened: the benchmarks print it as the tree's share of import.
    pub fn state_tree_time(&self) -> std::time::Duration {
        self.tree_upkeep.spent
    }

    /// Waits for every write to land, then flushes the store's log, for a clean shutdown.
    pub fn flush(&self) -> Result<(), ChainError> {
        self.writes.settle()?;
        Ok(self.writes.store().flush()?)
    }

    /// Checks and stores a block, moves the tip if it gives a branch more work, and
    /// connects any orphans that were waiting for it. `now` is the local clock, for the
    /// future-timestamp rule. Returns once everything it wrote has landed.
    pub fn submit_block(
        &mut self,
        block: Block,
        now: Timestamp,
    ) -> Result<SubmitOutcome, ChainError> {
        let outcome = self.submit_block_behind(block, now)?;
        self.writes.settle()?;
        Ok(outcome)
    }

    /// [`Self::submit_block`] without waiting for its writes. The outcome must not reach
    /// anyone (a reply, the tip, an event) before everything written so far
    /// ([`WriteBehind::written`]) has landed; the chain itself goes on at once, reading its
    /// own writes.
    pub(crate) fn submit_block_behind(
        &mut self,
        block: Block,
        now: Timestamp,
    ) -> Result<SubmitOutcome, ChainError> {
        if self.restoring.is_some() {
            let hash = block.hash();
            return Ok(SubmitOutcome {
                verdict: Verdict::Rejected(Rejection::Restoring { hash }),
                update: None,
            });
        }
        self.fresh.clear();
        let outcome = self.submit_and_connect(block, now);
        self.fresh.clear();
        outcome
    }

    fn submit_and_connect(
        &mut self,
        block: Block,
        now: Timestamp,
    ) -> Result<SubmitOutcome, ChainError> {
        let old_tip = self.tip;
        let hash = block.hash();
        let verdict = self.accept(Arc::new(block), now)?;
        let mut waiting_on = if verdict == Verdict::Accepted {
            vec![hash]
        } else {
            Vec::new()
        };
        while let Some(parent) = waiting_on.pop() {
            for child in self.orphans.take_children(&parent) {
                let child_hash = child.hash();
                if self.accept(Arc::new(child), now)? == Verdict::Accepted {
                    waiting_on.push(child_hash);
                }
            }
        }
        let update = self.update_since(&old_tip)?;
        Ok(SubmitOutcome { verdict, update })
    }

    fn accept(&mut self, block: Arc<Block>, now: Timestamp) -> Result<Verdict, ChainError> {
        let hash = block.hash();
        if let Some(entry) = self.writes.get::<BlockIndex>(&hash)? {
            return Ok(match entry.status {
                BlockStatus::Valid => Verdict::AlreadyKnown,
                BlockStatus::Invalid => Verdict::Rejected(Rejection::KnownInvalid { hash }),
            });
        }
        if self.orphans.contains(&hash) {
            return Ok(Verdict::AlreadyKnown);
        }
        if let Err(error) = validation::check_proof_of_work(&block.header, &self.spec.consensus) {
            return Ok(Verdict::Rejected(Rejection::Invalid { hash, error }));
        }
        let Some(parent) = self.writes.get::<BlockIndex>(&block.header.parent)? else {
            self.orphans.insert(Arc::unwrap_or_clone(block), now);
            return Ok(Verdict::Orphaned);
        };
        // Nothing is stored, not even an invalid mark, until the header passes every
        // header rule: only then has real work at the chain's difficulty been spent on it.
        // (Its own target could be the easiest possible, making junk free to produce.)
        if parent.status == BlockStatus::Invalid {
            return Ok(Verdict::Rejected(Rejection::InvalidAncestor {
                hash,
                ancestor: block.header.parent,
            }));
        }
        let context = reader::parent_context(&self.writes, &block.header.parent, &parent.header)?;
        if let Err(error) =
            validation::check_header(&block.header, &context, &self.spec.consensus, now)
        {
            if matches!(error, BlockError::TimestampTooFarInFuture { .. }) {
                return Ok(Verdict::Rejected(Rejection::NotYetValid { hash, error }));
            }
            return Ok(Verdict::Rejected(Rejection::Invalid { hash, error }));
        }
        // A body that does not match its header may be a tampered copy of a valid block:
        // refuse it without marking anything. Any other failure is the block's own.
        let body = validation::check_body(&block, &self.spec.consensus).and_then(|()| {
            validation::verify_signatures(&block, &self.signatures, self.verify_threads)
        });
        match body {
            Ok(()) => {}
            Err(error @ BlockError::MerkleRootMismatch { .. }) => {
                return Ok(Verdict::Rejected(Rejection::BodyMismatch { hash, error }));
            }
            Err(error) => {
                self.store_block(&block, &parent, BlockStatus::Invalid)?;
                return Ok(Verdict::Rejected(Rejection::Invalid { hash, error }));
            }
        }
        let entry = self.store_block(&block, &parent, BlockStatus::Valid)?;
        self.fresh.insert(hash, block);
        if entry.cumulative_work <= self.tip.cumulative_work {
            return Ok(Verdict::Accepted);
        }
        let failures = self.choose(hash)?;
        if let Some((_, error)) = failures.iter().find(|(bad, _)| *bad == hash) {
            return Ok(Verdict::Rejected(Rejection::Invalid {
                hash,
                error: error.clone(),
            }));
        }
        if let Some((ancestor, _)) = failures.first() {
            return Ok(Verdict::Rejected(Rejection::InvalidAncestor {
                hash,
                ancestor: *ancestor,
            }));
        }
        Ok(Verdict::Accepted)
    }

    /// Writes a block and its index entry (one batch) and returns the entry.
    fn store_block(
        &mut self,
        block: &Block,
        parent: &BlockIndexEntry,
        status: BlockStatus,
    ) -> Result<BlockIndexEntry, StoreError> {
        let entry = BlockIndexEntry {
            header: block.header,
            cumulative_work: parent
                .cumulative_work
                .saturating_add(block.header.target.work()),
            status,
            sequence: self.next_sequence,
        };
        let hash = block.hash();
        let mut batch = self.writes.batch();
        batch.put::<BlockIndex>(&hash, &entry);
        if status == BlockStatus::Valid {
            batch.put::<BlockBodies>(&hash, block);
        }
        batch.put::<Meta>(
            &MetaKey::NextSequence,
            &MetaValue::from_u64(self.next_sequence.saturating_add(1)),
        );
        if status == BlockStatus::Valid && entry.cumulative_work > self.tip.cumulative_work {
            // Atomic with the block itself, so a crash before it is connected resumes.
            batch.put::<Meta>(&MetaKey::ReorgTarget, &MetaValue(*hash.as_bytes()));
        }
        self.writes.write(batch)?;
        self.next_sequence = self.next_sequence.saturating_add(1);
        Ok(entry)
    }

    /// Prunes below the tip, if the chain prunes (see [`prune`]).
    fn prune(&mut self) -> Result<(), StoreError> {
        let Some(depth) = self.prune_depth else {
            return Ok(());
        };
        let mut batch = self.writes.batch();
        let floor = prune::prune(
            &self.writes,
            &mut batch,
            self.tip.height(),
            depth,
            self.floor,
        )?;
        if floor != self.floor {
            self.writes.write(batch)?;
            self.floor = floor;
        }
        Ok(())
    }

    /// A stored block: from memory if this call stored it, else read from the store.
    fn block(&self, hash: &BlockHash) -> Result<Arc<Block>, StoreError> {
        match self.fresh.get(hash) {
            Some(block) => Ok(Arc::clone(block)),
            None => read_block(&self.writes, hash).map(Arc::new),
        }
    }

    /// How the canonical chain moved from `old` to the current tip, if it did.
    fn update_since(&self, old: &TipInfo) -> Result<Option<Arc<ChainUpdate>>, StoreError> {
        if old.hash == self.tip.hash {
            return Ok(None);
        }
        let (mut a, mut b) = (old.header, self.tip.header);
        let (mut a_hash, mut b_hash) = (old.hash, self.tip.hash);
        let (mut disconnected, mut connected) = (Vec::new(), Vec::new());
        while a_hash != b_hash {
            if a.height >= b.height {
                disconnected.push(self.block(&a_hash)?);
                a_hash = a.parent;
                a = read_entry(&self.writes, &a_hash)?.header;
            } else {
                connected.push(self.block(&b_hash)?);
                b_hash = b.parent;
                b = read_entry(&self.writes, &b_hash)?.header;
            }
        }
        connected.reverse();
        Ok(Some(Arc::new(ChainUpdate {
            disconnected,
            connected,
            tip: self.tip,
        })))
    }
}

fn meta_hash(store: &impl TableReads, key: MetaKey) -> Result<Option<BlockHash>, StoreError> {
    Ok(store.get::<Meta>(&key)?.map(|v| BlockHash::from_bytes(v.0)))
}

/// Writes the genesis block, its state and the metadata of a new store, in one batch.
pub(crate) fn write_genesis(store: &Store, spec: &ChainSpec) -> Result<(), StoreError> {
    let genesis = spec.genesis_block();
    let hash = genesis.hash();
    let entry = BlockIndexEntry {
        header: genesis.header,
        cumulative_work: genesis.header.target.work(),
        status: BlockStatus::Valid,
        sequence: 0,
    };
    let state = spec.genesis_state();
    let tree = state_tree::update(
        store,
        state
            .accounts()
            .map(|(address, account)| (*address, Some(*account))),
    )?;
    if tree.root != genesis.header.state_root {
        return Err(store.corrupt(&format!(
            "the genesis state's tree has root {}, not the {} its header commits to",
            tree.root, genesis.header.state_root
        )));
    }
    let mut batch = store.batch();
    batch.put::<BlockIndex>(&hash, &entry);
    batch.put::<BlockBodies>(&hash, &genesis);
    batch.put::<Canonical>(&Height::GENESIS, &hash);
    for (address, account) in state.accounts() {
        batch.put::<Accounts>(address, account);
    }
    tree.write(&mut batch);
    batch.put::<StateRoots>(
        &hash,
        &StateRootEntry {
            root: tree.root,
            version: tree.version,
        },
    );
    batch.put::<Meta>(&MetaKey::Genesis, &MetaValue(*hash.as_bytes()));
    batch.put::<Meta>(&MetaKey::Tip, &MetaValue(*hash.as_bytes()));
    batch.put::<Meta>(&MetaKey::NextSequence, &MetaValue::from_u64(1));
    // Written last in the same batch: a store with a schema version is complete.
    batch.put::<Meta>(
        &MetaKey::SchemaVersion,
        &MetaValue::from_u64(u64::from(SCHEMA_VERSION)),
    );
    store.write(batch)
}

#[cfg(test)]
mod prune_tests;
#[cfg(test)]
mod restore_tests;
#[cfg(test)]
mod state_chunks_tests;
#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
