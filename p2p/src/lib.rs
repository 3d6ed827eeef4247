//! # tern-p2p
//!
//! The peer-to-peer layer: encrypted connections, discovery, relay, bans and sync.
//!
//! ## Map
//!
//! | module | owns |
//! |---|---|
//! | [`identity`] | the node's static key and [`NodeId`] |
//! | [`transport`] | Noise XX over TCP; length-prefixed frames, split and reassembled |
//! | [`message`] | the wire messages and every size and count limit |
//! | [`hello`] | opening a connection: handshake, hello, chain and self checks |
//! | [`peer`] | the task that owns one connection; misbehaviour and close reasons |
//! | [`send_queue`] | a peer's outgoing messages, bounded in bytes |
//! | [`manager`] | the peer manager actor: slots, dialling, bans, relay decisions |
//! | [`relay`] | who knows what and who we wait on (announce once, ask once) |
//! | [`addrbook`], [`bans`] | addresses and bans, persisted in the data dir |
//! | [`headers`] | block locators and header answers |
//! | [`sync`] | headers-first sync, bodies from many peers at once, progress |
//! | [`handle`] | [`NetworkHandle`], the request/response API the node and RPC use |
//! | `hostile` | with the `hostile` feature only: a peer that misbehaves on purpose, for tests and the testnet |
//!
//! ## Data flow
//!
//! A connection task opens its connection (TCP, Noise, hello), asks the manager to admit
//! it, then reads. Pings, data requests and header requests it answers itself from the
//! mempool and the store; everything else goes to the manager. The manager decides what
//! to fetch and from whom, hands fetched transactions to the mempool (the same admission
//! as RPC) and blocks to the chain actor (the same path as mined blocks), and bans peers
//! whose data proves them dishonest. New tips are announced to every peer at once; newly
//! admitted transactions are announced in batches every [`P2pConfig::tx_announce_interval`].
//!
//! ## What it may not touch
//!
//! It writes the chain only through the chain actor's handle and admits transactions only
//! through the mempool's handle, as the miner and RPC do; it reads the store through
//! `tern-state`'s readers. It knows nothing of RPC shapes: the node turns its
//! [`NetworkHandle`] answers into them. Every task it starts is spawned through a
//! `tern-tasks` executor.
//!
//! ## Security notes
//!
//! Before the handshake only [`transport::HANDSHAKE_MAX_FRAME`]-byte frames are read.
//! After it, every message is decoded with the limits in [`message`]; every per-peer
//! structure (send queue, known sets, requests in flight) and every shared one (address
//! book, bans, recently seen items) has a named bound. A peer proves its identity with its
//! Noise static key; bans apply to that key and, off loopback, to its IP address.

pub mod addrbook;
pub mod bans;
pub mod handle;
pub mod headers;
pub mod hello;
#[cfg(feature = "hostile")]
pub mod hostile;
pub mod identity;
pub mod manager;
pub mod message;
pub mod peer;
pub mod relay;
pub mod send_queue;
pub mod sync;
pub mod transport;
mod workers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use handle::{NetworkHandle, NetworkInfo, PeerInfo};
pub use identity::{NodeId, NodeKey};
pub use manager::{start, P2pError};

/// A connection's number, unique for the life of the node process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Who opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The peer dialled us.
    Inbound,
    /// We dialled the peer.
    Outbound,
}

/// How the network layer behaves.
#[derive(Debug, Clone)]
pub struct P2pConfig {
    /// Where to accept connections; `None` to dial out only.
    pub listen: Option<SocketAddr>,
    /// Where the key, address book and bans live; `None` keeps all in memory (a fresh
    /// identity each start).
    pub data_dir: Option<PathBuf>,
    /// Peers to connect to at start and to keep trying.
    pub seeds: Vec<SocketAddr>,
    /// Outbound connections to keep.
    pub outbound_target: usize,
    /// Inbound connections to accept at most.
    pub max_inbound: usize,
    /// Inbound connections from one IP address at most; a testnet on one host raises it.
    pub max_inbound_per_ip: usize,
    /// How long a misbehaving peer stays banned.
    pub ban_duration: Duration,
    /// Time between pings.
    pub ping_interval: Duration,
    /// A peer that does not answer a ping within this is dropped.
    pub ping_timeout: Duration,
    /// Time allowed to connect, handshake and exchange hellos.
    pub handshake_timeout: Duration,
    /// How long one message may take to write before the peer counts as too slow.
    pub write_timeout: Duration,
    /// Time a peer has to deliver requested data before another announcer is asked.
    pub request_timeout: Duration,
    /// How often newly admitted transactions are announced, in one batch per peer.
    pub tx_announce_interval: Duration,
    /// Peers to download blocks from at once while syncing.
    pub sync_peers: usize,
    /// Blocks fetched ahead of the connected tip while syncing.
    pub sync_window: usize,
    /// Sent in hellos.
    pub user_agent: String,
}

impl Default for P2pConfig {
    fn default() -> P2pConfig {
        P2pConfig {
            listen: Some(SocketAddr::from(([0, 0, 0, 0], DEFAULT_P2P_PORT))),
            data_dir: None,
            seeds: Vec::new(),
            outbound_target: 8,
            max_inbound: 64,
            max_inbound_per_ip: 4,
            ban_duration: Duration::from_secs(24 * 60 * 60),
            ping_interval: Duration::from_secs(30),
            ping_timeout: Duration::from_secs(20),
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            request_timeout: relay::REQUEST_TIMEOUT,
            tx_announce_interval: Duration::from_millis(100),
            sync_peers: sync::SyncConfig::default().max_peers,
            sync_window: sync::SyncConfig::default().window,
            user_agent: format!("tern/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// The port nodes listen on unless told otherwise.
pub const DEFAULT_P2P_PORT: u16 = 8646;
