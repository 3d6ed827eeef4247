//! Hostile peers on demand: `tern testnet attack N --kind K` connects a peer that speaks
//! the real protocol (Noise, hello) to node N and then misbehaves, and reports what the
//! node did about it. The peer is tern-p2p's hostile kit, the one the test suite uses.
//!
//! | kind | what the peer does | what a healthy node must do |
//! |---|---|---|
//! | `announce-flood` | announces 4,096 transactions it never delivers | ask, give up after the request timeout (10 s), and drop the peer (about 20 s in all); honest peers' transactions still flow |
//! | `stall` | starts a large message and never finishes it | keep serving everyone else, and drop the peer once a ping goes unanswered (within 50 s with the default 30 s ping interval and 20 s ping timeout) |
//! | `never-reads` | asks for headers again and again and never reads the answers | bound what it queues for the peer, and drop it once a ping goes unanswered (the pong never comes: its answers are never read) |
//! | `invalid-blocks` | announces a block on the node's tip with real proof of work and a transfer whose signature is not its sender's, and delivers it when asked | ask for it, find the broken rule, keep its tip, and ban the peer at once |
//! | `bad-state-root` | announces an empty block on the node's tip with real proof of work that keeps every rule but one: its header commits to a state root the block does not leave; delivers it when asked, and again on the new tip if the chain moved on first | ask for it, compute the state the block leaves, find the root does not match, keep its tip, and ban the peer at once |
//! | `low-work-headers` | claims more work than any chain has, then serves a valid header chain from genesis one block shorter than the node's | check the headers, fetch no block of a chain with less work than its own, hold at most 10,000 such headers, and drop the peer for claiming work it does not serve (not a ban: an honest peer's claim can go stale) |
//! | `bad-snapshot` | claims a chain as high as any, and answers every state chunk request of a node joining by snapshot with made-up accounts under the prefix asked for | check the chunk against the hash its subtree must have, ban the peer, ask an honest peer instead, and finish the snapshot from honest peers |
//!
//! The report says whether the node dropped the peer and, from the node's `net_bans`,
//! whether it banned it and why.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tern_chain::block::{Block, Header};
use tern_chain::genesis::ChainSpec;
use tern_chain::types::{Height, Work};
use tern_p2p::hostile::forged::{
    block_with_bad_signature, block_with_bad_state_root, header_chain_from_genesis,
};
use tern_p2p::hostile::{hello_for, unknown_transactions, HostilePeer};
use tern_p2p::message::Message;
use tern_p2p::NodeId;
use tern_rpc::jsonrpsee::http_client::HttpClient;
use tern_rpc::net::TernNetAdminApiClient;

/// How long an attack waits for the node to drop the peer: longer than the slowest
/// default response (a ping unanswered: 30 s between pings, 20 s to answer).
pub const ATTACK_PATIENCE: Duration = Duration::from_secs(90);

/// The longest header chain a `low-work-headers` peer serves: 20 answers' worth, made in
/// seconds (each header's proof of work takes about 256 hashes on a dev chain).
pub const MAX_FORGED_HEADERS: usize = 40_000;

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
    /// Deliver a block with real proof of work that breaks a later rule.
    InvalidBlocks,
    /// Deliver a block with real proof of work whose header commits to a state it does
    /// not leave: only the last rule, which needs the parent's state, is broken.
    BadStateRoot,
    /// Claim more work than it has, then serve a long header chain with less.
    LowWorkHeaders,
    /// Serve forged state chunks to a node joining by snapshot.
    BadSnapshot,
}

impl fmt::Display for AttackKind {
    /// Its name on the command line (`announce-flood`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        f.write_str(&name)
    }
}

