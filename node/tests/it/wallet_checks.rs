//! `tern wallet` checks what its nodes say: a lying RPC endpoint between the wallet and a
//! real node (it changes a balance, a nonce, a proof's bytes, a header, the block it
//! answers for) is refused by name, and nothing unchecked is shown; among nodes on
//! different chains, the wallet follows the most work.

use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::Value;
use tern_chain::genesis::ChainSpec;
use tern_chain::types::Address;
use tern_node::service::{Node, NodeConfig};
use tern_rpc::jsonrpsee::core::client::{ClientT, Error as ClientError};
use tern_rpc::jsonrpsee::core::params::ArrayParams;
use tern_rpc::jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use tern_rpc::jsonrpsee::server::{RpcModule, Server, ServerHandle};
use tern_rpc::jsonrpsee::types::ErrorObjectOwned;
use tern_rpc::server::RpcConfig;

const TERN: &str = env!("CARGO_BIN_EXE_tern");

/// The methods the wallet calls, which the proxy passes on.
const METHODS: [&str; 10] = [
    "tx_submit",
    "chain_info",
    "chain_getHeaders",
    "chain_getBlockHash",
    "account_get",
    "account_getProof",
    "account_history",
    "tx_get",
    "tx_getProof",
    "fee_estimate",
];

/// How the proxy lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lie {
    Balance,
    Nonce,
    ProofByte,
    /// A header whose target was changed: its proof of work no longer holds.
    Header,
    /// The proof of another (real) block than the one asked for.
    OtherBlock,
    /// No lie: before each `tx_get` the node mines a block, so what it answers is in a
    /// block the wallet has not followed yet.
    MinesFirst,
}

struct Proxy {
    node: HttpClient,
    lie: Lie,
    miner: Option<tern_node::mining::MinerHandle>,
}

impl Proxy {
    async fn pass(&self, method: &str, mut params: Vec<Value>) -> Result<Value, ErrorObjectOwned> {
        if let (Lie::MinesFirst, "tx_get", Some(miner)) = (self.lie, method, &self.miner) {
            miner.mine_now(1, None).await.unwrap();
        }
        if self.lie == Lie::OtherBlock && method == "account_getProof" {
            params.truncate(1);
            params.push(Value::from(1));
        }
        let mut array = ArrayParams::new();
        for param in params {
            array.insert(param).unwrap();
        }
        let mut answer: Value = match self.node.request(method, array).await {
            Ok(answer) => answer,
            Err(ClientError::Call(error)) => return Err(error),
            Err(other) => panic!("the proxy's call failed: {other}"),
        };
        match (self.lie, method) {
            (Lie::Balance, "account_getProof") => {
                let balance: u64 = answer["balance"].as_str().unwrap().parse().unwrap();
                answer["balance"] = Value::from((balance + 1).to_string());
            }
            (Lie::Nonce, "account_getProof") => {
                answer["nonce"] = Value::from(answer["nonce"].as_u64().unwrap() + 1);
            }
            (Lie::ProofByte, "account_getProof") => {
                let mut proof = hex::decode(answer["proof"].as_str().unwrap()).unwrap();
                let last = proof.len() - 1;
                proof[last] ^= 0x40;
                answer["proof"] = Value::from(hex::encode(proof));
            }
            (Lie::Header, "chain_getHeaders") => {
                if let Some(Value::Array(headers)) = Some(&mut answer) {
                    if let Some(last) = headers.last_mut() {
                        let mut bytes = hex::decode(last.as_str().unwrap()).unwrap();
                        // The target (bytes 116..148): all but impossible to meet.
                        bytes[116..148].fill(0);
                        bytes[147] = 1;
                        *last = Value::from(hex::encode(bytes));
                    }
                }
            }
            _ => {}
        }
        Ok(answer)
    }
}

/// Serves `METHODS` on 127.0.0.1, passing each call to `node` and lying as `lie` says.
async fn lying_proxy(node: &str, lie: Lie) -> (ServerHandle, String) {
    proxy_with(node, lie, None).await
}

