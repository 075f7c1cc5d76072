//! What a Lambda API or `/tidepool` request asks of IAM: its action
//! (`lambda:<Operation>` as IAM names Lambda's, `tidepool:<Operation>` for
//! the server's own endpoints) and resource (the function's ARN, with its
//! qualifier; `*` for account-wide operations).

use serde_json::Value as Json;

use std::collections::HashMap;

use crate::dynamodb::ACCOUNT_ID;
use crate::dynamodb::access::UNKNOWN;
use crate::http::sigv4::percent_decode;
use crate::iam::Check;

/// The function ARN a request names, resolved as the Lambda API resolves
/// it (a name, `name:qualifier`, a partial or full ARN, whatever region or
/// account an ARN gives; the qualifier from the name, else the decoded
/// `Qualifier` parameter); [`UNKNOWN`] for a name Lambda would not read.
pub fn function_arn(raw: &str, qualifier: Option<&str>, region: &str) -> String {
    let (name, qual) = super::api::split_function_ref(raw);
    if name.is_empty() {
        return UNKNOWN.into();
    }
    match qual.or(qualifier) {
        Some(q) => format!("arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}:{q}"),
        None => format!("arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"),
    }
}

/// The function and qualifier (`$LATEST` when none) a function ARN of this
/// account names, as [`function_arn`] writes them.
pub fn function_of(resource: &str) -> Option<(&str, &str)> {
    let rest = resource.strip_prefix("arn:aws:lambda:")?;
    let parts: Vec<&str> = rest.split(':').collect();
    match parts.as_slice() {
        [_, account, "function", name] if *account == ACCOUNT_ID => Some((*name, "$LATEST")),
        [_, account, "function", name, q] if *account == ACCOUNT_ID => Some((*name, *q)),
        _ => None,
    }
}

/// The checks a Lambda or `/tidepool` request needs: its action, and
/// `iam:PassRole` on the role a CreateFunction or
/// UpdateFunctionConfiguration gives the function (as Lambda asks of its
/// caller).
pub fn checks(
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    body: &[u8],
    region: &str,
    mapping_function: MappingFunction<'_>,
) -> Vec<Check> {
    let check = check(method, path, query, body, region, mapping_function);
    let passes_role = matches!(check.action.as_str(), "lambda:CreateFunction" | "lambda:UpdateFunctionConfiguration");
    let role = passes_role.then(|| serde_json::from_slice::<Json>(body).ok()).flatten().and_then(|j| {
        match j.get("Role").and_then(Json::as_str) {
            Some(role) => Some(role.to_string()),
            // A function created without a role gets the default one: it
            // is passed as much as a named one. (A body that does not parse
            // passes nothing; CreateFunction then refuses it.)
            None if j.is_object() && check.action == "lambda:CreateFunction" => {
                Some(tidepool_runtime::registry::DEFAULT_ROLE.to_string())
            }
            None => None,
        }
    });
    let mut out = vec![check];
    // `lambda:FunctionUrlAuthType`: the auth type a URL is created or
    // updated with, or a permission is granted for (AWS's guardrail
    // policies deny a URL that is not `AWS_IAM` with it).
    let auth_member = match out[0].action.as_str() {
        "lambda:CreateFunctionUrlConfig" | "lambda:UpdateFunctionUrlConfig" => Some("AuthType"),
        "lambda:AddPermission" => Some("FunctionUrlAuthType"),
        _ => None,
    };
    if let Some(member) = auth_member
        && let Some(auth_type) = serde_json::from_slice::<Json>(body)
            .ok()
            .and_then(|j| j.get(member).and_then(Json::as_str).map(str::to_string))
    {
        out[0] = out[0].clone().with("lambda:FunctionUrlAuthType", vec![auth_type]);
    }
    // An Update that points a mapping at another function: allowed for the
    // function it invokes now and for the new one.
    if out[0].action == "lambda:UpdateEventSourceMapping"
        && let Some(new) = named_function(body, region)
    {
        out.push(out[0].clone().with("lambda:FunctionArn", vec![new]));
    }
    // A trace shows the item, its stream record and the invocations' logs:
    // what GetItem, GetRecords and reading logs would.
    if out[0].action == "tidepool:TraceItem" {
        let table = out[0].resource.clone();
        out.push(Check::new("dynamodb:GetItem", table.clone()));
        out.push(Check::new("dynamodb:GetRecords", format!("{table}/stream/*")));
        out.push(Check::new("tidepool:ReadLogs", "*"));
    }
    let mut roles: Vec<String> = role.into_iter().collect();
    // A deploy gives its functions the manifest's roles, as CreateFunction
    // would: each is passed to Lambda. (A body that does not parse passes
    // nothing; the deploy then refuses it.)
    if out[0].action == "tidepool:Deploy" {
        roles.extend(deployed_roles(body));
    }
    roles.sort();
    roles.dedup();
    for role in roles {
        out.push(Check::new("iam:PassRole", role).with("iam:PassedToService", vec!["lambda.amazonaws.com".into()]));
    }
    out
}

