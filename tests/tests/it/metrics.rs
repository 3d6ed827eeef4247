//! The metrics and health listener of a real node: Prometheus text with the figures an
//! operator watches, and readiness that follows peers.

use std::net::SocketAddr;
use std::time::Duration;

use tern_chain::crypto::dev_secret_key;
use tern_tests::net::{dev_spec, dev_transfer, eventually, NodeOptions, TestNode};

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    tern_tests::http::get(addr, path).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_follow_the_node() {
    let mut options = NodeOptions::dev();
    options.metrics = true;
    options.rpc = true;
    let a = TestNode::start(options).await.unwrap();
    let addr = a.node.metrics_addr().unwrap();
    assert_eq!(get(addr, "/healthy").await, (200, "ok\n".into()));
    // Started alone (no peers given): ready, since no peer is missing.
    assert_eq!(get(addr, "/ready").await, (200, "ready\n".into()));
    assert_eq!(get(addr, "/nothing").await.0, 404);

    let b = TestNode::start(NodeOptions::dev().with_seeds(&[a.p2p_addr()]))
        .await
        .unwrap();
    let spec = dev_spec();
    let tx = dev_transfer(&spec, 0, 1, 5, 0);
    a.node.pool().submit(tx).await.unwrap();
    a.node
        .miner()
        .mine_now(2, Some(dev_secret_key(9).address()))
        .await
        .unwrap();
    // Nonce 0 again, now used: one rejection, reason nonce_too_low.
    let stale = dev_transfer(&spec, 0, 2, 6, 0);
    assert!(a.node.pool().submit(stale).await.is_err());
    // One RPC call to count.
    let rpc = a.node.rpc_addr().unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"chain_info"}"#;
    let (_, answer) = tern_tests::http::post_json(rpc, body).await.unwrap();
    assert!(answer.contains("\"height\":2"), "{answer}");

    assert!(
        eventually(Duration::from_secs(20), || async move {
            get(addr, "/ready").await.0 == 200
        })
        .await,
        "a node with a peer, not syncing, is ready"
    );
    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    for expected in [
        "tern_chain_height 2",
        "tern_peers{direction=\"inbound\"} 1",
        "tern_mempool_transactions 0",
        "tern_blocks_connected_total 2",
        "tern_transactions_connected_total 1",
        "tern_transactions_admitted_total 1",
        // The transfer and the stale one, each alone in its batch.
        "tern_mempool_admission_batches_total 2",
        "tern_mempool_admission_batched_transactions_total 2",
        "tern_mempool_rejections_total{reason=\"nonce_too_low\"} 1",
        "tern_rpc_calls_total{method=\"chain_info\"} 1",
        "tern_rpc_call_seconds_count{method=\"chain_info\"} 1",
        "# EOF",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
    assert!(
        text.contains("tern_p2p_bytes_total{direction=\"out\"}"),
        "{text}"
    );
    b.shutdown().await;
    // It had a peer and has none: isolated, not ready, and it says why.
    assert!(
        eventually(Duration::from_secs(20), || async move {
            get(addr, "/ready").await == (503, "not ready: no peers\n".into())
        })
        .await,
        "a node that lost its only peer is not ready"
    );
    a.shutdown().await;
}
