//! The encrypted transport: a Noise XX handshake over TCP, then length-prefixed messages.
//!
//! On the wire every Noise message (handshake or transport) is a 2-byte big-endian length
//! and that many bytes, at most 65,535 (the Noise limit). Until the handshake completes,
//! frames larger than [`HANDSHAKE_MAX_FRAME`] are refused, so an unauthenticated peer can
//! make us buffer almost nothing.
//!
//! After the handshake, one application message is a 4-byte little-endian length and then
//! its bytes, encrypted as a run of Noise transport messages of at most
//! [`MAX_CHUNK_PLAINTEXT`] plaintext bytes each: a message bigger than one Noise message is
//! split and reassembled. A declared length above [`MAX_MESSAGE_LEN`] ends the connection
//! before anything is buffered.
//!
//! The two directions are independent (each has its own key and nonce), so a connection
//! splits into a [`FrameReader`] and a [`FrameWriter`] that separate tasks own.
//!
//! [`FrameReader::read_message`] is cancel-safe: a message that arrives in several Noise
//! messages is reassembled in the reader itself, not in the future reading it, so a
//! `select!` that drops the read for a timer (the ping tick) loses nothing and the stream
//! keeps its framing. Only whole frames are taken off the socket.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use snow::StatelessTransportState;
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::bytes::Bytes;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

pub use super::identity::NOISE_PROTOCOL;
use super::identity::{noise_params, NodeId, NodeKey};

/// Opens a TCP connection to `addr`, leaving from `from` when given (any port), else from
/// the address the system chooses. A node on a host with several addresses picks the one
/// its peers know it by; the testnet gives each node a loopback address of its own, so
/// that its link layer can tell from the source which node dials.
pub async fn dial(addr: SocketAddr, from: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let Some(from) = from else {
        return TcpStream::connect(addr).await;
    };
    let socket = match from {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(addr).await
}

/// Bound into the handshake hash, so a Tern handshake cannot be replayed into another
/// protocol that uses the same Noise pattern.
const PROLOGUE: &[u8] = b"tern/p2p/v1";

/// The largest frame accepted before the handshake completes. The XX messages are 32, 96
/// and 64 bytes with empty payloads.
pub const HANDSHAKE_MAX_FRAME: usize = 256;

/// The largest Noise message.
pub const MAX_NOISE_MESSAGE: usize = 65_535;

/// Noise's authentication tag on every transport message.
const TAG_LEN: usize = 16;

/// The most plaintext one Noise transport message carries.
pub const MAX_CHUNK_PLAINTEXT: usize = MAX_NOISE_MESSAGE - TAG_LEN;

/// The largest application message: a block of the largest size any chain may allow, plus
/// the message tag.
pub const MAX_MESSAGE_LEN: usize = tern_chain::block::MAX_BLOCK_BYTES_LIMIT + 64;

/// The application-message length prefix.
const LENGTH_PREFIX: usize = 4;

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The socket failed or the peer closed it.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection.
    #[error("the peer closed the connection")]
    Closed,
    /// The Noise handshake failed: garbage, a wrong pattern, or a failed authentication.
    #[error("noise handshake failed: {0}")]
    Handshake(String),
    /// A transport message did not decrypt: tampering, or a peer that lost sync.
    #[error("a message failed to decrypt")]
    Decrypt,
    /// A message declared a length above [`MAX_MESSAGE_LEN`].
    #[error("a message of {len} bytes is above the limit of {MAX_MESSAGE_LEN}")]
    MessageTooLarge {
        /// The declared length.
        len: usize,
    },
    /// A message's first frame is too short to hold its length.
    #[error("a message frame is too short to hold its length")]
    MissingLength,
    /// The frames of a message carried more bytes than it declared.
    #[error("a message's frames overrun its declared length")]
    Overrun,
    /// A nonce ran out (2^64 messages): the connection must be re-established.
    #[error("the connection's nonces are exhausted")]
    NoncesExhausted,
}

type Frames = Framed<TcpStream, LengthDelimitedCodec>;

