//! The RPC server's own accept loop, under its HTTP service: every connection gets a
//! slot ([`crate::server::connections`]) before a byte is read, a deadline for its headers and
//! its body, and a socket that makes a non-reading client wait instead of the node.
//!
//! jsonrpsee's built-in loop has one connection limit for HTTP and WebSocket together and
//! no deadlines: 100 idle WebSockets or 100 bodies sent at a byte a second locked every
//! other client out, and at the file-descriptor limit its accept loop spun. Here the
//! limits are separate and per address, a refused connection is answered and closed at
//! once, and an accept that fails for want of descriptors backs off.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use jsonrpsee::core::BoxError;
use jsonrpsee::server::{ws, HttpBody, HttpRequest, HttpResponse, StopHandle};
use tern_tasks::fault::FaultPoint;
use tern_tasks::TaskExecutor;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::server::connections::{ConnectionLoad, MeteredStream};
use crate::server::slots::{Slot, SlotRefusal, Slots};
use crate::server::BoxFuture;

/// After an accept fails (no descriptors left, most likely), the first pause; it doubles
/// up to [`ACCEPT_BACKOFF_MAX`] while failures go on.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The accept loop and what it needs: it accepts connections on `listener` until `stop`
/// fires, and serves each in a task of its own in `tasks`' tree.
pub(crate) struct AcceptLoop {
    pub(crate) listener: TcpListener,
    pub(crate) slots: Arc<Slots>,
    pub(crate) max_request_bytes: u32,
    pub(crate) stop: StopHandle,
    pub(crate) tasks: TaskExecutor,
    /// Passed once per connection accepted (debug builds' fault injection).
    pub(crate) fault: FaultPoint,
}

impl AcceptLoop {
    /// Runs the loop, serving each connection with a clone of `service`.
    pub(crate) async fn run<S>(self, service: S)
    where
        S: tower::Service<HttpRequest<HttpBody>, Response = HttpResponse> + Clone + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        let AcceptLoop {
            listener,
            slots,
            max_request_bytes,
            stop,
            tasks,
            fault,
        } = self;
        let mut backoff = ACCEPT_BACKOFF_MIN;
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = stop.clone().shutdown() => return,
            };
            let (socket, peer) = match accepted {
                Ok(accepted) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    accepted
                }
                Err(error) => {
                    // EMFILE and ENFILE come back at once for as long as descriptors are
                    // short: without a pause the loop spins a core and starves the node.
                    tracing::warn!(%error, pause = ?backoff, "the RPC server cannot accept connections");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            };
            fault.hit();
            let slot = match slots.admit(peer.ip()) {
                Ok(slot) => slot,
                Err(refusal) => {
                    tasks.spawn("rpc refusal", refuse(socket, peer, refusal));
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let limits = *slots.limits();
            let load = Arc::new(ConnectionLoad::default());
            let service = ConnectionService {
                inner: service.clone(),
                slot: Arc::clone(&slot),
                load: Arc::clone(&load),
                deadline: limits.request_deadline,
                max_request_bytes,
            };
            let stream = MeteredStream::new(socket, Arc::clone(&slot), load, &limits);
            let serving = serve(stream, service, slot, stop.clone(), tasks.clone());
            tasks.spawn("rpc connection", serving);
        }
    }
}

/// Runs the tasks hyper starts for a connection (HTTP/2 streams) in the node's task tree.
#[derive(Debug, Clone)]
struct InTaskTree(TaskExecutor);

impl<F> hyper::rt::Executor<F> for InTaskTree
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        self.0.spawn("rpc http/2 stream", async move {
            let _ = future.await;
        });
    }
}

/// Answers a connection that has no slot with 503 and the reason, and closes it.
async fn refuse(mut socket: TcpStream, peer: SocketAddr, refusal: SlotRefusal) {
    tracing::debug!(%peer, %refusal, "refused an RPC connection");
    let body = format!("{refusal}\n");
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        socket.write_all(response.as_bytes()),
    )
    .await;
}

/// How long an evicted connection may take to finish what it was writing. It was waiting
/// for a request when evicted, so this is the last answer's tail at most.
const EVICTED_GRACE: Duration = Duration::from_secs(1);

