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

pub mod attack;
pub mod control;
mod node_process;

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_rpc::chain::TernApiClient;
use tern_rpc::net::TernNetApiClient;
use tern_rpc::server::RpcConfig;

use crate::cli_error::CliError;
use crate::dev_blocks::DevBlocks;
use crate::run::wait_for_signal;
use attack::{AttackKind, AttackReport};
use clap::ValueEnum;
use control::{Action, NodeStatus, NodeView, ProcessState, Reply};
use node_process::NodeProcess;
use rustix::process::Signal;

/// The file that marks a directory as a testnet's, so `--fresh` never wipes anything else.
const MARKER: &str = ".tern-testnet";

/// The most nodes a testnet runs, from the start or added later.
const MAX_NODES: u32 = 64;

/// The dev accounts listed at start.
const DEV_ACCOUNTS: u32 = 10;

/// Where mining rewards go: the last dev account, so the others' balances move only with
/// the transfers a developer makes.
const REWARD_ACCOUNT: u32 = 9;

/// Flags of `tern testnet`.
#[derive(Debug, Args)]
pub struct TestnetArgs {
    /// How many nodes to run.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=MAX_NODES as i64))]
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
    /// Control a running testnet instead of starting one.
    #[command(subcommand)]
    pub control: Option<ControlCommand>,
}

/// Commands for a running testnet, from another terminal. Each finds it through
/// `--datadir`, or else the testnet this user started last.
#[derive(Debug, Subcommand)]
pub enum ControlCommand {
    /// Each node's process, height, tip, peers, mempool and health.
    Status(Target),
    /// Kill a node the hard way: SIGKILL, nothing flushed.
    Kill(NodeTarget),
    /// Start a killed node again on its data directory (a running one is stopped first).
    Restart(NodeTarget),
    /// Freeze a node (SIGSTOP): its connections stay open, it answers nothing.
    Pause(NodeTarget),
    /// Let a paused node run again (SIGCONT).
    Resume(NodeTarget),
    /// Add a node, peering with the running ones.
    Add(Target),
    /// Stop a node for good (its data directory stays).
    Remove(NodeTarget),
    /// Attach a hostile peer to a node and report what the node did about it; exits 1
    /// if the node kept the peer.
    Attack(AttackTarget),
}

/// A node to attack, and how.
#[derive(Debug, Args)]
pub struct AttackTarget {
    /// The node's number.
    pub node: usize,
    /// How the peer misbehaves.
    #[arg(long, value_enum)]
    pub kind: AttackKind,
    /// Which testnet.
    #[command(flatten)]
    pub target: Target,
}

/// Which testnet a control command is for.
#[derive(Debug, Args)]
pub struct Target {
    /// The testnet's data directory [default: the testnet this user started last].
    #[arg(long)]
    pub datadir: Option<PathBuf>,
}

/// A node of a running testnet.
#[derive(Debug, Args)]
pub struct NodeTarget {
    /// The node's number.
    pub node: usize,
    /// Which testnet.
    #[command(flatten)]
    pub target: Target,
}

