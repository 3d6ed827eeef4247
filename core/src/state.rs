//! Account state and the block state transition.
//!
//! The state is a map from address to [`Account`]. Applying a block is a pure function of
//! the accounts it touches: [`apply_block`] reads them through an [`AccountView`] and
//! returns a [`StateChange`] — the new values to write and an [`UndoRecord`] of the old
//! ones — without writing anything. The store writes both in one atomic batch, and
//! reverting a block writes the undo record back, which restores the previous state
//! exactly, including accounts that did not exist before.

use std::collections::BTreeMap;

use crate::block::Block;
use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use crate::error::{BlockError, TxRuleError, TxStateError};
use crate::tx::Transaction;
use crate::types::{Address, Amount};

/// An account: what it holds and how many transactions it has sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Account {
    /// The spendable balance.
    pub balance: Amount,
    /// The nonce its next transaction must carry.
    pub nonce: u64,
}

/// The encoded size of an [`Account`].
pub const ACCOUNT_LEN: usize = 16;

impl Encode for Account {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.balance.base_units());
        w.u64(self.nonce);
    }
}

impl Decode for Account {
    const MAX_ENCODED_LEN: usize = ACCOUNT_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Account {
            balance: Amount::from_base_units(r.u64("balance")?),
            nonce: r.u64("nonce")?,
        })
    }
}

/// Read access to the accounts a state transition starts from.
pub trait AccountView {
    /// The account at `address`, or `None` if it has never been touched.
    fn account(&self, address: &Address) -> Option<Account>;
}

/// What applying a block changes, and how to take it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// The new value of every touched account, sorted by address.
    pub accounts: Vec<(Address, Account)>,
    /// The previous values, to revert the block.
    pub undo: UndoRecord,
    /// The fees the block's transactions paid to its miner.
    pub fees: Amount,
}

/// The values touched accounts had before a block: `None` where the account did not exist.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UndoRecord {
    /// Previous values, sorted by address.
    pub previous: Vec<(Address, Option<Account>)>,
}

/// Bounds an undo record's decoder: a block touches at most two accounts per transaction
/// plus its miner.
const MAX_UNDO_ENTRIES: usize = 2 * crate::block::MAX_BLOCK_TRANSACTIONS_LIMIT + 1;

impl Encode for UndoRecord {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.previous.len() as u64);
        for (address, account) in &self.previous {
            w.array(address.as_bytes());
            match account {
                None => w.u8(0),
                Some(account) => {
                    w.u8(1);
                    account.encode(w);
                }
            }
        }
    }
}

impl Decode for UndoRecord {
    const MAX_ENCODED_LEN: usize = 8 + MAX_UNDO_ENTRIES * (32 + 1 + ACCOUNT_LEN);

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = r.seq_len("undo entries", MAX_UNDO_ENTRIES, 33)?;
        let mut previous = Vec::with_capacity(len);
        for _ in 0..len {
            let address = Address::from_bytes(r.array("undo address")?);
            let account = match r.u8("undo presence")? {
                0 => None,
                1 => Some(Account::decode(r)?),
                other => {
                    return Err(DecodeError::Invalid {
                        what: "undo presence",
                        reason: format!("tag {other} is neither 0 nor 1"),
                    })
                }
            };
            previous.push((address, account));
        }
        Ok(UndoRecord { previous })
    }
}

/// Pending changes on top of an [`AccountView`]: the working state of one block (or, for
/// the mempool, of one sender's queue).
#[derive(Debug)]
pub struct StateOverlay<'a, V: AccountView + ?Sized> {
    base: &'a V,
    changed: BTreeMap<Address, Account>,
    previous: BTreeMap<Address, Option<Account>>,
}

impl<'a, V: AccountView + ?Sized> StateOverlay<'a, V> {
    /// An overlay with no changes yet.
    pub fn new(base: &'a V) -> Self {
        StateOverlay {
            base,
            changed: BTreeMap::new(),
            previous: BTreeMap::new(),
        }
    }

    /// The account's current value, zero if it does not exist.
    pub fn account(&self, address: &Address) -> Account {
        self.changed
            .get(address)
            .copied()
            .or_else(|| self.base.account(address))
            .unwrap_or_default()
    }

    fn set(&mut self, address: Address, account: Account) {
        let base = self.base;
        self.previous
            .entry(address)
            .or_insert_with(|| base.account(&address));
        self.changed.insert(address, account);
    }

