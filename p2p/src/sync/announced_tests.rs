//! Announced blocks against a chain built by the testkit: each is asked of one peer at a
//! time, out of the same record and allowance as the header download, and its verdict
//! says what to do with its sender.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tern_chain::types::{BlockHash, Height};
use tern_state::chain::{Rejection, Verdict};

use super::tests::{fixture, Fixture};
use super::{SyncConfig, SyncError, SyncState, INITIAL_ALLOWANCE, MAX_ANNOUNCERS};
use crate::ConnId;

const A: ConnId = ConnId(1);
const B: ConnId = ConnId(2);

/// Sync with peers that claim no more work than our tip: caught up, following.
fn following(f: &Fixture, peers: &[ConnId]) -> SyncState {
    let mut sync = SyncState::new(SyncConfig::default());
    for peer in peers {
        sync.add_peer(*peer, f.tip.cumulative_work, Height::GENESIS);
    }
    let actions = sync.drive(Instant::now(), &f.tip, &[f.tip.hash]);
    assert!(actions.headers.is_none(), "nobody claims more work");
    sync
}

fn announce(sync: &mut SyncState, peer: ConnId, hashes: &[BlockHash], now: Instant) {
    sync.on_block_inventory(peer, hashes, &HashSet::new(), now);
}

/// Just past a request's deadline.
fn after_timeout(now: Instant) -> Instant {
    now + SyncConfig::default().request_timeout + Duration::from_millis(1)
}

/// What sync hands the chain at `at`, by hash.
fn submitted(sync: &mut SyncState, f: &Fixture, at: Instant) -> Vec<BlockHash> {
    let actions = sync.drive(at, &f.tip, &[f.tip.hash]);
    actions.submit.iter().map(|block| block.hash()).collect()
}

fn header_request_to(sync: &mut SyncState, f: &Fixture, now: Instant) -> Option<ConnId> {
    sync.drive(now, &f.tip, &[f.tip.hash])
        .headers
        .map(|(peer, _)| peer)
}

#[test]
fn a_block_is_asked_of_one_peer_however_it_is_learned_of() {
    // Relay and sync used to track block requests apart: a block announced by one peer
    // and learned of by headers from another was fetched from both.
    let f = fixture(1);
    let hash = f.blocks[0].hash();
    let mut sync = following(&f, &[A, B]);
    let now = Instant::now();
    announce(&mut sync, A, &[hash], now);
    assert_eq!(f.asked_of(&mut sync, A, now), vec![hash]);
    announce(&mut sync, B, &[hash], now);
    f.headers_from(&mut sync, B, 1).unwrap();
    assert!(
        f.asked_of(&mut sync, B, now).is_empty(),
        "already asked of A"
    );
    // A delivers: the block is a pending header's now, and goes to the chain in order.
    sync.on_block(A, f.blocks[0].clone(), true, false, now)
        .unwrap();
    assert_eq!(submitted(&mut sync, &f, now), vec![hash]);
}

#[test]
fn an_announced_block_goes_to_the_next_announcer_when_the_first_fails() {
    let f = fixture(1);
    let hash = f.blocks[0].hash();
    let mut sync = following(&f, &[A, B]);
    let now = Instant::now();
    announce(&mut sync, A, &[hash], now);
    announce(&mut sync, B, &[hash], now);
    assert_eq!(f.asked_of(&mut sync, A, now), vec![hash]);
    // A times out: B is asked.
    let late = after_timeout(now);
    assert_eq!(f.asked_of(&mut sync, B, late), vec![hash]);
    // A's late copy is still a rightful answer, and takes the block; B's then is too.
    sync.on_block(A, f.blocks[0].clone(), true, false, late)
        .unwrap();
    sync.on_block(B, f.blocks[0].clone(), true, false, late)
        .unwrap();
    assert_eq!(submitted(&mut sync, &f, late), vec![hash]);
    // A third copy nobody asked for is unsolicited.
    assert!(matches!(
        sync.on_block(A, f.blocks[0].clone(), true, false, late),
        Err(SyncError::Unsolicited(_))
    ));
}

#[test]
fn a_block_nobody_delivered_in_time_is_taken_headers_first_and_from_a_late_answer() {
    // Found by the split test under load: the one announcer's answer came after its
    // request had timed out, with nobody else to ask. The late copy was dropped as
    // someone else's answer, nothing announced the block again, and the node stayed
    // behind for good.
    let f = fixture(1);
    let hash = f.blocks[0].hash();
    let mut sync = following(&f, &[A]);
    let now = Instant::now();
    announce(&mut sync, A, &[hash], now);
    assert_eq!(f.asked_of(&mut sync, A, now), vec![hash]);
    let late = after_timeout(now);
    // Nobody else to ask: the announcer is asked for headers...
    assert_eq!(header_request_to(&mut sync, &f, late), Some(A));
    // ...and its late answer is taken all the same.
    sync.on_block(A, f.blocks[0].clone(), true, false, late)
        .unwrap();
    assert_eq!(submitted(&mut sync, &f, late), vec![hash]);
}

