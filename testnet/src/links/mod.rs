//! The link layer of the fault-injecting testnet: every connection between two testnet
//! nodes passes through it, and it delays, throttles or cuts bytes per direction, the way
//! toxiproxy or `tc netem` sit between services. The nodes themselves stay unmodified
//! `tern node` processes speaking the real protocol; the end-to-end tests put in-process
//! nodes behind it too, to cut a network as a real partition does.
//!
//! ## No connection bypasses it
//!
//! Each node `i` gets two loopback addresses of its own (all of 127.0.0.0/8 is loopback
//! on Linux), see [`NodeAddrs::loopback`]:
//!
//! - its *real* address, 127.0.1.(i+1), where the node listens and which its outbound
//!   connections leave from (`tern node --p2p-addr … --p2p-dial-from …`);
//! - its *advertised* address, 127.0.0.(i+1) on the same port, where the link layer
//!   listens for it.
//!
//! A connection to node B's advertised address from node A's real address is A→B: the
//! layer dials B's real address *from A's advertised address*. So B sees the connection
//! come from 127.0.0.(a+1), and with A's hello's listen port it learns A's advertised
//! address, never its real one; address gossip can only pass on advertised addresses.
//! Seeds are advertised addresses too. No node ever learns a real address, so every
//! connection between nodes crosses the layer. Connections from elsewhere (a hostile
//! peer, a node outside the testnet) are carried on a perfect link of their own.
//!
//! ## What a link does
//!
//! A link is two one-way links, each with a [`LinkProfile`] (latency ± jitter, loss,
//! bandwidth) and a cut flag. Bytes are held, never dropped: over TCP, loss is a
//! retransmission stall (see [`pump`]). A cut holds every byte until the link heals, and
//! a connection opened across a cut is held unanswered for [`HOLD_ACROSS_CUT`], as a
//! connection attempt into a partition goes unanswered.
//!
//! ## Bounds
//!
//! At most [`MAX_CONNECTIONS`] connections at once (more are closed as they arrive), and
//! 512 KiB held per connection and direction.
//!
//! It is a testing tool, not part of a node: its tasks are tracked by a `TaskTracker` of
//! its own and end with [`LinkLayer::shutdown`] (or its drop).

mod one_way;
pub mod partition;
pub mod profile;
mod pump;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use one_way::OneWay;
pub use partition::{Partition, PartitionError};
pub use profile::{Bandwidth, Delay, LinkProfile, Loss, ProfileChange, ProfileError};
use tern_p2p::transport;

/// The most connections the layer carries at once.
pub const MAX_CONNECTIONS: usize = 4_096;

/// How long a connection opened across a cut waits for the link to heal before it is
/// closed: longer than a node's handshake timeout, so the dialler gives up first, as it
/// would on a real partition.
pub const HOLD_ACROSS_CUT: Duration = Duration::from_secs(30);

/// The most nodes [`NodeAddrs::loopback`] gives addresses to.
pub const MAX_LOOPBACK_NODES: usize = 254;

/// A node's two addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeAddrs {
    /// Where the node listens and dials from.
    pub real: SocketAddr,
    /// Where the link layer listens for it: the only address other nodes learn.
    pub advertised: SocketAddr,
}

impl NodeAddrs {
    /// Node `index`'s addresses on loopback: real 127.0.1.(index+1), advertised
    /// 127.0.0.(index+1), both on `port`. Node 0's advertised address is 127.0.0.1.
    /// `None` past [`MAX_LOOPBACK_NODES`].
    pub fn loopback(index: usize, port: u16) -> Option<NodeAddrs> {
        let host = u8::try_from(index.checked_add(1)?)
            .ok()
            .filter(|_| index < MAX_LOOPBACK_NODES)?;
        Some(NodeAddrs {
            real: SocketAddr::from((Ipv4Addr::new(127, 0, 1, host), port)),
            advertised: SocketAddr::from((Ipv4Addr::new(127, 0, 0, host), port)),
        })
    }
}

