//! ImportTable, DescribeImport and ListImports: a new table filled from
//! files in a "bucket" (a directory under `--s3-dir`), in DynamoDB's import
//! formats: `DYNAMODB_JSON` (a line `{"Item": {...}}` per item, as an export
//! writes them), `ION` (`{Item:{...}}` values) and `CSV` (a header row, or
//! `HeaderList`; key attributes take their declared types, every other cell
//! is a string), each uncompressed, gzip or zstd. Every object whose key
//! starts with `S3KeyPrefix` is read, in key order.
//!
//! The table is `CREATING` while it loads. An item DynamoDB would refuse
//! (a missing or mistyped key, over 400 KB) is counted in `ErrorCount` and
//! skipped; a DynamoDB JSON line that does not parse is counted and ends
//! its file's read;
//! a file its compression does not fit is one error; the good ones are
//! imported, and the import ends `FAILED` (`ItemValidationError`) with its
//! table kept, as on DynamoDB. No object under the prefix is an empty
//! table; no bucket is `S3NoSuchBucket` and no table. An import a restart
//! interrupted is `FAILED` and its table removed (unless the restart came
//! after the table was made).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use tidepool_store::messages;
use tidepool_store::table::TableDef;
use tidepool_store::value::{Item, MAX_ITEM_SIZE, Value, item_size};

use super::App;
use super::error::{ApiError, ApiResult};
use super::export::{
    MAX_PAGE, Slot, bucket_dir, load_records, new_id, now, page, record_by_arn, safe_prefix, save_record,
};
use super::request::Req;

/// The longest line read (an item is at most 400 KB; its JSON with
/// escapes and base64 stays well under this).
const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;
/// Objects an import reads at most.
const MAX_OBJECTS: usize = 50_000;

const PREFIX: &str = "imp/";

/// An import as kept in the store's system entries (`imp/<id>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportRecord {
    pub id: String,
    pub table: String,
    pub table_id: String,
    /// IN_PROGRESS, COMPLETED or FAILED.
    pub status: String,
    pub bucket: String,
    pub prefix: Option<String>,
    pub bucket_owner: Option<String>,
    pub format: String,
    pub format_options: Option<Json>,
    pub compression: String,
    pub creation: Json,
    pub start: f64,
    pub end: Option<f64>,
    pub processed_bytes: u64,
    pub processed_items: u64,
    pub imported_items: u64,
    pub errors: u64,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub client_token: Option<String>,
}

fn records(app: &App) -> ApiResult<Vec<ImportRecord>> {
    load_records(app, PREFIX)
}

fn save(store: &tidepool_store::Store, r: &ImportRecord) -> ApiResult<()> {
    save_record(store, PREFIX, &r.id, r)
}

impl App {
    fn import_arn(&self, r: &ImportRecord) -> String {
        format!("{}/import/{}", self.table_arn(&r.table), r.id)
    }

    fn source_json(r: &ImportRecord) -> Json {
        let mut s = Map::new();
        s.insert("S3Bucket".into(), json!(r.bucket));
        // The bucket's owner, this account unless the request named
        // another, as the live service back-fills it (DDB-IMPORT-003).
        s.insert("S3BucketOwner".into(), json!(r.bucket_owner.as_deref().unwrap_or(super::ACCOUNT_ID)));
        if let Some(p) = &r.prefix {
            s.insert("S3KeyPrefix".into(), json!(p));
        }
        Json::Object(s)
    }

    fn import_description(&self, r: &ImportRecord) -> Json {
        let mut d = Map::new();
        d.insert("ImportArn".into(), json!(self.import_arn(r)));
        d.insert("ImportStatus".into(), json!(r.status));
        d.insert("TableArn".into(), json!(self.table_arn(&r.table)));
        d.insert("TableId".into(), json!(r.table_id));
        if let Some(t) = &r.client_token {
            d.insert("ClientToken".into(), json!(t));
        }
        d.insert("S3BucketSource".into(), App::source_json(r));
        d.insert("ErrorCount".into(), json!(r.errors));
        d.insert(
            "CloudWatchLogGroupArn".into(),
            json!(format!("arn:aws:logs:{}:{}:log-group:/aws-dynamodb/imports:*", self.region, super::ACCOUNT_ID)),
        );
        d.insert("InputFormat".into(), json!(r.format));
        if let Some(o) = &r.format_options {
            d.insert("InputFormatOptions".into(), o.clone());
        }
        d.insert("InputCompressionType".into(), json!(r.compression));
        d.insert("TableCreationParameters".into(), r.creation.clone());
        d.insert("StartTime".into(), json!(r.start));
        if let Some(e) = r.end {
            d.insert("EndTime".into(), json!(e));
        }
        d.insert("ProcessedSizeBytes".into(), json!(r.processed_bytes));
        d.insert("ProcessedItemCount".into(), json!(r.processed_items));
        d.insert("ImportedItemCount".into(), json!(r.imported_items));
        if let Some(c) = &r.failure_code {
            d.insert("FailureCode".into(), json!(c));
        }
        if let Some(m) = &r.failure_message {
            d.insert("FailureMessage".into(), json!(m));
        }
        Json::Object(d)
    }

