//! Why a running scenario's step stopped it ([`StepFailure`]) or a check did not hold
//! ([`CheckFailure`]): one variant per way, so the report says which and a caller can
//! count them. (Why a scenario *file* is refused is [`super::ScenarioError`].)

use std::collections::BTreeMap;

use crate::attack::AttackKind;

use super::Span;

/// A node's height and tip hash, by node number.
pub type Tips = BTreeMap<usize, (u64, String)>;

/// Why a step could not be carried out: the scenario stops there.
#[derive(Debug, thiserror::Error)]
pub enum StepFailure {
    /// The testnet refused a control call, or did not answer it: its one-line message.
    #[error("{0}")]
    Control(String),
    /// The testnet answered a control call with a reply of another kind.
    #[error("the testnet answered {asked} with something else")]
    UnexpectedReply {
        /// What was asked.
        asked: &'static str,
    },
    /// A step names a node that is not running.
    #[error("node {0} is not a running node")]
    NotRunning(usize),
    /// A node's RPC address makes no client.
    #[error("node {node}: {error}")]
    Client {
        /// The node.
        node: usize,
        /// Why.
        error: String,
    },
    /// A node's RPC call failed.
    #[error("node {node}: {call}: {error}")]
    Rpc {
        /// The node.
        node: usize,
        /// The method.
        call: &'static str,
        /// The client's error.
        error: String,
    },
    /// A node's fee estimate is not an amount.
    #[error("node {node}: fee_estimate gave {fee}: {error}")]
    BadFee {
        /// The node.
        node: usize,
        /// As answered.
        fee: String,
        /// Why it does not read.
        error: String,
    },
    /// `wait_height` ran out of time.
    #[error("not every node reached height {height} within {within}: {tips:?}")]
    HeightNotReached {
        /// The height waited for.
        height: u64,
        /// How long it was waited for.
        within: Span,
        /// Where the nodes were.
        tips: Tips,
    },
    /// A flood with no sender.
    #[error("a flood needs at least one sender")]
    NoSender,
}

/// Why a check did not hold: reported, and the scenario goes on.
#[derive(Debug, thiserror::Error)]
pub enum CheckFailure {
    /// The check could not look (a control call or a node's RPC failed).
    #[error(transparent)]
    CannotLook(#[from] StepFailure),
    /// `one_tip`: the nodes stayed on different tips.
    #[error("the nodes were not on one tip within {within}: {tips:?}")]
    NotOneTip {
        /// How long they had.
        within: Span,
        /// Where they were.
        tips: Tips,
    },
    /// `no_transfer_lost`: accepted transfers were not confirmed everywhere.
    #[error(
        "{missing} of {expected} confirmations missing after {within}: {txid} on node {node}, …"
    )]
    TransfersMissing {
        /// Confirmations missing (one per transfer and node).
        missing: usize,
        /// Confirmations expected.
        expected: usize,
        /// How long they had.
        within: Span,
        /// One transfer missing...
        txid: String,
        /// ...and the node it is missing on.
        node: usize,
    },
    /// `reorg_depth_at_most`: a node reorganized deeper.
    #[error("node {node} reorganized {deepest} blocks deep, more than {most}")]
    ReorgTooDeep {
        /// The node.
        node: usize,
        /// How deep.
        deepest: u64,
        /// The most allowed.
        most: u64,
    },
    /// `ready_cycle`: the node's `/ready` did not go false then true.
    #[error("node {node}'s /ready did not go false then true within {within}")]
    ReadyNotCycled {
        /// The node.
        node: usize,
        /// How long it had.
        within: Span,
    },
    /// `attacks_dropped`: a hostile peer was still attached.
    #[error("a hostile peer was still attached after {within}")]
    AttackOutlasted {
        /// How long the nodes had.
        within: Span,
    },
    /// `attacks_dropped`: the task running a hostile peer ended without its report.
    #[error("an attack failed: {0}")]
    AttackLost(String),
    /// `attacks_dropped`: the hostile peer could not do what it came for (the problem
    /// names the node).
    #[error("{0}")]
    AttackNotRun(String),
    /// `attacks_dropped`: a node kept a hostile peer.
    #[error("node {node} kept the hostile peer ({kind}) for {secs:.1} s")]
    HostilePeerKept {
        /// The node.
        node: usize,
        /// The attack.
        kind: AttackKind,
        /// How long it was kept.
        secs: f64,
    },
    /// `attacks_dropped`: a node dropped a peer that proved a lie without banning it.
    #[error("node {node} dropped the {kind} peer without banning it: it proved a lie")]
    LiarNotBanned {
        /// The node.
        node: usize,
        /// The attack.
        kind: AttackKind,
    },
    /// `no_honest_peer_banned` or `no_bans`: a node banned someone it should not have.
    #[error("{0}")]
    Banned(SeenBan),
}

/// A ban seen on a running node.
#[derive(Debug)]
pub struct SeenBan {
    /// The node that banned.
    pub by: usize,
    /// The testnet node banned, if it is one (else a hostile peer, or someone outside).
    pub of_node: Option<usize>,
    /// Whom, as the node names them.
    pub target: String,
    /// Why, as the node says.
    pub reason: String,
}

impl std::fmt::Display for SeenBan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.of_node {
            Some(other) => write!(f, "node {} banned node {other}: {}", self.by, self.reason),
            None => write!(
                f,
                "node {} banned {}: {}",
                self.by, self.target, self.reason
            ),
        }
    }
}
