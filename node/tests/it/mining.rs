//! Block production against a real chain and mempool: on-demand dev blocks, mined
//! transactions, continuous mining paced on the dev chain, and the switch that stops it.

use std::time::Duration;

use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_chain::tx::Transaction;
use tern_chain::types::{Address, Amount, Height};
use tern_mempool::{MempoolConfig, MempoolError};
use tern_mempool::{PoolHandle, SubmitError};
use tern_node::mining::{DevMineFailure, MinerHandle};
use tern_state::chain::{spawn, Chain, ChainHandle};
use tern_tasks::TaskManager;

struct Node {
    chain: ChainHandle,
    thread: Option<std::thread::JoinHandle<Result<(), tern_state::chain::ChainError>>>,
    pool: PoolHandle,
    miner: MinerHandle,
    _tasks: TaskManager,
    _dir: tempfile::TempDir,
}

fn node(chain: &str) -> Node {
    node_on(ChainSpec::resolve(chain).unwrap())
}

fn node_on(spec: ChainSpec) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let (chain, thread) = spawn(Chain::open(dir.path(), spec).unwrap()).unwrap();
    let tasks = TaskManager::new();
    let pool =
        PoolHandle::start(chain.clone(), MempoolConfig::default(), tasks.executor()).unwrap();
    let miner = MinerHandle::spawn(chain.clone(), pool.clone(), None, REWARD, tasks.executor());
    Node {
        chain,
        thread: Some(thread),
        pool,
        miner,
        _tasks: tasks,
        _dir: dir,
    }
}

impl Drop for Node {
    /// Stops the chain and waits for its thread, so RocksDB is closed before the test
    /// process exits (a store still closing at exit aborts the process).
    fn drop(&mut self) {
        let chain = self.chain.clone();
        if let Some(thread) = self.thread.take() {
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(chain.shutdown());
                let _ = thread.join();
            });
        }
    }
}

