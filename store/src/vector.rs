//! Vector indexes and similarity search: DynamoDB's third kind of index
//! (`VectorIndexes` in CreateTable, `VectorIndexUpdates` in UpdateTable)
//! and its `SearchVectors` operation.
//!
//! An index entry lives in the table's index keyspace beside the secondary
//! indexes' (ids come from the same counter), under `index_id(4, BE) ++
//! enc(HASH value) ++ item key`, the HASH value only when the index's
//! search schema has one. Its value is the vector as little-endian `f32`s
//! (the index's precision, as DynamoDB stores it) followed by the item's
//! search schema attributes, encoded as an item, for the search's filters.
//! An item is in an index only when its vector attribute is a list of
//! `dimensions` numbers and it has the HASH attribute (when there is one);
//! writes refuse a vector of the wrong shape outright.
//!
//! The search is exact, not approximate: it reads every entry of the
//! partition it is asked about (all of them without a HASH), scores each,
//! and keeps the best `TopK` in a heap, so its cost grows with the
//! partition (about a gigabyte a second of vectors on one core), its memory
//! does not. DynamoDB's approximate search can miss a neighbour; this one
//! never does.
//!
//! An index UpdateTable adds walks DynamoDB's phases: resource allocation
//! ([`ALLOCATION_MS`]: the table `UPDATING`, the index `CREATING` with
//! `Backfilling` false, a delete refused), then the backfill (the table
//! `ACTIVE`, the index `CREATING` with `Backfilling` true, searches
//! refused) for at least [`MIN_BACKFILL_MS`] and as long as filling takes
//! (`backfill.rs`), then `ACTIVE`. One made with its table is `ACTIVE` at
//! once.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cipher::open_in;
use crate::db::{Store, TableHandle};
use crate::error::{Result, StoreError};
use crate::messages;
use crate::table::{BillingMode, IndexDef, KeySchema, Projection, check_key_value, check_name};
use crate::value::{AttrType, Item, Number, Value, decode_item, encode_item, encode_key_component};

/// DynamoDB's per-table limit on vector indexes.
pub const MAX_VECTOR_INDEXES: usize = 5;
/// The most dimensions a vector index may have (DynamoDB's limit).
pub const MAX_DIMENSIONS: i64 = 4096;
/// The most results one search returns (DynamoDB's `TopK` range).
pub const MAX_TOP_K: i64 = 100;
/// How long an index UpdateTable adds stays in its resource allocation
/// phase. DynamoDB's lasts about thirty seconds; this is long enough for a
/// client to see the phase (and have a delete refused in it), short enough
/// for a test suite.
pub const ALLOCATION_MS: u64 = 3_000;
/// The least time the backfill phase of an index UpdateTable adds lasts
/// (DynamoDB's takes minutes even for a few items). Long enough for a
/// client polling DescribeTable every five seconds to see the table
/// `ACTIVE` while the index is still `CREATING`, which is the state that
/// makes a table waiter the wrong gate for a search.
pub const MIN_BACKFILL_MS: u64 = 6_000;

/// How similarity is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Distance {
    /// `1 - cos(a, b)`: 0 for the same direction, 2 for opposite; lower is closer.
    Cosine,
    /// The straight-line distance; lower is closer.
    Euclidean,
    /// The dot product; higher is closer.
    DotProduct,
}

impl Distance {
    pub fn parse(s: &str) -> Option<Distance> {
        match s {
            "COSINE" => Some(Distance::Cosine),
            "EUCLIDEAN" => Some(Distance::Euclidean),
            "DOT_PRODUCT" => Some(Distance::DotProduct),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Distance::Cosine => "COSINE",
            Distance::Euclidean => "EUCLIDEAN",
            Distance::DotProduct => "DOT_PRODUCT",
        }
    }

    /// The score of `b` against the query `a`, computed in `f64` from the
    /// stored `f32`s, as DynamoDB computes it: a vector against itself
    /// scores exactly the extreme, a zero vector (no direction) scores 1
    /// for cosine, and a score past `f32`'s range saturates at its bound.
    pub fn score(self, a: &[f32], b: &[f32]) -> f64 {
        self.score_of(a, b.iter().copied())
    }

