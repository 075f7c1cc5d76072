//! Content codings, as DynamoDB's front end applies them: request bodies sent
//! with `Content-Encoding: gzip` or `deflate` are decoded, and a response is
//! compressed when the client's `Accept-Encoding` allows it and the body is
//! at least [`COMPRESS_FROM_BYTES`].
//!
//! The negotiation follows DynamoDB's observed behaviour, recorded against
//! the live service by ScyllaDB's Alternator tests
//! (`test/alternator/test_compressed_response.py`): only the first
//! `Accept-Encoding` header counts; names are case-insensitive; `identity`
//! and unknown codings are ignored; a coding's quality is the first
//! parameter containing `q=` (a value that does not parse counts as 1, one
//! above 1 as 1, zero or below refuses it); `*` gives its quality to the
//! codings not named; the highest quality wins, a named coding beats `*` at
//! the same quality, and among named codings the first listed wins, with
//! gzip preferred when only `*` speaks.
//!
//! Decoding is bounded by the decoded size: a small compressed body that
//! expands past the request limit is refused while it expands, never
//! allocated in full.

use std::io::Read;

use flate2::Compression;

/// DynamoDB compresses responses of 4 KB and more (Alternator's tests
/// measured the threshold against the live service); smaller ones are sent
/// as they are even when the client accepts a coding.
pub const COMPRESS_FROM_BYTES: usize = 4096;
/// zlib's default level: DynamoDB's ratio on JSON, at a cost of about
/// 10 ms per MB of response on one core.
const COMPRESSION_LEVEL: u32 = 6;
/// Decoded bytes produced per step, between checks against the limit.
const DECODE_STEP_BYTES: usize = 64 * 1024;

/// A content coding Tidepool speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Deflate,
}

impl Coding {
    pub fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
        }
    }
}

/// A `Content-Encoding` DynamoDB does not decode (it answers those with a
/// 500, as it does a corrupt body).
#[derive(Debug)]
pub struct UnknownCoding;

/// The coding of a request body named by its `Content-Encoding` header:
/// `Ok(None)` for none or `identity`.
pub fn request_coding(header: Option<&str>) -> Result<Option<Coding>, UnknownCoding> {
    let Some(value) = header else { return Ok(None) };
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(None),
        "gzip" => Ok(Some(Coding::Gzip)),
        "deflate" => Ok(Some(Coding::Deflate)),
        _ => Err(UnknownCoding),
    }
}

/// Why a body could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a valid stream of the coding (truncated, trailing bytes, empty).
    Corrupt,
    /// The decoded body would pass the limit.
    TooLarge,
    /// `grow` refused more memory for the decoded body.
    Refused,
}

/// Decodes `raw` up to `limit` decoded bytes. `grow(n)` is asked before the
/// decoded body passes `n` bytes and may refuse (a memory budget).
///
/// Gzip may hold several members one after another (RFC 1952, and DynamoDB
/// accepts them); deflate is one zlib stream (RFC 1950) and bytes after it
/// are an error, as DynamoDB treats them.
pub fn decode(
    coding: Coding,
    raw: &[u8],
    limit: usize,
    mut grow: impl FnMut(usize) -> bool,
) -> Result<Vec<u8>, DecodeError> {
    if raw.is_empty() {
        return Err(DecodeError::Corrupt);
    }
    let mut out = Vec::new();
    let result = match coding {
        Coding::Gzip => {
            let mut d = flate2::bufread::MultiGzDecoder::new(raw);
            read_bounded(&mut d, &mut out, limit, &mut grow)
        }
        Coding::Deflate => {
            let mut d = flate2::bufread::ZlibDecoder::new(raw);
            read_bounded(&mut d, &mut out, limit, &mut grow)
                .and_then(|()| if d.into_inner().is_empty() { Ok(()) } else { Err(DecodeError::Corrupt) })
        }
    };
    result.map(|()| out)
}

