//! The `chain` namespace's JSON shapes, one type per response, converted from domain
//! types (the conversions from `tern-state`'s types only with the server).
//!
//! Conventions: hashes are lowercase hex; addresses are bech32m under the chain's prefix;
//! amounts and fees are decimal strings of base units (JavaScript cannot hold every u64);
//! heights, nonces, positions and timestamps (milliseconds) are numbers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tern_chain::block::{Block, Header};
#[cfg(feature = "server")]
use tern_chain::genesis::ChainSpec;
use tern_chain::tx::SignedTransaction;
use tern_chain::types::{AddressPrefix, Amount, Work};
#[cfg(feature = "server")]
use tern_state::chain::{HistoryEntry, HistoryPage, TipInfo};

/// A block named by its hash or its height on the canonical chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BlockId {
    /// A height on the canonical chain.
    Height(u64),
    /// A block hash (64 hex digits).
    Hash(String),
}

/// `chain_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainInfo {
    /// The chain id in every transaction.
    pub chain_id: u32,
    /// The chain's name.
    pub name: String,
    /// The address prefix.
    pub address_prefix: String,
    /// The genesis hash, which identifies the chain.
    pub genesis_hash: String,
    /// The tip's height.
    pub height: u64,
    /// The tip's hash.
    pub best_hash: String,
    /// Cumulative work of the chain, decimal.
    pub cumulative_work: String,
    /// The target the next block must meet, 64 hex digits.
    pub current_target: String,
    /// Whether the node is catching up with its peers.
    pub syncing: bool,
    /// Whether the chain allows `dev_mine`.
    pub dev_mining: bool,
}

#[cfg(feature = "server")]
impl ChainInfo {
    /// The info of `spec` (whose genesis hash is `genesis_hash`) at `tip`.
    pub fn new(
        spec: &ChainSpec,
        genesis_hash: String,
        tip: &TipInfo,
        next_target: String,
        syncing: bool,
    ) -> Self {
        ChainInfo {
            chain_id: spec.consensus.chain_id.0,
            name: spec.name.clone(),
            address_prefix: spec.address_prefix.to_string(),
            genesis_hash,
            height: tip.height().value(),
            best_hash: tip.hash.to_string(),
            cumulative_work: tip.cumulative_work.to_string(),
            current_target: next_target,
            syncing,
            dev_mining: spec.dev_mining,
        }
    }
}

/// A block header with its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderJson {
    /// The block hash.
    pub hash: String,
    /// The header version.
    pub version: u32,
    /// The height.
    pub height: u64,
    /// The parent's hash.
    pub parent: String,
    /// The transactions' Merkle root.
    pub merkle_root: String,
    /// The root of the state map after the block: every account's balance and nonce
    /// (`account_getProof` proves one against it).
    pub state_root: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The proof-of-work target, 64 hex digits.
    pub target: String,
    /// Who was paid the reward and fees.
    pub miner: String,
    /// The proof-of-work nonce, decimal (it uses all 64 bits).
    pub nonce: String,
}

impl HeaderJson {
    /// The JSON form of `header`.
    pub fn new(header: &Header, prefix: &AddressPrefix) -> Self {
        HeaderJson {
            hash: header.hash().to_string(),
            version: header.version,
            height: header.height.value(),
            parent: header.parent.to_string(),
            merkle_root: header.merkle_root.to_string(),
            state_root: header.state_root.to_string(),
            timestamp: header.timestamp.as_millis(),
            target: header.target.to_string(),
            miner: header.miner.to_bech32(prefix),
            nonce: header.nonce.to_string(),
        }
    }
}

/// A transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionJson {
    /// The transaction id: the hash of the unsigned fields, the same for every valid
    /// encoding of the transfer.
    pub id: String,
    /// The hash of these exact signed bytes (what blocks commit to).
    pub signed_hash: String,
    /// The chain it is signed for.
    pub chain_id: u32,
    /// The sender's address.
    pub from: String,
    /// The recipient's address.
    pub to: String,
    /// Base units the recipient receives.
    pub amount: String,
    /// Base units the miner receives.
    pub fee: String,
    /// The sender's nonce.
    pub nonce: u64,
    /// The signature, 128 hex digits.
    pub signature: String,
}

impl TransactionJson {
    /// The JSON form of `tx`.
    pub fn new(signed: &SignedTransaction, prefix: &AddressPrefix) -> Self {
        let tx = signed.tx();
        TransactionJson {
            id: signed.id().to_string(),
            signed_hash: signed.signed_hash().to_string(),
            chain_id: tx.chain_id.0,
            from: tx.from.to_bech32(prefix),
            to: tx.to.to_bech32(prefix),
            amount: tx.amount.to_string(),
            fee: tx.fee.to_string(),
            nonce: tx.nonce,
            signature: hex::encode(signed.signature().as_bytes()),
        }
    }
}

