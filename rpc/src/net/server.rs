//! The `net` namespace over the network's handle, with the node's health and the chain's
//! tip for `node_health`: the handles answer, and this turns their answers into the
//! namespace's JSON.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jsonrpsee::core::{async_trait, RpcResult};
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::Extensions;
use tern_p2p::bans::{Ban, BanTarget};
use tern_p2p::message::MessageKind;
use tern_p2p::sync::SyncStatus;
use tern_p2p::{Direction, NetworkHandle, NetworkInfo, PeerInfo};
use tern_state::chain::AsyncChainReader;
use tern_tasks::Health;

use super::api::{TernNetAdminApiServer, TernNetApiServer, DEFAULT_BAN_SECS, MAX_BAN_SECS};
use super::json::{BanJson, HealthJson, NetInfoJson, PeerJson, StateProgressJson, SyncStatusJson};
use crate::admin::require_admin;
use crate::error::{echoed, internal, invalid_param};

/// The `net` namespace's methods.
#[derive(Clone)]
pub(crate) struct NetRpc {
    pub(crate) network: NetworkHandle,
    /// Whether the node is failing.
    pub(crate) health: Health,
    /// The stored tip, for `node_health`.
    pub(crate) chain: AsyncChainReader,
}

impl From<NetworkInfo> for NetInfoJson {
    fn from(info: NetworkInfo) -> Self {
        NetInfoJson {
            node_id: info.node_id.to_string(),
            listen_address: info.listen_addr.map(|a| a.to_string()),
            inbound: info.inbound,
            outbound: info.outbound,
            known_addresses: info.known_addresses,
            bans: info.bans,
        }
    }
}

impl From<PeerInfo> for PeerJson {
    fn from(peer: PeerInfo) -> Self {
        PeerJson {
            node_id: peer.node_id.to_string(),
            address: peer.addr.to_string(),
            listen_address: peer.listen_addr.map(|a| a.to_string()),
            direction: match peer.direction {
                Direction::Inbound => "inbound".into(),
                Direction::Outbound => "outbound".into(),
            },
            best_height: peer.best_height.value(),
            best_hash: peer.best_hash.to_string(),
            user_agent: peer.user_agent,
            rtt_ms: peer.rtt.map(|d| d.as_secs_f64() * 1_000.0),
            bytes_in: peer.stats.bytes_in.load(Ordering::Relaxed),
            bytes_out: peer.stats.bytes_out.load(Ordering::Relaxed),
            blocks_in: peer.stats.received(MessageKind::Block)
                + peer.stats.received(MessageKind::CompactBlock),
            txs_in: peer.stats.received(MessageKind::Tx),
            connected_secs: peer.connected_for.as_secs(),
            pushes_blocks: peer.stats.pushes_blocks.load(Ordering::Relaxed),
            pushed_blocks: peer.stats.pushed_blocks.load(Ordering::Relaxed),
        }
    }
}

impl From<Ban> for BanJson {
    fn from(ban: Ban) -> Self {
        BanJson {
            target: ban.target,
            until_ms: ban.until_ms,
            reason: ban.reason,
        }
    }
}

impl From<SyncStatus> for SyncStatusJson {
    fn from(status: SyncStatus) -> Self {
        SyncStatusJson {
            syncing: status.syncing,
            current_height: status.current_height.value(),
            target_height: status.target_height.value(),
            blocks_per_sec: status.blocks_per_sec,
            txs_per_sec: status.txs_per_sec,
            eta_secs: status.eta_secs,
            peers: status.peers,
            isolated: status.isolated,
            mode: status.mode.name().into(),
            phase: status.phase.map(|phase| phase.name().into()),
            state: status.state.map(|state| StateProgressJson {
                pivot_height: state.pivot_height.value(),
                chunks_done: state.chunks_done,
                chunks_total: state.chunks_total,
                accounts: state.accounts,
                bytes: state.bytes,
                accounts_per_sec: state.accounts_per_sec,
                eta_secs: state.eta_secs,
            }),
        }
    }
}

/// `target` as a node id or an IP address, or invalid params naming it.
fn ban_target(target: &str) -> Result<BanTarget, ErrorObjectOwned> {
    target.parse().map_err(|e| invalid_param("target", e))
}

/// The first address `host:port` resolves to, or invalid params naming it.
async fn resolve(address: &str) -> Result<SocketAddr, ErrorObjectOwned> {
    let invalid = |why: String| invalid_param("address", format!("{}: {why}", echoed(address)));
    let mut addrs = tokio::net::lookup_host(address)
        .await
        .map_err(|e| invalid(e.to_string()))?;
    addrs
        .next()
        .ok_or_else(|| invalid("resolves to no address".into()))
}

#[async_trait]
impl TernNetApiServer for NetRpc {
    async fn net_info(&self) -> RpcResult<NetInfoJson> {
        let info = self.network.info().await.map_err(internal)?;
        Ok(info.into())
    }

    async fn net_peers(&self) -> RpcResult<Vec<PeerJson>> {
        let peers = self.network.peers().await.map_err(internal)?;
        Ok(peers.into_iter().map(PeerJson::from).collect())
    }

    async fn chain_sync_status(&self) -> RpcResult<SyncStatusJson> {
        Ok(self.network.sync_status().into())
    }

    fn node_version(&self) -> RpcResult<String> {
        Ok(concat!("tern/", env!("CARGO_PKG_VERSION")).to_owned())
    }

    async fn node_health(&self) -> RpcResult<HealthJson> {
        let height = self
            .chain
            .run(|chain| chain.tip())
            .await
            .map_err(internal)?
            .height()
            .value();
        let failure = self.health.failure();
        // A failing node's network may already be gone: its failure is the answer.
        let peers = match failure {
            Some(_) => 0,
            None => {
                let info = self.network.info().await.map_err(internal)?;
                info.inbound + info.outbound
            }
        };
        let sync = self.network.sync_status();
        let (status, reason) = if let Some(failure) = failure {
            ("failed", format!("{failure}; the node is stopping"))
        } else if sync.isolated {
            (
                "no_peers",
                "no peer is connected: the chain may be moving on without this node".to_owned(),
            )
        } else if peers == 0 {
            ("ok", "running alone: no peers were given".to_owned())
        } else if sync.syncing {
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
impl TernNetAdminApiServer for NetRpc {
    async fn net_add_peer(&self, ext: &Extensions, address: String) -> RpcResult<()> {
        require_admin(ext)?;
        let addr = resolve(&address).await?;
        self.network.add_peer(addr).await.map_err(internal)
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
        let target = ban_target(&target)?;
        self.network
            .ban(target, Duration::from_secs(secs))
            .await
            .map_err(internal)
    }

    async fn net_unban(&self, ext: &Extensions, target: String) -> RpcResult<bool> {
        require_admin(ext)?;
        let target = ban_target(&target)?;
        self.network.unban(target).await.map_err(internal)
    }

    async fn net_bans(&self, ext: &Extensions) -> RpcResult<Vec<BanJson>> {
        require_admin(ext)?;
        let bans = self.network.bans().await.map_err(internal)?;
        Ok(bans.into_iter().map(BanJson::from).collect())
    }
}