/// Serves one connection, HTTP/1 or HTTP/2, with upgrades, until it ends, the server
/// stops (then gracefully: requests in progress finish), or its slot is given to a new
/// client (then at once: it had no request).
async fn serve<S>(
    stream: MeteredStream<TcpStream>,
    service: ConnectionService<S>,
    slot: Arc<Slot>,
    stop: StopHandle,
    tasks: TaskExecutor,
) where
    S: tower::Service<HttpRequest<HttpBody>, Response = HttpResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    let mut builder = hyper_util::server::conn::auto::Builder::new(InTaskTree(tasks));
    // The socket keeps the head's deadline ([`MeteredStream`]): hyper's own timer cost
    // a timer wheel entry made and dropped for every request.
    builder.http1().header_read_timeout(None);
    let service = hyper_util::service::TowerToHyperService::new(service);
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = stop.shutdown() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
        () = slot.evicted() => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(EVICTED_GRACE, connection).await;
        }
    }
}

/// The per-connection layer in front of the server's service: takes the WebSocket slot
/// on an upgrade, and reads an HTTP body whole within the deadline before any layer
/// sees it.
#[derive(Clone)]
struct ConnectionService<S> {
    inner: S,
    slot: Arc<Slot>,
    /// Given to every call of the connection, through the request's extensions.
    load: Arc<ConnectionLoad>,
    deadline: Duration,
    max_request_bytes: u32,
}

/// A request in progress on a connection, for as long as its answer is being made: a
/// connection with one is never evicted.
struct Serving<'a>(&'a Slot);

impl<'a> Serving<'a> {
    fn start(slot: &'a Slot) -> Option<Serving<'a>> {
        slot.request_started().then_some(Serving(slot))
    }
}

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// A one-line plain-text answer: how the server says why it refused something.
pub(crate) fn text_response(status: hyper::StatusCode, text: &str) -> HttpResponse {
    let mut response = HttpResponse::new(HttpBody::from(format!("{text}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl<S> tower::Service<HttpRequest<hyper::body::Incoming>> for ConnectionService<S>
where
    S: tower::Service<HttpRequest<HttpBody>, Response = HttpResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = BoxFuture<Result<HttpResponse, BoxError>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: HttpRequest<hyper::body::Incoming>) -> Self::Future {
        let this = self.clone();
        request.extensions_mut().insert(Arc::clone(&this.load));
        Box::pin(async move {
            let Some(_serving) = Serving::start(&this.slot) else {
                // Evicted between its head and now: it is closing; the client retries.
                let mut response = text_response(
                    hyper::StatusCode::SERVICE_UNAVAILABLE,
                    "this connection was closed for a new client; retry on a new one",
                );
                response.headers_mut().insert(
                    hyper::header::CONNECTION,
                    hyper::header::HeaderValue::from_static("close"),
                );
                return Ok(response);
            };
            let request = if ws::is_upgrade_request(&request) {
                if let Err(refusal) = this.slot.upgrade() {
                    let status = hyper::StatusCode::TOO_MANY_REQUESTS;
                    return Ok(text_response(status, &refusal.to_string()));
                }
                request.map(HttpBody::new)
            } else {
                let (parts, body) = request.into_parts();
                // A body declared larger than the limit is refused from its header, not
                // waited for; the connection then closes, its unread body with it.
                let declared = parts
                    .headers
                    .get(hyper::header::CONTENT_LENGTH)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.trim().parse::<u64>().ok());
                if let Some(declared) = declared.filter(|d| *d > this.max_request_bytes as u64) {
                    let text = format!(
                        "the request body is {declared} bytes; the most this node reads is {}",
                        this.max_request_bytes
                    );
                    let mut response = text_response(hyper::StatusCode::PAYLOAD_TOO_LARGE, &text);
                    response.headers_mut().insert(
                        hyper::header::CONNECTION,
                        hyper::header::HeaderValue::from_static("close"),
                    );
                    return Ok(response);
                }
                let limited = http_body_util::Limited::new(body, this.max_request_bytes as usize);
                match tokio::time::timeout(this.deadline, limited.collect()).await {
                    Err(_) => {
                        let text =
                            format!("the request body did not arrive within {:?}", this.deadline);
                        return Ok(text_response(hyper::StatusCode::REQUEST_TIMEOUT, &text));
                    }
                    Ok(Err(error)) => {
                        let status = hyper::StatusCode::PAYLOAD_TOO_LARGE;
                        return Ok(text_response(status, &error.to_string()));
                    }
                    Ok(Ok(collected)) => HttpRequest::from_parts(
                        parts,
                        HttpBody::new(http_body_util::Full::new(collected.to_bytes())),
                    ),
                }
            };
            let mut inner = this.inner;
            std::future::poll_fn(|cx| inner.poll_ready(cx))
                .await
                .map_err(Into::into)?;
            inner.call(request).await.map_err(Into::into)
        })
    }
}
