//! The JSON-RPC server against a real node: every method through the generated client, and
//! each JSON-RPC error code through raw requests.

use crate::support;

#[path = "rpc/connections.rs"]
mod connections;
#[path = "rpc/docs.rs"]
mod docs;
#[path = "rpc/eviction.rs"]
mod eviction;
#[path = "rpc/lifecycle.rs"]
mod lifecycle;
#[path = "rpc/network.rs"]
mod network;
#[path = "rpc/proofs.rs"]
mod proofs;
#[path = "rpc/random_params.rs"]
mod random_params;
#[path = "rpc/raw.rs"]
mod raw;
#[path = "rpc/specification.rs"]
mod specification;
#[path = "rpc/subscriptions.rs"]
mod subscriptions;
#[path = "rpc/websocket.rs"]
mod websocket;

use base64::Engine as _;
use jsonrpsee::core::client::{ClientT, Error as ClientError};
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use tern_chain::crypto::{dev_secret_key, SecretKey};
use tern_chain::encoding;
use tern_chain::genesis::ChainSpec;
use tern_chain::tx::{SignedTransaction, Transaction};
use tern_chain::types::Amount;
use tern_node::service::{Node, NodeConfig};
use tern_rpc::chain::TernApiClient;
use tern_rpc::chain::{BlockId, BlockTransactions, TxStatus};
use tern_rpc::mining::TernAdminApiClient;
use tern_rpc::server::RpcConfig;

use raw::*;

struct TestNode {
    client: HttpClient,
    rpc_addr: std::net::SocketAddr,
    spec: ChainSpec,
    chain: tern_state::chain::ChainHandle,
    /// Dropping the node stops it and closes its store.
    node: Node,
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
    node_on(ChainSpec::resolve(chain).unwrap(), rpc).await
}

