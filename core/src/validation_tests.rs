//! One test per block rule: each builds an otherwise valid block that breaks exactly it.

use super::*;
use crate::block::merkle_root;
use crate::crypto::{dev_secret_key, Signature, SignatureError};
use crate::error::TxRuleError;
use crate::genesis::ChainSpec;
use crate::state::apply_block;
use crate::tx::{SignedTransaction, Transaction};
use crate::types::{Address, Amount, ChainId, Target};

fn spec() -> ChainSpec {
    ChainSpec::resolve("dev").unwrap()
}

fn genesis_context(spec: &ChainSpec) -> ParentContext {
    let genesis = spec.genesis_header();
    ParentContext {
        hash: genesis.hash(),
        height: genesis.height,
        timestamp: genesis.timestamp,
        median_time_past: genesis.timestamp,
    }
}

fn now(spec: &ChainSpec) -> Timestamp {
    Timestamp(spec.consensus.genesis_time.as_millis() + 60_000)
}

fn transfer(spec: &ChainSpec, nonce: u64, amount: u64) -> SignedTransaction {
    Transaction {
        chain_id: spec.consensus.chain_id,
        from: dev_secret_key(0).address(),
        to: dev_secret_key(1).address(),
        amount: Amount::from_base_units(amount),
        fee: Amount::from_base_units(10),
        nonce,
    }
    .sign(&dev_secret_key(0))
}

/// Recomputes the Merkle root and mines the header.
fn seal(mut block: Block) -> Block {
    block.header.merkle_root = merkle_root(&block.signed_hashes());
    block.header.nonce =
        pow::search_nonce(&block.header, 0, 1 << 24).expect("the dev target is easy");
    block
}

fn valid_block(spec: &ChainSpec, transactions: Vec<SignedTransaction>) -> Block {
    let parent = genesis_context(spec);
    let header = Header {
        version: BLOCK_VERSION,
        height: Height(1),
        parent: parent.hash,
        merkle_root: Default::default(),
        state_root: Default::default(),
        timestamp: Timestamp(parent.timestamp.as_millis() + 1_000),
        target: pow::next_target(
            &spec.consensus.difficulty(),
            parent.height,
            parent.timestamp,
        ),
        miner: Address::from_bytes([9; 32]),
        nonce: 0,
    };
    seal(Block {
        header,
        transactions,
    })
}

fn check(spec: &ChainSpec, block: &Block) -> Result<(), BlockError> {
    check_block(block, &genesis_context(spec), &spec.consensus, now(spec))
}

fn check_with(spec: &ChainSpec, block: &Block, params: &ConsensusParams) -> Result<(), BlockError> {
    check_block(block, &genesis_context(spec), params, now(spec))
}

fn two_transfers(spec: &ChainSpec) -> Vec<SignedTransaction> {
    vec![transfer(spec, 0, 100), transfer(spec, 1, 200)]
}

#[test]
fn a_valid_block_passes_every_rule_and_applies() {
    let spec = spec();
    let block = valid_block(&spec, two_transfers(&spec));
    assert_eq!(check(&spec, &block), Ok(()));
    let change = apply_block(&spec.genesis_state(), &block, spec.consensus.block_reward).unwrap();
    assert_eq!(change.fees, Amount::from_base_units(20));
}

#[test]
fn unsupported_version() {
    let spec = spec();
    let mut block = valid_block(&spec, vec![]);
    block.header.version = 2;
    assert_eq!(
        check(&spec, &seal(block)),
        Err(BlockError::UnsupportedVersion(2))
    );
}

#[test]
fn insufficient_proof_of_work() {
    let spec = spec();
    let mut block = valid_block(&spec, vec![]);
    block.header.target = Target::MIN;
    let hash = block.header.hash();
    assert_eq!(
        check(&spec, &block),
        Err(BlockError::InsufficientProofOfWork { hash })
    );
}

#[test]
fn target_above_maximum() {
    let spec = spec();
    let mut block = valid_block(&spec, vec![]);
    block.header.target = Target::MAX;
    let block = seal(block);
    assert_eq!(
        check(&spec, &block),
        Err(BlockError::TargetAboveMaximum {
            found: Target::MAX,
            max: spec.consensus.max_target
        })
    );
}

