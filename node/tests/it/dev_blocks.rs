//! `tern node --automine` and `--block-time` as a wallet developer runs them: a transfer
//! confirmed as soon as it is admitted, blocks on an interval, rewards to dev account 0
//! unless `--mine-to` names another, and `dev_mine` without a reward address.

use std::time::{Duration, Instant};

use jsonrpsee::ws_client::WsClientBuilder;
use tern_chain::crypto::dev_secret_key;
use tern_chain::encoding;
use tern_chain::genesis::ChainSpec;
use tern_chain::tx::Transaction;
use tern_chain::types::Amount;
use tern_rpc::chain::{BlockId, TernApiClient, TxStatus};
use tern_rpc::mining::TernAdminApiClient;

use crate::support::{Launch, NodeProcess};

fn dev_address(index: u32) -> String {
    ChainSpec::resolve("dev")
        .unwrap()
        .format_address(&dev_secret_key(index).address())
}

async fn miner_of(node: &NodeProcess, height: u64) -> String {
    node.rpc
        .chain_get_block(BlockId::Height(height), None)
        .await
        .unwrap()
        .expect("the block exists")
        .header
        .miner
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automine_confirms_a_transfer_as_soon_as_it_is_admitted() {
    let dir = tempfile::tempdir().unwrap();
    let node = NodeProcess::launch(
        dir.path(),
        &Launch {
            admin: true,
            args: &["--automine"],
            ..Launch::default()
        },
    );
    assert!(
        node.blocks.starts_with("automine") && node.blocks.ends_with(&dev_address(0)),
        "{}",
        node.blocks
    );
    let spec = ChainSpec::resolve("dev").unwrap();
    let ws = WsClientBuilder::default()
        .build(format!("ws://{}", node.rpc_addr))
        .await
        .unwrap();
    let (from, to) = (dev_secret_key(1), dev_secret_key(2));
    let mut latencies = Vec::new();
    for nonce in 0..5 {
        let tx = Transaction {
            chain_id: spec.consensus.chain_id,
            from: from.address(),
            to: to.address(),
            amount: Amount::from_base_units(10),
            fee: Amount::from_base_units(1_000),
            nonce,
        }
        .sign(&from);
        let mut status = ws
            .tx_subscribe_status(tx.id().to_string(), Some(1))
            .await
            .unwrap();
        assert_eq!(status.next().await.unwrap().unwrap(), TxStatus::Unknown);
        let submitted = Instant::now();
        node.rpc
            .tx_submit(hex::encode(encoding::encode(&tx)))
            .await
            .unwrap();
        loop {
            let next = tokio::time::timeout(Duration::from_secs(10), status.next())
                .await
                .expect("confirmed within 10 s")
                .unwrap()
                .unwrap();
            if let TxStatus::Confirmed { height, .. } = next {
                latencies.push(submitted.elapsed());
                assert_eq!(height, nonce + 1, "a block per transfer");
                break;
            }
        }
    }
    latencies.sort();
    println!(
        "automine: submit to confirmed over a subscription, median {:?}, worst {:?} (5 transfers)",
        latencies[2], latencies[4]
    );
    assert_eq!(
        miner_of(&node, 1).await,
        dev_address(0),
        "dev account 0 by default"
    );

    // dev_mine without a reward address pays the same default.
    let mined = node.rpc.dev_mine(1, None).await.unwrap();
    assert_eq!(mined.len(), 1);
    assert_eq!(miner_of(&node, 6).await, dev_address(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_time_mines_on_an_interval_paying_mine_to() {
    let dir = tempfile::tempdir().unwrap();
    let reward = dev_address(5);
    let node = NodeProcess::launch(
        dir.path(),
        &Launch {
            args: &["--block-time", "1", "--mine-to", &reward],
            ..Launch::default()
        },
    );
    assert_eq!(
        node.blocks,
        format!("a block every 1 s, rewards to {reward}")
    );
    assert!(
        node.wait_for_height(2, Duration::from_secs(30)).await,
        "two blocks within 30 s"
    );
    assert_eq!(miner_of(&node, 1).await, reward);
}
