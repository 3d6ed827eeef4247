//! Persistent chain and state on RocksDB.
//!
//! Layers, bottom up: RocksDB with the column families of [`schema`]; typed reads
//! ([`Store::get`]) and writes through a [`StoreBatch`], which is `#[must_use]` and is the
//! only way to write, so every change lands in one atomic RocksDB `WriteBatch`.
//!
//! Opening a store takes an exclusive lock on the data directory, refuses a store written
//! by a newer or unknown schema or for another chain, and never silently recreates a store
//! that exists but cannot be read: a damaged store is an error naming the directory.
//!
//! The chain, the store's one writer, writes through [`WriteBehind`]: its batches land on
//! a thread of their own while it reads its own writes from memory.

pub mod schema;
mod write_behind;

pub use write_behind::{WriteBehind, WriteSeq, MAX_BATCHES_IN_FLIGHT};

use std::cell::Cell;
use std::fs::{File, TryLockError};
use std::ops::Range;
use std::path::{Path, PathBuf};

use rocksdb::{
    ColumnFamilyDescriptor, Direction, IteratorMode, Options, ReadOptions, ReadTier, WriteBatch, DB,
};

use schema::{KeyCodec, Meta, MetaKey, MetaValue, Table, COLUMN_FAMILIES, SCHEMA_VERSION};
use tern_chain::encoding::{self, DecodeError};
use tern_chain::genesis::ChainSpec;
use tern_chain::types::BlockHash;

/// The lock file inside a data directory.
const LOCK_FILE: &str = "tern.lock";

/// The RocksDB directory inside a data directory.
const DB_DIR: &str = "chain";

/// Where a new store is built before it is renamed to [`DB_DIR`].
const STAGING_DB_DIR: &str = "chain.new";

/// The RocksDB directory of data directory `data_dir`: what "the store" is on disk, and
/// what an operator deletes to sync again from scratch.
pub fn db_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_DIR)
}

/// The most table files RocksDB keeps open. Unbounded (its default), a growing chain
/// would take file descriptors from peers and RPC clients; the node counts this in its
/// descriptor budget.
pub const MAX_OPEN_FILES: i32 = 512;

/// Opens (or, with `create`, creates) the RocksDB database at `path`.
fn open_db(path: &Path, create: bool) -> Result<DB, rocksdb::Error> {
    let mut options = Options::default();
    options.create_if_missing(create);
    options.create_missing_column_families(create);
    options.set_paranoid_checks(true);
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    options.set_keep_log_file_num(4);
    options.set_max_open_files(MAX_OPEN_FILES);
    let families =
        COLUMN_FAMILIES.map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
    DB::open_cf_descriptors(&options, path, families)
}

