//! Resource-based policies on tables and streams: PutResourcePolicy,
//! GetResourcePolicy, DeleteResourcePolicy (and CreateTable's
//! `ResourcePolicy`). A policy is kept with its table (a stream's with the
//! table, for its current stream) and goes with it: DeleteTable removes it,
//! a restore does not bring it back.
//!
//! As DynamoDB: a document of at most 20 KB, whitespace counted, whose
//! statements each name a `Principal`; a revision id per version (the time
//! it was put, in milliseconds); putting the same document again keeps its
//! revision; `ExpectedRevisionId` (or `NO_POLICY`, to attach only when there
//! is none) that does not match is `PolicyNotFoundException`.
//!
//! Evaluation ([`crate::iam`]): a statement whose `Principal` names the
//! caller (`*`, its user ARN, or its role's ARN for a handler) allows or
//! denies beside the caller's own policies; an explicit deny in either wins.

use axum::http::StatusCode;
use serde_json::{Value as Json, json};
use tidepool_store::messages;
use tidepool_store::table::ResourcePolicy;

use super::App;
use super::error::{ApiError, ApiResult};
use super::request::Req;

/// A resource-based policy's largest document, whitespace counted.
pub const MAX_RESOURCE_POLICY_BYTES: usize = 20 * 1024;
/// The longest string (action, resource, condition value) of a resource
/// policy: an ARN's length. Wildcard matching costs the pattern's length
/// times the text's, and any user allowed PutResourcePolicy writes these.
const MAX_POLICY_STRING_BYTES: usize = 2048;
/// `ExpectedRevisionId` that asks for no policy to be attached yet.
const NO_POLICY: &str = "NO_POLICY";
/// Parsed resource policies kept for authorization, by document: a table's
/// policy is parsed once, not per request. Past this many the cache starts
/// over (at most 256 × 20 KB of documents, plus their parsed form).
const MAX_PARSED_POLICIES: usize = 256;

/// Resource policies parsed for authorization ([`MAX_PARSED_POLICIES`]).
#[derive(Default)]
pub struct ParsedPolicies(std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<crate::iam::Policy>>>);

impl ParsedPolicies {
    fn get(&self, document: &str) -> Option<std::sync::Arc<crate::iam::Policy>> {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = cache.get(document) {
            return Some(p.clone());
        }
        // Stored documents were checked when put; one that no longer
        // parses governs nothing, as before.
        let parsed = std::sync::Arc::new(crate::iam::Policy::parse(document).ok()?);
        if cache.len() >= MAX_PARSED_POLICIES {
            cache.clear();
        }
        cache.insert(document.to_string(), parsed.clone());
        Some(parsed)
    }
}

/// The shape checks DynamoDB makes before it reads a document's
/// statements, in its words: JSON, a non-empty `Statement`, a `Resource`
/// in each statement, unique `Sid`s.
fn check_shape(document: &str) -> ApiResult<()> {
    let doc = match serde_json::from_str::<Json>(document) {
        Ok(Json::Null) => return Err(ApiError::validation(messages::table::POLICY_NOT_A_POLICY)),
        Ok(Json::Object(o)) if o.is_empty() => {
            // The parser's position at the end of the text (line, column).
            let line = document.lines().count().max(1);
            let column = document.lines().last().map_or(0, |l| l.chars().count()) + 1;
            return Err(ApiError::validation(messages::table::policy_syntax_error(line, column)));
        }
        Ok(d @ Json::Object(_)) => d,
        _ => return Err(ApiError::validation(messages::table::POLICY_INVALID_JSON)),
    };
    let statements = match doc.get("Statement") {
        Some(Json::Array(a)) => a.iter().collect(),
        Some(s @ Json::Object(_)) => vec![s],
        _ => Vec::new(),
    };
    if statements.is_empty() {
        return Err(ApiError::validation(messages::table::POLICY_NO_STATEMENT));
    }
    if statements.iter().any(|s| s.get("Effect").is_none()) {
        return Err(ApiError::validation(messages::table::POLICY_WITHOUT_EFFECT));
    }
    if statements.iter().any(|s| s.get("Resource").is_none() && s.get("NotResource").is_none()) {
        return Err(ApiError::validation(messages::table::POLICY_WITHOUT_RESOURCE));
    }
    let mut sids = std::collections::HashSet::new();
    if statements.iter().filter_map(|s| s.get("Sid").and_then(Json::as_str)).any(|sid| !sids.insert(sid)) {
        return Err(ApiError::validation(messages::table::POLICY_SIDS_NOT_UNIQUE));
    }
    Ok(())
}

