//! The stream of tip changes behind `chain_subscribeHeads`, with a bounded backlog so a
//! client that reconnects misses nothing.
//!
//! Every connected or disconnected block becomes an event with a sequence number; a reorg
//! is its disconnects (newest first) then its connects (oldest first). A client resumes by
//! passing the `epoch` and last `seq` it saw and receives every later event exactly once:
//! first from the backlog, then live. Nothing is ever dropped silently: a resume point
//! older than the backlog, a client that falls behind the live stream, or a node that
//! restarted (a new epoch) each end in an error that tells the client to resync, unless
//! the client also names its tip: then [`super::catch_up`] takes it from there.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tern_chain::types::{AddressPrefix, BlockHash};
use tern_state::chain::{ChainEvent, ChainEvents, ChainHandle, ChainUpdate};
use tern_tasks::TaskExecutor;
use tokio::sync::broadcast;

use crate::chain::json::{HeadEvent, HeadKind, HeaderJson, ResumeFrom};

/// Events kept for clients that reconnect.
pub const HEADS_BACKLOG: usize = 1024;

/// Events buffered for each live subscriber before it counts as fallen behind.
pub const HEADS_LIVE_BUFFER: usize = 256;

/// Why a client cannot resume where it asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    /// The node restarted since: sequence numbers mean something else now.
    #[error("the node restarted (epoch {current}); resync from chain_info and subscribe afresh")]
    OtherEpoch {
        /// The current epoch.
        current: u64,
    },
    /// The events after that point have left the backlog.
    #[error("events after seq {asked} are no longer kept (oldest kept: {oldest}); resync and subscribe afresh")]
    TooOld {
        /// The requested point.
        asked: u64,
        /// The oldest event still kept.
        oldest: u64,
    },
    /// The point is ahead of the stream.
    #[error("seq {asked} has not happened yet (latest: {latest})")]
    Ahead {
        /// The requested point.
        asked: u64,
        /// The latest event.
        latest: u64,
    },
    /// The client's tip is unknown here, or further from the node's tip than a backlog's
    /// worth of events.
    #[error("the node cannot take a view ending at block {tip} to its tip within {HEADS_BACKLOG} events; resync from chain_info and subscribe afresh")]
    Unreachable {
        /// The client's tip.
        tip: String,
    },
}

#[derive(Debug)]
struct Log {
    epoch: u64,
    latest: u64,
    /// The tip after the latest event (the chain's tip at start until then); `None`
    /// after a restart that followed missed updates, until the next event.
    tip: Option<BlockHash>,
    backlog: VecDeque<HeadEvent>,
    live: broadcast::Sender<HeadEvent>,
}

/// The head events of one node run.
#[derive(Debug)]
pub struct HeadsLog {
    prefix: AddressPrefix,
    log: Mutex<Log>,
}

impl HeadsLog {
    /// An empty log for epoch `epoch` on a chain whose tip is `tip`, showing addresses
    /// under `prefix`.
    pub fn new(epoch: u64, tip: BlockHash, prefix: AddressPrefix) -> Self {
        let (live, _) = broadcast::channel(HEADS_LIVE_BUFFER);
        HeadsLog {
            prefix,
            log: Mutex::new(Log {
                epoch,
                latest: 0,
                tip: Some(tip),
                backlog: VecDeque::new(),
                live,
            }),
        }
    }

    /// A log of `chain`'s tip changes from now on, kept by the critical task `rpc heads`
    /// until the chain stops.
    pub fn follow(chain: &ChainHandle, tasks: &TaskExecutor) -> Arc<HeadsLog> {
        let prefix = chain.reader().spec().address_prefix;
        let heads = Arc::new(HeadsLog::new(new_epoch(), chain.tip().hash, prefix));
        tasks.spawn_critical("rpc heads", record(chain.events(), Arc::clone(&heads)));
        heads
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current epoch and latest sequence number.
    pub fn position(&self) -> ResumeFrom {
        let log = self.lock();
        ResumeFrom {
            epoch: log.epoch,
            seq: log.latest,
            tip: log.tip.map(|t| t.to_string()),
        }
    }

    /// The addresses' prefix of the events.
    pub fn prefix(&self) -> &AddressPrefix {
        &self.prefix
    }

    /// Records a chain update as events, and sends them to live subscribers.
    pub fn record(&self, update: &ChainUpdate) {
        let mut log = self.lock();
        let changes = update
            .disconnected
            .iter()
            .map(|b| (HeadKind::Disconnect, b))
            .chain(update.connected.iter().map(|b| (HeadKind::Connect, b)));
        for (kind, block) in changes {
            log.latest = log.latest.saturating_add(1);
            let event = HeadEvent {
                epoch: log.epoch,
                seq: log.latest,
                kind,
                header: HeaderJson::new(&block.header, &self.prefix),
            };
            if log.backlog.len() >= HEADS_BACKLOG {
                log.backlog.pop_front();
            }
            log.backlog.push_back(event.clone());
            // No live subscribers is fine.
            let _ = log.live.send(event);
        }
        log.tip = Some(update.tip.hash);
    }

    /// Starts a new epoch, ending every live subscription: for when updates were missed
    /// and the stream can no longer be complete.
    pub fn restart(&self, epoch: u64) {
        let mut log = self.lock();
        let (live, _) = broadcast::channel(HEADS_LIVE_BUFFER);
        *log = Log {
            epoch,
            latest: 0,
            tip: None,
            backlog: VecDeque::new(),
            live,
        };
    }

    /// A receiver for every event from now on, with the position and tip it starts
    /// after, taken together so nothing falls between them: for a client that catches up
    /// from its own tip to that one.
    pub fn subscribe_live(&self) -> (broadcast::Receiver<HeadEvent>, ResumeFrom) {
        let log = self.lock();
        let live = log.live.subscribe();
        let position = ResumeFrom {
            epoch: log.epoch,
            seq: log.latest,
            tip: log.tip.map(|t| t.to_string()),
        };
        (live, position)
    }

    /// The events after `since` (none without it) and a receiver for every later one,
    /// taken together so nothing falls between them.
    pub fn subscribe(
        &self,
        since: Option<&ResumeFrom>,
    ) -> Result<(Vec<HeadEvent>, broadcast::Receiver<HeadEvent>), ResumeError> {
        let log = self.lock();
        let live = log.live.subscribe();
        let Some(since) = since else {
            return Ok((Vec::new(), live));
        };
        if since.epoch != log.epoch {
            return Err(ResumeError::OtherEpoch { current: log.epoch });
        }
        if since.seq > log.latest {
            return Err(ResumeError::Ahead {
                asked: since.seq,
                latest: log.latest,
            });
        }
        let oldest = log
            .backlog
            .front()
            .map_or(log.latest.saturating_add(1), |e| e.seq);
        if since.seq.saturating_add(1) < oldest {
            return Err(ResumeError::TooOld {
                asked: since.seq,
                oldest,
            });
        }
        let missed = log
            .backlog
            .iter()
            .filter(|e| e.seq > since.seq)
            .cloned()
            .collect();
        Ok((missed, live))
    }
}

/// A number that differs between runs of the node: the start time in nanoseconds.
fn new_epoch() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
}

