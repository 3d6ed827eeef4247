//! # tern-testnet
//!
//! `tern testnet`: a local network of full nodes in one command, and the faults to break
//! it with on purpose.
//!
//! Each node is a child `tern node` process with its own data directory, config file
//! and log, talking to the others over TCP on loopback, so what a developer sees is what
//! separate machines would do, and a node can fail on its own. The children stop when
//! the testnet does: on Ctrl-C each gets SIGTERM and stops cleanly, and each runs with
//! `--exit-with-parent`, so none outlives a testnet that was killed.
//!
//! Every connection between nodes crosses the testnet's link layer ([`links`]), which
//! delays, throttles and cuts bytes per direction on command. Node `i` serves RPC on
//! 127.0.0.1 port `base + 2i`, and peers know it at 127.0.0.(i+1) port `base + 2i + 1`,
//! the link layer's address for it; the node itself listens on 127.0.1.(i+1), behind
//! it. With the default base node 0 sits on the ports a lone `tern node` uses, and
//! `tern wallet` reaches it without flags.
//!
//! ## Map
//!
//! | module | owns |
//! |---|---|
//! | `lib.rs` | [`TestnetArgs`] and [`run`]: planning the network, starting it, the screen loop |
//! | `nodes` | the node processes' plans and slots: flags, config files, start, stop, kill |
//! | `node_process` | one child `tern node` process |
//! | [`links`] | the link layer: latency, jitter, loss, bandwidth and cuts between nodes |
//! | [`control`] | the control endpoint (`testnet_*` methods) and the file that finds it |
//! | `commands` | `tern testnet partition`, `heal`, `link`, `kill`, `attack` and the rest |
//! | [`attack`] | hostile peers against a node, with `tern_p2p`'s hostile kit |
//! | [`scenario`] | scenario files: steps, checks, and their run |
//! | `screen` | the status screen |
//! | `error` | [`TestnetError`]: how a testnet command fails, as one line |
//!
//! ## What it may not touch
//!
//! It is not the node, and the node does not depend on it: nodes run as `tern node`
//! processes and are reached over their RPC and the peer protocol only, as any other
//! program would. The `tern` binary links it for `tern testnet`; its hostile peers use
//! `tern_p2p`'s hostile kit, whose forged chains come from `tern_chain`'s testkit, so the
//! shipped binary links both for that command alone.

pub mod attack;
mod commands;
pub mod control;
mod error;
pub mod links;
mod node_process;
mod nodes;
pub mod scenario;
mod screen;

pub use commands::{AttackTarget, ControlCommand, LinkFlags, NodeTarget, Target};
pub use error::{Refusal, TestnetError};

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::links::{LinkLayer, LinkProfile};
use clap::Args;
use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_p2p::sync::SyncMode;
use tokio::sync::Semaphore;

use commands::control_command;
use control::{Action, ProcessState, Reply};
use nodes::{act, network_status, stop_all, Planner, Slot};
use screen::{draw_in_place, print_welcome, status_lines};
use tern_tasks::shutdown_signal;

/// How node 0 makes blocks on a development chain besides mining, passed on to it as
/// `tern node --automine` or `--block-time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DevBlocks {
    /// A block as soon as transactions arrive.
    Automine,
    /// A block every interval.
    Every(Duration),
}

/// The longest `--block-time`, as `tern node --block-time` takes it: a day.
pub const MAX_BLOCK_TIME_SECS: u64 = 86_400;

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
    /// --block-time when given, the others by proof-of-work mining [default: 2, so that
    /// both sides of the simplest partition mine; 1 with --automine or --block-time].
    #[arg(long)]
    pub miners: Option<u16>,
    /// Node 0 mines a block as soon as transactions arrive (dev chains), instead of
    /// proof-of-work mining: a transfer confirms in milliseconds.
    #[arg(long, conflicts_with = "block_time")]
    pub automine: bool,
    /// Node 0 mines a block every SECS seconds (dev chains), instead of proof-of-work
    /// mining.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=crate::MAX_BLOCK_TIME_SECS))]
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
    /// Every link's profile, each way.
    #[command(flatten)]
    pub links: LinkFlags,
    /// Seed of the links' jitter and loss draws and of --seeds-per-node's picks, to
    /// repeat a run [default: random].
    #[arg(long, value_name = "N")]
    pub link_seed: Option<u64>,
    /// Give each new node K of the running nodes, picked at random, as its seeds: a
    /// random topology, which address gossip then fills out to each node's 8 outbound
    /// peers [default: every running node].
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(1..=MAX_NODES as i64))]
    pub seeds_per_node: Option<u16>,
    /// Run the scenario in this TOML file (its `[testnet]` settings win over these
    /// flags), print its timeline and report, stop, and exit 1 if a check failed.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Control a running testnet instead of starting one.
    #[command(subcommand)]
    pub control: Option<ControlCommand>,
}

/// Where the network's files live, and whether to remove them at exit.
struct Root {
    path: PathBuf,
    temporary: bool,
}

