//! What a black-box run broke in the network layer, each kept as a regression test that
//! reproduces it from the outside: a real node, real sockets, a peer speaking the real
//! protocol and misbehaving only in timing.

use std::time::Duration;

use tern_chain::crypto::dev_secret_key;
use tern_chain::types::TxId;
use tern_p2p::hostile::{hello_for, unknown_transactions, HostilePeer};
use tern_p2p::message::{InvItem, Message};
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
        .mine_now(300, Some(dev_secret_key(9).address()))
        .await
        .unwrap();
    let genesis = dev_spec().genesis_header().hash();
    let mut peers = Vec::new();
    for _ in 0..3 {
        let mut peer = HostilePeer::connect(node.p2p_addr(), &hello_for(&dev_spec()))
            .await
            .unwrap();
        // Each answer is 300 headers; the socket buffers fill, and a write blocks.
        let ask = Message::GetHeaders {
            locator: vec![genesis],
            stop: None,
        };
        peer.ask_without_reading(&ask, 200).await;
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
        liar.announce_unknown(unknown_transactions(0xd0 + seed, 4_096))
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
        .mine_now(1, Some(dev_secret_key(9).address()))
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
    // A liar sees its connection close before the manager has forgotten its queue.
    assert!(
        eventually(PATIENCE, || async {
            node.node.network().info().await.unwrap().relay.waiting == 0
        })
        .await,
        "the liars' waiting announcements were not forgotten"
    );
    honest.shutdown().await;
    node.shutdown().await;
}

/// A peer whose hello claims more work than ours, and whose header answer then shows
/// nothing beyond our tip. Such a peer used to be marked "exhausted" and kept: the node
/// stayed behind the chain it had been told of while reporting itself synced. Now the
/// node reports itself syncing while a connected peer claims more work, and drops a peer
/// whose headers fall short of its claim (without a ban: it may have lost a reorg race).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_claiming_more_work_than_it_serves_is_dropped_and_never_reads_as_synced() {
    let node = TestNode::start(NodeOptions::dev()).await.unwrap();
    let mut hello = hello_for(&dev_spec());
    for _ in 0..10 {
        hello.cumulative_work = hello.cumulative_work.saturating_add(hello.cumulative_work);
    }
    hello.best_height = tern_chain::types::Height(1_000);
    let mut liar = HostilePeer::connect(node.p2p_addr(), &hello).await.unwrap();
    let network = node.node.network().clone();
    assert!(
        eventually(PATIENCE, || {
            let network = network.clone();
            async move { network.sync_status().syncing }
        })
        .await,
        "a node told of a better chain reported itself synced"
    );
    let asked = tokio::time::timeout(PATIENCE, async {
        loop {
            match liar.recv(PATIENCE).await {
                Some(Message::GetHeaders { .. }) => return true,
                Some(_) => {}
                None => return false,
            }
        }
    })
    .await;
    assert_eq!(asked, Ok(true), "the node did not ask for headers");
    liar.send(&Message::Headers(Vec::new())).await.unwrap();
    assert!(liar.is_closed_within(PATIENCE).await, "the liar was kept");
    assert!(!is_banned(&node, &liar).await);
    assert!(
        eventually(PATIENCE, || {
            let network = network.clone();
            async move { !network.sync_status().syncing }
        })
        .await,
        "still syncing once no peer claims more"
    );
    node.shutdown().await;
}

