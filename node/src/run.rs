//! `tern node`: run a full node until SIGINT or SIGTERM, then stop it cleanly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tern_chain::genesis::ChainSpec;
use tern_chain::types::Address;
use tern_rpc::handles::MAX_MINER_THREADS;
use tern_rpc::server::callers::AllowedCallers;
use tern_rpc::server::connections::ConnectionLimits;
use tern_rpc::server::RpcConfig;

use crate::cli_error::CliError;
use crate::config::{FileConfig, MiningSection};
use crate::dev_blocks::DevBlocks;
use crate::mining::MinerSettings;
use crate::service::{Node, NodeConfig, DEFAULT_MIN_FREE_SPACE_MIB};
use tern_p2p::sync::SyncMode;
use tern_p2p::{P2pConfig, DEFAULT_P2P_PORT};
use tern_tasks::fault::FaultPlan;

/// Flags of `tern node`. Each overrides the same key of the `--config` file, which
/// overrides the defaults shown by `tern config default`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// A TOML configuration file (`tern config default` prints every key).
    #[arg(long, value_name = "FILE", env = "TERN_CONFIG")]
    pub config: Option<PathBuf>,
    /// The chain: `dev`, `testnet`, or the path of a chain spec file [default: dev].
    #[arg(long, env = "TERN_GENESIS")]
    pub genesis: Option<String>,
    /// The data directory [default: $XDG_DATA_HOME/tern/CHAIN or
    /// ~/.local/share/tern/CHAIN].
    #[arg(long, env = "TERN_DATADIR")]
    pub datadir: Option<PathBuf>,
    /// Where to accept peers [default: 0.0.0.0:8646].
    #[arg(long)]
    pub p2p_addr: Option<SocketAddr>,
    /// The local address outbound peer connections leave from [default: the system's
    /// choice]. `tern testnet` gives each node a loopback address of its own this way.
    #[arg(long, value_name = "IP")]
    pub p2p_dial_from: Option<std::net::IpAddr>,
    /// Accept no inbound peers (dial out only).
    #[arg(long)]
    pub no_listen: bool,
    /// Where to serve JSON-RPC, HTTP and WebSocket [default: 127.0.0.1:8645].
    #[arg(long)]
    pub rpc_addr: Option<SocketAddr>,
    /// Serve no JSON-RPC.
    #[arg(long)]
    pub no_rpc: bool,
    /// Admin methods (mining, peers, bans) without the cookie token, when the RPC listens
    /// on a loopback address.
    #[arg(long)]
    pub rpc_admin: bool,
    /// A host name that may appear in RPC requests' `Host` header besides IP addresses
    /// and localhost (`*` for any). Repeatable; adds to the file's.
    #[arg(long = "rpc-allow-host", value_name = "NAME")]
    pub rpc_allow_hosts: Vec<String>,
    /// A web origin (`https://wallet.example`) whose pages may call the RPC besides
    /// loopback ones (`*` for any). Repeatable; adds to the file's.
    #[arg(long = "rpc-allow-origin", value_name = "ORIGIN")]
    pub rpc_allow_origins: Vec<String>,
    /// Serve the built-in explorer's web pages at http://RPC_ADDR/explorer/ [default: off;
    /// on in `tern testnet`].
    #[arg(long)]
    pub explorer: bool,
    /// Open RPC HTTP connections at most [default: 100].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rpc_max_http: Option<u32>,
    /// Open RPC WebSocket connections at most [default: 100].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rpc_max_ws: Option<u32>,
    /// RPC connections of both kinds from one IP address at most [default: 64].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rpc_max_per_ip: Option<u32>,
    /// A peer to connect to, as host:port. Repeatable; adds to the file's peers.
    #[arg(long = "peer", value_name = "HOST:PORT")]
    pub peers: Vec<String>,
    /// Outbound connections to keep [default: 8].
    #[arg(long)]
    pub outbound: Option<usize>,
    /// Inbound connections to accept at most [default: 64].
    #[arg(long)]
    pub max_inbound: Option<usize>,
    /// Inbound connections from one IP address at most; raise it for a testnet on one
    /// host [default: 4].
    #[arg(long)]
    pub max_inbound_per_ip: Option<usize>,
    /// Mine blocks with proof of work (to --mine-to, or on a dev chain to dev account 0).
    #[arg(long)]
    pub mine: bool,
    /// Dev chains: mine a block as soon as transactions are admitted, so a transfer
    /// confirms in milliseconds (anvil's automine). Not with --mine or --block-time.
    #[arg(long)]
    pub automine: bool,
    /// Dev chains: mine a block every SECS seconds (1 to 86400), empty or not. Not with
    /// --mine or --automine.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=MAX_BLOCK_TIME_SECS))]
    pub block_time: Option<u64>,
    /// Where block rewards go: the miner's, automine's, --block-time's and `dev_mine`'s
    /// default [default: dev account 0 on dev chains]. Alone, it implies --mine.
    #[arg(long, value_name = "ADDRESS")]
    pub mine_to: Option<String>,
    /// Nonce-search threads when mining [default: 1].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=MAX_MINER_THREADS as i64))]
    pub mine_threads: Option<u16>,
    /// Where to serve /metrics (Prometheus), /healthy and /ready [default: off].
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Warn when the data directory's file system has less free space than this, in MiB
    /// [default: 1024].
    #[arg(long, value_name = "MIB")]
    pub min_free_space: Option<u64>,
    /// How a node with an empty data directory joins: `full` replays every block;
    /// `snapshot` takes the state at a recent block from peers, checked against its
    /// header, and replays only the blocks after it [default: full].
    #[arg(long, value_name = "MODE", value_parser = <SyncMode as std::str::FromStr>::from_str)]
    pub sync: Option<SyncMode>,
    /// Keep block bodies, undo records and the transaction and history indexes for the
    /// last DEPTH blocks only (at least 288): older blocks' headers stay, their bodies go,
    /// and RPC answers error 1008 for them [default: keep everything].
    #[arg(long, value_name = "DEPTH", value_parser = clap::value_parser!(u64).range(tern_state::chain::MIN_PRUNE_DEPTH..))]
    pub prune: Option<u64>,
    /// Log filter, as in RUST_LOG [default: RUST_LOG, else the file's `log`, else info].
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
    /// Stop, as on SIGTERM, when the process that started this node exits: for
    /// supervisors such as `tern testnet`, whose nodes must not outlive it even when it
    /// is killed and can stop nobody.
    #[arg(long)]
    pub exit_with_parent: bool,
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

