//! `tern testnet status | kill | restart | pause | resume | add | remove | attack |
//! partition | heal | link`: the commands a developer types in another terminal, and
//! what they print.

use std::path::PathBuf;

use crate::links::{Bandwidth, Delay, Loss, Partition, ProfileChange};
use clap::{Args, Subcommand};
use tern_p2p::sync::SyncMode;

use super::attack::{AttackKind, AttackReport};
use super::control::{self, Action, LinkChange, Reply};
use super::screen::status_lines;
use crate::error::TestnetError;

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
    Add(AddTarget),
    /// Stop a node for good (its data directory stays).
    Remove(NodeTarget),
    /// Attach a hostile peer to a node and report what the node did about it; exits 1
    /// if the node kept the peer.
    Attack(AttackTarget),
    /// Cut the links between sides: `partition 0,1 / 2,3,4`. Nodes left out keep their
    /// links to every side; a new partition replaces the last.
    Partition(PartitionTarget),
    /// Heal every cut link (latency, loss and bandwidth stay).
    Heal(Target),
    /// Change the link between two nodes, both ways unless --one-way: `link 0 2
    /// --latency 200ms --loss 5%`. What is not named stays as it is.
    Link(LinkTarget),
}

/// The sides of a partition.
#[derive(Debug, Args)]
pub struct PartitionTarget {
    /// Node numbers, sides split by `/`: `0,1 / 2,3,4`.
    #[arg(required = true, num_args = 1.., value_name = "SIDES")]
    pub sides: Vec<String>,
    /// Which testnet.
    #[command(flatten)]
    pub target: Target,
}

/// A link's profile as flags, each way: what `tern testnet` starts every link with, and
/// what `tern testnet link` changes.
#[derive(Debug, Clone, Default, Args)]
pub struct LinkFlags {
    /// Latency (200ms, 1.5s; 0 for none).
    #[arg(long, value_name = "DELAY")]
    pub latency: Option<Delay>,
    /// Jitter: each trip takes the latency plus or minus up to this.
    #[arg(long, value_name = "DELAY")]
    pub jitter: Option<Delay>,
    /// Loss of TCP segments (5%; 0% for none), which TCP turns into resends and stalls.
    #[arg(long, value_name = "PERCENT")]
    pub loss: Option<Loss>,
    /// Bandwidth (10mbit, 512kbit) [default: no limit].
    #[arg(long, value_name = "RATE")]
    pub bandwidth: Option<Bandwidth>,
}

impl LinkFlags {
    /// The change the flags make, from a perfect link if `perfect`.
    pub fn change(&self, perfect: bool) -> ProfileChange {
        ProfileChange {
            perfect,
            latency: self.latency,
            jitter: self.jitter,
            loss: self.loss,
            bandwidth: self.bandwidth,
        }
    }
}

/// A link, and what to change about it.
#[derive(Debug, Args)]
pub struct LinkTarget {
    /// One node.
    pub from: usize,
    /// The other node.
    pub to: usize,
    /// What to change.
    #[command(flatten)]
    pub profile: LinkFlags,
    /// Make the link perfect first (no latency, loss or limit), then apply the others.
    #[arg(long)]
    pub perfect: bool,
    /// Cut the link: no byte crosses until it heals.
    #[arg(long, conflicts_with = "heal")]
    pub cut: bool,
    /// Heal the link if it was cut.
    #[arg(long)]
    pub heal: bool,
    /// Only the direction FROM → TO.
    #[arg(long)]
    pub one_way: bool,
    /// Which testnet.
    #[command(flatten)]
    pub target: Target,
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

/// A node to add to a running testnet.
#[derive(Debug, Args)]
pub struct AddTarget {
    /// How it joins: `full` replays every block, `snapshot` takes the state at a block 64
    /// below the best header from its peers (a testnet of 64 blocks or fewer is synced in
    /// full either way).
    #[arg(long, value_name = "MODE", value_parser = <SyncMode as std::str::FromStr>::from_str, default_value = "full")]
    pub sync: SyncMode,
    /// Which testnet.
    #[command(flatten)]
    pub target: Target,
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
pub(super) async fn control_command(
    command: ControlCommand,
    datadir: Option<PathBuf>,
) -> Result<(), TestnetError> {
    let (action, target) = match command {
        ControlCommand::Status(target) => (Action::Status, target),
        ControlCommand::Kill(n) => (Action::Kill(n.node), n.target),
        ControlCommand::Restart(n) => (Action::Restart(n.node), n.target),
        ControlCommand::Pause(n) => (Action::Pause(n.node), n.target),
        ControlCommand::Resume(n) => (Action::Resume(n.node), n.target),
        ControlCommand::Add(add) => (Action::Add(add.sync), add.target),
        ControlCommand::Remove(n) => (Action::Remove(n.node), n.target),
        ControlCommand::Attack(a) => (Action::Attack(a.node, a.kind), a.target),
        ControlCommand::Heal(target) => (Action::Heal, target),
        ControlCommand::Partition(p) => {
            let partition: Partition = p
                .sides
                .join(" ")
                .parse()
                .map_err(|e| TestnetError(format!("partition: {e}")))?;
            (Action::Partition(partition), p.target)
        }
        ControlCommand::Link(l) => {
            let change = LinkChange {
                from: l.from,
                to: l.to,
                one_way: l.one_way,
                profile: l.profile.change(l.perfect),
                cut: (l.cut || l.heal).then_some(l.cut),
            };
            (Action::Link(change), l.target)
        }
    };
    let datadir = target.datadir.or(datadir);
    let statuses = match control::call(datadir.as_deref(), action.clone()).await? {
        Reply::Network(network) => network.nodes,
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

/// Prints what came of an attack; an error if the node kept the hostile peer.
fn print_attack(report: &AttackReport) -> Result<(), TestnetError> {
    let kind = report.kind;
    let secs = report.after_ms as f64 / 1000.0;
    if let Some(problem) = &report.problem {
        return Err(TestnetError(problem.clone()));
    }
    if let Some(detail) = &report.detail {
        println!("the {kind} peer {detail}");
    }
    let what = match &report.banned {
        Some(reason) => format!("banned the {kind} peer ({reason})"),
        None => format!("dropped the {kind} peer"),
    };
    if report.dropped {
        println!(
            "node {} {what} after {secs:.1} s (a healthy node should {})",
            report.node, report.expected
        );
        Ok(())
    } else {
        Err(TestnetError(format!(
            "node {} still held the {kind} peer after {secs:.1} s; a healthy node should {}",
            report.node, report.expected
        )))
    }
}
