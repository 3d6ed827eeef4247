//! The header chain the wallet has verified itself: every rule a header alone can show
//! (proof of work, the link to its parent, its height, timestamps, the difficulty rule),
//! checked from the chain spec's genesis, with no node trusted for any of it. Every
//! figure the wallet shows is proven against a header of this chain.
//!
//! A node's chain arrives as a [`Branch`]: the headers it serves after the last block
//! both chains share, checked as they come. The wallet adopts a branch only if it has
//! more work than the chain it holds, as a node would.

use tern_chain::block::Header;
use tern_chain::error::BlockError;
use tern_chain::genesis::ChainSpec;
use tern_chain::pow::{median_time_past, MEDIAN_TIME_SPAN};
use tern_chain::types::{BlockHash, Height, Timestamp, Work};
use tern_chain::validation::{check_header, ParentContext};

/// A header chain from genesis, every header checked. Heights index it.
#[derive(Debug, Clone)]
pub struct VerifiedChain {
    spec: ChainSpec,
    headers: Vec<Header>,
    hashes: Vec<BlockHash>,
    /// The work of the chain up to and including each height.
    work: Vec<Work>,
}

/// Why a node's headers were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A header breaks a rule.
    #[error("header {height} breaks a rule: {error}")]
    Rule {
        /// Its height (as its position in the branch says).
        height: u64,
        /// The rule.
        error: BlockError,
    },
    /// The branch starts at a block this chain does not hold.
    #[error("the headers start after height {0}, which the verified chain does not reach")]
    NoSuchFork(u64),
}

/// Headers that follow a block of a [`VerifiedChain`], each checked against the one
/// before: a node's chain from where it leaves ours.
#[derive(Debug, Clone)]
pub struct Branch {
    fork: Height,
    headers: Vec<Header>,
    hashes: Vec<BlockHash>,
    work: Vec<Work>,
    /// The timestamps of the last [`MEDIAN_TIME_SPAN`] blocks up to the branch's tip.
    recent: Vec<Timestamp>,
}

impl VerifiedChain {
    /// The chain of `spec`'s genesis alone.
    pub fn new(spec: ChainSpec) -> VerifiedChain {
        let genesis = spec.genesis_header();
        VerifiedChain {
            headers: vec![genesis],
            hashes: vec![genesis.hash()],
            work: vec![genesis.target.work()],
            spec,
        }
    }

    /// The chain spec it follows.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// The genesis hash.
    pub fn genesis(&self) -> BlockHash {
        self.hashes.first().copied().unwrap_or(BlockHash::ZERO)
    }

    /// The tip's height.
    pub fn height(&self) -> Height {
        Height(self.headers.len().saturating_sub(1) as u64)
    }

    /// The tip's hash.
    pub fn tip(&self) -> BlockHash {
        self.hashes.last().copied().unwrap_or(BlockHash::ZERO)
    }

    /// The work of the whole chain.
    pub fn work(&self) -> Work {
        self.work.last().copied().unwrap_or_default()
    }

    /// The header at `height`.
    pub fn header_at(&self, height: Height) -> Option<&Header> {
        self.headers.get(usize::try_from(height.value()).ok()?)
    }

    /// The hash at `height`.
    pub fn hash_at(&self, height: Height) -> Option<BlockHash> {
        self.hashes
            .get(usize::try_from(height.value()).ok()?)
            .copied()
    }

    /// The headers above genesis, oldest first: what the header file stores.
    pub fn above_genesis(&self) -> &[Header] {
        self.headers.get(1..).unwrap_or_default()
    }

    /// An empty branch from `fork`, a height this chain holds.
    pub fn branch_from(&self, fork: Height) -> Result<Branch, HeaderError> {
        let at = usize::try_from(fork.value())
            .ok()
            .filter(|at| *at < self.headers.len())
            .ok_or(HeaderError::NoSuchFork(fork.value()))?;
        let start = (at + 1).saturating_sub(MEDIAN_TIME_SPAN);
        let recent = self
            .headers
            .get(start..=at)
            .unwrap_or_default()
            .iter()
            .map(|h| h.timestamp)
            .collect();
        Ok(Branch {
            fork,
            headers: Vec::new(),
            hashes: Vec::new(),
            work: Vec::new(),
            recent,
        })
    }

    /// The work of the chain `branch` would make.
    pub fn work_with(&self, branch: &Branch) -> Work {
        let base = self
            .work
            .get(branch.fork.value() as usize)
            .copied()
            .unwrap_or_default();
        branch
            .work
            .last()
            .map_or(base, |work| base.saturating_add(*work))
    }

    /// Takes `branch` if it gives a chain with more work than this one; returns whether
    /// it did.
    pub fn adopt(&mut self, branch: Branch) -> bool {
        if self.work_with(&branch) <= self.work() {
            return false;
        }
        self.replace_with(branch)
    }

    /// Takes `branch` whatever its work: the wallet follows the most work among the
    /// nodes it is given, even when a chain it verified before had more. False if the
    /// branch does not start on this chain.
    pub fn replace_with(&mut self, branch: Branch) -> bool {
        let Some(base) = self.work.get(branch.fork.value() as usize).copied() else {
            return false;
        };
        let keep = branch.fork.value() as usize + 1;
        self.headers.truncate(keep);
        self.hashes.truncate(keep);
        self.work.truncate(keep);
        for ((header, hash), work) in branch
            .headers
            .into_iter()
            .zip(branch.hashes)
            .zip(branch.work)
        {
            self.headers.push(header);
            self.hashes.push(hash);
            self.work.push(base.saturating_add(work));
        }
        true
    }
}

