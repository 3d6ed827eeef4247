//! The state map: one root that commits to every account, and the proofs that check one
//! account against it.
//!
//! The map is a Jellyfish Merkle tree (the `jmt` crate, which Penumbra runs on RocksDB)
//! over SHA-256. Logically it is a sparse Merkle tree of depth 256, keyed by a hash of the
//! address, in which a subtree holding a single account is replaced by that account's
//! leaf and an empty subtree by a constant. So a proof carries one sibling hash per level
//! down to the leaf: about log2 of the number of accounts, 20 at a million. Its root is a
//! function of the accounts alone, whatever order they were written in, so a reorg that
//! restores the accounts restores the root, and two nodes agree on it whatever their
//! history.
//!
//! Byte by byte (docs/PROTOCOL.md, "State map"), with `H` = SHA-256 and `||` concatenation:
//!
//! | what | bytes |
//! |---|---|
//! | key of an address | `H("tern/account" \|\| address)` |
//! | value of an account | its encoding: balance `u64` LE, nonce `u64` LE (16 bytes) |
//! | leaf | `H("JMT::LeafNode" \|\| key \|\| H(value))` |
//! | inner node | `H("JMT::IntrnalNode" \|\| left \|\| right)` |
//! | empty subtree | the 32 ASCII bytes `SPARSE_MERKLE_PLACEHOLDER_HASH__` |
//!
//! The empty map's root is the empty subtree. The key's bits, most significant first,
//! choose the path from the root: 0 left, 1 right.
//!
//! [`proof`] checks a proof with nothing but SHA-256 (no tree code), as a wallet in
//! another language would from the document; [`chunk`] checks a piece of the map that a
//! node joining by snapshot fetched from a peer, the same way; [`MemoryTree`] keeps a whole map in memory
//! (the genesis root, tests, the testkit). The node's tree on disk is `tern-state`'s.

pub mod chunk;
#[cfg(test)]
mod chunk_tests;
mod memory;
pub mod proof;
#[cfg(test)]
mod tests;

use sha2::{Digest, Sha256};

use crate::encoding;
use crate::state::Account;
use crate::types::{Address, StateRoot};

pub use memory::MemoryTree;
pub use proof::{AccountProof, ProofError, ProofLeaf};

/// The hasher the tree runs on.
pub type TreeHasher = Sha256;

/// Prefixed to an address before hashing it into a key, so that keys of accounts cannot
/// collide with any other SHA-256 the protocol computes.
pub const KEY_DOMAIN: &[u8] = b"tern/account";
/// Prefixed to a leaf's preimage (the `jmt` crate's).
pub const LEAF_DOMAIN: &[u8] = b"JMT::LeafNode";
/// Prefixed to an inner node's preimage (the `jmt` crate's, a vowel short to fit 16 bytes).
pub const INTERNAL_DOMAIN: &[u8] = b"JMT::IntrnalNode";
/// The hash of an empty subtree, and the root of the empty map.
pub const EMPTY_SUBTREE: [u8; 32] = *b"SPARSE_MERKLE_PLACEHOLDER_HASH__";

/// The root of a map with no account.
pub const EMPTY_ROOT: StateRoot = StateRoot::from_bytes(EMPTY_SUBTREE);

/// The key an account is stored under: where in the tree its leaf goes.
pub fn account_key(address: &Address) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(KEY_DOMAIN);
    hasher.update(address.as_bytes());
    hasher.finalize().into()
}

/// The bytes an account's leaf commits to.
pub fn account_value(account: &Account) -> Vec<u8> {
    encoding::encode(account)
}

/// The hash of a value, as its leaf holds it.
pub fn value_hash(value: &[u8]) -> [u8; 32] {
    Sha256::digest(value).into()
}

/// The hash of a leaf.
pub fn leaf_hash(key: &[u8; 32], value_hash: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(LEAF_DOMAIN);
    hasher.update(key);
    hasher.update(value_hash);
    hasher.finalize().into()
}

/// The hash of an inner node.
pub fn internal_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(INTERNAL_DOMAIN);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// Why the tree could not be read or written. The `jmt` crate reports its failures as
/// `anyhow` errors (its traits require them, which is the one reason this crate names
/// `anyhow`); they are kept as text here, with the store's own errors under them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state tree: {0}")]
pub struct TreeError(pub String);

