use super::*;
use crate::block::{Header, BLOCK_VERSION};
use crate::crypto::Signature;
use crate::encoding;
use crate::error::{TxError, TxRuleError, TxStateError};
use crate::tx::SignedTransaction;
use crate::types::{BlockHash, ChainId, Height, MerkleRoot, StateRoot, Target, Timestamp};
use proptest::prelude::*;

const REWARD: Amount = Amount::from_base_units(50);

fn address(i: u8) -> Address {
    Address::from_bytes([i; 32])
}

fn units(n: u64) -> Amount {
    Amount::from_base_units(n)
}

/// State rules do not look at signatures, so a zero signature keeps these tests fast.
fn transfer(from: u8, to: u8, amount: u64, fee: u64, nonce: u64) -> SignedTransaction {
    let tx = Transaction {
        chain_id: ChainId(1),
        from: address(from),
        to: address(to),
        amount: units(amount),
        fee: units(fee),
        nonce,
    };
    SignedTransaction::new(tx, Signature::from_bytes([0; 64]))
}

fn block(miner: u8, transactions: Vec<SignedTransaction>) -> Block {
    let header = Header {
        version: BLOCK_VERSION,
        height: Height(1),
        parent: BlockHash::ZERO,
        merkle_root: MerkleRoot::ZERO,
        state_root: StateRoot::from_bytes([0; 32]),
        timestamp: Timestamp(0),
        target: Target::MAX,
        miner: address(miner),
        nonce: 0,
    };
    Block {
        header,
        transactions,
    }
}

fn funded(balances: &[(u8, u64)]) -> MemoryState {
    MemoryState::new(balances.iter().map(|(i, b)| {
        (
            address(*i),
            Account {
                balance: units(*b),
                nonce: 0,
            },
        )
    }))
}

fn rejection(state: &MemoryState, txs: Vec<SignedTransaction>) -> TxRuleError {
    match apply_block(state, &block(9, txs), REWARD) {
        Err(BlockError::Transaction { error, .. }) => error,
        other => panic!("expected a transaction rejection, got {other:?}"),
    }
}

/// The state rule a block's transactions break.
fn state_rejection(state: &MemoryState, txs: Vec<SignedTransaction>) -> TxStateError {
    match rejection(state, txs) {
        TxRuleError::State(error) => error,
        other => panic!("expected a state rule, got {other:?}"),
    }
}

#[test]
fn a_transfer_moves_amount_and_fee_and_pays_the_miner() {
    let mut state = funded(&[(1, 100)]);
    let change = apply_block(&state, &block(9, vec![transfer(1, 2, 30, 5, 0)]), REWARD).unwrap();
    state.apply(&change);
    assert_eq!(
        state.account(&address(1)),
        Some(Account {
            balance: units(65),
            nonce: 1
        })
    );
    assert_eq!(
        state.account(&address(2)),
        Some(Account {
            balance: units(30),
            nonce: 0
        })
    );
    assert_eq!(
        state.account(&address(9)),
        Some(Account {
            balance: units(55),
            nonce: 0
        })
    );
    assert_eq!(change.fees, units(5));
}

#[test]
fn nonces_must_be_exactly_next() {
    let state = funded(&[(1, 100)]);
    assert_eq!(
        state_rejection(&state, vec![transfer(1, 2, 1, 0, 1)]),
        TxStateError::NonceMismatch {
            expected: 0,
            found: 1
        }
    );
    assert_eq!(
        state_rejection(
            &state,
            vec![transfer(1, 2, 1, 0, 0), transfer(1, 2, 1, 0, 0)]
        ),
        TxStateError::NonceMismatch {
            expected: 1,
            found: 0
        }
    );
    assert!(apply_block(
        &state,
        &block(9, vec![transfer(1, 2, 1, 0, 0), transfer(1, 2, 1, 0, 1)]),
        REWARD
    )
    .is_ok());
}

#[test]
fn an_exhausted_nonce_cannot_send() {
    let state = MemoryState::new([(
        address(1),
        Account {
            balance: units(10),
            nonce: u64::MAX,
        },
    )]);
    assert_eq!(
        state_rejection(&state, vec![transfer(1, 2, 1, 0, u64::MAX)]),
        TxStateError::NonceExhausted
    );
}

