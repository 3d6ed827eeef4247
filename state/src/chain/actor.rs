//! The chain actor: one thread owns the [`Chain`] and every write; callers hold a cheap
//! [`ChainHandle`].
//!
//! It runs on a dedicated OS thread rather than an async task because everything it does
//! blocks: store writes, and signature checks spread over all cores. Callers await
//! replies on oneshot channels. The tip is published on a `watch` channel, and every move
//! of the tip as one [`ChainEvent`] on [`ChainHandle::events`]: a stream of `Arc`-shared
//! updates that ends when the actor stops, because only the actor holds its sender.
//! Handles hold a weak reference to it, so keeping a handle never keeps the stream open.
//!
//! The store writes behind the actor ([`crate::store::WriteBehind`]): once block n is
//! checked, its batch lands on a thread of its own while the actor checks block n + 1.
//! Nothing about a block leaves the actor before its writes have landed: its reply, the
//! tip and its event wait for them, in the order the blocks came, so whoever is told of a
//! block can read it, and a crash loses nothing anyone was told of.
//!
//! The actor stops on [`ChainHandle::shutdown`], when every handle is gone, or on the
//! first store error: a store that cannot be read or written is not something the chain
//! can work around, and the node must stop visibly rather than go on with a chain that no
//! longer moves. [`ChainActor::run_reporting`] hands that error (or a panic, as
//! [`ChainError::Panicked`]) to whoever runs the thread before anyone else can see that
//! the chain stopped.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::{
    AsyncChainReader, Chain, ChainError, ChainReader, ChainUpdate, Restored, SealError,
    SnapshotError, SnapshotProgress, SubmitOutcome, TipInfo,
};
use crate::store::WriteSeq;
use tern_chain::block::{Block, Header};
use tern_chain::miner::Template;
use tern_chain::signature_cache::SignatureCache;
use tern_chain::state_map::chunk::{Chunk, KeyPrefix};
use tern_chain::types::{Height, Timestamp};
use tern_tasks::panic_message;

/// Blocks waiting for the actor; senders wait when it is full, which slows whoever
/// produces blocks (sync, relay, the miner) to the speed the chain can take them.
pub const COMMAND_QUEUE: usize = 64;

/// Chain events buffered for each follower. One that falls further behind gets
/// [`ChainEvent::Lagged`] and must resync from the reader.
pub const UPDATE_CAPACITY: usize = 256;

/// Processed blocks whose answers wait for their writes to land, at most: with this many
/// waiting, the actor takes no new block until the store catches up.
pub const MAX_UNANSWERED: usize = 16;

/// Blocks a caller with a run of them (the block worker, an import) keeps verifying ahead
/// ([`ChainHandle::verify_ahead`]): three, so that while one block's verification waits
/// for its slowest thread and the actor checks another, the next ones keep the cores
/// busy. (One ahead left 10-15% of the cold import's time idle, two about 9%, three
/// about 6%: docs/PERFORMANCE.md.)
pub const VERIFY_AHEAD: usize = 3;

/// Blocks such a caller keeps queued at the actor ([`ChainHandle::queue_block`]): enough
/// that the actor checks one block while the last one's writes land, few enough that the
/// blocks queued behind one found invalid cost the actor little.
pub const QUEUE_AHEAD: usize = 4;

type Reply = oneshot::Sender<Result<SubmitOutcome, ChainError>>;

/// A processed block's answer, held until the writes it depends on have landed.
struct Answer {
    lands_with: WriteSeq,
    reply: Reply,
    result: Result<SubmitOutcome, ChainError>,
}

/// What the actor waits for between blocks.
enum Wake {
    /// The store's writer made progress: answers may be due.
    Landed,
    /// A command, or `None` once every handle is gone.
    Command(Option<Command>),
}

enum Command {
    Submit {
        block: Box<Block>,
        reply: Reply,
    },
    Seal {
        template: Box<Template>,
        reply: oneshot::Sender<Result<Block, SealError>>,
    },
    Snapshot(SnapshotCommand),
    Shutdown,
}

