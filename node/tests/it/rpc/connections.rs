//! What one client may hold: connections, slow and idle sockets, pipelined calls and
//! open files, each held against the client that makes them and not the node's others.

use super::*;

/// The resident memory of process `pid`, in bytes.
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// A WebSocket client that sends `rpc.discover` as fast as it can and never reads grew
/// the node from 22 MB to 2 GB and slowed `dev_mine` to 41 s: jsonrpsee read on and
/// started a task per message. Now the node stops reading a client it cannot write to,
/// so the flood stops at the client's own socket (the write timeout that then ends the
/// connection is tested on the socket wrapper itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_pipelines_and_never_reads_is_held_at_its_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let node = support::NodeProcess::start(&dir.path().join("node"), &[], true);
    assert!(
        node.wait_for_height(0, std::time::Duration::from_secs(30))
            .await
    );
    let addr = node.rpc_addr;
    let pid = node.child.id();
    let before = resident_bytes(pid);

    let mut flood = connect_from([127, 0, 0, 2], addr).await;
    assert_eq!(
        ws_handshake(&mut flood, addr).await,
        "HTTP/1.1 101 Switching Protocols"
    );
    let frame = ws_frame(br#"{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}"#);
    let mut sent = 0usize;
    // Sends until a write has waited a second: the node has stopped reading.
    let held = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(1), flood.write_all(&frame)).await
        {
            Ok(Ok(())) => sent += 1,
            Ok(Err(_)) => break false,
            Err(_) => break true,
        }
        assert!(sent < 10_000_000, "the node never stopped reading");
    };
    assert!(
        held,
        "the connection failed instead of holding after {sent} calls"
    );

    // Meanwhile everyone else is served, and the node still mines.
    let reward = "tdev1du06gkyu77jv6nhv5uws956q5spy4s73jjn63jjhtmq3c39jp8csc3daec";
    let started = std::time::Instant::now();
    assert_eq!(
        node.rpc
            .dev_mine(5, Some(reward.into()))
            .await
            .unwrap()
            .len(),
        5
    );
    let mined_in = started.elapsed();
    let grown = resident_bytes(pid).saturating_sub(before);
    eprintln!(
        "held after {sent} calls; grew {} MiB; dev_mine(5) took {mined_in:?}",
        grown >> 20
    );
    assert!(grown < 256 << 20, "the node grew {} MiB", grown >> 20);

    // Reading again lets it go on: held, not broken.
    let mut answer = [0u8; 2];
    flood.read_exact(&mut answer).await.unwrap();
    // A text frame (an answer) or a ping (0x89), which the node sends every 20 s.
    assert!([0x81, 0x89].contains(&answer[0]), "frame {:#x}", answer[0]);
}

/// A dev node whose requests' heads and bodies each have 1 s to arrive, and its limits.
async fn node_with_a_short_request_deadline(
) -> (TestNode, tern_rpc::server::connections::ConnectionLimits) {
    let limits = tern_rpc::server::connections::ConnectionLimits {
        request_deadline: std::time::Duration::from_secs(1),
        ..Default::default()
    };
    let rpc = RpcConfig {
        limits,
        ..RpcConfig::default()
    };
    (node_with("dev", rpc).await, limits)
}

/// 100 idle WebSockets used to take every connection slot, so every HTTP client got 429;
/// bodies sent a byte a second held slots for as long as they trickled. Now HTTP and
/// WebSocket slots are apart, each address has its share, and a body has a deadline: a
/// client that holds connections holds its own slots, not the others'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_cost_their_sender_not_other_clients() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (node, limits) = node_with_a_short_request_deadline().await;
    let addr = node.rpc_addr;

    // One address fills its share with idle WebSockets, another fills the rest.
    let mut idle = Vec::new();
    for _ in 0..limits.max_per_ip {
        let mut stream = connect_from([127, 0, 0, 2], addr).await;
        assert_eq!(
            ws_handshake(&mut stream, addr).await,
            "HTTP/1.1 101 Switching Protocols"
        );
        idle.push(stream);
    }
    let mut refused = connect_from([127, 0, 0, 2], addr).await;
    let mut answer = String::new();
    refused.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("127.0.0.2 holds 64 connections"),
        "{answer}"
    );
    for _ in limits.max_per_ip..limits.max_ws {
        let mut stream = connect_from([127, 0, 0, 3], addr).await;
        assert_eq!(
            ws_handshake(&mut stream, addr).await,
            "HTTP/1.1 101 Switching Protocols"
        );
        idle.push(stream);
    }
    let mut one_more = connect_from([127, 0, 0, 4], addr).await;
    let status = ws_handshake(&mut one_more, addr).await;
    assert_eq!(status, "HTTP/1.1 429 Too Many Requests");

    // Bodies that trickle: each is answered 408 at the deadline.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = connect_from([127, 0, 0, 5], addr).await;
        let head = format!(
            "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{{"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        slow.push(stream);
    }

    // Every other client is served meanwhile, over HTTP and over WebSocket.
    assert!(node.client.chain_info().await.is_ok());
    let ws = jsonrpsee::ws_client::WsClientBuilder::default()
        .build(format!("ws://{addr}"))
        .await;
    assert!(
        ws.is_err(),
        "the WebSocket slots are full, so this one is refused"
    );
    for mut stream in slow {
        let mut answer = String::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_string(&mut answer),
        )
        .await;
        assert!(read.is_ok(), "a trickling body kept its slot");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    drop(idle);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let ws = loop {
        match jsonrpsee::ws_client::WsClientBuilder::default()
            .build(format!("ws://{addr}"))
            .await
        {
            Ok(ws) => break ws,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(error) => panic!("the WebSocket slots were never freed: {error}"),
        }
    };
    assert!(ws.chain_info().await.is_ok());
}

