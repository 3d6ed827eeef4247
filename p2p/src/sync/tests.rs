//! Sync's bookkeeping against a chain built by the testkit: what it asks for, and that
//! every answer to a request is known as one, so an honest peer's answers are never
//! taken for unsolicited data.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tern_chain::block::{Block, Header};
use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_chain::testkit::ChainBuilder;
use tern_chain::types::{BlockHash, Height, Timestamp, Work};
use tern_state::chain::TipInfo;

use super::{StoredParent, SyncConfig, SyncError, SyncState, MAX_UNCONNECTING_HEADERS};
use crate::message::InvItem;
use crate::ConnId;

pub(super) const PEER: ConnId = ConnId(7);

pub(super) struct Fixture {
    pub(super) spec: ChainSpec,
    pub(super) genesis: StoredParent,
    pub(super) tip: TipInfo,
    pub(super) blocks: Vec<Block>,
}

/// The dev chain's genesis as our tip, and `count` blocks after it that a peer has.
pub(super) fn fixture(count: usize) -> Fixture {
    let spec = ChainSpec::resolve("dev").unwrap();
    let header = spec.genesis_header();
    let work = header.target.work();
    let mut builder = ChainBuilder::new(spec.clone());
    let genesis_hash = builder.genesis();
    let blocks = builder.extend(&genesis_hash, count, &[], 0, dev_secret_key(1).address());
    Fixture {
        genesis: StoredParent {
            hash: genesis_hash,
            header,
            work,
            timestamps: VecDeque::from([header.timestamp]),
        },
        tip: TipInfo {
            hash: genesis_hash,
            header,
            cumulative_work: work,
        },
        blocks,
        spec,
    }
}

impl Fixture {
    pub(super) fn headers(&self, count: usize) -> Vec<Header> {
        self.blocks.iter().take(count).map(|b| b.header).collect()
    }

    fn answer_headers(&self, sync: &mut SyncState, count: usize) {
        self.headers_from(sync, PEER, count).unwrap();
    }

    /// The first `count` headers, after genesis, from `peer`.
    pub(super) fn headers_from(
        &self,
        sync: &mut SyncState,
        peer: ConnId,
        count: usize,
    ) -> Result<(), super::SyncError> {
        sync.on_headers(
            peer,
            &self.headers(count),
            Some(&self.genesis),
            &self.spec.consensus,
            self.tip.cumulative_work,
            Timestamp::now(),
        )
    }

    /// The blocks sync asks `PEER` for at `now`.
    fn asked(&self, sync: &mut SyncState, now: Instant) -> Vec<BlockHash> {
        self.asked_of(sync, PEER, now)
    }

    /// The blocks sync asks `peer` for at `now`.
    pub(super) fn asked_of(
        &self,
        sync: &mut SyncState,
        peer: ConnId,
        now: Instant,
    ) -> Vec<BlockHash> {
        let actions = sync.drive(now, &self.tip, &[self.tip.hash]);
        actions
            .blocks
            .into_iter()
            .filter(|(to, _)| *to == peer)
            .flat_map(|(_, items)| InvItem::blocks(&items))
            .collect()
    }

    /// Delivers block `i` from `PEER`: true if sync took it as an answer or wanted it,
    /// false if it was unsolicited.
    fn deliver(&self, sync: &mut SyncState, i: usize) -> bool {
        match sync.on_block(PEER, self.blocks[i].clone(), true, false, Instant::now()) {
            Ok(()) => true,
            Err(SyncError::Unsolicited(_)) => false,
            Err(error) => panic!("block {i}: {error}"),
        }
    }
}

fn syncing_from_peer(fixture: &Fixture) -> SyncState {
    let mut sync = SyncState::new(SyncConfig::default());
    sync.add_peer(PEER, Work::from_be_bytes([0xff; 32]), Height(100));
    // The hello's claim makes sync ask the peer for headers.
    let actions = sync.drive(Instant::now(), &fixture.tip, &[fixture.tip.hash]);
    assert_eq!(actions.headers.map(|(peer, _)| peer), Some(PEER));
    sync
}

