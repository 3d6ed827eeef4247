//! A piece of the state at one block, as a node joining by snapshot fetches it from its
//! peers, and the check that lets it take that piece from anyone.
//!
//! The state is fetched top down, one subtree at a time. A subtree is named by a
//! [`KeyPrefix`]: the nibbles (4 bits each, most significant first) that every key under
//! it starts with; the whole map is the empty prefix. Asked for a subtree, a peer answers
//! with a [`Chunk`]:
//!
//! - [`Chunk::Accounts`]: every account under the prefix, in key order, when there are
//!   at most [`MAX_CHUNK_ACCOUNTS`];
//! - [`Chunk::Split`]: otherwise, the prefix's sixteen children, each empty, a single
//!   account, or a subtree given by its hash, to be asked for in turn.
//!
//! Whoever asks already knows the hash the subtree must have: the header's state root for
//! the whole map, and for any other subtree the hash its parent's split gave and that
//! split was checked against. [`Chunk::verify`] recomputes the hash from the answer alone,
//! so an answer is either exactly the subtree's content or refused, whatever order the
//! pieces arrive in and whoever sent them. No proof travels beside the data: a split is
//! its own proof, and its cost is a few hundred bytes per [`MAX_CHUNK_ACCOUNTS`]
//! accounts. docs/PROTOCOL.md ("State chunks") gives the layout byte by byte.
//!
//! The hash of a set of leaves under a node at bit depth `d` is the sparse Merkle rule of
//! the map ([`super`]): the empty subtree if there are none, the leaf's hash if there is
//! one, else the inner-node hash of the two halves split on bit `d`.

use crate::encoding::{Decode, DecodeError, Encode, Reader, Writer};
use crate::state::{Account, ACCOUNT_LEN};
use crate::types::Address;

use super::{account_key, account_value, internal_hash, leaf_hash, value_hash, EMPTY_SUBTREE};

/// The most accounts in one [`Chunk::Accounts`]: 4,096 accounts are 196,608 bytes on the
/// wire, small enough that a slow link delivers one in a second or two and a stalled one
/// is noticed quickly, large enough that a million accounts take a few hundred chunks.
pub const MAX_CHUNK_ACCOUNTS: usize = 4_096;

/// The most nibbles in a [`KeyPrefix`]: a key has 64.
pub const MAX_PREFIX_NIBBLES: usize = 64;

/// The children of a split: one per nibble.
pub const SPLIT_CHILDREN: usize = 16;

/// Where a subtree is: the first nibbles of every key under it. Each nibble is below 16
/// and there are at most [`MAX_PREFIX_NIBBLES`], by construction.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyPrefix(Vec<u8>);

impl KeyPrefix {
    /// The whole map.
    pub fn root() -> KeyPrefix {
        KeyPrefix(Vec::new())
    }

    /// The prefix of these nibbles, if each is below 16 and there are not too many.
    pub fn from_nibbles(nibbles: Vec<u8>) -> Option<KeyPrefix> {
        (nibbles.len() <= MAX_PREFIX_NIBBLES && nibbles.iter().all(|n| *n < 16))
            .then_some(KeyPrefix(nibbles))
    }

    /// The nibbles, most significant first.
    pub fn nibbles(&self) -> &[u8] {
        &self.0
    }

    /// How many nibbles long it is: the depth of its subtree in the tree's nodes.
    pub fn depth(&self) -> usize {
        self.0.len()
    }

    /// Whether this is the whole map.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The prefix of child `nibble`, if there is room for one more nibble.
    pub fn child(&self, nibble: u8) -> Option<KeyPrefix> {
        let mut nibbles = self.0.clone();
        nibbles.push(nibble);
        KeyPrefix::from_nibbles(nibbles)
    }

    /// Whether `key` is under this prefix.
    pub fn contains(&self, key: &[u8; 32]) -> bool {
        self.0
            .iter()
            .enumerate()
            .all(|(i, nibble)| key_nibble(key, i) == *nibble)
    }
}

