//! The built-in explorer in a real browser (headless Chromium over WebDriver), against a
//! real node with a few blocks and transfers: what a person would check, page by page.
//! Screenshots of each page land in the tests' output directory.

use std::time::Duration;

use fantoccini::Locator;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use tern_chain::crypto::{dev_secret_key, SecretKey};
use tern_chain::encoding;
use tern_chain::genesis::ChainSpec;
use tern_chain::tx::Transaction;
use tern_chain::types::Amount;
use tern_node::service::{Node, NodeConfig};
use tern_rpc::chain::TernApiClient;
use tern_rpc::mining::TernAdminApiClient;
use tern_rpc::server::RpcConfig;

use crate::support::browser::{wait_for_text, Browser, PAGE_PATIENCE};

/// A transfer shows on its address page as pending this soon after the pool takes it,
/// without a reload (the bound; every other wait is [`PAGE_PATIENCE`]).
const PENDING_WITHIN: Duration = Duration::from_secs(1);

struct ExplorerNode {
    client: HttpClient,
    url: String,
    spec: ChainSpec,
    _node: Node,
    _dir: tempfile::TempDir,
}

async fn explorer_node() -> ExplorerNode {
    let dir = tempfile::tempdir().unwrap();
    let spec = ChainSpec::resolve("dev").unwrap();
    let mut config = NodeConfig::new(spec.clone(), dir.path().to_path_buf());
    config.p2p.listen = Some("127.0.0.1:0".parse().unwrap());
    config.rpc = Some(RpcConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        admin: true,
        explorer: true,
        ..RpcConfig::default()
    });
    let node = Node::start(config).await.unwrap();
    let rpc = node.rpc_addr().unwrap();
    ExplorerNode {
        client: HttpClientBuilder::default()
            .build(format!("http://{rpc}"))
            .unwrap(),
        url: format!("http://{rpc}/explorer/"),
        spec,
        _node: node,
        _dir: dir,
    }
}

impl ExplorerNode {
    fn address(&self, key: &SecretKey) -> String {
        self.spec.format_address(&key.address())
    }

    /// Submits a transfer of `amount` from `from` to `to` with `nonce`; its id.
    async fn transfer(&self, from: &SecretKey, to: &SecretKey, amount: u64, nonce: u64) -> String {
        let tx = Transaction {
            chain_id: self.spec.consensus.chain_id,
            from: from.address(),
            to: to.address(),
            amount: Amount::from_base_units(amount),
            fee: Amount::from_base_units(1_000),
            nonce,
        }
        .sign(from);
        let hex = hex::encode(encoding::encode(&tx));
        self.client.tx_submit(hex).await.unwrap()
    }
}