/// Runs a control command against a running testnet and prints what it answers.
async fn control_command(
    command: ControlCommand,
    datadir: Option<PathBuf>,
) -> Result<(), CliError> {
    let (action, target) = match command {
        ControlCommand::Status(target) => (Action::Status, target),
        ControlCommand::Kill(n) => (Action::Kill(n.node), n.target),
        ControlCommand::Restart(n) => (Action::Restart(n.node), n.target),
        ControlCommand::Pause(n) => (Action::Pause(n.node), n.target),
        ControlCommand::Resume(n) => (Action::Resume(n.node), n.target),
        ControlCommand::Add(target) => (Action::Add, target),
        ControlCommand::Remove(n) => (Action::Remove(n.node), n.target),
        ControlCommand::Attack(a) => (Action::Attack(a.node, a.kind), a.target),
    };
    let datadir = target.datadir.or(datadir);
    let statuses = match control::call(datadir.as_deref(), action).await? {
        Reply::Nodes(statuses) => statuses,
        Reply::Attack(report) => return print_attack(&report),
    };
    for (line, status) in status_lines(&statuses).iter().zip(&statuses) {
        println!("{line}");
        if action == Action::Status {
            let metrics = status.metrics.as_deref().unwrap_or("-");
            println!(
                "  rpc {}  p2p {}  metrics {metrics}",
                status.rpc, status.p2p
            );
        }
    }
    Ok(())
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

/// How node `i` runs.
struct NodePlan {
    /// Its `tern node` flags.
    flags: Vec<String>,
    /// Its config file's text.
    config: String,
    rpc: SocketAddr,
    p2p: SocketAddr,
}

/// How node `i` runs: its flags, its config file, its addresses.
fn node_plan(
    args: &TestnetArgs,
    root: &Path,
    i: u32,
    seeds: &[SocketAddr],
    dev_blocks: Option<DevBlocks>,
    reward: &str,
) -> Result<NodePlan, CliError> {
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
        "--metrics-addr".into(),
        "127.0.0.1:0".into(),
        // Every node is on 127.0.0.1, and more may be added.
        "--max-inbound-per-ip".into(),
        (MAX_NODES * 2).to_string(),
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
    Ok(NodePlan {
        flags,
        config,
        rpc,
        p2p,
    })
}

/// One node of the network: how to start it, and its process while it has one.
struct Slot {
    flags: Vec<String>,
    log: PathBuf,
    rpc: SocketAddr,
    p2p: SocketAddr,
    process: Option<NodeProcess>,
    state: ProcessState,
}

impl Slot {
    async fn start(&mut self) -> Result<(), CliError> {
        let node = NodeProcess::start(&self.flags, &self.log).await?;
        self.process = Some(node);
        self.state = ProcessState::Running;
        Ok(())
    }
}

/// Prints what came of an attack; an error if the node kept the hostile peer.
fn print_attack(report: &AttackReport) -> Result<(), CliError> {
    let kind = report
        .kind
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    let secs = report.after_ms as f64 / 1000.0;
    if let Some(problem) = &report.problem {
        return Err(CliError(problem.clone()));
    }
    if report.dropped {
        println!(
            "node {} dropped the {kind} peer after {secs:.1} s (a healthy node should {})",
            report.node, report.expected
        );
        Ok(())
    } else {
        Err(CliError(format!(
            "node {} still held the {kind} peer after {secs:.1} s; a healthy node should {}",
            report.node, report.expected
        )))
    }
}

/// Starts the network, prints how to use it, shows its status until Ctrl-C, stops it;
/// or, with a control command, acts on the running one.
pub async fn run(mut args: TestnetArgs) -> Result<(), CliError> {
    if let Some(command) = args.control.take() {
        return control_command(command, args.datadir).await;
    }
    let spec = ChainSpec::resolve(&args.genesis)?;
    let root = prepare_root(&args)?;
    let reward = spec.format_address(&dev_secret_key(REWARD_ACCOUNT).address());
    let dev_blocks = match (args.automine, args.block_time) {
        (true, _) => Some(DevBlocks::Automine),
        (false, Some(secs)) => Some(DevBlocks::Every(Duration::from_secs(secs))),
        (false, None) => None,
    };
    let planner = Planner {
        args: &args,
        root: &root.path,
        dev_blocks,
        reward,
    };
    let mut slots: Vec<Slot> = Vec::with_capacity(usize::from(args.nodes));
    for _ in 0..args.nodes {
        if let Err(error) = planner.add(&mut slots).await {
            stop_all(slots).await;
            return Err(error);
        }
    }
    let (control, control_addr, mut requests) = match control::serve(&root.path).await {
        Ok(served) => served,
        Err(error) => {
            stop_all(slots).await;
            return Err(error);
        }
    };
    print_welcome(&spec, &root, &slots, args.miners, dev_blocks, control_addr).await;

    let terminal = std::io::stdout().is_terminal();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut ticks = 0u64;
    let signal = wait_for_signal();
    tokio::pin!(signal);
    let mut drawn = false;
    let mut failure = None;
    loop {
        let wake = {
            let running: Vec<_> = slots
                .iter_mut()
                .enumerate()
                .filter_map(|(i, slot)| Some((i, slot.process.as_mut()?)))
                .map(|(i, node)| Box::pin(async move { (i, node.exited().await) }))
                .collect();
            let exits = async move {
                if running.is_empty() {
                    std::future::pending().await
                } else {
                    futures_util::future::select_all(running).await.0
                }
            };
            tokio::select! {
                _ = &mut signal => Wake::Signal,
                (index, status) = exits => Wake::Exited(index, status),
                Some(request) = requests.recv() => Wake::Control(request),
                _ = ticker.tick() => Wake::Tick,
            }
        };
        match wake {
            Wake::Signal => break,
            Wake::Exited(index, status) => {
                let log = slots
                    .get(index)
                    .map(|s| s.log.display().to_string())
                    .unwrap_or_default();
                let why = format!("node {index} exited ({status}); its log: {log}");
                eprintln!("\n{why}");
                failure = Some(why);
                break;
            }
            Wake::Control(control::Request {
                action: Action::Attack(node, kind),
                reply,
            }) => {
                let target = slots
                    .get(node)
                    .filter(|s| s.state == ProcessState::Running)
                    .map(|s| s.p2p);
                match target {
                    // The attack waits for the node's answer; the loop goes on meanwhile.
                    Some(addr) => {
                        let spec = spec.clone();
                        tokio::spawn(async move {
                            let report = attack::attack(node, addr, &spec, kind).await;
                            let _ = reply.send(Ok(Reply::Attack(report)));
                        });
                    }
                    None => {
                        let _ = reply.send(Err(format!("node {node} is not a running node")));
                    }
                }
            }
            Wake::Control(request) => {
                let answer = match act(&planner, &mut slots, request.action).await {
                    Ok(()) => Ok(Reply::Nodes(statuses(&slots).await)),
                    Err(refusal) => Err(refusal),
                };
                // A caller that went away needs no answer.
                let _ = request.reply.send(answer);
            }
            Wake::Tick => {
                ticks += 1;
                let lines = status_lines(&statuses(&slots).await);
                if terminal {
                    draw_in_place(&lines, drawn);
                    drawn = true;
                } else if ticks % 5 == 1 {
                    println!("{}", lines.join(" | "));
                }
            }
        }
    }
    let _ = control.stop();
    let _ = std::fs::remove_file(root.path.join(control::CONTROL_FILE));
    println!("\nstopping {} nodes", slots.len());
    let failed_to_stop = stop_all(slots).await;
    println!("stopped");
    match (failure, failed_to_stop) {
        (Some(failure), _) => Err(CliError(failure)),
        (None, Some(which)) => Err(CliError(which)),
        (None, None) => Ok(()),
    }
}

/// What it takes to start one more node.
struct Planner<'a> {
    args: &'a TestnetArgs,
    root: &'a Path,
    dev_blocks: Option<DevBlocks>,
    reward: String,
}

