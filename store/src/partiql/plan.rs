//! Planning: a parsed statement, its parameters and its table's definition
//! become a [`Plan`] the caller can run with the store's own reads and
//! writes: a Query, Scan or GetItem for a `SELECT`, and one keyed write with
//! an optional condition for the rest.
//!
//! A `SELECT` whose `WHERE` holds, among its top-level `AND`s, an equality or
//! an `IN` on the partition key of the table (or index) runs as a Query, with
//! a sort-key condition narrowing it where one fits; anything else scans, as
//! in DynamoDB. The whole `WHERE` is still applied as the filter, so the
//! narrowing can only save reads, never change results.
//!
//! An `UPDATE`, `DELETE` or `EXISTS` takes its primary key from equalities
//! among the top-level `AND`s of its `WHERE`; the rest of the `WHERE` is the
//! write's condition.

use std::cmp::Ordering;

use super::PartiqlError;
use super::ast::{Expr, Op, Returning, Select, Statement, SynPath, SynStep};
use super::lower::{Lower, balanced, path};
use crate::expr::{Comparator, Condition, Operand, Path, PathElem, RangeCondition, UpdateExpr};
use crate::messages;
use crate::table::{IndexDef, IndexKind, KeySchema, Projection, TableDef};
use crate::value::{AttrType, Item, Value, encode_key_component};

type Result<T> = std::result::Result<T, PartiqlError>;

/// Which API runs the statement; each restricts `SELECT` differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// ExecuteStatement: any read, a single-item write.
    Single,
    /// BatchExecuteStatement: a read must name one item by its whole key.
    Batch,
    /// ExecuteTransaction: as a batch, and no index reads, no `RETURNING`.
    Transaction,
}

/// One selected path and the name it is returned under: its last attribute
/// name followed by any trailing list indexes (`a.b[1]` is returned as
/// `b[1]`), as DynamoDB names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projected {
    /// The name in the returned item.
    pub name: String,
    /// The path read.
    pub path: Path,
}

/// How a `SELECT` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every item of the table or index.
    Scan,
    /// One Query per partition key value, in this order, each narrowed by
    /// `range` when given.
    Query {
        /// Partition key values, deduplicated, in the order to read them.
        hashes: Vec<Value>,
        /// A condition on the sort key.
        range: Option<RangeCondition>,
    },
    /// One item by its whole primary key (batches and transactions).
    Get {
        /// The primary key.
        key: Item,
    },
}

/// A planned `SELECT`.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectPlan {
    /// The index read, if any.
    pub index: Option<String>,
    /// The selected paths; `None` for `*`.
    pub projection: Option<Vec<Projected>>,
    /// The whole `WHERE`, applied to every item read.
    pub filter: Option<Condition>,
    /// How the items are read.
    pub access: Access,
    /// Sort-key order (false after `ORDER BY <sort key> DESC`).
    pub forward: bool,
    /// A local index does not project a selected attribute: read each item
    /// from the table.
    pub fetch_from_table: bool,
}

impl SelectPlan {
    /// What is returned for `item`.
    pub fn project(&self, item: &Item) -> Item {
        let Some(projection) = &self.projection else { return item.clone() };
        projection.iter().filter_map(|p| lookup(item, &p.path).map(|v| (p.name.clone(), v.clone()))).collect()
    }
}

/// A planned statement.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Plan {
    /// A read.
    Select(SelectPlan),
    /// Put `item` unless its key exists (DuplicateItemException).
    Insert {
        /// The item, not yet checked against the table.
        item: Item,
    },
    /// Update the item at `key`, which must exist and satisfy `condition`.
    Update {
        /// The primary key.
        key: Item,
        /// The rest of the `WHERE`.
        condition: Option<Condition>,
        /// The `SET` and `REMOVE` actions.
        update: UpdateExpr,
        /// What to return.
        returning: Option<Returning>,
    },
    /// Delete the item at `key` if it satisfies `condition`; a missing item
    /// is not an error.
    Delete {
        /// The primary key.
        key: Item,
        /// The rest of the `WHERE`.
        condition: Option<Condition>,
        /// Return the deleted item (`RETURNING ALL OLD *`).
        returning: bool,
    },
    /// `EXISTS(SELECT ...)` in a transaction: the item at `key` must exist
    /// and satisfy `condition`.
    Check {
        /// The primary key.
        key: Item,
        /// The rest of the `WHERE`.
        condition: Condition,
    },
}

