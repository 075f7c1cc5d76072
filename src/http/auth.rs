//! Authentication, when it is switched on (`--auth <file>`): every request
//! to the DynamoDB, Streams and Lambda APIs and to `/tidepool/*` must carry
//! a valid SigV4 signature ([`super::sigv4`]) by a key of the file.
//!
//! Open by default: without `--auth`, any credentials are accepted, as
//! DynamoDB Local accepts them. The health check (`GET /`), CORS preflights
//! and function URLs (whose `AuthType NONE` is their own choice) are not
//! authenticated.
//!
//! This module picks the scope each API signs for and answers in its
//! shape: DynamoDB's `__type` with 400, Lambda's `x-amzn-ErrorType` with
//! 403. The body is read here (the signature covers its hash), within the
//! API's request limit and a byte budget of its own, and handed on whole.
//!
//! The file, TOML:
//!
//! ```toml
//! [[users]]
//! name = "alice"                       # who signs (ARNs, logs)
//! access_key_id = "AKIAALICE"
//! secret_access_key = "a secret"
//! # session_token = "..."              # temporary credentials: the token
//! #                                    # every request must send
//! # policies = ['{"Statement": ...}']  # IAM policies (JSON); with neither
//! # policy_files = ["bob.json"]        # key the user is an administrator
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tidepool_store::messages;

use super::sigv4::{self, Credential, Expect, Keyring, Refusal};
use crate::iam::{Check, Denial, Origin, Policy, Principal};
use crate::lambda::budget::{ByteBudget, Reservation};

/// DynamoDB takes a request signed up to 15 minutes from its clock.
pub const DYNAMODB_MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// Lambda's window is 5 minutes ("... - 5 min." in its answers).
pub const LAMBDA_MAX_SKEW: Duration = Duration::from_secs(5 * 60);
/// Request bodies being read to check their signature, together: the
/// bodies of every API are held here until verified and handed on.
pub const MAX_AUTH_BODIES_IN_FLIGHT_BYTES: usize = 512 * 1024 * 1024;
/// Identities in an auth file: a file of test users, not a directory.
pub const MAX_USERS: usize = 10_000;
/// The auth file's size.
pub const MAX_AUTH_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Who signed a request, in its extensions once verified, and where the
/// request came from.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Arc<Principal>,
    /// [`Origin::IN_PROCESS`] for a handler's call.
    pub origin: Origin,
}

impl Caller {
    /// Authorizes the caller for `checks`, with the request's origin in
    /// the global keys (`aws:SourceIp`, `aws:SecureTransport`).
    pub fn authorize(&self, checks: Vec<Check>, region: &str) -> Result<(), Denial> {
        self.principal.authorize(checks, region, &self.origin)
    }
}

/// The keys the server accepts, who each is, and the room for bodies
/// being checked.
#[derive(Debug)]
pub struct Auth {
    keys: Keyring,
    principals: HashMap<String, Arc<Principal>>,
    /// Execution roles by name, with their policies.
    roles: HashMap<String, Arc<Vec<Policy>>>,
    bodies: Arc<ByteBudget>,
    /// The key this server signs its requests to peer regions with (global
    /// tables): the file's first administrator's.
    peer: Option<Credential>,
}

/// A role ARN's name (the last part of its path, as an assumed role's
/// session names it), or the text itself when it is no role ARN.
fn role_name(role_arn: &str) -> &str {
    role_arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(":role/"))
        .and_then(|(_, r)| r.rsplit('/').next())
        .unwrap_or(role_arn)
}

/// The name of the role `role_arn` names if it can be one an auth file
/// lists: a role of this account (partition `aws`, account
/// [`ACCOUNT_ID`](crate::dynamodb::ACCOUNT_ID)) at IAM's root path
/// (`arn:aws:iam::000000000000:role/<name>`), as `[[roles]]` gives names
/// and no paths. Another account's role, or one under a path
/// (`role/team/admin`), is none of them, whatever its last name.
fn listed_role_name(role_arn: &str) -> Option<&str> {
    let (account, name) = role_arn.strip_prefix("arn:aws:iam::")?.split_once(":role/")?;
    (account == crate::dynamodb::ACCOUNT_ID && !name.is_empty() && !name.contains('/')).then_some(name)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    #[serde(default)]
    users: Vec<UserEntry>,
    #[serde(default)]
    roles: Vec<RoleEntry>,
}

