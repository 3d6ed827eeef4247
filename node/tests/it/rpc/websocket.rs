//! JSON-RPC 2.0 over a WebSocket, with raw frames: what the specification says of
//! notifications and batches holds there too, and a batch's calls are checked as single
//! calls are.

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

/// A WebSocket that sends and reads raw text frames.
struct RawWs {
    stream: TcpStream,
}

impl RawWs {
    async fn open(addr: std::net::SocketAddr) -> RawWs {
        let mut stream = connect_from([127, 0, 0, 1], addr).await;
        assert_eq!(
            ws_handshake(&mut stream, addr).await,
            "HTTP/1.1 101 Switching Protocols"
        );
        RawWs { stream }
    }

    async fn send(&mut self, text: &str) {
        self.stream
            .write_all(&ws_frame(text.as_bytes()))
            .await
            .unwrap();
    }

    /// The next text message the server sends (pings skipped).
    async fn next(&mut self) -> Value {
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let mut head = [0u8; 2];
                self.stream.read_exact(&mut head).await.unwrap();
                let length = match head[1] & 0x7f {
                    126 => u64::from(self.stream.read_u16().await.unwrap()),
                    127 => self.stream.read_u64().await.unwrap(),
                    length => u64::from(length),
                };
                let mut payload = vec![0u8; usize::try_from(length).unwrap()];
                self.stream.read_exact(&mut payload).await.unwrap();
                if head[0] & 0x0f == 1 {
                    return serde_json::from_slice(&payload).unwrap();
                }
            }
        })
        .await
        .expect("no message from the server within 10 s")
    }

    async fn call(&mut self, text: &str) -> Value {
        self.send(text).await;
        self.next().await
    }
}

fn code(answer: &Value) -> i64 {
    answer["error"]["code"].as_i64().unwrap_or(0)
}

