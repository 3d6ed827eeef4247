//! The server: the API implemented over a [`NodeBackend`], on one port for HTTP and
//! WebSocket, with limits on every dimension a client controls.

use std::net::SocketAddr;
use std::sync::Arc;

use jsonrpsee::core::{async_trait, to_json_raw_value, RpcResult, SubscriptionResult};
use jsonrpsee::server::{
    stop_channel, BatchRequestConfig, Methods, PendingSubscriptionSink, RpcModule, Server,
    ServerConfig, ServerHandle,
};
use jsonrpsee::types::ErrorObject;
use jsonrpsee::Extensions;
use tern_chain::types::{Address, BlockHash, Height, TxId};
use tern_mempool::decode_transaction;
use tern_state::chain::HistoryCursor;
use tokio::sync::broadcast::error::RecvError;

use crate::access::{require_admin, AccessPolicy};
use crate::api::{TernAdminApiServer, TernApiServer};
use crate::backend::{DevMineFailure, NodeBackend, SubmitFailure, MAX_MINER_THREADS};
use crate::call_stack::CallStack;
use crate::callers::{AllowedCallers, CallerCheckLayer};
use crate::connections::ConnectionLimits;
use crate::error::{self, internal, invalid_param};
use crate::heads::ResumeFrom;
use crate::json::{
    AccountJson, BlockId, BlockJson, ChainInfo, HeaderJson, HistoryPageJson, MempoolEntry,
    MempoolInfo, MinerStatusJson, TransactionJson, TxStatus,
};
use crate::listener;
use crate::metrics::RpcMetrics;
use crate::net::{NetRpc, TernNetAdminApiServer, TernNetApiServer};
use crate::slots::Slots;
use crate::spec::SpecLayer;
use crate::websocket::{WebSocketLayer, WebSocketLimits};
use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;

/// The default listening address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8645";

/// The most confirmations `tx_subscribeStatus` follows a transaction to.
pub const MAX_STATUS_CONFIRMATIONS: u64 = 100;

/// The most entries `mempool_list` returns.
pub const MAX_MEMPOOL_LIST: u32 = 1_000;

/// Server limits and access.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Admin methods without a token for every caller, when the server listens on a
    /// loopback address (`tern node --rpc-admin`). Elsewhere the token is still needed.
    pub admin: bool,
    /// The token from the node's cookie file: a request carrying it may call the admin
    /// methods (see [`crate::access`]).
    pub cookie: Option<String>,
    /// The largest request body, in bytes.
    pub max_request_bytes: u32,
    /// The largest response body, in bytes.
    pub max_response_bytes: u32,
    /// The most calls in one batch.
    pub max_batch: u32,
    /// Connection slots, per address limits and deadlines (see [`crate::connections`]).
    pub limits: ConnectionLimits,
    /// The most subscriptions per WebSocket connection.
    pub max_subscriptions: u32,
    /// Where to count calls and their latency, if anywhere.
    pub metrics: Option<Arc<RpcMetrics>>,
    /// The hosts and web origins allowed beyond the defaults (see [`crate::callers`]).
    pub callers: AllowedCallers,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8645)),
            admin: false,
            cookie: None,
            max_request_bytes: 1 << 20,
            max_response_bytes: 16 << 20,
            max_batch: 100,
            limits: ConnectionLimits::default(),
            max_subscriptions: 64,
            metrics: None,
            callers: AllowedCallers::default(),
        }
    }
}

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// Where it listens (useful with port 0).
    pub addr: SocketAddr,
    /// Stops it.
    pub handle: ServerHandle,
}

/// The API over `backend`.
pub struct TernRpc<B> {
    backend: Arc<B>,
    /// Whether the admin methods are served too (for `rpc.discover`).
    admin: bool,
}

