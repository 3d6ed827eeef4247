use super::*;
use tern_chain::crypto::dev_secret_key;
use tern_chain::crypto::SecretKey;
use tern_chain::state::{Account, AccountView};
use tern_chain::state_map::MemoryTree;
use tern_chain::testkit::ChainBuilder;
use tern_chain::types::{Address, StateRoot};

pub(super) fn dev() -> ChainSpec {
    ChainSpec::resolve("dev").unwrap()
}

pub(super) fn keys() -> Vec<SecretKey> {
    (0..4).map(dev_secret_key).collect()
}

pub(super) fn miner(i: u8) -> Address {
    Address::from_bytes([i; 32])
}

/// "Now" far enough after genesis that no built block is in the future.
pub(super) fn now() -> Timestamp {
    Timestamp::now()
}

struct Fixture {
    dir: tempfile::TempDir,
    chain: Chain,
    builder: ChainBuilder,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::open(dir.path(), dev()).unwrap();
    Fixture {
        dir,
        chain,
        builder: ChainBuilder::new(dev()),
    }
}

impl Fixture {
    fn submit_all(&mut self, blocks: &[Block]) -> Vec<SubmitOutcome> {
        blocks
            .iter()
            .map(|b| self.chain.submit_block(b.clone(), now()).unwrap())
            .collect()
    }

    /// The chain's account state equals the builder's state after `tip`, account by account.
    fn assert_state_is(&self, tip: &BlockHash) {
        let expected = self.builder.state(tip).unwrap();
        let reader = self.chain.reader();
        for (address, account) in expected.accounts() {
            assert_eq!(
                reader.account(address).unwrap(),
                *account,
                "account {address:?}"
            );
        }
        // And nothing extra: every account the chain holds is in the expected state.
        for (address, account) in self.chain.writes.store().scan_all::<Accounts>().unwrap() {
            assert_eq!(
                expected.account(&address),
                Some(account),
                "unexpected account {address:?}"
            );
        }
        // The tree on disk commits to exactly these accounts, whatever reorgs led here.
        let rebuilt =
            MemoryTree::with_accounts(expected.accounts().map(|(a, account)| (*a, *account)))
                .unwrap();
        let recorded = self.chain.writes.get::<StateRoots>(tip).unwrap().unwrap();
        assert_eq!(recorded.root, rebuilt.root(), "the state root at {tip}");
        let header = self.builder.header(tip).unwrap();
        assert_eq!(header.state_root, recorded.root, "the header commits to it");
    }
}

#[test]
fn a_new_store_starts_at_genesis() {
    let f = fixture();
    assert_eq!(f.chain.tip().hash, dev().genesis_hash());
    assert_eq!(f.chain.tip().height(), Height::GENESIS);
    f.assert_state_is(&f.builder.genesis());
}

#[test]
fn extending_the_tip_connects_and_indexes() {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    let blocks = f.builder.extend(&genesis, 5, &keys(), 3, miner(9));
    for outcome in f.submit_all(&blocks) {
        assert_eq!(outcome.verdict, Verdict::Accepted);
        let update = outcome.update.unwrap();
        assert!(update.disconnected.is_empty());
        assert_eq!(update.connected.len(), 1);
    }
    let tip = blocks.last().unwrap().hash();
    assert_eq!(f.chain.tip().hash, tip);
    f.assert_state_is(&tip);

    let reader = f.chain.reader();
    assert_eq!(reader.block_at(Height(3)).unwrap().unwrap(), blocks[2]);
    assert_eq!(reader.block(&blocks[1].hash()).unwrap().unwrap(), blocks[1]);
    let tx = &blocks[1].transactions[2];
    let info = reader.transaction(&tx.id()).unwrap().unwrap();
    assert_eq!(
        (info.height, info.position, info.confirmations, info.block),
        (Height(2), 2, 4, blocks[1].hash())
    );
    assert_eq!(
        reader.transaction(&tern_chain::types::TxId::ZERO).unwrap(),
        None
    );
    assert_eq!(f.submit_all(&blocks[..1])[0].verdict, Verdict::AlreadyKnown);
}

