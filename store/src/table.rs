//! Table and index definitions: what CreateTable declares, validated the way
//! DynamoDB validates it, and persisted in the catalog.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};
use crate::messages;
use crate::value::{AttrType, Item, Value};

/// DynamoDB allows 20 global secondary indexes per table.
pub const MAX_GSIS: usize = 20;
/// DynamoDB allows 5 local secondary indexes per table.
pub const MAX_LSIS: usize = 5;
/// Projected non-key attributes summed over all of a table's indexes.
pub const MAX_PROJECTED_ATTRIBUTES: usize = 100;
/// Tags per resource.
pub const MAX_TAGS: usize = 50;
/// A tag key's characters (AWS's tagging rules).
pub const MAX_TAG_KEY_CHARS: usize = 128;
/// A tag value's characters (AWS's tagging rules).
pub const MAX_TAG_VALUE_CHARS: usize = 256;
/// Table and index names are 3 to 255 characters.
pub const NAME_LEN: std::ops::RangeInclusive<usize> = 3..=255;

/// One key attribute: its name and its scalar type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAttr {
    pub name: String,
    pub ty: AttrType,
}

/// A global secondary index key has at most this many partition-key
/// attributes, and as many sort-key attributes (multi-attribute keys, since
/// November 2025; DynamoDB Developer Guide, "Multi-attribute key schema").
pub const MAX_KEY_ATTRS_PER_ROLE: usize = 4;

/// Partition key and optional sort key. A global secondary index's key may
/// name several attributes in each role: `hash` and `range` are the first
/// of each, `more_hash` and `more_range` the rest, in the order declared.
/// Tables and local indexes have one of each at most.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySchema {
    pub hash: KeyAttr,
    pub range: Option<KeyAttr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_hash: Vec<KeyAttr>,
    /// Empty unless `range` is set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_range: Vec<KeyAttr>,
}

impl KeySchema {
    /// A key of one partition attribute and at most one sort attribute.
    pub fn simple(hash: KeyAttr, range: Option<KeyAttr>) -> Self {
        KeySchema { hash, range, more_hash: Vec::new(), more_range: Vec::new() }
    }

    /// The partition-key attributes, in order.
    pub fn hash_attrs(&self) -> impl Iterator<Item = &KeyAttr> {
        std::iter::once(&self.hash).chain(&self.more_hash)
    }

    /// The sort-key attributes, in order.
    pub fn range_attrs(&self) -> impl Iterator<Item = &KeyAttr> {
        self.range.iter().chain(&self.more_range)
    }

    /// Every key attribute: the partition attributes, then the sort ones.
    pub fn attrs(&self) -> impl Iterator<Item = &KeyAttr> {
        self.hash_attrs().chain(self.range_attrs())
    }

    /// More than one attribute in either role.
    pub fn is_multi_attribute(&self) -> bool {
        !self.more_hash.is_empty() || !self.more_range.is_empty()
    }

