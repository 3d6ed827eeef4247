//! Scenarios: a TOML file of timed steps (transfers, mining, partitions, crashes, hostile
//! peers) and the checks that must hold (one tip within N seconds of a heal, no accepted
//! transfer lost, reorgs no deeper than K, a node's `/ready` going false then true).
//! `tern testnet --scenario FILE` starts the testnet the file describes, runs it, prints
//! a timeline and a report, and exits 1 when a check fails, so a wallet developer can put
//! their own in CI. The shipped ones are in `scenarios/`; docs/TESTNET.md has the format.
//!
//! This module reads a file; [`run`] plays it against the running testnet through the
//! same control calls a script makes, and `watch` records what the nodes do meanwhile.
//! Why a step stopped a scenario or a check did not hold is typed in `failure`, one
//! variant per way.

mod error;
mod failure;
pub mod run;
mod watch;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use crate::links::profile::scaled_number;
use crate::links::{Bandwidth, Delay, Loss, Partition, ProfileChange};
use serde::Deserialize;

use super::attack::AttackKind;
use super::control::{Action as Control, LinkChange};
use super::TestnetArgs;
use crate::error::TestnetError;
pub use error::{ScenarioError, SpanError, StepError};
pub use failure::{CheckFailure, SeenBan, StepFailure, Tips};
use tern_p2p::sync::SyncMode;

/// The largest scenario file read.
const MAX_FILE: u64 = 1024 * 1024;

/// The most steps a scenario has.
pub const MAX_STEPS: usize = 1_000;

/// The most transfers one `flood` step submits.
pub const MAX_FLOOD: u32 = 10_000;

/// The longest span a step waits or a check allows.
pub const MAX_SPAN: Duration = Duration::from_secs(3_600);

/// A scenario as read from its file.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its file's name, for the report.
    pub name: String,
    /// What it shows, if it says.
    pub description: Option<String>,
    /// How the testnet starts.
    pub testnet: Settings,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

/// The testnet a scenario runs on; what it leaves out comes from the command line.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    nodes: Option<u16>,
    miners: Option<u16>,
    automine: Option<bool>,
    block_time: Option<u64>,
    latency: Option<Delay>,
    jitter: Option<Delay>,
    loss: Option<Loss>,
    bandwidth: Option<Bandwidth>,
    link_seed: Option<u64>,
    seeds_per_node: Option<u16>,
}

impl Settings {
    /// Applies the scenario's settings over the command line's.
    pub fn apply(&self, args: &mut TestnetArgs) {
        if let Some(nodes) = self.nodes {
            args.nodes = nodes;
        }
        args.miners = self.miners.or(args.miners);
        args.automine = self.automine.unwrap_or(args.automine);
        args.block_time = self.block_time.or(args.block_time);
        let links = &mut args.links;
        links.latency = self.latency.or(links.latency);
        links.jitter = self.jitter.or(links.jitter);
        links.loss = self.loss.or(links.loss);
        links.bandwidth = self.bandwidth.or(links.bandwidth);
        args.link_seed = self.link_seed.or(args.link_seed);
        args.seeds_per_node = self.seeds_per_node.or(args.seeds_per_node);
    }
}

/// One step: something to do, or something that must hold.
#[derive(Debug, Clone)]
pub enum Step {
    /// Something to do.
    Act(Act),
    /// Something that must hold.
    Check(Check),
}

