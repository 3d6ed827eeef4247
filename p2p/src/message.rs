//! The wire messages and their limits.
//!
//! Messages use the consensus encoding ([`tern_chain::encoding`]): a one-byte tag, then the
//! fields. Every list a peer can send has a limit named here; a message beyond one fails to
//! decode, and a peer that sends it is banned. `docs/PROTOCOL.md` lists the layouts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tern_chain::block::{Block, Header, HEADER_LEN};
use tern_chain::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use tern_chain::state_map::chunk::{Chunk, KeyPrefix};
use tern_chain::tx::SignedTransaction;
use tern_chain::types::{BlockHash, ChainId, Height, TxId, Work};

use super::compact::{BlockTxs, BlockTxsRequest, CompactBlock};
use super::transport::MAX_MESSAGE_LEN;

/// The protocol version this node speaks. A peer with another version is disconnected.
///
/// 1: the first. 2: hellos carry the lowest block body the sender holds. 3: compact
/// blocks ([`Message::CompactBlock`], [`Message::GetBlockTxs`], [`Message::BlockTxs`],
/// [`Message::SendCompact`]).
pub const PROTOCOL_VERSION: u32 = 3;

/// Addresses in one [`Message::Addrs`].
pub const MAX_ADDRS_PER_MESSAGE: usize = 1_000;
/// Ids in one [`Message::Inventory`].
pub const MAX_INVENTORY_PER_MESSAGE: usize = 5_000;
/// Ids in one [`Message::GetData`] or [`Message::NotFound`].
pub const MAX_GETDATA_PER_MESSAGE: usize = 1_000;
/// Hashes in one block locator.
pub const MAX_LOCATOR_HASHES: usize = 64;
/// Headers in one [`Message::Headers`].
pub const MAX_HEADERS_PER_MESSAGE: usize = 2_000;
/// Bytes of a user agent.
pub const MAX_USER_AGENT_LEN: usize = 64;
/// Bytes of a goodbye reason.
pub const MAX_REASON_LEN: usize = 256;

/// The smallest encoded inventory item: a tag and a hash.
const INV_ITEM_LEN: usize = 33;
/// The smallest encoded address: a tag, four bytes and a port.
const MIN_ADDR_LEN: usize = 7;

/// State chunk requests a peer may make per second; more are answered
/// [`ChunkAnswer::Busy`]. A chunk costs the server a few thousand tree nodes read, so 50 a
/// second (up to 10 MB/s of accounts) keeps one peer's sync from crowding out the rest.
pub const CHUNK_REQUESTS_PER_SEC: f64 = 50.0;
/// State chunk requests a peer may make at once after a quiet spell.
pub const CHUNK_REQUEST_BURST: f64 = 100.0;

// The largest chunk answer fits one message.
const _: () =
    assert!(1 + 32 + KeyPrefix::MAX_ENCODED_LEN + ChunkAnswer::MAX_ENCODED_LEN <= MAX_MESSAGE_LEN);

/// The answer to a [`Message::GetStateChunk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkAnswer {
    /// The subtree: to be checked against the hash the asker knows it by.
    Chunk(Chunk),
    /// The pivot is not a block on the sender's canonical chain.
    UnknownPivot,
    /// The pivot's state is no longer kept (it is too far below the sender's tip).
    PivotPruned,
    /// The sender cannot serve now: the asker is over [`CHUNK_REQUESTS_PER_SEC`], or the
    /// sender's store failed. Ask another peer, or later.
    Busy,
}

/// A thing a peer can announce or ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvItem {
    /// A transaction, by id.
    Tx(TxId),
    /// A block, by hash.
    Block(BlockHash),
    /// A block asked for as a [`Message::CompactBlock`] (in `GetData` and `NotFound`
    /// only; a block is announced as [`InvItem::Block`]).
    CompactBlock(BlockHash),
}

impl InvItem {
    /// The block hashes among `items`, whole or compact, in order.
    pub fn blocks(items: &[InvItem]) -> Vec<BlockHash> {
        items
            .iter()
            .filter_map(|item| match item {
                InvItem::Block(hash) | InvItem::CompactBlock(hash) => Some(*hash),
                InvItem::Tx(_) => None,
            })
            .collect()
    }

    /// The transaction ids among `items`, in order.
    pub fn txs(items: &[InvItem]) -> Vec<TxId> {
        items
            .iter()
            .filter_map(|item| match item {
                InvItem::Tx(id) => Some(*id),
                InvItem::Block(_) | InvItem::CompactBlock(_) => None,
            })
            .collect()
    }
}

