//! `tern testnet`: a local network of full nodes in one command.
//!
//! Each node is a child `tern node` process with its own data directory, config file
//! and log, talking to the others over TCP on 127.0.0.1, so what a developer sees is what
//! separate machines would do, and a node can fail on its own. The children stop when
//! the testnet does: on Ctrl-C each gets SIGTERM and stops cleanly, and each runs with
//! `--exit-with-parent`, so none outlives a testnet that was killed.
//!
//! Node `i` serves RPC on `base + 2i` and peers on
//! `base + 2i + 1`, so with the default base node 0 sits on the ports a lone `tern node`
//! uses and `tern wallet` reaches it without flags.

mod node_process;

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_rpc::chain::TernApiClient;
use tern_rpc::net::TernNetApiClient;
use tern_rpc::server::RpcConfig;

use crate::cli_error::CliError;
use crate::dev_blocks::DevBlocks;
use crate::run::wait_for_signal;
use node_process::NodeProcess;

/// The file that marks a directory as a testnet's, so `--fresh` never wipes anything else.
const MARKER: &str = ".tern-testnet";

/// The dev accounts listed at start.
const DEV_ACCOUNTS: u32 = 10;

/// Where mining rewards go: the last dev account, so the others' balances move only with
/// the transfers a developer makes.
const REWARD_ACCOUNT: u32 = 9;

/// Flags of `tern testnet`.
#[derive(Debug, Args)]
pub struct TestnetArgs {
    /// How many nodes to run.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub nodes: u16,
    /// How many of them make blocks (the first ones): node 0 by --automine or
    /// --block-time when given, the others by proof-of-work mining.
    #[arg(long, default_value_t = 1)]
    pub miners: u16,
    /// Node 0 mines a block as soon as transactions arrive (dev chains), instead of
    /// proof-of-work mining: a transfer confirms in milliseconds.
    #[arg(long, conflicts_with = "block_time")]
    pub automine: bool,
    /// Node 0 mines a block every SECS seconds (dev chains), instead of proof-of-work
    /// mining.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=crate::run::MAX_BLOCK_TIME_SECS))]
    pub block_time: Option<u64>,
    /// The chain: `dev`, `testnet`, or the path of a chain spec file.
    #[arg(long, default_value = "dev")]
    pub genesis: String,
    /// Keep the network here between runs [default: a temporary directory, removed at
    /// exit].
    #[arg(long)]
    pub datadir: Option<PathBuf>,
    /// Wipe --datadir first and start a new chain.
    #[arg(long, requires = "datadir")]
    pub fresh: bool,
    /// Node i serves RPC on BASE+2i and peers on BASE+2i+1.
    #[arg(long, default_value_t = tern_rpc::DEFAULT_PORT)]
    pub base_port: u16,
}

/// Where the network's files live, and whether to remove them at exit.
struct Root {
    path: PathBuf,
    temporary: bool,
}

