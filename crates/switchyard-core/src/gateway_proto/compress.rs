//! Gateway compression: one zlib or zstd stream per connection (transport compression) and
//! per-message zlib for payload compression.

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;

pub use super::query::Transport;

/// The per-connection compressor.
pub enum Compressor {
    /// No transport compression.
    None,
    /// One deflate stream, sync-flushed after each payload.
    Zlib(Box<ZlibEncoder<Vec<u8>>>),
    /// One zstd frame for the connection, flushed (not ended) after each payload.
    Zstd(Box<zstd::stream::write::Encoder<'static, Vec<u8>>>),
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::None => "None",
            Self::Zlib(_) => "Zlib",
            Self::Zstd(_) => "Zstd",
        })
    }
}

impl Compressor {
    /// A compressor for a transport.
    pub fn new(transport: Transport) -> std::io::Result<Self> {
        Ok(match transport {
            Transport::None => Self::None,
            Transport::Zlib => {
                Self::Zlib(Box::new(ZlibEncoder::new(Vec::new(), Compression::fast())))
            }
            Transport::Zstd => {
                Self::Zstd(Box::new(zstd::stream::write::Encoder::new(Vec::new(), 1)?))
            }
        })
    }

    /// Whether transport compression is on.
    pub fn is_transport(&self) -> bool {
        !matches!(self, Self::None)
    }

    /// Compresses one payload into one binary message, or `None` when transport
    /// compression is off.
    pub fn encode(&mut self, payload: &[u8]) -> std::io::Result<Option<Vec<u8>>> {
        match self {
            Self::None => Ok(None),
            Self::Zlib(enc) => {
                enc.write_all(payload)?;
                enc.flush()?;
                Ok(Some(std::mem::take(enc.get_mut())))
            }
            Self::Zstd(enc) => {
                enc.write_all(payload)?;
                enc.flush()?;
                Ok(Some(std::mem::take(enc.get_mut())))
            }
        }
    }
}

/// Payload compression: one complete zlib message.
pub fn zlib_message(payload: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = ZlibEncoder::new(
        Vec::with_capacity(payload.len() / 3),
        Compression::default(),
    );
    enc.write_all(payload)?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn zlib_stream_is_one_context_with_sync_flush_suffix() {
        let mut c = Compressor::new(Transport::Zlib).expect("zlib");
        let a = c
            .encode(br#"{"op":10,"d":{"heartbeat_interval":41250}}"#)
            .expect("a")
            .expect("some");
        let b = c
            .encode(br#"{"op":11,"d":null}"#)
            .expect("b")
            .expect("some");
        assert!(a.ends_with(&[0, 0, 0xff, 0xff]) && b.ends_with(&[0, 0, 0xff, 0xff]));
        let mut d = flate2::Decompress::new(true);
        let mut out = Vec::with_capacity(4096);
        d.decompress_vec(&a, &mut out, flate2::FlushDecompress::Sync)
            .expect("inflate a");
        assert_eq!(out, br#"{"op":10,"d":{"heartbeat_interval":41250}}"#);
        out.clear();
        d.decompress_vec(&b, &mut out, flate2::FlushDecompress::Sync)
            .expect("inflate b");
        assert_eq!(out, br#"{"op":11,"d":null}"#);
    }

    #[test]
    fn zstd_stream_flushes_without_ending_the_frame() {
        let mut c = Compressor::new(Transport::Zstd).expect("zstd");
        let a = c.encode(b"first payload").expect("a").expect("some");
        let b = c.encode(b"second payload").expect("b").expect("some");
        let mut all = a.clone();
        all.extend_from_slice(&b);
        let mut dec = zstd::stream::read::Decoder::new(&all[..]).expect("decoder");
        let mut out = vec![0u8; 64];
        let mut got = Vec::new();
        while got.len() < 27 {
            let n = dec.read(&mut out).expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&out[..n]);
        }
        assert_eq!(got, b"first payloadsecond payload");
    }

    #[test]
    fn payload_compression_is_a_complete_zlib_message() {
        let msg = zlib_message(&[b'a'; 2000]).expect("zlib");
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(&msg[..])
            .read_to_end(&mut out)
            .expect("inflate");
        assert_eq!(out.len(), 2000);
    }
}
