//! The end-to-end scenarios, in one binary: real nodes on 127.0.0.1 (or real processes),
//! each module a scenario that was a test binary of its own, and each of those linked
//! RocksDB again.
//!
//! | module | what it shows |
//! |---|---|
//! | `compact` | compact blocks: rebuilt from the pool, the missing asked by position, false answers banned |
//! | `crash` | SIGKILL at random moments never corrupts the store; damaged files are clear errors |
//! | `failure` | a part that panics or a store that cannot be written fails the node visibly |
//! | `hostile` | each attack of a hostile peer ends in a disconnect, and a ban where it should |
//! | `load` | a node under load keeps doing its job and stops cleanly in the middle of it |
//! | `metrics` | the metrics and health listener of a real node |
//! | `network` | who is refused, discovery, restarts |
//! | `peer_faults` | what a black-box run broke in the network layer, kept as regressions |
//! | `relay` | transactions and blocks cross a line of five nodes |
//! | `snapshot` | a peer fetches a node's whole state in chunks that check; floods get "busy" |
//! | `split` | a network cut in two heals onto the branch with the most work |
//! | `sync` | a fresh node reaches a long chain from several peers at once |
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod compact;
mod crash;
mod failure;
mod hostile;
mod load;
mod metrics;
mod network;
mod peer_faults;
mod relay;
mod snapshot;
mod split;
mod sync;