    fn import_of(&self, arn: &str) -> ApiResult<ImportRecord> {
        record_by_arn(self, PREFIX, arn, "import", "ImportNotFoundException", |r| self.import_arn(r))
    }
}

/// How a line becomes an item.
#[derive(Clone)]
enum Format {
    DynamoJson,
    Ion,
    Csv { delimiter: char, header: Option<Vec<String>> },
}

/// Serialises the start of imports made with a `ClientToken`: the check
/// for an import under the token and the record of a new one.
static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn import_table(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let source =
        r.obj_opt("S3BucketSource")?.ok_or_else(|| ApiError::validation(messages::export::S3_BUCKET_SOURCE_NULL))?;
    let bucket = source.str("S3Bucket")?.to_string();
    let dir = bucket_dir(app, &bucket, "s3BucketSource.s3Bucket")?;
    let prefix = source.str_opt("S3KeyPrefix")?.map(str::to_string);
    if let Some(p) = &prefix {
        safe_prefix(p)?;
    }
    let bucket_owner = super::export::bucket_owner(&source, "s3BucketSource.s3BucketOwner")?;
    let format_name = r
        .enum_opt("InputFormat", &["DYNAMODB_JSON", "ION", "CSV"])?
        .ok_or_else(|| ApiError::validation(messages::export::INPUT_FORMAT_NULL))?;
    // In the order the live service lists them in its refusal
    // (DDB-IMPORT-009).
    let compression = r.enum_opt("InputCompressionType", &["ZSTD", "NONE", "GZIP"])?.unwrap_or("NONE").to_string();
    let options = r.obj_opt("InputFormatOptions")?;
    let format = match format_name {
        "DYNAMODB_JSON" => Format::DynamoJson,
        "ION" => Format::Ion,
        _ => {
            let csv = options.as_ref().map(|o| o.obj_opt("Csv")).transpose()?.flatten();
            let delimiter = match csv.as_ref().map(|c| c.str_opt("Delimiter")).transpose()?.flatten() {
                None => ',',
                Some(d) if d.chars().count() == 1 && matches!(d, "," | "\t" | ":" | ";" | "|" | " ") => {
                    d.chars().next().expect("one character")
                }
                Some(d) => {
                    return Err(ApiError::validation(messages::export::csv_delimiter_not_in_set(d)));
                }
            };
            let header = csv.as_ref().map(|c| c.strings("HeaderList")).transpose()?.flatten();
            Format::Csv { delimiter, header }
        }
    };
    if !matches!(format, Format::Csv { .. }) && options.is_some_and(|o| o.get("Csv").is_some()) {
        return Err(ApiError::validation(messages::export::unsupported_format_options(format_name)));
    }
    let creation = r
        .obj_opt("TableCreationParameters")?
        .ok_or_else(|| ApiError::validation(messages::export::TABLE_CREATION_PARAMETERS_NULL))?;
    let creation_json = Json::Object(creation.0.clone());
    let input = super::control::create_table_input(app, creation)?;
    let token = r.str_opt("ClientToken")?.map(str::to_string);
    // Two requests under one token take turns: the second finds the
    // first's import (and answers with it) instead of starting another.
    let _starting = token.is_some().then(|| STARTING.lock().unwrap_or_else(|p| p.into_inner()));
    if let Some(t) = &token
        && let Some(existing) = records(app)?.into_iter().find(|e| {
            e.client_token.as_deref() == Some(t.as_str())
                && e.end.is_none_or(|end| super::export::now() - end < super::export::CLIENT_TOKEN_SECS)
        })
    {
        // As DynamoDB answers (the live service, DDB-IMPORT-017): once the
        // import has ended, the same request finds a table of the name in
        // use (one being made or restored too); otherwise the token names
        // the import, another import under it is a conflict, and a changed
        // key prefix is ignored.
        if existing.status != "IN_PROGRESS"
            && existing.prefix == prefix
            && app.store.describe_table(&input.name).is_ok()
        {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "ResourceInUseException",
                messages::table::table_already_exists(&input.name),
            ));
        }
        let same = existing.creation == creation_json
            && existing.bucket == bucket
            && existing.format == format_name
            && existing.compression == compression
            && existing.format_options == r.get("InputFormatOptions").filter(|v| !v.is_null()).cloned();
        if !same {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "ImportConflictException",
                messages::export::IMPORT_CONFLICT,
            ));
        }
        return Ok(json!({"ImportTableDescription": app.import_description(&existing)}));
    }
    let id = new_id();
    let slot = Slot::take("import")?;
    let load = app.store.begin_bulk_load(&id, input)?;
    let def = load.table().def.clone();
    let record = ImportRecord {
        id,
        table: def.name.clone(),
        table_id: def.table_id.clone(),
        status: "IN_PROGRESS".into(),
        bucket,
        prefix,
        bucket_owner,
        format: format_name.to_string(),
        format_options: r.get("InputFormatOptions").filter(|v| !v.is_null()).cloned(),
        compression,
        creation: creation_json,
        start: now(),
        end: None,
        processed_bytes: 0,
        processed_items: 0,
        imported_items: 0,
        errors: 0,
        failure_code: None,
        failure_message: None,
        client_token: token,
    };
    save(&app.store, &record)?;
    let store = app.store.clone();
    let mut running = record.clone();
    let metrics = app.metrics.clone();
    let spawned = std::thread::Builder::new().name("tidepool-import".into()).spawn(move || {
        let _slot = slot;
        let _hold = store.hold();
        let mut load = load;
        load.lower_priority();
        let tracked = store.track(&running.id, 0, 0);
        let outcome = match &dir {
            Some(dir) => run_import(dir, &def, &format, &mut running, &mut load, &tracked.progress),
            None => Err(super::export::no_such_bucket()),
        };
        drop(tracked);
        match outcome {
            Ok(()) => match load.finish() {
                Ok(stats) => {
                    running.imported_items = stats.items;
                    metrics.moved(&running.table, crate::metrics::Moved::Imported, running.processed_bytes);
                    // Any refused line fails the import, yet the table
                    // stays with the items that were good (DynamoDB's
                    // answer, as the live service records it).
                    if running.errors > 0 {
                        running.status = "FAILED".into();
                        running.failure_code = Some("ItemValidationError".into());
                        running.failure_message = Some(messages::export::ITEM_VALIDATION_ERROR.into());
                    } else {
                        running.status = "COMPLETED".into();
                    }
                }
                Err(e) => {
                    running.status = "FAILED".into();
                    running.failure_code = Some("InternalServerError".into());
                    running.failure_message = Some(e.to_string());
                }
            },
            Err((code, message)) => {
                // Dropping the load removes the table.
                drop(load);
                tracing::warn!(import = %running.id, %code, %message, "import failed");
                running.status = "FAILED".into();
                running.failure_code = Some(code);
                running.failure_message = Some(message);
            }
        }
        running.end = Some(now());
        if let Err(e) = save(&store, &running) {
            tracing::error!(import = %running.id, error = ?e.message, "recording an import's end failed");
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start an import thread");
        // The load went with the closure: its table is removed.
        let mut failed = record.clone();
        failed.status = "FAILED".into();
        failed.failure_code = Some("InternalServerError".into());
        failed.failure_message = Some("The import could not start".into());
        failed.end = Some(now());
        save(&app.store, &failed)?;
        return Ok(json!({"ImportTableDescription": app.import_description(&failed)}));
    }
    // `IN_PROGRESS`, as DynamoDB always answers, however small the import.
    tracing::info!(table = %record.table, import = %record.id, "import started");
    Ok(json!({"ImportTableDescription": app.import_description(&record)}))
}

/// Every file under `bucket` whose key starts with `prefix`, in key order.
fn objects(bucket: &Path, prefix: &str) -> Result<Vec<(String, PathBuf)>, (String, String)> {
    /// Files whose key starts with `prefix`, descending only into
    /// directories that can hold such keys; stops past [`MAX_OBJECTS`].
    fn walk(dir: &Path, rel: &str, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let key = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let kind = e.file_type()?;
            if kind.is_dir() {
                let as_dir = format!("{key}/");
                if as_dir.starts_with(prefix) || prefix.starts_with(&as_dir) {
                    walk(&e.path(), &key, prefix, out)?;
                }
            } else if kind.is_file() && key.starts_with(prefix) {
                out.push((key, e.path()));
            }
            if out.len() > MAX_OBJECTS {
                return Ok(());
            }
        }
        Ok(())
    }
    if !bucket.is_dir() {
        return Err(super::export::no_such_bucket());
    }
    let mut found = Vec::new();
    walk(bucket, "", prefix, &mut found).map_err(|e| ("S3AccessDenied".to_string(), e.to_string()))?;
    found.sort();
    if found.len() > MAX_OBJECTS {
        return Err(("ValidationError".into(), format!("More than {MAX_OBJECTS} objects match the prefix; narrow it")));
    }
    Ok(found)
}

