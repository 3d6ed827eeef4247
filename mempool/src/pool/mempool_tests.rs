use super::*;
use tern_chain::crypto::{dev_secret_key, SecretKey, Signature};
use tern_chain::error::TxError;
use tern_chain::signature_cache::SignatureCache;
use tern_chain::state::MemoryState;
use tern_chain::tx::Transaction;

const CHAIN: ChainId = ChainId(7357);
pub(super) const NOW: Timestamp = Timestamp(1_000_000);

pub(super) fn rich() -> Account {
    Account {
        balance: Amount::from_base_units(1_000_000_000),
        nonce: 0,
    }
}

pub(super) fn tx(key: &SecretKey, nonce: u64, fee: u64) -> SignedTransaction {
    Transaction {
        chain_id: CHAIN,
        from: key.address(),
        to: dev_secret_key(999).address(),
        amount: Amount::from_base_units(1_000),
        fee: Amount::from_base_units(fee),
        nonce,
    }
    .sign(key)
}

fn pool() -> Mempool {
    Mempool::new(CHAIN, MempoolConfig::default())
}

pub(super) fn min_fee() -> u64 {
    MempoolConfig::default()
        .min_fee_rate
        .fee_for(SIGNED_TRANSACTION_LEN)
        .base_units()
}

#[test]
fn a_valid_transaction_is_admitted_once() {
    let mut pool = pool();
    let key = dev_secret_key(1);
    let t = tx(&key, 0, min_fee());
    let admission = pool.admit(t.clone(), rich(), NOW).unwrap();
    assert_eq!(
        admission,
        Admission {
            id: t.id(),
            replaced: None,
            ready: true
        }
    );
    assert_eq!(pool.admit(t, rich(), NOW), Err(MempoolError::AlreadyKnown));
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.stats(NOW).rejections.get("already_known"), Some(&1));
}

#[test]
fn stateless_rejections() {
    let mut pool = pool();
    let key = dev_secret_key(1);
    let mut other_chain = *tx(&key, 0, min_fee()).tx();
    other_chain.chain_id = ChainId(1);
    assert_eq!(
        pool.admit(other_chain.sign(&key), rich(), NOW),
        Err(MempoolError::Invalid(TxError::WrongChain {
            expected: CHAIN,
            found: ChainId(1)
        }))
    );
    let forged =
        SignedTransaction::new(*tx(&key, 0, min_fee()).tx(), Signature::from_bytes([0; 64]));
    assert!(matches!(
        pool.admit(forged, rich(), NOW),
        Err(MempoolError::Invalid(TxError::BadSignature(_)))
    ));
    let mut overflowing = *tx(&key, 0, min_fee()).tx();
    overflowing.amount = Amount::MAX;
    assert_eq!(
        pool.admit(overflowing.sign(&key), rich(), NOW),
        Err(MempoolError::Invalid(TxError::AmountPlusFeeOverflow))
    );
    assert!(matches!(
        decode_transaction(&[0u8; SIGNED_TRANSACTION_LEN + 1]),
        Err(MempoolError::TooLarge { .. })
    ));
    assert!(matches!(
        decode_transaction(&[0u8; 10]),
        Err(MempoolError::Malformed(_))
    ));
}

#[test]
fn nonces_too_low_gapped_and_future() {
    let mut pool = pool();
    let key = dev_secret_key(1);
    let account = Account { nonce: 5, ..rich() };
    assert_eq!(
        pool.admit(tx(&key, 4, min_fee()), account, NOW),
        Err(MempoolError::NonceTooLow { expected: 5 })
    );
    let gap = pool.config().max_nonce_gap;
    assert_eq!(
        pool.admit(tx(&key, 5 + gap + 1, min_fee()), account, NOW),
        Err(MempoolError::NonceGap {
            expected: 5,
            max_ahead: gap
        })
    );
    // A future transaction waits, and becomes ready when the gap fills.
    let future = pool.admit(tx(&key, 7, min_fee()), account, NOW).unwrap();
    assert!(!future.ready);
    assert_eq!(pool.next_nonce(&key.address(), &account), 5);
    assert!(
        pool.select(100, 1 << 20).is_empty(),
        "future transactions are not mined"
    );
    pool.admit(tx(&key, 5, min_fee()), account, NOW).unwrap();
    pool.admit(tx(&key, 6, min_fee()), account, NOW).unwrap();
    assert_eq!(pool.next_nonce(&key.address(), &account), 8);
    let chosen: Vec<u64> = pool
        .select(100, 1 << 20)
        .iter()
        .map(|t| t.tx().nonce)
        .collect();
    assert_eq!(chosen, [5, 6, 7]);
}

