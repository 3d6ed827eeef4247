//! Block headers and blocks.

mod merkle;

pub use merkle::{merkle_path, merkle_root, verify_merkle_path};

use sha2::{Digest, Sha256};

use crate::encoding::{self, Decode, DecodeError, Encode, Reader, Writer};
use crate::tx::{SignedTransaction, SIGNED_TRANSACTION_LEN};
use crate::types::{
    Address, BlockHash, Height, MerkleRoot, SignedTxHash, StateRoot, Target, Timestamp, TxId,
};

/// The only header version this software validates.
pub const BLOCK_VERSION: u32 = 1;

/// The encoded size of a [`Header`].
pub const HEADER_LEN: usize = 4 + 8 + 32 + 32 + 32 + 8 + 32 + 32 + 8;

/// No chain spec may allow blocks larger than this; it bounds what a decoder will read.
pub const MAX_BLOCK_BYTES_LIMIT: usize = 8 * 1024 * 1024;

/// The most transactions that fit in [`MAX_BLOCK_BYTES_LIMIT`].
pub const MAX_BLOCK_TRANSACTIONS_LIMIT: usize =
    (MAX_BLOCK_BYTES_LIMIT - HEADER_LEN - 8) / SIGNED_TRANSACTION_LEN;

/// A block header. Its hash identifies the block and must meet its target.
///
/// The encoding puts `nonce` last, so a miner hashes the fixed first 128 bytes once and
/// only the last two blocks of SHA-256 per nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// The rules this block follows; see [`BLOCK_VERSION`].
    pub version: u32,
    /// The parent's height plus one; genesis is 0.
    pub height: Height,
    /// The parent's hash; zero for genesis.
    pub parent: BlockHash,
    /// Commits to the transactions (see [`merkle_root`]). In the genesis header it carries
    /// the chain spec's hash instead (see `genesis`).
    pub merkle_root: MerkleRoot,
    /// The root of the state map (`state_map`) after the block: every account, once
    /// the block's transactions and reward are applied. Genesis commits to its
    /// allocations.
    pub state_root: StateRoot,
    /// When the block was made, in milliseconds since the Unix epoch.
    pub timestamp: Timestamp,
    /// The proof-of-work target the hash must meet.
    pub target: Target,
    /// Who receives the block reward and fees.
    pub miner: Address,
    /// Varied by miners until the hash meets the target.
    pub nonce: u64,
}

impl Header {
    /// The block hash: SHA-256 of the header's encoding.
    pub fn hash(&self) -> BlockHash {
        BlockHash::from_bytes(Sha256::digest(encoding::encode(self)).into())
    }

    /// Whether the hash meets the header's own target.
    pub fn meets_target(&self) -> bool {
        self.target.is_met_by(&self.hash())
    }
}

impl Encode for Header {
    fn encode(&self, w: &mut Writer) {
        w.u32(self.version);
        w.u64(self.height.value());
        w.array(self.parent.as_bytes());
        w.array(self.merkle_root.as_bytes());
        w.array(self.state_root.as_bytes());
        w.u64(self.timestamp.as_millis());
        w.array(&self.target.to_be_bytes());
        w.array(self.miner.as_bytes());
        w.u64(self.nonce);
    }
}

impl Decode for Header {
    const MAX_ENCODED_LEN: usize = HEADER_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Header {
            version: r.u32("version")?,
            height: Height(r.u64("height")?),
            parent: BlockHash::from_bytes(r.array("parent")?),
            merkle_root: MerkleRoot::from_bytes(r.array("merkle_root")?),
            state_root: StateRoot::from_bytes(r.array("state_root")?),
            timestamp: Timestamp(r.u64("timestamp")?),
            target: Target::from_be_bytes(r.array("target")?).map_err(|e| {
                DecodeError::Invalid {
                    what: "target",
                    reason: e.to_string(),
                }
            })?,
            miner: Address::from_bytes(r.array("miner")?),
            nonce: r.u64("nonce")?,
        })
    }
}

/// A header and its transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The transactions, applied in this order.
    pub transactions: Vec<SignedTransaction>,
}

impl Block {
    /// The block's hash (its header's).
    pub fn hash(&self) -> BlockHash {
        self.header.hash()
    }

    /// The ids of the transactions, in order.
    pub fn tx_ids(&self) -> Vec<TxId> {
        self.transactions
            .iter()
            .map(SignedTransaction::id)
            .collect()
    }

    /// The hashes of the transactions' exact bytes, in order: the Merkle tree's leaves.
    pub fn signed_hashes(&self) -> Vec<SignedTxHash> {
        self.transactions
            .iter()
            .map(SignedTransaction::signed_hash)
            .collect()
    }

    /// The Merkle root of the transactions, to compare with the header's.
    pub fn computed_merkle_root(&self) -> MerkleRoot {
        merkle_root(&self.signed_hashes())
    }

    /// The size of the block's encoding, computed without encoding it.
    pub fn encoded_len(&self) -> u64 {
        let txs = (self.transactions.len() as u64).saturating_mul(SIGNED_TRANSACTION_LEN as u64);
        txs.saturating_add((HEADER_LEN + 8) as u64)
    }
}

impl Encode for Block {
    fn encode(&self, w: &mut Writer) {
        self.header.encode(w);
        w.seq(&self.transactions);
    }
}