/// A step of restoring a snapshot ([`super::restore`]).
enum SnapshotCommand {
    Progress(oneshot::Sender<Result<Option<SnapshotProgress>, SnapshotError>>),
    Begin {
        pivot: Box<Header>,
        reply: oneshot::Sender<Result<SnapshotProgress, SnapshotError>>,
    },
    Restore {
        prefix: KeyPrefix,
        chunk: Box<Chunk>,
        reply: oneshot::Sender<Result<Restored, SnapshotError>>,
    },
    Finish {
        headers: Vec<Header>,
        reply: oneshot::Sender<Result<TipInfo, SnapshotError>>,
    },
    Abandon(oneshot::Sender<Result<(), SnapshotError>>),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Submit { block, .. } => write!(f, "Submit({})", block.hash()),
            Command::Seal { template, .. } => {
                write!(f, "Seal(on {})", template.block().header.parent)
            }
            Command::Snapshot(SnapshotCommand::Progress(_)) => f.write_str("SnapshotProgress"),
            Command::Snapshot(SnapshotCommand::Begin { pivot, .. }) => {
                write!(f, "BeginSnapshot({})", pivot.hash())
            }
            Command::Snapshot(SnapshotCommand::Restore { prefix, .. }) => {
                write!(f, "RestoreChunk({prefix})")
            }
            Command::Snapshot(SnapshotCommand::Finish { headers, .. }) => {
                write!(f, "FinishSnapshot({} headers)", headers.len())
            }
            Command::Snapshot(SnapshotCommand::Abandon(_)) => f.write_str("AbandonSnapshot"),
            Command::Shutdown => f.write_str("Shutdown"),
        }
    }
}

type Updates = broadcast::Sender<Arc<ChainUpdate>>;

/// Called on the actor's thread before each submitted block (fault injection).
type BlockHook = Box<dyn FnMut(&Block) + Send>;

/// A cheap, cloneable handle to the chain actor.
#[derive(Debug, Clone)]
pub struct ChainHandle {
    commands: mpsc::Sender<Command>,
    tip: watch::Receiver<TipInfo>,
    /// The store's floor ([`Chain::floor`]), published as the tip is.
    floor: watch::Receiver<Height>,
    /// Weak: only the actor keeps the event stream open.
    updates: Weak<Updates>,
    reader: ChainReader,
    reads: AsyncChainReader,
    signatures: Arc<SignatureCache>,
}

/// A block handed to the actor ([`ChainHandle::queue_block`]), its verdict to come.
#[derive(Debug)]
#[must_use = "a queued block's verdict says whether it was accepted"]
pub struct QueuedBlock {
    answer: oneshot::Receiver<Result<SubmitOutcome, ChainError>>,
}

impl QueuedBlock {
    /// The verdict, once the block has been processed and everything it wrote has
    /// landed; [`ChainError::Stopped`] if the actor stopped first.
    pub async fn outcome(self) -> Result<SubmitOutcome, ChainError> {
        self.answer.await.map_err(|_| ChainError::Stopped)?
    }
}

/// Something that happened to the canonical chain.
#[derive(Debug, Clone)]
pub enum ChainEvent {
    /// The tip moved: blocks disconnected and connected, shared with every follower.
    Update(Arc<ChainUpdate>),
    /// The follower fell more than [`UPDATE_CAPACITY`] updates behind and missed
    /// `missed` of them: it must resync from the store (the tip is always current).
    Lagged {
        /// How many updates were missed.
        missed: u64,
    },
}

/// The chain's events from the moment of [`ChainHandle::events`] on. Ends (returns
/// `None`) when the chain actor stops.
#[derive(Debug)]
pub struct ChainEvents {
    receiver: Option<broadcast::Receiver<Arc<ChainUpdate>>>,
}

