//! A transaction's status in words, as `tern wallet status` and `send --wait` print it:
//! the node's lifecycle facts (docs/RPC.md, `tx_get`) turned into sentences a user can
//! act on.

use std::time::{SystemTime, UNIX_EPOCH};

use tern_rpc::chain::{DroppedReason, TxStatus, WaitingReason};

/// `status` in words, with times relative to `now_ms` (milliseconds since 1970).
pub fn describe(status: &TxStatus, now_ms: u64) -> String {
    match status {
        TxStatus::Pending { why, .. } => {
            let waiting = match &why.reason {
                WaitingReason::NonceGap { missing_nonce } => format!(
                    "waiting for nonce {missing_nonce} of the same sender, which the node has not seen: send it"
                ),
                WaitingReason::FeeTooLowForNextBlock { suggested_fee } => format!(
                    "better-paying transactions fill the next block: replace it (same nonce) with fee {suggested_fee} to be mined next"
                ),
                WaitingReason::Queued { position: 0 } => {
                    "ready, first in line for the next block".to_owned()
                }
                WaitingReason::Queued { position } => {
                    format!("ready for the next block, behind {position} others")
                }
            };
            format!(
                "pending: {waiting}; in the pool for {}, expires in {}",
                span(now_ms.saturating_sub(why.since)),
                span(why.expires.saturating_sub(now_ms)),
            )
        }
        TxStatus::Confirmed {
            height,
            block_hash,
            confirmations,
            reorged_out,
            ..
        } => {
            let reorged = if *reorged_out {
                "; a reorg took it out of the chain once, and it was mined again"
            } else {
                ""
            };
            format!("confirmed in block {block_hash} at height {height} ({confirmations} confirmations){reorged}")
        }
        TxStatus::Dropped { why, .. } => {
            let reason = match &why.reason {
                DroppedReason::Replaced { by } => {
                    format!("replaced by {by}, which pays more for the same nonce")
                }
                DroppedReason::Evicted { minimum_fee } => format!(
                    "evicted from a full pool for better-paying transactions; the pool's minimum fee became {minimum_fee}"
                ),
                DroppedReason::Expired => "expired: it waited longer than the pool keeps a transaction".to_owned(),
                DroppedReason::Conflict => {
                    "a block took its nonce, or the funds it needed, with another transaction of the same sender".to_owned()
                }
                DroppedReason::Reorg => {
                    "a reorg took out its block, and on the new chain it no longer applies".to_owned()
                }
            };
            format!(
                "dropped {} ago: {reason}",
                span(now_ms.saturating_sub(why.since))
            )
        }
        TxStatus::Unknown => {
            "unknown: the node has not seen it, or dropped it over an hour ago".to_owned()
        }
    }
}

/// Milliseconds since 1970, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A duration in the largest two units that say it: `2 h 59 min`, `12 s`.
fn span(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_rpc::chain::{PendingWhy, TransactionJson};

    #[test]
    fn a_gap_names_the_nonce_to_send_and_the_times_read_as_spans() {
        let status = TxStatus::Pending {
            transaction: TransactionJson {
                id: "ab".into(),
                signed_hash: "cd".into(),
                chain_id: 1,
                from: "f".into(),
                to: "t".into(),
                amount: "1".into(),
                fee: "1".into(),
                nonce: 4,
                signature: "00".into(),
            },
            why: PendingWhy {
                reason: WaitingReason::NonceGap { missing_nonce: 3 },
                since: 1_000,
                expires: 10_801_000,
            },
        };
        assert!(matches!(
            &status,
            TxStatus::Pending {
                why: PendingWhy { .. },
                ..
            }
        ));
        assert_eq!(
            describe(&status, 13_000),
            "pending: waiting for nonce 3 of the same sender, which the node has not seen: send it; in the pool for 12 s, expires in 2 h 59 min"
        );
    }
}
