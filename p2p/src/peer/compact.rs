//! The compact-block exchange on one connection, both ways. Asked for a compact block or
//! for some of a block's transactions, the connection answers from the store. Sent a
//! compact block, it rebuilds the block from the mempool on the blocking pool, asks the
//! peer for the transactions it lacks, and hands the block to sync exactly as if it had
//! come whole ([`SyncInput::Block`]), so sync, which asked for it, stays the one owner of
//! the request: its deadline covers the whole exchange, and a block that never comes is
//! asked of another peer as any other. A peer that sync asked to push new blocks
//! (high-bandwidth mode) sends compact blocks unasked; they take the same path, and sync
//! tells them from unsolicited data. When short ids cannot rebuild the block (a
//! collision, a body that does not match its header), sync is told, and asks the same
//! peer for the whole block: a request of its own, like every block request.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};

use lru::LruCache;
use tern_chain::types::BlockHash;

use super::session::{send_to, Session};
use super::{CloseReason, Misbehaviour};
use crate::compact::{
    fresh_nonce, BlockTxs, BlockTxsRequest, CompactBlock, PartialBlock, RebuildError,
};
use crate::inbox::SyncInput;
use crate::message::{InvItem, Message};
use crate::peer_stats::CompactOutcomes;

/// Blocks one connection is rebuilding at once, waiting for the peer's missing
/// transactions: sync asks one peer for one new block at a time, so a few cover
/// announcements that cross. The oldest is given up for a newer one; its answer, if it
/// comes, is ignored, and sync asks again when its request times out.
pub const MAX_PARTIAL_BLOCKS: usize = 4;

/// Compact blocks a peer may send unasked per second (pushed), after a burst of
/// [`COMPACT_BLOCK_BURST`]; more are not rebuilt, only taken as announcements of their
/// blocks, which sync fetches as it fetches any (out of the peer's allowance). Each
/// rebuild costs a pass over the mempool, so a peer flooding compact blocks must not
/// make the node scan its pool without end; and an honest peer pushing a burst (a
/// development chain mining a thousand blocks on demand) must not have its blocks lost.
/// Compact blocks sync asked for are rebuilt whatever the budget: sync's allowance
/// bounds them.
pub const COMPACT_BLOCKS_PER_SEC: f64 = 20.0;
/// Compact blocks a peer may send at once after a quiet spell.
pub const COMPACT_BLOCK_BURST: f64 = 64.0;

/// Transactions in a block small enough to complete on the connection's own task.
const INLINE_REBUILD: usize = 16;

/// The blocks a connection is rebuilding.
#[derive(Debug)]
pub(super) struct Partials(LruCache<BlockHash, PartialBlock>);

impl Default for Partials {
    fn default() -> Partials {
        Partials(LruCache::new(
            NonZeroUsize::new(MAX_PARTIAL_BLOCKS).unwrap_or(NonZeroUsize::MIN),
        ))
    }
}

