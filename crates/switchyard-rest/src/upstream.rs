//! The connection to Discord: hyper's pooled HTTP/1 client over rustls (or plain HTTP for the
//! fake), the upstream address parsed once, each request's URI built from its parts, and the
//! request body as hyper sends it.
//!
//! This replaces reqwest on the request path: reqwest parsed every URL as a string (url, idna)
//! and wrapped each body and response in layers of its own; here the scheme and authority
//! are parsed at start, and a request costs one path-and-query parse.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::BodyStream;
use crate::error::RestError;

/// How long an idle connection to Discord is kept for reuse.
const POOL_IDLE: Duration = Duration::from_secs(60);

/// Where requests go and the pooled client that sends them.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    http: Client<HttpsConnector<HttpConnector>, UpBody>,
    scheme: Scheme,
    authority: Authority,
    /// A path prefix of the upstream (usually empty), without a trailing `/`.
    prefix: Box<str>,
}

impl Upstream {
    /// A client for `base` (`http[s]://host[:port][/prefix]`), connecting within
    /// `connect_timeout`, connections kept and reused, `TCP_NODELAY` set.
    pub(crate) fn new(base: &str, connect_timeout: Duration) -> Result<Self, RestError> {
        let bad = |why: &str| RestError::Config(format!("upstream {base:?}: {why}"));
        let uri: Uri = base.parse().map_err(|_| bad("not a URL"))?;
        let scheme = uri.scheme().cloned().ok_or_else(|| bad("no scheme"))?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(bad("must start with http:// or https://"));
        }
        let authority = uri.authority().cloned().ok_or_else(|| bad("no host"))?;
        if uri.query().is_some() {
            return Err(bad("a query is not allowed"));
        }
        let prefix = uri.path().trim_end_matches('/').into();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        // rustls with aws-lc-rs and the webpki roots: the TLS stack of the rest of the
        // workspace (gateway, broker, IRC).
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(TokioTimer::new())
            .build(tls);
        Ok(Upstream {
            http,
            scheme,
            authority,
            prefix,
        })
    }

    /// The upstream URI of a request for `path` (starting with `/`) and `query`; characters
    /// a URI may not carry (spaces, non-ASCII such as an emoji in a reaction route) are
    /// percent-encoded, as a browser would.
    pub(crate) fn uri(&self, path: &str, query: Option<&str>) -> Result<Uri, RestError> {
        let len = self.prefix.len() + path.len() + query.map_or(0, |q| q.len() + 1);
        let clean = path.bytes().all(|b| uri_byte(b, false))
            && query.is_none_or(|q| q.bytes().all(|b| uri_byte(b, true)));
        let mut buf = BytesMut::with_capacity(if clean { len } else { len * 3 });
        buf.put_slice(self.prefix.as_bytes());
        encode_into(&mut buf, path, false);
        if let Some(q) = query {
            buf.put_u8(b'?');
            encode_into(&mut buf, q, true);
        }
        let pq = PathAndQuery::from_maybe_shared(buf.freeze()).map_err(|_| {
            RestError::InvalidRequest("the path is not a valid URL path".to_owned())
        })?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
            .map_err(|_| RestError::InvalidRequest("the path is not a valid URL path".to_owned()))
    }

    /// Sends one request; the error is classified as [`RestError::is_upstream`].
    pub(crate) async fn send(&self, req: Request<UpBody>) -> Result<Response<Incoming>, RestError> {
        self.http.request(req).await.map_err(client_error)
    }
}

/// Whether a byte may stand as it is in a URI path (or, with `query`, a query): printable
/// ASCII except what the URL standard's path (query) percent-encode set names.
fn uri_byte(b: u8, query: bool) -> bool {
    match b {
        b'!'..=b'~' => {
            !matches!(b, b'"' | b'<' | b'>' | b'`' | b'{' | b'}' | b'#')
                || (query && matches!(b, b'`' | b'{' | b'}'))
        }
        _ => false,
    }
}

fn encode_into(buf: &mut BytesMut, s: &str, query: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if uri_byte(b, query) {
            buf.put_u8(b);
        } else {
            buf.put_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// The client's error, by what went wrong (its text carries no URL: a webhook's path holds
/// its token).
fn client_error(e: hyper_util::client::legacy::Error) -> RestError {
    let timed_out = {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        let mut found = false;
        while let Some(c) = cause {
            if c.downcast_ref::<io::Error>()
                .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
            {
                found = true;
                break;
            }
            cause = c.source();
        }
        found
    };
    let connect = e.is_connect();
    let source = Box::new(e);
    if timed_out {
        RestError::Timeout { source }
    } else if connect {
        RestError::Connect { source }
    } else {
        RestError::Interrupted { source }
    }
}

/// A request body as hyper sends it: none, one buffer (its length known, so it goes with a
/// `Content-Length`), or an upload streamed as it is read.
#[derive(Debug)]
pub(crate) enum UpBody {
    /// No body at all (a GET).
    Empty,
    /// The whole body (`None` once sent); empty for a POST without a body, which Discord
    /// wants with `Content-Length: 0`.
    Full(Option<Bytes>),
    /// Chunks as they are read.
    Stream(BodyStream),
}

impl Body for UpBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        use futures_util::Stream as _;
        match self.get_mut() {
            UpBody::Empty => Poll::Ready(None),
            UpBody::Full(b) => Poll::Ready(
                b.take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            UpBody::Stream(s) => Pin::new(s)
                .poll_next(cx)
                .map(|c| c.map(|c| c.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpBody::Empty => true,
            UpBody::Full(b) => b.as_ref().is_none_or(Bytes::is_empty),
            UpBody::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpBody::Empty => SizeHint::with_exact(0),
            UpBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            UpBody::Stream(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_built_from_parts_and_encoded_where_needed() {
        let up =
            Upstream::new("http://127.0.0.1:9/base/", Duration::from_secs(1)).expect("upstream");
        let uri = up.uri("/api/v10/channels/1", Some("limit=5")).expect("uri");
        assert_eq!(
            uri.to_string(),
            "http://127.0.0.1:9/base/api/v10/channels/1?limit=5"
        );
        let uri = up
            .uri("/api/v10/channels/1/messages/2/reactions/👍 x/@me", None)
            .expect("uri");
        assert_eq!(
            uri.path(),
            "/base/api/v10/channels/1/messages/2/reactions/%F0%9F%91%8D%20x/@me"
        );
        let uri = up.uri("/a", Some("q=a b&r={1}")).expect("uri");
        assert_eq!(uri.query(), Some("q=a%20b&r={1}"));
        assert!(Upstream::new("ftp://x", Duration::from_secs(1)).is_err());
        assert!(Upstream::new("discord.com", Duration::from_secs(1)).is_err());
    }
}
