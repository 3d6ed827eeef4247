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
    let answer = ws
        .call(
            r#"[
            {"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": [0], "id": "1"},
            {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
            {"jsonrpc": "2.0", "method": "chain_getBlockHash", "params": [0], "id": "2"},
            {"foo": "boo"},
            {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
            {"jsonrpc": "2.0", "method": "mempool_info", "id": "9"}
        ]"#,
        )
        .await;
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
    assert_eq!(code(&answers[2]), -32600);
    assert_eq!(code(&answers[3]), -32601);

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
