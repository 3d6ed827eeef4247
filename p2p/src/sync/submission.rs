//! The block submission worker: hands the blocks sync fetched to the chain actor in the
//! order they came, pipelined, and reports each verdict back to sync (which remembers
//! who sent each block).

use std::collections::VecDeque;

use tern_chain::block::Block;
use tern_chain::types::BlockHash;
use tern_state::chain::{ChainError, ChainHandle, QueuedBlock, Verdict, QUEUE_AHEAD, VERIFY_AHEAD};
use tokio::sync::mpsc;

/// Fetched blocks waiting for the chain actor. A block that finds it full is handed over
/// again later (sync submits at most `sync::SUBMIT_AHEAD` pending headers' blocks and
/// `sync::MAX_ANNOUNCED_IN_FLIGHT` announced ones at once).
pub(crate) const BLOCK_QUEUE: usize = 256;

/// The chain's verdict on a block a peer sent.
#[derive(Debug)]
pub(crate) struct BlockVerdict {
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
    mut inbox: mpsc::Receiver<Block>,
    verdicts: mpsc::Sender<BlockVerdict>,
) {
    let mut verifying: VecDeque<Ahead> = VecDeque::with_capacity(VERIFY_AHEAD);
    let mut queued: VecDeque<(BlockHash, QueuedBlock)> = VecDeque::with_capacity(QUEUE_AHEAD);
    loop {
        // Start verifying what has arrived; wait for a block only when nothing is pending.
        while verifying.len() < VERIFY_AHEAD {
            let block = if verifying.is_empty() && queued.is_empty() {
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
            verifying.push_back(Ahead::start(&chain, block));
        }
        if queued.len() < QUEUE_AHEAD {
            if let Some(next) = verifying.pop_front() {
                let _ = next.verifying.await;
                let hash = next.block.hash();
                queued.push_back((hash, chain.queue_block(next.block).await));
                continue;
            }
        }
        let Some((hash, verdict)) = queued.pop_front() else {
            continue;
        };
        let result = verdict.outcome().await.map(|o| o.verdict);
        if verdicts.send(BlockVerdict { hash, result }).await.is_err() {
            return;
        }
    }
}

/// A block whose signatures are being verified ahead of its submission.
struct Ahead {
    block: Block,
    verifying: tokio::task::JoinHandle<()>,
}

impl Ahead {
    fn start(chain: &ChainHandle, block: Block) -> Ahead {
        Ahead {
            verifying: chain.verify_ahead(&block),
            block,
        }
    }
}