/// Which side of the handshake we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We dialled.
    Initiator,
    /// They dialled.
    Responder,
}

/// Runs the Noise XX handshake on `stream` and returns the authenticated peer id and the
/// two halves of the encrypted connection. The caller bounds it with a timeout.
pub async fn handshake(
    stream: TcpStream,
    key: &NodeKey,
    role: Role,
) -> Result<(NodeId, FrameReader, FrameWriter), TransportError> {
    let _ = stream.set_nodelay(true);
    let mut frames = Framed::new(
        stream,
        LengthDelimitedCodec::builder()
            .length_field_length(2)
            .max_frame_length(HANDSHAKE_MAX_FRAME)
            .new_codec(),
    );
    let noise_error = |e: snow::Error| TransportError::Handshake(e.to_string());
    let builder = snow::Builder::new(noise_params())
        .local_private_key(key.secret())
        .and_then(|b| b.prologue(PROLOGUE))
        .map_err(noise_error)?;
    let mut state = match role {
        Role::Initiator => builder.build_initiator(),
        Role::Responder => builder.build_responder(),
    }
    .map_err(noise_error)?;

    let mut buf = vec![0u8; HANDSHAKE_MAX_FRAME];
    while !state.is_handshake_finished() {
        if state.is_my_turn() {
            let len = state.write_message(&[], &mut buf).map_err(noise_error)?;
            let frame = buf.get(..len).unwrap_or_default();
            frames.send(Bytes::copy_from_slice(frame)).await?;
        } else {
            let frame = next_frame(&mut frames).await?;
            state.read_message(&frame, &mut buf).map_err(noise_error)?;
        }
    }
    let remote = state
        .get_remote_static()
        .and_then(NodeId::from_slice)
        .ok_or_else(|| TransportError::Handshake("no remote static key".into()))?;
    let transport = Arc::new(state.into_stateless_transport_mode().map_err(noise_error)?);
    frames.codec_mut().set_max_frame_length(MAX_NOISE_MESSAGE);
    let (sink, stream) = frames.split();
    Ok((
        remote,
        FrameReader {
            frames: stream,
            noise: Arc::clone(&transport),
            nonce: 0,
            chunk: vec![0u8; MAX_NOISE_MESSAGE],
            wire_bytes: 0,
            partial: None,
        },
        FrameWriter {
            frames: sink,
            noise: transport,
            nonce: 0,
            chunk: vec![0u8; MAX_NOISE_MESSAGE],
            wire_bytes: 0,
        },
    ))
}

async fn next_frame<S>(frames: &mut S) -> Result<tokio_util::bytes::BytesMut, TransportError>
where
    S: futures_util::Stream<Item = Result<tokio_util::bytes::BytesMut, std::io::Error>> + Unpin,
{
    match frames.next().await {
        Some(frame) => Ok(frame?),
        None => Err(TransportError::Closed),
    }
}

/// The receiving half of an encrypted connection.
pub struct FrameReader {
    frames: SplitStream<Frames>,
    noise: Arc<StatelessTransportState>,
    nonce: u64,
    chunk: Vec<u8>,
    wire_bytes: u64,
    /// The message being reassembled: its declared length and the bytes so far.
    partial: Option<(usize, Vec<u8>)>,
}

impl std::fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReader")
            .field("nonce", &self.nonce)
            .finish()
    }
}

impl FrameReader {
    /// Reads one whole application message. Cancel-safe: dropping the future between
    /// the chunks of a message keeps what was read for the next call.
    pub async fn read_message(&mut self) -> Result<Vec<u8>, TransportError> {
        loop {
            // The only await: a whole frame is taken off the socket, or nothing is.
            let chunk = self.read_chunk().await?;
            if let Some(message) = self.reassemble(chunk)? {
                return Ok(message);
            }
        }
    }

