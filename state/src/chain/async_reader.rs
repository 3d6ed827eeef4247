//! Store queries for async code: each runs on tokio's blocking pool, so an async worker
//! thread never waits on the disk.
//!
//! At most [`MAX_CONCURRENT_READS`] queries run at once; more wait their turn. The
//! blocking pool is shared with signature checks and nonce search, and a flood of RPC
//! reads must not take all of its threads.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::ChainReader;
use crate::store::StoreError;
use tern_chain::genesis::ChainSpec;

/// Store queries that run at once; further ones queue.
pub const MAX_CONCURRENT_READS: usize = 32;

/// A [`ChainReader`] whose queries run off the async threads; cheap to clone.
#[derive(Debug, Clone)]
pub struct AsyncChainReader {
    reader: ChainReader,
    permits: Arc<Semaphore>,
}

impl AsyncChainReader {
    pub(super) fn new(reader: ChainReader) -> AsyncChainReader {
        AsyncChainReader {
            reader,
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT_READS)),
        }
    }

    /// The chain spec (in memory).
    pub fn spec(&self) -> &ChainSpec {
        self.reader.spec()
    }

    /// Runs `query` on the blocking pool and returns its answer. A query that panics
    /// panics the caller too, so the bug surfaces in the task that asked.
    pub async fn run<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&ChainReader) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::ReaderStopped)?;
        let reader = self.reader.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            query(&reader)
        })
        .await;
        match answer {
            Ok(answer) => answer,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // The runtime is shutting down and dropped the query before it ran.
            Err(_) => Err(StoreError::ReaderStopped),
        }
    }
}
