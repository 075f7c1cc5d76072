//! Encryption at rest of a global table's replicas. The kind of key is the
//! group's: DynamoDB's AWS owned key (no `SSEDescription`), the account's
//! AWS managed key (`alias/aws/dynamodb`), or a customer managed key. The
//! key itself is each region's: a replica of a table with the AWS managed
//! key has its region's, one of a table with a customer managed key the
//! key its `Create` named, resolved in its region (DDB-TABLE-309, -295).
//!
//! Tidepool keeps no keys: a key is its ARN, described and never used. The
//! AWS managed key of a region has an id derived from the region, so that
//! every server names it alike and tells it from a customer's.

use serde_json::{Map, Value as Json, json};
use tidepool_store::messages;
use tidepool_store::replication::ReplicaDef;
use tidepool_store::table::TableDef;

use crate::dynamodb::error::{ApiError, ApiResult};

/// The alias of the AWS managed key for DynamoDB.
pub const MANAGED_ALIAS: &str = "alias/aws/dynamodb";

/// The ARN of the account's AWS managed key for DynamoDB in `region`.
pub fn aws_managed_key_arn(region: &str) -> String {
    // Two FNV-1a hashes of the region, shaped as a key id (a UUID).
    let hash = |seed: u64| region.bytes().fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    let (a, b) = (hash(0xcbf2_9ce4_8422_2325), hash(0x6c62_272e_07bb_0142));
    format!(
        "arn:aws:kms:{region}:{}:key/{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        crate::dynamodb::ACCOUNT_ID,
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff,
    )
}

/// Whether a key ARN is a region's AWS managed key.
fn is_aws_managed(arn: &str) -> bool {
    arn.split(':').nth(3).is_some_and(|region| arn == aws_managed_key_arn(region))
}

/// Whether a `KMSMasterKeyId` as given names the AWS managed key.
fn names_aws_managed(given: &str) -> bool {
    given == MANAGED_ALIAS || given.ends_with(&format!(":{MANAGED_ALIAS}")) || is_aws_managed(given)
}

/// The kind of key a table is encrypted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// DynamoDB's own key, the default.
    Owned,
    /// The account's AWS managed key.
    Managed,
    /// A customer managed key.
    Customer,
}

impl KeyKind {
    fn of_arn(arn: Option<&str>) -> KeyKind {
        match arn {
            None => KeyKind::Owned,
            Some(a) if is_aws_managed(a) => KeyKind::Managed,
            Some(_) => KeyKind::Customer,
        }
    }

    fn name(self) -> &'static str {
        match self {
            KeyKind::Owned => "OWNED",
            KeyKind::Managed => "MANAGED",
            KeyKind::Customer => "CUSTOMER",
        }
    }

    fn parse(s: &str) -> Option<KeyKind> {
        Some(match s {
            "OWNED" => KeyKind::Owned,
            "MANAGED" => KeyKind::Managed,
            "CUSTOMER" => KeyKind::Customer,
            _ => return None,
        })
    }
}

/// The kind of key `def` is encrypted with.
pub fn kind_of(def: &TableDef) -> KeyKind {
    KeyKind::of_arn(def.settings.sse_kms_key_arn.as_deref())
}

/// The ARN of the key `given` names in `region`: an ARN as it is, a key id
/// resolved there (as `SSESpecification` resolves one).
fn key_in(region: &str, given: &str) -> String {
    if given.starts_with("arn:") {
        given.to_string()
    } else {
        format!("arn:aws:kms:{region}:{}:key/{given}", crate::dynamodb::ACCOUNT_ID)
    }
}

/// The key of the same id as `arn` in `region` (a multi-Region key's
/// replica): what a region is given when the group turns to a customer
/// managed key and it has none of its own.
fn same_key_in(region: &str, arn: &str) -> String {
    match arn.rsplit_once(":key/") {
        Some((_, id)) => key_in(region, id),
        None => arn.to_string(),
    }
}

/// A replica `Create`'s `KMSMasterKeyId` checked against the table's key:
/// a table with a customer managed key needs one for each replica, a table
/// with the AWS owned key takes none, and the kinds do not mix. The key
/// ARN to record for the replica (in `region`), for a customer managed one.
pub fn replica_key(def: &TableDef, region: &str, given: Option<&str>) -> ApiResult<Option<String>> {
    match (kind_of(def), given) {
        (KeyKind::Owned, None) | (KeyKind::Managed, None) => Ok(None),
        (KeyKind::Owned, Some(_)) | (KeyKind::Customer, None) => {
            Err(ApiError::validation(messages::global_table::REPLICA_KMS_KEY))
        }
        (KeyKind::Managed, Some(k)) if names_aws_managed(k) => Ok(None),
        (KeyKind::Customer, Some(k)) if !names_aws_managed(k) => Ok(Some(key_in(region, k))),
        (KeyKind::Managed | KeyKind::Customer, Some(_)) => {
            Err(ApiError::validation(messages::global_table::REPLICA_KEY_KINDS_MIXED))
        }
    }
}

