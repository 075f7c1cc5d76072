//! AWS Signature Version 4, verified: the signature of a request in its
//! `Authorization` header or its query string (a presigned URL), checked
//! against the secret of the access key it names.
//!
//! This module is the verifier alone: it parses, canonicalizes and compares,
//! and knows nothing of HTTP servers, DynamoDB or Lambda beyond the scope a
//! request must be signed for ([`Expect`]). [`super::auth`] reads the body,
//! picks the scope and shapes the answer of each API.
//!
//! The checks and their messages follow what DynamoDB answers, as recorded
//! against the live service by dynalite (`index.js`, `test/connection.js`)
//! and ScyllaDB Alternator's authorization tests:
//! - no `Authorization` header that starts with `AWS4-` and no
//!   `X-Amz-Algorithm` parameter: `MissingAuthenticationTokenException`;
//! - a header or query that lacks a part, a date not in ISO 8601 basic
//!   format, a credential without five parts:
//!   `IncompleteSignatureException`;
//! - a scope for another region, service, terminator or day, a time outside
//!   the allowed skew, `host` not signed, or a signature that does not
//!   match: `InvalidSignatureException`;
//! - an unknown access key, or a session token that is not the key's:
//!   `UnrecognizedClientException`.
//!
//! The canonical request is built as AWS's SDKs build it for services other
//! than S3: the path normalized (`.` and `..` resolved, repeated slashes
//! merged) and its wire form percent-encoded once more; the query's
//! parameters decoded, re-encoded (RFC 3986, upper-case hex) and sorted,
//! without `X-Amz-Signature`; the signed headers' values trimmed, inner
//! runs of spaces collapsed, repeats joined with `,`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tidepool_store::messages;

/// The one algorithm SigV4 names.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash an Amazon S3 signer may send instead of the body's
/// (`x-amz-content-sha256`, or a presigned URL). Other services hash the
/// body they receive, so for them it never matches.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// A presigned URL lasts at most a week (`X-Amz-Expires`), as in every AWS
/// service that takes them.
pub const MAX_PRESIGNED_EXPIRES_SECS: u64 = 604_800;
/// Headers a signature may cover: the SDKs sign a handful. Past this, and
/// for a list not sorted or with repeats, the signature is refused before
/// any canonical request is built (whose size would otherwise grow with the
/// list times the headers' size).
pub const MAX_SIGNED_HEADERS: usize = 64;
/// The canonical request and string to sign that DynamoDB's wrong-signature
/// message shows are cut to this many bytes each.
pub const MAX_EXPLAINED_BYTES: usize = 8 * 1024;
/// Signing keys kept (one per access key, day, region and service): the
/// HMAC chain that derives one costs four HMACs, a third of a verification.
/// Past this many the cache starts over, so a flood of keys and days cannot
/// grow it.
pub const MAX_CACHED_SIGNING_KEYS: usize = 4096;

type HmacSha256 = Hmac<Sha256>;
/// A signing key's identity: access key, day, region, service.
type ScopeKey = (String, String, String, String);

/// What a request must be signed for.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The server's region.
    pub region: &'a str,
    /// The service signing names taken (`dynamodb`, `lambda`); a scope
    /// with another is refused naming the first.
    pub services: &'a [&'a str],
    /// How far the request's time may be from the server's.
    pub max_skew: Duration,
    /// Whether the wrong-signature message carries the canonical request
    /// and string to sign (DynamoDB's does; Lambda's no longer does).
    pub explain: bool,
}

/// One identity's long-term or temporary credentials.
#[derive(Debug, Clone)]
pub struct Credential {
    /// Who signs with it (an IAM user name, or a role's session).
    pub user: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Temporary credentials carry a token the request must send
    /// (`X-Amz-Security-Token`).
    pub session_token: Option<String>,
}

/// Why a request is refused, with AWS's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `MissingAuthenticationTokenException`.
    Missing,
    /// `IncompleteSignatureException`.
    Incomplete(String),
    /// `InvalidSignatureException`.
    Invalid(String),
    /// `UnrecognizedClientException`.
    Unrecognized(String),
}

impl Refusal {
    /// AWS's error type.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::Missing => "MissingAuthenticationTokenException",
            Refusal::Incomplete(_) => "IncompleteSignatureException",
            Refusal::Invalid(_) => "InvalidSignatureException",
            Refusal::Unrecognized(_) => "UnrecognizedClientException",
        }
    }
}

/// The parts of a request the signature covers, as received.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent (percent-encoded).
    pub path: &'a str,
    /// The query string as sent, without `?`.
    pub query: Option<&'a str>,
    /// Header names (any case) and values, repeats in order.
    pub headers: &'a [(&'a str, &'a [u8])],
}

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }

    fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// The authentication a request carries, parsed but not yet checked.
