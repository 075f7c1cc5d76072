//! CloudWatch Contributor Insights for DynamoDB: which partition keys (and
//! items) of a table or global index are accessed and throttled most.
//!
//! - `UpdateContributorInsights`, `DescribeContributorInsights` and
//!   `ListContributorInsights` as DynamoDB answers them: a setting per table
//!   and per global index, kept as a system entry (`ci/<table>\0<index>`),
//!   `ENABLING` and `DISABLING` for [`SETTLE_SECS`] after a change, rules
//!   named as DynamoDB names them, and CloudWatch's quota of [`MAX_RULES`]
//!   rules (an `ENABLE` past it answers `ENABLING` and then reads `FAILED`).
//! - The rules' data: every access the capacity meter sees
//!   ([`crate::capacity::Limiter`]) and every throttled one is counted
//!   ([`Collector`]) in memory, per rule, in five-minute windows of an hour
//!   ([`topk`]); it starts when a rule is enabled and is not kept across a
//!   restart (CloudWatch's report is the one thing not served on the
//!   DynamoDB port: `GET /tidepool/insights` and `tidepool insights` show
//!   it).
//!
//! What counts as an access: each item a single-item operation (GetItem,
//! PutItem, UpdateItem, DeleteItem, and each item of a batch, a transaction
//! or a PartiQL statement naming its key) touches counts once for its
//! partition key and once for its full key; a Query counts once for the
//! partition it reads (of the table, or of the global index it goes
//! through). A Scan touches no one key and counts for none. A write counts
//! for the table's rules; a global index's rules count the reads through
//! it.

pub mod topk;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use tidepool_store::messages;
use tidepool_store::table::{IndexKind, TableDef};
use tidepool_store::value::Value;

use crate::capacity::Target;
use crate::dynamodb::App;
use crate::dynamodb::error::{ApiError, ApiResult};
use crate::dynamodb::request::Req;

/// CloudWatch's default quota of Contributor Insights rules per region:
/// each table or global index enabled takes two rules (four with a sort
/// key; half that in `THROTTLED_KEYS` mode).
pub const MAX_RULES: usize = 100;
/// How long a change reads `ENABLING` or `DISABLING`: DynamoDB's usual
/// second (observed 1 to 16 s to enable, 2 s to disable).
pub const SETTLE_SECS: f64 = 1.0;
/// Entries per page of `ListContributorInsights` at most (the API's 100),
/// and when `MaxResults` is not given.
pub const MAX_LIST_RESULTS: usize = 100;
/// A key value longer than this is shown cut (and counted with the others
/// it shares these characters with): it bounds each counter's memory.
pub const MAX_KEY_CHARS: usize = 256;
/// Contributors a report lists at most (CloudWatch's `MaxContributorCount`).
pub const MAX_CONTRIBUTORS: usize = 100;

const PREFIX: &str = "ci/";
const MODES: [&str; 2] = ["ACCESSED_AND_THROTTLED_KEYS", "THROTTLED_KEYS"];

/// Which events the rules of a table or index count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Every access, and the throttled ones apart.
    AccessedAndThrottledKeys,
    /// Throttled accesses only.
    ThrottledKeys,
}

impl Mode {
    fn parse(s: &str) -> Mode {
        if s == "THROTTLED_KEYS" { Mode::ThrottledKeys } else { Mode::AccessedAndThrottledKeys }
    }

    fn as_str(self) -> &'static str {
        match self {
            Mode::AccessedAndThrottledKeys => "ACCESSED_AND_THROTTLED_KEYS",
            Mode::ThrottledKeys => "THROTTLED_KEYS",
        }
    }
}

/// A rule DynamoDB makes: most accessed or throttled, by partition key or
/// by full key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Most accessed items (partition key).
    Pkc,
    /// Most throttled keys (partition key).
    Pkt,
    /// Most accessed keys (partition and sort key).
    Skc,
    /// Most throttled keys (partition and sort key).
    Skt,
}

impl Rule {
    const ALL: [Rule; 4] = [Rule::Pkc, Rule::Pkt, Rule::Skc, Rule::Skt];

