//! What this node asked each peer for: the one record behind every request/answer pair
//! (headers, blocks, transactions, "not found", addresses), so that no task can take an
//! honest answer for an offence.
//!
//! A request's *deadline* and its *record* are different things. The deadline is the
//! owner's (sync's or relay's): when it passes, the owner asks someone else. The record
//! lives on here past it, because over a slow link the answer to a request that timed out
//! or was superseded still arrives, and the peer did nothing wrong by sending it. So an
//! answer is [`Answer::Asked`] whenever this node asked that peer for that thing and the
//! peer has not yet answered every such request, however late, whether or not the answer
//! is still needed; only data that no request of ours could explain is
//! [`Answer::Unasked`].
//!
//! Each ask is counted: a request that timed out and went to the same peer again is two
//! asks, and both answers are ours.
//!
//! The record is bounded per peer ([`AskLog::new`]'s `per_peer`) and dropped with the
//! peer. An honest answer can only outlive its record if the peer is asked that many
//! other things before it answers; each owner's bound says why that cannot happen while
//! the connection lives (a peer that answers nothing is dropped at its ping timeout long
//! before).

use std::collections::HashMap;
use std::hash::Hash;
use std::num::NonZeroUsize;

use lru::LruCache;

use crate::ConnId;

/// Whether something a peer sent answers a request of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// We asked this peer for it and it had not yet answered every such request: a
    /// rightful answer, needed still or not.
    Asked,
    /// No request of ours to this peer explains it.
    Unasked,
}

/// Outstanding asks per peer and per thing asked for.
#[derive(Debug)]
pub struct AskLog<K: Hash + Eq> {
    per_peer: NonZeroUsize,
    peers: HashMap<ConnId, LruCache<K, u32>>,
}

impl<K: Hash + Eq> AskLog<K> {
    /// A log that remembers at most `per_peer` distinct things asked of each peer; past
    /// it, the oldest ask is forgotten.
    pub fn new(per_peer: usize) -> AskLog<K> {
        AskLog {
            per_peer: NonZeroUsize::new(per_peer).unwrap_or(NonZeroUsize::MIN),
            peers: HashMap::new(),
        }
    }

    /// Records that we asked `peer` for `key` once more.
    pub fn ask(&mut self, peer: ConnId, key: K) {
        let per_peer = self.per_peer;
        let asks = self
            .peers
            .entry(peer)
            .or_insert_with(|| LruCache::new(per_peer));
        let count = asks.get_or_insert_mut(key, || 0);
        *count = count.saturating_add(1);
    }

    /// `peer` answered about `key` (with the thing itself, or with "not found"): one ask
    /// is settled. Whether we had asked it.
    pub fn answer(&mut self, peer: ConnId, key: &K) -> Answer {
        let Some(asks) = self.peers.get_mut(&peer) else {
            return Answer::Unasked;
        };
        match asks.get_mut(key) {
            Some(count) if *count > 1 => {
                *count -= 1;
                Answer::Asked
            }
            Some(_) => {
                asks.pop(key);
                Answer::Asked
            }
            None => Answer::Unasked,
        }
    }

    /// How many asks of `peer` for `key` are not yet answered.
    pub fn outstanding(&self, peer: ConnId, key: &K) -> u32 {
        self.peers
            .get(&peer)
            .and_then(|asks| asks.peek(key))
            .copied()
            .unwrap_or(0)
    }

    /// Forgets a peer that left: nothing it could send can arrive any more.
    pub fn remove_peer(&mut self, peer: ConnId) {
        self.peers.remove(&peer);
    }

    /// The most distinct things remembered for any one peer (for the bound's tests).
    pub fn largest(&self) -> usize {
        self.peers.values().map(LruCache::len).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_asked_however_late_and_only_as_often_as_asked() {
        let mut log = AskLog::new(4);
        let peer = ConnId(1);
        assert_eq!(log.answer(peer, &7), Answer::Unasked);
        log.ask(peer, 7);
        // A request that timed out and was sent to the same peer again: two answers due.
        log.ask(peer, 7);
        assert_eq!(log.outstanding(peer, &7), 2);
        assert_eq!(log.answer(peer, &7), Answer::Asked);
        assert_eq!(log.answer(peer, &7), Answer::Asked);
        assert_eq!(
            log.answer(peer, &7),
            Answer::Unasked,
            "a third copy was never asked"
        );
        assert_eq!(
            log.answer(ConnId(2), &7),
            Answer::Unasked,
            "asks are per peer"
        );
    }

    #[test]
    fn the_record_is_bounded_per_peer_and_dropped_with_the_peer() {
        let mut log = AskLog::new(3);
        for key in 0..10 {
            log.ask(ConnId(1), key);
            log.ask(ConnId(2), key);
        }
        assert_eq!(log.largest(), 3);
        assert_eq!(
            log.answer(ConnId(1), &0),
            Answer::Unasked,
            "the oldest is forgotten"
        );
        assert_eq!(log.answer(ConnId(1), &9), Answer::Asked);
        log.remove_peer(ConnId(2));
        assert_eq!(log.outstanding(ConnId(2), &9), 0);
    }
}