    /// Adds one decrypted chunk to the message being reassembled; the message once whole.
    fn reassemble(&mut self, chunk: Vec<u8>) -> Result<Option<Vec<u8>>, TransportError> {
        let (len, mut message) = match self.partial.take() {
            Some((len, mut message)) => {
                if message.len().saturating_add(chunk.len()) > len {
                    return Err(TransportError::Overrun);
                }
                message.extend_from_slice(&chunk);
                (len, message)
            }
            None => {
                let (prefix, rest) = chunk
                    .split_first_chunk::<LENGTH_PREFIX>()
                    .ok_or(TransportError::MissingLength)?;
                let len = u32::from_le_bytes(*prefix) as usize;
                if len > MAX_MESSAGE_LEN {
                    return Err(TransportError::MessageTooLarge { len });
                }
                if rest.len() > len {
                    return Err(TransportError::Overrun);
                }
                // Grown as chunks arrive, not reserved from the declared length: a peer
                // that declares 8 MiB and sends 4 bytes costs us 4 bytes, not 8 MiB.
                let mut message = Vec::with_capacity(len.min(MAX_CHUNK_PLAINTEXT));
                message.extend_from_slice(rest);
                (len, message)
            }
        };
        if message.len() == len {
            return Ok(Some(std::mem::take(&mut message)));
        }
        self.partial = Some((len, message));
        Ok(None)
    }

    /// Every byte read off the socket so far, framing and tags included.
    pub fn wire_bytes(&self) -> u64 {
        self.wire_bytes
    }

    async fn read_chunk(&mut self) -> Result<Vec<u8>, TransportError> {
        let frame = next_frame(&mut self.frames).await?;
        self.wire_bytes = self.wire_bytes.saturating_add(frame.len() as u64 + 2);
        let len = self
            .noise
            .read_message(self.nonce, &frame, &mut self.chunk)
            .map_err(|_| TransportError::Decrypt)?;
        self.nonce = self
            .nonce
            .checked_add(1)
            .ok_or(TransportError::NoncesExhausted)?;
        Ok(self.chunk.get(..len).unwrap_or_default().to_vec())
    }
}

/// The sending half of an encrypted connection.
pub struct FrameWriter {
    frames: SplitSink<Frames, Bytes>,
    noise: Arc<StatelessTransportState>,
    nonce: u64,
    chunk: Vec<u8>,
    wire_bytes: u64,
}

impl std::fmt::Debug for FrameWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameWriter")
            .field("nonce", &self.nonce)
            .finish()
    }
}

impl FrameWriter {
    /// Sends one application message, split into as many Noise messages as it needs.
    pub async fn write_message(&mut self, message: &[u8]) -> Result<(), TransportError> {
        if message.len() > MAX_MESSAGE_LEN {
            return Err(TransportError::MessageTooLarge { len: message.len() });
        }
        // Bounded by MAX_MESSAGE_LEN above, so it fits in a u32.
        let mut plaintext = Vec::with_capacity(LENGTH_PREFIX + message.len());
        plaintext.extend_from_slice(&(message.len() as u32).to_le_bytes());
        plaintext.extend_from_slice(message);
        for piece in plaintext.chunks(MAX_CHUNK_PLAINTEXT) {
            self.feed_chunk(piece).await?;
        }
        self.frames.flush().await?;
        Ok(())
    }

    /// Sends `plaintext` as one Noise transport message, whatever it holds. The protocol
    /// never needs this; tests use it to play a peer that breaks the framing rules.
    pub async fn write_raw_chunk(&mut self, plaintext: &[u8]) -> Result<(), TransportError> {
        self.feed_chunk(plaintext).await?;
        self.frames.flush().await?;
        Ok(())
    }

    /// Every byte written to the socket so far, framing and tags included.
    pub fn wire_bytes(&self) -> u64 {
        self.wire_bytes
    }

    /// Closes the sending direction.
    pub async fn close(&mut self) {
        let _ = self.frames.close().await;
    }

