//! The `chain` namespace over the chain's, the mempool's and the network's handles:
//! blocks, transactions, accounts, the mempool, `rpc.discover` and the two subscriptions.

use std::sync::Arc;
use std::time::Duration;

use jsonrpsee::core::{async_trait, to_json_raw_value, RpcResult, SubscriptionResult};
use jsonrpsee::server::PendingSubscriptionSink;
use jsonrpsee::{Extensions, SubscriptionSink};
use tern_chain::genesis::ChainSpec;
use tern_chain::types::{BlockHash, Height, Timestamp, TxId};
use tern_mempool::PoolHandle;
use tern_mempool::{decode_transaction, Lifecycle, FEE_TARGETS};
use tern_p2p::sync::SyncPhase;
use tern_p2p::NetworkHandle;
use tern_state::chain::{
    AsyncChainReader, ChainHandle, HistoryCursor, TipInfo, MAX_HEADERS_PER_READ,
};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::api::TernApiServer;
use super::api::{MAX_HEADERS_PER_CALL, MAX_MEMPOOL_LIST, MAX_STATUS_CONFIRMATIONS};
use super::json::{
    AccountJson, AccountProofJson, BlockId, BlockJson, BlockStanding, ChainInfo, FeeBucketJson,
    HeadEvent, HeadKind, HeaderJson, HistoryPageJson, MempoolEntry, MempoolInfo, ProofBlockJson,
    ResumeFrom, TxProofJson,
};
use super::tx_json::{FeeEstimateJson, TxStatus};
use crate::admin::require_admin;
use crate::chain::catch_up::way_between;
use crate::chain::heads::{HeadsLog, ResumeError, HEADS_BACKLOG};
use crate::error::{self, echoed, internal, invalid_param};
use crate::params::{canonical_text, parse_address};
use jsonrpsee::types::ErrorObjectOwned;
use tern_chain::block::Header;

/// The shortest time between two looks at the pool for one `tx_subscribeStatus`
/// subscriber, however fast transactions arrive.
const POOL_STATUS_INTERVAL: Duration = Duration::from_millis(50);

/// Where a status subscriber looks next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// The store, then the pool: the tip moved.
    Store,
    /// The pool alone: it changed.
    Pool,
    /// Nowhere yet: a pool change waits for its turn.
    Nowhere,
}

/// The longest a status read waits for the mempool to follow a new tip.
const POOL_CATCH_UP: Duration = Duration::from_secs(1);

/// The `chain` namespace's methods.
pub(crate) struct ChainRpc {
    /// The tip, as the chain last published it, and reads off the async threads.
    chain: ChainHandle,
    pool: PoolHandle,
    /// Whether the node is catching up, and how.
    network: NetworkHandle,
    heads: Arc<HeadsLog>,
    /// `chain_info`'s answer at the last tip it was asked at: the next target, the work
    /// in decimal and the hashes in hex cost as much as the rest of the call, and the tip
    /// moves once a block while callers poll many times a second.
    info: std::sync::Mutex<Option<(BlockHash, ChainInfo)>>,
}

impl ChainRpc {
    pub(crate) fn new(
        chain: ChainHandle,
        pool: PoolHandle,
        network: NetworkHandle,
        heads: Arc<HeadsLog>,
    ) -> ChainRpc {
        ChainRpc {
            chain,
            pool,
            network,
            heads,
            info: std::sync::Mutex::new(None),
        }
    }

    /// Chain queries, run off the async threads.
    fn reads(&self) -> &AsyncChainReader {
        self.chain.reads()
    }

    fn spec(&self) -> &ChainSpec {
        self.chain.reads().spec()
    }

    /// Waits (briefly) until the mempool has followed the chain to its current tip, so
    /// that a transaction a block just took out of the chain is found back in the pool
    /// rather than nowhere. Bounded: a pool that cannot follow (its store failing) is
    /// reported elsewhere.
    async fn pool_caught_up(&self) {
        let tip = self.chain.tip().hash;
        let _ = tokio::time::timeout(POOL_CATCH_UP, self.pool.wait_synced(tip)).await;
    }

    /// The chain's figures at `tip` (but `syncing`), made once per tip.
    fn info_at(&self, tip: &TipInfo) -> ChainInfo {
        let mut cached = self.info.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((hash, info)) = &*cached {
            if *hash == tip.hash {
                return info.clone();
            }
        }
        let spec = self.spec();
        // The difficulty rule needs only the parent's height and time.
        let next = tern_chain::pow::next_target(
            &spec.consensus.difficulty(),
            tip.header.height,
            tip.header.timestamp,
        );
        let genesis = match &*cached {
            Some((_, info)) => info.genesis_hash.clone(),
            // Hashing the whole chain spec costs more than the rest of the call: once.
            None => spec.genesis_hash().to_string(),
        };
        let info = ChainInfo::new(spec, genesis, tip, next.to_string(), false);
        *cached = Some((tip.hash, info.clone()));
        info
    }

