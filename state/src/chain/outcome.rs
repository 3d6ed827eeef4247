//! What the chain reports: the tip, what changed, and the verdict on a submitted block.

use std::sync::Arc;

use crate::store::StoreError;
use tern_chain::block::{Block, Header};
use tern_chain::error::BlockError;
use tern_chain::tx::SignedTransaction;
use tern_chain::types::{BlockHash, Height, Work};

/// The canonical tip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TipInfo {
    /// Its hash.
    pub hash: BlockHash,
    /// Its header.
    pub header: Header,
    /// Work of the whole chain up to it.
    pub cumulative_work: Work,
}

impl TipInfo {
    /// Its height.
    pub fn height(&self) -> Height {
        self.header.height
    }
}

/// How the canonical chain moved: blocks taken off the old tip (newest first), then blocks
/// put on (oldest first). A reorg has both; extending the tip has only `connected`.
///
/// Blocks are shared (`Arc`): one update goes to every follower of the chain and to the
/// submitter without copying a block body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainUpdate {
    /// Blocks no longer canonical, from the old tip down.
    pub disconnected: Vec<Arc<Block>>,
    /// Blocks newly canonical, from the fork point up.
    pub connected: Vec<Arc<Block>>,
    /// The tip afterwards.
    pub tip: TipInfo,
}

impl ChainUpdate {
    /// Transactions of disconnected blocks that the connected blocks do not include: the
    /// mempool takes them back if they are still valid.
    pub fn returned_transactions(&self) -> Vec<SignedTransaction> {
        let included: std::collections::HashSet<_> = self
            .connected
            .iter()
            .flat_map(|b| b.transactions.iter().map(SignedTransaction::id))
            .collect();
        self.disconnected
            .iter()
            .rev()
            .flat_map(|b| b.transactions.iter())
            .filter(|t| !included.contains(&t.id()))
            .cloned()
            .collect()
    }
}

/// Why a submitted block was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The block breaks a consensus rule. If its header passed every header rule (so real
    /// work went into it) it is marked invalid in the index, and every block that builds
    /// on it is refused; otherwise nothing about it is kept.
    #[error("block {hash} is invalid: {error}")]
    Invalid {
        /// The block.
        hash: BlockHash,
        /// The rule it broke.
        error: BlockError,
    },
    /// The block builds on a block already known to be invalid.
    #[error("block {hash} builds on invalid block {ancestor}")]
    InvalidAncestor {
        /// The block.
        hash: BlockHash,
        /// The first invalid block below it.
        ancestor: BlockHash,
    },
    /// The block was found invalid before; it is not checked again.
    #[error("block {hash} is known to be invalid")]
    KnownInvalid {
        /// The block.
        hash: BlockHash,
    },
    /// The transactions do not match the header's Merkle root. The header may be fine
    /// with its real transactions, so nothing is marked.
    #[error("block {hash} does not match its header: {error}")]
    BodyMismatch {
        /// The block.
        hash: BlockHash,
        /// The mismatch.
        error: BlockError,
    },
    /// The node is restoring a snapshot and takes no block until it is done: nothing is
    /// judged, nobody is blamed.
    #[error("block {hash} waits: the node is restoring a snapshot")]
    Restoring {
        /// The block.
        hash: BlockHash,
    },
    /// The timestamp is too far ahead of our clock: it may be valid later, so nothing is
    /// marked.
    #[error("block {hash} is not valid yet: {error}")]
    NotYetValid {
        /// The block.
        hash: BlockHash,
        /// The timestamp rule.
        error: BlockError,
    },
}

/// The verdict on one submitted block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Stored; it is the new tip, or on a branch with no more work than the tip.
    Accepted,
    /// Already in the index or the orphan pool; nothing was done.
    AlreadyKnown,
    /// Its parent is unknown; it waits in the orphan pool.
    Orphaned,
    /// Refused.
    Rejected(Rejection),
}

/// The result of submitting a block: its verdict and, if the tip moved, how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitOutcome {
    /// The verdict on the submitted block.
    pub verdict: Verdict,
    /// How the canonical chain changed, if it did (possibly by connecting orphans that
    /// were waiting for this block). The same update the chain's followers receive.
    pub update: Option<Arc<ChainUpdate>>,
}

/// A failure of the node itself, not of the block: the store could not be read or written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChainError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The chain actor has stopped.
    #[error("the chain actor has stopped")]
    Stopped,
    /// The OS refused the chain a thread (its store writer's) or the actor the means to
    /// wait for its writes and commands at once.
    #[error("the chain could not start a thread: {0}")]
    Thread(#[source] Arc<std::io::Error>),
    /// The chain actor panicked while processing a block (a bug), and stopped.
    #[error("the chain actor panicked: {0}")]
    Panicked(String),
}

/// Why a block being assembled could not be sealed ([`super::Chain::seal`]).
#[derive(Debug, Clone, thiserror::Error)]
pub enum SealError {
    /// The tip moved since the template was made: build another on the new tip.
    #[error("the tip moved to {tip} while the block was assembled on {parent}")]
    NotOnTip {
        /// The template's parent.
        parent: BlockHash,
        /// The tip now.
        tip: BlockHash,
    },
    /// The template's transactions do not apply to the tip's state.
    #[error("the assembled block breaks a rule: {0}")]
    Invalid(BlockError),
    /// The chain could not be read, or has stopped.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl From<StoreError> for SealError {
    fn from(error: StoreError) -> Self {
        SealError::Chain(ChainError::Store(error))
    }
}
