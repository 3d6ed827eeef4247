//! The admission threads against a real chain: many callers at once, each with its own
//! verdicts; each sender's transactions admitted in the order they arrived, across
//! batches verified on different threads; the threads ending when the chain stops; a
//! pending sender judged against its account after the latest block; and a new sender's
//! account read again when a block was applied between its read and its admission.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use crate::pool::{MempoolConfig, MempoolError};
use futures_util::future::join_all;
use tern_chain::crypto::{dev_secret_key, Signature};
use tern_chain::error::TxError;
use tern_chain::genesis::ChainSpec;
use tern_chain::tx::{SignedTransaction, Transaction};
use tern_chain::types::Amount;
use tern_state::chain::{spawn, Chain, ChainError, ChainHandle};

use crate::handle::{PoolHandle, SubmitError, MAX_BATCH};
use tern_tasks::TaskManager;

/// Longer than any of these tests takes, so that a hang fails instead of stalling CI.
const BOUND: Duration = Duration::from_secs(60);

struct Pool {
    chain: ChainHandle,
    thread: Option<std::thread::JoinHandle<Result<(), ChainError>>>,
    pool: PoolHandle,
    tasks: TaskManager,
    _dir: tempfile::TempDir,
}

fn pool() -> Pool {
    let dir = tempfile::tempdir().unwrap();
    let spec = ChainSpec::resolve("dev").unwrap();
    let (chain, thread) = spawn(Chain::open(dir.path(), spec).unwrap()).unwrap();
    let tasks = TaskManager::new();
    let config = MempoolConfig {
        max_per_sender: 256,
        ..MempoolConfig::default()
    };
    let pool = PoolHandle::start(chain.clone(), config, tasks.executor()).unwrap();
    Pool {
        chain,
        thread: Some(thread),
        pool,
        tasks,
        _dir: dir,
    }
}

impl Pool {
    /// Stops the chain, then waits for every task and thread (the admission threads
    /// included) and for the chain's thread, so the store is closed when this returns.
    async fn stop(mut self) {
        self.chain.shutdown().await;
        tokio::time::timeout(BOUND, self.tasks.wait())
            .await
            .expect("every task and thread ends once the chain stops");
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap().unwrap();
        }
    }
}

fn transfer(from: u32, nonce: u64) -> SignedTransaction {
    Transaction {
        chain_id: ChainSpec::resolve("dev").unwrap().consensus.chain_id,
        from: dev_secret_key(from).address(),
        to: dev_secret_key(9).address(),
        amount: Amount::from_base_units(1),
        fee: Amount::from_base_units(1_000),
        nonce,
    }
    .sign(&dev_secret_key(from))
}

