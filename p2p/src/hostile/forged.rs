//! What a hostile peer serves in place of honest data: blocks and headers with real proof
//! of work, so that a node must judge them by the rules that come after the hash.

use tern_chain::block::{Block, Header};
use tern_chain::crypto::{dev_secret_key, SecretKey};
use tern_chain::genesis::ChainSpec;
use tern_chain::miner::block_template;
use tern_chain::pow::{median_time_past, search_nonce, MEDIAN_TIME_SPAN};
use tern_chain::testkit::ChainBuilder;
use tern_chain::tx::Transaction;
use tern_chain::types::{Amount, Timestamp};
use tern_chain::validation::ParentContext;

/// A block on the last of `chain` (the node's headers, oldest first, at least the last
/// [`MEDIAN_TIME_SPAN`] for the median time past) that passes every header rule, proof of
/// work included, but holds a transfer signed by a key that is not its sender's. `None`
/// when `chain` is empty.
pub fn block_with_bad_signature(spec: &ChainSpec, chain: &[Header]) -> Option<Block> {
    let tip = chain.last()?;
    let recent: Vec<Timestamp> = chain
        .iter()
        .rev()
        .take(MEDIAN_TIME_SPAN)
        .map(|h| h.timestamp)
        .collect();
    let parent = ParentContext {
        hash: tip.hash(),
        height: tip.height,
        timestamp: tip.timestamp,
        median_time_past: median_time_past(&recent)?,
    };
    let (sender, forger): (SecretKey, SecretKey) = (dev_secret_key(0), dev_secret_key(1));
    let forged = Transaction {
        chain_id: spec.consensus.chain_id,
        from: sender.address(),
        to: forger.address(),
        amount: Amount::from_base_units(1),
        fee: Amount::from_base_units(1),
        nonce: 0,
    }
    .sign(&forger);
    let mut block = block_template(
        &spec.consensus,
        &parent,
        vec![forged],
        forger.address(),
        Timestamp::now(),
    );
    block.header.nonce = search_nonce(&block.header, 0, u64::MAX)?;
    Some(block)
}

/// `count` headers of empty blocks after `spec`'s genesis, each with real proof of work
/// and every header rule kept: a chain with exactly `count` blocks' worth of work at the
/// easiest target. Against a node whose chain has more blocks, it is a long chain that
/// does not matter, which a node must find out without fetching a block of it.
pub fn header_chain_from_genesis(spec: &ChainSpec, count: usize) -> Vec<Header> {
    let mut builder = ChainBuilder::new(spec.clone());
    let genesis = builder.genesis();
    builder
        .extend(&genesis, count, &[], 0, dev_secret_key(1).address())
        .iter()
        .map(|block| block.header)
        .collect()
}
