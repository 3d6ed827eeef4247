//! Block production: the mining loop and its nonce-search threads, and on-demand blocks
//! for development chains.
//!
//! The loop builds a template from the mempool on the current tip
//! ([`tern_chain::miner::block_template`]) and searches nonces on the configured number of
//! threads of tokio's blocking pool, never on the async workers. It abandons the search and
//! rebuilds the template when the tip moves, when new transactions arrive (at most once per
//! [`TEMPLATE_REFRESH`]), or when the settings change. A block found goes through the chain
//! actor like any peer's.
//!
//! On development chains, where proof of work is nearly free, the loop waits after the
//! tip before mining the next block, so `--mine` produces a block about every
//! `target_block_time_ms` instead of thousands per second. The wait is drawn as proof of
//! work would make it ([`DevPace`]), so that two miners do not find their blocks in the
//! same instant.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tern_chain::block::Block;
use tern_chain::miner::{block_template, transaction_limits};
use tern_chain::pow::search_nonce;
use tern_chain::types::{Address, BlockHash, Timestamp};
use tern_rpc::handles::{MinerState, MAX_MINER_THREADS};
use tern_rpc::jsonrpsee::core::async_trait;
use tern_state::chain::{ChainHandle, SealError, TipInfo, Verdict};
use tokio::sync::{mpsc, watch};

use tern_mempool::PoolHandle;
use tern_tasks::TaskExecutor;

/// Nonces each search thread tries between checks for a reason to stop.
const NONCES_PER_ROUND: u64 = 20_000;

/// The shortest time between template rebuilds for new transactions.
pub const TEMPLATE_REFRESH: Duration = Duration::from_secs(1);

/// The most blocks one on-demand request may mine.
pub const MAX_DEV_BLOCKS: u64 = 10_000;

/// What the mining loop should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinerSettings {
    /// Nonce-search threads; 0 stops mining.
    pub threads: usize,
    /// Who receives the rewards.
    pub reward: Address,
}

/// What the miner is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinerStatus {
    /// The current settings, if mining was ever configured.
    pub settings: Option<MinerSettings>,
    /// Blocks this node mined that the chain accepted.
    pub blocks_found: u64,
}

/// Why on-demand mining failed: the error the RPC server's `dev_mine` answers with.
pub use tern_rpc::handles::DevMineFailure;

/// Controls the mining loop; cheap to clone.
#[derive(Debug, Clone)]
pub struct MinerHandle {
    settings: watch::Sender<Option<MinerSettings>>,
    /// True while the mining loop is parked, waiting for settings that mine.
    parked: watch::Receiver<bool>,
    blocks_found: Arc<AtomicU64>,
    chain: ChainHandle,
    pool: PoolHandle,
    tasks: TaskExecutor,
    /// Where on-demand blocks pay when the caller names nobody.
    dev_reward: Address,
}

impl MinerHandle {
    /// Starts the mining loop (idle until [`Self::start`]) as the critical task `miner`.
    /// It stops when the chain stops or every handle is dropped. On-demand blocks pay
    /// `dev_reward` unless told otherwise.
    pub fn spawn(
        chain: ChainHandle,
        pool: PoolHandle,
        initial: Option<MinerSettings>,
        dev_reward: Address,
        tasks: &TaskExecutor,
    ) -> MinerHandle {
        let (settings, receiver) = watch::channel(initial);
        let (parked_sender, parked) = watch::channel(false);
        let blocks_found = Arc::new(AtomicU64::new(0));
        let handle = MinerHandle {
            settings,
            parked,
            blocks_found: Arc::clone(&blocks_found),
            chain: chain.clone(),
            pool: pool.clone(),
            tasks: tasks.clone(),
            dev_reward,
        };
        let miner = Miner {
            chain,
            pool,
            tasks: tasks.clone(),
            parked: parked_sender,
        };
        tasks.spawn_critical("miner", mining_loop(miner, receiver, blocks_found));
        handle
    }

    /// Mines with `threads` threads paying `reward`; 0 threads stops.
    pub fn start(&self, threads: usize, reward: Address) {
        self.settings
            .send_replace(Some(MinerSettings { threads, reward }));
    }

