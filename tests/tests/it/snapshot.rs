//! Joining by snapshot: a peer speaking the real protocol walks a node's state chunk by
//! chunk, checks every chunk against a header's state root, and finds every account; a
//! flood of requests is answered "busy", never with a ban, while the node goes on
//! relaying; a fresh node joins a chain by snapshot from its peers, with every account
//! equal to theirs, and follows the chain from there; and a pruned node tells its peers
//! the lowest body it serves and answers for what it dropped by its floor.

use std::time::Duration;

use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_chain::state::Account;
use tern_chain::state_map::chunk::{Chunk, KeyPrefix, SplitChild};
use tern_chain::testkit::ChainBuilder;
use tern_chain::types::{Address, Amount, BlockHash, Height, StateRoot};
use tern_p2p::hostile::{hello_for, HostilePeer};
use tern_p2p::message::{ChunkAnswer, Message, CHUNK_REQUEST_BURST};
use tern_tests::http::post_json;
use tern_tests::net::{dev_spec, dev_transfer, eventually, NodeOptions, TestNode};

const PATIENCE: Duration = Duration::from_secs(20);

/// The dev chain with 10,000 more funded accounts: more than one chunk holds, so the
/// state comes as a split and its children.
fn spec_with_many_accounts() -> ChainSpec {
    let spec = dev_spec();
    let mut allocations = spec.allocations().to_vec();
    allocations.extend((0..10_000u32).map(|i| {
        let mut bytes = [0xa7; 32];
        bytes[..4].copy_from_slice(&i.to_be_bytes());
        (
            Address::from_bytes(bytes),
            Amount::from_base_units(u64::from(i) + 1),
        )
    }));
    spec.with_allocations(allocations).unwrap()
}

