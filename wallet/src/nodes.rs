//! The nodes a wallet is given (`--rpc`, repeatable) and the chain it follows among them:
//! for each node, where its chain leaves the verified one, its headers from there
//! (checked as they come), and the chain with the most work wins. Then every figure is
//! asked of a node that holds the verified tip, and checked ([`crate::answers`]).
//!
//! A node that follows a chain with less work, or is behind, is not a liar: it is passed
//! over with a note. A node whose answer does not check is refused by name.

use tern_chain::block::Header;
use tern_chain::encoding;
use tern_chain::state::Account;
use tern_chain::types::{Address, Height, Timestamp, TxId};
use tern_rpc::chain::{BlockId, TernApiClient, TxStatus, MAX_HEADERS_PER_CALL};
use tern_rpc::jsonrpsee::http_client::HttpClient;

use crate::answers::{check_account, check_inclusion, Inclusion, Mismatch};
use crate::error::WalletError;
use crate::header_file::MAX_STORED_HEADERS;
use crate::headers::{Branch, VerifiedChain};

/// A node the wallet talks to.
#[derive(Debug)]
pub struct Node {
    /// Its URL, which names it in every message.
    pub url: String,
    /// The client.
    pub client: HttpClient,
}

/// Where a node stands against the verified chain after [`follow`].
#[derive(Debug, Clone)]
pub enum Standing {
    /// It holds the verified tip: it can answer for it.
    AtTip,
    /// Its chain has no more work (behind, or on a weaker fork): it cannot. Its headers
    /// from where it leaves the verified chain, checked, in case no node given holds
    /// the verified tip.
    LessWork {
        /// Its tip's height.
        height: u64,
        /// Its chain from the fork.
        branch: Branch,
    },
}

/// Why a node could not be followed: a lie, or a failed call.
#[derive(Debug)]
pub enum Failure {
    /// Its answer did not check.
    Lied(Mismatch),
    /// The call failed.
    Call(WalletError),
}

impl From<Mismatch> for Failure {
    fn from(mismatch: Mismatch) -> Self {
        Failure::Lied(mismatch)
    }
}

impl Failure {
    /// The wallet's error for it, naming `node`.
    pub fn into_error(self, node: &Node) -> WalletError {
        match self {
            Failure::Lied(what) => WalletError::Unverified {
                node: node.url.clone(),
                what,
            },
            Failure::Call(error) => WalletError::NodeFailed {
                node: node.url.clone(),
                error: Box::new(error),
            },
        }
    }
}

fn call(error: tern_rpc::jsonrpsee::core::client::Error) -> Failure {
    Failure::Call(crate::commands::rpc_error(error))
}

/// Brings `chain` up to `node`'s chain if that has more work, checking every header, and
/// says where the node stands. `now` is this machine's clock.
pub async fn follow(
    chain: &mut VerifiedChain,
    node: &Node,
    now: Timestamp,
) -> Result<Standing, Failure> {
    let info = node.client.chain_info().await.map_err(call)?;
    if info.genesis_hash != chain.genesis().to_string() {
        return Err(Mismatch::OtherChain {
            theirs: info.genesis_hash,
            ours: chain.genesis(),
        }
        .into());
    }
    let fork = fork_point(chain, node, info.height.min(chain.height().value())).await?;
    let mut branch = chain.branch_from(fork).map_err(Mismatch::from)?;
    // Up to the height it named (it may have grown since, which the next command sees),
    // and no further than a header file holds: a node that names an endless chain of
    // cheap headers is not followed past that.
    let until = info.height.min(MAX_STORED_HEADERS);
    while branch.tip_height().value() < until {
        let start = branch.tip_height().value() + 1;
        let page = node
            .client
            .chain_get_headers(start, Some(MAX_HEADERS_PER_CALL))
            .await
            .map_err(call)?;
        if page.is_empty() {
            break;
        }
        for (offset, text) in page.iter().enumerate() {
            let height = start + offset as u64;
            let header = decode_header(text)?;
            if branch.is_empty() && Some(header.parent) != chain.hash_at(fork) {
                return Err(Mismatch::HeadersDoNotFollow {
                    height,
                    fork: fork.value(),
                }
                .into());
            }
            branch.push(chain, header, now).map_err(Mismatch::from)?;
        }
    }
    let their_tip = branch.tip_height().value();
    let at_our_tip = fork == chain.height() && branch.is_empty();
    if at_our_tip || chain.work_with(&branch) > chain.work() {
        chain.adopt(branch);
        Ok(Standing::AtTip)
    } else {
        Ok(Standing::LessWork {
            height: their_tip,
            branch,
        })
    }
}

fn decode_header(text: &str) -> Result<Header, Mismatch> {
    let malformed = |reason: String| Mismatch::Malformed {
        what: "header",
        reason,
    };
    let bytes = hex::decode(text).map_err(|e| malformed(e.to_string()))?;
    encoding::decode::<Header>(&bytes).map_err(|e| malformed(e.to_string()))
}

/// The highest height at which `node`'s chain and `chain` hold the same block, at most
/// `start`: steps back doubling from `start`, then halves the gap.
async fn fork_point(chain: &VerifiedChain, node: &Node, start: u64) -> Result<Height, Failure> {
    let agrees = |height: u64| async move {
        let theirs = node
            .client
            .chain_get_block_hash(height)
            .await
            .map_err(call)?;
        Ok::<_, Failure>(
            theirs.is_some() && theirs == chain.hash_at(Height(height)).map(|h| h.to_string()),
        )
    };
    if agrees(start).await? {
        return Ok(Height(start));
    }
    // Genesis always agrees: the node's chain info named ours.
    let (mut low, mut high, mut step) = (0, start, 1u64);
    while high > 0 {
        let probe = high.saturating_sub(step);
        if agrees(probe).await? {
            low = probe;
            break;
        }
        high = probe;
        step = step.saturating_mul(2);
    }
    while high.saturating_sub(low) > 1 {
        let middle = low + (high - low) / 2;
        if agrees(middle).await? {
            low = middle;
        } else {
            high = middle;
        }
    }
    Ok(Height(low))
}

/// An account at the verified tip, proven by `node`.
pub async fn proven_account(
    chain: &VerifiedChain,
    node: &Node,
    address: &Address,
) -> Result<Option<Account>, Failure> {
    let prefix = chain.spec().address_prefix;
    let tip = chain.tip();
    let answer = node
        .client
        .account_get_proof(
            address.to_bech32(&prefix),
            Some(BlockId::Hash(tip.to_string())),
        )
        .await
        .map_err(call)?;
    Ok(check_account(chain, &tip, address, &prefix, &answer)?)
}

/// Where transaction `txid` stands, as `node` says and, once in a block, proven: the
/// status the node gave (its word, for a transaction not in a block yet) and, if it is in
/// a block, where (checked against the verified chain).
pub async fn proven_status(
    chain: &VerifiedChain,
    node: &Node,
    txid: &TxId,
) -> Result<(TxStatus, Option<Inclusion>), Failure> {
    let status = node.client.tx_get(txid.to_string()).await.map_err(call)?;
    let TxStatus::Confirmed { transaction, .. } = &status else {
        return Ok((status, None));
    };
    let proof = node
        .client
        .tx_get_proof(txid.to_string())
        .await
        .map_err(call)?;
    let Some(proof) = proof else {
        // Reorged out between the two calls: the node's own word is all there is.
        return Ok((TxStatus::Unknown, None));
    };
    let inclusion = check_inclusion(chain, txid, transaction, &proof)?;
    Ok((status, Some(inclusion)))
}
