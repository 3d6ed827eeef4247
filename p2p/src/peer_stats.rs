//! A connection's counters: bytes and messages each way, and the last ping's round trip.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::message::MessageKind;

/// Counters of one connection, shared with the manager and RPC.
#[derive(Debug, Default)]
pub struct PeerStats {
    /// Bytes read off the socket.
    pub bytes_in: AtomicU64,
    /// Bytes written to the socket.
    pub bytes_out: AtomicU64,
    /// Messages received, by [`MessageKind`].
    pub received: [AtomicU64; MessageKind::COUNT],
    /// Messages sent, by [`MessageKind`].
    pub sent: [AtomicU64; MessageKind::COUNT],
    /// The last ping round trip in microseconds; 0 before the first pong.
    pub rtt_micros: AtomicU64,
    /// Inventory messages ignored for coming faster than
    /// [`ANNOUNCE_RATE`](crate::peer::ANNOUNCE_RATE) allows.
    pub ignored_announcements: AtomicU64,
}

impl PeerStats {
    /// Messages of `kind` received.
    pub fn received(&self, kind: MessageKind) -> u64 {
        self.received
            .get(kind.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Messages of `kind` sent.
    pub fn sent(&self, kind: MessageKind) -> u64 {
        self.sent
            .get(kind.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub(crate) fn count(counters: &[AtomicU64; MessageKind::COUNT], kind: MessageKind) {
        if let Some(counter) = counters.get(kind.index()) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}
