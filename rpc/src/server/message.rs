//! One JSON-RPC message to its answer, whichever transport brought it (an HTTP body or a
//! WebSocket message): checked as the specification says ([`crate::server::spec`]),
//! decoded, and run through the per-call middleware onto the methods.
//!
//! Both transports answer through here, so a message means the same on either; what
//! differs (subscriptions live only on a WebSocket) is the [`Transport`] the checks are
//! given.

use std::borrow::Cow;

use jsonrpsee::core::middleware::{Batch, BatchEntry, BatchEntryErr, RpcServiceT};
use jsonrpsee::server::MethodResponse;
use jsonrpsee::types::error::{reject_too_big_batch_request, ErrorCode};
use jsonrpsee::types::{ErrorObject, Id, Request, TwoPointZero};
use jsonrpsee::Extensions;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::server::spec::{self, Prepared, Transport};

/// The answer to one message.
pub(crate) enum Answer {
    /// A method's answer as it gave it (a subscription's first answer included).
    Method(MethodResponse),
    /// An answer written here: a refusal before any method ran, or answers put back
    /// under the ids the client gave.
    Ours(Box<RawValue>),
}

/// The answer to `message`: `None` when it has none (notifications alone).
pub(crate) async fn respond<S>(
    service: &S,
    message: &[u8],
    transport: Transport,
    extensions: Extensions,
    max_batch: u32,
) -> Option<Answer>
where
    S: RpcServiceT<MethodResponse = MethodResponse, BatchResponse = MethodResponse>,
{
    match spec::prepare(message, transport) {
        Prepared::Answered(answer) => answer.map(|answer| Answer::Ours(raw(&answer))),
        Prepared::Unchanged => Some(Answer::Method(call(service, message, extensions).await)),
        Prepared::Rewritten(body) => Some(Answer::Method(call(service, &body, extensions).await)),
        Prepared::Forward { body, plan } => {
            let response = if plan.is_batch() {
                batch(service, &body, extensions, max_batch).await
            } else {
                call(service, &body, extensions).await
            };
            match plan.finish(response.as_json().get().as_bytes()) {
                // Notifications alone.
                Some(None) => None,
                Some(Some(ours)) => Some(Answer::Ours(raw(&ours))),
                None => Some(Answer::Method(response)),
            }
        }
    }
}

fn raw(answer: &serde_json::Value) -> Box<RawValue> {
    // A `Value` always serializes; the fallback (`null`) is never taken.
    serde_json::value::to_raw_value(answer).unwrap_or_default()
}

fn invalid_request() -> MethodResponse {
    MethodResponse::error(Id::Null, ErrorObject::from(ErrorCode::InvalidRequest))
}

/// One request's members, borrowed from the message. jsonrpsee's own `Request` reads
/// its `id` as an untagged enum, which builds (and formats) an error for every variant
/// it tries before the right one: a numeric id cost a failed `null` first, a string id
/// two failures. [`spec::prepare`] has already checked every member, so the id here is
/// read by its first byte.
#[derive(Deserialize)]
struct Members<'a> {
    /// Only "2.0" decodes.
    #[serde(rename = "jsonrpc")]
    _version: TwoPointZero,
    #[serde(borrow)]
    id: &'a RawValue,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

/// The id written as `raw`, if it is one jsonrpsee keeps: `null`, a string or an
/// unsigned integer (any other goes through [`spec`]'s tokens and never gets here).
fn id_of(raw: &RawValue) -> Option<Id<'_>> {
    let text = raw.get();
    match text.as_bytes().first()? {
        b'"' => match serde_json::from_str::<&str>(text) {
            Ok(borrowed) => Some(Id::Str(Cow::Borrowed(borrowed))),
            // Escapes: the string must be unescaped into one of its own.
            Err(_) => serde_json::from_str::<String>(text)
                .ok()
                .map(|owned| Id::Str(Cow::Owned(owned))),
        },
        b'n' => (text == "null").then_some(Id::Null),
        _ => text.parse().ok().map(Id::Number),
    }
}

