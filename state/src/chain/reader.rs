//! Queries, answered straight from the store's indexes without going through the chain
//! actor, so readers never wait for block processing and never scan the chain.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::store::schema::{
    Accounts, AddressHistory, BlockBodies, BlockIndex, BlockIndexEntry, Canonical, HistoryKey,
    KeyCodec, Meta, MetaKey, StateRoots, TxIndex, TxLocation, Undo,
};
use crate::store::{Store, StoreError, TableReads};
use tern_chain::block::{decode_transaction_at, Block, Header};
use tern_chain::genesis::ChainSpec;
use tern_chain::pow::{median_time_past, MEDIAN_TIME_SPAN};
use tern_chain::state::{Account, MemoryState};
use tern_chain::state_map::chunk::{Chunk, KeyPrefix, MAX_CHUNK_ACCOUNTS};
use tern_chain::state_map::AccountProof;
use tern_chain::tx::SignedTransaction;
use tern_chain::types::{Address, BlockHash, Height, StateRoot, TxId};
use tern_chain::validation::ParentContext;

use super::outcome::TipInfo;

/// The most entries one history page returns.
pub const MAX_HISTORY_PAGE: usize = 100;

/// Read access to the chain; cheap to clone.
#[derive(Debug, Clone)]
pub struct ChainReader {
    store: Arc<Store>,
    spec: ChainSpec,
}

/// The most headers one [`ChainReader::canonical_headers`] call reads: as many as a peer's
/// `Headers` message holds, about 376 kB.
pub const MAX_HEADERS_PER_READ: usize = 2_000;

/// How far below the tip an account is proven at most. Proving at depth `d` reads and
/// decodes `d` undo records (about 100 kB each for a block of 1,000 transfers), so the
/// bound keeps one call from costing the node more than about 25 MB of reads.
pub const MAX_PROOF_DEPTH: u64 = 256;

/// An account at a block, proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenAccount {
    /// The block.
    pub block: BlockHash,
    /// Its height.
    pub height: Height,
    /// Its state root.
    pub root: StateRoot,
    /// The account, or `None` if the address has none.
    pub account: Option<Account>,
    /// The proof of it under `root`.
    pub proof: AccountProof,
}

/// Why an account could not be proven at a block.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProofQueryError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The block is unknown or not on the canonical chain.
    #[error("block {0} is not on the canonical chain")]
    NotCanonical(BlockHash),
    /// The block's tree version is no longer kept.
    #[error("block {0} is older than the kept state versions (the last {kept}); ask at a newer block", kept = super::KEPT_TREE_VERSIONS)]
    Pruned(BlockHash),
    /// The block is more than [`MAX_PROOF_DEPTH`] blocks below the tip.
    #[error("block {0} is more than {MAX_PROOF_DEPTH} blocks below the tip; ask at a newer block")]
    TooDeep(BlockHash),
    /// The chain moved while the proof was read.
    #[error("the chain moved while the proof was read; ask again")]
    Moved,
}

/// Why a chunk of the state could not be served at a block.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChunkQueryError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The block is unknown or not on the canonical chain.
    #[error("block {0} is not on the canonical chain")]
    NotCanonical(BlockHash),
    /// The block's tree version is no longer kept.
    #[error("block {0} is older than the kept state versions (the last {kept})", kept = super::KEPT_TREE_VERSIONS)]
    Pruned(BlockHash),
}

/// A canonical transaction with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxInfo {
    /// The transaction.
    pub tx: SignedTransaction,
    /// The block that includes it.
    pub block: BlockHash,
    /// That block's height.
    pub height: Height,
    /// Its position in the block.
    pub position: u32,
    /// How many blocks include it or build on it: 1 when it is in the tip.
    pub confirmations: u64,
}

/// Where a history page ends; pass it back to get the next, older page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryCursor {
    /// Height of the last entry returned.
    pub height: Height,
    /// Position of the last entry returned.
    pub position: u32,
}

impl fmt::Display for HistoryCursor {
    /// `height:position`, as wallets pass it back over RPC.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.height, self.position)
    }
}

impl FromStr for HistoryCursor {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("a cursor is height:position, got {text:?}");
        let (height, position) = text.split_once(':').ok_or_else(bad)?;
        Ok(HistoryCursor {
            height: Height(height.parse().map_err(|_| bad())?),
            position: position.parse().map_err(|_| bad())?,
        })
    }
}

/// One transaction touching an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The transaction.
    pub txid: TxId,
    /// The height of its block.
    pub height: Height,
    /// Its position in the block.
    pub position: u32,
}

