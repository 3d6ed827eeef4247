use tern_chain::block::Block;
use tern_chain::crypto::dev_secret_key;
use tern_chain::encoding::{decode, encode};
use tern_chain::genesis::ChainSpec;
use tern_chain::tx::{SignedTransaction, Transaction};
use tern_chain::types::Amount;

use super::*;

/// A signed transfer from dev account `from`, nonce `nonce`.
fn transfer(from: u32, nonce: u64) -> SignedTransaction {
    let key = dev_secret_key(from);
    Transaction {
        chain_id: ChainSpec::resolve("dev").unwrap().consensus.chain_id,
        from: key.address(),
        to: dev_secret_key(from + 1).address(),
        amount: Amount::from_base_units(1),
        fee: Amount::from_base_units(1_000),
        nonce,
    }
    .sign(&key)
}

/// A block of `count` transfers whose header commits to them (it is not mined: the
/// rebuild checks the body, not the work).
fn block(count: u64) -> Block {
    let transactions: Vec<SignedTransaction> = (0..count).map(|n| transfer(0, n)).collect();
    let mut header = ChainSpec::resolve("dev").unwrap().genesis_header();
    let mut block = Block {
        header,
        transactions,
    };
    header.merkle_root = block.computed_merkle_root();
    block.header = header;
    block
}

#[test]
fn each_message_reads_back_as_written() {
    let block = block(5);
    let mut compact = CompactBlock::new(&block, 7);
    compact.prefilled.push(Prefilled {
        index: 5,
        tx: transfer(3, 0),
    });
    assert_eq!(decode::<CompactBlock>(&encode(&compact)).unwrap(), compact);
    let request = BlockTxsRequest {
        block: block.hash(),
        indexes: vec![0, 2, 4],
    };
    assert_eq!(
        decode::<BlockTxsRequest>(&encode(&request)).unwrap(),
        request
    );
    let answer = BlockTxs {
        block: block.hash(),
        txs: block.transactions.clone(),
    };
    assert_eq!(decode::<BlockTxs>(&encode(&answer)).unwrap(), answer);
}

#[test]
fn positions_that_do_not_increase_or_fall_outside_the_block_do_not_decode() {
    let block = block(3);
    let mut compact = CompactBlock::new(&block, 1);
    compact.short_ids.truncate(1);
    compact.prefilled = vec![
        Prefilled {
            index: 1,
            tx: transfer(1, 0),
        },
        Prefilled {
            index: 1,
            tx: transfer(2, 0),
        },
    ];
    assert!(decode::<CompactBlock>(&encode(&compact)).is_err());
    compact.prefilled.truncate(1);
    compact.prefilled[0].index = 2;
    assert!(
        decode::<CompactBlock>(&encode(&compact)).is_err(),
        "2 is past a 2-tx block"
    );
    compact.prefilled[0].index = 1;
    assert!(decode::<CompactBlock>(&encode(&compact)).is_ok());

    let request = BlockTxsRequest {
        block: block.hash(),
        indexes: vec![2, 1],
    };
    assert!(decode::<BlockTxsRequest>(&encode(&request)).is_err());
}

#[test]
fn a_short_id_is_six_bytes_keyed_by_header_and_nonce() {
    let block = block(1);
    let hash = block.transactions[0].signed_hash();
    let key = ShortIdKey::new(&block.header, 1);
    assert_eq!(
        key.short_id(&hash),
        ShortIdKey::new(&block.header, 1).short_id(&hash)
    );
    assert_ne!(
        key.short_id(&hash),
        ShortIdKey::new(&block.header, 2).short_id(&hash)
    );
    assert!(key.short_id(&hash).value() < 1 << 48);
    assert_eq!(encode(&key.short_id(&hash)).len(), SHORT_ID_LEN);
}

