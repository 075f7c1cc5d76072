//! A function's resource-based policy, as Lambda keeps one: `AddPermission`,
//! `GetPolicy` and `RemovePermission` under
//! `/2015-03-31/functions/{name}/policy`, one policy for `$LATEST` and one
//! for each version and alias (`Qualifier`).
//!
//! AddPermission turns its members into one statement as Lambda writes it
//! (the principal as `{"Service": ...}`, `{"AWS": ...}` or `*`; the
//! source, account, organization, token and URL auth type as conditions),
//! and a statement id is unique within its policy. A policy lives in the
//! store's system entries (`fnp/<function>/<qualifier>`), written in one
//! batch with the function's (version's, alias's) new `RevisionId`, as a
//! policy change gives the function a new revision on AWS; GetPolicy's
//! `RevisionId` is that revision, and AddPermission and RemovePermission
//! take it as a precondition.
//!
//! Once authentication is on, the policy is the function's resource-based
//! policy in IAM's evaluation (`lambda::access`): a principal it allows
//! may call the function's actions without an identity policy of its own,
//! as within one account on AWS.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{MethodRouter, delete, post};
use axum::{Router, extract::FromRequestParts, http::request::Parts};
use serde_json::{Map, Value as Json, json};
use tidepool_store::Store;

use super::api::{
    ApiResult, Failure, PathParam, blocking, empty, fail, function_ref, json_request, lambda_state, query, reply,
    split_function_ref, str_member, validation,
};
use super::{Lambda, LambdaError};
use crate::dynamodb::App;
use crate::iam::Policy;

const PREFIX: &[u8] = b"fnp/";
/// Lambda's limit on a function's (version's, alias's) policy: 20 KB.
pub const MAX_POLICY_BYTES: usize = 20 * 1024;
/// AddPermission's `StatementId`: at most 100 characters.
const MAX_SID_CHARS: usize = 100;
/// `EventSourceToken`: at most 256 characters.
const MAX_TOKEN_CHARS: usize = 256;
/// `Qualifier`: at most 128 characters.
const MAX_QUALIFIER_CHARS: usize = 128;

fn key(function: &str, qualifier: &str) -> Vec<u8> {
    [PREFIX, function.as_bytes(), b"/", qualifier.as_bytes()].concat()
}

/// The statements of a policy (none when it has none).
fn load(store: &Store, function: &str, qualifier: &str) -> Result<Vec<Json>, tidepool_store::StoreError> {
    let raw = store.sys_get(&key(function, qualifier))?;
    Ok(raw.and_then(|raw| serde_json::from_slice::<Vec<Json>>(&raw).ok()).unwrap_or_default())
}

/// The policy document GetPolicy answers with.
fn document(statements: &[Json]) -> String {
    json!({"Version": "2012-10-17", "Id": "default", "Statement": statements}).to_string()
}

/// The resource-based policy of the function a Lambda ARN names
/// (`arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`), if
/// it has one: what IAM's evaluation consults beside the caller's own.
pub fn resource_policy(store: &Store, resource: &str) -> Option<Arc<Policy>> {
    let (name, qualifier) = super::access::function_of(resource)?;
    let statements = load(store, name, qualifier).ok()?;
    if statements.is_empty() {
        return None;
    }
    match Policy::parse(&document(&statements)) {
        Ok(p) => Some(Arc::new(p)),
        Err(e) => {
            tracing::error!(function = name, qualifier, error = %e.0, "a function's policy does not parse");
            None
        }
    }
}

/// Gives each check on a function the function's policy, which IAM's
/// evaluation consults beside the caller's own.
/// Get and DeleteFunctionUrlConfig carry `lambda:FunctionUrlAuthType`,
/// the auth type of the URL they read or delete.
pub fn attach(store: &Store, checks: &mut [crate::iam::Check]) {
    // CreateFunction's resource is a function that does not exist yet.
    let on_function = |c: &crate::iam::Check| {
        c.action.starts_with("lambda:") && c.action != "lambda:CreateFunction" && c.resource_policy.is_none()
    };
    for check in checks.iter_mut().filter(|c| on_function(c)) {
        check.resource_policy = resource_policy(store, &check.resource);
        if matches!(check.action.as_str(), "lambda:GetFunctionUrlConfig" | "lambda:DeleteFunctionUrlConfig")
            && let Some((name, qualifier)) = super::access::function_of(&check.resource)
            && let Some(auth_type) = super::urls::url_auth_type(store, name, qualifier)
        {
            check.context.set("lambda:FunctionUrlAuthType", vec![auth_type]);
        }
    }
}