/// A page of history, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// The entries, newest first.
    pub entries: Vec<HistoryEntry>,
    /// Where to continue, if there may be more.
    pub next: Option<HistoryCursor>,
}

impl ChainReader {
    pub(super) fn new(store: Arc<Store>, spec: ChainSpec) -> Self {
        ChainReader { store, spec }
    }

    /// Resolves once the store is closed, which happens when the chain and every reader
    /// are gone. A node waits on it at shutdown so that the next start (or the process
    /// exit) finds the database shut.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closed = self.store.watch_closed();
        async move { while closed.changed().await.is_ok() {} }
    }

    /// The chain spec.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// The canonical tip as stored.
    pub fn tip(&self) -> Result<TipInfo, StoreError> {
        let hash = self
            .store
            .get::<Meta>(&MetaKey::Tip)?
            .ok_or_else(|| self.store.corrupt("no tip"))?;
        let hash = BlockHash::from_bytes(hash.0);
        let entry = self
            .index_entry(&hash)?
            .ok_or_else(|| self.store.corrupt("tip not in the index"))?;
        Ok(TipInfo {
            hash,
            header: entry.header,
            cumulative_work: entry.cumulative_work,
        })
    }

    /// Each table's name and its bytes (see [`Store::table_bytes`]).
    pub fn table_bytes(&self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        self.store.table_bytes()
    }

    /// A block's index entry (header, work, status), on any branch.
    pub fn index_entry(&self, hash: &BlockHash) -> Result<Option<BlockIndexEntry>, StoreError> {
        self.store.get::<BlockIndex>(hash)
    }

    /// What a child of block `hash` is checked against: its height, timestamp and the
    /// median time past of it and its ten predecessors. `None` if `hash` is unknown.
    pub fn parent_context(&self, hash: &BlockHash) -> Result<Option<ParentContext>, StoreError> {
        let Some(parent) = self.header(hash)? else {
            return Ok(None);
        };
        parent_context(self.store.as_ref(), hash, &parent).map(Some)
    }

    /// A header by hash, on any branch.
    pub fn header(&self, hash: &BlockHash) -> Result<Option<Header>, StoreError> {
        Ok(self.index_entry(hash)?.map(|e| e.header))
    }

    /// The canonical block hash at `height`.
    pub fn hash_at(&self, height: Height) -> Result<Option<BlockHash>, StoreError> {
        self.store.get::<Canonical>(&height)
    }

    /// Up to `count` (at most [`MAX_HEADERS_PER_READ`]) canonical headers from height
    /// `start` up, each the parent of the next. A reorg while they are read ends the
    /// answer at the first header that does not follow the one before.
    pub fn canonical_headers(
        &self,
        start: Height,
        count: usize,
    ) -> Result<Vec<Header>, StoreError> {
        let count = count.min(MAX_HEADERS_PER_READ);
        let end = Height(start.value().saturating_add(count as u64));
        let hashes: Vec<BlockHash> = self
            .store
            .scan_forward::<Canonical>(&start.to_key(), &end.to_key(), count)?
            .into_iter()
            .map(|(_, hash)| hash)
            .collect();
        let entries = self.store.multi_get::<BlockIndex>(&hashes)?;
        let mut headers: Vec<Header> = Vec::with_capacity(hashes.len());
        for (hash, entry) in hashes.iter().zip(entries) {
            let Some(entry) = entry else {
                return Err(self
                    .store
                    .corrupt(&format!("canonical block {hash} missing from the index")));
            };
            let follows = headers.last().is_none_or(|previous| {
                entry.header.parent == previous.hash()
                    && previous.height.next() == Some(entry.header.height)
            });
            if !follows {
                break;
            }
            headers.push(entry.header);
        }
        Ok(headers)
    }

    /// A block by hash, on any branch.
    pub fn block(&self, hash: &BlockHash) -> Result<Option<Block>, StoreError> {
        self.store.get::<BlockBodies>(hash)
    }

    /// The canonical block at `height`.
    pub fn block_at(&self, height: Height) -> Result<Option<Block>, StoreError> {
        match self.hash_at(height)? {
            Some(hash) => self.block(&hash),
            None => Ok(None),
        }
    }

    /// Whether `hash` is on the canonical chain.
    pub fn is_canonical(&self, hash: &BlockHash) -> Result<bool, StoreError> {
        match self.header(hash)? {
            Some(header) => Ok(self.hash_at(header.height)? == Some(*hash)),
            None => Ok(false),
        }
    }

    /// A canonical transaction with its block and confirmations.
    pub fn transaction(&self, id: &TxId) -> Result<Option<TxInfo>, StoreError> {
        let Some(location) = self.store.get::<TxIndex>(id)? else {
            return Ok(None);
        };
        let (header, tx) = self
            .store
            .get_part::<BlockBodies, _>(&location.block, |bytes| {
                decode_transaction_at(bytes, location.position)
            })?
            .ok_or_else(|| {
                self.store.corrupt(&format!(
                    "tx index points at missing block {}",
                    location.block
                ))
            })?
            .ok_or_else(|| {
                self.store
                    .corrupt(&format!("tx index points past block {}", location.block))
            })?;
        let height = header.height;
        let tip = self.tip()?.height();
        let confirmations = tip.blocks_since(height).map_or(0, |d| d.saturating_add(1));
        Ok(Some(TxInfo {
            tx,
            block: location.block,
            height,
            position: location.position,
            confirmations,
        }))
    }

    /// Where the transaction index says `id` is: its block and position.
    pub fn tx_location(&self, id: &TxId) -> Result<Option<TxLocation>, StoreError> {
        self.store.get::<TxIndex>(id)
    }

    /// An account at the tip; an address never touched has balance 0 and nonce 0.
    pub fn account(&self, address: &Address) -> Result<Account, StoreError> {
        Ok(self.store.get::<Accounts>(address)?.unwrap_or_default())
    }

    /// The tip accounts of `addresses`, read at once (one RocksDB `MultiGet`), as the
    /// state that transactions from them are checked against; an address never seen is
    /// the zero account, as in [`Self::account`].
    pub fn accounts(&self, addresses: &[Address]) -> Result<MemoryState, StoreError> {
        let accounts = self.store.multi_get::<Accounts>(addresses)?;
        Ok(MemoryState::new(addresses.iter().zip(accounts).map(
            |(address, account)| (*address, account.unwrap_or_default()),
        )))
    }

    /// Every account, in address order. Scans the whole table: for audits and tests, not
    /// for serving requests.
    pub fn all_accounts(&self) -> Result<Vec<(Address, Account)>, StoreError> {
        self.store.scan_all::<Accounts>()
    }

    /// A [`StoreError::Corrupt`] naming this store.
    pub(super) fn corrupt(&self, reason: &str) -> StoreError {
        self.store.corrupt(reason)
    }

    /// A canonical block's state root, as the chain recorded it when it connected the
    /// block, and as the tree on disk holds it at that version (`None` there if the
    /// version was pruned). `None` for a block that is not canonical.
    pub fn state_root(
        &self,
        hash: &BlockHash,
    ) -> Result<Option<(StateRoot, Option<StateRoot>)>, StoreError> {
        let Some(entry) = self.store.get::<StateRoots>(hash)? else {
            return Ok(None);
        };
        let in_tree = super::state_tree::root_at(&*self.store, entry.version)?;
        Ok(Some((entry.root, in_tree)))
    }

    /// The account at `address` after canonical block `block`, with the proof of it (or
    /// of its absence) under that block's state root. The account is read at the tip and
    /// taken back through the undo records of the blocks since, at most
    /// [`MAX_PROOF_DEPTH`] of them. The proof is checked before it is returned: a store
    /// that cannot prove what it holds says so.
    pub fn account_proof(
        &self,
        address: &Address,
        block: &BlockHash,
    ) -> Result<ProvenAccount, ProofQueryError> {
        let entry = self
            .store
            .get::<StateRoots>(block)?
            .ok_or(ProofQueryError::NotCanonical(*block))?;
        if super::state_tree::root_at(&*self.store, entry.version)?.is_none() {
            return Err(ProofQueryError::Pruned(*block));
        }
        let height = self
            .index_entry(block)?
            .ok_or(ProofQueryError::NotCanonical(*block))?
            .header
            .height;
        let tip = self.tip()?;
        if tip.height().blocks_since(height).unwrap_or(0) > MAX_PROOF_DEPTH {
            return Err(ProofQueryError::TooDeep(*block));
        }
        let mut account = self.store.get::<Accounts>(address)?;
        let mut at = tip.height();
        while at > height {
            let hash = self.hash_at(at)?.ok_or(ProofQueryError::Moved)?;
            let undo = self
                .store
                .get::<Undo>(&hash)?
                .ok_or(ProofQueryError::Moved)?;
            if let Some((_, previous)) = undo.previous.iter().find(|(a, _)| a == address) {
                account = *previous;
            }
            at = Height(at.value().saturating_sub(1));
        }
        let proof =
            super::state_tree::prove(&*self.store, entry.version, address, account.as_ref())?;
        // The tip moved while we read (a block connected or a reorg): the account read
        // and the tree version may be of different states. Asking again settles it.
        if proof
            .verify(&entry.root, address, account.as_ref())
            .is_err()
        {
            return Err(ProofQueryError::Moved);
        }
        Ok(ProvenAccount {
            block: *block,
            height,
            root: entry.root,
            account,
            proof,
        })
    }

    /// The subtree at `prefix` of the state after canonical block `pivot`, as a node
    /// joining by snapshot asks for it: its accounts if there are at most `max_accounts`
    /// (capped at [`MAX_CHUNK_ACCOUNTS`]), else its children. Read from the tree's
    /// version of that block alone, so the chain moving on does not change the answer.
    pub fn state_chunk(
        &self,
        pivot: &BlockHash,
        prefix: &KeyPrefix,
        max_accounts: usize,
    ) -> Result<Chunk, ChunkQueryError> {
        let entry = self
            .store
            .get::<StateRoots>(pivot)?
            .ok_or(ChunkQueryError::NotCanonical(*pivot))?;
        let max_accounts = max_accounts.min(MAX_CHUNK_ACCOUNTS);
        super::state_chunks::chunk(&*self.store, entry.version, prefix, max_accounts)?
            .ok_or(ChunkQueryError::Pruned(*pivot))
    }

    /// Every account after canonical block `block`, read from its tree version, in key
    /// order; `None` if the block has no state root recorded or its version is no longer
    /// kept. Reads the whole state: for offline checks.
    pub fn state_at(
        &self,
        block: &BlockHash,
    ) -> Result<Option<Vec<(Address, Account)>>, StoreError> {
        let Some(entry) = self.store.get::<StateRoots>(block)? else {
            return Ok(None);
        };
        super::state_chunks::all_accounts(&*self.store, entry.version)
    }

    /// The lowest block whose state and body the store holds: the pivot of the snapshot
    /// it was restored from, else genesis.
    pub fn floor(&self) -> Result<Height, StoreError> {
        super::restore::floor(&*self.store)
    }

    /// Canonical transactions touching `address`, newest first, at most `limit` (capped at
    /// [`MAX_HISTORY_PAGE`]), starting below `cursor`.
    pub fn history(
        &self,
        address: &Address,
        cursor: Option<HistoryCursor>,
        limit: usize,
    ) -> Result<HistoryPage, StoreError> {
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        let start = match cursor {
            // The cursor's own entry was on the previous page: start just below it.
            Some(c) => match c.position.checked_sub(1) {
                Some(position) => HistoryKey {
                    address: *address,
                    height: c.height,
                    position,
                }
                .to_key(),
                None => match c.height.parent() {
                    Some(height) => HistoryKey {
                        address: *address,
                        height,
                        position: u32::MAX,
                    }
                    .to_key(),
                    None => {
                        return Ok(HistoryPage {
                            entries: Vec::new(),
                            next: None,
                        })
                    }
                },
            },
            None => HistoryKey {
                address: *address,
                height: Height(u64::MAX),
                position: u32::MAX,
            }
            .to_key(),
        };
        // One extra entry tells whether another page exists.
        let mut found = self.store.scan_back::<AddressHistory>(
            &start,
            address.as_bytes(),
            limit.saturating_add(1),
        )?;
        let more = found.len() > limit;
        found.truncate(limit);
        let entries: Vec<HistoryEntry> = found
            .into_iter()
            .map(|(key, txid)| HistoryEntry {
                txid,
                height: key.height,
                position: key.position,
            })
            .collect();
        let next = if more {
            entries.last().map(|e| HistoryCursor {
                height: e.height,
                position: e.position,
            })
        } else {
            None
        };
        Ok(HistoryPage { entries, next })
    }
}

/// The context of `parent` (whose hash is `hash`), walking the index for timestamps.
pub(super) fn parent_context(
    store: &impl TableReads,
    hash: &BlockHash,
    parent: &Header,
) -> Result<ParentContext, StoreError> {
    let mut timestamps = vec![parent.timestamp];
    let mut cursor = *parent;
    while timestamps.len() < MEDIAN_TIME_SPAN && cursor.height > Height::GENESIS {
        cursor = store
            .get::<BlockIndex>(&cursor.parent)?
            .ok_or_else(|| {
                store.corrupt(&format!("block {} missing from the index", cursor.parent))
            })?
            .header;
        timestamps.push(cursor.timestamp);
    }
    Ok(ParentContext {
        hash: *hash,
        height: parent.height,
        timestamp: parent.timestamp,
        median_time_past: median_time_past(&timestamps).unwrap_or(parent.timestamp),
    })
}
