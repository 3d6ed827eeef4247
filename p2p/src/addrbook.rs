//! The address book: where other nodes can be reached, persisted across restarts.
//!
//! Addresses that a connection has worked with ("tried") are kept apart from those only
//! heard of through gossip ("new"), and tried ones are dialled first. Within each kind
//! the order is drawn afresh at every call: nodes that learn the same addresses must not
//! all dial the same few, or the network grows hubs (one node of a 50-node testnet had
//! 49 peers while dialling lowest address first), and a node's peers become predictable
//! to whoever wants to surround it. Each failed dial
//! doubles the wait before the next one; a new address that keeps failing is forgotten.
//! The book is bounded: gossip cannot grow it past [`MAX_ADDRESSES`].

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use tern_state::persist::{self, unix_millis, FileWriter};
use tern_tasks::TaskExecutor;

/// The file in the data dir that holds the address book.
pub const PEERS_FILE: &str = "peers.json";

/// Addresses kept at most.
pub const MAX_ADDRESSES: usize = 4_096;

/// The wait after the first failure; it doubles with each further one.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The longest wait between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);

/// Failures after which an address never seen working is forgotten.
pub const MAX_NEW_FAILURES: u32 = 5;

/// What the book knows of one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddrEntry {
    /// The address.
    pub addr: SocketAddr,
    /// Whether a connection to it has ever completed a handshake.
    pub tried: bool,
    /// Dial failures since the last success.
    pub failures: u32,
    /// Not to be dialled before this time (ms since the Unix epoch).
    pub retry_after_ms: u64,
    /// Connections it refused in a row (it said goodbye as we were admitted): not reset by
    /// a handshake that completes, since a refusing peer completes one every time.
    #[serde(default)]
    pub refusals: u32,
}

/// The address book.
#[derive(Debug)]
pub struct AddressBook {
    entries: HashMap<SocketAddr, AddrEntry>,
    writer: Option<FileWriter>,
}

impl AddressBook {
    /// The book saved in `dir`, or an empty one; [`Self::save`] writes it there on the
    /// task `address book writer`. `None` keeps it in memory only.
    pub fn load(dir: Option<&Path>, tasks: &TaskExecutor) -> AddressBook {
        let path: Option<PathBuf> = dir.map(|d| d.join(PEERS_FILE));
        let saved: Vec<AddrEntry> = path.as_deref().map(persist::load).unwrap_or_default();
        let entries = saved
            .into_iter()
            .take(MAX_ADDRESSES)
            .map(|e| (e.addr, e))
            .collect();
        let writer = path.map(|path| FileWriter::spawn(path, "address book writer", tasks));
        AddressBook { entries, writer }
    }

    /// How many addresses the book holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `addr` has worked before.
    pub fn is_tried(&self, addr: &SocketAddr) -> bool {
        self.entries.get(addr).is_some_and(|e| e.tried)
    }

    /// Records an address heard of. When the book is full, the new address that has
    /// failed most makes room; tried addresses are never pushed out by gossip.
    pub fn add_heard(&mut self, addr: SocketAddr) {
        if self.entries.contains_key(&addr) {
            return;
        }
        if self.entries.len() >= MAX_ADDRESSES {
            let victim = self
                .entries
                .values()
                .filter(|e| !e.tried)
                .max_by_key(|e| e.failures)
                .map(|e| e.addr);
            match victim {
                Some(victim) => {
                    self.entries.remove(&victim);
                }
                None => return,
            }
        }
        self.entries.insert(
            addr,
            AddrEntry {
                addr,
                tried: false,
                failures: 0,
                retry_after_ms: 0,
                refusals: 0,
            },
        );
    }

    /// Records that a connection to `addr` worked.
    pub fn mark_success(&mut self, addr: SocketAddr) {
        self.add_heard(addr);
        if let Some(entry) = self.entries.get_mut(&addr) {
            entry.tried = true;
            entry.failures = 0;
            entry.retry_after_ms = 0;
        }
    }

