//! What a black-box run broke in the network layer, each kept as a regression test that
//! reproduces it from the outside: a real node, real sockets, a peer speaking the real
//! protocol and misbehaving only in timing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Duration;

use tern_core::crypto::dev_secret_key;
use tern_core::types::TxId;
use tern_node::p2p::message::{InvItem, Message};
use tern_tests::hostile::{hello_for, HostilePeer};
use tern_tests::net::{dev_spec, dev_transfer, eventually, NodeOptions, TestNode};

const PATIENCE: Duration = Duration::from_secs(30);

async fn is_banned(node: &TestNode, peer: &HostilePeer) -> bool {
    let id = peer.key.id().to_string();
    let bans = node.node.network().bans().await.unwrap();
    bans.iter().any(|ban| ban.target == id)
}

/// An honest peer's large message arrives in pieces on a slow link, and the node's ping
/// tick falls between them. The read of the partial message used to be dropped when the
/// tick won the `select!`: the stream lost its framing, the next bytes were read as a
/// length, and the honest peer was banned for an "oversized message".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_split_across_ping_ticks_is_read_whole_and_nobody_is_banned() {
    let mut options = NodeOptions::dev();
    options.ping = (Duration::from_millis(200), Duration::from_secs(20));
    let node = TestNode::start(options).await.unwrap();
    let mut peer = HostilePeer::connect(node.p2p_addr(), &hello_for(&dev_spec()))
        .await
        .unwrap();
    // 3,000 ids make a 99 kB message: two Noise messages, a second apart, five ticks.
    let ids: Vec<InvItem> = (0..3_000u32)
        .map(|i| {
            let mut bytes = [0u8; 32];
            bytes[..4].copy_from_slice(&i.to_le_bytes());
            bytes[31] = 0xee;
            InvItem::Tx(TxId::from_bytes(bytes))
        })
        .collect();
    peer.send_split(&Message::Inventory(ids.clone()), Duration::from_secs(1))
        .await
        .unwrap();
    // The node read it whole: it asks for the announced transactions.
    let asked = tokio::time::timeout(PATIENCE, async {
        loop {
            match peer.recv(PATIENCE).await {
                Some(Message::GetData(items)) => return items,
                Some(_) => {}
                None => panic!("the node closed the connection"),
            }
        }
    })
    .await
    .expect("the node asks for what was announced");
    assert!(asked.contains(&ids[0]), "{asked:?}");
    assert!(!is_banned(&node, &peer).await, "an honest peer was banned");
    assert_eq!(node.peer_count().await, 1);
    node.shutdown().await;
}

/// Peers that ask for headers and then never read, until the node's write timeout
/// fires. Their connections used to end in a task panic ("`JoinHandle` polled after
/// completion") and leave slots behind that still counted against the inbound limits:
/// an eclipse for the price of a few sockets. Now the slot goes with the task, however
/// the task ends, and the node stays healthy (the harness fails the test on any panic).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_never_read_leave_no_ghost_slots_and_no_panic() {
    let mut options = NodeOptions::dev();
    options.write_timeout = Duration::from_millis(500);
    let node = TestNode::start(options).await.unwrap();
    node.node
        .miner()
        .mine_now(300, dev_secret_key(9).address())
        .await
        .unwrap();
    let genesis = dev_spec().genesis_header().hash();
    let mut peers = Vec::new();
    for _ in 0..3 {
        let mut peer = HostilePeer::connect(node.p2p_addr(), &hello_for(&dev_spec()))
            .await
            .unwrap();
        // Each answer is 300 headers; the socket buffers fill, and a write blocks.
        for _ in 0..200 {
            let ask = Message::GetHeaders {
                locator: vec![genesis],
                stop: None,
            };
            if peer.send(&ask).await.is_err() {
                break;
            }
        }
        peers.push(peer);
    }
    let network = node.node.network().clone();
    let freed = eventually(PATIENCE, || {
        let network = network.clone();
        async move {
            let info = network.info().await.unwrap();
            let listed = network.peers().await.unwrap().len();
            info.inbound == 0 && listed == 0
        }
    })
    .await;
    assert!(freed, "slots of peers that never read were not freed");
    // The slots are usable again: an honest peer gets in.
    let honest = TestNode::start(NodeOptions::dev().with_seeds(&[node.p2p_addr()]))
        .await
        .unwrap();
    assert!(honest.reaches_peers(1, PATIENCE).await);
    drop(peers);
    honest.shutdown().await;
    node.shutdown().await;
}

/// Ids no node has: `count` of them, distinct for each `seed`.
fn junk_ids(seed: u8, count: u32) -> Vec<InvItem> {
    (0..count)
        .map(|i| {
            let mut bytes = [seed; 32];
            bytes[..4].copy_from_slice(&i.to_le_bytes());
            InvItem::Tx(TxId::from_bytes(bytes))
        })
        .collect()
}

/// Four peers each announce 4,096 transaction ids and never deliver the bodies. Their
/// requests used to take the node's whole in-flight budget: an honest peer's
/// transactions, and a block it mined during the attack, never arrived, and none of the
/// four was dropped. Now each peer has its own quota, blocks bypass it, and peers whose
/// requests keep expiring are disconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_never_delivered_starve_no_honest_peer() {
    let mut options = NodeOptions::dev();
    options.request_timeout = Duration::from_secs(1);
    let node = TestNode::start(options).await.unwrap();
    let honest = TestNode::start(NodeOptions::dev().with_seeds(&[node.p2p_addr()]))
        .await
        .unwrap();
    assert!(honest.reaches_peers(1, PATIENCE).await);
    let mut liars = Vec::new();
    for seed in 0..4u8 {
        let mut liar = HostilePeer::connect(node.p2p_addr(), &hello_for(&dev_spec()))
            .await
            .unwrap();
        liar.send(&Message::Inventory(junk_ids(0xd0 + seed, 4_096)))
            .await
            .unwrap();
        liars.push(liar);
    }
    // The node has taken the announcements in (asked the liars for some).
    let network = node.node.network().clone();
    assert!(
        eventually(PATIENCE, || {
            let network = network.clone();
            async move { network.info().await.unwrap().relay.in_flight >= 400 }
        })
        .await
    );

    // Well within the request timeout of the liars' first round, the honest peer's
    // transaction and block arrive.
    let tx = dev_transfer(&dev_spec(), 0, 1, 5, 0);
    let id = honest.node.pool().submit(tx).await.unwrap().id;
    assert!(
        node.has_pending(id, PATIENCE).await,
        "an honest transaction was starved"
    );
    let mined = honest
        .node
        .miner()
        .mine_now(1, dev_secret_key(9).address())
        .await
        .unwrap();
    assert!(
        node.reaches_tip(mined[0], PATIENCE).await,
        "an honest block was starved"
    );
    // Peers that never deliver are dropped; they are not banned (they may only be slow).
    for liar in &mut liars {
        assert!(liar.is_closed_within(PATIENCE).await, "a liar stayed");
        assert!(!is_banned(&node, liar).await);
    }
    assert_eq!(node.node.network().info().await.unwrap().relay.waiting, 0);
    honest.shutdown().await;
    node.shutdown().await;
}