/// What a step does (`do = "…"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
pub enum Act {
    /// Let time pass.
    Wait {
        /// How long.
        #[serde(rename = "for")]
        span: Span,
    },
    /// Wait until every running node is at `height` or above.
    WaitHeight {
        /// The height.
        height: u64,
        /// How long at most [default: 60s].
        #[serde(default = "Span::minute")]
        within: Span,
    },
    /// Submit a transfer from dev account `from` to dev account `to` through `node`.
    Transfer {
        /// The node.
        node: usize,
        /// The sending dev account.
        from: u32,
        /// The receiving dev account.
        to: u32,
        /// Base units.
        amount: u64,
    },
    /// Submit `count` transfers from the dev accounts `from`, in turn, to `to` through
    /// `node`, as fast as the node takes them. A mempool holds at most 64 pending
    /// transactions per sender, so `count` is at most 64 per sender.
    Flood {
        /// The node.
        node: usize,
        /// The sending dev accounts.
        from: Vec<u32>,
        /// The receiving dev account.
        to: u32,
        /// How many.
        count: u32,
        /// Each transfer pays a dev account of its own, `to`, `to + 1`, and so on: the
        /// flood creates accounts.
        #[serde(default)]
        new_accounts: bool,
    },
    /// Make `node` mine `blocks` blocks now (`dev_mine`).
    Mine {
        /// The node.
        node: usize,
        /// How many.
        blocks: u64,
    },
    /// Cut the network into sides.
    Partition {
        /// The sides.
        sides: Partition,
    },
    /// Heal every cut.
    Heal,
    /// Change a link.
    Link {
        /// One end.
        from: usize,
        /// The other.
        to: usize,
        /// Only `from → to`.
        #[serde(default)]
        one_way: bool,
        /// Reset it first.
        #[serde(default)]
        perfect: bool,
        /// A latency.
        latency: Option<Delay>,
        /// A jitter.
        jitter: Option<Delay>,
        /// A loss.
        loss: Option<Loss>,
        /// A bandwidth.
        bandwidth: Option<Bandwidth>,
        /// Cut (`true`) or heal (`false`).
        cut: Option<bool>,
    },
    /// SIGKILL a node.
    Kill {
        /// The node.
        node: usize,
    },
    /// Start a node again.
    Restart {
        /// The node.
        node: usize,
    },
    /// SIGSTOP a node.
    Pause {
        /// The node.
        node: usize,
    },
    /// SIGCONT a node.
    Resume {
        /// The node.
        node: usize,
    },
    /// Add a node, joining in full or by snapshot (`sync = "snapshot"`).
    Add {
        /// How it joins.
        #[serde(default)]
        sync: SyncName,
    },
    /// Remove a node.
    Remove {
        /// The node.
        node: usize,
    },
    /// Attach a hostile peer to a node; it runs on while the next steps do, and the
    /// `attacks_dropped` check looks at how it ended.
    Attack {
        /// The node.
        node: usize,
        /// How the peer misbehaves.
        kind: AttackKind,
    },
}

/// How an added node joins, as a scenario names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncName {
    /// Every block since genesis.
    #[default]
    Full,
    /// From a snapshot.
    Snapshot,
}

impl SyncName {
    fn mode(self) -> SyncMode {
        match self {
            SyncName::Full => SyncMode::Full,
            SyncName::Snapshot => SyncMode::Snapshot,
        }
    }
}

impl Act {
    /// The control call a step is, if it is one.
    pub(super) fn control(&self) -> Option<Control> {
        Some(match self {
            Act::Partition { sides } => Control::Partition(sides.clone()),
            Act::Heal => Control::Heal,
            Act::Kill { node } => Control::Kill(*node),
            Act::Restart { node } => Control::Restart(*node),
            Act::Pause { node } => Control::Pause(*node),
            Act::Resume { node } => Control::Resume(*node),
            Act::Add { sync } => Control::Add(sync.mode()),
            Act::Remove { node } => Control::Remove(*node),
            Act::Link {
                from,
                to,
                one_way,
                perfect,
                latency,
                jitter,
                loss,
                bandwidth,
                cut,
            } => Control::Link(LinkChange {
                from: *from,
                to: *to,
                one_way: *one_way,
                profile: ProfileChange {
                    perfect: *perfect,
                    latency: *latency,
                    jitter: *jitter,
                    loss: *loss,
                    bandwidth: *bandwidth,
                },
                cut: *cut,
            }),
            Act::Wait { .. }
            | Act::WaitHeight { .. }
            | Act::Transfer { .. }
            | Act::Flood { .. }
            | Act::Mine { .. }
            | Act::Attack { .. } => return None,
        })
    }
}

/// What must hold (`expect = "…"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "expect", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// Every running node on one tip within the span.
    OneTip {
        /// How long at most.
        within: Span,
    },
    /// Every transfer a node accepted so far confirmed on every running node within the
    /// span.
    NoTransferLost {
        /// How long at most.
        within: Span,
    },
    /// No node reorganized more than `depth` blocks deep so far.
    ReorgDepthAtMost {
        /// The depth.
        depth: u64,
    },
    /// Node `node`'s `/ready` was seen false and then true since its last start (kill or
    /// restart), within the span.
    ReadyCycle {
        /// The node.
        node: usize,
        /// How long at most.
        within: Span,
    },
    /// Every hostile peer attached so far was dropped, within the span.
    AttacksDropped {
        /// How long at most.
        within: Span,
    },
    /// No running node has banned another testnet node: liars are banned, honest nodes
    /// never.
    NoHonestPeerBanned,
    /// No running node has banned anyone: what every scenario without a hostile peer must
    /// end with, however slow, lossy or broken its links were.
    NoBans,
}

