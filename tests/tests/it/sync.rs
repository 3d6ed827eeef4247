//! Sync between real nodes on 127.0.0.1: a fresh node reaches a long chain from several
//! peers at once, around a peer that never sends bodies; peers that lie about headers or
//! bodies are banned, a node whose own store fails bans nobody for it, and a block is
//! asked of one peer at a time however the node learns of it.

use std::time::Duration;

use tern_chain::block::Block;
use tern_chain::crypto::dev_secret_key;
use tern_chain::testkit::ChainBuilder;
use tern_p2p::headers::headers_after;
use tern_p2p::hostile::{hello_for, HostilePeer};
use tern_p2p::message::{InvItem, Message, MAX_HEADERS_PER_MESSAGE};
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
        .filter(|p| p.stats.received(tern_p2p::message::MessageKind::Block) > 0)
        .count();
    assert!(delivering >= 3, "bodies came from {delivering} peers");
    let total: u64 = peers
        .iter()
        .map(|p| p.stats.received(tern_p2p::message::MessageKind::Block))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_do_not_match_their_headers_and_bad_headers_get_the_sender_banned() {
    let spec = dev_spec();
    let keys: Vec<_> = (0..10).map(dev_secret_key).collect();
    let mut builder = ChainBuilder::new(spec.clone());
    let genesis = builder.genesis();
    let blocks = builder.extend(&genesis, 20, &keys, 2, dev_secret_key(0).address());
    let headers: Vec<_> = blocks.iter().map(|b| b.header).collect();
    let work = blocks
        .iter()
        .fold(spec.genesis_header().target.work(), |w, b| {
            w.saturating_add(b.header.target.work())
        });
    let mut hello = hello_for(&spec);
    hello.best_height = blocks.last().unwrap().header.height;
    hello.best_hash = blocks.last().unwrap().hash();
    hello.cumulative_work = work;
    let fresh = TestNode::start(NodeOptions::dev()).await.unwrap();

    // Headers that are fine, then a body with a transaction left out.
    let mut liar = HostilePeer::connect(fresh.p2p_addr(), &hello)
        .await
        .unwrap();
    let mut asked_for_bodies = false;
    while let Some(message) = liar.recv(Duration::from_secs(20)).await {
        match message {
            Message::GetHeaders { .. } => {
                liar.send(&Message::Headers(headers.clone())).await.unwrap();
            }
            Message::GetData(items) => {
                asked_for_bodies = true;
                let mut tampered = blocks[0].clone();
                tampered.transactions.pop();
                assert!(items.contains(&tern_p2p::message::InvItem::Block(tampered.hash())));
                let _ = liar.send(&Message::Block(Box::new(tampered))).await;
                break;
            }
            _ => {}
        }
    }
    assert!(asked_for_bodies);
    assert!(liar.is_closed_within(Duration::from_secs(20)).await);
    let id = liar.key.id().to_string();
    let network = fresh.node.network().clone();
    let banned = eventually(Duration::from_secs(20), || {
        let network = network.clone();
        let id = id.clone();
        async move { network.bans().await.unwrap().iter().any(|b| b.target == id) }
    })
    .await;
    assert!(
        banned,
        "a body that does not match its header gets its sender banned"
    );

    // Headers that break a rule (a height out of sequence) get the sender banned too. Once
    // the first liar is gone, nobody claims its chain: the next peer is asked for headers.
    assert!(fresh.reaches_peers(0, Duration::from_secs(20)).await);
    let mut liar = HostilePeer::connect(fresh.p2p_addr(), &hello)
        .await
        .unwrap();
    while let Some(message) = liar.recv(Duration::from_secs(20)).await {
        if let Message::GetHeaders { .. } = message {
            let mut bad = headers.clone();
            bad[5].height = tern_chain::types::Height(99);
            let _ = liar.send(&Message::Headers(bad)).await;
            break;
        }
    }
    assert!(liar.is_closed_within(Duration::from_secs(20)).await);
    let id = liar.key.id().to_string();
    let banned = eventually(Duration::from_secs(20), || {
        let network = network.clone();
        let id = id.clone();
        async move { network.bans().await.unwrap().iter().any(|b| b.target == id) }
    })
    .await;
    assert!(banned, "invalid headers get their sender banned");
    assert_eq!(fresh.node.chain().tip().height().value(), 0);
    drop(network);
    fresh.shutdown().await;
}