    async fn feed_chunk(&mut self, piece: &[u8]) -> Result<(), TransportError> {
        let len = self
            .noise
            .write_message(self.nonce, piece, &mut self.chunk)
            .map_err(|e| TransportError::Handshake(e.to_string()))?;
        self.nonce = self
            .nonce
            .checked_add(1)
            .ok_or(TransportError::NoncesExhausted)?;
        let frame = Bytes::copy_from_slice(self.chunk.get(..len).unwrap_or_default());
        self.wire_bytes = self.wire_bytes.saturating_add(len as u64 + 2);
        self.frames.feed(frame).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::net::TcpListener;

    async fn pair() -> (
        (NodeId, FrameReader, FrameWriter),
        (NodeId, FrameReader, FrameWriter),
        NodeKey,
        NodeKey,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (a, b) = (NodeKey::generate().unwrap(), NodeKey::generate().unwrap());
        let b2 = b.clone();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            handshake(stream, &b2, Role::Responder).await.unwrap()
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let client = handshake(stream, &a, Role::Initiator).await.unwrap();
        (client, server.await.unwrap(), a, b)
    }

    #[tokio::test]
    async fn both_sides_learn_each_others_id_and_exchange_messages() {
        let ((b_id, mut a_read, mut a_write), (a_id, mut b_read, mut b_write), a, b) = pair().await;
        assert_eq!(b_id, b.id());
        assert_eq!(a_id, a.id());
        a_write.write_message(b"hello").await.unwrap();
        assert_eq!(b_read.read_message().await.unwrap(), b"hello");
        b_write.write_message(b"").await.unwrap();
        assert_eq!(a_read.read_message().await.unwrap(), b"");
    }

    #[tokio::test]
    async fn a_message_larger_than_a_noise_message_is_split_and_reassembled() {
        let ((_, _, mut a_write), (_, mut b_read, _), _, _) = pair().await;
        let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let sender = tokio::spawn(async move {
            a_write.write_message(&big).await.unwrap();
            a_write.write_message(b"after").await.unwrap();
            big
        });
        let received = b_read.read_message().await.unwrap();
        assert_eq!(b_read.read_message().await.unwrap(), b"after");
        assert_eq!(received, sender.await.unwrap());
        assert!(b_read.wire_bytes() > 300_000);
    }

    /// A read dropped between the chunks of a message (a timer won the `select!`) loses
    /// nothing: the next read returns the whole message, and the stream keeps its framing.
    #[tokio::test]
    async fn a_read_cancelled_mid_message_resumes_where_it_stopped() {
        let ((_, _, mut a_write), (_, mut b_read, _), _, _) = pair().await;
        let message: Vec<u8> = (0..100u8).collect();
        let mut first = 100u32.to_le_bytes().to_vec();
        first.extend_from_slice(&message[..40]);
        a_write.write_raw_chunk(&first).await.unwrap();
        let cancelled =
            tokio::time::timeout(Duration::from_millis(50), b_read.read_message()).await;
        assert!(cancelled.is_err(), "the message is not whole yet");
        a_write.write_raw_chunk(&message[40..]).await.unwrap();
        a_write.write_message(b"next").await.unwrap();
        assert_eq!(b_read.read_message().await.unwrap(), message);
        assert_eq!(b_read.read_message().await.unwrap(), b"next");
    }

    #[tokio::test]
    async fn a_declared_length_above_the_limit_ends_the_connection() {
        let ((_, _, mut a_write), (_, mut b_read, _), _, _) = pair().await;
        let len = (MAX_MESSAGE_LEN as u32 + 1).to_le_bytes();
        a_write.write_raw_chunk(&len).await.unwrap();
        assert!(matches!(
            b_read.read_message().await,
            Err(TransportError::MessageTooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn a_large_frame_before_the_handshake_is_refused() {
        use tokio::io::AsyncWriteExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let key = NodeKey::generate().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            handshake(stream, &key, Role::Responder).await
        });
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(&60_000u16.to_be_bytes()).await.unwrap();
        stream.write_all(&[0u8; 1024]).await.unwrap();
        let result = server.await.unwrap();
        assert!(matches!(result, Err(TransportError::Io(_))), "{result:?}");
    }
}
