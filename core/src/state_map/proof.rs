//! A proof that an address holds an account, or holds none, under a state root: what a
//! node sends with every account answer and what a wallet checks before it shows one.
//!
//! Checking takes nothing but SHA-256, as docs/PROTOCOL.md ("Account proofs") describes:
//! start from the leaf the proof carries (or the empty subtree), and hash in one sibling
//! per level, from the bottom up, on the side the address's key says; the result must be
//! the root. The leaf tells existence from absence:
//!
//! - an account: the leaf is the address's own, with the hash of the account's bytes;
//! - no account, with a leaf: another address's leaf stands where this one's would, so
//!   the two keys share the path down to it;
//! - no account, without a leaf: the address's place is an empty subtree.

use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use crate::state::Account;
use crate::types::{Address, StateRoot};

use super::{account_key, account_value, internal_hash, leaf_hash, value_hash, EMPTY_SUBTREE};

/// The most siblings a proof can have: one per bit of a key.
pub const MAX_PROOF_SIBLINGS: usize = 256;

/// The leaf a proof ends at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofLeaf {
    /// The key of the account stored there.
    pub key: [u8; 32],
    /// The hash of that account's value.
    pub value_hash: [u8; 32],
}

/// A path from a leaf (or an empty subtree) to the root.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountProof {
    /// The leaf at the end of the address's path, if there is one there.
    pub leaf: Option<ProofLeaf>,
    /// The sibling of each node on the path, from the bottom up.
    pub siblings: Vec<[u8; 32]>,
}

/// Why a proof does not show what it was said to show. Each names the first check that
/// failed; none means the proof is merely malformed (see [`DecodeError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// More siblings than a key has bits.
    #[error("the proof has {count} siblings; a key has only {MAX_PROOF_SIBLINGS} bits")]
    TooManySiblings {
        /// How many it has.
        count: usize,
    },
    /// An account was claimed, but the proof ends at an empty subtree.
    #[error("an account was claimed, but the proof shows none at this address")]
    NoAccountShown,
    /// An account was claimed, but the proof's leaf is another address's.
    #[error("an account was claimed, but the proof's leaf is another address's")]
    OtherAccountsLeaf,
    /// The proof's leaf holds another balance or nonce than the one claimed.
    #[error("the proof's leaf holds another balance or nonce than the one claimed")]
    WrongAccount,
    /// No account was claimed, but the proof's leaf is this address's.
    #[error("no account was claimed, but the proof shows one at this address")]
    AccountShown,
    /// No account was claimed, but the proof's leaf could not stand where this address's
    /// would.
    #[error("the proof's leaf is not on this address's path")]
    LeafOffPath,
    /// The path does not lead to the root.
    #[error("the proof leads to root {computed}, not {expected}")]
    RootMismatch {
        /// Where the path leads.
        computed: StateRoot,
        /// The root it was checked against.
        expected: StateRoot,
    },
}

impl AccountProof {
    /// Checks that under `root`, `address` holds `account` (`None`: no account). Nothing
    /// here trusts the proof: every claim it makes is hashed up to the root.
    pub fn verify(
        &self,
        root: &StateRoot,
        address: &Address,
        account: Option<&Account>,
    ) -> Result<(), ProofError> {
        let key = account_key(address);
        self.verify_key(root, &key, account.map(account_value).as_deref())
    }

    /// [`Self::verify`] for a key and the bytes of its value.
    pub fn verify_key(
        &self,
        root: &StateRoot,
        key: &[u8; 32],
        value: Option<&[u8]>,
    ) -> Result<(), ProofError> {
        let depth = self.siblings.len();
        if depth > MAX_PROOF_SIBLINGS {
            return Err(ProofError::TooManySiblings { count: depth });
        }
        match (value, &self.leaf) {
            (Some(_), None) => return Err(ProofError::NoAccountShown),
            (Some(value), Some(leaf)) => {
                if leaf.key != *key {
                    return Err(ProofError::OtherAccountsLeaf);
                }
                if leaf.value_hash != value_hash(value) {
                    return Err(ProofError::WrongAccount);
                }
            }
            (None, Some(leaf)) => {
                if leaf.key == *key {
                    return Err(ProofError::AccountShown);
                }
                if common_prefix_bits(key, &leaf.key) < depth {
                    return Err(ProofError::LeafOffPath);
                }
            }
            (None, None) => {}
        }
        let start = self
            .leaf
            .map_or(EMPTY_SUBTREE, |leaf| leaf_hash(&leaf.key, &leaf.value_hash));
        let computed = self
            .siblings
            .iter()
            .enumerate()
            .fold(start, |node, (i, sibling)| {
                // The bottom sibling sits at depth `depth - 1`: the key's bit there says
                // which side the path takes.
                if bit(key, depth - 1 - i) {
                    internal_hash(sibling, &node)
                } else {
                    internal_hash(&node, sibling)
                }
            });
        let computed = StateRoot::from_bytes(computed);
        if computed != *root {
            return Err(ProofError::RootMismatch {
                computed,
                expected: *root,
            });
        }
        Ok(())
    }
}

