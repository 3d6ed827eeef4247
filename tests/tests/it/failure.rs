//! A node that fails does so visibly. A panic injected into the chain actor's thread, the
//! network manager, a peer task, a mempool admission thread or the RPC server's accept
//! loop turns `/healthy`, `/ready` and `node_health` to failed at once, naming the task;
//! the node then stops in order, and the next start on the same data directory has
//! everything that was acknowledged before the failure.

use std::time::Duration;

use tern_chain::crypto::dev_secret_key;
use tern_chain::types::Height;
use tern_tasks::fault::{FaultPlan, Part};
use tern_tests::http::{get, post_json};
use tern_tests::net::{NodeOptions, TestNode};

/// Bounds every wait below: a node that does not notice its own failure hangs the test
/// only this long.
const PATIENCE: Duration = Duration::from_secs(30);

fn failing_at(part: Part, pass: u64) -> NodeOptions {
    let mut options = NodeOptions::dev();
    options.metrics = true;
    options.rpc = true;
    options.faults = FaultPlan {
        panic_at: Some((part, pass)),
    };
    options
}

/// Waits for the node's failure and checks that every health surface reports it, naming
/// `task`, while the node is still up.
async fn fails_visibly(node: &TestNode, task: &str) {
    fails_visibly_to_monitoring(node, task).await;
    let rpc = node.node.rpc_addr().unwrap();
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"node_health"}"#;
    let (_, answer) = post_json(rpc, call).await.unwrap();
    assert!(answer.contains(r#""status":"failed""#), "{answer}");
    assert!(answer.contains(task), "{answer}");
}

/// [`fails_visibly`] on the monitoring endpoints alone (for a failure of the RPC server).
async fn fails_visibly_to_monitoring(node: &TestNode, task: &str) {
    let failure = tokio::time::timeout(PATIENCE, node.node.failed())
        .await
        .expect("the node notices the failure");
    assert_eq!(failure.task, task, "{failure}");
    let metrics = node.node.metrics_addr().unwrap();
    let (status, body) = get(metrics, "/healthy").await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with(&format!("failed: {task} panicked")),
        "{body}"
    );
    let (status, body) = get(metrics, "/ready").await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(task), "{body}");
}

/// The RPC server's accept loop and connections used to be spawned outside the task
/// tree: a panic there left a node that reported healthy and served no RPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_rpc_accept_loop_fails_the_node() {
    let node = TestNode::start(failing_at(Part::Rpc, 1)).await.unwrap();
    // The first connection the server accepts panics its accept loop.
    let rpc = node.node.rpc_addr().unwrap();
    let _ = tokio::net::TcpStream::connect(rpc).await;
    fails_visibly_to_monitoring(&node, "rpc server").await;
    assert_eq!(node.stop().await.unwrap().task, "rpc server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_chain_actor_fails_the_node_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start_in(failing_at(Part::Chain, 3), dir.path())
        .await
        .unwrap();
    let reward = dev_secret_key(9).address();
    let mined = node.node.miner().mine_now(2, Some(reward)).await.unwrap();
    // The third block is the one the actor panics on: the caller gets an error, not a hang.
    assert!(node.node.miner().mine_now(1, Some(reward)).await.is_err());
    fails_visibly(&node, "chain").await;
    let failure = node.stop().await.expect("shutdown reports the failure");
    assert_eq!(failure.task, "chain");

    let again = TestNode::start_in(NodeOptions::dev(), dir.path())
        .await
        .unwrap();
    assert_eq!(again.node.chain().tip().hash, mined[1]);
    assert_eq!(again.node.chain().tip().height(), Height(2));
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_network_manager_fails_the_node() {
    // Housekeeping ticks twice a second: the third comes after about a second.
    let node = TestNode::start(failing_at(Part::Network, 3)).await.unwrap();
    fails_visibly(&node, "network").await;
    assert_eq!(node.stop().await.unwrap().task, "network");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_peer_task_fails_the_node_but_not_its_peer() {
    let node = TestNode::start(failing_at(Part::Peer, 1)).await.unwrap();
    // The first message the node reads from this peer panics its connection task.
    let peer = TestNode::start(NodeOptions::dev().with_seeds(&[node.p2p_addr()]))
        .await
        .unwrap();
    fails_visibly(&node, "peer").await;
    assert_eq!(node.stop().await.unwrap().task, "peer");
    // The other side lost a connection, nothing more: it shuts down healthy.
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_an_admission_thread_fails_the_node_and_holds_up_no_sender() {
    let node = TestNode::start(failing_at(Part::Admission, 1))
        .await
        .unwrap();
    let transfer = |nonce| {
        tern_chain::tx::Transaction {
            chain_id: tern_tests::net::dev_spec().consensus.chain_id,
            from: dev_secret_key(0).address(),
            to: dev_secret_key(1).address(),
            amount: tern_chain::types::Amount::from_base_units(1),
            fee: tern_chain::types::Amount::from_base_units(1_000),
            nonce,
        }
        .sign(&dev_secret_key(0))
    };
    // The first batch is the one the thread panics on: its caller hears the node cannot
    // take transactions, and does not hang.
    let verdict = tokio::time::timeout(PATIENCE, node.node.pool().submit(transfer(0)))
        .await
        .expect("the caller is answered");
    assert!(
        matches!(verdict, Err(tern_mempool::SubmitError::Unavailable(_))),
        "{verdict:?}"
    );
    fails_visibly(&node, "mempool admission").await;
    // The failed batch gave up its place in the admission order: the same sender's next
    // transaction is not held behind it while the node stops.
    let next = tokio::time::timeout(PATIENCE, node.node.pool().submit(transfer(1)))
        .await
        .expect("a later batch of the same sender is not held behind the failed one");
    assert!(next.is_ok(), "{next:?}");
    assert_eq!(node.stop().await.unwrap().task, "mempool admission");
}
