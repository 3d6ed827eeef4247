//! Subscriptions over a WebSocket: a head subscriber that reconnects during a reorg
//! resumes without loss or repeat, and a transaction's status followed to N confirmations.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_subscriber_disconnected_during_a_reorg_resumes_and_sees_every_event_once() {
    use jsonrpsee::ws_client::WsClientBuilder;
    use tern_chain::testkit::ChainBuilder;
    use tern_rpc::chain::{HeadEvent, HeadKind, ResumeFrom};

    let node = node("dev", true).await;
    let url = format!("ws://{}", node.rpc_addr);
    let reward = address(&node, &dev_secret_key(9));

    let ws = WsClientBuilder::default().build(&url).await.unwrap();
    let mut heads = ws.chain_subscribe_heads(None).await.unwrap();
    node.client.dev_mine(3, Some(reward.clone())).await.unwrap();
    let mut seen: Vec<HeadEvent> = Vec::new();
    for _ in 0..3 {
        seen.push(heads.next().await.unwrap().unwrap());
    }
    assert_eq!(
        seen.iter()
            .map(|e| (e.seq, e.kind, e.header.height))
            .collect::<Vec<_>>(),
        [
            (1, HeadKind::Connect, 1),
            (2, HeadKind::Connect, 2),
            (3, HeadKind::Connect, 3)
        ]
    );
    let epoch = seen[0].epoch;
    drop(heads);
    drop(ws);

    // While the client is away: a heavier branch from genesis takes over, then one more block.
    let mut builder = ChainBuilder::new(node.spec.clone());
    let genesis = builder.genesis();
    let branch = builder.extend(&genesis, 4, &[], 0, dev_secret_key(8).address());
    for block in &branch {
        node.chain.submit_block(block.clone()).await.unwrap();
    }
    assert_eq!(node.chain.tip().hash, branch[3].hash());
    node.client.dev_mine(1, Some(reward)).await.unwrap();

    let ws = WsClientBuilder::default().build(&url).await.unwrap();
    let mut heads = ws
        .chain_subscribe_heads(Some(ResumeFrom {
            epoch,
            seq: 3,
            tip: None,
        }))
        .await
        .unwrap();
    let mut resumed = Vec::new();
    for _ in 0..8 {
        resumed.push(heads.next().await.unwrap().unwrap());
    }
    let got: Vec<(u64, HeadKind, u64)> = resumed
        .iter()
        .map(|e| (e.seq, e.kind, e.header.height))
        .collect();
    assert_eq!(
        got,
        [
            (4, HeadKind::Disconnect, 3),
            (5, HeadKind::Disconnect, 2),
            (6, HeadKind::Disconnect, 1),
            (7, HeadKind::Connect, 1),
            (8, HeadKind::Connect, 2),
            (9, HeadKind::Connect, 3),
            (10, HeadKind::Connect, 4),
            (11, HeadKind::Connect, 5),
        ]
    );
    for (event, block) in resumed[3..7].iter().zip(&branch) {
        assert_eq!(event.header.hash, block.hash().to_string());
    }

    // A resume point the node cannot serve is an error, never a silent gap.
    let stale = ws
        .chain_subscribe_heads(Some(ResumeFrom {
            epoch: epoch + 1,
            seq: 3,
            tip: None,
        }))
        .await;
    assert!(
        matches!(stale, Err(ClientError::Call(e)) if e.code() == tern_rpc::error::RESYNC_NEEDED)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_status_subscription_follows_it_to_n_confirmations() {
    use jsonrpsee::ws_client::WsClientBuilder;
    let node = node("dev", true).await;
    let ws = WsClientBuilder::default()
        .build(format!("ws://{}", node.rpc_addr))
        .await
        .unwrap();
    let (tx, id) = signed_hex(&node, &dev_secret_key(3), &dev_secret_key(4), 10, 1_000, 0);
    let mut status = ws.tx_subscribe_status(id.clone(), Some(2)).await.unwrap();
    assert_eq!(status.next().await.unwrap().unwrap(), TxStatus::Unknown);
    node.client.tx_submit(tx).await.unwrap();
    assert!(matches!(
        status.next().await.unwrap().unwrap(),
        TxStatus::Pending { .. }
    ));
    let reward = address(&node, &dev_secret_key(9));
    node.client.dev_mine(1, Some(reward.clone())).await.unwrap();
    assert!(matches!(
        status.next().await.unwrap().unwrap(),
        TxStatus::Confirmed {
            confirmations: 1,
            ..
        }
    ));
    node.client.dev_mine(1, Some(reward)).await.unwrap();
    assert!(matches!(
        status.next().await.unwrap().unwrap(),
        TxStatus::Confirmed {
            confirmations: 2,
            ..
        }
    ));
    let bad = ws.tx_subscribe_status(id, Some(0)).await;
    assert!(matches!(bad, Err(ClientError::Call(e)) if e.code() == -32602));
}

/// A node on `dir` serving RPC with admin access on a free loopback port.
async fn start_on(dir: &std::path::Path) -> (Node, HttpClient, String) {
    let mut config = NodeConfig::new(ChainSpec::resolve("dev").unwrap(), dir.to_path_buf());
    config.p2p.listen = Some("127.0.0.1:0".parse().unwrap());
    config.rpc = Some(RpcConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        admin: true,
        ..RpcConfig::default()
    });
    let node = Node::start(config).await.unwrap();
    let addr = node.rpc_addr().unwrap();
    let client = HttpClientBuilder::default()
        .build(format!("http://{addr}"))
        .unwrap();
    (node, client, format!("ws://{addr}"))
}