/// Items parsed and sent to the writer at a time, at most.
const PIPELINE_BATCH: usize = 512;
/// A batch is sent once its lines add up to this many bytes, whatever its
/// count: items of 400 KB make batches of three.
const PIPELINE_BATCH_BYTES: usize = 1024 * 1024;
/// Batches in flight between the parser and the writer: with the one being
/// filled and the one being written, about 6 MiB of items at most.
const PIPELINE_DEPTH: usize = 4;
/// How often the writer, waiting for a batch, checks whether the store is
/// closing.
const CLOSING_POLL: Duration = Duration::from_millis(100);

/// What the parser counted: bytes and lines read, lines that did not parse.
#[derive(Default)]
struct Parsed {
    bytes: u64,
    items: u64,
    errors: u64,
}

/// Reads every object into the table; counts what was processed and what
/// failed. `Err((code, message))` fails the whole import.
///
/// Two threads: this one's helper reads, decompresses and parses the
/// objects, and this one checks and writes the items, in batches through a
/// bounded channel. Parsing and writing each take about half of an item's
/// cost, so the pipeline nearly doubles an import's rate on two cores.
fn run_import(
    bucket: &Path,
    def: &TableDef,
    format: &Format,
    r: &mut ImportRecord,
    load: &mut tidepool_store::backup::BulkLoad,
    progress: &tidepool_store::backup::Progress,
) -> Result<(), (String, String)> {
    let prefix = r.prefix.clone().unwrap_or_default();
    let found = objects(bucket, &prefix)?;
    let total: u64 = found.iter().filter_map(|(_, p)| p.metadata().ok()).map(|m| m.len()).sum();
    progress.total_bytes.store(total, std::sync::atomic::Ordering::Relaxed);
    // No object under the prefix is an empty table, as on DynamoDB.
    if found.is_empty() {
        return Ok(());
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Pending>>(PIPELINE_DEPTH);
    let compression = r.compression.clone();
    let id = r.id.clone();
    // Set by the writer when it stops early: the parser stops at its next
    // line.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut counts = Parsed::default();
    let outcome = std::thread::scope(|scope| {
        let (stop, counts) = (&stop, &mut counts);
        let parser = std::thread::Builder::new().name("tidepool-import-parse".into()).spawn_scoped(scope, move || {
            tidepool_store::lower_this_thread();
            parse_objects(found, def, format, &compression, &id, counts, progress, &tx, stop)
        });
        let parser = match parser {
            Ok(p) => p,
            Err(e) => {
                return Err(("InternalServerError".to_string(), format!("could not start the import's parser: {e}")));
            }
        };
        let mut written: Result<(), (String, String)> = Ok(());
        loop {
            let batch = match rx.recv_timeout(CLOSING_POLL) {
                Ok(batch) => batch,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Vec::new(),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            };
            for pending in batch {
                let item = match pending {
                    Pending::Item(item) => item,
                    // DynamoDB JSON is turned into an item here, on the
                    // writer's core: parsing the line is the larger half.
                    Pending::Json(json) => match super::attr::item_from_json(&json) {
                        Ok(item) if acceptable(def, &item) => item,
                        _ => {
                            r.errors += 1;
                            continue;
                        }
                    },
                };
                if let Err(e) = load.put(&item).map_err(|e| ("InternalServerError".to_string(), e.to_string())) {
                    written = Err(e);
                    break;
                }
            }
            if written.is_ok() && load.closing() {
                written = Err(("InternalServerError".into(), "The server stopped during the import".into()));
            }
            if written.is_err() {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                break;
            }
        }
        // The parser stops at its next line, or its next send once the
        // receiver is gone.
        drop(rx);
        let parsed =
            parser.join().unwrap_or_else(|_| Err(("InternalServerError".into(), "the import's parser failed".into())));
        written.and(parsed)
    });
    r.processed_bytes += counts.bytes;
    r.processed_items += counts.items;
    r.errors += counts.errors;
    outcome
}

/// Reads, decompresses and parses `found` objects, sending their items to
/// the writer in batches; returns early, with `Ok`, when the writer has
/// stopped.
#[allow(clippy::too_many_arguments)]
fn parse_objects(
    found: Vec<(String, PathBuf)>,
    def: &TableDef,
    format: &Format,
    compression: &str,
    id: &str,
    r: &mut Parsed,
    progress: &tidepool_store::backup::Progress,
    tx: &std::sync::mpsc::SyncSender<Vec<Pending>>,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<(), (String, String)> {
    let mut batch: Vec<Pending> = Vec::with_capacity(PIPELINE_BATCH);
    let mut batch_bytes = 0usize;
    // Sends a full batch; `false` once the writer has stopped.
    let flush = |batch: &mut Vec<Pending>, batch_bytes: &mut usize| -> bool {
        *batch_bytes = 0;
        let full = std::mem::replace(batch, Vec::with_capacity(PIPELINE_BATCH));
        full.is_empty() || tx.send(full).is_ok()
    };
    // An item DynamoDB would refuse (a missing or mistyped key, over 400
    // KB) is counted here and never sent.
    let take = |item: Item, r: &mut Parsed, batch: &mut Vec<Pending>| {
        if acceptable(def, &item) {
            batch.push(Pending::Item(item));
        } else {
            r.errors += 1;
        }
    };
    for (key, path) in found {
        // Progress counts the file's bytes as stored (compressed or not),
        // as they are read.
        let file = std::fs::File::open(&path).map_err(|e| ("S3AccessDenied".to_string(), format!("{key}: {e}")))?;
        let file = Counted { inner: file, progress };
        // A file that cannot be read as its compression says (a plain file
        // as GZIP, an export's manifest under the prefix) is one refused
        // item, and the import goes on with the next file, as DynamoDB's
        // (DDB-IMPORT-015, -020): the import ends FAILED
        // (ItemValidationError) with its table kept.
        let unreadable = |r: &mut Parsed, e: &dyn std::fmt::Display| {
            r.items += 1;
            r.errors += 1;
            tracing::debug!(import = %id, object = %key, error = %e, "an import object could not be read");
        };
        let reader: Box<dyn Read> = match compression {
            "GZIP" => Box::new(flate2::read::MultiGzDecoder::new(file)),
            "ZSTD" => match zstd::stream::read::Decoder::new(file) {
                Ok(d) => Box::new(d),
                Err(e) => {
                    unreadable(r, &e);
                    continue;
                }
            },
            _ => Box::new(file),
        };
        let mut lines = BufReader::with_capacity(1 << 20, reader);
        let mut header = match format {
            Format::Csv { header, .. } => header.clone(),
            _ => None,
        };
        let mut line = Vec::new();
        let mut ion = IonGather::default();
        // A CSV record whose quoted field goes on past its line (RFC 4180),
        // gathered until the quote closes.
        let mut csv = CsvGather::default();
        let mut pending: Option<Item> = None;
        let mut first_line = true;
        'lines: loop {
            line.clear();
            let (n, too_long) = match read_line(&mut lines, &mut line) {
                Ok(read) => read,
                Err(e) => {
                    unreadable(r, &e);
                    ion.clear();
                    csv.clear();
                    break 'lines;
                }
            };
            if n == 0 {
                break;
            }
            r.bytes += n as u64;
            batch_bytes += n;
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(());
            }
            if too_long {
                r.items += 1;
                r.errors += 1;
                ion.clear();
                csv.clear();
                continue;
            }
            let text = match std::str::from_utf8(&line) {
                // A file saved with a UTF-8 byte order mark (spreadsheets
                // export CSV so) begins with it: it is not part of the
                // first line's text (a CSV header's first name).
                Ok(t) if std::mem::take(&mut first_line) => {
                    t.trim_start_matches('\u{feff}').trim_end_matches(['\n', '\r'])
                }
                Ok(t) => t.trim_end_matches(['\n', '\r']),
                Err(_) => {
                    r.items += 1;
                    r.errors += 1;
                    csv.clear();
                    // In DynamoDB JSON, a line that does not parse: the
                    // rest of its file is not read (a compressed file read
                    // as plain is one error, whatever its bytes).
                    if matches!(format, Format::DynamoJson) {
                        break 'lines;
                    }
                    continue;
                }
            };
            // A CSV record is read once its quotes close: the lines of a
            // quoted field are gathered first, and past a line's length
            // skipped to the quote's end, one refused record.
            let joined;
            let text = match format {
                Format::Csv { delimiter, .. } if csv.open || CsvGather::ends_open(false, text, *delimiter) => {
                    csv.push(text, *delimiter);
                    if csv.open {
                        continue;
                    }
                    if std::mem::take(&mut csv.overflowed) {
                        csv.clear();
                        r.items += 1;
                        r.errors += 1;
                        continue;
                    }
                    joined = std::mem::take(&mut csv.text);
                    joined.as_str()
                }
                _ => text,
            };
            if text.trim().is_empty() {
                continue;
            }
            if let Format::DynamoJson = format {
                r.items += 1;
                progress.add(1, 0);
                // Most lines are read straight into an item here; the rest
                // as JSON, turned into an item on the writer's core.
                if let Some(item) = super::attr_text::export_line(text) {
                    take(item, r, &mut batch);
                } else {
                    match parse_json_line(text) {
                        Ok(json) => batch.push(Pending::Json(json)),
                        // A line that does not parse ends its file's read
                        // (the rest of the file is not processed), as
                        // DynamoDB's does (DDB-IMPORT-013); an item that
                        // parses and is refused does not.
                        Err(e) => {
                            r.errors += 1;
                            tracing::debug!(import = %id, object = %key, error = %e, "an import line does not parse: the rest of its object is skipped");
                            break 'lines;
                        }
                    }
                }
                if (batch.len() >= PIPELINE_BATCH || batch_bytes >= PIPELINE_BATCH_BYTES)
                    && !flush(&mut batch, &mut batch_bytes)
                {
                    return Ok(());
                }
                continue;
            }
            let parsed: Result<Option<Item>, String> = match format {
                Format::DynamoJson => unreachable!("DynamoDB JSON lines are read above"),
                Format::Ion => {
                    // Values may span lines: gather until the braces and
                    // brackets close, then read every value gathered.
                    ion.push(text);
                    if !ion.closed() {
                        if ion.text.len() > MAX_LINE_BYTES {
                            r.items += 1;
                            r.errors += 1;
                            ion.clear();
                        }
                        continue;
                    }
                    let values = parse_ion(&ion.text);
                    ion.clear();
                    match values {
                        Ok(items) if items.is_empty() => continue,
                        Ok(items) => {
                            let last = items.len() - 1;
                            for (n, item) in items.into_iter().enumerate() {
                                if n < last {
                                    r.items += 1;
                                    progress.add(1, 0);
                                    take(item, r, &mut batch);
                                } else {
                                    pending = Some(item);
                                }
                            }
                            Ok(pending.take())
                        }
                        Err(e) => Err(e),
                    }
                }
                Format::Csv { delimiter, .. } => match (split_csv(text, *delimiter), &header) {
                    (Ok(fields), None) => {
                        header = Some(fields);
                        continue;
                    }
                    (Ok(fields), Some(h)) => csv_item(h, &fields, def).map(Some),
                    (Err(e), _) => Err(e),
                },
            };
            r.items += 1;
            progress.add(1, 0);
            match parsed.and_then(|i| i.ok_or_else(|| "no item".to_string())) {
                Ok(item) => take(item, r, &mut batch),
                Err(e) => {
                    r.errors += 1;
                    tracing::debug!(import = %id, object = %key, error = %e, "an import line was refused");
                    continue;
                }
            }
            if (batch.len() >= PIPELINE_BATCH || batch_bytes >= PIPELINE_BATCH_BYTES)
                && !flush(&mut batch, &mut batch_bytes)
            {
                return Ok(());
            }
        }
        if !ion.text.trim().is_empty() || csv.open {
            r.items += 1;
            r.errors += 1;
        }
    }
    flush(&mut batch, &mut batch_bytes);
    Ok(())
}