/// A block's transactions: ids, or whole transactions when asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BlockTransactions {
    /// Whole transactions.
    Full(Vec<TransactionJson>),
    /// Transaction ids.
    Ids(Vec<String>),
}

/// `chain_getBlock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockJson {
    /// The header fields and hash.
    #[serde(flatten)]
    pub header: HeaderJson,
    /// The encoded size in bytes.
    pub size: u64,
    /// The expected number of hashes its target took, decimal.
    pub work: String,
    /// The work of its chain from genesis up to and including it, decimal.
    pub cumulative_work: String,
    /// The sum of its transactions' fees, base units.
    pub fees: String,
    /// What its miner was paid: the block reward plus the fees (nothing for genesis).
    pub miner_reward: String,
    /// Whether it is on the canonical chain now: `false` for a block a reorg took out,
    /// or one of a branch that never won.
    pub canonical: bool,
    /// The transactions.
    pub transactions: BlockTransactions,
}

/// What the store knows of a block beyond its bytes, for [`BlockJson::new`].
#[derive(Debug, Clone, Copy)]
pub struct BlockStanding {
    /// The work of its chain up to and including it.
    pub cumulative_work: Work,
    /// Whether it is on the canonical chain.
    pub canonical: bool,
    /// The chain's block reward (paid to every block but genesis).
    pub block_reward: Amount,
}

impl BlockJson {
    /// The JSON form of `block`, with whole transactions if `full`.
    pub fn new(block: &Block, standing: BlockStanding, full: bool, prefix: &AddressPrefix) -> Self {
        let transactions = if full {
            BlockTransactions::Full(
                block
                    .transactions
                    .iter()
                    .map(|t| TransactionJson::new(t, prefix))
                    .collect(),
            )
        } else {
            BlockTransactions::Ids(
                block
                    .transactions
                    .iter()
                    .map(|t| t.id().to_string())
                    .collect(),
            )
        };
        // A stored block passed validation, which checked that its fees and reward fit;
        // the cap only keeps this total for any input.
        let fees = Amount::checked_sum(block.transactions.iter().map(|t| t.tx().fee))
            .unwrap_or(Amount::MAX);
        let reward = if block.header.height.value() == 0 {
            Amount::ZERO
        } else {
            standing
                .block_reward
                .checked_add(fees)
                .unwrap_or(Amount::MAX)
        };
        BlockJson {
            header: HeaderJson::new(&block.header, prefix),
            size: block.encoded_len(),
            work: block.header.target.work().to_string(),
            cumulative_work: standing.cumulative_work.to_string(),
            fees: fees.to_string(),
            miner_reward: reward.to_string(),
            canonical: standing.canonical,
            transactions,
        }
    }
}

/// `account_get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountJson {
    /// The address.
    pub address: String,
    /// The balance at the tip.
    pub balance: String,
    /// The nonce at the tip: how many transactions it has sent.
    pub nonce: u64,
    /// The nonce its next transaction should use, after its pending ones.
    pub pending_nonce: u64,
    /// The balance once its pending transactions are mined (what it sends; incoming
    /// pending transfers are not counted).
    pub pending_balance: String,
}

/// `tx_getProof`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxProofJson {
    /// The transaction id.
    pub txid: String,
    /// The hash of its exact bytes, signature included: its leaf commits to this.
    pub signed_hash: String,
    /// The block that includes it.
    pub block_hash: String,
    /// That block's height.
    pub height: u64,
    /// Its index in the block.
    pub position: u32,
    /// The block's transaction count.
    pub count: u32,
    /// The audit path: sibling hashes (hex) from its leaf up to the header's Merkle root.
    pub path: Vec<String>,
}

/// `account_getProof`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountProofJson {
    /// The address.
    pub address: String,
    /// The balance at the block (`"0"` if it has no account).
    pub balance: String,
    /// The nonce at the block (0 if it has no account).
    pub nonce: u64,
    /// Whether the address has an account at the block.
    pub exists: bool,
    /// The block the answer is for.
    pub block: ProofBlockJson,
    /// The proof, hex of its encoding (docs/PROTOCOL.md, "Account proofs").
    pub proof: String,
}

/// The block an account proof is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProofBlockJson {
    /// Its hash.
    pub hash: String,
    /// Its height.
    pub height: u64,
    /// The root of the accounts after it, which the proof leads to.
    pub state_root: String,
}

