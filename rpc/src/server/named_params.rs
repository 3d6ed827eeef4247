//! Names the parameter behind an "Invalid params" from jsonrpsee's decoder.
//!
//! The generated decoder answers a parameter of the wrong type with -32602 "Invalid
//! params" and serde's reason (`invalid type: string "x", expected u64`), without saying
//! which parameter: it knows, but only logs it. This middleware checks the call's
//! parameters against what the OpenRPC document says each takes
//! ([`crate::openrpc::misfit`]) and answers as the methods' own checks do: `invalid
//! <field>: <reason>`, with `data.field`.

use jsonrpsee::core::middleware::{Batch, Notification, RpcServiceT};
use jsonrpsee::server::MethodResponse;
use jsonrpsee::types::{ErrorObject, Request};
use serde_json::{json, Value};

use crate::error::INVALID_PARAMS;

/// See the module doc.
#[derive(Debug, Clone)]
pub(crate) struct NamedParams<S> {
    pub(crate) inner: S,
}

/// serde's reason, if `response` is the decoder's unnamed "Invalid params".
fn decoder_reason(response: &MethodResponse) -> Option<String> {
    if response.as_error_code() != Some(INVALID_PARAMS) {
        return None;
    }
    let answer: Value = serde_json::from_str(response.as_json().get()).ok()?;
    let error = answer.get("error")?;
    if error.get("message")?.as_str()? != "Invalid params" {
        return None;
    }
    Some(match error.get("data") {
        Some(Value::String(reason)) => reason.clone(),
        _ => "does not decode".to_owned(),
    })
}

impl<S> RpcServiceT for NamedParams<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Clone
        + Send
        + Sync
        + 'static,
{
    type MethodResponse = MethodResponse;
    type BatchResponse = MethodResponse;
    type NotificationResponse = MethodResponse;

    fn call<'a>(
        &self,
        request: Request<'a>,
    ) -> impl std::future::Future<Output = Self::MethodResponse> + Send + 'a {
        let inner = self.inner.clone();
        let method = request.method_name().to_owned();
        // Kept as text: parsed only for an answer that needs it, not on every call.
        let params = request.params().as_str().map(str::to_owned);
        let id = request.id().into_owned();
        async move {
            let response = inner.call(request).await;
            let Some(reason) = decoder_reason(&response) else {
                return response;
            };
            let params: Value = params
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or(Value::Null);
            let Some(field) = crate::openrpc::misfit(&method, &params) else {
                return response;
            };
            MethodResponse::error(
                id,
                ErrorObject::owned(
                    INVALID_PARAMS,
                    format!("invalid {field}: {reason}"),
                    Some(json!({ "field": field, "reason": reason })),
                ),
            )
        }
    }

    fn batch<'a>(
        &self,
        requests: Batch<'a>,
    ) -> impl std::future::Future<Output = Self::BatchResponse> + Send + 'a {
        self.inner.batch(requests)
    }

    fn notification<'a>(
        &self,
        notification: Notification<'a>,
    ) -> impl std::future::Future<Output = Self::NotificationResponse> + Send + 'a {
        self.inner.notification(notification)
    }
}