impl Planner<'_> {
    /// Plans, writes the config of and starts the next node, peering with the nodes that
    /// run; it joins `slots` once it runs.
    async fn add(&self, slots: &mut Vec<Slot>) -> Result<(), CliError> {
        let i = u32::try_from(slots.len()).unwrap_or(u32::MAX);
        if i >= MAX_NODES {
            return Err(CliError(format!(
                "the testnet has {MAX_NODES} nodes, the most it runs"
            )));
        }
        let seeds: Vec<SocketAddr> = slots
            .iter()
            .filter(|s| s.process.is_some())
            .map(|s| s.p2p)
            .collect();
        let plan = node_plan(
            self.args,
            self.root,
            i,
            &seeds,
            self.dev_blocks,
            &self.reward,
        )?;
        let dir = self.root.join(format!("node-{i}"));
        let io = |e: std::io::Error| CliError(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(&dir).map_err(io)?;
        std::fs::write(dir.join("node.toml"), &plan.config).map_err(io)?;
        let mut slot = Slot {
            flags: plan.flags,
            log: dir.join("node.log"),
            rpc: plan.rpc,
            p2p: plan.p2p,
            process: None,
            state: ProcessState::Killed,
        };
        slot.start()
            .await
            .map_err(|error| CliError(format!("node {i}: {}", error.0)))?;
        slots.push(slot);
        Ok(())
    }
}

