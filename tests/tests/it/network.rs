//! The network layer between real nodes on 127.0.0.1: who is refused, discovery through
//! address gossip, and reconnecting after a restart.

use std::time::Duration;

use tern_chain::genesis::ChainSpec;
use tern_p2p::NetworkHandle;
use tern_tests::net::{eventually, NodeOptions, TestNode};

const PATIENCE: Duration = Duration::from_secs(30);

/// The dev spec with one field changed: another chain.
fn other_spec(field: &str, value: &str) -> ChainSpec {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../genesis/dev.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json[field] = serde_json::from_str(value).unwrap();
    ChainSpec::from_json(&json.to_string(), "test").unwrap()
}

async fn peer_count(network: &NetworkHandle) -> usize {
    network.peers().await.unwrap().len()
}

/// Whether `node` has refused more than `before` connections at the handshake within
/// [`PATIENCE`].
async fn refuses(node: &TestNode, before: u64) -> bool {
    let network = node.node.network().clone();
    eventually(PATIENCE, || {
        let network = network.clone();
        async move { network.info().await.is_ok_and(|info| info.refused > before) }
    })
    .await
}

async fn wait_for_peers(node: &TestNode, count: usize) -> bool {
    node.reaches_peers(count, PATIENCE).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_on_another_genesis_or_chain_are_refused() {
    let a = TestNode::start(NodeOptions::dev()).await.unwrap();
    for spec in [
        other_spec("timestamp_ms", "1767225600001"),
        other_spec("chain_id", "7358"),
    ] {
        let mut options = NodeOptions::dev().with_seeds(&[a.p2p_addr()]);
        options.spec = spec;
        let before = a.node.network().info().await.unwrap().refused;
        let stranger = TestNode::start(options).await.unwrap();
        // The stranger dialled and was refused: both ends count the refusal.
        assert!(refuses(&stranger, 0).await && refuses(&a, before).await);
        assert_eq!(peer_count(stranger.node.network()).await, 0);
        assert_eq!(peer_count(a.node.network()).await, 0);
        // Refused, not banned: another chain is not an offence.
        assert!(a.node.network().bans().await.unwrap().is_empty());
        stranger.shutdown().await;
    }
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_dials_itself_drops_the_connection() {
    let a = TestNode::start(NodeOptions::dev()).await.unwrap();
    let b = TestNode::start(NodeOptions::dev()).await.unwrap();
    a.node.network().add_peer(a.p2p_addr()).await.unwrap();
    assert!(refuses(&a, 0).await, "the self-dial was never tried");
    assert_eq!(peer_count(a.node.network()).await, 0);
    // It still connects to others.
    a.node.network().add_peer(b.p2p_addr()).await.unwrap();
    assert!(wait_for_peers(&a, 1).await);
    let peers = a.node.network().peers().await.unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].node_id, b.node.network().node_id());
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_told_of_one_peer_learns_the_others_by_gossip() {
    let hub = TestNode::start(NodeOptions::dev()).await.unwrap();
    let mut others = Vec::new();
    for _ in 0..3 {
        let options = NodeOptions::dev()
            .with_seeds(&[hub.p2p_addr()])
            .with_outbound_target(1);
        others.push(TestNode::start(options).await.unwrap());
    }
    assert!(wait_for_peers(&hub, 3).await);
    let newcomer = TestNode::start(
        NodeOptions::dev()
            .with_seeds(&[hub.p2p_addr()])
            .with_outbound_target(4),
    )
    .await
    .unwrap();
    let network = newcomer.node.network().clone();
    assert!(
        eventually(PATIENCE, || {
            let network = network.clone();
            async move { network.info().await.unwrap().outbound == 4 }
        })
        .await,
        "the newcomer did not reach its outbound target of 4"
    );
    let info = newcomer.node.network().info().await.unwrap();
    assert!(info.known_addresses >= 4, "{info:?}");
    for node in others {
        node.shutdown().await;
    }
    newcomer.shutdown().await;
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_reconnects_to_its_known_peers_without_seeds() {
    let a = TestNode::start(NodeOptions::dev()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let b = TestNode::start_in(NodeOptions::dev().with_seeds(&[a.p2p_addr()]), dir.path())
        .await
        .unwrap();
    assert!(wait_for_peers(&b, 1).await);
    let b_id = b.node.network().node_id();
    b.shutdown().await;
    let a_network = a.node.network().clone();
    assert!(
        eventually(PATIENCE, || {
            let network = a_network.clone();
            async move { peer_count(&network).await == 0 }
        })
        .await
    );

    let b = TestNode::start_in(NodeOptions::dev(), dir.path())
        .await
        .unwrap();
    assert_eq!(b.node.network().node_id(), b_id, "the node key is kept");
    assert!(
        wait_for_peers(&b, 1).await,
        "no reconnection from the address book"
    );
    let peers = a.node.network().peers().await.unwrap();
    assert_eq!(peers[0].node_id, b_id);
    b.shutdown().await;
    a.shutdown().await;
}
