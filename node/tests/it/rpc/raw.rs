//! Raw sockets for the tests that need what a client library will not send: HTTP
//! requests and WebSocket frames written by hand, from chosen loopback addresses.

use super::*;

/// A WebSocket handshake as a browser sends it, from a page at `origin`.
pub(crate) fn handshake(addr: std::net::SocketAddr, host: &str, origin: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .replace("{addr}", &addr.to_string())
}

/// A WebSocket client whose handshake carries `origin`, as a browser's does.
pub(crate) async fn ws_from(
    node: &TestNode,
    origin: &str,
) -> Result<jsonrpsee::ws_client::WsClient, ClientError> {
    let mut headers = jsonrpsee::http_client::HeaderMap::new();
    headers.insert("origin", origin.parse().unwrap());
    jsonrpsee::ws_client::WsClientBuilder::default()
        .set_headers(headers)
        .build(format!("ws://{}", node.rpc_addr))
        .await
}

/// Sends raw bytes as an HTTP POST and returns the response body.
pub(crate) async fn raw_post(addr: std::net::SocketAddr, body: &str) -> String {
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    raw_http(addr, &request).await
}

/// Sends `request` as it is and returns what the server answers until it closes (or for
/// at most five seconds, for a handshake the server keeps open).
pub(crate) async fn raw_http(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut response),
    )
    .await;
    String::from_utf8_lossy(&response).into_owned()
}

/// An HTTP POST of `body`: the status and the body parsed as JSON (`Null` when empty).
pub(crate) async fn post(addr: std::net::SocketAddr, body: &str) -> (u16, serde_json::Value) {
    let response = raw_post(addr, body).await;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let json = if body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
    };
    (status, json)
}

/// A TCP connection to `addr` from the loopback address `from` (127.0.0.x), so that
/// one test can be several clients as the per-address limit sees them.
pub(crate) async fn connect_from(
    from: [u8; 4],
    addr: std::net::SocketAddr,
) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((from, 0))).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Opens a WebSocket on `stream` with a raw handshake; the server's status line.
pub(crate) async fn ws_handshake(
    stream: &mut tokio::net::TcpStream,
    addr: std::net::SocketAddr,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = handshake(addr, &addr.to_string(), &format!("http://{addr}"));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    head.lines().next().unwrap_or_default().to_owned()
}

/// One masked client text frame (mask key zero, as the protocol allows).
pub(crate) fn ws_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x81];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}