    /// Records that the node at `addr` refused us right after the handshake, asking us to
    /// stay away for `asked` (a ban's remaining time; zero if it said nothing). The wait
    /// is the longer of that and a backoff that doubles with each refusal in a row, so a
    /// peer that bans us is not redialled twice a second for the length of the ban.
    pub fn mark_refused(&mut self, addr: SocketAddr, asked: Duration) {
        let Some(entry) = self.entries.get_mut(&addr) else {
            return;
        };
        entry.refusals = entry.refusals.saturating_add(1);
        let wait = backoff(entry.refusals).max(asked);
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        entry.retry_after_ms = unix_millis().saturating_add(wait_ms);
    }

    /// Records that a connection to `addr` was kept and ended for some other reason than
    /// a refusal: the node accepts us.
    pub fn mark_kept(&mut self, addr: SocketAddr) {
        if let Some(entry) = self.entries.get_mut(&addr) {
            entry.refusals = 0;
        }
    }

    /// Records a failed dial: back off, and forget a new address that keeps failing.
    pub fn mark_failure(&mut self, addr: SocketAddr) {
        let Some(entry) = self.entries.get_mut(&addr) else {
            return;
        };
        entry.failures = entry.failures.saturating_add(1);
        if !entry.tried && entry.failures >= MAX_NEW_FAILURES {
            self.entries.remove(&addr);
            return;
        }
        let wait_ms = u64::try_from(backoff(entry.failures).as_millis()).unwrap_or(u64::MAX);
        entry.retry_after_ms = unix_millis().saturating_add(wait_ms);
    }

    /// Forgets `addr` (it turned out to be ourselves).
    pub fn remove(&mut self, addr: &SocketAddr) {
        self.entries.remove(addr);
    }

    /// Up to `count` addresses to dial now, tried ones first, skipping `exclude`.
    pub fn candidates(&self, count: usize, exclude: &HashSet<SocketAddr>) -> Vec<SocketAddr> {
        let now = unix_millis();
        let mut ready: Vec<&AddrEntry> = self
            .entries
            .values()
            .filter(|e| e.retry_after_ms <= now && !exclude.contains(&e.addr))
            .collect();
        let order = RandomState::new();
        ready.sort_by_key(|e| (!e.tried, e.failures, order.hash_one(e.addr)));
        ready.into_iter().take(count).map(|e| e.addr).collect()
    }

    /// Up to `count` addresses to tell a peer about: tried ones first, then new ones that
    /// have not failed, each kind in an order drawn afresh.
    pub fn for_gossip(&self, count: usize) -> Vec<SocketAddr> {
        let mut good: Vec<&AddrEntry> = self
            .entries
            .values()
            .filter(|e| e.tried || e.failures == 0)
            .collect();
        let order = RandomState::new();
        good.sort_by_key(|e| (!e.tried, order.hash_one(e.addr)));
        good.into_iter().take(count).map(|e| e.addr).collect()
    }

    /// Queues the book to be written to its file, if it has one.
    pub fn save(&self) {
        if let Some(writer) = &self.writer {
            let mut entries: Vec<&AddrEntry> = self.entries.values().collect();
            entries.sort_by_key(|e| (!e.tried, e.addr));
            writer.save(&entries);
        }
    }
}

