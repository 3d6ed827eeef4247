//! # tern-core
//!
//! Tern's consensus domain: everything that decides whether a transaction or block is
//! valid, with no sockets and no async runtime.
//!
//! - [`types`]: the quantities (hashes, addresses, amounts, heights, targets, work);
//! - [`encoding`]: the one canonical byte encoding, the only user of bincode;
//! - [`crypto`]: keys and the single/batch signature rule.
pub mod block;
pub mod crypto;
pub mod encoding;
pub mod error;
pub mod genesis;
pub mod pow;
pub mod state;
pub mod tx;
pub mod types;
pub mod validation;
