//! The hostile-peer kit: a peer that speaks the real protocol (TCP, Noise XX, hello) and
//! then misbehaves at whichever layer a scenario asks for. Built only with the `hostile`
//! feature; the integration tests and the fault-injecting testnet share it.
//!
//! | layer | what it can do |
//! |---|---|
//! | framing | split a message across timers ([`HostilePeer::send_split`]), start one and never finish it ([`HostilePeer::send_first_part`]), send raw Noise messages ([`HostilePeer::send_raw_chunk`]) |
//! | reading | never read while asking for more ([`HostilePeer::ask_without_reading`]), read slowly ([`HostilePeer::read_slowly`]) |
//! | relay | announce what it will never deliver ([`HostilePeer::announce_unknown`], [`unknown_transactions`]) |
//! | content | any message at all, rule-breaking included ([`HostilePeer::send`]); a block with real proof of work that breaks a later rule, delivered when asked for ([`forged::block_with_bad_signature`], [`HostilePeer::deliver_announced_block`]) |
//! | sync | claim more work than it has and serve a long header chain with less ([`forged::header_chain_from_genesis`], [`HostilePeer::serve_headers`]) |

pub mod forged;

use std::net::SocketAddr;
use std::time::Duration;

use tern_chain::block::{Block, Header};
use tern_chain::encoding;
use tern_chain::genesis::ChainSpec;
use tern_chain::state_map::chunk::KeyPrefix;
use tern_chain::types::{BlockHash, Height, TxId};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::message::{
    ChunkAnswer, Hello, InvItem, Message, MAX_HEADERS_PER_MESSAGE, PROTOCOL_VERSION,
};
use super::transport::{self, FrameReader, FrameWriter, Role, TransportError};
use super::{NodeId, NodeKey};

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

/// What came of [`HostilePeer::serve_headers`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    /// Header requests answered.
    pub answers: usize,
    /// Headers sent in all.
    pub headers: usize,
    /// Blocks the node asked for: of a chain with less work than its own, none.
    pub blocks_asked: usize,
    /// Whether the node closed the connection (else the patience ran out).
    pub closed: bool,
}

/// How a wait for the node's next message ended.
enum Next {
    Message(Message),
    Closed,
    TimedOut,
}