async fn proxy_with(
    node: &str,
    lie: Lie,
    miner: Option<tern_node::mining::MinerHandle>,
) -> (ServerHandle, String) {
    let client = HttpClientBuilder::default().build(node).unwrap();
    let mut module = RpcModule::new(Arc::new(Proxy {
        node: client,
        lie,
        miner,
    }));
    for method in METHODS {
        module
            .register_async_method(method, move |params, proxy, _| async move {
                let params: Vec<Value> = params.parse().unwrap_or_default();
                proxy.pass(method, params).await
            })
            .unwrap();
    }
    let server = Server::builder().build("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", server.local_addr().unwrap());
    (server.start(module), url)
}

async fn dev_node(dir: &std::path::Path) -> Node {
    let spec = ChainSpec::resolve("dev").unwrap();
    let mut config = NodeConfig::new(spec, dir.to_path_buf());
    config.p2p.listen = Some("127.0.0.1:0".parse().unwrap());
    config.rpc = Some(RpcConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        ..RpcConfig::default()
    });
    Node::start(config).await.unwrap()
}

fn url(node: &Node) -> String {
    format!("http://{}", node.rpc_addr().unwrap())
}

/// `tern wallet ARGS` with one `--rpc` per node, in order.
async fn wallet(file: &std::path::Path, nodes: &[&str], args: &[&str]) -> Output {
    let mut command = Command::new(TERN);
    command.arg("wallet").arg("--wallet").arg(file);
    for node in nodes {
        command.arg("--rpc").arg(node);
    }
    command.args(args).env("TERN_WALLET_PASSWORD", "pw");
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(output: &Output) -> (bool, String, String) {
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_endpoint_is_refused_by_name_and_nothing_unchecked_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let node = dev_node(&dir.path().join("node")).await;
    node.miner()
        .mine_now(4, Some(Address::from_bytes([9; 32])))
        .await
        .unwrap();
    let honest = url(&node);
    let account = ChainSpec::resolve("dev")
        .unwrap()
        .format_address(&tern_chain::crypto::dev_secret_key(0).address());

    let (ok, shown, _) = text(
        &wallet(
            &dir.path().join("honest.json"),
            &[&honest],
            &["balance", &account],
        )
        .await,
    );
    assert!(ok && shown.contains("\nverified: proven by"), "{shown}");

    let lies = [
        (Lie::Balance, "the proof does not show balance"),
        (Lie::Nonce, "the proof does not show balance"),
        (Lie::ProofByte, "proof"),
        (
            Lie::Header,
            "its headers do not check: header 4 breaks a rule",
        ),
        (Lie::OtherBlock, "it answered for block"),
    ];
    for (lie, expected) in lies {
        let (_server, proxy) = lying_proxy(&honest, lie).await;
        // A fresh wallet file each time: no headers verified before.
        let file = dir.path().join(format!("{lie:?}.json"));
        let (ok, shown, stderr) = text(&wallet(&file, &[&proxy], &["balance", &account]).await);
        assert!(!ok, "{lie:?} was believed: {shown}");
        assert!(shown.is_empty(), "{lie:?}: something was shown: {shown}");
        assert!(
            stderr.contains(&format!("refused {proxy}")) && stderr.contains(expected),
            "{lie:?}: {stderr}"
        );
        // With an honest node beside it, the wallet shows the honest node's proven
        // figures and says whom it refused.
        let (ok, shown, stderr) =
            text(&wallet(&file, &[&proxy, &honest], &["balance", &account]).await);
        assert!(ok, "{lie:?}: {stderr}");
        assert!(
            shown.contains(&format!("proven by {honest}")),
            "{lie:?}: {shown}"
        );
        assert!(
            stderr.contains(&format!("refused {proxy}")),
            "{lie:?}: {stderr}"
        );
    }

    // --trust-node takes the liar's word, and says so.
    let (_server, proxy) = lying_proxy(&honest, Lie::Balance).await;
    let (ok, shown, _) = text(
        &wallet(
            &dir.path().join("trusting.json"),
            &[&proxy],
            &["--trust-node", "balance", &account],
        )
        .await,
    );
    assert!(
        ok && shown.contains("not verified (--trust-node)"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn among_nodes_on_different_chains_the_wallet_follows_the_most_work() {
    let dir = tempfile::tempdir().unwrap();
    // Two dev nodes that never meet: the same genesis, two chains.
    let long = dev_node(&dir.path().join("long")).await;
    let short = dev_node(&dir.path().join("short")).await;
    long.miner()
        .mine_now(6, Some(Address::from_bytes([1; 32])))
        .await
        .unwrap();
    short
        .miner()
        .mine_now(3, Some(Address::from_bytes([2; 32])))
        .await
        .unwrap();
    let (long_url, short_url) = (url(&long), url(&short));
    let file = dir.path().join("wallet.json");
    let miner = ChainSpec::resolve("dev")
        .unwrap()
        .format_address(&Address::from_bytes([1; 32]));

    let (ok, shown, notes) =
        text(&wallet(&file, &[&short_url, &long_url], &["balance", &miner]).await);
    assert!(ok, "{notes}");
    assert!(
        shown.contains(&format!("proven by {long_url} at block")) && shown.contains("(height 6)"),
        "{shown}"
    );
    assert!(
        notes.contains(&format!("{short_url} follows a chain with less work")),
        "{notes}"
    );

    // The header file holds the six headers, and the next command fetches nothing new.
    let headers = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".headers"))
        .unwrap()
        .path();
    assert_eq!(std::fs::metadata(&headers).unwrap().len(), 8 + 32 + 6 * 188);

    // Given alone, the node with less work is followed (it has the most work among the
    // nodes given: a partition's minority side, a restarted development chain), and the
    // wallet says it verified more before.
    let short_miner = ChainSpec::resolve("dev")
        .unwrap()
        .format_address(&Address::from_bytes([2; 32]));
    let (ok, shown, notes) = text(&wallet(&file, &[&short_url], &["balance", &short_miner]).await);
    assert!(ok, "{notes}");
    assert!(
        shown.contains(&format!("proven by {short_url} at block")) && shown.contains("(height 3)"),
        "{shown}"
    );
    assert!(
        notes.contains("less than the chain this wallet verified before (height 6)"),
        "{notes}"
    );
    assert_eq!(std::fs::metadata(&headers).unwrap().len(), 8 + 32 + 3 * 188);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmation_in_a_block_mined_since_the_headers_were_followed_is_not_a_lie() {
    let dir = tempfile::tempdir().unwrap();
    let node = dev_node(&dir.path().join("node")).await;
    node.miner()
        .mine_now(2, Some(Address::from_bytes([9; 32])))
        .await
        .unwrap();
    // Every tx_get finds a block mined just before it: the proof names a height past
    // the wallet's verified tip every time.
    let (_server, proxy) =
        proxy_with(&url(&node), Lie::MinesFirst, Some(node.miner().clone())).await;
    let file = dir.path().join("wallet.json");
    let (ok, _, stderr) = text(
        &wallet(
            &file,
            &[&proxy],
            &["import", "--name", "alice", "--dev", "0"],
        )
        .await,
    );
    assert!(ok, "{stderr}");
    let to = ChainSpec::resolve("dev")
        .unwrap()
        .format_address(&tern_chain::crypto::dev_secret_key(1).address());
    let (ok, shown, stderr) = text(
        &wallet(
            &file,
            &[&proxy],
            &[
                "send", "--from", "alice", "--to", &to, "--amount", "5", "--fee", "1000", "--wait",
                "1",
            ],
        )
        .await,
    );
    assert!(ok, "{stderr}");
    assert!(
        shown.contains("confirmed in block") && shown.contains("verified: proven"),
        "{shown}"
    );
    assert!(!stderr.contains("refused"), "{stderr}");
}
