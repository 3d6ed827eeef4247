//! The reading side of an admitted connection: it answers pings, data and header
//! requests itself, and hands everything else to the task whose job it is.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_chain::block::{Block, Header};
use tern_chain::encoding;
use tokio::sync::mpsc;

use super::{Budget, CloseReason, Misbehaviour, PeerContext, PeerStats, SendQueue};
use crate::close::MAX_RETRY_AFTER;
use crate::headers;
use crate::headers::StoredParent;
use crate::inbox::{ManagerInput, RelayInput, SyncInput};
use crate::message::{ChunkAnswer, InvItem, Message, MAX_HEADERS_PER_MESSAGE};
use crate::transport::{FrameReader, TransportError};
use crate::ConnId;
use tern_chain::state_map::chunk::{KeyPrefix, MAX_CHUNK_ACCOUNTS};
use tern_chain::types::BlockHash;
use tern_state::chain::ChunkQueryError;

/// The reading side of an admitted connection.
pub(super) struct Session<'a> {
    pub(super) ctx: &'a PeerContext,
    pub(super) conn: ConnId,
    pub(super) queue: SendQueue,
    pub(super) stats: Arc<PeerStats>,
    /// Inventory items the peer may still announce.
    pub(super) announcements: Budget,
    /// State chunks the peer may still ask for.
    pub(super) chunk_requests: Budget,
    /// Compact blocks the peer may still send.
    pub(super) compact_blocks: Budget,
    /// The nonce and send time of the ping awaiting its pong.
    pub(super) ping: Option<(u64, Instant)>,
    pub(super) next_ping: u64,
    /// Blocks being rebuilt from the peer's compact blocks.
    pub(super) partials: super::compact::Partials,
}