impl std::fmt::Display for KeyPrefix {
    /// Hex digits, one per nibble; the whole map is `(root)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(root)");
        }
        for nibble in &self.0 {
            write!(f, "{nibble:x}")?;
        }
        Ok(())
    }
}

/// Nibble `index` of `key`, most significant first.
pub fn key_nibble(key: &[u8; 32], index: usize) -> u8 {
    let byte = key.get(index / 2).copied().unwrap_or(0);
    if index.is_multiple_of(2) {
        byte >> 4
    } else {
        byte & 0x0f
    }
}

/// One child of a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitChild {
    /// No account has a key under it.
    Empty,
    /// Exactly one account does: this one.
    Account(Address, Account),
    /// Two or more do: the subtree's hash, and how many accounts the sender says it
    /// holds. The count is not part of any hash; it only sizes progress reports.
    Subtree {
        /// The subtree's hash, which its chunk must have.
        hash: [u8; 32],
        /// The accounts under it, as the sender claims.
        accounts: u64,
    },
}

/// A peer's answer for one subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Every account under the prefix, in key order.
    Accounts(Vec<(Address, Account)>),
    /// The prefix's children, one per nibble, in nibble order.
    Split(Box<[SplitChild; SPLIT_CHILDREN]>),
}

/// Why a chunk is not the subtree it was asked for. Each is a peer's lie (or a bug):
/// an honest peer's chunk always checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// An account's key is not under the prefix asked for.
    #[error("account {index} of the chunk is not under prefix {prefix}")]
    OutsidePrefix {
        /// Its position in the chunk (a split child's nibble).
        index: usize,
        /// The prefix asked for.
        prefix: KeyPrefix,
    },
    /// Accounts are not in strictly increasing key order (or one is given twice).
    #[error("account {index} of the chunk is out of key order or repeated")]
    OutOfOrder {
        /// Its position in the chunk.
        index: usize,
    },
    /// A subtree below the root holds at least two accounts (one would be its parent's
    /// leaf), so a chunk of fewer is not one.
    #[error("a chunk below the root holds {count} accounts; a subtree holds at least two")]
    TooFewAccounts {
        /// How many it holds.
        count: usize,
    },
    /// A split of a key's full length, which has no children.
    #[error("a split at {MAX_PREFIX_NIBBLES} nibbles, where keys end")]
    SplitTooDeep,
    /// A split whose children hold fewer than two accounts: the subtree would be a leaf
    /// or empty, and a peer sends such a subtree's accounts, never a split.
    #[error("a split of fewer than two accounts")]
    SplitTooSmall,
    /// The content does not hash to the subtree's hash.
    #[error(
        "the chunk hashes to {}, not the subtree's {}",
        hex::encode(computed),
        hex::encode(expected)
    )]
    HashMismatch {
        /// What it hashes to.
        computed: [u8; 32],
        /// What the subtree's hash is.
        expected: [u8; 32],
    },
}

impl Chunk {
    /// Checks that this chunk is exactly the subtree at `prefix` whose hash is
    /// `expected`: every account under the prefix and no other, or its true children.
    pub fn verify(&self, prefix: &KeyPrefix, expected: &[u8; 32]) -> Result<(), ChunkError> {
        let computed = match self {
            Chunk::Accounts(accounts) => accounts_hash(prefix, accounts)?,
            Chunk::Split(children) => split_hash(prefix, children)?,
        };
        if computed != *expected {
            return Err(ChunkError::HashMismatch {
                computed,
                expected: *expected,
            });
        }
        Ok(())
    }

    /// How many accounts the chunk gives outright (a split's single-account children).
    pub fn accounts(&self) -> usize {
        match self {
            Chunk::Accounts(accounts) => accounts.len(),
            Chunk::Split(children) => children
                .iter()
                .filter(|child| matches!(child, SplitChild::Account(..)))
                .count(),
        }
    }
}

/// A leaf: its key and its hash.
type Leaf = ([u8; 32], [u8; 32]);

fn leaf_of(address: &Address, account: &Account) -> Leaf {
    let key = account_key(address);
    (key, leaf_hash(&key, &value_hash(&account_value(account))))
}

