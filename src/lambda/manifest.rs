//! The manifest: tables, functions and event source mappings declared in a
//! TOML file and applied idempotently, at start (`tidepool serve
//! --manifest`) or to a running server.
//!
//! ```toml
//! [[table]]
//! name = "Scores"
//! partition_key = "game:S"        # name:type, type S, N or B
//! sort_key = "player:S"           # optional
//! stream = "NEW_AND_OLD_IMAGES"   # optional view type
//! ttl_attribute = "expires"       # optional
//!
//! [[function]]
//! name = "leaderboard"
//! code = "examples/target/wasm32-wasip2/release/leaderboard.wasm"  # relative to the manifest
//! timeout = 3                      # seconds
//! memory = 128                     # MB
//! environment = { TABLE = "Leaderboard" }
//! reserved_concurrency = 2         # optional
//! allowed_hosts = ["api.example.com", "*.internal.test:8443"]  # optional: see below
//!
//! [[mapping]]
//! function = "leaderboard"
//! table = "Scores"                 # the table's current stream
//! # Every CreateEventSourceMapping parameter, with Lambda's names:
//! StartingPosition = "TRIM_HORIZON"
//! BatchSize = 100
//! ```
//!
//! Applying makes what is declared exist, as declared: a missing table,
//! function or mapping is created; a function whose code or settings differ
//! is updated; a mapping (one per function and table) gets the declared
//! parameters. Nothing that is not declared is touched, and applying the
//! same manifest twice changes nothing the second time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value as Json, json};
use tidepool_runtime::ALLOWED_HOSTS_VARIABLE;
use tidepool_runtime::esm::MappingParams;
use tidepool_runtime::registry::{FunctionRecord, RegistryError};
use tidepool_store::table::StreamViewType;
use tidepool_store::value::AttrType;

use super::{Lambda, LambdaError};
use crate::dynamodb::App;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default, rename = "table")]
    pub tables: Vec<TableDecl>,
    #[serde(default, rename = "function")]
    pub functions: Vec<FunctionDecl>,
    #[serde(default, rename = "mapping")]
    pub mappings: Vec<MappingDecl>,
    #[serde(default, rename = "schedule")]
    pub schedules: Vec<super::schedule::ScheduleDecl>,
    /// An auth file (relative to the manifest) that `tidepool serve
    /// --manifest` switches authentication on with, as `--auth` does
    /// (which wins when both are given). Read only at start.
    pub auth: Option<PathBuf>,
    /// Where relative code paths start: the manifest's folder.
    #[serde(skip)]
    pub base: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableDecl {
    pub name: String,
    pub partition_key: String,
    pub sort_key: Option<String>,
    pub stream: Option<String>,
    pub ttl_attribute: Option<String>,
    /// `PAY_PER_REQUEST` (what a table is made with when this is left out)
    /// or `PROVISIONED`, with `read_capacity` and `write_capacity`. Left
    /// out, an existing table's mode is not touched.
    pub billing_mode: Option<String>,
    pub read_capacity: Option<i64>,
    pub write_capacity: Option<i64>,
    #[serde(default, rename = "global_index")]
    pub global_indexes: Vec<IndexDecl>,
    #[serde(default, rename = "local_index")]
    pub local_indexes: Vec<IndexDecl>,
    #[serde(default, rename = "vector_index")]
    pub vector_indexes: Vec<VectorIndexDecl>,
    /// Items put when the manifest creates the table: a JSON or CSV file,
    /// relative to the manifest (see [`super::seed`]). Seeding is not
    /// metered against the table's capacity.
    pub seed: Option<PathBuf>,
    /// `enforce` or `report`: this table's throughput limits are enforced
    /// or only reported, whatever the server's `--capacity` (see
    /// [`crate::capacity`]). Left out, the server's mode applies.
    pub capacity: Option<String>,
}

/// An index key role's attributes: one `"name:type"`, or, for a global
/// index's multi-attribute key, a list of up to four.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum KeyDecl {
    One(String),
    Many(Vec<String>),
}

impl KeyDecl {
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        match self {
            KeyDecl::One(s) => std::slice::from_ref(s).iter(),
            KeyDecl::Many(v) => v.iter(),
        }
    }
}

/// A `[[table.global_index]]` or `[[table.local_index]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexDecl {
    pub name: String,
    /// A global index's own partition key (a local index shares the table's).
    pub partition_key: Option<KeyDecl>,
    pub sort_key: Option<KeyDecl>,
    /// `"ALL"` (the default), `"KEYS_ONLY"`, or the attributes to include.
    pub projection: Option<ProjectionDecl>,
    pub read_capacity: Option<i64>,
    pub write_capacity: Option<i64>,
}

