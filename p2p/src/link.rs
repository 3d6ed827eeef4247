//! How the network's tasks share a peer: the connection manager admits it and hands the
//! relay and sync tasks a [`PeerLink`] in a [`PeerEvent::Joined`]; through the link they
//! send to the peer and report it ([`PeerLink::report`]) without asking the manager, and
//! a [`PeerEvent::Left`] tells them when it is gone. Each task reads both through an
//! [`Inbox`](crate::inbox::Inbox), which hands out a peer's `Joined` before any of its
//! inputs.
//!
//! Nothing here waits. A link sends with the peer's bounded send queue's `try_send`, and a
//! peer that cannot take a message is closed as too slow. A report closes the connection
//! with the rule the peer broke as its reason; the manager bans it when the connection
//! task ends, from that reason, as it does for rules the connection task catches itself.
//! Peer events reach each task over a bounded channel whose room for a peer's `Left` is
//! reserved when the peer joins ([`Departure`]), so the manager never waits on the tasks
//! it informs and no task ever misses a departure.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tern_chain::types::{BlockHash, Height, Work};
use tokio::sync::mpsc::{self, OwnedPermit};
use tokio_util::sync::CancellationToken;

use super::close::{CloseReason, Misbehaviour};
use super::message::{InvItem, Message, MAX_GETDATA_PER_MESSAGE};
use super::peer_stats::PeerStats;
use super::send_queue::SendQueue;
use super::ConnId;

/// Closes one connection, with the reason it should end with. The connection task owns
/// the connection; everyone else closes it through this.
#[derive(Debug, Clone)]
pub(crate) struct Closer {
    token: CancellationToken,
    /// The first reason given wins; none means "closed by this node".
    reason: Arc<Mutex<Option<CloseReason>>>,
}

impl Closer {
    pub(crate) fn new(token: CancellationToken) -> Closer {
        Closer {
            token,
            reason: Arc::new(Mutex::new(None)),
        }
    }

    /// Ends the connection with `reason`, unless it is already ending.
    pub(crate) fn close_with(&self, reason: CloseReason) {
        {
            let mut slot = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.is_none() && !self.token.is_cancelled() {
                *slot = Some(reason);
            }
        }
        self.token.cancel();
    }

    /// Ends the connection as "closed by this node".
    pub(crate) fn close(&self) {
        self.token.cancel();
    }

    pub(crate) async fn closed(&self) {
        self.token.cancelled().await;
    }

    /// Why the connection was closed: the reason given, or [`CloseReason::Closed`].
    pub(crate) fn reason(&self) -> CloseReason {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or(CloseReason::Closed)
    }
}

/// A peer's best block as far as this node has seen: raised by the relay and sync tasks
/// as the peer shows blocks and headers, read for [`crate::PeerInfo`].
#[derive(Debug)]
pub(crate) struct BestBlock(Mutex<(Height, BlockHash)>);

impl BestBlock {
    pub(crate) fn new(height: Height, hash: BlockHash) -> BestBlock {
        BestBlock(Mutex::new((height, hash)))
    }

    /// Records a block the peer showed, if it is higher than the best one so far.
    pub(crate) fn raise(&self, height: Height, hash: BlockHash) {
        let mut best = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if height > best.0 {
            *best = (height, hash);
        }
    }

    pub(crate) fn get(&self) -> (Height, BlockHash) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the two hellos of a connection said that the tasks use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hellos {
    /// The work the peer's hello claimed.
    pub(crate) claimed_work: Work,
    /// The height the peer's hello claimed.
    pub(crate) claimed_height: Height,
    /// The lowest block body the peer's hello says it serves.
    pub(crate) lowest_body: Height,
    /// The work our own hello claimed to it.
    pub(crate) told_work: Work,
}

/// An admitted peer, as the relay and sync tasks use it.
#[derive(Debug, Clone)]
pub(crate) struct PeerLink {
    pub(crate) conn: ConnId,
    queue: SendQueue,
    closer: Closer,
    best: Arc<BestBlock>,
    /// The connection's counters, shared with the manager and RPC.
    stats: Arc<PeerStats>,
    /// The work its hello claimed.
    pub(crate) claimed_work: Work,
    /// The height its hello claimed.
    pub(crate) claimed_height: Height,
    /// The lowest block body its hello says it serves.
    pub(crate) lowest_body: Height,
    /// The work our own hello claimed to it.
    pub(crate) told_work: Work,
}

impl PeerLink {
    pub(crate) fn new(
        conn: ConnId,
        queue: SendQueue,
        closer: Closer,
        best: Arc<BestBlock>,
        stats: Arc<PeerStats>,
        hellos: Hellos,
    ) -> PeerLink {
        PeerLink {
            conn,
            queue,
            closer,
            best,
            stats,
            claimed_work: hellos.claimed_work,
            claimed_height: hellos.claimed_height,
            lowest_body: hellos.lowest_body,
            told_work: hellos.told_work,
        }
    }

