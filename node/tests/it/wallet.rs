//! `tern wallet` as a user runs it: the real binary against a running node's RPC.

use std::process::{Command, Output};

use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_chain::types::Address;
use tern_node::mining::MinerSettings;
use tern_node::service::{Node, NodeConfig};
use tern_rpc::server::RpcConfig;

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
    let mut config = NodeConfig::new(spec, dir.path().join("node"));
    config.p2p.listen = Some("127.0.0.1:0".parse().unwrap());
    config.rpc = Some(RpcConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        ..RpcConfig::default()
    });
    config.mining = Some(MinerSettings {
        threads: 1,
        reward: Address::from_bytes([9; 32]),
    });
    let node = Node::start(config).await.unwrap();
    let wallet = Wallet {
        file: dir.path().join("wallet.json"),
        rpc: format!("http://{}", node.rpc_addr().unwrap()),
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

    let shown = stdout(&wallet.run("", &["balance", "alice"]).await);
    assert!(shown.contains("\nverified: proven by http://"), "{shown}");
    let alice_before = balance(&shown);
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
    let txid = sent
        .split_whitespace()
        .nth(1)
        .expect("submitted TXID ...")
        .to_owned();
    let status = stdout(&wallet.run("", &["status", &txid]).await);
    assert!(status.starts_with("confirmed in block"), "{status}");
    assert!(status.contains("\nverified: proven"), "{status}");
    let unknown = stdout(&wallet.run("", &["status", &"ab".repeat(32)]).await);
    assert!(
        unknown.starts_with("unknown: the node has not seen it"),
        "{unknown}"
    );
    let alice_after = balance(&stdout(&wallet.run("", &["balance", "alice"]).await));
    let bob_after = balance(&stdout(&wallet.run("", &["balance", "bob"]).await));
    assert_eq!(alice_before - alice_after, 72_000);
    assert_eq!(bob_after - bob_before, 70_000);

    let history = stdout(&wallet.run("", &["history", "bob"]).await);
    let entries: Vec<&str> = history
        .lines()
        .filter(|l| l.contains("\theight "))
        .collect();
    assert_eq!(entries.len(), 1, "{history}");
    assert!(entries[0].ends_with("confirmations"), "{history}");
    assert!(
        history.contains("\nverified: each entry proven"),
        "{history}"
    );
    let dev = stdout(&wallet.run("", &["dev-accounts"]).await);
    assert_eq!(
        dev.lines().filter(|l| l.contains("\tbalance ")).count(),
        10,
        "{dev}"
    );
    assert!(
        dev.ends_with("verified: proven against the header chain this wallet checked\n"),
        "{dev}"
    );
    assert!(dev.contains(&hex::encode(dev_secret_key(3).to_bytes())));

    // Without --fee, the node's estimate for three blocks: on an idle dev chain, the
    // pool's minimum.
    let estimated = stdout(
        &wallet
            .run(
                "pw",
                &["send", "--from", "alice", "--to", "bob", "--amount", "5"],
            )
            .await,
    );
    assert!(estimated.contains("fee 156,"), "{estimated}");
    let burn = ChainSpec::resolve("dev")
        .unwrap()
        .format_address(&Address::from_bytes([0; 32]));
    let refused = wallet
        .run(
            "pw",
            &["send", "--from", "alice", "--to", &burn, "--amount", "5"],
        )
        .await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("would burn the amount"),
        "{stderr}"
    );
    let bad = wallet.run("", &["status", "xyz"]).await;
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && stderr.contains("txid"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let cookie = node.cookie_path().unwrap().to_path_buf();
    assert!(cookie.exists(), "the RPC cookie is written at start");
    node.shutdown().await;
    assert!(!cookie.exists(), "and removed at shutdown");
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
