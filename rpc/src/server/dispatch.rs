//! The innermost RPC service of both transports: a call to the method it names.
//!
//! jsonrpsee's own service for this (`RpcService`) cannot be built outside jsonrpsee, so
//! [`crate::server::websocket`] and [`crate::server::http`] use this one, made of
//! jsonrpsee's public parts: the registered [`Methods`] and, on a WebSocket, the
//! connection's [`MethodSink`] for subscription items and its [`BoundedSubscriptions`].
//! It does what jsonrpsee's does, method for method.

use std::future::Future;
use std::sync::Arc;

use jsonrpsee::core::middleware::{Batch, Notification, RpcServiceT};
use jsonrpsee::core::traits::IdProvider;
use jsonrpsee::server::{
    BoundedSubscriptions, ConnectionId, MethodCallback, MethodResponse, MethodSink, Methods,
    SubscriptionState,
};
use jsonrpsee::types::error::{reject_too_many_subscriptions, ErrorCode};
use jsonrpsee::types::{ErrorObject, Params, Request};

use crate::server::each_call::{answer_each, run_notification};

/// See the module doc. Cloned for every call, so all it holds is behind one `Arc`.
#[derive(Clone)]
pub(crate) struct Dispatch(Arc<Targets>);

/// What a call may reach.
struct Targets {
    methods: Methods,
    conn_id: ConnectionId,
    max_response_bytes: usize,
    /// Where a connection's subscriptions live: none over HTTP, where one POST has one
    /// answer ([`crate::server::spec`] refuses subscription methods there first, and
    /// [`Dispatch`] refuses them again).
    subscriptions: Option<Subscriptions>,
}

/// A WebSocket connection's subscriptions: how many it may hold, and where their items go.
#[derive(Clone)]
pub(crate) struct Subscriptions {
    pub(crate) bound: BoundedSubscriptions,
    pub(crate) sink: MethodSink,
    pub(crate) id_provider: Arc<dyn IdProvider>,
}

impl Dispatch {
    pub(crate) fn new(
        methods: Methods,
        conn_id: ConnectionId,
        max_response_bytes: usize,
        subscriptions: Option<Subscriptions>,
    ) -> Dispatch {
        Dispatch(Arc::new(Targets {
            methods,
            conn_id,
            max_response_bytes,
            subscriptions,
        }))
    }

    async fn run(self, request: Request<'_>) -> MethodResponse {
        let this = &*self.0;
        let Request {
            id,
            method,
            params,
            extensions,
            ..
        } = request;
        let params = Params::new(params.as_ref().map(|raw| raw.get()));
        let Some((_, callback)) = this.methods.method_with_name(&method) else {
            return MethodResponse::error(id, ErrorObject::from(ErrorCode::MethodNotFound))
                .with_extensions(extensions);
        };
        match callback {
            MethodCallback::Sync(callback) => {
                callback(id, params, this.max_response_bytes, extensions)
            }
            MethodCallback::Async(callback) => {
                let answer = callback(
                    id.into_owned(),
                    params.into_owned(),
                    this.conn_id,
                    this.max_response_bytes,
                    extensions,
                );
                answer.await
            }
            MethodCallback::Subscription(callback) => {
                let Some(subscriptions) = &this.subscriptions else {
                    let refusal = ErrorObject::from(ErrorCode::MethodNotFound);
                    return MethodResponse::error(id, refusal).with_extensions(extensions);
                };
                let Some(permit) = subscriptions.bound.acquire() else {
                    let refusal = reject_too_many_subscriptions(subscriptions.bound.max());
                    return MethodResponse::error(id, refusal).with_extensions(extensions);
                };
                let state = SubscriptionState {
                    conn_id: this.conn_id,
                    id_provider: &*subscriptions.id_provider,
                    subscription_permit: permit,
                };
                callback(id, params, subscriptions.sink.clone(), state, extensions).await
            }
            // Over HTTP there are no subscriptions to end, and every connection shares
            // one connection id there: another client's must not be reachable.
            MethodCallback::Unsubscription(_) if this.subscriptions.is_none() => {
                MethodResponse::error(id, ErrorObject::from(ErrorCode::MethodNotFound))
                    .with_extensions(extensions)
            }
            // Unsubscribing is never limited.
            MethodCallback::Unsubscription(callback) => callback(
                id,
                params,
                this.conn_id,
                this.max_response_bytes,
                extensions,
            ),
        }
    }
}

impl RpcServiceT for Dispatch {
    type MethodResponse = MethodResponse;
    type BatchResponse = MethodResponse;
    type NotificationResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.clone().run(request)
    }

    /// In the node no batch and no notification reaches here ([`crate::server::each_call`]
    /// takes batches apart above, [`crate::server::spec`] turns notifications into calls); one
    /// that did is answered as the specification says all the same.
    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        answer_each(self.clone(), batch, self.0.max_response_bytes)
    }

    fn notification<'a>(
        &self,
        notification: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        let this = self.clone();
        async move {
            run_notification(&this, notification).await;
            MethodResponse::notification()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use jsonrpsee::server::RpcModule;
    use jsonrpsee::types::Id;

    use super::*;

    /// Over HTTP (no subscriptions) neither a subscription nor an unsubscription runs:
    /// every HTTP call shares one connection id, so an unsubscription there could reach
    /// a WebSocket connection's subscription of the same id.
    #[tokio::test]
    async fn without_subscriptions_neither_kind_of_subscription_method_runs() {
        let mut module = RpcModule::new(());
        module
            .register_subscription("sub", "note", "unsub", |_, pending, _, _| async move {
                drop(pending);
            })
            .unwrap();
        let dispatch = Dispatch::new(module.into(), ConnectionId(0), 1 << 20, None);
        for method in ["sub", "unsub"] {
            let params = serde_json::value::RawValue::from_string("[1]".into()).unwrap();
            let request = Request::borrowed(method, Some(&params), Id::Number(1));
            let answer = dispatch.call(request).await;
            assert!(!answer.is_success(), "{method} ran");
            assert!(
                answer.as_json().get().contains("-32601"),
                "{method}: {}",
                answer.as_json().get()
            );
        }
    }
}
