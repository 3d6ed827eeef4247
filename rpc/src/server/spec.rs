//! The JSON-RPC 2.0 rules that jsonrpsee does not keep, applied to a whole HTTP request
//! body or WebSocket message before any method sees it, and to its answer after.
//!
//! jsonrpsee dropped notifications unexecuted and answered them `null`, dropped requests
//! whose `id` has a fraction, answered `null` to a forbidden `id` (an object, an array, a
//! boolean), gave -32700 or -32602 to requests the specification calls invalid (-32600),
//! and answered a subscription method over HTTP with "Internal error". Here every request
//! is checked as the specification's section 4 says. A single call with a string or
//! integer id, the common case, then goes on untouched, answer included; anything else
//! goes on with a token in place of each `id` (so every valid id, fractions included,
//! comes back exactly), notifications are executed and their answers dropped, and a body
//! of notifications alone is answered with nothing (HTTP 204, or no message).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::chain::SUBSCRIPTION_METHODS;
use crate::error::SUBSCRIPTION_NEEDS_WEBSOCKET;

const PARSE_ERROR: i32 = -32700;
const INVALID_REQUEST: i32 = -32600;
const INTERNAL_ERROR: i32 = -32603;

/// Where a request came from: subscriptions live only on a WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// An HTTP POST: one body, one answer.
    Http,
    /// One message of a WebSocket connection ([`crate::server::websocket`]).
    WebSocket,
}

/// Whether a notification of `method` is run over `transport`. Over HTTP a subscription
/// method does nothing; over a WebSocket a subscription started by a notification would
/// send its items under an id the client never learned: only cost. Neither is run, and a
/// notification is never answered, so neither is refused either.
pub(crate) fn runs_as_notification(method: &str, transport: Transport) -> bool {
    if !SUBSCRIPTION_METHODS.contains(&method) {
        return true;
    }
    transport == Transport::WebSocket && !subscribes(method)
}

/// What to do with a request body.
#[derive(Debug, PartialEq)]
pub(crate) enum Prepared {
    /// Nothing to forward; the answer is this, or nothing at all.
    Answered(Option<Value>),
    /// One plain call that jsonrpsee answers as the specification says: forward the
    /// body as it is and its answer too, parsing nothing more (the common case, kept
    /// cheap: answers can be megabytes).
    Unchanged,
    /// One call that jsonrpsee answers as the specification says once it is written
    /// plainly (each member once: JSON parsers commonly keep the last of a member given
    /// twice, and jsonrpsee refused such a body with a bare `null`): forward this body,
    /// and its answer as it is.
    Rewritten(Vec<u8>),
    /// Forward `body`, then [`Plan::finish`] jsonrpsee's answer.
    Forward {
        /// The requests jsonrpsee is to run, with token ids.
        body: Vec<u8>,
        /// How to turn its answer into ours.
        plan: Plan,
    },
}

/// How the requests of one body map to jsonrpsee's answers.
#[derive(Debug, PartialEq)]
pub(crate) struct Plan {
    batch: bool,
    entries: Vec<Entry>,
}

#[derive(Debug, PartialEq)]
enum Entry {
    /// Refused here; this is its answer.
    Refused(Value),
    /// A call: the answer to `token` gets `id` back.
    Call { token: String, id: Value },
    /// A notification: run, and its answer dropped.
    Notification,
}

fn error(code: i32, message: &str, id: Value) -> Value {
    json!({ "jsonrpc": "2.0", "error": { "code": code, "message": message }, "id": id })
}

fn invalid(id: Value, why: &str) -> Value {
    error(INVALID_REQUEST, &format!("Invalid request: {why}"), id)
}

/// Whether `method` starts a subscription.
fn subscribes(method: &str) -> bool {
    SUBSCRIPTION_METHODS.contains(&method) && method.contains("_subscribe")
}

/// Whether `id` comes back exactly from jsonrpsee as it is (its ids are strings and
/// unsigned integers); any other goes through a token.
fn kept_by_jsonrpsee(id: &Value) -> bool {
    id.is_string() || id.is_u64()
}