/// A span of time in a scenario: `500ms`, `30s`, `2m`, at most [`MAX_SPAN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Span(Duration);

impl Span {
    fn minute() -> Span {
        Span(Duration::from_secs(60))
    }

    /// As a duration.
    pub fn duration(self) -> Duration {
        self.0
    }
}

impl FromStr for Span {
    type Err = SpanError;

    fn from_str(text: &str) -> Result<Span, SpanError> {
        let millis = scaled_number(text, &[("ms", 1.0), ("s", 1_000.0), ("m", 60_000.0)])
            .ok_or_else(|| SpanError::NotASpan(text.to_owned()))?;
        // Compared before the conversion, which panics past what a Duration holds.
        if millis > MAX_SPAN.as_millis() as f64 {
            return Err(SpanError::TooLong(text.to_owned()));
        }
        Ok(Span(Duration::from_secs_f64(millis / 1_000.0)))
    }
}

impl TryFrom<String> for Span {
    type Error = SpanError;
    fn try_from(text: String) -> Result<Span, SpanError> {
        text.parse()
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0.as_secs_f64())
    }
}

/// The file as written: steps stay tables until each is read as an act or a check, so
/// that an error names its step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    description: Option<String>,
    #[serde(default)]
    testnet: Settings,
    #[serde(default)]
    step: Vec<toml::Table>,
}

impl Scenario {
    /// Reads and checks a scenario file: every error names the file, and the step.
    pub fn load(path: &Path) -> Result<Scenario, TestnetError> {
        let failed = |why: String| TestnetError(format!("scenario {}: {why}", path.display()));
        let text = tern_state::persist::read_bounded(path, MAX_FILE)
            .map_err(|e| failed(e.to_string()))?
            .ok_or_else(|| failed("no such file".into()))?;
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into(),
        );
        Scenario::parse(&name, &text).map_err(|e| failed(e.to_string()))
    }

    /// Reads a scenario from its text.
    pub fn parse(name: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let file: File = toml::from_str(text)?;
        let max = super::MAX_NODES;
        if let Some(nodes) = file.testnet.nodes {
            if nodes == 0 || u32::from(nodes) > max {
                return Err(ScenarioError::Nodes { nodes, max });
            }
        }
        if let Some(seeds) = file.testnet.seeds_per_node {
            if seeds == 0 || u32::from(seeds) > max {
                return Err(ScenarioError::Seeds { seeds, max });
            }
        }
        if file.step.is_empty() {
            return Err(ScenarioError::NoSteps);
        }
        if file.step.len() > MAX_STEPS {
            return Err(ScenarioError::TooManySteps);
        }
        let steps = file
            .step
            .into_iter()
            .enumerate()
            .map(|(i, table)| {
                read_step(table).map_err(|error| ScenarioError::Step {
                    index: i + 1,
                    error,
                })
            })
            .collect::<Result<Vec<Step>, ScenarioError>>()?;
        Ok(Scenario {
            name: name.to_owned(),
            description: file.description,
            testnet: file.testnet,
            steps,
        })
    }
}

fn read_step(table: toml::Table) -> Result<Step, StepError> {
    let value = toml::Value::Table(table);
    let fields = |e: toml::de::Error| StepError::Fields(e.message().to_owned());
    let step = match (value.get("do"), value.get("expect")) {
        (Some(_), Some(_)) => return Err(StepError::Both),
        (Some(_), None) => Step::Act(value.try_into().map_err(fields)?),
        (None, Some(_)) => Step::Check(value.try_into().map_err(fields)?),
        (None, None) => return Err(StepError::Neither),
    };
    if let Step::Act(Act::Flood { count, from, .. }) = &step {
        if *count > MAX_FLOOD {
            return Err(StepError::FloodTooLarge { max: MAX_FLOOD });
        }
        let per_sender = tern_mempool::MempoolConfig::default().max_per_sender;
        let most = from.len().saturating_mul(per_sender);
        if usize::try_from(*count).unwrap_or(usize::MAX) > most {
            return Err(StepError::FloodPastSenders {
                senders: from.len(),
                most,
                per_sender,
            });
        }
    }
    Ok(step)
}

#[cfg(test)]
mod tests;
