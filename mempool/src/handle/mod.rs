//! The node's mempool: one [`Mempool`] behind a lock held only for short synchronous
//! sections, and the task that keeps it following the chain.
//!
//! Transactions from RPC and from peers take the same path, [`PoolHandle::submit`] (or
//! `submit_many`): they join the next signature batch of an admission thread (see
//! [`admission`]), which verifies it through the signature cache that block validation
//! shares, reads the senders' tip accounts, and admits each transaction under the lock.

mod admission;
mod admission_order;

pub use admission::{ADMISSION_QUEUE, MAX_ADMISSION_THREADS, MAX_BATCH, MAX_BATCHES_UNADMITTED};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::pool::{
    Admission, BlockLimits, FeeBucket, FeeEstimate, Lifecycle, Mempool, MempoolConfig,
    MempoolError, MempoolStats, VerifiedTransaction,
};
use tern_chain::state::{AccountView, MemoryState};
use tern_chain::tx::SignedTransaction;
use tern_chain::types::{Address, BlockHash, Timestamp, TxId};
use tern_state::chain::{ChainEvent, ChainEvents, ChainHandle, ChainUpdate};
use tern_state::store::StoreError;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use tern_tasks::fault::{FaultPlan, FaultPoint, Part};
use tern_tasks::TaskExecutor;

/// Why a transaction was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The mempool refused it.
    #[error(transparent)]
    Rejected(#[from] MempoolError),
    /// The node could not check it.
    #[error("the node cannot take transactions now: {0}")]
    Unavailable(#[from] Unavailable),
}

/// Why the node could not check a transaction.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unavailable {
    /// The node is stopping: admission has ended.
    #[error("the node is stopping")]
    Stopping,
    /// The sender's account could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A cheap, cloneable handle to the node's mempool.
#[derive(Debug, Clone)]
pub struct PoolHandle {
    shared: Arc<Shared>,
    /// Submissions for the admission threads.
    jobs: mpsc::Sender<admission::Job>,
}

/// What the handles, the admission threads and the follower share.
#[derive(Debug)]
struct Shared {
    pool: Mutex<Mempool>,
    chain: ChainHandle,
    /// The tip the pool has caught up with.
    synced: watch::Receiver<BlockHash>,
    /// Bumped on every admission, so the miner can rebuild its template.
    admissions: watch::Sender<u64>,
    /// Bumped on every admission and every chain update applied: whatever may change a
    /// transaction's [`Lifecycle`].
    changes: watch::Sender<u64>,
    /// What one block of this chain holds.
    block_limits: BlockLimits,
    /// The id of every admitted transaction, for relay to announce.
    admitted: broadcast::Sender<TxId>,
    /// Batches the admission threads took, and the transactions in them.
    batches: AdmissionCounters,
}

/// Reads of a new sender's account for one admission at most: each read after the first
/// happens only because the pool applied a chain update meanwhile, so a third is rare
/// and the last one read is used whatever happens after it.
const ACCOUNT_READS: u32 = 3;

/// Senders' tip accounts read from the store for admission, and how many chain updates
/// the pool had applied before they were read.
#[derive(Debug)]
struct ReadAccounts {
    accounts: MemoryState,
    as_of: u64,
}

/// Counted as the admission threads take batches.
#[derive(Debug, Default)]
struct AdmissionCounters {
    batches: AtomicU64,
    transactions: AtomicU64,
}

/// How admission has batched since the node started: `transactions / batches` is the mean
/// batch. A batch's signatures are checked together, and a batch of one costs a
/// signature about 2.3 times what a batch of 64 does, so under load the mean should grow;
/// a node whose mean stays near one while it admits thousands a second has callers that
/// wait for each verdict before sending more (a closed loop), not a slow verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdmissionStats {
    /// Batches taken.
    pub batches: u64,
    /// Transactions in them, admitted or refused.
    pub transactions: u64,
}

/// Admitted ids buffered for a slow follower (relay); one that falls further behind misses
/// announcements, and its peers learn those transactions from other peers or blocks.
pub const ADMITTED_BACKLOG: usize = 16_384;

impl PoolHandle {
    /// A pool following `chain`, kept following by the critical task `mempool follower`
    /// and fed by the critical threads `mempool admission`; all end when the chain stops.
    /// Fails if the admission threads cannot be started (or no tokio runtime runs).
    pub fn start(
        chain: ChainHandle,
        config: MempoolConfig,
        tasks: &TaskExecutor,
    ) -> std::io::Result<PoolHandle> {
        Self::start_with_fault(
            chain,
            config,
            tasks,
            FaultPlan::default().point(Part::Admission),
        )
    }