impl AttackKind {
    /// Whether a healthy node bans the peer (it proved a lie), not only drops it.
    pub fn bans(self) -> bool {
        matches!(
            self,
            AttackKind::InvalidBlocks | AttackKind::BadStateRoot | AttackKind::BadSnapshot
        )
    }

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
            AttackKind::InvalidBlocks => {
                "ask for the block, find the broken rule, keep its tip, and ban the peer at once"
            }
            AttackKind::BadStateRoot => {
                "ask for the block, find its state root is not the state it leaves, keep its tip, and ban the peer at once"
            }
            AttackKind::LowWorkHeaders => {
                "check the headers, fetch none of their blocks, and drop the peer for claiming work it does not serve"
            }
            AttackKind::BadSnapshot => {
                "check the chunk against its subtree's hash, ban the peer, and finish the snapshot from honest peers"
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
    /// The reason the node gave for banning the peer, if it did.
    pub banned: Option<String>,
    /// What the peer did, in numbers (the block it delivered, the headers it served).
    pub detail: Option<String>,
    /// What a healthy node does.
    pub expected: String,
    /// Why the attack could not run, if it could not (the node refused the connection).
    pub problem: Option<String>,
}

/// Attacks the node at `addr` (node `node` of a chain `spec`, whose RPC `rpc` serves) and
/// waits for its answer.
pub async fn attack(
    node: usize,
    addr: SocketAddr,
    rpc: &HttpClient,
    spec: &ChainSpec,
    kind: AttackKind,
) -> AttackReport {
    let started = Instant::now();
    let mut report = AttackReport {
        node,
        kind,
        dropped: false,
        after_ms: 0,
        banned: None,
        detail: None,
        expected: kind.expected().to_owned(),
        problem: None,
    };
    let mut hello = hello_for(spec);
    let mut forged_headers = Vec::new();
    if kind == AttackKind::LowWorkHeaders {
        // One block short of the node's chain when the attack starts; the node's chain
        // only grows from there. The hello claims all the work there is, so the node
        // asks for headers.
        let height = match rpc_height(rpc).await {
            Ok(height) => height,
            Err(error) => {
                report.problem = Some(format!("node {node}'s RPC did not answer: {error}"));
                return report;
            }
        };
        let count = usize::try_from(height.saturating_sub(1))
            .unwrap_or(usize::MAX)
            .min(MAX_FORGED_HEADERS);
        let forge_spec = spec.clone();
        forged_headers = match tokio::task::spawn_blocking(move || {
            header_chain_from_genesis(&forge_spec, count)
        })
        .await
        {
            Ok(headers) => headers,
            Err(error) => {
                report.problem = Some(format!("forging headers for node {node} failed: {error}"));
                return report;
            }
        };
        hello.best_height = Height(u64::try_from(forged_headers.len()).unwrap_or(u64::MAX));
        hello.best_hash = forged_headers
            .last()
            .map_or(spec.genesis_hash(), |h| h.hash());
        hello.cumulative_work = Work::from_be_bytes([0xff; 32]);
    }
    if kind == AttackKind::BadSnapshot {
        // As high a chain as any, so the node asks it for chunks; no more work than
        // genesis, so it is not asked for headers.
        hello.best_height = Height(u64::from(u32::MAX));
    }
    let mut peer = match HostilePeer::connect(addr, &hello).await {
        Ok(peer) => peer,
        Err(error) => {
            report.problem = Some(format!("cannot connect to node {node}: {error}"));
            return report;
        }
    };
    let attacker = peer.key.id();
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
        AttackKind::InvalidBlocks | AttackKind::BadStateRoot => {
            match deliver_invalid_block(&mut peer, spec, kind).await {
                Ok(detail) => {
                    report.detail = Some(detail);
                    Ok(())
                }
                Err(DeliveryFailed::Closed(why)) => Err(why),
                Err(DeliveryFailed::CannotRun(problem)) => {
                    report.problem = Some(format!("node {node}: {problem}"));
                    return report;
                }
            }
        }
        AttackKind::BadSnapshot => {
            let (forged, closed) = peer.serve_forged_chunks(ATTACK_PATIENCE).await;
            if forged == 0 {
                report.problem = Some(format!(
                    "node {node} asked for no state chunk: it is not fetching a snapshot's \
                     state (add one with `tern testnet add --sync snapshot` and attack it \
                     while its status says so)"
                ));
                return report;
            }
            let finished = snapshot_finished(rpc, ATTACK_PATIENCE).await;
            report.detail = Some(format!(
                "forged {forged} state chunks; {}",
                if finished {
                    "the node finished its snapshot from honest peers"
                } else {
                    "the node had not finished its snapshot when the attack gave up waiting"
                }
            ));
            if closed {
                Err("closed while serving forged chunks".to_owned())
            } else {
                Ok(())
            }
        }
        AttackKind::LowWorkHeaders => {
            let served = peer
                .serve_headers(&forged_headers, spec.genesis_hash(), ATTACK_PATIENCE)
                .await;
            report.detail = Some(format!(
                "served {} of {} forged headers in {} answers; the node asked for {} blocks",
                served.headers,
                forged_headers.len(),
                served.answers,
                served.blocks_asked
            ));
            if served.closed {
                Err("closed while serving".to_owned())
            } else {
                Ok(())
            }
        }
    };
    report.dropped = match misbehaved {
        Ok(()) => {
            let left = ATTACK_PATIENCE.saturating_sub(started.elapsed());
            peer.is_closed_within(left).await
        }
        // The node closed the connection while the peer was still misbehaving.
        Err(_) => true,
    };
    report.after_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // The node says goodbye before its ban list shows the ban: a liar's ban is waited
    // for a moment.
    let deadline = Instant::now() + BAN_LISTED_WITHIN;
    loop {
        report.banned = ban_reason(rpc, &attacker).await;
        let waiting = kind.bans() && report.dropped && report.banned.is_none();
        if !waiting || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    report
}

/// Why an invalid block could not be delivered.
enum DeliveryFailed {
    /// The node closed the connection on the way.
    Closed(String),
    /// The attack could not be prepared: the node's chain could not be read.
    CannotRun(String),
}

/// Makes a block on the last of the chain that breaks one rule.
type Forgery = fn(&ChainSpec, &[Header]) -> Option<Block>;

/// How many times a `bad-state-root` block is forged again on the node's new tip. The
/// state root is judged only when the block is connected, and a block whose parent is no
/// longer the tip (the chain moved while it was forged and asked for) waits on a side
/// branch, never connected, so a real attacker tries again on the new tip.
const MAX_FORGE_ATTEMPTS: usize = 10;

/// How long after dropping a peer that proved a lie the node's ban list may take to show
/// its ban.
const BAN_LISTED_WITHIN: Duration = Duration::from_secs(5);

/// How long a forged block is given to be judged before the next is forged.
const JUDGED_WITHIN: Duration = Duration::from_secs(3);

/// Reads the node's chain over the peer connection, forges a block on its tip (`kind`
/// says how) and delivers it when asked; for `bad-state-root`, again on the new tip while
/// the node has not judged it. Returns what was delivered.
async fn deliver_invalid_block(
    peer: &mut HostilePeer,
    spec: &ChainSpec,
    kind: AttackKind,
) -> Result<String, DeliveryFailed> {
    let (forge, lie): (Forgery, _) = match kind {
        AttackKind::BadStateRoot => (block_with_bad_state_root, "a state root it does not leave"),
        _ => (block_with_bad_signature, "a forged signature"),
    };
    let attempts = if kind == AttackKind::BadStateRoot {
        MAX_FORGE_ATTEMPTS
    } else {
        1
    };
    let mut detail = String::new();
    for attempt in 1..=attempts {
        // Enough of the chain for the median time past: all of it, paged through (a
        // testnet's chain is short; the bound keeps a long one from taking the attack's
        // patience).
        let chain = peer
            .fetch_headers(spec.genesis_hash(), MAX_FORGED_HEADERS, ATTACK_PATIENCE)
            .await
            .map_err(|e| DeliveryFailed::Closed(e.to_string()))?;
        let mut chain_with_genesis = vec![spec.genesis_header()];
        chain_with_genesis.extend(chain);
        let forge_spec = spec.clone();
        let block = tokio::task::spawn_blocking(move || forge(&forge_spec, &chain_with_genesis))
            .await
            .ok()
            .flatten()
            .ok_or_else(|| {
                DeliveryFailed::CannotRun("no block could be forged on its tip".into())
            })?;
        let asked = peer
            .deliver_announced_block(&block, ATTACK_PATIENCE)
            .await
            .map_err(|e| DeliveryFailed::Closed(e.to_string()))?;
        let what = format!(
            "block {} at height {} with {lie}",
            block.hash(),
            block.header.height
        );
        let tries = if attempt > 1 {
            format!(
                " (forged {attempt} times: the chain moved on before the earlier ones were judged)"
            )
        } else {
            String::new()
        };
        detail = if asked {
            format!("delivered {what}{tries}")
        } else {
            format!("announced {what}; the node never asked for it")
        };
        if attempt == attempts || peer.is_closed_within(JUDGED_WITHIN).await {
            break;
        }
    }
    Ok(detail)
}

/// Whether the node's snapshot sync got past the state within `patience`, over its RPC.
async fn snapshot_finished(rpc: &HttpClient, patience: Duration) -> bool {
    use tern_rpc::net::TernNetApiClient;
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if let Ok(status) = rpc.chain_sync_status().await {
            if !matches!(status.phase.as_deref(), Some("headers" | "state")) {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The node's tip height, over its RPC.
async fn rpc_height(rpc: &HttpClient) -> Result<u64, tern_rpc::jsonrpsee::core::client::Error> {
    use tern_rpc::chain::TernApiClient;
    rpc.chain_info().await.map(|info| info.height)
}

/// The reason of the node's ban on `attacker`, if it banned it.
async fn ban_reason(rpc: &HttpClient, attacker: &NodeId) -> Option<String> {
    let target = attacker.to_string();
    rpc.net_bans()
        .await
        .ok()?
        .into_iter()
        .find(|ban| ban.target == target)
        .map(|ban| ban.reason)
}
