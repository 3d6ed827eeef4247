//! A node under load keeps doing its job, and stops cleanly in the middle of it. Store
//! reads from RPC run on the blocking pool (bounded), so a read flood cannot starve the
//! async threads that relay and import; and shutdown joins every task while calls,
//! transactions and blocks are still coming.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tern_chain::crypto::dev_secret_key;
use tern_rpc::chain::BlockId;
use tern_rpc::chain::TernApiClient;
use tern_rpc::jsonrpsee::http_client::HttpClientBuilder;
use tern_tests::net::{dev_spec, dev_transfer, eventually, NodeOptions, TestNode};

/// Readers hammering one node at once.
const READERS: usize = 8;
/// The most calls one reader makes: the flood is bounded even if a test hangs.
const MAX_CALLS_PER_READER: u64 = 50_000;

/// Store-reading RPC calls in a loop until `stop`; counts answered calls in `calls`.
async fn read_flood(rpc: SocketAddr, stop: Arc<AtomicBool>, calls: Arc<AtomicU64>) {
    let client = HttpClientBuilder::default()
        .build(format!("http://{rpc}"))
        .unwrap();
    let address = dev_secret_key(0)
        .address()
        .to_bech32(&dev_spec().address_prefix);
    for i in 0..MAX_CALLS_PER_READER {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let answered = match i % 4 {
            0 => client.chain_info().await.is_ok(),
            1 => client
                .chain_get_block(BlockId::Height(i % 3), Some(true))
                .await
                .is_ok(),
            2 => client.account_get(address.clone()).await.is_ok(),
            _ => client
                .account_history(address.clone(), None, None)
                .await
                .is_ok(),
        };
        if !answered {
            // The node is stopping.
            return;
        }
        calls.fetch_add(1, Ordering::Relaxed);
    }
}

fn start_flood(
    rpc: SocketAddr,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicU64>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let readers = (0..READERS)
        .map(|_| tokio::spawn(read_flood(rpc, Arc::clone(&stop), Arc::clone(&calls))))
        .collect();
    (stop, calls, readers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_under_an_rpc_read_flood_keeps_relaying_and_importing() {
    let mut options = NodeOptions::dev();
    options.rpc = true;
    let flooded = TestNode::start(options).await.unwrap();
    let peer = TestNode::start(NodeOptions::dev().with_seeds(&[flooded.p2p_addr()]))
        .await
        .unwrap();
    assert!(flooded.reaches_peers(1, Duration::from_secs(30)).await);
    let (stop, calls, readers) = start_flood(flooded.node.rpc_addr().unwrap());
    assert!(
        eventually(Duration::from_secs(30), || {
            let calls = Arc::clone(&calls);
            async move { calls.load(Ordering::Relaxed) >= 200 }
        })
        .await,
        "the flood is under way"
    );

    // Blocks mined by the peer are imported, and its transactions relayed, while the
    // flood goes on.
    let spec = dev_spec();
    let reward = dev_secret_key(9).address();
    let blocks = peer.node.miner().mine_now(20, Some(reward)).await.unwrap();
    assert!(
        flooded
            .reaches_tip(*blocks.last().unwrap(), Duration::from_secs(30))
            .await,
        "blocks were not imported under the flood"
    );
    let tx = dev_transfer(&spec, 0, 1, 5, 0);
    let id = peer.node.pool().submit(tx).await.unwrap().id;
    assert!(
        flooded.has_pending(id, Duration::from_secs(30)).await,
        "a transaction was not relayed under the flood"
    );
    let during = calls.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    assert!(during >= 200, "{during} calls");
    peer.shutdown().await;
    flooded.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_under_load_joins_every_task_and_closes_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = NodeOptions::dev();
    options.rpc = true;
    let node = TestNode::start_in(options, dir.path()).await.unwrap();
    let peer = TestNode::start(NodeOptions::dev().with_seeds(&[node.p2p_addr()]))
        .await
        .unwrap();
    assert!(node.reaches_peers(1, Duration::from_secs(30)).await);
    let (stop, calls, readers) = start_flood(node.node.rpc_addr().unwrap());
    // Mining on both, transactions relayed between them, reads on one.
    let reward = dev_secret_key(9).address();
    node.node.miner().start(1, reward);
    peer.node.miner().start(1, reward);
    let spec = dev_spec();
    for nonce in 0..20 {
        peer.node
            .pool()
            .submit(dev_transfer(&spec, 0, 1, 5, nonce))
            .await
            .unwrap();
    }
    let chain = node.node.chain().clone();
    assert!(
        eventually(Duration::from_secs(30), || {
            let (calls, chain) = (Arc::clone(&calls), chain.clone());
            async move { calls.load(Ordering::Relaxed) >= 100 && chain.tip().height().value() >= 2 }
        })
        .await,
        "the load is under way"
    );
    drop(chain);
    assert!(node.node.running_tasks() > 0);

    let stopped = tokio::time::timeout(Duration::from_secs(60), node.stop()).await;
    let failure = stopped.expect("shutdown under load completes");
    assert!(failure.is_none(), "{failure:?}");
    // Every task has ended and the store is closed: the data dir opens again at once.
    let again = TestNode::start_in(NodeOptions::dev(), dir.path())
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    again.shutdown().await;
    peer.shutdown().await;
}

/// Regression: the admission task once dropped a batch it was still gathering when an
/// earlier batch's verification finished first, and the callers in it were told the node
/// was stopping. Every concurrent submission gets a verdict of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_concurrent_submission_gets_a_verdict() {
    let mut options = NodeOptions::dev();
    options.mempool.max_per_sender = 64;
    options.mempool.max_nonce_gap = 64;
    let node = TestNode::start(options).await.unwrap();
    let spec = dev_spec();
    let mut submitters = Vec::new();
    for sender in 0..10u32 {
        for nonce in 0..40u64 {
            let pool = node.node.pool().clone();
            let tx = dev_transfer(&spec, sender, (sender + 1) % 10, 5, nonce);
            submitters.push(tokio::spawn(async move { pool.submit(tx).await }));
        }
    }
    for submitter in submitters {
        match submitter.await.unwrap() {
            Ok(_) | Err(tern_mempool::SubmitError::Rejected(_)) => {}
            Err(unavailable) => panic!("a submission lost its verdict: {unavailable}"),
        }
    }
    node.shutdown().await;
}
