//! Why a scenario file is refused, one variant per rule, each naming what to write
//! instead. Every error of a step names the step.

use super::MAX_STEPS;

/// Why a scenario's text is not a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Not TOML of the scenario's shape (an unknown key, a wrong type).
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// `testnet.nodes` out of range.
    #[error("testnet.nodes = {nodes}: a testnet runs 1 to {max} nodes")]
    Nodes {
        /// As written.
        nodes: u16,
        /// The most a testnet runs.
        max: u32,
    },
    /// `testnet.seeds_per_node` out of range.
    #[error("testnet.seeds_per_node = {seeds}: a node takes 1 to {max} seeds")]
    Seeds {
        /// As written.
        seeds: u16,
        /// The most a node takes.
        max: u32,
    },
    /// No step at all.
    #[error("it has no [[step]]")]
    NoSteps,
    /// More steps than a scenario may have.
    #[error("it has more than {MAX_STEPS} steps")]
    TooManySteps,
    /// A step is wrong.
    #[error("step {index}: {error}")]
    Step {
        /// Its number, from 1.
        index: usize,
        /// What is wrong with it.
        error: StepError,
    },
}

/// Why one step is refused.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// It has both `do` and `expect`.
    #[error("a step either does (do = …) or expects (expect = …), not both")]
    Both,
    /// It has neither.
    #[error("say what it does (do = \"partition\", …) or expects (expect = \"one_tip\", …)")]
    Neither,
    /// Its fields do not make the act or check it names.
    #[error("{0}")]
    Fields(String),
    /// A flood of more transfers than a scenario submits.
    #[error("a flood submits at most {max} transfers")]
    FloodTooLarge {
        /// The most.
        max: u32,
    },
    /// A flood of more transfers than its senders may have pending.
    #[error(
        "a flood from {senders} senders submits at most {most} transfers: a mempool holds \
         {per_sender} pending transactions per sender"
    )]
    FloodPastSenders {
        /// Senders named.
        senders: usize,
        /// The most they may submit.
        most: usize,
        /// A pool's bound per sender.
        per_sender: usize,
    },
}

/// Why a span of time is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpanError {
    /// Not a number with a unit.
    #[error("{0:?} is not a span of time: write 500ms, 30s or 2m")]
    NotASpan(String),
    /// Longer than a scenario waits.
    #[error("{0:?} is longer than a scenario waits (1 hour)")]
    TooLong(String),
}
