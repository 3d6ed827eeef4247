//! Sync as an operator sees it: real `tern node` processes. A syncing node is killed with
//! SIGKILL halfway, restarted on the same data dir, and finishes without fetching again
//! what it had, in full or by snapshot; a node whose store lost blocks to damage after a
//! kill says so at start and fetches them again.

use std::time::{Duration, Instant};

use tern_rpc::chain::TernApiClient;
use tern_rpc::mining::TernAdminApiClient;
use tern_rpc::net::TernNetApiClient;

use crate::support;
use support::{Launch, Launched, NodeProcess};

const LENGTH: u64 = 2_000;

/// Where mined rewards go: a dev account.
const REWARD: &str = "tdev1du06gkyu77jv6nhv5uws956q5spy4s73jjn63jjhtmq3c39jp8csc3daec";

/// A node with a dev chain of `height` blocks, for the others to sync from.
async fn mined_source(dir: &std::path::Path, height: u64) -> NodeProcess {
    let source = NodeProcess::start(dir, &[], true);
    assert!(source.wait_for_height(0, Duration::from_secs(30)).await);
    source
        .rpc
        .dev_mine(height, Some(REWARD.into()))
        .await
        .unwrap();
    source
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_halfway_resumes_where_it_stopped() {
    let dirs = tempfile::tempdir().unwrap();
    let source = mined_source(&dirs.path().join("source"), LENGTH).await;
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
    // What the kill left is sound: the state, its tree and every block's state root
    // agree with a replay of the chain from genesis.
    let check = std::process::Command::new(support::TERN)
        .args(["store", "check", "--genesis", "dev", "--datadir"])
        .arg(&dir)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && report.contains("sound."),
        "{report}{}",
        String::from_utf8_lossy(&check.stderr)
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

/// A node synced to `height` from `source`, once its tip record has caught up with its
/// tip.
async fn synced_at(dir: &std::path::Path, source: &NodeProcess, height: u64) -> NodeProcess {
    let node = NodeProcess::start(dir, &[source.p2p], false);
    assert!(node.wait_for_height(height, Duration::from_secs(60)).await);
    let record = dir.join("chain").join("tip.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&record).unwrap_or_default();
        if text.contains(&format!("\"height\": {height},")) {
            return node;
        }
        assert!(Instant::now() < deadline, "the tip record stayed at {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Restarts the damaged node with `source` as its peer: it must report the loss at start
/// and be back at `height` from the peer.
async fn restart_reports_and_recovers(
    dir: &std::path::Path,
    source: &NodeProcess,
    height: u64,
) -> NodeProcess {
    let log = dir.with_extension("log");
    let node = NodeProcess::launch(
        dir,
        &Launch {
            peers: &[source.p2p],
            log_file: Some(&log),
            ..Launch::default()
        },
    );
    assert!(
        node.wait_for_height(height, Duration::from_secs(60)).await,
        "the damaged node did not recover its blocks"
    );
    let tip = source.rpc.chain_info().await.unwrap().best_hash;
    assert_eq!(node.rpc.chain_info().await.unwrap().best_hash, tip);
    let log = std::fs::read_to_string(&log).unwrap();
    let report = log
        .lines()
        .find(|line| line.contains("ERROR") && line.contains("blocks lost"))
        .unwrap_or_else(|| panic!("no loss reported:\n{log}"));
    assert!(
        report.contains(&format!("recorded_height={height}")),
        "{report}"
    );
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_lost_with_the_write_ahead_log_are_reported_and_fetched_again() {
    const HEIGHT: u64 = 40;
    let dirs = tempfile::tempdir().unwrap();
    let source = mined_source(&dirs.path().join("source"), HEIGHT).await;

    // Killed with SIGKILL, so that its newest blocks are only in RocksDB's log.
    let dir = dirs.path().join("damaged");
    synced_at(&dir, &source, HEIGHT).await.kill();
    // The blocks since the store was created are in the log alone; without it, RocksDB
    // opens the store as it was at creation, consistent and silent.
    let mut logs = 0;
    for entry in std::fs::read_dir(dir.join("chain")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            std::fs::remove_file(path).unwrap();
            logs += 1;
        }
    }
    assert!(logs > 0, "no write-ahead log to remove");
    restart_reports_and_recovers(&dir, &source, HEIGHT).await;
}

/// What a node made of a damaged store at start.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Opened {
    /// It refused to start, naming the store.
    Refused,
    /// It opened the whole chain: the damage cost nothing.
    Whole,
    /// It opened below its tip and said how many blocks it lost.
    LossReported,
}

/// Starts a node alone on `dir` and tells what it did with the store; fails the test if
/// it opened below `height` without a word, or refused without naming the store.
async fn opened(dir: &std::path::Path, height: u64) -> Opened {
    let log = dir.with_extension("log");
    let node = match NodeProcess::try_launch(
        dir,
        &Launch {
            log_file: Some(&log),
            ..Launch::default()
        },
    ) {
        Launched::Running(node) => node,
        Launched::Exited(status, log) => {
            assert!(!status.success());
            assert!(
                log.contains("is damaged") && log.contains(dir.to_str().unwrap()),
                "refused without naming the damage: {log}"
            );
            return Opened::Refused;
        }
    };
    // It announced its RPC listener, so it answers.
    let opened = node.height().await.expect("a running node answers");
    if opened == height {
        return Opened::Whole;
    }
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.lines().any(|line| line.contains("ERROR")
            && line.contains("blocks lost")
            && line.contains(&format!("recorded_height={height}"))),
        "opened at {opened}, below {height}, without a word:\n{log}"
    );
    Opened::LossReported
}

/// A MANIFEST cut short used to open as an earlier store, silently. Cut at each fiftieth
/// of its length, the store is refused, opened whole, or opened with its loss reported;
/// a store that lost blocks gets them back from a peer and is sound afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_manifest_is_refused_or_its_loss_reported() {
    const HEIGHT: u64 = 40;
    let dirs = tempfile::tempdir().unwrap();
    let source = mined_source(&dirs.path().join("source"), HEIGHT).await;
    // Two stores: one killed (its blocks in the log) and one stopped (its blocks flushed
    // to tables, which a MANIFEST cut short forgets).
    let killed = dirs.path().join("killed");
    synced_at(&killed, &source, HEIGHT).await.kill();
    let stopped = dirs.path().join("stopped");
    assert!(synced_at(&stopped, &source, HEIGHT)
        .await
        .stop()
        .await
        .success());

    let mut outcomes = Vec::new();
    for (name, store) in [("killed", &killed), ("stopped", &stopped)] {
        for fiftieths in 0..50 {
            let dir = dirs.path().join(format!("{name}-cut-{fiftieths}"));
            manifest_cut(store, &dir, fiftieths);
            outcomes.push((name, fiftieths, opened(&dir, HEIGHT).await));
        }
    }
    eprintln!("{outcomes:?}");
    // The case the finding saw must be among them, recovered and sound afterwards.
    let (name, fiftieths, _) = outcomes
        .iter()
        .find(|(_, _, outcome)| *outcome == Opened::LossReported)
        .expect("no cut opened below the tip: cut finer to reach that case again");
    let store = if *name == "killed" { &killed } else { &stopped };
    let dir = dirs.path().join("recovered");
    manifest_cut(store, &dir, *fiftieths);
    let mut node = restart_reports_and_recovers(&dir, &source, HEIGHT).await;
    assert!(node.stop().await.success());
    let check = std::process::Command::new(support::TERN)
        .args(["store", "check", "--genesis", "dev", "--datadir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

/// A copy of `store` at `dir` with its MANIFEST cut to `fiftieths` fiftieths of its length.
fn manifest_cut(store: &std::path::Path, dir: &std::path::Path, fiftieths: u64) {
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(store)
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
    for entry in std::fs::read_dir(dir.join("chain")).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("MANIFEST-")
        {
            let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            let len = file.metadata().unwrap().len();
            file.set_len(len * fiftieths / 50).unwrap();
        }
    }
}

/// Accounts added to the dev chain for the snapshot test: the most a spec file lists, so
/// the state comes in a few hundred chunks and a kill lands in the middle of them.
const SNAPSHOT_ACCOUNTS: u32 = 99_000;

/// Writes the dev chain spec with [`SNAPSHOT_ACCOUNTS`] more funded accounts to `path`.
fn write_big_spec(path: &std::path::Path) {
    use tern_chain::genesis::ChainSpec;
    use tern_chain::types::Address;
    let dev = ChainSpec::resolve("dev").unwrap();
    let mut spec: serde_json::Value =
        serde_json::from_str(include_str!("../../../genesis/dev.json")).unwrap();
    let allocations = spec["allocations"].as_array_mut().unwrap();
    for i in 0..SNAPSHOT_ACCOUNTS {
        let mut bytes = [0x6b; 32];
        bytes[..4].copy_from_slice(&i.to_le_bytes());
        let address = Address::from_bytes(bytes).to_bech32(&dev.address_prefix);
        allocations.push(serde_json::json!({ "address": address, "balance": "1000" }));
    }
    spec["name"] = "tern-dev-big".into();
    std::fs::write(path, serde_json::to_vec(&spec).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_sync_killed_halfway_keeps_its_chunks_and_finishes() {
    let dirs = tempfile::tempdir().unwrap();
    let spec = dirs.path().join("big.json");
    write_big_spec(&spec);
    let spec = spec.to_str().unwrap();
    let source = NodeProcess::launch(
        &dirs.path().join("source"),
        &Launch {
            admin: true,
            genesis: Some(spec),
            ..Launch::default()
        },
    );
    source.rpc.dev_mine(80, Some(REWARD.into())).await.unwrap();
    let tip = source.rpc.chain_info().await.unwrap().best_hash;

    let dir = dirs.path().join("fresh");
    let log = dirs.path().join("fresh.log");
    let peers = [source.p2p];
    let launch = Launch {
        peers: &peers,
        genesis: Some(spec),
        args: &["--sync", "snapshot"],
        log_file: Some(&log),
        ..Launch::default()
    };
    let mut fresh = NodeProcess::launch(&dir, &launch);
    // Kill it (SIGKILL: no goodbye, no flush) once some chunks are written.
    let deadline = Instant::now() + Duration::from_secs(120);
    let written = loop {
        assert!(
            Instant::now() < deadline,
            "the state download never started"
        );
        let status = fresh.rpc.chain_sync_status().await;
        if let Some(state) = status.ok().and_then(|s| s.state) {
            if state.chunks_done >= 10 {
                break state;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    fresh.kill();
    assert!(
        written.chunks_done < written.chunks_total,
        "the snapshot finished before it could be interrupted: {written:?}"
    );

    let restart_log = dirs.path().join("restart.log");
    let fresh = NodeProcess::launch(
        &dir,
        &Launch {
            log_file: Some(&restart_log),
            ..launch
        },
    );
    let reached = async {
        while fresh
            .rpc
            .chain_info()
            .await
            .map(|i| i.best_hash)
            .ok()
            .as_ref()
            != Some(&tip)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(120), reached)
        .await
        .expect("the restarted node did not finish the snapshot");
    let restarted = std::fs::read_to_string(&restart_log).unwrap();
    let resumed = restarted
        .lines()
        .find(|line| line.contains("going on with the snapshot a restart interrupted"))
        .unwrap_or_else(|| panic!("no resumption logged:\n{restarted}"));
    let pieces: u64 = resumed
        .split("pieces=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(
        pieces >= written.chunks_done,
        "the {} chunks written before the kill are kept: {resumed}",
        written.chunks_done
    );
    let status = fresh.rpc.chain_sync_status().await.unwrap();
    assert_eq!(status.mode, "snapshot");
}
