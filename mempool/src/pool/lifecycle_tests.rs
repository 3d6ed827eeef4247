//! Where a transaction stands: why a pending one waits, why a dropped one left, and the
//! fee estimate both rest on.

use super::tests::{connecting, min_fee, rich, tx, NOW};
use super::*;
use tern_chain::crypto::dev_secret_key;
use tern_chain::state::MemoryState;

/// Blocks of two transfers, so that a queue of three overflows one.
const TWO: BlockLimits = BlockLimits {
    count: 2,
    bytes: 1 << 20,
};

fn why(pool: &Mempool, id: &TxId) -> Waiting {
    match pool.lifecycle(id, TWO, NOW) {
        Lifecycle::Pending(pending) => pending.why,
        other => panic!("not pending: {other:?}"),
    }
}

fn drop_reason(pool: &Mempool, id: &TxId) -> DropReason {
    match pool.lifecycle(id, TWO, NOW) {
        Lifecycle::Dropped(dropped) => dropped.reason,
        other => panic!("not dropped: {other:?}"),
    }
}

#[test]
fn a_transaction_behind_a_missing_nonce_names_the_nonce() {
    let mut pool = Mempool::new(ChainId(7357), MempoolConfig::default());
    let key = dev_secret_key(1);
    let (first, third) = (tx(&key, 0, min_fee()), tx(&key, 2, min_fee()));
    pool.admit(first.clone(), rich(), NOW).unwrap();
    pool.admit(third.clone(), rich(), NOW).unwrap();
    assert_eq!(why(&pool, &first.id()), Waiting::Queued { position: 0 });
    assert_eq!(
        why(&pool, &third.id()),
        Waiting::NonceGap { missing_nonce: 1 }
    );
    let Lifecycle::Pending(pending) = pool.lifecycle(&third.id(), TWO, NOW) else {
        panic!("pending");
    };
    assert_eq!(pending.since, NOW);
    assert_eq!(
        pending.expires.as_millis(),
        NOW.as_millis() + MempoolConfig::default().max_age_ms
    );
}

#[test]
fn a_transaction_the_next_block_has_no_room_for_is_told_what_to_pay() {
    let mut pool = Mempool::new(ChainId(7357), MempoolConfig::default());
    let fees = [min_fee() + 300, min_fee() + 200, min_fee()];
    let txs: Vec<_> = fees
        .iter()
        .enumerate()
        .map(|(i, fee)| tx(&dev_secret_key(i as u32 + 1), 0, *fee))
        .collect();
    for t in &txs {
        pool.admit(t.clone(), rich(), NOW).unwrap();
    }
    assert_eq!(why(&pool, &txs[0].id()), Waiting::Queued { position: 0 });
    assert_eq!(why(&pool, &txs[1].id()), Waiting::Queued { position: 1 });
    // It must outbid the second, the last one the next block takes.
    let outbid = FeeRate(FeeRate::of(Amount::from_base_units(fees[1]), 156).0 + INCREMENTAL_RATE.0)
        .fee_for(156);
    assert_eq!(
        why(&pool, &txs[2].id()),
        Waiting::FeeTooLowForNextBlock {
            suggested_fee: outbid
        }
    );
    let estimate = pool.fee_estimate(1, TWO, NOW);
    assert_eq!(estimate.fee, outbid);
    assert_eq!(estimate.queue.ready, 3);
    assert_eq!(estimate.queue.block_capacity, 2);
    assert_eq!(
        pool.fee_estimate(2, TWO, NOW).fee,
        estimate.minimum_fee,
        "two blocks hold all three"
    );
    // Paying what it was told puts it in the next block.
    let bumped = tx(&dev_secret_key(3), 0, outbid.base_units());
    pool.admit(bumped.clone(), rich(), NOW).unwrap();
    assert!(matches!(
        why(&pool, &bumped.id()),
        Waiting::Queued { position: 1 }
    ));
    assert_eq!(
        drop_reason(&pool, &txs[2].id()),
        DropReason::Replaced { by: bumped.id() }
    );
}

#[test]
fn full_recent_blocks_raise_the_estimate_and_empty_ones_do_not() {
    let mut pool = Mempool::new(ChainId(7357), MempoolConfig::default());
    let rich_fee = min_fee() * 5;
    // Two blocks of two transfers each, the cheapest paying five times the minimum.
    for block in 0..2u32 {
        let txs: Vec<_> = (0..2)
            .map(|i| tx(&dev_secret_key(10 + block * 2 + i), 0, rich_fee))
            .collect();
        let mut update = connecting(txs);
        let mut header = update.connected[0].header;
        header.height = tern_chain::types::Height(u64::from(block) + 1);
        update.connected[0] = std::sync::Arc::new(tern_chain::block::Block {
            header,
            transactions: update.connected[0].transactions.clone(),
        });
        pool.apply_update(&update, &MemoryState::default(), NOW);
    }
    let estimate = pool.fee_estimate(1, TWO, NOW);
    assert_eq!((estimate.recent.blocks, estimate.recent.full), (2, 2));
    let beat = FeeRate(FeeRate::of(Amount::from_base_units(rich_fee), 156).0 + INCREMENTAL_RATE.0);
    assert_eq!(estimate.fee, beat.fee_for(156));
    // With room for ten, the same blocks were not full: the minimum does.
    let roomy = BlockLimits { count: 10, ..TWO };
    let estimate = pool.fee_estimate(1, roomy, NOW);
    assert_eq!(
        (estimate.recent.full, estimate.fee),
        (0, estimate.minimum_fee)
    );
    // A queued transaction priced below what full blocks took is told so.
    let cheap = tx(&dev_secret_key(1), 0, min_fee());
    pool.admit(cheap.clone(), rich(), NOW).unwrap();
    assert!(matches!(
        why(&pool, &cheap.id()),
        Waiting::FeeTooLowForNextBlock { suggested_fee } if suggested_fee == beat.fee_for(156)
    ));
}

