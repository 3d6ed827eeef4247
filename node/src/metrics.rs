//! Metrics and health over a small HTTP listener, for Prometheus and load balancers.
//!
//! - `GET /metrics`: Prometheus (OpenMetrics) text: chain height, peers, mempool size and
//!   bytes, blocks and transactions connected, transactions admitted, mempool rejections
//!   by reason, bytes in and out, RPC calls and latency by method.
//! - `GET /healthy`: 200 while the node runs; 503 naming the failed task and the cause
//!   from the moment a critical failure happens (see [`tern_tasks`]) until the process
//!   exits.
//! - `GET /ready`: 200 when the node is healthy, not isolated (without peers though it
//!   had or was given some) and not syncing, else 503
//!   with the reason.
//!
//! Gauges and the counters kept elsewhere (mempool, network, free disk space) are read
//! at scrape time; the chain counters follow the chain's events. At most
//! [`MAX_METRICS_CONNECTIONS`] connections are served at once; more wait in the kernel's
//! accept queue.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tern_rpc::server::metrics::RpcMetrics;
use tern_state::chain::{ChainEvent, ChainHandle};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use tern_mempool::{AdmissionStats, PoolHandle};
use tern_p2p::NetworkHandle;
use tern_tasks::{Health, TaskExecutor};

/// Metrics connections served at once.
pub const MAX_METRICS_CONNECTIONS: usize = 16;

/// How long one metrics connection may stay open.
pub const METRICS_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// `direction="in"|"out"|"inbound"|"outbound"`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabel {
    direction: &'static str,
}

/// `outcome="from_pool"|"after_round_trip"|"whole"`: how a compact block was completed.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// `reason="<mempool rule>"`: one of the mempool's fixed reason names.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Every metric the node exposes.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    height: Gauge,
    peers: Family<DirectionLabel, Gauge>,
    mempool_transactions: Gauge,
    mempool_bytes: Gauge,
    blocks_connected: Counter,
    transactions_connected: Counter,
    transactions_admitted: Counter,
    admission_batches: Counter,
    admission_batched: Counter,
    rejections: Family<ReasonLabel, Counter>,
    bytes: Family<DirectionLabel, Counter>,
    compact_blocks: Family<OutcomeLabel, Counter>,
    datadir_free: Gauge,
    /// The disk monitor's last measurement.
    free_bytes: Arc<AtomicU64>,
    /// What the scrape-time counters read last, to add only the difference.
    last: Mutex<Snapshot>,
    /// RPC figures, filled in by the RPC server's middleware.
    pub rpc: Arc<RpcMetrics>,
}

#[derive(Debug, Default)]
struct Snapshot {
    rejections: BTreeMap<&'static str, u64>,
    bytes_in: u64,
    bytes_out: u64,
    admitted: u64,
    admission: AdmissionStats,
    compact: tern_p2p::CompactCounts,
}

