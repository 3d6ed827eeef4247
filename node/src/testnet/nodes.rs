//! The testnet's nodes as its loop keeps them: how each is started (its flags and config
//! file), its process while it has one, the control actions on it, and what each reports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rustix::process::Signal;
use tern_rpc::chain::TernApiClient;
use tern_rpc::net::TernNetApiClient;

use super::control::{Action, NodeStatus, NodeView, ProcessState};
use super::node_process::NodeProcess;
use super::{port, TestnetArgs, MAX_NODES};
use crate::cli_error::CliError;
use crate::dev_blocks::DevBlocks;

/// How node `i` runs.
pub(super) struct NodePlan {
    /// Its `tern node` flags.
    flags: Vec<String>,
    /// Its config file's text.
    config: String,
    rpc: SocketAddr,
    p2p: SocketAddr,
}

/// How node `i` runs: its flags, its config file, its addresses.
pub(super) fn node_plan(
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
pub(super) struct Slot {
    /// Its `tern node` flags, the same at every start.
    pub(super) flags: Vec<String>,
    /// Its log, appended to at every start.
    pub(super) log: PathBuf,
    /// Where it serves RPC, across restarts.
    pub(super) rpc: SocketAddr,
    /// Where it accepts peers, across restarts.
    pub(super) p2p: SocketAddr,
    /// Its process, while it has one (running or paused).
    pub(super) process: Option<NodeProcess>,
    /// What the process is doing.
    pub(super) state: ProcessState,
}

impl Slot {
    async fn start(&mut self) -> Result<(), CliError> {
        let node = NodeProcess::start(&self.flags, &self.log).await?;
        self.process = Some(node);
        self.state = ProcessState::Running;
        Ok(())
    }
}

/// What it takes to start one more node.
pub(super) struct Planner<'a> {
    pub(super) args: &'a TestnetArgs,
    pub(super) root: &'a Path,
    pub(super) dev_blocks: Option<DevBlocks>,
    pub(super) reward: String,
}

impl Planner<'_> {
    /// Plans, writes the config of and starts the next node, peering with the nodes that
    /// run; it joins `slots` once it runs.
    pub(super) async fn add(&self, slots: &mut Vec<Slot>) -> Result<(), CliError> {
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
pub(super) async fn act(
    planner: &Planner<'_>,
    slots: &mut Vec<Slot>,
    action: Action,
) -> Result<(), String> {
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

pub(super) fn state_name(state: ProcessState) -> &'static str {
    match state {
        ProcessState::Running => "running",
        ProcessState::Paused => "paused",
        ProcessState::Killed => "killed",
        ProcessState::Removed => "removed",
    }
}

/// Stops every node at once, and says which did not stop cleanly, if any. A node killed
/// on purpose is not counted.
pub(super) async fn stop_all(slots: Vec<Slot>) -> Option<String> {
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

/// Every node's process state and, for a running one, its figures from its own RPC.
pub(super) async fn statuses(slots: &[Slot]) -> Vec<NodeStatus> {
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