    /// Queues `message`; a peer that cannot take it is closed as too slow.
    pub(crate) fn send(&self, message: &Message) -> bool {
        if self.queue.try_send(message).is_ok() {
            return true;
        }
        tracing::debug!(
            conn = self.conn.0,
            "send queue full: the peer is not reading"
        );
        self.closer.close_with(CloseReason::TooSlow);
        false
    }

    /// Asks for `items`, in as many `GetData` messages as the limit needs.
    pub(crate) fn send_get_data(&self, items: &[InvItem]) {
        for chunk in items.chunks(MAX_GETDATA_PER_MESSAGE) {
            if !self.send(&Message::GetData(chunk.to_vec())) {
                return;
            }
        }
    }

    /// The peer broke a rule: its connection ends, and the manager bans it.
    pub(crate) fn report(&self, offence: Misbehaviour) {
        tracing::debug!(conn = self.conn.0, %offence, "reporting a peer");
        self.closer.close_with(CloseReason::Misbehaviour(offence));
    }

    /// Closes the connection without a ban: the peer is useless, not provably dishonest.
    pub(crate) fn disconnect(&self, why: &'static str) {
        self.closer.close_with(CloseReason::Dropped(why));
    }

    /// Records that we asked it for these blocks as compact blocks.
    pub(crate) fn note_compact_asks(&self, hashes: impl IntoIterator<Item = BlockHash>) {
        self.stats.compact_asked.asked(hashes);
    }

    /// Records that we asked it to push new blocks to us (`on`), or to stop.
    pub(crate) fn mark_pushes_blocks(&self, on: bool) {
        self.stats
            .pushes_blocks
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn raise_best(&self, height: Height, hash: BlockHash) {
        self.best.raise(height, hash);
    }
}

/// The peers a task knows of, by connection.
#[derive(Debug, Default)]
pub(crate) struct PeerLinks(HashMap<ConnId, PeerLink>);

impl PeerLinks {
    /// Applies a peer event; returns the peer that joined or left.
    pub(crate) fn apply(&mut self, event: PeerEvent) -> ConnId {
        match event {
            PeerEvent::Joined(link) => {
                let conn = link.conn;
                self.0.insert(conn, link);
                conn
            }
            PeerEvent::Left(conn) => {
                self.0.remove(&conn);
                conn
            }
        }
    }

    pub(crate) fn get(&self, conn: ConnId) -> Option<&PeerLink> {
        self.0.get(&conn)
    }

    pub(crate) fn contains(&self, conn: ConnId) -> bool {
        self.0.contains_key(&conn)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &PeerLink> {
        self.0.values()
    }

    pub(crate) fn send(&self, conn: ConnId, message: &Message) -> bool {
        self.get(conn).is_some_and(|link| link.send(message))
    }

    pub(crate) fn send_get_data(&self, conn: ConnId, items: &[InvItem]) {
        if let Some(link) = self.get(conn) {
            link.send_get_data(items);
        }
    }

    /// Sends requests that may go to several peers, one `GetData` run per peer.
    pub(crate) fn send_requests(&self, requests: Vec<(ConnId, InvItem)>) {
        let mut by_peer: HashMap<ConnId, Vec<InvItem>> = HashMap::new();
        for (conn, item) in requests {
            by_peer.entry(conn).or_default().push(item);
        }
        for (conn, items) in by_peer {
            self.send_get_data(conn, &items);
        }
    }

    pub(crate) fn report(&self, conn: ConnId, offence: Misbehaviour) {
        if let Some(link) = self.get(conn) {
            link.report(offence);
        }
    }

    pub(crate) fn disconnect(&self, conn: ConnId, why: &'static str) {
        if let Some(link) = self.get(conn) {
            link.disconnect(why);
        }
    }
}

/// What the connection manager tells the relay and sync tasks about peers.
#[derive(Debug)]
pub(crate) enum PeerEvent {
    /// A peer was admitted. Sent before the peer's task learns it was, so it precedes
    /// every message of the peer's in the receiving task (which polls these first).
    Joined(PeerLink),
    /// The peer's connection task has ended.
    Left(ConnId),
}

/// The tasks that hear of peers joining and leaving.
#[derive(Debug, Default)]
pub(crate) struct PeerEventSenders(Vec<mpsc::Sender<PeerEvent>>);

/// Room kept for a peer's [`PeerEvent::Left`] in every task's channel, taken when it
/// joined; sending it cannot fail or wait.
#[derive(Debug)]
pub(crate) struct Departure {
    conn: ConnId,
    permits: Vec<OwnedPermit<PeerEvent>>,
}

impl Departure {
    /// Tells every task the peer is gone.
    pub(crate) fn send(self) {
        for permit in self.permits {
            permit.send(PeerEvent::Left(self.conn));
        }
    }
}

/// There is no room left to tell the tasks of another peer (they are that far behind).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("busy")]
pub(crate) struct NoRoom;

impl PeerEventSenders {
    /// A channel for one more task, with room for `capacity` events (two per peer, one
    /// for its arrival and one kept for its departure).
    pub(crate) fn subscribe(&mut self, capacity: usize) -> mpsc::Receiver<PeerEvent> {
        let (sender, receiver) = mpsc::channel(capacity.max(2));
        self.0.push(sender);
        receiver
    }

