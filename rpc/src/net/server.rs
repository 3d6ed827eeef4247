//! The `net` namespace over a [`NodeBackend`].

use std::sync::Arc;
use std::time::Duration;

use jsonrpsee::core::{async_trait, RpcResult};
use jsonrpsee::Extensions;

use super::api::{TernNetAdminApiServer, TernNetApiServer, DEFAULT_BAN_SECS, MAX_BAN_SECS};
use super::json::{BanJson, HealthJson, NetInfoJson, PeerJson, SyncStatusJson};
use crate::access::require_admin;
use crate::backend::{NetFailure, NodeBackend};
use crate::error::{internal, invalid_param};

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