/// A `[[table.vector_index]]`: DynamoDB's `VectorIndexes` member.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorIndexDecl {
    pub name: String,
    /// The attribute holding the vector (a list of numbers).
    pub attribute: String,
    pub dimensions: i64,
    /// `COSINE` (the default), `EUCLIDEAN` or `DOT_PRODUCT`.
    pub distance: Option<String>,
    /// The search schema's `HASH` attribute, `"name:type"`: every search
    /// names one value of it.
    pub partition_key: Option<String>,
    /// Inline filter attributes, `"name:type"` each.
    #[serde(default)]
    pub filters: Vec<String>,
    /// `"ALL"` (the default), `"KEYS_ONLY"`, or the attributes to include.
    pub projection: Option<ProjectionDecl>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ProjectionDecl {
    Type(String),
    Include(Vec<String>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionDecl {
    pub name: String,
    pub code: PathBuf,
    pub timeout: Option<u64>,
    pub memory: Option<u32>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    pub reserved_concurrency: Option<u32>,
    pub description: Option<String>,
    /// Hosts the handler may reach over HTTP besides the server's own
    /// endpoint: `host`, `host:port` or `*.domain`. Stored, as through the
    /// Lambda API, in the environment variable `TIDEPOOL_ALLOWED_HOSTS`.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// The execution role: a role name (`reader`) or ARN. With `--auth`,
    /// a role the auth file lists authorizes the handler's store calls.
    pub role: Option<String>,
}

/// A `[[mapping]]`: the function, the table, and CreateEventSourceMapping's
/// parameters by Lambda's names. An unknown key is refused with the nearest
/// known one: a misspelt `MaximumRetryAttemps` must not silently leave
/// retries unbounded.
#[derive(Debug, Clone)]
pub struct MappingDecl {
    pub function: String,
    pub table: String,
    pub params: MappingParams,
}

/// The keys of a `[[mapping]]` besides the parameters.
const MAPPING_KEYS: [&str; 2] = ["function", "table"];

impl<'de> Deserialize<'de> for MappingDecl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        struct Loose {
            function: String,
            table: String,
            #[serde(flatten)]
            params: MappingParams,
        }
        let table = toml::Table::deserialize(d)?;
        // Every parameter's name, from the type itself (each is serialized,
        // as null when unset).
        let params = serde_json::to_value(MappingParams::default()).map_err(D::Error::custom)?;
        let known: Vec<&str> = MAPPING_KEYS
            .into_iter()
            .chain(params.as_object().into_iter().flat_map(|o| o.keys().map(String::as_str)))
            .collect();
        for key in table.keys() {
            if !known.contains(&key.as_str()) {
                let hint = nearest(key, &known).map(|k| format!("; did you mean `{k}`?")).unwrap_or_default();
                return Err(D::Error::custom(format!(
                    "unknown key `{key}` in [[mapping]]{hint} (keys: {})",
                    known.join(", ")
                )));
            }
        }
        let loose: Loose = toml::Value::Table(table).try_into().map_err(D::Error::custom)?;
        Ok(MappingDecl { function: loose.function, table: loose.table, params: loose.params })
    }
}

/// The known name closest to `key`, if one is close enough to be a slip:
/// compared without case or underscores (`batch_size` finds `BatchSize`),
/// within a third of its length in edits.
fn nearest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let plain = |s: &str| s.chars().filter(|c| *c != '_').flat_map(char::to_lowercase).collect::<Vec<char>>();
    let key = plain(key);
    known
        .iter()
        .map(|k| (edit_distance(&key, &plain(k)), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// What applying a manifest did, one line per change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub changes: Vec<String>,
}

impl Manifest {
    /// Reads and parses the manifest at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let text =
            std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("read manifest {}: {e}", path.display()))?;
        let mut m = Manifest::parse(&text).map_err(|e| anyhow::anyhow!("manifest {}: {e}", path.display()))?;
        m.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(m)
    }

    /// The auth file the manifest names, from its folder.
    pub fn auth_file(&self) -> Option<PathBuf> {
        self.auth.as_ref().map(|a| self.base.join(a))
    }

    pub fn parse(text: &str) -> Result<Manifest, toml::de::Error> {
        toml::from_str(text)
    }
}

fn key_attr(decl: &str, table: &str) -> Result<(String, AttrType), LambdaError> {
    let (name, ty) = decl.rsplit_once(':').unwrap_or((decl, "S"));
    let ty = match ty {
        "S" => AttrType::S,
        "N" => AttrType::N,
        "B" => AttrType::B,
        other => return Err(LambdaError::invalid(format!("table {table}: key type {other} is not S, N or B"))),
    };
    Ok((name.to_string(), ty))
}

fn view_type(s: &str) -> Result<StreamViewType, LambdaError> {
    StreamViewType::parse(s).ok_or_else(|| {
        LambdaError::invalid(format!("stream {s} is not KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES"))
    })
}

/// The component a function's `code` names: a file (relative to `base`),
/// or `example:<name>`, one of the guest handlers in this repository's
/// `examples/`, built on first use (`cargo build --target wasm32-wasip2`;
/// about a minute the first time, with progress in the log). The `example:` form needs the source
/// tree the binary was built from, as after `cargo run`.
pub fn read_code(base: &Path, code: &Path) -> Result<Vec<u8>, String> {
    let path = base.join(code);
    if let Some(name) = code.to_str().and_then(|c| c.strip_prefix("example:"))
        && !path.exists()
    {
        if !tidepool_runtime::examples::EXAMPLES.contains(&name) {
            return Err(format!(
                "no example {name}; the examples are {}",
                tidepool_runtime::examples::EXAMPLES.join(", ")
            ));
        }
        tracing::info!("building the example handlers (a minute or two the first time; progress follows)");
        let dir = tidepool_runtime::examples::build_examples()?;
        let file = dir.join(format!("{}.wasm", name.replace('-', "_")));
        return std::fs::read(&file).map_err(|e| format!("read {}: {e}", file.display()));
    }
    std::fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))
}

/// Applies `manifest` to the server state `app`. Blocking (compiles
/// components, fsyncs): call from a blocking thread, with `rt` to drive the
/// mapping engine.
pub fn apply(app: &App, manifest: &Manifest, rt: &tokio::runtime::Handle) -> Result<Applied, LambdaError> {
    // Everything the plan refuses (drift, an orphaning stream change, bad
    // values it can see) is refused before anything is changed.
    run(app, manifest, rt, true)?;
    run(app, manifest, rt, false)
}

/// What [`apply`] would change, changing nothing (`tidepool deploy
/// --dry-run`): the same lines, and the refusals that need no change to
/// find (drift, a stream replacement that would orphan mappings, bad
/// manifest values, a seed file that does not read, code that is not a
/// component); a value only DynamoDB or Lambda checks on the way in is
/// refused by the apply.
pub fn plan(app: &App, manifest: &Manifest, rt: &tokio::runtime::Handle) -> Result<Applied, LambdaError> {
    run(app, manifest, rt, true)
}