/// The value at `path` in `item`.
fn lookup<'i>(item: &'i Item, path: &Path) -> Option<&'i Value> {
    let mut cur = item.get(path.top())?;
    for e in path.rest() {
        cur = match (e, cur) {
            (PathElem::Attr(k), Value::M(m)) => m.get(k)?,
            (PathElem::Index(i), Value::L(l)) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The checks that are properties of the statement alone, which DynamoDB
/// makes before it resolves the table: the number of parameters, and the
/// operands of every comparison and function in its conditions (a missing
/// table with `val < ?` bound to a BOOL is "Incorrect operand type", not
/// ResourceNotFoundException).
pub fn check(stmt: &Statement, params: &[Value]) -> Result<()> {
    if stmt.params != params.len() {
        return Err(PartiqlError::invalid(messages::partiql::PARAMETER_COUNT));
    }
    let lower = Lower { params };
    let filter = match &stmt.op {
        Op::Select(select) | Op::Exists(select) => select.filter.as_ref(),
        Op::Update { filter, .. } | Op::Delete { filter, .. } => Some(filter),
        Op::Insert { .. } => None,
    };
    if let Some(filter) = filter {
        lower.condition(filter)?;
    }
    Ok(())
}

/// Plans `stmt` against `def` with `params` bound to its `?`s.
pub fn plan(stmt: &Statement, params: &[Value], def: &TableDef, mode: Mode) -> Result<Plan> {
    if stmt.params != params.len() {
        return Err(PartiqlError::invalid(messages::partiql::PARAMETER_COUNT));
    }
    if mode == Mode::Transaction && stmt.returning().is_some() {
        return Err(PartiqlError::invalid(messages::partiql::TRANSACTION_RETURNING));
    }
    let lower = Lower { params };
    match &stmt.op {
        Op::Select(select) => plan_select(&lower, select, def, mode).map(Plan::Select),
        Op::Insert { value, .. } => {
            let Expr::Struct(fields) = value else {
                return Err(PartiqlError::invalid(messages::partiql::INSERT_NOT_STRUCT));
            };
            Ok(Plan::Insert { item: lower.fields(fields, None, 0)? })
        }
        Op::Update { actions, filter, returning, .. } => {
            let (key, condition) = split_key(lower.condition(filter)?, &def.key_schema, KeyRule::Write)?;
            let update = lower.update(actions)?;
            Ok(Plan::Update { key, condition, update, returning: *returning })
        }
        Op::Delete { filter, returning, .. } => {
            if let Some(r) = returning
                && *r != Returning::AllOld
            {
                return Err(PartiqlError::invalid(messages::partiql::delete_returning(r.as_str())));
            }
            let (key, condition) = split_key(lower.condition(filter)?, &def.key_schema, KeyRule::Write)?;
            Ok(Plan::Delete { key, condition, returning: returning.is_some() })
        }
        Op::Exists(select) => {
            if mode != Mode::Transaction {
                return Err(PartiqlError::invalid(messages::partiql::EXISTS_OUTSIDE_TRANSACTION));
            }
            if select.index.is_some() {
                return Err(PartiqlError::invalid(messages::partiql::TRANSACTION_INDEX_OPERATION));
            }
            let check = || PartiqlError::invalid(messages::partiql::EXISTS_SHAPE);
            let filter = select.filter.as_ref().ok_or_else(check)?;
            let (key, condition) =
                split_key(lower.condition(filter)?, &def.key_schema, KeyRule::Check).map_err(|_| check())?;
            let condition = condition.ok_or_else(check)?;
            Ok(Plan::Check { key, condition })
        }
    }
}

/// The name a selected path is returned under.
fn projected_name(p: &SynPath) -> String {
    let mut name = p.head.clone();
    for s in &p.steps {
        match s {
            SynStep::Attr(a) => name = a.clone(),
            SynStep::Index(i) => name.push_str(&format!("[{i}]")),
        }
    }
    name
}

/// The attributes an index stores, or `None` when it stores them all.
fn projected_attrs<'d>(idx: &'d IndexDef, def: &'d TableDef) -> Option<Vec<&'d str>> {
    let extra: &[String] = match &idx.projection {
        Projection::All => return None,
        Projection::KeysOnly => &[],
        Projection::Include(names) => names,
    };
    Some(def.key_schema.names().chain(idx.key_schema.names()).chain(extra.iter().map(String::as_str)).collect())
}

fn plan_select(lower: &Lower<'_>, select: &Select, def: &TableDef, mode: Mode) -> Result<SelectPlan> {
    let index = match &select.index {
        None => None,
        Some(name) => {
            if mode == Mode::Transaction {
                return Err(PartiqlError::invalid(messages::partiql::TRANSACTION_INDEX_READ));
            }
            let idx = def.index(name).ok_or_else(|| {
                // A vector index is read by SearchVectors alone.
                PartiqlError::invalid(if def.vector_index(name).is_some() {
                    messages::partiql::VECTOR_INDEX_SCAN
                } else {
                    messages::partiql::NO_SUCH_INDEX
                })
            })?;
            // DynamoDB's PartiQL cannot read an index whose key has several
            // attributes in a role (the base table and other indexes can).
            if idx.key_schema.is_multi_attribute() {
                return Err(PartiqlError::invalid(messages::partiql::MULTI_ATTRIBUTE_KEY));
            }
            Some(idx)
        }
    };
    let projection = match &select.projection {
        None => None,
        Some(items) => {
            let mut out: Vec<Projected> = Vec::with_capacity(items.len());
            for item in items {
                let Expr::Path(p) = item else {
                    return Err(PartiqlError::invalid(match item {
                        Expr::Call { span, .. } => messages::partiql::unexpected_path_component_at(span),
                        _ => messages::partiql::UNEXPECTED_PATH_COMPONENT.to_string(),
                    }));
                };
                let name = projected_name(p);
                if out.iter().any(|o| o.name == name) {
                    return Err(PartiqlError::invalid(messages::partiql::duplicate_projection(&name)));
                }
                out.push(Projected { name, path: path(p) });
            }
            Some(out)
        }
    };
    let stored = index.and_then(|i| projected_attrs(i, def));
    let mut fetch_from_table = false;
    if let (Some(idx), Some(stored), Some(projection)) = (index, &stored, &projection) {
        let missing: Vec<&str> = projection.iter().map(|p| p.path.top()).filter(|n| !stored.contains(n)).collect();
        if !missing.is_empty() {
            if idx.kind == IndexKind::Global {
                return Err(PartiqlError::invalid(messages::partiql::gsi_does_not_project(
                    &idx.name,
                    missing.join(", "),
                )));
            }
            fetch_from_table = true;
        }
    }
    let filter = select.filter.as_ref().map(|f| lower.condition(f)).transpose()?;

    if mode != Mode::Single {
        let refused = || {
            PartiqlError::invalid(if mode == Mode::Transaction {
                messages::partiql::TRANSACTION_SELECT_KEY
            } else {
                messages::partiql::BATCH_SELECT_KEY
            })
        };
        if index.is_some() {
            return Err(refused());
        }
        let where_ = filter.ok_or_else(refused)?;
        let (key, rest) = split_key(where_, &def.key_schema, KeyRule::Write).map_err(|_| refused())?;
        if rest.is_some() {
            return Err(refused());
        }
        return Ok(SelectPlan {
            index: None,
            projection,
            filter: None,
            access: Access::Get { key },
            forward: true,
            fetch_from_table: false,
        });
    }

    let schema = index.map_or(&def.key_schema, |i| &i.key_schema);
    if let Some(f) = &filter {
        refuse_overlap(f, schema)?;
    }
    let mut access = Access::Scan;
    if let Some(f) = &filter {
        let conjuncts = conjuncts(f);
        let mut used = vec![false; conjuncts.len()];
        let hash = conjuncts.iter().enumerate().find_map(|(i, c)| hash_values(c, &schema.hash.name).map(|v| (i, v)));
        if let Some((hi, hashes)) = hash {
            used[hi] = true;
            let range = schema.range.as_ref().and_then(|r| {
                conjuncts.iter().enumerate().find_map(|(i, c)| range_condition(c, &r.name, r.ty).map(|rc| (i, rc)))
            });
            let range = range.map(|(ri, rc)| {
                used[ri] = true;
                rc
            });
            // A keyed read of an index is refused when the rest of the WHERE
            // names attributes the index does not store.
            if let (Some(idx), Some(stored)) = (index, &stored) {
                let mut missing: Vec<&str> = conjuncts
                    .iter()
                    .zip(&used)
                    .filter(|(_, u)| !**u)
                    .flat_map(|(c, _)| c.top_level_names())
                    .filter(|n| !stored.contains(n))
                    .collect();
                missing.sort_unstable();
                missing.dedup();
                if !missing.is_empty() {
                    return Err(PartiqlError::invalid(messages::partiql::index_does_not_project_filter(
                        &idx.name,
                        missing.join(", "),
                    )));
                }
            }
            access = Access::Query { hashes: sort_unique(hashes), range };
        }
    }

    let mut forward = true;
    if !select.order_by.is_empty() {
        if filter.is_none() {
            return Err(PartiqlError::invalid(messages::partiql::ORDER_BY_WITHOUT_WHERE));
        }
        let Access::Query { hashes, .. } = &mut access else {
            return Err(PartiqlError::invalid(messages::partiql::ORDER_BY_WITHOUT_HASH));
        };
        for key in &select.order_by {
            if !schema.contains(&key.name) {
                return Err(PartiqlError::invalid(messages::partiql::order_by_not_key(&key.name)));
            }
        }
        let by_hash = select.order_by.iter().find(|k| k.name == schema.hash.name);
        if hashes.len() > 1 && by_hash.is_none() {
            return Err(PartiqlError::invalid(messages::partiql::ORDER_BY_HASH));
        }
        if by_hash.is_some_and(|k| k.descending) {
            hashes.reverse();
        }
        if let Some(range) = &schema.range
            && select.order_by.iter().any(|k| k.name == range.name && k.descending)
        {
            forward = false;
        }
    }
    Ok(SelectPlan { index: select.index.clone(), projection, filter, access, forward, fetch_from_table })
}

/// The top-level `AND`ed parts of a condition, left to right.
fn conjuncts(c: &Condition) -> Vec<&Condition> {
    let mut out = Vec::new();
    let mut stack = vec![c];
    while let Some(c) = stack.pop() {
        match c {
            Condition::And(a, b) => {
                stack.push(b);
                stack.push(a);
            }
            other => out.push(other),
        }
    }
    out
}

/// The top-level `OR`ed parts of a condition.
fn disjuncts(c: &Condition) -> Vec<&Condition> {
    let mut out = Vec::new();
    let mut stack = vec![c];
    while let Some(c) = stack.pop() {
        match c {
            Condition::Or(a, b) => {
                stack.push(b);
                stack.push(a);
            }
            other => out.push(other),
        }
    }
    out
}

/// DynamoDB reads a `WHERE` whose `OR` branches each pin the partition key
/// (and perhaps narrow the sort key) as one key condition per branch, and
/// refuses it when two branches on one partition overlap on the sort key: a
/// branch without a sort-key condition overlaps any other on its partition.
/// A branch that names the sort key in a way no key condition can express
/// (`NOT sk = ...`, `sk <> ...`, `sk IN ...`, two conditions on it) makes
/// the whole `WHERE` a filter instead, and nothing is refused.
fn refuse_overlap(filter: &Condition, schema: &KeySchema) -> Result<()> {
    let Some(range) = &schema.range else { return Ok(()) };
    let branches = disjuncts(filter);
    if branches.len() < 2 {
        return Ok(());
    }
    let mut keyed: Vec<(&Value, Option<RangeCondition>)> = Vec::with_capacity(branches.len());
    for branch in branches {
        let mut hash: Option<&Value> = None;
        let mut sort: Option<RangeCondition> = None;
        for c in conjuncts(branch) {
            if let Some(v) = equality(c, &schema.hash.name) {
                if hash.is_some() || v.attr_type() != schema.hash.ty {
                    return Ok(());
                }
                hash = Some(v);
                continue;
            }
            if c.top_level_names().contains(&range.name.as_str()) {
                match range_condition(c, &range.name, range.ty) {
                    Some(rc) if sort.is_none() => sort = Some(rc),
                    _ => return Ok(()),
                }
            }
        }
        let Some(hash) = hash else { return Ok(()) };
        keyed.push((hash, sort));
    }
    for (i, (hash, sort)) in keyed.iter().enumerate() {
        for (other_hash, other_sort) in &keyed[..i] {
            if hash == other_hash && ranges_meet(sort.as_ref(), other_sort.as_ref()) {
                return Err(PartiqlError::invalid(messages::partiql::OVERLAPPING));
            }
        }
    }
    Ok(())
}

/// One end of the stretch of sort-key values a range condition selects.
enum End<'v> {
    Unbounded,
    Inclusive(&'v Value),
    Exclusive(&'v Value),
    /// Just past every value that begins with this prefix.
    PastPrefix(&'v Value),
}

/// The lower and upper ends of what `rc` selects.
fn ends(rc: &RangeCondition) -> (End<'_>, End<'_>) {
    match rc {
        RangeCondition::Eq(v) => (End::Inclusive(v), End::Inclusive(v)),
        RangeCondition::Lt(v) => (End::Unbounded, End::Exclusive(v)),
        RangeCondition::Le(v) => (End::Unbounded, End::Inclusive(v)),
        RangeCondition::Gt(v) => (End::Exclusive(v), End::Unbounded),
        RangeCondition::Ge(v) => (End::Inclusive(v), End::Unbounded),
        RangeCondition::Between(lo, hi) => (End::Inclusive(lo), End::Inclusive(hi)),
        RangeCondition::BeginsWith(p) => (End::Inclusive(p), End::PastPrefix(p)),
    }
}

fn key_bytes(v: &Value) -> &[u8] {
    match v {
        Value::S(s) => s.as_bytes(),
        Value::B(b) => b,
        _ => &[],
    }
}

/// Whether some value lies above the lower end `lo` and below the upper end `hi`.
fn below(lo: &End<'_>, hi: &End<'_>) -> bool {
    let lo_value = match lo {
        End::Unbounded => return true,
        End::Inclusive(v) | End::Exclusive(v) | End::PastPrefix(v) => *v,
    };
    match hi {
        End::Unbounded => true,
        End::Inclusive(v) | End::Exclusive(v) => match key_order(lo_value, v) {
            Ordering::Less => true,
            Ordering::Equal => matches!((lo, hi), (End::Inclusive(_), End::Inclusive(_))),
            Ordering::Greater => false,
        },
        // Values just above the lower end still begin with the prefix when
        // the lower end does; below the prefix, the prefix itself is one.
        End::PastPrefix(p) => {
            let (x, p) = (key_bytes(lo_value), key_bytes(p));
            x < p || x.starts_with(p)
        }
    }
}

/// Whether two sort-key conditions (`None`: the whole partition) select a
/// value in common.
fn ranges_meet(a: Option<&RangeCondition>, b: Option<&RangeCondition>) -> bool {
    let (Some(a), Some(b)) = (a, b) else { return true };
    let ((a_lo, a_hi), (b_lo, b_hi)) = (ends(a), ends(b));
    below(&a_lo, &b_hi) && below(&b_lo, &a_hi)
}

/// `name = value` (either way round), for a top-level attribute `name`.
fn equality<'c>(c: &'c Condition, name: &str) -> Option<&'c Value> {
    let Condition::Compare { op: Comparator::Eq, left, right } = c else { return None };
    match (left, right) {
        (Operand::Path(p), Operand::Value(v)) | (Operand::Value(v), Operand::Path(p))
            if p.rest().is_empty() && p.top() == name =>
        {
            Some(v)
        }
        _ => None,
    }
}

/// The partition key values a conjunct pins: `hash = v` or `hash IN [...]`.
fn hash_values(c: &Condition, hash: &str) -> Option<Vec<Value>> {
    if let Some(v) = equality(c, hash) {
        return Some(vec![v.clone()]);
    }
    let Condition::In { value: Operand::Path(p), list } = c else { return None };
    if !p.rest().is_empty() || p.top() != hash {
        return None;
    }
    list.iter()
        .map(|o| match o {
            Operand::Value(v) => Some(v.clone()),
            _ => None,
        })
        .collect()
}

fn key_order(a: &Value, b: &Value) -> Ordering {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    encode_key_component(a, &mut x);
    encode_key_component(b, &mut y);
    (a.attr_type(), x).cmp(&(b.attr_type(), y))
}

/// Values in key order, each once.
fn sort_unique(mut values: Vec<Value>) -> Vec<Value> {
    values.sort_by(key_order);
    values.dedup();
    values
}

/// A conjunct on the sort key a Query can use, when its value has the key's
/// type (otherwise it is left to the filter, where it matches nothing).
fn range_condition(c: &Condition, name: &str, ty: AttrType) -> Option<RangeCondition> {
    let is_key = |p: &Path| p.rest().is_empty() && p.top() == name;
    let typed = |v: &Value| v.attr_type() == ty;
    match c {
        Condition::Compare { op, left, right } => {
            let (op, v) = match (left, right) {
                (Operand::Path(p), Operand::Value(v)) if is_key(p) => (*op, v),
                (Operand::Value(v), Operand::Path(p)) if is_key(p) => (op.mirrored(), v),
                _ => return None,
            };
            if !typed(v) {
                return None;
            }
            Some(match op {
                Comparator::Eq => RangeCondition::Eq(v.clone()),
                Comparator::Lt => RangeCondition::Lt(v.clone()),
                Comparator::Le => RangeCondition::Le(v.clone()),
                Comparator::Gt => RangeCondition::Gt(v.clone()),
                Comparator::Ge => RangeCondition::Ge(v.clone()),
                Comparator::Ne => return None,
            })
        }
        Condition::Between { value: Operand::Path(p), low: Operand::Value(lo), high: Operand::Value(hi) }
            if is_key(p) && typed(lo) && typed(hi) && key_order(lo, hi) != Ordering::Greater =>
        {
            Some(RangeCondition::Between(lo.clone(), hi.clone()))
        }
        Condition::BeginsWith(Operand::Path(p), Operand::Value(v))
            if is_key(p) && typed(v) && matches!(v, Value::S(_) | Value::B(_)) =>
        {
            Some(RangeCondition::BeginsWith(v.clone()))
        }
        _ => None,
    }
}

/// How [`split_key`] treats a second equality on a key attribute.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyRule {
    /// A write (or a read by key): two different values are an error.
    Write,
    /// A condition check: a second equality is part of the condition.
    Check,
}

/// Splits a `WHERE` into the primary key (equalities among its top-level
/// `AND`s) and the rest, which becomes the write's condition.
fn split_key(cond: Condition, schema: &KeySchema, rule: KeyRule) -> Result<(Item, Option<Condition>)> {
    let mut key = Item::new();
    let mut rest: Vec<Condition> = Vec::new();
    for c in conjuncts(&cond) {
        let hit = schema.names().find_map(|n| equality(c, n).map(|v| (n, v)));
        match hit {
            Some((name, v)) => match key.get(name) {
                None => {
                    key.insert(name.to_string(), v.clone());
                }
                Some(existing) if existing == v => {}
                Some(_) if rule == KeyRule::Check => rest.push(c.clone()),
                Some(_) => {
                    return Err(PartiqlError::invalid(messages::partiql::multiple_key_conditions(name)));
                }
            },
            None => rest.push(c.clone()),
        }
    }
    if key.len() != schema.names().count() {
        return Err(PartiqlError::invalid(messages::partiql::INCOMPLETE_KEY));
    }
    for attr in std::iter::once(&schema.hash).chain(schema.range.as_ref()) {
        if key.get(&attr.name).is_some_and(|v| v.attr_type() != attr.ty) {
            return Err(PartiqlError::invalid(messages::item::KEY_MISMATCH));
        }
    }
    Ok((key, balanced(rest, true)))
}