/// A node of chain `spec` serving `rpc` on a free loopback port.
async fn node_on(spec: ChainSpec, rpc: RpcConfig) -> TestNode {
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
        node,
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
    // An address written in upper case is answered in its canonical lower-case form.
    let shouted = c
        .account_get(address(&node, &alice).to_uppercase())
        .await
        .unwrap();
    assert_eq!(shouted.address, address(&node, &alice));
    assert_eq!(shouted.pending_nonce, 1);
    let pool = c.mempool_info().await.unwrap();
    assert_eq!(pool.count, 1);
    let listed = c.mempool_list(Some(10), None).await.unwrap();
    assert_eq!(
        (listed[0].txid.as_str(), listed[0].fee.as_str()),
        (id.as_str(), "1000")
    );
    assert_eq!(
        (listed[0].recipient.as_str(), listed[0].amount.as_str()),
        (address(&node, &bob).as_str(), "25000")
    );
    // Both ends of the transfer see it; a third address sees nothing.
    for end in [&alice, &bob] {
        let touching = c
            .mempool_list(None, Some(address(&node, end)))
            .await
            .unwrap();
        assert_eq!(touching.len(), 1);
        assert_eq!(touching[0].txid, id);
    }
    let stranger = address(&node, &dev_secret_key(7));
    assert!(c
        .mempool_list(None, Some(stranger))
        .await
        .unwrap()
        .is_empty());
    let histogram = pool.fee_histogram;
    assert_eq!(histogram.len(), 1);
    assert_eq!(
        (histogram[0].min_fee.as_str(), histogram[0].max_fee.as_str()),
        ("512", "1023")
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
    // Work, fees and reward: the dev chain's target takes 256 hashes, its reward is
    // 5,000,000,000 base units, and the block carries the one transfer's 1,000 fee.
    assert_eq!(
        (by_height.work.as_str(), by_height.cumulative_work.as_str()),
        ("256", "512")
    );
    assert_eq!(
        (by_height.fees.as_str(), by_height.miner_reward.as_str()),
        ("1000", "5000001000")
    );
    assert!(by_height.canonical);
    let genesis = c
        .chain_get_block(BlockId::Height(0), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(genesis.miner_reward, "0");
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
    // Another encoding of the pending transfer whose signature does not verify is a bad
    // signature, not "already pending" (a broken signer must hear so).
    let mut forged = *first.signature().as_bytes();
    forged[40] ^= 1;
    let forged = SignedTransaction::new(tx, tern_chain::crypto::Signature::from_bytes(forged));
    let (_, _, data) = code(
        c.tx_submit(hex::encode(encoding::encode(&forged)))
            .await
            .unwrap_err(),
    );
    assert_eq!(data.unwrap()["reason"], "bad_signature");
    // So is a new transfer whose signature is broken, naming the rule it broke.
    let next = Transaction { nonce: 1, ..tx };
    let mut broken = *next.sign(&alice).signature().as_bytes();
    broken[40] ^= 1;
    let broken = SignedTransaction::new(next, tern_chain::crypto::Signature::from_bytes(broken));
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
        TxStatus::Pending { transaction, .. } => assert_eq!(transaction.signed_hash, signed_hash),
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

    // More than the sender has: both figures, and their unit.
    let poor = dev_secret_key(77);
    let (broke, _) = signed_hex(&node, &poor, &bob, 25_000, 1_000, 0);
    let (code_, message, data) = code(c.tx_submit(broke).await.unwrap_err());
    assert_eq!(code_, tern_rpc::error::TX_REJECTED);
    assert_eq!(
        data.unwrap(),
        serde_json::json!({"reason": "insufficient_funds", "available": "0", "needed": "26000", "unit": "base_units"})
    );
    assert!(
        message.contains("0 base units") && message.contains("26000 base units"),
        "{message}"
    );

    // A recipient no one could sign for: the amount would be burnt, so it is refused.
    let small_order = tern_chain::types::Address::from_bytes([0; 32]);
    let burn = Transaction {
        chain_id: node.spec.consensus.chain_id,
        from: alice.address(),
        to: small_order,
        amount: Amount::from_base_units(5),
        fee: Amount::from_base_units(1_000),
        nonce: 0,
    }
    .sign(&alice);
    let (code_, message, data) = code(
        c.tx_submit(hex::encode(encoding::encode(&burn)))
            .await
            .unwrap_err(),
    );
    assert_eq!(code_, tern_rpc::error::TX_REJECTED);
    assert_eq!(
        data.unwrap(),
        serde_json::json!({"reason": "recipient_not_a_key", "rule": "small_order"})
    );
    assert!(message.contains("would be lost"), "{message}");

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
    let token = tern_rpc::server::access::read_cookie(&public._dir.path().join(".cookie")).unwrap();
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
        assert!(discovered(&admin).await.contains(&"dev_mine".to_owned()));
    }
    // A caller without the token is shown only what it may call.
    let shown = discovered(&public.client).await;
    assert!(shown.contains(&"chain_info".to_owned()), "{shown:?}");
    assert!(
        !shown
            .iter()
            .any(|m| m == "dev_mine" || m.starts_with("miner_") || m == "net_ban"),
        "{shown:?}"
    );
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

/// `dev_mine` beyond the blocks one call may mine is a bad `count`, not a chain without
/// on-demand mining: it used to answer 1002, which sends a developer to the chain spec.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mine_beyond_its_bound_names_count() {
    let node = node("dev", true).await;
    let reward = address(&node, &dev_secret_key(0));
    let error = node
        .client
        .dev_mine(10_001, Some(reward.clone()))
        .await
        .unwrap_err();
    let (code_, message, data) = code(error);
    assert_eq!(code_, -32602, "{message}");
    assert_eq!(data.unwrap()["field"], "count", "{message}");
    assert!(message.contains("10000"), "{message}");
    assert_eq!(
        node.client.dev_mine(1, Some(reward)).await.unwrap().len(),
        1
    );
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
            callers: tern_rpc::server::callers::AllowedCallers {
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

/// The method names `rpc.discover` lists to `client`.
async fn discovered(client: &HttpClient) -> Vec<String> {
    let document = client.rpc_discover().await.unwrap();
    document["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect()
}
