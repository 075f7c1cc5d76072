//! IAM policy documents and their evaluation, as IAM evaluates
//! identity-based policies: an explicit `Deny` wins, then an `Allow`, and
//! nothing allowed is denied.
//!
//! A statement matches a request when its `Action` (or `NotAction`), its
//! `Resource` (or `NotResource`) and every operator of its `Condition`
//! match. Actions match case-insensitively, resources case-sensitively,
//! both with the `*` and `?` wildcards. Policy variables (`${aws:username}`
//! and the other single-valued keys of the request) are replaced in
//! resources and condition values; `${*}`, `${?}` and `${$}` stand for the
//! characters themselves. As in IAM, only a document whose `Version` is
//! `2012-10-17` has variables: in `2008-10-17`, the default when `Version`
//! is left out, `${aws:username}` is literal text (IAM User Guide, "IAM
//! JSON policy elements: Version").
//!
//! Condition operators: `String{Not}Equals{IgnoreCase}`, `String{Not}Like`,
//! `Numeric{Not}Equals`, `NumericLessThan{Equals}`,
//! `NumericGreaterThan{Equals}`, `Date...` (ISO 8601 or epoch seconds),
//! `Bool`, `Null`, `Arn{Not}Equals`, `Arn{Not}Like`, `{Not}IpAddress` (an
//! IPv4 or IPv6 address or CIDR block; another value refuses the
//! document), each with an
//! `IfExists` suffix, and the set prefixes `ForAllValues:` and
//! `ForAnyValue:` for multivalued keys such as `dynamodb:LeadingKeys` and
//! `dynamodb:Attributes`. An operator this module does not know makes its
//! statement match nothing: an unknown `Allow` grants nothing, an unknown
//! `Deny` denies nothing, as IAM treats a condition it cannot evaluate.
//! Documents are checked when they are loaded, so that case is refused
//! there.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value as Json;

/// The mark of a `Principal` of a kind other than `AWS`.
const OTHER_KIND: &str = "\u{1}";

/// A policy document's size, as IAM's largest managed policy (6,144
/// characters) with room for inline documents written by hand.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;
/// The value a protocol gives a condition key it could not derive (a
/// partition key missing from an item, a PartiQL statement's keys). No
/// policy names it, so an `Allow` conditioned on the key never matches,
/// and a `Deny` conditioned on it always does: both fail closed.
pub const UNKNOWN_VALUE: &str = "\u{0}unknown";
/// Statements in one document.
pub const MAX_STATEMENTS: usize = 256;
/// The policy language version that has policy variables; the older
/// `2008-10-17`, and a document without `Version`, has none.
pub const VARIABLES_VERSION: &str = "2012-10-17";

/// A policy document, parsed.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    /// A resource-based policy's `Principal`: `*`, or ARNs (`AWS`); other
    /// kinds (`Service`, `Federated`) are kept with their kind and match no
    /// caller of this server. `None` in identity-based policies.
    principals: Option<Vec<String>>,
    /// `Action` (true) or `NotAction` (false), lower-cased.
    actions: (bool, Vec<String>),
    /// `Resource` (true) or `NotResource` (false).
    resources: (bool, Vec<String>),
    conditions: Vec<Condition>,
    /// Whether `${...}` is a policy variable here (the document's
    /// `Version` is [`VARIABLES_VERSION`]) or literal text.
    variables: bool,
}