#[test]
fn the_balance_must_cover_all_pending_transactions() {
    let mut pool = pool();
    let key = dev_secret_key(1);
    let cost = 1_000 + min_fee();
    let account = Account {
        balance: Amount::from_base_units(2 * cost),
        nonce: 0,
    };
    pool.admit(tx(&key, 0, min_fee()), account, NOW).unwrap();
    pool.admit(tx(&key, 1, min_fee()), account, NOW).unwrap();
    assert_eq!(
        pool.admit(tx(&key, 2, min_fee()), account, NOW),
        Err(MempoolError::InsufficientFunds {
            available: account.balance,
            needed: Amount::from_base_units(3 * cost)
        })
    );
    assert_eq!(
        pool.pending_cost(&key.address()),
        Amount::from_base_units(2 * cost)
    );
}

/// Pending costs whose sum overflows are more than any balance: insufficient funds, which
/// an honest peer can relay (it depends on the pool), not a broken rule of the
/// transaction's own. It used to be `amount_plus_fee_overflow`, for which a relaying peer
/// was banned.
#[test]
fn pending_costs_that_overflow_together_are_insufficient_funds() {
    let mut pool = pool();
    let key = dev_secret_key(1);
    let account = Account {
        balance: Amount::MAX,
        nonce: 0,
    };
    let large = |nonce: u64| {
        let mut transfer = *tx(&key, nonce, min_fee()).tx();
        transfer.amount = Amount::from_base_units(u64::MAX / 2);
        transfer.sign(&key)
    };
    pool.admit(large(0), account, NOW).unwrap();
    let refused = pool.admit(large(1), account, NOW).unwrap_err();
    assert_eq!(
        refused,
        MempoolError::InsufficientFunds {
            available: Amount::MAX,
            needed: Amount::MAX
        }
    );
    assert!(!refused.is_intrinsic());
}

#[test]
fn fees_below_the_minimum_are_refused_with_the_minimum() {
    let mut pool = pool();
    assert_eq!(
        pool.admit(tx(&dev_secret_key(1), 0, min_fee() - 1), rich(), NOW),
        Err(MempoolError::FeeTooLow {
            minimum: Amount::from_base_units(min_fee())
        })
    );
}

#[test]
fn replacement_needs_the_margin_and_says_how_much() {
    let mut pool = pool();
    let key = dev_secret_key(1);
    let first = tx(&key, 0, 1_000);
    pool.admit(first.clone(), rich(), NOW).unwrap();
    assert_eq!(
        pool.admit(tx(&key, 0, 1_099), rich(), NOW),
        Err(MempoolError::ReplacementUnderpriced {
            minimum: Amount::from_base_units(1_100)
        })
    );
    let better = tx(&key, 0, 1_100);
    let admission = pool.admit(better.clone(), rich(), NOW).unwrap();
    assert_eq!(admission.replaced, Some(first.id()));
    assert!(!pool.contains(&first.id()) && pool.contains(&better.id()));
    assert_eq!(pool.len(), 1);
}

#[test]
fn a_sender_has_a_cap() {
    let config = MempoolConfig {
        max_per_sender: 3,
        ..MempoolConfig::default()
    };
    let mut pool = Mempool::new(CHAIN, config);
    let key = dev_secret_key(1);
    for nonce in 0..3 {
        pool.admit(tx(&key, nonce, min_fee()), rich(), NOW).unwrap();
    }
    assert_eq!(
        pool.admit(tx(&key, 3, min_fee()), rich(), NOW),
        Err(MempoolError::SenderFull { limit: 3 })
    );
}

