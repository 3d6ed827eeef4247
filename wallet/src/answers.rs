//! The checks on a node's answers: each figure the wallet shows is proven against a
//! header of the [`VerifiedChain`], with SHA-256 alone, or refused with the
//! [`Mismatch`] that names what did not match. Pure functions of an answer and the
//! chain, so every way a node can lie is a unit test.

use tern_chain::block::verify_merkle_path;
use tern_chain::crypto::Signature;
use tern_chain::encoding;
use tern_chain::state::Account;
use tern_chain::state_map::AccountProof;
use tern_chain::tx::{SignedTransaction, Transaction};
use tern_chain::types::{Address, AddressPrefix, Amount, BlockHash, ChainId, Height, TxId};
use tern_rpc::chain::{AccountProofJson, TransactionJson, TxProofJson};

use crate::headers::{HeaderError, VerifiedChain};

/// What in a node's answer did not match the verified chain: one variant per check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// The node follows another chain (another genesis).
    #[error("it follows another chain (genesis {theirs}, not {ours})")]
    OtherChain {
        /// Its genesis hash.
        theirs: String,
        /// The wallet's.
        ours: BlockHash,
    },
    /// A header it served breaks a rule.
    #[error("its headers do not check: {0}")]
    Headers(#[from] HeaderError),
    /// Its headers do not start at the block it said its chain shares with ours.
    #[error("the header it served for height {height} does not follow the block it named at height {fork}")]
    HeadersDoNotFollow {
        /// The header's height.
        height: u64,
        /// The block it should follow.
        fork: u64,
    },
    /// A value is not what its field holds (hex, a number, an address, encoded bytes).
    #[error("its {what} does not parse: {reason}")]
    Malformed {
        /// Which value.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// It answered for another block than the one asked.
    #[error("it answered for block {answered} at height {height}, not {asked}")]
    WrongBlock {
        /// The block asked for.
        asked: BlockHash,
        /// The block answered.
        answered: String,
        /// The height answered.
        height: u64,
    },
    /// It answered for another address.
    #[error("it answered for address {answered}, not {asked}")]
    WrongAddress {
        /// The address asked for.
        asked: String,
        /// The address answered.
        answered: String,
    },
    /// The state root it gave is not the one the block's header commits to.
    #[error("it gave state root {answered} for block {block}, whose header commits to {header}")]
    StateRoot {
        /// The block.
        block: BlockHash,
        /// The header's root.
        header: String,
        /// The root it gave.
        answered: String,
    },
    /// The proof does not show the balance and nonce it answered under the header's root.
    #[error("the proof does not show {what} under block {block}'s state root: {reason}")]
    AccountProof {
        /// The figures it answered.
        what: String,
        /// The block.
        block: BlockHash,
        /// Why the proof failed.
        reason: String,
    },
    /// A transaction's bytes do not hash to the id asked for, or to the leaf it proved.
    #[error("the transaction it served is not {expected} (its bytes hash to {found})")]
    WrongTransaction {
        /// What the bytes should hash to.
        expected: String,
        /// What they hash to.
        found: String,
    },
    /// The block it names for a transaction is not the verified chain's at that height.
    #[error("it places the transaction in block {block} at height {height}, which is not in the chain with the most work (that has {ours} there)")]
    NotInChain {
        /// The block named.
        block: String,
        /// Its height.
        height: u64,
        /// What the verified chain has at that height, if it reaches it.
        ours: String,
    },
    /// The audit path does not lead from the transaction to the header's Merkle root.
    #[error("the audit path does not lead from the transaction to block {block}'s Merkle root")]
    InclusionProof {
        /// The block.
        block: BlockHash,
    },
}

fn malformed(what: &'static str) -> impl Fn(String) -> Mismatch {
    move |reason| Mismatch::Malformed { what, reason }
}

/// Checks `answer` (to `account_getProof` for `address` at the chain's block `asked`)
/// against the verified chain: the block and its state root are the header's, and the
/// proof shows exactly the figures answered. Returns the account (`None`: it has none).
pub fn check_account(
    chain: &VerifiedChain,
    asked: &BlockHash,
    address: &Address,
    prefix: &AddressPrefix,
    answer: &AccountProofJson,
) -> Result<Option<Account>, Mismatch> {
    let ours = address.to_bech32(prefix);
    if answer.address != ours {
        return Err(Mismatch::WrongAddress {
            asked: ours,
            answered: answer.address.clone(),
        });
    }
    let wrong_block = || Mismatch::WrongBlock {
        asked: *asked,
        answered: answer.block.hash.clone(),
        height: answer.block.height,
    };
    let height = Height(answer.block.height);
    if answer.block.hash != asked.to_string() || chain.hash_at(height) != Some(*asked) {
        return Err(wrong_block());
    }
    let header = chain.header_at(height).ok_or_else(wrong_block)?;
    if answer.block.state_root != header.state_root.to_string() {
        return Err(Mismatch::StateRoot {
            block: *asked,
            header: header.state_root.to_string(),
            answered: answer.block.state_root.clone(),
        });
    }
    let balance: Amount = answer
        .balance
        .parse()
        .map_err(|e: tern_chain::types::ParseAmountError| malformed("balance")(e.to_string()))?;
    let account = answer.exists.then_some(Account {
        balance,
        nonce: answer.nonce,
    });
    if !answer.exists && (balance != Amount::ZERO || answer.nonce != 0) {
        return Err(Mismatch::AccountProof {
            what: format!(
                "no account, yet balance {balance} and nonce {}",
                answer.nonce
            ),
            block: *asked,
            reason: "an absent account has neither".into(),
        });
    }
    let bytes = hex::decode(&answer.proof).map_err(|e| malformed("proof")(e.to_string()))?;
    let proof: AccountProof =
        encoding::decode(&bytes).map_err(|e| malformed("proof")(e.to_string()))?;
    proof
        .verify(&header.state_root, address, account.as_ref())
        .map_err(|e| Mismatch::AccountProof {
            what: match &account {
                Some(a) => format!("balance {} and nonce {}", a.balance, a.nonce),
                None => "no account".into(),
            },
            block: *asked,
            reason: e.to_string(),
        })?;
    Ok(account)
}

/// A transaction proven to be in a block of the verified chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inclusion {
    /// The block.
    pub block: BlockHash,
    /// Its height.
    pub height: Height,
    /// The transaction's index in it.
    pub position: u32,
    /// Blocks from it to the verified tip, itself included.
    pub confirmations: u64,
}