    /// [`Distance::score`] of a vector read as it goes (a search reads
    /// each stored one once, without making it a vector first).
    fn score_of(self, a: &[f32], b: impl Iterator<Item = f32>) -> f64 {
        // Each function sums only what it needs: a search scores every
        // entry of the partition.
        let s = match self {
            Distance::Cosine => {
                let (mut dot, mut aa, mut bb, mut same) = (0f64, 0f64, 0f64, true);
                for (x, y) in a.iter().zip(b) {
                    same &= *x == y;
                    let (x, y) = (f64::from(*x), f64::from(y));
                    dot += x * y;
                    aa += x * x;
                    bb += y * y;
                }
                if aa == 0.0 || bb == 0.0 {
                    1.0
                } else if same {
                    0.0
                } else {
                    (1.0 - dot / (aa.sqrt() * bb.sqrt())).clamp(0.0, 2.0)
                }
            }
            Distance::Euclidean => {
                a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(y)).powi(2)).sum::<f64>().sqrt()
            }
            Distance::DotProduct => a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(y)).sum(),
        };
        s.clamp(-f64::from(f32::MAX), f64::from(f32::MAX))
    }

    /// Whether score `a` is closer than score `b`.
    fn closer(self, a: f64, b: f64) -> bool {
        match self {
            Distance::DotProduct => a > b,
            _ => a < b,
        }
    }
}

/// The role of an attribute in a vector index's search schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SearchRole {
    /// Partitions the index: every search names one value of it.
    Hash,
    /// Kept in the index for equality filters during the search.
    InlineFilter,
}

impl SearchRole {
    pub fn parse(s: &str) -> Option<SearchRole> {
        match s {
            "HASH" => Some(SearchRole::Hash),
            "INLINE_FILTER" => Some(SearchRole::InlineFilter),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SearchRole::Hash => "HASH",
            SearchRole::InlineFilter => "INLINE_FILTER",
        }
    }
}

/// One attribute of a search schema, with its type from the table's
/// attribute definitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchAttr {
    pub name: String,
    pub ty: AttrType,
    pub role: SearchRole,
}

/// A vector index of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VectorIndexDef {
    pub name: String,
    /// Prefixes its entries in the table's index keyspace; from the same
    /// counter as the secondary indexes' ids.
    pub id: u32,
    /// The attribute holding the vector.
    pub attribute: String,
    pub dimensions: u32,
    pub distance: Distance,
    #[serde(default)]
    pub search_schema: Vec<SearchAttr>,
    pub projection: Projection,
    /// When UpdateTable asked for it (ms since the epoch); `None` for one
    /// made with its table.
    #[serde(default)]
    pub added_ms: Option<u64>,
    /// `Some(true)` while an index UpdateTable added is being filled,
    /// `Some(false)` once filled, `None` for one made with its table.
    #[serde(default)]
    pub backfill: Option<bool>,
}

/// Where an index is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Just asked for: resources being allocated (`Backfilling` false).
    Allocating,
    /// Being filled from the table's items (`Backfilling` true).
    Backfilling,
    Active,
}

impl VectorIndexDef {
    /// The index's phase at `now_ms`.
    pub fn phase(&self, now_ms: u64) -> Phase {
        if self.backfill != Some(true) {
            Phase::Active
        } else if now_ms < self.added_ms.unwrap_or(0) + ALLOCATION_MS {
            Phase::Allocating
        } else {
            Phase::Backfilling
        }
    }

    /// The search schema's HASH attribute, if it has one.
    pub fn hash_attr(&self) -> Option<&SearchAttr> {
        self.search_schema.iter().find(|a| a.role == SearchRole::Hash)
    }

    /// The key prefix of the entries a search reads: the whole index, or
    /// the partition of `hash`.
    pub fn prefix(&self, hash: Option<&Value>) -> Vec<u8> {
        let mut out = self.id.to_be_bytes().to_vec();
        if let Some(h) = hash {
            encode_key_component(h, &mut out);
        }
        out
    }