    /// Stops mining.
    pub fn stop(&self) {
        self.settings.send_modify(|s| {
            if let Some(settings) = s {
                settings.threads = 0;
            }
        });
    }

    /// Waits until the mining loop is parked (after [`Self::stop`], once the block in
    /// hand, if any, has been submitted): from then on it mines nothing until started.
    pub async fn wait_idle(&self) {
        let mut parked = self.parked.clone();
        // An error means the loop has ended, which is as idle as it gets.
        let _ = parked.wait_for(|parked| *parked).await;
    }

    /// What the miner is doing.
    pub fn status(&self) -> MinerStatus {
        MinerStatus {
            settings: *self.settings.borrow(),
            blocks_found: self.blocks_found.load(Ordering::Relaxed),
        }
    }

    /// Mines `count` blocks on the tip now, paying `reward` (default: the node's dev
    /// reward address, `--mine-to` or dev account 0), and returns their hashes, like
    /// `generatetoaddress` on Bitcoin's regtest. Only on chains whose spec allows it.
    pub async fn mine_now(
        &self,
        count: u64,
        reward: Option<Address>,
    ) -> Result<Vec<BlockHash>, DevMineFailure> {
        let reward = reward.unwrap_or(self.dev_reward);
        if !self.chain.reader().spec().dev_mining {
            return Err(DevMineFailure::NotAllowed);
        }
        if count > MAX_DEV_BLOCKS {
            return Err(DevMineFailure::TooMany {
                asked: count,
                max: MAX_DEV_BLOCKS,
            });
        }
        let mut hashes = Vec::new();
        let mut tips = self.chain.watch_tip();
        while (hashes.len() as u64) < count {
            let tip = *tips.borrow_and_update();
            // Templates must not offer what the tip already includes.
            let _ = tokio::time::timeout(Duration::from_secs(10), self.pool.wait_synced(tip.hash))
                .await;
            let Some(template) = template(&self.chain, &self.pool, reward).await? else {
                next_tip(&mut tips).await;
                continue;
            };
            let stop = Arc::new(AtomicBool::new(false));
            let Some(block) = search(&self.tasks, template, 1, stop).await else {
                continue;
            };
            let hash = block.hash();
            let outcome = self.chain.submit_block(block).await?;
            match outcome.verdict {
                // Another block may have taken the tip meanwhile; then mine on it instead.
                Verdict::Accepted if self.chain.tip().hash == hash => hashes.push(hash),
                Verdict::Accepted | Verdict::AlreadyKnown => {}
                Verdict::Orphaned => return Err(DevMineFailure::Orphaned),
                Verdict::Rejected(rejection) => return Err(DevMineFailure::Refused(rejection)),
            }
        }
        if let Some(last) = hashes.last() {
            self.pool.wait_synced(*last).await;
        }
        Ok(hashes)
    }
}

/// The miner as the RPC server's `mining` namespace sees it.
#[async_trait]
impl tern_rpc::handles::Miner for MinerHandle {
    async fn mine_now(
        &self,
        count: u64,
        reward: Option<Address>,
    ) -> Result<Vec<BlockHash>, DevMineFailure> {
        MinerHandle::mine_now(self, count, reward).await
    }

    fn state(&self) -> MinerState {
        let status = self.status();
        MinerState {
            threads: status.settings.map_or(0, |s| s.threads),
            reward: status.settings.map(|s| s.reward),
            blocks_found: status.blocks_found,
        }
    }

    fn start(&self, threads: usize, reward: Address) {
        MinerHandle::start(self, threads, reward);
    }

    fn stop(&self) {
        MinerHandle::stop(self);
    }
}

/// What the mining loop works with.
struct Miner {
    chain: ChainHandle,
    pool: PoolHandle,
    tasks: TaskExecutor,
    parked: watch::Sender<bool>,
}