/// Runs DynamoDB operation `op` for the manifest's table `table`: the
/// same validation and wording as the API, as a client error.
fn ddb(app: &App, table: &str, op: &str, mut request: Json) -> Result<Json, LambdaError> {
    let Json::Object(map) = &mut request else { return Err(LambdaError::invalid("not an object")) };
    crate::dynamodb::shapes::deserialize(op, false, map)
        .and_then(|()| crate::dynamodb::dispatch(app, op, crate::dynamodb::request::Req(map), "localhost"))
        .map(|r| r.into_json())
        .map_err(|e| {
            let kind = e.kind.rsplit('#').next().unwrap_or(&e.kind).to_string();
            let what = if e.status.is_server_error() { "ServiceException" } else { "InvalidParameterValueException" };
            LambdaError::new(what, format!("table {table}: {kind}: {}", e.message))
        })
}

/// `name:type` as DynamoDB's key schema element and attribute definition.
fn key_member(decl: &str, table: &str, role: &str) -> Result<(Json, Json), LambdaError> {
    let (name, ty) = key_attr(decl, table)?;
    let ty = type_name(ty);
    Ok((json!({"AttributeName": name, "KeyType": role}), json!({"AttributeName": name, "AttributeType": ty})))
}

fn projection(p: &Option<ProjectionDecl>) -> Json {
    match p {
        None => json!({"ProjectionType": "ALL"}),
        Some(ProjectionDecl::Type(t)) => json!({"ProjectionType": t}),
        Some(ProjectionDecl::Include(attrs)) => json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": attrs}),
    }
}

fn throughput(read: Option<i64>, write: Option<i64>) -> Option<Json> {
    match (read, write) {
        (None, None) => None,
        (r, w) => Some(json!({"ReadCapacityUnits": r.unwrap_or(0), "WriteCapacityUnits": w.unwrap_or(0)})),
    }
}

/// An index's `KeySchema`, `Projection` and throughput, adding its key
/// attributes to `defs`.
fn index_request(t: &TableDecl, i: &IndexDecl, global: bool, defs: &mut Vec<Json>) -> Result<Json, LambdaError> {
    let partition: Vec<String> = match (&i.partition_key, global) {
        (Some(p), true) => p.iter().cloned().collect(),
        (None, true) => {
            return Err(LambdaError::invalid(format!(
                "table {}: global index {} needs a partition_key",
                t.name, i.name
            )));
        }
        (Some(_), false) => {
            return Err(LambdaError::invalid(format!(
                "table {}: local index {} shares the table's partition key; give it a sort_key only",
                t.name, i.name
            )));
        }
        (None, false) => vec![t.partition_key.clone()],
    };
    let mut schema = Vec::new();
    let sort = i.sort_key.iter().flat_map(KeyDecl::iter);
    for (decl, role) in partition.iter().map(|p| (p, "HASH")).chain(sort.map(|s| (s, "RANGE"))) {
        let (element, def) = key_member(decl, &t.name, role)?;
        schema.push(element);
        if !defs.contains(&def) {
            defs.push(def);
        }
    }
    let mut index = json!({"IndexName": i.name, "KeySchema": schema, "Projection": projection(&i.projection)});
    if let Some(tp) = throughput(i.read_capacity, i.write_capacity) {
        index["ProvisionedThroughput"] = tp;
    }
    Ok(index)
}

/// The CreateTable request a table declaration makes.
fn create_table_request(t: &TableDecl) -> Result<Json, LambdaError> {
    let mut schema = Vec::new();
    let mut defs = Vec::new();
    for (decl, role) in std::iter::once((&t.partition_key, "HASH")).chain(t.sort_key.as_ref().map(|s| (s, "RANGE"))) {
        let (element, def) = key_member(decl, &t.name, role)?;
        schema.push(element);
        defs.push(def);
    }
    let gsis = t.global_indexes.iter().map(|i| index_request(t, i, true, &mut defs)).collect::<Result<Vec<_>, _>>()?;
    let lsis = t.local_indexes.iter().map(|i| index_request(t, i, false, &mut defs)).collect::<Result<Vec<_>, _>>()?;
    let vectors =
        t.vector_indexes.iter().map(|v| vector_index_request(t, v, &mut defs)).collect::<Result<Vec<_>, _>>()?;
    let mut request = json!({
        "TableName": t.name,
        "KeySchema": schema,
        "AttributeDefinitions": defs,
        "BillingMode": t.billing_mode.clone().unwrap_or_else(|| "PAY_PER_REQUEST".into()),
    });
    if let Some(tp) = throughput(t.read_capacity, t.write_capacity) {
        request["ProvisionedThroughput"] = tp;
    }
    if !gsis.is_empty() {
        request["GlobalSecondaryIndexes"] = Json::Array(gsis);
    }
    if !lsis.is_empty() {
        request["LocalSecondaryIndexes"] = Json::Array(lsis);
    }
    if !vectors.is_empty() {
        request["VectorIndexes"] = Json::Array(vectors);
    }
    if let Some(view) = &t.stream {
        view_type(view)?;
        request["StreamSpecification"] = json!({"StreamEnabled": true, "StreamViewType": view});
    }
    Ok(request)
}

/// A vector index declaration as CreateTable's `VectorIndexes` member (and
/// UpdateTable's `Create`); its search schema's attributes join `defs`.
fn vector_index_request(t: &TableDecl, v: &VectorIndexDecl, defs: &mut Vec<Json>) -> Result<Json, LambdaError> {
    let mut schema = Vec::new();
    for (decl, role) in
        v.partition_key.iter().map(|p| (p, "HASH")).chain(v.filters.iter().map(|f| (f, "INLINE_FILTER")))
    {
        let (element, def) = key_member(decl, &t.name, role)?;
        schema.push(json!({"AttributeName": element["AttributeName"], "SearchSchemaElementType": role}));
        if !defs.contains(&def) {
            defs.push(def);
        }
    }
    let mut index = json!({
        "IndexName": v.name,
        "VectorAttribute": {"AttributeName": v.attribute},
        "Dimensions": v.dimensions,
        "DistanceFunction": v.distance.clone().unwrap_or_else(|| "COSINE".into()),
        "Projection": projection(&v.projection),
    });
    if !schema.is_empty() {
        index["SearchSchema"] = Json::Array(schema);
    }
    Ok(index)
}