#[test]
fn headers_received_twice_are_fetched_once_and_every_answer_is_solicited() {
    // Found by the testnet: a peer announced a block whose parent was still on the way,
    // sync asked for headers again, and the answer repeated the two it had. Taken as a
    // new chain, they were dropped and fetched again, and the second copy of each block
    // went to relay as unsolicited: the honest peer was banned.
    let f = fixture(3);
    let mut sync = syncing_from_peer(&f);
    f.answer_headers(&mut sync, 2);
    let now = Instant::now();
    let first = f.asked(&mut sync, now);
    assert_eq!(first, vec![f.blocks[0].hash(), f.blocks[1].hash()]);
    sync.hint(PEER);
    f.answer_headers(&mut sync, 3);
    assert_eq!(f.asked(&mut sync, now), vec![f.blocks[2].hash()]);
    for i in 0..3 {
        assert!(
            f.deliver(&mut sync, i),
            "block {i} was not taken as asked for"
        );
    }
}

#[test]
fn a_wanted_block_sent_unasked_is_taken_and_a_second_copy_is_unsolicited() {
    let f = fixture(2);
    let mut sync = syncing_from_peer(&f);
    f.answer_headers(&mut sync, 2);
    assert!(
        f.deliver(&mut sync, 1),
        "a pending header's block is wanted"
    );
    assert!(!f.deliver(&mut sync, 1), "once downloaded, nobody wants it");
}

#[test]
fn a_block_asked_twice_from_one_peer_takes_both_answers() {
    // A request that times out goes to the same peer again when it is the only one with
    // the block; the first answer may still arrive, and then the second does too.
    let f = fixture(1);
    let mut sync = syncing_from_peer(&f);
    f.answer_headers(&mut sync, 1);
    let start = Instant::now();
    assert_eq!(f.asked(&mut sync, start), vec![f.blocks[0].hash()]);
    let late = start + SyncConfig::default().request_timeout + Duration::from_millis(1);
    assert_eq!(f.asked(&mut sync, late), vec![f.blocks[0].hash()]);
    assert!(f.deliver(&mut sync, 0));
    assert!(f.deliver(&mut sync, 0), "the answer to the second request");
    // A third copy was never asked for.
    assert!(!f.deliver(&mut sync, 0));
}

#[test]
fn a_header_chain_with_no_more_work_than_ours_costs_no_block() {
    // Found by the testnet's low-work-headers peer: it claimed more work than it had, and
    // sync fetched blocks of its first 2,000 headers, which had less than our chain.
    let mut f = fixture(2_001);
    let per_block = f.blocks[0].header.target.work();
    for _ in 0..2_000 {
        f.tip.cumulative_work = f.tip.cumulative_work.saturating_add(per_block);
    }
    let mut sync = syncing_from_peer(&f);
    let now = Instant::now();
    f.answer_headers(&mut sync, 2_000);
    assert!(
        sync.is_pending(&f.blocks[1_999].hash()),
        "a full answer is kept"
    );
    assert!(f.asked(&mut sync, now).is_empty(), "as much work as ours");
    // One header more, and the chain beats ours: its blocks are fetched from the start.
    sync.on_headers(
        PEER,
        &[f.blocks[2_000].header],
        None,
        &f.spec.consensus,
        f.tip.cumulative_work,
        Timestamp::now(),
    )
    .unwrap();
    let asked = f.asked(&mut sync, now);
    assert_eq!(asked.first(), Some(&f.blocks[0].hash()));
}

