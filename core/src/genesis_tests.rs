use super::*;
use crate::crypto::dev_secret_key;

fn dev_json() -> serde_json::Value {
    serde_json::from_str(BUILTIN[0].1).unwrap()
}

fn load(value: &serde_json::Value) -> Result<ChainSpec, GenesisError> {
    ChainSpec::from_json(&value.to_string(), "genesis/dev.json")
}

fn field_error(value: &serde_json::Value) -> String {
    load(value).unwrap_err().to_string()
}

#[test]
fn built_in_specs_load() {
    let dev = ChainSpec::resolve("dev").unwrap();
    assert!(dev.dev_mining);
    let testnet = ChainSpec::resolve("testnet").unwrap();
    assert!(!testnet.dev_mining);
    assert_ne!(dev.genesis_hash(), testnet.genesis_hash());
    assert_ne!(dev.consensus.chain_id, testnet.consensus.chain_id);
}

#[test]
fn dev_accounts_are_funded_from_the_published_seeds() {
    let dev = ChainSpec::resolve("dev").unwrap();
    assert_eq!(dev.allocations.len(), 10);
    for (i, (address, balance)) in dev.allocations.iter().enumerate() {
        assert_eq!(
            *address,
            dev_secret_key(i as u32).address(),
            "allocations[{i}]"
        );
        assert!(*balance > Amount::ZERO);
    }
}

#[test]
fn the_genesis_hash_commits_to_every_field() {
    let base = load(&dev_json()).unwrap().genesis_hash();
    let tweaks: [(&str, serde_json::Value); 6] = [
        ("name", "tern-dev-2".into()),
        ("chain_id", 1.into()),
        ("block_reward", "1".into()),
        ("max_future_drift_ms", 1.into()),
        ("dev_mining", false.into()),
        ("difficulty_half_life_ms", 1000.into()),
    ];
    for (key, value) in tweaks {
        let mut json = dev_json();
        json[key] = value;
        assert_ne!(
            load(&json).unwrap().genesis_hash(),
            base,
            "{key} is not committed"
        );
    }
    let mut json = dev_json();
    json["allocations"][9]["balance"] = "1".into();
    assert_ne!(
        load(&json).unwrap().genesis_hash(),
        base,
        "balances are not committed"
    );
}

#[test]
fn the_genesis_block_and_state() {
    let dev = ChainSpec::resolve("dev").unwrap();
    let block = dev.genesis_block();
    assert_eq!(block.header.height, Height::GENESIS);
    assert_eq!(block.header.parent, BlockHash::ZERO);
    assert!(block.transactions.is_empty());
    assert_eq!(block.hash(), dev.genesis_hash());
    let supply: u128 = dev
        .allocations
        .iter()
        .map(|(_, b)| u128::from(b.base_units()))
        .sum();
    assert_eq!(dev.genesis_state().total_supply(), supply);
}

#[test]
fn a_mistyped_address_names_its_field() {
    let mut json = dev_json();
    let good = json["allocations"][3]["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let typo = format!(
        "{}{}",
        &good[..good.len() - 1],
        if good.ends_with('q') { 'p' } else { 'q' }
    );
    json["allocations"][3]["address"] = typo.into();
    assert_eq!(
        field_error(&json),
        "genesis/dev.json: allocations[3].address: invalid checksum"
    );
}

#[test]
fn each_bad_field_is_named() {
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        ("name", "".into(), "name"),
        ("address_prefix", "T-DEV".into(), "address_prefix"),
        ("initial_target", "00".into(), "initial_target"),
        (
            "initial_target",
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff".into(),
            "initial_target: is easier",
        ),
        (
            "max_target",
            "0000000000000000000000000000000000000000000000000000000000000000".into(),
            "max_target: target is zero",
        ),
        ("target_block_time_ms", 0.into(), "target_block_time_ms"),
        (
            "difficulty_half_life_ms",
            10.into(),
            "difficulty_half_life_ms",
        ),
        ("block_reward", "-5".into(), "block_reward"),
        ("max_block_bytes", 10.into(), "max_block_bytes"),
        (
            "max_block_bytes",
            (MAX_BLOCK_BYTES_LIMIT as u64 + 1).into(),
            "max_block_bytes",
        ),
        ("max_block_transactions", 0.into(), "max_block_transactions"),
        (
            "max_future_drift_ms",
            (MAX_INTERVAL_MS + 1).into(),
            "max_future_drift_ms",
        ),
    ];
    for (key, value, expected) in cases {
        let mut json = dev_json();
        json[key] = value;
        let message = field_error(&json);
        assert!(
            message.starts_with(&format!("genesis/dev.json: {expected}")),
            "{key}: {message}"
        );
    }
}

#[test]
fn allocation_rules() {
    let mut json = dev_json();
    json["allocations"][4]["address"] = json["allocations"][1]["address"].clone();
    assert_eq!(
        field_error(&json),
        "genesis/dev.json: allocations[4].address: duplicate of allocations[1]"
    );

    let mut json = dev_json();
    json["allocations"][2]["balance"] = u64::MAX.to_string().into();
    assert_eq!(
        field_error(&json),
        "genesis/dev.json: allocations[2].balance: total allocations overflow"
    );

    let mut json = dev_json();
    json["allocations"][0]["balance"] = "1.5".into();
    assert!(
        field_error(&json).starts_with("genesis/dev.json: allocations[0].balance: an amount is")
    );

    let testnet = ChainSpec::resolve("testnet").unwrap();
    let mut json = dev_json();
    json["allocations"][0]["address"] = testnet.format_address(&dev_secret_key(0).address()).into();
    assert!(field_error(&json).contains("allocations[0].address: address prefix \"ttest\""));
}

#[test]
fn unknown_fields_and_bad_json_are_reported_with_position() {
    let mut json = dev_json();
    json["block_rewrd"] = "1".into();
    let message = field_error(&json);
    assert!(message.contains("unknown field `block_rewrd`"), "{message}");
    let message = ChainSpec::from_json("{\n  \"name\": ", "spec.json")
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("spec.json: ") && message.contains("line 2"),
        "{message}"
    );
}

#[test]
fn resolving_names_and_paths() {
    assert_eq!(
        ChainSpec::resolve("devnet"),
        Err(GenesisError::UnknownBuiltin("devnet".into()))
    );
    let missing = ChainSpec::resolve("./no/such/spec.json")
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with("./no/such/spec.json: cannot read chain spec"),
        "{missing}"
    );
    let dir = std::env::temp_dir().join(format!("tern-spec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dev-copy.json");
    std::fs::write(&path, BUILTIN[0].1).unwrap();
    let copy = ChainSpec::resolve(path.to_str().unwrap()).unwrap();
    assert_eq!(
        copy.genesis_hash(),
        ChainSpec::resolve("dev").unwrap().genesis_hash()
    );
    std::fs::remove_dir_all(dir).unwrap();
}