/// Carries out a control action on the nodes; why not, when it cannot be.
async fn act(planner: &Planner<'_>, slots: &mut Vec<Slot>, action: Action) -> Result<(), String> {
    let count = slots.len();
    let i = match action {
        Action::Status | Action::Attack(..) => return Ok(()),
        Action::Add => return planner.add(slots).await.map_err(|e| e.0),
        Action::Kill(i)
        | Action::Restart(i)
        | Action::Pause(i)
        | Action::Resume(i)
        | Action::Remove(i) => i,
    };
    let slot = slots.get_mut(i).ok_or_else(|| {
        format!(
            "there is no node {i}: the testnet has nodes 0 to {}",
            count.saturating_sub(1)
        )
    })?;
    match (action, slot.state) {
        (_, ProcessState::Removed) => Err(format!("node {i} was removed")),
        (Action::Remove(_), _) => {
            if let Some(node) = slot.process.take() {
                node.stop().await;
            }
            slot.state = ProcessState::Removed;
            Ok(())
        }
        (Action::Kill(_), ProcessState::Killed) => Err(format!("node {i} is killed already")),
        (Action::Kill(_), _) => {
            if let Some(node) = slot.process.take() {
                node.kill().await;
            }
            slot.state = ProcessState::Killed;
            Ok(())
        }
        (Action::Restart(_), _) => {
            if let Some(node) = slot.process.take() {
                node.stop().await;
            }
            slot.state = ProcessState::Killed;
            slot.start().await.map_err(|e| format!("node {i}: {}", e.0))
        }
        (Action::Pause(_), ProcessState::Running) => {
            signal(slot, Signal::STOP, i)?;
            slot.state = ProcessState::Paused;
            Ok(())
        }
        (Action::Resume(_), ProcessState::Paused) => {
            signal(slot, Signal::CONT, i)?;
            slot.state = ProcessState::Running;
            Ok(())
        }
        (Action::Pause(_), state) | (Action::Resume(_), state) => {
            Err(format!("node {i} is {}", state_name(state)))
        }
        (Action::Status | Action::Add | Action::Attack(..), _) => Ok(()),
    }
}

fn signal(slot: &Slot, signal: Signal, i: usize) -> Result<(), String> {
    slot.process
        .as_ref()
        .ok_or_else(|| format!("node {i} has no process"))?
        .signal(signal)
        .map_err(|e| format!("node {i}: {e}"))
}

fn state_name(state: ProcessState) -> &'static str {
    match state {
        ProcessState::Running => "running",
        ProcessState::Paused => "paused",
        ProcessState::Killed => "killed",
        ProcessState::Removed => "removed",
    }
}

/// What woke the testnet's loop.
enum Wake {
    /// Ctrl-C or SIGTERM.
    Signal,
    /// A node's process exited on its own.
    Exited(usize, std::process::ExitStatus),
    /// A control call.
    Control(control::Request),
    /// Time to redraw the status lines.
    Tick,
}

