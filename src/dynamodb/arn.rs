//! ARNs as DynamoDB reads them: their six parts, which regions exist, and
//! the table ARNs that stand for table names in requests.

use serde_json::{Map, Value as Json};

use tidepool_store::messages;

use super::error::{ApiError, ApiResult};

/// The regions of the `aws` partition (2026). An ARN naming another region
/// is malformed to DynamoDB, not merely elsewhere; the server's own
/// `--region` is always one.
const AWS_REGIONS: [&str; 34] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
];

/// Whether `region` is one DynamoDB knows (or this server's own).
pub(crate) fn known_region(own: &str, region: &str) -> bool {
    region == own || AWS_REGIONS.contains(&region)
}

/// The parts of `arn:partition:service:region:account:resource`.
pub(crate) struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// `None` unless `s` starts with `arn:` and has all six parts.
    pub(crate) fn parse(s: &'a str) -> Option<Arn<'a>> {
        let rest = s.strip_prefix("arn:")?;
        let mut parts = rest.splitn(5, ':');
        let partition = parts.next()?;
        let service = parts.next()?;
        let region = parts.next()?;
        let account = parts.next()?;
        let resource = parts.next()?;
        Some(Arn { partition, service, region, account, resource })
    }
}

/// The table an ARN of this region's names (`arn:aws:dynamodb:<region>:
/// <account>:table/<name>`), if it is one: an index's, a stream's or
/// another region's ARN names no table here. Region [`ANY_REGION`] takes
/// a table's ARN of any region and account (a worker's mirror of another
/// engine's tables, `bridge/worker.rs`).
pub(crate) fn table_of<'a>(region: &str, value: &'a str) -> Option<&'a str> {
    let a = Arn::parse(value)?;
    let name = a.resource.strip_prefix("table/")?;
    let here = if region == ANY_REGION {
        // Well formed, so that the name is read as IAM reads it.
        a.partition.starts_with("aws")
            && a.partition.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
            && !a.region.is_empty()
            && a.region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && a.account.len() == 12
            && a.account.bytes().all(|b| b.is_ascii_digit())
    } else {
        a.partition == "aws" && a.region == region && a.account == super::ACCOUNT_ID
    };
    (a.service == "dynamodb" && here && !name.is_empty() && !name.contains('/')).then_some(name)
}

/// See [`table_of`]: not a region any server can be of.
pub(crate) const ANY_REGION: &str = "(any region)";

/// The tables a request named by ARN: each name with the ARN as sent, so
/// that the answer names them as the request did ([`Renamed::restore`]).
#[derive(Default)]
pub(crate) struct Renamed {
    names: Vec<(String, String)>,
    /// The answer keys maps by table (a batch's, a transaction's metrics).
    keyed: bool,
}

