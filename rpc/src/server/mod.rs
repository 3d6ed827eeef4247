//! The server: the namespaces implemented over the node's handles, on one port for HTTP
//! and WebSocket, with limits on every dimension a client controls. It holds the
//! transports, their limits and the assembly of the namespaces; nothing below it (the
//! namespaces, the handles they hold, [`crate::admin`]) uses it.
//!
//! | module | owns |
//! |---|---|
//! | `mod.rs` | [`RpcConfig`] and [`start`]: the module of every namespace, both transports, the layers |
//! | [`access`] | who may call the admin methods: the cookie token, or loopback with admin on; it marks the request ([`crate::admin`]) |
//! | [`callers`] | which web pages may call at all: the `Host` and `Origin` checks |
//! | [`explorer`] | the built-in explorer's pages under `/explorer/`, embedded files only |
//! | [`connections`] | what one client may hold: calls and answer bytes outstanding, deadlines, and a socket that makes a non-reader wait |
//! | `limits` | `ConnectionLimits`: how many connections, per kind and per address, and how long each may idle or stall |
//! | `slots` | the open HTTP and WebSocket connections, per address, and which idle one gives up its slot to a new client |
//! | `listener` | the accept loop under the HTTP service, and every connection task, all in the node's task tree: slots before bytes, body deadlines, backoff when descriptors run out |
//! | `http` | JSON-RPC over HTTP: a POST's body to its answer |
//! | `websocket` | the WebSocket transport: a bound on calls in flight, pings, subscriptions |
//! | `message` | one message of either transport to its answer: checked, decoded, through the per-call middleware |
//! | `dispatch` | a call to the method it names, with a WebSocket connection's subscriptions |
//! | `call_stack` | the per-call middleware, one stack for both transports |
//! | `each_call` | takes batches apart so each call passes the per-call middleware |
//! | `named_params` | names the parameter behind the decoder's unnamed "Invalid params" |
//! | `spec` | the JSON-RPC 2.0 rules jsonrpsee does not keep: invalid requests, notifications, every valid id |
//! | [`metrics`] | call counts and latencies by method, for the node's `/metrics` |

pub mod access;
mod call_stack;
pub mod callers;
pub mod connections;
mod dispatch;
mod each_call;
pub mod explorer;
mod http;
mod limits;
mod listener;
mod message;
pub mod metrics;
mod named_params;
mod slots;
mod spec;
mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;

use jsonrpsee::server::{stop_channel, Methods, RpcModule, ServerHandle};
use tern_tasks::fault::FaultPoint;
use tern_tasks::TaskExecutor;

use crate::chain::server::ChainRpc;
use crate::chain::TernApiServer;
use crate::mining::server::MiningRpc;
use crate::mining::TernAdminApiServer;
use crate::net::server::NetRpc;
use crate::net::{TernNetAdminApiServer, TernNetApiServer};

use crate::chain::heads::HeadsLog;
use crate::handles::NodeHandles;
use access::AccessPolicy;
use call_stack::CallStack;
use callers::{AllowedCallers, CallerCheckLayer};
use connections::ConnectionLimits;
use explorer::ExplorerLayer;
use http::HttpCalls;
use metrics::RpcMetrics;
use slots::Slots;
use websocket::{WebSocketLayer, WebSocketLimits};

/// The future every layer of the HTTP stack returns, boxed so that each layer can answer
/// some requests itself and pass the others on.
pub(crate) type BoxFuture<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;

/// Server limits and access.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Admin methods without a token for every caller, when the server listens on a
    /// loopback address (`tern node --rpc-admin`). Elsewhere the token is still needed.
    pub admin: bool,
    /// The token from the node's cookie file: a request carrying it may call the admin
    /// methods (see [`crate::server::access`]).
    pub cookie: Option<String>,
    /// The largest request body, in bytes.
    pub max_request_bytes: u32,
    /// The largest response body, in bytes.
    pub max_response_bytes: u32,
    /// The most calls in one batch.
    pub max_batch: u32,
    /// Connection slots, per address limits and deadlines (see [`crate::server::connections`]).
    pub limits: ConnectionLimits,
    /// The most subscriptions per WebSocket connection.
    pub max_subscriptions: u32,
    /// Where to count calls and their latency, if anywhere.
    pub metrics: Option<Arc<RpcMetrics>>,
    /// The hosts and web origins allowed beyond the defaults (see [`crate::server::callers`]).
    pub callers: AllowedCallers,
    /// Serve the explorer's pages under `/explorer/` (`tern node --explorer`).
    pub explorer: bool,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], crate::DEFAULT_PORT)),
            admin: false,
            cookie: None,
            max_request_bytes: 1 << 20,
            max_response_bytes: 16 << 20,
            max_batch: 100,
            limits: ConnectionLimits::default(),
            max_subscriptions: 64,
            metrics: None,
            callers: AllowedCallers::default(),
            explorer: false,
        }
    }
}

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// Where it listens (useful with port 0).
    pub addr: SocketAddr,
    /// Stops it.
    pub handle: ServerHandle,
}

