//! Crash safety, proven by killing: a child process imports a long chain with reorgs and is
//! killed with SIGKILL at random moments; after every kill the store must open, its tip
//! must be a valid canonical block, and its state must equal a replay of the canonical
//! chain from genesis. Also: a damaged store is a clear error and a non-zero exit.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tern_chain::block::Block;
use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_chain::testkit::{ChainBuilder, SplitMix64 as Rng};
use tern_chain::types::{Address, BlockHash};
use tern_state::chain::Chain;

const IMPORTER: &str = env!("CARGO_BIN_EXE_chain-importer");

/// A chain built in rounds: the tip grows by a few blocks with transfers, then often a
/// competing branch forks a few blocks back and overtakes it. Blocks are listed in the
/// order a node would receive them; the last tip is returned too.
fn scenario(rng: &mut Rng, rounds: usize) -> (Vec<Block>, BlockHash) {
    let spec = ChainSpec::resolve("dev").unwrap();
    let mut builder = ChainBuilder::new(spec);
    let keys: Vec<_> = (0..6).map(dev_secret_key).collect();
    let mut chain: Vec<BlockHash> = vec![builder.genesis()];
    let mut blocks = Vec::new();
    for round in 0..rounds {
        let tip = *chain.last().unwrap();
        let grown = builder.extend(
            &tip,
            5 + rng.below(10) as usize,
            &keys,
            rng.below(4) as usize,
            Address::from_bytes([1; 32]),
        );
        chain.extend(grown.iter().map(Block::hash));
        blocks.extend(grown);
        if rng.below(3) > 0 {
            let depth = 1 + rng.below(8.min(chain.len() as u64 - 1)) as usize;
            let fork_at = chain.len() - 1 - depth;
            let side = builder.extend(
                &chain[fork_at],
                depth + 1 + rng.below(3) as usize,
                &keys,
                rng.below(4) as usize,
                Address::from_bytes([2 + round as u8; 32]),
            );
            chain.truncate(fork_at + 1);
            chain.extend(side.iter().map(Block::hash));
            blocks.extend(side);
        }
    }
    (blocks, *chain.last().unwrap())
}

fn audit(dir: &Path) -> std::process::Output {
    Command::new(IMPORTER)
        .args(["audit", dir.to_str().unwrap()])
        .output()
        .unwrap()
}

#[test]
fn sigkill_at_random_moments_never_corrupts_the_store() {
    let mut rng = Rng(0x7e57_c4a5);
    let (blocks, final_tip) = scenario(&mut rng, 120);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("blocks.bin");
    tern_tests::blockfile::write(&file, &blocks).unwrap();
    let dir = work.path().join("data");

    let deadline = Instant::now() + Duration::from_secs(240);
    let mut kills = 0;
    let mut heights = Vec::new();
    while kills < 30 && Instant::now() < deadline {
        let mut child = Command::new(IMPORTER)
            .args(["import", dir.to_str().unwrap(), file.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + rng.below(400)));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap_or(()); // SIGKILL on Unix; an exited child is fine too
        let status = child.wait().unwrap();
        if finished {
            assert!(
                status.success(),
                "the importer failed on its own: {status:?}"
            );
        } else {
            kills += 1;
        }
        let audited = audit(&dir);
        assert!(
            audited.status.success(),
            "after kill {kills} the store fails its audit: {}",
            String::from_utf8_lossy(&audited.stderr)
        );
        heights.push(String::from_utf8_lossy(&audited.stdout).trim().to_owned());
        if finished {
            // Start over, so later kills still land mid-import.
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
    assert!(
        kills >= 25,
        "only {kills} kills landed mid-import within the time bound"
    );

    // Uninterrupted, the import completes on the chain with the most work.
    let status = Command::new(IMPORTER)
        .args(["import", dir.to_str().unwrap(), file.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let chain = Chain::open(&dir, ChainSpec::resolve("dev").unwrap()).unwrap();
    assert_eq!(
        chain.tip().hash,
        final_tip,
        "audits along the way: {heights:?}"
    );
    assert!(tern_state::chain::check_store(&chain.reader()).is_ok());
}

/// Imports a small chain and closes cleanly, so the store's files are on disk.
fn stored_chain(work: &Path) -> std::path::PathBuf {
    let mut rng = Rng(1);
    let (blocks, _) = scenario(&mut rng, 10);
    let file = work.join("blocks.bin");
    tern_tests::blockfile::write(&file, &blocks).unwrap();
    let dir = work.join("data");
    let status = Command::new(IMPORTER)
        .args(["import", dir.to_str().unwrap(), file.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

fn files_with_extension(dir: &Path, extension: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join("chain"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect()
}

fn assert_refused_as_damaged(dir: &Path) {
    let output = audit(dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("is damaged") && stderr.contains(dir.to_str().unwrap()),
        "unclear error: {stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line, no backtrace: {stderr}"
    );
}

#[test]
fn a_truncated_table_file_is_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let dir = stored_chain(work.path());
    let tables = files_with_extension(&dir, "sst");
    assert!(
        !tables.is_empty(),
        "a clean shutdown flushes tables to disk"
    );
    for table in tables {
        let len = std::fs::metadata(&table).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&table)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
    }
    assert_refused_as_damaged(&dir);
}

#[test]
fn a_missing_manifest_is_a_clear_error_not_a_fresh_store() {
    let work = tempfile::tempdir().unwrap();
    let dir = stored_chain(work.path());
    std::fs::remove_file(dir.join("chain").join("CURRENT")).unwrap();
    assert_refused_as_damaged(&dir);
    assert!(!dir.join("chain").join("CURRENT").exists());
}

#[test]
fn flipped_bytes_in_a_table_are_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let dir = stored_chain(work.path());
    for table in files_with_extension(&dir, "sst") {
        let mut bytes = std::fs::read(&table).unwrap();
        let half = bytes.len() / 2;
        for byte in bytes.iter_mut().take(half).skip(64) {
            *byte ^= 0x5a;
        }
        std::fs::write(&table, bytes).unwrap();
    }
    assert_refused_as_damaged(&dir);
}