/// The wait after the `times`-th failure in a row: [`FIRST_BACKOFF`], doubled with each
/// further one, at most [`MAX_BACKOFF`].
fn backoff(times: u32) -> Duration {
    let doublings = times.saturating_sub(1).min(20);
    FIRST_BACKOFF
        .saturating_mul(1u32 << doublings)
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_tasks::TaskManager;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[tokio::test]
    async fn tried_addresses_come_first_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let tasks = TaskManager::new();
        let mut book = AddressBook::load(Some(dir.path()), tasks.executor());
        book.add_heard(addr(1));
        book.mark_success(addr(2));
        book.save();
        drop(book);
        tasks.wait().await;
        let book = AddressBook::load(Some(dir.path()), tasks.executor());
        assert_eq!(book.candidates(10, &HashSet::new()), vec![addr(2), addr(1)]);
        assert!(book.is_tried(&addr(2)));
    }

    fn retry_after(book: &AddressBook, at: SocketAddr) -> Duration {
        let entry = &book.entries[&at];
        Duration::from_millis(entry.retry_after_ms.saturating_sub(unix_millis()))
    }

    #[test]
    fn a_refusal_backs_off_across_handshakes_and_as_long_as_the_peer_asks() {
        // Found by the testnet: a node banned by its peer redialled it twice a second,
        // since each refused connection had completed a handshake, which reset the wait.
        let mut book = AddressBook::load(None, TaskManager::new().executor());
        for round in 1..=4u32 {
            book.mark_success(addr(1));
            book.mark_refused(addr(1), Duration::ZERO);
            let wait = retry_after(&book, addr(1));
            let expected = FIRST_BACKOFF * (1 << (round - 1));
            assert!(
                wait + Duration::from_millis(100) >= expected,
                "refusal {round}: {wait:?}"
            );
        }
        assert!(book.candidates(10, &HashSet::new()).is_empty());
        // A ban's length, when the peer says it.
        let day = Duration::from_secs(86_400);
        book.mark_refused(addr(1), day);
        assert!(retry_after(&book, addr(1)) + Duration::from_secs(1) >= day);
        // A connection that was kept ends the run of refusals.
        book.mark_kept(addr(1));
        book.mark_success(addr(1));
        book.mark_refused(addr(1), Duration::ZERO);
        assert!(retry_after(&book, addr(1)) <= FIRST_BACKOFF);
    }

    #[test]
    fn a_failure_backs_off_and_a_failing_new_address_is_forgotten() {
        let mut book = AddressBook::load(None, TaskManager::new().executor());
        book.add_heard(addr(1));
        book.mark_failure(addr(1));
        assert!(
            book.candidates(10, &HashSet::new()).is_empty(),
            "backing off"
        );
        for _ in 1..MAX_NEW_FAILURES {
            book.mark_failure(addr(1));
        }
        assert!(book.is_empty());
        book.mark_success(addr(2));
        for _ in 0..(MAX_NEW_FAILURES * 2) {
            book.mark_failure(addr(2));
        }
        assert_eq!(book.len(), 1, "a tried address is kept, only backed off");
    }

    #[test]
    fn gossip_cannot_grow_the_book_past_its_bound_or_push_out_tried_addresses() {
        let mut book = AddressBook::load(None, TaskManager::new().executor());
        book.mark_success(addr(0));
        for port in 1..=(MAX_ADDRESSES as u16 + 100) {
            book.add_heard(addr(port));
        }
        assert_eq!(book.len(), MAX_ADDRESSES);
        assert!(book.is_tried(&addr(0)));
    }

    #[test]
    fn nodes_that_know_the_same_addresses_do_not_all_dial_the_same_ones() {
        let mut book = AddressBook::load(None, TaskManager::new().executor());
        book.mark_success(addr(0));
        for port in 1..=40 {
            book.add_heard(addr(port));
        }
        let mut dialled = HashSet::new();
        for _ in 0..50 {
            let picked = book.candidates(4, &HashSet::new());
            assert_eq!(picked.first(), Some(&addr(0)), "the tried one first");
            dialled.extend(picked);
        }
        assert!(
            dialled.len() > 30,
            "only {} of 41 ever picked",
            dialled.len()
        );
        let mut told = HashSet::new();
        for _ in 0..50 {
            told.extend(book.for_gossip(4));
        }
        assert!(told.len() > 30, "only {} of 41 ever told", told.len());
    }

    #[test]
    fn excluded_addresses_are_not_candidates() {
        let mut book = AddressBook::load(None, TaskManager::new().executor());
        book.add_heard(addr(1));
        book.add_heard(addr(2));
        let exclude = HashSet::from([addr(1)]);
        assert_eq!(book.candidates(10, &exclude), vec![addr(2)]);
    }
}
