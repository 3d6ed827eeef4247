//! Banned nodes and addresses, persisted across restarts.
//!
//! A peer that misbehaves after the handshake is banned by its [`NodeId`], which the Noise
//! handshake proves; its IP address is banned too unless it is a loopback address (a
//! testnet runs every node on 127.0.0.1, and one liar must not cut the rest off).
//! Operators can also ban an address by hand.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::identity::NodeId;
use tern_state::persist::{self, unix_millis, FileWriter};
use tern_tasks::TaskExecutor;

/// The file in the data dir that holds the bans.
pub const BANS_FILE: &str = "bans.json";

/// Bans kept at most; past it the ban nearest to expiry makes room.
pub const MAX_BANS: usize = 10_000;

/// What a ban applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BanTarget {
    /// A node, whatever address it comes from.
    Node(NodeId),
    /// Every connection from or to an IP address.
    Ip(IpAddr),
}

impl fmt::Display for BanTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BanTarget::Node(id) => write!(f, "{id}"),
            BanTarget::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Text that is neither a node id nor an IP address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is neither a node id (64 hex digits) nor an IP address")]
pub struct BanTargetError(String);

impl FromStr for BanTarget {
    type Err = BanTargetError;

    /// A node id, an IP address, or a socket address (whose IP is taken).
    fn from_str(text: &str) -> Result<BanTarget, BanTargetError> {
        if let Ok(id) = text.parse() {
            return Ok(BanTarget::Node(id));
        }
        if let Ok(ip) = text.parse() {
            return Ok(BanTarget::Ip(ip));
        }
        if let Ok(addr) = text.parse::<std::net::SocketAddr>() {
            return Ok(BanTarget::Ip(addr.ip()));
        }
        Err(BanTargetError(text.to_owned()))
    }
}

/// One ban.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// What is banned, as text (a node id or an IP address).
    pub target: String,
    /// When it ends, in milliseconds since the Unix epoch.
    pub until_ms: u64,
    /// Why.
    pub reason: String,
}

/// The ban list.
#[derive(Debug)]
pub struct BanList {
    bans: HashMap<BanTarget, Ban>,
    writer: Option<FileWriter>,
}

impl BanList {
    /// The bans saved in `dir`, or none; changes are saved there by the task `bans
    /// writer`. `None` keeps them in memory only.
    pub fn load(dir: Option<&std::path::Path>, tasks: &TaskExecutor) -> BanList {
        let path: Option<PathBuf> = dir.map(|d| d.join(BANS_FILE));
        let saved: Vec<Ban> = path.as_deref().map(persist::load).unwrap_or_default();
        let now = unix_millis();
        let bans = saved
            .into_iter()
            .filter(|ban| ban.until_ms > now)
            .filter_map(|ban| Some((ban.target.parse().ok()?, ban)))
            .collect();
        let writer = path.map(|path| FileWriter::spawn(path, "bans writer", tasks));
        BanList { bans, writer }
    }

    /// Bans `target` for `duration`, replacing an earlier ban of it.
    pub fn ban(&mut self, target: BanTarget, duration: Duration, reason: &str) {
        let now = unix_millis();
        self.prune(now);
        if self.bans.len() >= MAX_BANS && !self.bans.contains_key(&target) {
            if let Some(soonest) = self
                .bans
                .iter()
                .min_by_key(|(_, ban)| ban.until_ms)
                .map(|(target, _)| *target)
            {
                self.bans.remove(&soonest);
            }
        }
        let millis = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        self.bans.insert(
            target,
            Ban {
                target: target.to_string(),
                until_ms: now.saturating_add(millis),
                reason: reason.to_owned(),
            },
        );
        self.save();
    }

    /// Lifts the ban on `target`; false if there was none.
    pub fn unban(&mut self, target: &BanTarget) -> bool {
        let removed = self.bans.remove(target).is_some();
        if removed {
            self.save();
        }
        removed
    }

    /// Whether a node or an address is banned now.
    pub fn is_banned(&self, target: &BanTarget) -> bool {
        self.remaining(target).is_some()
    }