/// Every member of `op`'s request that names a table (`TableName`, a
/// transaction action's, the keys of a batch's `RequestItems`) may be the
/// table's ARN, as DynamoDB takes since 2024: such ARNs are replaced by the
/// names before anything reads the request. Two entries of a batch that
/// name one table (by name and by ARN) become one when they differ only in
/// their keys or requests (joined); otherwise the request is refused.
pub(crate) fn table_names(region: &str, op: &str, map: &mut Map<String, Json>) -> ApiResult<Renamed> {
    let mut renamed = Renamed::default();
    let rename = |v: &mut Json, renamed: &mut Renamed| {
        if let Json::String(s) = v
            && let Some(name) = table_of(region, s)
        {
            let name = name.to_string();
            renamed.names.push((name.clone(), std::mem::replace(s, name)));
        }
    };
    if let Some(v) = map.get_mut("TableName") {
        rename(v, &mut renamed);
    }
    match op {
        "TransactWriteItems" | "TransactGetItems" => {
            for action in map.get_mut("TransactItems").and_then(Json::as_array_mut).into_iter().flatten() {
                for kind in ["Get", "Put", "Update", "Delete", "ConditionCheck"] {
                    if let Some(v) = action.get_mut(kind).and_then(|a| a.get_mut("TableName")) {
                        rename(v, &mut renamed);
                    }
                }
            }
        }
        "BatchGetItem" | "BatchWriteItem" => {
            let Some(Json::Object(items)) = map.get_mut("RequestItems") else { return Ok(renamed) };
            if !items.keys().any(|k| table_of(region, k).is_some()) {
                return Ok(renamed);
            }
            let mut out = Map::new();
            let mut joined = Vec::new();
            for (key, value) in std::mem::take(items) {
                let name = table_of(region, &key).map_or(key.clone(), str::to_string);
                if name != key {
                    renamed.names.push((name.clone(), key));
                }
                match (out.get_mut(&name), value) {
                    (None, value) => {
                        out.insert(name, value);
                    }
                    (Some(Json::Array(list)), Json::Array(more)) => {
                        list.extend(more);
                        joined.push(name);
                    }
                    (Some(Json::Object(spec)), Json::Object(mut more)) => {
                        let keys = more.remove("Keys");
                        let mut settings = spec.clone();
                        let mine = settings.remove("Keys");
                        match (mine, keys) {
                            (Some(Json::Array(mut mine)), Some(Json::Array(keys))) if settings == more => {
                                mine.extend(keys);
                                spec.insert("Keys".into(), Json::Array(mine));
                                joined.push(name);
                            }
                            _ => return Err(twice(&name)),
                        }
                    }
                    (Some(_), _) => return Err(twice(&name)),
                }
            }
            *items = out;
            // A table named both ways is answered by its name.
            renamed.names.retain(|(name, _)| !joined.contains(name));
        }
        _ => {}
    }
    // Elsewhere a table is named in the answer only by its capacity: with
    // none asked for, the answer is left as written.
    let keyed = matches!(op, "BatchGetItem" | "BatchWriteItem" | "TransactWriteItems");
    if !keyed && !matches!(map.get("ReturnConsumedCapacity").and_then(Json::as_str), Some("TOTAL" | "INDEXES")) {
        renamed.names.clear();
    }
    renamed.keyed = keyed;
    Ok(renamed)
}

/// One table named twice in a batch, by name and by ARN, with different
/// settings: which to read it with cannot be told.
fn twice(name: &str) -> ApiError {
    ApiError::validation(messages::request::table_named_twice(name))
}

