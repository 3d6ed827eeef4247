//! A peer's send queue: encoded messages waiting for the connection's writing half,
//! bounded in bytes.
//!
//! Relay uses `SendQueue::try_send` and drops a peer whose queue is full; answers to a
//! peer's own requests use `SendQueue::send` and wait for room, so a peer that asks
//! faster than it reads only slows itself down: its connection task stops reading (and so
//! serving) its requests until the answers drain.
//!
//! Answers beyond a peer's own reserve ([`ANSWER_RESERVE_PER_PEER`]) take room in one
//! budget shared by every peer, [`ANSWER_BYTES_TOTAL`]: peers that ask for headers and
//! never read hold their reserves and that budget between them, not [`SEND_QUEUE_BYTES`]
//! each. A peer that reads its answers never has more than its reserve queued, so it
//! never waits on peers that do not. Relay messages are not counted there, so a full
//! budget never gets an innocent peer dropped as too slow.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tern_chain::encoding;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::message::{Message, MessageKind};

/// Bytes of encoded messages waiting to be written to one peer.
pub const SEND_QUEUE_BYTES: usize = 16 * 1024 * 1024;

/// Bytes of answers (blocks, headers, transactions a peer asked for) waiting to be
/// written beyond the peers' reserves, over every peer together.
pub const ANSWER_BYTES_TOTAL: usize = 64 * 1024 * 1024;

/// Bytes of answers one peer may have queued without drawing on [`ANSWER_BYTES_TOTAL`].
pub const ANSWER_RESERVE_PER_PEER: usize = 2 * 1024 * 1024;

/// The node-wide budget of queued answers, shared by every peer's [`SendQueue`].
#[derive(Debug, Clone)]
pub(crate) struct AnswerBudget(Arc<Semaphore>);

impl AnswerBudget {
    pub(crate) fn new() -> AnswerBudget {
        AnswerBudget(Arc::new(Semaphore::new(ANSWER_BYTES_TOTAL)))
    }

    /// Bytes of the shared budget in use now, over every peer.
    pub(crate) fn queued(&self) -> usize {
        ANSWER_BYTES_TOTAL.saturating_sub(self.0.available_permits())
    }
}

/// The peer's send queue is full: it is not reading fast enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the peer's send queue is full")]
pub struct QueueFull;

pub(crate) struct Outgoing {
    pub(crate) bytes: Vec<u8>,
    pub(crate) kind: MessageKind,
    /// Returned to the queue's byte budget once written.
    _permit: OwnedSemaphorePermit,
    /// Returned to the peer's reserve or the node-wide budget once written (answers only).
    _answer_room: Option<AnswerRoom>,
}

/// Where an answer's bytes are counted until it is written.
enum AnswerRoom {
    /// In its peer's reserve: this many bytes of it.
    Reserve(Arc<AtomicUsize>, usize),
    /// In the node-wide budget, returned when the permit drops.
    Shared { _permit: OwnedSemaphorePermit },
}

impl Drop for AnswerRoom {
    fn drop(&mut self) {
        if let AnswerRoom::Reserve(used, bytes) = self {
            used.fetch_sub(*bytes, Ordering::Relaxed);
        }
    }
}

/// Messages waiting to be written to one peer, bounded by [`SEND_QUEUE_BYTES`].
#[derive(Clone)]
pub(crate) struct SendQueue {
    // Unbounded as a channel, but every item holds permits of `budget` for its size, so
    // the bytes it can hold are bounded by the semaphore.
    sender: mpsc::UnboundedSender<Outgoing>,
    budget: Arc<Semaphore>,
    answers: AnswerBudget,
    /// Answer bytes queued within this peer's reserve.
    reserve_used: Arc<AtomicUsize>,
}

impl std::fmt::Debug for SendQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendQueue")
            .field("free_bytes", &self.budget.available_permits())
            .finish()
    }
}

impl SendQueue {
    pub(crate) fn new(answers: AnswerBudget) -> (SendQueue, mpsc::UnboundedReceiver<Outgoing>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let budget = Arc::new(Semaphore::new(SEND_QUEUE_BYTES));
        (
            SendQueue {
                sender,
                budget,
                answers,
                reserve_used: Arc::new(AtomicUsize::new(0)),
            },
            receiver,
        )
    }

    fn permits(bytes: &[u8]) -> u32 {
        // A message is at most MAX_MESSAGE_LEN, below the budget, so this never clamps.
        bytes.len().clamp(1, SEND_QUEUE_BYTES) as u32
    }