/// Every account after `pivot`, fetched chunk by chunk from `peer`'s node and each chunk
/// checked against `root` or its parent's split, sorted by address; and how many chunks.
async fn walk(
    peer: &mut HostilePeer,
    pivot: BlockHash,
    root: StateRoot,
) -> (Vec<(Address, Account)>, usize) {
    let mut found = Vec::new();
    let mut chunks = 0;
    let mut pending = vec![(KeyPrefix::root(), *root.as_bytes())];
    while let Some((prefix, hash)) = pending.pop() {
        let answer = peer
            .fetch_state_chunk(pivot, prefix.clone(), PATIENCE)
            .await
            .unwrap();
        let ChunkAnswer::Chunk(chunk) = answer else {
            panic!("prefix {prefix}: {answer:?}");
        };
        chunk
            .verify(&prefix, &hash)
            .unwrap_or_else(|e| panic!("prefix {prefix}: {e}"));
        chunks += 1;
        match chunk {
            Chunk::Accounts(accounts) => found.extend(accounts),
            Chunk::Split(children) => {
                for (nibble, child) in children.iter().enumerate() {
                    match child {
                        SplitChild::Empty => {}
                        SplitChild::Account(address, account) => found.push((*address, *account)),
                        SplitChild::Subtree { hash, .. } => {
                            pending.push((prefix.child(nibble as u8).unwrap(), *hash))
                        }
                    }
                }
            }
        }
    }
    found.sort_by_key(|(address, _)| *address);
    (found, chunks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_fetches_a_nodes_whole_state_in_chunks_that_check_against_the_headers() {
    let spec = spec_with_many_accounts();
    let node = TestNode::start(NodeOptions {
        spec: spec.clone(),
        ..NodeOptions::dev()
    })
    .await
    .unwrap();
    let genesis_accounts = node.node.chain().reader().all_accounts().unwrap();

    // Two blocks that pay new accounts.
    let mut builder = ChainBuilder::new(spec.clone());
    let mut tip = builder.genesis();
    for round in 0..2u8 {
        let txs = (0..30u8)
            .map(|i| {
                let to = Address::from_bytes([round * 64 + i; 32]);
                builder.transfer(&tip, &dev_secret_key(0), to, 7, 1, u64::from(i))
            })
            .collect();
        let block = builder
            .child(&tip, txs, Address::from_bytes([1; 32]))
            .unwrap();
        tip = block.hash();
        node.node.chain().submit_block(block).await.unwrap();
    }

    let mut peer = HostilePeer::connect(node.p2p_addr(), &hello_for(&spec))
        .await
        .unwrap();
    let headers = peer
        .fetch_headers(spec.genesis_hash(), 10, PATIENCE)
        .await
        .unwrap();
    let last = headers.last().unwrap();
    assert_eq!(last.hash(), tip);

    let (accounts, chunks) = walk(&mut peer, tip, last.state_root).await;
    let mut expected = node.node.chain().reader().all_accounts().unwrap();
    expected.sort_by_key(|(address, _)| *address);
    assert_eq!(accounts, expected, "the state at the tip");
    assert!(chunks > 1, "10,000 accounts come in more than one chunk");

    // The genesis state is still kept, and served as it was.
    let genesis_root = spec.genesis_header().state_root;
    let (accounts, _) = walk(&mut peer, spec.genesis_hash(), genesis_root).await;
    let mut expected = genesis_accounts;
    expected.sort_by_key(|(address, _)| *address);
    assert_eq!(accounts, expected, "the state at genesis");

    let unknown = peer
        .fetch_state_chunk(BlockHash::from_bytes([9; 32]), KeyPrefix::root(), PATIENCE)
        .await
        .unwrap();
    assert_eq!(unknown, ChunkAnswer::UnknownPivot);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_chunk_requests_is_answered_busy_without_a_ban_and_relay_goes_on() {
    let a = TestNode::start(NodeOptions::dev()).await.unwrap();
    let b = TestNode::start(NodeOptions::dev().with_seeds(&[a.p2p_addr()]))
        .await
        .unwrap();
    assert!(b.reaches_peers(1, PATIENCE).await);
    let spec = dev_spec();
    let mut peer = HostilePeer::connect(a.p2p_addr(), &hello_for(&spec))
        .await
        .unwrap();
    let ask = Message::GetStateChunk {
        pivot: spec.genesis_hash(),
        prefix: KeyPrefix::root(),
    };
    let sent = peer.ask_without_reading(&ask, 1_000).await;
    assert_eq!(sent, 1_000);
    let (mut chunks, mut busy) = (0usize, 0usize);
    while chunks + busy < sent {
        match peer.recv(PATIENCE).await {
            Some(Message::StateChunk { answer, .. }) => match answer {
                ChunkAnswer::Chunk(_) => chunks += 1,
                ChunkAnswer::Busy => busy += 1,
                other => panic!("{other:?}"),
            },
            Some(_) => {}
            None => panic!("the node closed after {chunks} chunks and {busy} busy answers"),
        }
    }
    assert!(
        chunks >= CHUNK_REQUEST_BURST as usize,
        "a burst is served: {chunks}"
    );
    assert!(busy > 0, "what is over the rate is answered busy");

    // Still connected, not banned, and relay goes on.
    let answer = peer
        .fetch_state_chunk(spec.genesis_hash(), KeyPrefix::root(), PATIENCE)
        .await;
    assert!(answer.is_ok(), "{answer:?}");
    let id = peer.key.id().to_string();
    let bans = a.node.network().bans().await.unwrap();
    assert!(bans.iter().all(|ban| ban.target != id));
    let tx = dev_transfer(&spec, 0, 1, 10, 0);
    let txid = tx.id();
    a.node.pool().submit(tx).await.unwrap();
    assert!(b.has_pending(txid, PATIENCE).await);
    a.shutdown().await;
    b.shutdown().await;
}

/// A node on `spec` holding `blocks` blocks, each paying 10 new accounts.
async fn source_with_blocks(spec: &ChainSpec, blocks: u8) -> (TestNode, ChainBuilder) {
    let node = TestNode::start(NodeOptions {
        spec: spec.clone(),
        ..NodeOptions::dev()
    })
    .await
    .unwrap();
    let mut builder = ChainBuilder::new(spec.clone());
    let mut tip = builder.genesis();
    for round in 0..blocks {
        let txs = (0..10u8)
            .map(|i| {
                let mut to = [0x5e; 32];
                to[0] = round;
                to[1] = i;
                builder.transfer(
                    &tip,
                    &dev_secret_key(0),
                    Address::from_bytes(to),
                    9,
                    1,
                    u64::from(i),
                )
            })
            .collect();
        let block = builder
            .child(&tip, txs, Address::from_bytes([2; 32]))
            .unwrap();
        tip = block.hash();
        node.node.chain().submit_block(block).await.unwrap();
    }
    (node, builder)
}

fn sorted(mut accounts: Vec<(Address, Account)>) -> Vec<(Address, Account)> {
    accounts.sort_by_key(|(address, _)| *address);
    accounts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_node_joins_by_snapshot_with_every_account_and_follows_the_chain() {
    let spec = spec_with_many_accounts();
    let (source, mut builder) = source_with_blocks(&spec, 20).await;
    let fresh = TestNode::start(
        NodeOptions {
            spec: spec.clone(),
            rpc: true,
            ..NodeOptions::dev()
        }
        .with_seeds(&[source.p2p_addr()])
        .with_snapshot_sync(5),
    )
    .await
    .unwrap();
    let tip = source.node.chain().tip().hash;
    assert!(
        fresh.reaches_tip(tip, PATIENCE).await,
        "the fresh node reaches the tip"
    );
    assert_eq!(
        sorted(fresh.node.chain().reader().all_accounts().unwrap()),
        sorted(source.node.chain().reader().all_accounts().unwrap()),
        "every account is the source's"
    );
    let reader = fresh.node.chain().reader();
    let floor = reader.floor().unwrap();
    assert_eq!(floor.value(), 15, "the pivot is 5 below the best header");
    assert!(
        reader.block_at(floor).unwrap().is_none(),
        "headers only at the pivot and below"
    );
    assert!(reader.block_at(floor.next().unwrap()).unwrap().is_some());
    assert_eq!(fresh.node.network().sync_status().mode.name(), "snapshot");

    // Asked for what it does not hold, it says so by its floor, never "not found".
    let rpc = fresh.node.rpc_addr().unwrap();
    let call = |method: &str, params: &str| {
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#)
    };
    let mut early = [0x5e; 32];
    early[0] = 0;
    early[1] = 0;
    let early = Address::from_bytes(early).to_bech32(&spec.address_prefix);
    for body in [
        call("chain_getBlock", "[3]"),
        call("tx_get", &format!("[\"{}\"]", "ab".repeat(32))),
        call("account_history", &format!("[\"{early}\"]")),
    ] {
        let (status, answer) = post_json(rpc, &body).await.unwrap();
        assert_eq!(status, 200);
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["error"]["code"], 1008, "{answer}");
        assert_eq!(answer["error"]["data"]["floor"], 15, "{answer}");
    }
    let (_, answer) = post_json(rpc, &call("chain_getBlock", "[16]"))
        .await
        .unwrap();
    assert!(answer.contains("\"height\":16"), "{answer}");

    // It follows the chain: a new block at the source reaches it and connects.
    let next = builder
        .child(&tip, Vec::new(), Address::from_bytes([3; 32]))
        .unwrap();
    let next_hash = next.hash();
    source.node.chain().submit_block(next).await.unwrap();
    assert!(fresh.reaches_tip(next_hash, PATIENCE).await);
    fresh.shutdown().await;
    source.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_serving_forged_chunks_is_banned_and_the_node_finishes_from_honest_ones() {
    let spec = spec_with_many_accounts();
    let (source, _) = source_with_blocks(&spec, 12).await;
    let fresh = TestNode::start(
        NodeOptions {
            spec: spec.clone(),
            ..NodeOptions::dev()
        }
        .with_snapshot_sync(5),
    )
    .await
    .unwrap();
    // The liar connects first: it claims a chain as high as any (so it is asked for
    // chunks) and no more work than genesis (so it is not asked for headers).
    let mut hello = hello_for(&spec);
    hello.best_height = Height(1_000_000);
    let mut liar = HostilePeer::connect(fresh.p2p_addr(), &hello)
        .await
        .unwrap();
    assert!(fresh.reaches_peers(1, PATIENCE).await);
    fresh
        .node
        .network()
        .add_peer(source.p2p_addr())
        .await
        .unwrap();

    let (forged, closed) = liar.serve_forged_chunks(PATIENCE).await;
    assert!(forged >= 1, "the liar was asked for a chunk");
    assert!(closed, "the node dropped the liar");
    let id = liar.key.id().to_string();
    let banned = eventually(PATIENCE, || async {
        let bans = fresh.node.network().bans().await.unwrap();
        bans.iter()
            .any(|ban| ban.target == id && ban.reason.contains("forged state chunk"))
    })
    .await;
    assert!(banned, "the liar is banned for its chunk");

    let tip = source.node.chain().tip().hash;
    assert!(fresh.reaches_tip(tip, PATIENCE).await);
    assert_eq!(
        sorted(fresh.node.chain().reader().all_accounts().unwrap()),
        sorted(source.node.chain().reader().all_accounts().unwrap()),
        "every account is the honest source's"
    );
    assert_eq!(fresh.node.chain().reader().floor().unwrap().value(), 7);
    fresh.shutdown().await;
    source.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_node_tells_its_peers_the_lowest_body_it_serves() {
    let spec = dev_spec();
    let mut builder = ChainBuilder::new(spec.clone());
    let genesis = builder.genesis();
    let blocks = builder.extend(&genesis, 300, &[], 0, Address::from_bytes([4; 32]));
    let node = TestNode::start(NodeOptions {
        rpc: true,
        prune: Some(tern_state::chain::MIN_PRUNE_DEPTH),
        ..NodeOptions::dev()
    })
    .await
    .unwrap();
    for block in &blocks {
        node.node.chain().submit_block(block.clone()).await.unwrap();
    }
    // Tip 300, depth 288: bodies from 13 on.
    let floor = node.node.chain().reader().floor().unwrap();
    assert_eq!(floor.value(), 12);
    let peer = HostilePeer::connect(node.p2p_addr(), &hello_for(&spec))
        .await
        .unwrap();
    assert_eq!(peer.their_hello.lowest_body, Height(13));
    let rpc = node.node.rpc_addr().unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"chain_getBlock","params":[5]}"#;
    let (_, answer) = post_json(rpc, body).await.unwrap();
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["error"]["code"], 1008, "{answer}");
    assert_eq!(answer["error"]["data"]["floor"], 12, "{answer}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_refused_while_a_snapshot_is_fetched() {
    // Alone, a node joining by snapshot waits in the headers phase: its accounts are
    // those of no block yet, and it says so rather than answer.
    let node = TestNode::start(NodeOptions {
        rpc: true,
        ..NodeOptions::dev().with_snapshot_sync(5)
    })
    .await
    .unwrap();
    let rpc = node.node.rpc_addr().unwrap();
    let address = dev_secret_key(0)
        .address()
        .to_bech32(&dev_spec().address_prefix);
    for method in ["account_get", "account_getProof"] {
        let body =
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":["{address}"]}}"#);
        let (_, answer) = post_json(rpc, &body).await.unwrap();
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["error"]["code"], 1007, "{answer}");
        assert_eq!(answer["error"]["data"]["reason"], "restoring", "{answer}");
    }
    node.shutdown().await;
}
