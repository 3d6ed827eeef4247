//! A node that cannot go on says so and stops, as an operator sees it: real `tern node`
//! processes. A panic in the chain actor or the RPC server's accept loop, and a data
//! directory that fills up, each make the process exit non-zero with the part and the
//! cause in its log; the next start, on the same data directory (once space is freed),
//! has everything acknowledged before.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tern_rpc::chain::TernApiClient;
use tern_rpc::mining::TernAdminApiClient;

use crate::support;
use support::{Launch, NodeProcess};

/// Dev account 9, where these tests' rewards go.
const REWARD: &str = "tdev1du06gkyu77jv6nhv5uws956q5spy4s73jjn63jjhtmq3c39jp8csc3daec";

/// How long a failing node may take to notice, stop in order and exit.
const EXIT_PATIENCE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_actor_panic_exits_non_zero_naming_it_and_loses_nothing() {
    let dirs = tempfile::tempdir().unwrap();
    let data = dirs.path().join("data");
    let log = dirs.path().join("node.log");
    let mut node = NodeProcess::launch(
        &data,
        &Launch {
            admin: true,
            env: &[("TERN_FAULT_PANIC", "chain:4")],
            log_file: Some(&log),
            ..Launch::default()
        },
    );
    assert!(node.wait_for_height(0, Duration::from_secs(30)).await);
    let acknowledged = node.rpc.dev_mine(3, Some(REWARD.into())).await.unwrap();
    assert!(node.rpc.dev_mine(1, Some(REWARD.into())).await.is_err());
    let (status, log) = node
        .wait_exit(EXIT_PATIENCE)
        .await
        .expect("the node exits on its own");
    assert!(!status.success(), "{status}\n{log}");
    assert!(log.contains("critical failure"), "{log}");
    assert!(log.contains("task=\"chain\""), "{log}");
    assert!(log.contains("injected fault"), "{log}");
    assert!(
        log.contains("tern: the node failed: chain panicked"),
        "{log}"
    );

    let again = NodeProcess::start(&data, &[], true);
    assert!(again.wait_for_height(3, Duration::from_secs(30)).await);
    let info = again.rpc.chain_info().await.unwrap();
    assert_eq!(info.best_hash, acknowledged[2]);
}

/// A panic in the RPC server's accept loop used to leave a process that served no RPC
/// and reported healthy; now the operator sees it exit, naming the task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpc_accept_loop_panic_exits_non_zero_naming_it() {
    let dirs = tempfile::tempdir().unwrap();
    let log = dirs.path().join("node.log");
    let mut node = NodeProcess::launch(
        &dirs.path().join("data"),
        &Launch {
            env: &[("TERN_FAULT_PANIC", "rpc:1")],
            log_file: Some(&log),
            ..Launch::default()
        },
    );
    // The first connection the server accepts panics its accept loop.
    let _ = tokio::net::TcpStream::connect(node.rpc_addr).await;
    let (status, log) = node
        .wait_exit(EXIT_PATIENCE)
        .await
        .expect("the node exits on its own");
    assert!(!status.success(), "{status}\n{log}");
    assert!(log.contains("task=\"rpc server\""), "{log}");
    assert!(log.contains("injected fault"), "{log}");
    assert!(
        log.contains("tern: the node failed: rpc server panicked"),
        "{log}"
    );
}

/// A tmpfs of `size` mounted on a directory, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts one, or `None` where this process may not mount (not root). CI runs as root.
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .ok()?;
        mounted.success().then(|| Tmpfs {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the file system of `dir` with `file` until only about `leave` bytes are free.
fn fill(dir: &Path, file: &Path, leave: u64) {
    let free = rustix::fs::statvfs(dir).unwrap();
    let free = free.f_bavail * free.f_frsize;
    let size = free.saturating_sub(leave);
    let data = vec![0xa5u8; usize::try_from(size).unwrap()];
    std::fs::write(file, data).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_data_directory_stops_the_node_and_it_resumes_once_space_is_freed() {
    let dirs = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dirs.path().join("disk"), "32m") else {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
        return;
    };
    let data = disk.path.join("data");
    let filler = disk.path.join("filler");
    let log = dirs.path().join("node.log");
    let mut node = NodeProcess::launch(
        &data,
        &Launch {
            admin: true,
            log_file: Some(&log),
            args: &["--min-free-space", "8"],
            ..Launch::default()
        },
    );
    assert!(node.wait_for_height(0, Duration::from_secs(30)).await);
    let acknowledged = node.rpc.dev_mine(5, Some(REWARD.into())).await.unwrap();
    fill(&disk.path, &filler, 256 << 10);
    // The disk monitor warns before the disk is full.
    let warned = tokio::time::timeout(Duration::from_secs(30), async {
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("running out of space")
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(warned.is_ok(), "no warning about free space");

    // Mine until the disk is full: the chain's write fails, and the node stops.
    let mut highest = 5;
    for _ in 0..100 {
        match node.rpc.dev_mine(200, Some(REWARD.into())).await {
            Ok(_) => highest = node.height().await.unwrap_or(highest),
            Err(_) => break,
        }
    }
    let (status, log) = node
        .wait_exit(EXIT_PATIENCE)
        .await
        .expect("the node exits on its own when its disk is full");
    assert!(!status.success(), "{status}\n{log}");
    assert!(log.contains("No space left on device"), "{log}");
    assert!(
        log.contains(data.to_str().unwrap()),
        "the path is named:\n{log}"
    );
    assert!(log.contains("tern: the node failed: chain failed"), "{log}");

    // Free the space: the node starts again with everything it acknowledged.
    std::fs::remove_file(&filler).unwrap();
    let again = NodeProcess::start(&data, &[], true);
    assert!(
        again
            .wait_for_height(highest, Duration::from_secs(30))
            .await,
        "the restarted node is below the height {highest} it reported"
    );
    let hash = again.rpc.chain_get_block_hash(5).await.unwrap();
    assert_eq!(hash, Some(acknowledged[4].clone()));
    again.rpc.dev_mine(1, Some(REWARD.into())).await.unwrap();
    drop(again);
    drop(disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tern_store_check_tells_a_sound_store_from_a_damaged_one() {
    let dirs = tempfile::tempdir().unwrap();
    let data = dirs.path().join("data");
    let node = NodeProcess::start(&data, &[], true);
    assert!(node.wait_for_height(0, Duration::from_secs(30)).await);
    node.rpc.dev_mine(20, Some(REWARD.into())).await.unwrap();
    drop(node);
    let check = |dir: &Path| {
        Command::new(support::TERN)
            .args(["store", "check", "--genesis", "dev", "--datadir"])
            .arg(dir)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let sound = check(&data);
    let stdout = String::from_utf8_lossy(&sound.stdout);
    assert!(
        sound.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&sound.stderr)
    );
    assert!(stdout.contains("sound. 20 blocks"), "{stdout}");

    // Flip bytes in every table file: the check fails, naming the store and the remedy.
    let chain = data.join("chain");
    for entry in std::fs::read_dir(&chain).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sst") {
            let mut bytes = std::fs::read(&path).unwrap();
            let middle = bytes.len() / 2;
            for byte in bytes.iter_mut().skip(middle).take(64) {
                *byte ^= 0xff;
            }
            std::fs::write(&path, bytes).unwrap();
        }
    }
    let damaged = check(&data);
    let stderr = String::from_utf8_lossy(&damaged.stderr);
    assert!(!damaged.status.success(), "{stderr}");
    assert!(stderr.contains(data.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("restore it from a backup"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
