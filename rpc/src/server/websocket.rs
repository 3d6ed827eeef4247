//! Tern's WebSocket transport: each message answered as an HTTP body is
//! ([`crate::server::message`]: checked as the JSON-RPC 2.0 specification says, then the
//! per-call middleware, then the methods), with the connection's subscriptions.
//!
//! jsonrpsee's WebSocket transport parses each message before any middleware can see
//! it: there a request whose `id` is an object or a fraction was taken for a notification
//! (run, never answered), and a message that is JSON but not a request object (a string,
//! `null`, a `method` that is not a string) was -32700 where the specification says
//! -32600. Owning the message loop also bounds it: a connection has at most
//! [`MAX_CALLS_IN_FLIGHT`] calls running, and its next message is not read until one
//! ends, so a client that sends without reading waits at its own socket.
//!
//! The HTTP side of the handshake stays in front: the caller checks and the admin mark
//! ([`crate::server::callers`], [`crate::server::access`]) and the WebSocket slot ([`crate::server::slots`]) are
//! taken before [`WebSocketLayer`] answers `101 Switching Protocols`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::io::{BufReader, BufWriter};
use hyper_util::rt::TokioIo;
use jsonrpsee::core::middleware::RpcServiceT;
use jsonrpsee::core::traits::IdProvider;
use jsonrpsee::core::BoxError;
use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;
use jsonrpsee::server::{
    ws, BoundedSubscriptions, ConnectionId, HttpBody, HttpRequest, HttpResponse, MethodResponse,
    MethodResponseNotifyTx, MethodSink, Methods, RandomIntegerIdProvider, StopHandle,
};
use jsonrpsee::types::error::reject_too_big_request;
use jsonrpsee::types::Id;
use jsonrpsee::Extensions;
use serde_json::value::RawValue;
use soketto::connection::{Error as WsError, Receiver, Sender};
use soketto::data::ByteSlice125;
use soketto::Incoming;
use tern_tasks::TaskExecutor;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

use crate::server::call_stack::CallStack;
use crate::server::connections::MAX_CALLS_IN_FLIGHT;
use crate::server::dispatch::{Dispatch, Subscriptions};
use crate::server::listener::text_response;
use crate::server::message::{respond, Answer};
use crate::server::spec::Transport;
use crate::server::BoxFuture;

/// Answers and subscription items queued for one connection's writer; beyond, calls and
/// subscriptions wait (a subscription that cannot keep up is dropped by its method).
const ANSWERS_QUEUED: usize = 1_024;

/// How long a server that is stopping lets a connection's running calls finish.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The WebSocket side of the server's limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WebSocketLimits {
    /// The largest message a client may send, in bytes.
    pub(crate) max_message_bytes: u32,
    /// The largest answer, in bytes.
    pub(crate) max_response_bytes: u32,
    /// The most calls in one batch.
    pub(crate) max_batch: u32,
    /// The most subscriptions one connection may hold.
    pub(crate) max_subscriptions: u32,
    /// How often the server pings: a quiet subscriber stays within the idle timeout, and
    /// a client that is gone is found out.
    pub(crate) ping_interval: Duration,
    /// A client that sends nothing for this long, not even the pongs pings ask for, is
    /// gone: its connection is closed.
    pub(crate) silence_limit: Duration,
}

/// What every connection shares.
struct Shared {
    methods: Methods,
    calls: CallStack,
    limits: WebSocketLimits,
    stop: StopHandle,
    id_provider: Arc<dyn IdProvider>,
    next_connection: AtomicUsize,
    tasks: TaskExecutor,
}

/// The HTTP layer that serves WebSocket upgrade requests with this transport and passes
/// every other request on.
#[derive(Clone)]
pub(crate) struct WebSocketLayer {
    shared: Arc<Shared>,
}

impl WebSocketLayer {
    pub(crate) fn new(
        methods: Methods,
        calls: CallStack,
        limits: WebSocketLimits,
        stop: StopHandle,
        tasks: TaskExecutor,
    ) -> WebSocketLayer {
        WebSocketLayer {
            shared: Arc::new(Shared {
                methods,
                calls,
                limits,
                stop,
                id_provider: Arc::new(RandomIntegerIdProvider),
                next_connection: AtomicUsize::new(0),
                tasks,
            }),
        }
    }
}

impl<S> tower::Layer<S> for WebSocketLayer {
    type Service = WebSocketService<S>;