/// Checks that transaction `txid`, whose bytes the node served as `transaction`, is in a
/// block of the verified chain as `proof` (its answer to `tx_getProof`) says.
pub fn check_inclusion(
    chain: &VerifiedChain,
    txid: &TxId,
    transaction: &TransactionJson,
    proof: &TxProofJson,
) -> Result<Inclusion, Mismatch> {
    let signed = signed_transaction(
        transaction,
        chain.spec().consensus.chain_id,
        &chain.spec().address_prefix,
    )?;
    if signed.id() != *txid {
        return Err(Mismatch::WrongTransaction {
            expected: format!("transaction {txid}"),
            found: signed.id().to_string(),
        });
    }
    if proof.signed_hash != signed.signed_hash().to_string() {
        return Err(Mismatch::WrongTransaction {
            expected: format!("the leaf {} it proved", proof.signed_hash),
            found: signed.signed_hash().to_string(),
        });
    }
    let height = Height(proof.height);
    let ours = chain.hash_at(height);
    let block: BlockHash = proof
        .block_hash
        .parse()
        .map_err(|e: tern_chain::types::HexError| malformed("block hash")(e.to_string()))?;
    let header = match (ours, chain.header_at(height)) {
        (Some(ours), Some(header)) if ours == block => header,
        _ => {
            return Err(Mismatch::NotInChain {
                block: proof.block_hash.clone(),
                height: proof.height,
                ours: ours.map_or_else(|| "no block".into(), |h| h.to_string()),
            })
        }
    };
    let path = proof
        .path
        .iter()
        .map(|sibling| {
            hex::decode(sibling)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or_else(|| {
                    malformed("audit path")(format!("{sibling:?} is not 32 bytes of hex"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = signed.signed_hash();
    if !verify_merkle_path(
        &leaf,
        u64::from(proof.position),
        u64::from(proof.count),
        &path,
        &header.merkle_root,
    ) {
        return Err(Mismatch::InclusionProof { block });
    }
    Ok(Inclusion {
        block,
        height,
        position: proof.position,
        confirmations: chain
            .height()
            .value()
            .saturating_sub(height.value())
            .saturating_add(1),
    })
}

/// The signed transaction a node's JSON describes, checked field by field.
fn signed_transaction(
    json: &TransactionJson,
    chain_id: ChainId,
    prefix: &AddressPrefix,
) -> Result<SignedTransaction, Mismatch> {
    let address = |what: &'static str, text: &str| {
        Address::from_bech32(text, prefix).map_err(|e| malformed(what)(e.to_string()))
    };
    let amount = |what: &'static str, text: &str| {
        text.parse::<Amount>()
            .map_err(|e| malformed(what)(e.to_string()))
    };
    let signature: [u8; 64] = hex::decode(&json.signature)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| malformed("signature")("not 64 bytes of hex".into()))?;
    let tx = Transaction {
        chain_id,
        from: address("sender", &json.from)?,
        to: address("recipient", &json.to)?,
        amount: amount("amount", &json.amount)?,
        fee: amount("fee", &json.fee)?,
        nonce: json.nonce,
    };
    Ok(SignedTransaction::new(tx, Signature::from_bytes(signature)))
}

#[cfg(test)]
#[path = "answers_tests.rs"]
mod tests;