    /// Applies one transaction's state rules: exact next nonce, balance covering
    /// `amount + fee`, no overflow. On error nothing changes. Returns the fee.
    pub fn apply_transaction(&mut self, tx: &Transaction) -> Result<Amount, TxRuleError> {
        let cost = tx.total_cost()?;
        let mut sender = self.account(&tx.from);
        if tx.nonce != sender.nonce {
            return Err(TxStateError::NonceMismatch {
                expected: sender.nonce,
                found: tx.nonce,
            }
            .into());
        }
        sender.nonce = sender
            .nonce
            .checked_add(1)
            .ok_or(TxStateError::NonceExhausted)?;
        sender.balance =
            sender
                .balance
                .checked_sub(cost)
                .map_err(|_| TxStateError::InsufficientFunds {
                    available: sender.balance,
                    needed: cost,
                })?;
        let mut recipient = if tx.to == tx.from {
            sender
        } else {
            self.account(&tx.to)
        };
        recipient.balance = recipient
            .balance
            .checked_add(tx.amount)
            .map_err(|_| TxStateError::RecipientBalanceOverflow)?;
        self.set(tx.from, sender);
        self.set(tx.to, recipient);
        Ok(tx.fee)
    }

    /// Adds `amount` to an account's balance.
    pub fn credit(
        &mut self,
        address: Address,
        amount: Amount,
    ) -> Result<(), crate::types::AmountError> {
        let mut account = self.account(&address);
        account.balance = account.balance.checked_add(amount)?;
        self.set(address, account);
        Ok(())
    }

    /// The changes made so far, with their undo record.
    pub fn into_change(self, fees: Amount) -> StateChange {
        StateChange {
            accounts: self.changed.into_iter().collect(),
            undo: UndoRecord {
                previous: self.previous.into_iter().collect(),
            },
            fees,
        }
    }
}

/// Applies a block's transactions in order, then pays its miner `reward` plus the fees.
///
/// Checks only the state rules; signatures, sizes and the header are checked by
/// [`crate::validation`]. Writes nothing: the caller stores the returned change.
pub fn apply_block<V: AccountView + ?Sized>(
    view: &V,
    block: &Block,
    reward: Amount,
) -> Result<StateChange, BlockError> {
    let mut overlay = StateOverlay::new(view);
    let mut fees = Amount::ZERO;
    for (index, signed) in block.transactions.iter().enumerate() {
        let fee =
            overlay
                .apply_transaction(signed.tx())
                .map_err(|error| BlockError::Transaction {
                    index,
                    id: signed.id(),
                    error,
                })?;
        fees = fees
            .checked_add(fee)
            .map_err(|_| BlockError::MinerCreditOverflow)?;
    }
    let credit = reward
        .checked_add(fees)
        .map_err(|_| BlockError::MinerCreditOverflow)?;
    overlay
        .credit(block.header.miner, credit)
        .map_err(|_| BlockError::MinerCreditOverflow)?;
    Ok(overlay.into_change(fees))
}

/// An in-memory state, for tests, benchmarks and tools. The node keeps its state in the
/// store instead.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemoryState {
    accounts: BTreeMap<Address, Account>,
}

impl MemoryState {
    /// A state holding `accounts`.
    pub fn new(accounts: impl IntoIterator<Item = (Address, Account)>) -> Self {
        MemoryState {
            accounts: accounts.into_iter().collect(),
        }
    }

    /// Writes a block's changes.
    pub fn apply(&mut self, change: &StateChange) {
        self.accounts.extend(change.accounts.iter().copied());
    }

    /// Takes a block back with its undo record.
    pub fn revert(&mut self, undo: &UndoRecord) {
        for (address, previous) in &undo.previous {
            match previous {
                Some(account) => self.accounts.insert(*address, *account),
                None => self.accounts.remove(address),
            };
        }
    }

    /// The sum of all balances (as `u128`, so the check itself cannot overflow).
    pub fn total_supply(&self) -> u128 {
        self.accounts
            .values()
            .map(|a| u128::from(a.balance.base_units()))
            .sum()
    }

    /// Every account, sorted by address.
    pub fn accounts(&self) -> impl Iterator<Item = (&Address, &Account)> {
        self.accounts.iter()
    }
}

impl AccountView for MemoryState {
    fn account(&self, address: &Address) -> Option<Account> {
        self.accounts.get(address).copied()
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