#[test]
fn history_pages_newest_first_with_a_cursor() {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    let blocks = f.builder.extend(&genesis, 6, &keys(), 4, miner(9));
    f.submit_all(&blocks);
    let reader = f.chain.reader();
    let address = keys()[1].address();
    let expected: Vec<_> = blocks
        .iter()
        .flat_map(|b| {
            b.transactions
                .iter()
                .enumerate()
                .map(move |(p, t)| (b.header.height, p as u32, t))
        })
        .filter(|(_, _, t)| t.tx().from == address || t.tx().to == address)
        .map(|(h, p, t)| (h, p, t.id()))
        .rev()
        .collect();
    assert!(expected.len() > 5);
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = reader.history(&address, cursor, 5).unwrap();
        assert!(page.entries.len() <= 5);
        seen.extend(page.entries.iter().map(|e| (e.height, e.position, e.txid)));
        match page.next {
            Some(next) => cursor = Some(next.to_string().parse().unwrap()),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert!(reader
        .history(&miner(77), None, 10)
        .unwrap()
        .entries
        .is_empty());
}

/// Builds a main chain of `main_len` and a competing branch of `depth + 1` blocks from
/// `depth` blocks below the main tip, then checks the reorg there and back.
fn reorg_there_and_back(depth: usize) {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    let keys = keys();
    let main = f.builder.extend(&genesis, depth + 2, &keys, 1, miner(1));
    f.submit_all(&main);
    let fork = main[1].hash();
    let side = f.builder.extend(&fork, depth + 1, &keys, 2, miner(2));
    let outcomes = f.submit_all(&side);
    // Equal work does not switch; one block more does.
    for outcome in &outcomes[..depth] {
        assert_eq!(outcome.update, None);
    }
    let update = outcomes[depth].update.clone().unwrap();
    assert_eq!(update.disconnected.len(), depth);
    assert_eq!(update.connected.len(), depth + 1);
    assert_eq!(
        *update.disconnected[0],
        *main.last().unwrap(),
        "newest first"
    );
    assert_eq!(*update.connected[0], side[0], "oldest first");
    let side_tip = side.last().unwrap().hash();
    assert_eq!(f.chain.tip().hash, side_tip);
    f.assert_state_is(&side_tip);
    // Transactions only the main branch had come back.
    let returned: std::collections::HashSet<_> = update
        .returned_transactions()
        .iter()
        .map(|t| t.id())
        .collect();
    let side_ids: std::collections::HashSet<_> = side.iter().flat_map(|b| b.tx_ids()).collect();
    let expected: std::collections::HashSet<_> = main[2..]
        .iter()
        .flat_map(|b| b.tx_ids())
        .filter(|id| !side_ids.contains(id))
        .collect();
    assert_eq!(returned, expected);
    assert!(!f
        .chain
        .reader()
        .is_canonical(&main.last().unwrap().hash())
        .unwrap());
    for block in &main[2..] {
        for tx in &block.transactions {
            if !side_ids.contains(&tx.id()) {
                assert_eq!(
                    f.chain.reader().transaction(&tx.id()).unwrap(),
                    None,
                    "disconnected tx still indexed"
                );
            }
        }
    }

    // And back: the main branch grows past the side branch.
    let main_tip = main.last().unwrap().hash();
    let more = f.builder.extend(&main_tip, 2, &keys, 1, miner(1));
    let outcomes = f.submit_all(&more);
    let back = outcomes[1].update.clone().unwrap();
    assert_eq!(back.disconnected.len(), depth + 1);
    assert_eq!(back.connected.len(), depth + 2);
    let final_tip = more.last().unwrap().hash();
    assert_eq!(f.chain.tip().hash, final_tip);
    f.assert_state_is(&final_tip);
}

#[test]
fn reorg_of_depth_1() {
    reorg_there_and_back(1);
}

#[test]
fn reorg_of_depth_10() {
    reorg_there_and_back(10);
}

#[test]
fn reorg_of_depth_1000() {
    reorg_there_and_back(1000);
}

#[test]
fn equal_work_keeps_the_first_seen() {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    let first = f.builder.extend(&genesis, 1, &keys(), 0, miner(1));
    let second = f.builder.extend(&genesis, 1, &keys(), 0, miner(2));
    f.submit_all(&first);
    let outcome = f.submit_all(&second).remove(0);
    assert_eq!(outcome.verdict, Verdict::Accepted);
    assert_eq!(outcome.update, None);
    assert_eq!(f.chain.tip().hash, first[0].hash());
}

#[test]
fn an_invalid_block_is_marked_and_its_descendants_rejected_without_revalidation() {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    let good = f
        .builder
        .extend(&genesis, 1, &keys(), 0, miner(1))
        .remove(0);
    // Paying a transfer from an account that has nothing breaks a state rule.
    let broke = dev_secret_key(50);
    let bad_tx = f.builder.transfer(&good.hash(), &broke, miner(3), 5, 1, 0);
    // The builder refuses state-invalid blocks, so assemble one by hand.
    let mut bad = f.builder.child(&good.hash(), vec![], miner(1)).unwrap();
    bad.transactions = vec![bad_tx];
    bad.header.merkle_root = bad.computed_merkle_root();
    bad.header.nonce = tern_chain::pow::search_nonce(&bad.header, 0, u64::MAX).unwrap();
    let bad_hash = bad.hash();

    f.submit_all(std::slice::from_ref(&good));
    let outcome = f.chain.submit_block(bad.clone(), now()).unwrap();
    assert!(
        matches!(outcome.verdict, Verdict::Rejected(Rejection::Invalid { hash, .. }) if hash == bad_hash),
        "{outcome:?}"
    );
    assert_eq!(outcome.update, None);
    assert_eq!(f.chain.tip().hash, good.hash());
    assert_eq!(
        f.chain
            .reader()
            .index_entry(&bad_hash)
            .unwrap()
            .unwrap()
            .status,
        BlockStatus::Invalid
    );

    // Resubmitting is answered from the mark.
    assert_eq!(
        f.chain.submit_block(bad.clone(), now()).unwrap().verdict,
        Verdict::Rejected(Rejection::KnownInvalid { hash: bad_hash })
    );
    // A child of it is rejected without looking at its contents.
    let mut child = bad.clone();
    child.header.parent = bad_hash;
    child.header.height = Height(3);
    child.transactions.clear();
    child.header.merkle_root = child.computed_merkle_root();
    child.header.nonce = tern_chain::pow::search_nonce(&child.header, 0, u64::MAX).unwrap();
    assert_eq!(
        f.chain.submit_block(child.clone(), now()).unwrap().verdict,
        Verdict::Rejected(Rejection::InvalidAncestor {
            hash: child.hash(),
            ancestor: bad_hash
        })
    );
}

#[test]
fn an_invalid_block_on_a_heavier_branch_leaves_the_tip_on_the_valid_branch() {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    let main = f.builder.extend(&genesis, 3, &keys(), 1, miner(1));
    f.submit_all(&main);
    // A side branch from genesis that would have more work, with a state-invalid third block.
    let side = f.builder.extend(&genesis, 2, &keys(), 0, miner(2));
    let mut bad = f.builder.child(&side[1].hash(), vec![], miner(2)).unwrap();
    bad.transactions =
        vec![f
            .builder
            .transfer(&side[1].hash(), &dev_secret_key(60), miner(5), 1, 0, 0)];
    bad.header.merkle_root = bad.computed_merkle_root();
    bad.header.nonce = tern_chain::pow::search_nonce(&bad.header, 0, u64::MAX).unwrap();
    let mut on_bad = f.builder.child(&side[1].hash(), vec![], miner(3)).unwrap();
    on_bad.header.parent = bad.hash();
    on_bad.header.height = Height(4);
    on_bad.header.nonce = tern_chain::pow::search_nonce(&on_bad.header, 0, u64::MAX).unwrap();
    f.submit_all(&side);
    f.submit_all(std::slice::from_ref(&bad));
    let outcome = f.chain.submit_block(on_bad.clone(), now()).unwrap();
    // The whole switch was tried and undone: the tip is where it was.
    assert_eq!(f.chain.tip().hash, main[2].hash());
    assert_eq!(outcome.update, None, "the net change is nothing");
    assert!(
        matches!(outcome.verdict, Verdict::Rejected(Rejection::InvalidAncestor { ancestor, .. }) if ancestor == bad.hash()),
        "{outcome:?}"
    );
    f.assert_state_is(&main[2].hash());
}

#[test]
fn orphans_connect_when_their_parent_arrives() {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    let blocks = f.builder.extend(&genesis, 4, &keys(), 1, miner(1));
    for block in blocks[1..].iter().rev() {
        assert_eq!(
            f.chain.submit_block(block.clone(), now()).unwrap().verdict,
            Verdict::Orphaned
        );
    }
    assert_eq!(f.chain.orphan_count(), 3);
    let outcome = f.chain.submit_block(blocks[0].clone(), now()).unwrap();
    assert_eq!(outcome.verdict, Verdict::Accepted);
    let connected: Vec<Block> = outcome
        .update
        .unwrap()
        .connected
        .iter()
        .map(|b| (**b).clone())
        .collect();
    assert_eq!(connected, blocks);
    assert_eq!(f.chain.orphan_count(), 0);
}

#[test]
fn a_block_from_the_future_is_not_marked() {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    f.builder.spacing_ms = 10 * 365 * 24 * 3600 * 1000;
    let block = f
        .builder
        .extend(&genesis, 1, &keys(), 0, miner(1))
        .remove(0);
    let verdict = f.chain.submit_block(block.clone(), now()).unwrap().verdict;
    assert!(
        matches!(verdict, Verdict::Rejected(Rejection::NotYetValid { .. })),
        "{verdict:?}"
    );
    assert_eq!(f.chain.reader().index_entry(&block.hash()).unwrap(), None);
    // Once the clock catches up it is accepted.
    let later = Timestamp(block.header.timestamp.as_millis());
    assert_eq!(
        f.chain.submit_block(block, later).unwrap().verdict,
        Verdict::Accepted
    );
}

#[test]
fn a_body_that_does_not_match_its_header_is_refused_but_not_marked() {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    let block = f
        .builder
        .extend(&genesis, 1, &keys(), 2, miner(1))
        .remove(0);
    let mut tampered = block.clone();
    tampered.transactions.pop();
    let verdict = f.chain.submit_block(tampered, now()).unwrap().verdict;
    assert!(
        matches!(verdict, Verdict::Rejected(Rejection::BodyMismatch { .. })),
        "{verdict:?}"
    );
    // The genuine block with the same header is still accepted.
    assert_eq!(
        f.chain.submit_block(block, now()).unwrap().verdict,
        Verdict::Accepted
    );
}

#[test]
fn reopening_resumes_at_the_tip_without_replaying() {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    let blocks = f.builder.extend(&genesis, 10_000, &keys(), 0, miner(1));
    f.submit_all(&blocks);
    let tip = f.chain.tip();
    assert_eq!(tip.height(), Height(10_000));
    // Delete every body but the tip's: opening must not need them, so it cannot replay.
    let mut batch = f.chain.writes.store().batch();
    for block in &blocks[..blocks.len() - 1] {
        batch.delete::<BlockBodies>(&block.hash());
    }
    f.chain.writes.store().write(batch).unwrap();
    drop(f.chain);
    let reopened = Chain::open(f.dir.path(), dev()).unwrap();
    assert_eq!(reopened.tip(), tip);
    assert_eq!(
        reopened.reader().account(&miner(1)).unwrap(),
        Account {
            balance: tern_chain::types::Amount::from_base_units(
                dev().consensus.block_reward.base_units() * 10_000
            ),
            nonce: 0
        }
    );
}

#[test]
fn an_interrupted_reorg_resumes_on_open() {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    let main = f.builder.extend(&genesis, 3, &keys(), 1, miner(1));
    f.submit_all(&main);
    let side = f.builder.extend(&genesis, 4, &keys(), 1, miner(2));
    // Store the side branch as a crash mid-reorg would leave it: blocks indexed, the
    // target recorded, the tip still on the main branch.
    {
        let store = f.chain.writes.store().as_ref();
        let mut parent = read_entry(store, &genesis).unwrap();
        let mut batch = store.batch();
        for (i, block) in side.iter().enumerate() {
            let entry = BlockIndexEntry {
                header: block.header,
                cumulative_work: parent
                    .cumulative_work
                    .saturating_add(block.header.target.work()),
                status: BlockStatus::Valid,
                sequence: 100 + i as u64,
            };
            batch.put::<BlockIndex>(&block.hash(), &entry);
            batch.put::<BlockBodies>(&block.hash(), block);
            parent = entry;
        }
        batch.put::<Meta>(
            &MetaKey::ReorgTarget,
            &MetaValue(*side[3].hash().as_bytes()),
        );
        store.write(batch).unwrap();
    }
    drop(f.chain);
    let reopened = Chain::open(f.dir.path(), dev()).unwrap();
    assert_eq!(reopened.tip().hash, side[3].hash());
}

#[test]
fn a_second_open_of_the_data_dir_is_refused() {
    let f = fixture();
    let error = Chain::open(f.dir.path(), dev()).unwrap_err();
    assert!(
        matches!(&error, ChainError::Store(StoreError::Locked(path)) if path == f.dir.path()),
        "{error}"
    );
    assert!(error
        .to_string()
        .contains(&f.dir.path().display().to_string()));
}

#[test]
fn stores_of_older_formats_are_refused_by_name() {
    // 1: before the state map; 2: before the state root in headers; 3: before leaves
    // kept their accounts.
    for old in [1, 2, 3] {
        let f = fixture();
        let dir = f.dir;
        {
            let mut batch = f.chain.writes.store().batch();
            batch.put::<Meta>(&MetaKey::SchemaVersion, &MetaValue::from_u64(old));
            f.chain.writes.store().write(batch).unwrap();
        }
        drop(f.chain);
        let error = Chain::open(dir.path(), dev()).unwrap_err();
        assert!(
            matches!(error, ChainError::Store(StoreError::OlderSchema { found, .. }) if found == old),
            "{error}"
        );
        assert!(error.to_string().contains("older tern"), "{error}");
    }
}

#[test]
fn the_genesis_state_root_is_the_allocations_root() {
    let f = fixture();
    let genesis = f.builder.genesis();
    let recorded = f.chain.writes.get::<StateRoots>(&genesis).unwrap().unwrap();
    let expected = dev().genesis_state_map().unwrap().root();
    assert_eq!(recorded.root, expected);
    f.assert_state_is(&genesis);
}

#[test]
fn another_chain_or_a_newer_schema_is_refused() {
    let f = fixture();
    let dir = f.dir;
    {
        let mut batch = f.chain.writes.store().batch();
        batch.put::<Meta>(&MetaKey::SchemaVersion, &MetaValue::from_u64(99));
        f.chain.writes.store().write(batch).unwrap();
    }
    drop(f.chain);
    let error = Chain::open(dir.path(), dev()).unwrap_err();
    assert!(
        matches!(
            error,
            ChainError::Store(StoreError::NewerSchema { found: 99, .. })
        ),
        "{error}"
    );

    let other = tempfile::tempdir().unwrap();
    drop(Chain::open(other.path(), dev()).unwrap());
    let error = Chain::open(other.path(), ChainSpec::resolve("testnet").unwrap()).unwrap_err();
    assert!(
        matches!(error, ChainError::Store(StoreError::WrongChain { .. })),
        "{error}"
    );
}

#[test]
fn a_damaged_store_is_an_error_never_a_silent_reset() {
    let f = fixture();
    let dir = f.dir;
    drop(f.chain);
    std::fs::remove_file(dir.path().join("chain").join("CURRENT")).unwrap();
    let error = Chain::open(dir.path(), dev()).unwrap_err();
    assert!(
        matches!(error, ChainError::Store(StoreError::Corrupt { .. })),
        "{error}"
    );
    assert!(
        !dir.path().join("chain").join("CURRENT").exists(),
        "no new store was created"
    );
}

#[test]
fn junk_headers_leave_no_trace_in_the_index() {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    let good = f
        .builder
        .extend(&genesis, 1, &keys(), 0, miner(1))
        .remove(0);
    f.submit_all(std::slice::from_ref(&good));
    // The easiest possible target would make proof of work free: refused before anything
    // else, and nothing about it is kept.
    let mut junk = good.clone();
    junk.header.target = tern_chain::types::Target::MAX;
    junk.header.nonce = 12345;
    let verdict = f.chain.submit_block(junk.clone(), now()).unwrap().verdict;
    assert!(
        matches!(
            verdict,
            Verdict::Rejected(Rejection::Invalid {
                error: BlockError::TargetAboveMaximum { .. },
                ..
            })
        ),
        "{verdict:?}"
    );
    assert_eq!(
        f.chain.reader().index_entry(&junk.hash()).unwrap(),
        None,
        "junk must not be stored"
    );
    // Nor can such a block wait as an orphan.
    let mut orphan = junk.clone();
    orphan.header.parent = BlockHash::from_bytes([7; 32]);
    let verdict = f.chain.submit_block(orphan, now()).unwrap().verdict;
    assert!(
        matches!(verdict, Verdict::Rejected(Rejection::Invalid { .. })),
        "{verdict:?}"
    );
    assert_eq!(f.chain.orphan_count(), 0);
    // A header with real work at the wrong difficulty is refused and not stored either.
    let mut wrong = good.clone();
    let mut bytes = wrong.header.target.to_be_bytes();
    bytes[1] = 0x7f;
    wrong.header.target = tern_chain::types::Target::from_be_bytes(bytes).unwrap();
    wrong.header.nonce = tern_chain::pow::search_nonce(&wrong.header, 0, u64::MAX).unwrap();
    let verdict = f.chain.submit_block(wrong.clone(), now()).unwrap().verdict;
    assert!(
        matches!(
            verdict,
            Verdict::Rejected(Rejection::Invalid {
                error: BlockError::WrongTarget { .. },
                ..
            })
        ),
        "{verdict:?}"
    );
    assert_eq!(f.chain.reader().index_entry(&wrong.hash()).unwrap(), None);
}

#[test]
fn accounts_are_proven_at_the_tip_and_at_earlier_blocks_and_side_blocks_are_refused() {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    let keys = keys();
    let main = f.builder.extend(&genesis, 5, &keys, 3, miner(1));
    f.submit_all(&main);
    let side = f.builder.extend(&main[1].hash(), 1, &keys, 1, miner(2));
    f.submit_all(&side);
    let reader = f.chain.reader();
    let sender = keys[0].address();
    let nobody = Address::from_bytes([0xee; 32]);
    for block in [&main[4], &main[2], &main[0]] {
        let hash = block.hash();
        let expected = f.builder.state(&hash).unwrap();
        for address in [sender, miner(1), nobody] {
            let proven = reader.account_proof(&address, &hash).unwrap();
            assert_eq!(proven.account, expected.account(&address), "{address:?}");
            assert_eq!(proven.height, block.header.height);
            proven
                .proof
                .verify(&proven.root, &address, proven.account.as_ref())
                .unwrap();
        }
    }
    let error = reader.account_proof(&sender, &side[0].hash()).unwrap_err();
    assert!(matches!(error, ProofQueryError::NotCanonical(_)), "{error}");
}

#[test]
fn an_account_is_proven_at_most_max_proof_depth_below_the_tip() {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    let blocks = f
        .builder
        .extend(&genesis, MAX_PROOF_DEPTH as usize + 1, &[], 0, miner(1));
    f.submit_all(&blocks);
    let reader = f.chain.reader();
    let deepest = &blocks[0];
    reader.account_proof(&miner(1), &deepest.hash()).unwrap();
    let error = reader.account_proof(&miner(1), &genesis).unwrap_err();
    assert!(matches!(error, ProofQueryError::TooDeep(_)), "{error}");
}

#[test]
fn a_block_committing_to_another_state_root_is_invalid_and_changes_nothing() {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    let blocks = f.builder.extend(&genesis, 2, &keys(), 3, miner(9));
    f.submit_all(&blocks[..1]);
    let parent = blocks[0].hash();
    let honest = &blocks[1];
    let mut forged = honest.clone();
    forged.header.state_root = StateRoot::from_bytes([0xee; 32]);
    forged.header.nonce = tern_chain::pow::search_nonce(&forged.header, 0, u64::MAX).unwrap();

    let outcome = f.chain.submit_block(forged.clone(), now()).unwrap();
    assert_eq!(
        outcome.verdict,
        Verdict::Rejected(Rejection::Invalid {
            hash: forged.hash(),
            error: BlockError::BadStateRoot {
                computed: honest.header.state_root,
                found: forged.header.state_root,
            },
        })
    );
    assert_eq!(f.chain.tip().hash, parent);
    f.assert_state_is(&parent);
    // The honest block with the same transactions still connects.
    assert_eq!(
        f.submit_all(std::slice::from_ref(honest))[0].verdict,
        Verdict::Accepted
    );
    f.assert_state_is(&honest.hash());
}

#[test]
fn sealing_a_template_commits_to_the_state_it_leaves() {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    let blocks = f.builder.extend(&genesis, 2, &keys(), 3, miner(9));
    f.submit_all(&blocks[..1]);
    let tip = f.chain.tip();
    let parent = f.chain.reader().parent_context(&tip.hash).unwrap().unwrap();
    let template = |transactions: Vec<_>| {
        tern_chain::miner::block_template(
            &dev().consensus,
            &parent,
            transactions,
            miner(9),
            blocks[1].header.timestamp,
        )
    };
    let sealed = f
        .chain
        .seal(template(blocks[1].transactions.clone()))
        .unwrap();
    assert_eq!(sealed.header.state_root, blocks[1].header.state_root);

    // A template whose transactions no longer apply is refused, naming the rule.
    let stale = template(blocks[0].transactions.clone());
    assert!(matches!(
        f.chain.seal(stale),
        Err(SealError::Invalid(BlockError::Transaction { .. }))
    ));
    // So is one on a block that is no longer the tip.
    f.submit_all(&blocks[1..]);
    assert!(matches!(
        f.chain.seal(template(Vec::new())),
        Err(SealError::NotOnTip { .. })
    ));
}

#[test]
fn the_store_check_replays_every_blocks_state_root() {
    let mut f = fixture();
    let genesis = f.builder.genesis();
    let blocks = f.builder.extend(&genesis, 6, &keys(), 3, miner(9));
    f.submit_all(&blocks);
    let report = check_store(&f.chain.reader()).unwrap();
    assert_eq!(report.height, Height(6));

    // A recorded root damaged below the tip is found, by height.
    let third = blocks[2].hash();
    let mut entry = f.chain.writes.get::<StateRoots>(&third).unwrap().unwrap();
    entry.root = StateRoot::from_bytes([1; 32]);
    let mut batch = f.chain.writes.store().batch();
    batch.put::<StateRoots>(&third, &entry);
    f.chain.writes.store().write(batch).unwrap();
    match check_store(&f.chain.reader()) {
        Err(StoreCheckError::BlockStateRoot { height, which, .. }) => {
            assert_eq!((height, which), (Height(3), "state root recorded for it"));
        }
        other => panic!("{other:?}"),
    }
}