/// IAM's default policy language version, which DynamoDB names in a
/// document put without one.
const DEFAULT_POLICY_VERSION: &str = "2008-10-17";

/// A document as DynamoDB keeps and returns it: minified, its members in
/// DynamoDB's order (`Version`, `Id`, `Statement`; in a statement `Sid`,
/// `Effect`, `Principal`, `Action`, `Resource`, `Condition`), a list of
/// one as its element, an account id principal as the account's root
/// ARN, `Effect` capitalized, and a lone statement as a list of one. Two
/// documents with the same canonical form are the same policy (a re-put
/// keeps its revision). With `fill_version`, a document without a
/// `Version` names IAM's default (GetResourcePolicy's answer). `None` if
/// `document` is not a JSON object.
pub(crate) fn canonical(document: &str, fill_version: bool) -> Option<String> {
    let doc: Json = serde_json::from_str(document).ok()?;
    let top = doc.as_object()?;
    let mut parts = Vec::new();
    match top.get("Version") {
        Some(v) => parts.push(format!("\"Version\":{v}")),
        None if fill_version => parts.push(format!("\"Version\":\"{DEFAULT_POLICY_VERSION}\"")),
        None => {}
    }
    if let Some(id) = top.get("Id") {
        parts.push(format!("\"Id\":{id}"));
    }
    let statements: Vec<&Json> = match top.get("Statement") {
        Some(Json::Array(a)) => a.iter().collect(),
        Some(s) => vec![s],
        None => Vec::new(),
    };
    let statements: Vec<String> = statements.into_iter().map(canonical_statement).collect();
    parts.push(format!("\"Statement\":[{}]", statements.join(",")));
    for (k, v) in top.iter().filter(|(k, _)| !["Version", "Id", "Statement"].contains(&k.as_str())) {
        parts.push(format!("{}:{v}", Json::from(k.as_str())));
    }
    Some(format!("{{{}}}", parts.join(",")))
}

/// A list of one as its element.
fn single(v: &Json) -> Json {
    match v {
        Json::Array(a) if a.len() == 1 => a[0].clone(),
        v => v.clone(),
    }
}

fn canonical_statement(s: &Json) -> String {
    const ORDER: [&str; 9] =
        ["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"];
    let Some(o) = s.as_object() else { return s.to_string() };
    let value = |k: &str, v: &Json| -> Json {
        match k {
            "Effect" => match v.as_str() {
                Some(e) if e.eq_ignore_ascii_case("allow") => Json::from("Allow"),
                Some(e) if e.eq_ignore_ascii_case("deny") => Json::from("Deny"),
                _ => v.clone(),
            },
            "Action" | "NotAction" | "Resource" | "NotResource" => single(v),
            "Principal" | "NotPrincipal" => match v {
                Json::Object(p) => Json::Object(
                    p.iter()
                        .map(|(kind, who)| (kind.clone(), if kind == "AWS" { principals(who) } else { single(who) }))
                        .collect(),
                ),
                v => v.clone(),
            },
            "Condition" => match v {
                Json::Object(ops) => Json::Object(
                    ops.iter()
                        .map(|(op, keys)| {
                            let keys = match keys {
                                Json::Object(k) => {
                                    Json::Object(k.iter().map(|(n, v)| (n.clone(), single(v))).collect())
                                }
                                v => v.clone(),
                            };
                            (op.clone(), keys)
                        })
                        .collect(),
                ),
                v => v.clone(),
            },
            _ => v.clone(),
        }
    };
    let known = ORDER.iter().filter_map(|k| o.get(*k).map(|v| (*k, v)));
    let others = o.iter().filter(|(k, _)| !ORDER.contains(&k.as_str())).map(|(k, v)| (k.as_str(), v));
    let members: Vec<String> = known.chain(others).map(|(k, v)| format!("{}:{}", Json::from(k), value(k, v))).collect();
    format!("{{{}}}", members.join(","))
}

