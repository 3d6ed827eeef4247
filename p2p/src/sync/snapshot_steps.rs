//! The snapshot worker: takes the steps of a snapshot restore to the chain actor one at a
//! time (begin, each chunk, finish, or undoing one whose pivot is no longer served) and reports each result to the sync task, which never
//! waits on the chain itself.

use tern_chain::block::Header;
use tern_chain::state_map::chunk::{Chunk, KeyPrefix};
use tern_chain::types::Height;
use tern_state::chain::{ChainHandle, Restored, SnapshotError, SnapshotProgress};
use tokio::sync::mpsc;

use super::MAX_RESTORING;
use crate::ConnId;

/// Steps waiting for the worker: every chunk the sync state lets out at once, an undoing,
/// a begin and a finish.
pub(crate) const STEP_QUEUE: usize = MAX_RESTORING + 3;

/// A step for the chain.
#[derive(Debug)]
pub(crate) enum SnapshotStep {
    Abandon,
    Begin(Box<Header>),
    Restore {
        conn: ConnId,
        prefix: KeyPrefix,
        chunk: Box<Chunk>,
    },
    Finish(Vec<Header>),
}

/// What the chain made of a step.
#[derive(Debug)]
pub(crate) enum SnapshotReply {
    Abandoned(Result<(), SnapshotError>),
    Begun(Result<SnapshotProgress, SnapshotError>),
    Restored {
        conn: ConnId,
        prefix: KeyPrefix,
        result: Result<Restored, SnapshotError>,
    },
    Finished(Result<Height, SnapshotError>),
}

/// Runs steps from `steps` until it closes or the sync task is gone.
pub(crate) async fn take_steps(
    chain: ChainHandle,
    mut steps: mpsc::Receiver<SnapshotStep>,
    replies: mpsc::Sender<SnapshotReply>,
) {
    while let Some(step) = steps.recv().await {
        let reply = match step {
            SnapshotStep::Abandon => SnapshotReply::Abandoned(chain.abandon_snapshot().await),
            SnapshotStep::Begin(pivot) => SnapshotReply::Begun(chain.begin_snapshot(*pivot).await),
            SnapshotStep::Restore {
                conn,
                prefix,
                chunk,
            } => {
                let result = chain.restore_chunk(prefix.clone(), *chunk).await;
                SnapshotReply::Restored {
                    conn,
                    prefix,
                    result,
                }
            }
            SnapshotStep::Finish(headers) => SnapshotReply::Finished(
                chain.finish_snapshot(headers).await.map(|tip| tip.height()),
            ),
        };
        if replies.send(reply).await.is_err() {
            return;
        }
    }
}