#[test]
fn wrong_parent() {
    let spec = spec();
    let mut block = valid_block(&spec, vec![]);
    block.header.parent = BlockHash::from_bytes([5; 32]);
    let expected = genesis_context(&spec).hash;
    assert_eq!(
        check(&spec, &seal(block)),
        Err(BlockError::WrongParent {
            expected,
            found: BlockHash::from_bytes([5; 32])
        })
    );
}

#[test]
fn wrong_height() {
    let spec = spec();
    let mut block = valid_block(&spec, vec![]);
    block.header.height = Height(2);
    assert_eq!(
        check(&spec, &seal(block)),
        Err(BlockError::WrongHeight {
            expected: Height(1),
            found: Height(2)
        })
    );
}

#[test]
fn timestamp_not_after_median() {
    let spec = spec();
    let mut block = valid_block(&spec, vec![]);
    block.header.timestamp = spec.consensus.genesis_time;
    let median = spec.consensus.genesis_time;
    assert_eq!(
        check(&spec, &seal(block)),
        Err(BlockError::TimestampNotAfterMedian {
            timestamp: median,
            median
        })
    );
}

#[test]
fn timestamp_too_far_in_future() {
    let spec = spec();
    let mut block = valid_block(&spec, vec![]);
    let latest = Timestamp(now(&spec).as_millis() + spec.consensus.max_future_drift_ms);
    block.header.timestamp = latest;
    let at_limit = seal(block.clone());
    // The target depends on the parent only, so it is still right here.
    assert_eq!(check(&spec, &at_limit), Ok(()));
    block.header.timestamp = Timestamp(latest.as_millis() + 1);
    assert_eq!(
        check(&spec, &seal(block)),
        Err(BlockError::TimestampTooFarInFuture {
            timestamp: Timestamp(latest.as_millis() + 1),
            latest
        })
    );
}

#[test]
fn wrong_target() {
    let spec = spec();
    let mut block = valid_block(&spec, vec![]);
    let expected = block.header.target;
    // Harder than required (an easier one would break the maximum first).
    let mut bytes = expected.to_be_bytes();
    bytes[1] = 0x7f;
    let harder = Target::from_be_bytes(bytes).unwrap();
    block.header.target = harder;
    assert_eq!(
        check(&spec, &seal(block)),
        Err(BlockError::WrongTarget {
            expected,
            found: harder
        })
    );
}

#[test]
fn merkle_root_mismatch() {
    let spec = spec();
    let mut block = valid_block(&spec, two_transfers(&spec));
    let computed = block.header.merkle_root;
    block.transactions.swap(0, 1);
    block.header.nonce = pow::search_nonce(&block.header, 0, 1 << 24).unwrap();
    let found = block.header.merkle_root;
    let swapped = merkle_root(&block.signed_hashes());
    assert_ne!(swapped, computed);
    assert_eq!(
        check(&spec, &block),
        Err(BlockError::MerkleRootMismatch {
            computed: swapped,
            found
        })
    );
}

#[test]
fn too_large() {
    let spec = spec();
    let block = valid_block(&spec, two_transfers(&spec));
    let mut params = spec.consensus;
    params.max_block_bytes = block.encoded_len() - 1;
    assert_eq!(
        check_with(&spec, &block, &params),
        Err(BlockError::TooLarge {
            size: block.encoded_len(),
            max: params.max_block_bytes
        })
    );
}

#[test]
fn too_many_transactions() {
    let spec = spec();
    let block = valid_block(&spec, two_transfers(&spec));
    let mut params = spec.consensus;
    params.max_block_transactions = 1;
    assert_eq!(
        check_with(&spec, &block, &params),
        Err(BlockError::TooManyTransactions { count: 2, max: 1 })
    );
}

#[test]
fn duplicate_transaction() {
    let spec = spec();
    let tx = transfer(&spec, 0, 100);
    let block = valid_block(&spec, vec![tx.clone(), tx.clone()]);
    assert_eq!(
        check(&spec, &block),
        Err(BlockError::DuplicateTransaction(tx.id()))
    );
}

/// `tx` (signed by dev account 0) signed again with a torsion-shifted nonce.
fn malleated(tx: &SignedTransaction) -> SignedTransaction {
    let shifted = dev_secret_key(0)
        .sign_with_shifted_nonce(&tx.signing_message(), 1)
        .unwrap();
    SignedTransaction::new(*tx.tx(), shifted)
}

