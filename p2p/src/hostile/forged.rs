//! What a hostile peer serves in place of honest data: blocks and headers with real proof
//! of work, so that a node must judge them by the rules that come after the hash; and
//! state chunks that look like the subtree asked for but are not.

use tern_chain::block::{Block, Header};
use tern_chain::crypto::{dev_secret_key, SecretKey};
use tern_chain::genesis::ChainSpec;
use tern_chain::miner::{block_template, Template};
use tern_chain::pow::{median_time_past, search_nonce, MEDIAN_TIME_SPAN};
use tern_chain::state::Account;
use tern_chain::state_map::account_key;
use tern_chain::state_map::chunk::{Chunk, KeyPrefix};
use tern_chain::testkit::ChainBuilder;
use tern_chain::tx::{SignedTransaction, Transaction};
use tern_chain::types::{Address, Amount, StateRoot, Timestamp};
use tern_chain::validation::ParentContext;

/// A template on the last of `chain` (the node's headers, oldest first, at least the last
/// [`MEDIAN_TIME_SPAN`] for the median time past) that passes every header rule once
/// sealed and mined. `None` when `chain` is empty.
fn template_on_tip(
    spec: &ChainSpec,
    chain: &[Header],
    transactions: Vec<SignedTransaction>,
    miner: Address,
) -> Option<Template> {
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
    Some(block_template(
        &spec.consensus,
        &parent,
        transactions,
        miner,
        Timestamp::now(),
    ))
}

/// Seals `template` with `state_root` and finds its proof of work.
fn mine(template: Template, state_root: StateRoot) -> Option<Block> {
    let mut block = template.seal(state_root);
    block.header.nonce = search_nonce(&block.header, 0, u64::MAX)?;
    Some(block)
}

/// A block on the last of `chain` (as for a template: at least the last
/// [`MEDIAN_TIME_SPAN`] headers) that passes every header rule, proof of work included,
/// but holds a transfer signed by a key that is not its sender's. `None` when `chain` is
/// empty.
pub fn block_with_bad_signature(spec: &ChainSpec, chain: &[Header]) -> Option<Block> {
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
    let template = template_on_tip(spec, chain, vec![forged], forger.address())?;
    let root = chain.last()?.state_root;
    mine(template, root)
}

/// The state root [`block_with_bad_state_root`] commits to: no state has it (finding one
/// would take a preimage of SHA-256).
pub const FORGED_STATE_ROOT: StateRoot = StateRoot::from_bytes([0xee; 32]);

/// An empty block on the last of `chain` (as for a template) that keeps every rule but
/// the last: its header commits to [`FORGED_STATE_ROOT`], a state the block does not
/// leave. Only a node holding the parent's state can tell. `None` when `chain` is empty.
pub fn block_with_bad_state_root(spec: &ChainSpec, chain: &[Header]) -> Option<Block> {
    let template = template_on_tip(spec, chain, Vec::new(), dev_secret_key(1).address())?;
    mine(template, FORGED_STATE_ROOT)
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

/// Addresses tried at most for a forged chunk's accounts: enough to find two under a
/// prefix of three nibbles (one in 4,096 is).
const MAX_GRIND: u32 = 200_000;

/// A chunk for `prefix` that is not its subtree: two made-up accounts under the prefix
/// (found by trying addresses), so that it passes every check but the hash; past what
/// grinding finds quickly, a single made-up account.
pub fn forged_chunk(prefix: &KeyPrefix) -> Chunk {
    let mut found = Vec::new();
    for i in 0..MAX_GRIND {
        let mut bytes = [0xf0; 32];
        bytes[..4].copy_from_slice(&i.to_le_bytes());
        let address = Address::from_bytes(bytes);
        if prefix.contains(&account_key(&address)) {
            let account = Account {
                balance: Amount::from_base_units(1_000_000_000_000),
                nonce: 0,
            };
            found.push((address, account));
            if found.len() == 2 {
                break;
            }
        }
    }
    if found.is_empty() {
        found.push((
            Address::from_bytes([0xf0; 32]),
            Account {
                balance: Amount::from_base_units(1),
                nonce: 0,
            },
        ));
    }
    found.sort_by_key(|(address, _)| account_key(address));
    Chunk::Accounts(found)
}