/// `count` transaction ids no node has, distinct for each `seed`.
pub fn unknown_transactions(seed: u8, count: u32) -> Vec<InvItem> {
    (0..count)
        .map(|i| {
            let mut bytes = [seed; 32];
            if let Some(prefix) = bytes.get_mut(..4) {
                prefix.copy_from_slice(&i.to_le_bytes());
            }
            InvItem::Tx(TxId::from_bytes(bytes))
        })
        .collect()
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
        lowest_body: Height(0),
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

    /// Sends the first Noise message of `message` and nothing more: a transfer that
    /// stalls. The message must need more than one Noise message.
    pub async fn send_first_part(&mut self, message: &Message) -> Result<(), TransportError> {
        let bytes = encoding::encode(message);
        let mut plaintext = (bytes.len() as u32).to_le_bytes().to_vec();
        plaintext.extend_from_slice(&bytes);
        let first = plaintext
            .chunks(transport::MAX_CHUNK_PLAINTEXT)
            .next()
            .unwrap_or_default();
        self.writer.write_raw_chunk(first).await
    }

    /// Announces `items` (usually [`unknown_transactions`]) and delivers none of them.
    pub async fn announce_unknown(&mut self, items: Vec<InvItem>) -> Result<(), TransportError> {
        self.send(&Message::Inventory(items)).await
    }

    /// Sends `ask` up to `times` times without reading a byte of the answers, until the
    /// node stops taking them (its receive buffer and ours full). Returns how many were
    /// sent; the caller keeps the peer to hold the connection open.
    pub async fn ask_without_reading(&mut self, ask: &Message, times: usize) -> usize {
        let mut sent = 0;
        while sent < times {
            let send = tokio::time::timeout(Duration::from_secs(1), self.send(ask));
            match send.await {
                Ok(Ok(())) => sent += 1,
                _ => break,
            }
        }
        sent
    }

    /// Reads for `duration`, one message per `interval` at most, answering pings: a peer
    /// on a slow link. Returns the messages read; stops early when the node closes.
    pub async fn read_slowly(&mut self, interval: Duration, duration: Duration) -> Vec<Message> {
        let deadline = tokio::time::Instant::now() + duration;
        let mut read = Vec::new();
        while tokio::time::Instant::now() < deadline {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await {
                Some(message) => read.push(message),
                None => break,
            }
            tokio::time::sleep(interval).await;
        }
        read
    }

    /// Sends one raw Noise transport message: framing the node must refuse.
    pub async fn send_raw_chunk(&mut self, plaintext: &[u8]) -> Result<(), TransportError> {
        self.writer.write_raw_chunk(plaintext).await
    }

    /// The next message from the node, answering pings on the way; `None` once the node
    /// has closed the connection or when `timeout` has passed since the call (pings do
    /// not extend it: a node that only pings would otherwise keep a caller waiting
    /// forever).
    pub async fn recv(&mut self, timeout: Duration) -> Option<Message> {
        match self.next(Instant::now() + timeout).await {
            Next::Message(message) => Some(message),
            Next::Closed | Next::TimedOut => None,
        }
    }

    /// The next message before `deadline`, answering pings on the way.
    async fn next(&mut self, deadline: Instant) -> Next {
        loop {
            let bytes = match tokio::time::timeout_at(deadline, self.reader.read_message()).await {
                Err(_) => return Next::TimedOut,
                Ok(Err(_)) => return Next::Closed,
                Ok(Ok(bytes)) => bytes,
            };
            match encoding::decode::<Message>(&bytes) {
                Ok(Message::Ping(nonce)) => {
                    let _ = self.send(&Message::Pong(nonce)).await;
                }
                Ok(other) => return Next::Message(other),
                // A message that does not decode ends the conversation, as a close would:
                // the peer cannot follow the node any further.
                Err(_) => return Next::Closed,
            }
        }
    }

    /// The node's best chain, genesis excluded, paged through with `GetHeaders` from
    /// `genesis`: at most `max` headers, oldest first. Other messages on the way are
    /// skipped; an error if the node closes or does not answer within `patience`.
    pub async fn fetch_headers(
        &mut self,
        genesis: BlockHash,
        max: usize,
        patience: Duration,
    ) -> Result<Vec<Header>, TransportError> {
        let deadline = Instant::now() + patience;
        let mut chain: Vec<Header> = Vec::new();
        while chain.len() < max {
            let from = chain.last().map_or(genesis, Header::hash);
            self.send(&Message::GetHeaders {
                locator: vec![from],
                stop: None,
            })
            .await?;
            let page = loop {
                match self.next(deadline).await {
                    Next::Message(Message::Headers(page)) => break page,
                    Next::Message(_) => {}
                    Next::Closed => return Err(TransportError::Closed),
                    Next::TimedOut => {
                        return Err(TransportError::Io(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the node did not answer a header request",
                        )))
                    }
                }
            };
            let full = page.len() == MAX_HEADERS_PER_MESSAGE;
            chain.extend(page);
            if !full {
                break;
            }
        }
        chain.truncate(max);
        Ok(chain)
    }

    /// Asks for the chunk at `prefix` of the state after `pivot` and waits for the answer
    /// to that request (others on the way are skipped); an error if the node closes or
    /// does not answer within `patience`.
    pub async fn fetch_state_chunk(
        &mut self,
        pivot: BlockHash,
        prefix: KeyPrefix,
        patience: Duration,
    ) -> Result<ChunkAnswer, TransportError> {
        let deadline = Instant::now() + patience;
        self.send(&Message::GetStateChunk {
            pivot,
            prefix: prefix.clone(),
        })
        .await?;
        loop {
            match self.next(deadline).await {
                Next::Message(Message::StateChunk {
                    pivot: answered,
                    prefix: of,
                    answer,
                }) if answered == pivot && of == prefix => return Ok(answer),
                Next::Message(_) => {}
                Next::Closed => return Err(TransportError::Closed),
                Next::TimedOut => {
                    return Err(TransportError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the node did not answer a state chunk request",
                    )))
                }
            }
        }
    }

    /// Answers every state chunk request with a forged chunk ([`forged::forged_chunk`])
    /// until the node closes the connection or `patience` passes. Returns how many it
    /// answered, and whether the node closed.
    pub async fn serve_forged_chunks(&mut self, patience: Duration) -> (usize, bool) {
        let deadline = Instant::now() + patience;
        let mut forged = 0;
        loop {
            match self.next(deadline).await {
                Next::Message(Message::GetStateChunk { pivot, prefix }) => {
                    let chunk = forged::forged_chunk(&prefix);
                    let answer = Message::StateChunk {
                        pivot,
                        prefix,
                        answer: ChunkAnswer::Chunk(chunk),
                    };
                    if self.send(&answer).await.is_err() {
                        return (forged, true);
                    }
                    forged += 1;
                }
                Next::Message(_) => {}
                Next::Closed => return (forged, true),
                Next::TimedOut => return (forged, false),
            }
        }
    }

    /// Announces `block`, waits for the node to ask for it (whole or compact), and
    /// delivers it whole, as a node may answer either request. Returns whether it was
    /// asked for within `patience` (and so delivered).
    pub async fn deliver_announced_block(
        &mut self,
        block: &Block,
        patience: Duration,
    ) -> Result<bool, TransportError> {
        let deadline = Instant::now() + patience;
        let hash = block.hash();
        self.send(&Message::Inventory(vec![InvItem::Block(hash)]))
            .await?;
        loop {
            match self.next(deadline).await {
                Next::Message(Message::GetData(items))
                    if InvItem::blocks(&items).contains(&hash) =>
                {
                    break
                }
                Next::Message(_) => {}
                Next::Closed => return Err(TransportError::Closed),
                Next::TimedOut => return Ok(false),
            }
        }
        self.send(&Message::Block(Box::new(block.clone()))).await?;
        Ok(true)
    }

    /// Serves `chain` (headers after `genesis`, oldest first) to every `GetHeaders` and
    /// answers every `GetData` with `NotFound`, until the node closes the connection or
    /// `patience` has passed: what a peer that claimed `chain` was worth more than it is
    /// does once asked.
    pub async fn serve_headers(
        &mut self,
        chain: &[Header],
        genesis: BlockHash,
        patience: Duration,
    ) -> Served {
        let deadline = Instant::now() + patience;
        let after: std::collections::HashMap<BlockHash, usize> = std::iter::once((genesis, 0))
            .chain(chain.iter().enumerate().map(|(i, h)| (h.hash(), i + 1)))
            .collect();
        let mut served = Served::default();
        loop {
            let message = match self.next(deadline).await {
                Next::Message(message) => message,
                Next::Closed => {
                    served.closed = true;
                    return served;
                }
                Next::TimedOut => return served,
            };
            let sent = match message {
                Message::GetHeaders { locator, stop } => {
                    let start = locator.iter().find_map(|hash| after.get(hash).copied());
                    let mut page: Vec<Header> = Vec::new();
                    for header in chain
                        .iter()
                        .skip(start.unwrap_or(chain.len()))
                        .take(MAX_HEADERS_PER_MESSAGE)
                    {
                        page.push(*header);
                        // The stop header is the last one sent, as an honest node does.
                        if Some(header.hash()) == stop {
                            break;
                        }
                    }
                    served.answers += 1;
                    served.headers += page.len();
                    self.send(&Message::Headers(page)).await
                }
                Message::GetData(items) => {
                    served.blocks_asked += items
                        .iter()
                        .filter(|item| matches!(item, InvItem::Block(_) | InvItem::CompactBlock(_)))
                        .count();
                    self.send(&Message::NotFound(items)).await
                }
                _ => Ok(()),
            };
            if sent.is_err() {
                served.closed = true;
                return served;
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
