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

#[test]
fn the_worked_example_matches_the_code() {
    let example = worked_example();
    let field = |name: &str| {
        example
            .get(name)
            .unwrap_or_else(|| panic!("the example lacks {name:?}"))
            .as_str()
    };
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
    assert_eq!(spec.genesis_hash().to_string(), field("dev genesis hash"));

    // A wallet's bytes, read back by the node, verify.
    let bytes = hex::decode(field("signed transaction")).unwrap();
    let decoded: SignedTransaction = encoding::decode(&bytes).unwrap();
    assert_eq!(decoded.check_stateless(spec.consensus.chain_id), Ok(()));
}