#[derive(Debug)]
pub struct Claim {
    pub access_key_id: String,
    scope_date: String,
    scope_region: String,
    scope_service: String,
    scope_terminator: String,
    signed_headers: Vec<String>,
    signature: String,
    /// `YYYYMMDDTHHMMSSZ`.
    amz_date: String,
    /// A presigned URL's lifetime in seconds.
    expires: Option<u64>,
    token: Option<String>,
    /// The payload hash the signer declared (`x-amz-content-sha256`, signed).
    declared_payload: Option<String>,
    /// A fault of the header's algorithm or credential, which DynamoDB
    /// reports only once the time and `host` pass ([`Keyring::precheck`]).
    deferred: Option<Refusal>,
}

impl Claim {
    pub fn presigned(&self) -> bool {
        self.expires.is_some()
    }

    /// The payload hash an S3 request signed with, as S3 takes it: the
    /// declared `x-amz-content-sha256` (a hex SHA-256, `UNSIGNED-PAYLOAD` or
    /// a `STREAMING-` form), or `UNSIGNED-PAYLOAD` for a presigned URL that
    /// declares none. S3 checks a hex hash against the body as it reads it.
    pub fn s3_payload(&self) -> Option<&str> {
        self.declared_payload.as_deref().or(self.presigned().then_some(UNSIGNED_PAYLOAD))
    }
}

/// The keys a server accepts, and the signing keys derived from them.
pub struct Keyring {
    by_key: HashMap<String, Credential>,
    signing_keys: Mutex<HashMap<ScopeKey, [u8; 32]>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("keys", &self.by_key.len()).finish_non_exhaustive()
    }
}

impl Keyring {
    pub fn new(credentials: impl IntoIterator<Item = Credential>) -> Self {
        Keyring {
            by_key: credentials.into_iter().map(|c| (c.access_key_id.clone(), c)).collect(),
            signing_keys: Mutex::new(HashMap::new()),
        }
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Checks `claim` (from [`parse`]) on `req` with `payload` as the
    /// payload hash of its canonical request: the identity it proves, or
    /// why not. `payload` is the body's SHA-256, except for S3, which
    /// takes the hash its signer declared (`UNSIGNED-PAYLOAD` among them)
    /// and checks the body against it as it streams; `None` (an S3 request
    /// that declared none) matches no signature.
    pub fn verify(
        &self,
        req: &Request<'_>,
        claim: &Claim,
        payload: Option<&str>,
        expect: &Expect<'_>,
        now: SystemTime,
    ) -> Result<&Credential, Refusal> {
        let cred = self.precheck(claim, expect, now)?;
        let (key, cached) = self.signing_key(cred, claim);
        let explained = payload.unwrap_or(UNSIGNED_PAYLOAD);
        let Some(given) = decode_hex(&claim.signature) else {
            return Err(mismatch(req, claim, explained, expect));
        };
        let matched = payload.is_some_and(|payload| {
            let to_sign = string_to_sign(claim, &canonical_request(req, claim, payload));
            let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes a key of any length");
            mac.update(to_sign.as_bytes());
            mac.verify_slice(&given).is_ok()
        });
        if !matched {
            return Err(mismatch(req, claim, explained, expect));
        }
        // Only a key that has signed a request is kept.
        if !cached {
            self.keep_signing_key(cred, claim, key);
        }
        // The token is checked once the signature holds, as DynamoDB does.
        if claim.token != cred.session_token {
            return Err(Refusal::Unrecognized(messages::request::SECURITY_TOKEN_MISMATCH.into()));
        }
        Ok(cred)
    }

    /// The checks that need neither the body nor a signing key: the scope,
    /// the time, `host` signed, the key known. Run before the body is read,
    /// so a request that cannot verify holds no body.
    ///
    /// In DynamoDB's order (dynalite's `index.js`, recorded against the
    /// live service): the time, then `host` signed, then the header's
    /// algorithm, then its credential's five parts, then the scope, then
    /// the key.
    pub fn precheck(&self, claim: &Claim, expect: &Expect<'_>, now: SystemTime) -> Result<&Credential, Refusal> {
        check_time(claim, expect, now)?;
        if !claim.signed_headers.iter().any(|h| h == "host") {
            return Err(Refusal::Invalid(messages::request::HOST_NOT_SIGNED.into()));
        }
        if let Some(deferred) = &claim.deferred {
            return Err(deferred.clone());
        }
        check_scope(claim, expect)?;
        self.by_key
            .get(&claim.access_key_id)
            .ok_or_else(|| Refusal::Unrecognized(messages::request::INVALID_SECURITY_TOKEN.into()))
    }

    fn scope_key(cred: &Credential, claim: &Claim) -> ScopeKey {
        (cred.access_key_id.clone(), claim.scope_date.clone(), claim.scope_region.clone(), claim.scope_service.clone())
    }

    /// The signing key for `claim`'s scope, and whether it came from the
    /// cache (derived outside the lock otherwise).
    fn signing_key(&self, cred: &Credential, claim: &Claim) -> ([u8; 32], bool) {
        let id = Self::scope_key(cred, claim);
        if let Some(k) = self.signing_keys.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            return (*k, true);
        }
        (derive_signing_key(&cred.secret_access_key, &id.1, &id.2, &id.3), false)
    }

