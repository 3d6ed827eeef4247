//! Blocks peers announce, and blocks we announce to peers: the part of sync that follows
//! the chain once it is caught up.
//!
//! A peer announces a block by its hash (an `Inventory`). One we lack is asked of the
//! announcer at once, in the same record of requests as sync's own ([`SyncState`]'s
//! `in_flight`) and out of the same per-peer allowance, so one tracker owns every block
//! request and no peer is asked for a block another request already waits on. Further
//! announcers of a block in flight wait in line (up to [`MAX_ANNOUNCERS`]); if the
//! request times out, is refused or its peer leaves, the next one is asked. A peer that
//! announces more than its allowance lets us fetch, or whose block the chain cannot place
//! (we lack its parent), is asked for headers instead: headers first takes any number of
//! blocks, and finds where its chain leaves ours. This is how Bitcoin Core treats a block
//! announcement.
//!
//! Each peer also has a bounded set of blocks it is known to have ([`KNOWN_BLOCKS_PER_PEER`]):
//! it announced or sent them, or sent their headers, or we announced them to it. A new
//! tip is announced only to peers outside that set.

use std::collections::{HashSet, VecDeque};
use std::num::NonZeroUsize;
use std::time::Instant;

use lru::LruCache;
use tern_chain::block::Block;
use tern_chain::types::BlockHash;

use super::{Request, SyncState};
use crate::ConnId;

/// Other announcers remembered per block in flight, to ask if the first does not deliver.
pub const MAX_ANNOUNCERS: usize = 8;
/// Announced blocks (not among the pending headers) being fetched at once, over all peers.
/// An honest network announces a new tip at a time; a burst beyond this goes headers
/// first.
pub const MAX_ANNOUNCED_IN_FLIGHT: usize = 64;
/// Blocks a peer is remembered to know.
pub const KNOWN_BLOCKS_PER_PEER: usize = 4_096;
/// Blocks the chain refused, remembered so announcements of them are not fetched again.
pub const REJECTED_BLOCKS: usize = 4_096;
/// Announced blocks whose every request ended undelivered, remembered so that a late
/// answer to one of them is still taken.
pub const AWAITED_BLOCKS: usize = 1_024;

/// Where a block handed to the chain came from: what its verdict means depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// Sync's pending headers: the blocks go in order, and a refusal ends that chain.
    Headers,
    /// A peer's announcement: one block on its own, which may lack its parent.
    Announced,
    /// A compact block a peer we asked to push sent unasked, before it validated the
    /// block itself (high-bandwidth mode): as an announced one, but a refusal is no
    /// offence; the peer only stops pushing to us.
    Pushed,
}

/// A peer's known blocks.
#[derive(Debug)]
pub(super) struct KnownBlocks(LruCache<BlockHash, ()>);

impl Default for KnownBlocks {
    fn default() -> KnownBlocks {
        KnownBlocks(LruCache::new(non_zero(KNOWN_BLOCKS_PER_PEER)))
    }
}

impl KnownBlocks {
    pub(super) fn insert(&mut self, hash: BlockHash) {
        self.0.put(hash, ());
    }

    /// Whether the block was new to the set (it is in it now).
    fn learn(&mut self, hash: BlockHash) -> bool {
        self.0.put(hash, ()).is_none()
    }
}

/// A bounded set of blocks: those the chain refused, or those announced and not
/// delivered in time.
#[derive(Debug)]
pub(super) struct BlockSet(LruCache<BlockHash, ()>);

impl BlockSet {
    pub(super) fn new(bound: usize) -> BlockSet {
        BlockSet(LruCache::new(non_zero(bound)))
    }

    pub(super) fn insert(&mut self, hash: BlockHash) {
        self.0.put(hash, ());
    }

    pub(super) fn contains(&self, hash: &BlockHash) -> bool {
        self.0.contains(hash)
    }

    /// Whether `hash` was in the set; it is not any more.
    pub(super) fn take(&mut self, hash: &BlockHash) -> bool {
        self.0.pop(hash).is_some()
    }
}