/// An execution role: `name` as in a function's `Role` ARN.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleEntry {
    name: String,
    #[serde(default)]
    policies: Vec<String>,
    #[serde(default)]
    policy_files: Vec<PathBuf>,
}

/// Policy documents given inline and in files relative to the auth file.
fn read_policies(path: &Path, who: &str, docs: Vec<String>, files: Vec<PathBuf>) -> anyhow::Result<Vec<Policy>> {
    let mut texts = docs;
    for f in files {
        let f = path.parent().unwrap_or(Path::new(".")).join(f);
        texts.push(std::fs::read_to_string(&f).with_context(|| format!("read policy file {}", f.display()))?);
    }
    texts
        .iter()
        .map(|t| Policy::parse(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("auth file {}: a policy of {who}: {e}", path.display()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    name: String,
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
    /// IAM policy documents (JSON); without `policies` and `policy_files`
    /// the user is an administrator.
    #[serde(default)]
    policies: Option<Vec<String>>,
    /// Files of policy documents, relative to the auth file.
    #[serde(default)]
    policy_files: Option<Vec<PathBuf>>,
}

impl Auth {
    /// Users with their keys; each `Some` policy list limits its user to
    /// what the list allows, `None` is an administrator.
    pub fn new(users: Vec<(Credential, Option<Vec<Policy>>)>) -> Self {
        let peer = users.iter().find(|(_, p)| p.is_none()).map(|(c, _)| c.clone());
        let principals = users
            .iter()
            .map(|(c, policies)| {
                let principal = Principal {
                    name: c.user.clone(),
                    arn: format!("arn:aws:iam::{}:user/{}", crate::dynamodb::ACCOUNT_ID, c.user),
                    access_key_id: c.access_key_id.clone(),
                    policies: policies.clone().map(Arc::new),
                    role_arn: None,
                };
                (c.access_key_id.clone(), Arc::new(principal))
            })
            .collect();
        Auth {
            keys: Keyring::new(users.into_iter().map(|(c, _)| c)),
            principals,
            roles: HashMap::new(),
            bodies: ByteBudget::new(MAX_AUTH_BODIES_IN_FLIGHT_BYTES),
            peer,
        }
    }

    /// The key requests to peer regions are signed with: the first
    /// administrator (a user without policies) of the file, which the
    /// peers' auth files must also hold.
    pub fn peer_credential(&self) -> Option<Credential> {
        self.peer.clone()
    }

    /// Adds execution roles: functions whose `Role` names one of them have
    /// their handlers' store calls authorized with its policies.
    pub fn with_roles(mut self, roles: Vec<(String, Vec<Policy>)>) -> Self {
        self.roles = roles.into_iter().map(|(name, p)| (name.to_ascii_lowercase(), Arc::new(p))).collect();
        self
    }

    /// Whether any role has policies (else handlers' calls are not checked).
    pub fn has_roles(&self) -> bool {
        !self.roles.is_empty()
    }

    /// The principal a handler of `function` runs as: the assumed role's
    /// session, as Lambda names it. Once the file lists roles, it has the
    /// role's policies (matched by name, case-insensitively, as IAM's
    /// names are, for a role of this account at the root path:
    /// [`listed_role_name`]), or none for a role the file does not list: a
    /// role that does not exist allows nothing. Before, it is an
    /// administrator, whom only an explicit deny in a resource-based policy
    /// refuses.
    pub fn role_principal(&self, role_arn: &str, function: &str) -> Principal {
        let listed = self.listed_role(role_arn);
        let arn = match &listed {
            // A role the file does not list (one kept by a function made
            // before roles were listed) is no listed role's namesake: its
            // session is named by its own partition, account and whole
            // path (or, not a role's ARN at all, by a name no role can
            // have), so a resource-based policy naming a listed role's
            // session does not match it.
            None if self.has_roles() => match role_arn.splitn(6, ':').collect::<Vec<_>>().as_slice() {
                ["arn", partition, "iam", "", account, rest] if rest.starts_with("role/") => {
                    format!("arn:{partition}:sts::{account}:assumed-role/{}/{function}", &rest["role/".len()..])
                }
                _ => {
                    format!("arn:aws:sts::{}:assumed-role/unlisted:{role_arn}/{function}", crate::dynamodb::ACCOUNT_ID)
                }
            },
            _ => {
                format!("arn:aws:sts::{}:assumed-role/{}/{function}", crate::dynamodb::ACCOUNT_ID, role_name(role_arn))
            }
        };
        let policies = self.has_roles().then(|| listed.unwrap_or_default());
        Principal {
            name: function.to_string(),
            arn,
            access_key_id: String::new(),
            policies,
            role_arn: Some(role_arn.to_string()),
        }
    }

    /// The policies of the role `role_arn` names, if the file lists it.
    fn listed_role(&self, role_arn: &str) -> Option<Arc<Vec<Policy>>> {
        self.roles.get(&listed_role_name(role_arn)?.to_ascii_lowercase()).cloned()
    }

    /// Whether Lambda could assume `role_arn` for a function: once the file
    /// lists roles, only a role it lists (this account's, at the root
    /// path, by name, case-insensitively), as on AWS a role must exist;
    /// before, any role.
    pub fn assumable(&self, role_arn: &str) -> bool {
        !self.has_roles() || self.listed_role(role_arn).is_some()
    }

    /// Reads an auth file (see the module comment).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let size = std::fs::metadata(path).with_context(|| format!("read auth file {}", path.display()))?.len();
        if size > MAX_AUTH_FILE_BYTES {
            bail!("auth file {} is {size} bytes; at most {MAX_AUTH_FILE_BYTES}", path.display());
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("read auth file {}", path.display()))?;
        let file: AuthFile = toml::from_str(&text).with_context(|| format!("parse auth file {}", path.display()))?;
        if file.users.is_empty() {
            bail!("auth file {} names no users: nobody could sign in", path.display());
        }
        if file.users.len() > MAX_USERS {
            bail!("auth file {} names {} users; at most {MAX_USERS}", path.display(), file.users.len());
        }
        let mut seen = std::collections::HashSet::new();
        let mut credentials = Vec::with_capacity(file.users.len());
        for u in file.users {
            if u.access_key_id.is_empty() || u.secret_access_key.is_empty() || u.name.is_empty() {
                bail!(
                    "auth file {}: every user needs a name, an access_key_id and a secret_access_key",
                    path.display()
                );
            }
            if u.access_key_id.contains('/') || !u.access_key_id.is_ascii() {
                bail!("auth file {}: access key id {:?} must be ASCII without '/'", path.display(), u.access_key_id);
            }
            if !seen.insert(u.access_key_id.clone()) {
                bail!("auth file {}: access key id {} appears twice", path.display(), u.access_key_id);
            }
            let policies = match (u.policies, u.policy_files) {
                (None, None) => None,
                (docs, files) => Some(read_policies(
                    path,
                    &format!("user {}", u.name),
                    docs.unwrap_or_default(),
                    files.unwrap_or_default(),
                )?),
            };
            credentials.push((
                Credential {
                    user: u.name,
                    access_key_id: u.access_key_id,
                    secret_access_key: u.secret_access_key,
                    session_token: u.session_token.filter(|t| !t.is_empty()),
                },
                policies,
            ));
        }
        let mut roles = Vec::with_capacity(file.roles.len());
        let mut names = std::collections::HashSet::new();
        for r in file.roles {
            if r.name.is_empty() || r.name.contains('/') {
                bail!("auth file {}: a role needs a name without '/'", path.display());
            }
            // IAM's role names are unique regardless of case.
            if !names.insert(r.name.to_ascii_lowercase()) {
                bail!("auth file {}: role {} appears twice (names differ only in case)", path.display(), r.name);
            }
            let policies = read_policies(path, &format!("role {}", r.name), r.policies, r.policy_files)?;
            roles.push((r.name, policies));
        }
        Ok(Auth::new(credentials).with_roles(roles))
    }

    pub fn users(&self) -> usize {
        self.keys.len()
    }
}

/// Which API a request is for: the scope it signs for and the shape of its
/// errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    DynamoDb,
    Lambda,
    /// `/tidepool/*`: Lambda's error shape; any service name in the scope.
    Tidepool,
}

/// Whether the router serves `path` with DynamoDB's protocol (not
/// Lambda's API or `/tidepool`).
pub fn is_dynamodb_path(path: &str) -> bool {
    api_of(path) == Api::DynamoDb
}

fn api_of(path: &str) -> Api {
    let b = path.as_bytes();
    // Lambda's paths start with an API version: `/2015-03-31/...`.
    let dated = b.len() > 12
        && b[0] == b'/'
        && b[11] == b'/'
        && b[5] == b'-'
        && b[8] == b'-'
        && b[1..5].iter().chain(&b[6..8]).chain(&b[9..11]).all(u8::is_ascii_digit);
    if dated {
        Api::Lambda
    } else if path == "/tidepool" || path.starts_with("/tidepool/") || path == "/metrics" {
        Api::Tidepool
    } else {
        Api::DynamoDb
    }
}

/// The service a request to `path` signs for (what the CLI signs with).
fn signing_service(path: &str) -> &'static str {
    match api_of(path) {
        Api::DynamoDb => "dynamodb",
        Api::Lambda => "lambda",
        Api::Tidepool => "tidepool",
    }
}