    /// `name` is one of the partition-key attributes.
    pub fn is_hash(&self, name: &str) -> bool {
        self.hash_attrs().any(|a| a.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.attrs().map(|a| a.name.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names().any(|n| n == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

impl Projection {
    pub fn type_name(&self) -> &'static str {
        match self {
            Projection::All => "ALL",
            Projection::KeysOnly => "KEYS_ONLY",
            Projection::Include(_) => "INCLUDE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throughput {
    pub read: u64,
    pub write: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexKind {
    Global,
    Local,
}

/// A secondary index. `id` prefixes its entries in the table's index keyspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDef {
    pub name: String,
    pub id: u32,
    pub kind: IndexKind,
    pub key_schema: KeySchema,
    pub projection: Projection,
    pub throughput: Option<Throughput>,
    /// A global index UpdateTable added: `Some(true)` while it is being
    /// filled from the table's items (`CREATING`, unreadable), then
    /// `Some(false)`; `None` for one made with its table (DynamoDB shows
    /// `Backfilling` only for the former). See `backfill.rs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<bool>,
}

impl IndexDef {
    /// Whether this index stores attribute `name` of an item.
    pub fn projects(&self, name: &str, table_keys: &KeySchema) -> bool {
        match &self.projection {
            Projection::All => true,
            Projection::KeysOnly => table_keys.contains(name) || self.key_schema.contains(name),
            Projection::Include(extra) => {
                table_keys.contains(name) || self.key_schema.contains(name) || extra.iter().any(|e| e == name)
            }
        }
    }

    /// The size of [`IndexDef::project`]'s item, without making it.
    pub fn projected_size(&self, item: &Item, table_keys: &KeySchema) -> usize {
        crate::value::entries_size(
            item.iter().filter(|(k, _)| self.projects(k, table_keys)).map(|(k, v)| (k.as_str(), v)),
        )
    }

    /// Whether this index stores the same of `a` as of `b`, without
    /// making either.
    pub fn same_projection<'a>(&self, a: &'a Item, b: &'a Item, table_keys: &KeySchema) -> bool {
        match &self.projection {
            Projection::All => a == b,
            _ => {
                let view = |i: &'a Item| i.iter().filter(|(k, _)| self.projects(k, table_keys));
                view(a).eq(view(b))
            }
        }
    }

    /// The part of `item` this index stores: its projection plus the index
    /// and table keys.
    pub fn project(&self, item: &Item, table_keys: &KeySchema) -> Item {
        match &self.projection {
            Projection::All => item.clone(),
            Projection::KeysOnly | Projection::Include(_) => {
                let extra: &[String] = match &self.projection {
                    Projection::Include(names) => names,
                    _ => &[],
                };
                item.iter()
                    .filter(|(k, _)| {
                        table_keys.contains(k) || self.key_schema.contains(k) || extra.iter().any(|e| e == *k)
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamViewType {
    KeysOnly,
    NewImage,
    OldImage,
    NewAndOldImages,
}

impl StreamViewType {
    /// Records of this view carry the item after the change.
    pub fn has_new_image(self) -> bool {
        matches!(self, StreamViewType::NewImage | StreamViewType::NewAndOldImages)
    }

    /// Records of this view carry the item before the change.
    pub fn has_old_image(self) -> bool {
        matches!(self, StreamViewType::OldImage | StreamViewType::NewAndOldImages)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StreamViewType::KeysOnly => "KEYS_ONLY",
            StreamViewType::NewImage => "NEW_IMAGE",
            StreamViewType::OldImage => "OLD_IMAGE",
            StreamViewType::NewAndOldImages => "NEW_AND_OLD_IMAGES",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "KEYS_ONLY" => StreamViewType::KeysOnly,
            "NEW_IMAGE" => StreamViewType::NewImage,
            "OLD_IMAGE" => StreamViewType::OldImage,
            "NEW_AND_OLD_IMAGES" => StreamViewType::NewAndOldImages,
            _ => return None,
        })
    }
}

/// The stream setting as declared; the stream itself is built on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamSpec {
    pub view_type: StreamViewType,
    /// `YYYY-MM-DDThh:mm:ss.mmm` label of the current stream.
    pub label: String,
    /// The store-wide number of the stream's records (see `stream.rs`).
    #[serde(default)]
    pub num: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BillingMode {
    Provisioned,
    PayPerRequest,
}

impl BillingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BillingMode::Provisioned => "PROVISIONED",
            BillingMode::PayPerRequest => "PAY_PER_REQUEST",
        }
    }
}

/// Everything the catalog keeps about a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDef {
    pub name: String,
    /// Internal number naming the table's keyspaces; never reused.
    pub id: u64,
    /// The `TableId` DynamoDB reports (a UUID).
    pub table_id: String,
    /// Creation time, epoch seconds with fraction.
    pub created_at: f64,
    pub key_schema: KeySchema,
    pub attribute_definitions: Vec<KeyAttr>,
    pub billing_mode: BillingMode,
    pub throughput: Option<Throughput>,
    pub indexes: Vec<IndexDef>,
    pub stream: Option<StreamSpec>,
    /// Labels of earlier streams, kept readable until their retention ends.
    #[serde(default)]
    pub old_streams: Vec<StreamSpec>,
    pub tags: BTreeMap<String, String>,
    /// The TTL attribute name, when TTL is enabled.
    pub ttl_attribute: Option<String>,
    pub deletion_protection: bool,
    pub table_class: String,
    /// Next index id to hand out.
    pub next_index_id: u32,
    /// Settings recorded and described, with no effect on storage.
    #[serde(default)]
    pub settings: TableSettings,
    /// Set on a table made by a restore; `in_progress` until its items are
    /// loaded (the table is `CREATING` meanwhile).
    #[serde(default)]
    pub restore: Option<RestoreSummary>,
    /// Point-in-time recovery, when on (`history.rs`).
    #[serde(default)]
    pub pitr: Option<PitrSpec>,
    /// The other regions' replicas of a global table (`replication.rs`);
    /// empty for a table of this region alone.
    #[serde(default)]
    pub replicas: Vec<crate::replication::ReplicaDef>,
    /// Vector indexes (`vector.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vector_indexes: Vec<crate::vector::VectorIndexDef>,
}

/// A table's point-in-time recovery settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PitrSpec {
    /// When it was turned on (the history starts here), epoch seconds.
    pub enabled_at: f64,
    /// `RecoveryPeriodInDays`: 1 to 35.
    pub period_days: u32,
    /// The earliest moment whose versions are all kept, epoch seconds (0:
    /// `enabled_at`). A longer period set later cannot bring back what a
    /// trim under the shorter one dropped.
    #[serde(default)]
    pub history_from: f64,
}

/// How a table was restored (DynamoDB's `RestoreSummary`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreSummary {
    pub source: crate::backup::RestoreSource,
    /// The source table's name.
    pub source_table: String,
    /// The point in time restored to, epoch seconds with fraction (a
    /// backup's creation time).
    pub restored_to: f64,
    pub in_progress: bool,
    /// The backup restored, when a SYSTEM backup (a deleted table's) was
    /// restored through its history: `SourceBackupArn` names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
}

/// Table settings DynamoDB records and describes that change nothing in how
/// Tidepool stores the table (the wire layer validates and renders them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableSettings {
    /// The KMS key ARN when encryption at rest uses a KMS key
    /// (`SSESpecification.Enabled`); `None` for the AWS-owned key, which
    /// DynamoDB does not describe.
    #[serde(default)]
    pub sse_kms_key_arn: Option<String>,
    /// `OnDemandThroughput`: the most read and write request units a second.
    #[serde(default)]
    pub max_read_request_units: Option<i64>,
    #[serde(default)]
    pub max_write_request_units: Option<i64>,
    /// `WarmThroughput` asked for: the read and write units a second the
    /// table is prepared for (described; Tidepool needs no warming).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_read_units: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_write_units: Option<i64>,
    /// The table's resource-based policy (PutResourcePolicy), as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_policy: Option<ResourcePolicy>,
    /// Its stream's, which goes with the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_resource_policy: Option<ResourcePolicy>,
    /// When the table's (and its stream's) policy was last deleted, as a
    /// revision id: DynamoDB answers a DeleteResourcePolicy of a policy
    /// already deleted with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_policy_deleted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_resource_policy_deleted: Option<String>,
    /// When an UpdateTable last changed `DeletionProtectionEnabled` (epoch
    /// milliseconds): DynamoDB refuses another change of it for 15 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_protection_changed_ms: Option<u64>,
    /// When an UpdateTimeToLive last changed Time to Live here (epoch
    /// milliseconds): DynamoDB refuses another change for a while.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_changed_ms: Option<u64>,
    /// When an UpdateTable changed `TableClass` here in the last 30 days
    /// (epoch milliseconds): DynamoDB takes two such updates in 30 days.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub table_class_updates_ms: Vec<u64>,
    /// The provisioned capacity's changes, of the table (key `""`) and of
    /// each global index (its name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub throughput_changes: BTreeMap<String, ThroughputChanges>,
    /// `WarmThroughput` asked for each global index (by name): read and
    /// write units a second, as the table's above.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub index_warm: BTreeMap<String, [Option<i64>; 2]>,
    /// When an UpdateTable last switched the table to on-demand (epoch
    /// seconds): `BillingModeSummary.LastUpdateToPayPerRequestDateTime`.
    /// `None` for a table created on-demand, which shows its creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_demand_since: Option<f64>,
    /// A global table with multi-Region strong consistency
    /// (`MultiRegionConsistency: STRONG`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multi_region_strong: bool,
    /// This region is a witness of the global table: it keeps a copy of
    /// the items for the other regions' strong consistency and serves no
    /// client (DynamoDB's witness region has no table).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub witness_copy: bool,
    /// This region's replica of a global table: the overrides it took as
    /// its settings (`ReplicaUpdates`), and its settings from before the
    /// first, which an override taken away restores.
    #[serde(default, skip_serializing_if = "crate::replication::ReplicaOverrides::is_unset")]
    pub own_overrides: crate::replication::ReplicaOverrides,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_base: Option<crate::replication::ReplicaBase>,
    /// The region that added this region's replica of a global table
    /// (when the table was made: its `created_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_source: Option<String>,
    /// When each group-wide setting of a global table (by name: `ttl`,
    /// `capacity`, `class`, `max_write`) last changed, and in which region:
    /// another region's change is taken only over an older one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub group_stamps: BTreeMap<String, (u64, String)>,
}

/// When a table's or global index's provisioned capacity last went up and
/// down, and how often it went down on the UTC day of the last decrease:
/// DynamoDB allows [`ThroughputChanges::FREE_DECREASES`] decreases a UTC
/// day, then one an hour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThroughputChanges {
    /// Epoch seconds.
    pub last_increase: Option<f64>,
    pub last_decrease: Option<f64>,
    /// Decreases on the UTC day of `last_decrease`.
    pub decreases: u32,
}

impl TableDef {
    /// Switches the billing mode: on demand has no provisioned capacity
    /// (the table's and its indexes' go) and records when it began; the
    /// capacity of a switch to provisioned is the caller's to set.
    pub fn set_billing_mode(&mut self, mode: BillingMode) {
        if mode == BillingMode::PayPerRequest {
            if self.billing_mode != mode {
                self.settings.on_demand_since = Some(crate::db::now_secs());
            }
            self.throughput = None;
            for i in &mut self.indexes {
                i.throughput = None;
            }
        }
        self.billing_mode = mode;
    }

