//! What a command works with: the nodes it was given and, unless `--trust-node`, the
//! header chain it verified among them. It answers the commands' questions (an
//! account, a transaction's place) only with what checks, asking the nodes that hold the
//! verified tip in the order given; a node whose answer does not check is refused by
//! name, and another asked.

use std::path::Path;

use tern_chain::genesis::ChainSpec;
use tern_chain::state::Account;
use tern_chain::types::{Address, AddressPrefix, ChainId, Height, Timestamp, TxId};
use tern_rpc::chain::{TernApiClient, TxStatus};
use tern_rpc::jsonrpsee::http_client::HttpClientBuilder;

use crate::answers::{Inclusion, Mismatch};
use crate::error::WalletError;
use crate::header_file::HeaderFile;
use crate::headers::VerifiedChain;
use crate::nodes::{follow, proven_account, proven_status, Failure, Node, Standing};

/// How many times a transaction's proof may name a block past the verified tip (mined
/// since the headers were followed) before it is taken for a lie: each time the headers
/// are followed again first.
const MAX_CATCH_UPS: u32 = 3;

/// The chains `--chain` may name besides a spec file.
const BUILT_IN: [&str; 2] = ["dev", "testnet"];

/// The nodes of a command, and what it verified.
pub struct Session {
    /// The first node given: what needs no proof is asked of it.
    first: Node,
    /// The nodes given, the first included.
    nodes: Vec<Node>,
    /// The chain's address prefix and id: the spec's when verifying, else the node's.
    pub prefix: AddressPrefix,
    /// The chain id transactions are signed for.
    pub chain_id: ChainId,
    verified: Option<Verified>,
}

struct Verified {
    chain: VerifiedChain,
    file: HeaderFile,
    /// The nodes (indexes into `nodes`) that hold the verified tip.
    at_tip: Vec<usize>,
}

/// How the account figures a command shows were obtained, for its last line.
pub enum Provenance {
    /// Proven against the verified chain.
    Verified {
        /// The block they hold at.
        height: Height,
        /// Its hash.
        hash: String,
        /// The node that answered.
        node: String,
        /// How many nodes the chain was followed among.
        nodes: usize,
    },
    /// `--trust-node`: the node's word.
    Trusted {
        /// The node.
        node: String,
    },
}

impl std::fmt::Display for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Provenance::Verified { height, hash, node, nodes } => write!(
                f,
                "verified: proven by {node} at block {hash} (height {height}) of the chain with the most work among {nodes} node{}, every header checked by this wallet",
                if *nodes == 1 { "" } else { "s" }
            ),
            Provenance::Trusted { node } => {
                write!(f, "not verified (--trust-node): the word of {node}")
            }
        }
    }
}