/// A block on the tip from the mempool's best transactions, sealed with the state root it
/// leaves; `None` if the chain's tip moved past the one announced meanwhile (wait for the
/// next announcement and build again).
async fn template(
    chain: &ChainHandle,
    pool: &PoolHandle,
    reward: Address,
) -> Result<Option<Block>, DevMineFailure> {
    let tip = chain.tip();
    let parent = chain
        .reads()
        .run(move |reader| reader.parent_context(&tip.hash))
        .await?
        .ok_or(DevMineFailure::TipNotIndexed)?;
    let params = &chain.reader().spec().consensus;
    let (max_count, max_bytes) = transaction_limits(params);
    let template = block_template(
        params,
        &parent,
        pool.select(max_count, max_bytes),
        reward,
        Timestamp::now(),
    );
    match chain.seal(template).await {
        Ok(block) => Ok(Some(block)),
        Err(SealError::NotOnTip { .. }) => Ok(None),
        Err(SealError::Invalid(error)) => Err(DevMineFailure::Assembly(error)),
        Err(SealError::Chain(error)) => Err(DevMineFailure::Chain(error)),
    }
}

/// Waits until the tip announced moves (a template found the chain ahead of it), at most
/// [`TEMPLATE_REFRESH`].
async fn next_tip(tips: &mut watch::Receiver<TipInfo>) {
    let _ = tokio::time::timeout(TEMPLATE_REFRESH, tips.changed()).await;
}

/// Searches nonces for `block` on `threads` blocking threads until one is found or `stop`
/// is set.
async fn search(
    tasks: &TaskExecutor,
    block: Block,
    threads: usize,
    stop: Arc<AtomicBool>,
) -> Option<Block> {
    // Callers check the count; the clamp keeps an unchecked one from starting hundreds of
    // OS threads or overflowing the channel's capacity.
    let threads = threads.clamp(1, MAX_MINER_THREADS);
    let (found, mut results) = mpsc::channel(threads);
    let stride = u64::MAX / threads as u64;
    for i in 0..threads {
        let (block, stop, found) = (block.clone(), Arc::clone(&stop), found.clone());
        tasks.spawn_blocking("nonce search", move || {
            let mut start = stride.saturating_mul(i as u64);
            while !stop.load(Ordering::Relaxed) {
                if let Some(nonce) = search_nonce(&block.header, start, NONCES_PER_ROUND) {
                    stop.store(true, Ordering::Relaxed);
                    let mut solved = block;
                    solved.header.nonce = nonce;
                    // Only the first result is read; the others find a closed channel.
                    let _ = found.blocking_send(solved);
                    return;
                }
                start = start.wrapping_add(NONCES_PER_ROUND);
            }
        });
    }
    drop(found);
    results.recv().await
}

/// How long a miner on a development chain waits after a tip before mining on it: drawn
/// afresh for each tip from an exponential distribution whose mean is the chain's block
/// time, which is how the time to find a block by proof of work is distributed. A fixed
/// wait would make every miner find its block in the same instant after each tip, so
/// that every height forked into a tie and a network with two miners never settled on
/// one tip.
struct DevPace {
    rng: ChaCha8Rng,
    /// The tip the wait was drawn for, and the wait.
    drawn: Option<(BlockHash, u64)>,
}

/// The longest wait drawn, in block times: the exponential's tail past it is five in a
/// hundred thousand, and a dev chain should not stall on it.
const MAX_PACE_BLOCK_TIMES: f64 = 10.0;

impl DevPace {
    fn new() -> DevPace {
        // Each miner draws its own times; no secret is involved, so a failed read of the
        // system's randomness falls back to the clock.
        let seed = getrandom::u64().unwrap_or_else(|_| Timestamp::now().as_millis());
        DevPace {
            rng: ChaCha8Rng::seed_from_u64(seed),
            drawn: None,
        }
    }

    /// Milliseconds to wait after `tip` was mined.
    fn wait_ms(&mut self, tip: BlockHash, block_time_ms: u64) -> u64 {
        if let Some((drawn_for, wait)) = self.drawn {
            if drawn_for == tip {
                return wait;
            }
        }
        // Uniform in [0, 1), then the exponential's inverse.
        let uniform = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let block_times = (-(1.0 - uniform).ln()).min(MAX_PACE_BLOCK_TIMES);
        let wait = (block_times * block_time_ms as f64) as u64;
        self.drawn = Some((tip, wait));
        wait
    }
}

