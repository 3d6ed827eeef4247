//! What the nodes do while a scenario runs, seen from outside as a monitoring script
//! would: each node's tip every [`POLL`], to measure the deepest reorg, and its `/ready`,
//! to see it go false and back to true.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tern_rpc::chain::TernApiClient;
use tern_rpc::jsonrpsee::http_client::HttpClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// How often each node is looked at.
pub(super) const POLL: Duration = Duration::from_millis(200);

/// Heights of each node's chain remembered below its tip, to find where a reorg forked.
/// A reorg deeper than this is measured as this deep.
const REMEMBERED: u64 = 256;

/// How long one look at a node may take.
const LOOK_TIMEOUT: Duration = Duration::from_secs(2);

/// A node as the watcher looks at it.
#[derive(Debug, Clone)]
pub(super) struct Watched {
    pub(super) rpc: HttpClient,
    /// Where it serves `/ready` now (its metrics port changes at each start).
    pub(super) metrics: Option<SocketAddr>,
}

/// What the watcher saw.
#[derive(Debug, Default)]
pub(super) struct Seen {
    /// The deepest reorg of any node, and which node.
    pub(super) deepest_reorg: Option<(usize, u64)>,
    /// Each node's `/ready` answers, each time it changed: `false` then `true` is a
    /// cycle.
    pub(super) ready: BTreeMap<usize, Vec<bool>>,
}

/// The watcher: shared with the runner, which tells it which nodes to look at.
#[derive(Debug, Clone, Default)]
pub(super) struct Watcher {
    nodes: Arc<Mutex<BTreeMap<usize, Watched>>>,
    seen: Arc<Mutex<Seen>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        // Plain records: a panic elsewhere leaves them readable.
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Watcher {
    /// Looks at these nodes from now on (the running ones, with their current metrics
    /// addresses).
    pub(super) fn follow(&self, nodes: BTreeMap<usize, Watched>) {
        *lock(&self.nodes) = nodes;
    }

    /// The deepest reorg so far.
    pub(super) fn deepest_reorg(&self) -> Option<(usize, u64)> {
        lock(&self.seen).deepest_reorg
    }

    /// Forgets what `node`'s `/ready` answered: it was killed or restarted, and a cycle
    /// counts from its new start.
    pub(super) fn forget_ready(&self, node: usize) {
        lock(&self.seen).ready.remove(&node);
    }

    /// Whether `node`'s `/ready` was seen false and later true since its last start.
    pub(super) fn ready_cycled(&self, node: usize) -> bool {
        lock(&self.seen).ready.get(&node).is_some_and(|answers| {
            answers
                .iter()
                .position(|ready| !ready)
                .is_some_and(|first_false| answers.iter().skip(first_false).any(|r| *r))
        })
    }

    /// Looks at every followed node every [`POLL`] until `stop`.
    pub(super) async fn run(self, stop: CancellationToken) {
        let mut chains: BTreeMap<usize, Chain> = BTreeMap::new();
        let mut ticker = tokio::time::interval(POLL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let nodes = lock(&self.nodes).clone();
            for (node, watched) in nodes {
                let chain = chains.entry(node).or_default();
                if let Ok(Some(depth)) =
                    tokio::time::timeout(LOOK_TIMEOUT, chain.follow(&watched.rpc)).await
                {
                    let mut seen = lock(&self.seen);
                    if seen
                        .deepest_reorg
                        .is_none_or(|(_, deepest)| depth > deepest)
                    {
                        seen.deepest_reorg = Some((node, depth));
                    }
                }
                if let Some(addr) = watched.metrics {
                    if let Ok(Some(ready)) = tokio::time::timeout(LOOK_TIMEOUT, ready(addr)).await {
                        let mut seen = lock(&self.seen);
                        let answers = seen.ready.entry(node).or_default();
                        if answers.last() != Some(&ready) {
                            answers.push(ready);
                        }
                    }
                }
            }
        }
    }
}

/// One node's chain as last seen: its hashes at the heights below its tip.
#[derive(Debug, Default)]
struct Chain {
    tip: Option<(u64, String)>,
    hashes: BTreeMap<u64, String>,
}

impl Chain {
    /// Looks at the node's tip; the depth of the reorg since the last look, if there was
    /// one. `None` also when the node does not answer.
    async fn follow(&mut self, rpc: &HttpClient) -> Option<u64> {
        let info = rpc.chain_info().await.ok()?;
        if self.tip.as_ref() == Some(&(info.height, info.best_hash.clone())) {
            return None;
        }
        let mut depth = None;
        if let Some((old_height, _)) = self.tip.clone() {
            // Down from the old tip to the highest height where the node's chain still
            // has the hash seen there: the fork point.
            let mut height = old_height.min(info.height);
            let lowest = old_height.saturating_sub(REMEMBERED);
            let fork = loop {
                if height <= lowest {
                    break lowest;
                }
                match self.hashes.get(&height) {
                    Some(seen) => {
                        let now = rpc.chain_get_block_hash(height).await.ok()?;
                        if now.as_deref() == Some(seen.as_str()) {
                            break height;
                        }
                    }
                    None => break height,
                }
                height -= 1;
            };
            if fork < old_height {
                depth = Some(old_height - fork);
            }
            self.hashes.retain(|h, _| *h <= fork);
        }
        // Remember the new chain's recent hashes.
        let from = info.height.saturating_sub(REMEMBERED).max(
            self.hashes
                .keys()
                .next_back()
                .map_or(0, |highest| highest + 1),
        );
        for height in from..info.height {
            if let Ok(Some(hash)) = rpc.chain_get_block_hash(height).await {
                self.hashes.insert(height, hash);
            }
        }
        self.hashes.insert(info.height, info.best_hash.clone());
        let keep_from = info.height.saturating_sub(REMEMBERED);
        self.hashes.retain(|h, _| *h >= keep_from);
        self.tip = Some((info.height, info.best_hash));
        depth
    }
}

/// `GET /ready`: whether it answered 200; `None` when nothing answered.
async fn ready(addr: SocketAddr) -> Option<bool> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET /ready HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.ok()?;
    Some(head.ends_with(b"200"))
}
