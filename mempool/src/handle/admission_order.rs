//! Which verified batches may be admitted: each sender's transactions in the order they
//! arrived, and nothing else held back.
//!
//! Each admission thread verifies one batch at a time, so batches taken later can finish
//! first. Admitting strictly in
//! arrival order would leave it (and the callers it holds) waiting for the first, with a
//! core idle meanwhile. The pool's verdict for a transaction depends on what it already
//! holds from the same sender (its nonce line, its pending cost), so only that order
//! matters: a verified batch waits for an earlier batch that has not been admitted yet
//! only if the two share a sender. A peer's burst from one sender stays nonce after nonce,
//! and a wallet's transfers from one account are admitted as it sent them.

use std::collections::{HashSet, VecDeque};

use tern_chain::types::Address;

/// One batch's place in the order, given when it starts verifying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ticket(u64);

/// Batches between the start of their verification and their admission, oldest first.
#[derive(Debug)]
pub(super) struct AdmissionOrder<T> {
    next: u64,
    waiting: VecDeque<Waiting<T>>,
}

#[derive(Debug)]
struct Waiting<T> {
    ticket: Ticket,
    senders: HashSet<Address>,
    /// The verified batch, once its verification has finished.
    verified: Option<T>,
}

impl<T> AdmissionOrder<T> {
    pub(super) fn new() -> Self {
        AdmissionOrder {
            next: 0,
            waiting: VecDeque::new(),
        }
    }

    /// Batches not admitted yet, verifying or verified.
    pub(super) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Takes a place for a batch from `senders` that starts verifying now.
    pub(super) fn enter(&mut self, senders: HashSet<Address>) -> Ticket {
        let ticket = Ticket(self.next);
        self.next = self.next.wrapping_add(1);
        self.waiting.push_back(Waiting {
            ticket,
            senders,
            verified: None,
        });
        ticket
    }

    /// Records that the batch holding `ticket` has verified.
    pub(super) fn finish(&mut self, ticket: Ticket, verified: T) {
        if let Some(waiting) = self.waiting.iter_mut().find(|w| w.ticket == ticket) {
            waiting.verified = Some(verified);
        }
    }

    /// The verified batches that no earlier, unadmitted batch shares a sender with, in
    /// their order; they leave the queue.
    pub(super) fn take_admissible(&mut self) -> Vec<T> {
        let mut admissible = Vec::new();
        let mut held: HashSet<Address> = HashSet::new();
        self.waiting.retain_mut(|waiting| {
            if waiting.senders.is_disjoint(&held) {
                if let Some(verified) = waiting.verified.take() {
                    admissible.push(verified);
                    return false;
                }
            }
            held.extend(waiting.senders.iter().copied());
            true
        });
        admissible
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn senders(bytes: &[u8]) -> HashSet<Address> {
        bytes
            .iter()
            .map(|b| Address::from_bytes([*b; 32]))
            .collect()
    }

    #[test]
    fn a_batch_that_shares_no_sender_is_admitted_before_an_earlier_one() {
        let mut order = AdmissionOrder::new();
        let first = order.enter(senders(&[1, 2]));
        let second = order.enter(senders(&[3]));
        order.finish(second, "second");
        assert_eq!(order.take_admissible(), vec!["second"]);
        assert_eq!(order.len(), 1);
        order.finish(first, "first");
        assert_eq!(order.take_admissible(), vec!["first"]);
        assert_eq!(order.len(), 0);
    }

    #[test]
    fn a_batch_waits_for_an_earlier_one_with_a_sender_in_common() {
        let mut order = AdmissionOrder::new();
        let first = order.enter(senders(&[1, 2]));
        let second = order.enter(senders(&[2, 3]));
        order.finish(second, "second");
        assert!(order.take_admissible().is_empty());
        order.finish(first, "first");
        assert_eq!(order.take_admissible(), vec!["first", "second"]);
    }

    #[test]
    fn a_sender_held_by_an_unverified_batch_holds_every_later_batch_of_that_sender() {
        let mut order = AdmissionOrder::new();
        let first = order.enter(senders(&[1]));
        let second = order.enter(senders(&[1, 2]));
        let third = order.enter(senders(&[2]));
        let fourth = order.enter(senders(&[4]));
        order.finish(third, "third");
        order.finish(fourth, "fourth");
        // The third shares no sender with the first, but with the second, which waits.
        assert_eq!(order.take_admissible(), vec!["fourth"]);
        order.finish(second, "second");
        assert!(order.take_admissible().is_empty());
        order.finish(first, "first");
        assert_eq!(order.take_admissible(), vec!["first", "second", "third"]);
    }

    #[test]
    fn an_unknown_ticket_changes_nothing() {
        let mut order: AdmissionOrder<&str> = AdmissionOrder::new();
        let first = order.enter(senders(&[1]));
        order.finish(Ticket(99), "stray");
        assert!(order.take_admissible().is_empty());
        order.finish(first, "first");
        assert_eq!(order.take_admissible(), vec!["first"]);
    }
}
