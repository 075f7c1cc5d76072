//! Query and Scan: range scans over a table's or index's ordered keys, with
//! DynamoDB's paging (Limit counts items read, a page stops at 1 MB read).

use std::ops::Bound;

use crate::db::{Store, TableHandle};
use crate::error::{Result, StoreError};
use crate::expr::ExprKind;
use crate::key::{index_key, item_key, prefix_successor};
use crate::messages;
use crate::stream::decode_stored;
use crate::table::{IndexDef, KeySchema};
use crate::value::{Item, Value, decode_item, encode_key_component, escape_bytes, item_size, key_component_len};

/// A page of Query or Scan stops once this many bytes were read.
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;
/// A parallel scan has at most this many segments.
pub const MAX_TOTAL_SEGMENTS: u32 = 1_000_000;

/// A condition on the sort key of a query (the expression module's type).
pub use crate::expr::RangeCondition as SortCondition;

/// Which ordered keys a read walks: the table, or one of its indexes.
pub enum Source<'a> {
    Table,
    Index(&'a IndexDef),
}

/// One page of results.
#[derive(Debug, Default)]
pub struct Page {
    /// Items that passed the filter, in key order.
    pub items: Vec<Item>,
    /// Items read before filtering (`ScannedCount`).
    pub scanned: usize,
    /// Bytes read from the table or index walked, for consumed capacity.
    pub read_bytes: usize,
    /// Sizes of the base-table items fetched for an index read that needs
    /// attributes the index does not project (a local index's reach-back),
    /// one per item: DynamoDB charges each fetch to the table.
    pub fetched: Vec<usize>,
    /// Where the next page starts, when this one stopped early.
    pub last_key: Option<Item>,
}

/// Parameters shared by Query and Scan.
pub struct ReadParams<'a> {
    pub limit: Option<usize>,
    pub exclusive_start: Option<&'a Item>,
    /// Keeps an item in the page when it returns true (the filter).
    pub filter: &'a dyn Fn(&Item) -> Result<bool>,
    /// For a local index whose projection lacks requested attributes: fetch
    /// the whole item from the table.
    pub fetch_from_table: bool,
    /// A table key (read in the table's order) past which the read does not
    /// go: if it gets there, the page ends with this key as its
    /// LastEvaluatedKey. A strongly consistent read of a multi-Region table
    /// stops where the other region's page it consulted ended
    /// (`global_tables/strong.rs`).
    pub until: Option<&'a Item>,
}

fn schema_of<'a>(t: &'a TableHandle, source: &Source<'a>) -> &'a KeySchema {
    match source {
        Source::Table => &t.def.key_schema,
        Source::Index(i) => &i.key_schema,
    }
}

/// The key attributes that LastEvaluatedKey carries for `source`.
fn last_key_of(t: &TableHandle, source: &Source<'_>, item: &Item) -> Item {
    let mut k = t.def.key_of(item);
    if let Source::Index(i) = source {
        for n in i.key_schema.names() {
            if let Some(v) = item.get(n) {
                k.insert(n.to_string(), v.clone());
            }
        }
    }
    k
}

/// The physical key of an ExclusiveStartKey, refused in a Scan's words
/// (`check_start` rewords it for a Query): the long form for a table, the
/// short one for an index (as measured against DynamoDB in 2026 by
/// ExtendDB's and Floci's suites).
pub(crate) fn start_key_bytes(t: &TableHandle, source: &Source<'_>, start: &Item) -> Result<Vec<u8>> {
    let message = match source {
        Source::Table => messages::query::START_KEY_NOT_SCHEMA,
        Source::Index(_) => messages::query::START_KEY_INVALID,
    };
    let invalid = || StoreError::validation(message);
    let expected = last_key_of(t, source, start);
    if expected.len() != start.len() {
        return Err(invalid());
    }
    match source {
        Source::Table => {
            t.def.check_key_attrs(start, true).map_err(|_| invalid())?;
            Ok(item_key(&t.def.key_schema, start))
        }
        Source::Index(i) => index_key(i, &t.def.key_schema, start).ok_or_else(invalid),
    }
}