/// The SigV4 headers for a client's request to this server (the CLI's, the
/// scale bench's): `path` with its query, signed for the service its path
/// belongs to, with `host` and `headers` signed.
pub fn sign_request(
    cred: &Credential,
    region: &str,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<(String, String)> {
    let (path_only, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut signed: Vec<(&str, &[u8])> = vec![("host", host.as_bytes())];
    signed.extend(headers.iter().map(|(k, v)| (*k, v.as_bytes())));
    let req = sigv4::Request { method, path: path_only, query, headers: &signed };
    sigv4::sign(cred, region, signing_service(path_only), &req, body, SystemTime::now())
}

/// Checks `req`'s signature: the request to serve (its body read and handed
/// on, the [`Caller`] in its extensions) and the reservation of its body,
/// or the API's error.
pub async fn authenticate(
    auth: &Auth,
    app: &crate::dynamodb::App,
    req: Request,
) -> Result<(Request, Option<Reservation>), Response> {
    let api = api_of(req.uri().path());
    authenticate_for(auth, app, req, api, None).await
}

/// How an S3 request's body is authenticated, as its signature declared.
#[derive(Clone)]
pub enum S3Payload {
    /// `UNSIGNED-PAYLOAD` (or no signature at all, without `--auth`).
    Unsigned,
    /// The body's SHA-256, checked as it streams.
    Sha256(String),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: each `aws-chunked` chunk's
    /// signature, checked as it arrives.
    Chunks(sigv4::ChunkChain),
}

/// A verified S3 caller, and how its body is authenticated.
pub type S3Caller = (Arc<Principal>, S3Payload);
/// An S3 refusal: status, code and message.
pub type S3Refusal = (StatusCode, &'static str, String);

/// A request's headers as the signature sees them.
fn header_pairs(parts: &axum::http::request::Parts) -> Vec<(&str, &[u8])> {
    parts.headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect()
}

/// The parts of `parts` a signature covers.
fn signed_request<'a>(parts: &'a axum::http::request::Parts, headers: &'a [(&'a str, &'a [u8])]) -> sigv4::Request<'a> {
    sigv4::Request { method: parts.method.as_str(), path: parts.uri.path(), query: parts.uri.query(), headers }
}

/// S3's largest clock skew (15 minutes, as DynamoDB's).
const S3_MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// An S3 request's signature checked (`crate::s3`): who signed it, and the
/// payload hash it declared (S3 checks a hex one against the body as it
/// streams, so the body is not read here). A refusal is S3's status, code
/// and message.
pub fn authenticate_s3(auth: &Auth, region: &str, parts: &axum::http::request::Parts) -> Result<S3Caller, S3Refusal> {
    let headers = header_pairs(parts);
    let signed = signed_request(parts, &headers);
    let refused = |r: Refusal| {
        match r {
        Refusal::Missing => (StatusCode::FORBIDDEN, "AccessDenied", "Access Denied".to_string()),
        Refusal::Incomplete(m) => (StatusCode::BAD_REQUEST, "AuthorizationHeaderMalformed", m),
        Refusal::Invalid(m) if m.contains("expired") || m.contains("Signature not yet current") => {
            (StatusCode::FORBIDDEN, "RequestTimeTooSkewed", m)
        }
        Refusal::Invalid(_) => (
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
                .to_string(),
        ),
        Refusal::Unrecognized(_) => (
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.".to_string(),
        ),
    }
    };
    let claim = sigv4::parse(&signed).map_err(refused)?;
    let expect = Expect { region, services: &["s3"], max_skew: S3_MAX_SKEW, explain: false };
    let payload = claim.s3_payload().map(str::to_string);
    let cred = auth.keys.verify(&signed, &claim, payload.as_deref(), &expect, SystemTime::now()).map_err(refused)?;
    let principal = auth
        .principals
        .get(&cred.access_key_id)
        .cloned()
        .ok_or_else(|| refused(Refusal::Unrecognized(String::new())))?;
    let hex = |p: &str| p.len() == 64 && p.bytes().all(|b| b.is_ascii_hexdigit());
    match payload.as_deref() {
        None => {
            return Err((
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256".into(),
            ));
        }
        Some(p) if hex(p) => return Ok((principal, S3Payload::Sha256(p.to_ascii_lowercase()))),
        Some(p) if p == sigv4::UNSIGNED_PAYLOAD || p == "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => {}
        Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD") => {
            return Ok((principal, S3Payload::Chunks(auth.keys.chunk_chain(cred, &claim))));
        }
        // A signed trailer (a checksum after the last chunk) is not
        // checked: its content would go unauthenticated, so it is refused.
        Some(p) if p.starts_with("STREAMING-AWS4-HMAC-SHA256-PAYLOAD") => {
            return Err((
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                format!(
                    "A header you provided implies functionality that is not implemented: x-amz-content-sha256 {p} (send the payload's SHA-256, UNSIGNED-PAYLOAD or STREAMING-AWS4-HMAC-SHA256-PAYLOAD)"
                ),
            ));
        }
        Some(_) => {
            return Err((StatusCode::BAD_REQUEST, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, or a valid sha256 value.".into()));
        }
    }
    Ok((principal, S3Payload::Unsigned))
}

/// [`authenticate`] for a function URL whose `AuthType` is `AWS_IAM`: a
/// request signed for `lambda`, whatever its path.
pub async fn authenticate_function_url(
    auth: &Auth,
    app: &crate::dynamodb::App,
    req: Request,
) -> Result<(Request, Option<Reservation>), Response> {
    authenticate_for(auth, app, req, Api::Lambda, Some(crate::lambda::api::MAX_SYNC_PAYLOAD_BYTES)).await
}

async fn authenticate_for(
    auth: &Auth,
    app: &crate::dynamodb::App,
    req: Request,
    api: Api,
    limit: Option<usize>,
) -> Result<(Request, Option<Reservation>), Response> {
    let region = app.region.as_str();
    // Application Auto Scaling shares DynamoDB's port and front end; its
    // requests (and only they) sign for their own service.
    let scaling = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.split_once('.').is_some_and(|(api, _)| api == crate::autoscaling::TARGET_API));
    let expect = match api {
        Api::DynamoDb if scaling => {
            Expect { region, services: &["application-autoscaling"], max_skew: DYNAMODB_MAX_SKEW, explain: true }
        }
        Api::DynamoDb => Expect { region, services: &["dynamodb"], max_skew: DYNAMODB_MAX_SKEW, explain: true },
        Api::Lambda => Expect { region, services: &["lambda"], max_skew: LAMBDA_MAX_SKEW, explain: false },
        // The CLI signs `/tidepool` for `tidepool`; any tool that signs it
        // as one of the APIs it sits beside is taken too.
        Api::Tidepool => Expect {
            region,
            services: &["tidepool", "lambda", "dynamodb"],
            max_skew: DYNAMODB_MAX_SKEW,
            explain: false,
        },
    };
    let (parts, body) = req.into_parts();
    let headers = header_pairs(&parts);
    let signed = signed_request(&parts, &headers);
    let claim = sigv4::parse(&signed).map_err(|r| refuse(api, &r))?;
    // Everything that needs no body is checked before one is read.
    auth.keys.precheck(&claim, &expect, SystemTime::now()).map_err(|r| refuse(api, &r))?;
    // Only a function URL's request comes with a limit of its own.
    let function_url = limit.is_some();
    // The signature covers the body's hash, always: `UNSIGNED-PAYLOAD` is
    // Amazon S3's option, and these APIs hash the body they receive, so a
    // request signed with it does not match, as on AWS.
    let limit = limit.unwrap_or_else(|| body_limit(api, parts.uri.path()));
    let (bytes, reservation) = read_body(auth, api, limit, &parts.headers, body).await?;
    let hash = sigv4::sha256_hex(&bytes);
    let principal = match auth.keys.verify(&signed, &claim, Some(&hash), &expect, SystemTime::now()) {
        Ok(c) => auth.principals.get(&c.access_key_id).cloned(),
        Err(r) => return Err(refuse(api, &r)),
    };
    let Some(principal) = principal else {
        return Err(refuse(api, &Refusal::Unrecognized(messages::request::INVALID_SECURITY_TOKEN.into())));
    };
    drop(headers);
    let caller = Caller { principal, origin: super::origin_of(&parts.extensions) };
    // The Lambda API and `/tidepool` are authorized here, where the body is
    // at hand (CreateFunction names its function in it); DynamoDB's
    // requests where their operation is parsed; a function URL's where it
    // is served.
    if api != Api::DynamoDb && !function_url && caller.principal.policies.is_some() {
        let query = crate::lambda::api::query(&parts.uri);
        let mapping = |uuid: &str| mapping_function(app, uuid);
        let mut checks =
            crate::lambda::access::checks(parts.method.as_str(), parts.uri.path(), &query, &bytes, region, &mapping);
        crate::lambda::permissions::attach(&app.store, &mut checks);
        if let Err(denied) = caller.authorize(checks, region) {
            return Err(lambda_denied(&denied.message));
        }
    }
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(caller);
    Ok((req, reservation))
}

/// A handler's in-process Lambda or `/tidepool` request, authorized as its
/// role (its DynamoDB and Streams requests are, in the DynamoDB handler,
/// through the [`Caller`] the front adds).
pub fn authorize_guest(app: &crate::dynamodb::App, req: &Request, principal: &Principal) -> Result<(), Response> {
    let api = api_of(req.uri().path());
    if api == Api::DynamoDb {
        return Ok(());
    }
    let query = crate::lambda::api::query(req.uri());
    let mapping = |uuid: &str| mapping_function(app, uuid);
    let mut checks =
        crate::lambda::access::checks(req.method().as_str(), req.uri().path(), &query, &[], &app.region, &mapping);
    crate::lambda::permissions::attach(&app.store, &mut checks);
    principal.authorize(checks, &app.region, &Origin::IN_PROCESS).map_err(|d| lambda_denied(&d.message))
}

/// The function event source mapping `uuid` invokes (`lambda:FunctionArn`
/// of its Get, Update and Delete), if it exists.
fn mapping_function(app: &crate::dynamodb::App, uuid: &str) -> Option<String> {
    app.lambda.get()?.mapping(uuid).ok().map(|m| m.function_arn)
}

/// Reads a body to hash it, within the API's request limit and the auth
/// budget.
async fn read_body(
    auth: &Auth,
    api: Api,
    limit: usize,
    headers: &axum::http::HeaderMap,
    body: Body,
) -> Result<(Bytes, Option<Reservation>), Response> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(api, limit));
    }
    // Counted and allocated as the bytes arrive, not as declared.
    let mut reservation = auth.bodies.try_reserve(0).ok_or_else(|| throttled(api))?;
    let mut bytes = Vec::new();
    let mut body = body;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        // A body that breaks off is no request to verify.
        let Ok(frame) = frame else { return Err(too_large(api, limit)) };
        let Ok(data) = frame.into_data() else { continue };
        let total = bytes.len() + data.len();
        if total > limit {
            return Err(too_large(api, limit));
        }
        if !reservation.grow_to(total) {
            return Err(throttled(api));
        }
        bytes.extend_from_slice(&data);
    }
    // Small bodies are not counted: their room is the connection's.
    let reservation = (reservation.bytes() > crate::dynamodb::SMALL_REQUEST_BYTES).then_some(reservation);
    Ok((Bytes::from(bytes), reservation))
}