/// A principal's value: an account id as the account's root ARN, the
/// same principal once, a list of one as its element.
fn principals(who: &Json) -> Json {
    let root = |s: &str| {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            format!("arn:aws:iam::{s}:root")
        } else {
            s.to_string()
        }
    };
    match who {
        Json::String(s) => Json::from(root(s)),
        Json::Array(list) => {
            let mut out: Vec<Json> = Vec::new();
            for w in list {
                let w = w.as_str().map_or_else(|| w.clone(), |s| Json::from(root(s)));
                if !out.contains(&w) {
                    out.push(w);
                }
            }
            single(&Json::Array(out))
        }
        w => w.clone(),
    }
}

/// Actions a table's policy may not name (they are a stream's, or act on
/// no table), which DynamoDB refuses by name.
const NOT_TABLE_ACTIONS: [&str; 6] = [
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ExecuteStatement",
    "dynamodb:BatchExecuteStatement",
    "dynamodb:RestoreTableFromBackup",
];

/// DynamoDB's refusal of a table policy naming actions no table policy
/// supports (a stream's policy takes the stream's), each quoted as written.
pub(crate) fn check_table_actions(document: &str) -> ApiResult<()> {
    let Ok(doc) = serde_json::from_str::<Json>(document) else { return Ok(()) };
    let mut invalid: Vec<String> = Vec::new();
    for a in named(&doc, &["Action", "NotAction"]) {
        if NOT_TABLE_ACTIONS.iter().any(|n| n.eq_ignore_ascii_case(a)) && !invalid.iter().any(|x| x == a) {
            invalid.push(a.to_string());
        }
    }
    if invalid.is_empty() {
        return Ok(());
    }
    Err(ApiError::validation(messages::table::policy_invalid_actions(&invalid)))
}

/// DynamoDB's refusal of a policy naming a resource of the other kind: a
/// table's policy naming a stream, a stream's naming anything but a stream
/// (DDB-TABLE-211, -212). A table's policy may name another table, an
/// index or `*`.
pub(crate) fn check_resources(document: &str, stream: bool) -> ApiResult<()> {
    let Ok(doc) = serde_json::from_str::<Json>(document) else { return Ok(()) };
    for r in named(&doc, &["Resource"]) {
        let parts: Vec<&str> = r.splitn(6, ':').collect();
        let [_, _, "dynamodb", _, _, relative] = parts[..] else { continue };
        if relative.contains("/stream/") != stream {
            return Err(ApiError::validation(messages::table::policy_resource_invalid(relative, r)));
        }
    }
    Ok(())
}

/// The strings a policy document's statements give `members` (each a
/// string or a list of strings; a single statement or a list of them), in
/// order.
fn named<'a>(doc: &'a Json, members: &'a [&'a str]) -> impl Iterator<Item = &'a str> {
    let statements: &[Json] = match doc.get("Statement") {
        Some(Json::Array(a)) => a,
        Some(s) => std::slice::from_ref(s),
        None => &[],
    };
    statements.iter().flat_map(move |s| {
        members.iter().flat_map(move |m| match s.get(*m) {
            Some(Json::String(v)) => vec![v.as_str()],
            Some(Json::Array(l)) => l.iter().filter_map(Json::as_str).collect(),
            _ => Vec::new(),
        })
    })
}

/// A document checked as DynamoDB checks it, with a fresh revision id.
pub(crate) fn checked(document: &str) -> ApiResult<ResourcePolicy> {
    if document.len() > MAX_RESOURCE_POLICY_BYTES {
        return Err(ApiError::validation(messages::table::policy_too_large(MAX_RESOURCE_POLICY_BYTES)));
    }
    check_shape(document)?;
    // Kept, compared and evaluated in DynamoDB's canonical form.
    let document =
        &canonical(document, false).ok_or_else(|| ApiError::validation(messages::table::POLICY_INVALID_JSON))?;
    let policy = crate::iam::Policy::parse(document)
        .map_err(|why| ApiError::validation(messages::table::policy_invalid(why)))?;
    if !policy.names_principals() {
        return Err(ApiError::validation(messages::table::POLICY_WITHOUT_PRINCIPAL));
    }
    if policy.allows_anyone_unconditionally() {
        return Err(ApiError::validation(messages::table::POLICY_UNBOUNDED));
    }
    if let Some(bad) = policy.bad_principal() {
        tracing::debug!(principal = bad, "a resource policy names an invalid principal");
        return Err(ApiError::validation(messages::table::POLICY_INVALID_PRINCIPAL));
    }
    if policy.longest_text() > MAX_POLICY_STRING_BYTES {
        return Err(ApiError::validation(messages::table::policy_string_too_long(MAX_POLICY_STRING_BYTES)));
    }
    Ok(ResourcePolicy { document: document.to_string(), revision: revision_now() })
}