/// Bit `index` of `key`, most significant first.
fn bit(key: &[u8; 32], index: usize) -> bool {
    key.get(index / 8)
        .is_some_and(|byte| byte & (0x80 >> (index % 8)) != 0)
}

/// How many leading bits `a` and `b` share.
fn common_prefix_bits(a: &[u8; 32], b: &[u8; 32]) -> usize {
    (0..256).take_while(|&i| bit(a, i) == bit(b, i)).count()
}

/// The encoding: a presence byte (0 or 1) and, if 1, the leaf's key and value hash; the
/// number of siblings as a `u64`; a bitmap of `ceil(n / 8)` bytes in which bit `i` (bit
/// `i % 8` of byte `i / 8`, least significant first) says sibling `i` is the empty
/// subtree; then the other siblings, 32 bytes each, bottom first. Empty subtrees are most
/// of a deep path's siblings, so they cost a bit each, not 32 bytes.
impl Encode for AccountProof {
    fn encode(&self, w: &mut Writer) {
        match &self.leaf {
            None => w.u8(0),
            Some(leaf) => {
                w.u8(1);
                w.array(&leaf.key);
                w.array(&leaf.value_hash);
            }
        }
        w.u64(self.siblings.len() as u64);
        let mut empty = vec![0u8; self.siblings.len().div_ceil(8)];
        for (i, sibling) in self.siblings.iter().enumerate() {
            if *sibling == EMPTY_SUBTREE {
                if let Some(byte) = empty.get_mut(i / 8) {
                    *byte |= 1 << (i % 8);
                }
            }
        }
        for byte in &empty {
            w.u8(*byte);
        }
        for sibling in self.siblings.iter().filter(|s| **s != EMPTY_SUBTREE) {
            w.array(sibling);
        }
    }
}

impl Decode for AccountProof {
    const MAX_ENCODED_LEN: usize = 1 + 64 + 8 + MAX_PROOF_SIBLINGS / 8 + MAX_PROOF_SIBLINGS * 32;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let leaf = match r.u8("proof leaf presence")? {
            0 => None,
            1 => Some(ProofLeaf {
                key: r.array("proof leaf key")?,
                value_hash: r.array("proof leaf value hash")?,
            }),
            other => {
                return Err(DecodeError::Invalid {
                    what: "proof leaf presence",
                    reason: format!("tag {other} is neither 0 nor 1"),
                })
            }
        };
        let count = usize::try_from(r.u64("proof sibling count")?).unwrap_or(usize::MAX);
        if count > MAX_PROOF_SIBLINGS {
            return Err(DecodeError::Invalid {
                what: "proof sibling count",
                reason: format!("{count} is above {MAX_PROOF_SIBLINGS}"),
            });
        }
        let mut empty = Vec::with_capacity(count.div_ceil(8));
        for _ in 0..count.div_ceil(8) {
            empty.push(r.u8("proof empty-sibling bitmap")?);
        }
        // Bits past the last sibling must be clear: one proof, one encoding.
        if count % 8 != 0 && empty.last().is_some_and(|last| last >> (count % 8) != 0) {
            return Err(DecodeError::Invalid {
                what: "proof empty-sibling bitmap",
                reason: "bits set past the last sibling".into(),
            });
        }
        let mut siblings = Vec::with_capacity(count);
        for i in 0..count {
            let is_empty = empty
                .get(i / 8)
                .is_some_and(|byte| byte & (1 << (i % 8)) != 0);
            let sibling = if is_empty {
                EMPTY_SUBTREE
            } else {
                r.array("proof sibling")?
            };
            if !is_empty && sibling == EMPTY_SUBTREE {
                return Err(DecodeError::Invalid {
                    what: "proof sibling",
                    reason: "an empty subtree written out, not marked in the bitmap".into(),
                });
            }
            siblings.push(sibling);
        }
        Ok(AccountProof { leaf, siblings })
    }
}