/// The node's only peer is banned, unbanned and added again while it mines on. The node
/// used to stay hundreds of blocks behind it, with a peer entry that sync trusted and no
/// bytes coming in. Now it catches up, and says it is synced only once it has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_banned_unbanned_and_added_again_is_synced_from() {
    let ahead = TestNode::start(NodeOptions::dev()).await.unwrap();
    let reward = dev_secret_key(9).address();
    let first = ahead
        .node
        .miner()
        .mine_now(100, Some(reward))
        .await
        .unwrap();
    let behind = TestNode::start(NodeOptions::dev().with_seeds(&[ahead.p2p_addr()]))
        .await
        .unwrap();
    assert!(behind.reaches_tip(*first.last().unwrap(), PATIENCE).await);

    let target = tern_p2p::bans::BanTarget::Node(ahead.node.network().node_id());
    let network = behind.node.network().clone();
    network.ban(target, Duration::from_secs(600)).await.unwrap();
    assert!(behind.reaches_peers(0, PATIENCE).await);
    let more = ahead
        .node
        .miner()
        .mine_now(150, Some(reward))
        .await
        .unwrap();
    assert!(network.unban(target).await.unwrap());
    network.add_peer(ahead.p2p_addr()).await.unwrap();
    assert!(
        behind.reaches_tip(*more.last().unwrap(), PATIENCE).await,
        "the node stayed behind its peer"
    );
    assert!(
        eventually(PATIENCE, || {
            let network = network.clone();
            async move { !network.sync_status().syncing }
        })
        .await
    );
    behind.shutdown().await;
    ahead.shutdown().await;
}

/// A peer sends a real block's header with a forged body. The node rightly banned it,
/// but then remembered the block's hash as handled and ignored an honest peer's
/// announcement of the genuine block. A body that does not match its header proves
/// nothing about the header: the genuine block is fetched from the next announcer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_body_does_not_keep_the_genuine_block_out() {
    let spec = dev_spec();
    let mut builder = tern_chain::testkit::ChainBuilder::new(spec.clone());
    let genesis = builder.genesis();
    let keys: Vec<_> = (0..3).map(dev_secret_key).collect();
    let genuine = builder
        .extend(&genesis, 1, &keys, 2, dev_secret_key(9).address())
        .remove(0);
    let hash = genuine.hash();
    let mut forged = genuine.clone();
    forged.transactions.pop();

    let node = TestNode::start(NodeOptions::dev()).await.unwrap();
    let honest = TestNode::start(NodeOptions::dev().with_seeds(&[node.p2p_addr()]))
        .await
        .unwrap();
    assert!(honest.reaches_peers(1, PATIENCE).await);
    let mut forger = HostilePeer::connect(node.p2p_addr(), &hello_for(&spec))
        .await
        .unwrap();
    forger
        .send(&Message::Inventory(vec![InvItem::Block(hash)]))
        .await
        .unwrap();
    let request = forger.recv(PATIENCE).await;
    assert_eq!(
        request,
        Some(Message::GetData(vec![InvItem::CompactBlock(hash)]))
    );
    forger
        .send(&Message::Block(Box::new(forged)))
        .await
        .unwrap();
    assert!(forger.is_closed_within(PATIENCE).await);
    assert!(eventually(PATIENCE, || is_banned(&node, &forger)).await);

    // The honest peer gets the genuine block and announces it: the node takes it.
    honest.node.chain().submit_block(genuine).await.unwrap();
    assert!(
        node.reaches_tip(hash, PATIENCE).await,
        "the genuine block was refused after a forged copy"
    );
    honest.shutdown().await;
    node.shutdown().await;
}

