//! Every example of the JSON-RPC 2.0 specification, sent to the node as written, gets
//! the answer the specification gives.

use super::*;

/// The specification's batch example, with real methods: two calls, a notification, an
/// invalid request, an unknown method and one more call.
pub(super) const SPECIFICATION_BATCH: &str = r#"[
    {"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": [0], "id": "1"},
    {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
    {"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": [0], "id": "2"},
    {"foo": "boo"},
    {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
    {"jsonrpc": "2.0", "method": "mempool_info", "id": "9"}
]"#;

/// Checks the answer to [`SPECIFICATION_BATCH`] the specification gives: one answer per
/// call in order, none for the notification, -32600 for the invalid request (its id
/// null) and -32601 for the unknown method. Returns the answers.
pub(super) fn check_specification_batch(answer: &serde_json::Value) -> &[serde_json::Value] {
    use serde_json::{json, Value};
    let answers = answer.as_array().unwrap_or_else(|| panic!("{answer}"));
    let ids: Vec<&Value> = answers.iter().map(|a| &a["id"]).collect();
    assert_eq!(
        ids,
        [
            &json!("1"),
            &json!("2"),
            &Value::Null,
            &json!("5"),
            &json!("9")
        ]
    );
    let code = |answer: &Value| answer["error"]["code"].as_i64().unwrap_or(0);
    assert_eq!(code(&answers[2]), -32600);
    assert_eq!(code(&answers[3]), -32601);
    answers
}

/// Every example of the JSON-RPC 2.0 specification's section 7, against a real node, with
/// the specification's made-up methods (`subtract`, `sum`, `update`) replaced by real
/// ones where the example needs a method that exists. jsonrpsee alone dropped
/// notifications unrun and answered `null`, dropped a fractional id, answered `null` to
/// a forbidden id and -32700 or -32602 to invalid requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_of_the_specification_gets_the_specifications_answer() {
    use serde_json::{json, Value};
    let node = node("dev", false).await;
    let addr = node.rpc_addr;
    let genesis = node.client.chain_info().await.unwrap().genesis_hash;
    let code = |answer: &Value| answer["error"]["code"].as_i64().unwrap_or(0);

    // rpc call with positional parameters, and with named parameters.
    let (status, answer) = post(
        addr,
        r#"{"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": [0], "id": 1}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "result": genesis, "id": 1})
    );
    let (_, answer) = post(
        addr,
        r#"{"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": {"height": 0}, "id": 3}"#,
    )
    .await;
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "result": genesis, "id": 3})
    );

    // a Notification: run, and nothing returned, for a method that does not exist too.
    let (from, to) = (dev_secret_key(1), dev_secret_key(2));
    let (tx, id) = signed_hex(&node, &from, &to, 5, 1_000, 0);
    let notification = json!({"jsonrpc": "2.0", "method": "tx_submit", "params": [tx]});
    assert_eq!(
        post(addr, &notification.to_string()).await,
        (204, Value::Null)
    );
    let status = node.client.tx_get(id.clone()).await.unwrap();
    assert!(
        matches!(status, TxStatus::Pending { .. }),
        "the notification did not run: {status:?}"
    );
    let (status, _) = post(
        addr,
        r#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#,
    )
    .await;
    assert_eq!(status, 204);

    // rpc call of non-existent method.
    let (_, answer) = post(addr, r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#).await;
    assert_eq!((code(&answer), &answer["id"]), (-32601, &json!("1")));

    // rpc call with invalid JSON.
    let (_, answer) = post(
        addr,
        r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#,
    )
    .await;
    assert_eq!((code(&answer), &answer["id"]), (-32700, &Value::Null));

    // rpc call with invalid Request object.
    let (_, answer) = post(addr, r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#).await;
    assert_eq!((code(&answer), &answer["id"]), (-32600, &Value::Null));

    // rpc call Batch, invalid JSON.
    let (_, answer) = post(
        addr,
        r#"[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"}, {"jsonrpc": "2.0", "method"]"#,
    )
    .await;
    assert_eq!((code(&answer), &answer["id"]), (-32700, &Value::Null));

    // rpc call with an empty Array.
    let (_, answer) = post(addr, "[]").await;
    assert_eq!((code(&answer), &answer["id"]), (-32600, &Value::Null));

    // rpc call with an invalid Batch (but not empty), and with invalid Batch.
    for (body, count) in [("[1]", 1), ("[1,2,3]", 3)] {
        let (_, answer) = post(addr, body).await;
        let answers = answer
            .as_array()
            .unwrap_or_else(|| panic!("{body}: {answer}"));
        assert_eq!(answers.len(), count, "{body}");
        assert!(
            answers
                .iter()
                .all(|a| code(a) == -32600 && a["id"].is_null()),
            "{answer}"
        );
    }

    // rpc call Batch.
    let (_, answer) = post(addr, SPECIFICATION_BATCH).await;
    let answers = check_specification_batch(&answer);
    assert_eq!(answers[0]["result"], json!(genesis));
    assert_eq!(answers[4]["result"]["count"], 1, "{answer}");

    // rpc call Batch (all notifications).
    let (status, answer) = post(
        addr,
        r#"[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]}, {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]"#,
    )
    .await;
    assert_eq!((status, answer), (204, Value::Null));

    // Ids: a fraction is allowed and comes back as it was; an object, an array or a
    // boolean is forbidden.
    let (_, answer) = post(
        addr,
        r#"{"jsonrpc": "2.0", "method": "mempool_info", "id": 1.5}"#,
    )
    .await;
    assert_eq!(answer["id"], json!(1.5), "{answer}");
    for id in ["{}", "[1]", "true"] {
        let body = format!(r#"{{"jsonrpc": "2.0", "method": "mempool_info", "id": {id}}}"#);
        let (_, answer) = post(addr, &body).await;
        assert_eq!(
            (code(&answer), &answer["id"]),
            (-32600, &Value::Null),
            "{id}"
        );
    }
    // params that are neither an array nor an object; a body that is not a request.
    for body in [
        r#"{"jsonrpc": "2.0", "method": "chain_info", "params": "bar", "id": 1}"#,
        r#"{"jsonrpc": "2.0", "method": "chain_info", "params": 7, "id": 1}"#,
        r#""a string""#,
        "null",
    ] {
        let (_, answer) = post(addr, body).await;
        assert_eq!(code(&answer), -32600, "{body}: {answer}");
    }
    // A subscription over HTTP says what it needs.
    let (_, answer) = post(
        addr,
        r#"{"jsonrpc": "2.0", "method": "chain_subscribeHeads", "id": 4}"#,
    )
    .await;
    assert_eq!(
        code(&answer),
        i64::from(tern_rpc::error::SUBSCRIPTION_NEEDS_WEBSOCKET)
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("WebSocket"),
        "{answer}"
    );
}

/// A request that gives a member twice is read as JSON parsers commonly read it, the
/// last one winning, and answered as such: never with a bare `null` (issue 46, finding
/// 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_given_twice_is_read_last_wins_and_answered() {
    use serde_json::json;
    let node = node("dev", false).await;
    let addr = node.rpc_addr;
    let genesis = node.client.chain_info().await.unwrap().genesis_hash;
    for (body, id) in [
        (
            r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"chain_getBlockHash","params":[0]}"#,
            json!(2),
        ),
        (
            r#"{"jsonrpc":"2.0","id":"a","method":"nope","method":"chain_getBlockHash","params":[0]}"#,
            json!("a"),
        ),
    ] {
        let (status, answer) = post(addr, body).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            answer,
            json!({"jsonrpc": "2.0", "result": genesis, "id": id}),
            "{body}"
        );
    }
}