/// The methods to serve: the public API, plus the admin API if `admin`.
pub fn methods<B: NodeBackend>(backend: Arc<B>, admin: bool) -> RpcModule<()> {
    let mut module = RpcModule::new(());
    // The traits' method names are disjoint, so merging cannot fail.
    let _ = module.merge(TernApiServer::into_rpc(TernRpc {
        backend: Arc::clone(&backend),
        admin,
    }));
    let _ = module.merge(TernNetApiServer::into_rpc(NetRpc {
        backend: Arc::clone(&backend),
    }));
    if admin {
        let _ = module.merge(TernNetAdminApiServer::into_rpc(NetRpc {
            backend: Arc::clone(&backend),
        }));
        let _ = module.merge(TernAdminApiServer::into_rpc(TernRpc { backend, admin }));
    }
    module
}

/// Starts serving on `config.addr`.
pub async fn start<B: NodeBackend>(
    backend: Arc<B>,
    config: RpcConfig,
) -> std::io::Result<RunningServer> {
    if !config.addr.ip().is_loopback() {
        tracing::warn!(addr = %config.addr, "the RPC server listens beyond this machine");
    }
    let limits = config.limits;
    // jsonrpsee serves HTTP only; WebSockets are Tern's own ([`crate::websocket`]).
    let server_config = ServerConfig::builder()
        .max_request_body_size(config.max_request_bytes)
        .max_response_body_size(config.max_response_bytes)
        // The slots are counted by the accept loop; this only must not refuse them.
        .max_connections(u32::try_from(limits.max_http).unwrap_or(u32::MAX))
        .set_batch_request_config(BatchRequestConfig::Limit(config.max_batch))
        .http_only()
        .build();
    let policy = AccessPolicy::new(&config);
    let serve_admin = policy.serves_admin();
    let methods: Methods = methods(backend, serve_admin).into();
    let calls = CallStack {
        metrics: config.metrics.clone().unwrap_or_default(),
        max_response_bytes: config.max_response_bytes as usize,
    };
    let (stop, handle) = stop_channel();
    let websocket = WebSocketLayer::new(
        methods.clone(),
        calls.clone(),
        WebSocketLimits {
            max_message_bytes: config.max_request_bytes,
            max_response_bytes: config.max_response_bytes,
            max_batch: config.max_batch,
            max_subscriptions: config.max_subscriptions,
            // A timer needs a period: a zero idle timeout still pings, at once and often.
            ping_interval: (limits.idle_timeout / 3).max(std::time::Duration::from_millis(1)),
            silence_limit: limits.idle_timeout,
        },
        stop.clone(),
    );
    // Foreign pages are refused first, before the admin mark, any method or a WebSocket.
    let access = tower::ServiceBuilder::new()
        .layer(CallerCheckLayer::new(config.callers.clone()))
        .layer(SpecLayer)
        .map_request(move |request| policy.mark(request))
        .layer(websocket);
    let services = Server::builder()
        .set_config(server_config)
        .set_http_middleware(access)
        .set_rpc_middleware(RpcServiceBuilder::new().layer(calls))
        .to_service_builder();
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let stop_for_services = stop.clone();
    let make_service = move || {
        services
            .clone()
            .build(methods.clone(), stop_for_services.clone())
    };
    tokio::spawn(listener::accept_loop(
        listener,
        Slots::new(limits),
        config.max_request_bytes,
        make_service,
        stop,
    ));
    Ok(RunningServer { addr, handle })
}

fn parse_address<B: NodeBackend>(backend: &B, field: &str, text: &str) -> RpcResult<Address> {
    Address::from_bech32(text, &backend.chain().spec().address_prefix)
        .map_err(|e| invalid_param(field, e))
}

impl<B: NodeBackend> TernRpc<B> {
    async fn block_hash(&self, block: &BlockId) -> RpcResult<Option<BlockHash>> {
        match block {
            BlockId::Height(height) => {
                let height = Height(*height);
                self.backend
                    .chain()
                    .run(move |chain| chain.hash_at(height))
                    .await
                    .map_err(internal)
            }
            BlockId::Hash(text) => text
                .parse()
                .map(Some)
                .map_err(|e| invalid_param("block", e)),
        }
    }

