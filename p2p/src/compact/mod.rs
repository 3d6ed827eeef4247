//! Compact blocks, BIP152's design: a block crosses a link as its header, a
//! [`ShortId`] of each transaction and the few transactions the sender sends whole; the
//! receiver rebuilds it from its mempool ([`PartialBlock`]), asks the sender for what it
//! lacks by position ([`BlockTxsRequest`]), and falls back to the whole block when
//! anything does not add up (two of its transactions share a short id, the rebuilt body
//! does not match the header's Merkle root). A rebuilt block is then a block like any
//! other: sync owns its request, and the chain validates it in full.
//!
//! | module | owns |
//! |---|---|
//! | `mod.rs` | the three messages' bodies and their limits |
//! | [`short_id`] | the salted 6-byte ids |
//! | [`rebuild`] | a block rebuilt from a compact one, the pool and the missing transactions |

pub mod rebuild;
pub mod short_id;

use tern_chain::block::{Block, Header, MAX_BLOCK_TRANSACTIONS_LIMIT};
use tern_chain::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use tern_chain::tx::{SignedTransaction, SIGNED_TRANSACTION_LEN};
use tern_chain::types::BlockHash;

pub use rebuild::{PartialBlock, RebuildError};
pub use short_id::{ShortId, ShortIdKey, SHORT_ID_LEN};

/// Transactions in one compact block, short ids and prefilled together, and positions in
/// one request for missing transactions: a block's most.
pub const MAX_COMPACT_TRANSACTIONS: usize = MAX_BLOCK_TRANSACTIONS_LIMIT;

/// A block as its header, the short ids of the transactions the receiver likely holds,
/// and the others whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactBlock {
    /// The block's header.
    pub header: Header,
    /// The sender's nonce for this send, keying the short ids with the header.
    pub nonce: u64,
    /// The short ids of the transactions not prefilled, in block order.
    pub short_ids: Vec<ShortId>,
    /// The transactions sent whole, by position in the block, positions increasing.
    pub prefilled: Vec<Prefilled>,
}

/// A transaction a compact block carries whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefilled {
    /// Its position in the block.
    pub index: u32,
    /// The transaction.
    pub tx: SignedTransaction,
}

impl CompactBlock {
    /// `block` as a compact block keyed with `nonce`, every transaction as a short id.
    pub fn new(block: &Block, nonce: u64) -> CompactBlock {
        let key = ShortIdKey::new(&block.header, nonce);
        CompactBlock {
            header: block.header,
            nonce,
            short_ids: block
                .transactions
                .iter()
                .map(|tx| key.short_id(&tx.signed_hash()))
                .collect(),
            prefilled: Vec::new(),
        }
    }

    /// The block's hash.
    pub fn hash(&self) -> BlockHash {
        self.header.hash()
    }

    /// How many transactions the block has.
    pub fn transaction_count(&self) -> usize {
        self.short_ids.len().saturating_add(self.prefilled.len())
    }
}

/// A nonce for one compact block's short ids: random, or from the clock should the
/// system's randomness fail (the key is unknown before the block is mined either way,
/// which is what defeats collisions ground in advance).
pub fn fresh_nonce() -> u64 {
    let mut bytes = [0; 8];
    if getrandom::fill(&mut bytes).is_err() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        return now.map_or(0, |d| d.as_nanos() as u64);
    }
    u64::from_le_bytes(bytes)
}

/// Asks the sender of a compact block for the transactions at `indexes` of block `block`
/// (BIP152's `getblocktxn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTxsRequest {
    /// The block.
    pub block: BlockHash,
    /// Positions in the block, increasing.
    pub indexes: Vec<u32>,
}

/// The answer to a [`BlockTxsRequest`]: the transactions asked for, in the order asked
/// (BIP152's `blocktxn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTxs {
    /// The block.
    pub block: BlockHash,
    /// The transactions.
    pub txs: Vec<SignedTransaction>,
}