impl Store {
    /// Walks `range` of `source`'s keyspace in order (or reverse), applying
    /// paging and the filter.
    fn walk(
        &self,
        t: &TableHandle,
        source: &Source<'_>,
        range: (Bound<Vec<u8>>, Bound<Vec<u8>>),
        forward: bool,
        params: &ReadParams<'_>,
        segment: Option<(u32, u32)>,
    ) -> Result<Page> {
        let (mut lo, mut hi) = range;
        if let Some(start) = params.exclusive_start {
            let k = start_key_bytes(t, source, start)?;
            // A parallel scan's start key must lie in its segment.
            if let Some((seg, total)) = segment
                && !in_segment(t, source, &k, (seg, total))
            {
                return Err(StoreError::validation(messages::query::start_key_wrong_segment(total, seg)));
            }
            if forward {
                lo = Bound::Excluded(k);
            } else {
                hi = Bound::Excluded(k);
            }
        }
        let until = match (params.until, source) {
            (Some(u), Source::Table) => Some((u, item_key(&t.def.key_schema, u))),
            _ => None,
        };
        let mut clipped = false;
        if let Some((_, u)) = &until {
            let bound = if forward { tighter_upper(&hi, u) } else { tighter_lower(&lo, u) };
            if let Some(b) = bound {
                clipped = true;
                if forward { hi = b } else { lo = b }
            }
        }
        let ks = match source {
            Source::Table => &t.items,
            Source::Index(_) => &t.index,
        };
        let mut page = Page::default();
        // A start past `until` (a peer's page that ended before it) reads
        // nothing, and ends where `until` does.
        if is_empty(&lo, &hi) {
            page.last_key = until.filter(|_| clipped).map(|(u, _)| u.clone());
            return Ok(page);
        }
        let iter = ks.range::<Vec<u8>, _>((lo, hi));
        let mut iter: Box<dyn Iterator<Item = fjall::Guard>> =
            if forward { Box::new(iter) } else { Box::new(iter.rev()) };
        let limit = params.limit.unwrap_or(usize::MAX);
        let mut last: Option<Item> = None;
        loop {
            if page.scanned >= limit || page.read_bytes >= MAX_PAGE_BYTES {
                // Stopped at the limit: DynamoDB returns the key where it
                // stopped without looking further, so the last page can be
                // empty ("LastEvaluatedKey … does not necessarily mean that
                // there is more data", API reference, Query and Scan).
                page.last_key = last.as_ref().or(page.items.last()).map(|i| last_key_of(t, source, i));
                break;
            }
            let Some(guard) = iter.next() else {
                // Read to `until`: the next page starts past it.
                if let Some((u, _)) = until.filter(|_| clipped) {
                    page.last_key = Some(u.clone());
                }
                break;
            };
            let (k, v) = guard.into_inner()?;
            if let Some(seg) = segment
                && !in_segment(t, source, &k, seg)
            {
                continue;
            }
            let v = crate::cipher::open_in(self.inner().cipher.as_ref(), ks, &k, v)?;
            let mut item = decode_stored(&v)?;
            page.scanned += 1;
            page.read_bytes += item_size(&item);
            if params.fetch_from_table
                && let Some(full) = self.get_item(t, &t.def.key_of(&item))?
            {
                page.fetched.push(item_size(&full));
                item = full;
            }
            // Remember the last item read for LastEvaluatedKey; when it
            // passed the filter it is the page's last item.
            if (params.filter)(&item)? {
                page.items.push(item);
                last = None;
            } else {
                last = Some(item);
            }
        }
        Ok(page)
    }

    /// Query: items whose partition key equals `hash` (one value per
    /// partition-key attribute), whose leading sort-key attributes equal
    /// `sort_eq`, optionally narrowed by a condition on the next sort-key
    /// attribute, in key order (`forward`) or reverse.
    #[allow(clippy::too_many_arguments)]
    pub fn query(
        &self,
        t: &TableHandle,
        source: Source<'_>,
        hash: &[Value],
        sort_eq: &[Value],
        sort: Option<&SortCondition>,
        forward: bool,
        params: &ReadParams<'_>,
    ) -> Result<Page> {
        let range = query_range(t, &source, hash, sort_eq, sort)?;
        check_query_start(t, &source, &range, (sort_eq, sort), params.exclusive_start)?;
        self.walk(t, &source, range, forward, params, None)
    }

    /// Scan: every item of the table or index, optionally one segment of a
    /// parallel scan.
    pub fn scan(
        &self,
        t: &TableHandle,
        source: Source<'_>,
        segment: Option<(u32, u32)>,
        params: &ReadParams<'_>,
    ) -> Result<Page> {
        self.walk(t, &source, scan_range(&source), true, params, segment)
    }
}

/// A range of physical keys.
pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Whether physical key `k` lies in `range`.
pub fn in_range(range: &KeyRange, k: &[u8]) -> bool {
    let above = match &range.0 {
        Bound::Included(l) => k >= l.as_slice(),
        Bound::Excluded(l) => k > l.as_slice(),
        Bound::Unbounded => true,
    };
    let below = match &range.1 {
        Bound::Included(u) => k <= u.as_slice(),
        Bound::Excluded(u) => k < u.as_slice(),
        Bound::Unbounded => true,
    };
    above && below
}

