//! The `mining` namespace over a [`MiningBackend`]: on-demand blocks and the miner. Every
//! method needs admin access.

use std::sync::Arc;

use jsonrpsee::core::{async_trait, RpcResult};
use jsonrpsee::Extensions;

use super::api::TernAdminApiServer;
use super::json::MinerStatusJson;
use crate::admin::require_admin;
use crate::backend::{MiningBackend, MAX_MINER_THREADS};
use crate::error::{self, invalid_param};
use crate::params::parse_address;

/// The `mining` namespace's methods.
pub(crate) struct MiningRpc<B> {
    pub(crate) backend: Arc<B>,
}

impl<B: MiningBackend> MiningRpc<B> {
    fn miner_json(&self) -> MinerStatusJson {
        let state = self.backend.miner_state();
        let prefix = &self.backend.chain().spec().address_prefix;
        MinerStatusJson {
            running: state.threads > 0,
            threads: state.threads,
            reward_address: state.reward.map(|a| a.to_bech32(prefix)),
            blocks_found: state.blocks_found,
        }
    }
}

#[async_trait]
impl<B: MiningBackend> TernAdminApiServer for MiningRpc<B> {
    async fn dev_mine(
        &self,
        ext: &Extensions,
        count: u64,
        reward: Option<String>,
    ) -> RpcResult<Vec<String>> {
        require_admin(ext)?;
        let reward = reward
            .map(|text| parse_address(&*self.backend, "reward", &text))
            .transpose()?;
        self.backend
            .dev_mine(count, reward)
            .await
            .map(|hashes| hashes.iter().map(ToString::to_string).collect())
            .map_err(|failure| error::dev_mine_failure(&failure))
    }

    fn miner_status(&self, ext: &Extensions) -> RpcResult<MinerStatusJson> {
        require_admin(ext)?;
        Ok(self.miner_json())
    }

    fn miner_start(
        &self,
        ext: &Extensions,
        reward: String,
        threads: Option<usize>,
    ) -> RpcResult<MinerStatusJson> {
        require_admin(ext)?;
        let reward = parse_address(&*self.backend, "reward", &reward)?;
        let threads = threads.unwrap_or(1);
        if !(1..=MAX_MINER_THREADS).contains(&threads) {
            return Err(invalid_param(
                "threads",
                format!("{threads}: must be 1 to {MAX_MINER_THREADS} (miner_stop stops)"),
            ));
        }
        self.backend.miner_start(threads, reward);
        Ok(self.miner_json())
    }

    fn miner_stop(&self, ext: &Extensions) -> RpcResult<MinerStatusJson> {
        require_admin(ext)?;
        self.backend.miner_stop();
        Ok(self.miner_json())
    }
}
