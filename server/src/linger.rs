//! Lingering close for HTTP/1 connections.
//!
//! A server that refuses a request before reading its whole body (`413` for an oversized
//! upload) and then closes the socket with unread bytes in its receive queue makes the kernel
//! send a reset, and a reset discards the answer still in flight: the client sees a dropped
//! connection instead of the coded `413` (and the browser retries an upload that can never
//! fit). So when hyper shuts a connection down, [`Lingering`] first half-closes it (the answer
//! and a FIN go out), then reads and discards what the client still sends, until the client
//! closes, [`LINGER`] passes, or [`LINGER_BYTES`] were discarded — as web servers' "lingering
//! close" does.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use std::future::Future;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Longest wait for the client to stop sending after the answer went out.
pub const LINGER: Duration = Duration::from_secs(2);
/// Most bytes read and discarded while lingering.
pub const LINGER_BYTES: usize = 64 * 1024 * 1024;

/// A stream whose shutdown lingers (see the module docs).
pub struct Lingering<S> {
    inner: S,
    state: State,
}

enum State {
    Open,
    Draining {
        deadline: Pin<Box<Sleep>>,
        discarded: usize,
    },
    Closed,
}

impl<S> Lingering<S> {
    /// Wraps a connection.
    pub fn new(inner: S) -> Self {
        Lingering {
            inner,
            state: State::Open,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Lingering<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Lingering<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Open => {
                    ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
                    this.state = State::Draining {
                        deadline: Box::pin(tokio::time::sleep(LINGER)),
                        discarded: 0,
                    };
                }
                State::Draining {
                    deadline,
                    discarded,
                } => {
                    if deadline.as_mut().poll(cx).is_ready() {
                        this.state = State::Closed;
                        continue;
                    }
                    let mut scratch = [0u8; 16 * 1024];
                    let mut buf = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                        Poll::Pending => return Poll::Pending,
                        // The client closed too, or the connection failed: nothing to wait for.
                        Poll::Ready(Err(_)) => this.state = State::Closed,
                        Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                            this.state = State::Closed
                        }
                        Poll::Ready(Ok(())) => {
                            *discarded += buf.filled().len();
                            if *discarded >= LINGER_BYTES {
                                this.state = State::Closed;
                            }
                        }
                    }
                }
                State::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    const ANSWER: &[u8] = b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n";

    /// The server answers after reading only the start of a 64 MiB request and shuts the
    /// connection down through `Lingering`: a client that writes its whole request first still
    /// reads the whole answer, and each shutdown ends once the client has closed. (The reset
    /// this guards against is timing-dependent; `server/tests/limits.rs` lost one answer in
    /// eight through reqwest without it.)
    #[tokio::test]
    async fn an_early_answer_survives_the_close() {
        const ROUNDS: usize = 10;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            for _ in 0..ROUNDS {
                let (s, _) = listener.accept().await.unwrap();
                let mut s = Lingering::new(s);
                let mut head = [0u8; 64];
                s.read_exact(&mut head).await.unwrap();
                s.write_all(ANSWER).await.unwrap();
                s.shutdown().await.unwrap();
            }
        });
        for round in 0..ROUNDS {
            // Like an HTTP client that sends its whole body before it reads the answer.
            let mut c = TcpStream::connect(addr).await.unwrap();
            let _ = c.write_all(&vec![7u8; 64 << 20]).await;
            let mut got = Vec::new();
            let _ = c.read_to_end(&mut got).await;
            assert_eq!(got, ANSWER, "round {round}");
        }
        server.await.unwrap();
    }
}