/// The soft and hard open-file limits of process `pid`.
fn open_file_limits(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// Under a soft limit of 1,024 open files, 1,000 idle keep-alive connections used to
/// exhaust the node's descriptors: new clients timed out, the accept loop spun, and
/// `dev_mine` failed. Now the node raises its soft limit to the hard one, fits its slots
/// into it, and one address's 1,000 connections cost that address alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connections_from_one_client_leave_the_node_serving_others() {
    let dir = tempfile::tempdir().unwrap();
    let node = support::NodeProcess::launch(
        &dir.path().join("node"),
        &support::Launch {
            admin: true,
            open_files: Some((256, 1_024)),
            ..support::Launch::default()
        },
    );
    assert!(
        node.wait_for_height(0, std::time::Duration::from_secs(30))
            .await
    );
    let pid = node.child.id();
    assert_eq!(
        open_file_limits(pid),
        (1_024, 1_024),
        "the soft limit was not raised"
    );
    let addr = node.rpc_addr;

    // A connection the node refused answers 503, one it evicted for a newer one is
    // closed; only the ones it still holds stay silent. Opened in rounds so the client
    // never holds more descriptors than one round plus the share.
    let mut held: Vec<tokio::net::TcpStream> = Vec::new();
    for _ in 0..20 {
        for _ in 0..50 {
            held.push(connect_from([127, 0, 0, 2], addr).await);
        }
        held = still_open(held).await;
    }
    let held = still_open(held).await;
    assert_eq!(held.len(), 64, "one address holds its share, no more");
    let reward = "tdev1du06gkyu77jv6nhv5uws956q5spy4s73jjn63jjhtmq3c39jp8csc3daec";
    assert_eq!(
        node.rpc
            .dev_mine(3, Some(reward.into()))
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(node.rpc.chain_info().await.is_ok());
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    assert!(open < 1_024 / 2, "{open} descriptors open");
}

/// The streams the node neither refused (503) nor closed within a moment.
async fn still_open(streams: Vec<tokio::net::TcpStream>) -> Vec<tokio::net::TcpStream> {
    use tokio::io::AsyncReadExt;
    let checks = streams.into_iter().map(|mut stream| async move {
        let mut first = [0u8; 12];
        match tokio::time::timeout(
            std::time::Duration::from_millis(300),
            stream.read(&mut first),
        )
        .await
        {
            Err(_) => Some(stream),
            Ok(Ok(0) | Err(_)) => None,
            Ok(Ok(_)) => {
                assert!(first.starts_with(b"HTTP/1.1 503"), "{first:?}");
                None
            }
        }
    });
    futures_util::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// A body declared larger than the limit is answered 413 from its header at once, not
/// waited for until the body deadline (issue 46, finding 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_declared_over_the_limit_is_refused_at_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = node_with("dev", RpcConfig::default()).await;
    let addr = node.rpc_addr;
    let mut stream = connect_from([127, 0, 0, 1], addr).await;
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 104857600\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    // The node closes the connection after its answer.
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_string(&mut answer),
    )
    .await
    .expect("answered before the 10 s body deadline")
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("the request body is 104857600 bytes"),
        "{answer}"
    );
}

/// Only a POST declared JSON is a call: another method is answered 405 and another
/// content type 415, each saying what is needed, as jsonrpsee's own HTTP service did
/// before the server answered HTTP calls itself; the connection serves on after either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_json_post_is_a_call() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let node = node_with("dev", RpcConfig::default()).await;
    let addr = node.rpc_addr;
    let stream = connect_from([127, 0, 0, 1], addr).await;
    let mut stream = BufReader::new(stream);
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"node_version"}"#;
    let post = |content_type: &str| {
        format!(
            "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let requests = [
        (
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
            "405",
            "POST is required",
        ),
        (
            post("text/plain"),
            "415",
            "Content-Type: application/json is required",
        ),
        (post("application/json"), "200", "\"result\""),
    ];
    for (request, status, says) in requests {
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).await.unwrap();
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut answer = vec![0; length];
        stream.read_exact(&mut answer).await.unwrap();
        let answer = String::from_utf8(answer).unwrap();
        assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "{head}");
        assert!(answer.contains(says), "{answer}");
    }
}

/// A request's head sent a byte at a time (slowloris) never lets its connection idle, and
/// is cut all the same once the request deadline has passed (at most twice it), while
/// other clients are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_trickles_is_cut() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (node, _) = node_with_a_short_request_deadline().await;
    let addr = node.rpc_addr;
    let stream = connect_from([127, 0, 0, 1], addr).await;
    let (mut reader, mut writer) = stream.into_split();
    let head = format!("POST / HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ");
    let trickle = tokio::spawn(async move {
        for byte in head.bytes().chain(std::iter::repeat(b'a')) {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    assert!(node.client.chain_info().await.is_ok());
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        reader.read_to_end(&mut answer),
    )
    .await;
    assert!(closed.is_ok(), "a trickling head kept its connection");
    trickle.abort();
}
