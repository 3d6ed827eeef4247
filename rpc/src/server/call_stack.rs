//! The middleware every call passes, outermost first, over HTTP and WebSocket alike.

use std::sync::Arc;

use crate::server::connections::Load;
use crate::server::each_call::EachCall;
use crate::server::metrics::{Measured, RpcMetrics};
use crate::server::named_params::NamedParams;

/// The per-call stack as one layer, so both transports build the same one. The load
/// counts a batch as one call; below it the batch is taken apart, so each of its calls
/// is measured and has its parameters named.
#[derive(Debug, Clone)]
pub(crate) struct CallStack {
    pub(crate) metrics: Arc<RpcMetrics>,
    /// The largest answer a batch may have (the server's response limit).
    pub(crate) max_response_bytes: usize,
}

impl<S> tower::Layer<S> for CallStack {
    type Service = Load<EachCall<Measured<NamedParams<S>>>>;

    fn layer(&self, inner: S) -> Self::Service {
        Load {
            inner: EachCall {
                inner: Measured {
                    inner: NamedParams { inner },
                    metrics: Arc::clone(&self.metrics),
                },
                max_response_bytes: self.max_response_bytes,
            },
        }
    }
}
