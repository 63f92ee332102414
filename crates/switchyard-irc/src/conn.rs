//! The byte side of a connection: TCP, TLS when asked (rustls, Mozilla's roots), and the
//! splitting of what the server sends into lines, with a bound on their length.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// A connection's stream, plain or TLS.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How long a TCP connection and TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to `server` (`host:port`), with TLS if given its settings.
pub(crate) async fn connect(
    server: &str,
    tls: Option<&Arc<ClientConfig>>,
) -> io::Result<Box<dyn Stream>> {
    let attempt = async {
        let tcp = TcpStream::connect(server).await?;
        tcp.set_nodelay(true)?;
        let Some(tls) = tls else {
            return Ok(Box::new(tcp) as Box<dyn Stream>);
        };
        let host = server.rsplit_once(':').map_or(server, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let stream = TlsConnector::from(tls.clone()).connect(name, tcp).await?;
        Ok(Box::new(stream) as Box<dyn Stream>)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, attempt)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connecting took over 30 s"))?
}

/// TLS settings trusting Mozilla's roots, or only the certificates in the PEM file `ca`.
pub(crate) fn tls_config(ca: Option<&Path>) -> io::Result<Arc<ClientConfig>> {
    let roots = match ca {
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path).map_err(io::Error::other)? {
                roots
                    .add(cert.map_err(io::Error::other)?)
                    .map_err(io::Error::other)?;
            }
            if roots.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "no certificate in the file",
                ));
            }
            roots
        }
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The longest line accepted: 512 bytes of message and 8191 of IRCv3 tags.
pub(crate) const MAX_LINE: usize = 512 + 8191;

/// What came out of the line splitter.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line, without its CR LF.
    Text(Vec<u8>),
    /// A line longer than [`MAX_LINE`], thrown away.
    Overlong,
}

/// Splits the server's bytes into lines (ended by LF, with or without CR).
#[derive(Debug, Default)]
pub(crate) struct Lines {
    buf: Vec<u8>,
    /// Inside a line already reported as overlong: drop bytes until its end.
    skipping: bool,
}

impl Lines {
    /// Adds bytes read from the server.
    pub(crate) fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete line, if any.
    pub(crate) fn next_line(&mut self) -> Option<Line> {
        loop {
            let Some(end) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > MAX_LINE {
                    self.buf.clear();
                    if !self.skipping {
                        self.skipping = true;
                        return Some(Line::Overlong);
                    }
                }
                return None;
            };
            let mut line: Vec<u8> = self.buf.drain(..=end).collect();
            if std::mem::take(&mut self.skipping) {
                continue;
            }
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.len() > MAX_LINE {
                return Some(Line::Overlong);
            }
            if line.is_empty() {
                continue;
            }
            return Some(Line::Text(line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_on_lf_and_long_ones_are_dropped_once() {
        let mut l = Lines::default();
        l.feed(b"PING :a\r\nPI");
        assert_eq!(l.next_line(), Some(Line::Text(b"PING :a".to_vec())));
        assert_eq!(l.next_line(), None);
        l.feed(b"NG :b\n\r\n\n");
        assert_eq!(l.next_line(), Some(Line::Text(b"PING :b".to_vec())));
        assert_eq!(l.next_line(), None);
        l.feed(&vec![b'x'; MAX_LINE + 10]);
        assert_eq!(l.next_line(), Some(Line::Overlong));
        l.feed(&vec![b'x'; MAX_LINE + 10]);
        assert_eq!(l.next_line(), None, "the same long line is reported once");
        l.feed(b"xx\r\nPING :c\r\n");
        assert_eq!(l.next_line(), Some(Line::Text(b"PING :c".to_vec())));
    }
}