    fn code(self) -> &'static str {
        match self {
            Rule::Pkc => "PKC",
            Rule::Pkt => "PKT",
            Rule::Skc => "SKC",
            Rule::Skt => "SKT",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Rule::Pkc => "Most accessed items (partition key)",
            Rule::Pkt => "Most throttled keys (partition key)",
            Rule::Skc => "Most accessed keys (partition and sort keys)",
            Rule::Skt => "Most throttled keys (partition and sort keys)",
        }
    }

    fn throttled(self) -> bool {
        matches!(self, Rule::Pkt | Rule::Skt)
    }

    fn full_key(self) -> bool {
        matches!(self, Rule::Skc | Rule::Skt)
    }

    /// The rules of a table or index in `mode`, in DynamoDB's order.
    fn of(mode: Mode, sort_key: bool) -> Vec<Rule> {
        Rule::ALL
            .into_iter()
            .filter(|r| sort_key || !r.full_key())
            .filter(|r| mode == Mode::AccessedAndThrottledKeys || r.throttled())
            .collect()
    }
}

/// The setting of one table or global index, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Setting {
    /// The table it was set on (a table deleted and made again starts
    /// without one).
    table_id: u64,
    /// The global index's id, for an index (one deleted and made again
    /// starts without one too).
    #[serde(default)]
    index_id: Option<u32>,
    /// The state it settles in: enabled or not.
    enabled: bool,
    /// An enable that failed (CloudWatch's rule quota).
    failed: bool,
    mode: Mode,
    /// When the status last changed (epoch seconds).
    updated: f64,
    /// Until when the change reads `ENABLING` or `DISABLING`.
    settles: f64,
    /// The rules' creation time (epoch milliseconds), in their names.
    created_ms: u64,
}

impl Setting {
    fn status(&self, now: f64) -> &'static str {
        match (self.enabled, now < self.settles, self.failed) {
            (true, true, _) => "ENABLING",
            (true, false, true) => "FAILED",
            (true, false, false) => "ENABLED",
            (false, true, _) => "DISABLING",
            (false, false, _) => "DISABLED",
        }
    }

    /// The rules this setting holds against the quota.
    fn rules(&self, sort_key: bool) -> usize {
        if self.enabled && !self.failed { Rule::of(self.mode, sort_key).len() } else { 0 }
    }
}

fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

fn entry_key(table: &str, index: Option<&str>) -> Vec<u8> {
    format!("{PREFIX}{table}\u{0}{}", index.unwrap_or("")).into_bytes()
}

/// What a resource's rules count now, in memory.
struct Tracked {
    mode: Mode,
    sort_key: bool,
    /// Each rule's windows, by rule code.
    windows: Mutex<HashMap<&'static str, topk::Windows>>,
}

/// The resources counted, by table id and global index id.
type TrackedMap = HashMap<(u64, Option<u32>), Arc<Tracked>>;

/// The counters of every enabled table and index. Held by the metrics
/// ([`crate::metrics::Metrics`]), where the capacity meter reports to. An
/// access takes the map's read lock to find its resource, renders its key
/// outside any lock, and locks that resource's counters alone.
#[derive(Default)]
pub struct Collector {
    /// Whether anything is enabled: the cost of a request when nothing is
    /// is one relaxed load.
    any: AtomicBool,
    tracked: RwLock<TrackedMap>,
    /// Held by each change of a setting, so none of them interleave.
    changes: Mutex<()>,
}

/// The text of a key value as CloudWatch shows it: strings and numbers as
/// they are, binary in base64.
fn key_text(v: &Value) -> String {
    use base64::Engine;
    let mut s = match v {
        Value::S(s) => s.clone(),
        Value::N(n) => n.to_string(),
        Value::B(b) => base64::engine::general_purpose::STANDARD.encode(b),
        other => format!("{other:?}"),
    };
    if s.chars().count() > MAX_KEY_CHARS {
        s = s.chars().take(MAX_KEY_CHARS).collect();
    }
    s
}

impl Collector {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, TrackedMap> {
        self.tracked.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, TrackedMap> {
        self.tracked.write().unwrap_or_else(|e| e.into_inner())
    }

