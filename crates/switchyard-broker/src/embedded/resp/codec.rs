//! Request parsing: Redis's multibulk (`*N\r\n$L\r\n...`) and inline (telnet-style) requests,
//! read incrementally from a connection's input buffer, with every limit checked on the
//! length headers *before* the bytes they announce are buffered.
//!
//! The parser follows `processMultibulkBuffer` and `processInlineBuffer` of Redis's
//! `networking.c` (and `sdssplitargs` for inline quoting), including their error texts, so
//! that a client sees the same answers as from Redis. After any [`ProtocolError`] the
//! connection must reply and close, as Redis does.

use bytes::{Buf, Bytes, BytesMut};

/// Longest inline request or length header that may wait for its newline (Redis's
/// `PROTO_INLINE_MAX_SIZE`).
pub(crate) const INLINE_MAX: usize = 64 * 1024;
/// Redis 7.2's limits for a client that has not authenticated yet.
const UNAUTH_MAX_ARGS: i64 = 10;
const UNAUTH_MAX_BULK: i64 = 16 * 1024;

/// A request the connection cannot parse; the text is Redis's, after `-ERR `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProtocolError {
    /// Metric label: `protocol` or `oversized`.
    pub(crate) kind: &'static str,
    /// The reply text, without the `ERR ` prefix.
    pub(crate) message: Vec<u8>,
}

impl ProtocolError {
    fn new(kind: &'static str, message: &str) -> Self {
        ProtocolError {
            kind,
            message: message.as_bytes().to_vec(),
        }
    }
}

/// The incremental request parser of one connection.
#[derive(Debug)]
pub(crate) struct RequestParser {
    max_request: usize,
    /// Arguments of the multibulk request being read.
    args: Vec<Bytes>,
    /// Arguments still to read in that request (0: between requests).
    remaining: usize,
    /// Length of the bulk argument being read, once its header has been read.
    bulk_len: Option<usize>,
    /// Bytes announced so far by this request's bulk headers.
    total: usize,
}

impl RequestParser {
    /// A parser refusing any argument, or request, larger than `max_request` bytes.
    pub(crate) fn new(max_request: usize) -> Self {
        RequestParser {
            max_request,
            args: Vec::new(),
            remaining: 0,
            bulk_len: None,
            total: 0,
        }
    }

    /// The next complete request in `buf`, consuming it. `Ok(None)`: more bytes are needed.
    /// Empty requests (`*0`, `*-1`, blank lines) are skipped, as Redis does.
    pub(crate) fn next(
        &mut self,
        buf: &mut BytesMut,
        authenticated: bool,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            if self.remaining == 0 {
                let Some(&first) = buf.first() else {
                    return Ok(None);
                };
                let started = if first == b'*' {
                    self.start_multibulk(buf, authenticated)?
                } else {
                    match inline(buf)? {
                        Some(args) if args.is_empty() => continue,
                        Some(args) => return Ok(Some(args)),
                        None => return Ok(None),
                    }
                };
                match started {
                    Some(true) => {}
                    Some(false) => continue,
                    None => return Ok(None),
                }
            }
            if !self.read_args(buf, authenticated)? {
                return Ok(None);
            }
            return Ok(Some(std::mem::take(&mut self.args)));
        }
    }

    /// Reads `*N\r\n`. `Some(true)`: a request of N > 0 arguments begins; `Some(false)`: an
    /// empty request was skipped; `None`: the header is incomplete.
    fn start_multibulk(
        &mut self,
        buf: &mut BytesMut,
        authenticated: bool,
    ) -> Result<Option<bool>, ProtocolError> {
        let Some(line) = header_line(buf, "Protocol error: too big mbulk count string")? else {
            return Ok(None);
        };
        let count = match parse_i64(&buf[1..line]) {
            Some(n) if n <= i64::from(i32::MAX) => n,
            _ => {
                return Err(ProtocolError::new(
                    "protocol",
                    "Protocol error: invalid multibulk length",
                ));
            }
        };
        if count > UNAUTH_MAX_ARGS && !authenticated {
            return Err(ProtocolError::new(
                "protocol",
                "Protocol error: unauthenticated multibulk length",
            ));
        }
        // Every argument takes at least 6 bytes (`$0\r\n\r\n`): a count that could never fit
        // the request limit is refused before anything is buffered.
        if count > 0 && (count as u64).saturating_mul(6) > self.max_request as u64 {
            return Err(ProtocolError::new(
                "oversized",
                "Protocol error: invalid multibulk length",
            ));
        }
        buf.advance(line + 2);
        if count <= 0 {
            return Ok(Some(false));
        }
        self.remaining = count as usize;
        self.total = 0;
        self.args = Vec::with_capacity(self.remaining.min(1024));
        Ok(Some(true))
    }

    /// Reads the remaining bulk arguments; true when the request is complete.
    fn read_args(
        &mut self,
        buf: &mut BytesMut,
        authenticated: bool,
    ) -> Result<bool, ProtocolError> {
        while self.remaining > 0 {
            let len = match self.bulk_len {
                Some(len) => len,
                None => {
                    let Some(line) = header_line(buf, "Protocol error: too big bulk count string")?
                    else {
                        return Ok(false);
                    };
                    if buf[0] != b'$' {
                        let mut message = b"Protocol error: expected '$', got '".to_vec();
                        message.push(buf[0]);
                        message.push(b'\'');
                        return Err(ProtocolError {
                            kind: "protocol",
                            message,
                        });
                    }
                    let len = match parse_i64(&buf[1..line]) {
                        Some(n) if n >= 0 => n,
                        _ => {
                            return Err(ProtocolError::new(
                                "protocol",
                                "Protocol error: invalid bulk length",
                            ));
                        }
                    };
                    if len as u64 > self.max_request as u64
                        || (self.total as u64).saturating_add(len as u64) > self.max_request as u64
                    {
                        return Err(ProtocolError::new(
                            "oversized",
                            "Protocol error: invalid bulk length",
                        ));
                    }
                    if len > UNAUTH_MAX_BULK && !authenticated {
                        return Err(ProtocolError::new(
                            "protocol",
                            "Protocol error: unauthenticated bulk length",
                        ));
                    }
                    buf.advance(line + 2);
                    let len = len as usize;
                    self.total += len;
                    self.bulk_len = Some(len);
                    // Room for this argument, within the limit already checked.
                    buf.reserve((len + 2).saturating_sub(buf.len()));
                    len
                }
            };
            if buf.len() < len + 2 {
                return Ok(false);
            }
            let arg = buf.split_to(len).freeze();
            // Like Redis, the two bytes after the data are taken as CRLF without looking.
            buf.advance(2);
            self.args.push(arg);
            self.bulk_len = None;
            self.remaining -= 1;
        }
        Ok(true)
    }
}

