//! The network part of the API: `net_*` and `node_health`, with their JSON shapes.

use std::sync::Arc;
use std::time::Duration;

use jsonrpsee::core::{async_trait, RpcResult};
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::Extensions;
use serde::{Deserialize, Serialize};

use crate::access::require_admin;
use crate::backend::{NetFailure, NodeBackend};
use crate::error::{internal, invalid_param};

/// A ban lasts this long unless the call says otherwise.
pub const DEFAULT_BAN_SECS: u64 = 24 * 60 * 60;

/// The longest ban a call may ask for: ten years.
pub const MAX_BAN_SECS: u64 = 10 * 365 * 24 * 60 * 60;

/// `net_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetInfoJson {
    /// This node's id: its Noise static public key, hex.
    pub node_id: String,
    /// Where it accepts peers, if it does.
    pub listen_address: Option<String>,
    /// Connected peers that dialled us.
    pub inbound: usize,
    /// Connected peers we dialled.
    pub outbound: usize,
    /// Addresses in the address book.
    pub known_addresses: usize,
    /// Bans in force.
    pub bans: usize,
}

/// One entry of `net_peers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerJson {
    /// Its id.
    pub node_id: String,
    /// The connection's remote address.
    pub address: String,
    /// Where it accepts connections, if known.
    pub listen_address: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Its tip height as last heard.
    pub best_height: u64,
    /// Its tip as last heard.
    pub best_hash: String,
    /// Its software.
    pub user_agent: String,
    /// The last ping round trip in milliseconds, once measured.
    pub rtt_ms: Option<f64>,
    /// Bytes received from it.
    pub bytes_in: u64,
    /// Bytes sent to it.
    pub bytes_out: u64,
    /// Blocks received from it.
    pub blocks_in: u64,
    /// Transactions received from it.
    pub txs_in: u64,
    /// Seconds since it connected.
    pub connected_secs: u64,
}

/// One entry of `net_bans`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BanJson {
    /// A node id or an IP address.
    pub target: String,
    /// When the ban ends, in milliseconds since the Unix epoch.
    pub until_ms: u64,
    /// Why.
    pub reason: String,
}

/// `chain_syncStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatusJson {
    /// Whether the node is behind its peers and catching up.
    pub syncing: bool,
    /// Our tip height.
    pub current_height: u64,
    /// The best height our peers have shown.
    pub target_height: u64,
    /// Blocks connected per second over the last seconds.
    pub blocks_per_sec: f64,
    /// Transactions connected per second over the last seconds.
    pub txs_per_sec: f64,
    /// Seconds to reach the target at that rate, if moving.
    pub eta_secs: Option<u64>,
    /// Peers with blocks in flight to us.
    pub peers: usize,
}

/// `node_health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthJson {
    /// `ok`, `syncing`, `no_peers` or `failed`.
    pub status: String,
    /// A sentence saying why.
    pub reason: String,
    /// Connected peers.
    pub peers: usize,
    /// Our tip height.
    pub height: u64,
}

/// Network methods safe to expose.
#[rpc(server, client)]
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
}

/// Network methods that change what the node does: each call needs admin access.
#[rpc(server, client)]
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

/// The network methods over a backend.
pub(crate) struct NetRpc<B> {
    pub(crate) backend: Arc<B>,
}

fn failure(field: &str, error: NetFailure) -> jsonrpsee::types::ErrorObjectOwned {
    match error {
        NetFailure::Invalid(reason) => invalid_param(field, reason),
        NetFailure::Unavailable(reason) => internal(reason),
    }
}

#[async_trait]
impl<B: NodeBackend> TernNetApiServer for NetRpc<B> {
    async fn net_info(&self) -> RpcResult<NetInfoJson> {
        self.backend.net_info().await.map_err(internal)
    }

    async fn net_peers(&self) -> RpcResult<Vec<PeerJson>> {
        self.backend.net_peers().await.map_err(internal)
    }

    async fn chain_sync_status(&self) -> RpcResult<SyncStatusJson> {
        Ok(self.backend.sync_status())
    }

    async fn node_health(&self) -> RpcResult<HealthJson> {
        let height = self
            .backend
            .chain()
            .run(|chain| chain.tip())
            .await
            .map_err(internal)?
            .height()
            .value();
        let failure = self.backend.failure();
        // A failing node's network may already be gone: its failure is the answer.
        let peers = match failure {
            Some(_) => 0,
            None => {
                let info = self.backend.net_info().await.map_err(internal)?;
                info.inbound + info.outbound
            }
        };
        let (status, reason) = if let Some(failure) = failure {
            ("failed", format!("{failure}; the node is stopping"))
        } else if peers == 0 {
            ("no_peers", "no peer is connected".to_owned())
        } else if self.backend.syncing() {
            (
                "syncing",
                "catching up with peers that have more work".to_owned(),
            )
        } else {
            ("ok", format!("{peers} peers, at the best known chain"))
        };
        Ok(HealthJson {
            status: status.into(),
            reason,
            peers,
            height,
        })
    }
}

#[async_trait]
impl<B: NodeBackend> TernNetAdminApiServer for NetRpc<B> {
    async fn net_add_peer(&self, ext: &Extensions, address: String) -> RpcResult<()> {
        require_admin(ext)?;
        self.backend
            .net_add_peer(&address)
            .await
            .map_err(|e| failure("address", e))
    }

    async fn net_ban(
        &self,
        ext: &Extensions,
        target: String,
        duration_secs: Option<u64>,
    ) -> RpcResult<usize> {
        require_admin(ext)?;
        let secs = duration_secs.unwrap_or(DEFAULT_BAN_SECS);
        if secs == 0 || secs > MAX_BAN_SECS {
            return Err(invalid_param(
                "durationSecs",
                format!("must be between 1 and {MAX_BAN_SECS}"),
            ));
        }
        self.backend
            .net_ban(&target, Duration::from_secs(secs))
            .await
            .map_err(|e| failure("target", e))
    }

    async fn net_unban(&self, ext: &Extensions, target: String) -> RpcResult<bool> {
        require_admin(ext)?;
        self.backend
            .net_unban(&target)
            .await
            .map_err(|e| failure("target", e))
    }

    async fn net_bans(&self, ext: &Extensions) -> RpcResult<Vec<BanJson>> {
        require_admin(ext)?;
        self.backend.net_bans().await.map_err(internal)
    }
}
