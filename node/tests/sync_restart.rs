//! Sync as an operator sees it: real `tern node` processes. A syncing node is killed with
//! SIGKILL halfway, restarted on the same data dir, and finishes without fetching again
//! what it had.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use tern_rpc::api::{TernAdminApiClient, TernApiClient};
use tern_rpc::net::TernNetApiClient;

mod support;
use support::NodeProcess;

const LENGTH: u64 = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_halfway_resumes_where_it_stopped() {
    let dirs = tempfile::tempdir().unwrap();
    let source = NodeProcess::start(&dirs.path().join("source"), &[], true);
    assert!(source.wait_for_height(0, Duration::from_secs(30)).await);
    let reward = "tdev1du06gkyu77jv6nhv5uws956q5spy4s73jjn63jjhtmq3c39jp8csc3daec".to_owned();
    source.rpc.dev_mine(LENGTH, Some(reward)).await.unwrap();
    let second = NodeProcess::start(&dirs.path().join("second"), &[source.p2p], false);
    assert!(
        second
            .wait_for_height(LENGTH, Duration::from_secs(120))
            .await
    );

    // Kill the syncing node (SIGKILL: no goodbye, no flush) once it is on its way.
    let dir = dirs.path().join("fresh");
    let peers = [source.p2p, second.p2p];
    let mut fresh = NodeProcess::start(&dir, &peers, false);
    assert!(
        fresh
            .wait_for_height(LENGTH / 4, Duration::from_secs(120))
            .await
    );
    let seen = fresh.height().await.unwrap_or(LENGTH / 4);
    fresh.kill();
    assert!(
        seen < LENGTH,
        "the sync finished before it could be interrupted"
    );

    let fresh = NodeProcess::start(&dir, &peers, false);
    assert!(
        fresh
            .wait_for_height(LENGTH, Duration::from_secs(120))
            .await,
        "the restarted node did not finish"
    );
    let tip = source.rpc.chain_info().await.unwrap().best_hash;
    assert_eq!(fresh.rpc.chain_info().await.unwrap().best_hash, tip);
    // Everything connected before the kill stayed: only the rest was fetched again.
    let fetched: u64 = fresh
        .rpc
        .net_peers()
        .await
        .unwrap()
        .iter()
        .map(|p| p.blocks_in)
        .sum();
    assert!(
        fetched <= LENGTH - seen,
        "fetched {fetched} blocks after restarting at height {seen} or more"
    );
    // The sync status (published twice a second) ends at the tip, no longer syncing.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = fresh.rpc.chain_sync_status().await.unwrap();
        if status.current_height == LENGTH && !status.syncing {
            break;
        }
        assert!(Instant::now() < deadline, "{status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
