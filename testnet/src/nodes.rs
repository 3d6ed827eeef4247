//! The testnet's nodes as its loop keeps them: how each is started (its flags and config
//! file, its addresses behind the link layer), its process while it has one, the control
//! actions on it and on the links between them, and what each reports.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::links::{LinkLayer, LinkReport, NodeAddrs};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustix::process::Signal;
use tern_p2p::sync::SyncMode;
use tern_rpc::chain::TernApiClient;
use tern_rpc::net::TernNetApiClient;

use super::control::{Action, LinkChange, NetworkStatus, NodeStatus, NodeView, ProcessState};
use super::node_process::NodeProcess;
use super::{port, TestnetArgs, MAX_NODES};
use crate::error::{Refusal, TestnetError};
use crate::DevBlocks;

/// How node `i` runs.
pub(super) struct NodePlan {
    /// Its `tern node` flags.
    flags: Vec<String>,
    /// Its config file's text.
    config: String,
    rpc: SocketAddr,
    p2p: NodeAddrs,
}

/// How node `i` runs: its flags, its config file, its addresses. It listens on its real
/// address and dials from it; the others know it by its advertised one, the link
/// layer's (see [`crate::links`]).
pub(super) fn node_plan(
    args: &TestnetArgs,
    root: &Path,
    i: u32,
    seeds: &[SocketAddr],
    dev_blocks: Option<DevBlocks>,
    reward: &str,
    sync: SyncMode,
) -> Result<NodePlan, TestnetError> {
    let rpc = SocketAddr::from(([127, 0, 0, 1], port(args.base_port, 2 * i)?));
    let p2p = usize::try_from(i)
        .ok()
        .and_then(|index| NodeAddrs::loopback(index, 0))
        .ok_or_else(|| TestnetError(format!("node {i}: past the loopback addresses nodes get")))?;
    let p2p_port = port(args.base_port, 2 * i + 1)?;
    let p2p = NodeAddrs {
        real: SocketAddr::new(p2p.real.ip(), p2p_port),
        advertised: SocketAddr::new(p2p.advertised.ip(), p2p_port),
    };
    let dir = root.join(format!("node-{i}"));
    let mut flags: Vec<String> = vec![
        "--genesis".into(),
        args.genesis.clone(),
        "--datadir".into(),
        dir.display().to_string(),
        "--config".into(),
        dir.join("node.toml").display().to_string(),
        "--p2p-addr".into(),
        p2p.real.to_string(),
        "--p2p-dial-from".into(),
        p2p.real.ip().to_string(),
        "--rpc-addr".into(),
        rpc.to_string(),
        "--rpc-admin".into(),
        // The explorer is on in a testnet: its URL is what the welcome prints first.
        "--explorer".into(),
        "--metrics-addr".into(),
        "127.0.0.1:0".into(),
        // Hostile peers all come from 127.0.0.1, up to attack::MAX_ATTACKS at once.
        "--max-inbound-per-ip".into(),
        (MAX_NODES * 2).to_string(),
        "--log".into(),
        "info".into(),
    ];
    for seed in seeds {
        flags.extend(["--peer".into(), seed.to_string()]);
    }
    if sync == SyncMode::Snapshot {
        flags.extend(["--sync".into(), sync.name().into()]);
    }
    if i < u32::from(args.miners()) {
        match (i, dev_blocks) {
            (0, Some(DevBlocks::Automine)) => flags.push("--automine".into()),
            (0, Some(DevBlocks::Every(interval))) => {
                flags.extend(["--block-time".into(), interval.as_secs().to_string()])
            }
            _ => flags.push("--mine".into()),
        }
    }
    // The reward address in the node's file rather than as --mine-to, which would win
    // over the file: whoever runs the testnet can change it there before a restart.
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
    /// Where it accepts peers, across restarts: the link layer's address for it, and
    /// its own behind it.
    pub(super) p2p: NodeAddrs,
    /// Its process, while it has one (running or paused).
    pub(super) process: Option<NodeProcess>,
    /// What the process is doing.
    pub(super) state: ProcessState,
}

impl Slot {
    async fn start(&mut self) -> Result<(), TestnetError> {
        let node = NodeProcess::start(&self.flags, &self.log).await?;
        self.process = Some(node);
        self.state = ProcessState::Running;
        Ok(())
    }
}