/// A revision id: the time in milliseconds, strictly increasing across
/// the server's puts, so two in one millisecond differ.
fn revision_now() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let prev = LAST.fetch_max(now, Ordering::AcqRel);
    let id = if now > prev { now } else { LAST.fetch_add(1, Ordering::AcqRel) + 1 };
    id.to_string()
}

fn policy_not_found(arn: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "PolicyNotFoundException", messages::table::policy_not_found(arn))
}

/// `ExpectedRevisionId`: 1 to 256 characters.
fn expected_revision(r: &Req<'_>) -> ApiResult<Option<String>> {
    let e = r.str_opt("ExpectedRevisionId")?;
    if let Some(e) = e.filter(|e| e.is_empty() || e.chars().count() > 256) {
        let bound = if e.is_empty() { messages::request::min_length(1) } else { messages::request::max_length(256) };
        return Err(ApiError::validation(messages::request::envelope([messages::request::value_at(
            e,
            "expectedRevisionId",
            bound,
        )])));
    }
    Ok(e.map(str::to_string))
}

/// The table and whether the ARN names its stream, or DynamoDB's refusal
/// of the ARN: not an ARN, not a DynamoDB table or stream (an index's ARN
/// named as such), another account, another region or partition, then a
/// table or stream that does not exist.
fn target(app: &App, arn: &str) -> ApiResult<(String, bool)> {
    target_for(app, arn, None)
}

/// [`target`], checking the resources `document` names against the kind of
/// resource the policy is for once the table is known, before its stream
/// is (DDB-TABLE-212: a policy naming the table, put on an unknown stream
/// label, is refused for its resource).
fn target_for(app: &App, arn: &str, document: Option<&str>) -> ApiResult<(String, bool)> {
    if !arn.starts_with("arn:") {
        return Err(ApiError::validation(messages::table::arn_not_an_arn(arn)));
    }
    let not_dynamodb = || ApiError::validation(messages::table::arn_not_dynamodb(arn));
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, partition, service, region, account, resource] = parts[..] else { return Err(not_dynamodb()) };
    if service != "dynamodb" {
        return Err(not_dynamodb());
    }
    if account != super::ACCOUNT_ID {
        return Err(ApiError::validation(messages::table::POLICY_OTHER_ACCOUNT));
    }
    if partition != "aws" || region != app.region {
        return Err(ApiError::validation(messages::table::policy_arn_invalid(arn)));
    }
    let Some(rest) = resource.strip_prefix("table/") else { return Err(not_dynamodb()) };
    let (table, stream) = match rest.split_once('/') {
        None => (rest, None),
        Some((t, tail)) => match tail.split_once('/') {
            Some(("stream", label)) if !label.is_empty() && !label.contains('/') => (t, Some(label)),
            Some(("index", _)) => {
                return Err(ApiError::validation(messages::table::arn_of_index(arn)));
            }
            _ => return Err(not_dynamodb()),
        },
    };
    let handle = app.store.table(table).map_err(|_| ApiError::not_found(messages::table::table_not_found(table)))?;
    if let Some(document) = document {
        check_resources(document, stream.is_some())?;
    }
    if let Some(label) = stream
        && policy_stream_label(&handle.def) != Some(label)
    {
        return Err(ApiError::not_found(messages::table::stream_not_found(label, table)));
    }
    Ok((table.to_string(), stream.is_some()))
}

