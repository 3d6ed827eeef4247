//! The link layer over real loopback sockets. Each test uses hosts of its own in
//! 127.0.0.0/8 (see `pair`), so tests running at once never share an address.

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// Node `node`'s addresses on host `host`: a real listener bound first, on a port the
/// system chooses, then the same port on the advertised address.
async fn node_on(host: u8) -> (NodeAddrs, TcpListener) {
    let real = TcpListener::bind((Ipv4Addr::new(127, 0, 1, host), 0))
        .await
        .unwrap();
    let port = real.local_addr().unwrap().port();
    let addrs = NodeAddrs {
        real: SocketAddr::from((Ipv4Addr::new(127, 0, 1, host), port)),
        advertised: SocketAddr::from((Ipv4Addr::new(127, 0, 0, host), port)),
    };
    (addrs, real)
}

/// Nodes 0 and 1 on hosts `host` and `host + 1`, attached; node 0's dial to node 1 and
/// what node 1 accepted.
async fn pair(
    layer: &LinkLayer,
    host: u8,
) -> (NodeAddrs, NodeAddrs, TcpStream, TcpStream, SocketAddr) {
    let (a, _a_listener) = node_on(host).await;
    let (b, b_listener) = node_on(host + 1).await;
    layer.attach(0, a).await.unwrap();
    layer.attach(1, b).await.unwrap();
    let dialled = transport::dial(b.advertised, Some(a.real.ip()))
        .await
        .unwrap();
    let (accepted, seen_from) = b_listener.accept().await.unwrap();
    (a, b, dialled, accepted, seen_from)
}

#[tokio::test]
async fn a_connection_crosses_the_layer_and_comes_from_the_senders_advertised_address() {
    let layer = LinkLayer::new(LinkProfile::default(), 1);
    let (a, _, mut dialled, mut accepted, seen_from) = pair(&layer, 10).await;
    // The receiver can only learn the address the layer owns.
    assert_eq!(seen_from.ip(), a.advertised.ip());
    dialled.write_all(b"hello").await.unwrap();
    let mut buffer = [0u8; 5];
    accepted.read_exact(&mut buffer).await.unwrap();
    assert_eq!(&buffer, b"hello");
    accepted.write_all(b"back").await.unwrap();
    let mut back = [0u8; 4];
    dialled.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"back");
    let report = layer.report();
    let bytes = |from, to| {
        report
            .iter()
            .find(|r| (r.from, r.to) == (from, to))
            .map(|r| r.bytes)
    };
    assert_eq!((bytes(0, 1), bytes(1, 0)), (Some(5), Some(4)));
    // A sender that closes closes the receiver's side too.
    drop(dialled);
    assert_eq!(accepted.read(&mut buffer).await.unwrap(), 0);
    layer.shutdown().await;
}

#[tokio::test]
async fn no_byte_crosses_a_cut_and_what_waited_arrives_in_order_after_the_heal() {
    let layer = LinkLayer::new(LinkProfile::default(), 1);
    let (_, _, mut dialled, mut accepted, _) = pair(&layer, 20).await;
    layer.partition(&"0 / 1".parse().unwrap());
    let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let writer = tokio::spawn(async move {
        dialled.write_all(&sent).await.unwrap();
        (dialled, sent)
    });
    let mut buffer = vec![0u8; 1024];
    let during = tokio::time::timeout(Duration::from_millis(300), accepted.read(&mut buffer)).await;
    assert!(during.is_err(), "a byte crossed the cut");
    assert!(layer.report().iter().all(|r| r.bytes == 0 && r.cut));
    layer.heal();
    let (_dialled, sent) = writer.await.unwrap();
    let mut received = vec![0u8; sent.len()];
    accepted.read_exact(&mut received).await.unwrap();
    assert!(
        received == sent,
        "the bytes arrived out of order or changed"
    );
    layer.shutdown().await;
}