    /// Records how the table's and its global indexes' provisioned
    /// capacity changed from `old` (refusing a decrease past the daily
    /// limit), and forgets the changes of indexes gone.
    pub fn record_throughput_changes(&mut self, old: &TableDef, now: f64) -> Result<()> {
        self.record_throughput_changes_as(old, now, true)
    }

    /// [`TableDef::record_throughput_changes`]; without `enforce`, a change
    /// past the daily limit on decreases is recorded, not refused (one
    /// another region of a global table made, where the limit held).
    pub fn record_throughput_changes_as(&mut self, old: &TableDef, now: f64, enforce: bool) -> Result<()> {
        let mut changed = Vec::new();
        if let (Some(a), Some(b)) = (old.throughput, self.throughput)
            && a != b
        {
            changed.push((String::new(), a, b));
        }
        for i in self.indexes.iter().filter(|i| i.kind == IndexKind::Global) {
            if let Some(o) = old.index(&i.name)
                && let (Some(a), Some(b)) = (o.throughput, i.throughput)
                && a != b
            {
                changed.push((i.name.clone(), a, b));
            }
        }
        // All checked before any is recorded: one request changes all or
        // none.
        for (key, a, b) in changed.iter().filter(|_| enforce) {
            self.settings.throughput_changes.get(key).map_or(Ok(()), |c| c.check(*a, *b, now))?;
        }
        for (key, a, b) in changed {
            let c = self.settings.throughput_changes.entry(key).or_default();
            if enforce {
                c.record(a, b, now)?;
            } else {
                c.note(a, b, now);
            }
        }
        let indexes: Vec<String> = self.indexes.iter().map(|i| i.name.clone()).collect();
        self.settings.throughput_changes.retain(|k, _| k.is_empty() || indexes.contains(k));
        Ok(())
    }
}

impl ThroughputChanges {
    /// Decreases allowed at any time of a UTC day.
    pub const FREE_DECREASES: u32 = 4;
    /// After those, the least time between two decreases (seconds).
    pub const DECREASE_INTERVAL_SECS: f64 = 3600.0;

