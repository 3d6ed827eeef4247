//! The layered [`Settings`] to the node's configuration: what several keys mean
//! together (how blocks are made, where rewards go), the checks a file's values need as
//! much as the flags' (ranges), and what is looked up (the chain spec, the data
//! directory, the peers' addresses).

use std::path::PathBuf;
use std::time::Duration;

use tern_chain::genesis::ChainSpec;
use tern_chain::types::Address;
use tern_p2p::P2pConfig;
use tern_rpc::handles::MAX_MINER_THREADS;
use tern_rpc::server::callers::AllowedCallers;
use tern_rpc::server::connections::ConnectionLimits;
use tern_rpc::server::RpcConfig;
use tern_tasks::fault::FaultPlan;

use super::{MiningSettings, Settings, MAX_BLOCK_TIME_SECS};
use crate::cli_error::CliError;
use crate::dev_blocks::DevBlocks;
use crate::mining::MinerSettings;
use crate::service::NodeConfig;

/// The node's configuration from `settings`, and its log filter.
pub async fn node_config(settings: Settings) -> Result<(NodeConfig, String), CliError> {
    let spec = ChainSpec::resolve(&settings.genesis)?;
    let data_dir = match settings.datadir {
        Some(dir) => dir,
        None => default_data_dir(&spec.name)?,
    };
    let mut seeds = Vec::new();
    for peer in &settings.p2p.peers {
        seeds.push(resolve_peer(peer).await?);
    }
    let dev_blocks = dev_blocks(&settings.mining)?;
    let dev_reward = match &settings.mining.reward {
        Some(text) => parse_reward(&spec, text)?,
        None => tern_chain::crypto::dev_secret_key(0).address(),
    };
    let mining = miner(&spec, &settings.mining, dev_blocks, dev_reward)?;
    if let Some(depth) = settings.prune {
        if depth < tern_state::chain::MIN_PRUNE_DEPTH {
            return Err(CliError(format!(
                "prune = {depth}: a node keeps at least the last {} blocks",
                tern_state::chain::MIN_PRUNE_DEPTH
            )));
        }
    }
    let p2p = settings.p2p;
    let rpc = settings.rpc;
    let mut config = NodeConfig::new(spec, data_dir);
    config.p2p = P2pConfig {
        listen: p2p.listen.then_some(p2p.addr),
        dial_from: p2p.dial_from,
        seeds,
        outbound_target: p2p.outbound,
        max_inbound: p2p.max_inbound,
        max_inbound_per_ip: p2p.max_inbound_per_ip,
        sync_mode: settings.sync,
        ..P2pConfig::default()
    };
    config.rpc = rpc.enabled.then(|| RpcConfig {
        addr: rpc.addr,
        admin: rpc.admin,
        callers: AllowedCallers {
            hosts: rpc.allow_hosts,
            origins: rpc.allow_origins,
        },
        limits: ConnectionLimits {
            max_http: rpc.max_http as usize,
            max_ws: rpc.max_ws as usize,
            max_per_ip: rpc.max_per_ip as usize,
            ..ConnectionLimits::default()
        },
        explorer: rpc.explorer,
        ..RpcConfig::default()
    });
    config.mining = mining;
    config.dev_blocks = dev_blocks;
    config.dev_reward = dev_reward;
    config.metrics = settings.metrics.addr;
    config.min_free_space = settings.min_free_space.saturating_mul(1 << 20);
    config.faults = FaultPlan::from_env();
    config.prune = settings.prune;
    Ok((config, settings.log))
}

/// Where a chain's data lives unless `datadir` says otherwise.
pub fn default_data_dir(chain: &str) -> Result<PathBuf, CliError> {
    let base = match (std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME")) {
        (Some(data), _) if !data.is_empty() => PathBuf::from(data),
        (_, Some(home)) if !home.is_empty() => PathBuf::from(home).join(".local/share"),
        _ => return Err(CliError("no HOME or XDG_DATA_HOME: pass --datadir".into())),
    };
    Ok(base.join("tern").join(chain))
}

/// Resolves `host:port`.
async fn resolve_peer(text: &str) -> Result<std::net::SocketAddr, CliError> {
    let failed = |why: String| CliError(format!("peer address {text:?} does not resolve: {why}"));
    tokio::net::lookup_host(text)
        .await
        .map_err(|e| failed(e.to_string()))?
        .next()
        .ok_or_else(|| failed("no address".into()))
}

/// Automine or a block interval; both at once is an error.
fn dev_blocks(mining: &MiningSettings) -> Result<Option<DevBlocks>, CliError> {
    if let Some(secs) = mining.block_time {
        if !(1..=MAX_BLOCK_TIME_SECS).contains(&secs) {
            return Err(CliError(format!(
                "mining.block_time = {secs}: must be 1 to {MAX_BLOCK_TIME_SECS} seconds"
            )));
        }
    }
    match (mining.automine, mining.block_time) {
        (true, Some(_)) => Err(CliError(
            "automine (--automine) and block_time (--block-time) cannot run together: \
             choose one way to make blocks"
                .into(),
        )),
        (true, None) => Ok(Some(DevBlocks::Automine)),
        (false, Some(secs)) => Ok(Some(DevBlocks::Every(Duration::from_secs(secs)))),
        (false, None) => Ok(None),
    }
}

/// The proof-of-work miner's settings, if `mining` enables it: paying `reward`, which
/// defaults to dev account 0 on dev chains only.
fn miner(
    spec: &ChainSpec,
    mining: &MiningSettings,
    dev_blocks: Option<DevBlocks>,
    reward: Address,
) -> Result<Option<MinerSettings>, CliError> {
    if !mining.enabled {
        return Ok(None);
    }
    if let Some(mode) = dev_blocks {
        let other = match mode {
            DevBlocks::Automine => "automine (--automine)",
            DevBlocks::Every(_) => "block_time (--block-time)",
        };
        return Err(CliError(format!(
            "mining.enabled (--mine) and {other} cannot run together: both make blocks; \
             choose one"
        )));
    }
    if mining.reward.is_none() && !spec.dev_mining {
        return Err(CliError(format!(
            "mining needs a reward address (mining.reward, --mine-to) on {}; only dev \
             chains have a default",
            spec.name
        )));
    }
    let threads = usize::from(mining.threads);
    if !(1..=MAX_MINER_THREADS).contains(&threads) {
        return Err(CliError(format!(
            "mining.threads = {threads}: must be 1 to {MAX_MINER_THREADS}"
        )));
    }
    Ok(Some(MinerSettings { threads, reward }))
}

fn parse_reward(spec: &ChainSpec, text: &str) -> Result<Address, CliError> {
    Address::from_bech32(text, &spec.address_prefix)
        .map_err(|e| CliError(format!("mining.reward (--mine-to) {text:?}: {e}")))
}
