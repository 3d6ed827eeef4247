//! Parameters every namespace reads the same way.

use jsonrpsee::core::RpcResult;
use tern_chain::types::Address;

use crate::error::invalid_param;
use crate::server::backend::ChainBackend;

/// `text` as an address of the backend's chain, or invalid params naming `field`.
pub(crate) fn parse_address<B: ChainBackend>(
    backend: &B,
    field: &str,
    text: &str,
) -> RpcResult<Address> {
    Address::from_bech32(text, &backend.chain().spec().address_prefix)
        .map_err(|e| invalid_param(field, e))
}