/// What each side says first, right after the Noise handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub version: u32,
    /// The sender's chain.
    pub chain_id: ChainId,
    /// The sender's genesis block.
    pub genesis: BlockHash,
    /// The sender's tip height.
    pub best_height: Height,
    /// The sender's tip.
    pub best_hash: BlockHash,
    /// The work of the sender's chain.
    pub cumulative_work: Work,
    /// The lowest height whose block body the sender holds and serves: 0, or the
    /// height after the snapshot it joined by. Its headers go lower.
    pub lowest_body: Height,
    /// The TCP port the sender accepts connections on, or 0 if it does not listen.
    pub listen_port: u16,
    /// Free text naming the software, at most [`MAX_USER_AGENT_LEN`] bytes.
    pub user_agent: String,
}

/// One peer-to-peer message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The first message on a connection.
    Hello(Hello),
    /// Asks for a [`Message::Pong`] with the same nonce; measures round-trip time.
    Ping(u64),
    /// Answers a [`Message::Ping`].
    Pong(u64),
    /// Asks for addresses of other nodes.
    GetAddrs,
    /// Addresses of nodes believed to accept connections; only as an answer to
    /// [`Message::GetAddrs`].
    Addrs(Vec<SocketAddr>),
    /// "I have these": ids of new transactions and blocks.
    Inventory(Vec<InvItem>),
    /// "Send me these": answered with [`Message::Tx`], [`Message::Block`] and
    /// [`Message::NotFound`].
    GetData(Vec<InvItem>),
    /// Requested items the sender does not have.
    NotFound(Vec<InvItem>),
    /// A transaction; only as an answer to [`Message::GetData`].
    Tx(Box<SignedTransaction>),
    /// A block; only as an answer to [`Message::GetData`].
    Block(Box<Block>),
    /// Asks for the canonical headers after the first locator hash the receiver knows.
    GetHeaders {
        /// Hashes from the sender's tip back to genesis, densest near the tip.
        locator: Vec<BlockHash>,
        /// Stop after this block, if given.
        stop: Option<BlockHash>,
    },
    /// Consecutive headers, oldest first: the answer to [`Message::GetHeaders`], or an
    /// announcement of a chain sent unasked.
    Headers(Vec<Header>),
    /// Asks for the subtree at `prefix` of the state after block `pivot`.
    GetStateChunk {
        /// The block whose state is being fetched.
        pivot: BlockHash,
        /// Which subtree.
        prefix: KeyPrefix,
    },
    /// The answer to [`Message::GetStateChunk`], naming what it answers.
    StateChunk {
        /// The block asked about.
        pivot: BlockHash,
        /// The subtree asked for.
        prefix: KeyPrefix,
        /// The subtree, or why not.
        answer: ChunkAnswer,
    },
    /// "I am closing the connection, and why", with how long the receiver should wait
    /// before it dials again (0: any time; a ban's remaining seconds when it is banned).
    Goodbye {
        /// Why, for the log.
        reason: String,
        /// Seconds to stay away.
        retry_after_secs: u64,
    },
    /// A block as its header and its transactions' short ids: the answer to a `GetData`
    /// of an [`InvItem::CompactBlock`].
    CompactBlock(Box<CompactBlock>),
    /// Asks the sender of a compact block for the transactions the receiver lacks.
    GetBlockTxs(BlockTxsRequest),
    /// The answer to [`Message::GetBlockTxs`].
    BlockTxs(BlockTxs),
    /// "Push me each new block as a compact block at once" (true: high-bandwidth mode),
    /// or "announce it" (false, the default).
    SendCompact(bool),
}

/// The kind of a message, for statistics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum MessageKind {
    Hello,
    Ping,
    Pong,
    GetAddrs,
    Addrs,
    Inventory,
    GetData,
    NotFound,
    Tx,
    Block,
    GetHeaders,
    Headers,
    Goodbye,
    GetStateChunk,
    StateChunk,
    CompactBlock,
    GetBlockTxs,
    BlockTxs,
    SendCompact,
}

impl MessageKind {
    /// The number of kinds, for counters indexed by kind.
    pub const COUNT: usize = 19;

