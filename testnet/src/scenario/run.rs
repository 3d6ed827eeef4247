//! Plays a scenario against the running testnet: each step through the control calls a
//! script would make, or the nodes' own RPC, printed on a timeline as it happens; then a
//! report. A check that fails is reported and the scenario goes on, so the report is
//! whole; a step that cannot be carried out (a refused control call, a node that does not
//! answer) ends it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tern_chain::crypto::dev_secret_key;
use tern_chain::encoding;
use tern_chain::genesis::ChainSpec;
use tern_chain::tx::Transaction;
use tern_chain::types::Amount;
use tern_rpc::chain::{TernApiClient, TxStatus};
use tern_rpc::jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use tern_rpc::mining::TernAdminApiClient;
use tern_rpc::net::{TernNetAdminApiClient, TernNetApiClient};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::failure::{CheckFailure, SeenBan, StepFailure, Tips};
use super::watch::{Watched, Watcher, POLL};
use super::{Act, Check, Scenario, Step, SyncName};
use crate::attack::AttackReport;
use crate::control::{self, Action, NetworkStatus, ProcessState, Reply};

/// How long one RPC call to a node may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What came of a scenario.
#[derive(Debug)]
pub struct Report {
    /// Checks that held.
    pub passed: usize,
    /// Checks that failed, each with its step's number (from 1) and why.
    pub failed: Vec<(usize, CheckFailure)>,
    /// Why the scenario stopped before its end, if it did: the step's number (0 before
    /// the first) and why.
    pub stopped: Option<(usize, StepFailure)>,
}

impl Report {
    /// Whether every check held and every step ran.
    pub fn success(&self) -> bool {
        self.failed.is_empty() && self.stopped.is_none()
    }
}

/// Plays `scenario` on the testnet whose data directory is `root`.
pub async fn play(scenario: Scenario, root: PathBuf, spec: ChainSpec) -> Report {
    let started = Instant::now();
    println!(
        "\nscenario {} ({} steps){}\n",
        scenario.name,
        scenario.steps.len(),
        scenario
            .description
            .as_deref()
            .map_or(String::new(), |d| format!(
                ": {}",
                d.split_whitespace().collect::<Vec<_>>().join(" ")
            ))
    );
    let watcher = Watcher::default();
    let stop = CancellationToken::new();
    let watching = tokio::spawn(watcher.clone().run(stop.clone()));
    let mut player = Player {
        root,
        spec,
        watcher,
        nodes: BTreeMap::new(),
        transfers: Vec::new(),
        attacks: Vec::new(),
    };
    let mut report = Report {
        passed: 0,
        failed: Vec::new(),
        stopped: None,
    };
    if let Err(why) = player.refresh().await {
        report.stopped = Some((0, why));
    }
    for (i, step) in scenario.steps.iter().enumerate() {
        if report.stopped.is_some() {
            break;
        }
        let at = || started.elapsed().as_secs_f64();
        match step {
            Step::Act(act) => match player.act(act).await {
                Ok(done) => println!("{:>7.1}s  {}. {done}", at(), i + 1),
                Err(why) => {
                    println!("{:>7.1}s  {}. STOPPED: {why}", at(), i + 1);
                    report.stopped = Some((i + 1, why));
                }
            },
            Step::Check(check) => match player.check(check).await {
                Ok(held) => {
                    println!("{:>7.1}s  {}. ok: {held}", at(), i + 1);
                    report.passed += 1;
                }
                Err(why) => {
                    println!("{:>7.1}s  {}. FAILED: {why}", at(), i + 1);
                    report.failed.push((i + 1, why));
                }
            },
        }
    }
    stop.cancel();
    let _ = watching.await;
    for attack in player.attacks.drain(..) {
        attack.abort();
    }
    let deepest = player
        .watcher
        .deepest_reorg()
        .map_or("none".into(), |(node, depth)| {
            format!("{depth} blocks (node {node})")
        });
    println!(
        "\nreport: {} checks held, {} failed; {} transfers accepted; deepest reorg {deepest}; {:.1} s",
        report.passed,
        report.failed.len(),
        player.transfers.len(),
        started.elapsed().as_secs_f64()
    );
    for (step, why) in &report.failed {
        println!("  step {step}: {why}");
    }
    if let Some((step, why)) = &report.stopped {
        println!("  step {step}: {why}");
    }
    report
}

/// The scenario's side of the testnet.
/// Who a flood pays.
#[derive(Debug, Clone, Copy)]
enum Recipients {
    /// This dev account, every time.
    One(u32),
    /// A dev account of its own each time, from this one on.
    Each(u32),
}