/// jsonrpsee alone did not run a notification sent over a WebSocket, and ran a batch's
/// calls beneath the middleware that names a bad parameter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_websocket_the_specifications_examples_get_its_answers() {
    let node = node("dev", false).await;
    let genesis = node.client.chain_info().await.unwrap().genesis_hash;
    let mut ws = RawWs::open(node.rpc_addr).await;

    // Positional and named parameters.
    let answer = ws
        .call(r#"{"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": [0], "id": 1}"#)
        .await;
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "result": genesis, "id": 1})
    );
    let answer = ws
        .call(r#"{"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": {"height": 0}, "id": 3}"#)
        .await;
    assert_eq!(answer["result"], json!(genesis));

    // A notification is run and not answered; one of a method that does not exist too.
    let (from, to) = (dev_secret_key(1), dev_secret_key(2));
    let (tx, id) = signed_hex(&node, &from, &to, 5, 1_000, 0);
    ws.send(&json!({"jsonrpc": "2.0", "method": "tx_submit", "params": [tx]}).to_string())
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !matches!(
        node.client.tx_get(id.clone()).await.unwrap(),
        TxStatus::Pending { .. }
    ) {
        assert!(
            std::time::Instant::now() < deadline,
            "the notification was not run"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    ws.send(r#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#)
        .await;
    let answer = ws
        .call(r#"{"jsonrpc": "2.0", "method": "mempool_info", "id": 4}"#)
        .await;
    assert_eq!(answer["id"], 4, "a notification was answered: {answer}");
    assert_eq!(answer["result"]["count"], 1);

    // A request object that is not valid: -32600, as over HTTP.
    let answer = ws
        .call(r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#)
        .await;
    assert_eq!((code(&answer), &answer["id"]), (-32600, &Value::Null));

    // A method that does not exist; invalid JSON; a batch that is invalid JSON.
    let answer = ws
        .call(r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#)
        .await;
    assert_eq!((code(&answer), &answer["id"]), (-32601, &json!("1")));
    let answer = ws
        .call(r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#)
        .await;
    assert_eq!((code(&answer), &answer["id"]), (-32700, &Value::Null));
    let answer = ws
        .call(r#"[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"}, {"jsonrpc": "2.0", "method"]"#)
        .await;
    assert_eq!(code(&answer), -32700);

    // An empty batch, and batches of things that are not requests.
    let answer = ws.call("[]").await;
    assert_eq!((code(&answer), &answer["id"]), (-32600, &Value::Null));
    for (body, count) in [("[1]", 1), ("[1,2,3]", 3)] {
        let answer = ws.call(body).await;
        let answers = answer.as_array().unwrap_or_else(|| panic!("{answer}"));
        assert_eq!(answers.len(), count);
        assert!(answers.iter().all(|a| code(a) == -32600), "{answer}");
    }

    // A batch: every call answered in order, the notification not.
    let answer = ws.call(super::specification::SPECIFICATION_BATCH).await;
    super::specification::check_specification_batch(&answer);

    // A batch of notifications alone is not answered.
    ws.send(r#"[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]}, {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]"#)
        .await;
    let answer = ws
        .call(r#"{"jsonrpc": "2.0", "method": "chain_info", "id": 11}"#)
        .await;
    assert_eq!(answer["id"], 11, "a batch of notifications was answered");
    let answer = ws
        .call(r#"{"jsonrpc": "2.0", "method": "chain_info", "id": 12}"#)
        .await;
    assert_eq!(answer["id"], 12, "a batch of notifications was answered");
}

/// jsonrpsee's WebSocket transport parsed each message before any middleware: an `id`
/// that is an object or a fraction made a request a notification (run, never answered),
/// and JSON that is not a request object was -32700. Now a message gets the answer the
/// same body gets over HTTP, whatever it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_gets_the_answer_its_body_gets_over_http() {
    let node = node("dev", false).await;
    let mut ws = RawWs::open(node.rpc_addr).await;
    let call = |id: &str| {
        format!(
            r#"{{"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": [0], "id": {id}}}"#
        )
    };
    let mut bodies = vec![
        r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#.to_owned(),
        r#""a string""#.to_owned(),
        "null".to_owned(),
        "1".to_owned(),
        r#"{"jsonrpc": "1.0", "method": "chain_info", "id": 1}"#.to_owned(),
        r#"{"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": "0", "id": 1}"#.to_owned(),
        r#"{"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": 0, "id": 1}"#.to_owned(),
        format!("[{}, {}]", call("1.5"), call("{}")),
    ];
    for id in [
        "1.5",
        "-5",
        "null",
        "{\"a\": 1}",
        "[1]",
        "true",
        "\"x\"",
        "18446744073709551615",
    ] {
        bodies.push(call(id));
    }
    for body in &bodies {
        let (_, over_http) = post(node.rpc_addr, body).await;
        let over_ws = ws.call(body).await;
        assert_eq!(over_ws, over_http, "{body}");
    }
    // Every valid id comes back exactly.
    assert_eq!(ws.call(&call("1.5")).await["id"], json!(1.5));
    assert_eq!(ws.call(&call("-5")).await["id"], json!(-5));
    assert_eq!(code(&ws.call(&call("true")).await), -32600);
}

/// A subscription's first answer is sent by jsonrpsee under the id it was called with, so
/// over a WebSocket it is called alone and with an id jsonrpsee keeps; any other way is
/// refused with the reason, and the connection goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_is_called_alone_with_an_id_that_comes_back() {
    let node = node("dev", true).await;
    let mut ws = RawWs::open(node.rpc_addr).await;
    for body in [
        r#"{"jsonrpc": "2.0", "method": "chain_subscribeHeads", "id": 1.5}"#,
        r#"{"jsonrpc": "2.0", "method": "chain_subscribeHeads", "id": null}"#,
    ] {
        let answer = ws.call(body).await;
        assert_eq!(code(&answer), -32600, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("subscription's id"),
            "{answer}"
        );
    }
    let answers = ws
        .call(r#"[{"jsonrpc": "2.0", "method": "chain_subscribeHeads", "id": "a"}]"#)
        .await;
    assert_eq!(code(&answers[0]), -32600, "{answers}");
    // A notification of one starts nothing, and is not answered.
    ws.send(r#"{"jsonrpc": "2.0", "method": "chain_subscribeHeads"}"#)
        .await;

    let answer = ws
        .call(r#"{"jsonrpc": "2.0", "method": "chain_subscribeHeads", "id": "heads"}"#)
        .await;
    assert_eq!(answer["id"], "heads", "{answer}");
    let subscription = answer["result"].clone();
    let reward = address(&node, &dev_secret_key(9));
    node.client.dev_mine(1, Some(reward)).await.unwrap();
    // Exactly one subscription sends: the one called with an id.
    let item = ws.next().await;
    assert_eq!(item["method"], "chain_head", "{item}");
    assert_eq!(item["params"]["subscription"], subscription, "{item}");
    assert_eq!(item["params"]["result"]["header"]["height"], 1, "{item}");
    let answer = ws
        .call(r#"{"jsonrpc": "2.0", "method": "chain_info", "id": 2}"#)
        .await;
    assert_eq!(answer["id"], 2, "a second item arrived: {answer}");
}

/// A message over the size limit is refused with -32007 and the connection goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_limit_is_refused_and_the_connection_goes_on() {
    let node = node("dev", false).await;
    let mut ws = RawWs::open(node.rpc_addr).await;
    let limit = tern_rpc::server::RpcConfig::default().max_request_bytes as usize;
    let padding = "x".repeat(limit);
    let body = format!(
        r#"{{"jsonrpc": "2.0", "method": "chain_info", "params": ["{padding}"], "id": 1}}"#
    );
    let answer = ws.call(&body).await;
    assert_eq!(code(&answer), -32007, "{answer}");
    let answer = ws
        .call(r#"{"jsonrpc": "2.0", "method": "chain_info", "id": 2}"#)
        .await;
    assert_eq!(answer["id"], 2, "{answer}");
}

/// A bad parameter inside a batch is named as it is in a single call, over HTTP and over
/// a WebSocket: the batch's calls pass the same middleware.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_parameter_inside_a_batch_is_named() {
    let node = node("dev", false).await;
    let batch = r#"[
        {"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": ["zero"], "id": 1},
        {"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": [0], "id": 2}
    ]"#;
    let (_, over_http) = post(node.rpc_addr, batch).await;
    let mut ws = RawWs::open(node.rpc_addr).await;
    let over_ws = ws.call(batch).await;
    for answer in [over_http, over_ws] {
        let answers = answer.as_array().unwrap_or_else(|| panic!("{answer}"));
        assert_eq!(code(&answers[0]), -32602, "{answer}");
        assert_eq!(answers[0]["error"]["data"]["field"], "height", "{answer}");
        assert!(answers[1]["result"].is_string(), "{answer}");
    }
}