impl Drop for Root {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn prepare_root(args: &TestnetArgs) -> Result<Root, CliError> {
    let root = match &args.datadir {
        Some(dir) => Root {
            path: dir.clone(),
            temporary: false,
        },
        None => Root {
            path: std::env::temp_dir().join(format!("tern-testnet-{}", std::process::id())),
            temporary: true,
        },
    };
    let io = |e: std::io::Error| CliError(format!("{}: {e}", root.path.display()));
    if args.fresh && root.path.exists() {
        let is_testnet = root.path.join(MARKER).exists();
        let is_empty = std::fs::read_dir(&root.path).map_err(io)?.next().is_none();
        if !is_testnet && !is_empty {
            return Err(CliError(format!(
                "--fresh: {} is not a tern testnet directory; not wiping it",
                root.path.display()
            )));
        }
        std::fs::remove_dir_all(&root.path).map_err(io)?;
    }
    std::fs::create_dir_all(&root.path).map_err(io)?;
    std::fs::write(
        root.path.join(MARKER),
        "a tern testnet; tern testnet --fresh may wipe this directory\n",
    )
    .map_err(io)?;
    Ok(root)
}

fn port(base: u16, offset: u32) -> Result<u16, CliError> {
    u16::try_from(u32::from(base) + offset).map_err(|_| {
        CliError(format!(
            "--base-port {base} leaves no room for every node's ports"
        ))
    })
}

/// The flags of node `i`'s `tern node`, and its config file's text.
fn node_plan(
    args: &TestnetArgs,
    root: &Path,
    i: u32,
    seeds: &[SocketAddr],
    dev_blocks: Option<DevBlocks>,
    reward: &str,
) -> Result<(Vec<String>, String), CliError> {
    let rpc = SocketAddr::from(([127, 0, 0, 1], port(args.base_port, 2 * i)?));
    let p2p = SocketAddr::from(([127, 0, 0, 1], port(args.base_port, 2 * i + 1)?));
    let dir = root.join(format!("node-{i}"));
    let mut flags: Vec<String> = vec![
        "--genesis".into(),
        args.genesis.clone(),
        "--datadir".into(),
        dir.display().to_string(),
        "--config".into(),
        dir.join("node.toml").display().to_string(),
        "--p2p-addr".into(),
        p2p.to_string(),
        "--rpc-addr".into(),
        rpc.to_string(),
        "--rpc-admin".into(),
        // Every node is on 127.0.0.1.
        "--max-inbound-per-ip".into(),
        (u32::from(args.nodes) * 2).to_string(),
        "--log".into(),
        "info".into(),
    ];
    for seed in seeds {
        flags.extend(["--peer".into(), seed.to_string()]);
    }
    if i < u32::from(args.miners) {
        match (i, dev_blocks) {
            (0, Some(DevBlocks::Automine)) => flags.push("--automine".into()),
            (0, Some(DevBlocks::Every(interval))) => {
                flags.extend(["--block-time".into(), interval.as_secs().to_string()])
            }
            _ => flags.push("--mine".into()),
        }
    }
    // The reward address in the file, not as --mine-to, which would make every node mine.
    let config = format!(
        "# Written by tern testnet for node {i}; flags on its command line win.\n\n\
         [mining]\nreward = \"{reward}\"\n"
    );
    Ok((flags, config))
}

/// Starts the network, prints how to use it, shows its status until Ctrl-C, stops it.
pub async fn run(args: TestnetArgs) -> Result<(), CliError> {
    let spec = ChainSpec::resolve(&args.genesis)?;
    let root = prepare_root(&args)?;
    let reward = spec.format_address(&dev_secret_key(REWARD_ACCOUNT).address());
    let dev_blocks = match (args.automine, args.block_time) {
        (true, _) => Some(DevBlocks::Automine),
        (false, Some(secs)) => Some(DevBlocks::Every(Duration::from_secs(secs))),
        (false, None) => None,
    };
    let mut nodes: Vec<NodeProcess> = Vec::with_capacity(usize::from(args.nodes));
    for i in 0..u32::from(args.nodes) {
        let seeds: Vec<SocketAddr> = nodes.iter().map(|n| n.p2p).collect();
        let (flags, config) = node_plan(&args, &root.path, i, &seeds, dev_blocks, &reward)?;
        let dir = root.path.join(format!("node-{i}"));
        let io = |e: std::io::Error| CliError(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(&dir).map_err(io)?;
        std::fs::write(dir.join("node.toml"), config).map_err(io)?;
        match NodeProcess::start(&flags, &dir.join("node.log")).await {
            Ok(node) => nodes.push(node),
            Err(error) => {
                stop_all(nodes).await;
                return Err(CliError(format!("node {i}: {}", error.0)));
            }
        }
    }
    print_welcome(&spec, &root, &nodes, args.miners, dev_blocks).await;

    let terminal = std::io::stdout().is_terminal();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut ticks = 0u64;
    let signal = wait_for_signal();
    tokio::pin!(signal);
    let mut drawn = false;
    let mut failure = None;
    loop {
        let wake = {
            let exits = futures_util::future::select_all(
                nodes.iter_mut().map(|node| Box::pin(node.exited())),
            );
            tokio::select! {
                _ = &mut signal => Wake::Signal,
                (status, index, _) = exits => Wake::Exited(index, status),
                _ = ticker.tick() => Wake::Tick,
            }
        };
        match wake {
            Wake::Signal => break,
            Wake::Exited(index, status) => {
                let log = nodes
                    .get(index)
                    .map(|n| n.log.display().to_string())
                    .unwrap_or_default();
                let why = format!("node {index} exited ({status}); its log: {log}");
                eprintln!("\n{why}");
                failure = Some(why);
                break;
            }
            Wake::Tick => {
                ticks += 1;
                let lines = status_lines(&nodes).await;
                if terminal {
                    draw_in_place(&lines, drawn);
                    drawn = true;
                } else if ticks % 5 == 1 {
                    println!("{}", lines.join(" | "));
                }
            }
        }
    }
    println!("\nstopping {} nodes", nodes.len());
    let failed_to_stop = stop_all(nodes).await;
    println!("stopped");
    match (failure, failed_to_stop) {
        (Some(failure), _) => Err(CliError(failure)),
        (None, Some(which)) => Err(CliError(which)),
        (None, None) => Ok(()),
    }
}

/// What woke the testnet's loop.
enum Wake {
    /// Ctrl-C or SIGTERM.
    Signal,
    /// A node's process exited on its own.
    Exited(usize, std::process::ExitStatus),
    /// Time to redraw the status lines.
    Tick,
}

/// Stops every node at once, and says which did not stop cleanly, if any.
async fn stop_all(nodes: Vec<NodeProcess>) -> Option<String> {
    let stopped = futures_util::future::join_all(nodes.into_iter().map(NodeProcess::stop)).await;
    let unclean: Vec<String> = stopped
        .iter()
        .enumerate()
        .filter(|(_, status)| !status.is_some_and(|s| s.success()))
        .map(|(i, status)| match status {
            Some(status) => format!("node {i} ({status})"),
            None => format!("node {i} (killed: it did not stop)"),
        })
        .collect();
    (!unclean.is_empty()).then(|| format!("not every node stopped cleanly: {}", unclean.join(", ")))
}

async fn print_welcome(
    spec: &ChainSpec,
    root: &Root,
    nodes: &[NodeProcess],
    miners: u16,
    dev_blocks: Option<DevBlocks>,
) {
    let mut out = String::new();
    let keep = if root.temporary {
        "removed at exit; pass --datadir to keep the network"
    } else {
        "kept: run the same command again to resume"
    };
    out.push_str(&format!(
        "tern testnet: {} nodes on {}, data in {} ({keep})\n\n",
        nodes.len(),
        spec.name,
        root.path.display()
    ));
    for (i, node) in nodes.iter().enumerate() {
        let role = match (i, dev_blocks) {
            (_, _) if i >= usize::from(miners) => String::new(),
            (0, Some(DevBlocks::Automine)) => "  automine".into(),
            (0, Some(DevBlocks::Every(interval))) => {
                format!("  a block every {} s", interval.as_secs())
            }
            _ => "  mining".into(),
        };
        out.push_str(&format!(
            "  node {i}  rpc http://{}  p2p {}{role}\n",
            node.rpc, node.p2p
        ));
    }
    out.push_str("\nEach node is a `tern node` process logging to <data>/node-N/node.log.\n");
    out.push_str("\nDev accounts (their keys are public: never use them on a real network):\n");
    if let Some(node) = nodes.first() {
        for index in 0..DEV_ACCOUNTS {
            let key = dev_secret_key(index);
            let address = spec.format_address(&key.address());
            let balance = match node.client.account_get(address.clone()).await {
                Ok(account) => account.balance,
                Err(error) => error.to_string(),
            };
            let note = if index == REWARD_ACCOUNT {
                "  (mining rewards)"
            } else {
                ""
            };
            out.push_str(&format!(
                "  {index}  {address}  secret {}  balance {balance}{note}\n",
                hex::encode(key.to_bytes())
            ));
        }
    }
    let rpc_flag = |node: Option<&NodeProcess>| {
        node.map(|n| n.rpc)
            .filter(|addr| *addr != RpcConfig::default().addr)
            .map_or(String::new(), |addr| format!(" --rpc http://{addr}"))
    };
    let first = rpc_flag(nodes.first());
    let second = rpc_flag(nodes.get(1).or(nodes.first()));
    out.push_str(&format!(
        "\nTry:\n  \
         tern wallet import --name alice --dev 0\n  \
         tern wallet import --name bob --dev 1\n  \
         tern wallet send --from alice --to bob --amount 1000000 --wait 1{first}\n  \
         tern wallet balance bob{second}\n\nCtrl-C stops every node.\n\n"
    ));
    print!("{out}");
    let _ = std::io::stdout().flush();
}

/// One line per node, from its RPC: height, tip, peers, mempool, and whether it syncs.
async fn status_lines(nodes: &[NodeProcess]) -> Vec<String> {
    let lines = nodes.iter().enumerate().map(|(i, node)| async move {
        let c = &node.client;
        let (info, net, pool) = tokio::join!(c.chain_info(), c.net_info(), c.mempool_info());
        match (info, net, pool) {
            (Ok(info), Ok(net), Ok(pool)) => format!(
                "node {i}: height {} tip {} peers {} mempool {}{}",
                info.height,
                short(&info.best_hash),
                net.inbound + net.outbound,
                pool.count,
                if info.syncing { "  syncing" } else { "" }
            ),
            (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => {
                format!("node {i}: not answering ({error})")
            }
        }
    });
    futures_util::future::join_all(lines).await
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Redraws the status lines where they were, on a terminal.
fn draw_in_place(lines: &[String], drawn: bool) {
    let mut out = String::new();
    if drawn {
        // Cursor up over the previous block of lines.
        out.push_str(&format!("\x1b[{}A", lines.len()));
    }
    for line in lines {
        out.push_str("\x1b[2K");
        out.push_str(line);
        out.push('\n');
    }
    print!("{out}");
    let _ = std::io::stdout().flush();
}
