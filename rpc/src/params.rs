//! Parameters every namespace reads the same way.

use jsonrpsee::core::RpcResult;
use tern_chain::genesis::ChainSpec;
use tern_chain::types::Address;

use crate::error::invalid_param;

/// `text` as an address of `spec`'s chain, or invalid params naming `field`.
pub(crate) fn parse_address(spec: &ChainSpec, field: &str, text: &str) -> RpcResult<Address> {
    Address::from_bech32(text, &spec.address_prefix).map_err(|e| invalid_param(field, e))
}

/// The canonical text of `address`, which the caller wrote as `text`: `text` itself when
/// it is lowercase (an address that decodes has exactly one lowercase spelling), so a
/// read need not encode it again; else encoded afresh.
pub(crate) fn canonical_text(spec: &ChainSpec, text: String, address: &Address) -> String {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        spec.format_address(address)
    } else {
        text
    }
}
