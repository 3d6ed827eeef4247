//! Connection slots: how many HTTP and WebSocket connections are open, from which
//! addresses, and which HTTP connection gives up its slot when a new client needs one.
//!
//! Every local client comes from 127.0.0.1, so a per-address share alone let one local
//! client holding idle keep-alive connections make every other local client wait for the
//! idle timeout. HTTP lets a server close a keep-alive connection whenever no request is
//! on it (RFC 9112, section 9.6; clients retry on a fresh one), so when a slot is wanted
//! the connection that has waited longest for a request gives up its own: within the
//! address when the address is at its share, node-wide when every HTTP slot is taken. A
//! connection with a request in progress (its body arriving, its method running) is never
//! evicted; its body deadline bounds it. WebSockets are never evicted: they are long-lived
//! by design (subscriptions), and have slots of their own.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::server::limits::ConnectionLimits;

/// Why a connection was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SlotRefusal {
    /// Every HTTP slot is taken, by connections with requests in progress.
    #[error("the node serves {0} HTTP connections already; try again later")]
    HttpFull(usize),
    /// Every WebSocket slot is taken.
    #[error("the node serves {0} WebSocket connections already; try again later")]
    WsFull(usize),
    /// This address holds its share, every connection with a request in progress.
    #[error("{0} holds {1} connections already, the most one address may")]
    PerIp(IpAddr, usize),
}

/// What one connection is doing, as far as eviction cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// HTTP, with no request in progress since `since` (opened, or its last answer done).
    Waiting { since: Instant },
    /// HTTP, with this many requests in progress (more than one only over HTTP/2).
    Serving(usize),
    /// A WebSocket now: never evicted.
    Upgraded,
    /// Gave up its slot; closing.
    Evicted,
}

/// The counts, under one lock: admissions are rare next to calls, and one lock keeps
/// the counts and the choice of whom to evict consistent with each other.
#[derive(Debug, Default)]
struct Counts {
    http: usize,
    ws: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// Every open connection, by id (admission order), for eviction.
    open: BTreeMap<u64, Weak<Slot>>,
    next_id: u64,
}

/// The node-wide count of what is open.
#[derive(Debug)]
pub(crate) struct Slots {
    limits: ConnectionLimits,
    counts: Mutex<Counts>,
}

impl Slots {
    pub(crate) fn new(limits: ConnectionLimits) -> Arc<Slots> {
        Arc::new(Slots {
            limits,
            counts: Mutex::new(Counts::default()),
        })
    }

    pub(crate) fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes an HTTP slot for a new connection from `ip`, held until the returned slot
    /// is dropped; when none is free, the longest-waiting HTTP connection without a
    /// request gives up its own (see the module doc).
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Arc<Slot>, SlotRefusal> {
        // The eviction scan's references are let go only after the lock is released:
        // one of them may be a connection's last, and that connection's drop takes the
        // lock.
        let mut looked_at = Vec::new();
        let admitted = self.admit_holding(ip, &mut looked_at);
        drop(looked_at);
        admitted
    }

    fn admit_holding(
        self: &Arc<Self>,
        ip: IpAddr,
        looked_at: &mut Vec<Arc<Slot>>,
    ) -> Result<Arc<Slot>, SlotRefusal> {
        let mut counts = self.counts();
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.limits.max_per_ip && !counts.evict(Some(ip), looked_at) {
            return Err(SlotRefusal::PerIp(ip, from_ip));
        }
        if counts.http >= self.limits.max_http && !counts.evict(None, looked_at) {
            return Err(SlotRefusal::HttpFull(counts.http));
        }
        counts.http += 1;
        *counts.per_ip.entry(ip).or_insert(0) += 1;
        let id = counts.next_id;
        counts.next_id = counts.next_id.wrapping_add(1);
        let slot = Arc::new(Slot {
            slots: Arc::clone(self),
            id,
            ip,
            use_: Mutex::new(Use::Waiting {
                since: Instant::now(),
            }),
            started: AtomicU64::new(0),
            evicted: Notify::new(),
        });
        counts.open.insert(id, Arc::downgrade(&slot));
        Ok(slot)
    }

    /// How many connections of each kind are open.
    #[cfg(test)]
    pub(crate) fn open(&self) -> (usize, usize) {
        let counts = self.counts();
        (counts.http, counts.ws)
    }
}

