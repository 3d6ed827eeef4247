//! A hostile peer: test code that opens a real connection to a node and then sends
//! whatever a scenario wants, rule-breaking included.

use std::net::SocketAddr;
use std::time::Duration;

use tern_core::encoding;
use tern_core::genesis::ChainSpec;
use tern_core::types::Height;
use tern_node::p2p::message::{Hello, Message, PROTOCOL_VERSION};
use tern_node::p2p::transport::{self, FrameReader, FrameWriter, Role, TransportError};
use tern_node::p2p::{NodeId, NodeKey};
use tokio::net::TcpStream;

/// A connected peer under test control.
#[derive(Debug)]
pub struct HostilePeer {
    /// Its identity.
    pub key: NodeKey,
    /// The node's identity, as its handshake proved.
    pub node_id: NodeId,
    /// What the node said in its hello.
    pub their_hello: Hello,
    reader: FrameReader,
    writer: FrameWriter,
}

/// A hello for `spec`'s genesis at height 0.
pub fn hello_for(spec: &ChainSpec) -> Hello {
    let genesis = spec.genesis_header();
    Hello {
        version: PROTOCOL_VERSION,
        chain_id: spec.consensus.chain_id,
        genesis: genesis.hash(),
        best_height: Height(0),
        best_hash: genesis.hash(),
        cumulative_work: genesis.target.work(),
        listen_port: 0,
        user_agent: "hostile/test".into(),
    }
}

impl HostilePeer {
    /// Dials `addr`, runs the Noise handshake, sends `hello` and reads the node's hello,
    /// without checking either: the test decides what is wrong.
    pub async fn connect(addr: SocketAddr, hello: &Hello) -> Result<HostilePeer, TransportError> {
        let key = NodeKey::generate().map_err(|e| TransportError::Handshake(e.to_string()))?;
        HostilePeer::connect_as(addr, hello, key).await
    }

    /// [`HostilePeer::connect`] with a given identity (to come back after a ban).
    pub async fn connect_as(
        addr: SocketAddr,
        hello: &Hello,
        key: NodeKey,
    ) -> Result<HostilePeer, TransportError> {
        let stream = TcpStream::connect(addr).await?;
        let (node_id, mut reader, mut writer) =
            transport::handshake(stream, &key, Role::Initiator).await?;
        writer
            .write_message(&encoding::encode(&Message::Hello(hello.clone())))
            .await?;
        let bytes = reader.read_message().await?;
        let their_hello = match encoding::decode::<Message>(&bytes) {
            Ok(Message::Hello(hello)) => hello,
            _ => {
                return Err(TransportError::Handshake(
                    "the node did not say hello".into(),
                ))
            }
        };
        Ok(HostilePeer {
            key,
            node_id,
            their_hello,
            reader,
            writer,
        })
    }

    /// Sends a message.
    pub async fn send(&mut self, message: &Message) -> Result<(), TransportError> {
        self.writer.write_message(&encoding::encode(message)).await
    }

    /// Sends `message` as the protocol frames it, but waits `pause` after its first Noise
    /// message: what a large message on a slow link looks like to the node. The message
    /// must need more than one Noise message.
    pub async fn send_split(
        &mut self,
        message: &Message,
        pause: Duration,
    ) -> Result<(), TransportError> {
        let bytes = encoding::encode(message);
        let mut plaintext = (bytes.len() as u32).to_le_bytes().to_vec();
        plaintext.extend_from_slice(&bytes);
        let mut chunks = plaintext.chunks(transport::MAX_CHUNK_PLAINTEXT);
        if let Some(first) = chunks.next() {
            self.writer.write_raw_chunk(first).await?;
        }
        tokio::time::sleep(pause).await;
        for chunk in chunks {
            self.writer.write_raw_chunk(chunk).await?;
        }
        Ok(())
    }

    /// Sends one raw Noise transport message: framing the node must refuse.
    pub async fn send_raw_chunk(&mut self, plaintext: &[u8]) -> Result<(), TransportError> {
        self.writer.write_raw_chunk(plaintext).await
    }

    /// The next message from the node, answering pings on the way; `None` once the node
    /// has closed the connection or after `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> Option<Message> {
        loop {
            let bytes = tokio::time::timeout(timeout, self.reader.read_message())
                .await
                .ok()?
                .ok()?;
            match encoding::decode::<Message>(&bytes).ok()? {
                Message::Ping(nonce) => {
                    let _ = self.send(&Message::Pong(nonce)).await;
                }
                other => return Some(other),
            }
        }
    }

    /// Whether the node closes the connection within `timeout` (messages before the close
    /// are skipped).
    pub async fn is_closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.reader.read_message()).await {
                Err(_) => return false,
                Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }
}
