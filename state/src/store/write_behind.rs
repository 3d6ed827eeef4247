//! Writing behind: the store's one writer hands each batch to a thread of its own and goes
//! on at once, reading its own writes back from memory until they have landed.
//!
//! Why: a block's batch (its accounts, undo record, transaction index and address
//! history) costs its writer more than checking the next block does, most of it
//! RocksDB's memtable inserts. On a thread of its own that write overlaps the checks of
//! the block after it. The chain actor is the writer; [`WriteBehind`] is the store as it
//! sees it.
//!
//! The rules that keep this as safe as writing in place:
//! - Batches land in the order they were handed over, each atomically, exactly as
//!   [`Store::write`] would have written them; a crash keeps a prefix of them.
//! - The writer reads through an overlay of every batch not yet known to have landed,
//!   newest first, so it sees its own writes at once. Everyone else reads the store, and
//!   sees a batch only once it has landed. The overlay keeps only the tables the writer
//!   reads back ([`Table::READ_BY_WRITER`]); reading any other through it is an error.
//! - Nothing may be acknowledged to the outside before the batches it depends on have
//!   landed: [`WriteBehind::landed`] says how far that is, [`WriteBehind::settle`] waits
//!   for all of them.
//! - The first failed write stops the writer thread; every later call returns the same
//!   error, and nothing after the failed batch is written.
//!
//! At most [`MAX_BATCHES_IN_FLIGHT`] batches wait for the thread: a writer that gets that
//! far ahead waits for it, which bounds the overlay's memory.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use rocksdb::WriteBatch;

use super::schema::{KeyCodec, Table};
use super::{Store, StoreBatch, StoreError, TableReads};
use tern_chain::encoding;

/// Batches handed to the writer thread and not yet written, at most. Two per block
/// (its body, then its connection), so a writer can be a few blocks ahead.
pub const MAX_BATCHES_IN_FLIGHT: usize = 8;

/// A batch's place in the order of writes. Batches land in this order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteSeq(u64);

/// What one batch wrote, by table and encoded key: `None` for a deletion.
#[derive(Debug, Default)]
pub(super) struct Layer {
    tables: HashMap<&'static str, HashMap<Vec<u8>, Option<Vec<u8>>>>,
}

impl Layer {
    /// Records a put (`Some`) or a deletion (`None`); a later one of the same key wins,
    /// as in a RocksDB batch.
    pub(super) fn record(&mut self, table: &'static str, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.tables.entry(table).or_default().insert(key, value);
    }

    /// `None` if the batch did not touch the key; `Some(None)` if it deleted it.
    fn lookup(&self, table: &str, key: &[u8]) -> Option<Option<&[u8]>> {
        let value = self.tables.get(table)?.get(key)?;
        Some(value.as_deref())
    }
}

/// How far the writer thread has got.
#[derive(Debug, Default)]
struct Landed {
    /// Every batch up to this one is in the store.
    seq: WriteSeq,
    /// Why the thread stopped, if it did.
    failure: Option<StoreError>,
}

/// Shared between the writer thread and its owner.
#[derive(Debug, Default)]
struct Progress {
    landed: Mutex<Landed>,
    /// For threads that wait for a batch ([`WriteBehind::settle`]).
    changed: Condvar,
    /// For async code that waits for any progress ([`WriteBehind::changed`]).
    notify: tokio::sync::Notify,
}

impl Progress {
    fn lock(&self) -> MutexGuard<'_, Landed> {
        // Nothing panics while the lock is held; a poisoned lock holds a valid state.
        self.landed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, change: impl FnOnce(&mut Landed)) {
        change(&mut self.lock());
        self.changed.notify_all();
        self.notify.notify_one();
    }
}

/// The store as its one writer sees it, with writes landing on a thread of their own.
#[derive(Debug)]
pub struct WriteBehind {
    store: Arc<Store>,
    /// `None` once dropped, which stops the thread.
    jobs: Option<SyncSender<(WriteSeq, WriteBatch)>>,
    progress: Arc<Progress>,
    thread: Option<JoinHandle<()>>,
    /// The last batch handed over.
    written: Cell<WriteSeq>,
    /// One layer per batch not known to have landed, oldest first.
    layers: RefCell<VecDeque<(WriteSeq, Layer)>>,
}