    fn keep_signing_key(&self, cred: &Credential, claim: &Claim, key: [u8; 32]) {
        let mut cache = self.signing_keys.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED_SIGNING_KEYS {
            cache.clear();
        }
        cache.insert(Self::scope_key(cred, claim), key);
    }
}

/// The signatures of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body's chunks
/// (Amazon S3 API Reference, "Signature Calculations for the Authorization
/// Header: Transferring Payload in Multiple Chunks"): each chunk's signs
/// its data's SHA-256 and the signature before it, the first the request's
/// own (the seed), so a chunk cannot be changed, dropped or reordered.
#[derive(Clone)]
pub struct ChunkChain {
    key: [u8; 32],
    amz_date: String,
    scope: String,
    previous: String,
}

impl ChunkChain {
    /// Checks the signature `given` of the next chunk, whose data hashes to
    /// `data_sha256` (lowercase hex); on success it is the one the next
    /// chunk must sign.
    pub fn next(&mut self, data_sha256: &str, given: &str) -> bool {
        let Some(given_bytes) = decode_hex(given) else { return false };
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(self.string_to_sign(data_sha256).as_bytes());
        if mac.verify_slice(&given_bytes).is_err() {
            return false;
        }
        self.previous = given.to_ascii_lowercase();
        true
    }

    /// Signs the next chunk (whose data hashes to `data_sha256`), as a
    /// client does, and chains on from it.
    pub fn sign_next(&mut self, data_sha256: &str) -> String {
        let signature = hex(&hmac(&self.key, self.string_to_sign(data_sha256).as_bytes()));
        self.previous = signature.clone();
        signature
    }

    fn string_to_sign(&self, data_sha256: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{data_sha256}",
            self.amz_date, self.scope, self.previous
        )
    }

    /// The chain a client starts for a request it signed with `seed`, at
    /// `amz_date` (`YYYYMMDDTHHMMSSZ`), in `region`.
    pub fn for_client(secret: &str, region: &str, amz_date: &str, seed: &str) -> ChunkChain {
        let date = amz_date.get(..8).unwrap_or_default();
        ChunkChain {
            key: derive_signing_key(secret, date, region, "s3"),
            amz_date: amz_date.into(),
            scope: format!("{date}/{region}/s3/aws4_request"),
            previous: seed.into(),
        }
    }
}

/// The SHA-256 of nothing.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