/// The largest body the route at `path` takes: its own limit, so a body
/// held to check its signature is never larger than the route would read.
fn body_limit(api: Api, path: &str) -> usize {
    use crate::lambda::api::{MAX_CODE_REQUEST_BYTES, MAX_DEPLOY_REQUEST_BYTES, MAX_JSON_REQUEST_BYTES};
    let path = path.trim_end_matches('/');
    match api {
        Api::DynamoDb => crate::dynamodb::MAX_REQUEST_BYTES,
        Api::Tidepool if path == "/tidepool/deploy" => MAX_DEPLOY_REQUEST_BYTES,
        // A peer region's batch of changes or fill page.
        Api::Tidepool if path.starts_with("/tidepool/replication/") => crate::global_tables::api::MAX_PEER_BODY_BYTES,
        Api::Tidepool => MAX_JSON_REQUEST_BYTES,
        // CreateFunction and UpdateFunctionCode carry code.
        Api::Lambda if path.ends_with("/functions") || path.ends_with("/code") => MAX_CODE_REQUEST_BYTES,
        // Invoke, sync and async, and a function URL's request.
        Api::Lambda if path.ends_with("/invocations") || path.ends_with("/invoke-async") => {
            crate::lambda::api::MAX_SYNC_PAYLOAD_BYTES
        }
        Api::Lambda => MAX_JSON_REQUEST_BYTES,
    }
}

