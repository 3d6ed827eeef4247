//! JSON-RPC over HTTP: a POST's body answered through [`crate::server::message`], as a
//! WebSocket message is, by one service built when the server starts.
//!
//! jsonrpsee's HTTP service built its per-call middleware afresh for every request,
//! read the body once more after the layers above had read it, and then decoded it
//! again; at tens of thousands of calls a second that was a quarter of a bare call's
//! cost. Here the body arrives read whole by the listener (within its deadline and the
//! size limit), and what jsonrpsee answered for the rest is answered the same: `405`
//! for a method other than POST, `415` for a body not declared JSON, `204` for
//! notifications alone.

use std::sync::Arc;
use std::task::{Context, Poll};

use http_body_util::BodyExt;
use jsonrpsee::core::BoxError;
use jsonrpsee::server::http::{content_type_is_json, response};
use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;
use jsonrpsee::server::{ConnectionId, HttpBody, HttpRequest, HttpResponse, Methods};
use tower::Layer;

use crate::server::call_stack::CallStack;
use crate::server::dispatch::Dispatch;
use crate::server::message::{respond, Answer};
use crate::server::spec::Transport;
use crate::server::BoxFuture;

/// The per-call stack over the methods, as every HTTP call passes it.
type Calls = <CallStack as Layer<Dispatch>>::Service;

/// The innermost HTTP service: see the module doc.
#[derive(Clone)]
pub(crate) struct HttpCalls {
    calls: Arc<Calls>,
    max_batch: u32,
}

impl HttpCalls {
    pub(crate) fn new(
        methods: Methods,
        calls: CallStack,
        max_response_bytes: usize,
        max_batch: u32,
    ) -> HttpCalls {
        // No subscriptions over HTTP, so the connection id is never looked at.
        let dispatch = Dispatch::new(methods, ConnectionId(0), max_response_bytes, None);
        HttpCalls {
            calls: Arc::new(RpcServiceBuilder::new().layer(calls).service(dispatch)),
            max_batch,
        }
    }
}

impl tower::Service<HttpRequest<HttpBody>> for HttpCalls {
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = BoxFuture<Result<HttpResponse, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequest<HttpBody>) -> Self::Future {
        if request.method() != hyper::Method::POST {
            return Box::pin(std::future::ready(Ok(response::method_not_allowed())));
        }
        if !content_type_is_json(&request) {
            return Box::pin(std::future::ready(Ok(response::unsupported_content_type())));
        }
        let calls = Arc::clone(&self.calls);
        let max_batch = self.max_batch;
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            let answer = respond(&*calls, &body, Transport::Http, parts.extensions, max_batch);
            Ok(match answer.await {
                None => no_content(),
                Some(Answer::Ours(json)) => {
                    response::ok_response(String::from(Box::<str>::from(json)))
                }
                Some(Answer::Method(answer)) if answer.is_notification() => no_content(),
                Some(Answer::Method(answer)) => {
                    let (json, _, extensions) = answer.into_parts();
                    let mut ok = response::ok_response(String::from(Box::<str>::from(json)));
                    ok.extensions_mut().extend(extensions);
                    ok
                }
            })
        })
    }
}

/// Notifications alone: nothing to answer.
fn no_content() -> HttpResponse {
    let mut response = HttpResponse::new(HttpBody::empty());
    *response.status_mut() = hyper::StatusCode::NO_CONTENT;
    response
}
