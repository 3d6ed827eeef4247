//! Who knows which transactions, and who we are waiting on: the bookkeeping behind
//! "announce by id, ask once". Blocks are not here: sync owns every block request.
//!
//! - Each peer has a bounded set of transactions it is known to have (it announced them, sent
//!   them, or we announced them to it); we never announce an item to a peer in its set.
//! - A global bounded set holds items recently received or rejected; announcements of
//!   those are ignored, so a rejected transaction is not fetched again from every peer.
//! - An item is requested from one announcer at a time. Further announcers wait in line
//!   (a few per item); if the request times out or the peer says "not found", the next
//!   one is asked.
//! - What each peer was asked for is recorded in an [`AskLog`], past the request's
//!   deadline, so a late answer to a timed-out or superseded request is never mistaken
//!   for unsolicited data.
//! - Each peer has its own quota of transaction requests in flight
//!   ([`MAX_TX_IN_FLIGHT_PER_PEER`], as Bitcoin Core's txrequest) and its own queue of
//!   announcements waiting for that quota ([`MAX_WAITING_PER_PEER`]): peers that announce
//!   what they never deliver use up their own quota, never an honest peer's.
//! - A peer whose requests keep expiring without a delivery ([`MAX_UNDELIVERED`] in a
//!   row) is reported, for the relay task to drop: it announces what it never delivers.
//!
//! Everything here is synchronous and owned by the relay task.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;

use tern_chain::types::TxId;

use crate::asked::{Answer, AskLog};
use crate::ConnId;

/// Items a peer is remembered to know.
pub const KNOWN_PER_PEER: usize = 16_384;
/// Transactions remembered as requested from one peer. A peer is asked for at most
/// [`MAX_TX_IN_FLIGHT_PER_PEER`] transactions per [`REQUEST_TIMEOUT`], so a record outlives its request by over ten minutes: far
/// past the ping timeout that drops a peer whose answers stopped.
pub const REQUESTED_PER_PEER: usize = 8_192;
/// Items recently received or rejected, network-wide.
pub const RECENT_ITEMS: usize = 65_536;
/// Items being fetched at once.
pub const MAX_IN_FLIGHT: usize = 16_384;
/// Transactions being fetched from one peer at once (Bitcoin Core: 100).
pub const MAX_TX_IN_FLIGHT_PER_PEER: usize = 100;
/// Transaction announcements of one peer waiting for its quota (Bitcoin Core: 5,000).
/// Past it, the peer's further announcements are ignored until the queue drains.
pub const MAX_WAITING_PER_PEER: usize = 5_000;
/// Requests to one peer that may expire in a row, with nothing delivered in between,
/// before the peer is reported as announcing what it never delivers.
pub const MAX_UNDELIVERED: u32 = 2 * MAX_TX_IN_FLIGHT_PER_PEER as u32;
/// Other announcers remembered per item, to ask if the first does not deliver.
pub const MAX_ALTERNATES: usize = 8;
/// How long a peer has to deliver a requested item.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct InFlight {
    peer: ConnId,
    deadline: Instant,
    alternates: VecDeque<ConnId>,
}

#[derive(Debug)]
struct PeerRelay {
    known: LruCache<TxId, ()>,
    in_flight: usize,
    /// Transactions it announced that wait for its quota, oldest first.
    waiting: VecDeque<TxId>,
    /// Its requests that expired since it last delivered something.
    undelivered: u32,
}

impl PeerRelay {
    fn new() -> PeerRelay {
        PeerRelay {
            known: LruCache::new(non_zero(KNOWN_PER_PEER)),
            in_flight: 0,
            waiting: VecDeque::new(),
            undelivered: 0,
        }
    }

    fn has_room(&self) -> bool {
        self.in_flight < MAX_TX_IN_FLIGHT_PER_PEER
    }
}