#[derive(Debug, Clone)]
struct Condition {
    set: SetOp,
    op: Op,
    if_exists: bool,
    key: String,
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Single,
    ForAllValues,
    ForAnyValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    StringEquals { negate: bool, ignore_case: bool },
    StringLike { negate: bool },
    Numeric { cmp: Cmp, negate: bool },
    Date { cmp: Cmp, negate: bool },
    Bool,
    Null,
    ArnLike { negate: bool },
    IpAddress { negate: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn negated(self) -> bool {
        match self {
            Op::StringEquals { negate, .. }
            | Op::StringLike { negate }
            | Op::Numeric { negate, .. }
            | Op::Date { negate, .. }
            | Op::ArnLike { negate }
            | Op::IpAddress { negate } => negate,
            Op::Bool | Op::Null => false,
        }
    }
}

fn parse_op(name: &str) -> Option<Op> {
    let cmp = |s: &str| match s {
        "Equals" => Some((Cmp::Eq, false)),
        "NotEquals" => Some((Cmp::Eq, true)),
        "LessThan" => Some((Cmp::Lt, false)),
        "LessThanEquals" => Some((Cmp::Le, false)),
        "GreaterThan" => Some((Cmp::Gt, false)),
        "GreaterThanEquals" => Some((Cmp::Ge, false)),
        _ => None,
    };
    Some(match name {
        "StringEquals" => Op::StringEquals { negate: false, ignore_case: false },
        "StringNotEquals" => Op::StringEquals { negate: true, ignore_case: false },
        "StringEqualsIgnoreCase" => Op::StringEquals { negate: false, ignore_case: true },
        "StringNotEqualsIgnoreCase" => Op::StringEquals { negate: true, ignore_case: true },
        "StringLike" => Op::StringLike { negate: false },
        "StringNotLike" => Op::StringLike { negate: true },
        "Bool" => Op::Bool,
        "Null" => Op::Null,
        "ArnEquals" | "ArnLike" => Op::ArnLike { negate: false },
        "ArnNotEquals" | "ArnNotLike" => Op::ArnLike { negate: true },
        "IpAddress" => Op::IpAddress { negate: false },
        "NotIpAddress" => Op::IpAddress { negate: true },
        n if n.starts_with("Numeric") => {
            let (cmp, negate) = cmp(&n["Numeric".len()..])?;
            Op::Numeric { cmp, negate }
        }
        n if n.starts_with("Date") => {
            let (cmp, negate) = cmp(&n["Date".len()..])?;
            Op::Date { cmp, negate }
        }
        _ => return None,
    })
}

/// Why a document does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn strings(v: &Json, what: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Json::String(s) => Ok(vec![s.clone()]),
        Json::Array(a) => a
            .iter()
            .map(|e| match e {
                Json::String(s) => Ok(s.clone()),
                Json::Bool(b) => Ok(b.to_string()),
                Json::Number(n) => Ok(n.to_string()),
                _ => Err(PolicyError(format!("{what} must be a string or a list of strings"))),
            })
            .collect(),
        Json::Bool(b) => Ok(vec![b.to_string()]),
        Json::Number(n) => Ok(vec![n.to_string()]),
        _ => Err(PolicyError(format!("{what} must be a string or a list of strings"))),
    }
}

impl Policy {
    /// Parses a policy document (JSON).
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError(format!("the policy is {} bytes; at most {MAX_POLICY_BYTES}", text.len())));
        }
        let doc: Json = serde_json::from_str(text).map_err(|e| PolicyError(format!("not JSON: {e}")))?;
        let list = match doc.get("Statement") {
            Some(Json::Array(a)) => a.clone(),
            Some(s @ Json::Object(_)) => vec![s.clone()],
            _ => return Err(PolicyError("the policy has no Statement".into())),
        };
        if list.len() > MAX_STATEMENTS {
            return Err(PolicyError(format!("{} statements; at most {MAX_STATEMENTS}", list.len())));
        }
        let variables = doc.get("Version").and_then(Json::as_str) == Some(VARIABLES_VERSION);
        let statements = list.iter().map(|s| Statement::parse(s, variables)).collect::<Result<_, _>>()?;
        Ok(Policy { statements })
    }
}

