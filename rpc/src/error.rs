//! Error codes, and (with the server) the one place each domain error gets its code. The
//! JSON-RPC 2.0 codes (-32700 parse error, -32600 invalid request, -32601 method not
//! found, -32602 invalid params, -32603 internal error) keep their meaning; Tern's own
//! codes are positive and stable, listed in `docs/RPC.md`.

use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};
use serde_json::json;
#[cfg(feature = "server")]
use tern_chain::error::TxError;
#[cfg(feature = "server")]
use tern_mempool::{MempoolError, SubmitError};

#[cfg(feature = "server")]
use crate::chain::heads::ResumeError;
#[cfg(feature = "server")]
use crate::handles::DevMineFailure;

/// Invalid params: the message names the bad field.
pub const INVALID_PARAMS: i32 = -32602;
/// The node failed (its store, or it is stopping).
pub const INTERNAL: i32 = -32603;
/// The mempool refused a transaction; `data.reason` says why.
pub const TX_REJECTED: i32 = 1001;
/// The chain does not allow on-demand mining.
pub const DEV_MINING_DISABLED: i32 = 1002;
/// Mining failed.
pub const MINING_FAILED: i32 = 1003;
/// A subscription cannot resume where asked; the client must resync.
pub const RESYNC_NEEDED: i32 = 1004;
/// An admin method was called without admin access.
pub const ADMIN_REQUIRED: i32 = 1005;
/// A subscription method was called over HTTP; subscriptions need a WebSocket.
pub const SUBSCRIPTION_NEEDS_WEBSOCKET: i32 = 1006;

/// No state is kept for the block asked: it is unknown, not on the canonical chain, or
/// older than the kept state versions; `data.reason` says which.
pub const STATE_NOT_KEPT: i32 = 1007;

/// The node holds no body, transaction or history below its floor: it joined by
/// snapshot at that height and keeps headers alone below it. `data.floor` is the height.
pub const BELOW_FLOOR: i32 = 1008;

/// The most characters of a caller's input an error message repeats.
pub const MAX_ECHOED_CHARS: usize = 64;

/// The most characters of an invalid-params message: a reason that repeats the caller's
/// input (a parser's message) is cut there.
pub const MAX_REASON_CHARS: usize = 256;