/// One direction of a link as [`LinkLayer::report`] shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkReport {
    /// The sending node.
    pub from: usize,
    /// The receiving node.
    pub to: usize,
    /// How it treats bytes.
    pub profile: LinkProfile,
    /// Whether it is cut.
    pub cut: bool,
    /// Bytes it delivered since the testnet started.
    pub bytes: u64,
    /// Connections open over it now.
    pub connections: usize,
}

/// The testnet's link layer: a cheap handle to it.
#[derive(Debug, Clone)]
pub struct LinkLayer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// What a link does until told otherwise.
    default: LinkProfile,
    /// Jitter and loss draws start here, so a seeded testnet repeats them.
    seed: u64,
    state: Mutex<State>,
    connections: Arc<Semaphore>,
    cancel: CancellationToken,
    tasks: TaskTracker,
    /// Carries connections from outside the testnet.
    outside: Arc<OneWay>,
}

#[derive(Debug, Default)]
struct State {
    /// Each attached node's addresses, and what stops its listener.
    nodes: BTreeMap<usize, (NodeAddrs, CancellationToken)>,
    /// One-way links by (from, to), made when first used or set.
    links: HashMap<(usize, usize), Arc<OneWay>>,
}

impl LinkLayer {
    /// A layer whose links behave as `default` until set otherwise, with jitter and loss
    /// drawn from `seed`.
    pub fn new(default: LinkProfile, seed: u64) -> LinkLayer {
        LinkLayer {
            inner: Arc::new(Inner {
                default,
                seed,
                state: Mutex::new(State::default()),
                connections: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
                cancel: CancellationToken::new(),
                tasks: TaskTracker::new(),
                outside: Arc::new(OneWay::new(LinkProfile::default(), seed)),
            }),
        }
    }

    /// What links do until set otherwise.
    pub fn default_profile(&self) -> LinkProfile {
        self.inner.default
    }