#[test]
fn a_block_whose_transactions_are_all_held_is_rebuilt_without_asking() {
    let block = block(20);
    let mut partial = PartialBlock::new(CompactBlock::new(&block, 9));
    // Offered in another order, with others the block does not hold.
    for tx in block.transactions.iter().rev().chain([&transfer(5, 0)]) {
        partial.offer(tx);
    }
    assert!(partial.missing().is_empty());
    assert_eq!(partial.complete(Vec::new()).unwrap(), block);
}

#[test]
fn missing_transactions_are_asked_by_position_and_the_answer_completes_the_block() {
    let block = block(6);
    let mut compact = CompactBlock::new(&block, 3);
    // The first carried whole, as a sender does for one the receiver cannot hold.
    compact.short_ids.remove(0);
    compact.prefilled.push(Prefilled {
        index: 0,
        tx: block.transactions[0].clone(),
    });
    let mut partial = PartialBlock::new(compact);
    for tx in block.transactions.iter().skip(1).step_by(2) {
        partial.offer(tx);
    }
    assert_eq!(partial.missing(), [2, 4]);
    let answer = vec![block.transactions[2].clone(), block.transactions[4].clone()];
    assert_eq!(partial.complete(answer).unwrap(), block);
}

#[test]
fn an_answer_that_is_not_the_blocks_is_the_senders_fault() {
    let block = block(3);
    let fresh = || {
        let mut partial = PartialBlock::new(CompactBlock::new(&block, 3));
        partial.offer(&block.transactions[0]);
        partial
    };
    let wrong = vec![block.transactions[1].clone(), transfer(7, 0)];
    assert_eq!(
        fresh().complete(wrong),
        Err(RebuildError::AnswerMismatch { index: 2 })
    );
    assert_eq!(
        fresh().complete(vec![block.transactions[1].clone()]),
        Err(RebuildError::WrongCount { missing: 2, got: 1 })
    );
}

#[test]
fn a_short_id_named_twice_or_a_body_that_does_not_match_asks_for_the_whole_block() {
    let block = block(4);
    let mut compact = CompactBlock::new(&block, 5);
    compact.short_ids[3] = compact.short_ids[0];
    let partial = PartialBlock::new(compact);
    assert!(partial.collided());
    assert_eq!(
        partial.complete(block.transactions.clone()),
        Err(RebuildError::Collision)
    );

    // A header committing to other transactions than the short ids name.
    let mut other = block.clone();
    other.header.merkle_root = tern_chain::types::MerkleRoot::from_bytes([7; 32]);
    let mut partial = PartialBlock::new(CompactBlock::new(&other, 5));
    for tx in &other.transactions {
        partial.offer(tx);
    }
    assert_eq!(
        partial.complete(Vec::new()),
        Err(RebuildError::BodyMismatch)
    );
}

/// The short id docs/PROTOCOL.md gives for its worked example's transaction, keyed by the
/// dev genesis header and nonce 1, is what the code computes: an implementation written
/// from the document alone can check itself against it.
#[test]
fn the_worked_examples_short_id_matches_the_protocol_document() {
    let doc = include_str!("../../../docs/PROTOCOL.md");
    let example = doc
        .split("## Worked example")
        .nth(1)
        .and_then(|section| section.split("```").nth(1))
        .unwrap();
    let documented = example
        .lines()
        .find_map(|line| line.strip_prefix("short id (dev genesis, nonce 1):"))
        .unwrap()
        .trim();
    let spec = ChainSpec::resolve("dev").unwrap();
    let tx = Transaction {
        chain_id: spec.consensus.chain_id,
        from: dev_secret_key(0).address(),
        to: dev_secret_key(1).address(),
        amount: Amount::from_base_units(1_000_000),
        fee: Amount::from_base_units(1_000),
        nonce: 0,
    }
    .sign(&dev_secret_key(0));
    let id = ShortIdKey::new(&spec.genesis_header(), 1).short_id(&tx.signed_hash());
    assert_eq!(hex::encode(encode(&id)), documented);
}