    /// The index entry (key and value) of `item`, or `None` when the item is
    /// not in the index: no vector of the index's shape, or no HASH value.
    pub fn entry(&self, table_keys: &KeySchema, item: &Item) -> Option<(Vec<u8>, Vec<u8>)> {
        let vector = vector_of(item.get(&self.attribute)?, self.dimensions as usize)?;
        let hash = match self.hash_attr() {
            Some(a) => {
                let v = item.get(&a.name)?;
                if v.attr_type() != a.ty || check_key_value(&a.name, v, true, Some(&self.name)).is_err() {
                    return None;
                }
                Some(v)
            }
            None => None,
        };
        let mut key = self.prefix(hash);
        for name in table_keys.names() {
            encode_key_component(item.get(name)?, &mut key);
        }
        let mut filters = Item::new();
        for a in &self.search_schema {
            match item.get(&a.name) {
                // A value of another type keeps the item out, as a write
                // with it is refused (DynamoDB's backfill skips it too).
                Some(v) if v.attr_type() != a.ty => return None,
                Some(v) => drop(filters.insert(a.name.clone(), v.clone())),
                None => {}
            }
        }
        let mut value = Vec::with_capacity(vector.len() * 4 + 16);
        for x in &vector {
            value.extend_from_slice(&x.to_le_bytes());
        }
        value.extend_from_slice(&encode_item(&filters));
        Some((key, value))
    }

    /// Refuses a write whose item this index cannot hold, in DynamoDB's
    /// words: a vector attribute that is not a list of `dimensions` numbers
    /// that fit an `f32`, or a search schema attribute of the wrong type or
    /// an empty HASH value.
    pub fn check(&self, item: &Item) -> Result<()> {
        let name = &self.name;
        if let Some(v) = item.get(&self.attribute) {
            let attr = &self.attribute;
            let Value::L(list) = v else {
                return Err(StoreError::validation(messages::vector::not_a_vector(attr, name)));
            };
            for (i, e) in list.iter().enumerate() {
                let Value::N(n) = e else {
                    return Err(StoreError::validation(messages::vector::element_not_a_number(
                        attr,
                        i,
                        e.attr_type(),
                        name,
                    )));
                };
                if to_f32(n).is_none() {
                    return Err(StoreError::validation(messages::vector::element_out_of_range(attr, i, n, name)));
                }
            }
            if list.len() != self.dimensions as usize {
                return Err(StoreError::validation(messages::vector::wrong_size(
                    attr,
                    self.dimensions,
                    list.len(),
                    name,
                )));
            }
        }
        for a in &self.search_schema {
            let Some(v) = item.get(&a.name) else { continue };
            if v.attr_type() != a.ty {
                return Err(StoreError::validation(messages::vector::search_attribute_type(
                    &a.name,
                    a.ty,
                    v.attr_type(),
                    name,
                )));
            }
            if a.role == SearchRole::Hash {
                check_key_value(&a.name, v, true, Some(name))?;
            }
        }
        Ok(())
    }

    /// Whether a search result carries attribute `name` of an item (the
    /// vector itself only when a projection expression asks for it).
    pub fn projects(&self, name: &str, table_keys: &KeySchema) -> bool {
        match &self.projection {
            Projection::All => true,
            Projection::KeysOnly => table_keys.contains(name) || self.search_schema.iter().any(|a| a.name == name),
            Projection::Include(extra) => {
                table_keys.contains(name)
                    || self.search_schema.iter().any(|a| a.name == name)
                    || extra.iter().any(|e| e == name)
            }
        }
    }