/// A file whose bytes count toward an import's progress as they are read.
struct Counted<'a> {
    inner: std::fs::File,
    progress: &'a tidepool_store::backup::Progress,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add(0, n as u64);
        Ok(n)
    }
}

/// A CSV record gathered line by line until its quoted fields close,
/// reading each line once (RFC 4180 quoting, as [`split_csv`] reads it).
#[derive(Default)]
struct CsvGather {
    text: String,
    /// Inside a quoted field at the end of the text gathered.
    open: bool,
    /// The record outgrew a line's length: its text is dropped and its
    /// lines skipped until the quote closes.
    overflowed: bool,
}

impl CsvGather {
    /// The quoting state after `line`, from `open` at its start: a record
    /// whose first line ends open goes on on the next.
    fn ends_open(mut open: bool, line: &str, delimiter: char) -> bool {
        let mut field_start = !open;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (open, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                }
                (true, '"') => open = false,
                (true, _) => {}
                (false, '"') if field_start => open = true,
                (false, c) => field_start = c == delimiter,
            }
            if open {
                field_start = false;
            }
        }
        open
    }

    fn push(&mut self, line: &str, delimiter: char) {
        if !self.overflowed {
            if !self.text.is_empty() || self.open {
                self.text.push('\n');
            }
            self.text.push_str(line);
            if self.text.len() > MAX_LINE_BYTES {
                self.overflowed = true;
                self.text = String::new();
            }
        }
        self.open = Self::ends_open(self.open, line, delimiter);
    }

    fn clear(&mut self) {
        *self = CsvGather::default();
    }
}