/// The index of the `\r` ending a length header that starts `buf`, once its `\n` is buffered
/// too. Errs with `too_big` when no `\r` shows up within [`INLINE_MAX`] bytes.
fn header_line(buf: &BytesMut, too_big: &str) -> Result<Option<usize>, ProtocolError> {
    match buf.iter().position(|&b| b == b'\r') {
        None if buf.len() > INLINE_MAX => Err(ProtocolError::new("oversized", too_big)),
        None => Ok(None),
        Some(cr) if cr + 2 > buf.len() => Ok(None),
        Some(cr) => Ok(Some(cr)),
    }
}

/// Redis's `string2ll`: an optional `-`, then digits without leading zeros, no spaces.
pub(crate) fn parse_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(d - b'0');
        value = if negative {
            value.checked_mul(10)?.checked_sub(digit)?
        } else {
            value.checked_mul(10)?.checked_add(digit)?
        };
    }
    Some(value)
}

/// Reads one inline request (a line ending in `\n`, optionally `\r\n`). `None`: incomplete.
fn inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(newline) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError::new(
                "oversized",
                "Protocol error: too big inline request",
            ));
        }
        return Ok(None);
    };
    let end = if newline > 0 && buf[newline - 1] == b'\r' {
        newline - 1
    } else {
        newline
    };
    let args = split_args(&buf[..end]).ok_or_else(|| {
        ProtocolError::new("protocol", "Protocol error: unbalanced quotes in request")
    })?;
    buf.advance(newline + 1);
    Ok(Some(args))
}

/// Redis's `sdssplitargs`: words separated by blanks, `"..."` with C escapes and `\xHH`,
/// `'...'` with `\'`. A closing quote must be followed by a blank or the end. `None` on
/// unbalanced quotes. Like the C original, it stops at a NUL byte.
pub(crate) fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let line = match line.iter().position(|&b| b == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = at(p);
            if in_double {
                if c == b'\\'
                    && at(p + 1) == b'x'
                    && let (Some(hi), Some(lo)) = (hex(at(p + 2)), hex(at(p + 3)))
                {
                    current.push(hi * 16 + lo);
                    p += 4;
                    continue;
                }
                if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    current.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    other => current.push(other),
                }
            }
            p += 1;
        }
        args.push(Bytes::from(current));
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8], max: usize) -> (Vec<Vec<Bytes>>, Option<ProtocolError>) {
        let mut parser = RequestParser::new(max);
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match parser.next(&mut buf, true) {
                Ok(Some(args)) => out.push(args),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn multibulk_inline_and_empty_requests() {
        let (reqs, err) = parse_all(
            b"*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n*0\r\n\r\nPING x\r\n",
            1024,
        );
        assert!(err.is_none());
        assert_eq!(reqs, vec![vec!["PING", "hi"], vec!["PING", "x"]]);
    }

    #[test]
    fn byte_at_a_time_parses_the_same() {
        let input = b"*3\r\n$7\r\nPUBLISH\r\n$1\r\na\r\n$5\r\nhello\r\nPING\n";
        let mut parser = RequestParser::new(1024);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            while let Some(args) = parser.next(&mut buf, true).expect("valid") {
                out.push(args);
            }
        }
        assert_eq!(out, vec![vec!["PUBLISH", "a", "hello"], vec!["PING"]]);
    }

    #[test]
    fn limits_are_checked_on_headers() {
        let (_, err) = parse_all(b"*1\r\n$2000\r\n", 1000);
        assert_eq!(err.expect("refused").kind, "oversized");
        let (_, err) = parse_all(b"*1000\r\n", 1000);
        assert_eq!(err.expect("refused").kind, "oversized");
        let (_, err) = parse_all(b"*2\r\n$600\r\n", 1000);
        assert!(err.is_none());
        let (_, err) = parse_all(&[b'x'; INLINE_MAX + 1], 1000);
        assert!(err.is_some());
        let mut parser = RequestParser::new(1 << 20);
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        assert!(parser.next(&mut buf, false).is_err());
    }

    #[test]
    fn redis_integer_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn inline_quoting() {
        let args = split_args(br#"set "a\x41\n" 'it\'s' plain"#).expect("balanced");
        assert_eq!(args, vec!["set", "aA\n", "it's", "plain"]);
        assert!(split_args(br#"ping "a"#).is_none());
        assert!(split_args(br#"ping "a"b"#).is_none());
        assert_eq!(split_args(b"   ").expect("empty"), Vec::<Bytes>::new());
    }
}