    /// What this index holds of `item`: its vector (as `f32`s) and the
    /// attributes it projects, or `None` when the item is not in it.
    fn view<'i>(&self, table_keys: &KeySchema, item: &'i Item) -> Option<View<'i>> {
        // In the index exactly when it has an entry.
        self.entry(table_keys, item)?;
        let vector = vector_of(item.get(&self.attribute)?, self.dimensions as usize)?;
        let projected = item
            .iter()
            .filter(|(n, _)| **n != self.attribute && self.projects(n, table_keys))
            .map(|(n, v)| (n.as_str(), v))
            .collect();
        Some((vector, projected))
    }

    /// The size of an entry as DynamoDB meters it: four bytes a dimension
    /// and the vector attribute's name, plus the item size of the
    /// attributes it projects.
    fn entry_size(&self, projected: &[(&str, &Value)]) -> u64 {
        (4 * self.dimensions as usize + self.attribute.len() + crate::value::entries_size(projected.iter().copied()))
            as u64
    }

    /// The `VectorWriteRequestBytes` of a change from `old` to `new`: none
    /// when what the index holds of the item stays as it was (DynamoDB
    /// meters vector writes by what changes), else the size of the entry
    /// written or removed (the larger of the two when one replaces the
    /// other), at least [`VECTOR_METERING_MIN`].
    pub fn write_bytes(&self, table_keys: &KeySchema, old: Option<&Item>, new: Option<&Item>) -> u64 {
        let old = old.and_then(|i| self.view(table_keys, i));
        let new = new.and_then(|i| self.view(table_keys, i));
        if old == new {
            return 0;
        }
        let size = |v: &Option<View<'_>>| v.as_ref().map_or(0, |(_, projected)| self.entry_size(projected));
        size(&old).max(size(&new)).max(VECTOR_METERING_MIN)
    }

    /// The `VectorSearchRequestBytes` of a search that returned `hits`:
    /// the query vector and the entries returned, at least
    /// [`VECTOR_METERING_MIN`]. (DynamoDB's figure also counts what its
    /// approximate search examined, and varies between identical calls;
    /// this one is deterministic.)
    pub fn search_bytes(&self, table_keys: &KeySchema, hits: &[Hit]) -> u64 {
        let returned: u64 = hits
            .iter()
            .map(|h| {
                let projected: Vec<(&str, &Value)> = h
                    .item
                    .iter()
                    .filter(|(n, _)| **n != self.attribute && self.projects(n, table_keys))
                    .map(|(n, v)| (n.as_str(), v))
                    .collect();
                self.entry_size(&projected)
            })
            .sum();
        (4 * u64::from(self.dimensions) + returned).max(VECTOR_METERING_MIN)
    }
}

/// What an index holds of an item: its vector and projected attributes.
type View<'i> = (Vec<f32>, Vec<(&'i str, &'i Value)>);

/// DynamoDB meters vector capacity at 1 KB at least (Developer Guide,
/// "Monitoring vector indexes": per request).
pub const VECTOR_METERING_MIN: u64 = 1024;

/// A number as the `f32` a vector index stores, or `None` past its range.
pub fn to_f32(n: &Number) -> Option<f32> {
    // Rounded once, from the decimal (through an f64 it could round twice).
    let f: f32 = n.to_string().parse().ok()?;
    f.is_finite().then_some(f)
}

/// An `f32` as a number, in its shortest decimal form.
pub fn from_f32(x: f32) -> Number {
    x.to_string().parse().unwrap_or_else(|_| Number::zero())
}

/// `v` as a vector of `dims` `f32`s, or `None` when it is not one.
pub fn vector_of(v: &Value, dims: usize) -> Option<Vec<f32>> {
    let Value::L(list) = v else { return None };
    if list.len() != dims {
        return None;
    }
    list.iter()
        .map(|e| match e {
            Value::N(n) => to_f32(n),
            _ => None,
        })
        .collect()
}

/// A vector index as CreateTable or UpdateTable sends it.
#[derive(Debug, Clone)]
pub struct VectorIndexInput {
    pub name: String,
    pub attribute: String,
    pub dimensions: i64,
    pub distance: Distance,
    pub search_schema: Vec<(String, SearchRole)>,
    pub projection: Projection,
}

