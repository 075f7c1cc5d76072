//! CreateTable and UpdateTable input, validated as DynamoDB validates it.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Result, StoreError};
use crate::messages;
use crate::table::{
    BillingMode, IndexDef, IndexKind, KeyAttr, KeySchema, MAX_GSIS, MAX_KEY_ATTRS_PER_ROLE, MAX_LSIS,
    MAX_PROJECTED_ATTRIBUTES, MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS, MAX_TAGS, Projection, StreamViewType, Throughput,
    check_name,
};
use crate::value::AttrType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Hash,
    Range,
}

/// A key schema as sent: names and roles; types come from the attribute definitions.
pub type KeySchemaInput = Vec<(String, KeyType)>;

#[derive(Debug, Clone)]
pub struct IndexInput {
    pub name: String,
    pub kind: IndexKind,
    pub key_schema: KeySchemaInput,
    pub projection: Projection,
    pub throughput: Option<Throughput>,
    /// What is wrong with the projection as sent (no ProjectionType,
    /// NonKeyAttributes with the wrong type, ...): DynamoDB reports it
    /// after the index's key schema, before its throughput (dynalite's
    /// tests, recorded against DynamoDB), so it waits here.
    pub projection_fault: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CreateTableInput {
    pub name: String,
    pub key_schema: KeySchemaInput,
    pub attribute_definitions: Vec<(String, AttrType)>,
    pub billing_mode: BillingMode,
    pub throughput: Option<Throughput>,
    pub indexes: Vec<IndexInput>,
    pub stream: Option<StreamViewType>,
    pub tags: BTreeMap<String, String>,
    pub deletion_protection: bool,
    pub table_class: Option<String>,
    pub settings: crate::table::TableSettings,
    pub vector_indexes: Vec<crate::vector::VectorIndexInput>,
}

impl CreateTableInput {
    /// An on-demand table with this key and nothing else: no index, stream
    /// or tag.
    pub fn on_demand(
        name: &str,
        key_schema: Vec<(String, KeyType)>,
        attribute_definitions: Vec<(String, AttrType)>,
    ) -> Self {
        CreateTableInput {
            name: name.into(),
            key_schema,
            attribute_definitions,
            billing_mode: BillingMode::PayPerRequest,
            throughput: None,
            indexes: Vec::new(),
            stream: None,
            tags: BTreeMap::new(),
            deletion_protection: false,
            table_class: None,
            settings: Default::default(),
            vector_indexes: Vec::new(),
        }
    }

