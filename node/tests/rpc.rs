//! The JSON-RPC server against a real node: every method through the generated client, and
//! each JSON-RPC error code through raw requests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

#[path = "rpc/connections.rs"]
mod connections;
#[path = "rpc/eviction.rs"]
mod eviction;
#[path = "rpc/raw.rs"]
mod raw;
#[path = "rpc/websocket.rs"]
mod websocket;

use base64::Engine as _;
use jsonrpsee::core::client::{ClientT, Error as ClientError};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use tern_core::crypto::{dev_secret_key, SecretKey};
use tern_core::encoding;
use tern_core::genesis::ChainSpec;
use tern_core::tx::{SignedTransaction, Transaction};
use tern_core::types::Amount;
use tern_node::service::{Node, NodeConfig};
use tern_rpc::api::{TernAdminApiClient, TernApiClient};
use tern_rpc::json::{BlockId, BlockTransactions, TxStatus};
use tern_rpc::server::RpcConfig;

use raw::*;

struct TestNode {
    client: HttpClient,
    rpc_addr: std::net::SocketAddr,
    spec: ChainSpec,
    chain: tern_core::chain::ChainHandle,
    /// Dropping the node stops it and closes its store.
    _node: Node,
    _dir: tempfile::TempDir,
}

async fn node(chain: &str, admin: bool) -> TestNode {
    node_with(
        chain,
        RpcConfig {
            admin,
            ..RpcConfig::default()
        },
    )
    .await
}

/// A node serving `rpc` on a free loopback port.
async fn node_with(chain: &str, rpc: RpcConfig) -> TestNode {
    let spec = ChainSpec::resolve(chain).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(spec.clone(), dir.path().to_path_buf());
    config.p2p.listen = Some("127.0.0.1:0".parse().unwrap());
    config.rpc = Some(RpcConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        ..rpc
    });
    let node = Node::start(config).await.unwrap();
    let rpc_addr = node.rpc_addr().unwrap();
    let client = HttpClientBuilder::default()
        .build(format!("http://{rpc_addr}"))
        .unwrap();
    TestNode {
        client,
        rpc_addr,
        spec,
        chain: node.chain().clone(),
        _node: node,
        _dir: dir,
    }
}

fn address(node: &TestNode, key: &SecretKey) -> String {
    node.spec.format_address(&key.address())
}

fn signed_hex(
    node: &TestNode,
    from: &SecretKey,
    to: &SecretKey,
    amount: u64,
    fee: u64,
    nonce: u64,
) -> (String, String) {
    let tx = Transaction {
        chain_id: node.spec.consensus.chain_id,
        from: from.address(),
        to: to.address(),
        amount: Amount::from_base_units(amount),
        fee: Amount::from_base_units(fee),
        nonce,
    }
    .sign(from);
    (hex::encode(encoding::encode(&tx)), tx.id().to_string())
}