/// Records every chain update in `heads`; if updates were missed, starts a new epoch so
/// subscribers resync instead of missing events. Ends when the chain stops.
async fn record(mut events: ChainEvents, heads: Arc<HeadsLog>) {
    while let Some(event) = events.next().await {
        match event {
            ChainEvent::Update(update) => heads.record(&update),
            ChainEvent::Lagged { missed } => {
                tracing::warn!(
                    missed,
                    "head subscribers must resync: chain updates were missed"
                );
                heads.restart(new_epoch());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_chain::genesis::ChainSpec;
    use tern_state::chain::TipInfo;

    fn update(connect: usize, disconnect: usize) -> ChainUpdate {
        let spec = ChainSpec::resolve("dev").unwrap();
        let block = spec.genesis_block();
        ChainUpdate {
            disconnected: (0..disconnect)
                .map(|_| std::sync::Arc::new(block.clone()))
                .collect(),
            connected: (0..connect)
                .map(|_| std::sync::Arc::new(block.clone()))
                .collect(),
            tip: TipInfo {
                hash: block.hash(),
                header: block.header,
                cumulative_work: Default::default(),
            },
        }
    }

    fn log() -> HeadsLog {
        let spec = ChainSpec::resolve("dev").unwrap();
        HeadsLog::new(7, spec.genesis_hash(), spec.address_prefix)
    }

    #[test]
    fn a_reorg_is_its_disconnects_then_its_connects() {
        let log = log();
        let (_, mut live) = log.subscribe(None).unwrap();
        log.record(&update(2, 1));
        let kinds: Vec<(u64, HeadKind)> = (0..3)
            .map(|_| live.try_recv().unwrap())
            .map(|e| (e.seq, e.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                (1, HeadKind::Disconnect),
                (2, HeadKind::Connect),
                (3, HeadKind::Connect)
            ]
        );
    }

    #[test]
    fn resuming_replays_exactly_what_was_missed() {
        let log = log();
        log.record(&update(3, 0));
        let (missed, mut live) = log
            .subscribe(Some(&ResumeFrom {
                epoch: 7,
                seq: 1,
                tip: None,
            }))
            .unwrap();
        assert_eq!(missed.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
        log.record(&update(1, 0));
        assert_eq!(live.try_recv().unwrap().seq, 4);
        assert!(live.try_recv().is_err());
    }

    #[test]
    fn impossible_resume_points_are_errors() {
        let log = log();
        log.record(&update(HEADS_BACKLOG + 5, 0));
        assert_eq!(
            log.subscribe(Some(&ResumeFrom {
                epoch: 8,
                seq: 1,
                tip: None
            }))
            .unwrap_err(),
            ResumeError::OtherEpoch { current: 7 }
        );
        assert_eq!(
            log.subscribe(Some(&ResumeFrom {
                epoch: 7,
                seq: 2,
                tip: None
            }))
            .unwrap_err(),
            ResumeError::TooOld {
                asked: 2,
                oldest: 6
            }
        );
        assert!(
            log.subscribe(Some(&ResumeFrom {
                epoch: 7,
                seq: 5,
                tip: None
            }))
            .is_ok(),
            "the oldest kept event follows seq 5"
        );
        let latest = (HEADS_BACKLOG + 5) as u64;
        assert_eq!(
            log.subscribe(Some(&ResumeFrom {
                epoch: 7,
                seq: latest + 1,
                tip: None
            }))
            .unwrap_err(),
            ResumeError::Ahead {
                asked: latest + 1,
                latest
            }
        );
        assert!(log
            .subscribe(Some(&ResumeFrom {
                epoch: 7,
                seq: latest,
                tip: None
            }))
            .unwrap()
            .0
            .is_empty());
    }

    #[test]
    fn a_restart_ends_live_subscriptions() {
        let log = log();
        let (_, mut live) = log.subscribe(None).unwrap();
        log.restart(9);
        assert!(matches!(
            live.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
        assert_eq!(
            log.position(),
            ResumeFrom {
                epoch: 9,
                seq: 0,
                tip: None
            }
        );
    }
}
