//! `tern testnet`: a local network of full nodes in one command.
//!
//! The nodes run in this process, each a complete node (its own store, mempool, network
//! and RPC server) talking to the others over TCP on 127.0.0.1, so what a developer sees
//! is what separate machines would do. Node `i` serves RPC on `base + 2i` and peers on
//! `base + 2i + 1`, so with the default base node 0 sits on the ports a lone `tern node`
//! uses and `tern wallet` reaches it without flags.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_rpc::server::RpcConfig;

use crate::cli_error::CliError;
use crate::dev_blocks::DevBlocks;
use crate::mining::MinerSettings;
use crate::run::wait_for_signal;
use crate::service::{Node, NodeConfig};
use tern_p2p::P2pConfig;

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

/// Starts the network, prints how to use it, shows its status until Ctrl-C, stops it.
pub async fn run(args: TestnetArgs) -> Result<(), CliError> {
    let spec = ChainSpec::resolve(&args.genesis)?;
    let root = prepare_root(&args)?;
    let reward = dev_secret_key(REWARD_ACCOUNT).address();
    let dev_blocks = match (args.automine, args.block_time) {
        (true, _) => Some(DevBlocks::Automine),
        (false, Some(secs)) => Some(DevBlocks::Every(Duration::from_secs(secs))),
        (false, None) => None,
    };
    let mut nodes: Vec<Node> = Vec::with_capacity(usize::from(args.nodes));
    for i in 0..u32::from(args.nodes) {
        let rpc = SocketAddr::from(([127, 0, 0, 1], port(args.base_port, 2 * i)?));
        let p2p = SocketAddr::from(([127, 0, 0, 1], port(args.base_port, 2 * i + 1)?));
        let mut config = NodeConfig::new(spec.clone(), root.path.join(format!("node-{i}")));
        config.p2p = P2pConfig {
            listen: Some(p2p),
            seeds: nodes.iter().filter_map(Node::p2p_addr).collect(),
            // Every node is on 127.0.0.1.
            max_inbound_per_ip: usize::from(args.nodes) * 2,
            ..P2pConfig::default()
        };
        config.rpc = Some(RpcConfig {
            addr: rpc,
            admin: true,
            ..RpcConfig::default()
        });
        let makes_blocks = i < u32::from(args.miners);
        config.dev_reward = reward;
        match (i, dev_blocks) {
            (0, Some(mode)) if makes_blocks => config.dev_blocks = Some(mode),
            _ => config.mining = makes_blocks.then_some(MinerSettings { threads: 1, reward }),
        }
        match Node::start(config).await {
            Ok(node) => nodes.push(node),
            Err(error) => {
                for node in nodes {
                    node.shutdown().await;
                }
                return Err(CliError(format!("node {i}: {error}")));
            }
        }
    }
    print_welcome(&spec, &root, &nodes, args.miners, dev_blocks);

    let terminal = std::io::stdout().is_terminal();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut ticks = 0u64;
    let signal = wait_for_signal();
    tokio::pin!(signal);
    let mut drawn = false;
    let mut failed = Box::pin(futures_util::future::select_all(
        nodes.iter().map(|node| Box::pin(node.failed())),
    ));
    let mut failure = None;
    loop {
        tokio::select! {
            _ = &mut signal => break,
            (failed, index, _) = &mut failed => {
                eprintln!("\nnode {index} failed: {failed}");
                failure = Some(format!("node {index} failed: {failed}"));
                break;
            }
            _ = ticker.tick() => {
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
    drop(failed);
    println!("\nstopping {} nodes", nodes.len());
    for node in nodes {
        node.shutdown().await;
    }
    println!("stopped");
    match failure {
        Some(failure) => Err(CliError(failure)),
        None => Ok(()),
    }
}

fn print_welcome(
    spec: &ChainSpec,
    root: &Root,
    nodes: &[Node],
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
        let rpc = node
            .rpc_addr()
            .map_or("-".into(), |a| format!("http://{a}"));
        let p2p = node.p2p_addr().map_or("-".into(), |a| a.to_string());
        let role = match (i, dev_blocks) {
            (_, _) if i >= usize::from(miners) => String::new(),
            (0, Some(DevBlocks::Automine)) => "  automine".into(),
            (0, Some(DevBlocks::Every(interval))) => {
                format!("  a block every {} s", interval.as_secs())
            }
            _ => "  mining".into(),
        };
        out.push_str(&format!("  node {i}  rpc {rpc}  p2p {p2p}{role}\n"));
    }
    out.push_str("\nDev accounts (their keys are public: never use them on a real network):\n");
    if let Some(node) = nodes.first() {
        for index in 0..DEV_ACCOUNTS {
            let key = dev_secret_key(index);
            let address = spec.format_address(&key.address());
            let balance = node
                .chain()
                .reader()
                .account(&key.address())
                .map(|a| a.balance.to_string())
                .unwrap_or_else(|e| e.to_string());
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
    let rpc_flag = |node: Option<&Node>| {
        node.and_then(Node::rpc_addr)
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

async fn status_lines(nodes: &[Node]) -> Vec<String> {
    let mut lines = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let tip = node.chain().tip();
        let peers = node.network().peers().await.map_or(0, |p| p.len());
        let pool = node.pool().stats();
        let sync = if node.network().sync_status().syncing {
            "  syncing"
        } else {
            ""
        };
        lines.push(format!(
            "node {i}: height {} tip {} peers {peers} mempool {}{sync}",
            tip.height().value(),
            short(&tip.hash.to_string()),
            pool.count
        ));
    }
    lines
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
