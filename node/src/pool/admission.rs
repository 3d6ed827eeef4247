//! Admission in batches: every transaction, from RPC or from a peer, joins the next
//! signature batch instead of being verified alone.
//!
//! Each [`PoolHandle::submit`](super::PoolHandle::submit) or `submit_many` call is one
//! job on a bounded queue. The admission task takes whatever jobs wait (after letting the
//! submissions that are already runnable join), up to [`MAX_BATCH`] transactions, and
//! verifies their signatures in one batch on the blocking pool, through the signature
//! cache, with the senders' tip accounts read in the same blocking call. Up to
//! [`MAX_BATCHES_IN_FLIGHT`] batches verify at once, one per core; while they run, the
//! next jobs queue, so under load batches grow by themselves and under no load a lone
//! transaction waits for nothing. Each job's transactions are admitted in its own order,
//! and each sender's in the order they arrived (a verified batch waits only for earlier
//! batches it shares a sender with, see [`admission_order`](super::admission_order)), and
//! each caller gets its own verdicts: a bad signature costs the others in its batch a
//! re-batch, never a wrong answer.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tern_core::chain::ChainReader;
use tern_core::mempool::{self, Admission, MempoolError, VerifiedTransaction};
use tern_core::signature_cache::SignatureCache;
use tern_core::state::MemoryState;
use tern_core::tx::SignedTransaction;
use tern_core::types::{Address, ChainId};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::admission_order::{AdmissionOrder, Ticket};
use super::{Shared, SubmitError};

/// Transactions verified in one batch at most: past about a thousand, batch verification
/// gains little per signature and the batch's latency only grows.
pub const MAX_BATCH: usize = 1_024;

/// Batches verifying at once: one per core on the machines Tern targets. A job that
/// arrives while both run waits for the next batch, which it then helps fill.
pub const MAX_BATCHES_IN_FLIGHT: usize = 2;

/// Batches verified or verifying but not admitted yet: a batch that waits for an earlier
/// one with a sender in common holds its callers, so past this many no new batch starts.
pub const MAX_BATCHES_UNADMITTED: usize = 8;

/// Jobs waiting to join a batch. A submitter that finds the queue full waits for room:
/// RPC calls and relay slow down instead of piling up unbounded work.
pub const ADMISSION_QUEUE: usize = 4_096;

/// Every verdict of one job, in its transactions' order.
pub(super) type Verdicts = Vec<Result<Admission, SubmitError>>;

/// Transactions submitted together, and where their verdicts go.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) txs: Vec<SignedTransaction>,
    pub(super) reply: oneshot::Sender<Verdicts>,
}

/// A batch that verified: its jobs' replies and verdicts, and the accounts to admit with.
struct Checked {
    replies: Vec<(oneshot::Sender<Verdicts>, usize)>,
    verified: Vec<Result<VerifiedTransaction, MempoolError>>,
    accounts: Result<MemoryState, String>,
}

/// Runs until the chain stops (then answers what is left as unavailable) or every pool
/// handle is gone.
pub(super) async fn run(shared: Arc<Shared>, mut jobs: mpsc::Receiver<Job>) {
    let mut chain_stopped = std::pin::pin!(stopped(shared.chain.watch_tip()));
    let mut order: AdmissionOrder<Option<Checked>> = AdmissionOrder::new();
    let mut running = FuturesUnordered::new();
    let mut closed = false;
    loop {
        tokio::select! {
            biased;
            () = &mut chain_stopped => break,
            Some((ticket, checked)) = running.next(), if !running.is_empty() => {
                admit_in_order(&shared, &mut order, ticket, checked);
            }
            // Only `recv` is raced (it is cancel-safe): a batch being filled is never
            // dropped half-gathered when a verification finishes first, which would lose
            // its jobs' replies.
            first = jobs.recv(), if !closed
                && running.len() < MAX_BATCHES_IN_FLIGHT
                && order.len() < MAX_BATCHES_UNADMITTED =>
            {
                match first {
                    Some(first) => {
                        let batch = fill(first, &mut jobs).await;
                        let ticket = order.enter(senders(&batch));
                        running.push(verified(ticket, verify(&shared, batch)));
                    }
                    None => closed = true,
                }
            }
            else => break,
        }
    }
    // Verdicts for what already verified are still given; queued jobs get none and
    // their callers see the node as unavailable.
    while let Some((ticket, checked)) = running.next().await {
        admit_in_order(&shared, &mut order, ticket, checked);
    }
}

