//! A snapshot sync's bookkeeping: the pivot once the headers are complete, no block
//! before the state is in, chunks within their bound, and each kind of unhelpful or
//! lying peer handled as its kind deserves.

use std::time::{Duration, Instant};

use tern_chain::state_map::chunk::{Chunk, ChunkError, KeyPrefix};
use tern_chain::types::{BlockHash, Height, Work};
use tern_state::chain::{Restored, SnapshotError, SnapshotProgress, TipInfo};

use super::tests::{fixture, Fixture, PEER};
use super::*;
use crate::message::{ChunkAnswer, InvItem};
use crate::ConnId;

const PIVOT_DEPTH: u64 = 3;

fn snapshot_config() -> SyncConfig {
    SyncConfig {
        mode: SyncMode::Snapshot,
        pivot_depth: PIVOT_DEPTH,
        ..SyncConfig::default()
    }
}

/// A node joining by snapshot with `peers` peers that have the fixture's 10 blocks, its
/// headers in, the chain asked to begin, and the begin answered with the
/// whole map to fetch. Returns the pivot.
fn fetching(f: &Fixture, peers: &[ConnId]) -> (SyncState, BlockHash) {
    let mut sync = SyncState::new(snapshot_config());
    sync.snapshot().start(Height::GENESIS, None);
    for peer in peers {
        sync.add_peer(*peer, chain_work(f), Height(10));
    }
    let now = Instant::now();
    let actions = sync.drive(now, &f.tip, &[f.tip.hash]);
    let (asked, _) = actions.headers.expect("headers are asked for first");
    assert!(
        actions.snapshot.begin.is_none(),
        "no pivot before the headers"
    );
    f.headers_from(&mut sync, asked, 10).unwrap();
    let actions = sync.drive(now, &f.tip, &[f.tip.hash]);
    assert!(actions.blocks.is_empty(), "no block before the state is in");
    let pivot = actions
        .snapshot
        .begin
        .expect("a pivot once the headers are in");
    assert_eq!(pivot.height, Height(10 - PIVOT_DEPTH));
    let pivot_hash = pivot.hash();
    sync.snapshot().begun(Ok(SnapshotProgress {
        pivot: pivot_hash,
        root: pivot.state_root,
        wanted: vec![(KeyPrefix::root(), 0)],
        pieces: 0,
        accounts: 0,
    }));
    (sync, pivot_hash)
}

/// The work of the fixture's chain, as its peers claim it.
fn chain_work(f: &Fixture) -> Work {
    f.blocks.iter().fold(f.tip.cumulative_work, |work, block| {
        work.saturating_add(block.header.target.work())
    })
}

fn requests(sync: &mut SyncState, f: &Fixture, now: Instant) -> Vec<(ConnId, KeyPrefix)> {
    sync.drive(now, &f.tip, &[f.tip.hash])
        .snapshot
        .requests
        .into_iter()
        .map(|(peer, _, prefix)| (peer, prefix))
        .collect()
}

fn chunk() -> ChunkAnswer {
    ChunkAnswer::Chunk(Chunk::Accounts(Vec::new()))
}

fn written(wanted: Vec<(KeyPrefix, u64)>) -> Result<Restored, SnapshotError> {
    Ok(Restored {
        wanted,
        accounts: 10,
        duplicate: false,
    })
}

fn child(nibble: u8) -> KeyPrefix {
    KeyPrefix::root().child(nibble).unwrap()
}

#[test]
fn the_state_comes_before_any_block_and_the_blocks_after_the_pivot_follow_it() {
    let f = fixture(10);
    let (mut sync, pivot) = fetching(&f, &[PEER]);
    let now = Instant::now();
    assert_eq!(
        requests(&mut sync, &f, now),
        vec![(PEER, KeyPrefix::root())]
    );
    assert!(sync
        .snapshot()
        .on_chunk(now, PEER, pivot, KeyPrefix::root(), chunk(), 100));
    let actions = sync.drive(now, &f.tip, &[f.tip.hash]);
    assert_eq!(actions.snapshot.restore.len(), 1);
    assert!(
        actions.snapshot.finish.is_none(),
        "written only once the chain says so"
    );
    // The root was a split: its subtrees come next.
    assert!(sync
        .snapshot()
        .restored(PEER, KeyPrefix::root(), written(vec![(child(3), 9_000)]))
        .is_none());
    let progress = sync.status(&f.tip).state.unwrap();
    assert_eq!((progress.chunks_done, progress.chunks_total), (1, 4));
    assert_eq!(requests(&mut sync, &f, now), vec![(PEER, child(3))]);
    sync.snapshot()
        .on_chunk(now, PEER, pivot, child(3), chunk(), 100);
    let actions = sync.drive(now, &f.tip, &[f.tip.hash]);
    assert_eq!(actions.snapshot.restore.len(), 1);
    sync.snapshot()
        .restored(PEER, child(3), written(Vec::new()));
    let actions = sync.drive(now, &f.tip, &[f.tip.hash]);
    let headers = actions.snapshot.finish.expect("every piece is in");
    assert_eq!(headers.len(), 10 - PIVOT_DEPTH as usize);
    assert_eq!(headers.last().map(|h| h.hash()), Some(pivot));
    assert_eq!(sync.status(&f.tip).phase, Some(SyncPhase::State));

    // Finished: the blocks after the pivot are fetched, and none before it.
    sync.snapshot_finished(Ok(Height(10 - PIVOT_DEPTH)));
    let pivot_block = &f.blocks[(10 - PIVOT_DEPTH - 1) as usize];
    let tip = TipInfo {
        hash: pivot,
        header: pivot_block.header,
        cumulative_work: Work::from_be_bytes([0; 32]),
    };
    let actions = sync.drive(now, &tip, &[pivot]);
    let asked: Vec<BlockHash> = actions
        .blocks
        .into_iter()
        .flat_map(|(_, items)| InvItem::blocks(&items))
        .collect();
    let after: Vec<BlockHash> = f.blocks[(10 - PIVOT_DEPTH) as usize..]
        .iter()
        .map(|b| b.hash())
        .collect();
    assert_eq!(asked, after);
    assert_eq!(sync.status(&tip).phase, Some(SyncPhase::Blocks));
}