fn refuse(api: Api, r: &Refusal) -> Response {
    let message = match r {
        Refusal::Missing => match api {
            Api::DynamoDb => messages::request::MISSING_AUTHENTICATION_TOKEN,
            Api::Lambda | Api::Tidepool => "Missing Authentication Token",
        },
        Refusal::Incomplete(m) | Refusal::Invalid(m) | Refusal::Unrecognized(m) => m.as_str(),
    };
    match api {
        Api::DynamoDb => dynamo_error(StatusCode::BAD_REQUEST, r.kind(), message),
        Api::Lambda | Api::Tidepool => lambda_error(StatusCode::FORBIDDEN, r.kind(), message),
    }
}

fn dynamo_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let mut resp = crate::dynamodb::error::ApiError::new(status, kind, message).into_response();
    resp.extensions_mut().insert(super::front::DynamoReply);
    resp
}

/// An error of Lambda's front end (authentication, limits): `{"message":
/// ...}`, lower case and without `Type`, as AWS's front end answers.
fn lambda_error(status: StatusCode, kind: &'static str, message: &str) -> Response {
    lambda_shaped(status, kind, serde_json::json!({ "message": message }))
}

/// A caller's policies refuse a Lambda or `/tidepool` request: 403
/// `AccessDeniedException` with `{"Message": ...}`, as Lambda answers it.
fn lambda_denied(message: &str) -> Response {
    lambda_shaped(StatusCode::FORBIDDEN, "AccessDeniedException", serde_json::json!({ "Message": message }))
}