/// Writes `value` over block `hash`'s index entry in the store of data directory `dir`
/// (the node must be stopped), as a damaged disk would: the value no longer decodes.
fn damage_index_entry(dir: &std::path::Path, hash: &tern_chain::types::BlockHash) {
    let mut options = rocksdb::Options::default();
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    let families = tern_state::store::schema::COLUMN_FAMILIES;
    let db = rocksdb::DB::open_cf(&options, tern_state::store::db_dir(dir), families).unwrap();
    let index = db
        .cf_handle(
            <tern_state::store::schema::BlockIndex as tern_state::store::schema::Table>::NAME,
        )
        .unwrap();
    db.put_cf(&index, hash.as_bytes(), b"not an index entry")
        .unwrap();
}

/// Headers whose parent the node's store cannot read blame nobody. The connection task
/// used to treat an unreadable parent as an absent one, so the headers did not attach and
/// the peer that sent them was banned for this node's damaged store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_whose_parent_the_store_cannot_read_get_nobody_banned() {
    let spec = dev_spec();
    let keys: Vec<_> = (0..10).map(dev_secret_key).collect();
    let mut builder = ChainBuilder::new(spec.clone());
    let genesis = builder.genesis();
    let ours = builder.extend(&genesis, 40, &keys, 0, dev_secret_key(0).address());
    // A branch from block 20 with more work than ours.
    let fork_point = &ours[19];
    let theirs = builder.extend(
        &fork_point.hash(),
        30,
        &keys,
        0,
        dev_secret_key(1).address(),
    );

    let dirs = tempfile::tempdir().unwrap();
    let node = TestNode::start_in(NodeOptions::dev(), dirs.path())
        .await
        .unwrap();
    for block in &ours {
        node.node.chain().submit_block(block.clone()).await.unwrap();
    }
    let work = node.node.chain().tip().cumulative_work;
    node.shutdown().await;
    damage_index_entry(dirs.path(), &fork_point.hash());

    let mut options = NodeOptions::dev();
    options.request_timeout = Duration::from_millis(500);
    let node = TestNode::start_in(options, dirs.path()).await.unwrap();
    let mut hello = hello_for(&spec);
    let last = theirs.last().unwrap();
    hello.best_height = last.header.height;
    hello.best_hash = last.hash();
    hello.cumulative_work = work.saturating_add(work);
    let mut peer = HostilePeer::connect(node.p2p_addr(), &hello).await.unwrap();
    let headers: Vec<_> = theirs.iter().map(|b| b.header).collect();
    // Answer the node's header requests with the branch, twice: a node that banned us for
    // the first answer would close the connection before asking again.
    let mut answered = 0;
    while answered < 2 {
        match peer.recv(Duration::from_secs(30)).await {
            Some(Message::GetHeaders { .. }) => {
                peer.send(&Message::Headers(headers.clone())).await.unwrap();
                answered += 1;
            }
            Some(_) => {}
            None => break,
        }
    }
    let id = peer.key.id().to_string();
    let bans = node.node.network().bans().await.unwrap();
    assert!(bans.iter().all(|ban| ban.target != id), "banned: {bans:?}");
    assert_eq!(answered, 2, "the node stopped asking");
    drop(peer);
    node.shutdown().await;
}

/// A valid block on `spec`'s genesis, which a fresh node lacks.
fn first_block(spec: &tern_chain::genesis::ChainSpec) -> Block {
    let mut builder = ChainBuilder::new(spec.clone());
    let genesis = builder.genesis();
    builder
        .child(&genesis, vec![], dev_secret_key(2).address())
        .unwrap()
}