#[test]
fn a_forged_chunk_gets_its_sender_banned_and_is_asked_of_another_peer() {
    let f = fixture(10);
    let honest = ConnId(8);
    let (mut sync, pivot) = fetching(&f, &[PEER, honest]);
    let now = Instant::now();
    let asked = requests(&mut sync, &f, now);
    assert_eq!(asked.len(), 1);
    let (liar, prefix) = asked[0].clone();
    sync.snapshot()
        .on_chunk(now, liar, pivot, prefix.clone(), chunk(), 100);
    sync.drive(now, &f.tip, &[f.tip.hash]);
    let forged = Err(SnapshotError::Invalid {
        prefix: prefix.clone(),
        error: ChunkError::SplitTooSmall,
    });
    assert!(sync
        .snapshot()
        .restored(liar, prefix.clone(), forged)
        .is_some());
    let again = requests(&mut sync, &f, now);
    let other = if liar == PEER { honest } else { PEER };
    assert_eq!(
        again,
        vec![(other, prefix)],
        "asked of the other peer first"
    );
}

#[test]
fn a_busy_peer_rests_and_one_without_the_pivot_is_not_asked_again() {
    let f = fixture(10);
    let (mut sync, pivot) = fetching(&f, &[PEER]);
    let now = Instant::now();
    assert_eq!(requests(&mut sync, &f, now).len(), 1);
    sync.snapshot()
        .on_chunk(now, PEER, pivot, KeyPrefix::root(), ChunkAnswer::Busy, 10);
    assert!(requests(&mut sync, &f, now).is_empty(), "resting");
    let later = now + BUSY_REST + Duration::from_millis(1);
    assert_eq!(requests(&mut sync, &f, later).len(), 1);
    sync.snapshot().on_chunk(
        later,
        PEER,
        pivot,
        KeyPrefix::root(),
        ChunkAnswer::PivotPruned,
        10,
    );
    let much_later = later + Duration::from_secs(60);
    assert!(requests(&mut sync, &f, much_later).is_empty());
    // A new peer is asked instead.
    sync.add_peer(ConnId(9), chain_work(&f), Height(10));
    assert_eq!(
        requests(&mut sync, &f, much_later),
        vec![(ConnId(9), KeyPrefix::root())]
    );
}

#[test]
fn chunks_in_flight_stay_within_their_bound_and_a_stalling_peer_is_dropped() {
    let f = fixture(10);
    // More peers than the bound lets all ask at once.
    let peers: Vec<ConnId> = (1..=20).map(ConnId).collect();
    const { assert!(20 * INITIAL_CHUNK_ALLOWANCE > MAX_CHUNKS_IN_FLIGHT) };
    let (mut sync, pivot) = fetching(&f, &peers);
    let now = Instant::now();
    let first = requests(&mut sync, &f, now);
    let (peer, root) = first[0].clone();
    sync.snapshot()
        .on_chunk(now, peer, pivot, root.clone(), chunk(), 10);
    sync.drive(now, &f.tip, &[f.tip.hash]);
    // A state of 256 subtrees.
    let wanted: Vec<(KeyPrefix, u64)> = (0..16)
        .flat_map(|a| (0..16).map(move |b| (child(a).child(b).unwrap(), 4_000)))
        .collect();
    sync.snapshot().restored(peer, root, written(wanted));
    let asked = requests(&mut sync, &f, now);
    assert_eq!(asked.len(), MAX_CHUNKS_IN_FLIGHT);
    assert!(
        requests(&mut sync, &f, now).is_empty(),
        "nothing beyond the bound"
    );

    // Nobody answers: three rounds of timeouts drop the peers.
    let mut at = now;
    let mut dropped = Vec::new();
    for _ in 0..MAX_CHUNK_STALLS {
        at += SyncConfig::default().request_timeout + Duration::from_millis(1);
        dropped = sync.drive(at, &f.tip, &[f.tip.hash]).drop;
    }
    assert!(!dropped.is_empty(), "stalling peers are dropped");

    // An answer nobody asked for is not taken.
    assert!(!sync
        .snapshot()
        .on_chunk(at, ConnId(99), pivot, child(1), chunk(), 10));
}

