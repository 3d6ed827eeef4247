//! High-bandwidth peers against a chain built by the testkit: who is asked to push, who
//! makes room, and what a pushed compact block becomes.

use std::collections::HashSet;
use std::time::Instant;

use tern_chain::types::{Height, Timestamp};
use tern_state::chain::{Rejection, Verdict};

use super::high_bandwidth::{relays_early, MAX_HIGH_BANDWIDTH_PEERS};
use super::tests::{fixture, Fixture};
use super::{SyncConfig, SyncState};
use crate::message::InvItem;
use crate::ConnId;

fn following(f: &Fixture, peers: &[ConnId]) -> SyncState {
    let mut sync = SyncState::new(SyncConfig::default());
    for peer in peers {
        sync.add_peer(*peer, f.tip.cumulative_work, Height::GENESIS);
    }
    sync.drive(Instant::now(), &f.tip, &[f.tip.hash]);
    sync
}

/// `peer` announces block `i`, delivers it when asked, and the chain stores it; the
/// `SendCompact` messages sync sent meanwhile.
fn delivers_first(
    sync: &mut SyncState,
    f: &Fixture,
    peer: ConnId,
    i: usize,
) -> Vec<(ConnId, bool)> {
    let now = Instant::now();
    let hash = f.blocks[i].hash();
    sync.on_block_inventory(peer, &[hash], &HashSet::new(), now);
    let actions = sync.drive(now, &f.tip, &[f.tip.hash]);
    assert_eq!(
        actions.blocks,
        vec![(peer, vec![InvItem::CompactBlock(hash)])]
    );
    let mut sent = actions.send_compact;
    sync.on_block(peer, f.blocks[i].clone(), true, true, now)
        .unwrap();
    sent.extend(sync.drive(now, &f.tip, &[f.tip.hash]).send_compact);
    sync.on_verdict(&hash, &Ok(Verdict::Accepted));
    sent
}

fn send_compact(sync: &mut SyncState, f: &Fixture) -> Vec<(ConnId, bool)> {
    sync.drive(Instant::now(), &f.tip, &[f.tip.hash])
        .send_compact
}

#[test]
fn the_peers_that_last_delivered_a_new_block_first_are_asked_to_push_three_at_most() {
    let f = fixture(5);
    let peers: Vec<ConnId> = (1..=4).map(ConnId).collect();
    let mut sync = following(&f, &peers);
    let mut asked = Vec::new();
    for (i, peer) in peers.iter().enumerate() {
        asked.extend(delivers_first(&mut sync, &f, *peer, i));
    }
    // Each was asked once; the first made room for the fourth.
    asked.extend(send_compact(&mut sync, &f));
    assert_eq!(
        asked,
        vec![
            (ConnId(1), true),
            (ConnId(2), true),
            (ConnId(3), true),
            (ConnId(4), true),
            (ConnId(1), false)
        ]
    );
    let now: Vec<ConnId> = sync.high_bandwidth_peers().iter().copied().collect();
    assert_eq!(now, [ConnId(2), ConnId(3), ConnId(4)]);
    assert_eq!(now.len(), MAX_HIGH_BANDWIDTH_PEERS);
    // Delivering again moves a peer up without asking it twice.
    let mut again = delivers_first(&mut sync, &f, ConnId(2), 4);
    again.extend(send_compact(&mut sync, &f));
    assert!(again.is_empty());
    let now: Vec<ConnId> = sync.high_bandwidth_peers().iter().copied().collect();
    assert_eq!(now, [ConnId(3), ConnId(4), ConnId(2)]);
}

#[test]
fn a_pushed_compact_block_is_taken_from_a_peer_asked_to_push_and_ignored_from_others() {
    let f = fixture(2);
    let (pusher, other) = (ConnId(1), ConnId(2));
    let mut sync = following(&f, &[pusher, other]);
    delivers_first(&mut sync, &f, pusher, 0);
    let now = Instant::now();
    // Block 1 pushed by both, unasked: the one we asked to push is taken, the other is
    // no offence.
    sync.on_block(other, f.blocks[1].clone(), true, true, now)
        .unwrap();
    sync.on_block(pusher, f.blocks[1].clone(), true, true, now)
        .unwrap();
    let submitted = sync.drive(now, &f.tip, &[f.tip.hash]).submit;
    assert_eq!(submitted.len(), 1);
    assert_eq!(submitted[0].hash(), f.blocks[1].hash());
    // The same block whole and unasked is still unsolicited.
    assert!(sync
        .on_block(other, f.blocks[1].clone(), true, false, now)
        .is_err());
}

#[test]
fn a_pushed_block_short_ids_cannot_rebuild_is_asked_for_whole() {
    let f = fixture(2);
    let pusher = ConnId(1);
    let mut sync = following(&f, &[pusher]);
    delivers_first(&mut sync, &f, pusher, 0);
    let now = Instant::now();
    let hash = f.blocks[1].hash();
    sync.on_compact_not_rebuilt(pusher, hash, now);
    let actions = sync.drive(now, &f.tip, &[f.tip.hash]);
    assert_eq!(actions.blocks, vec![(pusher, vec![InvItem::Block(hash)])]);
    // The whole block answers that request.
    sync.on_block(pusher, f.blocks[1].clone(), true, false, now)
        .unwrap();
}

