//! ExportTableToPointInTime, DescribeExport and ListExports: a table as it
//! was at a moment (from its point-in-time history, which DynamoDB requires
//! too), written as DynamoDB writes an export to S3. There is no S3 here: a
//! bucket is a directory under `--s3-dir`, and the export lands in
//! `<s3-dir>/<bucket>/<prefix>/AWSDynamoDB/<export id>/` (the bucket's
//! directory must exist, as the bucket must on AWS), laid out as on S3:
//! `_started`, `data/<name>.json.gz` (or `.ion.gz`) of gzipped lines,
//! `manifest-files.json` (one line per data file: item count, MD5, ETag,
//! key), `manifest-summary.json` and a `.checksum` of each manifest. The summary
//! is written last, after every data file is fsynced: an export whose
//! summary exists is whole. An export a restart interrupted is `FAILED`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use tidepool_store::history::PitrSource;
use tidepool_store::messages;
use tidepool_store::value::Item;

use super::App;
use super::error::{ApiError, ApiResult};
use super::request::Req;

/// Items per data file (DynamoDB splits an export into several files too).
const ITEMS_PER_FILE: u64 = 100_000;
/// Exports and imports running at once; past it a new one is refused with
/// `LimitExceededException`.
pub const MAX_TRANSFERS: usize = 4;
/// DynamoDB's bounds on an incremental export's span.
const MIN_INCREMENTAL_SECS: f64 = 15.0 * 60.0;
const MAX_INCREMENTAL_SECS: f64 = 24.0 * 3600.0;
/// ListExports' and ListImports' largest page.
pub const MAX_PAGE: i64 = 25;
/// ListExports' and ListImports' page without `MaxResults` (`PageSize`),
/// as DynamoDB's (DDB-IMPORT-016).
pub const DEFAULT_PAGE: i64 = 10;

const PREFIX: &str = "exp/";
/// A ClientToken names its request for 8 hours after that request ends
/// (ExportTableToPointInTime, ImportTable); later the same token starts a
/// new one, as on DynamoDB.
pub const CLIENT_TOKEN_SECS: f64 = 8.0 * 3600.0;

/// An export as kept in the store's system entries (`exp/<id>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportRecord {
    pub id: String,
    pub table: String,
    pub table_id: String,
    pub table_internal: u64,
    pub export_time: f64,
    pub start: f64,
    pub end: Option<f64>,
    /// IN_PROGRESS, COMPLETED or FAILED.
    pub status: String,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub bucket: String,
    pub prefix: Option<String>,
    pub bucket_owner: Option<String>,
    pub sse: Option<String>,
    pub kms_key: Option<String>,
    /// DYNAMODB_JSON or ION.
    pub format: String,
    /// FULL_EXPORT or INCREMENTAL_EXPORT.
    pub export_type: String,
    pub from: Option<f64>,
    pub to: Option<f64>,
    pub view: Option<String>,
    pub items: u64,
    pub bytes: u64,
    pub manifest: Option<String>,
    pub client_token: Option<String>,
}

/// Exports and imports running (see [`MAX_TRANSFERS`]).
pub static RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A slot of [`MAX_TRANSFERS`], given back on drop.
pub struct Slot;