/// The node's configuration from its flags over its config file over the defaults, and
/// the log filter.
pub async fn config(args: NodeArgs) -> Result<(NodeConfig, String), CliError> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let genesis = args
        .genesis
        .or(file.genesis)
        .unwrap_or_else(|| "dev".into());
    let spec = ChainSpec::resolve(&genesis)?;
    let data_dir = match args.datadir.or(file.datadir) {
        Some(dir) => dir,
        None => default_data_dir(&spec.name)?,
    };
    let mut seeds = Vec::new();
    for peer in file.p2p.peers.unwrap_or_default().iter().chain(&args.peers) {
        seeds.push(resolve_peer(peer).await?);
    }
    let dev_blocks = dev_blocks(args.automine, args.block_time, &file.mining)?;
    let mine = args.mine
        || file.mining.enabled.unwrap_or(false)
        || (args.mine_to.is_some() && dev_blocks.is_none());
    if let (true, Some(mode)) = (mine, dev_blocks) {
        return Err(CliError(format!(
            "--mine (or [mining] enabled) and {} cannot run together: both make blocks; choose one",
            match mode {
                DevBlocks::Automine => "--automine",
                DevBlocks::Every(_) => "--block-time",
            }
        )));
    }
    let reward_text = args.mine_to.or(file.mining.reward);
    let dev_reward = match &reward_text {
        Some(text) => parse_reward(&spec, text)?,
        None => tern_chain::crypto::dev_secret_key(0).address(),
    };
    let mining = match (reward_text, mine) {
        (Some(text), true) => Some(parse_reward(&spec, &text)?),
        (None, true) if spec.dev_mining => Some(tern_chain::crypto::dev_secret_key(0).address()),
        (None, true) => {
            return Err(CliError(format!(
                "mining needs a reward address (--mine-to or [mining] reward) on {}; only \
                 dev chains have a default",
                spec.name
            )))
        }
        (_, false) => None,
    }
    .map(|reward| MinerSettings {
        threads: usize::from(args.mine_threads.or(file.mining.threads).unwrap_or(1)),
        reward,
    });
    if let Some(settings) = &mining {
        if !(1..=MAX_MINER_THREADS).contains(&settings.threads) {
            return Err(CliError(format!(
                "mining.threads = {}: must be 1 to {MAX_MINER_THREADS}",
                settings.threads
            )));
        }
    }
    let defaults = P2pConfig::default();
    let listen = !args.no_listen && file.p2p.listen.unwrap_or(true);
    let p2p_addr = args
        .p2p_addr
        .or(file.p2p.addr)
        .unwrap_or(SocketAddr::from(([0, 0, 0, 0], DEFAULT_P2P_PORT)));
    let rpc_enabled = !args.no_rpc && file.rpc.enabled.unwrap_or(true);
    let rpc_addr = args
        .rpc_addr
        .or(file.rpc.addr)
        .unwrap_or(RpcConfig::default().addr);
    let admin = args.rpc_admin || file.rpc.admin.unwrap_or(false);
    let explorer = args.explorer || file.rpc.explorer.unwrap_or(false);
    let sync_mode = match (args.sync, file.sync.as_deref()) {
        (Some(mode), _) => mode,
        (None, Some(text)) => text
            .parse::<SyncMode>()
            .map_err(|e| CliError(format!("the config file's `sync`: {e}")))?,
        (None, None) => SyncMode::Full,
    };
    let mut config = NodeConfig::new(spec, data_dir);
    config.p2p = P2pConfig {
        listen: listen.then_some(p2p_addr),
        dial_from: args.p2p_dial_from.or(file.p2p.dial_from),
        seeds,
        outbound_target: args
            .outbound
            .or(file.p2p.outbound)
            .unwrap_or(defaults.outbound_target),
        max_inbound: args
            .max_inbound
            .or(file.p2p.max_inbound)
            .unwrap_or(defaults.max_inbound),
        max_inbound_per_ip: args
            .max_inbound_per_ip
            .or(file.p2p.max_inbound_per_ip)
            .unwrap_or(defaults.max_inbound_per_ip),
        sync_mode,
        ..defaults
    };
    let callers = AllowedCallers {
        hosts: file
            .rpc
            .allow_hosts
            .unwrap_or_default()
            .into_iter()
            .chain(args.rpc_allow_hosts)
            .collect(),
        origins: file
            .rpc
            .allow_origins
            .unwrap_or_default()
            .into_iter()
            .chain(args.rpc_allow_origins)
            .collect(),
    };
    let default_limits = ConnectionLimits::default();
    let count = |flag: Option<u32>, key: Option<u32>, default: usize| {
        flag.or(key).map_or(default, |n| n as usize)
    };
    let limits = ConnectionLimits {
        max_http: count(
            args.rpc_max_http,
            file.rpc.max_http,
            default_limits.max_http,
        ),
        max_ws: count(args.rpc_max_ws, file.rpc.max_ws, default_limits.max_ws),
        max_per_ip: count(
            args.rpc_max_per_ip,
            file.rpc.max_per_ip,
            default_limits.max_per_ip,
        ),
        ..default_limits
    };
    config.rpc = rpc_enabled.then(|| RpcConfig {
        addr: rpc_addr,
        admin,
        callers,
        limits,
        explorer,
        ..RpcConfig::default()
    });
    config.mining = mining;
    config.dev_blocks = dev_blocks;
    config.dev_reward = dev_reward;
    config.metrics = args.metrics_addr.or(file.metrics.addr);
    config.min_free_space = args
        .min_free_space
        .or(file.min_free_space)
        .unwrap_or(DEFAULT_MIN_FREE_SPACE_MIB)
        .saturating_mul(1 << 20);
    config.faults = FaultPlan::from_env();
    config.prune = match args.prune.or(file.prune) {
        Some(depth) if depth < tern_state::chain::MIN_PRUNE_DEPTH => {
            return Err(CliError(format!(
                "the config file's `prune` is {depth}: a node keeps at least the last {} blocks",
                tern_state::chain::MIN_PRUNE_DEPTH
            )))
        }
        depth => depth,
    };
    let log = match (args.log, std::env::var("RUST_LOG").ok(), file.log) {
        (Some(flag), _, _) => flag,
        (None, Some(env), _) if !env.is_empty() => env,
        (None, _, Some(file)) => file,
        _ => "info".into(),
    };
    Ok((config, log))
}