#[test]
fn a_pushed_block_the_chain_refuses_blames_nobody_and_stops_the_pushes() {
    let f = fixture(2);
    let pusher = ConnId(1);
    let mut sync = following(&f, &[pusher]);
    delivers_first(&mut sync, &f, pusher, 0);
    let now = Instant::now();
    sync.on_block(pusher, f.blocks[1].clone(), true, true, now)
        .unwrap();
    let actions = sync.drive(now, &f.tip, &[f.tip.hash]);
    assert_eq!(actions.relay_first, vec![f.blocks[1].hash()]);
    let hash = f.blocks[1].hash();
    let refused = Ok(Verdict::Rejected(Rejection::KnownInvalid { hash }));
    assert_eq!(sync.on_verdict(&hash, &refused), None, "no ban");
    assert_eq!(send_compact(&mut sync, &f), vec![(pusher, false)]);
    assert!(sync.high_bandwidth_peers().is_empty());
}

#[test]
fn a_header_is_relayed_early_only_if_it_extends_the_tip_as_the_chain_requires() {
    let f = fixture(2);
    let params = &f.spec.consensus;
    let now = Timestamp::now();
    let child = f.blocks[0].header;
    assert!(relays_early(&child, &f.tip, params, now));
    let grandchild = f.blocks[1].header;
    assert!(
        !relays_early(&grandchild, &f.tip, params, now),
        "not on the tip"
    );
    // Each header below breaks one rule and is mined again, so that only that rule fails.
    let mined = |mut header: tern_chain::block::Header| {
        header.nonce = tern_chain::pow::search_nonce(&header, 0, u64::MAX).unwrap();
        header
    };
    let mut taller = child;
    taller.height = Height(child.height.value() + 1);
    assert!(
        !relays_early(&mined(taller), &f.tip, params, now),
        "a height past the tip's next"
    );
    let mut harder = child;
    let mut bytes = child.target.to_be_bytes();
    // Half the target, one bit to the right: a target the chain does not require.
    let mut carry = 0;
    for byte in &mut bytes {
        let next = *byte & 1;
        *byte = (*byte >> 1) | (carry << 7);
        carry = next;
    }
    harder.target = tern_chain::types::Target::from_be_bytes(bytes).unwrap();
    assert!(
        !relays_early(&mined(harder), &f.tip, params, now),
        "another target"
    );
    let mut ahead = child;
    ahead.timestamp = Timestamp(now.as_millis() + params.max_future_drift_ms + 60_000);
    assert!(
        !relays_early(&mined(ahead), &f.tip, params, now),
        "stamped past the drift"
    );
    let mut unworked = child;
    while unworked.target.is_met_by(&unworked.hash()) {
        unworked.nonce = unworked.nonce.wrapping_add(1);
    }
    assert!(
        !relays_early(&unworked, &f.tip, params, now),
        "no proof of work"
    );
}

/// A compact block pushed while the whole block was asked of the same peer used to take
/// the whole block's ask: the whole block, arriving next, then looked unsolicited, and an
/// honest peer was banned (a 1,000-block burst on the testnet did it). A compact block
/// answers only a request for a compact block.
#[test]
fn a_pushed_compact_block_does_not_take_the_ask_of_a_whole_block_request() {
    let f = fixture(2);
    let pusher = ConnId(1);
    let mut sync = following(&f, &[pusher]);
    delivers_first(&mut sync, &f, pusher, 0);
    let now = Instant::now();
    let hash = f.blocks[1].hash();
    // Asked whole (short ids could not rebuild an earlier push of it).
    sync.on_compact_not_rebuilt(pusher, hash, now);
    let actions = sync.drive(now, &f.tip, &[f.tip.hash]);
    assert_eq!(actions.blocks, vec![(pusher, vec![InvItem::Block(hash)])]);
    // Pushed again, compact, and rebuilt this time; then the whole block answers.
    sync.on_block(pusher, f.blocks[1].clone(), true, true, now)
        .unwrap();
    assert!(sync
        .on_block(pusher, f.blocks[1].clone(), true, false, now)
        .is_ok());
}

/// A block asked of one peer and pushed by another arrives once: the first copy is
/// taken, the request ends, and the other copy, coming late, is an answer, not an
/// offence.
#[test]
fn a_pushed_copy_of_a_block_asked_elsewhere_is_taken_first_and_the_answer_is_no_offence() {
    let f = fixture(2);
    let (pusher, asked) = (ConnId(1), ConnId(2));
    let mut sync = following(&f, &[pusher, asked]);
    delivers_first(&mut sync, &f, pusher, 0);
    let now = Instant::now();
    let hash = f.blocks[1].hash();
    sync.on_block_inventory(asked, &[hash], &HashSet::new(), now);
    let actions = sync.drive(now, &f.tip, &[f.tip.hash]);
    assert_eq!(
        actions.blocks,
        vec![(asked, vec![InvItem::CompactBlock(hash)])]
    );
    sync.on_block(pusher, f.blocks[1].clone(), true, true, now)
        .unwrap();
    let submitted = sync.drive(now, &f.tip, &[f.tip.hash]).submit;
    assert_eq!(
        submitted.len(),
        1,
        "the pushed copy goes to the chain at once"
    );
    sync.on_block(asked, f.blocks[1].clone(), true, true, now)
        .unwrap();
    assert!(sync.drive(now, &f.tip, &[f.tip.hash]).submit.is_empty());
}