#[test]
fn a_flood_of_twice_the_capacity_leaves_the_best_paying() {
    let capacity = 100;
    let config = MempoolConfig {
        max_count: capacity,
        ..MempoolConfig::default()
    };
    let mut pool = Mempool::new(CHAIN, config);
    // 200 senders, fees shuffled so arrival order does not match fee order, and spaced
    // wider than the increment by which an eviction raises the minimum.
    let step = INCREMENTAL_RATE
        .fee_for(SIGNED_TRANSACTION_LEN)
        .base_units()
        * 2;
    let mut fees: Vec<u64> = (0..2 * capacity as u64)
        .map(|i| min_fee() + step * ((i * 7919) % 200))
        .collect();
    let mut submitted = Vec::new();
    for (i, fee) in fees.iter().enumerate() {
        let t = tx(&dev_secret_key(100 + i as u32), 0, *fee);
        submitted.push((t.id(), *fee));
        match pool.admit(t, rich(), NOW) {
            // Under pressure the pool turns away what it would evict at once.
            Ok(_) | Err(MempoolError::PoolFull { .. }) | Err(MempoolError::FeeTooLow { .. }) => {}
            Err(other) => panic!("unexpected rejection {other}"),
        }
    }
    assert_eq!(pool.len(), capacity);
    fees.sort_unstable_by(|a, b| b.cmp(a));
    let cutoff = fees[capacity - 1];
    for (id, fee) in submitted {
        if fee > cutoff {
            assert!(pool.contains(&id), "a transaction paying {fee} was lost");
        }
        if fee < cutoff {
            assert!(!pool.contains(&id), "a transaction paying {fee} stayed");
        }
    }
    let stats = pool.stats(NOW);
    assert!(stats.evicted > 0);
    assert!(
        stats.minimum_fee > Amount::from_base_units(min_fee()),
        "the minimum fee rose"
    );
    assert!(
        pool.stats(Timestamp(NOW.as_millis() + 100 * 60 * 60 * 1000))
            .minimum_fee
            == Amount::from_base_units(min_fee()),
        "and decays"
    );
}

#[test]
fn eviction_takes_a_senders_last_nonce_first() {
    let config = MempoolConfig {
        max_count: 3,
        ..MempoolConfig::default()
    };
    let mut pool = Mempool::new(CHAIN, config);
    let a = dev_secret_key(1);
    let low_then_high = [tx(&a, 0, min_fee()), tx(&a, 1, 10 * min_fee())];
    for t in &low_then_high {
        pool.admit(t.clone(), rich(), NOW).unwrap();
    }
    let b = dev_secret_key(2);
    let b_low = tx(&b, 0, 2 * min_fee());
    pool.admit(b_low.clone(), rich(), NOW).unwrap();
    // Full. A's nonce 0 pays least, but its nonce 1 depends on it: B's goes first.
    let c = tx(&dev_secret_key(3), 0, 5 * min_fee());
    pool.admit(c.clone(), rich(), NOW).unwrap();
    assert!(!pool.contains(&b_low.id()));
    assert!(pool.contains(&low_then_high[0].id()) && pool.contains(&low_then_high[1].id()));
}

#[test]
fn transactions_expire() {
    let mut pool = pool();
    let old = tx(&dev_secret_key(1), 0, min_fee());
    pool.admit(old.clone(), rich(), NOW).unwrap();
    let later = Timestamp(NOW.as_millis() + pool.config().max_age_ms + 1);
    pool.admit(tx(&dev_secret_key(2), 0, min_fee()), rich(), later)
        .unwrap();
    assert!(!pool.contains(&old.id()));
    assert_eq!(pool.stats(later).expired, 1);
}

#[test]
fn templates_take_the_best_rate_first_in_nonce_order_within_limits() {
    let mut pool = pool();
    let (a, b) = (dev_secret_key(1), dev_secret_key(2));
    // A: a cheap first transaction before an expensive one; B: medium.
    pool.admit(tx(&a, 0, 200), rich(), NOW).unwrap();
    pool.admit(tx(&a, 1, 900), rich(), NOW).unwrap();
    pool.admit(tx(&b, 0, 500), rich(), NOW).unwrap();
    pool.admit(tx(&b, 1, 400), rich(), NOW).unwrap();
    let fees: Vec<u64> = pool
        .select(10, 1 << 20)
        .iter()
        .map(|t| t.tx().fee.base_units())
        .collect();
    assert_eq!(fees, [500, 400, 200, 900]);
    assert_eq!(pool.select(2, 1 << 20).len(), 2);
    assert_eq!(pool.select(10, 3 * SIGNED_TRANSACTION_LEN as u64).len(), 3);
}

/// A chain update that connects one block holding `transactions` (the pool looks only at
/// the transactions).
pub(super) fn connecting(transactions: Vec<SignedTransaction>) -> tern_state::chain::ChainUpdate {
    let spec = tern_chain::genesis::ChainSpec::resolve("dev").unwrap();
    let mut block = spec.genesis_block();
    block.transactions = transactions;
    tern_state::chain::ChainUpdate {
        disconnected: vec![],
        connected: vec![std::sync::Arc::new(block.clone())],
        tip: tern_state::chain::TipInfo {
            hash: block.hash(),
            header: block.header,
            cumulative_work: Default::default(),
        },
    }
}