const REWARD: Address = Address::from_bytes([7; 32]);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mine_makes_blocks_now_and_pays_the_reward() {
    let node = node("dev");
    let hashes = node.miner.mine_now(5, Some(REWARD)).await.unwrap();
    assert_eq!(hashes.len(), 5);
    assert_eq!(node.chain.tip().hash, hashes[4]);
    assert_eq!(node.chain.tip().height(), Height(5));
    for (i, hash) in hashes.iter().enumerate() {
        assert_eq!(
            node.chain.reader().hash_at(Height(i as u64 + 1)).unwrap(),
            Some(*hash)
        );
    }
    let reward = node
        .chain
        .reader()
        .spec()
        .consensus
        .block_reward
        .base_units();
    assert_eq!(
        node.chain.reader().account(&REWARD).unwrap().balance,
        Amount::from_base_units(5 * reward)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_transfer_is_mined_and_moves_exactly_amount_and_fee() {
    let node = node("dev");
    let (from, to) = (dev_secret_key(0), dev_secret_key(1));
    let reader = node.chain.reader().clone();
    let before = (
        reader.account(&from.address()).unwrap(),
        reader.account(&to.address()).unwrap(),
    );
    let tx = Transaction {
        chain_id: reader.spec().consensus.chain_id,
        from: from.address(),
        to: to.address(),
        amount: Amount::from_base_units(12_345),
        fee: Amount::from_base_units(1_000),
        nonce: node.pool.next_nonce(&from.address()).await.unwrap(),
    }
    .sign(&from);
    let admission = node.pool.submit(tx.clone()).await.unwrap();
    assert!(admission.ready);
    assert!(matches!(
        node.pool.submit(tx.clone()).await,
        Err(SubmitError::Rejected(MempoolError::AlreadyKnown))
    ));
    assert_eq!(node.pool.next_nonce(&from.address()).await.unwrap(), 1);

    let hashes = node.miner.mine_now(1, Some(REWARD)).await.unwrap();
    let block = reader.block(&hashes[0]).unwrap().unwrap();
    assert_eq!(block.transactions, vec![tx.clone()]);
    assert!(!node.pool.contains(&tx.id()));
    let after = (
        reader.account(&from.address()).unwrap(),
        reader.account(&to.address()).unwrap(),
    );
    assert_eq!(
        after.0.balance,
        before
            .0
            .balance
            .checked_sub(Amount::from_base_units(13_345))
            .unwrap()
    );
    assert_eq!(after.0.nonce, 1);
    assert_eq!(
        after.1.balance,
        before
            .1
            .balance
            .checked_add(Amount::from_base_units(12_345))
            .unwrap()
    );
    assert_eq!(
        reader.transaction(&tx.id()).unwrap().unwrap().confirmations,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_blocks_only_where_the_spec_allows_and_within_bounds() {
    let testnet = node("testnet");
    assert!(matches!(
        testnet.miner.mine_now(1, Some(REWARD)).await,
        Err(DevMineFailure::NotAllowed)
    ));
    let dev = node("dev");
    assert!(matches!(
        dev.miner.mine_now(1_000_000, Some(REWARD)).await,
        Err(DevMineFailure::TooMany {
            asked: 1_000_000,
            ..
        })
    ));
}

/// The dev chain with a 40 ms block time, so that the pace can be measured over many
/// blocks in a few seconds.
fn fast_dev_spec() -> ChainSpec {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../genesis/dev.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["name"] = "tern-fast-dev-test".into();
    json["target_block_time_ms"] = PACE_TEST_BLOCK_TIME_MS.into();
    ChainSpec::from_json(&json.to_string(), "fast dev test").unwrap()
}

const PACE_TEST_BLOCK_TIME_MS: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_miner_runs_paced_and_stops_when_told() {
    // Each wait is drawn from an exponential with the block time as its mean, so the
    // spacing is measured over 60 intervals: their mean falls below half the block time
    // about once in a million runs, while an unpaced miner spaces dev blocks by the few
    // milliseconds a commit takes.
    const INTERVALS: u64 = 60;
    let node = node_on(fast_dev_spec());
    let mut tips = node.chain.watch_tip();
    node.miner.start(1, REWARD);
    tokio::time::timeout(
        Duration::from_secs(60),
        tips.wait_for(|t| t.height() >= Height(INTERVALS + 1)),
    )
    .await
    .unwrap()
    .unwrap();
    node.miner.stop();
    // A block may be in flight when the stop lands; once the loop is parked, nothing more
    // comes from it.
    tokio::time::timeout(Duration::from_secs(20), node.miner.wait_idle())
        .await
        .expect("the miner parks once stopped");
    let stopped_at = node.chain.tip().height();
    // Blocks still reaching the chain would show in the pool's synced tip too.
    node.pool.wait_synced(node.chain.tip().hash).await;
    assert_eq!(node.chain.tip().height(), stopped_at);
    let status = node.miner.status();
    assert!(status.blocks_found > INTERVALS);
    assert_eq!(status.settings.unwrap().threads, 0);
    // Paced to the block time, not as fast as the CPU allows. Block 1 follows a genesis
    // long past, so the spacing is counted from it.
    let tip = node.chain.tip();
    let first = node.chain.reader().block_at(Height(1)).unwrap().unwrap();
    let spacing = (tip.header.timestamp.as_millis() - first.header.timestamp.as_millis())
        / (tip.height().value() - 1);
    assert!(
        spacing >= PACE_TEST_BLOCK_TIME_MS / 2,
        "blocks {spacing} ms apart on average"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_miner_includes_transactions_that_arrive_while_it_waits() {
    let node = node("dev");
    node.miner.start(1, REWARD);
    let from = dev_secret_key(2);
    let tx = Transaction {
        chain_id: node.chain.reader().spec().consensus.chain_id,
        from: from.address(),
        to: dev_secret_key(3).address(),
        amount: Amount::from_base_units(1),
        fee: Amount::from_base_units(500),
        nonce: 0,
    }
    .sign(&from);
    node.pool.submit(tx.clone()).await.unwrap();
    let reader = node.chain.reader().clone();
    let mined = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if reader.transaction(&tx.id()).unwrap().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    node.miner.stop();
    assert!(mined.is_ok(), "the transaction was never mined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_the_chain_down_stops_everything_following_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ChainSpec::resolve("dev").unwrap();
    let (chain, thread) = spawn(Chain::open(dir.path(), spec.clone()).unwrap()).unwrap();
    let tasks = TaskManager::new();
    let health = tasks.executor().health();
    let pool =
        PoolHandle::start(chain.clone(), MempoolConfig::default(), tasks.executor()).unwrap();
    let miner = MinerHandle::spawn(chain.clone(), pool.clone(), None, REWARD, tasks.executor());
    miner.start(1, REWARD);
    let mut tips = chain.watch_tip();
    tokio::time::timeout(
        Duration::from_secs(20),
        tips.wait_for(|t| t.height() >= Height(1)),
    )
    .await
    .unwrap()
    .unwrap();
    tasks.begin_shutdown();
    chain.shutdown().await;
    // The mempool follower and the miner end with the chain: every task is joined.
    tokio::time::timeout(Duration::from_secs(10), tasks.wait())
        .await
        .expect("every task following the chain stops");
    assert!(health.failure().is_none(), "{:?}", health.failure());
    let ended = tokio::task::spawn_blocking(move || thread.join().unwrap());
    tokio::time::timeout(Duration::from_secs(10), ended)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // Submitting now is a clear error, not a hang.
    let block = spec.genesis_block();
    assert!(matches!(
        chain.submit_block(block).await,
        Err(tern_state::chain::ChainError::Stopped)
    ));
}
