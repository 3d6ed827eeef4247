//! Checks that the worked example in `docs/PROTOCOL.md` is what the code produces, so the
//! document that wallet authors build from can never drift from the implementation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;

use tern_chain::crypto::{dev_secret_key, SecretKey};
use tern_chain::encoding;
use tern_chain::genesis::ChainSpec;
use tern_chain::tx::{SignedTransaction, Transaction};
use tern_chain::types::{Address, Amount};

/// The `name: value` lines of the fenced block under "## Worked example".
fn worked_example() -> HashMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md");
    let doc = std::fs::read_to_string(path).expect("docs/PROTOCOL.md is part of the repository");
    let section = doc
        .split("## Worked example")
        .nth(1)
        .expect("a worked example section");
    let block = section
        .split("```")
        .nth(1)
        .expect("a fenced block in the worked example");
    block
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

/// The value of line `name` of the example.
fn field<'a>(example: &'a HashMap<String, String>, name: &str) -> &'a str {
    example
        .get(name)
        .unwrap_or_else(|| panic!("the example lacks {name:?}"))
        .as_str()
}

#[test]
fn the_worked_example_matches_the_code() {
    let example = worked_example();
    let field = |name: &str| field(&example, name);
    let spec = ChainSpec::resolve("dev").unwrap();

    let seed: [u8; 32] = hex::decode(field("secret key"))
        .unwrap()
        .try_into()
        .unwrap();
    let key = SecretKey::from_bytes(seed);
    assert_eq!(
        key.to_bytes(),
        dev_secret_key(0).to_bytes(),
        "the example uses dev account 0"
    );
    let from = Address::from_bech32(field("from"), &spec.address_prefix).unwrap();
    let to = Address::from_bech32(field("to"), &spec.address_prefix).unwrap();
    assert_eq!(from, key.address());
    assert_eq!(to, dev_secret_key(1).address());

    let tx = Transaction {
        chain_id: spec.consensus.chain_id,
        from,
        to,
        amount: Amount::from_base_units(1_000_000),
        fee: Amount::from_base_units(1_000),
        nonce: 0,
    };
    assert_eq!(hex::encode(encoding::encode(&tx)), field("transaction"));
    assert_eq!(hex::encode(tx.signing_message()), field("signing message"));
    let signed = tx.sign(&key);
    assert_eq!(
        hex::encode(signed.signature().as_bytes()),
        field("signature")
    );
    assert_eq!(
        hex::encode(encoding::encode(&signed)),
        field("signed transaction")
    );
    assert_eq!(signed.id().to_string(), field("txid"));
    assert_eq!(signed.signed_hash().to_string(), field("signed hash"));
    let genesis = encoding::encode(&spec.genesis_header());
    assert_eq!(hex::encode(&genesis), field("dev genesis header"));
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&genesis)),
        field("dev genesis hash"),
        "the block hash is SHA-256 of the header's bytes"
    );
    assert_eq!(spec.genesis_hash().to_string(), field("dev genesis hash"));
    assert_eq!(
        hex::encode(&genesis[76..108]),
        field("dev genesis state root"),
        "the genesis header commits to the genesis state map"
    );

    // A wallet's bytes, read back by the node, verify.
    let bytes = hex::decode(field("signed transaction")).unwrap();
    let decoded: SignedTransaction = encoding::decode(&bytes).unwrap();
    assert_eq!(decoded.check_stateless(spec.consensus.chain_id), Ok(()));
}

#[test]
fn the_worked_state_proof_checks_against_the_dev_genesis_root() {
    use tern_chain::state::Account;
    use tern_chain::state_map::AccountProof;
    use tern_chain::types::StateRoot;

    let example = worked_example();
    let field = |name: &str| field(&example, name);
    let spec = ChainSpec::resolve("dev").unwrap();
    let map = spec.genesis_state_map().unwrap();
    assert_eq!(map.root().to_string(), field("dev genesis state root"));
    let from = dev_secret_key(0).address();
    assert_eq!(
        hex::encode(tern_chain::state_map::account_key(&from)),
        field("account 0 key")
    );
    let (account, proof) = map.prove(&from).unwrap();
    let account = account.expect("dev account 0 is allocated");
    assert_eq!(
        hex::encode(encoding::encode(&account)),
        field("account 0 value")
    );
    assert_eq!(
        hex::encode(encoding::encode(&proof)),
        field("account 0 proof")
    );

    // A wallet's check, from the document's bytes alone.
    let root: StateRoot = field("dev genesis state root").parse().unwrap();
    let proof: AccountProof =
        encoding::decode(&hex::decode(field("account 0 proof")).unwrap()).unwrap();
    let value: Account = encoding::decode(&hex::decode(field("account 0 value")).unwrap()).unwrap();
    assert_eq!(proof.verify(&root, &from, Some(&value)), Ok(()));
    assert!(proof.verify(&root, &from, None).is_err());
}
