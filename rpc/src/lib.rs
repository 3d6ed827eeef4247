//! # tern-rpc
//!
//! The JSON-RPC interface of a Tern node: what wallets, explorers and scripts see.
//!
//! ## Map
//!
//! | module | owns |
//! |---|---|
//! | [`access`] | who may call the admin methods: the cookie token, or loopback with admin on |
//! | [`callers`] | which web pages may call at all: the `Host` and `Origin` checks |
//! | [`connections`] | what one client may hold: connection limits, deadlines, calls and answer bytes outstanding, and a socket that makes a non-reader wait |
//! | `slots` | the open HTTP and WebSocket connections, per address, and which idle one gives up its slot to a new client |
//! | `listener` | the accept loop under the HTTP service: slots before bytes, body deadlines, backoff when descriptors run out |
//! | `websocket` | the WebSocket transport: each message checked as the specification says, a bound on calls in flight, pings |
//! | `dispatch` | a WebSocket call to the method it names, with the connection's subscriptions |
//! | `call_stack` | the per-call middleware, one stack for both transports |
//! | [`api`] | the API, defined once; jsonrpsee generates server traits and a typed client |
//! | [`json`] | one JSON type per response, converted from [`tern_chain`] types |
//! | [`error`] | the error codes |
//! | [`metrics`] | call counts and latencies by method, for the node's `/metrics` |
//! | [`net`] | the network methods (`net_*`, `node_health`) and their JSON shapes |
//! | [`heads`] | the resumable stream of tip changes behind `chain_subscribeHeads` |
//! | [`backend`] | [`backend::NodeBackend`]: what the server needs from the node |
//! | `each_call` | takes batches apart so each call passes the per-call middleware |
//! | `named_params` | names the parameter behind the decoder's unnamed "Invalid params" |
//! | [`openrpc`] | the OpenRPC document served by `rpc.discover` |
//! | `spec` | the JSON-RPC 2.0 rules jsonrpsee does not keep: invalid requests, notifications, every valid id |
//! | [`server`] | the API over a backend, HTTP and WebSocket on one port, limits |
//!
//! ## Conventions
//!
//! Hashes are lowercase hex, addresses bech32m under the chain's prefix, amounts and fees
//! decimal strings of base units. Invalid params name the bad field. A refused transaction
//! is error 1001 with `data.reason` naming the mempool's rule.
//!
//! ## Security notes
//!
//! The server listens on 127.0.0.1 by default and warns when bound elsewhere. Methods that
//! change what the node does (mining, on-demand blocks, peers and bans) need the token from
//! the node's cookie file, or a server on loopback with admin explicitly enabled. Before
//! any method runs, a request from a foreign web page (its `Origin`) or under a foreign
//! name (its `Host`: DNS rebinding) is refused ([`callers`]), so a page in the browser of
//! a developer with `--rpc-admin` cannot drive their node. Request and response sizes,
//! batch length, connections and subscriptions are capped ([`server::RpcConfig`]).

pub use jsonrpsee;

pub mod access;
pub mod api;
pub mod backend;
mod call_stack;
pub mod callers;
pub mod connections;
mod dispatch;
mod each_call;
pub mod error;
pub mod heads;
pub mod json;
mod listener;
pub mod metrics;
mod named_params;
pub mod net;
pub mod openrpc;
pub mod server;
mod slots;
mod spec;
mod websocket;

/// The future every layer of the HTTP stack returns, boxed so that each layer can answer
/// some requests itself and pass the others on.
pub(crate) type BoxFuture<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;
