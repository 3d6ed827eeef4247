//! Following the chain: transactions a block included leave the pool, those of
//! disconnected blocks come back if still valid, and senders whose accounts changed are
//! revalidated against their new tip accounts.

use std::collections::HashSet;

use tern_chain::state::{Account, AccountView};
use tern_chain::types::{Address, Amount, Timestamp};
use tern_state::chain::ChainUpdate;

use super::{DropReason, Mempool, MempoolError, Policy};

impl Mempool {
    /// The addresses whose tip accounts [`Self::apply_update`] needs for `update`.
    pub fn accounts_needed(&self, update: &ChainUpdate) -> Vec<Address> {
        let mut addresses: HashSet<Address> = HashSet::new();
        for block in update.connected.iter().chain(&update.disconnected) {
            for tx in &block.transactions {
                addresses.extend([tx.tx().from, tx.tx().to]);
            }
            addresses.insert(block.header.miner);
        }
        let mut addresses: Vec<Address> = addresses.into_iter().collect();
        addresses.sort_unstable();
        addresses
    }

    /// Follows the chain: included transactions leave, transactions of disconnected blocks
    /// come back if still valid, and every sender the update touched is revalidated
    /// against its new tip `accounts` (which must hold [`Self::accounts_needed`]).
    pub fn apply_update(
        &mut self,
        update: &ChainUpdate,
        accounts: &impl AccountView,
        now: Timestamp,
    ) {
        self.updates_applied = self.updates_applied.wrapping_add(1);
        for block in &update.disconnected {
            self.fee_history.disconnected(block.header.height.value());
            for tx in &block.transactions {
                self.journal.reorged_out(tx.id(), now);
            }
        }
        for block in &update.connected {
            self.fee_history.connected(block);
        }
        for tx in update.connected.iter().flat_map(|b| &b.transactions) {
            if let Some((sender, nonce)) = self.ids.get(&tx.id()).copied() {
                self.remove(&sender, nonce);
            }
        }
        // What an update makes invalid left for a conflicting block, unless the update
        // took blocks out: then the reorg is why.
        let reason = if update.disconnected.is_empty() {
            DropReason::Conflict
        } else {
            DropReason::Reorg
        };
        for address in self.accounts_needed(update) {
            self.revalidate(
                &address,
                accounts.account(&address).unwrap_or_default(),
                reason,
                now,
            );
        }
        for tx in update.returned_transactions() {
            let account = accounts.account(&tx.tx().from).unwrap_or_default();
            // Returned transactions were valid before; one that no longer is stays out,
            // and the journal says the reorg dropped it.
            match self.admit_with(tx.clone(), account, now, Policy::Returned) {
                Ok(_) | Err(MempoolError::AlreadyKnown) => {}
                Err(_) => self.journal.dropped(tx, DropReason::Reorg, now),
            }
        }
    }

    /// Every sender with pending transactions.
    pub fn senders(&self) -> Vec<Address> {
        self.senders.keys().copied().collect()
    }

    /// Revalidates every sender against `accounts` (which must hold [`Self::senders`]):
    /// the way back after missing chain updates.
    pub fn revalidate_all(&mut self, accounts: &impl AccountView, now: Timestamp) {
        self.updates_applied = self.updates_applied.wrapping_add(1);
        for sender in self.senders() {
            let account = accounts.account(&sender).unwrap_or_default();
            self.revalidate(&sender, account, DropReason::Conflict, now);
        }
    }

    /// Drops `sender`'s transactions that its new tip `account` makes invalid: nonces
    /// already used, and from the first one its balance no longer covers onwards.
    fn revalidate(
        &mut self,
        sender: &Address,
        account: Account,
        reason: DropReason,
        now: Timestamp,
    ) {
        let Some(queue) = self.senders.get_mut(sender) else {
            return;
        };
        queue.account = account;
        let mut spent = Amount::ZERO;
        let mut drop_from_here = false;
        let mut doomed = Vec::new();
        for (nonce, entry) in queue.txs() {
            let cost = entry.cost;
            if *nonce < account.nonce {
                doomed.push(*nonce);
                continue;
            }
            match spent.checked_add(cost) {
                Ok(total) if !drop_from_here && total <= account.balance => spent = total,
                _ => {
                    drop_from_here = true;
                    doomed.push(*nonce);
                }
            }
        }
        for nonce in doomed {
            self.drop_tx(sender, nonce, reason, now);
        }
    }
}
