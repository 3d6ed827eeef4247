//! Block templates: the pure part of mining. The threads that search nonces live in the
//! node; the nonce search itself is [`crate::pow::search_nonce`].

use crate::block::{merkle_root, Block, Header, BLOCK_VERSION, HEADER_LEN};
use crate::genesis::ConsensusParams;
use crate::pow::next_target;
use crate::tx::SignedTransaction;
use crate::types::{Address, StateRoot, Timestamp};
use crate::validation::ParentContext;

/// The most transactions and transaction bytes a block of this chain can hold, for
/// the mempool's selection of a block's transactions (`tern_mempool::Mempool::select`).
pub fn transaction_limits(params: &ConsensusParams) -> (usize, u64) {
    let count = usize::try_from(params.max_block_transactions).unwrap_or(usize::MAX);
    let bytes = params
        .max_block_bytes
        .saturating_sub((HEADER_LEN + 8) as u64);
    (count, bytes)
}

/// A block being assembled: everything but its state root, which only someone holding
/// the parent's state can compute (the chain: `ChainHandle::seal` in `tern-state`; the
/// testkit), and its nonce. [`Template::seal`] is the only way to a [`Block`], so no
/// block leaves assembly without a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Block);

impl Template {
    /// The block so far; its header's state root is zero until sealed.
    pub fn block(&self) -> &Block {
        &self.0
    }

    /// The block, committing to `state_root`: the root of the state it leaves.
    pub fn seal(self, state_root: StateRoot) -> Block {
        let mut block = self.0;
        block.header.state_root = state_root;
        block
    }
}

/// An unmined block on `parent` with `transactions`, paying `miner`: the target the
/// difficulty rule requires, a timestamp of `now` (or just after the median time past if
/// the clock is behind it), the Merkle root, and nonce 0. Its state root is to come
/// ([`Template`]).
pub fn block_template(
    params: &ConsensusParams,
    parent: &ParentContext,
    transactions: Vec<SignedTransaction>,
    miner: Address,
    now: Timestamp,
) -> Template {
    let earliest = parent.median_time_past.as_millis().saturating_add(1);
    let header = Header {
        version: BLOCK_VERSION,
        height: parent.height.next().unwrap_or(parent.height),
        parent: parent.hash,
        merkle_root: merkle_root(
            &transactions
                .iter()
                .map(SignedTransaction::signed_hash)
                .collect::<Vec<_>>(),
        ),
        state_root: StateRoot::from_bytes([0; 32]),
        timestamp: Timestamp(now.as_millis().max(earliest)),
        target: next_target(&params.difficulty(), parent.height, parent.timestamp),
        miner,
        nonce: 0,
    };
    Template(Block {
        header,
        transactions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesis::ChainSpec;
    use crate::pow::search_nonce;
    use crate::validation::check_block;

    #[test]
    fn a_mined_template_passes_validation() {
        let spec = ChainSpec::resolve("dev").unwrap();
        let genesis = spec.genesis_header();
        let parent = ParentContext {
            hash: genesis.hash(),
            height: genesis.height,
            timestamp: genesis.timestamp,
            median_time_past: genesis.timestamp,
        };
        // A clock behind the chain still yields a valid timestamp.
        let mut block = block_template(
            &spec.consensus,
            &parent,
            vec![],
            Address::from_bytes([1; 32]),
            Timestamp(0),
        )
        .seal(StateRoot::from_bytes([7; 32]));
        block.header.nonce = search_nonce(&block.header, 0, u64::MAX).unwrap();
        let now = Timestamp(genesis.timestamp.as_millis() + 1000);
        assert_eq!(check_block(&block, &parent, &spec.consensus, now), Ok(()));
        let (count, bytes) = transaction_limits(&spec.consensus);
        assert_eq!(count, 5_000);
        assert_eq!(bytes, 1_000_000 - 196);
    }
}
