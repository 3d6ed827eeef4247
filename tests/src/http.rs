//! Plain HTTP/1.1 from a test: what a load balancer's health check or `curl` would send,
//! with no client library in between. `Host` is the address connected to, as curl sends
//! it (the RPC server refuses host names it does not know).

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// `GET path` with `Connection: close`; the status code and the body, or the error.
pub async fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    exchange(addr, &request).await
}

/// A JSON-RPC call over HTTP POST; the status code and the body, or the error.
pub async fn post_json(addr: SocketAddr, body: &str) -> std::io::Result<(u16, String)> {
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    exchange(addr, &request).await
}

async fn exchange(addr: SocketAddr, request: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:?}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// One keep-alive HTTP/1.1 connection that posts JSON-RPC calls one after another, as a
/// wallet's or a load generator's connection pool does.
#[derive(Debug)]
pub struct KeepAlive {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// Every request's head up to its `Content-Length` value, formatted once: a load
    /// generator's own per-call work takes cores from the node it measures.
    head: String,
    /// The request being sent, reused from call to call.
    request: Vec<u8>,
}

impl KeepAlive {
    /// Opens the connection.
    pub async fn connect(addr: SocketAddr) -> std::io::Result<KeepAlive> {
        let (read, writer) = TcpStream::connect(addr).await?.into_split();
        Ok(KeepAlive {
            reader: BufReader::new(read),
            writer,
            head: format!(
                "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: "
            ),
            request: Vec::new(),
        })
    }

    /// Posts `body` and reads the answer (which must carry a `Content-Length`): the status
    /// code and the body.
    pub async fn post_json(&mut self, body: &str) -> std::io::Result<(u16, String)> {
        self.request.clear();
        self.request.extend_from_slice(self.head.as_bytes());
        self.request
            .extend_from_slice(body.len().to_string().as_bytes());
        self.request.extend_from_slice(b"\r\n\r\n");
        self.request.extend_from_slice(body.as_bytes());
        self.writer.write_all(&self.request).await?;
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not an HTTP status line: {line:?}")))?;
        let mut length = None;
        loop {
            line.clear();
            if self.reader.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
        }
        let length =
            length.ok_or_else(|| std::io::Error::other("an answer without Content-Length"))?;
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).await?;
        let body = String::from_utf8(body).map_err(std::io::Error::other)?;
        Ok((status, body))
    }
}