/// Six peers ask for headers 1,200 times each and never read. They used to grow the node
/// by 16 MiB each (2 GiB over 125 slots) before they were dropped. Now answers beyond a
/// small reserve per peer share one budget, the askers' requests wait behind their own
/// unread answers, and relay to honest peers goes on meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_ask_and_never_read_hold_a_bounded_total() {
    use tern_p2p::send_queue::ANSWER_BYTES_TOTAL;
    let node = TestNode::start(NodeOptions::dev()).await.unwrap();
    node.node
        .miner()
        .mine_now(300, Some(dev_secret_key(9).address()))
        .await
        .unwrap();
    let honest = TestNode::start(NodeOptions::dev().with_seeds(&[node.p2p_addr()]))
        .await
        .unwrap();
    assert!(honest.reaches_peers(1, PATIENCE).await);
    let genesis = dev_spec().genesis_header().hash();
    let mut askers = Vec::new();
    for _ in 0..6 {
        let mut peer = HostilePeer::connect(node.p2p_addr(), &hello_for(&dev_spec()))
            .await
            .unwrap();
        askers.push(tokio::spawn(async move {
            let ask = Message::GetHeaders {
                locator: vec![genesis],
                stop: None,
            };
            peer.ask_without_reading(&ask, 1_200).await;
            peer
        }));
    }
    let network = node.node.network().clone();
    let full = eventually(PATIENCE, || {
        let network = network.clone();
        async move {
            let queued = network.info().await.unwrap().queued_answer_bytes;
            assert!(queued <= ANSWER_BYTES_TOTAL, "{queued} bytes queued");
            queued + (1 << 20) >= ANSWER_BYTES_TOTAL
        }
    })
    .await;
    assert!(full, "the askers never filled the answer budget");
    // Relay to the honest peer, and its requests for what is relayed, are not held back
    // by the askers' answers: well within the write timeout that would drop the askers.
    let tx = dev_transfer(&dev_spec(), 0, 1, 5, 0);
    let id = tx.id();
    node.node.pool().submit(tx).await.unwrap();
    assert!(
        honest.has_pending(id, Duration::from_secs(10)).await,
        "relay waited behind the attack"
    );
    let queued = network.info().await.unwrap().queued_answer_bytes;
    assert!(queued <= ANSWER_BYTES_TOTAL, "{queued} bytes queued");
    for asker in askers {
        asker.abort();
    }
    honest.shutdown().await;
    node.shutdown().await;
}