impl ChainEvents {
    /// The next event, or `None` once the chain has stopped. Cancel-safe: dropping the
    /// future loses no event.
    pub async fn next(&mut self) -> Option<ChainEvent> {
        let receiver = self.receiver.as_mut()?;
        match receiver.recv().await {
            Ok(update) => Some(ChainEvent::Update(update)),
            Err(broadcast::error::RecvError::Lagged(missed)) => Some(ChainEvent::Lagged { missed }),
            Err(broadcast::error::RecvError::Closed) => {
                self.receiver = None;
                None
            }
        }
    }
}

/// The actor, ready to run on a thread of its caller's choosing.
pub struct ChainActor {
    chain: Chain,
    inbox: mpsc::Receiver<Command>,
    tip: watch::Sender<TipInfo>,
    floor: watch::Sender<Height>,
    updates: Arc<Updates>,
    before_block: Option<BlockHook>,
}

impl std::fmt::Debug for ChainActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainActor")
            .field("tip", &self.chain.tip().hash)
            .finish()
    }
}

/// The actor over `chain` and its handle. Nothing runs until [`ChainActor::run`].
pub fn actor(chain: Chain) -> (ChainHandle, ChainActor) {
    let (commands, inbox) = mpsc::channel(COMMAND_QUEUE);
    let (tip_sender, tip) = watch::channel(chain.tip());
    let (floor_sender, floor) = watch::channel(chain.floor());
    let updates = Arc::new(broadcast::channel(UPDATE_CAPACITY).0);
    let reader = chain.reader();
    let handle = ChainHandle {
        commands,
        tip,
        floor,
        updates: Arc::downgrade(&updates),
        reads: AsyncChainReader::new(reader.clone()),
        reader,
        signatures: Arc::clone(chain.signature_cache()),
    };
    let actor = ChainActor {
        chain,
        inbox,
        tip: tip_sender,
        floor: floor_sender,
        updates,
        before_block: None,
    };
    (handle, actor)
}

/// Starts the actor on a plain thread of its own (tools and tests; the node runs it on a
/// supervised thread). The join handle returns how it ended. Fails only if the OS
/// refuses a thread.
pub fn spawn(
    chain: Chain,
) -> std::io::Result<(ChainHandle, std::thread::JoinHandle<Result<(), ChainError>>)> {
    let (handle, actor) = actor(chain);
    let thread = std::thread::Builder::new()
        .name("chain".into())
        .spawn(move || actor.run())?;
    Ok((handle, thread))
}

impl ChainActor {
    /// Calls `hook` on the actor's thread before each submitted block is processed: the
    /// node's fault injection uses it to make the actor fail at a chosen moment.
    pub fn with_block_hook(mut self, hook: impl FnMut(&Block) + Send + 'static) -> ChainActor {
        self.before_block = Some(Box::new(hook));
        self
    }

    /// Processes commands until shutdown, the last handle going, or a store error; then
    /// flushes the store (if it still works) and closes it. Blocks its thread throughout.
    pub fn run(self) -> Result<(), ChainError> {
        self.run_reporting(|_| {})
    }

