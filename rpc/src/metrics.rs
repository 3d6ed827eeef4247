//! RPC call counts and latencies, by method, for the node's Prometheus endpoint.
//!
//! Measured in a JSON-RPC middleware around every call. Method labels are limited to the
//! methods the server knows (anything else counts as `unknown`), so a client cannot grow
//! the label set.

use std::sync::Arc;
use std::time::Instant;

use jsonrpsee::core::middleware::{Batch, Notification, RpcServiceT};
use jsonrpsee::server::MethodResponse;
use jsonrpsee::types::Request;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The label of a call.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabel {
    /// The method, or `unknown`.
    pub method: String,
}

/// RPC figures.
#[derive(Debug)]
pub struct RpcMetrics {
    calls: Family<MethodLabel, Counter>,
    errors: Family<MethodLabel, Counter>,
    seconds: Family<MethodLabel, Histogram>,
}

impl Default for RpcMetrics {
    fn default() -> RpcMetrics {
        RpcMetrics {
            calls: Family::default(),
            errors: Family::default(),
            // 50 µs to about 3 s.
            seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_05, 3.0, 11))
            }),
        }
    }
}

impl RpcMetrics {
    /// Adds these metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "tern_rpc_calls",
            "JSON-RPC calls by method",
            self.calls.clone(),
        );
        registry.register(
            "tern_rpc_errors",
            "JSON-RPC calls answered with an error, by method",
            self.errors.clone(),
        );
        registry.register(
            "tern_rpc_call_seconds",
            "JSON-RPC call latency by method",
            self.seconds.clone(),
        );
    }

    fn observe(&self, method: &str, seconds: f64, error: bool) {
        let known = crate::openrpc::is_method(method)
            || method.ends_with("subscribeHeads")
            || method.ends_with("subscribeStatus");
        let label = MethodLabel {
            method: if known {
                method.to_owned()
            } else {
                "unknown".to_owned()
            },
        };
        self.calls.get_or_create(&label).inc();
        if error {
            self.errors.get_or_create(&label).inc();
        }
        self.seconds.get_or_create(&label).observe(seconds);
    }
}

/// The middleware that measures each call.
#[derive(Debug, Clone)]
pub(crate) struct Measured<S> {
    pub(crate) inner: S,
    pub(crate) metrics: Arc<RpcMetrics>,
}

impl<S> RpcServiceT for Measured<S>
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
        let metrics = Arc::clone(&self.metrics);
        let method = request.method_name().to_owned();
        async move {
            let started = Instant::now();
            let response = inner.call(request).await;
            metrics.observe(
                &method,
                started.elapsed().as_secs_f64(),
                response.is_error(),
            );
            response
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