/// `input` as an error message repeats it: in double quotes, control characters and
/// quotes escaped, at most [`MAX_ECHOED_CHARS`] of it, `…` after a cut.
pub fn echoed(input: &str) -> String {
    let mut shown: String = input
        .chars()
        .take(MAX_ECHOED_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if input.chars().nth(MAX_ECHOED_CHARS).is_some() {
        shown.push('…');
    }
    format!("\"{shown}\"")
}

/// An invalid-params error naming `field`; its message is cut at [`MAX_REASON_CHARS`].
pub fn invalid_param(field: &str, reason: impl std::fmt::Display) -> ErrorObjectOwned {
    let mut message = format!("invalid {field}: {reason}");
    if let Some((cut, _)) = message.char_indices().nth(MAX_REASON_CHARS) {
        message.truncate(cut);
        message.push('…');
    }
    ErrorObject::owned(INVALID_PARAMS, message, Some(json!({ "field": field })))
}

/// An internal error.
pub fn internal(reason: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObject::owned(INTERNAL, format!("internal error: {reason}"), None::<()>)
}

#[cfg(feature = "server")]
/// A mempool rejection: `data` holds `reason` and the figures a wallet needs.
pub fn rejected(error: &MempoolError) -> ErrorObjectOwned {
    let mut data = json!({ "reason": error.reason() });
    let extra = match error {
        MempoolError::NonceTooLow { expected } => json!({ "expected": expected }),
        MempoolError::NonceGap {
            expected,
            max_ahead,
        } => json!({ "expected": expected, "maxAhead": max_ahead }),
        MempoolError::InsufficientFunds { available, needed } => json!({
            "available": available.to_string(),
            "needed": needed.to_string(),
            "unit": "base_units",
        }),
        MempoolError::RecipientNotAKey(rule) => json!({ "rule": rule.code() }),
        MempoolError::FeeTooLow { minimum } | MempoolError::ReplacementUnderpriced { minimum } => {
            json!({ "minimum": minimum.to_string() })
        }
        MempoolError::PoolFull { minimum_fee } => json!({ "minimum": minimum_fee.to_string() }),
        MempoolError::SenderFull { limit } => json!({ "limit": limit }),
        MempoolError::Invalid(TxError::BadSignature(rule)) => json!({ "rule": rule.code() }),
        MempoolError::Invalid(TxError::WrongChain { expected, found }) => {
            json!({ "expected": expected.0, "found": found.0 })
        }
        _ => json!({}),
    };
    if let (Some(data), Some(extra)) = (data.as_object_mut(), extra.as_object()) {
        data.extend(extra.clone());
    }
    ErrorObject::owned(
        TX_REJECTED,
        format!("transaction rejected: {error}"),
        Some(data),
    )
}

/// Why the node did not take a transaction: the mempool's rule (1001), or the node itself
/// (internal).
#[cfg(feature = "server")]
pub fn submit_failure(error: &SubmitError) -> ErrorObjectOwned {
    match error {
        SubmitError::Rejected(rule) => rejected(rule),
        SubmitError::Unavailable(reason) => internal(reason),
    }
}

/// Why `dev_mine` mined nothing: the chain does not allow it (1002), too many blocks for
/// one call (invalid `count`), or mining failed (1003).
#[cfg(feature = "server")]
pub fn dev_mine_failure(failure: &DevMineFailure) -> ErrorObjectOwned {
    match failure {
        DevMineFailure::NotAllowed => {
            ErrorObject::owned(DEV_MINING_DISABLED, failure.to_string(), None::<()>)
        }
        DevMineFailure::TooMany { .. } => invalid_param("count", failure),
        DevMineFailure::Refused(_)
        | DevMineFailure::Assembly(_)
        | DevMineFailure::Orphaned
        | DevMineFailure::Chain(_)
        | DevMineFailure::Store(_)
        | DevMineFailure::TipNotIndexed => {
            ErrorObject::owned(MINING_FAILED, failure.to_string(), None::<()>)
        }
    }
}

/// No state kept for the block asked (1007), with why: `unknown`, `not_canonical` or
/// `pruned`.
pub fn state_not_kept(reason: &str, message: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObject::owned(
        STATE_NOT_KEPT,
        message.to_string(),
        Some(json!({ "reason": reason })),
    )
}

/// What a node that joined by snapshot at height `floor` does not hold (1008).
pub fn below_floor(what: impl std::fmt::Display, floor: u64) -> ErrorObjectOwned {
    ErrorObject::owned(
        BELOW_FLOOR,
        format!(
            "{what}: this node joined by snapshot at height {floor} and holds headers only \
             below it; ask a node that synced in full"
        ),
        Some(json!({ "floor": floor })),
    )
}

/// Why an account could not be proven: 1007 for a block without kept state, an internal
/// error otherwise.
#[cfg(feature = "server")]
pub fn proof_failure(error: &tern_state::chain::ProofQueryError) -> ErrorObjectOwned {
    use tern_state::chain::ProofQueryError;
    match error {
        ProofQueryError::NotCanonical(_) => state_not_kept("not_canonical", error),
        ProofQueryError::Pruned(_) => state_not_kept("pruned", error),
        ProofQueryError::TooDeep(_) => state_not_kept("too_deep", error),
        ProofQueryError::Store(_) | ProofQueryError::Moved => internal(error),
    }
}

/// A head subscription that cannot resume where asked: the client must resync (1004).
#[cfg(feature = "server")]
pub fn resync_needed(error: &ResumeError) -> ErrorObjectOwned {
    ErrorObject::owned(RESYNC_NEEDED, error.to_string(), None::<()>)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_input_is_short_and_escaped() {
        assert_eq!(echoed("peer:1"), r#""peer:1""#);
        assert_eq!(echoed("a\"b\nc"), r#""a\"b\nc""#);
        let long = echoed(&"x".repeat(10_000));
        assert_eq!(long.chars().count(), MAX_ECHOED_CHARS + 3);
        assert!(long.ends_with("…\""));
    }

    #[test]
    fn an_invalid_params_message_is_cut() {
        let error = invalid_param("address", "y".repeat(10_000));
        assert_eq!(error.message().chars().count(), MAX_REASON_CHARS + 1);
    }
}