    /// [`Self::start`], with the admission threads passing `fault` before each batch they
    /// verify (see [`tern_tasks::fault`]).
    pub fn start_with_fault(
        chain: ChainHandle,
        config: MempoolConfig,
        tasks: &TaskExecutor,
        fault: FaultPoint,
    ) -> std::io::Result<PoolHandle> {
        let chain_id = chain.reader().spec().consensus.chain_id;
        let (synced_sender, synced) = watch::channel(chain.tip().hash);
        let events = chain.events();
        let (admissions, _) = watch::channel(0);
        let (changes, _) = watch::channel(0);
        let (count, bytes) =
            tern_chain::miner::transaction_limits(&chain.reader().spec().consensus);
        let block_limits = BlockLimits { count, bytes };
        let (admitted, _) = broadcast::channel(ADMITTED_BACKLOG);
        let shared = Arc::new(Shared {
            pool: Mutex::new(Mempool::new(chain_id, config)),
            chain,
            synced,
            admissions,
            changes,
            block_limits,
            admitted,
            batches: AdmissionCounters::default(),
        });
        let (jobs, inbox) = mpsc::channel(ADMISSION_QUEUE);
        tasks.spawn_critical(
            "mempool follower",
            follow(Arc::clone(&shared), events, synced_sender),
        );
        admission::start(Arc::clone(&shared), inbox, tasks, fault)?;
        Ok(PoolHandle { shared, jobs })
    }

