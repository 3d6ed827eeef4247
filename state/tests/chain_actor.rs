//! The chain actor through its handle: submissions from many tasks, the tip on `watch`,
//! every update once on the event stream, queries that do not queue behind block
//! processing, and a clean stop when the last handle goes, which ends the stream. Blocks
//! queued back to back, whose writes land behind the actor, end exactly where blocks
//! submitted one at a time do, and nothing is announced before it can be read.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_chain::testkit::ChainBuilder;
use tern_chain::types::{Address, Height, Timestamp};
use tern_state::chain::{spawn, Chain, ChainEvent, ChainReader, Verdict};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_submitted_through_handles_move_the_tip_and_reach_subscribers() {
    let spec = ChainSpec::resolve("dev").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (handle, thread) = spawn(Chain::open(dir.path(), spec.clone()).unwrap()).unwrap();
    let mut tip = handle.watch_tip();
    let mut events = handle.events();

    let mut builder = ChainBuilder::new(spec);
    let keys: Vec<_> = (0..3).map(dev_secret_key).collect();
    let genesis = builder.genesis();
    let blocks = builder.extend(&genesis, 20, &keys, 2, Address::from_bytes([7; 32]));

    // Submitted concurrently from many tasks and out of order: orphans wait for parents.
    let tasks: Vec<_> = blocks
        .iter()
        .rev()
        .cloned()
        .map(|block| {
            let handle = handle.clone();
            tokio::spawn(async move { handle.submit_block(block).await.unwrap().verdict })
        })
        .collect();
    for task in tasks {
        let verdict = task.await.unwrap();
        assert!(
            matches!(verdict, Verdict::Accepted | Verdict::Orphaned),
            "{verdict:?}"
        );
    }
    let last = blocks.last().unwrap().hash();
    tip.wait_for(|t| t.hash == last).await.unwrap();
    assert_eq!(handle.tip().height(), Height(20));

    // Every block was announced exactly once, in order, across the updates.
    let mut connected = Vec::new();
    while connected.len() < blocks.len() {
        let Some(ChainEvent::Update(update)) = events.next().await else {
            panic!("the stream ended or lagged before every block was announced");
        };
        assert!(update.disconnected.is_empty());
        connected.extend(update.connected.iter().map(|b| b.hash()));
    }
    assert_eq!(
        connected,
        blocks.iter().map(|b| b.hash()).collect::<Vec<_>>()
    );

    // Queries read the store directly.
    let tx = &blocks[4].transactions[1];
    let info = handle.reader().transaction(&tx.id()).unwrap().unwrap();
    assert_eq!(info.confirmations, 16);

    // Queries on the blocking pool answer the same.
    let id = tx.id();
    let again = handle
        .reads()
        .run(move |reader| reader.transaction(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, info);

    // The stream holds nothing open: the last handle going stops the actor, and the
    // stream ends with it.
    drop(handle);
    thread.join().unwrap().unwrap();
    assert!(events.next().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_queued_back_to_back_end_where_one_at_a_time_ends_and_are_readable_when_announced() {
    let spec = ChainSpec::resolve("dev").unwrap();
    let mut builder = ChainBuilder::new(spec.clone());
    let keys: Vec<_> = (0..6).map(dev_secret_key).collect();
    let genesis = builder.genesis();
    // A chain, a heavier fork from its fourth block (a reorg onto it), then the first
    // chain outgrowing the fork (a reorg back): every write the chain makes, and each
    // reorg's reads of what it wrote just before.
    let main = builder.extend(&genesis, 12, &keys, 20, Address::from_bytes([7; 32]));
    let side = builder.extend(&main[3].hash(), 12, &keys, 10, Address::from_bytes([8; 32]));
    let more = builder.extend(
        &main.last().unwrap().hash(),
        6,
        &keys,
        5,
        Address::from_bytes([9; 32]),
    );
    let order: Vec<_> = main.iter().chain(&side).chain(&more).cloned().collect();

    let plain_dir = tempfile::tempdir().unwrap();
    let mut plain = Chain::open(plain_dir.path(), spec.clone()).unwrap();
    let plain_verdicts: Vec<Verdict> = order
        .iter()
        .map(|b| {
            plain
                .submit_block(b.clone(), Timestamp::now())
                .unwrap()
                .verdict
        })
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let (handle, thread) = spawn(Chain::open(dir.path(), spec).unwrap()).unwrap();
    let mut events = handle.events();
    let reader = handle.reader().clone();
    let watching = tokio::spawn(async move {
        let mut announced = 0;
        while let Some(event) = events.next().await {
            let ChainEvent::Update(update) = event else {
                panic!("lagged");
            };
            for block in &update.connected {
                let hash = block.hash();
                assert!(
                    reader.block(&hash).unwrap().is_some(),
                    "{hash} announced unread"
                );
                assert!(reader.index_entry(&hash).unwrap().is_some());
                announced += 1;
            }
        }
        announced
    });
    let mut queued = Vec::new();
    for block in &order {
        queued.push(handle.queue_block(block.clone()).await);
    }
    let mut verdicts = Vec::new();
    for verdict in queued {
        verdicts.push(verdict.outcome().await.unwrap().verdict);
    }
    assert_eq!(verdicts, plain_verdicts);
    assert_eq!(handle.tip().hash, more.last().unwrap().hash());

    let reader = handle.reader().clone();
    let expected = plain.reader();
    assert_same_chain(&reader, &expected, &order);
    drop(handle);
    thread.join().unwrap().unwrap();
    assert!(watching.await.unwrap() >= order.len());
}

/// The two stores hold the same canonical chain, state and transaction index.
fn assert_same_chain(got: &ChainReader, want: &ChainReader, blocks: &[tern_chain::block::Block]) {
    assert_eq!(got.tip().unwrap(), want.tip().unwrap());
    assert_eq!(got.all_accounts().unwrap(), want.all_accounts().unwrap());
    for block in blocks {
        let height = block.header.height;
        assert_eq!(got.hash_at(height).unwrap(), want.hash_at(height).unwrap());
        for tx in &block.transactions {
            assert_eq!(
                got.tx_location(&tx.id()).unwrap(),
                want.tx_location(&tx.id()).unwrap()
            );
        }
    }
}