impl Statement {
    fn parse(s: &Json, variables: bool) -> Result<Statement, PolicyError> {
        let effect = match s.get("Effect").and_then(Json::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            Some(other) => return Err(PolicyError(format!("Invalid effect: {other}"))),
            None => return Err(PolicyError("Missing required field Effect".into())),
        };
        let pick = |yes: &str, no: &str| -> Result<(bool, Vec<String>), PolicyError> {
            match (s.get(yes), s.get(no)) {
                (Some(v), None) => Ok((true, strings(v, yes)?)),
                (None, Some(v)) => Ok((false, strings(v, no)?)),
                (Some(_), Some(_)) => Err(PolicyError(format!("a statement has both {yes} and {no}"))),
                (None, None) => Err(PolicyError(format!("a statement needs {yes} or {no}"))),
            }
        };
        if s.get("NotPrincipal").is_some() {
            return Err(PolicyError("NotPrincipal is not supported".into()));
        }
        let principals = match s.get("Principal") {
            None => None,
            Some(Json::String(p)) if p == "*" => Some(vec!["*".to_string()]),
            Some(Json::Object(kinds)) => {
                let mut all = Vec::new();
                for (kind, v) in kinds {
                    for p in strings(v, "Principal")? {
                        // Another kind (`Service`, `Federated`) is marked so
                        // it can match no caller and is not read as `AWS`.
                        all.push(if kind == "AWS" { p } else { format!("{OTHER_KIND}{kind}:{p}") });
                    }
                }
                Some(all)
            }
            Some(_) => return Err(PolicyError("Principal must be \"*\" or an object".into())),
        };
        let (is, actions) = pick("Action", "NotAction")?;
        let actions = (is, actions.into_iter().map(|a| a.to_ascii_lowercase()).collect());
        let resources = pick("Resource", "NotResource")?;
        let mut conditions = Vec::new();
        if let Some(c) = s.get("Condition") {
            let Json::Object(ops) = c else { return Err(PolicyError("Condition must be an object".into())) };
            for (name, keys) in ops {
                let (set, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
                    (SetOp::ForAllValues, r)
                } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
                    (SetOp::ForAnyValue, r)
                } else {
                    (SetOp::Single, name.as_str())
                };
                let (rest, if_exists) = match rest.strip_suffix("IfExists") {
                    Some(r) => (r, true),
                    None => (rest, false),
                };
                let op = parse_op(rest).ok_or_else(|| PolicyError(format!("unknown condition operator {name}")))?;
                let Json::Object(keys) = keys else {
                    return Err(PolicyError(format!("condition {name} must map keys to values")));
                };
                for (key, values) in keys {
                    let values = strings(values, key)?;
                    check_values(name, key, op, &values)?;
                    conditions.push(Condition { set, op, if_exists, key: key.to_ascii_lowercase(), values });
                }
            }
        }
        Ok(Statement { effect, principals, actions, resources, conditions, variables })
    }
}

/// Refuses a value `op` could never compare, as IAM refuses the document:
/// an `IpAddress` value that is no address or CIDR block would otherwise
/// match nothing, silently (an `Allow` granting nothing, a `Deny` denying
/// nothing, or a `NotIpAddress` deny denying everyone).
fn check_values(name: &str, key: &str, op: Op, values: &[String]) -> Result<(), PolicyError> {
    if let Op::IpAddress { .. } = op
        && let Some(bad) = values.iter().find(|v| ip_block(v).is_none())
    {
        return Err(PolicyError(format!(
            "condition {name}: {bad:?} (for {key}) is not an IP address or CIDR block, such as 203.0.113.0/24 or 2001:db8::/32"
        )));
    }
    Ok(())
}

impl Policy {
    /// Whether every statement names a `Principal`, as a resource-based
    /// policy's must.
    pub fn names_principals(&self) -> bool {
        self.statements.iter().all(|s| s.principals.as_ref().is_some_and(|p| !p.is_empty()))
    }

    /// A principal IAM would refuse in a resource-based policy: not `*`,
    /// an account id or an IAM ARN, or an ARN with a wildcard.
    pub fn bad_principal(&self) -> Option<&str> {
        let ok = |p: &str| {
            p == "*"
                || p.starts_with(OTHER_KIND)
                || (p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()))
                || ((p.starts_with("arn:aws:iam::") || p.starts_with("arn:aws:sts::"))
                    && !p.contains('*')
                    && !p.contains('?'))
        };
        self.statements.iter().flat_map(|s| s.principals.iter().flatten()).map(String::as_str).find(|p| !ok(p))
    }

    /// Whether a statement allows everyone (`*`, or `{"AWS": "*"}`) with no
    /// condition: what DynamoDB refuses in a resource-based policy as
    /// unbounded access.
    pub fn allows_anyone_unconditionally(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Allow
                && s.conditions.is_empty()
                && s.principals.as_ref().is_some_and(|p| p.iter().any(|p| p == "*"))
        })
    }

    /// The longest action, resource or condition value.
    pub fn longest_text(&self) -> usize {
        self.statements
            .iter()
            .flat_map(|s| s.actions.1.iter().chain(&s.resources.1).chain(s.conditions.iter().flat_map(|c| &c.values)))
            .map(String::len)
            .max()
            .unwrap_or(0)
    }
}