#[test]
fn when_no_peer_keeps_the_pivot_the_node_moves_to_a_newer_one() {
    let f = fixture(14);
    // The peer claims the work of the first 10 blocks, and shows 10 headers.
    let claimed = f.blocks[..10]
        .iter()
        .fold(f.tip.cumulative_work, |work, b| {
            work.saturating_add(b.header.target.work())
        });
    let mut sync = SyncState::new(snapshot_config());
    sync.snapshot().start(Height::GENESIS, None);
    sync.add_peer(PEER, claimed, Height(10));
    let now = Instant::now();
    sync.drive(now, &f.tip, &[f.tip.hash]);
    f.headers_from(&mut sync, PEER, 10).unwrap();
    let old = sync
        .drive(now, &f.tip, &[f.tip.hash])
        .snapshot
        .begin
        .unwrap();
    assert_eq!(old.height, Height(7));
    sync.snapshot().begun(Ok(SnapshotProgress {
        pivot: old.hash(),
        root: old.state_root,
        wanted: vec![(KeyPrefix::root(), 0)],
        pieces: 0,
        accounts: 0,
    }));
    assert_eq!(requests(&mut sync, &f, now).len(), 1);
    sync.snapshot().on_chunk(
        now,
        PEER,
        old.hash(),
        KeyPrefix::root(),
        ChunkAnswer::PivotPruned,
        10,
    );
    // Nothing newer to move to yet: it waits.
    let actions = sync.drive(now, &f.tip, &[f.tip.hash]);
    assert!(!actions.snapshot.abandon && actions.snapshot.begin.is_none());

    // The peer shows four more blocks: the pivot moves four up.
    let later: Vec<_> = f.blocks[10..14].iter().map(|b| b.header).collect();
    sync.on_headers(
        PEER,
        &later,
        None,
        &f.spec.consensus,
        f.tip.cumulative_work,
        tern_chain::types::Timestamp::now(),
    )
    .unwrap();
    let actions = sync.drive(now, &f.tip, &[f.tip.hash]);
    assert!(
        actions.snapshot.abandon,
        "the old pivot's pieces are undone"
    );
    let newer = actions.snapshot.begin.expect("a newer pivot");
    assert_eq!(newer.height, Height(11));
    // A late result for the old pivot is not taken for the new one's.
    assert!(sync
        .snapshot()
        .restored(PEER, KeyPrefix::root(), written(vec![(child(1), 10)]))
        .is_none());
    sync.snapshot().begun(Ok(SnapshotProgress {
        pivot: newer.hash(),
        root: newer.state_root,
        wanted: vec![(KeyPrefix::root(), 0)],
        pieces: 0,
        accounts: 0,
    }));
    assert_eq!(
        requests(&mut sync, &f, now),
        vec![(PEER, KeyPrefix::root())],
        "the peer is asked again, for the newer pivot"
    );
}

#[test]
fn blocks_below_a_peers_lowest_body_are_asked_of_others() {
    // A peer that joined by snapshot at height 4 serves bodies from 5 on.
    let f = fixture(10);
    let snapshot_peer = ConnId(8);
    let mut sync = SyncState::new(SyncConfig::default());
    sync.add_peer(PEER, chain_work(&f), Height(10));
    sync.add_peer(snapshot_peer, chain_work(&f), Height(10));
    sync.set_lowest_body(snapshot_peer, Height(5));
    let now = Instant::now();
    let (asked, _) = sync
        .drive(now, &f.tip, &[f.tip.hash])
        .headers
        .expect("headers first");
    f.headers_from(&mut sync, asked, 10).unwrap();
    let actions = sync.drive(now, &f.tip, &[f.tip.hash]);
    let heights = |peer: ConnId| -> Vec<u64> {
        actions
            .blocks
            .iter()
            .filter(|(p, _)| *p == peer)
            .flat_map(|(_, items)| InvItem::blocks(items))
            .map(|hash| {
                let block = f.blocks.iter().find(|b| b.hash() == hash).unwrap();
                block.header.height.value()
            })
            .collect()
    };
    assert!(heights(snapshot_peer).iter().all(|h| *h >= 5));
    for low in 1..5 {
        assert!(
            heights(PEER).contains(&low),
            "block {low} goes to the full peer"
        );
    }
}