/// Decodes one request written as `text`.
fn decode(text: &[u8]) -> Option<Request<'_>> {
    let members = serde_json::from_slice::<Members<'_>>(text).ok()?;
    Some(Request {
        jsonrpc: TwoPointZero,
        id: id_of(members.id)?,
        method: members.method,
        params: members.params.map(Cow::Borrowed),
        extensions: Extensions::new(),
    })
}

/// One call. [`spec::prepare`] has checked it, so it decodes.
async fn call<S>(service: &S, body: &[u8], extensions: Extensions) -> MethodResponse
where
    S: RpcServiceT<MethodResponse = MethodResponse>,
{
    match decode(body) {
        Some(mut request) => {
            request.extensions = extensions;
            service.call(request).await
        }
        None => invalid_request(),
    }
}

/// A batch of calls, at most `max_batch` of them.
async fn batch<S>(
    service: &S,
    body: &[u8],
    extensions: Extensions,
    max_batch: u32,
) -> MethodResponse
where
    S: RpcServiceT<BatchResponse = MethodResponse>,
{
    let Ok(calls) = serde_json::from_slice::<Vec<&RawValue>>(body) else {
        return invalid_request();
    };
    let max_batch = max_batch as usize;
    if calls.len() > max_batch {
        return MethodResponse::error(Id::Null, reject_too_big_batch_request(max_batch));
    }
    let entries = calls
        .into_iter()
        .map(|call| match decode(call.get().as_bytes()) {
            Some(mut request) => {
                request.extensions = extensions.clone();
                Ok(BatchEntry::Call(request))
            }
            None => Err(BatchEntryErr::new(
                Id::Null,
                ErrorObject::from(ErrorCode::InvalidRequest),
            )),
        })
        .collect();
    service.batch(Batch::from(entries)).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn id(text: &str) -> Option<Id<'static>> {
        let raw = RawValue::from_string(text.to_owned()).unwrap();
        id_of(&raw).map(Id::into_owned)
    }

    /// Every id jsonrpsee's own decoding keeps comes out as it would have made it.
    #[test]
    fn ids_decode_as_jsonrpsee_decodes_them() {
        for text in [
            "null",
            "0",
            "1",
            "18446744073709551615",
            r#""""#,
            r#""abc""#,
            r#""tern:0""#,
            r#""a\"b\u00e9""#,
        ] {
            let theirs: Id = serde_json::from_str(text).unwrap();
            assert_eq!(id(text), Some(theirs.into_owned()), "{text}");
        }
        for text in ["-1", "1.5", "18446744073709551616", "true", "[1]", "{}"] {
            assert_eq!(id(text), None, "{text}");
        }
    }

    /// A request decodes to what jsonrpsee's own `Request` would hold, borrowing what it
    /// can.
    #[test]
    fn requests_decode_as_jsonrpsee_decodes_them() {
        for text in [
            r#"{"jsonrpc":"2.0","id":7,"method":"account_get","params":["tern1x"]}"#,
            r#"{"id":"x","method":"chain_info","jsonrpc":"2.0"}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"a\u0062","params":{"k":[1,2]},"extra":1}"#,
        ] {
            let ours = decode(text.as_bytes()).unwrap();
            let theirs: Request = serde_json::from_str(text).unwrap();
            assert_eq!(ours.id, theirs.id, "{text}");
            assert_eq!(ours.method, theirs.method, "{text}");
            assert_eq!(
                ours.params.map(|p| p.get().to_owned()),
                theirs.params.map(|p| p.get().to_owned()),
                "{text}"
            );
        }
        let plain = r#"{"jsonrpc":"2.0","id":"x","method":"m"}"#;
        let decoded = decode(plain.as_bytes()).unwrap();
        assert!(matches!(decoded.method, Cow::Borrowed(_)));
        assert!(matches!(decoded.id, Id::Str(Cow::Borrowed(_))));
        for text in [
            r#"{"jsonrpc":"1.0","id":1,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"m"}]"#,
        ] {
            assert!(decode(text.as_bytes()).is_none(), "{text}");
        }
    }
}
