//! Deterministic chain building for tests, benchmarks and tools.
//!
//! [`ChainBuilder`] makes valid blocks on any branch of a chain, without a store: it keeps
//! each block's header and resulting state, so it can compute the next target, timestamps
//! and nonces and build transfers that apply. Mining uses the chain's real target, so use a
//! spec with an easy one (the dev chain's takes about 256 hashes).

use std::collections::HashMap;

use crate::block::{Block, Header};
use crate::crypto::SecretKey;
use crate::genesis::ChainSpec;
use crate::miner::block_template;
use crate::pow::{median_time_past, search_nonce, MEDIAN_TIME_SPAN};
use crate::state::{apply_block, MemoryState};
use crate::state_map::MemoryTree;
use crate::tx::{SignedTransaction, Transaction};
use crate::types::{Address, Amount, BlockHash, Timestamp};
use crate::validation::ParentContext;

/// Builds valid blocks on any branch of a chain.
#[derive(Debug)]
pub struct ChainBuilder {
    spec: ChainSpec,
    genesis: BlockHash,
    headers: HashMap<BlockHash, Header>,
    states: HashMap<BlockHash, MemoryState>,
    /// The state map after each block but genesis (built from the spec when needed), for
    /// its header's state root.
    trees: HashMap<BlockHash, MemoryTree>,
    /// Milliseconds between a parent's timestamp and its child's.
    pub spacing_ms: u64,
}

impl ChainBuilder {
    /// A builder whose only block is `spec`'s genesis.
    pub fn new(spec: ChainSpec) -> Self {
        let genesis = spec.genesis_header();
        let hash = genesis.hash();
        let spacing_ms = spec.consensus.block_time_ms;
        ChainBuilder {
            headers: HashMap::from([(hash, genesis)]),
            states: HashMap::from([(hash, spec.genesis_state())]),
            trees: HashMap::new(),
            genesis: hash,
            spacing_ms,
            spec,
        }
    }

    /// The chain spec.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// The genesis hash.
    pub fn genesis(&self) -> BlockHash {
        self.genesis
    }

    /// The account state after block `hash`.
    pub fn state(&self, hash: &BlockHash) -> Option<&MemoryState> {
        self.states.get(hash)
    }

    /// A header built so far.
    pub fn header(&self, hash: &BlockHash) -> Option<&Header> {
        self.headers.get(hash)
    }

    /// A signed transfer from `from` on top of the state after `parent`, using the sender's
    /// nonce there plus `pending` (transfers from the same sender earlier in the block).
    pub fn transfer(
        &self,
        parent: &BlockHash,
        from: &SecretKey,
        to: Address,
        amount: u64,
        fee: u64,
        pending: u64,
    ) -> SignedTransaction {
        let nonce = self
            .states
            .get(parent)
            .and_then(|state| crate::state::AccountView::account(state, &from.address()))
            .map_or(0, |a| a.nonce)
            .saturating_add(pending);
        Transaction {
            chain_id: self.spec.consensus.chain_id,
            from: from.address(),
            to,
            amount: Amount::from_base_units(amount),
            fee: Amount::from_base_units(fee),
            nonce,
        }
        .sign(from)
    }

    /// A valid, mined child of `parent` holding `transactions`, paying `miner`. `None` if
    /// `parent` is unknown or the transactions do not apply.
    pub fn child(
        &mut self,
        parent: &BlockHash,
        transactions: Vec<SignedTransaction>,
        miner: Address,
    ) -> Option<Block> {
        let parent_header = *self.headers.get(parent)?;
        let mut timestamps = vec![parent_header.timestamp];
        let mut cursor = parent_header;
        while timestamps.len() < MEDIAN_TIME_SPAN && cursor.height.value() > 0 {
            cursor = *self.headers.get(&cursor.parent)?;
            timestamps.push(cursor.timestamp);
        }
        let context = ParentContext {
            hash: *parent,
            height: parent_header.height,
            timestamp: parent_header.timestamp,
            median_time_past: median_time_past(&timestamps)?,
        };
        let when = Timestamp(
            parent_header
                .timestamp
                .as_millis()
                .saturating_add(self.spacing_ms),
        );
        let template = block_template(&self.spec.consensus, &context, transactions, miner, when);
        let state = self.states.get(parent)?;
        let change = apply_block(state, template.block(), self.spec.consensus.block_reward).ok()?;
        let mut next = state.clone();
        next.apply(&change);
        let mut tree = match self.trees.get(parent) {
            Some(tree) => tree.clone(),
            None if *parent == self.genesis => self.spec.genesis_state_map().ok()?,
            None => return None,
        };
        let root = tree
            .apply(
                change
                    .accounts
                    .iter()
                    .map(|(a, account)| (*a, Some(*account))),
            )
            .ok()?;
        let mut block = template.seal(root);
        block.header.nonce = search_nonce(&block.header, 0, u64::MAX)?;
        let hash = block.hash();
        self.headers.insert(hash, block.header);
        self.states.insert(hash, next);
        self.trees.insert(hash, tree);
        Some(block)
    }