/// The longest `--block-time`: a day.
pub const MAX_BLOCK_TIME_SECS: u64 = 86_400;

/// Automine or a block interval, from the flags over the file; both at once is an error.
fn dev_blocks(
    automine: bool,
    block_time: Option<u64>,
    file: &MiningSection,
) -> Result<Option<DevBlocks>, CliError> {
    let automine = automine || file.automine.unwrap_or(false);
    let block_time = block_time.or(file.block_time);
    if let Some(secs) = block_time {
        if !(1..=MAX_BLOCK_TIME_SECS).contains(&secs) {
            return Err(CliError(format!(
                "mining.block_time = {secs}: must be 1 to {MAX_BLOCK_TIME_SECS} seconds"
            )));
        }
    }
    match (automine, block_time) {
        (true, Some(_)) => Err(CliError(
            "--automine and --block-time cannot run together: choose one way to make blocks".into(),
        )),
        (true, None) => Ok(Some(DevBlocks::Automine)),
        (false, Some(secs)) => Ok(Some(DevBlocks::Every(Duration::from_secs(secs)))),
        (false, None) => Ok(None),
    }
}

fn parse_reward(spec: &ChainSpec, text: &str) -> Result<Address, CliError> {
    Address::from_bech32(text, &spec.address_prefix)
        .map_err(|e| CliError(format!("--mine-to {text:?}: {e}")))
}