    fn lock(&self) -> MutexGuard<'_, Mempool> {
        self.shared.lock()
    }

    /// Checks and admits transactions in order, each with its own verdict: for relay,
    /// where a burst from one sender must be admitted nonce after nonce.
    pub async fn submit_many(
        &self,
        txs: Vec<SignedTransaction>,
    ) -> Vec<Result<Admission, SubmitError>> {
        let count = txs.len();
        let (reply, verdicts) = oneshot::channel();
        let answered = match self.jobs.send(admission::Job { txs, reply }).await {
            Ok(()) => verdicts.await.ok(),
            Err(_) => None,
        };
        answered.unwrap_or_else(|| {
            (0..count)
                .map(|_| Err(Unavailable::Stopping.into()))
                .collect()
        })
    }

    /// Checks and admits a transaction.
    pub async fn submit(&self, tx: SignedTransaction) -> Result<Admission, SubmitError> {
        // Only the same bytes skip the checks: another encoding of a pending transaction
        // has its signature checked in admission like any other.
        let pending = self
            .lock()
            .get(&tx.id())
            .map(SignedTransaction::signed_hash);
        if pending == Some(tx.signed_hash()) {
            return Err(MempoolError::AlreadyKnown.into());
        }
        self.submit_many(vec![tx])
            .await
            .pop()
            .unwrap_or_else(|| Err(Unavailable::Stopping.into()))
    }

    /// Figures for RPC and metrics.
    pub fn stats(&self) -> MempoolStats {
        self.lock().stats(Timestamp::now())
    }

    /// How admission has batched so far.
    pub fn admission_stats(&self) -> AdmissionStats {
        let counters = &self.shared.batches;
        AdmissionStats {
            batches: counters.batches.load(Ordering::Relaxed),
            transactions: counters.transactions.load(Ordering::Relaxed),
        }
    }

    /// The next nonce `sender` should use, counting its pending transactions.
    pub async fn next_nonce(&self, sender: &Address) -> Result<u64, SubmitError> {
        let accounts = self
            .shared
            .accounts(vec![*sender])
            .await
            .map_err(Unavailable::from)?;
        let account = accounts.account(sender).unwrap_or_default();
        Ok(self.lock().next_nonce(sender, &account))
    }

    /// The next nonce `sender` should use, whose account at the tip is `account` (read
    /// by the caller), and the cost of its pending transactions: one look at the pool.
    pub fn pending(
        &self,
        sender: &Address,
        account: &tern_chain::state::Account,
    ) -> (u64, tern_chain::types::Amount) {
        let pool = self.lock();
        (pool.next_nonce(sender, account), pool.pending_cost(sender))
    }

    /// Calls `visit` with every pending transaction, in no order, under the pool's lock:
    /// for a caller that matches many transactions at once (a compact block's short ids
    /// against the whole pool) without copying the pool. `visit` must be quick, and run
    /// off the async threads when the pool is large: admissions wait meanwhile.
    pub fn visit_pending(&self, visit: impl FnMut(&SignedTransaction)) {
        self.lock().visit(visit);
    }

    /// Up to `limit` pending transactions, best-paying first.
    pub fn list(&self, limit: usize) -> Vec<SignedTransaction> {
        self.lock().list(limit).into_iter().cloned().collect()
    }

    /// Every pending transaction counted by fee (see [`Mempool::fee_histogram`]).
    pub fn fee_histogram(&self) -> Vec<FeeBucket> {
        self.lock().fee_histogram()
    }

    /// Up to `limit` pending transactions sent by or paying `address` (see
    /// [`Mempool::touching`]).
    pub fn touching(&self, address: &Address, limit: usize) -> Vec<SignedTransaction> {
        self.lock()
            .touching(address, limit)
            .into_iter()
            .cloned()
            .collect()
    }

    /// What the pool knows of `id`: pending and why it waits, dropped and why, or neither.
    /// Transactions past their age expire first, so a pending answer is never stale.
    pub fn lifecycle(&self, id: &TxId) -> Lifecycle {
        let now = Timestamp::now();
        let mut pool = self.lock();
        pool.expire(now);
        pool.lifecycle(id, self.shared.block_limits, now)
    }

    /// Whether a reorg took `id` out of the chain within the journal's memory.
    pub fn was_reorged_out(&self, id: &TxId) -> bool {
        self.lock().was_reorged_out(id)
    }

    /// The fee for a transfer to be mined within `target_blocks` blocks.
    pub fn fee_estimate(&self, target_blocks: u64) -> FeeEstimate {
        self.lock()
            .fee_estimate(target_blocks, self.shared.block_limits, Timestamp::now())
    }

    /// A receiver that changes whenever a transaction's [`Lifecycle`] may have: on every
    /// admission and every chain update the pool applied.
    pub fn watch_changes(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// Whether a transaction is ready for the next block.
    pub fn has_ready(&self) -> bool {
        self.lock().has_ready()
    }

    /// Whether `id` is pending.
    pub fn contains(&self, id: &TxId) -> bool {
        self.lock().contains(id)
    }

    /// A pending transaction.
    pub fn get(&self, id: &TxId) -> Option<SignedTransaction> {
        self.lock().get(id).cloned()
    }

    /// What `sender`'s pending transactions cost together.
    pub fn pending_cost(&self, sender: &Address) -> tern_chain::types::Amount {
        self.lock().pending_cost(sender)
    }

    /// The best transactions for a block within `max_count` and `max_bytes`.
    pub fn select(&self, max_count: usize, max_bytes: u64) -> Vec<SignedTransaction> {
        self.lock().select(max_count, max_bytes)
    }

    /// Waits until the pool has followed the chain to `tip`.
    pub async fn wait_synced(&self, tip: BlockHash) {
        let mut synced = self.shared.synced.clone();
        // An error means the follower stopped; there is nothing to wait for then.
        let _ = synced.wait_for(|hash| *hash == tip).await;
    }

    /// The id of every transaction admitted from now on, and of every transaction a reorg
    /// returns to the pool.
    pub fn subscribe_admitted(&self) -> broadcast::Receiver<TxId> {
        self.shared.admitted.subscribe()
    }

    /// A receiver that changes whenever a transaction is admitted.
    pub fn watch_admissions(&self) -> watch::Receiver<u64> {
        self.shared.admissions.subscribe()
    }
}

impl Shared {
    /// Counts a batch of `transactions` taken for admission.
    fn count_batch(&self, transactions: usize) {
        self.batches.batches.fetch_add(1, Ordering::Relaxed);
        self.batches
            .transactions
            .fetch_add(transactions as u64, Ordering::Relaxed);
    }

    /// Tells [`PoolHandle::watch_changes`] receivers that something moved.
    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn lock(&self) -> MutexGuard<'_, Mempool> {
        // A panic while holding the lock cannot leave the pool half-updated in a way that
        // matters more than stopping would: keep serving.
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tip accounts of `senders` from the store, read outside the pool's lock, with how
    /// many chain updates the pool had applied before the read.
    fn read_accounts(&self, senders: &[Address]) -> Result<ReadAccounts, StoreError> {
        let as_of = self.lock().updates_applied();
        let accounts = self.chain.reader().accounts(senders)?;
        Ok(ReadAccounts { accounts, as_of })
    }