    /// The index of this kind in counters.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl Message {
    /// This message's kind.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Hello(_) => MessageKind::Hello,
            Message::Ping(_) => MessageKind::Ping,
            Message::Pong(_) => MessageKind::Pong,
            Message::GetAddrs => MessageKind::GetAddrs,
            Message::Addrs(_) => MessageKind::Addrs,
            Message::Inventory(_) => MessageKind::Inventory,
            Message::GetData(_) => MessageKind::GetData,
            Message::NotFound(_) => MessageKind::NotFound,
            Message::Tx(_) => MessageKind::Tx,
            Message::Block(_) => MessageKind::Block,
            Message::GetHeaders { .. } => MessageKind::GetHeaders,
            Message::Headers(_) => MessageKind::Headers,
            Message::Goodbye { .. } => MessageKind::Goodbye,
            Message::GetStateChunk { .. } => MessageKind::GetStateChunk,
            Message::StateChunk { .. } => MessageKind::StateChunk,
            Message::CompactBlock(_) => MessageKind::CompactBlock,
            Message::GetBlockTxs(_) => MessageKind::GetBlockTxs,
            Message::BlockTxs(_) => MessageKind::BlockTxs,
            Message::SendCompact(_) => MessageKind::SendCompact,
        }
    }
}

impl Encode for InvItem {
    fn encode(&self, w: &mut Writer) {
        match self {
            InvItem::Tx(id) => {
                w.u8(0);
                id.encode(w);
            }
            InvItem::Block(hash) => {
                w.u8(1);
                hash.encode(w);
            }
            InvItem::CompactBlock(hash) => {
                w.u8(2);
                hash.encode(w);
            }
        }
    }
}

impl Decode for InvItem {
    const MAX_ENCODED_LEN: usize = INV_ITEM_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("inventory kind")? {
            0 => Ok(InvItem::Tx(TxId::decode(r)?)),
            1 => Ok(InvItem::Block(BlockHash::decode(r)?)),
            2 => Ok(InvItem::CompactBlock(BlockHash::decode(r)?)),
            other => Err(invalid("inventory kind", format!("unknown kind {other}"))),
        }
    }
}

/// A socket address: 4 or 6, the address bytes, then the port.
#[derive(Debug)]
struct WireAddr(SocketAddr);

impl Encode for WireAddr {
    fn encode(&self, w: &mut Writer) {
        match self.0.ip() {
            IpAddr::V4(ip) => {
                w.u8(4);
                w.array(&ip.octets());
            }
            IpAddr::V6(ip) => {
                w.u8(6);
                w.array(&ip.octets());
            }
        }
        w.u16(self.0.port());
    }
}

impl Decode for WireAddr {
    const MAX_ENCODED_LEN: usize = 1 + 16 + 2;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ip = match r.u8("address family")? {
            4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>("ipv4 address")?)),
            6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>("ipv6 address")?)),
            other => return Err(invalid("address family", format!("unknown family {other}"))),
        };
        Ok(WireAddr(SocketAddr::new(ip, r.u16("port")?)))
    }
}

impl Encode for Hello {
    fn encode(&self, w: &mut Writer) {
        w.u32(self.version);
        w.u32(self.chain_id.0);
        self.genesis.encode(w);
        w.u64(self.best_height.value());
        self.best_hash.encode(w);
        w.array(&self.cumulative_work.to_be_bytes());
        w.u64(self.lowest_body.value());
        w.u16(self.listen_port);
        w.bytes(self.user_agent.as_bytes());
    }
}

impl Decode for Hello {
    const MAX_ENCODED_LEN: usize = 4 + 4 + 32 + 8 + 32 + 32 + 8 + 2 + 8 + MAX_USER_AGENT_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Hello {
            version: r.u32("version")?,
            chain_id: ChainId(r.u32("chain id")?),
            genesis: BlockHash::decode(r)?,
            best_height: Height(r.u64("best height")?),
            best_hash: BlockHash::decode(r)?,
            cumulative_work: Work::from_be_bytes(r.array("cumulative work")?),
            lowest_body: Height(r.u64("lowest body")?),
            listen_port: r.u16("listen port")?,
            user_agent: text(r, "user agent", MAX_USER_AGENT_LEN)?,
        })
    }
}