/// Checks one request (`in_batch`: one of a batch); the request to forward (with a token
/// id) and its entry.
fn check(
    request: Value,
    token: String,
    transport: Transport,
    in_batch: bool,
) -> (Option<Value>, Entry) {
    let Value::Object(mut object) = request else {
        return (None, Entry::Refused(invalid(Value::Null, "not an object")));
    };
    let id = match object.get("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_) | Value::Null)) => Some(id.clone()),
        Some(_) => {
            let why = "id must be a string, a number or null";
            return (None, Entry::Refused(invalid(Value::Null, why)));
        }
    };
    let answer_id = id.clone().unwrap_or(Value::Null);
    if object.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        let why = "jsonrpc must be \"2.0\"";
        return (None, Entry::Refused(invalid(answer_id, why)));
    }
    let Some(Value::String(method)) = object.get("method") else {
        return (
            None,
            Entry::Refused(invalid(answer_id, "method must be a string")),
        );
    };
    if id.is_none() && !runs_as_notification(method, transport) {
        return (None, Entry::Notification);
    }
    // jsonrpsee sends a subscription's first answer itself, under the id the method was
    // called with: a token there would reach the client.
    if transport == Transport::WebSocket && subscribes(method) {
        if in_batch {
            let why = "a subscription cannot be part of a batch: send it alone";
            return (None, Entry::Refused(invalid(answer_id, why)));
        }
        if !id.as_ref().is_some_and(kept_by_jsonrpsee) {
            let why = "a subscription's id must be a string or a non-negative integer";
            return (None, Entry::Refused(invalid(answer_id, why)));
        }
    }
    if transport == Transport::Http && SUBSCRIPTION_METHODS.contains(&method.as_str()) {
        let message =
            format!("{method} is a subscription: call it over a WebSocket connection to this port");
        let refused = error(SUBSCRIPTION_NEEDS_WEBSOCKET, &message, answer_id);
        return (None, Entry::Refused(refused));
    }
    if !matches!(
        object.get("params"),
        None | Some(Value::Array(_) | Value::Object(_))
    ) {
        let why = "params must be an array or an object";
        return (None, Entry::Refused(invalid(answer_id, why)));
    }
    object.insert("id".into(), Value::String(token.clone()));
    let entry = match id {
        Some(id) => Entry::Call { token, id },
        None => Entry::Notification,
    };
    (Some(Value::Object(object)), entry)
}

/// Reads a request body that came over `transport`.
pub(crate) fn prepare(body: &[u8], transport: Transport) -> Prepared {
    if is_plain_call(body, transport) {
        return Prepared::Unchanged;
    }
    check_all(body, transport)
}

/// The members of one request that decide whether it is a plain call, borrowed from the
/// body as they are written: `Some` for a member present (even `null`), `None` for one
/// absent. Nothing is decoded or copied, the parameters least of all.
#[derive(serde::Deserialize)]
struct Members<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
}

/// A member that is present, `null` included (serde would take `null` for absent).
fn present<'de, D: serde::Deserializer<'de>>(member: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(member).map(Some)
}

/// Whether `body` is one plain call that [`check_all`] would pass on untouched
/// ([`Prepared::Unchanged`]): the common case, decided without building the body's
/// tree (for a `tx_submit`, that tree is a map and a copy of the transaction's hex).
/// It says yes only when it is sure: an object written plainly, `"jsonrpc": "2.0"`, a
/// method name without escapes that may be called over `transport`, a string or
/// unsigned integer id, parameters absent or an array or object. Anything else (escapes,
/// a member given twice, a `null`, a batch) is left to [`check_all`].
fn is_plain_call(body: &[u8], transport: Transport) -> bool {
    // A struct also deserializes from an array: only an object is one request.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return false;
    }
    let Ok(members) = serde_json::from_slice::<Members<'_>>(body) else {
        return false;
    };
    let (Some(jsonrpc), Some(method), Some(id)) = (members.jsonrpc, members.method, members.id)
    else {
        return false;
    };
    let Some(method) = method
        .get()
        .strip_prefix('"')
        .and_then(|m| m.strip_suffix('"'))
        .filter(|m| !m.contains('\\'))
    else {
        return false;
    };
    let id = id.get();
    let params_fit = members
        .params
        .is_none_or(|p| p.get().starts_with('[') || p.get().starts_with('{'));
    jsonrpc.get() == "\"2.0\""
        && (id.starts_with('"') || id.parse::<u64>().is_ok())
        && params_fit
        && !(transport == Transport::Http && SUBSCRIPTION_METHODS.contains(&method))
}

