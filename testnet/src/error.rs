//! How a testnet command fails: one line for the user, which the `tern` binary prints
//! before it exits non-zero; and why a control action was refused, one variant per
//! reason.

/// A failed testnet command, as one line for the user. Any error that displays converts
/// into one, as the `tern` binary's own command error does; it is not itself an
/// [`std::error::Error`], so that the conversion can be that general.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestnetError(pub String);

impl<E: std::fmt::Display> From<E> for TestnetError {
    fn from(error: E) -> Self {
        TestnetError(error.to_string())
    }
}

/// Why the testnet refused a control action (`tern testnet kill`, `partition`, `link`,
/// `attack` and the rest, from the command line, a scenario or the control endpoint).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The action names a node the testnet does not have.
    #[error("there is no node {node}: the testnet has nodes 0 to {last}")]
    NoSuchNode {
        /// The node named.
        node: usize,
        /// The last node there is.
        last: usize,
    },
    /// The node was removed; nothing can be done to it any more.
    #[error("node {0} was removed")]
    Removed(usize),
    /// The node is killed already.
    #[error("node {0} is killed already")]
    KilledAlready(usize),
    /// The node is not in the state the action needs (pause a running node, resume a
    /// paused one).
    #[error("node {node} is {state}")]
    WrongState {
        /// The node.
        node: usize,
        /// What it is.
        state: &'static str,
    },
    /// An attack names a node that is not running.
    #[error("node {0} is not a running node")]
    NotRunning(usize),
    /// As many attacks run as the testnet allows at once.
    #[error("{0} attacks are running already, the most at once")]
    TooManyAttacks(usize),
    /// A link change from a node to itself.
    #[error("a link joins two nodes: {0} to {0} is none")]
    SelfLink(usize),
    /// A link change that changes nothing.
    #[error(
        "say what to change: --latency, --jitter, --loss, --bandwidth, --perfect, --cut or --heal"
    )]
    NothingToChange,
    /// The node has no process to signal.
    #[error("node {0} has no process")]
    NoProcess(usize),
    /// The node's process could not be signalled.
    #[error("node {node}: {source}")]
    Signal {
        /// The node.
        node: usize,
        /// Why.
        source: std::io::Error,
    },
    /// The node's process could not be started (a restart, or a node added).
    #[error("{0}")]
    Start(String),
}
