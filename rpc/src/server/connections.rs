//! What one RPC client may hold: the limits on its connections (counted by
//! [`crate::server::slots`]), the calls and answer bytes one connection may have outstanding, and
//! a socket wrapper that makes a connection cost its sender.
//!
//! jsonrpsee reads a WebSocket as fast as the client writes and starts a task per
//! message, whether or not the client reads the answers: a client that pipelines and
//! never reads grew the node by gigabytes. [`MeteredStream`] sits under jsonrpsee, on the
//! TCP socket itself, and applies the one backpressure that always works: while a write
//! to the client is blocked (its receive window is full), nothing more is read from it.
//! A write blocked for [`ConnectionLimits::write_timeout`], or a connection with no bytes
//! either way for [`ConnectionLimits::idle_timeout`], ends the connection, and with it
//! every task and answer it held.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use jsonrpsee::core::middleware::{Batch, Notification, RpcServiceT};
use jsonrpsee::server::MethodResponse;
use jsonrpsee::types::Request;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pub use crate::server::limits::ConnectionLimits;
use crate::server::slots::Slot;

/// The most calls one connection may have running; beyond, nothing more is read from it.
pub const MAX_CALLS_IN_FLIGHT: usize = 64;

/// The most answer bytes one connection may have waiting to be written; beyond, nothing
/// more is read from it.
pub const MAX_PENDING_ANSWER_BYTES: usize = 4 << 20;

/// What one connection has asked of the node and not yet taken: calls running and answer
/// bytes not yet written. The RPC middleware ([`Load`]) counts calls and answers in;
/// the socket counts bytes out and stops reading while either is over its bound, so a
/// client that sends faster than it reads is held at its own socket however fast the
/// node is.
#[derive(Debug, Default)]
pub struct ConnectionLoad {
    calls: AtomicUsize,
    pending_bytes: AtomicUsize,
    parked_read: Mutex<Option<Waker>>,
}

impl ConnectionLoad {
    fn over(&self) -> bool {
        self.calls.load(Ordering::Relaxed) >= MAX_CALLS_IN_FLIGHT
            || self.pending_bytes.load(Ordering::Relaxed) >= MAX_PENDING_ANSWER_BYTES
    }

    fn park_reader(&self, waker: &Waker) {
        *self.parked_read.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker.clone());
    }

    fn wake_reader(&self) {
        let parked = self
            .parked_read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(waker) = parked {
            waker.wake();
        }
    }

    /// A call started.
    pub(crate) fn call_started(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// A call ended with an answer of `bytes` to write.
    pub(crate) fn call_answered(&self, bytes: usize) {
        self.pending_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.calls.fetch_sub(1, Ordering::Relaxed);
        self.wake_reader();
    }

    fn written(&self, bytes: usize) {
        let _ = self
            .pending_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |pending| {
                Some(pending.saturating_sub(bytes))
            });
        self.wake_reader();
    }
}

/// The RPC middleware that counts each call of a connection into its [`ConnectionLoad`]
/// (found in the call's extensions, put there by the accept loop).
#[derive(Debug, Clone)]
pub(crate) struct Load<S> {
    pub(crate) inner: S,
}

impl<S> RpcServiceT for Load<S>
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
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let inner = self.inner.clone();
        let load = request.extensions().get::<Arc<ConnectionLoad>>().cloned();
        async move {
            if let Some(load) = &load {
                load.call_started();
            }
            let response = inner.call(request).await;
            if let Some(load) = &load {
                load.call_answered(response.as_json().get().len());
            }
            response
        }
    }

    fn batch<'a>(
        &self,
        mut requests: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        // A batch is one message and one answer: counted as one call.
        let inner = self.inner.clone();
        let load = requests.extensions().get::<Arc<ConnectionLoad>>().cloned();
        async move {
            if let Some(load) = &load {
                load.call_started();
            }
            let response = inner.batch(requests).await;
            if let Some(load) = &load {
                load.call_answered(response.as_json().get().len());
            }
            response
        }
    }

    fn notification<'a>(
        &self,
        notification: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        // Notifications are run too (see `crate::server::each_call`): they count as calls.
        let inner = self.inner.clone();
        let load = notification
            .extensions()
            .get::<Arc<ConnectionLoad>>()
            .cloned();
        async move {
            if let Some(load) = &load {
                load.call_started();
            }
            let response = inner.notification(notification).await;
            if let Some(load) = &load {
                load.call_answered(0);
            }
            response
        }
    }
}

