//! Fault injection for tests: make one part of the node panic at a chosen moment, to prove
//! that the node then fails visibly (see [`crate`]).
//!
//! Only debug builds honour it; in a release build [`FaultPlan::from_env`] is always
//! empty and [`FaultPoint::hit`] does nothing, so no input can trigger it in production.
//! A process takes its plan from `TERN_FAULT_PANIC=PART:N` (the `N`th time `PART`
//! passes its fault point, counting from 1), where `PART` is one of:
//!
//! - `chain`: the chain actor, before processing a submitted block;
//! - `network`: the network manager, on a housekeeping tick (twice a second);
//! - `peer`: a peer connection task, on a message read from the peer;
//! - `admission`: a mempool admission thread, before verifying a batch;
//! - `rpc`: the RPC server's accept loop, on each connection it accepts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The environment variable a process reads its fault plan from (debug builds only).
pub const FAULT_ENV: &str = "TERN_FAULT_PANIC";

/// A part of the node that can be made to panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The chain actor's thread.
    Chain,
    /// The connection manager task.
    Network,
    /// A peer connection task.
    Peer,
    /// A mempool admission thread.
    Admission,
    /// The RPC server's accept loop.
    Rpc,
}

impl std::str::FromStr for Part {
    type Err = String;

    fn from_str(text: &str) -> Result<Part, String> {
        match text {
            "chain" => Ok(Part::Chain),
            "network" => Ok(Part::Network),
            "peer" => Ok(Part::Peer),
            "admission" => Ok(Part::Admission),
            "rpc" => Ok(Part::Rpc),
            other => Err(format!(
                "unknown part {other:?}: chain, network, peer, admission or rpc"
            )),
        }
    }
}

/// Where, if anywhere, this node panics on purpose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// The part and the pass (counting from 1) on which it panics.
    pub panic_at: Option<(Part, u64)>,
}

impl FaultPlan {
    /// The plan in [`FAULT_ENV`]; empty in release builds, or if the variable is unset or
    /// malformed (a malformed one is logged).
    pub fn from_env() -> FaultPlan {
        if !cfg!(debug_assertions) {
            return FaultPlan::default();
        }
        let Ok(text) = std::env::var(FAULT_ENV) else {
            return FaultPlan::default();
        };
        let parsed = text.split_once(':').map_or_else(
            || Ok((text.parse::<Part>()?, 1)),
            |(part, count)| {
                let count = count.parse::<u64>().map_err(|e| e.to_string())?;
                Ok::<_, String>((part.parse::<Part>()?, count.max(1)))
            },
        );
        match parsed {
            Ok(at) => FaultPlan { panic_at: Some(at) },
            Err(error) => {
                tracing::warn!(%error, value = %text, "ignoring {FAULT_ENV}");
                FaultPlan::default()
            }
        }
    }

    /// The fault point of `part`: where its code calls [`FaultPoint::hit`].
    pub fn point(&self, part: Part) -> FaultPoint {
        let at = match self.panic_at {
            Some((planned, at)) if planned == part && cfg!(debug_assertions) => Some(at),
            _ => None,
        };
        FaultPoint {
            part,
            at,
            passes: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// One part's fault point; clones share the count of passes.
#[derive(Debug, Clone)]
pub struct FaultPoint {
    part: Part,
    at: Option<u64>,
    passes: Arc<AtomicU64>,
}

impl FaultPoint {
    /// Counts a pass, and panics if this is the planned one.
    pub fn hit(&self) {
        let Some(at) = self.at else { return };
        let pass = self
            .passes
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if pass == at {
            // The whole point: a real panic in the real task.
            #[allow(clippy::panic)]
            {
                panic!("injected fault: {:?} pass {pass}", self.part);
            }
        }
    }
}