impl WriteBehind {
    /// Starts the writer thread for `store`. Fails only if the OS refuses a thread.
    pub fn new(store: Arc<Store>) -> std::io::Result<WriteBehind> {
        let (jobs, queue) = sync_channel::<(WriteSeq, WriteBatch)>(MAX_BATCHES_IN_FLIGHT);
        let progress = Arc::new(Progress::default());
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn({
                let store = Arc::clone(&store);
                let progress = Arc::clone(&progress);
                move || {
                    let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        write_in_order(&store, queue, &progress)
                    }));
                    let failure = match written {
                        Ok(Ok(())) => return,
                        Ok(Err(error)) => error,
                        Err(_) => StoreError::WriterStopped,
                    };
                    tracing::error!(%failure, "a store write failed; nothing more is written");
                    progress.update(|landed| landed.failure = Some(failure));
                }
            })?;
        Ok(WriteBehind {
            store,
            jobs: Some(jobs),
            progress,
            thread: Some(thread),
            written: Cell::new(WriteSeq::default()),
            layers: RefCell::new(VecDeque::new()),
        })
    }

    /// The store itself, which shows only what has landed.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// A new, empty batch for [`Self::write`].
    pub fn batch(&self) -> StoreBatch<'_> {
        let mut batch = self.store.batch();
        batch.overlay = Some(Layer::default());
        batch
    }

    /// Hands `batch` to the writer thread and returns its place in the order of writes.
    /// Its changes are visible to this writer's reads at once, and to the store's other
    /// readers once it has landed. Waits while [`MAX_BATCHES_IN_FLIGHT`] batches are
    /// ahead of it. Fails if an earlier write failed.
    pub fn write(&self, batch: StoreBatch<'_>) -> Result<WriteSeq, StoreError> {
        if let Some(failure) = self.failure() {
            return Err(failure);
        }
        self.forget_landed();
        let (batch, layer) = batch.into_parts()?;
        let seq = WriteSeq(self.written.get().0.saturating_add(1));
        self.layers
            .borrow_mut()
            .push_back((seq, layer.unwrap_or_default()));
        let sent = self.jobs.as_ref().map(|jobs| jobs.send((seq, batch)));
        if !matches!(sent, Some(Ok(()))) {
            // The thread has stopped: it says why.
            return Err(self.failure().unwrap_or(StoreError::WriterStopped));
        }
        self.written.set(seq);
        Ok(seq)
    }

    /// The last batch handed to [`Self::write`].
    pub fn written(&self) -> WriteSeq {
        self.written.get()
    }

    /// How far the batches have landed: every batch up to the returned one is in the
    /// store (also after a later one failed: see [`Self::failure`]).
    pub fn landed(&self) -> WriteSeq {
        self.progress.lock().seq
    }

    /// Why a write failed, if one did: nothing after it was written, and nothing more
    /// will be.
    pub fn failure(&self) -> Option<StoreError> {
        self.progress.lock().failure.clone()
    }

    /// Resolves when the writer thread next makes progress (a batch landed, or a write
    /// failed), or at once if it has since the last time this resolved. For a writer that
    /// waits for other events too; then it asks [`Self::landed`] and [`Self::failure`].
    pub async fn changed(&self) {
        self.progress.notify.notified().await;
    }

    /// Waits until every batch handed over has landed. Fails if one failed.
    pub fn settle(&self) -> Result<(), StoreError> {
        let target = self.written.get();
        let mut landed = self.progress.lock();
        while landed.seq < target && landed.failure.is_none() {
            landed = self
                .progress
                .changed
                .wait(landed)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if let Some(failure) = &landed.failure {
            return Err(failure.clone());
        }
        drop(landed);
        self.forget_landed();
        Ok(())
    }

    /// Drops the layers of batches that have landed: the store answers for them now.
    fn forget_landed(&self) {
        let landed = self.landed();
        let mut layers = self.layers.borrow_mut();
        while layers.front().is_some_and(|(seq, _)| *seq <= landed) {
            layers.pop_front();
        }
    }

    /// The newest pending change of `key` in table `T`: `None` if no pending batch
    /// touched it, `Some(None)` if the newest one deleted it.
    fn pending<T: Table>(&self, key: &[u8]) -> Result<Option<Option<T::Value>>, StoreError> {
        if !T::READ_BY_WRITER {
            return Err(StoreError::NotReadByWriter { table: T::NAME });
        }
        let layers = self.layers.borrow();
        let Some(value) = layers
            .iter()
            .rev()
            .find_map(|(_, layer)| layer.lookup(T::NAME, key))
        else {
            return Ok(None);
        };
        value
            .map(|bytes| {
                self.store
                    .decoded(T::NAME, encoding::decode::<T::Value>(bytes))
            })
            .transpose()
            .map(Some)
    }

    /// Reads many keys of table `T` at once, pending batches first.
    pub fn multi_get<T: Table>(
        &self,
        keys: &[T::Key],
    ) -> Result<Vec<Option<T::Value>>, StoreError> {
        let mut values = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        let mut missing_keys = Vec::new();
        for key in keys {
            let key = key.to_key();
            match self.pending::<T>(&key)? {
                Some(value) => values.push(value),
                None => {
                    missing.push(values.len());
                    missing_keys.push(key);
                    values.push(None);
                }
            }
        }
        if missing.is_empty() {
            return Ok(values);
        }
        let stored = self.store.multi_get_encoded::<T>(&missing_keys)?;
        for (i, value) in missing.into_iter().zip(stored) {
            if let Some(slot) = values.get_mut(i) {
                *slot = value;
            }
        }
        Ok(values)
    }
}

/// The writer thread's work: each batch in the order handed over, until the owner lets
/// go of the queue or a write fails.
fn write_in_order(
    store: &Store,
    queue: Receiver<(WriteSeq, WriteBatch)>,
    progress: &Progress,
) -> Result<(), StoreError> {
    for (seq, batch) in queue {
        store.write_batch(batch)?;
        progress.update(|landed| landed.seq = seq);
    }
    Ok(())
}

impl TableReads for WriteBehind {
    fn get<T: Table>(&self, key: &T::Key) -> Result<Option<T::Value>, StoreError> {
        match self.pending::<T>(&key.to_key())? {
            Some(value) => Ok(value),
            None => self.store.get::<T>(key),
        }
    }

    fn corrupt(&self, reason: &str) -> StoreError {
        self.store.corrupt(reason)
    }
}

impl Drop for WriteBehind {
    /// Lets the thread write what it was given, then joins it, so that the store is closed
    /// when the last of its owners is gone.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            // A panic was already turned into a failure by the thread itself.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
#[path = "write_behind_tests.rs"]
mod tests;