#[test]
fn a_peer_behind_a_slow_link_is_not_dropped_while_it_delivers() {
    // Found by the crash-during-sync scenario (16 kbit links): sync asked a peer for 16
    // blocks at once, the first large; all 16 were late at the same look, counted as 16
    // stalls, and the peer was dropped before it could deliver, again and again.
    let f = fixture(16);
    let timeout = SyncConfig::default().request_timeout;
    let start = Instant::now();
    let at = |secs: f64| start + timeout.mul_f64(secs);

    // Delivering renews the deadline of the peer's other requests.
    let mut sync = syncing_from_peer(&f);
    f.answer_headers(&mut sync, 16);
    assert_eq!(f.asked(&mut sync, start).len(), 16);
    assert!(f.deliver(&mut sync, 0));
    assert!(f.asked(&mut sync, at(0.9)).is_empty());
    let actions = sync.drive(at(1.5), &f.tip, &[f.tip.hash]);
    assert!(actions.drop.is_empty());
    assert!(
        actions.blocks.is_empty(),
        "asked again: {:?}",
        actions.blocks
    );

    // Sixteen late at one look are one stall; three looks in a row drop the peer.
    let mut sync = syncing_from_peer(&f);
    f.answer_headers(&mut sync, 16);
    assert_eq!(f.asked(&mut sync, start).len(), 16);
    let mut dropped_at = None;
    for round in 1..=3 {
        let actions = sync.drive(at(1.01 * round as f64), &f.tip, &[f.tip.hash]);
        if actions.drop.contains(&PEER) {
            dropped_at = Some(round);
            break;
        }
    }
    assert_eq!(dropped_at, Some(3));
}

#[test]
fn headers_after_a_block_we_named_but_no_longer_hold_are_no_offence() {
    // Found by forged-chains' no_honest_peer_banned: during a 1,000-block burst node 1
    // banned node 0 for headers that "do not attach". They followed the first hash of
    // node 1's own locator, a pending header node 1 had dropped while the answer was on
    // its way. Here the locator names block 2, which this node does not hold.
    let f = fixture(4);
    let mut sync = SyncState::new(SyncConfig::default());
    sync.add_peer(PEER, Work::from_be_bytes([0xff; 32]), Height(100));
    let named = [f.blocks[1].hash(), f.tip.hash];
    let actions = sync.drive(Instant::now(), &f.tip, &named);
    assert_eq!(actions.headers.map(|(peer, _)| peer), Some(PEER));
    let after_named = [f.blocks[2].header, f.blocks[3].header];
    let outcome = sync.on_headers(
        PEER,
        &after_named,
        None,
        &f.spec.consensus,
        f.tip.cumulative_work,
        Timestamp::now(),
    );
    assert!(outcome.is_ok(), "{outcome:?}");
}

#[test]
fn headers_that_attach_to_nothing_are_asked_about_then_dropped_never_banned() {
    // Headers after a block nobody named do not attach: a stale answer after a reorg, or
    // a chain we lack. No rule is broken; the peer is asked for headers from our
    // locator, and dropped (not banned) after MAX_UNCONNECTING_HEADERS in a row.
    let f = fixture(4);
    let mut sync = syncing_from_peer(&f);
    let detached = [f.blocks[2].header, f.blocks[3].header];
    let mut dropped_after = None;
    for round in 1..=MAX_UNCONNECTING_HEADERS {
        let outcome = sync.on_headers(
            PEER,
            &detached,
            None,
            &f.spec.consensus,
            f.tip.cumulative_work,
            Timestamp::now(),
        );
        assert!(outcome.is_ok(), "round {round}: {outcome:?}");
        let actions = sync.drive(Instant::now(), &f.tip, &[f.tip.hash]);
        if actions.drop.contains(&PEER) {
            dropped_after = Some(round);
            break;
        }
        assert_eq!(
            actions.headers.map(|(peer, _)| peer),
            Some(PEER),
            "round {round}: the peer is asked where its chain meets ours"
        );
    }
    assert_eq!(dropped_after, Some(MAX_UNCONNECTING_HEADERS));
}