/// The hash of the subtree at `prefix` holding exactly `accounts`.
fn accounts_hash(
    prefix: &KeyPrefix,
    accounts: &[(Address, Account)],
) -> Result<[u8; 32], ChunkError> {
    if !prefix.is_root() && accounts.len() < 2 {
        return Err(ChunkError::TooFewAccounts {
            count: accounts.len(),
        });
    }
    let mut leaves: Vec<Leaf> = Vec::with_capacity(accounts.len());
    for (index, (address, account)) in accounts.iter().enumerate() {
        let leaf = leaf_of(address, account);
        if !prefix.contains(&leaf.0) {
            return Err(ChunkError::OutsidePrefix {
                index,
                prefix: prefix.clone(),
            });
        }
        if leaves.last().is_some_and(|last| last.0 >= leaf.0) {
            return Err(ChunkError::OutOfOrder { index });
        }
        leaves.push(leaf);
    }
    Ok(leaves_hash(&leaves, prefix.depth() * 4))
}

/// The sparse Merkle hash of `leaves` (sorted, distinct keys sharing their first `depth`
/// bits) under a node at bit depth `depth`. Keys differ within 256 bits, so the
/// recursion ends.
fn leaves_hash(leaves: &[Leaf], depth: usize) -> [u8; 32] {
    match leaves {
        [] => EMPTY_SUBTREE,
        [(_, hash)] => *hash,
        _ => {
            let right = leaves.partition_point(|(key, _)| !key_bit(key, depth));
            let (left, right) = leaves.split_at(right);
            internal_hash(
                &leaves_hash(left, depth + 1),
                &leaves_hash(right, depth + 1),
            )
        }
    }
}

/// Bit `index` of `key`, most significant first.
fn key_bit(key: &[u8; 32], index: usize) -> bool {
    key.get(index / 8)
        .is_some_and(|byte| byte & (0x80 >> (index % 8)) != 0)
}

/// The hash of the subtree at `prefix` whose children are `children`.
fn split_hash(
    prefix: &KeyPrefix,
    children: &[SplitChild; SPLIT_CHILDREN],
) -> Result<[u8; 32], ChunkError> {
    if prefix.depth() >= MAX_PREFIX_NIBBLES {
        return Err(ChunkError::SplitTooDeep);
    }
    let mut accounts = 0usize;
    let mut slots = [Slot::Empty; SPLIT_CHILDREN];
    for (nibble, (child, slot)) in children.iter().zip(slots.iter_mut()).enumerate() {
        *slot = match child {
            SplitChild::Empty => Slot::Empty,
            SplitChild::Account(address, account) => {
                let (key, hash) = leaf_of(address, account);
                // `nibble` < 16, and the prefix has room for it (checked above).
                let under = prefix.child(nibble as u8).unwrap_or_default();
                if !under.contains(&key) {
                    return Err(ChunkError::OutsidePrefix {
                        index: nibble,
                        prefix: under,
                    });
                }
                accounts += 1;
                Slot::Leaf(hash)
            }
            SplitChild::Subtree { hash, .. } => {
                accounts += 2;
                Slot::Subtree(*hash)
            }
        };
    }
    if accounts < 2 {
        return Err(ChunkError::SplitTooSmall);
    }
    Ok(slots_hash(&slots))
}

/// A split's child as its hash sees it: a leaf collapses upward through empty siblings,
/// a subtree of two or more accounts does not.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Empty,
    Leaf([u8; 32]),
    Subtree([u8; 32]),
}

/// The hash of a run of children (a power of two of them): the four binary levels inside
/// one node of the tree, by the same rule as [`leaves_hash`].
fn slots_hash(slots: &[Slot]) -> [u8; 32] {
    let mut present = slots.iter().filter(|slot| !matches!(slot, Slot::Empty));
    match (present.next(), present.next(), slots) {
        (None, _, _) => EMPTY_SUBTREE,
        (Some(Slot::Leaf(hash)), None, _) => *hash,
        (_, _, [Slot::Subtree(hash)]) => *hash,
        _ => {
            let (left, right) = slots.split_at(slots.len() / 2);
            internal_hash(&slots_hash(left), &slots_hash(right))
        }
    }
}

