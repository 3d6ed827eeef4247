//! Chain specs: loading, checking, and the genesis block they define.
//!
//! A chain spec (`genesis/*.json`) holds every consensus parameter and the initial
//! allocations. Loading checks every field and names the bad one, as in
//! `genesis/dev.json: allocations[3].address: invalid checksum`.
//!
//! The genesis header carries the spec's hash ([`ChainSpec::spec_hash`]) in its Merkle root
//! field, so the genesis hash commits to the whole spec: two specs that differ in any
//! parameter or allocation are different chains, and peers can compare chains by genesis
//! hash alone. The genesis block has no transactions and needs no proof of work; its
//! allocations become the initial account state, whose root
//! ([`ChainSpec::genesis_state_root`]) its header carries like every other header.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::block::{
    Block, Header, BLOCK_VERSION, HEADER_LEN, MAX_BLOCK_BYTES_LIMIT, MAX_BLOCK_TRANSACTIONS_LIMIT,
};
use crate::bounded_read::read_bounded;
use crate::encoding::{self, Encode, Writer};
use crate::pow::DifficultyParams;
use crate::state::{Account, MemoryState};
use crate::state_map::{MemoryTree, TreeError};
use crate::tx::SIGNED_TRANSACTION_LEN;
use crate::types::{
    Address, AddressPrefix, Amount, BlockHash, ChainId, Height, MerkleRoot, SpecHash, StateRoot,
    Target, Timestamp,
};

/// The domain tag prefixed to a spec's encoding to form its hash.
const SPEC_HASH_TAG: &[u8] = b"tern/chain-spec/v1";

/// The longest chain name.
const MAX_NAME_LEN: usize = 64;

/// The longest block time and timestamp drift a spec may choose: one day.
const MAX_INTERVAL_MS: u64 = 86_400_000;

/// The longest difficulty half-life a spec may choose: about 35 years, far beyond any
/// useful value, and small enough that the difficulty arithmetic never saturates.
const MAX_HALF_LIFE_MS: u64 = 1 << 40;

/// The most allocations a spec file may list.
const MAX_ALLOCATIONS: usize = 100_000;

/// The most allocations a spec made in code may hold ([`ChainSpec::with_allocations`]):
/// benchmarks start from a store of a million accounts. About 2 GB of memory to build.
pub const MAX_ALLOCATIONS_IN_CODE: usize = 10_000_000;

/// The largest spec file read: the most allocations a spec may list take about 15 MiB of
/// JSON.
pub const MAX_SPEC_BYTES: u64 = 32 << 20;

/// The built-in specs, compiled in so the binary works from any directory.
const BUILTIN: [(&str, &str); 2] = [
    ("dev", include_str!("../../genesis/dev.json")),
    ("testnet", include_str!("../../genesis/testnet.json")),
];

/// The consensus parameters of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsensusParams {
    /// Identifies the chain in every transaction.
    pub chain_id: ChainId,
    /// The genesis block's timestamp.
    pub genesis_time: Timestamp,
    /// The genesis target, where the difficulty schedule starts.
    pub initial_target: Target,
    /// The easiest target any block may have.
    pub max_target: Target,
    /// The intended time between blocks.
    pub block_time_ms: u64,
    /// How far off schedule doubles or halves the difficulty.
    pub half_life_ms: u64,
    /// New coin paid to each block's miner, on top of fees.
    pub block_reward: Amount,
    /// The largest block encoding allowed.
    pub max_block_bytes: u64,
    /// The most transactions a block may hold.
    pub max_block_transactions: u64,
    /// How far ahead of a node's clock a block's timestamp may be.
    pub max_future_drift_ms: u64,
}

impl ConsensusParams {
    /// The parameters of the difficulty rule.
    pub fn difficulty(&self) -> DifficultyParams {
        DifficultyParams {
            initial_target: self.initial_target,
            max_target: self.max_target,
            genesis_time: self.genesis_time,
            block_time_ms: self.block_time_ms,
            half_life_ms: self.half_life_ms,
        }
    }
}

