//! `tern node`: run a full node until SIGINT or SIGTERM, then stop it cleanly.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use tern_core::genesis::ChainSpec;
use tern_core::types::Address;
use tern_rpc::server::RpcConfig;

use crate::cli_error::CliError;
use crate::mining::MinerSettings;
use crate::p2p::{P2pConfig, DEFAULT_P2P_PORT};
use crate::service::{Node, NodeConfig};

/// Flags of `tern node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The chain: `dev`, `testnet`, or the path of a chain spec file.
    #[arg(long, default_value = "dev", env = "TERN_GENESIS")]
    pub genesis: String,
    /// The data directory [default: $XDG_DATA_HOME/tern/<chain> or
    /// ~/.local/share/tern/<chain>].
    #[arg(long, env = "TERN_DATADIR")]
    pub datadir: Option<PathBuf>,
    /// Where to accept peers.
    #[arg(long, default_value_t = SocketAddr::from(([0, 0, 0, 0], DEFAULT_P2P_PORT)))]
    pub p2p_addr: SocketAddr,
    /// Accept no inbound peers (dial out only).
    #[arg(long)]
    pub no_listen: bool,
    /// Where to serve JSON-RPC (HTTP and WebSocket).
    #[arg(long, default_value_t = RpcConfig::default().addr)]
    pub rpc_addr: SocketAddr,
    /// Serve no JSON-RPC.
    #[arg(long)]
    pub no_rpc: bool,
    /// Also serve the admin methods (mining, peers, bans). Keep the RPC on loopback then.
    #[arg(long)]
    pub rpc_admin: bool,
    /// A peer to connect to, as host:port. Repeatable.
    #[arg(long = "peer", value_name = "HOST:PORT")]
    pub peers: Vec<String>,
    /// Outbound connections to keep.
    #[arg(long, default_value_t = P2pConfig::default().outbound_target)]
    pub outbound: usize,
    /// Inbound connections to accept at most.
    #[arg(long, default_value_t = P2pConfig::default().max_inbound)]
    pub max_inbound: usize,
    /// Inbound connections from one IP address at most (raise it for a testnet on one
    /// host).
    #[arg(long, default_value_t = P2pConfig::default().max_inbound_per_ip)]
    pub max_inbound_per_ip: usize,
    /// Mine blocks (to --mine-to, or on a dev chain to dev account 0).
    #[arg(long)]
    pub mine: bool,
    /// Where mining rewards go; implies --mine.
    #[arg(long, value_name = "ADDRESS")]
    pub mine_to: Option<String>,
    /// Nonce-search threads when mining.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub mine_threads: u16,
}

/// Where a chain's data lives unless `--datadir` says otherwise.
pub fn default_data_dir(chain: &str) -> Result<PathBuf, CliError> {
    let base = match (std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME")) {
        (Some(data), _) if !data.is_empty() => PathBuf::from(data),
        (_, Some(home)) if !home.is_empty() => PathBuf::from(home).join(".local/share"),
        _ => return Err(CliError("no HOME or XDG_DATA_HOME: pass --datadir".into())),
    };
    Ok(base.join("tern").join(chain))
}

/// Resolves `host:port`.
pub async fn resolve_peer(text: &str) -> Result<SocketAddr, CliError> {
    let failed = |why: String| CliError(format!("peer address {text:?} does not resolve: {why}"));
    tokio::net::lookup_host(text)
        .await
        .map_err(|e| failed(e.to_string()))?
        .next()
        .ok_or_else(|| failed("no address".into()))
}

/// The node's configuration from its flags.
pub async fn config(args: NodeArgs) -> Result<NodeConfig, CliError> {
    let spec = ChainSpec::resolve(&args.genesis)?;
    let data_dir = match args.datadir {
        Some(dir) => dir,
        None => default_data_dir(&spec.name)?,
    };
    let mut seeds = Vec::with_capacity(args.peers.len());
    for peer in &args.peers {
        seeds.push(resolve_peer(peer).await?);
    }
    let mining = match (&args.mine_to, args.mine) {
        (Some(text), _) => Some(parse_reward(&spec, text)?),
        (None, true) if spec.dev_mining => Some(tern_core::crypto::dev_secret_key(0).address()),
        (None, true) => {
            return Err(CliError(format!(
                "--mine needs --mine-to ADDRESS on {} (only dev chains have a default)",
                spec.name
            )))
        }
        (None, false) => None,
    }
    .map(|reward| MinerSettings {
        threads: usize::from(args.mine_threads),
        reward,
    });
    let mut config = NodeConfig::new(spec, data_dir);
    config.p2p = P2pConfig {
        listen: (!args.no_listen).then_some(args.p2p_addr),
        seeds,
        outbound_target: args.outbound,
        max_inbound: args.max_inbound,
        max_inbound_per_ip: args.max_inbound_per_ip,
        ..P2pConfig::default()
    };
    config.rpc = (!args.no_rpc).then(|| RpcConfig {
        addr: args.rpc_addr,
        admin: args.rpc_admin,
        ..RpcConfig::default()
    });
    config.mining = mining;
    Ok(config)
}

fn parse_reward(spec: &ChainSpec, text: &str) -> Result<Address, CliError> {
    Address::from_bech32(text, &spec.address_prefix)
        .map_err(|e| CliError(format!("--mine-to {text:?}: {e}")))
}

/// Runs a node until SIGINT or SIGTERM.
pub async fn run(args: NodeArgs) -> Result<(), CliError> {
    let config = config(args).await?;
    let chain_name = config.spec.name.clone();
    let data_dir = config.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| CliError(format!("data directory {}: {e}", data_dir.display())))?;
    let node = Node::start(config).await?;
    let tip = node.chain().tip();
    tracing::info!(
        chain = %chain_name,
        datadir = %data_dir.display(),
        height = tip.height().value(),
        tip = %tip.hash,
        p2p = ?node.p2p_addr(),
        rpc = ?node.rpc_addr(),
        node_id = %node.network().node_id(),
        "node running"
    );
    let signal = wait_for_signal().await;
    tracing::info!(signal, "stopping");
    node.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM; returns its name.
pub async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return "SIGINT",
                _ = term.recv() => return "SIGTERM",
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}