/// Forgets the policies of `function` (DeleteFunction), or of one of its
/// versions or aliases.
pub fn forget(store: &Store, function: &str, qualifier: Option<&str>) -> Result<(), tidepool_store::StoreError> {
    let keys: Vec<Vec<u8>> = match qualifier {
        Some(q) => vec![key(function, q)],
        None => store
            .sys_scan(&[PREFIX, function.as_bytes(), b"/"].concat())?
            .into_iter()
            .map(|(k, _)| k)
            // `fnp/a/...` must not take `fnp/a/b`'s: names have no `/`.
            .filter(|k| k[PREFIX.len() + function.len() + 1..].iter().all(|b| *b != b'/'))
            .collect(),
    };
    if keys.is_empty() {
        return Ok(());
    }
    store.sys_write(keys.into_iter().map(|k| (k, None)).collect())
}

/// The routes of the policy API.
pub fn routes(
    router: Router<Arc<App>>,
    route: impl Fn(Router<Arc<App>>, &str, MethodRouter<Arc<App>>) -> Router<Arc<App>>,
) -> Router<Arc<App>> {
    let router = route(router, "/2015-03-31/functions/{name}/policy", post(add_permission).get(get_policy));
    route(router, "/2015-03-31/functions/{name}/policy/{sid}", delete(remove_permission))
}

/// The `Qualifier` parameter, checked as Lambda's pattern has it.
fn qualifier_param(uri: &Uri) -> Result<Option<String>, Failure> {
    let Some(q) = query(uri).remove("Qualifier") else { return Ok(None) };
    if q.is_empty() || q.chars().count() > MAX_QUALIFIER_CHARS {
        let c = if q.is_empty() {
            "Member must have length greater than or equal to 1"
        } else {
            "Member must have length less than or equal to 128"
        };
        return Err(validation("qualifier", &q, c));
    }
    if !q.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'$' | b'_' | b'-')) {
        return Err(validation("qualifier", &q, "Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"));
    }
    Ok(Some(q))
}

/// The function and qualifier (`$LATEST` when none) a request names; both
/// must exist.
fn target(lambda: &Lambda, raw: &str, uri: &Uri) -> Result<(String, String), Failure> {
    let given = qualifier_param(uri)?;
    let (name, qualifier) = function_ref(lambda, raw, given.as_deref())?;
    if !lambda.registry.has_qualifier(&name, "$LATEST") {
        return Err(fail(
            "ResourceNotFoundException",
            format!("Function not found: {}", lambda.registry.function_arn(&name)),
        ));
    }
    Ok((name, qualifier.unwrap_or_else(|| "$LATEST".into())))
}

/// The ARN a statement's `Resource` names: the function, qualified unless
/// `$LATEST`.
fn resource_arn(lambda: &Lambda, function: &str, qualifier: &str) -> String {
    match qualifier {
        "$LATEST" => lambda.registry.function_arn(function),
        q => format!("{}:{q}", lambda.registry.function_arn(function)),
    }
}

/// A required string member, with Lambda's length bounds.
fn required(m: &Map<String, Json>, name: &str, member: &str, max: usize) -> Result<String, Failure> {
    let v = str_member(m, name)?.ok_or_else(|| validation(member, "null", "Member must not be null"))?;
    check_length(&v, member, 1, max)?;
    Ok(v)
}

fn check_length(v: &str, member: &str, min: usize, max: usize) -> Result<(), Failure> {
    let n = v.chars().count();
    if n < min {
        return Err(validation(member, v, &format!("Member must have length greater than or equal to {min}")));
    }
    if n > max {
        return Err(validation(member, v, &format!("Member must have length less than or equal to {max}")));
    }
    Ok(())
}

/// The principal as a statement names it: a service (`*.amazonaws.com` and
/// the like), an account (its root), an IAM ARN, or everyone.
fn principal(p: &str) -> Result<Json, Failure> {
    let account = p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit());
    let service = !p.contains(':')
        && p.contains('.')
        && (p.ends_with(".amazonaws.com") || p.ends_with(".amazon.com") || p.ends_with(".aws.internal"));
    if p == "*" {
        Ok(json!("*"))
    } else if account {
        Ok(json!({"AWS": format!("arn:aws:iam::{p}:root")}))
    } else if service {
        Ok(json!({"Service": p}))
    } else if (p.starts_with("arn:aws:iam::") || p.starts_with("arn:aws:sts::")) && !p.contains('*') {
        Ok(json!({"AWS": p}))
    } else {
        Err(fail(
            "InvalidParameterValueException",
            "The provided principal was invalid. Please check the principal and try again.",
        ))
    }
}

