//! Small JSON files in the data dir (the tip record, the address book, bans): written beside, synced, and
//! renamed into place, so a crash leaves the old file or the new one, never half of one.
//!
//! Writes happen on a [`FileWriter`]'s own task, off the task that changed the data, and coalesce:
//! a burst of bans while a write is under way costs one more write, not one per ban.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;
pub use tern_chain::bounded_read::{read_bounded, ReadError};
use tokio::sync::watch;

use tern_tasks::TaskExecutor;

/// Milliseconds since the Unix epoch: what persisted deadlines are measured in, since they
/// must survive a restart.
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The largest file [`load`] reads: the address book and the ban list, at their bounds,
/// take well under 1 MiB.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads `path`; a missing file is `T::default()`. A damaged file (one that does not
/// parse, or is larger than [`MAX_FILE_BYTES`]) is reported, renamed to `*.damaged` so
/// the next save does not destroy the evidence, and replaced by the default: losing
/// peers or bans must not stop a node from starting.
pub fn load<T: DeserializeOwned + Default>(path: &Path) -> T {
    let parsed = match read_bounded(path, MAX_FILE_BYTES) {
        Ok(Some(text)) => serde_json::from_str(&text).map_err(|e| e.to_string()),
        Ok(None) => return T::default(),
        Err(ReadError::Io(error)) => {
            tracing::warn!(path = %path.display(), %error, "cannot read; starting empty");
            return T::default();
        }
        Err(too_large) => Err(too_large.to_string()),
    };
    match parsed {
        Ok(value) => value,
        Err(error) => {
            let damaged = path.with_extension("json.damaged");
            let _ = std::fs::rename(path, &damaged);
            tracing::warn!(
                path = %path.display(),
                moved_to = %damaged.display(),
                %error,
                "damaged file set aside; starting empty"
            );
            T::default()
        }
    }
}

/// Writes `text` to `path` atomically and durably: into a file beside it, synced, renamed
/// over it, and the directory synced so the rename itself survives a power cut.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let partial = path.with_extension("json.new");
    let mut file = std::fs::File::create(&partial)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&partial, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Saves snapshots of one JSON file in the background, always the latest one.
#[derive(Debug)]
pub struct FileWriter {
    latest: watch::Sender<Option<Arc<str>>>,
}

impl FileWriter {
    /// A writer for `path`, whose task (`name`) ends once the writer is dropped and its
    /// last snapshot written.
    pub fn spawn(path: PathBuf, name: &'static str, tasks: &TaskExecutor) -> FileWriter {
        let (latest, snapshots) = watch::channel(None);
        tasks.spawn(name, write_snapshots(path, snapshots));
        FileWriter { latest }
    }

    /// Queues `value` to be written, replacing any snapshot not yet written.
    pub fn save<T: Serialize>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => {
                self.latest.send_replace(Some(text.into()));
            }
            Err(error) => tracing::error!(%error, "cannot encode a file to save"),
        }
    }
}

/// Writes each new snapshot until the writer is gone; the last one is written too, since
/// a value sent before the sender dropped still counts as changed.
async fn write_snapshots(path: PathBuf, mut snapshots: watch::Receiver<Option<Arc<str>>>) {
    while snapshots.changed().await.is_ok() {
        let Some(text) = snapshots.borrow_and_update().clone() else {
            continue;
        };
        let target = path.clone();
        let written = tokio::task::spawn_blocking(move || write_atomically(&target, &text)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(path = %path.display(), %error, "cannot save"),
            Err(error) => tracing::warn!(path = %path.display(), %error, "cannot save"),
        }
    }
}