impl Slot {
    pub fn take(what: &str) -> ApiResult<Slot> {
        use std::sync::atomic::Ordering;
        let n = RUNNING.fetch_add(1, Ordering::SeqCst);
        if n >= MAX_TRANSFERS {
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "LimitExceededException",
                messages::export::too_many_transfers(MAX_TRANSFERS, what),
            ));
        }
        Ok(Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

pub(super) fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// An id as DynamoDB's exports and imports have: milliseconds (14 digits)
/// and 8 hex digits.
pub(super) fn new_id() -> String {
    format!("{:014}-{}", (now() * 1000.0) as u64, &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// A `NextToken` of ListExports or ListImports (the last id of a page), or
/// DynamoDB's refusal of one it never gave.
/// Whether `s` has the form of an export's or import's id: 14 digits of
/// milliseconds, `-`, 8 hex digits.
pub(super) fn is_job_id(s: &str) -> bool {
    s.split_once('-').is_some_and(|(ms, hex)| {
        ms.len() == 14
            && ms.bytes().all(|b| b.is_ascii_digit())
            && hex.len() == 8
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

pub(super) fn next_token<'a>(r: &Req<'a>) -> ApiResult<Option<&'a str>> {
    let Some(token) = r.str_opt("NextToken")? else { return Ok(None) };
    if !is_job_id(token) {
        return Err(ApiError::validation(messages::export::invalid_next_token(token)));
    }
    Ok(Some(token))
}

/// ISO 8601 of epoch seconds, as the manifests write times.
fn iso(secs: f64) -> String {
    format!("{}Z", tidepool_store::format_timestamp_millis((secs * 1000.0) as u64))
}

/// The longest `S3Bucket` DynamoDB takes (its member constraint).
const MAX_BUCKET_MEMBER: usize = 255;

/// A bucket's directory, checked against DynamoDB's member constraints
/// (`^[a-z0-9A-Z]+[\.\-\w]*[a-z0-9A-Z]+$`, at most 255 characters);
/// `None` for a name DynamoDB takes but S3 cannot have (`My_Bucket`): on
/// AWS such an export or import fails later, its bucket not found. Either
/// way the name never leaves `--s3-dir`.
/// `S3BucketOwner`, an account id: 12 digits, as the model's pattern says
/// (DDB-EXPORT-002).
pub(super) fn bucket_owner(r: &Req<'_>, member: &str) -> ApiResult<Option<String>> {
    let Some(owner) = r.str_opt("S3BucketOwner")? else { return Ok(None) };
    if owner.len() != 12 || !owner.bytes().all(|b| b.is_ascii_digit()) {
        super::validate::none_of(&[messages::export::owner_pattern_violation(owner, member)])?;
    }
    Ok(Some(owner.to_string()))
}

pub(super) fn bucket_dir(app: &App, bucket: &str, member: &str) -> ApiResult<Option<PathBuf>> {
    let word = |c: char| c.is_ascii_alphanumeric();
    let mut broken = Vec::new();
    if bucket.chars().count() > MAX_BUCKET_MEMBER {
        broken.push(messages::backup::length_too_long(bucket, member, MAX_BUCKET_MEMBER));
    }
    let pattern = bucket.len() >= 2
        && bucket.starts_with(word)
        && bucket.ends_with(word)
        && bucket.chars().all(|c| word(c) || matches!(c, '.' | '-' | '_'));
    if !pattern {
        broken.push(messages::export::bucket_pattern_violation(bucket, member));
    }
    super::validate::none_of(&broken)?;
    Ok(crate::s3::valid_bucket(bucket).then(|| app.s3_dir.join(bucket)))
}

/// DynamoDB's failure of an export or import whose bucket does not exist
/// (`FailureCode`, `FailureMessage`), as S3 words it.
pub(super) fn no_such_bucket() -> (String, String) {
    ("S3NoSuchBucket".into(), messages::export::NO_SUCH_BUCKET.into())
}

/// A key prefix that names no parent directory or absolute path, and no
/// empty segment (`a//b`), which S3 keeps as a key of its own and a
/// directory cannot hold: refused rather than written under another key.
pub(super) fn safe_prefix(prefix: &str) -> ApiResult<()> {
    if prefix.len() > 1024
        || prefix.starts_with('/')
        || prefix.contains("//")
        || prefix.split('/').any(|p| p == ".." || p == ".")
    {
        return Err(ApiError::validation(messages::export::invalid_prefix(prefix)));
    }
    Ok(())
}

/// The records of exports or imports: the system entries under `prefix`.
pub(super) fn load_records<T: serde::de::DeserializeOwned>(app: &App, prefix: &str) -> ApiResult<Vec<T>> {
    Ok(app
        .store
        .sys_scan(prefix.as_bytes())?
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
        .collect())
}

/// Saves the record of an export or an import as `<prefix><id>`.
pub(super) fn save_record<T: Serialize>(store: &tidepool_store::Store, prefix: &str, id: &str, r: &T) -> ApiResult<()> {
    let json = serde_json::to_vec(r).map_err(|_| ApiError::internal())?;
    store.sys_write(vec![(format!("{prefix}{id}").into_bytes(), Some(json))])?;
    Ok(())
}

/// The record an ARN `<table arn>/<kind>/<id>` names, if it is this
/// server's (`arn_of` gives a record's own ARN); else `kind_error`.
pub(super) fn record_by_arn<T: serde::de::DeserializeOwned>(
    app: &App,
    prefix: &str,
    arn: &str,
    kind: &str,
    kind_error: &str,
    arn_of: impl Fn(&T) -> String,
) -> ApiResult<T> {
    let not_found = || {
        let message = match kind {
            "export" if arn.split(':').nth(3).is_some_and(|region| region != app.region) => {
                messages::export::EXPORT_OF_ANOTHER_REGION.to_string()
            }
            "export" => messages::export::export_not_found(arn),
            _ => messages::export::import_not_found(arn),
        };
        ApiError::new(axum::http::StatusCode::BAD_REQUEST, kind_error, message)
    };
    // Not an ARN of this kind at all is malformed, not missing.
    let malformed = || {
        let mut noun = kind.to_string();
        noun[..1].make_ascii_uppercase();
        ApiError::validation(messages::export::invalid_arn(noun))
    };
    let id = arn
        .strip_prefix("arn:")
        .and_then(|_| arn.rsplit_once(&format!("/{kind}/")))
        .map(|(_, id)| id)
        .filter(|id| !id.is_empty())
        .ok_or_else(malformed)?;
    // Another account's export or import: not ours to describe, in
    // DynamoDB's words (DDB-EXPORT-006, DDB-IMPORT-010).
    if arn.split(':').nth(4).is_some_and(|account| account != super::ACCOUNT_ID) {
        return Err(super::backup::access_denied());
    }
    let r: T = match app.store.sys_get(format!("{prefix}{id}").as_bytes())? {
        Some(v) => serde_json::from_slice(&v).map_err(|_| not_found())?,
        None => return Err(not_found()),
    };
    if arn_of(&r) != arn {
        return Err(not_found());
    }
    Ok(r)
}

/// One page of `all` (sorted by id, newest first) after `start`, and
/// whether more follow.
pub(super) fn page<'a, T>(all: &'a [T], start: Option<&str>, limit: usize, id: impl Fn(&T) -> &str) -> (&'a [T], bool) {
    let from = all.iter().position(|r| start.is_none_or(|s| id(r) < s)).unwrap_or(all.len());
    let end = (from + limit).min(all.len());
    (&all[from..end], end < all.len())
}

fn records(app: &App) -> ApiResult<Vec<ExportRecord>> {
    load_records(app, PREFIX)
}

fn save(app: &App, r: &ExportRecord) -> ApiResult<()> {
    save_record(&app.store, PREFIX, &r.id, r)
}

impl App {
    fn export_arn(&self, r: &ExportRecord) -> String {
        format!("{}/export/{}", self.table_arn(&r.table), r.id)
    }

    fn export_description(&self, r: &ExportRecord) -> Json {
        let mut d = Map::new();
        d.insert("ExportArn".into(), json!(self.export_arn(r)));
        d.insert("ExportStatus".into(), json!(r.status));
        d.insert("StartTime".into(), json!(r.start));
        if let Some(e) = r.end {
            d.insert("EndTime".into(), json!(e));
        }
        d.insert("TableArn".into(), json!(self.table_arn(&r.table)));
        d.insert("TableId".into(), json!(r.table_id));
        // An incremental export has a period, not a moment: DynamoDB
        // describes it without ExportTime.
        if r.from.is_none() {
            d.insert("ExportTime".into(), json!(r.export_time));
        }
        if let Some(t) = &r.client_token {
            d.insert("ClientToken".into(), json!(t));
        }
        d.insert("S3Bucket".into(), json!(r.bucket));
        if let Some(o) = &r.bucket_owner {
            d.insert("S3BucketOwner".into(), json!(o));
        }
        if let Some(p) = &r.prefix {
            d.insert("S3Prefix".into(), json!(p));
        }
        d.insert("S3SseAlgorithm".into(), json!(r.sse.as_deref().unwrap_or("AES256")));
        if let Some(k) = &r.kms_key {
            d.insert("S3SseKmsKeyId".into(), json!(k));
        }
        if let Some(c) = &r.failure_code {
            d.insert("FailureCode".into(), json!(c));
        }
        if let Some(m) = &r.failure_message {
            d.insert("FailureMessage".into(), json!(m));
        }
        d.insert("ExportFormat".into(), json!(r.format));
        if r.status == "COMPLETED" {
            d.insert("BilledSizeBytes".into(), json!(billed(r.bytes, &r.export_type)));
            d.insert("ItemCount".into(), json!(r.items));
            if let Some(m) = &r.manifest {
                d.insert("ExportManifest".into(), json!(m));
            }
        }
        // The live service never echoes a full export's type here
        // (DDB-EXPORT-017; ListExports names it).
        if r.export_type != "FULL_EXPORT" {
            d.insert("ExportType".into(), json!(r.export_type));
        }
        if let (Some(from), Some(to)) = (r.from, r.to) {
            d.insert(
                "IncrementalExportSpecification".into(),
                json!({"ExportFromTime": from, "ExportToTime": to,
                       "ExportViewType": r.view.as_deref().unwrap_or("NEW_AND_OLD_IMAGES")}),
            );
        }
        Json::Object(d)
    }

    fn export_of(&self, arn: &str) -> ApiResult<ExportRecord> {
        record_by_arn(self, PREFIX, arn, "export", "ExportNotFoundException", |r| self.export_arn(r))
    }
}

/// The table an export's `TableArn` names, or DynamoDB's refusal: not an
/// ARN, or an ARN of something inside a table (an index).
fn table_of_arn(arn: &str) -> ApiResult<&str> {
    if arn.is_empty() {
        return Err(ApiError::validation(messages::export::TABLE_ARN_EMPTY));
    }
    if !arn.starts_with("arn:") {
        return Err(ApiError::validation(messages::export::TABLE_ARN_NOT_ARN));
    }
    // Another account's table is not the caller's to export; the ARN's
    // region is not checked, its name is looked up here (DynamoDB's
    // answers, catalogued).
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts[..] {
        ["arn", "aws", "dynamodb", _, account, resource] => {
            if account != super::ACCOUNT_ID {
                return Err(super::backup::access_denied());
            }
            match resource.strip_prefix("table/") {
                Some(rest) if !rest.is_empty() && !rest.contains('/') => Ok(rest),
                _ => Err(ApiError::validation(messages::export::TABLE_ARN_NOT_TABLE)),
            }
        }
        _ => Err(ApiError::validation(messages::table::invalid_table_arn(arn))),
    }
}

/// A time as the incremental window's refusals quote it: to the second.
fn to_second(t: f64) -> String {
    format!("{}Z", &tidepool_store::format_timestamp_millis((t.max(0.0) * 1000.0) as u64)[..19])
}

/// An incremental export's period checked as DynamoDB checks it, in its
/// order (the live service's answers, catalogued): its start against the
/// start of point-in-time recovery ("the table creation time" in its
/// words), its end against now, then its length. Times are quoted to the
/// second.
fn incremental_window(from: f64, to: f64, earliest: f64, now: f64) -> ApiResult<()> {
    if from < earliest.floor() {
        return Err(invalid_export_time(messages::export::from_before_creation(to_second(from))));
    }
    if to > now + 1.0 {
        return Err(invalid_export_time(messages::export::to_after_now(to_second(to))));
    }
    if to <= from {
        return Err(invalid_export_time(messages::export::FROM_NOT_BEFORE_TO));
    }
    if to - from < MIN_INCREMENTAL_SECS {
        return Err(invalid_export_time(messages::export::PERIOD_TOO_SHORT));
    }
    if to - from > MAX_INCREMENTAL_SECS {
        return Err(invalid_export_time(messages::export::PERIOD_TOO_LONG));
    }
    Ok(())
}

fn invalid_export_time(message: impl Into<String>) -> ApiError {
    ApiError::new(axum::http::StatusCode::BAD_REQUEST, "InvalidExportTimeException", message)
}

pub fn export_table(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let arn = r.str("TableArn")?;
    let name = table_of_arn(arn)?;
    let bucket = r.str("S3Bucket")?.to_string();
    let dir = bucket_dir(app, &bucket, "s3Bucket")?;
    let prefix = r.str_opt("S3Prefix")?.map(str::to_string);
    if let Some(p) = &prefix {
        safe_prefix(p)?;
    }
    let format = r.enum_opt("ExportFormat", &["DYNAMODB_JSON", "ION"])?.unwrap_or("DYNAMODB_JSON").to_string();
    let export_type = r.enum_opt("ExportType", &["FULL_EXPORT", "INCREMENTAL_EXPORT"])?;
    match (export_type, r.get("IncrementalExportSpecification").is_some_and(|v| !v.is_null())) {
        (Some("INCREMENTAL_EXPORT"), false) => {
            return Err(ApiError::validation(messages::export::INCREMENTAL_SPECIFICATION_EXPECTED));
        }
        (None, true) => {
            return Err(ApiError::validation(messages::export::INCREMENTAL_TYPE_EXPECTED));
        }
        (Some("FULL_EXPORT"), true) => {
            return Err(ApiError::validation(messages::export::FULL_EXPORT_WITH_SPECIFICATION));
        }
        _ => {}
    }
    let export_type = export_type.unwrap_or("FULL_EXPORT").to_string();
    let sse = r.enum_opt("S3SseAlgorithm", &["AES256", "KMS"])?.map(str::to_string);
    if sse.as_deref() != Some("KMS") && r.str_opt("S3SseKmsKeyId")?.is_some() {
        return Err(ApiError::validation(messages::export::KMS_KEY_NOT_SUPPORTED));
    }
    let owner = bucket_owner(&r, "s3BucketOwner")?;
    let token = r.str_opt("ClientToken")?.map(str::to_string);
    let (mut from, mut to, mut view) = (None, None, None);
    // Not before any commit's history time (the history clock never goes
    // back, so after the wall clock stepped back its times run ahead): an
    // export of "now" holds every write acknowledged before the request.
    let started = now().max(app.store.history_now());
    if export_type == "INCREMENTAL_EXPORT" {
        let spec = r
            .obj_opt("IncrementalExportSpecification")?
            .ok_or_else(|| ApiError::validation(messages::export::INCREMENTAL_SPECIFICATION_EXPECTED))?;
        let f = spec
            .time_opt("ExportFromTime")?
            .ok_or_else(|| ApiError::validation(messages::export::EXPORT_FROM_TIME_REQUIRED))?;
        let t = spec.time_opt("ExportToTime")?.unwrap_or(started);
        from = Some(f);
        to = Some(t);
        view = Some(
            // Named by its whole path, as the live service names it
            // (DDB-EXPORT-003).
            spec.enum_opt_at(
                "ExportViewType",
                "incrementalExportSpecification.exportViewType",
                &["NEW_IMAGE", "NEW_AND_OLD_IMAGES"],
            )?
            .unwrap_or("NEW_AND_OLD_IMAGES")
            .to_string(),
        );
    }
    if let Some(t) = &token
        && let Some(existing) = records(app)?.into_iter().find(|e| {
            e.client_token.as_deref() == Some(t.as_str()) && e.end.is_none_or(|end| started - end < CLIENT_TOKEN_SECS)
        })
    {
        // The same token for another export is a conflict, as on DynamoDB
        // ("any changed parameter": the target, format, type, period, view
        // and encryption).
        if existing.table != name
            || existing.bucket != bucket
            || existing.prefix != prefix
            || existing.format != format
            || existing.export_type != export_type
            || existing.from != from
            || existing.view != view
            || existing.sse != sse
            || existing.kms_key.as_deref() != r.str_opt("S3SseKmsKeyId")?
            || existing.bucket_owner != owner
        {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "ExportConflictException",
                messages::export::EXPORT_CONFLICT,
            ));
        }
        return Ok(json!({"ExportDescription": app.export_description(&existing)}));
    }
    // The ARN echoed, as DynamoDB's export words a missing table.
    let table = app.store.table(name).map_err(|_| super::backup::table_not_found(arn))?;
    // An incremental export of a table without recovery has no period to
    // read: its start is before what DynamoDB counts from (DDB-EXPORT-001).
    if table.def.pitr.is_none()
        && let Some(f) = from
    {
        return Err(invalid_export_time(messages::export::from_before_creation(to_second(f))));
    }
    if table.def.pitr.is_none() {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "PointInTimeRecoveryUnavailableException",
            messages::backup::pitr_not_enabled(name),
        ));
    }
    let source = PitrSource { def: table.def.clone(), deleted_at: None };
    let (earliest, latest) = source.window(started).unwrap_or((started, started));
    if let (Some(f), Some(t)) = (from, to) {
        incremental_window(f, t, earliest, started)?;
    }
    let export_time = match r.time_opt("ExportTime")? {
        Some(t) => t,
        // "Now" by default: the export's start, as DynamoDB's (its
        // ExportTime is its StartTime, DDB-EXPORT-017), so a write just
        // before the request is in it.
        None => to.unwrap_or(started),
    };
    let check = |t: f64| t >= earliest.floor() && t <= latest + 1.0;
    if from.is_none() && !check(export_time) {
        return Err(invalid_export_time(messages::export::EXPORT_TIME_INVALID));
    }
    if !check(export_time) || from.is_some_and(|f| !check(f)) || to.is_some_and(|t| !check(t)) {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "InvalidExportTimeException",
            messages::export::export_time_outside_window(earliest.floor(), latest.floor()),
        ));
    }
    let slot = Slot::take("export")?;
    let record = ExportRecord {
        id: new_id(),
        table: name.to_string(),
        table_id: table.def.table_id.clone(),
        table_internal: table.def.id,
        export_time: export_time.max(earliest),
        start: started,
        end: None,
        status: "IN_PROGRESS".into(),
        failure_code: None,
        failure_message: None,
        bucket,
        prefix,
        bucket_owner: owner,
        sse,
        kms_key: r.str_opt("S3SseKmsKeyId")?.map(str::to_string),
        format,
        export_type,
        from,
        to,
        view,
        items: 0,
        bytes: 0,
        manifest: None,
        client_token: token,
    };
    save(app, &record)?;
    let store = app.store.clone();
    let arn_prefix = app.table_arn(&record.table);
    let mut running = record.clone();
    let metrics = app.metrics.clone();
    let spawned = std::thread::Builder::new().name("tidepool-export".into()).spawn(move || {
        let _slot = slot;
        let _hold = store.hold();
        tidepool_store::lower_this_thread();
        let (total_items, total_bytes) =
            store.table(&running.table).map(|t| (t.stats().items, t.stats().bytes)).unwrap_or((0, 0));
        let tracked = store.track(&running.id, total_items, total_bytes);
        // A bucket that does not exist fails the export, as on AWS: it is
        // made first (CreateBucket, `aws s3 mb`, or a directory under
        // `--s3-dir`; `tidepool export` makes it).
        let result = match &dir {
            Some(dir) if dir.is_dir() => write_export(&store, dir, &arn_prefix, &mut running, &tracked.progress)
                .map_err(|e| ("UNKNOWN".to_string(), e)),
            _ => Err(no_such_bucket()),
        };
        drop(tracked);
        match result {
            Ok(()) => {
                running.status = "COMPLETED".into();
                metrics.moved(&running.table, crate::metrics::Moved::Exported, running.bytes);
            }
            Err((code, e)) => {
                tracing::error!(export = %running.id, error = %e, "export failed");
                running.status = "FAILED".into();
                running.failure_code = Some(code);
                running.failure_message = Some(e);
            }
        }
        running.end = Some(now());
        let json = serde_json::to_vec(&running).unwrap_or_default();
        if let Err(e) = store.sys_write(vec![(format!("{PREFIX}{}", running.id).into_bytes(), Some(json))]) {
            tracing::error!(export = %running.id, error = %e, "recording an export's end failed");
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start an export thread");
        let mut failed = record.clone();
        failed.status = "FAILED".into();
        failed.failure_code = Some("UNKNOWN".into());
        failed.failure_message = Some("the export could not start".into());
        failed.end = Some(now());
        save(app, &failed)?;
        return Ok(json!({"ExportDescription": app.export_description(&failed)}));
    }
    // `IN_PROGRESS`, as DynamoDB always answers, however small the table.
    tracing::info!(table = name, export = %record.id, "export started");
    Ok(json!({"ExportDescription": app.export_description(&record)}))
}

/// Rendered lines sent to the export's writer at a time.
const CHUNK_BYTES: usize = 256 * 1024;
/// Chunks in flight between the reader and the writer (at most this many
/// times [`CHUNK_BYTES`] wait in memory).
const PIPELINE_DEPTH: usize = 8;

/// What the reader sends the writer: lines, or the end of a data file.
enum Chunk {
    /// Lines, and how many items they are.
    Lines(Vec<u8>, u64),
    EndFile,
}

/// The export's writer: gzips the lines it is sent into data files under
/// `root/data` (a new file after each `EndFile`), each fsynced; returns
/// their keys, counts, MD5s and ETags. It runs beside the reader, which
/// renders the lines: gzip is about half of an exported item's cost.
fn write_files(
    rx: std::sync::mpsc::Receiver<Chunk>,
    root: &Path,
    key_prefix: &str,
    ext: &str,
) -> Result<Vec<(String, u64, String, String)>, String> {
    tidepool_store::lower_this_thread();
    let mut files = Vec::new();
    let mut current: Option<DataFile> = None;
    for chunk in rx {
        match chunk {
            Chunk::Lines(lines, count) => {
                if current.is_none() {
                    let name = format!("{}.{ext}", uuid::Uuid::new_v4().simple());
                    let key = format!("{key_prefix}/data/{name}");
                    let file = std::fs::File::create(root.join("data").join(&name)).map_err(io_err)?;
                    let out = Md5Writer { file, md5: md5::Context::new() };
                    current = Some(DataFile {
                        key,
                        gz: flate2::write::GzEncoder::new(out, flate2::Compression::fast()),
                        items: 0,
                    });
                }
                let f = current.as_mut().expect("a data file");
                f.gz.write_all(&lines).map_err(io_err)?;
                f.items += count;
            }
            Chunk::EndFile => {
                if let Some(f) = current.take() {
                    files.push(close(f)?);
                }
            }
        }
    }
    if let Some(f) = current.take() {
        files.push(close(f)?);
    }
    Ok(files)
}

/// A data file being written: gzip over the file, with its MD5 and count.
struct DataFile {
    key: String,
    gz: flate2::write::GzEncoder<Md5Writer>,
    items: u64,
}

/// A file whose MD5 is computed as it is written (never read back).
struct Md5Writer {
    file: std::fs::File,
    md5: md5::Context,
}

impl Write for Md5Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.md5.consume(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

fn io_err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Writes the export's files; fills in its counts and manifest key.
/// An incremental export is billed for at least 10 MB, as DynamoDB's
/// (its `BilledSizeBytes` is 10000000 for an export of nothing,
/// DDB-EXPORT-019); a full export, for the bytes it read.
const MIN_INCREMENTAL_BILLED_BYTES: u64 = 10_000_000;

fn billed(bytes: u64, export_type: &str) -> u64 {
    if export_type == "INCREMENTAL_EXPORT" { bytes.max(MIN_INCREMENTAL_BILLED_BYTES) } else { bytes }
}

fn write_export(
    store: &tidepool_store::Store,
    bucket: &Path,
    _arn: &str,
    r: &mut ExportRecord,
    progress: &tidepool_store::backup::Progress,
) -> Result<(), String> {
    let key_prefix = match r.prefix.as_deref().map(|p| p.trim_end_matches('/')) {
        Some(p) if !p.is_empty() => format!("{p}/AWSDynamoDB/{}", r.id),
        _ => format!("AWSDynamoDB/{}", r.id),
    };
    let root = bucket.join(&key_prefix);
    std::fs::create_dir_all(root.join("data")).map_err(io_err)?;
    std::fs::write(root.join("_started"), b"").map_err(io_err)?;
    let ext = if r.format == "ION" { "ion.gz" } else { "json.gz" };
    let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(PIPELINE_DEPTH);
    let (mut items, mut bytes) = (0u64, 0u64);
    let ion = r.format == "ION";
    let mut failed: Option<String> = None;
    let files = std::thread::scope(|scope| -> Result<Vec<(String, u64, String, String)>, String> {
        let (root, key_prefix) = (&root, &key_prefix);
        let writer = std::thread::Builder::new()
            .name("tidepool-export-gz".into())
            .spawn_scoped(scope, move || write_files(rx, root, key_prefix, ext))
            .map_err(|e| format!("could not start the export's writer: {e}"))?;
        // Lines rendered and not yet sent, and how many the file being
        // filled holds.
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK_BYTES + 4096);
        let (mut file_items, mut buf_items) = (0u64, 0u64);
        // `Err` once the writer has stopped (its error is the export's).
        let mut emit = |line: Vec<u8>, size: u64| -> Result<(), ()> {
            buf.extend_from_slice(&line);
            file_items += 1;
            buf_items += 1;
            items += 1;
            bytes += size;
            progress.add(1, size);
            if file_items >= ITEMS_PER_FILE {
                file_items = 0;
                let lines = std::mem::replace(&mut buf, Vec::with_capacity(CHUNK_BYTES + 4096));
                tx.send(Chunk::Lines(lines, std::mem::take(&mut buf_items))).map_err(drop)?;
                tx.send(Chunk::EndFile).map_err(drop)?;
            } else if buf.len() >= CHUNK_BYTES {
                let lines = std::mem::replace(&mut buf, Vec::with_capacity(CHUNK_BYTES + 4096));
                tx.send(Chunk::Lines(lines, std::mem::take(&mut buf_items))).map_err(drop)?;
            }
            Ok(())
        };
        // Truncated, as the history clock's times are.
        let at_us = |t: f64| (t * 1_000_000.0).floor() as u64;
        let mut seen = 0u64;
        let read = match (r.from, r.to) {
            (Some(from), Some(to)) => {
                let new_and_old = r.view.as_deref() != Some("NEW_IMAGE");
                match store.table(&r.table).map(|t| t.def.clone()) {
                    Err(e) => Err(e.to_string()),
                    Ok(def) => store
                        .changes_between(r.table_internal, at_us(from), at_us(to), |old, new, written| {
                            seen += 1;
                            if seen.is_multiple_of(10_000) && store.closing() {
                                return Err(tidepool_store::StoreError::Corrupt(
                                    "The server stopped during the export".into(),
                                ));
                            }
                            let any = new.as_ref().or(old.as_ref()).expect("one image");
                            let keys = def.key_of(any);
                            let size = new.as_ref().map_or(0, |i| tidepool_store::value::item_size(i) as u64);
                            let line = incremental_line(
                                ion,
                                written,
                                &keys,
                                old.as_ref().filter(|_| new_and_old),
                                new.as_ref(),
                            );
                            emit(line, size)
                                .map_err(|()| tidepool_store::StoreError::Corrupt("the export's writer stopped".into()))
                        })
                        .map_err(|e| e.to_string()),
                }
            }
            _ => store
                .items_at(r.table_internal, at_us(r.export_time), |item| {
                    seen += 1;
                    if seen.is_multiple_of(10_000) && store.closing() {
                        failed = Some("The server stopped during the export".into());
                        return Ok(false);
                    }
                    let size = tidepool_store::value::item_size(&item) as u64;
                    let line = if ion { super::ion::export_line(&item).into_bytes() } else { json_line(&item) };
                    Ok(emit(line, size).is_ok())
                })
                .map(drop)
                .map_err(|e| e.to_string()),
        };
        // An export of nothing still has its data file, empty, as
        // DynamoDB's ("for partitions that are empty, your export request
        // will create an empty file").
        if !buf.is_empty() || items == 0 {
            let _ = tx.send(Chunk::Lines(buf, buf_items));
        }
        drop(tx);
        let written = writer.join().unwrap_or_else(|_| Err("the export's writer failed".into()));
        // The writer's error explains a read stopped by it.
        let files = written?;
        read?;
        Ok(files)
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    // manifest-files.json: one JSON object a line.
    let mut manifest = String::new();
    for (key, count, md5_b64, etag) in &files {
        manifest.push_str(
            &json!({"itemCount": count, "md5Checksum": md5_b64, "etag": etag, "dataFileS3Key": key}).to_string(),
        );
        manifest.push('\n');
    }
    let files_key = format!("{key_prefix}/manifest-files.json");
    write_synced(&root.join("manifest-files.json"), manifest.as_bytes())?;
    write_synced(&root.join("manifest-files.checksum"), md5_b64(manifest.as_bytes()).as_bytes())?;
    r.items = items;
    r.bytes = bytes;
    let summary_key = format!("{key_prefix}/manifest-summary.json");
    let end = now();
    let mut summary = json!({
        "version": "2020-06-30",
        "exportArn": format!("{_arn}/export/{}", r.id),
        "startTime": iso(r.start),
        "endTime": iso(end),
        "tableArn": _arn,
        "tableId": r.table_id,
        "exportTime": iso(r.export_time),
        "s3Bucket": r.bucket,
        "s3Prefix": r.prefix,
        "s3SseAlgorithm": r.sse.as_deref().unwrap_or("AES256"),
        "s3SseKmsKeyId": r.kms_key,
        "manifestFilesS3Key": files_key,
        "billedSizeBytes": billed(bytes, &r.export_type),
        "itemCount": items,
        "outputFormat": r.format,
        "exportType": r.export_type,
    });
    if let (Some(from), Some(to)) = (r.from, r.to) {
        summary["exportFromTime"] = json!(iso(from));
        summary["exportToTime"] = json!(iso(to));
        summary["outputView"] = json!(r.view.as_deref().unwrap_or("NEW_AND_OLD_IMAGES"));
    }
    let text = summary.to_string();
    write_synced(&root.join("manifest-summary.checksum"), md5_b64(text.as_bytes()).as_bytes())?;
    write_synced(&root.join("manifest-summary.json"), text.as_bytes())?;
    r.manifest = Some(summary_key);
    Ok(())
}

fn json_line(item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"Item\":");
    tidepool_store::value::json::write_item(&mut out, item);
    out.extend_from_slice(b"}\n");
    out
}

/// A line of an incremental export: its write time, keys and images.
fn incremental_line(ion: bool, written_us: u64, keys: &Item, old: Option<&Item>, new: Option<&Item>) -> Vec<u8> {
    if ion {
        let mut out = format!("$ion_1_0 {{Metadata:{{WriteTimestampMicros:{written_us}}},Keys:");
        let strip = |s: String| s.trim_start_matches("$ion_1_0 {Item:").trim_end_matches("}\n").to_string();
        out.push_str(&strip(super::ion::export_line(keys)));
        if let Some(n) = new {
            out.push_str(",NewImage:");
            out.push_str(&strip(super::ion::export_line(n)));
        }
        if let Some(o) = old {
            out.push_str(",OldImage:");
            out.push_str(&strip(super::ion::export_line(o)));
        }
        out.push_str("}\n");
        return out.into_bytes();
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(
        format!("{{\"Metadata\":{{\"WriteTimestampMicros\":{{\"N\":\"{written_us}\"}}}},\"Keys\":").as_bytes(),
    );
    tidepool_store::value::json::write_item(&mut out, keys);
    if let Some(n) = new {
        out.extend_from_slice(b",\"NewImage\":");
        tidepool_store::value::json::write_item(&mut out, n);
    }
    if let Some(o) = old {
        out.extend_from_slice(b",\"OldImage\":");
        tidepool_store::value::json::write_item(&mut out, o);
    }
    out.extend_from_slice(b"}\n");
    out
}

fn md5_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5::compute(bytes).0)
}

/// Finishes a data file (fsynced); its key, count, MD5 (base64) and ETag.
fn close(f: DataFile) -> Result<(String, u64, String, String), String> {
    let out = f.gz.finish().map_err(io_err)?;
    out.file.sync_all().map_err(io_err)?;
    let digest = out.md5.compute();
    Ok((f.key, f.items, base64::engine::general_purpose::STANDARD.encode(digest.0), format!("{digest:x}")))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io_err)?;
    f.write_all(bytes).map_err(io_err)?;
    f.sync_all().map_err(io_err)?;
    std::fs::rename(&tmp, path).map_err(io_err)
}

