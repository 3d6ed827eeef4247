//! # tern-rpc
//!
//! The JSON-RPC interface of a Tern node: what wallets, explorers and scripts see.
//!
//! ## Map
//!
//! Every namespace has one layout: `api.rs` (the trait, defined once; jsonrpsee generates
//! the server trait and the typed client), `json.rs` (its wire types, one per response)
//! and `server.rs` (its implementation over the node's handles it needs, server only).
//!
//! | module | owns |
//! |---|---|
//! | [`chain`] | the chain, blocks, transactions, accounts, the mempool, `rpc.discover`, subscriptions to tips and to a transaction's status |
//! | [`mining`] | on-demand blocks and the miner (admin) |
//! | [`net`] | peers, bans, sync progress, health (`net_*` admin) |
//! | [`error`] | the error codes |
//! | [`openrpc`] | the OpenRPC document served by `rpc.discover` |
//!
//! With the `server` feature (the default), the namespaces' implementations and what they
//! share, beneath [`server`]:
//!
//! | module | owns |
//! |---|---|
//! | [`handles`] | what the namespaces answer from: the node's handles to its chain, mempool, network and health, held and called directly, and the [`handles::Miner`] trait over the node crate's miner |
//! | [`admin`] | an admin method's check, against the mark the server leaves on a request |
//! | `params` | parameters every namespace reads alike (addresses under the chain's prefix) |
//! | [`server`] | the namespaces served over HTTP and WebSocket on one port, and every limit a client meets; its own page maps its modules |
//!
//! The chain namespace keeps its own server-side parts: [`chain::heads`], the resumable
//! stream of tip changes behind `chain_subscribeHeads`, and the way between two tips a
//! resumed subscription catches up by. Modules depend one way: [`openrpc`] below
//! everything, the namespaces and what they share below [`server`], which nothing uses
//! (`scripts/check-layering` holds the crate to it).
//!
//! ## Features
//!
//! `server` (default) builds all of the above and depends on `tern-state` and
//! `tern-mempool`. `--no-default-features --features client` builds the namespaces' typed
//! clients and wire types alone, on `tern-chain` only: what a wallet links, without the
//! server or RocksDB (`scripts/check-layering` holds it to that).
//!
//! ## What it may not touch
//!
//! The server reaches the node only through its handles ([`handles::NodeHandles`]: the
//! chain's, the mempool's, the network's, health and the miner), never into the
//! network's, the miner's or the store's internals, and it never writes the chain.
//! The client builds on `tern-chain` alone.
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
//! name (its `Host`: DNS rebinding) is refused (`server::callers`), so a page in the browser of
//! a developer with `--rpc-admin` cannot drive their node. Request and response sizes,
//! batch length, connections and subscriptions are capped (`server::RpcConfig`).

#[cfg(not(feature = "client"))]
compile_error!("tern-rpc needs the `server` feature (the default) or the `client` feature");

pub use jsonrpsee;

/// The port a node serves JSON-RPC on unless told otherwise, on 127.0.0.1: the one place
/// it is written (the server's default address, the wallet's default URL and the
/// testnet's first port all use it).
pub const DEFAULT_PORT: u16 = 8645;

pub mod chain;
pub mod error;
pub mod mining;
pub mod net;
pub mod openrpc;

#[cfg(feature = "server")]
pub mod admin;
#[cfg(feature = "server")]
pub mod handles;
#[cfg(feature = "server")]
mod params;
#[cfg(feature = "server")]
pub mod server;