/// AddPermission's statement, as Lambda writes it.
fn statement(m: &Map<String, Json>, resource: String) -> Result<(String, Json), Failure> {
    let sid = required(m, "StatementId", "statementId", MAX_SID_CHARS)?;
    if !sid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(validation(
            "statementId",
            &sid,
            "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)",
        ));
    }
    let action = required(m, "Action", "action", usize::MAX)?;
    let action_ok = action == "*"
        || action == "lambda:*"
        || action.strip_prefix("lambda:").is_some_and(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphabetic()));
    if !action_ok {
        return Err(validation(
            "action",
            &action,
            "Member must satisfy regular expression pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])",
        ));
    }
    let who = required(m, "Principal", "principal", usize::MAX)?;
    if who.chars().any(char::is_whitespace) {
        return Err(validation("principal", &who, "Member must satisfy regular expression pattern: [^\\s]+"));
    }
    let mut equals = Map::new();
    let mut conditions = Map::new();
    if let Some(a) = str_member(m, "SourceAccount")? {
        if a.chars().count() > 12 {
            return Err(validation("sourceAccount", &a, "Member must have length less than or equal to 12"));
        }
        if !(a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())) {
            return Err(validation("sourceAccount", &a, "Member must satisfy regular expression pattern: \\d{12}"));
        }
        equals.insert("AWS:SourceAccount".into(), json!(a));
    }
    if let Some(t) = str_member(m, "EventSourceToken")? {
        check_length(&t, "eventSourceToken", 0, MAX_TOKEN_CHARS)?;
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
            return Err(validation(
                "eventSourceToken",
                &t,
                "Member must satisfy regular expression pattern: [a-zA-Z0-9._\\-]+",
            ));
        }
        equals.insert("lambda:EventSourceToken".into(), json!(t));
    }
    if let Some(o) = str_member(m, "PrincipalOrgID")? {
        check_length(&o, "principalOrgID", 12, 34)?;
        let ok = o.strip_prefix("o-").is_some_and(|r| {
            (10..=32).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
        if !ok {
            return Err(validation(
                "principalOrgID",
                &o,
                "Member must satisfy regular expression pattern: ^o-[a-z0-9]{10,32}$",
            ));
        }
        equals.insert("aws:PrincipalOrgID".into(), json!(o));
    }
    if let Some(t) = m.get("FunctionUrlAuthType").filter(|v| !v.is_null()) {
        match t.as_str() {
            Some(t @ ("AWS_IAM" | "NONE")) => {
                equals.insert("lambda:FunctionUrlAuthType".into(), json!(t));
            }
            _ => {
                let shown = t.as_str().map_or_else(|| t.to_string(), str::to_string);
                return Err(validation(
                    "functionUrlAuthType",
                    shown,
                    "Member must satisfy enum value set: [AWS_IAM, NONE]",
                ));
            }
        }
    }
    if !equals.is_empty() {
        conditions.insert("StringEquals".into(), Json::Object(equals));
    }
    match m.get("InvokedViaFunctionUrl") {
        None | Some(Json::Null) | Some(Json::Bool(false)) => {}
        Some(Json::Bool(true)) => {
            conditions.insert("Bool".into(), json!({"lambda:InvokedViaFunctionUrl": "true"}));
        }
        Some(other) => {
            return Err(fail(
                "InvalidParameterValueException",
                format!("InvokedViaFunctionUrl must be a boolean, not {other}"),
            ));
        }
    }
    if let Some(arn) = str_member(m, "SourceArn")? {
        if !source_arn_ok(&arn) {
            return Err(validation(
                "sourceArn",
                &arn,
                "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}(-gov)?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)",
            ));
        }
        conditions.insert("ArnLike".into(), json!({"AWS:SourceArn": arn}));
    }
    let mut st = Map::new();
    st.insert("Sid".into(), json!(sid));
    st.insert("Effect".into(), json!("Allow"));
    st.insert("Principal".into(), principal(&who)?);
    st.insert("Action".into(), json!(action));
    st.insert("Resource".into(), json!(resource));
    if !conditions.is_empty() {
        st.insert("Condition".into(), Json::Object(conditions));
    }
    Ok((sid, Json::Object(st)))
}

/// Lambda's pattern for `SourceArn`:
/// `arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:(\d{12})?:(.*)`.
fn source_arn_ok(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(_)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let partition_ok =
        partition.strip_prefix("aws").is_some_and(|r| r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let service_ok = !service.is_empty() && service.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let region_ok = region.is_empty() || {
        // `[a-z]{2}(-gov)?-[a-z]+-\d{1}`
        let r: Vec<&str> = region.split('-').collect();
        let two = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_lowercase());
        let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
        let digit = |s: &str| s.len() == 1 && s.as_bytes()[0].is_ascii_digit();
        match r.as_slice() {
            [a, b, c] => two(a) && word(b) && digit(c),
            [a, "gov", b, c] => two(a) && word(b) && digit(c),
            _ => false,
        }
    };
    let account_ok = account.is_empty() || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()));
    partition_ok && service_ok && region_ok && account_ok
}