    /// How long the ban on `target` has left to run, if it is banned now.
    pub fn remaining(&self, target: &BanTarget) -> Option<Duration> {
        let now = unix_millis();
        self.bans
            .get(target)
            .filter(|ban| ban.until_ms > now)
            .map(|ban| Duration::from_millis(ban.until_ms - now))
    }

    /// The bans in force, soonest to end first.
    pub fn list(&self) -> Vec<Ban> {
        let now = unix_millis();
        let mut bans: Vec<Ban> = self
            .bans
            .values()
            .filter(|ban| ban.until_ms > now)
            .cloned()
            .collect();
        bans.sort_by_key(|ban| ban.until_ms);
        bans
    }

    fn prune(&mut self, now: u64) {
        self.bans.retain(|_, ban| ban.until_ms > now);
    }

    fn save(&self) {
        if let Some(writer) = &self.writer {
            writer.save(&self.list());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_tasks::TaskManager;

    fn node(byte: u8) -> BanTarget {
        BanTarget::Node(NodeId::from_bytes([byte; 32]))
    }

    /// Loads the bans in `dir`, changes them with `change`, and waits until they are saved.
    async fn reload_after(dir: &std::path::Path, change: impl FnOnce(&mut BanList)) -> BanList {
        let tasks = TaskManager::new();
        let mut bans = BanList::load(Some(dir), tasks.executor());
        change(&mut bans);
        drop(bans);
        tasks.wait().await;
        BanList::load(Some(dir), TaskManager::new().executor())
    }

    #[tokio::test]
    async fn bans_survive_a_restart_and_unban_lifts_them() {
        let dir = tempfile::tempdir().unwrap();
        let again = reload_after(dir.path(), |bans| {
            bans.ban(node(1), Duration::from_secs(60), "invalid block");
            bans.ban(
                BanTarget::Ip("10.0.0.9".parse().unwrap()),
                Duration::from_secs(60),
                "manual",
            );
        })
        .await;
        assert!(again.is_banned(&node(1)));
        assert!(again.is_banned(&"10.0.0.9".parse().unwrap()));
        assert!(!again.is_banned(&node(2)));
        drop(again);
        let after = reload_after(dir.path(), |bans| {
            assert!(bans.unban(&node(1)));
            assert!(!bans.unban(&node(1)));
        })
        .await;
        assert!(!after.is_banned(&node(1)));
        assert!(after.is_banned(&"10.0.0.9".parse().unwrap()));
    }

    #[test]
    fn expired_bans_are_not_in_force() {
        let mut bans = BanList::load(None, TaskManager::new().executor());
        bans.ban(node(1), Duration::ZERO, "brief");
        assert!(!bans.is_banned(&node(1)));
        assert!(bans.list().is_empty());
    }

    #[test]
    fn the_list_is_bounded() {
        let mut bans = BanList::load(None, TaskManager::new().executor());
        for i in 0..(MAX_BANS + 10) {
            let ip = std::net::Ipv4Addr::from(u32::try_from(i).unwrap());
            bans.ban(
                BanTarget::Ip(ip.into()),
                Duration::from_secs(60 + i as u64),
                "flood",
            );
        }
        assert_eq!(bans.list().len(), MAX_BANS);
    }

    #[test]
    fn targets_parse_from_ids_ips_and_socket_addresses() {
        assert_eq!(
            "127.0.0.1:9000".parse::<BanTarget>().unwrap(),
            BanTarget::Ip("127.0.0.1".parse().unwrap())
        );
        assert!(matches!(
            hex::encode([7u8; 32]).parse::<BanTarget>().unwrap(),
            BanTarget::Node(_)
        ));
        assert!("nonsense".parse::<BanTarget>().is_err());
    }

    #[tokio::test]
    async fn a_damaged_file_is_set_aside_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(BANS_FILE), "{not json").unwrap();
        let tasks = TaskManager::new();
        assert!(BanList::load(Some(dir.path()), tasks.executor())
            .list()
            .is_empty());
        assert!(dir.path().join("bans.json.damaged").exists());
    }
}