fn non_zero(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

/// Sizes, for statistics and tests that check the bounds hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayStats {
    /// Items being fetched.
    pub in_flight: usize,
    /// Items in the recently received or rejected set.
    pub recent: usize,
    /// The largest known set among peers.
    pub largest_known_set: usize,
    /// Announcements waiting for their peer's quota, over all peers.
    pub waiting: usize,
}

/// The relay bookkeeping.
#[derive(Debug)]
pub struct Relay {
    peers: HashMap<ConnId, PeerRelay>,
    /// What each peer was asked for, past the requests' deadlines.
    asked: AskLog<TxId>,
    in_flight: HashMap<TxId, InFlight>,
    recent: LruCache<TxId, ()>,
    timeout: Duration,
}

impl Default for Relay {
    fn default() -> Relay {
        Relay::new(REQUEST_TIMEOUT)
    }
}

impl Relay {
    /// Bookkeeping with this request timeout.
    pub fn new(timeout: Duration) -> Relay {
        Relay {
            peers: HashMap::new(),
            asked: AskLog::new(REQUESTED_PER_PEER),
            in_flight: HashMap::new(),
            recent: LruCache::new(non_zero(RECENT_ITEMS)),
            timeout,
        }
    }

    /// Starts tracking a peer.
    pub fn add_peer(&mut self, peer: ConnId) {
        self.peers.entry(peer).or_insert_with(PeerRelay::new);
    }

