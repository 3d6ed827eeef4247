//! # tern-wallet
//!
//! Key custody and the `tern wallet` commands: secret keys in a password-encrypted file,
//! and everything else (balances, nonces, fees, submission, history) asked of a node over
//! JSON-RPC with the typed client.
//!
//! ## Map
//!
//! | module | owns |
//! |---|---|
//! | [`keystore`] | the key file: Argon2id over the password, ChaCha20-Poly1305 over the secrets, public keys in the clear, atomic owner-only writes, bounds on everything read from it |
//! | [`commands`] | the commands (`new`, `import`, `list`, `address`, `balance`, `send`, `status`, `history`, `dev-accounts`) and their flags |
//! | [`status`] | a transaction's lifecycle in words, for `status` and `send --wait` |
//! | [`error`] | [`WalletError`]: why a command failed, one variant per cause |
//!
//! ## What it may not touch
//!
//! It depends on `tern-chain` (keys, addresses, transactions, signing) and on `tern-rpc`'s
//! client feature only, so the code that holds keys never links a node: no RocksDB, no
//! peer-to-peer code, no RPC server (`scripts/check-layering` holds it to that). Secret
//! keys leave the key file only as signatures.

pub mod commands;
pub mod error;
pub mod keystore;
pub mod status;

pub use commands::{run, WalletArgs, WalletCommand};
pub use error::WalletError;
