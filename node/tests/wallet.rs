//! `tern wallet` as a user runs it: the real binary against a running node's RPC.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::process::{Command, Output};
use std::sync::Arc;

use tern_core::chain::{spawn, Chain};
use tern_core::crypto::dev_secret_key;
use tern_core::genesis::ChainSpec;
use tern_core::mempool::MempoolConfig;
use tern_core::types::Address;
use tern_node::mining::MinerHandle;
use tern_node::pool::PoolHandle;
use tern_node::rpc_backend::NodeRpc;
use tern_rpc::server::{start, RpcConfig};

const TERN: &str = env!("CARGO_BIN_EXE_tern");

struct Wallet {
    file: std::path::PathBuf,
    rpc: String,
}

impl Wallet {
    async fn run(&self, password: &str, args: &[&str]) -> Output {
        let mut command = Command::new(TERN);
        command
            .arg("wallet")
            .arg("--wallet")
            .arg(&self.file)
            .arg("--rpc")
            .arg(&self.rpc)
            .args(args)
            .env("TERN_WALLET_PASSWORD", password);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn balance(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("balance "))
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_between_dev_accounts_confirms_and_moves_exactly_amount_and_fee() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ChainSpec::resolve("dev").unwrap();
    let (chain, thread) = spawn(Chain::open(&dir.path().join("node"), spec).unwrap()).unwrap();
    let (pool, _follower) = PoolHandle::start(chain.clone(), MempoolConfig::default());
    let miner = MinerHandle::spawn(chain.clone(), pool.clone(), None);
    miner.start(1, Address::from_bytes([9; 32]));
    let backend = Arc::new(NodeRpc::new(chain.clone(), pool, miner));
    let server = start(
        backend,
        RpcConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            ..RpcConfig::default()
        },
    )
    .await
    .unwrap();
    let wallet = Wallet {
        file: dir.path().join("wallet.json"),
        rpc: format!("http://{}", server.addr),
    };

    stdout(
        &wallet
            .run("pw", &["import", "--name", "alice", "--dev", "0"])
            .await,
    );
    stdout(
        &wallet
            .run(
                "pw",
                &[
                    "import",
                    "--name",
                    "bob",
                    "--secret",
                    &hex::encode(dev_secret_key(1).to_bytes()),
                ],
            )
            .await,
    );
    let listed = stdout(&wallet.run("", &["list"]).await);
    assert!(
        listed.contains("alice\ttdev1") && listed.contains("bob\ttdev1"),
        "{listed}"
    );
    let bob_address = stdout(&wallet.run("", &["address", "bob"]).await)
        .trim()
        .to_owned();

    let alice_before = balance(&stdout(&wallet.run("", &["balance", "alice"]).await));
    let bob_before = balance(&stdout(&wallet.run("", &["balance", &bob_address]).await));
    let sent = stdout(
        &wallet
            .run(
                "pw",
                &[
                    "send", "--from", "alice", "--to", "bob", "--amount", "70000", "--fee", "2000",
                    "--wait", "1",
                ],
            )
            .await,
    );
    assert!(
        sent.contains("submitted") && sent.contains("confirmed in block"),
        "{sent}"
    );
    let alice_after = balance(&stdout(&wallet.run("", &["balance", "alice"]).await));
    let bob_after = balance(&stdout(&wallet.run("", &["balance", "bob"]).await));
    assert_eq!(alice_before - alice_after, 72_000);
    assert_eq!(bob_after - bob_before, 70_000);

    let history = stdout(&wallet.run("", &["history", "bob"]).await);
    assert_eq!(history.lines().count(), 1, "{history}");
    let dev = stdout(&wallet.run("", &["dev-accounts"]).await);
    assert_eq!(dev.lines().count(), 10);
    assert!(dev.contains(&hex::encode(dev_secret_key(3).to_bytes())));

    // Close the store before the test process exits.
    server.handle.stop().unwrap();
    chain.shutdown().await;
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistakes_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let wallet = Wallet {
        file: dir.path().join("wallet.json"),
        rpc: "http://127.0.0.1:9".into(),
    };
    stdout(
        &wallet
            .run("pw", &["import", "--name", "alice", "--dev", "0"])
            .await,
    );
    let cases: [(&str, &[&str], &str); 4] = [
        (
            "wrong",
            &["import", "--name", "carol", "--dev", "2"],
            "wrong password",
        ),
        (
            "pw",
            &["import", "--name", "alice", "--dev", "1"],
            "already has an account named",
        ),
        (
            "pw",
            &["import", "--name", "x", "--dev", "10"],
            "--dev takes 0 to 9",
        ),
        ("pw", &["list"], "cannot reach the node"),
    ];
    for (password, args, expected) in cases {
        let output = wallet.run(password, args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}