/// Ion text gathered line by line until its braces and brackets close
/// (tracked as lines arrive, outside strings and blobs).
#[derive(Default)]
struct IonGather {
    text: String,
    depth: i64,
    in_string: bool,
    escaped: bool,
}

impl IonGather {
    fn push(&mut self, line: &str) {
        for c in line.chars() {
            if self.in_string {
                match (self.escaped, c) {
                    (true, _) => self.escaped = false,
                    (false, '\\') => self.escaped = true,
                    (false, '"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => self.in_string = true,
                '{' | '[' | '(' => self.depth += 1,
                '}' | ']' | ')' => self.depth -= 1,
                _ => {}
            }
        }
        self.text.push_str(line);
        self.text.push('\n');
    }

    fn closed(&self) -> bool {
        self.depth <= 0 && !self.in_string
    }

    fn clear(&mut self) {
        *self = IonGather::default();
    }
}

/// One line (up to `\n`): its length read, and whether it was longer than
/// [`MAX_LINE_BYTES`] (then `out` holds none of it).
fn read_line(r: &mut impl BufRead, out: &mut Vec<u8>) -> std::io::Result<(usize, bool)> {
    let (mut total, mut too_long) = (0, false);
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok((total, too_long));
        }
        let (take, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if !too_long && out.len() + take <= MAX_LINE_BYTES {
            out.extend_from_slice(&buf[..take]);
        } else {
            too_long = true;
            out.clear();
        }
        r.consume(take);
        total += take;
        if done {
            return Ok((total, too_long));
        }
    }
}

/// The `Item` of a DynamoDB JSON line, still as JSON.
fn parse_json_line(text: &str) -> Result<Json, String> {
    let mut v: Json = serde_json::from_str(text).map_err(|e| e.to_string())?;
    v.as_object_mut().and_then(|o| o.remove("Item")).ok_or_else(|| "a line without \"Item\"".to_string())
}

/// What the parser hands the writer: an item, or a DynamoDB JSON item the
/// writer turns into one.
enum Pending {
    Item(Item),
    Json(Json),
}

/// Whether DynamoDB would take `item` into `def`'s table: its key present
/// and typed, at most 400 KB.
fn acceptable(def: &TableDef, item: &Item) -> bool {
    def.check_key_attrs(item, false).is_ok() && item_size(item) <= MAX_ITEM_SIZE
}

/// The items of the Ion values in `text` (each `{Item:{...}}`), each
/// checked as DynamoDB checks a DynamoDB JSON item (non-empty sets, 32
/// levels of nesting). A version marker alone is no item.
fn parse_ion(text: &str) -> Result<Vec<Item>, String> {
    let mut reader = super::ion::Reader::new(text);
    let mut items = Vec::new();
    while let Some(top) = reader.next_value()? {
        let super::ion::Ion::Struct(fields) = top else { return Err("a top-level value that is not a struct".into()) };
        let Some((_, item)) = fields.into_iter().find(|(k, _)| k == "Item") else {
            return Err("a value without Item".into());
        };
        let Value::M(m) = super::ion::to_value(item)? else { return Err("Item is not a struct".into()) };
        let checked = super::attr::item_from_json(&super::attr::item_to_json(&m)).map_err(|e| e.message)?;
        items.push(checked);
    }
    Ok(items)
}

/// A CSV record's fields (RFC 4180 quoting, with `delimiter`; a quoted
/// field may hold line breaks); a quote left open is an error, which the
/// reader takes as the record going on on the next line.
fn split_csv(line: &str, delimiter: char) -> Result<Vec<String>, String> {
    Ok(crate::lambda::seed::csv_rows(line, delimiter)?.into_iter().next().unwrap_or_default())
}

/// A CSV row as an item: key attributes in their declared types, every
/// other non-empty cell a string (DynamoDB's CSV import).
fn csv_item(header: &[String], fields: &[String], def: &TableDef) -> Result<Item, String> {
    if fields.len() > header.len() {
        return Err(format!("a row of {} fields under a header of {}", fields.len(), header.len()));
    }
    let mut item = Item::new();
    for (name, cell) in header.iter().zip(fields) {
        if cell.is_empty() {
            continue;
        }
        let value = match def.attribute_definitions.iter().find(|a| &a.name == name).map(|a| a.ty.as_str()) {
            Some("N") => Value::N(cell.parse().map_err(|_| format!("'{cell}' is not a number for key {name}"))?),
            Some("B") => Value::B(
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, cell)
                    .map_err(|_| format!("'{cell}' is not base64 for key {name}"))?,
            ),
            _ => Value::S(cell.clone()),
        };
        item.insert(name.clone(), value);
    }
    Ok(item)
}