impl Keyring {
    /// The chain of chunk signatures that follows `claim`'s (verified)
    /// signature.
    pub fn chunk_chain(&self, cred: &Credential, claim: &Claim) -> ChunkChain {
        let (key, _) = self.signing_key(cred, claim);
        ChunkChain {
            key,
            amz_date: claim.amz_date.clone(),
            scope: format!(
                "{}/{}/{}/{}",
                claim.scope_date, claim.scope_region, claim.scope_service, claim.scope_terminator
            ),
            previous: claim.signature.to_ascii_lowercase(),
        }
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// SigV4's signing key for a day, region and service.
pub fn derive_signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes().chunks(2).map(|p| Some(digit(p[0])? << 4 | digit(p[1])?)).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn mismatch(req: &Request<'_>, claim: &Claim, payload: &str, expect: &Expect<'_>) -> Refusal {
    let mut message = messages::request::SIGNATURE_MISMATCH.to_string();
    if expect.explain {
        let canonical = canonical_request(req, claim, payload);
        let to_sign = string_to_sign(claim, &canonical);
        let (canonical, to_sign) = (cut(&canonical, MAX_EXPLAINED_BYTES), cut(&to_sign, MAX_EXPLAINED_BYTES));
        message.push_str(&messages::request::signature_explained(canonical, to_sign));
    }
    Refusal::Invalid(message)
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A `SignedHeaders` list as the SDKs send it: lower case, sorted, no
/// repeats, at most [`MAX_SIGNED_HEADERS`].
fn signed_headers(list: &str) -> Result<Vec<String>, Refusal> {
    let names: Vec<String> = list.split(';').map(|h| h.trim().to_ascii_lowercase()).collect();
    if names.len() > MAX_SIGNED_HEADERS {
        return Err(Refusal::Invalid(messages::request::too_many_signed_headers(names.len(), MAX_SIGNED_HEADERS)));
    }
    if names.windows(2).any(|w| w[0] >= w[1]) || names.iter().any(String::is_empty) {
        return Err(Refusal::Invalid(messages::request::SIGNED_HEADERS_MALFORMED.into()));
    }
    Ok(names)
}

/// Reads the authentication `req` carries: the `Authorization` header or a
/// presigned URL's parameters.
pub fn parse(req: &Request<'_>) -> Result<Claim, Refusal> {
    let header = req.header_str("authorization").map(str::trim).filter(|h| h.starts_with("AWS4-"));
    let query = req.query.map(query_pairs).unwrap_or_default();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    match (header, param("X-Amz-Algorithm")) {
        (Some(_), Some(_)) => Err(Refusal::Invalid(messages::request::BOTH_HEADER_AND_QUERY.into())),
        (None, None) => Err(Refusal::Missing),
        (Some(h), None) => parse_header(req, h),
        (None, Some(_)) => parse_query(req, &query),
    }
}

fn parse_header(req: &Request<'_>, header: &str) -> Result<Claim, Refusal> {
    let (algorithm, rest) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
    let mut params: HashMap<&str, &str> = HashMap::new();
    // Pairs are separated by commas and by whitespace, as AWS reads them:
    // `Credential= AKID/...` (a key pasted with a space before it) is an
    // empty `Credential` and a part without `=`, refused as AWS refuses it.
    for part in rest.split(|c: char| c == ',' || c.is_whitespace()).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(Refusal::Incomplete(messages::request::not_a_key_value_pair(part, header)));
        };
        params.insert(k, v);
    }
    let date = req.header_str("x-amz-date").or_else(|| req.header_str("date")).map(str::trim);
    let mut missing = Vec::new();
    for p in ["Credential", "Signature", "SignedHeaders"] {
        if !params.contains_key(p) {
            missing.push(messages::request::authorization_requires(p));
        }
    }
    if date.is_none() {
        missing.push(messages::request::AUTHORIZATION_REQUIRES_DATE.into());
    }
    if !missing.is_empty() {
        return Err(Refusal::Incomplete(messages::request::authorization_incomplete(&missing, header)));
    }
    let amz_date = iso_basic(date.unwrap_or_default())?;
    let signed = signed_headers(params["SignedHeaders"])?;
    let declared_payload = signed
        .iter()
        .any(|h| h == "x-amz-content-sha256")
        .then(|| req.header_str("x-amz-content-sha256").map(|v| v.trim().to_string()))
        .flatten();
    let token = req.header_str("x-amz-security-token").map(|t| t.trim().to_string());
    let signature = params["Signature"].to_string();
    Ok(claim_or_fault(algorithm, params["Credential"], signed, signature, amz_date, None, token, declared_payload))
}

fn parse_query(req: &Request<'_>, query: &[(String, String)]) -> Result<Claim, Refusal> {
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut missing = String::new();
    for p in ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"] {
        if param(p).is_none() {
            missing.push_str(&messages::request::query_requires(p));
        }
    }
    if !missing.is_empty() {
        return Err(Refusal::Incomplete(messages::request::query_incomplete(missing)));
    }
    let algorithm = param("X-Amz-Algorithm").unwrap_or_default();
    let amz_date = iso_basic(&param("X-Amz-Date").unwrap_or_default())?;
    // Without X-Amz-Expires a presigned URL lasts the skew, as a signed
    // header does.
    let expires = match param("X-Amz-Expires") {
        None => 0,
        Some(e) => match e.parse::<u64>() {
            Ok(n) if n <= MAX_PRESIGNED_EXPIRES_SECS => n,
            Ok(_) => {
                return Err(Refusal::Incomplete(messages::request::expires_too_long(MAX_PRESIGNED_EXPIRES_SECS)));
            }
            Err(_) => return Err(Refusal::Incomplete(messages::request::EXPIRES_NOT_A_NUMBER.into())),
        },
    };
    let signed = signed_headers(&param("X-Amz-SignedHeaders").unwrap_or_default())?;
    let declared_payload = param("X-Amz-Content-Sha256").or_else(|| {
        signed
            .iter()
            .any(|h| h == "x-amz-content-sha256")
            .then(|| req.header_str("x-amz-content-sha256").map(|v| v.trim().to_string()))
            .flatten()
    });
    Ok(claim_or_fault(
        &algorithm,
        &param("X-Amz-Credential").unwrap_or_default(),
        signed,
        param("X-Amz-Signature").unwrap_or_default(),
        amz_date,
        Some(expires),
        param("X-Amz-Security-Token"),
        declared_payload,
    ))
}

/// The claim of a header or a presigned URL signed with `algorithm` by
/// `credential`; if either is at fault, a claim that carries the fault,
/// which waits for the time and `host` checks, as DynamoDB makes those
/// first ([`Keyring::precheck`]).
#[allow(clippy::too_many_arguments)]
fn claim_or_fault(
    algorithm: &str,
    credential: &str,
    signed_headers: Vec<String>,
    signature: String,
    amz_date: String,
    expires: Option<u64>,
    token: Option<String>,
    declared_payload: Option<String>,
) -> Claim {
    let made = if algorithm == ALGORITHM {
        claim(credential, signed_headers.clone(), signature, amz_date.clone(), expires, token, declared_payload)
    } else {
        Err(Refusal::Incomplete(messages::request::unsupported_algorithm(algorithm, ALGORITHM)))
    };
    made.unwrap_or_else(|fault| Claim {
        access_key_id: String::new(),
        scope_date: String::new(),
        scope_region: String::new(),
        scope_service: String::new(),
        scope_terminator: String::new(),
        signed_headers,
        signature: String::new(),
        amz_date,
        expires,
        token: None,
        declared_payload: None,
        deferred: Some(fault),
    })
}

