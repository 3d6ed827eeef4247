//! # tern-node
//!
//! The running Tern node. This crate will own the peer-to-peer layer (Noise-encrypted TCP
//! transport, framing, handshake, peer manager, relay), chain sync, the mining threads, the
//! service that wires them to the chain actor and the RPC server, and the `tern` binary.
//!
//! It is empty until the gossip network layer lands; the consensus rules it will enforce
//! already live in [`tern_core`].
