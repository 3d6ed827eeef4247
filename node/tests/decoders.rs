//! Fuzzing on stable Rust: every decoder of input from outside the process gets random
//! bytes and mutations of valid encodings (bytes flipped, cut, inserted, removed or
//! repeated, and counts overwritten with large numbers), for a fixed number of cases.
//!
//! Each case must end in a value or a typed error, never a panic, and must stay within a
//! memory budget proportional to its input: the decoder runs with the process's allocator
//! capped at what is already allocated plus that budget, so an allocation sized by a
//! declared count rather than by the bytes present fails the run (the allocator refuses
//! it, and the process aborts naming the size). Binary decoders must also be canonical: a
//! value that decodes encodes back to exactly the bytes it came from.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::alloc::System;
use std::path::Path;
use std::sync::Mutex;

use cap::Cap;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence};
use tern_chain::block::{Block, Header};
use tern_chain::crypto::dev_secret_key;
use tern_chain::encoding::{decode, encode, Decode, Encode};
use tern_chain::genesis::ChainSpec;
use tern_chain::state_map::chunk::{Chunk, KeyPrefix, SplitChild};
use tern_chain::testkit::ChainBuilder;
use tern_chain::tx::SignedTransaction;
use tern_chain::types::{Address, BlockHash, ChainId, Height, TxId, Work};
use tern_node::config::file as config_file;
use tern_p2p::addrbook::AddrEntry;
use tern_p2p::bans::{Ban, BanTarget};
use tern_p2p::message::{ChunkAnswer, Hello, InvItem, Message, PROTOCOL_VERSION};
use tern_state::persist;
use tern_wallet::keystore::Keystore;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// One budgeted decode at a time: the cap is process-wide.
static BUDGET: Mutex<()> = Mutex::new(());

/// Room for what the harness's other threads allocate meanwhile (their seeds, temporary
/// directories). The failures this catches are allocations sized by a declared count,
/// gigabytes rather than megabytes.
const SLACK: usize = 16 << 20;

/// Cases per decoder: enough to reach every field of every seed, few enough for CI.
const CASES: u32 = 384;

