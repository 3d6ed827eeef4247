//! Moves one connection's bytes in one direction through a one-way link: read from the
//! sender, hold each chunk until the link says it arrives, write it to the receiver.
//!
//! Bytes are held, never dropped or altered: the nodes speak Noise over TCP, and TCP
//! never hands an application a stream with holes. A cut stops both reading and writing
//! (no byte crosses, and the sender's socket fills as a sender's does when its packets
//! vanish); when the link heals, what was held goes on, as TCP's retransmissions would.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::one_way::{OneWay, Setting};

/// The most bytes read at once: one chunk.
const CHUNK: usize = 16 * 1024;

/// Chunks held per connection and direction: 512 KiB, a TCP window's worth. A sender
/// faster than the link waits for room, as it would for a window.
const CHUNKS_HELD: usize = 32;

/// A chunk read, and when it reaches the far end.
struct Held {
    bytes: Vec<u8>,
    arrives: Instant,
}

/// Carries bytes from `from` to `to` over `link` until `from` ends (then shuts `to`'s
/// write side down) or either fails.
pub(super) async fn pump<R, W>(mut from: R, mut to: W, link: Arc<OneWay>) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (hold, mut held) = mpsc::channel::<Held>(CHUNKS_HELD);
    let mut reading_setting = link.watch();
    let mut writing_setting = link.watch();
    let reading_link = Arc::clone(&link);
    let read = async move {
        let mut last = Instant::now();
        let mut buffer = vec![0u8; CHUNK];
        loop {
            wait_until_open(&mut reading_setting).await?;
            let n = from.read(&mut buffer).await?;
            if n == 0 {
                return Ok::<(), std::io::Error>(());
            }
            // In order: a chunk never overtakes the one read before it.
            let arrives = reading_link.arrival(n, Instant::now()).max(last);
            last = arrives;
            let chunk = Held {
                bytes: buffer.get(..n).unwrap_or_default().to_vec(),
                arrives,
            };
            if hold.send(chunk).await.is_err() {
                return Ok(());
            }
        }
    };
    let write = async move {
        while let Some(chunk) = held.recv().await {
            tokio::time::sleep_until(chunk.arrives).await;
            wait_until_open(&mut writing_setting).await?;
            to.write_all(&chunk.bytes).await?;
            link.delivered(chunk.bytes.len());
        }
        to.shutdown().await
    };
    tokio::pin!(read, write);
    tokio::select! {
        // The reader's end drops its sender, so the writer delivers what is held, then
        // shuts down.
        read = &mut read => {
            read?;
            write.await
        }
        // Only a failure ends the writer before the reader.
        write = &mut write => write,
    }
}

/// Returns once the link is not cut; an error if the link is gone.
async fn wait_until_open(setting: &mut watch::Receiver<Setting>) -> std::io::Result<()> {
    setting
        .wait_for(|s| !s.cut)
        .await
        .map(|_| ())
        .map_err(|_| std::io::Error::other("the link layer stopped"))
}