    /// [`Self::run`], calling `on_stop` with how it ended before anyone can tell that it
    /// did: before the block that failed gets its answer, and before the tip and event
    /// channels close. A supervisor records the failure there, so that the chain, not a
    /// follower that saw it stop, is named as the cause. A panic while processing a block
    /// ends the actor with [`ChainError::Panicked`]. Blocks finished before the end still
    /// get their own answers, once their writes have landed.
    pub fn run_reporting(
        mut self,
        on_stop: impl FnOnce(&Result<(), ChainError>),
    ) -> Result<(), ChainError> {
        let mut in_hand = None;
        let mut waiting = VecDeque::new();
        let stopped = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.serve(&mut in_hand, &mut waiting)
        })) {
            Ok(result) => result,
            Err(panic) => Err(ChainError::Panicked(panic_message(&*panic))),
        };
        let mut result = stopped.and_then(|()| self.chain.flush());
        let settled = self.chain.writes.settle();
        let answered = self.answer_landed(&mut waiting);
        if let (Ok(()), Err(error)) = (&result, settled.map_err(ChainError::from).and(answered)) {
            result = Err(error);
        }
        on_stop(&result);
        if let Err(error) = &result {
            for reply in in_hand
                .into_iter()
                .chain(waiting.into_iter().map(|a| a.reply))
            {
                let _ = reply.send(Err(error.clone()));
            }
        }
        // Dropping the actor now closes the tip and event channels: everything following
        // the chain learns that it stopped.
        result
    }

    /// The command loop. The reply for the block in hand waits in `in_hand` while the
    /// block is processed, then in `waiting` until its writes have landed, so that a
    /// failure can be reported before it is answered.
    fn serve(
        &mut self,
        in_hand: &mut Option<Reply>,
        waiting: &mut VecDeque<Answer>,
    ) -> Result<(), ChainError> {
        // Only to wait for two things at once; it runs nothing else.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| ChainError::Thread(Arc::new(e)))?;
        loop {
            self.answer_landed(waiting)?;
            let (awaiting, accepting) = (!waiting.is_empty(), waiting.len() < MAX_UNANSWERED);
            let (chain, inbox) = (&self.chain, &mut self.inbox);
            let wake = runtime.block_on(async {
                tokio::select! {
                    biased;
                    () = chain.writes.changed(), if awaiting => Wake::Landed,
                    command = inbox.recv(), if accepting => Wake::Command(command),
                    else => Wake::Landed,
                }
            });
            let (block, reply) = match wake {
                Wake::Landed => continue,
                Wake::Command(Some(Command::Submit { block, reply })) => (block, reply),
                Wake::Command(Some(Command::Seal { template, reply })) => {
                    // The asker may have given up.
                    let _ = reply.send(self.chain.seal(*template));
                    continue;
                }
                Wake::Command(Some(Command::Snapshot(command))) => {
                    self.snapshot(command)?;
                    continue;
                }
                Wake::Command(Some(Command::Shutdown) | None) => return Ok(()),
            };
            *in_hand = Some(reply);
            if let Some(hook) = self.before_block.as_mut() {
                hook(&block);
            }
            let result = self.chain.submit_block_behind(*block, Timestamp::now());
            if let Err(ChainError::Store(error)) = result {
                tracing::error!(%error, "the store failed; the chain stops");
                return Err(ChainError::Store(error));
            }
            let lands_with = self.chain.writes.written();
            if let Some(reply) = in_hand.take() {
                waiting.push_back(Answer {
                    lands_with,
                    reply,
                    result,
                });
            }
        }
    }

    /// Runs a step of a snapshot restore. Its writes land before it answers (blocks are
    /// refused meanwhile, so none waits behind it); finishing publishes the new tip, as
    /// an update that connects no block (the blocks below the pivot have no bodies here).
    fn snapshot(&mut self, command: SnapshotCommand) -> Result<(), ChainError> {
        // Each asker may have given up; the step is taken anyway.
        let store_error = match command {
            SnapshotCommand::Progress(reply) => {
                let result = self.chain.snapshot_progress();
                let error = failed(&result);
                let _ = reply.send(result);
                error
            }
            SnapshotCommand::Begin { pivot, reply } => {
                let result = self.chain.begin_snapshot(&pivot);
                let error = failed(&result);
                let _ = reply.send(result);
                error
            }
            SnapshotCommand::Restore {
                prefix,
                chunk,
                reply,
            } => {
                let result = self.chain.restore_chunk(&prefix, &chunk);
                let error = failed(&result);
                let _ = reply.send(result);
                error
            }
            SnapshotCommand::Abandon(reply) => {
                let result = self.chain.abandon_snapshot();
                let error = failed(&result);
                let _ = reply.send(result);
                error
            }
            SnapshotCommand::Finish { headers, reply } => {
                let result = self.chain.finish_snapshot(&headers);
                let error = failed(&result);
                if let Ok(tip) = &result {
                    self.floor.send_replace(self.chain.floor());
                    self.tip.send_replace(*tip);
                    let update = ChainUpdate {
                        disconnected: Vec::new(),
                        connected: Vec::new(),
                        tip: *tip,
                    };
                    let _ = self.updates.send(Arc::new(update));
                }
                let _ = reply.send(result);
                error
            }
        };
        match store_error {
            Some(error) => {
                tracing::error!(%error, "the store failed restoring a snapshot; the chain stops");
                Err(ChainError::Store(error))
            }
            None => Ok(()),
        }
    }
}