async fn mining_loop(
    miner: Miner,
    mut settings: watch::Receiver<Option<MinerSettings>>,
    blocks_found: Arc<AtomicU64>,
) {
    let Miner {
        chain,
        pool,
        tasks,
        parked,
    } = miner;
    let mut tips = chain.watch_tip();
    let mut admissions = pool.watch_admissions();
    let spec = chain.reader().spec().clone();
    let mut pace = DevPace::new();
    loop {
        let current = *settings.borrow_and_update();
        let Some(MinerSettings { threads, reward }) = current.filter(|s| s.threads > 0) else {
            parked.send_replace(true);
            tokio::select! {
                changed = settings.changed() => if changed.is_err() { return },
                // A closed tip channel means the chain stopped: so does the miner.
                changed = tips.changed() => if changed.is_err() { return } else { continue },
            }
            parked.send_replace(false);
            continue;
        };
        if spec.dev_mining {
            // Pace development chains to their block time.
            let tip = chain.tip();
            let due = tip
                .header
                .timestamp
                .as_millis()
                .saturating_add(pace.wait_ms(tip.hash, spec.consensus.block_time_ms));
            let wait = due.saturating_sub(Timestamp::now().as_millis());
            if wait > 0 {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                    changed = settings.changed() => if changed.is_err() { return },
                    // A closed tip channel means the chain stopped: so does mining.
                    changed = tips.changed() => if changed.is_err() { return },
                }
                continue;
            }
        }
        let block = match template(&chain, &pool, reward).await {
            Ok(Some(block)) => block,
            Ok(None) => {
                next_tip(&mut tips).await;
                continue;
            }
            Err(error) => {
                tracing::error!(%error, "cannot build a block template");
                tokio::time::sleep(TEMPLATE_REFRESH).await;
                continue;
            }
        };
        tips.borrow_and_update();
        admissions.borrow_and_update();
        let stop = Arc::new(AtomicBool::new(false));
        let search = search(&tasks, block, threads, Arc::clone(&stop));
        tokio::pin!(search);
        let refresh = tokio::time::sleep(TEMPLATE_REFRESH);
        tokio::pin!(refresh);
        let mut new_transactions = false;
        let found = loop {
            tokio::select! {
                found = &mut search => break found,
                changed = tips.changed() => {
                    if changed.is_err() { stop.store(true, Ordering::Relaxed); return; }
                    break None;
                }
                changed = settings.changed() => {
                    if changed.is_err() { stop.store(true, Ordering::Relaxed); return; }
                    break None;
                }
                _ = admissions.changed(), if !new_transactions => new_transactions = true,
                _ = &mut refresh, if new_transactions => break None,
            }
        };
        stop.store(true, Ordering::Relaxed);
        let Some(block) = found else { continue };
        let (height, txs, hash) = (block.header.height, block.transactions.len(), block.hash());
        match chain.submit_block(block).await {
            Ok(outcome) if outcome.verdict == Verdict::Accepted => {
                blocks_found.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%height, txs, %hash, "mined a block");
            }
            Ok(outcome) => {
                tracing::warn!(verdict = ?outcome.verdict, "the chain did not take a mined block")
            }
            Err(error) => {
                tracing::error!(%error, "the chain stopped; mining stops");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_pace_draws_once_per_tip_around_the_block_time() {
        let mut pace = DevPace::new();
        let tips: Vec<BlockHash> = (0..4_000u32)
            .map(|i| {
                let mut bytes = [0u8; 32];
                bytes[..4].copy_from_slice(&i.to_le_bytes());
                BlockHash::from_bytes(bytes)
            })
            .collect();
        let first = pace.wait_ms(tips[0], 1_000);
        assert_eq!(pace.wait_ms(tips[0], 1_000), first, "one draw per tip");
        let waits: Vec<u64> = tips.iter().map(|tip| pace.wait_ms(*tip, 1_000)).collect();
        let mean = waits.iter().sum::<u64>() as f64 / waits.len() as f64;
        assert!((900.0..1_100.0).contains(&mean), "mean wait {mean} ms");
        assert!(waits.iter().all(|w| *w <= 10_000));
        // Spread like proof of work: many short waits, some long ones. Two miners' waits
        // after one tip are within 10 ms of each other about 2% of the time, not always.
        let short = waits.iter().filter(|w| **w < 100).count();
        let long = waits.iter().filter(|w| **w > 2_000).count();
        assert!(short > 200 && long > 300, "{short} short, {long} long");
    }
}