/// Validates a vector index against the table's attribute definitions and
/// billing mode; returns it resolved, with id `id`.
pub(crate) fn resolve(
    input: &VectorIndexInput,
    defs: &[(String, AttrType)],
    billing: BillingMode,
    id: u32,
) -> Result<VectorIndexDef> {
    check_name(&input.name, "indexName")?;
    if defs.iter().any(|(n, _)| *n == input.attribute) {
        return Err(StoreError::validation(messages::vector::vector_attribute_defined(&input.attribute)));
    }
    if billing != BillingMode::PayPerRequest {
        return Err(StoreError::validation(messages::vector::NOT_PAY_PER_REQUEST));
    }
    if !(1..=MAX_DIMENSIONS).contains(&input.dimensions) {
        return Err(StoreError::validation(messages::vector::dimensions_out_of_range(MAX_DIMENSIONS)));
    }
    let mut search_schema = Vec::with_capacity(input.search_schema.len());
    for (name, role) in &input.search_schema {
        let ty = defs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| StoreError::validation(messages::vector::SEARCH_ATTRIBUTE_UNDEFINED))?;
        if search_schema.iter().any(|a: &SearchAttr| a.name == *name) {
            return Err(StoreError::validation(messages::vector::duplicate_search_attribute(name)));
        }
        search_schema.push(SearchAttr { name: name.clone(), ty, role: *role });
    }
    let hashes = search_schema.iter().filter(|a| a.role == SearchRole::Hash).count();
    if hashes > 1 {
        return Err(StoreError::validation(messages::vector::too_many_hashes(hashes)));
    }
    if search_schema.iter().any(|a| a.name == input.attribute) {
        return Err(StoreError::validation(messages::vector::vector_in_search_schema(&input.attribute)));
    }
    if let Projection::Include(attrs) = &input.projection
        && attrs.is_empty()
    {
        return Err(StoreError::validation(messages::table::INCLUDE_WITHOUT_ATTRIBUTES));
    }
    Ok(VectorIndexDef {
        name: input.name.clone(),
        id,
        attribute: input.attribute.clone(),
        dimensions: input.dimensions as u32,
        distance: input.distance,
        search_schema,
        projection: input.projection.clone(),
        added_ms: None,
        backfill: None,
    })
}

/// Checks a table's vector indexes together, and against its secondary
/// indexes: the count, names used once, one dimension per vector attribute.
pub(crate) fn check_set(vectors: &[VectorIndexDef], secondary: &[IndexDef]) -> Result<()> {
    if vectors.len() > MAX_VECTOR_INDEXES {
        return Err(StoreError::validation(messages::vector::too_many_indexes(MAX_VECTOR_INDEXES)));
    }
    for (i, v) in vectors.iter().enumerate() {
        if vectors[..i].iter().any(|o| o.name == v.name) || secondary.iter().any(|s| s.name == v.name) {
            return Err(StoreError::validation(messages::table::index_name_twice(&v.name)));
        }
        if vectors[..i].iter().any(|o| o.attribute == v.attribute && o.dimensions != v.dimensions) {
            return Err(StoreError::validation(messages::vector::dimensions_conflict(&v.attribute)));
        }
    }
    Ok(())
}

/// What a search asks for, checked against its index.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub vector: Vec<f32>,
    pub top_k: usize,
    /// The HASH attribute's value (required when the index has one).
    pub hash: Option<Value>,
    /// Equality filters on the index's inline filter attributes.
    pub filters: Vec<(String, Value)>,
}

/// One result: the item as the index projects it, with the vector as the
/// index stores it (`f32`), and its score.
#[derive(Debug, Clone)]
pub struct Hit {
    pub item: Item,
    pub score: f64,
}

/// A candidate in the search's heap: the worst on top, so it is the one
/// replaced.
struct Candidate {
    score: f64,
    key: Vec<u8>,
    vector: Vec<f32>,
    distance: Distance,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// Greater is worse: a farther score, then a later key (ties go to the
    /// smaller key, so results are deterministic).
    fn cmp(&self, other: &Self) -> Ordering {
        let by_score = if self.distance.closer(self.score, other.score) {
            Ordering::Less
        } else if self.distance.closer(other.score, self.score) {
            Ordering::Greater
        } else {
            Ordering::Equal
        };
        by_score.then_with(|| self.key.cmp(&other.key))
    }
}

impl Store {
    /// The entries of vector index `index` and their metered size (see
    /// [`VectorIndexDef::write_bytes`]), by walking it.
    pub fn vector_index_stats(&self, t: &TableHandle, index: &VectorIndexDef) -> Result<(u64, u64)> {
        let (mut count, mut bytes) = (0u64, 0u64);
        for kv in t.index.prefix(index.id.to_be_bytes()) {
            let (k, v) = kv.into_inner()?;
            count += 1;
            // The vector (four bytes a dimension, in the value), its
            // attribute's name, the keys and search attributes it holds.
            bytes += (index.attribute.len() + k.len() + v.len()) as u64;
        }
        Ok((count, bytes))
    }