#[test]
fn a_header_answer_after_its_request_timed_out_is_taken_as_data() {
    // Found by crash-during-sync (300 ms, 16 kbit/s links): the answer to a header
    // request arrived after the request had timed out and gone to another peer, was
    // taken for unsolicited headers, and both honest peers were banned.
    let f = fixture(3);
    let other = ConnId(8);
    // Both claim exactly the chain they serve, so neither falls short of its claim.
    let served = f.blocks.iter().fold(f.tip.cumulative_work, |work, b| {
        work.saturating_add(b.header.target.work())
    });
    let mut sync = SyncState::new(SyncConfig::default());
    sync.add_peer(PEER, served, Height(3));
    sync.add_peer(other, served, Height(3));
    let start = Instant::now();
    let first = sync
        .drive(start, &f.tip, &[f.tip.hash])
        .headers
        .map(|(peer, _)| peer);
    assert!(first.is_some());
    let first = first.unwrap_or(PEER);
    let late = start + SyncConfig::default().request_timeout + Duration::from_millis(1);
    let actions = sync.drive(late, &f.tip, &[f.tip.hash]);
    let asked_next = actions.headers.map(|(peer, _)| peer);
    assert!(asked_next.is_some(), "the timed-out request is sent again");
    // The first request's answer arrives now: the headers are kept and nobody blamed.
    let outcome = f.headers_from(&mut sync, first, 3);
    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(sync.is_pending(&f.blocks[2].hash()));
    // The second request's answer, a repeat, is no offence either.
    let outcome = f.headers_from(&mut sync, asked_next.unwrap_or(PEER), 3);
    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(sync.drive(late, &f.tip, &[f.tip.hash]).drop.is_empty());
}

#[test]
fn a_header_request_sent_twice_to_one_peer_takes_both_answers() {
    // Superseded: the request timed out and went to the same peer again (it is the only
    // one); both answers come, in order, and both are rightful.
    let f = fixture(3);
    let mut sync = syncing_from_peer(&f);
    let late = Instant::now() + SyncConfig::default().request_timeout + Duration::from_millis(1);
    let actions = sync.drive(late, &f.tip, &[f.tip.hash]);
    assert_eq!(actions.headers.map(|(peer, _)| peer), Some(PEER));
    f.answer_headers(&mut sync, 2);
    f.answer_headers(&mut sync, 3);
    assert!(sync.is_pending(&f.blocks[2].hash()));
}

#[test]
fn headers_sent_unasked_are_an_announcement() {
    // A peer may announce blocks by their headers: they are checked and kept, not taken
    // for an offence, and their blocks fetched.
    let f = fixture(2);
    let mut sync = SyncState::new(SyncConfig::default());
    sync.add_peer(PEER, f.tip.cumulative_work, Height(0));
    assert!(sync
        .drive(Instant::now(), &f.tip, &[f.tip.hash])
        .headers
        .is_none());
    f.answer_headers(&mut sync, 2);
    assert!(sync.is_pending(&f.blocks[1].hash()));
    assert_eq!(
        f.asked(&mut sync, Instant::now()),
        vec![f.blocks[0].hash(), f.blocks[1].hash()]
    );
}

#[test]
fn only_a_broken_rule_is_an_offence_and_a_clock_ahead_of_ours_is_not() {
    let f = fixture(2);
    let mut sync = syncing_from_peer(&f);
    // Headers from a clock ahead of ours: not kept, but no offence.
    let long_ago = Timestamp(0);
    let outcome = sync.on_headers(
        PEER,
        &f.headers(2),
        Some(&f.genesis),
        &f.spec.consensus,
        f.tip.cumulative_work,
        long_ago,
    );
    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(!sync.is_pending(&f.blocks[0].hash()));
    // A header stamped before its parent's median time breaks a rule (and its proof of
    // work, if that no longer meets the target): banned.
    let mut forged = f.headers(2);
    forged[1].timestamp = Timestamp(0);
    let outcome = sync.on_headers(
        PEER,
        &forged,
        Some(&f.genesis),
        &f.spec.consensus,
        f.tip.cumulative_work,
        Timestamp::now(),
    );
    assert!(outcome.is_err());
}