    /// The status from the store and the pool.
    async fn tx_status(&self, id: &TxId) -> RpcResult<TxStatus> {
        let chain = self.backend.chain();
        let prefix = chain.spec().address_prefix;
        let wanted = *id;
        if let Some(info) = chain
            .run(move |chain| chain.transaction(&wanted))
            .await
            .map_err(internal)?
        {
            return Ok(TxStatus::confirmed(&info, &prefix));
        }
        Ok(self.pool_status(id))
    }

    /// The status as far as the pool knows it (no store read): pending or unknown.
    fn pool_status(&self, id: &TxId) -> TxStatus {
        match self.backend.pending_transaction(id) {
            Some(tx) => TxStatus::Pending {
                transaction: TransactionJson::new(&tx, &self.backend.chain().spec().address_prefix),
            },
            None => TxStatus::Unknown,
        }
    }

    fn miner_json(&self) -> MinerStatusJson {
        let state = self.backend.miner_state();
        let prefix = &self.backend.chain().spec().address_prefix;
        MinerStatusJson {
            running: state.threads > 0,
            threads: state.threads,
            reward_address: state.reward.map(|a| a.to_bech32(prefix)),
            blocks_found: state.blocks_found,
        }
    }
}

#[async_trait]
impl<B: NodeBackend> TernApiServer for TernRpc<B> {
    async fn chain_info(&self) -> RpcResult<ChainInfo> {
        let chain = self.backend.chain();
        let (tip, parent) = chain
            .run(|chain| {
                let tip = chain.tip()?;
                Ok((tip, chain.parent_context(&tip.hash)?))
            })
            .await
            .map_err(internal)?;
        let parent = parent.ok_or_else(|| internal("tip not indexed"))?;
        let next = tern_chain::pow::next_target(
            &chain.spec().consensus.difficulty(),
            parent.height,
            parent.timestamp,
        );
        Ok(ChainInfo::new(
            chain.spec(),
            &tip,
            next.to_string(),
            self.backend.syncing(),
        ))
    }

    async fn chain_get_block(
        &self,
        block: BlockId,
        full: Option<bool>,
    ) -> RpcResult<Option<BlockJson>> {
        let Some(hash) = self.block_hash(&block).await? else {
            return Ok(None);
        };
        let chain = self.backend.chain();
        let found = chain
            .run(move |chain| chain.block(&hash))
            .await
            .map_err(internal)?;
        Ok(found.map(|b| BlockJson::new(&b, full.unwrap_or(false), &chain.spec().address_prefix)))
    }

    async fn chain_get_header(&self, block: BlockId) -> RpcResult<Option<HeaderJson>> {
        let Some(hash) = self.block_hash(&block).await? else {
            return Ok(None);
        };
        let chain = self.backend.chain();
        let header = chain
            .run(move |chain| chain.header(&hash))
            .await
            .map_err(internal)?;
        Ok(header.map(|h| HeaderJson::new(&h, &chain.spec().address_prefix)))
    }

    async fn chain_get_block_hash(&self, height: u64) -> RpcResult<Option<String>> {
        Ok(self
            .block_hash(&BlockId::Height(height))
            .await?
            .map(|h| h.to_string()))
    }

    async fn tx_submit(&self, transaction: String) -> RpcResult<String> {
        // Into a buffer of the exact size (the request's size bounds it): `hex::decode`
        // grows its vector byte by byte, a visible share of a flood's per-call CPU.
        let text = transaction.trim_start_matches("0x");
        let mut bytes = vec![0; text.len() / 2];
        hex::decode_to_slice(text, &mut bytes).map_err(|e| invalid_param("transaction", e))?;
        let tx = decode_transaction(&bytes).map_err(|e| error::rejected(&e))?;
        match self.backend.submit_transaction(tx).await {
            Ok(id) => Ok(id.to_string()),
            Err(SubmitFailure::Rejected(e)) => Err(error::rejected(&e)),
            Err(SubmitFailure::Unavailable(e)) => Err(internal(e)),
        }
    }

    async fn tx_get(&self, txid: String) -> RpcResult<TxStatus> {
        let id: TxId = txid.parse().map_err(|e| invalid_param("txid", e))?;
        self.tx_status(&id).await
    }