/// Why a store that exists would not open: an older format, whose schema version (read
/// from the families it has) is below this one's, or damage. A MANIFEST cut short also
/// lacks families, so only the recorded version tells the two apart.
fn older_or_corrupt(path: &Path, error: &rocksdb::Error) -> StoreError {
    let recorded = DB::list_cf(&Options::default(), path)
        .ok()
        .and_then(|found| DB::open_cf_for_read_only(&Options::default(), path, found, false).ok())
        .and_then(|db| {
            let cf = db.cf_handle(Meta::NAME)?;
            let bytes = db.get_cf(cf, MetaKey::SchemaVersion.to_key()).ok()??;
            encoding::decode::<MetaValue>(&bytes).ok()
        })
        .map(|value| value.as_u64());
    if let Some(found) = recorded.filter(|version| *version < u64::from(SCHEMA_VERSION)) {
        return StoreError::OlderSchema {
            path: path.to_owned(),
            found,
        };
    }
    StoreError::Corrupt {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

thread_local! {
    /// Set while [`from_memory`] runs a query on this thread.
    static MEMORY_ONLY: Cell<bool> = const { Cell::new(false) };
    /// Set when a read inside [`from_memory`] needed the disk.
    static MISSED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `query` with every store read it makes on this thread answered from memory alone
/// (RocksDB's memtables and block cache): a read that would need the disk fails at once
/// with [`StoreError::NotInMemory`] instead of waiting. `None` if any read did, however
/// the query handled the error (wrapped it, or took it for an absent key): then its
/// answer is not to be trusted, and the query is to be asked again where waiting on the
/// disk is allowed. What lets an async thread answer a hot read in a microsecond.
pub fn from_memory<T>(query: impl FnOnce() -> T) -> Option<T> {
    /// Puts the flags back even if the query panics.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            MEMORY_ONLY.set(self.0);
            MISSED.set(false);
        }
    }
    let _restore = Restore(MEMORY_ONLY.replace(true));
    MISSED.set(false);
    let answer = query();
    (!MISSED.get()).then_some(answer)
}

/// Read options: from memory alone when `from_memory`.
fn make_read_options(from_memory: bool) -> ReadOptions {
    let mut options = ReadOptions::default();
    if from_memory {
        options.set_read_tier(ReadTier::BlockCache);
    }
    options
}

/// The options of every read: from memory alone inside [`from_memory`].
fn read_options() -> ReadOptions {
    make_read_options(MEMORY_ONLY.get())
}

/// Point reads' options, made once per thread: [`ReadOptions`] is a C++ object, and
/// making and freeing one for every read cost a tenth of a hot read's time.
struct PointReadOptions {
    anywhere: ReadOptions,
    from_memory: ReadOptions,
}

thread_local! {
    static POINT_READ_OPTIONS: PointReadOptions = PointReadOptions {
        anywhere: make_read_options(false),
        from_memory: make_read_options(true),
    };
}

/// Runs `read` with what [`read_options`] would make, without making it.
fn with_point_read_options<R>(read: impl FnOnce(&ReadOptions) -> R) -> R {
    POINT_READ_OPTIONS.with(|options| {
        read(if MEMORY_ONLY.get() {
            &options.from_memory
        } else {
            &options.anywhere
        })
    })
}

/// Decoded entries of table `T`, in the order they were read.
pub type Rows<T> = Vec<(<T as Table>::Key, <T as Table>::Value)>;

/// Why the store failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Another process has the data directory open.
    #[error("data directory {} is in use by another tern process", .0.display())]
    Locked(PathBuf),
    /// The data directory cannot be created or locked.
    #[error("data directory {}: {reason}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// The store was written by an older version of tern, whose format this one does not
    /// read (schema 1 had no state map, schema 2 no state root in headers).
    #[error("store {} was written by an older tern (schema version {found}; this tern reads version {supported}); move it aside or use another data directory, and the node syncs a new one", path.display(), supported = SCHEMA_VERSION)]
    OlderSchema {
        /// The store.
        path: PathBuf,
        /// The stored version.
        found: u64,
    },
    /// The store was written by a newer version of tern.
    #[error("store {} has schema version {found}, this tern reads version {supported}; upgrade tern", path.display())]
    NewerSchema {
        /// The store.
        path: PathBuf,
        /// The stored version.
        found: u64,
        /// The version this software reads.
        supported: u32,
    },
    /// The store holds another chain.
    #[error("store {} holds chain {stored}, not {expected}; use another data directory", path.display())]
    WrongChain {
        /// The store.
        path: PathBuf,
        /// The genesis hash in the store.
        stored: BlockHash,
        /// The genesis hash of the chain spec.
        expected: BlockHash,
    },
    /// The store exists but is damaged or incomplete.
    #[error("store {} is damaged: {reason}; restore it from a backup or delete it to resync", path.display())]
    Corrupt {
        /// The store.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The chain read back a table whose writes it keeps no copy of while they land
    /// ([`schema::Table::READ_BY_WRITER`]): a bug, refused rather than answered from a
    /// store that may not hold the latest write yet.
    #[error("the chain read table {table}, which it only writes (a bug)")]
    NotReadByWriter {
        /// The table's column family.
        table: &'static str,
    },
    /// The thread that writes batches behind the chain stopped without a store error (a
    /// bug); nothing after the last landed batch was written.
    #[error("the store's writer thread stopped unexpectedly; nothing more is written")]
    WriterStopped,
    /// The node is shutting down and the query was not run.
    #[error("the store reader has stopped: the node is shutting down")]
    ReaderStopped,
    /// A read made [`from_memory`] needs the disk. Not a failure: the query is asked
    /// again where waiting on the disk is allowed (`AsyncChainReader` does), so no user
    /// sees it.
    #[error("the read needs the disk")]
    NotInMemory,
    /// RocksDB reported an error while running.
    #[error("store {}: {reason}", path.display())]
    Database {
        /// The store.
        path: PathBuf,
        /// RocksDB's message.
        reason: String,
    },
}

/// The chain database of one data directory.
#[derive(Debug)]
pub struct Store {
    db: DB,
    path: PathBuf,
    /// Held for the store's lifetime; the OS releases the lock when the process dies.
    _lock: File,
    /// Dropped with the store: its receivers learn that the database is closed and the
    /// data directory unlocked.
    closed: tokio::sync::watch::Sender<()>,
}

/// Changes to write atomically. Dropping a batch without [`Store::write`] loses it, so the
/// type is `#[must_use]`.
#[must_use = "a batch does nothing until passed to Store::write"]
pub struct StoreBatch<'a> {
    store: &'a Store,
    batch: WriteBatch,
    /// A table whose column family was missing: the write is refused rather than partly
    /// lost. (Opening checks every family exists, so this means damage.)
    missing: Option<&'static str>,
    /// What the batch changes, kept for reading back before it lands: only for a batch
    /// written behind ([`WriteBehind::batch`]).
    overlay: Option<write_behind::Layer>,
}