impl Metrics {
    /// Every metric, with free disk space read from `free_bytes` (the disk monitor's).
    pub fn new(free_bytes: Arc<AtomicU64>) -> Metrics {
        let mut metrics = Metrics {
            registry: Registry::default(),
            height: Gauge::default(),
            peers: Family::default(),
            mempool_transactions: Gauge::default(),
            mempool_bytes: Gauge::default(),
            blocks_connected: Counter::default(),
            transactions_connected: Counter::default(),
            transactions_admitted: Counter::default(),
            admission_batches: Counter::default(),
            admission_batched: Counter::default(),
            rejections: Family::default(),
            bytes: Family::default(),
            compact_blocks: Family::default(),
            datadir_free: Gauge::default(),
            free_bytes,
            last: Mutex::new(Snapshot::default()),
            rpc: Arc::new(RpcMetrics::default()),
        };
        let r = &mut metrics.registry;
        r.register(
            "tern_chain_height",
            "Height of the canonical tip",
            metrics.height.clone(),
        );
        r.register(
            "tern_peers",
            "Connected peers by direction",
            metrics.peers.clone(),
        );
        r.register(
            "tern_mempool_transactions",
            "Transactions in the mempool",
            metrics.mempool_transactions.clone(),
        );
        r.register(
            "tern_mempool_bytes",
            "Bytes in the mempool",
            metrics.mempool_bytes.clone(),
        );
        r.register(
            "tern_blocks_connected",
            "Blocks validated and connected to the canonical chain",
            metrics.blocks_connected.clone(),
        );
        r.register(
            "tern_transactions_connected",
            "Transactions in blocks validated and connected",
            metrics.transactions_connected.clone(),
        );
        r.register(
            "tern_transactions_admitted",
            "Transactions validated and admitted to the mempool",
            metrics.transactions_admitted.clone(),
        );
        r.register(
            "tern_mempool_admission_batches",
            "Signature batches mempool admission took, from RPC and peers",
            metrics.admission_batches.clone(),
        );
        r.register(
            "tern_mempool_admission_batched_transactions",
            "Transactions in those batches (divided by the batches: the mean batch)",
            metrics.admission_batched.clone(),
        );
        r.register(
            "tern_mempool_rejections",
            "Transactions the mempool refused, by reason",
            metrics.rejections.clone(),
        );
        r.register(
            "tern_p2p_bytes",
            "Bytes over peer connections, by direction",
            metrics.bytes.clone(),
        );
        r.register(
            "tern_p2p_compact_blocks",
            "Compact blocks received, by how they were completed: from_pool (the mempool \
             held every transaction), after_round_trip (missing ones asked of the sender), \
             whole (short ids could not rebuild it; the whole block was asked for)",
            metrics.compact_blocks.clone(),
        );
        r.register(
            "tern_datadir_free_bytes",
            "Bytes free on the file system of the data directory",
            metrics.datadir_free.clone(),
        );
        metrics.rpc.register(&mut metrics.registry);
        metrics
    }
}

fn direction(direction: &'static str) -> DirectionLabel {
    DirectionLabel { direction }
}

impl Metrics {
    /// Reads the gauges and the counters kept elsewhere.
    async fn refresh(&self, chain: &ChainHandle, pool: &PoolHandle, network: &NetworkHandle) {
        let free = self.free_bytes.load(Ordering::Relaxed);
        self.datadir_free
            .set(i64::try_from(free).unwrap_or(i64::MAX));
        let tip = chain.tip();
        self.height
            .set(i64::try_from(tip.height().value()).unwrap_or(i64::MAX));
        if let Ok(info) = network.info().await {
            self.peers
                .get_or_create(&direction("inbound"))
                .set(info.inbound as i64);
            self.peers
                .get_or_create(&direction("outbound"))
                .set(info.outbound as i64);
        }
        let stats = pool.stats();
        self.mempool_transactions.set(stats.count as i64);
        self.mempool_bytes.set(stats.bytes as i64);
        let (bytes_in, bytes_out) = network.bytes_total();
        let admitted = *pool.watch_admissions().borrow();
        let admission = pool.admission_stats();
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        for (reason, count) in &stats.rejections {
            let before = last.rejections.insert(reason, *count).unwrap_or(0);
            self.rejections
                .get_or_create(&ReasonLabel { reason })
                .inc_by(count.saturating_sub(before));
        }
        self.bytes
            .get_or_create(&direction("in"))
            .inc_by(bytes_in.saturating_sub(last.bytes_in));
        self.bytes
            .get_or_create(&direction("out"))
            .inc_by(bytes_out.saturating_sub(last.bytes_out));
        self.transactions_admitted
            .inc_by(admitted.saturating_sub(last.admitted));
        self.admission_batches
            .inc_by(admission.batches.saturating_sub(last.admission.batches));
        self.admission_batched.inc_by(
            admission
                .transactions
                .saturating_sub(last.admission.transactions),
        );
        let compact = network.compact_blocks();
        for (outcome, now, before) in [
            ("from_pool", compact.from_pool, last.compact.from_pool),
            (
                "after_round_trip",
                compact.after_round_trip,
                last.compact.after_round_trip,
            ),
            ("whole", compact.whole, last.compact.whole),
        ] {
            self.compact_blocks
                .get_or_create(&OutcomeLabel { outcome })
                .inc_by(now.saturating_sub(before));
        }
        (
            last.bytes_in,
            last.bytes_out,
            last.admitted,
            last.admission,
            last.compact,
        ) = (bytes_in, bytes_out, admitted, admission, compact);
    }

