//! The chain actor: one thread owns the [`Chain`] and every write; callers hold a cheap
//! [`ChainHandle`].
//!
//! It runs on a dedicated OS thread rather than an async task because everything it does
//! blocks: store writes, and signature checks spread over all cores. Callers await
//! replies on oneshot channels. The tip is published on a `watch` channel, and every move
//! of the tip on a bounded `broadcast` channel (a subscriber that falls more than
//! [`UPDATE_CAPACITY`] updates behind is told it lagged, and must resync from the reader).
//! When the actor stops, the tip channel closes: followers watch it to stop too.
//! Queries go straight to the store through [`ChainHandle::reader`] and never queue here.

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::{Chain, ChainError, ChainReader, ChainUpdate, SubmitOutcome, TipInfo};
use crate::block::Block;
use crate::types::Timestamp;

/// Blocks waiting for the actor; senders wait when it is full, which slows whoever
/// produces blocks (sync, relay, the miner) to the speed the chain can take them.
pub const COMMAND_QUEUE: usize = 64;

/// Chain updates buffered for each subscriber.
pub const UPDATE_CAPACITY: usize = 256;

enum Command {
    Submit {
        block: Box<Block>,
        reply: oneshot::Sender<Result<SubmitOutcome, ChainError>>,
    },
    Shutdown,
}

/// A cheap, cloneable handle to the chain actor.
#[derive(Debug, Clone)]
pub struct ChainHandle {
    commands: mpsc::Sender<Command>,
    tip: watch::Receiver<TipInfo>,
    updates: broadcast::Sender<Arc<ChainUpdate>>,
    reader: ChainReader,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Submit { block, .. } => write!(f, "Submit({})", block.hash()),
            Command::Shutdown => f.write_str("Shutdown"),
        }
    }
}

/// Starts the actor on its own thread. It stops, flushing the store, on
/// [`ChainHandle::shutdown`] or when the last handle is dropped; the join handle returns
/// how it ended. Fails only if the OS refuses a thread.
pub fn spawn(chain: Chain) -> std::io::Result<(ChainHandle, JoinHandle<Result<(), ChainError>>)> {
    let (commands, mut inbox) = mpsc::channel(COMMAND_QUEUE);
    let (tip_sender, tip) = watch::channel(chain.tip());
    let (updates, _) = broadcast::channel(UPDATE_CAPACITY);
    let handle = ChainHandle {
        commands,
        tip,
        updates: updates.clone(),
        reader: chain.reader(),
    };
    let mut chain = chain;
    let thread = std::thread::Builder::new()
        .name("chain".into())
        .spawn(move || {
            while let Some(command) = inbox.blocking_recv() {
                match command {
                    Command::Submit { block, reply } => {
                        let result = chain.submit_block(*block, Timestamp::now());
                        if let Ok(SubmitOutcome {
                            update: Some(update),
                            ..
                        }) = &result
                        {
                            tip_sender.send_replace(update.tip);
                            // No subscribers is fine: nobody is following.
                            let _ = updates.send(Arc::new(update.clone()));
                        }
                        // The caller may have given up waiting; the block is processed anyway.
                        let _ = reply.send(result);
                    }
                    Command::Shutdown => break,
                }
            }
            // Dropping `tip_sender` with this closure closes the tip channel: everything
            // following the chain watches it to learn that the chain stopped.
            chain.flush()
        })?;
    Ok((handle, thread))
}

impl ChainHandle {
    /// Submits a block (mined, relayed or synced: all take this path) and waits for the
    /// verdict.
    pub async fn submit_block(&self, block: Block) -> Result<SubmitOutcome, ChainError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Submit {
                block: Box::new(block),
                reply,
            })
            .await
            .map_err(|_| ChainError::Stopped)?;
        answer.await.map_err(|_| ChainError::Stopped)?
    }

    /// Asks the actor to finish the block in hand, flush the store and stop; then the tip
    /// and update channels close, which stops everything following them. Blocks still
    /// queued are dropped (their senders get [`ChainError::Stopped`]).
    pub async fn shutdown(&self) {
        // Already stopped is fine.
        let _ = self.commands.send(Command::Shutdown).await;
    }

    /// The current tip.
    pub fn tip(&self) -> TipInfo {
        *self.tip.borrow()
    }

    /// A receiver that sees every new tip (the latest one, not every step).
    pub fn watch_tip(&self) -> watch::Receiver<TipInfo> {
        self.tip.clone()
    }

    /// A receiver of every chain update from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ChainUpdate>> {
        self.updates.subscribe()
    }

    /// Queries that read the store directly.
    pub fn reader(&self) -> &ChainReader {
        &self.reader
    }
}
