//! A block rebuilt from a compact block: its positions filled from the transactions the
//! compact block carries whole, then from those this node holds, then from the sender's
//! answer for the rest; whole only when its body matches the header's Merkle root.

use std::collections::HashMap;

use tern_chain::block::{Block, Header};
use tern_chain::tx::SignedTransaction;
use tern_chain::types::BlockHash;

use super::{CompactBlock, ShortId, ShortIdKey};

/// Why a block could not be rebuilt from its compact form: each means asking for the
/// whole block, and only [`RebuildError::AnswerMismatch`] is the sender's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebuildError {
    /// Two transactions share a short id the block names (or the block names one twice):
    /// short ids cannot tell which is the block's.
    #[error("two transactions share one of the block's short ids")]
    Collision,
    /// The answer does not hold one transaction per missing position.
    #[error("the answer holds {got} transactions for {missing} missing")]
    WrongCount {
        /// Positions that were missing.
        missing: usize,
        /// Transactions the answer held.
        got: usize,
    },
    /// A transaction of the answer is not the one the block's short id names there: the
    /// sender answered with something else than its block.
    #[error("the answer's transaction at position {index} is not the block's")]
    AnswerMismatch {
        /// The position.
        index: usize,
    },
    /// The rebuilt body does not match the header's Merkle root: a transaction this node
    /// holds has the short id of another (one in 2^48 per pair), so it took the wrong one.
    #[error("the rebuilt body does not match the header's Merkle root")]
    BodyMismatch,
}

/// A block being rebuilt.
#[derive(Debug)]
pub struct PartialBlock {
    header: Header,
    key: ShortIdKey,
    /// The block's transactions, by position, as far as they are known.
    slots: Vec<Option<SignedTransaction>>,
    /// The position each short id names.
    positions: HashMap<ShortId, usize>,
    /// Whether two transactions compete for one position, or the block names a short id
    /// twice.
    collided: bool,
}

impl PartialBlock {
    /// The block of `compact` with the transactions it carries whole in place.
    pub fn new(compact: CompactBlock) -> PartialBlock {
        let key = ShortIdKey::new(&compact.header, compact.nonce);
        let mut slots: Vec<Option<SignedTransaction>> = Vec::new();
        slots.resize_with(compact.transaction_count(), || None);
        for prefilled in compact.prefilled {
            if let Some(slot) = slots.get_mut(prefilled.index as usize) {
                *slot = Some(prefilled.tx);
            }
        }
        let mut positions = HashMap::with_capacity(compact.short_ids.len());
        let mut collided = false;
        let mut ids = compact.short_ids.into_iter();
        for (index, slot) in slots.iter().enumerate() {
            if slot.is_some() {
                continue;
            }
            let Some(id) = ids.next() else { break };
            collided |= positions.insert(id, index).is_some();
        }
        PartialBlock {
            header: compact.header,
            key,
            slots,
            positions,
            collided,
        }
    }

    /// The block's hash.
    pub fn hash(&self) -> BlockHash {
        self.header.hash()
    }

    /// Offers a transaction this node holds: it takes the position its short id names, if
    /// the block names it.
    pub fn offer(&mut self, tx: &SignedTransaction) {
        let id = self.key.short_id(&tx.signed_hash());
        let Some(&index) = self.positions.get(&id) else {
            return;
        };
        match self.slots.get_mut(index) {
            Some(slot @ None) => *slot = Some(tx.clone()),
            Some(Some(held)) if held.signed_hash() != tx.signed_hash() => self.collided = true,
            _ => {}
        }
    }

    /// How many transactions the block has.
    pub fn transaction_count(&self) -> usize {
        self.slots.len()
    }

    /// Whether short ids cannot rebuild this block (see [`RebuildError::Collision`]).
    pub fn collided(&self) -> bool {
        self.collided
    }

    /// The positions no transaction fills yet, increasing.
    pub fn missing(&self) -> Vec<u32> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.is_none())
            .filter_map(|(index, _)| u32::try_from(index).ok())
            .collect()
    }

    /// The block, its missing positions filled with `answer` in order (none, when
    /// nothing is missing), once its body matches its header.
    pub fn complete(self, answer: Vec<SignedTransaction>) -> Result<Block, RebuildError> {
        if self.collided {
            return Err(RebuildError::Collision);
        }
        let missing = self.slots.iter().filter(|slot| slot.is_none()).count();
        if answer.len() != missing {
            return Err(RebuildError::WrongCount {
                missing,
                got: answer.len(),
            });
        }
        let named: HashMap<usize, ShortId> = self
            .positions
            .iter()
            .map(|(id, index)| (*index, *id))
            .collect();
        let mut answer = answer.into_iter();
        let mut transactions = Vec::with_capacity(self.slots.len());
        for (index, slot) in self.slots.into_iter().enumerate() {
            let tx = match slot {
                Some(tx) => tx,
                None => {
                    let Some(tx) = answer.next() else {
                        return Err(RebuildError::WrongCount { missing, got: 0 });
                    };
                    if named.get(&index) != Some(&self.key.short_id(&tx.signed_hash())) {
                        return Err(RebuildError::AnswerMismatch { index });
                    }
                    tx
                }
            };
            transactions.push(tx);
        }
        let block = Block {
            header: self.header,
            transactions,
        };
        if block.computed_merkle_root() != block.header.merkle_root {
            return Err(RebuildError::BodyMismatch);
        }
        Ok(block)
    }
}
