use super::*;
use crate::state::Account;
use crate::store::schema::{Accounts, Canonical};
use crate::types::{Address, Amount, Height};

fn dev() -> ChainSpec {
    ChainSpec::resolve("dev").unwrap()
}

#[test]
fn a_new_directory_is_created_and_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let (_, opened) = Store::open(&dir.path().join("nested"), &dev()).unwrap();
    assert_eq!(opened, Opened::Created);
}

#[test]
fn batches_write_typed_values_all_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), &dev()).unwrap();
    let address = Address::from_bytes([4; 32]);
    let account = Account {
        balance: Amount::from_base_units(12),
        nonce: 3,
    };
    let mut batch = store.batch();
    batch.put::<Accounts>(&address, &account);
    batch.put::<Canonical>(&Height(7), &BlockHash::from_bytes([1; 32]));
    assert_eq!(batch.len(), 2);
    // Nothing is visible before the batch is written.
    assert_eq!(store.get::<Accounts>(&address).unwrap(), None);
    store.write(batch).unwrap();
    assert_eq!(store.get::<Accounts>(&address).unwrap(), Some(account));
    assert_eq!(
        store
            .multi_get::<Canonical>(&[Height(7), Height(8)])
            .unwrap(),
        vec![Some(BlockHash::from_bytes([1; 32])), None]
    );
}

#[test]
fn a_value_that_does_not_decode_is_reported_as_damage() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path(), &dev()).unwrap();
    let cf = store.db.cf_handle(Accounts::NAME).unwrap();
    store.db.put_cf(cf, [4u8; 32], [1, 2, 3]).unwrap();
    let error = store
        .get::<Accounts>(&Address::from_bytes([4; 32]))
        .unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("accounts"));
}

#[test]
fn an_empty_store_is_initialised_but_data_without_a_schema_version_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    // Created, then a crash before the genesis batch: nothing to lose, start afresh.
    drop(Store::open(dir.path(), &dev()).unwrap());
    let (store, opened) = Store::open(dir.path(), &dev()).unwrap();
    assert_eq!(opened, Opened::Created);
    let mut batch = store.batch();
    batch.put::<Canonical>(&Height(0), &BlockHash::ZERO);
    store.write(batch).unwrap();
    drop(store);
    let error = Store::open(dir.path(), &dev()).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
}