/// Whether `indexes` increase strictly: each position once, in order.
fn increasing(indexes: impl IntoIterator<Item = u32>) -> bool {
    let mut last: Option<u32> = None;
    for index in indexes {
        if last.is_some_and(|last| index <= last) {
            return false;
        }
        last = Some(index);
    }
    true
}

fn invalid(what: &'static str, reason: &str) -> DecodeError {
    DecodeError::Invalid {
        what,
        reason: reason.to_owned(),
    }
}

impl Encode for Prefilled {
    fn encode(&self, w: &mut Writer) {
        w.u32(self.index);
        self.tx.encode(w);
    }
}

impl Decode for Prefilled {
    const MAX_ENCODED_LEN: usize = 4 + SIGNED_TRANSACTION_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Prefilled {
            index: r.u32("prefilled index")?,
            tx: SignedTransaction::decode(r)?,
        })
    }
}

impl Encode for CompactBlock {
    fn encode(&self, w: &mut Writer) {
        self.header.encode(w);
        w.u64(self.nonce);
        w.seq(&self.short_ids);
        w.seq(&self.prefilled);
    }
}

impl Decode for CompactBlock {
    const MAX_ENCODED_LEN: usize = crate::transport::MAX_MESSAGE_LEN;

    /// Refuses a block of more transactions than any block holds, and prefilled
    /// positions that do not increase or fall outside the block.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = Header::decode(r)?;
        let nonce = r.u64("nonce")?;
        let short_ids: Vec<ShortId> = r.seq("short ids", MAX_COMPACT_TRANSACTIONS, SHORT_ID_LEN)?;
        let prefilled: Vec<Prefilled> = r.seq(
            "prefilled transactions",
            MAX_COMPACT_TRANSACTIONS,
            Prefilled::MAX_ENCODED_LEN,
        )?;
        let compact = CompactBlock {
            header,
            nonce,
            short_ids,
            prefilled,
        };
        let count = compact.transaction_count();
        if count > MAX_COMPACT_TRANSACTIONS {
            return Err(invalid(
                "compact block",
                "more transactions than a block holds",
            ));
        }
        if !increasing(compact.prefilled.iter().map(|p| p.index)) {
            return Err(invalid(
                "prefilled transactions",
                "positions do not increase",
            ));
        }
        if compact
            .prefilled
            .last()
            .is_some_and(|p| p.index as usize >= count)
        {
            return Err(invalid(
                "prefilled transactions",
                "a position past the block",
            ));
        }
        Ok(compact)
    }
}

impl Encode for BlockTxsRequest {
    fn encode(&self, w: &mut Writer) {
        self.block.encode(w);
        w.u64(self.indexes.len() as u64);
        for index in &self.indexes {
            w.u32(*index);
        }
    }
}

impl Decode for BlockTxsRequest {
    const MAX_ENCODED_LEN: usize = 32 + 8 + 4 * MAX_COMPACT_TRANSACTIONS;

    /// Refuses positions that do not increase; whether they fall inside the block only its
    /// holder can tell.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let block = BlockHash::decode(r)?;
        let count = r.seq_len("block transaction indexes", MAX_COMPACT_TRANSACTIONS, 4)?;
        let mut indexes = Vec::with_capacity(count);
        for _ in 0..count {
            indexes.push(r.u32("block transaction index")?);
        }
        if !increasing(indexes.iter().copied()) {
            return Err(invalid(
                "block transaction indexes",
                "positions do not increase",
            ));
        }
        Ok(BlockTxsRequest { block, indexes })
    }
}

impl Encode for BlockTxs {
    fn encode(&self, w: &mut Writer) {
        self.block.encode(w);
        w.seq(&self.txs);
    }
}

impl Decode for BlockTxs {
    const MAX_ENCODED_LEN: usize = crate::transport::MAX_MESSAGE_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BlockTxs {
            block: BlockHash::decode(r)?,
            txs: r.seq(
                "block transactions",
                MAX_COMPACT_TRANSACTIONS,
                SIGNED_TRANSACTION_LEN,
            )?,
        })
    }
}

#[cfg(test)]
mod tests;