impl Session<'_> {
    /// Answers a request for a compact block, or `None` if the store lacks the block.
    pub(super) async fn compact_block(&self, hash: BlockHash) -> Option<Message> {
        let nonce = fresh_nonce();
        self.ctx
            .chain
            .reads()
            .run(move |reader| {
                let block = reader.block(&hash)?;
                Ok(block.map(|block| CompactBlock::new(&block, nonce)))
            })
            .await
            .ok()
            .flatten()
            .map(|compact| Message::CompactBlock(Box::new(compact)))
    }

    /// Answers a request for some of a block's transactions: `NotFound` when the store
    /// lacks the block; a ban for positions past its end.
    pub(super) async fn serve_block_txs(
        &self,
        request: BlockTxsRequest,
    ) -> Result<(), CloseReason> {
        let BlockTxsRequest { block, indexes } = request;
        let read = self
            .ctx
            .chain
            .reads()
            .run(move |reader| reader.block(&block))
            .await
            .ok()
            .flatten();
        let Some(found) = read else {
            return self
                .send(Message::NotFound(vec![InvItem::CompactBlock(block)]))
                .await;
        };
        let count = found.transactions.len();
        let mut txs = Vec::with_capacity(indexes.len());
        for index in indexes {
            match found.transactions.get(index as usize) {
                Some(tx) => txs.push(tx.clone()),
                None => {
                    return Err(Misbehaviour::BlockTxsPastEnd {
                        block,
                        index,
                        count,
                    }
                    .into())
                }
            }
        }
        self.send(Message::BlockTxs(BlockTxs { block, txs })).await
    }

    /// A compact block: rebuilt from the mempool, then whole to sync, or its missing
    /// transactions asked of the peer, or, if short ids cannot rebuild it, sync told.
    /// One pushed that the store holds (another peer's push came first) is ignored. One pushed unasked
    /// over the peer's budget, or whose parent the store lacks (the pusher is ahead: a
    /// burst, or a chain we have not followed), is taken as an announcement of its block,
    /// for sync to fetch as it fetches any, headers first if need be.
    pub(super) async fn on_compact_block(
        &mut self,
        compact: CompactBlock,
    ) -> Result<(), CloseReason> {
        let hash = compact.hash();
        let asked = self.stats.compact_asked.take(&hash);
        if !asked && !self.compact_blocks.spend(1) {
            tracing::debug!(conn = ?self.conn, %hash, "compact block over budget: taken as an announcement");
            return self.forward_inventory(vec![InvItem::Block(hash)]).await;
        }
        let parent = compact.header.parent;
        let (stored, placed) = self
            .ctx
            .chain
            .reads()
            .run(move |reader| {
                let stored = reader.index_entry(&hash)?.is_some();
                Ok((stored, reader.index_entry(&parent)?.is_some()))
            })
            .await
            .unwrap_or((false, true));
        // A block the store holds already needs no rebuilding, but one sync asked for
        // still goes to it: its request is settled by the answer, not by a timeout.
        if stored && !asked {
            return Ok(());
        }
        if !asked && !placed {
            return self.forward_inventory(vec![InvItem::Block(hash)]).await;
        }
        let partial = if compact.short_ids.is_empty() {
            // Nothing to look up: every transaction came whole.
            PartialBlock::new(compact)
        } else {
            let pool = self.ctx.pool.clone();
            tokio::task::spawn_blocking(move || {
                let mut partial = PartialBlock::new(compact);
                pool.visit_pending(|tx| partial.offer(tx));
                partial
            })
            .await
            .map_err(|_| CloseReason::Closed)?
        };
        if partial.collided() {
            return self.ask_whole(hash).await;
        }
        let missing = partial.missing();
        if missing.is_empty() {
            return self.finish(partial, Vec::new()).await;
        }
        self.partials.0.put(hash, partial);
        let request = BlockTxsRequest {
            block: hash,
            indexes: missing,
        };
        self.send(Message::GetBlockTxs(request)).await
    }

    /// The peer's missing transactions for a block being rebuilt; ignored for a block
    /// that is not (never asked, or given up for a newer one).
    pub(super) async fn on_block_txs(&mut self, answer: BlockTxs) -> Result<(), CloseReason> {
        match self.partials.0.pop(&answer.block) {
            Some(partial) => self.finish(partial, answer.txs).await,
            None => Ok(()),
        }
    }

    /// Completes `partial` with `answer` on the blocking pool (its Merkle root is
    /// hashed) and hands the block to sync.
    async fn finish(
        &mut self,
        partial: PartialBlock,
        answer: Vec<tern_chain::tx::SignedTransaction>,
    ) -> Result<(), CloseReason> {
        let hash = partial.hash();
        let from_pool = answer.is_empty();
        // The Merkle root hashes every transaction: off the async threads, but for a
        // block of a few, where the hop would cost more than the hashing.
        let completed = if partial.transaction_count() <= INLINE_REBUILD {
            partial.complete(answer)
        } else {
            tokio::task::spawn_blocking(move || partial.complete(answer))
                .await
                .map_err(|_| CloseReason::Closed)?
        };
        match completed {
            Ok(block) => {
                self.count(|outcomes| {
                    if from_pool {
                        &outcomes.from_pool
                    } else {
                        &outcomes.after_round_trip
                    }
                });
                let block = SyncInput::Block {
                    conn: self.conn,
                    block: Box::new(block),
                    body_matches: true,
                    compact: true,
                };
                send_to(&self.ctx.to_sync, block).await
            }
            Err(
                error @ (RebuildError::WrongCount { .. } | RebuildError::AnswerMismatch { .. }),
            ) => Err(Misbehaviour::BadBlockTxs { block: hash, error }.into()),
            Err(RebuildError::Collision | RebuildError::BodyMismatch) => self.ask_whole(hash).await,
        }
    }

    /// Counts an outcome on the connection and in the node's totals.
    fn count(&self, outcome: impl Fn(&CompactOutcomes) -> &AtomicU64) {
        for stats in [&self.stats, &self.ctx.totals] {
            outcome(&stats.compact).fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Tells sync that short ids could not rebuild block `hash`: it asks the peer for
    /// the whole block.
    async fn ask_whole(&self, hash: BlockHash) -> Result<(), CloseReason> {
        self.count(|outcomes| &outcomes.whole);
        tracing::debug!(
            conn = ?self.conn,
            %hash,
            "a compact block could not be rebuilt; the whole block is asked for"
        );
        let conn = self.conn;
        send_to(
            &self.ctx.to_sync,
            SyncInput::CompactNotRebuilt { conn, hash },
        )
        .await
    }

    async fn send(&self, message: Message) -> Result<(), CloseReason> {
        self.queue
            .send(&message)
            .await
            .map_err(|_| CloseReason::Closed)
    }
}