fn code(error: ClientError) -> (i32, String, Option<serde_json::Value>) {
    match error {
        ClientError::Call(e) => (
            e.code(),
            e.message().to_owned(),
            e.data().map(|d| serde_json::from_str(d.get()).unwrap()),
        ),
        other => panic!("expected a call error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_flow_over_rpc() {
    let node = node("dev", true);
    let node = node.await;
    let c = &node.client;
    let info = c.chain_info().await.unwrap();
    assert_eq!(
        (info.height, info.chain_id, info.dev_mining),
        (0, 7357, true)
    );
    assert_eq!(info.genesis_hash, node.spec.genesis_hash().to_string());

    let (alice, bob) = (dev_secret_key(0), dev_secret_key(1));
    let before = c.account_get(address(&node, &bob)).await.unwrap();
    let (tx, id) = signed_hex(&node, &alice, &bob, 25_000, 1_000, 0);
    assert_eq!(c.tx_submit(tx.clone()).await.unwrap(), id);
    assert!(matches!(
        c.tx_get(id.clone()).await.unwrap(),
        TxStatus::Pending { .. }
    ));
    let alice_pending = c.account_get(address(&node, &alice)).await.unwrap();
    assert_eq!((alice_pending.nonce, alice_pending.pending_nonce), (0, 1));
    let pool = c.mempool_info().await.unwrap();
    assert_eq!(pool.count, 1);
    let listed = c.mempool_list(Some(10)).await.unwrap();
    assert_eq!(
        (listed[0].txid.as_str(), listed[0].fee.as_str()),
        (id.as_str(), "1000")
    );

    let hashes = c
        .dev_mine(2, Some(address(&node, &dev_secret_key(9))))
        .await
        .unwrap();
    assert_eq!(hashes.len(), 2);
    match c.tx_get(id.clone()).await.unwrap() {
        TxStatus::Confirmed {
            height,
            confirmations,
            block_hash,
            ..
        } => {
            assert_eq!(
                (height, confirmations, block_hash.as_str()),
                (1, 2, hashes[0].as_str())
            );
        }
        other => panic!("not confirmed: {other:?}"),
    }
    let after = c.account_get(address(&node, &bob)).await.unwrap();
    let moved = after.balance.parse::<u64>().unwrap() - before.balance.parse::<u64>().unwrap();
    assert_eq!(moved, 25_000);

    let by_height = c
        .chain_get_block(BlockId::Height(1), Some(true))
        .await
        .unwrap()
        .unwrap();
    let by_hash = c
        .chain_get_block(BlockId::Hash(hashes[0].clone()), Some(false))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_height.header, by_hash.header);
    assert!(matches!(&by_height.transactions, BlockTransactions::Full(t) if t[0].id == id));
    assert!(
        matches!(&by_hash.transactions, BlockTransactions::Ids(ids) if ids == &vec![id.clone()])
    );
    assert_eq!(
        c.chain_get_header(BlockId::Height(2))
            .await
            .unwrap()
            .unwrap()
            .hash,
        hashes[1]
    );
    assert_eq!(
        c.chain_get_block_hash(2).await.unwrap(),
        Some(hashes[1].clone())
    );
    assert_eq!(c.chain_get_block_hash(3).await.unwrap(), None);
    assert_eq!(
        c.chain_get_block(BlockId::Height(99), None).await.unwrap(),
        None
    );

    let history = c
        .account_history(address(&node, &bob), None, Some(10))
        .await
        .unwrap();
    assert_eq!(history.entries.len(), 1);
    assert_eq!(history.entries[0].txid, id);
    assert_eq!(history.next_cursor, None);

    // Resubmitting a mined transaction names the rule and the nonce to use.
    let (code, message, data) = code(c.tx_submit(tx).await.unwrap_err());
    assert_eq!(code, tern_rpc::error::TX_REJECTED, "{message}");
    let data = data.unwrap();
    assert_eq!(
        (data["reason"].as_str(), data["expected"].as_u64()),
        (Some("nonce_too_low"), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_signatures_of_one_transfer_are_one_transaction_with_one_id() {
    let node = node("dev", true).await;
    let c = &node.client;
    let (alice, bob) = (dev_secret_key(0), dev_secret_key(1));
    let tx = Transaction {
        chain_id: node.spec.consensus.chain_id,
        from: alice.address(),
        to: bob.address(),
        amount: Amount::from_base_units(25_000),
        fee: Amount::from_base_units(1_000),
        nonce: 0,
    };
    let first = tx.sign(&alice);
    let second = SignedTransaction::new(
        tx,
        alice
            .sign_with_shifted_nonce(&tx.signing_message(), 3)
            .unwrap(),
    );
    assert_ne!(first.signed_hash(), second.signed_hash());
    let id = c
        .tx_submit(hex::encode(encoding::encode(&first)))
        .await
        .unwrap();
    assert_eq!(id, tx.id().to_string(), "the id is known before signing");

    // The second valid encoding is the same transaction: refused as known, same id.
    let (code_, _, data) = code(
        c.tx_submit(hex::encode(encoding::encode(&second)))
            .await
            .unwrap_err(),
    );
    assert_eq!(code_, tern_rpc::error::TX_REJECTED);
    assert_eq!(data.unwrap()["reason"], "already_known");
    // A pending id is known whatever signature comes with it; a new transfer whose
    // signature is broken names the rule it broke.
    let next = Transaction { nonce: 1, ..tx };
    let mut broken = *next.sign(&alice).signature().as_bytes();
    broken[40] ^= 1;
    let broken = SignedTransaction::new(next, tern_core::crypto::Signature::from_bytes(broken));
    let (_, _, data) = code(
        c.tx_submit(hex::encode(encoding::encode(&broken)))
            .await
            .unwrap_err(),
    );
    let data = data.unwrap();
    assert_eq!(
        (data["reason"].as_str(), data["rule"].as_str()),
        (Some("bad_signature"), Some("mismatch"))
    );

    // The first one seen is what waits and what is mined.
    let signed_hash = first.signed_hash().to_string();
    match c.tx_get(id.clone()).await.unwrap() {
        TxStatus::Pending { transaction } => assert_eq!(transaction.signed_hash, signed_hash),
        other => panic!("not pending: {other:?}"),
    }
    c.dev_mine(1, Some(address(&node, &dev_secret_key(9))))
        .await
        .unwrap();
    match c.tx_get(id).await.unwrap() {
        TxStatus::Confirmed { transaction, .. } => {
            assert_eq!(transaction.signed_hash, signed_hash)
        }
        other => panic!("not confirmed: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_and_bad_params_are_explained() {
    let node = node("dev", true).await;
    let c = &node.client;
    let (alice, bob) = (dev_secret_key(0), dev_secret_key(1));
    let (cheap, _) = signed_hex(&node, &alice, &bob, 1, 1, 0);
    let (code_, _, data) = code(c.tx_submit(cheap).await.unwrap_err());
    assert_eq!(code_, tern_rpc::error::TX_REJECTED);
    assert_eq!(data.as_ref().unwrap()["reason"], "fee_too_low");
    assert_eq!(data.unwrap()["minimum"], "156");

    let (code_, message, data) = code(c.account_get("tdev1notanaddress".into()).await.unwrap_err());
    assert_eq!(code_, -32602);
    assert!(message.contains("address"), "{message}");
    assert_eq!(data.unwrap()["field"], "address");
    let (code_, _, data) = code(c.tx_get("xyz".into()).await.unwrap_err());
    assert_eq!(
        (code_, data.unwrap()["field"].as_str()),
        (-32602, Some("txid"))
    );
    let (code_, _, _) = code(c.tx_submit("zz".into()).await.unwrap_err());
    assert_eq!(code_, -32602);
    // An odd number of hex digits is the caller's parameter error, not a short buffer.
    let (code_, _, data) = code(c.tx_submit("0xabc".into()).await.unwrap_err());
    assert_eq!(
        (code_, data.unwrap()["field"].as_str()),
        (-32602, Some("transaction"))
    );
    let (code_, _, data) = code(c.tx_submit("00".into()).await.unwrap_err());
    assert_eq!(
        (code_, data.unwrap()["reason"].as_str()),
        (tern_rpc::error::TX_REJECTED, Some("malformed"))
    );
    let (code_, _, _) = code(
        c.account_history(address(&node, &alice), Some("1:x".into()), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(code_, -32602);
    let (code_, _, _) = code(
        c.account_history(address(&node, &alice), None, Some(101))
            .await
            .unwrap_err(),
    );
    assert_eq!(code_, -32602);
    let (code_, _, _) = code(
        ClientT::request::<serde_json::Value, _>(c, "chain_getBlockHash", rpc_params!["one"])
            .await
            .unwrap_err(),
    );
    assert_eq!(code_, -32602);
    let (code_, _, _) = code(
        ClientT::request::<serde_json::Value, _>(c, "no_such_method", rpc_params![])
            .await
            .unwrap_err(),
    );
    assert_eq!(code_, -32601);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_methods_need_admin_access_and_dev_chains() {
    let public = node("dev", false).await;
    let (code_, message, _) = code(public.client.dev_mine(1, None).await.unwrap_err());
    assert_eq!(code_, 1005, "admin methods need the token: {message}");
    assert!(message.contains(".cookie"), "{message}");

    // The token from the cookie file opens them, as a bearer token or as basic auth.
    let token = tern_rpc::access::read_cookie(&public._dir.path().join(".cookie")).unwrap();
    let reward = address(&public, &dev_secret_key(0));
    for header in [
        format!("Bearer {token}"),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("__cookie__:{token}"))
        ),
    ] {
        let mut headers = jsonrpsee::http_client::HeaderMap::new();
        headers.insert("authorization", header.parse().unwrap());
        let admin = HttpClientBuilder::default()
            .set_headers(headers)
            .build(format!("http://{}", public.rpc_addr))
            .unwrap();
        assert_eq!(
            admin.dev_mine(1, Some(reward.clone())).await.unwrap().len(),
            1
        );
    }
    let mut headers = jsonrpsee::http_client::HeaderMap::new();
    headers.insert("authorization", "Bearer wrong".parse().unwrap());
    let wrong = HttpClientBuilder::default()
        .set_headers(headers)
        .build(format!("http://{}", public.rpc_addr))
        .unwrap();
    let (code_, _, _) = code(wrong.miner_status().await.unwrap_err());
    assert_eq!(code_, 1005);
    let testnet = node("testnet", true).await;
    let reward = address(&testnet, &dev_secret_key(0));
    let (code_, _, _) = code(
        testnet
            .client
            .dev_mine(1, Some(reward.clone()))
            .await
            .unwrap_err(),
    );
    assert_eq!(code_, tern_rpc::error::DEV_MINING_DISABLED);
    assert!(!testnet.client.miner_stop().await.unwrap().running);
}

/// `miner_start` takes what `--mine-threads` takes. It used to start hundreds of OS
/// threads for 1,000 and panic a task for 2^64-1, after which the miner found no blocks
/// even with one thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miner_start_takes_exactly_the_thread_counts_the_cli_takes() {
    let node = node("dev", true).await;
    let reward = address(&node, &dev_secret_key(0));
    for threads in [0, 257, 1_000, usize::MAX] {
        let error = node
            .client
            .miner_start(reward.clone(), Some(threads))
            .await
            .unwrap_err();
        let (code_, message, data) = code(error);
        assert_eq!(code_, -32602, "{threads}: {message}");
        assert_eq!(data.unwrap()["field"], "threads", "{message}");
        assert!(!node.client.miner_status().await.unwrap().running);
    }
    let status = node
        .client
        .miner_start(reward.clone(), Some(1))
        .await
        .unwrap();
    assert!(status.running);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while node.client.miner_status().await.unwrap().blocks_found == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the miner found nothing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!node.client.miner_stop().await.unwrap().running);
}

/// With `--rpc-admin` on loopback, as the testnet and the docs run it, a page in the
/// developer's browser could mine, ban peers and start miners: a WebSocket from a foreign
/// origin, or a request under a rebound host name, was served. Both are refused before
/// any method runs; loopback pages and tools without an `Origin` still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_web_pages_and_rebound_host_names_cannot_drive_the_node() {
    let node = node("dev", true).await;
    let addr = node.rpc_addr;
    let height = || async { node.client.chain_info().await.unwrap().height };
    let before = height().await;

    assert!(ws_from(&node, "https://evil.example").await.is_err());
    let refused = raw_http(
        addr,
        &handshake(addr, &addr.to_string(), "https://evil.example"),
    )
    .await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(
        refused.contains("--rpc-allow-origin https://evil.example"),
        "{refused}"
    );
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"dev_mine","params":[1]}"#;
    let post = |host: String, origin: &str| {
        format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nContent-Type: \
             application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let refused = raw_http(addr, &post(addr.to_string(), "https://evil.example")).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    // DNS rebinding: the page's own name, resolved to 127.0.0.1, so same-origin.
    let rebound = format!("evil.example:{}", addr.port());
    let refused = raw_http(addr, &post(rebound.clone(), &format!("http://{rebound}"))).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(
        refused.contains("--rpc-allow-host evil.example"),
        "{refused}"
    );
    assert_eq!(height().await, before, "a refused request mined");

    // A page on a local dev server, and the node's own origin, may call.
    let reward = Some(address(&node, &dev_secret_key(0)));
    let local = ws_from(&node, "http://localhost:3000").await.unwrap();
    assert_eq!(local.dev_mine(1, reward.clone()).await.unwrap().len(), 1);
    let own = ws_from(&node, &format!("http://{addr}")).await.unwrap();
    assert_eq!(own.dev_mine(1, reward).await.unwrap().len(), 1);
    assert_eq!(height().await, before + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_allows_more_hosts_and_origins() {
    let node = node_with(
        "dev",
        RpcConfig {
            admin: true,
            callers: tern_rpc::callers::AllowedCallers {
                hosts: vec!["node.lan".into()],
                origins: vec!["https://wallet.example".into()],
            },
            ..RpcConfig::default()
        },
    )
    .await;
    let addr = node.rpc_addr;
    let reward = Some(address(&node, &dev_secret_key(0)));
    let wallet = ws_from(&node, "https://wallet.example").await.unwrap();
    assert_eq!(wallet.dev_mine(1, reward).await.unwrap().len(), 1);
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"chain_info","params":[]}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: node.lan:{}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        addr.port(),
        body.len()
    );
    let answer = raw_http(addr, &request).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(ws_from(&node, "https://other.example").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_get_their_json_rpc_codes() {
    let node = node("dev", false).await;
    let addr = node.rpc_addr;
    assert!(raw_post(addr, "{not json").await.contains("-32700"));
    assert!(raw_post(addr, r#"{"jsonrpc":"2.0","id":1}"#)
        .await
        .contains("-32600"));
    assert!(
        raw_post(addr, r#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#)
            .await
            .contains("-32601")
    );
    assert!(raw_post(
        addr,
        r#"{"jsonrpc":"2.0","id":1,"method":"chain_getBlockHash","params":[-1]}"#
    )
    .await
    .contains("-32602"));
    let ok = raw_post(
        addr,
        r#"{"jsonrpc":"2.0","id":1,"method":"chain_info","params":[]}"#,
    )
    .await;
    assert!(ok.contains("\"genesisHash\""), "{ok}");
}

/// Every example of the JSON-RPC 2.0 specification's section 7, against a real node, with
/// the specification's made-up methods (`subtract`, `sum`, `update`) replaced by real
/// ones where the example needs a method that exists. jsonrpsee alone dropped
/// notifications unrun and answered `null`, dropped a fractional id, answered `null` to
/// a forbidden id and -32700 or -32602 to invalid requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_of_the_specification_gets_the_specifications_answer() {
    use serde_json::{json, Value};
    let node = node("dev", false).await;
    let addr = node.rpc_addr;
    let genesis = node.client.chain_info().await.unwrap().genesis_hash;
    let code = |answer: &Value| answer["error"]["code"].as_i64().unwrap_or(0);

    // rpc call with positional parameters, and with named parameters.
    let (status, answer) = post(
        addr,
        r#"{"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": [0], "id": 1}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "result": genesis, "id": 1})
    );
    let (_, answer) = post(
        addr,
        r#"{"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": {"height": 0}, "id": 3}"#,
    )
    .await;
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "result": genesis, "id": 3})
    );

    // a Notification: run, and nothing returned, for a method that does not exist too.
    let (from, to) = (dev_secret_key(1), dev_secret_key(2));
    let (tx, id) = signed_hex(&node, &from, &to, 5, 1_000, 0);
    let notification = json!({"jsonrpc": "2.0", "method": "tx_submit", "params": [tx]});
    assert_eq!(
        post(addr, &notification.to_string()).await,
        (204, Value::Null)
    );
    let status = node.client.tx_get(id.clone()).await.unwrap();
    assert!(
        matches!(status, TxStatus::Pending { .. }),
        "the notification did not run: {status:?}"
    );
    let (status, _) = post(
        addr,
        r#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#,
    )
    .await;
    assert_eq!(status, 204);

    // rpc call of non-existent method.
    let (_, answer) = post(addr, r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#).await;
    assert_eq!((code(&answer), &answer["id"]), (-32601, &json!("1")));

    // rpc call with invalid JSON.
    let (_, answer) = post(
        addr,
        r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#,
    )
    .await;
    assert_eq!((code(&answer), &answer["id"]), (-32700, &Value::Null));

    // rpc call with invalid Request object.
    let (_, answer) = post(addr, r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#).await;
    assert_eq!((code(&answer), &answer["id"]), (-32600, &Value::Null));

    // rpc call Batch, invalid JSON.
    let (_, answer) = post(
        addr,
        r#"[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"}, {"jsonrpc": "2.0", "method"]"#,
    )
    .await;
    assert_eq!((code(&answer), &answer["id"]), (-32700, &Value::Null));

    // rpc call with an empty Array.
    let (_, answer) = post(addr, "[]").await;
    assert_eq!((code(&answer), &answer["id"]), (-32600, &Value::Null));

    // rpc call with an invalid Batch (but not empty), and with invalid Batch.
    for (body, count) in [("[1]", 1), ("[1,2,3]", 3)] {
        let (_, answer) = post(addr, body).await;
        let answers = answer
            .as_array()
            .unwrap_or_else(|| panic!("{body}: {answer}"));
        assert_eq!(answers.len(), count, "{body}");
        assert!(
            answers
                .iter()
                .all(|a| code(a) == -32600 && a["id"].is_null()),
            "{answer}"
        );
    }

    // rpc call Batch.
    let (_, answer) = post(
        addr,
        r#"[
            {"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": [0], "id": "1"},
            {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
            {"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": [0], "id": "2"},
            {"foo": "boo"},
            {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
            {"jsonrpc": "2.0", "method": "mempool_info", "id": "9"}
        ]"#,
    )
    .await;
    let answers = answer.as_array().unwrap_or_else(|| panic!("{answer}"));
    let ids: Vec<&Value> = answers.iter().map(|a| &a["id"]).collect();
    assert_eq!(
        ids,
        [
            &json!("1"),
            &json!("2"),
            &Value::Null,
            &json!("5"),
            &json!("9")
        ]
    );
    assert_eq!(answers[0]["result"], json!(genesis));
    assert_eq!(code(&answers[2]), -32600);
    assert_eq!(code(&answers[3]), -32601);
    assert_eq!(answers[4]["result"]["count"], 1, "{answer}");

    // rpc call Batch (all notifications).
    let (status, answer) = post(
        addr,
        r#"[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]}, {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]"#,
    )
    .await;
    assert_eq!((status, answer), (204, Value::Null));

    // Ids: a fraction is allowed and comes back as it was; an object, an array or a
    // boolean is forbidden.
    let (_, answer) = post(
        addr,
        r#"{"jsonrpc": "2.0", "method": "mempool_info", "id": 1.5}"#,
    )
    .await;
    assert_eq!(answer["id"], json!(1.5), "{answer}");
    for id in ["{}", "[1]", "true"] {
        let body = format!(r#"{{"jsonrpc": "2.0", "method": "mempool_info", "id": {id}}}"#);
        let (_, answer) = post(addr, &body).await;
        assert_eq!(
            (code(&answer), &answer["id"]),
            (-32600, &Value::Null),
            "{id}"
        );
    }
    // params that are neither an array nor an object; a body that is not a request.
    for body in [
        r#"{"jsonrpc": "2.0", "method": "chain_info", "params": "bar", "id": 1}"#,
        r#"{"jsonrpc": "2.0", "method": "chain_info", "params": 7, "id": 1}"#,
        r#""a string""#,
        "null",
    ] {
        let (_, answer) = post(addr, body).await;
        assert_eq!(code(&answer), -32600, "{body}: {answer}");
    }
    // A subscription over HTTP says what it needs.
    let (_, answer) = post(
        addr,
        r#"{"jsonrpc": "2.0", "method": "chain_subscribeHeads", "id": 4}"#,
    )
    .await;
    assert_eq!(
        code(&answer),
        i64::from(tern_rpc::error::SUBSCRIPTION_NEEDS_WEBSOCKET)
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("WebSocket"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_subscriber_disconnected_during_a_reorg_resumes_and_sees_every_event_once() {
    use jsonrpsee::ws_client::WsClientBuilder;
    use tern_core::testkit::ChainBuilder;
    use tern_rpc::heads::{HeadEvent, HeadKind, ResumeFrom};

    let node = node("dev", true).await;
    let url = format!("ws://{}", node.rpc_addr);
    let reward = address(&node, &dev_secret_key(9));

    let ws = WsClientBuilder::default().build(&url).await.unwrap();
    let mut heads = ws.chain_subscribe_heads(None).await.unwrap();
    node.client.dev_mine(3, Some(reward.clone())).await.unwrap();
    let mut seen: Vec<HeadEvent> = Vec::new();
    for _ in 0..3 {
        seen.push(heads.next().await.unwrap().unwrap());
    }
    assert_eq!(
        seen.iter()
            .map(|e| (e.seq, e.kind, e.header.height))
            .collect::<Vec<_>>(),
        [
            (1, HeadKind::Connect, 1),
            (2, HeadKind::Connect, 2),
            (3, HeadKind::Connect, 3)
        ]
    );
    let epoch = seen[0].epoch;
    drop(heads);
    drop(ws);

    // While the client is away: a heavier branch from genesis takes over, then one more block.
    let mut builder = ChainBuilder::new(node.spec.clone());
    let genesis = builder.genesis();
    let branch = builder.extend(&genesis, 4, &[], 0, dev_secret_key(8).address());
    for block in &branch {
        node.chain.submit_block(block.clone()).await.unwrap();
    }
    assert_eq!(node.chain.tip().hash, branch[3].hash());
    node.client.dev_mine(1, Some(reward)).await.unwrap();

    let ws = WsClientBuilder::default().build(&url).await.unwrap();
    let mut heads = ws
        .chain_subscribe_heads(Some(ResumeFrom { epoch, seq: 3 }))
        .await
        .unwrap();
    let mut resumed = Vec::new();
    for _ in 0..8 {
        resumed.push(heads.next().await.unwrap().unwrap());
    }
    let got: Vec<(u64, HeadKind, u64)> = resumed
        .iter()
        .map(|e| (e.seq, e.kind, e.header.height))
        .collect();
    assert_eq!(
        got,
        [
            (4, HeadKind::Disconnect, 3),
            (5, HeadKind::Disconnect, 2),
            (6, HeadKind::Disconnect, 1),
            (7, HeadKind::Connect, 1),
            (8, HeadKind::Connect, 2),
            (9, HeadKind::Connect, 3),
            (10, HeadKind::Connect, 4),
            (11, HeadKind::Connect, 5),
        ]
    );
    for (event, block) in resumed[3..7].iter().zip(&branch) {
        assert_eq!(event.header.hash, block.hash().to_string());
    }

    // A resume point the node cannot serve is an error, never a silent gap.
    let stale = ws
        .chain_subscribe_heads(Some(ResumeFrom {
            epoch: epoch + 1,
            seq: 3,
        }))
        .await;
    assert!(
        matches!(stale, Err(ClientError::Call(e)) if e.code() == tern_rpc::error::RESYNC_NEEDED)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_status_subscription_follows_it_to_n_confirmations() {
    use jsonrpsee::ws_client::WsClientBuilder;
    let node = node("dev", true).await;
    let ws = WsClientBuilder::default()
        .build(format!("ws://{}", node.rpc_addr))
        .await
        .unwrap();
    let (tx, id) = signed_hex(&node, &dev_secret_key(3), &dev_secret_key(4), 10, 1_000, 0);
    let mut status = ws.tx_subscribe_status(id.clone(), Some(2)).await.unwrap();
    assert_eq!(status.next().await.unwrap().unwrap(), TxStatus::Unknown);
    node.client.tx_submit(tx).await.unwrap();
    assert!(matches!(
        status.next().await.unwrap().unwrap(),
        TxStatus::Pending { .. }
    ));
    let reward = address(&node, &dev_secret_key(9));
    node.client.dev_mine(1, Some(reward.clone())).await.unwrap();
    assert!(matches!(
        status.next().await.unwrap().unwrap(),
        TxStatus::Confirmed {
            confirmations: 1,
            ..
        }
    ));
    node.client.dev_mine(1, Some(reward)).await.unwrap();
    assert!(matches!(
        status.next().await.unwrap().unwrap(),
        TxStatus::Confirmed {
            confirmations: 2,
            ..
        }
    ));
    let bad = ws.tx_subscribe_status(id, Some(0)).await;
    assert!(matches!(bad, Err(ClientError::Call(e)) if e.code() == -32602));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_methods_over_rpc() {
    use tern_rpc::net::{TernNetAdminApiClient, TernNetApiClient};
    let a = node("dev", true).await;
    let b = node("dev", true).await;
    let health = a.client.node_health().await.unwrap();
    assert_eq!(health.status, "no_peers", "{health:?}");

    let b_info = b.client.net_info().await.unwrap();
    let b_listen = b_info.listen_address.clone().unwrap();
    a.client.net_add_peer(b_listen.clone()).await.unwrap();
    let mut peers = Vec::new();
    for _ in 0..500 {
        peers = a.client.net_peers().await.unwrap();
        if !peers.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].node_id, b_info.node_id);
    assert_eq!(peers[0].direction, "outbound");
    assert_eq!(peers[0].listen_address.as_deref(), Some(b_listen.as_str()));
    let info = a.client.net_info().await.unwrap();
    assert_eq!((info.inbound, info.outbound), (0, 1));
    assert_eq!(a.client.node_health().await.unwrap().status, "ok");

    // Ban B by id: it is disconnected and listed; unban lifts it.
    let closed = a
        .client
        .net_ban(b_info.node_id.clone(), Some(60))
        .await
        .unwrap();
    assert_eq!(closed, 1);
    let bans = a.client.net_bans().await.unwrap();
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].target, b_info.node_id);
    assert!(a.client.net_unban(b_info.node_id.clone()).await.unwrap());
    assert!(!a.client.net_unban(b_info.node_id.clone()).await.unwrap());
    assert!(a.client.net_bans().await.unwrap().is_empty());

    // Bad input names the field.
    let (status, message, _) = code(a.client.net_ban("nonsense".into(), None).await.unwrap_err());
    assert_eq!(status, -32602);
    assert!(message.contains("target"), "{message}");
    let (status, message, _) = code(
        a.client
            .net_ban(b_info.node_id.clone(), Some(0))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, -32602);
    assert!(message.contains("durationSecs"), "{message}");
    let (status, message, _) = code(
        a.client
            .net_add_peer("no-such-host.invalid:1".into())
            .await
            .unwrap_err(),
    );
    assert_eq!(status, -32602);
    assert!(message.contains("address"), "{message}");

    // Without admin access the admin network methods refuse.
    let public = node("dev", false).await;
    let (status, _, _) = code(public.client.net_bans().await.unwrap_err());
    assert_eq!(status, 1005);
    public.client.net_info().await.unwrap();
}

/// Random JSON for a parameter: every type, the boundaries of numbers, and strings shaped
/// like what methods take (hashes, addresses, hex transactions), nested a little.
fn any_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![Just(u64::MAX), Just(0), Just(1), Just(100), Just(101)].prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,80}".prop_map(Value::String),
        "[0-9a-f]{64}".prop_map(Value::String),
        "[0-9a-fA-F]{0,400}".prop_map(Value::String),
        "tdev1[02-9ac-hj-np-z]{0,70}".prop_map(Value::String),
        Just(Value::String(
            "tdev1du06gkyu77jv6nhv5uws956q5spy4s73jjn63jjhtmq3c39jp8csc3daec".into()
        )),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Fuzzing every public method's parameters: random values of every type, as an array, an
/// object or a bare value. Each call must be answered, never with -32603 (the node
/// failing) or a parse error, an invalid parameter must be named in `data.field`, and
/// the node must stay healthy.
#[test]
fn random_parameters_for_every_method_are_answered_with_a_typed_error_or_a_result() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let node = runtime.block_on(node("dev", false));
    let methods = tern_rpc::openrpc::method_names(false);
    let params = prop_oneof![
        4 => proptest::collection::vec(any_json(), 0..5).prop_map(serde_json::Value::Array),
        1 => proptest::collection::btree_map("[a-zA-Z]{1,12}", any_json(), 0..4)
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        1 => any_json(),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    });
    let cases = (proptest::sample::select(methods), params);
    runner
        .run(&cases, |(method, params)| {
            let body =
                serde_json::json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
            let (status, answer) = runtime.block_on(async {
                tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    post(node.rpc_addr, &body.to_string()),
                )
                .await
                .expect("no answer within 10 s")
            });
            prop_assert_eq!(status, 200, "{}: {}", body, answer);
            let code = answer["error"]["code"].as_i64();
            prop_assert!(
                !matches!(code, Some(-32603 | -32700)),
                "{} answered {}",
                body,
                answer
            );
            prop_assert!(
                answer.get("result").is_some() || code.is_some(),
                "{}: {}",
                body,
                answer
            );
            if code == Some(-32602) {
                let field = answer["error"]["data"]["field"].as_str();
                prop_assert!(field.is_some(), "{} named no field: {}", body, answer);
            }
            Ok(())
        })
        .unwrap();
    let healthy = runtime.block_on(node.client.chain_info());
    assert!(healthy.is_ok(), "{healthy:?}");
    // The node stops inside the runtime it runs on.
    runtime.block_on(async move { drop(node) });
}