/// The declared type of each key attribute of the table and its indexes.
fn key_types(t: &TableDecl) -> Vec<(String, String)> {
    let decls = [&t.partition_key]
        .into_iter()
        .chain(&t.sort_key)
        .chain(
            t.global_indexes
                .iter()
                .chain(&t.local_indexes)
                .flat_map(|i| i.partition_key.iter().chain(&i.sort_key).flat_map(KeyDecl::iter)),
        )
        .chain(t.vector_indexes.iter().flat_map(|v| v.partition_key.iter().chain(&v.filters)));
    decls
        .map(|d| {
            let (name, ty) = d.rsplit_once(':').unwrap_or((d, "S"));
            (name.to_string(), ty.to_string())
        })
        .collect()
}

/// The items of table `t`'s seed file at `path`.
fn read_seed(t: &TableDecl, path: &Path) -> Result<Vec<Json>, LambdaError> {
    super::seed::read(path, &key_types(t)).map_err(|e| LambdaError::invalid(format!("table {}: seed {e}", t.name)))
}

/// Puts the seed items into the new table.
fn seed_table(app: &App, t: &TableDecl, items: &[Json]) -> Result<(), LambdaError> {
    crate::capacity::unmetered(|| {
        for (i, item) in items.iter().enumerate() {
            ddb(app, &t.name, "PutItem", json!({"TableName": t.name, "Item": item})).map_err(|e| {
                LambdaError::new(e.kind, format!("{} (seed item {}; the table was not made)", e.message, i + 1))
            })?;
        }
        Ok(())
    })
}

/// Adds the declared global indexes an existing table lacks; an index
/// that exists with other keys, or a local index the table lacks (those
/// are made with the table only), is drift.
/// A manifest function's role: an ARN as given, or a role name in this
/// account.
pub(crate) fn role_arn(role: &str) -> String {
    if role.starts_with("arn:") {
        role.to_string()
    } else {
        format!("arn:aws:iam::{}:role/{role}", crate::dynamodb::ACCOUNT_ID)
    }
}

