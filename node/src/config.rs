//! The node's configuration file (TOML). Every `tern node` flag has a key here; a flag
//! given on the command line wins over the file, and the file over the defaults.
//! `tern config default` prints [`default_toml`], every key with its default and a
//! comment; a test checks that it parses back to the defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli_error::CliError;
use tern_p2p::{P2pConfig, DEFAULT_P2P_PORT};
use tern_rpc::server::RpcConfig;

/// The whole file. Unknown keys are errors, so a typo never goes unnoticed.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `dev`, `testnet`, or a chain spec path.
    pub genesis: Option<String>,
    /// The data directory.
    pub datadir: Option<PathBuf>,
    /// Log filter, as in `RUST_LOG`.
    pub log: Option<String>,
    /// Warn below this much free space in the data directory, in MiB.
    pub min_free_space: Option<u64>,
    /// How a node with an empty store joins: `full` or `snapshot`.
    pub sync: Option<String>,
    /// Keep bodies for the last this many blocks only.
    pub prune: Option<u64>,
    /// Peer-to-peer settings.
    #[serde(default)]
    pub p2p: P2pSection,
    /// RPC settings.
    #[serde(default)]
    pub rpc: RpcSection,
    /// Mining settings.
    #[serde(default)]
    pub mining: MiningSection,
    /// Metrics settings.
    #[serde(default)]
    pub metrics: MetricsSection,
}

/// `[metrics]`.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Where to serve `/metrics`, `/healthy` and `/ready`; none when absent.
    pub addr: Option<SocketAddr>,
}

/// `[p2p]`.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct P2pSection {
    /// Accept peers at all.
    pub listen: Option<bool>,
    /// Where to accept peers.
    pub addr: Option<SocketAddr>,
    /// The local address outbound connections leave from.
    pub dial_from: Option<std::net::IpAddr>,
    /// Peers to connect to, `host:port`.
    pub peers: Option<Vec<String>>,
    /// Outbound connections to keep.
    pub outbound: Option<usize>,
    /// Inbound connections at most.
    pub max_inbound: Option<usize>,
    /// Inbound connections per IP address at most.
    pub max_inbound_per_ip: Option<usize>,
}

/// `[rpc]`.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RpcSection {
    /// Serve JSON-RPC at all.
    pub enabled: Option<bool>,
    /// Where to serve it.
    pub addr: Option<SocketAddr>,
    /// Admin methods without the cookie token, on a loopback address.
    pub admin: Option<bool>,
    /// Host names allowed in `Host` besides addresses and localhost.
    pub allow_hosts: Option<Vec<String>>,
    /// Web origins allowed to call besides loopback pages.
    pub allow_origins: Option<Vec<String>>,
    /// Serve the explorer's pages under `/explorer/`.
    pub explorer: Option<bool>,
    /// Open HTTP connections at most.
    pub max_http: Option<u32>,
    /// Open WebSocket connections at most.
    pub max_ws: Option<u32>,
    /// Connections from one IP address at most.
    pub max_per_ip: Option<u32>,
}

/// `[mining]`.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MiningSection {
    /// Mine at all.
    pub enabled: Option<bool>,
    /// Where rewards go.
    pub reward: Option<String>,
    /// Nonce-search threads.
    pub threads: Option<u16>,
    /// Dev chains: a block as soon as transactions arrive.
    pub automine: Option<bool>,
    /// Dev chains: a block every this many seconds.
    pub block_time: Option<u64>,
}

/// The largest configuration file read; a real one is a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

impl FileConfig {
    /// Reads and checks `path`. Errors are one line naming the file and the line.
    pub fn load(path: &Path) -> Result<FileConfig, CliError> {
        let error = |e: &dyn std::fmt::Display| CliError(format!("config {}: {e}", path.display()));
        let text = tern_state::persist::read_bounded(path, MAX_CONFIG_BYTES)
            .map_err(|e| error(&e))?
            .ok_or_else(|| error(&"no such file"))?;
        FileConfig::parse(&text, &path.display().to_string())
    }

    /// Parses TOML `text` from `origin`.
    pub fn parse(text: &str, origin: &str) -> Result<FileConfig, CliError> {
        toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| {
                let before = text.get(..span.start).unwrap_or_default();
                before.matches('\n').count() + 1
            });
            let message = e.message().replace('\n', " ");
            match line {
                Some(line) => CliError(format!("config {origin} line {line}: {message}")),
                None => CliError(format!("config {origin}: {message}")),
            }
        })
    }
}