impl StoreBatch<'_> {
    /// Sets `key` to `value` in table `T`.
    pub fn put<T: Table>(&mut self, key: &T::Key, value: &T::Value) {
        let Some(cf) = self.store.db.cf_handle(T::NAME) else {
            self.missing = Some(T::NAME);
            return;
        };
        let (key, value) = (key.to_key(), encoding::encode(value));
        self.batch.put_cf(cf, &key, &value);
        if let Some(overlay) = self.overlay_for::<T>() {
            overlay.record(T::NAME, key, Some(value));
        }
    }

    /// Sets every `(key, value)` of `entries` in table `T`, in key order, whatever order
    /// they come in. RocksDB's memory table starts each insert from where the previous
    /// one landed, so a batch of many random keys (transaction ids, addresses) costs
    /// about half as much sorted as it does shuffled.
    pub fn put_sorted<'e, T: Table + 'e>(
        &mut self,
        entries: impl IntoIterator<Item = (&'e T::Key, &'e T::Value)>,
    ) {
        let Some(cf) = self.store.db.cf_handle(T::NAME) else {
            self.missing = Some(T::NAME);
            return;
        };
        // Every key and value encoded into two buffers, not two allocations per entry.
        let mut keys = Vec::new();
        let mut values = Vec::new();
        let mut spans: Vec<(Range<usize>, Range<usize>)> = entries
            .into_iter()
            .map(|(key, value)| {
                let key_start = keys.len();
                key.write_key(&mut keys);
                let value_start = values.len();
                encoding::encode_into(value, &mut values);
                (key_start..keys.len(), value_start..values.len())
            })
            .collect();
        // Stable, so a key given twice keeps its later value, as two `put`s would.
        spans.sort_by(|(a, _), (b, _)| keys.get(a.clone()).cmp(&keys.get(b.clone())));
        for (key, value) in spans {
            if let (Some(key), Some(value)) = (keys.get(key), values.get(value)) {
                self.batch.put_cf(cf, key, value);
                if let Some(overlay) = self.overlay_for::<T>() {
                    overlay.record(T::NAME, key.to_vec(), Some(value.to_vec()));
                }
            }
        }
    }

    /// Removes `key` from table `T`.
    pub fn delete<T: Table>(&mut self, key: &T::Key) {
        let Some(cf) = self.store.db.cf_handle(T::NAME) else {
            self.missing = Some(T::NAME);
            return;
        };
        let key = key.to_key();
        self.batch.delete_cf(cf, &key);
        if let Some(overlay) = self.overlay_for::<T>() {
            overlay.record(T::NAME, key, None);
        }
    }

    /// How many operations the batch holds.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// Whether the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Where a change to table `T` is recorded for the writer to read back: only in a
    /// batch written behind, and only for a table the writer reads.
    fn overlay_for<T: Table>(&mut self) -> Option<&mut write_behind::Layer> {
        self.overlay.as_mut().filter(|_| T::READ_BY_WRITER)
    }

    /// The RocksDB batch to write and what it changes (if recorded), or the damage that
    /// forbids writing it.
    fn into_parts(self) -> Result<(WriteBatch, Option<write_behind::Layer>), StoreError> {
        match self.missing {
            Some(table) => Err(self
                .store
                .corrupt(&format!("missing column family {table}"))),
            None => Ok((self.batch, self.overlay)),
        }
    }
}