fn read_bounded(
    r: &mut impl Read,
    out: &mut Vec<u8>,
    limit: usize,
    grow: &mut impl FnMut(usize) -> bool,
) -> Result<(), DecodeError> {
    loop {
        let have = out.len();
        if have > limit {
            return Err(DecodeError::TooLarge);
        }
        // Read at most one byte past the limit: enough to know it is passed.
        let step = DECODE_STEP_BYTES.min(limit + 1 - have);
        if !grow(have + step) {
            return Err(DecodeError::Refused);
        }
        out.resize(have + step, 0);
        let mut filled = 0;
        while filled < step {
            match r.read(&mut out[have + filled..have + step]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(_) => {
                    out.truncate(have + filled);
                    return Err(DecodeError::Corrupt);
                }
            }
        }
        out.truncate(have + filled);
        if out.len() > limit {
            return Err(DecodeError::TooLarge);
        }
        if filled < step {
            return Ok(());
        }
    }
}

/// Compresses a response body.
pub fn encode(coding: Coding, body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let level = Compression::new(COMPRESSION_LEVEL);
    let out = Vec::with_capacity(body.len() / 4 + 64);
    let written = match coding {
        Coding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(out, level);
            e.write_all(body).and_then(|()| e.finish())
        }
        Coding::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(out, level);
            e.write_all(body).and_then(|()| e.finish())
        }
    };
    // Writing into a Vec cannot fail.
    written.unwrap_or_default()
}

