//! The tasks that check what peers send: transactions through the mempool's admission,
//! blocks through the chain actor, each reporting back to the manager so it can judge the
//! sender.

use std::collections::VecDeque;

use tern_chain::block::Block;
use tern_chain::tx::SignedTransaction;
use tern_chain::types::{BlockHash, TxId};
use tern_state::chain::{ChainError, ChainHandle, QueuedBlock, Verdict, QUEUE_AHEAD, VERIFY_AHEAD};
use tokio::sync::mpsc;

use super::relay::MAX_IN_FLIGHT;
use super::ConnId;
use tern_mempool::{PoolHandle, SubmitError};

/// Fetched transactions waiting for admission. As large as the requests that can be in
/// flight, so a fetched transaction is never dropped for want of room.
pub(crate) const TX_QUEUE: usize = MAX_IN_FLIGHT;

/// Fetched blocks waiting for the chain actor: relay's, and sync's (at most
/// `sync::SUBMIT_AHEAD` at once). A block that finds it full is fetched again later.
pub(crate) const BLOCK_QUEUE: usize = 256;

/// Transactions verified in one signature batch.
const ADMISSION_BATCH: usize = 256;

/// What became of something a peer sent.
#[derive(Debug)]
pub(crate) enum Outcome {
    Tx {
        conn: ConnId,
        id: TxId,
        result: Result<(), SubmitError>,
    },
    Block {
        conn: ConnId,
        hash: BlockHash,
        /// The chain's verdict; whether the tip moved reaches the manager as a chain
        /// update instead.
        result: Result<Verdict, ChainError>,
    },
}

/// Admits transactions from `inbox` into the pool: whatever has arrived is taken as one
/// batch, its signatures verified together, and admitted in arrival order (a sender's
/// burst arrives in nonce order, and must be admitted so).
pub(crate) async fn admit_transactions(
    pool: PoolHandle,
    mut inbox: mpsc::Receiver<(ConnId, SignedTransaction)>,
    outcomes: mpsc::Sender<Outcome>,
) {
    let mut batch = Vec::with_capacity(ADMISSION_BATCH);
    while inbox.recv_many(&mut batch, ADMISSION_BATCH).await > 0 {
        let (senders, txs): (Vec<ConnId>, Vec<SignedTransaction>) = batch.drain(..).unzip();
        let ids: Vec<TxId> = txs.iter().map(SignedTransaction::id).collect();
        let results = pool.submit_many(txs).await;
        for ((conn, id), result) in senders.into_iter().zip(ids).zip(results) {
            let result = result.map(|_| ());
            if outcomes
                .send(Outcome::Tx { conn, id, result })
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// Submits blocks from `inbox` to the chain actor, in the order they arrived, pipelined
/// twice over: up to [`VERIFY_AHEAD`] blocks have their signatures verified into the
/// signature cache ([`ChainHandle::verify_ahead`]) while the actor checks and writes the
/// ones before, and up to [`QUEUE_AHEAD`] blocks wait at the actor, so a syncing node
/// keeps both its cores and its disk busy. Verdicts are reported in the order the blocks
/// came.
pub(crate) async fn submit_blocks(
    chain: ChainHandle,
    mut inbox: mpsc::Receiver<(ConnId, Block)>,
    outcomes: mpsc::Sender<Outcome>,
) {
    let mut verifying: VecDeque<Ahead> = VecDeque::with_capacity(VERIFY_AHEAD);
    let mut queued: VecDeque<(ConnId, BlockHash, QueuedBlock)> =
        VecDeque::with_capacity(QUEUE_AHEAD);
    loop {
        // Start verifying what has arrived; wait for a block only when nothing is pending.
        while verifying.len() < VERIFY_AHEAD {
            let (conn, block) = if verifying.is_empty() && queued.is_empty() {
                match inbox.recv().await {
                    Some(next) => next,
                    None => return,
                }
            } else {
                match inbox.try_recv() {
                    Ok(next) => next,
                    Err(_) => break,
                }
            };
            verifying.push_back(Ahead::start(&chain, conn, block));
        }
        if queued.len() < QUEUE_AHEAD {
            if let Some(next) = verifying.pop_front() {
                let _ = next.verifying.await;
                let hash = next.block.hash();
                queued.push_back((next.conn, hash, chain.queue_block(next.block).await));
                continue;
            }
        }
        let Some((conn, hash, verdict)) = queued.pop_front() else {
            continue;
        };
        let result = verdict.outcome().await.map(|o| o.verdict);
        if outcomes
            .send(Outcome::Block { conn, hash, result })
            .await
            .is_err()
        {
            return;
        }
    }
}

/// A block whose signatures are being verified ahead of its submission.
struct Ahead {
    conn: ConnId,
    block: Block,
    verifying: tokio::task::JoinHandle<()>,
}

impl Ahead {
    fn start(chain: &ChainHandle, conn: ConnId, block: Block) -> Ahead {
        Ahead {
            conn,
            verifying: chain.verify_ahead(&block),
            block,
        }
    }
}
