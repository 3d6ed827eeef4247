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
        .chain_subscribe_heads(Some(ResumeFrom { epoch, seq: 3 }))
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