/// The coding to answer with, given the first `Accept-Encoding` header.
pub fn negotiate(accept: &str) -> Option<Coding> {
    // (quality, named explicitly, position) per coding; position breaks
    // ties between named codings.
    let mut named: [Option<(f64, usize)>; 2] = [None, None];
    let mut wildcard: Option<f64> = None;
    for (position, entry) in accept.split(',').enumerate() {
        let mut parts = entry.split(';');
        let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let quality = parts.find(|p| p.contains("q=")).map_or(1.0, |p| {
            let v = p.split_once("q=").map_or("", |(_, v)| v).trim();
            v.parse::<f64>().map_or(1.0, |q| if q.is_nan() { 1.0 } else { q.min(1.0) })
        });
        let slot = match name.as_str() {
            "gzip" => 0,
            "deflate" => 1,
            "*" => {
                wildcard = Some(wildcard.map_or(quality, |w: f64| w.max(quality)));
                continue;
            }
            _ => continue,
        };
        named[slot] = Some(match named[slot] {
            Some((q, pos)) if q >= quality => (q, pos),
            Some((_, pos)) => (quality, pos),
            None => (quality, position),
        });
    }
    let codings = [Coding::Gzip, Coding::Deflate];
    // Rank: quality, then named over wildcard, then earlier position; gzip
    // first among wildcard-only codings.
    let mut best: Option<(f64, bool, usize, Coding)> = None;
    for (i, coding) in codings.into_iter().enumerate() {
        let candidate = match (named[i], wildcard) {
            (Some((q, pos)), _) => (q, true, pos, coding),
            (None, Some(w)) => (w, false, usize::MAX - 1 + i, coding),
            (None, None) => continue,
        };
        if candidate.0 <= 0.0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((q, explicit, pos, _)) => {
                candidate.0 > q
                    || (candidate.0 == q
                        && ((candidate.1 && !explicit) || (candidate.1 == explicit && candidate.2 < pos)))
            }
        };
        if better {
            best = Some(candidate);
        }
    }
    best.map(|(_, _, _, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DynamoDB's answers, as Alternator's tests recorded them against the
    /// live service.
    #[test]
    fn negotiation_matches_dynamodb() {
        let cases: &[(&str, Option<Coding>)] = &[
            ("gzip", Some(Coding::Gzip)),
            ("deflate", Some(Coding::Deflate)),
            ("identity", None),
            ("", None),
            ("br", None),
            ("zstd", None),
            ("compress", None),
            ("x-gzip", None),
            ("gzip, deflate", Some(Coding::Gzip)),
            ("br, identity, deflate, gzip", Some(Coding::Deflate)),
            ("GZIP, identity", Some(Coding::Gzip)),
            ("dog, gzip ,, cat", Some(Coding::Gzip)),
            ("gzip;q=0.8, deflate;q=0.5", Some(Coding::Gzip)),
            ("br, gzip;q=0, deflate; q = 0.5 , identity;q=0", Some(Coding::Deflate)),
            ("*", Some(Coding::Gzip)),
            ("*, deflate;q=0.5", Some(Coding::Gzip)),
            ("*, deflate", Some(Coding::Deflate)),
            ("*, identity", Some(Coding::Gzip)),
            ("*, gzip;q=0.5", Some(Coding::Deflate)),
            ("gzip ;q=0", None),
            ("identity;q=0", None),
            ("*;q=0", None),
            ("*;q=0.5,identity", Some(Coding::Gzip)),
            ("gzip;q=0.5,identity;q=0.8", Some(Coding::Gzip)),
            ("br;q=0.8,identity;q=0.5,*;q=0", None),
            ("\"gzip\"", None),
            ("gzip br", None),
            ("gzip:q=1", None),
            ("deflate;q=0.5, gzip;q=31", Some(Coding::Gzip)),
            ("gzip;q=31,deflate;q=51", Some(Coding::Gzip)),
            ("deflate;q=0.5, gzip;q=0.2", Some(Coding::Deflate)),
            ("deflate;q=0.5, gzip;q=1;q=0.2", Some(Coding::Gzip)),
            ("deflate;q=0.5,gzip;q=0.", Some(Coding::Deflate)),
            ("deflate;q=0.5,gzip;q=0.x", Some(Coding::Gzip)),
            ("deflate;q=0.5,gzip;q=0. x", Some(Coding::Gzip)),
            ("deflate;q=-0.5,gzip;q=0.2", Some(Coding::Gzip)),
            ("gzip;q= 0;q=1", None),
            ("gzip;q =0;q=1", Some(Coding::Gzip)),
            ("gzip; q=0;q=1", None),
            ("gzip;nq=0;q=1", None),
            ("gzip;q=0, gzip;q=1, gzip;q=0", Some(Coding::Gzip)),
            ("br,identity;q=0.5,gzip;q=0.0001", Some(Coding::Gzip)),
        ];
        for (header, want) in cases {
            assert_eq!(negotiate(header), *want, "Accept-Encoding: {header}");
        }
    }

    #[test]
    fn decodes_within_the_limit() {
        let body = br#"{"TableName":"t"}"#.repeat(100);
        for coding in [Coding::Gzip, Coding::Deflate] {
            let packed = encode(coding, &body);
            assert_eq!(decode(coding, &packed, body.len(), |_| true).as_deref(), Ok(&body[..]));
            assert_eq!(decode(coding, &packed, body.len() - 1, |_| true), Err(DecodeError::TooLarge));
            assert_eq!(decode(coding, &packed, body.len(), |n| n <= 16), Err(DecodeError::Refused));
            assert_eq!(decode(coding, &packed[..packed.len() - 1], body.len(), |_| true), Err(DecodeError::Corrupt));
            assert_eq!(decode(coding, b"", 100, |_| true), Err(DecodeError::Corrupt));
            assert_eq!(decode(coding, &body, body.len(), |_| true), Err(DecodeError::Corrupt));
        }
        // Two gzip members are one body; two zlib streams are not.
        let two = [encode(Coding::Gzip, b"ab"), encode(Coding::Gzip, b"cd")].concat();
        assert_eq!(decode(Coding::Gzip, &two, 10, |_| true).as_deref(), Ok(&b"abcd"[..]));
        let two = [encode(Coding::Deflate, b"ab"), encode(Coding::Deflate, b"cd")].concat();
        assert_eq!(decode(Coding::Deflate, &two, 10, |_| true), Err(DecodeError::Corrupt));
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let bomb = encode(Coding::Gzip, &vec![b' '; 20 * 1024 * 1024]);
        assert!(bomb.len() < 128 * 1024);
        let mut asked = 0;
        let r = decode(Coding::Gzip, &bomb, 1024 * 1024, |n| {
            asked = n;
            true
        });
        assert_eq!(r, Err(DecodeError::TooLarge));
        assert!(asked <= 1024 * 1024 + 1);
    }
}