/// Typed point reads: from the [`Store`] itself, or from the store as its writer sees it
/// while its batches land ([`WriteBehind`]). Code that both the chain and the readers run
/// (a block's context, its index entry) reads through this.
pub trait TableReads {
    /// Reads `key` from table `T`.
    fn get<T: Table>(&self, key: &T::Key) -> Result<Option<T::Value>, StoreError>;
    /// A [`StoreError::Corrupt`] for this store.
    fn corrupt(&self, reason: &str) -> StoreError;
}

impl TableReads for Store {
    fn get<T: Table>(&self, key: &T::Key) -> Result<Option<T::Value>, StoreError> {
        Store::get::<T>(self, key)
    }

    fn corrupt(&self, reason: &str) -> StoreError {
        Store::corrupt(self, reason)
    }
}

impl Store {
    /// Opens the store in data directory `dir` for chain `spec`, creating it first if the
    /// directory holds none: `initialise` writes its first contents (genesis).
    ///
    /// A new store is built in a staging directory and renamed into place only once
    /// `initialise` has run and everything is on disk, so a store directory always holds a
    /// complete store, and a creation cut short by a crash is discarded on the next open.
    /// A store that exists but cannot be read is [`StoreError::Corrupt`], never replaced.
    pub fn open(
        dir: &Path,
        spec: &ChainSpec,
        initialise: impl FnOnce(&Store) -> Result<(), StoreError>,
    ) -> Result<Store, StoreError> {
        let data_dir_error = |e: std::io::Error| StoreError::DataDir {
            path: dir.to_owned(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(data_dir_error)?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(data_dir_error)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(StoreError::Locked(dir.to_owned())),
            Err(TryLockError::Error(e)) => return Err(data_dir_error(e)),
        }

        let path = db_dir(dir);
        if !path.exists() {
            let staging = dir.join(STAGING_DB_DIR);
            if staging.exists() {
                std::fs::remove_dir_all(&staging).map_err(data_dir_error)?;
            }
            let db = open_db(&staging, true).map_err(|e| StoreError::Database {
                path: staging.clone(),
                reason: e.to_string(),
            })?;
            // A second descriptor of the same lock: the lock holds until both are closed.
            let store = Store {
                db,
                path: staging.clone(),
                _lock: lock.try_clone().map_err(data_dir_error)?,
                closed: tokio::sync::watch::Sender::new(()),
            };
            initialise(&store)?;
            store.flush()?;
            drop(store);
            std::fs::rename(&staging, &path).map_err(data_dir_error)?;
            // Make the rename itself durable.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(data_dir_error)?;
        }
        let db = open_db(&path, false).map_err(|e| older_or_corrupt(&path, &e))?;
        let store = Store {
            db,
            path,
            _lock: lock,
            closed: tokio::sync::watch::Sender::new(()),
        };
        store.check_meta(spec)?;
        Ok(store)
    }

    fn check_meta(&self, spec: &ChainSpec) -> Result<(), StoreError> {
        let version = self
            .get::<Meta>(&MetaKey::SchemaVersion)?
            .ok_or_else(|| self.corrupt("no schema version"))?
            .as_u64();
        if version > u64::from(SCHEMA_VERSION) {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version < u64::from(SCHEMA_VERSION) {
            return Err(StoreError::OlderSchema {
                path: self.path.clone(),
                found: version,
            });
        }
        if version != u64::from(SCHEMA_VERSION) {
            return Err(self.corrupt(&format!("unknown schema version {version}")));
        }
        let stored = self
            .get::<Meta>(&MetaKey::Genesis)?
            .ok_or_else(|| self.corrupt("no genesis hash"))?;
        let stored = BlockHash::from_bytes(stored.0);
        if stored != spec.genesis_hash() {
            return Err(StoreError::WrongChain {
                path: self.path.clone(),
                stored,
                expected: spec.genesis_hash(),
            });
        }
        Ok(())
    }

    /// A receiver whose `changed()` fails once the store is closed: the database shut and
    /// the data directory unlocked. Holding it does not keep the store open.
    pub fn watch_closed(&self) -> tokio::sync::watch::Receiver<()> {
        self.closed.subscribe()
    }

    /// The RocksDB directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A [`StoreError::Corrupt`] for this store.
    pub fn corrupt(&self, reason: &str) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            reason: reason.to_owned(),
        }
    }