impl Counts {
    /// Evicts the HTTP connection (from `ip`, if given) that has waited longest for a
    /// request, giving its slot up at once; false if none is waiting. Of two that began
    /// waiting at the same instant, the one admitted first goes: the scan runs in
    /// admission order and only a strictly older wait replaces the choice. Every
    /// connection looked at is kept in `looked_at`, for the caller to let go of once the
    /// lock is released (see [`Slots::admit`]).
    fn evict(&mut self, ip: Option<IpAddr>, looked_at: &mut Vec<Arc<Slot>>) -> bool {
        let mut oldest: Option<(Instant, usize)> = None;
        for slot in self.open.values().filter_map(Weak::upgrade) {
            if ip.is_none_or(|ip| ip == slot.ip) {
                if let Use::Waiting { since } = *slot.use_() {
                    if oldest.is_none_or(|(oldest, _)| since < oldest) {
                        oldest = Some((since, looked_at.len()));
                    }
                }
            }
            looked_at.push(slot);
        }
        let Some(slot) = oldest.and_then(|(_, at)| looked_at.get(at)) else {
            return false;
        };
        *slot.use_() = Use::Evicted;
        let (id, ip) = (slot.id, slot.ip);
        slot.evicted.notify_one();
        self.release(ip, false);
        self.open.remove(&id);
        tracing::debug!(%ip, "evicted an idle RPC connection for a new one");
        true
    }