impl TestnetArgs {
    /// How many nodes make blocks.
    fn miners(&self) -> u16 {
        let dev_blocks = self.automine || self.block_time.is_some();
        self.miners.unwrap_or(if dev_blocks { 1 } else { 2 })
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn prepare_root(args: &TestnetArgs) -> Result<Root, TestnetError> {
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
    let io = |e: std::io::Error| TestnetError(format!("{}: {e}", root.path.display()));
    if args.fresh && root.path.exists() {
        let is_testnet = root.path.join(MARKER).exists();
        let is_empty = std::fs::read_dir(&root.path).map_err(io)?.next().is_none();
        if !is_testnet && !is_empty {
            return Err(TestnetError(format!(
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

fn port(base: u16, offset: u32) -> Result<u16, TestnetError> {
    u16::try_from(u32::from(base) + offset).map_err(|_| {
        TestnetError(format!(
            "--base-port {base} leaves no room for every node's ports"
        ))
    })
}

/// Starts the network, prints how to use it, shows its status until Ctrl-C, stops it;
/// or, with a control command, acts on the running one.
pub async fn run(mut args: TestnetArgs) -> Result<(), TestnetError> {
    if let Some(command) = args.control.take() {
        return control_command(command, args.datadir).await;
    }
    let scenario = match &args.scenario {
        Some(path) => Some(scenario::Scenario::load(path)?),
        None => None,
    };
    if let Some(scenario) = &scenario {
        scenario.testnet.apply(&mut args);
    }
    let spec = ChainSpec::resolve(&args.genesis)?;
    let root = prepare_root(&args)?;
    let reward = spec.format_address(&dev_secret_key(REWARD_ACCOUNT).address());
    let dev_blocks = match (args.automine, args.block_time) {
        (true, _) => Some(DevBlocks::Automine),
        (false, Some(secs)) => Some(DevBlocks::Every(Duration::from_secs(secs))),
        (false, None) => None,
    };
    let profile = args.links.change(true).apply(LinkProfile::default());
    // Jitter and loss need no secret randomness, only a different run each time.
    let seed = args.link_seed.unwrap_or_else(|| {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        (clock.as_nanos() as u64) ^ u64::from(std::process::id())
    });
    let links = LinkLayer::new(profile, seed);
    let planner = Planner {
        args: &args,
        root: &root.path,
        dev_blocks,
        reward,
        links: &links,
        seed,
    };
    let mut slots: Vec<Slot> = Vec::with_capacity(usize::from(args.nodes));
    for _ in 0..args.nodes {
        if let Err(error) = planner.add(&mut slots, SyncMode::Full).await {
            stop_all(slots).await;
            links.shutdown().await;
            return Err(error);
        }
    }
    let (control, control_addr, mut requests) = match control::serve(&root.path).await {
        Ok(served) => served,
        Err(error) => {
            stop_all(slots).await;
            links.shutdown().await;
            return Err(error);
        }
    };
    if scenario.is_none() {
        print_welcome(
            &spec,
            &root,
            &slots,
            &args,
            dev_blocks,
            (profile, seed),
            control_addr,
        )
        .await;
    } else {
        println!(
            "tern testnet: {} nodes, links {profile} (--link-seed {seed}), data in {}, \
             control endpoint http://{control_addr}",
            slots.len(),
            root.path.display()
        );
    }

    let (scenario_done, mut scenario_report) = tokio::sync::oneshot::channel();
    let playing = scenario.is_some();
    if let Some(scenario) = scenario {
        let (root, spec) = (root.path.clone(), spec.clone());
        tokio::spawn(async move {
            let _ = scenario_done.send(scenario::run::play(scenario, root, spec).await);
        });
    }
    // A scenario prints its timeline instead of the status lines.
    let terminal = std::io::stdout().is_terminal() && !playing;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut ticks = 0u64;
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let mut drawn = false;
    let mut failure = None;
    let attacks = Arc::new(Semaphore::new(attack::MAX_ATTACKS));
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
                report = &mut scenario_report, if playing => Wake::ScenarioDone(report.ok()),
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
                    .and_then(|s| Some((s.p2p.advertised, s.process.as_ref()?.client.clone())));
                let permit = Arc::clone(&attacks).try_acquire_owned();
                match (target, permit) {
                    // The attack waits for the node's answer; the loop goes on meanwhile.
                    (Some((addr, rpc)), Ok(permit)) => {
                        let spec = spec.clone();
                        tokio::spawn(async move {
                            let report = attack::attack(node, addr, &rpc, &spec, kind).await;
                            let _ = reply.send(Ok(Reply::Attack(report)));
                            drop(permit);
                        });
                    }
                    (None, _) => {
                        let _ = reply.send(Err(Refusal::NotRunning(node)));
                    }
                    (Some(_), Err(_)) => {
                        let _ = reply.send(Err(Refusal::TooManyAttacks(attack::MAX_ATTACKS)));
                    }
                }
            }
            Wake::Control(request) => {
                let answer = match act(&planner, &mut slots, request.action).await {
                    Ok(()) => Ok(Reply::Network(network_status(&slots, &links).await)),
                    Err(refusal) => Err(refusal),
                };
                // A caller that went away needs no answer.
                let _ = request.reply.send(answer);
            }
            Wake::ScenarioDone(report) => {
                if !report.as_ref().is_some_and(scenario::run::Report::success) {
                    failure = Some("the scenario failed".into());
                }
                break;
            }
            Wake::Tick if playing => {}
            Wake::Tick => {
                ticks += 1;
                let lines = status_lines(&network_status(&slots, &links).await.nodes);
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
    links.shutdown().await;
    println!("stopped");
    match (failure, failed_to_stop) {
        (Some(failure), _) => Err(TestnetError(failure)),
        (None, Some(which)) => Err(TestnetError(which)),
        (None, None) => Ok(()),
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
    /// The scenario ended, with its report (none if its task was lost).
    ScenarioDone(Option<scenario::run::Report>),
    /// Time to redraw the status lines.
    Tick,
}