impl Session<'_> {
    pub(super) async fn read_loop(&mut self, mut reader: FrameReader) -> CloseReason {
        let config = &self.ctx.config;
        let mut ticker = tokio::time::interval(config.ping_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        // The outstanding ping's deadline, armed when a ping goes out: a peer that does
        // not answer is dropped at `ping_timeout`, not at the next tick after it.
        let pong_due = tokio::time::sleep(config.ping_timeout);
        tokio::pin!(pong_due);
        loop {
            let bytes = tokio::select! {
                read = reader.read_message() => match read {
                    Ok(bytes) => bytes,
                    Err(TransportError::MessageTooLarge { len }) => {
                        return Misbehaviour::MessageTooLarge { len }.into()
                    }
                    Err(TransportError::Overrun) => return Misbehaviour::FrameOverrun.into(),
                    Err(e) => return CloseReason::Transport(e),
                },
                _ = ticker.tick() => {
                    let waiting = self.ping.is_some();
                    if let Err(reason) = self.ping() {
                        return reason;
                    }
                    if let (false, Some((_, sent))) = (waiting, self.ping) {
                        pong_due
                            .as_mut()
                            .reset(tokio::time::Instant::from_std(sent + config.ping_timeout));
                    }
                    continue;
                }
                () = &mut pong_due, if self.ping.is_some() => {
                    return CloseReason::PingTimeout(config.ping_timeout);
                }
            };
            let total = reader.wire_bytes();
            let before = self.stats.bytes_in.swap(total, Ordering::Relaxed);
            self.ctx
                .totals
                .bytes_in
                .fetch_add(total.saturating_sub(before), Ordering::Relaxed);
            let message = match encoding::decode::<Message>(&bytes) {
                Ok(message) => message,
                Err(e) => return Misbehaviour::Malformed(e).into(),
            };
            PeerStats::count(&self.stats.received, message.kind());
            self.ctx.fault.hit();
            if let Err(reason) = self.handle(message, bytes.len()).await {
                return reason;
            }
        }
    }

    /// Sends a ping, or gives up on a peer that did not answer the last one in time.
    fn ping(&mut self) -> Result<(), CloseReason> {
        let timeout = self.ctx.config.ping_timeout;
        if let Some((_, sent)) = self.ping {
            if sent.elapsed() >= timeout {
                return Err(CloseReason::PingTimeout(timeout));
            }
            return Ok(());
        }
        self.next_ping = self.next_ping.wrapping_add(1);
        self.ping = Some((self.next_ping, Instant::now()));
        self.queue
            .try_send(&Message::Ping(self.next_ping))
            .map_err(|_| CloseReason::TooSlow)
    }

    /// Handles one message, `len` bytes on the wire.
    async fn handle(&mut self, message: Message, len: usize) -> Result<(), CloseReason> {
        match message {
            Message::Ping(nonce) => self
                .queue
                .send(&Message::Pong(nonce))
                .await
                .map_err(|_| CloseReason::Closed),
            Message::Pong(nonce) => {
                if let Some((expected, sent)) = self.ping {
                    if nonce == expected {
                        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                        self.stats
                            .rtt_micros
                            .store(micros.max(1), Ordering::Relaxed);
                        self.ping = None;
                    }
                }
                Ok(())
            }
            Message::Hello(_) => Err(Misbehaviour::RepeatedHello.into()),
            Message::Goodbye {
                reason,
                retry_after_secs,
            } => Err(CloseReason::Goodbye {
                reason,
                retry_after: Duration::from_secs(retry_after_secs).min(MAX_RETRY_AFTER),
            }),
            Message::GetData(items) => self.serve_data(items).await,
            Message::GetHeaders { locator, stop } => self.serve_headers(locator, stop).await,
            Message::GetStateChunk { pivot, prefix } => self.serve_state_chunk(pivot, prefix).await,
            Message::StateChunk {
                pivot,
                prefix,
                answer,
            } => {
                let answer = SyncInput::StateChunk {
                    conn: self.conn,
                    pivot,
                    prefix,
                    answer: Box::new(answer),
                    bytes: len,
                };
                send_to(&self.ctx.to_sync, answer).await
            }
            Message::Inventory(items) => {
                if !self.spend_announce_budget(items.len()) {
                    return Ok(());
                }
                self.forward_inventory(items).await
            }
            Message::Block(block) => self.forward_block(*block).await,
            Message::Headers(headers) => self.forward_headers(headers).await,
            Message::NotFound(items) => self.forward_not_found(items).await,
            Message::Tx(tx) => {
                let conn = self.conn;
                send_to(&self.ctx.to_relay, RelayInput::Tx { conn, tx }).await
            }
            Message::CompactBlock(compact) => self.on_compact_block(*compact).await,
            Message::GetBlockTxs(request) => self.serve_block_txs(request).await,
            Message::BlockTxs(answer) => self.on_block_txs(answer).await,
            Message::SendCompact(push) => {
                self.stats.pushed_blocks.store(push, Ordering::Relaxed);
                let conn = self.conn;
                send_to(&self.ctx.to_sync, SyncInput::SendCompact { conn, push }).await
            }
            Message::GetAddrs => {
                let conn = self.conn;
                send_to(&self.ctx.to_manager, ManagerInput::GetAddrs { conn }).await
            }
            Message::Addrs(addrs) => {
                let conn = self.conn;
                send_to(&self.ctx.to_manager, ManagerInput::Addrs { conn, addrs }).await
            }
        }
    }

    /// Not-found answers: transactions to relay, blocks to sync (which passes them on).
    async fn forward_not_found(&self, items: Vec<InvItem>) -> Result<(), CloseReason> {
        let conn = self.conn;
        let txs = InvItem::txs(&items);
        let blocks: Vec<InvItem> = items
            .into_iter()
            .filter(|item| matches!(item, InvItem::Block(_) | InvItem::CompactBlock(_)))
            .collect();
        if !txs.is_empty() {
            send_to(
                &self.ctx.to_relay,
                RelayInput::TxsNotFound { conn, ids: txs },
            )
            .await?;
        }
        if !blocks.is_empty() {
            let items = blocks;
            send_to(&self.ctx.to_sync, SyncInput::BlocksNotFound { conn, items }).await?;
        }
        Ok(())
    }

    /// Checks a block's body against its header's Merkle root on the blocking pool (up to
    /// tens of milliseconds for the largest blocks), so the manager never does it.
    async fn forward_block(&self, block: Block) -> Result<(), CloseReason> {
        let (block, body_matches) = tokio::task::spawn_blocking(move || {
            let matches = block.computed_merkle_root() == block.header.merkle_root;
            (block, matches)
        })
        .await
        .map_err(|_| CloseReason::Closed)?;
        let block = SyncInput::Block {
            conn: self.conn,
            block: Box::new(block),
            body_matches,
            compact: false,
        };
        send_to(&self.ctx.to_sync, block).await
    }

    async fn forward_headers(&self, headers: Vec<Header>) -> Result<(), CloseReason> {
        let stored_parent = match headers.first() {
            Some(first) => {
                let parent = first.parent;
                let read = self
                    .ctx
                    .chain
                    .reads()
                    .run(move |reader| StoredParent::read(reader, &parent))
                    .await;
                match read {
                    Ok(stored_parent) => stored_parent,
                    // Not as good as absent: the headers would then not attach, and the
                    // peer would be banned for this node's failure. Dropped unjudged,
                    // the answer times out and sync asks again.
                    Err(error) => {
                        tracing::error!(%error, "cannot read the parent of a peer's headers");
                        return Ok(());
                    }
                }
            }
            None => None,
        };
        let answer = SyncInput::Headers {
            conn: self.conn,
            headers,
            stored_parent: stored_parent.map(Box::new),
        };
        send_to(&self.ctx.to_sync, answer).await
    }

    /// Announcements: transactions to relay; blocks to sync, with those the store
    /// already holds (looked up here, on the blocking pool, so no task waits on the store
    /// for them).
    pub(super) async fn forward_inventory(&self, items: Vec<InvItem>) -> Result<(), CloseReason> {
        let conn = self.conn;
        let ids = InvItem::txs(&items);
        let hashes = InvItem::blocks(&items);
        if !ids.is_empty() {
            send_to(&self.ctx.to_relay, RelayInput::TxInventory { conn, ids }).await?;
        }
        if hashes.is_empty() {
            return Ok(());
        }
        let lookup = hashes.clone();
        let stored = self
            .ctx
            .chain
            .reads()
            .run(move |reader| {
                let mut stored = HashSet::new();
                for hash in &lookup {
                    if reader.index_entry(hash)?.is_some() {
                        stored.insert(*hash);
                    }
                }
                Ok(stored)
            })
            .await
            // A store that cannot answer makes every block look new: at worst we
            // fetch one we have, and the chain says it already knows it.
            .unwrap_or_default();
        let announced = SyncInput::BlockInventory {
            conn,
            hashes,
            stored,
        };
        send_to(&self.ctx.to_sync, announced).await
    }

    /// Whether an announcement of `items` fits the peer's budget; one that does not is
    /// ignored whole. Never a ban: a link that stalled and then delivers its backlog at
    /// once (up to a send queue of [`SEND_QUEUE_BYTES`](crate::send_queue::SEND_QUEUE_BYTES))
    /// makes an honest peer's announcements arrive faster than any rate it sent them at.
    fn spend_announce_budget(&mut self, items: usize) -> bool {
        let fits = self.announcements.spend(items);
        if !fits {
            self.stats
                .ignored_announcements
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(conn = ?self.conn, items, "announcements over budget ignored");
        }
        fits
    }

    /// Answers a request for a chunk of the state at `pivot` from the store's tree, on
    /// the blocking pool (a chunk is thousands of reads). Over the peer's budget, or when
    /// the store fails, the answer is [`ChunkAnswer::Busy`]: the asker goes elsewhere.
    async fn serve_state_chunk(
        &mut self,
        pivot: BlockHash,
        prefix: KeyPrefix,
    ) -> Result<(), CloseReason> {
        let answer = if self.chunk_requests.spend(1) {
            let wanted = prefix.clone();
            let read = self
                .ctx
                .chain
                .reads()
                .run_on_pool(move |reader| {
                    match reader.state_chunk(&pivot, &wanted, MAX_CHUNK_ACCOUNTS) {
                        Err(ChunkQueryError::Store(error)) => Err(error),
                        answer => Ok(answer),
                    }
                })
                .await;
            match read {
                Ok(Ok(chunk)) => ChunkAnswer::Chunk(chunk),
                Ok(Err(ChunkQueryError::Pruned(_))) => ChunkAnswer::PivotPruned,
                Ok(Err(_)) => ChunkAnswer::UnknownPivot,
                Err(error) => {
                    tracing::error!(%error, %pivot, %prefix, "cannot read a state chunk");
                    ChunkAnswer::Busy
                }
            }
        } else {
            ChunkAnswer::Busy
        };
        self.queue
            .send(&Message::StateChunk {
                pivot,
                prefix,
                answer,
            })
            .await
            .map_err(|_| CloseReason::Closed)
    }

    /// Answers a data request from the mempool and the store.
    async fn serve_data(&self, items: Vec<InvItem>) -> Result<(), CloseReason> {
        let mut missing = Vec::new();
        for item in items {
            let found = match item {
                InvItem::Tx(id) => self.ctx.pool.get(&id).map(|tx| Message::Tx(Box::new(tx))),
                InvItem::Block(hash) => self
                    .ctx
                    .chain
                    .reads()
                    .run(move |reader| reader.block(&hash))
                    .await
                    .ok()
                    .flatten()
                    .map(|block| Message::Block(Box::new(block))),
                InvItem::CompactBlock(hash) => self.compact_block(hash).await,
            };
            match found {
                Some(message) => self
                    .queue
                    .send(&message)
                    .await
                    .map_err(|_| CloseReason::Closed)?,
                None => missing.push(item),
            }
        }
        if !missing.is_empty() {
            self.queue
                .send(&Message::NotFound(missing))
                .await
                .map_err(|_| CloseReason::Closed)?;
        }
        Ok(())
    }

    /// Answers a header request from the store.
    async fn serve_headers(
        &self,
        locator: Vec<tern_chain::types::BlockHash>,
        stop: Option<tern_chain::types::BlockHash>,
    ) -> Result<(), CloseReason> {
        let headers = self
            .ctx
            .chain
            .reads()
            .run(move |reader| {
                headers::headers_after(reader, &locator, stop, MAX_HEADERS_PER_MESSAGE)
            })
            .await
            .unwrap_or_default();
        self.queue
            .send(&Message::Headers(headers))
            .await
            .map_err(|_| CloseReason::Closed)
    }
}

/// Hands `input` to a task; a task that is gone means the node is stopping.
pub(super) async fn send_to<T>(task: &mpsc::Sender<T>, input: T) -> Result<(), CloseReason> {
    task.send(input).await.map_err(|_| CloseReason::Closed)
}