/// A checked chain spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSpec {
    /// A human-readable name, such as `tern-dev`.
    pub name: String,
    /// The human-readable prefix of this chain's addresses.
    pub address_prefix: AddressPrefix,
    /// The consensus parameters.
    pub consensus: ConsensusParams,
    /// Whether nodes may mine blocks on demand (`dev_mine`); only for development chains.
    pub dev_mining: bool,
    /// The initial balances, in spec order, with no address twice. Private, so that the
    /// root below is always theirs ([`ChainSpec::with_allocations`] replaces both).
    allocations: Vec<(Address, Amount)>,
    /// The root of the state map of `allocations`, computed once: the genesis header's
    /// state root.
    genesis_state_root: StateRoot,
}

/// Why a chain spec could not be loaded. Every message starts with where the spec came
/// from and, for a bad field, the field's path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The file could not be read.
    #[error("{origin}: cannot read chain spec: {reason}")]
    Read {
        /// The file.
        origin: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The text is not JSON of the spec's shape (with line and column).
    #[error("{origin}: {reason}")]
    Parse {
        /// The file.
        origin: String,
        /// What the JSON parser said.
        reason: String,
    },
    /// A field has a value the spec does not allow.
    #[error("{origin}: {field}: {reason}")]
    Field {
        /// The file.
        origin: String,
        /// The field's path, such as `allocations[3].address`.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A built-in spec name that does not exist.
    #[error("unknown chain {0:?}: use dev, testnet or the path to a chain spec file")]
    UnknownBuiltin(String),
}

/// The spec file's shape, before checking. Amounts are strings of base units and targets
/// 64 hex digits, as in the RPC.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: String,
    chain_id: u32,
    address_prefix: String,
    timestamp_ms: u64,
    initial_target: String,
    max_target: String,
    target_block_time_ms: u64,
    difficulty_half_life_ms: u64,
    block_reward: String,
    max_block_bytes: u64,
    max_block_transactions: u64,
    max_future_drift_ms: u64,
    #[serde(default)]
    dev_mining: bool,
    allocations: Vec<RawAllocation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllocation {
    address: String,
    balance: String,
}

impl ChainSpec {
    /// Loads `dev`, `testnet`, or a spec file at a path.
    pub fn resolve(name_or_path: &str) -> Result<ChainSpec, GenesisError> {
        match BUILTIN.iter().find(|(name, _)| *name == name_or_path) {
            Some((name, text)) => ChainSpec::from_json(text, &format!("genesis/{name}.json")),
            None if name_or_path.contains(['/', '.']) => ChainSpec::load(Path::new(name_or_path)),
            None => Err(GenesisError::UnknownBuiltin(name_or_path.to_owned())),
        }
    }

    /// Loads and checks a spec file.
    pub fn load(path: &Path) -> Result<ChainSpec, GenesisError> {
        let origin = path.display().to_string();
        let read = |reason: String| GenesisError::Read {
            origin: origin.clone(),
            reason,
        };
        let text = read_bounded(path, MAX_SPEC_BYTES)
            .map_err(|e| read(e.to_string()))?
            .ok_or_else(|| read("no such file".into()))?;
        ChainSpec::from_json(&text, &origin)
    }

    /// Parses and checks spec text; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<ChainSpec, GenesisError> {
        let raw: RawSpec = serde_json::from_str(text).map_err(|e| GenesisError::Parse {
            origin: origin.to_owned(),
            reason: e.to_string(),
        })?;
        let field = |field: &str, reason: String| GenesisError::Field {
            origin: origin.to_owned(),
            field: field.to_owned(),
            reason,
        };
        check_spec(raw, &field)
    }

    /// The hash that commits to every parameter and allocation.
    pub fn spec_hash(&self) -> SpecHash {
        let mut hasher = Sha256::new();
        hasher.update(SPEC_HASH_TAG);
        hasher.update(encoding::encode(self));
        SpecHash::from_bytes(hasher.finalize().into())
    }

    /// The genesis header: height 0, no parent, the spec hash in the Merkle root field.
    pub fn genesis_header(&self) -> Header {
        Header {
            version: BLOCK_VERSION,
            height: Height::GENESIS,
            parent: BlockHash::ZERO,
            merkle_root: MerkleRoot::from_bytes(*self.spec_hash().as_bytes()),
            state_root: self.genesis_state_root,
            timestamp: self.consensus.genesis_time,
            target: self.consensus.initial_target,
            miner: Address::from_bytes([0; 32]),
            nonce: 0,
        }
    }

    /// The genesis block, which has no transactions.
    pub fn genesis_block(&self) -> Block {
        Block {
            header: self.genesis_header(),
            transactions: Vec::new(),
        }
    }

    /// The genesis hash, which identifies the chain.
    pub fn genesis_hash(&self) -> BlockHash {
        self.genesis_header().hash()
    }

    /// The initial balances, in spec order, with no address twice.
    pub fn allocations(&self) -> &[(Address, Amount)] {
        &self.allocations
    }

    /// The same chain spec with other allocations (for tools and benchmarks that need
    /// many funded accounts), checked as a spec file's are, but up to
    /// [`MAX_ALLOCATIONS_IN_CODE`] of them.
    pub fn with_allocations(
        mut self,
        allocations: Vec<(Address, Amount)>,
    ) -> Result<ChainSpec, GenesisError> {
        let origin = self.name.clone();
        let field = |field: &str, reason: String| GenesisError::Field {
            origin: origin.clone(),
            field: field.to_owned(),
            reason,
        };
        self.genesis_state_root = check_allocations(&allocations, MAX_ALLOCATIONS_IN_CODE, &field)?;
        self.allocations = allocations;
        Ok(self)
    }

    /// The root of the genesis state map, which the genesis header commits to.
    pub fn genesis_state_root(&self) -> StateRoot {
        self.genesis_state_root
    }

    /// The account state before block 1: the allocations, each with nonce 0.
    pub fn genesis_state(&self) -> MemoryState {
        MemoryState::new(self.allocations.iter().map(|(address, balance)| {
            (
                *address,
                Account {
                    balance: *balance,
                    nonce: 0,
                },
            )
        }))
    }

    /// The genesis state as a state map, whose root the genesis header commits to.
    pub fn genesis_state_map(&self) -> Result<MemoryTree, TreeError> {
        genesis_tree(&self.allocations)
    }

    /// An address in this chain's text form.
    pub fn format_address(&self, address: &Address) -> String {
        address.to_bech32(&self.address_prefix)
    }
}