/// The label of the stream whose policy a table keeps: its stream's, or
/// while it has none the one disabled last, whose policy may still be
/// read, changed and deleted, as in DynamoDB ("You can also modify or
/// delete the policy of a disabled stream").
fn policy_stream_label(def: &tidepool_store::table::TableDef) -> Option<&str> {
    match &def.stream {
        Some(s) => Some(&s.label),
        None => def.old_streams.last().map(|s| s.label.as_str()),
    }
}

/// DynamoDB's lockout check: a PutResourcePolicy whose new document would
/// deny its caller `dynamodb:PutResourcePolicy` on the resource (the
/// caller simulated against the new document, conditions included) is
/// refused unless `ConfirmRemoveSelfResourceAccess` is true. Only that
/// action is checked, as DynamoDB checks only it. A request the operation
/// itself refuses (a bad document or ARN) is left to it. `origin` is
/// where the request came from, as its own authorization saw it.
pub fn lockout_check(
    app: &App,
    principal: &crate::iam::Principal,
    origin: &crate::iam::Origin,
    body: &serde_json::Map<String, Json>,
) -> ApiResult<()> {
    // Confirmed, or not a boolean (the operation refuses that itself).
    if body.get("ConfirmRemoveSelfResourceAccess").is_some_and(|v| !v.is_null() && v.as_bool() != Some(false)) {
        return Ok(());
    }
    let (Some(document), Some(arn)) =
        (body.get("Policy").and_then(Json::as_str), body.get("ResourceArn").and_then(Json::as_str))
    else {
        return Ok(());
    };
    if checked(document).is_err() || target(app, arn).is_err() {
        return Ok(());
    }
    let Some(document) = canonical(document, false) else { return Ok(()) };
    let Ok(new) = crate::iam::Policy::parse(&document) else { return Ok(()) };
    let new = std::sync::Arc::new(new);
    let checks = super::access::checks(app, "PutResourcePolicy", body, false)
        .into_iter()
        .map(|mut c| {
            c.resource_policy = Some(new.clone());
            c
        })
        .collect();
    principal
        .authorize(checks, &app.region, origin)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "AccessDeniedException", messages::table::POLICY_LOCKOUT))
}

pub fn put_resource_policy(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let arn = r.str("ResourceArn")?;
    let document = r.str("Policy")?;
    let expected = expected_revision(&r)?;
    // Checked before the request is served (`lockout_check`); read here so
    // a value of another type is refused as the model refuses it.
    r.bool_opt("ConfirmRemoveSelfResourceAccess")?;
    let new = checked(document)?;
    let (table, stream) = target_for(app, arn, Some(document))?;
    if !stream {
        check_table_actions(document)?;
    }
    let mut revision = new.revision.clone();
    app.store.alter_table(&table, |def| {
        let label = policy_stream_label(def).map(str::to_string);
        let s = &mut def.settings;
        let (slot, deleted) = if stream {
            (&mut s.stream_resource_policy, &s.stream_resource_policy_deleted)
        } else {
            (&mut s.resource_policy, &s.resource_policy_deleted)
        };
        match (&expected, slot.as_ref()) {
            (Some(e), None) if e != NO_POLICY => {
                return Err(refused(messages::table::policy_expected_but_none(e, &table)));
            }
            (Some(e), Some(cur)) if e == NO_POLICY => {
                return Err(refused(messages::table::policy_exists(&table, &cur.revision)));
            }
            (Some(e), Some(cur)) if *e != cur.revision => {
                return Err(refused(messages::table::policy_revision_mismatch(e, &table, &cur.revision)));
            }
            _ => {}
        }
        match slot.as_ref() {
            // The same policy again: the same revision.
            Some(cur) if canonical(&cur.document, false).as_deref() == Some(&new.document) => {
                revision = cur.revision.clone()
            }
            _ => {
                cooldown(app, &table, label.filter(|_| stream).as_deref(), slot.as_ref(), deleted.as_ref())?;
                *slot = Some(new.clone())
            }
        }
        Ok(())
    })?;
    Ok(json!({"RevisionId": revision}))
}