fn client(url: &str) -> Result<Node, WalletError> {
    let client = HttpClientBuilder::default()
        .build(url)
        .map_err(|e| WalletError::BadUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(Node {
        url: url.to_owned(),
        client,
    })
}

/// The spec to verify against: `--chain` (a built-in name or a file), or the built-in
/// chain whose genesis the first node names.
async fn chain_spec(choice: Option<&str>, first: &Node) -> Result<ChainSpec, WalletError> {
    if let Some(choice) = choice {
        return ChainSpec::resolve(choice).map_err(|e| WalletError::Chain(e.to_string()));
    }
    let info = first
        .client
        .chain_info()
        .await
        .map_err(|e| Failure::Call(crate::commands::rpc_error(e)).into_error(first))?;
    BUILT_IN
        .iter()
        .filter_map(|name| ChainSpec::resolve(name).ok())
        .find(|spec| spec.genesis_hash().to_string() == info.genesis_hash)
        .ok_or_else(|| WalletError::UnknownChain {
            node: first.url.clone(),
            name: info.name,
            genesis: info.genesis_hash,
        })
}

impl Session {
    /// Connects to `urls` (at least one). With `trust`, asks the first node for the
    /// chain's prefix and id and verifies nothing. Otherwise loads the header chain kept
    /// next to `wallet`, follows the most work among the nodes, and saves it. Notes about
    /// nodes passed over (behind, on a weaker chain, unreachable, refused) go to
    /// `note`.
    pub async fn open(
        urls: &[String],
        trust: bool,
        chain: Option<&str>,
        wallet: &Path,
        note: &mut dyn FnMut(String),
    ) -> Result<Session, WalletError> {
        let nodes = urls
            .iter()
            .map(|url| client(url))
            .collect::<Result<Vec<_>, _>>()?;
        let first_url = urls.first().ok_or(WalletError::NoNode)?;
        let first = client(first_url)?;
        if trust {
            let info = first
                .client
                .chain_info()
                .await
                .map_err(|e| Failure::Call(crate::commands::rpc_error(e)).into_error(&first))?;
            return Ok(Session {
                prefix: AddressPrefix::new(&info.address_prefix).map_err(|e| {
                    WalletError::BadAnswer {
                        what: "address prefix",
                        reason: e.to_string(),
                    }
                })?,
                chain_id: ChainId(info.chain_id),
                first,
                nodes,
                verified: None,
            });
        }
        let spec = chain_spec(chain, &first).await?;
        let mut verified = VerifiedChain::new(spec.clone());
        let path = HeaderFile::path_for(wallet, &verified.genesis());
        let (file, warning) = HeaderFile::load(path, &mut verified);
        if let Some(warning) = warning {
            note(warning);
        }
        let mut session = Session {
            first,
            nodes,
            prefix: spec.address_prefix,
            chain_id: spec.consensus.chain_id,
            verified: Some(Verified {
                chain: verified,
                file,
                at_tip: Vec::new(),
            }),
        };
        session.refresh(note).await?;
        Ok(session)
    }

    /// Follows the most work among the nodes again (fetching only new headers), saves
    /// the header file, and finds the nodes that hold the tip. Nothing to do without
    /// verification.
    pub async fn refresh(&mut self, note: &mut dyn FnMut(String)) -> Result<(), WalletError> {
        let Some(verified) = self.verified.as_mut() else {
            return Ok(());
        };
        let chain = &mut verified.chain;
        let mut standings: Vec<Option<Standing>> = Vec::with_capacity(self.nodes.len());
        let mut followed_at = Vec::with_capacity(self.nodes.len());
        let mut first_refusal = None;
        for node in &self.nodes {
            followed_at.push(chain.tip());
            let standing = match follow(chain, node, Timestamp::now()).await {
                Ok(standing) => Some(standing),
                Err(failure) => {
                    let error = failure.into_error(node);
                    note(format!("passed over: {error}"));
                    first_refusal.get_or_insert(error);
                    None
                }
            };
            standings.push(standing);
        }
        // A node followed before a later one moved the tip stands elsewhere now: where
        // is asked again (its headers are fetched only if it too moved meanwhile).
        for (index, node) in self.nodes.iter().enumerate() {
            let moved_since = followed_at.get(index) != Some(&chain.tip());
            if let (true, Some(standing)) = (moved_since, standings.get_mut(index)) {
                if standing.is_some() {
                    *standing = follow(chain, node, Timestamp::now()).await.ok();
                }
            }
        }
        let tip = chain.height().value();
        verified.at_tip.clear();
        for (index, standing) in standings.iter().enumerate() {
            if let Some(Standing::AtTip) = standing {
                verified.at_tip.push(index);
            }
        }
        if verified.at_tip.is_empty() {
            // No node given holds the chain verified before (the node it came from was
            // not given, or a development chain was started over): follow the most work
            // among the nodes that were, and say so.
            let best = standings
                .iter_mut()
                .enumerate()
                .filter_map(|(index, standing)| match standing.take() {
                    Some(Standing::LessWork { branch, .. }) => Some((index, branch)),
                    _ => None,
                })
                .max_by_key(|(_, branch)| chain.work_with(branch));
            let Some((index, branch)) = best else {
                return Err(first_refusal.unwrap_or(WalletError::NoNodeAtTip { height: tip }));
            };
            chain.replace_with(branch);
            verified.at_tip.push(index);
            if let Some(node) = self.nodes.get(index) {
                note(format!(
                    "following {}: its chain (height {}) has the most work among the nodes given, but less than the chain this wallet verified before (height {tip}), which no node given holds",
                    node.url,
                    chain.height()
                ));
            }
        } else {
            for (node, standing) in self.nodes.iter().zip(&standings) {
                if let Some(Standing::LessWork { height, .. }) = standing {
                    note(format!(
                        "passed over: {} follows a chain with less work (its tip is at height {height}; the chain with the most work among the nodes given is at height {tip})",
                        node.url
                    ));
                }
            }
        }
        verified.file.save(chain)?;
        Ok(())
    }

    /// The first node, for what needs no proof (fees, submitting, the mempool).
    pub fn node(&self) -> &Node {
        &self.first
    }

    /// The nodes to ask for proofs, in order: those at the verified tip.
    fn provers(&self) -> impl Iterator<Item = (&Node, &VerifiedChain)> {
        self.verified.iter().flat_map(move |v| {
            v.at_tip
                .iter()
                .filter_map(move |i| self.nodes.get(*i))
                .map(move |node| (node, &v.chain))
        })
    }

    /// The account at `address` (`None`: none), and how it was obtained. Verified: at
    /// the verified tip, from the first node whose proof checks; a node whose proof does
    /// not is refused (in `note`), and if none checks, the first refusal is the error.
    pub async fn account(
        &self,
        address: &Address,
        note: &mut dyn FnMut(String),
    ) -> Result<(Option<Account>, Provenance), WalletError> {
        let Some(verified) = &self.verified else {
            let node = self.node();
            let info = node
                .client
                .account_get(address.to_bech32(&self.prefix))
                .await
                .map_err(|e| Failure::Call(crate::commands::rpc_error(e)).into_error(node))?;
            let account = Account {
                balance: info.balance.parse().map_err(
                    |e: tern_chain::types::ParseAmountError| WalletError::BadAnswer {
                        what: "balance",
                        reason: e.to_string(),
                    },
                )?,
                nonce: info.nonce,
            };
            return Ok((
                Some(account),
                Provenance::Trusted {
                    node: node.url.clone(),
                },
            ));
        };
        let mut first_error = None;
        for (node, chain) in self.provers() {
            match proven_account(chain, node, address).await {
                Ok(account) => {
                    let provenance = Provenance::Verified {
                        height: chain.height(),
                        hash: chain.tip().to_string(),
                        node: node.url.clone(),
                        nodes: self.nodes.len(),
                    };
                    return Ok((account, provenance));
                }
                Err(failure) => {
                    let error = failure.into_error(node);
                    note(format!("refused: {error}"));
                    first_error.get_or_insert(error);
                }
            }
        }
        Err(first_error.unwrap_or(WalletError::NoNodeAtTip {
            height: verified.chain.height().value(),
        }))
    }

    /// Where transaction `txid` stands: the node's status and, when it is in a block,
    /// where (proven, unless `--trust-node`).
    pub async fn transaction(
        &mut self,
        txid: &TxId,
        note: &mut dyn FnMut(String),
    ) -> Result<(TxStatus, Option<Inclusion>), WalletError> {
        if self.verified.is_none() {
            let node = self.node();
            let status = node
                .client
                .tx_get(txid.to_string())
                .await
                .map_err(|e| Failure::Call(crate::commands::rpc_error(e)).into_error(node))?;
            return Ok((status, None));
        }
        let mut attempts = 0;
        loop {
            let mut first_error = None;
            let mut ahead = false;
            for (node, chain) in self.provers() {
                match proven_status(chain, node, txid).await {
                    Ok(answer) => return Ok(answer),
                    // A block mined since the headers were followed: not a lie, new.
                    Err(Failure::Lied(Mismatch::NotInChain { height, .. }))
                        if height > chain.height().value() && attempts < MAX_CATCH_UPS =>
                    {
                        ahead = true;
                    }
                    Err(failure) => {
                        let error = failure.into_error(node);
                        note(format!("refused: {error}"));
                        first_error.get_or_insert(error);
                    }
                }
            }
            if !ahead {
                return Err(first_error.unwrap_or(WalletError::NoNodeAtTip { height: 0 }));
            }
            attempts += 1;
            self.refresh(note).await?;
        }
    }

    /// Whether this session verifies.
    pub fn verifies(&self) -> bool {
        self.verified.is_some()
    }
}