/// Checks every request of `body` as the specification says.
fn check_all(body: &[u8], transport: Transport) -> Prepared {
    let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
        return Prepared::Answered(Some(error(PARSE_ERROR, "Parse error", Value::Null)));
    };
    let (batch, requests) = match parsed {
        Value::Array(requests) if requests.is_empty() => {
            return Prepared::Answered(Some(invalid(Value::Null, "an empty batch")));
        }
        Value::Array(requests) => (true, requests),
        single => (false, vec![single]),
    };
    let mut forwarded = Vec::new();
    let mut entries = Vec::new();
    for (n, request) in requests.into_iter().enumerate() {
        let (forward, entry) = check(request, format!("tern:{n}"), transport, batch);
        forwarded.extend(forward);
        entries.push(entry);
    }
    if let (false, [Entry::Call { id, .. }], [Value::Object(request)]) =
        (batch, entries.as_slice(), forwarded.as_mut_slice())
    {
        if kept_by_jsonrpsee(id) {
            request.insert("id".into(), id.clone());
            return Prepared::Rewritten(
                Value::Object(std::mem::take(request))
                    .to_string()
                    .into_bytes(),
            );
        }
    }
    let plan = Plan { batch, entries };
    if forwarded.is_empty() {
        return Prepared::Answered(plan.finish_with(&Map::new()));
    }
    let body = if batch {
        Value::Array(forwarded)
    } else {
        forwarded.remove(0)
    };
    Prepared::Forward {
        body: body.to_string().into_bytes(),
        plan,
    }
}

impl Plan {
    /// Whether the body was a batch (then what is forwarded is one too).
    pub(crate) fn is_batch(&self) -> bool {
        self.batch
    }

    /// Our answer from jsonrpsee's: `None` when it is not JSON-RPC (pass it on as it
    /// is), `Some(None)` when nothing is to be answered.
    pub(crate) fn finish(&self, answer: &[u8]) -> Option<Option<Value>> {
        let answers = match serde_json::from_slice::<Value>(answer).ok()? {
            Value::Array(answers) => answers,
            single @ Value::Object(_) => vec![single],
            _ => return None,
        };
        let mut by_token = Map::new();
        for answer in answers {
            let token = answer.get("id").and_then(Value::as_str).map(str::to_owned);
            match token {
                Some(token) => {
                    by_token.insert(token, answer);
                }
                // An answer to no request of ours (a batch refused whole): pass it on.
                None if !self.batch || by_token.is_empty() => return None,
                None => {}
            }
        }
        Some(self.finish_with(&by_token))
    }

    fn finish_with(&self, by_token: &Map<String, Value>) -> Option<Value> {
        let mut answers = Vec::new();
        for entry in &self.entries {
            match entry {
                Entry::Refused(answer) => answers.push(answer.clone()),
                Entry::Call { token, id } => {
                    let mut answer = by_token.get(token).cloned().unwrap_or_else(|| {
                        error(INTERNAL_ERROR, "Internal error: no answer", Value::Null)
                    });
                    if let Some(object) = answer.as_object_mut() {
                        object.insert("id".into(), id.clone());
                    }
                    answers.push(answer);
                }
                Entry::Notification => {}
            }
        }
        match (self.batch, answers.len()) {
            (_, 0) => None,
            (true, _) => Some(Value::Array(answers)),
            (false, _) => answers.pop(),
        }
    }
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
