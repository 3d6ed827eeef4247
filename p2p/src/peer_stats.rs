//! A connection's counters: bytes and messages each way, the last ping's round trip, and
//! which way new blocks are pushed.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use lru::LruCache;
use tern_chain::types::BlockHash;

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
    /// What became of the compact blocks received.
    pub compact: CompactOutcomes,
    /// It pushes new blocks to us as compact blocks, at our request: it is one of the
    /// peers that last delivered a new block first (high-bandwidth mode).
    pub pushes_blocks: AtomicBool,
    /// We push new blocks to it as compact blocks, at its request.
    pub pushed_blocks: AtomicBool,
    /// Compact blocks we asked it for and it has not sent yet: one of these is rebuilt
    /// whatever the peer's budget for compact blocks sent unasked (see
    /// [`COMPACT_BLOCKS_PER_SEC`](crate::peer::COMPACT_BLOCKS_PER_SEC)).
    pub compact_asked: AskedCompact,
}

/// The compact blocks asked of one peer and not yet received, at most
/// [`MAX_ASKED_COMPACT`] (the oldest forgotten first: its request timed out long ago).
#[derive(Debug)]
pub struct AskedCompact(Mutex<LruCache<BlockHash, ()>>);

/// Compact blocks remembered as asked of one peer: past sync's largest allowance of
/// blocks in flight ([`MAX_ALLOWANCE`](crate::sync::MAX_ALLOWANCE)).
pub const MAX_ASKED_COMPACT: usize = 1_024;

impl Default for AskedCompact {
    fn default() -> AskedCompact {
        let bound = NonZeroUsize::new(MAX_ASKED_COMPACT).unwrap_or(NonZeroUsize::MIN);
        AskedCompact(Mutex::new(LruCache::new(bound)))
    }
}

impl AskedCompact {
    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<BlockHash, ()>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that `hashes` were asked for as compact blocks.
    pub(crate) fn asked(&self, hashes: impl IntoIterator<Item = BlockHash>) {
        let mut asked = self.lock();
        for hash in hashes {
            asked.put(hash, ());
        }
    }

    /// Whether `hash` was asked for (it is not any more).
    pub(crate) fn take(&self, hash: &BlockHash) -> bool {
        self.lock().pop(hash).is_some()
    }
}

/// What became of compact blocks received: how the block was completed.
#[derive(Debug, Default)]
pub struct CompactOutcomes {
    /// Rebuilt from the mempool and the transactions sent whole alone.
    pub from_pool: AtomicU64,
    /// Rebuilt after asking the sender for missing transactions.
    pub after_round_trip: AtomicU64,
    /// Short ids could not rebuild it: the whole block was asked for.
    pub whole: AtomicU64,
}

/// A [`CompactOutcomes`] read at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactCounts {
    /// See [`CompactOutcomes::from_pool`].
    pub from_pool: u64,
    /// See [`CompactOutcomes::after_round_trip`].
    pub after_round_trip: u64,
    /// See [`CompactOutcomes::whole`].
    pub whole: u64,
}

impl CompactOutcomes {
    /// The counts now.
    pub fn read(&self) -> CompactCounts {
        CompactCounts {
            from_pool: self.from_pool.load(Ordering::Relaxed),
            after_round_trip: self.after_round_trip.load(Ordering::Relaxed),
            whole: self.whole.load(Ordering::Relaxed),
        }
    }
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