    /// Adds a vector index, `CREATING` through its allocation and backfill
    /// phases (`backfill.rs`). `defs` may define its search schema's
    /// attributes.
    pub fn add_vector_index(
        &self,
        table: &str,
        input: VectorIndexInput,
        defs: Vec<(String, AttrType)>,
    ) -> Result<Arc<TableHandle>> {
        let index = input.name.clone();
        let handle = self.alter_table(table, |def| {
            if def.vector_index(&input.name).is_some_and(|v| v.backfill == Some(true)) {
                return Err(StoreError::ResourceInUse(messages::vector::index_being_created(table, &input.name)));
            }
            if def.index_in_progress() {
                return Err(crate::db::one_online_index());
            }
            if def.index(&input.name).is_some() || def.vector_index(&input.name).is_some() {
                return Err(StoreError::validation(messages::table::INDEX_ALREADY_EXISTS));
            }
            if def.vector_indexes.len() >= MAX_VECTOR_INDEXES {
                return Err(StoreError::LimitExceeded(messages::vector::index_limit(MAX_VECTOR_INDEXES)));
            }
            // A key attribute (of the table, an index or a search schema)
            // cannot hold the vector: DynamoDB's words for the clash of the
            // two schemas.
            if let Some(k) = def.attribute_definitions.iter().find(|k| k.name == input.attribute) {
                let role = if def.key_schema.is_hash(&k.name) {
                    "HASH"
                } else if def.key_schema.contains(&k.name) {
                    "RANGE"
                } else {
                    "INDEX"
                };
                return Err(StoreError::validation(messages::vector::attribute_redefined(
                    &k.name,
                    k.ty,
                    role,
                    &input.attribute,
                    input.dimensions,
                )));
            }
            // Nor may a search schema name another index's vector.
            if let Some((n, _)) =
                input.search_schema.iter().find(|(n, _)| def.vector_indexes.iter().any(|v| v.attribute == *n))
            {
                return Err(StoreError::validation(messages::vector::vector_attribute_defined(n)));
            }
            for (n, t) in &defs {
                if let Some(existing) = def.attribute_definitions.iter().find(|a| a.name == *n)
                    && existing.ty != *t
                {
                    return Err(StoreError::validation(messages::vector::attribute_type_changed(n)));
                }
            }
            // The search schema's attributes must be defined in the request
            // itself, even when the table defines them already.
            let mut v = resolve(&input, &defs, def.billing_mode, def.next_index_id)?;
            def.next_index_id += 1;
            for a in &v.search_schema {
                if !def.attribute_definitions.iter().any(|d| d.name == a.name) {
                    def.attribute_definitions.push(crate::table::KeyAttr { name: a.name.clone(), ty: a.ty });
                }
            }
            v.added_ms = Some(crate::db::now_ms());
            v.backfill = Some(true);
            def.vector_indexes.push(v);
            Ok(())
        })?;
        self.spawn_backfill(table, &index);
        Ok(handle)
    }

    /// Removes a vector index and its entries. One still allocating its
    /// resources refuses, as DynamoDB's does; one being filled may go.
    pub fn remove_vector_index(&self, table: &str, index: &str) -> Result<Arc<TableHandle>> {
        self.alter_table(table, |def| {
            if def.indexes.iter().any(|i| i.backfill == Some(true)) {
                return Err(crate::db::one_online_index());
            }
            let Some(v) = def.vector_index(index) else {
                return Err(StoreError::ResourceNotFound(messages::table::updated_index_not_found(index, table)));
            };
            if v.phase(crate::db::now_ms()) == Phase::Allocating {
                return Err(StoreError::ResourceInUse(messages::vector::index_allocating(table, index)));
            }
            if def.vector_indexes.iter().any(|o| o.backfill == Some(true) && o.name != index) {
                return Err(crate::db::one_online_index());
            }
            def.vector_indexes.retain(|v| v.name != index);
            def.drop_unused_definitions();
            Ok(())
        })
    }