/// An ExclusiveStartKey's faults, in DynamoDB's words: it must match the
/// schema of `source` (a Query's refusal is the short form whatever the
/// source), lie within a Query's `range`, and in a parallel scan's segment.
pub fn check_start(
    t: &TableHandle,
    source: &Source<'_>,
    range: &KeyRange,
    start: Option<&Item>,
    segment: Option<(u32, u32)>,
    query: bool,
) -> Result<()> {
    let Some(start) = start else { return Ok(()) };
    let k = match start_key_bytes(t, source, start) {
        Err(StoreError::Validation(_)) if query => {
            return Err(StoreError::validation(messages::query::START_KEY_INVALID));
        }
        other => other?,
    };
    if !in_range(range, &k) {
        return Err(StoreError::validation(messages::query::START_KEY_OUT_OF_RANGE));
    }
    if let Some((seg, total)) = segment
        && !in_segment(t, source, &k, (seg, total))
    {
        return Err(StoreError::validation(messages::query::start_key_wrong_segment(total, seg)));
    }
    Ok(())
}

/// A Query's ExclusiveStartKey: [`check_start`]'s faults, then one outside
/// the key condition's `range` (`condition`: the sort key values it fixes
/// and the condition on the next sort key attribute) refused in
/// DynamoDB's words for what it misses (dynalite's tests, recorded against
/// DynamoDB): with no condition on the sort key, the partition; otherwise
/// the sort-key condition first, then the partition.
fn check_query_start(
    t: &TableHandle,
    source: &Source<'_>,
    range: &KeyRange,
    condition: (&[Value], Option<&SortCondition>),
    start: Option<&Item>,
) -> Result<()> {
    let Some(start) = start else { return Ok(()) };
    let k = match start_key_bytes(t, source, start) {
        Ok(k) => k,
        Err(StoreError::Validation(_)) => return Err(StoreError::validation(messages::query::START_KEY_INVALID)),
        Err(e) => return Err(e),
    };
    if in_range(range, &k) {
        return Ok(());
    }
    let (sort_eq, sort) = condition;
    if sort_eq.is_empty() && sort.is_none() {
        return Err(StoreError::validation(messages::query::START_KEY_OUT_OF_RANGE));
    }
    // The same condition on the start key's own partition: if that holds
    // it, only the partition differs.
    let own: Vec<Value> =
        schema_of(t, source).hash_attrs().filter_map(|a| start.get(a.name.as_str()).cloned()).collect();
    let own_range = query_range(t, source, &own, sort_eq, sort)?;
    Err(StoreError::validation(if in_range(&own_range, &k) {
        messages::query::START_KEY_CANNOT_RESTART
    } else {
        messages::query::START_KEY_NOT_IN_RANGE_PREDICATE
    }))
}

/// The physical keys a Scan of `source` walks.
pub fn scan_range(source: &Source<'_>) -> KeyRange {
    match source {
        Source::Table => (Bound::Unbounded, Bound::Unbounded),
        Source::Index(i) => {
            let p = i.id.to_be_bytes().to_vec();
            (Bound::Included(p.clone()), succ_bound(&p))
        }
    }
}