    async fn tx_subscribe_status(
        &self,
        pending: PendingSubscriptionSink,
        txid: String,
        confirmations: Option<u64>,
    ) -> SubscriptionResult {
        let wanted = confirmations.unwrap_or(1);
        let id = match txid.parse::<TxId>() {
            Ok(id) if (1..=MAX_STATUS_CONFIRMATIONS).contains(&wanted) => id,
            Ok(_) => {
                pending
                    .reject(invalid_param(
                        "confirmations",
                        format!("must be 1 to {MAX_STATUS_CONFIRMATIONS}"),
                    ))
                    .await;
                return Ok(());
            }
            Err(e) => {
                pending.reject(invalid_param("txid", e)).await;
                return Ok(());
            }
        };
        // Triggers only: a new tip recomputes the status from the store, an admission from
        // the pool alone (a transaction confirms only with a new tip), so a trigger that
        // lags loses nothing and a flood of admissions costs no store reads.
        let (_, mut tips) = self
            .backend
            .heads()
            .subscribe(None)
            .map_err(|e| e.to_string())?;
        let mut admissions = self.backend.watch_admissions();
        let sink = pending.accept().await?;
        let mut last: Option<TxStatus> = None;
        let mut tip_moved = true;
        loop {
            let status = match &last {
                Some(TxStatus::Unknown | TxStatus::Pending { .. }) if !tip_moved => {
                    self.pool_status(&id)
                }
                Some(confirmed) if !tip_moved => confirmed.clone(),
                _ => self
                    .tx_status(&id)
                    .await
                    .map_err(|e| e.message().to_owned())?,
            };
            if last.as_ref() != Some(&status) {
                sink.send(to_json_raw_value(&status)?).await?;
                if matches!(status, TxStatus::Confirmed { confirmations, .. } if confirmations >= wanted)
                {
                    return Ok(());
                }
                last = Some(status);
            }
            tokio::select! {
                () = sink.closed() => return Ok(()),
                tip = tips.recv() => {
                    tip_moved = true;
                    if let Err(RecvError::Closed) = tip {
                        // The head stream restarted: follow the new one.
                        tips = self.backend.heads().subscribe(None).map_err(|e| e.to_string())?.1;
                    }
                },
                changed = admissions.changed() => {
                    tip_moved = false;
                    if changed.is_err() { return Ok(()) }
                },
            }
        }
    }

    async fn account_get(&self, address: String) -> RpcResult<AccountJson> {
        let parsed = parse_address(&*self.backend, "address", &address)?;
        let account = self
            .backend
            .chain()
            .run(move |chain| chain.account(&parsed))
            .await
            .map_err(internal)?;
        let (pending_nonce, pending_cost) =
            self.backend.pending(&parsed).await.map_err(internal)?;
        let pending_balance = account
            .balance
            .checked_sub(pending_cost)
            .unwrap_or_default();
        Ok(AccountJson {
            address,
            balance: account.balance.to_string(),
            nonce: account.nonce,
            pending_nonce,
            pending_balance: pending_balance.to_string(),
        })
    }

    async fn account_history(
        &self,
        address: String,
        cursor: Option<String>,
        limit: Option<u32>,
    ) -> RpcResult<HistoryPageJson> {
        let parsed = parse_address(&*self.backend, "address", &address)?;
        let cursor = cursor
            .map(|c| c.parse::<HistoryCursor>())
            .transpose()
            .map_err(|e| invalid_param("cursor", e))?;
        let limit = limit.unwrap_or(tern_state::chain::MAX_HISTORY_PAGE as u32);
        if limit == 0 || limit as usize > tern_state::chain::MAX_HISTORY_PAGE {
            return Err(invalid_param(
                "limit",
                format!("must be 1 to {}", tern_state::chain::MAX_HISTORY_PAGE),
            ));
        }
        let page = self
            .backend
            .chain()
            .run(move |chain| chain.history(&parsed, cursor, limit as usize))
            .await
            .map_err(internal)?;
        Ok(page.into())
    }