    /// An on-demand table keyed by `pk` of type `ty` alone, for tests.
    #[cfg(test)]
    pub(crate) fn for_test(name: &str, pk: &str, ty: AttrType) -> Self {
        Self::on_demand(name, vec![(pk.into(), KeyType::Hash)], vec![(pk.into(), ty)])
    }
}

/// Resolves a key schema against attribute definitions. `index` names the
/// index whose key it is, and says whether it is a global one: only a
/// global secondary index's key may have several attributes in a role.
pub(crate) fn resolve_key_schema(
    input: &KeySchemaInput,
    defs: &[(String, AttrType)],
    index: Option<(&str, IndexKind)>,
) -> Result<KeySchema> {
    let multi = matches!(index, Some((_, IndexKind::Global)));
    if input.is_empty() || (input.len() > 2 && !multi) {
        // DynamoDB echoes a too-long list as Java prints it.
        let elems: Vec<String> = input
            .iter()
            .map(|(name, kt)| {
                let kt = if *kt == KeyType::Hash { "HASH" } else { "RANGE" };
                messages::table::key_schema_element(name, kt)
            })
            .collect();
        let echo = format!("[{}]", elems.join(", "));
        let member = match index {
            Some((_, IndexKind::Global)) => "globalSecondaryIndexes.1.member.",
            Some((_, IndexKind::Local)) => "localSecondaryIndexes.1.member.",
            None => "",
        };
        let constraint =
            if input.is_empty() { messages::request::min_length(1) } else { messages::request::max_length(2) };
        return Err(StoreError::validation(messages::request::envelope([messages::request::value_at(
            echo,
            format!("{member}keySchema"),
            constraint,
        )])));
    }
    // DynamoDB's order (dynalite's tests, recorded against it; the
    // conformance suite and Alternator's tests agree): a table's key with
    // more attributes than there are definitions, a key attribute not
    // defined, one attribute named twice, then the key types.
    if index.is_none() && input.len() > defs.len() {
        return Err(StoreError::validation(messages::table::KEY_ATTRIBUTE_WITHOUT_DEFINITION));
    }
    let not_defined = || {
        StoreError::validation(messages::table::key_attributes_not_defined(
            &input.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            &defs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ))
    };
    if input.iter().any(|(name, _)| !defs.iter().any(|(n, _)| n == name)) {
        return Err(not_defined());
    }
    if input.len() == 2 && input[0].0 == input[1].0 && input[1].1 == KeyType::Range {
        return Err(StoreError::validation(messages::table::HASH_AND_RANGE_SAME_NAME));
    }
    if input[0].1 != KeyType::Hash {
        return Err(StoreError::validation(messages::table::FIRST_ELEMENT_NOT_HASH));
    }
    if input.len() == 2 && input[1].1 != KeyType::Range && !multi {
        return Err(StoreError::validation(messages::table::SECOND_ELEMENT_NOT_RANGE));
    }
    let hashes = input.iter().take_while(|(_, kt)| *kt == KeyType::Hash).count();
    if multi {
        check_multi_attribute(input, hashes, index.map(|(n, _)| n).unwrap_or_default())?;
    }
    let resolve = |name: &str| -> Result<KeyAttr> {
        let ty = defs.iter().find(|(n, _)| n == name).map(|(_, t)| *t).ok_or_else(not_defined)?;
        Ok(KeyAttr { name: name.to_string(), ty })
    };
    let attrs: Vec<KeyAttr> = input.iter().map(|(n, _)| resolve(n)).collect::<Result<_>>()?;
    let (hash, range) = attrs.split_at(hashes);
    Ok(KeySchema {
        hash: hash[0].clone(),
        range: range.first().cloned(),
        more_hash: hash[1..].to_vec(),
        more_range: range.get(1..).map(<[KeyAttr]>::to_vec).unwrap_or_default(),
    })
}

/// A global secondary index key of several attributes per role: every HASH
/// element before every RANGE element, at most four of each, no attribute
/// twice (DynamoDB Developer Guide, "Multi-attribute key schema").
fn check_multi_attribute(input: &KeySchemaInput, hashes: usize, index: &str) -> Result<()> {
    if input[hashes..].iter().any(|(_, kt)| *kt == KeyType::Hash) {
        tracing::debug!(index, "a RANGE key attribute precedes a HASH one");
        return Err(StoreError::validation(messages::table::HASH_BEFORE_RANGE));
    }
    let ranges = input.len() - hashes;
    for (count, role) in [(hashes, "HASH"), (ranges, "RANGE")] {
        if count > MAX_KEY_ATTRS_PER_ROLE {
            return Err(StoreError::validation(messages::table::too_many_key_attributes(role)));
        }
    }
    let mut seen = BTreeSet::new();
    for (name, _) in input {
        if !seen.insert(name.as_str()) {
            tracing::debug!(index, name, "a key attribute named twice");
            return Err(StoreError::validation(messages::table::KEY_ATTRIBUTE_TWICE));
        }
    }
    Ok(())
}

/// The most capacity units DynamoDB takes in a request, far past any
/// account's quota (dynalite's tests, recorded against DynamoDB: one more
/// is "out of bounds", checked for a provisioned table).
pub const MAX_CAPACITY_UNITS: i64 = 1_000_000_000_000;

/// Refuses capacity units past [`MAX_CAPACITY_UNITS`], of the table or of
/// global index `index` (the message names it).
pub fn capacity_in_bounds(t: Throughput, index: Option<&str>) -> Result<()> {
    for (v, member) in [(t.read, "ReadCapacityUnits"), (t.write, "WriteCapacityUnits")] {
        if v > MAX_CAPACITY_UNITS as u64 {
            return Err(StoreError::validation(messages::table::capacity_out_of_bounds(v, member, index)));
        }
    }
    Ok(())
}

/// The throughput of the table, or of global index `index`, against its
/// billing mode.
fn check_throughput(billing: BillingMode, t: Option<Throughput>, index: Option<&str>) -> Result<()> {
    if let (BillingMode::Provisioned, Some(t), None) = (billing, t, index) {
        capacity_in_bounds(t, None)?;
    }
    match (billing, t) {
        (BillingMode::Provisioned, None) => Err(StoreError::validation(messages::table::throughput_required(index))),
        (BillingMode::PayPerRequest, Some(_)) => {
            Err(StoreError::validation(messages::table::throughput_on_demand(index)))
        }
        (_, Some(t)) if t.read == 0 || t.write == 0 => Err(StoreError::validation(messages::table::CAPACITY_BELOW_ONE)),
        _ => Ok(()),
    }
}

/// Where an index is defined: with its table, or added by UpdateTable
/// (DynamoDB words a missing or needless throughput differently).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Defining {
    CreateTable,
    UpdateTable,
}

