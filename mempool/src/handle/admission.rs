//! Admission in batches, on threads of its own: every transaction, from RPC or from a
//! peer, joins the next signature batch instead of being verified alone.
//!
//! Each [`PoolHandle::submit`](super::PoolHandle::submit) or `submit_many` call is one
//! job on a bounded queue. One admission thread per core (up to
//! [`MAX_ADMISSION_THREADS`]; Bitcoin Core's script-check threads are the model) takes
//! whatever jobs wait, up to [`MAX_BATCH`] transactions, verifies their signatures in one
//! batch through the signature cache, reads the senders' tip accounts, admits each
//! transaction under the pool's lock and answers each job, all on that thread. While one
//! thread works, the next jobs queue for another, so under load batches grow by
//! themselves and under no load a lone transaction waits for nothing.
//!
//! The work runs where it is taken, not on tokio's blocking pool behind an async task:
//! handing each batch to a blocking thread and its result back cost a flood two thread
//! wake-ups per batch on its critical path (about 250 µs together) and kept batches small;
//! docs/PERFORMANCE.md has the measurements.
//!
//! Each job's transactions are admitted in its own order, and each sender's in the order
//! they arrived: batches are taken in arrival order, and a verified batch waits only for
//! earlier batches it shares a sender with (see
//! [`admission_order`](super::admission_order)). Each caller gets its own verdicts: a bad
//! signature costs the others in its batch a re-batch, never a wrong answer.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::pool::{verify_many, Admission, MempoolError, VerifiedTransaction};
use tern_chain::tx::SignedTransaction;
use tern_chain::types::Address;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch};

use super::admission_order::{AdmissionOrder, Ticket};
use super::{ReadAccounts, Shared, SubmitError, Unavailable};
use tern_state::store::StoreError;
use tern_tasks::fault::FaultPoint;
use tern_tasks::{TaskExecutor, ThreadFailure};

/// Transactions verified in one batch at most: past about a thousand, batch verification
/// gains little per signature and the batch's latency only grows.
pub const MAX_BATCH: usize = 1_024;

/// Admission threads at most, one per core below that: each verifies one batch at a time.
pub const MAX_ADMISSION_THREADS: usize = 8;

/// Batches taken but not admitted yet: a verified batch that waits for an earlier one
/// with a sender in common holds its callers, so past this many no thread takes another.
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
    accounts: Result<ReadAccounts, StoreError>,
}

/// What the admission threads share.
struct AdmissionThreads {
    shared: Arc<Shared>,
    /// Held by the one thread waiting for the next job, so that batches are taken, and
    /// given their tickets, in the order their jobs arrived.
    intake: Mutex<Intake>,
    /// Batches taken and not admitted yet. Admission happens under this lock, so two
    /// threads never admit out of order.
    order: Mutex<AdmissionOrder<Option<Checked>>>,
    /// Signalled whenever batches leave `order`, for a thread waiting for room in it.
    room: Condvar,
    /// Threads a large batch's signatures may be split across.
    threads: usize,
    /// Passed before each batch is verified: tests make an admission thread panic here.
    fault: FaultPoint,
}

/// Where jobs arrive, and whether the thread that waits for them should stop.
struct Intake {
    jobs: mpsc::Receiver<Job>,
    /// Resolves when the chain actor has stopped.
    chain_stopped: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// Set once the chain stopped or every pool handle is gone: no job comes any more.
    closed: bool,
    /// For waiting on the queue and the chain from a thread outside the runtime.
    runtime: Handle,
}

/// Starts the admission threads, critical threads named `mempool admission`: they end
/// when the chain stops or every pool handle is gone. Jobs still queued then get no
/// verdicts, and their callers see the node as unavailable.
pub(super) fn start(
    shared: Arc<Shared>,
    jobs: mpsc::Receiver<Job>,
    tasks: &TaskExecutor,
    fault: FaultPoint,
) -> std::io::Result<()> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_ADMISSION_THREADS);
    let runtime = Handle::try_current().map_err(std::io::Error::other)?;
    let chain_stopped = Box::pin(stopped(shared.chain.watch_tip()));
    let common = Arc::new(AdmissionThreads {
        shared,
        intake: Mutex::new(Intake {
            jobs,
            chain_stopped,
            closed: false,
            runtime,
        }),
        order: Mutex::new(AdmissionOrder::new()),
        room: Condvar::new(),
        threads,
        fault,
    });
    for _ in 0..threads {
        let common = Arc::clone(&common);
        tasks.spawn_critical_thread("mempool admission", move || {
            common.run();
            Ok::<(), ThreadFailure>(())
        })?;
    }
    Ok(())
}

/// Resolves when the chain actor has stopped (its tip channel closed).
async fn stopped(mut tip: watch::Receiver<tern_state::chain::TipInfo>) {
    while tip.changed().await.is_ok() {}
}