fn claim(
    credential: &str,
    signed_headers: Vec<String>,
    signature: String,
    amz_date: String,
    expires: Option<u64>,
    token: Option<String>,
    declared_payload: Option<String>,
) -> Result<Claim, Refusal> {
    // A trailing slash is ignored, as DynamoDB ignores it.
    let parts: Vec<&str> = credential.strip_suffix('/').unwrap_or(credential).split('/').collect();
    let [key, date, region, service, terminator] = parts.as_slice() else {
        return Err(Refusal::Incomplete(messages::request::credential_parts(credential)));
    };
    Ok(Claim {
        access_key_id: key.to_string(),
        scope_date: date.to_string(),
        scope_region: region.to_string(),
        scope_service: service.to_string(),
        scope_terminator: terminator.to_string(),
        signed_headers,
        signature,
        amz_date,
        expires,
        token,
        declared_payload,
        deferred: None,
    })
}

/// `date` in ISO 8601 basic format (`20130609T100759Z`), as given.
fn iso_basic(date: &str) -> Result<String, Refusal> {
    let b = date.as_bytes();
    let ok = b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
        && parse_time(date).is_some();
    if ok { Ok(date.to_string()) } else { Err(Refusal::Incomplete(messages::request::date_not_iso_basic(date))) }
}

fn check_scope(claim: &Claim, expect: &Expect<'_>) -> Result<(), Refusal> {
    let mut wrong = Vec::new();
    if claim.scope_region != expect.region {
        wrong.push(messages::request::scope_region(&claim.scope_region));
    }
    if !expect.services.contains(&claim.scope_service.as_str()) {
        wrong.push(messages::request::scope_service(expect.services.first().unwrap_or(&"")));
    }
    if claim.scope_terminator != "aws4_request" {
        wrong.push(messages::request::scope_terminator(&claim.scope_terminator));
    }
    if claim.scope_date != claim.amz_date[..8] {
        wrong.push(messages::request::scope_date(&claim.scope_date, &claim.amz_date[..8], &claim.amz_date));
    }
    if wrong.is_empty() { Ok(()) } else { Err(Refusal::Invalid(wrong.join(" "))) }
}

