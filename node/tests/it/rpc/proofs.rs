//! Account proofs over RPC: what a wallet checks an answer with.

use super::*;
use tern_chain::state_map::AccountProof;
use tern_chain::types::{Address, StateRoot};
use tern_rpc::chain::{AccountProofJson, BlockId};

/// Checks an answer the way a wallet does: the proof's bytes, under the root it names,
/// show exactly the account it claims.
fn checks(answer: &AccountProofJson, address: &Address) -> bool {
    let root: StateRoot = answer.block.state_root.parse().unwrap();
    let proof: AccountProof = encoding::decode(&hex::decode(&answer.proof).unwrap()).unwrap();
    let account = answer.exists.then(|| tern_chain::state::Account {
        balance: tern_chain::types::Amount::from_base_units(answer.balance.parse().unwrap()),
        nonce: answer.nonce,
    });
    proof.verify(&root, address, account.as_ref()).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_proofs_check_at_the_tip_and_earlier_and_name_what_is_not_kept() {
    let node = node("dev", true).await;
    let c = &node.client;
    let (alice, bob) = (dev_secret_key(0), dev_secret_key(1));
    let (tx, _) = signed_hex(&node, &alice, &bob, 25_000, 1_000, 0);
    c.tx_submit(tx).await.unwrap();
    c.dev_mine(2, None).await.unwrap();

    let at_tip = c
        .account_get_proof(address(&node, &alice), None)
        .await
        .unwrap();
    let account = c.account_get(address(&node, &alice)).await.unwrap();
    assert_eq!((at_tip.block.height, at_tip.nonce), (2, 1));
    assert_eq!(at_tip.balance, account.balance);
    assert!(at_tip.exists && checks(&at_tip, &alice.address()));

    // At genesis, by height and by hash: the nonce before the transfer.
    let genesis = c
        .account_get_proof(address(&node, &alice), Some(BlockId::Height(0)))
        .await
        .unwrap();
    assert_eq!(genesis.nonce, 0);
    assert!(checks(&genesis, &alice.address()));
    let by_hash = c
        .account_get_proof(
            address(&node, &alice),
            Some(BlockId::Hash(genesis.block.hash.clone())),
        )
        .await
        .unwrap();
    assert_eq!(by_hash, genesis);

    // An address with no account: proven absent.
    let nobody = Address::from_bytes([0x42; 32]);
    let text = node.spec.format_address(&nobody);
    let absent = c.account_get_proof(text, None).await.unwrap();
    assert!(!absent.exists && checks(&absent, &nobody));

    // A changed figure does not check.
    let mut lie = at_tip.clone();
    lie.balance = "1".into();
    assert!(!checks(&lie, &alice.address()));

    // A block the node keeps no state for is a documented error, never a wrong answer.
    let (status, _, data) = code(
        c.account_get_proof(address(&node, &alice), Some(BlockId::Height(1_000)))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 1007);
    assert_eq!(data.unwrap()["reason"], "unknown");
    let (status, message, _) = code(
        c.account_get_proof(address(&node, &alice), Some(BlockId::Hash("zz".into())))
            .await
            .unwrap_err(),
    );
    assert_eq!(status, -32602);
    assert!(message.contains("block"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_proof_leads_to_its_header_merkle_root() {
    use tern_chain::block::verify_merkle_path;
    use tern_chain::types::{MerkleRoot, SignedTxHash};
    let node = node("dev", true).await;
    let c = &node.client;
    let alice = dev_secret_key(0);
    let mut ids = Vec::new();
    for nonce in 0..5 {
        let (tx, id) = signed_hex(&node, &alice, &dev_secret_key(1), 1_000, 1_000, nonce);
        c.tx_submit(tx).await.unwrap();
        ids.push(id);
    }
    c.dev_mine(1, None).await.unwrap();
    for id in &ids {
        let proof = c.tx_get_proof(id.clone()).await.unwrap().unwrap();
        assert_eq!((proof.count, proof.height), (5, 1));
        let header = c
            .chain_get_header(BlockId::Hash(proof.block_hash.clone()))
            .await
            .unwrap()
            .unwrap();
        let root: MerkleRoot = header.merkle_root.parse().unwrap();
        let leaf: SignedTxHash = proof.signed_hash.parse().unwrap();
        let path: Vec<[u8; 32]> = proof
            .path
            .iter()
            .map(|h| hex::decode(h).unwrap().try_into().unwrap())
            .collect();
        let (position, count) = (u64::from(proof.position), u64::from(proof.count));
        assert!(verify_merkle_path(&leaf, position, count, &path, &root));
        // Another place in the block does not check.
        let elsewhere = (position + 1) % count;
        assert!(!verify_merkle_path(&leaf, elsewhere, count, &path, &root));
    }
    // Not on the chain: null.
    let unknown = "00".repeat(32);
    assert_eq!(c.tx_get_proof(unknown).await.unwrap(), None);
}