/// The key a replica in `region` has, as DescribeTable's `KMSMasterKeyId`
/// names it (none on a table with the AWS owned key).
fn key_of(def: &TableDef, region: &str, own: Option<&str>) -> Option<String> {
    match kind_of(def) {
        KeyKind::Owned => None,
        KeyKind::Managed => Some(aws_managed_key_arn(region)),
        KeyKind::Customer => Some(match own {
            Some(k) => k.to_string(),
            None => same_key_in(region, def.settings.sse_kms_key_arn.as_deref().unwrap_or_default()),
        }),
    }
}

/// DynamoDB's `KMSMasterKeyId` of one of `def`'s replicas.
pub fn replica_key_id(def: &TableDef, r: &ReplicaDef) -> Option<String> {
    key_of(def, &r.region, r.kms_key_arn.as_deref())
}

/// The `SSESpecification` of the CreateTable that makes `def`'s replica
/// `r`: the table's kind of key, with the replica's own key.
pub fn create_spec(def: &TableDef, r: &ReplicaDef) -> Option<Json> {
    let key = replica_key_id(def, r)?;
    let mut spec = json!({"Enabled": true, "SSEType": "KMS"});
    // The AWS managed key is the new region's own, which it names.
    if kind_of(def) == KeyKind::Customer {
        spec["KMSMasterKeyId"] = json!(key);
    }
    Some(spec)
}

/// Each region's customer managed key, for a new replica's region to
/// describe: this region's (`here`) and the other replicas' known here.
pub fn keys_of(def: &TableDef, here: &str) -> Map<String, Json> {
    if kind_of(def) != KeyKind::Customer {
        return Map::new();
    }
    let own = def.settings.sse_kms_key_arn.clone().map(|k| (here.to_string(), json!(k)));
    def.replicas.iter().filter_map(|r| Some((r.region.clone(), json!(r.kms_key_arn.clone()?)))).chain(own).collect()
}

/// The group-wide part of a table's encryption, as another region takes
/// it (`api::queue_group_change`): the kind of key, and this region's key,
/// which the others record as this replica's.
pub fn group_value(def: &TableDef) -> Json {
    json!({"KeyKind": kind_of(def).name(), "KeyArn": def.settings.sse_kms_key_arn})
}

/// Another region's change of the group's encryption ([`group_value`]),
/// taken here (`here`): the same kind of key, this region's own (its
/// customer managed key kept if it has one), and the sender's key recorded
/// as its replica's.
pub fn apply_group(def: &mut TableDef, here: &str, from: &str, change: &Map<String, Json>) {
    let Some(kind) = change.get("KeyKind").and_then(Json::as_str).and_then(KeyKind::parse) else { return };
    let theirs = change.get("KeyArn").and_then(Json::as_str);
    def.settings.sse_kms_key_arn = match kind {
        KeyKind::Owned => None,
        KeyKind::Managed => Some(aws_managed_key_arn(here)),
        KeyKind::Customer if kind_of(def) == KeyKind::Customer => def.settings.sse_kms_key_arn.clone(),
        KeyKind::Customer => theirs.map(|k| same_key_in(here, k)),
    };
    if let Some(x) = def.replicas.iter_mut().find(|x| x.region == from) {
        x.kms_key_arn = theirs.filter(|_| kind == KeyKind::Customer).map(str::to_string);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aws_managed_key_is_one_per_region() {
        let us = aws_managed_key_arn("us-east-1");
        assert_eq!(us, aws_managed_key_arn("us-east-1"));
        assert_ne!(us, aws_managed_key_arn("eu-west-1"));
        assert!(us.starts_with("arn:aws:kms:us-east-1:000000000000:key/"), "{us}");
        let id = us.rsplit('/').next().unwrap();
        assert_eq!(id.len(), 36, "{id}");
        assert!(is_aws_managed(&us));
        assert!(!is_aws_managed("arn:aws:kms:us-east-1:000000000000:key/1234"));
        assert!(names_aws_managed(MANAGED_ALIAS));
        assert!(names_aws_managed("arn:aws:kms:eu-west-1:000000000000:alias/aws/dynamodb"));
        assert_eq!(
            same_key_in("eu-west-1", "arn:aws:kms:us-east-1:1:key/k"),
            "arn:aws:kms:eu-west-1:000000000000:key/k"
        );
    }
}