impl Encode for Message {
    fn encode(&self, w: &mut Writer) {
        w.u8(self.kind() as u8);
        match self {
            Message::Hello(hello) => hello.encode(w),
            Message::Ping(nonce) | Message::Pong(nonce) => w.u64(*nonce),
            Message::GetAddrs => {}
            Message::Addrs(addrs) => {
                let wire: Vec<WireAddr> = addrs.iter().copied().map(WireAddr).collect();
                w.seq(&wire);
            }
            Message::Inventory(items) | Message::GetData(items) | Message::NotFound(items) => {
                w.seq(items)
            }
            Message::Tx(tx) => tx.encode(w),
            Message::Block(block) => block.encode(w),
            Message::GetHeaders { locator, stop } => {
                w.seq(locator);
                match stop {
                    Some(hash) => {
                        w.u8(1);
                        hash.encode(w);
                    }
                    None => w.u8(0),
                }
            }
            Message::Headers(headers) => w.seq(headers),
            Message::Goodbye {
                reason,
                retry_after_secs,
            } => {
                w.bytes(reason.as_bytes());
                w.u64(*retry_after_secs);
            }
            Message::GetStateChunk { pivot, prefix } => {
                pivot.encode(w);
                prefix.encode(w);
            }
            Message::StateChunk {
                pivot,
                prefix,
                answer,
            } => {
                pivot.encode(w);
                prefix.encode(w);
                answer.encode(w);
            }
            Message::CompactBlock(compact) => compact.encode(w),
            Message::GetBlockTxs(request) => request.encode(w),
            Message::BlockTxs(answer) => answer.encode(w),
            Message::SendCompact(push) => w.u8(u8::from(*push)),
        }
    }
}

impl Decode for Message {
    const MAX_ENCODED_LEN: usize = MAX_MESSAGE_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = r.u8("message kind")?;
        let message = match tag {
            0 => Message::Hello(Hello::decode(r)?),
            1 => Message::Ping(r.u64("nonce")?),
            2 => Message::Pong(r.u64("nonce")?),
            3 => Message::GetAddrs,
            4 => Message::Addrs(
                r.seq::<WireAddr>("addresses", MAX_ADDRS_PER_MESSAGE, MIN_ADDR_LEN)?
                    .into_iter()
                    .map(|a| a.0)
                    .collect(),
            ),
            5 => Message::Inventory(r.seq("inventory", MAX_INVENTORY_PER_MESSAGE, INV_ITEM_LEN)?),
            6 => Message::GetData(r.seq("getdata", MAX_GETDATA_PER_MESSAGE, INV_ITEM_LEN)?),
            7 => Message::NotFound(r.seq("notfound", MAX_GETDATA_PER_MESSAGE, INV_ITEM_LEN)?),
            8 => Message::Tx(Box::new(SignedTransaction::decode(r)?)),
            9 => Message::Block(Box::new(Block::decode(r)?)),
            10 => {
                let locator = r.seq("locator", MAX_LOCATOR_HASHES, 32)?;
                let stop = match r.u8("stop flag")? {
                    0 => None,
                    1 => Some(BlockHash::decode(r)?),
                    other => return Err(invalid("stop flag", format!("{other} is not 0 or 1"))),
                };
                Message::GetHeaders { locator, stop }
            }
            11 => Message::Headers(r.seq("headers", MAX_HEADERS_PER_MESSAGE, HEADER_LEN)?),
            12 => Message::Goodbye {
                reason: text(r, "reason", MAX_REASON_LEN)?,
                retry_after_secs: r.u64("retry after")?,
            },
            13 => Message::GetStateChunk {
                pivot: BlockHash::decode(r)?,
                prefix: KeyPrefix::decode(r)?,
            },
            14 => Message::StateChunk {
                pivot: BlockHash::decode(r)?,
                prefix: KeyPrefix::decode(r)?,
                answer: ChunkAnswer::decode(r)?,
            },
            15 => Message::CompactBlock(Box::new(CompactBlock::decode(r)?)),
            16 => Message::GetBlockTxs(BlockTxsRequest::decode(r)?),
            17 => Message::BlockTxs(BlockTxs::decode(r)?),
            18 => match r.u8("push flag")? {
                0 => Message::SendCompact(false),
                1 => Message::SendCompact(true),
                other => return Err(invalid("push flag", format!("{other} is not 0 or 1"))),
            },
            other => return Err(invalid("message kind", format!("unknown kind {other}"))),
        };
        Ok(message)
    }
}

/// A tag (0 a chunk, then the chunk; 1 unknown pivot; 2 pivot pruned; 3 busy).
impl Encode for ChunkAnswer {
    fn encode(&self, w: &mut Writer) {
        match self {
            ChunkAnswer::Chunk(chunk) => {
                w.u8(0);
                chunk.encode(w);
            }
            ChunkAnswer::UnknownPivot => w.u8(1),
            ChunkAnswer::PivotPruned => w.u8(2),
            ChunkAnswer::Busy => w.u8(3),
        }
    }
}