    fn layer(&self, inner: S) -> WebSocketService<S> {
        WebSocketService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// See [`WebSocketLayer`].
#[derive(Clone)]
pub(crate) struct WebSocketService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> tower::Service<HttpRequest<HttpBody>> for WebSocketService<S>
where
    S: tower::Service<HttpRequest<HttpBody>, Response = HttpResponse>,
    S::Error: Into<BoxError> + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = BoxFuture<Result<HttpResponse, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: HttpRequest<HttpBody>) -> Self::Future {
        if !ws::is_upgrade_request(&request) {
            let future = self.inner.call(request);
            return Box::pin(async move { future.await.map_err(Into::into) });
        }
        let response = upgrade(Arc::clone(&self.shared), request);
        Box::pin(std::future::ready(Ok(response)))
    }
}

/// Answers the handshake, and serves the connection once hyper hands it over.
fn upgrade(shared: Arc<Shared>, request: HttpRequest<HttpBody>) -> HttpResponse {
    let mut handshake = soketto::handshake::http::Server::new();
    let response = match handshake.receive_request(&request) {
        Ok(response) => response,
        Err(error) => {
            let text = format!("the WebSocket handshake failed: {error}");
            return text_response(hyper::StatusCode::BAD_REQUEST, &text);
        }
    };
    let tasks = shared.tasks.clone();
    tasks.spawn("rpc websocket", async move {
        let extensions = request.extensions().clone();
        let upgraded = match hyper::upgrade::on(request).await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, "a WebSocket upgrade did not complete");
                return;
            }
        };
        let stream = BufReader::new(BufWriter::new(TokioIo::new(upgraded).compat()));
        let mut builder = handshake.into_builder(stream);
        builder.set_max_message_size(shared.limits.max_message_bytes as usize);
        let (sender, receiver) = builder.finish();
        serve(shared, sender, receiver, extensions).await;
    });
    response.map(|()| HttpBody::default())
}

type Stream = BufReader<BufWriter<Compat<TokioIo<hyper::upgrade::Upgraded>>>>;

/// Why a connection's read loop ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The client closed it, or broke the protocol.
    Client,
    /// The client sent nothing for the silence limit.
    Silent,
    /// The writer stopped: the client does not take what it is sent.
    Writer,
    /// The server is stopping.
    Stopping,
}

/// Reads a connection's messages, one task per message, until it ends; then lets its
/// running calls finish (when the server stops) and closes it.
async fn serve(
    shared: Arc<Shared>,
    sender: Sender<Stream>,
    mut receiver: Receiver<Stream>,
    extensions: Extensions,
) {
    let limits = shared.limits;
    let (queue, answers) = mpsc::channel::<Box<RawValue>>(ANSWERS_QUEUED);
    let sink = MethodSink::new_with_limit(queue, limits.max_response_bytes);
    let dispatch = Dispatch::new(
        shared.methods.clone(),
        ConnectionId(shared.next_connection.fetch_add(1, Ordering::Relaxed)),
        limits.max_response_bytes as usize,
        Some(Subscriptions {
            bound: BoundedSubscriptions::new(limits.max_subscriptions),
            sink: sink.clone(),
            id_provider: Arc::clone(&shared.id_provider),
        }),
    );
    let service = Arc::new(
        RpcServiceBuilder::new()
            .layer(shared.calls.clone())
            .service(dispatch),
    );
    let (finish, finished) = oneshot::channel();
    let tasks = &shared.tasks;
    let writer = tasks.spawn(
        "rpc websocket writer",
        write(answers, sender, limits.ping_interval, finished),
    );
    let running = Arc::new(Semaphore::new(MAX_CALLS_IN_FLIGHT));

    let end = loop {
        // A call's permit before the next message: at the bound, the client waits.
        let permit = tokio::select! {
            permit = Arc::clone(&running).acquire_owned() => permit,
            () = shared.stop.clone().shutdown() => break End::Stopping,
            () = sink.closed() => break End::Writer,
        };
        let Ok(permit) = permit else {
            break End::Stopping;
        };
        let mut message = Vec::new();
        let received = tokio::select! {
            received = tokio::time::timeout(limits.silence_limit, receiver.receive(&mut message)) => received,
            () = shared.stop.clone().shutdown() => break End::Stopping,
            () = sink.closed() => break End::Writer,
        };
        match received {
            Err(_) => break End::Silent,
            Ok(Ok(Incoming::Data(_))) => {
                let call = answer(
                    Arc::clone(&service),
                    sink.clone(),
                    message,
                    extensions.clone(),
                    limits.max_batch,
                    permit,
                );
                tasks.spawn("rpc call", call);
            }
            Ok(Ok(Incoming::Pong(_))) => {}
            Ok(Ok(Incoming::Closed(_)) | Err(WsError::Closed)) => break End::Client,
            Ok(Err(WsError::MessageTooLarge { .. })) => {
                let refusal = reject_too_big_request(limits.max_message_bytes);
                if sink.send_error(Id::Null, refusal).await.is_err() {
                    break End::Writer;
                }
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "a WebSocket connection broke");
                break End::Client;
            }
        }
    };
    tracing::debug!(?end, "a WebSocket connection ends");
    if end == End::Stopping {
        // Calls running finish and their answers go out; subscriptions end with the
        // connection.
        let all = u32::try_from(MAX_CALLS_IN_FLIGHT).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(STOP_GRACE, running.acquire_many(all)).await;
    }
    let _ = finish.send(());
    let _ = writer.await;
}

