//! The examples in docs/RPC.md, and the `curl` commands in the README and docs/RPC.md,
//! run against a real node, so that what a wallet author copies from the docs stays
//! true.
//!
//! A ```json block that holds a request is run; the blocks right after it are the answers
//! it documents, and the node's answer must match one of them. In a documented answer,
//! `…` elides: a string with `…` in it stands for any string, `{…}` for any value, and
//! `,…}` for fields left out. Every other field must be there with its documented type,
//! and a string without `…` (an error's reason, a genesis hash, a status) exactly as
//! documented. A block that is neither request nor answer must still read as JSON, once
//! its elisions are read so. Subscription requests are read, not run: they need a
//! WebSocket, and `subscriptions.rs` runs them.

use serde_json::{json, Value};

use super::*;

const RPC_DOC: &str = include_str!("../../../../docs/RPC.md");
const README: &str = include_str!("../../../../README.md");

/// The worked example of docs/PROTOCOL.md: dev account 0 pays account 1, nonce 0.
const WORKED_EXAMPLE: &str = "bd1c0000b20a04d00d88e46cba4b9b0b70362f96d56a791b8d84f14e1c831b65386d9d45ccf04c0ca1780bb0041f54a504199f8616ce9d90e62f80fcadbb899a82430c1440420f0000000000e803000000000000000000000000000076d2979d7dc2d3e685f5da2c194aac329424570ff118abf6931f093d19a41c1496812f06e0b706ea608edc8a9f642ebc795acfdc6a4b8b64453accdffa7bf500";

/// The ```json blocks of `doc`: the line each starts on, whether a heading comes
/// between it and the block before, and its text.
fn json_blocks(doc: &str) -> Vec<(usize, bool, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, bool, String)> = None;
    let mut heading = false;
    for (number, line) in doc.lines().enumerate() {
        match (&mut open, line.trim()) {
            (None, "```json") => {
                open = Some((number + 1, heading, String::new()));
                heading = false;
            }
            (Some(_), "```") => blocks.extend(open.take()),
            (Some((_, _, text)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, other) => heading |= other.starts_with('#'),
        }
    }
    blocks
}

/// A documented value, with its elisions read as markers: `{…}` as the string `…`, and
/// `,…}` as a `"…"` key that allows fields left out. Several values on separate lines
/// (answers shown one after another) are each returned.
fn read_documented(text: &str) -> Result<Vec<Value>, String> {
    let text = text.replace("{…}", "\"…\"").replace(",…}", ",\"…\":\"…\"}");
    serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{e}:\n{text}"))
}

/// Whether `actual` matches the documented `doc`, as the module docs say; the path of the
/// first difference otherwise.
fn matches(doc: &Value, actual: &Value, path: &str) -> Result<(), String> {
    let differ = |what: &str| {
        Err(format!(
            "{path}: {what}: documented {doc}, answered {actual}"
        ))
    };
    match (doc, actual) {
        (Value::String(d), _) if d == "…" => Ok(()),
        (Value::String(d), Value::String(_)) if d.contains('…') => Ok(()),
        (Value::String(d), Value::String(a)) if d == a => Ok(()),
        (Value::Number(_), Value::Number(_)) | (Value::Bool(_), Value::Bool(_)) => Ok(()),
        (Value::Null, Value::Null) => Ok(()),
        (Value::Array(d), Value::Array(a)) => {
            if a.len() < d.len() {
                return differ("fewer items");
            }
            d.iter()
                .zip(a)
                .enumerate()
                .try_for_each(|(i, (d, a))| matches(d, a, &format!("{path}[{i}]")))
        }
        (Value::Object(d), Value::Object(a)) => {
            let open = d.contains_key("…");
            for (key, value) in d.iter().filter(|(k, _)| *k != "…") {
                let Some(found) = a.get(key) else {
                    return differ(&format!("no field {key}"));
                };
                matches(value, found, &format!("{path}.{key}"))?;
            }
            match a.keys().find(|k| !d.contains_key(*k)) {
                Some(extra) if !open => differ(&format!("undocumented field {extra}")),
                _ => Ok(()),
            }
        }
        _ => differ("another value"),
    }
}

