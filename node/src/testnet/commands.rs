//! `tern testnet status | kill | restart | pause | resume | add | remove | attack`: the
//! commands a developer types in another terminal, and what they print.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::attack::{AttackKind, AttackReport};
use super::control::{self, Action, Reply};
use super::screen::status_lines;
use crate::cli_error::CliError;

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
pub(super) async fn control_command(
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