/// Lambda's answer to a policy past [`MAX_POLICY_BYTES`].
fn too_long(size: usize) -> Failure {
    fail(
        "PolicyLengthExceededException",
        format!("The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES})."),
    )
}

/// A write of one policy's statements (its removal when there are none).
/// System entries to write: a key and its new value, or `None` to remove it.
type Writes = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn write(function: &str, qualifier: &str, statements: &[Json]) -> Result<Writes, Failure> {
    let value = if statements.is_empty() {
        None
    } else {
        Some(serde_json::to_vec(statements).map_err(|e| fail("ServiceException", e.to_string()))?)
    };
    Ok(vec![(key(function, qualifier), value)])
}

/// `POST /2015-03-31/functions/{name}/policy` (AddPermission).
async fn add_permission(
    State(app): State<Arc<App>>,
    PathParam(raw): PathParam,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let m = json_request(&app, &headers, body, "AddPermission").await?;
    let lambda = lambda_state(&app)?;
    // The members are validated before the function is looked for, as
    // Lambda validates a request before it acts on it.
    let (sid, mut st) = statement(&m, String::new())?;
    let (function, qualifier) = target(lambda, &raw, &uri)?;
    st["Resource"] = json!(resource_arn(lambda, &function, &qualifier));
    let revision = str_member(&m, "RevisionId")?;
    let app2 = app.clone();
    blocking(move || {
        let lambda = lambda_state(&app2)?;
        let store = lambda.store.clone();
        let (f, q) = (function.clone(), qualifier.clone());
        let text = st.to_string();
        lambda.registry.amend(&function, &qualifier, revision.as_deref(), || -> Result<_, Failure> {
            let mut statements = load(&store, &f, &q).map_err(LambdaError::from)?;
            if statements.iter().any(|s| s.get("Sid").and_then(Json::as_str) == Some(sid.as_str())) {
                return Err(fail(
                    "ResourceConflictException",
                    format!(
                        "The statement id ({sid}) provided already exists. Please provide a new statement id, or \
                         remove the existing statement."
                    ),
                ));
            }
            statements.push(st);
            let size = document(&statements).len();
            if size > MAX_POLICY_BYTES {
                return Err(too_long(size));
            }
            write(&f, &q, &statements)
        })?;
        Ok(reply(StatusCode::CREATED, &json!({"Statement": text})))
    })
    .await
}

/// `GET /2015-03-31/functions/{name}/policy` (GetPolicy).
async fn get_policy(State(app): State<Arc<App>>, PathParam(raw): PathParam, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let (function, qualifier) = target(lambda, &raw, &uri)?;
    // The revision read first: a change between the two reads shows an
    // older revision with a newer policy, never the reverse.
    let revision = lambda.registry.revision(&function, &qualifier).unwrap_or_default();
    let statements = load(&lambda.store, &function, &qualifier).map_err(LambdaError::from)?;
    if statements.is_empty() {
        return Err(fail("ResourceNotFoundException", "The resource you requested does not exist."));
    }
    Ok(reply(StatusCode::OK, &json!({"Policy": document(&statements), "RevisionId": revision})))
}

/// The function and statement id of a RemovePermission path.
struct SidPath(String, String);

