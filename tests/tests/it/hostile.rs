//! A hostile peer against a real node: each attack ends in a disconnect (and a ban where
//! the peer proved itself dishonest), while the honest nodes keep relaying and the node's
//! bookkeeping stays within its bounds.

use std::time::Duration;

use tern_chain::crypto::dev_secret_key;
use tern_chain::testkit::ChainBuilder;
use tern_chain::types::TxId;
use tern_p2p::hostile::{hello_for, HostilePeer};
use tern_p2p::message::{InvItem, Message, MAX_INVENTORY_PER_MESSAGE};
use tern_p2p::relay::MAX_TX_IN_FLIGHT_PER_PEER;
use tern_p2p::transport::MAX_MESSAGE_LEN;
use tern_tests::net::{dev_spec, dev_transfer, eventually, NodeOptions, TestNode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PATIENCE: Duration = Duration::from_secs(20);

/// A (the target) and B, an honest peer of A.
async fn honest_pair() -> (TestNode, TestNode) {
    let a = TestNode::start(NodeOptions::dev()).await.unwrap();
    let b = TestNode::start(NodeOptions::dev().with_seeds(&[a.p2p_addr()]))
        .await
        .unwrap();
    assert!(b.reaches_peers(1, PATIENCE).await);
    (a, b)
}

/// A transfer submitted at A reaches B: relay still works.
async fn still_relays(a: &TestNode, b: &TestNode, nonce: u64) {
    let tx = dev_transfer(&dev_spec(), 0, 1, 10, nonce);
    let id = tx.id();
    a.node.pool().submit(tx).await.unwrap();
    assert!(
        b.has_pending(id, PATIENCE).await,
        "relay stopped after an attack"
    );
}

async fn is_banned(node: &TestNode, peer: &HostilePeer) -> bool {
    let id = peer.key.id().to_string();
    node.node
        .network()
        .bans()
        .await
        .unwrap()
        .iter()
        .any(|ban| ban.target == id)
}

/// Whether the node bans the peer soon (it does so once it has handled the close).
async fn gets_banned(node: &TestNode, peer: &HostilePeer) -> bool {
    eventually(PATIENCE, || is_banned(node, peer)).await
}

/// Whether the node closes a raw socket within the patience.
async fn raw_socket_closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_before_and_during_the_handshake_is_cut_off() {
    let (a, b) = honest_pair().await;

    // Plain bytes where a Noise frame should be: "GE" declares a 18,245-byte frame.
    let mut stream = TcpStream::connect(a.p2p_addr()).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: tern\r\n\r\n")
        .await
        .unwrap();
    assert!(
        raw_socket_closed(&mut stream).await,
        "bytes before the handshake"
    );
    still_relays(&a, &b, 0).await;

    // An oversized frame before the handshake.
    let mut stream = TcpStream::connect(a.p2p_addr()).await.unwrap();
    stream.write_all(&60_000u16.to_be_bytes()).await.unwrap();
    stream.write_all(&[7u8; 4096]).await.unwrap();
    assert!(
        raw_socket_closed(&mut stream).await,
        "oversized handshake frame"
    );

    // A handshake whose third message is garbage: authentication fails.
    let mut stream = TcpStream::connect(a.p2p_addr()).await.unwrap();
    stream.write_all(&32u16.to_be_bytes()).await.unwrap();
    stream.write_all(&[9u8; 32]).await.unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.unwrap();
    let mut second = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut second).await.unwrap();
    stream.write_all(&64u16.to_be_bytes()).await.unwrap();
    stream.write_all(&[3u8; 64]).await.unwrap();
    assert!(
        raw_socket_closed(&mut stream).await,
        "failed Noise handshake"
    );

    still_relays(&a, &b, 1).await;
    assert_eq!(
        a.node.network().peers().await.unwrap().len(),
        1,
        "only B remains"
    );
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_chain_hello_is_refused_without_a_ban() {
    let (a, b) = honest_pair().await;
    let mut hello = hello_for(&dev_spec());
    hello.chain_id.0 += 1;
    let mut peer = HostilePeer::connect(a.p2p_addr(), &hello).await.unwrap();
    assert!(peer.is_closed_within(PATIENCE).await);
    assert!(
        !is_banned(&a, &peer).await,
        "another chain is not an offence"
    );
    still_relays(&a, &b, 0).await;
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_gets_the_peer_banned() {
    let (a, b) = honest_pair().await;
    let mut peer = HostilePeer::connect(a.p2p_addr(), &hello_for(&dev_spec()))
        .await
        .unwrap();
    let declared = (MAX_MESSAGE_LEN as u32 + 1).to_le_bytes();
    peer.send_raw_chunk(&declared).await.unwrap();
    assert!(peer.is_closed_within(PATIENCE).await);
    assert!(gets_banned(&a, &peer).await);
    // A banned node that comes back is refused at once.
    let again =
        HostilePeer::connect_as(a.p2p_addr(), &hello_for(&dev_spec()), peer.key.clone()).await;
    // The node may refuse during the hello or right after it; either way, no session.
    if let Ok(mut again) = again {
        assert!(again.is_closed_within(PATIENCE).await);
    }
    still_relays(&a, &b, 0).await;
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_block_gets_the_peer_banned() {
    let (a, b) = honest_pair().await;
    let spec = dev_spec();
    let mut builder = ChainBuilder::new(spec.clone());
    let genesis = builder.genesis();
    let mut block = builder
        .child(&genesis, vec![], dev_secret_key(2).address())
        .unwrap();
    // Not after the median time past (genesis): breaks the timestamp rule.
    block.header.timestamp = spec.genesis_header().timestamp;
    block.header.nonce = tern_chain::pow::search_nonce(&block.header, 0, u64::MAX).unwrap();
    let hash = block.hash();

    let mut peer = HostilePeer::connect(a.p2p_addr(), &hello_for(&spec))
        .await
        .unwrap();
    peer.send(&Message::Inventory(vec![InvItem::Block(hash)]))
        .await
        .unwrap();
    // An announced block is asked for compact; the whole block answers that too.
    let request = peer.recv(PATIENCE).await;
    assert_eq!(
        request,
        Some(Message::GetData(vec![InvItem::CompactBlock(hash)]))
    );
    peer.send(&Message::Block(Box::new(block))).await.unwrap();
    assert!(peer.is_closed_within(PATIENCE).await);
    assert!(gets_banned(&a, &peer).await);
    assert_eq!(a.node.chain().tip().height().value(), 0);
    still_relays(&a, &b, 0).await;
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsolicited_data_gets_the_peer_banned() {
    let (a, b) = honest_pair().await;
    let spec = dev_spec();
    let tx = dev_transfer(&spec, 4, 5, 1, 0);
    let mut peer = HostilePeer::connect(a.p2p_addr(), &hello_for(&spec))
        .await
        .unwrap();
    peer.send(&Message::Tx(Box::new(tx.clone()))).await.unwrap();
    assert!(peer.is_closed_within(PATIENCE).await);
    assert!(gets_banned(&a, &peer).await);
    assert!(
        !a.node.pool().contains(&tx.id()),
        "unsolicited data is not even looked at"
    );
    still_relays(&a, &b, 0).await;
    b.shutdown().await;
    a.shutdown().await;
}

/// Announcements past the budget are ignored, not an offence: a link that stalled and
/// then delivers its backlog at once makes an honest peer's announcements arrive faster
/// than any rate it sent them at. The peer that announces what it never delivers is
/// dropped (not banned) once its requests keep expiring, and every bound holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_announcements_never_delivered_stay_within_bounds_and_get_the_peer_dropped() {
    // Requests expire after 2 s, so the two rounds of expiries that drop the peer take
    // seconds, not the default's 20.
    let mut options = NodeOptions::dev();
    options.request_timeout = Duration::from_secs(2);
    let a = TestNode::start(options).await.unwrap();
    let b = TestNode::start(NodeOptions::dev().with_seeds(&[a.p2p_addr()]))
        .await
        .unwrap();
    assert!(b.reaches_peers(1, PATIENCE).await);
    let mut peer = HostilePeer::connect(a.p2p_addr(), &hello_for(&dev_spec()))
        .await
        .unwrap();
    let mut sent = 0u32;
    let mut closed_early = false;
    while sent < 10_000 {
        let items: Vec<InvItem> = (sent..sent + 1_000)
            .map(|i| {
                let mut bytes = [0xAB; 32];
                bytes[..4].copy_from_slice(&i.to_le_bytes());
                InvItem::Tx(TxId::from_bytes(bytes))
            })
            .collect();
        assert!(items.len() <= MAX_INVENTORY_PER_MESSAGE);
        if peer.send(&Message::Inventory(items)).await.is_err() {
            closed_early = true;
            break;
        }
        sent += 1_000;
        let relay = a.node.network().info().await.unwrap().relay;
        assert!(relay.in_flight <= MAX_TX_IN_FLIGHT_PER_PEER, "{relay:?}");
    }
    assert!(!closed_early, "the announcements closed the connection");
    assert!(peer.is_closed_within(PATIENCE).await);
    assert!(
        !is_banned(&a, &peer).await,
        "a flood of announcements is no ban"
    );
    // Its requests are forgotten with it.
    let network = a.node.network().clone();
    assert!(
        eventually(PATIENCE, || {
            let network = network.clone();
            async move { network.info().await.unwrap().relay.in_flight == 0 }
        })
        .await
    );
    still_relays(&a, &b, 0).await;
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_answering_pings_is_dropped() {
    let mut options = NodeOptions::dev();
    options.ping = (Duration::from_millis(200), Duration::from_millis(400));
    let a = TestNode::start(options).await.unwrap();
    let mut peer = HostilePeer::connect(a.p2p_addr(), &hello_for(&dev_spec()))
        .await
        .unwrap();
    // Reads (so the node's writes go through) but never answers a ping.
    assert!(peer.is_closed_within(Duration::from_secs(10)).await);
    assert!(!is_banned(&a, &peer).await, "silence is not an offence");
    a.shutdown().await;
}
