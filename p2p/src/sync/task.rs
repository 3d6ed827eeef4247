//! The sync task: drives [`SyncState`] from what peers send and sends what it asks for.
//! Every block, block announcement, block not-found answer and header answer comes here,
//! and only here: it is the one owner of block requests. Every block it fetched goes to
//! the chain actor through its one submission worker, whose verdicts come back only here.
//! It announces each new tip to the peers that do not know it, publishes its status and
//! logs progress while syncing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_chain::block::{Block, Header};
use tern_chain::types::{BlockHash, Timestamp};
use tern_state::chain::{ChainEvent, ChainHandle, ChainUpdate, Verdict};
use tern_tasks::TaskExecutor;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::high_bandwidth::{relays_early, MAX_PUSHED_PER_UPDATE};
use super::snapshot_steps::{self, SnapshotReply, SnapshotStep, STEP_QUEUE};
use super::submission::{self, BlockVerdict, BLOCK_QUEUE};
use super::{StoredParent, SyncError, SyncPhase, SyncState, SyncStatus};
use crate::close::Misbehaviour;
use crate::compact::{fresh_nonce, CompactBlock};
use crate::inbox::{Inbox, Next, SyncInput};
use crate::link::{PeerEvent, PeerLinks};
use crate::message::{InvItem, Message, MessageKind, MAX_INVENTORY_PER_MESSAGE};
use crate::ConnId;

/// Inputs from connection tasks waiting for the sync task.
pub(crate) const SYNC_QUEUE: usize = 1_024;
/// Verdicts from the sync task's submission worker waiting for it.
const VERDICT_QUEUE: usize = 256;
/// How often sync expires late requests and publishes its status.
const DRIVE_INTERVAL: Duration = Duration::from_millis(500);
/// How often a syncing node logs its progress.
const PROGRESS_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// What the sync task needs from the node.
pub(crate) struct SyncParts {
    pub(crate) chain: ChainHandle,
    pub(crate) state: SyncState,
    /// Our canonical chain's block locator, kept current off this task.
    pub(crate) locator: watch::Receiver<Arc<Vec<BlockHash>>>,
    /// Where sync's status is published.
    pub(crate) status: watch::Sender<SyncStatus>,
}

/// Starts the sync task as the critical task `sync`, with its block submission worker.
/// It ends when `cancel` fires.
pub(crate) fn spawn(
    parts: SyncParts,
    inbox: Inbox<SyncInput>,
    tasks: &TaskExecutor,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let (verdicts_sender, verdicts) = mpsc::channel(VERDICT_QUEUE);
    let (blocks, block_inbox) = mpsc::channel(BLOCK_QUEUE);
    tasks.spawn(
        "block submission",
        submission::submit_blocks(parts.chain.clone(), block_inbox, verdicts_sender),
    );
    let (steps, step_inbox) = mpsc::channel(STEP_QUEUE);
    let (replies_sender, replies) = mpsc::channel(STEP_QUEUE);
    tasks.spawn(
        "sync snapshot steps",
        snapshot_steps::take_steps(parts.chain.clone(), step_inbox, replies_sender),
    );
    let task = SyncTask {
        parts,
        peers: PeerLinks::default(),
        blocks,
        steps,
        was_syncing: false,
        was_isolated: false,
        last_progress_log: Instant::now(),
    };
    tasks.spawn_critical("sync", task.run(inbox, verdicts, replies, cancel))
}

struct SyncTask {
    parts: SyncParts,
    peers: PeerLinks,
    blocks: mpsc::Sender<Block>,
    /// Steps of a snapshot restore, for the snapshot worker.
    steps: mpsc::Sender<SnapshotStep>,
    was_syncing: bool,
    was_isolated: bool,
    last_progress_log: Instant,
}