/// Bytes of an account as a chunk carries it: address, then account.
pub const CHUNK_ACCOUNT_LEN: usize = 32 + ACCOUNT_LEN;

fn encode_account(w: &mut Writer, address: &Address, account: &Account) {
    w.array(address.as_bytes());
    account.encode(w);
}

fn decode_account(r: &mut Reader<'_>) -> Result<(Address, Account), DecodeError> {
    Ok((
        Address::from_bytes(r.array("chunk address")?),
        Account::decode(r)?,
    ))
}

/// A count of nibbles (one byte), then one byte per nibble.
impl Encode for KeyPrefix {
    fn encode(&self, w: &mut Writer) {
        w.u8(self.0.len() as u8);
        for nibble in &self.0 {
            w.u8(*nibble);
        }
    }
}

impl Decode for KeyPrefix {
    const MAX_ENCODED_LEN: usize = 1 + MAX_PREFIX_NIBBLES;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = usize::from(r.u8("key prefix length")?);
        if len > MAX_PREFIX_NIBBLES {
            return Err(DecodeError::Invalid {
                what: "key prefix length",
                reason: format!("{len} nibbles; a key has {MAX_PREFIX_NIBBLES}"),
            });
        }
        let mut nibbles = Vec::with_capacity(len);
        for _ in 0..len {
            let nibble = r.u8("key prefix nibble")?;
            if nibble >= 16 {
                return Err(DecodeError::Invalid {
                    what: "key prefix nibble",
                    reason: format!("{nibble} is not below 16"),
                });
            }
            nibbles.push(nibble);
        }
        Ok(KeyPrefix(nibbles))
    }
}

/// A tag (0 accounts, 1 split). Accounts: a `u64` count, then each account's address and
/// encoding. Split: sixteen children, each a tag (0 empty; 1 an account, its address and
/// encoding; 2 a subtree, its hash and a `u64` count of its accounts).
impl Encode for Chunk {
    fn encode(&self, w: &mut Writer) {
        match self {
            Chunk::Accounts(accounts) => {
                w.u8(0);
                w.u64(accounts.len() as u64);
                for (address, account) in accounts {
                    encode_account(w, address, account);
                }
            }
            Chunk::Split(children) => {
                w.u8(1);
                for child in children.iter() {
                    match child {
                        SplitChild::Empty => w.u8(0),
                        SplitChild::Account(address, account) => {
                            w.u8(1);
                            encode_account(w, address, account);
                        }
                        SplitChild::Subtree { hash, accounts } => {
                            w.u8(2);
                            w.array(hash);
                            w.u64(*accounts);
                        }
                    }
                }
            }
        }
    }
}

impl Decode for Chunk {
    const MAX_ENCODED_LEN: usize = 1 + 8 + MAX_CHUNK_ACCOUNTS * CHUNK_ACCOUNT_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("chunk kind")? {
            0 => {
                let count = r.seq_len("chunk accounts", MAX_CHUNK_ACCOUNTS, CHUNK_ACCOUNT_LEN)?;
                let mut accounts = Vec::with_capacity(count);
                for _ in 0..count {
                    accounts.push(decode_account(r)?);
                }
                Ok(Chunk::Accounts(accounts))
            }
            1 => {
                let mut children = Box::new([SplitChild::Empty; SPLIT_CHILDREN]);
                for child in children.iter_mut() {
                    *child = match r.u8("split child kind")? {
                        0 => SplitChild::Empty,
                        1 => {
                            let (address, account) = decode_account(r)?;
                            SplitChild::Account(address, account)
                        }
                        2 => SplitChild::Subtree {
                            hash: r.array("split subtree hash")?,
                            accounts: r.u64("split subtree accounts")?,
                        },
                        other => {
                            return Err(DecodeError::Invalid {
                                what: "split child kind",
                                reason: format!("unknown kind {other}"),
                            })
                        }
                    };
                }
                Ok(Chunk::Split(children))
            }
            other => Err(DecodeError::Invalid {
                what: "chunk kind",
                reason: format!("unknown kind {other}"),
            }),
        }
    }
}