impl<S: Send + Sync> FromRequestParts<S> for SidPath {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        match Path::<(String, String)>::from_request_parts(parts, state).await {
            Ok(Path((name, sid))) => Ok(SidPath(name, sid)),
            Err(e) => Err(super::api::undecodable_path(parts, &e)),
        }
    }
}

/// `DELETE /2015-03-31/functions/{name}/policy/{sid}` (RemovePermission).
async fn remove_permission(State(app): State<Arc<App>>, SidPath(raw, sid): SidPath, uri: Uri) -> ApiResult {
    let lambda = lambda_state(&app)?;
    let named = split_function_ref(&raw).0;
    let (function, qualifier) = target(lambda, &raw, &uri).map_err(|e| match e.kind() {
        // Lambda names the function whose policy it looked for.
        "ResourceNotFoundException" if !lambda.registry.has_qualifier(named, "$LATEST") => {
            fail("ResourceNotFoundException", format!("No policy found for: {}", lambda.registry.function_arn(named)))
        }
        _ => e,
    })?;
    let revision = query(&uri).remove("RevisionId");
    let app2 = app.clone();
    blocking(move || {
        let lambda = lambda_state(&app2)?;
        let store = lambda.store.clone();
        let (f, q) = (function.clone(), qualifier.clone());
        lambda.registry.amend(&function, &qualifier, revision.as_deref(), || -> Result<_, Failure> {
            let mut statements = load(&store, &f, &q).map_err(LambdaError::from)?;
            if statements.is_empty() {
                return Err(fail("ResourceNotFoundException", "No policy is associated with the given resource."));
            }
            let before = statements.len();
            statements.retain(|s| s.get("Sid").and_then(Json::as_str) != Some(sid.as_str()));
            if statements.len() == before {
                return Err(fail(
                    "ResourceNotFoundException",
                    format!("Statement {sid} is not found in resource policy."),
                ));
            }
            write(&f, &q, &statements)
        })?;
        Ok(empty(StatusCode::NO_CONTENT))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_are_written_as_lambda_writes_them() {
        assert_eq!(principal("*").unwrap(), json!("*"));
        assert_eq!(principal("123456789012").unwrap(), json!({"AWS": "arn:aws:iam::123456789012:root"}));
        assert_eq!(principal("s3.amazonaws.com").unwrap(), json!({"Service": "s3.amazonaws.com"}));
        assert_eq!(
            principal("arn:aws:iam::000000000000:user/bob").unwrap(),
            json!({"AWS": "arn:aws:iam::000000000000:user/bob"})
        );
        assert!(principal("bob").is_err());
        assert!(principal("12345").is_err());
    }

    #[test]
    fn source_arns_follow_lambdas_pattern() {
        assert!(source_arn_ok("arn:aws:s3:::my-bucket"));
        assert!(source_arn_ok("arn:aws:sns:us-east-1:123456789012:topic"));
        assert!(source_arn_ok("arn:aws-us-gov:sns:us-gov-west-1:123456789012:topic"));
        assert!(!source_arn_ok("arn:aws:sns:useast1:123456789012:topic"));
        assert!(!source_arn_ok("not-an-arn"));
        assert!(!source_arn_ok("arn:aws:sns:us-east-1:1234:topic"));
    }

    #[test]
    fn a_statement_carries_its_conditions() {
        let m: Map<String, Json> = serde_json::from_value(json!({
            "StatementId": "s3-invoke",
            "Action": "lambda:InvokeFunction",
            "Principal": "s3.amazonaws.com",
            "SourceArn": "arn:aws:s3:::bucket",
            "SourceAccount": "123456789012",
            "FunctionUrlAuthType": "NONE",
        }))
        .unwrap();
        let (sid, st) = statement(&m, "arn:aws:lambda:us-east-1:000000000000:function:f".into()).unwrap();
        assert_eq!(sid, "s3-invoke");
        assert_eq!(
            st,
            json!({
                "Sid": "s3-invoke",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "lambda:InvokeFunction",
                "Resource": "arn:aws:lambda:us-east-1:000000000000:function:f",
                "Condition": {
                    "StringEquals": {"AWS:SourceAccount": "123456789012", "lambda:FunctionUrlAuthType": "NONE"},
                    "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"},
                },
            })
        );
        // What Lambda writes parses as a resource-based policy.
        assert!(Policy::parse(&document(&[st])).is_ok());
    }
}
