//! The node's settings, each written once: one struct per section of the configuration
//! file, whose fields are at the same time the file's keys, the `tern node` flags and
//! their documentation, and whose `Default` is the defaults.
//!
//! A setting's doc comment is its flag's help and its comment in `tern config default`;
//! its field name is its key; its `id` (the key's path, `rpc.addr`) is how the flag
//! finds it. The layers are applied in one place, [`layered`]: the defaults, then the
//! file, then `RUST_LOG` (for `log`), then the flags that were given.
//!
//! | module | owns |
//! |---|---|
//! | `mod.rs` | [`Settings`] and its sections, with their defaults |
//! | [`given`] | [`Given`]: the flags a user gave, laid over a lower layer |
//! | [`file`] | reading a configuration file, with errors naming the file, the line and the key |
//! | [`print`] | `tern config default`: every key with its comment and default |
//! | [`resolve`] | the layered settings to the node's configuration, with the rules that join several keys |

pub mod file;
pub mod given;
pub mod print;
pub mod resolve;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::{ArgAction, Args};
use serde::{Deserialize, Serialize};
use tern_p2p::sync::SyncMode;
use tern_p2p::{P2pConfig, DEFAULT_P2P_PORT};
use tern_rpc::handles::MAX_MINER_THREADS;
use tern_rpc::server::RpcConfig;

use crate::cli_error::CliError;
use crate::service::DEFAULT_MIN_FREE_SPACE_MIB;
pub use file::MAX_CONFIG_BYTES;
pub use given::Given;
pub use print::default_toml;

/// The longest `block_time`: a day.
pub const MAX_BLOCK_TIME_SECS: u64 = 86_400;

/// Everything `tern node` can be told, by its configuration file or its flags.
#[derive(Debug, Clone, PartialEq, Eq, Args, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The chain: "dev", "testnet", or the path of a chain spec file.
    #[arg(long, value_name = "CHAIN", env = "TERN_GENESIS")]
    pub genesis: String,
    /// The data directory. Absent: $XDG_DATA_HOME/tern/<chain name>, or
    /// ~/.local/share/tern/<chain name>.
    #[arg(long, value_name = "DIR", env = "TERN_DATADIR")]
    pub datadir: Option<PathBuf>,
    /// Log filter, as in RUST_LOG (e.g. "info,tern_p2p=debug"). The flag wins over
    /// RUST_LOG, and RUST_LOG over the file.
    #[arg(long, value_name = "FILTER")]
    pub log: String,
    /// Warn when the data directory's file system has less free space than this, in MiB.
    /// A node whose disk fills up stops (with a non-zero exit) rather than run on unable
    /// to write; it resumes where it stopped once space is freed.
    #[arg(long, value_name = "MIB")]
    pub min_free_space: u64,
    /// How a node with an empty data directory joins the chain: "full" replays every
    /// block since genesis; "snapshot" takes the state at a block 64 below the best
    /// header from peers, checks every piece against that header's state root, then
    /// replays only the blocks after it (keeping headers alone below it). A data
    /// directory that has blocks already goes on from its tip either way.
    #[arg(long, value_name = "MODE", value_parser = <SyncMode as std::str::FromStr>::from_str)]
    pub sync: SyncMode,
    /// Keep block bodies, undo records and the transaction and history indexes for the
    /// last this many blocks only (at least 288); headers stay. Older blocks, their
    /// transactions and history are then answered with error 1008 by RPC. Absent: keep
    /// everything.
    #[arg(long, value_name = "DEPTH", value_parser = clap::value_parser!(u64).range(tern_state::chain::MIN_PRUNE_DEPTH..))]
    pub prune: Option<u64>,
    /// `[p2p]`.
    #[command(flatten, next_help_heading = "Peers")]
    pub p2p: P2pSettings,
    /// `[rpc]`.
    #[command(flatten, next_help_heading = "JSON-RPC")]
    pub rpc: RpcSettings,
    /// `[mining]`.
    #[command(flatten, next_help_heading = "Mining")]
    pub mining: MiningSettings,
    /// `[metrics]`.
    #[command(flatten, next_help_heading = "Metrics")]
    pub metrics: MetricsSettings,
}

