//! How the network layer behaves: [`P2pConfig`], with the defaults a node starts with.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::{relay, sync};

/// How the network layer behaves.
#[derive(Debug, Clone)]
pub struct P2pConfig {
    /// Where to accept connections; `None` to dial out only.
    pub listen: Option<SocketAddr>,
    /// The local address outbound connections leave from; `None` lets the system choose.
    pub dial_from: Option<IpAddr>,
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
    /// How a node with an empty store joins: every block since genesis, or a snapshot.
    pub sync_mode: sync::SyncMode,
    /// How far below the best header a snapshot's pivot is
    /// ([`sync::DEFAULT_PIVOT_DEPTH`]; tests of short chains use less).
    pub pivot_depth: u64,
    /// Sent in hellos.
    pub user_agent: String,
}

impl Default for P2pConfig {
    fn default() -> P2pConfig {
        P2pConfig {
            listen: Some(SocketAddr::from(([0, 0, 0, 0], DEFAULT_P2P_PORT))),
            dial_from: None,
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
            sync_mode: sync::SyncMode::Full,
            pivot_depth: sync::DEFAULT_PIVOT_DEPTH,
            user_agent: format!("tern/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// The port nodes listen on unless told otherwise.
pub const DEFAULT_P2P_PORT: u16 = 8646;