/// Validates an index definition against the table and returns it resolved.
pub(crate) fn resolve_index(
    input: &IndexInput,
    defs: &[(String, AttrType)],
    table_keys: &KeySchema,
    billing: BillingMode,
    id: u32,
    defining: Defining,
) -> Result<IndexDef> {
    check_name(&input.name, "indexName")?;
    // Before the index's own key (dynalite's tests, recorded against
    // DynamoDB).
    if input.kind == IndexKind::Local && table_keys.range.is_none() {
        return Err(StoreError::validation(messages::table::LOCAL_INDEX_WITHOUT_TABLE_RANGE));
    }
    let key_schema = resolve_key_schema(&input.key_schema, defs, Some((&input.name, input.kind)))?;
    if input.kind == IndexKind::Local {
        if key_schema.range.is_none() {
            return Err(StoreError::validation(messages::table::local_index_without_range(&input.name)));
        }
        if key_schema.hash.name != table_keys.hash.name {
            return Err(StoreError::validation(messages::table::local_index_other_hash(
                &input.name,
                &key_schema.hash.name,
                &table_keys.hash.name,
            )));
        }
        if let Some(fault) = &input.projection_fault {
            return Err(StoreError::validation(fault.clone()));
        }
        if input.throughput.is_some() {
            return Err(StoreError::validation(messages::table::local_index_throughput(&input.name)));
        }
    } else {
        if let Some(fault) = &input.projection_fault {
            return Err(StoreError::validation(fault.clone()));
        }
        check_throughput(billing, input.throughput, Some(&input.name)).map_err(|_| match (billing, defining) {
            (BillingMode::Provisioned, Defining::UpdateTable) => {
                StoreError::validation(messages::table::created_index_throughput_required(&input.name))
            }
            (BillingMode::PayPerRequest, Defining::UpdateTable) => {
                StoreError::validation(messages::table::created_index_throughput_on_demand(&input.name))
            }
            (BillingMode::Provisioned, Defining::CreateTable) => {
                StoreError::validation(messages::table::index_throughput_not_specified(&input.name))
            }
            (BillingMode::PayPerRequest, Defining::CreateTable) => {
                StoreError::validation(messages::table::index_throughput_on_demand(&input.name))
            }
        })?;
    }
    if let Projection::Include(attrs) = &input.projection
        && attrs.is_empty()
    {
        return Err(StoreError::validation(messages::table::INCLUDE_WITHOUT_ATTRIBUTES));
    }
    Ok(IndexDef {
        name: input.name.clone(),
        id,
        kind: input.kind,
        key_schema,
        projection: input.projection.clone(),
        throughput: input.throughput,
        backfill: None,
    })
}

/// Checks the whole set of indexes of a table: counts, duplicate names,
/// projected attribute budget.
pub(crate) fn check_index_set(indexes: &[IndexDef]) -> Result<()> {
    let mut names = BTreeSet::new();
    for i in indexes {
        if !names.insert(i.name.as_str()) {
            return Err(StoreError::validation(messages::table::index_name_twice(&i.name)));
        }
    }
    let gsis = indexes.iter().filter(|i| i.kind == IndexKind::Global).count();
    let lsis = indexes.len() - gsis;
    if gsis > MAX_GSIS {
        return Err(StoreError::validation(messages::table::too_many_global_indexes(MAX_GSIS)));
    }
    if lsis > MAX_LSIS {
        return Err(StoreError::validation(messages::table::too_many_local_indexes(MAX_LSIS)));
    }
    let projected: usize = indexes
        .iter()
        .map(|i| match &i.projection {
            Projection::Include(a) => a.len(),
            _ => 0,
        })
        .sum();
    if projected > MAX_PROJECTED_ATTRIBUTES {
        return Err(StoreError::validation(messages::table::too_many_projected_attributes(MAX_PROJECTED_ATTRIBUTES)));
    }
    Ok(())
}