/// A lock whose holder panicking leaves nothing half-done that matters more than going on.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AdmissionThreads {
    /// Takes, verifies and admits batches until no job can come any more.
    ///
    /// A panic while verifying is a bug and fails the thread, and so the node; the batch's
    /// place in the order is given up first, so that the other threads, which may hold
    /// later batches of the same senders, still finish and the node can stop.
    fn run(&self) {
        while let Some((ticket, batch)) = self.take() {
            let checked = std::panic::catch_unwind(AssertUnwindSafe(|| {
                self.fault.hit();
                verify(&self.shared, batch, self.threads)
            }));
            match checked {
                Ok(checked) => self.admit(ticket, Some(checked)),
                Err(panic) => {
                    // The batch's replies went with the unwinding: its callers see the
                    // node as unavailable.
                    self.admit(ticket, None);
                    std::panic::resume_unwind(panic);
                }
            }
        }
    }

    /// The next batch and its place in the admission order, once there is room for it:
    /// the first job that arrives and every job queued behind it, up to [`MAX_BATCH`]
    /// transactions. `None` once no job can come any more.
    fn take(&self) -> Option<(Ticket, VecDeque<Job>)> {
        let mut intake = lock(&self.intake);
        // Only the holder of `intake` adds to `order`, so the room found stays.
        drop(
            self.room
                .wait_while(lock(&self.order), |order| {
                    order.len() >= MAX_BATCHES_UNADMITTED
                })
                .unwrap_or_else(PoisonError::into_inner),
        );
        let first = intake.next()?;
        let mut count = first.txs.len();
        let mut batch = VecDeque::from([first]);
        while count < MAX_BATCH {
            let Ok(job) = intake.jobs.try_recv() else {
                break;
            };
            count = count.saturating_add(job.txs.len());
            batch.push_back(job);
        }
        self.shared.count_batch(count);
        let ticket = lock(&self.order).enter(senders(&batch));
        Some((ticket, batch))
    }

    /// Records that the batch of `ticket` verified (`None`: it could not be), and admits
    /// every batch that may go now.
    fn admit(&self, ticket: Ticket, checked: Option<Checked>) {
        let mut order = lock(&self.order);
        order.finish(ticket, checked);
        let admissible = order.take_admissible();
        let any = !admissible.is_empty();
        for checked in admissible.into_iter().flatten() {
            admit(&self.shared, checked);
        }
        drop(order);
        if any {
            self.room.notify_all();
        }
    }
}

impl Intake {
    /// Waits for the next job; `None` once the chain stopped or every handle is gone.
    fn next(&mut self) -> Option<Job> {
        if self.closed {
            return None;
        }
        let Intake {
            jobs,
            chain_stopped,
            runtime,
            ..
        } = self;
        let job = runtime.block_on(async {
            tokio::select! {
                biased;
                () = chain_stopped.as_mut() => None,
                job = jobs.recv() => job,
            }
        });
        self.closed = job.is_none();
        job
    }
}

/// The senders of every transaction in `batch`.
fn senders(batch: &VecDeque<Job>) -> HashSet<Address> {
    batch
        .iter()
        .flat_map(|job| job.txs.iter().map(|tx| tx.tx().from))
        .collect()
}

/// Verifies `batch`'s signatures through the cache, split across up to `threads` threads
/// when it is large enough, then reads the senders' tip accounts.
fn verify(shared: &Shared, batch: VecDeque<Job>, threads: usize) -> Checked {
    let chain_id = shared.chain.reader().spec().consensus.chain_id;
    let mut replies = Vec::with_capacity(batch.len());
    let mut txs = Vec::new();
    for job in batch {
        replies.push((job.reply, job.txs.len()));
        txs.extend(job.txs);
    }
    let threads = if txs.len() >= 2 * tern_chain::signature_cache::MIN_SIGNATURES_PER_THREAD {
        threads
    } else {
        1
    };
    let verified = verify_many(txs, chain_id, shared.chain.signature_cache(), threads);
    let mut senders: Vec<Address> = verified
        .iter()
        .filter_map(|v| Some(v.as_ref().ok()?.get().tx().from))
        .collect();
    senders.sort_unstable();
    senders.dedup();
    let accounts = shared.read_accounts(&senders);
    Checked {
        replies,
        verified,
        accounts,
    }
}

/// Admits a verified batch in order and answers each job.
fn admit(shared: &Shared, checked: Checked) {
    let Checked {
        replies,
        verified,
        accounts,
    } = checked;
    let mut verdicts = match &accounts {
        Ok(accounts) => shared.admit_all(verified, accounts),
        Err(error) => verified
            .iter()
            .map(|_| Err(Unavailable::Store(error.clone()).into()))
            .collect(),
    }
    .into_iter();
    for (reply, count) in replies {
        let verdicts: Verdicts = verdicts.by_ref().take(count).collect();
        // A caller that gave up (its RPC connection closed) needs no answer.
        let _ = reply.send(verdicts);
    }
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