/// Every class of hostile peer above, at once, against one node with honest peers: a
/// slow link splitting a block across ping ticks (honest, so it stays), a peer that
/// asks and never reads, one that announces what it never delivers, one that claims more
/// work than it serves, one that forges a block body, and one that starts a message and
/// stalls. Meanwhile the honest peers relay a block and a transaction and a fresh node
/// syncs the whole chain. No honest connection drops, every hostile one is closed (the
/// forger banned), and no slot or answer byte outlives its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_peers_stay_connected_and_synced_while_every_kind_of_hostile_peer_attacks() {
    use tern_p2p::send_queue::ANSWER_BYTES_TOTAL;
    let spec = dev_spec();
    let reward = dev_secret_key(9).address();
    let mut options = NodeOptions::dev();
    options.ping = (Duration::from_millis(300), Duration::from_secs(3));
    options.write_timeout = Duration::from_secs(1);
    options.request_timeout = Duration::from_secs(1);
    let node = TestNode::start(options).await.unwrap();
    let mined = node.node.miner().mine_now(300, Some(reward)).await.unwrap();
    let addr = node.p2p_addr();
    let miner = TestNode::start(NodeOptions::dev().with_seeds(&[addr]))
        .await
        .unwrap();
    let wallet = TestNode::start(NodeOptions::dev().with_seeds(&[addr]))
        .await
        .unwrap();
    assert!(node.reaches_peers(2, PATIENCE).await);
    assert!(miner.reaches_tip(*mined.last().unwrap(), PATIENCE).await);
    let honest_ids = [
        miner.node.network().node_id(),
        wallet.node.network().node_id(),
    ];
    let attack_began = std::time::Instant::now();

    // A forged body for a block the node has never seen (a side branch at height 1).
    let mut builder = tern_chain::testkit::ChainBuilder::new(spec.clone());
    let genesis = builder.genesis();
    let keys: Vec<_> = (0..3).map(dev_secret_key).collect();
    let genuine = builder.extend(&genesis, 1, &keys, 2, reward).remove(0);
    let mut forged = genuine.clone();
    forged.transactions.pop();
    let mut boastful = hello_for(&spec);
    for _ in 0..20 {
        boastful.cumulative_work = boastful
            .cumulative_work
            .saturating_add(boastful.cumulative_work);
    }
    let headers_from_genesis = Message::GetHeaders {
        locator: vec![genesis],
        stop: None,
    };
    // An honest block too big for one Noise message, on its own side branch.
    let heavy = builder
        .extend(&genesis, 1, &keys, 600, dev_secret_key(8).address())
        .remove(0);
    let heavy_hash = heavy.hash();

    let mut slow = HostilePeer::connect(addr, &hello_for(&spec)).await.unwrap();
    let mut deaf = HostilePeer::connect(addr, &hello_for(&spec)).await.unwrap();
    let mut liar = HostilePeer::connect(addr, &hello_for(&spec)).await.unwrap();
    let mut boaster = HostilePeer::connect(addr, &boastful).await.unwrap();
    let mut forger = HostilePeer::connect(addr, &hello_for(&spec)).await.unwrap();
    let mut staller = HostilePeer::connect(addr, &hello_for(&spec)).await.unwrap();
    let slow_id = slow.key.id();
    let forger_id = forger.key.id();

    let slow_link = tokio::spawn(async move {
        let item = InvItem::Block(heavy_hash);
        slow.send(&Message::Inventory(vec![item])).await.unwrap();
        loop {
            match slow.recv(PATIENCE).await {
                Some(Message::GetData(items)) if InvItem::blocks(&items).contains(&heavy_hash) => {
                    break
                }
                Some(_) => {}
                None => panic!("the node never asked the slow peer for its block"),
            }
        }
        let block = Message::Block(Box::new(heavy));
        slow.send_split(&block, Duration::from_secs(1))
            .await
            .unwrap();
        slow.read_slowly(Duration::from_millis(50), Duration::from_secs(4))
            .await;
        slow
    });
    let never_reads = tokio::spawn(async move {
        deaf.ask_without_reading(&headers_from_genesis, 200).await;
        deaf.is_closed_within(PATIENCE).await
    });
    let never_delivers = tokio::spawn(async move {
        liar.announce_unknown(unknown_transactions(0xd9, 4_096))
            .await
            .unwrap();
        liar.is_closed_within(PATIENCE).await
    });
    let serves_less = tokio::spawn(async move {
        while let Some(message) = boaster.recv(PATIENCE).await {
            if let Message::GetHeaders { .. } = message {
                let _ = boaster.send(&Message::Headers(Vec::new())).await;
            }
        }
    });
    let forges = tokio::spawn(async move {
        let hash = forged.hash();
        forger
            .send(&Message::Inventory(vec![InvItem::Block(hash)]))
            .await
            .unwrap();
        while let Some(message) = forger.recv(PATIENCE).await {
            if message == Message::GetData(vec![InvItem::CompactBlock(hash)]) {
                let _ = forger.send(&Message::Block(Box::new(forged.clone()))).await;
            }
        }
    });
    let stalls = tokio::spawn(async move {
        let big = Message::Inventory(unknown_transactions(0xc1, 3_000));
        staller.send_first_part(&big).await.unwrap();
        staller.is_closed_within(PATIENCE).await
    });

    // Under attack: a fresh node syncs the chain, a block and a transaction are relayed.
    let fresh = TestNode::start(NodeOptions::dev().with_seeds(&[addr]))
        .await
        .unwrap();
    let block = miner.node.miner().mine_now(1, Some(reward)).await.unwrap()[0];
    assert!(
        node.reaches_tip(block, PATIENCE).await,
        "a block was held up"
    );
    assert!(fresh.reaches_tip(block, PATIENCE).await, "sync was held up");
    let tx = dev_transfer(&spec, 0, 1, 5, 0);
    let id = wallet.node.pool().submit(tx).await.unwrap().id;
    assert!(
        miner.has_pending(id, PATIENCE).await,
        "a transaction was held up"
    );
    let network = node.node.network().clone();
    let queued = network.info().await.unwrap().queued_answer_bytes;
    assert!(queued <= ANSWER_BYTES_TOTAL, "{queued} answer bytes queued");

    // Every hostile connection ends; only the forger proved itself dishonest.
    assert!(
        never_reads.await.unwrap(),
        "the peer that never reads stayed"
    );
    assert!(
        never_delivers.await.unwrap(),
        "the peer that never delivers stayed"
    );
    assert!(stalls.await.unwrap(), "the stalled transfer stayed");
    tokio::time::timeout(PATIENCE, serves_less)
        .await
        .expect("the peer claiming more work stayed")
        .unwrap();
    tokio::time::timeout(PATIENCE, forges)
        .await
        .expect("the forger stayed")
        .unwrap();
    let bans = network.bans().await.unwrap();
    let banned: Vec<_> = bans.iter().map(|ban| ban.target.clone()).collect();
    assert_eq!(banned, vec![forger_id.to_string()]);

    // The honest peers, the slow one included, were connected all along.
    let slow = slow_link.await.unwrap();
    // No clone of the reader: a handle held past shutdown keeps the store open.
    let stored = node.node.chain().reader().block(&heavy_hash).unwrap();
    assert!(stored.is_some(), "the slow peer's block never arrived");
    let peers = network.peers().await.unwrap();
    for id in honest_ids.iter().chain([&slow_id]) {
        let peer = peers.iter().find(|p| p.node_id == *id);
        let peer = peer.unwrap_or_else(|| panic!("honest peer {id} was dropped"));
        assert!(
            peer.connected_for
                >= attack_began
                    .elapsed()
                    .saturating_sub(Duration::from_secs(1)),
            "honest peer {id} reconnected during the attack"
        );
    }
    // No ghosts: the slots counted are the connections listed.
    let info = network.info().await.unwrap();
    assert_eq!(info.inbound + info.outbound, peers.len(), "{info:?}");
    assert!(peers.len() >= 4, "{peers:?}");
    drop(slow);
    for honest in [fresh, wallet, miner] {
        honest.shutdown().await;
    }
    node.shutdown().await;
}