/// `count` of `candidates` (all of them if there are no more), picked at random from
/// `seed`: the same seed picks the same ones.
fn pick_seeds(mut candidates: Vec<SocketAddr>, count: usize, seed: u64) -> Vec<SocketAddr> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let count = count.min(candidates.len());
    // The first `count` places of a Fisher-Yates shuffle.
    for place in 0..count {
        let left = (candidates.len() - place) as u64;
        let pick = place + usize::try_from(rng.next_u64() % left).unwrap_or(0);
        candidates.swap(place, pick);
    }
    candidates.truncate(count);
    candidates
}

/// What it takes to start one more node.
pub(super) struct Planner<'a> {
    pub(super) args: &'a TestnetArgs,
    pub(super) root: &'a Path,
    pub(super) dev_blocks: Option<DevBlocks>,
    pub(super) reward: String,
    /// Every connection between nodes goes through it.
    pub(super) links: &'a LinkLayer,
    /// The run's seed (`--link-seed`), for picking seeds at random.
    pub(super) seed: u64,
}

impl Planner<'_> {
    /// Plans, writes the config of and starts the next node, peering with the nodes that
    /// run; it joins `slots` once it runs.
    pub(super) async fn add(
        &self,
        slots: &mut Vec<Slot>,
        sync: SyncMode,
    ) -> Result<(), TestnetError> {
        let i = u32::try_from(slots.len()).unwrap_or(u32::MAX);
        if i >= MAX_NODES {
            return Err(TestnetError(format!(
                "the testnet has {MAX_NODES} nodes, the most it runs"
            )));
        }
        let running: Vec<SocketAddr> = slots
            .iter()
            .filter(|s| s.process.is_some())
            .map(|s| s.p2p.advertised)
            .collect();
        let seeds = match self.args.seeds_per_node {
            Some(count) => pick_seeds(running, usize::from(count), self.seed ^ u64::from(i)),
            None => running,
        };
        let plan = node_plan(
            self.args,
            self.root,
            i,
            &seeds,
            self.dev_blocks,
            &self.reward,
            sync,
        )?;
        let dir = self.root.join(format!("node-{i}"));
        let io = |e: std::io::Error| TestnetError(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(&dir).map_err(io)?;
        std::fs::write(dir.join("node.toml"), &plan.config).map_err(io)?;
        let index = slots.len();
        self.links.attach(index, plan.p2p).await.map_err(|e| {
            TestnetError(format!(
                "node {i}: cannot listen for it on {}: {e}",
                plan.p2p.advertised
            ))
        })?;
        let mut slot = Slot {
            flags: plan.flags,
            log: dir.join("node.log"),
            rpc: plan.rpc,
            p2p: plan.p2p,
            process: None,
            state: ProcessState::Killed,
        };
        if let Err(error) = slot.start().await {
            self.links.detach(index);
            return Err(TestnetError(format!("node {i}: {}", error.0)));
        }
        slots.push(slot);
        Ok(())
    }
}

/// Carries out a control action on the nodes; why not, when it cannot be.
pub(super) async fn act(
    planner: &Planner<'_>,
    slots: &mut Vec<Slot>,
    action: Action,
) -> Result<(), Refusal> {
    let count = slots.len();
    let i = match action {
        Action::Status | Action::Attack(..) => return Ok(()),
        Action::Add(sync) => {
            return planner
                .add(slots, sync)
                .await
                .map_err(|e| Refusal::Start(e.0))
        }
        Action::Partition(partition) => {
            if let Some(node) = partition.nodes().find(|&n| n >= count) {
                return Err(no_such_node(node, count));
            }
            planner.links.heal();
            planner.links.partition(&partition);
            return Ok(());
        }
        Action::Heal => {
            planner.links.heal();
            return Ok(());
        }
        Action::Link(change) => return change_link(planner.links, count, &change),
        Action::Kill(i)
        | Action::Restart(i)
        | Action::Pause(i)
        | Action::Resume(i)
        | Action::Remove(i) => i,
    };
    let slot = slots.get_mut(i).ok_or_else(|| no_such_node(i, count))?;
    match (action, slot.state) {
        (_, ProcessState::Removed) => Err(Refusal::Removed(i)),
        (Action::Remove(_), _) => {
            if let Some(node) = slot.process.take() {
                node.stop().await;
            }
            planner.links.detach(i);
            slot.state = ProcessState::Removed;
            Ok(())
        }
        (Action::Kill(_), ProcessState::Killed) => Err(Refusal::KilledAlready(i)),
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
            slot.start()
                .await
                .map_err(|e| Refusal::Start(format!("node {i}: {}", e.0)))
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
        (Action::Pause(_), state) | (Action::Resume(_), state) => Err(Refusal::WrongState {
            node: i,
            state: state_name(state),
        }),
        (
            Action::Status
            | Action::Add(_)
            | Action::Attack(..)
            | Action::Partition(_)
            | Action::Heal
            | Action::Link(_),
            _,
        ) => Ok(()),
    }
}