pub fn get_resource_policy(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let arn = r.str("ResourceArn")?;
    let (table, stream) = target(app, arn)?;
    let handle = app.store.table(&table)?;
    let slot = if stream { &handle.def.settings.stream_resource_policy } else { &handle.def.settings.resource_policy };
    let p = slot.as_ref().ok_or_else(|| policy_not_found(arn))?;
    let document = canonical(&p.document, true).unwrap_or_else(|| p.document.clone());
    Ok(json!({"Policy": document, "RevisionId": p.revision}))
}

pub fn delete_resource_policy(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let arn = r.str("ResourceArn")?;
    let expected = expected_revision(&r)?;
    let (table, stream) = target(app, arn)?;
    let mut revision = None;
    app.store.alter_table(&table, |def| {
        let label = policy_stream_label(def).map(str::to_string);
        let s = &mut def.settings;
        let (slot, deleted) = if stream {
            (&mut s.stream_resource_policy, &mut s.stream_resource_policy_deleted)
        } else {
            (&mut s.resource_policy, &mut s.resource_policy_deleted)
        };
        // Idempotent: no policy is no error, unless a revision was expected;
        // after a deletion, its time is the answer's revision.
        let Some(cur) = slot.as_ref() else {
            if let Some(e) = &expected {
                return Err(refused(messages::table::policy_expected_but_none(e, &table)));
            }
            revision = deleted.clone();
            return Ok(());
        };
        if let Some(e) = &expected
            && *e != cur.revision
        {
            return Err(refused(messages::table::policy_revision_mismatch(e, &table, &cur.revision)));
        }
        cooldown(app, &table, label.filter(|_| stream).as_deref(), Some(cur), deleted.as_ref())?;
        revision = Some(cur.revision.clone());
        *slot = None;
        *deleted = Some(revision_now());
        Ok(())
    })?;
    Ok(match revision {
        Some(r) => json!({"RevisionId": r}),
        None => json!({}),
    })
}

/// DynamoDB's refusal of a change to a policy within
/// [`super::SETTING_COOLDOWN`] of its last change (its revision, or its
/// deletion): the table's, or with `stream_label` its stream's. Checked
/// after the expected revision, as DynamoDB checks it (DDB-TABLE-206). The
/// live service first answers ResourceInUseException for a second or two
/// while the change propagates; here the change is in place at once, so
/// the whole window answers ThrottlingException, which the SDKs retry.
fn cooldown(
    app: &App,
    table: &str,
    stream_label: Option<&str>,
    current: Option<&ResourcePolicy>,
    deleted: Option<&String>,
) -> Result<(), tidepool_store::StoreError> {
    let last =
        [current.map(|p| &p.revision), deleted].into_iter().flatten().filter_map(|r| r.parse::<u64>().ok()).max();
    let Some(until) = last.and_then(|l| app.cooling_until(l)) else { return Ok(()) };
    let (kind, name) = match stream_label {
        Some(label) => ("stream", label),
        None => ("table", table),
    };
    Err(tidepool_store::StoreError::Refused {
        kind: "ThrottlingException",
        message: messages::table::policy_cooldown(
            kind,
            name,
            app.setting_cooldown.as_millis() as u64,
            tidepool_store::format_timestamp_millis(until),
        ),
    })
}

/// A `PolicyNotFoundException` from inside `alter_table`.
fn refused(message: String) -> tidepool_store::StoreError {
    tidepool_store::StoreError::Refused { kind: "PolicyNotFoundException", message }
}

/// The parsed resource policy that governs `resource` (a table, index or
/// stream ARN of this server), if its table has one.
pub(crate) fn governing(app: &App, resource: &str) -> Option<std::sync::Arc<crate::iam::Policy>> {
    let prefix = format!("arn:aws:dynamodb:{}:{}:table/", app.region, super::ACCOUNT_ID);
    let rest = resource.strip_prefix(&prefix)?;
    let table = rest.split('/').next()?;
    let handle = app.store.table(table).ok()?;
    let slot = match rest.split_once("/stream/") {
        // A stream's policy is its current stream's (or, with none, the
        // one disabled last).
        Some((_, label)) if policy_stream_label(&handle.def) == Some(label) => {
            &handle.def.settings.stream_resource_policy
        }
        Some(_) => return None,
        None => &handle.def.settings.resource_policy,
    };
    app.parsed_policies.get(&slot.as_ref()?.document)
}
