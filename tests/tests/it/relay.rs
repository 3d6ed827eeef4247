//! Relay across real nodes on 127.0.0.1: transactions and blocks cross a line of five
//! nodes, each transaction body crossing each link exactly once, and a block whose
//! transactions every node holds crossing each link as a compact block alone.

use std::time::Duration;

use tern_chain::crypto::dev_secret_key;
use tern_p2p::message::MessageKind;
use tern_tests::net::{dev_spec, dev_transfer, eventually, line, NodeOptions, TestNode};

const PATIENCE: Duration = Duration::from_secs(30);

async fn shutdown(nodes: Vec<TestNode>) {
    for node in nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_and_blocks_cross_a_line_of_five_nodes_once_per_link() {
    let nodes = line(5, NodeOptions::dev()).await.unwrap();
    let spec = dev_spec();
    let (a, e) = (&nodes[0], &nodes[4]);

    // Twenty transfers from three senders, submitted at A.
    let mut ids = Vec::new();
    for i in 0..20u64 {
        let tx = dev_transfer(&spec, (i % 3) as u32, 5, 1_000 + i, i / 3);
        ids.push(tx.id());
        a.node.pool().submit(tx).await.unwrap();
    }
    for id in &ids {
        assert!(e.has_pending(*id, PATIENCE).await, "{id} did not reach E");
    }

    // A block mined at E reaches A, and everyone ends on the same tip.
    let reward = dev_secret_key(7).address();
    let mined = e.node.miner().mine_now(1, Some(reward)).await.unwrap();
    let tip = *mined.last().unwrap();
    for (i, node) in nodes.iter().enumerate() {
        assert!(
            node.reaches_tip(tip, PATIENCE).await,
            "node {i} did not reach the tip mined at E"
        );
    }
    let included = e.node.chain().reader().block(&tip).unwrap().unwrap();
    assert_eq!(
        included.transactions.len(),
        ids.len(),
        "E mined the relayed transactions"
    );

    // Each link carried each transaction body once: 4 links x 20 transactions in total.
    // The block crossed each link once, compact, and was rebuilt from the pool alone: no
    // whole block and no missing transaction crossed.
    let (mut tx_bodies, mut compact, mut whole, mut missing) = (0, 0, 0, 0);
    for node in &nodes {
        for peer in node.node.network().peers().await.unwrap() {
            tx_bodies += peer.stats.received(MessageKind::Tx);
            compact += peer.stats.received(MessageKind::CompactBlock);
            whole += peer.stats.received(MessageKind::Block);
            missing += peer.stats.received(MessageKind::BlockTxs);
        }
    }
    assert_eq!(
        tx_bodies,
        4 * ids.len() as u64,
        "a transaction body crossed a link twice"
    );
    assert_eq!(compact, 4, "a block crossed a link twice");
    assert_eq!(
        (whole, missing),
        (0, 0),
        "a block was not rebuilt from the pool"
    );

    // A's pool dropped what the block included.
    let pool = a.node.pool().clone();
    assert!(
        eventually(PATIENCE, || {
            let pool = pool.clone();
            async move { pool.stats().count == 0 }
        })
        .await
    );
    // Handles the test holds keep a node's store open; let go before stopping.
    drop(pool);
    shutdown(nodes).await;
}