/// `[p2p]`: the peer-to-peer network.
#[derive(Debug, Clone, PartialEq, Eq, Args, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct P2pSettings {
    /// Accept connections from peers (false: dial out only).
    ///
    /// The flag --no-listen sets it to false.
    #[arg(id = "p2p.listen", long = "no-listen", action = ArgAction::SetFalse, help = "Accept no inbound peers: dial out only")]
    pub listen: bool,
    /// Where to accept peers.
    #[arg(id = "p2p.addr", long = "p2p-addr", value_name = "ADDR")]
    pub addr: SocketAddr,
    /// The local address outbound connections leave from, on a host with several.
    /// Absent: the system's choice. `tern testnet` gives each node a loopback address of
    /// its own this way.
    #[arg(id = "p2p.dial_from", long = "p2p-dial-from", value_name = "IP")]
    pub dial_from: Option<IpAddr>,
    /// Peers to connect to at start and to keep retrying, as "host:port". The flag is
    /// repeated, once per peer.
    #[arg(id = "p2p.peers", long = "peer", value_name = "HOST:PORT")]
    pub peers: Vec<String>,
    /// Outbound connections to keep.
    #[arg(id = "p2p.outbound", long = "outbound", value_name = "N")]
    pub outbound: usize,
    /// Inbound connections to accept at most.
    #[arg(id = "p2p.max_inbound", long = "max-inbound", value_name = "N")]
    pub max_inbound: usize,
    /// Inbound connections from one IP address at most (raise it for a testnet on one
    /// host).
    #[arg(
        id = "p2p.max_inbound_per_ip",
        long = "max-inbound-per-ip",
        value_name = "N"
    )]
    pub max_inbound_per_ip: usize,
}

/// `[rpc]`: JSON-RPC over HTTP and WebSocket, on one port.
#[derive(Debug, Clone, PartialEq, Eq, Args, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpcSettings {
    /// Serve JSON-RPC (false: serve none).
    ///
    /// The flag --no-rpc sets it to false.
    #[arg(id = "rpc.enabled", long = "no-rpc", action = ArgAction::SetFalse, help = "Serve no JSON-RPC")]
    pub enabled: bool,
    /// Where to serve it. A non-loopback address is logged as a warning.
    #[arg(id = "rpc.addr", long = "rpc-addr", value_name = "ADDR")]
    pub addr: SocketAddr,
    /// Let every caller use the admin methods (mining, peers, bans) without the token in
    /// <datadir>/.cookie. Only takes effect on a loopback address.
    #[arg(id = "rpc.admin", long = "rpc-admin")]
    pub admin: bool,
    /// Host names a request's Host header may carry, besides IP addresses and localhost:
    /// a name that is not listed is refused (DNS rebinding). "*" allows any. The flag is
    /// repeated, once per name.
    #[arg(id = "rpc.allow_hosts", long = "rpc-allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
    /// Web pages (origins, "https://wallet.example") that may call, besides loopback ones
    /// (http://localhost:3000) and the node's own: any other page in a browser is
    /// refused. "*" allows any. The flag is repeated, once per origin.
    #[arg(
        id = "rpc.allow_origins",
        long = "rpc-allow-origin",
        value_name = "ORIGIN"
    )]
    pub allow_origins: Vec<String>,
    /// Serve the built-in explorer's web pages at http://<addr>/explorer/ (on in `tern
    /// testnet`).
    #[arg(id = "rpc.explorer", long = "explorer")]
    pub explorer: bool,
    /// Open HTTP connections at most. A refused connection is answered 503 with the
    /// reason. The node lowers it at start if its open-file limit cannot hold it.
    #[arg(id = "rpc.max_http", long = "rpc-max-http", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_http: u32,
    /// Open WebSocket connections at most. A refused connection is answered 429 with the
    /// reason. The node lowers it at start if its open-file limit cannot hold it.
    #[arg(id = "rpc.max_ws", long = "rpc-max-ws", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_ws: u32,
    /// Connections of both kinds from one IP address at most.
    #[arg(id = "rpc.max_per_ip", long = "rpc-max-per-ip", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_per_ip: u32,
}