    fn day(secs: f64) -> i64 {
        (secs / 86_400.0).floor() as i64
    }

    /// Decreases so far on the UTC day of `now`.
    pub fn decreases_today(&self, now: f64) -> u32 {
        match self.last_decrease {
            Some(t) if Self::day(t) == Self::day(now) => self.decreases,
            _ => 0,
        }
    }

    /// Records a change of provisioned capacity from `old` to `new` at
    /// `now` (epoch seconds), or refuses a decrease past DynamoDB's daily
    /// limit with its `LimitExceededException`.
    pub fn record(&mut self, old: Throughput, new: Throughput, now: f64) -> Result<()> {
        self.check(old, new, now)?;
        self.note(old, new, now);
        Ok(())
    }

    /// Records a change from `old` to `new` at `now`, within the limit or
    /// not.
    pub fn note(&mut self, old: Throughput, new: Throughput, now: f64) {
        if new.read < old.read || new.write < old.write {
            self.decreases = self.decreases_today(now) + 1;
            self.last_decrease = Some(now);
        }
        if new.read > old.read || new.write > old.write {
            self.last_increase = Some(now);
        }
    }

    /// Whether a change from `old` to `new` at `now` is within the daily
    /// limit on decreases (recording nothing).
    pub fn check(&self, old: Throughput, new: Throughput, now: f64) -> Result<()> {
        if new.read < old.read || new.write < old.write {
            let today = self.decreases_today(now);
            if let Some(last) = self.last_decrease
                && today >= Self::FREE_DECREASES
                && now - last < Self::DECREASE_INTERVAL_SECS
            {
                return Err(StoreError::LimitExceeded(messages::table::throughput_decreases_limited(
                    Self::FREE_DECREASES,
                    Self::DECREASE_INTERVAL_SECS as u64,
                    today,
                    last,
                    last + Self::DECREASE_INTERVAL_SECS,
                )));
            }
        }
        Ok(())
    }
}

/// A resource-based policy document and its revision id (the time it was
/// put, in milliseconds, as DynamoDB's revision ids read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcePolicy {
    pub document: String,
    pub revision: String,
}

