//! A transaction's lifecycle over RPC: why a pending one waits, why a dropped one left,
//! whether a confirmed one was ever reorged out, each transition reported to a
//! subscriber; and `fee_estimate`.

use super::*;
use tern_rpc::chain::{DroppedReason, WaitingReason};

fn waiting(status: &TxStatus) -> &WaitingReason {
    match status {
        TxStatus::Pending { why, .. } => &why.reason,
        other => panic!("not pending: {other:?}"),
    }
}

fn dropped(status: &TxStatus) -> &DroppedReason {
    match status {
        TxStatus::Dropped { why, .. } => &why.reason,
        other => panic!("not dropped: {other:?}"),
    }
}

/// The subscription's next item, within ten seconds.
async fn next(status: &mut jsonrpsee::core::client::Subscription<TxStatus>) -> TxStatus {
    tokio::time::timeout(std::time::Duration::from_secs(10), status.next())
        .await
        .expect("a status within 10 s")
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_transaction_says_why_and_a_subscriber_sees_each_transition() {
    use jsonrpsee::ws_client::WsClientBuilder;
    use tern_chain::testkit::ChainBuilder;

    let node = node("dev", true).await;
    let c = &node.client;
    let ws = WsClientBuilder::default()
        .build(format!("ws://{}", node.rpc_addr))
        .await
        .unwrap();
    let (sender, to) = (dev_secret_key(3), dev_secret_key(4));
    let (second, second_id) = signed_hex(&node, &sender, &to, 10, 1_000, 1);
    let (first, first_id) = signed_hex(&node, &sender, &to, 10, 1_000, 0);
    let (bumped, bumped_id) = signed_hex(&node, &sender, &to, 11, 2_000, 0);

    let mut status = ws
        .tx_subscribe_status(second_id.clone(), Some(100))
        .await
        .unwrap();
    assert_eq!(next(&mut status).await, TxStatus::Unknown);

    // Nonce 1 before nonce 0: it waits for the gap, and says which nonce is missing.
    c.tx_submit(second).await.unwrap();
    let gap = next(&mut status).await;
    assert_eq!(waiting(&gap), &WaitingReason::NonceGap { missing_nonce: 0 });
    let TxStatus::Pending { why, .. } = c.tx_get(second_id.clone()).await.unwrap() else {
        panic!("pending");
    };
    assert_eq!(
        why.expires - why.since,
        3 * 60 * 60 * 1000,
        "the pool keeps it three hours"
    );

    // The gap filled: queued behind the one before it.
    c.tx_submit(first).await.unwrap();
    assert_eq!(
        waiting(&next(&mut status).await),
        &WaitingReason::Queued { position: 1 }
    );

    // A replacement: the first is dropped, and says by what.
    c.tx_submit(bumped).await.unwrap();
    assert_eq!(
        dropped(&c.tx_get(first_id).await.unwrap()),
        &DroppedReason::Replaced {
            by: bumped_id.clone()
        }
    );

    // The fee for the next block: nothing competes, so the pool's minimum.
    let estimate = c.fee_estimate(1).await.unwrap();
    let minimum = c.mempool_info().await.unwrap().minimum_fee;
    assert_eq!((estimate.target_blocks, &estimate.fee), (1, &minimum));
    assert_eq!((estimate.basis.ready, estimate.basis.queue_fee), (2, None));
    for bad in [0, 101] {
        let (code_, message, data) = code(c.fee_estimate(bad).await.unwrap_err());
        assert_eq!(code_, -32602, "{message}");
        assert_eq!(data.unwrap()["field"], "targetBlocks");
    }

    let reward = address(&node, &dev_secret_key(9));
    c.dev_mine(1, Some(reward.clone())).await.unwrap();
    let mined = next(&mut status).await;
    assert!(
        matches!(
            mined,
            TxStatus::Confirmed {
                confirmations: 1,
                reorged_out: false,
                ..
            }
        ),
        "{mined:?}"
    );

    // A heavier branch takes the block out, with a transfer of its own that uses nonce 0:
    // the bumped transfer no longer applies (the reorg dropped it), the second comes back.
    let mut builder = ChainBuilder::new(node.spec.clone());
    let genesis = builder.genesis();
    let conflict = builder.transfer(&genesis, &sender, to.address(), 99, 1_000, 0);
    let fork = builder
        .child(&genesis, vec![conflict], dev_secret_key(8).address())
        .unwrap();
    let branch = builder.extend(&fork.hash(), 1, &[], 0, dev_secret_key(8).address());
    for block in std::iter::once(&fork).chain(&branch) {
        node.chain.submit_block(block.clone()).await.unwrap();
    }
    assert_eq!(node.chain.tip().hash, branch[0].hash());
    assert_eq!(
        waiting(&next(&mut status).await),
        &WaitingReason::Queued { position: 0 }
    );
    assert_eq!(
        dropped(&c.tx_get(bumped_id).await.unwrap()),
        &DroppedReason::Reorg
    );
    // The block the reorg took out is still there by hash, marked as off the chain.
    let TxStatus::Confirmed { block_hash, .. } = mined else {
        unreachable!("matched above")
    };
    let taken_out = c
        .chain_get_block(BlockId::Hash(block_hash), None)
        .await
        .unwrap()
        .unwrap();
    assert!(!taken_out.canonical);

    c.dev_mine(1, Some(reward)).await.unwrap();
    assert!(matches!(
        next(&mut status).await,
        TxStatus::Confirmed {
            confirmations: 1,
            reorged_out: true,
            ..
        }
    ));
}

/// A dev chain whose blocks hold two transfers: a third, cheaper one is told it is
/// under-priced and what to pay, and paying it puts it in the next block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_under_priced_transaction_is_told_the_fee_that_gets_it_in() {
    let mut spec = ChainSpec::resolve("dev").unwrap();
    spec.consensus.max_block_transactions = 2;
    let node = node_on(
        spec,
        RpcConfig {
            admin: true,
            ..RpcConfig::default()
        },
    )
    .await;
    let c = &node.client;
    let to = dev_secret_key(9);
    for (sender, fee) in [(1, 3_000), (2, 2_000)] {
        let (tx, _) = signed_hex(&node, &dev_secret_key(sender), &to, 1, fee, 0);
        c.tx_submit(tx).await.unwrap();
    }
    let (cheap, cheap_id) = signed_hex(&node, &dev_secret_key(3), &to, 1, 1_000, 0);
    c.tx_submit(cheap).await.unwrap();
    let status = c.tx_get(cheap_id).await.unwrap();
    let WaitingReason::FeeTooLowForNextBlock { suggested_fee } = waiting(&status).clone() else {
        panic!("not under-priced: {status:?}");
    };
    let estimate = c.fee_estimate(1).await.unwrap();
    assert_eq!(
        estimate.fee, suggested_fee,
        "the remedy is the one-block estimate"
    );
    assert_eq!(
        estimate.basis.queue_fee.as_deref(),
        Some(suggested_fee.as_str())
    );
    assert_eq!(
        (estimate.basis.ready, estimate.basis.block_capacity),
        (3, 2)
    );

    // The remedy: the same nonce, paying the suggested fee.
    let fee: u64 = suggested_fee.parse().unwrap();
    let (bumped, bumped_id) = signed_hex(&node, &dev_secret_key(3), &to, 1, fee, 0);
    c.tx_submit(bumped).await.unwrap();
    assert!(matches!(
        waiting(&c.tx_get(bumped_id.clone()).await.unwrap()),
        WaitingReason::Queued { position: 1 }
    ));
    c.dev_mine(1, None).await.unwrap();
    assert!(matches!(
        c.tx_get(bumped_id).await.unwrap(),
        TxStatus::Confirmed { height: 1, .. }
    ));
}