fn no_such_node(node: usize, count: usize) -> Refusal {
    Refusal::NoSuchNode {
        node,
        last: count.saturating_sub(1),
    }
}

/// Changes the link between two nodes, one way or both.
fn change_link(links: &LinkLayer, count: usize, change: &LinkChange) -> Result<(), Refusal> {
    for node in [change.from, change.to] {
        if node >= count {
            return Err(no_such_node(node, count));
        }
    }
    if change.from == change.to {
        return Err(Refusal::SelfLink(change.from));
    }
    if change.profile.is_empty() && change.cut.is_none() {
        return Err(Refusal::NothingToChange);
    }
    let mut directions = vec![(change.from, change.to)];
    if !change.one_way {
        directions.push((change.to, change.from));
    }
    for (from, to) in directions {
        if !change.profile.is_empty() {
            links.set_profile(from, to, change.profile.apply(links.profile(from, to)));
        }
        if let Some(cut) = change.cut {
            links.set_cut(from, to, cut);
        }
    }
    Ok(())
}

fn signal(slot: &Slot, signal: Signal, i: usize) -> Result<(), Refusal> {
    slot.process
        .as_ref()
        .ok_or(Refusal::NoProcess(i))?
        .signal(signal)
        .map_err(|source| Refusal::Signal { node: i, source })
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

/// Every node's process state, its faults and, for a running one, its figures from its
/// own RPC; and every link's.
pub(super) async fn network_status(slots: &[Slot], links: &LinkLayer) -> NetworkStatus {
    let links_now = links.report();
    let mut faults = faults(&links_now, links);
    let mut nodes = statuses(slots).await;
    for node in &mut nodes {
        node.faults = faults.remove(&node.node).unwrap_or_default();
    }
    NetworkStatus {
        nodes,
        links: links_now,
    }
}

/// Each node's links that differ from the testnet's default, grouped by what they do:
/// `cut →1,2`, `200ms 5% loss →3`.
fn faults(report: &[LinkReport], links: &LinkLayer) -> BTreeMap<usize, Vec<String>> {
    let default = links.default_profile();
    let mut by_node: BTreeMap<usize, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for link in report {
        let mut what = Vec::new();
        if link.cut {
            what.push("cut".to_owned());
        }
        if link.profile != default {
            what.push(link.profile.to_string());
        }
        if !what.is_empty() {
            by_node
                .entry(link.from)
                .or_default()
                .entry(what.join(", "))
                .or_default()
                .push(link.to.to_string());
        }
    }
    by_node
        .into_iter()
        .map(|(node, groups)| {
            let lines = groups
                .into_iter()
                .map(|(what, to)| format!("{what} →{}", to.join(",")))
                .collect();
            (node, lines)
        })
        .collect()
}

/// Every node's process state and, for a running one, its figures from its own RPC.
async fn statuses(slots: &[Slot]) -> Vec<NodeStatus> {
    let each = slots.iter().enumerate().map(|(i, slot)| async move {
        let mut status = NodeStatus {
            node: i,
            process: slot.state,
            rpc: format!("http://{}", slot.rpc),
            p2p: slot.p2p.advertised.to_string(),
            metrics: slot
                .process
                .as_ref()
                .and_then(|n| n.metrics)
                .map(|addr| format!("http://{addr}/metrics")),
            view: None,
            problem: None,
            faults: Vec::new(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(count: u8) -> Vec<SocketAddr> {
        (0..count)
            .map(|i| SocketAddr::from(([127, 0, 0, i + 1], 9000)))
            .collect()
    }

    #[test]
    fn seeds_are_picked_distinct_at_random_and_the_same_for_a_seed() {
        let picked = pick_seeds(addrs(20), 3, 7);
        assert_eq!(picked.len(), 3);
        let mut distinct = picked.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 3);
        assert_eq!(
            pick_seeds(addrs(20), 3, 7),
            picked,
            "repeatable from its seed"
        );
        // Over many seeds, every candidate is picked sometimes: not always the first ones.
        let mut seen: Vec<SocketAddr> =
            (0..200).flat_map(|s| pick_seeds(addrs(20), 3, s)).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 20);
        assert_eq!(
            pick_seeds(addrs(2), 3, 7).len(),
            2,
            "all when there are fewer"
        );
        assert!(pick_seeds(Vec::new(), 3, 7).is_empty());
    }
}
