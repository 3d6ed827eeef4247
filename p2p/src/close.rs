//! Why a connection ends, and the rules a peer can break.

use std::time::Duration;

use tern_chain::encoding::DecodeError;
use tern_chain::types::BlockHash;
use tern_state::chain::Rejection;

use crate::headers::HeaderChainError;
use crate::hello::HelloError;
use crate::message::{Message, MessageKind};
use crate::transport::{TransportError, MAX_MESSAGE_LEN};
use tern_mempool::MempoolError;

/// A rule a peer broke, named with the rule's own error. Each one ends the connection
/// and bans the peer; the ban list keeps its text. Only what an honest peer cannot do is
/// here: whatever a slow link, a lost packet, a restart, a reorg or a clock can cause is
/// ignored, or ends the connection without a ban ([`CloseReason::Dropped`]).
/// docs/PROTOCOL.md lists them with the reason each cannot be an accident.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Misbehaviour {
    /// A message that does not decode, or breaks a size or count limit.
    #[error("malformed message: {0}")]
    Malformed(DecodeError),
    /// A message declared longer than the transport allows.
    #[error("oversized message: a message of {len} bytes is above the limit of {MAX_MESSAGE_LEN}")]
    MessageTooLarge {
        /// The declared length.
        len: usize,
    },
    /// A message whose frames carried more bytes than it declared.
    #[error("oversized message: its frames overrun its declared length")]
    FrameOverrun,
    /// A second hello.
    #[error("a second hello")]
    RepeatedHello,
    /// Data or addresses we never asked this peer for (see [`crate::asked`]: an answer to
    /// any request of ours, however late, is not this). Headers are never unsolicited:
    /// they may announce a chain.
    #[error("unsolicited {0:?}")]
    Unsolicited(MessageKind),
    /// A transaction invalid whatever the chain state (the mempool's intrinsic rules).
    #[error("invalid transaction: {0}")]
    InvalidTransaction(MempoolError),
    /// A block the chain refused for breaking a consensus rule.
    #[error("invalid block: {0}")]
    InvalidBlock(Rejection),
    /// A block whose transactions do not match its header's Merkle root.
    #[error("invalid block: block {0}: the transactions do not match the header's Merkle root")]
    BodyMismatch(BlockHash),
    /// Headers that are not a chain, or break a header rule.
    #[error("headers do not connect: {0}")]
    BadHeaders(HeaderChainError),
    /// A state chunk that is not the subtree asked for.
    #[error("a forged state chunk: {0}")]
    BadStateChunk(tern_state::chain::SnapshotError),
    /// A request for a block's transactions at positions past the block's end.
    #[error("asked for transaction {index} of block {block}, which has {count}")]
    BlockTxsPastEnd {
        /// The block.
        block: BlockHash,
        /// The first position past its end.
        index: u32,
        /// Its transactions.
        count: usize,
    },
    /// An answer for a compact block's missing transactions that is not what its short
    /// ids name: too few or too many, or others.
    #[error("a false answer for block {block}'s missing transactions: {error}")]
    BadBlockTxs {
        /// The block.
        block: BlockHash,
        /// What was wrong.
        error: crate::compact::RebuildError,
    },
}

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub enum CloseReason {
    /// The TCP connection could not be made.
    #[error("dial failed: {0}")]
    DialFailed(std::io::Error),
    /// The handshake or hello failed or was refused.
    #[error(transparent)]
    Hello(#[from] HelloError),
    /// The manager did not admit the peer.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The connection failed after it was established.
    #[error(transparent)]
    Transport(TransportError),
    /// The peer broke a rule.
    #[error(transparent)]
    Misbehaviour(#[from] Misbehaviour),
    /// No pong within the ping timeout.
    #[error("no pong within {0:?}")]
    PingTimeout(Duration),
    /// The peer could not keep up with what we send.
    #[error("the peer is not reading fast enough")]
    TooSlow,
    /// The peer said goodbye.
    #[error("peer said goodbye: {reason}")]
    Goodbye {
        /// Why, in its words.
        reason: String,
        /// How long it asked us to stay away (zero: no wait asked).
        retry_after: Duration,
    },
    /// The relay or sync task found the peer useless (it announces what it never
    /// delivers, or claims a chain it does not serve): closed, not banned, since an
    /// overloaded honest peer looks the same.
    #[error("dropped: {0}")]
    Dropped(&'static str),
    /// The manager closed it (ban, duplicate, replaced) or the node is stopping.
    #[error("closed by this node")]
    Closed,
    /// The connection's task panicked (a bug; the node fails with it).
    #[error("the connection task panicked")]
    TaskPanicked,
}

impl CloseReason {
    /// The misbehaviour to ban for, if any. The connection task turns a peer's oversized
    /// messages into [`Misbehaviour`]; every other transport failure blames nobody.
    pub fn misbehaviour(&self) -> Option<&Misbehaviour> {
        match self {
            CloseReason::Misbehaviour(m) => Some(m),
            _ => None,
        }
    }
}

/// The longest stay-away a peer's goodbye is taken at: a week, the longest ban worth
/// honouring before trying again.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Why the connection manager would not keep a connection, and how long the peer should
/// wait before dialling again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    /// Why.
    pub reason: RefusalReason,
    /// How long the peer should stay away; zero when it may come back any time.
    pub retry_after: Duration,
}

/// Why the connection manager would not keep a connection, one variant per reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefusalReason {
    /// The peer's node id is banned.
    #[error("banned")]
    Banned,
    /// The operator banned it (`net_ban`) while it was connected.
    #[error("banned by the operator")]
    BannedByOperator,
    /// We already hold a connection to it in the direction both sides keep.
    #[error("already connected")]
    AlreadyConnected,
    /// The connection was closing by the time it asked to be admitted.
    #[error("closing")]
    Closing,
    /// The node is stopping.
    #[error("the node is stopping")]
    Stopping,
    /// The tasks that must hear of a new peer are too far behind to.
    #[error("busy")]
    Busy,
}

impl RefusalReason {
    /// A stable snake-case name, for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            RefusalReason::Banned => "banned",
            RefusalReason::BannedByOperator => "banned_by_operator",
            RefusalReason::AlreadyConnected => "already_connected",
            RefusalReason::Closing => "closing",
            RefusalReason::Stopping => "stopping",
            RefusalReason::Busy => "busy",
        }
    }
}

impl Refusal {
    /// A refusal with no wait asked (a duplicate connection, a node stopping).
    pub fn now(reason: RefusalReason) -> Refusal {
        Refusal {
            reason,
            retry_after: Duration::ZERO,
        }
    }
}

/// What a closing connection tells its peer. A peer about to be banned is told for how
/// long, so it stays away instead of redialling into the ban.
pub(crate) fn goodbye(reason: &CloseReason, ban_duration: Duration) -> Message {
    let (reason, retry_after) = match reason {
        CloseReason::Closed => ("closing".into(), Duration::ZERO),
        CloseReason::Refused(refusal) => (refusal.reason.to_string(), refusal.retry_after),
        CloseReason::Misbehaviour(_) => (reason.to_string(), ban_duration),
        other => (other.to_string(), Duration::ZERO),
    };
    Message::Goodbye {
        reason,
        retry_after_secs: retry_after.as_secs(),
    }
}