    /// Listens on node `node`'s advertised address and carries what arrives there to its
    /// real address. The node itself may start, stop and restart behind it.
    pub async fn attach(&self, node: usize, addrs: NodeAddrs) -> std::io::Result<()> {
        let listener = TcpListener::bind(addrs.advertised).await?;
        let stop = self.inner.cancel.child_token();
        let layer = self.clone();
        let accepting = stop.clone();
        self.inner.tasks.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = accepting.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                // A failed accept (a connection reset before it was taken, no file
                // descriptors left) concerns that connection only.
                if let Ok((stream, source)) = accepted {
                    layer.carry(stream, source, node, addrs.real, &accepting);
                }
            }
        });
        let replaced = self.state().nodes.insert(node, (addrs, stop));
        if let Some((_, old)) = replaced {
            old.cancel();
        }
        Ok(())
    }

    /// Stops listening for node `node` and closes the connections to and from it.
    pub fn detach(&self, node: usize) {
        if let Some((_, stop)) = self.state().nodes.remove(&node) {
            stop.cancel();
        }
    }

    /// How `from → to` treats bytes now.
    pub fn profile(&self, from: usize, to: usize) -> LinkProfile {
        self.link(from, to).setting().profile
    }

    /// Sets how `from → to` treats bytes; its cut stays as it is.
    pub fn set_profile(&self, from: usize, to: usize, profile: LinkProfile) {
        self.link(from, to).change(|s| s.profile = profile);
    }

    /// Cuts `from → to`, or heals it.
    pub fn set_cut(&self, from: usize, to: usize, cut: bool) {
        self.link(from, to).change(|s| s.cut = cut);
    }

    /// Cuts every link between nodes on different sides, both ways.
    pub fn partition(&self, partition: &Partition) {
        for (from, to) in partition.crossings() {
            self.set_cut(from, to, true);
        }
    }

    /// Heals every cut; profiles stay.
    pub fn heal(&self) {
        let links: Vec<Arc<OneWay>> = self.state().links.values().cloned().collect();
        for link in links {
            link.change(|s| s.cut = false);
        }
    }

    /// Every one-way link used or set so far, by sender then receiver.
    pub fn report(&self) -> Vec<LinkReport> {
        let mut report: Vec<LinkReport> = self
            .state()
            .links
            .iter()
            .map(|(&(from, to), link)| {
                let setting = link.setting();
                LinkReport {
                    from,
                    to,
                    profile: setting.profile,
                    cut: setting.cut,
                    bytes: link.bytes(),
                    connections: link.connections(),
                }
            })
            .collect();
        report.sort_by_key(|r| (r.from, r.to));
        report
    }

    /// Connections open now that came from outside the testnet (a hostile peer, a node
    /// the layer does not know), on their perfect link that no partition cuts.
    pub fn outside_connections(&self) -> usize {
        // Both directions of an outsider's connection are the one link: each connection
        // counts on it twice.
        self.inner.outside.connections() / 2
    }

    /// Closes every listener and connection and waits for their tasks to end.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        match self.inner.state.lock() {
            Ok(state) => state,
            // Plain maps, never left half-changed by a panic: still usable.
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The one-way link `from → to`, made with the default profile when new.
    fn link(&self, from: usize, to: usize) -> Arc<OneWay> {
        let seed = self.inner.seed ^ ((from as u64) << 32 | to as u64);
        let default = self.inner.default;
        Arc::clone(
            self.state()
                .links
                .entry((from, to))
                .or_insert_with(|| Arc::new(OneWay::new(default, seed))),
        )
    }

    /// The node whose real address `ip` is, and its advertised address.
    fn node_at(&self, ip: IpAddr) -> Option<(usize, NodeAddrs)> {
        self.state()
            .nodes
            .iter()
            .find(|(_, (addrs, _))| addrs.real.ip() == ip)
            .map(|(&node, (addrs, _))| (node, *addrs))
    }

    /// Carries one accepted connection to node `to` at `real`, in its own task.
    fn carry(
        &self,
        accepted: TcpStream,
        source: SocketAddr,
        to: usize,
        real: SocketAddr,
        receiver_gone: &CancellationToken,
    ) {
        let Ok(permit) = Arc::clone(&self.inner.connections).try_acquire_owned() else {
            return;
        };
        let sender = self.node_at(source.ip());
        let (forth, back, dial_from, sender_gone) = match sender {
            Some((from, addrs)) => {
                let sender_gone = self
                    .state()
                    .nodes
                    .get(&from)
                    .map_or_else(CancellationToken::new, |(_, stop)| stop.clone());
                (
                    self.link(from, to),
                    self.link(to, from),
                    Some(addrs.advertised.ip()),
                    sender_gone,
                )
            }
            None => (
                Arc::clone(&self.inner.outside),
                Arc::clone(&self.inner.outside),
                None,
                CancellationToken::new(),
            ),
        };
        let receiver_gone = receiver_gone.clone();
        self.inner.tasks.spawn(async move {
            let _permit = permit;
            let connection = connect(accepted, real, dial_from, forth, back);
            tokio::select! {
                () = connection => {}
                () = receiver_gone.cancelled() => {}
                () = sender_gone.cancelled() => {}
            }
        });
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Dials the receiver once `forth` is open (holding the connection up to
/// [`HOLD_ACROSS_CUT`] while it is cut), then carries bytes both ways until either side
/// ends.
async fn connect(
    accepted: TcpStream,
    real: SocketAddr,
    dial_from: Option<IpAddr>,
    forth: Arc<OneWay>,
    back: Arc<OneWay>,
) {
    let mut setting = forth.watch();
    let healed = tokio::time::timeout(HOLD_ACROSS_CUT, setting.wait_for(|s| !s.cut))
        .await
        .is_ok_and(|open| open.is_ok());
    if !healed {
        return;
    }
    // A receiver that is down (killed, restarting) refuses; the dialler sees its
    // connection close, as it would see a refusal.
    let Ok(upstream) = transport::dial(real, dial_from).await else {
        return;
    };
    let _counted = (forth.open(), back.open());
    let (from_sender, to_sender) = accepted.into_split();
    let (from_receiver, to_receiver) = upstream.into_split();
    // Either direction ending ends the connection: each side then sees it close.
    tokio::select! {
        _ = pump::pump(from_sender, to_receiver, forth) => {}
        _ = pump::pump(from_receiver, to_sender, back) => {}
    }
}

#[cfg(test)]
mod tests;