/// Relay and sync used to keep block requests apart: a block one peer announced (relay
/// asked it) and another sent the header of (sync asked it too) was fetched twice, and
/// each task had to tell the other whose answer a copy was. Now sync owns every block
/// request, and a block in flight is asked of nobody else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_announced_by_one_peer_and_headed_by_another_is_asked_for_once() {
    let spec = dev_spec();
    let block = first_block(&spec);
    let hash = block.hash();
    let wanted = InvItem::Block(hash);
    let node = TestNode::start(NodeOptions::dev()).await.unwrap();
    let patience = Duration::from_secs(20);
    let mut announcer = HostilePeer::connect(node.p2p_addr(), &hello_for(&spec))
        .await
        .unwrap();
    let mut header_peer = HostilePeer::connect(node.p2p_addr(), &hello_for(&spec))
        .await
        .unwrap();
    announcer
        .send(&Message::Inventory(vec![wanted]))
        .await
        .unwrap();
    assert_eq!(
        announcer.recv(patience).await,
        Some(Message::GetData(vec![InvItem::CompactBlock(hash)]))
    );
    header_peer
        .send(&Message::Headers(vec![block.header]))
        .await
        .unwrap();
    // Sync has taken the header (and sent any request it made of it) once its status
    // shows the header's height.
    let network = node.node.network().clone();
    assert!(
        eventually(patience, || {
            let network = network.clone();
            async move { network.sync_status().target_height.value() >= 1 }
        })
        .await
    );
    // Whatever the node sent the header peer by then comes before the answer to a ping.
    header_peer.send(&Message::Ping(77)).await.unwrap();
    let mut asked_twice = false;
    loop {
        match header_peer.recv(patience).await {
            Some(Message::Pong(77)) => break,
            Some(Message::GetData(items)) => asked_twice |= InvItem::blocks(&items).contains(&hash),
            Some(_) => {}
            None => panic!("no answer to the ping"),
        }
    }
    assert!(
        !asked_twice,
        "the block was asked of a second peer while the first had the request"
    );
    announcer
        .send(&Message::Block(Box::new(block)))
        .await
        .unwrap();
    assert!(node.reaches_tip(hash, patience).await);
    node.shutdown().await;
}

/// A block whose one announcer answered after the request had timed out used to be
/// dropped as someone else's answer, and with nothing announcing it again the node stayed
/// behind. Now the announcer is asked for headers when its request times out, and the
/// late answer is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_delivered_after_its_request_timed_out_is_still_taken() {
    let spec = dev_spec();
    let block = first_block(&spec);
    let hash = block.hash();
    let wanted = InvItem::Block(hash);
    let mut options = NodeOptions::dev();
    options.request_timeout = Duration::from_secs(1);
    let node = TestNode::start(options).await.unwrap();
    let patience = Duration::from_secs(20);
    let mut announcer = HostilePeer::connect(node.p2p_addr(), &hello_for(&spec))
        .await
        .unwrap();
    announcer
        .send(&Message::Inventory(vec![wanted]))
        .await
        .unwrap();
    assert_eq!(
        announcer.recv(patience).await,
        Some(Message::GetData(vec![InvItem::CompactBlock(hash)]))
    );
    // Nobody else has it: once the request times out, the announcer is asked for headers.
    loop {
        match announcer.recv(patience).await {
            Some(Message::GetHeaders { .. }) => break,
            Some(_) => {}
            None => panic!("no header request after the block's request timed out"),
        }
    }
    // The late answer to the request that timed out.
    announcer
        .send(&Message::Block(Box::new(block)))
        .await
        .unwrap();
    assert!(
        node.reaches_tip(hash, patience).await,
        "the late answer was dropped"
    );
    node.shutdown().await;
}
