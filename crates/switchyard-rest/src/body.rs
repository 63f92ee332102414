//! [`BodyStream`]: a body read chunk by chunk, the client's own type (so that its API names no
//! HTTP library): an upload sent as it is read, or Discord's answer read as it arrives.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};

type Chunks = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// A body as a stream of chunks: an upload sent without being buffered
/// ([`RestBody::Stream`](crate::RestBody::Stream)), or a response body read as it arrives
/// ([`HttpResponse::into_body`](crate::HttpResponse::into_body)). Read it as a
/// [`Stream`] of `io::Result<Bytes>`; an error ends the body.
pub struct BodyStream {
    inner: Inner,
}

enum Inner {
    /// The whole body, known at once (`None` once read).
    Full(Option<Bytes>),
    /// Chunks as they come.
    Chunks(Chunks),
}

impl BodyStream {
    /// A body made of the chunks of `stream`. An error of the stream ends the body, and the
    /// request or response it belongs to fails.
    pub fn from_stream<S, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let chunks = stream.map(|chunk| chunk.map_err(into_io));
        BodyStream {
            inner: Inner::Chunks(Box::pin(chunks)),
        }
    }

    /// Reads the whole body; an error when the stream fails or the body is longer than
    /// `limit` bytes.
    pub(crate) async fn read_at_most(self, limit: usize) -> io::Result<Bytes> {
        let too_long = || {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the body is longer than {limit} bytes"),
            )
        };
        let mut chunks = match self.inner {
            Inner::Full(bytes) => {
                let bytes = bytes.unwrap_or_default();
                return if bytes.len() > limit {
                    Err(too_long())
                } else {
                    Ok(bytes)
                };
            }
            Inner::Chunks(chunks) => chunks,
        };
        // A body in one chunk is kept as it came; more chunks are copied into one buffer.
        let mut first: Option<Bytes> = None;
        let mut buf: Vec<u8> = Vec::new();
        let mut len = 0usize;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            len = len.saturating_add(chunk.len());
            if len > limit {
                return Err(too_long());
            }
            match first.take() {
                None if buf.is_empty() => first = Some(chunk),
                Some(earlier) => {
                    buf.reserve(len);
                    buf.extend_from_slice(&earlier);
                    buf.extend_from_slice(&chunk);
                }
                None => buf.extend_from_slice(&chunk),
            }
        }
        Ok(first.unwrap_or_else(|| Bytes::from(buf)))
    }
}

/// An error of a body stream as an `io::Error` (kept as it is when it already is one).
fn into_io(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    match e.into().downcast::<io::Error>() {
        Ok(io) => *io,
        Err(other) => io::Error::other(other),
    }
}

impl From<Bytes> for BodyStream {
    fn from(bytes: Bytes) -> Self {
        BodyStream {
            inner: Inner::Full(Some(bytes)),
        }
    }
}

impl Stream for BodyStream {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.get_mut().inner {
            Inner::Full(bytes) => Poll::Ready(bytes.take().filter(|b| !b.is_empty()).map(Ok)),
            Inner::Chunks(chunks) => chunks.as_mut().poll_next(cx),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            Inner::Full(Some(b)) if !b.is_empty() => (1, Some(1)),
            Inner::Full(_) => (0, Some(0)),
            Inner::Chunks(chunks) => chunks.size_hint(),
        }
    }
}

impl fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Full(bytes) => f
                .debug_struct("BodyStream")
                .field("len", &bytes.as_ref().map_or(0, Bytes::len))
                .finish(),
            Inner::Chunks(_) => f.debug_struct("BodyStream").finish_non_exhaustive(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static str]) -> BodyStream {
        let items: Vec<io::Result<Bytes>> = parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p.as_bytes())))
            .collect();
        BodyStream::from_stream(futures_util::stream::iter(items))
    }

    #[tokio::test]
    async fn bodies_are_read_whole_within_their_limit() {
        let one = chunks(&["hello"]).read_at_most(5).await.expect("one chunk");
        assert_eq!(one, "hello");
        let many = chunks(&["he", "ll", "o"])
            .read_at_most(5)
            .await
            .expect("chunks");
        assert_eq!(many, "hello");
        let e = chunks(&["he", "llo!"])
            .read_at_most(5)
            .await
            .expect_err("too long");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let full = BodyStream::from(Bytes::from_static(b"abc"));
        assert_eq!(full.read_at_most(3).await.expect("full"), "abc");
    }

    #[tokio::test]
    async fn a_failing_stream_fails_the_body_with_its_error() {
        let items: Vec<Result<Bytes, io::Error>> = vec![
            Ok(Bytes::from_static(b"a")),
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset")),
        ];
        let body = BodyStream::from_stream(futures_util::stream::iter(items));
        let e = body.read_at_most(10).await.expect_err("broken");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    }
}
