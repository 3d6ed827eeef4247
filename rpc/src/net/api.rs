//! The `net` namespace's methods, defined once: jsonrpsee generates the server traits and
//! the typed clients from them. Each is documented in `docs/RPC.md`.

// The client the macro generates names its own result type.
#[cfg(feature = "server")]
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

use super::json::{BanJson, HealthJson, NetInfoJson, PeerJson, SyncStatusJson};

/// A ban lasts this long unless the call says otherwise.
pub const DEFAULT_BAN_SECS: u64 = 24 * 60 * 60;

/// The longest ban a call may ask for: ten years.
pub const MAX_BAN_SECS: u64 = 10 * 365 * 24 * 60 * 60;

/// Network methods safe to expose.
#[cfg_attr(feature = "server", rpc(server, client))]
#[cfg_attr(not(feature = "server"), rpc(client))]
pub trait TernNetApi {
    /// This node's network identity and connection counts.
    #[method(name = "net_info")]
    async fn net_info(&self) -> RpcResult<NetInfoJson>;

    /// The connected peers.
    #[method(name = "net_peers")]
    async fn net_peers(&self) -> RpcResult<Vec<PeerJson>>;

    /// Whether the node is catching up, how far it is and how fast it goes.
    #[method(name = "chain_syncStatus")]
    async fn chain_sync_status(&self) -> RpcResult<SyncStatusJson>;

    /// Whether the node is fit to serve: `ok`, `syncing`, `no_peers` or `failed`, with the
    /// reason.
    #[method(name = "node_health")]
    async fn node_health(&self) -> RpcResult<HealthJson>;

    /// The node's software and version, as `tern/0.1.0`: what a client shows or logs. It
    /// reads nothing, so it is also the cost of a bare call (`cargo bench -p tern-tests
    /// --bench rpc_reads` measures every read against it).
    #[method(name = "node_version")]
    fn node_version(&self) -> RpcResult<String>;
}

/// Network methods that change what the node does: each call needs admin access.
#[cfg_attr(feature = "server", rpc(server, client))]
#[cfg_attr(not(feature = "server"), rpc(client))]
pub trait TernNetAdminApi {
    /// Connects to `address` (`host:port`) now and keeps trying it.
    #[method(name = "net_addPeer", with_extensions)]
    async fn net_add_peer(&self, address: String) -> RpcResult<()>;

    /// Bans `target` (a node id or an IP address) for `duration_secs` (default one day)
    /// and disconnects it; returns how many connections were closed.
    #[method(name = "net_ban", with_extensions)]
    async fn net_ban(&self, target: String, duration_secs: Option<u64>) -> RpcResult<usize>;

    /// Lifts a ban; false if there was none.
    #[method(name = "net_unban", with_extensions)]
    async fn net_unban(&self, target: String) -> RpcResult<bool>;

    /// The bans in force.
    #[method(name = "net_bans", with_extensions)]
    async fn net_bans(&self) -> RpcResult<Vec<BanJson>>;
}
