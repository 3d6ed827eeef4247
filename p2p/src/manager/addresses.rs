//! The connection manager's address gossip: answering a peer's `GetAddrs` at most every
//! [`ADDR_ANSWER_INTERVAL`], and taking the addresses a peer was asked for into the book.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Instant;

use super::{Manager, ADDR_ANSWER_INTERVAL};
use crate::asked::Answer;
use crate::message::{Message, MessageKind, MAX_ADDRS_PER_MESSAGE};
use crate::peer::Misbehaviour;
use crate::ConnId;

/// A `GetAddrs` we sent: its answer, however late, is no offence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct AddrsAsk;

/// Address requests remembered per peer: one key, counted.
pub(super) const ASKED_ADDRS_PER_PEER: usize = 1;

impl Manager {
    pub(super) fn answer_addrs(&mut self, conn: ConnId) {
        let Some(peer) = self.peer(conn) else {
            return;
        };
        if peer
            .addrs_answered_at
            .is_some_and(|at| at.elapsed() < ADDR_ANSWER_INTERVAL)
        {
            return;
        }
        peer.addrs_answered_at = Some(Instant::now());
        let asker = peer.listen_addr;
        let mut addrs: Vec<SocketAddr> = self
            .connections
            .values()
            .filter_map(|c| c.peer.as_ref()?.listen_addr)
            .collect();
        addrs.extend(self.book.for_gossip(MAX_ADDRS_PER_MESSAGE));
        let mut seen = HashSet::new();
        addrs.retain(|a| Some(*a) != asker && seen.insert(*a));
        addrs.truncate(MAX_ADDRS_PER_MESSAGE);
        self.send(conn, &Message::Addrs(addrs));
    }

    pub(super) fn on_addrs(&mut self, conn: ConnId, addrs: Vec<SocketAddr>) {
        let Some(peer_ip) = self
            .connections
            .get(&conn)
            .filter(|c| c.peer.is_some())
            .map(|c| c.addr.ip())
        else {
            return;
        };
        if self.asked_addrs.answer(conn, &AddrsAsk) == Answer::Unasked {
            return self.report(conn, Misbehaviour::Unsolicited(MessageKind::Addrs));
        }
        for addr in addrs {
            let routable = addr.port() != 0 && !addr.ip().is_unspecified();
            // Loopback addresses only mean something coming from a loopback peer.
            let local_ok = !addr.ip().is_loopback() || peer_ip.is_loopback();
            if routable && local_ok && !self.own_addrs.contains(&addr) {
                self.book.add_heard(addr);
            }
        }
    }
}
