//! The mempool following a real chain through reorgs: transactions of disconnected blocks
//! come back exactly once, and no transaction is ever included twice.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::HashMap;

use tern_chain::block::Block;
use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_chain::state::MemoryState;
use tern_chain::testkit::ChainBuilder;
use tern_chain::tx::SignedTransaction;
use tern_chain::types::{Address, Height, Timestamp, TxId};
use tern_mempool::{Mempool, MempoolConfig};
use tern_state::chain::{Chain, ChainUpdate};

struct Node {
    chain: Chain,
    pool: Mempool,
    builder: ChainBuilder,
    _dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Node {
        let spec = ChainSpec::resolve("dev").unwrap();
        let dir = tempfile::tempdir().unwrap();
        Node {
            chain: Chain::open(dir.path(), spec.clone()).unwrap(),
            pool: Mempool::new(spec.consensus.chain_id, MempoolConfig::default()),
            builder: ChainBuilder::new(spec),
            _dir: dir,
        }
    }

    fn admit(&mut self, tx: SignedTransaction) {
        let account = self.chain.reader().account(&tx.tx().from).unwrap();
        self.pool.admit(tx, account, Timestamp::now()).unwrap();
    }

    fn follow(&mut self, update: &ChainUpdate) {
        let reader = self.chain.reader();
        let accounts = MemoryState::new(
            self.pool
                .accounts_needed(update)
                .into_iter()
                .map(|a| (a, reader.account(&a).unwrap())),
        );
        self.pool.apply_update(update, &accounts, Timestamp::now());
    }

    fn submit(&mut self, block: Block) {
        let outcome = self.chain.submit_block(block, Timestamp::now()).unwrap();
        if let Some(update) = outcome.update {
            self.follow(&update);
        }
    }

    /// Mines the pool's best transactions on the tip.
    fn mine(&mut self, miner: u8) -> Block {
        let txs = self.pool.select(1_000, 1 << 20);
        let block = self
            .builder
            .child(
                &self.chain.tip().hash,
                txs,
                Address::from_bytes([miner; 32]),
            )
            .unwrap();
        self.submit(block.clone());
        block
    }

    /// Empty blocks on `parent`.
    fn branch(
        &mut self,
        parent: &tern_chain::types::BlockHash,
        count: usize,
        miner: u8,
    ) -> Vec<Block> {
        self.builder
            .extend(parent, count, &[], 0, Address::from_bytes([miner; 32]))
    }

    /// How often each transaction appears on the canonical chain.
    fn canonical_counts(&self) -> HashMap<TxId, usize> {
        let reader = self.chain.reader();
        let mut counts = HashMap::new();
        for height in 1..=self.chain.tip().height().value() {
            for tx in reader
                .block_at(Height(height))
                .unwrap()
                .unwrap()
                .transactions
            {
                *counts.entry(tx.id()).or_insert(0) += 1;
            }
        }
        counts
    }

    fn assert_consistent(&self) {
        let counts = self.canonical_counts();
        assert!(
            counts.values().all(|c| *c == 1),
            "a transaction is included twice"
        );
        for id in counts.keys() {
            assert!(
                !self.pool.contains(id),
                "an included transaction is still pending"
            );
        }
    }
}

#[test]
fn reorgs_return_transactions_exactly_once_and_never_include_twice() {
    let mut node = Node::new();
    let genesis = node.builder.genesis();
    let txs: Vec<SignedTransaction> = (1..4u32)
        .flat_map(|k| {
            let key = dev_secret_key(k);
            let b = &node.builder;
            (0..2)
                .map(move |n| {
                    b.transfer(&genesis, &key, dev_secret_key(9).address(), 500, 1_000, n)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for tx in &txs {
        node.admit(tx.clone());
    }
    let a1 = node.mine(1);
    assert_eq!(a1.transactions.len(), 6);
    assert!(node.pool.is_empty());

    // A heavier branch without them: they all come back, once each.
    for block in node.branch(&genesis, 2, 2) {
        node.submit(block);
    }
    assert_eq!(node.pool.len(), 6);
    for tx in &txs {
        assert!(node.pool.contains(&tx.id()));
    }
    node.assert_consistent();

    // Mined again on the new branch.
    let b3 = node.mine(2);
    assert_eq!(b3.transactions.len(), 6);
    assert!(node.pool.is_empty());
    node.assert_consistent();

    // Back to the first branch, which already includes them: nothing comes back.
    for block in node.branch(&a1.hash(), 3, 1) {
        node.submit(block);
    }
    assert_eq!(node.chain.tip().height(), Height(4));
    assert!(
        node.pool.is_empty(),
        "transactions the new branch includes must not return"
    );
    node.assert_consistent();
    assert_eq!(node.canonical_counts().len(), 6);
}