/// Evaluates a resource-based policy for a caller known by `callers` (its
/// ARNs) in account `account`: only statements whose `Principal` is `*` or
/// one of them count; a `Deny` naming the account (its id or `root`)
/// denies everyone in it.
pub fn evaluate_resource(
    policy: &Policy,
    callers: &[&str],
    account: &str,
    action: &str,
    resource: &str,
    ctx: &Context,
) -> Decision {
    let action = action.to_ascii_lowercase();
    let root = format!("arn:aws:iam::{account}:root");
    let mut allowed = false;
    for st in &policy.statements {
        let names = st.principals.as_deref().unwrap_or_default();
        let named = names.iter().any(|p| p == "*" || callers.contains(&p.as_str()));
        let account_wide = st.effect == Effect::Deny && names.iter().any(|p| p == account || *p == root);
        if !named && !account_wide {
            continue;
        }
        if st.matches(&action, resource, ctx) {
            match st.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
    }
    if allowed { Decision::Allowed } else { Decision::ImplicitDeny }
}

/// What a request is, for evaluation: the action, the resource, and the
/// request's context keys (lower-cased names; several values for a
/// multivalued key).
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub keys: HashMap<String, Vec<String>>,
}

impl Context {
    pub fn set(&mut self, key: &str, values: Vec<String>) {
        self.keys.insert(key.to_ascii_lowercase(), values);
    }

    fn get(&self, key: &str) -> Option<&[String]> {
        self.keys.get(key).map(Vec::as_slice)
    }
}

/// The outcome of evaluating policies for one action on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// A statement denied it explicitly.
    ExplicitDeny,
    /// No statement allowed it.
    ImplicitDeny,
}

/// Evaluates `policies` for `action` (e.g. `dynamodb:PutItem`) on
/// `resource` (an ARN, or `*`).
pub fn evaluate(policies: &[Policy], action: &str, resource: &str, ctx: &Context) -> Decision {
    let action = action.to_ascii_lowercase();
    let mut allowed = false;
    for st in policies.iter().flat_map(|p| &p.statements) {
        if st.matches(&action, resource, ctx) {
            match st.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
    }
    if allowed { Decision::Allowed } else { Decision::ImplicitDeny }
}

impl Statement {
    fn matches(&self, action: &str, resource: &str, ctx: &Context) -> bool {
        let (is, patterns) = &self.actions;
        if patterns.iter().any(|p| wildcard(p, action)) != *is {
            return false;
        }
        let (is, patterns) = &self.resources;
        if patterns.iter().any(|p| wildcard(&self.expand(p, ctx), resource)) != *is {
            return false;
        }
        let deny = self.effect == Effect::Deny;
        self.conditions.iter().all(|c| if c.unknown(ctx) { deny } else { c.holds(ctx, |v| self.expand(v, ctx)) })
    }

    /// `text` with its policy variables replaced, in a document that has
    /// them; as written otherwise.
    fn expand<'a>(&self, text: &'a str, ctx: &Context) -> Cow<'a, str> {
        if self.variables { Cow::Owned(substitute(text, ctx)) } else { Cow::Borrowed(text) }
    }
}

impl Condition {
    /// Whether the request's value of this condition's key could not be
    /// derived ([`UNKNOWN_VALUE`]).
    fn unknown(&self, ctx: &Context) -> bool {
        ctx.get(&self.key).is_some_and(|v| v.iter().any(|x| x == UNKNOWN_VALUE))
    }

    /// Whether the condition holds, its values read through `expand`
    /// (policy variables replaced, where the document has them).
    fn holds<'a>(&'a self, ctx: &Context, expand: impl Fn(&'a str) -> Cow<'a, str>) -> bool {
        let values: Vec<Cow<'a, str>> = self.values.iter().map(|v| expand(v)).collect();
        let present = ctx.get(&self.key);
        if self.op == Op::Null {
            // `Null: true` asks that the key be absent.
            let absent = present.is_none_or(<[String]>::is_empty);
            return values.iter().any(|v| v.eq_ignore_ascii_case(if absent { "true" } else { "false" }));
        }
        let Some(found) = present else {
            // A missing key: IfExists passes; ForAllValues over nothing
            // holds and ForAnyValue does not; a single-valued negated
            // operator holds.
            return self.if_exists
                || match self.set {
                    SetOp::ForAllValues => true,
                    SetOp::ForAnyValue => false,
                    SetOp::Single => self.op.negated(),
                };
        };
        match self.set {
            SetOp::ForAllValues => found.iter().all(|f| self.one(f, &values)),
            SetOp::ForAnyValue => found.iter().any(|f| self.one(f, &values)),
            SetOp::Single => {
                // A multivalued key without a set operator: IAM compares
                // its single value; with several, it holds if any matches.
                found.iter().any(|f| self.one(f, &values))
            }
        }
    }

