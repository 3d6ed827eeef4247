use super::*;
use crate::store::schema::{Accounts, Canonical};
use tern_chain::state::Account;
use tern_chain::types::{Address, Amount, Height};

fn dev() -> ChainSpec {
    ChainSpec::resolve("dev").unwrap()
}

fn open(dir: &Path) -> Result<Store, StoreError> {
    Store::open(dir, &dev(), |store| {
        crate::chain::write_genesis(store, &dev())
    })
}

#[test]
fn a_new_directory_is_created_and_initialised_once() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("nested");
    let mut runs = 0;
    drop(
        Store::open(&nested, &dev(), |store| {
            runs += 1;
            crate::chain::write_genesis(store, &dev())
        })
        .unwrap(),
    );
    drop(
        Store::open(&nested, &dev(), |_| {
            panic!("an existing store is not initialised again")
        })
        .unwrap(),
    );
    assert_eq!(runs, 1);
}

#[test]
fn batches_write_typed_values_all_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).unwrap();
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
fn sorted_puts_write_every_entry_whatever_order_they_come_in() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).unwrap();
    let entries: Vec<(Address, Account)> = [9u8, 3, 200, 3, 17]
        .iter()
        .zip(1u64..)
        .map(|(&byte, nonce)| {
            let account = Account {
                balance: Amount::from_base_units(nonce * 10),
                nonce,
            };
            (Address::from_bytes([byte; 32]), account)
        })
        .collect();
    let mut batch = store.batch();
    batch.put_sorted::<Accounts>(entries.iter().map(|(a, acc)| (a, acc)));
    assert_eq!(batch.len(), entries.len());
    store.write(batch).unwrap();
    for byte in [9u8, 200, 17] {
        let (_, expected) = entries
            .iter()
            .find(|(a, _)| *a == Address::from_bytes([byte; 32]))
            .unwrap();
        assert_eq!(
            store
                .get::<Accounts>(&Address::from_bytes([byte; 32]))
                .unwrap()
                .as_ref(),
            Some(expected)
        );
    }
    // A key given twice keeps the later value, as two puts in a row would.
    let twice = store
        .get::<Accounts>(&Address::from_bytes([3; 32]))
        .unwrap()
        .unwrap();
    assert_eq!(twice.nonce, 4);
}

#[test]
fn a_value_that_does_not_decode_is_reported_as_damage() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).unwrap();
    let cf = store.db.cf_handle(Accounts::NAME).unwrap();
    store.db.put_cf(cf, [4u8; 32], [1, 2, 3]).unwrap();
    let error = store
        .get::<Accounts>(&Address::from_bytes([4; 32]))
        .unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("accounts"));
}

#[test]
fn an_interrupted_creation_is_discarded_and_a_store_without_schema_version_is_damage() {
    let dir = tempfile::tempdir().unwrap();
    // What a crash half-way through creating a store leaves behind.
    std::fs::create_dir_all(dir.path().join(STAGING_DB_DIR)).unwrap();
    std::fs::write(dir.path().join(STAGING_DB_DIR).join("CURRENT"), b"junk").unwrap();
    let store = open(dir.path()).unwrap();
    assert!(!dir.path().join(STAGING_DB_DIR).exists());
    let mut batch = store.batch();
    batch.delete::<Meta>(&MetaKey::SchemaVersion);
    store.write(batch).unwrap();
    drop(store);
    let error = open(dir.path()).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
}

#[test]
fn reads_from_memory_answer_what_memory_holds_and_say_when_they_need_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let address = Address::from_bytes([3; 32]);
    let account = Account {
        balance: Amount::from_base_units(9),
        nonce: 2,
    };
    {
        let store = open(dir.path()).unwrap();
        let mut batch = store.batch();
        batch.put::<Accounts>(&address, &account);
        store.write(batch).unwrap();
        // In the memtable: memory answers.
        assert_eq!(
            from_memory(|| store.get::<Accounts>(&address)).map(Result::ok),
            Some(Some(Some(account)))
        );
        store.flush().unwrap();
    }
    // Reopened, the account is in a table file and no cache: memory cannot answer, and
    // says so even to a query that swallows the error.
    let store = open(dir.path()).unwrap();
    assert_eq!(
        from_memory(|| store.get::<Accounts>(&address).ok().flatten()),
        None
    );
    // A read that may wait brings it into the block cache; then memory answers.
    assert_eq!(store.get::<Accounts>(&address).unwrap(), Some(account));
    assert_eq!(
        from_memory(|| store.get::<Accounts>(&address).ok().flatten()),
        Some(Some(account))
    );
}