    fn mempool_info(&self) -> RpcResult<MempoolInfo> {
        let stats = self.backend.mempool_stats();
        Ok(MempoolInfo {
            count: stats.count,
            bytes: stats.bytes,
            minimum_fee: stats.minimum_fee.to_string(),
            rejections: stats
                .rejections
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        })
    }

    fn rpc_discover(&self) -> RpcResult<serde_json::Value> {
        Ok(crate::openrpc::document(self.admin))
    }

    async fn chain_subscribe_heads(
        &self,
        pending: PendingSubscriptionSink,
        since: Option<ResumeFrom>,
    ) -> SubscriptionResult {
        let (missed, mut live) = match self.backend.heads().subscribe(since) {
            Ok(stream) => stream,
            Err(e) => {
                pending
                    .reject(ErrorObject::owned(
                        error::RESYNC_NEEDED,
                        e.to_string(),
                        None::<()>,
                    ))
                    .await;
                return Ok(());
            }
        };
        let sink = pending.accept().await?;
        let mut last = since.map_or(0, |s| s.seq);
        for event in missed {
            last = event.seq;
            sink.send(to_json_raw_value(&event)?).await?;
        }
        loop {
            tokio::select! {
                () = sink.closed() => return Ok(()),
                next = live.recv() => match next {
                    Ok(event) if event.seq > last => {
                        last = event.seq;
                        sink.send(to_json_raw_value(&event)?).await?;
                    }
                    Ok(_) => {}
                    // Never skip silently: the client resumes from `last` with a new subscription.
                    Err(RecvError::Lagged(_)) => return Err(format!("fell behind after seq {last}; subscribe again from it").into()),
                    Err(RecvError::Closed) => return Err("the stream restarted; resync and subscribe afresh".into()),
                },
            }
        }
    }

    fn mempool_list(&self, limit: Option<u32>) -> RpcResult<Vec<MempoolEntry>> {
        let limit = limit.unwrap_or(100);
        if limit > MAX_MEMPOOL_LIST {
            return Err(invalid_param(
                "limit",
                format!("must be at most {MAX_MEMPOOL_LIST}"),
            ));
        }
        let prefix = self.backend.chain().spec().address_prefix;
        Ok(self
            .backend
            .mempool_list(limit as usize)
            .iter()
            .map(|t| MempoolEntry {
                txid: t.id().to_string(),
                fee: t.tx().fee.to_string(),
                sender: t.tx().from.to_bech32(&prefix),
                nonce: t.tx().nonce,
            })
            .collect())
    }
}

#[async_trait]
impl<B: NodeBackend> TernAdminApiServer for TernRpc<B> {
    async fn dev_mine(
        &self,
        ext: &Extensions,
        count: u64,
        reward: Option<String>,
    ) -> RpcResult<Vec<String>> {
        require_admin(ext)?;
        let reward = match reward {
            Some(text) => parse_address(&*self.backend, "reward", &text)?,
            None => self.backend.miner_state().reward.ok_or_else(|| {
                invalid_param("reward", "required: the miner has no reward address")
            })?,
        };
        match self.backend.dev_mine(count, reward).await {
            Ok(hashes) => Ok(hashes.iter().map(ToString::to_string).collect()),
            Err(DevMineFailure::NotAllowed(e)) => Err(jsonrpsee::types::ErrorObject::owned(
                error::DEV_MINING_DISABLED,
                e,
                None::<()>,
            )),
            Err(DevMineFailure::Failed(e)) => Err(jsonrpsee::types::ErrorObject::owned(
                error::MINING_FAILED,
                e,
                None::<()>,
            )),
        }
    }

    fn miner_status(&self, ext: &Extensions) -> RpcResult<MinerStatusJson> {
        require_admin(ext)?;
        Ok(self.miner_json())
    }

