//! Random parameters for every method: each call gets a result or a typed error, never a
//! panic or a hang.

use super::*;

/// Random JSON for a parameter: every type, the boundaries of numbers, and strings shaped
/// like what methods take (hashes, addresses, hex transactions), nested a little.
fn any_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
    use proptest::prelude::*;
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![Just(u64::MAX), Just(0), Just(1), Just(100), Just(101)].prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,80}".prop_map(Value::String),
        "[0-9a-f]{64}".prop_map(Value::String),
        "[0-9a-fA-F]{0,400}".prop_map(Value::String),
        "tdev1[02-9ac-hj-np-z]{0,70}".prop_map(Value::String),
        Just(Value::String(
            "tdev1du06gkyu77jv6nhv5uws956q5spy4s73jjn63jjhtmq3c39jp8csc3daec".into()
        )),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Fuzzing every public method's parameters: random values of every type, as an array, an
/// object or a bare value. Each call must be answered, never with -32603 (the node
/// failing) or a parse error, an invalid parameter must be named in `data.field`, and
/// the node must stay healthy.
#[test]
fn random_parameters_for_every_method_are_answered_with_a_typed_error_or_a_result() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let node = runtime.block_on(node("dev", false));
    let methods = tern_rpc::openrpc::method_names(false);
    let params = prop_oneof![
        4 => proptest::collection::vec(any_json(), 0..5).prop_map(serde_json::Value::Array),
        1 => proptest::collection::btree_map("[a-zA-Z]{1,12}", any_json(), 0..4)
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        1 => any_json(),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    });
    let cases = (proptest::sample::select(methods), params);
    runner
        .run(&cases, |(method, params)| {
            let body =
                serde_json::json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
            let (status, answer) = runtime.block_on(async {
                tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    post(node.rpc_addr, &body.to_string()),
                )
                .await
                .expect("no answer within 10 s")
            });
            prop_assert_eq!(status, 200, "{}: {}", body, answer);
            let code = answer["error"]["code"].as_i64();
            prop_assert!(
                !matches!(code, Some(-32603 | -32700)),
                "{} answered {}",
                body,
                answer
            );
            prop_assert!(
                answer.get("result").is_some() || code.is_some(),
                "{}: {}",
                body,
                answer
            );
            if code == Some(-32602) {
                let field = answer["error"]["data"]["field"].as_str();
                prop_assert!(field.is_some(), "{} named no field: {}", body, answer);
            }
            Ok(())
        })
        .unwrap();
    let healthy = runtime.block_on(node.client.chain_info());
    assert!(healthy.is_ok(), "{healthy:?}");
    // The node stops inside the runtime it runs on.
    runtime.block_on(async move { drop(node) });
}