    fn release(&mut self, ip: IpAddr, upgraded: bool) {
        let counter = if upgraded {
            &mut self.ws
        } else {
            &mut self.http
        };
        *counter = counter.saturating_sub(1);
        if let Some(count) = self.per_ip.get_mut(&ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

/// One connection's claim on [`Slots`].
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
    id: u64,
    ip: IpAddr,
    use_: Mutex<Use>,
    /// Requests this connection has started: one more than when a head began to arrive
    /// says that head arrived whole.
    started: AtomicU64,
    /// Fires once, when this connection is evicted: its server closes it.
    evicted: Notify,
}

impl Slot {
    fn use_(&self) -> MutexGuard<'_, Use> {
        self.use_.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves this connection from an HTTP slot to a WebSocket slot, if one is free.
    pub(crate) fn upgrade(&self) -> Result<(), SlotRefusal> {
        let mut counts = self.slots.counts();
        if counts.ws >= self.slots.limits.max_ws {
            return Err(SlotRefusal::WsFull(counts.ws));
        }
        let mut use_ = self.use_();
        match *use_ {
            Use::Waiting { .. } | Use::Serving(_) => {
                counts.http = counts.http.saturating_sub(1);
                counts.ws += 1;
                *use_ = Use::Upgraded;
            }
            // A second upgrade on one connection cannot happen; an evicted one holds
            // no slot to move.
            Use::Upgraded | Use::Evicted => {}
        }
        Ok(())
    }

    /// A request started on this connection; false if the connection was evicted (and
    /// is closing), so the request is to be refused.
    pub(crate) fn request_started(&self) -> bool {
        self.started.fetch_add(1, Ordering::Relaxed);
        let mut use_ = self.use_();
        match *use_ {
            Use::Waiting { .. } => *use_ = Use::Serving(1),
            Use::Serving(n) => *use_ = Use::Serving(n.saturating_add(1)),
            Use::Upgraded => {}
            Use::Evicted => return false,
        }
        true
    }

    /// A request ended (its answer is being written).
    pub(crate) fn request_ended(&self) {
        let mut use_ = self.use_();
        match *use_ {
            Use::Serving(n) if n > 1 => *use_ = Use::Serving(n - 1),
            Use::Serving(_) => {
                *use_ = Use::Waiting {
                    since: Instant::now(),
                }
            }
            Use::Waiting { .. } | Use::Upgraded | Use::Evicted => {}
        }
    }

    /// Requests started on this connection so far.
    pub(crate) fn requests_started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Whether this connection waits for its next HTTP request: bytes that arrive now
    /// begin a request's head.
    pub(crate) fn between_requests(&self) -> bool {
        matches!(*self.use_(), Use::Waiting { .. })
    }

    /// Completes when this connection is evicted.
    pub(crate) async fn evicted(&self) {
        self.evicted.notified().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let use_ = *self.use_();
        let mut counts = self.slots.counts();
        counts.open.remove(&self.id);
        match use_ {
            // Its slot was given up when it was evicted.
            Use::Evicted => {}
            Use::Upgraded => counts.release(self.ip, true),
            Use::Waiting { .. } | Use::Serving(_) => counts.release(self.ip, false),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn limits(max_http: usize, max_ws: usize, max_per_ip: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_http,
            max_ws,
            max_per_ip,
            ..ConnectionLimits::default()
        }
    }

    fn busy(slot: Arc<Slot>) -> Arc<Slot> {
        assert!(slot.request_started());
        slot
    }

    #[tokio::test]
    async fn slots_are_counted_per_kind_and_per_address_and_freed_on_drop() {
        let slots = Slots::new(limits(2, 1, 2));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = busy(slots.admit(a).unwrap());
        let second = busy(slots.admit(a).unwrap());
        assert_eq!(slots.admit(a).unwrap_err(), SlotRefusal::PerIp(a, 2));
        assert_eq!(slots.admit(b).unwrap_err(), SlotRefusal::HttpFull(2));
        first.upgrade().unwrap();
        assert_eq!(slots.open(), (1, 1));
        let third = busy(slots.admit(b).unwrap());
        assert_eq!(third.upgrade().unwrap_err(), SlotRefusal::WsFull(1));
        drop((first, second, third));
        assert_eq!(slots.open(), (0, 0));
        assert!(slots.counts().per_ip.is_empty());
        assert!(slots.counts().open.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_client_evicts_the_longest_waiting_connection_of_its_address() {
        let slots = Slots::new(limits(10, 10, 3));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let other = slots.admit(b).unwrap();
        let oldest = slots.admit(a).unwrap();
        tokio::time::advance(std::time::Duration::from_secs(1)).await;
        let serving = busy(slots.admit(a).unwrap());
        let newer = slots.admit(a).unwrap();
        tokio::time::advance(std::time::Duration::from_secs(1)).await;

        let newest = slots.admit(a).unwrap();
        // The oldest waiting one of that address gave its slot up, and was told.
        tokio::time::timeout(std::time::Duration::from_secs(1), oldest.evicted())
            .await
            .unwrap();
        assert!(
            !oldest.request_started(),
            "an evicted connection took a request"
        );
        assert_eq!(slots.open(), (4, 0));
        // Then the next oldest waiting one; the serving one never.
        let _again = slots.admit(a).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), newer.evicted())
            .await
            .unwrap();
        let _third = slots.admit(a).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), newest.evicted())
            .await
            .unwrap();
        assert!(serving.request_started());
        serving.request_ended();
        serving.request_ended();
        // The other address was never touched.
        assert!(other.request_started());
        drop((oldest, newer, newest));
        assert_eq!(slots.open(), (4, 0));
    }

    #[tokio::test]
    async fn with_every_connection_serving_a_new_one_is_refused() {
        let slots = Slots::new(limits(2, 2, 2));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let _first = busy(slots.admit(a).unwrap());
        let ws = slots.admit(b).unwrap();
        ws.upgrade().unwrap();
        let _second = busy(slots.admit(b).unwrap());
        assert_eq!(slots.admit(a).unwrap_err(), SlotRefusal::HttpFull(2));
        // A WebSocket is not evicted for an HTTP client.
        assert_eq!(slots.open(), (2, 1));
    }

    #[tokio::test]
    async fn a_full_node_evicts_a_waiting_connection_of_any_address() {
        let slots = Slots::new(limits(2, 2, 2));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let _serving = busy(slots.admit(a).unwrap());
        let idle = slots.admit(a).unwrap();
        let _new = slots.admit(b).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(1), idle.evicted())
            .await
            .unwrap();
        assert_eq!(slots.open(), (2, 0));
    }

    /// The eviction scan takes a strong reference to every open connection under the
    /// counts' lock. When another thread dropped a connection's last other reference
    /// meanwhile, the scan's was the last, and the connection's drop, which takes that
    /// lock, ran under it: the thread deadlocked on itself. Four threads that open and
    /// close connections of one address at its share hit that window within moments.
    #[test]
    fn a_connection_closed_during_an_eviction_scan_does_not_deadlock() {
        let slots = Slots::new(limits(100, 100, 1));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        for _ in 0..4 {
            let slots = Arc::clone(&slots);
            let done = done.clone();
            std::thread::spawn(move || {
                for _ in 0..250_000 {
                    if let Ok(slot) = slots.admit(a) {
                        // Busy, so that the other thread's scan finds nothing to evict
                        // and only looks.
                        slot.request_started();
                        drop(slot);
                    }
                }
                let _ = done.send(());
            });
        }
        for _ in 0..4 {
            finished
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("a thread deadlocked in the eviction scan");
        }
        assert_eq!(slots.open(), (0, 0));
    }
}