    async fn block_hash(&self, block: &BlockId) -> RpcResult<Option<BlockHash>> {
        match block {
            BlockId::Height(height) => {
                let height = Height(*height);
                self.reads()
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
        let chain = self.reads();
        let prefix = chain.spec().address_prefix;
        let wanted = *id;
        if let Some(info) = chain
            .run(move |chain| chain.transaction(&wanted))
            .await
            .map_err(internal)?
        {
            let reorged_out = self.pool.was_reorged_out(id);
            return Ok(TxStatus::confirmed(&info, reorged_out, &prefix));
        }
        self.pool_caught_up().await;
        let status = self.pool_status(id);
        if matches!(status, TxStatus::Unknown) {
            // A node with a floor cannot tell an unknown transaction from one below it.
            let floor = self.floor().await?;
            if floor > 0 {
                return Err(error::below_floor(
                    format!("transaction {id} is not at or above height {floor}"),
                    floor,
                ));
            }
        }
        Ok(status)
    }

    /// Error 1007 (`restoring`) while the node fetches a snapshot's state: its accounts
    /// are then those of no block.
    fn refuse_while_fetching_state(&self) -> RpcResult<()> {
        // Joining by snapshot, the accounts are not yet those of any block (the state is
        // being fetched, or is about to be): answers would mix the pivot's accounts with
        // genesis's tip.
        let phase = self.network.sync_status().phase;
        if matches!(phase, Some(SyncPhase::Headers | SyncPhase::State)) {
            return Err(error::state_not_kept(
                "restoring",
                "the node is joining by snapshot and its accounts are those of no block yet; \
                 ask again once chain_syncStatus leaves the state phase",
            ));
        }
        Ok(())
    }

    /// The height below which this node holds headers only (0: it synced in full).
    async fn floor(&self) -> RpcResult<u64> {
        self.reads()
            .run(|chain| chain.floor())
            .await
            .map(|floor| floor.value())
            .map_err(internal)
    }

    /// Sends `id`'s status to `sink` now and at every transition, until it has `wanted`
    /// confirmations or the subscriber leaves. Triggers only: a new tip recomputes the
    /// status from the store at once; a change in the pool from the pool alone (a
    /// transaction confirms only with a new tip), at most every [`POOL_STATUS_INTERVAL`],
    /// so a flood of admissions costs no store reads and little pool time, and never
    /// delays a confirmation.
    async fn follow_status(
        &self,
        sink: &SubscriptionSink,
        id: &TxId,
        wanted: u64,
        mut tips: broadcast::Receiver<HeadEvent>,
        mut pool_changes: watch::Receiver<u64>,
    ) -> SubscriptionResult {
        let mut last: Option<TxStatus> = None;
        let mut look = Look::Store;
        let mut pool_moved = false;
        let mut next_pool_look = Instant::now();
        loop {
            let status = match (&last, look) {
                (Some(last), Look::Nowhere) => last.clone(),
                (Some(confirmed @ TxStatus::Confirmed { .. }), Look::Pool) => confirmed.clone(),
                // Gone from the pool: perhaps into a block whose tip event is still on
                // its way, so the store says.
                (Some(last), Look::Pool) => match self.pool_status(id) {
                    TxStatus::Unknown if *last != TxStatus::Unknown => self.tx_status(id).await?,
                    status => status,
                },
                _ => self.tx_status(id).await?,
            };
            if last
                .as_ref()
                .is_none_or(|last| status.is_transition_from(last))
            {
                sink.send(to_json_raw_value(&status)?).await?;
                if matches!(status, TxStatus::Confirmed { confirmations, .. } if confirmations >= wanted)
                {
                    return Ok(());
                }
            }
            // A pending transaction expires at a known time, with no event to say so.
            let expiry = match &status {
                TxStatus::Pending { why, .. } => Some(Duration::from_millis(
                    why.expires
                        .saturating_sub(Timestamp::now().as_millis())
                        .saturating_add(1),
                )),
                _ => None,
            };
            last = Some(status);
            look = tokio::select! {
                () = sink.closed() => return Ok(()),
                tip = tips.recv() => {
                    if let Err(RecvError::Closed) = tip {
                        // The head stream restarted: follow the new one.
                        tips = self.heads.subscribe(None).map_err(|e| e.to_string())?.1;
                    }
                    Look::Store
                },
                changed = pool_changes.changed(), if !pool_moved => {
                    if changed.is_err() { return Ok(()) }
                    pool_moved = true;
                    Look::Nowhere
                },
                () = tokio::time::sleep_until(next_pool_look), if pool_moved => {
                    pool_moved = false;
                    next_pool_look = Instant::now() + POOL_STATUS_INTERVAL;
                    Look::Pool
                },
                () = tokio::time::sleep(expiry.unwrap_or_default()), if expiry.is_some() => Look::Pool,
            };
        }
    }

    /// The events that take a client's view ending at block `tip` to the head log's tip,
    /// a receiver for every event after them, and the `seq` they bring the client to
    /// (each of them carries it).
    async fn catch_up(
        &self,
        tip: &str,
    ) -> Result<(Vec<HeadEvent>, broadcast::Receiver<HeadEvent>, u64), ErrorObjectOwned> {
        let from: BlockHash = tip.parse().map_err(|e| invalid_param("since.tip", e))?;
        let heads = &self.heads;
        let (live, position) = heads.subscribe_live();
        let unreachable = || {
            error::resync_needed(&ResumeError::Unreachable {
                tip: tip.to_owned(),
            })
        };
        let to: BlockHash = position
            .tip
            .as_deref()
            .and_then(|t| t.parse().ok())
            .ok_or_else(unreachable)?;
        let way = self
            .reads()
            .run(move |reader| way_between(reader, from, to, HEADS_BACKLOG))
            .await
            .map_err(internal)?
            .ok_or_else(unreachable)?;
        let event = |kind, header: &Header| HeadEvent {
            epoch: position.epoch,
            seq: position.seq,
            kind,
            header: HeaderJson::new(header, heads.prefix()),
        };
        let events = way
            .disconnect
            .iter()
            .map(|h| event(HeadKind::Disconnect, h))
            .chain(way.connect.iter().map(|h| event(HeadKind::Connect, h)))
            .collect();
        Ok((events, live, position.seq))
    }

    /// The status as far as the pool knows it (no store read): pending, dropped or
    /// unknown.
    fn pool_status(&self, id: &TxId) -> TxStatus {
        let prefix = &self.spec().address_prefix;
        match self.pool.lifecycle(id) {
            Lifecycle::Pending(pending) => TxStatus::pending(&pending, prefix),
            Lifecycle::Dropped(dropped) => TxStatus::dropped(&dropped, prefix),
            Lifecycle::NotHeld => TxStatus::Unknown,
        }
    }
}

#[async_trait]
impl TernApiServer for ChainRpc {
    async fn chain_info(&self) -> RpcResult<ChainInfo> {
        let mut info = self.info_at(&self.chain.tip());
        info.syncing = self.network.sync_status().syncing;
        Ok(info)
    }

    async fn chain_get_block(
        &self,
        block: BlockId,
        full: Option<bool>,
    ) -> RpcResult<Option<BlockJson>> {
        let Some(hash) = self.block_hash(&block).await? else {
            return Ok(None);
        };
        let chain = self.reads();
        let block_reward = chain.spec().consensus.block_reward;
        let found = chain
            .run(move |chain| {
                let Some(entry) = chain.index_entry(&hash)? else {
                    return Ok(None);
                };
                let Some(block) = chain.block(&hash)? else {
                    // At or below the floor the header is all there is.
                    let floor = chain.floor()?;
                    let height = entry.header.height;
                    let below = height <= floor && floor > Height::GENESIS;
                    return Ok(below.then_some(Err((height, floor))));
                };
                let standing = BlockStanding {
                    cumulative_work: entry.cumulative_work,
                    canonical: chain.hash_at(entry.header.height)? == Some(hash),
                    block_reward,
                };
                Ok(Some(Ok((block, standing))))
            })
            .await
            .map_err(internal)?;
        let prefix = chain.spec().address_prefix;
        match found {
            None => Ok(None),
            Some(Err((height, floor))) => Err(error::below_floor(
                format!("block {hash} at height {height} has no body here"),
                floor.value(),
            )),
            Some(Ok((block, standing))) => Ok(Some(BlockJson::new(
                &block,
                standing,
                full.unwrap_or(false),
                &prefix,
            ))),
        }
    }

    async fn chain_get_header(&self, block: BlockId) -> RpcResult<Option<HeaderJson>> {
        let Some(hash) = self.block_hash(&block).await? else {
            return Ok(None);
        };
        let chain = self.reads();
        let header = chain
            .run(move |chain| chain.header(&hash))
            .await
            .map_err(internal)?;
        Ok(header.map(|h| HeaderJson::new(&h, &chain.spec().address_prefix)))
    }

    async fn chain_get_headers(&self, start: u64, count: Option<u32>) -> RpcResult<Vec<String>> {
        const _: () = assert!(MAX_HEADERS_PER_CALL as usize <= MAX_HEADERS_PER_READ);
        let count = count.unwrap_or(MAX_HEADERS_PER_CALL);
        if count == 0 || count > MAX_HEADERS_PER_CALL {
            return Err(invalid_param(
                "count",
                format!("{count} is outside 1..={MAX_HEADERS_PER_CALL}"),
            ));
        }
        let headers = self
            .reads()
            .run(move |chain| chain.canonical_headers(Height(start), count as usize))
            .await
            .map_err(internal)?;
        Ok(headers
            .iter()
            .map(|header| hex::encode(tern_chain::encoding::encode(header)))
            .collect())
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
        self.pool
            .submit(tx)
            .await
            .map(|admission| admission.id.to_string())
            .map_err(|e| error::submit_failure(&e))
    }

    async fn tx_get(&self, txid: String) -> RpcResult<TxStatus> {
        let id: TxId = txid.parse().map_err(|e| invalid_param("txid", e))?;
        self.tx_status(&id).await
    }

    async fn tx_get_proof(&self, txid: String) -> RpcResult<Option<TxProofJson>> {
        let id: TxId = txid.parse().map_err(|e| invalid_param("txid", e))?;
        let found = self
            .reads()
            .run(move |chain| {
                let Some(info) = chain.transaction(&id)? else {
                    return Ok(None);
                };
                let Some(block) = chain.block(&info.block)? else {
                    return Ok(None);
                };
                let leaves: Vec<_> = block.transactions.iter().map(|t| t.signed_hash()).collect();
                let path = tern_chain::block::merkle_path(&leaves, info.position as usize);
                Ok(path.map(|path| (info, leaves.len(), path)))
            })
            .await
            .map_err(internal)?;
        Ok(found.map(|(info, count, path)| TxProofJson {
            txid: info.tx.id().to_string(),
            signed_hash: info.tx.signed_hash().to_string(),
            block_hash: info.block.to_string(),
            height: info.height.value(),
            position: info.position,
            count: u32::try_from(count).unwrap_or(u32::MAX),
            path: path.iter().map(hex::encode).collect(),
        }))
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
        // Triggers only: a new tip recomputes the status from the store, a change in the
        // pool from the pool alone (a transaction confirms only with a new tip), so a
        // trigger that lags loses nothing and a flood of admissions costs no store reads.
        let (_, tips) = self.heads.subscribe(None).map_err(|e| e.to_string())?;
        let pool_changes = self.pool.watch_changes();
        let sink = pending.accept().await?;
        self.follow_status(&sink, &id, wanted, tips, pool_changes)
            .await
    }

    async fn account_get(&self, address: String) -> RpcResult<AccountJson> {
        let parsed = parse_address(self.spec(), "address", &address)?;
        self.refuse_while_fetching_state()?;
        let account = self
            .reads()
            .run(move |chain| chain.account(&parsed))
            .await
            .map_err(internal)?;
        let (pending_nonce, pending_cost) = self.pool.pending(&parsed, &account);
        let pending_balance = account
            .balance
            .checked_sub(pending_cost)
            .unwrap_or_default();
        Ok(AccountJson {
            // The canonical form, whatever case the caller wrote.
            address: canonical_text(self.spec(), address, &parsed),
            balance: account.balance.to_string(),
            nonce: account.nonce,
            pending_nonce,
            pending_balance: pending_balance.to_string(),
        })
    }

    async fn account_get_proof(
        &self,
        address: String,
        block: Option<BlockId>,
    ) -> RpcResult<AccountProofJson> {
        let parsed = parse_address(self.spec(), "address", &address)?;
        self.refuse_while_fetching_state()?;
        let chain = self.reads();
        let hash = match &block {
            Some(block) => self.block_hash(block).await?,
            None => Some(chain.run(|chain| chain.tip()).await.map_err(internal)?.hash),
        };
        let Some(hash) = hash else {
            return Err(error::state_not_kept("unknown", "no such block"));
        };
        let proven = chain
            .run(move |chain| Ok(chain.account_proof(&parsed, &hash)))
            .await
            .map_err(internal)?
            .map_err(|e| error::proof_failure(&e))?;
        let account = proven.account.unwrap_or_default();
        Ok(AccountProofJson {
            address: chain.spec().format_address(&parsed),
            balance: account.balance.to_string(),
            nonce: account.nonce,
            exists: proven.account.is_some(),
            block: ProofBlockJson {
                hash: proven.block.to_string(),
                height: proven.height.value(),
                state_root: proven.root.to_string(),
            },
            proof: hex::encode(tern_chain::encoding::encode(&proven.proof)),
        })
    }

    async fn account_history(
        &self,
        address: String,
        cursor: Option<String>,
        limit: Option<u32>,
    ) -> RpcResult<HistoryPageJson> {
        let parsed = parse_address(self.spec(), "address", &address)?;
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
            .reads()
            .run(move |chain| chain.history(&parsed, cursor, limit as usize))
            .await
            .map_err(internal)?;
        // A node with a floor holds no history below it: an empty page there would be
        // wrong, not the end.
        if page.entries.is_empty() {
            let floor = self.floor().await?;
            if floor > 0 {
                return Err(error::below_floor(
                    format!(
                        "no history of {} at or above height {floor}",
                        echoed(&address)
                    ),
                    floor,
                ));
            }
        }
        Ok(page.into())
    }

    fn mempool_info(&self) -> RpcResult<MempoolInfo> {
        let stats = self.pool.stats();
        Ok(MempoolInfo {
            count: stats.count,
            bytes: stats.bytes,
            minimum_fee: stats.minimum_fee.to_string(),
            rejections: stats
                .rejections
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            fee_histogram: self
                .pool
                .fee_histogram()
                .iter()
                .map(|bucket| FeeBucketJson {
                    min_fee: bucket.min_fee.to_string(),
                    max_fee: bucket.max_fee.to_string(),
                    count: bucket.count,
                    bytes: bucket.bytes,
                })
                .collect(),
        })
    }

    fn rpc_discover(&self, ext: &Extensions) -> RpcResult<serde_json::Value> {
        Ok(crate::openrpc::document(require_admin(ext).is_ok()))
    }

    async fn chain_subscribe_heads(
        &self,
        pending: PendingSubscriptionSink,
        since: Option<ResumeFrom>,
    ) -> SubscriptionResult {
        let resumed = match self.heads.subscribe(since.as_ref()) {
            Ok((missed, live)) => Ok((missed, live, since.as_ref().map_or(0, |s| s.seq))),
            // Another run, or further back than the backlog: from the client's tip, if
            // it named one.
            Err(ResumeError::OtherEpoch { .. } | ResumeError::TooOld { .. })
                if since.as_ref().is_some_and(|s| s.tip.is_some()) =>
            {
                let tip = since.and_then(|s| s.tip).unwrap_or_default();
                self.catch_up(&tip).await
            }
            Err(e) => Err(error::resync_needed(&e)),
        };
        let (missed, mut live, mut last) = match resumed {
            Ok(stream) => stream,
            Err(refusal) => {
                pending.reject(refusal).await;
                return Ok(());
            }
        };
        let sink = pending.accept().await?;
        for event in missed {
            last = last.max(event.seq);
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

    fn fee_estimate(&self, target_blocks: u64) -> RpcResult<FeeEstimateJson> {
        if !FEE_TARGETS.contains(&target_blocks) {
            return Err(invalid_param(
                "targetBlocks",
                format!(
                    "must be {} to {} blocks",
                    FEE_TARGETS.start(),
                    FEE_TARGETS.end()
                ),
            ));
        }
        Ok(FeeEstimateJson::from(
            &self.pool.fee_estimate(target_blocks),
        ))
    }

    fn mempool_list(
        &self,
        limit: Option<u32>,
        address: Option<String>,
    ) -> RpcResult<Vec<MempoolEntry>> {
        let limit = limit.unwrap_or(100);
        if limit > MAX_MEMPOOL_LIST {
            return Err(invalid_param(
                "limit",
                format!("must be at most {MAX_MEMPOOL_LIST}"),
            ));
        }
        let prefix = self.spec().address_prefix;
        let listed = match address {
            Some(text) => {
                let address = parse_address(self.spec(), "address", &text)?;
                self.pool.touching(&address, limit as usize)
            }
            None => self.pool.list(limit as usize),
        };
        Ok(listed
            .iter()
            .map(|t| MempoolEntry {
                txid: t.id().to_string(),
                fee: t.tx().fee.to_string(),
                sender: t.tx().from.to_bech32(&prefix),
                recipient: t.tx().to.to_bech32(&prefix),
                amount: t.tx().amount.to_string(),
                nonce: t.tx().nonce,
            })
            .collect())
    }
}
