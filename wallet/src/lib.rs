//! # tern-wallet
//!
//! Key custody and the `tern wallet` commands: secret keys in a password-encrypted file,
//! and everything else (balances, nonces, fees, submission, history) asked of nodes over
//! JSON-RPC with the typed client, and checked: the wallet verifies the header chain
//! itself, follows the most work among the nodes it is given, and shows a balance, nonce
//! or confirmation only once its proof leads to a header of that chain.
//!
//! ## Map
//!
//! | module | owns |
//! |---|---|
//! | [`keystore`] | the key file: Argon2id over the password, ChaCha20-Poly1305 over the secrets, public keys in the clear, atomic owner-only writes, bounds on everything read from it |
//! | [`commands`] | the commands (`new`, `import`, `list`, `address`, `balance`, `send`, `status`, `history`, `dev-accounts`) and their flags |
//! | [`session`] | the nodes of a command and the chain verified among them; answers only with what checks |
//! | [`nodes`] | following a node's chain (where it leaves ours, its headers) and asking it for proofs |
//! | [`headers`] | the verified header chain: every rule a header alone can show, and the most work |
//! | [`header_file`] | that chain on disk next to the wallet file, read back as strictly as a node's answer |
//! | [`answers`] | the checks on a node's account and transaction proofs, one [`answers::Mismatch`] per lie |
//! | [`status`] | a transaction's lifecycle in words, for `status` and `send --wait` |
//! | [`error`] | [`WalletError`]: why a command failed, one variant per cause |
//!
//! ## What it may not touch
//!
//! It depends on `tern-chain` (keys, addresses, transactions, signing) and on `tern-rpc`'s
//! client feature only, so the code that holds keys never links a node: no RocksDB, no
//! peer-to-peer code, no RPC server (`scripts/check-layering` holds it to that). Secret
//! keys leave the key file only as signatures.

pub mod answers;
pub mod commands;
pub mod error;
pub mod header_file;
pub mod headers;
pub mod keystore;
pub mod nodes;
pub mod session;
pub mod status;

pub use commands::{run, WalletArgs, WalletCommand};
pub use error::WalletError;