    /// Queues `message` now, or fails if the peer is too far behind: for relay, which
    /// must never wait on one slow peer.
    pub(crate) fn try_send(&self, message: &Message) -> Result<(), QueueFull> {
        let bytes = encoding::encode(message);
        let permit = Arc::clone(&self.budget)
            .try_acquire_many_owned(Self::permits(&bytes))
            .map_err(|_| QueueFull)?;
        self.push(bytes, message.kind(), permit, None)
    }

    /// Queues an answer to the peer's own request, waiting for room in its queue and in
    /// the node-wide answer budget: a peer that asks faster than it reads only slows
    /// itself down.
    pub(crate) async fn send(&self, message: &Message) -> Result<(), QueueFull> {
        let bytes = encoding::encode(message);
        let permit = Arc::clone(&self.budget)
            .acquire_many_owned(Self::permits(&bytes))
            .await
            .map_err(|_| QueueFull)?;
        let size = bytes.len();
        // Only this peer's connection task sends answers, one at a time: no race here.
        let room = if self
            .reserve_used
            .load(Ordering::Relaxed)
            .saturating_add(size)
            <= ANSWER_RESERVE_PER_PEER
        {
            self.reserve_used.fetch_add(size, Ordering::Relaxed);
            AnswerRoom::Reserve(Arc::clone(&self.reserve_used), size)
        } else {
            let shared = Arc::clone(&self.answers.0)
                .acquire_many_owned(Self::permits(&bytes))
                .await
                .map_err(|_| QueueFull)?;
            AnswerRoom::Shared { _permit: shared }
        };
        self.push(bytes, message.kind(), permit, Some(room))
    }

    fn push(
        &self,
        bytes: Vec<u8>,
        kind: MessageKind,
        permit: OwnedSemaphorePermit,
        answer_room: Option<AnswerRoom>,
    ) -> Result<(), QueueFull> {
        self.sender
            .send(Outgoing {
                bytes,
                kind,
                _permit: permit,
                _answer_room: answer_room,
            })
            .map_err(|_| QueueFull)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::message::InvItem;
    use tern_chain::types::TxId;

    #[test]
    fn a_send_queue_refuses_more_than_its_byte_budget() {
        let (queue, mut outgoing) = SendQueue::new(AnswerBudget::new());
        let items =
            vec![InvItem::Tx(TxId::from_bytes([1; 32])); crate::message::MAX_INVENTORY_PER_MESSAGE];
        let message = Message::Inventory(items);
        let size = encoding::encode(&message).len();
        let mut queued = 0;
        while queue.try_send(&message).is_ok() {
            queued += 1;
        }
        assert!(queued * size <= SEND_QUEUE_BYTES);
        assert!(
            (queued + 1) * size > SEND_QUEUE_BYTES,
            "the whole budget is usable"
        );
        // Writing one frees its bytes for the next.
        drop(outgoing.try_recv().unwrap());
        assert!(queue.try_send(&message).is_ok());
    }

    #[tokio::test]
    async fn answers_to_all_peers_share_one_budget() {
        let answers = AnswerBudget::new();
        let items =
            vec![InvItem::Tx(TxId::from_bytes([1; 32])); crate::message::MAX_INVENTORY_PER_MESSAGE];
        let message = Message::Inventory(items);
        let size = encoding::encode(&message).len();
        let mut queues = Vec::new();
        // Each peer fills its own queue; together they stop at the shared budget.
        'peers: for _ in 0..(ANSWER_BYTES_TOTAL / SEND_QUEUE_BYTES + 2) {
            let (queue, outgoing) = SendQueue::new(answers.clone());
            queues.push((queue.clone(), outgoing));
            for _ in 0..(SEND_QUEUE_BYTES / size) {
                let sent = tokio::time::timeout(
                    std::time::Duration::from_millis(50),
                    queue.send(&message),
                )
                .await;
                if sent.is_err() {
                    break 'peers;
                }
            }
        }
        assert!(answers.queued() <= ANSWER_BYTES_TOTAL);
        assert!(
            answers.queued() + size > ANSWER_BYTES_TOTAL,
            "the budget is usable"
        );
        // A fresh peer's relay and its answers within its reserve are not held back.
        let (fresh, _outgoing) = SendQueue::new(answers.clone());
        assert!(fresh.try_send(&message).is_ok());
        let answered =
            tokio::time::timeout(std::time::Duration::from_millis(50), fresh.send(&message)).await;
        assert!(answered.is_ok(), "an answer within the reserve waited");
        drop(queues);
        assert_eq!(answers.queued(), 0);
    }
}