#[test]
fn evicted_and_expired_transactions_say_so() {
    let config = MempoolConfig {
        max_count: 1,
        max_age_ms: 1_000,
        ..MempoolConfig::default()
    };
    let mut pool = Mempool::new(ChainId(7357), config);
    let cheap = tx(&dev_secret_key(1), 0, min_fee());
    let better = tx(&dev_secret_key(2), 0, min_fee() * 2);
    pool.admit(cheap.clone(), rich(), NOW).unwrap();
    pool.admit(better.clone(), rich(), NOW).unwrap();
    let DropReason::Evicted { minimum_fee } = drop_reason(&pool, &cheap.id()) else {
        panic!("evicted");
    };
    assert!(
        minimum_fee > Amount::from_base_units(min_fee()),
        "the floor rose above it"
    );
    assert_eq!(minimum_fee, pool.stats(NOW).minimum_fee);

    pool.expire(Timestamp(NOW.as_millis() + 1_001));
    assert_eq!(drop_reason(&pool, &better.id()), DropReason::Expired);
}

#[test]
fn a_block_that_takes_a_nonce_is_a_conflict_and_a_reorg_says_reorg() {
    let mut pool = Mempool::new(ChainId(7357), MempoolConfig::default());
    let key = dev_secret_key(1);
    let mine = tx(&key, 0, min_fee());
    pool.admit(mine.clone(), rich(), NOW).unwrap();
    // Another transfer with the same nonce (a different amount) is mined elsewhere.
    let mut other = *tx(&key, 0, min_fee()).tx();
    other.amount = Amount::from_base_units(7);
    let other = other.sign(&key);
    let spent = MemoryState::new([(key.address(), Account { nonce: 1, ..rich() })]);
    pool.apply_update(&connecting(vec![other.clone()]), &spent, NOW);
    assert_eq!(drop_reason(&pool, &mine.id()), DropReason::Conflict);
    assert!(!pool.was_reorged_out(&other.id()));

    // A reorg takes `other`'s block out for one that spends the sender's funds: `other`
    // comes back, no longer affordable, and the reorg is why it is gone.
    let mut reorg = connecting(vec![]);
    reorg.disconnected = connecting(vec![other.clone()]).connected;
    let broke = MemoryState::new([(key.address(), Account::default())]);
    pool.apply_update(&reorg, &broke, NOW);
    assert!(pool.was_reorged_out(&other.id()));
    assert_eq!(drop_reason(&pool, &other.id()), DropReason::Reorg);

    // Submitted again and admitted, it is pending, not dropped.
    pool.apply_update(
        &connecting(vec![]),
        &MemoryState::new([(key.address(), rich())]),
        NOW,
    );
    pool.admit(other.clone(), rich(), NOW).unwrap();
    assert!(matches!(
        pool.lifecycle(&other.id(), TWO, NOW),
        Lifecycle::Pending(_)
    ));
    assert_eq!(
        pool.lifecycle(&tx(&key, 9, 1).id(), TWO, NOW),
        Lifecycle::NotHeld
    );
}

#[test]
fn a_transfer_to_bytes_no_one_could_sign_for_is_refused_on_both_paths() {
    use tern_chain::crypto::RecipientError;
    use tern_chain::signature_cache::SignatureCache;
    use tern_chain::tx::Transaction;
    let key = dev_secret_key(1);
    let burn = Transaction {
        chain_id: ChainId(7357),
        from: key.address(),
        to: Address::from_bytes([0; 32]),
        amount: Amount::from_base_units(1),
        fee: Amount::from_base_units(min_fee()),
        nonce: 0,
    }
    .sign(&key);
    let refused = Err(MempoolError::RecipientNotAKey(RecipientError::SmallOrder));
    let mut pool = Mempool::new(ChainId(7357), MempoolConfig::default());
    assert_eq!(pool.admit(burn.clone(), rich(), NOW).map(|_| ()), refused);
    let verdict = verify(burn, ChainId(7357), &SignatureCache::default()).map(|_| ());
    assert_eq!(verdict, refused);
    assert!(
        !MempoolError::RecipientNotAKey(RecipientError::SmallOrder).is_intrinsic(),
        "policy: a relaying peer is not banned"
    );
}