/// Runs a node until SIGINT or SIGTERM, or until a critical failure: then the node is
/// stopped in order and the command fails, naming the part that failed and why.
pub async fn run(args: NodeArgs) -> Result<(), CliError> {
    let exit_with_parent = args.exit_with_parent;
    let (mut config, log) = config(args).await?;
    init_logging(&log)?;
    if let (Some(rpc), Some(open_files)) = (
        config.rpc.as_mut(),
        crate::descriptors::raise_open_files_limit(),
    ) {
        let peers = config.p2p.max_inbound + config.p2p.outbound_target + 8;
        let wanted = rpc.limits;
        if crate::descriptors::fit_rpc_slots(&mut rpc.limits, peers, open_files) {
            tracing::warn!(
                open_files,
                http = rpc.limits.max_http,
                ws = rpc.limits.max_ws,
                wanted_http = wanted.max_http,
                wanted_ws = wanted.max_ws,
                "the open-file limit cannot hold the RPC connection slots asked for; \
                 serving fewer (raise `ulimit -n` to serve more)"
            );
        }
    }
    let chain_name = config.spec.name.clone();
    let blocks = how_blocks_are_made(&config);
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
        metrics = ?node.metrics_addr(),
        node_id = %node.network().node_id(),
        blocks = %blocks,
        "node running"
    );
    announce_listeners(&node, &blocks, tip.height().value());
    tokio::select! {
        signal = tern_tasks::shutdown_signal() => tracing::info!(signal, "stopping"),
        failure = node.failed() => tracing::error!(%failure, "stopping after a critical failure"),
        () = parent_exits(), if exit_with_parent => tracing::info!("the parent process exited; stopping"),
    }
    match node.shutdown().await {
        None => {
            tracing::info!("stopped");
            Ok(())
        }
        Some(failure) => {
            tracing::error!(%failure, "stopped after a critical failure");
            Err(CliError(format!("the node failed: {failure}")))
        }
    }
}

/// How this node makes blocks, in words, for the startup screen: the proof-of-work miner,
/// automine, an interval, on demand only (`dev_mine`, on dev chains), or not at all.
fn how_blocks_are_made(config: &NodeConfig) -> String {
    let to = |address: &Address| config.spec.format_address(address);
    match (&config.mining, config.dev_blocks) {
        (Some(miner), _) => format!(
            "proof-of-work mining on {} thread(s), rewards to {}",
            miner.threads,
            to(&miner.reward)
        ),
        (None, Some(mode)) => format!("{mode}, rewards to {}", to(&config.dev_reward)),
        (None, None) if config.spec.dev_mining => format!(
            "on demand only (dev_mine), rewards to {}",
            to(&config.dev_reward)
        ),
        (None, None) => "none: this node does not mine".into(),
    }
}

/// Prints where the node listens on standard output, one line each, then how it makes
/// blocks and a line that says it runs: `p2p listening on ADDR`, `rpc listening on ADDR`,
/// `metrics listening on ADDR` (each only if served), `blocks: HOW`, then `node running at
/// height H`. These are the bound
/// addresses, so a script or a test that asks for port 0 learns the ports the system gave
/// (choosing a free port beforehand races every other program binding one). Logs go to
/// standard error, so standard output carries only these lines.
fn announce_listeners(node: &Node, blocks: &str, height: u64) {
    use std::io::Write;
    let listeners = [
        ("p2p", node.p2p_addr()),
        ("rpc", node.rpc_addr()),
        ("metrics", node.metrics_addr()),
    ];
    let mut out = std::io::stdout().lock();
    // Nobody reading standard output is no reason to stop a node.
    let _ = listeners
        .into_iter()
        .filter_map(|(what, addr)| Some((what, addr?)))
        .try_for_each(|(what, addr)| writeln!(out, "{what} listening on {addr}"))
        .and_then(|()| writeln!(out, "blocks: {blocks}"))
        .and_then(|()| writeln!(out, "node running at height {height}"))
        .and_then(|()| out.flush());
}

/// How often `--exit-with-parent` looks for its parent.
const PARENT_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Returns once the process that started this one has exited: it is then adopted by
/// another (init or a subreaper), so its parent id changes. Polled rather than asked of
/// the kernel (`PR_SET_PDEATHSIG`), which fires when the *thread* that spawned the child
/// exits, and a runtime's threads come and go.
async fn parent_exits() {
    let first = rustix::process::getppid();
    let mut ticks = tokio::time::interval(PARENT_POLL);
    loop {
        ticks.tick().await;
        if rustix::process::getppid() != first {
            return;
        }
    }
}

/// Logs to stderr with `filter` (the syntax of RUST_LOG).
pub fn init_logging(filter: &str) -> Result<(), CliError> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| CliError(format!("log filter {filter:?}: {e}")))?;
    // Colours only on a terminal: a log file or journald gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}