/// A table's key schema, secondary indexes and vector indexes.
pub(crate) type Resolved = (KeySchema, Vec<IndexDef>, Vec<crate::vector::VectorIndexDef>);

/// Validates CreateTable input; returns the resolved key schema and indexes.
pub(crate) fn validate_create(input: &CreateTableInput) -> Result<Resolved> {
    check_name(&input.name, "tableName")?;
    let mut seen = BTreeSet::new();
    for (name, ty) in &input.attribute_definitions {
        if !ty.is_scalar_key_type() {
            return Err(StoreError::validation(messages::request::envelope([messages::request::value_at(
                ty,
                "attributeDefinitions.member.attributeType",
                messages::request::in_enum(&["B", "N", "S"]),
            )])));
        }
        if !seen.insert(name.as_str()) {
            return Err(StoreError::validation(messages::table::attribute_defined_twice(name)));
        }
    }
    // The billing mode's throughput before the key schema (dynalite's
    // tests, recorded against DynamoDB).
    check_throughput(input.billing_mode, input.throughput, None)?;
    let key_schema = resolve_key_schema(&input.key_schema, &input.attribute_definitions, None)?;
    let mut indexes = Vec::with_capacity(input.indexes.len());
    for (n, idx) in input.indexes.iter().enumerate() {
        indexes.push(resolve_index(
            idx,
            &input.attribute_definitions,
            &key_schema,
            input.billing_mode,
            n as u32 + 1,
            Defining::CreateTable,
        )?);
    }
    check_index_set(&indexes)?;
    let mut vectors = Vec::with_capacity(input.vector_indexes.len());
    for v in &input.vector_indexes {
        let id = (indexes.len() + vectors.len()) as u32 + 1;
        vectors.push(crate::vector::resolve(v, &input.attribute_definitions, input.billing_mode, id)?);
    }
    crate::vector::check_set(&vectors, &indexes)?;
    let used: BTreeSet<&str> = key_schema
        .names()
        .chain(indexes.iter().flat_map(|i| i.key_schema.names()))
        .chain(vectors.iter().flat_map(|v| v.search_schema.iter().map(|a| a.name.as_str())))
        .collect();
    if used.len() < input.attribute_definitions.len() && !(input.indexes.is_empty() && input.vector_indexes.is_empty())
    {
        // With indexes, DynamoDB names the sets: the definitions as sent,
        // the keys in the order the schemas name them.
        let mut keys: Vec<&str> = Vec::new();
        for name in key_schema
            .names()
            .chain(indexes.iter().flat_map(|i| i.key_schema.names()))
            .chain(vectors.iter().flat_map(|v| v.search_schema.iter().map(|a| a.name.as_str())))
        {
            if !keys.contains(&name) {
                keys.push(name);
            }
        }
        return Err(StoreError::validation(messages::table::definitions_not_used(
            &input.attribute_definitions.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            &keys,
        )));
    }
    if used.len() != input.attribute_definitions.len() {
        return Err(StoreError::validation(messages::table::DEFINITIONS_NOT_KEY_ATTRIBUTES));
    }
    check_tags(&input.tags)?;
    Ok((key_schema, indexes, vectors))
}

/// Tag keys are 1..=128 characters, values up to 256, at most 50 per resource.
pub fn check_tags(tags: &BTreeMap<String, String>) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(StoreError::validation(messages::table::TOO_MANY_TAGS));
    }
    // Tag keys and values hold letters, digits, white space and `_.:/=+-@`
    // (DynamoDB Developer Guide, Tagging: restrictions).
    let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c);
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > MAX_TAG_KEY_CHARS || !k.chars().all(allowed) {
            return Err(StoreError::validation(messages::table::invalid_tag_key(k)));
        }
        // A value too long is worded as one with a character refused
        // (DDB-TABLE-107 of the ack-api-quirks catalogue, against the
        // service: 256 characters taken, 257 refused so).
        if !v.chars().all(allowed) || v.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(StoreError::validation(messages::table::invalid_tag_value(v)));
        }
    }
    Ok(())
}