/// Stops every node at once, and says which did not stop cleanly, if any. A node killed
/// on purpose is not counted.
async fn stop_all(slots: Vec<Slot>) -> Option<String> {
    let stopping = slots
        .into_iter()
        .enumerate()
        .filter_map(|(i, slot)| Some((i, slot.process?)))
        .map(|(i, node)| async move { (i, node.stop().await) });
    let stopped = futures_util::future::join_all(stopping).await;
    let unclean: Vec<String> = stopped
        .iter()
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
    slots: &[Slot],
    miners: u16,
    dev_blocks: Option<DevBlocks>,
    control: SocketAddr,
) {
    let mut out = String::new();
    let keep = if root.temporary {
        "removed at exit; pass --datadir to keep the network"
    } else {
        "kept: run the same command again to resume"
    };
    out.push_str(&format!(
        "tern testnet: {} nodes on {}, data in {} ({keep})\n\n",
        slots.len(),
        spec.name,
        root.path.display()
    ));
    for (i, slot) in slots.iter().enumerate() {
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
            slot.rpc, slot.p2p
        ));
    }
    out.push_str(&format!(
        "\nEach node is a `tern node` process logging to <data>/node-N/node.log. Control \
         endpoint: http://{control} (tern testnet status | kill N | restart N | pause N | \
         resume N | add | remove N, from another terminal).\n"
    ));
    out.push_str("\nDev accounts (their keys are public: never use them on a real network):\n");
    if let Some(node) = slots.first().and_then(|s| s.process.as_ref()) {
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
    let rpc_flag = |slot: Option<&Slot>| {
        slot.map(|s| s.rpc)
            .filter(|addr| *addr != RpcConfig::default().addr)
            .map_or(String::new(), |addr| format!(" --rpc http://{addr}"))
    };
    // The binary running now, so that the commands work as printed whether or not
    // `tern` is on the PATH.
    let tern = std::env::current_exe().map_or_else(|_| "tern".into(), |p| p.display().to_string());
    let first = rpc_flag(slots.first());
    let second = rpc_flag(slots.get(1).or(slots.first()));
    out.push_str(&format!(
        "\nTry, from another terminal:\n  \
         {tern} wallet import --name alice --dev 0\n  \
         {tern} wallet import --name bob --dev 1\n  \
         {tern} wallet send --from alice --to bob --amount 1000000 --wait 1{first}\n  \
         {tern} wallet balance bob{second}\n  \
         {tern} testnet kill 1\n  \
         {tern} testnet status\n\nCtrl-C stops every node.\n\n"
    ));
    print!("{out}");
    let _ = std::io::stdout().flush();
}

/// Every node's process state and, for a running one, its figures from its own RPC.
async fn statuses(slots: &[Slot]) -> Vec<NodeStatus> {
    let each = slots.iter().enumerate().map(|(i, slot)| async move {
        let mut status = NodeStatus {
            node: i,
            process: slot.state,
            rpc: format!("http://{}", slot.rpc),
            p2p: slot.p2p.to_string(),
            metrics: slot
                .process
                .as_ref()
                .and_then(|n| n.metrics)
                .map(|addr| format!("http://{addr}/metrics")),
            view: None,
            problem: None,
        };
        let Some(node) = slot
            .process
            .as_ref()
            .filter(|_| slot.state == ProcessState::Running)
        else {
            return status;
        };
        let c = &node.client;
        let (info, net, pool, health) = tokio::join!(
            c.chain_info(),
            c.net_info(),
            c.mempool_info(),
            c.node_health()
        );
        match (info, net, pool, health) {
            (Ok(info), Ok(net), Ok(pool), Ok(health)) => {
                status.view = Some(NodeView {
                    height: info.height,
                    tip: info.best_hash,
                    peers: net.inbound + net.outbound,
                    mempool: pool.count,
                    health: health.status,
                })
            }
            (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => {
                status.problem = Some(e.to_string())
            }
        }
        status
    });
    futures_util::future::join_all(each).await
}

/// One line per node, as the status screen and `tern testnet status` print them.
pub fn status_lines(statuses: &[NodeStatus]) -> Vec<String> {
    statuses
        .iter()
        .map(|s| match (&s.view, &s.problem, s.process) {
            (Some(v), _, _) => format!(
                "node {}: height {} tip {} peers {} mempool {} {}",
                s.node,
                v.height,
                short(&v.tip),
                v.peers,
                v.mempool,
                v.health
            ),
            (None, Some(problem), _) => format!("node {}: not answering ({problem})", s.node),
            (None, None, state) => format!("node {}: {}", s.node, state_name(state)),
        })
        .collect()
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
