//! Reply encoding for RESP2 and RESP3: the frames the listener writes, in the protocol the
//! connection negotiated with HELLO (nulls, maps, pushes and verbatim strings differ).

use bytes::{BufMut, BytesMut};

use super::super::RespDelivery;

/// The protocol version a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    /// RESP2, the default.
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

/// Writes reply frames into a connection's output buffer.
pub(crate) struct Out<'a> {
    pub(crate) buf: &'a mut BytesMut,
    pub(crate) proto: Proto,
}

impl Out<'_> {
    fn header(&mut self, kind: u8, n: usize) {
        self.buf.put_u8(kind);
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+text`.
    pub(crate) fn simple(&mut self, text: &str) {
        self.buf.put_u8(b'+');
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+OK`.
    pub(crate) fn ok(&mut self) {
        self.simple("OK");
    }

    /// An error, as Redis's `addReplyError`: `-ERR message` unless `message` starts with its
    /// own `-CODE`; CR and LF become spaces so the frame stays valid.
    pub(crate) fn error(&mut self, message: &[u8]) {
        self.buf.put_u8(b'-');
        let body = match message.strip_prefix(b"-") {
            Some(rest) => rest,
            None => {
                self.buf.extend_from_slice(b"ERR ");
                message
            }
        };
        self.buf.extend(
            body.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `:n`.
    pub(crate) fn int(&mut self, n: i64) {
        self.buf.put_u8(b':');
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `$len\r\nbytes`.
    pub(crate) fn bulk(&mut self, bytes: &[u8]) {
        self.header(b'$', bytes.len());
        self.buf.extend_from_slice(bytes);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    pub(crate) fn null(&mut self) {
        match self.proto {
            Proto::Resp2 => self.buf.extend_from_slice(b"$-1\r\n"),
            Proto::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    /// An array of `n` elements.
    pub(crate) fn array(&mut self, n: usize) {
        self.header(b'*', n);
    }

    /// A map of `n` pairs: `%n` in RESP3, an array of `2n` in RESP2.
    pub(crate) fn map(&mut self, n: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', 2 * n),
            Proto::Resp3 => self.header(b'%', n),
        }
    }

    /// A push of `n` elements: `>n` in RESP3, an array in RESP2.
    pub(crate) fn push(&mut self, n: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', n),
            Proto::Resp3 => self.header(b'>', n),
        }
    }

    /// Text as a bulk string in RESP2, a `txt` verbatim string in RESP3.
    pub(crate) fn verbatim(&mut self, text: &str) {
        match self.proto {
            Proto::Resp2 => self.bulk(text.as_bytes()),
            Proto::Resp3 => {
                self.header(b'=', text.len() + 4);
                self.buf.extend_from_slice(b"txt:");
                self.buf.extend_from_slice(text.as_bytes());
                self.buf.extend_from_slice(b"\r\n");
            }
        }
    }

    /// A (p)subscribe or (p)unsubscribe confirmation: `[kind, name or null, count]`.
    pub(crate) fn subscription(&mut self, kind: &str, name: Option<&[u8]>, count: usize) {
        self.push(3);
        self.bulk(kind.as_bytes());
        match name {
            Some(name) => self.bulk(name),
            None => self.null(),
        }
        self.int(count as i64);
    }

    /// A published message, as Redis pushes it to a subscriber.
    pub(crate) fn delivery(&mut self, delivery: &RespDelivery) {
        match delivery {
            RespDelivery::Message { channel, payload } => {
                self.push(3);
                self.bulk(b"message");
                self.bulk(channel);
                self.bulk(payload);
            }
            RespDelivery::PMessage {
                pattern,
                channel,
                payload,
            } => {
                self.push(4);
                self.bulk(b"pmessage");
                self.bulk(pattern);
                self.bulk(channel);
                self.bulk(payload);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_per_protocol() {
        let mut buf = BytesMut::new();
        let mut out = Out {
            buf: &mut buf,
            proto: Proto::Resp2,
        };
        out.subscription("unsubscribe", None, 0);
        out.error(b"bad\r\nthing");
        out.error(b"-NOAUTH x");
        assert_eq!(
            &buf[..],
            b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n-ERR bad  thing\r\n-NOAUTH x\r\n"
        );
        let mut buf = BytesMut::new();
        let mut out = Out {
            buf: &mut buf,
            proto: Proto::Resp3,
        };
        out.subscription("unsubscribe", None, 0);
        out.map(1);
        out.verbatim("a");
        assert_eq!(
            &buf[..],
            b">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n%1\r\n=5\r\ntxt:a\r\n"
        );
    }
}