/// Writes answers and pings until told to finish (then what is queued still goes) or the
/// client stops taking them; then closes the connection.
async fn write(
    mut answers: mpsc::Receiver<Box<RawValue>>,
    mut sender: Sender<Stream>,
    ping_interval: Duration,
    mut finish: oneshot::Receiver<()>,
) {
    let mut pings =
        tokio::time::interval_at(tokio::time::Instant::now() + ping_interval, ping_interval);
    loop {
        let written = tokio::select! {
            answer = answers.recv() => match answer {
                Some(answer) => send(&mut sender, &answer, answers.is_empty()).await,
                None => break,
            },
            _ = pings.tick() => ping(&mut sender).await,
            _ = &mut finish => {
                while let Ok(answer) = answers.try_recv() {
                    if send(&mut sender, &answer, answers.is_empty()).await.is_err() {
                        break;
                    }
                }
                break;
            }
        };
        if let Err(error) = written {
            tracing::debug!(%error, "a WebSocket client does not take what it is sent");
            break;
        }
    }
    // Dropping the queue ends the connection's subscriptions and unanswered calls.
    drop(answers);
    let _ = sender.close().await;
}

/// Sends one answer; flushes when no other is waiting, so a burst goes out in few writes.
async fn send(sender: &mut Sender<Stream>, answer: &RawValue, last: bool) -> Result<(), WsError> {
    sender.send_text(answer.get()).await?;
    if last {
        sender.flush().await?;
    }
    Ok(())
}

async fn ping(sender: &mut Sender<Stream>) -> Result<(), WsError> {
    let empty: &[u8] = &[];
    if let Ok(payload) = ByteSlice125::try_from(empty) {
        sender.send_ping(payload).await?;
    }
    sender.flush().await
}

/// An answer to send, and whom to tell once it is queued.
struct Reply {
    json: Box<RawValue>,
    /// Who waits for the answer to be queued, and whether it was a success.
    sent: Option<(MethodResponseNotifyTx, bool)>,
}

impl Reply {
    /// What to send for `answer`: nothing for a subscription's, which jsonrpsee's
    /// subscription sink sent itself (see [`crate::server::spec`] on why its id is never
    /// a token).
    fn from_answer(answer: Answer) -> Option<Reply> {
        let response = match answer {
            Answer::Method(response) => response,
            Answer::Ours(json) => return Some(Reply { json, sent: None }),
        };
        if response.is_subscription() {
            return None;
        }
        let success = response.is_success();
        let (json, sent, _) = response.into_parts();
        Some(Reply {
            json,
            sent: sent.map(|sent| (sent, success)),
        })
    }
}

/// Runs one message and queues its answer, if it has one; gives up when the connection
/// closes first.
async fn answer<S>(
    service: Arc<S>,
    sink: MethodSink,
    message: Vec<u8>,
    extensions: Extensions,
    max_batch: u32,
    _permit: OwnedSemaphorePermit,
) where
    S: RpcServiceT<MethodResponse = MethodResponse, BatchResponse = MethodResponse> + Send + Sync,
{
    let answer = tokio::select! {
        () = sink.closed() => return,
        answer = respond(&*service, &message, Transport::WebSocket, extensions, max_batch) => answer,
    };
    let Some(Reply { json, sent }) = answer.and_then(Reply::from_answer) else {
        return;
    };
    if sink.send(json).await.is_err() {
        return;
    }
    if let Some((sent, success)) = sent {
        sent.notify(success);
    }
}
