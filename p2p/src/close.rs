//! Why a connection ends, and the rules a peer can break.

use std::time::Duration;

use tern_chain::encoding::DecodeError;
use tern_chain::types::BlockHash;
use tern_state::chain::Rejection;

use crate::header_chain::HeaderChainError;
use crate::hello::HelloError;
use crate::message::MessageKind;
use crate::transport::{TransportError, MAX_MESSAGE_LEN};
use tern_mempool::MempoolError;

/// A rule a peer broke, named with the rule's own error. Each one ends the connection
/// and bans the peer; the ban list keeps its text.
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
    /// More announcements than [`ANNOUNCE_BURST`](crate::peer::ANNOUNCE_BURST) and
    /// [`ANNOUNCE_RATE`](crate::peer::ANNOUNCE_RATE) allow.
    #[error("announcement flood")]
    AnnouncementFlood,
    /// Data, addresses or headers we never asked this peer for.
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
    Refused(String),
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
    #[error("peer said goodbye: {0}")]
    Goodbye(String),
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

/// What a closing connection tells its peer.
pub(crate) fn goodbye_text(reason: &CloseReason) -> String {
    match reason {
        CloseReason::Closed => "closing".into(),
        other => other.to_string(),
    }
}