impl Branch {
    /// The block it leaves the chain after.
    pub fn fork(&self) -> Height {
        self.fork
    }

    /// How many headers it holds.
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// The height of its last header (the fork's if it holds none).
    pub fn tip_height(&self) -> Height {
        Height(self.fork.value().saturating_add(self.headers.len() as u64))
    }

    /// Checks `header` against the branch's last header (or `parent`, the fork's hash, if
    /// there is none) and appends it. `now` is this machine's clock, for the rule on
    /// timestamps ahead of it.
    pub fn push(
        &mut self,
        chain: &VerifiedChain,
        header: Header,
        now: Timestamp,
    ) -> Result<(), HeaderError> {
        let height = self.tip_height();
        let (hash, timestamp) = match (self.hashes.last(), self.headers.last()) {
            (Some(hash), Some(last)) => (*hash, last.timestamp),
            _ => {
                let parent = chain
                    .header_at(self.fork)
                    .ok_or(HeaderError::NoSuchFork(self.fork.value()))?;
                (
                    chain.hash_at(self.fork).unwrap_or(BlockHash::ZERO),
                    parent.timestamp,
                )
            }
        };
        let rule = |error| HeaderError::Rule {
            height: height.value().saturating_add(1),
            error,
        };
        let parent = ParentContext {
            hash,
            height,
            timestamp,
            median_time_past: median_time_past(&self.recent).unwrap_or(timestamp),
        };
        check_header(&header, &parent, &chain.spec.consensus, now).map_err(rule)?;
        let before = self.work.last().copied().unwrap_or_default();
        self.work.push(before.saturating_add(header.target.work()));
        self.hashes.push(header.hash());
        self.headers.push(header);
        if self.recent.len() == MEDIAN_TIME_SPAN {
            self.recent.remove(0);
        }
        self.recent.push(header.timestamp);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_chain::testkit::ChainBuilder;
    use tern_chain::types::Address;

    fn spec() -> ChainSpec {
        ChainSpec::resolve("dev").unwrap()
    }

    fn headers(
        builder: &mut ChainBuilder,
        from: &BlockHash,
        count: usize,
        miner: u8,
    ) -> Vec<Header> {
        builder
            .extend(from, count, &[], 0, Address::from_bytes([miner; 32]))
            .iter()
            .map(|b| b.header)
            .collect()
    }

    fn branch(chain: &VerifiedChain, fork: u64, headers: &[Header]) -> Result<Branch, HeaderError> {
        let mut branch = chain.branch_from(Height(fork))?;
        for header in headers {
            branch.push(chain, *header, Timestamp::now())?;
        }
        Ok(branch)
    }

    #[test]
    fn a_longer_valid_branch_is_adopted_and_a_shorter_one_is_not() {
        let mut builder = ChainBuilder::new(spec());
        let genesis = builder.genesis();
        let main = headers(&mut builder, &genesis, 12, 1);
        let mut chain = VerifiedChain::new(spec());
        assert!(chain.adopt(branch(&chain, 0, &main).unwrap()));
        assert_eq!(chain.height(), Height(12));
        assert_eq!(chain.tip(), main[11].hash());

        // A fork after height 5, shorter: kept out. Longer: taken, from the fork up.
        let fork_point = main[4].hash();
        let side = headers(&mut builder, &fork_point, 8, 2);
        assert!(!chain.adopt(branch(&chain, 5, &side[..7]).unwrap()));
        assert_eq!(chain.tip(), main[11].hash());
        assert!(chain.adopt(branch(&chain, 5, &side).unwrap()));
        assert_eq!(chain.height(), Height(13));
        assert_eq!(chain.hash_at(Height(6)), Some(side[0].hash()));
        assert_eq!(chain.tip(), side[7].hash());
    }

    #[test]
    fn a_header_breaking_a_rule_is_refused_by_height() {
        let mut builder = ChainBuilder::new(spec());
        let genesis = builder.genesis();
        let main = headers(&mut builder, &genesis, 4, 1);
        let chain = VerifiedChain::new(spec());

        let mut broken_link = main.clone();
        broken_link[2].parent = BlockHash::from_bytes([7; 32]);
        assert!(matches!(
            branch(&chain, 0, &broken_link),
            Err(HeaderError::Rule {
                height: 3,
                error: BlockError::InsufficientProofOfWork { .. } | BlockError::WrongParent { .. }
            })
        ));

        // Harder than the difficulty rule says is wrong too: the rule fixes the target.
        let mut harder = main.clone();
        harder[1].target =
            tern_chain::types::Target::from_hex(&format!("000f{}", "f".repeat(60))).unwrap();
        harder[1].nonce = tern_chain::pow::search_nonce(&harder[1], 0, u64::MAX).unwrap();
        assert!(matches!(
            branch(&chain, 0, &harder[..2]),
            Err(HeaderError::Rule {
                height: 2,
                error: BlockError::WrongTarget { .. }
            })
        ));

        assert_eq!(
            chain.branch_from(Height(9)).unwrap_err(),
            HeaderError::NoSuchFork(9)
        );
    }
}