#[test]
fn two_encodings_of_one_transfer_are_a_duplicate_transaction() {
    let spec = spec();
    let tx = transfer(&spec, 0, 100);
    let copy = malleated(&tx);
    assert_ne!(copy.signed_hash(), tx.signed_hash());
    let block = valid_block(&spec, vec![tx.clone(), copy]);
    assert_eq!(
        check(&spec, &block),
        Err(BlockError::DuplicateTransaction(tx.id()))
    );
}

#[test]
fn the_header_fixes_the_signatures_bytes() {
    let spec = spec();
    let tx = transfer(&spec, 0, 100);
    let mut block = valid_block(&spec, vec![tx.clone()]);
    assert_eq!(check(&spec, &block), Ok(()));
    // The same transfer, validly signed again, is not the block the header sealed.
    block.transactions[0] = malleated(&tx);
    assert!(matches!(
        check(&spec, &block),
        Err(BlockError::MerkleRootMismatch { .. })
    ));
}

#[test]
fn a_warm_signature_cache_changes_no_verdict() {
    let spec = spec();
    let good = transfer(&spec, 0, 100);
    let forged = SignedTransaction::new(
        *transfer(&spec, 1, 100).tx(),
        Signature::from_bytes(*good.signature().as_bytes()),
    );
    let block = valid_block(&spec, vec![good.clone(), forged.clone()]);
    let cold = verify_signatures(&block, &SignatureCache::default(), 1);
    let warm_cache = SignatureCache::default();
    warm_cache
        .verify_signatures(&block.transactions[..1], 1)
        .unwrap();
    assert!(warm_cache.contains(&good));
    assert_eq!(verify_signatures(&block, &warm_cache, 2), cold);
    assert_eq!(
        cold,
        Err(BlockError::Transaction {
            index: 1,
            id: forged.id(),
            error: TxRuleError::Tx(TxError::BadSignature(SignatureError::Mismatch))
        })
    );
    assert!(!warm_cache.contains(&forged), "a failure is never cached");
}

#[test]
fn duplicate_sender_and_nonce() {
    let spec = spec();
    let (first, second) = (transfer(&spec, 0, 100), transfer(&spec, 0, 101));
    let block = valid_block(&spec, vec![first.clone(), second.clone()]);
    assert_eq!(
        check(&spec, &block),
        Err(BlockError::DuplicateSenderNonce {
            first: first.id(),
            second: second.id()
        })
    );
}

#[test]
fn a_transaction_for_another_chain() {
    let spec = spec();
    let mut tx = *transfer(&spec, 0, 100).tx();
    tx.chain_id = ChainId(1);
    let signed = tx.sign(&dev_secret_key(0));
    let block = valid_block(&spec, vec![transfer(&spec, 1, 5), signed.clone()]);
    assert_eq!(
        check(&spec, &block),
        Err(BlockError::Transaction {
            index: 1,
            id: signed.id(),
            error: TxRuleError::Tx(TxError::WrongChain {
                expected: spec.consensus.chain_id,
                found: ChainId(1)
            })
        })
    );
}

#[test]
fn a_transaction_whose_amount_plus_fee_overflows() {
    let spec = spec();
    let mut tx = *transfer(&spec, 0, 100).tx();
    tx.amount = Amount::MAX;
    let signed = tx.sign(&dev_secret_key(0));
    let block = valid_block(&spec, vec![signed.clone()]);
    assert_eq!(
        check(&spec, &block),
        Err(BlockError::Transaction {
            index: 0,
            id: signed.id(),
            error: TxRuleError::Tx(TxError::AmountPlusFeeOverflow)
        })
    );
}

#[test]
fn a_bad_signature_is_named_by_index() {
    let spec = spec();
    let good = transfer(&spec, 0, 100);
    let forged = SignedTransaction::new(
        *transfer(&spec, 1, 100).tx(),
        Signature::from_bytes(*good.signature().as_bytes()),
    );
    let block = valid_block(&spec, vec![good, forged.clone(), transfer(&spec, 2, 100)]);
    assert_eq!(
        check(&spec, &block),
        Err(BlockError::Transaction {
            index: 1,
            id: forged.id(),
            error: TxRuleError::Tx(TxError::BadSignature(SignatureError::Mismatch))
        })
    );
}
