//! The `chain` namespace's methods, defined once: jsonrpsee generates the server trait
//! and the typed client from it. Method names are a contract; each is documented in
//! `docs/RPC.md`.

// The client the macro generates names its own result types.
#[cfg(feature = "server")]
use jsonrpsee::core::{RpcResult, SubscriptionResult};
use jsonrpsee::proc_macros::rpc;

use super::json::{
    AccountJson, AccountProofJson, BlockId, BlockJson, ChainInfo, HeadEvent, HeaderJson,
    HistoryPageJson, MempoolEntry, MempoolInfo, ResumeFrom, TxProofJson,
};
use super::tx_json::{FeeEstimateJson, TxStatus};

/// The most confirmations `tx_subscribeStatus` follows a transaction to.
pub const MAX_STATUS_CONFIRMATIONS: u64 = 100;

/// The most headers `chain_getHeaders` returns: as many as a peer's `Headers` message.
pub const MAX_HEADERS_PER_CALL: u32 = 2_000;

/// The most entries `mempool_list` returns.
pub const MAX_MEMPOOL_LIST: u32 = 1_000;

/// The subscription methods and their unsubscribe methods: they need a WebSocket, and
/// over HTTP are answered [`crate::error::SUBSCRIPTION_NEEDS_WEBSOCKET`].
pub const SUBSCRIPTION_METHODS: [&str; 4] = [
    "chain_subscribeHeads",
    "chain_unsubscribeHeads",
    "tx_subscribeStatus",
    "tx_unsubscribeStatus",
];

/// Methods for wallets, explorers and scripts: safe to expose.
#[cfg_attr(feature = "server", rpc(server, client))]
#[cfg_attr(not(feature = "server"), rpc(client))]
pub trait TernApi {
    /// The chain and its tip.
    #[method(name = "chain_info")]
    async fn chain_info(&self) -> RpcResult<ChainInfo>;

    /// A block by hash (any branch) or height (canonical chain); whole transactions if
    /// `full`. `null` if unknown.
    #[method(name = "chain_getBlock")]
    async fn chain_get_block(
        &self,
        block: BlockId,
        full: Option<bool>,
    ) -> RpcResult<Option<BlockJson>>;

    /// A header by hash or height. `null` if unknown.
    #[method(name = "chain_getHeader")]
    async fn chain_get_header(&self, block: BlockId) -> RpcResult<Option<HeaderJson>>;

    /// Up to `count` (default and at most [`MAX_HEADERS_PER_CALL`]) canonical headers from
    /// height `start` up, each the hex of its encoding, each the parent of the next: what
    /// a client that checks the chain itself (proof of work, links, the difficulty rule)
    /// fetches. Fewer at the tip, none past it.
    #[method(name = "chain_getHeaders")]
    async fn chain_get_headers(&self, start: u64, count: Option<u32>) -> RpcResult<Vec<String>>;

    /// The canonical block hash at `height`, or `null`.
    #[method(name = "chain_getBlockHash")]
    async fn chain_get_block_hash(&self, height: u64) -> RpcResult<Option<String>>;

    /// Submits a signed transaction (hex of its canonical encoding); returns its id.
    #[method(name = "tx_submit")]
    async fn tx_submit(&self, transaction: String) -> RpcResult<String>;

    /// A transaction's status: pending (and why it waits), confirmed, dropped (and why),
    /// or unknown.
    #[method(name = "tx_get")]
    async fn tx_get(&self, txid: String) -> RpcResult<TxStatus>;

    /// Where a confirmed transaction is, with the RFC 6962 audit path from it to its
    /// block's Merkle root; null if it is not on the canonical chain.
    #[method(name = "tx_getProof")]
    async fn tx_get_proof(&self, txid: String) -> RpcResult<Option<TxProofJson>>;

    /// An account's balance and nonces.
    #[method(name = "account_get")]
    async fn account_get(&self, address: String) -> RpcResult<AccountJson>;

    /// An account (or its absence) at a block (default: the tip), with the proof of it
    /// under that block's state root.
    #[method(name = "account_getProof")]
    async fn account_get_proof(
        &self,
        address: String,
        block: Option<BlockId>,
    ) -> RpcResult<AccountProofJson>;

    /// Transactions touching `address`, newest first, at most `limit` (default and maximum
    /// 100), continuing from `cursor`.
    #[method(name = "account_history")]
    async fn account_history(
        &self,
        address: String,
        cursor: Option<String>,
        limit: Option<u32>,
    ) -> RpcResult<HistoryPageJson>;

    /// Mempool figures.
    #[method(name = "mempool_info")]
    fn mempool_info(&self) -> RpcResult<MempoolInfo>;

    /// The fee for a transfer to be mined within `target_blocks` (1 to 100) blocks, with
    /// the facts it rests on.
    #[method(name = "fee_estimate")]
    fn fee_estimate(&self, target_blocks: u64) -> RpcResult<FeeEstimateJson>;

    /// Up to `limit` (default 100, maximum 1,000) pending transactions, best-paying first;
    /// with `address`, only those it sent (by nonce) or that pay it.
    #[method(name = "mempool_list")]
    fn mempool_list(
        &self,
        limit: Option<u32>,
        address: Option<String>,
    ) -> RpcResult<Vec<MempoolEntry>>;

    /// The OpenRPC document listing every method this server serves that the caller may
    /// call: the admin methods only to a caller with admin access.
    #[method(name = "rpc.discover", with_extensions)]
    fn rpc_discover(&self) -> RpcResult<serde_json::Value>;

    /// Every tip change from now on (WebSocket only), or every one after `since` first: a
    /// reorg arrives as its disconnects, then its connects; docs/RPC.md says how to resume.
    #[subscription(name = "chain_subscribeHeads" => "chain_head", unsubscribe = "chain_unsubscribeHeads", item = HeadEvent)]
    async fn chain_subscribe_heads(&self, since: Option<ResumeFrom>) -> SubscriptionResult;

    /// The status of transaction `txid` now and at every change, until it has
    /// `confirmations` (default 1, at most 100); the subscription ends after that event.
    #[subscription(name = "tx_subscribeStatus" => "tx_status", unsubscribe = "tx_unsubscribeStatus", item = TxStatus)]
    async fn tx_subscribe_status(
        &self,
        txid: String,
        confirmations: Option<u64>,
    ) -> SubscriptionResult;
}