struct Player {
    root: PathBuf,
    spec: ChainSpec,
    watcher: Watcher,
    /// The running nodes' RPC clients, by number.
    nodes: BTreeMap<usize, HttpClient>,
    /// Every transfer a node accepted: its id.
    transfers: Vec<String>,
    /// Hostile peers still at work.
    attacks: Vec<JoinHandle<Result<AttackReport, StepFailure>>>,
}

impl Player {
    async fn control(&self, action: Action) -> Result<Reply, StepFailure> {
        control::call(Some(&self.root), action)
            .await
            .map_err(|e| StepFailure::Control(e.0))
    }

    /// Learns which nodes run and where, and tells the watcher.
    async fn refresh(&mut self) -> Result<NetworkStatus, StepFailure> {
        let Reply::Network(network) = self.control(Action::Status).await? else {
            return Err(StepFailure::UnexpectedReply { asked: "a status" });
        };
        self.follow(&network)?;
        Ok(network)
    }

    fn follow(&mut self, network: &NetworkStatus) -> Result<(), StepFailure> {
        let mut nodes = BTreeMap::new();
        let mut watched = BTreeMap::new();
        for node in network
            .nodes
            .iter()
            .filter(|n| n.process == ProcessState::Running)
        {
            let client = HttpClientBuilder::default()
                .request_timeout(CALL_TIMEOUT)
                .build(&node.rpc)
                .map_err(|e| StepFailure::Client {
                    node: node.node,
                    error: e.to_string(),
                })?;
            let metrics = node
                .metrics
                .as_deref()
                .and_then(|url| url.strip_prefix("http://")?.split('/').next()?.parse().ok());
            watched.insert(
                node.node,
                Watched {
                    rpc: client.clone(),
                    metrics,
                },
            );
            nodes.insert(node.node, client);
        }
        self.watcher.follow(watched);
        self.nodes = nodes;
        Ok(())
    }

    fn node(&self, node: usize) -> Result<&HttpClient, StepFailure> {
        self.nodes.get(&node).ok_or(StepFailure::NotRunning(node))
    }