/// `[mining]`: how this node makes blocks.
#[derive(Debug, Clone, PartialEq, Eq, Args, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MiningSettings {
    /// Mine blocks with proof of work. Not with automine or block_time.
    #[arg(id = "mining.enabled", long = "mine")]
    pub enabled: bool,
    /// Where rewards go: the miner's, automine's, block_time's and dev_mine's. Absent:
    /// dev account 0 on dev chains; other chains need it to mine.
    #[arg(id = "mining.reward", long = "mine-to", value_name = "ADDRESS")]
    pub reward: Option<String>,
    /// Nonce-search threads.
    #[arg(id = "mining.threads", long = "mine-threads", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=MAX_MINER_THREADS as i64))]
    pub threads: u16,
    /// Dev chains only: mine a block as soon as transactions are admitted (anvil's
    /// automine), so a transfer confirms in milliseconds. Not with enabled or block_time.
    #[arg(id = "mining.automine", long = "automine")]
    pub automine: bool,
    /// Dev chains only: mine a block every this many seconds (1 to 86400), empty or not.
    /// Not with enabled or automine.
    #[arg(id = "mining.block_time", long = "block-time", value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=MAX_BLOCK_TIME_SECS))]
    pub block_time: Option<u64>,
}

/// `[metrics]`: Prometheus metrics and health checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Where to serve /metrics (Prometheus text), /healthy and /ready, such as
    /// "127.0.0.1:9645". Absent: not served.
    #[arg(id = "metrics.addr", long = "metrics-addr", value_name = "ADDR")]
    pub addr: Option<SocketAddr>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            genesis: "dev".into(),
            datadir: None,
            log: "info".into(),
            min_free_space: DEFAULT_MIN_FREE_SPACE_MIB,
            sync: SyncMode::default(),
            prune: None,
            p2p: P2pSettings::default(),
            rpc: RpcSettings::default(),
            mining: MiningSettings::default(),
            metrics: MetricsSettings::default(),
        }
    }
}

impl Default for P2pSettings {
    /// The network layer's own defaults, listening on every address.
    fn default() -> Self {
        let network = P2pConfig::default();
        P2pSettings {
            listen: true,
            addr: SocketAddr::from(([0, 0, 0, 0], DEFAULT_P2P_PORT)),
            dial_from: None,
            peers: Vec::new(),
            outbound: network.outbound_target,
            max_inbound: network.max_inbound,
            max_inbound_per_ip: network.max_inbound_per_ip,
        }
    }
}

impl Default for RpcSettings {
    /// The server's own defaults.
    fn default() -> Self {
        let server = RpcConfig::default();
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        RpcSettings {
            enabled: true,
            addr: server.addr,
            admin: server.admin,
            allow_hosts: server.callers.hosts,
            allow_origins: server.callers.origins,
            explorer: server.explorer,
            max_http: count(server.limits.max_http),
            max_ws: count(server.limits.max_ws),
            max_per_ip: count(server.limits.max_per_ip),
        }
    }
}

impl Default for MiningSettings {
    fn default() -> Self {
        MiningSettings {
            enabled: false,
            reward: None,
            threads: 1,
            automine: false,
            block_time: None,
        }
    }
}

/// The settings a node runs with: `given` flags over `RUST_LOG` (for the log filter,
/// when set and not empty) over the file at `file`, if any, over the defaults.
pub fn layered(file: Option<&Path>, given: &Given<Settings>) -> Result<Settings, CliError> {
    let mut settings = match file {
        Some(path) => file::load(path)?,
        None => Settings::default(),
    };
    if let Some(filter) = std::env::var("RUST_LOG").ok().filter(|f| !f.is_empty()) {
        settings.log = filter;
    }
    given.over(settings).map_err(|e| CliError(e.to_string()))
}