impl Encode for ChainSpec {
    fn encode(&self, w: &mut Writer) {
        let c = &self.consensus;
        w.u32(c.chain_id.0);
        w.bytes(self.name.as_bytes());
        w.bytes(self.address_prefix.as_str().as_bytes());
        w.u64(c.genesis_time.as_millis());
        w.array(&c.initial_target.to_be_bytes());
        w.array(&c.max_target.to_be_bytes());
        w.u64(c.block_time_ms);
        w.u64(c.half_life_ms);
        w.u64(c.block_reward.base_units());
        w.u64(c.max_block_bytes);
        w.u64(c.max_block_transactions);
        w.u64(c.max_future_drift_ms);
        w.u8(u8::from(self.dev_mining));
        w.u64(self.allocations.len() as u64);
        for (address, balance) in &self.allocations {
            w.array(address.as_bytes());
            w.u64(balance.base_units());
        }
    }
}

fn in_range(value: u64, min: u64, max: u64) -> Result<u64, String> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is outside {min}..={max}"))
    }
}

fn check_spec(
    raw: RawSpec,
    field: &dyn Fn(&str, String) -> GenesisError,
) -> Result<ChainSpec, GenesisError> {
    let name_len = raw.name.chars().count();
    if name_len == 0 || name_len > MAX_NAME_LEN || raw.name.chars().any(char::is_control) {
        return Err(field(
            "name",
            format!("use 1 to {MAX_NAME_LEN} printable characters"),
        ));
    }
    let address_prefix = AddressPrefix::new(&raw.address_prefix)
        .map_err(|e| field("address_prefix", e.to_string()))?;
    let initial_target = Target::from_hex(&raw.initial_target)
        .map_err(|e| field("initial_target", e.to_string()))?;
    let max_target =
        Target::from_hex(&raw.max_target).map_err(|e| field("max_target", e.to_string()))?;
    if initial_target > max_target {
        return Err(field("initial_target", "is easier than max_target".into()));
    }
    let block_time_ms = in_range(raw.target_block_time_ms, 1, MAX_INTERVAL_MS)
        .map_err(|e| field("target_block_time_ms", e))?;
    let half_life_ms = in_range(raw.difficulty_half_life_ms, block_time_ms, MAX_HALF_LIFE_MS)
        .map_err(|e| {
            field(
                "difficulty_half_life_ms",
                format!("{e} (at least one block time)"),
            )
        })?;
    let block_reward = raw
        .block_reward
        .parse::<Amount>()
        .map_err(|e| field("block_reward", e.to_string()))?;
    let smallest_block = (HEADER_LEN + 8 + SIGNED_TRANSACTION_LEN) as u64;
    let max_block_bytes = in_range(
        raw.max_block_bytes,
        smallest_block,
        MAX_BLOCK_BYTES_LIMIT as u64,
    )
    .map_err(|e| field("max_block_bytes", e))?;
    let max_block_transactions = in_range(
        raw.max_block_transactions,
        1,
        MAX_BLOCK_TRANSACTIONS_LIMIT as u64,
    )
    .map_err(|e| field("max_block_transactions", e))?;
    let max_future_drift_ms = in_range(raw.max_future_drift_ms, 0, MAX_INTERVAL_MS)
        .map_err(|e| field("max_future_drift_ms", e))?;
    if raw.allocations.len() > MAX_ALLOCATIONS {
        return Err(field(
            "allocations",
            format!("more than {MAX_ALLOCATIONS} entries"),
        ));
    }
    let mut allocations = Vec::with_capacity(raw.allocations.len());
    for (i, entry) in raw.allocations.iter().enumerate() {
        let address = Address::from_bech32(&entry.address, &address_prefix)
            .map_err(|e| field(&format!("allocations[{i}].address"), e.to_string()))?;
        let balance = entry
            .balance
            .parse::<Amount>()
            .map_err(|e| field(&format!("allocations[{i}].balance"), e.to_string()))?;
        allocations.push((address, balance));
    }
    let genesis_state_root = check_allocations(&allocations, MAX_ALLOCATIONS, field)?;
    Ok(ChainSpec {
        name: raw.name,
        address_prefix,
        consensus: ConsensusParams {
            chain_id: ChainId(raw.chain_id),
            genesis_time: Timestamp(raw.timestamp_ms),
            initial_target,
            max_target,
            block_time_ms,
            half_life_ms,
            block_reward,
            max_block_bytes,
            max_block_transactions,
            max_future_drift_ms,
        },
        dev_mining: raw.dev_mining,
        allocations,
        genesis_state_root,
    })
}