fn config() -> Config {
    Config {
        cases: CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

/// Runs `decode` with at most `budget` bytes more than are allocated now.
fn within<R>(budget: usize, decode: impl FnOnce() -> R) -> R {
    let _one = BUDGET.lock().unwrap_or_else(|e| e.into_inner());
    ALLOCATOR
        .set_limit(ALLOCATOR.allocated() + budget + SLACK)
        .unwrap();
    let result = decode();
    ALLOCATOR.set_limit(usize::MAX).unwrap();
    result
}

/// One change to a valid encoding.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Cut(Index),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    Repeat(Index, usize),
    /// Eight little-endian bytes at a position: where a count is, a huge count.
    Count(Index, u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let count = prop_oneof![
        Just(u64::MAX),
        Just(u64::from(u32::MAX)),
        1u64 << 20..1 << 40,
        0u64..4096,
    ];
    prop_oneof![
        (any::<Index>(), 1u8..).prop_map(|(at, bits)| Mutation::Flip(at, bits)),
        any::<Index>().prop_map(Mutation::Cut),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<Index>(), 1usize..64).prop_map(|(at, len)| Mutation::Remove(at, len)),
        (any::<Index>(), 1usize..256).prop_map(|(at, len)| Mutation::Repeat(at, len)),
        (any::<Index>(), count).prop_map(|(at, count)| Mutation::Count(at, count)),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let at = |index: &Index, len: usize| if len == 0 { 0 } else { index.index(len) };
    match mutation {
        Mutation::Flip(index, bits) => {
            if !bytes.is_empty() {
                let i = at(index, bytes.len());
                bytes[i] ^= bits;
            }
        }
        Mutation::Cut(index) => bytes.truncate(at(index, bytes.len() + 1)),
        Mutation::Insert(index, inserted) => {
            let i = at(index, bytes.len() + 1);
            bytes.splice(i..i, inserted.iter().copied());
        }
        Mutation::Remove(index, len) => {
            let i = at(index, bytes.len() + 1);
            let end = (i + len).min(bytes.len());
            bytes.drain(i..end);
        }
        Mutation::Repeat(index, len) => {
            let i = at(index, bytes.len() + 1);
            let end = (i + len).min(bytes.len());
            let copy = bytes[i..end].to_vec();
            bytes.splice(end..end, copy);
        }
        Mutation::Count(index, count) => {
            let i = at(index, bytes.len() + 1);
            let end = (i + 8).min(bytes.len());
            let le = count.to_le_bytes();
            bytes[i..end].copy_from_slice(&le[..end - i]);
        }
    }
}

/// A seed picked from `seeds` with up to four mutations, or plain random bytes.
fn inputs(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let mutated = (
        prop::sample::select(seeds),
        prop::collection::vec(mutation(), 1..=4),
    )
        .prop_map(|(mut bytes, mutations)| {
            for m in &mutations {
                apply(&mut bytes, m);
            }
            bytes
        });
    prop_oneof![
        4 => mutated,
        1 => prop::collection::vec(any::<u8>(), 0..512),
    ]
}

/// A binary decoder's case: within a budget of a few times the input, and canonical.
fn check_binary<T: Decode + Encode + std::fmt::Debug>(bytes: &[u8]) -> Result<(), TestCaseError> {
    let decoded = within(8 * bytes.len() + 4096, || decode::<T>(bytes));
    if let Ok(value) = decoded {
        prop_assert_eq!(
            encode(&value),
            bytes,
            "decoded {:?} is not canonical",
            value
        );
    }
    Ok(())
}

/// Blocks with transfers on a dev chain, their headers, and their transactions.
fn chain_samples() -> (Vec<Block>, Vec<SignedTransaction>) {
    let spec = ChainSpec::resolve("dev").unwrap();
    let mut builder = ChainBuilder::new(spec);
    let keys: Vec<_> = (0..3).map(dev_secret_key).collect();
    let genesis = builder.genesis();
    let blocks = builder.extend(&genesis, 3, &keys, 3, Address::from_bytes([7; 32]));
    let transactions = blocks
        .iter()
        .flat_map(|b| b.transactions.iter().cloned())
        .collect();
    (blocks, transactions)
}

fn message_seeds() -> Vec<Vec<u8>> {
    let (blocks, transactions) = chain_samples();
    let block = blocks.last().unwrap().clone();
    let hash = block.hash();
    let items = vec![
        InvItem::Tx(TxId::from_bytes([1; 32])),
        InvItem::Block(BlockHash::from_bytes([2; 32])),
    ];
    let messages = vec![
        Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            chain_id: ChainId(7),
            genesis: hash,
            best_height: Height(3),
            best_hash: hash,
            cumulative_work: Work::from_be_bytes([3; 32]),
            lowest_body: Height(0),
            listen_port: 9000,
            user_agent: "tern/fuzz".into(),
        }),
        Message::Ping(1),
        Message::Pong(2),
        Message::GetAddrs,
        Message::Addrs(vec![
            "10.1.2.3:9000".parse().unwrap(),
            "[2001:db8::1]:9000".parse().unwrap(),
        ]),
        Message::Inventory(items.clone()),
        Message::GetData(items.clone()),
        Message::NotFound(items),
        Message::Tx(Box::new(transactions[0].clone())),
        Message::Block(Box::new(block.clone())),
        Message::GetHeaders {
            locator: vec![hash, BlockHash::from_bytes([4; 32])],
            stop: Some(hash),
        },
        Message::Headers(blocks.iter().map(|b| b.header).collect()),
        Message::Goodbye {
            reason: "banned".into(),
            retry_after_secs: 3_600,
        },
        Message::GetStateChunk {
            pivot: hash,
            prefix: KeyPrefix::from_nibbles(vec![1, 15]).unwrap(),
        },
        Message::StateChunk {
            pivot: hash,
            prefix: KeyPrefix::root(),
            answer: ChunkAnswer::Chunk(Chunk::Accounts(
                (0..5u8)
                    .map(|i| {
                        let account = tern_chain::state::Account {
                            balance: tern_chain::types::Amount::from_base_units(u64::from(i)),
                            nonce: u64::from(i),
                        };
                        (tern_chain::types::Address::from_bytes([i; 32]), account)
                    })
                    .collect(),
            )),
        },
        Message::StateChunk {
            pivot: hash,
            prefix: KeyPrefix::root(),
            answer: ChunkAnswer::Chunk(Chunk::Split(Box::new(
                [SplitChild::Subtree {
                    hash: [7; 32],
                    accounts: 9,
                }; 16],
            ))),
        },
        Message::StateChunk {
            pivot: hash,
            prefix: KeyPrefix::root(),
            answer: ChunkAnswer::Busy,
        },
    ];
    messages.iter().map(encode).collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn wire_messages(bytes in inputs(message_seeds())) {
        check_binary::<Message>(&bytes)?;
    }

    #[test]
    fn transactions(bytes in inputs(chain_samples().1.iter().map(encode).collect())) {
        check_binary::<SignedTransaction>(&bytes)?;
        let _ = within(4096, || tern_mempool::decode_transaction(&bytes));
    }

    #[test]
    fn blocks_and_headers(bytes in inputs(chain_samples().0.iter().flat_map(|b| [encode(b), encode(&b.header)]).collect())) {
        check_binary::<Block>(&bytes)?;
        check_binary::<Header>(&bytes)?;
    }

    /// What a wallet reads from a node it does not trust.
    #[test]
    fn account_proofs(bytes in inputs(proof_seeds())) {
        check_binary::<tern_chain::state_map::AccountProof>(&bytes)?;
    }
}

/// Proofs of a present and an absent account under the dev genesis state.
fn proof_seeds() -> Vec<Vec<u8>> {
    let map = tern_chain::genesis::ChainSpec::resolve("dev")
        .unwrap()
        .genesis_state_map()
        .unwrap();
    [dev_secret_key(0).address(), dev_secret_key(99).address()]
        .iter()
        .map(|a| encode(&map.prove(a).unwrap().1))
        .collect()
}