    /// Whether one request value `found` matches the condition's values.
    fn one(&self, found: &str, values: &[Cow<'_, str>]) -> bool {
        let any = |f: &dyn Fn(&str) -> bool| values.iter().any(|v| f(v));
        match self.op {
            Op::StringEquals { negate, ignore_case } => {
                let eq = any(&|v| if ignore_case { v.eq_ignore_ascii_case(found) } else { v == found });
                eq != negate
            }
            Op::StringLike { negate } | Op::ArnLike { negate } => any(&|v| wildcard(v, found)) != negate,
            Op::Numeric { cmp, negate } => {
                let Ok(f) = found.parse::<f64>() else { return false };
                any(&|v| v.parse::<f64>().is_ok_and(|v| compare(f, v, cmp))) != negate
            }
            Op::Date { cmp, negate } => {
                let Some(f) = epoch(found) else { return false };
                any(&|v| epoch(v).is_some_and(|v| compare(f, v, cmp))) != negate
            }
            Op::Bool => any(&|v| v.eq_ignore_ascii_case(found)),
            Op::Null => false,
            Op::IpAddress { negate } => {
                let Ok(f) = found.parse::<IpAddr>() else { return false };
                any(&|v| ip_block(v).is_some_and(|b| in_block(f, b))) != negate
            }
        }
    }
}

/// An `IpAddress` value: an address and its prefix length in bits (a lone
/// address is a block of one, as IAM reads `203.0.113.7`).
fn ip_block(text: &str) -> Option<(IpAddr, u32)> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse::<u32>().ok()?,
        Some(_) => return None,
        None => bits,
    };
    if prefix > bits {
        return None;
    }
    // An IPv4-mapped block (`::ffff:10.0.0.0/104`) is the IPv4 block it
    // maps, as the client it describes is seen as IPv4.
    match addr {
        IpAddr::V6(v) if prefix >= 96 && v.to_ipv4_mapped().is_some() => {
            Some((IpAddr::V4(v.to_ipv4_mapped()?), prefix - 96))
        }
        _ => Some((addr, prefix)),
    }
}

/// Whether `found` lies in the block `(net, prefix)`: the same family and
/// the same first `prefix` bits. An IPv4 client seen through an IPv6
/// socket (`::ffff:a.b.c.d`) is its IPv4 address.
fn in_block(found: IpAddr, (net, prefix): (IpAddr, u32)) -> bool {
    // Either family in the high bits of 128, so a prefix masks the same way.
    let wide = |a: IpAddr| match a {
        IpAddr::V4(v) => (u128::from(u32::from(v)) << 96, true),
        IpAddr::V6(v) => (u128::from(v), false),
    };
    let ((f, f4), (n, n4)) = (wide(found.to_canonical()), wide(net));
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    f4 == n4 && f & mask == n & mask
}

fn compare(a: f64, b: f64, cmp: Cmp) -> bool {
    match cmp {
        Cmp::Eq => a == b,
        Cmp::Lt => a < b,
        Cmp::Le => a <= b,
        Cmp::Gt => a > b,
        Cmp::Ge => a >= b,
    }
}

/// A date as epoch seconds: a number, or ISO 8601 (`2026-12-04T10:00:00Z`).
fn epoch(s: &str) -> Option<f64> {
    if let Ok(n) = s.parse::<f64>() {
        return Some(n);
    }
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (h, mi, se) = if b.len() >= 19 { (num(11..13)?, num(14..16)?, num(17..19)?) } else { (0, 0, 0) };
    let days = {
        let y = if mo <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
        era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
    };
    Some((days * 86_400 + h * 3600 + mi * 60 + se) as f64)
}