pub fn describe_import(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let arn = r.str("ImportArn")?;
    super::backup::check_length("importArn", arn, 37, 1024)?;
    Ok(json!({"ImportTableDescription": app.import_description(&app.import_of(arn)?)}))
}

pub fn list_imports(app: &App, r: Req<'_>) -> ApiResult<Json> {
    let table = r.str_opt("TableArn")?.map(str::to_string);
    let limit = r.int_opt("PageSize")?.unwrap_or(super::export::DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::validation(if limit < 1 {
            messages::export::page_size_too_small(limit, 1)
        } else {
            messages::export::page_size_too_large(limit, MAX_PAGE)
        }));
    }
    let mut all: Vec<ImportRecord> =
        records(app)?.into_iter().filter(|e| table.as_ref().is_none_or(|t| &app.table_arn(&e.table) == t)).collect();
    // Newest first, as DynamoDB lists them (DDB-IMPORT-016).
    all.sort_by(|a, b| b.id.cmp(&a.id));
    let after = import_token_id(&r)?;
    let (page, more) = page(&all, after.as_deref(), limit as usize, |e| &e.id);
    let list: Vec<Json> = page
        .iter()
        .map(|e| {
            let mut o = Map::new();
            o.insert("ImportArn".into(), json!(app.import_arn(e)));
            o.insert("ImportStatus".into(), json!(e.status));
            o.insert("TableArn".into(), json!(app.table_arn(&e.table)));
            o.insert("S3BucketSource".into(), App::source_json(e));
            o.insert(
                "CloudWatchLogGroupArn".into(),
                json!(format!("arn:aws:logs:{}:{}:log-group:/aws-dynamodb/imports:*", app.region, super::ACCOUNT_ID)),
            );
            o.insert("InputFormat".into(), json!(e.format));
            o.insert("StartTime".into(), json!(e.start));
            if let Some(end) = e.end {
                o.insert("EndTime".into(), json!(end));
            }
            Json::Object(o)
        })
        .collect();
    let mut out = json!({"ImportSummaryList": list});
    if more && let Some(last) = page.last() {
        out["NextToken"] = json!(import_token(&last.id));
    }
    Ok(out)
}

