//! ARNs as DynamoDB reads them: their six parts, which regions exist, and
//! the table ARNs that stand for table names in requests.

use serde_json::{Map, Value as Json};

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
/// another region's ARN names no table here.
pub(crate) fn table_of<'a>(region: &str, value: &'a str) -> Option<&'a str> {
    let a = Arn::parse(value)?;
    let name = a.resource.strip_prefix("table/")?;
    (a.partition == "aws"
        && a.service == "dynamodb"
        && a.region == region
        && a.account == super::ACCOUNT_ID
        && !name.is_empty()
        && !name.contains('/'))
    .then_some(name)
}

/// Every member of `op`'s request that names a table (`TableName`, a
/// transaction action's, the keys of a batch's `RequestItems`) may be the
/// table's ARN, as DynamoDB takes since 2024: such ARNs are replaced by the
/// names before anything reads the request. Two entries of a batch that
/// name one table (by name and by ARN) become one, their lists joined.
pub(crate) fn table_names(region: &str, op: &str, map: &mut Map<String, Json>) {
    let rename = |v: &mut Json| {
        if let Json::String(s) = v
            && let Some(name) = table_of(region, s)
        {
            *s = name.to_string();
        }
    };
    if let Some(v) = map.get_mut("TableName") {
        rename(v);
    }
    match op {
        "TransactWriteItems" | "TransactGetItems" => {
            for action in map.get_mut("TransactItems").and_then(Json::as_array_mut).into_iter().flatten() {
                for kind in ["Get", "Put", "Update", "Delete", "ConditionCheck"] {
                    if let Some(v) = action.get_mut(kind).and_then(|a| a.get_mut("TableName")) {
                        rename(v);
                    }
                }
            }
        }
        "BatchGetItem" | "BatchWriteItem" => {
            let Some(Json::Object(items)) = map.get_mut("RequestItems") else { return };
            if !items.keys().any(|k| table_of(region, k).is_some()) {
                return;
            }
            let mut renamed = Map::new();
            for (key, value) in std::mem::take(items) {
                let name = table_of(region, &key).map_or(key.clone(), str::to_string);
                match (renamed.get_mut(&name), value) {
                    (Some(Json::Array(list)), Json::Array(more)) => list.extend(more),
                    (Some(Json::Object(spec)), Json::Object(more)) => {
                        if let (Some(Json::Array(keys)), Some(Json::Array(more))) =
                            (spec.get_mut("Keys"), more.get("Keys").cloned())
                        {
                            keys.extend(more);
                        }
                    }
                    (Some(_), _) => {}
                    (None, value) => {
                        renamed.insert(name, value);
                    }
                }
            }
            *items = renamed;
        }
        _ => {}
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
        let mut body = serde_json::json!({
            "RequestItems": {(arn("us-east-1")): {"Keys": [{"k": {"S": "a"}}]}, "t": {"Keys": [{"k": {"S": "b"}}]}},
        });
        table_names("us-east-1", "BatchGetItem", body.as_object_mut().unwrap());
        assert_eq!(body["RequestItems"]["t"]["Keys"].as_array().unwrap().len(), 2);
        assert_eq!(body["RequestItems"].as_object().unwrap().len(), 1);
        let mut body = serde_json::json!({"TransactItems": [{"Put": {"TableName": arn("us-east-1")}}]});
        table_names("us-east-1", "TransactWriteItems", body.as_object_mut().unwrap());
        assert_eq!(body["TransactItems"][0]["Put"]["TableName"], "t");
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