/// How long a deploy waits for an index it added to be filled before it
/// adds the next on the same table.
const MAX_BACKFILL_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Waits until no index of `table` is being filled.
fn wait_for_backfills(app: &App, table: &str) -> Result<(), LambdaError> {
    let started = std::time::Instant::now();
    loop {
        let filling = app.store.table(table).map(|t| t.def.index_in_progress()).unwrap_or(false);
        if !filling {
            return Ok(());
        }
        if started.elapsed() > MAX_BACKFILL_WAIT {
            return Err(LambdaError::new(
                "TooManyRequestsException",
                format!("table {table}: an index is still being filled; deploy again once it is ACTIVE"),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn sync_indexes(
    app: &App,
    t: &TableDecl,
    handle: &tidepool_store::TableHandle,
    dry: bool,
    applied: &mut Applied,
) -> Result<(), LambdaError> {
    let drift = |what: String| LambdaError::invalid(format!("table {}: drift: {what}, so nothing was applied", t.name));
    for (i, global) in t.global_indexes.iter().map(|i| (i, true)).chain(t.local_indexes.iter().map(|i| (i, false))) {
        let mut defs = Vec::new();
        let request = index_request(t, i, global, &mut defs)?;
        match handle.def.index(&i.name) {
            Some(have) => {
                let keys = schema_text(&have.key_schema);
                // `defs` holds this index's key attributes, in key order.
                let want: Vec<String> = defs
                    .iter()
                    .map(|d| {
                        format!(
                            "{}:{}",
                            d["AttributeName"].as_str().unwrap_or(""),
                            d["AttributeType"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                if keys != want {
                    return Err(drift(format!(
                        "index {} is declared with the key {} but has {}; an index's key cannot change \
                         (delete the index, or name the new one differently)",
                        i.name,
                        want.join(", "),
                        keys.join(", ")
                    )));
                }
                let kind = if global {
                    tidepool_store::table::IndexKind::Global
                } else {
                    tidepool_store::table::IndexKind::Local
                };
                if have.kind != kind {
                    return Err(drift(format!(
                        "index {} is declared {} but the table's is {}",
                        i.name,
                        if global { "global" } else { "local" },
                        if global { "local" } else { "global" }
                    )));
                }
                let projected = |p: &tidepool_store::table::Projection| match p {
                    tidepool_store::table::Projection::All => "ALL".to_string(),
                    tidepool_store::table::Projection::KeysOnly => "KEYS_ONLY".to_string(),
                    tidepool_store::table::Projection::Include(attrs) => include_text(attrs),
                };
                let declared = match &i.projection {
                    None => "ALL".to_string(),
                    Some(ProjectionDecl::Type(t)) => t.clone(),
                    Some(ProjectionDecl::Include(attrs)) => include_text(attrs),
                };
                if projected(&have.projection) != declared {
                    return Err(drift(format!(
                        "index {} is declared with the projection {declared} but has {}; a projection cannot \
                         change (delete the index, or name the new one differently)",
                        i.name,
                        projected(&have.projection)
                    )));
                }
            }
            None if !global => {
                return Err(drift(format!(
                    "local index {} is not on the table, and a local index can only be made with its table",
                    i.name
                )));
            }
            None => {
                if !dry {
                    // One index is filled at a time per table (DynamoDB's
                    // limit): the one made before this one first.
                    wait_for_backfills(app, &t.name)?;
                    let update = json!({
                        "TableName": t.name,
                        "AttributeDefinitions": defs,
                        "GlobalSecondaryIndexUpdates": [{"Create": request}],
                    });
                    ddb(app, &t.name, "UpdateTable", update)?;
                }
                applied.changes.push(format!("created index {} on table {}", i.name, t.name));
            }
        }
    }
    for v in &t.vector_indexes {
        let mut defs = Vec::new();
        let request = vector_index_request(t, v, &mut defs)?;
        match handle.def.vector_index(&v.name) {
            Some(have) => {
                // What is declared and what the table has, in the same words.
                let schema = |elems: Vec<(String, &str)>| {
                    elems.iter().map(|(n, role)| format!("{n} {role}")).collect::<Vec<_>>().join(", ")
                };
                let declared = format!(
                    "{} ({} dimensions, {}, search schema [{}], projection {})",
                    v.attribute,
                    v.dimensions,
                    v.distance.as_deref().unwrap_or("COSINE"),
                    schema(
                        request["SearchSchema"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|e| {
                                (
                                    e["AttributeName"].as_str().unwrap_or_default().to_string(),
                                    e["SearchSchemaElementType"].as_str().unwrap_or_default(),
                                )
                            })
                            .collect()
                    ),
                    match &v.projection {
                        None => "ALL".to_string(),
                        Some(ProjectionDecl::Type(t)) => t.clone(),
                        Some(ProjectionDecl::Include(attrs)) => include_text(attrs),
                    }
                );
                let actual = format!(
                    "{} ({} dimensions, {}, search schema [{}], projection {})",
                    have.attribute,
                    have.dimensions,
                    have.distance.as_str(),
                    schema(have.search_schema.iter().map(|a| (a.name.clone(), a.role.as_str())).collect()),
                    match &have.projection {
                        tidepool_store::table::Projection::All => "ALL".to_string(),
                        tidepool_store::table::Projection::KeysOnly => "KEYS_ONLY".to_string(),
                        tidepool_store::table::Projection::Include(attrs) => include_text(attrs),
                    }
                );
                if declared != actual {
                    return Err(drift(format!(
                        "vector index {} is declared on {declared} but is on {actual}; a vector index cannot \
                         change (delete it, or name the new one differently)",
                        v.name
                    )));
                }
            }
            None => {
                if !dry {
                    wait_for_backfills(app, &t.name)?;
                    let update = json!({
                        "TableName": t.name,
                        "AttributeDefinitions": defs,
                        "VectorIndexUpdates": [{"Create": request}],
                    });
                    ddb(app, &t.name, "UpdateTable", update)?;
                }
                applied.changes.push(format!("created vector index {} on table {}", v.name, t.name));
            }
        }
    }
    Ok(())
}

/// How long a worker's manifest waits for a mapping's table (with its
/// stream) to appear at the stream source: a worker started together with
/// its source, from one manifest, finds the tables the source makes.
const SOURCE_TABLE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// [`source_stream_arn`], asked again every half second for at most
/// [`SOURCE_TABLE_WAIT`] while the table is missing, streamless, or the
/// source does not answer.
async fn source_stream_arn_waiting(
    endpoint: &tidepool_runtime::endpoint::Endpoint,
    table: &str,
) -> Result<String, String> {
    let start = std::time::Instant::now();
    let mut said = false;
    loop {
        match source_stream_arn(endpoint, table).await {
            Ok(arn) => return Ok(arn),
            Err(e) if start.elapsed() < SOURCE_TABLE_WAIT => {
                if !said {
                    tracing::info!(table, error = %e, "waiting for the table's stream at the stream source");
                    said = true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The ARN of the latest stream of `table` at the stream source.
async fn source_stream_arn(endpoint: &tidepool_runtime::endpoint::Endpoint, table: &str) -> Result<String, String> {
    let request = serde_json::json!({"TableName": table});
    let t = endpoint
        .call(tidepool_runtime::endpoint::Service::DynamoDb, "DescribeTable", &request)
        .await
        .map_err(|e| e.to_string())?;
    let enabled = t["Table"]["StreamSpecification"]["StreamEnabled"].as_bool().unwrap_or(false);
    match t["Table"]["LatestStreamArn"].as_str() {
        Some(arn) if enabled => Ok(arn.to_string()),
        _ => Err("it has no stream".to_string()),
    }
}

/// Refuses mapping `m` on stream `arn` as CreateEventSourceMapping would,
/// creating nothing.
fn check_mapping(lambda: &Lambda, m: &MappingDecl, arn: String) -> Result<(), LambdaError> {
    let mut params = m.params.clone();
    params.event_source_arn = Some(arn);
    let function_arn = lambda.registry.function_arn(&m.function);
    tidepool_runtime::esm::MappingConfig::create(params, &m.function, &function_arn, 0)
        .map(|_| ())
        .map_err(LambdaError::from)
}

/// Creates or updates the mapping `m` declares on the stream `arn`.
fn apply_mapping(
    lambda: &Lambda,
    m: &MappingDecl,
    arn: String,
    rt: &tokio::runtime::Handle,
    dry: bool,
    applied: &mut Applied,
) -> Result<(), LambdaError> {
    // The manifest's mapping is on the unqualified function, not on one of its aliases.
    let unqualified = lambda.registry.function_arn(&m.function);
    let existing =
        lambda.mappings(Some(&m.function), Some(&arn)).into_iter().find(|have| have.function_arn == unqualified);
    match existing {
        None if dry => {
            check_mapping(lambda, m, arn)?;
            applied.changes.push(format!("created mapping ({} ← {})", m.function, m.table));
        }
        None => {
            let mut params = m.params.clone();
            params.event_source_arn = Some(arn);
            let created = rt.block_on(lambda.create_mapping(&m.function, None, params))?;
            applied.changes.push(format!("created mapping {} ({} ← {})", created.uuid, m.function, m.table));
        }
        Some(have) => {
            let mut next = have.clone();
            next.update(m.params.clone(), have.last_modified_ms).map_err(LambdaError::from)?;
            next.last_processing_result = have.last_processing_result.clone();
            if next != have {
                if !dry {
                    rt.block_on(lambda.update_mapping(&have.uuid, None, m.params.clone()))?;
                }
                applied.changes.push(format!("updated mapping {} ({} ← {})", have.uuid, m.function, m.table));
            }
        }
    }
    Ok(())
}

/// `name:type` of a key attribute, as the manifest writes it.
fn key_text(a: &tidepool_store::table::KeyAttr) -> String {
    format!("{}:{}", a.name, type_name(a.ty))
}

/// A key schema's attributes as the manifest writes them.
fn schema_text(schema: &tidepool_store::table::KeySchema) -> Vec<String> {
    schema.attrs().map(key_text).collect()
}

/// A key attribute type's DynamoDB name (keys are S, N or B).
fn type_name(ty: AttrType) -> &'static str {
    match ty {
        AttrType::S => "S",
        AttrType::N => "N",
        _ => "B",
    }
}

/// An INCLUDE projection's attributes, in a stable order for comparing.
fn include_text(attrs: &[String]) -> String {
    let mut attrs = attrs.to_vec();
    attrs.sort();
    format!("INCLUDE {}", attrs.join(", "))
}

fn run(app: &App, manifest: &Manifest, rt: &tokio::runtime::Handle, dry: bool) -> Result<Applied, LambdaError> {
    let lambda: &Lambda = app.lambda.get().ok_or_else(|| LambdaError::new("ServiceException", "not started"))?;
    let store = &app.store;
    let mut applied = Applied::default();
    // A worker's tables are its source engine's: the manifest's are left to
    // the source (one manifest serves both).
    let tables: &[_] = if lambda.stream_source.is_some() { &[] } else { &manifest.tables };
    if lambda.stream_source.is_some() && !manifest.tables.is_empty() && !dry {
        tracing::info!("a worker leaves the manifest's tables to its stream source");
    }
    for t in tables {
        let (pk, pk_ty) = key_attr(&t.partition_key, &t.name)?;
        let sk = t.sort_key.as_deref().map(|s| key_attr(s, &t.name)).transpose()?;
        let view = t.stream.as_deref().map(view_type).transpose()?;
        let capacity = t
            .capacity
            .as_deref()
            .map(str::parse::<crate::capacity::Mode>)
            .transpose()
            .map_err(|e| LambdaError::invalid(format!("table {}: {e}", t.name)))?;
        if !dry {
            app.capacity.set_table_mode(&t.name, capacity);
        }
        // A table being restored exists: it is left as it is (its restore
        // decides what it holds), never made again.
        if store.describe_table(&t.name).is_ok_and(|h| h.is_restoring()) {
            tracing::info!(table = %t.name, "table is being restored; the manifest leaves it as it is");
            continue;
        }
        let handle = match store.table(&t.name) {
            Ok(h) => h,
            Err(_) if dry => {
                create_table_request(t)?;
                applied.changes.push(format!("created table {}", t.name));
                if let Some(seed) = &t.seed {
                    let items = read_seed(t, &manifest.base.join(seed))?;
                    applied.changes.push(format!("seeded table {} with {} items", t.name, items.len()));
                }
                if t.ttl_attribute.is_some() {
                    applied.changes.push(format!("enabled TTL on table {}", t.name));
                }
                continue;
            }
            Err(_) => {
                // The seed is read first, and a seed DynamoDB refuses takes
                // its table with it: a later deploy finds no half-filled
                // table that it would never fill.
                let items = t.seed.as_ref().map(|seed| read_seed(t, &manifest.base.join(seed))).transpose()?;
                ddb(app, &t.name, "CreateTable", create_table_request(t)?)?;
                applied.changes.push(format!("created table {}", t.name));
                if let Some(items) = items {
                    if let Err(e) = seed_table(app, t, &items) {
                        let _ = ddb(app, &t.name, "DeleteTable", json!({"TableName": t.name}));
                        return Err(e);
                    }
                    applied.changes.push(format!("seeded table {} with {} items", t.name, items.len()));
                }
                store.table(&t.name)?
            }
        };
        // Drift: a key schema never changes; declaring another one is a
        // mistake to show, not a change to make.
        let have = &handle.def.key_schema;
        let same_hash = have.hash.name == pk && have.hash.ty == pk_ty;
        let same_range = match (&have.range, &sk) {
            (None, None) => true,
            (Some(r), Some((name, ty))) => &r.name == name && r.ty == *ty,
            _ => false,
        };
        if !(same_hash && same_range) {
            let declared = std::iter::once(t.partition_key.clone()).chain(t.sort_key.clone()).collect::<Vec<_>>();
            let existing = schema_text(have);
            return Err(LambdaError::invalid(format!(
                "table {}: drift: the manifest declares the key {} but the table has {}; a key schema cannot \
                 change, so nothing was applied: delete the table, or give the manifest's table another name",
                t.name,
                declared.join(", "),
                existing.join(", ")
            )));
        }
        sync_indexes(app, t, &handle, dry, &mut applied)?;
        // With the indexes just made.
        let handle =
            if dry { handle } else { store.table(&t.name).map_err(|e| LambdaError::invalid(e.to_string()))? };
        if let Some(mode) = &t.billing_mode {
            let want_throughput = match (t.read_capacity, t.write_capacity) {
                (Some(r), Some(w)) => Some((r.max(0) as u64, w.max(0) as u64)),
                _ => None,
            };
            let have_throughput = handle.def.throughput.as_ref().map(|tp| (tp.read, tp.write));
            let same_mode = mode.as_str() == handle.def.billing_mode.as_str();
            // Capacities left out keep the table's.
            let same_throughput = mode != "PROVISIONED" || want_throughput.is_none_or(|w| Some(w) == have_throughput);
            if !(same_mode && same_throughput) {
                let mut request = json!({"TableName": t.name, "BillingMode": mode});
                if let Some((r, w)) = want_throughput {
                    request["ProvisionedThroughput"] = json!({"ReadCapacityUnits": r, "WriteCapacityUnits": w});
                    // DynamoDB wants each global index's throughput with a
                    // switch to provisioned mode: the one the manifest
                    // declares for it, else the table's, for those without.
                    let updates: Vec<Json> = handle
                        .def
                        .gsis()
                        .filter(|i| i.throughput.is_none())
                        .map(|i| {
                            let declared = t.global_indexes.iter().find(|d| d.name == i.name);
                            let (ir, iw) = match declared.map(|d| (d.read_capacity, d.write_capacity)) {
                                Some((Some(ir), Some(iw))) => (ir.max(0) as u64, iw.max(0) as u64),
                                _ => (r, w),
                            };
                            json!({"Update": {"IndexName": i.name,
                                "ProvisionedThroughput": {"ReadCapacityUnits": ir, "WriteCapacityUnits": iw}}})
                        })
                        .collect();
                    if !updates.is_empty() {
                        request["GlobalSecondaryIndexUpdates"] = Json::Array(updates);
                    }
                }
                if !dry {
                    ddb(app, &t.name, "UpdateTable", request)?;
                }
                applied.changes.push(format!("changed the capacity of table {} ({mode})", t.name));
            }
        }
        match (&handle.def.stream, view) {
            (None, Some(v)) => {
                if !dry {
                    store.set_stream(&t.name, Some(v))?;
                }
                applied.changes.push(format!("enabled the stream of table {}", t.name));
            }
            (Some(s), Some(v)) if s.view_type != v => {
                // A new view type is a new stream (a new ARN); mappings on
                // the old one would read a stream that no longer grows.
                let arn = app.stream_arn(&t.name, &s.label);
                let orphans: Vec<String> = lambda.mappings(None, Some(&arn)).into_iter().map(|m| m.uuid).collect();
                if !orphans.is_empty() {
                    return Err(LambdaError::invalid(format!(
                        "table {}: changing the stream from {} to {} makes a new stream, and the event source \
                         mapping{} {} would keep reading the old one; delete {} first (`aws lambda \
                         delete-event-source-mapping`), then deploy again",
                        t.name,
                        s.view_type.as_str(),
                        v.as_str(),
                        if orphans.len() == 1 { "" } else { "s" },
                        orphans.join(", "),
                        if orphans.len() == 1 { "it" } else { "them" },
                    )));
                }
                if !dry {
                    store.set_stream(&t.name, None)?;
                    store.set_stream(&t.name, Some(v))?;
                }
                applied.changes.push(format!("replaced the stream of table {} ({})", t.name, v.as_str()));
            }
            _ => {}
        }
        if let Some(attr) = &t.ttl_attribute
            && handle.def.ttl_attribute.as_ref() != Some(attr)
        {
            if !dry {
                let attr = attr.clone();
                store.alter_table(&t.name, move |def| {
                    def.ttl_attribute = Some(attr);
                    Ok(())
                })?;
            }
            applied.changes.push(format!("enabled TTL on table {}", t.name));
        }
    }
    for f in &manifest.functions {
        let path = manifest.base.join(&f.code);
        let code = read_code(&manifest.base, &f.code)
            .map_err(|e| LambdaError::invalid(format!("function {}: {e}", f.name)))?;
        let mut want = FunctionRecord::new(&f.name);
        want.handler = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        want.timeout_secs = f.timeout.unwrap_or(want.timeout_secs);
        want.memory_mb = f.memory.unwrap_or(want.memory_mb);
        want.environment = f.environment.clone();
        if !f.allowed_hosts.is_empty() {
            want.environment.insert(ALLOWED_HOSTS_VARIABLE.to_string(), f.allowed_hosts.join(","));
        }
        want.reserved_concurrency = f.reserved_concurrency;
        want.description = f.description.clone().unwrap_or_default();
        if let Some(role) = &f.role {
            want.role = role_arn(role);
        }
        // The role a deploy gives (the manifest's, or the default one of a
        // function it creates) must be one CreateFunction would take: with
        // `--auth` and roles, one the auth file lists.
        let check_role = || {
            if super::api::assumable(app, &want.role) {
                Ok(())
            } else {
                Err(LambdaError::invalid(format!("function {}: {}", f.name, super::api::ROLE_NOT_ASSUMABLE)))
            }
        };
        match lambda.registry.get(&f.name) {
            Err(RegistryError::Conflict(message)) if lambda.registry.is_pending(&f.name) => {
                return Err(LambdaError::new("ResourceConflictException", format!("function {}: {message}", f.name)));
            }
            Err(_) => {
                check_role()?;
                if dry {
                    // Checked as creating it would: a broken component is
                    // refused by the plan too.
                    if let Some(reason) = tidepool_runtime::not_a_component(&code) {
                        return Err(LambdaError::invalid(format!("function {}: {reason}", f.name)));
                    }
                } else {
                    // A `Failed` function (its code never loaded) is replaced.
                    lambda.registry.forget_failed(&f.name);
                    // A new function starts with no policy, whatever an
                    // earlier one of its name left.
                    super::permissions::forget(&lambda.store, &f.name, None)?;
                    lambda.registry.create(want, &code)?;
                }
                applied.changes.push(format!("created function {}", f.name));
            }
            Ok(have) => {
                if f.role.is_some() {
                    check_role()?;
                }
                let sha = tidepool_runtime::CodeHash::of(&code).to_string();
                if have.code_sha256 != sha {
                    if !dry {
                        lambda.registry.update_code(&f.name, &code)?;
                    }
                    applied.changes.push(format!("updated the code of function {}", f.name));
                }
                let same = have.timeout_secs == want.timeout_secs
                    && have.memory_mb == want.memory_mb
                    && have.environment == want.environment
                    && have.reserved_concurrency == want.reserved_concurrency
                    && have.description == want.description
                    // A role the manifest does not give is left as it is.
                    && (f.role.is_none() || have.role == want.role);
                if !same && !dry {
                    lambda.registry.update_config(&f.name, |r| {
                        r.timeout_secs = want.timeout_secs;
                        r.memory_mb = want.memory_mb;
                        r.environment = want.environment.clone();
                        r.reserved_concurrency = want.reserved_concurrency;
                        r.description = want.description.clone();
                        if f.role.is_some() {
                            r.role = want.role.clone();
                        }
                        Ok(())
                    })?;
                }
                if !same {
                    applied.changes.push(format!("updated the configuration of function {}", f.name));
                }
            }
        }
    }
    for m in &manifest.mappings {
        // A worker's mappings read the tables of its source engine.
        if let Some(endpoint) = &lambda.stream_source {
            let arn = rt.block_on(source_stream_arn_waiting(endpoint, &m.table)).map_err(|e| {
                LambdaError::invalid(format!("mapping of {}: table {} of the stream source: {e}", m.function, m.table))
            })?;
            apply_mapping(lambda, m, arn, rt, dry, &mut applied)?;
            continue;
        }
        // In a plan, a table (or its stream) the manifest makes is not there yet.
        let declared = manifest.tables.iter().find(|t| t.name == m.table);
        let table = match store.table(&m.table) {
            Ok(t) => Some(t),
            Err(_) if dry && declared.is_some() => None,
            Err(_) => {
                return Err(LambdaError::invalid(format!(
                    "mapping of {}: table {} does not exist",
                    m.function, m.table
                )));
            }
        };
        let spec = match table.as_ref().and_then(|t| t.def.stream.clone()) {
            Some(spec) => spec,
            None if dry && declared.is_some_and(|t| t.stream.is_some()) => {
                check_mapping(lambda, m, app.stream_arn(&m.table, "planned"))?;
                applied.changes.push(format!("created mapping ({} ← {})", m.function, m.table));
                continue;
            }
            None => {
                return Err(LambdaError::invalid(format!(
                    "mapping of {}: table {} has no stream",
                    m.function, m.table
                )));
            }
        };
        let spec = &spec;
        let arn = app.stream_arn(&m.table, &spec.label);
        apply_mapping(lambda, m, arn, rt, dry, &mut applied)?;
    }
    applied.changes.extend(super::schedule::apply(lambda, &manifest.schedules, rt, dry)?);
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_section() {
        let m = Manifest::parse(
            r#"
            [[table]]
            name = "Scores"
            partition_key = "game:S"
            sort_key = "player:S"
            stream = "NEW_AND_OLD_IMAGES"

            [[function]]
            name = "leaderboard"
            code = "leaderboard.wasm"
            environment = { TABLE = "Leaderboard" }

            [[mapping]]
            function = "leaderboard"
            table = "Scores"
            StartingPosition = "TRIM_HORIZON"
            BatchSize = 10
            FunctionResponseTypes = ["ReportBatchItemFailures"]
            DestinationConfig = { OnFailure = { Destination = "arn:aws:dynamodb:us-east-1:000000000000:table/Failed" } }
            "#,
        )
        .unwrap();
        assert_eq!(m.tables[0].sort_key.as_deref(), Some("player:S"));
        assert_eq!(m.functions[0].environment["TABLE"], "Leaderboard");
        assert_eq!(m.mappings[0].params.batch_size, Some(10));
        assert_eq!(m.mappings[0].params.starting_position.as_deref(), Some("TRIM_HORIZON"));
        assert!(m.mappings[0].params.destination_config.is_some());
        assert!(Manifest::parse("[[table]]\nname = 1").is_err());
        assert!(Manifest::parse("[[nonsense]]").is_err());
    }

    #[test]
    fn a_vector_index_is_declared_as_createtable_takes_it() {
        let m = Manifest::parse(
            r#"
            [[table]]
            name = "Docs"
            partition_key = "id:S"

            [[table.vector_index]]
            name = "by-meaning"
            attribute = "embedding"
            dimensions = 384
            partition_key = "tenant:S"
            filters = ["kind:N"]
            projection = "KEYS_ONLY"
            "#,
        )
        .unwrap();
        let request = create_table_request(&m.tables[0]).unwrap();
        assert_eq!(
            request["VectorIndexes"],
            json!([{
                "IndexName": "by-meaning",
                "VectorAttribute": {"AttributeName": "embedding"},
                "Dimensions": 384,
                "DistanceFunction": "COSINE",
                "Projection": {"ProjectionType": "KEYS_ONLY"},
                "SearchSchema": [
                    {"AttributeName": "tenant", "SearchSchemaElementType": "HASH"},
                    {"AttributeName": "kind", "SearchSchemaElementType": "INLINE_FILTER"},
                ],
            }])
        );
        assert_eq!(
            request["AttributeDefinitions"],
            json!([
                {"AttributeName": "id", "AttributeType": "S"},
                {"AttributeName": "tenant", "AttributeType": "S"},
                {"AttributeName": "kind", "AttributeType": "N"},
            ])
        );
        let app = crate::dynamodb::testing::app();
        crate::dynamodb::testing::call(&app, "CreateTable", request);
        let t = app.store.table("Docs").unwrap();
        assert_eq!(t.def.vector_indexes[0].dimensions, 384);
    }

    #[test]
    fn misspelt_mapping_keys_are_refused_with_the_nearest_name() {
        let mapping = |line: &str| format!("[[mapping]]\nfunction = \"f\"\ntable = \"T\"\n{line}\n");
        for (line, hint) in [
            ("MaximumRetryAttemps = 2", Some("MaximumRetryAttempts")),
            ("BatchSzie = 10", Some("BatchSize")),
            ("batch_size = 10", Some("BatchSize")),
            ("startingposition = \"LATEST\"", Some("StartingPosition")),
            ("Colour = \"blue\"", None),
        ] {
            let err = Manifest::parse(&mapping(line)).expect_err(line).to_string();
            let key = line.split(' ').next().unwrap();
            assert!(err.contains(&format!("unknown key `{key}` in [[mapping]]")), "{err}");
            match hint {
                Some(h) => assert!(err.contains(&format!("did you mean `{h}`?")), "{err}"),
                None => assert!(!err.contains("did you mean"), "{err}"),
            }
            // TOML's error names the line.
            assert!(err.contains("line 1"), "{err}");
        }
        let m = Manifest::parse(&mapping("MaximumRetryAttempts = 2\nExactlyOnce = true")).unwrap();
        assert_eq!(m.mappings[0].params.maximum_retry_attempts, Some(2));
        assert_eq!(m.mappings[0].params.exactly_once, Some(true));
        // Still a missing function or table is refused.
        assert!(Manifest::parse("[[mapping]]\ntable = \"T\"").is_err());
    }
}