impl Decode for Block {
    const MAX_ENCODED_LEN: usize = MAX_BLOCK_BYTES_LIMIT;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = Header::decode(r)?;
        let transactions = r.seq(
            "transactions",
            MAX_BLOCK_TRANSACTIONS_LIMIT,
            SIGNED_TRANSACTION_LEN,
        )?;
        Ok(Block {
            header,
            transactions,
        })
    }
}

/// The header and the transaction at `position` of an encoded block, decoding nothing
/// else: a lookup by transaction id would otherwise decode (and hash) every transaction
/// of the block to return one. `None` if the block holds fewer transactions.
pub fn decode_transaction_at(
    encoded: &[u8],
    position: u32,
) -> Result<Option<(Header, SignedTransaction)>, DecodeError> {
    encoding::decode_part(encoded, Block::MAX_ENCODED_LEN, |r| {
        let header = Header::decode(r)?;
        let count = r.seq_len(
            "transactions",
            MAX_BLOCK_TRANSACTIONS_LIMIT,
            SIGNED_TRANSACTION_LEN,
        )?;
        let Ok(position) = usize::try_from(position) else {
            return Ok(None);
        };
        if position >= count {
            return Ok(None);
        }
        r.skip(
            position.saturating_mul(SIGNED_TRANSACTION_LEN),
            "transactions",
        )?;
        Ok(Some((header, SignedTransaction::decode(r)?)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::dev_secret_key;
    use crate::tx::Transaction;
    use crate::types::{Amount, ChainId};
    use proptest::prelude::*;

    fn header(nonce: u64) -> Header {
        Header {
            version: BLOCK_VERSION,
            height: Height(3),
            parent: BlockHash::from_bytes([1; 32]),
            merkle_root: MerkleRoot::from_bytes([2; 32]),
            state_root: StateRoot::from_bytes([4; 32]),
            timestamp: Timestamp(1_700_000_000_000),
            target: Target::MAX,
            miner: Address::from_bytes([3; 32]),
            nonce,
        }
    }

    fn block(txs: u64) -> Block {
        let transactions = (0..txs)
            .map(|nonce| {
                Transaction {
                    chain_id: ChainId(1),
                    from: dev_secret_key(0).address(),
                    to: dev_secret_key(1).address(),
                    amount: Amount::from_base_units(5),
                    fee: Amount::from_base_units(1),
                    nonce,
                }
                .sign(&dev_secret_key(0))
            })
            .collect();
        Block {
            header: header(0),
            transactions,
        }
    }

    #[test]
    fn one_transaction_decodes_from_a_block_without_the_rest() {
        let block = block(5);
        let encoded = encoding::encode(&block);
        for (position, tx) in (0u32..).zip(&block.transactions) {
            let (header, found) = decode_transaction_at(&encoded, position).unwrap().unwrap();
            assert_eq!(header, block.header);
            assert_eq!(&found, tx);
        }
        assert_eq!(decode_transaction_at(&encoded, 5).unwrap(), None);
        assert_eq!(decode_transaction_at(&encoded, u32::MAX).unwrap(), None);
        // A damaged copy fails to decode rather than yielding a wrong transaction.
        let cut = encoded.get(..encoded.len() - 1).unwrap();
        assert!(decode_transaction_at(cut, 0).is_err());
        assert!(decode_transaction_at(encoded.get(..HEADER_LEN + 3).unwrap(), 0).is_err());
    }

    #[test]
    fn header_layout_puts_the_nonce_last() {
        let bytes = encoding::encode(&header(0x0102_0304_0506_0708));
        assert_eq!(bytes.len(), HEADER_LEN);
        assert_eq!(
            bytes[HEADER_LEN - 8..],
            0x0102_0304_0506_0708u64.to_le_bytes()
        );
    }

    #[test]
    fn blocks_round_trip_and_know_their_size() {
        let block = block(3);
        let bytes = encoding::encode(&block);
        assert_eq!(bytes.len() as u64, block.encoded_len());
        assert_eq!(encoding::decode::<Block>(&bytes), Ok(block));
    }

    #[test]
    fn a_zero_target_does_not_decode() {
        let mut bytes = encoding::encode(&header(0));
        bytes[116..148].fill(0);
        assert!(matches!(
            encoding::decode::<Header>(&bytes),
            Err(DecodeError::Invalid { what: "target", .. })
        ));
    }

    #[test]
    fn a_huge_transaction_count_is_refused_before_allocating() {
        let mut bytes = encoding::encode(&block(0));
        bytes[HEADER_LEN..].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            encoding::decode::<Block>(&bytes),
            Err(DecodeError::TooLong { .. })
        ));
        bytes[HEADER_LEN..].copy_from_slice(&1000u64.to_le_bytes());
        assert!(matches!(
            encoding::decode::<Block>(&bytes),
            Err(DecodeError::Truncated { .. })
        ));
    }

    proptest! {
        #[test]
        fn header_round_trips(nonce: u64, height: u64, time: u64, target in any::<[u8; 32]>().prop_filter("non-zero", |t| t.iter().any(|b| *b != 0))) {
            let mut h = header(nonce);
            h.height = Height(height);
            h.timestamp = Timestamp(time);
            h.target = Target::from_be_bytes(target).unwrap();
            prop_assert_eq!(encoding::decode::<Header>(&encoding::encode(&h)), Ok(h));
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = encoding::decode::<Block>(&bytes);
            let _ = encoding::decode::<Header>(&bytes);
        }
    }
}