/// The methods to serve over `node`'s handles, with `heads` behind the head
/// subscriptions: the public API and the admin API. The admin methods are always there,
/// each checking the caller's access first, so that a caller without it gets 1005
/// ([`crate::error::ADMIN_REQUIRED`]) from every node, whatever its settings, never a
/// "method not found" that reads like a typo.
pub fn methods(node: &NodeHandles, heads: Arc<HeadsLog>) -> RpcModule<()> {
    let net = NetRpc {
        network: node.network.clone(),
        health: node.health.clone(),
        chain: node.chain.reads().clone(),
    };
    let chain = ChainRpc::new(
        node.chain.clone(),
        node.pool.clone(),
        node.network.clone(),
        heads,
    );
    let mining = MiningRpc {
        miner: Arc::clone(&node.miner),
        spec: node.chain.reads().spec().clone(),
    };
    let mut module = RpcModule::new(());
    // The traits' method names are disjoint, so merging cannot fail.
    let _ = module.merge(TernApiServer::into_rpc(chain));
    let _ = module.merge(TernNetApiServer::into_rpc(net.clone()));
    let _ = module.merge(TernNetAdminApiServer::into_rpc(net));
    let _ = module.merge(TernAdminApiServer::into_rpc(mining));
    module
}

/// Starts serving `node` on `config.addr`: the accept loop as the critical task `rpc
/// server`, each connection as a task `rpc connection`, each WebSocket call as a task
/// `rpc call` and the record of tip changes as the critical task `rpc heads`, all in
/// `tasks`' tree, so a panic anywhere in the server fails the node visibly instead of
/// leaving it healthy and deaf. `fault` is the accept loop's fault point.
pub async fn start(
    node: &NodeHandles,
    config: RpcConfig,
    tasks: &TaskExecutor,
    fault: FaultPoint,
) -> std::io::Result<RunningServer> {
    if !config.addr.ip().is_loopback() {
        tracing::warn!(addr = %config.addr, "the RPC server listens beyond this machine");
    }
    let limits = config.limits;
    let policy = AccessPolicy::new(config.addr, config.admin, config.cookie.as_ref());
    let methods: Methods = methods(node, HeadsLog::follow(&node.chain, tasks)).into();
    let calls = CallStack {
        metrics: config.metrics.clone().unwrap_or_default(),
        max_response_bytes: config.max_response_bytes as usize,
    };
    let (stop, handle) = stop_channel();
    let websocket = WebSocketLayer::new(
        methods.clone(),
        calls.clone(),
        WebSocketLimits {
            max_message_bytes: config.max_request_bytes,
            max_response_bytes: config.max_response_bytes,
            max_batch: config.max_batch,
            max_subscriptions: config.max_subscriptions,
            // A timer needs a period: a zero idle timeout still pings, at once and often.
            ping_interval: (limits.idle_timeout / 3).max(std::time::Duration::from_millis(1)),
            silence_limit: limits.idle_timeout,
        },
        stop.clone(),
        tasks.clone(),
    );
    // Foreign pages are refused first, before the admin mark, any method or a WebSocket.
    let service = tower::ServiceBuilder::new()
        .layer(CallerCheckLayer::new(config.callers.clone()))
        .layer(ExplorerLayer {
            enabled: config.explorer,
        })
        .map_request(move |request| policy.mark(request))
        .layer(websocket)
        .service(HttpCalls::new(
            methods,
            calls,
            config.max_response_bytes as usize,
            config.max_batch,
        ));
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let accept = listener::AcceptLoop {
        listener,
        slots: Slots::new(limits),
        max_request_bytes: config.max_request_bytes,
        stop,
        tasks: tasks.clone(),
        fault,
    };
    tasks.spawn_critical("rpc server", accept.run(service));
    Ok(RunningServer { addr, handle })
}
