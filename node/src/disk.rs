//! Free space in the data directory: measured every [`DISK_CHECK_INTERVAL`], published
//! as `tern_datadir_free_bytes`, and warned about when it falls below the operator's
//! `--min-free-space`, before a full disk stops the node (a store that cannot be written
//! is a critical failure: see [`tern_tasks`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often free space is measured.
pub const DISK_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Watches the free space of one directory's file system.
#[derive(Debug)]
pub struct DiskMonitor {
    dir: PathBuf,
    min_free: u64,
    free: Arc<AtomicU64>,
}

impl DiskMonitor {
    /// A monitor of `dir` that warns below `min_free` bytes.
    pub fn new(dir: PathBuf, min_free: u64) -> DiskMonitor {
        let free = Arc::new(AtomicU64::new(free_bytes(&dir).unwrap_or(u64::MAX)));
        DiskMonitor {
            dir,
            min_free,
            free,
        }
    }

    /// The last measurement, in bytes (`u64::MAX` until one succeeds).
    pub fn free_bytes(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.free)
    }

    /// Measures until `stop` fires. Warns once each time free space falls below the
    /// threshold, and says so when it is back above.
    pub async fn run(self, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(DISK_CHECK_INTERVAL);
        let mut low = false;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let dir = self.dir.clone();
            let measured = tokio::task::spawn_blocking(move || free_bytes(&dir)).await;
            let free = match measured {
                Ok(Ok(free)) => free,
                Ok(Err(error)) => {
                    tracing::warn!(dir = %self.dir.display(), %error, "cannot measure free space");
                    continue;
                }
                Err(_) => return,
            };
            self.free.store(free, Ordering::Relaxed);
            if free < self.min_free && !low {
                tracing::warn!(
                    dir = %self.dir.display(),
                    free_mib = free >> 20,
                    min_free_mib = self.min_free >> 20,
                    "the data directory is running out of space; the node stops when it is full"
                );
            } else if free >= self.min_free && low {
                tracing::info!(dir = %self.dir.display(), free_mib = free >> 20, "free space is back above the threshold");
            }
            low = free < self.min_free;
        }
    }
}

/// Bytes available to this process on the file system holding `dir`.
pub fn free_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    let stats = rustix::fs::statvfs(dir)?;
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}
