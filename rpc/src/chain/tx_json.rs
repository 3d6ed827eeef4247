//! A transaction's lifecycle as `tx_get` and `tx_subscribeStatus` tell it, and
//! `fee_estimate`'s answer: facts a wallet can show its user ("waiting for nonce 4",
//! "replaced by …", "pay 1,200 to be in the next block"), converted from the mempool's
//! types with the server.

use serde::{Deserialize, Serialize};

#[cfg(feature = "server")]
use tern_chain::types::AddressPrefix;
#[cfg(feature = "server")]
use tern_mempool::{DropReason, Dropped, FeeEstimate, Pending, Waiting};
#[cfg(feature = "server")]
use tern_state::chain::TxInfo;

use super::json::TransactionJson;

/// `tx_get`: a transaction and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum TxStatus {
    /// Waiting in the mempool, and why.
    Pending {
        /// The transaction.
        transaction: TransactionJson,
        /// Why it is not mined yet.
        why: PendingWhy,
    },
    /// On the canonical chain.
    #[serde(rename_all = "camelCase")]
    Confirmed {
        /// The transaction.
        transaction: TransactionJson,
        /// The block's height.
        height: u64,
        /// The block's hash.
        block_hash: String,
        /// 1 when in the tip, more as blocks build on it.
        confirmations: u64,
        /// Whether a reorg took it out of the chain at some point (within the last hour
        /// the node remembers).
        reorged_out: bool,
    },
    /// Left the mempool without being mined, and why (for an hour after).
    Dropped {
        /// The transaction.
        transaction: TransactionJson,
        /// Why it left.
        why: DroppedWhy,
    },
    /// Neither pending, confirmed, nor dropped within the last hour.
    Unknown,
}

/// Why a pending transaction waits: `reason` and its figures, with when it entered the
/// pool and when it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingWhy {
    /// The reason.
    #[serde(flatten)]
    pub reason: WaitingReason,
    /// When the pool admitted it, in milliseconds since 1970.
    pub since: u64,
    /// When it expires unless mined, in milliseconds since 1970.
    pub expires: u64,
}

/// The reasons a pending transaction waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum WaitingReason {
    /// An earlier nonce of the sender is missing.
    #[serde(rename_all = "camelCase")]
    NonceGap {
        /// The first nonce missing: submit it.
        missing_nonce: u64,
    },
    /// The next block takes others first, or recent full blocks took higher fees.
    #[serde(rename_all = "camelCase")]
    FeeTooLowForNextBlock {
        /// The fee to replace it with (base units, decimal).
        suggested_fee: String,
    },
    /// Ready, and within the next block.
    Queued {
        /// How many ready transactions go before it.
        position: u64,
    },
}

/// Why a transaction left the pool, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DroppedWhy {
    /// The reason.
    #[serde(flatten)]
    pub reason: DroppedReason,
    /// When it left, in milliseconds since 1970.
    pub since: u64,
}

/// The reasons a transaction leaves the pool unmined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DroppedReason {
    /// Another transaction of the same sender and nonce, paying more, took its place.
    Replaced {
        /// The txid that replaced it.
        by: String,
    },
    /// The pool was full and it paid least.
    #[serde(rename_all = "camelCase")]
    Evicted {
        /// The pool's minimum fee right after (base units, decimal).
        minimum_fee: String,
    },
    /// It waited longer than the pool keeps a transaction.
    Expired,
    /// A block included another transaction of the sender that used its nonce or spent
    /// the funds it needed.
    Conflict,
    /// A reorg took out the block it was in (or depended on) and on the new chain it no
    /// longer applies.
    Reorg,
}

/// `fee_estimate`: the fee to be mined within `targetBlocks`, and what it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeEstimateJson {
    /// Blocks to be included within.
    pub target_blocks: u64,
    /// The fee for a transfer (base units, decimal): the highest of the basis's three.
    pub fee: String,
    /// The facts.
    pub basis: FeeBasisJson,
}

/// What a fee estimate rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeBasisJson {
    /// The pool's minimum fee now: anything less is refused.
    pub minimum_fee: String,
    /// Transactions ready for a block now.
    pub ready: u64,
    /// Transfers one block holds.
    pub block_capacity: u64,
    /// The fee that outbids the last transaction the target's blocks would take from the
    /// ready queue; `null` when they have room for more.
    pub queue_fee: Option<String>,
    /// Recent blocks looked at (ten per target block, at most 100).
    pub recent_blocks: u64,
    /// How many of them were full.
    pub full_blocks: u64,
    /// The fee that beats the median cheapest transaction of the full ones, when more
    /// than half were full; `null` otherwise.
    pub recent_fee: Option<String>,
}

