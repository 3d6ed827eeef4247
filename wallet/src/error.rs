//! Why a wallet command failed: one variant per cause, each a sentence for the user.

use std::path::PathBuf;

use crate::answers::Mismatch;
use crate::header_file::HeaderFileError;
use crate::keystore::KeystoreError;

/// Why a wallet command failed.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The key file cannot be used.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// The password could not be read from the terminal.
    #[error("cannot read the password: {0}")]
    Prompt(#[source] std::io::Error),
    /// The two passwords typed for a new wallet file differ.
    #[error("the passwords do not match; nothing was written to {}", .0.display())]
    PasswordsDiffer(PathBuf),
    /// The node's URL is not one the client can use.
    #[error("{url}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The node cannot be reached.
    #[error("cannot reach the node: {0}")]
    Unreachable(String),
    /// The node answered the call with an error: its message, and its data if any.
    #[error("{message}{}", data.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// The node's message.
        message: String,
        /// The error's `data`, as JSON.
        data: Option<String>,
    },
    /// The call failed in the client (a malformed answer, a timeout).
    #[error("the call to the node failed: {0}")]
    Call(String),
    /// The node's answer holds a value the wallet cannot use.
    #[error("the node answered a bad {what}: {reason}")]
    BadAnswer {
        /// Which value.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// `--secret` is not a 32-byte key in hex.
    #[error("--secret must be 64 hex digits")]
    BadSecret,
    /// `--dev` is beyond the development accounts.
    #[error("--dev takes 0 to {max}, not {index}")]
    DevAccountOutOfRange {
        /// The number given.
        index: u32,
        /// The highest there is.
        max: u32,
    },
    /// Neither `--secret` nor `--dev` was given.
    #[error("give --secret or --dev")]
    NoKeyGiven,
    /// An amount flag does not parse.
    #[error("{flag}: {reason}")]
    BadAmount {
        /// The flag.
        flag: &'static str,
        /// Why it does not parse.
        reason: String,
    },
    /// A name is neither an account in the wallet nor an address of the node's chain.
    #[error("{account:?} is neither an account in the wallet nor an address: {reason}")]
    UnknownAccount {
        /// The name given.
        account: String,
        /// Why it is not an address.
        reason: String,
    },
    /// An account in the wallet file has a public key that is not one.
    #[error("account {0:?} has a bad public key")]
    BadStoredKey(String),
    /// `--to` is an address no one could sign for: what it received would be lost.
    #[error("--to {address}: {rule}; sending to it would burn the amount")]
    NotAKey {
        /// The address.
        address: String,
        /// Which key rule it breaks.
        rule: tern_chain::crypto::RecipientError,
    },
    /// `--from` names no account of the wallet.
    #[error("the wallet has no account named {0:?}")]
    NoSuchSender(String),
    /// `send --wait` gave up.
    #[error("{txid} did not reach {wait} confirmations within {secs} s; last seen {last}")]
    NotConfirmed {
        /// The transaction.
        txid: String,
        /// The confirmations waited for.
        wait: u64,
        /// How long it waited.
        secs: u64,
        /// Its status when the wallet gave up, in words.
        last: String,
    },
    /// `send --wait` saw the transaction dropped.
    #[error("{txid} will not be mined: {why}")]
    Dropped {
        /// The transaction.
        txid: String,
        /// Its status, in words.
        why: String,
    },
    /// A node's answer does not check against the header chain the wallet verified:
    /// nothing of it is shown.
    #[error("refused {node}: {what}")]
    Unverified {
        /// The node.
        node: String,
        /// What did not match.
        what: Mismatch,
    },
    /// A call to one of several nodes failed.
    #[error("{node}: {error}")]
    NodeFailed {
        /// The node.
        node: String,
        /// What failed.
        error: Box<WalletError>,
    },
    /// `--chain` names no chain spec that loads.
    #[error("--chain: {0}")]
    Chain(String),
    /// The node follows a chain that is not built in, and `--chain` was not given.
    #[error("{node} follows chain {name:?} (genesis {genesis}), which is not built in: pass --chain with its spec file to verify against it, or --trust-node to take the node's word")]
    UnknownChain {
        /// The node.
        node: String,
        /// The chain's name, as the node gives it.
        name: String,
        /// Its genesis hash.
        genesis: String,
    },
    /// No `--rpc` was given.
    #[error("give at least one node with --rpc")]
    NoNode,
    /// No node given holds the tip of the chain with the most work.
    #[error("no node given holds the tip of the chain with the most work this wallet verified (height {height}); give one that does with --rpc")]
    NoNodeAtTip {
        /// The verified tip's height.
        height: u64,
    },
    /// The verified header chain could not be kept next to the wallet.
    #[error(transparent)]
    HeaderFile(#[from] HeaderFileError),
    /// A txid given is not 64 hex digits.
    #[error("not a txid (64 hex digits): {0}")]
    BadTxid(String),
    /// A transaction the node lists in an account's history has no proof.
    #[error("refused {node}: it lists {txid} in the history at height {height}, but does not prove it is in that block")]
    UnprovenHistory {
        /// The node.
        node: String,
        /// The transaction.
        txid: String,
        /// The height it gave.
        height: u64,
    },
}