/// `tx` carrying another transaction's signature: well formed, and wrong.
fn forged(tx: &SignedTransaction, signature_of: &SignedTransaction) -> SignedTransaction {
    SignedTransaction::new(
        *tx.tx(),
        Signature::from_bytes(*signature_of.signature().as_bytes()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_at_once_each_get_their_own_verdict_and_a_forgery_costs_the_others_nothing() {
    let pool = pool();
    // Eight senders, sixteen nonces each, every transaction its own call, all submitted
    // at once so that they share batches; one of them carries a stolen signature.
    let mut txs: Vec<SignedTransaction> = (0..16)
        .flat_map(|nonce| (0..8).map(move |sender| transfer(sender, nonce)))
        .collect();
    let victim = 8 * 15 + 3;
    txs[victim] = forged(&txs[victim], &txs[0]);
    let calls = txs.iter().map(|tx| pool.pool.submit_many(vec![tx.clone()]));
    let verdicts = tokio::time::timeout(BOUND, join_all(calls)).await.unwrap();
    for (i, (mut verdict, tx)) in verdicts.into_iter().zip(&txs).enumerate() {
        assert_eq!(verdict.len(), 1);
        match verdict.pop().unwrap() {
            Err(SubmitError::Rejected(MempoolError::Invalid(TxError::BadSignature(_))))
                if i == victim => {}
            Ok(admission) if i != victim => assert_eq!(admission.id, tx.id()),
            other => panic!("transaction {i}: {other:?}"),
        }
    }
    assert_eq!(pool.pool.stats().count, txs.len() - 1);
    // Every call was counted in some batch, and calls made at once shared batches.
    let batching = pool.pool.admission_stats();
    assert_eq!(batching.transactions, txs.len() as u64);
    assert!(
        (1..txs.len() as u64).contains(&batching.batches),
        "{batching:?}"
    );
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_senders_later_call_waits_for_its_earlier_one_in_a_slower_batch() {
    let pool = pool();
    // A first call too large to share its batch (a full batch, slow to verify) holds
    // sender 0's nonce 0; a second call, alone in the next batch on the other thread and
    // verified long before, holds nonce 1. Admitted before nonce 0, it would not be
    // ready (a gap); it must wait for the first batch instead.
    let mut large = vec![transfer(0, 0)];
    large.extend((0..128).flat_map(|nonce| (1..9).map(move |sender| transfer(sender, nonce))));
    assert!(large.len() >= MAX_BATCH);
    let next = transfer(0, 1);
    let (first, second) = tokio::time::timeout(
        BOUND,
        futures_util::future::join(
            pool.pool.submit_many(large.clone()),
            pool.pool.submit_many(vec![next.clone()]),
        ),
    )
    .await
    .unwrap();
    assert!(first.iter().all(Result::is_ok), "{first:?}");
    let admission = second.into_iter().next().unwrap().unwrap();
    assert_eq!(admission.id, next.id());
    assert!(admission.ready, "nonce 1 was admitted before nonce 0");
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_the_chain_stops_the_threads_end_and_callers_hear_the_node_is_unavailable() {
    let pool = pool();
    assert!(pool.pool.submit(transfer(0, 0)).await.is_ok());
    let handle = pool.pool.clone();
    // `stop` returns only once every admission thread has ended.
    pool.stop().await;
    let verdict = tokio::time::timeout(BOUND, handle.submit(transfer(0, 1)))
        .await
        .unwrap();
    assert!(
        matches!(verdict, Err(SubmitError::Unavailable(_))),
        "{verdict:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_senders_next_transaction_is_judged_against_its_account_after_the_latest_block() {
    let pool = pool();
    let spec = ChainSpec::resolve("dev").unwrap();
    let mut builder = tern_chain::testkit::ChainBuilder::new(spec);
    let genesis = builder.genesis();
    let key = dev_secret_key(0);
    let to = dev_secret_key(9).address();
    let pending: Vec<SignedTransaction> = (0..4)
        .map(|n| builder.transfer(&genesis, &key, to, 1_000_000, 1_000, n))
        .collect();
    let verdicts = tokio::time::timeout(BOUND, pool.pool.submit_many(pending.clone()))
        .await
        .unwrap();
    assert!(verdicts.iter().all(Result::is_ok), "{verdicts:?}");

    // A block takes nonces 0 and 1; 2 and 3 stay pending, so the pool keeps the sender
    // and its own view of the account, which the block changed.
    let block = builder
        .child(&genesis, pending[..2].to_vec(), dev_secret_key(8).address())
        .unwrap();
    pool.chain.submit_block(block.clone()).await.unwrap();
    tokio::time::timeout(BOUND, pool.pool.wait_synced(block.hash()))
        .await
        .unwrap();
    let after = tern_chain::state::AccountView::account(
        builder.state(&block.hash()).unwrap(),
        &key.address(),
    )
    .unwrap();
    assert_eq!(after.nonce, 2);

    // Nonce 4 follows the pending 2 and 3: ready.
    let next = builder.transfer(&block.hash(), &key, to, 1, 1_000, 2);
    assert_eq!(next.tx().nonce, 4);
    let admission = pool.pool.submit(next).await.unwrap();
    assert!(admission.ready);
    // Nonce 5 asks for more than the balance after the block leaves beside 2, 3 and 4:
    // refused, and the balance named is the one after the block.
    let greedy = builder.transfer(
        &block.hash(),
        &key,
        to,
        after.balance.base_units(),
        1_000,
        3,
    );
    match pool.pool.submit(greedy).await {
        Err(SubmitError::Rejected(MempoolError::InsufficientFunds { available, .. })) => {
            assert_eq!(available, after.balance);
        }
        other => panic!("{other:?}"),
    }
    pool.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_senders_account_read_before_a_block_the_pool_then_applied_is_read_again() {
    let pool = pool();
    let spec = ChainSpec::resolve("dev").unwrap();
    let mut builder = tern_chain::testkit::ChainBuilder::new(spec.clone());
    let genesis = builder.genesis();
    let key = dev_secret_key(0);
    let to = dev_secret_key(9).address();
    // Admission reads the sender's account (nonce 0) while the pool holds nothing of it...
    let read = pool.pool.shared.read_accounts(&[key.address()]).unwrap();
    // ...then a block from elsewhere uses nonce 0, and the pool applies it.
    let mined = builder.transfer(&genesis, &key, to, 1, 1_000, 0);
    let block = builder
        .child(&genesis, vec![mined], dev_secret_key(8).address())
        .unwrap();
    pool.chain.submit_block(block.clone()).await.unwrap();
    tokio::time::timeout(BOUND, pool.pool.wait_synced(block.hash()))
        .await
        .unwrap();
    // Nonce 1, admitted with the account read before the block: ready, since the account
    // is read again; with nonce 0 it would wait behind a used nonce for good.
    let next = builder.transfer(&block.hash(), &key, to, 1, 1_000, 0);
    assert_eq!(next.tx().nonce, 1);
    let verified = crate::pool::verify(next, spec.consensus.chain_id, pool.chain.signature_cache());
    let mut verdicts = pool.pool.shared.admit_all([verified], &read);
    let admission = verdicts.pop().unwrap().unwrap();
    assert!(
        admission.ready,
        "judged against the account before the block"
    );
    pool.stop().await;
}