pub fn describe_export(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let arn = r.str("ExportArn")?;
    super::backup::check_length("exportArn", arn, 37, 1024)?;
    Ok(json!({"ExportDescription": app.export_description(&app.export_of(arn)?)}))
}

pub fn list_exports(app: &App, r: Req<'_>) -> ApiResult<Json> {
    // The table as it is now: an export of a table since deleted (or of
    // another table of the same name) is not listed (DDB-EXPORT-020).
    let table = match r.str_opt("TableArn")? {
        Some(arn) => Some(app.store.table(table_of_arn(arn)?).ok().map(|t| t.def.id)),
        None => None,
    };
    let limit = r.int_opt("MaxResults")?.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::validation(if limit < 1 {
            messages::export::max_results_too_small(limit, 1)
        } else {
            messages::export::max_results_too_large(limit, MAX_PAGE)
        }));
    }
    let mut all: Vec<ExportRecord> =
        records(app)?.into_iter().filter(|e| table.is_none_or(|t| t == Some(e.table_internal))).collect();
    // Newest first, as DynamoDB lists them (DDB-IMPORT-016).
    all.sort_by(|a, b| b.id.cmp(&a.id));
    let (page, more) = page(&all, next_token(&r)?, limit as usize, |e| &e.id);
    let summaries: Vec<Json> = page
        .iter()
        .map(|e| json!({"ExportArn": app.export_arn(e), "ExportStatus": e.status, "ExportType": e.export_type}))
        .collect();
    let mut out = json!({"ExportSummaries": summaries});
    if more && let Some(last) = page.last() {
        out["NextToken"] = json!(last.id);
    }
    Ok(out)
}

/// At start: an export a restart interrupted is `FAILED` (its files stay,
/// without a summary).
pub fn fail_interrupted(app: &Arc<App>) {
    let Ok(all) = records(app) else { return };
    for mut e in all.into_iter().filter(|e| e.status == "IN_PROGRESS") {
        e.status = "FAILED".into();
        e.failure_code = Some("UNKNOWN".into());
        e.failure_message = Some("The export was interrupted by a restart of the server".into());
        e.end = Some(now());
        if let Err(err) = save(app, &e) {
            tracing::error!(export = %e.id, error = ?err.message, "recording an interrupted export failed");
        }
    }
}
