//! Every call of a batch through the per-call middleware.
//!
//! jsonrpsee runs a batch's calls inside its own service, beneath every middleware: a
//! call in a batch was not measured, and a bad parameter in one was not named. This
//! layer, above the per-call middleware, takes a batch apart into its calls and puts the
//! batch's answer together as jsonrpsee would. Notifications reach it as calls with a
//! token id ([`crate::server::spec`] rewrites them on both transports); one that came as a
//! notification would still be run as the specification says, its answer dropped.

use std::future::Future;

use jsonrpsee::core::middleware::{Batch, BatchEntry, Notification, RpcServiceT};
use jsonrpsee::server::{BatchResponseBuilder, MethodResponse};
use jsonrpsee::types::{Id, Request, TwoPointZero};

use crate::server::spec::{runs_as_notification, Transport};

/// See the module doc.
#[derive(Debug, Clone)]
pub(crate) struct EachCall<S> {
    pub(crate) inner: S,
    /// The largest answer a batch may have (the server's response limit).
    pub(crate) max_response_bytes: usize,
}

/// Runs a notification as a call and drops its answer (subscriptions are not started).
pub(crate) async fn run_notification<S>(inner: &S, notification: Notification<'_>)
where
    S: RpcServiceT<MethodResponse = MethodResponse>,
{
    // Only a WebSocket ever delivered notifications to the middleware.
    if !runs_as_notification(&notification.method, Transport::WebSocket) {
        return;
    }
    let call = Request {
        jsonrpc: TwoPointZero,
        id: Id::Null,
        method: notification.method,
        params: notification.params,
        extensions: notification.extensions,
    };
    // The specification: a notification is not answered, whatever its outcome.
    let _ = inner.call(call).await;
}

/// A batch's answer, its calls run through `inner` one after another (a batch is one
/// call's worth of load), its notifications run and not answered, as the specification
/// says; at most `max_response_bytes` of answer.
pub(crate) async fn answer_each<S>(
    inner: S,
    batch: Batch<'_>,
    max_response_bytes: usize,
) -> MethodResponse
where
    S: RpcServiceT<MethodResponse = MethodResponse>,
{
    let mut answers = BatchResponseBuilder::new_with_limit(max_response_bytes);
    let mut notified = false;
    for entry in batch {
        let answer = match entry {
            Ok(BatchEntry::Call(request)) => inner.call(request).await,
            Ok(BatchEntry::Notification(notification)) => {
                notified = true;
                run_notification(&inner, notification).await;
                continue;
            }
            Err(refused) => {
                let (error, id) = refused.into_parts();
                MethodResponse::error(id, error)
            }
        };
        if let Err(too_big) = answers.append(answer) {
            return too_big;
        }
    }
    if answers.is_empty() && notified {
        // Notifications alone: nothing to answer.
        MethodResponse::notification()
    } else {
        // An empty batch is answered -32600 by the builder.
        MethodResponse::from_batch(answers.finish())
    }
}

impl<S> RpcServiceT for EachCall<S>
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

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.inner.call(request)
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        answer_each(self.inner.clone(), batch, self.max_response_bytes)
    }

    fn notification<'a>(
        &self,
        notification: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        let inner = self.inner.clone();
        async move {
            run_notification(&inner, notification).await;
            MethodResponse::notification()
        }
    }
}