/// The physical keys a Query of `source` walks (see [`Store::query`]).
pub fn query_range(
    t: &TableHandle,
    source: &Source<'_>,
    hash: &[Value],
    sort_eq: &[Value],
    sort: Option<&SortCondition>,
) -> Result<KeyRange> {
    let mut prefix = Vec::with_capacity(32);
    if let Source::Index(i) = &source {
        prefix.extend_from_slice(&i.id.to_be_bytes());
    }
    let schema = schema_of(t, source);
    let mismatch = || StoreError::validation(messages::expression::ExprError::KeyConditionType.to_string());
    let hash_attrs: Vec<_> = schema.hash_attrs().collect();
    let range_attrs: Vec<_> = schema.range_attrs().collect();
    if hash.len() != hash_attrs.len() || sort_eq.len() > range_attrs.len() {
        return Err(StoreError::validation(messages::expression::ExprError::KeyConditionNotSupported.to_string()));
    }
    for (v, attr) in hash.iter().zip(&hash_attrs).chain(sort_eq.iter().zip(&range_attrs)) {
        if v.attr_type() != attr.ty {
            return Err(mismatch());
        }
        encode_key_component(v, &mut prefix);
    }
    // The sort-key attribute the last condition is on.
    let range_ty = range_attrs.get(sort_eq.len()).map(|a| a.ty);
    let whole = || (Bound::Included(prefix.clone()), succ_bound(&prefix));
    let with = |v: &Value| -> Result<Vec<u8>> {
        if Some(v.attr_type()) != range_ty {
            return Err(mismatch());
        }
        let mut k = prefix.clone();
        encode_key_component(v, &mut k);
        Ok(k)
    };
    let range = match sort {
        None => whole(),
        Some(SortCondition::Eq(v)) => {
            let k = with(v)?;
            (Bound::Included(k.clone()), succ_bound(&k))
        }
        Some(SortCondition::Lt(v)) => (Bound::Included(prefix.clone()), Bound::Excluded(with(v)?)),
        Some(SortCondition::Le(v)) => (Bound::Included(prefix.clone()), succ_bound(&with(v)?)),
        Some(SortCondition::Gt(v)) => (succ_incl(&with(v)?), succ_bound(&prefix)),
        Some(SortCondition::Ge(v)) => (Bound::Included(with(v)?), succ_bound(&prefix)),
        Some(SortCondition::Between(a, b)) => {
            let (ka, kb) = (with(a)?, with(b)?);
            if ka > kb {
                let reason = messages::expression::Invalid::BetweenOrder {
                    low: format!("{{{}}}", short(a)),
                    high: format!("{{{}}}", short(b)),
                };
                return Err(StoreError::validation(
                    messages::expression::ExprError::invalid(ExprKind::KeyCondition, reason).to_string(),
                ));
            }
            (Bound::Included(ka), succ_bound(&kb))
        }
        Some(SortCondition::BeginsWith(v)) => {
            if Some(v.attr_type()) != range_ty {
                return Err(mismatch());
            }
            let mut k = prefix.clone();
            match v {
                Value::S(s) => escape_bytes(s.as_bytes(), &mut k, false),
                Value::B(b) => escape_bytes(b, &mut k, false),
                _ => {
                    let reason = messages::expression::Invalid::OperandType {
                        function: "begins_with".into(),
                        operand_type: "N".into(),
                    };
                    return Err(StoreError::validation(
                        messages::expression::ExprError::invalid(ExprKind::KeyCondition, reason).to_string(),
                    ));
                }
            }
            (Bound::Included(k.clone()), succ_bound(&k))
        }
    };
    Ok(range)
}

/// The bound ending at `u` (inclusive), if that is narrower than `hi`.
fn tighter_upper(hi: &Bound<Vec<u8>>, u: &[u8]) -> Option<Bound<Vec<u8>>> {
    match hi {
        Bound::Included(h) | Bound::Excluded(h) if h.as_slice() <= u => None,
        _ => Some(Bound::Included(u.to_vec())),
    }
}

/// The bound starting at `u` (inclusive), if that is narrower than `lo`.
fn tighter_lower(lo: &Bound<Vec<u8>>, u: &[u8]) -> Option<Bound<Vec<u8>>> {
    match lo {
        Bound::Included(l) | Bound::Excluded(l) if l.as_slice() >= u => None,
        _ => Some(Bound::Included(u.to_vec())),
    }
}

/// Whether no key lies between `lo` and `hi`.
pub(crate) fn is_empty(lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    match (lo, hi) {
        (Bound::Included(l), Bound::Included(h)) => l > h,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Included(h) | Bound::Excluded(h)) => l >= h,
        _ => false,
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::S(s) => format!("S:{s}"),
        Value::N(n) => format!("N:{n}"),
        other => format!("{other:?}"),
    }
}

fn succ_bound(prefix: &[u8]) -> Bound<Vec<u8>> {
    match prefix_successor(prefix) {
        Some(s) => Bound::Excluded(s),
        None => Bound::Unbounded,
    }
}

/// Lower bound just past every key that starts with `k`.
fn succ_incl(k: &[u8]) -> Bound<Vec<u8>> {
    match prefix_successor(k) {
        Some(s) => Bound::Included(s),
        None => Bound::Excluded(k.to_vec()),
    }
}

/// Parallel-scan segment of an entry: a stable hash of its partition key,
/// read off the physical key (tables) or of the whole entry key (indexes).
pub(crate) fn in_segment(t: &TableHandle, source: &Source<'_>, key: &[u8], (seg, total): (u32, u32)) -> bool {
    let hashed = match source {
        Source::Table => key_component_len(t.def.key_schema.hash.ty, key).map_or(key, |len| &key[..len]),
        Source::Index(_) => key,
    };
    fnv1a(hashed) % u64::from(total) == u64::from(seg)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Store {
    /// Entries and bytes of one index, counted by walking it.
    pub fn index_stats(&self, t: &TableHandle, index: &IndexDef) -> Result<(u64, u64)> {
        let (mut count, mut bytes) = (0u64, 0u64);
        for kv in t.index.prefix(index.id.to_be_bytes()) {
            let (k, v) = kv.into_inner()?;
            let v = crate::cipher::open_in(self.inner().cipher.as_ref(), &t.index, &k, v)?;
            count += 1;
            // Index entries are projections, never stored items.
            bytes += item_size(&decode_item(&v)?) as u64;
        }
        Ok((count, bytes))
    }
}