/// Types `query` into the search box and submits it.
async fn search(browser: &Browser, query: &str) {
    let input = browser
        .client
        .find(Locator::Css("#search input[name=q]"))
        .await
        .unwrap();
    input.clear().await.unwrap();
    input.send_keys(query).await.unwrap();
    browser
        .client
        .find(Locator::Css("#search button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn current_hash(browser: &Browser) -> String {
    browser
        .client
        .current_url()
        .await
        .unwrap()
        .fragment()
        .unwrap_or_default()
        .to_owned()
}

async fn assert_no_errors(browser: &Browser, page: &str) {
    assert_eq!(
        browser.page_errors().await,
        Vec::<String>::new(),
        "errors on the {page} page"
    );
    assert_eq!(
        browser.log_problems().await,
        Vec::<String>::new(),
        "browser log on the {page} page"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_shows_the_chain_live_and_search_finds_each_kind_of_thing() {
    let node = explorer_node().await;
    let (alice, bob) = (dev_secret_key(0), dev_secret_key(1));
    let first = node.transfer(&alice, &bob, 25_000, 0).await;
    let hashes = node.client.dev_mine(3, None).await.unwrap();
    let browser = Browser::start().await;

    // The chain page: the tip height the node has.
    browser.client.goto(&node.url).await.unwrap();
    let height = node.client.chain_info().await.unwrap().height;
    wait_for_text(&browser, "#tip-height", PAGE_PATIENCE, |t| {
        t == height.to_string()
    })
    .await;
    // Live: a new block shows without a reload.
    browser
        .client
        .execute("window.notReloaded = true;", vec![])
        .await
        .unwrap();
    node.client.dev_mine(1, None).await.unwrap();
    wait_for_text(&browser, "#tip-height", PAGE_PATIENCE, |t| {
        t == (height + 1).to_string()
    })
    .await;
    wait_for_text(&browser, "#recent-blocks", PAGE_PATIENCE, |t| {
        t.contains(&(height + 1).to_string())
    })
    .await;
    browser.screenshot("chain").await;

    // Search by height: the block page, with the block's hash and its transfer.
    search(&browser, "1").await;
    wait_for_text(&browser, "#block-hash", PAGE_PATIENCE, |t| t == hashes[0]).await;
    assert_eq!(current_hash(&browser).await, "/block/1");
    wait_for_text(&browser, "#block-transactions", PAGE_PATIENCE, |t| {
        t.contains(&first[..10])
    })
    .await;
    wait_for_text(&browser, "#confirmations", PAGE_PATIENCE, |t| t == "4").await;
    browser.screenshot("block").await;

    // Search by block hash and by transaction id.
    search(&browser, &hashes[1]).await;
    wait_for_text(&browser, "#block-hash", PAGE_PATIENCE, |t| t == hashes[1]).await;
    search(&browser, &first).await;
    let status = wait_for_text(&browser, "#tx-status", PAGE_PATIENCE, |t| {
        t.starts_with("Confirmed")
    })
    .await;
    assert!(status.contains("4 confirmations, in block 1"), "{status}");
    browser.screenshot("transaction").await;

    // Search by address: the address page; a transfer submitted over RPC shows as pending
    // within a second, then as confirmed once mined, without a reload.
    let bob_address = node.address(&bob);
    search(&browser, &bob_address).await;
    wait_for_text(&browser, "#balance", PAGE_PATIENCE, |t| !t.is_empty()).await;
    wait_for_text(&browser, "#history", PAGE_PATIENCE, |t| {
        t.contains(&first[..10])
    })
    .await;
    let second = node.transfer(&alice, &bob, 7_000, 1).await;
    wait_for_text(&browser, "#pending", PENDING_WITHIN, |t| {
        t.contains(&second[..10])
    })
    .await;
    browser.screenshot("address-pending").await;
    node.client.dev_mine(1, None).await.unwrap();
    wait_for_text(&browser, "#history", PAGE_PATIENCE, |t| {
        t.contains(&second[..10])
    })
    .await;
    wait_for_text(&browser, "#pending", PAGE_PATIENCE, |t| {
        t.contains("Nothing pending")
    })
    .await;
    browser.screenshot("address").await;

    // A query that is none of these, and a height past the tip: a message, no page.
    let before = current_hash(&browser).await;
    search(&browser, "not a thing").await;
    let message = wait_for_text(&browser, "#search-error", PAGE_PATIENCE, |t| !t.is_empty()).await;
    assert!(message.contains("is not a block height"), "{message}");
    search(&browser, "999999").await;
    wait_for_text(&browser, "#search-error", PAGE_PATIENCE, |t| {
        t.contains("no block at height 999999")
    })
    .await;
    assert_eq!(current_hash(&browser).await, before);

    // All of that in one page load, with no error on the way.
    let kept = browser
        .client
        .execute("return window.notReloaded === true;", vec![])
        .await
        .unwrap();
    assert_eq!(kept, serde_json::Value::Bool(true), "the page reloaded");
    assert_no_errors(&browser, "chain, block, transaction and address").await;

    // The mempool and peers pages.
    let third = node.transfer(&alice, &bob, 1_000, 2).await;
    browser
        .client
        .goto(&format!("{}#/mempool", node.url))
        .await
        .unwrap();
    wait_for_text(&browser, "#mempool-count", PAGE_PATIENCE, |t| t == "1").await;
    wait_for_text(&browser, "#mempool-transactions", PAGE_PATIENCE, |t| {
        t.contains(&third[..10])
    })
    .await;
    browser.screenshot("mempool").await;
    assert_no_errors(&browser, "mempool").await;
    browser
        .client
        .goto(&format!("{}#/peers", node.url))
        .await
        .unwrap();
    // A node started alone is fit to serve: not isolated, just alone.
    wait_for_text(&browser, "#health", PAGE_PATIENCE, |t| {
        t.starts_with("ok: running alone")
    })
    .await;
    wait_for_text(&browser, "#sync-words", PAGE_PATIENCE, |t| {
        t.contains("In step")
    })
    .await;
    browser.screenshot("peers").await;
    assert_no_errors(&browser, "peers").await;
    browser.close().await;
}
