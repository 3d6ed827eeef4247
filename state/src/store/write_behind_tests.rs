use std::path::Path;

use super::*;
use crate::store::schema::{Accounts, Canonical, TxIndex, TxLocation};
use tern_chain::genesis::ChainSpec;
use tern_chain::state::Account;
use tern_chain::types::{Address, Amount, BlockHash, Height, TxId};

fn dev() -> ChainSpec {
    ChainSpec::resolve("dev").unwrap()
}

fn open(dir: &Path) -> WriteBehind {
    let store = Store::open(dir, &dev(), |store| {
        crate::chain::write_genesis(store, &dev())
    })
    .unwrap();
    WriteBehind::new(Arc::new(store)).unwrap()
}

fn account(balance: u64, nonce: u64) -> Account {
    Account {
        balance: Amount::from_base_units(balance),
        nonce,
    }
}

fn put_account(writes: &WriteBehind, address: Address, value: &Account) -> WriteSeq {
    let mut batch = writes.batch();
    batch.put::<Accounts>(&address, value);
    writes.write(batch).unwrap()
}

#[test]
fn the_writer_reads_its_own_writes_at_once_and_the_store_has_them_once_settled() {
    let dir = tempfile::tempdir().unwrap();
    let writes = open(dir.path());
    let address = Address::from_bytes([1; 32]);
    let first = put_account(&writes, address, &account(10, 1));
    // Whether or not it has landed yet, the writer sees it.
    assert_eq!(
        writes.get::<Accounts>(&address).unwrap(),
        Some(account(10, 1))
    );
    assert!(writes.landed() <= first);
    writes.settle().unwrap();
    assert_eq!(writes.landed(), first);
    assert_eq!(
        writes.store().get::<Accounts>(&address).unwrap(),
        Some(account(10, 1))
    );
}

#[test]
fn the_newest_pending_write_of_a_key_wins_and_a_deletion_hides_the_stored_value() {
    let dir = tempfile::tempdir().unwrap();
    let writes = open(dir.path());
    let kept = Address::from_bytes([2; 32]);
    let deleted = Address::from_bytes([3; 32]);
    put_account(&writes, kept, &account(1, 1));
    put_account(&writes, deleted, &account(5, 5));
    writes.settle().unwrap();

    // Several batches in a row: each read sees the latest, landed or not.
    for nonce in 2..=20 {
        put_account(&writes, kept, &account(nonce * 100, nonce));
        assert_eq!(
            writes.get::<Accounts>(&kept).unwrap(),
            Some(account(nonce * 100, nonce))
        );
    }
    let mut batch = writes.batch();
    batch.delete::<Accounts>(&deleted);
    writes.write(batch).unwrap();
    assert_eq!(writes.get::<Accounts>(&deleted).unwrap(), None);

    writes.settle().unwrap();
    let store = writes.store();
    assert_eq!(
        store.get::<Accounts>(&kept).unwrap(),
        Some(account(2_000, 20))
    );
    assert_eq!(store.get::<Accounts>(&deleted).unwrap(), None);
}

#[test]
fn many_keys_at_once_mix_pending_and_stored_values_in_the_order_asked() {
    let dir = tempfile::tempdir().unwrap();
    let writes = open(dir.path());
    let stored = Address::from_bytes([4; 32]);
    let pending = Address::from_bytes([5; 32]);
    let absent = Address::from_bytes([6; 32]);
    put_account(&writes, stored, &account(40, 4));
    writes.settle().unwrap();
    put_account(&writes, pending, &account(50, 5));

    let values = writes
        .multi_get::<Accounts>(&[absent, pending, stored, pending])
        .unwrap();
    assert_eq!(
        values,
        vec![
            None,
            Some(account(50, 5)),
            Some(account(40, 4)),
            Some(account(50, 5))
        ]
    );
}

#[test]
fn sorted_puts_are_read_back_like_single_ones() {
    let dir = tempfile::tempdir().unwrap();
    let writes = open(dir.path());
    let heights: Vec<(Height, BlockHash)> = [30u8, 10, 20]
        .iter()
        .map(|&h| (Height(u64::from(h)), BlockHash::from_bytes([h; 32])))
        .collect();
    let mut batch = writes.batch();
    batch.put_sorted::<Canonical>(heights.iter().map(|(h, b)| (h, b)));
    writes.write(batch).unwrap();
    for (height, hash) in &heights {
        assert_eq!(writes.get::<Canonical>(height).unwrap(), Some(*hash));
    }
    writes.settle().unwrap();
    for (height, hash) in &heights {
        assert_eq!(
            writes.store().get::<Canonical>(height).unwrap(),
            Some(*hash)
        );
    }
}

#[test]
fn batches_land_in_the_order_they_were_written_and_the_overlay_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let writes = open(dir.path());
    let address = Address::from_bytes([7; 32]);
    let mut last = WriteSeq::default();
    for nonce in 1..=(4 * MAX_BATCHES_IN_FLIGHT as u64) {
        let seq = put_account(&writes, address, &account(nonce, nonce));
        assert!(seq > last, "each batch comes after the one before");
        last = seq;
        // Layers of landed batches are dropped at each write; the rest wait in the
        // thread's queue, the batch it is writing, and the one just handed over.
        assert!(writes.layers.borrow().len() <= MAX_BATCHES_IN_FLIGHT + 2);
    }
    assert_eq!(writes.written(), last);
    writes.settle().unwrap();
    assert!(writes.layers.borrow().is_empty());
    // Had they landed out of order, an earlier nonce could be the one left.
    let nonce = 4 * MAX_BATCHES_IN_FLIGHT as u64;
    assert_eq!(
        writes.store().get::<Accounts>(&address).unwrap(),
        Some(account(nonce, nonce))
    );
}

#[test]
fn dropping_the_writer_lands_everything_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let address = Address::from_bytes([8; 32]);
    {
        let writes = open(dir.path());
        for nonce in 1..=10 {
            put_account(&writes, address, &account(nonce, nonce));
        }
    }
    // The store's lock is free again (the thread is joined), and the writes are there.
    let store = Store::open(dir.path(), &dev(), |_| panic!("exists already")).unwrap();
    assert_eq!(
        store.get::<Accounts>(&address).unwrap(),
        Some(account(10, 10))
    );
}

#[test]
fn a_table_only_readers_look_up_is_written_but_not_read_back_by_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let writes = open(dir.path());
    let id = TxId::from_bytes([9; 32]);
    let location = TxLocation {
        block: BlockHash::from_bytes([1; 32]),
        position: 3,
    };
    let mut batch = writes.batch();
    batch.put::<TxIndex>(&id, &location);
    writes.write(batch).unwrap();
    assert!(matches!(
        writes.get::<TxIndex>(&id),
        Err(StoreError::NotReadByWriter { table: "tx_index" })
    ));
    assert!(matches!(
        writes.multi_get::<TxIndex>(&[id]),
        Err(StoreError::NotReadByWriter { .. })
    ));
    writes.settle().unwrap();
    assert_eq!(writes.store().get::<TxIndex>(&id).unwrap(), Some(location));
}