impl TableDef {
    pub fn index(&self, name: &str) -> Option<&IndexDef> {
        self.indexes.iter().find(|i| i.name == name)
    }

    pub fn gsis(&self) -> impl Iterator<Item = &IndexDef> {
        self.indexes.iter().filter(|i| i.kind == IndexKind::Global)
    }

    pub fn lsis(&self) -> impl Iterator<Item = &IndexDef> {
        self.indexes.iter().filter(|i| i.kind == IndexKind::Local)
    }

    /// Extracts and validates the primary key of `item`, which must hold every
    /// key attribute with its declared type. `for_key_only` selects the
    /// wording DynamoDB uses when the item is a `Key` parameter.
    pub fn check_key_attrs(&self, item: &Item, is_key_param: bool) -> Result<()> {
        for attr in std::iter::once(&self.key_schema.hash).chain(self.key_schema.range.as_ref()) {
            let Some(v) = item.get(&attr.name) else {
                return Err(if is_key_param {
                    StoreError::validation(messages::item::KEY_MISMATCH)
                } else {
                    StoreError::validation(messages::item::missing_key(&attr.name))
                });
            };
            if v.attr_type() != attr.ty {
                return Err(if is_key_param {
                    StoreError::validation(messages::item::KEY_MISMATCH)
                } else {
                    StoreError::validation(messages::item::key_type_mismatch(&attr.name, attr.ty, v.attr_type()))
                });
            }
            check_key_value(&attr.name, v, attr.name == self.key_schema.hash.name, None)?;
        }
        if is_key_param && item.len() != self.key_schema.names().count() {
            return Err(StoreError::validation(messages::item::KEY_MISMATCH));
        }
        Ok(())
    }

    /// The key attributes of `item`, as a key-only item.
    pub fn key_of(&self, item: &Item) -> Item {
        self.key_schema.names().filter_map(|n| item.get(n).map(|v| (n.to_string(), v.clone()))).collect()
    }

    /// Checks the values of index key attributes present in `item`.
    pub fn check_index_attrs(&self, item: &Item) -> Result<()> {
        for idx in &self.indexes {
            for attr in idx.key_schema.attrs() {
                if let Some(v) = item.get(&attr.name) {
                    if v.attr_type() != attr.ty {
                        return Err(StoreError::validation(messages::item::index_key_type_mismatch(
                            &attr.name,
                            attr.ty,
                            v.attr_type(),
                            &idx.name,
                        )));
                    }
                    check_key_value(&attr.name, v, idx.key_schema.is_hash(&attr.name), Some(&idx.name))?;
                }
            }
        }
        for v in &self.vector_indexes {
            v.check(item)?;
        }
        Ok(())
    }