    fn database(&self, error: rocksdb::Error) -> StoreError {
        if error.kind() == rocksdb::ErrorKind::Corruption {
            return self.corrupt(error.as_ref());
        }
        if error.kind() == rocksdb::ErrorKind::Incomplete && MEMORY_ONLY.get() {
            MISSED.set(true);
            return StoreError::NotInMemory;
        }
        StoreError::Database {
            path: self.path.clone(),
            reason: error.to_string(),
        }
    }

    fn decoded<V>(&self, table: &str, value: Result<V, DecodeError>) -> Result<V, StoreError> {
        value.map_err(|e| self.corrupt(&format!("bad value in {table}: {e}")))
    }

    fn cf<T: Table>(&self) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db
            .cf_handle(T::NAME)
            .ok_or_else(|| self.corrupt(&format!("missing column family {}", T::NAME)))
    }

    /// Reads `key` from table `T`.
    pub fn get<T: Table>(&self, key: &T::Key) -> Result<Option<T::Value>, StoreError> {
        let cf = self.cf::<T>()?;
        let bytes =
            with_point_read_options(|options| self.db.get_pinned_cf_opt(cf, key.to_key(), options))
                .map_err(|e| self.database(e))?;
        bytes
            .map(|b| self.decoded(T::NAME, encoding::decode::<T::Value>(&b)))
            .transpose()
    }

    /// Reads `key` from table `T` and decodes only the part of the stored value that
    /// `part` takes (see [`encoding::decode_part`]).
    pub fn get_part<T: Table, P>(
        &self,
        key: &T::Key,
        part: impl FnOnce(&[u8]) -> Result<P, encoding::DecodeError>,
    ) -> Result<Option<P>, StoreError> {
        let cf = self.cf::<T>()?;
        let bytes =
            with_point_read_options(|options| self.db.get_pinned_cf_opt(cf, key.to_key(), options))
                .map_err(|e| self.database(e))?;
        bytes.map(|b| self.decoded(T::NAME, part(&b))).transpose()
    }

    /// Reads many keys of table `T` at once.
    pub fn multi_get<T: Table>(
        &self,
        keys: &[T::Key],
    ) -> Result<Vec<Option<T::Value>>, StoreError> {
        let raw: Vec<Vec<u8>> = keys.iter().map(KeyCodec::to_key).collect();
        self.multi_get_encoded::<T>(&raw)
    }

    /// [`Self::multi_get`] of keys already encoded.
    fn multi_get_encoded<T: Table>(
        &self,
        raw: &[Vec<u8>],
    ) -> Result<Vec<Option<T::Value>>, StoreError> {
        let cf = self.cf::<T>()?;
        with_point_read_options(|options| {
            self.db
                .multi_get_cf_opt(raw.iter().map(|k| (cf, k.as_slice())), options)
        })
        .into_iter()
        .map(|result| {
            let bytes = result.map_err(|e| self.database(e))?;
            bytes
                .map(|b| self.decoded(T::NAME, encoding::decode::<T::Value>(&b)))
                .transpose()
        })
        .collect()
    }

    /// Up to `limit` entries of table `T` from `start` towards smaller keys, while the key
    /// starts with `prefix`.
    pub fn scan_back<T: Table>(
        &self,
        start: &[u8],
        prefix: &[u8],
        limit: usize,
    ) -> Result<Rows<T>, StoreError> {
        let iter = self.db.iterator_cf_opt(
            self.cf::<T>()?,
            read_options(),
            IteratorMode::From(start, Direction::Reverse),
        );
        let mut out = Vec::new();
        for item in iter {
            if out.len() >= limit {
                break;
            }
            let (key, value) = item.map_err(|e| self.database(e))?;
            if !key.starts_with(prefix) {
                break;
            }
            let key = self.decoded(T::NAME, T::Key::from_key(&key))?;
            let value = self.decoded(T::NAME, encoding::decode::<T::Value>(&value))?;
            out.push((key, value));
        }
        Ok(out)
    }

    /// Up to `limit` entries of table `T` with keys from `start` up to (not including)
    /// `end`. Stops at `end` before decoding anything past it.
    pub fn scan_forward<T: Table>(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Rows<T>, StoreError> {
        let iter = self.db.iterator_cf_opt(
            self.cf::<T>()?,
            read_options(),
            IteratorMode::From(start, Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter.take(limit) {
            let (key, value) = item.map_err(|e| self.database(e))?;
            if *key >= *end {
                break;
            }
            out.push((
                self.decoded(T::NAME, T::Key::from_key(&key))?,
                self.decoded(T::NAME, encoding::decode::<T::Value>(&value))?,
            ));
        }
        Ok(out)
    }

    /// Every entry of table `T`, in key order. For start-up scans only.
    pub fn scan_all<T: Table>(&self) -> Result<Rows<T>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf_opt(self.cf::<T>()?, read_options(), IteratorMode::Start)
        {
            let (key, value) = item.map_err(|e| self.database(e))?;
            out.push((
                self.decoded(T::NAME, T::Key::from_key(&key))?,
                self.decoded(T::NAME, encoding::decode::<T::Value>(&value))?,
            ));
        }
        Ok(out)
    }

    /// A new, empty batch.
    pub fn batch(&self) -> StoreBatch<'_> {
        StoreBatch {
            store: self,
            batch: WriteBatch::default(),
            missing: None,
            overlay: None,
        }
    }

    /// Writes a batch atomically: all of it or, after a crash, none of it.
    pub fn write(&self, batch: StoreBatch<'_>) -> Result<(), StoreError> {
        let (batch, _) = batch.into_parts()?;
        self.write_batch(batch)
    }

    fn write_batch(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.db.write(batch).map_err(|e| self.database(e))
    }

    /// Each table's name and the bytes its files hold on disk, and its memtables in
    /// memory, for sizing a store (flush first to count everything on disk).
    pub fn table_bytes(&self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        let mut sizes = Vec::with_capacity(COLUMN_FAMILIES.len());
        for name in COLUMN_FAMILIES {
            let cf = self
                .db
                .cf_handle(name)
                .ok_or_else(|| self.corrupt(&format!("missing column family {name}")))?;
            let mut bytes = 0u64;
            for property in [
                "rocksdb.total-sst-files-size",
                "rocksdb.size-all-mem-tables",
            ] {
                let value = self
                    .db
                    .property_int_value_cf(cf, property)
                    .map_err(|e| self.database(e))?;
                bytes = bytes.saturating_add(value.unwrap_or(0));
            }
            sizes.push((name, bytes));
        }
        Ok(sizes)
    }

    /// Writes memory tables and the write-ahead log to disk, for a clean shutdown. (Every
    /// written batch already survives a crash of the process; this makes the next open
    /// fast and survives a crash of the machine.)
    pub fn flush(&self) -> Result<(), StoreError> {
        for name in COLUMN_FAMILIES {
            let cf = self
                .db
                .cf_handle(name)
                .ok_or_else(|| self.corrupt(&format!("missing column family {name}")))?;
            self.db.flush_cf(cf).map_err(|e| self.database(e))?;
        }
        self.db.flush_wal(true).map_err(|e| self.database(e))
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