/// A client's socket, with its slot, its deadlines and read backpressure (see the
/// module doc). Dropped, whether by hyper or by the WebSocket task that took it over,
/// it frees the slot.
pub(crate) struct MeteredStream<S> {
    inner: S,
    /// Held for as long as the socket lives: its drop frees the slot. It also says
    /// whether the connection waits for a request, and how many it started.
    slot: Arc<Slot>,
    idle_timeout: Duration,
    write_timeout: Duration,
    /// How long a request's head may take to arrive, once its first bytes have.
    head_deadline: Duration,
    /// When a byte last moved either way.
    last_moved: Instant,
    /// Since when a request's head has been arriving, and how many requests the
    /// connection had started then: once one more has started, that head arrived.
    head: Option<(Instant, u64)>,
    /// Fires when a deadline may have passed: the idle one, or the head's. It is not
    /// moved on every byte or every request (a timer wheel update each, a tenth of a
    /// bare call's cost); when it fires it looks at `last_moved` and `head` and either
    /// ends the connection or sets itself to the next deadline. A head that begins
    /// between two looks is seen at the next, so a head that never completes is cut
    /// within twice `head_deadline`.
    timer: Pin<Box<Sleep>>,
    /// While a write is blocked: when it fails.
    write_deadline: Option<Pin<Box<Sleep>>>,
    /// The calls and answers of this connection, and the read parked on them or on a
    /// blocked write.
    load: Arc<ConnectionLoad>,
}

impl<S> MeteredStream<S> {
    pub(crate) fn new(
        inner: S,
        slot: Arc<Slot>,
        load: Arc<ConnectionLoad>,
        limits: &ConnectionLimits,
    ) -> MeteredStream<S> {
        MeteredStream {
            inner,
            slot,
            idle_timeout: limits.idle_timeout,
            write_timeout: limits.write_timeout,
            head_deadline: limits.request_deadline,
            last_moved: Instant::now(),
            head: None,
            timer: Box::pin(tokio::time::sleep(
                limits.idle_timeout.min(limits.request_deadline),
            )),
            write_deadline: None,
            load,
        }
    }

    fn moved(&mut self) {
        self.last_moved = Instant::now();
    }

    /// Bytes arrived: if the connection waits for a request, they begin its head.
    fn read_some(&mut self) {
        self.moved();
        let started = self.slot.requests_started();
        let arrived = self.head.is_some_and(|(_, then)| started > then);
        if self.head.is_none() || arrived {
            self.head = self
                .slot
                .between_requests()
                .then_some((self.last_moved, started));
        }
    }