    /// Carries out a step; what it did, in words.
    async fn act(&mut self, act: &Act) -> Result<String, StepFailure> {
        if let Act::Kill { node } | Act::Restart { node } = act {
            self.watcher.forget_ready(*node);
        }
        if let Some(action) = act.control() {
            let Reply::Network(network) = self.control(action).await? else {
                return Err(StepFailure::UnexpectedReply { asked: "a step" });
            };
            self.follow(&network)?;
            return Ok(describe(act));
        }
        match act {
            Act::Wait { span } => {
                tokio::time::sleep(span.duration()).await;
                Ok(format!("waited {span}"))
            }
            Act::WaitHeight { height, within } => {
                let deadline = Instant::now() + within.duration();
                loop {
                    let tips = self.heights().await;
                    if tips.values().all(|h| h.0 >= *height) {
                        return Ok(format!("every node at height {height} or above"));
                    }
                    if Instant::now() >= deadline {
                        return Err(StepFailure::HeightNotReached {
                            height: *height,
                            within: *within,
                            tips,
                        });
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
            Act::Transfer {
                node,
                from,
                to,
                amount,
            } => {
                let txids = self
                    .submit(*node, &[*from], Recipients::One(*to), *amount, 1)
                    .await?;
                Ok(format!(
                    "transfer {amount} from dev {from} to dev {to} via node {node}: {}",
                    txids.first().map_or("", String::as_str)
                ))
            }
            Act::Flood {
                node,
                from,
                to,
                count,
                new_accounts,
            } => {
                let recipients = if *new_accounts {
                    Recipients::Each(*to)
                } else {
                    Recipients::One(*to)
                };
                let txids = self.submit(*node, from, recipients, 1, *count).await?;
                Ok(format!(
                    "flood of {count} transfers from dev {from:?} via node {node}: {} accepted",
                    txids.len()
                ))
            }
            Act::Mine { node, blocks } => {
                let mined = self
                    .node(*node)?
                    .dev_mine(*blocks, None)
                    .await
                    .map_err(|e| StepFailure::Rpc {
                        node: *node,
                        call: "dev_mine",
                        error: e.to_string(),
                    })?;
                Ok(format!("node {node} mined {} blocks", mined.len()))
            }
            Act::Attack { node, kind } => {
                let (root, node, kind) = (self.root.clone(), *node, *kind);
                self.attacks.push(tokio::spawn(async move {
                    match control::call(Some(&root), Action::Attack(node, kind)).await {
                        Ok(Reply::Attack(report)) => Ok(report),
                        Ok(_) => Err(StepFailure::UnexpectedReply { asked: "an attack" }),
                        Err(e) => Err(StepFailure::Control(e.0)),
                    }
                }));
                Ok(format!("a hostile peer ({kind}) attached to node {node}"))
            }
            // Control steps were carried out above.
            _ => Ok(describe(act)),
        }
    }

    /// Each running node's height and tip; a node that does not answer is left out.
    async fn heights(&self) -> Tips {
        let mut heights = BTreeMap::new();
        for (node, client) in &self.nodes {
            if let Ok(info) = client.chain_info().await {
                heights.insert(*node, (info.height, info.best_hash));
            }
        }
        heights
    }

    /// Submits `count` transfers of `amount` from the dev accounts `senders` in turn to
    /// `to` through `node`, each sender's with consecutive nonces, at the node's one-block
    /// fee estimate; the ids of those it accepted. Any refusal ends the step.
    async fn submit(
        &mut self,
        node: usize,
        senders: &[u32],
        to: Recipients,
        amount: u64,
        count: u32,
    ) -> Result<Vec<String>, StepFailure> {
        let client = self.node(node)?.clone();
        let failed =
            |call: &'static str, e: tern_rpc::jsonrpsee::core::client::Error| StepFailure::Rpc {
                node,
                call,
                error: e.to_string(),
            };
        let estimate = client
            .fee_estimate(1)
            .await
            .map_err(|e| failed("fee_estimate", e))?;
        let fee: Amount =
            estimate
                .fee
                .parse()
                .map_err(
                    |e: tern_chain::types::ParseAmountError| StepFailure::BadFee {
                        node,
                        fee: estimate.fee.clone(),
                        error: e.to_string(),
                    },
                )?;
        let mut next = Vec::with_capacity(senders.len());
        for sender in senders {
            let key = dev_secret_key(*sender);
            let account = client
                .account_get(self.spec.format_address(&key.address()))
                .await
                .map_err(|e| failed("account_get", e))?;
            next.push((key, account.pending_nonce));
        }
        let single = match to {
            Recipients::One(to) => Some(dev_secret_key(to).address()),
            Recipients::Each(_) => None,
        };
        let mut accepted = Vec::new();
        for i in 0..count as usize {
            let recipient = match (single, to) {
                (Some(address), _) => address,
                (None, Recipients::Each(first) | Recipients::One(first)) => {
                    let offset = u32::try_from(i).unwrap_or(u32::MAX);
                    dev_secret_key(first.saturating_add(offset)).address()
                }
            };
            let Some((key, nonce)) = next.get_mut(i % senders.len().max(1)) else {
                return Err(StepFailure::NoSender);
            };
            let tx = Transaction {
                chain_id: self.spec.consensus.chain_id,
                from: key.address(),
                to: recipient,
                amount: Amount::from_base_units(amount),
                fee,
                nonce: *nonce,
            }
            .sign(key);
            *nonce += 1;
            let txid = client
                .tx_submit(hex::encode(encoding::encode(&tx)))
                .await
                .map_err(|e| failed("tx_submit", e))?;
            accepted.push(txid.clone());
            self.transfers.push(txid);
        }
        Ok(accepted)
    }

    /// Waits for a check to hold, up to its span; what held, or why it did not.
    async fn check(&mut self, check: &Check) -> Result<String, CheckFailure> {
        // Nodes restarted or added since: follow them where they are now.
        self.refresh().await?;
        match check {
            Check::OneTip { within } => {
                let deadline = Instant::now() + within.duration();
                loop {
                    let tips = self.heights().await;
                    let first = tips.values().next().cloned();
                    if tips.len() == self.nodes.len()
                        && tips.values().all(|t| Some(t) == first.as_ref())
                    {
                        let (height, hash) = first.unwrap_or_default();
                        return Ok(format!(
                            "every node on one tip, height {height} {}",
                            hash.get(..12).unwrap_or(&hash)
                        ));
                    }
                    if Instant::now() >= deadline {
                        return Err(CheckFailure::NotOneTip {
                            within: *within,
                            tips,
                        });
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
            Check::NoTransferLost { within } => {
                let deadline = Instant::now() + within.duration();
                let mut waiting: Vec<(usize, String)> = self
                    .nodes
                    .keys()
                    .flat_map(|node| self.transfers.iter().map(move |t| (*node, t.clone())))
                    .collect();
                while !waiting.is_empty() {
                    let mut still = Vec::new();
                    for (node, txid) in waiting {
                        let confirmed = match self.nodes.get(&node) {
                            Some(client) => matches!(
                                client.tx_get(txid.clone()).await,
                                Ok(TxStatus::Confirmed { .. })
                            ),
                            None => true,
                        };
                        if !confirmed {
                            still.push((node, txid));
                        }
                    }
                    waiting = still;
                    if let Some((node, txid)) = waiting.first() {
                        if Instant::now() >= deadline {
                            return Err(CheckFailure::TransfersMissing {
                                missing: waiting.len(),
                                expected: self.transfers.len() * self.nodes.len(),
                                within: *within,
                                txid: txid.clone(),
                                node: *node,
                            });
                        }
                        tokio::time::sleep(POLL).await;
                    }
                }
                Ok(format!(
                    "all {} accepted transfers confirmed on every node",
                    self.transfers.len()
                ))
            }
            Check::ReorgDepthAtMost { depth } => match self.watcher.deepest_reorg() {
                Some((node, deepest)) if deepest > *depth => Err(CheckFailure::ReorgTooDeep {
                    node,
                    deepest,
                    most: *depth,
                }),
                Some((node, deepest)) => Ok(format!(
                    "deepest reorg {deepest} blocks (node {node}), at most {depth}"
                )),
                None => Ok(format!("no reorg, at most {depth}")),
            },
            Check::ReadyCycle { node, within } => {
                let deadline = Instant::now() + within.duration();
                loop {
                    if self.watcher.ready_cycled(*node) {
                        return Ok(format!("node {node}'s /ready went false, then true"));
                    }
                    if Instant::now() >= deadline {
                        return Err(CheckFailure::ReadyNotCycled {
                            node: *node,
                            within: *within,
                        });
                    }
                    tokio::time::sleep(POLL).await;
                    // Its metrics port is new after a restart.
                    self.refresh().await?;
                }
            }
            Check::AttacksDropped { within } => {
                let deadline = tokio::time::Instant::now() + within.duration();
                let attacks = std::mem::take(&mut self.attacks);
                let count = attacks.len();
                let mut banned = 0;
                for attack in attacks {
                    let report = tokio::time::timeout_at(deadline, attack)
                        .await
                        .map_err(|_| CheckFailure::AttackOutlasted { within: *within })?
                        .map_err(|e| CheckFailure::AttackLost(e.to_string()))??;
                    if let Some(problem) = report.problem {
                        return Err(CheckFailure::AttackNotRun(problem));
                    }
                    if !report.dropped {
                        return Err(CheckFailure::HostilePeerKept {
                            node: report.node,
                            kind: report.kind,
                            secs: report.after_ms as f64 / 1000.0,
                        });
                    }
                    if report.kind.bans() && report.banned.is_none() {
                        return Err(CheckFailure::LiarNotBanned {
                            node: report.node,
                            kind: report.kind,
                        });
                    }
                    banned += usize::from(report.banned.is_some());
                }
                Ok(format!(
                    "all {count} hostile peers dropped ({banned} banned)"
                ))
            }
            Check::NoHonestPeerBanned => {
                let mut bans = self.bans().await?;
                let count = bans.len();
                if let Some(at) = bans.iter().position(|ban| ban.of_node.is_some()) {
                    return Err(CheckFailure::Banned(bans.swap_remove(at)));
                }
                Ok(format!(
                    "no node banned another ({count} bans, none of a testnet node)"
                ))
            }
            Check::NoBans => match self.bans().await?.into_iter().next() {
                Some(ban) => Err(CheckFailure::Banned(ban)),
                None => Ok("no node banned anyone".into()),
            },
        }
    }

    /// Every ban in force on a running node, naming the testnet node banned if it is one.
    async fn bans(&self) -> Result<Vec<SeenBan>, StepFailure> {
        let unreadable = |node: usize, call: &'static str| {
            move |e: tern_rpc::jsonrpsee::core::client::Error| StepFailure::Rpc {
                node,
                call,
                error: e.to_string(),
            }
        };
        let mut ids = BTreeMap::new();
        for (node, client) in &self.nodes {
            let info = client
                .net_info()
                .await
                .map_err(unreadable(*node, "net_info"))?;
            ids.insert(info.node_id, *node);
        }
        let mut seen = Vec::new();
        for (node, client) in &self.nodes {
            for ban in client
                .net_bans()
                .await
                .map_err(unreadable(*node, "net_bans"))?
            {
                seen.push(SeenBan {
                    by: *node,
                    of_node: ids.get(&ban.target).copied(),
                    target: ban.target,
                    reason: ban.reason,
                });
            }
        }
        Ok(seen)
    }
}

/// A control step in words.
fn describe(act: &Act) -> String {
    match act {
        Act::Partition { sides } => format!("partition {sides}"),
        Act::Heal => "heal".into(),
        Act::Kill { node } => format!("kill node {node}"),
        Act::Restart { node } => format!("restart node {node}"),
        Act::Pause { node } => format!("pause node {node}"),
        Act::Resume { node } => format!("resume node {node}"),
        Act::Add {
            sync: SyncName::Full,
        } => "add a node".into(),
        Act::Add {
            sync: SyncName::Snapshot,
        } => "add a node joining by snapshot".into(),
        Act::Remove { node } => format!("remove node {node}"),
        Act::Link { from, to, .. } => format!("link {from} {to} changed"),
        other => format!("{other:?}"),
    }
}
