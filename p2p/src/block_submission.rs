//! A block submission worker: hands fetched blocks to the chain actor in the order they
//! came, pipelined, and reports each verdict with the peer that sent the block. The relay
//! and sync tasks each run their own, so each gets back the verdicts on its own blocks.

use std::collections::VecDeque;

use tern_chain::block::Block;
use tern_chain::types::BlockHash;
use tern_state::chain::{ChainError, ChainHandle, QueuedBlock, Verdict, QUEUE_AHEAD, VERIFY_AHEAD};
use tokio::sync::mpsc;

use super::ConnId;

/// Fetched blocks waiting for the chain actor, per worker. A block that finds it full is
/// fetched again later (relay) or handed over again (sync, which submits at most
/// `sync::SUBMIT_AHEAD` at once).
pub(crate) const BLOCK_QUEUE: usize = 256;

/// The chain's verdict on a block a peer sent.
#[derive(Debug)]
pub(crate) struct BlockVerdict {
    /// The peer that sent it.
    pub(crate) conn: ConnId,
    pub(crate) hash: BlockHash,
    /// The chain's verdict; whether the tip moved reaches the tasks as a chain update
    /// instead.
    pub(crate) result: Result<Verdict, ChainError>,
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
    verdicts: mpsc::Sender<BlockVerdict>,
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
        if verdicts
            .send(BlockVerdict { conn, hash, result })
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