    /// Stops tracking a peer; what it was fetching for us goes to the next announcer.
    /// Returns the new requests to send.
    pub fn remove_peer(&mut self, peer: ConnId, now: Instant) -> Vec<(ConnId, TxId)> {
        self.peers.remove(&peer);
        self.asked.remove_peer(peer);
        let items: Vec<TxId> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.peer == peer)
            .map(|(item, _)| *item)
            .collect();
        for flight in self.in_flight.values_mut() {
            flight.alternates.retain(|p| *p != peer);
        }
        items
            .into_iter()
            .filter_map(|item| self.retry(item, now))
            .collect()
    }

    /// A peer announced `items`. Returns those to request from it now; `have` says which
    /// we already hold. Those beyond the peer's quota wait in its queue, for
    /// [`Self::next_requests`].
    pub fn announced(
        &mut self,
        peer: ConnId,
        items: &[TxId],
        have: impl Fn(&TxId) -> bool,
        now: Instant,
    ) -> Vec<TxId> {
        let mut request = Vec::new();
        for item in items {
            self.mark_known(peer, *item);
            if !self.wanted_from(peer, item, &have) {
                continue;
            }
            if self.start_request(peer, *item, VecDeque::new(), now) {
                request.push(*item);
            } else if let Some(state) = self.peers.get_mut(&peer) {
                if state.waiting.len() < MAX_WAITING_PER_PEER {
                    state.waiting.push_back(*item);
                }
            }
        }
        request
    }

    /// Whether `item`, announced by `peer`, is to be fetched: not recently handled, not
    /// held, and not already being fetched (then `peer` joins the line of announcers).
    fn wanted_from(&mut self, peer: ConnId, item: &TxId, have: &impl Fn(&TxId) -> bool) -> bool {
        if self.recent.contains(item) {
            return false;
        }
        if let Some(flight) = self.in_flight.get_mut(item) {
            if flight.peer != peer
                && !flight.alternates.contains(&peer)
                && flight.alternates.len() < MAX_ALTERNATES
            {
                flight.alternates.push_back(peer);
            }
            return false;
        }
        if have(item) {
            self.recent.put(*item, ());
            return false;
        }
        true
    }

    /// Requests what waits in `peer`'s queue, as far as its quota allows now.
    pub fn next_requests(
        &mut self,
        peer: ConnId,
        have: impl Fn(&TxId) -> bool,
        now: Instant,
    ) -> Vec<TxId> {
        let mut request = Vec::new();
        while let Some(state) = self.peers.get_mut(&peer) {
            if !state.has_room() || self.in_flight.len() >= MAX_IN_FLIGHT {
                break;
            }
            let Some(item) = state.waiting.pop_front() else {
                break;
            };
            if self.wanted_from(peer, &item, &have)
                && self.start_request(peer, item, VecDeque::new(), now)
            {
                request.push(item);
            }
        }
        request
    }

    /// Peers with announcements waiting for their quota.
    pub fn peers_waiting(&self) -> Vec<ConnId> {
        self.peers
            .iter()
            .filter(|(_, state)| !state.waiting.is_empty())
            .map(|(peer, _)| *peer)
            .collect()
    }

    /// Peers whose requests keep expiring with nothing delivered: they announce what
    /// they never deliver.
    pub fn undelivering_peers(&self) -> Vec<ConnId> {
        self.peers
            .iter()
            .filter(|(_, state)| state.undelivered >= MAX_UNDELIVERED)
            .map(|(peer, _)| *peer)
            .collect()
    }

    fn can_request(&self, peer: ConnId) -> bool {
        self.in_flight.len() < MAX_IN_FLIGHT
            && self.peers.get(&peer).is_some_and(PeerRelay::has_room)
    }

    fn start_request(
        &mut self,
        peer: ConnId,
        item: TxId,
        alternates: VecDeque<ConnId>,
        now: Instant,
    ) -> bool {
        if !self.can_request(peer) {
            return false;
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.in_flight = state.in_flight.saturating_add(1);
        }
        self.asked.ask(peer, item);
        self.in_flight.insert(
            item,
            InFlight {
                peer,
                deadline: now + self.timeout,
                alternates,
            },
        );
        true
    }

    /// A peer sent `item`. Whether we had asked it, however late the answer; either way
    /// the item is no longer awaited and the peer is known to have it.
    pub fn received(&mut self, peer: ConnId, item: TxId) -> Answer {
        let answer = self.asked.answer(peer, &item);
        if answer == Answer::Asked {
            if let Some(state) = self.peers.get_mut(&peer) {
                state.undelivered = 0;
            }
        }
        if let Some(flight) = self.in_flight.get(&item) {
            if flight.peer == peer {
                self.finish(item);
            }
        }
        self.mark_known(peer, item);
        answer
    }

    /// Remembers `item` as handled (admitted or rejected), so announcements of it are
    /// ignored for a while.
    pub fn mark_recent(&mut self, item: TxId) {
        self.recent.put(item, ());
    }

    /// Forgets that `item` was handled, so it can be fetched again (it was dropped before
    /// it could be checked).
    pub fn forget_recent(&mut self, item: &TxId) {
        self.recent.pop(item);
    }

    /// `culprit` delivered a copy of `item` that is invalid on its own (a transaction with
    /// a bad signature): the item is not handled, since a transaction's id does not cover
    /// its signature and the genuine one may come from anyone else. Asks another peer
    /// known to have it, if any, with the rest as alternates; returns that request.
    pub fn refetch_elsewhere(
        &mut self,
        item: TxId,
        culprit: ConnId,
        now: Instant,
    ) -> Option<(ConnId, TxId)> {
        self.recent.pop(&item);
        if self.in_flight.contains_key(&item) {
            return None;
        }
        let mut holders: VecDeque<ConnId> = self
            .peers
            .iter()
            .filter(|(peer, state)| **peer != culprit && state.known.contains(&item))
            .map(|(peer, _)| *peer)
            .take(MAX_ALTERNATES.saturating_add(1))
            .collect();
        while let Some(next) = holders.pop_front() {
            if self.start_request(next, item, holders.clone(), now) {
                return Some((next, item));
            }
        }
        None
    }

    /// A peer does not have `items` after all. Returns the requests to send instead.
    pub fn not_found(&mut self, peer: ConnId, items: &[TxId], now: Instant) -> Vec<(ConnId, TxId)> {
        let mut retries = Vec::new();
        for item in items {
            // "Not found" settles an ask as the item would; one we never made is ignored.
            let _ = self.asked.answer(peer, item);
            if self.in_flight.get(item).is_some_and(|f| f.peer == peer) {
                retries.extend(self.retry(*item, now));
            }
        }
        retries
    }

    /// Requests past their deadline move to the next announcer, and count against the
    /// peer that failed to deliver them. Returns the new requests.
    pub fn expire(&mut self, now: Instant) -> Vec<(ConnId, TxId)> {
        let late: Vec<(TxId, ConnId)> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(item, f)| (*item, f.peer))
            .collect();
        for (_, peer) in &late {
            if let Some(state) = self.peers.get_mut(peer) {
                state.undelivered = state.undelivered.saturating_add(1);
            }
        }
        late.into_iter()
            .filter_map(|(item, _)| self.retry(item, now))
            .collect()
    }

    /// Ends the request for `item` and asks its next announcer, if any.
    fn retry(&mut self, item: TxId, now: Instant) -> Option<(ConnId, TxId)> {
        let mut alternates = self.finish(item)?.alternates;
        while let Some(next) = alternates.pop_front() {
            if self.can_request(next) {
                self.start_request(next, item, alternates, now);
                return Some((next, item));
            }
        }
        None
    }

    fn finish(&mut self, item: TxId) -> Option<InFlight> {
        let flight = self.in_flight.remove(&item)?;
        if let Some(state) = self.peers.get_mut(&flight.peer) {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
        Some(flight)
    }

    /// Remembers that `peer` has `item`.
    pub fn mark_known(&mut self, peer: ConnId, item: TxId) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.known.put(item, ());
        }
    }

    /// The items of `items` that `peer` is not known to have, now marked as known: what
    /// to announce to it.
    pub fn to_announce(&mut self, peer: ConnId, items: &[TxId]) -> Vec<TxId> {
        let Some(state) = self.peers.get_mut(&peer) else {
            return Vec::new();
        };
        items
            .iter()
            .filter(|item| state.known.put(**item, ()).is_none())
            .copied()
            .collect()
    }

    /// Current sizes.
    pub fn stats(&self) -> RelayStats {
        RelayStats {
            in_flight: self.in_flight.len(),
            recent: self.recent.len(),
            largest_known_set: self
                .peers
                .values()
                .map(|p| p.known.len())
                .max()
                .unwrap_or(0),
            waiting: self.peers.values().map(|p| p.waiting.len()).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn tx(n: u8) -> TxId {
        TxId::from_bytes([n; 32])
    }

    fn relay(peers: &[u64]) -> Relay {
        let mut relay = Relay::default();
        for p in peers {
            relay.add_peer(ConnId(*p));
        }
        relay
    }

    #[test]
    fn an_item_is_requested_once_whoever_announces_it() {
        let mut r = relay(&[1, 2, 3]);
        let now = Instant::now();
        assert_eq!(
            r.announced(ConnId(1), &[tx(1)], |_| false, now),
            vec![tx(1)]
        );
        assert!(r.announced(ConnId(2), &[tx(1)], |_| false, now).is_empty());
        assert!(r.announced(ConnId(3), &[tx(1)], |_| false, now).is_empty());
        assert_eq!(r.received(ConnId(1), tx(1)), Answer::Asked);
        r.mark_recent(tx(1));
        assert!(r.announced(ConnId(2), &[tx(1)], |_| false, now).is_empty());
        assert_eq!(r.stats().in_flight, 0);
    }

    #[test]
    fn a_forged_copy_sends_the_request_to_another_announcer() {
        let mut r = relay(&[1, 2, 3]);
        let now = Instant::now();
        assert_eq!(
            r.announced(ConnId(1), &[tx(1)], |_| false, now),
            vec![tx(1)]
        );
        assert!(r.announced(ConnId(2), &[tx(1)], |_| false, now).is_empty());
        assert_eq!(r.received(ConnId(1), tx(1)), Answer::Asked);
        r.mark_recent(tx(1));
        // Peer 1's copy had a bad signature: peer 2, which announced it, is asked next.
        assert_eq!(
            r.refetch_elsewhere(tx(1), ConnId(1), now),
            Some((ConnId(2), tx(1)))
        );
        // Peer 1 is punished and goes (a bad signature is misbehaviour).
        assert!(r.remove_peer(ConnId(1), now).is_empty());
        assert_eq!(r.received(ConnId(2), tx(1)), Answer::Asked);
        // Nobody else has it: nothing to ask, but the id is not remembered as handled.
        assert_eq!(r.refetch_elsewhere(tx(1), ConnId(2), now), None);
        assert_eq!(
            r.announced(ConnId(3), &[tx(1)], |_| false, now),
            vec![tx(1)]
        );
    }

    #[test]
    fn a_timed_out_request_goes_to_the_next_announcer_and_a_late_answer_is_still_solicited() {
        let mut r = relay(&[1, 2]);
        let now = Instant::now();
        r.announced(ConnId(1), &[tx(1)], |_| false, now);
        r.announced(ConnId(2), &[tx(1)], |_| false, now);
        assert!(r.expire(now).is_empty());
        assert_eq!(r.expire(now + REQUEST_TIMEOUT), vec![(ConnId(2), tx(1))]);
        assert_eq!(r.received(ConnId(1), tx(1)), Answer::Asked);
        assert_eq!(r.received(ConnId(2), tx(1)), Answer::Asked);
        assert_eq!(
            r.received(ConnId(2), tx(1)),
            Answer::Unasked,
            "asked once, sent twice"
        );
    }

    #[test]
    fn not_found_and_disconnects_move_requests_on() {
        let mut r = relay(&[1, 2, 3]);
        let now = Instant::now();
        r.announced(ConnId(1), &[tx(1), tx(2)], |_| false, now);
        r.announced(ConnId(2), &[tx(1)], |_| false, now);
        r.announced(ConnId(3), &[tx(2)], |_| false, now);
        assert_eq!(
            r.not_found(ConnId(1), &[tx(1)], now),
            vec![(ConnId(2), tx(1))]
        );
        assert_eq!(r.remove_peer(ConnId(1), now), vec![(ConnId(3), tx(2))]);
    }

    #[test]
    fn an_item_asked_again_of_the_same_peer_after_a_timeout_is_answered_twice_without_offence() {
        // Over a slow link the first request times out with nobody else to ask, the peer
        // announces the item again and is asked again: both answers arrive, and both are
        // rightful.
        let mut r = relay(&[1]);
        let now = Instant::now();
        assert_eq!(
            r.announced(ConnId(1), &[tx(1)], |_| false, now),
            vec![tx(1)]
        );
        assert!(r.expire(now + REQUEST_TIMEOUT).is_empty());
        let later = now + REQUEST_TIMEOUT;
        assert_eq!(
            r.announced(ConnId(1), &[tx(1)], |_| false, later),
            vec![tx(1)]
        );
        assert_eq!(r.received(ConnId(1), tx(1)), Answer::Asked);
        assert_eq!(r.received(ConnId(1), tx(1)), Answer::Asked, "the late copy");
    }

    #[test]
    fn a_late_not_found_settles_its_ask_and_asks_nobody() {
        let mut r = relay(&[1, 2]);
        let now = Instant::now();
        r.announced(ConnId(1), &[tx(1)], |_| false, now);
        r.announced(ConnId(2), &[tx(1)], |_| false, now);
        assert_eq!(r.expire(now + REQUEST_TIMEOUT), vec![(ConnId(2), tx(1))]);
        // Peer 1's "not found" for its timed-out request: the item is peer 2's now.
        assert!(r
            .not_found(ConnId(1), &[tx(1)], now + REQUEST_TIMEOUT)
            .is_empty());
        assert_eq!(
            r.received(ConnId(1), tx(1)),
            Answer::Unasked,
            "settled by not found"
        );
        assert_eq!(r.received(ConnId(2), tx(1)), Answer::Asked);
    }

    #[test]
    fn data_never_asked_for_is_unsolicited() {
        let mut r = relay(&[1]);
        assert_eq!(r.received(ConnId(1), tx(9)), Answer::Unasked);
    }

    #[test]
    fn items_are_announced_only_to_peers_that_do_not_know_them() {
        let mut r = relay(&[1, 2]);
        let now = Instant::now();
        r.announced(ConnId(1), &[tx(1)], |_| true, now);
        assert!(r.to_announce(ConnId(1), &[tx(1)]).is_empty());
        assert_eq!(
            r.to_announce(ConnId(2), &[tx(1), tx(2)]),
            vec![tx(1), tx(2)]
        );
        assert!(r.to_announce(ConnId(2), &[tx(1)]).is_empty());
    }

    #[test]
    fn a_flood_of_announcements_stays_within_the_bounds() {
        let mut r = relay(&[1]);
        let now = Instant::now();
        let items: Vec<TxId> = (0..20_000u32)
            .map(|i| {
                let mut bytes = [0u8; 32];
                bytes[..4].copy_from_slice(&i.to_le_bytes());
                TxId::from_bytes(bytes)
            })
            .collect();
        let requested = r.announced(ConnId(1), &items, |_| false, now);
        assert_eq!(requested.len(), MAX_TX_IN_FLIGHT_PER_PEER);
        let stats = r.stats();
        assert!(stats.in_flight <= MAX_IN_FLIGHT);
        assert_eq!(stats.waiting, MAX_WAITING_PER_PEER);
        assert!(stats.largest_known_set <= KNOWN_PER_PEER);
    }

    #[test]
    fn a_peer_that_never_delivers_uses_its_own_quota_not_an_honest_peers() {
        let mut r = relay(&[1, 2]);
        let now = Instant::now();
        let junk: Vec<TxId> = (0..1_000u32)
            .map(|i| {
                let mut bytes = [1u8; 32];
                bytes[..4].copy_from_slice(&i.to_le_bytes());
                TxId::from_bytes(bytes)
            })
            .collect();
        r.announced(ConnId(1), &junk, |_| false, now);
        // The honest peer's transaction is asked for at once.
        assert_eq!(
            r.announced(ConnId(2), &[tx(7)], |_| false, now),
            vec![tx(7)]
        );
        // The liar's requests expire; after two rounds it is reported.
        let mut later = now;
        for _ in 0..2 {
            later += REQUEST_TIMEOUT;
            r.expire(later);
            assert!(r.undelivering_peers().is_empty() || r.undelivering_peers() == vec![ConnId(1)]);
            let next = r.next_requests(ConnId(1), |_| false, later);
            assert_eq!(next.len(), MAX_TX_IN_FLIGHT_PER_PEER);
        }
        later += REQUEST_TIMEOUT;
        r.expire(later);
        assert_eq!(r.undelivering_peers(), vec![ConnId(1)]);
        // Its entries go with it.
        r.remove_peer(ConnId(1), later);
        assert_eq!(r.stats().waiting, 0);
    }

    #[test]
    fn a_delivery_resets_the_count_and_frees_quota_for_waiting_announcements() {
        let mut r = relay(&[1]);
        let now = Instant::now();
        let items: Vec<TxId> = (0..=MAX_TX_IN_FLIGHT_PER_PEER as u8).map(tx).collect();
        let first = r.announced(ConnId(1), &items, |_| false, now);
        assert_eq!(first.len(), MAX_TX_IN_FLIGHT_PER_PEER);
        assert!(r.next_requests(ConnId(1), |_| false, now).is_empty());
        assert_eq!(r.received(ConnId(1), first[0]), Answer::Asked);
        let last = *items.last().unwrap();
        assert_eq!(r.next_requests(ConnId(1), |_| false, now), vec![last]);
    }
}