    fn miner_start(
        &self,
        ext: &Extensions,
        reward: String,
        threads: Option<usize>,
    ) -> RpcResult<MinerStatusJson> {
        require_admin(ext)?;
        let reward = parse_address(&*self.backend, "reward", &reward)?;
        let threads = threads.unwrap_or(1);
        if !(1..=MAX_MINER_THREADS).contains(&threads) {
            return Err(invalid_param(
                "threads",
                format!("{threads}: must be 1 to {MAX_MINER_THREADS} (miner_stop stops)"),
            ));
        }
        self.backend.miner_start(threads, reward);
        Ok(self.miner_json())
    }

    fn miner_stop(&self, ext: &Extensions) -> RpcResult<MinerStatusJson> {
        require_admin(ext)?;
        self.backend.miner_stop();
        Ok(self.miner_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document and the registered methods list the same names, with and without
    /// admin access.
    #[test]
    fn the_openrpc_document_lists_exactly_the_registered_methods() {
        for admin in [false, true] {
            let module = methods(Arc::new(NoBackend), admin);
            let mut registered: Vec<&str> = module.method_names().collect();
            let mut documented = crate::openrpc::method_names(admin);
            registered.sort_unstable();
            documented.sort_unstable();
            assert_eq!(registered, documented, "admin = {admin}");
            for subscription in crate::api::SUBSCRIPTION_METHODS {
                assert!(registered.contains(&subscription), "{subscription}");
            }
        }
    }

    /// A backend that is never called: building the module only needs the type.
    struct NoBackend;

    #[async_trait]
    impl NodeBackend for NoBackend {
        fn chain(&self) -> &tern_state::chain::AsyncChainReader {
            unreachable!("not called when listing methods")
        }
        fn failure(&self) -> Option<String> {
            None
        }
        fn heads(&self) -> &crate::heads::HeadsLog {
            unreachable!("not called when listing methods")
        }
        fn watch_admissions(&self) -> tokio::sync::watch::Receiver<u64> {
            tokio::sync::watch::channel(0).1
        }
        fn sync_status(&self) -> crate::net::SyncStatusJson {
            unreachable!("not called when listing methods")
        }
        async fn submit_transaction(
            &self,
            _: tern_chain::tx::SignedTransaction,
        ) -> Result<TxId, SubmitFailure> {
            unreachable!("not called when listing methods")
        }
        fn pending_transaction(&self, _: &TxId) -> Option<tern_chain::tx::SignedTransaction> {
            None
        }
        async fn pending(&self, _: &Address) -> Result<(u64, tern_chain::types::Amount), String> {
            Ok((0, tern_chain::types::Amount::ZERO))
        }
        fn mempool_stats(&self) -> tern_mempool::MempoolStats {
            Default::default()
        }
        fn mempool_list(&self, _: usize) -> Vec<tern_chain::tx::SignedTransaction> {
            Vec::new()
        }
        async fn dev_mine(&self, _: u64, _: Address) -> Result<Vec<BlockHash>, DevMineFailure> {
            Ok(Vec::new())
        }
        fn miner_state(&self) -> crate::backend::MinerState {
            crate::backend::MinerState {
                threads: 0,
                reward: None,
                blocks_found: 0,
            }
        }
        fn miner_start(&self, _: usize, _: Address) {}
        fn miner_stop(&self) {}
        async fn net_info(&self) -> Result<crate::net::NetInfoJson, String> {
            unreachable!("not called when listing methods")
        }
        async fn net_peers(&self) -> Result<Vec<crate::net::PeerJson>, String> {
            unreachable!("not called when listing methods")
        }
        async fn net_add_peer(&self, _: &str) -> Result<(), crate::backend::NetFailure> {
            unreachable!("not called when listing methods")
        }
        async fn net_ban(
            &self,
            _: &str,
            _: std::time::Duration,
        ) -> Result<usize, crate::backend::NetFailure> {
            unreachable!("not called when listing methods")
        }
        async fn net_unban(&self, _: &str) -> Result<bool, crate::backend::NetFailure> {
            unreachable!("not called when listing methods")
        }
        async fn net_bans(&self) -> Result<Vec<crate::net::BanJson>, String> {
            unreachable!("not called when listing methods")
        }
    }
}