#[test]
fn the_balance_must_cover_amount_plus_fee() {
    let state = funded(&[(1, 100)]);
    assert_eq!(
        state_rejection(&state, vec![transfer(1, 2, 96, 5, 0)]),
        TxStateError::InsufficientFunds {
            available: units(100),
            needed: units(101)
        }
    );
    assert_eq!(
        state_rejection(&state, vec![transfer(3, 2, 0, 1, 0)]),
        TxStateError::InsufficientFunds {
            available: units(0),
            needed: units(1)
        }
    );
}

#[test]
fn amount_plus_fee_overflow_is_rejected_by_state_too() {
    let state = funded(&[(1, 100)]);
    assert_eq!(
        rejection(&state, vec![transfer(1, 2, u64::MAX, 1, 0)]),
        TxRuleError::Tx(TxError::AmountPlusFeeOverflow)
    );
}

#[test]
fn a_recipient_balance_cannot_overflow() {
    let state = funded(&[(1, 100), (2, u64::MAX)]);
    assert_eq!(
        state_rejection(&state, vec![transfer(1, 2, 1, 0, 0)]),
        TxStateError::RecipientBalanceOverflow
    );
}

#[test]
fn the_miner_credit_cannot_overflow() {
    let state = funded(&[(9, u64::MAX - 10)]);
    assert_eq!(
        apply_block(&state, &block(9, vec![]), units(11)),
        Err(BlockError::MinerCreditOverflow)
    );
    let state = funded(&[(1, u64::MAX), (3, u64::MAX)]);
    let txs = vec![transfer(1, 2, 0, u64::MAX, 0), transfer(3, 2, 0, 1, 0)];
    assert_eq!(
        apply_block(&state, &block(9, txs), REWARD),
        Err(BlockError::MinerCreditOverflow)
    );
}

#[test]
fn a_self_transfer_only_costs_the_fee() {
    let mut state = funded(&[(1, 100)]);
    state.apply(&apply_block(&state, &block(9, vec![transfer(1, 1, 60, 5, 0)]), REWARD).unwrap());
    assert_eq!(
        state.account(&address(1)),
        Some(Account {
            balance: units(95),
            nonce: 1
        })
    );
}

#[test]
fn a_failed_block_changes_nothing_and_revert_removes_new_accounts() {
    let original = funded(&[(1, 100)]);
    let mut state = original.clone();
    assert!(apply_block(
        &state,
        &block(9, vec![transfer(1, 2, 10, 0, 0), transfer(1, 2, 100, 0, 1)]),
        REWARD
    )
    .is_err());
    assert_eq!(state, original);
    let change = apply_block(&state, &block(9, vec![transfer(1, 2, 10, 0, 0)]), REWARD).unwrap();
    state.apply(&change);
    state.revert(&change.undo);
    assert_eq!(state, original);
}

#[test]
fn undo_records_round_trip_and_reject_bad_tags() {
    let undo = UndoRecord {
        previous: vec![
            (address(1), None),
            (
                address(2),
                Some(Account {
                    balance: units(5),
                    nonce: 3,
                }),
            ),
        ],
    };
    let mut bytes = encoding::encode(&undo);
    assert_eq!(encoding::decode::<UndoRecord>(&bytes), Ok(undo));
    bytes[8 + 32] = 2;
    assert!(matches!(
        encoding::decode::<UndoRecord>(&bytes),
        Err(DecodeError::Invalid { .. })
    ));
}

fn arbitrary_block() -> impl Strategy<Value = Block> {
    let tx = (0u8..6, 0u8..6, 0u64..400, 0u64..20, 0u64..4)
        .prop_map(|(from, to, amount, fee, nonce)| transfer(from, to, amount, fee, nonce));
    (0u8..6, proptest::collection::vec(tx, 0..8)).prop_map(|(miner, txs)| block(miner, txs))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Supply is always allocations plus rewards, and reverting every block in reverse
    /// order returns the identical state.
    #[test]
    fn supply_is_conserved_and_revert_is_exact(blocks in proptest::collection::vec(arbitrary_block(), 1..24)) {
        let genesis = funded(&[(0, 1_000), (1, 500), (2, 250)]);
        let mut state = genesis.clone();
        let mut undos = Vec::new();
        for block in &blocks {
            if let Ok(change) = apply_block(&state, block, REWARD) {
                state.apply(&change);
                undos.push(change.undo);
                let minted = REWARD.base_units() as u128 * undos.len() as u128;
                prop_assert_eq!(state.total_supply(), genesis.total_supply() + minted);
            }
        }
        for undo in undos.iter().rev() {
            state.revert(undo);
        }
        prop_assert_eq!(state, genesis);
    }

    #[test]
    fn random_undo_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = encoding::decode::<UndoRecord>(&bytes);
    }
}