/// A peer that stops answering pings is dropped at the ping timeout. The timeout used to be
/// checked only on the next ping tick, so with the defaults (a ping every 30 s, 20 s to
/// answer) a silent peer held its slot for a minute; here, a ping every 20 s and 1 s to
/// answer, it would have stayed 40 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_answers_a_ping_is_dropped_at_the_ping_timeout() {
    let mut options = NodeOptions::dev();
    options.ping = (Duration::from_secs(20), Duration::from_secs(1));
    let node = TestNode::start(options).await.unwrap();
    let mut silent = HostilePeer::connect(node.p2p_addr(), &hello_for(&dev_spec()))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    // Reads (and so sees the ping) but never answers.
    assert!(
        silent.is_closed_within(Duration::from_secs(30)).await,
        "a silent peer was kept past its second ping tick"
    );
    println!("a silent peer was dropped after {:?}", started.elapsed());
}

/// A node banned by its only peer redialled it about twice a second for the length of the
/// ban (65 dials in 30 s, each answered "goodbye: banned"): a refused connection had
/// completed its handshake, which counted as a successful dial and reset the backoff.
/// Now the refusal says how long the ban lasts, and the node waits that long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refused_for_a_ban_does_not_redial_until_the_ban_ends() {
    let banning = TestNode::start(NodeOptions::dev()).await.unwrap();
    let banned = TestNode::start(NodeOptions::dev()).await.unwrap();
    let target = tern_p2p::bans::BanTarget::Node(banned.node.network().node_id());
    banning
        .node
        .network()
        .ban(target, Duration::from_secs(3_600))
        .await
        .unwrap();
    let refusals = || async { banning.node.network().info().await.unwrap().refused };
    banned
        .node
        .network()
        .add_peer(banning.p2p_addr())
        .await
        .unwrap();
    assert!(
        eventually(PATIENCE, || async { refusals().await >= 1 }).await,
        "the banned node never dialled"
    );
    let first = refusals().await;
    // The banned node fills its outbound slots every 500 ms: ten chances to redial.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let again = refusals().await - first;
    assert_eq!(again, 0, "redialled {again} times into a ban of an hour");
    // It had a peer and has none: isolated, not synced.
    let network = banned.node.network().clone();
    assert!(
        eventually(PATIENCE, || {
            let network = network.clone();
            async move { network.sync_status().isolated }
        })
        .await
    );
    banned.shutdown().await;
    banning.shutdown().await;
}