/// One runnable example: the request and the answers documented for it.
struct Example {
    line: usize,
    request: Value,
    answers: Vec<Value>,
}

/// The requests of `doc` with their documented answers; every block must read as JSON.
fn examples(doc: &str) -> Vec<Example> {
    let mut examples: Vec<Example> = Vec::new();
    let mut answering = false;
    for (line, heading, text) in json_blocks(doc) {
        answering &= !heading;
        let values = read_documented(&text)
            .unwrap_or_else(|e| panic!("docs/RPC.md line {line} is not JSON: {e}"));
        for value in values {
            if value.get("method").is_some() {
                examples.push(Example {
                    line,
                    request: value,
                    answers: Vec::new(),
                });
                answering = true;
            } else if value.get("result").is_some() || value.get("error").is_some() {
                match examples.last_mut() {
                    Some(example) if answering => example.answers.push(value),
                    // An answer shown alone: checked as JSON only.
                    _ => {}
                }
            } else {
                answering = false;
            }
        }
    }
    examples
}

/// The body of an HTTP answer, as JSON.
fn body(response: &str) -> Value {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_in_the_rpc_doc_gets_an_answer_it_documents() {
    let node = node("dev", true).await;
    let examples = examples(RPC_DOC);
    assert!(
        examples.len() >= 12,
        "only {} examples found",
        examples.len()
    );

    // The state the examples show: the worked example's transfer submitted, then mined,
    // and two blocks on the chain (tx_submit's first answer is its id).
    let submitted = node.client.tx_submit(WORKED_EXAMPLE.into()).await.unwrap();
    assert_eq!(
        submitted,
        "cbdb478b28dbea7e27dc0e0fedc9b19f2d609103c44bf44c4689b38b0e417b81"
    );
    let miner = address(&node, &dev_secret_key(9));
    node.client.dev_mine(2, Some(miner)).await.unwrap();

    let mut failures = Vec::new();
    for example in &examples {
        let method = example.request["method"].as_str().unwrap_or_default();
        // A subscription needs a WebSocket and a state of its own:
        // subscriptions.rs follows those through.
        if tern_rpc::chain::SUBSCRIPTION_METHODS.contains(&method) {
            continue;
        }
        if example.request.to_string().contains('…') {
            failures.push(format!(
                "line {}: {method}'s request elides a value, so it cannot be run",
                example.line
            ));
            continue;
        }
        if example.answers.is_empty() {
            failures.push(format!(
                "line {}: {method} documents no answer",
                example.line
            ));
            continue;
        }
        let answer = post(node.rpc_addr, &example.request.to_string()).await.1;
        let verdicts: Vec<String> = example
            .answers
            .iter()
            .filter_map(|documented| matches(documented, &answer, method).err())
            .collect();
        if verdicts.len() == example.answers.len() {
            failures.push(format!("line {}: {}", example.line, verdicts.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A `curl` command of the docs: its headers and body.
struct Curl {
    headers: Vec<String>,
    body: String,
}

/// The `curl` commands of `doc` that send a body, lines joined where they end in `\`.
fn curls(doc: &str) -> Vec<Curl> {
    let joined = doc.replace("\\\n", " ");
    joined
        .lines()
        .filter_map(|line| line.trim().strip_prefix("curl "))
        .filter(|line| line.contains(" -d "))
        .map(|line| {
            let mut headers = Vec::new();
            let mut body = String::new();
            let mut rest = line;
            while let Some((flag, after)) = next_flag(rest) {
                let (value, tail) = quoted(after);
                match flag {
                    "-H" => headers.push(value.to_owned()),
                    "-d" => body = value.to_owned(),
                    _ => {}
                }
                rest = tail;
            }
            Curl { headers, body }
        })
        .collect()
}

/// The next `-H` or `-d` flag in `text`, and what follows it.
fn next_flag(text: &str) -> Option<(&str, &str)> {
    let at = ["-H ", "-d "]
        .iter()
        .filter_map(|flag| text.find(flag))
        .min()?;
    Some((&text[at..at + 2], &text[at + 3..]))
}

/// A shell word in single or double quotes at the start of `text`, and the rest.
fn quoted(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    let Some(quote) = text.chars().next().filter(|c| *c == '\'' || *c == '"') else {
        let end = text.find(' ').unwrap_or(text.len());
        return (&text[..end], &text[end..]);
    };
    let inner = &text[1..];
    let end = inner.find(quote).unwrap_or(inner.len());
    (&inner[..end], &inner[(end + 1).min(inner.len())..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_curl_commands_in_the_docs_work_as_written() {
    let node = node("dev", false).await;
    let token = tern_rpc::server::access::read_cookie(&node._dir.path().join(".cookie")).unwrap();
    let commands: Vec<Curl> = curls(README).into_iter().chain(curls(RPC_DOC)).collect();
    assert!(
        commands.len() >= 3,
        "only {} curl commands found",
        commands.len()
    );
    for curl in commands {
        let headers: String = curl
            .headers
            .iter()
            .map(|h| format!("{}\r\n", h.replace("$TOKEN", &token)))
            .collect();
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{}",
            node.rpc_addr,
            curl.body.len(),
            curl.body
        );
        let response = raw_http(node.rpc_addr, &request).await;
        assert!(
            response.starts_with("HTTP/1.1 200") && body(&response).get("result").is_some(),
            "curl -H {:?} -d {} was answered:\n{response}",
            curl.headers,
            curl.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_errors_have_their_documented_codes_and_data() {
    use jsonrpsee::core::client::SubscriptionClientT;
    let node = node("dev", false).await;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "chain_info"});
    let batch = Value::Array(vec![call; 101]);
    let (_, answer) = post(node.rpc_addr, &batch.to_string()).await;
    assert_eq!(
        (&answer["error"]["code"], &answer["error"]["data"]),
        (&json!(-32010), &json!("Exceeded max limit of 100")),
        "{answer}"
    );

    let ws = jsonrpsee::ws_client::WsClientBuilder::default()
        .build(format!("ws://{}", node.rpc_addr))
        .await
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..64 {
        held.push(ws.chain_subscribe_heads(None).await.unwrap());
    }
    let refused = ws
        .subscribe::<Value, _>(
            "chain_subscribeHeads",
            rpc_params![],
            "chain_unsubscribeHeads",
        )
        .await;
    let Err(ClientError::Call(error)) = refused else {
        panic!("the 65th subscription was not refused: {refused:?}");
    };
    assert_eq!(error.code(), -32006);
    assert_eq!(
        error.data().map(|d| d.get().to_owned()),
        Some("\"Exceeded max limit of 64\"".to_owned())
    );
}

/// The OpenRPC document a caller with admin access gets from `rpc.discover` lists exactly
/// the methods the server registers over the node's own handles, and the subscriptions
/// among them: a method added without its document entry, or documented and never
/// served, fails here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openrpc_document_lists_exactly_the_registered_methods() {
    let node = node("dev", true).await;
    let tip = node.chain.tip().hash;
    let heads = std::sync::Arc::new(tern_rpc::chain::heads::HeadsLog::new(
        0,
        tip,
        node.spec.address_prefix,
    ));
    let module = tern_rpc::server::methods(&node.node.rpc_handles(), heads);
    let mut registered: Vec<&str> = module.method_names().collect();
    let mut documented = discovered(&node.client).await;
    registered.sort_unstable();
    documented.sort_unstable();
    assert_eq!(registered, documented);
    for subscription in tern_rpc::chain::SUBSCRIPTION_METHODS {
        assert!(registered.contains(&subscription), "{subscription}");
    }
}
