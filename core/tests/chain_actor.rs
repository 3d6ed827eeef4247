//! The chain actor through its handle: submissions from many tasks, the tip on `watch`,
//! every update once on the event stream, queries that do not queue behind block
//! processing, and a clean stop when the last handle goes, which ends the stream.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use tern_core::chain::{spawn, Chain, ChainEvent, Verdict};
use tern_core::crypto::dev_secret_key;
use tern_core::genesis::ChainSpec;
use tern_core::testkit::ChainBuilder;
use tern_core::types::{Address, Height};

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
