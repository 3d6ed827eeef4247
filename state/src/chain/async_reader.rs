//! Store queries for async code, which never waits on the disk: a query is first run
//! right there with its reads answered from memory alone ([`from_memory`]: RocksDB's
//! memtables and block cache, about a microsecond a read); only a query that needs the
//! disk is run again on tokio's blocking pool. The hop to the pool and back costs more
//! than a hot read, so hot reads (a wallet polling its balance) never make it.
//!
//! At most [`MAX_CONCURRENT_READS`] queries run on the pool at once; more wait their
//! turn. The pool is shared with signature checks and nonce search, and a flood of RPC
//! reads that miss memory must not take all of its threads.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::ChainReader;
use crate::store::{from_memory, StoreError};
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

    /// Runs `query` and returns its answer: here from memory if it can, else on the
    /// blocking pool (so `query` may run twice; it only reads). A query that panics
    /// panics the caller too, so the bug surfaces in the task that asked.
    pub async fn run<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&ChainReader) -> Result<T, StoreError> + Send + 'static,
    {
        if let Some(answer) = from_memory(|| query(&self.reader)) {
            return answer;
        }
        self.run_on_pool(query).await
    }

    /// Runs `query` on the blocking pool, without trying memory first: for queries of
    /// thousands of reads (a chunk of the state), too long for an async thread even when
    /// every read is a hit.
    pub async fn run_on_pool<T, F>(&self, query: F) -> Result<T, StoreError>
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