/// Replaces `${key}` with the key's single value (or leaves the text, if
/// it has none), and `${*}`, `${?}`, `${$}` with the character.
fn substitute(text: &str, ctx: &Context) -> String {
    if !text.contains("${") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        // `${key, 'default'}`: the default stands in for a key without a
        // value (IAM User Guide, "Specifying default values").
        let (key, default) = match name.split_once(',') {
            Some((k, d)) => {
                let d = d.trim();
                (k.trim(), Some(d.strip_prefix('\'').and_then(|d| d.strip_suffix('\'')).unwrap_or(d)))
            }
            None => (name, None),
        };
        match key {
            "*" | "?" | "$" => out.push_str(key),
            _ => match (ctx.get(&key.to_ascii_lowercase()), default) {
                (Some([one]), _) => out.push_str(one),
                (None, Some(d)) => out.push_str(d),
                // A variable with no single value matches nothing: a
                // character no ARN or key value holds.
                _ => out.push('\u{0}'),
            },
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `*` (any run, `/` included) and `?` (any one character) matching.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/Music";

    fn ctx(pairs: &[(&str, &[&str])]) -> Context {
        let mut c = Context::default();
        for (k, v) in pairs {
            c.set(k, v.iter().map(|s| s.to_string()).collect());
        }
        c
    }

    /// IAM's rules, case by case: (policies, action, resource, context, outcome).
    #[test]
    fn evaluation_follows_iams_rules() {
        use Decision::*;
        let allow_put = r#"{"Statement":{"Effect":"Allow","Action":"dynamodb:PutItem","Resource":"*"}}"#;
        let allow_all_ddb =
            r#"{"Statement":[{"Effect":"Allow","Action":"dynamodb:*","Resource":"arn:aws:dynamodb:*:*:table/Mu*"}]}"#;
        let deny_delete = r#"{"Statement":[{"Effect":"Deny","Action":["dynamodb:Delete*"],"Resource":"*"}]}"#;
        let not_action = r#"{"Statement":[{"Effect":"Allow","NotAction":"dynamodb:Delete*","Resource":"*"}]}"#;
        let not_resource = r#"{"Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem","NotResource":"arn:aws:dynamodb:*:*:table/Secret"}]}"#;
        let leading = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:GetItem","dynamodb:PutItem"],"Resource":"*",
            "Condition":{"ForAllValues:StringEquals":{"dynamodb:LeadingKeys":["${aws:username}"]}}}]}"#;
        let attrs = r#"{"Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"*",
            "Condition":{"ForAllValues:StringEquals":{"dynamodb:Attributes":["pk","title"]},
                         "StringEqualsIfExists":{"dynamodb:Select":"SPECIFIC_ATTRIBUTES"}}}]}"#;
        let numeric = r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*",
            "Condition":{"NumericLessThan":{"n":"10"},"Bool":{"aws:SecureTransport":"false"}}}]}"#;
        let null = r#"{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Null":{"dynamodb:ReturnValues":"false"}}},
            {"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        let not_ssn = r#"{"Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"*",
            "Condition":{"ForAllValues:StringNotEquals":{"dynamodb:Attributes":["ssn"]}}}]}"#;
        let deny_tenant = r#"{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*",
            "Condition":{"ForAnyValue:StringEquals":{"dynamodb:LeadingKeys":["tenantA"]}}}]}"#;
        // (policies, action, resource, context keys, outcome)
        type Case<'a> = (&'a [&'a str], &'a str, &'a str, &'a [(&'a str, &'a [&'a str])], Decision);
        let cases: &[Case] = &[
            (&[], "dynamodb:GetItem", TABLE, &[], ImplicitDeny),
            (&[allow_put], "dynamodb:PutItem", TABLE, &[], Allowed),
            (&[allow_put], "DynamoDB:putitem", TABLE, &[], Allowed),
            (&[allow_put], "dynamodb:GetItem", TABLE, &[], ImplicitDeny),
            (&[allow_all_ddb], "dynamodb:Query", TABLE, &[], Allowed),
            (
                &[allow_all_ddb],
                "dynamodb:Query",
                "arn:aws:dynamodb:us-east-1:000000000000:table/Other",
                &[],
                ImplicitDeny,
            ),
            (&[allow_all_ddb, deny_delete], "dynamodb:DeleteItem", TABLE, &[], ExplicitDeny),
            (&[allow_all_ddb, deny_delete], "dynamodb:DeleteTable", TABLE, &[], ExplicitDeny),
            (&[allow_all_ddb, deny_delete], "dynamodb:PutItem", TABLE, &[], Allowed),
            (&[not_action], "dynamodb:Scan", TABLE, &[], Allowed),
            (&[not_action], "dynamodb:DeleteItem", TABLE, &[], ImplicitDeny),
            (&[not_resource], "dynamodb:GetItem", TABLE, &[], Allowed),
            (
                &[not_resource],
                "dynamodb:GetItem",
                "arn:aws:dynamodb:us-east-1:000000000000:table/Secret",
                &[],
                ImplicitDeny,
            ),
            (
                &[leading],
                "dynamodb:GetItem",
                TABLE,
                &[("aws:username", &["alice"]), ("dynamodb:LeadingKeys", &["alice"])],
                Allowed,
            ),
            (
                &[leading],
                "dynamodb:GetItem",
                TABLE,
                &[("aws:username", &["alice"]), ("dynamodb:LeadingKeys", &["bob"])],
                ImplicitDeny,
            ),
            (
                &[leading],
                "dynamodb:PutItem",
                TABLE,
                &[("aws:username", &["alice"]), ("dynamodb:LeadingKeys", &["alice", "bob"])],
                ImplicitDeny,
            ),
            (
                &[attrs],
                "dynamodb:GetItem",
                TABLE,
                &[("dynamodb:Attributes", &["pk", "title"]), ("dynamodb:Select", &["SPECIFIC_ATTRIBUTES"])],
                Allowed,
            ),
            (&[attrs], "dynamodb:GetItem", TABLE, &[("dynamodb:Attributes", &["pk"])], Allowed),
            (&[attrs], "dynamodb:GetItem", TABLE, &[("dynamodb:Attributes", &["pk", "secret"])], ImplicitDeny),
            (
                &[attrs],
                "dynamodb:GetItem",
                TABLE,
                &[("dynamodb:Attributes", &["pk"]), ("dynamodb:Select", &["ALL_ATTRIBUTES"])],
                ImplicitDeny,
            ),
            (&[numeric], "s3:Get", "*", &[("n", &["9"]), ("aws:SecureTransport", &["false"])], Allowed),
            (&[numeric], "s3:Get", "*", &[("n", &["10"]), ("aws:SecureTransport", &["false"])], ImplicitDeny),
            (&[numeric], "s3:Get", "*", &[("aws:SecureTransport", &["false"])], ImplicitDeny),
            (&[null], "dynamodb:PutItem", TABLE, &[], Allowed),
            (&[null], "dynamodb:PutItem", TABLE, &[("dynamodb:ReturnValues", &["ALL_OLD"])], ExplicitDeny),
            // A key that could not be derived fails closed either way.
            (&[allow_put, deny_tenant], "dynamodb:PutItem", TABLE, &[("dynamodb:LeadingKeys", &["tenantB"])], Allowed),
            (
                &[allow_put, deny_tenant],
                "dynamodb:PutItem",
                TABLE,
                &[("dynamodb:LeadingKeys", &["tenantA"])],
                ExplicitDeny,
            ),
            (
                &[allow_put, deny_tenant],
                "dynamodb:PutItem",
                TABLE,
                &[("dynamodb:LeadingKeys", &[UNKNOWN_VALUE])],
                ExplicitDeny,
            ),
            (
                &[leading],
                "dynamodb:PutItem",
                TABLE,
                &[("aws:username", &["alice"]), ("dynamodb:LeadingKeys", &[UNKNOWN_VALUE])],
                ImplicitDeny,
            ),
            (&[not_ssn], "dynamodb:GetItem", TABLE, &[("dynamodb:Attributes", &["pk", "title"])], Allowed),
            (&[not_ssn], "dynamodb:GetItem", TABLE, &[("dynamodb:Attributes", &["pk", "ssn"])], ImplicitDeny),
            (&[not_ssn], "dynamodb:GetItem", TABLE, &[("dynamodb:Attributes", &[UNKNOWN_VALUE])], ImplicitDeny),
        ];
        for (i, (docs, action, resource, keys, want)) in cases.iter().enumerate() {
            let policies: Vec<Policy> = docs.iter().map(|d| Policy::parse(d).unwrap()).collect();
            assert_eq!(evaluate(&policies, action, resource, &ctx(keys)), *want, "case {i}: {action} on {resource}");
        }
    }

    /// Policy variables exist only in version 2012-10-17; in 2008-10-17,
    /// and without a `Version`, `${aws:username}` is the text itself.
    #[test]
    fn variables_only_in_version_2012_10_17() {
        use Decision::*;
        let doc = |version: &str| {
            format!(
                r#"{{{version}"Statement":[{{"Effect":"Allow","Action":"dynamodb:GetItem",
                "Resource":"arn:aws:dynamodb:*:*:table/${{aws:username}}",
                "Condition":{{"StringEquals":{{"dynamodb:LeadingKeys":"${{aws:username}}"}}}}}}]}}"#
            )
        };
        let bob = "arn:aws:dynamodb:us-east-1:000000000000:table/bob";
        let literal = "arn:aws:dynamodb:us-east-1:000000000000:table/${aws:username}";
        let keys = |leading: &str| ctx(&[("aws:username", &["bob"]), ("dynamodb:LeadingKeys", &[leading])]);
        // (Version member, resource, partition key, outcome)
        let cases = [
            (r#""Version":"2012-10-17","#, bob, "bob", Allowed),
            (r#""Version":"2012-10-17","#, literal, "${aws:username}", ImplicitDeny),
            (r#""Version":"2008-10-17","#, bob, "bob", ImplicitDeny),
            (r#""Version":"2008-10-17","#, literal, "${aws:username}", Allowed),
            ("", bob, "bob", ImplicitDeny),
            ("", literal, "${aws:username}", Allowed),
        ];
        for (version, resource, leading, want) in cases {
            let policy = Policy::parse(&doc(version)).unwrap();
            let got = evaluate(&[policy], "dynamodb:GetItem", resource, &keys(leading));
            assert_eq!(got, want, "{version} {resource} {leading}");
        }
    }

    /// `IpAddress` and `NotIpAddress` on `aws:SourceIp`: IPv4 and IPv6,
    /// blocks and lone addresses; an IPv4 client seen as `::ffff:a.b.c.d`
    /// is its IPv4 address; an absent key matches `NotIpAddress` only.
    #[test]
    fn ip_address_conditions() {
        use Decision::*;
        let allow = |op: &str, values: &str| {
            let doc = format!(
                r#"{{"Statement":[{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"{op}":{{"aws:SourceIp":{values}}}}}}}]}}"#
            );
            Policy::parse(&doc).unwrap()
        };
        let nets = r#"["10.0.0.0/8","192.0.2.7","2001:db8::/32"]"#;
        // (operator, source address or none, outcome)
        let cases: &[(&str, Option<&str>, Decision)] = &[
            ("IpAddress", Some("10.1.2.3"), Allowed),
            ("IpAddress", Some("11.0.0.1"), ImplicitDeny),
            ("IpAddress", Some("192.0.2.7"), Allowed),
            ("IpAddress", Some("192.0.2.8"), ImplicitDeny),
            ("IpAddress", Some("2001:db8:1::5"), Allowed),
            ("IpAddress", Some("2001:db9::5"), ImplicitDeny),
            ("IpAddress", Some("::ffff:10.9.9.9"), Allowed),
            ("IpAddress", None, ImplicitDeny),
            ("NotIpAddress", Some("10.1.2.3"), ImplicitDeny),
            ("NotIpAddress", Some("127.0.0.1"), Allowed),
            ("NotIpAddress", None, Allowed),
            ("IpAddressIfExists", None, Allowed),
        ];
        for (op, ip, want) in cases {
            let c = match ip {
                Some(ip) => ctx(&[("aws:SourceIp", &[ip])]),
                None => Context::default(),
            };
            assert_eq!(evaluate(&[allow(op, nets)], "dynamodb:GetItem", TABLE, &c), *want, "{op} {ip:?}");
        }
        assert_eq!(
            evaluate(&[allow("IpAddress", r#""0.0.0.0/0""#)], "x:Y", "*", &ctx(&[("aws:SourceIp", &["8.8.8.8"])])),
            Allowed
        );
        assert_eq!(
            evaluate(&[allow("IpAddress", r#""::/0""#)], "x:Y", "*", &ctx(&[("aws:SourceIp", &["8.8.8.8"])])),
            ImplicitDeny
        );
        // An IPv4-mapped block is the IPv4 block it maps.
        for block in [r#""::ffff:10.0.0.0/104""#, r#""::ffff:10.1.2.3""#] {
            let c = ctx(&[("aws:SourceIp", &["10.1.2.3"])]);
            assert_eq!(evaluate(&[allow("IpAddress", block)], "x:Y", "*", &c), Allowed, "{block}");
        }
        // A value that is no address or block refuses the document.
        for bad in [r#""10.0.0.0/33""#, r#""example.com""#, r#""10.0.0.0/""#, r#""2001:db8::/129""#, r#""10.0.0.0/+8""#]
        {
            let doc = format!(
                r#"{{"Statement":[{{"Effect":"Deny","Action":"*","Resource":"*","Condition":{{"NotIpAddress":{{"aws:SourceIp":{bad}}}}}}}]}}"#
            );
            let err = Policy::parse(&doc).unwrap_err();
            assert!(err.0.contains("is not an IP address or CIDR block"), "{bad}: {err}");
        }
    }

    #[test]
    fn wildcards_and_bad_documents() {
        assert!(wildcard("arn:*:table/*", "arn:aws:dynamodb:x:1:table/T/index/I"));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("a?c", "ac"));
        assert!(wildcard("*", ""));
        assert!(!wildcard("abc", "abcd"));
        for bad in [
            "not json",
            r#"{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"x","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringSorta":{"k":"v"}}}]}"#,
        ] {
            assert!(Policy::parse(bad).is_err(), "{bad}");
        }
    }
}