/// The role ARNs a `/tidepool/deploy` body's manifest gives its functions.
fn deployed_roles(body: &[u8]) -> Vec<String> {
    /// Only the manifest, borrowed: the files (up to the deploy limit) are
    /// skipped, not copied.
    #[derive(serde::Deserialize)]
    struct Deploy<'a> {
        #[serde(rename = "Manifest", borrow)]
        manifest: Option<std::borrow::Cow<'a, str>>,
    }
    let Some(text) = serde_json::from_slice::<Deploy<'_>>(body).ok().and_then(|d| d.manifest) else {
        return Vec::new();
    };
    let Ok(m) = super::manifest::Manifest::parse(&text) else { return Vec::new() };
    // A function without a role gets the default one (or keeps its own, if
    // it exists: asked for either way).
    m.functions
        .iter()
        .map(|f| {
            f.role
                .as_deref()
                .map_or_else(|| tidepool_runtime::registry::DEFAULT_ROLE.to_string(), super::manifest::role_arn)
        })
        .collect()
}

/// The function a CreateEventSourceMapping or UpdateEventSourceMapping
/// body names (`FunctionName`), as an ARN.
fn named_function(body: &[u8], region: &str) -> Option<String> {
    let j = serde_json::from_slice::<Json>(body).ok()?;
    j.get("FunctionName").and_then(Json::as_str).map(|f| function_arn(f, None, region))
}