#[cfg(feature = "server")]
impl TxStatus {
    /// The status of a confirmed transaction.
    pub fn confirmed(info: &TxInfo, reorged_out: bool, prefix: &AddressPrefix) -> Self {
        TxStatus::Confirmed {
            transaction: TransactionJson::new(&info.tx, prefix),
            height: info.height.value(),
            block_hash: info.block.to_string(),
            confirmations: info.confirmations,
            reorged_out,
        }
    }

    /// The status of a pending transaction.
    pub fn pending(pending: &Pending, prefix: &AddressPrefix) -> Self {
        let reason = match pending.why {
            Waiting::NonceGap { missing_nonce } => WaitingReason::NonceGap { missing_nonce },
            Waiting::FeeTooLowForNextBlock { suggested_fee } => {
                WaitingReason::FeeTooLowForNextBlock {
                    suggested_fee: suggested_fee.to_string(),
                }
            }
            Waiting::Queued { position } => WaitingReason::Queued {
                position: position as u64,
            },
        };
        TxStatus::Pending {
            transaction: TransactionJson::new(&pending.tx, prefix),
            why: PendingWhy {
                reason,
                since: pending.since.as_millis(),
                expires: pending.expires.as_millis(),
            },
        }
    }

    /// The status of a dropped transaction.
    pub fn dropped(dropped: &Dropped, prefix: &AddressPrefix) -> Self {
        let reason = match dropped.reason {
            DropReason::Replaced { by } => DroppedReason::Replaced { by: by.to_string() },
            DropReason::Evicted { minimum_fee } => DroppedReason::Evicted {
                minimum_fee: minimum_fee.to_string(),
            },
            DropReason::Expired => DroppedReason::Expired,
            DropReason::Conflict => DroppedReason::Conflict,
            DropReason::Reorg => DroppedReason::Reorg,
        };
        TxStatus::Dropped {
            transaction: TransactionJson::new(&dropped.tx, prefix),
            why: DroppedWhy {
                reason,
                since: dropped.at.as_millis(),
            },
        }
    }
}

impl TxStatus {
    /// Whether `other` is another stage of the lifecycle: a new status, a new reason, a
    /// new confirmation or a reorg. A queued transaction's position and a suggested fee
    /// move with every admission; those alone are not a transition, so a subscriber is
    /// not sent one item per transaction the pool takes.
    pub fn is_transition_from(&self, other: &TxStatus) -> bool {
        use TxStatus::*;
        match (self, other) {
            (Pending { why: a, .. }, Pending { why: b, .. }) => {
                std::mem::discriminant(&a.reason) != std::mem::discriminant(&b.reason)
                    || a.since != b.since
            }
            (Dropped { why: a, .. }, Dropped { why: b, .. }) => a != b,
            (Unknown, Unknown) => false,
            (a, b) => a != b,
        }
    }
}

#[cfg(feature = "server")]
impl From<&FeeEstimate> for FeeEstimateJson {
    fn from(estimate: &FeeEstimate) -> Self {
        FeeEstimateJson {
            target_blocks: estimate.target_blocks,
            fee: estimate.fee.to_string(),
            basis: FeeBasisJson {
                minimum_fee: estimate.minimum_fee.to_string(),
                ready: estimate.queue.ready as u64,
                block_capacity: estimate.queue.block_capacity as u64,
                queue_fee: estimate.queue.fee.map(|f| f.to_string()),
                recent_blocks: estimate.recent.blocks as u64,
                full_blocks: estimate.recent.full as u64,
                recent_fee: estimate.recent.fee.map(|f| f.to_string()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lifecycle_reads_as_documented() {
        let why = PendingWhy {
            reason: WaitingReason::NonceGap { missing_nonce: 4 },
            since: 10,
            expires: 20,
        };
        let json = serde_json::to_value(&why).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"reason": "nonce_gap", "missingNonce": 4, "since": 10, "expires": 20})
        );
        assert_eq!(serde_json::from_value::<PendingWhy>(json).unwrap(), why);
        let dropped = DroppedWhy {
            reason: DroppedReason::Evicted {
                minimum_fee: "200".into(),
            },
            since: 5,
        };
        let json = serde_json::to_value(&dropped).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"reason": "evicted", "minimumFee": "200", "since": 5})
        );
        assert_eq!(serde_json::from_value::<DroppedWhy>(json).unwrap(), dropped);
        let fee = serde_json::to_value(WaitingReason::FeeTooLowForNextBlock {
            suggested_fee: "9".into(),
        })
        .unwrap();
        assert_eq!(
            fee,
            serde_json::json!({"reason": "fee_too_low_for_next_block", "suggestedFee": "9"})
        );
    }
}