#[test]
fn a_forged_body_sends_the_block_to_the_next_announcer_and_is_not_remembered() {
    let f = fixture(1);
    let hash = f.blocks[0].hash();
    let mut sync = following(&f, &[A, B]);
    let now = Instant::now();
    announce(&mut sync, A, &[hash], now);
    announce(&mut sync, B, &[hash], now);
    assert_eq!(f.asked_of(&mut sync, A, now), vec![hash]);
    assert!(matches!(
        sync.on_block(A, f.blocks[0].clone(), false, false, now),
        Err(SyncError::BodyMismatch(_))
    ));
    assert_eq!(f.asked_of(&mut sync, B, now), vec![hash]);
    // The forger leaves (banned); nobody else has it: a later announcer is asked.
    sync.remove_peer(A, now);
    sync.on_not_found(B, &[crate::message::InvItem::CompactBlock(hash)], now);
    let c = ConnId(3);
    sync.add_peer(c, f.tip.cumulative_work, Height::GENESIS);
    announce(&mut sync, c, &[hash], now);
    assert_eq!(f.asked_of(&mut sync, c, now), vec![hash]);
}

#[test]
fn a_block_whose_parent_we_lack_has_its_sender_asked_for_headers() {
    let f = fixture(2);
    let hash = f.blocks[1].hash();
    let mut sync = following(&f, &[A]);
    let now = Instant::now();
    announce(&mut sync, A, &[hash], now);
    assert_eq!(f.asked_of(&mut sync, A, now), vec![hash]);
    sync.on_block(A, f.blocks[1].clone(), true, false, now)
        .unwrap();
    assert_eq!(submitted(&mut sync, &f, now), vec![hash]);
    assert_eq!(sync.on_verdict(&hash, &Ok(Verdict::Orphaned)), None);
    assert_eq!(header_request_to(&mut sync, &f, now), Some(A));
}

#[test]
fn a_refused_block_bans_its_sender_and_is_not_fetched_again() {
    let f = fixture(1);
    let hash = f.blocks[0].hash();
    let mut sync = following(&f, &[A, B]);
    let now = Instant::now();
    announce(&mut sync, A, &[hash], now);
    f.asked_of(&mut sync, A, now);
    sync.on_block(A, f.blocks[0].clone(), true, false, now)
        .unwrap();
    sync.drive(now, &f.tip, &[f.tip.hash]);
    let refused = Ok(Verdict::Rejected(Rejection::KnownInvalid { hash }));
    assert_eq!(sync.on_verdict(&hash, &refused), Some(A));
    announce(&mut sync, B, &[hash], now);
    assert!(f.asked_of(&mut sync, B, now).is_empty());
}

#[test]
fn a_block_not_valid_yet_blames_nobody_and_may_be_fetched_again() {
    let f = fixture(1);
    let hash = f.blocks[0].hash();
    let mut sync = following(&f, &[A]);
    let now = Instant::now();
    announce(&mut sync, A, &[hash], now);
    f.asked_of(&mut sync, A, now);
    sync.on_block(A, f.blocks[0].clone(), true, false, now)
        .unwrap();
    sync.drive(now, &f.tip, &[f.tip.hash]);
    let waits = Ok(Verdict::Rejected(Rejection::Restoring { hash }));
    assert_eq!(sync.on_verdict(&hash, &waits), None);
    announce(&mut sync, A, &[hash], now);
    assert_eq!(f.asked_of(&mut sync, A, now), vec![hash]);
}

#[test]
fn announcements_past_the_allowance_are_taken_headers_first() {
    let f = fixture(INITIAL_ALLOWANCE + 4);
    let hashes: Vec<BlockHash> = f.blocks.iter().map(|b| b.hash()).collect();
    let mut sync = following(&f, &[A]);
    let now = Instant::now();
    announce(&mut sync, A, &hashes, now);
    let actions = sync.drive(now, &f.tip, &[f.tip.hash]);
    let asked: usize = actions.blocks.iter().map(|(_, h)| h.len()).sum();
    assert_eq!(
        asked, INITIAL_ALLOWANCE,
        "the peer's allowance bounds its requests"
    );
    assert_eq!(actions.headers.map(|(peer, _)| peer), Some(A));
}

#[test]
fn announcers_in_line_are_bounded() {
    let f = fixture(1);
    let hash = f.blocks[0].hash();
    let peers: Vec<ConnId> = (1..=MAX_ANNOUNCERS as u64 + 4).map(ConnId).collect();
    let mut sync = following(&f, &peers);
    let now = Instant::now();
    for peer in &peers {
        announce(&mut sync, *peer, &[hash], now);
    }
    // Each failure moves the request on, to at most MAX_ANNOUNCERS others.
    let mut asked = 0;
    let mut at = now;
    for _ in 0..peers.len() {
        let actions = sync.drive(at, &f.tip, &[f.tip.hash]);
        asked += actions.blocks.iter().map(|(_, h)| h.len()).sum::<usize>();
        at = after_timeout(at);
    }
    assert_eq!(asked, 1 + MAX_ANNOUNCERS);
    assert_eq!(sync.announced_in_flight(), 0);
}

#[test]
fn a_new_tip_is_announced_only_to_peers_that_do_not_know_it() {
    let f = fixture(1);
    let hash = f.blocks[0].hash();
    let mut sync = following(&f, &[A, B]);
    let now = Instant::now();
    announce(&mut sync, A, &[hash], now);
    assert!(sync.to_announce(A, &[hash]).is_empty(), "A announced it");
    assert_eq!(sync.to_announce(B, &[hash]), vec![hash]);
    assert!(sync.to_announce(B, &[hash]).is_empty(), "told once");
}