/// The shortest NextToken of ListImports: DynamoDB's model has 112 to 1,024
/// characters of `([0-9a-f]{16})+`, and the SDKs check a token against it
/// before they send it back.
const MIN_IMPORT_TOKEN_CHARS: usize = 112;

/// ListImports' NextToken for the page after import `id`: the id's length
/// (16 hex digits), the id in hex, then `0`s to a whole number of 16-digit
/// groups and at least [`MIN_IMPORT_TOKEN_CHARS`].
fn import_token(id: &str) -> String {
    let mut t = format!("{:016x}", id.len());
    for b in id.bytes() {
        t.push_str(&format!("{b:02x}"));
    }
    while t.len() < MIN_IMPORT_TOKEN_CHARS || !t.len().is_multiple_of(16) {
        t.push('0');
    }
    t
}

/// The import id a ListImports NextToken ([`import_token`]) continues
/// after; a token of another form is refused as DynamoDB refuses it.
fn import_token_id(r: &Req<'_>) -> ApiResult<Option<String>> {
    let Some(token) = r.str_opt("NextToken")? else { return Ok(None) };
    let invalid = || ApiError::validation(messages::export::invalid_next_token(token));
    let hex = |s: &str| u64::from_str_radix(s, 16).ok();
    if !(MIN_IMPORT_TOKEN_CHARS..=1024).contains(&token.len())
        || !token.len().is_multiple_of(16)
        || !token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(invalid());
    }
    // At most what the token holds (a length near u64::MAX is no length).
    let len = hex(&token[..16]).filter(|&n| n <= (token.len() as u64 - 16) / 2).ok_or_else(invalid)? as usize;
    let body = token.get(16..16 + 2 * len).ok_or_else(invalid)?;
    let bytes: Option<Vec<u8>> = (0..len).map(|i| hex(&body[2 * i..2 * i + 2]).map(|b| b as u8)).collect();
    let id = bytes.and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid)?;
    if !super::export::is_job_id(&id) {
        return Err(invalid());
    }
    Ok(Some(id))
}

