use super::*;
use tern_chain::block::{merkle_path, Block};
use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_chain::state_map::MemoryTree;
use tern_chain::testkit::ChainBuilder;
use tern_chain::types::Timestamp;
use tern_rpc::chain::ProofBlockJson;

/// A verified chain of 4 blocks with transfers, and the blocks.
fn setup() -> (VerifiedChain, ChainBuilder, Vec<Block>) {
    let spec = ChainSpec::resolve("dev").unwrap();
    let mut builder = ChainBuilder::new(spec.clone());
    let genesis = builder.genesis();
    let keys: Vec<_> = (0..3).map(dev_secret_key).collect();
    let blocks = builder.extend(&genesis, 4, &keys, 2, Address::from_bytes([9; 32]));
    let mut chain = VerifiedChain::new(spec);
    let mut branch = chain.branch_from(Height::GENESIS).unwrap();
    for block in &blocks {
        branch.push(&chain, block.header, Timestamp::now()).unwrap();
    }
    assert!(chain.adopt(branch));
    (chain, builder, blocks)
}

fn prefix() -> AddressPrefix {
    ChainSpec::resolve("dev").unwrap().address_prefix
}

/// What an honest node answers for `address` at `block`.
fn honest_account(builder: &ChainBuilder, block: &Block, address: &Address) -> AccountProofJson {
    let state = builder.state(&block.hash()).unwrap();
    let tree = MemoryTree::with_accounts(state.accounts().map(|(a, acc)| (*a, *acc))).unwrap();
    assert_eq!(tree.root(), block.header.state_root);
    let (account, proof) = tree.prove(address).unwrap();
    let account_or_zero = account.unwrap_or_default();
    AccountProofJson {
        address: address.to_bech32(&prefix()),
        balance: account_or_zero.balance.to_string(),
        nonce: account_or_zero.nonce,
        exists: account.is_some(),
        block: ProofBlockJson {
            hash: block.hash().to_string(),
            height: block.header.height.value(),
            state_root: block.header.state_root.to_string(),
        },
        proof: hex::encode(encoding::encode(&proof)),
    }
}

fn check(
    chain: &VerifiedChain,
    block: &Block,
    address: &Address,
    answer: &AccountProofJson,
) -> Result<Option<Account>, Mismatch> {
    check_account(chain, &block.hash(), address, &prefix(), answer)
}

#[test]
fn an_honest_answer_checks_for_a_present_and_an_absent_account() {
    let (chain, builder, blocks) = setup();
    let tip = blocks.last().unwrap();
    let sender = dev_secret_key(0).address();
    let answer = honest_account(&builder, tip, &sender);
    let account = check(&chain, tip, &sender, &answer).unwrap().unwrap();
    assert_eq!(account.balance.to_string(), answer.balance);
    let nobody = Address::from_bytes([42; 32]);
    assert_eq!(
        check(
            &chain,
            tip,
            &nobody,
            &honest_account(&builder, tip, &nobody)
        ),
        Ok(None)
    );
}