/// One entry of `account_history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntryJson {
    /// The transaction id.
    pub txid: String,
    /// The height of its block.
    pub height: u64,
    /// Its position in the block.
    pub position: u32,
}

/// `account_history`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPageJson {
    /// The entries, newest first.
    pub entries: Vec<HistoryEntryJson>,
    /// Pass this as `cursor` for the next, older page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_cursor: Option<String>,
}

#[cfg(feature = "server")]
impl From<HistoryPage> for HistoryPageJson {
    fn from(page: HistoryPage) -> Self {
        HistoryPageJson {
            entries: page
                .entries
                .iter()
                .map(
                    |HistoryEntry {
                         txid,
                         height,
                         position,
                     }| HistoryEntryJson {
                        txid: txid.to_string(),
                        height: height.value(),
                        position: *position,
                    },
                )
                .collect(),
            next_cursor: page.next.map(|c| c.to_string()),
        }
    }
}

/// `mempool_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MempoolInfo {
    /// Transactions pending.
    pub count: usize,
    /// Their bytes.
    pub bytes: usize,
    /// The lowest fee a transfer is admitted with now.
    pub minimum_fee: String,
    /// Rejections since the node started, by reason.
    pub rejections: BTreeMap<String, u64>,
    /// The pending transactions counted by fee, highest fees first.
    pub fee_histogram: Vec<FeeBucketJson>,
}

/// One bar of `mempool_info`'s fee histogram: the transactions paying from `minFee` to
/// `maxFee`, bounds that double from one bar to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeBucketJson {
    /// The lowest fee of the bar (a power of two, or zero), base units.
    pub min_fee: String,
    /// The highest fee of the bar, base units.
    pub max_fee: String,
    /// How many pending transactions pay a fee in the bar.
    pub count: usize,
    /// Their bytes.
    pub bytes: usize,
}

/// One entry of `mempool_list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MempoolEntry {
    /// The transaction id.
    pub txid: String,
    /// Its fee.
    pub fee: String,
    /// Its sender.
    pub sender: String,
    /// Its recipient.
    pub recipient: String,
    /// What it transfers, base units.
    pub amount: String,
    /// Its nonce.
    pub nonce: u64,
}

/// Whether a block joined or left the canonical chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadKind {
    /// Now canonical.
    Connect,
    /// No longer canonical.
    Disconnect,
}

/// One tip change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadEvent {
    /// Identifies this run of the node; sequence numbers restart with a new epoch. A
    /// decimal string: it is above 2^53, where a JavaScript number loses digits.
    #[serde(with = "decimal_string")]
    pub epoch: u64,
    /// Consecutive from 1 within an epoch.
    pub seq: u64,
    /// Connect or disconnect.
    pub kind: HeadKind,
    /// The block's header.
    pub header: HeaderJson,
}

/// Where a reconnecting client left off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeFrom {
    /// The epoch of the last event it saw, as a decimal string (a number is accepted
    /// too, when it is exact).
    #[serde(with = "decimal_string")]
    pub epoch: u64,
    /// The sequence number of the last event it saw.
    pub seq: u64,
    /// The hash of the block its view of the chain ends at (the last connected header,
    /// or the parent of the last disconnected one): with it, the subscription resumes
    /// even after the node restarted or the backlog moved on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip: Option<String>,
}

/// A `u64` that may exceed 2^53 as a decimal string, since a JavaScript number cannot hold
/// it exactly; read from a string, or from a JSON number for clients that send one.
mod decimal_string {
    use serde::{de, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Spelled {
            Text(String),
            Number(u64),
        }
        match Spelled::deserialize(deserializer)? {
            Spelled::Text(text) => text.parse().map_err(|_| {
                de::Error::invalid_value(de::Unexpected::Str(&text), &"a decimal string of a u64")
            }),
            Spelled::Number(n) => Ok(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_goes_out_as_a_string_and_comes_back_from_either_form() {
        let resume = ResumeFrom {
            epoch: 1_795_000_000_123_456_789,
            seq: 7,
            tip: None,
        };
        let json = serde_json::to_value(&resume).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"epoch": "1795000000123456789", "seq": 7})
        );
        assert_eq!(serde_json::from_value::<ResumeFrom>(json).unwrap(), resume);
        let number: ResumeFrom = serde_json::from_str(r#"{"epoch": 12, "seq": 1}"#).unwrap();
        assert_eq!(number.epoch, 12);
        assert!(serde_json::from_str::<ResumeFrom>(r#"{"epoch": "1e3", "seq": 1}"#).is_err());
    }
}