impl Decode for ChunkAnswer {
    const MAX_ENCODED_LEN: usize = 1 + Chunk::MAX_ENCODED_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("chunk answer")? {
            0 => Ok(ChunkAnswer::Chunk(Chunk::decode(r)?)),
            1 => Ok(ChunkAnswer::UnknownPivot),
            2 => Ok(ChunkAnswer::PivotPruned),
            3 => Ok(ChunkAnswer::Busy),
            other => Err(invalid("chunk answer", format!("unknown answer {other}"))),
        }
    }
}

fn text(r: &mut Reader<'_>, what: &'static str, max: usize) -> Result<String, DecodeError> {
    String::from_utf8(r.bytes(what, max)?).map_err(|_| invalid(what, "not UTF-8".into()))
}

fn invalid(what: &'static str, reason: String) -> DecodeError {
    DecodeError::Invalid { what, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_chain::encoding::{decode, encode};
    use tern_chain::genesis::ChainSpec;

    fn round_trip(message: Message) {
        let bytes = encode(&message);
        assert_eq!(decode::<Message>(&bytes).unwrap(), message);
    }

    #[test]
    fn every_kind_round_trips() {
        let spec = ChainSpec::resolve("dev").unwrap();
        let block = spec.genesis_block();
        let hash = block.hash();
        round_trip(Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            chain_id: spec.consensus.chain_id,
            genesis: hash,
            best_height: Height(7),
            best_hash: hash,
            cumulative_work: block.header.target.work(),
            lowest_body: Height(3),
            listen_port: 9000,
            user_agent: "tern/test".into(),
        }));
        round_trip(Message::Ping(1));
        round_trip(Message::Pong(u64::MAX));
        round_trip(Message::GetAddrs);
        round_trip(Message::Addrs(vec![
            "127.0.0.1:1".parse().unwrap(),
            "[::1]:65535".parse().unwrap(),
        ]));
        let items = vec![InvItem::Block(hash), InvItem::Tx(TxId::from_bytes([3; 32]))];
        round_trip(Message::Inventory(items.clone()));
        round_trip(Message::GetData(items.clone()));
        round_trip(Message::NotFound(items));
        round_trip(Message::Block(Box::new(block.clone())));
        round_trip(Message::GetHeaders {
            locator: vec![hash],
            stop: Some(hash),
        });
        round_trip(Message::GetHeaders {
            locator: vec![],
            stop: None,
        });
        round_trip(Message::Headers(vec![block.header]));
        round_trip(Message::Goodbye {
            reason: "banned".into(),
            retry_after_secs: 86_400,
        });
        let prefix = KeyPrefix::from_nibbles(vec![3, 15]).unwrap();
        round_trip(Message::GetStateChunk {
            pivot: hash,
            prefix: prefix.clone(),
        });
        let accounts = spec
            .allocations()
            .iter()
            .map(|(address, amount)| {
                let account = tern_chain::state::Account {
                    balance: *amount,
                    nonce: 0,
                };
                (*address, account)
            })
            .collect();
        for answer in [
            ChunkAnswer::Chunk(Chunk::Accounts(accounts)),
            ChunkAnswer::UnknownPivot,
            ChunkAnswer::PivotPruned,
            ChunkAnswer::Busy,
        ] {
            round_trip(Message::StateChunk {
                pivot: hash,
                prefix: prefix.clone(),
                answer,
            });
        }
    }

    #[test]
    fn lists_beyond_their_limit_fail_to_decode() {
        let items = vec![InvItem::Tx(TxId::from_bytes([1; 32])); MAX_INVENTORY_PER_MESSAGE + 1];
        let error = decode::<Message>(&encode(&Message::Inventory(items))).unwrap_err();
        assert!(
            matches!(
                error,
                DecodeError::TooLong {
                    what: "inventory",
                    ..
                }
            ),
            "{error}"
        );
        let addrs = vec!["10.0.0.1:1".parse().unwrap(); MAX_ADDRS_PER_MESSAGE + 1];
        assert!(decode::<Message>(&encode(&Message::Addrs(addrs))).is_err());
    }

    #[test]
    fn unknown_tags_and_truncations_are_errors_not_panics() {
        assert!(decode::<Message>(&[200]).is_err());
        assert!(decode::<Message>(&[]).is_err());
        assert!(decode::<Message>(&[1, 0, 0]).is_err());
        assert!(decode::<Message>(&[5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode::<Message>(&bytes);
        }
    }
}
