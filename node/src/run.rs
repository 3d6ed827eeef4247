//! `tern node`: run a full node until SIGINT or SIGTERM, then stop it cleanly.

use std::path::PathBuf;

use clap::Args;
use tern_chain::types::Address;

use crate::cli_error::CliError;
use crate::config::{Given, Settings};
use crate::service::{Node, NodeConfig};

/// Flags of `tern node`: the configuration file, the settings (each also a key of the
/// file, which they win over) and how the process is supervised.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// A TOML configuration file (`tern config default` prints every key).
    #[arg(long, value_name = "FILE", env = "TERN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Stop, as on SIGTERM, when the process that started this node exits: for
    /// supervisors such as `tern testnet`, whose nodes must not outlive it even when it
    /// is killed and can stop nobody.
    #[arg(long)]
    pub exit_with_parent: bool,
    /// The settings given as flags.
    #[command(flatten)]
    pub settings: Given<Settings>,
}

/// The node's configuration from its flags over its config file over the defaults, and
/// the log filter.
pub async fn config(args: &NodeArgs) -> Result<(NodeConfig, String), CliError> {
    let settings = crate::config::layered(args.config.as_deref(), &args.settings)?;
    crate::config::resolve::node_config(settings).await
}

/// Runs a node until SIGINT or SIGTERM, or until a critical failure: then the node is
/// stopped in order and the command fails, naming the part that failed and why.
pub async fn run(args: NodeArgs) -> Result<(), CliError> {
    let (mut config, log) = config(&args).await?;
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
        () = parent_exits(), if args.exit_with_parent => tracing::info!("the parent process exited; stopping"),
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
