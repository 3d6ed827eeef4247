//! The manager's answers to [`NetworkHandle`](crate::NetworkHandle) requests: info,
//! peers, adding peers, bans.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::Manager;
use crate::bans::BanTarget;
use crate::close::{CloseReason, Refusal, RefusalReason};
use crate::handle::{Command, NetworkInfo, PeerInfo};
use crate::{ConnId, Direction};

impl Manager {
    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::Info(reply) => {
                let _ = reply.send(self.info());
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.peer_infos());
            }
            Command::AddPeer(addr, reply) => {
                self.seeds.insert(addr);
                self.book.add_heard(addr);
                let connected = self.connections.values().any(|c| {
                    c.addr == addr || c.peer.as_ref().and_then(|p| p.listen_addr) == Some(addr)
                });
                if !connected {
                    self.dial(addr);
                }
                let _ = reply.send(());
            }
            Command::Ban {
                target,
                duration,
                reply,
            } => {
                self.bans.ban(target, duration, "banned by the operator");
                let matching: Vec<ConnId> = self
                    .connections
                    .iter()
                    .filter(|(_, c)| match target {
                        BanTarget::Node(id) => c.peer.as_ref().is_some_and(|p| p.node_id == id),
                        BanTarget::Ip(ip) => c.addr.ip() == ip,
                    })
                    .map(|(id, _)| *id)
                    .collect();
                // The peer is told for how long, so it does not redial into the ban.
                let refusal = Refusal {
                    reason: RefusalReason::BannedByOperator,
                    retry_after: duration,
                };
                for conn in &matching {
                    if let Some(connection) = self.connections.get(conn) {
                        connection
                            .closer
                            .close_with(CloseReason::Refused(refusal.clone()));
                    }
                }
                let _ = reply.send(matching.len());
            }
            Command::Unban(target, reply) => {
                let _ = reply.send(self.bans.unban(&target));
            }
            Command::Bans(reply) => {
                let _ = reply.send(self.bans.list());
            }
        }
    }

    pub(super) fn info(&self) -> NetworkInfo {
        let ready = |d: Direction| self.count(|c| c.peer.is_some() && c.direction == d);
        NetworkInfo {
            node_id: self.node_id,
            listen_addr: self.listen_addr,
            inbound: ready(Direction::Inbound),
            outbound: ready(Direction::Outbound),
            known_addresses: self.book.len(),
            bans: self.bans.list().len(),
            refused: self.refused,
            relay: *self.relay_stats.borrow(),
            queued_answer_bytes: self.ctx.answers.queued(),
        }
    }

    pub(super) fn peer_infos(&self) -> Vec<PeerInfo> {
        let mut peers: Vec<PeerInfo> = self
            .connections
            .values()
            .filter_map(|c| {
                let peer = c.peer.as_ref()?;
                let rtt = peer.stats.rtt_micros.load(Ordering::Relaxed);
                let (best_height, best_hash) = peer.best.get();
                Some(PeerInfo {
                    node_id: peer.node_id,
                    addr: c.addr,
                    listen_addr: peer.listen_addr,
                    direction: c.direction,
                    best_height,
                    best_hash,
                    user_agent: peer.hello.user_agent.clone(),
                    connected_for: peer.connected_at.elapsed(),
                    rtt: (rtt > 0).then(|| Duration::from_micros(rtt)),
                    stats: Arc::clone(&peer.stats),
                })
            })
            .collect();
        peers.sort_by_key(|p| p.addr);
        peers
    }
}