/// What a JavaScript client does: JSON numbers read as doubles, the epoch kept as the
/// string it arrives as, and its tip (the last connected block) remembered, so that it
/// resumes after the node restarted and even across a reorg it missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_from_its_tip_after_the_node_restarted() {
    use jsonrpsee::core::client::SubscriptionClientT;
    use jsonrpsee::ws_client::WsClientBuilder;
    use serde_json::{json, Value};
    use tern_chain::testkit::ChainBuilder;

    type Heads = jsonrpsee::core::client::Subscription<Value>;
    /// A subscription and the connection it lives on.
    async fn subscribe(
        url: &str,
        since: Value,
    ) -> (jsonrpsee::ws_client::WsClient, Result<Heads, ClientError>) {
        let ws = WsClientBuilder::default().build(url).await.unwrap();
        let params = if since.is_null() {
            rpc_params![]
        } else {
            rpc_params![since]
        };
        let subscription = ws
            .subscribe::<Value, _>("chain_subscribeHeads", params, "chain_unsubscribeHeads")
            .await;
        (ws, subscription)
    }
    async fn take(subscription: &mut Heads, n: usize) -> Vec<Value> {
        let mut events = Vec::new();
        for _ in 0..n {
            let next =
                tokio::time::timeout(std::time::Duration::from_secs(10), subscription.next())
                    .await
                    .expect("an event within 10 s");
            events.push(next.unwrap().unwrap());
        }
        events
    }
    let summary = |events: &[Value]| -> Vec<(String, u64)> {
        events
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_owned(),
                    e["header"]["height"].as_f64().unwrap() as u64,
                )
            })
            .collect()
    };

    let dir = tempfile::tempdir().unwrap();
    let (node, client, url) = start_on(dir.path()).await;
    let (_ws, heads) = subscribe(&url, Value::Null).await;
    let mut heads = heads.unwrap();
    client.dev_mine(3, None).await.unwrap();
    let seen = take(&mut heads, 3).await;
    let epoch = seen[2]["epoch"].clone();
    assert!(epoch.is_string(), "the epoch is a string: {epoch}");
    let tip = seen[2]["header"]["hash"].clone();
    drop(heads);
    node.shutdown().await;

    // The node restarts (a new epoch) and mines on while the client is away.
    let (node, client, url) = start_on(dir.path()).await;
    client.dev_mine(2, None).await.unwrap();
    let (_ws, resumed) = subscribe(&url, json!({"epoch": epoch, "seq": 3, "tip": tip})).await;
    let mut resumed = resumed.unwrap();
    let caught_up = take(&mut resumed, 2).await;
    assert_eq!(
        summary(&caught_up),
        [("connect".into(), 4), ("connect".into(), 5)]
    );
    client.dev_mine(1, None).await.unwrap();
    let live = take(&mut resumed, 1).await;
    assert_eq!(summary(&live), [("connect".into(), 6)]);
    assert!(live[0]["seq"].as_u64().unwrap() > caught_up[1]["seq"].as_u64().unwrap());
    let tip = live[0]["header"]["hash"].clone();
    drop(resumed);

    // Away again: a heavier branch from genesis replaces all six blocks.
    let mut builder = ChainBuilder::new(node.chain().reader().spec().clone());
    let genesis = builder.genesis();
    let branch = builder.extend(&genesis, 7, &[], 0, dev_secret_key(8).address());
    for block in &branch {
        node.chain().submit_block(block.clone()).await.unwrap();
    }
    assert_eq!(node.chain().tip().hash, branch[6].hash());
    let (_ws, resumed) = subscribe(&url, json!({"epoch": epoch, "seq": 6, "tip": tip})).await;
    let mut resumed = resumed.unwrap();
    let caught_up = take(&mut resumed, 13).await;
    let expected: Vec<(String, u64)> = (1..=6)
        .rev()
        .map(|h| ("disconnect".to_owned(), h))
        .chain((1..=7).map(|h| ("connect".to_owned(), h)))
        .collect();
    assert_eq!(summary(&caught_up), expected);
    assert_eq!(
        caught_up[12]["header"]["hash"],
        branch[6].hash().to_string()
    );

    // A tip the node never saw: resync, with the reason.
    let (_ws, unknown) = subscribe(
        &url,
        json!({"epoch": epoch, "seq": 1, "tip": "ab".repeat(32)}),
    )
    .await;
    assert!(
        matches!(&unknown, Err(ClientError::Call(e)) if e.code() == tern_rpc::error::RESYNC_NEEDED),
        "{unknown:?}"
    );
    node.shutdown().await;
}