/// Checks what every set of allocations must keep (at most `max`, no address twice, a
/// total that fits an amount) and returns the root of their state map.
fn check_allocations(
    allocations: &[(Address, Amount)],
    max: usize,
    field: &dyn Fn(&str, String) -> GenesisError,
) -> Result<StateRoot, GenesisError> {
    if allocations.len() > max {
        return Err(field("allocations", format!("more than {max} entries")));
    }
    let mut seen: HashMap<Address, usize> = HashMap::with_capacity(allocations.len());
    let mut supply = Amount::ZERO;
    for (i, (address, balance)) in allocations.iter().enumerate() {
        if let Some(first) = seen.insert(*address, i) {
            return Err(field(
                &format!("allocations[{i}].address"),
                format!("duplicate of allocations[{first}]"),
            ));
        }
        supply = supply.checked_add(*balance).map_err(|_| {
            field(
                &format!("allocations[{i}].balance"),
                "total allocations overflow".into(),
            )
        })?;
    }
    let tree = genesis_tree(allocations).map_err(|e| field("allocations", e.to_string()))?;
    Ok(tree.root())
}

/// The state map of `allocations`, each with nonce 0.
fn genesis_tree(allocations: &[(Address, Amount)]) -> Result<MemoryTree, TreeError> {
    MemoryTree::with_accounts(allocations.iter().map(|(address, balance)| {
        (
            *address,
            Account {
                balance: *balance,
                nonce: 0,
            },
        )
    }))
}

#[cfg(test)]
#[path = "genesis_tests.rs"]
mod tests;