/// At start: an import a restart interrupted is `FAILED` (the store has
/// removed its table).
pub fn fail_interrupted(app: &Arc<App>) {
    let Ok(all) = records(app) else { return };
    for mut e in all.into_iter().filter(|e| e.status == "IN_PROGRESS") {
        e.status = "FAILED".into();
        e.failure_code = Some("InternalServerError".into());
        // A restart between the table's completion and the import's record
        // leaves the table whole; otherwise the store removed it.
        let kept = app.store.describe_table(&e.table).is_ok_and(|t| t.def.table_id == e.table_id && !t.is_importing());
        e.failure_message = Some(if kept {
            format!(
                "The import was interrupted by a restart of the server after table {} was made; it holds the imported items",
                e.table
            )
        } else {
            "The import was interrupted by a restart of the server".into()
        });
        e.end = Some(now());
        if let Err(err) = save(&app.store, &e) {
            tracing::error!(import = %e.id, error = ?err.message, "recording an interrupted import failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_imports_tokens_have_the_models_form_and_round_trip() {
        let id = "01796624501059-a1248012";
        let token = import_token(id);
        assert!(token.len() >= MIN_IMPORT_TOKEN_CHARS && token.len().is_multiple_of(16), "{token}");
        assert!(token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{token}");
        let body = serde_json::json!({"NextToken": token});
        let Json::Object(m) = body else { unreachable!() };
        assert_eq!(import_token_id(&Req(&m)).unwrap().as_deref(), Some(id));
        for bad in ["deadbeef", &"0".repeat(112), &"f".repeat(112), &format!("{}x", &token[..token.len() - 1])] {
            let body = serde_json::json!({"NextToken": bad});
            let Json::Object(m) = body else { unreachable!() };
            assert!(import_token_id(&Req(&m)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_csv_record_is_gathered_until_its_quotes_close() {
        let open = |line: &str| CsvGather::ends_open(false, line, ',');
        assert!(!open("a,b,c"));
        assert!(open("a,\"b"));
        assert!(!open("a,\"b\"\"\",c"), "a doubled quote inside stays inside");
        assert!(!open("a,b\"c"), "a quote inside an unquoted field is a character");
        assert!(open("a,\"x\"\""), "an escaped quote at the end leaves it open");
        let mut g = CsvGather::default();
        g.push("k,\"one", ',');
        assert!(g.open);
        g.push("", ',');
        g.push("two\",3", ',');
        assert!(!g.open);
        assert_eq!(split_csv(&g.text, ',').unwrap(), vec!["k", "one\n\ntwo", "3"]);
    }

    #[test]
    fn csv_fields_follow_rfc_4180_with_any_delimiter() {
        assert_eq!(split_csv("a,\"b, c\",\"say \"\"hi\"\"\",", ',').unwrap(), vec!["a", "b, c", "say \"hi\"", ""]);
        assert_eq!(split_csv("a|b", '|').unwrap(), vec!["a", "b"]);
        assert!(split_csv("a,\"open", ',').is_err());
    }

    #[test]
    fn ion_values_may_span_lines() {
        let mut g = IonGather::default();
        g.push("$ion_1_0 {Item:{a:\"}\",");
        assert!(!g.closed());
        g.push("b:1.}}");
        assert!(g.closed());
        assert_eq!(parse_ion(&g.text).unwrap().len(), 1);
        assert!(parse_ion("$ion_1_0").unwrap().is_empty());
        assert!(parse_ion("{Item:{s:$dynamodb_SS::[]}}").is_err());
    }
}