    /// The text exposition.
    fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%error, "cannot encode metrics");
        }
        text
    }
}

/// Counts blocks and transactions as the chain connects them. Ends with the chain.
async fn follow_chain(chain: ChainHandle, metrics: Arc<Metrics>) {
    let mut events = chain.events();
    drop(chain);
    while let Some(event) = events.next().await {
        if let ChainEvent::Update(update) = event {
            let blocks = update.connected.len() as u64;
            let txs: usize = update.connected.iter().map(|b| b.transactions.len()).sum();
            metrics.blocks_connected.inc_by(blocks);
            metrics.transactions_connected.inc_by(txs as u64);
        }
    }
}

/// What the metrics endpoint reads.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The counters and gauges.
    pub metrics: Arc<Metrics>,
    /// The chain, for the tip.
    pub chain: ChainHandle,
    /// The mempool.
    pub pool: PoolHandle,
    /// The network.
    pub network: NetworkHandle,
    /// Whether the node has failed.
    pub health: Health,
}

/// Starts the listener on `addr` as the critical task `metrics`, until `stop` fires.
/// Returns the address it listens on.
pub async fn serve(
    addr: SocketAddr,
    sources: Sources,
    tasks: &TaskExecutor,
    stop: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tasks.spawn(
        "metrics follower",
        follow_chain(sources.chain.clone(), Arc::clone(&sources.metrics)),
    );
    let connections = Arc::new(Semaphore::new(MAX_METRICS_CONNECTIONS));
    let executor = tasks.clone();
    tasks.spawn_critical("metrics", async move {
        loop {
            let permit = tokio::select! {
                () = stop.cancelled() => return,
                permit = Arc::clone(&connections).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
            };
            let accepted = tokio::select! {
                () = stop.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let Ok((stream, _)) = accepted else {
                // Out of file descriptors, typically: wait instead of spinning.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let sources = sources.clone();
            let stop = stop.clone();
            executor.spawn("metrics connection", async move {
                let _permit = permit;
                let service = hyper::service::service_fn(move |request| {
                    let sources = sources.clone();
                    async move { Ok::<_, Infallible>(answer(&sources, &request).await) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    () = stop.cancelled() => {}
                    _ = tokio::time::timeout(METRICS_CONNECTION_TIMEOUT, connection) => {}
                }
            });
        }
    });
    Ok(bound)
}

async fn answer(sources: &Sources, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let respond = |status: StatusCode, content_type: &str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = content_type.parse() {
            response.headers_mut().insert("content-type", value);
        }
        response
    };
    let plain = "text/plain; charset=utf-8";
    match request.uri().path() {
        "/metrics" => {
            sources
                .metrics
                .refresh(&sources.chain, &sources.pool, &sources.network)
                .await;
            respond(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                sources.metrics.encode(),
            )
        }
        "/healthy" => match sources.health.failure() {
            Some(failure) => respond(
                StatusCode::SERVICE_UNAVAILABLE,
                plain,
                format!("failed: {failure}\n"),
            ),
            None => respond(StatusCode::OK, plain, "ok\n".into()),
        },
        "/ready" => {
            if let Some(failure) = sources.health.failure() {
                return respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    plain,
                    format!("not ready: failed: {failure}\n"),
                );
            }
            let sync = sources.network.sync_status();
            match (sync.isolated, sync.syncing) {
                (true, _) => respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    plain,
                    "not ready: no peers\n".into(),
                ),
                (false, true) => respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    plain,
                    "not ready: syncing\n".into(),
                ),
                _ => respond(StatusCode::OK, plain, "ready\n".into()),
            }
        }
        _ => respond(
            StatusCode::NOT_FOUND,
            plain,
            "not found: try /metrics, /healthy or /ready\n".into(),
        ),
    }
}