    /// Drops the attribute definitions no key uses (a table's, a secondary
    /// index's or a vector index's search schema): DynamoDB lists only
    /// those.
    pub fn drop_unused_definitions(&mut self) {
        let used: Vec<String> = self
            .key_schema
            .names()
            .chain(self.indexes.iter().flat_map(|i| i.key_schema.names()))
            .chain(self.vector_indexes.iter().flat_map(|v| v.search_schema.iter().map(|a| a.name.as_str())))
            .map(str::to_string)
            .collect();
        self.attribute_definitions.retain(|a| used.contains(&a.name));
    }

    /// Whether an index (secondary or vector) is being created: DynamoDB
    /// creates or deletes one at a time.
    pub fn index_in_progress(&self) -> bool {
        self.indexes.iter().any(|i| i.backfill == Some(true))
            || self.vector_indexes.iter().any(|v| v.backfill == Some(true))
    }

    /// The vector index named `name`.
    pub fn vector_index(&self, name: &str) -> Option<&crate::vector::VectorIndexDef> {
        self.vector_indexes.iter().find(|v| v.name == name)
    }
}

/// Checks a key attribute value: not empty, within DynamoDB's length limits.
pub fn check_key_value(name: &str, v: &Value, is_hash: bool, index: Option<&str>) -> Result<()> {
    let len = match v {
        Value::S(s) => s.len(),
        Value::B(b) => b.len(),
        _ => return Ok(()),
    };
    if len == 0 {
        let kind = if matches!(v, Value::S(_)) { "string" } else { "binary" };
        return Err(StoreError::validation(match index {
            None => messages::item::empty_key(kind, name),
            Some(idx) => messages::item::empty_index_key(kind, idx, name),
        }));
    }
    let max = if is_hash { crate::value::MAX_PARTITION_KEY_LEN } else { crate::value::MAX_SORT_KEY_LEN };
    if len > max {
        return Err(StoreError::validation(if is_hash {
            messages::item::partition_key_too_long(max)
        } else {
            messages::item::sort_key_too_long(max)
        }));
    }
    Ok(())
}

/// Validates a table or index name as DynamoDB does.
pub fn check_name(name: &str, field: &str) -> Result<()> {
    if !NAME_LEN.contains(&name.len()) {
        return Err(StoreError::validation(if name.len() < 3 {
            messages::table::name_too_short(name, field)
        } else {
            messages::table::name_too_long(name, field)
        }));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') {
        return Err(StoreError::validation(messages::table::name_pattern(name, field)));
    }
    Ok(())
}

#[cfg(test)]
mod throughput_change_tests {
    use super::*;

    const DAY: f64 = 86_400.0;

    #[test]
    fn four_decreases_a_day_then_one_an_hour() {
        let mut c = ThroughputChanges::default();
        let (hi, lo) = (Throughput { read: 10, write: 10 }, Throughput { read: 5, write: 10 });
        let start = 100.0 * DAY + 60.0;
        for i in 0..4 {
            c.record(hi, lo, start + f64::from(i)).expect("the first four");
        }
        assert_eq!(c.decreases_today(start + 10.0), 4);
        let err = c.record(hi, lo, start + 10.0).expect_err("a fifth within the hour");
        let StoreError::LimitExceeded(m) = err else { panic!("{err:?}") };
        assert!(
            m.contains("Number of decreases today: 4. Last decrease at Saturday, April 11, 1970 at 12:01:03 AM"),
            "{m}"
        );
        assert!(
            m.ends_with(
                "Next decrease can be made at Saturday, April 11, 1970 at 1:01:03 AM Coordinated Universal Time"
            ),
            "{m}"
        );
        // An increase is never limited; an hour after the last decrease one more may come.
        c.record(lo, hi, start + 20.0).expect("an increase");
        assert_eq!(c.last_increase, Some(start + 20.0));
        c.record(hi, lo, start + 3.0 + 3600.0).expect("an hour later");
        assert_eq!(c.decreases_today(start + 3700.0), 5);
        // A new UTC day starts afresh.
        assert_eq!(c.decreases_today(start + DAY), 0);
        for i in 0..4 {
            c.record(hi, lo, start + DAY + f64::from(i)).expect("four more the next day");
        }
    }
}
