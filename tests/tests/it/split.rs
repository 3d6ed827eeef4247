//! A network split and its healing: six nodes cut into 2 + 4, both sides mine, the two
//! nodes with more work (fewer blocks) win once the cut heals, and a transaction only the
//! losing side had included goes back to the pool and is mined again.

use std::time::Duration;

use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_chain::types::BlockHash;
use tern_p2p::bans::BanTarget;
use tern_tests::net::{dev_transfer, NodeOptions, TestNode};

const PATIENCE: Duration = Duration::from_secs(60);

/// The dev chain with a genesis of now, a 500 ms block time and a 1 s difficulty half
/// life, and a start target below the maximum: blocks mined ahead of schedule carry more
/// work than blocks mined behind it, so a chain can have more work with fewer blocks.
fn split_spec() -> ChainSpec {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../genesis/dev.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let now = tern_chain::types::Timestamp::now().as_millis();
    json["name"] = "tern-split-test".into();
    json["timestamp_ms"] = now.into();
    json["target_block_time_ms"] = 500.into();
    json["difficulty_half_life_ms"] = 1_000.into();
    json["initial_target"] =
        "0000ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff".into();
    ChainSpec::from_json(&json.to_string(), "split test").unwrap()
}

async fn wait_for_peers(node: &TestNode, count: usize) {
    assert!(
        node.reaches_peers(count, PATIENCE).await,
        "a node did not get to {count} peers"
    );
}

async fn wait_for_tip(nodes: &[&TestNode], tip: BlockHash) {
    for node in nodes {
        assert!(
            node.reaches_tip(tip, PATIENCE).await,
            "a node did not reach {tip}: at {:?}",
            node.node.chain().tip().height()
        );
    }
}

async fn mine(node: &TestNode) -> BlockHash {
    let reward = dev_secret_key(9).address();
    *node
        .node
        .miner()
        .mine_now(1, Some(reward))
        .await
        .unwrap()
        .last()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healed_split_converges_on_the_side_with_more_work() {
    let spec = split_spec();
    let mut nodes: Vec<TestNode> = Vec::new();
    for _ in 0..6 {
        let seeds: Vec<_> = nodes.iter().map(TestNode::p2p_addr).collect();
        let mut options = NodeOptions::dev()
            .with_seeds(&seeds)
            .with_outbound_target(5);
        options.spec = spec.clone();
        nodes.push(TestNode::start(options).await.unwrap());
    }
    for node in &nodes {
        wait_for_peers(node, 5).await;
    }

    // The cut: every node bans every node on the other side.
    let (small, large) = nodes.split_at(2);
    for a in small {
        for b in large {
            let (a_id, b_id) = (a.node.network().node_id(), b.node.network().node_id());
            let day = Duration::from_secs(86_400);
            a.node
                .network()
                .ban(BanTarget::Node(b_id), day)
                .await
                .unwrap();
            b.node
                .network()
                .ban(BanTarget::Node(a_id), day)
                .await
                .unwrap();
        }
    }
    for node in small {
        wait_for_peers(node, 1).await;
    }
    for node in large {
        wait_for_peers(node, 3).await;
    }

    // A transaction only the large side sees, mined there in the first of its blocks.
    let tx = dev_transfer(&spec, 3, 4, 12_345, 0);
    let txid = tx.id();
    large[0].node.pool().submit(tx).await.unwrap();

    // The small side mines 5 blocks at once (ahead of schedule: harder, more work each).
    let mut small_tip = BlockHash::from_bytes([0; 32]);
    for _ in 0..5 {
        small_tip = mine(&small[0]).await;
    }
    // The large side mines 7 blocks 700 ms apart (behind schedule: easier).
    let mut large_tip = BlockHash::from_bytes([0; 32]);
    for _ in 0..7 {
        large_tip = mine(&large[0]).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    wait_for_tip(&small.iter().collect::<Vec<_>>(), small_tip).await;
    wait_for_tip(&large.iter().collect::<Vec<_>>(), large_tip).await;
    let small_chain = small[0].node.chain().tip();
    let large_chain = large[0].node.chain().tip();
    assert!(small_chain.height() < large_chain.height());
    assert!(
        small_chain.cumulative_work > large_chain.cumulative_work,
        "the set-up failed: the small side must have more work ({} vs {})",
        small_chain.cumulative_work,
        large_chain.cumulative_work
    );
    for node in large {
        assert!(node
            .node
            .chain()
            .reader()
            .transaction(&txid)
            .unwrap()
            .is_some());
    }

    // Heal: lift the bans and reconnect across the cut.
    for a in small {
        for b in large {
            let (a_id, b_id) = (a.node.network().node_id(), b.node.network().node_id());
            a.node.network().unban(BanTarget::Node(b_id)).await.unwrap();
            b.node.network().unban(BanTarget::Node(a_id)).await.unwrap();
            a.node.network().add_peer(b.p2p_addr()).await.unwrap();
        }
    }
    let all: Vec<&TestNode> = nodes.iter().collect();
    wait_for_tip(&all, small_tip).await;

    // The large side's transaction is back in its pools, and is mined again.
    assert!(
        large[0].has_pending(txid, PATIENCE).await,
        "the reorged-out transaction did not return to the pool"
    );
    // ...and is announced again: the winning side, which never saw it, gets it too.
    assert!(
        small[0].has_pending(txid, PATIENCE).await,
        "the returned transaction was not relayed to the winning side"
    );
    let confirmed = mine(&large[0]).await;
    wait_for_tip(&all, confirmed).await;
    for node in &nodes {
        let info = node.node.chain().reader().transaction(&txid).unwrap();
        assert_eq!(info.map(|i| i.block), Some(confirmed));
    }
    assert!(nodes[0].peer_count().await >= 1);
    for node in nodes {
        node.shutdown().await;
    }
}
