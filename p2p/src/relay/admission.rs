//! The relay task's admission worker: fetched transactions go through the mempool's
//! admission (the same as RPC's), and each verdict goes back to relay with the peer that
//! sent the transaction, so relay can judge the sender.

use tern_chain::tx::SignedTransaction;
use tern_chain::types::TxId;
use tern_mempool::{PoolHandle, SubmitError};
use tokio::sync::mpsc;

use super::book::MAX_IN_FLIGHT;
use crate::ConnId;

/// Fetched transactions waiting for admission. As large as the requests that can be in
/// flight, so a fetched transaction is never dropped for want of room.
pub(crate) const TX_QUEUE: usize = MAX_IN_FLIGHT;

/// Transactions verified in one signature batch.
const ADMISSION_BATCH: usize = 256;

/// The mempool's verdict on a transaction a peer sent.
#[derive(Debug)]
pub(crate) struct TxVerdict {
    /// The peer that sent it.
    pub(crate) conn: ConnId,
    pub(crate) id: TxId,
    pub(crate) result: Result<(), SubmitError>,
}

/// Admits transactions from `inbox` into the pool: whatever has arrived is taken as one
/// batch, its signatures verified together, and admitted in arrival order (a sender's
/// burst arrives in nonce order, and must be admitted so).
pub(crate) async fn admit_transactions(
    pool: PoolHandle,
    mut inbox: mpsc::Receiver<(ConnId, SignedTransaction)>,
    verdicts: mpsc::Sender<TxVerdict>,
) {
    let mut batch = Vec::with_capacity(ADMISSION_BATCH);
    while inbox.recv_many(&mut batch, ADMISSION_BATCH).await > 0 {
        let (senders, txs): (Vec<ConnId>, Vec<SignedTransaction>) = batch.drain(..).unzip();
        let ids: Vec<TxId> = txs.iter().map(SignedTransaction::id).collect();
        let results = pool.submit_many(txs).await;
        for ((conn, id), result) in senders.into_iter().zip(ids).zip(results) {
            let result = result.map(|_| ());
            if verdicts.send(TxVerdict { conn, id, result }).await.is_err() {
                return;
            }
        }
    }
}