impl SyncTask {
    async fn run(
        mut self,
        mut inbox: Inbox<SyncInput>,
        mut verdicts: mpsc::Receiver<BlockVerdict>,
        mut replies: mpsc::Receiver<SnapshotReply>,
        cancel: CancellationToken,
    ) {
        // A snapshot a restart interrupted goes on; a store with blocks syncs in full.
        let restoring = match self.parts.chain.snapshot_progress().await {
            Ok(progress) => progress,
            Err(error) => {
                tracing::error!(%error, "cannot read the snapshot being restored");
                None
            }
        };
        let tip = self.parts.chain.tip();
        self.parts
            .state
            .snapshot()
            .start(tip.height(), restoring.as_ref());
        let mut ticks = tokio::time::interval(DRIVE_INTERVAL);
        let mut chain_events = self.parts.chain.events();
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                Some(next) = inbox.recv() => match next {
                    Next::Peer(event) => self.on_peer_event(event),
                    Next::Input(input) => self.on_input(input),
                },
                Some(verdict) = verdicts.recv() => self.on_verdict(verdict),
                Some(reply) = replies.recv() => self.on_snapshot_reply(reply),
                event = chain_events.next() => match event {
                    Some(ChainEvent::Update(update)) => self.on_chain_update(&update),
                    // Missed updates: announcing the tip is enough for peers to catch up.
                    Some(ChainEvent::Lagged { .. }) => {
                        let tip = self.parts.chain.tip().hash;
                        self.announce(&[tip]);
                    }
                    // The chain stopped: the node is stopping.
                    None => break,
                },
                _ = ticks.tick() => {
                    self.drive();
                    self.report();
                }
            }
        }
    }

    fn on_peer_event(&mut self, event: PeerEvent) {
        // A peer behind our tip now, to which our hello claimed no more work than it had:
        // blocks connected while the two hellos crossed were announced before it joined,
        // and it would learn of them only at the next block. Our tip goes to it at once.
        // (One our hello told of more work syncs from us on its own.)
        let tip = self.parts.chain.tip();
        let behind = matches!(&event, PeerEvent::Joined(link)
            if link.claimed_work < tip.cumulative_work && link.told_work <= link.claimed_work);
        if let PeerEvent::Joined(link) = &event {
            let state = &mut self.parts.state;
            state.add_peer(link.conn, link.claimed_work, link.claimed_height);
            state.set_lowest_body(link.conn, link.lowest_body);
        }
        let conn = self.peers.apply(event);
        if !self.peers.contains(conn) {
            self.parts.state.remove_peer(conn, Instant::now());
        } else if behind {
            self.announce_to(conn, &[tip.hash]);
        }
        // A new peer with more work gets asked for headers; a gone one's requests go to
        // others. The status goes out at once: the first peer ends a node's isolation,
        // and the last one's leaving starts it, for `/ready` without a tick's delay.
        self.drive();
        self.report();
    }

    fn on_input(&mut self, input: SyncInput) {
        match input {
            SyncInput::Headers {
                conn,
                headers,
                stored_parent,
            } => self.on_headers(conn, &headers, stored_parent.as_deref()),
            SyncInput::Block {
                conn,
                block,
                body_matches,
                compact,
            } => self.on_block(conn, *block, body_matches, compact),
            SyncInput::CompactNotRebuilt { conn, hash } => {
                if self.peers.contains(conn) {
                    let state = &mut self.parts.state;
                    state.on_compact_not_rebuilt(conn, hash, Instant::now());
                    self.drive();
                }
            }
            SyncInput::SendCompact { conn, push } => self.parts.state.on_send_compact(conn, push),
            SyncInput::BlockInventory {
                conn,
                hashes,
                stored,
            } => {
                if self.peers.contains(conn) {
                    let state = &mut self.parts.state;
                    state.on_block_inventory(conn, &hashes, &stored, Instant::now());
                    self.drive();
                }
            }
            SyncInput::BlocksNotFound { conn, items } => {
                self.parts.state.on_not_found(conn, &items, Instant::now());
                self.drive();
            }
            SyncInput::StateChunk {
                conn,
                pivot,
                prefix,
                answer,
                bytes,
            } => {
                let snapshot = self.parts.state.snapshot();
                if snapshot.on_chunk(Instant::now(), conn, pivot, prefix, *answer, bytes) {
                    self.drive();
                }
            }
        }
    }

    /// What the chain made of a snapshot step.
    fn on_snapshot_reply(&mut self, reply: SnapshotReply) {
        match reply {
            SnapshotReply::Abandoned(result) => {
                if let Err(error) = result {
                    tracing::error!(%error, "the chain could not undo the old pivot's snapshot");
                }
            }
            SnapshotReply::Begun(result) => self.parts.state.snapshot().begun(result),
            SnapshotReply::Restored {
                conn,
                prefix,
                result,
            } => {
                if let Some(error) = self.parts.state.snapshot().restored(conn, prefix, result) {
                    self.peers.report(conn, Misbehaviour::BadStateChunk(error));
                }
            }
            SnapshotReply::Finished(result) => self.parts.state.snapshot_finished(result),
        }
        self.drive();
        self.report();
    }

    /// Headers, asked for or not (see [`SyncState::on_headers`]).
    fn on_headers(&mut self, conn: ConnId, headers: &[Header], stored: Option<&StoredParent>) {
        let Some(link) = self.peers.get(conn) else {
            return;
        };
        let state = &mut self.parts.state;
        let chain = &self.parts.chain;
        let our_work = chain.tip().cumulative_work;
        let params = &chain.reader().spec().consensus;
        let now = Timestamp::now();
        if let Err(error) = state.on_headers(conn, headers, stored, params, our_work, now) {
            return report_sync_error(&self.peers, conn, error);
        }
        if let Some(last) = headers.last() {
            link.raise_best(last.height, last.hash());
        }
        self.drive();
    }

    /// A block: kept if sync asked for it or wants it (see [`SyncState::on_block`]).
    fn on_block(&mut self, conn: ConnId, block: Block, body_matches: bool, compact: bool) {
        if !self.peers.contains(conn) {
            return;
        }
        let (height, hash) = (block.header.height, block.hash());
        match self
            .parts
            .state
            .on_block(conn, block, body_matches, compact, Instant::now())
        {
            Ok(()) => {
                if let Some(link) = self.peers.get(conn) {
                    link.raise_best(height, hash);
                }
                self.drive();
            }
            Err(error) => report_sync_error(&self.peers, conn, error),
        }
    }

    /// The chain's verdict on a block sync submitted.
    fn on_verdict(&mut self, verdict: BlockVerdict) {
        let BlockVerdict { hash, result, .. } = verdict;
        if let Some(sender) = self.parts.state.on_verdict(&hash, &result) {
            if let Ok(Verdict::Rejected(rejection)) = result {
                self.peers
                    .report(sender, Misbehaviour::InvalidBlock(rejection));
            }
        }
        self.drive();
    }

    /// Lets sync expire late requests, then sends what it asks for and hands downloaded
    /// blocks to the chain in order.
    fn drive(&mut self) {
        let tip = self.parts.chain.tip();
        let locator = Arc::clone(&self.parts.locator.borrow());
        let actions = self.parts.state.drive(Instant::now(), &tip, &locator);
        if let Some((conn, locator)) = actions.headers {
            let request = Message::GetHeaders {
                locator,
                stop: None,
            };
            self.peers.send(conn, &request);
        }
        for (conn, items) in actions.blocks {
            if let Some(link) = self.peers.get(conn) {
                link.note_compact_asks(items.iter().filter_map(|item| match item {
                    InvItem::CompactBlock(hash) => Some(*hash),
                    _ => None,
                }));
                link.send_get_data(&items);
            }
        }
        for (conn, push) in actions.send_compact {
            if let Some(link) = self.peers.get(conn) {
                link.send(&Message::SendCompact(push));
                link.mark_pushes_blocks(push);
            }
        }
        for conn in actions.drop {
            self.peers.disconnect(
                conn,
                "does not serve the chain it claims: requests stalled or headers fell short",
            );
        }
        for block in actions.submit {
            if actions.relay_first.contains(&block.hash()) {
                self.relay_early(&block);
            }
            if let Err(error) = self.blocks.try_send(block) {
                self.parts.state.unsubmit(error.into_inner());
            }
        }
        let snapshot = actions.snapshot;
        for (conn, pivot, prefix) in snapshot.requests {
            self.peers
                .send(conn, &Message::GetStateChunk { pivot, prefix });
        }
        let steps = snapshot
            .abandon
            .then_some(SnapshotStep::Abandon)
            .into_iter()
            .chain(
                snapshot
                    .begin
                    .map(|pivot| SnapshotStep::Begin(Box::new(pivot))),
            )
            .chain(snapshot.restore.into_iter().map(|(conn, prefix, chunk)| {
                SnapshotStep::Restore {
                    conn,
                    prefix,
                    chunk: Box::new(chunk),
                }
            }))
            .chain(snapshot.finish.map(SnapshotStep::Finish));
        for step in steps {
            // The queue holds every step the state lets out at once; a worker that is
            // gone means the node is stopping.
            if self.steps.try_send(step).is_err() {
                tracing::error!("the snapshot worker cannot take a step");
            }
        }
    }

    /// Pushes a new block a peer announced or pushed on to the peers that asked for new
    /// blocks pushed, before the chain validates it, if its header checks against the
    /// tip (see [`relays_early`]): one trip a hop, not one trip and an import.
    fn relay_early(&mut self, block: &Block) {
        let tip = self.parts.chain.tip();
        let params = &self.parts.chain.reader().spec().consensus;
        if !relays_early(&block.header, &tip, params, Timestamp::now()) {
            return;
        }
        let hash = block.hash();
        let message = Message::CompactBlock(Box::new(CompactBlock::new(block, fresh_nonce())));
        let conns: Vec<ConnId> = self.peers.iter().map(|link| link.conn).collect();
        let now = Instant::now();
        for conn in conns {
            let state = &mut self.parts.state;
            // Over its rate, the peer hears of the block once it is connected.
            if !state.may_push(conn, now) || state.to_announce(conn, &[hash]).is_empty() {
                continue;
            }
            if let Some(link) = self.peers.get(conn) {
                link.send(&message);
            }
        }
    }

    /// Blocks the chain connected go to every peer that does not know them, at once:
    /// pushed as compact blocks to the peers that asked for it (a few new blocks at a
    /// time, [`MAX_PUSHED_PER_UPDATE`]), announced to the others.
    fn on_chain_update(&mut self, update: &ChainUpdate) {
        let hashes: Vec<BlockHash> = update.connected.iter().map(|b| b.hash()).collect();
        if update.connected.len() > MAX_PUSHED_PER_UPDATE {
            return self.announce(&hashes);
        }
        // One compact form per block, for every peer: its short ids cost a hash per
        // transaction. A nonce of its own per block keys them.
        let compact: Vec<Message> = update
            .connected
            .iter()
            .map(|block| Message::CompactBlock(Box::new(CompactBlock::new(block, fresh_nonce()))))
            .collect();
        let conns: Vec<ConnId> = self.peers.iter().map(|link| link.conn).collect();
        let now = Instant::now();
        for conn in conns {
            if !self.parts.state.may_push(conn, now) {
                self.announce_to(conn, &hashes);
                continue;
            }
            let fresh = self.parts.state.to_announce(conn, &hashes);
            let Some(link) = self.peers.get(conn) else {
                continue;
            };
            for (hash, message) in hashes.iter().zip(&compact) {
                if fresh.contains(hash) && !link.send(message) {
                    break;
                }
            }
        }
    }

    fn announce(&mut self, hashes: &[BlockHash]) {
        let conns: Vec<ConnId> = self.peers.iter().map(|link| link.conn).collect();
        for conn in conns {
            self.announce_to(conn, hashes);
        }
    }

    fn announce_to(&mut self, conn: ConnId, hashes: &[BlockHash]) {
        let fresh = self.parts.state.to_announce(conn, hashes);
        let Some(link) = self.peers.get(conn) else {
            return;
        };
        let items: Vec<InvItem> = fresh.into_iter().map(InvItem::Block).collect();
        for chunk in items.chunks(MAX_INVENTORY_PER_MESSAGE) {
            if !link.send(&Message::Inventory(chunk.to_vec())) {
                return;
            }
        }
    }

    /// Publishes the sync status, and logs progress while syncing.
    fn report(&mut self) {
        let tip = self.parts.chain.tip();
        let status = self.parts.state.status(&tip);
        self.parts.status.send_replace(status);
        let fetching_state = status.phase == Some(SyncPhase::State);
        if fetching_state && self.last_progress_log.elapsed() >= PROGRESS_LOG_INTERVAL {
            self.last_progress_log = Instant::now();
            if let Some(state) = status.state {
                tracing::info!(
                    pivot_height = state.pivot_height.value(),
                    chunks = state.chunks_done,
                    of = state.chunks_total,
                    accounts = state.accounts,
                    mb = format!("{:.1}", state.bytes as f64 / 1e6),
                    accounts_per_sec = format!("{:.0}", state.accounts_per_sec),
                    eta_secs = state.eta_secs,
                    "fetching the state"
                );
            }
        } else if status.syncing && self.last_progress_log.elapsed() >= PROGRESS_LOG_INTERVAL {
            self.last_progress_log = Instant::now();
            tracing::info!(
                height = status.current_height.value(),
                target = status.target_height.value(),
                blocks_per_sec = format!("{:.1}", status.blocks_per_sec),
                txs_per_sec = format!("{:.0}", status.txs_per_sec),
                eta_secs = status.eta_secs,
                peers = status.peers,
                "syncing"
            );
        }
        if status.isolated && !self.was_isolated {
            tracing::warn!(
                height = tip.height().value(),
                "no peers: the chain may be moving on without this node; looking for peers"
            );
        } else if self.was_syncing && !status.syncing && !status.isolated {
            tracing::info!(
                height = tip.height().value(),
                "synced; following new blocks"
            );
        }
        self.was_syncing = status.syncing;
        self.was_isolated = status.isolated;
    }
}

/// Sync refused what `conn` sent: the peer broke a rule.
fn report_sync_error(peers: &PeerLinks, conn: ConnId, error: SyncError) {
    let offence = match error {
        SyncError::Headers(error) => Misbehaviour::BadHeaders(error),
        SyncError::BodyMismatch(hash) => Misbehaviour::BodyMismatch(hash),
        SyncError::Unsolicited(_) => Misbehaviour::Unsolicited(MessageKind::Block),
    };
    peers.report(conn, offence);
}