/// The store's failure in a snapshot step's result, which stops the chain.
fn failed<T>(result: &Result<T, SnapshotError>) -> Option<crate::store::StoreError> {
    match result {
        Err(SnapshotError::Chain(ChainError::Store(error))) => Some(error.clone()),
        _ => None,
    }
}

impl ChainActor {
    /// Answers, in order, the blocks whose writes have landed, publishing the tip and
    /// event of each first. Fails once a write has failed (after answering the blocks
    /// whose writes landed before it).
    fn answer_landed(&self, waiting: &mut VecDeque<Answer>) -> Result<(), ChainError> {
        let landed = self.chain.writes.landed();
        while waiting.front().is_some_and(|a| a.lands_with <= landed) {
            let Some(answer) = waiting.pop_front() else {
                break;
            };
            if let Ok(SubmitOutcome {
                update: Some(update),
                ..
            }) = &answer.result
            {
                let floor = self.chain.floor();
                self.floor.send_if_modified(|published| {
                    let moved = *published != floor;
                    *published = floor;
                    moved
                });
                self.tip.send_replace(update.tip);
                // No followers is fine: nobody is listening.
                let _ = self.updates.send(Arc::clone(update));
            }
            // The caller may have given up waiting; the block is processed anyway.
            let _ = answer.reply.send(answer.result);
        }
        match self.chain.writes.failure() {
            Some(error) => {
                tracing::error!(%error, "a store write failed; the chain stops");
                Err(ChainError::Store(error))
            }
            None => Ok(()),
        }
    }
}

impl ChainHandle {
    /// Submits a block (mined, relayed or synced: all take this path) and waits for the
    /// verdict.
    pub async fn submit_block(&self, block: Block) -> Result<SubmitOutcome, ChainError> {
        self.queue_block(block).await.outcome().await
    }

    /// Hands a block to the actor, waiting only for room in its queue, and returns its
    /// verdict to come. Blocks are processed in the order they were queued. A caller with
    /// a run of blocks (sync) keeps a few queued, so that the actor checks block n + 1
    /// while block n's writes land; [`Self::submit_block`] waits for each verdict first.
    pub async fn queue_block(&self, block: Block) -> QueuedBlock {
        let (reply, answer) = oneshot::channel();
        // A stopped actor drops the reply with the command: the answer says so.
        let _ = self
            .commands
            .send(Command::Submit {
                block: Box::new(block),
                reply,
            })
            .await;
        QueuedBlock { answer }
    }