/// The full default configuration, with a comment on every key.
pub fn default_toml() -> String {
    let p2p = P2pConfig::default();
    let rpc = RpcConfig::default();
    format!(
        r#"# Tern node configuration. Every key is optional; these are the defaults.
# Flags given to `tern node` win over this file.

# The chain: "dev", "testnet", or the path of a chain spec file.
genesis = "dev"

# The data directory. Default: $XDG_DATA_HOME/tern/<chain name>, or
# ~/.local/share/tern/<chain name>.
# datadir = "/var/lib/tern"

# Log filter, as in RUST_LOG (e.g. "info,tern_p2p=debug"). RUST_LOG and --log win.
log = "info"

# Warn when the data directory's file system has less free space than this, in MiB.
# A node whose disk fills up stops (with a non-zero exit) rather than run on unable to
# write; it resumes where it stopped once space is freed.
min_free_space = {min_free_space}

# How a node with an empty data directory joins the chain: "full" replays every block
# since genesis; "snapshot" takes the state at a block 64 below the best header from
# peers, checks every piece against that header's state root, then replays only the
# blocks after it (keeping headers alone below it). A data directory that has blocks
# already goes on from its tip either way. See docs/OPERATIONS.md.
sync = "full"

# Keep block bodies, undo records and the transaction and history indexes for the last
# this many blocks only (at least 288); headers stay. Older blocks, their transactions
# and history are then answered with error 1008 by RPC. Absent: keep everything.
# prune = 10000

[p2p]
# Accept connections from peers (false: dial out only).
listen = true
# Where to accept them.
addr = "0.0.0.0:{DEFAULT_P2P_PORT}"
# The local address outbound connections leave from, on a host with several
# [default: the system's choice].
# dial_from = "192.0.2.10"
# Peers to connect to at start and to keep retrying, as "host:port".
peers = []
# Outbound connections to keep.
outbound = {outbound}
# Inbound connections to accept at most.
max_inbound = {max_inbound}
# Inbound connections from one IP address at most (raise it for a testnet on one host).
max_inbound_per_ip = {per_ip}

[rpc]
# Serve JSON-RPC over HTTP and WebSocket.
enabled = true
# Where. A non-loopback address is logged as a warning.
addr = "{rpc_addr}"
# Let every caller use the admin methods (mining, peers, bans) without the token in
# <datadir>/.cookie. Only takes effect on a loopback address.
admin = false
# Host names a request's Host header may carry, besides IP addresses and localhost: a
# name that is not listed is refused (DNS rebinding). "*" allows any.
allow_hosts = []
# Web pages (origins) that may call, besides loopback ones (http://localhost:3000) and the
# node's own: any other page in a browser is refused. "*" allows any.
allow_origins = []
# Serve the built-in explorer's web pages at http://<addr>/explorer/.
explorer = false
# Connection slots: HTTP and WebSocket apart, and per IP address. A refused connection is
# answered 503 (HTTP) or 429 (WebSocket) with the reason. The node lowers them at start
# if its open-file limit cannot hold them.
max_http = {max_http}
max_ws = {max_ws}
max_per_ip = {max_per_ip}

[mining]
# Mine blocks with proof of work.
enabled = false
# Where rewards go: the miner's, and automine's, block_time's and dev_mine's default (on
# dev chains, dev account 0 when not set).
# reward = "tdev1..."
# Nonce-search threads.
threads = 1
# Dev chains only: mine a block as soon as transactions are admitted (anvil's automine),
# so a transfer confirms in milliseconds. Not with enabled = true or block_time.
automine = false
# Dev chains only: mine a block every this many seconds (1 to 86400), empty or not.
# block_time = 5

[metrics]
# Where to serve /metrics (Prometheus text), /healthy and /ready. Off when absent.
# addr = "127.0.0.1:9645"
"#,
        outbound = p2p.outbound_target,
        max_inbound = p2p.max_inbound,
        per_ip = p2p.max_inbound_per_ip,
        rpc_addr = rpc.addr,
        max_http = rpc.limits.max_http,
        max_ws = rpc.limits.max_ws,
        max_per_ip = rpc.limits.max_per_ip,
        min_free_space = crate::service::DEFAULT_MIN_FREE_SPACE_MIB,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_p2p::sync::SyncMode;

    #[test]
    fn the_printed_default_parses_back_to_the_defaults() {
        let config = FileConfig::parse(&default_toml(), "default").unwrap();
        assert_eq!(config.genesis.as_deref(), Some("dev"));
        assert_eq!(
            config.p2p.outbound,
            Some(P2pConfig::default().outbound_target)
        );
        assert_eq!(
            config.p2p.max_inbound,
            Some(P2pConfig::default().max_inbound)
        );
        assert_eq!(config.rpc.addr, Some(RpcConfig::default().addr));
        assert_eq!(config.rpc.admin, Some(false));
        assert_eq!(config.rpc.allow_hosts, Some(Vec::new()));
        assert_eq!(config.rpc.allow_origins, Some(Vec::new()));
        let limits = RpcConfig::default().limits;
        assert_eq!(config.rpc.max_http, Some(limits.max_http as u32));
        assert_eq!(config.rpc.max_ws, Some(limits.max_ws as u32));
        assert_eq!(config.rpc.max_per_ip, Some(limits.max_per_ip as u32));
        assert_eq!(config.mining.enabled, Some(false));
        assert_eq!(config.mining.threads, Some(1));
        assert_eq!(config.mining.automine, Some(false));
        assert_eq!(config.mining.block_time, None);
        assert_eq!(
            config.min_free_space,
            Some(crate::service::DEFAULT_MIN_FREE_SPACE_MIB)
        );
        assert_eq!(
            config.sync.as_deref().map(str::parse::<SyncMode>),
            Some(Ok(P2pConfig::default().sync_mode))
        );
    }

    #[test]
    fn an_unknown_key_is_a_one_line_error_naming_file_and_line() {
        let error =
            FileConfig::parse("genesis = \"dev\"\n[p2p]\noutbund = 3\n", "node.toml").unwrap_err();
        assert!(
            error
                .0
                .starts_with("config node.toml line 3: unknown field `outbund`"),
            "{}",
            error.0
        );
        assert!(!error.0.contains('\n'));
    }

    #[test]
    fn a_wrong_type_names_the_line() {
        let error = FileConfig::parse("[rpc]\naddr = 12\n", "node.toml").unwrap_err();
        assert!(error.0.contains("line 2"), "{}", error.0);
    }
}