    /// The `top_k` entries of vector index `index` of `table` closest to
    /// the query, best first, each with its item as the index projects it.
    pub fn search_vectors(&self, table: &TableHandle, index: &VectorIndexDef, q: &SearchQuery) -> Result<Vec<Hit>> {
        let cipher = self.inner().cipher.as_ref();
        let prefix = index.prefix(q.hash.as_ref());
        let dims = index.dimensions as usize;
        let mut heap: BinaryHeap<Candidate> = BinaryHeap::with_capacity(q.top_k + 1);
        for kv in table.index.prefix(&prefix) {
            let (k, v) = kv.into_inner()?;
            let v = open_in(cipher, &table.index, &k, v)?;
            let Some((vector, rest)) = v.split_at_checked(dims * 4) else {
                return Err(StoreError::Corrupt(format!("vector index {} entry too short", index.name)));
            };
            if !q.filters.is_empty() {
                let filters = decode_item(rest).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if !q.filters.iter().all(|(n, want)| filters.get(n) == Some(want)) {
                    continue;
                }
            }
            let floats = || vector.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            let score = index.distance.score_of(&q.vector, floats());
            // Only an entry that makes the best `top_k` is kept (and
            // copied): one closer than the worst kept, or as close with a
            // smaller key.
            let distance = index.distance;
            let enters = heap.len() < q.top_k
                || heap.peek().is_some_and(|worst| {
                    distance.closer(score, worst.score)
                        || (!distance.closer(worst.score, score) && k.as_ref() < worst.key.as_slice())
                });
            if enters {
                heap.push(Candidate { score, key: k.to_vec(), vector: floats().collect(), distance });
                if heap.len() > q.top_k {
                    heap.pop();
                }
            }
        }
        let mut hits = Vec::with_capacity(heap.len());
        for c in heap.into_sorted_vec() {
            let item_key = &c.key[prefix.len()..];
            let Some(raw) = table.items.get(item_key)? else { continue };
            let item = crate::stream::decode_stored(&open_in(cipher, &table.items, item_key, raw)?)?;
            let mut item: Item = item
                .into_iter()
                .filter(|(n, _)| *n != index.attribute && index.projects(n, &table.def.key_schema))
                .collect();
            item.insert(index.attribute.clone(), Value::L(c.vector.iter().map(|x| Value::N(from_f32(*x))).collect()));
            hits.push(Hit { item, score: c.score });
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_as_dynamodb_reports_them() {
        let q = [1.0, 0.0, 0.0];
        assert_eq!(Distance::Cosine.score(&q, &[1.0, 0.0, 0.0]), 0.0);
        assert_eq!(Distance::Cosine.score(&q, &[0.0, 1.0, 0.0]), 1.0);
        assert_eq!(Distance::Cosine.score(&q, &[-1.0, 0.0, 0.0]), 2.0);
        assert!((Distance::Cosine.score(&q, &[0.6, 0.8, 0.0]) - 0.4).abs() < 1e-6);
        assert_eq!(Distance::Euclidean.score(&q, &[-1.0, 0.0, 0.0]), 2.0);
        assert!((Distance::Euclidean.score(&q, &[0.0, 1.0, 0.0]) - std::f64::consts::SQRT_2).abs() < 1e-12);
        assert_eq!(Distance::DotProduct.score(&q, &[-1.0, 0.0, 0.0]), -1.0);
        assert_eq!(Distance::Cosine.score(&q, &[0.0, 0.0, 0.0]), 1.0, "a zero vector has no direction");
        let big = [f32::MAX, f32::MAX];
        assert_eq!(Distance::Euclidean.score(&big, &[-f32::MAX, -f32::MAX]), f64::from(f32::MAX), "saturates");
        let odd = [0.3, -0.7, 0.11];
        assert_eq!(Distance::Cosine.score(&odd, &odd), 0.0, "itself, exactly");
    }

    #[test]
    fn numbers_round_through_f32() {
        let n = |s: &str| s.parse::<Number>().unwrap();
        assert_eq!(to_f32(&n("16777217")), Some(16_777_216.0));
        assert_eq!(to_f32(&n("1e39")), None, "past f32's range");
        assert_eq!(from_f32(0.1).to_string(), "0.1");
        assert_eq!(from_f32(16_777_216.0).to_string(), "16777216");
    }
}
