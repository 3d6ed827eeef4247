//! The `mining` namespace's methods, defined once: jsonrpsee generates the server trait
//! and the typed client from it. Each is documented in `docs/RPC.md`.

// The client the macro generates names its own result type.
#[cfg(feature = "server")]
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

use super::json::MinerStatusJson;

/// Methods that change what the node does: each call needs admin access (see
/// docs/RPC.md, "Admin methods").
#[cfg_attr(feature = "server", rpc(server, client))]
#[cfg_attr(not(feature = "server"), rpc(client))]
pub trait TernAdminApi {
    /// Mines `count` blocks now on a development chain, paying `reward` (default: the
    /// miner's reward address); returns their hashes.
    #[method(name = "dev_mine", with_extensions)]
    async fn dev_mine(&self, count: u64, reward: Option<String>) -> RpcResult<Vec<String>>;

    /// What the miner is doing.
    #[method(name = "miner_status", with_extensions)]
    fn miner_status(&self) -> RpcResult<MinerStatusJson>;

    /// Starts mining with `threads` (default 1) paying `reward`.
    #[method(name = "miner_start", with_extensions)]
    fn miner_start(&self, reward: String, threads: Option<usize>) -> RpcResult<MinerStatusJson>;

    /// Stops mining.
    #[method(name = "miner_stop", with_extensions)]
    fn miner_stop(&self) -> RpcResult<MinerStatusJson>;
}