    /// `count` blocks on top of `parent`, each with `per_block` transfers between the
    /// `keys` (round robin), mined by `miner`. Returns the blocks, oldest first.
    pub fn extend(
        &mut self,
        parent: &BlockHash,
        count: usize,
        keys: &[SecretKey],
        per_block: usize,
        miner: Address,
    ) -> Vec<Block> {
        let mut blocks = Vec::with_capacity(count);
        let mut tip = *parent;
        for height in 0..count {
            let mut pending: HashMap<Address, u64> = HashMap::new();
            let mut txs = Vec::with_capacity(per_block);
            for i in 0..per_block {
                let (Some(from), Some(to)) = (
                    keys.get((height + i) % keys.len().max(1)),
                    keys.get((height + i + 1) % keys.len().max(1)),
                ) else {
                    break;
                };
                if from.address() == to.address() {
                    break;
                }
                let earlier = pending.entry(from.address()).or_default();
                txs.push(self.transfer(
                    &tip,
                    from,
                    to.address(),
                    1 + (height + i) as u64 % 1000,
                    1,
                    *earlier,
                ));
                *earlier += 1;
            }
            let Some(block) = self.child(&tip, txs, miner) else {
                break;
            };
            tip = block.hash();
            blocks.push(block);
        }
        blocks
    }
}

/// A small deterministic random number generator (splitmix64), so simulations and test
/// scenarios replay exactly from a seed.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64().checked_rem(n).unwrap_or(0)
    }

    /// A uniform number in (0, 1].
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
}

/// What a walk of a state's chunks found.
#[derive(Debug)]
pub struct Walked {
    /// Every account, sorted by address.
    pub accounts: Vec<(Address, crate::state::Account)>,
    /// Chunks fetched.
    pub chunks: usize,
    /// Of which splits.
    pub splits: usize,
}

/// Every account of a state fetched chunk by chunk through `fetch`, as a node joining by
/// snapshot walks it from `root`: each chunk checked against the hash its parent gave.
/// The first chunk that does not check, and why, is an error.
pub fn walk_chunks(
    root: &crate::types::StateRoot,
    mut fetch: impl FnMut(&crate::state_map::chunk::KeyPrefix) -> crate::state_map::chunk::Chunk,
) -> Result<Walked, String> {
    use crate::state_map::chunk::{Chunk, KeyPrefix, SplitChild};
    let mut found = Vec::new();
    let (mut chunks, mut splits) = (0, 0);
    let mut pending = vec![(KeyPrefix::root(), *root.as_bytes())];
    while let Some((prefix, hash)) = pending.pop() {
        let chunk = fetch(&prefix);
        chunk
            .verify(&prefix, &hash)
            .map_err(|error| format!("chunk {prefix}: {error}"))?;
        chunks += 1;
        match chunk {
            Chunk::Accounts(accounts) => found.extend(accounts),
            Chunk::Split(children) => {
                splits += 1;
                for (nibble, child) in (0u8..).zip(children.iter()) {
                    match child {
                        SplitChild::Empty => {}
                        SplitChild::Account(address, account) => found.push((*address, *account)),
                        SplitChild::Subtree { hash, .. } => {
                            if let Some(below) = prefix.child(nibble) {
                                pending.push((below, *hash));
                            }
                        }
                    }
                }
            }
        }
    }
    found.sort_by_key(|(address, _)| *address);
    Ok(Walked {
        accounts: found,
        chunks,
        splits,
    })
}
