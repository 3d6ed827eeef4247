//! The last tip this node acknowledged, recorded outside RocksDB so that a store which
//! opens below it is noticed.
//!
//! RocksDB recovers from a damaged or missing write-ahead log, and from some damage to
//! its MANIFEST, by opening at an earlier consistent state, without an error. That state
//! is a valid store, so nothing inside the store can tell that blocks are gone. This file
//! can: it lives in the store's directory (deleting the store to resync deletes it too),
//! is written atomically a moment after each new tip, and is compared with the store's
//! tip at start. A store with less work than the record is reported loudly, with the
//! number of blocks lost, and sync fetches them again from peers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::chain::{ChainHandle, TipInfo};
use serde::{Deserialize, Serialize};
use tern_chain::types::{BlockHash, Work};
use tokio::sync::watch;

use crate::persist::{self, FileWriter};
use tern_tasks::TaskExecutor;

/// The record's file, inside the store's directory.
const FILE: &str = "tip.json";

/// At most one write per this interval: a syncing node connects hundreds of blocks a
/// second, and each write is an fsync.
const RECORD_INTERVAL: Duration = Duration::from_millis(200);

/// Where the record of the store in `data_dir` lives.
pub fn path(data_dir: &Path) -> PathBuf {
    crate::store::db_dir(data_dir).join(FILE)
}

/// A tip as the file holds it: hex, so an operator can read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RecordedTip {
    height: u64,
    hash: String,
    /// The chain's cumulative work, 64 hex digits, big-endian.
    cumulative_work: String,
}

impl From<&TipInfo> for RecordedTip {
    fn from(tip: &TipInfo) -> RecordedTip {
        RecordedTip {
            height: tip.height().value(),
            hash: tip.hash.to_string(),
            cumulative_work: hex::encode(tip.cumulative_work.to_be_bytes()),
        }
    }
}

/// What the store lost against its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    /// The tip the node had acknowledged.
    pub recorded_height: u64,
    /// Its hash.
    pub recorded_hash: String,
    /// The tip the store opened at.
    pub opened_height: u64,
}

impl Loss {
    /// How many blocks the canonical chain is shorter than it was (at least one: a
    /// store can lose work at an equal or greater height after a reorg it forgot).
    pub fn blocks(&self) -> u64 {
        self.recorded_height
            .saturating_sub(self.opened_height)
            .max(1)
    }
}

/// Compares the store's tip, just opened, with the record in `data_dir`. `None` when
/// there is no record (a new store, or one from before records were kept) or the store
/// has at least the recorded work. A record that cannot be read is set aside and
/// reported by [`persist::load`]: it only ever adds a warning, never stops a start.
pub fn check(data_dir: &Path, opened: &TipInfo) -> Option<Loss> {
    let recorded: RecordedTip = persist::load::<Option<RecordedTip>>(&path(data_dir))?;
    let work = hex::decode(&recorded.cumulative_work)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .map(Work::from_be_bytes);
    let Some(work) = work else {
        tracing::warn!(
            path = %path(data_dir).display(),
            "the tip record holds no valid work; ignoring it"
        );
        return None;
    };
    let same_block = recorded.hash.parse::<BlockHash>().ok() == Some(opened.hash);
    if same_block || opened.cumulative_work >= work {
        return None;
    }
    Some(Loss {
        recorded_height: recorded.height,
        recorded_hash: recorded.hash,
        opened_height: opened.height().value(),
    })
}

/// Says loudly what [`check`] found.
pub fn report(loss: &Loss) {
    tracing::error!(
        recorded_height = loss.recorded_height,
        recorded_tip = %loss.recorded_hash,
        opened_height = loss.opened_height,
        blocks_lost = loss.blocks(),
        "the store opened below the tip this node last acknowledged: {} blocks lost, most \
         likely to damage in the store's files or a power cut. Fetching them again from \
         peers; blocks no peer has (mined here and never relayed) are gone. Run `tern store \
         check` on this data directory once the node has stopped",
        loss.blocks()
    );
}

/// Keeps the record of the store in `data_dir` at the chain's tip until the chain stops.
pub fn spawn(data_dir: &Path, chain: &ChainHandle, tasks: &TaskExecutor) {
    let writer = FileWriter::spawn(path(data_dir), "tip record writer", tasks);
    tasks.spawn("tip record", follow(chain.watch_tip(), writer));
}

/// Saves every tip, at most one per [`RECORD_INTERVAL`]; the last one is always saved,
/// since a tip that changed during the pause is seen by `changed()` before the end.
async fn follow(mut tips: watch::Receiver<TipInfo>, writer: FileWriter) {
    loop {
        let tip = *tips.borrow_and_update();
        writer.save(&RecordedTip::from(&tip));
        if tips.changed().await.is_err() {
            return;
        }
        tokio::time::sleep(RECORD_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::chain::Chain;
    use tern_chain::genesis::ChainSpec;

    fn opened(dir: &Path) -> TipInfo {
        Chain::open(dir, ChainSpec::resolve("dev").unwrap())
            .unwrap()
            .tip()
    }

    fn record(dir: &Path, recorded: &RecordedTip) {
        let text = serde_json::to_string(recorded).unwrap();
        persist::write_atomically(&path(dir), &text).unwrap();
    }

    #[test]
    fn no_record_and_the_recorded_tip_itself_are_no_loss() {
        let dir = tempfile::tempdir().unwrap();
        let tip = opened(dir.path());
        assert_eq!(check(dir.path(), &tip), None);
        record(dir.path(), &RecordedTip::from(&tip));
        assert_eq!(check(dir.path(), &tip), None);
    }

    #[test]
    fn a_record_with_more_work_is_a_loss_counted_in_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let tip = opened(dir.path());
        let mut ahead = RecordedTip::from(&tip);
        ahead.height = 30;
        ahead.hash = "ab".repeat(32);
        ahead.cumulative_work = format!("01{}", "00".repeat(31));
        record(dir.path(), &ahead);
        let loss = check(dir.path(), &tip).unwrap();
        assert_eq!((loss.opened_height, loss.blocks()), (0, 30));
    }

    #[test]
    fn a_damaged_record_is_set_aside_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let tip = opened(dir.path());
        std::fs::write(path(dir.path()), "{\"height\": 3").unwrap();
        assert_eq!(check(dir.path(), &tip), None);
        assert!(path(dir.path()).with_extension("json.damaged").exists());
    }
}