/// Text decoders see the seed's bytes mutated, then read as UTF-8 with replacements.
fn text_inputs(seeds: Vec<String>) -> impl Strategy<Value = String> {
    inputs(seeds.into_iter().map(String::into_bytes).collect())
        .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// A budget for text formats: serde builds values a small multiple of the text's size.
fn text_budget(text: &str) -> usize {
    32 * text.len() + 64 * 1024
}

fn dev_spec_text() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../genesis/dev.json")).unwrap()
}

fn saved_files() -> Vec<String> {
    let peers = vec![
        AddrEntry {
            addr: "10.0.0.1:9000".parse().unwrap(),
            tried: true,
            failures: 0,
            retry_after_ms: 0,
            refusals: 0,
        },
        AddrEntry {
            addr: "[::1]:9001".parse().unwrap(),
            tried: false,
            failures: 3,
            retry_after_ms: 1_700_000_000_000,
            refusals: 2,
        },
    ];
    let bans = vec![Ban {
        target: "10.0.0.2".into(),
        until_ms: u64::MAX,
        reason: "sent an invalid block".into(),
    }];
    vec![
        serde_json::to_string_pretty(&peers).unwrap(),
        serde_json::to_string_pretty(&bans).unwrap(),
    ]
}

/// A key file whose key derivation is as cheap as Argon2 allows, so each case costs
/// microseconds; the password never matches, and every mutation is read as far as the
/// reader gets.
fn cheap_key_file() -> String {
    serde_json::json!({
        "version": 1,
        "accounts": [{ "name": "alice", "public_key": "ab".repeat(32) }],
        "kdf": {
            "algorithm": "argon2id",
            "salt": "00".repeat(16),
            "memory_kib": 8,
            "iterations": 1,
            "parallelism": 1
        },
        "cipher": { "algorithm": "chacha20poly1305", "nonce": "00".repeat(12) },
        "ciphertext": "00".repeat(48)
    })
    .to_string()
}

fn written(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn chain_specs(text in text_inputs(vec![dev_spec_text()])) {
        let _ = within(text_budget(&text), || ChainSpec::from_json(&text, "fuzz"));
    }

    #[test]
    fn config_files(text in text_inputs(vec![tern_node::config::default_toml()])) {
        let _ = within(text_budget(&text), || config_file::parse(&text, "fuzz"));
    }

    #[test]
    fn peers_and_bans_files(text in text_inputs(saved_files())) {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path(), "peers.json", &text);
        let peers: Vec<AddrEntry> = within(text_budget(&text), || persist::load(&path));
        prop_assert!(peers.len() <= text.len());
        let path = written(dir.path(), "bans.json", &text);
        let bans: Vec<Ban> = within(text_budget(&text), || persist::load(&path));
        for ban in bans {
            let _ = within(4096, || ban.target.parse::<BanTarget>());
        }
    }

    #[test]
    fn key_files(text in text_inputs(vec![cheap_key_file()])) {
        let dir = tempfile::tempdir().unwrap();
        let keystore = Keystore::new(written(dir.path(), "wallet.json", &text));
        let _ = within(text_budget(&text), || keystore.accounts());
        // Argon2's memory is the one allocation a key file may size, within its bound.
        let kdf = tern_wallet::keystore::MAX_KDF_MEMORY_KIB as usize * 1024;
        let opened = within(text_budget(&text) + kdf, || keystore.unlock("not the password"));
        prop_assert!(opened.is_err(), "a mutated key file opened: {:?}", opened.map(|k| k.len()));
    }
}

#[test]
fn a_key_file_cannot_ask_for_unbounded_key_derivation() {
    let dir = tempfile::tempdir().unwrap();
    for (field, value) in [
        ("memory_kib", u64::from(u32::MAX)),
        ("iterations", u64::from(u32::MAX)),
        ("parallelism", 1 << 20),
    ] {
        let mut file: serde_json::Value = serde_json::from_str(&cheap_key_file()).unwrap();
        file["kdf"][field] = value.into();
        let keystore = Keystore::new(written(dir.path(), "wallet.json", &file.to_string()));
        let error = within(64 * 1024, || keystore.unlock("password")).unwrap_err();
        assert!(
            error.to_string().contains("exceed the limits"),
            "{field}: {error}"
        );
    }
}

#[test]
fn files_beyond_their_bound_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peers.json");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(persist::MAX_FILE_BYTES + 1).unwrap();
    let peers: Vec<AddrEntry> = within(64 * 1024, || persist::load(&path));
    assert!(peers.is_empty());
    assert!(path.with_extension("json.damaged").exists());

    let path = dir.path().join("tern.toml");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(tern_node::config::MAX_CONFIG_BYTES + 1)
        .unwrap();
    let error = within(64 * 1024, || config_file::load(&path)).unwrap_err();
    assert!(error.0.contains("more than"), "{}", error.0);

    let path = dir.path().join("spec.json");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(tern_chain::genesis::MAX_SPEC_BYTES + 1)
        .unwrap();
    let error = within(64 * 1024, || ChainSpec::load(&path)).unwrap_err();
    assert!(error.to_string().contains("more than"), "{error}");
}
