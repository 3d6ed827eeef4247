//! Opening a connection: the Noise handshake, then each side's [`Hello`], checked.
//!
//! A peer on another chain or protocol version is refused with the reason; a connection
//! that turns out to reach ourselves (our own static key answered) is dropped.

use std::time::Duration;

use tern_chain::encoding;
use tern_chain::types::{BlockHash, ChainId};
use tokio::net::TcpStream;

use super::identity::{NodeId, NodeKey};
use super::message::{Hello, Message, PROTOCOL_VERSION};
use super::transport::{self, FrameReader, FrameWriter, Role, TransportError};

/// Why a connection was not established.
#[derive(Debug, thiserror::Error)]
pub enum HelloError {
    /// The transport failed (handshake, socket, framing).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Nothing arrived in time.
    #[error("no handshake within {0:?}")]
    Timeout(Duration),
    /// The peer's first message was not a hello.
    #[error("expected a hello, got {0}")]
    NotHello(String),
    /// The peer speaks another protocol version.
    #[error("peer speaks protocol version {theirs}, we speak {ours}")]
    UnsupportedVersion {
        /// Its version.
        theirs: u32,
        /// Ours.
        ours: u32,
    },
    /// The peer is on another chain.
    #[error("peer is on chain {theirs}, we are on {ours}")]
    WrongChain {
        /// Its chain id.
        theirs: ChainId,
        /// Ours.
        ours: ChainId,
    },
    /// The peer has another genesis block.
    #[error("peer has genesis {theirs}, ours is {ours}")]
    WrongGenesis {
        /// Its genesis.
        theirs: BlockHash,
        /// Ours.
        ours: BlockHash,
    },
    /// The connection reached this very node.
    #[error("connected to ourselves")]
    SelfConnection,
}

/// An authenticated connection whose hellos were exchanged and checked.
#[derive(Debug)]
pub struct Established {
    /// Who the peer is, as proven by the handshake.
    pub node_id: NodeId,
    /// What it said.
    pub hello: Hello,
    /// Receiving half.
    pub reader: FrameReader,
    /// Sending half.
    pub writer: FrameWriter,
}

/// Runs the handshake and exchanges hellos, all within `timeout`.
pub async fn establish(
    stream: TcpStream,
    key: &NodeKey,
    role: Role,
    ours: &Hello,
    timeout: Duration,
) -> Result<Established, HelloError> {
    tokio::time::timeout(timeout, exchange(stream, key, role, ours))
        .await
        .map_err(|_| HelloError::Timeout(timeout))?
}

async fn exchange(
    stream: TcpStream,
    key: &NodeKey,
    role: Role,
    ours: &Hello,
) -> Result<Established, HelloError> {
    let (node_id, mut reader, mut writer) = transport::handshake(stream, key, role).await?;
    if node_id == key.id() {
        return Err(HelloError::SelfConnection);
    }
    writer
        .write_message(&encoding::encode(&Message::Hello(ours.clone())))
        .await?;
    let bytes = reader.read_message().await?;
    let hello = match encoding::decode::<Message>(&bytes) {
        Ok(Message::Hello(hello)) => hello,
        Ok(other) => return Err(HelloError::NotHello(format!("{:?}", other.kind()))),
        Err(e) => return Err(HelloError::NotHello(format!("undecodable message: {e}"))),
    };
    check(ours, &hello)?;
    Ok(Established {
        node_id,
        hello,
        reader,
        writer,
    })
}

/// Whether a peer's hello is compatible with ours.
pub fn check(ours: &Hello, theirs: &Hello) -> Result<(), HelloError> {
    if theirs.version != PROTOCOL_VERSION {
        return Err(HelloError::UnsupportedVersion {
            theirs: theirs.version,
            ours: PROTOCOL_VERSION,
        });
    }
    if theirs.chain_id != ours.chain_id {
        return Err(HelloError::WrongChain {
            theirs: theirs.chain_id,
            ours: ours.chain_id,
        });
    }
    if theirs.genesis != ours.genesis {
        return Err(HelloError::WrongGenesis {
            theirs: theirs.genesis,
            ours: ours.genesis,
        });
    }
    Ok(())
}