#[tokio::test]
async fn a_connection_opened_across_a_cut_waits_for_the_heal() {
    let layer = LinkLayer::new(LinkProfile::default(), 1);
    let (a, _a_listener) = node_on(30).await;
    let (b, b_listener) = node_on(31).await;
    layer.attach(0, a).await.unwrap();
    layer.attach(1, b).await.unwrap();
    layer.set_cut(0, 1, true);
    let _dialled = transport::dial(b.advertised, Some(a.real.ip()))
        .await
        .unwrap();
    let early = tokio::time::timeout(Duration::from_millis(300), b_listener.accept()).await;
    assert!(early.is_err(), "the receiver was reached across the cut");
    layer.heal();
    let (_, seen_from) = b_listener.accept().await.unwrap();
    assert_eq!(seen_from.ip(), a.advertised.ip());
    layer.shutdown().await;
}

#[tokio::test]
async fn latency_holds_every_byte_at_least_that_long() {
    let latency = Duration::from_millis(150);
    let profile = LinkProfile {
        latency: Delay::new(latency).unwrap(),
        ..LinkProfile::default()
    };
    let layer = LinkLayer::new(profile, 1);
    let (_, _, mut dialled, mut accepted, _) = pair(&layer, 40).await;
    let started = Instant::now();
    dialled.write_all(b"x").await.unwrap();
    let mut byte = [0u8; 1];
    accepted.read_exact(&mut byte).await.unwrap();
    assert!(started.elapsed() >= latency);
    // A changed profile reaches the open connection: back to perfect, the next byte
    // arrives before the old latency would allow.
    layer.set_profile(0, 1, LinkProfile::default());
    let started = Instant::now();
    dialled.write_all(b"y").await.unwrap();
    accepted.read_exact(&mut byte).await.unwrap();
    assert!(started.elapsed() < latency, "the new profile did not apply");
    layer.shutdown().await;
}

#[tokio::test]
async fn detaching_a_node_closes_its_connections_and_its_address() {
    let layer = LinkLayer::new(LinkProfile::default(), 1);
    let (_, b, _dialled, mut accepted, _) = pair(&layer, 50).await;
    layer.detach(1);
    let mut buffer = [0u8; 1];
    assert_eq!(accepted.read(&mut buffer).await.unwrap_or(0), 0);
    // Nobody listens on the advertised address any more.
    let refused = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if TcpStream::connect(b.advertised).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(refused.is_ok(), "the advertised address still accepts");
    layer.shutdown().await;
}

#[tokio::test]
async fn a_connection_from_outside_the_testnet_is_carried_on_a_perfect_link() {
    let layer = LinkLayer::new(LinkProfile::default(), 1);
    let (b, b_listener) = node_on(60).await;
    layer.attach(1, b).await.unwrap();
    layer.set_cut(0, 1, true);
    let mut outsider = TcpStream::connect(b.advertised).await.unwrap();
    let (mut accepted, _) = b_listener.accept().await.unwrap();
    outsider.write_all(b"hi").await.unwrap();
    let mut buffer = [0u8; 2];
    accepted.read_exact(&mut buffer).await.unwrap();
    assert!(layer.report().iter().all(|r| r.bytes == 0));
    layer.shutdown().await;
}

#[test]
fn loopback_addresses_stop_where_the_octet_does() {
    let first = NodeAddrs::loopback(0, 8646).unwrap();
    assert_eq!(first.advertised, "127.0.0.1:8646".parse().unwrap());
    assert_eq!(first.real, "127.0.1.1:8646".parse().unwrap());
    assert!(NodeAddrs::loopback(MAX_LOOPBACK_NODES - 1, 1).is_some());
    assert!(NodeAddrs::loopback(MAX_LOOPBACK_NODES, 1).is_none());
    assert!(NodeAddrs::loopback(usize::MAX, 1).is_none());
}

#[tokio::test]
async fn bandwidth_spaces_the_bytes_out() {
    let profile = LinkProfile {
        bandwidth: Some("80kbit".parse().unwrap()),
        ..LinkProfile::default()
    };
    let layer = LinkLayer::new(profile, 1);
    let (_, _, mut dialled, mut accepted, _) = pair(&layer, 70).await;
    let started = Instant::now();
    // 10 kB/s: 5 kB take half a second.
    dialled.write_all(&[7u8; 5_000]).await.unwrap();
    let mut received = vec![0u8; 5_000];
    accepted.read_exact(&mut received).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    layer.shutdown().await;
}
