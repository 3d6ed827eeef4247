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