    /// Ends the connection if nothing moved for the idle timeout, or a request's head
    /// has been arriving for longer than its deadline (slowloris: a head sent a byte at
    /// a time keeps the connection from idling, never from this).
    fn check_deadlines(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        while self.timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            let started = self.slot.requests_started();
            if self.head.is_some_and(|(_, then)| started > then) {
                self.head = None;
            }
            let idle_deadline = self.last_moved + self.idle_timeout;
            if idle_deadline <= now {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no bytes either way within the idle timeout",
                ));
            }
            let head_deadline = match self.head {
                Some((since, _)) if since + self.head_deadline <= now => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "a request's headers did not arrive within the request deadline",
                    ));
                }
                Some((since, _)) => since + self.head_deadline,
                // A head that begins before the next look is checked then.
                None => now + self.head_deadline,
            };
            self.timer.as_mut().reset(idle_deadline.min(head_deadline));
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for MeteredStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.check_deadlines(cx)?;
        // While the client is not taking what we send, or has too much asked and not
        // yet taken, read nothing more from it: it cannot queue more work than that.
        let held = |this: &Self| this.write_deadline.is_some() || this.load.over();
        if held(this) {
            this.load.park_reader(cx.waker());
            // The write or the load may have moved meanwhile; look again rather than
            // sleep forever.
            if held(this) {
                return Poll::Pending;
            }
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.read_some();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for MeteredStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.check_deadlines(cx)?;
        match Pin::new(&mut this.inner).poll_write(cx, data) {
            Poll::Pending => {
                let timeout = this.write_timeout;
                let deadline = this
                    .write_deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client took no bytes within the write timeout",
                    )));
                }
                Poll::Pending
            }
            ready => {
                if let Poll::Ready(Ok(n)) = ready {
                    if n > 0 {
                        this.moved();
                        this.load.written(n);
                    }
                }
                this.write_deadline = None;
                this.load.wake_reader();
                ready
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::server::slots::Slots;

    /// A socket whose peer never reads: a small in-memory pipe nobody drains.
    fn stalled(
        limits: &ConnectionLimits,
    ) -> (
        MeteredStream<tokio::io::DuplexStream>,
        tokio::io::DuplexStream,
    ) {
        let (ours, theirs) = tokio::io::duplex(64);
        let slots = Slots::new(*limits);
        let slot = slots.admit("127.0.0.1".parse().unwrap()).unwrap();
        let load = Arc::new(ConnectionLoad::default());
        (MeteredStream::new(ours, slot, load, limits), theirs)
    }

    #[tokio::test(start_paused = true)]
    async fn a_blocked_write_stops_reads_and_ends_at_the_write_timeout() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let limits = ConnectionLimits::default();
        let (mut stream, mut peer) = stalled(&limits);
        peer.write_all(b"more requests").await.unwrap();
        // Fill the pipe; the next write blocks.
        stream.write_all(&[0; 64]).await.unwrap();
        let blocked =
            tokio::time::timeout(Duration::from_millis(10), stream.write_all(&[0; 1])).await;
        assert!(blocked.is_err());
        // While it is blocked, what the peer sent is not read.
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await;
        assert!(read.is_err(), "read while a write was blocked");
        // The blocked write fails at the write timeout.
        let error = stream.write_all(&[0; 1]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_drained_write_lets_reads_go_on() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let limits = ConnectionLimits::default();
        let (mut stream, mut peer) = stalled(&limits);
        peer.write_all(b"hi").await.unwrap();
        stream.write_all(&[0; 64]).await.unwrap();
        let write = tokio::spawn(async move {
            stream.write_all(&[0; 8]).await.unwrap();
            let mut buf = [0u8; 2];
            stream.read_exact(&mut buf).await.unwrap();
            buf
        });
        let mut drained = [0u8; 72];
        peer.read_exact(&mut drained).await.unwrap();
        assert_eq!(&write.await.unwrap(), b"hi");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_ends_at_the_idle_timeout() {
        use tokio::io::AsyncReadExt;
        let limits = ConnectionLimits::default();
        let (mut stream, _peer) = stalled(&limits);
        let started = Instant::now();
        let error = stream.read(&mut [0u8; 8]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= limits.idle_timeout);
    }

    /// A head sent a byte a second never lets the connection idle, and is cut all the
    /// same: after the request deadline, at most twice it.
    #[tokio::test(start_paused = true)]
    async fn a_head_that_trickles_is_cut_at_the_request_deadline() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let limits = ConnectionLimits::default();
        let (mut stream, mut peer) = stalled(&limits);
        let trickle = tokio::spawn(async move {
            while peer.write_all(b"x").await.is_ok() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let started = Instant::now();
        let error = loop {
            match stream.read(&mut [0u8; 8]).await {
                Ok(_) => continue,
                Err(error) => break error,
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(error.to_string().contains("headers"), "{error}");
        let took = started.elapsed();
        assert!(took >= limits.request_deadline, "{took:?}");
        assert!(took <= limits.request_deadline * 2, "{took:?}");
        drop(stream);
        trickle.await.unwrap();
    }

    /// Heads that arrive whole start their requests: a connection that keeps asking,
    /// slowly, for far longer than the request deadline is never cut.
    #[tokio::test(start_paused = true)]
    async fn requests_that_start_keep_their_connection() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let limits = ConnectionLimits::default();
        let (mut stream, mut peer) = stalled(&limits);
        let slot = Arc::clone(&stream.slot);
        let asked = Instant::now();
        while asked.elapsed() < limits.request_deadline * 5 {
            peer.write_all(b"a head").await.unwrap();
            let mut head = [0u8; 6];
            stream.read_exact(&mut head).await.unwrap();
            assert!(slot.request_started());
            tokio::time::sleep(Duration::from_secs(3)).await;
            slot.request_ended();
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn too_many_calls_in_flight_stop_reads_until_one_is_answered() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let limits = ConnectionLimits::default();
        let (ours, mut peer) = tokio::io::duplex(1 << 16);
        let slots = Slots::new(limits);
        let slot = slots.admit("127.0.0.1".parse().unwrap()).unwrap();
        let load = Arc::new(ConnectionLoad::default());
        let mut stream = MeteredStream::new(ours, slot, Arc::clone(&load), &limits);
        peer.write_all(b"next call").await.unwrap();
        for _ in 0..MAX_CALLS_IN_FLIGHT {
            load.call_started();
        }
        let mut buf = [0u8; 9];
        let read = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await;
        assert!(read.is_err(), "read with every call slot taken");
        let reader = tokio::spawn(async move {
            stream.read_exact(&mut buf).await.unwrap();
            buf
        });
        tokio::task::yield_now().await;
        load.call_answered(10);
        assert_eq!(&reader.await.unwrap(), b"next call");
    }
}
