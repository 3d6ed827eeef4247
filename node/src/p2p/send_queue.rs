//! A peer's send queue: encoded messages waiting for the writer task, bounded in bytes.
//!
//! Relay uses `SendQueue::try_send` and drops a peer whose queue is full; answers to a
//! peer's own requests use `SendQueue::send` and wait for room, so a peer that asks
//! faster than it reads only slows itself down.

use std::sync::Arc;

use tern_core::encoding;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::message::{Message, MessageKind};

/// Bytes of encoded messages waiting to be written to one peer.
pub const SEND_QUEUE_BYTES: usize = 16 * 1024 * 1024;

/// The peer's send queue is full: it is not reading fast enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the peer's send queue is full")]
pub struct QueueFull;

pub(crate) struct Outgoing {
    pub(crate) bytes: Vec<u8>,
    pub(crate) kind: MessageKind,
    /// Returned to the queue's byte budget once written.
    _permit: OwnedSemaphorePermit,
}

/// Messages waiting to be written to one peer, bounded by [`SEND_QUEUE_BYTES`].
#[derive(Clone)]
pub(crate) struct SendQueue {
    // Unbounded as a channel, but every item holds permits of `budget` for its size, so
    // the bytes it can hold are bounded by the semaphore.
    sender: mpsc::UnboundedSender<Outgoing>,
    budget: Arc<Semaphore>,
}

impl std::fmt::Debug for SendQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendQueue")
            .field("free_bytes", &self.budget.available_permits())
            .finish()
    }
}

impl SendQueue {
    pub(crate) fn new() -> (SendQueue, mpsc::UnboundedReceiver<Outgoing>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let budget = Arc::new(Semaphore::new(SEND_QUEUE_BYTES));
        (SendQueue { sender, budget }, receiver)
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
        self.push(bytes, message.kind(), permit)
    }

    /// Queues `message`, waiting for room: for answers to the peer's own requests, so a
    /// peer that asks faster than it reads only slows itself down.
    pub(crate) async fn send(&self, message: &Message) -> Result<(), QueueFull> {
        let bytes = encoding::encode(message);
        let permit = Arc::clone(&self.budget)
            .acquire_many_owned(Self::permits(&bytes))
            .await
            .map_err(|_| QueueFull)?;
        self.push(bytes, message.kind(), permit)
    }

    fn push(
        &self,
        bytes: Vec<u8>,
        kind: MessageKind,
        permit: OwnedSemaphorePermit,
    ) -> Result<(), QueueFull> {
        self.sender
            .send(Outgoing {
                bytes,
                kind,
                _permit: permit,
            })
            .map_err(|_| QueueFull)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2p::message::InvItem;
    use tern_core::types::TxId;

    #[test]
    fn a_send_queue_refuses_more_than_its_byte_budget() {
        let (queue, mut outgoing) = SendQueue::new();
        let items = vec![
            InvItem::Tx(TxId::from_bytes([1; 32]));
            crate::p2p::message::MAX_INVENTORY_PER_MESSAGE
        ];
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
}
