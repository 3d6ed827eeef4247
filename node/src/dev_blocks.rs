//! Blocks on demand for development chains, without proof-of-work pacing: automine
//! (anvil's default: a block as soon as transactions are admitted, so a wallet sees its
//! transfer confirmed in milliseconds) and a fixed block interval. Both mine through
//! [`MinerHandle::mine_now`], as `dev_mine` does, and only on chains whose spec sets
//! `dev_mining`.

use std::time::Duration;

use tern_chain::types::Address;
use tern_mempool::PoolHandle;
use tern_tasks::TaskExecutor;
use tokio_util::sync::CancellationToken;

use crate::mining::{DevMineFailure, MinerHandle};

/// How a development chain makes blocks besides proof-of-work mining.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevBlocks {
    /// A block whenever transactions ready for one are admitted. Those admitted while a
    /// block is being made go into the next: one block per admission, or per batch of
    /// them under load.
    Automine,
    /// A block every interval, with whatever is ready (empty blocks too).
    Every(Duration),
}

impl std::fmt::Display for DevBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DevBlocks::Automine => write!(f, "automine: a block as soon as transactions arrive"),
            DevBlocks::Every(interval) => {
                write!(f, "a block every {} s", interval.as_secs_f64())
            }
        }
    }
}

/// How long to wait after a failed block before trying again: a failure here is a bug
/// or a store error, and retrying at once would flood the log.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Starts the critical task `dev blocks`, making blocks in `mode` paying `reward` until
/// `stop` is cancelled (shutdown) or the chain stops.
pub fn spawn(
    mode: DevBlocks,
    miner: MinerHandle,
    pool: PoolHandle,
    reward: Address,
    tasks: &TaskExecutor,
    stop: CancellationToken,
) {
    tasks.spawn_critical("dev blocks", async move {
        tokio::select! {
            () = stop.cancelled() => {}
            () = make_blocks(mode, &miner, &pool, reward) => {}
        }
    });
}

async fn make_blocks(mode: DevBlocks, miner: &MinerHandle, pool: &PoolHandle, reward: Address) {
    match mode {
        DevBlocks::Automine => {
            let mut admissions = pool.watch_admissions();
            loop {
                admissions.borrow_and_update();
                while pool.has_ready() {
                    if !mine_one(miner, reward).await {
                        return;
                    }
                }
                if admissions.changed().await.is_err() {
                    return;
                }
            }
        }
        DevBlocks::Every(interval) => {
            let mut ticks =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if !mine_one(miner, reward).await {
                    return;
                }
            }
        }
    }
}

/// Mines one block; false once the chain has stopped.
async fn mine_one(miner: &MinerHandle, reward: Address) -> bool {
    match miner.mine_now(1, Some(reward)).await {
        Ok(_) => true,
        Err(DevMineFailure::Chain(error)) => {
            tracing::info!(%error, "the chain stopped; dev blocks stop");
            false
        }
        Err(error) => {
            tracing::error!(%error, "cannot make a dev block");
            tokio::time::sleep(RETRY_AFTER).await;
            true
        }
    }
}
