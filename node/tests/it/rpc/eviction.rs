//! Idle keep-alive connections give their slot up to a new client of the same address.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::*;

/// Posts `body` on a keep-alive connection and reads the whole answer; its status.
async fn post_keep_alive(
    stream: &mut BufReader<TcpStream>,
    addr: std::net::SocketAddr,
    body: &str,
) -> std::io::Result<u16> {
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.get_mut().write_all(request.as_bytes()).await?;
    let mut status = None;
    let mut length = 0;
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if status.is_none() {
            status = line.split_whitespace().nth(1).and_then(|c| c.parse().ok());
        } else if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        } else if line == "\r\n" {
            break;
        }
    }
    let mut answer = vec![0u8; length];
    stream.read_exact(&mut answer).await?;
    Ok(status.unwrap_or(0))
}

const CHAIN_INFO: &str = r#"{"jsonrpc": "2.0", "method": "chain_info", "id": 1}"#;

/// Every local client comes from 127.0.0.1: one that held its address's share of idle
/// keep-alive connections (a connection pool left open) made every other local client
/// get 503 until the idle timeout, a minute. Now the connection that has waited longest
/// for a request gives its slot up to the new client, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_give_their_slots_to_a_new_client_of_their_address() {
    let node = node("dev", false).await;
    let addr = node.rpc_addr;
    let share = tern_rpc::server::connections::ConnectionLimits::default().max_per_ip;

    let mut pool = Vec::new();
    for _ in 0..share {
        let mut stream = BufReader::new(connect_from([127, 0, 0, 2], addr).await);
        assert_eq!(
            post_keep_alive(&mut stream, addr, CHAIN_INFO)
                .await
                .unwrap(),
            200
        );
        pool.push(stream);
    }

    // Another client of the same address is served at once, well within the idle timeout.
    let mut next = BufReader::new(connect_from([127, 0, 0, 2], addr).await);
    let served = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        post_keep_alive(&mut next, addr, CHAIN_INFO),
    )
    .await;
    assert_eq!(served.expect("the new client waited").unwrap(), 200);

    // The pool's oldest connection was the one closed for it; the newest still serves.
    let mut end = [0u8; 1];
    let closed =
        tokio::time::timeout(std::time::Duration::from_secs(5), pool[0].read(&mut end)).await;
    assert_eq!(
        closed.expect("the oldest connection stayed open").unwrap(),
        0
    );
    let newest = pool.last_mut().unwrap();
    assert_eq!(
        post_keep_alive(newest, addr, CHAIN_INFO).await.unwrap(),
        200
    );
}
