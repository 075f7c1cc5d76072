//! The data-protection commands of the CLI: `tidepool backup`, `restore`,
//! `export` and `import`, each a client of a running server's DynamoDB API
//! (the same calls the AWS CLI makes) with a progress bar fed by
//! `GET /tidepool/progress/{id}`: items, bytes, rate and the time left.

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::cli::{Endpoint, request};

/// How long one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// How often progress is polled.
const POLL: Duration = Duration::from_millis(200);
/// How often a progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// A DynamoDB API call; its JSON answer, or the error as DynamoDB names it.
async fn ddb(endpoint: &Endpoint, op: &str, body: Value) -> anyhow::Result<Value> {
    let target = format!("DynamoDB_20120810.{op}");
    let headers = [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", target.as_str())];
    let r = request(endpoint, "POST", "/", &headers, body.to_string().as_bytes(), CALL_TIMEOUT).await?;
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    if r.status != 200 {
        let kind = v["__type"].as_str().unwrap_or("Error").rsplit('#').next().unwrap_or("Error").to_string();
        let message = v["message"].as_str().or(v["Message"].as_str()).unwrap_or("").to_string();
        bail!("{op}: {kind}: {message}");
    }
    Ok(v)
}

/// A job's progress, if it is still running.
async fn progress(endpoint: &Endpoint, id: &str) -> Option<Value> {
    let r = request(endpoint, "GET", &format!("/tidepool/progress/{id}"), &[], b"", CALL_TIMEOUT).await.ok()?;
    (r.status == 200).then(|| serde_json::from_slice(&r.body).ok()).flatten()
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Draws progress bars on stderr: one line redrawn on a terminal, a line
/// every few seconds otherwise.
struct Bar {
    started: Instant,
    last_plain: Instant,
    terminal: bool,
    drawn: bool,
}

impl Bar {
    fn new() -> Bar {
        Bar {
            started: Instant::now(),
            last_plain: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    /// Shows `p` (`Items`, `Bytes`, `TotalItems`, `TotalBytes`); `by_bytes`
    /// measures the fraction done in bytes (an import reads files).
    fn show(&mut self, what: &str, p: &Value, by_bytes: bool) {
        let n = |k: &str| p[k].as_u64().unwrap_or(0);
        let (items, bytes, total_items, total_bytes) = (n("Items"), n("Bytes"), n("TotalItems"), n("TotalBytes"));
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let (done, total) = if by_bytes { (bytes, total_bytes) } else { (items, total_items) };
        let fraction = if total > 0 { (done as f64 / total as f64).min(1.0) } else { 0.0 };
        let width = 24;
        let filled = (fraction * width as f64) as usize;
        let bar = format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled));
        let left = if fraction > 0.0 && fraction < 1.0 {
            format!("  about {:.0} s left", secs * (1.0 - fraction) / fraction)
        } else {
            String::new()
        };
        let of = if total_items > 0 && !by_bytes { format!(" of {}", thousands(total_items)) } else { String::new() };
        let size =
            if by_bytes && total_bytes > 0 { format!("{} of {}", mb(bytes), mb(total_bytes)) } else { mb(bytes) };
        let line = format!(
            "{what} {bar} {:>3.0}%  {}{of} items  {size}  {} items/s{left}",
            fraction * 100.0,
            thousands(items),
            thousands((items as f64 / secs) as u64),
        );
        if self.terminal {
            eprint!("\r{line}\x1b[K");
            let _ = std::io::stderr().flush();
            self.drawn = true;
        } else if self.last_plain.elapsed() >= PLAIN_EVERY {
            eprintln!("{line}");
            self.last_plain = Instant::now();
        }
    }

    fn done(&self) {
        if self.drawn {
            eprintln!();
        }
    }

    fn elapsed(&self) -> String {
        format!("{:.1} s", self.started.elapsed().as_secs_f64())
    }
}

/// Polls `done` (the API's word on the job) and the job's progress until
/// `done` gives an answer.
async fn follow<F, Fut>(endpoint: &Endpoint, what: &str, id: &str, by_bytes: bool, mut done: F) -> anyhow::Result<Value>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<Value>>>,
{
    let mut bar = Bar::new();
    loop {
        if let Some(answer) = done().await? {
            bar.done();
            return Ok(answer);
        }
        if let Some(p) = progress(endpoint, id).await {
            bar.show(what, &p, by_bytes);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The most characters a backup's name has (CreateBackup's `BackupName`).
const MAX_BACKUP_NAME: usize = 255;

/// A backup's name when none is given: the table's name (of its ARN, when
/// named by one) and the time, within `BackupName`'s length.
fn default_backup_name(table: &str, stamp: &str) -> String {
    let name = table.rsplit_once(":table/").map_or(table, |(_, rest)| rest.split('/').next().unwrap_or(rest));
    let stamp = stamp.replace([':', '.'], "-");
    let room = MAX_BACKUP_NAME - stamp.len() - 1;
    let name: String = name.chars().take(room).collect();
    format!("{name}-{stamp}")
}

/// `tidepool backup <table> [--name N]`: CreateBackup, until `AVAILABLE`.
pub async fn backup(table: &str, name: Option<&str>, endpoint: &Endpoint) -> anyhow::Result<()> {
    let name = name.map(str::to_string).unwrap_or_else(|| {
        let stamp = tidepool_store::format_timestamp_millis(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        );
        default_backup_name(table, &stamp)
    });
    let bar = Bar::new();
    let out = ddb(endpoint, "CreateBackup", json!({"TableName": table, "BackupName": name})).await?;
    let arn = out["BackupDetails"]["BackupArn"].as_str().context("a backup ARN")?.to_string();
    let id = arn.rsplit('/').next().unwrap_or_default().to_string();
    let d = follow(endpoint, "backup", &id, false, || async {
        let d = ddb(endpoint, "DescribeBackup", json!({"BackupArn": arn})).await?;
        let status = d["BackupDescription"]["BackupDetails"]["BackupStatus"].clone();
        Ok((status == "AVAILABLE").then_some(d))
    })
    .await?;
    let source = &d["BackupDescription"]["SourceTableDetails"];
    println!(
        "backup {arn} AVAILABLE: {} items, {} in {}",
        thousands(source["ItemCount"].as_u64().unwrap_or(0)),
        mb(source["TableSizeBytes"].as_u64().unwrap_or(0)),
        bar.elapsed()
    );
    Ok(())
}

/// Epoch seconds from `1733338800.5`, `2026-12-04T19:00:00Z` (UTC) or
/// `2026-12-04T20:00:00+01:00` (an offset from UTC).
fn parse_time(text: &str) -> anyhow::Result<f64> {
    if let Ok(secs) = text.parse::<f64>() {
        return Ok(secs);
    }
    let t = text.trim_end_matches('Z');
    let (date, time) =
        t.split_once(['T', ' ']).with_context(|| format!("{text}: expected epoch seconds or YYYY-MM-DDThh:mm:ssZ"))?;
    // `+hh:mm`, `+hhmm` or `+hh` (or `-`) after the time: the seconds east
    // of UTC.
    let (time, offset) = match time.rfind(['+', '-']) {
        Some(at) => {
            let (zone, sign) = (&time[at + 1..], if time.as_bytes()[at] == b'-' { -1 } else { 1 });
            let digits = zone.replace(':', "");
            let bad = || anyhow::anyhow!("{text}: the offset from UTC is +hh:mm, +hhmm or +hh");
            if !(digits.len() == 2 || digits.len() == 4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let (h, m): (i64, i64) = (
                digits[..2].parse().map_err(|_| bad())?,
                digits.get(2..).filter(|m| !m.is_empty()).map_or(Ok(0), |m| m.parse().map_err(|_| bad()))?,
            );
            if h > 23 || m > 59 {
                return Err(bad());
            }
            (&time[..at], sign * (h * 3600 + m * 60))
        }
        None => (time, 0),
    };
    let d: Vec<i64> = date.split('-').map(str::parse).collect::<Result<_, _>>().context("the date")?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let h: Vec<i64> = hms.split(':').map(str::parse).collect::<Result<_, _>>().context("the time")?;
    if d.len() != 3 || h.len() != 3 || !(1..=12).contains(&d[1]) || !(1..=31).contains(&d[2]) {
        bail!("{text}: expected YYYY-MM-DDThh:mm:ssZ");
    }
    if !(0..24).contains(&h[0]) || !(0..60).contains(&h[1]) || !(0..61).contains(&h[2]) || d[0].abs() > 9999 {
        bail!("{text}: expected YYYY-MM-DDThh:mm:ssZ (a time of day, a year of four digits)");
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m, day) = (if d[1] <= 2 { d[0] - 1 } else { d[0] }, d[1], d[2]);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let frac: f64 = format!("0.{frac}").parse().unwrap_or(0.0);
    Ok((days * 86_400 + h[0] * 3600 + h[1] * 60 + h[2] - offset) as f64 + frac)
}

/// `tidepool restore <backup ARN | table> <target> [--time T]`: from a
/// backup, or a table's point in time (`--time`, else the latest).
pub async fn restore(source: &str, target: &str, time: Option<&str>, endpoint: &Endpoint) -> anyhow::Result<()> {
    let bar = Bar::new();
    if source.starts_with("arn:") && source.contains("/backup/") {
        if time.is_some() {
            bail!("--time restores a table to a point in time; a backup restores as it was taken");
        }
        ddb(endpoint, "RestoreTableFromBackup", json!({"TargetTableName": target, "BackupArn": source})).await?;
    } else {
        let mut body = json!({"TargetTableName": target});
        body[if source.starts_with("arn:") { "SourceTableArn" } else { "SourceTableName" }] = json!(source);
        match time {
            Some(t) => body["RestoreDateTime"] = json!(parse_time(t)?),
            None => body["UseLatestRestorableTime"] = json!(true),
        }
        ddb(endpoint, "RestoreTableToPointInTime", body).await?;
    }
    let d = follow(endpoint, "restore", &format!("restore:{target}"), false, || async {
        let d = ddb(endpoint, "DescribeTable", json!({"TableName": target})).await?;
        Ok((d["Table"]["TableStatus"] == "ACTIVE").then_some(d))
    })
    .await?;
    println!(
        "table {target} ACTIVE: {} items, {} in {}",
        thousands(d["Table"]["ItemCount"].as_u64().unwrap_or(0)),
        mb(d["Table"]["TableSizeBytes"].as_u64().unwrap_or(0)),
        bar.elapsed()
    );
    Ok(())
}

/// `tidepool export <table> --bucket B [--prefix P] [--format F] [--time T]`.
pub async fn export(
    table: &str,
    bucket: &str,
    prefix: Option<&str>,
    format: &str,
    time: Option<&str>,
    endpoint: &Endpoint,
) -> anyhow::Result<()> {
    let bar = Bar::new();
    let t = ddb(endpoint, "DescribeTable", json!({"TableName": table})).await?;
    make_bucket(bucket, endpoint).await?;
    let mut body = json!({"TableArn": t["Table"]["TableArn"], "S3Bucket": bucket, "ExportFormat": format});
    if let Some(p) = prefix {
        body["S3Prefix"] = json!(p);
    }
    if let Some(t) = time {
        body["ExportTime"] = json!(parse_time(t)?);
    }
    let out = ddb(endpoint, "ExportTableToPointInTime", body).await?;
    let arn = out["ExportDescription"]["ExportArn"].as_str().context("an export ARN")?.to_string();
    let id = arn.rsplit('/').next().unwrap_or_default().to_string();
    let d = follow(endpoint, "export", &id, false, || async {
        let d = ddb(endpoint, "DescribeExport", json!({"ExportArn": arn})).await?;
        Ok((d["ExportDescription"]["ExportStatus"] != "IN_PROGRESS").then_some(d))
    })
    .await?;
    let e = &d["ExportDescription"];
    if e["ExportStatus"] != "COMPLETED" {
        bail!(
            "export {arn} {}: {}",
            e["ExportStatus"].as_str().unwrap_or("?"),
            e["FailureMessage"].as_str().unwrap_or("")
        );
    }
    println!(
        "export {arn} COMPLETED: {} items, {} in {}; manifest s3://{bucket}/{}",
        thousands(e["ItemCount"].as_u64().unwrap_or(0)),
        mb(e["BilledSizeBytes"].as_u64().unwrap_or(0)),
        bar.elapsed(),
        e["ExportManifest"].as_str().unwrap_or("")
    );
    Ok(())
}

/// Makes `bucket` in the server's `--s3-dir` if it is missing and that
/// directory (an absolute path) exists on this machine, as `import` copies
/// its files there: an export to a bucket that does not exist fails, as on
/// AWS, and the command line spares its user the step. Otherwise (a remote
/// server) the export fails with S3NoSuchBucket, and the bucket is made
/// with `aws s3 mb`.
async fn make_bucket(bucket: &str, endpoint: &Endpoint) -> anyhow::Result<()> {
    let Ok(info) = request(endpoint, "GET", "/tidepool/info", &[], b"", CALL_TIMEOUT).await else { return Ok(()) };
    let Some(s3) = serde_json::from_slice::<Value>(&info.body)
        .ok()
        .and_then(|info| info["S3Dir"].as_str().map(PathBuf::from))
        .filter(|s3| s3.is_absolute() && s3.is_dir())
    else {
        return Ok(());
    };
    let dir = s3.join(bucket);
    // Only the bucket's own directory is made, in a directory of buckets
    // that exists here.
    if tidepool::s3::valid_bucket(bucket) && !dir.exists() && std::fs::create_dir(&dir).is_ok() {
        eprintln!("made the bucket {bucket} in {}", s3.display());
    }
    Ok(())
}

/// `name:type` of a key attribute (`pk:S`; the type defaults to S).
fn key_attr(spec: &str) -> anyhow::Result<(String, String)> {
    let (name, ty) = spec.split_once(':').unwrap_or((spec, "S"));
    if name.is_empty() || !matches!(ty, "S" | "N" | "B") {
        bail!("{spec}: expected name:S, name:N or name:B");
    }
    Ok((name.to_string(), ty.to_string()))
}

/// The directory of `bucket`, when the server keeps its buckets on this
/// machine.
async fn bucket_root(endpoint: &Endpoint, bucket: &str) -> Option<PathBuf> {
    let info = request(endpoint, "GET", "/tidepool/info", &[], b"", CALL_TIMEOUT).await.ok()?;
    let info: Value = serde_json::from_slice(&info.body).ok()?;
    Some(PathBuf::from(info["S3Dir"].as_str()?).join(bucket)).filter(|r| r.is_dir())
}

/// The most directory entries [`first_key_under`] looks at: a guess, not a
/// listing.
const MAX_GUESS_ENTRIES: usize = 10_000;

/// The first data file (by key; not an export's manifest or marker) under
/// `prefix` of the bucket whose directory is `root`.
fn first_key_under(root: &Path, prefix: &str) -> Option<String> {
    // The deepest directory the prefix names whole, and the rest of it.
    let (dir, _) = prefix.rsplit_once('/').unwrap_or(("", prefix));
    let mut pending = vec![root.join(dir)];
    let mut keys = Vec::new();
    let mut seen = 0;
    while let Some(d) = pending.pop() {
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            seen += 1;
            if seen > MAX_GUESS_ENTRIES {
                return keys.into_iter().min();
            }
            let path = e.path();
            let key = path.strip_prefix(root).ok()?.to_string_lossy().replace('\\', "/");
            if path.is_dir() {
                if key.starts_with(prefix) || prefix.starts_with(&format!("{key}/")) {
                    pending.push(path);
                }
            } else if key.starts_with(prefix) {
                // Not an export's manifests or its `_started` marker.
                let file = path.file_name()?.to_string_lossy().into_owned();
                if !file.starts_with("manifest-") && !file.starts_with('_') {
                    keys.push(key);
                }
            }
        }
    }
    keys.into_iter().min()
}

/// The input format and compression a file's name says.
fn guess(name: &str) -> (&'static str, &'static str) {
    let (rest, compression) = if let Some(r) = name.strip_suffix(".gz") {
        (r, "GZIP")
    } else if let Some(r) = name.strip_suffix(".zst") {
        (r, "ZSTD")
    } else {
        (name, "NONE")
    };
    let format = if rest.ends_with(".csv") {
        "CSV"
    } else if rest.ends_with(".ion") {
        "ION"
    } else {
        "DYNAMODB_JSON"
    };
    (format, compression)
}

/// The files `tidepool import` copied into the server's buckets: removed
/// once the import has ended (`ended`; the server has read them by then),
/// else left where they are, and said so (the server may still be reading
/// them).
struct Copied {
    dir: Option<PathBuf>,
    ended: bool,
}

impl Drop for Copied {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        if self.ended {
            let _ = std::fs::remove_dir_all(dir);
        } else {
            eprintln!("tidepool: the files copied for the import stay in {}", dir.display());
        }
    }
}

/// What `tidepool import` reads: a key prefix of a bucket, or local files
/// copied into the server's directory of buckets.
pub struct ImportSource<'a> {
    pub path: &'a str,
    pub bucket: Option<&'a str>,
    pub format: Option<&'a str>,
    pub compression: Option<&'a str>,
    /// A CSV file's delimiter (`InputFormatOptions.Csv.Delimiter`).
    pub delimiter: Option<&'a str>,
}

/// `tidepool import <file|dir|prefix> <table> --key pk:S [--sort sk:N]`:
/// ImportTable into a new table. A local file or directory is copied into
/// the server's `--s3-dir` (bucket `tidepool-imports`) when the server runs
/// on this machine; with `--bucket`, the path is a key prefix there.
pub async fn import(
    source: ImportSource<'_>,
    table: &str,
    key: &str,
    sort: Option<&str>,
    endpoint: &Endpoint,
) -> anyhow::Result<()> {
    let bar = Bar::new();
    let mut copied = Copied { dir: None, ended: false };
    let (bucket, prefix, name) = match source.bucket {
        // The first file under the prefix names the format and compression
        // (an export's data directory holds `.json.gz` files), when the
        // server's buckets are on this machine; else the prefix does.
        Some(b) => {
            let root = bucket_root(endpoint, b).await;
            // An export's own directory: its data files, as for a local one.
            let mut prefix = source.path.to_string();
            if let Some(root) = &root
                && root.join(prefix.trim_end_matches('/')).join("manifest-summary.json").is_file()
            {
                prefix = format!("{}/data/", prefix.trim_end_matches('/'));
            }
            let first = root.and_then(|r| first_key_under(&r, &prefix)).unwrap_or_else(|| prefix.clone());
            (b.to_string(), prefix, first)
        }
        None => {
            let info = request(endpoint, "GET", "/tidepool/info", &[], b"", CALL_TIMEOUT).await?;
            let info: Value = serde_json::from_slice(&info.body).context("the server's /tidepool/info")?;
            let s3 = PathBuf::from(info["S3Dir"].as_str().context("the server's S3 directory")?);
            let mut local = Path::new(source.path).to_path_buf();
            // An export's own directory (`AWSDynamoDB/<export id>/`, its
            // manifests beside `data/`): its data files are what imports.
            let summary = local.join("manifest-summary.json");
            if summary.is_file() && local.join("data").is_dir() {
                // An incremental export's lines are changes (Keys,
                // NewImage, OldImage), not items: ImportTable refuses
                // every one.
                let kind = std::fs::read(&summary)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .and_then(|v| v["exportType"].as_str().map(str::to_string));
                if kind.as_deref() == Some("INCREMENTAL_EXPORT") {
                    bail!(
                        "{}: an incremental export holds changes, not items, and does not import; import a full export",
                        source.path
                    );
                }
                local = local.join("data");
            }
            let local = local.as_path();
            if !local.exists() {
                bail!(
                    "{}: no such file or directory (use --bucket to name a key prefix in the server's buckets)",
                    source.path
                );
            }
            let batch = uuid::Uuid::new_v4().simple().to_string();
            let dest = s3.join("tidepool-imports").join(&batch);
            std::fs::create_dir_all(&dest).with_context(|| {
                format!(
                    "the server keeps its buckets in {}, which this machine cannot write: copy the files there, or into a bucket, and use --bucket",
                    s3.display()
                )
            })?;
            copied.dir = Some(dest.clone());
            let files: Vec<PathBuf> = if local.is_dir() {
                let mut v: Vec<PathBuf> =
                    std::fs::read_dir(local)?.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
                v.sort();
                v
            } else {
                vec![local.to_path_buf()]
            };
            for f in &files {
                let file_name = f.file_name().context("a file name")?;
                std::fs::copy(f, dest.join(file_name)).with_context(|| format!("copy {}", f.display()))?;
            }
            let first =
                files.first().and_then(|f| f.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            ("tidepool-imports".to_string(), format!("{batch}/"), first)
        }
    };
    let (guessed_format, guessed_compression) = guess(&name);
    let format = source.format.unwrap_or(guessed_format);
    let compression = source.compression.unwrap_or(guessed_compression);
    let (pk, pk_ty) = key_attr(key)?;
    let mut schema = vec![json!({"AttributeName": pk, "KeyType": "HASH"})];
    let mut defs = vec![json!({"AttributeName": pk, "AttributeType": pk_ty})];
    if let Some(s) = sort {
        let (sk, sk_ty) = key_attr(s)?;
        schema.push(json!({"AttributeName": sk, "KeyType": "RANGE"}));
        defs.push(json!({"AttributeName": sk, "AttributeType": sk_ty}));
    }
    let mut body = json!({
        "S3BucketSource": {"S3Bucket": bucket, "S3KeyPrefix": prefix},
        "InputFormat": format,
        "InputCompressionType": compression,
        "TableCreationParameters": {
            "TableName": table, "KeySchema": schema, "AttributeDefinitions": defs, "BillingMode": "PAY_PER_REQUEST",
        },
    });
    if let Some(d) = source.delimiter {
        if format != "CSV" {
            bail!("--delimiter is for CSV files, and this import reads {format}");
        }
        body["InputFormatOptions"] = json!({"Csv": {"Delimiter": d}});
    }
    let out = ddb(endpoint, "ImportTable", body).await?;
    let arn = out["ImportTableDescription"]["ImportArn"].as_str().context("an import ARN")?.to_string();
    let id = arn.rsplit('/').next().unwrap_or_default().to_string();
    let d = follow(endpoint, "import", &id, true, || async {
        let d = ddb(endpoint, "DescribeImport", json!({"ImportArn": arn})).await?;
        Ok((d["ImportTableDescription"]["ImportStatus"] != "IN_PROGRESS").then_some(d))
    })
    .await?;
    copied.ended = true;
    let i = &d["ImportTableDescription"];
    let counts = format!(
        "{} items ({} lines read, {} refused), {} in {}",
        thousands(i["ImportedItemCount"].as_u64().unwrap_or(0)),
        thousands(i["ProcessedItemCount"].as_u64().unwrap_or(0)),
        thousands(i["ErrorCount"].as_u64().unwrap_or(0)),
        mb(i["ProcessedSizeBytes"].as_u64().unwrap_or(0)),
        bar.elapsed()
    );
    match (i["ImportStatus"].as_str(), i["FailureCode"].as_str()) {
        (Some("COMPLETED"), _) => {
            println!("table {table} imported: {counts}");
            Ok(())
        }
        // Refused lines fail the import, as on DynamoDB; the good ones are
        // in the table.
        (_, Some("ItemValidationError")) => bail!(
            "import {arn} FAILED: some lines were refused; table {table} holds the rest: {counts} (the server's log at debug level names each refused line)"
        ),
        (status, _) => bail!("import {arn} {}: {}", status.unwrap_or("?"), i["FailureMessage"].as_str().unwrap_or("")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_epoch_seconds_or_utc_dates() {
        assert_eq!(parse_time("1700000000.5").unwrap(), 1_700_000_000.5);
        assert_eq!(parse_time("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000.0);
        assert_eq!(parse_time("1970-01-01T00:00:00.250Z").unwrap(), 0.25);
        assert_eq!(parse_time("2023-11-14T23:13:20+01:00").unwrap(), 1_700_000_000.0);
        assert_eq!(parse_time("2023-11-14T17:43:20.5-04:30").unwrap(), 1_700_000_000.5);
        assert_eq!(parse_time("2023-11-14T22:13:20+00:00").unwrap(), 1_700_000_000.0);
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2023-11-14T22:13:20+xx:00").is_err());
        assert_eq!(parse_time("2023-11-14T17:13:20-0500").unwrap(), 1_700_000_000.0);
        assert_eq!(parse_time("2023-11-15T03:13:20+05").unwrap(), 1_700_000_000.0);
        for bad in
            ["2023-11-14T22:13:20+05:75", "2023-11-14T22:13:20+99999999999", "2023-11-14", "2023-13-01T00:00:00Z"]
        {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_default_backup_name_is_a_valid_one() {
        let stamp = "2026-12-08T00:53:33.183Z";
        assert_eq!(default_backup_name("src", stamp), "src-2026-12-08T00-53-33-183Z");
        let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/src";
        assert_eq!(default_backup_name(arn, stamp), "src-2026-12-08T00-53-33-183Z");
        let long = "t".repeat(255);
        let name = default_backup_name(&long, stamp);
        assert_eq!(name.len(), MAX_BACKUP_NAME);
        assert!(name.ends_with("-2026-12-08T00-53-33-183Z"));
    }

    #[test]
    fn file_names_tell_format_and_compression() {
        assert_eq!(guess("items.csv.gz"), ("CSV", "GZIP"));
        assert_eq!(guess("abc.json.gz"), ("DYNAMODB_JSON", "GZIP"));
        assert_eq!(guess("x.ion.zst"), ("ION", "ZSTD"));
        assert_eq!(guess("plain.json"), ("DYNAMODB_JSON", "NONE"));
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
