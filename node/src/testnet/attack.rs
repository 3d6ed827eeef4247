//! Hostile peers on demand: `tern testnet attack N --kind K` connects a peer that speaks
//! the real protocol (Noise, hello) to node N and then misbehaves, and reports what the
//! node did about it. The peer is tern-p2p's hostile kit, the one the test suite uses.
//!
//! | kind | what the peer does | what a healthy node must do |
//! |---|---|---|
//! | `announce-flood` | announces 4,096 transactions it never delivers | ask, give up after the request timeout (10 s), and drop the peer (about 20 s in all); honest peers' transactions still flow |
//! | `stall` | starts a large message and never finishes it | keep serving everyone else, and drop the peer once a ping goes unanswered (within 50 s with the default 30 s ping interval and 20 s ping timeout) |
//! | `never-reads` | asks for headers again and again and never reads the answers | bound what it queues for the peer, and drop it once a ping goes unanswered (the pong never comes: its answers are never read) |

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tern_chain::genesis::ChainSpec;
use tern_p2p::hostile::{hello_for, unknown_transactions, HostilePeer};
use tern_p2p::message::Message;

/// How long an attack waits for the node to drop the peer: longer than the slowest
/// default response (a ping unanswered: 30 s between pings, 20 s to answer).
pub const ATTACK_PATIENCE: Duration = Duration::from_secs(90);

/// The most attacks running at once: each holds a connection to a node and a task of
/// the testnet for up to [`ATTACK_PATIENCE`].
pub const MAX_ATTACKS: usize = 16;

/// The ways a hostile peer can misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum AttackKind {
    /// Announce transactions and never deliver them.
    AnnounceFlood,
    /// Start a large message and never finish it.
    Stall,
    /// Ask for data and never read the answers.
    NeverReads,
}

impl AttackKind {
    /// What a healthy node does about it, for the report.
    fn expected(self) -> &'static str {
        match self {
            AttackKind::AnnounceFlood => {
                "ask for what it announced, give up after the request timeout, and drop it"
            }
            AttackKind::Stall => {
                "keep serving others, and drop it once a ping goes unanswered (a minute at most)"
            }
            AttackKind::NeverReads => {
                "bound what it queues for it, and drop it once a ping goes unanswered (a minute at most)"
            }
        }
    }
}

/// What came of an attack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttackReport {
    /// The node attacked.
    pub node: usize,
    /// How.
    pub kind: AttackKind,
    /// Whether the node dropped the peer within [`ATTACK_PATIENCE`].
    pub dropped: bool,
    /// After how long, in milliseconds.
    pub after_ms: u64,
    /// What a healthy node does.
    pub expected: String,
    /// Why the attack could not run, if it could not (the node refused the connection).
    pub problem: Option<String>,
}

/// Attacks the node at `addr` (node `node` of a chain `spec`) and waits for its answer.
pub async fn attack(
    node: usize,
    addr: SocketAddr,
    spec: &ChainSpec,
    kind: AttackKind,
) -> AttackReport {
    let started = Instant::now();
    let mut report = AttackReport {
        node,
        kind,
        dropped: false,
        after_ms: 0,
        expected: kind.expected().to_owned(),
        problem: None,
    };
    let mut peer = match HostilePeer::connect(addr, &hello_for(spec)).await {
        Ok(peer) => peer,
        Err(error) => {
            report.problem = Some(format!("cannot connect to node {node}: {error}"));
            return report;
        }
    };
    // A seed of its own for each attack, so that repeated floods announce new ids.
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seed = u8::try_from(clock.subsec_nanos() % 256).unwrap_or(0);
    let misbehaved = match kind {
        AttackKind::AnnounceFlood => peer
            .announce_unknown(unknown_transactions(seed, 4_096))
            .await
            .map_err(|e| e.to_string()),
        AttackKind::Stall => peer
            .send_first_part(&Message::Inventory(unknown_transactions(seed, 3_000)))
            .await
            .map_err(|e| e.to_string()),
        AttackKind::NeverReads => {
            let ask = Message::GetHeaders {
                locator: vec![spec.genesis_hash()],
                stop: None,
            };
            peer.ask_without_reading(&ask, 200).await;
            Ok(())
        }
    };
    report.dropped = match misbehaved {
        Ok(()) => peer.is_closed_within(ATTACK_PATIENCE).await,
        // The node closed the connection while the peer was still misbehaving.
        Err(_) => true,
    };
    report.after_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    report
}