fn check_time(claim: &Claim, expect: &Expect<'_>, now: SystemTime) -> Result<(), Refusal> {
    let signed = parse_time(&claim.amz_date).unwrap_or(UNIX_EPOCH);
    let skew_min = expect.max_skew.as_secs() / 60;
    // A presigned URL lasts its X-Amz-Expires from its date; a signed
    // header lasts the skew either side.
    let (earliest, how) = match claim.expires {
        Some(secs) if secs > 0 => (now.checked_sub(Duration::from_secs(secs)), messages::request::seconds(secs)),
        _ => (now.checked_sub(expect.max_skew), messages::request::minutes(skew_min)),
    };
    if earliest.is_some_and(|e| signed < e) {
        return Err(Refusal::Invalid(messages::request::signature_expired(
            &claim.amz_date,
            format_time(earliest.unwrap_or(UNIX_EPOCH)),
            format_time(now),
            how,
        )));
    }
    let latest = now + expect.max_skew;
    if signed > latest {
        return Err(Refusal::Invalid(messages::request::signature_not_yet_current(
            &claim.amz_date,
            format_time(latest),
            format_time(now),
            skew_min,
        )));
    }
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ` as a time.
fn parse_time(s: &str) -> Option<SystemTime> {
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (n(0..4)?, n(4..6)?, n(6..8)?, n(9..11)?, n(11..13)?, n(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se;
    u64::try_from(secs).ok().map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

/// A time as `YYYYMMDDTHHMMSSZ`.
pub fn format_time(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

fn string_to_sign(claim: &Claim, canonical: &str) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}/{}/{}/{}\n{}",
        claim.amz_date,
        claim.scope_date,
        claim.scope_region,
        claim.scope_service,
        claim.scope_terminator,
        sha256_hex(canonical.as_bytes())
    )
}

/// The canonical request of `req` as `claim` signed it, with `payload` as
/// its payload hash.
pub fn canonical_request(req: &Request<'_>, claim: &Claim, payload: &str) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(req.method);
    out.push('\n');
    // S3 signs the path as sent: encoded once, not normalized.
    if claim.scope_service == "s3" {
        out.push_str(if req.path.is_empty() { "/" } else { req.path });
    } else {
        out.push_str(&canonical_path(req.path));
    }
    out.push('\n');
    out.push_str(&canonical_query(req.query.unwrap_or(""), claim.presigned()));
    out.push('\n');
    for name in &claim.signed_headers {
        out.push_str(name);
        out.push(':');
        let mut first = true;
        for (k, v) in req.headers {
            if k.eq_ignore_ascii_case(name) {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&collapse(&String::from_utf8_lossy(v)));
            }
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&claim.signed_headers.join(";"));
    out.push('\n');
    out.push_str(payload);
    out
}

/// Trims a header value and collapses its inner runs of spaces.
fn collapse(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, word) in v.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// RFC 3986 percent-encoding of everything but the unreserved characters
/// (and `/` when `keep_slash`), with upper-case hex, as SigV4 encodes.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `%XY` escapes decoded (a malformed one is kept as written).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path normalized (RFC 3986 dot segments removed, repeated slashes
/// merged) and its wire form encoded once more, as SigV4 does for every
/// service but S3.
fn canonical_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(&segments.iter().map(|s| uri_encode(s, false)).collect::<Vec<_>>().join("/"));
    if segments.is_empty() {
        return out;
    }
    if path.ends_with('/') {
        out.push('/');
    }
    out
}

/// A query string's parameters, decoded.
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            // `+` is a space, as the Lambda API reads its query.
            (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

/// The query's parameters decoded, re-encoded and sorted; a presigned
/// URL's without its `X-Amz-Signature`.
fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .into_iter()
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| (uri_encode(&k, false), uri_encode(&v, false)))
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// Signs a request with SigV4 in its headers (the CLI's requests to a
/// server with authentication on): the headers to add.
pub fn sign(
    cred: &Credential,
    region: &str,
    service: &str,
    req: &Request<'_>,
    body: &[u8],
    now: SystemTime,
) -> Vec<(String, String)> {
    let amz_date = format_time(now);
    let mut headers: Vec<(String, Vec<u8>)> =
        req.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.to_vec())).collect();
    headers.push(("x-amz-date".into(), amz_date.clone().into_bytes()));
    if let Some(t) = &cred.session_token {
        headers.push(("x-amz-security-token".into(), t.clone().into_bytes()));
    }
    let mut signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    signed.sort();
    signed.dedup();
    let claim = Claim {
        access_key_id: cred.access_key_id.clone(),
        scope_date: amz_date[..8].to_string(),
        scope_region: region.to_string(),
        scope_service: service.to_string(),
        scope_terminator: "aws4_request".into(),
        signed_headers: signed,
        signature: String::new(),
        amz_date: amz_date.clone(),
        expires: None,
        token: cred.session_token.clone(),
        declared_payload: None,
        deferred: None,
    };
    let refs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
    let full = Request { method: req.method, path: req.path, query: req.query, headers: &refs };
    let to_sign = string_to_sign(&claim, &canonical_request(&full, &claim, &sha256_hex(body)));
    let key = derive_signing_key(&cred.secret_access_key, &claim.scope_date, region, service);
    let signature = hex(&hmac(&key, to_sign.as_bytes()));
    let mut out = vec![(
        "Authorization".to_string(),
        format!(
            "{ALGORITHM} Credential={}/{}/{region}/{service}/aws4_request, SignedHeaders={}, Signature={signature}",
            cred.access_key_id,
            claim.scope_date,
            claim.signed_headers.join(";")
        ),
    )];
    out.push(("X-Amz-Date".into(), amz_date));
    if let Some(t) = &cred.session_token {
        out.push(("X-Amz-Security-Token".into(), t.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    /// The chunked upload of the S3 API Reference's example ("Example: PUT
    /// Object", 66,560 bytes of `a` in chunks of 64 KiB and 1 KiB).
    #[test]
    fn chunk_signatures_chain_as_in_the_s3_reference() {
        let mut chain = ChunkChain {
            key: derive_signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3"),
            amz_date: "20130524T000000Z".into(),
            scope: "20130524/us-east-1/s3/aws4_request".into(),
            previous: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        };
        let first = sha256_hex(&[b'a'; 65536]);
        let mut replayed = chain.clone();
        assert!(chain.next(&first, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"));
        assert!(
            chain.next(&sha256_hex(&[b'a'; 1024]), "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497")
        );
        assert!(chain.next(EMPTY_SHA256, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"));
        // A changed chunk, or one out of its place, does not verify.
        assert!(
            !replayed
                .next(&sha256_hex(&[b'b'; 65536]), "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648")
        );
        assert!(
            !replayed
                .next(&sha256_hex(&[b'a'; 1024]), "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497")
        );
    }

    use super::*;

    /// AWS's SigV4 test suite, `get-vanilla`: the signature AWS publishes for
    /// its example key.
    #[test]
    fn aws_example_signature_verifies() {
        let headers: Vec<(&str, &[u8])> =
            vec![("Host", b"example.amazonaws.com"), ("X-Amz-Date", b"20150830T123600Z"), ("Authorization", b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")];
        let req = Request { method: "GET", path: "/", query: None, headers: &headers };
        let ring = Keyring::new([Credential {
            user: "example".into(),
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }]);
        let claim = parse(&req).unwrap();
        let expect =
            Expect { region: "us-east-1", services: &["service"], max_skew: Duration::from_secs(900), explain: true };
        let at = parse_time("20150830T123600Z").unwrap();
        let empty = sha256_hex(b"");
        assert_eq!(ring.verify(&req, &claim, Some(&empty), &expect, at).unwrap().user, "example");
        // A minute past the skew, the same request has expired.
        let late = at + Duration::from_secs(16 * 60);
        assert_eq!(
            ring.verify(&req, &claim, Some(&empty), &expect, late).unwrap_err(),
            Refusal::Invalid(
                "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T125200Z - 15 min.)"
                    .into()
            )
        );
        // Another secret does not verify.
        let other = Keyring::new([Credential {
            user: "example".into(),
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wrong".into(),
            session_token: None,
        }]);
        assert!(
            matches!(other.verify(&req, &claim, Some(&empty), &expect, at), Err(Refusal::Invalid(m)) if m.contains("Canonical String"))
        );
    }

    /// What a header gets: its parse's refusal, else the precheck's (at
    /// the time of `date`, for `dynamodb` in `us-east-1`).
    fn refusal(auth: &str, date: Option<&str>) -> Refusal {
        refusal_at(auth, date, date.and_then(parse_time).unwrap_or(UNIX_EPOCH))
    }

    /// [`refusal`] at time `now`.
    fn refusal_at(auth: &str, date: Option<&str>, now: SystemTime) -> Refusal {
        let mut headers: Vec<(&str, &[u8])> = vec![("Host", b"h"), ("Authorization", auth.as_bytes())];
        if let Some(d) = date {
            headers.push(("X-Amz-Date", d.as_bytes()));
        }
        let req = Request { method: "POST", path: "/", query: None, headers: &headers };
        let claim = match parse(&req) {
            Ok(claim) => claim,
            Err(r) => return r,
        };
        let expect =
            Expect { region: "us-east-1", services: &["dynamodb"], max_skew: Duration::from_secs(900), explain: true };
        let ring = Keyring::new([]);
        ring.precheck(&claim, &expect, now).map(|_| ()).expect_err(auth)
    }

    #[test]
    fn malformed_headers_are_incomplete() {
        let check = |auth: &str, date: Option<&str>, want: &str| match refusal(auth, date) {
            Refusal::Incomplete(m) => assert_eq!(m, want),
            other => panic!("{auth}: {other:?}"),
        };
        check(
            "AWS4-",
            None,
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-",
        );
        check(
            "AWS4-HMAC-SHA256 Signature=b,    Credential,    SignedHeaders",
            Some("20150830T123600Z"),
            "'Credential' not a valid key=value pair (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 Signature=b,    Credential,    SignedHeaders'.",
        );
        // A space after `Credential=` (a key pasted with a space before it).
        check(
            "AWS4-HMAC-SHA256 Credential= AKID/20150830/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00",
            Some("20150830T123600Z"),
            "'AKID/20150830/us-east-1/dynamodb/aws4_request' not a valid key=value pair (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 Credential= AKID/20150830/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00'.",
        );
        check(
            "AWS4-HMAC-SHA256 Credential=a/b/c/d, SignedHeaders=host, Signature=00",
            Some("20150830T123600Z"),
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'a/b/c/d'",
        );
        check(
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=00",
            Some("201"),
            "Date must be in ISO-8601 'basic format'. Got '201'. See http://en.wikipedia.org/wiki/ISO_8601",
        );
        let none: Vec<(&str, &[u8])> = vec![("Host", b"h")];
        assert_eq!(
            parse(&Request { method: "POST", path: "/", query: None, headers: &none }).unwrap_err(),
            Refusal::Missing
        );
    }

    /// Asserts DynamoDB's order of a malformed signature's faults, as
    /// dynalite's `index.js` records it for the header and the query form
    /// alike: the date's format, then its time, then `host` signed, then the
    /// algorithm, then the credential's five parts, then its scope, then the
    /// key. `refuse(algorithm, credential, signed headers, date, now)` is
    /// such a request's refusal.
    fn assert_faults_in_dynamodbs_order(refuse: impl Fn(&str, &str, &str, &str, SystemTime) -> Refusal) {
        let date = "20150830T123600Z";
        let at = parse_time(date).unwrap();
        let good = "AKID/20150830/us-east-1/dynamodb/aws4_request";
        let unsupported = || {
            Refusal::Incomplete(
                "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA25' (only AWS4-HMAC-SHA256 for now). ".to_string(),
            )
        };
        let host =
            || Refusal::Invalid("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into());
        let parts = || {
            Refusal::Incomplete(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'a/b/c/d'"
                    .into(),
            )
        };
        // `host` before the algorithm and before the credential.
        assert_eq!(refuse("AWS4-HMAC-SHA25", "a/b/c/d", "x-amz-date", date, at), host());
        assert_eq!(refuse(ALGORITHM, "a/b/c/d", "x-amz-date", date, at), host());
        // The algorithm before the credential's parts, and those before its scope.
        assert_eq!(refuse("AWS4-HMAC-SHA25", "a/b/c/d", "host", date, at), unsupported());
        assert_eq!(refuse(ALGORITHM, "a/b/c/d", "host", date, at), parts());
        assert_eq!(
            refuse(ALGORITHM, "AKID/20150830/eu-west-1/dynamodb/aws4_request", "host", date, at),
            Refusal::Invalid("Credential should be scoped to a valid region, not 'eu-west-1'.".into())
        );
        assert_eq!(
            refuse(ALGORITHM, good, "host", date, at),
            Refusal::Unrecognized("The security token included in the request is invalid.".into())
        );
        // The date's format and its time (a presigned URL's X-Amz-Expires
        // from it) before all of them.
        let day_later = parse_time("20150831T123600Z").unwrap();
        match refuse("AWS4-HMAC-SHA25", "a/b/c/d", "x-amz-date", date, day_later) {
            Refusal::Invalid(m) => assert!(m.starts_with("Signature expired: 20150830T123600Z"), "{m}"),
            other => panic!("{other:?}"),
        }
        match refuse("AWS4-HMAC-SHA25", "a/b/c/d", "x-amz-date", "201", at) {
            Refusal::Incomplete(m) => assert!(m.starts_with("Date must be in ISO-8601 'basic format'"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn header_faults_are_reported_in_dynamodbs_order() {
        assert_faults_in_dynamodbs_order(|algorithm, credential, signed, date, now| {
            let header = format!("{algorithm} Credential={credential}, SignedHeaders={signed}, Signature=00");
            refusal_at(&header, Some(date), now)
        });
    }

    /// What a presigned URL's `query` gets: its parse's refusal, else the
    /// precheck's at time `now` (for `dynamodb` in `us-east-1`).
    fn query_refusal_at(query: &str, now: SystemTime) -> Refusal {
        let headers: Vec<(&str, &[u8])> = vec![("Host", b"h")];
        let req = Request { method: "POST", path: "/", query: Some(query), headers: &headers };
        let claim = match parse(&req) {
            Ok(claim) => claim,
            Err(r) => return r,
        };
        let expect =
            Expect { region: "us-east-1", services: &["dynamodb"], max_skew: Duration::from_secs(900), explain: true };
        Keyring::new([]).precheck(&claim, &expect, now).map(|_| ()).expect_err(query)
    }

    /// A presigned URL's faults come in the header's order.
    #[test]
    fn query_faults_are_reported_in_dynamodbs_order() {
        assert_faults_in_dynamodbs_order(|algorithm, credential, signed, date, now| {
            let query = format!(
                "X-Amz-Algorithm={algorithm}&X-Amz-Credential={}&X-Amz-Date={date}&X-Amz-Expires=300&X-Amz-SignedHeaders={}&X-Amz-Signature=00",
                uri_encode(credential, true),
                uri_encode(signed, true)
            );
            query_refusal_at(&query, now)
        });
    }

    #[test]
    fn paths_and_queries_canonicalize_as_the_sdks_do() {
        assert_eq!(canonical_path("/"), "/");
        assert_eq!(canonical_path(""), "/");
        assert_eq!(canonical_path("//example//"), "/example/");
        assert_eq!(canonical_path("/a/./b/../c"), "/a/c");
        assert_eq!(
            canonical_path("/2015-03-31/functions/arn%3Aaws%3Alambda/invocations"),
            "/2015-03-31/functions/arn%253Aaws%253Alambda/invocations"
        );
        assert_eq!(canonical_query("b=2&a=1&a=0&X-Amz-Signature=x&c", true), "a=0&a=1&b=2&c=");
        assert_eq!(canonical_query("X-Amz-Signature=x", false), "X-Amz-Signature=x");
        assert_eq!(canonical_query("k=a%20b+c%2B", false), "k=a%20b%20c%2B");
        assert!(matches!(signed_headers("x-amz-date;host"), Err(Refusal::Invalid(_))));
        assert!(matches!(signed_headers("host;host"), Err(Refusal::Invalid(_))));
        assert_eq!(signed_headers("host;x-amz-date").unwrap(), ["host", "x-amz-date"]);
        for t in ["20150830T123600Z", "20240229T000000Z", "19991231T235959Z"] {
            assert_eq!(format_time(parse_time(t).unwrap()), t);
        }
    }
}
