#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;

fn answered(body: &str) -> Option<Value> {
    match prepare(body.as_bytes(), Transport::Http) {
        Prepared::Answered(answer) => answer,
        other => panic!("forwarded: {other:?}"),
    }
}

fn code(answer: &Value) -> i64 {
    answer["error"]["code"].as_i64().unwrap()
}

#[test]
fn the_specifications_invalid_requests_are_invalid_requests() {
    for body in [
        r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#,
        r#""a string""#,
        "null",
        "1",
        r#"{"jsonrpc": "2.0", "method": "chain_info", "params": "bar", "id": 1}"#,
        r#"{"jsonrpc": "2.0", "method": "chain_info", "params": 3, "id": 1}"#,
        r#"{"jsonrpc": "1.0", "method": "chain_info", "id": 1}"#,
        r#"{"jsonrpc": "2.0", "method": "chain_info", "id": {"a": 1}}"#,
        r#"{"jsonrpc": "2.0", "method": "chain_info", "id": [1]}"#,
        r#"{"jsonrpc": "2.0", "method": "chain_info", "id": true}"#,
        "[]",
    ] {
        let answer = answered(body).unwrap();
        assert_eq!(code(&answer), -32600, "{body}: {answer}");
    }
    let answer = answered(r#"{"jsonrpc": "2.0", "method": "chain_info", "id": true}"#);
    assert_eq!(answer.unwrap()["id"], Value::Null);
    let answer = answered("[1,2,3]").unwrap();
    assert_eq!(answer.as_array().unwrap().len(), 3);
    assert_eq!(
        code(&answered(r#"{"jsonrpc": "2.0", "method""#).unwrap()),
        -32700
    );
}

#[test]
fn ids_come_back_exactly_and_notifications_answer_nothing() {
    let body = r#"[
        {"jsonrpc": "2.0", "method": "chain_info", "id": 1.5},
        {"jsonrpc": "2.0", "method": "mempool_info"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "chain_info", "id": "9"}
    ]"#;
    let Prepared::Forward { body, plan } = prepare(body.as_bytes(), Transport::Http) else {
        panic!("nothing forwarded");
    };
    let forwarded: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(forwarded.as_array().unwrap().len(), 3);
    let answer = json!([
        {"jsonrpc": "2.0", "result": 1, "id": "tern:0"},
        {"jsonrpc": "2.0", "result": 2, "id": "tern:1"},
        {"jsonrpc": "2.0", "result": 3, "id": "tern:3"}
    ]);
    let finished = plan.finish(answer.to_string().as_bytes()).unwrap().unwrap();
    let finished = finished.as_array().unwrap();
    assert_eq!(finished.len(), 3);
    assert_eq!(finished[0]["id"], json!(1.5));
    assert_eq!(code(&finished[1]), -32600);
    assert_eq!(finished[2]["id"], json!("9"));

    let only = r#"[{"jsonrpc": "2.0", "method": "a"}, {"jsonrpc": "2.0", "method": "b"}]"#;
    let Prepared::Forward { plan, .. } = prepare(only.as_bytes(), Transport::Http) else {
        panic!("notifications are run");
    };
    let answer = json!([{"jsonrpc": "2.0", "result": 1, "id": "tern:0"}]);
    assert_eq!(plan.finish(answer.to_string().as_bytes()), Some(None));
}

#[test]
fn a_plain_call_goes_on_untouched() {
    for body in [
        r#"{"jsonrpc": "2.0", "method": "chain_info", "id": 1}"#,
        r#"{"jsonrpc": "2.0", "method": "chain_info", "params": [], "id": "a"}"#,
    ] {
        assert_eq!(
            prepare(body.as_bytes(), Transport::WebSocket),
            Prepared::Unchanged,
            "{body}"
        );
    }
    // jsonrpsee's ids are unsigned: it took a negative one for a notification.
    for odd in ["1.5", "-5"] {
        let body = format!(r#"{{"jsonrpc": "2.0", "method": "chain_info", "id": {odd}}}"#);
        assert!(matches!(
            prepare(body.as_bytes(), Transport::Http),
            Prepared::Forward { .. }
        ));
    }
}

#[test]
fn a_subscription_over_http_says_it_needs_a_websocket() {
    let body = r#"{"jsonrpc": "2.0", "method": "chain_subscribeHeads", "id": 1}"#;
    let answer = answered(body).unwrap();
    assert_eq!(code(&answer), i64::from(SUBSCRIPTION_NEEDS_WEBSOCKET));
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("WebSocket"));
    assert_eq!(answer["id"], 1);
    // Over a WebSocket it goes on to the method.
    assert_eq!(
        prepare(body.as_bytes(), Transport::WebSocket),
        Prepared::Unchanged
    );
}

#[test]
fn a_subscription_over_a_websocket_is_alone_and_keeps_its_id() {
    let alone = r#"{"jsonrpc": "2.0", "method": "tx_subscribeStatus", "params": ["00"], "id": 7}"#;
    assert_eq!(
        prepare(alone.as_bytes(), Transport::WebSocket),
        Prepared::Unchanged
    );
    for id in ["1.5", "-1", "null"] {
        let body = format!(r#"{{"jsonrpc": "2.0", "method": "chain_subscribeHeads", "id": {id}}}"#);
        let Prepared::Answered(Some(answer)) = prepare(body.as_bytes(), Transport::WebSocket)
        else {
            panic!("{body} went on");
        };
        assert_eq!(code(&answer), -32600, "{body}");
    }
    let batch = format!("[{alone}]");
    let Prepared::Answered(Some(answer)) = prepare(batch.as_bytes(), Transport::WebSocket) else {
        panic!("a subscription in a batch went on");
    };
    assert_eq!(code(&answer[0]), -32600);
}

#[test]
fn a_subscription_notification_is_not_run_and_not_answered() {
    for transport in [Transport::Http, Transport::WebSocket] {
        for method in ["chain_subscribeHeads", "tx_subscribeStatus"] {
            let body = format!(r#"{{"jsonrpc": "2.0", "method": "{method}"}}"#);
            assert_eq!(
                prepare(body.as_bytes(), transport),
                Prepared::Answered(None)
            );
        }
    }
    let unsubscribe = r#"{"jsonrpc": "2.0", "method": "chain_unsubscribeHeads", "params": [1]}"#;
    assert_eq!(
        prepare(unsubscribe.as_bytes(), Transport::Http),
        Prepared::Answered(None)
    );
    assert!(matches!(
        prepare(unsubscribe.as_bytes(), Transport::WebSocket),
        Prepared::Forward { .. }
    ));
    assert!(runs_as_notification("tx_submit", Transport::Http));
}

/// Every combination of how a request's members can be written, over both transports:
/// the fast path says "plain call" only where the full check forwards the body
/// untouched too, and it does so for every plainly written valid call.
#[test]
fn the_plain_call_shortcut_agrees_with_the_full_check() {
    let jsonrpc = [
        None,
        Some(r#""2.0""#),
        Some(r#""2\u002e0""#),
        Some(r#""1.0""#),
        Some("null"),
        Some("2"),
    ];
    let method = [
        None,
        Some(r#""chain_info""#),
        Some(r#""tx_subscribeStatus""#),
        Some(r#""chain_\u0069nfo""#),
        Some("1"),
        Some("null"),
    ];
    let id = [
        None,
        Some("1"),
        Some("0"),
        Some("-1"),
        Some("1.5"),
        Some("1e3"),
        Some("18446744073709551616"),
        Some(r#""a""#),
        Some(r#""\u0061""#),
        Some("null"),
        Some("[1]"),
        Some("{}"),
    ];
    let params = [
        None,
        Some("[]"),
        Some(r#"{"a": [1]}"#),
        Some(r#""x""#),
        Some("null"),
        Some("3"),
    ];
    let mut plain = 0;
    let mut checked = 0;
    for j in jsonrpc {
        for m in method {
            for i in id {
                for p in params {
                    for extra in [None, Some(r#""extra": {"id": 2}"#), Some(r#""id": 7"#)] {
                        let members: Vec<String> =
                            [("jsonrpc", j), ("method", m), ("id", i), ("params", p)]
                                .iter()
                                .filter_map(|(k, v)| v.map(|v| format!("\"{k}\": {v}")))
                                .chain(extra.map(str::to_owned))
                                .collect();
                        let object = format!("{{{}}}", members.join(", "));
                        for body in [
                            object.clone(),
                            format!(" \n{object}"),
                            format!("[{object}]"),
                        ] {
                            for transport in [Transport::Http, Transport::WebSocket] {
                                let full = check_all(body.as_bytes(), transport);
                                if is_plain_call(body.as_bytes(), transport) {
                                    // The full check forwards the same request, written
                                    // again.
                                    let same = match &full {
                                        Prepared::Rewritten(rewritten) => {
                                            serde_json::from_slice::<serde_json::Value>(rewritten)
                                                .ok()
                                                == serde_json::from_str(&body).ok()
                                        }
                                        _ => false,
                                    };
                                    assert!(same, "{body} over {transport:?}: {full:?}");
                                    plain += 1;
                                }
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 6 * 6 * 12 * 6 * 3 * 3 * 2);
    // Every plainly written valid call takes the shortcut: "2.0"; "chain_info" over
    // both transports or the subscription over a WebSocket (3); an id of 1, 0, "a" or
    // "\u0061" with no extra member or a harmless one (not a second id), or no id but
    // the extra member's 7 (4 * 2 + 1); parameters absent, an array or an object (3);
    // as it is or after whitespace, not in a batch (2).
    assert_eq!(plain, 3 * (4 * 2 + 1) * 3 * 2);
}
