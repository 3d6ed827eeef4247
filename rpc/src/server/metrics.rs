//! RPC call counts and latencies, by method, for the node's Prometheus endpoint.
//!
//! Measured in a JSON-RPC middleware around every call. Method labels are limited to the
//! methods the server knows (anything else counts as `unknown`), so a client cannot grow
//! the label set.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
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
    /// Every label: each method the server knows, by its exact name, then [`UNKNOWN`].
    /// Fixed here, so no client can add one.
    names: Vec<&'static str>,
    /// Each name's place in `names` and `resolved`.
    slots: HashMap<&'static str, usize>,
    /// Each label's count and latency series, taken from the families on the label's
    /// first call (a method never called has no series) and used directly after that: a
    /// call costs no label allocation and no family lookup.
    resolved: Vec<OnceLock<(Counter, Histogram)>>,
}

/// The label of every method the server does not know.
const UNKNOWN: &str = "unknown";

/// Where a call's figures go: an index into [`RpcMetrics::resolved`].
#[derive(Debug, Clone, Copy)]
struct Slot(usize);

impl Default for RpcMetrics {
    fn default() -> RpcMetrics {
        let mut names = crate::openrpc::method_names(true);
        names.push(UNKNOWN);
        let slots = names
            .iter()
            .enumerate()
            .map(|(i, name)| (*name, i))
            .collect();
        RpcMetrics {
            calls: Family::default(),
            errors: Family::default(),
            // 50 µs to about 3 s.
            seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_05, 3.0, 11))
            }),
            resolved: names.iter().map(|_| OnceLock::new()).collect(),
            names,
            slots,
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

    /// The slot of `method`: its own if the server knows that exact name, else `unknown`'s.
    fn slot(&self, method: &str) -> Slot {
        let unknown = self.names.len().saturating_sub(1);
        Slot(self.slots.get(method).copied().unwrap_or(unknown))
    }

    fn observe(&self, slot: Slot, seconds: f64, error: bool) {
        let Some(resolved) = self.resolved.get(slot.0) else {
            return;
        };
        let (calls, latency) = resolved.get_or_init(|| {
            let label = self.label(slot);
            (
                self.calls.get_or_create(&label).clone(),
                self.seconds.get_or_create(&label).clone(),
            )
        });
        calls.inc();
        latency.observe(seconds);
        if error {
            self.errors.get_or_create(&self.label(slot)).inc();
        }
    }

    fn label(&self, slot: Slot) -> MethodLabel {
        MethodLabel {
            method: self
                .names
                .get(slot.0)
                .copied()
                .unwrap_or(UNKNOWN)
                .to_owned(),
        }
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
        let slot = metrics.slot(request.method_name());
        async move {
            let started = Instant::now();
            let response = inner.call(request).await;
            metrics.observe(slot, started.elapsed().as_secs_f64(), response.is_error());
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use prometheus_client::encoding::text::encode;

    fn exposition(metrics: &RpcMetrics) -> String {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn a_known_method_counts_under_its_name_and_anything_else_under_unknown() {
        let metrics = RpcMetrics::default();
        for method in ["chain_info", "chain_info", "tx_subscribeStatus", "nope"] {
            metrics.observe(metrics.slot(method), 0.001, method == "nope");
        }
        let text = exposition(&metrics);
        assert!(
            text.contains(r#"tern_rpc_calls_total{method="chain_info"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"tern_rpc_calls_total{method="tx_subscribeStatus"} 1"#));
        assert!(text.contains(r#"tern_rpc_calls_total{method="unknown"} 1"#));
        assert!(text.contains(r#"tern_rpc_errors_total{method="unknown"} 1"#));
        assert!(!text.contains(r#"tern_rpc_errors_total{method="chain_info"}"#));
    }

    /// Regression: names that merely ended like a subscription method once got labels of
    /// their own, so a client could grow the label set without bound.
    #[test]
    fn made_up_names_never_add_a_label() {
        let metrics = RpcMetrics::default();
        for i in 0..100 {
            for method in [
                format!("x{i}_subscribeHeads"),
                format!("y{i}_subscribeStatus"),
            ] {
                metrics.observe(metrics.slot(&method), 0.001, true);
            }
        }
        let text = exposition(&metrics);
        assert_eq!(text.matches("tern_rpc_calls_total{").count(), 1, "{text}");
        assert!(text.contains(r#"tern_rpc_calls_total{method="unknown"} 200"#));
    }
}