fn non_zero(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

impl SyncState {
    /// `peer` announced `hashes`; `stored` are those the store holds. Those we lack and
    /// nobody is fetching are asked of it at the next [`SyncState::drive`], as its
    /// allowance lets; the rest of what we lack has it asked for headers.
    pub fn on_block_inventory(
        &mut self,
        peer: ConnId,
        hashes: &[BlockHash],
        stored: &HashSet<BlockHash>,
        now: Instant,
    ) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        for hash in hashes {
            state.known.insert(*hash);
        }
        // A node restoring a snapshot takes no block before the state is in.
        if self.snapshot.holds_blocks() {
            return;
        }
        let mut left_out = false;
        for hash in hashes {
            if stored.contains(hash) || self.rejected.contains(hash) {
                continue;
            }
            if let Some(line) = self.announcers.get_mut(hash) {
                let first = self.in_flight.get(hash).map(|r| r.peer);
                if first != Some(peer) && !line.contains(&peer) && line.len() < MAX_ANNOUNCERS {
                    line.push_back(peer);
                }
                continue;
            }
            if self.is_handled(hash) {
                continue;
            }
            if self.announcers.len() >= MAX_ANNOUNCED_IN_FLIGHT || !self.ask_block(peer, *hash, now)
            {
                left_out = true;
                continue;
            }
            self.announcers.insert(*hash, VecDeque::new());
        }
        if left_out {
            self.hint(peer);
        }
    }

    /// Whether sync already has `hash` in hand: a pending header (fetched headers first),
    /// requested, downloaded, or with the chain.
    pub(super) fn is_handled(&self, hash: &BlockHash) -> bool {
        self.chain.get(hash).is_some()
            || self.in_flight.contains_key(hash)
            || self.downloaded.contains_key(hash)
            || self.submitted.contains_key(hash)
    }

    /// Records a request for `hash` to `peer` if its allowance has room, to be sent at the
    /// next drive. Whether it was made.
    pub(super) fn ask_block(&mut self, peer: ConnId, hash: BlockHash, now: Instant) -> bool {
        let Some(state) = self.peers.get_mut(&peer) else {
            return false;
        };
        if state.in_flight >= state.allowance {
            return false;
        }
        state.in_flight += 1;
        // The ask is recorded when the request goes out, in the form it takes.
        self.in_flight.insert(
            hash,
            Request {
                peer,
                deadline: now + self.config.request_timeout,
            },
        );
        self.to_request.push((peer, hash));
        true
    }

    /// An announced block's request ended undelivered (timed out, refused, its peer left
    /// or sent a forged body): the next announcer in line with room is asked. A block
    /// that is a pending header by now is left to the header download.
    ///
    /// With nobody left to ask, the block is remembered as awaited: its last request may
    /// still be answered late over a slow link, and that answer is taken. And a peer whose
    /// request timed out (`timed_out`) is asked for headers, so that headers first, which
    /// asks again until a peer delivers, takes the block on.
    pub(super) fn announced_request_ended(
        &mut self,
        hash: &BlockHash,
        now: Instant,
        timed_out: Option<ConnId>,
    ) {
        let Some(mut line) = self.announcers.remove(hash) else {
            return;
        };
        if self.chain.get(hash).is_some() {
            return;
        }
        while let Some(next) = line.pop_front() {
            if self.ask_block(next, *hash, now) {
                self.announcers.insert(*hash, line);
                return;
            }
        }
        self.awaited.insert(*hash);
        if let Some(peer) = timed_out {
            self.hint(peer);
        }
    }

    /// An announced block arrived from the peer asked for it: it goes to the chain on its
    /// own at the next drive.
    pub(super) fn take_announced(&mut self, peer: ConnId, block: Block) {
        self.take_alone(peer, block, Source::Announced);
    }

    /// A block to go to the chain on its own, not in a header chain's order.
    pub(super) fn take_alone(&mut self, peer: ConnId, block: Block, source: Source) {
        let hash = block.hash();
        self.announcers.remove(&hash);
        self.ready.push_back((peer, block, source));
    }

    /// The blocks of `hashes` that `peer` is not known to have, now marked as known: what
    /// to announce to it.
    pub fn to_announce(&mut self, peer: ConnId, hashes: &[BlockHash]) -> Vec<BlockHash> {
        let Some(state) = self.peers.get_mut(&peer) else {
            return Vec::new();
        };
        hashes
            .iter()
            .filter(|hash| state.known.learn(**hash))
            .copied()
            .collect()
    }

    /// Announced blocks being fetched, for statistics and the tests that check the bound.
    pub fn announced_in_flight(&self) -> usize {
        self.announcers.len()
    }
}