impl From<anyhow::Error> for TreeError {
    fn from(error: anyhow::Error) -> TreeError {
        TreeError(format!("{error:#}"))
    }
}

/// Writes `changes` (a value, or `None` to remove the key) as tree version `version` on
/// top of what `reader` holds, and returns the new root and what to store. A set of
/// writes alone, the usual block, goes through the crate's batch insertion, which
/// rewrites each inner node it touches once; the key-by-key path rewrites a node once per
/// key under it (about three times slower at a million accounts), and is kept for sets
/// with removals, which only undoing a block makes. Both give the same tree.
pub fn put_changes<R: jmt::storage::TreeReader>(
    reader: &R,
    changes: Vec<(jmt::KeyHash, Option<jmt::OwnedValue>)>,
    version: jmt::Version,
) -> anyhow::Result<(jmt::RootHash, jmt::storage::TreeUpdateBatch)> {
    let tree = jmt::JellyfishMerkleTree::<_, TreeHasher>::new(reader);
    if changes.is_empty() || changes.iter().any(|(_, value)| value.is_none()) {
        return tree.put_value_set(changes, version);
    }
    let writes = changes
        .into_iter()
        .filter_map(|(key, value)| value.map(|value| (key, value)))
        .collect();
    let (mut roots, batch) = tree.batch_put_value_sets(vec![writes], None, version)?;
    let root = roots
        .pop()
        .ok_or_else(|| anyhow::anyhow!("the tree gave no root for version {version}"))?;
    Ok((root, batch))
}

/// A proof as the `jmt` crate makes it, in Tern's form: the leaf, and each sibling's
/// hash. The crate keeps its proof's parts to itself but for their Borsh encoding, so the
/// conversion reads that: an optional leaf (a presence byte, then key and value hash),
/// then a `u32` LE count of siblings, each a tag (0 empty, 1 inner node with its two
/// children's hashes, 2 leaf with its key and value hash).
pub fn proof_from_jmt(
    proof: &jmt::proof::SparseMerkleProof<TreeHasher>,
) -> Result<AccountProof, TreeError> {
    let bytes = borsh::to_vec(proof).map_err(|e| TreeError(format!("proof encoding: {e}")))?;
    let mut cursor = BorshCursor(&bytes);
    let leaf = match cursor.byte()? {
        0 => None,
        1 => Some(ProofLeaf {
            key: cursor.hash()?,
            value_hash: cursor.hash()?,
        }),
        _ => return Err(BorshCursor::malformed()),
    };
    let count = cursor.count()?;
    if count > proof::MAX_PROOF_SIBLINGS {
        return Err(BorshCursor::malformed());
    }
    let mut siblings = Vec::with_capacity(count);
    for _ in 0..count {
        let sibling = match cursor.byte()? {
            0 => EMPTY_SUBTREE,
            1 => internal_hash(&cursor.hash()?, &cursor.hash()?),
            2 => leaf_hash(&cursor.hash()?, &cursor.hash()?),
            _ => return Err(BorshCursor::malformed()),
        };
        siblings.push(sibling);
    }
    Ok(AccountProof { leaf, siblings })
}

/// Reads the Borsh encoding of a `jmt` proof.
struct BorshCursor<'a>(&'a [u8]);

impl BorshCursor<'_> {
    fn malformed() -> TreeError {
        TreeError("the tree's proof has an unexpected layout".into())
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], TreeError> {
        let (head, tail) = self.0.split_at_checked(N).ok_or_else(Self::malformed)?;
        self.0 = tail;
        head.try_into().map_err(|_| Self::malformed())
    }

    fn byte(&mut self) -> Result<u8, TreeError> {
        let [byte] = self.take::<1>()?;
        Ok(byte)
    }

    fn hash(&mut self) -> Result<[u8; 32], TreeError> {
        self.take::<32>()
    }

    fn count(&mut self) -> Result<usize, TreeError> {
        Ok(u32::from_le_bytes(self.take::<4>()?) as usize)
    }
}