impl Renamed {
    /// Whether the request named no table by ARN.
    pub(crate) fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// `reply` naming each table as the request did: the keys of
    /// `Responses`, `UnprocessedKeys`, `UnprocessedItems` and
    /// `ItemCollectionMetrics`, and `ConsumedCapacity`'s `TableName`.
    pub(crate) fn restore(&self, reply: Json) -> Json {
        let Json::Object(mut body) = reply else { return reply };
        let sent = |name: &str| self.names.iter().find(|(n, _)| n == name).map(|(_, s)| s.clone());
        // (A single write's ItemCollectionMetrics is not keyed by table.)
        for member in ["Responses", "UnprocessedKeys", "UnprocessedItems", "ItemCollectionMetrics"] {
            if let Some(Json::Object(m)) = body.get_mut(member).filter(|_| self.keyed) {
                *m = std::mem::take(m).into_iter().map(|(k, v)| (sent(&k).unwrap_or(k), v)).collect();
            }
        }
        let mut capacity = |c: &mut Json| {
            if let Some(Json::String(t)) = c.get_mut("TableName")
                && let Some(s) = sent(t)
            {
                *t = s;
            }
        };
        match body.get_mut("ConsumedCapacity") {
            Some(Json::Array(list)) => list.iter_mut().for_each(&mut capacity),
            Some(c @ Json::Object(_)) => capacity(c),
            _ => {}
        }
        Json::Object(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_arns_name_tables_of_this_region() {
        let arn = |r: &str| format!("arn:aws:dynamodb:{r}:000000000000:table/t");
        assert_eq!(table_of("us-east-1", &arn("us-east-1")), Some("t"));
        assert_eq!(table_of("us-east-1", &arn("eu-west-1")), None);
        assert_eq!(table_of("us-east-1", "arn:aws:dynamodb:us-east-1:000000000000:table/t/index/g"), None);
        assert_eq!(table_of("us-east-1", "arn:aws:dynamodb:us-east-1:111111111111:table/t"), None);
        assert_eq!(table_of("us-east-1", "t"), None);
        // Any region's and account's, well formed only (read as IAM reads
        // the ARN: no `table/` before the resource).
        assert_eq!(table_of(ANY_REGION, "arn:aws:dynamodb:eu-west-1:111111111111:table/t"), Some("t"));
        assert_eq!(table_of(ANY_REGION, "arn:aws-cn:dynamodb:cn-north-1:111111111111:table/t"), Some("t"));
        assert_eq!(table_of(ANY_REGION, "arn:x:dynamodb:table/Allowed/z:1:table/Secret"), None);
        assert_eq!(table_of(ANY_REGION, "arn:aws:dynamodb:table/a:111111111111:table/t"), None);
        assert_eq!(table_of(ANY_REGION, "arn:aws:dynamodb:us-east-1:table/a:table/t"), None);
        assert_eq!(table_of(ANY_REGION, "arn:aws:dynamodb:us-east-1:111111111111:table/t/stream/x"), None);
        let mut body = serde_json::json!({
            "RequestItems": {(arn("us-east-1")): {"Keys": [{"k": {"S": "a"}}]}, "t": {"Keys": [{"k": {"S": "b"}}]}},
        });
        let renamed = table_names("us-east-1", "BatchGetItem", body.as_object_mut().unwrap()).ok().unwrap();
        assert_eq!(body["RequestItems"]["t"]["Keys"].as_array().unwrap().len(), 2);
        assert_eq!(body["RequestItems"].as_object().unwrap().len(), 1);
        assert!(renamed.is_empty(), "a table named both ways is answered by its name");
        let mut body = serde_json::json!({
            "RequestItems": {(arn("us-east-1")): {"Keys": [], "ConsistentRead": true}, "t": {"Keys": []}},
        });
        assert!(table_names("us-east-1", "BatchGetItem", body.as_object_mut().unwrap()).is_err());
        let mut body = serde_json::json!({"TransactItems": [{"Put": {"TableName": arn("us-east-1")}}]});
        let renamed = table_names("us-east-1", "TransactWriteItems", body.as_object_mut().unwrap()).ok().unwrap();
        assert_eq!(body["TransactItems"][0]["Put"]["TableName"], "t");
        let reply = renamed.restore(serde_json::json!({"ConsumedCapacity": [{"TableName": "t"}, {"TableName": "u"}]}));
        assert_eq!(reply["ConsumedCapacity"][0]["TableName"], arn("us-east-1").as_str());
        assert_eq!(reply["ConsumedCapacity"][1]["TableName"], "u");
    }

    #[test]
    fn parts_and_regions() {
        let a = Arn::parse("arn:aws:dynamodb:eu-west-1:000000000000:table/t/backup/1-2").unwrap();
        assert_eq!((a.partition, a.service, a.region, a.account), ("aws", "dynamodb", "eu-west-1", "000000000000"));
        assert_eq!(a.resource, "table/t/backup/1-2");
        assert!(Arn::parse("arn:aws:dynamodb:us-east-1").is_none());
        assert!(Arn::parse("table/t").is_none());
        assert!(known_region("local", "local") && known_region("local", "eu-west-1"));
        assert!(!known_region("us-east-1", "xx-fake-1") && !known_region("us-east-1", "EU-WEST-1"));
    }
}
