//! The `mining` namespace over the node's [`Miner`]: on-demand blocks and the miner.
//! Every method needs admin access.

use std::sync::Arc;

use jsonrpsee::core::{async_trait, RpcResult};
use jsonrpsee::Extensions;

use super::api::TernAdminApiServer;
use super::json::MinerStatusJson;
use crate::admin::require_admin;
use tern_chain::genesis::ChainSpec;

use crate::error::{self, invalid_param};
use crate::handles::{Miner, MAX_MINER_THREADS};
use crate::params::parse_address;

/// The `mining` namespace's methods.
pub(crate) struct MiningRpc {
    pub(crate) miner: Arc<dyn Miner>,
    /// The chain's spec: addresses are read and written under its prefix.
    pub(crate) spec: ChainSpec,
}

impl MiningRpc {
    fn miner_json(&self) -> MinerStatusJson {
        let state = self.miner.state();
        let prefix = &self.spec.address_prefix;
        MinerStatusJson {
            running: state.threads > 0,
            threads: state.threads,
            reward_address: state.reward.map(|a| a.to_bech32(prefix)),
            blocks_found: state.blocks_found,
        }
    }
}

#[async_trait]
impl TernAdminApiServer for MiningRpc {
    async fn dev_mine(
        &self,
        ext: &Extensions,
        count: u64,
        reward: Option<String>,
    ) -> RpcResult<Vec<String>> {
        require_admin(ext)?;
        let reward = reward
            .map(|text| parse_address(&self.spec, "reward", &text))
            .transpose()?;
        self.miner
            .mine_now(count, reward)
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
        let reward = parse_address(&self.spec, "reward", &reward)?;
        let threads = threads.unwrap_or(1);
        if !(1..=MAX_MINER_THREADS).contains(&threads) {
            return Err(invalid_param(
                "threads",
                format!("{threads}: must be 1 to {MAX_MINER_THREADS} (miner_stop stops)"),
            ));
        }
        self.miner.start(threads, reward);
        Ok(self.miner_json())
    }

    fn miner_stop(&self, ext: &Extensions) -> RpcResult<MinerStatusJson> {
        require_admin(ext)?;
        self.miner.stop();
        Ok(self.miner_json())
    }
}