    fn changing(&self) -> std::sync::MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether any table or index is counted.
    pub fn any(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    /// Counts an access of `t` (and, if `throttled`, its throttling).
    pub fn record(&self, t: &Target<'_>, throttled: bool) {
        if !self.any() {
            return;
        }
        let Some(partition) = t.partition else { return };
        let index = t.index.filter(|i| i.kind == IndexKind::Global);
        let Some(tr) = self.read().get(&(t.def.id, index.map(|i| i.id))).cloned() else { return };
        if tr.mode == Mode::ThrottledKeys && !throttled {
            return;
        }
        let pk = [key_text(partition)];
        let full = match (index, t.sort) {
            (None, Some(sort)) if tr.sort_key => Some([pk[0].clone(), key_text(sort)]),
            _ => None,
        };
        let now = now_secs() as u64;
        let mut windows = tr.windows.lock().unwrap_or_else(|e| e.into_inner());
        for rule in Rule::ALL {
            if rule.throttled() && !throttled {
                continue;
            }
            let Some(w) = windows.get_mut(rule.code()) else { continue };
            match (rule.full_key(), &full) {
                (false, _) => w.record(&pk, 1, now),
                (true, Some(f)) => w.record(f, 1, now),
                (true, None) => {}
            }
        }
    }

    /// Counts a resource's rules in `mode` (keeping the counts of the rules
    /// it had already).
    fn enable(&self, table: u64, index: Option<u32>, mode: Mode, sort_key: bool) {
        let mut tracked = self.write();
        let mut windows = match tracked.remove(&(table, index)) {
            Some(old) => std::mem::take(&mut *old.windows.lock().unwrap_or_else(|e| e.into_inner())),
            None => HashMap::new(),
        };
        let rules = Rule::of(mode, sort_key);
        windows.retain(|code, _| rules.iter().any(|r| r.code() == *code));
        for r in rules {
            windows.entry(r.code()).or_default();
        }
        tracked.insert((table, index), Arc::new(Tracked { mode, sort_key, windows: Mutex::new(windows) }));
        self.any.store(true, Ordering::Relaxed);
    }

    /// Stops counting for the resources of `table` that `which` picks.
    fn drop_where(&self, which: impl Fn(&(u64, Option<u32>)) -> bool) {
        let mut tracked = self.write();
        tracked.retain(|k, _| !which(k));
        self.any.store(!tracked.is_empty(), Ordering::Relaxed);
    }

    fn top(&self, table: u64, index: Option<u32>, rule: Rule, span: u64, limit: usize) -> Option<topk::Top> {
        let tr = self.read().get(&(table, index)).cloned()?;
        let windows = tr.windows.lock().unwrap_or_else(|e| e.into_inner());
        Some(windows.get(rule.code())?.top(now_secs() as u64, span, limit))
    }
}

/// A table's (or its global index's) key schema: whether it has a sort key,
/// and the index's id.
fn resource(def: &TableDef, index: Option<&str>) -> ApiResult<(bool, Option<u32>)> {
    match index {
        None => Ok((def.key_schema.range.is_some(), None)),
        Some(i) => match def.index(i).filter(|x| x.kind == IndexKind::Global) {
            Some(x) => Ok((x.key_schema.range.is_some(), Some(x.id))),
            None => Err(ApiError::not_found(messages::table::index_not_found(i, &def.name))),
        },
    }
}

fn table_not_found(table: &str) -> ApiError {
    ApiError::not_found(messages::table::table_not_found(table))
}

/// A stored setting with what it is of.
struct Entry {
    table: String,
    index: Option<String>,
    setting: Setting,
    /// Whether its table or index has a sort key.
    sort_key: bool,
}

/// The settings of every table and index that are still theirs (the table
/// and index exist with the ids they were set on).
fn settings(app: &App) -> ApiResult<Vec<Entry>> {
    let mut out = Vec::new();
    for (k, v) in app.store.sys_scan(PREFIX.as_bytes())? {
        let Ok(s) = serde_json::from_slice::<Setting>(&v) else { continue };
        let name = String::from_utf8_lossy(&k[PREFIX.len()..]).into_owned();
        let Some((table, index)) = name.split_once('\u{0}') else { continue };
        let index = (!index.is_empty()).then(|| index.to_string());
        let Ok(t) = app.store.table(table) else { continue };
        if t.def.id != s.table_id {
            continue;
        }
        let Ok((sort_key, id)) = resource(&t.def, index.as_deref()) else { continue };
        if id != s.index_id {
            continue;
        }
        out.push(Entry { table: table.to_string(), index, setting: s, sort_key });
    }
    Ok(out)
}

fn setting(app: &App, def: &TableDef, index: Option<&str>) -> ApiResult<Option<Setting>> {
    let (_, index_id) = resource(def, index)?;
    let v = app.store.sys_get(&entry_key(&def.name, index))?;
    Ok(v.and_then(|v| serde_json::from_slice::<Setting>(&v).ok())
        .filter(|s| s.table_id == def.id && s.index_id == index_id))
}

fn rule_names(table: &str, index: Option<&str>, s: &Setting, sort_key: bool) -> Vec<String> {
    let resource = match index {
        Some(i) => format!("{table}-{i}"),
        None => table.to_string(),
    };
    Rule::of(s.mode, sort_key)
        .into_iter()
        .map(|r| format!("DynamoDBContributorInsights-{}-{resource}-{}", r.code(), s.created_ms))
        .collect()
}

/// The violations of `TableName` and `IndexName` (checked before the table
/// is looked up) into `found`; the table's name (an ARN's too) and index.
fn names(app: &App, r: &Req<'_>, list: bool, found: &mut Vec<String>) -> ApiResult<(Option<String>, Option<String>)> {
    let table = r.str_opt("TableName")?;
    match table {
        None if !list => found.push(messages::request::null_at("tableName")),
        Some(t) if t.is_empty() || t.chars().count() > 1024 => {
            let constraint =
                if t.is_empty() { messages::request::min_length(1) } else { messages::request::max_length(1024) };
            found.push(messages::request::value_at(t, "tableName", constraint))
        }
        _ => {}
    }
    let index = r.str_opt("IndexName")?;
    if let Some(i) = index {
        // An index name's length alone is refused in words of its own;
        // beside other faults, as a member constraint.
        let n = i.chars().count();
        if !(3..=255).contains(&n) {
            if found.is_empty() {
                return Err(ApiError::validation(messages::table::INSIGHTS_INDEX_NAME_LENGTH));
            }
            let constraint = if n < 3 { messages::request::min_length(3) } else { messages::request::max_length(255) };
            found.push(messages::request::value_at(i, "indexName", constraint));
        }
        if i.is_empty() || !i.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
            found.push(messages::request::value_at(i, "indexName", messages::request::NAME_PATTERN));
        }
    }
    let table = table.map(|t| {
        let prefix = format!("arn:aws:dynamodb:{}:{}:table/", app.region, crate::dynamodb::ACCOUNT_ID);
        t.strip_prefix(&prefix).map_or(t, |n| n.split('/').next().unwrap_or(n)).to_string()
    });
    Ok((table, index.map(str::to_string)))
}

/// The violations found, as DynamoDB reports them together.
fn reported(found: Vec<String>) -> ApiResult<()> {
    if found.is_empty() {
        return Ok(());
    }
    Err(ApiError::validation(messages::request::envelope(found)))
}

/// `UpdateContributorInsights`.
pub fn update(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let mut found = Vec::new();
    let action = r.str_opt("ContributorInsightsAction")?;
    match action {
        None => found.push(messages::request::null_at("contributorInsightsAction")),
        Some("ENABLE" | "DISABLE") => {}
        Some(a) => found.push(messages::request::value_at(
            a,
            "contributorInsightsAction",
            messages::request::in_enum(&["ENABLE", "DISABLE"]),
        )),
    }
    let mode = r.str_opt("ContributorInsightsMode")?;
    if let Some(m) = mode.filter(|m| !MODES.contains(m)) {
        found.push(messages::request::value_at(
            m,
            "contributorInsightsMode",
            messages::request::in_enum(&["THROTTLED_KEYS", "ACCESSED_AND_THROTTLED_KEYS"]),
        ));
    }
    let (table, index) = names(app, &r, false, &mut found)?;
    reported(found)?;
    let (Some(table), Some(action)) = (table, action) else { return Err(ApiError::internal()) };
    let enable = action == "ENABLE";
    let mode = Mode::parse(mode.unwrap_or(MODES[0]));
    let _changing = app.metrics.insights.changing();
    let t = app.store.table(&table).map_err(|_| table_not_found(&table))?;
    let (sort_key, index_id) = resource(&t.def, index.as_deref())?;
    // DynamoDB enables insights on an ACTIVE index only (a table being
    // restored is not found above).
    if enable && index.as_deref().and_then(|i| t.def.index(i)).is_some_and(|i| i.backfill == Some(true)) {
        return Err(ApiError::validation(messages::table::INSIGHTS_INDEX_NOT_ACTIVE));
    }
    let now = now_secs();
    let current = setting(app, &t.def, index.as_deref())?;
    let mut body = Map::new();
    body.insert("TableName".into(), json!(table));
    if let Some(i) = &index {
        body.insert("IndexName".into(), json!(i));
    }
    let next = match (enable, current) {
        // Already (being) enabled in this mode, or disabled: nothing changes.
        (true, Some(c)) if c.enabled && !c.failed && c.mode == mode => {
            body.insert("ContributorInsightsStatus".into(), json!(c.status(now)));
            body.insert("ContributorInsightsMode".into(), json!(c.mode.as_str()));
            return Ok(Json::Object(body));
        }
        (false, None) => {
            body.insert("ContributorInsightsStatus".into(), json!("DISABLED"));
            return Ok(Json::Object(body));
        }
        (false, Some(c)) if !c.enabled => {
            body.insert("ContributorInsightsStatus".into(), json!(c.status(now)));
            body.insert("ContributorInsightsMode".into(), json!(c.mode.as_str()));
            return Ok(Json::Object(body));
        }
        (true, current) => {
            // A mode change keeps the rules' creation time.
            let created_ms = match &current {
                Some(c) if c.enabled && !c.failed => c.created_ms,
                _ => (now * 1000.0) as u64,
            };
            let used: usize = settings(app)?
                .iter()
                .filter(|e| !(e.table == table && e.index == index))
                .map(|e| e.setting.rules(e.sort_key))
                .sum();
            let failed = used + Rule::of(mode, sort_key).len() > MAX_RULES;
            if t.is_restoring() {
                return Err(ApiError::validation(messages::table::INSIGHTS_TABLE_NOT_ACTIVE));
            }
            Setting {
                table_id: t.def.id,
                index_id,
                enabled: true,
                failed,
                mode,
                updated: now,
                settles: now + SETTLE_SECS,
                created_ms,
            }
        }
        (false, Some(c)) => Setting { enabled: false, failed: false, updated: now, settles: now + SETTLE_SECS, ..c },
    };
    let bytes = serde_json::to_vec(&next).map_err(|_| ApiError::internal())?;
    app.store.sys_write(vec![(entry_key(&table, index.as_deref()), Some(bytes))])?;
    let counters = &app.metrics.insights;
    if next.enabled && !next.failed {
        counters.enable(t.def.id, index_id, next.mode, sort_key);
    } else {
        counters.drop_where(|k| *k == (t.def.id, index_id));
    }
    tracing::info!(table, index = index.as_deref().unwrap_or(""), status = next.status(now), "contributor insights");
    body.insert("ContributorInsightsStatus".into(), json!(next.status(now)));
    body.insert("ContributorInsightsMode".into(), json!(next.mode.as_str()));
    Ok(Json::Object(body))
}

/// `DescribeContributorInsights`.
pub fn describe(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let mut found = Vec::new();
    let (table, index) = names(app, &r, false, &mut found)?;
    reported(found)?;
    let Some(table) = table else { return Err(ApiError::internal()) };
    let t = app.store.table(&table).map_err(|_| table_not_found(&table))?;
    let (sort_key, _) = resource(&t.def, index.as_deref())?;
    let mut body = Map::new();
    body.insert("TableName".into(), json!(table));
    if let Some(i) = &index {
        body.insert("IndexName".into(), json!(i));
    }
    let Some(s) = setting(app, &t.def, index.as_deref())? else {
        body.insert("ContributorInsightsStatus".into(), json!("DISABLED"));
        return Ok(Json::Object(body));
    };
    let status = s.status(now_secs());
    if matches!(status, "ENABLING" | "ENABLED") && !s.failed {
        body.insert("ContributorInsightsRuleList".into(), json!(rule_names(&table, index.as_deref(), &s, sort_key)));
    }
    body.insert("ContributorInsightsStatus".into(), json!(status));
    body.insert("LastUpdateDateTime".into(), json!(s.updated));
    body.insert("ContributorInsightsMode".into(), json!(s.mode.as_str()));
    if status == "FAILED" {
        body.insert(
            "FailureException".into(),
            json!({
                "ExceptionName": "LimitExceededException",
                "ExceptionDescription": messages::table::INSIGHTS_RULE_LIMIT
            }),
        );
    }
    Ok(Json::Object(body))
}

/// `ListContributorInsights`: the tables and indexes not `DISABLED`, by
/// table name, each table before its indexes.
pub fn list(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let mut found = Vec::new();
    let (table, _) = names(app, &r, true, &mut found)?;
    let max = match r.int_opt("MaxResults")? {
        None => MAX_LIST_RESULTS,
        Some(m) if m > MAX_LIST_RESULTS as i64 => {
            found.push(messages::request::value_at(m, "maxResults", messages::request::max_value(MAX_LIST_RESULTS)));
            MAX_LIST_RESULTS
        }
        Some(m) => m.max(1) as usize,
    };
    reported(found)?;
    if let Some(t) = &table
        && app.store.table(t).is_err()
    {
        return Err(table_not_found(t));
    }
    let now = now_secs();
    let mut entries: Vec<(String, Option<String>, Setting)> = settings(app)?
        .into_iter()
        .filter(|e| table.as_ref().is_none_or(|t| *t == e.table) && e.setting.status(now) != "DISABLED")
        .map(|e| (e.table, e.index, e.setting))
        .collect();
    entries.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    // The token names the last entry listed (names hold no `/`); the next
    // page starts after it in the listing's order.
    let token = |n: &str, i: &Option<String>| format!("{n}/{}", i.as_deref().unwrap_or(""));
    let start = match r.str_opt("NextToken")? {
        Some(tok) => {
            let (n, i) =
                tok.split_once('/').ok_or_else(|| ApiError::validation(messages::partiql::INVALID_NEXT_TOKEN))?;
            let after = (n.to_string(), (!i.is_empty()).then(|| i.to_string()));
            entries.iter().position(|(n, i, _)| (n, i) > (&after.0, &after.1)).unwrap_or(entries.len())
        }
        None => 0,
    };
    let page: Vec<&(String, Option<String>, Setting)> = entries.iter().skip(start).take(max).collect();
    let mut body = Map::new();
    body.insert(
        "ContributorInsightsSummaries".into(),
        Json::Array(
            page.iter()
                .map(|(n, i, s)| {
                    let mut o = Map::new();
                    o.insert("TableName".into(), json!(n));
                    if let Some(i) = i {
                        o.insert("IndexName".into(), json!(i));
                    }
                    o.insert("ContributorInsightsStatus".into(), json!(s.status(now)));
                    o.insert("ContributorInsightsMode".into(), json!(s.mode.as_str()));
                    Json::Object(o)
                })
                .collect(),
        ),
    );
    if start + page.len() < entries.len()
        && let Some((n, i, _)) = page.last()
    {
        body.insert("NextToken".into(), json!(token(n, i)));
    }
    Ok(Json::Object(body))
}

/// Starts counting for every table and index enabled before a restart.
pub fn restore(app: &App) {
    let Ok(all) = settings(app) else { return };
    for e in all {
        let s = &e.setting;
        if s.enabled && !s.failed {
            app.metrics.insights.enable(s.table_id, s.index_id, s.mode, e.sort_key);
        }
    }
}

/// Forgets a deleted table's settings and counters (DynamoDB deletes its
/// rules with it). Only its own: a table made again under the name since
/// has settings of its own.
pub fn forget_table(app: &App, def: &TableDef) {
    let _changing = app.metrics.insights.changing();
    app.metrics.insights.drop_where(|(t, _)| *t == def.id);
    let prefix = format!("{PREFIX}{}\u{0}", def.name);
    let Ok(entries) = app.store.sys_scan(prefix.as_bytes()) else { return };
    let gone: Vec<(Vec<u8>, Option<Vec<u8>>)> = entries
        .into_iter()
        .filter(|(_, v)| serde_json::from_slice::<Setting>(v).is_ok_and(|s| s.table_id == def.id))
        .map(|(k, _)| (k, None))
        .collect();
    if !gone.is_empty()
        && let Err(e) = app.store.sys_write(gone)
    {
        tracing::warn!(table = %def.name, error = %e, "could not forget contributor insights settings");
    }
}

/// Forgets a deleted global index's setting and counters.
pub fn forget_index(app: &App, def: &TableDef, index: &tidepool_store::table::IndexDef) {
    let _changing = app.metrics.insights.changing();
    app.metrics.insights.drop_where(|k| *k == (def.id, Some(index.id)));
    let key = entry_key(&def.name, Some(&index.name));
    let ours = app.store.sys_get(&key).ok().flatten().and_then(|v| serde_json::from_slice::<Setting>(&v).ok());
    if ours.is_some_and(|s| s.table_id == def.id && s.index_id == Some(index.id))
        && let Err(e) = app.store.sys_write(vec![(key, None)])
    {
        tracing::warn!(table = %def.name, error = %e, "could not forget contributor insights settings");
    }
}

/// The report of a table's (or index's) rules over the last `span`
/// seconds: each rule's events and its `top` contributors, shaped as
/// CloudWatch's `GetInsightRuleReport` answers.
pub fn report(app: &App, table: &str, index: Option<&str>, span: u64, top: usize) -> ApiResult<Json> {
    let t = app.store.table(table).map_err(|_| table_not_found(table))?;
    let (sort_key, index_id) = resource(&t.def, index)?;
    let Some(s) = setting(app, &t.def, index)?.filter(|s| s.enabled && !s.failed) else {
        let what = match index {
            Some(i) => messages::table::insights_of_index(i, table),
            None => messages::table::insights_of_table(table),
        };
        return Err(ApiError::validation(messages::table::insights_not_enabled(what)));
    };
    let names = rule_names(table, index, &s, sort_key);
    let rules: Vec<Json> = Rule::of(s.mode, sort_key)
        .into_iter()
        .zip(names)
        .map(|(rule, name)| {
            let got = app.metrics.insights.top(t.def.id, index_id, rule, span, top.min(MAX_CONTRIBUTORS));
            let got = got.unwrap_or_default();
            let labels: &[&str] = if rule.full_key() { &["PartitionKey", "SortKey"] } else { &["PartitionKey"] };
            json!({
                "RuleName": name,
                "Description": rule.describe(),
                "KeyLabels": labels,
                "AggregationStatistic": "Sum",
                "AggregateValue": got.total,
                "Contributors": got.keys.iter().map(|(k, n)| json!({"Keys": k, "ApproximateAggregateValue": n})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut body = Map::new();
    body.insert("TableName".into(), json!(table));
    if let Some(i) = index {
        body.insert("IndexName".into(), json!(i));
    }
    body.insert("ContributorInsightsMode".into(), json!(s.mode.as_str()));
    body.insert("PeriodSeconds".into(), json!(span));
    body.insert("Rules".into(), Json::Array(rules));
    Ok(Json::Object(body))
}

/// `GET /tidepool/insights?table=T[&index=I][&minutes=60][&top=10]`.
pub async fn serve(
    axum::extract::State(app): axum::extract::State<std::sync::Arc<App>>,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let q = crate::lambda::api::query(&uri);
    let result = tokio::task::spawn_blocking(move || {
        let Some(table) = q.get("table") else {
            return Err(ApiError::validation(messages::table::INSIGHTS_TABLE_REQUIRED));
        };
        let minutes = match q.get("minutes").map(|m| m.parse::<u64>()) {
            None => 60,
            Some(Ok(m)) if (1..=60).contains(&m) => m,
            Some(_) => return Err(ApiError::validation(messages::table::INSIGHTS_MINUTES)),
        };
        let top = match q.get("top").map(|m| m.parse::<usize>()) {
            None => 10,
            Some(Ok(n)) if (1..=MAX_CONTRIBUTORS).contains(&n) => n,
            Some(_) => {
                return Err(ApiError::validation(messages::table::insights_top(MAX_CONTRIBUTORS)));
            }
        };
        report(&app, table, q.get("index").map(String::as_str), minutes * 60, top)
    })
    .await
    .unwrap_or_else(|_| Err(ApiError::internal()));
    match result {
        Ok(j) => axum::Json(j).into_response(),
        // `/tidepool` answers in the Lambda API's error shape.
        Err(e) => crate::lambda::api::Failure::from(&e).into_response(),
    }
}