#[test]
fn connected_transactions_leave_and_now_invalid_ones_are_dropped() {
    let mut pool = pool();
    let key = dev_secret_key(1);
    let txs: Vec<_> = (0..3).map(|n| tx(&key, n, min_fee())).collect();
    for t in &txs {
        pool.admit(t.clone(), rich(), NOW).unwrap();
    }
    let update = connecting(vec![txs[0].clone()]);
    // After the block the sender has spent so much that only one more fits.
    let cost = 1_000 + min_fee();
    let after = MemoryState::new([(
        key.address(),
        Account {
            balance: Amount::from_base_units(cost),
            nonce: 1,
        },
    )]);
    pool.apply_update(&update, &after, NOW);
    assert!(!pool.contains(&txs[0].id()), "included");
    assert!(pool.contains(&txs[1].id()));
    assert!(!pool.contains(&txs[2].id()), "no longer affordable");
}

/// Admission reads a sender's account before it takes the pool's lock, and the pool may
/// apply a block in between. The account it brings is then older than the pool's: it must
/// not set the sender back to before the block, or the sender's remaining transactions
/// would wait behind a nonce the block already used (a load test with two mining nodes
/// found this).
#[test]
fn an_account_read_before_the_latest_block_does_not_set_a_pending_sender_back() {
    let mut pool = pool();
    let key = dev_secret_key(1);
    let txs: Vec<_> = (0..3).map(|n| tx(&key, n, min_fee())).collect();
    let before = rich();
    pool.admit(txs[0].clone(), before, NOW).unwrap();
    pool.admit(txs[1].clone(), before, NOW).unwrap();
    let update = connecting(vec![txs[0].clone()]);
    let after = Account { nonce: 1, ..before };
    pool.apply_update(&update, &MemoryState::new([(key.address(), after)]), NOW);

    // Nonce 2 arrives with the account as it was before the block.
    let admission = pool.admit(txs[2].clone(), before, NOW).unwrap();
    assert!(admission.ready, "nonce 2 follows the pending nonce 1");
    let template: Vec<u64> = pool
        .select(10, 1 << 20)
        .iter()
        .map(|t| t.tx().nonce)
        .collect();
    assert_eq!(template, [1, 2]);
    assert_eq!(pool.next_nonce(&key.address(), &after), 3);
}

#[test]
fn batch_verification_gives_the_single_verdicts() {
    let key = dev_secret_key(1);
    let good = tx(&key, 0, min_fee());
    let forged = SignedTransaction::new(*tx(&key, 1, min_fee()).tx(), *good.signature());
    let mut wrong_chain = *tx(&key, 2, min_fee()).tx();
    wrong_chain.chain_id = ChainId(1);
    let txs = vec![good.clone(), forged.clone(), wrong_chain.sign(&key)];
    let batch: Vec<_> = verify_many(txs.clone(), CHAIN, &SignatureCache::default(), 2)
        .into_iter()
        .map(|r| r.map(|v| v.get().id()))
        .collect();
    let single: Vec<_> = txs
        .into_iter()
        .map(|t| verify(t, CHAIN, &SignatureCache::default()).map(|v| v.get().id()))
        .collect();
    assert_eq!(batch, single);
    assert!(batch[0].is_ok() && batch[1].is_err() && batch[2].is_err());
    let all_good: Vec<_> = (0..4).map(|n| tx(&key, n, min_fee())).collect();
    let cache = SignatureCache::default();
    assert!(verify_many(all_good.clone(), CHAIN, &cache, 1)
        .iter()
        .all(Result::is_ok));
    assert_eq!(cache.stats().entries, 4);
    // Warm, the same verdicts.
    assert!(verify_many(all_good, CHAIN, &cache, 1)
        .iter()
        .all(Result::is_ok));
}

#[test]
fn a_second_encoding_of_a_pending_transfer_is_already_known() {
    let key = dev_secret_key(1);
    let first = tx(&key, 0, min_fee());
    let shifted = key
        .sign_with_shifted_nonce(&first.signing_message(), 5)
        .unwrap();
    let copy = SignedTransaction::new(*first.tx(), shifted);
    assert_eq!(copy.check_stateless(CHAIN), Ok(()), "a valid signature");
    let mut pool = Mempool::new(CHAIN, MempoolConfig::default());
    pool.admit(first.clone(), rich(), NOW).unwrap();
    assert_eq!(
        pool.admit(copy, rich(), NOW),
        Err(MempoolError::AlreadyKnown)
    );
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.get(&first.id()), Some(&first), "the first seen stays");
}