/// The senders of every transaction in `batch`.
fn senders(batch: &VecDeque<Job>) -> HashSet<Address> {
    batch
        .iter()
        .flat_map(|job| job.txs.iter().map(|tx| tx.tx().from))
        .collect()
}

/// A verification's result under its batch's ticket (`None` if the blocking task died).
async fn verified(
    ticket: Ticket,
    verification: JoinHandle<Option<Checked>>,
) -> (Ticket, Option<Checked>) {
    (ticket, verification.await.ok().flatten())
}

/// Records that the batch of `ticket` verified, and admits every batch that may go now.
fn admit_in_order(
    shared: &Shared,
    order: &mut AdmissionOrder<Option<Checked>>,
    ticket: Ticket,
    checked: Option<Checked>,
) {
    order.finish(ticket, checked);
    for checked in order.take_admissible() {
        admit(shared, checked);
    }
}

/// Resolves when the chain actor has stopped (its tip channel closed).
async fn stopped(mut tip: watch::Receiver<tern_core::chain::TipInfo>) {
    while tip.changed().await.is_ok() {}
}

/// A batch from its first job and every job already queued or about to be, up to
/// [`MAX_BATCH`] transactions.
async fn fill(first: Job, jobs: &mut mpsc::Receiver<Job>) -> VecDeque<Job> {
    let mut count = first.txs.len();
    let mut batch = VecDeque::from([first]);
    // Submissions that are runnable now (other RPC calls, the relay worker) get one turn
    // to join: a wait of one scheduler pass, far below a millisecond.
    tokio::task::yield_now().await;
    while count < MAX_BATCH {
        let Ok(job) = jobs.try_recv() else { break };
        count = count.saturating_add(job.txs.len());
        batch.push_back(job);
    }
    batch
}

/// Starts verifying `batch` on the blocking pool: signatures through the cache, then the
/// senders' tip accounts, in one blocking call.
fn verify(shared: &Shared, batch: VecDeque<Job>) -> JoinHandle<Option<Checked>> {
    let chain_id: ChainId = shared.chain.reader().spec().consensus.chain_id;
    let cache: Arc<SignatureCache> = Arc::clone(shared.chain.signature_cache());
    let reader: ChainReader = shared.chain.reader().clone();
    tokio::task::spawn_blocking(move || {
        let mut replies = Vec::with_capacity(batch.len());
        let mut txs = Vec::new();
        for job in batch {
            replies.push((job.reply, job.txs.len()));
            txs.extend(job.txs);
        }
        let threads = if txs.len() >= 2 * tern_core::signature_cache::MIN_SIGNATURES_PER_THREAD {
            MAX_BATCHES_IN_FLIGHT
        } else {
            1
        };
        let verified = mempool::verify_many(txs, chain_id, &cache, threads);
        let mut senders: Vec<Address> = verified
            .iter()
            .filter_map(|v| Some(v.as_ref().ok()?.get().tx().from))
            .collect();
        senders.sort_unstable();
        senders.dedup();
        let accounts = reader.accounts(&senders).map_err(|e| e.to_string());
        Some(Checked {
            replies,
            verified,
            accounts,
        })
    })
}

/// Admits a verified batch in order and answers each job. A batch whose verification
/// could not run (`None`: the blocking task died) has lost its replies, whose callers see
/// the node as unavailable.
fn admit(shared: &Shared, checked: Option<Checked>) {
    let Some(Checked {
        replies,
        verified,
        accounts,
    }) = checked
    else {
        return;
    };
    let mut verified = verified.into_iter();
    for (reply, count) in replies {
        let verdicts: Verdicts = verified
            .by_ref()
            .take(count)
            .map(|verdict| match &accounts {
                Ok(accounts) => shared.admit(verdict?, accounts),
                Err(error) => Err(SubmitError::Unavailable(error.clone())),
            })
            .collect();
        // A caller that gave up (its RPC connection closed) needs no answer.
        let _ = reply.send(verdicts);
    }
}