    /// Admits transactions whose stateless checks passed, in order, each with its own
    /// verdict: a sender the pool holds is judged against the pool's own view of its
    /// account, a new one against `read`, or against its account read again if the pool
    /// applied a chain update since `read` was taken (that update may have changed it,
    /// and the pool kept no view of a sender it did not hold). The pool's lock is taken
    /// for each transaction, not for the batch: async workers take it too (a submission's
    /// duplicate check, RPC reads), and a batch of hundreds would block them for as long.
    /// The miner's notification goes once.
    fn admit_all(
        &self,
        verified: impl IntoIterator<Item = Result<VerifiedTransaction, MempoolError>>,
        read: &ReadAccounts,
    ) -> Vec<Result<Admission, SubmitError>> {
        let now = Timestamp::now();
        let verdicts: Vec<Result<Admission, SubmitError>> = verified
            .into_iter()
            .map(|verified| self.admit_one(verified?, read, now))
            .collect();
        let admitted = verdicts.iter().filter(|v| v.is_ok()).count();
        if admitted > 0 {
            self.admissions
                .send_modify(|n| *n = n.wrapping_add(admitted as u64));
            self.changed();
        }
        verdicts
    }

    /// [`Self::admit_all`] for one transaction.
    fn admit_one(
        &self,
        verified: VerifiedTransaction,
        read: &ReadAccounts,
        now: Timestamp,
    ) -> Result<Admission, SubmitError> {
        let sender = verified.get().tx().from;
        let mut account = read.accounts.account(&sender).unwrap_or_default();
        let mut as_of = read.as_of;
        let mut reads = 1;
        loop {
            let mut pool = self.lock();
            if pool.holds_sender(&sender)
                || pool.updates_applied() == as_of
                || reads >= ACCOUNT_READS
            {
                let admission = pool.admit_verified(verified, account, now)?;
                drop(pool);
                let _ = self.admitted.send(admission.id);
                return Ok(admission);
            }
            drop(pool);
            let again = self.read_accounts(&[sender]).map_err(Unavailable::from)?;
            account = again.accounts.account(&sender).unwrap_or_default();
            as_of = again.as_of;
            reads += 1;
        }
    }

    async fn apply(&self, update: &ChainUpdate) -> Result<(), StoreError> {
        let needed = self.lock().accounts_needed(update);
        let accounts = self.accounts(needed).await?;
        let mut pool = self.lock();
        pool.apply_update(update, &accounts, Timestamp::now());
        // Transactions a reorg gave back are announced again like new ones: peers on
        // the winning side may never have seen them.
        let returned: Vec<TxId> = update
            .returned_transactions()
            .iter()
            .map(SignedTransaction::id)
            .filter(|id| pool.contains(id))
            .collect();
        drop(pool);
        self.changed();
        for id in returned {
            let _ = self.admitted.send(id);
        }
        Ok(())
    }

    async fn revalidate_all(&self) -> Result<(), StoreError> {
        let senders = self.lock().senders();
        let accounts = self.accounts(senders).await?;
        self.lock().revalidate_all(&accounts, Timestamp::now());
        self.changed();
        Ok(())
    }

    /// Tip accounts of `addresses`, read outside the lock and off the async threads.
    async fn accounts(&self, addresses: Vec<Address>) -> Result<MemoryState, StoreError> {
        self.chain
            .reads()
            .run(move |reader| reader.accounts(&addresses))
            .await
    }
}

/// Applies every chain update to the pool, and says which tip it has reached. Ends when
/// the chain stops.
async fn follow(pool: Arc<Shared>, mut events: ChainEvents, synced: watch::Sender<BlockHash>) {
    while let Some(event) = events.next().await {
        let result = match event {
            ChainEvent::Update(update) => pool.apply(&update).await.map(|()| update.tip.hash),
            ChainEvent::Lagged { missed } => {
                // Updates were missed, so transactions of disconnected blocks may not come
                // back; everything pending is still checked against the tip.
                tracing::warn!(
                    missed,
                    "mempool fell behind the chain; revalidating everything"
                );
                pool.revalidate_all().await.map(|()| pool.chain.tip().hash)
            }
        };
        match result {
            Ok(tip) => {
                synced.send_replace(tip);
            }
            Err(error) => tracing::error!(%error, "mempool could not follow the chain"),
        }
    }
}