    /// Completes a block being assembled on the tip with the state root it leaves
    /// ([`Chain::seal`]). [`SealError::NotOnTip`] if the chain has moved on: the tip
    /// announced last may trail the actor's by the blocks whose writes have not landed,
    /// so wait for the next tip and build again.
    pub async fn seal(&self, template: Template) -> Result<Block, SealError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Seal {
                template: Box::new(template),
                reply,
            })
            .await
            .map_err(|_| ChainError::Stopped)?;
        answer.await.map_err(|_| ChainError::Stopped)?
    }

    /// The lowest block whose body and state the store holds: genesis, or the pivot of
    /// the snapshot it was restored from. Read from memory.
    pub fn floor(&self) -> Height {
        *self.floor.borrow()
    }

    /// The snapshot being restored, if any ([`Chain::snapshot_progress`]).
    pub async fn snapshot_progress(&self) -> Result<Option<SnapshotProgress>, SnapshotError> {
        self.snapshot_step(SnapshotCommand::Progress).await
    }

    /// Starts (or goes on with) restoring the state after `pivot`
    /// ([`Chain::begin_snapshot`]).
    pub async fn begin_snapshot(&self, pivot: Header) -> Result<SnapshotProgress, SnapshotError> {
        let pivot = Box::new(pivot);
        self.snapshot_step(|reply| SnapshotCommand::Begin { pivot, reply })
            .await
    }

    /// Checks and writes one chunk of the snapshot ([`Chain::restore_chunk`]).
    pub async fn restore_chunk(
        &self,
        prefix: KeyPrefix,
        chunk: Chunk,
    ) -> Result<Restored, SnapshotError> {
        let chunk = Box::new(chunk);
        self.snapshot_step(|reply| SnapshotCommand::Restore {
            prefix,
            chunk,
            reply,
        })
        .await
    }

    /// Finishes the snapshot with the headers from genesis's child to the pivot
    /// ([`Chain::finish_snapshot`]).
    pub async fn finish_snapshot(&self, headers: Vec<Header>) -> Result<TipInfo, SnapshotError> {
        self.snapshot_step(|reply| SnapshotCommand::Finish { headers, reply })
            .await
    }

    /// Undoes the snapshot being restored, for another pivot ([`Chain::abandon_snapshot`]).
    pub async fn abandon_snapshot(&self) -> Result<(), SnapshotError> {
        self.snapshot_step(SnapshotCommand::Abandon).await
    }

    async fn snapshot_step<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, SnapshotError>>) -> SnapshotCommand,
    ) -> Result<T, SnapshotError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Snapshot(command(reply)))
            .await
            .map_err(|_| ChainError::Stopped)?;
        answer.await.map_err(|_| ChainError::Stopped)?
    }

    /// Starts checking `block`'s signatures into the signature cache on the blocking pool,
    /// on every core, and resolves when done: callers that submit blocks one after another
    /// (sync, relay) verify the next [`VERIFY_AHEAD`] blocks while the actor checks and
    /// writes the ones before, and the actor then finds their signatures cached. It decides nothing: the verdict, a bad
    /// signature's included, is still the actor's, and nothing is written for a block
    /// before every rule has passed there.
    pub fn verify_ahead(&self, block: &Block) -> tokio::task::JoinHandle<()> {
        let cache = Arc::clone(&self.signatures);
        let transactions = block.transactions.clone();
        let threads = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1);
        tokio::task::spawn_blocking(move || {
            // A failure is the actor's to find and report.
            let _ = cache.verify_signatures(&transactions, threads);
        })
    }

    /// Asks the actor to finish the block in hand, flush the store and stop; then the tip
    /// and event channels close, which stops everything following them. Blocks still
    /// queued are dropped (their senders get [`ChainError::Stopped`]).
    pub async fn shutdown(&self) {
        // Already stopped is fine.
        let _ = self.commands.send(Command::Shutdown).await;
    }

    /// The current tip.
    pub fn tip(&self) -> TipInfo {
        *self.tip.borrow()
    }

    /// A receiver that sees every new tip (the latest one, not every step). Its
    /// `changed()` fails once the chain has stopped.
    pub fn watch_tip(&self) -> watch::Receiver<TipInfo> {
        self.tip.clone()
    }

    /// Every chain event from now on; the stream ends when the chain stops (at once if it
    /// already has).
    pub fn events(&self) -> ChainEvents {
        ChainEvents {
            receiver: self.updates.upgrade().map(|sender| sender.subscribe()),
        }
    }

    /// Queries that read the store directly, blocking the calling thread: for the chain's
    /// own threads and the blocking pool. Async code uses [`Self::reads`].
    pub fn reader(&self) -> &ChainReader {
        &self.reader
    }

    /// The cache of verified transactions that block validation shares with the
    /// mempool: admit through it, and blocks of admitted transactions cost no checks.
    pub fn signature_cache(&self) -> &Arc<SignatureCache> {
        &self.signatures
    }

    /// Store reads for async code: each runs on the blocking pool.
    pub fn reads(&self) -> &AsyncChainReader {
        &self.reads
    }
}