    /// Announces `link` to every task, keeping room for its departure. Nothing is sent
    /// unless every task has room for both.
    pub(crate) fn join(&self, link: &PeerLink) -> Result<Departure, NoRoom> {
        let mut arrivals = Vec::with_capacity(self.0.len());
        let mut permits = Vec::with_capacity(self.0.len());
        for sender in &self.0 {
            let arrival = sender.clone().try_reserve_owned().map_err(|_| NoRoom)?;
            let departure = sender.clone().try_reserve_owned().map_err(|_| NoRoom)?;
            arrivals.push(arrival);
            permits.push(departure);
        }
        for arrival in arrivals {
            arrival.send(PeerEvent::Joined(link.clone()));
        }
        Ok(Departure {
            conn: link.conn,
            permits,
        })
    }
}

/// A link to nobody, and the token its closing cancels: for the tests of the tasks that
/// hold links.
#[cfg(test)]
pub(crate) fn test_link(conn: u64) -> (PeerLink, CancellationToken) {
    let (queue, _outgoing) = SendQueue::new(crate::send_queue::AnswerBudget::new());
    let token = CancellationToken::new();
    let best = Arc::new(BestBlock::new(Height(0), BlockHash::from_bytes([0; 32])));
    let link = PeerLink::new(
        ConnId(conn),
        queue,
        Closer::new(token.clone()),
        best,
        Arc::default(),
        Hellos {
            claimed_work: Work::default(),
            claimed_height: Height(0),
            lowest_body: Height(0),
            told_work: Work::default(),
        },
    );
    (link, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(conn: u64) -> (PeerLink, CancellationToken) {
        test_link(conn)
    }

    #[test]
    fn a_departure_is_delivered_even_when_the_channel_filled_up_meanwhile() {
        let mut senders = PeerEventSenders::default();
        let mut events = senders.subscribe(4);
        let (first, _) = link(1);
        let departure = senders.join(&first).unwrap();
        let (second, _) = link(2);
        let _second_departure = senders.join(&second).unwrap();
        // Four events' room: two arrivals sent, two departures kept. No room for a third.
        let (third, _) = link(3);
        assert!(senders.join(&third).is_err());
        departure.send();
        let mut seen = Vec::new();
        while let Ok(event) = events.try_recv() {
            seen.push(match event {
                PeerEvent::Joined(link) => ("joined", link.conn.0),
                PeerEvent::Left(conn) => ("left", conn.0),
            });
        }
        assert_eq!(seen, [("joined", 1), ("joined", 2), ("left", 1)]);
    }

    #[test]
    fn a_refused_join_tells_no_task() {
        let mut senders = PeerEventSenders::default();
        let mut roomy = senders.subscribe(16);
        let mut full = senders.subscribe(2);
        let (first, _) = link(1);
        let _kept = senders.join(&first).unwrap();
        let (second, _) = link(2);
        assert!(senders.join(&second).is_err());
        assert!(matches!(roomy.try_recv(), Ok(PeerEvent::Joined(l)) if l.conn == ConnId(1)));
        assert!(roomy.try_recv().is_err(), "the refused peer was announced");
        assert!(matches!(full.try_recv(), Ok(PeerEvent::Joined(l)) if l.conn == ConnId(1)));
    }

    #[test]
    fn a_report_closes_the_connection_with_the_broken_rule_and_the_first_reason_wins() {
        let (link, token) = link(1);
        link.report(Misbehaviour::RepeatedHello);
        link.disconnect("later reasons lose");
        assert!(token.is_cancelled());
        let reason = link.closer.reason();
        assert!(
            matches!(reason.misbehaviour(), Some(Misbehaviour::RepeatedHello)),
            "{reason}"
        );
    }

    #[test]
    fn a_connection_closed_by_this_node_blames_nobody() {
        let (link, _) = link(1);
        link.closer.close();
        link.report(Misbehaviour::RepeatedHello);
        assert!(matches!(link.closer.reason(), CloseReason::Closed));
    }

    #[test]
    fn the_best_block_only_rises() {
        let best = BestBlock::new(Height(5), BlockHash::from_bytes([5; 32]));
        best.raise(Height(3), BlockHash::from_bytes([3; 32]));
        assert_eq!(best.get().0, Height(5));
        best.raise(Height(7), BlockHash::from_bytes([7; 32]));
        assert_eq!(best.get(), (Height(7), BlockHash::from_bytes([7; 32])));
    }
}
