//! Sync between real nodes on 127.0.0.1: a fresh node reaches a long chain from several
//! peers at once, around a peer that never sends bodies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use tern_core::block::Block;
use tern_core::crypto::dev_secret_key;
use tern_core::testkit::ChainBuilder;
use tern_node::p2p::headers::headers_after;
use tern_node::p2p::message::{Message, MAX_HEADERS_PER_MESSAGE};
use tern_tests::hostile::{hello_for, HostilePeer};
use tern_tests::net::{dev_spec, eventually, NodeOptions, TestNode};

const CHAIN_LENGTH: usize = 2_000;

/// 2,000 blocks on the dev chain, each with a few transfers between dev accounts.
fn long_chain() -> Vec<Block> {
    let spec = dev_spec();
    let keys: Vec<_> = (0..10).map(dev_secret_key).collect();
    let mut builder = ChainBuilder::new(spec);
    let genesis = builder.genesis();
    builder.extend(
        &genesis,
        CHAIN_LENGTH,
        &keys,
        3,
        dev_secret_key(0).address(),
    )
}

async fn source(blocks: &[Block]) -> TestNode {
    let node = TestNode::start(NodeOptions::dev()).await.unwrap();
    for block in blocks {
        node.node.chain().submit_block(block.clone()).await.unwrap();
    }
    assert_eq!(
        node.node.chain().tip().height().value(),
        blocks.len() as u64
    );
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_node_syncs_a_long_chain_from_several_peers_around_a_staller() {
    let blocks = long_chain();
    let tip = blocks.last().unwrap().hash();
    let mut sources = Vec::new();
    for _ in 0..3 {
        sources.push(source(&blocks).await);
    }
    let seeds: Vec<_> = sources.iter().map(TestNode::p2p_addr).collect();
    let mut options = NodeOptions::dev()
        .with_seeds(&seeds)
        .with_outbound_target(3);
    options.request_timeout = Duration::from_secs(1);
    let fresh = TestNode::start(options).await.unwrap();

    // A peer that offers the whole chain's headers and then never sends a body.
    let mut staller = HostilePeer::connect(fresh.p2p_addr(), &{
        let mut hello = hello_for(&dev_spec());
        let last = blocks.last().unwrap();
        hello.best_height = last.header.height;
        hello.best_hash = tip;
        hello.cumulative_work = sources[0].node.chain().tip().cumulative_work;
        hello
    })
    .await
    .unwrap();
    let reader = sources[0].node.chain().reader().clone();
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let asked_staller = std::sync::Arc::clone(&asked);
    let staller_task = tokio::spawn(async move {
        while let Some(message) = staller.recv(Duration::from_secs(60)).await {
            match message {
                Message::GetHeaders { locator, stop } => {
                    let headers =
                        headers_after(&reader, &locator, stop, MAX_HEADERS_PER_MESSAGE).unwrap();
                    if staller.send(&Message::Headers(headers)).await.is_err() {
                        break;
                    }
                }
                Message::GetData(_) => {
                    asked_staller.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                _ => {}
            }
        }
    });

    assert!(
        fresh.reaches_tip(tip, Duration::from_secs(120)).await,
        "the fresh node did not reach the tip: {:?}",
        fresh.node.network().sync_status()
    );
    let peers = fresh.node.network().peers().await.unwrap();
    let delivering = peers
        .iter()
        .filter(|p| {
            p.stats
                .received(tern_node::p2p::message::MessageKind::Block)
                > 0
        })
        .count();
    assert!(delivering >= 3, "bodies came from {delivering} peers");
    let total: u64 = peers
        .iter()
        .map(|p| {
            p.stats
                .received(tern_node::p2p::message::MessageKind::Block)
        })
        .sum();
    assert!(total >= CHAIN_LENGTH as u64);
    // The status is published twice a second; it ends at the tip, no longer syncing.
    let network = fresh.node.network().clone();
    assert!(
        eventually(Duration::from_secs(10), || {
            let status = network.sync_status();
            async move { !status.syncing && status.current_height.value() == CHAIN_LENGTH as u64 }
        })
        .await,
        "{:?}",
        fresh.node.network().sync_status()
    );
    drop(network);

    assert!(
        asked.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the staller was never asked for bodies, so the test proved nothing"
    );
    staller_task.abort();
    fresh.shutdown().await;
    for node in sources {
        node.shutdown().await;
    }
}
