//! A bare WebSocket client for load: one JSON-RPC text message out, one in, with none of
//! a client library's per-call work, so a benchmark measures the node and not the client.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// An open WebSocket to a node's RPC port.
pub struct WsKeepAlive {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// The frame being sent, reused from call to call.
    frame: Vec<u8>,
}

impl WsKeepAlive {
    /// Connects and upgrades; fails unless the server switches protocols.
    pub async fn connect(addr: SocketAddr) -> std::io::Result<WsKeepAlive> {
        let (read, mut writer) = TcpStream::connect(addr).await?.into_split();
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        writer.write_all(request.as_bytes()).await?;
        let mut reader = BufReader::new(read);
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        if !line.starts_with("HTTP/1.1 101") {
            return Err(std::io::Error::other(format!("no upgrade: {line:?}")));
        }
        while line != "\r\n" {
            line.clear();
            if reader.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(WsKeepAlive {
            reader,
            writer,
            frame: Vec::new(),
        })
    }

    /// Sends `text` as one masked text frame (mask key zero, as the protocol allows) and
    /// returns the next text message (pings and other frames skipped).
    pub async fn call(&mut self, text: &str) -> std::io::Result<String> {
        self.frame.clear();
        self.frame.push(0x81);
        match text.len() {
            len @ 0..=125 => self.frame.push(0x80 | len as u8),
            len @ 126..=0xffff => {
                self.frame.push(0x80 | 126);
                self.frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                self.frame.push(0x80 | 127);
                self.frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        self.frame.extend_from_slice(&[0, 0, 0, 0]);
        self.frame.extend_from_slice(text.as_bytes());
        self.writer.write_all(&self.frame).await?;
        loop {
            let mut head = [0u8; 2];
            self.reader.read_exact(&mut head).await?;
            let length = match head[1] & 0x7f {
                126 => u64::from(self.reader.read_u16().await?),
                127 => self.reader.read_u64().await?,
                length => u64::from(length),
            };
            let length = usize::try_from(length).map_err(std::io::Error::other)?;
            let mut payload = vec![0u8; length];
            self.reader.read_exact(&mut payload).await?;
            if head[0] & 0x0f == 1 {
                return String::from_utf8(payload).map_err(std::io::Error::other);
            }
        }
    }
}