/// A Lambda API error answer: `x-amzn-ErrorType` and a request id in
/// Lambda's form (a UUID), as its other answers carry.
fn lambda_shaped(status: StatusCode, kind: &'static str, body: serde_json::Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("x-amzn-ErrorType", HeaderValue::from_static(kind));
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        headers.insert("x-amzn-RequestId", id);
    }
    resp
}

fn too_large(api: Api, limit: usize) -> Response {
    let message = messages::request::too_large(limit);
    match api {
        Api::DynamoDb => dynamo_error(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", &message),
        Api::Lambda | Api::Tidepool => {
            lambda_error(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLargeException", &message)
        }
    }
}

fn throttled(api: Api) -> Response {
    let message = messages::request::TOO_MANY_LARGE_REQUESTS;
    match api {
        Api::DynamoDb => dynamo_error(StatusCode::BAD_REQUEST, "ThrottlingException", message),
        Api::Lambda | Api::Tidepool => lambda_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException", message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A function's `Role` is a listed role only as this account's ARN at
    /// IAM's root path: another account's role, or one under a path, with
    /// the same last name is not it (it could be passed, `iam:PassRole` on
    /// its own ARN, and run as the listed role).
    #[test]
    fn only_this_accounts_root_path_arn_names_a_listed_role() {
        let admin = Policy::parse(r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#).unwrap();
        let auth = Auth::new(Vec::new()).with_roles(vec![("Admin".into(), vec![admin])]);
        for (arn, listed) in [
            ("arn:aws:iam::000000000000:role/admin", true),
            ("arn:aws:iam::000000000000:role/ADMIN", true),
            ("arn:aws:iam::999999999999:role/admin", false),
            ("arn:aws:iam::000000000000:role/team/admin", false),
            ("arn:aws:iam::000000000000:role//admin", false),
            ("arn:aws-cn:iam::000000000000:role/admin", false),
            ("arn:aws:iam::000000000000:user/admin", false),
            ("admin", false),
        ] {
            assert_eq!(auth.assumable(arn), listed, "{arn}");
            let principal = auth.role_principal(arn, "f");
            assert_eq!(principal.policies.as_ref().is_some_and(|p| !p.is_empty()), listed, "{arn}");
            // Only the listed role's session has the listed role's name.
            let session = "arn:aws:sts::000000000000:assumed-role/admin/f";
            assert_eq!(principal.arn.eq_ignore_ascii_case(session), listed, "{arn}: {}", principal.arn);
        }
        // Without roles, any role may be given, and runs as an administrator.
        let open = Auth::new(Vec::new());
        assert!(open.assumable("arn:aws:iam::999999999999:role/team/admin"));
        assert!(open.role_principal("arn:aws:iam::999999999999:role/admin", "f").policies.is_none());
    }

    #[test]
    fn paths_name_their_api() {
        assert_eq!(api_of("/"), Api::DynamoDb);
        assert_eq!(api_of("/prefix/anything"), Api::DynamoDb);
        assert_eq!(api_of("/2015-03-31/functions"), Api::Lambda);
        assert_eq!(api_of("/2019-09-30/functions/f/concurrency"), Api::Lambda);
        assert_eq!(api_of("/tidepool/logs"), Api::Tidepool);
        assert_eq!(api_of("/tidepoolx"), Api::DynamoDb);
    }
}