#[test]
fn every_lie_about_an_account_is_named() {
    let (chain, builder, blocks) = setup();
    let tip = blocks.last().unwrap();
    let sender = dev_secret_key(0).address();
    let honest = honest_account(&builder, tip, &sender);
    let lie = |change: &dyn Fn(&mut AccountProofJson)| {
        let mut answer = honest.clone();
        change(&mut answer);
        check(&chain, tip, &sender, &answer).unwrap_err()
    };

    assert!(matches!(
        lie(&|a| a.balance = "1".into()),
        Mismatch::AccountProof { .. }
    ));
    assert!(matches!(
        lie(&|a| a.nonce += 1),
        Mismatch::AccountProof { .. }
    ));
    assert!(matches!(
        lie(&|a| a.exists = false),
        Mismatch::AccountProof { .. }
    ));
    assert!(matches!(
        lie(&|a| a.balance = "lots".into()),
        Mismatch::Malformed {
            what: "balance",
            ..
        }
    ));
    // A proof's byte flipped: it either no longer decodes or no longer leads to the root.
    for at in [0, 5, 40, 80] {
        let flipped = lie(&|a| {
            let mut bytes = hex::decode(&a.proof).unwrap();
            bytes[at] ^= 1;
            a.proof = hex::encode(bytes);
        });
        assert!(
            matches!(
                flipped,
                Mismatch::AccountProof { .. } | Mismatch::Malformed { what: "proof", .. }
            ),
            "{flipped}"
        );
    }
    assert!(matches!(
        lie(&|a| a.proof.truncate(20)),
        Mismatch::Malformed { what: "proof", .. }
    ));
    // A root of its own, consistent with a proof of its own, is still not the header's.
    assert!(matches!(
        lie(&|a| a.block.state_root = "ab".repeat(32)),
        Mismatch::StateRoot { .. }
    ));
    // Another block than the one asked for, even a real one.
    let older = honest_account(&builder, &blocks[1], &sender);
    assert!(matches!(
        check(&chain, tip, &sender, &older),
        Err(Mismatch::WrongBlock { .. })
    ));
    assert!(matches!(
        lie(&|a| a.address = Address::from_bytes([1; 32]).to_bech32(&prefix())),
        Mismatch::WrongAddress { .. }
    ));
}

/// What an honest node answers for transaction `index` of `block`.
fn honest_inclusion(block: &Block, index: usize) -> (TxId, TransactionJson, TxProofJson) {
    let signed = &block.transactions[index];
    let leaves = block.signed_hashes();
    let proof = TxProofJson {
        txid: signed.id().to_string(),
        signed_hash: signed.signed_hash().to_string(),
        block_hash: block.hash().to_string(),
        height: block.header.height.value(),
        position: index as u32,
        count: leaves.len() as u32,
        path: merkle_path(&leaves, index)
            .unwrap()
            .iter()
            .map(hex::encode)
            .collect(),
    };
    (signed.id(), TransactionJson::new(signed, &prefix()), proof)
}

#[test]
fn an_honest_inclusion_checks_and_counts_confirmations() {
    let (chain, _, blocks) = setup();
    let (txid, tx, proof) = honest_inclusion(&blocks[1], 1);
    let inclusion = check_inclusion(&chain, &txid, &tx, &proof).unwrap();
    assert_eq!(
        (
            inclusion.height,
            inclusion.position,
            inclusion.confirmations
        ),
        (Height(2), 1, 3)
    );
}

#[test]
fn every_lie_about_an_inclusion_is_named() {
    let (chain, _, blocks) = setup();
    let (txid, tx, proof) = honest_inclusion(&blocks[1], 1);
    let lie = |tx: &TransactionJson, proof: &TxProofJson| {
        check_inclusion(&chain, &txid, tx, proof).unwrap_err()
    };

    let mut other_amount = tx.clone();
    other_amount.amount = "999".into();
    assert!(matches!(
        lie(&other_amount, &proof),
        Mismatch::WrongTransaction { .. }
    ));
    let mut other_signature = tx.clone();
    other_signature.signature = "00".repeat(64);
    assert!(matches!(
        lie(&other_signature, &proof),
        Mismatch::WrongTransaction { .. }
    ));

    let mut moved = proof.clone();
    moved.position = 0;
    assert!(matches!(lie(&tx, &moved), Mismatch::InclusionProof { .. }));
    let mut bent = proof.clone();
    bent.path[0] = "11".repeat(32);
    assert!(matches!(lie(&tx, &bent), Mismatch::InclusionProof { .. }));
    let mut elsewhere = proof.clone();
    elsewhere.block_hash = blocks[2].hash().to_string();
    assert!(matches!(lie(&tx, &elsewhere), Mismatch::NotInChain { .. }));
    let mut ahead = proof.clone();
    ahead.height = 99;
    assert!(matches!(lie(&tx, &ahead), Mismatch::NotInChain { .. }));
    let mut junk = proof.clone();
    junk.path[0] = "zz".into();
    assert!(matches!(
        lie(&tx, &junk),
        Mismatch::Malformed {
            what: "audit path",
            ..
        }
    ));
}