/// The function ARN an event source mapping (by its UUID) invokes, if it
/// exists.
pub type MappingFunction<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The check a Lambda or `/tidepool` request at `path` with `method` needs;
/// `query` is its decoded query string, `body` gives CreateFunction's
/// function name. An event source mapping's operations are on its ARN
/// (`event-source-mapping:<UUID>`, `*` for Create and List) with
/// `lambda:FunctionArn`, the function it invokes (Create's `FunctionName`,
/// else the mapping's: `mapping_function`; never what a Get's or Delete's
/// body says), as the Lambda developer guide's "Resources and conditions
/// for Lambda actions" lists them.
pub fn check(
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    body: &[u8],
    region: &str,
    mapping_function: MappingFunction<'_>,
) -> Check {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let function = |name: &str| function_arn(&percent_decode(name), query.get("Qualifier").map(String::as_str), region);
    let mapping = |action: &str, uuid: Option<&str>| {
        // Create's function is the one it names; the others', the one the
        // mapping invokes (an Update's new one is checked too: `checks`).
        let uuid = uuid.map(percent_decode);
        let invoked = match &uuid {
            None => named_function(body, region),
            Some(u) => mapping_function(u),
        };
        let resource = uuid.map_or_else(
            || "*".to_string(),
            |u| format!("arn:aws:lambda:{region}:{ACCOUNT_ID}:event-source-mapping:{u}"),
        );
        let check = Check::new(format!("lambda:{action}"), resource);
        match invoked {
            Some(f) => check.with("lambda:FunctionArn", vec![f]),
            None => check,
        }
    };
    let (action, resource): (&str, String) = match (method, segs.as_slice()) {
        (_, ["metrics"]) => return Check::new("tidepool:GetMetrics", "*"),
        // A report shows the keys of its table (or index): on its ARN.
        (_, ["tidepool", "insights"]) => {
            let table = query.get("table").map_or("", String::as_str);
            let mut arn = format!("arn:aws:dynamodb:{region}:{}:table/{table}", crate::dynamodb::ACCOUNT_ID);
            if let Some(i) = query.get("index") {
                arn = format!("{arn}/index/{i}");
            }
            return Check::new("tidepool:GetContributorInsights", arn);
        }
        // A table's metrics over time: on the table; a function's or a
        // mapping's on `*`, as the other metrics.
        (_, ["tidepool", "history"]) => {
            let arn = match query.get("table") {
                Some(t) => format!("arn:aws:dynamodb:{region}:{}:table/{t}", crate::dynamodb::ACCOUNT_ID),
                None => "*".to_string(),
            };
            return Check::new("tidepool:GetMetricHistory", arn);
        }
        // A trace shows an item and what was done with it: on its table.
        (_, ["tidepool", "trace"]) => {
            let table = query.get("table").map_or("", String::as_str);
            let arn = format!("arn:aws:dynamodb:{region}:{}:table/{table}", crate::dynamodb::ACCOUNT_ID);
            return Check::new("tidepool:TraceItem", arn);
        }
        (_, ["tidepool", rest @ ..]) => {
            let action = match (method, rest) {
                (_, ["logs", ..]) => "ReadLogs",
                (_, ["mappings"]) => "ListMappings",
                (_, ["deploy"]) => "Deploy",
                (_, ["limits"]) => "GetLimits",
                ("GET", ["schedules"]) => "ListSchedules",
                ("GET", ["schedules", _]) => "GetSchedule",
                ("PUT", ["schedules", _]) => "PutSchedule",
                ("DELETE", ["schedules", _]) => "DeleteSchedule",
                (_, ["reset"]) => "Reset",
                (_, ["progress", ..]) => "GetProgress",
                (_, ["info"]) => "GetInfo",
                (_, ["cost"]) => "GetCost",
                _ => "Unknown",
            };
            return Check::new(format!("tidepool:{action}"), "*");
        }
        ("GET", [_, "functions"]) => ("ListFunctions", "*".into()),
        ("POST", [_, "functions"]) => {
            let name = serde_json::from_slice::<Json>(body)
                .ok()
                .and_then(|j| j.get("FunctionName").and_then(Json::as_str).map(str::to_string))
                .unwrap_or_default();
            ("CreateFunction", function_arn(&name, None, region))
        }
        ("GET", [_, "functions", f]) => ("GetFunction", function(f)),
        ("DELETE", [_, "functions", f]) => ("DeleteFunction", function(f)),
        ("GET", [_, "functions", f, "configuration"]) => ("GetFunctionConfiguration", function(f)),
        ("PUT", [_, "functions", f, "configuration"]) => ("UpdateFunctionConfiguration", function(f)),
        ("PUT", [_, "functions", f, "code"]) => ("UpdateFunctionCode", function(f)),
        ("POST", [_, "functions", f, "invocations"]) => ("InvokeFunction", function(f)),
        ("POST", [_, "functions", f, "invoke-async"]) => ("InvokeFunction", function(f)),
        ("POST", [_, "functions", f, "versions"]) => ("PublishVersion", function(f)),
        ("GET", [_, "functions", f, "versions"]) => ("ListVersionsByFunction", function(f)),
        ("POST", [_, "functions", f, "aliases"]) => ("CreateAlias", function(f)),
        ("GET", [_, "functions", f, "aliases"]) => ("ListAliases", function(f)),
        ("GET", [_, "functions", f, "aliases", _]) => ("GetAlias", function(f)),
        ("PUT", [_, "functions", f, "aliases", _]) => ("UpdateAlias", function(f)),
        ("DELETE", [_, "functions", f, "aliases", _]) => ("DeleteAlias", function(f)),
        ("PUT", [_, "functions", f, "concurrency"]) => ("PutFunctionConcurrency", function(f)),
        ("DELETE", [_, "functions", f, "concurrency"]) => ("DeleteFunctionConcurrency", function(f)),
        ("GET", [_, "functions", f, "concurrency"]) => ("GetFunctionConcurrency", function(f)),
        ("PUT", [_, "functions", f, "event-invoke-config"]) => ("PutFunctionEventInvokeConfig", function(f)),
        ("POST", [_, "functions", f, "event-invoke-config"]) => ("UpdateFunctionEventInvokeConfig", function(f)),
        ("GET", [_, "functions", f, "event-invoke-config"]) => ("GetFunctionEventInvokeConfig", function(f)),
        ("DELETE", [_, "functions", f, "event-invoke-config"]) => ("DeleteFunctionEventInvokeConfig", function(f)),
        (_, [_, "functions", f, "event-invoke-config", "list"]) => ("ListFunctionEventInvokeConfigs", function(f)),
        ("POST", [_, "functions", f, "url"]) => ("CreateFunctionUrlConfig", function(f)),
        ("GET", [_, "functions", f, "url"]) => ("GetFunctionUrlConfig", function(f)),
        ("PUT", [_, "functions", f, "url"]) => ("UpdateFunctionUrlConfig", function(f)),
        ("DELETE", [_, "functions", f, "url"]) => ("DeleteFunctionUrlConfig", function(f)),
        (_, [_, "functions", f, "urls"]) => ("ListFunctionUrlConfigs", function(f)),
        ("POST", [_, "functions", f, "policy"]) => {
            // `lambda:Principal`: the principal a statement grants to.
            let check = Check::new("lambda:AddPermission", function(f));
            return match serde_json::from_slice::<Json>(body)
                .ok()
                .and_then(|j| j.get("Principal").and_then(Json::as_str).map(str::to_string))
            {
                Some(p) => check.with("lambda:Principal", vec![p]),
                None => check,
            };
        }
        ("GET", [_, "functions", f, "policy"]) => ("GetPolicy", function(f)),
        ("DELETE", [_, "functions", f, "policy", _]) => ("RemovePermission", function(f)),
        ("POST", [_, "event-source-mappings"]) => return mapping("CreateEventSourceMapping", None),
        ("GET", [_, "event-source-mappings"]) => ("ListEventSourceMappings", "*".into()),
        ("GET", [_, "event-source-mappings", u]) => return mapping("GetEventSourceMapping", Some(u)),
        ("PUT", [_, "event-source-mappings", u]) => return mapping("UpdateEventSourceMapping", Some(u)),
        ("DELETE", [_, "event-source-mappings", u]) => return mapping("DeleteEventSourceMapping", Some(u)),
        ("GET", [_, "tags", arn]) => ("ListTags", percent_decode(arn)),
        ("POST", [_, "tags", arn]) => ("TagResource", percent_decode(arn)),
        ("DELETE", [_, "tags", arn]) => ("UntagResource", percent_decode(arn)),
        ("GET", [_, "account-settings"]) => ("GetAccountSettings", "*".into()),
        // A route Lambda does not have answers its own error; an action no
        // policy names keeps a restricted caller from learning even that.
        _ => ("UnknownOperation", "*".into()),
    };
    Check::new(format!("lambda:{action}"), resource)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NO_MAPPINGS: fn(&str) -> Option<String> = |_| None;

    /// An event source mapping's operations are on its ARN, with the
    /// function it invokes (named by the request, else the mapping's).
    #[test]
    fn mappings_are_checked_on_their_arns_with_their_function() {
        let mapped =
            |uuid: &str| (uuid == "u-1").then(|| "arn:aws:lambda:us-east-1:000000000000:function:f".to_string());
        let c = |m: &str, p: &str, body: &str| {
            let c = check(m, p, &HashMap::new(), body.as_bytes(), "us-east-1", &mapped);
            let key = c.context.keys.get("lambda:functionarn").cloned().unwrap_or_default();
            (c.action, c.resource, key)
        };
        let esm = "arn:aws:lambda:us-east-1:000000000000:event-source-mapping:u-1";
        let f = |name: &str| vec![format!("arn:aws:lambda:us-east-1:000000000000:function:{name}")];
        assert_eq!(
            c("POST", "/2015-03-31/event-source-mappings/", r#"{"FunctionName": "g"}"#),
            ("lambda:CreateEventSourceMapping".into(), "*".into(), f("g"))
        );
        for (method, action) in [
            ("GET", "GetEventSourceMapping"),
            ("PUT", "UpdateEventSourceMapping"),
            ("DELETE", "DeleteEventSourceMapping"),
        ] {
            assert_eq!(
                c(method, "/2015-03-31/event-source-mappings/u-1", ""),
                (format!("lambda:{action}"), esm.into(), f("f"))
            );
        }
        // A body naming another function changes nothing for a Delete; an
        // Update that names one is checked for both functions.
        assert_eq!(c("DELETE", "/2015-03-31/event-source-mappings/u-1", r#"{"FunctionName": "h"}"#).2, f("f"));
        let update = checks(
            "PUT",
            "/2015-03-31/event-source-mappings/u-1",
            &HashMap::new(),
            br#"{"FunctionName": "h:live"}"#,
            "us-east-1",
            &mapped,
        );
        let functions: Vec<Vec<String>> =
            update.iter().map(|c| c.context.keys.get("lambda:functionarn").cloned().unwrap_or_default()).collect();
        assert_eq!(functions, [f("f"), f("h:live")]);
        // A mapping that does not exist: no function.
        assert!(c("DELETE", "/2015-03-31/event-source-mappings/u-2", "").2.is_empty());
    }

    #[test]
    fn routes_name_lambdas_actions() {
        let c = |m: &str, p: &str, q: Option<&str>, body: &str| {
            let query: HashMap<String, String> = q
                .map(|q| q.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).into_iter().collect())
                .unwrap_or_default();
            let c = check(m, p, &query, body.as_bytes(), "us-east-1", &NO_MAPPINGS);
            (c.action, c.resource)
        };
        let f = "arn:aws:lambda:us-east-1:000000000000:function:";
        assert_eq!(c("GET", "/2015-03-31/functions/", None, ""), ("lambda:ListFunctions".into(), "*".into()));
        assert_eq!(
            c("POST", "/2015-03-31/functions", None, r#"{"FunctionName":"fn"}"#),
            ("lambda:CreateFunction".into(), format!("{f}fn"))
        );
        assert_eq!(
            c("POST", "/2015-03-31/functions/fn/invocations", Some("Qualifier=live"), ""),
            ("lambda:InvokeFunction".into(), format!("{f}fn:live"))
        );
        assert_eq!(
            c(
                "POST",
                &format!(
                    "/2015-03-31/functions/{}/invocations",
                    "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Afn"
                ),
                None,
                ""
            ),
            ("lambda:InvokeFunction".into(), format!("{f}fn"))
        );
        assert_eq!(c("POST", "/tidepool/deploy", None, ""), ("tidepool:Deploy".into(), "*".into()));
        // A partial ARN and another region's ARN name the same function.
        assert_eq!(c("GET", "/2015-03-31/functions/1%3Afunction%3Afn", None, "").1, format!("{f}fn"));
        assert_eq!(
            c("GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A9%3Afunction%3Afn", None, "").1,
            format!("{f}fn")
        );
        assert_eq!(c("POST", "/2015-03-31/functions", None, "{}").1, UNKNOWN);
        let t = "arn:aws:dynamodb:us-east-1:000000000000:table/orders";
        assert_eq!(
            c("GET", "/tidepool/history", Some("table=orders"), ""),
            ("tidepool:GetMetricHistory".into(), t.into())
        );
        assert_eq!(c("GET", "/tidepool/history", Some("function=f"), "").1, "*");
        // A deploy passes its functions' roles.
        let body =
            json!({"Manifest": "[[function]]\nname = \"f\"\ncode = \"f.wasm\"\nrole = \"reader\"\n"}).to_string();
        let all: Vec<(String, String)> =
            checks("POST", "/tidepool/deploy", &HashMap::new(), body.as_bytes(), "us-east-1", &NO_MAPPINGS)
                .into_iter()
                .map(|c| (c.action, c.resource))
                .collect();
        assert_eq!(
            all,
            [
                ("tidepool:Deploy".to_string(), "*".to_string()),
                ("iam:PassRole".into(), "arn:aws:iam::000000000000:role/reader".into()),
            ]
        );
        // A function given no role gets the default one: passed as well, by
        // CreateFunction and by a deploy.
        let passed = |path: &str, body: String| -> Vec<String> {
            let method = if path.ends_with("/configuration") { "PUT" } else { "POST" };
            let all = checks(method, path, &HashMap::new(), body.as_bytes(), "us-east-1", &NO_MAPPINGS);
            assert!(all[0].action.starts_with("lambda:") || all[0].action == "tidepool:Deploy", "{path}");
            all.into_iter().filter(|c| c.action == "iam:PassRole").map(|c| c.resource).collect()
        };
        let default = vec!["arn:aws:iam::000000000000:role/tidepool".to_string()];
        assert_eq!(passed("/2015-03-31/functions", json!({"FunctionName": "f"}).to_string()), default);
        assert_eq!(
            passed(
                "/tidepool/deploy",
                json!({"Manifest": "[[function]]\nname = \"f\"\ncode = \"f.wasm\"\n"}).to_string()
            ),
            default
        );
        // UpdateFunctionConfiguration without a role keeps the function's.
        assert!(passed("/2015-03-31/functions/f/configuration", json!({"Timeout": 5}).to_string()).is_empty());
        assert_eq!(
            checks("PUT", "/2015-03-31/functions/f/configuration", &HashMap::new(), b"{}", "us-east-1", &NO_MAPPINGS)
                [0]
            .action,
            "lambda:UpdateFunctionConfiguration"
        );
        // A trace needs what its parts would: the item, the stream, the logs.
        let query = HashMap::from([("table".to_string(), "orders".to_string()), ("key".to_string(), "{}".into())]);
        let all: Vec<(String, String)> = checks("GET", "/tidepool/trace", &query, b"", "us-east-1", &NO_MAPPINGS)
            .into_iter()
            .map(|c| (c.action, c.resource))
            .collect();
        assert_eq!(
            all,
            [
                ("tidepool:TraceItem".to_string(), t.to_string()),
                ("dynamodb:GetItem".into(), t.into()),
                ("dynamodb:GetRecords".into(), format!("{t}/stream/*")),
                ("tidepool:ReadLogs".into(), "*".into()),
            ]
        );
    }
}