#[test]
fn another_encoding_of_a_pending_transfer_with_a_bad_signature_is_a_bad_signature() {
    let key = dev_secret_key(1);
    let first = tx(&key, 0, min_fee());
    let mut signature = *first.signature().as_bytes();
    signature[40] ^= 1;
    let forged = SignedTransaction::new(
        *first.tx(),
        tern_chain::crypto::Signature::from_bytes(signature),
    );
    assert_eq!(forged.id(), first.id(), "the txid leaves the signature out");
    let mut pool = Mempool::new(CHAIN, MempoolConfig::default());
    pool.admit(first.clone(), rich(), NOW).unwrap();
    assert!(matches!(
        pool.admit(forged, rich(), NOW),
        Err(MempoolError::Invalid(TxError::BadSignature(_)))
    ));
    assert_eq!(pool.get(&first.id()), Some(&first));
}

/// The sum of `amount + fee` over `sender`'s pending transactions, counted from the list.
fn listed_cost(pool: &Mempool, sender: &Address) -> Amount {
    Amount::checked_sum(
        pool.list(usize::MAX)
            .into_iter()
            .filter(|t| t.tx().from == *sender)
            .map(|t| t.tx().total_cost().unwrap()),
    )
    .unwrap()
}

mod pending_cost {
    use super::*;
    use proptest::prelude::*;

    /// One thing that changes a pool: an admission (new, replacing or refused), a new tip
    /// account that drops what the balance no longer covers, or time passing.
    #[derive(Debug, Clone)]
    enum Step {
        Admit {
            sender: u32,
            nonce: u64,
            amount: u64,
            fee_multiple: u64,
        },
        Revalidate {
            sender: u32,
            nonce: u64,
            balance: u64,
        },
        Expire,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (0..3u32, 0..6u64, 0..5_000u64, 1..4u64).prop_map(
                |(sender, nonce, amount, fee_multiple)| Step::Admit {
                    sender,
                    nonce,
                    amount,
                    fee_multiple,
                }
            ),
            1 => (0..3u32, 0..3u64, 0..40_000u64)
                .prop_map(|(sender, nonce, balance)| Step::Revalidate { sender, nonce, balance }),
            1 => Just(Step::Expire),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The pool keeps each sender's pending cost as transactions come and go; it must
        /// always be what its pending transactions add up to.
        #[test]
        fn is_always_the_sum_of_the_pending_transactions(steps in prop::collection::vec(step(), 1..40)) {
            let config = MempoolConfig {
                max_count: 8,
                ..MempoolConfig::default()
            };
            let mut pool = Mempool::new(CHAIN, config);
            let keys: Vec<SecretKey> = (1..=3).map(dev_secret_key).collect();
            let account = Account {
                balance: Amount::from_base_units(30_000),
                nonce: 0,
            };
            let mut now = NOW;
            for step in steps {
                match step {
                    Step::Admit { sender, nonce, amount, fee_multiple } => {
                        let key = &keys[sender as usize];
                        let t = Transaction {
                            chain_id: CHAIN,
                            from: key.address(),
                            to: dev_secret_key(999).address(),
                            amount: Amount::from_base_units(amount),
                            fee: Amount::from_base_units(fee_multiple * min_fee()),
                            nonce,
                        }
                        .sign(key);
                        // Refusals are part of the sequence too.
                        let _ = pool.admit(t, account, now);
                    }
                    Step::Revalidate { sender, nonce, balance } => {
                        // The others keep their accounts; this one's changes.
                        let changed = keys[sender as usize].address();
                        let state = MemoryState::new(keys.iter().map(|key| {
                            let address = key.address();
                            let tip = if address == changed {
                                Account { balance: Amount::from_base_units(balance), nonce }
                            } else {
                                account
                            };
                            (address, tip)
                        }));
                        pool.revalidate_all(&state, NOW);
                    }
                    Step::Expire => {
                        now = Timestamp(now.as_millis() + pool.config().max_age_ms + 1);
                        pool.expire(now);
                    }
                }
                for key in &keys {
                    prop_assert_eq!(pool.pending_cost(&key.address()), listed_cost(&pool, &key.address()));
                }
            }
        }
    }
}
